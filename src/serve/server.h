/* server.h - rfseg serve: a Roboflow-compatible HTTP inference server on libmicrohttpd.
 *
 *   POST /infer/instance_segmentation   JSON request (Roboflow's v1 API, inference_sdk)
 *   GET|POST /{dataset_id}/{version_id} legacy route (v0): base64 body or multipart upload
 *   GET|POST /model/registry, POST /model/add /model/remove /model/clear   model registry
 *   GET  /info  /healthz  /metrics      identity, liveness, Prometheus text
 *   /v2/...                             the Open Inference Protocol (KServe v2, kserve.h)
 *
 * Threads: libmicrohttpd runs one thread per connection; a guard thread (guard.h) cuts
 * connections whose request head, body or answer takes too long, and makes room for new
 * clients when the connection limit is reached; each served model has a batcher (batch.h)
 * with one worker per session. A request thread parses and validates, reserves queue room
 * and decoded-pixel memory, decodes its images, submits them, waits for the batch (giving
 * up when its client hangs up) and writes the Roboflow JSON itself (shape tracing runs in
 * parallel across requests).
 *
 * Memory: everything a request allocates hangs off its context and is released in one
 * place when libmicrohttpd reports the request complete. Bounds: a body is at most
 * max_body bytes and all bodies held at once at most max_inflight_body; decoded frames
 * are charged against memory_budget bytes (all requests, all models) before their pixels
 * are allocated; at most queue_frames frames per model are queued or running.
 *
 * Errors: every error is {"message": "..."} ({"error": "..."} on /v2) with its status: 400
 * malformed, 401 wrong API key, 404 unknown route or model, 405 wrong method, 413 over a
 * limit, 422 wrong schema, 500 internal, 503 (with Retry-After) queue or memory full or
 * shutting down, 504 deadline passed.
 */
#ifndef RFS_SERVE_SERVER_H
#define RFS_SERVE_SERVER_H

#include "rfseg.h"
#include "serve/fetch.h"
#include "serve/request.h"
#include "serve/util.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rfs_serve_model {
    const char *id;           /* model_id clients send, e.g. "coco-seg/3" */
    const rfs_model *model;   /* loaded by the caller, outlives the server */
    rfs_predict_opts predict; /* base options; a request's confidence overrides threshold */
} rfs_serve_model;

typedef struct rfs_serve_config {
    const char *host;         /* address to listen on (numeric or a name) */
    int port;                 /* 0: any free port (see rfs_server_port) */
    const rfs_serve_model *models;
    int n_models;
    rfs_session_opts session; /* backend, threads, device; max_batch bounds a batch */
    const rfs_session_opts *sessions; /* when n_sessions > 0: one session per entry (e.g.
                                         one per GPU) for every model, all draining the
                                         model's queue; `session` is then unused */
    int n_sessions;
    int batch_wait_ms;        /* how long a batch may wait to fill */
    int queue_frames;         /* frames accepted per model at once (queued + running) */
    int deadline_ms;          /* per request, from its headers to its answer */
    int client_timeout_s;     /* a connection silent this long is closed */
    int header_timeout_ms;    /* request line and headers, whole (0: none) */
    int body_timeout_ms;      /* request body, whole; also the time to take the answer */
    int max_connections;      /* all clients; more: the slowest waiting one is cut */
    int max_client_connections; /* per client address (0: no limit) */
    size_t max_body;          /* bytes per request body */
    size_t max_inflight_body; /* bytes of request bodies held at once, all connections */
    uint64_t memory_budget;   /* bytes of decoded images held at once, all requests */
    int memory_wait_ms;       /* how long a request may wait for budget before a 503 */
    rfs_req_limits limits;    /* per image and per request */
    rfs_url_policy urls;      /* with limits.allow_urls: which URLs may be fetched */
    const char *api_key;      /* when set, every inference and registry call must carry it */
    rfs_log_fn log;           /* the server's messages (may be NULL) */
    void *log_user;
} rfs_serve_config;

/* Defaults: 127.0.0.1:9001, CPU session with max_batch 4, 5 ms batch wait, 32 queued frames,
 * 30 s deadline, 15 s client timeout, 10 s for a request head, 30 s for a body, 256
 * connections (64 per client address), 32 MiB bodies (512 MiB in flight), 2 GiB of
 * decoded images (5 s wait), 16 MiB images, 25 MP, 16 images per request, no URLs (https
 * only, fully qualified names, 3 redirects when allowed), no API key. */
rfs_serve_config rfs_serve_defaults(void);

typedef struct rfs_server rfs_server;

/* Validates the configuration, starts a batcher per model and listens. On failure the
 * message is rfs_serve_last_error() (serve/util.h). */
rfs_status rfs_server_start(rfs_server **out, const rfs_serve_config *c);
/* The port actually bound (useful with port 0). */
int rfs_server_port(const rfs_server *s);
/* Graceful stop: no new connections, new requests on open connections get 503, requests
 * already accepted finish (bounded by the deadline), then everything is released. NULL ok. */
void rfs_server_stop(rfs_server *s);

/* Starts the server, calls on_ready (may be NULL) with the bound port, serves until
 * SIGINT or SIGTERM, then stops gracefully. Blocks SIGINT, SIGTERM and SIGPIPE in the
 * calling thread (and so in every thread the server starts) while it runs. */
rfs_status rfs_serve_run(const rfs_serve_config *c, void (*on_ready)(void *user, int port),
                         void *user);

#endif
