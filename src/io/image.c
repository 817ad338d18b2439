/* image.c - JPEG/PNG/BMP decoding equal to cv2.imdecode(IMREAD_COLOR), PNG writing.
 *
 * Layout: frames; EXIF orientation (parser + row placement); one section per decoder;
 * the dispatcher; the PNG writer. See image.h for the contract.
 *
 * Every decoder checks the header's size against the pixel limit before allocating,
 * writes decoded rows straight into the output frame (or through a one-row buffer when
 * the EXIF orientation moves rows into columns), and never prints: libjpeg and libpng
 * messages are captured into the error message or dropped.
 */
#include "io/image.h"
#include "io/fileio.h"
#include "util/err.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <stdarg.h>
#if RFS_HAVE_WEBP
#include <webp/decode.h>
#endif
#if RFS_HAVE_TIFF
#include <tiffio.h>
#endif

#include <jpeglib.h> /* before jerror.h: it selects the message list */
#include <jerror.h>
#include <png.h>

/* ---- frames ------------------------------------------------------------------------------ */

rfs_status rfs_frame_alloc(rfs_frame *f, int w, int h, int stride, rfs_pixfmt fmt) {
    if (w <= 0 || h <= 0) return RFS_FAIL(RFS_ERR_ARG, "frame size %dx%d", w, h);
    if (stride == 0) {
        if (w > INT_MAX / 3) return RFS_FAIL(RFS_ERR_LIMIT, "frame width %d too large", w);
        stride = 3 * w;
    }
    if (stride < 3 * w) return RFS_FAIL(RFS_ERR_ARG, "stride %d < 3 * width %d", stride, w);
    size_t need;
    if (rfs_mul_size(&need, (size_t)stride, (size_t)h))
        return RFS_FAIL(RFS_ERR_LIMIT, "frame %dx%d too large", w, h);
    if (f->cap < need) {
        uint8_t *p = rfs_aligned_alloc(need);
        if (!p) return RFS_ERR_NOMEM;
        if (f->cap) free(f->data);
        f->data = p;
        f->cap = need;
    }
    f->w = w;
    f->h = h;
    f->stride = stride;
    f->fmt = fmt;
    return RFS_OK;
}

void rfs_frame_wrap(rfs_frame *f, uint8_t *data, int w, int h, int stride, rfs_pixfmt fmt) {
    if (f->cap) free(f->data);
    f->data = data;
    f->w = w;
    f->h = h;
    f->stride = stride ? stride : 3 * w;
    f->fmt = fmt;
    f->cap = 0;
}

void rfs_frame_free(rfs_frame *f) {
    if (!f) return;
    if (f->cap) free(f->data);
    memset(f, 0, sizeof *f);
}

void rfs_frame_swap_rb(rfs_frame *f) {
    for (int y = 0; y < f->h; y++) {
        uint8_t *p = f->data + (size_t)y * f->stride;
        for (int x = 0; x < f->w; x++, p += 3) {
            uint8_t t = p[0];
            p[0] = p[2];
            p[2] = t;
        }
    }
    f->fmt = f->fmt == RFS_PIX_BGR8 ? RFS_PIX_RGB8 : RFS_PIX_BGR8;
}

rfs_image rfs_frame_image(const rfs_frame *f) {
    rfs_image im = {.width = f->w, .height = f->h, .stride = f->stride, .format = f->fmt,
                    .data = f->data};
    return im;
}

/* ---- EXIF orientation -------------------------------------------------------------------- */

/* OpenCV's ExifReader (exif.cpp), reduced to what decides the orientation it applies:
 * byte order from "II" (else big-endian), tag mark 42, IFD0 at the offset in bytes 4..7,
 * entries of 12 bytes. The value is the 16-bit word at entry+8 whatever the entry's type.
 * The first Orientation entry counts; the tags OpenCV decodes (strings, rationals) abort
 * the whole parse when their data lies outside the segment, and entries after that point
 * are never seen, so a malformed entry before the Orientation entry cancels it. */
typedef struct exif_rd {
    const uint8_t *d;
    size_t n;
    int le;
} exif_rd;

static int exif_u16(const exif_rd *r, size_t off, uint32_t *v) {
    if (off + 1 >= r->n) return -1;
    const uint8_t *p = r->d + off;
    *v = r->le ? (uint32_t)(p[0] | p[1] << 8) : (uint32_t)(p[0] << 8 | p[1]);
    return 0;
}

static int exif_u32(const exif_rd *r, size_t off, uint32_t *v) {
    if (off + 3 >= r->n) return -1;
    const uint8_t *p = r->d + off;
    *v = r->le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
               : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
    return 0;
}

/* `count` unsigned rationals at the offset stored in the entry (uint32 arithmetic, as
 * OpenCV's). Returns -1 when any lies outside the data. */
static int exif_rationals(const exif_rd *r, size_t entry, int count) {
    uint32_t at, v;
    if (exif_u32(r, entry + 8, &at)) return -1;
    for (int i = 0; i < count; i++, at += 8)
        if (exif_u32(r, at, &v) || exif_u32(r, (size_t)at + 4, &v)) return -1;
    return 0;
}

static int exif_string_ok(const exif_rd *r, size_t entry) {
    uint32_t size, off = 8;
    if (exif_u32(r, entry + 4, &size)) return 0;
    if (size > 4 && exif_u32(r, entry + 8, &off)) return 0;
    return (size_t)off <= r->n && (size_t)off + size <= r->n;
}

/* Orientation 1..8 from a TIFF-structured EXIF block, or 1 when absent or unusable. */
static int exif_orientation(const uint8_t *d, size_t n) {
    if (!d || n == 0) return 1;
    exif_rd r = {d, n, n >= 1 && (n == 1 || d[0] == d[1]) && d[0] == 'I'};
    uint32_t v, ifd, count, orient = 0;
    if (exif_u16(&r, 2, &v) || v != 42) return 1;
    if (exif_u32(&r, 4, &ifd) || exif_u16(&r, ifd, &count)) return 1;
    size_t e = (size_t)ifd + 2;
    for (uint32_t i = 0; i < count; i++, e += 12) {
        uint32_t tag;
        int ok = 1;
        if (exif_u16(&r, e, &tag)) break;
        switch (tag) {
        case 0x010E: case 0x010F: case 0x0110: case 0x0131: case 0x0132: case 0x8298:
            ok = exif_string_ok(&r, e); /* description, make, model, software, date, (c) */
            break;
        case 0x0112: /* Orientation */
            ok = exif_u16(&r, e + 8, &v) == 0;
            if (ok && !orient) orient = v ? v : 0x10000; /* 0 is a value, not "unset" */
            break;
        case 0x0128: case 0x0213: /* resolution unit, YCbCr positioning */
            ok = exif_u16(&r, e + 8, &v) == 0;
            break;
        case 0x011A: case 0x011B: ok = exif_rationals(&r, e, 1) == 0; break; /* x/y res */
        case 0x013E: ok = exif_rationals(&r, e, 2) == 0; break;              /* white point */
        case 0x013F: case 0x0214: ok = exif_rationals(&r, e, 6) == 0; break; /* primaries, ref BW */
        case 0x0211: ok = exif_rationals(&r, e, 3) == 0; break;              /* YCbCr coeffs */
        default: break;
        }
        if (!ok) break;
    }
    return orient >= 1 && orient <= 8 ? (int)orient : 1;
}

