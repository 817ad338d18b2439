/* state.cuh - the CUDA session state shared by backend.cu (the network) and pipeline.cu
 * (frames in, results out). Private to src/cuda.
 *
 * Lanes. A session owns lane 0 (s->cuda). The streaming API keeps two batches in flight;
 * the second one runs on lane 1, a clone created on first use that shares the weights
 * (is_clone = 1) and owns its own activations, streams, cuBLASLt workspaces and graphs,
 * so the two batches' graphs can run concurrently on the device. */
#ifndef RFS_CUDA_STATE_CUH
#define RFS_CUDA_STATE_CUH

#include "cuda/common.cuh"

enum { MAX_STAGES = RFS_CUDA_MAX_STAGES };

typedef struct cuda_state {
    int device;
    rfs_dtype T; /* activation type of the matrix-product operands */
    size_t tsz;
    int max_batch;
    rfs_cuda_ctx *ctx, *ctx2; /* main stream, seg-head stream (separate workspaces) */
    cudaStream_t st, st2;
    cudaEvent_t ev_fork, ev_join;
    cudaEvent_t ev_stage[MAX_STAGES + 1];
    /* weights: fp32 copy (layer scales folded), and the T copy (NULL for fp32) */
    float *warena;
    void *harena;
    rfs_weights w;       /* device fp32 pointers */
    /* decoder weights restacked for fused products (fp32, and T copy in xharena):
     * per layer [W_q; W_k; 0 (C rows)] of the self-attention in-projection, the
     * sampling_offsets + attention_weights rows, the value_proj rows and biases */
    float *xarena;
    void *xharena;
    size_t xlen;
    float *qk_stack, *off_stack, *val_stack, *val_bstack;
    size_t wlen;
    /* mask head: spatial_features_proj folded into the query side (see enqueue) */
    float *sp_aug, *sp_aug_b; /* (C+8, C): [W_sp^T; b_sp; 0], (C+8): [0, seg_bias, 0] */
    /* activations: one allocation */
    void *mem;
    float *input, *x, *pe, *pj_y, *enc_cls, *enc_d, *ref, *t, *offaw, *qp_off, *hs, *deltas;
    float *logits, *boxes, *masks;
    int *order;
    void *patches, *xn, *qkv, *att, *mlp, *taps, *pj_cat, *col, *pj_tmp, *p4, *omem, *enc;
    void *h2a, *h2b, *sine, *tmp, *qpos, *qp_qk, *t_h, *tq, *sa_qkv, *sa_o, *value, *hs_h;
    void *f0, *fa, *fb, *fl, *qf, *qf2;
    int any_invalid; /* some proposals fall outside (0.01, 0.99): G >= 50 */
    cudaGraphExec_t *graphs; /* [max_batch + 1], captured on first use */
    int eager;               /* RFS_CUDA_EAGER=1: no graphs (debugging) */
    /* pinned host buffers of the session (registered here, unregistered at free) */
    void *pinned[4];
    int npinned;
    /* lanes (see top) and the frame pipeline's state of this lane (pipeline.cu) */
    int is_clone;
    struct cuda_state *lane1;
    struct pipe_lane *pipe;
} cuda_state;

/* Enqueues the whole network for B images (input in cs->input, outputs in cs->logits,
 * cs->boxes, cs->masks) on cs->st (backend.cu). profile: serial, with stage events. */
void rfs_cuda_enqueue_net(const rfs_session *s, cuda_state *cs, int B, int profile);
/* Lane i (0 or 1) of a CUDA session; lane 1 is created on first use. NULL with the error
 * set when it cannot be created. */
cuda_state *rfs_cuda_lane(rfs_session *s, int i);
/* Releases a lane's pipeline state (pipeline.cu); the lane's stream must be idle. */
void rfs_cuda_pipe_free(cuda_state *cs);

#endif
