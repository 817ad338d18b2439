/* maskup.c - mask logits -> binary frame-size mask rectangle (see maskup.h).
 *
 * Reproduces: ATen CPU float32 upsample_bilinear2d (align_corners=False, size given; the
 * generic kernel: out = (s00*wx0 + s01*wx1)*wy0 + (s10*wx0 + s11*wx1)*wy1, which is what
 * a separable horizontal-then-vertical evaluation computes operation for operation) and
 * _upsample_bilinear2d_aa (separable, horizontal first, float32 accumulation in tap
 * order), then `> 0`. The tables come from resize.c (rfs_interp_axis).
 * Verified (tests/diff_maskup.py): bit-exact against a numpy float32 transcription of the
 * same ATen formulas on random logit maps and frame sizes (up and down, both variants),
 * the skipped region provably zero (dense evaluation compared too); and variant
 * BILINEAR against the official PostProcess masks of the fixtures
 * (post_masks_top5_packbits, computed by PyTorch in float64): differing pixels only where
 * |logit| < 1e-4, at most 1e-4 of the pixels.
 * Note: ATen uses a different (channels-last, combined-weight) kernel when
 * out_h + out_w <= 128; frames that small are not reproduced bit for bit.
 */
#include "pipeline/maskup.h"

#include "util/err.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* o[x] = value(x) > 0 for x in [0, n), where value(x) is r0[x] (taps 0), r0[x]*w0
 * (taps 1), r0[x]*w0 + r1[x]*w1 (taps 2) or that + r2[x]*w2 (taps 3), evaluated in ATen's
 * order (products rounded, then summed left to right). Sets the first and last x that are
 * set (-1 when none). Inlined with a constant `taps` so each variant is a tight loop. */
static inline __attribute__((always_inline)) void
row_threshold_n(uint8_t *o, const float *r0, const float *r1, const float *r2, const float *w,
                int n, int taps, int *first, int *last) {
    int f = -1, l = -1, x = 0;
#if defined(__SSE2__)
    const __m128 z = _mm_setzero_ps();
    const __m128 w0 = _mm_set1_ps(taps >= 1 ? w[0] : 1.0f);
    const __m128 w1 = _mm_set1_ps(taps >= 2 ? w[1] : 0.0f);
    const __m128 w2 = _mm_set1_ps(taps >= 3 ? w[2] : 0.0f);
    const __m128i one = _mm_set1_epi8(1);
    for (; x + 16 <= n; x += 16) {
        __m128i m[4];
        for (int k = 0; k < 4; k++) {
            const int i = x + 4 * k;
            __m128 v = _mm_loadu_ps(r0 + i);
            if (taps >= 1) v = _mm_mul_ps(v, w0);
            if (taps >= 2) v = _mm_add_ps(v, _mm_mul_ps(_mm_loadu_ps(r1 + i), w1));
            if (taps >= 3) v = _mm_add_ps(v, _mm_mul_ps(_mm_loadu_ps(r2 + i), w2));
            m[k] = _mm_castps_si128(_mm_cmpgt_ps(v, z));
        }
        __m128i b = _mm_packs_epi16(_mm_packs_epi32(m[0], m[1]), _mm_packs_epi32(m[2], m[3]));
        _mm_storeu_si128((__m128i *)(o + x), _mm_and_si128(b, one));
        unsigned bits = (unsigned)_mm_movemask_epi8(b);
        if (bits) {
            if (f < 0) f = x + __builtin_ctz(bits);
            l = x + 31 - __builtin_clz(bits);
        }
    }
#endif
    for (; x < n; x++) {
        float v = r0[x];
        if (taps >= 1) v = r0[x] * w[0];
        if (taps >= 2) v += r1[x] * w[1];
        if (taps >= 3) v += r2[x] * w[2];
        o[x] = v > 0.0f;
        if (o[x]) {
            if (f < 0) f = x;
            l = x;
        }
    }
    *first = f, *last = l;
}

static void row_threshold(uint8_t *o, const float *const r[3], const float *w, int n, int taps,
                          int *first, int *last) {
    switch (taps) {
    case 0: row_threshold_n(o, r[0], NULL, NULL, NULL, n, 0, first, last); break;
    case 1: row_threshold_n(o, r[0], NULL, NULL, w, n, 1, first, last); break;
    case 2: row_threshold_n(o, r[0], r[1], NULL, w, n, 2, first, last); break;
    default: row_threshold_n(o, r[0], r[1], r[2], w, n, 3, first, last); break;
    }
}

