/* batch.c - the batching queue and its worker (see batch.h). */
#include "serve/batch.h"

#include "util/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rfs_batcher {
    pthread_mutex_t mu;
    pthread_cond_t work;   /* a job arrived, or stop */
    pthread_cond_t ready;  /* the worker finished starting */
    rfs_job *head;         /* queued jobs with frames not yet taken, arrival order */
    int queued;            /* frames not yet taken */
    int reserved;          /* frames reserved: queued + running + being decoded */
    int stop;
    int started;           /* 1: worker up, -1: its session failed */
    rfs_status start_status;
    char start_error[256];
    rfs_batcher_opts o;
    const rfs_model *model;
    rfs_metrics *metrics;
    pthread_t thread;
};

double rfs_serve_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void abs_time(struct timespec *ts, double ms) {
    if (ms < 0) ms = 0;
    ts->tv_sec = (time_t)(ms / 1e3);
    ts->tv_nsec = (long)((ms - ts->tv_sec * 1e3) * 1e6);
    if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

/* Condition variables on the monotonic clock, so deadlines ignore wall-clock jumps. */
static void cond_init_mono(pthread_cond_t *c) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

static int key_equal(const rfs_job_key *a, const rfs_job_key *b) {
    return a->custom_threshold == b->custom_threshold &&
           (!a->custom_threshold || a->threshold == b->threshold) &&
           a->disable_static_crop == b->disable_static_crop && a->disable_grayscale == b->disable_grayscale;
}

static rfs_predict_opts opts_for(const rfs_batcher *b, const rfs_job_key *k) {
    rfs_predict_opts po = b->o.predict;
    if (k->custom_threshold) { /* one threshold for every class, as the request asked */
        po.threshold = k->threshold;
        po.class_thresholds = NULL;
        po.n_class_thresholds = 0;
    }
    po.disable_static_crop |= k->disable_static_crop;
    po.disable_grayscale |= k->disable_grayscale;
    return po;
}

/* Queued frames that could join a batch with `key`. */
static int compatible_frames(const rfs_batcher *b, const rfs_job_key *key) {
    int n = 0;
    for (const rfs_job *j = b->head; j; j = j->link)
        if (key_equal(&j->key, key)) n += j->n - j->next;
    return n;
}

typedef struct batch_item {
    rfs_job *job;
    int idx;
} batch_item;

/* Takes up to max_batch frames compatible with the head job, in arrival order, unlinking
 * jobs whose last frame was taken. Called with the lock held. */
static int collect(rfs_batcher *b, batch_item *items, rfs_image *imgs, rfs_job_key *key) {
    int n = 0, max = b->o.session.max_batch;
    *key = b->head->key;
    for (rfs_job **pp = &b->head; *pp && n < max;) {
        rfs_job *j = *pp;
        if (!key_equal(&j->key, key)) {
            pp = &j->link;
            continue;
        }
        while (j->next < j->n && n < max) {
            items[n] = (batch_item){j, j->next};
            imgs[n++] = j->frames[j->next++];
            j->inflight++;
        }
        if (j->next == j->n) *pp = j->link; /* fully taken: off the queue */
        else pp = &j->link;
    }
    b->queued -= n;
    return n;
}

static void *worker_main(void *arg) {
    rfs_batcher *b = arg;
    int max = b->o.session.max_batch;
    rfs_session *s = NULL;
    batch_item *items = calloc((size_t)max, sizeof *items);
    rfs_image *imgs = calloc((size_t)max, sizeof *imgs);
    rfs_result *res = calloc((size_t)max, sizeof *res);
    rfs_status st = RFS_OK;
    if (!items || !imgs || !res) st = RFS_FAIL(RFS_ERR_NOMEM, "out of memory starting the batch worker");
    else st = rfs_session_create(&s, b->model, &b->o.session);

    pthread_mutex_lock(&b->mu);
    b->start_status = st;
    if (st != RFS_OK) snprintf(b->start_error, sizeof b->start_error, "%s", rfs_last_error());
    b->started = st == RFS_OK ? 1 : -1;
    pthread_cond_broadcast(&b->ready);
    while (st == RFS_OK) {
        if (!b->head) {
            if (b->stop) break;
            pthread_cond_wait(&b->work, &b->mu);
            continue;
        }
        /* let the batch fill until the oldest job has waited wait_ms (not when stopping) */
        double until = b->head->enqueued_ms + b->o.wait_ms;
        if (!b->stop && compatible_frames(b, &b->head->key) < max && rfs_serve_now_ms() < until) {
            struct timespec ts;
            abs_time(&ts, until);
            pthread_cond_timedwait(&b->work, &b->mu, &ts);
            continue; /* re-examine: the head may have changed or been cancelled */
        }
        rfs_job_key key;
        int n = collect(b, items, imgs, &key);
        pthread_mutex_unlock(&b->mu);

        rfs_predict_opts po = opts_for(b, &key);
        double t0 = rfs_serve_now_ms();
        rfs_status pst = rfs_predict(s, imgs, n, &po, res);
        double ms = rfs_serve_now_ms() - t0;
        char err[256] = "";
        if (pst != RFS_OK) snprintf(err, sizeof err, "%s", rfs_last_error());
        if (b->metrics) rfs_metrics_batch(b->metrics, n, ms);

        pthread_mutex_lock(&b->mu);
        for (int i = 0; i < n; i++) {
            rfs_job *j = items[i].job;
            if (pst == RFS_OK) { /* the job takes the result; the worker gets its empty slot */
                rfs_result tmp = j->results[items[i].idx];
                j->results[items[i].idx] = res[i];
                res[i] = tmp;
            } else if (j->status == RFS_OK) {
                j->status = pst;
                snprintf(j->error, sizeof j->error, "%s", err);
            }
            j->inflight--;
            j->done++;
            pthread_cond_signal(&j->cv);
        }
    }
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < max && res; i++) rfs_result_free(&res[i]);
    free(res);
    free(imgs);
    free(items);
    rfs_session_free(s);
    return NULL;
}

