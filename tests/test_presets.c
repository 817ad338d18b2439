/* test_presets.c - the rfdetr-1.4 preset end to end against the official rfdetr 1.4.1 predict.
 *
 * For both fixture models and the four fixture photos (PNG decoded by rfseg, RGB), through
 * rfs_predict with the rfdetr-1.4 preset (RFS_PRESET_RFDETR_14):
 *   - the preprocessed input equals IMAGE/input within 1e-5 (max abs);
 *   - the kept detections (threshold 0: all num_select) match post_scores / post_labels /
 *     post_boxes, entries with tied scores compared as sets;
 *   - the first five masks match post_masks_top5_packbits: at most 1e-4 of the pixels may
 *     differ, and only where the interpolated mask logit is within 1e-4 of zero.
 */
#include "harness.h"

#include "io/image.h"
#include "io/tensorfile.h"
#include "pipeline/maskup.h"
#include "lab.h"
#include "model/model.h"

#include <math.h>

static const char *IMAGES[] = {"astronaut", "chelsea", "coffee", "rocket"};

static float *ref_f32(const rfs_tensorfile *ref, const char *img, const char *what, size_t *n) {
    char key[128];
    snprintf(key, sizeof key, "%s/%s", img, what);
    const rfs_tensor *t = rfs_tensorfile_find(ref, key);
    CHECKF(t != NULL, "missing reference %s", key);
    if (!t) return NULL;
    *n = (size_t)rfs_tensor_numel(t);
    float *v = malloc(sizeof(float) * *n);
    rfs_tensor_to_f32(t, v);
    return v;
}

static void check_image(rfs_session *s, const rfs_model *m, const rfs_tensorfile *ref,
                        const char *model, const char *img) {
    char path[256];
    snprintf(path, sizeof path, "fixtures/images/%s.png", img);
    rfs_frame f = {0};
    rfs_decode_opts dopt = {.rgb = 1};
    CHECKF(rfs_image_load(&f, test_shared(path), &dopt) == RFS_OK, "%s", rfs_last_error());
    if (!f.data) return;
    rfs_image im = rfs_frame_image(&f);
    rfs_predict_opts po = rfs_predict_defaults(RFS_PRESET_RFDETR_14);
    po.threshold = 0.f;
    rfs_result r = {0};
    CHECKF(rfs_predict(s, &im, 1, &po, &r) == RFS_OK, "%s", rfs_last_error());
    const rfs_config *c = rfs_model_config(m);
    size_t n_in, ns, nl, nb, nm;
    float *in = ref_f32(ref, img, "input", &n_in);
    float *scores = ref_f32(ref, img, "post_scores", &ns);
    float *labels = ref_f32(ref, img, "post_labels", &nl);
    float *boxes = ref_f32(ref, img, "post_boxes", &nb);
    float *logits = ref_f32(ref, img, "pred_masks", &nm);
    char key[128];
    snprintf(key, sizeof key, "%s/post_masks_top5_packbits", img);
    const rfs_tensor *pk = rfs_tensorfile_find(ref, key);
    CHECK(pk && pk->dtype == RFS_DT_U8 && pk->shape[1] == f.h && pk->shape[2] == (f.w + 7) / 8);
    if (!in || !scores || !labels || !boxes || !logits || !pk) goto done;

    double worst = 0;
    const float *mine = rfs_session_input(s);
    for (size_t i = 0; i < n_in; i++) worst = fmax(worst, fabs((double)mine[i] - in[i]));
    CHECKF(worst <= 1e-5, "%s/%s input max abs %.3g", model, img, worst);

    CHECKF((size_t)r.count == ns, "%s/%s: %d detections, reference %zu", model, img, r.count, ns);
    int matched[5] = {-1, -1, -1, -1, -1};
    for (int i = 0; i < r.count && (size_t)i < ns; i++) {
        const rfs_detection *d = &r.dets[i];
        int found = -1;
        for (size_t j = 0; j < ns && found < 0; j++) {
            if (fabsf(scores[j] - d->score) > 1e-5f || (int)labels[j] != d->class_id) continue;
            int ok = 1;
            for (int k = 0; k < 4; k++) ok &= fabsf(d->box[k] - boxes[j * 4 + k]) <= 1e-3f * fmaxf(1, fabsf(boxes[j * 4 + k]));
            if (ok) found = (int)j;
        }
        CHECKF(found >= 0, "%s/%s: detection %d (label %d, %.6f) not in the reference", model, img,
               i, d->class_id, d->score);
        if (i < 5) matched[i] = found;
    }
    /* masks: compare det i with the reference mask at the entry it matched */
    rfs_maskup_plan plan;
    const int H4 = c->mask_side;
    CHECK(rfs_maskup_plan_init(&plan, H4, H4, f.w, f.h, RFS_MASKUP_BILINEAR) == RFS_OK);
    float *dense = malloc(sizeof(float) * (size_t)f.w * f.h);
    for (int i = 0; i < 5 && i < r.count; i++) {
        int j = matched[i];
        if (j < 0 || j >= 5) continue; /* tied beyond the stored five */
        const rfs_mask *mk = &r.dets[i].mask;
        rfs_maskup_dense(dense, &plan, logits + (size_t)r.dets[i].query * H4 * H4);
        const uint8_t *bits = (const uint8_t *)pk->data + (size_t)j * f.h * pk->shape[2];
        long differ = 0, unexplained = 0;
        for (int y = 0; y < f.h; y++)
            for (int x = 0; x < f.w; x++) {
                int want = (bits[(size_t)y * pk->shape[2] + x / 8] >> (7 - x % 8)) & 1;
                int got = x >= mk->x0 && x < mk->x0 + mk->w && y >= mk->y0 && y < mk->y0 + mk->h &&
                          mk->data[(size_t)(y - mk->y0) * mk->w + (x - mk->x0)];
                if (want != got) {
                    differ++;
                    if (fabsf(dense[(size_t)y * f.w + x]) > 1e-4f) unexplained++;
                }
            }
        CHECKF(differ <= 1e-4 * f.w * f.h && unexplained == 0,
               "%s/%s mask %d: %ld pixels differ, %ld away from the zero crossing", model, img, i,
               differ, unexplained);
    }
    free(dense);
    rfs_maskup_plan_free(&plan);
done:
    free(in), free(scores), free(labels), free(boxes), free(logits);
    rfs_result_free(&r);
    rfs_frame_free(&f);
}

