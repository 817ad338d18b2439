/* worker.c - the Redis Streams worker (see worker.h). */
#include "worker/worker.h"

#include "serve/batch.h"
#include "serve/budget.h"
#include "serve/metrics.h"
#include "serve/probe.h"
#include "serve/util.h"
#include "worker/job.h"
#include "worker/redis.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

rfs_worker_config rfs_worker_defaults(void) {
    rfs_worker_config c = {0};
    c.jobs = "rfseg:jobs";
    c.group = "rfseg";
    c.results = "rfseg:results";
    c.session = rfs_session_defaults();
    c.max_batch = 4;
    c.batch_wait_ms = 5;
    c.block_ms = 1000;
    c.claim_idle_ms = 60000;
    c.max_attempts = 3;
    c.results_maxlen = 100000;
    c.memory_budget = (uint64_t)2048 << 20;
    c.max_pixels = 25000000;
    c.max_image_bytes = (size_t)16 << 20;
    c.metrics_host = "127.0.0.1";
    c.log_every_s = 60;
    c.stop_grace_ms = 30000;
    return c;
}

#if !RFS_HAVE_HIREDIS

rfs_status rfs_worker_start(rfs_worker **out, const rfs_worker_config *c) {
    *out = NULL;
    return rfs_serve_fail(RFS_ERR_UNSUPPORTED, "worker: not built (needs hiredis: Debian libhiredis-dev)");
}
const char *rfs_worker_consumer(const rfs_worker *w) { return ""; }
int rfs_worker_metrics_port(const rfs_worker *w) { return 0; }
rfs_status rfs_worker_stop(rfs_worker *w) { return RFS_OK; }
rfs_status rfs_worker_run(const rfs_worker_config *c) {
    rfs_worker *w;
    return rfs_worker_start(&w, c);
}

#else

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#define FAR_MS 1e15 /* "no deadline" for waits that only a stop may end */

/* ---- counters ------------------------------------------------------------------------ */

