/* preprocess.c - network input for the two presets (see preprocess.h).
 *
 * Reproduces: Roboflow R1 stretch preprocess (cv2.resize INTER_LINEAR on BGR uint8, channel
 * flip, multiplication by float32(1/255) = 0.0039215688593685627f, float32 (x-mean)/std),
 * its letterbox (float canvas filled with the raw padding value) and center-crop (zero
 * uint8 canvas) modes with the upstream numpy handlers' geometry (roboflow-pipeline.md 1.4),
 * rfdetr 1.4.1 RFDETR.predict (to_tensor u8/255.0f, normalize, antialiased bilinear
 * resize, horizontal pass first; the resize is evaluated in double, see resize.h), and
 * today's RFDETR.predict (u8/255.0f, bilinear resize without antialias evaluated in double
 * and rounded to float32, then float32 normalize; rfdetr-predict-current.md).
 * Verified: the rfdetr path against the fixtures' IMAGE/input tensors of tiny-w1 (96x96)
 * and tiny-w2 (144x144) for the four fixture photos, max abs error < 1e-6
 * (tests/diff_preprocess.py); the roboflow path is the bit-exact resize of
 * diff_resize.py followed by the float32 formula, checked against a numpy float32
 * evaluation of the same formula in diff_preprocess.py, as are letterbox / center-crop;
 * today's rfdetr path equals a numpy reference of that description bit for bit
 * (tests/diff_rfdetr_predict.py).
 */
#include "pipeline/preprocess.h"

#include "util/err.h"

#include <string.h>

static const float k_mean[3] = {0.485f, 0.456f, 0.406f};
static const float k_std[3] = {0.229f, 0.224f, 0.225f};

void rfs_preprocess_ctx_free(rfs_preprocess_ctx *c) {
    if (!c) return;
    rfs_resize_plan_free(&c->rs);
    rfs_aa_plan_free(&c->aa);
    rfs_bl64_plan_free(&c->bl);
    free(c->u8);
    free(c->f32);
    memset(c, 0, sizeof *c);
}

static rfs_status check_args(const void *dst, int R, const uint8_t *pix, int w, int h,
                             int stride) {
    if (!dst || !pix) return RFS_FAIL(RFS_ERR_ARG, "preprocess: NULL buffer");
    if (R < 1 || w < 1 || h < 1 || stride < 3 * w)
        return RFS_FAIL(RFS_ERR_ARG, "preprocess: bad sizes (frame %dx%d stride %d, R %d)", w,
                        h, stride, R);
    return RFS_OK;
}

/* Roboflow's normalisation of one raw value (0..255 as float) for RGB channel ch:
 * multiplication by float32(1/255), then float32 (x - mean) / std. */
static inline float rf_norm(float v, int ch) {
    return (v * 0.0039215688593685627f - k_mean[ch]) / k_std[ch];
}

/* The stretch path for either byte order: cv2.resize treats the three channels alike, so
 * resizing RGB bytes and reading the channels in the other order is bit-identical to
 * flipping first (r_byte = index of the R byte in a pixel: 2 for BGR, 0 for RGB). */
static rfs_status roboflow_stretch(float *dst, int R, const uint8_t *bgr, int w, int h,
                                   int stride, int r_byte, rfs_preprocess_ctx *ctx) {
    rfs_status st = check_args(dst, R, bgr, w, h, stride);
    if (st != RFS_OK) return st;
    rfs_preprocess_ctx local = {0};
    rfs_preprocess_ctx *c = ctx ? ctx : &local;
    if (c->kind != 1 || c->w != w || c->h != h || c->R != R) {
        rfs_preprocess_ctx_free(c);
        if ((st = rfs_resize_plan_init(&c->rs, w, h, R, R)) != RFS_OK) goto fail;
        if (!(c->u8 = rfs_malloc((size_t)R * R * 3))) {
            st = RFS_ERR_NOMEM;
            goto fail;
        }
        c->kind = 1, c->w = w, c->h = h, c->R = R;
    }
    rfs_resize_run(&c->rs, c->u8, 3 * R, bgr, stride);
    float lut[3][256]; /* the per-pixel formula has only 256 inputs per channel */
    for (int ch = 0; ch < 3; ch++)
        for (int v = 0; v < 256; v++) lut[ch][v] = rf_norm((float)v, ch);
    const size_t plane = (size_t)R * R;
    for (int ch = 0; ch < 3; ch++) { /* output plane ch (R, G, B) */
        float *d = dst + (size_t)ch * plane;
        const uint8_t *s = c->u8 + (r_byte == 2 ? 2 - ch : ch);
        const float *l = lut[ch];
        for (size_t i = 0; i < plane; i++) d[i] = l[s[3 * i]];
    }
    st = RFS_OK;
fail:
    if (c == &local) rfs_preprocess_ctx_free(&local);
    else if (st != RFS_OK) rfs_preprocess_ctx_free(c);
    return st;
}

