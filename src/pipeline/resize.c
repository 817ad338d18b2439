/* resize.c - cv2.resize INTER_LINEAR (uint8, 3 channels) and PyTorch bilinear tables.
 *
 * What it reproduces:
 *  - OpenCV 4.x cv::resize(src, dst, dsize) with INTER_LINEAR on CV_8UC3: the fixed-point
 *    path (resizeGeneric_ with HResizeLinear / VResizeLinear, INTER_RESIZE_COEF_BITS = 11):
 *      horizontal  fx = (float)((dx+0.5)*scale_x - 0.5), sx = floor(fx), fx -= sx;
 *                  sx < 0 -> (0, fx=0); sx >= w-1 -> (w-1, fx=0);
 *                  a0 = round((1-fx)*2048), a1 = round(fx*2048) (float math, half-even);
 *                  H = S[sx]*a0 + S[sx+1]*a1 (int32, per channel)
 *      vertical    same for y but fy is never clamped; the two rows are clamped into the
 *                  image, so a border row can be split with itself;
 *      combine     the SIMD formula of VResizeLinearVec_32s8u, which OpenCV 4.6 applies to
 *                  every element of the row (verified: also the tail, see diff_resize.py):
 *                  out = sat_u8((((H0>>4)*b0 >> 16) + ((H1>>4)*b1 >> 16) + 2) >> 2);
 *    plus the two redirects of cv::resize: same size -> copy, exact 2x downscale in both
 *    axes -> INTER_AREA, out = (a+b+c+d+2) >> 2 per 2x2 block. scale_x is 1/(dst/src) in
 *    double, as cv::resize stores inv_scale = dst/src.
 *  - PyTorch (ATen CPU) upsample_bilinear2d (align_corners=False, output size given) and
 *    _upsample_bilinear2d_aa: the per-axis index/weight tables in float32 exactly as
 *    UpSampleKernel.cpp computes them (see rfs_interp_axis_init), applied in ATen's
 *    operation order (w0*s0 + w1*s1 ..., float32, no FMA).
 *  - rfs_resize_aa_f32: the same antialiased filter evaluated in double precision, for the
 *    official rfdetr 1.4.1 preprocess (its reference tensors are float64; ATen's float32
 *    sample positions alone move results by up to 2e-5).
 *  - rfs_bl64_plan: the rfdetr >= 1.9 preprocess resize (antialias=False): ATen's bilinear
 *    taps and float32 weights, each output evaluated in double and rounded once.
 * How it was verified: tests/diff_resize.py runs >= 200 random size pairs (up, down, exact
 * 2x/3x/4x, 1-pixel sides, same size, non-square) against the real cv2.resize (Debian
 * OpenCV 4.6), bit-exact; the float32 tables are checked bit for bit against a numpy
 * transcription of ATen in tests/diff_maskup.py; the double antialiased resize reproduces
 * the rfdetr fixtures' `input` tensors to < 1e-6 (tests/diff_preprocess.py); rfs_bl64_plan
 * equals a numpy float64 evaluation of the same taps bit for bit (tests/diff_rfdetr_predict.py).
 */
#include "pipeline/resize.h"

#include "util/err.h"

#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---- cv2.resize INTER_LINEAR ----------------------------------------------------------- */

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* cvRound of a float: round half to even (the SSE conversion in the default mode). */
static int16_t round_coef(float v) { return (int16_t)lrintf(v); }

