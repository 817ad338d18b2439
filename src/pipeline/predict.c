/* predict.c - frames in, detections out: preprocess (preset), forward, select (preset),
 * boxes, masks for the kept detections only. All scratch lives in the session and the
 * result; once warm (same frame size), a call allocates nothing. */
#include "pipeline/predict.h"

#include "model/session.h"
#include "pipeline/maskup.h"
#include "pipeline/preprocess.h"
#include "pipeline/select.h"
#include "util/err.h"

#include <math.h>
#include <string.h>
#include <time.h>

#if RFS_HAVE_CUDA
#include "cuda/backend.h"
#endif

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void rfs_session_times(const rfs_session *s, rfs_stage_times *out) { *out = s->times; }
void rfs_session_times_reset(rfs_session *s) { memset(&s->times, 0, sizeof s->times); }

/* Where a frame's network input came from (roboflow preset, roboflow-pipeline.md 1.3-1.4):
 * the static-crop rectangle of the original frame, then the resize mode's pads and scale
 * inside the R x R input. Boxes and masks are mapped back through it. */
typedef struct frame_geom {
    int crop_x, crop_y, w, h;           /* the part of the frame the network saw */
    int pad[4];                         /* left, top, right, bottom (may be negative) */
    float scale_w, scale_h;             /* network pixels per frame pixel, float32 */
} frame_geom;

typedef struct pred_state {
    rfs_preprocess_ctx pre;
    uint8_t *bgr;            /* frames converted for the roboflow preset (RGB in, grayscale) */
    size_t bgr_cap;
    frame_geom *geom;        /* per batch slot */
    float *logit_crop;       /* mask logits with the resize mode's padding removed */
    size_t logit_cap;        /* floats */
    rfs_maskup_plan plan;    /* for the last frame size and mode */
    int plan_in_w, plan_in_h, plan_w, plan_h, plan_mode, have_plan;
    rfs_maskup_scratch scr;
    rfs_cand *cand;          /* nq * K */
    int *idx;                /* nq * K */
    float *prob;             /* nq * K */
    /* streaming (rfs_predict_submit / _collect): batches in flight, oldest first; a batch
     * runs on a device lane (gpu = 1, slot = lane) or was computed at submit into
     * sync_res[slot] (CPU sessions, and batches the device pipeline does not take) */
    struct { int gpu, slot, n; } flight[2];
    int nflight;
    rfs_result *sync_res[2]; /* [max_batch] each, allocated on first use */
    int nres;
} pred_state;

void rfs_pred_state_free(void *p) {
    pred_state *ps = p;
    if (!ps) return;
    rfs_preprocess_ctx_free(&ps->pre);
    free(ps->bgr);
    free(ps->geom);
    free(ps->logit_crop);
    if (ps->have_plan) {
        rfs_maskup_plan_free(&ps->plan);
        rfs_maskup_scratch_free(&ps->scr);
    }
    free(ps->cand);
    free(ps->idx);
    free(ps->prob);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; ps->sync_res[k] && i < ps->nres; i++) rfs_result_free(&ps->sync_res[k][i]);
        free(ps->sync_res[k]);
    }
    free(ps);
}

rfs_predict_opts rfs_predict_defaults(rfs_preset preset) {
    rfs_predict_opts o = {.preset = preset, .want_masks = 1};
    o.threshold = preset == RFS_PRESET_RFDETR ? 0.5f : 0.4f;
    return o;
}

void rfs_result_free(rfs_result *r) {
    if (!r) return;
    free(r->dets);
    free(r->pool);
    memset(r, 0, sizeof *r);
}

static pred_state *state(rfs_session *s) {
    if (s->pred) return s->pred;
    const rfs_config *c = &s->m->cfg;
    size_t n = (size_t)c->num_queries * c->num_classes;
    pred_state *ps = rfs_calloc(1, sizeof *ps);
    if (!ps) return NULL;
    ps->cand = rfs_malloc(sizeof(rfs_cand) * n);
    ps->idx = rfs_malloc(sizeof(int) * n);
    ps->prob = rfs_malloc(sizeof(float) * n);
    ps->geom = rfs_calloc((size_t)s->o.max_batch, sizeof *ps->geom);
    ps->nres = s->o.max_batch;
    if (!ps->cand || !ps->idx || !ps->prob || !ps->geom) {
        rfs_pred_state_free(ps);
        return NULL;
    }
    s->pred = ps;
    return ps;
}