/* Where the decoded (source) image of size sw x sh goes for an EXIF orientation: the
 * transforms OpenCV's ExifTransform applies (2 flip x, 3 flip both, 4 flip y, 5 transpose,
 * 6 transpose + flip x, 7 transpose + flip both, 8 transpose + flip y). */
static int orient_swaps(int o) { return o >= 5; }

/* Stores source row y (sw pixels at src) at its place in out (already sized for the
 * oriented image). src must not alias out's pixels. */
static void orient_put_row(rfs_frame *out, int o, int sw, int sh, int y, const uint8_t *src) {
    size_t st = (size_t)out->stride;
    if (!orient_swaps(o)) {
        uint8_t *row = out->data + (size_t)(o == 3 || o == 4 ? sh - 1 - y : y) * st;
        if (o == 2 || o == 3) {
            for (int x = 0; x < sw; x++) memcpy(row + 3 * (size_t)(sw - 1 - x), src + 3 * x, 3);
        } else {
            memcpy(row, src, 3 * (size_t)sw);
        }
        return;
    }
    /* Transposed: source row y becomes output column ox, source column x output row oy. */
    int ox = (o == 5 || o == 8) ? y : sh - 1 - y;
    int flip = (o == 7 || o == 8);
    uint8_t *col = out->data + 3 * (size_t)ox;
    for (int x = 0; x < sw; x++) {
        size_t oy = (size_t)(flip ? sw - 1 - x : x);
        memcpy(col + oy * st, src + 3 * x, 3);
    }
}

/* Applies orientation o to a frame decoded in its natural orientation. Flips happen in
 * place; transposes need a second buffer (only PNG takes this path, because its eXIf
 * chunk may follow the pixel data). */
static rfs_status orient_frame(rfs_frame *f, int o) {
    if (o <= 1 || o > 8) return RFS_OK;
    int w = f->w, h = f->h;
    size_t st = (size_t)f->stride;
    if (!orient_swaps(o)) {
        if (o == 3 || o == 4) {
            for (int y = 0; y < h / 2; y++) {
                uint8_t *a = f->data + (size_t)y * st, *b = f->data + (size_t)(h - 1 - y) * st;
                for (size_t i = 0; i < 3 * (size_t)w; i++) {
                    uint8_t t = a[i];
                    a[i] = b[i];
                    b[i] = t;
                }
            }
        }
        if (o == 2 || o == 3) {
            for (int y = 0; y < h; y++) {
                uint8_t *a = f->data + (size_t)y * st;
                for (int x = 0; x < w / 2; x++) {
                    uint8_t *p = a + 3 * x, *q = a + 3 * (size_t)(w - 1 - x), t[3];
                    memcpy(t, p, 3);
                    memcpy(p, q, 3);
                    memcpy(q, t, 3);
                }
            }
        }
        return RFS_OK;
    }
    rfs_frame src = *f; /* take the buffer; f gets a new one */
    f->data = NULL;
    f->cap = 0;
    rfs_status st2 = rfs_frame_alloc(f, h, w, 0, src.fmt);
    if (st2 == RFS_OK)
        for (int y = 0; y < h; y++) orient_put_row(f, o, w, h, y, src.data + (size_t)y * st);
    rfs_frame_free(&src);
    return st2;
}

/* ---- shared decoder checks ----------------------------------------------------------------- */

typedef struct dec_cfg {
    int rgb;
    int orient; /* apply EXIF orientation */
    uint64_t max_pixels;
} dec_cfg;

/* The header-only size check every decoder runs before allocating. */
static rfs_status check_size(const char *fmt, int64_t w, int64_t h, const dec_cfg *c) {
    if (w <= 0 || h <= 0)
        return RFS_FAIL(RFS_ERR_FORMAT, "%s: invalid image size %lldx%lld", fmt, (long long)w,
                        (long long)h);
    if ((uint64_t)w * (uint64_t)h > c->max_pixels || w > INT_MAX / 4 || h > INT_MAX / 4)
        return RFS_FAIL(RFS_ERR_LIMIT, "%s: image size %lldx%lld exceeds the limit of %llu pixels",
                        fmt, (long long)w, (long long)h, (unsigned long long)c->max_pixels);
    return RFS_OK;
}

/* ---- JPEG (libjpeg API) -------------------------------------------------------------------- */

/* Corrupt-data warnings after which the pixels are known to be wrong or missing: rfseg
 * turns them into errors (cv2 prints them and returns the damaged image). Harmless ones
 * (extraneous bytes between segments, unknown JFIF revision, bad ICC marker, unknown
 * Adobe transform) are ignored like cv2 does. */
static int jpeg_warning_is_fatal(int code) {
    switch (code) {
    case JWRN_JPEG_EOF:          /* premature end of file: truncated */
    case JWRN_HIT_MARKER:        /* premature end of data segment */
    case JWRN_HUFF_BAD_CODE:     /* corrupt entropy-coded data */
#if JPEG_LIB_VERSION >= 70 || defined(D_ARITH_CODING_SUPPORTED)
    case JWRN_ARITH_BAD_CODE:
#endif
    case JWRN_MUST_RESYNC:       /* lost sync at a restart marker */
    case JWRN_BOGUS_PROGRESSION: /* inconsistent progressive scans */
        return 1;
    default:
        return 0;
    }
}

#define JPEG_MAX_SCANS 1000 /* progressive files with more scans are rejected (CPU bomb) */

typedef struct jpeg_ctx {
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr em;
    struct jpeg_progress_mgr prog;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX + 64];
} jpeg_ctx;

