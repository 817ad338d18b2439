/* backend.cu - the CUDA session: weights on the device, activation buffers sized once for
 * (model, max_batch), the forward pass of a whole batch (mirroring model/forward_cpu.c,
 * section numbers of rfdetr-seg-model.md in the comments), one CUDA graph per batch size.
 *
 * Precision. fp32 sessions run every op in fp32 (parity with the CPU). fp16/bf16 sessions
 * keep a converted copy of the weights and store the activations that feed matrix
 * products ("T" buffers) in that type, and also the seg head's features (four residual
 * blocks over (R/4)^2 pixels: the largest memory traffic of the network at large batch);
 * the ViT's and the decoder's residual streams, LayerNorm statistics and inputs, logits,
 * boxes, sampling offsets and masks stay fp32, and every product accumulates in fp32.
 *
 * Layer scale. x + ls * (W a + b) is computed as x + (ls W) a + ls b: the ViT's
 * attention.output.dense and mlp.fc2 rows are pre-scaled on the device at upload, so the
 * residual add is the GEMM's accumulate (beta = 1) with no extra pass.
 *
 * Streams. The seg head's spatial branch (upsample, blocks, projection) depends only on
 * the projector output; it is captured on a second stream (own cuBLASLt workspace) and
 * runs concurrently with the two-stage selection and the decoder. */
#include "cuda/state.cuh"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


/* ---- small kernels of the upload ----------------------------------------------------- */

/* rows of w (rows, cols) and b (rows) scaled by s (rows) */
__global__ void scale_rows_kernel(float *w, float *b, const float *s, int rows, int cols) {
    const size_t n = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int r = (int)(i / cols);
        w[i] *= s[r];
        if (i % cols == 0) b[r] *= s[r];
    }
}

/* [W_sp^T; b_sp; 0] (C+8, C) and its bias [0 (C), seg_bias, 0 (7)]; zeroed before */
__global__ void sp_aug_kernel(float *aug, float *aug_b, const float *wsp, const float *bsp,
                              const float *seg_bias, int C) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < C * C) {
        const int r = i / C, k = i % C; /* aug[r][k] = W_sp[k][r] */
        aug[i] = wsp[(size_t)k * C + r];
    }
    if (i < C) aug[(size_t)C * C + i] = bsp[i];
    if (i == 0) aug_b[C] = seg_bias[0];
}

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

/* ---- helpers ---------------------------------------------------------------------------- */

static rfs_status dev_alloc(void **p, size_t bytes, const char *what) {
    if (cudaMalloc(p, bytes ? bytes : 1) != cudaSuccess) {
        cudaGetLastError();
        *p = NULL;
        return rfs_fail(RFS_ERR_NOMEM, "out of device memory: %s needs %.1f MiB", what,
                        bytes / (1024.0 * 1024.0));
    }
    return RFS_OK;
}

/* The T-typed copy of a weight given by its fp32 device pointer. */
static const void *WT(const cuda_state *cs, const float *p) {
    if (cs->T == RFS_DT_F32) return p;
    if (p >= cs->warena && p < cs->warena + cs->wlen)
        return (const char *)cs->harena + (size_t)(p - cs->warena) * cs->tsz;
    RFS_CHECK(p >= cs->xarena && p < cs->xarena + cs->xlen);
    return (const char *)cs->xharena + (size_t)(p - cs->xarena) * cs->tsz;
}

/* y = x . w^T + b through the session's weights: w and b are fp32 device pointers into
 * the weight arena; the product uses their T copies (b in y's type). */
static void lin(const cuda_state *cs, rfs_cuda_ctx *ctx, cudaStream_t st, void *y, rfs_dtype yt,
                int ldy, const void *x, int ldx, const float *w, const float *b, int M, int N,
                int K, rfs_act act, int accumulate) {
    const void *bb = !b ? NULL : yt == RFS_DT_F32 ? (const void *)b : WT(cs, b);
    RFS_CHECK(yt == RFS_DT_F32 || yt == cs->T);
    rfs_linear_cuda(ctx, y, yt, ldy, x, ldx, WT(cs, w), cs->T, bb, M, N, K, act, accumulate, st);
}

