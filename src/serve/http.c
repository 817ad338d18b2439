/* http.c - the HTTP side of rfseg serve: libmicrohttpd glue, routing, the endpoints, and
 * the server's lifecycle (see server.h). */
#include "serve/server.h"

#include "rfseg.h"
#include "serve/batch.h"
#include "serve/budget.h"
#include "serve/guard.h"
#include "serve/kserve.h"
#include "serve/metrics.h"
#include "serve/probe.h"
#include "serve/util.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    c.header_timeout_ms = 10000;
    c.body_timeout_ms = 30000;
    c.max_connections = 256;
    c.max_client_connections = 64;
    c.max_body = (size_t)32 << 20;
    c.max_inflight_body = (size_t)512 << 20;
    c.memory_budget = (uint64_t)2048 << 20;
    c.memory_wait_ms = 5000;
    c.limits.max_image_bytes = (size_t)16 << 20;
    c.limits.max_pixels = 25000000;
    c.limits.max_images = 16;
    c.urls.max_redirects = 3;
    return c;
}

#if RFS_HAVE_HTTP
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define GONE_POLL_MS 50 /* how often a waiting request checks that its client is still there */
/* Connections libmicrohttpd accepts above the limit, to be cut by the guard: as many as
 * the limit (at least 16), because a connection the guard cut keeps its slot until its
 * thread has seen the shutdown, and slow clients that reconnect at once could otherwise
 * fill libmicrohttpd's own limit with cut connections and get a new client refused
 * before the guard can evict anyone (seen on a loaded 2-core machine). */
#define CONN_RESERVE(max) ((max) > 16 ? (max) : 16)

typedef struct model_slot {
    char id[RFS_REQ_MAX_ID + 1];
    const rfs_model *model;
    rfs_batcher *batcher;
    int max_batch;
    atomic_int loaded; /* listed by /model/registry (cleared by /model/remove and /clear) */
} model_slot;

struct rfs_server {
    rfs_serve_config cfg;
    model_slot *models;
    int n_models;
    struct MHD_Daemon *daemon;
    int port;
    rfs_metrics metrics;
    rfs_guard guard;
    rfs_budget budget;
    atomic_int stopping;
    atomic_int active;          /* requests between their headers and their completion */
    atomic_size_t body_bytes;   /* request body memory held, all connections */
    double started_ms;
    char uuid[37];              /* this server instance (GET /info) */
    char *api_key;
    rfs_url_policy urls;
    rfs_session_opts *sessions; /* cfg.sessions points here */
};

typedef enum route {
    R_NOT_FOUND, R_HEALTH, R_INFO, R_METRICS, R_INFER, R_LEGACY,
    R_REGISTRY, R_MODEL_ADD, R_MODEL_REMOVE, R_MODEL_CLEAR,
    R_V2_SERVER, R_V2_LIVE, R_V2_READY, R_V2_MODEL, R_V2_MODEL_READY, R_V2_INFER,
} route;

/* Everything one request owns; released by req_free() when libmicrohttpd reports the
 * request complete (answered, or the connection dropped). */
typedef struct req_ctx {
    rfs_server *srv;
    struct MHD_Connection *conn;
    rfs_conn *gconn;            /* the guard's record of the connection */
    int fd;
    route route;
    int method_ok;
    double t0;                  /* headers arrived (monotonic ms) */
    char seg[2][RFS_REQ_MAX_ID + 1]; /* legacy route: dataset_id, version_id */
    char v2name[2 * RFS_REQ_MAX_ID + 16]; /* /v2/models/{this}/... */
    char *body;                 /* request body, NUL-terminated */
    size_t len, cap;            /* cap is counted in srv->body_bytes */
    rfs_http_err early;         /* error found while the body arrived, answered at its end */
    int answered, close, gone;
    int key_state;              /* 0: not checked yet, 1: accepted */
    const char *bearer;         /* Authorization: Bearer token (points into MHD's memory) */
    rfs_req req;
    rfs_kserve_req kreq;
    model_slot *slot;
    int reserved;               /* frames reserved in slot's batcher, not yet submitted */
    uint64_t charged;           /* bytes of the memory budget held */
    rfs_frame *frames;
    rfs_image *imgs;
    rfs_result *results;
    int n_frames;
    rfs_job job;
    int job_live;
    rfs_text out;
    size_t out_json_len;        /* binary KServe answers: length of the JSON part */
    rfs_shapes *shapes;         /* made when the answer is written */
} req_ctx;

static int is_v2(route r) { return r >= R_V2_SERVER; }

static void body_release(req_ctx *r) {
    if (r->cap) atomic_fetch_sub(&r->srv->body_bytes, r->cap);
    free(r->body);
    r->body = NULL;
    r->len = r->cap = 0;
}

static void frames_release(req_ctx *r) {
    for (int i = 0; i < r->n_frames; i++) rfs_frame_free(&r->frames[i]);
    if (r->charged) rfs_budget_give(&r->srv->budget, r->charged);
    r->charged = 0;
}

static void req_free(req_ctx *r) {
    if (!r) return;
    body_release(r);
    frames_release(r);
    if (r->reserved) rfs_batcher_release(r->slot->batcher, r->reserved);
    if (r->job_live) rfs_job_destroy(&r->job);
    for (int i = 0; i < r->n_frames; i++) rfs_result_free(&r->results[i]);
    free(r->frames);
    free(r->imgs);
    free(r->results);
    rfs_req_free(&r->req);
    rfs_text_free(&r->out);
    rfs_shapes_free(r->shapes);
    free(r);
}

/* Whether the client has gone: the peer closed its side or the socket failed. Pipelined
 * data waiting to be read is not a hang-up. */
