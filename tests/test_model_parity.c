/* test_model_parity.c - the CPU forward pass against the official model.
 *
 * For both fixture models (tiny-w1: one window; tiny-w2: 2x2 windows) and the four fixture
 * images, from the reference preprocessed input:
 *   pred_logits, pred_boxes, pred_masks: relative error ||a-b||/||b|| <= 1e-5 and
 *   max abs error <= 1e-3 against float64 references of rfdetr 1.4.1;
 *   for astronaut, every named intermediate tensor (forward hooks) within the same bounds,
 *   in forward order, printing the first that diverges; every reference tensor must have
 *   been produced;
 *   the official PostProcess (top-k over sigmoid scores) matches post_scores, post_labels
 *   and post_boxes, comparing entries with tied scores as sets.
 */
#include "harness.h"

#include "io/tensorfile.h"
#include "pipeline/session.h"
#include "pipeline/select.h"

#include <math.h>

static const char *IMAGES[] = {"astronaut", "chelsea", "coffee", "rocket"};

typedef struct err_stats {
    double rel, maxabs;
} err_stats;

static err_stats compare(const float *a, const float *b, size_t n) {
    double num = 0, den = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
        if (!(fabs(d) <= mx)) mx = fabs(d); /* NaN propagates */
    }
    err_stats e = {den > 0 ? sqrt(num / den) : sqrt(num), mx};
    return e;
}

static int within(err_stats e) { return e.rel <= 1e-5 && e.maxabs <= 1e-3; }

