/* forward.cu - the RF-DETR-Seg forward pass on the GPU, a whole batch at a time: the
 * stages of src/cpu/forward.c under the same names and in the same order (embed, vit_layer
 * with its tap, backbone, projector, two_stage, query_pos, dec_layer, heads, seg_head),
 * each op a launcher of cuda/backend.h with a _cpu twin in cpu/ops.h. Section numbers
 * refer to docs/network.md.
 *
 * Precision. fp32 sessions run every op in fp32 (parity with the CPU). fp16/bf16 sessions
 * store the activations that feed matrix products ("T" buffers) in that type, and also
 * the seg head's features (four residual blocks over (R/4)^2 pixels: the largest memory
 * traffic of the network at large batch); the ViT's and the decoder's residual streams,
 * LayerNorm statistics and inputs, logits, boxes, sampling offsets and masks stay fp32,
 * and every product accumulates in fp32.
 *
 * Streams. The seg head's spatial branch (upsample, blocks) depends only on the projector
 * output; it is enqueued on a second stream (own cuBLASLt workspace) and runs concurrently
 * with the two-stage selection and the decoder. */
#include "cuda/cuda.cuh"

#include <string.h>

/* Everything the stages share for one enqueue. */
typedef struct fwd {
    const rfs_config *c;
    const cuda_weights *cw;
    const rfs_weights *w;   /* device fp32 pointers (cw->w) */
    cuda_state *cs;
    int B;                  /* images */
    rfs_dtype T;
    size_t ts;
    cudaStream_t st;
    rfs_cuda_ctx *ctx;
    int profile;
} fwd;

/* T buffer + offset in elements */
#define AT(buf, elems) ((void *)((char *)(buf) + (size_t)(elems) * f->ts))

/* y = x . w^T + b through the session's weights: w and b are fp32 device pointers into
 * the weight arena; the product uses their T copies (b in y's type). */
static void lin(const fwd *f, rfs_cuda_ctx *ctx, cudaStream_t st, void *y, rfs_dtype yt, int ldy,
                const void *x, int ldx, const float *w, const float *b, int M, int N, int K,
                rfs_act act, int accumulate) {
    const void *bb = !b ? NULL : yt == RFS_DT_F32 ? (const void *)b : rfs_cuda_wt(f->cw, b);
    RFS_CHECK(yt == RFS_DT_F32 || yt == f->T);
    rfs_linear_cuda(ctx, y, yt, ldy, x, ldx, rfs_cuda_wt(f->cw, w), f->T, bb, M, N, K, act,
                    accumulate, st);
}

static void ln(cudaStream_t st, const void *x, rfs_dtype xt, int ldx, void *y, rfs_dtype yt,
               int ldy, const float *g, const float *b, float eps, int M, int C) {
    rfs_ln_args a;
    memset(&a, 0, sizeof a);
    a.x = x, a.xt = xt, a.ldx = ldx, a.y = y, a.yt = yt, a.ldy = ldy;
    a.g = g, a.b = b, a.eps = eps, a.act = RFS_ACT_NONE, a.M = M, a.C = C;
    rfs_layernorm_cuda(&a, st);
}

const char *const rfs_cuda_stage_names[] = {"backbone", "projector", "two-stage", "decoder",
                                            "heads", "segmentation head"};
const int rfs_cuda_nstages = 6;

static void stage(const fwd *f, int i) {
    if (f->profile)
        CUDA_CHECK(cudaEventRecordWithFlags(f->cs->ev_stage[i], f->st, cudaEventRecordExternal));
}

/* ---- backbone (3) ---------------------------------------------------------------------- */