static void jpeg_bail(j_common_ptr c) {
    jpeg_ctx *j = (jpeg_ctx *)c->client_data;
    if (!j->msg[0]) (*c->err->format_message)(c, j->msg);
    longjmp(j->jb, 1);
}

static void jpeg_on_message(j_common_ptr c, int level) {
    if (level >= 0) return; /* trace messages */
    if (jpeg_warning_is_fatal(c->err->msg_code)) {
        jpeg_ctx *j = (jpeg_ctx *)c->client_data;
        char m[JMSG_LENGTH_MAX];
        (*c->err->format_message)(c, m);
        snprintf(j->msg, sizeof j->msg, "truncated or corrupt data (%s)", m);
        longjmp(j->jb, 1);
    }
    c->err->num_warnings++;
}

static void jpeg_silent(j_common_ptr c) { (void)c; }

static void jpeg_on_progress(j_common_ptr c) {
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_ctx *j = (jpeg_ctx *)c->client_data;
        snprintf(j->msg, sizeof j->msg, "more than %d scans", JPEG_MAX_SCANS);
        longjmp(j->jb, 1);
    }
}

/* OpenCV's CMYK -> BGR formula (icvCvt_CMYK2BGR_8u_C4C3R; Adobe files store inverted CMYK
 * and libjpeg hands the stored values through). */
static void cmyk_row(uint8_t *dst, const uint8_t *src, int w, int rgb) {
    for (int x = 0; x < w; x++, src += 4, dst += 3) {
        int k = src[3];
        int c = k - ((255 - src[0]) * k >> 8);
        int m = k - ((255 - src[1]) * k >> 8);
        int y = k - ((255 - src[2]) * k >> 8);
        dst[rgb ? 0 : 2] = (uint8_t)c;
        dst[1] = (uint8_t)m;
        dst[rgb ? 2 : 0] = (uint8_t)y;
    }
}

/* The body of the JPEG decoder; any libjpeg error longjmps out of it to decode_jpeg. */
static rfs_status jpeg_run(jpeg_ctx *j, rfs_frame *out, const uint8_t *b, size_t n,
                           const dec_cfg *c) {
    j_decompress_ptr ci = &j->ci;
    jpeg_create_decompress(ci);
    ci->client_data = j;
    ci->progress = &j->prog;
    jpeg_mem_src(ci, b, (unsigned long)n);
    jpeg_save_markers(ci, JPEG_APP0 + 1, 0xFFFF); /* APP1: EXIF */
    jpeg_read_header(ci, TRUE);

    rfs_status st = check_size("JPEG", ci->image_width, ci->image_height, c);
    if (st) return st;

    /* OpenCV uses the first APP1 segment whatever it holds, skipping 6 bytes ("Exif\0\0"). */
    int orient = 1;
    if (c->orient)
        for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next)
            if (m->marker == JPEG_APP0 + 1) {
                if (m->data_length > 6) orient = exif_orientation(m->data + 6, m->data_length - 6);
                break;
            }

    int cmyk = ci->num_components == 4;
    ci->out_color_space = cmyk ? JCS_CMYK : (c->rgb ? JCS_EXT_RGB : JCS_EXT_BGR);
    /* islow DCT and fancy upsampling are libjpeg's defaults, which OpenCV keeps. */
    jpeg_start_decompress(ci);

    int w = (int)ci->output_width, h = (int)ci->output_height;
    int ow = orient_swaps(orient) ? h : w, oh = orient_swaps(orient) ? w : h;
    st = rfs_frame_alloc(out, ow, oh, 0, c->rgb ? RFS_PIX_RGB8 : RFS_PIX_BGR8);
    if (st) return st;

    /* Rows go straight into the frame unless they need converting or moving sideways. */
    int direct = !cmyk && (orient == 1 || orient == 4);
    JSAMPARRAY tmp = NULL, cvt = NULL;
    if (!direct) tmp = (*ci->mem->alloc_sarray)((j_common_ptr)ci, JPOOL_IMAGE, (JDIMENSION)w * 4, 1);
    if (cmyk && orient != 1)
        cvt = (*ci->mem->alloc_sarray)((j_common_ptr)ci, JPOOL_IMAGE, (JDIMENSION)w * 3, 1);
    while (ci->output_scanline < ci->output_height) {
        int y = (int)ci->output_scanline;
        JSAMPROW row = direct ? out->data + (size_t)(orient == 4 ? h - 1 - y : y) * out->stride
                              : tmp[0];
        if (jpeg_read_scanlines(ci, &row, 1) != 1) {
            snprintf(j->msg, sizeof j->msg, "decoder stalled at row %d", y);
            longjmp(j->jb, 1);
        }
        if (direct) continue;
        if (cmyk && orient == 1) {
            cmyk_row(out->data + (size_t)y * out->stride, tmp[0], w, c->rgb);
        } else if (cmyk) {
            cmyk_row(cvt[0], tmp[0], w, c->rgb);
            orient_put_row(out, orient, w, h, y, cvt[0]);
        } else {
            orient_put_row(out, orient, w, h, y, tmp[0]);
        }
    }
    jpeg_finish_decompress(ci);
    return RFS_OK;
}

static rfs_status decode_jpeg(rfs_frame *out, const uint8_t *b, size_t n, const dec_cfg *c) {
    jpeg_ctx *j = rfs_calloc(1, sizeof *j); /* off the stack: setjmp state + libjpeg structs */
    if (!j) return RFS_ERR_NOMEM;
    j->ci.err = jpeg_std_error(&j->em);
    j->em.error_exit = jpeg_bail;
    j->em.emit_message = jpeg_on_message;
    j->em.output_message = jpeg_silent;
    j->prog.progress_monitor = jpeg_on_progress;
    j->ci.client_data = j;
    rfs_status st;
    if (setjmp(j->jb) == 0) {
        st = jpeg_run(j, out, b, n, c);
    } else {
        st = RFS_FAIL(RFS_ERR_FORMAT, "JPEG: %s", j->msg);
    }
    jpeg_destroy_decompress(&j->ci);
    free(j);
    return st;
}

/* ---- PNG (libpng) -------------------------------------------------------------------------- */

typedef struct png_ctx {
    const uint8_t *b;
    size_t n, pos;
    char msg[256];
} png_ctx;

static void png_on_error(png_structp p, png_const_charp msg) {
    png_ctx *x = png_get_error_ptr(p);
    snprintf(x->msg, sizeof x->msg, "%s", msg);
    png_longjmp(p, 1);
}

