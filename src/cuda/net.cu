/* net.cu - the CUDA backend (model/backend.h): a session's lanes (activation buffers sized
 * once for the model and max_batch, streams, cuBLASLt contexts, one CUDA graph per batch
 * size) over the model's weights on the device (weights.cu), the network entry points and
 * their timing. The forward pass itself is forward.cu; whole frames are pipeline.cu. */
#include "cuda/cuda.cuh"

extern "C" {
#include "lab.h"
}

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* rows (n, C+8) of type t: column C = 1, columns C+1..C+7 = 0 */
__global__ void ones_column_kernel(void *fl, rfs_dtype t, size_t n, int C) {
    const size_t r = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (r >= n) return;
    for (int j = 0; j < 8; j++) {
        const float v = j == 0 ? 1.f : 0.f;
        const size_t i = r * (C + 8) + C + j;
        if (t == RFS_DT_F32) ((float *)fl)[i] = v;
        else if (t == RFS_DT_F16) ((f16 *)fl)[i] = __float2half(v);
        else ((bf16 *)fl)[i] = __float2bfloat16(v);
    }
}

/* ---- activation layout ------------------------------------------------------------------ */

static size_t layout(cuda_state *cs, const rfs_config *c, int B, char *base) {
    const size_t D = c->vit_dim, M = c->vit_mlp, C = c->hidden_dim, hc = C / 2;
    const size_t G = c->grid, N = G * G, nw = c->num_windows, gw = G / nw, Tw = 1 + gw * gw;
    const size_t NT = nw * nw * Tw, ps = c->patch_size, K = c->num_classes, R = c->resolution;
    const size_t nq = c->num_queries, HP = (size_t)c->ca_heads * c->dec_points;
    const size_t F = c->dim_feedforward, S = c->seg_mlp, P = (size_t)c->mask_side * c->mask_side;
    const size_t nb = c->proj_blocks, taps = c->num_taps, ts = cs->tsz, L = c->dec_layers;
    size_t FS = F > S ? F : S;
    FS = FS > C ? FS : C;
    size_t off = 0;
#define TAKE(field, type, count, esz)                                                      \
    do {                                                                                   \
        cs->field = base ? (type)(base + off) : NULL;                                      \
        off += ((size_t)(count) * (esz) + 255) & ~(size_t)255;                             \
    } while (0)
#define F32(field, count) TAKE(field, float *, (size_t)B * (count), 4)
#define TB(field, count) TAKE(field, void *, (size_t)B * (count), ts)
    F32(input, 3 * R * R);
    F32(x, NT * D);
    F32(pe, N * D);
    F32(pj_y, N * (C > 2 * hc ? C : 2 * hc));
    F32(enc_cls, N * K);
    F32(enc_d, N * 4);
    F32(ref, nq * 4);
    F32(t, nq * C);
    F32(offaw, nq * 3 * HP);
    F32(qp_off, nq * L * 3 * HP);
    F32(hs, nq * C);
    F32(deltas, nq * 4);
    F32(logits, nq * K);
    F32(boxes, nq * 4);
    F32(masks, nq * P);
    TAKE(order, int *, (size_t)B * nq, 4);
    TAKE(force, int *, (size_t)B * nq, 4);
    TB(patches, N * 3 * ps * ps);
    TB(xn, NT * D);
    TB(qkv, NT * 3 * D);
    TB(att, NT * D);
    TB(mlp, NT * M);
    TB(taps, N * taps * D);
    TB(pj_cat, N * (2 + nb) * hc);
    TB(col, N * 9 * hc);
    TB(pj_tmp, N * hc);
    TB(p4, N * C);
    TB(omem, cs->any_invalid ? N * C : 1);
    TB(enc, N * C);
    TB(h2a, (N > nq ? N : nq) * C);
    TB(h2b, (N > nq ? N : nq) * C);
    TB(sine, nq * 2 * C);
    TB(tmp, nq * FS);
    TB(t_h, nq * C);
    TB(qpos, nq * C);
    TB(qp_qk, nq * L * 3 * C);
    TB(tq, nq * C);
    TB(sa_qkv, nq * 3 * C);
    TB(sa_o, nq * C);
    TB(value, N * L * C);
    TB(hs_h, nq * C);
    TB(f0, P * C);
    TB(fa, P * C);
    TB(fl, P * (C + 8));
    TB(qf2, nq * (C + 8));
    TB(fb, P * C);
    TB(qf, nq * C);
#undef TB
#undef F32
#undef TAKE
    return off;
}