#define LAT_BUCKETS 12
static const double lat_bounds[LAT_BUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

typedef struct counters {
    uint64_t ok, error, abandoned, claimed, requeued, reads, commits, redis_errors, reconnects;
    uint64_t lat_count[LAT_BUCKETS + 1];
    double lat_sum;
} counters;

/* ---- state --------------------------------------------------------------------------- */

enum item_state {
    IT_RUN,      /* to be run */
    IT_OK,       /* json ready */
    IT_ERROR,    /* error result */
    IT_ACK_ONLY, /* acknowledge without a result (the entry was deleted from the stream) */
    IT_LEAVE,    /* leave pending: another attempt later (transient failure) */
    IT_SKIP,     /* nothing to do: no longer pending */
};

typedef struct item {
    const char *eid;          /* stream entry id (points into the lane's reply) */
    const redisReply *fields; /* NULL: deleted entry */
    long long deliveries;
    rfs_wjob job;
    enum item_state state;
    char err[400];
    uint64_t px;              /* pixels from the header, 0 when unreadable */
    double t0, ms;
    rfs_text json;
} item;

typedef struct lane lane;

struct rfs_worker {
    rfs_worker_config cfg;
    rfs_redis_url url;
    char consumer[300];
    const char **model_ids;
    rfs_batcher **batchers;
    rfs_session_opts *sessions;
    int n_sessions;
    rfs_budget budget;
    rfs_metrics metrics;  /* forward batches (rfs_metrics_batch) */
    pthread_mutex_t mu;   /* counters */
    counters c;
    lane *lanes;
    int n_lanes;
    atomic_int stop;
    atomic_int busy;      /* lanes holding a batch */
    double stop_at_ms;
    atomic_int commit_failed;
    pthread_mutex_t claim_mu;
    double next_claim_ms;
    char claim_cursor[64];
    int poll_ms;          /* how often a waiting lane checks whether to refresh its jobs */
    int mfd, mport;       /* metrics listener */
    pthread_t monitor;
    int monitor_started;
    atomic_int monitor_stop;
};

struct lane {
    rfs_worker *w;
    int idx;
    pthread_t th;
    int started;
    redisContext *rc;
    int ever_connected, down_logged;
    double backoff_ms;
    redisReply *reply;    /* the read that holds the current batch's entries */
    rfs_sentry *ents;
    item *items;
    int n;
    rfs_frame *frames;
    rfs_image *imgs;
    rfs_result *results;
    rfs_job *jobs;
    int *group;           /* indices of the items decoded together */
    rfs_shapes *shapes;
    double last_beat;
};

static double now_ms(void) { return rfs_batcher_now_ms(); }

static void sleep_ms(double ms) {
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
    nanosleep(&ts, NULL);
}

#define LOG(w, lvl, ...) rfs_serve_log((w)->cfg.log, (w)->cfg.log_user, lvl, __VA_ARGS__)

static void count(rfs_worker *w, uint64_t *field, uint64_t n) {
    pthread_mutex_lock(&w->mu);
    *field += n;
    pthread_mutex_unlock(&w->mu);
}

static void on_batch(void *user, int frames, double ms) { rfs_metrics_batch(user, frames, ms); }

/* ---- connection ---------------------------------------------------------------------- */

static void lane_drop(lane *L, const char *why) {
    rfs_worker *w = L->w;
    if (L->rc) {
        LOG(w, RFS_LOG_WARN, "worker: lane %d: redis connection lost (%s); reconnecting", L->idx,
            why ? why : L->rc->errstr[0] ? L->rc->errstr : "closed");
        redisFree(L->rc);
        L->rc = NULL;
    }
    count(w, &w->c.redis_errors, 1);
}

/* Creates the group at the stream's start (and the stream) unless it exists; checks that
 * the results key is a stream (or absent), so that no acknowledgement can go without its
 * result. 0, or -1 (message logged). */
static int ensure_streams(lane *L) {
    rfs_worker *w = L->w;
    redisReply *r = rfs_rcmdv(L->rc, "XGROUP", "CREATE", w->cfg.jobs, w->cfg.group, "0", "MKSTREAM", NULL);
    if (!r) return -1;
    int ok = r->type != REDIS_REPLY_ERROR || rfs_reply_is_error(r, "BUSYGROUP");
    if (!ok) /* LOADING: a restarted Redis reading its data back; it answers soon */
        LOG(w, rfs_reply_is_error(r, "LOADING") ? RFS_LOG_DEBUG : RFS_LOG_ERROR, "worker: XGROUP CREATE %s %s: %s",
            w->cfg.jobs, w->cfg.group, r->str);
    freeReplyObject(r);
    if (!ok) return -1;
    if (!(r = rfs_rcmdv(L->rc, "TYPE", w->cfg.results, NULL))) return -1;
    ok = r->type == REDIS_REPLY_STATUS && (!strcmp(r->str, "none") || !strcmp(r->str, "stream"));
    if (!ok) LOG(w, RFS_LOG_ERROR, "worker: the results key \"%s\" holds a %s, not a stream", w->cfg.results,
                 r->type == REDIS_REPLY_STATUS ? r->str : "?");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* The next backoff: 100 ms doubling up to 5 s, or a quarter of claim_idle_ms when that is
 * less, so that a lane is back before its jobs could be claimed away. */
static double next_backoff(const lane *L) {
    double cap = L->w->cfg.claim_idle_ms / 4.0;
    cap = cap > 5000 ? 5000 : cap < 100 ? 100 : cap;
    double b = L->backoff_ms < 100 ? 100 : L->backoff_ms * 2;
    return b > cap ? cap : b;
}

/* Waits out the lane's backoff; 0 when a stop ended the wait. */
static int backoff_wait(lane *L) {
    for (double slept = 0; slept < L->backoff_ms; slept += 50) {
        if (atomic_load(&L->w->stop) && !atomic_load(&L->w->busy)) return 0;
        sleep_ms(50);
    }
    return 1;
}

/* Grows the lane's backoff and waits it out; a stop ends the wait. */
static void lane_backoff(lane *L) {
    L->backoff_ms = next_backoff(L);
    backoff_wait(L);
}

/* 1 when connected; otherwise waits out the backoff, tries once and returns 0 or 1. */
static int lane_connect(lane *L) {
    rfs_worker *w = L->w;
    if (L->rc && !L->rc->err) return 1;
    if (L->rc) lane_drop(L, NULL);
    if (!backoff_wait(L)) return 0;
    char err[512];
    L->rc = rfs_rconn_open(&w->url, 5000, w->cfg.block_ms + 15000, err, sizeof err);
    if (L->rc && ensure_streams(L) != 0) {
        snprintf(err, sizeof err, "%s", L->rc->err ? L->rc->errstr : "setting up the streams failed");
        redisFree(L->rc);
        L->rc = NULL;
    }
    if (!L->rc) {
        double before = L->backoff_ms;
        L->backoff_ms = next_backoff(L);
        count(w, &w->c.redis_errors, 1);
        /* every lane retries; one of them says so, once per outage and then at the cap */
        if (L->idx == 0 && (!L->down_logged || before == L->backoff_ms))
            LOG(w, RFS_LOG_WARN, "worker: redis unreachable: %s; retrying in %.1f s", err, L->backoff_ms / 1e3);
        L->down_logged = 1;
        return 0;
    }
    if (L->ever_connected) {
        count(w, &w->c.reconnects, 1);
        if (L->idx == 0) LOG(w, RFS_LOG_INFO, "worker: reconnected to redis %s:%d", w->url.host, w->url.port);
        /* after an outage every worker's jobs look idle (no refresh got through): claim
         * nothing until the lanes of live workers have had claim_idle_ms to refresh or
         * commit theirs */
        pthread_mutex_lock(&w->claim_mu);
        double t = now_ms() + w->cfg.claim_idle_ms;
        if (w->next_claim_ms < t) w->next_claim_ms = t;
        pthread_mutex_unlock(&w->claim_mu);
    }
    L->ever_connected = 1;
    L->down_logged = 0;
    L->backoff_ms = 0;
    return 1;
}

/* ---- reading ------------------------------------------------------------------------- */

static void lane_reset(lane *L) {
    for (int i = 0; i < L->n; i++) {
        rfs_wjob_free(&L->items[i].job);
        rfs_text_reset(&L->items[i].json);
    }
    L->n = 0;
    if (L->reply) freeReplyObject(L->reply);
    L->reply = NULL;
}

/* Takes the entries of an entries array (owned by L->reply) as the lane's batch. */
static int take_entries(lane *L, const redisReply *arr) {
    int n = rfs_reply_entries(arr, L->ents, L->w->cfg.max_batch);
    if (n < 0) {
        LOG(L->w, RFS_LOG_ERROR, "worker: unexpected reply shape from redis");
        return -1;
    }
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        item *it = &L->items[i];
        it->eid = L->ents[i].id;
        it->fields = L->ents[i].fields;
        it->deliveries = 1;
        it->state = it->fields ? IT_RUN : IT_ACK_ONLY;
        it->err[0] = 0;
        it->px = 0;
        it->t0 = t0;
        it->ms = 0;
    }
    L->n = n;
    return n;
}

/* XREADGROUP ... COUNT B BLOCK ms STREAMS jobs >: the count of new entries, 0, or -1 when
 * the connection broke. */
static int lane_read(lane *L) {
    rfs_worker *w = L->w;
    char count_s[16], block_s[16];
    snprintf(count_s, sizeof count_s, "%d", w->cfg.max_batch);
    snprintf(block_s, sizeof block_s, "%d", w->cfg.block_ms);
    const char *argv[] = {"XREADGROUP", "GROUP", w->cfg.group, w->consumer, "COUNT", count_s, "BLOCK", block_s,
                          "STREAMS", w->cfg.jobs, ">"};
    redisReply *r = rfs_rcmd(L->rc, 11, argv, NULL);
    if (!r) return -1;
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        int nogroup = rfs_reply_is_error(r, "NOGROUP");
        if (!nogroup) LOG(w, RFS_LOG_WARN, "worker: XREADGROUP: %s", r->str);
        freeReplyObject(r);
        if (nogroup) /* the stream or group was deleted (or Redis lost its data): create again */
            return ensure_streams(L) == 0 ? 0 : -1;
        count(w, &w->c.redis_errors, 1);
        lane_backoff(L); /* e.g. LOADING after a restart, or a permission error */
        return 0;
    }
    L->backoff_ms = 0;
    L->reply = r;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_ARRAY ||
        r->element[0]->elements != 2)
        return take_entries(L, NULL);
    int n = take_entries(L, r->element[0]->element[1]);
    if (n > 0) count(w, &w->c.reads, 1);
    return n;
}

/* Whether it is this lane's turn to look for abandoned entries. */
static int claim_turn(rfs_worker *w, char cursor[64]) {
    int turn = 0;
    pthread_mutex_lock(&w->claim_mu);
    double t = now_ms();
    if (t >= w->next_claim_ms) {
        int every = w->cfg.claim_idle_ms / 4;
        w->next_claim_ms = t + (every < 50 ? 50 : every > 10000 ? 10000 : every);
        memcpy(cursor, w->claim_cursor, 64);
        turn = 1;
    }
    pthread_mutex_unlock(&w->claim_mu);
    return turn;
}

