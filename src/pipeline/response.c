/* response.c - JSON writers (see response.h). */
#include "pipeline/response.h"

#include "model/model.h"
#include "pipeline/fmt.h"
#include "pipeline/result.h"
#include "util/err.h"

#include <stdlib.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void rfs_text_free(rfs_text *b) {
    if (!b) return;
    free(b->p);
    memset(b, 0, sizeof *b);
}

void rfs_text_reset(rfs_text *b) {
    b->len = 0;
    b->oom = 0;
    if (b->p) b->p[0] = 0;
}

static int grow(rfs_text *b, size_t extra) {
    if (b->oom) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

void rfs_text_put(rfs_text *b, const char *s, size_t n) {
    if (!grow(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void rfs_text_puts(rfs_text *b, const char *s) { rfs_text_put(b, s, strlen(s)); }

void rfs_text_double(rfs_text *b, double v) {
    if (!grow(b, RFS_FMT_DOUBLE_MAX)) return;
    b->len += (size_t)rfs_fmt_json_double(b->p + b->len, v);
}

void rfs_text_int(rfs_text *b, long long v) {
    if (!grow(b, 24)) return;
    b->len += (size_t)snprintf(b->p + b->len, 24, "%lld", v);
}

void rfs_text_string(rfs_text *b, const char *s) {
    size_t n = strlen(s);
    if (!grow(b, rfs_json_escape_bound(n) + 2)) return;
    b->p[b->len++] = '"';
    b->len += rfs_json_escape(b->p + b->len, s, n);
    b->p[b->len++] = '"';
    b->p[b->len] = 0;
}

void rfs_shapes_release(struct rfs_shapes *c) {
    if (!c) return;
    rfs_contour_ctx_free(&c->contour);
    rfs_ivec_free(&c->poly);
    rfs_rle_free(&c->rle);
    free(c->rle_str);
    c->rle_str = NULL;
    c->rle_cap = 0;
}

rfs_status rfs_shapes_create(rfs_shapes **out) {
    *out = rfs_calloc(1, sizeof **out);
    return *out ? RFS_OK : RFS_ERR_NOMEM;
}

void rfs_shapes_free(rfs_shapes *s) {
    rfs_shapes_release(s);
    free(s);
}

double rfs_shapes_time_ms(const rfs_shapes *s) { return s->shape_ms; }

rfs_status rfs_mask_polygon(rfs_shapes *s, const rfs_mask *m, const int **xy, int *npoints) {
    *xy = NULL;
    *npoints = 0;
    double t0 = now_ms();
    rfs_status st = rfs_contour_longest(&s->poly, &s->contour, m);
    s->shape_ms += now_ms() - t0;
    if (st != RFS_OK) return st;
    *xy = s->poly.v;
    *npoints = (int)(s->poly.n / 2);
    return RFS_OK;
}

rfs_status rfs_mask_rle(rfs_shapes *s, const rfs_mask *m, int W, int H, const char **counts) {
    *counts = NULL;
    double t0 = now_ms();
    rfs_status st = rfs_rle_counts(&s->rle, m, W, H);
    if (st == RFS_OK) {
        size_t bound = rfs_rle_string_bound(&s->rle) + 1;
        if (bound > s->rle_cap) {
            char *p = rfs_realloc(s->rle_str, bound);
            if (!p) return RFS_ERR_NOMEM;
            s->rle_str = p;
            s->rle_cap = bound;
        }
        size_t n = rfs_rle_string(s->rle_str, s->rle_cap, &s->rle);
        s->rle_str[n] = 0;
        *counts = s->rle_str;
    }
    s->shape_ms += now_ms() - t0;
    return st;
}

rfs_response_opts rfs_response_defaults(void) {
    rfs_response_opts o = {.format = RFS_MASK_POLYGON, .time = -1, .frame_id = -1, .source_id = -1};
    return o;
}

rfs_status rfs_mask_format_parse(const char *s, rfs_mask_format *out) {
    if (!strcmp(s, "polygon")) *out = RFS_MASK_POLYGON;
    else if (!strcmp(s, "rle")) *out = RFS_MASK_RLE;
    else if (!strcmp(s, "none")) *out = RFS_MASK_NONE;
    else return RFS_FAIL(RFS_ERR_ARG, "mask format '%s': expected polygon, rle or none", s);
    return RFS_OK;
}

const char *rfs_roboflow_class_name(const rfs_model *m, int id, char buf[16]) {
    if (m->pkg_names) {
        if (id >= 0 && id < m->n_pkg_names && m->pkg_names[id]) return m->pkg_names[id];
    } else if (m->class_names) {
        if (id >= 0 && id < m->n_class_names && m->class_names[id]) return m->class_names[id];
    } else if (id >= 0 && id < 91) {
        const char *n = rfs_coco_name(id);
        return n ? n : "background";
    }
    snprintf(buf, 16, "%d", id);
    return buf;
}

const char *rfs_class_name(const rfs_model *m, rfs_preset preset, int class_id, char buf[16]) {
    switch (preset) {
    case RFS_PRESET_ROBOFLOW: return rfs_roboflow_class_name(m, class_id, buf);
    case RFS_PRESET_RFDETR: return rfs_rfdetr_class_name(m, class_id);
    default: return rfs_model_class_name(m, class_id);
    }
}

static int passes_filter(const rfs_response_opts *o, const char *name) {
    if (!o->class_filter) return 1;
    for (int i = 0; i < o->n_class_filter; i++)
        if (!strcmp(o->class_filter[i], name)) return 1;
    return 0;
}

/* "points": [{"x": 63.0, "y": 173.0}, ...] */
static rfs_status put_polygon(rfs_text *b, struct rfs_shapes *sc, const rfs_mask *mask) {
    double t0 = now_ms();
    rfs_status st = rfs_contour_longest(&sc->poly, &sc->contour, mask);
    sc->shape_ms += now_ms() - t0;
    if (st != RFS_OK) return st;
    rfs_text_puts(b, "\"points\":[");
    for (size_t k = 0; k + 1 < sc->poly.n; k += 2) {
        if (k) rfs_text_put(b, ",", 1);
        rfs_text_puts(b, "{\"x\":");
        rfs_text_double(b, sc->poly.v[k]);
        rfs_text_puts(b, ",\"y\":");
        rfs_text_double(b, sc->poly.v[k + 1]);
        rfs_text_put(b, "}", 1);
    }
    rfs_text_put(b, "]", 1);
    return RFS_OK;
}

/* "rle": {"size": [H, W], "counts": "..."} */
static rfs_status put_rle(rfs_text *b, struct rfs_shapes *sc, const rfs_mask *mask, int W, int H) {
    double t0 = now_ms();
    rfs_status st = rfs_rle_counts(&sc->rle, mask, W, H);
    sc->shape_ms += now_ms() - t0;
    if (st != RFS_OK) return st;
    rfs_text_puts(b, "\"rle\":{\"size\":[");
    rfs_text_int(b, H);
    rfs_text_put(b, ",", 1);
    rfs_text_int(b, W);
    rfs_text_puts(b, "],\"counts\":\"");
    /* the counts alphabet ('0'..'o') includes the backslash: escaped for JSON */
    size_t bound = rfs_rle_string_json_bound(&sc->rle);
    if (grow(b, bound)) b->len += rfs_rle_string_json(b->p + b->len, bound, &sc->rle);
    rfs_text_puts(b, "\"}");
    return RFS_OK;
}

rfs_status rfs_response_roboflow(rfs_text *b, struct rfs_shapes *sc, const rfs_result *r,
                                 const rfs_model *m, const rfs_response_opts *o) {
    char id[37], num[16];
    rfs_text_puts(b, "{\"inference_id\":");
    if (o->inference_id) rfs_text_string(b, o->inference_id);
    else {
        rfs_uuid4(id);
        rfs_text_string(b, id);
    }
    if (o->source) {
        rfs_text_puts(b, ",\"source\":");
        rfs_text_string(b, o->source);
        if (o->source_id >= 0) {
            rfs_text_puts(b, ",\"source_id\":");
            rfs_text_int(b, o->source_id);
        }
    }
    if (o->frame_id >= 0) {
        rfs_text_puts(b, ",\"frame_id\":");
        rfs_text_int(b, o->frame_id);
    }
    if (o->time >= 0) {
        rfs_text_puts(b, ",\"time\":");
        rfs_text_double(b, o->time);
    }
    rfs_text_puts(b, ",\"image\":{\"width\":");
    rfs_text_int(b, r->width);
    rfs_text_puts(b, ",\"height\":");
    rfs_text_int(b, r->height);
    rfs_text_puts(b, "},\"predictions\":[");
    int first = 1;
    for (int i = 0; i < r->count; i++) {
        const rfs_detection *d = &r->dets[i];
        const char *name = rfs_roboflow_class_name(m, d->class_id, num);
        if (!passes_filter(o, name)) continue;
        /* Roboflow's adapter: x = (x1 + x2) / 2.0, width = x2 - x1 (ints -> Python floats) */
        double x1 = d->box[0], y1 = d->box[1], x2 = d->box[2], y2 = d->box[3];
        rfs_text_puts(b, first ? "{\"x\":" : ",{\"x\":");
        first = 0;
        rfs_text_double(b, (x1 + x2) / 2.0);
        rfs_text_puts(b, ",\"y\":");
        rfs_text_double(b, (y1 + y2) / 2.0);
        rfs_text_puts(b, ",\"width\":");
        rfs_text_double(b, x2 - x1);
        rfs_text_puts(b, ",\"height\":");
        rfs_text_double(b, y2 - y1);
        rfs_text_puts(b, ",\"confidence\":");
        rfs_text_double(b, (double)d->score);
        rfs_text_puts(b, ",\"class\":");
        rfs_text_string(b, name);
        rfs_text_puts(b, ",\"class_id\":");
        rfs_text_int(b, d->class_id);
        if (d->tracker_id >= 0) {
            rfs_text_puts(b, ",\"tracker_id\":");
            rfs_text_int(b, d->tracker_id);
        }
        rfs_uuid4(id);
        rfs_text_puts(b, ",\"detection_id\":\"");
        rfs_text_puts(b, id);
        rfs_text_puts(b, "\",");
        rfs_status st = RFS_OK;
        if (o->format == RFS_MASK_RLE) {
            st = put_rle(b, sc, &d->mask, r->width, r->height);
            rfs_text_puts(b, ",\"mask_format\":\"rle\"}");
        } else if (o->format == RFS_MASK_POLYGON) {
            st = put_polygon(b, sc, &d->mask);
            rfs_text_puts(b, ",\"mask_format\":\"polygon\"}");
        } else {
            rfs_text_puts(b, "\"points\":[]}");
        }
        if (st != RFS_OK) return st;
    }
    rfs_text_puts(b, "]}");
    if (b->oom) return RFS_FAIL(RFS_ERR_NOMEM, "out of memory building the response");
    return RFS_OK;
}

rfs_status rfs_response_rfdetr(rfs_text *b, struct rfs_shapes *sc, const rfs_result *r,
                               const rfs_model *m, const rfs_response_opts *o) {
    rfs_text_puts(b, "{\"image\":");
    rfs_text_string(b, o && o->source ? o->source : "");
    if (o && o->frame_id >= 0) {
        rfs_text_puts(b, ",\"frame_id\":");
        rfs_text_int(b, o->frame_id);
    }
    rfs_text_puts(b, ",\"width\":");
    rfs_text_int(b, r->width);
    rfs_text_puts(b, ",\"height\":");
    rfs_text_int(b, r->height);
    rfs_text_puts(b, ",\"detections\":[");
    const rfs_mask_format fmt = o ? o->format : RFS_MASK_NONE;
    for (int i = 0; i < r->count; i++) {
        const rfs_detection *d = &r->dets[i];
        rfs_text_puts(b, i ? ",{\"class_id\":" : "{\"class_id\":");
        rfs_text_int(b, d->class_id);
        rfs_text_puts(b, ",\"class_name\":");
        /* today's predict: data["class_name"]; rfdetr 1.4.1 named none, its model.class_names */
        rfs_text_string(b, rfs_result_preset(r) == RFS_PRESET_RFDETR_14
                               ? rfs_model_class_name(m, d->class_id)
                               : rfs_rfdetr_class_name(m, d->class_id));
        rfs_text_puts(b, ",\"confidence\":");
        rfs_text_double(b, (double)d->score);
        rfs_text_puts(b, ",\"xyxy\":[");
        for (int k = 0; k < 4; k++) {
            if (k) rfs_text_put(b, ",", 1);
            rfs_text_double(b, (double)d->box[k]);
        }
        rfs_text_puts(b, "]");
        if (d->tracker_id >= 0) {
            rfs_text_puts(b, ",\"tracker_id\":");
            rfs_text_int(b, d->tracker_id);
        }
        if (d->mask.data || d->mask.w == 0) {
            size_t area = 0;
            for (size_t p = 0; p < (size_t)d->mask.w * d->mask.h; p++) area += d->mask.data[p] != 0;
            rfs_text_puts(b, ",\"mask_area\":");
            rfs_text_int(b, (long long)area);
            rfs_text_puts(b, ",\"mask_bounds\":[");
            rfs_text_int(b, d->mask.x0);
            rfs_text_put(b, ",", 1);
            rfs_text_int(b, d->mask.y0);
            rfs_text_put(b, ",", 1);
            rfs_text_int(b, d->mask.w);
            rfs_text_put(b, ",", 1);
            rfs_text_int(b, d->mask.h);
            rfs_text_puts(b, "]");
            rfs_status st = RFS_OK;
            if (fmt == RFS_MASK_RLE) {
                rfs_text_put(b, ",", 1);
                st = put_rle(b, sc, &d->mask, r->width, r->height);
            } else if (fmt == RFS_MASK_POLYGON) {
                rfs_text_put(b, ",", 1);
                st = put_polygon(b, sc, &d->mask);
            }
            if (st != RFS_OK) return st;
        }
        rfs_text_puts(b, "}");
    }
    rfs_text_puts(b, "]}");
    if (b->oom) return RFS_FAIL(RFS_ERR_NOMEM, "out of memory building the response");
    return RFS_OK;
}