static int client_gone(void *user) {
    req_ctx *r = user;
    if (r->fd < 0) return 0;
    struct pollfd p = {r->fd, POLLRDHUP, 0};
    if (poll(&p, 1, 0) != 1) return 0;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/* A fresh random UUID (version 4). */
static void uuid4(char out[37]) { rfs_serve_uuid4(out); }

/* ---- answers ---------------------------------------------------------------------------- */

/* Queues status with body (len bytes); takes ownership of a malloc'd body. */
static enum MHD_Result answer_ex(struct MHD_Connection *c, req_ctx *r, int status, const char *ctype,
                                 char *body, size_t len, size_t json_len) {
    rfs_server *s = r->srv;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (json_len != len) {
        char n[32];
        snprintf(n, sizeof n, "%zu", json_len);
        MHD_add_response_header(resp, "Inference-Header-Content-Length", n);
    }
    if (status == 503) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == 405) {
        const char *allow = "GET, HEAD";
        if (r->route == R_INFER || r->route == R_MODEL_ADD || r->route == R_MODEL_REMOVE ||
            r->route == R_MODEL_CLEAR || r->route == R_V2_INFER)
            allow = "POST";
        else if (r->route == R_LEGACY || r->route == R_REGISTRY) allow = "GET, POST";
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    }
    if (r->close || atomic_load(&s->stopping)) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->answered = 1;
    rfs_guard_phase(&s->guard, r->gconn, RFS_CONN_SEND);
    rfs_metrics_request(&s->metrics, status, (rfs_batcher_now_ms() - r->t0) / 1e3);
    return ret;
}

static enum MHD_Result answer(struct MHD_Connection *c, req_ctx *r, int status, const char *ctype,
                              char *body, size_t len) {
    return answer_ex(c, r, status, ctype, body, len, len);
}

/* Hands the text of b to an answer (b is left empty). */
static enum MHD_Result answer_buf(struct MHD_Connection *c, req_ctx *r, int status,
                                  const char *ctype, rfs_text *b, size_t json_len) {
    if (b->oom || !b->p) {
        rfs_text_free(b);
        static const char oom[] = "{\"message\":\"out of memory\"}";
        char *p = malloc(sizeof oom);
        if (!p) return MHD_NO;
        memcpy(p, oom, sizeof oom);
        return answer(c, r, 500, "application/json", p, sizeof oom - 1);
    }
    char *p = b->p;
    size_t n = b->len;
    memset(b, 0, sizeof *b);
    return answer_ex(c, r, status, ctype, p, n, json_len ? json_len : n);
}

/* {"message": msg}, or {"error": msg} on the Open Inference Protocol routes. */
static enum MHD_Result answer_error(struct MHD_Connection *c, req_ctx *r, int status, const char *msg) {
    rfs_text b = {0};
    rfs_text_puts(&b, is_v2(r->route) ? "{\"error\":" : "{\"message\":");
    rfs_text_string(&b, msg);
    rfs_text_puts(&b, "}");
    return answer_buf(c, r, status, "application/json", &b, 0);
}

static enum MHD_Result answer_json(struct MHD_Connection *c, req_ctx *r, int status, rfs_text *b) {
    return answer_buf(c, r, status, "application/json", b, 0);
}

/* ---- models and keys ------------------------------------------------------------------------ */

static model_slot *find_model(rfs_server *s, const char *id) {
    for (int i = 0; i < s->n_models; i++)
        if (!strcmp(s->models[i].id, id)) return &s->models[i];
    return NULL;
}

/* /v2/models/{name}: the model id as written, or NAME/versions/V as the Roboflow-style id
 * "NAME/V" (else NAME, the version ignored). */
static model_slot *find_v2_model(rfs_server *s, const char *name) {
    model_slot *m = find_model(s, name);
    if (m) return m;
    const char *v = strstr(name, "/versions/");
    if (!v || v == name || !v[10] || strchr(v + 10, '/')) return NULL;
    char id[sizeof ((req_ctx *)0)->v2name];
    snprintf(id, sizeof id, "%.*s/%s", (int)(v - name), name, v + 10);
    if ((m = find_model(s, id))) return m;
    snprintf(id, sizeof id, "%.*s", (int)(v - name), name);
    return find_model(s, id);
}

static int auth_required(route r) {
    return r == R_INFER || r == R_LEGACY || r == R_REGISTRY || r == R_MODEL_ADD || r == R_V2_INFER;
}

/* Compares in time independent of where the strings differ. */
static int key_matches(const char *want, const char *got) {
    size_t a = strlen(want), b = strlen(got);
    unsigned char d = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++) d |= (unsigned char)(got[i] ^ want[i % (a ? a : 1)]);
    return d == 0;
}

/* 0 when key (may be NULL: none given) opens the server, else the status with e. */
static int check_key(rfs_server *s, const req_ctx *r, const char *key, rfs_http_err *e) {
    if (!s->api_key) return 0;
    if (!key || !*key)
        return rfs_http_fail(e, is_v2(r->route) ? 401 : 400,
                             "Required API key is missing: this server needs its key as the api_key "
                             "query parameter or JSON field, or an Authorization: Bearer header");
    if (!key_matches(s->api_key, key)) return rfs_http_fail(e, 401, "Unauthorized: the API key is not valid for this server");
    return 0;
}

static const char *bearer_token(struct MHD_Connection *c) {
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!a || strncasecmp(a, "Bearer ", 7)) return NULL;
    a += 7;
    while (*a == ' ') a++;
    return *a ? a : NULL;
}

/* ---- endpoints ------------------------------------------------------------------------------ */

static int queue_depth(rfs_server *s) {
    int q = 0;
    for (int i = 0; i < s->n_models; i++) q += rfs_batcher_queued(s->models[i].batcher);
    return q;
}

