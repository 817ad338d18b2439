/* config.c - the network's configuration: official presets, derivation from a checkpoint
 * (rfdetr's `args` when present, tensor shapes always), validation.
 *
 * Shapes decide everything they can (widths, depths, K, query rows, patch size, position
 * grid); args decide what shapes cannot (resolution when it differs from P*ps, windows,
 * out_feature_indexes, head counts, queries, num_select). Without args, the official
 * seg presets fill the gaps when the shapes match one, else documented defaults. */
#include "model/model.h"

#include "io/tensorfile.h"
#include "util/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct preset {
    const char *name;
    int ps, R, P, nw, L, nq, num_select;
} preset;

/* rfdetr-seg-model.md 1.2 */
static const preset PRESETS[] = {
    {"seg-preview", 12, 432, 36, 2, 4, 200, 200},
    {"seg-nano", 12, 312, 26, 1, 4, 100, 100},
    {"seg-small", 12, 384, 32, 2, 4, 100, 100},
    {"seg-medium", 12, 432, 36, 2, 5, 200, 200},
    {"seg-large", 12, 504, 42, 2, 5, 200, 200},
    {"seg-xlarge", 12, 624, 52, 2, 6, 300, 300},
    {"seg-2xlarge", 12, 768, 64, 2, 6, 300, 300},
};
enum { N_PRESETS = sizeof PRESETS / sizeof PRESETS[0] };

const char *const *rfs_model_size_names(void) {
    static const char *names[N_PRESETS + 1];
    for (int i = 0; i < N_PRESETS; i++) names[i] = PRESETS[i].name;
    return names;
}

static const preset *find_preset(const char *name) {
    for (int i = 0; i < N_PRESETS; i++)
        if (!strcmp(PRESETS[i].name, name)) return &PRESETS[i];
    /* accept the short forms people type: "nano", "rf-detr-seg-nano" */
    for (int i = 0; i < N_PRESETS; i++) {
        const char *short_name = PRESETS[i].name + 4;
        size_t n = strlen(name), m = strlen(short_name);
        if (!strcmp(name, short_name) || (n > m && !strcmp(name + n - m, short_name) &&
                                          name[n - m - 1] == '-' && strstr(name, "seg")))
            return &PRESETS[i];
    }
    return NULL;
}

rfs_status rfs_config_preset(rfs_config *cfg, const char *size) {
    const preset *p = find_preset(size);
    if (!p) return RFS_FAIL(RFS_ERR_ARG, "unknown model size '%s' (one of seg-preview, seg-nano, "
                                         "seg-small, seg-medium, seg-large, seg-xlarge, seg-2xlarge)", size);
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->size, sizeof cfg->size, "%s", p->name);
    cfg->resolution = p->R;
    cfg->patch_size = p->ps;
    cfg->grid = p->R / p->ps;
    cfg->pos_grid = p->P;
    cfg->num_windows = p->nw;
    cfg->vit_dim = 384;
    cfg->vit_heads = 6;
    cfg->vit_layers = 12;
    cfg->vit_mlp = 1536;
    cfg->num_taps = 4;
    for (int t = 0; t < 4; t++) cfg->tap_layers[t] = 3 * t + 2;
    cfg->hidden_dim = 256;
    cfg->proj_blocks = 3;
    cfg->dec_layers = p->L;
    cfg->sa_heads = 8;
    cfg->ca_heads = 16;
    cfg->dec_points = 2;
    cfg->dim_feedforward = 2048;
    cfg->num_queries = p->nq;
    cfg->num_select = p->num_select;
    cfg->num_classes = 91;
    cfg->query_rows = p->nq * 13;
    cfg->mask_side = p->R / 4;
    cfg->seg_mlp = 1024;
    return rfs_config_validate(cfg, p->name);
}

