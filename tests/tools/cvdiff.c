/* cvdiff - drives the pipeline building blocks for the Python differential tests
 * (tests/diff_*.py). Binary records on stdin, binary results on stdout, little-endian
 * int32 headers; one process handles a whole batch.
 *
 *   cvdiff resize        in: {sw sh dw dh} + sw*sh*3 bytes        out: dw*dh*3 bytes
 *   cvdiff contours      in: {x0 y0 w h} + w*h bytes
 *                        out: {ncontours} {len[i]...} {points...} {nbest} {points...}
 *   cvdiff rle           in: {W H x0 y0 w h} + w*h bytes
 *                        out: {len} + chars, {len} + JSON-escaped chars
 *   cvdiff maskup        in: {mode in_w in_h out_w out_h dense} + floats
 *                        out: {x0 y0 w h} + w*h bytes [+ out_h*out_w floats if dense]
 *   cvdiff fmt           in: doubles                              out: one repr per line
 *   cvdiff fmtjson       in: doubles                              out: one per line
 *   cvdiff escape        in: {len} + bytes                        out: {len} + bytes
 *   cvdiff uuid N        out: N lines
 *   cvdiff rfdetr R w h bgr     in: w*h*3 bytes (rfdetr 1.4.1)    out: 3*R*R floats
 *   cvdiff roboflow R w h [rgb] in: w*h*3 BGR (or RGB) bytes      out: 3*R*R floats
 *   cvdiff letterbox R w h pad  in: w*h*3 BGR bytes      out: {6 ints: geometry} 3*R*R floats
 *   cvdiff centercrop R w h     in: w*h*3 BGR bytes      out: {4 ints: pads} 3*R*R floats
 *   cvdiff staticcrop w h x0 y0 x1 y1 (percent)           out: text "x0 y0 x1 y1"
 *   cvdiff bench         timings of the per-detection stages on 1080p masks (text)
 */
#include "pipeline/contour.h"
#include "pipeline/fmt.h"
#include "pipeline/maskup.h"
#include "pipeline/preprocess.h"
#include "pipeline/resize.h"
#include "pipeline/rle.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *msg) {
    fprintf(stderr, "cvdiff: %s (%s)\n", msg, rfs_last_error());
    exit(2);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

/* Reads exactly n bytes; returns 0 at a clean EOF before the first byte. */
static int rd(void *dst, size_t n) {
    size_t got = fread(dst, 1, n, stdin);
    if (got == n) return 1;
    if (got == 0 && feof(stdin)) return 0;
    die("truncated input");
    return 0;
}

static void wr(const void *src, size_t n) {
    if (!n) return;
    if (fwrite(src, 1, n, stdout) != n) die("write failed");
}

static void wr_i32(int32_t v) { wr(&v, 4); }

static int cmd_resize(void) {
    int32_t h[4];
    while (rd(h, sizeof h)) {
        size_t sn = (size_t)h[0] * h[1] * 3, dn = (size_t)h[2] * h[3] * 3;
        uint8_t *src = xmalloc(sn), *dst = xmalloc(dn);
        if (sn && !rd(src, sn)) die("missing pixels");
        if (rfs_resize_linear_u8c3(dst, h[2], h[3], 3 * h[2], src, h[0], h[1], 3 * h[0]) != RFS_OK)
            die("resize failed");
        wr(dst, dn);
        free(src);
        free(dst);
    }
    return 0;
}

static int read_mask(rfs_mask *m, uint8_t **buf) {
    int32_t h[4];
    if (!rd(h, sizeof h)) return 0;
    m->x0 = h[0], m->y0 = h[1], m->w = h[2], m->h = h[3];
    size_t n = (size_t)m->w * m->h;
    *buf = xmalloc(n);
    if (n && !rd(*buf, n)) die("missing mask bytes");
    m->data = n ? *buf : NULL;
    return 1;
}

static int cmd_contours(void) {
    rfs_contour_ctx cx = {0};
    rfs_ivec pts = {0}, lens = {0}, best = {0};
    rfs_mask m;
    uint8_t *buf;
    while (read_mask(&m, &buf)) {
        if (rfs_contour_external(&pts, &lens, &cx, &m) != RFS_OK) die("contours failed");
        if (rfs_contour_longest(&best, &cx, &m) != RFS_OK) die("longest failed");
        wr_i32((int32_t)lens.n);
        for (size_t i = 0; i < lens.n; i++) wr_i32(lens.v[i]);
        for (size_t i = 0; i < pts.n; i++) wr_i32(pts.v[i]);
        wr_i32((int32_t)(best.n / 2));
        for (size_t i = 0; i < best.n; i++) wr_i32(best.v[i]);
        free(buf);
    }
    rfs_ivec_free(&pts);
    rfs_ivec_free(&lens);
    rfs_ivec_free(&best);
    rfs_contour_ctx_free(&cx);
    return 0;
}

