/* response.h - detections -> JSON text (the public rfs_text, rfs_shapes, rfs_response_*
 * functions of rfseg.h), and the working memory behind rfs_shapes.
 *
 * rfs_response_roboflow writes exactly the dict of Roboflow's
 * InstanceSegmentationInferenceResponse.model_dump(by_alias=True, exclude_none=True)
 * (docs/roboflow.md) as orjson serialises it: key order, Python float repr,
 * `class`/`class_id`, a fresh UUID4 per detection, polygons (the contour with the most
 * points) or COCO RLE. Text goes into a growable buffer that is reused from frame to
 * frame: once it has grown to a frame's size, building allocates nothing.
 */
#ifndef RFS_PIPELINE_RESPONSE_H
#define RFS_PIPELINE_RESPONSE_H

#include "pipeline/contour.h"
#include "pipeline/rle.h"
#include "rfseg.h"

#include <stddef.h>

struct rfs_shapes {
    rfs_contour_ctx contour;
    rfs_ivec poly;
    rfs_rle rle;
    char *rle_str;   /* rfs_mask_rle's string */
    size_t rle_cap;
    double shape_ms; /* time spent tracing contours / encoding RLE, accumulated */
};

/* Releases what a struct rfs_shapes holds (not the struct): for one kept by value. */
void rfs_shapes_release(struct rfs_shapes *s);

/* Transitional names, for code that has not moved to the public API yet. */
typedef rfs_text rfs_jbuf;
typedef struct rfs_shapes rfs_shape_ctx;
#define rfs_jbuf_free rfs_text_free
#define rfs_jbuf_reset rfs_text_reset
#define rfs_jbuf_put rfs_text_put
#define rfs_jbuf_puts rfs_text_puts
#define rfs_jbuf_double rfs_text_double
#define rfs_jbuf_int rfs_text_int
#define rfs_jbuf_string rfs_text_string
#define rfs_shape_ctx_free rfs_shapes_release

#endif
