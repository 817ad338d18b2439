/* response.c - JSON writers (see response.h). */
#include "pipeline/response.h"

#include "model/model.h"
#include "pipeline/fmt.h"
#include "util/err.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void rfs_jbuf_free(rfs_jbuf *b) {
    if (!b) return;
    free(b->p);
    memset(b, 0, sizeof *b);
}

void rfs_jbuf_reset(rfs_jbuf *b) {
    b->len = 0;
    b->oom = 0;
    if (b->p) b->p[0] = 0;
}

static int grow(rfs_jbuf *b, size_t extra) {
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

void rfs_jbuf_put(rfs_jbuf *b, const char *s, size_t n) {
    if (!grow(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void rfs_jbuf_puts(rfs_jbuf *b, const char *s) { rfs_jbuf_put(b, s, strlen(s)); }

void rfs_jbuf_double(rfs_jbuf *b, double v) {
    if (!grow(b, RFS_FMT_DOUBLE_MAX)) return;
    b->len += (size_t)rfs_fmt_json_double(b->p + b->len, v);
}

void rfs_jbuf_int(rfs_jbuf *b, long long v) {
    if (!grow(b, 24)) return;
    b->len += (size_t)snprintf(b->p + b->len, 24, "%lld", v);
}

void rfs_jbuf_string(rfs_jbuf *b, const char *s) {
    size_t n = strlen(s);
    if (!grow(b, rfs_json_escape_bound(n) + 2)) return;
    b->p[b->len++] = '"';
    b->len += rfs_json_escape(b->p + b->len, s, n);
    b->p[b->len++] = '"';
    b->p[b->len] = 0;
}

void rfs_shape_ctx_free(rfs_shape_ctx *c) {
    if (!c) return;
    rfs_contour_ctx_free(&c->contour);
    rfs_ivec_free(&c->poly);
    rfs_rle_free(&c->rle);
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

static int passes_filter(const rfs_response_opts *o, const char *name) {
    if (!o->class_filter) return 1;
    for (int i = 0; i < o->n_class_filter; i++)
        if (!strcmp(o->class_filter[i], name)) return 1;
    return 0;
}

/* "points": [{"x": 63.0, "y": 173.0}, ...] */
static rfs_status put_polygon(rfs_jbuf *b, rfs_shape_ctx *sc, const rfs_mask *mask) {
    double t0 = now_ms();
    rfs_status st = rfs_contour_longest(&sc->poly, &sc->contour, mask);
    sc->shape_ms += now_ms() - t0;
    if (st != RFS_OK) return st;
    rfs_jbuf_puts(b, "\"points\":[");
    for (size_t k = 0; k + 1 < sc->poly.n; k += 2) {
        if (k) rfs_jbuf_put(b, ",", 1);
        rfs_jbuf_puts(b, "{\"x\":");
        rfs_jbuf_double(b, sc->poly.v[k]);
        rfs_jbuf_puts(b, ",\"y\":");
        rfs_jbuf_double(b, sc->poly.v[k + 1]);
        rfs_jbuf_put(b, "}", 1);
    }
    rfs_jbuf_put(b, "]", 1);
    return RFS_OK;
}

/* "rle": {"size": [H, W], "counts": "..."} */
static rfs_status put_rle(rfs_jbuf *b, rfs_shape_ctx *sc, const rfs_mask *mask, int W, int H) {
    double t0 = now_ms();
    rfs_status st = rfs_rle_counts(&sc->rle, mask, W, H);
    sc->shape_ms += now_ms() - t0;
    if (st != RFS_OK) return st;
    rfs_jbuf_puts(b, "\"rle\":{\"size\":[");
    rfs_jbuf_int(b, H);
    rfs_jbuf_put(b, ",", 1);
    rfs_jbuf_int(b, W);
    rfs_jbuf_puts(b, "],\"counts\":\"");
    /* the counts alphabet ('0'..'o') includes the backslash: escaped for JSON */
    size_t bound = rfs_rle_string_json_bound(&sc->rle);
    if (grow(b, bound)) b->len += rfs_rle_string_json(b->p + b->len, bound, &sc->rle);
    rfs_jbuf_puts(b, "\"}");
    return RFS_OK;
}

rfs_status rfs_response_roboflow(rfs_jbuf *b, rfs_shape_ctx *sc, const rfs_result *r,
                                 const rfs_model *m, const rfs_response_opts *o) {
    char id[37], num[16];
    rfs_jbuf_puts(b, "{\"inference_id\":");
    if (o->inference_id) rfs_jbuf_string(b, o->inference_id);
    else {
        rfs_uuid4(id);
        rfs_jbuf_string(b, id);
    }
    if (o->frame_id >= 0) {
        rfs_jbuf_puts(b, ",\"frame_id\":");
        rfs_jbuf_int(b, o->frame_id);
    }
    if (o->source) {
        rfs_jbuf_puts(b, ",\"source\":");
        rfs_jbuf_string(b, o->source);
        if (o->source_id >= 0) {
            rfs_jbuf_puts(b, ",\"source_id\":");
            rfs_jbuf_int(b, o->source_id);
        }
    }
    if (o->time >= 0) {
        rfs_jbuf_puts(b, ",\"time\":");
        rfs_jbuf_double(b, o->time);
    }
    rfs_jbuf_puts(b, ",\"image\":{\"width\":");
    rfs_jbuf_int(b, r->width);
    rfs_jbuf_puts(b, ",\"height\":");
    rfs_jbuf_int(b, r->height);
    rfs_jbuf_puts(b, "},\"predictions\":[");
    int first = 1;
    for (int i = 0; i < r->count; i++) {
        const rfs_detection *d = &r->dets[i];
        const char *name = rfs_roboflow_class_name(m, d->class_id, num);
        if (!passes_filter(o, name)) continue;
        /* Roboflow's adapter: x = (x1 + x2) / 2.0, width = x2 - x1 (ints -> Python floats) */
        double x1 = d->box[0], y1 = d->box[1], x2 = d->box[2], y2 = d->box[3];
        rfs_jbuf_puts(b, first ? "{\"x\":" : ",{\"x\":");
        first = 0;
        rfs_jbuf_double(b, (x1 + x2) / 2.0);
        rfs_jbuf_puts(b, ",\"y\":");
        rfs_jbuf_double(b, (y1 + y2) / 2.0);
        rfs_jbuf_puts(b, ",\"width\":");
        rfs_jbuf_double(b, x2 - x1);
        rfs_jbuf_puts(b, ",\"height\":");
        rfs_jbuf_double(b, y2 - y1);
        rfs_jbuf_puts(b, ",\"confidence\":");
        rfs_jbuf_double(b, (double)d->score);
        rfs_jbuf_puts(b, ",\"class\":");
        rfs_jbuf_string(b, name);
        rfs_jbuf_puts(b, ",\"class_id\":");
        rfs_jbuf_int(b, d->class_id);
        if (d->tracker_id >= 0) { /* Roboflow's tracker_id, set when tracking is on */
            rfs_jbuf_puts(b, ",\"tracker_id\":");
            rfs_jbuf_int(b, d->tracker_id);
        }
        rfs_uuid4(id);
        rfs_jbuf_puts(b, ",\"detection_id\":\"");
        rfs_jbuf_puts(b, id);
        rfs_jbuf_puts(b, "\",");
        rfs_status st = RFS_OK;
        if (o->format == RFS_MASK_RLE) {
            st = put_rle(b, sc, &d->mask, r->width, r->height);
            rfs_jbuf_puts(b, ",\"mask_format\":\"rle\"}");
        } else {
            st = put_polygon(b, sc, &d->mask);
            rfs_jbuf_puts(b, ",\"mask_format\":\"polygon\"}");
        }
        if (st != RFS_OK) return st;
    }
    rfs_jbuf_puts(b, "]}");
    if (b->oom) return RFS_FAIL(RFS_ERR_NOMEM, "out of memory building the response");
    return RFS_OK;
}

rfs_status rfs_response_rfdetr(rfs_jbuf *b, const rfs_result *r, const rfs_model *m,
                               const char *image_name) {
    rfs_jbuf_puts(b, "{\"image\":");
    rfs_jbuf_string(b, image_name ? image_name : "");
    rfs_jbuf_puts(b, ",\"width\":");
    rfs_jbuf_int(b, r->width);
    rfs_jbuf_puts(b, ",\"height\":");
    rfs_jbuf_int(b, r->height);
    rfs_jbuf_puts(b, ",\"detections\":[");
    for (int i = 0; i < r->count; i++) {
        const rfs_detection *d = &r->dets[i];
        rfs_jbuf_puts(b, i ? ",{\"class_id\":" : "{\"class_id\":");
        rfs_jbuf_int(b, d->class_id);
        rfs_jbuf_puts(b, ",\"class_name\":");
        rfs_jbuf_string(b, rfs_model_class_name(m, d->class_id));
        rfs_jbuf_puts(b, ",\"confidence\":");
        rfs_jbuf_double(b, (double)d->score);
        rfs_jbuf_puts(b, ",\"xyxy\":[");
        for (int k = 0; k < 4; k++) {
            if (k) rfs_jbuf_put(b, ",", 1);
            rfs_jbuf_double(b, (double)d->box[k]);
        }
        rfs_jbuf_puts(b, "]");
        if (d->mask.data || d->mask.w == 0) {
            size_t area = 0;
            for (size_t p = 0; p < (size_t)d->mask.w * d->mask.h; p++) area += d->mask.data[p] != 0;
            rfs_jbuf_puts(b, ",\"mask_area\":");
            rfs_jbuf_int(b, (long long)area);
            rfs_jbuf_puts(b, ",\"mask_bounds\":[");
            rfs_jbuf_int(b, d->mask.x0);
            rfs_jbuf_put(b, ",", 1);
            rfs_jbuf_int(b, d->mask.y0);
            rfs_jbuf_put(b, ",", 1);
            rfs_jbuf_int(b, d->mask.w);
            rfs_jbuf_put(b, ",", 1);
            rfs_jbuf_int(b, d->mask.h);
            rfs_jbuf_puts(b, "]");
        }
        rfs_jbuf_puts(b, "}");
    }
    rfs_jbuf_puts(b, "]}");
    if (b->oom) return RFS_FAIL(RFS_ERR_NOMEM, "out of memory building the response");
    return RFS_OK;
}