static void png_on_warning(png_structp p, png_const_charp msg) { (void)p, (void)msg; }

static void png_read_mem(png_structp p, png_bytep dst, png_size_t len) {
    png_ctx *x = png_get_io_ptr(p);
    if (len > x->n - x->pos) png_error(p, "truncated (unexpected end of data)");
    memcpy(dst, x->b + x->pos, len);
    x->pos += len;
}

static rfs_status decode_png(rfs_frame *out, const uint8_t *b, size_t n, const dec_cfg *c) {
    /* The size check reads IHDR (always the first chunk) before libpng sees anything, so a
     * header claiming a huge image is refused whatever follows it. Sizes of 2^31 and more
     * and other malformed headers are left to libpng's own checks. */
    if (n >= 24 && memcmp(b + 12, "IHDR", 4) == 0) {
        uint32_t w = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
        uint32_t h = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
        if (w < 0x80000000u && h < 0x80000000u) {
            rfs_status st = check_size("PNG", w, h, c);
            if (st) return st;
        }
    }
    png_ctx x = {.b = b, .n = n};
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &x, png_on_error, png_on_warning);
    if (!p) return RFS_FAIL(RFS_ERR_NOMEM, "PNG: cannot create decoder");
    png_infop info = png_create_info_struct(p), end = png_create_info_struct(p);
    if (!info || !end) {
        png_destroy_read_struct(&p, &info, &end);
        return RFS_FAIL(RFS_ERR_NOMEM, "PNG: cannot create decoder");
    }
    /* Only plain locals that are not modified after setjmp are read after a longjmp. */
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_read_struct(&p, &info, &end);
        return RFS_FAIL(RFS_ERR_FORMAT, "PNG: %s", x.msg);
    }
    png_set_read_fn(p, &x, png_read_mem);
    png_read_info(p, info);
    png_uint_32 w, h;
    int depth, ctype;
    png_get_IHDR(p, info, &w, &h, &depth, &ctype, NULL, NULL, NULL);
    rfs_status st = check_size("PNG", w, h, c);
    if (st) goto done;

    /* OpenCV's transform set for an 8-bit 3-channel result (grfmt_png.cpp), same order. */
    if (depth == 16) png_set_strip_16(p);
    png_set_strip_alpha(p);
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(p);
    if ((ctype & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(p);
    if (ctype & PNG_COLOR_MASK_COLOR) {
        if (!c->rgb) png_set_bgr(p);
    } else {
        png_set_gray_to_rgb(p);
    }
    int passes = png_set_interlace_handling(p);
    png_read_update_info(p, info);
    if (png_get_rowbytes(p, info) != 3 * (size_t)w) {
        st = RFS_FAIL(RFS_ERR_UNSUPPORTED, "PNG: unexpected row layout (color type %d, depth %d)",
                      ctype, depth);
        goto done;
    }
    st = rfs_frame_alloc(out, (int)w, (int)h, 0, c->rgb ? RFS_PIX_RGB8 : RFS_PIX_BGR8);
    if (st) goto done;
    /* Interlaced images come in passes over the same rows, hence rows of the frame itself. */
    for (int pass = 0; pass < passes; pass++)
        for (png_uint_32 y = 0; y < h; y++) png_read_row(p, out->data + (size_t)y * out->stride, NULL);
    png_read_end(p, end);

    if (c->orient) {
        /* OpenCV reads the eXIf chunk before IDAT, and only without it the one after. */
        png_uint_32 ne = 0;
        png_bytep ex = NULL;
        if (png_get_valid(p, info, PNG_INFO_eXIf))
            png_get_eXIf_1(p, info, &ne, &ex);
        else if (png_get_valid(p, end, PNG_INFO_eXIf))
            png_get_eXIf_1(p, end, &ne, &ex);
        st = orient_frame(out, exif_orientation(ex, ne));
    }
done:
    png_destroy_read_struct(&p, &info, &end);
    return st;
}

/* ---- BMP (OpenCV's grfmt_bmp.cpp rules) ---------------------------------------------------- */

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

/* One source row (bpp bits per pixel, pal: 256 BGRA entries) to BGR or RGB pixels. */
static void bmp_row(uint8_t *dst, const uint8_t *src, int w, int bpp, const uint8_t *pal, int rgb) {
    int r = rgb ? 0 : 2, b = rgb ? 2 : 0;
    for (int x = 0; x < w; x++, dst += 3) {
        const uint8_t *e;
        uint8_t px[3];
        switch (bpp) {
        case 1: e = pal + 4 * ((src[x >> 3] >> (7 - (x & 7))) & 1); break;
        case 4: e = pal + 4 * ((src[x >> 1] >> (x & 1 ? 0 : 4)) & 15); break;
        case 8: e = pal + 4 * src[x]; break;
        case 15: case 16: {
            uint32_t t = rd16(src + 2 * x);
            px[0] = (uint8_t)(t << 3);
            px[1] = bpp == 15 ? (uint8_t)((t >> 2) & 0xf8) : (uint8_t)((t >> 3) & 0xfc);
            px[2] = bpp == 15 ? (uint8_t)((t >> 7) & 0xf8) : (uint8_t)((t >> 8) & 0xf8);
            e = px;
            break;
        }
        case 24: e = src + 3 * x; break;
        default: e = src + 4 * x; break; /* 32: B G R A, alpha dropped */
        }
        dst[b] = e[0];
        dst[1] = e[1];
        dst[r] = e[2];
    }
}

static rfs_status decode_bmp(rfs_frame *out, const uint8_t *b, size_t n, const dec_cfg *c) {
    if (n < 18) return RFS_FAIL(RFS_ERR_FORMAT, "BMP: truncated header (%zu bytes)", n);
    uint32_t offset = rd32(b + 10), hsize = rd32(b + 14);
    int64_t w, h;
    int bpp, comp = 0, os2 = 0;
    uint32_t clrused = 0;
    if (hsize >= 36 && hsize <= INT_MAX) {
        if (n < 50) return RFS_FAIL(RFS_ERR_FORMAT, "BMP: truncated header (%zu bytes)", n);
        w = (int32_t)rd32(b + 18);
        h = (int32_t)rd32(b + 22);
        bpp = (int)rd16(b + 28);
        comp = (int)rd32(b + 30);
        clrused = rd32(b + 46);
    } else if (hsize == 12) {
        if (n < 26) return RFS_FAIL(RFS_ERR_FORMAT, "BMP: truncated header (%zu bytes)", n);
        w = rd16(b + 18);
        h = rd16(b + 20);
        bpp = (int)rd16(b + 24);
        os2 = 1;
    } else {
        return RFS_FAIL(RFS_ERR_FORMAT, "BMP: unsupported header size %u", hsize);
    }
    if (comp == 1 || comp == 2)
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "BMP: RLE%d compression is not supported",
                        comp == 1 ? 8 : 4);
    int ok = (bpp == 1 || bpp == 4 || bpp == 8 || bpp == 24 || bpp == 32) && comp == 0;
    ok |= (bpp == 16 || bpp == 32) && comp == 3 && !os2;
    ok |= bpp == 16 && comp == 0 && !os2;
    if (!ok) return RFS_FAIL(RFS_ERR_UNSUPPORTED, "BMP: %d bits per pixel with compression %d", bpp, comp);
    int bottom_up = h > 0;
    if (h < 0) h = -h;
    rfs_status st = check_size("BMP", w, h, c);
    if (st) return st;

    /* Palette and bit-field masks follow the info header (OpenCV ignores bfOffBits for them). */
    uint8_t pal[256 * 4] = {0};
    size_t at = 14 + (size_t)hsize;
    if (bpp <= 8) {
        if (os2) {
            size_t cnt = (size_t)1 << bpp;
            if (at + 3 * cnt > n) return RFS_FAIL(RFS_ERR_FORMAT, "BMP: truncated palette");
            for (size_t i = 0; i < cnt; i++) memcpy(pal + 4 * i, b + at + 3 * i, 3);
        } else {
            if (clrused > 256) return RFS_FAIL(RFS_ERR_FORMAT, "BMP: %u palette colors", clrused);
            size_t cnt = clrused ? clrused : (size_t)1 << bpp;
            if (at + 4 * cnt > n) return RFS_FAIL(RFS_ERR_FORMAT, "BMP: truncated palette");
            memcpy(pal, b + at, 4 * cnt);
        }
    } else if (bpp == 16) {
        bpp = 15;
        if (comp == 3) {
            if (at + 12 > n) return RFS_FAIL(RFS_ERR_FORMAT, "BMP: truncated bit-field masks");
            uint32_t rm = rd32(b + at), gm = rd32(b + at + 4), bm = rd32(b + at + 8);
            if (bm == 0x1f && gm == 0x7e0 && rm == 0xf800) bpp = 16;
            else if (!(bm == 0x1f && gm == 0x3e0 && rm == 0x7c00))
                return RFS_FAIL(RFS_ERR_UNSUPPORTED, "BMP: 16-bit masks %x/%x/%x", rm, gm, bm);
        }
    }
    size_t pitch = (((size_t)w * (size_t)(bpp == 15 ? 16 : bpp) + 7) / 8 + 3) & ~(size_t)3;
    if (offset > n || (n - offset) / pitch < (size_t)h)
        return RFS_FAIL(RFS_ERR_FORMAT, "BMP: truncated pixel data (%zu bytes, %lldx%lld needs %zu at offset %u)",
                        n, (long long)w, (long long)h, pitch * (size_t)h, offset);
    st = rfs_frame_alloc(out, (int)w, (int)h, 0, c->rgb ? RFS_PIX_RGB8 : RFS_PIX_BGR8);
    if (st) return st;
    for (int64_t y = 0; y < h; y++) {
        uint8_t *dst = out->data + (size_t)(bottom_up ? h - 1 - y : y) * out->stride;
        bmp_row(dst, b + offset + (size_t)y * pitch, (int)w, bpp, pal, c->rgb);
    }
    return RFS_OK;
}

