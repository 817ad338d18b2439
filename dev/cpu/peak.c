/* peak.c - FMA throughput of one core (ymm and zmm), to know the ceiling GEMMs run against. */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((target("avx2,fma"))) static float run256(long n) {
    __m256 a[12], b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < n; k++)
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
    __m256 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    return _mm256_cvtss_f32(s);
}

__attribute__((target("avx512f"))) static float run512(long n) {
    __m512 a[24], b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 24; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; k++)
        for (int i = 0; i < 24; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    __m512 s = a[0];
    for (int i = 1; i < 24; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512bf16"))) static float runbf16(long n) {
    __m512 a[24];
    __m512bh b = (__m512bh)_mm512_set1_epi32(0x3f803f80);
    for (int i = 0; i < 24; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; k++)
        for (int i = 0; i < 24; i++) a[i] = _mm512_dpbf16_ps(a[i], b, b);
    __m512 s = a[0];
    for (int i = 1; i < 24; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

int main(void) {
    long n = 50000000;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        float r = run256(n);
        double t1 = now();
        float r2 = run512(n / 2);
        double t2 = now();
        float r3 = __builtin_cpu_supports("avx512bf16") ? runbf16(n / 2) : 0;
        double t3 = now();
        printf("ymm fma: %.1f GFLOP/s  zmm fma: %.1f GFLOP/s  zmm dpbf16: %.1f GFLOP/s (%g %g %g)\n",
               n * 12 * 16 / (t1 - t0) * 1e-9, n / 2 * 24 * 32 / (t2 - t1) * 1e-9,
               n / 2 * 24 * 64 / (t3 - t2) * 1e-9, r, r2, r3);
    }
}
