/* cuda.cuh - the CUDA backend's state, private to src/cuda.
 *
 *   cuda_weights  the model's weights on one device in one precision: a per-device form
 *                 of the model (model.h: rfs_model_form_acquire), uploaded once and shared
 *                 by every session and lane on that device (weights.cu);
 *   cuda_state    one lane: activation buffers for max_batch images, streams, cuBLASLt
 *                 workspaces, one CUDA graph per batch size, the frame pipeline's buffers
 *                 (net.cu, pipeline.cu);
 *   rfs_cuda_net  a session's backend state (model/backend.h): its weights and up to two
 *                 lanes. Lane 0 runs rfs_forward and synchronous predictions; the streaming
 *                 API keeps a second batch in flight on lane 1, created on first use, so
 *                 the two batches' graphs can run concurrently on the device. */
#ifndef RFS_CUDA_CUDA_CUH
#define RFS_CUDA_CUDA_CUH

#include "cuda/common.cuh"

extern "C" {
#include "model/backend.h"
}

enum { MAX_STAGES = RFS_PROFILE_MAX_STAGES };

typedef struct cuda_weights {
    int device;
    rfs_dtype T;         /* type of the matrix-product operands */
    size_t tsz;
    /* fp32 copy of the model arena (layer scales folded), and its T copy (NULL for fp32) */
    float *warena;
    void *harena;
    size_t wlen;
    rfs_weights w;       /* device fp32 pointers, bound through the model's table */
    /* decoder weights restacked for fused products (fp32, and T copy in xharena): per
     * layer [W_q; W_k; 0 (C rows)] of the self-attention in-projection, the
     * sampling_offsets + attention_weights rows, the value_proj rows and biases */
    float *xarena;
    void *xharena;
    size_t xlen;
    float *qk_stack, *off_stack, *val_stack, *val_bstack;
    /* mask head: spatial_features_proj folded into the query side (see forward.cu) */
    float *sp_aug, *sp_aug_b; /* (C+8, C): [W_sp^T; b_sp; 0], (C+8): [0, seg_bias, 0] */
} cuda_weights;

typedef struct cuda_state {
    int device, max_batch;
    rfs_dtype T;
    size_t tsz;
    const cuda_weights *cw;
    rfs_cuda_ctx *ctx, *ctx2; /* main stream, seg-head stream (separate workspaces) */
    cudaStream_t st, st2;
    cudaEvent_t ev_fork, ev_join;
    cudaEvent_t ev_stage[MAX_STAGES + 1];
    /* activations: one allocation */
    void *mem;
    float *input, *x, *pe, *pj_y, *enc_cls, *enc_d, *ref, *t, *offaw, *qp_off, *hs, *deltas;
    float *logits, *boxes, *masks;
    int *order;
    int *force;            /* forced selection per query (-1: by score; tests, rfs_cuda_force_order) */
    void *patches, *xn, *qkv, *att, *mlp, *taps, *pj_cat, *col, *pj_tmp, *p4, *omem, *enc;
    void *h2a, *h2b, *sine, *tmp, *qpos, *qp_qk, *t_h, *tq, *sa_qkv, *sa_o, *value, *hs_h;
    void *f0, *fa, *fb, *fl, *qf, *qf2;
    int any_invalid; /* some proposals fall outside (0.01, 0.99): G >= 50 */
    cudaGraphExec_t *graphs; /* [max_batch + 1], captured on first use */
    int eager;               /* RFS_CUDA_EAGER=1: no graphs (debugging) */
    struct pipe_lane *pipe;  /* the frame pipeline's state of this lane (pipeline.cu) */
} cuda_state;

typedef struct rfs_cuda_net {
    rfs_net base;
    const cuda_weights *cw;
    cuda_state *lane[2];
    void *pinned[4];         /* the base's host buffers, page-locked while the session lives */
    int npinned;
    const rfs_raw *inject;   /* tests: network outputs used in place of the network */
    int last_lane;           /* lane of the last device batch (fetch_last) */
} rfs_cuda_net;

/* Enqueues the whole network for B images of lane cs (input in cs->input, outputs in
 * cs->logits, cs->boxes, cs->masks) on cs->st (forward.cu). profile: serial, with stage
 * events (cs->ev_stage) before each stage and at the end. */
void rfs_cuda_enqueue_net(const rfs_model *m, cuda_state *cs, int B, int profile);
extern const char *const rfs_cuda_stage_names[];
extern const int rfs_cuda_nstages;
/* The fp32 or T copy of a weight given by its fp32 device pointer (weights.cu). */
const void *rfs_cuda_wt(const cuda_weights *cw, const float *p);
/* The weight form for (model, device, precision), acquired / released (weights.cu). */
const cuda_weights *rfs_cuda_weights_acquire(const rfs_model *m, int device, rfs_dtype T);
void rfs_cuda_weights_release(const rfs_model *m, const cuda_weights *cw);

/* Lane i (0 or 1) of a session; lane 1 is created on first use. NULL with the error set
 * when it cannot be created (net.cu). */
cuda_state *rfs_cuda_lane(rfs_cuda_net *n, int i);
/* Runs the network for B images already in cs->input (graph replay; net.cu). */
void rfs_cuda_launch_net(const rfs_model *m, cuda_state *cs, int B);
/* The frame pipeline (pipeline.cu): the backend ops, and the release of a lane's state
 * (its stream must be idle). */
int rfs_cuda_pipe_accepts(const rfs_net *n, const rfs_image *frames, int count,
                          const rfs_predict_opts *o);
rfs_status rfs_cuda_pipe_submit(rfs_net *n, int lane, const rfs_image *frames, int count,
                                const rfs_predict_opts *o);
rfs_status rfs_cuda_pipe_collect(rfs_net *n, int lane, rfs_result *results,
                                 rfs_stage_times *times);
rfs_status rfs_cuda_pipe_profile(rfs_net *n, const rfs_image *frames, int count,
                                 const rfs_predict_opts *o, int iters, rfs_profile *out);
void rfs_cuda_pipe_free(cuda_state *cs);

static inline rfs_cuda_net *cuda_net(rfs_net *n) { return (rfs_cuda_net *)n; }
static inline const rfs_cuda_net *cuda_net_c(const rfs_net *n) { return (const rfs_cuda_net *)n; }

#endif