/* ---- lanes -------------------------------------------------------------------------------- */

static void lane_free(cuda_state *cs) {
    if (!cs) return;
    cudaSetDevice(cs->device);
    if (cs->st) cudaStreamSynchronize(cs->st);
    if (cs->st2) cudaStreamSynchronize(cs->st2);
    rfs_cuda_pipe_free(cs);
    if (cs->graphs) {
        for (int b = 0; b <= cs->max_batch; b++)
            if (cs->graphs[b]) cudaGraphExecDestroy(cs->graphs[b]);
        free(cs->graphs);
    }
    for (int i = 0; i <= MAX_STAGES; i++)
        if (cs->ev_stage[i]) cudaEventDestroy(cs->ev_stage[i]);
    if (cs->ev_fork) cudaEventDestroy(cs->ev_fork);
    if (cs->ev_join) cudaEventDestroy(cs->ev_join);
    cudaFree(cs->mem);
    rfs_cuda_ctx_free(cs->ctx);
    rfs_cuda_ctx_free(cs->ctx2);
    if (cs->st) cudaStreamDestroy(cs->st);
    if (cs->st2) cudaStreamDestroy(cs->st2);
    cudaGetLastError();
    free(cs);
}

/* A lane: streams, events, cuBLASLt contexts, activations and the graph table. */
static rfs_status lane_create(cuda_state **out, const rfs_cuda_net *n) {
    const rfs_config *c = &n->base.m->cfg;
    *out = NULL;
    cuda_state *cs = (cuda_state *)calloc(1, sizeof *cs);
    if (!cs) return rfs_fail(RFS_ERR_NOMEM, "out of memory for a CUDA lane");
    cs->device = n->base.o.device;
    cs->max_batch = n->base.o.max_batch;
    cs->cw = n->cw;
    cs->T = n->cw->T;
    cs->tsz = n->cw->tsz;
    const char *eager = getenv("RFS_CUDA_EAGER");
    cs->eager = eager && *eager == '1';
    const int G = c->grid;
    for (int t = 0; t < G * G && !cs->any_invalid; t++) {
        float px = (float)((t % G) + 0.5f) / (float)G, py = (float)((t / G) + 0.5f) / (float)G;
        cs->any_invalid = !(px > 0.01f && px < 0.99f && py > 0.01f && py < 0.99f);
    }
    rfs_status st;
    CUDA_CHECK(cudaSetDevice(cs->device));
    if ((st = rfs_cuda_ctx_create(&cs->ctx)) != RFS_OK || (st = rfs_cuda_ctx_create(&cs->ctx2)) != RFS_OK) {
        lane_free(cs);
        return st;
    }
    CUDA_CHECK(cudaStreamCreateWithFlags(&cs->st, cudaStreamNonBlocking));
    CUDA_CHECK(cudaStreamCreateWithFlags(&cs->st2, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&cs->ev_fork, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&cs->ev_join, cudaEventDisableTiming));
    for (int i = 0; i <= MAX_STAGES; i++) CUDA_CHECK(cudaEventCreate(&cs->ev_stage[i]));
    const size_t bytes = layout(cs, c, cs->max_batch, NULL);
    if (cudaMalloc(&cs->mem, bytes) != cudaSuccess) {
        cudaGetLastError();
        cs->mem = NULL;
        lane_free(cs);
        return rfs_fail(RFS_ERR_NOMEM, "out of device memory: %s at batch %d needs %.1f MiB of "
                        "activations", c->size, n->base.o.max_batch, bytes / (1024.0 * 1024.0));
    }
    layout(cs, c, cs->max_batch, (char *)cs->mem);
    /* no forced selection (-1 everywhere) */
    CUDA_CHECK(cudaMemsetAsync(cs->force, 0xff, sizeof(int) * cs->max_batch * c->num_queries, cs->st));
    /* the ones column (and zero padding) of the mask product's spatial operand */
    const size_t P = (size_t)c->mask_side * c->mask_side;
    ones_column_kernel<<<nblocks(P * cs->max_batch, 256), 256, 0, cs->st>>>(cs->fl, cs->T,
        (size_t)cs->max_batch * P, c->hidden_dim);
    CUDA_LAUNCH_CHECK();
    cs->graphs = (cudaGraphExec_t *)calloc((size_t)cs->max_batch + 1, sizeof(cudaGraphExec_t));
    if (!cs->graphs) {
        lane_free(cs);
        return rfs_fail(RFS_ERR_NOMEM, "out of memory for the graph table");
    }
    CUDA_CHECK(cudaStreamSynchronize(cs->st));
    *out = cs;
    return RFS_OK;
}