static enum MHD_Result do_metrics(struct MHD_Connection *c, req_ctx *r) {
    rfs_server *s = r->srv;
    rfs_metrics_gauges g = {.queue_depth = queue_depth(s), .in_flight = atomic_load(&s->active),
                            .mem_limit = s->cfg.memory_budget};
    rfs_guard_snapshot(&s->guard, &g.conns);
    rfs_budget_usage(&s->budget, &g.mem_used, &g.mem_peak);
    rfs_text b = {0};
    rfs_metrics_text(&s->metrics, &b, &g);
    return answer_buf(c, r, 200, "text/plain; version=0.0.4; charset=utf-8", &b, 0);
}

static enum MHD_Result do_info(struct MHD_Connection *c, req_ctx *r) {
    rfs_server *s = r->srv;
    const rfs_serve_config *k = &s->cfg;
    rfs_text b = {0};
    rfs_text_puts(&b, "{\"name\":\"rfseg\",\"version\":\"" RFSEG_VERSION "\",\"uuid\":");
    rfs_text_string(&b, s->uuid);
    rfs_text_puts(&b, ",\"task\":\"instance-segmentation\",\"models\":[");
    for (int i = 0; i < s->n_models; i++) {
        const rfs_config *mc = rfs_model_config(s->models[i].model);
        rfs_text_puts(&b, i ? ",{\"model_id\":" : "{\"model_id\":");
        rfs_text_string(&b, s->models[i].id);
        rfs_text_puts(&b, ",\"size\":");
        rfs_text_string(&b, mc->size);
        rfs_text_puts(&b, ",\"resolution\":");
        rfs_text_int(&b, mc->resolution);
        rfs_text_puts(&b, ",\"num_classes\":");
        rfs_text_int(&b, mc->num_classes);
        rfs_text_puts(&b, "}");
    }
    rfs_text_puts(&b, "],\"backend\":");
    const rfs_session_opts *so = k->n_sessions > 0 ? &k->sessions[0] : &k->session;
    rfs_text_string(&b, so->backend == RFS_BACKEND_CUDA ? "cuda" : "cpu");
    rfs_text_puts(&b, ",\"sessions_per_model\":");
    rfs_text_int(&b, k->n_sessions > 0 ? k->n_sessions : 1);
    rfs_text_puts(&b, ",\"max_batch\":");
    rfs_text_int(&b, so->max_batch);
    rfs_text_puts(&b, ",\"batch_wait_ms\":");
    rfs_text_int(&b, k->batch_wait_ms);
    rfs_text_puts(&b, ",\"queue_frames\":");
    rfs_text_int(&b, k->queue_frames);
    rfs_text_puts(&b, ",\"deadline_ms\":");
    rfs_text_int(&b, k->deadline_ms);
    rfs_text_puts(&b, ",\"limits\":{\"max_body_bytes\":");
    rfs_text_int(&b, (long long)k->max_body);
    rfs_text_puts(&b, ",\"max_image_bytes\":");
    rfs_text_int(&b, (long long)k->limits.max_image_bytes);
    rfs_text_puts(&b, ",\"max_pixels\":");
    rfs_text_int(&b, (long long)k->limits.max_pixels);
    rfs_text_puts(&b, ",\"max_images\":");
    rfs_text_int(&b, k->limits.max_images);
    rfs_text_puts(&b, ",\"memory_budget_bytes\":");
    rfs_text_int(&b, (long long)k->memory_budget);
    rfs_text_puts(&b, ",\"allow_urls\":");
    rfs_text_puts(&b, k->limits.allow_urls ? "true" : "false");
    rfs_text_puts(&b, "},\"api_key_required\":");
    rfs_text_puts(&b, s->api_key ? "true" : "false");
    rfs_text_puts(&b, ",\"uptime_s\":");
    rfs_text_double(&b, (rfs_batcher_now_ms() - s->started_ms) / 1e3);
    rfs_text_puts(&b, "}");
    return answer_json(c, r, 200, &b);
}

/* {"models": [...]}: the loaded models as inference_sdk's RegisteredModels reads them. */
static enum MHD_Result answer_registry(struct MHD_Connection *c, req_ctx *r) {
    rfs_server *s = r->srv;
    rfs_text b = {0};
    rfs_text_puts(&b, "{\"models\":[");
    int k = 0;
    for (int i = 0; i < s->n_models; i++) {
        model_slot *m = &s->models[i];
        if (!atomic_load(&m->loaded)) continue;
        int res = rfs_model_config(m->model)->resolution;
        rfs_text_puts(&b, k++ ? ",{\"model_id\":" : "{\"model_id\":");
        rfs_text_string(&b, m->id);
        rfs_text_puts(&b, ",\"task_type\":\"instance-segmentation\",\"batch_size\":");
        rfs_text_int(&b, m->max_batch);
        rfs_text_puts(&b, ",\"input_height\":");
        rfs_text_int(&b, res);
        rfs_text_puts(&b, ",\"input_width\":");
        rfs_text_int(&b, res);
        rfs_text_puts(&b, "}");
    }
    rfs_text_puts(&b, "]}");
    return answer_json(c, r, 200, &b);
}

/* POST /model/add, /model/remove: {"model_id": "...", "api_key"?: "..."}. */
static int parse_model_body(req_ctx *r, char *id, size_t cap, char **key, rfs_http_err *e) {
    cJSON *root;
    int st = rfs_req_json_parse(&root, r->body ? r->body : "", r->len, e);
    if (st) return st == 400 && !r->len ? rfs_http_fail(e, 422, "model_id is required") : st;
    const cJSON *v = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "model_id") : NULL;
    if (!cJSON_IsObject(root)) st = rfs_http_fail(e, 422, "the request body must be a JSON object");
    else if (!v || cJSON_IsNull(v)) st = rfs_http_fail(e, 422, "model_id is required");
    else if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap) st = rfs_http_fail(e, 422, "model_id must be a string");
    else {
        snprintf(id, cap, "%s", v->valuestring);
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(root, "api_key");
        if (k && cJSON_IsString(k) && !(*key = strdup(k->valuestring))) st = rfs_http_fail(e, 500, "out of memory");
    }
    cJSON_Delete(root);
    return st;
}