rfs_status rfs_maskup_plan_init(rfs_maskup_plan *p, int in_w, int in_h, int out_w, int out_h,
                                rfs_maskup_mode mode) {
    memset(p, 0, sizeof *p);
    rfs_status st;
    if (in_w < 1 || in_h < 1 || out_w < 1 || out_h < 1)
        return RFS_FAIL(RFS_ERR_ARG, "maskup: bad sizes %dx%d -> %dx%d", in_w, in_h, out_w,
                        out_h);
    if ((int64_t)out_w * out_h > ((int64_t)1 << 31))
        return RFS_FAIL(RFS_ERR_LIMIT, "maskup: frame %dx%d too large", out_w, out_h);
    p->in_w = in_w, p->in_h = in_h, p->out_w = out_w, p->out_h = out_h, p->mode = mode;
    int aa = mode == RFS_MASKUP_AA;
    if ((st = rfs_interp_axis_init(&p->ax, in_w, out_w, aa)) != RFS_OK) goto fail;
    if ((st = rfs_interp_axis_init(&p->ay, in_h, out_h, aa)) != RFS_OK) goto fail;
    p->xcov = rfs_malloc((size_t)in_w * 2 * sizeof(int));
    p->ycov = rfs_malloc((size_t)in_h * 2 * sizeof(int));
    if (!p->xcov || !p->ycov) {
        st = RFS_ERR_NOMEM;
        goto fail;
    }
    /* Coverage: for each input index, the output range whose taps include it. */
    const rfs_interp_axis *axes[2] = {&p->ax, &p->ay};
    int *cov[2] = {p->xcov, p->ycov};
    for (int d = 0; d < 2; d++) {
        const rfs_interp_axis *a = axes[d];
        int *c = cov[d];
        for (int j = 0; j < a->in; j++) c[2 * j] = a->out, c[2 * j + 1] = 0;
        for (int i = 0; i < a->out; i++) {
            int n = a->identity ? 1 : a->n[i];
            for (int t = 0; t < n; t++) {
                int j = a->identity ? i : a->idx[(size_t)i * a->K + t];
                if (i < c[2 * j]) c[2 * j] = i;
                if (i + 1 > c[2 * j + 1]) c[2 * j + 1] = i + 1;
            }
        }
    }
    return RFS_OK;
fail:
    rfs_maskup_plan_free(p);
    return st;
}

void rfs_maskup_plan_free(rfs_maskup_plan *p) {
    if (!p) return;
    rfs_interp_axis_free(&p->ax);
    rfs_interp_axis_free(&p->ay);
    free(p->xcov);
    free(p->ycov);
    memset(p, 0, sizeof *p);
}

rfs_status rfs_maskup_scratch_init(rfs_maskup_scratch *s, const rfs_maskup_plan *p) {
    memset(s, 0, sizeof *s);
    s->hbuf = rfs_malloc((size_t)p->in_h * p->out_w * sizeof(float));
    s->rows = rfs_malloc((size_t)p->in_h * sizeof(float *));
    s->hdone = rfs_calloc((size_t)p->in_h, sizeof(unsigned));
    s->rpos = rfs_malloc((size_t)p->in_h);
    s->cpos = rfs_malloc((size_t)p->in_w);
    s->vrow = rfs_malloc((size_t)p->out_w * sizeof(float));
    s->out = rfs_malloc((size_t)p->out_w * p->out_h);
    if (!s->hbuf || !s->rows || !s->hdone || !s->rpos || !s->cpos || !s->vrow || !s->out) {
        rfs_maskup_scratch_free(s);
        return RFS_ERR_NOMEM;
    }
    for (int r = 0; r < p->in_h; r++) s->rows[r] = s->hbuf + (size_t)r * p->out_w;
    return RFS_OK;
}

void rfs_maskup_scratch_free(rfs_maskup_scratch *s) {
    if (!s) return;
    free(s->hbuf);
    free((void *)s->rows);
    free(s->hdone);
    free(s->rpos);
    free(s->cpos);
    free(s->vrow);
    free(s->out);
    memset(s, 0, sizeof *s);
}

/* Output row y's taps (the identity axis reads row y itself). */
static int row_taps(const rfs_interp_axis *a, int y, const int **idx) {
    if (a->identity) {
        *idx = NULL;
        return 1;
    }
    *idx = a->idx + (size_t)y * a->K;
    return a->n[y];
}

