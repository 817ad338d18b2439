/* util.h - the server's own small helpers: its error message, log, ids.
 *
 * The server is built on the public API (rfseg.h) only; these replace what it would
 * otherwise borrow from the library's internals.
 */
#ifndef RFS_SERVE_UTIL_H
#define RFS_SERVE_UTIL_H

#include "rfseg.h"

#include <stddef.h>

/* Records a message for rfs_serve_last_error() (per thread) and returns st. */
rfs_status rfs_serve_fail(rfs_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The message of this thread's last rfs_serve_fail ("" when none). */
const char *rfs_serve_last_error(void);

/* Calls fn(user, level, message) when fn is not NULL. */
void rfs_serve_log(rfs_log_fn fn, void *user, rfs_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* A random (version 4, RFC 4122 variant) UUID, lowercase, 36 characters. */
void rfs_serve_uuid4(char out[37]);

#endif