/* Patch embedding, CLS, position embeddings and windowing (3.2). */
static void embed(const fwd *f) {
    const rfs_config *c = f->c;
    cuda_state *cs = f->cs;
    const int R = c->resolution, ps = c->patch_size, G = c->grid, D = c->vit_dim;
    rfs_patch_gather_cuda(cs->patches, f->T, cs->input, f->B, R, ps, f->st);
    lin(f, f->ctx, f->st, cs->pe, RFS_DT_F32, D, cs->patches, 3 * ps * ps, f->w->patch_w,
        f->w->patch_b, f->B * G * G, D, 3 * ps * ps, RFS_ACT_NONE, 0);
    rfs_embed_cuda(cs->x, cs->pe, f->w->cls, f->w->pos, f->B, G, c->num_windows, D, f->st);
}

/* Tap k (3.6): the final LayerNorm of the tokens, un-windowed into columns [k*D, (k+1)*D)
 * of the taps. After the last layer it has a pass of its own; otherwise the next layer's
 * norm1 computes it from the same row statistics (vit_layer's `tap`). */
static void tap(const fwd *f, int k) {
    const rfs_config *c = f->c;
    cuda_state *cs = f->cs;
    const int D = c->vit_dim, G = c->grid;
    rfs_ln_args a;
    memset(&a, 0, sizeof a);
    a.x = cs->x, a.xt = RFS_DT_F32, a.ldx = D;
    a.y = AT(cs->taps, k * D), a.yt = f->T, a.ldy = c->num_taps * D;
    a.g = f->w->vit_ln_w, a.b = f->w->vit_ln_b, a.eps = 1e-6f, a.M = f->B * G * G, a.C = D;
    a.tap_G = G, a.tap_nw = c->num_windows;
    rfs_layernorm_cuda(&a, f->st);
}

/* One pre-norm ViT layer (3.5); global layers attend over all windows of the image.
 * pending_tap >= 0: this layer's norm1 also writes that tap (same row statistics). */
static void vit_layer(const fwd *f, const rfs_vit_layer *L, int global, int pending_tap) {
    const rfs_config *c = f->c;
    cuda_state *cs = f->cs;
    const rfs_dtype T = f->T, F = RFS_DT_F32;
    const int D = c->vit_dim, Mm = c->vit_mlp, G = c->grid, nw = c->num_windows;
    const int gw = G / nw, Tw = 1 + gw * gw, NT = nw * nw * Tw, B = f->B;
    rfs_ln_args a;
    memset(&a, 0, sizeof a);
    a.x = cs->x, a.xt = F, a.ldx = D, a.y = cs->xn, a.yt = T, a.ldy = D;
    a.g = L->ln1_w, a.b = L->ln1_b, a.eps = 1e-6f, a.M = B * NT, a.C = D;
    if (pending_tap >= 0) {
        a.tap_y = AT(cs->taps, pending_tap * D), a.tap_ld = c->num_taps * D;
        a.tap_g = f->w->vit_ln_w, a.tap_b = f->w->vit_ln_b, a.tap_G = G, a.tap_nw = nw;
    }
    rfs_layernorm_cuda(&a, f->st);
    lin(f, f->ctx, f->st, cs->qkv, T, 3 * D, cs->xn, D, L->q_w, L->q_b, B * NT, 3 * D, D,
        RFS_ACT_NONE, 0);
    rfs_attention_cuda(cs->att, D, cs->qkv, 3 * D, AT(cs->qkv, D), 3 * D, AT(cs->qkv, 2 * D),
                       3 * D, T, global ? B : B * nw * nw, global ? NT : Tw, c->vit_heads, 64,
                       f->st);
    /* residuals: the layer scales are folded into o_w / fc2_w (weights.cu), so the add is
     * the product's accumulate */
    lin(f, f->ctx, f->st, cs->x, F, D, cs->att, D, L->o_w, L->o_b, B * NT, D, D, RFS_ACT_NONE, 1);
    ln(f->st, cs->x, F, D, cs->xn, T, D, L->ln2_w, L->ln2_b, 1e-6f, B * NT, D);
    lin(f, f->ctx, f->st, cs->mlp, T, Mm, cs->xn, D, L->fc1_w, L->fc1_b, B * NT, Mm, D,
        RFS_ACT_NONE, 0);
    rfs_act_cuda(cs->mlp, T, (size_t)B * NT * Mm, RFS_ACT_GELU, f->st);
    lin(f, f->ctx, f->st, cs->x, F, D, cs->mlp, Mm, L->fc2_w, L->fc2_b, B * NT, D, Mm,
        RFS_ACT_NONE, 1);
}