/* Reads a reference tensor as float32; NULL (and a failed check) when missing. */
static float *ref_f32(const rfs_tensorfile *ref, const char *name, size_t *numel) {
    const rfs_tensor *t = rfs_tensorfile_find(ref, name);
    CHECKF(t != NULL, "reference tensor '%s' missing", name);
    if (!t) return NULL;
    *numel = (size_t)rfs_tensor_numel(t);
    float *buf = malloc(sizeof(float) * *numel);
    if (buf && rfs_tensor_to_f32(t, buf) != RFS_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- trace collection ---------------------------------------------------------------- */

typedef struct traced {
    char name[128];
    int ndim;
    int64_t shape[8];
    float *data;
} traced;

typedef struct trace_log {
    traced t[512];
    int n;
} trace_log;

static void on_trace(void *user, const char *name, const float *data, int ndim,
                     const int64_t *shape) {
    trace_log *log = user;
    if (log->n >= 512) return;
    traced *t = &log->t[log->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)(t->shape[i] = shape[i]);
    t->data = malloc(sizeof(float) * n);
    memcpy(t->data, data, sizeof(float) * n);
}

static void check_trace(const trace_log *log, const rfs_tensorfile *ref, const char *model) {
    int diverged = 0;
    for (int i = 0; i < log->n; i++) {
        const traced *t = &log->t[i];
        char key[200];
        snprintf(key, sizeof key, "astronaut/out:%s", t->name);
        const rfs_tensor *r = rfs_tensorfile_find(ref, key);
        if (!r) continue; /* produced but not in the reference: fine */
        int same_shape = r->ndim == t->ndim;
        for (int d = 0; same_shape && d < t->ndim; d++) same_shape = r->shape[d] == t->shape[d];
        CHECKF(same_shape, "%s: %s has another shape than the reference", model, t->name);
        if (!same_shape) continue;
        size_t n;
        float *b = ref_f32(ref, key, &n);
        if (!b) continue;
        err_stats e = compare(t->data, b, n);
        if (!within(e) && !diverged) {
            printf("  %s: first diverging tensor: %s (rel %.3g, max abs %.3g)\n", model, t->name,
                   e.rel, e.maxabs);
            diverged = 1;
        }
        CHECKF(within(e), "%s: %s rel %.3g max abs %.3g", model, t->name, e.rel, e.maxabs);
        free(b);
    }
    /* every reference intermediate must have been produced */
    for (int i = 0; i < ref->count; i++) {
        const char *name = ref->tensors[i].name;
        if (strncmp(name, "astronaut/out:", 14)) continue;
        int found = 0;
        for (int j = 0; j < log->n && !found; j++) found = !strcmp(log->t[j].name, name + 14);
        CHECKF(found, "%s: reference tensor %s was not produced by the trace", model, name);
    }
}

/* ---- post-processing ------------------------------------------------------------------- */

static void check_post(const rfs_session *s, const rfs_tensorfile *ref, const char *model,
                       const char *img, int W, int H) {
    const rfs_config *c = &s->m->cfg;
    char key[128];
    size_t ns, nl, nb;
    snprintf(key, sizeof key, "%s/post_scores", img);
    float *scores = ref_f32(ref, key, &ns);
    snprintf(key, sizeof key, "%s/post_labels", img);
    float *labels = ref_f32(ref, key, &nl);
    snprintf(key, sizeof key, "%s/post_boxes", img);
    float *boxes = ref_f32(ref, key, &nb);
    const int nq = c->num_queries, K = c->num_classes;
    int *idx = malloc(sizeof(int) * (size_t)nq * K);
    float *prob = malloc(sizeof(float) * (size_t)nq * K);
    rfs_cand *cand = malloc(sizeof(rfs_cand) * (size_t)nq * K);
    if (scores && labels && boxes && idx && prob && cand) {
        int k = rfs_select_topk(cand, s->net->logits, nq, K, c->num_select, idx, prob);
        CHECKF((size_t)k == ns, "%s/%s: %d selected, reference %zu", model, img, k, ns);
        for (int i = 0; i < k && (size_t)i < ns; i++) {
            CHECKF(fabsf(cand[i].score - scores[i]) <= 1e-5f, "%s/%s: score %d: %.8f vs %.8f",
                   model, img, i, cand[i].score, scores[i]);
            /* the entry with the same (label, box) must exist among reference entries whose
             * score ties with ours (sets where scores tie) */
            float xyxy[4];
            rfs_box_xyxy(xyxy, s->net->boxes + (size_t)cand[i].query * 4, (float)W, (float)H);
            int match = 0;
            for (size_t j = 0; j < ns && !match; j++) {
                if (fabsf(scores[j] - cand[i].score) > 1e-5f) continue;
                if ((int)labels[j] != cand[i].cls) continue;
                int ok = 1;
                for (int d = 0; d < 4; d++)
                    ok &= fabsf(xyxy[d] - boxes[j * 4 + d]) <= 1e-3f * fmaxf(1.f, fabsf(boxes[j * 4 + d]));
                match = ok;
            }
            CHECKF(match, "%s/%s: post entry %d (query %d, label %d, score %.6f) not in the reference",
                   model, img, i, cand[i].query, cand[i].cls, cand[i].score);
        }
    }
    free(scores), free(labels), free(boxes), free(idx), free(prob), free(cand);
}

static void image_size(const rfs_tensorfile *ref, const char *img, int *W, int *H) {
    /* post_masks_top5_packbits is (5, H, ceil(W/8)); W comes from the fixture README */
    static const struct { const char *name; int w, h; } sizes[] = {
        {"astronaut", 512, 512}, {"coffee", 600, 400}, {"chelsea", 451, 300}, {"rocket", 640, 427}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (!strcmp(sizes[i].name, img)) *W = sizes[i].w, *H = sizes[i].h;
    char key[128];
    snprintf(key, sizeof key, "%s/post_masks_top5_packbits", img);
    const rfs_tensor *t = rfs_tensorfile_find(ref, key);
    if (t) CHECKF(t->shape[1] == *H && t->shape[2] == (*W + 7) / 8, "%s size mismatch", img);
}

static void run_model(const char *model) {
    char path[256];
    snprintf(path, sizeof path, "fixtures/rfdetr/%s.pth", model);
    rfs_model *m = NULL;
    rfs_status st = rfs_model_load(&m, test_shared(path));
    CHECKF(st == RFS_OK, "load %s: %s", model, rfs_last_error());
    snprintf(path, sizeof path, "fixtures/rfdetr/%s.ref.safetensors", model);
    rfs_tensorfile *ref = NULL;
    rfs_status st2 = rfs_tensorfile_open(&ref, test_shared(path));
    CHECKF(st2 == RFS_OK, "open %s: %s", path, rfs_last_error());
    if (st != RFS_OK || st2 != RFS_OK) goto done;

    rfs_session *s = NULL;
    CHECK(rfs_session_create(&s, m, NULL) == RFS_OK);
    if (!s) goto done;
    for (size_t i = 0; i < sizeof IMAGES / sizeof IMAGES[0]; i++) {
        const char *img = IMAGES[i];
        char key[128];
        size_t n;
        snprintf(key, sizeof key, "%s/input", img);
        float *input = ref_f32(ref, key, &n);
        if (!input) continue;
        trace_log *log = NULL;
        if (i == 0) {
            log = calloc(1, sizeof *log);
            rfs_session_set_trace(s, on_trace, log);
        }
        rfs_raw raw;
        CHECK(rfs_forward(s, input, 1, &raw) == RFS_OK);
        rfs_session_set_trace(s, NULL, NULL);
        static const char *outs[] = {"pred_logits", "pred_boxes", "pred_masks"};
        const float *mine[] = {raw.logits, raw.boxes, raw.masks};
        for (int k = 0; k < 3; k++) {
            snprintf(key, sizeof key, "%s/%s", img, outs[k]);
            size_t nr;
            float *r = ref_f32(ref, key, &nr);
            if (!r) continue;
            err_stats e = compare(mine[k], r, nr);
            printf("  %s %-9s %-11s rel %.2e  max abs %.2e\n", model, img, outs[k], e.rel, e.maxabs);
            CHECKF(within(e), "%s %s %s: rel %.3g max abs %.3g", model, img, outs[k], e.rel, e.maxabs);
            free(r);
        }
        if (log) {
            check_trace(log, ref, model);
            for (int k = 0; k < log->n; k++) free(log->t[k].data);
            free(log);
        }
        int W = 0, H = 0;
        image_size(ref, img, &W, &H);
        check_post(s, ref, model, img, W, H);
        free(input);
    }
    rfs_session_free(s);
done:
    rfs_tensorfile_free(ref);
    rfs_model_free(m);
}

TEST(tiny_w1_one_window) { run_model("tiny-w1"); }
TEST(tiny_w2_four_windows) { run_model("tiny-w2"); }

int main(void) {
    RUN(tiny_w1_one_window);
    RUN(tiny_w2_four_windows);
    return test_summary();
}
