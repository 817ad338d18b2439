/* gemm_avx2.c - the AVX2+FMA GEMM micro-kernel: 6 rows x 16 columns (12 ymm
 * accumulators), run on each half of a 32-column weight panel. Only called after run-time
 * detection (isa.c). */
#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,f16c")
#endif

#include <math.h>

#include "cpu/dwconv_impl.h"
#include "cpu/simd_avx2.h"

#define MR RFS_MR_AVX2
#define AI __attribute__((always_inline)) static inline

AI void f32_tile(const int mr, int K, const float *A, const float *B, long bks, float *t) {
    __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) c0[i] = c1[i] = _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m256 b0 = _mm256_loadu_ps(B), b1 = _mm256_loadu_ps(B + 8);
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            __m256 a = _mm256_broadcast_ss(A + i);
            c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
        }
        A += MR;
        B += bks;
    }
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
        _mm256_store_ps(t + i * 32, c0[i]);
        _mm256_store_ps(t + i * 32 + 8, c1[i]);
    }
}

/* one function per row count: register allocation stays per kernel */
#define TILE(n) \
    __attribute__((noinline)) static void tile##n(int K, const float *A, const float *B, long bks, float *t) { \
        f32_tile(n, K, A, B, bks, t); \
    }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6)
#undef TILE

void rfs_kern_f32_avx2(int mr, int nr, int K, const void *Av, const void *Bv, long bks,
                       float *C, long ldc, const rfs_epi *e) {
    static void (*const tiles[MR + 1])(int, const float *, const float *, long, float *) = {
        NULL, tile1, tile2, tile3, tile4, tile5, tile6};
    _Alignas(32) float t[MR * 32];
    const float *A = Av, *B = Bv;
    if (mr < 1 || mr > MR) return;
    for (int h = 0; h < 2 && h * 16 < nr; h++) {
        tiles[mr](K, A, B + h * 16, bks, t);
        int w = nr - h * 16 < 16 ? nr - h * 16 : 16;
        rfs_v8_epilogue(t, mr, h * 16, w, C, ldc, e);
    }
}

/* mr rows of K floats -> MR-interleaved (k-major, MR floats per k), rows >= mr zero. */
void rfs_packa_f32_avx2(void *dstv, const float *const *rows, int mr, int K, int Kp) {
    float *dst = dstv;
    const __m256i m6 = rfs_v8_mask(MR);
    for (int k0 = 0; k0 < K; k0 += 8) {
        const int n = K - k0 < 8 ? K - k0 : 8;
        const __m256i mk = rfs_v8_mask(n);
        __m256 r[8];
        for (int i = 0; i < 8; i++)
            r[i] = i < mr ? _mm256_maskload_ps(rows[i] + k0, mk) : _mm256_setzero_ps();
        rfs_v8_transpose(r);
        for (int j = 0; j < n; j++) _mm256_maskstore_ps(dst + (size_t)(k0 + j) * MR, m6, r[j]);
    }
}

void rfs_ln_row_avx2(float *dst, const float *x, int K, const float *g, const float *b,
                     float eps) {
    rfs_v8_ln_row(dst, x, K, g, b, eps);
}

double rfs_exp_row_avx2(float *x, int n, float scale) {
    float mx = x[0];
    int j = 0;
    __m256 vm = _mm256_set1_ps(x[0]);
    for (; j + 8 <= n; j += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + j));
    _Alignas(32) float t[8];
    _mm256_store_ps(t, vm);
    for (int i = 0; i < 8; i++) mx = t[i] > mx ? t[i] : mx;
    for (; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    const __m256 vmx = _mm256_set1_ps(mx), sc = _mm256_set1_ps(scale);
    __m256 s = _mm256_setzero_ps();
    for (j = 0; j < n; j += 8) {
        __m256i m = rfs_v8_mask(n - j);
        __m256 e = rfs_v8_exp(_mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + j, m), vmx), sc));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
        s = _mm256_add_ps(s, e);
        _mm256_maskstore_ps(x + j, m, e);
    }
    return rfs_v8_sum_pd(_mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(s)),
                                       _mm256_cvtps_pd(_mm256_extractf128_ps(s, 1))));
}

void rfs_silu_avx2(float *y, int n) {
    const __m256 one = _mm256_set1_ps(1.f);
    for (int j = 0; j < n; j += 8) {
        __m256i m = rfs_v8_mask(n - j);
        __m256 x = _mm256_maskload_ps(y + j, m);
        __m256 e = rfs_v8_exp(_mm256_sub_ps(_mm256_setzero_ps(), x));
        _mm256_maskstore_ps(y + j, m, _mm256_div_ps(x, _mm256_add_ps(one, e)));
    }
}

void rfs_gelu_avx2(float *y, int n) {
    for (int j = 0; j < n; j += 8) {
        __m256i m = rfs_v8_mask(n - j);
        _mm256_maskstore_ps(y + j, m, rfs_v8_gelu(_mm256_maskload_ps(y + j, m)));
    }
}

void rfs_dwconv_avx2(float *y, const float *x, int H, int W, int C, int p, const float *wt,
                     const float *b) {
    rfs_dwconv_impl(y, x, H, W, C, p, wt, b);
}

void rfs_packb_panel_avx2(float *dst, const float *src, long ld, int n, int K) {
    for (int k0 = 0; k0 < K; k0 += 8) {
        const int nk = K - k0 < 8 ? K - k0 : 8;
        const __m256i mk = rfs_v8_mask(nk);
        for (int h = 0; h < 4; h++) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) {
                const int j = h * 8 + i;
                r[i] = j < n ? _mm256_maskload_ps(src + j * ld + k0, mk) : _mm256_setzero_ps();
            }
            rfs_v8_transpose(r);
            for (int kk = 0; kk < nk; kk++) _mm256_storeu_ps(dst + (size_t)(k0 + kk) * 32 + h * 8, r[kk]);
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
typedef int rfs_gemm_avx2_unused;
#endif