static int cmd_rle(void) {
    rfs_rle r = {0}, back = {0};
    int32_t fr[2];
    while (rd(fr, sizeof fr)) {
        rfs_mask m;
        uint8_t *buf;
        if (!read_mask(&m, &buf)) die("missing mask");
        if (rfs_rle_counts(&r, &m, fr[0], fr[1]) != RFS_OK) die("rle failed");
        size_t cap = rfs_rle_string_bound(&r);
        char *s = xmalloc(cap);
        size_t len = rfs_rle_string(s, cap, &r);
        if (len + 1 > cap) die("rle bound too small");
        /* round trip through the parser */
        if (rfs_rle_parse(&back, s, len, (uint64_t)fr[0] * fr[1]) != RFS_OK) die("rle parse failed");
        if (back.n != r.n || memcmp(back.counts, r.counts, r.n * 4)) die("rle parse mismatch");
        wr_i32((int32_t)len);
        wr(s, len);
        size_t capj = rfs_rle_string_json_bound(&r);
        char *sj = xmalloc(capj);
        size_t lenj = rfs_rle_string_json(sj, capj, &r);
        if (lenj + 1 > capj) die("rle json bound too small");
        wr_i32((int32_t)lenj);
        wr(sj, lenj);
        free(sj);
        free(s);
        free(buf);
    }
    rfs_rle_free(&r);
    rfs_rle_free(&back);
    return 0;
}

static int cmd_maskup(void) {
    int32_t h[6];
    while (rd(h, sizeof h)) {
        rfs_maskup_plan p;
        rfs_maskup_scratch s;
        size_t n = (size_t)h[1] * h[2];
        float *lg = xmalloc(n * 4);
        if (!rd(lg, n * 4)) die("missing logits");
        if (rfs_maskup_plan_init(&p, h[1], h[2], h[3], h[4], (rfs_maskup_mode)h[0]) != RFS_OK)
            die("maskup plan");
        if (rfs_maskup_scratch_init(&s, &p) != RFS_OK) die("maskup scratch");
        rfs_mask m;
        rfs_maskup_run(&p, &s, lg, &m);
        wr_i32(m.x0), wr_i32(m.y0), wr_i32(m.w), wr_i32(m.h);
        wr(m.data, (size_t)m.w * m.h);
        if (h[5]) {
            float *d = xmalloc((size_t)h[3] * h[4] * 4);
            if (rfs_maskup_dense(d, &p, lg) != RFS_OK) die("dense");
            wr(d, (size_t)h[3] * h[4] * 4);
            free(d);
        }
        rfs_maskup_scratch_free(&s);
        rfs_maskup_plan_free(&p);
        free(lg);
    }
    return 0;
}

static int cmd_fmt(int json) {
    double v;
    char b[RFS_FMT_DOUBLE_MAX];
    while (rd(&v, 8)) {
        int n = json ? rfs_fmt_json_double(b, v) : rfs_fmt_double(b, v);
        b[n] = '\n';
        wr(b, (size_t)n + 1);
    }
    return 0;
}

static int cmd_escape(void) {
    int32_t n;
    while (rd(&n, 4)) {
        char *s = xmalloc((size_t)n), *d = xmalloc(rfs_json_escape_bound((size_t)n) + 1);
        if (n && !rd(s, (size_t)n)) die("missing string");
        size_t len = rfs_json_escape(d, s, (size_t)n);
        wr_i32((int32_t)len);
        wr(d, len);
        free(s);
        free(d);
    }
    return 0;
}

static int cmd_uuid(int n) {
    char u[37];
    for (int i = 0; i < n; i++) {
        rfs_uuid4(u);
        u[36] = '\n';
        wr(u, 37);
    }
    return 0;
}

