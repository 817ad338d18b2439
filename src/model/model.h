/* model.h - the network's weights as plain structs, and the model object.
 *
 * Every field is a float32 pointer into one arena, with its PyTorch shape in the comment
 * (D = ViT width, M = ViT MLP width, C = hidden_dim, c = C/2 projector hidden width,
 * K = logits, nq = queries, F = dim_feedforward, S = seg query MLP width).
 * The arena is filled by the binding table (weights.c), in table order; the table lists
 * some groups contiguously on purpose so that fused GEMMs can use them as one matrix:
 *   - ViT q/k/v weights (3D, D) and biases (3D): one QKV projection;
 *   - decoder sampling_offsets (2*h*p, C) then attention_weights (h*p, C), and their
 *     biases: one projection of the cross-attention query.
 * The same table binds a device copy of the arena (CUDA), so the forward passes of both
 * backends see the same struct with different base pointers.
 */
#ifndef RFS_MODEL_MODEL_H
#define RFS_MODEL_MODEL_H

#include "rfseg.h"
#include <stddef.h>

enum { RFS_MAX_VIT_LAYERS = 48, RFS_MAX_DEC_LAYERS = 16, RFS_MAX_PROJ_BLOCKS = 8 };

typedef struct rfs_vit_layer {
    float *ln1_w, *ln1_b;    /* (D) norm1 */
    float *q_w, *k_w, *v_w;  /* (D, D) each; contiguous: q_w is the (3D, D) QKV matrix */
    float *q_b, *k_b, *v_b;  /* (D) each; contiguous: q_b is the (3D) QKV bias */
    float *o_w, *o_b;        /* (D, D), (D) attention.output.dense */
    float *ls1;              /* (D) layer_scale1.lambda1 */
    float *ln2_w, *ln2_b;    /* (D) norm2 */
    float *fc1_w, *fc1_b;    /* (M, D), (M) */
    float *fc2_w, *fc2_b;    /* (D, M), (D) */
    float *ls2;              /* (D) layer_scale2.lambda1 */
} rfs_vit_layer;

typedef struct rfs_convln {  /* projector ConvX: conv (no bias) + LayerNorm(eps 1e-6) */
    float *w;                /* (cout, cin, k, k) */
    float *ln_w, *ln_b;      /* (cout) */
} rfs_convln;

typedef struct rfs_dec_layer {
    float *sa_in_w, *sa_in_b;    /* (3C, C), (3C) self_attn in_proj: rows q, k, v */
    float *sa_out_w, *sa_out_b;  /* (C, C), (C) */
    float *n1_w, *n1_b;          /* (C) norm1 */
    float *off_w, *aw_w;         /* (2*h*p, C), (h*p, C); contiguous: one (3*h*p, C) matrix */
    float *off_b, *aw_b;         /* (2*h*p), (h*p); contiguous */
    float *val_w, *val_b;        /* (C, C), (C) value_proj */
    float *out_w, *out_b;        /* (C, C), (C) output_proj */
    float *n2_w, *n2_b;          /* (C) norm2 */
    float *l1_w, *l1_b;          /* (F, C), (F) linear1 */
    float *l2_w, *l2_b;          /* (C, F), (C) linear2 */
    float *n3_w, *n3_b;          /* (C) norm3 */
} rfs_dec_layer;

typedef struct rfs_seg_block {
    float *dw_w, *dw_b;          /* (C, 1, 3, 3), (C) dwconv */
    float *ln_w, *ln_b;          /* (C) norm, eps 1e-6 */
    float *pw_w, *pw_b;          /* (C, C), (C) pwconv1 */
} rfs_seg_block;

