/* annotate.c - masks, boxes and labels drawn like supervision's annotators (annotate.h). */
#include "pipeline/annotate.h"
#include "util/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* supervision's ColorPalette.DEFAULT, as 0xRRGGBB. */
static const uint32_t palette[] = {
    0xA351FB, 0xFF4040, 0xFFA1A0, 0xFF7633, 0xFFB633, 0xD1D435, 0x4CFB12,
    0x94CF1A, 0x40DE8A, 0x1B9640, 0x00D6C1, 0x2E9CAA, 0x00C4FF, 0x364797,
    0x6675FF, 0x0019EF, 0x863AFF, 0x530087, 0xCD3AFF, 0xFF97CA, 0xFF39C9,
};
#define NPAL ((int)(sizeof palette / sizeof palette[0]))

/* rfseg's 5x7 font for ASCII 32..126: 7 rows per glyph, bit 4 is the leftmost column
 * (drawn for this project; dev/io/font_gen.py holds the drawings it is generated from). */
static const uint8_t font5x7[95][7] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /*   */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04}, /* ! */
    {0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00}, /* " */
    {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a}, /* # */
    {0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04}, /* $ */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}, /* % */
    {0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d}, /* & */
    {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00}, /* quote */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, /* ( */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, /* ) */
    {0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00}, /* * */
    {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00}, /* + */
    {0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08}, /* , */
    {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00}, /* - */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}, /* . */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}, /* / */
    {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}, /* 0 */
    {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}, /* 1 */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}, /* 2 */
    {0x1e, 0x01, 0x01, 0x0e, 0x01, 0x01, 0x1e}, /* 3 */
    {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}, /* 4 */
    {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}, /* 5 */
    {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}, /* 6 */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, /* 7 */
    {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}, /* 8 */
    {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}, /* 9 */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}, /* : */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x04, 0x08}, /* ; */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}, /* < */
    {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00}, /* = */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}, /* > */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}, /* ? */
    {0x0e, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0f}, /* @ */
    {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}, /* A */
    {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e}, /* B */
    {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e}, /* C */
    {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c}, /* D */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f}, /* E */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10}, /* F */
    {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f}, /* G */
    {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}, /* H */
    {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}, /* I */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c}, /* J */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, /* K */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f}, /* L */
    {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11}, /* M */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, /* N */
    {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}, /* O */
    {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10}, /* P */
    {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d}, /* Q */
    {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11}, /* R */
    {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e}, /* S */
    {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* T */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}, /* U */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04}, /* V */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a}, /* W */
    {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11}, /* X */
    {0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04}, /* Y */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f}, /* Z */
    {0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e}, /* [ */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00}, /* backslash */
    {0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e}, /* ] */
    {0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00}, /* ^ */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f}, /* _ */
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00}, /* ` */
    {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f}, /* a */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e}, /* b */
    {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e}, /* c */
    {0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f}, /* d */
    {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e}, /* e */
    {0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08}, /* f */
    {0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e}, /* g */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}, /* h */
    {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e}, /* i */
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0c}, /* j */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}, /* k */
    {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}, /* l */
    {0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11}, /* m */
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}, /* n */
    {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e}, /* o */
    {0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10}, /* p */
    {0x00, 0x00, 0x0d, 0x13, 0x0f, 0x01, 0x01}, /* q */
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}, /* r */
    {0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e}, /* s */
    {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06}, /* t */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d}, /* u */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04}, /* v */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a}, /* w */
    {0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11}, /* x */
    {0x00, 0x00, 0x11, 0x11, 0x0f, 0x01, 0x0e}, /* y */
    {0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f}, /* z */
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02}, /* { */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* | */
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08}, /* } */
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00}, /* ~ */
};

#define GLYPH_W 5
#define GLYPH_H 7
#define LABEL_MAX 96 /* characters of a label, score included */

typedef struct area_key {
    size_t area;
    int idx;
} area_key;

struct rfs_annotator {
    rfs_annot_opts o;
    uint16_t *owner; /* per pixel: 1 + index of the mask painted last, 0 = none */
    size_t cap;
    area_key *order; /* mask painting order */
    int order_cap;
};

void rfs_annot_color(int class_id, uint8_t bgr[3]) {
    int i = class_id % NPAL;
    if (i < 0) i += NPAL;
    uint32_t c = palette[i];
    bgr[0] = (uint8_t)(c & 0xFF);
    bgr[1] = (uint8_t)(c >> 8 & 0xFF);
    bgr[2] = (uint8_t)(c >> 16 & 0xFF);
}

static void put_px(uint8_t *p, const uint8_t bgr[3], int rgb) {
    p[0] = bgr[rgb ? 2 : 0];
    p[1] = bgr[1];
    p[2] = bgr[rgb ? 0 : 2];
}