static void backbone(const fwd *f) {
    const rfs_config *c = f->c;
    embed(f);
    int next_tap = 0, pending = -1;
    for (int i = 0; i < c->vit_layers; i++) {
        int global = c->num_windows == 1; /* layer i is global iff i-1 is a tap layer (3.4) */
        for (int k = 0; k < c->num_taps; k++) global |= c->tap_layers[k] == i - 1;
        vit_layer(f, &f->w->vit[i], global, pending);
        pending = -1;
        if (next_tap < c->num_taps && c->tap_layers[next_tap] == i) {
            if (i + 1 < c->vit_layers) pending = next_tap; /* the next norm1 writes it */
            else tap(f, next_tap);
            next_tap++;
        }
    }
}

/* ---- projector (4): ConvX = conv (no bias) -> LN(1e-6) -> SiLU, C2f ------------------------ */

static void projector(const fwd *f) {
    const rfs_config *c = f->c;
    const rfs_weights *w = f->w;
    cuda_state *cs = f->cs;
    const rfs_dtype T = f->T, F = RFS_DT_F32;
    const int D = c->vit_dim, C = c->hidden_dim, hc = C / 2, G = c->grid, nb = c->proj_blocks;
    const int BN = f->B * G * G, ldtap = c->num_taps * D, ldc = (2 + nb) * hc;
    rfs_ln_args a;
    memset(&a, 0, sizeof a);
    a.xt = F, a.yt = T, a.eps = 1e-6f, a.act = RFS_ACT_SILU, a.M = BN;
    lin(f, f->ctx, f->st, cs->pj_y, F, 2 * hc, cs->taps, ldtap, w->pj_cv1.w, NULL, BN, 2 * hc,
        ldtap, RFS_ACT_NONE, 0);
    a.x = cs->pj_y, a.ldx = 2 * hc, a.y = cs->pj_cat, a.ldy = ldc, a.C = 2 * hc;
    a.g = w->pj_cv1.ln_w, a.b = w->pj_cv1.ln_b;
    rfs_layernorm_cuda(&a, f->st);
    for (int j = 0; j < nb; j++) {
        /* bottleneck j reads chunk j+1 of the concat and writes chunk j+2, no residual */
        rfs_im2col3x3_cuda(cs->col, AT(cs->pj_cat, (1 + j) * hc), ldc, T, f->B, G, G, hc, f->st);
        lin(f, f->ctx, f->st, cs->pj_y, F, hc, cs->col, 9 * hc, w->pj_m[j][0].w, NULL, BN, hc,
            9 * hc, RFS_ACT_NONE, 0);
        a.x = cs->pj_y, a.ldx = hc, a.y = cs->pj_tmp, a.ldy = hc, a.C = hc;
        a.g = w->pj_m[j][0].ln_w, a.b = w->pj_m[j][0].ln_b;
        rfs_layernorm_cuda(&a, f->st);
        rfs_im2col3x3_cuda(cs->col, cs->pj_tmp, hc, T, f->B, G, G, hc, f->st);
        lin(f, f->ctx, f->st, cs->pj_y, F, hc, cs->col, 9 * hc, w->pj_m[j][1].w, NULL, BN, hc,
            9 * hc, RFS_ACT_NONE, 0);
        a.x = cs->pj_y, a.ldx = hc, a.y = AT(cs->pj_cat, (2 + j) * hc), a.ldy = ldc;
        a.g = w->pj_m[j][1].ln_w, a.b = w->pj_m[j][1].ln_b;
        rfs_layernorm_cuda(&a, f->st);
    }
    lin(f, f->ctx, f->st, cs->pj_y, F, C, cs->pj_cat, ldc, w->pj_cv2.w, NULL, BN, C, ldc,
        RFS_ACT_NONE, 0);
    a.x = cs->pj_y, a.ldx = C, a.y = cs->p4, a.ldy = C, a.C = C;
    a.g = w->pj_cv2.ln_w, a.b = w->pj_cv2.ln_b;
    a.g2 = w->pj_ln_w, a.b2 = w->pj_ln_b, a.eps2 = 1e-6f; /* stages.0.1 */
    rfs_layernorm_cuda(&a, f->st);
}

