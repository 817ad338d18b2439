/* batch.c - the batching queue and its workers (see batch.h). */
#include "serve/batch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct worker {
    struct rfs_batcher *b;
    rfs_session_opts so;
    pthread_t thread;
    int joinable;
    int started;              /* 1: session up, -1: its session failed */
    rfs_status start_status;
    char start_error[256];
} worker;

struct rfs_batcher {
    pthread_mutex_t mu;
    pthread_cond_t work;      /* a job arrived, or stop */
    pthread_cond_t ready;     /* a worker finished starting */
    rfs_job *head;            /* queued jobs with frames not yet taken, arrival order */
    int queued;               /* frames not yet taken */
    int reserved;             /* frames reserved: queued + running + being decoded */
    int stop;
    rfs_predict_opts predict;
    int wait_ms, capacity;
    void (*on_batch)(void *user, int frames, double ms);
    void *user;
    const rfs_model *model;
    worker *workers;
    int n_workers;
};

double rfs_batcher_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void abs_time(struct timespec *ts, double ms) {
    if (ms < 0) ms = 0;
    ts->tv_sec = (time_t)(ms / 1e3);
    ts->tv_nsec = (long)((ms - ts->tv_sec * 1e3) * 1e6);
    if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
    if (ts->tv_nsec < 0) ts->tv_nsec = 0;
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
    rfs_predict_opts po = b->predict;
    if (k->custom_threshold) { /* one threshold for every class, as the request asked */
        po.threshold = k->threshold;
        po.class_thresholds = NULL;
        po.n_class_thresholds = 0;
    }
    po.disable_static_crop |= k->disable_static_crop;
    po.disable_grayscale |= k->disable_grayscale;
    return po;
}

/* Queued frames that could join a batch led by `key`, counted up to max. */
static int compatible_frames(const rfs_batcher *b, const rfs_job_key *key, int max) {
    int n = 0;
    for (const rfs_job *j = b->head; j && n < max; j = j->link)
        if (key_equal(&j->key, key)) n += j->n - j->next;
    return n;
}

typedef struct batch_item {
    rfs_job *job;
    int idx;
} batch_item;

/* Takes up to max frames compatible with the head job, in arrival order, unlinking jobs
 * whose last frame was taken. Called with the lock held. */
