/* test_sessions.c - one model, many sessions: the thread-safety contract of rfseg.h.
 *
 * A session's thread count is applied to each of its parallel regions whatever the
 * calling thread's OpenMP settings: a session created with threads = 1 and run from a
 * thread whose OpenMP default is larger, and a session run after another one with more
 * threads was created on the same thread, must not write past their scratch (the ASan
 * build of this test turns any such write into a failure). Sessions of one model on
 * several threads at once give the same results as one session of the same thread count
 * alone, bit for bit (results may differ in the last bits between thread counts: the
 * GEMM library partitions its work by them). */
#include "harness.h"

#include "rfseg.h"

#include <omp.h>
#include <pthread.h>
#include <string.h>

enum { NTHREADS = 4, NIMG = 3 };

static rfs_model *model;
static rfs_frame frames[NIMG];

/* The detections of one result as comparable values. */
static int same_result(const rfs_result *a, const rfs_result *b) {
    if (a->count != b->count || a->width != b->width || a->height != b->height) return 0;
    for (int i = 0; i < a->count; i++) {
        const rfs_detection *x = &a->dets[i], *y = &b->dets[i];
        if (memcmp(x->box, y->box, sizeof x->box) || x->score != y->score ||
            x->class_id != y->class_id || x->query != y->query)
            return 0;
        const rfs_mask *m = &x->mask, *n = &y->mask;
        if (m->x0 != n->x0 || m->y0 != n->y0 || m->w != n->w || m->h != n->h) return 0;
        if (m->w && memcmp(m->data, n->data, (size_t)m->w * m->h)) return 0;
    }
    return 1;
}

typedef struct job {
    rfs_session *s;     /* run this session (created elsewhere) ... */
    int threads;        /* ... or create one with these threads */
    int caller_threads; /* the calling thread's OpenMP default, set before running */
    int rounds;
    rfs_result res[NIMG];
    rfs_status st;
} job;

static void *run_job(void *arg) {
    job *j = arg;
    if (j->caller_threads > 0) omp_set_num_threads(j->caller_threads);
    rfs_session *own = NULL;
    rfs_session *s = j->s;
    if (!s) {
        rfs_session_opts so = rfs_session_defaults();
        so.threads = j->threads;
        if ((j->st = rfs_session_create(&own, model, &so)) != RFS_OK) return NULL;
        s = own;
    }
    rfs_predict_opts po = rfs_predict_defaults(RFS_PRESET_ROBOFLOW);
    po.threshold = 0.05f;
    for (int r = 0; r < j->rounds && j->st == RFS_OK; r++)
        for (int i = 0; i < NIMG && j->st == RFS_OK; i++) {
            rfs_image img = rfs_frame_image(&frames[i]);
            j->st = rfs_predict(s, &img, 1, &po, &j->res[i]);
        }
    rfs_session_free(own);
    return NULL;
}

static void job_free(job *j) {
    for (int i = 0; i < NIMG; i++) rfs_result_free(&j->res[i]);
}

/* References: one session alone on this thread, per thread count (1, 2, 4). */
static job ref_by_threads[5];
#define REF(t) (ref_by_threads[t].res)

TEST(reference_runs) {
    for (int t = 1; t <= 4; t *= 2) {
        job *r = &ref_by_threads[t];
        *r = (job){.threads = t, .rounds = 1};
        run_job(r);
        CHECKF(r->st == RFS_OK, "%s", rfs_last_error());
        int dets = 0;
        for (int i = 0; i < NIMG; i++) dets += r->res[i].count;
        CHECKF(dets > 10, "%d detections: too few to compare", dets);
    }
}

/* A session of 1 thread run from a thread whose OpenMP default is 4: its regions must
 * stay within its own team (the attention scratch holds one block per team thread). */
TEST(small_session_busy_caller) {
    rfs_session_opts so = rfs_session_defaults();
    so.threads = 1;
    rfs_session *s = NULL;
    CHECK(rfs_session_create(&s, model, &so) == RFS_OK);
    job j = {.s = s, .caller_threads = 4, .rounds = 1};
    pthread_t t;
    pthread_create(&t, NULL, run_job, &j);
    pthread_join(t, NULL);
    CHECKF(j.st == RFS_OK, "%s", rfs_last_error());
    for (int i = 0; i < NIMG; i++)
        CHECKF(same_result(&j.res[i], &REF(1)[i]), "image %d differs from the reference", i);
    job_free(&j);
    rfs_session_free(s);
}

