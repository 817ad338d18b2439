/* contour.h - mask -> polygon, exactly as cv2.findContours(mask, RETR_EXTERNAL,
 * CHAIN_APPROX_SIMPLE) followed by Roboflow's mask2poly choice (the contour with the most
 * points; on a tie the first in OpenCV's list, which is the last one discovered by the
 * raster scan). docs/roboflow.md 3.
 *
 * Points are pixel coordinates (x = column, y = row) in the frame, as OpenCV returns them.
 * Only the mask's rectangle is scanned (padded by one background pixel on each side, which
 * is exactly how findContours treats the image border), so the cost is proportional to
 * the rectangle, not to the frame.
 *
 *     rfs_contour_ctx cx = {0};
 *     rfs_ivec poly = {0};
 *     rfs_contour_longest(&poly, &cx, &mask);   // poly.v = x0,y0,x1,y1,...; poly.n/2 points
 *     rfs_ivec_free(&poly); rfs_contour_ctx_free(&cx);
 */
#ifndef RFS_PIPELINE_CONTOUR_H
#define RFS_PIPELINE_CONTOUR_H

#include "rfseg.h"
#include <stddef.h>
#include <stdint.h>

/* Growable int array (v[0..n)); zero-initialise, release with rfs_ivec_free. */
typedef struct rfs_ivec {
    int *v;
    size_t n, cap;
} rfs_ivec;

rfs_status rfs_ivec_reserve(rfs_ivec *a, size_t cap);
void rfs_ivec_free(rfs_ivec *a);

/* Reusable working memory (padded mask copy, trace buffer); zero-initialise. */
typedef struct rfs_contour_ctx {
    int8_t *img;
    size_t img_cap;
    rfs_ivec tmp;
} rfs_contour_ctx;

void rfs_contour_ctx_free(rfs_contour_ctx *c);

/* The polygon Roboflow keeps: out->n = 2 * points, x/y interleaved, frame coordinates.
 * A mask without set pixels gives 0 points. Nonzero mask bytes count as set. */
rfs_status rfs_contour_longest(rfs_ivec *out, rfs_contour_ctx *ctx, const rfs_mask *m);

/* Every external contour, in the order cv2.findContours returns them: points of all
 * contours concatenated in pts (x/y interleaved), lens->v[i] = point count of contour i. */
rfs_status rfs_contour_external(rfs_ivec *pts, rfs_ivec *lens, rfs_contour_ctx *ctx,
                                const rfs_mask *m);

#endif