static void run(const char *model) {
    char p[128];
    snprintf(p, sizeof p, "fixtures/rfdetr/%s.pth", model);
    rfs_model *m = NULL;
    rfs_session *s = NULL;
    rfs_tensorfile *ref = NULL;
    CHECKF(rfs_model_load(&m, test_shared(p)) == RFS_OK, "%s", rfs_last_error());
    snprintf(p, sizeof p, "fixtures/rfdetr/%s.ref.safetensors", model);
    CHECKF(rfs_tensorfile_open(&ref, test_shared(p)) == RFS_OK, "%s", rfs_last_error());
    if (m && ref && rfs_session_create(&s, m, NULL) == RFS_OK)
        for (size_t i = 0; i < sizeof IMAGES / sizeof IMAGES[0]; i++) check_image(s, m, ref, model, IMAGES[i]);
    rfs_session_free(s);
    rfs_tensorfile_free(ref);
    rfs_model_free(m);
}

/* data["class_name"] of today's predict (the same cases as diff_rfdetr_predict.py). */
TEST(rfdetr_class_names) {
    rfs_model *m = NULL;
    CHECK(rfs_model_random(&m, "seg-nano", 1) == RFS_OK); /* K = 91, no names: COCO ids */
    if (m) {
        CHECK(!strcmp(rfs_rfdetr_class_name(m, 1), "person") && !strcmp(rfs_rfdetr_class_name(m, 90), "toothbrush"));
        CHECK(!strcmp(rfs_rfdetr_class_name(m, 0), "") && !strcmp(rfs_rfdetr_class_name(m, 12), ""));
        CHECK(!strcmp(rfs_rfdetr_class_name(m, 91), "") && !strcmp(rfs_rfdetr_class_name(m, -1), ""));
        /* a checkpoint's own names: 0-based, K - 1 is the no-object slot */
        static char a[] = "a", b[] = "b";
        char *names[3] = {NULL, a, b};
        m->class_names = names, m->n_class_names = 3, m->cfg.num_classes = 3;
        CHECK(!strcmp(rfs_rfdetr_class_name(m, 0), "a") && !strcmp(rfs_rfdetr_class_name(m, 1), "b"));
        CHECK(!strcmp(rfs_rfdetr_class_name(m, 2), "__background__") && !strcmp(rfs_rfdetr_class_name(m, 3), ""));
        CHECK(!strcmp(rfs_model_class_name(m, 1), "a")); /* rfdetr 1.4.1: names at i + 1 */
        m->class_names = NULL, m->n_class_names = 0;
        rfs_model_free(m);
    }
    m = NULL;
    CHECK(rfs_model_load(&m, test_shared("fixtures/rfdetr/tiny-w1.pth")) == RFS_OK); /* K = 6 */
    if (m) { /* COCO's 80 names by position: fewer slots than names */
        CHECK(!strcmp(rfs_rfdetr_class_name(m, 0), "person") && !strcmp(rfs_rfdetr_class_name(m, 6), "train"));
        CHECK(!strcmp(rfs_rfdetr_class_name(m, 5), "__background__") && !strcmp(rfs_rfdetr_class_name(m, 80), ""));
    }
    rfs_model_free(m);
}

TEST(rfdetr_preset_tiny_w1) { run("tiny-w1"); }
TEST(rfdetr_preset_tiny_w2) { run("tiny-w2"); }

int main(void) {
    RUN(rfdetr_class_names);
    RUN(rfdetr_preset_tiny_w1);
    RUN(rfdetr_preset_tiny_w2);
    return test_summary();
}
