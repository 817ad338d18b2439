/* probe.h - the pixel size of an encoded image, read from its header, before decoding.
 *
 * rfseg serve charges every image's decoded size against its memory budget before a
 * single pixel is allocated; this reads that size the way the decoders do (JPEG: the
 * first SOFn frame header; PNG: IHDR; BMP: the info header, negative heights meaning
 * top-down). EXIF orientation swaps width and height but not their product. The decoder
 * is then run with exactly the probed pixel count as its limit, so an image whose pixels
 * turn out larger than its probed header is refused, never decoded past the charge.
 */
#ifndef RFS_SERVE_PROBE_H
#define RFS_SERVE_PROBE_H

#include <stddef.h>
#include <stdint.h>

/* 1 with *w, *h set when the header of a JPEG, PNG or BMP could be read (sizes may be 0
 * in a malformed header); 0 otherwise (unknown format, truncated header). */
int rfs_serve_image_dims(const uint8_t *b, size_t n, uint32_t *w, uint32_t *h);

#endif