rfs_status rfs_resize_plan_init(rfs_resize_plan *p, int src_w, int src_h, int dst_w, int dst_h) {
    memset(p, 0, sizeof *p);
    if (src_w < 1 || src_h < 1 || dst_w < 1 || dst_h < 1)
        return RFS_FAIL(RFS_ERR_ARG, "resize: bad sizes %dx%d -> %dx%d", src_w, src_h, dst_w,
                        dst_h);
    if ((int64_t)dst_w * 3 > INT32_MAX / 4 || (int64_t)src_w * 3 > INT32_MAX / 4)
        return RFS_FAIL(RFS_ERR_LIMIT, "resize: width too large (%d -> %d)", src_w, dst_w);
    p->src_w = src_w, p->src_h = src_h, p->dst_w = dst_w, p->dst_h = dst_h;
    if (src_w == dst_w && src_h == dst_h) {
        p->kind = RFS_RESIZE_COPY;
        return RFS_OK;
    }
    if (src_w == 2 * dst_w && src_h == 2 * dst_h) {
        p->kind = RFS_RESIZE_AREA2X;
        return RFS_OK;
    }
    p->kind = RFS_RESIZE_LINEAR;
    size_t nx = (size_t)dst_w * 2, ny = (size_t)dst_h * 2, row = (size_t)dst_w * 3 + 4;
    size_t bytes = nx * 4 + nx * 2 + ny * 4 + ny * 2 + 2 * row * 4 + 64;
    char *b = rfs_malloc(bytes);
    if (!b) return RFS_ERR_NOMEM;
    p->block = b;
    p->scratch = (int32_t *)b, b += 2 * row * 4;
    p->xofs = (int32_t *)b, b += nx * 4;
    p->yrow = (int32_t *)b, b += ny * 4;
    p->alpha = (int16_t *)b, b += nx * 2;
    p->beta = (int16_t *)b;

    double scale_x = 1.0 / ((double)dst_w / src_w);
    for (int dx = 0; dx < dst_w; dx++) {
        float fx = (float)((dx + 0.5) * scale_x - 0.5);
        int sx = (int)floorf(fx);
        fx -= (float)sx;
        if (sx < 0) sx = 0, fx = 0.f;
        if (sx >= src_w - 1) sx = src_w - 1, fx = 0.f;
        int sx1 = sx + 1 < src_w ? sx + 1 : sx; /* weight 0 when clamped */
        p->xofs[2 * dx] = 3 * sx;
        p->xofs[2 * dx + 1] = 3 * sx1;
        p->alpha[2 * dx] = round_coef((1.f - fx) * 2048.f);
        p->alpha[2 * dx + 1] = round_coef(fx * 2048.f);
        if (sx1 < src_w - 1) p->xsafe = dx + 1; /* 4-byte loads stay inside the row */
    }
    double scale_y = 1.0 / ((double)dst_h / src_h);
    for (int dy = 0; dy < dst_h; dy++) {
        float fy = (float)((dy + 0.5) * scale_y - 0.5);
        int sy = (int)floorf(fy);
        fy -= (float)sy;
        p->yrow[2 * dy] = clampi(sy, 0, src_h - 1);
        p->yrow[2 * dy + 1] = clampi(sy + 1, 0, src_h - 1);
        p->beta[2 * dy] = round_coef((1.f - fy) * 2048.f);
        p->beta[2 * dy + 1] = round_coef(fy * 2048.f);
    }
    return RFS_OK;
}

void rfs_resize_plan_free(rfs_resize_plan *p) {
    if (!p) return;
    free(p->block);
    memset(p, 0, sizeof *p);
}

/* Row buffers: 3 * dst_w values plus slack for the 4-wide stores of the horizontal pass. */
static size_t row_len(const rfs_resize_plan *p) { return (size_t)p->dst_w * 3 + 4; }

size_t rfs_resize_scratch_bytes(const rfs_resize_plan *p) {
    return p->kind == RFS_RESIZE_LINEAR ? row_len(p) * 2 * sizeof(int32_t) : 0;
}

/* Horizontal pass of one source row into int32 (fixed point, x2048). D has one slack
 * element after its 3 * dst_w values. */
static void hpass(const rfs_resize_plan *p, int32_t *restrict D, const uint8_t *restrict S) {
    const int32_t *xofs = p->xofs;
    const int16_t *al = p->alpha;
    int dx = 0;
#if defined(__SSE2__)
    /* per pixel: interleave (s0[k], s1[k]) as int16 pairs, one madd with (a0, a1) pairs gives
     * s0*a0 + s1*a1 for the 3 channels (and a 4th lane of garbage, overwritten next) */
    const __m128i z = _mm_setzero_si128();
    for (; dx < p->xsafe; dx++) {
        uint32_t u0, u1;
        memcpy(&u0, S + xofs[2 * dx], 4);
        memcpy(&u1, S + xofs[2 * dx + 1], 4);
        __m128i v = _mm_unpacklo_epi8(_mm_cvtsi32_si128((int)u0), _mm_cvtsi32_si128((int)u1));
        v = _mm_unpacklo_epi8(v, z);
        uint32_t c;
        memcpy(&c, al + 2 * dx, 4);
        __m128i r = _mm_madd_epi16(v, _mm_set1_epi32((int)c));
        _mm_storeu_si128((__m128i *)(D + 3 * dx), r);
    }
#endif
    for (; dx < p->dst_w; dx++) {
        const uint8_t *s0 = S + xofs[2 * dx], *s1 = S + xofs[2 * dx + 1];
        int a0 = al[2 * dx], a1 = al[2 * dx + 1];
        D[3 * dx + 0] = s0[0] * a0 + s1[0] * a1;
        D[3 * dx + 1] = s0[1] * a0 + s1[1] * a1;
        D[3 * dx + 2] = s0[2] * a0 + s1[2] * a1;
    }
}