cuda_state *rfs_cuda_lane(rfs_cuda_net *n, int i) {
    if (!n->lane[i] && lane_create(&n->lane[i], n) != RFS_OK) return NULL;
    return n->lane[i];
}

/* ---- session -------------------------------------------------------------------------------- */

static rfs_status check_config(const rfs_config *c) {
    const char *why = NULL;
    if (c->vit_dim != c->vit_heads * 64) why = "ViT head width is not 64";
    else if (!rfs_attention_cuda_supported(c->hidden_dim / c->sa_heads))
        why = "decoder self-attention head width not in {16, 32, 64}";
    else if (c->vit_dim > 1024 || c->hidden_dim > 1024)
        why = "LayerNorm width above 1024";
    else if (!rfs_select_supported(c->grid * c->grid))
        why = "more than 16384 proposal tokens";
    if (why) return rfs_fail(RFS_ERR_UNSUPPORTED, "CUDA backend: %s (%s)", why, c->size);
    return RFS_OK;
}

static void cuda_destroy(rfs_net *base) {
    rfs_cuda_net *n = cuda_net(base);
    if (!n) return;
    lane_free(n->lane[0]);
    lane_free(n->lane[1]);
    for (int i = 0; i < n->npinned; i++) cudaHostUnregister(n->pinned[i]);
    cudaGetLastError();
    rfs_cuda_weights_release(base->m, n->cw);
    rfs_net_release(base);
    free(n);
}

static void pin(rfs_cuda_net *n, void *p, size_t bytes) {
    if (!p || n->npinned >= 4) return;
    if (cudaHostRegister(p, bytes, cudaHostRegisterDefault) == cudaSuccess)
        n->pinned[n->npinned++] = p;
    else
        cudaGetLastError(); /* pageable copies still work, only slower */
}

static rfs_status cuda_create(rfs_net **out, const rfs_model *m, const rfs_session_opts *o) {
    *out = NULL;
    const rfs_config *c = &m->cfg;
    rfs_status st = check_config(c);
    if (st != RFS_OK) return st;
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        cudaGetLastError();
        return rfs_fail(RFS_ERR_BACKEND, "no CUDA device available (%s)",
                        e != cudaSuccess ? cudaGetErrorString(e) : "device count is 0");
    }
    if (o->device < 0 || o->device >= ndev)
        return rfs_fail(RFS_ERR_ARG, "CUDA device %d does not exist (%d present)", o->device, ndev);
    cudaDeviceProp prop;
    if (cudaSetDevice(o->device) != cudaSuccess ||
        cudaGetDeviceProperties(&prop, o->device) != cudaSuccess) {
        cudaGetLastError();
        return rfs_fail(RFS_ERR_BACKEND, "CUDA device %d cannot be used", o->device);
    }
    if (prop.major * 10 + prop.minor < 75)
        return rfs_fail(RFS_ERR_BACKEND, "CUDA device %s has compute capability %d.%d; 7.5 "
                        "(Turing) or newer is needed", prop.name, prop.major, prop.minor);
    const int arch = rfs_cuda_arch(); /* the code path: the device's, or RFS_CUDA_ARCH's */
    if (o->precision == RFS_BF16 && arch < 80)
        return rfs_fail(RFS_ERR_UNSUPPORTED, "bf16 needs compute capability 8.0 or newer; %s "
                        "runs the sm_%d path (use fp16 or fp32)", prop.name, arch);
    rfs_cuda_net *n = (rfs_cuda_net *)calloc(1, sizeof *n);
    if (!n) return rfs_fail(RFS_ERR_NOMEM, "out of memory for the CUDA session");
    if ((st = rfs_net_init(&n->base, &rfs_backend_cuda, m, o)) != RFS_OK) {
        free(n);
        return st;
    }
    n->cw = rfs_cuda_weights_acquire(m, o->device, (rfs_dtype)o->precision);
    if (!n->cw) {
        st = RFS_ERR_NOMEM; /* message set by the upload */
        goto fail;
    }
    if (!rfs_cuda_lane(n, 0)) {
        st = RFS_ERR_NOMEM;
        goto fail;
    }
    {
        const size_t B = o->max_batch, nq = c->num_queries;
        const size_t P = (size_t)c->mask_side * c->mask_side, R = c->resolution;
        pin(n, n->base.logits, sizeof(float) * B * nq * c->num_classes);
        pin(n, n->base.boxes, sizeof(float) * B * nq * 4);
        pin(n, n->base.masks, sizeof(float) * B * nq * P);
        pin(n, n->base.input, sizeof(float) * B * 3 * R * R);
    }
    *out = &n->base;
    return RFS_OK;
