/* contour.c - external contours of a binary mask, as cv2.findContours(RETR_EXTERNAL,
 * CHAIN_APPROX_SIMPLE) returns them, and Roboflow's longest-contour choice.
 *
 * The algorithm is Suzuki & Abe's border following (1985) restricted to outer borders,
 * with the conventions OpenCV's implementation uses; written here from that description:
 *  - the image is padded with one background pixel on every side; set pixels become 1;
 *  - a raster scan remembers the previous pixel value and the last *marked* pixel of the
 *    current row (lnbd). A 0 -> 1 transition starts an outer border, unless the last marked
 *    pixel to its left carries a positive mark (it lies inside an already traced
 *    component: this is how components inside holes are left out). Hole borders are never
 *    traced. Marks: a traced pixel whose east neighbour was examined as background gets
 *    the negative mark, any other traced pixel still at 1 gets the positive mark;
 *  - tracing starts by searching the neighbours clockwise from west (NW, N, NE, E, SE, S,
 *    SW) for the first set pixel i1 (none: an isolated pixel, one point, negative mark),
 *    then repeatedly searches counterclockwise starting just after the pixel it came from,
 *    until it is back at the start about to step to i1;
 *  - CHAIN_APPROX_SIMPLE: a point is emitted whenever the outgoing chain direction differs
 *    from the previous one (the start counts as arriving from i1);
 *  - findContours returns the contours in reverse order of discovery; mask2poly keeps the
 *    one with the most points, the first in that order on a tie.
 * Verified: tests/diff_contours.py compares the full list of external contours and the
 * chosen polygon with the real cv2.findContours (Debian OpenCV 4.6) on > 2000 random masks
 * (blobs, holes, components in holes, thin and diagonal lines, single pixels, border
 * contact, checkerboards, noise of several densities, 1x1 to 200x300), bit-exact.
 */
#include "pipeline/contour.h"

#include "util/err.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum { PIX_SET = 1, MARK_POS = 2, MARK_NEG = -2 };

rfs_status rfs_ivec_reserve(rfs_ivec *a, size_t cap) {
    if (cap <= a->cap) return RFS_OK;
    size_t c = a->cap ? a->cap : 64;
    while (c < cap) c *= 2;
    int *v = rfs_realloc(a->v, c * sizeof(int));
    if (!v) return RFS_ERR_NOMEM;
    a->v = v;
    a->cap = c;
    return RFS_OK;
}

void rfs_ivec_free(rfs_ivec *a) {
    if (!a) return;
    free(a->v);
    memset(a, 0, sizeof *a);
}

void rfs_contour_ctx_free(rfs_contour_ctx *c) {
    if (!c) return;
    free(c->img);
    rfs_ivec_free(&c->tmp);
    memset(c, 0, sizeof *c);
}

/* Chain directions: 0 E, 1 NE, 2 N, 3 NW, 4 W, 5 SW, 6 S, 7 SE (y grows downwards). */
static const int k_dx[8] = {1, 1, 0, -1, -1, -1, 0, 1};
static const int k_dy[8] = {0, -1, -1, -1, 0, 1, 1, 1};

static inline rfs_status push_pt(rfs_ivec *a, int x, int y) {
    if (a->n + 2 > a->cap && rfs_ivec_reserve(a, a->n + 2) != RFS_OK) return RFS_ERR_NOMEM;
    a->v[a->n++] = x;
    a->v[a->n++] = y;
    return RFS_OK;
}

/* Traces the outer border starting at img[i0] (padded coordinates px, py), marking it, and
 * appends the CHAIN_APPROX_SIMPLE points (shifted by ox, oy) to out. */
static rfs_status trace(int8_t *img, const int delta[16], size_t i0, int px, int py, int ox,
                        int oy, rfs_ivec *out) {
    int s = 4, s_end = 4;
    size_t i1;
    do {
        s = (s - 1) & 7;
        i1 = i0 + delta[s];
    } while (img[i1] == 0 && s != s_end);
    if (s == s_end) { /* isolated pixel */
        img[i0] = MARK_NEG;
        return push_pt(out, px + ox, py + oy);
    }
    size_t i3 = i0, i4 = i0;
    int prev_s = s ^ 4;
    for (;;) {
        s_end = s;
        while (s < 15) {
            i4 = i3 + delta[++s];
            if (img[i4] != 0) break;
        }
        s &= 7;
        if ((unsigned)(s - 1) < (unsigned)s_end) img[i3] = MARK_NEG; /* east was background */
        else if (img[i3] == PIX_SET) img[i3] = MARK_POS;
        if (s != prev_s) {
            if (push_pt(out, px + ox, py + oy) != RFS_OK) return RFS_ERR_NOMEM;
            prev_s = s;
        }
        px += k_dx[s];
        py += k_dy[s];
        if (i4 == i0 && i3 == i1) break;
        i3 = i4;
        s = (s + 4) & 7;
    }
    return RFS_OK;
}

/* dst[i] = src[i] != 0. */
static void copy_binary(int8_t *dst, const uint8_t *src, int n) {
    int i = 0;
#if defined(__SSE2__)
    const __m128i z = _mm_setzero_si128(), one = _mm_set1_epi8(1);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(src + i));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_andnot_si128(_mm_cmpeq_epi8(v, z), one));
    }
#endif
    const uint64_t lo7 = 0x7f7f7f7f7f7f7f7full, ones = 0x0101010101010101ull;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w = ((((w & lo7) + lo7) | w) >> 7) & ones;
        memcpy(dst + i, &w, 8);
    }
    for (; i < n; i++) dst[i] = src[i] != 0;
}