/* Session A (1 thread) created, then session B (4 threads) on the same thread; both run
 * concurrently from other threads, A's caller with an OpenMP default of 4. */
TEST(sessions_of_different_sizes_concurrently) {
    rfs_session_opts so = rfs_session_defaults();
    rfs_session *a = NULL, *b = NULL;
    so.threads = 1;
    CHECK(rfs_session_create(&a, model, &so) == RFS_OK);
    so.threads = 4;
    CHECK(rfs_session_create(&b, model, &so) == RFS_OK);
    job ja = {.s = a, .caller_threads = 4, .rounds = 2};
    job jb = {.s = b, .caller_threads = 1, .rounds = 2};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, run_job, &ja);
    pthread_create(&tb, NULL, run_job, &jb);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECKF(ja.st == RFS_OK && jb.st == RFS_OK, "%s", rfs_last_error());
    for (int i = 0; i < NIMG; i++) {
        CHECKF(same_result(&ja.res[i], &REF(1)[i]), "A: image %d differs", i);
        CHECKF(same_result(&jb.res[i], &REF(4)[i]), "B: image %d differs", i);
    }
    job_free(&ja);
    job_free(&jb);
    rfs_session_free(a);
    rfs_session_free(b);
}

/* Four sessions of one model, each created and run on its own thread at the same time:
 * every result equals the lone session's. */
TEST(four_sessions_four_threads) {
    job j[NTHREADS];
    pthread_t t[NTHREADS];
    for (int k = 0; k < NTHREADS; k++) {
        j[k] = (job){.threads = 1 + k % 2, .rounds = 2};
        pthread_create(&t[k], NULL, run_job, &j[k]);
    }
    for (int k = 0; k < NTHREADS; k++) pthread_join(t[k], NULL);
    for (int k = 0; k < NTHREADS; k++) {
        CHECKF(j[k].st == RFS_OK, "thread %d: %s", k, rfs_last_error());
        for (int i = 0; i < NIMG; i++)
            CHECKF(same_result(&j[k].res[i], &REF(j[k].threads)[i]), "thread %d image %d differs", k, i);
        job_free(&j[k]);
    }
}

/* Sessions are created and freed in any order while others run (the model's per-device
 * forms are reference counted): the model is intact afterwards. */
/* A batch on a session of 8 threads runs its images side by side in two groups of 4
 * threads (src/cpu/net.c): every image equals a 4-thread session's, bit for bit, also
 * when the batch is run again (the groups' activations are reused). */
TEST(batch_in_thread_groups) {
    rfs_session_opts so = rfs_session_defaults();
    so.threads = 8, so.max_batch = NIMG;
    rfs_session *s = NULL;
    CHECKF(rfs_session_create(&s, model, &so) == RFS_OK, "%s", rfs_last_error());
    if (!s) return;
    rfs_predict_opts po = rfs_predict_defaults(RFS_PRESET_ROBOFLOW);
    po.threshold = 0.05f;
    rfs_image img[NIMG];
    for (int i = 0; i < NIMG; i++) img[i] = rfs_frame_image(&frames[i]);
    for (int round = 0; round < 2; round++) {
        rfs_result res[NIMG];
        memset(res, 0, sizeof res);
        CHECKF(rfs_predict(s, img, NIMG, &po, res) == RFS_OK, "%s", rfs_last_error());
        for (int i = 0; i < NIMG; i++) {
            CHECKF(same_result(&res[i], &REF(4)[i]), "round %d image %d differs from a 4-thread session's", round, i);
            rfs_result_free(&res[i]);
        }
    }
    rfs_session_free(s);
}

TEST(create_free_churn) {
    for (int round = 0; round < 3; round++) {
        rfs_session *s[3] = {NULL, NULL, NULL};
        rfs_session_opts so = rfs_session_defaults();
        so.threads = 2;
        for (int k = 0; k < 3; k++) CHECK(rfs_session_create(&s[k], model, &so) == RFS_OK);
        rfs_session_free(s[1]);
        s[1] = NULL;
        job j = {.s = s[2], .rounds = 1};
        run_job(&j);
        CHECK(j.st == RFS_OK);
        for (int i = 0; i < NIMG; i++) CHECK(same_result(&j.res[i], &REF(2)[i]));
        job_free(&j);
        rfs_session_free(s[0]);
        rfs_session_free(s[2]);
    }
}