/* XAUTOCLAIM jobs group consumer T cursor COUNT B, then each claimed entry's delivery
 * count (XPENDING, pipelined). The count of entries taken, 0, or -1. */
static int lane_claim(lane *L, char cursor[64]) {
    rfs_worker *w = L->w;
    char idle_s[16], count_s[16];
    snprintf(idle_s, sizeof idle_s, "%d", w->cfg.claim_idle_ms);
    snprintf(count_s, sizeof count_s, "%d", w->cfg.max_batch);
    const char *argv[] = {"XAUTOCLAIM", w->cfg.jobs, w->cfg.group, w->consumer, idle_s, cursor, "COUNT", count_s};
    redisReply *r = rfs_rcmd(L->rc, 8, argv, NULL);
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING) {
        if (r->type == REDIS_REPLY_ERROR && !rfs_reply_is_error(r, "NOGROUP"))
            LOG(w, RFS_LOG_WARN, "worker: XAUTOCLAIM: %s", r->str);
        freeReplyObject(r);
        return 0;
    }
    pthread_mutex_lock(&w->claim_mu);
    snprintf(w->claim_cursor, sizeof w->claim_cursor, "%s", r->element[0]->str);
    if (strcmp(w->claim_cursor, "0-0")) w->next_claim_ms = 0; /* more to look at: go on soon */
    pthread_mutex_unlock(&w->claim_mu);
    L->reply = r;
    int n = take_entries(L, r->element[1]);
    if (n <= 0) return n;
    for (int i = 0; i < n; i++) {
        const char *pv[] = {"XPENDING", w->cfg.jobs, w->cfg.group, L->items[i].eid, L->items[i].eid, "1"};
        redisAppendCommandArgv(L->rc, 6, pv, NULL);
    }
    int broken = 0;
    for (int i = 0; i < n; i++) {
        redisReply *p = NULL;
        if (broken || redisGetReply(L->rc, (void **)&p) != REDIS_OK || !p) {
            broken = 1;
            continue;
        }
        item *it = &L->items[i];
        if (p->type == REDIS_REPLY_ARRAY && p->elements == 1 && p->element[0]->type == REDIS_REPLY_ARRAY &&
            p->element[0]->elements == 4 && p->element[0]->element[3]->type == REDIS_REPLY_INTEGER)
            it->deliveries = p->element[0]->element[3]->integer;
        else if (p->type == REDIS_REPLY_ARRAY && p->elements == 0)
            it->state = IT_SKIP; /* acknowledged meanwhile */
        freeReplyObject(p);
        if (it->state == IT_RUN && it->deliveries > w->cfg.max_attempts) {
            it->state = IT_ERROR;
            snprintf(it->err, sizeof it->err,
                     "gave up after %lld deliveries: every worker that took this job died or stalled "
                     "before finishing it (--max-attempts %d)", it->deliveries, w->cfg.max_attempts);
            count(w, &w->c.abandoned, 1);
        }
    }
    if (broken) return -1;
    count(w, &w->c.claimed, (uint64_t)n);
    count(w, &w->c.reads, 1);
    LOG(w, RFS_LOG_INFO, "worker: claimed %d job(s) idle for more than %d ms", n, w->cfg.claim_idle_ms);
    return n;
}

/* ---- running ------------------------------------------------------------------------- */

/* Called while the lane works on a batch (between images, and while it waits for memory or
 * for its frames): keeps its entries from looking abandoned by resetting their idle time
 * (XCLAIM to itself, JUSTID: no delivery counted), at most every claim_idle_ms / 3. */
static int lane_heartbeat(void *user) {
    lane *L = user;
    rfs_worker *w = L->w;
    double t = now_ms();
    if (t - L->last_beat < w->cfg.claim_idle_ms / 3.0) return 0;
    L->last_beat = t;
    if (!L->n) return 0;
    if (!L->rc || L->rc->err) { /* Redis went away meanwhile: one attempt, no waiting */
        double b = L->backoff_ms;
        L->backoff_ms = 0;
        if (!lane_connect(L)) {
            L->backoff_ms = b;
            return 0;
        }
    }
    const char **argv = calloc((size_t)L->n + 6, sizeof *argv);
    if (!argv) return 0;
    int argc = 0;
    argv[argc++] = "XCLAIM";
    argv[argc++] = w->cfg.jobs;
    argv[argc++] = w->cfg.group;
    argv[argc++] = w->consumer;
    argv[argc++] = "0";
    for (int i = 0; i < L->n; i++)
        if (L->items[i].state == IT_RUN || L->items[i].state == IT_OK || L->items[i].state == IT_ERROR)
            argv[argc++] = L->items[i].eid;
    argv[argc++] = "JUSTID";
    redisReply *r = argc > 6 ? redisCommandArgv(L->rc, argc, argv, NULL) : NULL;
    if (r) freeReplyObject(r);
    free(argv);
    return 0; /* a broken connection is noticed at commit */
}

static void item_fail(item *it, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void item_fail(item *it, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->err, sizeof it->err, fmt, ap);
    va_end(ap);
    it->state = IT_ERROR;
}

