/* weights.c - the binding table: every weight the forward pass uses, with its state-dict
 * name and expected shape, in arena order. Loading walks it once; the forward pass never
 * looks anything up by name. */
#include "model/model.h"

#include "util/err.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef struct table {
    rfs_binding *b;
    int n, cap;
    size_t len;
    int oom;
} table;

#define FIELD(expr) ((size_t)((char *)&(expr) - (char *)&W0))
static rfs_weights W0; /* only its addresses are used, to compute field offsets */

static rfs_binding *add(table *t, size_t field_off, int ndim, long d0, long d1, long d2, long d3,
                        const char *fmt, ...) RFS_PRINTF(8, 9);
static rfs_binding *add(table *t, size_t field_off, int ndim, long d0, long d1, long d2, long d3,
                        const char *fmt, ...) {
    if (t->oom) return NULL;
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 256;
        rfs_binding *nb = rfs_realloc(t->b, sizeof *nb * (size_t)cap);
        if (!nb) {
            t->oom = 1;
            return NULL;
        }
        t->b = nb;
        t->cap = cap;
    }
    rfs_binding *b = &t->b[t->n++];
    memset(b, 0, sizeof *b);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->name, sizeof b->name, fmt, ap);
    va_end(ap);
    long d[4] = {d0, d1, d2, d3};
    b->ndim = ndim;
    b->numel = 1;
    for (int i = 0; i < ndim; i++) {
        b->shape[i] = d[i];
        b->numel *= (size_t)d[i];
    }
    b->field_off = field_off;
    b->offset = t->len;
    /* keep every tensor 16-float aligned (64 bytes) for vector loads on both backends,
     * except inside the groups that must stay contiguous (see model.h) */
    t->len += b->numel;
    return b;
}

static void align_arena(table *t) { t->len = (t->len + 15) & ~(size_t)15; }

#define V1(field, n, ...) add(&t, FIELD(field), 1, n, 0, 0, 0, __VA_ARGS__)
#define V2(field, a, b, ...) add(&t, FIELD(field), 2, a, b, 0, 0, __VA_ARGS__)
#define V4(field, a, b, c, d, ...) add(&t, FIELD(field), 4, a, b, c, d, __VA_ARGS__)
#define A(x) (align_arena(&t), (x))

