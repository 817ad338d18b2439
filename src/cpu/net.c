/* net.c - the CPU backend (model/backend.h): one activation arena per session, sized once
 * from the config; the forward pass of a batch runs image by image (forward.c) on the
 * session's thread count, or, for sessions of max_batch > 1 with 8 threads or more, in
 * groups of 4 threads side by side (one image each at a time): measured on a 16-core Xeon,
 * one seg-nano image takes 45.6 ms on 16 threads but 100.5 ms on 4, so four groups of four
 * finish four images in the time 16 threads take for two. */
#include "cpu/cpu.h"

#include "cpu/attention.h"
#include "cpu/ops.h"
#include "util/err.h"

#include <omp.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

static size_t max3(size_t a, size_t b, size_t c) {
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* The largest K of any product (per-thread GEMM scratch). */
static int max_k(const rfs_config *c) {
    int k[] = {c->vit_mlp, c->vit_dim, c->num_taps * c->vit_dim, 9 * (c->hidden_dim / 2),
               (2 + c->proj_blocks) * (c->hidden_dim / 2), c->dim_feedforward, c->seg_mlp,
               2 * c->hidden_dim, 3 * c->patch_size * c->patch_size, c->hidden_dim + 1};
    int m = 0;
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) m = k[i] > m ? k[i] : m;
    return m;
}

/* Lays out the activations in one arena: a first pass with base NULL counts. */
static size_t layout_acts(rfs_cpu_acts *a, const rfs_config *c, int threads, size_t per,
                          float *base) {
    const size_t D = c->vit_dim, M = c->vit_mlp, C = c->hidden_dim, hc = C / 2;
    const size_t G = c->grid, N = G * G, nw = c->num_windows, gw = G / nw;
    const size_t Tw = 1 + gw * gw, NT = nw * nw * Tw, K = c->num_classes;
    const size_t nq = c->num_queries, HP = (size_t)c->ca_heads * c->dec_points;
    const size_t F = c->dim_feedforward, S = c->seg_mlp, H4 = c->mask_side, P = H4 * H4;
    const int vh = c->vit_heads, vdh = c->vit_dim / c->vit_heads;
    size_t shared = rfs_attention_shared((int)(nw * nw), (int)Tw, vh, vdh);
    size_t sg = rfs_attention_shared(1, (int)NT, vh, vdh);
    size_t sd = rfs_attention_shared(1, (int)nq, c->sa_heads, c->hidden_dim / c->sa_heads);
    shared = shared > sg ? shared : sg;
    shared = shared > sd ? shared : sd;
    size_t off = 0;
#define TAKE(field, n)                                                                     \
    do {                                                                                   \
        a->field = base ? base + off : NULL;                                               \
        off += ((size_t)(n) + 15) & ~(size_t)15;                                           \
    } while (0)
    TAKE(x, NT * D);
    TAKE(xn, (NT > N ? NT : N) * D);
    TAKE(qkv, NT * 3 * D);
    TAKE(att, NT * D);
    TAKE(mlp, NT * M);
    TAKE(taps, N * c->num_taps * D);
    TAKE(pj_cat, N * (2 + c->proj_blocks) * hc);
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
    TAKE(qx, nq * (C + 1));
    TAKE(fpk, rfs_act_packed_floats((int)P, (int)C + 1) + (P + RFS_GEMM_NR) / RFS_GEMM_NR * RFS_GEMM_NR);
    TAKE(deltas, nq * 4);
    TAKE(att_shared, shared);
    TAKE(scratch, per * (size_t)threads);
    /* the largest A: the seg head's pixels, the ViT's tokens or the projector's im2col */
    size_t as = rfs_gemm_shared((int)P, (int)C), at = rfs_gemm_shared((int)NT, max_k(c));
    TAKE(ashared, as > at ? as : at);
#undef TAKE
    return off;
}

/* one thread's scratch: the largest of the GEMM's and the attention's */
static size_t scratch_per(const rfs_config *c) {
    const size_t nw = c->num_windows, gw = c->grid / nw, NT = nw * nw * (1 + gw * gw);
    size_t g = rfs_gemm_scratch(max_k(c));
    size_t av = rfs_attention_thread_scratch((int)NT, c->vit_dim / c->vit_heads);
    size_t ad = rfs_attention_thread_scratch(c->num_queries, c->hidden_dim / c->sa_heads);
    size_t m = g > av ? g : av;
    m = m > ad ? m : ad;
    return (m + 15) & ~(size_t)15;
}