static void ln(cudaStream_t st, const void *x, rfs_dtype xt, int ldx, void *y, rfs_dtype yt,
               int ldy, const float *g, const float *b, float eps, int M, int C) {
    rfs_ln_args a;
    memset(&a, 0, sizeof a);
    a.x = x, a.xt = xt, a.ldx = ldx, a.y = y, a.yt = yt, a.ldy = ldy;
    a.g = g, a.b = b, a.eps = eps, a.act = RFS_ACT_NONE, a.M = M, a.C = C;
    rfs_layernorm_cuda(&a, st);
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

/* ---- the forward pass ----------------------------------------------------------------- */

static const char *STAGE_NAMES[] = {"patch embed", "vit layers", "taps + projector",
                                    "two-stage select", "decoder", "heads", "seg head"};
enum { N_STAGES = 7 };

/* Enqueues the whole network for B images on cs->st. profile: serial (no side stream)
 * with an event before each stage and at the end (cs->ev_stage). */
void rfs_cuda_enqueue_net(const rfs_session *s, cuda_state *cs, int B, int profile) {
    const rfs_config *c = &s->m->cfg;
    const rfs_weights *w = &cs->w;
    const rfs_dtype T = cs->T, F = RFS_DT_F32;
    const size_t ts = cs->tsz;
    cudaStream_t st = cs->st;
    rfs_cuda_ctx *ctx = cs->ctx;
    const int D = c->vit_dim, Mm = c->vit_mlp, C = c->hidden_dim, hc = C / 2, G = c->grid;
    const int N = G * G, nw = c->num_windows, gw = G / nw, Tw = 1 + gw * gw, NT = nw * nw * Tw;
    const int ps = c->patch_size, R = c->resolution, K = c->num_classes, nq = c->num_queries;
    const int HP = c->ca_heads * c->dec_points, FF = c->dim_feedforward, S = c->seg_mlp;
    const int H4 = c->mask_side, P = H4 * H4, nb = c->proj_blocks, ntap = c->num_taps;
    const int ldtap = ntap * D, ldc = (2 + nb) * hc, Ld = c->dec_layers;
    const int BN = B * N, BQ = B * nq;
#define AT(buf, elems) ((void *)((char *)(buf) + (size_t)(elems) * ts)) /* T buffer + offset */
#define STAGE(i) \
    if (profile) CUDA_CHECK(cudaEventRecordWithFlags(cs->ev_stage[i], st, cudaEventRecordExternal))

    /* ---- backbone (3) ---- */
    STAGE(0);
    rfs_patch_gather_cuda(cs->patches, T, cs->input, B, R, ps, st);
    lin(cs, ctx, st, cs->pe, F, D, cs->patches, 3 * ps * ps, w->patch_w, w->patch_b, BN, D,
        3 * ps * ps, RFS_ACT_NONE, 0);
    rfs_embed_cuda(cs->x, cs->pe, w->cls, w->pos, B, G, nw, D, st);
    STAGE(1);
    /* a tap (3.6) normalises the same rows as the next layer's norm1: both come from one
     * pass (rfs_ln_args.tap_y); a tap after the last layer gets its own pass */
    int next_tap = 0, pending = -1;
    for (int i = 0; i < c->vit_layers; i++) {
        const rfs_vit_layer *L = &w->vit[i];
        int global = nw == 1;
        for (int k = 0; k < ntap; k++) global |= c->tap_layers[k] == i - 1;
        {
            rfs_ln_args a;
            memset(&a, 0, sizeof a);
            a.x = cs->x, a.xt = F, a.ldx = D, a.y = cs->xn, a.yt = T, a.ldy = D;
            a.g = L->ln1_w, a.b = L->ln1_b, a.eps = 1e-6f, a.M = B * NT, a.C = D;
            if (pending >= 0) {
                a.tap_y = AT(cs->taps, pending * D), a.tap_ld = ldtap;
                a.tap_g = w->vit_ln_w, a.tap_b = w->vit_ln_b, a.tap_G = G, a.tap_nw = nw;
                pending = -1;
            }
            rfs_layernorm_cuda(&a, st);
        }
        lin(cs, ctx, st, cs->qkv, T, 3 * D, cs->xn, D, L->q_w, L->q_b, B * NT, 3 * D, D,
            RFS_ACT_NONE, 0);
        rfs_attention_cuda(cs->att, D, cs->qkv, 3 * D, AT(cs->qkv, D), 3 * D, AT(cs->qkv, 2 * D),
                           3 * D, T, global ? B : B * nw * nw, global ? NT : Tw, c->vit_heads, 64,
                           st);
        lin(cs, ctx, st, cs->x, F, D, cs->att, D, L->o_w, L->o_b, B * NT, D, D, RFS_ACT_NONE, 1);
        ln(st, cs->x, F, D, cs->xn, T, D, L->ln2_w, L->ln2_b, 1e-6f, B * NT, D);
        lin(cs, ctx, st, cs->mlp, T, Mm, cs->xn, D, L->fc1_w, L->fc1_b, B * NT, Mm, D,
            RFS_ACT_NONE, 0);
        rfs_act_cuda(cs->mlp, T, (size_t)B * NT * Mm, RFS_ACT_GELU, st);
        lin(cs, ctx, st, cs->x, F, D, cs->mlp, Mm, L->fc2_w, L->fc2_b, B * NT, D, Mm,
            RFS_ACT_NONE, 1);
        if (next_tap < ntap && c->tap_layers[next_tap] == i) {
            if (i + 1 < c->vit_layers) {
                pending = next_tap;
            } else {
                rfs_ln_args a;
                memset(&a, 0, sizeof a);
                a.x = cs->x, a.xt = F, a.ldx = D;
                a.y = AT(cs->taps, next_tap * D), a.yt = T, a.ldy = ldtap;
                a.g = w->vit_ln_w, a.b = w->vit_ln_b, a.eps = 1e-6f, a.M = BN, a.C = D;
                a.tap_G = G, a.tap_nw = nw;
                rfs_layernorm_cuda(&a, st);
            }
            next_tap++;
        }
    }

    /* ---- projector (4): ConvX = conv (no bias) -> LN(1e-6) -> SiLU ---- */
    STAGE(2);
    {
        rfs_ln_args a;
        memset(&a, 0, sizeof a);
        a.xt = F, a.yt = T, a.eps = 1e-6f, a.act = RFS_ACT_SILU, a.M = BN;
        lin(cs, ctx, st, cs->pj_y, F, 2 * hc, cs->taps, ldtap, w->pj_cv1.w, NULL, BN, 2 * hc,
            ldtap, RFS_ACT_NONE, 0);
        a.x = cs->pj_y, a.ldx = 2 * hc, a.y = cs->pj_cat, a.ldy = ldc, a.C = 2 * hc;
        a.g = w->pj_cv1.ln_w, a.b = w->pj_cv1.ln_b;
        rfs_layernorm_cuda(&a, st);
        for (int j = 0; j < nb; j++) {
            /* bottleneck j reads chunk j+1 of the concat and writes chunk j+2, no residual */
            rfs_im2col3x3_cuda(cs->col, AT(cs->pj_cat, (1 + j) * hc), ldc, T, B, G, G, hc, st);
            lin(cs, ctx, st, cs->pj_y, F, hc, cs->col, 9 * hc, w->pj_m[j][0].w, NULL, BN, hc,
                9 * hc, RFS_ACT_NONE, 0);
            a.x = cs->pj_y, a.ldx = hc, a.y = cs->pj_tmp, a.ldy = hc, a.C = hc;
            a.g = w->pj_m[j][0].ln_w, a.b = w->pj_m[j][0].ln_b;
            rfs_layernorm_cuda(&a, st);
            rfs_im2col3x3_cuda(cs->col, cs->pj_tmp, hc, T, B, G, G, hc, st);
            lin(cs, ctx, st, cs->pj_y, F, hc, cs->col, 9 * hc, w->pj_m[j][1].w, NULL, BN, hc,
                9 * hc, RFS_ACT_NONE, 0);
            a.x = cs->pj_y, a.ldx = hc, a.y = AT(cs->pj_cat, (2 + j) * hc), a.ldy = ldc;
            a.g = w->pj_m[j][1].ln_w, a.b = w->pj_m[j][1].ln_b;
            rfs_layernorm_cuda(&a, st);
        }
        lin(cs, ctx, st, cs->pj_y, F, C, cs->pj_cat, ldc, w->pj_cv2.w, NULL, BN, C, ldc,
            RFS_ACT_NONE, 0);
        a.x = cs->pj_y, a.ldx = C, a.y = cs->p4, a.ldy = C, a.C = C;
        a.g = w->pj_cv2.ln_w, a.b = w->pj_cv2.ln_b;
        a.g2 = w->pj_ln_w, a.b2 = w->pj_ln_b, a.eps2 = 1e-6f; /* stages.0.1 */
        rfs_layernorm_cuda(&a, st);
    }

    /* ---- seg head spatial branch (8 steps 1-3), concurrent with the decoder ---- */
    cudaStream_t sst = st;
    rfs_cuda_ctx *sctx = ctx;
    if (!profile) {
        CUDA_CHECK(cudaEventRecord(cs->ev_fork, st));
        CUDA_CHECK(cudaStreamWaitEvent(cs->st2, cs->ev_fork, 0));
        sst = cs->st2, sctx = cs->ctx2;
    }
    auto seg_spatial = [&]() {
        rfs_resize_bilinear_cuda(cs->f0, H4, H4, cs->p4, T, G, G, C, B, sst);
        for (int b = 0; b < c->dec_layers; b++) {
            const rfs_seg_block *Bk = &w->seg[b];
            /* f0 += GELU(pwconv1(LN(dwconv(f0)))); the last block writes its result into the
             * first C columns of fl (column C holds ones, see the mask product) */
            rfs_dwconv3x3_ln_cuda(cs->fa, T, cs->f0, Bk->dw_w, Bk->dw_b, Bk->ln_w, Bk->ln_b,
                                  1e-6f, B, H4, H4, C, sst);
            lin(cs, sctx, sst, cs->fb, T, C, cs->fa, C, Bk->pw_w, Bk->pw_b, B * P, C, C,
                RFS_ACT_NONE, 0);
            const int last = b == c->dec_layers - 1;
            rfs_gelu_residual_cuda(cs->f0, last ? cs->fl : NULL, C + 8, cs->fb, T, B * P, C, sst);
        }
    };
    if (!profile) seg_spatial();

    /* ---- two-stage selection (6.1, 6.2) ---- */
    STAGE(3);
    const void *mem = cs->p4;
    if (cs->any_invalid) {
        rfs_mask_invalid_cuda(cs->omem, cs->p4, T, B, G, C, st);
        mem = cs->omem;
    }
    lin(cs, ctx, st, cs->pj_y, F, C, mem, C, w->enc_w, w->enc_b, BN, C, C, RFS_ACT_NONE, 0);
    ln(st, cs->pj_y, F, C, cs->enc, T, C, w->enc_ln_w, w->enc_ln_b, 1e-5f, BN, C);
    lin(cs, ctx, st, cs->enc_cls, F, K, cs->enc, C, w->enc_cls_w, w->enc_cls_b, BN, K, C,
        RFS_ACT_NONE, 0);
    lin(cs, ctx, st, cs->h2a, T, C, cs->enc, C, w->enc_box_w[0], w->enc_box_b[0], BN, C, C,
        RFS_ACT_RELU, 0);
    lin(cs, ctx, st, cs->h2b, T, C, cs->h2a, C, w->enc_box_w[1], w->enc_box_b[1], BN, C, C,
        RFS_ACT_RELU, 0);
    lin(cs, ctx, st, cs->enc_d, F, 4, cs->h2b, C, w->enc_box_w[2], w->enc_box_b[2], BN, 4, C,
        RFS_ACT_NONE, 0);
    rfs_two_stage_select_cuda(cs->ref, cs->order, cs->enc_cls, K, cs->enc_d, w->refpoint, G, nq,
                              B, st);
    rfs_broadcast_rows_cuda(cs->t, w->query_feat, nq, C, B, st);
    /* query position (6.3), computed once for all layers, and its products with every
     * layer's weights: the decoder never forms t + qpos, it adds qpos.W to t.W instead */
    rfs_sine_embed_cuda(cs->sine, T, cs->ref, BQ, C, st);
    lin(cs, ctx, st, cs->tmp, T, C, cs->sine, 2 * C, w->rph_w[0], w->rph_b[0], BQ, C, 2 * C,
        RFS_ACT_RELU, 0);
    lin(cs, ctx, st, cs->qpos, T, C, cs->tmp, C, w->rph_w[1], w->rph_b[1], BQ, C, C,
        RFS_ACT_NONE, 0);
    lin(cs, ctx, st, cs->qp_qk, T, Ld * 3 * C, cs->qpos, C, cs->qk_stack, NULL, BQ, Ld * 3 * C,
        C, RFS_ACT_NONE, 0);
    lin(cs, ctx, st, cs->qp_off, F, Ld * 3 * HP, cs->qpos, C, cs->off_stack, NULL, BQ,
        Ld * 3 * HP, C, RFS_ACT_NONE, 0);
    rfs_add_rows_cuda(cs->t_h, T, C, cs->t, C, NULL, 0, BQ, C, st);

    /* ---- decoder (6.4), post-norm; t (fp32) is the running target, t_h its T copy ---- */
    STAGE(4);
    /* the value projections of every layer in one product: value (B*N, L*C) */
    lin(cs, ctx, st, cs->value, T, Ld * C, cs->p4, C, cs->val_stack, cs->val_bstack, BN, Ld * C,
        C, RFS_ACT_NONE, 0);
    rfs_ln_args dn;
    memset(&dn, 0, sizeof dn);
    dn.x = cs->t, dn.xt = F, dn.ldx = C, dn.y = cs->t_h, dn.yt = T, dn.ldy = C;
    dn.y32 = cs->t, dn.ldy32 = C, dn.eps = 1e-5f, dn.act = RFS_ACT_NONE, dn.M = BQ, dn.C = C;
    for (int l = 0; l < Ld; l++) {
        const rfs_dec_layer *L = &w->dec[l];
        /* self-attention: q = k = (t + qpos) W, v = t W_v: one product of t plus the
         * precomputed [qpos W_q, qpos W_k, 0] */
        rfs_linear_add_cuda(ctx, cs->sa_qkv, T, 3 * C, AT(cs->qp_qk, l * 3 * C), Ld * 3 * C,
                            cs->t_h, C, WT(cs, L->sa_in_w), T, WT(cs, L->sa_in_b), BQ, 3 * C, C, st);
        rfs_attention_cuda(cs->sa_o, C, cs->sa_qkv, 3 * C, AT(cs->sa_qkv, C), 3 * C,
                           AT(cs->sa_qkv, 2 * C), 3 * C, T, B, nq, c->sa_heads, C / c->sa_heads, st);
        lin(cs, ctx, st, cs->t, F, C, cs->sa_o, C, L->sa_out_w, L->sa_out_b, BQ, C, C,
            RFS_ACT_NONE, 1);
        dn.g = L->n1_w, dn.b = L->n1_b;
        rfs_layernorm_cuda(&dn, st);
        /* deformable cross-attention on the memory, query = t + qpos */
        rfs_linear_add_cuda(ctx, cs->offaw, F, 3 * HP, cs->qp_off + (size_t)l * 3 * HP,
                            Ld * 3 * HP, cs->t_h, C, WT(cs, L->off_w), T, L->off_b, BQ, 3 * HP, C,
                            st);
        rfs_msda_cuda(cs->sa_o, AT(cs->value, l * C), Ld * C, T, G, G, cs->offaw, 3 * HP, cs->ref,
                      B, nq, c->ca_heads, C / c->ca_heads, c->dec_points, st);
        lin(cs, ctx, st, cs->t, F, C, cs->sa_o, C, L->out_w, L->out_b, BQ, C, C, RFS_ACT_NONE, 1);
        dn.g = L->n2_w, dn.b = L->n2_b;
        rfs_layernorm_cuda(&dn, st);
        /* FFN */
        lin(cs, ctx, st, cs->tmp, T, FF, cs->t_h, C, L->l1_w, L->l1_b, BQ, FF, C, RFS_ACT_RELU, 0);
        lin(cs, ctx, st, cs->t, F, C, cs->tmp, FF, L->l2_w, L->l2_b, BQ, C, FF, RFS_ACT_NONE, 1);
        dn.g = L->n3_w, dn.b = L->n3_b;
        rfs_layernorm_cuda(&dn, st);
    }
    {
        rfs_ln_args a = dn;
        a.y = cs->hs_h, a.y32 = cs->hs;
        a.g = w->dec_ln_w, a.b = w->dec_ln_b;
        rfs_layernorm_cuda(&a, st);
    }

    /* ---- heads (7) ---- */
    STAGE(5);
    lin(cs, ctx, st, cs->logits, F, K, cs->hs_h, C, w->cls_w, w->cls_b, BQ, K, C, RFS_ACT_NONE, 0);
    lin(cs, ctx, st, cs->h2a, T, C, cs->hs_h, C, w->box_w[0], w->box_b[0], BQ, C, C, RFS_ACT_RELU, 0);
    lin(cs, ctx, st, cs->h2b, T, C, cs->h2a, C, w->box_w[1], w->box_b[1], BQ, C, C, RFS_ACT_RELU, 0);
    lin(cs, ctx, st, cs->deltas, F, 4, cs->h2b, C, w->box_w[2], w->box_b[2], BQ, 4, C,
        RFS_ACT_NONE, 0);
    rfs_box_reparam_cuda(cs->boxes, cs->deltas, cs->ref, BQ, st);

    /* ---- seg head (8): query features, then masks = qf . spatial^T + bias ---- */
    STAGE(6);
    if (profile) seg_spatial();
    ln(st, cs->hs, F, C, cs->t_h, T, C, w->seg_qln_w, w->seg_qln_b, 1e-5f, BQ, C);
    lin(cs, ctx, st, cs->tmp, T, S, cs->t_h, C, w->seg_q1_w, w->seg_q1_b, BQ, S, C, RFS_ACT_NONE, 0);
    rfs_act_cuda(cs->tmp, T, (size_t)BQ * S, RFS_ACT_GELU, st);
    lin(cs, ctx, st, cs->hs, F, C, cs->tmp, S, w->seg_q2_w, w->seg_q2_b, BQ, C, S, RFS_ACT_NONE, 1);
    rfs_add_rows_cuda(cs->tq, T, C, cs->hs, C, NULL, 0, BQ, C, st);
    lin(cs, ctx, st, cs->qf, T, C, cs->tq, C, w->seg_qp_w, w->seg_qp_b, BQ, C, C, RFS_ACT_NONE, 0);
    /* masks = qf . (f W_sp^T + b_sp)^T + bias = [qf W_sp, qf.b_sp + bias] . [f, 1]^T: the
     * 1x1 spatial projection moves to the nq query rows instead of the B*P pixels */
    lin(cs, ctx, st, cs->qf2, T, C + 8, cs->qf, C, cs->sp_aug, cs->sp_aug_b, BQ, C + 8, C,
        RFS_ACT_NONE, 0);
    if (!profile) {
        CUDA_CHECK(cudaEventRecord(cs->ev_join, cs->st2));
        CUDA_CHECK(cudaStreamWaitEvent(st, cs->ev_join, 0));
    }
    rfs_linear_batched_cuda(ctx, cs->masks, F, P, (long long)nq * P, cs->qf2, C + 8,
                            (long long)nq * (C + 8), cs->fl, (long long)P * (C + 8), T, NULL, nq,
                            P, C + 8, B, st);
    STAGE(7);
#undef STAGE
#undef AT
}

/* ---- session hooks ------------------------------------------------------------------------ */

static void state_free(cuda_state *cs) {
    if (!cs) return;
    cudaSetDevice(cs->device);
    if (cs->lane1) state_free(cs->lane1);
    if (cs->st) cudaStreamSynchronize(cs->st);
    rfs_cuda_pipe_free(cs);
    if (cs->graphs) {
        for (int b = 0; b <= cs->max_batch; b++)
            if (cs->graphs[b]) cudaGraphExecDestroy(cs->graphs[b]);
        free(cs->graphs);
    }
    for (int i = 0; i < cs->npinned; i++) cudaHostUnregister(cs->pinned[i]);
    for (int i = 0; i <= MAX_STAGES; i++)
        if (cs->ev_stage[i]) cudaEventDestroy(cs->ev_stage[i]);
    if (cs->ev_fork) cudaEventDestroy(cs->ev_fork);
    if (cs->ev_join) cudaEventDestroy(cs->ev_join);
    cudaFree(cs->mem);
    if (!cs->is_clone) { /* a clone shares lane 0's weights */
        cudaFree(cs->harena);
        cudaFree(cs->warena);
        cudaFree(cs->xharena);
        cudaFree(cs->xarena);
    }
    rfs_cuda_ctx_free(cs->ctx);
    rfs_cuda_ctx_free(cs->ctx2);
    if (cs->st) cudaStreamDestroy(cs->st);
    if (cs->st2) cudaStreamDestroy(cs->st2);
    cudaGetLastError();
    free(cs);
}

extern "C" void rfs_cuda_session_free(rfs_session *s) {
    if (!s || !s->cuda) return;
    state_free((cuda_state *)s->cuda);
    s->cuda = NULL;
}

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

static void pin(cuda_state *cs, void *p, size_t bytes) {
    if (!p || cs->npinned >= 4) return;
    if (cudaHostRegister(p, bytes, cudaHostRegisterDefault) == cudaSuccess)
        cs->pinned[cs->npinned++] = p;
    else
        cudaGetLastError(); /* pageable copies still work, only slower */
}

/* The per-lane part of the state: streams, events, cuBLASLt contexts, activations and
 * the graph table (weights and settings are already in cs). */
static rfs_status lane_buffers(cuda_state *cs, const rfs_config *c) {
    rfs_status st;
    if (!cs->ctx && (st = rfs_cuda_ctx_create(&cs->ctx)) != RFS_OK) return st;
    if (!cs->ctx2 && (st = rfs_cuda_ctx_create(&cs->ctx2)) != RFS_OK) return st;
    if (!cs->st) CUDA_CHECK(cudaStreamCreateWithFlags(&cs->st, cudaStreamNonBlocking));
    if (!cs->st2) CUDA_CHECK(cudaStreamCreateWithFlags(&cs->st2, cudaStreamNonBlocking));
    if (!cs->ev_fork) CUDA_CHECK(cudaEventCreateWithFlags(&cs->ev_fork, cudaEventDisableTiming));
    if (!cs->ev_join) CUDA_CHECK(cudaEventCreateWithFlags(&cs->ev_join, cudaEventDisableTiming));
    for (int i = 0; i <= MAX_STAGES; i++)
        if (!cs->ev_stage[i]) CUDA_CHECK(cudaEventCreate(&cs->ev_stage[i]));
    const size_t bytes = layout(cs, c, cs->max_batch, NULL);
    if (dev_alloc(&cs->mem, bytes, "activations") != RFS_OK)
        return rfs_fail(RFS_ERR_NOMEM, "out of device memory: %s at batch %d needs %.1f MiB of "
                        "activations", c->size, cs->max_batch, bytes / (1024.0 * 1024.0));
    layout(cs, c, cs->max_batch, (char *)cs->mem);
    /* the ones column (and zero padding) of the mask product's spatial operand */
    const size_t P = (size_t)c->mask_side * c->mask_side;
    ones_column_kernel<<<nblocks(P * cs->max_batch, 256), 256, 0, cs->st>>>(cs->fl, cs->T,
        (size_t)cs->max_batch * P, c->hidden_dim);
    CUDA_LAUNCH_CHECK();
    cs->graphs = (cudaGraphExec_t *)calloc((size_t)cs->max_batch + 1, sizeof(cudaGraphExec_t));
    if (!cs->graphs) return rfs_fail(RFS_ERR_NOMEM, "out of memory for the graph table");
    return RFS_OK;
}

cuda_state *rfs_cuda_lane(rfs_session *s, int i) {
    cuda_state *cs = (cuda_state *)s->cuda;
    if (!cs || i == 0) return cs;
    if (cs->lane1) return cs->lane1;
    CUDA_CHECK(cudaSetDevice(cs->device));
    cuda_state *l = (cuda_state *)malloc(sizeof *l);
    if (!l) {
        rfs_fail(RFS_ERR_NOMEM, "out of memory for a second CUDA lane");
        return NULL;
    }
    *l = *cs; /* weights, settings */
    l->ctx = l->ctx2 = NULL;
    l->st = l->st2 = NULL;
    l->ev_fork = l->ev_join = NULL;
    memset(l->ev_stage, 0, sizeof l->ev_stage);
    l->mem = NULL;
    l->graphs = NULL;
    l->npinned = 0;
    l->is_clone = 1;
    l->lane1 = NULL;
    l->pipe = NULL;
    if (lane_buffers(l, &s->m->cfg) != RFS_OK) {
        state_free(l);
        return NULL;
    }
    CUDA_CHECK(cudaStreamSynchronize(l->st));
    cs->lane1 = l;
    return l;
}

extern "C" rfs_status rfs_cuda_session_init(rfs_session *s) {
    const rfs_model *m = s->m;
    const rfs_config *c = &m->cfg;
    rfs_status st = check_config(c);
    if (st != RFS_OK) return st;
    if (s->o.precision != RFS_FP32 && s->o.precision != RFS_FP16 && s->o.precision != RFS_BF16)
        return rfs_fail(RFS_ERR_ARG, "unknown precision %d", (int)s->o.precision);
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        cudaGetLastError();
        return rfs_fail(RFS_ERR_BACKEND, "no CUDA device available (%s)",
                        e != cudaSuccess ? cudaGetErrorString(e) : "device count is 0");
    }
    if (s->o.device < 0 || s->o.device >= ndev)
        return rfs_fail(RFS_ERR_ARG, "CUDA device %d does not exist (%d present)", s->o.device, ndev);
    cudaDeviceProp prop;
    if (cudaSetDevice(s->o.device) != cudaSuccess ||
        cudaGetDeviceProperties(&prop, s->o.device) != cudaSuccess) {
        cudaGetLastError();
        return rfs_fail(RFS_ERR_BACKEND, "CUDA device %d cannot be used", s->o.device);
    }
    if (prop.major < 8)
        return rfs_fail(RFS_ERR_BACKEND, "CUDA device %s has compute capability %d.%d; 8.0 or "
                        "newer is needed", prop.name, prop.major, prop.minor);

    cuda_state *cs = (cuda_state *)calloc(1, sizeof *cs);
    if (!cs) return rfs_fail(RFS_ERR_NOMEM, "out of memory for the CUDA session");
    cs->device = s->o.device;
    cs->T = (rfs_dtype)s->o.precision; /* RFS_FP32/FP16/BF16 == RFS_DT_F32/F16/BF16 */
    cs->tsz = rfs_dtype_size(cs->T);
    cs->max_batch = s->o.max_batch;
    const char *eager = getenv("RFS_CUDA_EAGER");
    cs->eager = eager && *eager == '1';
    {
        const int G = c->grid;
        for (int t = 0; t < G * G && !cs->any_invalid; t++) {
            float px = (float)((t % G) + 0.5f) / (float)G, py = (float)((t / G) + 0.5f) / (float)G;
            cs->any_invalid = !(px > 0.01f && px < 0.99f && py > 0.01f && py < 0.99f);
        }
    }
    /* streams and contexts first (the weight upload runs on cs->st); the activations
     * follow the weights (lane_buffers skips what exists) */
    if ((st = rfs_cuda_ctx_create(&cs->ctx)) != RFS_OK || (st = rfs_cuda_ctx_create(&cs->ctx2)) != RFS_OK)
        goto fail;
    CUDA_CHECK(cudaStreamCreateWithFlags(&cs->st, cudaStreamNonBlocking));
    CUDA_CHECK(cudaStreamCreateWithFlags(&cs->st2, cudaStreamNonBlocking));

    /* weights: the host arena once, bound through the same table as the host copy */
    {
        rfs_binding *tab = NULL;
        size_t len = 0;
        const int ntab = rfs_bindings_build(&tab, c, &len);
        if (ntab < 0) {
            st = rfs_fail(RFS_ERR_NOMEM, "out of memory building the binding table");
            goto fail;
        }
        RFS_CHECK(len == m->arena_len);
        if ((st = dev_alloc((void **)&cs->warena, len * sizeof(float), "weights")) != RFS_OK) {
            free(tab);
            goto fail;
        }
        CUDA_CHECK(cudaMemcpy(cs->warena, m->arena, len * sizeof(float), cudaMemcpyHostToDevice));
        rfs_bindings_apply(&cs->w, tab, ntab, cs->warena);
        free(tab);
        cs->wlen = len;
        /* decoder restacking (see cuda_state): device-to-device copies of arena rows */
        {
            const size_t C = c->hidden_dim, L = c->dec_layers;
            const size_t HP3 = (size_t)3 * c->ca_heads * c->dec_points;
            const size_t nqk = L * 3 * C * C, noff = L * HP3 * C, nval = L * C * C;
            const size_t nsp = (C + 8) * C;
            cs->xlen = nqk + noff + nval + L * C + nsp + (C + 8);
            if ((st = dev_alloc((void **)&cs->xarena, cs->xlen * sizeof(float), "weights")) != RFS_OK)
                goto fail;
            cs->qk_stack = cs->xarena, cs->off_stack = cs->qk_stack + nqk;
            cs->val_stack = cs->off_stack + noff, cs->val_bstack = cs->val_stack + nval;
            cs->sp_aug = cs->val_bstack + L * C, cs->sp_aug_b = cs->sp_aug + nsp;
            CUDA_CHECK(cudaMemsetAsync(cs->xarena, 0, cs->xlen * sizeof(float), cs->st));
            sp_aug_kernel<<<nblocks(C * C, 256), 256, 0, cs->st>>>(cs->sp_aug, cs->sp_aug_b,
                cs->w.seg_sp_w, cs->w.seg_sp_b, cs->w.seg_bias, (int)C);
            CUDA_LAUNCH_CHECK();
            for (size_t l = 0; l < L; l++) {
                const rfs_dec_layer *D = &cs->w.dec[l];
                CUDA_CHECK(cudaMemcpyAsync(cs->qk_stack + l * 3 * C * C, D->sa_in_w, 2 * C * C * sizeof(float),
                                           cudaMemcpyDeviceToDevice, cs->st));
                CUDA_CHECK(cudaMemcpyAsync(cs->off_stack + l * HP3 * C, D->off_w, HP3 * C * sizeof(float),
                                           cudaMemcpyDeviceToDevice, cs->st));
                CUDA_CHECK(cudaMemcpyAsync(cs->val_stack + l * C * C, D->val_w, C * C * sizeof(float),
                                           cudaMemcpyDeviceToDevice, cs->st));
                CUDA_CHECK(cudaMemcpyAsync(cs->val_bstack + l * C, D->val_b, C * sizeof(float),
                                           cudaMemcpyDeviceToDevice, cs->st));
            }
        }
        for (int i = 0; i < c->vit_layers; i++) { /* fold the layer scales (see top) */
            rfs_vit_layer *L = &cs->w.vit[i];
            const int D = c->vit_dim, Mm = c->vit_mlp;
            scale_rows_kernel<<<nblocks((size_t)D * D, 256), 256, 0, cs->st>>>(L->o_w, L->o_b, L->ls1, D, D);
            CUDA_LAUNCH_CHECK();
            scale_rows_kernel<<<nblocks((size_t)D * Mm, 256), 256, 0, cs->st>>>(L->fc2_w, L->fc2_b, L->ls2, D, Mm);
            CUDA_LAUNCH_CHECK();
        }
        if (cs->T != RFS_DT_F32) {
            if ((st = dev_alloc(&cs->harena, len * cs->tsz, "reduced-precision weights")) != RFS_OK)
                goto fail;
            rfs_convert_cuda(cs->harena, cs->T, cs->warena, RFS_DT_F32, len, cs->st);
            if ((st = dev_alloc(&cs->xharena, cs->xlen * cs->tsz, "reduced-precision weights")) != RFS_OK)
                goto fail;
            rfs_convert_cuda(cs->xharena, cs->T, cs->xarena, RFS_DT_F32, cs->xlen, cs->st);
        }
    }
    if ((st = lane_buffers(cs, c)) != RFS_OK) goto fail;
    CUDA_CHECK(cudaStreamSynchronize(cs->st));
    {
        const size_t B = cs->max_batch, nq = c->num_queries;
        const size_t P = (size_t)c->mask_side * c->mask_side, R = c->resolution;
        pin(cs, s->out_logits, sizeof(float) * B * nq * c->num_classes);
        pin(cs, s->out_boxes, sizeof(float) * B * nq * 4);
        pin(cs, s->out_masks, sizeof(float) * B * nq * P);
        pin(cs, s->input, sizeof(float) * B * 3 * R * R);
    }
    s->cuda = cs;
    return RFS_OK;
fail:
    state_free(cs);
    return st;
}

