/* geometry.c - a frame's geometry under a model's package and the prediction options
 * (geometry.h). */
#include "pipeline/geometry.h"

#include "model/model.h"
#include "pipeline/resize.h"
#include "util/err.h"

#include <string.h>

rfs_status rfs_frame_geom_init(rfs_frame_geom *g, const rfs_model *m, int W, int H,
                               const rfs_predict_opts *o) {
    const rfs_config *c = &m->cfg;
    const rfs_package *pkg = &m->pkg;
    const int R = c->resolution, H4 = c->mask_side;
    memset(g, 0, sizeof *g);
    g->W = W, g->H = H, g->preset = o->preset, g->R = R, g->H4 = H4;
    if (o->preset != RFS_PRESET_ROBOFLOW) { /* the whole frame, resized to R x R */
        g->cw = W, g->ch = H, g->rw = g->rh = R;
        g->scale_w = (float)((double)R / W), g->scale_h = (float)((double)R / H);
        g->mw = g->mh = H4, g->ow = W, g->oh = H;
        return RFS_OK;
    }
    int rect[4] = {0, 0, W, H};
    if (pkg->static_crop && !o->disable_static_crop)
        rfs_static_crop_rect(rect, W, H, pkg->crop_pct[0], pkg->crop_pct[1], pkg->crop_pct[2],
                             pkg->crop_pct[3]);
    const int w = rect[2] - rect[0], h = rect[3] - rect[1];
    if (w < 1 || h < 1)
        return RFS_FAIL(RFS_ERR_ARG, "the package's static crop leaves nothing of a %dx%d frame",
                        W, H);
    g->crop_x = rect[0], g->crop_y = rect[1], g->cw = w, g->ch = h;
    g->gray = pkg->grayscale && !o->disable_grayscale;
    g->resize_mode = pkg->resize_mode;
    switch (pkg->resize_mode) {
    case RFS_RESIZE_LETTERBOX: {
        rfs_letterbox lb;
        rfs_letterbox_geometry(&lb, w, h, R, R);
        if (lb.new_w < 1 || lb.new_h < 1)
            return RFS_FAIL(RFS_ERR_ARG, "letterbox: %dx%d frame scales to %dx%d in %dx%d", w, h,
                            lb.new_w, lb.new_h, R, R);
        g->dx0 = lb.pad_left, g->dy0 = lb.pad_top, g->rw = lb.new_w, g->rh = lb.new_h;
        g->pad[0] = lb.pad_left, g->pad[1] = lb.pad_top;
        g->pad[2] = lb.pad_right, g->pad[3] = lb.pad_bottom;
        g->scale_w = g->scale_h = (float)lb.scale;
        g->pad_value = pkg->padding_value;
        break;
    }
    case RFS_RESIZE_CENTER_CROP: {
        rfs_center_crop cc;
        rfs_center_crop_geometry(&cc, w, h, R, R);
        g->dx0 = cc.dst_x, g->dy0 = cc.dst_y, g->rw = cc.copy_w, g->rh = cc.copy_h;
        g->sx0 = cc.src_x, g->sy0 = cc.src_y;
        g->pad[0] = cc.pad_left, g->pad[1] = cc.pad_top;
        g->pad[2] = cc.pad_right, g->pad[3] = cc.pad_bottom;
        g->scale_w = g->scale_h = 1.0f;
        break;
    }
    case RFS_RESIZE_STRETCH:
        g->rw = g->rh = R;
        g->scale_w = (float)((double)R / w), g->scale_h = (float)((double)R / h);
        break;
    }
    /* the pads on the mask grid, with Python's round (half to even); negative pads add
     * rows/columns of logit 0 */
    for (int k = 0; k < 4; k++) g->win[k] = (int)nearbyint((double)H4 / R * g->pad[k]);
    g->mw = H4 - g->win[0] - g->win[2], g->mh = H4 - g->win[1] - g->win[3];
    g->ow = w, g->oh = h; /* mw or mh < 1: no mask can be made (an error only with detections) */
    return RFS_OK;
}
