/* http.c - the HTTP side of rfseg serve: libmicrohttpd glue, routing, the endpoints, and
 * the server's lifecycle (see server.h). */
#include "serve/server.h"

#include "model/model.h"
#include "pipeline/fmt.h"
#include "pipeline/response.h"
#include "serve/batch.h"
#include "serve/fetch.h"
#include "serve/metrics.h"
#include "util/err.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rfs_serve_config rfs_serve_defaults(void) {
    rfs_serve_config c = {0};
    c.host = "127.0.0.1";
    c.port = 9001;
    c.session = rfs_session_defaults();
    c.session.max_batch = 4;
    c.batch_wait_ms = 5;
    c.queue_frames = 32;
    c.deadline_ms = 30000;
    c.client_timeout_s = 15;
    c.max_connections = 128;
    c.max_body = (size_t)32 << 20;
    c.max_inflight_body = (size_t)512 << 20;
    c.limits.max_image_bytes = (size_t)16 << 20;
    c.limits.max_pixels = 25000000;
    c.limits.max_images = 16;
    return c;
}

#if RFS_HAVE_HTTP
#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct model_slot {
    char id[RFS_REQ_MAX_ID + 1];
    const rfs_model *model;
    rfs_batcher *batcher;
} model_slot;

struct rfs_server {
    rfs_serve_config cfg;
    model_slot *models;
    int n_models;
    struct MHD_Daemon *daemon;
    int port;
    rfs_metrics metrics;
    atomic_int stopping;
    atomic_int active;          /* requests between their headers and their completion */
    atomic_size_t body_bytes;   /* request body memory held, all connections */
    double started_ms;
};

typedef enum route {
    R_NOT_FOUND, R_HEALTH, R_INFO, R_METRICS, R_INFER, R_LEGACY,
} route;

/* Everything one request owns; released by req_free() when libmicrohttpd reports the
 * request complete (answered, or the connection dropped). */
typedef struct req_ctx {
    rfs_server *srv;
    route route;
    int method_ok;
    double t0;                  /* headers arrived (monotonic ms) */
    char seg[2][RFS_REQ_MAX_ID + 1]; /* legacy route: dataset_id, version_id */
    char *body;                 /* request body, NUL-terminated */
    size_t len, cap;            /* cap is counted in srv->body_bytes */
    rfs_http_err early;         /* error found while the body arrived, answered at its end */
    int answered;
    rfs_req req;
    model_slot *slot;
    int reserved;               /* frames reserved in slot's batcher, not yet submitted */
    rfs_frame *frames;
    rfs_image *imgs;
    rfs_result *results;
    int n_frames;
    rfs_job job;
    int job_live;
    rfs_jbuf out;
    rfs_shape_ctx shapes;
} req_ctx;

static void body_release(req_ctx *r) {
    if (r->cap) atomic_fetch_sub(&r->srv->body_bytes, r->cap);
    free(r->body);
    r->body = NULL;
    r->len = r->cap = 0;
}

static void req_free(req_ctx *r) {
    if (!r) return;
    body_release(r);
    if (r->reserved) rfs_batcher_release(r->slot->batcher, r->reserved);
    if (r->job_live) rfs_job_destroy(&r->job);
    for (int i = 0; i < r->n_frames; i++) {
        rfs_frame_free(&r->frames[i]);
        rfs_result_free(&r->results[i]);
    }
    free(r->frames);
    free(r->imgs);
    free(r->results);
    rfs_req_free(&r->req);
    rfs_jbuf_free(&r->out);
    rfs_shape_ctx_free(&r->shapes);
    free(r);
}

/* ---- answers ---------------------------------------------------------------------------- */

/* Queues status with body (len bytes); takes ownership of a malloc'd body. */
static enum MHD_Result answer(struct MHD_Connection *c, req_ctx *r, int status, const char *ctype,
                              char *body, size_t len) {
    rfs_server *s = r->srv;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == 503) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 405)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                r->route == R_INFER ? "POST" : r->route == R_LEGACY ? "GET, POST" : "GET, HEAD");
    if (atomic_load(&s->stopping)) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->answered = 1;
    rfs_metrics_request(&s->metrics, status, (rfs_serve_now_ms() - r->t0) / 1e3);
    return ret;
}