/* ---- WebP (libwebp, as OpenCV's WebPDecoder) ------------------------------------------------ */

#if RFS_HAVE_WEBP
/* OpenCV reads the features from the first 32 bytes, decodes BGR straight into the image,
 * or BGRA when the file has alpha and then drops the alpha (no compositing); no EXIF
 * orientation. Animated files are refused (cv2 refuses them too). */
static rfs_status decode_webp(rfs_frame *out, const uint8_t *b, size_t n, const dec_cfg *c) {
    enum { HEADER = 32 };
    WebPBitstreamFeatures ft;
    if (n < HEADER || WebPGetFeatures(b, HEADER, &ft) != VP8_STATUS_OK)
        return RFS_FAIL(RFS_ERR_FORMAT, "WebP: malformed header");
    if (ft.has_animation) return RFS_FAIL(RFS_ERR_UNSUPPORTED, "WebP: animated images are not supported");
    rfs_status st = check_size("WebP", ft.width, ft.height, c);
    if (st) return st;
    if ((st = rfs_frame_alloc(out, ft.width, ft.height, 0, c->rgb ? RFS_PIX_RGB8 : RFS_PIX_BGR8))) return st;
    size_t size = (size_t)out->stride * (size_t)out->h;
    if (!ft.has_alpha) {
        uint8_t *r = c->rgb ? WebPDecodeRGBInto(b, n, out->data, size, out->stride)
                            : WebPDecodeBGRInto(b, n, out->data, size, out->stride);
        return r == out->data ? RFS_OK : RFS_FAIL(RFS_ERR_FORMAT, "WebP: corrupt or truncated data");
    }
    size_t stride4 = (size_t)ft.width * 4, bytes4;
    if (rfs_mul_size(&bytes4, stride4, (size_t)ft.height)) return RFS_FAIL(RFS_ERR_LIMIT, "WebP: image too large");
    uint8_t *tmp = rfs_malloc(bytes4);
    if (!tmp) return RFS_ERR_NOMEM;
    uint8_t *r = c->rgb ? WebPDecodeRGBAInto(b, n, tmp, bytes4, (int)stride4)
                        : WebPDecodeBGRAInto(b, n, tmp, bytes4, (int)stride4);
    if (r != tmp) {
        free(tmp);
        return RFS_FAIL(RFS_ERR_FORMAT, "WebP: corrupt or truncated data");
    }
    for (int y = 0; y < ft.height; y++) {
        const uint8_t *s4 = tmp + (size_t)y * stride4;
        uint8_t *d = out->data + (size_t)y * out->stride;
        for (int x = 0; x < ft.width; x++) d[3 * x] = s4[4 * x], d[3 * x + 1] = s4[4 * x + 1], d[3 * x + 2] = s4[4 * x + 2];
    }
    free(tmp);
    return RFS_OK;
}
#endif

/* ---- TIFF (libtiff, as OpenCV's TiffDecoder for 8-bit colour output) ------------------------- */

