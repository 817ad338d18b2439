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

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void rfs_session_times(const rfs_session *s, rfs_stage_times *out) { *out = s->times; }
void rfs_session_times_reset(rfs_session *s) { memset(&s->times, 0, sizeof s->times); }

typedef struct pred_state {
    rfs_preprocess_ctx pre;
    uint8_t *bgr;            /* RGB frames converted for the roboflow preset */
    size_t bgr_cap;
    rfs_maskup_plan plan;    /* for the last frame size and mode */
    int plan_w, plan_h, plan_mode, have_plan;
    rfs_maskup_scratch scr;
    rfs_cand *cand;          /* nq * K */
    int *idx;                /* nq * K */
    float *prob;             /* nq * K */
} pred_state;

void rfs_pred_state_free(void *p) {
    pred_state *ps = p;
    if (!ps) return;
    rfs_preprocess_ctx_free(&ps->pre);
    free(ps->bgr);
    if (ps->have_plan) {
        rfs_maskup_plan_free(&ps->plan);
        rfs_maskup_scratch_free(&ps->scr);
    }
    free(ps->cand);
    free(ps->idx);
    free(ps->prob);
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
    if (!ps->cand || !ps->idx || !ps->prob) {
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

static rfs_status preprocess(rfs_session *s, pred_state *ps, const rfs_image *f, float *dst,
                             rfs_preset preset) {
    const int R = s->m->cfg.resolution;
    if (preset == RFS_PRESET_RFDETR)
        return rfs_preprocess_rfdetr(dst, R, f->data, f->width, f->height, f->stride,
                                     f->format == RFS_PIX_BGR8, &ps->pre);
    const uint8_t *bgr = f->data;
    int stride = f->stride;
    if (f->format == RFS_PIX_RGB8) { /* the reference resizes BGR bytes, then flips */
        size_t need = (size_t)f->width * f->height * 3;
        if (need > ps->bgr_cap) {
            uint8_t *nb = rfs_realloc(ps->bgr, need);
            if (!nb) return RFS_ERR_NOMEM;
            ps->bgr = nb;
            ps->bgr_cap = need;
        }
        for (int y = 0; y < f->height; y++) {
            const uint8_t *src = f->data + (size_t)y * f->stride;
            uint8_t *d = ps->bgr + (size_t)y * f->width * 3;
            for (int x = 0; x < f->width; x++) {
                d[3 * x] = src[3 * x + 2];
                d[3 * x + 1] = src[3 * x + 1];
                d[3 * x + 2] = src[3 * x];
            }
        }
        bgr = ps->bgr;
        stride = f->width * 3;
    }
    return rfs_preprocess_roboflow(dst, R, bgr, f->width, f->height, stride, &ps->pre);
}

static rfs_status ensure_plan(pred_state *ps, int in, int W, int H, rfs_maskup_mode mode) {
    if (ps->have_plan && ps->plan_w == W && ps->plan_h == H && ps->plan_mode == (int)mode)
        return RFS_OK;
    if (ps->have_plan) {
        rfs_maskup_plan_free(&ps->plan);
        rfs_maskup_scratch_free(&ps->scr);
        ps->have_plan = 0;
    }
    rfs_status st = rfs_maskup_plan_init(&ps->plan, in, in, W, H, mode);
    if (st != RFS_OK) return st;
    if ((st = rfs_maskup_scratch_init(&ps->scr, &ps->plan)) != RFS_OK) {
        rfs_maskup_plan_free(&ps->plan);
        return st;
    }
    ps->plan_w = W, ps->plan_h = H, ps->plan_mode = (int)mode, ps->have_plan = 1;
    return RFS_OK;
}

static rfs_status reserve(rfs_result *r, int n) {
    if (n <= r->capacity) return RFS_OK;
    rfs_detection *d = rfs_realloc(r->dets, sizeof *d * (size_t)n);
    if (!d) return RFS_ERR_NOMEM;
    r->dets = d;
    r->capacity = n;
    return RFS_OK;
}

/* Roboflow R1 box math in float32 (roboflow-pipeline.md 2.2 step 6): xyxy in the network
 * frame (x R), divided by the stretch scale R / W, rounded half to even. */
static void box_roboflow(float out[4], const float *b, int R, int W, int H, int clip) {
    const float sw = (float)((double)R / W), sh = (float)((double)R / H), fR = (float)R;
    float hw = 0.5f * b[2], hh = 0.5f * b[3];
    float v[4] = {(b[0] - hw) * fR / sw, (b[1] - hh) * fR / sh, (b[0] + hw) * fR / sw,
                  (b[1] + hh) * fR / sh};
    for (int k = 0; k < 4; k++) {
        if (clip) v[k] = fminf(fmaxf(v[k], 0.f), (float)(k & 1 ? H : W));
        out[k] = rintf(v[k]); /* round half to even (default rounding mode) */
    }
}

static rfs_status postprocess(rfs_session *s, pred_state *ps, int b, const rfs_image *f,
                              const rfs_predict_opts *o, rfs_result *r) {
    const rfs_config *c = &s->m->cfg;
    const int nq = c->num_queries, K = c->num_classes, H4 = c->mask_side;
    const float *logits = s->out_logits + (size_t)b * nq * K;
    const float *boxes = s->out_boxes + (size_t)b * nq * 4;
    const float *masks = s->out_masks + (size_t)b * nq * H4 * H4;
    const int W = f->width, H = f->height;
    int n;
    double t0 = now_ms();
    if (o->preset == RFS_PRESET_RFDETR) {
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
    size_t pool_len = 0;
    if (o->want_masks && n > 0) {
        st = ensure_plan(ps, H4, W, H, o->preset == RFS_PRESET_RFDETR ? RFS_MASKUP_BILINEAR : RFS_MASKUP_AA);
        if (st != RFS_OK) return st;
    }
    for (int i = 0; i < n; i++) {
        rfs_detection *d = &r->dets[i];
        const rfs_cand *cd = &ps->cand[i];
        d->score = cd->score;
        d->class_id = cd->cls;
        d->query = cd->query;
        if (o->preset == RFS_PRESET_RFDETR) rfs_box_xyxy(d->box, boxes + (size_t)cd->query * 4, (float)W, (float)H);
        else box_roboflow(d->box, boxes + (size_t)cd->query * 4, c->resolution, W, H, o->clip_boxes);
        memset(&d->mask, 0, sizeof d->mask);
        if (!o->want_masks) continue;
        rfs_mask m;
        rfs_maskup_run(&ps->plan, &ps->scr, masks + (size_t)cd->query * H4 * H4, &m);
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

rfs_status rfs_predict(rfs_session *s, const rfs_image *frames, int n, const rfs_predict_opts *o,
                       rfs_result *results) {
    rfs_predict_opts def = rfs_predict_defaults(RFS_PRESET_ROBOFLOW);
    if (!o) o = &def;
    if (n < 1 || n > s->o.max_batch)
        return RFS_FAIL(RFS_ERR_ARG, "%d frames for a session of batch %d", n, s->o.max_batch);
    if (o->preset != RFS_PRESET_ROBOFLOW && o->preset != RFS_PRESET_RFDETR)
        return RFS_FAIL(RFS_ERR_ARG, "unknown preset %d", (int)o->preset);
    if (!(o->threshold >= 0.f && o->threshold <= 1.f))
        return RFS_FAIL(RFS_ERR_ARG, "threshold %g outside [0, 1]", o->threshold);
    pred_state *ps = state(s);
    if (!ps) return RFS_ERR_NOMEM;
    const int R = s->m->cfg.resolution;
    const size_t img = (size_t)3 * R * R;
    rfs_status st;
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        if ((st = check_frame(&frames[i], i)) != RFS_OK) return st;
        if ((st = preprocess(s, ps, &frames[i], s->input + i * img, o->preset)) != RFS_OK) return st;
    }
    double t1 = now_ms();
    if ((st = rfs_forward(s, s->input, n, NULL)) != RFS_OK) return st;
    s->times.preprocess_ms += t1 - t0;
    s->times.forward_ms += now_ms() - t1;
    s->times.frames += n;
    s->times.batches++;
    for (int i = 0; i < n; i++)
        if ((st = postprocess(s, ps, i, &frames[i], o, &results[i])) != RFS_OK) return st;
    return RFS_OK;
}

const float *rfs_session_input(const rfs_session *s) { return s->input; }
