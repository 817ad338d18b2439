/* fmt.h - the text pieces of Roboflow's JSON: Python float repr, UUID4, string escaping.
 *
 *   rfs_fmt_double   Python repr(float): shortest round-trip digits (closest to the value
 *                    when several are shortest), fixed notation for 1e-4 <= |v| < 1e16
 *                    ("63.0", "0.9527000188827515", "0.0001"), otherwise exponent notation
 *                    with at least two exponent digits ("1e-05", "1e+16", "1.5e+300"),
 *                    "-0.0", and "inf", "-inf", "nan" (what repr prints: NOT valid JSON;
 *                    JSON writers should use rfs_fmt_json_double, which writes "null" for
 *                    them as orjson does).
 *   rfs_uuid4        a random (version 4, RFC 4122 variant) UUID, lowercase, 36 chars.
 *   rfs_json_escape  JSON string body as orjson writes it: UTF-8 passed through, only
 *                    '"', '\\' and control characters < 0x20 escaped (\b \t \n \f \r, the
 *                    rest as \u00XX with lowercase hex; DEL and '/' unescaped).
 */
#ifndef RFS_PIPELINE_FMT_H
#define RFS_PIPELINE_FMT_H

#include "rfseg.h"

#include <stddef.h>

#define RFS_FMT_DOUBLE_MAX 32 /* buffer size that always suffices, NUL included */

/* Writes repr(v) and a NUL into buf (RFS_FMT_DOUBLE_MAX bytes); returns the length. */
int rfs_fmt_double(char *buf, double v);
/* Same, but non-finite values become "null". */
int rfs_fmt_json_double(char *buf, double v);

/* 36 characters and a NUL. Uses a per-thread xoshiro256** generator seeded from
 * getrandom() (re-seeded in a forked child). */
void rfs_uuid4(char out[37]);

/* Escapes n bytes of UTF-8 into dst (no quotes added) and returns the length written.
 * dst must hold rfs_json_escape_bound(n) bytes. Invalid UTF-8 bytes become U+FFFD. */
size_t rfs_json_escape(char *dst, const char *s, size_t n);
static inline size_t rfs_json_escape_bound(size_t n) { return 6 * n; }
/* 1 when s[0..n) is valid UTF-8 (no overlongs, surrogates or code points > U+10FFFF). */
/* rfs_utf8_valid: rfseg.h */

#endif
