/* peak.c - FMA throughput of one core (ymm and zmm fp32, zmm vdpbf16ps), to know the ceiling
 * the GEMMs run against. Thread CPU time (time slices lost to other processes do not count). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* 12 independent chains, written out so that they stay in registers at any -O level */
#define CH12(OP) OP(0) OP(1) OP(2) OP(3) OP(4) OP(5) OP(6) OP(7) OP(8) OP(9) OP(10) OP(11)

__attribute__((target("avx2,fma"))) static float run256(long n) {
    const __m256 b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(1e-7f);
#define DECL8(i) __m256 a##i = _mm256_set1_ps((float)i);
#define STEP8(i) a##i = _mm256_fmadd_ps(a##i, b, c);
#define SUM8(i) s = _mm256_add_ps(s, a##i);
    CH12(DECL8)
    for (long k = 0; k < n; k++) { CH12(STEP8) }
    __m256 s = _mm256_setzero_ps();
    CH12(SUM8)
    return _mm256_cvtss_f32(s);
}

__attribute__((target("avx512f"))) static float run512(long n) {
    const __m512 b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)i);
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, b, c);
#define SUM(i) s = _mm512_add_ps(s, a##i);
    CH12(DECL)
    for (long k = 0; k < n; k++) { CH12(STEP) }
    __m512 s = _mm512_setzero_ps();
    CH12(SUM)
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512bf16"))) static float runbf16(long n) {
    const __m512bh b = (__m512bh)_mm512_set1_epi32(0x3f803f80);
#undef STEP
#define STEP(i) a##i = _mm512_dpbf16_ps(a##i, b, b);
    CH12(DECL)
    for (long k = 0; k < n; k++) { CH12(STEP) }
    __m512 s = _mm512_setzero_ps();
    CH12(SUM)
    return _mm512_reduce_add_ps(s);
}

int main(void) {
    long n = 50000000;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        float r = run256(n);
        double t1 = now();
        float r2 = __builtin_cpu_supports("avx512f") ? run512(n / 2) : 0;
        double t2 = now();
        float r3 = __builtin_cpu_supports("avx512bf16") ? runbf16(n / 2) : 0;
        double t3 = now();
        printf("ymm fma: %.1f GFLOP/s  zmm fma: %.1f GFLOP/s  zmm dpbf16: %.1f GFLOP/s (%g %g %g)\n",
               n * 12 * 16 / (t1 - t0) * 1e-9, n / 2 * 12 * 32 / (t2 - t1) * 1e-9,
               n / 2 * 12 * 64 / (t3 - t2) * 1e-9, r, r2, r3);
    }
}
