/* resize.h - bit-exact image resizers of the two reference pipelines.
 *
 * 1. OpenCV cv2.resize(img, (dst_w, dst_h)) with the default INTER_LINEAR on 8-bit
 *    3-channel images (the Roboflow R1 preprocess, roboflow-pipeline.md 1.3), reproduced
 *    bit for bit: 11-bit fixed-point horizontal coefficients, unclamped vertical border
 *    weights, the SIMD combine formula, the exact-2x INTER_AREA redirect, same-size copy.
 *
 *        rfs_resize_plan p;
 *        rfs_resize_plan_init(&p, src_w, src_h, 312, 312);   // once per source size
 *        rfs_resize_run(&p, dst, 3 * 312, src, src_stride);   // per frame, no allocation
 *        rfs_resize_plan_free(&p);
 *
 * 2. PyTorch interpolate(mode="bilinear", align_corners=False) on float32, with and
 *    without antialias, as per-axis tap tables (rfs_interp_axis) bit-exact to ATen's CPU
 *    kernels; they drive the mask upsampling (maskup.h).
 * 3. The resizes of the official rfdetr preprocess, on float32 planes: antialiased
 *    (rfdetr 1.4.1, rfs_aa_plan: ATen's filter evaluated in double precision) and plain
 *    bilinear without antialias (rfdetr >= 1.9, rfs_bl64_plan: ATen's taps and float32
 *    weights, each output evaluated in double and rounded once to float32).
 */
#ifndef RFS_PIPELINE_RESIZE_H
#define RFS_PIPELINE_RESIZE_H

#include "rfseg.h"
#include <stddef.h>
#include <stdint.h>

/* ---- cv2.resize INTER_LINEAR, uint8, 3 channels ---------------------------------------- */

typedef enum rfs_resize_kind {
    RFS_RESIZE_COPY = 0,   /* same size: cv::resize copies */
    RFS_RESIZE_AREA2X = 1, /* exact 2x downscale in both axes: cv::resize uses INTER_AREA */
    RFS_RESIZE_LINEAR = 2, /* the fixed-point bilinear path */
} rfs_resize_kind;

typedef struct rfs_resize_plan {
    int src_w, src_h, dst_w, dst_h;
    rfs_resize_kind kind;
    int32_t *xofs;    /* [dst_w * 2] byte offsets (3 * column) of the two source pixels */
    int xsafe;        /* outputs [0, xsafe) read no pixel of the last source column */
    int16_t *alpha;   /* [dst_w * 2] horizontal coefficients, sum ~2048 */
    int32_t *yrow;    /* [dst_h * 2] the two source rows, clamped to the image */
    int16_t *beta;    /* [dst_h * 2] vertical coefficients (border weights unclamped) */
    int32_t *scratch; /* the plan's own row buffers for rfs_resize_run */
    void *block;      /* one allocation holding all of the above */
} rfs_resize_plan;

/* Builds the tables for one (source size, destination size) pair. Sizes must be >= 1. */
rfs_status rfs_resize_plan_init(rfs_resize_plan *p, int src_w, int src_h, int dst_w, int dst_h);
void rfs_resize_plan_free(rfs_resize_plan *p);

/* Resizes one frame with the plan's own scratch (one thread at a time per plan). */
void rfs_resize_run(rfs_resize_plan *p, uint8_t *dst, int dst_stride, const uint8_t *src,
                    int src_stride);

/* Destination rows [y0, y1) only, with caller scratch of rfs_resize_scratch_bytes(p): lets
 * several threads share one plan, each with its own scratch and row range. */
size_t rfs_resize_scratch_bytes(const rfs_resize_plan *p);
void rfs_resize_run_rows(const rfs_resize_plan *p, int32_t *scratch, int y0, int y1,
                         uint8_t *dst, int dst_stride, const uint8_t *src, int src_stride);

/* One-shot convenience (allocates a temporary plan). */
rfs_status rfs_resize_linear_u8c3(uint8_t *dst, int dst_w, int dst_h, int dst_stride,
                                  const uint8_t *src, int src_w, int src_h, int src_stride);

/* ---- Roboflow geometry for the other resize modes (roboflow-pipeline.md 1.4) ------------- */

/* letterbox: scale = min(tw/w, th/h) (double), new size int(w*scale) x int(h*scale)
 * (truncated), pad_left = int((tw - new_w) / 2), pad_top likewise, right/bottom the rest. */
typedef struct rfs_letterbox {
    double scale;
    int new_w, new_h;
    int pad_left, pad_top, pad_right, pad_bottom;
} rfs_letterbox;
void rfs_letterbox_geometry(rfs_letterbox *g, int w, int h, int tw, int th);

/* center-crop onto a tw x th canvas: the centred part of the image (floor halves) is
 * copied to the centred place of the canvas; the reported pads are the canvas margins
 * when the canvas is larger in that axis, else minus the cropped image margins. */
typedef struct rfs_center_crop {
    int src_x, src_y;   /* first copied image pixel */
    int dst_x, dst_y;   /* where it lands on the canvas */
    int copy_w, copy_h; /* size of the copied block */
    int pad_left, pad_top, pad_right, pad_bottom; /* as Roboflow's metadata reports them */
} rfs_center_crop;
void rfs_center_crop_geometry(rfs_center_crop *g, int w, int h, int tw, int th);

