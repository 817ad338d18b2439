/* test_cpu_bf16.c - --precision bf16 on the CPU against fp32, on detections.
 *
 * For the fixture models (tiny-w1, tiny-w2) and full-size random models of seg-nano and
 * seg-medium, on the four fixture photos, roboflow preset (threshold 0.4), masks on.
 *
 * RF-DETR's queries take their reference boxes from the rank order of the two-stage
 * scores: where two tokens' scores are closer than the bf16 perturbation of the scores,
 * bf16 may rank them the other way and hand them to other queries, which changes those
 * detections wholesale (a tie at this precision; torch.topk leaves tie order unspecified).
 * So, per image:
 *   1. every rank where the bf16 selection differs from fp32's must be such a tie: the two
 *      tokens' fp32 scores closer than twice the largest |fp32 - bf16| score difference
 *      of the image (anything else fails);
 *   2. at fp32's query assignment (the bf16 session told to take fp32's order), every fp32
 *      detection whose score is more than 0.02 away from the threshold must be found in
 *      the bf16 result (same query and class) with |score difference| <= 0.02; its box
 *      IoU and mask IoU are reported against the bounds (>= 0.9, >= 0.95) with the
 *      count of detections outside them, and asserted >= 0.5 (a gross error, not noise):
 *      on these random-weight models a bf16 backbone moves some boxes and small masks
 *      further than the bounds (docs/BENCHMARKS.md records the figures);
 *   3. bf16 as it runs (its own selection) is compared by class and best box IoU and
 *      reported, not asserted.
 * Needs AVX512_BF16 or AMX (prints a SKIP line elsewhere). The full-size models take a
 * minute or two: they run with RFS_CPU_TEST_FULL=1 (dev/cpu/bf16_check.sh). */
#include "harness.h"

#include "cpu/cpu.h"
#include "cpu/isa.h"
#include "io/image.h"
#include "pipeline/session.h"

#include <math.h>

static const char *IMAGES[] = {"astronaut", "chelsea", "coffee", "rocket"};

static double box_iou(const float *a, const float *b) {
    double ix = fmin(a[2], b[2]) - fmax(a[0], b[0]), iy = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    double inter = ix > 0 && iy > 0 ? ix * iy : 0;
    double ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return ua > 0 ? inter / ua : 1.0;
}

static int mask_at(const rfs_mask *m, int x, int y) {
    if (x < m->x0 || y < m->y0 || x >= m->x0 + m->w || y >= m->y0 + m->h) return 0;
    return m->data[(size_t)(y - m->y0) * m->w + (x - m->x0)];
}

static double mask_iou(const rfs_mask *a, const rfs_mask *b) {
    if (!a->w && !b->w) return 1.0;
    int x0 = a->x0 < b->x0 ? a->x0 : b->x0, y0 = a->y0 < b->y0 ? a->y0 : b->y0;
    int x1 = a->x0 + a->w > b->x0 + b->w ? a->x0 + a->w : b->x0 + b->w;
    int y1 = a->y0 + a->h > b->y0 + b->h ? a->y0 + a->h : b->y0 + b->h;
    long inter = 0, uni = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            int p = mask_at(a, x, y), q = mask_at(b, x, y);
            inter += p && q;
            uni += p || q;
        }
    return uni ? (double)inter / uni : 1.0;
}

typedef struct tally {
    int dets, checked, near, lost, bad;
    double worst_box, worst_mask, worst_dscore;
} tally;

static void report(const char *label, const char *how, const tally *t) {
    printf("  %-10s %-24s fp32 detections %3d, checked %3d (%2d near the threshold), lost %d, "
           "outside 0.9/0.95/0.02: %d; worst box IoU %.4f, mask IoU %.4f, |dscore| %.4f\n",
           label, how, t->dets, t->checked, t->near, t->lost, t->bad, t->worst_box, t->worst_mask,
           t->worst_dscore);
}

/* by_query: pair with the bf16 detection of the same query and class (equal query
 * assignments); else the same class with the best box IoU */
static void compare(const rfs_result *f, const rfs_result *b, float thr, tally *t,
                    const char *what, int assert, int by_query) {
    for (int i = 0; i < f->count; i++) {
        const rfs_detection *d = &f->dets[i];
        t->dets++;
        if (fabsf(d->score - thr) <= 0.02f) {
            t->near++;
            continue;
        }
        t->checked++;
        const rfs_detection *best = NULL;
        double bi = -1;
        for (int j = 0; j < b->count; j++) {
            if (b->dets[j].class_id != d->class_id) continue;
            if (by_query && b->dets[j].query != d->query) continue;
            double v = box_iou(d->box, b->dets[j].box);
            if (v > bi) bi = v, best = &b->dets[j];
        }
        if (assert)
            CHECKF(best != NULL, "%s: fp32 detection %d (class %d, score %.4f) lost in bf16", what,
                   i, d->class_id, d->score);
        if (!best) {
            t->lost++;
            continue;
        }
        double mi = mask_iou(&d->mask, &best->mask), ds = fabs((double)d->score - best->score);
        t->worst_box = fmin(t->worst_box, bi);
        t->worst_mask = fmin(t->worst_mask, mi);
        t->worst_dscore = fmax(t->worst_dscore, ds);
        t->bad += !(bi >= 0.9 && mi >= 0.95 && ds <= 0.02);
        if (assert)
            CHECKF(bi >= 0.5 && mi >= 0.5 && ds <= 0.02, "%s: detection %d class %d score %.4f: "
                   "box IoU %.4f, mask IoU %.4f, dscore %.4f", what, i, d->class_id, d->score, bi,
                   mi, ds);
    }
}