void rfs_config_name(rfs_config *cfg) {
    snprintf(cfg->size, sizeof cfg->size, "custom");
    if (cfg->vit_dim != 384 || cfg->vit_layers != 12 || cfg->hidden_dim != 256) return;
    for (int i = 0; i < N_PRESETS; i++) {
        const preset *p = &PRESETS[i];
        if (p->ps == cfg->patch_size && p->R == cfg->resolution && p->nw == cfg->num_windows &&
            p->L == cfg->dec_layers && p->nq == cfg->num_queries) {
            snprintf(cfg->size, sizeof cfg->size, "%s", p->name);
            return;
        }
    }
}

#define BB "backbone.0.encoder.encoder."
#define PJ "backbone.0.projector.stages.0.0."

/* Shape of a tensor that must exist, for derivation; *t NULL when missing. */
static const rfs_tensor *need(const rfs_tensorfile *f, const char *name, int ndim,
                              const char *label) {
    const rfs_tensor *t = rfs_tensorfile_find(f, name);
    if (!t) {
        RFS_FAIL(RFS_ERR_FORMAT, "%s: missing tensor '%s' (not an RF-DETR-Seg checkpoint?)", label,
                 name);
        return NULL;
    }
    if (t->ndim != ndim) {
        RFS_FAIL(RFS_ERR_FORMAT, "%s: tensor '%s' has %d dims, expected %d", label, name, t->ndim,
                 ndim);
        return NULL;
    }
    return t;
}

static int count_indexed(const rfs_tensorfile *f, const char *fmt) {
    char name[256];
    int n = 0;
    for (;; n++) {
        snprintf(name, sizeof name, fmt, n);
        if (!rfs_tensorfile_find(f, name)) return n;
    }
}

/* A setting of the checkpoint: its "model_config" dict (the architecture, written by
 * rfdetr >= 1.8 beside the training args) first, then "args" (argparse.Namespace,
 * SimpleNamespace or dict; a Lightning file's hyper_parameters). None counts as absent. */
static const rfs_value *setting(const rfs_tensorfile *f, const char *key) {
    const rfs_value *mc = rfs_value_get(f->root, "model_config");
    const rfs_value *v = mc && mc->kind == RFS_V_DICT ? rfs_value_get(mc, key) : NULL;
    if (!v || v->kind == RFS_V_NONE) v = rfs_value_get(f->args, key);
    return v && v->kind != RFS_V_NONE ? v : NULL;
}

/* An integer setting: the checkpoint's (see setting()), else a safetensors __metadata__
 * string (the same keys, written as decimal text), else the fallback. */
static int arg_int(const rfs_tensorfile *f, const char *key, int fallback) {
    int64_t v = fallback;
    const rfs_value *x = setting(f, key);
    if (x) {
        if (x->kind == RFS_V_INT || x->kind == RFS_V_BOOL) v = x->i;
    } else if (!f->args && f->root) {
        const char *txt = rfs_value_str(f->root, key, NULL);
        if (txt && *txt) {
            char *end;
            long long n = strtoll(txt, &end, 10);
            if (!*end) v = n;
        }
    }
    return v < -1000000000 || v > 1000000000 ? fallback : (int)v;
}

/* Settings that change the network away from the RF-DETR-Seg that rfseg computes
 * (rfdetr-seg-model.md 1.4): each must be absent or hold the value every seg model has.
 * Everything else in args (training settings) is ignored. */
typedef struct net_arg {
    const char *key;
    rfs_vkind kind;  /* RFS_V_BOOL, RFS_V_INT or RFS_V_STR */
    int64_t i;       /* required bool / int */
    const char *str; /* required string */
    const char *why; /* what a different value means */
} net_arg;

