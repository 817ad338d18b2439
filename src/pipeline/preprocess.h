/* preprocess.h - frame -> network input (3 x R x R float32, RGB planes), per preset.
 *
 *   roboflow  Roboflow R1 (roboflow-pipeline.md 1.3): cv2 INTER_LINEAR stretch of the BGR
 *             uint8 frame to R x R, BGR -> RGB, x = u8 * float32(1/255) (a multiplication,
 *             as PyTorch does on CUDA), then (x - mean_c) / std_c in float32.
 *   rfdetr    official RFDETR.predict of rfdetr >= 1.9 (rfdetr-predict-current.md): each
 *             image u8 / 255.0f (a correctly rounded float32 division, as to_tensor and
 *             today's uint8 path), resized to R x R by bilinear interpolation without
 *             antialias (rfs_bl64_plan: ATen's taps and weights, evaluated in double,
 *             rounded once to float32), then normalised in float32: (x - mean) / std.
 *   rfdetr 1.4.1  to_tensor (u8 / 255.0f), normalize, then the antialiased bilinear
 *             resize to R x R (evaluated in double: the reference tensors are float64,
 *             see resize.h).
 *
 * The context keeps the resize tables and buffers between frames; they are rebuilt only
 * when the frame size or R changes. Zero-initialise it ({0}) before first use.
 */
#ifndef RFS_PIPELINE_PREPROCESS_H
#define RFS_PIPELINE_PREPROCESS_H

#include "pipeline/resize.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rfs_preprocess_ctx {
    int w, h, R;           /* sizes the tables below were built for (0: none yet) */
    int kind;              /* 0 none, 1 roboflow stretch, 2 rfdetr 1.4.1, 3 roboflow
                              letterbox, 4 rfdetr */
    rfs_resize_plan rs;    /* roboflow */
    uint8_t *u8;           /* roboflow: R*R*3 resized BGR */
    rfs_aa_plan aa;        /* rfdetr 1.4.1 */
    rfs_bl64_plan bl;      /* rfdetr */
    float *f32;            /* rfdetr 1.4.1: 3*h*w normalised planes */
} rfs_preprocess_ctx;

void rfs_preprocess_ctx_free(rfs_preprocess_ctx *c);

/* Roboflow R1 stretch preprocess of a packed BGR8 frame. */
rfs_status rfs_preprocess_roboflow(float *dst, int R, const uint8_t *bgr, int w, int h,
                                   int stride, rfs_preprocess_ctx *ctx);

/* Same result for a packed RGB8 frame, without converting it to BGR first (the resize
 * treats channels alike, so only the plane order changes). */
rfs_status rfs_preprocess_roboflow_rgb(float *dst, int R, const uint8_t *rgb, int w, int h,
                                       int stride, rfs_preprocess_ctx *ctx);

/* Roboflow R1 letterbox: cv2 INTER_LINEAR resize to the letterbox size, placed on an R x R
 * float canvas filled with padding_value (a raw 0..255 value, normalised like pixels);
 * geometry (may be NULL) receives the pads and scale for the box/mask arithmetic. */
rfs_status rfs_preprocess_roboflow_letterbox(float *dst, int R, const uint8_t *bgr, int w, int h,
                                             int stride, float padding_value,
                                             rfs_preprocess_ctx *ctx, rfs_letterbox *geometry);

/* Roboflow R1 center-crop: the centred R x R window of the frame on a zero canvas, no
 * resize. geometry (may be NULL) receives the reported pads. */
rfs_status rfs_preprocess_roboflow_center_crop(float *dst, int R, const uint8_t *bgr, int w,
                                               int h, int stride, rfs_center_crop *geometry);

/* Official rfdetr >= 1.9 preprocess (resize first, no antialias) of a packed 8-bit frame,
 * RGB (bgr_input = 0) or BGR (1): the rfdetr preset. ctx may be NULL (temporary buffers
 * are then allocated and freed). */
rfs_status rfs_preprocess_rfdetr(float *dst, int R, const uint8_t *pix, int w, int h,
                                 int stride, int bgr_input, rfs_preprocess_ctx *ctx);

/* Official rfdetr 1.4.1 preprocess (normalise, then antialiased resize), same arguments:
 * the rfdetr-1.4 preset. */
rfs_status rfs_preprocess_rfdetr14(float *dst, int R, const uint8_t *pix, int w, int h,
                                   int stride, int bgr_input, rfs_preprocess_ctx *ctx);

#endif