#if RFS_HAVE_TIFF
/* cv2.imdecode(IMREAD_COLOR) reads every TIFF it accepts through libtiff's RGBA interface
 * (TIFFReadRGBAStrip / TIFFReadRGBATile), strip by strip or tile by tile, placing rows as
 * OpenCV's loop does (the RGBA raster is bottom-up; files whose Orientation is a bottom
 * one are flipped back), and drops the alpha (libtiff has already premultiplied an
 * unassociated alpha). Its header rules are kept: bits per sample 1, 8, 16, 32 or 64 (more
 * than 8 with a non-gray/RGB photometric or odd channel counts counts as 8), 1 to 4
 * samples, TIFFRGBAImageOK. The first directory only; orientations 5-8 are turned as
 * OpenCV turns them (see tiff_pixels), whatever the decode options say, as in cv2. */
typedef struct tiff_mem {
    const uint8_t *b;
    size_t n, pos;
    char msg[256];
} tiff_mem;

static tmsize_t tiff_read(thandle_t h, void *dst, tmsize_t n) {
    tiff_mem *m = (tiff_mem *)h;
    if (n < 0) return 0;
    size_t k = (size_t)n > m->n - m->pos ? m->n - m->pos : (size_t)n;
    memcpy(dst, m->b + m->pos, k);
    m->pos += k;
    return (tmsize_t)k;
}
static tmsize_t tiff_write(thandle_t h, void *src, tmsize_t n) { (void)h, (void)src, (void)n; return 0; }
static toff_t tiff_seek(thandle_t h, toff_t off, int whence) {
    tiff_mem *m = (tiff_mem *)h;
    uint64_t p = whence == SEEK_SET ? off : whence == SEEK_CUR ? m->pos + off : m->n + off;
    m->pos = p > m->n ? m->n : (size_t)p;
    return m->pos;
}
static int tiff_close(thandle_t h) { (void)h; return 0; }
static toff_t tiff_size(thandle_t h) { return ((tiff_mem *)h)->n; }
static int tiff_map(thandle_t h, void **base, toff_t *size) {
    tiff_mem *m = (tiff_mem *)h;
    *base = (void *)m->b;
    *size = m->n;
    return 0;
}
static void tiff_unmap(thandle_t h, void *base, toff_t size) { (void)h, (void)base, (void)size; }

static int tiff_on_error(TIFF *t, void *user, const char *module, const char *fmt, va_list ap) {
    (void)t, (void)module;
    tiff_mem *m = user;
    if (!m->msg[0]) vsnprintf(m->msg, sizeof m->msg, fmt, ap);
    return 1;
}
static int tiff_on_warning(TIFF *t, void *user, const char *module, const char *fmt, va_list ap) {
    (void)t, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

static rfs_status tiff_pixels(TIFF *tif, tiff_mem *m, rfs_frame *out, const dec_cfg *c) {
    uint32_t w = 0, h = 0;
    uint16_t photometric = 0, bpp = 8, ncn, orient = ORIENTATION_TOPLEFT;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h) ||
        !TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric))
        return RFS_FAIL(RFS_ERR_FORMAT, "TIFF: missing image size or photometric tag");
    int gray = photometric == PHOTOMETRIC_MINISWHITE || photometric == PHOTOMETRIC_MINISBLACK;
    ncn = gray ? 1 : 3;
    if (!TIFFGetField(tif, TIFFTAG_BITSPERSAMPLE, &bpp)) bpp = 1;
    TIFFGetField(tif, TIFFTAG_SAMPLESPERPIXEL, &ncn);
    if (ncn == 3 && photometric == PHOTOMETRIC_LOGLUV)
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "TIFF: LogLuv HDR images are not supported");
    if (bpp > 8 && (photometric > 2 || (ncn != 1 && ncn != 3 && ncn != 4))) bpp = 8;
    if (bpp != 1 && bpp != 8 && bpp != 16 && bpp != 32 && bpp != 64)
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "TIFF: %u bits per sample (1, 8, 16, 32 or 64 are read)", bpp);
    if (ncn < 1 || ncn > 4) return RFS_FAIL(RFS_ERR_UNSUPPORTED, "TIFF: %u samples per pixel", ncn);
    rfs_status st = check_size("TIFF", w, h, c);
    if (st) return st;
    char emsg[1024];
    if (!TIFFRGBAImageOK(tif, emsg)) return RFS_FAIL(RFS_ERR_UNSUPPORTED, "TIFF: %s", emsg);
    TIFFGetField(tif, TIFFTAG_ORIENTATION, &orient);
    const int vflip = orient == ORIENTATION_BOTRIGHT || orient == ORIENTATION_RIGHTBOT ||
                      orient == ORIENTATION_BOTLEFT || orient == ORIENTATION_LEFTBOT;
    const int tiled = TIFFIsTiled(tif) != 0;
    uint32_t tw = w, th = 0;
    if (tiled) {
        if (!TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw) || !TIFFGetField(tif, TIFFTAG_TILELENGTH, &th))
            return RFS_FAIL(RFS_ERR_FORMAT, "TIFF: tiled without a tile size");
    } else TIFFGetField(tif, TIFFTAG_ROWSPERSTRIP, &th);
    if (tw == 0) tw = w;
    if (th == 0 || (!tiled && th == UINT32_MAX)) th = h;
    if (tw > (uint32_t)INT_MAX / 4 || th > (uint32_t)INT_MAX / 4 ||
        (uint64_t)tw * th * ncn * (bpp / 8) >= ((uint64_t)1 << 30) || (uint64_t)tw * th > ((uint64_t)1 << 28))
        return RFS_FAIL(RFS_ERR_LIMIT, "TIFF: %ux%u tiles are too large", tw, th);
    if (tiled && (tw > w * 2 + 64 || th > h * 2 + 64)) /* no giant buffers for a small image */
        return RFS_FAIL(RFS_ERR_LIMIT, "TIFF: %ux%u tiles for a %ux%u image", tw, th, w, h);
    if (!tiled && th > h) th = h;
    if ((st = rfs_frame_alloc(out, (int)w, (int)h, 0, c->rgb ? RFS_PIX_RGB8 : RFS_PIX_BGR8))) return st;
    uint32_t *buf = rfs_malloc((size_t)tw * th * 4);
    if (!buf) return RFS_ERR_NOMEM;
    const int W = (int)w, H = (int)h;
    for (int y = 0; y < H; y += (int)th) {
        int rows = (int)th < H - y ? (int)th : H - y;
        int img_y = vflip ? H - y - rows : y;
        for (int x = 0; x < W; x += (int)tw) {
            int cols = (int)tw < W - x ? (int)tw : W - x;
            const uint8_t *start = (const uint8_t *)buf;
            int ok = tiled ? TIFFReadRGBATile(tif, (uint32_t)x, (uint32_t)y, buf)
                           : TIFFReadRGBAStrip(tif, (uint32_t)y, buf);
            if (!ok) {
                free(buf);
                return RFS_FAIL(RFS_ERR_FORMAT, "TIFF: %s", m->msg[0] ? m->msg : "cannot read the pixels");
            }
            if (tiled) start += (size_t)(th - (uint32_t)rows) * tw * 4; /* tiles fill from the bottom */
            for (int i = 0; i < rows; i++) {
                const uint8_t *s4 = start + (size_t)i * tw * 4; /* R, G, B, A bytes */
                uint8_t *d = out->data + (size_t)(img_y + rows - i - 1) * out->stride + 3 * (size_t)x;
                for (int k = 0; k < cols; k++, s4 += 4, d += 3) {
                    d[0] = c->rgb ? s4[0] : s4[2];
                    d[1] = s4[1];
                    d[2] = c->rgb ? s4[2] : s4[0];
                }
            }
        }
    }
    free(buf);
    if (orient < ORIENTATION_LEFTTOP || orient > ORIENTATION_LEFTBOT) return RFS_OK;
    /* Orientations 5-8 (rows and columns exchanged): libtiff's RGBA reader treats them as
     * flips only; OpenCV 4.6 then turns the image a quarter, which amounts to the
     * transpose (5, 7) or the anti-transpose (6, 8) of what was read. */
    rfs_frame t = {0};
    if ((st = rfs_frame_alloc(&t, H, W, 0, out->fmt))) return st;
    const int anti = orient == ORIENTATION_RIGHTTOP || orient == ORIENTATION_LEFTBOT;
    for (int y = 0; y < H; y++) {
        const uint8_t *srow = out->data + (size_t)y * out->stride;
        for (int x = 0; x < W; x++) {
            int ty = anti ? W - 1 - x : x, tx = anti ? H - 1 - y : y;
            memcpy(t.data + (size_t)ty * t.stride + 3 * (size_t)tx, srow + 3 * (size_t)x, 3);
        }
    }
    rfs_frame_free(out);
    *out = t;
    return RFS_OK;
}

