/* forward.c - the RF-DETR-Seg forward pass on the CPU, fp32, op by op (section numbers
 * below refer to docs/network.md). One image at a time; every buffer comes from the
 * backend state (net.c; no allocation here, except in trace mode). src/cuda/forward.cu
 * has the same stages under the same names, batched.
 *
 * Layout: token-major everywhere (see cpu/ops.h); feature maps are HWC. The trace hook
 * reports tensors in PyTorch's layout (NCHW maps), under the official module names. */
#include "cpu/cpu.h"

#include "cpu/ops.h"
#include "util/err.h"

#include <math.h>
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

/* ---- backbone (3) --------------------------------------------------------------------- */

/* Patch embedding, CLS, position embeddings and windowing (3.2). */
static void embed(rfs_cpu_net *s, const float *img) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    rfs_cpu_acts *a = &s->a;
    const int R = c->resolution, ps = c->patch_size, G = c->grid, D = c->vit_dim;
    const int K = 3 * ps * ps;
    rfs_patch_gather_cpu(a->patches, img, R, ps, s->threads);
    /* tokens in grid order go to xn, then into the windowed layout of x */
    rfs_linear_cpu(a->xn, D, a->patches, K, w->patch_w, w->patch_b, G * G, D, K, RFS_ACT_NONE);
    rfs_embed_cpu(a->x, a->xn, w->cls, w->pos, G, c->num_windows, D);
}

/* One pre-norm ViT layer (3.5); global layers attend over all windows of the image. */
static void vit_layer(rfs_cpu_net *s, const rfs_vit_layer *L, int global) {
    const rfs_config *c = &s->base.m->cfg;
    rfs_cpu_acts *a = &s->a;
    const int D = c->vit_dim, M = c->vit_mlp, nw = c->num_windows, gw = c->grid / nw;
    const int Tw = 1 + gw * gw, NT = nw * nw * Tw;
    rfs_layernorm_cpu(a->xn, D, a->x, D, L->ln1_w, L->ln1_b, NT, D, 1e-6f);
    rfs_linear_cpu(a->qkv, 3 * D, a->xn, D, L->q_w, L->q_b, NT, 3 * D, D, RFS_ACT_NONE);
    int nseq = global ? 1 : nw * nw, T = global ? NT : Tw;
    rfs_attention_cpu(a->att, D, a->qkv, 3 * D, a->qkv + D, 3 * D, a->qkv + 2 * D, 3 * D, nseq,
                      T, c->vit_heads, 64, s->threads, a->att_scratch);
    rfs_linear_cpu(a->xn, D, a->att, D, L->o_w, L->o_b, NT, D, D, RFS_ACT_NONE);
#pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int t = 0; t < NT; t++)
        for (int d = 0; d < D; d++) a->x[(size_t)t * D + d] += L->ls1[d] * a->xn[(size_t)t * D + d];
    rfs_layernorm_cpu(a->xn, D, a->x, D, L->ln2_w, L->ln2_b, NT, D, 1e-6f);
    rfs_linear_cpu(a->mlp, M, a->xn, D, L->fc1_w, L->fc1_b, NT, M, D, RFS_ACT_GELU);
    rfs_linear_cpu(a->xn, D, a->mlp, M, L->fc2_w, L->fc2_b, NT, D, M, RFS_ACT_NONE);
#pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int t = 0; t < NT; t++)
        for (int d = 0; d < D; d++) a->x[(size_t)t * D + d] += L->ls2[d] * a->xn[(size_t)t * D + d];
}

/* Tap (3.6): final LayerNorm, drop CLS, un-window into columns [k*D, (k+1)*D) of taps. */
static void tap(rfs_cpu_net *s, int k) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    rfs_cpu_acts *a = &s->a;
    const int D = c->vit_dim, G = c->grid, nw = c->num_windows, gw = G / nw, Tw = 1 + gw * gw;
    const int ld = c->num_taps * D;
#pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int p = 0; p < G * G; p++) {
        int gy = p / G, gx = p % G, win = (gy / gw) * nw + gx / gw;
        int t = win * Tw + 1 + (gy % gw) * gw + gx % gw;
        rfs_layernorm_cpu(a->taps + (size_t)p * ld + k * D, ld, a->x + (size_t)t * D, D,
                          w->vit_ln_w, w->vit_ln_b, 1, D, 1e-6f);
    }
    if (s->base.trace) {
        char name[64];
        snprintf(name, sizeof name, "backbone.0.encoder.%d", k);
        trace_map(s, name, a->taps + k * D, G, G, D, ld);
    }
}

