/* session.c - session lifetime: picks the backend, creates its network state, and the
 * raw forward entry point. */
#include "pipeline/session.h"

#include "io/tensorfile.h"
#include "lab.h"
#include "util/err.h"

#include <string.h>

rfs_session_opts rfs_session_defaults(void) {
    rfs_session_opts o = {.backend = RFS_BACKEND_CPU, .precision = RFS_FP32, .max_batch = 1};
    return o;
}

const rfs_model *rfs_session_model(const rfs_session *s) { return s->m; }

void rfs_session_set_trace(rfs_session *s, rfs_trace_fn fn, void *user) {
    s->net->trace = fn;
    s->net->trace_user = user;
}

static const rfs_backend_ops *backend_ops(rfs_backend b) {
    switch (b) {
    case RFS_BACKEND_CPU: return &rfs_backend_cpu;
    case RFS_BACKEND_CUDA:
#if RFS_HAVE_CUDA
        return &rfs_backend_cuda;
#else
        return NULL;
#endif
    }
    return NULL;
}

void rfs_session_free(rfs_session *s) {
    if (!s) return;
    rfs_pred_state_free(s->pred);
    if (s->net) s->net->ops->destroy(s->net);
    free(s);
}

rfs_status rfs_session_create(rfs_session **out, const rfs_model *m, const rfs_session_opts *o) {
    *out = NULL;
    rfs_session_opts opts = o ? *o : rfs_session_defaults();
    if (opts.max_batch < 1 || opts.max_batch > 4096)
        return RFS_FAIL(RFS_ERR_ARG, "max_batch %d out of range [1, 4096]", opts.max_batch);
    if (opts.threads < 0 || opts.threads > 1024)
        return RFS_FAIL(RFS_ERR_ARG, "threads %d out of range [0, 1024]", opts.threads);
    if (opts.precision != RFS_FP32 && opts.precision != RFS_FP16 && opts.precision != RFS_BF16)
        return RFS_FAIL(RFS_ERR_ARG, "unknown precision %d", (int)opts.precision);
    if (opts.device < 0 || opts.device >= RFS_MAX_DEVICES)
        return RFS_FAIL(RFS_ERR_ARG, "device %d out of range [0, %d)", opts.device, RFS_MAX_DEVICES);
    if (opts.backend != RFS_BACKEND_CPU && opts.backend != RFS_BACKEND_CUDA)
        return RFS_FAIL(RFS_ERR_ARG, "unknown backend %d", (int)opts.backend);
    const rfs_backend_ops *ops = backend_ops(opts.backend);
    if (!ops)
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "this build has no CUDA backend (build with `make cuda`)");
    rfs_session *s = rfs_calloc(1, sizeof *s);
    if (!s) return RFS_ERR_NOMEM;
    s->m = m;
    s->o = opts;
    rfs_status st = ops->create(&s->net, m, &opts);
    if (st != RFS_OK) {
        free(s);
        return st;
    }
    *out = s;
    return RFS_OK;
}

rfs_status rfs_forward(rfs_session *s, const float *input, int batch, rfs_raw *out) {
    if (batch < 1 || batch > s->o.max_batch)
        return RFS_FAIL(RFS_ERR_ARG, "batch %d out of range [1, %d]", batch, s->o.max_batch);
    rfs_status st = s->net->ops->forward(s->net, input, batch);
    if (st != RFS_OK) return st;
    if (out) {
        out->batch = batch;
        out->logits = s->net->logits;
        out->boxes = s->net->boxes;
        out->masks = s->net->masks;
    }
    return RFS_OK;
}

rfs_status rfs_session_profile(rfs_session *s, const float *input, int batch, int iters,
                               rfs_profile *out) {
    if (batch < 1 || batch > s->o.max_batch)
        return RFS_FAIL(RFS_ERR_ARG, "batch %d out of range [1, %d]", batch, s->o.max_batch);
    if (iters < 1 || iters > 100000) return RFS_FAIL(RFS_ERR_ARG, "iters %d out of range", iters);
    return s->net->ops->profile(s->net, input, batch, iters, out);
}

rfs_status rfs_predict_profile(rfs_session *s, const rfs_image *frames, int n,
                               const rfs_predict_opts *o, int iters, rfs_profile *out) {
    const rfs_backend_ops *ops = s->net->ops;
    if (n < 1 || n > s->o.max_batch)
        return RFS_FAIL(RFS_ERR_ARG, "%d frames for a session of batch %d", n, s->o.max_batch);
    if (iters < 1 || iters > 100000) return RFS_FAIL(RFS_ERR_ARG, "iters %d out of range", iters);
    if (!ops->pipe_profile || !ops->accepts(s->net, frames, n, o))
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "this batch does not run as a whole on the %s device",
                        ops->name);
    return ops->pipe_profile(s->net, frames, n, o, iters, out);
}

rfs_status rfs_session_save_raw(rfs_session *s, const char *path) {
    const rfs_config *c = &s->m->cfg;
    rfs_net *n = s->net;
    rfs_status st = n->ops->fetch_last(n);
    if (st != RFS_OK) return st;
    const int64_t nq = c->num_queries, K = c->num_classes, R = c->resolution, H4 = c->mask_side;
    rfs_tensor_out t[4] = {
        {"input", RFS_DT_F32, 4, {1, 3, R, R}, n->input},
        {"pred_logits", RFS_DT_F32, 3, {1, nq, K}, n->logits},
        {"pred_boxes", RFS_DT_F32, 3, {1, nq, 4}, n->boxes},
        {"pred_masks", RFS_DT_F32, 4, {1, nq, H4, H4}, n->masks},
    };
    const char *meta[] = {"model", c->size, "producer", "rfseg " RFSEG_VERSION};
    return rfs_safetensors_write(path, t, 4, meta, 2);
}

struct rfs_net *rfs_session_net(rfs_session *s) { return s->net; }
