/* model.c - the model object: load from a checkpoint (bind every weight once against the
 * table, with got/expected shapes on mismatch), or synthesize deterministic random
 * weights for a named size. */
#include "model/model.h"

#include "io/tensorfile.h"
#include "util/err.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const rfs_config *rfs_model_config(const rfs_model *m) { return &m->cfg; }

size_t rfs_model_param_count(const rfs_model *m) {
    rfs_binding *b;
    size_t len, total = 0;
    int n = rfs_bindings_build(&b, &m->cfg, &len);
    for (int i = 0; i < n; i++) total += b[i].numel;
    free(b);
    return total;
}

void rfs_model_free(rfs_model *m) {
    if (!m) return;
    rfs_model_forms_free(m);
    free(m->arena);
    for (int i = 0; i < m->n_class_names; i++) free(m->class_names[i]);
    free(m->class_names);
    for (int i = 0; i < m->n_pkg_names; i++) free(m->pkg_names[i]);
    free(m->pkg_names);
    rfs_package_free(&m->pkg);
    free(m->remap);
    free(m);
}

int rfs_model_auto_orient(const rfs_model *m) { return m->pkg.auto_orient; }

int rfs_model_class_count(const rfs_model *m) {
    if (m->pkg_names) return m->n_pkg_names;
    return m->class_names ? m->n_class_names : 91; /* COCO: ids 0..90 */
}

const char *rfs_model_class_name(const rfs_model *m, int id) {
    static _Thread_local char buf[16];
    if (m && m->class_names) {
        if (id >= 0 && id < m->n_class_names && m->class_names[id]) return m->class_names[id];
    } else {
        const char *n = rfs_coco_name(id);
        if (n) return n;
    }
    snprintf(buf, sizeof buf, "%d", id);
    return buf;
}

/* The i-th COCO name in category-id order (rfdetr's COCO_CLASS_NAMES, 80 names), or NULL. */
static const char *coco_dense(int i) {
    for (int id = 1, k = 0; id < 91; id++)
        if (rfs_coco_name(id) && k++ == i) return rfs_coco_name(id);
    return NULL;
}

/* Whether the checkpoint's class names are exactly COCO_CLASS_NAMES (absent names are). */
static int names_are_coco(const rfs_model *m) {
    if (!m->class_names) return 1;
    if (m->n_class_names - 1 != 80) return 0;
    for (int i = 0; i < 80; i++)
        if (!m->class_names[i + 1] || strcmp(m->class_names[i + 1], coco_dense(i))) return 0;
    return 1;
}

const char *rfs_rfdetr_class_name(const rfs_model *m, int id) {
    const int num_classes = m->cfg.num_classes - 1; /* logit slots without no-object */
    const int n = m->class_names ? m->n_class_names - 1 : 80;
    const int coco = names_are_coco(m);
    if (coco && num_classes > n) { /* is_coco_pretrained: sparse COCO category ids */
        const char *name = rfs_coco_name(id);
        return name ? name : "";
    }
    if (id == num_classes) return "__background__";
    if (id < 0 || id >= n) return "";
    const char *name = m->class_names ? m->class_names[id + 1] : coco_dense(id);
    return name ? name : "";
}

/* PyTorch's antialiased bicubic (a = -0.5) weights along one axis (rfdetr-seg-model.md
 * 3.3): for output i, taps [*lo, *lo + *n) with normalised weights w[0..n). */
static double cubic_aa(double x) {
    const double a = -0.5;
    x = fabs(x);
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0;
}

static int aa_taps(int in, int out, int i, int *lo, double *w, int maxn) {
    double scale = (double)in / out, support = 2.0 * (scale >= 1 ? scale : 1);
    double invscale = scale >= 1 ? 1.0 / scale : 1.0, center = scale * (i + 0.5);
    int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
    if (xmin < 0) xmin = 0;
    if (xmax > in) xmax = in;
    int n = xmax - xmin;
    if (n > maxn) n = maxn;
    double sum = 0;
    for (int j = 0; j < n; j++) sum += w[j] = cubic_aa((j + xmin - center + 0.5) * invscale);
    for (int j = 0; j < n; j++) w[j] = sum != 0 ? w[j] / sum : 0;
    *lo = xmin;
    return n;
}

