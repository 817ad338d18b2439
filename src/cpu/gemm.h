/* gemm.h - the CPU engine's matrix products: y = epilogue(prologue(A) . W^T) with W a
 * Linear (or convolution) weight packed once, at model load.
 *
 * Packed weights. A Linear's W (N, K) (PyTorch layout) is stored as ceil(N/32) column
 * panels of 32 output channels; inside a panel, k-major:
 *   fp32: panel[k][j]          = W[32p + j][k]           (K rows of 32 floats)
 *   bf16: panel[k/2][j][k%2]   = bf16(W[32p + j][k])     (Kp/2 rows of 32 pairs; Kp = K
 *                                                          rounded up to 32, zero padded)
 * Columns beyond N are zero, and so is the bias there. The fp32 form serves every
 * instruction set (the AVX2 and baseline kernels walk a panel in halves); the bf16 form
 * serves AVX512_BF16 (vdpbf16ps on pairs) and AMX (a 16-column half of a panel is exactly
 * an AMX B tile in VNNI layout, row stride 128 bytes).
 *
 * A product. Rows of A come from a (M, K) matrix with row stride lda, or from a callback
 * that writes one row (im2col, depthwise conv, gathers), optionally through a LayerNorm
 * over K (statistics in double, fused into the packing of A). The epilogue, applied to
 * each finished tile while it is in registers:
 *   y = act(acc + bias)                 (act: none, ReLU, exact-erf GELU)
 *   y = res + scale (.) y               when res is set (scale NULL: 1; res may be c)
 * Products are computed in fp32 with fused multiply-adds (bf16 form: bf16 products, fp32
 * accumulation), each output element summed over k in order.
 *
 * Threads. rfs_gemm_run() is one thread's share of the product and is called by every
 * thread of a parallel region; rfs_gemm() opens a region of its own. When the row blocks
 * are too few to split by rows alone, A is packed once into a buffer shared by the team
 * (rfs_gemm_shared() floats) with an OpenMP barrier before the tiles; the output has no
 * barrier after it (the caller synchronises before reading it). Each thread needs
 * rfs_gemm_scratch() floats of its own.
 */
#ifndef RFS_CPU_GEMM_H
#define RFS_CPU_GEMM_H

#include "cpu/isa.h"
#include "cpu/ops.h"

#include <stddef.h>
#include <stdint.h>

enum { RFS_GEMM_NR = 32 };

typedef enum rfs_wform { RFS_WF_F32 = 0, RFS_WF_BF16 = 1 } rfs_wform;

typedef struct rfs_packed {
    int N, K;        /* logical shape of W (out, in) */
    int Kp;          /* rows of k in a panel: K (fp32) or K rounded up to 32 (bf16) */
    int np;          /* panels: ceil(N / 32) */
    rfs_wform form;
    void *w;         /* np * Kp * 32 elements (float or uint16_t bf16) */
    float *bias;     /* np * 32 */
} rfs_packed;

/* The value of W[n][k] for packing from any layout (convolutions reorder k). */
typedef float (*rfs_wget_fn)(const void *ctx, int n, int k);

/* Packs W (N, K) row-major with row stride ldw, and bias b (N, may be NULL). */
int rfs_pack_linear(rfs_packed *p, const float *w, int ldw, const float *b, int N, int K,
                    rfs_wform form);
/* Same from a getter. Returns 0, or -1 when out of memory. */
int rfs_pack_get(rfs_packed *p, rfs_wget_fn get, const void *ctx, const float *b, int N, int K,
                 rfs_wform form);
/* A 3x3 convolution weight (N, C, 3, 3) as a Linear over K = 9*C with k = tap*C + c
 * (tap = ky*3 + kx): the order rfs_im2col_row3x3() writes. */
int rfs_pack_conv3x3(rfs_packed *p, const float *w, const float *b, int N, int C,
                     rfs_wform form);
void rfs_packed_free(rfs_packed *p);
size_t rfs_packed_bytes(const rfs_packed *p);

/* Writes row `row` of A (K floats) into dst. */
typedef void (*rfs_arow_fn)(const void *ctx, float *dst, int row);

typedef struct rfs_gemm_desc {
    int M;
    const rfs_packed *w;
    const float *a;             /* (M, K) with row stride lda, or NULL: rows from arow */
    int lda;
    rfs_arow_fn arow;
    const void *actx;
    const float *ln_g, *ln_b;   /* LayerNorm of A's rows over K when ln_g is set */
    float ln_eps;
    rfs_act act;                /* none, ReLU or GELU */
    const float *res;           /* residual (M, N) with row stride ldr, may equal c */
    int ldr;
    const float *res_scale;     /* (N) or NULL */
    float *c;                   /* (M, N) with row stride ldc */
    int ldc;
} rfs_gemm_desc;