TEST(bad_session_options) {
    rfs_session_opts so = rfs_session_defaults();
    rfs_session *s = NULL;
    CHECK(rfs_session_opts_set(&so, "device", "gpu") == RFS_ERR_ARG);
    CHECK(rfs_session_opts_set(&so, "precision", "fp64") == RFS_ERR_ARG);
    CHECK(rfs_session_opts_set(&so, "threads", "-1") == RFS_ERR_ARG);
    CHECK(rfs_session_opts_set(&so, "max_batch", "0") == RFS_ERR_ARG);
    CHECK(rfs_session_opts_set(&so, "colour", "red") == RFS_ERR_ARG);
    CHECK(rfs_session_opts_set(&so, "device", "cuda:3") == RFS_OK && so.backend == RFS_BACKEND_CUDA &&
          so.device == 3);
    CHECK(rfs_session_opts_set(&so, "device", "cpu") == RFS_OK && so.backend == RFS_BACKEND_CPU);
    so.precision = (rfs_precision)7;
    CHECK(rfs_session_create(&s, model, &so) == RFS_ERR_ARG && !s);
    so = rfs_session_defaults();
    so.precision = RFS_FP16; /* the CPU runs fp32 */
    CHECK(rfs_session_create(&s, model, &so) == RFS_ERR_UNSUPPORTED && !s);
    so = rfs_session_defaults();
    so.threads = -3;
    CHECK(rfs_session_create(&s, model, &so) == RFS_ERR_ARG && !s);
}

TEST(predict_options_by_name) {
    rfs_predict_opts o = rfs_predict_defaults(RFS_PRESET_ROBOFLOW);
    float c = 0;
    CHECK(rfs_parse_confidence("0.4", &c) == RFS_OK && c == 0.4f);
    CHECK(rfs_parse_confidence("40%", &c) == RFS_OK && c == (float)0.4);
    CHECK(rfs_parse_confidence("100%", &c) == RFS_OK && c == 1.f);
    CHECK(rfs_parse_confidence("40", &c) == RFS_ERR_ARG);
    CHECK(rfs_parse_confidence("-0.1", &c) == RFS_ERR_ARG);
    CHECK(rfs_parse_confidence("0.5x", &c) == RFS_ERR_ARG);
    CHECK(rfs_parse_confidence("nan", &c) == RFS_ERR_ARG);
    CHECK(rfs_parse_confidence("", &c) == RFS_ERR_ARG);
    CHECK(rfs_predict_opts_set(&o, "preset", "rfdetr") == RFS_OK && o.preset == RFS_PRESET_RFDETR &&
          o.threshold == 0.5f);
    CHECK(rfs_predict_opts_set(&o, "confidence", "25%") == RFS_OK && o.threshold == 0.25f);
    CHECK(rfs_predict_opts_set(&o, "preset", "roboflow") == RFS_OK && o.threshold == 0.25f);
    CHECK(rfs_predict_opts_set(&o, "preset", "rfdetr-1.4") == RFS_OK && o.preset == RFS_PRESET_RFDETR_14);
    CHECK(rfs_predict_opts_set(&o, "preset", "yolo") == RFS_ERR_ARG);
    CHECK(rfs_predict_opts_set(&o, "clip_boxes", "true") == RFS_OK && o.clip_boxes == 1);
    CHECK(rfs_predict_opts_set(&o, "masks", "0") == RFS_OK && o.want_masks == 0);
    CHECK(rfs_predict_opts_set(&o, "masks", "maybe") == RFS_ERR_ARG);
    CHECK(rfs_predict_opts_set(&o, "size", "big") == RFS_ERR_ARG);
}

int main(void) {
    rfs_status st = rfs_model_load(&model, test_shared("fixtures/rfdetr/tiny-w2.pth"));
    const char *imgs[NIMG] = {"astronaut.png", "coffee.png", "rocket.png"};
    for (int i = 0; i < NIMG && st == RFS_OK; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "fixtures/images/%s", imgs[i]);
        st = rfs_image_load(&frames[i], test_shared(rel), NULL);
    }
    if (st != RFS_OK) {
        printf("fixtures: %s\n", rfs_last_error());
        return 1;
    }
    RUN(reference_runs);
    RUN(small_session_busy_caller);
    RUN(sessions_of_different_sizes_concurrently);
    RUN(four_sessions_four_threads);
    RUN(batch_in_thread_groups);
    RUN(create_free_churn);
    RUN(bad_session_options);
    RUN(predict_options_by_name);
    for (int t = 1; t <= 4; t *= 2) job_free(&ref_by_threads[t]);
    for (int i = 0; i < NIMG; i++) rfs_frame_free(&frames[i]);
    rfs_model_free(model);
    return test_summary();
}