/* Resizes the patch part of a position table (1 + P*P, D) to (1 + G*G, D). */
static rfs_status interp_pos(float *dst, const float *src, int P, int G, int D) {
    memcpy(dst, src, sizeof(float) * (size_t)D); /* CLS row unchanged */
    double *tmp = rfs_malloc(sizeof(double) * (size_t)P * G * D);
    if (!tmp) return RFS_ERR_NOMEM;
    enum { MAXN = 512 };
    double w[MAXN];
    /* horizontal: (P rows, P cols) -> (P rows, G cols) */
    for (int ox = 0; ox < G; ox++) {
        int lo, n = aa_taps(P, G, ox, &lo, w, MAXN);
        for (int y = 0; y < P; y++)
            for (int d = 0; d < D; d++) {
                double acc = 0;
                for (int j = 0; j < n; j++) acc += w[j] * src[(size_t)(1 + y * P + lo + j) * D + d];
                tmp[((size_t)y * G + ox) * D + d] = acc;
            }
    }
    /* vertical: (P rows, G cols) -> (G rows, G cols) */
    for (int oy = 0; oy < G; oy++) {
        int lo, n = aa_taps(P, G, oy, &lo, w, MAXN);
        for (int x = 0; x < G; x++)
            for (int d = 0; d < D; d++) {
                double acc = 0;
                for (int j = 0; j < n; j++) acc += w[j] * tmp[((size_t)(lo + j) * G + x) * D + d];
                dst[(size_t)(1 + oy * G + x) * D + d] = (float)acc;
            }
    }
    free(tmp);
    return RFS_OK;
}

static void shape_str(char *buf, size_t cap, int ndim, const long *shape64, const int64_t *s2) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "(");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "",
                              shape64 ? (long long)shape64[i] : (long long)s2[i]);
    if (k < cap) snprintf(buf + k, cap - k, ")");
}

/* Copies one tensor into the arena, checking its shape against the binding. */
static rfs_status bind_one(float *dst, const rfs_binding *b, const rfs_tensorfile *f,
                           const rfs_config *cfg, const char *label) {
    const rfs_tensor *t = rfs_tensorfile_find(f, b->name);
    if (!t) return RFS_FAIL(RFS_ERR_FORMAT, "%s: missing tensor '%s'", label, b->name);
    long expect[4];
    memcpy(expect, b->shape, sizeof expect);
    if (b->interp_pos) expect[1] = 1 + (long)cfg->pos_grid * cfg->pos_grid;
    int ok = t->ndim == b->ndim;
    for (int i = 0; ok && i < b->ndim; i++) {
        if (b->rows_stored && i == 0) ok = t->shape[0] >= b->rows_stored;
        else ok = t->shape[i] == expect[i];
    }
    if (!ok) {
        char got[96], want[96];
        shape_str(got, sizeof got, t->ndim, NULL, t->shape);
        shape_str(want, sizeof want, b->ndim, expect, NULL);
        return RFS_FAIL(RFS_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s%s", label,
                        b->name, got, want, b->rows_stored ? " (at least that many rows)" : "");
    }
    if (b->rows_stored && t->shape[0] > b->rows_stored) {
        /* query tables hold group_detr groups; inference uses the rows of group 0 */
        rfs_tensor head = *t;
        head.shape[0] = b->rows_stored;
        return rfs_tensor_to_f32(&head, dst);
    }
    if (b->interp_pos && cfg->pos_grid != cfg->grid) {
        size_t n = (size_t)rfs_tensor_numel(t);
        float *src = rfs_malloc(sizeof(float) * n);
        if (!src) return RFS_ERR_NOMEM;
        rfs_status st = rfs_tensor_to_f32(t, src);
        if (st == RFS_OK) st = interp_pos(dst, src, cfg->pos_grid, cfg->grid, cfg->vit_dim);
        free(src);
        return st;
    }
    rfs_status st = rfs_tensor_to_f32(t, dst);
    if (st != RFS_OK) return rfs_fail_context(st, "%s: tensor '%s'", label, b->name);
    return RFS_OK;
}

static rfs_status alloc_model(rfs_model **out, const rfs_config *cfg, rfs_binding **tab,
                              int *ntab) {
    rfs_model *m = rfs_calloc(1, sizeof *m);
    if (!m) return RFS_ERR_NOMEM;
    m->cfg = *cfg;
    rfs_package_defaults(&m->pkg);
    if (rfs_model_forms_init(m) != RFS_OK) {
        free(m);
        return RFS_ERR_NOMEM;
    }
    *ntab = rfs_bindings_build(tab, cfg, &m->arena_len);
    if (*ntab < 0) {
        rfs_model_free(m);
        return RFS_ERR_NOMEM;
    }
    m->arena = rfs_aligned_alloc(sizeof(float) * m->arena_len);
    if (!m->arena) {
        free(*tab);
        rfs_model_free(m);
        return RFS_ERR_NOMEM;
    }
    memset(m->arena, 0, sizeof(float) * m->arena_len);
    rfs_bindings_apply(&m->w, *tab, *ntab, m->arena);
    *out = m;
    return RFS_OK;
}

