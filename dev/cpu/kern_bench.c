/* kern_bench.c - one GEMM micro-kernel call repeated on the same packed A block and weight
 * panel: the kernel's own ceiling, without packing, threading or cache misses beyond L2.
 * Usage: kern_bench K [reps] */
#include "cpu/gemm.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int K = argc > 1 ? atoi(argv[1]) : 384, reps = argc > 2 ? atoi(argv[2]) : 20000;
    float *A = rfs_aligned_alloc(sizeof(float) * 14 * (K + 32));
    float *B = rfs_aligned_alloc(sizeof(float) * 32 * (K + 32));
    float *C = rfs_aligned_alloc(sizeof(float) * 14 * 32), bias[32] = {0};
    for (int i = 0; i < 14 * (K + 32); i++) A[i] = (float)(i % 7) * 0.01f;
    for (int i = 0; i < 32 * (K + 32); i++) B[i] = (float)(i % 5) * 0.01f;
    rfs_epi e = {bias, NULL, NULL, 0, 0};
    struct { const char *n; rfs_kern_fn f; int mr; int k; } ks[] = {
        {"avx2 6x16 (x2 halves)", rfs_kern_f32_avx2, 6, K},
        {"avx512 14x32", rfs_kern_f32_avx512, 14, K},
        {"avx512bf16 14x32", rfs_kern_bf16_avx512, 14, K},
    };
    for (int i = 0; i < 3; i++) {
        double best = 1e9;
        for (int t = 0; t < 5; t++) {
            double t0 = now();
            for (int r = 0; r < reps; r++) ks[i].f(ks[i].mr, 32, ks[i].k, A, B, 32, C, 32, &e);
            double dt = now() - t0;
            if (dt < best) best = dt;
        }
        printf("%-24s K=%d: %.1f GFLOP/s\n", ks[i].n, K, 2.0 * ks[i].mr * 32 * K * reps / best * 1e-9);
    }
    return 0;
}