/* ---- two-stage proposals and query selection (6.1, 6.2) --------------------------------- */

static void two_stage(const fwd *f) {
    const rfs_config *c = f->c;
    const rfs_weights *w = f->w;
    cuda_state *cs = f->cs;
    const rfs_dtype T = f->T, F = RFS_DT_F32;
    const int C = c->hidden_dim, G = c->grid, K = c->num_classes, BN = f->B * G * G;
    const void *mem = cs->p4;
    if (cs->any_invalid) {
        rfs_mask_invalid_cuda(cs->omem, cs->p4, T, f->B, G, C, f->st);
        mem = cs->omem;
    }
    lin(f, f->ctx, f->st, cs->pj_y, F, C, mem, C, w->enc_w, w->enc_b, BN, C, C, RFS_ACT_NONE, 0);
    ln(f->st, cs->pj_y, F, C, cs->enc, T, C, w->enc_ln_w, w->enc_ln_b, 1e-5f, BN, C);
    lin(f, f->ctx, f->st, cs->enc_cls, F, K, cs->enc, C, w->enc_cls_w, w->enc_cls_b, BN, K, C,
        RFS_ACT_NONE, 0);
    lin(f, f->ctx, f->st, cs->h2a, T, C, cs->enc, C, w->enc_box_w[0], w->enc_box_b[0], BN, C, C,
        RFS_ACT_RELU, 0);
    lin(f, f->ctx, f->st, cs->h2b, T, C, cs->h2a, C, w->enc_box_w[1], w->enc_box_b[1], BN, C, C,
        RFS_ACT_RELU, 0);
    lin(f, f->ctx, f->st, cs->enc_d, F, 4, cs->h2b, C, w->enc_box_w[2], w->enc_box_b[2], BN, 4, C,
        RFS_ACT_NONE, 0);
    rfs_two_stage_select_cuda(cs->ref, cs->order, cs->force, cs->enc_cls, K, cs->enc_d, w->refpoint, G,
                              c->num_queries, f->B, f->st);
    rfs_broadcast_rows_cuda(cs->t, w->query_feat, c->num_queries, C, f->B, f->st);
}

/* ---- decoder (6.3 - 6.5) ------------------------------------------------------------------ */

/* Sine embedding of the reference boxes, then ref_point_head (6.3), once for all layers,
 * and its products with every layer's weights: the decoder never forms t + qpos, it adds
 * qpos.W to t.W instead. */