static const net_arg NET_ARGS[] = {
    {"segmentation_head", RFS_V_BOOL, 1, NULL, "a detection model without the segmentation head"},
    {"two_stage", RFS_V_BOOL, 1, NULL, "single-stage query selection"},
    {"bbox_reparam", RFS_V_BOOL, 1, NULL, "boxes decoded without reparameterisation"},
    {"lite_refpoint_refine", RFS_V_BOOL, 1, NULL, "reference boxes refined between decoder layers"},
    {"layer_norm", RFS_V_BOOL, 1, NULL, "a projector with batch norm"},
    {"rms_norm", RFS_V_BOOL, 0, NULL, "a projector with RMS norm"},
    {"backbone_lora", RFS_V_BOOL, 0, NULL, "unmerged LoRA adapters in the backbone"},
    {"use_grouppose_keypoints", RFS_V_BOOL, 0, NULL, "a keypoint model"},
    {"mask_downsample_ratio", RFS_V_INT, 4, NULL, "masks at another fraction of the input"},
    {"num_channels", RFS_V_INT, 3, NULL, "input images without three channels"},
    {"num_decoder_registers", RFS_V_INT, 0, NULL, "decoder register tokens"},
    {"num_feature_levels", RFS_V_INT, 1, NULL, "several feature levels"},
    {"decoder_norm", RFS_V_STR, 0, "LN", "another decoder normalisation"},
};

static int is_true_value(const rfs_value *v) {
    return (v->kind == RFS_V_BOOL || v->kind == RFS_V_INT) && v->i != 0;
}

/* Fails with RFS_ERR_UNSUPPORTED naming the first setting that describes another network. */
static rfs_status check_network_args(const rfs_tensorfile *f, const char *label) {
    for (size_t k = 0; k < sizeof NET_ARGS / sizeof NET_ARGS[0]; k++) {
        const net_arg *a = &NET_ARGS[k];
        const rfs_value *v = setting(f, a->key);
        if (!v) continue;
        char got[64];
        int ok;
        if (a->kind == RFS_V_STR) {
            ok = v->kind == RFS_V_STR && !strcmp(v->str, a->str);
            snprintf(got, sizeof got, "%s%.40s%s", v->kind == RFS_V_STR ? "'" : "",
                     v->kind == RFS_V_STR ? v->str : "(not a string)", v->kind == RFS_V_STR ? "'" : "");
        } else if (a->kind == RFS_V_BOOL) {
            ok = (v->kind == RFS_V_BOOL || v->kind == RFS_V_INT) && is_true_value(v) == (int)a->i;
            snprintf(got, sizeof got, "%s", v->kind == RFS_V_BOOL || v->kind == RFS_V_INT
                                              ? (is_true_value(v) ? "True" : "False") : "(not a bool)");
        } else {
            ok = v->kind == RFS_V_INT && v->i == a->i;
            if (v->kind == RFS_V_INT) snprintf(got, sizeof got, "%lld", (long long)v->i);
            else snprintf(got, sizeof got, "(not an int)");
        }
        if (!ok)
            return RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: the checkpoint's %s is %s: %s, which rfseg "
                            "does not compute (it runs RF-DETR-Seg)", label, a->key, got, a->why);
    }
    const rfs_value *ps = setting(f, "projector_scale");
    if (ps && !(ps->kind == RFS_V_LIST && ps->len == 1 && ps->items[0]->kind == RFS_V_STR &&
                !strcmp(ps->items[0]->str, "P4")))
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: the checkpoint's projector_scale is not ['P4']: "
                        "several projector levels, which rfseg does not compute", label);
    const rfs_value *enc = setting(f, "encoder");
    if (enc && enc->kind == RFS_V_STR && strstr(enc->str, "registers"))
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: the checkpoint's encoder is '%.60s': a backbone "
                        "with register tokens, which rfseg does not compute", label, enc->str);
    const rfs_value *kp = setting(f, "num_keypoints_per_class");
    for (size_t i = 0; kp && kp->kind == RFS_V_LIST && i < kp->len; i++)
        if (kp->items[i]->kind == RFS_V_INT && kp->items[i]->i > 0)
            return RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: the checkpoint has keypoints "
                            "(num_keypoints_per_class): a keypoint model, not RF-DETR-Seg", label);
    /* rfdetr >= 1.7 names the model class; only the segmentation classes are RF-DETR-Seg */
    const char *names[2] = {rfs_value_str(f->root, "model_name", NULL),
                            rfs_value_str(f->args, "model_name", NULL)};
    for (int i = 0; i < 2; i++)
        if (names[i] && *names[i] && !strstr(names[i], "Seg"))
            return RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: the checkpoint's model_name is '%.60s', not "
                            "an RF-DETR-Seg model (rfseg runs RFDETRSeg* checkpoints)", label, names[i]);
    return RFS_OK;
}

