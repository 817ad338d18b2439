/* response.h - detections -> JSON text.
 *
 * rfs_response_roboflow writes exactly the dict of Roboflow's
 * InstanceSegmentationInferenceResponse.model_dump(by_alias=True, exclude_none=True)
 * (roboflow-pipeline.md 4) as orjson serialises it: key order, Python float repr,
 * `class`/`class_id`, a fresh UUID4 per detection, polygons (the contour with the most
 * points) or COCO RLE. rfs_response_rfdetr writes the official predict's
 * supervision.Detections fields. Text goes into a growable buffer that is reused from
 * frame to frame: once it has grown to a frame's size, building allocates nothing.
 */
#ifndef RFS_PIPELINE_RESPONSE_H
#define RFS_PIPELINE_RESPONSE_H

#include "pipeline/contour.h"
#include "pipeline/rle.h"
#include "rfseg.h"

#include <stddef.h>

typedef struct rfs_jbuf {
    char *p;
    size_t len, cap;
    int oom; /* an append failed: the text is incomplete */
} rfs_jbuf;

void rfs_jbuf_free(rfs_jbuf *b);
void rfs_jbuf_reset(rfs_jbuf *b);
void rfs_jbuf_put(rfs_jbuf *b, const char *s, size_t n);
void rfs_jbuf_puts(rfs_jbuf *b, const char *s);
void rfs_jbuf_double(rfs_jbuf *b, double v); /* Python repr; non-finite -> null */
void rfs_jbuf_int(rfs_jbuf *b, long long v);
void rfs_jbuf_string(rfs_jbuf *b, const char *s); /* quoted and escaped as orjson */

typedef enum rfs_mask_format { RFS_MASK_POLYGON = 0, RFS_MASK_RLE = 1, RFS_MASK_NONE = 2 } rfs_mask_format;

typedef struct rfs_response_opts {
    rfs_mask_format format;
    const char *inference_id;      /* NULL: a fresh UUID4 */
    double time;                   /* seconds; < 0: omitted */
    long long frame_id;            /* < 0: omitted */
    const char *source;            /* "source" after frame_id (the input's name); NULL: omitted */
    long long source_id;           /* "source_id" after source, when source is set and this >= 0 */
    const char *const *class_filter; /* keep only these class names; NULL: all */
    int n_class_filter;
} rfs_response_opts;

/* Reusable working memory for shapes (contours, RLE); zero-initialise. */
typedef struct rfs_shape_ctx {
    rfs_contour_ctx contour;
    rfs_ivec poly;
    rfs_rle rle;
    double shape_ms; /* time spent tracing contours / encoding RLE, accumulated */
} rfs_shape_ctx;
void rfs_shape_ctx_free(rfs_shape_ctx *c);

/* The Roboflow response for one frame. Class names come from the model (its package's
 * class names, else COCO's with Roboflow's "background" placeholders). */
rfs_status rfs_response_roboflow(rfs_jbuf *out, rfs_shape_ctx *shapes, const rfs_result *r,
                                 const rfs_model *m, const rfs_response_opts *o);

/* The official rfdetr predict result for one image: class_id, class_name (rfdetr's COCO
 * names or the checkpoint's), confidence, xyxy (float32 values), mask area and bounds. */
rfs_status rfs_response_rfdetr(rfs_jbuf *out, const rfs_result *r, const rfs_model *m,
                               const char *image_name);

/* Roboflow's name for a class id: the package's class name, else COCO_LABELS (with
 * "background" at the unused ids), else the decimal id. */
const char *rfs_roboflow_class_name(const rfs_model *m, int class_id, char buf[16]);

#endif