static int cmd_pre(int rfdetr, int R, int w, int h, int bgr) {
    size_t n = (size_t)w * h * 3;
    uint8_t *pix = xmalloc(n);
    if (!rd(pix, n)) die("missing pixels");
    float *out = xmalloc((size_t)3 * R * R * 4);
    rfs_preprocess_ctx ctx = {0};
    rfs_status st = rfdetr ? rfs_preprocess_rfdetr14(out, R, pix, w, h, 3 * w, bgr, &ctx)
                    : bgr  ? rfs_preprocess_roboflow(out, R, pix, w, h, 3 * w, &ctx)
                           : rfs_preprocess_roboflow_rgb(out, R, pix, w, h, 3 * w, &ctx);
    if (st != RFS_OK) die("preprocess failed");
    wr(out, (size_t)3 * R * R * 4);
    rfs_preprocess_ctx_free(&ctx);
    free(pix);
    free(out);
    return 0;
}

static int cmd_modes(int letterbox, int R, int w, int h, float pad) {
    size_t n = (size_t)w * h * 3;
    uint8_t *pix = xmalloc(n);
    if (!rd(pix, n)) die("missing pixels");
    float *out = xmalloc((size_t)3 * R * R * 4);
    if (letterbox) {
        rfs_letterbox g;
        rfs_preprocess_ctx ctx = {0};
        if (rfs_preprocess_roboflow_letterbox(out, R, pix, w, h, 3 * w, pad, &ctx, &g) != RFS_OK)
            die("letterbox failed");
        int32_t geo[6] = {g.new_w, g.new_h, g.pad_left, g.pad_top, g.pad_right, g.pad_bottom};
        wr(geo, sizeof geo);
        rfs_preprocess_ctx_free(&ctx);
    } else {
        rfs_center_crop g;
        if (rfs_preprocess_roboflow_center_crop(out, R, pix, w, h, 3 * w, &g) != RFS_OK)
            die("center crop failed");
        int32_t pads[4] = {g.pad_left, g.pad_top, g.pad_right, g.pad_bottom};
        wr(pads, sizeof pads);
    }
    wr(out, (size_t)3 * R * R * 4);
    free(pix);
    free(out);
    return 0;
}

