/* test_pipeline_units - hand-checked cases for the pipeline building blocks (resize,
 * maskup, contour, rle, fmt, preprocess). The differential tests against cv2 / Python are
 * tests/diff_*.py; these pin the documented behaviours with values worked out by hand or
 * printed by Python / OpenCV 4.6. */
#include "harness.h"
#include "pipeline/contour.h"
#include "pipeline/fmt.h"
#include "pipeline/maskup.h"
#include "pipeline/preprocess.h"
#include "pipeline/resize.h"
#include "pipeline/rle.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- resize ------------------------------------------------------------------------------ */

TEST(resize_copy_and_area2x) {
    uint8_t src[4 * 2 * 3], dst[4 * 2 * 3];
    for (int i = 0; i < 24; i++) src[i] = (uint8_t)(i * 11);
    CHECK(rfs_resize_linear_u8c3(dst, 4, 2, 12, src, 4, 2, 12) == RFS_OK);
    CHECK(memcmp(src, dst, 24) == 0);
    /* exact 2x: (a + b + c + d + 2) >> 2 per channel */
    uint8_t d2[2 * 1 * 3];
    CHECK(rfs_resize_linear_u8c3(d2, 2, 1, 6, src, 4, 2, 12) == RFS_OK);
    for (int x = 0; x < 2; x++)
        for (int k = 0; k < 3; k++) {
            int a = src[6 * x + k], b = src[6 * x + 3 + k], c = src[12 + 6 * x + k],
                d = src[12 + 6 * x + 3 + k];
            CHECKF(d2[3 * x + k] == (a + b + c + d + 2) >> 2, "x %d k %d: %d", x, k, d2[3 * x + k]);
        }
}

TEST(resize_constant_and_rows) {
    /* any size pair keeps a constant image constant (coefficients sum to 2048 +- 1, the
     * combine rounds) */
    int sizes[][4] = {{7, 5, 13, 3}, {1, 1, 9, 4}, {640, 480, 312, 312}, {3, 300, 1, 1}, {5, 5, 17, 23}};
    for (int t = 0; t < 5; t++) {
        int sw = sizes[t][0], sh = sizes[t][1], dw = sizes[t][2], dh = sizes[t][3];
        uint8_t *s = malloc((size_t)sw * sh * 3), *d = malloc((size_t)dw * dh * 3);
        memset(s, 200, (size_t)sw * sh * 3);
        CHECK(rfs_resize_linear_u8c3(d, dw, dh, 3 * dw, s, sw, sh, 3 * sw) == RFS_OK);
        int bad = 0;
        for (int i = 0; i < dw * dh * 3; i++) bad += d[i] != 200;
        CHECKF(bad == 0, "%dx%d -> %dx%d: %d values off", sw, sh, dw, dh, bad);
        free(s);
        free(d);
    }
    /* row ranges with separate scratch give the same bytes as one run */
    int sw = 37, sh = 29, dw = 53, dh = 41;
    uint8_t *s = malloc((size_t)sw * sh * 3), *a = malloc((size_t)dw * dh * 3),
            *b = malloc((size_t)dw * dh * 3);
    for (int i = 0; i < sw * sh * 3; i++) s[i] = (uint8_t)(i * 2654435761u >> 24);
    rfs_resize_plan p;
    CHECK(rfs_resize_plan_init(&p, sw, sh, dw, dh) == RFS_OK);
    rfs_resize_run(&p, a, 3 * dw, s, 3 * sw);
    int32_t *scr = malloc(rfs_resize_scratch_bytes(&p));
    rfs_resize_run_rows(&p, scr, 20, dh, b, 3 * dw, s, 3 * sw);
    rfs_resize_run_rows(&p, scr, 0, 20, b, 3 * dw, s, 3 * sw);
    CHECK(memcmp(a, b, (size_t)dw * dh * 3) == 0);
    rfs_resize_plan_free(&p);
    rfs_resize_plan_free(&p); /* twice is fine */
    CHECK(rfs_resize_plan_init(&p, 0, 5, 3, 3) == RFS_ERR_ARG);
    free(scr);
    free(s);
    free(a);
    free(b);
}