static void backbone(rfs_cpu_net *s, const float *img) {
    const rfs_config *c = &s->base.m->cfg;
    embed(s, img);
    int next_tap = 0;
    for (int i = 0; i < c->vit_layers; i++) {
        int global = 0; /* layer i is global iff i-1 is a tap layer (3.4) */
        for (int k = 0; k < c->num_taps; k++) global |= c->tap_layers[k] == i - 1;
        vit_layer(s, &s->base.m->w.vit[i], global || c->num_windows == 1);
        if (next_tap < c->num_taps && c->tap_layers[next_tap] == i) tap(s, next_tap++);
    }
}

/* ---- projector (4) --------------------------------------------------------------------- */

/* ConvX: conv (no bias) -> LayerNorm(1e-6) -> SiLU, on an HWC map. */
static void convx(rfs_cpu_net *s, float *y, int ldy, const float *x, int ldx, int cin,
                  const rfs_convln *cl, int cout, int k3) {
    const int G = s->base.m->cfg.grid;
    rfs_cpu_acts *a = &s->a;
    if (k3) {
        rfs_im2col3x3_cpu(a->pj_col, x, ldx, G, G, cin);
        rfs_linear_cpu(y, ldy, a->pj_col, 9 * cin, cl->w, NULL, G * G, cout, 9 * cin, RFS_ACT_NONE);
    } else {
        rfs_linear_cpu(y, ldy, x, ldx, cl->w, NULL, G * G, cout, cin, RFS_ACT_NONE);
    }
    rfs_layernorm_cpu(y, ldy, y, ldy, cl->ln_w, cl->ln_b, G * G, cout, 1e-6f);
    for (int p = 0; p < G * G; p++) rfs_act_cpu(y + (size_t)p * ldy, (size_t)cout, RFS_ACT_SILU);
}

static void projector(rfs_cpu_net *s) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    rfs_cpu_acts *a = &s->a;
    const int G = c->grid, C = c->hidden_dim, hc = C / 2, nb = c->proj_blocks;
    const int ldc = (2 + nb) * hc, N = G * G;
    convx(s, a->pj_cat, ldc, a->taps, c->num_taps * c->vit_dim, c->num_taps * c->vit_dim,
          &w->pj_cv1, 2 * hc, 0);
    for (int j = 0; j < nb; j++) {
        /* bottleneck j reads chunk j+1 of the concat and writes chunk j+2, no residual */
        convx(s, a->pj_tmp, hc, a->pj_cat + (1 + j) * hc, ldc, hc, &w->pj_m[j][0], hc, 1);
        convx(s, a->pj_cat + (2 + j) * hc, ldc, a->pj_tmp, hc, hc, &w->pj_m[j][1], hc, 1);
    }
    convx(s, a->p4, C, a->pj_cat, ldc, ldc, &w->pj_cv2, C, 0);
    rfs_layernorm_cpu(a->p4, C, a->p4, C, w->pj_ln_w, w->pj_ln_b, N, C, 1e-6f);
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

static void box_mlp(rfs_cpu_net *s, float *out, const float *x, int n, float *const *Wt,
                    float *const *Bs, float *hid) {
    const int C = s->base.m->cfg.hidden_dim;
    rfs_linear_cpu(hid, C, x, C, Wt[0], Bs[0], n, C, C, RFS_ACT_RELU);
    rfs_linear_cpu(hid + (size_t)n * C, C, hid, C, Wt[1], Bs[1], n, C, C, RFS_ACT_RELU);
    rfs_linear_cpu(out, 4, hid + (size_t)n * C, C, Wt[2], Bs[2], n, 4, C, RFS_ACT_NONE);
}