static void query_pos(const fwd *f) {
    const rfs_config *c = f->c;
    const rfs_weights *w = f->w;
    const cuda_weights *cw = f->cw;
    cuda_state *cs = f->cs;
    const rfs_dtype T = f->T, F = RFS_DT_F32;
    const int C = c->hidden_dim, BQ = f->B * c->num_queries, Ld = c->dec_layers;
    const int HP = c->ca_heads * c->dec_points;
    rfs_sine_embed_cuda(cs->sine, T, cs->ref, BQ, C, f->st);
    lin(f, f->ctx, f->st, cs->tmp, T, C, cs->sine, 2 * C, w->rph_w[0], w->rph_b[0], BQ, C, 2 * C,
        RFS_ACT_RELU, 0);
    lin(f, f->ctx, f->st, cs->qpos, T, C, cs->tmp, C, w->rph_w[1], w->rph_b[1], BQ, C, C,
        RFS_ACT_NONE, 0);
    lin(f, f->ctx, f->st, cs->qp_qk, T, Ld * 3 * C, cs->qpos, C, cw->qk_stack, NULL, BQ,
        Ld * 3 * C, C, RFS_ACT_NONE, 0);
    lin(f, f->ctx, f->st, cs->qp_off, F, Ld * 3 * HP, cs->qpos, C, cw->off_stack, NULL, BQ,
        Ld * 3 * HP, C, RFS_ACT_NONE, 0);
    rfs_add_rows_cuda(cs->t_h, T, C, cs->t, C, NULL, 0, BQ, C, f->st);
    /* the value projections of every layer in one product: value (B*N, L*C) */
    lin(f, f->ctx, f->st, cs->value, T, Ld * C, cs->p4, C, cw->val_stack, cw->val_bstack,
        f->B * c->grid * c->grid, Ld * C, C, RFS_ACT_NONE, 0);
}

/* One post-norm decoder layer (6.4); t (fp32) is the running target, t_h its T copy, both
 * written by each norm (dn). */
static void dec_layer(const fwd *f, int l, rfs_ln_args *dn) {
    const rfs_config *c = f->c;
    const rfs_dec_layer *L = &f->w->dec[l];
    cuda_state *cs = f->cs;
    const rfs_dtype T = f->T, F = RFS_DT_F32;
    const int C = c->hidden_dim, nq = c->num_queries, BQ = f->B * nq, Ld = c->dec_layers;
    const int HP = c->ca_heads * c->dec_points, FF = c->dim_feedforward, G = c->grid;
    /* self-attention: q = k = (t + qpos) W, v = t W_v: one product of t plus the
     * precomputed [qpos W_q, qpos W_k, 0] */
    rfs_linear_add_cuda(f->ctx, cs->sa_qkv, T, 3 * C, AT(cs->qp_qk, l * 3 * C), Ld * 3 * C,
                        cs->t_h, C, rfs_cuda_wt(f->cw, L->sa_in_w), T,
                        rfs_cuda_wt(f->cw, L->sa_in_b), BQ, 3 * C, C, f->st);
    rfs_attention_cuda(cs->sa_o, C, cs->sa_qkv, 3 * C, AT(cs->sa_qkv, C), 3 * C,
                       AT(cs->sa_qkv, 2 * C), 3 * C, T, f->B, nq, c->sa_heads, C / c->sa_heads,
                       f->st);
    lin(f, f->ctx, f->st, cs->t, F, C, cs->sa_o, C, L->sa_out_w, L->sa_out_b, BQ, C, C,
        RFS_ACT_NONE, 1);
    dn->g = L->n1_w, dn->b = L->n1_b;
    rfs_layernorm_cuda(dn, f->st);
    /* deformable cross-attention on the memory, query = t + qpos */
    rfs_linear_add_cuda(f->ctx, cs->offaw, F, 3 * HP, cs->qp_off + (size_t)l * 3 * HP,
                        Ld * 3 * HP, cs->t_h, C, rfs_cuda_wt(f->cw, L->off_w), T, L->off_b, BQ,
                        3 * HP, C, f->st);
    rfs_msda_cuda(cs->sa_o, AT(cs->value, l * C), Ld * C, T, G, G, cs->offaw, 3 * HP, cs->ref,
                  f->B, nq, c->ca_heads, C / c->ca_heads, c->dec_points, f->st);
    lin(f, f->ctx, f->st, cs->t, F, C, cs->sa_o, C, L->out_w, L->out_b, BQ, C, C, RFS_ACT_NONE, 1);
    dn->g = L->n2_w, dn->b = L->n2_b;
    rfs_layernorm_cuda(dn, f->st);
    /* FFN */
    lin(f, f->ctx, f->st, cs->tmp, T, FF, cs->t_h, C, L->l1_w, L->l1_b, BQ, FF, C, RFS_ACT_RELU, 0);
    lin(f, f->ctx, f->st, cs->t, F, C, cs->tmp, FF, L->l2_w, L->l2_b, BQ, C, FF, RFS_ACT_NONE, 1);
    dn->g = L->n3_w, dn->b = L->n3_b;
    rfs_layernorm_cuda(dn, f->st);
}

