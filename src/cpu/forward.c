/* forward.c - the RF-DETR-Seg forward pass on the CPU, op by op (section numbers below
 * refer to docs/network.md), on the engine's kernels: every product runs on the model's
 * packed weights (pack.c) with its LayerNorm, activation and residual fused (gemm.h),
 * attention by blocks of query rows (attention.h). One image at a time; every buffer comes
 * from the backend state (net.c; no allocation here, except in trace mode). src/cuda/
 * forward.cu has the same stages under the same names, batched.
 *
 * Layout: token-major everywhere (see cpu/ops.h); feature maps are HWC. The trace hook
 * reports tensors in PyTorch's layout (NCHW maps), under the official module names; a few
 * of them (pre-activation outputs, the spatial projection the mask product folds away)
 * are computed for the trace only. */
#include "cpu/cpu.h"

#include "cpu/attention.h"
#include "cpu/ops.h"
#include "util/err.h"

#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- trace --------------------------------------------------------------------------- */

static void trace_nd(rfs_cpu_net *s, const char *name, const float *data, int ndim, ...) {
    if (!s->base.trace) return;
    int64_t shape[8];
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) shape[i] = va_arg(ap, int64_t);
    va_end(ap);
    s->base.trace(s->base.trace_user, name, data, ndim, shape);
}

/* a (rows, cols) slice with row stride ld, reported as (1, rows, cols) */
static void trace_tok(rfs_cpu_net *s, const char *name, const float *x, int rows, int cols,
                      int ld) {
    if (!s->base.trace) return;
    float *buf = malloc(sizeof(float) * (size_t)rows * cols);
    if (!buf) return;
    for (int r = 0; r < rows; r++) memcpy(buf + (size_t)r * cols, x + (size_t)r * ld, sizeof(float) * cols);
    trace_nd(s, name, buf, 3, (int64_t)1, (int64_t)rows, (int64_t)cols);
    free(buf);
}

/* an HWC map (H*W, C) with row stride ld, reported as (1, C, H, W) */
static void trace_map(rfs_cpu_net *s, const char *name, const float *x, int H, int W, int C,
                      int ld) {
    if (!s->base.trace) return;
    float *buf = malloc(sizeof(float) * (size_t)H * W * C);
    if (!buf) return;
    for (int p = 0; p < H * W; p++)
        for (int c = 0; c < C; c++) buf[(size_t)c * H * W + p] = x[(size_t)p * ld + c];
    trace_nd(s, name, buf, 4, (int64_t)1, (int64_t)C, (int64_t)H, (int64_t)W);
    free(buf);
}

/* ---- engine calls ---------------------------------------------------------------------- */

/* Threads worth waking for `work` units: one per `grain` of them, at most the session's.
 * Small steps (the decoder's 100-query products, the heads, row passes) then run on few
 * threads or inline: a parallel region costs tens of microseconds, and far more when the
 * machine is shared and a woken thread waits for a core. */
static int team_for(const rfs_cpu_net *s, double work, double grain) {
    double t = work / grain;
    return t >= s->threads ? s->threads : t < 1 ? 1 : (int)t;
}

static void gemm(rfs_cpu_net *s, const rfs_gemm_desc *g) {
    /* ~4 MFLOP (a few tens of microseconds) per thread at least */
    const int nt = team_for(s, 2.0 * g->M * g->w->N * g->w->K, 4e6);
    rfs_gemm(g, s->isa, nt, s->a.scratch, s->scratch_per, s->a.ashared);
}

/* y (M, N) = act(x . W^T + b) */
static void lin(rfs_cpu_net *s, float *y, int ldy, const float *x, int ldx, const rfs_packed *w,
                int M, rfs_act act) {
    rfs_gemm_desc g = {.M = M, .w = w, .a = x, .lda = ldx, .act = act, .c = y, .ldc = ldy};
    gemm(s, &g);
}

/* x (M, C) rows in place: LayerNorm, then SiLU when silu */
static void ln_rows(rfs_cpu_net *s, float *x, int ld, int M, int C, const float *g,
                    const float *b, float eps, int silu) {
    const rfs_rowops ro = rfs_rowops_pick(s->isa);
    const int nt = team_for(s, (double)M * C, 65536);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int i = 0; i < M; i++) {
        float *r = x + (size_t)i * ld;
        ro.ln(r, r, C, g, b, eps);
        if (silu) ro.silu(r, C);
    }
}