fail:
    cuda_destroy(&n->base);
    return st;
}

/* ---- the network ------------------------------------------------------------------------------ */

static cudaGraphExec_t capture(const rfs_model *m, cuda_state *cs, int B, int profile) {
    cudaGraph_t g;
    CUDA_CHECK(cudaStreamBeginCapture(cs->st, cudaStreamCaptureModeThreadLocal));
    rfs_cuda_enqueue_net(m, cs, B, profile);
    CUDA_CHECK(cudaStreamEndCapture(cs->st, &g));
    cudaGraphExec_t ex;
    CUDA_CHECK(cudaGraphInstantiate(&ex, g, 0));
    CUDA_CHECK(cudaGraphDestroy(g));
    return ex;
}

void rfs_cuda_launch_net(const rfs_model *m, cuda_state *cs, int B) {
    if (cs->eager) {
        rfs_cuda_enqueue_net(m, cs, B, 0);
        return;
    }
    if (!cs->graphs[B]) {
        /* first batch of this size: run it directly (loads the kernels and the cuBLASLt
         * plans outside any capture), then capture the graph for the next ones */
        rfs_cuda_enqueue_net(m, cs, B, 0);
        CUDA_CHECK(cudaStreamSynchronize(cs->st));
        cs->graphs[B] = capture(m, cs, B, 0);
        return;
    }
    CUDA_CHECK(cudaGraphLaunch(cs->graphs[B], cs->st));
}

/* Copies lane cs's outputs of B images (from image `first`) into the host buffers. */
static void download_outputs(const rfs_net *n, cuda_state *cs, int first, int B) {
    const rfs_config *c = &n->m->cfg;
    const size_t nq = c->num_queries, K = c->num_classes;
    const size_t P = (size_t)c->mask_side * c->mask_side, f = first;
    CUDA_CHECK(cudaMemcpyAsync(n->logits, cs->logits + f * nq * K, sizeof(float) * B * nq * K,
                               cudaMemcpyDeviceToHost, cs->st));
    CUDA_CHECK(cudaMemcpyAsync(n->boxes, cs->boxes + f * nq * 4, sizeof(float) * B * nq * 4,
                               cudaMemcpyDeviceToHost, cs->st));
    CUDA_CHECK(cudaMemcpyAsync(n->masks, cs->masks + f * nq * P, sizeof(float) * B * nq * P,
                               cudaMemcpyDeviceToHost, cs->st));
}

static rfs_status cuda_forward(rfs_net *base, const float *input, int batch) {
    rfs_cuda_net *n = cuda_net(base);
    cuda_state *cs = n->lane[0];
    const rfs_config *c = &base->m->cfg;
    const size_t R = c->resolution;
    CUDA_CHECK(cudaSetDevice(cs->device));
    CUDA_CHECK(cudaMemcpyAsync(cs->input, input, sizeof(float) * batch * 3 * R * R,
                               cudaMemcpyHostToDevice, cs->st));
    rfs_cuda_launch_net(base->m, cs, batch);
    download_outputs(base, cs, 0, batch);
    CUDA_CHECK(cudaStreamSynchronize(cs->st));
    n->last_lane = 0;
    return RFS_OK;
}

/* The input and outputs of image 0 of the last batch, whichever path ran it. After the
 * device pipeline they live only on the device; after rfs_forward they are on the host
 * already, and the device copy is the same. */
static rfs_status cuda_fetch_last(rfs_net *base) {
    rfs_cuda_net *n = cuda_net(base);
    cuda_state *cs = n->lane[n->last_lane];
    const size_t R = base->m->cfg.resolution;
    CUDA_CHECK(cudaSetDevice(cs->device));
    CUDA_CHECK(cudaStreamSynchronize(cs->st));
    CUDA_CHECK(cudaMemcpyAsync(base->input, cs->input, sizeof(float) * 3 * R * R,
                               cudaMemcpyDeviceToHost, cs->st));
    download_outputs(base, cs, 0, 1);
    CUDA_CHECK(cudaStreamSynchronize(cs->st));
    return RFS_OK;
}

