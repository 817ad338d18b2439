/* pack.c - the model's CPU weight form (cpu.h): every product's weight packed once for the
 * GEMM kernels. Kind 0 is all fp32; kind 1 (--precision bf16) packs the large products
 * (patch embedding, ViT, segmentation blocks) in bf16 and keeps the rest in fp32: the
 * decoder, the query side of the segmentation head, every head (class logits included)
 * and the projector, whose output feeds the two-stage ranking that assigns proposals to
 * queries (in bf16 it doubles the score noise that reorders near-tied proposals; 4 % of
 * the work). */
#include "cpu/cpu.h"

#include "util/err.h"

#include <stdlib.h>
#include <string.h>

static void form_free(void *data) {
    rfs_cpu_form *f = data;
    if (!f) return;
    /* every rfs_packed member is released through this list */
    rfs_packed_free(&f->patch);
    for (int i = 0; i < RFS_MAX_VIT_LAYERS; i++) {
        rfs_packed_free(&f->vit[i].qkv);
        rfs_packed_free(&f->vit[i].o);
        rfs_packed_free(&f->vit[i].fc1);
        rfs_packed_free(&f->vit[i].fc2);
    }
    rfs_packed_free(&f->pj_cv1);
    for (int j = 0; j < RFS_MAX_PROJ_BLOCKS; j++) {
        rfs_packed_free(&f->pj_m[j][0]);
        rfs_packed_free(&f->pj_m[j][1]);
    }
    rfs_packed_free(&f->pj_cv2);
    rfs_packed_free(&f->enc);
    rfs_packed_free(&f->enc_cls);
    for (int k = 0; k < 3; k++) {
        rfs_packed_free(&f->enc_box[k]);
        rfs_packed_free(&f->box[k]);
    }
    rfs_packed_free(&f->rph[0]);
    rfs_packed_free(&f->rph[1]);
    for (int l = 0; l < RFS_MAX_DEC_LAYERS; l++) {
        rfs_cpu_dec_pk *d = &f->dec[l];
        rfs_packed_free(&d->sa_qk);
        rfs_packed_free(&d->sa_v);
        rfs_packed_free(&d->sa_out);
        rfs_packed_free(&d->offaw);
        rfs_packed_free(&d->val);
        rfs_packed_free(&d->out);
        rfs_packed_free(&d->l1);
        rfs_packed_free(&d->l2);
        rfs_packed_free(&f->seg_pw[l]);
        free(f->seg_dw[l]);
    }
    rfs_packed_free(&f->cls);
    rfs_packed_free(&f->seg_q1);
    rfs_packed_free(&f->seg_q2);
    rfs_packed_free(&f->seg_qp);
    rfs_packed_free(&f->seg_spt);
    free(f);
}

typedef struct packer {
    rfs_cpu_form *f;
    int failed;
} packer;

static void lin(packer *pk, rfs_packed *p, const float *w, const float *b, int N, int K,
                rfs_wform form) {
    if (pk->failed) return;
    if (rfs_pack_linear(p, w, K, b, N, K, form)) pk->failed = 1;
    else pk->f->bytes += rfs_packed_bytes(p);
}

/* W^T of a square (C, C) weight: the Linear x -> x . W */
typedef struct square {
    const float *w;
    int C;
} square;

static float transposed_get(const void *ctx, int n, int k) {
    const square *q = ctx;
    return q->w[(size_t)k * q->C + n];
}