/* out_feature_indexes from metadata text such as "[2, 4, 6]"; returns the count read. */
static int parse_index_list(const char *txt, int *out, int cap) {
    int n = 0;
    while (*txt && n < cap) {
        if ((*txt >= '0' && *txt <= '9') || *txt == '-') {
            char *end;
            long v = strtol(txt, &end, 10);
            out[n++] = (int)v;
            txt = end;
        } else txt++;
    }
    return n;
}

rfs_status rfs_config_from_file(rfs_config *cfg, const rfs_tensorfile *f, const char *label) {
    memset(cfg, 0, sizeof *cfg);
    const rfs_tensor *t;
    rfs_status st = check_network_args(f, label);
    if (st != RFS_OK) return st;

    if (!(t = need(f, BB "embeddings.patch_embeddings.projection.weight", 4, label)))
        return RFS_ERR_FORMAT;
    cfg->vit_dim = (int)t->shape[0];
    cfg->patch_size = (int)t->shape[2];
    if (t->shape[1] != 3 || t->shape[2] != t->shape[3])
        return RFS_FAIL(RFS_ERR_FORMAT, "%s: patch embedding has shape (%lld,%lld,%lld,%lld), "
                        "expected (D,3,ps,ps)", label, (long long)t->shape[0],
                        (long long)t->shape[1], (long long)t->shape[2], (long long)t->shape[3]);
    cfg->vit_heads = cfg->vit_dim / 64; /* DINOv2 heads are 64 wide */
    cfg->vit_layers = count_indexed(f, BB "encoder.layer.%d.norm1.weight");
    if (!(t = need(f, BB "encoder.layer.0.mlp.fc1.weight", 2, label))) return RFS_ERR_FORMAT;
    cfg->vit_mlp = (int)t->shape[0];
    if (!(t = need(f, BB "embeddings.position_embeddings", 3, label))) return RFS_ERR_FORMAT;
    {
        long n = (long)t->shape[1] - 1;
        int P = (int)lround(sqrt((double)(n > 0 ? n : 0)));
        if (n <= 0 || (long)P * P != n)
            return RFS_FAIL(RFS_ERR_FORMAT, "%s: position_embeddings has %ld patch rows, not a square",
                            label, n);
        cfg->pos_grid = P;
    }
    cfg->resolution = arg_int(f, "resolution", cfg->pos_grid * cfg->patch_size);
    cfg->num_windows = arg_int(f, "num_windows", 0);

    if (!(t = need(f, "transformer.decoder.norm.weight", 1, label))) return RFS_ERR_FORMAT;
    cfg->hidden_dim = (int)t->shape[0];
    cfg->proj_blocks = count_indexed(f, PJ "m.%d.cv1.conv.weight");
    if (!(t = need(f, PJ "cv1.conv.weight", 4, label))) return RFS_ERR_FORMAT;
    cfg->num_taps = cfg->vit_dim > 0 ? (int)(t->shape[1] / cfg->vit_dim) : 0;
    cfg->dec_layers = count_indexed(f, "transformer.decoder.layers.%d.norm1.weight");
    if (!(t = need(f, "transformer.decoder.layers.0.linear1.weight", 2, label))) return RFS_ERR_FORMAT;
    cfg->dim_feedforward = (int)t->shape[0];
    if (!(t = need(f, "class_embed.bias", 1, label))) return RFS_ERR_FORMAT;
    cfg->num_classes = (int)t->shape[0];
    if (!(t = need(f, "query_feat.weight", 2, label))) return RFS_ERR_FORMAT;
    cfg->query_rows = (int)t->shape[0];
    if (!(t = need(f, "segmentation_head.query_features_block.layers.0.weight", 2, label)))
        return RFS_ERR_FORMAT;
    cfg->seg_mlp = (int)t->shape[0];

    /* deformable attention: rows of attention_weights = heads * levels(1) * points */
    if (!(t = need(f, "transformer.decoder.layers.0.cross_attn.attention_weights.weight", 2, label)))
        return RFS_ERR_FORMAT;
    int aw_rows = (int)t->shape[0];
    cfg->dec_points = arg_int(f, "dec_n_points", 2);
    cfg->ca_heads = arg_int(f, "ca_nheads", cfg->dec_points > 0 ? aw_rows / cfg->dec_points : 0);
    cfg->sa_heads = arg_int(f, "sa_nheads", cfg->hidden_dim / 32);

    /* queries: args, else a preset with these shapes, else rows / group_detr */
    int group = arg_int(f, "group_detr", 13);
    const preset *match = NULL;
    for (int i = 0; i < N_PRESETS; i++) {
        const preset *p = &PRESETS[i];
        if (p->ps == cfg->patch_size && p->P == cfg->pos_grid && p->L == cfg->dec_layers &&
            p->nq * 13 == cfg->query_rows)
            match = p;
    }
    cfg->num_queries = arg_int(f, "num_queries", match ? match->nq : cfg->query_rows / (group > 0 ? group : 1));
    cfg->num_select = arg_int(f, "num_select", cfg->num_queries);
    if (!cfg->num_windows) cfg->num_windows = match ? match->nw : 1;

    /* taps: args.out_feature_indexes are 1-based hidden-state indexes */
    const rfs_value *ofi = setting(f, "out_feature_indexes");
    if (ofi && ofi->kind == RFS_V_LIST) {
        if ((int)ofi->len != cfg->num_taps)
            return RFS_FAIL(RFS_ERR_FORMAT, "%s: out_feature_indexes has %zu entries but the "
                            "projector takes %d taps", label, ofi->len, cfg->num_taps);
        for (int i = 0; i < cfg->num_taps && i < 8; i++) {
            const rfs_value *v = ofi->items[i];
            if (v->kind != RFS_V_INT)
                return RFS_FAIL(RFS_ERR_FORMAT, "%s: out_feature_indexes[%d] is not an int",
                                label, i);
            cfg->tap_layers[i] = (int)v->i - 1;
        }
    } else if (!f->args && rfs_value_str(f->root, "out_feature_indexes", NULL)) {
        int idx[8];
        int n = parse_index_list(rfs_value_str(f->root, "out_feature_indexes", ""), idx, 8);
        if (n != cfg->num_taps)
            return RFS_FAIL(RFS_ERR_FORMAT, "%s: metadata out_feature_indexes has %d entries but the "
                            "projector takes %d taps", label, n, cfg->num_taps);
        for (int i = 0; i < n; i++) cfg->tap_layers[i] = idx[i] - 1;
    } else {
        for (int i = 0; i < cfg->num_taps && i < 8; i++)
            cfg->tap_layers[i] = (i + 1) * cfg->vit_layers / (cfg->num_taps ? cfg->num_taps : 1) - 1;
    }
    if (cfg->patch_size > 0) cfg->grid = cfg->resolution / cfg->patch_size;
    cfg->mask_side = cfg->resolution / 4;
    rfs_config_name(cfg);
    return rfs_config_validate(cfg, label);
}