/* First x in [x, end) with row[x] != v; end when none. The row buffer has 16 bytes of
 * readable slack after every row end. */
static inline int skip_equal(const int8_t *row, int x, int end, int8_t v) {
#if defined(__SSE2__)
    const __m128i pat = _mm_set1_epi8(v);
    while (x < end) {
        __m128i d = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(row + x)), pat);
        unsigned ne = ~(unsigned)_mm_movemask_epi8(d) & 0xffffu;
        if (ne) {
            x += __builtin_ctz(ne);
            return x < end ? x : end;
        }
        x += 16;
    }
    return end;
#else
    for (; x < end; x++)
        if (row[x] != v) return x;
    return end;
#endif
}

typedef enum { WANT_LONGEST, WANT_ALL } want_t;

static rfs_status find(rfs_contour_ctx *ctx, const rfs_mask *m, want_t want, rfs_ivec *out,
                       rfs_ivec *lens) {
    out->n = 0;
    if (lens) lens->n = 0;
    if (!m || m->w <= 0 || m->h <= 0 || !m->data) return RFS_OK;
    const int w = m->w, h = m->h, S = w + 2;
    if ((int64_t)S * (h + 2) > ((int64_t)1 << 31))
        return RFS_FAIL(RFS_ERR_LIMIT, "contour: mask rectangle %dx%d too large", w, h);
    size_t need = (size_t)S * (h + 2) + 32;
    if (need > ctx->img_cap) {
        free(ctx->img);
        ctx->img = rfs_malloc(need);
        if (!ctx->img) {
            ctx->img_cap = 0;
            return RFS_ERR_NOMEM;
        }
        ctx->img_cap = need;
    }
    int8_t *img = ctx->img;
    memset(img, 0, (size_t)S); /* top border row */
    for (int y = 0; y < h; y++) {
        int8_t *r = img + (size_t)(y + 1) * S;
        const uint8_t *src = m->data + (size_t)y * w;
        r[0] = 0;
        copy_binary(r + 1, src, w);
        r[w + 1] = 0;
    }
    memset(img + (size_t)(h + 1) * S, 0, (size_t)S + 32); /* bottom border row + slack */

    int delta[16];
    for (int k = 0; k < 8; k++) delta[k] = delta[k + 8] = k_dx[k] + k_dy[k] * S;
    const int ox = m->x0 - 1, oy = m->y0 - 1;

    rfs_ivec *cur = want == WANT_LONGEST ? &ctx->tmp : out;
    int have_best = 0;
    for (int y = 1; y <= h; y++) {
        int8_t *row = img + (size_t)y * S;
        int8_t prev = 0;
        int lnbd = 0; /* column of the last marked pixel met in this row (0: the border) */
        int x = 1;
        for (;;) {
            x = skip_equal(row, x, w + 1, prev);
            if (x >= w + 1) break;
            int8_t p = row[x];
            if (prev == 0 && p == PIX_SET) {
                if (row[lnbd] > 0) goto resume; /* inside a traced component */
                size_t start = want == WANT_LONGEST ? 0 : out->n;
                if (want == WANT_LONGEST) cur->n = 0;
                if (trace(img, delta, (size_t)y * S + x, x, y, ox, oy, cur) != RFS_OK)
                    return RFS_ERR_NOMEM;
                if (want == WANT_LONGEST) {
                    if (!have_best || cur->n >= out->n) { /* later wins ties */
                        rfs_ivec t = *out;
                        *out = *cur;
                        *cur = t;
                        have_best = 1;
                    }
                } else {
                    if (rfs_ivec_reserve(lens, lens->n + 1) != RFS_OK) return RFS_ERR_NOMEM;
                    lens->v[lens->n++] = (int)((out->n - start) / 2);
                }
                lnbd = x;
                prev = row[x];
                x++;
                continue;
            }
            if (p == 0 && prev >= 1 && (prev & -2)) lnbd = x - 1; /* hole start: not traced */
        resume:
            prev = p;
            if (p & -2) lnbd = x;
            x++;
        }
    }

    if (want == WANT_ALL && lens->n > 1) { /* OpenCV returns the newest contour first */
        rfs_ivec *t = &ctx->tmp;
        if (rfs_ivec_reserve(t, out->n) != RFS_OK) return RFS_ERR_NOMEM;
        memcpy(t->v, out->v, out->n * sizeof(int));
        size_t src = out->n, dst = 0;
        for (size_t i = lens->n; i-- > 0;) {
            size_t len = (size_t)lens->v[i] * 2;
            src -= len;
            memcpy(out->v + dst, t->v + src, len * sizeof(int));
            dst += len;
        }
        for (size_t i = 0, j = lens->n - 1; i < j; i++, j--) {
            int v = lens->v[i];
            lens->v[i] = lens->v[j];
            lens->v[j] = v;
        }
    }
    return RFS_OK;
}

rfs_status rfs_contour_longest(rfs_ivec *out, rfs_contour_ctx *ctx, const rfs_mask *m) {
    return find(ctx, m, WANT_LONGEST, out, NULL);
}

rfs_status rfs_contour_external(rfs_ivec *pts, rfs_ivec *lens, rfs_contour_ctx *ctx,
                                const rfs_mask *m) {
    return find(ctx, m, WANT_ALL, pts, lens);
}