/* The GEMM kernel family a weight form runs with at a given ISA level (fp32 below AVX2:
 * baseline C; bf16 needs avx512bf16). */
rfs_cpu_isa rfs_gemm_isa(rfs_wform form, rfs_cpu_isa isa);

/* Floats of scratch one thread needs for products with K up to maxK. */
size_t rfs_gemm_scratch(int maxK);

/* Floats of the team's shared A buffer for products of M rows and K up to K. */
size_t rfs_gemm_shared(int M, int K);

/* One thread's share (tid of nt) of the product; every thread of the team calls it.
 * scratch: this thread's; ashared: the team's. */
void rfs_gemm_run(const rfs_gemm_desc *g, rfs_cpu_isa isa, int tid, int nt, float *scratch,
                  float *ashared);
/* The whole product on nt threads in a region of its own; thread t's scratch is at
 * scratch + t * stride (stride >= rfs_gemm_scratch(K)). */
void rfs_gemm(const rfs_gemm_desc *g, rfs_cpu_isa isa, int nt, float *scratch, size_t stride,
              float *ashared);

/* An fp32 rfs_packed view of activations: the (N, K) matrix src (row stride ld) as the
 * weight of a product (y = x . src^T), into buf (rfs_act_packed_floats(N, K1) floats,
 * K1 = K + ones); with ones, an extra k row of 1.0 (the next product's A then carries a
 * per-row offset in its column K). zeros: 32 * ceil(N/32) zero floats (the bias).
 * One thread's share (tid of nt), no barrier; thread 0 fills view (may be NULL). */
size_t rfs_act_packed_floats(int N, int K1);
void rfs_pack_act_run(rfs_packed *view, float *buf, float *zeros, const float *src, int ld,
                      int N, int K, int ones, rfs_cpu_isa isa, int tid, int nt);

/* ---- between gemm.c and the per-ISA kernel files ------------------------------------- */

typedef struct rfs_epi {
    const float *bias;   /* at column n0; 32 valid floats */
    const float *scale;  /* at n0, nr valid, or NULL */
    const float *res;    /* at (m0, n0), or NULL */
    long ldr;
    int act;
} rfs_epi;

/* C (mr, nr) = epilogue(Apack . Bpanel). Apack: MR-interleaved (k-major, MR floats per k;
 * bf16: MR pairs per k pair); Bpanel: a packed panel (row stride bks elements). */
typedef void (*rfs_kern_fn)(int mr, int nr, int K, const void *A, const void *B, long bks,
                            float *C, long ldc, const rfs_epi *e);

void rfs_kern_f32_ref(int mr, int nr, int K, const void *A, const void *B, long bks, float *C,
                      long ldc, const rfs_epi *e);
void rfs_kern_f32_avx2(int mr, int nr, int K, const void *A, const void *B, long bks, float *C,
                       long ldc, const rfs_epi *e);
void rfs_kern_f32_avx512(int mr, int nr, int K, const void *A, const void *B, long bks,
                         float *C, long ldc, const rfs_epi *e);
void rfs_kern_bf16_avx512(int mr, int nr, int K, const void *A, const void *B, long bks,
                          float *C, long ldc, const rfs_epi *e);

/* Packs mr row pointers of K floats into a kernel's A layout (rows >= mr zero; bf16: k
 * zero-padded to Kp). */
typedef void (*rfs_packa_fn)(void *dst, const float *const *rows, int mr, int K, int Kp);
void rfs_packa_f32_ref(void *dst, const float *const *rows, int mr, int K, int Kp);
void rfs_packa_f32_avx2(void *dst, const float *const *rows, int mr, int K, int Kp);
void rfs_packa_f32_avx512(void *dst, const float *const *rows, int mr, int K, int Kp);
void rfs_packa_bf16_avx512(void *dst, const float *const *rows, int mr, int K, int Kp);

/* LayerNorm of one row of K floats: statistics in double. */
typedef void (*rfs_ln_row_fn)(float *dst, const float *x, int K, const float *g, const float *b,
                              float eps);