/* t = LayerNorm(t + u) over (M, C), contiguous */
static void add_ln(rfs_cpu_net *s, float *t, const float *u, int M, int C, const float *g,
                   const float *b, float eps) {
    const rfs_rowops ro = rfs_rowops_pick(s->isa);
    const int nt = team_for(s, (double)M * C, 65536);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int i = 0; i < M; i++) {
        float *r = t + (size_t)i * C;
        const float *v = u + (size_t)i * C;
        for (int c = 0; c < C; c++) r[c] += v[c];
        ro.ln(r, r, C, g, b, eps);
    }
}

static void attention(rfs_cpu_net *s, float *out, int ldo, const float *q, const float *k,
                      const float *v, int ldq, int ldk, int ldv, int nseq, int T, int heads,
                      int dh) {
    rfs_attn_desc d = {out, ldo, q, k, v, ldq, ldk, ldv, nseq, T, heads, dh, 0};
    const int nt = team_for(s, 4.0 * nseq * T * T * heads * dh, 4e6);
    rfs_attention(&d, s->isa, nt, s->a.att_shared, s->a.scratch, s->scratch_per);
}

/* ---- backbone (3) --------------------------------------------------------------------- */

typedef struct patch_src {
    const float *img;
    int R, ps, G;
} patch_src;

/* row p of the patch-embedding product: patch p's pixels in the conv weight's order */
static void patch_row(const void *ctx, float *dst, int p) {
    const patch_src *c = ctx;
    const int py = p / c->G, px = p % c->G, ps = c->ps, R = c->R;
    for (int ci = 0; ci < 3; ci++)
        for (int ky = 0; ky < ps; ky++)
            memcpy(dst + (ci * ps + ky) * ps, c->img + ((size_t)ci * R + py * ps + ky) * R + px * ps,
                   sizeof(float) * ps);
}

/* Patch embedding, CLS, position embeddings and windowing (3.2). */
static void embed(rfs_cpu_net *s, const float *img) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    rfs_cpu_acts *a = &s->a;
    const int G = c->grid, D = c->vit_dim;
    patch_src ps = {img, c->resolution, c->patch_size, G};
    rfs_gemm_desc g = {.M = G * G, .w = &s->w->patch, .arow = patch_row, .actx = &ps,
                       .c = a->xn, .ldc = D};
    gemm(s, &g);
    /* tokens in grid order are in xn; into the windowed layout of x */
    rfs_embed_cpu(a->x, a->xn, w->cls, w->pos, G, c->num_windows, D);
}

/* One pre-norm ViT layer (3.5), one thread's share (tid of nt); global layers attend over
 * all windows of the image. Four products and the attention, a barrier after each. */
static void vit_layer(rfs_cpu_net *s, int i, int global, int tid, int nt) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_vit_layer *L = &s->base.m->w.vit[i];
    const rfs_cpu_vit_pk *P = &s->w->vit[i];
    rfs_cpu_acts *a = &s->a;
    float *scr = a->scratch + s->scratch_per * (size_t)tid;
    const int D = c->vit_dim, M = c->vit_mlp, nw = c->num_windows, gw = c->grid / nw;
    const int Tw = 1 + gw * gw, NT = nw * nw * Tw;
    /* qkv = LN1(x) . Wqkv^T + b */
    rfs_gemm_desc g1 = {.M = NT, .w = &P->qkv, .a = a->x, .lda = D, .ln_g = L->ln1_w,
                        .ln_b = L->ln1_b, .ln_eps = 1e-6f, .c = a->qkv, .ldc = 3 * D};
    rfs_gemm_run(&g1, s->isa, tid, nt, scr, a->ashared);
#pragma omp barrier
    const int nseq = global ? 1 : nw * nw, T = global ? NT : Tw;
    rfs_attn_desc ad = {a->att, D, a->qkv, a->qkv + D, a->qkv + 2 * D, 3 * D, 3 * D, 3 * D,
                        nseq, T, c->vit_heads, D / c->vit_heads, s->form_kind == 1};
    rfs_attention_run(&ad, s->isa, tid, nt, a->att_shared, scr);
#pragma omp barrier
    /* x += ls1 * (att . Wo^T + b) */
    rfs_gemm_desc g2 = {.M = NT, .w = &P->o, .a = a->att, .lda = D, .res = a->x, .ldr = D,
                        .res_scale = L->ls1, .c = a->x, .ldc = D};
    rfs_gemm_run(&g2, s->isa, tid, nt, scr, a->ashared);
#pragma omp barrier
    /* mlp = GELU(LN2(x) . W1^T + b1) */
    rfs_gemm_desc g3 = {.M = NT, .w = &P->fc1, .a = a->x, .lda = D, .ln_g = L->ln2_w,
                        .ln_b = L->ln2_b, .ln_eps = 1e-6f, .act = RFS_ACT_GELU, .c = a->mlp,
                        .ldc = M};
    rfs_gemm_run(&g3, s->isa, tid, nt, scr, a->ashared);
