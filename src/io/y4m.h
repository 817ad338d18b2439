/* y4m.h - YUV4MPEG2 (.y4m) video files, read and written without FFmpeg.
 *
 * Reader: 8-bit planar C420jpeg / C420paldv / C420mpeg2 / C420 (no C tag means 420jpeg),
 * C422, C444 and Cmono; interlacing and aspect tags are accepted and ignored.
 *
 * Conversion to BGR8 (rfs_yuv_to_bgr_rows): the arithmetic of FFmpeg's x86 SIMD
 * yuv420p/yuv422p -> bgr24 converter (libswscale/x86/yuv_2_rgb.asm with the coefficients
 * of ff_yuv2rgb_c_init_tables: BT.601, limited range, brightness 0, contrast and
 * saturation 1), which is what cv2.VideoCapture and `ffmpeg -pix_fmt bgr24` compute for
 * these files (both leave the y4m colour tags aside). Per pixel, with Y, U, V bytes and
 * 16-bit wrapping/saturating steps as the SIMD code:
 *
 *     y = pmulhw((Y << 3) - 128, 9539)            pmulhw(a, b) = (a * b) >> 16 (floor)
 *     u = (U << 3) - 1024,  v = (V << 3) - 1024
 *     B = clip(y + pmulhw(u, 16525))
 *     G = clip(y + pmulhw(u, -3209) + pmulhw(v, -6660))
 *     R = clip(y + pmulhw(v, 13075))
 *
 * Chroma is taken from the sample covering the pixel (no interpolation): U[y >> 1][x >> 1]
 * for 4:2:0. Cmono gives B = G = R = Y (swscale treats gray as full-range levels). This is
 * bit-exact to cv2 for 4:2:0 and 4:2:2 with an even height (swscale's unscaled fast path)
 * and for mono. For 4:4:4 and odd heights swscale takes its general scaling path, which
 * filters chroma (bicubic); there rfseg's frames differ from cv2's (4:4:4 by at most 3
 * levels; odd heights more), so prefer even-height 4:2:0 files where exactness matters.
 *
 * Writer: BGR8/RGB8 frames to C444 or C420jpeg (BT.601 limited range, 8-bit fixed point,
 * 4:2:0 chroma as the average of each 2x2 block), for annotated output where FFmpeg is
 * missing.
 */
#ifndef RFS_IO_Y4M_H
#define RFS_IO_Y4M_H

#include "io/image.h"
#include "rfseg.h"
#include <stddef.h>
#include <stdint.h>

/* 1 when the bytes start like a YUV4MPEG2 stream. */
int rfs_y4m_sniff(const uint8_t *b, size_t n);

typedef struct rfs_y4m_reader rfs_y4m_reader;

/* Opens path and parses the stream header; max_pixels 0 means the image default. Only a
 * regular file: a FIFO or device is refused before it is read. */
rfs_status rfs_y4m_open(rfs_y4m_reader **out, const char *path, int rgb, uint64_t max_pixels);
/* The same for any readable path, FIFOs and devices included (read sequentially). */
rfs_status rfs_y4m_open_stream(rfs_y4m_reader **out, const char *path, int rgb, uint64_t max_pixels);
/* Next frame into frame (buffer reused); *done = 1 at a clean end of file. A truncated or
 * malformed frame is an RFS_ERR_FORMAT; the stream ends after it. */
rfs_status rfs_y4m_read(rfs_y4m_reader *r, rfs_frame *frame, int *done);
int rfs_y4m_width(const rfs_y4m_reader *r);
int rfs_y4m_height(const rfs_y4m_reader *r);
double rfs_y4m_fps(const rfs_y4m_reader *r); /* F tag; 0 when absent */
/* Estimated frame count from the file size (exact for files without frame parameters),
 * or -1 when the file size is unknown (a pipe). */
int64_t rfs_y4m_frame_count(const rfs_y4m_reader *r);
void rfs_y4m_close(rfs_y4m_reader *r);

/* Converts planar 8-bit YUV to packed BGR8 (or RGB8 when rgb) with the arithmetic above.
 * cx, cy: chroma subsampling shifts (1,1 for 4:2:0; 1,0 for 4:2:2; 0,0 for 4:4:4);
 * u, v NULL means gray (mono). */
void rfs_yuv_to_bgr(uint8_t *dst, int dst_stride, int w, int h, const uint8_t *y, int ys,
                    const uint8_t *u, const uint8_t *v, int cs, int cx, int cy, int rgb);

typedef struct rfs_y4m_writer rfs_y4m_writer;

/* chroma: 420 or 444. fps is written as a rational (e.g. 30000:1001). */
rfs_status rfs_y4m_writer_open(rfs_y4m_writer **out, const char *path, int w, int h, double fps,
                               int chroma);
rfs_status rfs_y4m_write(rfs_y4m_writer *wr, const rfs_frame *f);
/* Finishes the file and frees wr (also on error). The file is written under a temporary
 * name beside path and renamed to path here, when every write, the flush and the close
 * succeeded; otherwise the temporary file is removed and path is left as it was. */
rfs_status rfs_y4m_writer_close(rfs_y4m_writer *wr);

#endif
