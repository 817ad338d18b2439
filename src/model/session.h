/* session.h - per-thread state: activation buffers (one arena, sized once for the model
 * and max_batch), outputs, trace hook, and the backend's private state. */
#ifndef RFS_MODEL_SESSION_H
#define RFS_MODEL_SESSION_H

#include "model/model.h"

enum { RFS_SEG_ROWS = 1024 }; /* row block of the seg head's pointwise convs */

/* Activations of the CPU forward pass for one image. Shapes in comments: N = G*G patch
 * tokens, Tw = 1 + (G/nw)^2 tokens per window, NT = nw*nw*Tw tokens in windowed layout,
 * H4 = R/4, the mask side. */
typedef struct rfs_cpu_acts {
    float *patches;  /* (N, 3*ps*ps) patch pixels, PyTorch conv weight order */
    float *x;        /* (NT, D) running hidden state, windowed layout */
    float *xn;       /* (NT, D) LayerNorm output */
    float *qkv;      /* (NT, 3D) */
    float *att;      /* (NT, D) */
    float *mlp;      /* (NT, max(M, D)) */
    float *taps;     /* (N, taps*D) normalised taps, grid order, concatenated */
    float *pj_cat;   /* (N, (2+n)*c) C2f concat: cv1 output, then each bottleneck's */
    float *pj_col;   /* (N, 9*c) im2col */
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
    float *f0;       /* (H4*H4, C) seg features */
    float *f1;       /* (H4*H4, C) */
    float *qf;       /* (nq, C) */
    float *seg_blk;  /* (RFS_SEG_ROWS, C) */
    float *deltas;   /* (nq, 4) box head output */
    float *att_scratch;
} rfs_cpu_acts;

struct rfs_session {
    const rfs_model *m;
    rfs_session_opts o;
    int threads;
    rfs_trace_fn trace;
    void *trace_user;
    float *arena;
    rfs_cpu_acts a;
    /* outputs for max_batch images */
    float *out_logits; /* (B, nq, K) */
    float *out_boxes;  /* (B, nq, 4) */
    float *out_masks;  /* (B, nq, H4*H4) */
    float *input;      /* (B, 3, R, R) preprocessing output */
    void *pred;        /* prediction scratch (pipeline) */
    rfs_stage_times times;
    void *cuda;        /* CUDA backend state */
};

/* The CPU forward pass of one image: input (3, R, R) -> logits/boxes/masks of image b. */
void rfs_forward_cpu(rfs_session *s, const float *input, int b);

#endif