#pragma omp barrier
    /* x += ls2 * (mlp . W2^T + b2) */
    rfs_gemm_desc g4 = {.M = NT, .w = &P->fc2, .a = a->mlp, .lda = M, .res = a->x, .ldr = D,
                        .res_scale = L->ls2, .c = a->x, .ldc = D};
    rfs_gemm_run(&g4, s->isa, tid, nt, scr, a->ashared);
#pragma omp barrier
}

/* Tap (3.6), one thread's share: final LayerNorm, drop CLS, un-window into columns
 * [k*D, (k+1)*D) of taps. */
static void tap(rfs_cpu_net *s, int k, int tid, int nt) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    rfs_cpu_acts *a = &s->a;
    const int D = c->vit_dim, G = c->grid, nw = c->num_windows, gw = G / nw, Tw = 1 + gw * gw;
    const int ld = c->num_taps * D, N = G * G;
    const rfs_rowops ro = rfs_rowops_pick(s->isa);
    for (int p = N * tid / nt; p < N * (tid + 1) / nt; p++) {
        int gy = p / G, gx = p % G, win = (gy / gw) * nw + gx / gw;
        int t = win * Tw + 1 + (gy % gw) * gw + gx % gw;
        ro.ln(a->taps + (size_t)p * ld + k * D, a->x + (size_t)t * D, D, w->vit_ln_w,
              w->vit_ln_b, 1e-6f);
    }
}

/* The ViT in one parallel region: every layer's products and attention split over the
 * session's team, barriers between the steps. */
static void backbone(rfs_cpu_net *s, const float *img) {
    const rfs_config *c = &s->base.m->cfg;
    embed(s, img);
#pragma omp parallel num_threads(s->threads)
    {
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        int next_tap = 0;
        for (int i = 0; i < c->vit_layers; i++) {
            int global = 0; /* layer i is global iff i-1 is a tap layer (3.4) */
            for (int k = 0; k < c->num_taps; k++) global |= c->tap_layers[k] == i - 1;
            vit_layer(s, i, global || c->num_windows == 1, tid, nt);
            if (next_tap < c->num_taps && c->tap_layers[next_tap] == i) tap(s, next_tap++, tid, nt);
        }
    }
    if (s->base.trace)
        for (int k = 0; k < c->num_taps; k++) {
            char name[64];
            snprintf(name, sizeof name, "backbone.0.encoder.%d", k);
            trace_map(s, name, s->a.taps + k * c->vit_dim, c->grid, c->grid, c->vit_dim,
                      c->num_taps * c->vit_dim);
        }
}

/* ---- projector (4) --------------------------------------------------------------------- */

typedef struct im2col_src {
    const float *x;
    int ldx, H, W, C;
} im2col_src;

/* row p of a 3x3 convolution's product: the 9 neighbours' channels, tap-major (pack.c) */
static void im2col_row(const void *ctx, float *dst, int p) {
    const im2col_src *c = ctx;
    const int py = p / c->W, px = p % c->W, C = c->C;
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++) {
            const int sy = py + ky - 1, sx = px + kx - 1;
            float *d = dst + (size_t)(ky * 3 + kx) * C;
            if (sy < 0 || sy >= c->H || sx < 0 || sx >= c->W) memset(d, 0, sizeof(float) * C);
            else memcpy(d, c->x + ((size_t)sy * c->W + sx) * c->ldx, sizeof(float) * C);
        }
}

/* ConvX: conv (no bias) -> LayerNorm(1e-6) -> SiLU, on an HWC map. */
static void convx(rfs_cpu_net *s, float *y, int ldy, const float *x, int ldx, int cin,
                  const rfs_convln *cl, const rfs_packed *pk, int k3) {
    const int G = s->base.m->cfg.grid;
    if (k3) {
        im2col_src src = {x, ldx, G, G, cin};
        rfs_gemm_desc g = {.M = G * G, .w = pk, .arow = im2col_row, .actx = &src, .c = y, .ldc = ldy};
        gemm(s, &g);
    } else {
        lin(s, y, ldy, x, ldx, pk, G * G, RFS_ACT_NONE);
    }
    ln_rows(s, y, ldy, G * G, pk->N, cl->ln_w, cl->ln_b, 1e-6f, 1);
}