/* Decodes, runs and answers the items L->group[0..k), whose pixels fit the budget together. */
static void run_group(lane *L, int k, uint64_t total, uint64_t largest) {
    rfs_worker *w = L->w;
    /* the decoded frames, plus one more image while decoding (an EXIF rotation copies) */
    rfs_budget_take(&w->budget, total + largest, FAR_MS, lane_heartbeat, L, w->poll_ms);
    for (int g = 0; g < k; g++) {
        item *it = &L->items[L->group[g]];
        const rfs_model *m = w->cfg.models[it->job.model].model;
        lane_heartbeat(L); /* decoding a large batch takes a while too */
        /* the decoder may allocate exactly what was charged: a header that lied is refused */
        rfs_decode_opts o = {.no_auto_orient = !rfs_model_auto_orient(m), .max_pixels = it->px ? it->px : 1};
        rfs_frame *f = &L->frames[g];
        rfs_status st = rfs_image_decode(f, it->job.image, it->job.image_len, &o);
        if (st == RFS_ERR_NOMEM) {
            it->state = IT_LEAVE;
            LOG(w, RFS_LOG_WARN, "worker: out of memory decoding job %s; left for another attempt", it->eid);
        } else if (st == RFS_ERR_LIMIT && !it->px) item_fail(it, "image: could not read the image size from its header");
        else if (st == RFS_ERR_LIMIT) item_fail(it, "image: %s", rfs_last_error());
        else if (st != RFS_OK) item_fail(it, "image: could not decode the image: %s", rfs_last_error());
        else L->imgs[g] = rfs_frame_image(f);
    }
    rfs_budget_give(&w->budget, largest); /* decoding is over */
    for (int g = 0; g < k; g++) {
        item *it = &L->items[L->group[g]];
        if (it->state != IT_RUN) continue;
        rfs_batcher *b = w->batchers[it->job.model];
        if (rfs_batcher_reserve(b, 1) != 1) { /* cannot happen: capacity covers every lane */
            it->state = IT_LEAVE;
            continue;
        }
        rfs_job *j = &L->jobs[g];
        rfs_job_init(j);
        j->n = 1;
        j->frames = &L->imgs[g];
        j->results = &L->results[g];
        j->key = (rfs_job_key){.custom_threshold = it->job.custom_confidence, .threshold = it->job.confidence};
        rfs_batcher_submit(b, j);
    }
    for (int g = 0; g < k; g++) {
        item *it = &L->items[L->group[g]];
        if (it->state != IT_RUN) continue;
        rfs_job *j = &L->jobs[g];
        rfs_batcher_wait(w->batchers[it->job.model], j, FAR_MS, lane_heartbeat, L, w->poll_ms);
        if (j->status == RFS_ERR_NOMEM || j->status == RFS_ERR_BACKEND) {
            it->state = IT_LEAVE; /* may succeed elsewhere or later */
            LOG(w, RFS_LOG_WARN, "worker: job %s: %s; left for another attempt", it->eid, j->error);
        } else if (j->status != RFS_OK) item_fail(it, "inference failed: %s", j->error);
        rfs_job_destroy(j);
    }
    for (int g = 0; g < k; g++) rfs_frame_free(&L->frames[g]);
    rfs_budget_give(&w->budget, total);
    for (int g = 0; g < k; g++) {
        item *it = &L->items[L->group[g]];
        if (it->state != IT_RUN) continue;
        lane_heartbeat(L);
        const rfs_worker_model *wm = &w->cfg.models[it->job.model];
        rfs_response_opts ro = rfs_response_defaults();
        ro.format = it->job.format;
        ro.inference_id = it->job.id;
        ro.time = (now_ms() - it->t0) / 1e3;
        ro.frame_id = -1;
        ro.class_filter = (const char *const *)it->job.class_filter;
        ro.n_class_filter = it->job.n_class_filter;
        rfs_text_reset(&it->json);
        if (rfs_response_roboflow(&it->json, L->shapes, &L->results[g], wm->model, &ro) != RFS_OK || it->json.oom)
            item_fail(it, "could not write the response: %s", it->json.oom ? "out of memory" : rfs_last_error());
        else it->state = IT_OK;
    }
}

static void lane_process(lane *L) {
    rfs_worker *w = L->w;
    char err[400];
    for (int i = 0; i < L->n; i++) {
        item *it = &L->items[i];
        /* abandoned jobs are parsed too, for the id their error result carries */
        if (!it->fields || (it->state != IT_RUN && it->state != IT_ERROR)) continue;
        const redisReply *f = it->fields;
        size_t nf = f->elements;
        const char **fv = malloc((nf ? nf : 1) * sizeof *fv);
        size_t *fl = malloc((nf ? nf : 1) * sizeof *fl);
        if (!fv || !fl) {
            free(fv);
            free(fl);
            it->state = IT_LEAVE;
            continue;
        }
        for (size_t k = 0; k < nf; k++) {
            fv[k] = f->element[k]->str;
            fl[k] = f->element[k]->len;
        }
        int bad = rfs_wjob_parse(&it->job, fv, fl, nf, w->model_ids, w->cfg.n_models, w->cfg.max_image_bytes, err,
                                 sizeof err);
        free(fv);
        free(fl);
        if (it->state != IT_RUN) continue;
        if (bad) {
            item_fail(it, "%s", err);
            continue;
        }
        uint32_t iw, ih;
        if (rfs_serve_image_dims(it->job.image, it->job.image_len, &iw, &ih)) {
            it->px = (uint64_t)iw * ih;
            if (it->px > w->cfg.max_pixels)
                item_fail(it, "image: image size %ux%u exceeds the limit of %llu pixels", iw, ih,
                          (unsigned long long)w->cfg.max_pixels);
            else if (2 * 3 * it->px > w->cfg.memory_budget)
                item_fail(it, "image: a %ux%u image needs %llu MiB decoded, more than the worker's memory "
                              "budget of %llu MiB", iw, ih, (unsigned long long)((6 * it->px + (1 << 20) - 1) >> 20),
                          (unsigned long long)(w->cfg.memory_budget >> 20));
        }
    }
    /* consecutive groups whose decoded pixels fit the budget together */
    for (int i = 0; i < L->n;) {
        int k = 0;
        uint64_t total = 0, largest = 0;
        for (; i < L->n; i++) {
            item *it = &L->items[i];
            if (it->state != IT_RUN) continue;
            uint64_t b = 3 * it->px;
            uint64_t big = b > largest ? b : largest;
            if (k && total + b + big > w->cfg.memory_budget) break;
            L->group[k++] = i;
            total += b;
            largest = big;
        }
        if (k) run_group(L, k, total, largest);
    }
    double t = now_ms();
    for (int i = 0; i < L->n; i++) {
        item *it = &L->items[i];
        it->ms = t - it->t0;
        if (it->state == IT_ERROR)
            LOG(w, RFS_LOG_DEBUG, "worker: job %s (%s): %s", it->eid, it->job.id ? it->job.id : "no id", it->err);
    }
}

/* ---- committing ---------------------------------------------------------------------- */

static int has_result(const item *it) { return it->state == IT_OK || it->state == IT_ERROR; }
static int to_ack(const item *it) { return has_result(it) || it->state == IT_ACK_ONLY; }

/* Keeps only the items whose entries are still pending (after a commit whose outcome is
 * unknown: the connection broke before its answer). 0, or -1 when the connection broke. */
static int keep_pending(lane *L) {
    rfs_worker *w = L->w;
    int asked = 0;
    for (int i = 0; i < L->n; i++)
        if (to_ack(&L->items[i])) {
            const char *pv[] = {"XPENDING", w->cfg.jobs, w->cfg.group, L->items[i].eid, L->items[i].eid, "1"};
            redisAppendCommandArgv(L->rc, 6, pv, NULL);
            asked++;
        }
    int broken = 0;
    for (int i = 0; i < L->n && asked; i++) {
        if (!to_ack(&L->items[i])) continue;
        redisReply *p = NULL;
        if (broken || redisGetReply(L->rc, (void **)&p) != REDIS_OK || !p) {
            broken = 1;
            continue;
        }
        if (p->type == REDIS_REPLY_ARRAY && p->elements == 0) L->items[i].state = IT_SKIP; /* committed */
        freeReplyObject(p);
    }
    return broken ? -1 : 0;
}

