/* gemm_avx512.c - AVX-512 GEMM micro-kernels: fp32 (FMA) and bf16 (AVX512_BF16 vdpbf16ps),
 * 14 rows x 32 columns: 28 zmm accumulators, two weight vectors and a broadcast per k.
 * Only called after run-time detection (isa.c); compiled for the AVX-512 target here so
 * the rest of the library stays baseline x86-64. */
#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma,avx2,f16c"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma,avx2,f16c")
#endif

#include <math.h>

#include "cpu/dwconv_impl.h"
#include "cpu/simd_avx512.h"

#define MR RFS_MR_AVX512
#define AI __attribute__((always_inline)) static inline

/* The accumulators of an (mr, 32) tile out of the registers: into the tile t (row stride
 * 32) for the epilogue, or, when direct, with the bias added straight into C (the common
 * epilogue: bias only, full 32 columns). */
AI void store_acc(const int mr, const int direct, const __m512 *c0, const __m512 *c1, float *C,
                  long ldc, const float *bias) {
    if (direct) {
        const __m512 z0 = _mm512_loadu_ps(bias), z1 = _mm512_loadu_ps(bias + 16);
#pragma GCC unroll 14
        for (int i = 0; i < mr; i++) {
            _mm512_storeu_ps(C + (size_t)i * ldc, _mm512_add_ps(c0[i], z0));
            _mm512_storeu_ps(C + (size_t)i * ldc + 16, _mm512_add_ps(c1[i], z1));
        }
    } else {
#pragma GCC unroll 14
        for (int i = 0; i < mr; i++) {
            _mm512_store_ps(C + i * 32, c0[i]);
            _mm512_store_ps(C + i * 32 + 16, c1[i]);
        }
    }
}

/* fp32: acc (mr, 32) over K; A MR-interleaved, B rows of 32 with stride bks. */
AI void f32_tile(const int mr, const int direct, int K, const float *A, const float *B, long bks,
                 float *C, long ldc, const float *bias) {
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 14
    for (int i = 0; i < mr; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 b0 = _mm512_loadu_ps(B), b1 = _mm512_loadu_ps(B + 16);
#pragma GCC unroll 14
        for (int i = 0; i < mr; i++) {
            __m512 a = _mm512_set1_ps(A[i]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
        A += MR;
        B += bks;
    }
    store_acc(mr, direct, c0, c1, C, ldc, bias);
}

/* bf16: K counts single k (even); A holds MR pairs per k pair, B 32 pairs per row. */
AI void bf16_tile(const int mr, const int direct, int K, const uint32_t *A, const uint32_t *B,
                  long bks, float *C, long ldc, const float *bias) {
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 14
    for (int i = 0; i < mr; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 2) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(B), b1 = (__m512bh)_mm512_loadu_si512(B + 16);
#pragma GCC unroll 14
        for (int i = 0; i < mr; i++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)A[i]);
            c0[i] = _mm512_dpbf16_ps(c0[i], a, b0);
            c1[i] = _mm512_dpbf16_ps(c1[i], a, b1);
        }
        A += MR;
        B += bks;
    }
    store_acc(mr, direct, c0, c1, C, ldc, bias);
}

/* one function per row count and form, into the tile (f32_, bf16_) or direct (f32d_,
 * bf16d_): register allocation stays per kernel */
typedef void (*tile_fn)(int K, const void *A, const void *B, long bks, float *t);
typedef void (*direct_fn)(int K, const void *A, const void *B, long bks, float *C, long ldc,
                          const float *bias);
#define TILE(n) \
    __attribute__((noinline)) static void f32_##n(int K, const void *A, const void *B, long bks, float *t) { \
        f32_tile(n, 0, K, A, B, bks, t, 32, NULL); \
    } \
    __attribute__((noinline)) static void bf16_##n(int K, const void *A, const void *B, long bks, float *t) { \
        bf16_tile(n, 0, K, A, B, bks, t, 32, NULL); \
    } \
    __attribute__((noinline)) static void f32d_##n(int K, const void *A, const void *B, long bks, float *C, \
                                                   long ldc, const float *bias) { \
        f32_tile(n, 1, K, A, B, bks, C, ldc, bias); \
    } \
    __attribute__((noinline)) static void bf16d_##n(int K, const void *A, const void *B, long bks, float *C, \
                                                    long ldc, const float *bias) { \
        bf16_tile(n, 1, K, A, B, bks, C, ldc, bias); \
    }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7)
TILE(8) TILE(9) TILE(10) TILE(11) TILE(12) TILE(13) TILE(14)
#undef TILE
/* {NULL, p1, ..., p14}: a table by row count */
#define BY_ROWS(p) {NULL, p##1, p##2, p##3, p##4, p##5, p##6, p##7, p##8, p##9, p##10, p##11, p##12, p##13, p##14}
static const tile_fn F32[MR + 1] = BY_ROWS(f32_), BF16[MR + 1] = BY_ROWS(bf16_);
static const direct_fn F32D[MR + 1] = BY_ROWS(f32d_), BF16D[MR + 1] = BY_ROWS(bf16d_);
#undef BY_ROWS

AI void kern(const tile_fn *tile, const direct_fn *direct, int mr, int nr, int K, const void *A,
             const void *B, long bks, float *C, long ldc, const rfs_epi *e) {
    _Alignas(64) float t[MR * 32];
    if (mr < 1 || mr > MR) return;
    if (nr == 32 && e->act == RFS_ACT_NONE && !e->res) {
        direct[mr](K, A, B, bks, C, ldc, e->bias);
        return;
    }
    tile[mr](K, A, B, bks, t);
    rfs_v16_epilogue(t, mr, nr, C, ldc, e);
}