typedef struct rfs_weights {
    /* backbone: windowed DINOv2 */
    float *cls;                  /* (D) cls_token */
    float *pos;                  /* (1 + G*G, D) position embeddings, interpolated to G */
    float *patch_w, *patch_b;    /* (D, 3, ps, ps), (D) */
    rfs_vit_layer vit[RFS_MAX_VIT_LAYERS];
    float *vit_ln_w, *vit_ln_b;  /* (D) final LayerNorm, applied to each tap */
    /* projector: C2f + LayerNorm */
    rfs_convln pj_cv1;           /* (2c, taps*D, 1, 1) */
    rfs_convln pj_m[RFS_MAX_PROJ_BLOCKS][2]; /* (c, c, 3, 3) x2 per bottleneck */
    rfs_convln pj_cv2;           /* (C, (2+n)*c, 1, 1) */
    float *pj_ln_w, *pj_ln_b;    /* (C) stages.0.1 */
    /* two-stage proposals (group 0) */
    float *enc_w, *enc_b;        /* (C, C), (C) enc_output.0 */
    float *enc_ln_w, *enc_ln_b;  /* (C) enc_output_norm.0 */
    float *enc_cls_w, *enc_cls_b;/* (K, C), (K) enc_out_class_embed.0 */
    float *enc_box_w[3], *enc_box_b[3]; /* (C,C) (C,C) (4,C) enc_out_bbox_embed.0 */
    /* queries (group 0 rows only) */
    float *refpoint;             /* (nq, 4) */
    float *query_feat;           /* (nq, C) */
    /* decoder */
    float *rph_w[2], *rph_b[2];  /* (C, 2C), (C, C) ref_point_head */
    rfs_dec_layer dec[RFS_MAX_DEC_LAYERS];
    float *dec_ln_w, *dec_ln_b;  /* (C) decoder.norm */
    /* heads */
    float *cls_w, *cls_b;        /* (K, C), (K) */
    float *box_w[3], *box_b[3];  /* (C,C) (C,C) (4,C) */
    /* segmentation head */
    rfs_seg_block seg[RFS_MAX_DEC_LAYERS];
    float *seg_sp_w, *seg_sp_b;  /* (C, C, 1, 1), (C) spatial_features_proj */
    float *seg_qln_w, *seg_qln_b;/* (C) query_features_block.norm_in, eps 1e-5 */
    float *seg_q1_w, *seg_q1_b;  /* (S, C), (S) */
    float *seg_q2_w, *seg_q2_b;  /* (C, S), (C) */
    float *seg_qp_w, *seg_qp_b;  /* (C, C), (C) query_features_proj */
    float *seg_bias;             /* (1) */
} rfs_weights;

typedef struct rfs_tensorfile rfs_tensorfile;

/* What a Roboflow model package says about the roboflow preset (package.c). */
typedef enum rfs_resize_mode {
    RFS_RESIZE_STRETCH = 0,
    RFS_RESIZE_LETTERBOX = 1,
    RFS_RESIZE_CENTER_CROP = 2,
} rfs_resize_mode;

enum { RFS_MAX_REMOVED = 64 };

typedef struct rfs_package {
    rfs_resize_mode resize_mode;
    float padding_value;    /* letterbox canvas, raw 0..255 */
    int auto_orient;        /* image_pre_processing.auto-orient (default on) */
    int static_crop;        /* image_pre_processing.static-crop enabled */
    int crop_pct[4];        /* x_min, y_min, x_max, y_max percentages */
    int grayscale;          /* image_pre_processing.grayscale enabled */
    char *removed[RFS_MAX_REMOVED]; /* class_names_operations removals */
    int n_removed;
} rfs_package;

void rfs_package_defaults(rfs_package *p);
void rfs_package_free(rfs_package *p);

struct rfs_model {
    rfs_config cfg;
    rfs_weights w;     /* fields point into arena */
    float *arena;      /* all bound weights, in binding-table order */
    size_t arena_len;  /* floats */
    char **class_names;/* by logit index: args.class_names (index i+1), or NULL (COCO) */
    int n_class_names;
    rfs_package pkg;   /* roboflow preset settings (defaults for a bare checkpoint) */
    char **pkg_names;  /* a package's class names by reported id, or NULL */
    int n_pkg_names;
    int *remap;        /* logit index -> reported id, -1 = removed (packages); NULL: identity */
    char source[512];  /* path or "random:<size>" */
    struct rfs_model_forms *forms; /* per-device weight forms (below); the only mutable part */
};