static rfs_status decode_tiff(rfs_frame *out, const uint8_t *b, size_t n, const dec_cfg *c) {
    tiff_mem m = {.b = b, .n = n};
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) return RFS_ERR_NOMEM;
    TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_on_error, &m);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_on_warning, &m);
    /* "m": no memory mapping (the bytes are ours), read through the callbacks */
    TIFF *tif = TIFFClientOpenExt("", "rm", (thandle_t)&m, tiff_read, tiff_write, tiff_seek, tiff_close,
                                  tiff_size, tiff_map, tiff_unmap, opts);
    TIFFOpenOptionsFree(opts);
    if (!tif) return RFS_FAIL(RFS_ERR_FORMAT, "TIFF: %s", m.msg[0] ? m.msg : "malformed header");
    rfs_status st = tiff_pixels(tif, &m, out, c);
    TIFFClose(tif);
    return st;
}
#endif

/* ---- dispatch ------------------------------------------------------------------------------ */

rfs_image_format rfs_image_sniff(const uint8_t *b, size_t n) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return RFS_IMG_JPEG;
    if (n >= 8 && memcmp(b, png_sig, 8) == 0) return RFS_IMG_PNG;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return RFS_IMG_BMP;
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return RFS_IMG_WEBP;
    if (n >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4) || !memcmp(b, "II+\0", 4) ||
                   !memcmp(b, "MM\0+", 4)))
        return RFS_IMG_TIFF;
    return RFS_IMG_UNKNOWN;
}

const char *rfs_image_format_name(rfs_image_format f) {
    switch (f) {
    case RFS_IMG_JPEG: return "JPEG";
    case RFS_IMG_PNG: return "PNG";
    case RFS_IMG_BMP: return "BMP";
    case RFS_IMG_WEBP: return "WebP";
    case RFS_IMG_TIFF: return "TIFF";
    default: return "unknown";
    }
}

rfs_status rfs_image_decode(rfs_frame *out, const uint8_t *bytes, size_t n,
                            const rfs_decode_opts *o) {
    if (!out || (!bytes && n)) return RFS_FAIL(RFS_ERR_ARG, "image decode: NULL argument");
    dec_cfg c = {.rgb = o && o->rgb, .orient = !(o && o->no_auto_orient),
                 .max_pixels = o && o->max_pixels ? o->max_pixels : RFS_IMAGE_MAX_PIXELS_DEFAULT};
    switch (rfs_image_sniff(bytes, n)) {
    case RFS_IMG_JPEG: return decode_jpeg(out, bytes, n, &c);
    case RFS_IMG_PNG: return decode_png(out, bytes, n, &c);
    case RFS_IMG_BMP: return decode_bmp(out, bytes, n, &c);
#if RFS_HAVE_WEBP
    case RFS_IMG_WEBP: return decode_webp(out, bytes, n, &c);
#else
    case RFS_IMG_WEBP: return RFS_FAIL(RFS_ERR_UNSUPPORTED, "WebP images need libwebp, which this build lacks");
#endif
#if RFS_HAVE_TIFF
    case RFS_IMG_TIFF: return decode_tiff(out, bytes, n, &c);
#else
    case RFS_IMG_TIFF: return RFS_FAIL(RFS_ERR_UNSUPPORTED, "TIFF images need libtiff, which this build lacks");
#endif
    default: break;
    }
    if (n == 0) return RFS_FAIL(RFS_ERR_FORMAT, "empty image data");
    return RFS_FAIL(RFS_ERR_UNSUPPORTED,
                    "unknown image format (first bytes %02x %02x %02x %02x; JPEG, PNG and BMP are supported)",
                    bytes[0], n > 1 ? bytes[1] : 0, n > 2 ? bytes[2] : 0, n > 3 ? bytes[3] : 0);
}

#define RFS_IMAGE_MAX_FILE ((long)1 << 30)