/* Fills [x0, x1] x [y0, y1] (inclusive) clipped to the frame. */
static void fill_rect(rfs_frame *f, int x0, int y0, int x1, int y1, const uint8_t bgr[3]) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 >= f->w) x1 = f->w - 1;
    if (y1 >= f->h) y1 = f->h - 1;
    int rgb = f->fmt == RFS_PIX_RGB8;
    for (int y = y0; y <= y1; y++) {
        uint8_t *p = f->data + (size_t)y * f->stride + 3 * (size_t)x0;
        for (int x = x0; x <= x1; x++, p += 3) put_px(p, bgr, rgb);
    }
}

rfs_status rfs_annotator_create(rfs_annotator **out, const rfs_annot_opts *o) {
    *out = rfs_calloc(1, sizeof **out);
    if (!*out) return RFS_ERR_NOMEM;
    if (o) (*out)->o = *o;
    return RFS_OK;
}

void rfs_annotator_free(rfs_annotator *a) {
    if (!a) return;
    free(a->owner);
    free(a->order);
    free(a);
}

/* ---- masks --------------------------------------------------------------------------------- */

/* Descending area; ties in descending index (numpy's flip of a stable argsort). */
static int area_cmp(const void *pa, const void *pb) {
    const area_key *a = pa, *b = pb;
    if (a->area != b->area) return a->area > b->area ? -1 : 1;
    return b->idx - a->idx;
}

static int has_mask(const rfs_annot_det *d) {
    return d->mask && d->mask->w > 0 && d->mask->h > 0 && d->mask->data;
}

/* The part of a mask's rectangle inside the frame: [x0, x1) x [y0, y1). */
static int mask_clip(const rfs_mask *m, const rfs_frame *f, int *x0, int *y0, int *x1, int *y1) {
    *x0 = m->x0 < 0 ? 0 : m->x0;
    *y0 = m->y0 < 0 ? 0 : m->y0;
    *x1 = m->x0 + m->w > f->w ? f->w : m->x0 + m->w;
    *y1 = m->y0 + m->h > f->h ? f->h : m->y0 + m->h;
    return *x0 < *x1 && *y0 < *y1;
}

