/* worker.h - rfseg worker: inference jobs from a Redis stream, results to another.
 *
 * Protocol (docs/scale-out.md). Clients XADD jobs (job.h) to the jobs stream; workers of
 * one consumer group read them with XREADGROUP ... COUNT B BLOCK, run them through the
 * server's dynamic batcher (serve/batch.h: one session per device, all draining one queue
 * per model) and, per batch read, add each job's result to the results stream and XACK
 * the job in one MULTI/EXEC (and, with delete_jobs, XDELs it there too, so that the jobs
 * stream holds only unanswered jobs). A result entry has the fields
 *   id      the job's id (absent when the job had none)
 *   entry   the job's stream entry id
 *   status  ok | error
 *   json    (ok) the Roboflow response, as `rfseg predict` writes it (inference_id = id)
 *   error   (error) the message
 *   worker  the consumer name
 *   ms      milliseconds from reading the job to its result
 * A worker that dies between reading and committing leaves its jobs pending: any worker
 * claims entries idle longer than claim_idle_ms (XAUTOCLAIM) and runs them again; one
 * delivered more than max_attempts times gets an error result instead (no crash loop).
 * Delivery is therefore at least once: a result may appear twice (clients dedupe by id).
 *
 * Threads: `inflight` lanes, each with its own Redis connection, read, decode, submit and
 * commit their batches independently, so decoding and JSON overlap the devices' work; a
 * lane working on a batch refreshes its jobs' idle time (XCLAIM JUSTID) every
 * claim_idle_ms / 3 so that long batches are not claimed away. Decoded pixels are charged against memory_budget before
 * they are allocated (serve/budget.h, sizes from serve/probe.h).
 *
 * Uses the public API (rfseg.h) and the server's reusable modules only.
 */
#ifndef RFS_WORKER_WORKER_H
#define RFS_WORKER_WORKER_H

#include "rfseg.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rfs_worker_model {
    const char *id;           /* the `model` field of jobs */
    const rfs_model *model;   /* loaded by the caller, outlives the worker */
    rfs_predict_opts predict; /* base options; a job's confidence overrides the threshold */
} rfs_worker_model;

typedef struct rfs_worker_config {
    const char *redis_url;    /* redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] */
    const char *jobs;         /* jobs stream */
    const char *group;        /* consumer group (created at the stream's start when missing) */
    const char *results;      /* results stream */
    const char *consumer;     /* consumer name; NULL: HOST:PID */
    const rfs_worker_model *models;
    int n_models;
    rfs_session_opts session; /* one session per model when n_sessions == 0 */
    const rfs_session_opts *sessions; /* else one per entry (e.g. per GPU) for every model */
    int n_sessions;
    int max_batch;            /* entries read at once (COUNT) and frames per forward call */
    int batch_wait_ms;        /* how long a forward batch may wait to fill */
    int inflight;             /* batches read and not yet committed (lanes); 0: 2 per session,
                                 on CUDA at least one per CPU core (at most 64) */
    int block_ms;             /* XREADGROUP BLOCK (also bounds how fast SIGTERM is seen) */
    int claim_idle_ms;        /* pending entries idle this long are claimed */
    int max_attempts;         /* deliveries before a job is given up with an error result */
    long results_maxlen;      /* XADD results MAXLEN ~ this */
    int delete_jobs;          /* 1: XDEL each answered job in the same MULTI/EXEC as its XACK */
    uint64_t memory_budget;   /* bytes of decoded images held at once */
    uint64_t max_pixels;      /* width * height per image, from its header */
    size_t max_image_bytes;   /* encoded bytes per image */
    const char *metrics_host; /* --metrics-port: Prometheus text at http://HOST:PORT/metrics */
    int metrics_port;         /* 0: none (counters go to the log every log_every_s) */
    int log_every_s;          /* counters in the log this often when they changed; 0: never */
    int stop_grace_ms;        /* after a stop, how long to retry committing results */
    rfs_log_fn log;
    void *log_user;
} rfs_worker_config;

/* Defaults: streams rfseg:jobs / rfseg:results, group rfseg, CPU session, batch 4, 5 ms
 * batch wait, 1000 ms block, claim after 60 s idle, 3 attempts, 100000 results kept, 2 GiB
 * of decoded images, 25 MP, 16 MiB images, counters logged every 60 s, 30 s stop grace. */
rfs_worker_config rfs_worker_defaults(void);

typedef struct rfs_worker rfs_worker;

/* Validates the configuration, creates the sessions and starts the lanes (they connect on
 * their own and keep retrying while Redis is unreachable). The message of a failure is
 * rfs_serve_last_error() (serve/util.h). */
rfs_status rfs_worker_start(rfs_worker **out, const rfs_worker_config *c);
/* The consumer name in use. */
const char *rfs_worker_consumer(const rfs_worker *w);
/* The metrics port actually bound (useful with metrics_port -1: any free port). */
int rfs_worker_metrics_port(const rfs_worker *w);
/* Graceful stop: no new reads; every batch read is finished, its results written and its
 * jobs acknowledged (retrying Redis for stop_grace_ms); then everything is released.
 * Returns RFS_OK, or RFS_ERR_NETWORK when some batch could not be committed (its jobs stay
 * pending and another worker claims them). NULL ok. */
rfs_status rfs_worker_stop(rfs_worker *w);

/* Starts, runs until SIGINT or SIGTERM, stops gracefully. Blocks SIGINT, SIGTERM and
 * SIGPIPE in the calling thread (and so in every thread the worker starts). */
rfs_status rfs_worker_run(const rfs_worker_config *c);

#endif