/* ---- bench --------------------------------------------------------------------------- */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* CPU time: this VM steals a lot */
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmd_bench(void) {
    const int W = 1920, H = 1080, S = 78;
    /* logits of a blob: an ellipse of radius rx, ry (in mask cells) at (cx, cy) with a
     * smooth falloff, so the upsampled mask is a realistic object of ~300x400 pixels */
    float *lg = xmalloc((size_t)S * S * 4);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            float dx = (x - 30.f) / 8.f, dy = (y - 40.f) / 14.f;
            lg[y * S + x] = 4.f * (1.f - sqrtf(dx * dx + dy * dy)) + 0.7f * sinf(x * 1.3f + y);
        }
    rfs_maskup_mode modes[2] = {RFS_MASKUP_BILINEAR, RFS_MASKUP_AA};
    for (int mi = 0; mi < 2; mi++) {
        rfs_maskup_plan p;
        rfs_maskup_scratch s;
        if (rfs_maskup_plan_init(&p, S, S, W, H, modes[mi]) != RFS_OK) die("plan");
        if (rfs_maskup_scratch_init(&s, &p) != RFS_OK) die("scratch");
        rfs_mask m;
        int reps = 200;
        double t0 = now();
        for (int i = 0; i < reps; i++) rfs_maskup_run(&p, &s, lg, &m);
        double t1 = now();
        long set = 0;
        for (long i = 0; i < (long)m.w * m.h; i++) set += m.data[i];
        printf("maskup %-8s 78x78 -> 1920x1080: %.1f us/mask (rect %dx%d, %ld px set)\n",
               mi ? "aa" : "bilinear", 1e6 * (t1 - t0) / reps, m.w, m.h, set);
        if (mi == 1) {
            uint8_t *copy = xmalloc((size_t)m.w * m.h);
            memcpy(copy, m.data, (size_t)m.w * m.h);
            rfs_mask mc = m;
            mc.data = copy;
            rfs_contour_ctx cx = {0};
            rfs_ivec poly = {0};
            t0 = now();
            for (int i = 0; i < reps; i++) rfs_contour_longest(&poly, &cx, &mc);
            t1 = now();
            printf("contour longest on that mask: %.1f us/mask (%zu points)\n",
                   1e6 * (t1 - t0) / reps, poly.n / 2);
            rfs_rle r = {0};
            char *str = NULL;
            size_t len = 0;
            t0 = now();
            for (int i = 0; i < reps; i++) {
                rfs_rle_counts(&r, &mc, W, H);
                size_t cap = rfs_rle_string_bound(&r);
                if (!str) str = xmalloc(1 << 20);
                if (cap > (1 << 20)) die("rle too long");
                len = rfs_rle_string(str, cap, &r);
            }
            t1 = now();
            printf("rle counts+string on that mask: %.1f us/mask (%zu runs, %zu chars)\n",
                   1e6 * (t1 - t0) / reps, r.n, len);
            free(str);
            rfs_rle_free(&r);
            rfs_ivec_free(&poly);
            rfs_contour_ctx_free(&cx);
            free(copy);
        }
        rfs_maskup_scratch_free(&s);
        rfs_maskup_plan_free(&p);
    }
    /* resize 1080p -> 312 and preprocess */
    uint8_t *img = xmalloc((size_t)W * H * 3);
    for (size_t i = 0; i < (size_t)W * H * 3; i++) img[i] = (uint8_t)(i * 2654435761u >> 13);
    float *net = xmalloc((size_t)3 * 312 * 312 * 4);
    rfs_preprocess_ctx ctx = {0};
    rfs_preprocess_roboflow(net, 312, img, W, H, 3 * W, &ctx);
    int reps = 50;
    double t0 = now();
    for (int i = 0; i < reps; i++) rfs_preprocess_roboflow(net, 312, img, W, H, 3 * W, &ctx);
    double t1 = now();
    printf("preprocess roboflow 1920x1080 -> 312: %.0f us/frame\n", 1e6 * (t1 - t0) / reps);
    rfs_preprocess_rfdetr14(net, 312, img, W, H, 3 * W, 1, &ctx);
    reps = 5;
    t0 = now();
    for (int i = 0; i < reps; i++) rfs_preprocess_rfdetr14(net, 312, img, W, H, 3 * W, 1, &ctx);
    t1 = now();
    printf("preprocess rfdetr 1920x1080 -> 312: %.0f us/frame\n", 1e6 * (t1 - t0) / reps);
    rfs_preprocess_ctx_free(&ctx);
    /* float formatting */
    char b[RFS_FMT_DOUBLE_MAX];
    int n = 1000000;
    volatile int sink = 0;
    t0 = now();
    for (int i = 0; i < n; i++) sink += rfs_fmt_double(b, (double)(float)(0.4 + 0.6 * i / n));
    t1 = now();
    printf("fmt_double float32 confidences: %.0f ns/value\n", 1e9 * (t1 - t0) / n);
    t0 = now();
    for (int i = 0; i < n; i++) sink += rfs_fmt_double(b, (double)(i % 1920));
    t1 = now();
    printf("fmt_double integer coordinates: %.0f ns/value\n", 1e9 * (t1 - t0) / n);
    char u[37];
    t0 = now();
    for (int i = 0; i < n; i++) rfs_uuid4(u);
    t1 = now();
    printf("uuid4: %.0f ns/uuid\n", 1e9 * (t1 - t0) / n);
    (void)sink;
    free(img);
    free(net);
    free(lg);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: cvdiff resize|contours|rle|maskup|fmt|fmtjson|escape|uuid N|"
                        "rfdetr R w h bgr|roboflow R w h|bench\n");
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "resize")) return cmd_resize();
    if (!strcmp(c, "contours")) return cmd_contours();
    if (!strcmp(c, "rle")) return cmd_rle();
    if (!strcmp(c, "maskup")) return cmd_maskup();
    if (!strcmp(c, "fmt")) return cmd_fmt(0);
    if (!strcmp(c, "fmtjson")) return cmd_fmt(1);
    if (!strcmp(c, "escape")) return cmd_escape();
    if (!strcmp(c, "uuid") && argc > 2) return cmd_uuid(atoi(argv[2]));
    if (!strcmp(c, "rfdetr") && argc > 5)
        return cmd_pre(1, atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (!strcmp(c, "roboflow") && argc > 4)
        return cmd_pre(0, atoi(argv[2]), atoi(argv[3]), atoi(argv[4]),
                       !(argc > 5 && !strcmp(argv[5], "rgb")));
    if (!strcmp(c, "letterbox") && argc > 5)
        return cmd_modes(1, atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), (float)atof(argv[5]));
    if (!strcmp(c, "centercrop") && argc > 4)
        return cmd_modes(0, atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), 0.f);
    if (!strcmp(c, "staticcrop") && argc > 7) {
        int r[4];
        rfs_static_crop_rect(r, atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
                             atoi(argv[6]), atoi(argv[7]));
        printf("%d %d %d %d\n", r[0], r[1], r[2], r[3]);
        return 0;
    }
    if (!strcmp(c, "bench")) return cmd_bench();
    fprintf(stderr, "cvdiff: unknown command %s\n", c);
    return 2;
}