static void projector(rfs_cpu_net *s) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    const rfs_cpu_form *f = s->w;
    rfs_cpu_acts *a = &s->a;
    const int G = c->grid, C = c->hidden_dim, hc = C / 2, nb = c->proj_blocks;
    const int ldc = (2 + nb) * hc, N = G * G;
    convx(s, a->pj_cat, ldc, a->taps, c->num_taps * c->vit_dim, c->num_taps * c->vit_dim,
          &w->pj_cv1, &f->pj_cv1, 0);
    for (int j = 0; j < nb; j++) {
        /* bottleneck j reads chunk j+1 of the concat and writes chunk j+2, no residual */
        convx(s, a->pj_tmp, hc, a->pj_cat + (1 + j) * hc, ldc, hc, &w->pj_m[j][0], &f->pj_m[j][0], 1);
        convx(s, a->pj_cat + (2 + j) * hc, ldc, a->pj_tmp, hc, hc, &w->pj_m[j][1], &f->pj_m[j][1], 1);
    }
    convx(s, a->p4, C, a->pj_cat, ldc, ldc, &w->pj_cv2, &f->pj_cv2, 0);
    ln_rows(s, a->p4, C, N, C, w->pj_ln_w, w->pj_ln_b, 1e-6f, 0);
    trace_map(s, "backbone.0.projector.0", a->p4, G, G, C, C);
    trace_map(s, "backbone.0.0.tensors", a->p4, G, G, C, C);
}

/* The sine position encoding of the projector level (5): computed by the official model and
 * consumed by nothing; produced here only for the trace. */
static void trace_pos_sine(rfs_cpu_net *s) {
    if (!s->base.trace) return;
    const int G = s->base.m->cfg.grid, C = s->base.m->cfg.hidden_dim, F = C / 2;
    float *buf = malloc(sizeof(float) * (size_t)C * G * G);
    if (!buf) return;
    const double eps = 1e-6, scale = 2 * M_PI;
    for (int y = 0; y < G; y++)
        for (int x = 0; x < G; x++) {
            double ye = (y + 1) / (G + eps) * scale, xe = (x + 1) / (G + eps) * scale;
            for (int k = 0; k < F; k++) {
                double dt = pow(10000.0, 2.0 * (k / 2) / F);
                double vy = ye / dt, vx = xe / dt;
                buf[((size_t)k * G + y) * G + x] = (float)(k % 2 ? cos(vy) : sin(vy));
                buf[((size_t)(F + k) * G + y) * G + x] = (float)(k % 2 ? cos(vx) : sin(vx));
            }
        }
    trace_nd(s, "backbone.1.0", buf, 4, (int64_t)1, (int64_t)C, (int64_t)G, (int64_t)G);
    trace_nd(s, "backbone.1", buf, 4, (int64_t)1, (int64_t)C, (int64_t)G, (int64_t)G);
    free(buf);
}

/* ---- two-stage proposals and query selection (6.1, 6.2) ------------------------------ */

static void box_mlp(rfs_cpu_net *s, float *out, const float *x, int n, const rfs_packed *P,
                    float *hid) {
    const int C = s->base.m->cfg.hidden_dim;
    lin(s, hid, C, x, C, &P[0], n, RFS_ACT_RELU);
    lin(s, hid + (size_t)n * C, C, hid, C, &P[1], n, RFS_ACT_RELU);
    lin(s, out, 4, hid + (size_t)n * C, C, &P[2], n, RFS_ACT_NONE);
}

