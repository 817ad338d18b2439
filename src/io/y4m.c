/* y4m.c - YUV4MPEG2 reader and writer (see y4m.h for the formats and the conversion). */
#include "io/y4m.h"
#include "io/fileio.h"
#include "util/err.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define Y4M_MAGIC "YUV4MPEG2"
#define Y4M_MAX_LINE 1024 /* stream and frame header lines are short; longer ones are bogus */
#define Y4M_MAX_SIDE (1 << 20)

int rfs_y4m_sniff(const uint8_t *b, size_t n) {
    return n >= 10 && memcmp(b, Y4M_MAGIC " ", 10) == 0;
}

/* ---- YUV -> BGR, the swscale x86 fast-path arithmetic ------------------------------------ */

/* pmulhw: the high half of a signed 16 x 16-bit product (arithmetic shift = floor). */
static int mulhi16(int a, int b) { return (a * b) >> 16; }
static int sat16(int v) { return v < -32768 ? -32768 : v > 32767 ? 32767 : v; }
static uint8_t clip8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* Coefficients of ff_yuv2rgb_c_init_tables for BT.601 limited range, as 16-bit words:
 * roundToInt16(c * 2^13) of cy = 2^16 * 255 / 219 and the inverse matrix
 * {104597, 132201, -25675, -53279}; the luma offset is 16 << 3. */
enum { K_Y = 9539, K_UB = 16525, K_UG = -3209, K_VG = -6660, K_VR = 13075, K_YOFF = 128 };

typedef struct yuv_tables {
    int16_t y[256], ub[256], ug[256], vg[256], vr[256];
} yuv_tables;

static void yuv_tables_init(yuv_tables *t) {
    for (int i = 0; i < 256; i++) {
        int c = sat16((i << 3) - 1024);
        t->y[i] = (int16_t)mulhi16((int16_t)((i << 3) - K_YOFF), K_Y);
        t->ub[i] = (int16_t)mulhi16(c, K_UB);
        t->ug[i] = (int16_t)mulhi16(c, K_UG);
        t->vg[i] = (int16_t)mulhi16(c, K_VG);
        t->vr[i] = (int16_t)mulhi16(c, K_VR);
    }
}

void rfs_yuv_to_bgr(uint8_t *dst, int dst_stride, int w, int h, const uint8_t *yp, int ys,
                    const uint8_t *up, const uint8_t *vp, int cs, int cx, int cy, int rgb) {
    yuv_tables t;
    yuv_tables_init(&t);
    int ri = rgb ? 0 : 2, bi = rgb ? 2 : 0;
    if (!up || !vp) { /* gray: swscale treats GRAY8 as full-range gray levels */
        for (int j = 0; j < h; j++) {
            const uint8_t *yr = yp + (size_t)j * ys;
            uint8_t *d = dst + (size_t)j * dst_stride;
            for (int i = 0; i < w; i++, d += 3) d[0] = d[1] = d[2] = yr[i];
        }
        return;
    }
    for (int j = 0; j < h; j++) {
        const uint8_t *yr = yp + (size_t)j * ys;
        const uint8_t *ur = up + (size_t)(j >> cy) * cs, *vr = vp + (size_t)(j >> cy) * cs;
        uint8_t *d = dst + (size_t)j * dst_stride;
        for (int i = 0; i < w; i++, d += 3) {
            int yy = t.y[yr[i]];
            int u = ur[i >> cx], v = vr[i >> cx];
            d[bi] = clip8(sat16(yy + t.ub[u]));
            d[1] = clip8(sat16(yy + sat16(t.ug[u] + t.vg[v])));
            d[ri] = clip8(sat16(yy + t.vr[v]));
        }
    }
}

/* ---- reader ------------------------------------------------------------------------------ */

struct rfs_y4m_reader {
    FILE *f;
    int w, h;
    int cx, cy, mono; /* chroma shifts; mono: luma plane only */
    int rgb;
    int fps_num, fps_den;
    size_t ysize, csize, frame_bytes; /* plane and frame payload sizes */
    uint8_t *buf;                     /* one frame's planes, allocated once */
    int64_t file_size, data_start;
    int ended;
};

/* Reads one '\n'-terminated line (without the '\n') into s; returns its length, -1 at
 * EOF before any byte, -2 when the line is too long or EOF cuts it. */