void rfs_ln_row_ref(float *dst, const float *x, int K, const float *g, const float *b, float eps);
void rfs_ln_row_avx2(float *dst, const float *x, int K, const float *g, const float *b, float eps);
void rfs_ln_row_avx512(float *dst, const float *x, int K, const float *g, const float *b,
                       float eps);

void rfs_kern_bf16_amx(int mr, int nr, int K, const void *A, const void *B, long bks, float *C,
                       long ldc, const rfs_epi *e);
/* AMX's A: MR rows of Kp bf16, row-major (not interleaved) */
void rfs_packa_bf16_amx(void *dst, const float *const *rows, int mr, int K, int Kp);

enum { RFS_MR_REF = 4, RFS_MR_AVX2 = 6, RFS_MR_AVX512 = 14, RFS_MR_AMX = 32, RFS_MR_MAX = 32 };

/* exp((x[j] - max x) * scale) in place over n values; returns their sum. */
typedef double (*rfs_exp_row_fn)(float *x, int n, float scale);
double rfs_exp_row_ref(float *x, int n, float scale);
double rfs_exp_row_avx2(float *x, int n, float scale);
double rfs_exp_row_avx512(float *x, int n, float scale);

/* One fp32 weight panel from activations: dst[k*32 + j] = src[j*ld + k] for j < n,
 * k < K; columns j >= n zero. (Keys as k^T panels, feature maps as weights.) */
typedef void (*rfs_packb_fn)(float *dst, const float *src, long ld, int n, int K);
void rfs_packb_panel_ref(float *dst, const float *src, long ld, int n, int K);
void rfs_packb_panel_avx2(float *dst, const float *src, long ld, int n, int K);
void rfs_packb_panel_avx512(float *dst, const float *src, long ld, int n, int K);

/* 32 bf16 pairs: dst[j] = bf16(r0[j]) | bf16(r1[j]) << 16; a NULL row reads as zeros. */
typedef void (*rfs_pair_fn)(uint32_t *dst, const float *r0, const float *r1);
void rfs_pair_bf16_ref(uint32_t *dst, const float *r0, const float *r1);
void rfs_pair_bf16_avx512(uint32_t *dst, const float *r0, const float *r1);

/* The kernel set of one path (its row operations: rfs_rowops_pick of the same ISA). */
typedef struct rfs_kern {
    rfs_kern_fn fn;
    rfs_packa_fn pack;
    rfs_packb_fn packb; /* fp32 panels */
    rfs_pair_fn pair;   /* bf16 panels from fp32 rows */
    int mr;
    int bf16; /* A packed as bf16 pairs, weights in the bf16 form */
} rfs_kern;

rfs_kern rfs_kern_pick(rfs_wform form, rfs_cpu_isa isa);

/* Row operations of the forward pass around the products, per ISA. */
typedef struct rfs_rowops {
    rfs_ln_row_fn ln;                  /* LayerNorm, y may be x */
    rfs_exp_row_fn exp_row;
    /* y = SiLU(y) over n values, in place */
    void (*silu)(float *y, int n);
    /* y = GELU(y) (exact erf form) over n values, in place */
    void (*gelu)(float *y, int n);
    /* y (C) = depthwise 3x3 conv (padding 1) of an HWC map x (H, W, C) at pixel p:
     * b[c] + sum over taps ky, kx of wt[(ky*3+kx)*C + c] * x[neighbour][c] */
    void (*dwconv)(float *y, const float *x, int H, int W, int C, int p, const float *wt,
                   const float *b);
} rfs_rowops;

rfs_rowops rfs_rowops_pick(rfs_cpu_isa isa);

void rfs_silu_ref(float *y, int n);
void rfs_silu_avx2(float *y, int n);
void rfs_silu_avx512(float *y, int n);
void rfs_gelu_ref(float *y, int n);
void rfs_gelu_avx2(float *y, int n);
void rfs_gelu_avx512(float *y, int n);
void rfs_dwconv_ref(float *y, const float *x, int H, int W, int C, int p, const float *wt,
                    const float *b);
void rfs_dwconv_avx2(float *y, const float *x, int H, int W, int C, int p, const float *wt,
                     const float *b);
void rfs_dwconv_avx512(float *y, const float *x, int H, int W, int C, int p, const float *wt,
                       const float *b);

/* fp32 -> bf16, round to nearest even (NaN kept quiet). */
static inline uint16_t rfs_bf16(float f) {
    uint32_t u;
    __builtin_memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
static inline float rfs_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    __builtin_memcpy(&f, &u, 4);
    return f;
}

#endif
