/* image.h - still images in and out, and the frame type every input module fills.
 *
 * Decoding gives exactly what Roboflow's `load_image_bgr` gives, i.e.
 * cv2.imdecode(buf, cv2.IMREAD_COLOR) on Debian's OpenCV 4.6 (same libjpeg-turbo and
 * libpng underneath), pixel for pixel, EXIF orientation included:
 *
 *   - JPEG (libjpeg API): the decoder defaults OpenCV keeps (islow DCT, fancy upsampling),
 *     gray JPEGs replicated to 3 channels, CMYK/YCCK converted with OpenCV's formula,
 *     the EXIF Orientation tag read the way OpenCV's ExifReader reads it (the first APP1
 *     segment only, no check of its "Exif" header, the first Orientation entry, parsing
 *     stops at the first malformed entry).
 *   - PNG (libpng): OpenCV's transform set: 16-bit -> 8-bit by dropping the low byte,
 *     palette -> RGB, gray -> RGB, alpha and tRNS dropped (no compositing), interlace;
 *     EXIF from an eXIf chunk before IDAT, else from one after it.
 *   - BMP (own parser, OpenCV's rules): 1/4/8-bit palette, 16-bit 555/565, 24, 32-bit
 *     (alpha dropped), bottom-up and top-down, BITMAPINFOHEADER and OS/2 headers. RLE4/RLE8
 *     compressed BMPs are RFS_ERR_UNSUPPORTED.
 *
 * Formats are recognised by their magic bytes, never by the file name.
 *
 * Hostile input: sizes are checked from the header before anything is allocated
 * (RFS_ERR_LIMIT above rfs_decode_opts.max_pixels, RFS_ERR_FORMAT for zero sizes); corrupt
 * or truncated data is RFS_ERR_FORMAT with a message naming the problem. Where cv2 returns
 * a partially decoded image for a truncated or corrupt JPEG (it only prints a libjpeg
 * warning), rfseg reports an error: a damaged frame must not silently become detections.
 *
 *     rfs_frame f = {0};
 *     if (rfs_image_load(&f, "photo.jpg", NULL) != RFS_OK) puts(rfs_last_error());
 *     ... f.data, f.w, f.h, f.stride (BGR8) ...
 *     rfs_frame_free(&f);
 */
#ifndef RFS_IO_IMAGE_H
#define RFS_IO_IMAGE_H

#include "rfseg.h"
#include <stddef.h>
#include <stdint.h>

/* ---- frames ---------------------------------------------------------------------------- */

/* A packed 8-bit 3-channel image. A frame either owns its buffer (cap > 0, released by
 * rfs_frame_free) or wraps caller memory (cap == 0, never freed here). A zeroed frame is an
 * empty frame; decoders and video readers reuse the buffer of the frame they are given when
 * it is big enough, so one frame passed again and again allocates once. */
typedef struct rfs_frame {
    int w, h;
    int stride;     /* bytes from one row to the next, >= 3 * w */
    rfs_pixfmt fmt; /* RFS_PIX_BGR8 (decoders' default, as OpenCV) or RFS_PIX_RGB8 */
    uint8_t *data;  /* row 0 */
    size_t cap;     /* bytes owned at data; 0 when the memory is the caller's */
} rfs_frame;

/* Makes f a w x h frame with the given stride (0: 3 * w), reusing its buffer when it owns
 * one of at least stride * h bytes (64-byte aligned). Pixels are left undefined. A frame
 * that wraps caller memory gets a buffer of its own. */
rfs_status rfs_frame_alloc(rfs_frame *f, int w, int h, int stride, rfs_pixfmt fmt);
/* Points f at caller-owned pixels (not copied, never freed by rfseg). */
void rfs_frame_wrap(rfs_frame *f, uint8_t *data, int w, int h, int stride, rfs_pixfmt fmt);
/* Releases an owned buffer and zeroes f; accepts NULL and wrapped frames. */
void rfs_frame_free(rfs_frame *f);
/* Swaps the first and third channel of every pixel in place (BGR <-> RGB) and flips fmt. */
void rfs_frame_swap_rb(rfs_frame *f);
/* The frame as the public API's image view (no copy). */
rfs_image rfs_frame_image(const rfs_frame *f);

/* ---- decoding ---------------------------------------------------------------------------- */

#define RFS_IMAGE_MAX_PIXELS_DEFAULT ((uint64_t)100000000) /* 100 MP */

typedef enum rfs_image_format {
    RFS_IMG_UNKNOWN = 0,
    RFS_IMG_JPEG,
    RFS_IMG_PNG,
    RFS_IMG_BMP,
} rfs_image_format;

/* Zero-initialised options are the defaults (BGR8, EXIF orientation applied, 100 MP). */
typedef struct rfs_decode_opts {
    int rgb;                 /* 1: RGB8 output instead of BGR8 */
    int no_auto_orient;      /* 1: ignore EXIF orientation (Roboflow's
                              * disable_preproc_auto_orient, cv2.IMREAD_IGNORE_ORIENTATION) */
    uint64_t max_pixels;     /* width * height limit checked on the header; 0: default */
} rfs_decode_opts;

/* The format named by the first bytes (JPEG FF D8 FF, PNG signature, BMP "BM"). */
rfs_image_format rfs_image_sniff(const uint8_t *bytes, size_t n);
const char *rfs_image_format_name(rfs_image_format f);

/* Decodes an encoded image into out (see rfs_frame for buffer reuse); o may be NULL.
 * On failure out keeps a valid (possibly reallocated) buffer but undefined pixels. */
rfs_status rfs_image_decode(rfs_frame *out, const uint8_t *bytes, size_t n,
                            const rfs_decode_opts *o);
/* Reads a whole file (at most 1 GiB) and decodes it; errors are prefixed with the path.
 * Anything but a regular file (FIFO, device, directory) is refused before it is read. */
rfs_status rfs_image_load(rfs_frame *out, const char *path, const rfs_decode_opts *o);

/* ---- encoding ---------------------------------------------------------------------------- */

/* Writes an 8-bit RGB PNG (zlib level 1, as cv2.imwrite's default) from a BGR8 or RGB8
 * frame. The file is written under a temporary name in path's directory and renamed to
 * path only when complete; on failure path is left as it was (never truncated or removed),
 * and a path that exists as something other than a regular file is refused. */
rfs_status rfs_image_write_png(const char *path, const rfs_frame *f);

#endif