static void two_stage(rfs_cpu_net *s) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    rfs_cpu_acts *a = &s->a;
    const int G = c->grid, N = G * G, C = c->hidden_dim, K = c->num_classes, nq = c->num_queries;
    rfs_mask_invalid_cpu(a->omem, a->p4, G, C);
    rfs_linear_cpu(a->enc, C, a->omem, C, w->enc_w, w->enc_b, N, C, C, RFS_ACT_NONE);
    trace_tok(s, "transformer.enc_output.0", a->enc, N, C, C);
    rfs_layernorm_cpu(a->enc, C, a->enc, C, w->enc_ln_w, w->enc_ln_b, N, C, 1e-5f);
    trace_tok(s, "transformer.enc_output_norm.0", a->enc, N, C, C);
    rfs_linear_cpu(a->enc_cls, K, a->enc, C, w->enc_cls_w, w->enc_cls_b, N, K, C, RFS_ACT_NONE);
    box_mlp(s, a->enc_box, a->enc, N, w->enc_box_w, w->enc_box_b, a->enc_h);
    if (s->base.trace) {
        trace_tok(s, "transformer.enc_out_bbox_embed.0", a->enc_box, N, 4, 4);
        /* the hidden layers again, pre-activation, as the hooks on the Linear layers see them */
        float *h = malloc(sizeof(float) * (size_t)N * C * 2);
        if (h) {
            rfs_linear_cpu(h, C, a->enc, C, w->enc_box_w[0], w->enc_box_b[0], N, C, C, RFS_ACT_NONE);
            trace_tok(s, "transformer.enc_out_bbox_embed.0.layers.0", h, N, C, C);
            rfs_act_cpu(h, (size_t)N * C, RFS_ACT_RELU);
            rfs_linear_cpu(h + (size_t)N * C, C, h, C, w->enc_box_w[1], w->enc_box_b[1], N, C, C,
                           RFS_ACT_NONE);
            trace_tok(s, "transformer.enc_out_bbox_embed.0.layers.1", h + (size_t)N * C, N, C, C);
            free(h);
        }
        trace_tok(s, "transformer.enc_out_bbox_embed.0.layers.2", a->enc_box, N, 4, 4);
    }
    rfs_two_stage_select_cpu(a->ref, a->order, a->enc_boxes, a->score, a->enc_cls, K, a->enc_box,
                             w->refpoint, G, nq);
    const int k = nq < N ? nq : N;
    memcpy(a->t, w->query_feat, sizeof(float) * (size_t)nq * C);
    if (s->base.trace) {
        float *sel = malloc(sizeof(float) * (size_t)k * (C + 4 + K));
        if (sel) {
            float *sb = sel + (size_t)k * C, *sc = sb + (size_t)k * 4;
            for (int i = 0; i < k; i++) {
                memcpy(sel + (size_t)i * C, a->enc + (size_t)a->order[i] * C, sizeof(float) * C);
                memcpy(sb + (size_t)i * 4, a->enc_boxes + (size_t)a->order[i] * 4, sizeof(float) * 4);
            }
            rfs_linear_cpu(sc, K, sel, C, w->enc_cls_w, w->enc_cls_b, k, K, C, RFS_ACT_NONE);
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
    const rfs_weights *w = &s->base.m->w;
    rfs_cpu_acts *a = &s->a;
    const int C = c->hidden_dim, nq = c->num_queries;
    rfs_sine_embed_cpu(a->sine, a->ref, nq, C);
    rfs_linear_cpu(a->tmp, C, a->sine, 2 * C, w->rph_w[0], w->rph_b[0], nq, C, 2 * C, RFS_ACT_NONE);
    trace_tok(s, "transformer.decoder.ref_point_head.layers.0", a->tmp, nq, C, C);
    rfs_act_cpu(a->tmp, (size_t)nq * C, RFS_ACT_RELU);
    rfs_linear_cpu(a->qpos, C, a->tmp, C, w->rph_w[1], w->rph_b[1], nq, C, C, RFS_ACT_NONE);
    trace_tok(s, "transformer.decoder.ref_point_head.layers.1", a->qpos, nq, C, C);
    trace_tok(s, "transformer.decoder.ref_point_head", a->qpos, nq, C, C);
}

static void add_into(float *y, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static void dec_layer(rfs_cpu_net *s, int l) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_dec_layer *L = &s->base.m->w.dec[l];
    rfs_cpu_acts *a = &s->a;
    const int C = c->hidden_dim, nq = c->num_queries, G = c->grid, N = G * G;
    const int HP = c->ca_heads * c->dec_points, F = c->dim_feedforward;
    const size_t n = (size_t)nq * C;
    char name[96];
#define TR(suffix, x) \
    (snprintf(name, sizeof name, "transformer.decoder.layers.%d%s", l, suffix), trace_tok(s, name, x, nq, C, C))
    /* self-attention: q = k = t + qpos, v = t */
    add_into(a->tq, a->t, a->qpos, n);
    rfs_linear_cpu(a->sa_qk, 2 * C, a->tq, C, L->sa_in_w, L->sa_in_b, nq, 2 * C, C, RFS_ACT_NONE);
    rfs_linear_cpu(a->sa_v, C, a->t, C, L->sa_in_w + (size_t)2 * C * C, L->sa_in_b + 2 * C, nq, C,
                   C, RFS_ACT_NONE);
    rfs_attention_cpu(a->sa_o, C, a->sa_qk, 2 * C, a->sa_qk + C, 2 * C, a->sa_v, C, 1, nq,
                      c->sa_heads, C / c->sa_heads, s->threads, a->att_scratch);
    rfs_linear_cpu(a->tmp, C, a->sa_o, C, L->sa_out_w, L->sa_out_b, nq, C, C, RFS_ACT_NONE);
    TR(".self_attn.0", a->tmp);
    for (size_t i = 0; i < n; i++) a->t[i] += a->tmp[i];
    rfs_layernorm_cpu(a->t, C, a->t, C, L->n1_w, L->n1_b, nq, C, 1e-5f);
    TR(".norm1", a->t);
    /* deformable cross-attention on the memory (P4 tokens), query = t + qpos */
    add_into(a->tq, a->t, a->qpos, n);
    rfs_linear_cpu(a->value, C, a->p4, C, L->val_w, L->val_b, N, C, C, RFS_ACT_NONE);
    rfs_linear_cpu(a->offaw, 3 * HP, a->tq, C, L->off_w, L->off_b, nq, 3 * HP, C, RFS_ACT_NONE);
    rfs_msda_cpu(a->sa_o, a->value, G, G, a->offaw, 3 * HP, a->ref, nq, c->ca_heads,
                 C / c->ca_heads, c->dec_points);
    rfs_linear_cpu(a->tmp, C, a->sa_o, C, L->out_w, L->out_b, nq, C, C, RFS_ACT_NONE);
    TR(".cross_attn", a->tmp);
    for (size_t i = 0; i < n; i++) a->t[i] += a->tmp[i];
    rfs_layernorm_cpu(a->t, C, a->t, C, L->n2_w, L->n2_b, nq, C, 1e-5f);
    TR(".norm2", a->t);
    /* FFN */
    rfs_linear_cpu(a->ffn, F, a->t, C, L->l1_w, L->l1_b, nq, F, C, RFS_ACT_RELU);
    rfs_linear_cpu(a->tmp, C, a->ffn, F, L->l2_w, L->l2_b, nq, C, F, RFS_ACT_NONE);
    TR(".linear2", a->tmp);
    for (size_t i = 0; i < n; i++) a->t[i] += a->tmp[i];
    rfs_layernorm_cpu(a->t, C, a->t, C, L->n3_w, L->n3_b, nq, C, 1e-5f);
    TR(".norm3", a->t);
    TR("", a->t);
#undef TR
}

/* Class and box heads on a normalised decoder output (7). */
static void heads(rfs_cpu_net *s, const float *hs, float *logits, float *boxes, float *deltas) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    rfs_cpu_acts *a = &s->a;
    const int C = c->hidden_dim, K = c->num_classes, nq = c->num_queries;
    rfs_linear_cpu(logits, K, hs, C, w->cls_w, w->cls_b, nq, K, C, RFS_ACT_NONE);
    box_mlp(s, deltas, hs, nq, w->box_w, w->box_b, a->box_h);
    rfs_box_reparam_cpu(boxes, deltas, a->ref, nq);
}

