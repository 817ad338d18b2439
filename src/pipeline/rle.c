/* rle.c - COCO RLE counts and pycocotools' compressed counts string (see rle.h).
 *
 * Reproduces pycocotools maskApi.c: rleEncode on the Fortran-ordered H x W mask (runs
 * alternate 0,1,0,..., the first run counts zeros and may be 0, the last run is never
 * empty) and rleToString (each count, minus the count two before it from the fourth count
 * on (index > 2), as a signed little-endian base-32 number: 5 bits per char, 0x20 =
 * continuation, 0x10 = sign of the last chunk, +48). Roboflow's GPU encoder
 * (torch_mask_to_coco_rle -> frPyObjects) produces the same runs.
 * Verified (tests/diff_rle_json.py): against a Python transcription of pycocotools'
 * algorithm on random masks and frames (empty, full, border-touching, 1-pixel, runs that
 * continue from one column into the next), plus decoding back to the mask.
 *
 * The runs are found 8 columns at a time: per row, one 64-bit word of the block XORed with
 * the previous row gives the transitions of all 8 columns at once; columns outside the
 * rectangle are all zero and cost nothing.
 */
#include "pipeline/rle.h"

#include "util/err.h"

#include <string.h>

void rfs_rle_free(rfs_rle *r) {
    if (!r) return;
    free(r->counts);
    free(r->ev);
    memset(r, 0, sizeof *r);
}

static rfs_status push(rfs_rle *r, uint32_t v) {
    if (r->n == r->cap) {
        size_t c = r->cap ? r->cap * 2 : 256;
        uint32_t *p = rfs_realloc(r->counts, c * sizeof *p);
        if (!p) return RFS_ERR_NOMEM;
        r->counts = p, r->cap = c;
    }
    r->counts[r->n++] = v;
    return RFS_OK;
}

/* 0/1 per byte from "nonzero" per byte. */
static inline uint64_t bytes_nonzero(uint64_t w) {
    const uint64_t lo7 = 0x7f7f7f7f7f7f7f7full;
    return ((((w & lo7) + lo7) | w) >> 7) & 0x0101010101010101ull;
}

rfs_status rfs_rle_counts(rfs_rle *r, const rfs_mask *m, int frame_w, int frame_h) {
    r->n = 0;
    if (frame_w < 1 || frame_h < 1 || (uint64_t)frame_w * (uint64_t)frame_h > UINT32_MAX)
        return RFS_FAIL(RFS_ERR_ARG, "rle: bad frame size %dx%d", frame_w, frame_h);
    const uint64_t H = (uint64_t)frame_h, total = (uint64_t)frame_w * H;
    int empty = !m || m->w <= 0 || m->h <= 0 || !m->data;
    if (!empty && (m->x0 < 0 || m->y0 < 0 || m->x0 + m->w > frame_w || m->y0 + m->h > frame_h))
        return RFS_FAIL(RFS_ERR_ARG, "rle: mask rectangle %d,%d %dx%d outside the %dx%d frame",
                        m->x0, m->y0, m->w, m->h, frame_w, frame_h);
    uint64_t end = 0; /* end of the last run of ones written (column-major position) */
    if (!empty) {
        const int w = m->w, h = m->h;
        if ((size_t)h + 1 > r->ev_cap) {
            free(r->ev);
            r->ev = rfs_malloc(((size_t)h + 1) * sizeof(uint64_t));
            if (!r->ev) {
                r->ev_cap = 0;
                return RFS_ERR_NOMEM;
            }
            r->ev_cap = (size_t)h + 1;
        }
        for (int bx = 0; bx < w; bx += 8) {
            const int cb = w - bx < 8 ? w - bx : 8;
            /* transitions of the block's columns at rows 0..h (row h: back to background) */
            uint64_t prev = 0;
            for (int y = 0; y <= h; y++) {
                uint64_t cur = 0;
                if (y < h) {
                    const uint8_t *src = m->data + (size_t)y * w + bx;
                    if (cb == 8) memcpy(&cur, src, 8);
                    else memcpy(&cur, src, (size_t)cb);
                    cur = bytes_nonzero(cur);
                }
                r->ev[y] = cur ^ prev;
                prev = cur;
            }
            for (int c = 0; c < cb; c++) {
                const uint64_t col = (uint64_t)(m->x0 + bx + c) * H + (uint64_t)m->y0;
                const int sh = 8 * c;
                uint64_t start = 0;
                int on = 0;
                for (int y = 0; y <= h; y++) {
                    if (!((r->ev[y] >> sh) & 1)) continue;
                    uint64_t pos = col + (uint64_t)y;
                    if (!on) {
                        start = pos;
                        on = 1;
                        continue;
                    }
                    on = 0;
                    /* a run of ones [start, pos) */
                    if (start == end && r->n > 0) { /* continues the previous run */
                        r->counts[r->n - 1] += (uint32_t)(pos - start);
                    } else {
                        if (push(r, (uint32_t)(start - end)) != RFS_OK) return RFS_ERR_NOMEM;
                        if (push(r, (uint32_t)(pos - start)) != RFS_OK) return RFS_ERR_NOMEM;
                    }
                    end = pos;
                }
            }
        }
    }
    if (end < total && push(r, (uint32_t)(total - end)) != RFS_OK) return RFS_ERR_NOMEM;
    return RFS_OK;
}