static void two_stage(rfs_cpu_net *s) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    const rfs_cpu_form *f = s->w;
    rfs_cpu_acts *a = &s->a;
    const int G = c->grid, N = G * G, C = c->hidden_dim, K = c->num_classes, nq = c->num_queries;
    rfs_mask_invalid_cpu(a->omem, a->p4, G, C);
    lin(s, a->enc, C, a->omem, C, &f->enc, N, RFS_ACT_NONE);
    trace_tok(s, "transformer.enc_output.0", a->enc, N, C, C);
    ln_rows(s, a->enc, C, N, C, w->enc_ln_w, w->enc_ln_b, 1e-5f, 0);
    trace_tok(s, "transformer.enc_output_norm.0", a->enc, N, C, C);
    lin(s, a->enc_cls, K, a->enc, C, &f->enc_cls, N, RFS_ACT_NONE);
    box_mlp(s, a->enc_box, a->enc, N, f->enc_box, a->enc_h);
    if (s->base.trace) {
        trace_tok(s, "transformer.enc_out_bbox_embed.0", a->enc_box, N, 4, 4);
        /* the hidden layers again, pre-activation, as the hooks on the Linear layers see them */
        float *h = malloc(sizeof(float) * (size_t)N * C * 2);
        if (h) {
            lin(s, h, C, a->enc, C, &f->enc_box[0], N, RFS_ACT_NONE);
            trace_tok(s, "transformer.enc_out_bbox_embed.0.layers.0", h, N, C, C);
            rfs_act_cpu(h, (size_t)N * C, RFS_ACT_RELU);
            lin(s, h + (size_t)N * C, C, h, C, &f->enc_box[1], N, RFS_ACT_NONE);
            trace_tok(s, "transformer.enc_out_bbox_embed.0.layers.1", h + (size_t)N * C, N, C, C);
            free(h);
        }
        trace_tok(s, "transformer.enc_out_bbox_embed.0.layers.2", a->enc_box, N, 4, 4);
    }
    rfs_two_stage_select_cpu(a->ref, a->order, a->enc_boxes, a->score, a->enc_cls, K, a->enc_box,
                             w->refpoint, G, nq);
    const int k = nq < N ? nq : N;
    if (s->force_order)
        for (int i = 0; i < k; i++) {
            a->order[i] = s->force_order[i];
            rfs_box_reparam_cpu(a->ref + (size_t)i * 4, w->refpoint + (size_t)i * 4,
                                a->enc_boxes + (size_t)a->order[i] * 4, 1);
        }
    memcpy(a->t, w->query_feat, sizeof(float) * (size_t)nq * C);
    if (s->base.trace) {
        float *sel = malloc(sizeof(float) * (size_t)k * (C + 4 + K));
        if (sel) {
            float *sb = sel + (size_t)k * C, *sc = sb + (size_t)k * 4;
            for (int i = 0; i < k; i++) {
                memcpy(sel + (size_t)i * C, a->enc + (size_t)a->order[i] * C, sizeof(float) * C);
                memcpy(sb + (size_t)i * 4, a->enc_boxes + (size_t)a->order[i] * 4, sizeof(float) * 4);
            }
            lin(s, sc, K, sel, C, &f->enc_cls, k, RFS_ACT_NONE);
            trace_tok(s, "transformer.enc_out_class_embed.0", sc, k, K, K);
            trace_tok(s, "transformer.2", sel, k, C, C);
            trace_tok(s, "transformer.3", sb, k, 4, 4);
            free(sel);
        }
    }
}

/* ---- decoder (6.3 - 6.5) ------------------------------------------------------------- */

/* Sine embedding of the reference boxes, order (y, x, w, h), then ref_point_head. */
static void query_pos(rfs_cpu_net *s) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_cpu_form *f = s->w;
    rfs_cpu_acts *a = &s->a;
    const int C = c->hidden_dim, nq = c->num_queries;
    rfs_sine_embed_cpu(a->sine, a->ref, nq, C);
    /* ReLU in the product's epilogue, or after it when the trace wants the layer's output */
    lin(s, a->tmp, C, a->sine, 2 * C, &f->rph[0], nq, s->base.trace ? RFS_ACT_NONE : RFS_ACT_RELU);
    if (s->base.trace) {
        trace_tok(s, "transformer.decoder.ref_point_head.layers.0", a->tmp, nq, C, C);
        rfs_act_cpu(a->tmp, (size_t)nq * C, RFS_ACT_RELU);
    }
    lin(s, a->qpos, C, a->tmp, C, &f->rph[1], nq, RFS_ACT_NONE);
    trace_tok(s, "transformer.decoder.ref_point_head.layers.1", a->qpos, nq, C, C);
    trace_tok(s, "transformer.decoder.ref_point_head", a->qpos, nq, C, C);
}

static void add_into(float *y, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static void dec_layer(rfs_cpu_net *s, int l) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_dec_layer *L = &s->base.m->w.dec[l];
    const rfs_cpu_dec_pk *P = &s->w->dec[l];
    rfs_cpu_acts *a = &s->a;
    const int C = c->hidden_dim, nq = c->num_queries, G = c->grid, N = G * G;
    const int HP = c->ca_heads * c->dec_points, F = c->dim_feedforward;
    const size_t n = (size_t)nq * C;
    char name[96];
#define TR(suffix, x) \
    (snprintf(name, sizeof name, "transformer.decoder.layers.%d%s", l, suffix), trace_tok(s, name, x, nq, C, C))
    /* self-attention: q = k = t + qpos, v = t */
    add_into(a->tq, a->t, a->qpos, n);
    lin(s, a->sa_qk, 2 * C, a->tq, C, &P->sa_qk, nq, RFS_ACT_NONE);
    lin(s, a->sa_v, C, a->t, C, &P->sa_v, nq, RFS_ACT_NONE);
    attention(s, a->sa_o, C, a->sa_qk, a->sa_qk + C, a->sa_v, 2 * C, 2 * C, C, 1, nq,
              c->sa_heads, C / c->sa_heads);
    lin(s, a->tmp, C, a->sa_o, C, &P->sa_out, nq, RFS_ACT_NONE);
    TR(".self_attn.0", a->tmp);
    add_ln(s, a->t, a->tmp, nq, C, L->n1_w, L->n1_b, 1e-5f);
    TR(".norm1", a->t);
    /* deformable cross-attention on the memory (P4 tokens), query = t + qpos */
    add_into(a->tq, a->t, a->qpos, n);
    lin(s, a->value, C, a->p4, C, &P->val, N, RFS_ACT_NONE);
    lin(s, a->offaw, 3 * HP, a->tq, C, &P->offaw, nq, RFS_ACT_NONE);
    rfs_msda_cpu(a->sa_o, a->value, G, G, a->offaw, 3 * HP, a->ref, nq, c->ca_heads,
                 C / c->ca_heads, c->dec_points);
    lin(s, a->tmp, C, a->sa_o, C, &P->out, nq, RFS_ACT_NONE);
    TR(".cross_attn", a->tmp);
    add_ln(s, a->t, a->tmp, nq, C, L->n2_w, L->n2_b, 1e-5f);
    TR(".norm2", a->t);
    /* FFN */
    lin(s, a->ffn, F, a->t, C, &P->l1, nq, RFS_ACT_RELU);
    lin(s, a->tmp, C, a->ffn, F, &P->l2, nq, RFS_ACT_NONE);
    TR(".linear2", a->tmp);
    add_ln(s, a->t, a->tmp, nq, C, L->n3_w, L->n3_b, 1e-5f);
    TR(".norm3", a->t);
    TR("", a->t);
#undef TR
}