static rfs_status check_frame(const rfs_image *f, int i) {
    if (!f->data) return RFS_FAIL(RFS_ERR_ARG, "frame %d: no pixels", i);
    if (f->width < 1 || f->height < 1 || f->width > 65535 || f->height > 65535)
        return RFS_FAIL(RFS_ERR_ARG, "frame %d: size %dx%d out of range", i, f->width, f->height);
    if (f->stride < 3 * f->width)
        return RFS_FAIL(RFS_ERR_ARG, "frame %d: stride %d < 3 * width", i, f->stride);
    if (f->format != RFS_PIX_RGB8 && f->format != RFS_PIX_BGR8)
        return RFS_FAIL(RFS_ERR_ARG, "frame %d: unknown pixel format", i);
    return RFS_OK;
}

static rfs_status bgr_scratch(pred_state *ps, size_t need) {
    if (need <= ps->bgr_cap) return RFS_OK;
    uint8_t *nb = rfs_realloc(ps->bgr, need);
    if (!nb) return RFS_ERR_NOMEM;
    ps->bgr = nb;
    ps->bgr_cap = need;
    return RFS_OK;
}

/* cv2.cvtColor(BGR2GRAY) for 8-bit (fixed point, 15 fractional bits; equal to cv2 on all
 * 2^24 colours), replicated to three channels as Roboflow's grayscale pre-processing does. */
static void gray3(uint8_t *dst, const uint8_t *src, int w, int h, int stride, int rgb) {
    const int cb = rgb ? 2 : 0, cr = rgb ? 0 : 2;
    for (int y = 0; y < h; y++) {
        const uint8_t *p = src + (size_t)y * stride;
        uint8_t *d = dst + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            int g = (p[3 * x + cb] * 3735 + p[3 * x + 1] * 19235 + p[3 * x + cr] * 9798 + 16384) >> 15;
            d[3 * x] = d[3 * x + 1] = d[3 * x + 2] = (uint8_t)g;
        }
    }
}

static rfs_status preprocess(rfs_session *s, pred_state *ps, const rfs_image *f, float *dst,
                             const rfs_predict_opts *o, frame_geom *g) {
    const int R = s->m->cfg.resolution;
    const rfs_package *pkg = &s->m->pkg;
    if (o->preset == RFS_PRESET_RFDETR)
        return rfs_preprocess_rfdetr(dst, R, f->data, f->width, f->height, f->stride,
                                     f->format == RFS_PIX_BGR8, &ps->pre);
    /* static crop: a view into the frame */
    int rect[4] = {0, 0, f->width, f->height};
    if (pkg->static_crop && !o->disable_static_crop)
        rfs_static_crop_rect(rect, f->width, f->height, pkg->crop_pct[0], pkg->crop_pct[1],
                             pkg->crop_pct[2], pkg->crop_pct[3]);
    const int w = rect[2] - rect[0], h = rect[3] - rect[1];
    if (w < 1 || h < 1)
        return RFS_FAIL(RFS_ERR_ARG, "the package's static crop leaves nothing of a %dx%d frame",
                        f->width, f->height);
    const uint8_t *pix = f->data + (size_t)rect[1] * f->stride + (size_t)rect[0] * 3;
    int stride = f->stride;
    rfs_status st;
    /* grayscale first, into scratch (gray is the same in both channel orders) */
    int rgb = f->format == RFS_PIX_RGB8;
    if (pkg->grayscale && !o->disable_grayscale) {
        if ((st = bgr_scratch(ps, (size_t)w * h * 3)) != RFS_OK) return st;
        gray3(ps->bgr, pix, w, h, stride, rgb);
        pix = ps->bgr;
        stride = w * 3;
        rgb = 0;
    } else if (rgb && pkg->resize_mode != RFS_RESIZE_STRETCH) { /* these take BGR bytes */
        if ((st = bgr_scratch(ps, (size_t)w * h * 3)) != RFS_OK) return st;
        for (int y = 0; y < h; y++) {
            const uint8_t *src = pix + (size_t)y * stride;
            uint8_t *d = ps->bgr + (size_t)y * w * 3;
            for (int x = 0; x < w; x++) {
                d[3 * x] = src[3 * x + 2];
                d[3 * x + 1] = src[3 * x + 1];
                d[3 * x + 2] = src[3 * x];
            }
        }
        pix = ps->bgr;
        stride = w * 3;
        rgb = 0;
    }
    g->crop_x = rect[0], g->crop_y = rect[1], g->w = w, g->h = h;
    memset(g->pad, 0, sizeof g->pad);
    switch (pkg->resize_mode) {
    case RFS_RESIZE_LETTERBOX: {
        rfs_letterbox lb;
        st = rfs_preprocess_roboflow_letterbox(dst, R, pix, w, h, stride, pkg->padding_value,
                                               &ps->pre, &lb);
        g->pad[0] = lb.pad_left, g->pad[1] = lb.pad_top, g->pad[2] = lb.pad_right, g->pad[3] = lb.pad_bottom;
        g->scale_w = g->scale_h = (float)lb.scale;
        return st;
    }
    case RFS_RESIZE_CENTER_CROP: {
        rfs_center_crop cc;
        st = rfs_preprocess_roboflow_center_crop(dst, R, pix, w, h, stride, &cc);
        g->pad[0] = cc.pad_left, g->pad[1] = cc.pad_top, g->pad[2] = cc.pad_right, g->pad[3] = cc.pad_bottom;
        g->scale_w = g->scale_h = 1.0f;
        return st;
    }
    case RFS_RESIZE_STRETCH:
        break;
    }
    g->scale_w = (float)((double)R / w);
    g->scale_h = (float)((double)R / h);
    /* cv2.resize treats the channels alike: RGB input resizes to the same planes */
    if (rgb) return rfs_preprocess_roboflow_rgb(dst, R, pix, w, h, stride, &ps->pre);
    return rfs_preprocess_roboflow(dst, R, pix, w, h, stride, &ps->pre);
}