size_t rfs_rle_string_bound(const rfs_rle *r) {
    return r->n * 7 + 1; /* |delta| < 2^33 -> at most 7 chars of 5 bits */
}

size_t rfs_rle_string(char *dst, size_t cap, const rfs_rle *r) {
    size_t p = 0;
    for (size_t i = 0; i < r->n; i++) {
        int64_t x = (int64_t)r->counts[i];
        if (i > 2) x -= (int64_t)r->counts[i - 2];
        for (;;) {
            int c = (int)(x & 0x1f);
            x >>= 5; /* arithmetic shift (floor), as pycocotools' `long` */
            int more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            if (p + 1 < cap) dst[p] = (char)(c + 48);
            p++;
            if (!more) break;
        }
    }
    if (cap) dst[p < cap ? p : cap - 1] = 0;
    return p;
}

rfs_status rfs_rle_parse(rfs_rle *r, const char *s, size_t len, uint64_t total) {
    r->n = 0;
    size_t p = 0;
    uint64_t sum = 0;
    while (p < len) {
        int64_t x = 0;
        int k = 0, more = 1;
        while (more) {
            if (p >= len || k > 12)
                return RFS_FAIL(RFS_ERR_FORMAT, "rle: truncated counts string at byte %zu", p);
            int c = (unsigned char)s[p] - 48;
            if (c < 0 || c > 63)
                return RFS_FAIL(RFS_ERR_FORMAT, "rle: bad character 0x%02x at byte %zu",
                                (unsigned char)s[p], p);
            x |= (int64_t)(c & 0x1f) << (5 * k);
            more = c & 0x20;
            p++, k++;
            if (!more && (c & 0x10)) x |= (int64_t)(~(uint64_t)0 << (5 * k));
        }
        if (r->n > 2) x += (int64_t)r->counts[r->n - 2];
        if (x < 0 || x > (int64_t)UINT32_MAX)
            return RFS_FAIL(RFS_ERR_FORMAT, "rle: count %lld out of range", (long long)x);
        if (push(r, (uint32_t)x) != RFS_OK) return RFS_ERR_NOMEM;
        sum += (uint64_t)x;
    }
    if (total && sum != total)
        return RFS_FAIL(RFS_ERR_FORMAT, "rle: counts add up to %llu, expected %llu",
                        (unsigned long long)sum, (unsigned long long)total);
    return RFS_OK;
}
