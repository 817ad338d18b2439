/* server.h - rfseg serve: a Roboflow-compatible HTTP inference server on libmicrohttpd.
 *
 *   POST /infer/instance_segmentation   JSON request (roboflow-pipeline.md 6)
 *   POST /{dataset_id}/{version_id}     legacy route: base64 body or multipart upload
 *   GET  /healthz  /info  /metrics      liveness, configuration, Prometheus text
 *
 * Threads: libmicrohttpd runs one thread per connection (so a slow client holds only its
 * own thread, and is dropped after client_timeout_s of silence or when its request
 * deadline passes while its body is still arriving); each served model has one batch
 * worker that owns the model's session (batch.h). A request thread parses and validates,
 * reserves queue room, decodes its images, submits them, waits for the batch worker and
 * writes the Roboflow JSON itself (shape tracing runs in parallel across requests).
 *
 * Memory: everything a request allocates hangs off its context and is released in one
 * place when libmicrohttpd reports the request complete. Bounds: a body is at most
 * max_body bytes and all bodies held at once at most max_inflight_body; decoded frames
 * exist only for reserved queue slots (queue_frames per model, max_pixels each).
 *
 * Errors: every error is {"message": "..."} with its status: 400 malformed, 404 unknown
 * route or model, 405 wrong method, 413 over a limit, 422 wrong schema, 500 internal,
 * 503 (with Retry-After) queue full or shutting down, 504 deadline passed.
 */
#ifndef RFS_SERVE_SERVER_H
#define RFS_SERVE_SERVER_H

#include "rfseg.h"
#include "serve/request.h"

#include <stddef.h>

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
    int batch_wait_ms;        /* how long a batch may wait to fill */
    int queue_frames;         /* frames accepted per model at once (queued + running) */
    int deadline_ms;          /* per request, from its headers to its answer */
    int client_timeout_s;     /* a connection silent this long is closed */
    int max_connections;
    size_t max_body;          /* bytes per request body */
    size_t max_inflight_body; /* bytes of request bodies held at once, all connections */
    rfs_req_limits limits;    /* per image and per request */
} rfs_serve_config;

/* Defaults: 127.0.0.1:9001, CPU session with max_batch 4, 5 ms batch wait, 32 queued frames,
 * 30 s deadline, 15 s client timeout, 128 connections, 32 MiB bodies (512 MiB in flight),
 * 16 MiB images, 25 MP, 16 images per request, no URLs. */
rfs_serve_config rfs_serve_defaults(void);

typedef struct rfs_server rfs_server;

/* Validates the configuration, starts a batch worker (and session) per model and listens. */
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