/* Class and box heads on a normalised decoder output (7). */
static void heads(rfs_cpu_net *s, const float *hs, float *logits, float *boxes, float *deltas) {
    const rfs_config *c = &s->base.m->cfg;
    rfs_cpu_acts *a = &s->a;
    const int C = c->hidden_dim, K = c->num_classes, nq = c->num_queries;
    lin(s, logits, K, hs, C, &s->w->cls, nq, RFS_ACT_NONE);
    box_mlp(s, deltas, hs, nq, s->w->box, a->box_h);
    rfs_box_reparam_cpu(boxes, deltas, a->ref, nq);
}

/* Trace of the per-layer tensors the official eager forward stacks over layers. */
typedef struct layer_stack {
    float *hs, *logits, *deltas, *h0, *h1;
} layer_stack;

static void stack_layer(rfs_cpu_net *s, layer_stack *st, int l) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    const rfs_cpu_form *f = s->w;
    const int C = c->hidden_dim, K = c->num_classes, nq = c->num_queries;
    rfs_cpu_acts *a = &s->a;
    float *hs = st->hs + (size_t)l * nq * C;
    memcpy(hs, a->t, sizeof(float) * (size_t)nq * C);
    ln_rows(s, hs, C, nq, C, w->dec_ln_w, w->dec_ln_b, 1e-5f, 0);
    lin(s, st->logits + (size_t)l * nq * K, K, hs, C, &f->cls, nq, RFS_ACT_NONE);
    float *h0 = st->h0 + (size_t)l * nq * C, *h1 = st->h1 + (size_t)l * nq * C;
    lin(s, h0, C, hs, C, &f->box[0], nq, RFS_ACT_NONE);
    float *r0 = a->box_h;
    memcpy(r0, h0, sizeof(float) * (size_t)nq * C);
    rfs_act_cpu(r0, (size_t)nq * C, RFS_ACT_RELU);
    lin(s, h1, C, r0, C, &f->box[1], nq, RFS_ACT_NONE);
    memcpy(r0, h1, sizeof(float) * (size_t)nq * C);
    rfs_act_cpu(r0, (size_t)nq * C, RFS_ACT_RELU);
    lin(s, st->deltas + (size_t)l * nq * 4, 4, r0, C, &f->box[2], nq, RFS_ACT_NONE);
}

static void trace_stacks(rfs_cpu_net *s, layer_stack *st) {
    const rfs_config *c = &s->base.m->cfg;
    const int64_t L = c->dec_layers, nq = c->num_queries, C = c->hidden_dim, K = c->num_classes;
    trace_nd(s, "transformer.decoder.0", st->hs, 4, L, (int64_t)1, nq, C);
    trace_nd(s, "transformer.0", st->hs, 4, L, (int64_t)1, nq, C);
    trace_nd(s, "transformer.decoder.1", s->a.ref, 4, (int64_t)1, (int64_t)1, nq, (int64_t)4);
    trace_nd(s, "transformer.1", s->a.ref, 4, (int64_t)1, (int64_t)1, nq, (int64_t)4);
    trace_nd(s, "class_embed", st->logits, 4, L, (int64_t)1, nq, K);
    trace_nd(s, "bbox_embed", st->deltas, 4, L, (int64_t)1, nq, (int64_t)4);
    trace_nd(s, "bbox_embed.layers.0", st->h0, 4, L, (int64_t)1, nq, C);
    trace_nd(s, "bbox_embed.layers.1", st->h1, 4, L, (int64_t)1, nq, C);
    trace_nd(s, "bbox_embed.layers.2", st->deltas, 4, L, (int64_t)1, nq, (int64_t)4);
}