rfs_status rfs_batcher_create(rfs_batcher **out, const rfs_model *m, const rfs_batcher_opts *o,
                              rfs_metrics *metrics) {
    *out = NULL;
    if (o->session.max_batch < 1 || o->capacity < 1 || o->wait_ms < 0)
        return RFS_FAIL(RFS_ERR_ARG, "batcher: max_batch and capacity must be >= 1, wait >= 0");
    rfs_batcher *b = rfs_calloc(1, sizeof *b);
    if (!b) return RFS_ERR_NOMEM;
    b->o = *o;
    b->model = m;
    b->metrics = metrics;
    pthread_mutex_init(&b->mu, NULL);
    cond_init_mono(&b->work);
    pthread_cond_init(&b->ready, NULL);
    if (pthread_create(&b->thread, NULL, worker_main, b) != 0) {
        pthread_cond_destroy(&b->ready);
        pthread_cond_destroy(&b->work);
        pthread_mutex_destroy(&b->mu);
        free(b);
        return RFS_FAIL(RFS_ERR_NOMEM, "could not start the batch worker thread");
    }
    pthread_mutex_lock(&b->mu);
    while (!b->started) pthread_cond_wait(&b->ready, &b->mu);
    pthread_mutex_unlock(&b->mu);
    if (b->started < 0) {
        rfs_status st = b->start_status;
        char msg[256];
        snprintf(msg, sizeof msg, "%s", b->start_error);
        rfs_batcher_free(b);
        return RFS_FAIL(st, "%s", msg);
    }
    *out = b;
    return RFS_OK;
}

int rfs_batcher_reserve(rfs_batcher *b, int n) {
    int r;
    pthread_mutex_lock(&b->mu);
    if (b->stop) r = -1;
    else if (n > b->o.capacity - b->reserved) r = 0;
    else {
        b->reserved += n;
        r = 1;
    }
    pthread_mutex_unlock(&b->mu);
    return r;
}

void rfs_batcher_release(rfs_batcher *b, int n) {
    pthread_mutex_lock(&b->mu);
    b->reserved -= n;
    pthread_mutex_unlock(&b->mu);
}

void rfs_job_init(rfs_job *j) {
    memset(j, 0, sizeof *j);
    cond_init_mono(&j->cv);
}

void rfs_job_destroy(rfs_job *j) {
    if (j) pthread_cond_destroy(&j->cv);
}

void rfs_batcher_submit(rfs_batcher *b, rfs_job *j) {
    pthread_mutex_lock(&b->mu);
    j->next = j->inflight = j->done = 0;
    j->status = RFS_OK;
    j->error[0] = 0;
    j->enqueued_ms = rfs_serve_now_ms();
    j->link = NULL;
    rfs_job **pp = &b->head;
    while (*pp) pp = &(*pp)->link; /* the queue holds at most `capacity` frames: short */
    *pp = j;
    b->queued += j->n;
    pthread_cond_signal(&b->work);
    pthread_mutex_unlock(&b->mu);
}

int rfs_batcher_wait(rfs_batcher *b, rfs_job *j, double deadline_ms) {
    struct timespec ts;
    abs_time(&ts, deadline_ms);
    pthread_mutex_lock(&b->mu);
    while (j->done < j->n)
        if (pthread_cond_timedwait(&j->cv, &b->mu, &ts) == ETIMEDOUT) break;
    int finished = j->done == j->n;
    if (!finished) {
        if (j->next < j->n) { /* frames still queued: take the job off the queue */
            for (rfs_job **pp = &b->head; *pp; pp = &(*pp)->link)
                if (*pp == j) {
                    *pp = j->link;
                    break;
                }
            b->queued -= j->n - j->next;
            j->next = j->n;
        }
        while (j->inflight > 0) pthread_cond_wait(&j->cv, &b->mu);
        finished = j->done == j->n; /* its last frames may have finished meanwhile */
    }
    b->reserved -= j->n;
    pthread_mutex_unlock(&b->mu);
    return finished;
}

int rfs_batcher_queued(rfs_batcher *b) {
    pthread_mutex_lock(&b->mu);
    int n = b->queued;
    pthread_mutex_unlock(&b->mu);
    return n;
}

void rfs_batcher_free(rfs_batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    pthread_cond_destroy(&b->ready);
    pthread_cond_destroy(&b->work);
    pthread_mutex_destroy(&b->mu);
    free(b);
}