static void cuda_inject(rfs_net *base, const rfs_raw *raw) { cuda_net(base)->inject = raw; }

/* ---- tests: intermediates of the last forward (lab.h) ----------------------------------------- */

extern "C" rfs_status rfs_cuda_read_debug(rfs_session *s, const char *name, float *dst,
                                          int batch) {
    rfs_net *base = rfs_session_net(s);
    if (base->ops != &rfs_backend_cuda) return rfs_fail(RFS_ERR_ARG, "not a CUDA session");
    cuda_state *cs = cuda_net(base)->lane[0];
    const rfs_config *c = &base->m->cfg;
    const size_t B = batch, nq = c->num_queries, C = c->hidden_dim, N = (size_t)c->grid * c->grid;
    CUDA_CHECK(cudaSetDevice(cs->device));
    CUDA_CHECK(cudaStreamSynchronize(cs->st));
    if (!strcmp(name, "input")) {
        const size_t R = c->resolution;
        CUDA_CHECK(cudaMemcpy(dst, cs->input, sizeof(float) * B * 3 * R * R, cudaMemcpyDeviceToHost));
    } else if (!strcmp(name, "ref")) {
        CUDA_CHECK(cudaMemcpy(dst, cs->ref, sizeof(float) * B * nq * 4, cudaMemcpyDeviceToHost));
    } else if (!strcmp(name, "p4")) {
        rfs_cuda_download_f32(dst, cs->p4, B * N * C, cs->T);
    } else if (!strcmp(name, "enc_cls")) {
        CUDA_CHECK(cudaMemcpy(dst, cs->enc_cls, sizeof(float) * B * N * c->num_classes,
                              cudaMemcpyDeviceToHost));
    } else if (!strcmp(name, "order")) {
        int *tmp = (int *)malloc(sizeof(int) * B * nq);
        if (!tmp) return rfs_fail(RFS_ERR_NOMEM, "out of memory");
        CUDA_CHECK(cudaMemcpy(tmp, cs->order, sizeof(int) * B * nq, cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < B * nq; i++) dst[i] = (float)tmp[i];
        free(tmp);
    } else {
        return rfs_fail(RFS_ERR_ARG, "unknown debug tensor '%s'", name);
    }
    return RFS_OK;
}

extern "C" rfs_status rfs_cuda_force_order(rfs_session *s, const int *order, int batch) {
    rfs_net *base = rfs_session_net(s);
    if (base->ops != &rfs_backend_cuda) return rfs_fail(RFS_ERR_ARG, "not a CUDA session");
    rfs_cuda_net *n = cuda_net(base);
    const size_t nq = base->m->cfg.num_queries;
    for (int l = 0; l < 2; l++) {
        cuda_state *cs = n->lane[l];
        if (!cs) continue;
        if (order && batch > cs->max_batch) return rfs_fail(RFS_ERR_ARG, "batch %d > %d", batch, cs->max_batch);
        CUDA_CHECK(cudaSetDevice(cs->device));
        CUDA_CHECK(cudaStreamSynchronize(cs->st));
        CUDA_CHECK(cudaMemsetAsync(cs->force, 0xff, sizeof(int) * cs->max_batch * nq, cs->st));
        if (order)
            CUDA_CHECK(cudaMemcpyAsync(cs->force, order, sizeof(int) * batch * nq, cudaMemcpyHostToDevice, cs->st));
        CUDA_CHECK(cudaStreamSynchronize(cs->st));
    }
    return RFS_OK;
}

/* ---- timing ------------------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static rfs_status cuda_profile(rfs_net *base, const float *input, int batch, int iters,
                               rfs_profile *out) {
    rfs_cuda_net *n = cuda_net(base);
    cuda_state *cs = n->lane[0];
    const rfs_model *m = base->m;
    memset(out, 0, sizeof *out);
    CUDA_CHECK(cudaSetDevice(cs->device));
    if (input) {
        const size_t R = m->cfg.resolution;
        CUDA_CHECK(cudaMemcpyAsync(cs->input, input, sizeof(float) * batch * 3 * R * R,
                                   cudaMemcpyHostToDevice, cs->st));
    }
    double *t = (double *)malloc(sizeof(double) * (size_t)iters);
    if (!t) return rfs_fail(RFS_ERR_NOMEM, "out of memory");
    cudaEvent_t e0 = cs->ev_stage[0], e1 = cs->ev_stage[1];
    /* network alone: graph replays on whatever the input buffer holds */
    if (!cs->graphs[batch]) {
        rfs_cuda_launch_net(m, cs, batch);
        CUDA_CHECK(cudaStreamSynchronize(cs->st));
    }
    if (!cs->graphs[batch]) cs->graphs[batch] = capture(m, cs, batch, 0); /* eager sessions */
    for (int i = 0; i < 3; i++) CUDA_CHECK(cudaGraphLaunch(cs->graphs[batch], cs->st));
    for (int i = 0; i < iters; i++) {
        CUDA_CHECK(cudaEventRecord(e0, cs->st));
        CUDA_CHECK(cudaGraphLaunch(cs->graphs[batch], cs->st));
        CUDA_CHECK(cudaEventRecord(e1, cs->st));
        CUDA_CHECK(cudaEventSynchronize(e1));
        float ms;
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        t[i] = ms;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp_double);
    out->network_ms = t[iters / 2];
    out->network_min_ms = t[0];
    /* per stage: a serial graph with events between the stages */
    const int ns = rfs_cuda_nstages, reps = iters < 20 ? iters : 20;
    cudaGraphExec_t pg = capture(m, cs, batch, 1);
    double *st_ms = (double *)calloc((size_t)ns * reps, sizeof(double));
    if (!st_ms) {
        free(t);
        cudaGraphExecDestroy(pg);
        return rfs_fail(RFS_ERR_NOMEM, "out of memory");
    }
    CUDA_CHECK(cudaGraphLaunch(pg, cs->st));
    for (int r = 0; r < reps; r++) {
        CUDA_CHECK(cudaGraphLaunch(pg, cs->st));
        CUDA_CHECK(cudaStreamSynchronize(cs->st));
        for (int i = 0; i < ns; i++) {
            float ms;
            CUDA_CHECK(cudaEventElapsedTime(&ms, cs->ev_stage[i], cs->ev_stage[i + 1]));
            st_ms[i * reps + r] = ms;
        }
    }
    out->nstages = ns;
    for (int i = 0; i < ns; i++) {
        qsort(st_ms + i * reps, (size_t)reps, sizeof(double), cmp_double);
        out->stage[i] = rfs_cuda_stage_names[i];
        out->stage_ms[i] = st_ms[i * reps + reps / 2];
    }
    free(st_ms);
    free(t);
    CUDA_CHECK(cudaGraphExecDestroy(pg));
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, cs->device));
    static const char *tn[] = {"fp32", "fp16", "bf16"};
    snprintf(out->device, sizeof out->device, "%.60s (sm_%d%d, %s path, %s)", prop.name,
             prop.major, prop.minor, rfs_cuda_arch() >= 80 ? "sm_80+" : "sm_75", tn[cs->T]);
    return RFS_OK;
}