rfs_status rfs_cpu_form_make(const rfs_model *m, int device, int kind, void **data,
                             void (**destroy)(void *)) {
    (void)device;
    const rfs_config *c = &m->cfg;
    const rfs_weights *w = &m->w;
    rfs_cpu_form *f = rfs_calloc(1, sizeof *f);
    if (!f) return RFS_ERR_NOMEM;
    packer pk = {f, 0};
    const rfs_wform big = kind == 1 ? RFS_WF_BF16 : RFS_WF_F32, f32 = RFS_WF_F32;
    f->big = big;
    const int D = c->vit_dim, M = c->vit_mlp, C = c->hidden_dim, hc = C / 2, K = c->num_classes;
    const int HP = c->ca_heads * c->dec_points, F = c->dim_feedforward, S = c->seg_mlp;
    const int ps = c->patch_size, nb = c->proj_blocks;
    lin(&pk, &f->patch, w->patch_w, w->patch_b, D, 3 * ps * ps, big);
    for (int i = 0; i < c->vit_layers; i++) {
        const rfs_vit_layer *L = &w->vit[i];
        lin(&pk, &f->vit[i].qkv, L->q_w, L->q_b, 3 * D, D, big);
        lin(&pk, &f->vit[i].o, L->o_w, L->o_b, D, D, big);
        lin(&pk, &f->vit[i].fc1, L->fc1_w, L->fc1_b, M, D, big);
        lin(&pk, &f->vit[i].fc2, L->fc2_w, L->fc2_b, D, M, big);
    }
    lin(&pk, &f->pj_cv1, w->pj_cv1.w, NULL, 2 * hc, c->num_taps * D, f32);
    for (int j = 0; j < nb && !pk.failed; j++)
        for (int k = 0; k < 2 && !pk.failed; k++) {
            if (rfs_pack_conv3x3(&f->pj_m[j][k], w->pj_m[j][k].w, NULL, hc, hc, f32)) pk.failed = 1;
            else f->bytes += rfs_packed_bytes(&f->pj_m[j][k]);
        }
    lin(&pk, &f->pj_cv2, w->pj_cv2.w, NULL, C, (2 + nb) * hc, f32);
    lin(&pk, &f->enc, w->enc_w, w->enc_b, C, C, f32);
    lin(&pk, &f->enc_cls, w->enc_cls_w, w->enc_cls_b, K, C, f32);
    for (int k = 0; k < 3; k++) {
        lin(&pk, &f->enc_box[k], w->enc_box_w[k], w->enc_box_b[k], k < 2 ? C : 4, C, f32);
        lin(&pk, &f->box[k], w->box_w[k], w->box_b[k], k < 2 ? C : 4, C, f32);
    }
    lin(&pk, &f->rph[0], w->rph_w[0], w->rph_b[0], C, 2 * C, f32);
    lin(&pk, &f->rph[1], w->rph_w[1], w->rph_b[1], C, C, f32);
    for (int l = 0; l < c->dec_layers; l++) {
        const rfs_dec_layer *L = &w->dec[l];
        rfs_cpu_dec_pk *d = &f->dec[l];
        lin(&pk, &d->sa_qk, L->sa_in_w, L->sa_in_b, 2 * C, C, f32);
        lin(&pk, &d->sa_v, L->sa_in_w + (size_t)2 * C * C, L->sa_in_b + 2 * C, C, C, f32);
        lin(&pk, &d->sa_out, L->sa_out_w, L->sa_out_b, C, C, f32);
        lin(&pk, &d->offaw, L->off_w, L->off_b, 3 * HP, C, f32);
        lin(&pk, &d->val, L->val_w, L->val_b, C, C, f32);
        lin(&pk, &d->out, L->out_w, L->out_b, C, C, f32);
        lin(&pk, &d->l1, L->l1_w, L->l1_b, F, C, f32);
        lin(&pk, &d->l2, L->l2_w, L->l2_b, C, F, f32);
        const rfs_seg_block *B = &w->seg[l];
        lin(&pk, &f->seg_pw[l], B->pw_w, B->pw_b, C, C, big);
        if (!pk.failed) {
            f->seg_dw[l] = rfs_aligned_alloc(sizeof(float) * 9 * (size_t)C);
            if (!f->seg_dw[l]) pk.failed = 1;
            else
                for (int t = 0; t < 9; t++)
                    for (int ch = 0; ch < C; ch++) f->seg_dw[l][t * C + ch] = B->dw_w[ch * 9 + t];
        }
    }
    lin(&pk, &f->cls, w->cls_w, w->cls_b, K, C, f32);
    lin(&pk, &f->seg_q1, w->seg_q1_w, w->seg_q1_b, S, C, f32);
    lin(&pk, &f->seg_q2, w->seg_q2_w, w->seg_q2_b, C, S, f32);
    lin(&pk, &f->seg_qp, w->seg_qp_w, w->seg_qp_b, C, C, f32);
    if (!pk.failed) {
        square q = {w->seg_sp_w, C};
        if (rfs_pack_get(&f->seg_spt, transposed_get, &q, NULL, C, C, f32)) pk.failed = 1;
        else f->bytes += rfs_packed_bytes(&f->seg_spt);
    }
    if (pk.failed) {
        form_free(f);
        return RFS_FAIL(RFS_ERR_NOMEM, "out of memory packing the weights of %s for the CPU",
                        c->size);
    }
    *data = f;
    *destroy = form_free;
    return RFS_OK;
}
