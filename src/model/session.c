/* session.c - session lifetime: one activation arena sized from the config and max_batch,
 * allocated once; the raw forward entry point. */
#include "model/session.h"

#include "cpu/ops.h"
#include "pipeline/predict.h"
#include "util/err.h"

#include <omp.h>
#include <string.h>

#if RFS_HAVE_CUDA
#include "cuda/backend.h"
#endif

rfs_session_opts rfs_session_defaults(void) {
    rfs_session_opts o = {.backend = RFS_BACKEND_CPU, .precision = RFS_FP32, .max_batch = 1};
    return o;
}

const rfs_model *rfs_session_model(const rfs_session *s) { return s->m; }

void rfs_session_set_trace(rfs_session *s, rfs_trace_fn fn, void *user) {
    s->trace = fn;
    s->trace_user = user;
}

static size_t max3(size_t a, size_t b, size_t c) {
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* Lays out the CPU activations in one arena: a first pass with base NULL counts. */
static size_t layout_acts(rfs_cpu_acts *a, const rfs_config *c, int threads, float *base) {
    const size_t D = c->vit_dim, M = c->vit_mlp, C = c->hidden_dim, hc = C / 2;
    const size_t G = c->grid, N = G * G, nw = c->num_windows, gw = G / nw;
    const size_t Tw = 1 + gw * gw, NT = nw * nw * Tw, ps = c->patch_size, K = c->num_classes;
    const size_t nq = c->num_queries, HP = (size_t)c->ca_heads * c->dec_points;
    const size_t F = c->dim_feedforward, S = c->seg_mlp, H4 = c->mask_side, P = H4 * H4;
    const size_t T_att = NT > nq ? NT : nq;
    size_t off = 0;
#define TAKE(field, n)                                                                     \
    do {                                                                                   \
        a->field = base ? base + off : NULL;                                               \
        off += ((size_t)(n) + 15) & ~(size_t)15;                                           \
    } while (0)
    TAKE(patches, N * 3 * ps * ps);
    TAKE(x, NT * D);
    TAKE(xn, (NT > N ? NT : N) * D);
    TAKE(qkv, NT * 3 * D);
    TAKE(att, NT * D);
    TAKE(mlp, NT * (M > D ? M : D));
    TAKE(taps, N * c->num_taps * D);
    TAKE(pj_cat, N * (2 + c->proj_blocks) * hc);
    TAKE(pj_col, N * 9 * hc);
    TAKE(pj_tmp, N * hc);
    TAKE(p4, N * C);
    TAKE(omem, N * C);
    TAKE(enc, N * C);
    TAKE(enc_cls, N * K);
    TAKE(enc_h, N * 2 * C);
    TAKE(enc_box, N * 4);
    TAKE(enc_boxes, N * 4);
    TAKE(score, N);
    a->order = base ? (int *)(base + off) : NULL;
    off += (N + 15) & ~(size_t)15; /* sizeof(int) == sizeof(float) */
    TAKE(ref, nq * 4);
    TAKE(sine, nq * 2 * C);
    TAKE(qpos, nq * C);
    TAKE(t, nq * C);
    TAKE(tq, nq * C);
    TAKE(sa_qk, nq * 2 * C);
    TAKE(sa_v, nq * C);
    TAKE(sa_o, nq * C);
    TAKE(tmp, nq * C);
    TAKE(value, N * C);
    TAKE(offaw, nq * 3 * HP);
    TAKE(ffn, nq * max3(F, S, C));
    TAKE(hs, nq * C);
    TAKE(box_h, nq * 2 * C);
    TAKE(f0, P * C);
    TAKE(f1, P * C);
    TAKE(qf, nq * C);
    TAKE(seg_blk, (P < RFS_SEG_ROWS ? P : RFS_SEG_ROWS) * C);
    TAKE(deltas, nq * 4);
    TAKE(att_scratch, rfs_attention_scratch((int)T_att, threads));
#undef TAKE
    return off;
}

void rfs_session_free(rfs_session *s) {
    if (!s) return;
#if RFS_HAVE_CUDA
    rfs_cuda_session_free(s);
#endif
    free(s->arena);
    free(s->out_logits);
    free(s->out_masks);
    free(s->out_boxes);
    free(s->input);
    rfs_pred_state_free(s->pred);
    free(s);
}

rfs_status rfs_session_create(rfs_session **out, const rfs_model *m, const rfs_session_opts *o) {
    *out = NULL;
    rfs_session_opts opts = o ? *o : rfs_session_defaults();
    if (opts.max_batch < 1 || opts.max_batch > 4096)
        return RFS_FAIL(RFS_ERR_ARG, "max_batch %d out of range [1, 4096]", opts.max_batch);
    if (opts.threads < 0) return RFS_FAIL(RFS_ERR_ARG, "threads %d < 0", opts.threads);
    if (opts.backend == RFS_BACKEND_CPU && opts.precision != RFS_FP32)
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "the CPU backend runs fp32 only");
#if !RFS_HAVE_CUDA
    if (opts.backend == RFS_BACKEND_CUDA)
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "this build has no CUDA backend (build with `make cuda`)");
#endif
    rfs_session *s = rfs_calloc(1, sizeof *s);
    if (!s) return RFS_ERR_NOMEM;
    s->m = m;
    s->o = opts;
    if (opts.threads > 0) omp_set_num_threads(opts.threads);
    s->threads = omp_get_max_threads();
    const rfs_config *c = &m->cfg;
    const size_t B = (size_t)opts.max_batch, nq = c->num_queries;
    const size_t P = (size_t)c->mask_side * c->mask_side, R = c->resolution;
    s->out_logits = rfs_aligned_alloc(sizeof(float) * B * nq * c->num_classes);
    s->out_boxes = rfs_aligned_alloc(sizeof(float) * B * nq * 4);
    s->out_masks = rfs_aligned_alloc(sizeof(float) * B * nq * P);
    s->input = rfs_aligned_alloc(sizeof(float) * B * 3 * R * R);
    if (!s->out_logits || !s->out_boxes || !s->out_masks || !s->input) goto nomem;
    if (opts.backend == RFS_BACKEND_CPU) {
        size_t n = layout_acts(&s->a, c, s->threads, NULL);
        s->arena = rfs_aligned_alloc(sizeof(float) * n);
        if (!s->arena) goto nomem;
        layout_acts(&s->a, c, s->threads, s->arena);
    }