rfs_status rfs_image_load(rfs_frame *out, const char *path, const rfs_decode_opts *o) {
    FILE *f;
    struct stat sb;
    rfs_status st = rfs_file_open_read(&f, path, &sb);
    if (st) return st;
    uint8_t *buf = NULL;
    if (sb.st_size > RFS_IMAGE_MAX_FILE) {
        st = RFS_FAIL(RFS_ERR_LIMIT, "%s: %lld bytes (limit %ld)", path, (long long)sb.st_size,
                      RFS_IMAGE_MAX_FILE);
        goto out;
    }
    long n = (long)sb.st_size;
    buf = rfs_malloc(n ? (size_t)n : 1);
    if (!buf) {
        st = RFS_ERR_NOMEM;
        goto out;
    }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        st = RFS_FAIL(RFS_ERR_IO, "%s: read error", path);
        goto out;
    }
    st = rfs_image_decode(out, buf, (size_t)n, o);
    if (st) rfs_fail_context(st, "%s", path);
out:
    free(buf);
    fclose(f);
    return st;
}

/* ---- PNG writer ---------------------------------------------------------------------------- */

static rfs_status png_write_body(png_structp p, png_infop info, FILE *f, const rfs_frame *fr) {
    png_init_io(p, f);
    png_set_compression_level(p, 1);
    png_set_IHDR(p, info, (png_uint_32)fr->w, (png_uint_32)fr->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    if (fr->fmt == RFS_PIX_BGR8) png_set_bgr(p);
    for (int y = 0; y < fr->h; y++) png_write_row(p, fr->data + (size_t)y * fr->stride);
    png_write_end(p, NULL);
    return RFS_OK;
}

rfs_status rfs_image_write_png(const char *path, const rfs_frame *fr) {
    if (!fr || !fr->data || fr->w <= 0 || fr->h <= 0)
        return RFS_FAIL(RFS_ERR_ARG, "%s: empty frame", path);
    rfs_outfile o;
    rfs_status st = rfs_outfile_open(&o, path, 1);
    if (st) return st;
    png_ctx x = {0};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, &x, png_on_error, png_on_warning);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!info) {
        st = RFS_FAIL(RFS_ERR_NOMEM, "%s: cannot create PNG encoder", path);
    } else if (setjmp(png_jmpbuf(p)) == 0) {
        st = png_write_body(p, info, o.f, fr);
    } else { /* libpng's writer calls png_error on a short fwrite */
        st = RFS_FAIL(RFS_ERR_IO, "%s: PNG write failed: %s%s%s", path, x.msg,
                      ferror(o.f) && errno ? ": " : "", ferror(o.f) && errno ? strerror(errno) : "");
    }
    png_destroy_write_struct(&p, &info);
    if (st) {
        rfs_outfile_abort(&o);
        return st;
    }
    return rfs_outfile_commit(&o);
}

/* ---- JPEG writer ----------------------------------------------------------------------------- */

typedef struct jpeg_wctx {
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr em;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    FILE *f;
    const rfs_frame *fr;
    int quality;
    uint8_t *row; /* a one-row RGB buffer for BGR frames when libjpeg lacks JCS_EXT_BGR */
} jpeg_wctx;

static void jpeg_w_bail(j_common_ptr c) {
    jpeg_wctx *j = (jpeg_wctx *)c->client_data;
    (*c->err->format_message)(c, j->msg);
    longjmp(j->jb, 1);
}

static void jpeg_write_body(jpeg_wctx *j) {
    const rfs_frame *fr = j->fr;
    uint8_t *row = j->row;
    jpeg_stdio_dest(&j->ci, j->f);
    j->ci.image_width = (JDIMENSION)fr->w;
    j->ci.image_height = (JDIMENSION)fr->h;
    j->ci.input_components = 3;
#ifdef JCS_EXTENSIONS
    j->ci.in_color_space = fr->fmt == RFS_PIX_BGR8 ? JCS_EXT_BGR : JCS_RGB;
    row = NULL;
#else
    j->ci.in_color_space = JCS_RGB;
    if (fr->fmt != RFS_PIX_BGR8) row = NULL;
#endif
    jpeg_set_defaults(&j->ci);
    jpeg_set_quality(&j->ci, j->quality, TRUE);
    jpeg_start_compress(&j->ci, TRUE);
    while (j->ci.next_scanline < j->ci.image_height) {
        const uint8_t *src = fr->data + (size_t)j->ci.next_scanline * fr->stride;
        JSAMPROW r = (JSAMPROW)src;
        if (row) {
            for (int x = 0; x < fr->w; x++)
                row[3 * x] = src[3 * x + 2], row[3 * x + 1] = src[3 * x + 1], row[3 * x + 2] = src[3 * x];
            r = row;
        }
        jpeg_write_scanlines(&j->ci, &r, 1);
    }
    jpeg_finish_compress(&j->ci);
}

/* 0, or -1 with j->msg set. */
static int jpeg_write_guarded(jpeg_wctx *j) {
    j->ci.err = jpeg_std_error(&j->em);
    j->em.error_exit = jpeg_w_bail;
    j->em.output_message = jpeg_silent;
    j->ci.client_data = j;
    int r = 0;
    if (setjmp(j->jb) == 0) {
        jpeg_create_compress(&j->ci);
        jpeg_write_body(j);
    } else {
        r = -1;
    }
    jpeg_destroy_compress(&j->ci);
    return r;
}

rfs_status rfs_image_write_jpeg(const char *path, const rfs_frame *fr, int quality) {
    if (!fr || !fr->data || fr->w <= 0 || fr->h <= 0)
        return RFS_FAIL(RFS_ERR_ARG, "%s: empty frame", path);
    if (fr->w > 65500 || fr->h > 65500)
        return RFS_FAIL(RFS_ERR_LIMIT, "%s: %dx%d is larger than JPEG allows (65500)", path, fr->w, fr->h);
    jpeg_wctx *j = rfs_calloc(1, sizeof *j);
    uint8_t *row = rfs_malloc((size_t)fr->w * 3);
    if (!j || !row) {
        free(j), free(row);
        return RFS_ERR_NOMEM;
    }
    rfs_outfile o;
    rfs_status st = rfs_outfile_open(&o, path, 1);
    if (st) {
        free(j), free(row);
        return st;
    }
    j->f = o.f, j->fr = fr, j->row = row;
    j->quality = quality <= 0 || quality > 100 ? 95 : quality;
    if (jpeg_write_guarded(j)) {
        st = RFS_FAIL(RFS_ERR_IO, "%s: JPEG write failed: %s", path, j->msg);
        rfs_outfile_abort(&o);
    } else {
        st = rfs_outfile_commit(&o); /* flush + close checked, then rename */
    }
    free(j), free(row);
    return st;
}