static cudaGraphExec_t capture(const rfs_session *s, cuda_state *cs, int B, int profile) {
    cudaGraph_t g;
    CUDA_CHECK(cudaStreamBeginCapture(cs->st, cudaStreamCaptureModeThreadLocal));
    rfs_cuda_enqueue_net(s, cs, B, profile);
    CUDA_CHECK(cudaStreamEndCapture(cs->st, &g));
    cudaGraphExec_t ex;
    CUDA_CHECK(cudaGraphInstantiate(&ex, g, 0));
    CUDA_CHECK(cudaGraphDestroy(g));
    return ex;
}

/* Runs the device part of a batch (input already in cs->input) on cs->st. */
static void launch(const rfs_session *s, cuda_state *cs, int B) {
    if (cs->eager) {
        rfs_cuda_enqueue_net(s, cs, B, 0);
        return;
    }
    if (!cs->graphs[B]) {
        /* first batch of this size: run it directly (loads the kernels and the cuBLASLt
         * plans outside any capture), then capture the graph for the next ones */
        rfs_cuda_enqueue_net(s, cs, B, 0);
        CUDA_CHECK(cudaStreamSynchronize(cs->st));
        cs->graphs[B] = capture(s, cs, B, 0);
        return;
    }
    CUDA_CHECK(cudaGraphLaunch(cs->graphs[B], cs->st));
}

