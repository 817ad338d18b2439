/* multipart.h - the uploaded file of a multipart/form-data body (RFC 7578).
 *
 * Only what the legacy route needs: find one part and point at its bytes, in place, no
 * copy. The part named "file" wins (Roboflow's form field), else the first part with a
 * filename, else a lone part. Parsing is a bounded linear scan: at most
 * RFS_MULTIPART_MAX_PARTS parts, header blocks of at most RFS_MULTIPART_MAX_HEADER bytes.
 */
#ifndef RFS_SERVE_MULTIPART_H
#define RFS_SERVE_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define RFS_MULTIPART_MAX_PARTS 64
#define RFS_MULTIPART_MAX_HEADER 8192

/* 1 when the Content-Type value is multipart/form-data (case-insensitive). */
int rfs_multipart_is_form(const char *content_type);

/* Finds the file part of body (n bytes) given the request's Content-Type value. On
 * success returns 0 and points *data / *len into body; otherwise returns -1 with a
 * message in msg. */
int rfs_multipart_file(const uint8_t **data, size_t *len, const char *content_type,
                       const uint8_t *body, size_t n, char *msg, size_t msg_cap);

#endif
