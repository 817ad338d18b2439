/* host.c - see host.h. The loops are memory-bound (a batch of 32 frames at 312 x 312 is
 * 9 MB of pixels to stage and ~18 MB of mask bytes to write): one thread reaches a few
 * GB/s on the GPU machine, so large batches are split over up to 8 OpenMP threads; small
 * ones stay on the caller's thread (starting threads costs more than it saves). */
#include "cuda/host.h"

#include <pthread.h>
#include <string.h>

enum { MAX_THREADS = 8 };

void rfs_pipe_stage_frames(uint8_t *dst, const rfs_image *frames, int n, int w, int h) {
    const size_t fb = (size_t)w * h * 3, row = (size_t)w * 3;
    const int par = n > 1 && fb * n >= ((size_t)1 << 20);
#pragma omp parallel for schedule(static) num_threads(MAX_THREADS) if (par)
    for (int i = 0; i < n; i++) {
        uint8_t *d = dst + fb * i;
        const rfs_image *f = &frames[i];
        if ((size_t)f->stride == row) {
            memcpy(d, f->data, fb);
        } else {
            for (int y = 0; y < h; y++) memcpy(d + row * y, f->data + (size_t)f->stride * y, row);
        }
    }
}

static uint64_t g_bits8[256]; /* byte -> 8 bytes of 0/1 (little endian) */
static pthread_once_t g_bits8_once = PTHREAD_ONCE_INIT;

static void bits8_init(void) {
    for (int v = 0; v < 256; v++) {
        uint64_t e = 0;
        for (int b = 0; b < 8; b++) e |= (uint64_t)((v >> b) & 1) << (8 * b);
        g_bits8[v] = e;
    }
}

static void unpack_rect(uint8_t *dst, const uint32_t *words, int w, int h) {
    const int wpr = (w + 31) >> 5;
    for (int y = 0; y < h; y++) {
        const uint32_t *wr = words + (size_t)y * wpr;
        uint8_t *o = dst + (size_t)y * w;
        int x = 0;
        for (; x + 8 <= w; x += 8) memcpy(o + x, &g_bits8[(wr[x >> 5] >> (x & 31)) & 0xffu], 8);
        for (; x < w; x++) o[x] = (wr[x >> 5] >> (x & 31)) & 1u;
    }
}

void rfs_pipe_unpack(const rfs_unpack_job *jobs, int n, size_t pixels) {
    pthread_once(&g_bits8_once, bits8_init);
    const int par = n > 1 && pixels >= ((size_t)1 << 19);
#pragma omp parallel for schedule(dynamic, 1) num_threads(MAX_THREADS) if (par)
    for (int i = 0; i < n; i++) unpack_rect(jobs[i].dst, jobs[i].words, jobs[i].w, jobs[i].h);
}
