/* simd_avx512.h - AVX-512 versions of fastmath.h (exp, exact-erf GELU) and the GEMM
 * epilogue, for files compiled with the AVX-512 target (include after the target pragma).
 * Same polynomials as the scalar versions, evaluated 16 lanes at a time. */
#ifndef RFS_CPU_SIMD_AVX512_H
#define RFS_CPU_SIMD_AVX512_H

#include "cpu/gemm.h"

#include <immintrin.h>

static inline __m512 rfs_v16_exp(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.7f)), _mm512_set1_ps(-87.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

static inline __m512 rfs_v16_gelu(__m512 x) {
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    __m512 ax = _mm512_abs_ps(x);
    __m512 az = _mm512_mul_ps(ax, _mm512_set1_ps(0.70710678118654752f));
    /* t = 1 / (1 + az/2): reciprocal estimate and one Newton step (a division's throughput
     * is a tenth of an FMA's) */
    const __m512 den = _mm512_fmadd_ps(half, az, one);
    __m512 t = _mm512_rcp14_ps(den);
    t = _mm512_mul_ps(t, _mm512_fnmadd_ps(den, t, _mm512_set1_ps(2.0f)));
    __m512 p = _mm512_set1_ps(0.17087277f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.82215223f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.48851587f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.13520398f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.27886807f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.18628806f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.09678418f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.37409196f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.00002368f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.26551223f));
    __m512 c = _mm512_mul_ps(t, rfs_v16_exp(_mm512_fnmadd_ps(az, az, p))); /* erfc(|z|) */
    return _mm512_fmadd_ps(_mm512_mul_ps(half, ax), _mm512_sub_ps(one, c), _mm512_mul_ps(half, x));
}

static inline __mmask16 rfs_v16_mask(int n) {
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* One 16-wide vector of the epilogue: act(v + bias), then res + scale * that. */
static inline __m512 rfs_v16_epi(__m512 v, const rfs_epi *e, int i, int j, __mmask16 m) {
    v = _mm512_add_ps(v, _mm512_loadu_ps(e->bias + j));
    if (e->act == RFS_ACT_RELU) v = _mm512_max_ps(v, _mm512_setzero_ps());
    else if (e->act == RFS_ACT_GELU) v = rfs_v16_gelu(v);
    if (e->res) {
        __m512 r = _mm512_maskz_loadu_ps(m, e->res + (size_t)i * e->ldr + j);
        if (e->scale) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, e->scale + j));
        v = _mm512_add_ps(r, v);
    }
    return v;
}

/* The epilogue of an (mr, 32) tile t (row stride 32) into C. */
static inline void rfs_v16_epilogue(const float *t, int mr, int nr, float *C, long ldc,
                                    const rfs_epi *e) {
    const __mmask16 m0 = rfs_v16_mask(nr), m1 = rfs_v16_mask(nr - 16);
    for (int i = 0; i < mr; i++) {
        __m512 v0 = rfs_v16_epi(_mm512_load_ps(t + i * 32), e, i, 0, m0);
        _mm512_mask_storeu_ps(C + (size_t)i * ldc, m0, v0);
        if (m1) {
            __m512 v1 = rfs_v16_epi(_mm512_load_ps(t + i * 32 + 16), e, i, 16, m1);
            _mm512_mask_storeu_ps(C + (size_t)i * ldc + 16, m1, v1);
        }
    }
}

/* In-place transpose of a 16x16 matrix of 32-bit elements held in 16 vectors. */
static inline void rfs_v16_transpose(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    /* r[4q + s] now holds, in 128-bit lane L, column 4L + s of rows 4q..4q+3 */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);      /* lanes 0,2 of each */
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);  /* lanes 1,3 */
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);        /* col i      */
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);    /* col 8 + i  */
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);  /* col 4 + i  */
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd); /* col 12 + i */
    }
}

/* Sum of 16 floats in double. */
static inline double rfs_v16_sum_pd(__m512d a, __m512d b) {
    return _mm512_reduce_add_pd(_mm512_add_pd(a, b));
}

/* LayerNorm of one row (see rfs_ln_row_ref in gemm.c): statistics in double, the
 * normalisation in float with the mean split in two floats so that x - mean stays exact
 * to an ulp when the mean is large against the spread. */
static inline void rfs_v16_ln_row(float *dst, const float *x, int K, const float *g,
                                  const float *b, float eps) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 v = _mm512_loadu_ps(x + k);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    double s = rfs_v16_sum_pd(s0, s1);
    for (; k < K; k++) s += x[k];
    const double mean = s / K;
    const __m512d vm = _mm512_set1_pd(mean);
    s0 = s1 = _mm512_setzero_pd();
    for (k = 0; k + 16 <= K; k += 16) {
        __m512 v = _mm512_loadu_ps(x + k);
        __m512d d0 = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), vm);
        __m512d d1 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))), vm);
        s0 = _mm512_fmadd_pd(d0, d0, s0);
        s1 = _mm512_fmadd_pd(d1, d1, s1);
    }
    double v2 = rfs_v16_sum_pd(s0, s1);
    for (; k < K; k++) v2 += (x[k] - mean) * (x[k] - mean);
    const double rstd = 1.0 / __builtin_sqrt(v2 / K + (double)eps);
    const float mhi = (float)mean, mlo = (float)(mean - (double)mhi), rs = (float)rstd;
    const __m512 vhi = _mm512_set1_ps(mhi), vlo = _mm512_set1_ps(mlo), vrs = _mm512_set1_ps(rs);
    for (k = 0; k < K; k += 16) {
        __mmask16 m = rfs_v16_mask(K - k);
        __m512 d = _mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + k), vhi), vlo);
        __m512 y = _mm512_fmadd_ps(_mm512_mul_ps(d, vrs), _mm512_maskz_loadu_ps(m, g + k),
                                   _mm512_maskz_loadu_ps(m, b + k));
        _mm512_mask_storeu_ps(dst + k, m, y);
    }
}

#endif