static int read_line(FILE *f, char *s, int cap) {
    int n = 0, ch;
    while ((ch = getc(f)) != EOF) {
        if (ch == '\n') {
            s[n] = 0;
            return n;
        }
        if (n == cap - 1) return -2;
        s[n++] = (char)ch;
    }
    return n == 0 ? -1 : -2;
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || (*end && *end != ' ') || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static rfs_status parse_header(rfs_y4m_reader *r, char *line, const char *path, uint64_t maxpx) {
    if (strncmp(line, Y4M_MAGIC " ", 10) != 0)
        return RFS_FAIL(RFS_ERR_FORMAT, "%s: not a YUV4MPEG2 file", path);
    const char *cs = "420jpeg";
    r->w = r->h = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line + 10, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        switch (tok[0]) {
        case 'W':
            if (parse_int(tok + 1, 1, Y4M_MAX_SIDE, &r->w))
                return RFS_FAIL(RFS_ERR_FORMAT, "%s: bad frame width '%.40s' (a number from 1 to %d)",
                                path, tok + 1, Y4M_MAX_SIDE);
            break;
        case 'H':
            if (parse_int(tok + 1, 1, Y4M_MAX_SIDE, &r->h))
                return RFS_FAIL(RFS_ERR_FORMAT, "%s: bad frame height '%.40s' (a number from 1 to %d)",
                                path, tok + 1, Y4M_MAX_SIDE);
            break;
        case 'F': {
            long a, b;
            if (sscanf(tok + 1, "%ld:%ld", &a, &b) == 2 && a > 0 && b > 0 && a <= INT_MAX && b <= INT_MAX) {
                r->fps_num = (int)a;
                r->fps_den = (int)b;
            }
            break;
        }
        case 'C': cs = tok + 1; break;
        default: break; /* I (interlacing), A (aspect), X (comments): no effect on pixels */
        }
    }
    if (!r->w || !r->h) return RFS_FAIL(RFS_ERR_FORMAT, "%s: header without W/H", path);
    if ((uint64_t)r->w * (uint64_t)r->h > maxpx)
        return RFS_FAIL(RFS_ERR_LIMIT, "%s: frame size %dx%d (%llu pixels) exceeds the limit of %llu pixels",
                        path, r->w, r->h, (unsigned long long)r->w * (unsigned long long)r->h,
                        (unsigned long long)maxpx);
    if (!strcmp(cs, "420jpeg") || !strcmp(cs, "420paldv") || !strcmp(cs, "420mpeg2") || !strcmp(cs, "420")) {
        r->cx = r->cy = 1;
    } else if (!strcmp(cs, "422")) {
        r->cx = 1;
    } else if (!strcmp(cs, "444")) {
    } else if (!strcmp(cs, "mono")) {
        r->mono = 1;
    } else {
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: colour space C%s is not supported", path, cs);
    }
    size_t cw = ((size_t)r->w + (size_t)r->cx) >> r->cx, ch = ((size_t)r->h + (size_t)r->cy) >> r->cy;
    r->ysize = (size_t)r->w * (size_t)r->h;
    r->csize = r->mono ? 0 : cw * ch;
    r->frame_bytes = r->ysize + 2 * r->csize;
    return RFS_OK;
}

static rfs_status y4m_open(rfs_y4m_reader **out, const char *path, int rgb, uint64_t max_pixels,
                           int stream) {
    *out = NULL;
    rfs_y4m_reader *r = rfs_calloc(1, sizeof *r);
    if (!r) return RFS_ERR_NOMEM;
    r->rgb = rgb;
    r->file_size = -1;
    rfs_status st;
    char line[Y4M_MAX_LINE];
    struct stat sb;
    if (stream) {
        r->f = fopen(path, "rb");
        st = r->f ? RFS_OK : RFS_FAIL(RFS_ERR_IO, "%s: %s", path, strerror(errno));
        if (r->f && fstat(fileno(r->f), &sb) != 0) sb.st_mode = 0;
    } else {
        st = rfs_file_open_read(&r->f, path, &sb);
    }
    if (st) goto fail;
    if (read_line(r->f, line, sizeof line) < 0) {
        st = RFS_FAIL(RFS_ERR_FORMAT, "%s: no YUV4MPEG2 header line", path);
        goto fail;
    }
    st = parse_header(r, line, path, max_pixels ? max_pixels : RFS_IMAGE_MAX_PIXELS_DEFAULT);
    if (st) goto fail;
    if (S_ISREG(sb.st_mode)) { /* pipes and devices are read as they come */
        r->data_start = ftell(r->f);
        r->file_size = sb.st_size;
    }
    r->buf = rfs_malloc(r->frame_bytes);
    if (!r->buf) {
        st = RFS_ERR_NOMEM;
        goto fail;
    }
    *out = r;
    return RFS_OK;
fail:
    rfs_y4m_close(r);
    return st;
}

