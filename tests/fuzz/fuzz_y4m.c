/* fuzz_y4m.c - libFuzzer target for the FFmpeg-less YUV4MPEG2 reader (make fuzz), through
 * its path API (rfs_y4m_open on an in-memory file, see fuzz_file.h).
 *
 * Every frame is read (up to 64) with a 1 MP limit; a frame the reader returns must have
 * the stream's size and be fully readable; after an error or the end, further reads must
 * say done. */
#include "fuzz_file.h"
#include "io/y4m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static rfs_frame f;
    const char *path = fuzz_file(data, size);
    rfs_y4m_reader *r;
    int rgb = size && (data[size - 1] & 1);
    if (rfs_y4m_open(&r, path, rgb, 1u << 20) != RFS_OK) return 0;
    int w = rfs_y4m_width(r), h = rfs_y4m_height(r);
    if (w <= 0 || h <= 0 || (uint64_t)w * (uint64_t)h > (1u << 20)) abort();
    (void)rfs_y4m_fps(r);
    (void)rfs_y4m_frame_count(r);
    int ended = 0;
    for (int i = 0; i < 64; i++) {
        int done = 0;
        rfs_status st = rfs_y4m_read(r, &f, &done);
        if (ended && !done) abort(); /* the stream ends after an error */
        if (done) break;
        if (st != RFS_OK) {
            ended = 1;
            continue;
        }
        if (f.w != w || f.h != h) abort();
        unsigned sum = 0;
        for (int y = 0; y < f.h; y++)
            for (int x = 0; x < 3 * f.w; x++) sum += f.data[(size_t)y * f.stride + x];
        if (sum == 0xdeadbeef) abort();
    }
    rfs_y4m_close(r);
    return 0;
}