/* args.class_names as rfdetr reads them (models/weights.py): a list (its strings, in order,
 * other items skipped) or a single string. Stored by logit index i + 1, the 1.4.1 mapping. */
static rfs_status load_class_names(rfs_model *m, const rfs_tensorfile *f) {
    const rfs_value *cn = rfs_value_get(f->args, "class_names");
    if (!cn || !((cn->kind == RFS_V_LIST && cn->len) || cn->kind == RFS_V_STR)) return RFS_OK;
    size_t n = cn->kind == RFS_V_STR ? 1 : cn->len;
    m->class_names = rfs_calloc(n + 1, sizeof(char *));
    if (!m->class_names) return RFS_ERR_NOMEM;
    m->n_class_names = 1;
    for (size_t i = 0; i < n; i++) {
        const rfs_value *v = cn->kind == RFS_V_STR ? cn : cn->items[i];
        if (v->kind != RFS_V_STR) continue;
        if (!(m->class_names[m->n_class_names] = strdup(v->str)))
            return RFS_FAIL(RFS_ERR_NOMEM, "out of memory");
        m->n_class_names++;
    }
    if (m->n_class_names == 1) { /* no string at all: as if absent */
        free(m->class_names);
        m->class_names = NULL;
        m->n_class_names = 0;
    }
    return RFS_OK;
}

/* ---- state-dict entries beyond the bound weights ---------------------------------------- */

/* Whether every element of t is zero (an empty tensor is). */
static int all_zero(const rfs_tensor *t) {
    int64_t n = rfs_tensor_numel(t);
    if (n <= 0) return 1;
    float *v = rfs_malloc(sizeof(float) * (size_t)n);
    int zero = v && rfs_tensor_to_f32(t, v) == RFS_OK;
    for (int64_t i = 0; zero && i < n; i++) zero = v[i] == 0.f;
    free(v);
    return zero;
}

/* Entries a checkpoint may hold that inference does not use (rfdetr-seg-model.md 10.2):
 * DINOv2's mask_token, the two-stage heads of query groups 1..12 (training only), and the
 * keypoint buffers rfdetr >= 1.9 registers in every model, when they mark no keypoint.
 * Returns NULL when t is one of them, else what the entry says about the network. */
static const char *unexpected_entry(const rfs_tensor *t) {
    static const char *const groups[] = {"transformer.enc_output.", "transformer.enc_output_norm.",
                                         "transformer.enc_out_bbox_embed.",
                                         "transformer.enc_out_class_embed."};
    const char *n = t->name;
    if (!strcmp(n, "backbone.0.encoder.encoder.embeddings.mask_token")) return NULL;
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        size_t k = strlen(groups[i]);
        if (!strncmp(n, groups[i], k) && n[k] >= '1' && n[k] <= '9') return NULL;
    }
    if (!strcmp(n, "_kp_active_mask") || !strcmp(n, "transformer.keypoint_class_mask"))
        return all_zero(t) ? NULL : "marks active keypoints: a keypoint model";
    if (strstr(n, "register_tokens")) return "holds register tokens: a backbone with registers";
    if (!strncmp(n, "transformer.decoder.bbox_embed.", 31))
        return "refines boxes between decoder layers (lite_refpoint_refine=False)";
    if (strstr(n, "projector.stages.1.") || strstr(n, "stages_sampling") || strstr(n, "cross_attn_projector"))
        return "belongs to a second projector level";
    if (strstr(n, "keypoint")) return "belongs to a keypoint head";
    if (strstr(n, "lora_") || strstr(n, "base_layer")) return "is a LoRA adapter (not merged)";
    if (strstr(n, "running_mean") || strstr(n, "running_var") || strstr(n, "num_batches_tracked"))
        return "belongs to a batch norm";
    return "is not part of the RF-DETR-Seg network";
}

/* Every state-dict entry must be a bound weight or one that inference ignores on purpose;
 * anything else means the checkpoint describes another network, and loading it would
 * silently compute something else. */
