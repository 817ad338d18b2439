/* backend.h - the CUDA backend's op launchers (one .cu per op family) and the small
 * device-memory helpers the tests use. The backend itself (model/backend.h:
 * rfs_backend_cuda) is net.cu; its forward pass forward.cu; whole frames pipeline.cu.
 *
 * Plain C: no CUDA header is needed to include it. Device pointers are void * / float *,
 * streams are void * (a cudaStream_t; NULL is the legacy default stream).
 *
 * Layouts are those of cpu/ops.h (token-major rows, HWC maps, PyTorch weight layouts);
 * every op here has a CPU counterpart with the same math and name (name_cpu <-> name_cuda)
 * except those that fuse steps the CPU runs as separate ops (named where declared).
 *
 * Types. Activations feeding matrix products are stored in the session's precision
 * "T" (fp32, fp16 or bf16); the residual streams, LayerNorm statistics, softmax sums,
 * sampling coordinates and the network outputs stay fp32. rfs_dtype (io/tensorfile.h)
 * names the type of each buffer an op reads or writes: F32, F16 or BF16.
 *
 * Errors. A CUDA or cuBLAS call that fails is a broken invariant (tier 2): it aborts with
 * file:line and the CUDA message. A missing device or a session that does not fit the
 * device is reported as RFS_ERR_BACKEND / RFS_ERR_NOMEM when a session is created (tier 1).
 */
#ifndef RFS_CUDA_BACKEND_H
#define RFS_CUDA_BACKEND_H