/* Hands the text of b to an answer (b is left empty). */
static enum MHD_Result answer_buf(struct MHD_Connection *c, req_ctx *r, int status,
                                  const char *ctype, rfs_jbuf *b) {
    if (b->oom || !b->p) {
        rfs_jbuf_free(b);
        static const char oom[] = "{\"message\":\"out of memory\"}";
        char *p = malloc(sizeof oom);
        if (!p) return MHD_NO;
        memcpy(p, oom, sizeof oom);
        return answer(c, r, 500, "application/json", p, sizeof oom - 1);
    }
    char *p = b->p;
    size_t n = b->len;
    memset(b, 0, sizeof *b);
    return answer(c, r, status, ctype, p, n);
}

static enum MHD_Result answer_error(struct MHD_Connection *c, req_ctx *r, int status, const char *msg) {
    rfs_jbuf b = {0};
    rfs_jbuf_puts(&b, "{\"message\":");
    rfs_jbuf_string(&b, msg);
    rfs_jbuf_puts(&b, "}");
    return answer_buf(c, r, status, "application/json", &b);
}

/* ---- endpoints ------------------------------------------------------------------------------ */

static int queue_depth(rfs_server *s) {
    int q = 0;
    for (int i = 0; i < s->n_models; i++) q += rfs_batcher_queued(s->models[i].batcher);
    return q;
}