/* Per-device weight forms. A backend may need the weights in a form of its own (packed
 * for the CPU's kernels, uploaded to a GPU); it makes that form once per model and
 * device, on the first session that needs it, and every later session on that device
 * shares it. The forms are reference counted: the last session to release one frees it.
 * Slots are guarded by the model's lock, so sessions may be created and freed on any
 * threads; everything else in rfs_model is read-only after load. The model must outlive
 * its sessions. */
enum { RFS_MAX_DEVICES = 16, RFS_FORM_KINDS = 4 };

typedef struct rfs_form {
    void *data;                  /* the backend's weight form */
    void (*destroy)(void *data); /* how to release it */
    int refs;
} rfs_form;

/* Returns the form in slot (device, kind), creating it with make(m, device, kind, &data)
 * when the slot is empty, and takes a reference. device: RFS_MAX_DEVICES slots per
 * backend, the CPU uses device 0 of its own table; kind: a backend-defined variant
 * (e.g. the precision). Returns NULL with the error set when make fails. */
typedef rfs_status (*rfs_form_make_fn)(const rfs_model *m, int device, int kind, void **data,
                                       void (**destroy)(void *));
void *rfs_model_form_acquire(const rfs_model *m, rfs_backend backend, int device, int kind,
                             rfs_form_make_fn make);
/* Drops a reference taken by rfs_model_form_acquire; frees the form at zero. */
void rfs_model_form_release(const rfs_model *m, rfs_backend backend, int device, int kind);
/* Model lifetime (model.c): the slots and their lock. */
rfs_status rfs_model_forms_init(rfs_model *m);
void rfs_model_forms_free(rfs_model *m);

/* Config from a checkpoint (args when present, tensor shapes always); validates it. */
rfs_status rfs_config_from_file(rfs_config *cfg, const rfs_tensorfile *f, const char *label);
/* Config of a named official seg size. */
rfs_status rfs_config_preset(rfs_config *cfg, const char *size);
/* Fills cfg->size with the preset name whose shape matches, else "custom". */
void rfs_config_name(rfs_config *cfg);
/* Checks the internal consistency and the limits the forward pass relies on. */
rfs_status rfs_config_validate(const rfs_config *cfg, const char *label);

/* The binding table: visits every weight in arena order. */
typedef struct rfs_binding {
    char name[128];     /* state-dict key */
    int ndim;
    long shape[4];      /* expected shape (of the bound part) */
    long rows_stored;   /* for query tables: rows that must at least be stored (dim 0) */
    int interp_pos;     /* position table that may need resizing to the grid */
    size_t field_off;   /* byte offset of the pointer inside rfs_weights */
    size_t offset;      /* in floats, into the arena */
    size_t numel;
} rfs_binding;

/* Builds the table for cfg (allocated, free() it); returns the count or -1 (no memory).
 * *arena_len gets the arena size in floats. */
int rfs_bindings_build(rfs_binding **out, const rfs_config *cfg, size_t *arena_len);
/* Points every field of w into base (host or device memory) using the table. */
void rfs_bindings_apply(rfs_weights *w, const rfs_binding *b, int n, float *base);

/* Loaders behind rfs_model_load: a checkpoint file, or a package directory. */
rfs_status rfs_model_load_file(rfs_model **out, const char *path);
rfs_status rfs_model_load_package(rfs_model **out, const char *dir);

/* Number of named classes (the roboflow preset drops logit indexes beyond it). */
int rfs_model_class_count(const rfs_model *m);

/* data["class_name"] of today's rfdetr predict (rfdetr >= 1.9, utilities/class_names.py)
 * for a logit index; never NULL. The names are args.class_names, else COCO_CLASS_NAMES
 * (the 80 COCO names). When they are COCO's and the checkpoint has more logit slots than
 * names (official COCO checkpoints: 90 > 80), the index is a sparse COCO category id (1..90,
 * "" where COCO has none); otherwise index i is the i-th name, index num_classes (K - 1, the
 * no-object slot) is "__background__", any other index "". rfs_model_class_name gives
 * rfdetr 1.4.1's mapping (names at i + 1). */
const char *rfs_rfdetr_class_name(const rfs_model *m, int class_id);

/* COCO class names of rfdetr's COCO_CLASSES (index 1..90, NULL where unnamed). */
const char *rfs_coco_name(int class_id);

#endif