static rfs_status ensure_plan(pred_state *ps, int in_w, int in_h, int W, int H, rfs_maskup_mode mode) {
    if (ps->have_plan && ps->plan_in_w == in_w && ps->plan_in_h == in_h && ps->plan_w == W &&
        ps->plan_h == H && ps->plan_mode == (int)mode)
        return RFS_OK;
    if (ps->have_plan) {
        rfs_maskup_plan_free(&ps->plan);
        rfs_maskup_scratch_free(&ps->scr);
        ps->have_plan = 0;
    }
    rfs_status st = rfs_maskup_plan_init(&ps->plan, in_w, in_h, W, H, mode);
    if (st != RFS_OK) return st;
    if ((st = rfs_maskup_scratch_init(&ps->scr, &ps->plan)) != RFS_OK) {
        rfs_maskup_plan_free(&ps->plan);
        return st;
    }
    ps->plan_in_w = in_w, ps->plan_in_h = in_h, ps->plan_w = W, ps->plan_h = H;
    ps->plan_mode = (int)mode, ps->have_plan = 1;
    return RFS_OK;
}

/* Mask padding removal (letterbox / center-crop): pads scale to the mask grid with
 * Python's round (half to even); negative pads add rows/columns of logit 0. */
static void mask_window(const frame_geom *g, int R, int H4, int win[4]) {
    for (int k = 0; k < 4; k++) win[k] = (int)nearbyint((double)H4 / R * g->pad[k]);
}

static rfs_status reserve(rfs_result *r, int n) {
    if (n <= r->capacity) return RFS_OK;
    rfs_detection *d = rfs_realloc(r->dets, sizeof *d * (size_t)n);
    if (!d) return RFS_ERR_NOMEM;
    r->dets = d;
    r->capacity = n;
    return RFS_OK;
}

/* Roboflow R1 box math in float32 (roboflow-pipeline.md 2.2 step 6): xyxy in network
 * pixels (x R), minus the pads, divided by the scale, plus the static-crop offset, rounded
 * half to even; optionally clamped to the frame first (R2). */
static void box_roboflow(float out[4], const float *b, int R, const frame_geom *g, int W, int H,
                         int clip) {
    const float fR = (float)R;
    const float hw = 0.5f * b[2], hh = 0.5f * b[3];
    float v[4] = {(b[0] - hw) * fR, (b[1] - hh) * fR, (b[0] + hw) * fR, (b[1] + hh) * fR};
    for (int k = 0; k < 4; k++) {
        v[k] = (v[k] - (float)g->pad[k & 1]) / (k & 1 ? g->scale_h : g->scale_w);
        v[k] += (float)(k & 1 ? g->crop_y : g->crop_x);
        if (clip) v[k] = fminf(fmaxf(v[k], 0.f), (float)(k & 1 ? H : W));
        out[k] = rintf(v[k]); /* round half to even (default rounding mode) */
    }
}

