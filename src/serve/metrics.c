/* metrics.c - counters and their Prometheus text (see metrics.h). */
#include "serve/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const double lat_bounds[RFS_METRICS_LAT_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

void rfs_metrics_init(rfs_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void rfs_metrics_free(rfs_metrics *m) {
    if (m) pthread_mutex_destroy(&m->mu);
}

void rfs_metrics_snapshot(rfs_metrics *m, rfs_metrics_counts *out) {
    pthread_mutex_lock(&m->mu);
    *out = m->c;
    pthread_mutex_unlock(&m->mu);
}

void rfs_metrics_request(rfs_metrics *m, int status, double seconds) {
    int b = 0;
    while (b < RFS_METRICS_LAT_BUCKETS && seconds > lat_bounds[b]) b++;
    pthread_mutex_lock(&m->mu);
    if (status >= 100 && status < 600) m->c.by_status[status]++;
    m->c.lat_count[b]++;
    m->c.lat_sum += seconds;
    pthread_mutex_unlock(&m->mu);
}

void rfs_metrics_dropped(rfs_metrics *m) {
    pthread_mutex_lock(&m->mu);
    m->c.dropped++;
    pthread_mutex_unlock(&m->mu);
}

void rfs_metrics_cancelled(rfs_metrics *m, int frames) {
    pthread_mutex_lock(&m->mu);
    m->c.cancelled++;
    m->c.frames_cancelled += (uint64_t)(frames > 0 ? frames : 0);
    pthread_mutex_unlock(&m->mu);
}

void rfs_metrics_frames_dropped(rfs_metrics *m, int frames) {
    pthread_mutex_lock(&m->mu);
    m->c.frames_cancelled += (uint64_t)(frames > 0 ? frames : 0);
    pthread_mutex_unlock(&m->mu);
}

void rfs_metrics_batch(rfs_metrics *m, int frames, double ms) {
    int b = 0;
    while (b < RFS_METRICS_BATCH_BUCKETS && frames > (1 << b)) b++;
    pthread_mutex_lock(&m->mu);
    m->c.batch_count[b]++;
    m->c.batches++;
    m->c.frames += (uint64_t)frames;
    m->c.batch_ms += ms;
    pthread_mutex_unlock(&m->mu);
}

static void put_fmt(rfs_text *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(rfs_text *o, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0) rfs_text_put(o, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void rfs_metrics_text(rfs_metrics *m, rfs_text *o, const rfs_metrics_gauges *g) {
    rfs_metrics_counts c;
    rfs_metrics_snapshot(m, &c); /* formatting happens outside the lock */

    rfs_text_puts(o, "# HELP rfseg_requests_total HTTP requests answered, by status code.\n"
                     "# TYPE rfseg_requests_total counter\n");
    for (int s = 100; s < 600; s++)
        if (c.by_status[s]) put_fmt(o, "rfseg_requests_total{code=\"%d\"} %llu\n", s, (unsigned long long)c.by_status[s]);

    rfs_text_puts(o, "# HELP rfseg_request_duration_seconds Time from request headers to response.\n"
                     "# TYPE rfseg_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < RFS_METRICS_LAT_BUCKETS; b++) {
        cum += c.lat_count[b];
        put_fmt(o, "rfseg_request_duration_seconds_bucket{le=\"%g\"} %llu\n", lat_bounds[b], (unsigned long long)cum);
    }
    cum += c.lat_count[RFS_METRICS_LAT_BUCKETS];
    put_fmt(o, "rfseg_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    put_fmt(o, "rfseg_request_duration_seconds_sum %.6f\n", c.lat_sum);
    put_fmt(o, "rfseg_request_duration_seconds_count %llu\n", (unsigned long long)cum);

    rfs_text_puts(o, "# HELP rfseg_batch_size Frames per forward batch.\n"
                     "# TYPE rfseg_batch_size histogram\n");
    cum = 0;
    for (int b = 0; b < RFS_METRICS_BATCH_BUCKETS; b++) {
        cum += c.batch_count[b];
        put_fmt(o, "rfseg_batch_size_bucket{le=\"%d\"} %llu\n", 1 << b, (unsigned long long)cum);
    }
    cum += c.batch_count[RFS_METRICS_BATCH_BUCKETS];
    put_fmt(o, "rfseg_batch_size_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    put_fmt(o, "rfseg_batch_size_sum %llu\n", (unsigned long long)c.frames);
    put_fmt(o, "rfseg_batch_size_count %llu\n", (unsigned long long)c.batches);

    put_fmt(o, "# HELP rfseg_frames_total Frames run through the network.\n"
               "# TYPE rfseg_frames_total counter\nrfseg_frames_total %llu\n", (unsigned long long)c.frames);
    put_fmt(o, "# HELP rfseg_batch_seconds_total Wall time spent in batched predictions.\n"
               "# TYPE rfseg_batch_seconds_total counter\nrfseg_batch_seconds_total %.6f\n", c.batch_ms / 1e3);
    put_fmt(o, "# HELP rfseg_requests_dropped_total Requests closed without an answer (slow or gone client).\n"
               "# TYPE rfseg_requests_dropped_total counter\nrfseg_requests_dropped_total %llu\n", (unsigned long long)c.dropped);
    put_fmt(o, "# HELP rfseg_requests_cancelled_total Requests abandoned because the client closed the connection.\n"
               "# TYPE rfseg_requests_cancelled_total counter\nrfseg_requests_cancelled_total %llu\n", (unsigned long long)c.cancelled);
    put_fmt(o, "# HELP rfseg_frames_cancelled_total Frames taken off the queue unrun (client gone or deadline passed).\n"
               "# TYPE rfseg_frames_cancelled_total counter\nrfseg_frames_cancelled_total %llu\n", (unsigned long long)c.frames_cancelled);
    const rfs_guard_counts *k = &g->conns;
    rfs_text_puts(o, "# HELP rfseg_connections_cut_total Connections closed by the server, by reason.\n"
                     "# TYPE rfseg_connections_cut_total counter\n");
    put_fmt(o, "rfseg_connections_cut_total{reason=\"head_timeout\"} %llu\n", (unsigned long long)k->cut_head);
    put_fmt(o, "rfseg_connections_cut_total{reason=\"body_timeout\"} %llu\n", (unsigned long long)k->cut_body);
    put_fmt(o, "rfseg_connections_cut_total{reason=\"send_timeout\"} %llu\n", (unsigned long long)k->cut_send);
    put_fmt(o, "rfseg_connections_cut_total{reason=\"evicted\"} %llu\n", (unsigned long long)k->evicted);
    put_fmt(o, "rfseg_connections_cut_total{reason=\"refused\"} %llu\n", (unsigned long long)k->refused);
    put_fmt(o, "# HELP rfseg_connections_opened_total Connections accepted.\n"
               "# TYPE rfseg_connections_opened_total counter\nrfseg_connections_opened_total %llu\n", (unsigned long long)k->opened);
    put_fmt(o, "# HELP rfseg_connections_open Connections open now.\n"
               "# TYPE rfseg_connections_open gauge\nrfseg_connections_open %d\n", k->open);
    put_fmt(o, "# HELP rfseg_memory_budget_bytes Decoded-pixel memory budget: used now, most used, limit.\n"
               "# TYPE rfseg_memory_budget_bytes gauge\n"
               "rfseg_memory_budget_bytes{state=\"used\"} %llu\nrfseg_memory_budget_bytes{state=\"peak\"} %llu\n"
               "rfseg_memory_budget_bytes{state=\"limit\"} %llu\n",
            (unsigned long long)g->mem_used, (unsigned long long)g->mem_peak, (unsigned long long)g->mem_limit);
    put_fmt(o, "# HELP rfseg_queue_depth Frames accepted and waiting for a batch.\n"
               "# TYPE rfseg_queue_depth gauge\nrfseg_queue_depth %d\n", g->queue_depth);
    put_fmt(o, "# HELP rfseg_requests_in_flight Requests being received or processed.\n"
               "# TYPE rfseg_requests_in_flight gauge\nrfseg_requests_in_flight %d\n", g->in_flight);
}