TEST(interp_axes) {
    rfs_interp_axis a;
    /* no antialias, same size: taps (i, i) with weights (1, 0), as ATen computes them */
    CHECK(rfs_interp_axis_init(&a, 5, 5, 0) == RFS_OK);
    CHECK(a.K == 2 && a.idx[6] == 3 && a.idx[7] == 3 && a.w[6] == 1.0f && a.w[7] == 0.0f);
    rfs_interp_axis_free(&a);
    /* no antialias, 2x up: output 0 -> source -0.25 clamped to 0 */
    CHECK(rfs_interp_axis_init(&a, 4, 8, 0) == RFS_OK);
    CHECK(a.idx[0] == 0 && a.idx[1] == 1 && a.w[0] == 1.0f && a.w[1] == 0.0f);
    CHECK(a.idx[2] == 0 && a.idx[3] == 1 && a.w[2] == 0.75f && a.w[3] == 0.25f);
    CHECK(a.idx[14] == 3 && a.idx[15] == 3); /* last output: both taps on the last pixel */
    rfs_interp_axis_free(&a);
    /* antialias, 3x down: 7 taps of the widened triangle, normalised */
    CHECK(rfs_interp_axis_init(&a, 9, 3, 1) == RFS_OK);
    CHECK(a.K == 7 && !a.identity);
    float sum = 0;
    for (int t = 0; t < a.n[1]; t++) sum += a.w[a.K + t];
    CHECKF(fabsf(sum - 1.0f) < 1e-6f, "sum %g", sum);
    rfs_interp_axis_free(&a);
    CHECK(rfs_interp_axis_init(&a, 6, 6, 1) == RFS_OK && a.identity);
    rfs_interp_axis_free(&a);
}

/* ---- maskup -------------------------------------------------------------------------------- */

TEST(maskup_basic) {
    float lg[4 * 4];
    rfs_maskup_plan p;
    rfs_maskup_scratch s;
    rfs_mask m;
    CHECK(rfs_maskup_plan_init(&p, 4, 4, 40, 20, RFS_MASKUP_AA) == RFS_OK);
    CHECK(rfs_maskup_scratch_init(&s, &p) == RFS_OK);
    for (int i = 0; i < 16; i++) lg[i] = -1.0f;
    rfs_maskup_run(&p, &s, lg, &m);
    CHECK(m.w == 0 && m.h == 0 && m.data == NULL);
    for (int i = 0; i < 16; i++) lg[i] = 2.0f;
    rfs_maskup_run(&p, &s, lg, &m);
    CHECK(m.x0 == 0 && m.y0 == 0 && m.w == 40 && m.h == 20);
    int all = 1;
    for (int i = 0; i < 800; i++) all &= m.data[i] == 1;
    CHECK(all);
    /* one positive cell (row 1, col 2) among -1: the set pixels are inside that cell's
     * footprint and the rectangle is tight */
    for (int i = 0; i < 16; i++) lg[i] = -1.0f;
    lg[1 * 4 + 2] = 5.0f;
    rfs_maskup_run(&p, &s, lg, &m);
    CHECK(m.w > 0 && m.h > 0);
    CHECKF(m.x0 >= 15 && m.x0 + m.w <= 35 && m.y0 >= 0 && m.y0 + m.h <= 15, "rect %d,%d %dx%d",
           m.x0, m.y0, m.w, m.h);
    int top = 0, bottom = 0, left = 0, right = 0;
    for (int x = 0; x < m.w; x++) top |= m.data[x], bottom |= m.data[(m.h - 1) * m.w + x];
    for (int y = 0; y < m.h; y++) left |= m.data[y * m.w], right |= m.data[y * m.w + m.w - 1];
    CHECK(top && bottom && left && right);
    /* the dense evaluation agrees */
    float *d = malloc(40 * 20 * sizeof(float));
    CHECK(rfs_maskup_dense(d, &p, lg) == RFS_OK);
    int bad = 0;
    for (int y = 0; y < 20; y++)
        for (int x = 0; x < 40; x++) {
            int in = x >= m.x0 && x < m.x0 + m.w && y >= m.y0 && y < m.y0 + m.h;
            int set = in && m.data[(y - m.y0) * m.w + (x - m.x0)];
            bad += set != (d[y * 40 + x] > 0.0f);
        }
    CHECK(bad == 0);
    free(d);
    rfs_maskup_scratch_free(&s);
    rfs_maskup_plan_free(&p);
    rfs_maskup_scratch_free(&s);
    CHECK(rfs_maskup_plan_init(&p, 4, 4, 0, 10, RFS_MASKUP_AA) == RFS_ERR_ARG);
}