#if RFS_HAVE_CUDA
    else {
        rfs_status st = rfs_cuda_session_init(s);
        if (st != RFS_OK) {
            rfs_session_free(s);
            return st;
        }
    }
#endif
    *out = s;
    return RFS_OK;
nomem:
    rfs_session_free(s);
    return RFS_FAIL(RFS_ERR_NOMEM, "out of memory creating a session for %s (batch %d)",
                    c->size, opts.max_batch);
}

rfs_status rfs_forward(rfs_session *s, const float *input, int batch, rfs_raw *out) {
    if (batch < 1 || batch > s->o.max_batch)
        return RFS_FAIL(RFS_ERR_ARG, "batch %d out of range [1, %d]", batch, s->o.max_batch);
    const rfs_config *c = &s->m->cfg;
    const size_t img = (size_t)3 * c->resolution * c->resolution;
#if RFS_HAVE_CUDA
    if (s->o.backend == RFS_BACKEND_CUDA) {
        rfs_status st = rfs_cuda_forward(s, input, batch);
        if (st != RFS_OK) return st;
    } else
#endif
        for (int b = 0; b < batch; b++) rfs_forward_cpu(s, input + b * img, b);
    if (out) {
        out->batch = batch;
        out->logits = s->out_logits;
        out->boxes = s->out_boxes;
        out->masks = s->out_masks;
    }
    return RFS_OK;
}