rfs_status rfs_y4m_open(rfs_y4m_reader **out, const char *path, int rgb, uint64_t max_pixels) {
    return y4m_open(out, path, rgb, max_pixels, 0);
}

rfs_status rfs_y4m_open_stream(rfs_y4m_reader **out, const char *path, int rgb, uint64_t max_pixels) {
    return y4m_open(out, path, rgb, max_pixels, 1);
}

rfs_status rfs_y4m_read(rfs_y4m_reader *r, rfs_frame *frame, int *done) {
    *done = 0;
    if (r->ended) {
        *done = 1;
        return RFS_OK;
    }
    char line[Y4M_MAX_LINE];
    int n = read_line(r->f, line, sizeof line);
    if (n == -1) {
        r->ended = 1;
        *done = 1;
        return RFS_OK;
    }
    if (n < 5 || strncmp(line, "FRAME", 5) != 0 || (line[5] && line[5] != ' ')) {
        r->ended = 1;
        return RFS_FAIL(RFS_ERR_FORMAT, "y4m: bad frame header");
    }
    if (fread(r->buf, 1, r->frame_bytes, r->f) != r->frame_bytes) {
        r->ended = 1;
        return RFS_FAIL(RFS_ERR_FORMAT, "y4m: truncated frame (%zu bytes expected)", r->frame_bytes);
    }
    rfs_status st = rfs_frame_alloc(frame, r->w, r->h, 0, r->rgb ? RFS_PIX_RGB8 : RFS_PIX_BGR8);
    if (st) return st;
    const uint8_t *u = r->mono ? NULL : r->buf + r->ysize, *v = r->mono ? NULL : u + r->csize;
    int cs = (r->w + r->cx) >> r->cx;
    rfs_yuv_to_bgr(frame->data, frame->stride, r->w, r->h, r->buf, r->w, u, v, cs, r->cx, r->cy,
                   r->rgb);
    return RFS_OK;
}

int rfs_y4m_width(const rfs_y4m_reader *r) { return r->w; }
int rfs_y4m_height(const rfs_y4m_reader *r) { return r->h; }
double rfs_y4m_fps(const rfs_y4m_reader *r) {
    return r->fps_den ? (double)r->fps_num / r->fps_den : 0.0;
}
int64_t rfs_y4m_frame_count(const rfs_y4m_reader *r) {
    if (r->file_size < 0) return -1;
    return (r->file_size - r->data_start) / (int64_t)(r->frame_bytes + 6); /* "FRAME\n" */
}

void rfs_y4m_close(rfs_y4m_reader *r) {
    if (!r) return;
    if (r->f) fclose(r->f);
    free(r->buf);
    free(r);
}

/* ---- writer ------------------------------------------------------------------------------ */

struct rfs_y4m_writer {
    rfs_outfile out; /* temporary file, renamed to the path by a successful close */
    char path[256]; /* for messages */
    int w, h, c420;
    size_t frame_bytes;
    uint8_t *buf;
};

/* A frame rate as a small rational: n:1, n:1001 (NTSC rates) or n:1000. */
static void fps_rational(double fps, int *num, int *den) {
    static const int dens[] = {1, 1001, 1000};
    if (!(fps > 0 && fps < 1e6)) fps = 30;
    for (int i = 0; i < 3; i++) {
        double n = round(fps * dens[i]);
        if (fabs(n / dens[i] - fps) < 1e-9 * fps || i == 2) {
            *num = (int)n;
            *den = dens[i];
            return;
        }
    }
}

