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
 * The runs are found 16 columns at a time: a row-major pass turns each 16 bytes into
 * 16 "set" bits (SSE2 where available) and XORs them with the same bits of the row above and keeps the nonzero ones as events; the
 * events are bucketed by 16-column block (counting sort, rows stay ordered) and each column
 * then reads its transitions from its block's short list. Columns outside the rectangle
 * are all zero and cost nothing.
 */
#include "pipeline/rle.h"

#include "util/err.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

void rfs_rle_free(rfs_rle *r) {
    if (!r) return;
    free(r->counts);
    free(r->scratch);
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

/* A change in one 16-column block of the rectangle at row y: bit c set when column c of
 * the block differs from the row above (row h: back to background). */
typedef struct rle_ev {
    uint32_t y, b;
} rle_ev;

/* Bit c set when p[c] != 0, for the n <= 16 bytes at p. */
static inline unsigned set_bits16(const uint8_t *p, int n) {
#if defined(__SSE2__)
    __m128i v;
    if (n == 16) {
        v = _mm_loadu_si128((const __m128i *)p);
    } else {
        uint8_t t[16] = {0};
        memcpy(t, p, (size_t)n);
        v = _mm_loadu_si128((const __m128i *)t);
    }
    return ~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128())) & 0xffffu;
#else
    unsigned bits = 0;
    for (int c = 0; c < n; c++) bits |= (unsigned)(p[c] != 0) << c;
    return bits;
#endif
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
        const int nb = (w + 15) / 16;
        /* scratch: previous row bits [nb], counts/offsets [nb + 1], change bits per event,
         * then the events and their block-sorted copy */
        size_t cap_ev = 4096;
        const size_t fixed = ((size_t)nb * 4 + ((size_t)nb + 1) * 8 + 15) & ~(size_t)15;
        const size_t per_ev = 2 * sizeof(rle_ev) + 2 * sizeof(uint32_t);
        if (r->scratch_cap < fixed + cap_ev * per_ev) {
            size_t want = fixed + cap_ev * per_ev;
            void *ns = rfs_realloc(r->scratch, want);
            if (!ns) return RFS_ERR_NOMEM;
            r->scratch = ns, r->scratch_cap = want;
        }
        cap_ev = (r->scratch_cap - fixed) / per_ev;
        uint32_t *prevrow = r->scratch;
        uint64_t *off = (uint64_t *)(prevrow + ((nb + 1) & ~1));
        rle_ev *ev = (rle_ev *)((char *)r->scratch + fixed);
        uint32_t *evd = (uint32_t *)(ev + 2 * cap_ev);
        memset(prevrow, 0, (size_t)nb * 4);
        memset(off, 0, ((size_t)nb + 1) * 8);
        /* pass 1, row-major: every (row, block) whose columns change */
        size_t ne = 0;
        for (int y = 0; y <= h; y++) {
            const uint8_t *row = m->data + (size_t)y * w;
            for (int b = 0; b < nb; b++) {
                unsigned cur = 0;
                if (y < h) {
                    const int bx = 16 * b;
                    cur = set_bits16(row + bx, w - bx >= 16 ? 16 : w - bx);
                }
                const unsigned d = cur ^ prevrow[b];
                prevrow[b] = cur;
                if (!d) continue;
                if (ne == cap_ev) { /* grow (rare): double the event area */
                    size_t want = fixed + 2 * cap_ev * per_ev;
                    void *ns = rfs_malloc(want);
                    if (!ns) return RFS_ERR_NOMEM;
                    memcpy(ns, r->scratch, fixed + ne * sizeof(rle_ev));
                    rle_ev *nev = (rle_ev *)((char *)ns + fixed);
                    uint32_t *nevd = (uint32_t *)(nev + 4 * cap_ev);
                    memcpy(nevd, evd, ne * sizeof(uint32_t));
                    free(r->scratch);
                    r->scratch = ns, r->scratch_cap = want;
                    prevrow = ns;
                    off = (uint64_t *)(prevrow + ((nb + 1) & ~1));
                    ev = nev, evd = nevd;
                    cap_ev *= 2;
                }
                ev[ne].y = (uint32_t)y, ev[ne].b = (uint32_t)b;
                evd[ne] = d;
                off[b + 1]++;
                ne++;
            }
        }
        /* counting sort by block (stable: rows stay in order) */
        for (int b = 0; b < nb; b++) off[b + 1] += off[b];
        rle_ev *sorted = ev + cap_ev;
        uint32_t *sd = evd + cap_ev;
        for (size_t k = 0; k < ne; k++) {
            size_t j = off[ev[k].b]++;
            sorted[j] = ev[k];
            sd[j] = evd[k];
        }
        /* pass 2, per column: runs of ones, in column-major order (off[b] is now the end
         * of block b's events) */
        size_t k0 = 0;
        for (int b = 0; b < nb; b++) {
            const int bx = 16 * b, cb = w - bx < 16 ? w - bx : 16;
            const size_t k1 = off[b];
            for (int c = 0; c < cb; c++) {
                const uint64_t col = (uint64_t)(m->x0 + bx + c) * H + (uint64_t)m->y0;
                uint64_t start = 0;
                int on = 0;
                for (size_t k = k0; k < k1; k++) {
                    if (!((sd[k] >> c) & 1)) continue;
                    uint64_t pos = col + sorted[k].y;
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
            k0 = k1;
        }
    }
    if (end < total && push(r, (uint32_t)(total - end)) != RFS_OK) return RFS_ERR_NOMEM;
    return RFS_OK;
}

size_t rfs_rle_string_bound(const rfs_rle *r) {
    return r->n * 7 + 1; /* |delta| < 2^33 -> at most 7 chars of 5 bits */
}

static size_t rle_string(char *dst, size_t cap, const rfs_rle *r, int json) {
    size_t p = 0;
    for (size_t i = 0; i < r->n; i++) {
        int64_t x = (int64_t)r->counts[i];
        if (i > 2) x -= (int64_t)r->counts[i - 2];
        for (;;) {
            int c = (int)(x & 0x1f);
            x >>= 5; /* arithmetic shift (floor), as pycocotools' `long` */
            int more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            c += 48;
            if (json && c == '\\') {
                if (p + 1 < cap) dst[p] = '\\';
                p++;
            }
            if (p + 1 < cap) dst[p] = (char)c;
            p++;
            if (!more) break;
        }
    }
    if (cap) dst[p < cap ? p : cap - 1] = 0;
    return p;
}

size_t rfs_rle_string(char *dst, size_t cap, const rfs_rle *r) { return rle_string(dst, cap, r, 0); }

size_t rfs_rle_string_json(char *dst, size_t cap, const rfs_rle *r) {
    return rle_string(dst, cap, r, 1);
}

size_t rfs_rle_string_json_bound(const rfs_rle *r) { return r->n * 14 + 1; }

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
