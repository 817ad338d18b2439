/* probe.c - image sizes from their headers (see probe.h). */
#include "serve/probe.h"

#include <string.h>

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | p[0]; }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]; }

static int jpeg_dims(const uint8_t *b, size_t n, uint32_t *w, uint32_t *h) {
    size_t i = 2; /* after SOI */
    while (i + 4 <= n) {
        if (b[i] != 0xFF) return 0; /* not at a marker: entropy data before any SOF */
        while (i < n && b[i] == 0xFF) i++; /* fill bytes */
        if (i >= n) return 0;
        uint8_t m = b[i++];
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue; /* no length */
        if (m == 0xD8 || m == 0xD9 || m == 0xDA) return 0;  /* SOI again, EOI, SOS: no frame */
        if (i + 2 > n) return 0;
        uint32_t len = be16(b + i);
        if (len < 2) return 0;
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            if (len < 7 || i + 7 > n) return 0;
            *h = be16(b + i + 3);
            *w = be16(b + i + 5);
            return 1;
        }
        i += len;
    }
    return 0;
}

int rfs_serve_image_dims(const uint8_t *b, size_t n, uint32_t *w, uint32_t *h) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    *w = *h = 0;
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return jpeg_dims(b, n, w, h);
    if (n >= 24 && !memcmp(b, png_sig, 8)) {
        if (memcmp(b + 12, "IHDR", 4)) return 0;
        *w = be32(b + 16);
        *h = be32(b + 20);
        return 1;
    }
    if (n >= 26 && b[0] == 'B' && b[1] == 'M') {
        uint32_t hsize = le32(b + 14);
        if (hsize == 12) {
            *w = le16(b + 18);
            *h = le16(b + 20);
            return 1;
        }
        if (hsize >= 36 && n >= 26) {
            int32_t sw = (int32_t)le32(b + 18), sh = (int32_t)le32(b + 22);
            *w = sw < 0 ? 0 : (uint32_t)sw;
            *h = sh == INT32_MIN ? 0 : (uint32_t)(sh < 0 ? -sh : sh);
            return 1;
        }
    }
    return 0;
}
