/* predict.c - frames in, detections out: preprocess (preset), forward, select (preset),
 * boxes, masks for the kept detections only. All scratch lives in the session and the
 * result; once warm (same frame size), a call allocates nothing. */
#include "lab.h"

#include "pipeline/geometry.h"
#include "pipeline/maskup.h"
#include "pipeline/preprocess.h"
#include "pipeline/result.h"
#include "pipeline/select.h"
#include "pipeline/session.h"
#include "util/err.h"

#include <math.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void rfs_session_times(const rfs_session *s, rfs_stage_times *out) { *out = s->times; }
void rfs_session_times_reset(rfs_session *s) { memset(&s->times, 0, sizeof s->times); }

struct rfs_pred_state {
    rfs_preprocess_ctx pre;
    uint8_t *bgr;            /* frames converted for the roboflow preset (RGB in, grayscale) */
    size_t bgr_cap;
    rfs_frame_geom *geom;    /* per batch slot */
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
};
typedef struct rfs_pred_state pred_state;

void rfs_pred_state_free(pred_state *ps) {
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
    o.threshold = preset == RFS_PRESET_ROBOFLOW ? 0.4f : 0.5f;
    return o;
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

/* One frame into the network input, after its geometry (geometry.h). */
static rfs_status preprocess(rfs_session *s, pred_state *ps, const rfs_image *f, float *dst,
                             const rfs_predict_opts *o, rfs_frame_geom *g) {
    const int R = s->m->cfg.resolution;
    rfs_status st = rfs_frame_geom_init(g, s->m, f->width, f->height, o);
    if (st != RFS_OK) return st;
    if (o->preset != RFS_PRESET_ROBOFLOW)
        return (o->preset == RFS_PRESET_RFDETR ? rfs_preprocess_rfdetr : rfs_preprocess_rfdetr14)(
            dst, R, f->data, f->width, f->height, f->stride, f->format == RFS_PIX_BGR8, &ps->pre);
    /* static crop: a view into the frame */
    const int w = g->cw, h = g->ch;
    const uint8_t *pix = f->data + (size_t)g->crop_y * f->stride + (size_t)g->crop_x * 3;
    int stride = f->stride;
    /* grayscale first, into scratch (gray is the same in both channel orders) */
    int rgb = f->format == RFS_PIX_RGB8;
    if (g->gray) {
        if ((st = bgr_scratch(ps, (size_t)w * h * 3)) != RFS_OK) return st;
        gray3(ps->bgr, pix, w, h, stride, rgb);
        pix = ps->bgr;
        stride = w * 3;
        rgb = 0;
    } else if (rgb && g->resize_mode != RFS_RESIZE_STRETCH) { /* these take BGR bytes */
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
    switch (g->resize_mode) {
    case RFS_RESIZE_LETTERBOX:
        return rfs_preprocess_roboflow_letterbox(dst, R, pix, w, h, stride, g->pad_value,
                                                 &ps->pre, NULL);
    case RFS_RESIZE_CENTER_CROP:
        return rfs_preprocess_roboflow_center_crop(dst, R, pix, w, h, stride, NULL);
    default:
        /* cv2.resize treats the channels alike: RGB input resizes to the same planes */
        if (rgb) return rfs_preprocess_roboflow_rgb(dst, R, pix, w, h, stride, &ps->pre);
        return rfs_preprocess_roboflow(dst, R, pix, w, h, stride, &ps->pre);
    }
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

static rfs_status postprocess(rfs_session *s, pred_state *ps, int b, const rfs_image *f,
                              const rfs_predict_opts *o, rfs_result *r) {
    const rfs_config *c = &s->m->cfg;
    const rfs_net *net = s->net;
    const int nq = c->num_queries, K = c->num_classes, H4 = c->mask_side;
    const float *logits = net->logits + (size_t)b * nq * K;
    const float *boxes = net->boxes + (size_t)b * nq * 4;
    const float *masks = net->masks + (size_t)b * nq * H4 * H4;
    const rfs_frame_geom *g = &ps->geom[b];
    const int W = f->width, H = f->height, rf = o->preset == RFS_PRESET_ROBOFLOW;
    int n;
    double t0 = now_ms();
    if (!rf) {
        n = rfs_select_topk(ps->cand, logits, nq, K, c->num_select, ps->idx, ps->prob);
        n = rfs_select_above(ps->cand, n, o->threshold);
    } else {
        n = rfs_select_argmax(ps->cand, logits, nq, K, s->m->remap, rfs_model_class_count(s->m),
                              o->threshold, o->class_thresholds, o->n_class_thresholds);
    }
    rfs_status st = rfs_result_reserve(r, n);
    if (st == RFS_OK) st = rfs_result_set_preset(r, o->preset);
    if (st != RFS_OK) return st;
    r->width = W, r->height = H, r->count = n;
    double t1 = now_ms();
    s->times.select_ms += t1 - t0;
    /* the mask logits that map onto the frame region the network saw */
    const int *win = g->win, mw = g->mw, mh = g->mh;
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
        st = ensure_plan(ps, mw, mh, g->ow, g->oh, rf ? RFS_MASKUP_AA : RFS_MASKUP_BILINEAR);
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
        rfs_geom_box(d->box, boxes + (size_t)cd->query * 4, g, rf && o->clip_boxes);
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
        if (m.w) m.x0 += g->crop_x, m.y0 += g->crop_y; /* pasted at the static crop */
        size_t bytes = (size_t)m.w * m.h;
        uint8_t *pool = rfs_result_pool(r, pool_len + bytes);
        if (!pool) return RFS_ERR_NOMEM;
        if (bytes) memcpy(pool + pool_len, m.data, bytes);
        d->mask = m;
        d->mask.data = (uint8_t *)(uintptr_t)pool_len; /* offset until the pool stops moving */
        pool_len += bytes;
    }
    for (int i = 0; i < n && o->want_masks; i++) {
        rfs_mask *m = &r->dets[i].mask;
        m->data = m->w ? rfs_result_pool(r, 0) + (uintptr_t)m->data : NULL;
    }
    s->times.masks_ms += now_ms() - t1;
    return RFS_OK;
}

static rfs_status check_call(const rfs_session *s, const rfs_image *frames, int n,
                             const rfs_predict_opts *o) {
    if (n < 1 || n > s->o.max_batch)
        return RFS_FAIL(RFS_ERR_ARG, "%d frames for a session of batch %d", n, s->o.max_batch);
    if (o->preset != RFS_PRESET_ROBOFLOW && o->preset != RFS_PRESET_RFDETR &&
        o->preset != RFS_PRESET_RFDETR_14)
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
    rfs_net *net = s->net;
    const size_t img = (size_t)3 * c->resolution * c->resolution;
    rfs_status st;
    double t0 = now_ms();
    for (int i = 0; i < n; i++)
        if ((st = preprocess(s, ps, &frames[i], net->input + i * img, o, &ps->geom[i])) != RFS_OK)
            return st;
    double t1 = now_ms();
    if (raw) {
        const size_t nq = c->num_queries, P = (size_t)c->mask_side * c->mask_side;
        memcpy(net->logits, raw->logits, sizeof(float) * n * nq * c->num_classes);
        memcpy(net->boxes, raw->boxes, sizeof(float) * n * nq * 4);
        memcpy(net->masks, raw->masks, sizeof(float) * n * nq * P);
    } else if ((st = net->ops->forward(net, net->input, n)) != RFS_OK) {
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

/* 1 when the batch runs as a whole on the backend's device (CUDA: frames of one size and
 * format whose geometry the host path would accept); else the host pipeline runs. */
static int on_device(const rfs_session *s, const rfs_image *frames, int n, const rfs_predict_opts *o) {
    const rfs_backend_ops *ops = s->net->ops;
    return ops->accepts && ops->accepts(s->net, frames, n, o);
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
    rfs_net *net = s->net;
    if (on_device(s, frames, n, o)) {
        if (raw) net->ops->inject(net, raw);
        st = net->ops->submit(net, 0, frames, n, o);
        if (st == RFS_OK) st = net->ops->collect(net, 0, results, &s->times);
        if (raw) net->ops->inject(net, NULL);
        return st;
    }
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
    /* device batches run on lanes, host batches were computed into result slots: each
     * in-flight batch holds one of its kind */
    int used[2][2] = {{0, 0}, {0, 0}};
    for (int i = 0; i < ps->nflight; i++) used[ps->flight[i].gpu][ps->flight[i].slot] = 1;
    const int gpu = on_device(s, frames, n, o), slot = used[gpu][0] ? 1 : 0;
    if (gpu) {
        if ((st = s->net->ops->submit(s->net, slot, frames, n, o)) != RFS_OK) return st;
    } else {
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
    if (gpu) st = s->net->ops->collect(s->net, slot, results, &s->times);
    else
        for (int i = 0; i < n; i++) { /* hand the results over; the caller's storage is reused */
            rfs_result t = results[i];
            results[i] = ps->sync_res[slot][i];
            ps->sync_res[slot][i] = t;
        }
    if (st == RFS_OK && count) *count = n;
    return st;
}

int rfs_predict_pending(const rfs_session *s) {
    const pred_state *ps = s->pred;
    return ps ? ps->nflight : 0;
}

const float *rfs_session_input(const rfs_session *s) { return s->net->input; }