static int cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

static rfs_status cuda_device_memory(int device, size_t *free_bytes, size_t *total_bytes) {
    int prev = 0;
    if (device < 0 || device >= cuda_device_count())
        return rfs_fail(RFS_ERR_ARG, "CUDA device %d does not exist", device);
    CUDA_CHECK(cudaGetDevice(&prev));
    CUDA_CHECK(cudaSetDevice(device));
    const cudaError_t e = cudaMemGetInfo(free_bytes, total_bytes);
    CUDA_CHECK(cudaSetDevice(prev));
    if (e != cudaSuccess) {
        cudaGetLastError();
        return rfs_fail(RFS_ERR_BACKEND, "CUDA device %d: %s", device, cudaGetErrorString(e));
    }
    return RFS_OK;
}

const rfs_backend_ops rfs_backend_cuda = {
    .name = "cuda",
    .device_count = cuda_device_count,
    .device_memory = cuda_device_memory,
    .create = cuda_create,
    .destroy = cuda_destroy,
    .forward = cuda_forward,
    .accepts = rfs_cuda_pipe_accepts,
    .submit = rfs_cuda_pipe_submit,
    .collect = rfs_cuda_pipe_collect,
    .profile = cuda_profile,
    .pipe_profile = rfs_cuda_pipe_profile,
    .fetch_last = cuda_fetch_last,
    .inject = cuda_inject,
};