rfs_status rfs_preprocess_roboflow(float *dst, int R, const uint8_t *bgr, int w, int h,
                                   int stride, rfs_preprocess_ctx *ctx) {
    return roboflow_stretch(dst, R, bgr, w, h, stride, 2, ctx);
}

rfs_status rfs_preprocess_roboflow_rgb(float *dst, int R, const uint8_t *rgb, int w, int h,
                                       int stride, rfs_preprocess_ctx *ctx) {
    return roboflow_stretch(dst, R, rgb, w, h, stride, 0, ctx);
}

rfs_status rfs_preprocess_roboflow_letterbox(float *dst, int R, const uint8_t *bgr, int w, int h,
                                             int stride, float padding_value,
                                             rfs_preprocess_ctx *ctx, rfs_letterbox *geometry) {
    rfs_status st = check_args(dst, R, bgr, w, h, stride);
    if (st != RFS_OK) return st;
    rfs_letterbox g;
    rfs_letterbox_geometry(&g, w, h, R, R);
    if (geometry) *geometry = g;
    if (g.new_w < 1 || g.new_h < 1)
        return RFS_FAIL(RFS_ERR_ARG, "letterbox: %dx%d frame scales to %dx%d in %dx%d", w, h,
                        g.new_w, g.new_h, R, R);
    rfs_preprocess_ctx local = {0};
    rfs_preprocess_ctx *c = ctx ? ctx : &local;
    if (c->kind != 3 || c->w != w || c->h != h || c->R != R) {
        rfs_preprocess_ctx_free(c);
        if ((st = rfs_resize_plan_init(&c->rs, w, h, g.new_w, g.new_h)) != RFS_OK) goto fail;
        if (!(c->u8 = rfs_malloc((size_t)g.new_w * g.new_h * 3))) {
            st = RFS_ERR_NOMEM;
            goto fail;
        }
        c->kind = 3, c->w = w, c->h = h, c->R = R;
    }
    rfs_resize_run(&c->rs, c->u8, 3 * g.new_w, bgr, stride);
    const size_t plane = (size_t)R * R;
    for (int ch = 0; ch < 3; ch++) {
        float *d = dst + (size_t)ch * plane;
        const float pv = rf_norm(padding_value, ch);
        float lut[256];
        for (int v = 0; v < 256; v++) lut[v] = rf_norm((float)v, ch);
        for (size_t i = 0; i < plane; i++) d[i] = pv;
        for (int y = 0; y < g.new_h; y++) {
            const uint8_t *s = c->u8 + (size_t)y * g.new_w * 3 + (2 - ch);
            float *dr = d + (size_t)(y + g.pad_top) * R + g.pad_left;
            for (int x = 0; x < g.new_w; x++) dr[x] = lut[s[3 * x]];
        }
    }
    st = RFS_OK;
fail:
    if (c == &local) rfs_preprocess_ctx_free(&local);
    else if (st != RFS_OK) rfs_preprocess_ctx_free(c);
    return st;
}

