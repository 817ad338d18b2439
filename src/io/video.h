/* video.h - video files in (frames as cv2.VideoCapture gives them) and out. The reader and
 * the writer are public (rfseg.h, "video"); this header is kept for the library's own
 * includes.
 *
 * Reading (FFmpeg: libavformat/libavcodec/libswscale). Frames are BGR8 and equal, bit for
 * bit, to what cv2.VideoCapture(path).read() returns on Debian's OpenCV 4.6 with the same
 * FFmpeg libraries, because the conversion is set up the way OpenCV's FFmpeg backend sets
 * it up: the first video stream, its default decoder with min(CPUs, 16) threads,
 * sws_getCachedContext(coded_width x coded_height -> BGR24, SWS_BICUBIC) writing into a
 * buffer laid out like av_frame_get_buffer(frame, 32) (the width and stride decide which
 * pixels swscale's SIMD converter writes), then the stream's display-matrix rotation
 * (90/180/270) applied as cv2.rotate does. After the first frame no read allocates; the
 * frame's stride can exceed 3 * width. Where cv2 stops at the first packet the decoder
 * rejects, rfs_video_read reports that frame as an RFS_ERR_FORMAT and the next call goes
 * on with the next packet.
 *
 * Writing: an MP4 (H.264 through libx264, else MPEG-4 part 2; yuv420p) with FFmpeg, or a
 * .y4m file (4:2:0, no FFmpeg needed) when the path ends in ".y4m".
 */
#ifndef RFS_IO_VIDEO_H
#define RFS_IO_VIDEO_H

#include "rfseg.h"

#endif