/* Trace of the per-layer tensors the official eager forward stacks over layers. */
typedef struct layer_stack {
    float *hs, *logits, *deltas, *h0, *h1;
} layer_stack;

static void stack_layer(rfs_cpu_net *s, layer_stack *st, int l) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    const int C = c->hidden_dim, K = c->num_classes, nq = c->num_queries;
    rfs_cpu_acts *a = &s->a;
    float *hs = st->hs + (size_t)l * nq * C;
    rfs_layernorm_cpu(hs, C, a->t, C, w->dec_ln_w, w->dec_ln_b, nq, C, 1e-5f);
    rfs_linear_cpu(st->logits + (size_t)l * nq * K, K, hs, C, w->cls_w, w->cls_b, nq, K, C, RFS_ACT_NONE);
    float *h0 = st->h0 + (size_t)l * nq * C, *h1 = st->h1 + (size_t)l * nq * C;
    rfs_linear_cpu(h0, C, hs, C, w->box_w[0], w->box_b[0], nq, C, C, RFS_ACT_NONE);
    float *r0 = a->box_h;
    memcpy(r0, h0, sizeof(float) * (size_t)nq * C);
    rfs_act_cpu(r0, (size_t)nq * C, RFS_ACT_RELU);
    rfs_linear_cpu(h1, C, r0, C, w->box_w[1], w->box_b[1], nq, C, C, RFS_ACT_NONE);
    memcpy(r0, h1, sizeof(float) * (size_t)nq * C);
    rfs_act_cpu(r0, (size_t)nq * C, RFS_ACT_RELU);
    rfs_linear_cpu(st->deltas + (size_t)l * nq * 4, 4, r0, C, w->box_w[2], w->box_b[2], nq, 4, C,
                   RFS_ACT_NONE);
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
    rfs_layernorm_cpu(a->tmp, C, q, C, w->seg_qln_w, w->seg_qln_b, n, C, 1e-5f);
    TRQ("query_features_block.norm_in", a->tmp, C);
    rfs_linear_cpu(a->ffn, S, a->tmp, C, w->seg_q1_w, w->seg_q1_b, n, S, C, RFS_ACT_NONE);
    TRQ("query_features_block.layers.0", a->ffn, S);
    rfs_act_cpu(a->ffn, (size_t)n * S, RFS_ACT_GELU);
    TRQ("query_features_block.layers.1", a->ffn, S);
    rfs_linear_cpu(a->tmp, C, a->ffn, S, w->seg_q2_w, w->seg_q2_b, n, C, S, RFS_ACT_NONE);
    TRQ("query_features_block.layers.2", a->tmp, C);
    for (size_t i = 0; i < (size_t)n * C; i++) a->tmp[i] += q[i];
    TRQ("query_features_block", a->tmp, C);
    rfs_linear_cpu(out, C, a->tmp, C, w->seg_qp_w, w->seg_qp_b, n, C, C, RFS_ACT_NONE);
    TRQ("query_features_proj", out, C);