/* ---- segmentation head (8) ------------------------------------------------------------ */

/* Query branch of the seg head: query_features_proj(q + layers(norm_in(q))). With a trace
 * prefix, reports each module's output under it. */
static void query_features(rfs_cpu_net *s, float *out, const float *q, int n, const char *trace) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    const rfs_cpu_form *f = s->w;
    rfs_cpu_acts *a = &s->a;
    const int C = c->hidden_dim, S = c->seg_mlp;
    char name[128];
#define TRQ(suffix, x, cols)                                                               \
    do {                                                                                   \
        if (trace) {                                                                       \
            snprintf(name, sizeof name, "%s%s", trace, suffix);                            \
            trace_tok(s, name, x, n, cols, cols);                                          \
        }                                                                                  \
    } while (0)
    memcpy(a->tmp, q, sizeof(float) * (size_t)n * C);
    ln_rows(s, a->tmp, C, n, C, w->seg_qln_w, w->seg_qln_b, 1e-5f, 0);
    TRQ("query_features_block.norm_in", a->tmp, C);
    lin(s, a->ffn, S, a->tmp, C, &f->seg_q1, n, trace ? RFS_ACT_NONE : RFS_ACT_GELU);
    if (trace) {
        TRQ("query_features_block.layers.0", a->ffn, S);
        rfs_rowops_pick(s->isa).gelu(a->ffn, n * S);
        TRQ("query_features_block.layers.1", a->ffn, S);
        lin(s, a->tmp, C, a->ffn, S, &f->seg_q2, n, RFS_ACT_NONE);
        TRQ("query_features_block.layers.2", a->tmp, C);
        for (size_t i = 0; i < (size_t)n * C; i++) a->tmp[i] += q[i];
    } else {
        rfs_gemm_desc g = {.M = n, .w = &f->seg_q2, .a = a->ffn, .lda = S, .res = q, .ldr = C,
                           .c = a->tmp, .ldc = C};
        gemm(s, &g);
    }
    TRQ("query_features_block", a->tmp, C);
    lin(s, out, C, a->tmp, C, &f->seg_qp, n, RFS_ACT_NONE);
    TRQ("query_features_proj", out, C);
#undef TRQ
}

typedef struct dw_src {
    const float *x, *wt, *b;
    int H, W, C;
    void (*dwconv)(float *, const float *, int, int, int, int, const float *, const float *);
} dw_src;

/* row p of a seg block's pointwise product: the depthwise conv at pixel p (its LayerNorm
 * is the product's fused prologue) */
static void dw_row(const void *ctx, float *dst, int p) {
    const dw_src *c = ctx;
    c->dwconv(dst, c->x, c->H, c->W, c->C, p, c->wt, c->b);
}