static rfs_status postprocess(rfs_session *s, pred_state *ps, int b, const rfs_image *f,
                              const rfs_predict_opts *o, rfs_result *r) {
    const rfs_config *c = &s->m->cfg;
    const int nq = c->num_queries, K = c->num_classes, H4 = c->mask_side, R = c->resolution;
    const float *logits = s->out_logits + (size_t)b * nq * K;
    const float *boxes = s->out_boxes + (size_t)b * nq * 4;
    const float *masks = s->out_masks + (size_t)b * nq * H4 * H4;
    const frame_geom *g = &ps->geom[b];
    const int W = f->width, H = f->height, rf = o->preset == RFS_PRESET_ROBOFLOW;
    int n;
    double t0 = now_ms();
    if (!rf) {
        n = rfs_select_topk(ps->cand, logits, nq, K, c->num_select, ps->idx, ps->prob);
        int keep = 0;
        while (keep < n && ps->cand[keep].score > o->threshold) keep++;
        n = keep;
    } else {
        n = rfs_select_argmax(ps->cand, logits, nq, K, s->m->remap, rfs_model_class_count(s->m),
                              o->threshold, o->class_thresholds, o->n_class_thresholds);
    }
    rfs_status st = reserve(r, n);
    if (st != RFS_OK) return st;
    r->width = W, r->height = H, r->count = n;
    double t1 = now_ms();
    s->times.select_ms += t1 - t0;
    /* the mask logits that map onto the frame region the network saw */
    int win[4] = {0, 0, 0, 0};
    if (rf) mask_window(g, R, H4, win);
    const int mw = H4 - win[0] - win[2], mh = H4 - win[1] - win[3];
    const int cropped = win[0] || win[1] || win[2] || win[3];
    if (o->want_masks && n > 0) {
        if (mw < 1 || mh < 1)
            return RFS_FAIL(RFS_ERR_ARG, "frame %dx%d: no mask area left after padding removal", W, H);
        if (cropped && (size_t)mw * mh > ps->logit_cap) {
            float *nb = rfs_realloc(ps->logit_crop, sizeof(float) * (size_t)mw * mh);
            if (!nb) return RFS_ERR_NOMEM;
            ps->logit_crop = nb;
            ps->logit_cap = (size_t)mw * mh;
        }
        st = ensure_plan(ps, mw, mh, rf ? g->w : W, rf ? g->h : H,
                         rf ? RFS_MASKUP_AA : RFS_MASKUP_BILINEAR);
        if (st != RFS_OK) return st;
    }
    size_t pool_len = 0;
    for (int i = 0; i < n; i++) {
        rfs_detection *d = &r->dets[i];
        const rfs_cand *cd = &ps->cand[i];
        d->score = cd->score;
        d->class_id = cd->cls;
        d->query = cd->query;
        d->tracker_id = -1;
        if (!rf) rfs_box_xyxy(d->box, boxes + (size_t)cd->query * 4, (float)W, (float)H);
        else box_roboflow(d->box, boxes + (size_t)cd->query * 4, R, g, W, H, o->clip_boxes);
        memset(&d->mask, 0, sizeof d->mask);
        if (!o->want_masks) continue;
        const float *ml = masks + (size_t)cd->query * H4 * H4;
        if (cropped) { /* rows/cols [win0, H4-win2) x [win1, H4-win3), zeros where negative */
            for (int y = 0; y < mh; y++)
                for (int x = 0; x < mw; x++) {
                    int sy = y + win[1], sx = x + win[0];
                    ps->logit_crop[(size_t)y * mw + x] =
                        sy >= 0 && sy < H4 && sx >= 0 && sx < H4 ? ml[(size_t)sy * H4 + sx] : 0.f;
                }
            ml = ps->logit_crop;
        }
        rfs_mask m;
        rfs_maskup_run(&ps->plan, &ps->scr, ml, &m);
        if (rf && m.w) m.x0 += g->crop_x, m.y0 += g->crop_y; /* pasted at the static crop */
        size_t bytes = (size_t)m.w * m.h;
        if (pool_len + bytes > r->pool_cap) {
            size_t cap = r->pool_cap ? r->pool_cap : 65536;
            while (cap < pool_len + bytes) cap *= 2;
            uint8_t *np = rfs_realloc(r->pool, cap);
            if (!np) return RFS_ERR_NOMEM;
            r->pool = np;
            r->pool_cap = cap;
        }
        if (bytes) memcpy(r->pool + pool_len, m.data, bytes);
        d->mask = m;
        d->mask.data = (uint8_t *)(uintptr_t)pool_len; /* offset until the pool stops moving */
        pool_len += bytes;
    }
    for (int i = 0; i < n && o->want_masks; i++) {
        rfs_mask *m = &r->dets[i].mask;
        m->data = m->w ? r->pool + (uintptr_t)m->data : NULL;
    }
    s->times.masks_ms += now_ms() - t1;
    return RFS_OK;
}