#undef TRQ
}

static void seg_head(rfs_cpu_net *s, float *masks) {
    const rfs_config *c = &s->base.m->cfg;
    const rfs_weights *w = &s->base.m->w;
    rfs_cpu_acts *a = &s->a;
    const int C = c->hidden_dim, G = c->grid, H4 = c->mask_side, P = H4 * H4, nq = c->num_queries;
    rfs_resize_bilinear_hwc_cpu(a->f0, H4, H4, a->p4, G, G, C);
    for (int b = 0; b < c->dec_layers; b++) {
        const rfs_seg_block *B = &w->seg[b];
        /* f0 + GELU(pwconv1(LN(dwconv(f0)))) */
        rfs_dwconv3x3_cpu(a->f1, a->f0, B->dw_w, B->dw_b, H4, H4, C);
        rfs_layernorm_cpu(a->f1, C, a->f1, C, B->ln_w, B->ln_b, P, C, 1e-6f);
        /* pwconv1 in row blocks, so the residual add needs no third map-sized buffer */
        for (int r0 = 0; r0 < P; r0 += RFS_SEG_ROWS) {
            int nr = P - r0 < RFS_SEG_ROWS ? P - r0 : RFS_SEG_ROWS;
            float *blk = a->seg_blk;
            rfs_linear_cpu(blk, C, a->f1 + (size_t)r0 * C, C, B->pw_w, B->pw_b, nr, C, C, RFS_ACT_GELU);
            float *f = a->f0 + (size_t)r0 * C;
            for (size_t i = 0; i < (size_t)nr * C; i++) f[i] += blk[i];
        }
        if (s->base.trace) {
            char name[64];
            snprintf(name, sizeof name, "segmentation_head.blocks.%d", b);
            trace_map(s, name, a->f0, H4, H4, C, C);
        }
    }
    rfs_linear_cpu(a->f1, C, a->f0, C, w->seg_sp_w, w->seg_sp_b, P, C, C, RFS_ACT_NONE);
    trace_map(s, "segmentation_head.spatial_features_proj", a->f1, H4, H4, C, C);
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
    /* masks (nq, P) = qf (nq, C) . spatial (P, C)^T + bias */
    rfs_linear_cpu(masks, P, a->qf, C, a->f1, NULL, nq, P, C, RFS_ACT_NONE);
    const float bias = w->seg_bias[0];
    for (size_t i = 0; i < (size_t)nq * P; i++) masks[i] += bias;
}

/* ---- the whole network ----------------------------------------------------------------- */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
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
    rfs_layernorm_cpu(a->hs, C, a->t, C, w->dec_ln_w, w->dec_ln_b, nq, C, 1e-5f);
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
