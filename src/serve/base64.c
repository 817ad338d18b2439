/* base64.c - strict base64 decoding (see base64.h). */
#include "serve/base64.h"

#include <stdio.h>
#include <string.h>

/* 0..63 for alphabet characters, 64 for '=', 65 for whitespace, 255 otherwise. */
static uint8_t b64_class(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return (uint8_t)(c - 'A');
    if (c >= 'a' && c <= 'z') return (uint8_t)(c - 'a' + 26);
    if (c >= '0' && c <= '9') return (uint8_t)(c - '0' + 52);
    if (c == '+') return 62;
    if (c == '/') return 63;
    if (c == '=') return 64;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') return 65;
    return 255;
}

/* Length of a "data:image/<a-z>+;base64," prefix at s, or 0. */
static size_t data_url_prefix(const char *s, size_t n) {
    static const char head[] = "data:image/", tail[] = ";base64,";
    size_t h = sizeof head - 1, t = sizeof tail - 1, i = h;
    if (n < h || memcmp(s, head, h)) return 0;
    while (i < n && s[i] >= 'a' && s[i] <= 'z') i++;
    if (i == h || n - i < t || memcmp(s + i, tail, t)) return 0;
    return i + t;
}

rfs_b64_result rfs_b64_decode(uint8_t *dst, size_t cap, size_t *out_len, const char *s, size_t n,
                              char *msg, size_t msg_cap) {
    size_t i = data_url_prefix(s, n), len = 0, quad_pos = 0, pads = 0;
    uint32_t acc = 0;
    *out_len = 0;
    for (; i < n; i++) {
        uint8_t v = b64_class((unsigned char)s[i]);
        if (v == 65) continue;
        if (v == 255) {
            unsigned char c = (unsigned char)s[i];
            if (c >= 0x20 && c < 0x7f)
                snprintf(msg, msg_cap, "invalid base64: character '%c' at offset %zu", c, i);
            else snprintf(msg, msg_cap, "invalid base64: byte 0x%02x at offset %zu", c, i);
            return RFS_B64_INVALID;
        }
        if (v == 64) { /* padding: only in the last two places of the final quad */
            if (quad_pos < 2) {
                snprintf(msg, msg_cap, "invalid base64: misplaced '=' at offset %zu", i);
                return RFS_B64_INVALID;
            }
            pads++;
            if (++quad_pos == 4) quad_pos = 0;
            continue;
        }
        if (pads) {
            snprintf(msg, msg_cap, "invalid base64: data after '=' padding at offset %zu", i);
            return RFS_B64_INVALID;
        }
        acc = acc << 6 | v;
        if (++quad_pos == 4) {
            if (cap - len < 3) goto too_large;
            dst[len++] = (uint8_t)(acc >> 16);
            dst[len++] = (uint8_t)(acc >> 8);
            dst[len++] = (uint8_t)acc;
            acc = 0;
            quad_pos = 0;
        }
    }
    if (quad_pos != 0) {
        snprintf(msg, msg_cap, "invalid base64: incorrect padding (length not a multiple of 4)");
        return RFS_B64_INVALID;
    }
    if (pads) { /* the final quad held 4 - pads characters of data: 2 -> 1 byte, 3 -> 2 bytes */
        size_t keep = pads == 1 ? 2 : 1;
        uint32_t bits = acc << (6 * pads); /* the quad's data as if full */
        if (cap - len < keep) goto too_large;
        dst[len++] = (uint8_t)(bits >> 16);
        if (keep == 2) dst[len++] = (uint8_t)(bits >> 8);
    }
    if (len == 0) {
        snprintf(msg, msg_cap, "empty image: the base64 value decodes to no bytes");
        return RFS_B64_INVALID;
    }
    *out_len = len;
    return RFS_B64_OK;
too_large:
    snprintf(msg, msg_cap, "image larger than the limit of %zu bytes", cap);
    return RFS_B64_TOO_LARGE;
}
