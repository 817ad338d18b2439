/* batch.h - dynamic batching: frames of concurrent requests gathered into forward calls.
 *
 * A batcher serves one model with one or more workers, each a thread that creates and owns
 * one session (sessions are single-threaded; creating it on its worker also gives a CUDA
 * session its thread). Several sessions, one per device, drain the same queue. Submitters
 * (request threads) queue jobs (a request's decoded frames) and wait. An idle worker takes
 * frames in arrival order into a batch of at most its session's max_batch frames, waiting
 * until wait_ms after the oldest queued job arrived for the batch to fill (no wait when it
 * is already full or late), runs rfs_predict once, moves each frame's result into its job
 * and wakes the jobs that are complete. A job with more frames than max_batch spans
 * several batches, possibly on several workers at once. Frames of different jobs share a
 * batch only when their keys (the per-request prediction options) are equal; the others
 * wait for the next one, and the oldest job always leads the next batch, so nothing
 * starves.
 *
 * Admission is bounded: a submitter reserves its frames (rfs_batcher_reserve) before it
 * decodes them, and at most `capacity` frames are reserved at once, queued or running.
 * That bounds the queue and the decoded frames in memory. rfs_batcher_wait returns the
 * reservation.
 *
 * Giving up: rfs_batcher_wait gives up at the deadline, or as soon as the submitter's
 * `gone` callback says nobody wants the answer any more (the client hung up). Frames not
 * yet started are taken off the queue and never run; frames already in a running batch
 * are waited for (a worker is using their memory). Then the job belongs to its submitter
 * again.
 *
 * Locking: one mutex per batcher guards the queue and every job's scheduling fields;
 * frame pixels and results are touched only by the thread that owns the job at the time.
 *
 * Uses only the public API (rfseg.h); errors are returned as a status with a message in a
 * caller's buffer.
 */
#ifndef RFS_SERVE_BATCH_H
#define RFS_SERVE_BATCH_H

#include "rfseg.h"

#include <pthread.h>
#include <stddef.h>

/* The per-request part of the prediction options (the rest comes from the batcher). */
typedef struct rfs_job_key {
    int custom_threshold;    /* 0: the model's default threshold(s) */
    float threshold;
    int disable_static_crop; /* disable_preproc_static_crop */
    int disable_grayscale;   /* disable_preproc_grayscale */
} rfs_job_key;

typedef struct rfs_job {
    /* set by the submitter before rfs_batcher_submit */
    int n;                   /* frames */
    const rfs_image *frames; /* n views, valid until the job is finished */
    rfs_result *results;     /* n zeroed results; filled by the workers (the job owns them) */
    rfs_job_key key;
    /* outcome, valid after rfs_batcher_wait */
    rfs_status status;
    char error[256];
    int dropped;             /* frames taken off the queue unrun (deadline or gone) */
    /* scheduling state, under the batcher's lock */
    int next;                /* first frame not yet taken into a batch */
    int inflight;            /* frames in running batches */
    int done;                /* frames with a result */
    double enqueued_ms;
    struct rfs_job *link;    /* queue order */
    pthread_cond_t cv;       /* signalled when frames of this job finish */
} rfs_job;

typedef struct rfs_batcher_opts {
    const rfs_session_opts *sessions; /* one worker (and session) per entry; each one's
                                         max_batch bounds its batches */
    int n_sessions;
    rfs_predict_opts predict;         /* base options; a job's key overrides parts */
    int wait_ms;                      /* how long the oldest job may wait for a batch to fill */
    int capacity;                     /* frames reserved at once (queued + running) */
    /* called by a worker after each batch (may be NULL): frames run, wall time of rfs_predict */
    void (*on_batch)(void *user, int frames, double ms);
    void *user;
} rfs_batcher_opts;

typedef struct rfs_batcher rfs_batcher;

/* Starts the workers and creates their sessions; on failure returns the first session's
 * error with its message in err (err_cap bytes; err may be NULL). */
rfs_status rfs_batcher_create(rfs_batcher **out, const rfs_model *m, const rfs_batcher_opts *o,
                              char *err, size_t err_cap);
/* Reserves n frames: 1 when granted, 0 when the queue is full, -1 when stopping. */
int rfs_batcher_reserve(rfs_batcher *b, int n);
/* Returns a reservation that will not be submitted (e.g. the images did not decode). */
void rfs_batcher_release(rfs_batcher *b, int n);

/* Job lifetime: init, submit, wait (once), destroy. */
void rfs_job_init(rfs_job *j);
void rfs_job_destroy(rfs_job *j);
/* Queues a job whose n frames were reserved. */
void rfs_batcher_submit(rfs_batcher *b, rfs_job *j);

typedef enum rfs_job_outcome {
    RFS_JOB_DONE = 0,  /* every frame ran (see j->status) */
    RFS_JOB_TIMEOUT,   /* the deadline passed first */
    RFS_JOB_GONE,      /* gone() said the answer is no longer wanted */
} rfs_job_outcome;

/* Returns nonzero when nobody wants the job's answer any more. Called without the
 * batcher's lock, from the waiting thread. */
typedef int (*rfs_job_gone_fn)(void *user);

/* Waits until the job is finished, the deadline (monotonic ms, as rfs_batcher_now_ms)
 * passes, or gone(user) returns nonzero (polled every poll_ms while waiting; gone may be
 * NULL), and returns the job's reservation. */
rfs_job_outcome rfs_batcher_wait(rfs_batcher *b, rfs_job *j, double deadline_ms,
                                 rfs_job_gone_fn gone, void *user, int poll_ms);

/* Frames queued and not yet started. */
int rfs_batcher_queued(rfs_batcher *b);
/* Workers (sessions) of the batcher. */
int rfs_batcher_workers(const rfs_batcher *b);
/* Refuses new reservations, finishes every submitted job, stops the workers. NULL ok. */
void rfs_batcher_free(rfs_batcher *b);

/* Monotonic clock in milliseconds. */
double rfs_batcher_now_ms(void);

#endif