#ifdef __cplusplus
extern "C" {
#endif

#include "cpu/ops.h"
#include "io/tensorfile.h" /* rfs_dtype: RFS_DT_F32, RFS_DT_F16, RFS_DT_BF16 */
#include "rfseg.h"

#include <stddef.h>

/* ---- device memory helpers (tests, tools) ------------------------------------------ */

int rfs_cuda_device_count(void);           /* 0 when no driver or no device */
/* The code path the kernels take on the current device: its compute capability as
 * 10 * major + minor (75 Turing, 80/86/87 Ampere, 89 Ada, 90 Hopper), capped by the
 * environment variable RFS_CUDA_ARCH (75 or 80), so a newer GPU can run and test an older
 * GPU's path. Below 80: fp16 tensor cores through m16n8k8 and synchronous tile loads,
 * no bf16. */
int rfs_cuda_arch(void);
int rfs_cuda_sm_count(void);               /* multiprocessors of the current device */
const char *rfs_cuda_device_name(int dev); /* static buffer */
void *rfs_cuda_alloc(size_t bytes);        /* aborts on failure (test helper) */
void rfs_cuda_free(void *p);
void rfs_cuda_upload(void *dst, const void *src, size_t bytes);
void rfs_cuda_download(void *dst, const void *src, size_t bytes);
void rfs_cuda_sync(void);
/* dst (type dt) = src (type st), n elements, on stream. */
void rfs_convert_cuda(void *dst, rfs_dtype dt, const void *src, rfs_dtype st, size_t n,
                      void *stream);
/* Uploads n host floats as type t (allocates). */
void *rfs_cuda_upload_as(const float *src, size_t n, rfs_dtype t);
/* Downloads n elements of type t as host floats. */
void rfs_cuda_download_f32(float *dst, const void *src, size_t n, rfs_dtype t);

/* ---- cuBLASLt GEMM (gemm.cu) ------------------------------------------------------- */

typedef struct rfs_cuda_ctx rfs_cuda_ctx; /* cuBLASLt handle, workspace, plan cache */
rfs_status rfs_cuda_ctx_create(rfs_cuda_ctx **out);
void rfs_cuda_ctx_free(rfs_cuda_ctx *c);

/* y (M, N) [+]= act(x (M, K) . w (N, K)^T + b (N)), row-major with leading dimensions.
 * x and w have type xt; y and b have type yt (b may be NULL). accumulate: y += result
 * (before act; used with act NONE for residual adds). act: NONE or RELU (GELU is never
 * taken from cuBLASLt: its epilogue is the tanh approximation, see rfs_act_cuda).
 * fp32 runs true fp32 (no TF32); fp16/bf16 run on tensor cores with fp32 accumulation. */
void rfs_linear_cuda(rfs_cuda_ctx *c, void *y, rfs_dtype yt, int ldy, const void *x, int ldx,
                     const void *w, rfs_dtype xt, const void *b, int M, int N, int K,
                     rfs_act act, int accumulate, void *stream);
/* y (M, N) = x . w^T + b + cm, where cm (M, N, type yt, leading dimension ldc) is another
 * matrix (may alias y only with ldc == ldy): precomputed terms added for free in the
 * product's epilogue. */
void rfs_linear_add_cuda(rfs_cuda_ctx *c, void *y, rfs_dtype yt, int ldy, const void *cm, int ldc,
                         const void *x, int ldx, const void *w, rfs_dtype xt, const void *b,
                         int M, int N, int K, void *stream);
/* batch independent products y_i = x_i . w_i^T + b with element strides between items
 * (b shared). Used by the mask head: masks_i (nq, P) = qf_i (nq, C) . spatial_i (P, C)^T. */
void rfs_linear_batched_cuda(rfs_cuda_ctx *c, void *y, rfs_dtype yt, int ldy, long long sy,
                             const void *x, int ldx, long long sx, const void *w, long long sw,
                             rfs_dtype xt, const void *b, int M, int N, int K, int batch,
                             void *stream);

/* ---- LayerNorm (norm.cu) ----------------------------------------------------------- */

/* Row LayerNorm over C <= 1024 channels, fp32 statistics (two-pass), biased variance,
 * then optionally SiLU and a second LayerNorm (the projector's ConvX + final norm). */
typedef struct rfs_ln_args {
    const void *x; rfs_dtype xt; int ldx;
    void *y; rfs_dtype yt; int ldy;       /* output (may alias x when same type and ld) */
    float *y32; int ldy32;                /* optional fp32 copy of the output */
    void *yq; const float *q; int ldq;    /* optional yq (type yt, ld ldy) = y + q */
    const float *g, *b; float eps;
    rfs_act act;                          /* NONE or SILU, after the norm */
    const float *g2, *b2; float eps2;     /* optional second norm after act (g2 != NULL) */
    int M, C;
    /* tap mode (tap_nw > 0, tap_y NULL): output row r = image*G*G + pixel reads the token
     * of that pixel in the windowed layout (docs/network.md 3.6) */
    int tap_G, tap_nw;
    /* merged tap (tap_y set; rows are tokens): the same row statistics also give the tap's
     * LayerNorm (tap_g, tap_b; same eps), written for non-CLS tokens to the token's pixel
     * row of tap_y (type yt, row stride tap_ld) */
    void *tap_y; int tap_ld;
    const float *tap_g, *tap_b;
} rfs_ln_args;
void rfs_layernorm_cuda(const rfs_ln_args *a, void *stream);

/* ---- elementwise (elementwise.cu) -------------------------------------------------- */

/* In-place activation of n values of type t (GELU: exact erf form). */
void rfs_act_cuda(void *x, rfs_dtype t, size_t n, rfs_act act, void *stream);
/* f (rows, C) += GELU(g (rows, C)), both of type t; with fh the result goes to fh (type t,
 * row stride ldh) and f is left as it was. C % 4 == 0. */
void rfs_gelu_residual_cuda(void *f, void *fh, int ldh, const void *g, rfs_dtype t, int rows,
                            int C, void *stream);
/* y (type t) = a + b, or = a when b is NULL; rows of C with separate leading dims. */
void rfs_add_rows_cuda(void *y, rfs_dtype t, int ldy, const float *a, int lda, const float *b,
                       int ldb, int rows, int C, void *stream);
/* dst rows (nimg*rows, C) fp32 = src (rows, C) repeated for each image. */
void rfs_broadcast_rows_cuda(float *dst, const float *src, int rows, int C, int nimg,
                             void *stream);

/* ---- attention (attention.cu) ------------------------------------------------------ */

/* rfs_attention_cpu on nseq sequences of T tokens: q, k, v, out of type t with row
 * strides; head h owns channels [h*dh, (h+1)*dh). dh in {16, 32, 64, 128}. fp16/bf16 run
 * a tensor-core flash kernel (fp32 softmax statistics and accumulation); fp32 a SIMT one. */
int rfs_attention_cuda_supported(int dh);
void rfs_attention_cuda(void *out, int ldo, const void *q, int ldq, const void *k, int ldk,
                        const void *v, int ldv, rfs_dtype t, int nseq, int T, int heads, int dh,
                        void *stream);

/* ---- convolutions, resampling (conv.cu) -------------------------------------------- */

/* Patch pixels: img (nimg, 3, R, R) fp32 -> patches (nimg*G*G, 3*ps*ps) type t. */
void rfs_patch_gather_cuda(void *patches, rfs_dtype t, const float *img, int nimg, int R,
                           int ps, void *stream);
/* Tokens: x (nimg*NT, D) fp32 windowed layout = pe (nimg*G*G, D) + pos, CLS copies. */
void rfs_embed_cuda(float *x, const float *pe, const float *cls, const float *pos, int nimg,
                    int G, int nw, int D, void *stream);
/* rfs_im2col3x3_cpu for nimg maps: x (nimg*H*W rows, ldx) -> col (nimg*H*W, 9C). */
void rfs_im2col3x3_cuda(void *col, const void *x, int ldx, rfs_dtype t, int nimg, int H,
                        int W, int C, void *stream);
/* rfs_dwconv3x3_cpu then LayerNorm (eps) per pixel, fused: x -> y, both of type t. With
 * ln_g NULL the plain conv result is written (tests). C <= 1024. */
void rfs_dwconv3x3_ln_cuda(void *y, rfs_dtype t, const void *x, const float *w,
                           const float *b, const float *ln_g, const float *ln_b, float eps,
                           int nimg, int H, int W, int C, void *stream);
/* rfs_resize_bilinear_hwc_cpu for nimg maps: x -> y, both of type t. */
void rfs_resize_bilinear_cuda(void *y, int Ho, int Wo, const void *x, rfs_dtype t, int Hi,
                              int Wi, int C, int nimg, void *stream);
/* omem (type t) = memory with the rows of invalid proposals zeroed (6.1). */
void rfs_mask_invalid_cuda(void *omem, const void *mem, rfs_dtype t, int nimg, int G, int C,
                           void *stream);

/* ---- decoder pieces (decoder.cu) --------------------------------------------------- */

/* rfs_msda_cpu for nimg images of nq queries: value (nimg*H*W, heads*dh) type t with row
 * stride ldv, offaw (nimg*nq, ldoa) fp32, ref (nimg*nq, 4) -> out (nimg*nq, heads*dh) type t. */
void rfs_msda_cuda(void *out, const void *value, int ldv, rfs_dtype t, int H, int W, const float *offaw,
                   int ldoa, const float *ref, int nimg, int nq, int heads, int dh, int npts,
                   void *stream);
/* Two-stage selection (6.1, 6.2 steps 4-7) per image: scores = max over K of enc_cls
 * (nimg*N, K), encoder boxes from the deltas enc_d (nimg*N, 4) on the grid proposals,
 * top-nq by score (ties: lower token first), then the refpoint deltas:
 * ref (nimg*nq, 4). order (nimg*nq ints, device) receives the selected tokens. force (nimg*nq
 * ints, device, or NULL) overrides the selection where an entry is >= 0 (tests: another
 * precision's query assignment, lab.h rfs_cuda_force_order); NULL or -1 selects by score. */
int rfs_select_supported(int N);
void rfs_two_stage_select_cuda(float *ref, int *order, const int *force, const float *enc_cls,
                               int K, const float *enc_d, const float *refpoint, int G, int nq,
                               int nimg, void *stream);
/* Query sine embedding (6.3): ref (rows, 4) -> sine (rows, 2C) type t, order (y,x,w,h). */
void rfs_sine_embed_cuda(void *sine, rfs_dtype t, const float *ref, int rows, int C,
                         void *stream);
/* boxes = reparam(deltas, ref) (7), rows of 4. */
void rfs_box_reparam_cuda(float *boxes, const float *deltas, const float *ref, int rows,
                          void *stream);

#ifdef __cplusplus
}
#endif
#endif
