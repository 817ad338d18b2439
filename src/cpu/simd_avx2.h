/* simd_avx2.h - AVX2+FMA versions of fastmath.h (exp, exact-erf GELU) and the GEMM
 * epilogue, for files compiled with the AVX2 target (include after the target pragma). */
#ifndef RFS_CPU_SIMD_AVX2_H
#define RFS_CPU_SIMD_AVX2_H

#include "cpu/gemm.h"

#include <immintrin.h>

static inline __m256 rfs_v8_exp(__m256 x) {
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.7f)), _mm256_set1_ps(-87.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline __m256 rfs_v8_gelu(__m256 x) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    __m256 az = _mm256_mul_ps(ax, _mm256_set1_ps(0.70710678118654752f));
    /* t = 1 / (1 + az/2): reciprocal estimate and one Newton step */
    const __m256 den = _mm256_fmadd_ps(half, az, one);
    __m256 t = _mm256_rcp_ps(den);
    t = _mm256_mul_ps(t, _mm256_fnmadd_ps(den, t, _mm256_set1_ps(2.0f)));
    __m256 p = _mm256_set1_ps(0.17087277f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
    __m256 c = _mm256_mul_ps(t, rfs_v8_exp(_mm256_fnmadd_ps(az, az, p)));
    return _mm256_fmadd_ps(_mm256_mul_ps(half, ax), _mm256_sub_ps(one, c), _mm256_mul_ps(half, x));
}

/* lanes [0, n) set */
static inline __m256i rfs_v8_mask(int n) {
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline __m256 rfs_v8_epi(__m256 v, const rfs_epi *e, int i, int j, __m256i m) {
    v = _mm256_add_ps(v, _mm256_loadu_ps(e->bias + j));
    if (e->act == RFS_ACT_RELU) v = _mm256_max_ps(v, _mm256_setzero_ps());
    else if (e->act == RFS_ACT_GELU) v = rfs_v8_gelu(v);
    if (e->res) {
        __m256 r = _mm256_maskload_ps(e->res + (size_t)i * e->ldr + j, m);
        if (e->scale) v = _mm256_mul_ps(v, _mm256_maskload_ps(e->scale + j, m));
        v = _mm256_add_ps(r, v);
    }
    return v;
}

/* The epilogue of an (mr, nr <= w) tile t (row stride 32, column offset j0 in C/e). */
static inline void rfs_v8_epilogue(const float *t, int mr, int j0, int nr, float *C, long ldc,
                                   const rfs_epi *e) {
    for (int j = 0; j < nr; j += 8) {
        __m256i m = rfs_v8_mask(nr - j);
        for (int i = 0; i < mr; i++) {
            __m256 v = rfs_v8_epi(_mm256_load_ps(t + i * 32 + j), e, i, j0 + j, m);
            _mm256_maskstore_ps(C + (size_t)i * ldc + j0 + j, m, v);
        }
    }
}

/* In-place transpose of an 8x8 matrix of floats held in 8 vectors. */
static inline void rfs_v8_transpose(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

static inline double rfs_v8_sum_pd(__m256d a) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* LayerNorm of one row, as rfs_v16_ln_row. */
static inline void rfs_v8_ln_row(float *dst, const float *x, int K, const float *g,
                                 const float *b, float eps) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm_loadu_ps(x + k)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm_loadu_ps(x + k + 4)));
    }
    double s = rfs_v8_sum_pd(_mm256_add_pd(s0, s1));
    for (; k < K; k++) s += x[k];
    const double mean = s / K;
    const __m256d vm = _mm256_set1_pd(mean);
    s0 = s1 = _mm256_setzero_pd();
    for (k = 0; k + 8 <= K; k += 8) {
        __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + k)), vm);
        __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + k + 4)), vm);
        s0 = _mm256_fmadd_pd(d0, d0, s0);
        s1 = _mm256_fmadd_pd(d1, d1, s1);
    }
    double v2 = rfs_v8_sum_pd(_mm256_add_pd(s0, s1));
    for (; k < K; k++) v2 += (x[k] - mean) * (x[k] - mean);
    const double rstd = 1.0 / __builtin_sqrt(v2 / K + (double)eps);
    const float mhi = (float)mean, mlo = (float)(mean - (double)mhi), rs = (float)rstd;
    const __m256 vhi = _mm256_set1_ps(mhi), vlo = _mm256_set1_ps(mlo), vrs = _mm256_set1_ps(rs);
    for (k = 0; k < K; k += 8) {
        __m256i m = rfs_v8_mask(K - k);
        __m256 d = _mm256_sub_ps(_mm256_sub_ps(_mm256_maskload_ps(x + k, m), vhi), vlo);
        __m256 y = _mm256_fmadd_ps(_mm256_mul_ps(d, vrs), _mm256_maskload_ps(g + k, m),
                                   _mm256_maskload_ps(b + k, m));
        _mm256_maskstore_ps(dst + k, m, y);
    }
}

#endif