int rfs_bindings_build(rfs_binding **out, const rfs_config *c, size_t *arena_len) {
    table t = {0};
    const long D = c->vit_dim, M = c->vit_mlp, C = c->hidden_dim, hc = C / 2, K = c->num_classes;
    const long G = c->grid, ps = c->patch_size, nq = c->num_queries, F = c->dim_feedforward;
    const long HP = (long)c->ca_heads * c->dec_points, S = c->seg_mlp;
    const char *bb = "backbone.0.encoder.encoder.";
    const char *pj = "backbone.0.projector.stages.0.";

    A(add(&t, FIELD(W0.cls), 3, 1, 1, D, 0, "%sembeddings.cls_token", bb));
    {
        rfs_binding *b = A(add(&t, FIELD(W0.pos), 3, 1, 1 + G * G, D, 0,
                               "%sembeddings.position_embeddings", bb));
        if (b) b->interp_pos = 1; /* stored with P*P+1 rows, bound with G*G+1 */
    }
    A(V4(W0.patch_w, D, 3, ps, ps, "%sembeddings.patch_embeddings.projection.weight", bb));
    A(V1(W0.patch_b, D, "%sembeddings.patch_embeddings.projection.bias", bb));
    for (int i = 0; i < c->vit_layers; i++) {
        rfs_vit_layer *L = &W0.vit[i];
        char p[96];
        snprintf(p, sizeof p, "%sencoder.layer.%d.", bb, i);
        A(V1(L->ln1_w, D, "%snorm1.weight", p));
        A(V1(L->ln1_b, D, "%snorm1.bias", p));
        A(V2(L->q_w, D, D, "%sattention.attention.query.weight", p)); /* q,k,v contiguous */
        V2(L->k_w, D, D, "%sattention.attention.key.weight", p);
        V2(L->v_w, D, D, "%sattention.attention.value.weight", p);
        A(V1(L->q_b, D, "%sattention.attention.query.bias", p));
        V1(L->k_b, D, "%sattention.attention.key.bias", p);
        V1(L->v_b, D, "%sattention.attention.value.bias", p);
        A(V2(L->o_w, D, D, "%sattention.output.dense.weight", p));
        A(V1(L->o_b, D, "%sattention.output.dense.bias", p));
        A(V1(L->ls1, D, "%slayer_scale1.lambda1", p));
        A(V1(L->ln2_w, D, "%snorm2.weight", p));
        A(V1(L->ln2_b, D, "%snorm2.bias", p));
        A(V2(L->fc1_w, M, D, "%smlp.fc1.weight", p));
        A(V1(L->fc1_b, M, "%smlp.fc1.bias", p));
        A(V2(L->fc2_w, D, M, "%smlp.fc2.weight", p));
        A(V1(L->fc2_b, D, "%smlp.fc2.bias", p));
        A(V1(L->ls2, D, "%slayer_scale2.lambda1", p));
    }
    A(V1(W0.vit_ln_w, D, "%slayernorm.weight", bb));
    A(V1(W0.vit_ln_b, D, "%slayernorm.bias", bb));

    const long taps = c->num_taps, nb = c->proj_blocks;
    A(V4(W0.pj_cv1.w, 2 * hc, taps * D, 1, 1, "%s0.cv1.conv.weight", pj));
    A(V1(W0.pj_cv1.ln_w, 2 * hc, "%s0.cv1.bn.weight", pj));
    A(V1(W0.pj_cv1.ln_b, 2 * hc, "%s0.cv1.bn.bias", pj));
    for (int j = 0; j < nb; j++)
        for (int k = 0; k < 2; k++) {
            rfs_convln *cl = &W0.pj_m[j][k];
            A(V4(cl->w, hc, hc, 3, 3, "%s0.m.%d.cv%d.conv.weight", pj, j, k + 1));
            A(V1(cl->ln_w, hc, "%s0.m.%d.cv%d.bn.weight", pj, j, k + 1));
            A(V1(cl->ln_b, hc, "%s0.m.%d.cv%d.bn.bias", pj, j, k + 1));
        }
    A(V4(W0.pj_cv2.w, C, (2 + nb) * hc, 1, 1, "%s0.cv2.conv.weight", pj));
    A(V1(W0.pj_cv2.ln_w, C, "%s0.cv2.bn.weight", pj));
    A(V1(W0.pj_cv2.ln_b, C, "%s0.cv2.bn.bias", pj));
    A(V1(W0.pj_ln_w, C, "%s1.weight", pj));
    A(V1(W0.pj_ln_b, C, "%s1.bias", pj));

    A(V2(W0.enc_w, C, C, "transformer.enc_output.0.weight"));
    A(V1(W0.enc_b, C, "transformer.enc_output.0.bias"));
    A(V1(W0.enc_ln_w, C, "transformer.enc_output_norm.0.weight"));
    A(V1(W0.enc_ln_b, C, "transformer.enc_output_norm.0.bias"));
    A(V2(W0.enc_cls_w, K, C, "transformer.enc_out_class_embed.0.weight"));
    A(V1(W0.enc_cls_b, K, "transformer.enc_out_class_embed.0.bias"));
    for (int i = 0; i < 3; i++) {
        long o = i == 2 ? 4 : C;
        A(V2(W0.enc_box_w[i], o, C, "transformer.enc_out_bbox_embed.0.layers.%d.weight", i));
        A(V1(W0.enc_box_b[i], o, "transformer.enc_out_bbox_embed.0.layers.%d.bias", i));
    }
    {
        rfs_binding *b = A(V2(W0.refpoint, nq, 4, "refpoint_embed.weight"));
        if (b) b->rows_stored = nq;
        b = A(V2(W0.query_feat, nq, C, "query_feat.weight"));
        if (b) b->rows_stored = nq;
    }
    A(V2(W0.rph_w[0], C, 2 * C, "transformer.decoder.ref_point_head.layers.0.weight"));
    A(V1(W0.rph_b[0], C, "transformer.decoder.ref_point_head.layers.0.bias"));
    A(V2(W0.rph_w[1], C, C, "transformer.decoder.ref_point_head.layers.1.weight"));
    A(V1(W0.rph_b[1], C, "transformer.decoder.ref_point_head.layers.1.bias"));
    for (int l = 0; l < c->dec_layers; l++) {
        rfs_dec_layer *L = &W0.dec[l];
        char p[64];
        snprintf(p, sizeof p, "transformer.decoder.layers.%d.", l);
        A(V2(L->sa_in_w, 3 * C, C, "%sself_attn.in_proj_weight", p));
        A(V1(L->sa_in_b, 3 * C, "%sself_attn.in_proj_bias", p));
        A(V2(L->sa_out_w, C, C, "%sself_attn.out_proj.weight", p));
        A(V1(L->sa_out_b, C, "%sself_attn.out_proj.bias", p));
        A(V1(L->n1_w, C, "%snorm1.weight", p));
        A(V1(L->n1_b, C, "%snorm1.bias", p));
        A(V2(L->off_w, 2 * HP, C, "%scross_attn.sampling_offsets.weight", p)); /* + aw_w */
        V2(L->aw_w, HP, C, "%scross_attn.attention_weights.weight", p);
        A(V1(L->off_b, 2 * HP, "%scross_attn.sampling_offsets.bias", p)); /* + aw_b */
        V1(L->aw_b, HP, "%scross_attn.attention_weights.bias", p);
        A(V2(L->val_w, C, C, "%scross_attn.value_proj.weight", p));
        A(V1(L->val_b, C, "%scross_attn.value_proj.bias", p));
        A(V2(L->out_w, C, C, "%scross_attn.output_proj.weight", p));
        A(V1(L->out_b, C, "%scross_attn.output_proj.bias", p));
        A(V1(L->n2_w, C, "%snorm2.weight", p));
        A(V1(L->n2_b, C, "%snorm2.bias", p));
        A(V2(L->l1_w, F, C, "%slinear1.weight", p));
        A(V1(L->l1_b, F, "%slinear1.bias", p));
        A(V2(L->l2_w, C, F, "%slinear2.weight", p));
        A(V1(L->l2_b, C, "%slinear2.bias", p));
        A(V1(L->n3_w, C, "%snorm3.weight", p));
        A(V1(L->n3_b, C, "%snorm3.bias", p));
    }
    A(V1(W0.dec_ln_w, C, "transformer.decoder.norm.weight"));
    A(V1(W0.dec_ln_b, C, "transformer.decoder.norm.bias"));
    A(V2(W0.cls_w, K, C, "class_embed.weight"));
    A(V1(W0.cls_b, K, "class_embed.bias"));
    for (int i = 0; i < 3; i++) {
        long o = i == 2 ? 4 : C;
        A(V2(W0.box_w[i], o, C, "bbox_embed.layers.%d.weight", i));
        A(V1(W0.box_b[i], o, "bbox_embed.layers.%d.bias", i));
    }
    for (int b = 0; b < c->dec_layers; b++) {
        rfs_seg_block *sb = &W0.seg[b];
        A(V4(sb->dw_w, C, 1, 3, 3, "segmentation_head.blocks.%d.dwconv.weight", b));
        A(V1(sb->dw_b, C, "segmentation_head.blocks.%d.dwconv.bias", b));
        A(V1(sb->ln_w, C, "segmentation_head.blocks.%d.norm.weight", b));
        A(V1(sb->ln_b, C, "segmentation_head.blocks.%d.norm.bias", b));
        A(V2(sb->pw_w, C, C, "segmentation_head.blocks.%d.pwconv1.weight", b));
        A(V1(sb->pw_b, C, "segmentation_head.blocks.%d.pwconv1.bias", b));
    }
    A(V4(W0.seg_sp_w, C, C, 1, 1, "segmentation_head.spatial_features_proj.weight"));
    A(V1(W0.seg_sp_b, C, "segmentation_head.spatial_features_proj.bias"));
    A(V1(W0.seg_qln_w, C, "segmentation_head.query_features_block.norm_in.weight"));
    A(V1(W0.seg_qln_b, C, "segmentation_head.query_features_block.norm_in.bias"));
    A(V2(W0.seg_q1_w, S, C, "segmentation_head.query_features_block.layers.0.weight"));
    A(V1(W0.seg_q1_b, S, "segmentation_head.query_features_block.layers.0.bias"));
    A(V2(W0.seg_q2_w, C, S, "segmentation_head.query_features_block.layers.2.weight"));
    A(V1(W0.seg_q2_b, C, "segmentation_head.query_features_block.layers.2.bias"));
    A(V2(W0.seg_qp_w, C, C, "segmentation_head.query_features_proj.weight"));
    A(V1(W0.seg_qp_b, C, "segmentation_head.query_features_proj.bias"));
    A(V1(W0.seg_bias, 1, "segmentation_head.bias"));
    align_arena(&t);

    if (t.oom) {
        free(t.b);
        return -1;
    }
    *out = t.b;
    *arena_len = t.len;
    return t.n;
}

void rfs_bindings_apply(rfs_weights *w, const rfs_binding *b, int n, float *base) {
    for (int i = 0; i < n; i++) *(float **)((char *)w + b[i].field_off) = base + b[i].offset;
}