/* ---- contours ------------------------------------------------------------------------------ */

static int poly_is(const rfs_ivec *v, const int *xy, int n) {
    if (v->n != (size_t)(2 * n)) return 0;
    return memcmp(v->v, xy, (size_t)n * 2 * sizeof(int)) == 0;
}

/* Builds a rectangle mask from rows of '#' (set) and '.' */
static rfs_mask mask_from(const char *const *rows, int h, int x0, int y0, uint8_t *buf) {
    int w = (int)strlen(rows[0]);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) buf[y * w + x] = rows[y][x] == '#';
    rfs_mask m = {x0, y0, w, h, buf};
    return m;
}

TEST(contour_shapes) {
    rfs_contour_ctx cx = {0};
    rfs_ivec poly = {0}, pts = {0}, lens = {0};
    uint8_t buf[256];
    /* filled square at (1,1)..(3,3) of the frame: starts top-left, runs down the left side */
    const char *sq[] = {"###", "###", "###"};
    rfs_mask m = mask_from(sq, 3, 1, 1, buf);
    CHECK(rfs_contour_longest(&poly, &cx, &m) == RFS_OK);
    int sq_pts[] = {1, 1, 1, 3, 3, 3, 3, 1};
    CHECK(poly_is(&poly, sq_pts, 4));
    /* diamond: top, left, bottom, right */
    const char *dia[] = {"..#..", ".###.", "#####", ".###.", "..#.."};
    m = mask_from(dia, 5, 0, 0, buf);
    CHECK(rfs_contour_longest(&poly, &cx, &m) == RFS_OK);
    int dia_pts[] = {2, 0, 0, 2, 2, 4, 4, 2};
    CHECK(poly_is(&poly, dia_pts, 4));
    /* single pixel -> 1 point; a horizontal line -> its 2 end points */
    const char *px[] = {"#"};
    m = mask_from(px, 1, 7, 9, buf);
    CHECK(rfs_contour_longest(&poly, &cx, &m) == RFS_OK);
    int px_pts[] = {7, 9};
    CHECK(poly_is(&poly, px_pts, 1));
    const char *ln[] = {"#####"};
    m = mask_from(ln, 1, 2, 0, buf);
    CHECK(rfs_contour_longest(&poly, &cx, &m) == RFS_OK);
    int ln_pts[] = {2, 0, 6, 0};
    CHECK(poly_is(&poly, ln_pts, 2));
    /* empty */
    rfs_mask e = {0, 0, 0, 0, NULL};
    CHECK(rfs_contour_longest(&poly, &cx, &e) == RFS_OK && poly.n == 0);
    /* a 1-pixel ring with a pixel inside its hole: only the ring (RETR_EXTERNAL) */
    const char *ring[] = {"#####", "#...#", "#.#.#", "#...#", "#####"};
    m = mask_from(ring, 5, 0, 0, buf);
    CHECK(rfs_contour_external(&pts, &lens, &cx, &m) == RFS_OK);
    CHECK(lens.n == 1 && lens.v[0] == 4);
    /* two equal squares: OpenCV lists the later-found (lower) one first and argmax keeps
     * it */
    const char *two[] = {"##...", "##...", ".....", "...##", "...##"};
    m = mask_from(two, 5, 10, 20, buf);
    CHECK(rfs_contour_external(&pts, &lens, &cx, &m) == RFS_OK);
    CHECK(lens.n == 2 && lens.v[0] == 4 && lens.v[1] == 4);
    CHECK(pts.v[0] == 13 && pts.v[1] == 23); /* first listed contour starts at (13, 23) */
    CHECK(rfs_contour_longest(&poly, &cx, &m) == RFS_OK);
    int two_pts[] = {13, 23, 13, 24, 14, 24, 14, 23};
    CHECK(poly_is(&poly, two_pts, 4));
    /* nonzero bytes other than 1 count as set */
    for (int i = 0; i < 25; i++) buf[i] *= 255;
    CHECK(rfs_contour_longest(&poly, &cx, &m) == RFS_OK);
    CHECK(poly_is(&poly, two_pts, 4));
    rfs_ivec_free(&poly);
    rfs_ivec_free(&pts);
    rfs_ivec_free(&lens);
    rfs_contour_ctx_free(&cx);
    rfs_contour_ctx_free(&cx);
}

