/* err.h - the two tiers of errors (docs/ARCHITECTURE.md, src/util).
 *
 * Tier 1, user-supplied input (files, images, requests, options): functions return an
 * rfs_status and leave a message for rfs_last_error(). RFS_FAIL() does both in one line:
 *
 *     if (n > limit) return RFS_FAIL(RFS_ERR_LIMIT, "%s: %zu tensors (limit %d)", path, n, limit);
 *
 * Tier 2, broken internal invariants (a bug in rfseg, not in the input): RFS_ASSERT
 * prints file:line and aborts. Never use it for anything a user can trigger.
 */
#ifndef RFS_UTIL_ERR_H
#define RFS_UTIL_ERR_H

#include "rfseg.h"
#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define RFS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RFS_PRINTF(a, b)
#endif

/* Records the message (thread-local, read by rfs_last_error) and returns st. */
rfs_status rfs_fail(rfs_status st, const char *fmt, ...) RFS_PRINTF(2, 3);
/* Prefixes the current message with "prefix: " (adds context on the way up). */
rfs_status rfs_fail_context(rfs_status st, const char *fmt, ...) RFS_PRINTF(2, 3);
#define RFS_FAIL(st, ...) rfs_fail((st), __VA_ARGS__)

/* Logging through the user's callback (the library never prints by itself). */
void rfs_log(rfs_log_level level, const char *fmt, ...) RFS_PRINTF(2, 3);
#define RFS_INFO(...) rfs_log(RFS_LOG_INFO, __VA_ARGS__)
#define RFS_WARN(...) rfs_log(RFS_LOG_WARN, __VA_ARGS__)
#define RFS_DEBUG(...) rfs_log(RFS_LOG_DEBUG, __VA_ARGS__)

_Noreturn void rfs_panic(const char *file, int line, const char *fmt, ...) RFS_PRINTF(3, 4);
#define RFS_ASSERT(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) rfs_panic(__FILE__, __LINE__, "assertion failed: %s", #cond);        \
    } while (0)

/* Allocation that reports failure as RFS_ERR_NOMEM (tier 1: sizes often come from input). */
void *rfs_malloc(size_t n);
void *rfs_calloc(size_t count, size_t size);
void *rfs_realloc(void *p, size_t n);
/* 64-byte aligned, for SIMD/BLAS buffers; release with free(). */
void *rfs_aligned_alloc(size_t n);

/* Overflow-checked size arithmetic: returns 0 on success, -1 on overflow. */
static inline int rfs_mul_size(size_t *out, size_t a, size_t b) {
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}
static inline int rfs_add_size(size_t *out, size_t a, size_t b) {
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

#endif
