/* cpu.h - the CPU backend's state (private to src/cpu): the activation buffers of one
 * image, laid out in one arena sized once from the config (net.c), and the thread count
 * every parallel region of the session uses. */
#ifndef RFS_CPU_CPU_H
#define RFS_CPU_CPU_H

#include "model/backend.h"

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

typedef struct rfs_cpu_net {
    rfs_net base;     /* model, options, host input/outputs, trace hook */
    int threads;      /* team size of every parallel region of this session */
    float *arena;     /* every activation buffer below */
    rfs_cpu_acts a;
    double *prof;     /* profiling (rfs_session_profile): per-stage ms added here, or NULL */
} rfs_cpu_net;

/* The forward pass of one image (forward.c): input (3, R, R) -> logits (nq, K), boxes
 * (nq, 4), mask logits (nq, H4*H4). */
void rfs_cpu_forward_image(rfs_cpu_net *s, const float *input, float *logits, float *boxes,
                           float *masks);

#endif