static void seg_head(rfs_cpu_net *s, float *masks) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    const rfs_cpu_form *f = s->w;
    rfs_cpu_acts *a = &s->a;
    const int C = c->hidden_dim, G = c->grid, H4 = c->mask_side, P = H4 * H4, nq = c->num_queries;
    float *cur = a->f0, *nxt = a->f1;
    rfs_resize_bilinear_hwc_cpu(cur, H4, H4, a->p4, G, G, C);
    for (int b = 0; b < c->dec_layers; b++) {
        const rfs_seg_block *B = &w->seg[b];
        /* nxt = cur + GELU(pwconv1(LN(dwconv(cur)))): one product, dwconv and LN in its
         * prologue, GELU and the residual in its epilogue */
        dw_src src = {cur, f->seg_dw[b], B->dw_b, H4, H4, C, rfs_rowops_pick(s->isa).dwconv};
        rfs_gemm_desc g = {.M = P, .w = &f->seg_pw[b], .arow = dw_row, .actx = &src,
                           .ln_g = B->ln_w, .ln_b = B->ln_b, .ln_eps = 1e-6f,
                           .act = RFS_ACT_GELU, .res = cur, .ldr = C, .c = nxt, .ldc = C};
        gemm(s, &g);
        float *t = cur;
        cur = nxt;
        nxt = t;
        if (s->base.trace) {
            char name[64];
            snprintf(name, sizeof name, "segmentation_head.blocks.%d", b);
            trace_map(s, name, cur, H4, H4, C, C);
        }
    }
    if (s->base.trace) {
        rfs_linear_cpu(nxt, C, cur, C, w->seg_sp_w, w->seg_sp_b, P, C, C, RFS_ACT_NONE);
        trace_map(s, "segmentation_head.spatial_features_proj", nxt, H4, H4, C, C);
    }
    query_features(s, a->qf, a->hs, nq, NULL);
    if (s->base.trace) {
        /* The official eager forward runs the head a second time, blocks skipped, on the
         * selected encoder features (hs_enc) for its auxiliary two-stage output; the hooks on
         * the query branch keep that second call. Reproduce it for the trace only. */
        const int k = nq < G * G ? nq : G * G;
        float *enc_sel = malloc(sizeof(float) * (size_t)k * C * 2);
        if (enc_sel) {
            for (int i = 0; i < k; i++)
                memcpy(enc_sel + (size_t)i * C, a->enc + (size_t)a->order[i] * C, sizeof(float) * C);
            query_features(s, enc_sel + (size_t)k * C, enc_sel, k, "segmentation_head.");
            free(enc_sel);
        }
    }
    /* masks (nq, P) = qf . (f Wsp^T + bsp)^T + bias = (qf Wsp) f^T + (qf . bsp + bias):
     * the spatial projection folded into the queries (nq rows instead of P); the offset
     * rides in column C of qx against a row of ones in the packed features */
    lin(s, a->qx, C + 1, a->qf, C, &f->seg_spt, nq, RFS_ACT_NONE);
    for (int q = 0; q < nq; q++) {
        double o = w->seg_bias[0];
        for (int k = 0; k < C; k++) o += (double)a->qf[(size_t)q * C + k] * w->seg_sp_b[k];
        a->qx[(size_t)q * (C + 1) + C] = (float)o;
    }
    rfs_packed view;
    float *zeros = a->fpk + rfs_act_packed_floats(P, C + 1);
#pragma omp parallel num_threads(s->threads)
    rfs_pack_act_run(&view, a->fpk, zeros, cur, C, P, C, 1, s->isa, omp_get_thread_num(),
                     omp_get_num_threads());
    lin(s, masks, P, a->qx, C + 1, &view, nq, RFS_ACT_NONE);
}

/* ---- the whole network ----------------------------------------------------------------- */

/* dev/cpu/net_bench.c sets it to time stages in thread CPU time (one thread, shared
 * machine); wall time otherwise */
int rfs_cpu_prof_thread_clock;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(rfs_cpu_prof_thread_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* profiling: adds the time since *t to stage k, restarts the clock */
static void stage_done(rfs_cpu_net *s, int k, double *t) {
    if (!s->prof) return;
    double now = now_ms();
    s->prof[k] += now - *t;
    *t = now;
}

void rfs_cpu_forward_image(rfs_cpu_net *s, const float *input, float *logits, float *boxes,
                           float *masks) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    rfs_cpu_acts *a = &s->a;
    const int C = c->hidden_dim, nq = c->num_queries, K = c->num_classes, L = c->dec_layers;

    double t = s->prof ? now_ms() : 0;
    backbone(s, input);
    stage_done(s, 0, &t);
    projector(s);
    trace_pos_sine(s);
    stage_done(s, 1, &t);
    two_stage(s);
    query_pos(s);
    stage_done(s, 2, &t);

    layer_stack st = {0};
    if (s->base.trace) {
        size_t n = (size_t)L * nq;
        st.hs = malloc(sizeof(float) * n * C);
        st.logits = malloc(sizeof(float) * n * K);
        st.deltas = malloc(sizeof(float) * n * 4);
        st.h0 = malloc(sizeof(float) * n * C);
        st.h1 = malloc(sizeof(float) * n * C);
        if (!st.hs || !st.logits || !st.deltas || !st.h0 || !st.h1) {
            free(st.hs), free(st.logits), free(st.deltas), free(st.h0), free(st.h1);
            memset(&st, 0, sizeof st);
        }
    }
    for (int l = 0; l < L; l++) {
        dec_layer(s, l);
        if (st.hs) stack_layer(s, &st, l);
    }
    memcpy(a->hs, a->t, sizeof(float) * (size_t)nq * C);
    ln_rows(s, a->hs, C, nq, C, w->dec_ln_w, w->dec_ln_b, 1e-5f, 0);
    trace_tok(s, "transformer.decoder.norm", a->hs, nq, C, C);
    if (st.hs) {
        trace_stacks(s, &st);
        free(st.hs), free(st.logits), free(st.deltas), free(st.h0), free(st.h1);
    }
    stage_done(s, 3, &t);
    heads(s, a->hs, logits, boxes, a->deltas);
    stage_done(s, 4, &t);
    seg_head(s, masks);
    stage_done(s, 5, &t);
}