extern "C" rfs_status rfs_cuda_forward(rfs_session *s, const float *input, int batch) {
    cuda_state *cs = (cuda_state *)s->cuda;
    if (!cs) return rfs_fail(RFS_ERR_BACKEND, "CUDA session not initialised");
    const rfs_config *c = &s->m->cfg;
    const size_t B = batch, nq = c->num_queries, R = c->resolution;
    const size_t P = (size_t)c->mask_side * c->mask_side;
    CUDA_CHECK(cudaSetDevice(cs->device));
    CUDA_CHECK(cudaMemcpyAsync(cs->input, input, sizeof(float) * B * 3 * R * R,
                               cudaMemcpyHostToDevice, cs->st));
    launch(s, cs, batch);
    CUDA_CHECK(cudaMemcpyAsync(s->out_logits, cs->logits, sizeof(float) * B * nq * c->num_classes,
                               cudaMemcpyDeviceToHost, cs->st));
    CUDA_CHECK(cudaMemcpyAsync(s->out_boxes, cs->boxes, sizeof(float) * B * nq * 4,
                               cudaMemcpyDeviceToHost, cs->st));
    CUDA_CHECK(cudaMemcpyAsync(s->out_masks, cs->masks, sizeof(float) * B * nq * P,
                               cudaMemcpyDeviceToHost, cs->st));
    CUDA_CHECK(cudaStreamSynchronize(cs->st));
    return RFS_OK;
}

