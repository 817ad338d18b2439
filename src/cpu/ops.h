/* ops.h - the reference CPU ops of the network (fp32, on the engine's kernels + OpenMP).
 *
 * Layout conventions: activations are row-major "token-major" matrices: a sequence of T
 * tokens of C channels is (T, C); a feature map of H x W pixels is stored HWC, i.e. the
 * (H*W, C) matrix with pixel index y*W + x. Weights keep PyTorch's layout: a Linear is
 * (out, in), a Conv2d (out, in, kh, kw). Leading dimensions (ld*) are in elements and let
 * an op read or write a column slice of a wider matrix (e.g. one tap inside a concat).
 *
 * These are the oracle for the CUDA ops (src/cuda/): same names with _cuda, same math.
 * None of them allocates; the ones that need scratch take it as an argument.
 */
#ifndef RFS_CPU_OPS_H
#define RFS_CPU_OPS_H

#include <stddef.h>

typedef enum rfs_act { RFS_ACT_NONE, RFS_ACT_RELU, RFS_ACT_GELU, RFS_ACT_SILU } rfs_act;

/* y (M, N) = act(x (M, K) . w (N, K)^T + b (N)); b may be NULL. y must not alias x. The
 * weight is packed per call (tests and the trace; the forward pass packs once). */
void rfs_linear_cpu(float *y, int ldy, const float *x, int ldx, const float *w,
                    const float *b, int M, int N, int K, rfs_act act);

/* Row-wise LayerNorm over C channels with biased variance, statistics in double:
 * y = (x - mean) / sqrt(var + eps) * g + b. y may alias x (same ld). */
void rfs_layernorm_cpu(float *y, int ldy, const float *x, int ldx, const float *g,
                       const float *b, int M, int C, float eps);

/* In-place activation of n contiguous values. */
void rfs_act_cpu(float *x, size_t n, rfs_act act);

/* Multi-head scaled-dot-product attention over nseq independent sequences of T tokens.
 * q, k, v: (nseq*T, heads*dh) slices with row strides ldq/ldk/ldv; head h owns channels
 * [h*dh, (h+1)*dh). out: (nseq*T, heads*dh) with row stride ldo. softmax(q k^T / sqrt(dh)) v.
 * Runs on a team of at most `threads` threads. Its buffers are allocated per call (it
 * serves the tests; the forward pass uses attention.h on the session's buffers). */
void rfs_attention_cpu(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                       const float *v, int ldv, int nseq, int T, int heads, int dh,
                       int threads);

/* The same in double, online softmax, no buffers (rfs_attention_cpu's fallback). */
void rfs_attention_naive_cpu(float *out, int ldo, const float *q, int ldq, const float *k,
                             int ldk, const float *v, int ldv, int nseq, int T, int heads,
                             int dh);

/* im2col for a 3x3, stride 1, padding 1 convolution on an HWC map (H*W, C) with row
 * stride ldx: col (H*W, C*9), column index c*9 + ky*3 + kx (PyTorch weight order). */
void rfs_im2col3x3_cpu(float *col, const float *x, int ldx, int H, int W, int C);

/* Depthwise 3x3 convolution, padding 1, with bias, on an HWC map. w: (C, 1, 3, 3). */
void rfs_dwconv3x3_cpu(float *y, const float *x, const float *w, const float *b, int H,
                       int W, int C);

/* Bilinear resize of an HWC map, align_corners=False, no antialias (upsampling). */
void rfs_resize_bilinear_hwc_cpu(float *y, int Ho, int Wo, const float *x, int Hi, int Wi,
                                 int C);

/* Multi-scale deformable attention sampling for one level (docs/network.md 6.5).
 * value: (H*W, heads*dh). For each of nq queries: off (heads*npts*2), logits of the
 * attention weights aw (heads*npts, softmaxed here over the npts of each head), ref box
 * (cx, cy, w, h). out: (nq, heads*dh). off/aw rows have stride ldoa (they come from one
 * fused projection: off first, then aw). */
void rfs_msda_cpu(float *out, const float *value, int H, int W, const float *offaw, int ldoa,
                  const float *ref, int nq, int heads, int dh, int npts);

/* ---- the network's own steps (docs/network.md); each has a _cuda twin of the same
 * name (cuda/backend.h), batched over images there ---------------------------------------- */

/* Tokens (3.2): x (nw*nw*Tw, D) in the windowed layout, Tw = 1 + (G/nw)^2: per window the
 * CLS token (cls + pos[0]) then its patches, pe (G*G, D, grid order) + pos[1 + pixel]. */
void rfs_embed_cpu(float *x, const float *pe, const float *cls, const float *pos, int G,
                   int nw, int D);

/* Two-stage memory (6.1): omem (G*G, C) = mem with the rows of the tokens whose grid
 * proposal falls outside (0.01, 0.99) zeroed. */
void rfs_mask_invalid_cpu(float *omem, const float *mem, int G, int C);

/* Two-stage selection (6.1, 6.2): score = max over K of enc_cls (N, K), encoder boxes
 * (N, 4) = the deltas enc_d applied to the grid proposals, the nq best tokens by score
 * (ties: lower token first) into order, and the reference boxes ref (nq, 4) = the
 * refpoint deltas applied to their boxes (refpoint rows past N kept as they are).
 * enc_boxes and score are outputs too (N each; the trace reads them). */
void rfs_two_stage_select_cpu(float *ref, int *order, float *enc_boxes, float *score,
                              const float *enc_cls, int K, const float *enc_d,
                              const float *refpoint, int G, int nq);

/* Query sine embedding (6.3): ref (rows, 4) cxcywh -> sine (rows, 2C), components in the
 * order y, x, w, h, each C/2 wide (sin at even, cos at odd frequencies). */
void rfs_sine_embed_cpu(float *sine, const float *ref, int rows, int C);

/* Box reparameterisation (7): boxes (rows, 4) = (d_xy * r_wh + r_xy, exp(d_wh) * r_wh). */
void rfs_box_reparam_cpu(float *boxes, const float *deltas, const float *ref, int rows);

#endif
