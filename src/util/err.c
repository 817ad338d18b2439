/* err.c - thread-local error messages, logging callback, checked allocation. */
#include "util/err.h"

#include <stdarg.h>
#include <string.h>

static _Thread_local char last_error[1024];

static rfs_log_fn log_fn;
static void *log_user;
static rfs_log_level log_min = RFS_LOG_INFO;

const char *rfs_last_error(void) { return last_error[0] ? last_error : "no error"; }

void rfs_clear_error(void) { last_error[0] = 0; }

rfs_status rfs_fail(rfs_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}

rfs_status rfs_fail_context(rfs_status st, const char *fmt, ...) {
    char prefix[512], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof last_error - 3) n = sizeof last_error - 3;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t room = sizeof last_error - n - 3;
    size_t m = strnlen(old, room);
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = 0;
    return st;
}

const char *rfs_status_name(rfs_status st) {
    switch (st) {
    case RFS_OK: return "ok";
    case RFS_ERR_ARG: return "invalid argument";
    case RFS_ERR_IO: return "i/o error";
    case RFS_ERR_FORMAT: return "malformed input";
    case RFS_ERR_UNSUPPORTED: return "unsupported";
    case RFS_ERR_NOMEM: return "out of memory";
    case RFS_ERR_LIMIT: return "limit exceeded";
    case RFS_ERR_BACKEND: return "backend error";
    case RFS_ERR_NETWORK: return "network error";
    }
    return "unknown status";
}

void rfs_set_log(rfs_log_fn fn, void *user, rfs_log_level min_level) {
    log_fn = fn;
    log_user = user;
    log_min = min_level;
}

void rfs_log(rfs_log_level level, const char *fmt, ...) {
    if (!log_fn || level < log_min) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(log_user, level, msg);
}

void rfs_panic(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "rfseg internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void *rfs_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) rfs_fail(RFS_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

void *rfs_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) rfs_fail(RFS_ERR_NOMEM, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *rfs_realloc(void *old, size_t n) {
    void *p = realloc(old, n ? n : 1);
    if (!p) rfs_fail(RFS_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

void *rfs_aligned_alloc(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64) != 0) {
        rfs_fail(RFS_ERR_NOMEM, "out of memory allocating %zu bytes", n);
        return NULL;
    }
    return p;
}