static void run_model(const char *label, rfs_model *m) {
    const rfs_config *c = rfs_model_config(m);
    const int N = c->grid * c->grid, nq = c->num_queries, k = nq < N ? nq : N;
    rfs_session_opts so = rfs_session_defaults();
    rfs_session *s32 = NULL, *s16 = NULL;
    CHECK(rfs_session_create(&s32, m, &so) == RFS_OK);
    so.precision = RFS_BF16;
    CHECKF(rfs_session_create(&s16, m, &so) == RFS_OK, "%s", rfs_last_error());
    if (!s32 || !s16) {
        rfs_session_free(s32);
        rfs_session_free(s16);
        return;
    }
    rfs_cpu_net *n32 = (rfs_cpu_net *)s32->net, *n16 = (rfs_cpu_net *)s16->net;
    int *order = malloc(sizeof(int) * N);
    float *score = malloc(sizeof(float) * N);
    rfs_predict_opts po = rfs_predict_defaults(RFS_PRESET_ROBOFLOW);
    tally same = {0, 0, 0, 0, 0, 1, 1, 0}, own = same;
    int reselected = 0;
    double worst_noise = 0;
    for (int im = 0; im < 4; im++) {
        char rel[128], what[160];
        snprintf(rel, sizeof rel, "fixtures/images/%s.png", IMAGES[im]);
        snprintf(what, sizeof what, "%s %s", label, IMAGES[im]);
        rfs_frame fr = {0};
        CHECKF(rfs_image_load(&fr, test_shared(rel), NULL) == RFS_OK, "%s", rfs_last_error());
        rfs_image img = rfs_frame_image(&fr);
        rfs_result r32 = {0}, r16 = {0}, rf = {0};
        CHECK(rfs_predict(s32, &img, 1, &po, &r32) == RFS_OK);
        memcpy(order, n32->a.order, sizeof(int) * N);
        memcpy(score, n32->a.score, sizeof(float) * N);
        CHECK(rfs_predict(s16, &img, 1, &po, &r16) == RFS_OK);
        /* 1: selection differences are ties at bf16's score noise */
        double noise = 0;
        for (int t = 0; t < N; t++) noise = fmax(noise, fabs((double)score[t] - n16->a.score[t]));
        worst_noise = fmax(worst_noise, noise);
        int differs = 0;
        for (int r = 0; r < k; r++) {
            const int t16 = n16->a.order[r], t32 = order[r];
            if (t16 == t32) continue;
            differs = 1;
            CHECKF(fabs((double)score[t16] - score[t32]) <= 2 * noise,
                   "%s: rank %d: bf16 selects token %d (fp32 score %.5f), fp32 token %d (%.5f); "
                   "score noise %.5f", what, r, t16, score[t16], t32, score[t32], noise);
        }
        reselected += differs;
        compare(&r32, &r16, po.threshold, &own, what, 0, 0);
        /* 2: at fp32's query assignment */
        n16->force_order = order;
        CHECK(rfs_predict(s16, &img, 1, &po, &rf) == RFS_OK);
        n16->force_order = NULL;
        compare(&r32, &rf, po.threshold, &same, what, 1, 1);
        rfs_result_free(&r32);
        rfs_result_free(&r16);
        rfs_result_free(&rf);
        rfs_frame_free(&fr);
    }
    printf("  %-10s two-stage scores: bf16 noise up to %.4f; selection order differs in %d of 4 "
           "images, every difference a tie at that noise\n", label, worst_noise, reselected);
    report(label, "at fp32's assignment:", &same);
    report(label, "own selection (info):", &own);
    free(order), free(score);
    rfs_session_free(s32);
    rfs_session_free(s16);
}

TEST(bf16_fixtures) {
    static const char *models[] = {"tiny-w1", "tiny-w2"};
    for (int i = 0; i < 2; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "fixtures/rfdetr/%s.pth", models[i]);
        rfs_model *m = NULL;
        CHECKF(rfs_model_load(&m, test_shared(rel)) == RFS_OK, "%s", rfs_last_error());
        if (m) run_model(models[i], m);
        rfs_model_free(m);
    }
}

TEST(bf16_full_size_random) {
    static const char *sizes[] = {"seg-nano", "seg-medium"};
    for (int i = 0; i < 2; i++) {
        rfs_model *m = NULL;
        CHECK(rfs_model_random(&m, sizes[i], 1) == RFS_OK);
        if (m) run_model(sizes[i], m);
        rfs_model_free(m);
    }
}

int main(void) {
    rfs_cpu_isa isa = rfs_cpu_isa_active();
    if (isa < RFS_ISA_AVX512BF16) {
        printf("SKIP test_cpu_bf16: no AVX512_BF16 or AMX on this CPU path (%s)\n",
               rfs_cpu_isa_name(isa));
        return 0;
    }
    printf("  path %s\n", rfs_cpu_isa_name(isa));
    RUN(bf16_fixtures);
    const char *full = getenv("RFS_CPU_TEST_FULL");
    if (full && *full && strcmp(full, "0")) RUN(bf16_full_size_random);
    return test_summary();
}
