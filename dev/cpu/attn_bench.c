/* attn_bench.c - seg-nano's ViT attention (one window of 677 tokens, 6 heads of 64): the
 * previous engine's op (OpenBLAS per 64-row block, softmax in between; copied below) against
 * the row-block attention on the engine's kernels, per path. Thread CPU time for 1 thread,
 * else wall. Usage: attn_bench [threads] [reps] [T] */
#include "cpu/attention.h"
#include "cpu/ops.h"
#include "util/err.h"

#include "cpu/fastmath.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { ATT_QB = 64 };

/* the previous engine's rfs_attention_cpu */
static void old_attention(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                          const float *v, int ldv, int nseq, int T, int heads, int dh, int threads,
                          float *scratch) {
    const int nqb = (T + ATT_QB - 1) / ATT_QB;
    const long jobs = (long)nseq * heads * nqb;
    const float scale = (float)(1.0 / sqrt((double)dh));
#pragma omp parallel num_threads(threads)
    {
        float *S = scratch + (size_t)omp_get_thread_num() * ATT_QB * T;
#pragma omp for schedule(dynamic, 1)
        for (long job = 0; job < jobs; job++) {
            int qb = (int)(job % nqb), h = (int)(job / nqb % heads), sq = (int)(job / nqb / heads);
            int r0 = qb * ATT_QB, nr = T - r0 < ATT_QB ? T - r0 : ATT_QB;
            size_t base = (size_t)sq * T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, T, dh, scale,
                        q + (base + r0) * ldq + h * dh, ldq, k + base * ldk + h * dh, ldk, 0.f, S, T);
            for (int r = 0; r < nr; r++) {
                float *row = S + (size_t)r * T, mx = row[0];
                for (int j = 1; j < T; j++) mx = row[j] > mx ? row[j] : mx;
                double sum = 0;
                for (int j = 0; j < T; j++) sum += row[j] = rfs_expf(row[j] - mx);
                for (int j = 0; j < T; j++) row[j] *= (float)(1.0 / sum);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, dh, T, 1.f, S, T,
                        v + base * ldv + h * dh, ldv, 0.f, out + (base + r0) * ldo + h * dh, ldo);
        }
    }
}

static int cpu_clock;
static double now(void) {
    struct timespec t;
    clock_gettime(cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int nt = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 15;
    int T = argc > 3 ? atoi(argv[3]) : 677, H = 6, dh = 64, C = H * dh;
    cpu_clock = nt == 1;
    omp_set_num_threads(nt);
    float *qkv = rfs_aligned_alloc(sizeof(float) * T * 3 * C), *out = rfs_aligned_alloc(sizeof(float) * T * C);
    for (int i = 0; i < T * 3 * C; i++) qkv[i] = (float)((i * 2654435761u) >> 20) / 4096.f - 0.5f;
    float *s_old = rfs_aligned_alloc(sizeof(float) * (size_t)nt * ATT_QB * T);
    float *sh = rfs_aligned_alloc(sizeof(float) * rfs_attention_shared(1, T, H, dh));
    float *sc = rfs_aligned_alloc(sizeof(float) * rfs_attention_thread_scratch(T, dh) * nt);
    rfs_attn_desc a = {out, C, qkv, qkv + C, qkv + 2 * C, 3 * C, 3 * C, 3 * C, 1, T, H, dh, 0};
    double fl = 4.0 * T * T * C * 1e-9, t[64];
    const char *names[] = {"previous (OpenBLAS + softmax)", "engine avx2", "engine avx512", "engine bf16"};
    for (int e = 0; e < 4; e++) {
        a.bf16 = e == 3;
        for (int r = 0; r < reps + 2; r++) {
            double t0 = now();
            if (e == 0) old_attention(out, C, qkv, 3 * C, qkv + C, 3 * C, qkv + 2 * C, 3 * C, 1, T, H, dh, nt, s_old);
            else rfs_attention(&a, e == 1 ? RFS_ISA_AVX2 : e == 2 ? RFS_ISA_AVX512 : RFS_ISA_AVX512BF16, nt, sh, sc, rfs_attention_thread_scratch(T, dh));
            if (r >= 2) t[r - 2] = now() - t0;
        }
        qsort(t, reps, sizeof(double), cmpd);
        printf("%-28s T=%d threads=%d: %.3f ms  (%.1f GFLOP/s)\n", names[e], T, nt, t[reps / 2] * 1e3, fl / t[reps / 2]);
    }
    return 0;
}
