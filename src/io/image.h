/* image.h - still images in and out. The frame type, the decoders and the PNG writer
 * are public (rfseg.h, "frames and images"); this header is kept for the library's own
 * includes.
 *
 * Decoding matches cv2.imdecode(buf, cv2.IMREAD_COLOR) on Debian's OpenCV 4.6 (same
 * libjpeg-turbo and libpng underneath), pixel for pixel, EXIF orientation included:
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
 *   - WebP (libwebp, optional): OpenCV's WebPDecoder: features from the first 32 bytes,
 *     BGR decoded directly, or BGRA with the alpha dropped; animated files refused.
 *   - TIFF (libtiff, optional): OpenCV's TiffDecoder for 8-bit colour output: libtiff's
 *     RGBA reader strip by strip or tile by tile, OpenCV's row placement and its turn of
 *     orientations 5-8; the first directory.
 */
#ifndef RFS_IO_IMAGE_H
#define RFS_IO_IMAGE_H

#include "rfseg.h"

#endif
