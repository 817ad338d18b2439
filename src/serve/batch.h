/* batch.h - dynamic batching: frames of concurrent requests gathered into one forward call.
 *
 * One batcher per served model, with one worker thread that creates and owns the model's
 * session (sessions are single-threaded; creating it on the worker also gives a CUDA
 * session its thread). Request threads submit jobs (a request's decoded frames) and wait.
 * The worker takes frames in arrival order into a batch of at most max_batch frames,
 * waiting until wait_ms after the oldest queued job arrived for the batch to fill (no
 * wait when it is already full or late), runs rfs_predict once, moves each frame's result
 * into its job and wakes the jobs that are complete. A job with more frames than
 * max_batch spans several batches. Frames of different jobs share a batch only when their
 * keys (the per-request prediction options) are equal; the others wait for the next one.
 *
 * Admission is bounded: a request reserves its frames (rfs_batcher_reserve) before it
 * decodes them, and at most `capacity` frames are reserved at once, queued or running.
 * That bounds the queue and the decoded frames in memory. rfs_batcher_wait returns the
 * reservation.
 *
 * Deadlines: rfs_batcher_wait gives up at the deadline. Frames not yet started are taken
 * off the queue and never run; frames already in a running batch are waited for (the
 * worker is using their memory). Then the job belongs to its submitter again.
 *
 * Locking: one mutex per batcher guards the queue and every job's scheduling fields;
 * frame pixels and results are touched only by the thread that owns the job at the time.
 */
#ifndef RFS_SERVE_BATCH_H
#define RFS_SERVE_BATCH_H

#include "rfseg.h"
#include "serve/metrics.h"

#include <pthread.h>

/* The per-request part of the prediction options (the rest comes from the model). */
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
    rfs_result *results;     /* n zeroed results; filled by the worker (the job owns them) */
    rfs_job_key key;
    /* outcome, valid after rfs_batcher_wait */
    rfs_status status;
    char error[256];
    /* scheduling state, under the batcher's lock */
    int next;                /* first frame not yet taken into a batch */
    int inflight;            /* frames in the running batch */
    int done;                /* frames with a result */
    double enqueued_ms;
    struct rfs_job *link;    /* queue order */
    pthread_cond_t cv;       /* signalled when frames of this job finish */
} rfs_job;

typedef struct rfs_batcher_opts {
    rfs_session_opts session; /* max_batch is the batch bound */
    rfs_predict_opts predict; /* base options; a job's key overrides the threshold */
    int wait_ms;              /* how long the oldest job may wait for the batch to fill */
    int capacity;             /* frames reserved at once (queued + running) */
} rfs_batcher_opts;

typedef struct rfs_batcher rfs_batcher;

/* Starts the worker and creates its session; fails with the session's error. metrics may be
 * NULL. */
rfs_status rfs_batcher_create(rfs_batcher **out, const rfs_model *m, const rfs_batcher_opts *o,
                              rfs_metrics *metrics);
/* Reserves n frames: 1 when granted, 0 when the queue is full, -1 when stopping. */
int rfs_batcher_reserve(rfs_batcher *b, int n);
/* Returns a reservation that will not be submitted (e.g. the images did not decode). */
void rfs_batcher_release(rfs_batcher *b, int n);

/* Job lifetime: init, submit, wait (once), destroy. */
void rfs_job_init(rfs_job *j);
void rfs_job_destroy(rfs_job *j);
/* Queues a job whose n frames were reserved. */
void rfs_batcher_submit(rfs_batcher *b, rfs_job *j);
/* Waits until the job is finished or the deadline (monotonic ms, as rfs_serve_now_ms) passes,
 * and returns its reservation. 1: finished (see j->status), 0: timed out. */
int rfs_batcher_wait(rfs_batcher *b, rfs_job *j, double deadline_ms);

/* Frames queued and not yet started. */
int rfs_batcher_queued(rfs_batcher *b);
/* Refuses new reservations, finishes every submitted job, stops the worker. NULL ok. */
void rfs_batcher_free(rfs_batcher *b);

/* Monotonic clock in milliseconds. */
double rfs_serve_now_ms(void);

#endif
