/* backend.h - the CUDA backend: session hooks (called by model/session.c), the op
 * launchers (one .cu per op family), and the small device-memory helpers the tests use.
 *
 * Plain C: no CUDA header is needed to include it. Device pointers are void * / float *,
 * streams are void * (a cudaStream_t; NULL is the legacy default stream).
 *
 * Layouts are those of cpu/ops.h (token-major rows, HWC maps, PyTorch weight layouts);
 * every op here has a CPU counterpart with the same math (name_cpu <-> name_cuda), or,
 * where the CPU pass does the step inline, a mirror of forward_cpu.c's code.
 *
 * Types. Activations feeding matrix products are stored in the session's precision
 * "T" (fp32, fp16 or bf16); the residual streams, LayerNorm statistics, softmax sums,
 * sampling coordinates and the network outputs stay fp32. rfs_dtype (io/tensorfile.h)
 * names the type of each buffer an op reads or writes: F32, F16 or BF16.
 *
 * Errors. A CUDA or cuBLAS call that fails is a broken invariant (tier 2): it aborts with
 * file:line and the CUDA message. A missing device or a session that does not fit the
 * device is reported as RFS_ERR_BACKEND / RFS_ERR_NOMEM by the session hooks (tier 1).
 */
#ifndef RFS_CUDA_BACKEND_H
#define RFS_CUDA_BACKEND_H

#ifdef __cplusplus
extern "C" {
#endif

#include "cpu/ops.h"
#include "io/tensorfile.h" /* rfs_dtype: RFS_DT_F32, RFS_DT_F16, RFS_DT_BF16 */
#include "model/session.h"

#include <stddef.h>

/* ---- session hooks ----------------------------------------------------------------- */

/* Uploads the weights (fp32, plus an fp16/bf16 copy for those precisions), allocates the
 * session's device buffers for max_batch and pins the session's host output buffers.
 * Fails with RFS_ERR_BACKEND when there is no usable device. */
rfs_status rfs_cuda_session_init(rfs_session *s);
/* One batch: input (batch, 3, R, R) host fp32 -> s->out_logits/out_boxes/out_masks. The
 * device work of a batch size is captured once as a CUDA graph and replayed. */
rfs_status rfs_cuda_forward(rfs_session *s, const float *input, int batch);
/* Releases the backend state of s (no-op for CPU sessions and NULL state). */
void rfs_cuda_session_free(rfs_session *s);

/* ---- timing (benchmarks; never used on the hot path) ------------------------------- */

enum { RFS_CUDA_MAX_STAGES = 12 };

typedef struct rfs_cuda_timing {
    double graph_ms;          /* median device time of one graph replay (network alone) */
    double graph_min_ms;      /* fastest replay */
    double forward_ms;        /* median wall time of rfs_cuda_forward (copies included) */
    int nstages;
    const char *stage[RFS_CUDA_MAX_STAGES];
    double stage_ms[RFS_CUDA_MAX_STAGES]; /* per-stage device time, eager (not graph) run */
} rfs_cuda_timing;

/* Times the network of s at `batch` on device-resident input (whatever the input buffer
 * holds): `iters` graph replays (median), `iters` full rfs_cuda_forward calls on host
 * `input` when it is not NULL, and one eager run with events between stages. */
rfs_status rfs_cuda_time(rfs_session *s, int batch, int iters, const float *input,
                         rfs_cuda_timing *out);

/* Intermediates of the last forward, for tests, as host floats: "input" (batch*3*R*R,
 * the network input on lane 0, e.g. as the device pipeline pre-processed it), "ref"
 * (batch*nq*4 decoder reference boxes), "order" (batch*nq selected tokens), "p4" (batch*G*G*C projector
 * output), "enc_cls" (batch*G*G*K two-stage class logits). */
rfs_status rfs_cuda_read_debug(rfs_session *s, const char *name, float *dst, int batch);

/* ---- the frame pipeline (pipeline.cu) ------------------------------------------------
 *
 * uint8 frames in host memory -> rfs_result, every step between on the device: the
 * pre-processing of both presets (roboflow: the cv2-exact fixed-point resize of the
 * package's stretch / letterbox / center-crop with static crop and grayscale, then the
 * float32 normalisation; rfdetr: to_tensor + normalize + the antialiased resize in
 * double, as the CPU), the network, the selection (sigmoid, argmax or the rfdetr
 * candidates, class remap, thresholds, compaction with an atomic counter), the boxes, and
 * the masks of the candidates only (upsampled with the CPU's taps in its float32 order,
 * thresholded, cut to their set rectangle and bit-packed); only the candidates and the
 * packed rectangles cross PCIe, written by the last kernel into mapped pinned memory.
 * All of it is one CUDA graph per (lane, batch, frame size, preset, options).
 *
 * Exactness. The scores are recomputed on the host with rfs_sigmoidf from the logit the
 * device selected (the device's exp is not glibc's expf): the device keeps every query
 * whose decision could differ by a few ulps (SIG_MARGIN) as a candidate, flagged, and
 * the host decides those exactly; boxes, masks and pre-processing are bit-identical to
 * the CPU pipeline (tests/test_cuda_pipeline.c).
 *
 * A lane runs one batch at a time: submit stages the frames in pinned memory and
 * launches, collect waits for the lane's event and unpacks. Lane 1 is a second set of
 * network buffers, so two batches can be in flight (rfs_predict_submit). */

/* 1 when this batch can run on the device pipeline (same size and pixel format for every
 * frame, geometry the CPU would accept); else the caller uses the CPU pre-processing. */
int rfs_cuda_pipe_accepts(const rfs_session *s, const rfs_image *frames, int n,
                          const rfs_predict_opts *o);
/* Stages the frames (copied: the caller may reuse them on return) and launches the
 * batch on lane (0 or 1), which must be idle. */
rfs_status rfs_cuda_pipe_submit(rfs_session *s, int lane, const rfs_image *frames, int n,
                                const rfs_predict_opts *o);
/* Waits for lane's batch and fills results[0..n-1]; adds to the session's stage times. */
rfs_status rfs_cuda_pipe_collect(rfs_session *s, int lane, rfs_result *results);
/* Tests: with raw set, later batches skip the network and use these outputs (host
 * arrays of max_batch images, rfs_raw layout) instead; NULL restores the network. */
void rfs_cuda_pipe_inject(rfs_session *s, const rfs_raw *raw);
/* Device time of the pipeline on lane 0 for this batch: graph_ms = median replay of the
 * whole graph (upload to copy-out), stage_ms per step from an eager run with events. */
rfs_status rfs_cuda_pipe_profile(rfs_session *s, const rfs_image *frames, int n,
                                 const rfs_predict_opts *o, int iters, rfs_cuda_timing *out);

/* ---- device memory helpers (tests, tools) ------------------------------------------ */

int rfs_cuda_device_count(void);           /* 0 when no driver or no device */
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
     * of that pixel in the windowed layout (rfdetr-seg-model.md 3.6) */
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
 * ref (nimg*nq, 4). order (nimg*nq ints, device) receives the selected tokens. */
int rfs_select_supported(int N);
void rfs_two_stage_select_cuda(float *ref, int *order, const float *enc_cls, int K,
                               const float *enc_d, const float *refpoint, int G, int nq,
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
