/* video.h - video files in (frames as cv2.VideoCapture gives them) and out.
 *
 * Reading (FFmpeg: libavformat/libavcodec/libswscale). Frames are BGR8 and equal, bit for
 * bit, to what cv2.VideoCapture(path).read() returns on Debian's OpenCV 4.6 with the same
 * FFmpeg libraries, because the conversion is set up the way OpenCV's FFmpeg backend sets
 * it up (cap_ffmpeg_impl.hpp): the first video stream, its default decoder with
 * min(CPUs, 16) threads, sws_getCachedContext(coded_width x coded_height -> BGR24,
 * SWS_BICUBIC) writing into a buffer laid out like av_frame_get_buffer(frame, 32) (the
 * width and stride decide which pixels swscale's SIMD converter writes), then the
 * stream's display-matrix rotation (90/180/270) applied as cv2.rotate does. Frames go
 * straight into the caller's rfs_frame, whose buffer is reused: after the first frame no
 * read allocates. The frame's stride can exceed 3 * width.
 *
 * Where cv2 stops at the first packet the decoder rejects, rfs_video_read reports that
 * frame as an RFS_ERR_FORMAT and the next call goes on with the next packet.
 *
 * Without FFmpeg (RFS_HAVE_FFMPEG unset, e.g. the GPU machine) only YUV4MPEG2 (.y4m)
 * files can be opened (y4m.h, same pixels for 4:2:0); other files give
 * RFS_ERR_UNSUPPORTED.
 *
 *     rfs_video *v;
 *     if (rfs_video_open(&v, "in.mp4", NULL)) { puts(rfs_last_error()); return; }
 *     rfs_frame f = {0};
 *     for (;;) {
 *         int done;
 *         rfs_status st = rfs_video_read(v, &f, &done);
 *         if (done) break;
 *         if (st) { report(rfs_video_frame_index(v), rfs_last_error()); continue; }
 *         ... f ...
 *     }
 *     rfs_frame_free(&f);
 *     rfs_video_close(v);
 *
 * Writing: rfs_video_writer_* makes an MP4 (H.264 through libx264, else MPEG-4 part 2;
 * yuv420p) with FFmpeg, or a .y4m file (4:2:0, no FFmpeg needed) when the path ends in
 * ".y4m".
 */
#ifndef RFS_IO_VIDEO_H
#define RFS_IO_VIDEO_H

#include "io/image.h"
#include "rfseg.h"
#include <stdint.h>

typedef struct rfs_video rfs_video;

/* Zero-initialised options are the defaults. */
typedef struct rfs_video_opts {
    int threads;         /* decoder threads; 0: min(CPUs, 16) as OpenCV */
    int no_auto_rotate;  /* 1: ignore the rotation metadata (cv2 CAP_PROP_ORIENTATION_AUTO 0) */
    int rgb;             /* 1: RGB8 frames instead of BGR8 */
    uint64_t max_pixels; /* frame size limit; 0: RFS_IMAGE_MAX_PIXELS_DEFAULT */
    int allow_stream;    /* 1: path may be anything FFmpeg opens (URL, pipe:, FIFO, device such
                          * as a webcam); 0: only an existing regular file, checked before it
                          * is opened, and FFmpeg opens nothing else on its behalf (playlists,
                          * concat lists and files with external references fail to open) */
} rfs_video_opts;

/* Opens a video file and its first video stream; o may be NULL. Without o->allow_stream,
 * a path that is not a regular file (FIFO, device, directory) is refused at once. */
rfs_status rfs_video_open(rfs_video **out, const char *path, const rfs_video_opts *o);

/* Decodes the next frame into frame (its buffer is reused when big enough).
 * *done = 1 at the end of the stream (status RFS_OK, frame untouched). A frame that
 * cannot be decoded returns an error with *done = 0; call again for the next frame. */
rfs_status rfs_video_read(rfs_video *v, rfs_frame *frame, int *done);

int rfs_video_width(const rfs_video *v);   /* frame size after rotation */
int rfs_video_height(const rfs_video *v);
double rfs_video_fps(const rfs_video *v);  /* cv2 CAP_PROP_FPS */
/* cv2 CAP_PROP_FRAME_COUNT: the container's count, else round(duration * fps); may differ
 * from the number of frames actually decoded. */
int64_t rfs_video_frame_count(const rfs_video *v);
int rfs_video_rotation(const rfs_video *v); /* 0, 90, 180, 270 (clockwise, as applied) */
/* The number of the frame the last rfs_video_read returned or failed on, plus one (0
 * before the first read; at the end, the number of frames the video spans). Frames are
 * numbered in the container's order as cv2 counts them while the stream is sound; after a
 * decode error or damaged data the next frame is numbered from its timestamp, so frames
 * lost to damage leave a gap and every later frame keeps its own number. Numbers of
 * returned frames only increase; an error for a packet the decoder rejected carries that
 * packet's frame number, which may be lower than the frame before it (decoders reorder). */
int64_t rfs_video_frame_index(const rfs_video *v);
void rfs_video_close(rfs_video *v); /* accepts NULL */

typedef struct rfs_video_writer rfs_video_writer;

/* Creates path (MP4 through FFmpeg, or Y4M for *.y4m) for width x height frames at fps.
 * Odd sizes are encoded with the last column/row dropped in MP4 (4:2:0 needs even). */
rfs_status rfs_video_writer_open(rfs_video_writer **out, const char *path, int width, int height,
                                 double fps);
/* Appends one BGR8 or RGB8 frame of the size given at open. */
rfs_status rfs_video_writer_write(rfs_video_writer *w, const rfs_frame *frame);
/* Flushes the encoder, finishes the file and frees w (also on error). */
rfs_status rfs_video_writer_close(rfs_video_writer *w);

#endif