/* ---- RLE ----------------------------------------------------------------------------------- */

TEST(rle_known) {
    rfs_rle r = {0};
    char s[64];
    /* 3x3 frame, centre pixel: column-major runs 4, 1, 4 */
    uint8_t one = 1;
    rfs_mask m = {1, 1, 1, 1, &one};
    CHECK(rfs_rle_counts(&r, &m, 3, 3) == RFS_OK);
    CHECK(r.n == 3 && r.counts[0] == 4 && r.counts[1] == 1 && r.counts[2] == 4);
    CHECK(rfs_rle_string(s, sizeof s, &r) == 3 && strcmp(s, "414") == 0);
    /* empty and full frames */
    rfs_mask e = {0, 0, 0, 0, NULL};
    CHECK(rfs_rle_counts(&r, &e, 4, 5) == RFS_OK && r.n == 1 && r.counts[0] == 20);
    uint8_t full[20];
    memset(full, 1, sizeof full);
    rfs_mask f = {0, 0, 4, 5, full};
    CHECK(rfs_rle_counts(&r, &f, 4, 5) == RFS_OK && r.n == 2 && r.counts[0] == 0 &&
          r.counts[1] == 20);
    /* string encoding: counts 10, 5, 20, 3 -> ':' '5' "d0" (20 needs a continuation) and
     * 3 - 5 = -2 -> 'N' (negative delta from the fourth count on) */
    uint32_t c4[] = {10, 5, 20, 3};
    r.n = 0;
    for (int i = 0; i < 4; i++) r.counts[r.n++] = c4[i];
    CHECK(rfs_rle_string(s, sizeof s, &r) == 5 && strcmp(s, ":5d0N") == 0);
    /* snprintf semantics */
    char small[3];
    CHECK(rfs_rle_string(small, sizeof small, &r) == 5 && strcmp(small, ":5") == 0);
    CHECK(rfs_rle_parse(&r, ":5d0N", 5, 38) == RFS_OK && r.n == 4 && r.counts[3] == 3);
    CHECK(rfs_rle_parse(&r, ":5d0N", 5, 37) == RFS_ERR_FORMAT);
    CHECK(rfs_rle_parse(&r, ":5d", 3, 0) == RFS_ERR_FORMAT);  /* truncated */
    CHECK(rfs_rle_parse(&r, ":5\x7f", 3, 0) == RFS_ERR_FORMAT); /* bad character */
    /* a rectangle outside the frame is refused */
    rfs_mask bad = {3, 0, 2, 1, full};
    CHECK(rfs_rle_counts(&r, &bad, 4, 5) == RFS_ERR_ARG);
    rfs_rle_free(&r);
    rfs_rle_free(&r);
}

/* ---- fmt ----------------------------------------------------------------------------------- */

TEST(fmt_repr) {
    struct {
        double v;
        const char *s;
    } t[] = {{63.0, "63.0"},
             {0.9527000188827515, "0.9527000188827515"},
             {(double)0.9527f, "0.9527000188827515"},
             {1e-05, "1e-05"},
             {0.0001, "0.0001"},
             {1e16, "1e+16"},
             {9999999999999998.0, "9999999999999998.0"},
             {125.5, "125.5"},
             {-0.0, "-0.0"},
             {0.0, "0.0"},
             {0.1, "0.1"},
             {1.0 / 3.0, "0.3333333333333333"},
             {5e-324, "5e-324"},
             {1.7976931348623157e308, "1.7976931348623157e+308"},
             {1e22, "1e+22"},
             {1.5e-07, "1.5e-07"},
             {123456789.0, "123456789.0"},
             {-2.5, "-2.5"},
             {2.2250738585072014e-308, "2.2250738585072014e-308"},
             {INFINITY, "inf"},
             {-INFINITY, "-inf"},
             {NAN, "nan"}};
    char b[RFS_FMT_DOUBLE_MAX];
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int n = rfs_fmt_double(b, t[i].v);
        CHECKF(strcmp(b, t[i].s) == 0 && n == (int)strlen(t[i].s), "%.17g: got %s want %s",
               t[i].v, b, t[i].s);
    }
    CHECK(rfs_fmt_json_double(b, NAN) == 4 && strcmp(b, "null") == 0);
    CHECK(rfs_fmt_json_double(b, 0.5) == 3 && strcmp(b, "0.5") == 0);
}