/* VResizeLinearVec_32s8u: v_mul_hi on (H >> 4) packed to int16, then rounding shift by 2. */
static void vpass(uint8_t *restrict dst, const int32_t *restrict H0, const int32_t *restrict H1,
                  int b0, int b1, int n) {
    for (int x = 0; x < n; x++) {
        int v = (((H0[x] >> 4) * b0) >> 16) + (((H1[x] >> 4) * b1) >> 16);
        v = (v + 2) >> 2;
        dst[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

void rfs_resize_run_rows(const rfs_resize_plan *p, int32_t *scratch, int y0, int y1,
                         uint8_t *dst, int dst_stride, const uint8_t *src, int src_stride) {
    const int W3 = p->dst_w * 3;
    if (y0 < 0) y0 = 0;
    if (y1 > p->dst_h) y1 = p->dst_h;
    if (p->kind == RFS_RESIZE_COPY) {
        for (int y = y0; y < y1; y++)
            memcpy(dst + (size_t)y * dst_stride, src + (size_t)y * src_stride, (size_t)W3);
        return;
    }
    if (p->kind == RFS_RESIZE_AREA2X) {
        for (int y = y0; y < y1; y++) {
            const uint8_t *a = src + (size_t)(2 * y) * src_stride, *b = a + src_stride;
            uint8_t *d = dst + (size_t)y * dst_stride;
            for (int x = 0; x < p->dst_w; x++)
                for (int k = 0; k < 3; k++) {
                    int i = 6 * x + k;
                    d[3 * x + k] = (uint8_t)((a[i] + a[i + 3] + b[i] + b[i + 3] + 2) >> 2);
                }
        }
        return;
    }
    /* Two cached horizontal rows; source rows only increase with y. */
    int32_t *buf[2] = {scratch, scratch + row_len(p)};
    int have[2] = {-1, -1};
    for (int y = y0; y < y1; y++) {
        int r[2] = {p->yrow[2 * y], p->yrow[2 * y + 1]};
        int slot[2];
        for (int k = 0; k < 2; k++) {
            if (have[0] == r[k]) slot[k] = 0;
            else if (have[1] == r[k]) slot[k] = 1;
            else {
                /* evict the slot that the other row of this pair does not use */
                int s = (k == 1) ? 1 - slot[0] : (have[0] == r[1] ? 1 : 0);
                hpass(p, buf[s], src + (size_t)r[k] * src_stride);
                have[s] = r[k];
                slot[k] = s;
            }
        }
        vpass(dst + (size_t)y * dst_stride, buf[slot[0]], buf[slot[1]], p->beta[2 * y],
              p->beta[2 * y + 1], W3);
    }
}

void rfs_resize_run(rfs_resize_plan *p, uint8_t *dst, int dst_stride, const uint8_t *src,
                    int src_stride) {
    rfs_resize_run_rows(p, p->scratch, 0, p->dst_h, dst, dst_stride, src, src_stride);
}

rfs_status rfs_resize_linear_u8c3(uint8_t *dst, int dst_w, int dst_h, int dst_stride,
                                  const uint8_t *src, int src_w, int src_h, int src_stride) {
    rfs_resize_plan p;
    rfs_status st = rfs_resize_plan_init(&p, src_w, src_h, dst_w, dst_h);
    if (st != RFS_OK) return st;
    rfs_resize_run(&p, dst, dst_stride, src, src_stride);
    rfs_resize_plan_free(&p);
    return RFS_OK;
}

/* ---- resize-mode geometry ------------------------------------------------------------- */

void rfs_letterbox_geometry(rfs_letterbox *g, int w, int h, int tw, int th) {
    const double sw = (double)tw / w, sh = (double)th / h;
    g->scale = sw < sh ? sw : sh;
    g->new_w = (int)(w * g->scale);
    g->new_h = (int)(h * g->scale);
    g->pad_top = (int)((double)(th - g->new_h) / 2);
    g->pad_left = (int)((double)(tw - g->new_w) / 2);
    g->pad_right = tw - g->pad_left - g->new_w;
    g->pad_bottom = th - g->pad_top - g->new_h;
}

void rfs_center_crop_geometry(rfs_center_crop *g, int w, int h, int tw, int th) {
    const int cx = tw > w ? tw - w : 0, cy = th > h ? th - h : 0; /* canvas margins */
    const int ix = w > tw ? w - tw : 0, iy = h > th ? h - th : 0; /* image margins */
    g->dst_x = cx / 2, g->dst_y = cy / 2;
    g->src_x = ix / 2, g->src_y = iy / 2;
    g->copy_w = w - ix, g->copy_h = h - iy;
    g->pad_left = tw > w ? cx / 2 : -(ix / 2);
    g->pad_right = tw > w ? cx - cx / 2 : -(ix - ix / 2);
    g->pad_top = th > h ? cy / 2 : -(iy / 2);
    g->pad_bottom = th > h ? cy - cy / 2 : -(iy - iy / 2);
}

/* Python slice bounds: negative values count from the end, then clamp to [0, n]. */
static int py_slice_bound(int v, int n) {
    if (v < 0) v += n;
    return v < 0 ? 0 : v > n ? n : v;
}

void rfs_static_crop_rect(int r[4], int w, int h, int x_min_pct, int y_min_pct, int x_max_pct,
                          int y_max_pct) {
    r[0] = py_slice_bound((int)((double)x_min_pct / 100.0 * w), w);
    r[1] = py_slice_bound((int)((double)y_min_pct / 100.0 * h), h);
    r[2] = py_slice_bound((int)((double)x_max_pct / 100.0 * w), w);
    r[3] = py_slice_bound((int)((double)y_max_pct / 100.0 * h), h);
    if (r[2] < r[0]) r[2] = r[0];
    if (r[3] < r[1]) r[3] = r[1];
}

/* ---- PyTorch bilinear tables --------------------------------------------------------- */

/* HelperInterpLinear::aa_filter<float>: returns (float)(1.0 - |x|) for |x| < 1. */
static float tri_filter(float x) {
    x = fabsf(x);
    return x < 1.0f ? (float)(1.0 - (double)x) : 0.0f;
}

rfs_status rfs_interp_axis_init(rfs_interp_axis *a, int in, int out, int antialias) {
    memset(a, 0, sizeof *a);
    if (in < 1 || out < 1) return RFS_FAIL(RFS_ERR_ARG, "interp: bad sizes %d -> %d", in, out);
    a->in = in, a->out = out, a->antialias = antialias;
    /* area_pixel_compute_scale<float>: static_cast<float>(in) / out */
    float scale = (float)in / (float)out;
    float support = 1.0f;
    float invscale = 1.0f;
    if (antialias) {
        a->identity = in == out;
        if (scale >= 1.0f) support = (float)(1.0 * (double)scale);
        if (scale >= 1.0f) invscale = (float)(1.0 / (double)scale);
        a->K = (int)ceilf(support) * 2 + 1;
    } else {
        a->K = 2;
    }
    size_t n = (size_t)out * (size_t)a->K;
    a->n = rfs_malloc((size_t)out * sizeof(int));
    a->idx = rfs_malloc(n * sizeof(int));
    a->w = rfs_malloc(n * sizeof(float));
    if (!a->n || !a->idx || !a->w) {
        rfs_interp_axis_free(a);
        return RFS_ERR_NOMEM;
    }
    for (int i = 0; i < out; i++) {
        int *ix = a->idx + (size_t)i * a->K;
        float *w = a->w + (size_t)i * a->K;
        if (!antialias) {
            /* compute_source_index_and_lambda + guard_index_and_lambda (opmath float) */
            if (in == out) {
                ix[0] = ix[1] = i;
                w[0] = 1.0f, w[1] = 0.0f;
            } else {
                float real = scale * ((float)i + 0.5f) - 0.5f;
                if (real < 0.0f) real = 0.0f;
                int64_t i0 = (int64_t)floorf(real);
                if (i0 > in - 1) i0 = in - 1;
                float l1 = real - (float)i0;
                l1 = l1 < 0.0f ? 0.0f : l1;
                l1 = l1 > 1.0f ? 1.0f : l1;
                ix[0] = (int)i0;
                ix[1] = (int)i0 + (i0 < in - 1 ? 1 : 0);
                w[0] = 1.0f - l1;
                w[1] = l1;
            }
            a->n[i] = 2;
            continue;
        }
        /* HelperInterpBase::_compute_indices_min_size_weights_aa<float> */
        float center = (float)((double)scale * (i + 0.5));
        int64_t xmin = (int64_t)((double)(center - support) + 0.5);
        if (xmin < 0) xmin = 0;
        int64_t xmax = (int64_t)((double)(center + support) + 0.5);
        if (xmax > in) xmax = in;
        int64_t xsize = xmax - xmin;
        if (xsize < 0) xsize = 0;
        if (xsize > a->K) xsize = a->K;
        float total = 0.0f;
        for (int j = 0; j < xsize; j++) {
            float d = (float)(j + xmin) - center;
            float wj = tri_filter((float)(((double)d + 0.5) * (double)invscale));
            w[j] = wj;
            total += wj;
        }
        if (total != 0.0f)
            for (int j = 0; j < xsize; j++) w[j] /= total;
        for (int j = 0; j < xsize; j++) ix[j] = (int)xmin + j;
        if (xsize == 0) { /* ATen still reads the first tap, with weight 0 */
            ix[0] = xmin < in ? (int)xmin : in - 1;
            w[0] = 0.0f;
            xsize = 1;
        }
        a->n[i] = (int)xsize;
    }
    return RFS_OK;
}

void rfs_interp_axis_free(rfs_interp_axis *a) {
    if (!a) return;
    free(a->n);
    free(a->idx);
    free(a->w);
    memset(a, 0, sizeof *a);
}

void rfs_interp_row(const rfs_interp_axis *a, float *restrict dst, const float *restrict src,
                    int i0, int i1) {
    const int K = a->K;
    const int *n = a->n;
    for (int i = i0; i < i1; i++) {
        const int *ix = a->idx + (size_t)i * K;
        const float *w = a->w + (size_t)i * K;
        float acc = src[ix[0]] * w[0];
        if (n[i] == 2) {
            acc = src[ix[0]] * w[0] + src[ix[1]] * w[1];
        } else {
            for (int t = 1; t < n[i]; t++) acc += src[ix[t]] * w[t];
        }
        dst[i] = acc;
    }
}

void rfs_interp_col(const rfs_interp_axis *a, int i, float *restrict dst,
                    const float *const *rows, int x0, int x1) {
    const int *ix = a->idx + (size_t)i * a->K;
    const float *w = a->w + (size_t)i * a->K;
    const float *r0 = rows[ix[0]];
    const float w0 = w[0];
    if (a->n[i] == 2) {
        const float *r1 = rows[ix[1]];
        const float w1 = w[1];
        for (int x = x0; x < x1; x++) dst[x] = r0[x] * w0 + r1[x] * w1;
        return;
    }
    for (int x = x0; x < x1; x++) dst[x] = r0[x] * w0;
    for (int t = 1; t < a->n[i]; t++) {
        const float *rt = rows[ix[t]];
        const float wt = w[t];
        for (int x = x0; x < x1; x++) dst[x] += rt[x] * wt;
    }
}

/* ---- antialiased planar resize in double precision --------------------------------- */

/* ATen's _compute_indices_min_size_weights_aa, evaluated in double. */
static rfs_status axis64_init(rfs_aa_axis64 *a, int in, int out) {
    memset(a, 0, sizeof *a);
    if (in < 1 || out < 1) return RFS_FAIL(RFS_ERR_ARG, "aa resize: bad sizes %d -> %d", in, out);
    a->in = in, a->out = out, a->identity = in == out;
    const double scale = (double)in / out;
    const double support = scale >= 1.0 ? scale : 1.0;
    const double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
    a->K = (int)ceil(support) * 2 + 1;
    a->xmin = rfs_malloc((size_t)out * sizeof(int));
    a->n = rfs_malloc((size_t)out * sizeof(int));
    a->w = rfs_malloc((size_t)out * a->K * sizeof(double));
    if (!a->xmin || !a->n || !a->w) return RFS_ERR_NOMEM;
    for (int i = 0; i < out; i++) {
        const double center = scale * (i + 0.5);
        int64_t xmin = (int64_t)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int64_t xmax = (int64_t)(center + support + 0.5);
        if (xmax > in) xmax = in;
        int64_t n = xmax - xmin;
        if (n < 1) n = 1, xmin = xmin < in ? xmin : in - 1;
        if (n > a->K) n = a->K;
        double *w = a->w + (size_t)i * a->K, total = 0.0;
        for (int j = 0; j < n; j++) {
            double t = fabs(((double)(j + xmin) - center + 0.5) * invscale);
            w[j] = t < 1.0 ? 1.0 - t : 0.0;
            total += w[j];
        }
        for (int j = 0; j < n && total != 0.0; j++) w[j] /= total;
        a->xmin[i] = (int)xmin;
        a->n[i] = (int)n;
    }
    return RFS_OK;
}

static void axis64_free(rfs_aa_axis64 *a) {
    free(a->xmin);
    free(a->n);
    free(a->w);
    memset(a, 0, sizeof *a);
}

rfs_status rfs_aa_plan_init(rfs_aa_plan *p, int src_w, int src_h, int dst_w, int dst_h) {
    memset(p, 0, sizeof *p);
    rfs_status st;
    p->src_w = src_w, p->src_h = src_h, p->dst_w = dst_w, p->dst_h = dst_h;
    if ((st = axis64_init(&p->ax, src_w, dst_w)) != RFS_OK) goto fail;
    if ((st = axis64_init(&p->ay, src_h, dst_h)) != RFS_OK) goto fail;
    p->tmp = rfs_malloc((size_t)src_h * dst_w * sizeof(double));
    p->acc = rfs_malloc((size_t)dst_w * sizeof(double));
    if (!p->tmp || !p->acc) {
        st = RFS_ERR_NOMEM;
        goto fail;
    }
    return RFS_OK;
fail:
    rfs_aa_plan_free(p);
    return st;
}

void rfs_aa_plan_free(rfs_aa_plan *p) {
    if (!p) return;
    axis64_free(&p->ax);
    axis64_free(&p->ay);
    free(p->tmp);
    free(p->acc);
    memset(p, 0, sizeof *p);
}

void rfs_aa_run(rfs_aa_plan *p, float *dst, const float *src, int planes) {
    const int sw = p->src_w, sh = p->src_h, dw = p->dst_w, dh = p->dst_h;
    const rfs_aa_axis64 *ax = &p->ax, *ay = &p->ay;
    for (int c = 0; c < planes; c++) {
        const float *s = src + (size_t)c * sw * sh;
        float *d = dst + (size_t)c * dw * dh;
        /* horizontal pass into double rows (a plain conversion when the width is kept) */
        for (int y = 0; y < sh; y++) {
            const float *r = s + (size_t)y * sw;
            double *t = p->tmp + (size_t)y * dw;
            if (ax->identity) {
                for (int x = 0; x < dw; x++) t[x] = r[x];
                continue;
            }
            for (int x = 0; x < dw; x++) {
                const double *w = ax->w + (size_t)x * ax->K;
                const float *q = r + ax->xmin[x];
                double acc = 0.0;
                for (int j = 0; j < ax->n[x]; j++) acc += w[j] * q[j];
                t[x] = acc;
            }
        }
        /* vertical pass */
        for (int y = 0; y < dh; y++) {
            float *o = d + (size_t)y * dw;
            if (ay->identity) {
                const double *t = p->tmp + (size_t)y * dw;
                for (int x = 0; x < dw; x++) o[x] = (float)t[x];
                continue;
            }
            const double *w = ay->w + (size_t)y * ay->K;
            double *acc = p->acc;
            const double *t0 = p->tmp + (size_t)ay->xmin[y] * dw;
            for (int x = 0; x < dw; x++) acc[x] = w[0] * t0[x];
            for (int j = 1; j < ay->n[y]; j++) {
                const double *tj = t0 + (size_t)j * dw;
                const double wj = w[j];
                for (int x = 0; x < dw; x++) acc[x] += wj * tj[x];
            }
            for (int x = 0; x < dw; x++) o[x] = (float)acc[x];
        }
    }
}

rfs_status rfs_resize_aa_f32(float *dst, int dst_w, int dst_h, const float *src, int src_w,
                             int src_h, int planes) {
    rfs_aa_plan p;
    rfs_status st = rfs_aa_plan_init(&p, src_w, src_h, dst_w, dst_h);
    if (st != RFS_OK) return st;
    rfs_aa_run(&p, dst, src, planes);
    rfs_aa_plan_free(&p);
    return RFS_OK;
}

/* ---- bilinear without antialias, evaluated in double --------------------------------- */

static void bl64_axis_free(rfs_bl64_axis *a) {
    free(a->i0);
    free(a->i1);
    free(a->w0);
    free(a->w1);
    memset(a, 0, sizeof *a);
}

static rfs_status bl64_axis_init(rfs_bl64_axis *a, int in, int out) {
    memset(a, 0, sizeof *a);
    rfs_interp_axis t;
    rfs_status st = rfs_interp_axis_init(&t, in, out, 0);
    if (st != RFS_OK) return st;
    a->in = in, a->out = out;
    a->i0 = rfs_malloc((size_t)out * sizeof(int));
    a->i1 = rfs_malloc((size_t)out * sizeof(int));
    a->w0 = rfs_malloc((size_t)out * sizeof(double));
    a->w1 = rfs_malloc((size_t)out * sizeof(double));
    if (!a->i0 || !a->i1 || !a->w0 || !a->w1) {
        rfs_interp_axis_free(&t);
        bl64_axis_free(a);
        return RFS_ERR_NOMEM;
    }
    for (int i = 0; i < out; i++) { /* K = 2: taps 0 and 1 of output i */
        a->i0[i] = t.idx[2 * i], a->i1[i] = t.idx[2 * i + 1];
        a->w0[i] = t.w[2 * i], a->w1[i] = t.w[2 * i + 1];
    }
    rfs_interp_axis_free(&t);
    return RFS_OK;
}

rfs_status rfs_bl64_plan_init(rfs_bl64_plan *p, int src_w, int src_h, int dst_w, int dst_h) {
    memset(p, 0, sizeof *p);
    rfs_status st;
    p->src_w = src_w, p->src_h = src_h, p->dst_w = dst_w, p->dst_h = dst_h;
    if ((st = bl64_axis_init(&p->ax, src_w, dst_w)) != RFS_OK) goto fail;
    if ((st = bl64_axis_init(&p->ay, src_h, dst_h)) != RFS_OK) goto fail;
    if (!(p->tmp = rfs_malloc((size_t)src_h * dst_w * sizeof(double)))) {
        st = RFS_ERR_NOMEM;
        goto fail;
    }
    return RFS_OK;
fail:
    rfs_bl64_plan_free(p);
    return st;
}

void rfs_bl64_plan_free(rfs_bl64_plan *p) {
    if (!p) return;
    bl64_axis_free(&p->ax);
    bl64_axis_free(&p->ay);
    free(p->tmp);
    memset(p, 0, sizeof *p);
}

/* The vertical pass of rfs_bl64_run_u8 from the horizontal values in p->tmp. */
static void bl64_vertical(const rfs_bl64_plan *p, float *d) {
    const int dw = p->dst_w, dh = p->dst_h;
    const rfs_bl64_axis *ay = &p->ay;
    for (int y = 0; y < dh; y++) {
        const double *t0 = p->tmp + (size_t)ay->i0[y] * dw, *t1 = p->tmp + (size_t)ay->i1[y] * dw;
        const double h0 = ay->w0[y], h1 = ay->w1[y];
        float *o = d + (size_t)y * dw;
        for (int x = 0; x < dw; x++) o[x] = (float)(h0 * t0[x] + h1 * t1[x]);
    }
}

void rfs_bl64_run_u8(rfs_bl64_plan *p, float *dst, const uint8_t *pix, int stride, int bgr,
                     const float lut[256]) {
    const int dw = p->dst_w, dh = p->dst_h;
    const rfs_bl64_axis *ax = &p->ax, *ay = &p->ay;
    for (int c = 0; c < 3; c++) {
        const int b = bgr ? 2 - c : c;
        /* horizontal values of the source rows the vertical taps use (each once) */
        for (int y = 0, last = -1; y < dh; y++) {
            const int rows[2] = {ay->i0[y], ay->i1[y]};
            for (int k = 0; k < 2; k++) {
                const int r = rows[k];
                if (r <= last) continue; /* taps never decrease: rows come in order */
                last = r;
                const uint8_t *s = pix + (size_t)r * stride + b;
                double *t = p->tmp + (size_t)r * dw;
                for (int x = 0; x < dw; x++)
                    t[x] = ax->w0[x] * (double)lut[s[3 * ax->i0[x]]] + ax->w1[x] * (double)lut[s[3 * ax->i1[x]]];
            }
        }
        bl64_vertical(p, dst + (size_t)c * dw * dh);
    }
}
