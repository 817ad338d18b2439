/* guard.c - connection phases, deadlines and the overall limit (see guard.h). */
#include "serve/guard.h"

#include "serve/batch.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#define REAP_EVERY_MS 50

static void cut(rfs_guard *g, rfs_conn *c) {
    if (c->cut) return;
    c->cut = 1;
    g->live--;
    shutdown(c->fd, SHUT_RDWR);
}

static void *reaper_main(void *arg) {
    rfs_guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        double now = rfs_batcher_now_ms();
        for (rfs_conn *c = g->head; c; c = c->next) {
            if (c->cut) continue;
            double age = now - c->since_ms;
            if (c->phase == RFS_CONN_HEAD && g->head_ms > 0 && age > g->head_ms) {
                cut(g, c);
                g->c.cut_head++;
            } else if (c->phase == RFS_CONN_BODY && g->body_ms > 0 && age > g->body_ms) {
                cut(g, c);
                g->c.cut_body++;
            } else if (c->phase == RFS_CONN_SEND && g->send_ms > 0 && age > g->send_ms) {
                cut(g, c);
                g->c.cut_send++;
            }
        }
        double t = rfs_batcher_now_ms() + REAP_EVERY_MS;
        struct timespec ts = {(time_t)(t / 1e3), 0};
        ts.tv_nsec = (long)((t - (double)ts.tv_sec * 1e3) * 1e6);
        if (ts.tv_nsec < 0) ts.tv_nsec = 0;
        if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

int rfs_guard_start(rfs_guard *g, int max_conns, double head_ms, double body_ms, double send_ms) {
    g->head = NULL;
    g->live = 0;
    g->max_conns = max_conns;
    g->head_ms = head_ms;
    g->body_ms = body_ms;
    g->send_ms = send_ms;
    g->c = (rfs_guard_counts){0};
    g->stop = 0;
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &a);
    pthread_condattr_destroy(&a);
    g->started = pthread_create(&g->reaper, NULL, reaper_main, g) == 0;
    if (!g->started) {
        pthread_cond_destroy(&g->cv);
        pthread_mutex_destroy(&g->mu);
        return -1;
    }
    return 0;
}

void rfs_guard_stop(rfs_guard *g) {
    if (!g->started) return;
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->reaper, NULL);
    /* the daemon is stopped first, so every connection has been closed */
    while (g->head) {
        rfs_conn *c = g->head;
        g->head = c->next;
        free(c);
    }
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    g->started = 0;
}

rfs_conn *rfs_guard_open(rfs_guard *g, int fd) {
    rfs_conn *c = calloc(1, sizeof *c);
    if (!c) {
        shutdown(fd, SHUT_RDWR);
        return NULL;
    }
    c->fd = fd;
    c->phase = RFS_CONN_HEAD;
    c->since_ms = rfs_batcher_now_ms();
    pthread_mutex_lock(&g->mu);
    c->next = g->head;
    if (g->head) g->head->prev = c;
    g->head = c;
    g->live++;
    g->c.opened++;
    if (g->max_conns > 0 && g->live > g->max_conns) {
        /* the connection waiting longest for its request head: slow, or idle keep-alive */
        rfs_conn *victim = NULL;
        for (rfs_conn *o = g->head; o; o = o->next)
            if (o != c && !o->cut && o->phase == RFS_CONN_HEAD &&
                (!victim || o->since_ms < victim->since_ms))
                victim = o;
        if (victim) {
            cut(g, victim);
            g->c.evicted++;
        } else {
            cut(g, c);
            g->c.refused++;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return c;
}

void rfs_guard_close(rfs_guard *g, rfs_conn *c) {
    if (!c) return;
    pthread_mutex_lock(&g->mu);
    if (c->prev) c->prev->next = c->next;
    else g->head = c->next;
    if (c->next) c->next->prev = c->prev;
    if (!c->cut) g->live--;
    pthread_mutex_unlock(&g->mu);
    free(c);
}

void rfs_guard_phase(rfs_guard *g, rfs_conn *c, rfs_conn_phase p) {
    if (!c) return;
    pthread_mutex_lock(&g->mu);
    c->phase = p;
    c->since_ms = rfs_batcher_now_ms();
    pthread_mutex_unlock(&g->mu);
}

void rfs_guard_snapshot(rfs_guard *g, rfs_guard_counts *out) {
    pthread_mutex_lock(&g->mu);
    *out = g->c;
    int n = 0;
    for (rfs_conn *c = g->head; c; c = c->next) n++;
    out->open = n;
    pthread_mutex_unlock(&g->mu);
}