static enum MHD_Result do_metrics(struct MHD_Connection *c, req_ctx *r) {
    rfs_server *s = r->srv;
    rfs_jbuf b = {0};
    rfs_metrics_text(&s->metrics, &b, queue_depth(s), atomic_load(&s->active));
    return answer_buf(c, r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static enum MHD_Result do_info(struct MHD_Connection *c, req_ctx *r) {
    rfs_server *s = r->srv;
    const rfs_serve_config *k = &s->cfg;
    rfs_jbuf b = {0};
    rfs_jbuf_puts(&b, "{\"name\":\"rfseg\",\"version\":\"" RFSEG_VERSION "\",\"task\":\"instance-segmentation\",\"models\":[");
    for (int i = 0; i < s->n_models; i++) {
        const rfs_config *mc = rfs_model_config(s->models[i].model);
        rfs_jbuf_puts(&b, i ? ",{\"model_id\":" : "{\"model_id\":");
        rfs_jbuf_string(&b, s->models[i].id);
        rfs_jbuf_puts(&b, ",\"size\":");
        rfs_jbuf_string(&b, mc->size);
        rfs_jbuf_puts(&b, ",\"resolution\":");
        rfs_jbuf_int(&b, mc->resolution);
        rfs_jbuf_puts(&b, ",\"num_classes\":");
        rfs_jbuf_int(&b, mc->num_classes);
        rfs_jbuf_puts(&b, "}");
    }
    rfs_jbuf_puts(&b, "],\"backend\":");
    rfs_jbuf_string(&b, k->session.backend == RFS_BACKEND_CUDA ? "cuda" : "cpu");
    rfs_jbuf_puts(&b, ",\"max_batch\":");
    rfs_jbuf_int(&b, k->session.max_batch);
    rfs_jbuf_puts(&b, ",\"batch_wait_ms\":");
    rfs_jbuf_int(&b, k->batch_wait_ms);
    rfs_jbuf_puts(&b, ",\"queue_frames\":");
    rfs_jbuf_int(&b, k->queue_frames);
    rfs_jbuf_puts(&b, ",\"deadline_ms\":");
    rfs_jbuf_int(&b, k->deadline_ms);
    rfs_jbuf_puts(&b, ",\"limits\":{\"max_body_bytes\":");
    rfs_jbuf_int(&b, (long long)k->max_body);
    rfs_jbuf_puts(&b, ",\"max_image_bytes\":");
    rfs_jbuf_int(&b, (long long)k->limits.max_image_bytes);
    rfs_jbuf_puts(&b, ",\"max_pixels\":");
    rfs_jbuf_int(&b, (long long)k->limits.max_pixels);
    rfs_jbuf_puts(&b, ",\"max_images\":");
    rfs_jbuf_int(&b, k->limits.max_images);
    rfs_jbuf_puts(&b, ",\"allow_urls\":");
    rfs_jbuf_puts(&b, k->limits.allow_urls ? "true" : "false");
    rfs_jbuf_puts(&b, "},\"uptime_s\":");
    rfs_jbuf_double(&b, (rfs_serve_now_ms() - s->started_ms) / 1e3);
    rfs_jbuf_puts(&b, "}");
    return answer_buf(c, r, 200, "application/json", &b);
}

static model_slot *find_model(rfs_server *s, const char *id) {
    for (int i = 0; i < s->n_models; i++)
        if (!strcmp(s->models[i].id, id)) return &s->models[i];
    return NULL;
}

static const char *query_value(void *user, const char *key) {
    return MHD_lookup_connection_value(user, MHD_GET_ARGUMENT_KIND, key);
}

/* Parse, admit, decode, batch, answer. Returns 0 with the JSON in r->out, or an HTTP
 * status with its message in e. */
static int run_inference(struct MHD_Connection *c, req_ctx *r, rfs_http_err *e) {
    rfs_server *s = r->srv;
    const rfs_serve_config *k = &s->cfg;
    int st;
    if (r->route == R_INFER)
        st = rfs_req_parse_infer(&r->req, r->body ? r->body : "", r->len, &k->limits, e);
    else
        st = rfs_req_parse_legacy(&r->req, r->seg[0], r->seg[1], query_value, c,
                                  MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
                                  (const uint8_t *)r->body, r->len, &k->limits, e);
    body_release(r); /* parsed: the images are in r->req now */
    if (st) return st;
    double t_start = rfs_serve_now_ms();
    if (!(r->slot = find_model(s, r->req.model_id)))
        return rfs_http_fail(e, 404, "model \"%s\" is not served here (see GET /info)", r->req.model_id);

    int n = r->req.n_images;
    for (int i = 0; i < n; i++) { /* URL images (only present with --allow-urls) */
        rfs_req_image *im = &r->req.images[i];
        if (!im->url) continue;
        long left = (long)(r->t0 + k->deadline_ms - rfs_serve_now_ms());
        if ((st = rfs_fetch_url(&im->bytes, &im->len, im->url, k->limits.max_image_bytes, left, e)))
            return st;
    }

    int got = rfs_batcher_reserve(r->slot->batcher, n);
    if (got < 0) return rfs_http_fail(e, 503, "the server is shutting down");
    if (got == 0)
        return rfs_http_fail(e, 503, "the queue of model \"%s\" is full (%d frames); retry later",
                             r->slot->id, k->queue_frames);
    r->reserved = n;
    r->frames = calloc((size_t)n, sizeof *r->frames);
    r->imgs = calloc((size_t)n, sizeof *r->imgs);
    r->results = calloc((size_t)n, sizeof *r->results);
    if (!r->frames || !r->imgs || !r->results) return rfs_http_fail(e, 500, "out of memory");
    r->n_frames = n;
    if ((st = rfs_req_decode_images(r->frames, &r->req, r->slot->model->pkg.auto_orient, &k->limits, e)))
        return st;
    for (int i = 0; i < n; i++) {
        free(r->req.images[i].bytes); /* decoded: the encoded bytes are no longer needed */
        r->req.images[i].bytes = NULL;
        r->imgs[i] = rfs_frame_image(&r->frames[i]);
    }

    rfs_job_init(&r->job);
    r->job_live = 1;
    r->job.n = n;
    r->job.frames = r->imgs;
    r->job.results = r->results;
    r->job.key = (rfs_job_key){.custom_threshold = r->req.custom_confidence,
                               .threshold = r->req.confidence,
                               .disable_static_crop = r->req.no_static_crop,
                               .disable_grayscale = r->req.no_grayscale};
    rfs_batcher_submit(r->slot->batcher, &r->job);
    r->reserved = 0; /* the wait below returns the reservation */
    if (!rfs_batcher_wait(r->slot->batcher, &r->job, r->t0 + k->deadline_ms))
        return rfs_http_fail(e, 504, "inference did not finish within the %d ms deadline", k->deadline_ms);
    if (r->job.status != RFS_OK) return rfs_http_fail(e, 500, "inference failed: %s", r->job.error);

    char uuid[37];
    const char *iid = r->req.inference_id;
    if (!iid) {
        rfs_uuid4(uuid);
        iid = uuid;
    }
    rfs_response_opts ro = {
        .format = r->req.format,
        .inference_id = iid,
        .time = (rfs_serve_now_ms() - t_start) / 1e3,
        .frame_id = -1,
        .class_filter = (const char *const *)r->req.class_filter,
        .n_class_filter = r->req.n_class_filter,
    };
    if (r->req.is_list) rfs_jbuf_puts(&r->out, "[");
    for (int i = 0; i < n; i++) {
        if (i) rfs_jbuf_puts(&r->out, ",");
        if (rfs_response_roboflow(&r->out, &r->shapes, &r->results[i], r->slot->model, &ro) != RFS_OK)
            return rfs_http_fail(e, 500, "building the response failed: %s", rfs_last_error());
    }
    if (r->req.is_list) rfs_jbuf_puts(&r->out, "]");
    return 0;
}

/* ---- libmicrohttpd callbacks ---------------------------------------------------------------- */

static void route_request(req_ctx *r, const char *method, const char *url) {
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    r->method_ok = get;
    if (!strcmp(url, "/healthz")) r->route = R_HEALTH;
    else if (!strcmp(url, "/info")) r->route = R_INFO;
    else if (!strcmp(url, "/metrics")) r->route = R_METRICS;
    else if (!strcmp(url, "/infer/instance_segmentation")) {
        r->route = R_INFER;
        r->method_ok = post;
    } else {
        /* /{dataset_id}/{version_id}: two non-empty segments */
        const char *a = url[0] == '/' ? url + 1 : NULL, *slash = a ? strchr(a, '/') : NULL;
        r->route = R_NOT_FOUND;
        if (slash && slash > a && slash[1] && !strchr(slash + 1, '/') &&
            (size_t)(slash - a) <= RFS_REQ_MAX_ID && strlen(slash + 1) <= RFS_REQ_MAX_ID) {
            r->route = R_LEGACY;
            r->method_ok = get || post;
            memcpy(r->seg[0], a, (size_t)(slash - a));
            snprintf(r->seg[1], sizeof r->seg[1], "%s", slash + 1);
        }
    }
}

/* Appends upload data to the body within the per-request and global limits; past a limit
 * the rest is discarded and the error answered when the upload ends. */
static void take_body(req_ctx *r, const char *data, size_t n) {
    rfs_server *s = r->srv;
    if (r->early.status) return;
    if (n > s->cfg.max_body - r->len) {
        rfs_http_fail(&r->early, 413, "request body larger than the limit of %zu bytes", s->cfg.max_body);
        body_release(r);
        return;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 16384;
        while (cap < r->len + n + 1) cap *= 2;
        if (cap > s->cfg.max_body + 1) cap = s->cfg.max_body + 1;
        size_t grow = cap - r->cap;
        if (atomic_fetch_add(&s->body_bytes, grow) + grow > s->cfg.max_inflight_body) {
            atomic_fetch_sub(&s->body_bytes, grow);
            rfs_http_fail(&r->early, 503, "too much request data in flight; retry later");
            body_release(r);
            return;
        }
        char *p = realloc(r->body, cap);
        if (!p) {
            atomic_fetch_sub(&s->body_bytes, grow);
            rfs_http_fail(&r->early, 503, "out of memory receiving the request; retry later");
            body_release(r);
            return;
        }
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    rfs_server *s = cls;
    req_ctx *r = *con_cls;
    if (!r) { /* headers complete: route, refuse early what can be refused */
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        r->srv = s;
        r->t0 = rfs_serve_now_ms();
        atomic_fetch_add(&s->active, 1);
        *con_cls = r;
        route_request(r, method, url);
        if (atomic_load(&s->stopping)) return answer_error(c, r, 503, "the server is shutting down");
        if (r->route == R_NOT_FOUND) return answer_error(c, r, 404, "not found");
        if (!r->method_ok) return answer_error(c, r, 405, "method not allowed");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || *end || v > s->cfg.max_body) {
                char msg[128];
                snprintf(msg, sizeof msg, "request body larger than the limit of %zu bytes", s->cfg.max_body);
                return answer_error(c, r, 413, msg);
            }
        }
        return MHD_YES;
    }
    if (*upload_size) { /* body data */
        if (rfs_serve_now_ms() - r->t0 > s->cfg.deadline_ms) return MHD_NO; /* too slow: drop */
        if (r->route == R_INFER || r->route == R_LEGACY) take_body(r, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->answered) return MHD_YES;
    /* request complete */
    if (r->early.status) return answer_error(c, r, r->early.status, r->early.msg);
    switch (r->route) {
    case R_HEALTH: {
        char *ok = malloc(16);
        if (!ok) return MHD_NO;
        memcpy(ok, "{\"status\":\"ok\"}", 16);
        return answer(c, r, 200, "application/json", ok, 15);
    }
    case R_INFO: return do_info(c, r);
    case R_METRICS: return do_metrics(c, r);
    case R_INFER:
    case R_LEGACY: {
        rfs_http_err e = {0};
        if (run_inference(c, r, &e)) return answer_error(c, r, e.status, e.msg);
        return answer_buf(c, r, 200, "application/json", &r->out);
    }
    default: return answer_error(c, r, 404, "not found");
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    rfs_server *s = cls;
    req_ctx *r = *con_cls;
    if (!r) return;
    if (!r->answered) rfs_metrics_dropped(&s->metrics);
    req_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->active, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    rfs_log(RFS_LOG_DEBUG, "http: %s", msg);
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static rfs_status check_config(const rfs_serve_config *c) {
    if (c->n_models < 1) return RFS_FAIL(RFS_ERR_ARG, "serve: no models");
    if (c->port < 0 || c->port > 65535) return RFS_FAIL(RFS_ERR_ARG, "serve: port %d out of range", c->port);
    if (c->session.max_batch < 1 || c->session.max_batch > 128)
        return RFS_FAIL(RFS_ERR_ARG, "serve: max batch %d not in [1, 128]", c->session.max_batch);
    if (c->limits.max_images < 1 || c->queue_frames < c->limits.max_images)
        return RFS_FAIL(RFS_ERR_ARG, "serve: the queue (%d frames) must hold a request's images (%d)",
                        c->queue_frames, c->limits.max_images);
    if (c->batch_wait_ms < 0 || c->deadline_ms < 1 || c->client_timeout_s < 1 || c->max_connections < 1 ||
        c->max_body < 1 || c->max_inflight_body < c->max_body || c->limits.max_image_bytes < 1)
        return RFS_FAIL(RFS_ERR_ARG, "serve: invalid limits (timeouts, connections, body sizes)");
    for (int i = 0; i < c->n_models; i++) {
        const char *id = c->models[i].id;
        if (!id || !*id || strlen(id) > RFS_REQ_MAX_ID)
            return RFS_FAIL(RFS_ERR_ARG, "serve: model %d: id empty or longer than %d bytes", i, RFS_REQ_MAX_ID);
        for (int j = 0; j < i; j++)
            if (!strcmp(c->models[j].id, id)) return RFS_FAIL(RFS_ERR_ARG, "serve: model id \"%s\" given twice", id);
    }
    return RFS_OK;
}

rfs_status rfs_server_start(rfs_server **out, const rfs_serve_config *c) {
    *out = NULL;
    rfs_status st = check_config(c);
    if (st != RFS_OK) return st;
    rfs_server *s = rfs_calloc(1, sizeof *s);
    if (!s) return RFS_ERR_NOMEM;
    s->cfg = *c;
    s->cfg.models = NULL; /* the caller's array need not outlive this call */
    s->started_ms = rfs_serve_now_ms();
    rfs_metrics_init(&s->metrics);
    struct addrinfo *ai = NULL;
    if (!(s->models = rfs_calloc((size_t)c->n_models, sizeof *s->models))) {
        st = RFS_ERR_NOMEM;
        goto fail;
    }
    for (int i = 0; i < c->n_models; i++) {
        model_slot *m = &s->models[i];
        snprintf(m->id, sizeof m->id, "%s", c->models[i].id);
        m->model = c->models[i].model;
        rfs_batcher_opts bo = {.session = c->session, .predict = c->models[i].predict,
                               .wait_ms = c->batch_wait_ms, .capacity = c->queue_frames};
        if ((st = rfs_batcher_create(&m->batcher, m->model, &bo, &s->metrics)) != RFS_OK) {
            rfs_fail_context(st, "serve: model \"%s\"", m->id);
            goto fail;
        }
        s->n_models = i + 1;
    }
    if (c->limits.allow_urls) rfs_fetch_global_init();

    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    int gai = getaddrinfo(c->host, port, &hints, &ai);
    if (gai != 0) {
        st = RFS_FAIL(RFS_ERR_ARG, "serve: cannot resolve host \"%s\": %s", c->host, gai_strerror(gai));
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)c->port, NULL, NULL, on_request, s,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->client_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, /* headers and MHD buffers */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_END);
    if (!s->daemon) {
        st = RFS_FAIL(RFS_ERR_IO, "serve: cannot listen on %s:%d (%s)", c->host, c->port,
                      errno ? strerror(errno) : "libmicrohttpd refused to start");
        goto fail;
    }
    freeaddrinfo(ai);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : c->port;
    *out = s;
    return RFS_OK;
fail:
    if (ai) freeaddrinfo(ai);
    rfs_server_stop(s);
    return st;
}

int rfs_server_port(const rfs_server *s) { return s->port; }

void rfs_server_stop(rfs_server *s) {
    if (!s) return;
    atomic_store(&s->stopping, 1);
    if (s->daemon) {
        MHD_socket fd = MHD_quiesce_daemon(s->daemon); /* no new connections */
        if (fd != MHD_INVALID_SOCKET) close(fd);
        /* accepted requests finish: each is answered or dropped by its deadline; a batch
         * already running may take a little longer */
        double until = rfs_serve_now_ms() + s->cfg.deadline_ms + 5000;
        while (atomic_load(&s->active) > 0 && rfs_serve_now_ms() < until) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(s->daemon);
    }
    for (int i = 0; i < s->n_models; i++) rfs_batcher_free(s->models[i].batcher);
    free(s->models);
    rfs_metrics_free(&s->metrics);
    free(s);
}

rfs_status rfs_serve_run(const rfs_serve_config *c, void (*on_ready)(void *user, int port), void *user) {
    sigset_t stop_sigs, blocked, old;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    blocked = stop_sigs;
    sigaddset(&blocked, SIGPIPE); /* a client that hangs up must not kill the server */
    pthread_sigmask(SIG_BLOCK, &blocked, &old);
    rfs_server *s;
    rfs_status st = rfs_server_start(&s, c);
    if (st == RFS_OK) {
        RFS_INFO("serving %d model%s on http://%s:%d/", c->n_models, c->n_models > 1 ? "s" : "",
                 c->host, s->port);
        if (on_ready) on_ready(user, s->port);
        int sig = 0;
        sigwait(&stop_sigs, &sig);
        RFS_INFO("%s: finishing accepted requests", sig == SIGINT ? "SIGINT" : "SIGTERM");
        rfs_server_stop(s);
        RFS_INFO("stopped");
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return st;
}

#else /* !RFS_HAVE_HTTP */

struct rfs_server {
    int unused;
};

static rfs_status not_built(void) {
    return RFS_FAIL(RFS_ERR_UNSUPPORTED, "serve: not built (rfseg was built without libmicrohttpd "
                                         "and libcjson; install libmicrohttpd-dev libcjson-dev and rebuild)");
}
rfs_status rfs_server_start(rfs_server **out, const rfs_serve_config *c) {
    *out = NULL;
    return not_built();
}
int rfs_server_port(const rfs_server *s) { return 0; }
void rfs_server_stop(rfs_server *s) {}
rfs_status rfs_serve_run(const rfs_serve_config *c, void (*on_ready)(void *user, int port), void *user) {
    return not_built();
}
#endif
