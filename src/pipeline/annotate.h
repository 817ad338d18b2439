/* annotate.h - draws detections on a frame the way supervision's annotators look.
 *
 * Three layers, in supervision's usual order (MaskAnnotator, BoxAnnotator,
 * LabelAnnotator), each colored by class from supervision's default palette
 * (ColorPalette.DEFAULT, 21 colors, class_id % 21):
 *
 *   masks   the class color blended at opacity 0.5 with one cv2.addWeighted over the
 *           frame (float weights, round half to even); where masks overlap, the one with
 *           the smaller area is on top (supervision paints in descending area).
 *   boxes   cv2.rectangle at (int)x0,(int)y0 - (int)x1,(int)y1 with thickness 2, which
 *           OpenCV draws 3 pixels wide (the edge pixel and one either side).
 *   labels  "name 0.93" in a filled box of the class color sitting on the box's top-left
 *           corner (inside the box when there is no room above), in rfseg's own 5x7 pixel
 *           font scaled by an integer; white text, or black on light colors.
 *
 * Pure C, no allocation per frame once the annotator has seen the frame size.
 *
 *     rfs_annotator *a;
 *     rfs_annotator_create(&a, NULL);
 *     rfs_annot_det d = {.box = {10, 20, 110, 220}, .class_id = 2, .score = 0.93f,
 *                        .label = "car", .mask = &mask};
 *     rfs_annotate(a, &frame, &d, 1);
 *     rfs_annotator_free(a);
 */
#ifndef RFS_PIPELINE_ANNOTATE_H
#define RFS_PIPELINE_ANNOTATE_H

#include "io/image.h"
#include "rfseg.h"
#include <stdint.h>

typedef struct rfs_annot_det {
    float box[4];         /* x0, y0, x1, y1 in frame pixels */
    int class_id;         /* picks the color */
    float score;          /* printed with two decimals; negative: not printed */
    const char *label;    /* class name; NULL: the class id */
    const rfs_mask *mask; /* NULL or empty (w == 0): no mask */
} rfs_annot_det;

/* Zero-initialised options are the defaults. */
typedef struct rfs_annot_opts {
    int no_masks, no_boxes, no_labels;
    float mask_opacity; /* 0: supervision's 0.5 */
    int font_scale;     /* pixels per font dot; 0: 1 + frame height / 500 */
} rfs_annot_opts;

typedef struct rfs_annotator rfs_annotator;

rfs_status rfs_annotator_create(rfs_annotator **out, const rfs_annot_opts *o);
/* Draws n detections on a BGR8 or RGB8 frame in place. */
rfs_status rfs_annotate(rfs_annotator *a, rfs_frame *f, const rfs_annot_det *d, int n);
void rfs_annotator_free(rfs_annotator *a);

/* The palette color of a class as B, G, R. */
void rfs_annot_color(int class_id, uint8_t bgr[3]);

/* Size in pixels of text drawn at a font scale (one line, ASCII; other bytes show as '?'). */
void rfs_annot_text_size(const char *text, int scale, int *w, int *h);
/* Draws text with its top-left corner at (x, y), clipped to the frame. color is B, G, R. */
void rfs_annot_text(rfs_frame *f, int x, int y, const char *text, int scale, const uint8_t bgr[3]);

#endif