static enum MHD_Result do_model_route(struct MHD_Connection *c, req_ctx *r) {
    rfs_server *s = r->srv;
    rfs_http_err e = {0};
    if (r->route == R_MODEL_CLEAR) {
        for (int i = 0; i < s->n_models; i++) atomic_store(&s->models[i].loaded, 0);
        return answer_registry(c, r);
    }
    if (r->route == R_REGISTRY) return answer_registry(c, r);
    char id[RFS_REQ_MAX_ID + 1] = "", *key = NULL;
    int st = parse_model_body(r, id, sizeof id, &key, &e);
    if (!st && r->route == R_MODEL_ADD && !r->key_state) st = check_key(s, r, key ? key : r->bearer, &e);
    free(key);
    if (st) return answer_error(c, r, e.status, e.msg);
    model_slot *m = find_model(s, id);
    if (!m) {
        char msg[RFS_REQ_MAX_ID + 128];
        snprintf(msg, sizeof msg, "Requested model \"%s\" is not served here: rfseg serves the models it "
                                  "was started with (see GET /model/registry)", id);
        return answer_error(c, r, 404, msg);
    }
    atomic_store(&m->loaded, r->route == R_MODEL_ADD);
    return answer_registry(c, r);
}

static enum MHD_Result do_v2_meta(struct MHD_Connection *c, req_ctx *r) {
    rfs_server *s = r->srv;
    rfs_text b = {0};
    if (r->route == R_V2_SERVER) {
        rfs_text_puts(&b, "{\"name\":\"rfseg\",\"version\":\"" RFSEG_VERSION "\",\"extensions\":[\"binary_tensor_data\"]}");
        return answer_json(c, r, 200, &b);
    }
    if (r->route == R_V2_LIVE) {
        rfs_text_puts(&b, "{\"live\":true}");
        return answer_json(c, r, 200, &b);
    }
    if (r->route == R_V2_READY) {
        int ready = !atomic_load(&s->stopping);
        rfs_text_puts(&b, ready ? "{\"ready\":true}" : "{\"ready\":false}");
        return answer_json(c, r, ready ? 200 : 503, &b);
    }
    model_slot *m = find_v2_model(s, r->v2name);
    if (!m) {
        char msg[sizeof r->v2name + 64];
        snprintf(msg, sizeof msg, "model \"%s\" is not served here", r->v2name);
        return answer_error(c, r, 404, msg);
    }
    if (r->route == R_V2_MODEL_READY) {
        rfs_text_puts(&b, "{\"name\":");
        rfs_text_string(&b, m->id);
        rfs_text_puts(&b, ",\"ready\":true}");
        return answer_json(c, r, 200, &b);
    }
    rfs_text_puts(&b, "{\"name\":");
    rfs_text_string(&b, m->id);
    rfs_text_puts(&b, ",\"versions\":[],\"platform\":\"rfseg\",\"inputs\":[{\"name\":\"image\",\"datatype\":"
                      "\"BYTES\",\"shape\":[-1]}],\"outputs\":[{\"name\":\"predictions\",\"datatype\":\"BYTES\","
                      "\"shape\":[-1]}],\"parameters\":{\"task_type\":\"instance-segmentation\",\"input_height\":");
    int res = rfs_model_config(m->model)->resolution;
    rfs_text_int(&b, res);
    rfs_text_puts(&b, ",\"input_width\":");
    rfs_text_int(&b, res);
    rfs_text_puts(&b, "}}");
    return answer_json(c, r, 200, &b);
}

static const char *query_value(void *user, const char *key) {
    return MHD_lookup_connection_value(user, MHD_GET_ARGUMENT_KIND, key);
}