rfs_status rfs_config_validate(const rfs_config *c, const char *label) {
#define REQUIRE(cond, ...)                                                                 \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            char why_[256];                                                                \
            snprintf(why_, sizeof why_, __VA_ARGS__);                                      \
            return RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: unsupported model configuration: %s", \
                            label, why_);                                                  \
        }                                                                                  \
    } while (0)
    REQUIRE(c->patch_size >= 1 && c->patch_size <= 64, "patch size %d", c->patch_size);
    REQUIRE(c->resolution >= c->patch_size && c->resolution <= 4096, "resolution %d", c->resolution);
    REQUIRE(c->num_windows >= 1 && c->num_windows <= 16, "num_windows %d", c->num_windows);
    REQUIRE(c->resolution % (c->patch_size * c->num_windows) == 0,
            "resolution %d is not a multiple of patch_size*num_windows = %d", c->resolution,
            c->patch_size * c->num_windows);
    REQUIRE(c->resolution % 4 == 0, "resolution %d is not a multiple of 4", c->resolution);
    REQUIRE(c->pos_grid >= 1 && c->pos_grid <= 512, "position grid %d", c->pos_grid);
    REQUIRE(c->vit_dim >= 64 && c->vit_dim % 64 == 0 && c->vit_dim <= 4096,
            "ViT width %d (must be a multiple of 64)", c->vit_dim);
    REQUIRE(c->vit_layers >= 1 && c->vit_layers <= RFS_MAX_VIT_LAYERS, "ViT depth %d", c->vit_layers);
    REQUIRE(c->vit_mlp >= 1 && c->vit_mlp <= 65536, "ViT MLP width %d", c->vit_mlp);
    REQUIRE(c->num_taps >= 1 && c->num_taps <= 8, "%d backbone taps", c->num_taps);
    for (int i = 0; i < c->num_taps; i++) {
        REQUIRE(c->tap_layers[i] >= 0 && c->tap_layers[i] < c->vit_layers,
                "tap %d at layer %d of %d", i, c->tap_layers[i], c->vit_layers);
        REQUIRE(i == 0 || c->tap_layers[i] > c->tap_layers[i - 1], "tap layers not increasing");
    }
    REQUIRE(c->hidden_dim >= 8 && c->hidden_dim % 2 == 0 && c->hidden_dim <= 4096,
            "hidden_dim %d", c->hidden_dim);
    REQUIRE(c->proj_blocks >= 1 && c->proj_blocks <= RFS_MAX_PROJ_BLOCKS, "%d projector blocks",
            c->proj_blocks);
    REQUIRE(c->dec_layers >= 1 && c->dec_layers <= RFS_MAX_DEC_LAYERS, "%d decoder layers",
            c->dec_layers);
    REQUIRE(c->sa_heads >= 1 && c->hidden_dim % c->sa_heads == 0, "%d self-attention heads for "
            "width %d", c->sa_heads, c->hidden_dim);
    REQUIRE(c->ca_heads >= 1 && c->hidden_dim % c->ca_heads == 0 &&
                c->hidden_dim / c->ca_heads <= 256,
            "%d cross-attention heads for width %d", c->ca_heads, c->hidden_dim);
    REQUIRE(c->dec_points >= 1 && c->dec_points <= 64, "%d sampling points", c->dec_points);
    REQUIRE(c->dim_feedforward >= 1 && c->dim_feedforward <= 65536, "FFN width %d",
            c->dim_feedforward);
    REQUIRE(c->num_queries >= 1 && c->num_queries <= c->query_rows && c->num_queries <= 10000,
            "%d queries (%d stored)", c->num_queries, c->query_rows);
    REQUIRE(c->num_select >= 1 && c->num_select <= c->num_queries * c->num_classes,
            "num_select %d", c->num_select);
    REQUIRE(c->num_classes >= 1 && c->num_classes <= 100000, "%d classes", c->num_classes);
    REQUIRE(c->seg_mlp >= 1 && c->seg_mlp <= 65536, "seg MLP width %d", c->seg_mlp);
    return RFS_OK;
#undef REQUIRE
}
