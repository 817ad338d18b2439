/* metrics.h - the server's counters, exported as Prometheus text (GET /metrics).
 *
 *   rfseg_requests_total{code="200"}     answered requests by HTTP status
 *   rfseg_request_duration_seconds       histogram of the time from request headers to the
 *                                        queued response
 *   rfseg_batch_size                     histogram of frames per forward batch
 *   rfseg_frames_total                   frames run through the network
 *   rfseg_requests_dropped_total         requests closed unanswered (client too slow, gone)
 *   rfseg_queue_depth, rfseg_requests_in_flight   gauges, read at scrape time
 *
 * All updates take one mutex for a few additions; nothing allocates after init.
 */
#ifndef RFS_SERVE_METRICS_H
#define RFS_SERVE_METRICS_H

#include "pipeline/response.h"

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
} rfs_metrics_counts;

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
/* Appends the exposition text; queue_depth and in_flight are the current gauges. */
void rfs_metrics_text(rfs_metrics *m, rfs_jbuf *out, int queue_depth, int in_flight);

#endif