extern "C" rfs_status rfs_cuda_read_debug(rfs_session *s, const char *name, float *dst,
                                          int batch) {
    cuda_state *cs = (cuda_state *)s->cuda;
    if (!cs) return rfs_fail(RFS_ERR_BACKEND, "CUDA session not initialised");
    const rfs_config *c = &s->m->cfg;
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

/* ---- timing ---------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

extern "C" rfs_status rfs_cuda_time(rfs_session *s, int batch, int iters, const float *input,
                                    rfs_cuda_timing *out) {
    cuda_state *cs = (cuda_state *)s->cuda;
    if (!cs) return rfs_fail(RFS_ERR_BACKEND, "CUDA session not initialised");
    if (batch < 1 || batch > cs->max_batch || iters < 1)
        return rfs_fail(RFS_ERR_ARG, "batch %d / iterations %d out of range", batch, iters);
    memset(out, 0, sizeof *out);
    CUDA_CHECK(cudaSetDevice(cs->device));
    double *t = (double *)malloc(sizeof(double) * (size_t)iters);
    if (!t) return rfs_fail(RFS_ERR_NOMEM, "out of memory");
    cudaEvent_t e0 = cs->ev_stage[0], e1 = cs->ev_stage[1];
    /* network alone: graph replays */
    if (!cs->graphs[batch]) {
        launch(s, cs, batch);
        CUDA_CHECK(cudaStreamSynchronize(cs->st));
    }
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
    out->graph_ms = t[iters / 2];
    out->graph_min_ms = t[0];
    /* the full call, copies included */
    if (input) {
        for (int i = 0; i < iters; i++) {
            const double t0 = now_ms();
            rfs_cuda_forward(s, input, batch);
            t[i] = now_ms() - t0;
        }
        qsort(t, (size_t)iters, sizeof *t, cmp_double);
        out->forward_ms = t[iters / 2];
    }
    /* per stage: a serial graph with events between the stages */
    cudaGraphExec_t pg = capture(s, cs, batch, 1);
    const int reps = iters < 20 ? iters : 20;
    double *st_ms = (double *)calloc((size_t)N_STAGES * reps, sizeof(double));
    if (!st_ms) {
        free(t);
        cudaGraphExecDestroy(pg);
        return rfs_fail(RFS_ERR_NOMEM, "out of memory");
    }
    CUDA_CHECK(cudaGraphLaunch(pg, cs->st));
    for (int r = 0; r < reps; r++) {
        CUDA_CHECK(cudaGraphLaunch(pg, cs->st));
        CUDA_CHECK(cudaStreamSynchronize(cs->st));
        for (int i = 0; i < N_STAGES; i++) {
            float ms;
            CUDA_CHECK(cudaEventElapsedTime(&ms, cs->ev_stage[i], cs->ev_stage[i + 1]));
            st_ms[i * reps + r] = ms;
        }
    }
    out->nstages = N_STAGES;
    for (int i = 0; i < N_STAGES; i++) {
        qsort(st_ms + i * reps, (size_t)reps, sizeof(double), cmp_double);
        out->stage[i] = STAGE_NAMES[i];
        out->stage_ms[i] = st_ms[i * reps + reps / 2];
    }
    free(st_ms);
    free(t);
    CUDA_CHECK(cudaGraphExecDestroy(pg));
    return RFS_OK;
}