/* One MULTI/EXEC: every result, then XACK of every job answered. 1 done, 0 connection
 * broke (outcome unknown), -1 refused by Redis. */
static int commit_once(lane *L) {
    rfs_worker *w = L->w;
    char maxlen[24];
    snprintf(maxlen, sizeof maxlen, "%ld", w->cfg.results_maxlen);
    int cmds = 0, acks = 0;
    redisAppendCommand(L->rc, "MULTI");
    cmds++;
    for (int i = 0; i < L->n; i++) {
        item *it = &L->items[i];
        if (!has_result(it)) continue;
        char ms[32];
        snprintf(ms, sizeof ms, "%.1f", it->ms);
        const char *argv[20];
        size_t lens[20];
        int c = 0;
#define ARG(s, n) (argv[c] = (s), lens[c] = (n), c++)
#define ARGS(s) ARG(s, strlen(s))
        ARGS("XADD"), ARGS(w->cfg.results), ARGS("MAXLEN"), ARGS("~"), ARGS(maxlen), ARGS("*");
        if (it->job.id) ARGS("id"), ARG(it->job.id, it->job.id_len);
        ARGS("entry"), ARGS(it->eid);
        if (it->state == IT_OK) ARGS("status"), ARGS("ok"), ARGS("json"), ARG(it->json.p, it->json.len);
        else ARGS("status"), ARGS("error"), ARGS("error"), ARGS(it->err);
        ARGS("worker"), ARGS(w->consumer), ARGS("ms"), ARGS(ms);
#undef ARG
#undef ARGS
        redisAppendCommandArgv(L->rc, c, argv, lens);
        cmds++;
    }
    const char **argv = calloc((size_t)L->n + 3, sizeof *argv);
    if (!argv) return 0;
    argv[0] = "XACK", argv[1] = w->cfg.jobs, argv[2] = w->cfg.group;
    for (int i = 0; i < L->n; i++)
        if (to_ack(&L->items[i])) argv[3 + acks++] = L->items[i].eid;
    redisAppendCommandArgv(L->rc, 3 + acks, argv, NULL);
    if (w->cfg.delete_jobs) { /* XDEL jobs id...: the same ids after two words */
        argv[1] = "XDEL", argv[2] = w->cfg.jobs;
        redisAppendCommandArgv(L->rc, 2 + acks, argv + 1, NULL);
        cmds++;
    }
    free(argv);
    redisAppendCommand(L->rc, "EXEC");
    cmds += 2;
    int rc = 1;
    for (int k = 0; k < cmds; k++) {
        redisReply *r = NULL;
        if (redisGetReply(L->rc, (void **)&r) != REDIS_OK || !r) return 0;
        if (k == cmds - 1) { /* EXEC: an array of the commands' replies */
            if (r->type != REDIS_REPLY_ARRAY) {
                LOG(w, RFS_LOG_ERROR, "worker: committing results: %s", r->type == REDIS_REPLY_ERROR ? r->str : "EXEC failed");
                rc = -1;
            } else
                for (size_t e = 0; e < r->elements; e++)
                    if (r->element[e]->type == REDIS_REPLY_ERROR) {
                        LOG(w, RFS_LOG_ERROR, "worker: committing results: %s", r->element[e]->str);
                        rc = -1;
                    }
        } else if (r->type == REDIS_REPLY_ERROR) {
            LOG(w, RFS_LOG_ERROR, "worker: committing results: %s", r->str);
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}

/* Writes the batch's results and acknowledges its jobs, retrying through reconnections;
 * after a stop, for stop_grace_ms at most. 0, or -1 when it gave up. */
static int lane_commit(lane *L) {
    rfs_worker *w = L->w;
    int any = 0, unsure = 0;
    for (int i = 0; i < L->n; i++) any |= to_ack(&L->items[i]);
    while (any) {
        if (atomic_load(&w->stop) && now_ms() > w->stop_at_ms + w->cfg.stop_grace_ms) {
            LOG(w, RFS_LOG_ERROR, "worker: lane %d: could not write the results of %d job(s) before stopping; "
                                  "they stay pending for another worker", L->idx, L->n);
            return -1;
        }
        if (!lane_connect(L)) continue;
        if (unsure) {
            if (keep_pending(L) != 0) {
                lane_drop(L, NULL);
                continue;
            }
            any = 0;
            for (int i = 0; i < L->n; i++) any |= to_ack(&L->items[i]);
            if (!any) break;
        }
        int rc = commit_once(L);
        if (rc == 1) break;
        unsure = 1;
        if (rc == 0) lane_drop(L, NULL);
        else lane_backoff(L); /* refused: wait before trying again (an operator may fix the keys) */
    }
    uint64_t ok = 0, error = 0, left = 0;
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < L->n; i++) {
        const item *it = &L->items[i];
        if (it->state == IT_OK) ok++;
        else if (it->state == IT_ERROR) error++;
        else if (it->state == IT_LEAVE) left++;
        if (has_result(it)) {
            double s = it->ms / 1e3;
            int b = 0;
            while (b < LAT_BUCKETS && s > lat_bounds[b]) b++;
            w->c.lat_count[b]++;
            w->c.lat_sum += s;
        }
    }
    w->c.ok += ok;
    w->c.error += error;
    w->c.requeued += left;
    w->c.commits++;
    pthread_mutex_unlock(&w->mu);
    return 0;
}

static void *lane_main(void *arg) {
    lane *L = arg;
    rfs_worker *w = L->w;
    while (!atomic_load(&w->stop)) {
        if (!lane_connect(L)) continue;
        char cursor[64];
        int n = 0;
        if (claim_turn(w, cursor)) n = lane_claim(L, cursor);
        if (n == 0) {
            lane_reset(L);
            n = lane_read(L);
        }
        if (n < 0) {
            lane_reset(L);
            if (L->rc && L->rc->err) lane_drop(L, NULL);
            continue;
        }
        if (n == 0) {
            lane_reset(L);
            continue;
        }
        atomic_fetch_add(&w->busy, 1);
        L->last_beat = now_ms();
        lane_process(L);
        if (lane_commit(L) != 0) atomic_store(&w->commit_failed, 1);
        lane_reset(L);
        atomic_fetch_sub(&w->busy, 1);
    }
    if (L->rc) redisFree(L->rc);
    L->rc = NULL;
    return NULL;
}

/* ---- metrics ------------------------------------------------------------------------- */

static void put_fmt(rfs_text *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(rfs_text *o, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0) rfs_text_put(o, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void metrics_text(rfs_worker *w, rfs_text *o) {
    counters c;
    pthread_mutex_lock(&w->mu);
    c = w->c;
    pthread_mutex_unlock(&w->mu);
    rfs_metrics_counts m;
    rfs_metrics_snapshot(&w->metrics, &m);
    typedef unsigned long long ull;
    rfs_text_puts(o, "# HELP rfseg_worker_jobs_total Jobs answered (result written, job acknowledged), by status.\n"
                     "# TYPE rfseg_worker_jobs_total counter\n");
    put_fmt(o, "rfseg_worker_jobs_total{status=\"ok\"} %llu\nrfseg_worker_jobs_total{status=\"error\"} %llu\n",
            (ull)c.ok, (ull)c.error);
    put_fmt(o, "# HELP rfseg_worker_jobs_abandoned_total Jobs given up after --max-attempts deliveries (error results).\n"
               "# TYPE rfseg_worker_jobs_abandoned_total counter\nrfseg_worker_jobs_abandoned_total %llu\n", (ull)c.abandoned);
    put_fmt(o, "# HELP rfseg_worker_jobs_claimed_total Pending jobs claimed from other consumers (XAUTOCLAIM).\n"
               "# TYPE rfseg_worker_jobs_claimed_total counter\nrfseg_worker_jobs_claimed_total %llu\n", (ull)c.claimed);
    put_fmt(o, "# HELP rfseg_worker_jobs_requeued_total Jobs left pending after a transient failure.\n"
               "# TYPE rfseg_worker_jobs_requeued_total counter\nrfseg_worker_jobs_requeued_total %llu\n", (ull)c.requeued);
    put_fmt(o, "# HELP rfseg_worker_reads_total Reads that returned jobs (XREADGROUP or XAUTOCLAIM).\n"
               "# TYPE rfseg_worker_reads_total counter\nrfseg_worker_reads_total %llu\n", (ull)c.reads);
    put_fmt(o, "# HELP rfseg_worker_commits_total Batches committed (results and acknowledgements, one MULTI/EXEC).\n"
               "# TYPE rfseg_worker_commits_total counter\nrfseg_worker_commits_total %llu\n", (ull)c.commits);
    put_fmt(o, "# HELP rfseg_worker_redis_errors_total Failed connection attempts and lost connections.\n"
               "# TYPE rfseg_worker_redis_errors_total counter\nrfseg_worker_redis_errors_total %llu\n", (ull)c.redis_errors);
    put_fmt(o, "# HELP rfseg_worker_reconnects_total Connections made again after a loss.\n"
               "# TYPE rfseg_worker_reconnects_total counter\nrfseg_worker_reconnects_total %llu\n", (ull)c.reconnects);
    rfs_text_puts(o, "# HELP rfseg_worker_job_duration_seconds Time from reading a job to its result.\n"
                     "# TYPE rfseg_worker_job_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < LAT_BUCKETS; b++) {
        cum += c.lat_count[b];
        put_fmt(o, "rfseg_worker_job_duration_seconds_bucket{le=\"%g\"} %llu\n", lat_bounds[b], (ull)cum);
    }
    cum += c.lat_count[LAT_BUCKETS];
    put_fmt(o, "rfseg_worker_job_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (ull)cum);
    put_fmt(o, "rfseg_worker_job_duration_seconds_sum %.6f\nrfseg_worker_job_duration_seconds_count %llu\n", c.lat_sum,
            (ull)cum);
    rfs_text_puts(o, "# HELP rfseg_batch_size Frames per forward batch.\n# TYPE rfseg_batch_size histogram\n");
    cum = 0;
    for (int b = 0; b < RFS_METRICS_BATCH_BUCKETS; b++) {
        cum += m.batch_count[b];
        put_fmt(o, "rfseg_batch_size_bucket{le=\"%d\"} %llu\n", 1 << b, (ull)cum);
    }
    cum += m.batch_count[RFS_METRICS_BATCH_BUCKETS];
    put_fmt(o, "rfseg_batch_size_bucket{le=\"+Inf\"} %llu\n", (ull)cum);
    put_fmt(o, "rfseg_batch_size_sum %llu\nrfseg_batch_size_count %llu\n", (ull)m.frames, (ull)m.batches);
    put_fmt(o, "# HELP rfseg_frames_total Frames run through the network.\n"
               "# TYPE rfseg_frames_total counter\nrfseg_frames_total %llu\n", (ull)m.frames);
    put_fmt(o, "# HELP rfseg_batch_seconds_total Wall time spent in batched predictions.\n"
               "# TYPE rfseg_batch_seconds_total counter\nrfseg_batch_seconds_total %.6f\n", m.batch_ms / 1e3);
    uint64_t used, peak;
    rfs_budget_usage(&w->budget, &used, &peak);
    put_fmt(o, "# HELP rfseg_memory_budget_bytes Decoded-pixel memory budget: used now, most used, limit.\n"
               "# TYPE rfseg_memory_budget_bytes gauge\n"
               "rfseg_memory_budget_bytes{state=\"used\"} %llu\nrfseg_memory_budget_bytes{state=\"peak\"} %llu\n"
               "rfseg_memory_budget_bytes{state=\"limit\"} %llu\n",
            (ull)used, (ull)peak, (ull)w->cfg.memory_budget);
    put_fmt(o, "# HELP rfseg_worker_batches_in_flight Batches read and not yet committed.\n"
               "# TYPE rfseg_worker_batches_in_flight gauge\nrfseg_worker_batches_in_flight %d\n",
            atomic_load(&w->busy));
}

/* One request on the metrics port: GET /metrics or /healthz; anything else 404. */
static void serve_metrics(rfs_worker *w, int fd) {
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char req[2048];
    size_t n = 0;
    while (n < sizeof req - 1) {
        ssize_t k = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (k <= 0) break;
        n += (size_t)k;
        req[n] = 0;
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
    }
    req[n] = 0;
    rfs_text body = {0};
    const char *status = "200 OK", *ctype = "text/plain; version=0.0.4; charset=utf-8";
    if (!strncmp(req, "GET /metrics ", 13) || !strncmp(req, "GET /metrics?", 13)) metrics_text(w, &body);
    else if (!strncmp(req, "GET /healthz ", 13)) {
        rfs_text_puts(&body, "{\"status\":\"ok\"}");
        ctype = "application/json";
    } else {
        status = "404 Not Found";
        rfs_text_puts(&body, "not found: GET /metrics or /healthz\n");
    }
    char head[256];
    int hl = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      status, ctype, body.len);
    if (send(fd, head, (size_t)hl, MSG_NOSIGNAL) == hl && body.len) {
        size_t off = 0;
        while (off < body.len) {
            ssize_t k = send(fd, body.p + off, body.len - off, MSG_NOSIGNAL);
            if (k <= 0) break;
            off += (size_t)k;
        }
    }
    rfs_text_free(&body);
}

static void log_counters(rfs_worker *w) {
    counters c;
    pthread_mutex_lock(&w->mu);
    c = w->c;
    pthread_mutex_unlock(&w->mu);
    rfs_metrics_counts m;
    rfs_metrics_snapshot(&w->metrics, &m);
    char sizes[256] = "";
    size_t off = 0;
    for (int b = 0; b <= RFS_METRICS_BATCH_BUCKETS && off < sizeof sizes; b++)
        if (m.batch_count[b]) {
            int k = snprintf(sizes + off, sizeof sizes - off, "%s<=%d:%llu", off ? " " : "",
                             b < RFS_METRICS_BATCH_BUCKETS ? 1 << b : 1 << 30, (unsigned long long)m.batch_count[b]);
            if (k > 0) off += (size_t)k;
        }
    LOG(w, RFS_LOG_INFO,
        "worker: jobs ok %llu, error %llu (abandoned %llu), claimed %llu, requeued %llu; batches %llu, frames %llu, "
        "mean batch %.2f [%s]; redis errors %llu, reconnects %llu",
        (unsigned long long)c.ok, (unsigned long long)c.error, (unsigned long long)c.abandoned,
        (unsigned long long)c.claimed, (unsigned long long)c.requeued, (unsigned long long)m.batches,
        (unsigned long long)m.frames, m.batches ? (double)m.frames / m.batches : 0.0, sizes,
        (unsigned long long)c.redis_errors, (unsigned long long)c.reconnects);
}

static void *monitor_main(void *arg) {
    rfs_worker *w = arg;
    double next_log = now_ms() + w->cfg.log_every_s * 1e3;
    uint64_t last_total = 0;
    while (!atomic_load(&w->monitor_stop)) {
        if (w->mfd >= 0) {
            struct pollfd p = {w->mfd, POLLIN, 0};
            if (poll(&p, 1, 200) == 1) {
                int fd = accept(w->mfd, NULL, NULL);
                if (fd >= 0) {
                    serve_metrics(w, fd);
                    close(fd);
                }
            }
        } else sleep_ms(200);
        if (w->cfg.log_every_s > 0 && now_ms() >= next_log) {
            next_log = now_ms() + w->cfg.log_every_s * 1e3;
            pthread_mutex_lock(&w->mu);
            uint64_t total = w->c.ok + w->c.error + w->c.redis_errors;
            pthread_mutex_unlock(&w->mu);
            if (total != last_total) log_counters(w);
            last_total = total;
        }
    }
    return NULL;
}

static int metrics_listen(rfs_worker *w) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", w->cfg.metrics_port < 0 ? 0 : w->cfg.metrics_port);
    int e = getaddrinfo(w->cfg.metrics_host, port, &hints, &ai);
    if (e) return rfs_serve_fail(RFS_ERR_ARG, "worker: metrics host %s: %s", w->cfg.metrics_host, gai_strerror(e)), -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        int err = errno;
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return rfs_serve_fail(RFS_ERR_IO, "worker: metrics port %s:%s: %s", w->cfg.metrics_host, port, strerror(err)), -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage a;
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    w->mport = ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port : ((struct sockaddr_in *)&a)->sin_port);
    w->mfd = fd;
    return 0;
}

/* ---- lifetime ------------------------------------------------------------------------ */

const char *rfs_worker_consumer(const rfs_worker *w) { return w->consumer; }
int rfs_worker_metrics_port(const rfs_worker *w) { return w->mport; }

static void lane_free(lane *L, int max) {
    lane_reset(L);
    if (L->items)
        for (int i = 0; i < max; i++) rfs_text_free(&L->items[i].json);
    if (L->results)
        for (int i = 0; i < max; i++) rfs_result_free(&L->results[i]);
    if (L->frames)
        for (int i = 0; i < max; i++) rfs_frame_free(&L->frames[i]);
    free(L->items);
    free(L->ents);
    free(L->frames);
    free(L->imgs);
    free(L->results);
    free(L->jobs);
    free(L->group);
    rfs_shapes_free(L->shapes);
    if (L->rc) redisFree(L->rc);
}

static void worker_free(rfs_worker *w) {
    if (!w) return;
    for (int i = 0; i < w->cfg.n_models; i++)
        if (w->batchers) rfs_batcher_free(w->batchers[i]);
    for (int i = 0; i < w->n_lanes; i++) lane_free(&w->lanes[i], w->cfg.max_batch);
    if (w->mfd >= 0) close(w->mfd);
    free(w->lanes);
    free(w->batchers);
    free(w->model_ids);
    free(w->sessions);
    rfs_budget_destroy(&w->budget);
    rfs_metrics_free(&w->metrics);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->claim_mu);
    free(w);
}