/* Fetches, measures, admits, decodes. 0 with r->imgs ready, or an HTTP status. */
static int intake(req_ctx *r, rfs_http_err *e) {
    rfs_server *s = r->srv;
    const rfs_serve_config *k = &s->cfg;
    int n = r->req.n_images, st;
    for (int i = 0; i < n; i++) { /* URL images (only present with --allow-urls) */
        rfs_req_image *im = &r->req.images[i];
        if (!im->url) continue;
        long left = (long)(r->t0 + k->deadline_ms - rfs_batcher_now_ms());
        if ((st = rfs_fetch_url(&im->bytes, &im->len, im->url, &s->urls, k->limits.max_image_bytes, left,
                                client_gone, r, e)))
            return st;
    }
    /* every image's decoded size, from its header, before anything is decoded */
    if (n < 1) return rfs_http_fail(e, 400, "no image");
    uint64_t *px = calloc((size_t)n, sizeof *px), total = 0, largest = 0;
    if (!px) return rfs_http_fail(e, 500, "out of memory");
    for (int i = 0; i < n; i++) {
        const rfs_req_image *im = &r->req.images[i];
        uint32_t w, h;
        if (!rfs_serve_image_dims(im->bytes, im->len, &w, &h)) continue; /* the decoder will say why */
        char what[32];
        rfs_req_image_name(what, sizeof what, &r->req, i);
        px[i] = (uint64_t)w * h;
        if (px[i] > k->limits.max_pixels) {
            free(px);
            return rfs_http_fail(e, 413, "%s: image size %ux%u exceeds the limit of %llu pixels", what, w, h,
                                 (unsigned long long)k->limits.max_pixels);
        }
        total += 3 * px[i];
        if (3 * px[i] > largest) largest = 3 * px[i];
    }
    int got = rfs_batcher_reserve(r->slot->batcher, n);
    if (got <= 0) {
        free(px);
        if (got < 0) return rfs_http_fail(e, 503, "the server is shutting down");
        return rfs_http_fail(e, 503, "the queue of model \"%s\" is full (%d frames); retry later", r->slot->id,
                             k->queue_frames);
    }
    r->reserved = n;
    /* the decoded frames, plus one more image while decoding (an EXIF rotation copies) */
    rfs_budget_result br = rfs_budget_take(&s->budget, total + largest, rfs_batcher_now_ms() + k->memory_wait_ms,
                                           client_gone, r, GONE_POLL_MS);
    if (br != RFS_BUDGET_OK) {
        free(px);
        if (br == RFS_BUDGET_GONE) return rfs_http_fail(e, 499, "the client closed the connection");
        if (br == RFS_BUDGET_TOO_LARGE)
            return rfs_http_fail(e, 413, "the request's images need %llu MiB decoded, more than the server's "
                                         "memory budget of %llu MiB; send fewer or smaller images",
                                 (unsigned long long)((total + largest + (1 << 20) - 1) >> 20),
                                 (unsigned long long)(k->memory_budget >> 20));
        return rfs_http_fail(e, 503, "the server's memory budget for decoded images is in use; retry later");
    }
    r->charged = total + largest;
    r->frames = calloc((size_t)n, sizeof *r->frames);
    r->imgs = calloc((size_t)n, sizeof *r->imgs);
    r->results = calloc((size_t)n, sizeof *r->results);
    if (!r->frames || !r->imgs || !r->results) {
        free(px);
        return rfs_http_fail(e, 500, "out of memory");
    }
    r->n_frames = n;
    int auto_orient = rfs_model_auto_orient(r->slot->model);
    for (int i = 0; i < n; i++) {
        if (client_gone(r)) {
            free(px);
            return rfs_http_fail(e, 499, "the client closed the connection");
        }
        /* the decoder may allocate exactly what was charged: a header that lied is refused */
        st = rfs_req_decode_image(&r->frames[i], &r->req, i, auto_orient, px[i] ? px[i] : 1, e);
        if (st == 413 && !px[i]) {
            char what[32];
            rfs_req_image_name(what, sizeof what, &r->req, i);
            st = rfs_http_fail(e, 400, "%s: could not read the image size from its header", what);
        }
        if (st) {
            free(px);
            return st;
        }
        free(r->req.images[i].bytes); /* decoded: the encoded bytes are no longer needed */
        r->req.images[i].bytes = NULL;
        r->imgs[i] = rfs_frame_image(&r->frames[i]);
    }
    free(px);
    rfs_budget_give(&s->budget, largest); /* decoding is over */
    r->charged -= largest;
    return 0;
}

/* Parse, admit, decode, batch, answer. Returns 0 with the answer in r->out, or an HTTP
 * status with its message in e (499: the client left; nothing is answered). */
static int run_inference(struct MHD_Connection *c, req_ctx *r, rfs_http_err *e) {
    rfs_server *s = r->srv;
    const rfs_serve_config *k = &s->cfg;
    int st;
    if (r->route == R_INFER) {
        st = rfs_req_parse_infer(&r->req, r->body ? r->body : "", r->len, &k->limits, e);
    } else if (r->route == R_V2_INFER) {
        size_t json_len = r->len;
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Inference-Header-Content-Length");
        if (h) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(h, &end, 10);
            if (errno || end == h || *end || v > r->len)
                return rfs_http_fail(e, 400, "Inference-Header-Content-Length must be a length within the body");
            json_len = (size_t)v;
        }
        model_slot *m = find_v2_model(s, r->v2name);
        if (!m) return rfs_http_fail(e, 404, "model \"%s\" is not served here", r->v2name);
        st = rfs_kserve_parse_infer(&r->req, &r->kreq, m->id, r->body ? r->body : "", r->len, json_len,
                                    &k->limits, e);
    } else {
        st = rfs_req_parse_legacy(&r->req, r->seg[0], r->seg[1], query_value, c,
                                  MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
                                  (const uint8_t *)r->body, r->len, &k->limits, e);
    }
    body_release(r); /* parsed: the images are in r->req now */
    if (st) return st;
    if (!r->key_state && (st = check_key(s, r, r->req.api_key ? r->req.api_key : r->bearer, e))) return st;
    double t_start = rfs_batcher_now_ms();
    if (!(r->slot = find_model(s, r->req.model_id)))
        return rfs_http_fail(e, 404, "model \"%s\" is not served here (see GET /model/registry)", r->req.model_id);
    atomic_store(&r->slot->loaded, 1); /* inference loads a removed model again, as Roboflow's does */
    if ((st = intake(r, e))) return st;

    int n = r->n_frames;
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
    rfs_job_outcome out = rfs_batcher_wait(r->slot->batcher, &r->job, r->t0 + k->deadline_ms, client_gone, r,
                                           GONE_POLL_MS);
    frames_release(r); /* the pixels are no longer needed: the budget is free for others */
    if (out == RFS_JOB_GONE) {
        rfs_metrics_frames_dropped(&s->metrics, r->job.dropped);
        return rfs_http_fail(e, 499, "the client closed the connection");
    }
    if (out == RFS_JOB_TIMEOUT) {
        rfs_metrics_frames_dropped(&s->metrics, r->job.dropped);
        return rfs_http_fail(e, 504, "inference did not finish within the %d ms deadline", k->deadline_ms);
    }
    if (r->job.status != RFS_OK) return rfs_http_fail(e, 500, "inference failed: %s", r->job.error);

    if (rfs_shapes_create(&r->shapes) != RFS_OK) return rfs_http_fail(e, 500, "out of memory");
    char uuid[37];
    const char *iid = r->req.inference_id;
    if (!iid) {
        uuid4(uuid);
        iid = uuid;
    }
    rfs_response_opts ro = rfs_response_defaults();
    ro.format = r->req.format;
    ro.inference_id = iid;
    ro.time = (rfs_batcher_now_ms() - t_start) / 1e3;
    ro.frame_id = -1;
    ro.class_filter = (const char *const *)r->req.class_filter;
    ro.n_class_filter = r->req.n_class_filter;
    if (r->route == R_V2_INFER) {
        rfs_text *each = calloc((size_t)n, sizeof *each);
        const char **texts = calloc((size_t)n, sizeof *texts);
        size_t *lens = calloc((size_t)n, sizeof *lens);
        st = each && texts && lens ? 0 : rfs_http_fail(e, 500, "out of memory");
        for (int i = 0; i < n && !st; i++) {
            if (rfs_response_roboflow(&each[i], r->shapes, &r->results[i], r->slot->model, &ro) != RFS_OK || each[i].oom)
                st = rfs_http_fail(e, 500, "building the response failed");
            texts[i] = each[i].p;
            lens[i] = each[i].len;
        }
        if (!st) rfs_kserve_response(&r->out, &r->out_json_len, &r->kreq, r->slot->id, texts, lens, n);
        for (int i = 0; i < n && each; i++) rfs_text_free(&each[i]);
        free(each), free(texts), free(lens);
        return st;
    }
    if (r->req.is_list) rfs_text_puts(&r->out, "[");
    for (int i = 0; i < n; i++) {
        if (i) rfs_text_puts(&r->out, ",");
        if (rfs_response_roboflow(&r->out, r->shapes, &r->results[i], r->slot->model, &ro) != RFS_OK)
            return rfs_http_fail(e, 500, "building the response failed: %s", rfs_last_error());
    }
    if (r->req.is_list) rfs_text_puts(&r->out, "]");
    return 0;
}

