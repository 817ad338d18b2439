/* annotate.h - draws detections on a frame the way supervision's annotators look (the
 * annotator itself is public: rfseg.h, "annotation"; the drawing helpers below are not).
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

#include "rfseg.h"
#include <stdint.h>

/* The palette color of a class as B, G, R. */
void rfs_annot_color(int class_id, uint8_t bgr[3]);

/* Size in pixels of text drawn at a font scale (one line, ASCII; other bytes show as '?'). */
void rfs_annot_text_size(const char *text, int scale, int *w, int *h);
/* Draws text with its top-left corner at (x, y), clipped to the frame. color is B, G, R. */
void rfs_annot_text(rfs_frame *f, int x, int y, const char *text, int scale, const uint8_t bgr[3]);

#endif
