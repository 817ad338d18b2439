/* bench_masks - per-stage timings of maskup / contour / rle on 1080p masks.
 * build: cc -O2 -march=x86-64-v2 -Iinclude -Isrc dev/pipeline/bench_masks.c build/librfseg.a -lm -fopenmp -o /tmp/bench_masks */
#include "pipeline/contour.h"
#include "pipeline/maskup.h"
#include "pipeline/rle.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) {
    const int W = 1920, H = 1080, S = 78;
    const char *what = argc > 1 ? argv[1] : "all";
    float noise = argc > 2 ? atof(argv[2]) : 0.0f;
    float *lg = malloc(S * S * 4);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            float dx = (x - 30.f) / 8.f, dy = (y - 40.f) / 14.f;
            lg[y * S + x] = 4.f * (1.f - sqrtf(dx * dx + dy * dy)) + noise * sinf(x * 1.3f + y);
        }
    rfs_maskup_plan p; rfs_maskup_scratch s; rfs_mask m;
    rfs_maskup_plan_init(&p, S, S, W, H, RFS_MASKUP_AA);
    rfs_maskup_scratch_init(&s, &p);
    int reps = 2000;
    double t0 = now();
    for (int i = 0; i < (strcmp(what, "maskup") && strcmp(what, "all") ? 1 : reps); i++) rfs_maskup_run(&p, &s, lg, &m);
    double t1 = now();
    if (!strcmp(what, "maskup") || !strcmp(what, "all")) printf("maskup %.1f us (rect %dx%d)\n", 1e6 * (t1 - t0) / reps, m.w, m.h);
    uint8_t *copy = malloc((size_t)m.w * m.h); memcpy(copy, m.data, (size_t)m.w * m.h); m.data = copy;
    if (!strcmp(what, "contour") || !strcmp(what, "all")) {
        rfs_contour_ctx cx = {0}; rfs_ivec poly = {0};
        t0 = now(); for (int i = 0; i < reps; i++) rfs_contour_longest(&poly, &cx, &m); t1 = now();
        printf("contour %.1f us (%zu points)\n", 1e6 * (t1 - t0) / reps, poly.n / 2);
    }
    if (!strcmp(what, "rle") || !strcmp(what, "all")) {
        rfs_rle r = {0}; char *str = malloc(1 << 20); size_t len = 0;
        t0 = now(); for (int i = 0; i < reps; i++) { rfs_rle_counts(&r, &m, W, H); len = rfs_rle_string(str, 1 << 20, &r); } t1 = now();
        printf("rle %.1f us (%zu runs %zu chars)\n", 1e6 * (t1 - t0) / reps, r.n, len);
    }
    return 0;
}
