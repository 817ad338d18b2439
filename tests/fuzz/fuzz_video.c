/* fuzz_video.c - libFuzzer target for video input through FFmpeg (make fuzz): the bytes
 * become an in-memory file (fuzz_file.h) opened with rfs_video_open, i.e. FFmpeg's
 * probing and demuxers, the decoder loop of video.c (rejected packets, delayed frames,
 * the end-of-stream checks), frame numbering, pixel conversion and rotation.
 *
 * One decoder thread (deterministic), a 1 MP frame limit and at most 48 frames per input
 * keep an input fast. Frames returned must have the size rfs_video_width/height say (or
 * their coded size: FFmpeg may change size mid-stream) and be fully readable, and frame
 * numbers must increase. Without FFmpeg in the build this target only exercises the
 * y4m fallback. */
#include "fuzz_file.h"
#include "io/video.h"

static void quiet(void *user, rfs_log_level level, const char *msg) { (void)level, (void)msg, (void)user; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static rfs_frame f;
    static int init;
    if (!init) {
        rfs_set_log(quiet, NULL, RFS_LOG_ERROR);
        init = 1;
    }
    const char *path = fuzz_file(data, size);
    rfs_video_opts o = {.threads = 1, .max_pixels = 1u << 20, .no_auto_rotate = size && (data[size - 1] & 1)};
    rfs_video *v;
    if (rfs_video_open(&v, path, &o) != RFS_OK) return 0;
    (void)rfs_video_fps(v);
    (void)rfs_video_frame_count(v);
    int64_t last = -1;
    for (int i = 0; i < 48; i++) {
        int done = 0;
        rfs_status st = rfs_video_read(v, &f, &done);
        if (done) break;
        int64_t id = rfs_video_frame_index(v) - 1;
        if (st != RFS_OK) continue;
        if (id <= last) abort(); /* frames come in container order, numbered uniquely */
        last = id;
        if (f.w <= 0 || f.h <= 0 || (uint64_t)f.w * (uint64_t)f.h > o.max_pixels) abort();
        unsigned sum = 0;
        for (int y = 0; y < f.h; y++)
            for (int x = 0; x < 3 * f.w; x++) sum += f.data[(size_t)y * f.stride + x];
        if (sum == 0xdeadbeef) abort();
    }
    rfs_video_close(v);
    return 0;
}
