/* backend.h - the interface between the pipeline and a compute backend.
 *
 * A backend runs the network of one model for one session. Each backend keeps its own
 * state in a struct that begins with an rfs_net (the part every backend shares: model,
 * options, host input and output buffers, trace hook) and fills an rfs_backend_ops table:
 *
 *     src/cpu/net.c    rfs_backend_cpu    the reference forward pass (src/cpu/forward.c)
 *     src/cuda/net.cu  rfs_backend_cuda   the same stages on the GPU (src/cuda/forward.cu),
 *                                         plus the whole frame on the device (pipeline.cu)
 *
 * The pipeline (src/pipeline/session.c, predict.c) talks to backends only through this
 * table; it never includes a backend's header. A backend reads the model (immutable) and
 * its per-device weight form (model.h: rfs_model_acquire), and writes only its own state.
 */
#ifndef RFS_MODEL_BACKEND_H
#define RFS_MODEL_BACKEND_H

#include "model/model.h"

typedef struct rfs_net rfs_net;

/* Per-stage network times for rfs_session_profile (milliseconds). */
enum { RFS_PROFILE_MAX_STAGES = 16 };

typedef struct rfs_backend_ops {
    const char *name; /* "cpu", "cuda" */
    int (*device_count)(void);
    rfs_status (*device_memory)(int device, size_t *free_bytes, size_t *total_bytes);
    /* Creates the backend state for m with options o (validated by the caller: batch,
     * precision names); fills the rfs_net part with rfs_net_init. */
    rfs_status (*create)(rfs_net **out, const rfs_model *m, const rfs_session_opts *o);
    void (*destroy)(rfs_net *n);
    /* The network on `batch` preprocessed images at input ((batch, 3, R, R) host floats,
     * usually n->input) -> n->logits, n->boxes, n->masks. */
    rfs_status (*forward)(rfs_net *n, const float *input, int batch);
    /* Whole-frame pipeline on the backend's device (NULL: frames are pre- and post-
     * processed on the host around forward). accepts says whether this batch can take
     * it; submit starts it on lane (0 or 1, idle), copying the frames; collect waits for
     * the lane and fills results[0..n-1], adding to *times. */
    int (*accepts)(const rfs_net *n, const rfs_image *frames, int count, const rfs_predict_opts *o);
    rfs_status (*submit)(rfs_net *n, int lane, const rfs_image *frames, int count,
                         const rfs_predict_opts *o);
    rfs_status (*collect)(rfs_net *n, int lane, rfs_result *results, rfs_stage_times *times);
    /* Times the network alone at `batch` on input (NULL: n->input / the device's copy of
     * the last input), iters runs (median), and per stage. */
    rfs_status (*profile)(rfs_net *n, const float *input, int batch, int iters, rfs_profile *out);
    /* Times the whole-frame device pipeline on these frames per stage (NULL: none). */
    rfs_status (*pipe_profile)(rfs_net *n, const rfs_image *frames, int count,
                               const rfs_predict_opts *o, int iters, rfs_profile *out);
    /* The network input of the last forward or device batch (image 0 of lane 0) and
     * its outputs, copied into n->input / n->logits / n->boxes / n->masks (row 0). */
    rfs_status (*fetch_last)(rfs_net *n);
    /* Tests only (rfs_predict_raw): later device batches take these network outputs
     * (host arrays of max_batch images) instead of running the network; NULL restores it. */
    void (*inject)(rfs_net *n, const rfs_raw *raw);
} rfs_backend_ops;

struct rfs_net {
    const rfs_backend_ops *ops;
    const rfs_model *m;
    rfs_session_opts o;
    rfs_trace_fn trace; /* reference backend only: named intermediates */
    void *trace_user;
    /* host buffers for o.max_batch images: the network input (B, 3, R, R) and its
     * outputs: logits (B, nq, K), boxes (B, nq, 4) cxcywh, mask logits (B, nq, H4*H4) */
    float *input, *logits, *boxes, *masks;
};

/* Fills n's shared part and allocates its host buffers (64-byte aligned). */
rfs_status rfs_net_init(rfs_net *n, const rfs_backend_ops *ops, const rfs_model *m,
                        const rfs_session_opts *o);
/* Releases the host buffers of n (not n itself). */
void rfs_net_release(rfs_net *n);

extern const rfs_backend_ops rfs_backend_cpu;
#if RFS_HAVE_CUDA
extern const rfs_backend_ops rfs_backend_cuda;
#endif

#endif
