/* budget.h - a byte budget shared by concurrent requests (decoded pixels in rfseg serve).
 *
 * A request takes the bytes it will hold before it allocates them and gives them back when
 * it frees them. A request that does not fit now waits in line (first come, first served,
 * so a large request is not starved by a stream of small ones) until the bytes are free,
 * its wait limit passes, or its `gone` callback says the client left. A request larger
 * than the whole budget is refused at once: it could never fit.
 */
#ifndef RFS_SERVE_BUDGET_H
#define RFS_SERVE_BUDGET_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rfs_budget_waiter rfs_budget_waiter;

typedef struct rfs_budget {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t limit, used, peak;
    rfs_budget_waiter *head, *tail; /* waiting requests, arrival order */
} rfs_budget;

typedef enum rfs_budget_result {
    RFS_BUDGET_OK = 0,
    RFS_BUDGET_TOO_LARGE, /* more than the whole budget */
    RFS_BUDGET_TIMEOUT,   /* not free before until_ms */
    RFS_BUDGET_GONE,      /* gone() said the request is abandoned */
} rfs_budget_result;

void rfs_budget_init(rfs_budget *b, uint64_t limit);
void rfs_budget_destroy(rfs_budget *b);
/* Takes n bytes, waiting until until_ms (monotonic ms, rfs_batcher_now_ms's clock) at most,
 * polling gone(user) every poll_ms while waiting (gone may be NULL). */
rfs_budget_result rfs_budget_take(rfs_budget *b, uint64_t n, double until_ms,
                                  int (*gone)(void *user), void *user, int poll_ms);
void rfs_budget_give(rfs_budget *b, uint64_t n);
/* Bytes in use now and the most ever in use. */
void rfs_budget_usage(rfs_budget *b, uint64_t *used, uint64_t *peak);

#endif