/* static crop from the package's percentages: x_min = int(x_min_pct / 100 * w), etc.
 * (then clamped into the image as Python slicing does); writes [x0, x1) x [y0, y1). */
void rfs_static_crop_rect(int r[4], int w, int h, int x_min_pct, int y_min_pct, int x_max_pct,
                          int y_max_pct);

/* ---- PyTorch bilinear interpolation tables (float32) ------------------------------------ */

/* One axis: output i reads taps idx[i*K + t] with weights w[i*K + t] for t < n[i] and
 * computes w0*s0, then += w_t*s_t in tap order (float32), as ATen does.
 *   antialias = 0: upsample_bilinear2d, align_corners=False, size given (2 taps, the
 *                  second may repeat the first at the edge, lambdas unclamped floats).
 *   antialias = 1: _upsample_bilinear2d_aa (triangle filter widened by the scale when
 *                  shrinking, weights normalised, out-of-image taps dropped).
 * identity is set when in == out and ATen skips the axis entirely (antialias only). */
typedef struct rfs_interp_axis {
    int in, out, K;
    int antialias;
    int identity;
    int *n;   /* [out] */
    int *idx; /* [out * K] */
    float *w; /* [out * K] */
} rfs_interp_axis;

rfs_status rfs_interp_axis_init(rfs_interp_axis *a, int in, int out, int antialias);
void rfs_interp_axis_free(rfs_interp_axis *a);

/* dst[i] = taps of src along a contiguous row (the horizontal pass), i in [i0, i1). */
void rfs_interp_row(const rfs_interp_axis *a, float *dst, const float *src, int i0, int i1);
/* The vertical pass for output row i: dst[x] = sum_t w_t * rows[idx_t][x] for x in
 * [x0, x1), where rows[r] points at intermediate row r. */
void rfs_interp_col(const rfs_interp_axis *a, int i, float *dst, const float *const *rows,
                    int x0, int x1);

/* Antialiased bilinear resize of `planes` contiguous float32 planes (CHW), horizontal
 * pass first then vertical, each skipped when its size does not change (ATen's order and
 * filter), computed in double precision: the official preprocess that the fixtures hold
 * was evaluated in float64, and ATen's float32 version differs from it by up to 2e-5
 * because its sample positions (scale * (i + 0.5)) are single precision. */
typedef struct rfs_aa_axis64 {
    int in, out, K, identity;
    int *xmin, *n; /* [out] */
    double *w;     /* [out * K] */
} rfs_aa_axis64;

typedef struct rfs_aa_plan {
    int src_w, src_h, dst_w, dst_h;
    rfs_aa_axis64 ax, ay;
    double *tmp; /* [src_h * dst_w] horizontal pass */
    double *acc; /* [dst_w] */
} rfs_aa_plan;

rfs_status rfs_aa_plan_init(rfs_aa_plan *p, int src_w, int src_h, int dst_w, int dst_h);
void rfs_aa_plan_free(rfs_aa_plan *p);
void rfs_aa_run(rfs_aa_plan *p, float *dst, const float *src, int planes);
rfs_status rfs_resize_aa_f32(float *dst, int dst_w, int dst_h, const float *src, int src_w,
                             int src_h, int planes);

/* torchvision resize(antialias=False) = interpolate(mode="bilinear", align_corners=False,
 * antialias=False) of a float32 image, the rfdetr >= 1.9 preprocess: per axis the
 * taps and float32 weights of rfs_interp_axis_init(antialias = 0), exactly ATen's; each
 * output is then
 *     (double)h0 * t(row i0) + (double)h1 * t(row i1),  t(r) = (double)w0 * x[r][j0] + (double)w1 * x[r][j1]
 * in double, in that order, and rounded once to float32 (ATen sums the same terms in
 * float32). A side that keeps its size has weights (1, 0): the plane is copied exactly, as
 * torchvision returns an image of the target size unchanged. */
typedef struct rfs_bl64_axis {
    int in, out;
    int *i0, *i1;     /* [out] the two taps (equal at the far edge) */
    double *w0, *w1;  /* [out] their float32 weights, widened */
} rfs_bl64_axis;

typedef struct rfs_bl64_plan {
    int src_w, src_h, dst_w, dst_h;
    rfs_bl64_axis ax, ay;
    double *tmp;      /* [src_h * dst_w] horizontal pass (rows the taps use) */
} rfs_bl64_plan;

rfs_status rfs_bl64_plan_init(rfs_bl64_plan *p, int src_w, int src_h, int dst_w, int dst_h);
void rfs_bl64_plan_free(rfs_bl64_plan *p);
/* Resizes a packed 8-bit 3-channel image whose value v stands for the float lut[v] (the
 * float32 image is never built: only the source rows and pixels the taps reach are read)
 * into three float32 planes; output plane c from byte c of each pixel (2 - c when bgr). */
void rfs_bl64_run_u8(rfs_bl64_plan *p, float *dst, const uint8_t *pix, int stride, int bgr,
                     const float lut[256]);

#endif
