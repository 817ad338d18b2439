/* metrics.h - the server's counters, exported as Prometheus text (GET /metrics).
 *
 *   rfseg_requests_total{code="200"}     answered requests by HTTP status
 *   rfseg_request_duration_seconds       histogram of the time from request headers to the
 *                                        queued response
 *   rfseg_batch_size                     histogram of frames per forward batch
 *   rfseg_frames_total                   frames run through the network
 *   rfseg_requests_dropped_total         requests closed unanswered (client too slow, gone)
 *   rfseg_requests_cancelled_total       requests abandoned because the client left
 *   rfseg_frames_cancelled_total         frames taken off the queue unrun (client left or
 *                                        deadline passed)
 *   rfseg_connections_cut_total{reason}  connections the server closed: head_timeout,
 *                                        body_timeout, send_timeout, evicted, refused
 *   rfseg_queue_depth, rfseg_requests_in_flight, rfseg_connections_open,
 *   rfseg_memory_budget_bytes{state}     gauges, read at scrape time
 *
 * All updates take one mutex for a few additions; nothing allocates after init.
 */
#ifndef RFS_SERVE_METRICS_H
#define RFS_SERVE_METRICS_H

#include "rfseg.h"
#include "serve/guard.h"

#include <pthread.h>
#include <stdint.h>

#define RFS_METRICS_LAT_BUCKETS 14
#define RFS_METRICS_BATCH_BUCKETS 8 /* le 1, 2, 4, ... 128 */

typedef struct rfs_metrics_counts {
    uint64_t by_status[600];                           /* index: HTTP status */
    uint64_t lat_count[RFS_METRICS_LAT_BUCKETS + 1];   /* per bucket, last = above all */
    double lat_sum;
    uint64_t batch_count[RFS_METRICS_BATCH_BUCKETS + 1];
    uint64_t batches, frames;
    double batch_ms;                                   /* wall time of rfs_predict calls */
    uint64_t dropped;                                  /* connections closed without an answer */
    uint64_t cancelled;                                /* requests abandoned: client gone */
    uint64_t frames_cancelled;                         /* frames dropped from the queue unrun */
} rfs_metrics_counts;

/* Values read at scrape time. */
typedef struct rfs_metrics_gauges {
    int queue_depth, in_flight;
    rfs_guard_counts conns;
    uint64_t mem_used, mem_peak, mem_limit;
} rfs_metrics_gauges;

typedef struct rfs_metrics {
    pthread_mutex_t mu;
    rfs_metrics_counts c;
} rfs_metrics;

/* A consistent copy of the counters. */
void rfs_metrics_snapshot(rfs_metrics *m, rfs_metrics_counts *out);

void rfs_metrics_init(rfs_metrics *m);
void rfs_metrics_free(rfs_metrics *m);
void rfs_metrics_request(rfs_metrics *m, int status, double seconds);
/* A request whose connection was closed before it was answered (slow or broken client). */
void rfs_metrics_dropped(rfs_metrics *m);
void rfs_metrics_batch(rfs_metrics *m, int frames, double ms);
/* A request abandoned because its client left; frames: those taken off the queue unrun. */
void rfs_metrics_cancelled(rfs_metrics *m, int frames);
/* Frames taken off the queue unrun for another reason (the deadline passed). */
void rfs_metrics_frames_dropped(rfs_metrics *m, int frames);
/* Appends the exposition text. */
void rfs_metrics_text(rfs_metrics *m, rfs_text *out, const rfs_metrics_gauges *g);

#endif