void rfs_kern_f32_avx512(int mr, int nr, int K, const void *A, const void *B, long bks,
                         float *C, long ldc, const rfs_epi *e) {
    kern(F32, F32D, mr, nr, K, A, B, bks, C, ldc, e);
}

void rfs_kern_bf16_avx512(int mr, int nr, int K, const void *A, const void *B, long bks,
                          float *C, long ldc, const rfs_epi *e) {
    kern(BF16, BF16D, mr, nr, K, A, B, bks, C, ldc, e);
}

/* mr rows of K floats -> MR-interleaved (k-major, MR floats per k), rows >= mr zero. */
void rfs_packa_f32_avx512(void *dstv, const float *const *rows, int mr, int K, int Kp) {
    float *dst = dstv;
    const __mmask16 m14 = rfs_v16_mask(MR);
    for (int k0 = 0; k0 < K; k0 += 16) {
        const int n = K - k0 < 16 ? K - k0 : 16;
        const __mmask16 mk = rfs_v16_mask(n);
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < mr ? _mm512_maskz_loadu_ps(mk, rows[i] + k0) : _mm512_setzero_ps();
        rfs_v16_transpose(r);
        for (int j = 0; j < n; j++) _mm512_mask_storeu_ps(dst + (size_t)(k0 + j) * MR, m14, r[j]);
    }
}

/* The same as bf16 pairs: MR pairs per k pair, k zero-padded to Kp (a multiple of 32). */
void rfs_packa_bf16_avx512(void *dstv, const float *const *rows, int mr, int K, int Kp) {
    uint32_t *dst = dstv;
    const __mmask16 m14 = rfs_v16_mask(MR);
    for (int k0 = 0; k0 < Kp; k0 += 32) {
        const __mmask16 lo = rfs_v16_mask(K - k0), hi = rfs_v16_mask(K - k0 - 16);
        __m512 r[16];
        for (int i = 0; i < 16; i++) {
            if (i < mr) {
                __m512 a = _mm512_maskz_loadu_ps(lo, rows[i] + k0);
                __m512 b = _mm512_maskz_loadu_ps(hi, rows[i] + k0 + 16);
                r[i] = _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(b, a));
            } else {
                r[i] = _mm512_setzero_ps();
            }
        }
        rfs_v16_transpose(r);
        for (int j = 0; j < 16; j++)
            _mm512_mask_storeu_ps(dst + (size_t)(k0 / 2 + j) * MR, m14, r[j]);
    }
}

void rfs_pair_bf16_avx512(uint32_t *dst, const float *r0, const float *r1) {
    /* bf16 of r0 in elements 0..15 / r1 in 16..31 of each conversion, then interleaved */
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                         24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1,
                                         16, 0);
    for (int h = 0; h < 2; h++) {
        __m512 a = r0 ? _mm512_loadu_ps(r0 + 16 * h) : _mm512_setzero_ps();
        __m512 b = r1 ? _mm512_loadu_ps(r1 + 16 * h) : _mm512_setzero_ps();
        __m512i v = (__m512i)_mm512_cvtne2ps_pbh(b, a);
        _mm512_storeu_si512(dst + 16 * h, _mm512_permutexvar_epi16(idx, v));
    }
}

void rfs_ln_row_avx512(float *dst, const float *x, int K, const float *g, const float *b,
                       float eps) {
    rfs_v16_ln_row(dst, x, K, g, b, eps);
}

double rfs_exp_row_avx512(float *x, int n, float scale) {
    __m512 vm = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < n; j += 16)
        vm = _mm512_max_ps(vm, _mm512_mask_loadu_ps(vm, rfs_v16_mask(n - j), x + j));
    const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vm)), sc = _mm512_set1_ps(scale);
    __m512 s = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = rfs_v16_mask(n - j);
        __m512 e = rfs_v16_exp(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), mx), sc));
        e = _mm512_maskz_mov_ps(m, e);
        s = _mm512_add_ps(s, e);
        _mm512_mask_storeu_ps(x + j, m, e);
    }
    return rfs_v16_sum_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(s)),
                          _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1))));
}

void rfs_silu_avx512(float *y, int n) {
    const __m512 one = _mm512_set1_ps(1.f);
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = rfs_v16_mask(n - j);
        __m512 x = _mm512_maskz_loadu_ps(m, y + j);
        __m512 e = rfs_v16_exp(_mm512_sub_ps(_mm512_setzero_ps(), x));
        _mm512_mask_storeu_ps(y + j, m, _mm512_div_ps(x, _mm512_add_ps(one, e)));
    }
}

void rfs_gelu_avx512(float *y, int n) {
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = rfs_v16_mask(n - j);
        _mm512_mask_storeu_ps(y + j, m, rfs_v16_gelu(_mm512_maskz_loadu_ps(m, y + j)));
    }
}

void rfs_dwconv_avx512(float *y, const float *x, int H, int W, int C, int p, const float *wt,
                       const float *b) {
    rfs_dwconv_impl(y, x, H, W, C, p, wt, b);
}

void rfs_packb_panel_avx512(float *dst, const float *src, long ld, int n, int K) {
    for (int k0 = 0; k0 < K; k0 += 16) {
        const int nk = K - k0 < 16 ? K - k0 : 16;
        const __mmask16 mk = rfs_v16_mask(nk);
        for (int h = 0; h < 2; h++) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                const int j = h * 16 + i;
                r[i] = j < n ? _mm512_maskz_loadu_ps(mk, src + j * ld + k0) : _mm512_setzero_ps();
            }
            rfs_v16_transpose(r);
            for (int kk = 0; kk < nk; kk++) _mm512_storeu_ps(dst + (size_t)(k0 + kk) * 32 + h * 16, r[kk]);
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
typedef int rfs_gemm_avx512_unused; /* ISO C: no empty translation unit */
#endif