enum { GROUP_THREADS = 4, GROUP_MIN_THREADS = 8, MAX_GROUPS = 64 };

/* The side-by-side groups of a session: activations of their own, the rest shared. */
static void groups_free(rfs_cpu_net *s) {
    for (int g = 1; s->group && g < s->groups; g++)
        if (s->group[g]) free(s->group[g]->arena), free(s->group[g]);
    free(s->group);
    s->group = NULL;
    s->groups = 1;
}

static rfs_status groups_make(rfs_cpu_net *s, int max_batch) {
    s->groups = 1;
    s->group_threads = s->threads;
    int g = s->threads >= GROUP_MIN_THREADS ? s->threads / GROUP_THREADS : 1;
    if (g > max_batch) g = max_batch;
    if (g > MAX_GROUPS) g = MAX_GROUPS;
    if (g <= 1) return RFS_OK;
    const rfs_config *c = &s->base.m->cfg;
    if (!(s->group = rfs_calloc((size_t)g, sizeof *s->group))) return RFS_ERR_NOMEM;
    s->group[0] = s;
    s->groups = g;
    s->group_threads = s->threads / g;
    for (int i = 1; i < g; i++) {
        rfs_cpu_net *t = rfs_calloc(1, sizeof *t);
        if (!t) return RFS_ERR_NOMEM;
        *t = *s; /* the model, its packed weights, ISA and options; never trace or profile */
        t->groups = 0, t->group = NULL, t->prof = NULL, t->force_order = NULL;
        t->base.trace = NULL, t->base.trace_user = NULL;
        t->threads = s->group_threads;
        s->group[i] = t;
        size_t n = layout_acts(&t->a, c, t->threads, t->scratch_per, NULL);
        if (!(t->arena = rfs_aligned_alloc(sizeof(float) * n))) return RFS_ERR_NOMEM;
        layout_acts(&t->a, c, t->threads, t->scratch_per, t->arena);
    }
    return RFS_OK;
}

static void cpu_destroy(rfs_net *n) {
    rfs_cpu_net *s = (rfs_cpu_net *)n;
    if (!s) return;
    groups_free(s);
    if (s->w) rfs_model_form_release(s->base.m, RFS_BACKEND_CPU, 0, s->form_kind);
    free(s->arena);
    rfs_net_release(&s->base);
    free(s);
}

static rfs_status cpu_create(rfs_net **out, const rfs_model *m, const rfs_session_opts *o) {
    *out = NULL;
    const rfs_cpu_isa isa = rfs_cpu_isa_active();
    if (o->precision == RFS_FP16)
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "the CPU backend runs fp32 or bf16, not fp16");
    if (o->precision == RFS_BF16 && isa < RFS_ISA_AVX512BF16)
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "bf16 on the CPU needs AVX512_BF16 or AMX (this "
                        "CPU path: %s)", rfs_cpu_isa_name(isa));
    rfs_cpu_net *s = rfs_calloc(1, sizeof *s);
    if (!s) return RFS_ERR_NOMEM;
    rfs_status st = rfs_net_init(&s->base, &rfs_backend_cpu, m, o);
    if (st != RFS_OK) {
        free(s);
        return st;
    }
    /* fixed for the session's life: the scratch below is sized for this team */
    s->threads = o->threads > 0 ? o->threads : omp_get_max_threads();
    s->isa = isa;
    s->form_kind = o->precision == RFS_BF16 ? 1 : 0;
    s->w = rfs_model_form_acquire(m, RFS_BACKEND_CPU, 0, s->form_kind, rfs_cpu_form_make);
    if (!s->w) {
        st = rfs_fail_context(RFS_ERR_NOMEM, "CPU session");
        cpu_destroy(&s->base);
        return st;
    }
    s->scratch_per = scratch_per(&m->cfg);
    size_t n = layout_acts(&s->a, &m->cfg, s->threads, s->scratch_per, NULL);
    s->arena = rfs_aligned_alloc(sizeof(float) * n);
    if (!s->arena) {
        cpu_destroy(&s->base);
        return RFS_FAIL(RFS_ERR_NOMEM, "out of memory for the activations of %s", m->cfg.size);
    }
    layout_acts(&s->a, &m->cfg, s->threads, s->scratch_per, s->arena);
    if ((st = groups_make(s, o->max_batch)) != RFS_OK) {
        cpu_destroy(&s->base);
        return RFS_FAIL(st, "out of memory for the activations of %s", m->cfg.size);
    }
    *out = &s->base;
    return RFS_OK;
}

