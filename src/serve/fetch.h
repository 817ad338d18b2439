/* fetch.h - image URLs, for servers started with --allow-urls (off by default: fetching
 * client-chosen URLs lets clients make the server connect anywhere it can reach).
 *
 * http:// and https:// only (redirects too, at most 3), at most max_bytes (checked on the
 * announced length and while receiving), within timeout_ms. Needs libcurl at build time;
 * without it every fetch is a 501 that says so.
 */
#ifndef RFS_SERVE_FETCH_H
#define RFS_SERVE_FETCH_H

#include "serve/request.h"

#include <stddef.h>
#include <stdint.h>

/* Call once before any thread fetches (libcurl's global initialisation). */
void rfs_fetch_global_init(void);

/* Downloads url into *out (malloc'd, caller frees). 0, or the HTTP status of the error:
 * 400 unreachable or an HTTP error from the remote, 413 too large, 504 too slow, 501 not built. */
int rfs_fetch_url(uint8_t **out, size_t *len, const char *url, size_t max_bytes, long timeout_ms,
                  rfs_http_err *e);

#endif