static int collect(rfs_batcher *b, int max, batch_item *items, rfs_image *imgs, rfs_job_key *key) {
    int n = 0;
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
    worker *w = arg;
    rfs_batcher *b = w->b;
    int max = w->so.max_batch;
    rfs_session *s = NULL;
    batch_item *items = calloc((size_t)max, sizeof *items);
    rfs_image *imgs = calloc((size_t)max, sizeof *imgs);
    rfs_result *res = calloc((size_t)max, sizeof *res);
    rfs_status st = RFS_OK;
    char err[256] = "";
    if (!items || !imgs || !res) {
        st = RFS_ERR_NOMEM;
        snprintf(err, sizeof err, "out of memory starting a batch worker");
    } else if ((st = rfs_session_create(&s, b->model, &w->so)) != RFS_OK)
        snprintf(err, sizeof err, "%s", rfs_last_error());

    pthread_mutex_lock(&b->mu);
    w->start_status = st;
    snprintf(w->start_error, sizeof w->start_error, "%s", err);
    w->started = st == RFS_OK ? 1 : -1;
    pthread_cond_broadcast(&b->ready);
    while (st == RFS_OK) {
        if (!b->head) {
            if (b->stop) break;
            pthread_cond_wait(&b->work, &b->mu);
            continue;
        }
        /* let the batch fill until the oldest job has waited wait_ms (not when stopping) */
        double until = b->head->enqueued_ms + b->wait_ms;
        if (!b->stop && compatible_frames(b, &b->head->key, max) < max && rfs_batcher_now_ms() < until) {
            struct timespec ts;
            abs_time(&ts, until);
            pthread_cond_timedwait(&b->work, &b->mu, &ts);
            continue; /* re-examine: the head may have changed or been taken */
        }
        rfs_job_key key;
        int n = collect(b, max, items, imgs, &key);
        if (b->head) pthread_cond_broadcast(&b->work); /* more work: another worker may take it */
        pthread_mutex_unlock(&b->mu);

        rfs_predict_opts po = opts_for(b, &key);
        double t0 = rfs_batcher_now_ms();
        rfs_status pst = rfs_predict(s, imgs, n, &po, res);
        double ms = rfs_batcher_now_ms() - t0;
        if (pst != RFS_OK) snprintf(err, sizeof err, "%s", rfs_last_error());
        if (b->on_batch) b->on_batch(b->user, n, ms);

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

int rfs_batcher_workers(const rfs_batcher *b) { return b->n_workers; }

rfs_status rfs_batcher_create(rfs_batcher **out, const rfs_model *m, const rfs_batcher_opts *o,
                              char *err, size_t err_cap) {
    *out = NULL;
    if (err && err_cap) err[0] = 0;
    if (o->n_sessions < 1 || !o->sessions || o->capacity < 1 || o->wait_ms < 0) {
        if (err) snprintf(err, err_cap, "batcher: need >= 1 session, capacity >= 1, wait >= 0");
        return RFS_ERR_ARG;
    }
    for (int i = 0; i < o->n_sessions; i++)
        if (o->sessions[i].max_batch < 1) {
            if (err) snprintf(err, err_cap, "batcher: max_batch must be >= 1");
            return RFS_ERR_ARG;
        }
    rfs_batcher *b = calloc(1, sizeof *b);
    worker *ws = calloc((size_t)o->n_sessions, sizeof *ws);
    if (!b || !ws) {
        free(b);
        free(ws);
        if (err) snprintf(err, err_cap, "out of memory");
        return RFS_ERR_NOMEM;
    }
    b->predict = o->predict;
    b->wait_ms = o->wait_ms;
    b->capacity = o->capacity;
    b->on_batch = o->on_batch;
    b->user = o->user;
    b->model = m;
    b->workers = ws;
    pthread_mutex_init(&b->mu, NULL);
    cond_init_mono(&b->work);
    pthread_cond_init(&b->ready, NULL);
    rfs_status st = RFS_OK;
    for (int i = 0; i < o->n_sessions; i++) {
        ws[i].b = b;
        ws[i].so = o->sessions[i];
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0) {
            st = RFS_ERR_NOMEM;
            if (err) snprintf(err, err_cap, "could not start a batch worker thread");
            break;
        }
        ws[i].joinable = 1;
        b->n_workers = i + 1;
    }
    pthread_mutex_lock(&b->mu);
    for (int i = 0; i < b->n_workers; i++) {
        while (!ws[i].started) pthread_cond_wait(&b->ready, &b->mu);
        if (ws[i].started < 0 && st == RFS_OK) {
            st = ws[i].start_status;
            if (err) snprintf(err, err_cap, "%s", ws[i].start_error);
        }
    }
    pthread_mutex_unlock(&b->mu);
    if (st != RFS_OK) {
        rfs_batcher_free(b);
        return st;
    }
    *out = b;
    return RFS_OK;
}

int rfs_batcher_reserve(rfs_batcher *b, int n) {
    int r;
    pthread_mutex_lock(&b->mu);
    if (b->stop) r = -1;
    else if (n > b->capacity - b->reserved) r = 0;
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
    j->next = j->inflight = j->done = j->dropped = 0;
    j->status = RFS_OK;
    j->error[0] = 0;
    j->enqueued_ms = rfs_batcher_now_ms();
    j->link = NULL;
    rfs_job **pp = &b->head;
    while (*pp) pp = &(*pp)->link; /* the queue holds at most `capacity` frames: short */
    *pp = j;
    b->queued += j->n;
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->mu);
}

rfs_job_outcome rfs_batcher_wait(rfs_batcher *b, rfs_job *j, double deadline_ms,
                                 rfs_job_gone_fn gone, void *user, int poll_ms) {
    if (poll_ms < 1) poll_ms = 1;
    rfs_job_outcome out = RFS_JOB_DONE;
    pthread_mutex_lock(&b->mu);
    while (j->done < j->n) {
        double now = rfs_batcher_now_ms();
        if (now >= deadline_ms) {
            out = RFS_JOB_TIMEOUT;
            break;
        }
        double until = gone && now + poll_ms < deadline_ms ? now + poll_ms : deadline_ms;
        struct timespec ts;
        abs_time(&ts, until);
        pthread_cond_timedwait(&j->cv, &b->mu, &ts);
        if (j->done == j->n) break;
        if (gone) {
            pthread_mutex_unlock(&b->mu);
            int g = gone(user);
            pthread_mutex_lock(&b->mu);
            if (g) {
                out = RFS_JOB_GONE;
                break;
            }
        }
    }
    if (j->done < j->n) {
        if (j->next < j->n) { /* frames still queued: take the job off the queue */
            for (rfs_job **pp = &b->head; *pp; pp = &(*pp)->link)
                if (*pp == j) {
                    *pp = j->link;
                    break;
                }
            j->dropped = j->n - j->next;
            b->queued -= j->dropped;
            j->next = j->n;
        }
        while (j->inflight > 0) pthread_cond_wait(&j->cv, &b->mu);
        /* its last frames may have finished meanwhile */
        if (out == RFS_JOB_TIMEOUT && j->done == j->n) out = RFS_JOB_DONE;
    }
    b->reserved -= j->n;
    pthread_mutex_unlock(&b->mu);
    return out;
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
    for (int i = 0; i < b->n_workers; i++)
        if (b->workers[i].joinable) pthread_join(b->workers[i].thread, NULL);
    pthread_cond_destroy(&b->ready);
    pthread_cond_destroy(&b->work);
    pthread_mutex_destroy(&b->mu);
    free(b->workers);
    free(b);
}