/* Images first, first + step, ... of a batch on one group (or the whole session). */
typedef struct {
    rfs_cpu_net *net;
    const rfs_net *out; /* the session: its input and output arrays */
    const float *input;
    int first, step, batch;
} group_job;

static void *group_run(void *p) {
    const group_job *j = p;
    const rfs_config *c = &j->out->m->cfg;
    const size_t img = (size_t)3 * c->resolution * c->resolution, nq = c->num_queries;
    const size_t P = (size_t)c->mask_side * c->mask_side;
    /* The team size also governs any region a callee starts without naming it: set on
     * this thread only (OpenMP's nthreads ICV is per thread), restored after. */
    const int prev = omp_get_max_threads();
    omp_set_num_threads(j->net->threads);
    for (int b = j->first; b < j->batch; b += j->step)
        rfs_cpu_forward_image(j->net, j->input + b * img, j->out->logits + b * nq * c->num_classes,
                              j->out->boxes + b * nq * 4, j->out->masks + b * nq * P);
    omp_set_num_threads(prev);
    return NULL;
}

static rfs_status cpu_forward(rfs_net *n, const float *input, int batch) {
    rfs_cpu_net *s = (rfs_cpu_net *)n;
    int g = s->groups < batch ? s->groups : batch;
    if (s->base.trace || s->prof || s->force_order) g = 1; /* diagnostics: one image at a time */
    if (g <= 1) {
        group_job j = {s, n, input, 0, 1, batch};
        group_run(&j);
        return RFS_OK;
    }
    /* groups side by side: group 0 on this thread with the group's team size */
    const int all = s->threads;
    group_job jobs[MAX_GROUPS];
    pthread_t tid[MAX_GROUPS];
    int started = 0;
    s->threads = s->group_threads;
    for (int i = 0; i < g; i++) jobs[i] = (group_job){s->group[i], n, input, i, g, batch};
    for (int i = 1; i < g; i++) {
        if (pthread_create(&tid[i], NULL, group_run, &jobs[i]) != 0) break;
        started = i;
    }
    /* a group whose thread could not start runs here after group 0 */
    group_run(&jobs[0]);
    for (int i = started + 1; i < g; i++) group_run(&jobs[i]);
    for (int i = 1; i <= started; i++) pthread_join(tid[i], NULL);
    s->threads = all;
    return RFS_OK;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static rfs_status cpu_profile(rfs_net *n, const float *input, int batch, int iters,
                              rfs_profile *out) {
    rfs_cpu_net *s = (rfs_cpu_net *)n;
    if (!input) input = n->input;
    memset(out, 0, sizeof *out);
    double *t = rfs_malloc(sizeof(double) * (size_t)iters);
    if (!t) return RFS_ERR_NOMEM;
    double stage[RFS_PROFILE_MAX_STAGES] = {0};
    s->prof = stage;
    for (int i = 0; i < iters; i++) {
        double t0 = now_ms();
        cpu_forward(n, input, batch);
        t[i] = now_ms() - t0;
    }
    s->prof = NULL;
    qsort(t, (size_t)iters, sizeof *t, cmp_double);
    out->network_ms = t[iters / 2];
    out->network_min_ms = t[0];
    free(t);
    static const char *names[] = {"backbone", "projector", "two-stage", "decoder", "heads",
                                  "segmentation head"};
    out->nstages = (int)(sizeof names / sizeof *names);
    for (int k = 0; k < out->nstages; k++) {
        out->stage[k] = names[k];
        out->stage_ms[k] = stage[k] / iters;
    }
    out->threads = s->threads;
    /* the kernels' path (the fp32 form never uses the bf16 units), then what the CPU has */
    const rfs_cpu_isa path = rfs_gemm_isa(s->form_kind ? RFS_WF_BF16 : RFS_WF_F32, s->isa);
    snprintf(out->device, sizeof out->device, "cpu (%s kernels, %s; cpu path %s)",
             rfs_cpu_isa_name(path), s->form_kind ? "bf16" : "fp32", rfs_cpu_isa_name(s->isa));
    return RFS_OK;
}

static rfs_status cpu_fetch_last(rfs_net *n) { return RFS_OK; /* already on the host */ }

static int cpu_device_count(void) { return 1; }

const rfs_backend_ops rfs_backend_cpu = {
    .name = "cpu",
    .device_count = cpu_device_count,
    .create = cpu_create,
    .destroy = cpu_destroy,
    .forward = cpu_forward,
    .profile = cpu_profile,
    .fetch_last = cpu_fetch_last,
};