/* Class and box heads on the normalised decoder output (7). */
static void heads(const fwd *f) {
    const rfs_config *c = f->c;
    const rfs_weights *w = f->w;
    cuda_state *cs = f->cs;
    const rfs_dtype T = f->T, F = RFS_DT_F32;
    const int C = c->hidden_dim, K = c->num_classes, BQ = f->B * c->num_queries;
    lin(f, f->ctx, f->st, cs->logits, F, K, cs->hs_h, C, w->cls_w, w->cls_b, BQ, K, C, RFS_ACT_NONE, 0);
    lin(f, f->ctx, f->st, cs->h2a, T, C, cs->hs_h, C, w->box_w[0], w->box_b[0], BQ, C, C, RFS_ACT_RELU, 0);
    lin(f, f->ctx, f->st, cs->h2b, T, C, cs->h2a, C, w->box_w[1], w->box_b[1], BQ, C, C, RFS_ACT_RELU, 0);
    lin(f, f->ctx, f->st, cs->deltas, F, 4, cs->h2b, C, w->box_w[2], w->box_b[2], BQ, 4, C,
        RFS_ACT_NONE, 0);
    rfs_box_reparam_cuda(cs->boxes, cs->deltas, cs->ref, BQ, f->st);
}

/* ---- segmentation head (8) ------------------------------------------------------------------ */

/* The spatial branch (8 steps 1-3) on stream st / ctx: the projector output upsampled to
 * R/4, then the blocks f0 += GELU(pwconv1(LN(dwconv(f0)))); the last block writes its
 * result into the first C columns of fl (column C holds ones, see seg_head). */
static void seg_spatial(const fwd *f, cudaStream_t st, rfs_cuda_ctx *ctx) {
    const rfs_config *c = f->c;
    cuda_state *cs = f->cs;
    const int C = c->hidden_dim, G = c->grid, H4 = c->mask_side, P = H4 * H4;
    rfs_resize_bilinear_cuda(cs->f0, H4, H4, cs->p4, f->T, G, G, C, f->B, st);
    for (int b = 0; b < c->dec_layers; b++) {
        const rfs_seg_block *Bk = &f->w->seg[b];
        rfs_dwconv3x3_ln_cuda(cs->fa, f->T, cs->f0, Bk->dw_w, Bk->dw_b, Bk->ln_w, Bk->ln_b,
                              1e-6f, f->B, H4, H4, C, st);
        lin(f, ctx, st, cs->fb, f->T, C, cs->fa, C, Bk->pw_w, Bk->pw_b, f->B * P, C, C,
            RFS_ACT_NONE, 0);
        const int last = b == c->dec_layers - 1;
        rfs_gelu_residual_cuda(cs->f0, last ? cs->fl : NULL, C + 8, cs->fb, f->T, f->B * P, C, st);
    }
}