rfs_status rfs_worker_start(rfs_worker **out, const rfs_worker_config *c) {
    *out = NULL;
    if (!c->redis_url || !c->jobs || !*c->jobs || !c->group || !*c->group || !c->results || !*c->results)
        return rfs_serve_fail(RFS_ERR_ARG, "worker: a redis URL, a jobs stream, a group and a results stream are needed");
    if (c->n_models < 1 || !c->models) return rfs_serve_fail(RFS_ERR_ARG, "worker: no model");
    if (c->max_batch < 1 || c->max_batch > 4096 || c->block_ms < 1 || c->claim_idle_ms < 1 || c->max_attempts < 1 ||
        c->results_maxlen < 1 || c->memory_budget < 1 || c->max_pixels < 1 || c->max_image_bytes < 1 ||
        c->inflight < 0 || c->batch_wait_ms < 0 || c->n_sessions < 0)
        return rfs_serve_fail(RFS_ERR_ARG, "worker: a size, count or time in the configuration is out of range");
    if (!strcmp(c->jobs, c->results)) return rfs_serve_fail(RFS_ERR_ARG, "worker: the jobs and results streams must differ");
    for (int i = 0; i < c->n_models; i++)
        for (int k = 0; k < i; k++)
            if (!strcmp(c->models[i].id, c->models[k].id))
                return rfs_serve_fail(RFS_ERR_ARG, "worker: model id \"%s\" given twice", c->models[i].id);
    rfs_worker *w = calloc(1, sizeof *w);
    if (!w) return rfs_serve_fail(RFS_ERR_NOMEM, "worker: out of memory");
    w->cfg = *c;
    w->mfd = -1;
    w->poll_ms = c->claim_idle_ms / 6 < 10 ? 10 : c->claim_idle_ms / 6 > 500 ? 500 : c->claim_idle_ms / 6;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->claim_mu, NULL);
    rfs_budget_init(&w->budget, c->memory_budget);
    rfs_metrics_init(&w->metrics);
    snprintf(w->claim_cursor, sizeof w->claim_cursor, "0-0");
    char err[512];
    rfs_status st = RFS_OK;
    if (rfs_redis_url_parse(&w->url, c->redis_url, err, sizeof err)) {
        st = rfs_serve_fail(RFS_ERR_ARG, "worker: %s", err);
        goto fail;
    }
    if (c->consumer && *c->consumer) snprintf(w->consumer, sizeof w->consumer, "%s", c->consumer);
    else {
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = 0;
        snprintf(w->consumer, sizeof w->consumer, "%s:%ld", host, (long)getpid());
    }
    /* one session per entry for every model, each bounded by max_batch */
    w->n_sessions = c->n_sessions > 0 ? c->n_sessions : 1;
    w->sessions = calloc((size_t)w->n_sessions, sizeof *w->sessions);
    w->model_ids = calloc((size_t)c->n_models, sizeof *w->model_ids);
    w->batchers = calloc((size_t)c->n_models, sizeof *w->batchers);
    /* CPU sessions keep the cores busy themselves: two batches each (one running, one
     * being decoded or answered). GPU sessions leave decoding and JSON to the lanes, so
     * one lane per CPU core (at least two per session) keeps the devices fed. */
    int gpu = (c->n_sessions > 0 ? c->sessions[0] : c->session).backend == RFS_BACKEND_CUDA;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    w->n_lanes = c->inflight > 0 ? c->inflight : 2 * w->n_sessions;
    if (!c->inflight && gpu && cpus > w->n_lanes) w->n_lanes = cpus > 64 ? 64 : (int)cpus;
    w->lanes = calloc((size_t)w->n_lanes, sizeof *w->lanes);
    if (!w->sessions || !w->model_ids || !w->batchers || !w->lanes) {
        st = rfs_serve_fail(RFS_ERR_NOMEM, "worker: out of memory");
        goto fail;
    }
    for (int i = 0; i < w->n_sessions; i++) {
        w->sessions[i] = c->n_sessions > 0 ? c->sessions[i] : c->session;
        w->sessions[i].max_batch = c->max_batch;
    }
    for (int i = 0; i < c->n_models; i++) {
        w->model_ids[i] = c->models[i].id;
        rfs_batcher_opts bo = {.sessions = w->sessions, .n_sessions = w->n_sessions, .predict = c->models[i].predict,
                               .wait_ms = c->batch_wait_ms, .capacity = w->n_lanes * c->max_batch,
                               .on_batch = on_batch, .user = &w->metrics};
        if ((st = rfs_batcher_create(&w->batchers[i], c->models[i].model, &bo, err, sizeof err)) != RFS_OK) {
            rfs_serve_fail(st, "worker: model %s: %s", c->models[i].id, err);
            goto fail;
        }
    }
    int B = c->max_batch;
    for (int i = 0; i < w->n_lanes; i++) {
        lane *L = &w->lanes[i];
        L->w = w;
        L->idx = i;
        L->items = calloc((size_t)B, sizeof *L->items);
        L->ents = calloc((size_t)B, sizeof *L->ents);
        L->frames = calloc((size_t)B, sizeof *L->frames);
        L->imgs = calloc((size_t)B, sizeof *L->imgs);
        L->results = calloc((size_t)B, sizeof *L->results);
        L->jobs = calloc((size_t)B, sizeof *L->jobs);
        L->group = calloc((size_t)B, sizeof *L->group);
        if (!L->items || !L->ents || !L->frames || !L->imgs || !L->results || !L->jobs || !L->group ||
            rfs_shapes_create(&L->shapes) != RFS_OK) {
            st = rfs_serve_fail(RFS_ERR_NOMEM, "worker: out of memory");
            goto fail;
        }
    }
    if (c->metrics_port && metrics_listen(w) != 0) {
        st = RFS_ERR_IO;
        goto fail;
    }
    if (pthread_create(&w->monitor, NULL, monitor_main, w) != 0) {
        st = rfs_serve_fail(RFS_ERR_NOMEM, "worker: could not start a thread");
        goto fail;
    }
    w->monitor_started = 1;
    for (int i = 0; i < w->n_lanes; i++) {
        if (pthread_create(&w->lanes[i].th, NULL, lane_main, &w->lanes[i]) != 0) {
            st = rfs_serve_fail(RFS_ERR_NOMEM, "worker: could not start a thread");
            rfs_worker_stop(w);
            return st;
        }
        w->lanes[i].started = 1;
    }
    LOG(w, RFS_LOG_INFO, "worker: consumer %s of group %s on %s, results to %s; %d session(s) per model, %d batch(es) "
                         "of up to %d in flight", w->consumer, c->group, c->jobs, c->results, w->n_sessions, w->n_lanes, B);
    *out = w;
    return RFS_OK;