static rfs_status check_call(const rfs_session *s, const rfs_image *frames, int n,
                             const rfs_predict_opts *o) {
    if (n < 1 || n > s->o.max_batch)
        return RFS_FAIL(RFS_ERR_ARG, "%d frames for a session of batch %d", n, s->o.max_batch);
    if (o->preset != RFS_PRESET_ROBOFLOW && o->preset != RFS_PRESET_RFDETR)
        return RFS_FAIL(RFS_ERR_ARG, "unknown preset %d", (int)o->preset);
    if (!(o->threshold >= 0.f && o->threshold <= 1.f))
        return RFS_FAIL(RFS_ERR_ARG, "threshold %g outside [0, 1]", o->threshold);
    rfs_status st;
    for (int i = 0; i < n; i++)
        if ((st = check_frame(&frames[i], i)) != RFS_OK) return st;
    return RFS_OK;
}

/* The host pipeline: CPU pre-processing, the network (either backend), CPU selection and
 * masks. raw (tests): the network's outputs given instead of computed. */
static rfs_status predict_host(rfs_session *s, pred_state *ps, const rfs_image *frames, int n,
                               const rfs_predict_opts *o, rfs_result *results, const rfs_raw *raw) {
    const rfs_config *c = &s->m->cfg;
    const int R = c->resolution;
    const size_t img = (size_t)3 * R * R;
    rfs_status st;
    double t0 = now_ms();
    for (int i = 0; i < n; i++)
        if ((st = preprocess(s, ps, &frames[i], s->input + i * img, o, &ps->geom[i])) != RFS_OK)
            return st;
    double t1 = now_ms();
    if (raw) {
        const size_t nq = c->num_queries, P = (size_t)c->mask_side * c->mask_side;
        memcpy(s->out_logits, raw->logits, sizeof(float) * n * nq * c->num_classes);
        memcpy(s->out_boxes, raw->boxes, sizeof(float) * n * nq * 4);
        memcpy(s->out_masks, raw->masks, sizeof(float) * n * nq * P);
    } else if ((st = rfs_forward(s, s->input, n, NULL)) != RFS_OK) {
        return st;
    }
    s->times.preprocess_ms += t1 - t0;
    s->times.forward_ms += now_ms() - t1;
    s->times.frames += n;
    s->times.batches++;
    for (int i = 0; i < n; i++)
        if ((st = postprocess(s, ps, i, &frames[i], o, &results[i])) != RFS_OK) return st;
    return RFS_OK;
}

/* 1 when the batch goes through the device pipeline (cuda/pipeline.cu): a CUDA session
 * and frames of one size and format whose geometry the CPU path would accept. */
static int on_device(const rfs_session *s, const rfs_image *frames, int n, const rfs_predict_opts *o) {
#if RFS_HAVE_CUDA
    return s->o.backend == RFS_BACKEND_CUDA && rfs_cuda_pipe_accepts(s, frames, n, o);
#else
    (void)s, (void)frames, (void)n, (void)o;
    return 0;
#endif
}