static rfs_status draw_masks(rfs_annotator *a, rfs_frame *f, const rfs_annot_det *d, int n) {
    size_t npx = (size_t)f->w * (size_t)f->h;
    if (a->cap < npx) {
        uint16_t *p = rfs_calloc(npx, sizeof *p);
        if (!p) return RFS_ERR_NOMEM;
        free(a->owner);
        a->owner = p;
        a->cap = npx;
    }
    if (a->order_cap < n) {
        area_key *p = rfs_malloc((size_t)n * sizeof *p);
        if (!p) return RFS_ERR_NOMEM;
        free(a->order);
        a->order = p;
        a->order_cap = n;
    }
    /* Painting order: supervision sorts by mask area, largest first. */
    area_key *keys = a->order;
    int nk = 0;
    for (int i = 0; i < n && i < 65535; i++) {
        if (!has_mask(&d[i])) continue;
        const rfs_mask *m = d[i].mask;
        size_t area = 0;
        for (size_t k = 0; k < (size_t)m->w * m->h; k++) area += m->data[k] != 0;
        keys[nk++] = (area_key){area, i};
    }
    qsort(keys, (size_t)nk, sizeof *keys, area_cmp);
    for (int k = 0; k < nk; k++) {
        const rfs_mask *m = d[keys[k].idx].mask;
        int x0, y0, x1, y1;
        if (!mask_clip(m, f, &x0, &y0, &x1, &y1)) continue;
        for (int y = y0; y < y1; y++) {
            const uint8_t *mr = m->data + (size_t)(y - m->y0) * m->w;
            uint16_t *o = a->owner + (size_t)y * f->w;
            for (int x = x0; x < x1; x++)
                if (mr[x - m->x0]) o[x] = (uint16_t)(keys[k].idx + 1);
        }
    }
    /* One cv2.addWeighted(colored, alpha, scene, 1 - alpha, 0) over the painted pixels
     * (elsewhere it leaves the scene as it is): float math, round half to even. */
    float alpha = a->o.mask_opacity > 0 ? a->o.mask_opacity : 0.5f, beta = 1.0f - alpha;
    int rgb = f->fmt == RFS_PIX_RGB8;
    for (int k = 0; k < nk; k++) {
        int x0, y0, x1, y1;
        if (!mask_clip(d[keys[k].idx].mask, f, &x0, &y0, &x1, &y1)) continue;
        for (int y = y0; y < y1; y++) {
            uint16_t *o = a->owner + (size_t)y * f->w;
            uint8_t *p = f->data + (size_t)y * f->stride;
            for (int x = x0; x < x1; x++) {
                if (!o[x]) continue;
                uint8_t bgr[3], c[3];
                rfs_annot_color(d[o[x] - 1].class_id, bgr);
                put_px(c, bgr, rgb);
                for (int ch = 0; ch < 3; ch++) {
                    long v = lrintf((float)c[ch] * alpha + (float)p[3 * x + ch] * beta);
                    p[3 * x + ch] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
                o[x] = 0; /* blended once; the owner map is clean for the next frame */
            }
        }
    }
    return RFS_OK;
}

/* ---- boxes and labels ---------------------------------------------------------------------- */

/* cv2.rectangle(thickness=2) covers each edge line and one pixel either side. */
static void draw_box(rfs_frame *f, int x0, int y0, int x1, int y1, const uint8_t bgr[3]) {
    fill_rect(f, x0 - 1, y0 - 1, x1 + 1, y0 + 1, bgr);
    fill_rect(f, x0 - 1, y1 - 1, x1 + 1, y1 + 1, bgr);
    fill_rect(f, x0 - 1, y0 - 1, x0 + 1, y1 + 1, bgr);
    fill_rect(f, x1 - 1, y0 - 1, x1 + 1, y1 + 1, bgr);
}

void rfs_annot_text_size(const char *text, int scale, int *w, int *h) {
    size_t n = strlen(text);
    *w = n ? (int)n * (GLYPH_W + 1) * scale - scale : 0;
    *h = GLYPH_H * scale;
}

void rfs_annot_text(rfs_frame *f, int x, int y, const char *text, int scale, const uint8_t bgr[3]) {
    for (const char *s = text; *s; s++, x += (GLYPH_W + 1) * scale) {
        unsigned char c = (unsigned char)*s;
        const uint8_t *g = font5x7[(c < 32 || c > 126 ? '?' : c) - 32];
        for (int r = 0; r < GLYPH_H; r++)
            for (int col = 0; col < GLYPH_W; col++)
                if (g[r] >> (GLYPH_W - 1 - col) & 1)
                    fill_rect(f, x + col * scale, y + r * scale, x + (col + 1) * scale - 1,
                              y + (r + 1) * scale - 1, bgr);
    }
}

static void draw_label(rfs_frame *f, const rfs_annot_det *d, int x0, int y0, int scale) {
    char text[LABEL_MAX + 1];
    char id[16];
    const char *name = d->label;
    if (!name) {
        snprintf(id, sizeof id, "%d", d->class_id);
        name = id;
    }
    if (d->score >= 0)
        snprintf(text, sizeof text, "%.*s %.2f", LABEL_MAX - 6, name, d->score);
    else
        snprintf(text, sizeof text, "%s", name);
    int tw, th, pad = 2 * scale;
    rfs_annot_text_size(text, scale, &tw, &th);
    int bw = tw + 2 * pad, bh = th + 2 * pad;
    /* supervision's TOP_LEFT label sits on the box's top-left corner, above the box. */
    int bx = x0, by = y0 - bh;
    if (by < 0) by = y0 < 0 ? 0 : y0;
    if (bx + bw > f->w) bx = f->w - bw;
    if (bx < 0) bx = 0;
    uint8_t bg[3], fg[3];
    rfs_annot_color(d->class_id, bg);
    int lum = (299 * bg[2] + 587 * bg[1] + 114 * bg[0]) / 1000;
    memset(fg, lum > 160 ? 0 : 255, 3);
    fill_rect(f, bx, by, bx + bw - 1, by + bh - 1, bg);
    rfs_annot_text(f, bx + pad, by + pad, text, scale, fg);
}

/* (int)v as numpy's astype(int) for the box corners, kept in a sane range. */
static int to_px(float v) {
    if (!(v > -1e6f)) return -1000000;
    if (v > 1e6f) return 1000000;
    return (int)v;
}

rfs_status rfs_annotate(rfs_annotator *a, rfs_frame *f, const rfs_annot_det *d, int n) {
    if (!f || !f->data || f->w <= 0 || f->h <= 0 || n < 0 || (n && !d))
        return RFS_FAIL(RFS_ERR_ARG, "annotate: bad frame or detections");
    if (!a->o.no_masks) {
        rfs_status st = draw_masks(a, f, d, n);
        if (st) return st;
    }
    int scale = a->o.font_scale > 0 ? a->o.font_scale : 1 + f->h / 500;
    for (int i = 0; i < n && !a->o.no_boxes; i++) {
        uint8_t c[3];
        rfs_annot_color(d[i].class_id, c);
        draw_box(f, to_px(d[i].box[0]), to_px(d[i].box[1]), to_px(d[i].box[2]), to_px(d[i].box[3]), c);
    }
    for (int i = 0; i < n && !a->o.no_labels; i++)
        draw_label(f, &d[i], to_px(d[i].box[0]), to_px(d[i].box[1]), scale);
    return RFS_OK;
}
