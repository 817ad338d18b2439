/* budget.c - the shared byte budget (see budget.h). */
#include "serve/budget.h"

#include "serve/batch.h"

#include <time.h>

struct rfs_budget_waiter {
    uint64_t n;
    struct rfs_budget_waiter *next;
};

void rfs_budget_init(rfs_budget *b, uint64_t limit) {
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &a);
    pthread_condattr_destroy(&a);
    b->limit = limit;
    b->used = b->peak = 0;
    b->head = b->tail = NULL;
}

void rfs_budget_destroy(rfs_budget *b) {
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
}

static void unlink_waiter(rfs_budget *b, rfs_budget_waiter *w) {
    rfs_budget_waiter *prev = NULL;
    for (rfs_budget_waiter *p = b->head; p; prev = p, p = p->next)
        if (p == w) {
            if (prev) prev->next = p->next;
            else b->head = p->next;
            if (b->tail == p) b->tail = prev;
            break;
        }
    pthread_cond_broadcast(&b->cv); /* the next in line may fit now */
}

rfs_budget_result rfs_budget_take(rfs_budget *b, uint64_t n, double until_ms,
                                  int (*gone)(void *user), void *user, int poll_ms) {
    if (n > b->limit) return RFS_BUDGET_TOO_LARGE;
    if (poll_ms < 1) poll_ms = 1;
    rfs_budget_waiter me = {n, NULL};
    rfs_budget_result r = RFS_BUDGET_OK;
    pthread_mutex_lock(&b->mu);
    if (b->tail) b->tail->next = &me;
    else b->head = &me;
    b->tail = &me;
    while (!(b->head == &me && b->used + n <= b->limit)) {
        double now = rfs_batcher_now_ms();
        if (now >= until_ms) {
            r = RFS_BUDGET_TIMEOUT;
            break;
        }
        double t = gone && now + poll_ms < until_ms ? now + poll_ms : until_ms;
        struct timespec ts = {(time_t)(t / 1e3), (long)((t - (double)(time_t)(t / 1e3) * 1e3) * 1e6)};
        if (ts.tv_nsec < 0) ts.tv_nsec = 0;
        if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
        pthread_cond_timedwait(&b->cv, &b->mu, &ts);
        if (gone && !(b->head == &me && b->used + n <= b->limit)) {
            pthread_mutex_unlock(&b->mu);
            int g = gone(user);
            pthread_mutex_lock(&b->mu);
            if (g) {
                r = RFS_BUDGET_GONE;
                break;
            }
        }
    }
    if (r == RFS_BUDGET_OK) {
        b->used += n;
        if (b->used > b->peak) b->peak = b->used;
    }
    unlink_waiter(b, &me);
    pthread_mutex_unlock(&b->mu);
    return r;
}

void rfs_budget_give(rfs_budget *b, uint64_t n) {
    if (!n) return;
    pthread_mutex_lock(&b->mu);
    b->used = n > b->used ? 0 : b->used - n;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

void rfs_budget_usage(rfs_budget *b, uint64_t *used, uint64_t *peak) {
    pthread_mutex_lock(&b->mu);
    if (used) *used = b->used;
    if (peak) *peak = b->peak;
    pthread_mutex_unlock(&b->mu);
}