rfs_status rfs_preprocess_roboflow_center_crop(float *dst, int R, const uint8_t *bgr, int w,
                                               int h, int stride, rfs_center_crop *geometry) {
    rfs_status st = check_args(dst, R, bgr, w, h, stride);
    if (st != RFS_OK) return st;
    rfs_center_crop g;
    rfs_center_crop_geometry(&g, w, h, R, R);
    if (geometry) *geometry = g;
    const size_t plane = (size_t)R * R;
    for (int ch = 0; ch < 3; ch++) {
        float *d = dst + (size_t)ch * plane;
        const float zero = rf_norm(0.0f, ch);
        for (size_t i = 0; i < plane; i++) d[i] = zero;
        for (int y = 0; y < g.copy_h; y++) {
            const uint8_t *s = bgr + (size_t)(y + g.src_y) * stride + 3 * g.src_x + (2 - ch);
            float *dr = d + (size_t)(y + g.dst_y) * R + g.dst_x;
            for (int x = 0; x < g.copy_w; x++) dr[x] = rf_norm((float)s[3 * x], ch);
        }
    }
    return RFS_OK;
}

rfs_status rfs_preprocess_rfdetr14(float *dst, int R, const uint8_t *pix, int w, int h,
                                   int stride, int bgr_input, rfs_preprocess_ctx *ctx) {
    rfs_status st = check_args(dst, R, pix, w, h, stride);
    if (st != RFS_OK) return st;
    rfs_preprocess_ctx local = {0};
    rfs_preprocess_ctx *c = ctx ? ctx : &local;
    if (c->kind != 2 || c->w != w || c->h != h || c->R != R) {
        rfs_preprocess_ctx_free(c);
        if ((st = rfs_aa_plan_init(&c->aa, w, h, R, R)) != RFS_OK) goto fail;
        if (!(c->f32 = rfs_malloc((size_t)w * h * 3 * sizeof(float)))) {
            st = RFS_ERR_NOMEM;
            goto fail;
        }
        c->kind = 2, c->w = w, c->h = h, c->R = R;
    }
    /* to_tensor (u8 / 255.0f) then normalize, into CHW planes, through a 256-entry table */
    const size_t plane = (size_t)w * h;
    for (int ch = 0; ch < 3; ch++) {
        int src_ch = bgr_input ? 2 - ch : ch;
        float lut[256];
        for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - k_mean[ch]) / k_std[ch];
        float *d = c->f32 + (size_t)ch * plane;
        for (int y = 0; y < h; y++) {
            const uint8_t *s = pix + (size_t)y * stride + src_ch;
            float *dr = d + (size_t)y * w;
            for (int x = 0; x < w; x++) dr[x] = lut[s[3 * x]];
        }
    }
    rfs_aa_run(&c->aa, dst, c->f32, 3);
    st = RFS_OK;
fail:
    if (c == &local) rfs_preprocess_ctx_free(&local);
    else if (st != RFS_OK) rfs_preprocess_ctx_free(c);
    return st;
}

rfs_status rfs_preprocess_rfdetr(float *dst, int R, const uint8_t *pix, int w, int h,
                                 int stride, int bgr_input, rfs_preprocess_ctx *ctx) {
    rfs_status st = check_args(dst, R, pix, w, h, stride);
    if (st != RFS_OK) return st;
    rfs_preprocess_ctx local = {0};
    rfs_preprocess_ctx *c = ctx ? ctx : &local;
    if (c->kind != 4 || c->w != w || c->h != h || c->R != R) {
        rfs_preprocess_ctx_free(c);
        if ((st = rfs_bl64_plan_init(&c->bl, w, h, R, R)) != RFS_OK) goto fail;
        c->kind = 4, c->w = w, c->h = h, c->R = R;
    }
    /* x = u8 / 255 in float32 (IEEE division), read through a 256-entry table while
     * resizing (only the pixels the taps reach) */
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = (float)v / 255.0f;
    rfs_bl64_run_u8(&c->bl, dst, pix, stride, bgr_input, lut);
    /* torchvision normalize: sub_(mean).div_(std), float32 */
    const size_t out = (size_t)R * R;
    for (int ch = 0; ch < 3; ch++) {
        float *d = dst + (size_t)ch * out;
        const float m = k_mean[ch], sd = k_std[ch];
        for (size_t i = 0; i < out; i++) d[i] = (d[i] - m) / sd;
    }
    st = RFS_OK;
fail:
    if (c == &local) rfs_preprocess_ctx_free(&local);
    else if (st != RFS_OK) rfs_preprocess_ctx_free(c);
    return st;
}