/* ---- libmicrohttpd callbacks ---------------------------------------------------------------- */

static void route_v2(req_ctx *r, const char *url, int get, int post) {
    r->route = R_NOT_FOUND;
    r->method_ok = get;
    if (!strcmp(url, "/v2") || !strcmp(url, "/v2/")) r->route = R_V2_SERVER;
    else if (!strcmp(url, "/v2/health/live")) r->route = R_V2_LIVE;
    else if (!strcmp(url, "/v2/health/ready")) r->route = R_V2_READY;
    else if (!strncmp(url, "/v2/models/", 11) && url[11]) {
        const char *name = url + 11;
        size_t n = strlen(name);
        route rt = R_V2_MODEL;
        if (n > 6 && !strcmp(name + n - 6, "/infer")) rt = R_V2_INFER, n -= 6;
        else if (n > 6 && !strcmp(name + n - 6, "/ready")) rt = R_V2_MODEL_READY, n -= 6;
        if (n == 0 || n >= sizeof r->v2name) return;
        memcpy(r->v2name, name, n);
        r->v2name[n] = 0;
        r->route = rt;
        r->method_ok = rt == R_V2_INFER ? post : get;
    }
}

static void route_request(req_ctx *r, const char *method, const char *url) {
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    r->method_ok = get;
    if (!strcmp(url, "/healthz")) r->route = R_HEALTH;
    else if (!strcmp(url, "/info")) r->route = R_INFO;
    else if (!strcmp(url, "/metrics")) r->route = R_METRICS;
    else if (!strcmp(url, "/infer/instance_segmentation")) {
        r->route = R_INFER;
        r->method_ok = post;
    } else if (!strcmp(url, "/model/registry")) {
        r->route = R_REGISTRY;
        r->method_ok = get || post;
    } else if (!strcmp(url, "/model/add") || !strcmp(url, "/model/remove") || !strcmp(url, "/model/clear")) {
        r->route = url[7] == 'a' ? R_MODEL_ADD : url[7] == 'r' ? R_MODEL_REMOVE : R_MODEL_CLEAR;
        r->method_ok = post;
    } else if (!strncmp(url, "/v2", 3) && (!url[3] || url[3] == '/')) {
        route_v2(r, url, get, post);
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

static int takes_body(route rt) {
    return rt == R_INFER || rt == R_LEGACY || rt == R_MODEL_ADD || rt == R_MODEL_REMOVE || rt == R_V2_INFER;
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

typedef struct header_scan {
    int n_cl, cl_differ;
    const char *cl;
} header_scan;

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    header_scan *h = cls;
    if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        if (h->n_cl++ && (!h->cl || !value || strcmp(h->cl, value))) h->cl_differ = 1;
        h->cl = value;
    }
    return MHD_YES;
}

/* What can be refused from the request line and headers alone; 0 or the status in e. */
static int check_head(struct MHD_Connection *c, req_ctx *r, rfs_http_err *e) {
    rfs_server *s = r->srv;
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    header_scan hs = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, scan_header, &hs);
    /* framing first: a request whose length is ambiguous must not be read at all, and the
     * connection is closed after the answer (no second request can hide in its body) */
    if (te && hs.n_cl) {
        r->close = 1;
        return rfs_http_fail(e, 400, "a request with both Content-Length and Transfer-Encoding is refused");
    }
    if (te && strcasecmp(te, "chunked")) {
        r->close = 1;
        return rfs_http_fail(e, 501, "Transfer-Encoding \"%.40s\" is not supported (only chunked)", te);
    }
    if (hs.cl_differ) {
        r->close = 1;
        return rfs_http_fail(e, 400, "conflicting Content-Length headers");
    }
    if (atomic_load(&s->stopping)) return rfs_http_fail(e, 503, "the server is shutting down");
    if (r->route == R_NOT_FOUND) return rfs_http_fail(e, 404, "not found");
    if (!r->method_ok) return rfs_http_fail(e, 405, "method not allowed");
    if (hs.cl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(hs.cl, &end, 10);
        if (errno || *end || v > s->cfg.max_body) {
            r->close = 1;
            return rfs_http_fail(e, 413, "request body larger than the limit of %zu bytes", s->cfg.max_body);
        }
    }
    r->bearer = bearer_token(c);
    if (s->api_key && auth_required(r->route)) {
        /* precedence as Roboflow's: the query parameter, then a JSON body's field, then the
         * Authorization header; decided now unless the body may still carry the key */
        const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "api_key");
        int body_key = r->route == R_INFER || r->route == R_MODEL_ADD;
        if (q || !body_key) {
            int st = check_key(s, r, q ? q : r->bearer, e);
            if (st) {
                r->close = 1;
                return st;
            }
            r->key_state = 1;
        }
    }
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    rfs_server *s = cls;
    req_ctx *r = *con_cls;
    if (!r) { /* headers complete: route, refuse early what can be refused */
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        r->srv = s;
        r->conn = c;
        r->t0 = rfs_batcher_now_ms();
        r->fd = -1;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) r->fd = ci->connect_fd;
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        if (ci) r->gconn = ci->socket_context;
        rfs_guard_phase(&s->guard, r->gconn, RFS_CONN_BODY);
        atomic_fetch_add(&s->active, 1);
        *con_cls = r;
        route_request(r, method, url);
        rfs_http_err e = {0};
        if (check_head(c, r, &e)) return answer_error(c, r, e.status, e.msg);
        return MHD_YES;
    }
    if (*upload_size) { /* body data */
        if (rfs_batcher_now_ms() - r->t0 > s->cfg.deadline_ms) return MHD_NO; /* too slow: drop */
        if (takes_body(r->route)) take_body(r, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->answered) return MHD_YES;
    /* request complete */
    rfs_guard_phase(&s->guard, r->gconn, RFS_CONN_WORK);
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
    case R_REGISTRY:
    case R_MODEL_ADD:
    case R_MODEL_REMOVE:
    case R_MODEL_CLEAR: return do_model_route(c, r);
    case R_V2_SERVER:
    case R_V2_LIVE:
    case R_V2_READY:
    case R_V2_MODEL:
    case R_V2_MODEL_READY: return do_v2_meta(c, r);
    case R_INFER:
    case R_LEGACY:
    case R_V2_INFER: {
        rfs_http_err e = {0};
        if (run_inference(c, r, &e)) {
            if (e.status == 499) { /* nobody to answer: close the connection */
                r->gone = 1;
                rfs_metrics_cancelled(&s->metrics, 0);
                return MHD_NO;
            }
            return answer_error(c, r, e.status, e.msg);
        }
        if (r->route == R_V2_INFER && r->out_json_len != r->out.len)
            return answer_buf(c, r, 200, "application/octet-stream", &r->out, r->out_json_len);
        return answer_json(c, r, 200, &r->out);
    }
    default: return answer_error(c, r, 404, "not found");
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    rfs_server *s = cls;
    req_ctx *r = *con_cls;
    if (!r) return;
    if (!r->answered && !r->gone) rfs_metrics_dropped(&s->metrics);
    rfs_guard_phase(&s->guard, r->gconn, RFS_CONN_HEAD); /* a keep-alive connection waits again */
    req_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->active, 1);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
    rfs_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? rfs_guard_open(&s->guard, ci->connect_fd) : NULL;
    } else {
        rfs_guard_close(&s->guard, *socket_context);
        *socket_context = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    rfs_server *s = cls;
    rfs_serve_log(s->cfg.log, s->cfg.log_user, RFS_LOG_DEBUG, "http: %s", msg);
}