/* The query branch and the mask product: masks = qf . spatial^T + bias. */
static void seg_head(const fwd *f) {
    const rfs_config *c = f->c;
    const rfs_weights *w = f->w;
    const cuda_weights *cw = f->cw;
    cuda_state *cs = f->cs;
    const rfs_dtype T = f->T, F = RFS_DT_F32;
    const int C = c->hidden_dim, S = c->seg_mlp, nq = c->num_queries, BQ = f->B * nq;
    const int P = c->mask_side * c->mask_side;
    ln(f->st, cs->hs, F, C, cs->t_h, T, C, w->seg_qln_w, w->seg_qln_b, 1e-5f, BQ, C);
    lin(f, f->ctx, f->st, cs->tmp, T, S, cs->t_h, C, w->seg_q1_w, w->seg_q1_b, BQ, S, C,
        RFS_ACT_NONE, 0);
    rfs_act_cuda(cs->tmp, T, (size_t)BQ * S, RFS_ACT_GELU, f->st);
    lin(f, f->ctx, f->st, cs->hs, F, C, cs->tmp, S, w->seg_q2_w, w->seg_q2_b, BQ, C, S,
        RFS_ACT_NONE, 1);
    rfs_add_rows_cuda(cs->tq, T, C, cs->hs, C, NULL, 0, BQ, C, f->st);
    lin(f, f->ctx, f->st, cs->qf, T, C, cs->tq, C, w->seg_qp_w, w->seg_qp_b, BQ, C, C,
        RFS_ACT_NONE, 0);
    /* masks = qf . (f W_sp^T + b_sp)^T + bias = [qf W_sp, qf.b_sp + bias] . [f, 1]^T: the
     * 1x1 spatial projection moves to the nq query rows instead of the B*P pixels */
    lin(f, f->ctx, f->st, cs->qf2, T, C + 8, cs->qf, C, cw->sp_aug, cw->sp_aug_b, BQ, C + 8, C,
        RFS_ACT_NONE, 0);
    if (!f->profile) { /* join the spatial branch */
        CUDA_CHECK(cudaEventRecord(cs->ev_join, cs->st2));
        CUDA_CHECK(cudaStreamWaitEvent(f->st, cs->ev_join, 0));
    }
    rfs_linear_batched_cuda(f->ctx, cs->masks, F, P, (long long)nq * P, cs->qf2, C + 8,
                            (long long)nq * (C + 8), cs->fl, (long long)P * (C + 8), T, NULL, nq,
                            P, C + 8, f->B, f->st);
}

/* ---- the whole network ---------------------------------------------------------------------- */

void rfs_cuda_enqueue_net(const rfs_model *m, cuda_state *cs, int B, int profile) {
    const fwd fw = {&m->cfg, cs->cw, &cs->cw->w, cs, B, cs->T, cs->tsz, cs->st, cs->ctx, profile};
    const fwd *f = &fw;
    const rfs_config *c = &m->cfg;

    stage(f, 0);
    backbone(f);
    stage(f, 1);
    projector(f);
    if (!profile) { /* fork the seg head's spatial branch onto the second stream */
        CUDA_CHECK(cudaEventRecord(cs->ev_fork, f->st));
        CUDA_CHECK(cudaStreamWaitEvent(cs->st2, cs->ev_fork, 0));
        seg_spatial(f, cs->st2, cs->ctx2);
    }
    stage(f, 2);
    two_stage(f);
    query_pos(f);
    stage(f, 3);
    rfs_ln_args dn;
    memset(&dn, 0, sizeof dn);
    dn.x = cs->t, dn.xt = RFS_DT_F32, dn.ldx = c->hidden_dim, dn.y = cs->t_h, dn.yt = f->T;
    dn.ldy = c->hidden_dim, dn.y32 = cs->t, dn.ldy32 = c->hidden_dim, dn.eps = 1e-5f;
    dn.act = RFS_ACT_NONE, dn.M = B * c->num_queries, dn.C = c->hidden_dim;
    for (int l = 0; l < c->dec_layers; l++) dec_layer(f, l, &dn);
    {
        rfs_ln_args a = dn; /* decoder.norm */
        a.y = cs->hs_h, a.y32 = cs->hs;
        a.g = f->w->dec_ln_w, a.b = f->w->dec_ln_b;
        rfs_layernorm_cuda(&a, f->st);
    }
    stage(f, 4);
    heads(f);
    stage(f, 5);
    if (profile) seg_spatial(f, f->st, f->ctx);
    seg_head(f);
    stage(f, 6);
}
