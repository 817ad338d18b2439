/* maskup.h - mask logits (R/4 x R/4) -> binary mask at the frame size, as a rectangle.
 *
 * Two variants, both half-pixel bilinear then `> 0`:
 *   RFS_MASKUP_BILINEAR  torch interpolate(mode="bilinear", align_corners=False), no
 *                        antialias: the official rfdetr PostProcess.
 *   RFS_MASKUP_AA        torchvision resize(antialias=True) = _upsample_bilinear2d_aa:
 *                        Roboflow R1 (equals ordinary bilinear up to float rounding when
 *                        upsampling, a widened triangle filter when shrinking).
 *
 * Only the part of the frame that can be positive is computed: an output pixel is a
 * non-negative combination of its taps, so it can be > 0 only when one of its taps is; rows
 * and columns whose taps hold no positive logit are skipped. The result is the smallest
 * rectangle holding every set pixel (rfs_mask in rfseg.h); an empty mask has w = h = 0.
 *
 *     rfs_maskup_plan plan;   rfs_maskup_plan_init(&plan, 78, 78, W, H, RFS_MASKUP_AA);
 *     rfs_maskup_scratch s;   rfs_maskup_scratch_init(&s, &plan);   // one per thread
 *     rfs_mask m;             rfs_maskup_run(&plan, &s, logits_of_query, &m);
 *     // m.data points into s until the next run with s
 */
#ifndef RFS_PIPELINE_MASKUP_H
#define RFS_PIPELINE_MASKUP_H

#include "pipeline/resize.h"
#include "rfseg.h"

typedef enum rfs_maskup_mode { RFS_MASKUP_BILINEAR = 0, RFS_MASKUP_AA = 1 } rfs_maskup_mode;

/* Read-only after init: share one plan between threads. */
typedef struct rfs_maskup_plan {
    int in_w, in_h, out_w, out_h;
    rfs_maskup_mode mode;
    rfs_interp_axis ax, ay;
    int *xcov;     /* [2*in_w] output columns [lo, hi) whose taps include input column c */
    int *ycov;     /* [2*in_h] output rows [lo, hi) whose taps include input row r */
} rfs_maskup_plan;

typedef struct rfs_maskup_scratch {
    float *hbuf;         /* [in_h * out_w] horizontal pass of the input rows */
    const float **rows;  /* [in_h] */
    unsigned *hdone;     /* [in_h] generation at which row r was filled */
    unsigned gen;
    unsigned char *rpos; /* [in_h] input row has a positive logit */
    unsigned char *cpos; /* [in_w] input column has a positive logit */
    float *vrow;         /* [out_w] */
    uint8_t *out;        /* [out_w * out_h] result (compacted to the rectangle) */
} rfs_maskup_scratch;

rfs_status rfs_maskup_plan_init(rfs_maskup_plan *p, int in_w, int in_h, int out_w, int out_h,
                                rfs_maskup_mode mode);
void rfs_maskup_plan_free(rfs_maskup_plan *p);
rfs_status rfs_maskup_scratch_init(rfs_maskup_scratch *s, const rfs_maskup_plan *p);
void rfs_maskup_scratch_free(rfs_maskup_scratch *s);

/* Upsamples one in_h x in_w logit map (row-major float32) and thresholds it at > 0. */
void rfs_maskup_run(const rfs_maskup_plan *p, rfs_maskup_scratch *s, const float *logits,
                    rfs_mask *out);

/* Dense reference (every pixel computed, no skipping): the interpolated float values at
 * the frame size, out_h x out_w. For tests. */
rfs_status rfs_maskup_dense(float *dst, const rfs_maskup_plan *p, const float *logits);

#endif