static void on_batch(void *user, int frames, double ms) { rfs_metrics_batch(user, frames, ms); }

/* ---- lifecycle ----------------------------------------------------------------------------- */

static rfs_status check_config(const rfs_serve_config *c) {
    if (c->n_models < 1) return rfs_serve_fail(RFS_ERR_ARG, "serve: no models");
    if (c->port < 0 || c->port > 65535) return rfs_serve_fail(RFS_ERR_ARG, "serve: port %d out of range", c->port);
    int ns = c->n_sessions > 0 ? c->n_sessions : 1;
    for (int i = 0; i < ns; i++) {
        const rfs_session_opts *so = c->n_sessions > 0 ? &c->sessions[i] : &c->session;
        if (so->max_batch < 1 || so->max_batch > 128)
            return rfs_serve_fail(RFS_ERR_ARG, "serve: max batch %d not in [1, 128]", so->max_batch);
    }
    if (c->limits.max_images < 1 || c->queue_frames < c->limits.max_images)
        return rfs_serve_fail(RFS_ERR_ARG, "serve: the queue (%d frames) must hold a request's images (%d)",
                        c->queue_frames, c->limits.max_images);
    if (c->batch_wait_ms < 0 || c->deadline_ms < 1 || c->client_timeout_s < 1 || c->max_connections < 1 ||
        c->max_client_connections < 0 || c->header_timeout_ms < 0 || c->body_timeout_ms < 0 ||
        c->max_body < 1 || c->max_inflight_body < c->max_body || c->limits.max_image_bytes < 1 ||
        c->memory_budget < 1 || c->memory_wait_ms < 0)
        return rfs_serve_fail(RFS_ERR_ARG, "serve: invalid limits (timeouts, connections, body sizes, memory)");
    if (c->api_key && (!*c->api_key || strlen(c->api_key) > RFS_REQ_MAX_ID))
        return rfs_serve_fail(RFS_ERR_ARG, "serve: the API key must be 1 to %d bytes", RFS_REQ_MAX_ID);
    for (int i = 0; i < c->n_models; i++) {
        const char *id = c->models[i].id;
        if (!id || !*id || strlen(id) > RFS_REQ_MAX_ID)
            return rfs_serve_fail(RFS_ERR_ARG, "serve: model %d: id empty or longer than %d bytes", i, RFS_REQ_MAX_ID);
        for (int j = 0; j < i; j++)
            if (!strcmp(c->models[j].id, id)) return rfs_serve_fail(RFS_ERR_ARG, "serve: model id \"%s\" given twice", id);
    }
    return RFS_OK;
}