static rfs_status check_unused(const rfs_tensorfile *f, const rfs_binding *tab, int ntab,
                               const char *label) {
    unsigned char *used = rfs_calloc((size_t)f->count + 1, 1);
    if (!used) return RFS_ERR_NOMEM;
    for (int i = 0; i < ntab; i++) {
        const rfs_tensor *t = rfs_tensorfile_find(f, tab[i].name);
        if (t) used[t - f->tensors] = 1;
    }
    rfs_status st = RFS_OK;
    int bad = 0, first = -1;
    const char *why = NULL;
    for (int i = 0; i < f->count; i++) {
        const char *w = used[i] ? NULL : unexpected_entry(&f->tensors[i]);
        if (w && !bad++) first = i, why = w;
    }
    if (bad)
        st = RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: state-dict entry '%s' %s; rfseg computes "
                      "RF-DETR-Seg only (%d unexpected entr%s)", label, f->tensors[first].name,
                      why, bad, bad == 1 ? "y" : "ies");
    free(used);
    return st;
}

rfs_status rfs_model_load(rfs_model **out, const char *path) {
    struct stat sb;
    *out = NULL;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return rfs_model_load_package(out, path);
    return rfs_model_load_file(out, path);
}

rfs_status rfs_model_load_file(rfs_model **out, const char *path) {
    *out = NULL;
    rfs_tensorfile *f = NULL;
    rfs_model *m = NULL;
    rfs_binding *tab = NULL;
    int ntab = 0;
    rfs_config cfg;
    rfs_status st = rfs_tensorfile_open(&f, path);
    if (st != RFS_OK) return st;
    if ((st = rfs_config_from_file(&cfg, f, path)) != RFS_OK) goto fail;
    if ((st = alloc_model(&m, &cfg, &tab, &ntab)) != RFS_OK) goto fail;
    for (int i = 0; i < ntab; i++)
        if ((st = bind_one(m->arena + tab[i].offset, &tab[i], f, &cfg, path)) != RFS_OK) goto fail;
    if ((st = check_unused(f, tab, ntab, path)) != RFS_OK) goto fail;
    if ((st = load_class_names(m, f)) != RFS_OK) goto fail;
    snprintf(m->source, sizeof m->source, "%s", path);
    free(tab);
    rfs_tensorfile_free(f);
    *out = m;
    return RFS_OK;
fail:
    free(tab);
    rfs_model_free(m);
    rfs_tensorfile_free(f);
    return st;
}

/* ---- random weights ------------------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) { /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_normal(rng *r) {
    double u1 = ((rng_next(r) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (rng_next(r) >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Scales chosen so that activations stay in the range real checkpoints have (unit-ish
 * residual streams, a handful of detections above the usual thresholds), which is what
 * speed measurements and reduced-precision checks need. */
static void fill_random(float *dst, const rfs_binding *b, rng *r) {
    const char *n = b->name;
    double mean = 0, std;
    if (ends_with(n, "lambda1")) mean = 0.1, std = 0.02;                /* layer scale */
    else if (strstr(n, "norm") || strstr(n, ".bn.") || ends_with(n, "layernorm.weight") ||
             ends_with(n, "layernorm.bias") || strstr(n, "stages.0.1.")) {
        if (ends_with(n, "weight")) mean = 1.0;
        std = 0.02;
    } else if (ends_with(n, "class_embed.bias") || ends_with(n, "class_embed.0.bias"))
        mean = -4.0, std = 1.0; /* ~15 detections > 0.4 per frame of the sample video */
    else if (ends_with(n, "bias")) std = 0.02;
    else if (ends_with(n, "refpoint_embed.weight")) std = 0.5;
    else if (b->ndim >= 2) {
        long fan_in = 1;
        for (int i = 1; i < b->ndim; i++) fan_in *= b->shape[i];
        if (b->interp_pos || ends_with(n, "cls_token")) fan_in = 2500;  /* std 0.02 */
        if (ends_with(n, "query_feat.weight")) fan_in = 1;
        std = 1.0 / sqrt((double)fan_in);
    } else std = 0.02;
    for (size_t i = 0; i < b->numel; i++) dst[i] = (float)(mean + std * rng_normal(r));
}

rfs_status rfs_model_random(rfs_model **out, const char *size, uint64_t seed) {
    *out = NULL;
    rfs_config cfg;
    rfs_status st = rfs_config_preset(&cfg, size);
    if (st != RFS_OK) return st;
    rfs_model *m;
    rfs_binding *tab;
    int ntab;
    if ((st = alloc_model(&m, &cfg, &tab, &ntab)) != RFS_OK) return st;
    for (int i = 0; i < ntab; i++) {
        rng r = {seed * 0x100000001B3ull + (uint64_t)i * 0x9E3779B97F4A7C15ull};
        fill_random(m->arena + tab[i].offset, &tab[i], &r);
    }
    free(tab);
    snprintf(m->source, sizeof m->source, "random:%s:%llu", cfg.size, (unsigned long long)seed);
    *out = m;
    return RFS_OK;
}