TEST(fmt_strings) {
    char d[64];
    size_t n = rfs_json_escape(d, "a\"b\\c\n\x01\x7f/", 9);
    CHECK(n == 17 && memcmp(d, "a\\\"b\\\\c\\n\\u0001\x7f/", n) == 0);
    n = rfs_json_escape(d, "caf\xc3\xa9", 5); /* valid UTF-8 passes through */
    CHECK(n == 5 && memcmp(d, "caf\xc3\xa9", 5) == 0);
    n = rfs_json_escape(d, "a\xff" "b\xc3", 4); /* invalid bytes -> U+FFFD each */
    CHECK(n == 8 && memcmp(d, "a\xef\xbf\xbd" "b\xef\xbf\xbd", 8) == 0);
    CHECK(rfs_utf8_valid("caf\xc3\xa9", 5) == 1);
    CHECK(rfs_utf8_valid("\xed\xa0\x80", 3) == 0); /* surrogate */
    CHECK(rfs_utf8_valid("\xc0\x80", 2) == 0);     /* overlong */
    CHECK(rfs_utf8_valid("\xf4\x90\x80\x80", 4) == 0);
    char u1[37], u2[37];
    rfs_uuid4(u1);
    rfs_uuid4(u2);
    CHECK(strlen(u1) == 36 && u1[8] == '-' && u1[13] == '-' && u1[18] == '-' && u1[23] == '-');
    CHECK(u1[14] == '4' && strchr("89ab", u1[19]) != NULL);
    CHECK(strcmp(u1, u2) != 0);
}

/* ---- preprocess ---------------------------------------------------------------------------- */

TEST(preprocess_constant) {
    const int w = 50, h = 30, R = 16;
    uint8_t *img = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h; i++) img[3 * i] = 10, img[3 * i + 1] = 120, img[3 * i + 2] = 250;
    float *out = malloc((size_t)3 * R * R * sizeof(float));
    rfs_preprocess_ctx ctx = {0};
    /* roboflow: BGR input, RGB planes, u8 * float32(1/255), (x - mean) / std in float32 */
    CHECK(rfs_preprocess_roboflow(out, R, img, w, h, 3 * w, &ctx) == RFS_OK);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    const int bgr[3] = {10, 120, 250};
    for (int c = 0; c < 3; c++) {
        float want = ((float)bgr[2 - c] * 0.0039215688593685627f - mean[c]) / sd[c];
        CHECKF(out[c * R * R + 77] == want, "c %d: %.9g vs %.9g", c, out[c * R * R + 77], want);
    }
    /* rfdetr with RGB input: u8 / 255, normalised, resized (a constant stays constant) */
    CHECK(rfs_preprocess_rfdetr(out, R, img, w, h, 3 * w, 0, &ctx) == RFS_OK);
    for (int c = 0; c < 3; c++) {
        float want = ((float)bgr[c] / 255.0f - mean[c]) / sd[c];
        CHECKF(fabsf(out[c * R * R + 200] - want) < 1e-6f, "c %d: %.9g vs %.9g", c,
               out[c * R * R + 200], want);
    }
    CHECK(rfs_preprocess_rfdetr(out, R, img, w, h, 3 * w - 1, 0, NULL) == RFS_ERR_ARG);
    rfs_preprocess_ctx_free(&ctx);
    rfs_preprocess_ctx_free(&ctx);
    free(img);
    free(out);
}

int main(void) {
    RUN(resize_copy_and_area2x);
    RUN(resize_constant_and_rows);
    RUN(interp_axes);
    RUN(maskup_basic);
    RUN(contour_shapes);
    RUN(rle_known);
    RUN(fmt_repr);
    RUN(fmt_strings);
    RUN(preprocess_constant);
    return test_summary();
}