fail:
    worker_free(w);
    return st;
}

rfs_status rfs_worker_stop(rfs_worker *w) {
    if (!w) return RFS_OK;
    w->stop_at_ms = now_ms();
    atomic_store(&w->stop, 1);
    for (int i = 0; i < w->n_lanes; i++)
        if (w->lanes[i].started) pthread_join(w->lanes[i].th, NULL);
    atomic_store(&w->monitor_stop, 1);
    if (w->monitor_started) pthread_join(w->monitor, NULL);
    log_counters(w);
    rfs_status st = atomic_load(&w->commit_failed) ? RFS_ERR_NETWORK : RFS_OK;
    if (st != RFS_OK) rfs_serve_fail(st, "worker: some results could not be written before stopping");
    worker_free(w);
    return st;
}

rfs_status rfs_worker_run(const rfs_worker_config *c) {
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    rfs_worker *w;
    rfs_status st = rfs_worker_start(&w, c);
    if (st == RFS_OK) {
        sigset_t wait_set;
        sigemptyset(&wait_set);
        sigaddset(&wait_set, SIGINT);
        sigaddset(&wait_set, SIGTERM);
        int sig = 0;
        sigwait(&wait_set, &sig);
        LOG(w, RFS_LOG_INFO, "worker: %s: finishing the batches in flight", sig == SIGINT ? "SIGINT" : "SIGTERM");
        st = rfs_worker_stop(w);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return st;
}

#endif