void rfs_maskup_run(const rfs_maskup_plan *p, rfs_maskup_scratch *s, const float *logits,
                    rfs_mask *out) {
    const int iw = p->in_w, ih = p->in_h;
    memset(out, 0, sizeof *out);

    /* 1. which input rows / columns hold a positive logit */
    int any = 0;
    memset(s->cpos, 0, (size_t)iw);
    for (int r = 0; r < ih; r++) {
        const float *l = logits + (size_t)r * iw;
        unsigned char rp = 0;
        for (int c = 0; c < iw; c++) {
            unsigned char pos = l[c] > 0.0f;
            s->cpos[c] |= pos;
            rp |= pos;
        }
        s->rpos[r] = rp;
        any |= rp;
    }
    if (!any) return;

    /* 2. the output window that can be positive */
    int X0 = p->out_w, X1 = 0, Y0 = p->out_h, Y1 = 0;
    for (int c = 0; c < iw; c++)
        if (s->cpos[c]) {
            if (p->xcov[2 * c] < X0) X0 = p->xcov[2 * c];
            if (p->xcov[2 * c + 1] > X1) X1 = p->xcov[2 * c + 1];
        }
    for (int r = 0; r < ih; r++)
        if (s->rpos[r]) {
            if (p->ycov[2 * r] < Y0) Y0 = p->ycov[2 * r];
            if (p->ycov[2 * r + 1] > Y1) Y1 = p->ycov[2 * r + 1];
        }
    if (X0 >= X1 || Y0 >= Y1) return;
    const int ww = X1 - X0;

    /* 3. rows: horizontal pass on demand, vertical pass, threshold, running bbox */
    if (++s->gen == 0) { /* wrapped: forget every row */
        memset(s->hdone, 0, (size_t)ih * sizeof(unsigned));
        s->gen = 1;
    }
    int bx0 = X1, bx1 = X0 - 1, by0 = -1, by1 = -1;
    for (int y = Y0; y < Y1; y++) {
        uint8_t *o = s->out + (size_t)(y - Y0) * ww;
        const int *idx;
        int n = row_taps(&p->ay, y, &idx);
        int live = 0;
        for (int t = 0; t < n; t++) live |= s->rpos[idx ? idx[t] : y];
        if (!live) {
            memset(o, 0, (size_t)ww);
            continue;
        }
        for (int t = 0; t < n; t++) {
            int r = idx ? idx[t] : y;
            if (s->hdone[r] != s->gen) {
                float *h = s->hbuf + (size_t)r * p->out_w;
                if (p->ax.identity) memcpy(h + X0, logits + (size_t)r * iw + X0, (size_t)ww * 4);
                else rfs_interp_row(&p->ax, h, logits + (size_t)r * iw, X0, X1);
                s->hdone[r] = s->gen;
            }
        }
        int first, last;
        const float *r[3] = {NULL, NULL, NULL};
        if (p->ay.identity) { /* the horizontal result is the output */
            r[0] = s->rows[y] + X0;
            row_threshold(o, r, NULL, ww, 0, &first, &last);
        } else if (n <= 3) { /* fused vertical pass and threshold */
            for (int t = 0; t < n; t++) r[t] = s->rows[idx[t]] + X0;
            row_threshold(o, r, p->ay.w + (size_t)y * p->ay.K, ww, n, &first, &last);
        } else {
            rfs_interp_col(&p->ay, y, s->vrow, s->rows, X0, X1);
            r[0] = s->vrow + X0;
            row_threshold(o, r, NULL, ww, 0, &first, &last);
        }
        if (first < 0) continue;
        first += X0, last += X0;
        if (first < bx0) bx0 = first;
        if (last > bx1) bx1 = last;
        if (by0 < 0) by0 = y;
        by1 = y;
    }
    if (by0 < 0) return;

    /* 4. compact to the tight rectangle (rows move forward only: in place is safe) */
    const int w = bx1 - bx0 + 1, h = by1 - by0 + 1;
    for (int y = 0; y < h; y++)
        memmove(s->out + (size_t)y * w, s->out + (size_t)(y + by0 - Y0) * ww + (bx0 - X0),
                (size_t)w);
    out->x0 = bx0, out->y0 = by0, out->w = w, out->h = h;
    out->data = s->out;
}

rfs_status rfs_maskup_dense(float *dst, const rfs_maskup_plan *p, const float *logits) {
    const int iw = p->in_w, ih = p->in_h, ow = p->out_w;
    float *hb = rfs_malloc((size_t)ih * ow * sizeof(float));
    const float **rows = rfs_malloc((size_t)ih * sizeof(float *));
    if (!hb || !rows) {
        free(hb);
        free((void *)rows);
        return RFS_ERR_NOMEM;
    }
    for (int r = 0; r < ih; r++) {
        rows[r] = hb + (size_t)r * ow;
        if (p->ax.identity) memcpy(hb + (size_t)r * ow, logits + (size_t)r * iw, (size_t)ow * 4);
        else rfs_interp_row(&p->ax, hb + (size_t)r * ow, logits + (size_t)r * iw, 0, ow);
    }
    for (int y = 0; y < p->out_h; y++) {
        if (p->ay.identity) memcpy(dst + (size_t)y * ow, rows[y], (size_t)ow * 4);
        else rfs_interp_col(&p->ay, y, dst + (size_t)y * ow, rows, 0, ow);
    }
    free(hb);
    free((void *)rows);
    return RFS_OK;
}
