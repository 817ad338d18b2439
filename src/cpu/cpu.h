/* cpu.h - the CPU backend's state (private to src/cpu).
 *
 * Weights: the model's CPU form (pack.c), made once per model and precision on the first
 * session that needs it and shared by every later one (model.h: rfs_model_form_acquire):
 * every Linear and convolution packed for the GEMM kernels (gemm.h), in fp32 or, for the
 * large products of --precision bf16, in bf16.
 *
 * Session: the activation buffers of one image, laid out in one arena sized once from the
 * config (net.c), per-thread scratch for the kernels, and the thread count and ISA path
 * every parallel region of the session uses. */
#ifndef RFS_CPU_CPU_H
#define RFS_CPU_CPU_H

#include "cpu/gemm.h"
#include "model/backend.h"

/* Packed weights of one ViT layer: QKV (3D, D), output (D, D), MLP (M, D), (D, M). */
typedef struct rfs_cpu_vit_pk {
    rfs_packed qkv, o, fc1, fc2;
} rfs_cpu_vit_pk;

typedef struct rfs_cpu_dec_pk {
    rfs_packed sa_qk;   /* (2C, C): self-attention q and k rows of in_proj */
    rfs_packed sa_v;    /* (C, C): v rows */
    rfs_packed sa_out;  /* (C, C) */
    rfs_packed offaw;   /* (3*h*p, C): sampling offsets then attention weights */
    rfs_packed val;     /* (C, C) value_proj */
    rfs_packed out;     /* (C, C) output_proj */
    rfs_packed l1, l2;  /* (F, C), (C, F) */
} rfs_cpu_dec_pk;

typedef struct rfs_cpu_form {
    rfs_wform big;                 /* form of the large products (fp32, or bf16 opt-in) */
    rfs_packed patch;              /* (D, 3*ps*ps) */
    rfs_cpu_vit_pk vit[RFS_MAX_VIT_LAYERS];
    rfs_packed pj_cv1;             /* (2c, taps*D) */
    rfs_packed pj_m[RFS_MAX_PROJ_BLOCKS][2]; /* 3x3 convs as (c, 9c), k = tap*c + channel */
    rfs_packed pj_cv2;             /* (C, (2+n)*c) */
    rfs_packed enc, enc_cls, enc_box[3];
    rfs_packed rph[2];
    rfs_cpu_dec_pk dec[RFS_MAX_DEC_LAYERS];
    rfs_packed cls, box[3];        /* class logits always fp32 */
    rfs_packed seg_pw[RFS_MAX_DEC_LAYERS];
    float *seg_dw[RFS_MAX_DEC_LAYERS]; /* (9, C) depthwise weights, tap-major */
    rfs_packed seg_q1, seg_q2, seg_qp;
    /* spatial_features_proj folded into the query side of the mask product:
     * masks = (qf . Wsp) . f^T + (qf . bsp + bias); seg_spt is the Linear with weight Wsp^T */
    rfs_packed seg_spt;
    size_t bytes;
} rfs_cpu_form;

/* The form of model m for precision kind (0 fp32, 1 bf16): makes, frees (pack.c). */
rfs_status rfs_cpu_form_make(const rfs_model *m, int device, int kind, void **data,
                             void (**destroy)(void *));

/* Activations of the CPU forward pass for one image. Shapes in comments: N = G*G patch
 * tokens, Tw = 1 + (G/nw)^2 tokens per window, NT = nw*nw*Tw tokens in windowed layout,
 * H4 = R/4, the mask side, P = H4*H4. */
typedef struct rfs_cpu_acts {
    float *x;        /* (NT, D) running hidden state, windowed layout */
    float *xn;       /* (max(NT, N), D) patch embeddings, trace copies */
    float *qkv;      /* (NT, 3D) */
    float *att;      /* (NT, D) */
    float *mlp;      /* (NT, M) */
    float *taps;     /* (N, taps*D) normalised taps, grid order, concatenated */
    float *pj_cat;   /* (N, (2+n)*c) C2f concat: cv1 output, then each bottleneck's */
    float *pj_tmp;   /* (N, c) */
    float *p4;       /* (N, C) projector output = memory */
    float *omem;     /* (N, C) memory with invalid proposals zeroed */
    float *enc;      /* (N, C) enc_output + norm */
    float *enc_cls;  /* (N, K) */
    float *enc_h;    /* (N, 2C) box MLP hidden layers */
    float *enc_box;  /* (N, 4) deltas, then decoded boxes in enc_boxes */
    float *enc_boxes;/* (N, 4) cxcywh */
    float *score;    /* (N) */
    int *order;      /* (N) token indices, by descending score */
    float *ref;      /* (nq, 4) reference boxes cxcywh */
    float *sine;     /* (nq, 2C) */
    float *qpos;     /* (nq, C) */
    float *t;        /* (nq, C) decoder target */
    float *tq;       /* (nq, C) t + qpos */
    float *sa_qk;    /* (nq, 2C) */
    float *sa_v;     /* (nq, C) */
    float *sa_o;     /* (nq, C) */
    float *tmp;      /* (nq, C) */
    float *value;    /* (N, C) */
    float *offaw;    /* (nq, 3*h*p) */
    float *ffn;      /* (nq, max(F, S, C)) */
    float *hs;       /* (nq, C) final decoder output, normalised */
    float *box_h;    /* (nq, 2C) */
    float *f0;       /* (P, C) seg features */
    float *f1;       /* (P, C) */
    float *qf;       /* (nq, C) */
    float *qx;       /* (nq, C + 1) folded mask queries, last column the per-query offset */
    float *fpk;      /* seg features packed as a weight (P columns of C + 1 rows) */
    float *deltas;   /* (nq, 4) box head output */
    float *att_shared; /* key and value panels of the attention (attention.h) */
    float *scratch;  /* threads * scratch_per floats: per-thread kernel scratch */
    float *ashared;  /* the team's packed A of a product (gemm.h) */
} rfs_cpu_acts;

typedef struct rfs_cpu_net {
    rfs_net base;     /* model, options, host input/outputs, trace hook */
    int threads;      /* team size of every parallel region of this session */
    rfs_cpu_isa isa;  /* kernel path (isa.h) */
    const rfs_cpu_form *w; /* the model's packed weights (shared, reference counted) */
    int form_kind;    /* slot of w: 0 fp32, 1 bf16 */
    size_t scratch_per; /* floats of one thread's scratch */
    float *arena;     /* every activation buffer below */
    rfs_cpu_acts a;
    double *prof;     /* profiling (rfs_session_profile): per-stage ms added here, or NULL */
    /* diagnostics (tests/test_cpu_bf16.c): when set, the two-stage selection takes these
     * nq tokens in this order instead of its own top-k (the query assignment of another
     * session), so that reduced precision is compared at equal assignments */
    const int *force_order;
    /* Batches of several images on many cores (net.c): the images run side by side in
     * groups of group_threads threads, one image per group at a time, where one image on
     * every thread would leave them idle in its small products. group[0] is this session
     * itself; group[1..groups-1] have their own activations and share everything else. */
    int groups, group_threads;
    struct rfs_cpu_net **group;
} rfs_cpu_net;

/* The forward pass of one image (forward.c): input (3, R, R) -> logits (nq, K), boxes
 * (nq, 4), mask logits (nq, H4*H4). */
void rfs_cpu_forward_image(rfs_cpu_net *s, const float *input, float *logits, float *boxes,
                           float *masks);

#endif
