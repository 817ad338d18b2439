/* base64.h - strict base64 decoding of request images.
 *
 * What Roboflow's load_image_base64 accepts, minus its leniency about stray characters:
 * the standard alphabet (A-Z a-z 0-9 + /) with '=' padding to a multiple of four,
 * an optional "data:image/<letters>;base64," prefix (Roboflow strips exactly that), and
 * ASCII whitespace anywhere (line-wrapped base64 from `base64` or MIME). Anything else
 * (URL-safe '-' '_', padding in the middle, a missing pad) is an error that names the
 * offset. Decoding stops as soon as the output would exceed the caller's limit, so a
 * hostile body never costs more than `limit` bytes.
 */
#ifndef RFS_SERVE_BASE64_H
#define RFS_SERVE_BASE64_H

#include <stddef.h>
#include <stdint.h>

typedef enum rfs_b64_result {
    RFS_B64_OK = 0,
    RFS_B64_INVALID,  /* not base64: msg says where */
    RFS_B64_TOO_LARGE /* decodes to more than `limit` bytes */
} rfs_b64_result;

/* Upper bound of the decoded size of n input characters. */
static inline size_t rfs_b64_decoded_bound(size_t n) { return n / 4 * 3 + 3; }

/* Decodes s[0..n) into dst (cap bytes, at most `cap` are written; anything longer is
 * RFS_B64_TOO_LARGE). *out_len receives the decoded length; msg (msg_cap bytes) the reason
 * of a failure. */
rfs_b64_result rfs_b64_decode(uint8_t *dst, size_t cap, size_t *out_len, const char *s, size_t n,
                              char *msg, size_t msg_cap);

#endif