rfs_status rfs_y4m_writer_open(rfs_y4m_writer **out, const char *path, int w, int h, double fps,
                               int chroma) {
    *out = NULL;
    if (w <= 0 || h <= 0 || w > Y4M_MAX_SIDE || h > Y4M_MAX_SIDE || (chroma != 420 && chroma != 444))
        return RFS_FAIL(RFS_ERR_ARG, "%s: bad y4m size %dx%d or chroma %d", path, w, h, chroma);
    rfs_y4m_writer *wr = rfs_calloc(1, sizeof *wr);
    if (!wr) return RFS_ERR_NOMEM;
    wr->w = w;
    wr->h = h;
    wr->c420 = chroma == 420;
    snprintf(wr->path, sizeof wr->path, "%s", path);
    size_t cw = wr->c420 ? ((size_t)w + 1) / 2 : (size_t)w, ch = wr->c420 ? ((size_t)h + 1) / 2 : (size_t)h;
    wr->frame_bytes = (size_t)w * h + 2 * cw * ch;
    rfs_status st;
    wr->buf = rfs_malloc(wr->frame_bytes);
    if (!wr->buf) {
        st = RFS_ERR_NOMEM;
        goto fail;
    }
    if ((st = rfs_outfile_open(&wr->out, path, 1)) != RFS_OK) goto fail;
    int num, den;
    fps_rational(fps, &num, &den);
    if (fprintf(wr->out.f, Y4M_MAGIC " W%d H%d F%d:%d Ip A1:1 C%s\n", w, h, num, den,
                wr->c420 ? "420jpeg" : "444") < 0) {
        st = RFS_FAIL(RFS_ERR_IO, "%s: write error: %s", path, strerror(errno));
        goto fail;
    }
    *out = wr;
    return RFS_OK;
fail:
    rfs_outfile_abort(&wr->out); /* only the temporary file is removed */
    free(wr->buf);
    free(wr);
    return st;
}

/* BT.601 limited-range RGB -> YUV in 8-bit fixed point (the classic integer formulas). */
static uint8_t to_y(int r, int g, int b) { return (uint8_t)(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16); }
static uint8_t to_u(int r, int g, int b) { return (uint8_t)(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128); }
static uint8_t to_v(int r, int g, int b) { return (uint8_t)(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128); }

rfs_status rfs_y4m_write(rfs_y4m_writer *wr, const rfs_frame *f) {
    if (f->w != wr->w || f->h != wr->h)
        return RFS_FAIL(RFS_ERR_ARG, "%s: frame %dx%d, stream %dx%d", wr->path, f->w, f->h, wr->w, wr->h);
    int ri = f->fmt == RFS_PIX_RGB8 ? 0 : 2, bi = 2 - ri;
    int w = wr->w, h = wr->h;
    int cw = wr->c420 ? (w + 1) / 2 : w, ch = wr->c420 ? (h + 1) / 2 : h;
    uint8_t *yp = wr->buf, *up = yp + (size_t)w * h, *vp = up + (size_t)cw * ch;
    for (int y = 0; y < h; y++) {
        const uint8_t *s = f->data + (size_t)y * f->stride;
        for (int x = 0; x < w; x++, s += 3) yp[(size_t)y * w + x] = to_y(s[ri], s[1], s[bi]);
    }
    int sx = wr->c420, sy = wr->c420;
    for (int cyi = 0; cyi < ch; cyi++) {
        for (int cxi = 0; cxi < cw; cxi++) {
            int r = 0, g = 0, b = 0, k = 0; /* mean RGB of the pixels the sample covers */
            for (int dy = 0; dy <= sy; dy++) {
                int y = (cyi << sy) + dy;
                if (y >= h) break;
                for (int dx = 0; dx <= sx; dx++) {
                    int x = (cxi << sx) + dx;
                    if (x >= w) break;
                    const uint8_t *s = f->data + (size_t)y * f->stride + 3 * (size_t)x;
                    r += s[ri], g += s[1], b += s[bi], k++;
                }
            }
            r = (r + k / 2) / k, g = (g + k / 2) / k, b = (b + k / 2) / k;
            up[(size_t)cyi * cw + cxi] = to_u(r, g, b);
            vp[(size_t)cyi * cw + cxi] = to_v(r, g, b);
        }
    }
    if (wr->out.failed) return RFS_FAIL(RFS_ERR_IO, "%s: an earlier write failed", wr->path);
    errno = 0;
    if (fputs("FRAME\n", wr->out.f) < 0 || fwrite(wr->buf, 1, wr->frame_bytes, wr->out.f) != wr->frame_bytes) {
        wr->out.failed = 1;
        return RFS_FAIL(RFS_ERR_IO, "%s: write error: %s", wr->path, strerror(errno ? errno : EIO));
    }
    return RFS_OK;
}

rfs_status rfs_y4m_writer_close(rfs_y4m_writer *wr) {
    if (!wr) return RFS_OK;
    rfs_status st = rfs_outfile_commit(&wr->out); /* flush + close checked, then rename */
    free(wr->buf);
    free(wr);
    return st;
}