static rfs_status predict_any(rfs_session *s, const rfs_image *frames, int n,
                              const rfs_predict_opts *o, rfs_result *results, const rfs_raw *raw) {
    rfs_predict_opts def = rfs_predict_defaults(RFS_PRESET_ROBOFLOW);
    if (!o) o = &def;
    rfs_status st = check_call(s, frames, n, o);
    if (st != RFS_OK) return st;
    pred_state *ps = state(s);
    if (!ps) return RFS_ERR_NOMEM;
    if (ps->nflight)
        return RFS_FAIL(RFS_ERR_ARG, "rfs_predict: %d submitted batch(es) not collected yet",
                        ps->nflight);
#if RFS_HAVE_CUDA
    if (on_device(s, frames, n, o)) {
        rfs_cuda_pipe_inject(s, raw);
        st = rfs_cuda_pipe_submit(s, 0, frames, n, o);
        if (st == RFS_OK) st = rfs_cuda_pipe_collect(s, 0, results);
        if (raw) rfs_cuda_pipe_inject(s, NULL);
        return st;
    }
#endif
    return predict_host(s, ps, frames, n, o, results, raw);
}

rfs_status rfs_predict(rfs_session *s, const rfs_image *frames, int n, const rfs_predict_opts *o,
                       rfs_result *results) {
    return predict_any(s, frames, n, o, results, NULL);
}

rfs_status rfs_predict_raw(rfs_session *s, const rfs_image *frames, int n,
                           const rfs_predict_opts *o, const rfs_raw *raw, rfs_result *results) {
    return predict_any(s, frames, n, o, results, raw);
}

rfs_status rfs_predict_submit(rfs_session *s, const rfs_image *frames, int n,
                              const rfs_predict_opts *o) {
    rfs_predict_opts def = rfs_predict_defaults(RFS_PRESET_ROBOFLOW);
    if (!o) o = &def;
    rfs_status st = check_call(s, frames, n, o);
    if (st != RFS_OK) return st;
    pred_state *ps = state(s);
    if (!ps) return RFS_ERR_NOMEM;
    if (ps->nflight == 2)
        return RFS_FAIL(RFS_ERR_ARG, "two batches are in flight: collect one before submitting");
    int lane_used[2] = {0, 0}, slot_used[2] = {0, 0};
    for (int i = 0; i < ps->nflight; i++) {
        if (ps->flight[i].gpu) lane_used[ps->flight[i].slot] = 1;
        else slot_used[ps->flight[i].slot] = 1;
    }
    int gpu = on_device(s, frames, n, o), slot;
#if RFS_HAVE_CUDA
    if (gpu) {
        slot = lane_used[0] ? 1 : 0;
        if ((st = rfs_cuda_pipe_submit(s, slot, frames, n, o)) != RFS_OK) return st;
    } else
#endif
    {
        (void)lane_used;
        slot = slot_used[0] ? 1 : 0;
        if (!ps->sync_res[slot] && !(ps->sync_res[slot] = rfs_calloc((size_t)ps->nres, sizeof(rfs_result))))
            return RFS_ERR_NOMEM;
        if ((st = predict_host(s, ps, frames, n, o, ps->sync_res[slot], NULL)) != RFS_OK) return st;
    }
    ps->flight[ps->nflight].gpu = gpu;
    ps->flight[ps->nflight].slot = slot;
    ps->flight[ps->nflight].n = n;
    ps->nflight++;
    return RFS_OK;
}

rfs_status rfs_predict_collect(rfs_session *s, rfs_result *results, int *count) {
    if (count) *count = 0;
    pred_state *ps = s->pred;
    if (!ps || !ps->nflight) return RFS_FAIL(RFS_ERR_ARG, "rfs_predict_collect: no batch in flight");
    const int gpu = ps->flight[0].gpu, slot = ps->flight[0].slot, n = ps->flight[0].n;
    ps->flight[0] = ps->flight[1];
    ps->nflight--;
    rfs_status st = RFS_OK;
#if RFS_HAVE_CUDA
    if (gpu) st = rfs_cuda_pipe_collect(s, slot, results);
    else
#endif
        for (int i = 0; i < n; i++) { /* hand the results over; the caller's storage is reused */
            rfs_result t = results[i];
            results[i] = ps->sync_res[slot][i];
            ps->sync_res[slot][i] = t;
        }
    (void)gpu;
    if (st == RFS_OK && count) *count = n;
    return st;
}

int rfs_predict_pending(const rfs_session *s) {
    const pred_state *ps = s->pred;
    return ps ? ps->nflight : 0;
}

const float *rfs_session_input(const rfs_session *s) { return s->input; }
