/* guard.h - every open client connection, its phase and its deadline; slow ones are cut.
 *
 * libmicrohttpd's own timeout only fires after a connection has been silent; a client
 * that sends one header byte every few seconds, or a body at a trickle, is never silent
 * and would hold its connection (and thread) for as long as it likes. The guard keeps a
 * record per connection, with the phase it is in and when that phase began, and a reaper
 * thread that cuts (shutdown(2) of the socket: the connection's own thread then sees the
 * end of the stream and closes it) every connection whose phase outlived its limit:
 *
 *   HEAD  request line and headers (from the connection's start or the previous answer)
 *   BODY  the request body (from the end of the headers)
 *   WORK  the server computing the answer (no limit here: the request deadline rules)
 *   SEND  the answer being written (from when it was queued)
 *
 * Overall limit: when a new connection would exceed max_conns, the guard cuts the
 * connection that has been waiting longest for its request headers (a slow or idle
 * client) to make room; when every connection is busy computing or answering, the new one
 * is cut instead. Either way the cost is a socket shutdown, no request parsing.
 *
 * Connections are identified by their socket; a record is removed (rfs_guard_close)
 * before the socket is closed, and shutdown(2) runs under the guard's lock, so a cut never
 * reaches a reused descriptor.
 */
#ifndef RFS_SERVE_GUARD_H
#define RFS_SERVE_GUARD_H

#include <pthread.h>
#include <stdint.h>

typedef enum rfs_conn_phase { RFS_CONN_HEAD, RFS_CONN_BODY, RFS_CONN_WORK, RFS_CONN_SEND } rfs_conn_phase;

typedef struct rfs_conn {
    int fd;
    rfs_conn_phase phase;
    double since_ms;      /* start of the phase (monotonic ms) */
    int cut;              /* shut down by the guard; waiting for its thread to close it */
    struct rfs_conn *prev, *next;
} rfs_conn;

typedef struct rfs_guard_counts {
    uint64_t opened, cut_head, cut_body, cut_send, evicted, refused;
    int open;             /* records now (including cut ones not yet closed) */
} rfs_guard_counts;

typedef struct rfs_guard {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rfs_conn *head;       /* all records */
    int live;             /* records not cut */
    int max_conns;
    double head_ms, body_ms, send_ms;
    rfs_guard_counts c;
    int stop, started;
    pthread_t reaper;
} rfs_guard;

/* Starts the reaper. Limits in milliseconds (0: none). Returns 0 or -1. */
int rfs_guard_start(rfs_guard *g, int max_conns, double head_ms, double body_ms, double send_ms);
void rfs_guard_stop(rfs_guard *g);
/* A new connection on fd: a record in phase HEAD (malloc'd; NULL when out of memory, and
 * then the connection is cut). Makes room by evicting, or cuts the new one (record->cut). */
rfs_conn *rfs_guard_open(rfs_guard *g, int fd);
/* Before the socket is closed; frees the record. NULL ok. */
void rfs_guard_close(rfs_guard *g, rfs_conn *c);
void rfs_guard_phase(rfs_guard *g, rfs_conn *c, rfs_conn_phase p);
void rfs_guard_snapshot(rfs_guard *g, rfs_guard_counts *out);

#endif
