/* geometry.h - where a frame goes through the network and comes back: the one frame
 * geometry both pipelines use (predict.c on the host, cuda/pipeline.cu on the device).
 *
 * roboflow preset: the package's static crop of the frame, then the resize mode places the
 * crop in the R x R network input (stretch; letterbox: scaled to fit, padded; center-crop:
 * copied unscaled, cut or padded). Boxes come back through the same steps in float32:
 * xyxy x R, minus the pad, divided by the scale, plus the crop offset, rounded half to even
 * (optionally clamped to the frame first); masks: the mask logits under the pads are cut
 * away (pads scaled to the mask grid with Python's round), the rest is upsampled to the
 * crop's size and pasted at the crop's offset.
 * rfdetr presets: the whole frame is resized to R x R; boxes are xyxy x (W, H) (clamped to
 * the frame by today's rfdetr, not by 1.4); masks are upsampled to the frame.
 *
 * The box math is written once, here, for both compilers: on the device each step is an
 * explicitly rounded intrinsic (never contracted into an FMA), on the host plain float
 * arithmetic under -ffp-contract=off; both round every step as PyTorch's float32 does.
 */
#ifndef RFS_PIPELINE_GEOMETRY_H
#define RFS_PIPELINE_GEOMETRY_H

#include "rfseg.h"

#include <math.h>

typedef struct rfs_frame_geom {
    int W, H;                   /* the frame */
    int preset;                 /* rfs_preset */
    int R, H4;                  /* network input side, mask logit side */
    int crop_x, crop_y, cw, ch; /* the part of the frame the network saw (static crop) */
    int gray;                   /* roboflow: the package's grayscale step applies */
    int resize_mode;            /* roboflow: rfs_resize_mode of the package */
    int dx0, dy0, rw, rh;       /* where the (resized) crop lies in the R x R input */
    int sx0, sy0;               /* center crop: first pixel of the crop that is copied */
    int pad[4];                 /* left, top, right, bottom pads in network pixels (< 0: cut) */
    float scale_w, scale_h;     /* network pixels per crop pixel, float32 */
    float pad_value;            /* letterbox canvas value, raw 0..255 */
    int win[4];                 /* the pads on the mask grid: logits cut away per side */
    int mw, mh;                 /* mask logits left: (H4 - win[0] - win[2]) x (H4 - ... ) */
    int ow, oh;                 /* upsampled mask size: the crop (roboflow) or the frame */
} rfs_frame_geom;

/* The geometry of a W x H frame for model m under options o. RFS_ERR_ARG (with a message)
 * when the static crop leaves nothing of the frame or a letterbox scales it to nothing.
 * mw or mh below 1 (pads larger than the mask grid) is not an error here: it is one only
 * when a detection needs a mask. */
#ifdef __cplusplus
extern "C" {
#endif
rfs_status rfs_frame_geom_init(rfs_frame_geom *g, const rfs_model *m, int W, int H,
                               const rfs_predict_opts *o);
#ifdef __cplusplus
}
#endif

#if defined(__CUDACC__)
#define RFS_GEOM_FN __host__ __device__ __forceinline__
#else
#define RFS_GEOM_FN static inline
#endif
#if defined(__CUDA_ARCH__)
#define RFS_FMUL(a, b) __fmul_rn(a, b)
#define RFS_FADD(a, b) __fadd_rn(a, b)
#define RFS_FSUB(a, b) __fsub_rn(a, b)
#define RFS_FDIV(a, b) __fdiv_rn(a, b)
#else
#define RFS_FMUL(a, b) ((a) * (b))
#define RFS_FADD(a, b) ((a) + (b))
#define RFS_FSUB(a, b) ((a) - (b))
#define RFS_FDIV(a, b) ((a) / (b))
#endif

/* A network box (cx, cy, w, h, normalised) -> x0, y0, x1, y1 in frame pixels, as the
 * preset computes it. clip: roboflow's optional clamp to the frame (Roboflow R2). */
RFS_GEOM_FN void rfs_geom_box(float out[4], const float *b, const rfs_frame_geom *g, int clip) {
    if (g->preset != RFS_PRESET_ROBOFLOW) {
        /* rfdetr PostProcess: box_cxcywh_to_xyxy, then x (W, H, W, H); w, h clamped at 0 */
        const float sx = (float)g->W, sy = (float)g->H;
        /* torch.clamp keeps NaN: v < lo ? lo : v, not fmaxf */
        const float hw = RFS_FMUL(0.5f, b[2] < 0.f ? 0.f : b[2]), hh = RFS_FMUL(0.5f, b[3] < 0.f ? 0.f : b[3]);
        out[0] = RFS_FMUL(RFS_FSUB(b[0], hw), sx);
        out[1] = RFS_FMUL(RFS_FSUB(b[1], hh), sy);
        out[2] = RFS_FMUL(RFS_FADD(b[0], hw), sx);
        out[3] = RFS_FMUL(RFS_FADD(b[1], hh), sy);
        if (g->preset == RFS_PRESET_RFDETR) /* today's predict: clamp_min(0), clamp(max=WH) */
            for (int k = 0; k < 4; k++) {
                const float v = out[k] < 0.f ? 0.f : out[k], hi = k & 1 ? sy : sx;
                out[k] = v > hi ? hi : v;
            }
        return;
    }
    const float fR = (float)g->R;
    const float hw = RFS_FMUL(0.5f, b[2]), hh = RFS_FMUL(0.5f, b[3]);
    const float v[4] = {RFS_FMUL(RFS_FSUB(b[0], hw), fR), RFS_FMUL(RFS_FSUB(b[1], hh), fR),
                        RFS_FMUL(RFS_FADD(b[0], hw), fR), RFS_FMUL(RFS_FADD(b[1], hh), fR)};
    for (int k = 0; k < 4; k++) {
        const int y = k & 1;
        float u = RFS_FDIV(RFS_FSUB(v[k], (float)g->pad[y]), y ? g->scale_h : g->scale_w);
        u = RFS_FADD(u, (float)(y ? g->crop_y : g->crop_x));
        if (clip) u = fminf(fmaxf(u, 0.f), (float)(y ? g->H : g->W));
        out[k] = rintf(u); /* round half to even (the default rounding mode) */
    }
}

#endif