static rfs_url_net *copy_nets(const rfs_url_net *l, int n) {
    if (!l) return NULL;
    rfs_url_net *c = malloc(sizeof *c * (size_t)(n ? n : 1));
    if (c && n) memcpy(c, l, sizeof *c * (size_t)n);
    return c;
}

rfs_status rfs_server_start(rfs_server **out, const rfs_serve_config *c) {
    *out = NULL;
    rfs_status st = check_config(c);
    if (st != RFS_OK) return st;
    rfs_server *s = calloc(1, sizeof *s);
    if (!s) return RFS_ERR_NOMEM;
    s->cfg = *c;
    s->cfg.models = NULL; /* the caller's arrays and strings need not outlive this call */
    s->cfg.sessions = NULL;
    if (c->n_sessions > 0) {
        if (!(s->sessions = malloc(sizeof *s->sessions * (size_t)c->n_sessions))) {
            free(s);
            return RFS_ERR_NOMEM;
        }
        memcpy(s->sessions, c->sessions, sizeof *s->sessions * (size_t)c->n_sessions);
        s->cfg.sessions = s->sessions;
    }
    s->cfg.api_key = NULL;
    s->cfg.urls.allow = s->cfg.urls.deny = NULL;
    s->started_ms = rfs_batcher_now_ms();
    uuid4(s->uuid);
    rfs_metrics_init(&s->metrics);
    rfs_budget_init(&s->budget, c->memory_budget);
    s->urls = c->urls;
    s->urls.allow = copy_nets(c->urls.allow, c->urls.n_allow);
    s->urls.deny = copy_nets(c->urls.deny, c->urls.n_deny);
    struct addrinfo *ai = NULL;
    if ((c->api_key && !(s->api_key = strdup(c->api_key))) || (c->urls.allow && !s->urls.allow) ||
        (c->urls.deny && !s->urls.deny) || !(s->models = calloc((size_t)c->n_models, sizeof *s->models))) {
        st = RFS_ERR_NOMEM;
        goto fail;
    }
    if (rfs_guard_start(&s->guard, c->max_connections, c->header_timeout_ms, c->body_timeout_ms,
                        c->body_timeout_ms) != 0) {
        st = rfs_serve_fail(RFS_ERR_NOMEM, "serve: could not start the connection guard thread");
        goto fail;
    }
    for (int i = 0; i < c->n_models; i++) {
        model_slot *m = &s->models[i];
        snprintf(m->id, sizeof m->id, "%s", c->models[i].id);
        m->model = c->models[i].model;
        atomic_store(&m->loaded, 1);
        rfs_batcher_opts bo = {.sessions = c->n_sessions > 0 ? c->sessions : &c->session,
                               .n_sessions = c->n_sessions > 0 ? c->n_sessions : 1,
                               .predict = c->models[i].predict, .wait_ms = c->batch_wait_ms,
                               .capacity = c->queue_frames, .on_batch = on_batch, .user = &s->metrics};
        m->max_batch = bo.sessions[0].max_batch;
        char err[256];
        if ((st = rfs_batcher_create(&m->batcher, m->model, &bo, err, sizeof err)) != RFS_OK) {
            st = rfs_serve_fail(st, "serve: model \"%s\": %s", m->id, err);
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
        st = rfs_serve_fail(RFS_ERR_ARG, "serve: cannot resolve host \"%s\": %s", c->host, gai_strerror(gai));
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)c->port, NULL, NULL, on_request, s,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->client_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(c->max_connections + CONN_RESERVE(c->max_connections)),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)c->max_client_connections,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, /* headers and MHD buffers */
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)1 << 20,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_END);
    if (!s->daemon) {
        st = rfs_serve_fail(RFS_ERR_IO, "serve: cannot listen on %s:%d (%s)", c->host, c->port,
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
        double until = rfs_batcher_now_ms() + s->cfg.deadline_ms + 5000;
        while (atomic_load(&s->active) > 0 && rfs_batcher_now_ms() < until) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(s->daemon);
    }
    rfs_guard_stop(&s->guard);
    for (int i = 0; i < s->n_models; i++) rfs_batcher_free(s->models[i].batcher);
    free(s->models);
    rfs_budget_destroy(&s->budget);
    rfs_metrics_free(&s->metrics);
    free(s->urls.allow);
    free(s->urls.deny);
    free(s->api_key);
    free(s->sessions);
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
        rfs_serve_log(c->log, c->log_user, RFS_LOG_INFO, "serving %d model%s on http://%s:%d/", c->n_models,
                      c->n_models > 1 ? "s" : "", c->host, s->port);
        if (on_ready) on_ready(user, s->port);
        int sig = 0;
        sigwait(&stop_sigs, &sig);
        rfs_serve_log(c->log, c->log_user, RFS_LOG_INFO, "%s: finishing accepted requests",
                      sig == SIGINT ? "SIGINT" : "SIGTERM");
        rfs_server_stop(s);
        rfs_serve_log(c->log, c->log_user, RFS_LOG_INFO, "stopped");
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return st;
}

#else /* !RFS_HAVE_HTTP */

struct rfs_server {
    int unused;
};

static rfs_status not_built(void) {
    return rfs_serve_fail(RFS_ERR_UNSUPPORTED, "serve: not built (rfseg was built without libmicrohttpd "
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
