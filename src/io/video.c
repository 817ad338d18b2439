/* video.c - video reading as cv2.VideoCapture does it (FFmpeg), y4m fallback, writers.
 *
 * The FFmpeg reader mirrors OpenCV 4.6's cap_ffmpeg_impl.hpp step for step where pixels or
 * frame order depend on it (see video.h); everything else (error handling, logging) is
 * rfseg's own. All FFmpeg code is under RFS_HAVE_FFMPEG; without it only y4m files open.
 */
#include "io/video.h"
#include "io/fileio.h"
#include "io/y4m.h"
#include "util/err.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#if RFS_HAVE_FFMPEG
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <pthread.h>
#if RFS_HAVE_AVDEVICE
#include <libavdevice/avdevice.h>
#endif
#endif
#include <ctype.h>
#include <sys/stat.h>

struct rfs_video {
    int rgb;
    int width, height; /* as delivered (after rotation) */
    int rotation;      /* clockwise degrees applied to every frame */
    double fps;
    int64_t frame_count;
    int64_t index;       /* 1 + the number of the frame the last read returned or failed on */
    uint64_t max_pixels;
    rfs_y4m_reader *y4m; /* set: the FFmpeg-less y4m path */
    rfs_frame unrotated; /* conversion target when rotation != 0 */
#if RFS_HAVE_FFMPEG
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVFrame *pic;
    AVPacket *pkt;
    struct SwsContext *sws;
    int stream;
    int64_t nb_frames, grabbed; /* OpenCV stops once grabbed > nb_frames */
    int flushing, ended;
    int read_error;         /* the demuxer's error, reported once at the end */
    int64_t packets;        /* video packets read */
    int pending;            /* v->pkt was refused (EAGAIN) and must be sent again */
    int damaged;            /* a packet came back short (AV_PKT_FLAG_CORRUPT) */
    int is_y4m;             /* the yuv4mpegpipe demuxer: a cut last frame is detected */
    int cut;                /* the demuxer's last read consumed bytes and returned EOF */
    /* Frame numbering (see ff_number): next_id is the number the next frame gets while
     * nothing went wrong; from the first trouble on (a rejected packet, damaged data)
     * frames are numbered from their timestamps, shifted by delta (number - timestamp
     * frame) of the last clean frame, so frames lost to damage leave a gap instead of
     * shifting every later number. */
    int64_t next_id, delta, ts0;
    int trouble, ts_ok;
    int64_t err_ts;         /* timestamp of the packet the decoder rejected */
    int opened;             /* the one file a file input may open is open */
    int refused;            /* FFmpeg tried to open another file and was refused */
    int (*io_open_default)(AVFormatContext *, AVIOContext **, const char *, int, AVDictionary **);
#endif
};

int rfs_video_width(const rfs_video *v) { return v->width; }
int rfs_video_height(const rfs_video *v) { return v->height; }
double rfs_video_fps(const rfs_video *v) { return v->fps; }
int64_t rfs_video_frame_count(const rfs_video *v) { return v->frame_count; }
int rfs_video_rotation(const rfs_video *v) { return v->rotation; }
int64_t rfs_video_frame_index(const rfs_video *v) { return v->index; }

#if RFS_HAVE_FFMPEG

/* ---- FFmpeg reader -------------------------------------------------------------------------- */

/* dst = src rotated clockwise by deg (90, 180, 270), as cv2.rotate. dst is allocated. */
static rfs_status rotate_into(rfs_frame *dst, const rfs_frame *src, int deg) {
    int w = src->w, h = src->h;
    rfs_status st = rfs_frame_alloc(dst, deg == 180 ? w : h, deg == 180 ? h : w, 0, src->fmt);
    if (st) return st;
    for (int y = 0; y < h; y++) {
        const uint8_t *s = src->data + (size_t)y * src->stride;
        for (int x = 0; x < w; x++, s += 3) {
            int dx, dy;
            if (deg == 90) dx = h - 1 - y, dy = x;
            else if (deg == 180) dx = w - 1 - x, dy = h - 1 - y;
            else dx = y, dy = w - 1 - x;
            memcpy(dst->data + (size_t)dy * dst->stride + 3 * (size_t)dx, s, 3);
        }
    }
    return RFS_OK;
}


/* FFmpeg's messages go to the library's log callback instead of stderr. */
static void ff_log(void *avcl, int level, const char *fmt, va_list vl) {
    if (level > AV_LOG_WARNING) return;
    static _Thread_local int prefix = 1;
    char line[1024];
    av_log_format_line(avcl, level, fmt, vl, line, sizeof line, &prefix);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n') line[--n] = 0;
    if (n) rfs_log(level <= AV_LOG_ERROR ? RFS_LOG_WARN : RFS_LOG_DEBUG, "ffmpeg: %s", line);
}

static pthread_once_t ff_once = PTHREAD_ONCE_INIT;
static void ff_init(void) {
    av_log_set_callback(ff_log);
    avformat_network_init();
#if RFS_HAVE_AVDEVICE
    avdevice_register_all();
#endif
}

static const char *ff_err(int e, char *buf, size_t n) {
    av_strerror(e, buf, n);
    return buf;
}

/* Row stride av_frame_get_buffer(frame, 32) picks for a BGR24 frame of width w: the
 * smallest power-of-two width alignment whose 3-byte rows are a multiple of 32 bytes.
 * OpenCV converts into such a frame, and swscale's SIMD converter decides from the stride
 * how many pixels of a row it writes, so the same stride gives the same pixels. */
static int bgr_stride_like_ffmpeg(int w) {
    for (int a = 1; a <= 32; a += a) {
        int ls = 3 * ((w + a - 1) & ~(a - 1));
        if (ls % 32 == 0) return ls;
    }
    return 3 * ((w + 31) & ~31);
}

static double r2d(AVRational r) { return r.num == 0 || r.den == 0 ? 0.0 : (double)r.num / r.den; }

/* A timestamp of the video stream as a frame number (OpenCV's dts_to_frame_number:
 * round((ts - start) * time_base * fps)); -1 when unknown. */
static int64_t ts_frame(const rfs_video *v, int64_t ts) {
    if (ts == AV_NOPTS_VALUE || v->fps <= 0) return -1;
    double n = (double)(ts - v->ts0) * r2d(v->fmt->streams[v->stream]->time_base) * v->fps;
    if (!(n > -0.5 && n < 1e15)) return -1;
    return (int64_t)floor(n + 0.5);
}

/* The number of a frame the decoder delivered (see struct rfs_video): sequential, as cv2
 * counts, until the first trouble; from then on its timestamp's frame number (shifted by
 * delta), never below the next sequential number, so numbers only increase. Trouble
 * stays: a decoder delivers frames queued before the damage (reordering) after it, and
 * only timestamps place those and the ones after a gap. */
static int64_t ff_number(rfs_video *v, int64_t ts) {
    int64_t n = ts_frame(v, ts), id = v->next_id;
    v->ts_ok = n >= 0;
    if (n >= 0 && v->trouble && n + v->delta > id) id = n + v->delta;
    if (n >= 0 && !v->trouble) v->delta = id - n;
    v->next_id = id + 1;
    return id;
}

/* The number an error is reported under: the rejected packet's frame when its timestamp
 * is known (errors may then come out of order with the frames around them: decoders
 * reorder), else the next number, which the error then uses up when the stream has no
 * usable timestamps. */
static int64_t ff_error_number(rfs_video *v, int64_t ts) {
    v->trouble = 1;
    int64_t n = ts_frame(v, ts);
    if (n >= 0) return n + v->delta > 0 ? n + v->delta : 0;
    return v->ts_ok ? v->next_id : v->next_id++;
}

/* "file:PATH" for FFmpeg, so a name with a colon is never taken for a protocol (malloc'd,
 * NULL when out of memory). */
static char *file_url(const char *path) {
    size_t n = strlen(path) + 6;
    char *url = malloc(n);
    if (url) snprintf(url, n, "file:%s", path);
    return url;
}

/* A file input is read alone: FFmpeg opens the file itself and nothing else. Formats that
 * would pull in other files (playlists, concat lists, external references, which could
 * name a FIFO or a device) fail to open them. */
static int io_open_once(AVFormatContext *s, AVIOContext **pb, const char *url, int flags, AVDictionary **opts) {
    rfs_video *v = s->opaque;
    if (v->opened) {
        v->refused = 1;
        return AVERROR(EPERM);
    }
    v->opened = 1;
    return v->io_open_default(s, pb, url, flags, opts);
}

/* Opens the demuxer for a source string: standard input, a camera through libavdevice's
 * V4L2 input, a network URL with a read timeout, or a file; interruptible. */
static int ff_open_input(rfs_video *v, const char *path, rfs_video_source_kind kind,
                         const rfs_video_opts *o) {
    const AVInputFormat *ifmt = NULL;
    AVDictionary *dict = NULL;
    char dev[64];
    if (kind == RFS_VIDEO_STDIN) path = "pipe:0";
    if (kind == RFS_VIDEO_CAMERA) {
#if RFS_HAVE_AVDEVICE
        if (isdigit((unsigned char)path[0])) {
            snprintf(dev, sizeof dev, "/dev/video%s", path);
            path = dev;
        }
        ifmt = av_find_input_format("video4linux2");
        if (!ifmt) return AVERROR_DEMUXER_NOT_FOUND;
#else
        (void)dev;
        return AVERROR(ENOSYS);
#endif
    }
    if (kind == RFS_VIDEO_NETWORK) {
        int ms = o && o->timeout_ms ? o->timeout_ms : 10000;
        if (ms > 0) av_dict_set_int(&dict, "rw_timeout", (int64_t)ms * 1000, 0);
    }
    /* A file, not a stream: FFmpeg gets "file:PATH" (a name with a colon is never taken
     * for a protocol), may open local files only, and only this one (io_open_once). */
    char *url = NULL;
    if (kind == RFS_VIDEO_FILE) {
        if (!(url = file_url(path))) return AVERROR(ENOMEM);
        path = url;
        av_dict_set(&dict, "protocol_whitelist", "file", 0);
    }
    if (!(v->fmt = avformat_alloc_context())) {
        av_dict_free(&dict);
        free(url);
        return AVERROR(ENOMEM);
    }
    if (kind == RFS_VIDEO_FILE) {
        v->fmt->opaque = v;
        v->io_open_default = v->fmt->io_open;
        v->fmt->io_open = io_open_once;
    }
    if (o && o->interrupt) {
        v->fmt->interrupt_callback.callback = o->interrupt;
        v->fmt->interrupt_callback.opaque = o->interrupt_user;
    }
    int err = avformat_open_input(&v->fmt, path, ifmt, &dict); /* frees fmt on failure */
    av_dict_free(&dict);
    free(url);
    return err;
}

static rfs_status ff_open(rfs_video *v, const char *path, rfs_video_source_kind kind,
                          const rfs_video_opts *o) {
    char eb[128];
    pthread_once(&ff_once, ff_init);
    int err = ff_open_input(v, path, kind, o);
    if (err == AVERROR(ENOSYS))
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: cameras need libavdevice, which this build lacks", path);
    if (err == AVERROR_EXIT) return RFS_FAIL(RFS_ERR_IO, "%s: interrupted", path);
    if (err < 0 && v->refused)
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: cannot open video: it refers to other files (a playlist or "
                        "list of files), and a video file is read alone", path);
    if (err < 0)
        return RFS_FAIL(err == AVERROR(ENOENT) || err == AVERROR(EACCES) ? RFS_ERR_IO : RFS_ERR_FORMAT,
                        "%s: cannot open video (%s)", path, ff_err(err, eb, sizeof eb));
    v->is_y4m = !strcmp(v->fmt->iformat->name, "yuv4mpegpipe");
    err = avformat_find_stream_info(v->fmt, NULL);
    if (err < 0)
        return RFS_FAIL(RFS_ERR_FORMAT, "%s: cannot read stream info (%s)", path, ff_err(err, eb, sizeof eb));
    /* OpenCV takes the first video stream in file order. */
    v->stream = -1;
    for (unsigned i = 0; i < v->fmt->nb_streams; i++)
        if (v->fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
            v->stream = (int)i;
            break;
        }
    if (v->stream < 0) return RFS_FAIL(RFS_ERR_FORMAT, "%s: no video stream", path);
    AVStream *st = v->fmt->streams[v->stream];
    AVCodecParameters *par = st->codecpar;
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec)
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: no decoder for codec '%s'", path,
                        avcodec_get_name(par->codec_id));
    v->dec = avcodec_alloc_context3(codec);
    v->pic = av_frame_alloc();
    v->pkt = av_packet_alloc();
    if (!v->dec || !v->pic || !v->pkt) return RFS_FAIL(RFS_ERR_NOMEM, "%s: out of memory", path);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    v->dec->thread_count = o && o->threads > 0 ? o->threads : (int)(ncpu < 1 ? 1 : ncpu > 16 ? 16 : ncpu);
    if (o && o->low_delay) v->dec->thread_type = FF_THREAD_SLICE; /* no frames held back */
    if ((err = avcodec_parameters_to_context(v->dec, par)) < 0 ||
        (err = avcodec_open2(v->dec, codec, NULL)) < 0)
        return RFS_FAIL(RFS_ERR_FORMAT, "%s: cannot open the %s decoder (%s)", path, codec->name,
                        ff_err(err, eb, sizeof eb));
    int w = par->width ? par->width : v->dec->width, h = par->height ? par->height : v->dec->height;
    if (w <= 0 || h <= 0) return RFS_FAIL(RFS_ERR_FORMAT, "%s: invalid frame size %dx%d", path, w, h);
    if ((uint64_t)w * (uint64_t)h > v->max_pixels)
        return RFS_FAIL(RFS_ERR_LIMIT, "%s: frame size %dx%d exceeds the limit of %llu pixels", path,
                        w, h, (unsigned long long)v->max_pixels);

    /* Rotation from the display matrix, as OpenCV 4.6's get_rotation_angle + rotateFrame:
     * the angle av_display_rotation_get reports (counterclockwise by its documentation)
     * is applied clockwise; checked against cv2 on files tagged rotate=90/180/270. */
    const uint8_t *dm = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (dm && !(o && o->no_auto_rotate)) {
        int a = (int)lrint(av_display_rotation_get((const int32_t *)dm));
        if (a < 0) a += 360;
        if (a == 90 || a == 180 || a == 270) v->rotation = a;
    }
    v->width = v->rotation % 180 ? h : w;
    v->height = v->rotation % 180 ? w : h;

    /* cv2 CAP_PROP_FPS and CAP_PROP_FRAME_COUNT. */
    v->fps = r2d(st->avg_frame_rate);
    if (v->fps < 0.000025) v->fps = r2d(st->r_frame_rate);
    if (v->fps < 0.000025 && r2d(st->time_base) > 0) v->fps = 1.0 / r2d(st->time_base);
    v->nb_frames = st->nb_frames;
    v->frame_count = st->nb_frames;
    v->ts0 = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
    if (v->frame_count == 0) {
        double sec = (double)v->fmt->duration / AV_TIME_BASE;
        if (sec < 0.000025) sec = (double)st->duration * r2d(st->time_base);
        v->frame_count = (int64_t)floor(sec * v->fps + 0.5);
    }
    return RFS_OK;
}

/* Converts the decoded picture into dst exactly as OpenCV's retrieveFrame does. */
static rfs_status ff_convert(rfs_video *v, rfs_frame *dst) {
    AVFrame *p = v->pic;
    if ((uint64_t)p->width * (uint64_t)p->height > v->max_pixels || p->width <= 0 || p->height <= 0)
        return RFS_FAIL(RFS_ERR_LIMIT, "frame %lld: size %dx%d outside the limit", (long long)v->index - 1,
                        p->width, p->height);
    int cw = v->dec->coded_width, ch = v->dec->coded_height;
    if (cw < p->width || ch < p->height) cw = p->width, ch = p->height;
    enum AVPixelFormat to = v->rgb ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_BGR24;
    v->sws = sws_getCachedContext(v->sws, cw, ch, p->format, cw, ch, to, SWS_BICUBIC, NULL, NULL, NULL);
    if (!v->sws)
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "frame %lld: cannot convert pixel format %s",
                        (long long)v->index - 1, av_get_pix_fmt_name(p->format));
    /* The buffer spans the coded size; the frame shows the picture's size. */
    int stride = bgr_stride_like_ffmpeg(cw);
    rfs_status st = rfs_frame_alloc(dst, cw, ch, stride, v->rgb ? RFS_PIX_RGB8 : RFS_PIX_BGR8);
    if (st) return st;
    dst->w = p->width;
    dst->h = p->height;
    uint8_t *dd[4] = {dst->data, NULL, NULL, NULL};
    int dl[4] = {stride, 0, 0, 0};
    if (sws_scale(v->sws, (const uint8_t *const *)p->data, p->linesize, 0, p->height, dd, dl) <= 0)
        return RFS_FAIL(RFS_ERR_FORMAT, "frame %lld: pixel conversion failed", (long long)v->index - 1);
    return RFS_OK;
}

/* Next decoded picture into v->pic: 1 got one, 0 end of stream, -1 error (message set).
 * The packet/decoder loop of OpenCV's grabFrame, except that a packet the decoder rejects
 * is an error for one frame rather than the end of the video. */
static int ff_next_picture(rfs_video *v) {
    char eb[128];
    v->err_ts = AV_NOPTS_VALUE;
    int ret = avcodec_receive_frame(v->dec, v->pic);
    if (ret >= 0) return 1;
    if (ret == AVERROR_EOF) return 0;
    if (ret != AVERROR(EAGAIN)) {
        rfs_fail(RFS_ERR_FORMAT, "decoding failed (%s)", ff_err(ret, eb, sizeof eb));
        return -1;
    }
    int skipped = 0;
    for (;;) {
        if (!v->pending) { /* else the packet the decoder refused last time goes again */
            av_packet_unref(v->pkt);
            if (!v->flushing) {
                int64_t pos = v->fmt->pb ? avio_tell(v->fmt->pb) : -1;
                ret = av_read_frame(v->fmt, v->pkt);
                if (ret == AVERROR(EAGAIN) && ++skipped < 4096) continue;
                if (ret < 0) {
                    if (ret != AVERROR_EOF) v->read_error = ret;
                    /* FFmpeg's y4m demuxer drops a cut last frame and says EOF; having
                     * consumed bytes for it tells it apart from a clean end */
                    else if (v->is_y4m && pos >= 0 && avio_tell(v->fmt->pb) > pos) v->cut = 1;
                    v->flushing = 1; /* drain the decoder's delayed frames */
                } else if (v->pkt->stream_index != v->stream) {
                    if (++skipped > 1000000) v->flushing = 1; /* a file with no more video */
                    continue;
                } else {
                    v->packets++;
                    if (v->pkt->flags & AV_PKT_FLAG_CORRUPT) v->damaged = 1;
                }
            }
        }
        AVPacket *pk = v->pending || !v->flushing ? v->pkt : NULL; /* NULL: flush */
        ret = avcodec_send_packet(v->dec, pk);
        int refused = ret == AVERROR(EAGAIN); /* decoder full: take a frame out first */
        if (ret < 0 && !refused) {
            v->pending = 0;
            if (!pk) return 0;
            v->err_ts = pk->pts != AV_NOPTS_VALUE ? pk->pts : pk->dts;
            rfs_fail(RFS_ERR_FORMAT, "the decoder rejected a packet (%s)", ff_err(ret, eb, sizeof eb));
            return -1;
        }
        ret = avcodec_receive_frame(v->dec, v->pic);
        if (refused && ret == AVERROR(EAGAIN)) { /* neither in nor out: drop the packet */
            v->pending = 0;
            rfs_fail(RFS_ERR_FORMAT, "the decoder stalled");
            return -1;
        }
        v->pending = refused;
        if (ret >= 0) return 1;
        if (ret == AVERROR(EAGAIN)) continue;
        if (ret == AVERROR_EOF) return 0;
        rfs_fail(RFS_ERR_FORMAT, "decoding failed (%s)", ff_err(ret, eb, sizeof eb));
        return -1;
    }
}

static rfs_status ff_read(rfs_video *v, rfs_frame *out, int *done) {
    char eb[128];
    if (v->ended || (v->nb_frames > 0 && v->grabbed > v->nb_frames)) {
        v->ended = 1;
        *done = 1;
        return RFS_OK;
    }
    int got = ff_next_picture(v);
    if (got < 0) {
        int64_t id = ff_error_number(v, v->err_ts);
        v->index = id + 1;
        return rfs_fail_context(RFS_ERR_FORMAT, "frame %lld", (long long)id);
    }
    if (got == 0) {
        /* A damaged or truncated file ends with one error (numbered as the frame that
         * would have come next), then the end. Demuxers often just stop at a cut (cv2 then
         * ends silently), hence the packet count check. */
        int short_read = v->nb_frames > 0 && v->packets < v->nb_frames;
        v->ended = 1;
        v->index = v->next_id + 1;
        if (v->read_error)
            return RFS_FAIL(RFS_ERR_FORMAT, "video read error after frame %lld (%s)",
                            (long long)v->next_id - 1, ff_err(v->read_error, eb, sizeof eb));
        if (short_read)
            return RFS_FAIL(RFS_ERR_FORMAT, "video truncated: %lld of the %lld frames the container declares",
                            (long long)v->packets, (long long)v->nb_frames);
        if (v->cut)
            return RFS_FAIL(RFS_ERR_FORMAT, "video truncated: the last frame is incomplete (after frame %lld)",
                            (long long)v->next_id - 1);
        if (v->damaged)
            return RFS_FAIL(RFS_ERR_FORMAT, "video damaged: short packets in the stream");
        v->index = v->next_id;
        *done = 1;
        return RFS_OK;
    }
    v->grabbed++;
    int corrupt = (v->pic->flags & AV_FRAME_FLAG_CORRUPT) || v->pic->decode_error_flags;
    if (corrupt) v->trouble = 1;
    if (v->damaged) v->trouble = 1; /* the demuxer saw short packets */
    int64_t idx = ff_number(v, v->pic->best_effort_timestamp);
    v->index = idx + 1;
    rfs_status st = ff_convert(v, v->rotation ? &v->unrotated : out);
    if (!st && v->rotation) st = rotate_into(out, &v->unrotated, v->rotation);
    if (st) return st;
    /* Frames the decoder had to conceal errors in are damaged; cv2 returns them silently. */
    if (corrupt)
        return RFS_FAIL(RFS_ERR_FORMAT, "frame %lld: decoded with errors (damaged data)", (long long)idx);
    return RFS_OK;
}

static void ff_close(rfs_video *v) {
    sws_freeContext(v->sws);
    av_packet_free(&v->pkt);
    av_frame_free(&v->pic);
    avcodec_free_context(&v->dec);
    avformat_close_input(&v->fmt);
}

#endif /* RFS_HAVE_FFMPEG */

/* ---- public reader ---------------------------------------------------------------------------- */

rfs_video_source_kind rfs_video_source_kind_of(const char *src) {
    if (!strcmp(src, "-")) return RFS_VIDEO_STDIN;
    if (!strncmp(src, "pipe:", 5)) return RFS_VIDEO_PIPE;
    if (!strncmp(src, "/dev/video", 10)) return RFS_VIDEO_CAMERA;
    int digits = *src != 0;
    for (const char *p = src; *p; p++) digits &= isdigit((unsigned char)*p) != 0;
    struct stat sb;
    if (digits && strlen(src) < 4 && stat(src, &sb) != 0) return RFS_VIDEO_CAMERA;
    const char *sep = strstr(src, "://");
    if (sep && sep > src) {
        for (const char *p = src; p < sep; p++)
            if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.') return RFS_VIDEO_FILE;
        return strncmp(src, "file://", 7) ? RFS_VIDEO_NETWORK : RFS_VIDEO_FILE;
    }
    return RFS_VIDEO_FILE;
}

/* 1 when the regular file at path starts like a YUV4MPEG2 stream. */
static int file_is_y4m(const char *path) {
    uint8_t head[10];
    FILE *f;
    if (rfs_file_open_read(&f, path, NULL) != RFS_OK) return 0;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return rfs_y4m_sniff(head, n);
}

static rfs_status y4m_open(rfs_video *v, const char *path, int stream) {
    rfs_status st = stream ? rfs_y4m_open_stream(&v->y4m, path, v->rgb, v->max_pixels)
                           : rfs_y4m_open(&v->y4m, path, v->rgb, v->max_pixels);
    if (st) return st;
    v->width = rfs_y4m_width(v->y4m);
    v->height = rfs_y4m_height(v->y4m);
    v->fps = rfs_y4m_fps(v->y4m);
    v->frame_count = rfs_y4m_frame_count(v->y4m);
    return RFS_OK;
}

rfs_status rfs_video_open(rfs_video **out, const char *src, const rfs_video_opts *o) {
    *out = NULL;
    rfs_video_source_kind kind = rfs_video_source_kind_of(src);
    int stream = kind != RFS_VIDEO_FILE;
    const char *path = !stream && !strncmp(src, "file://", 7) ? src + 7 : src;
    /* A file is checked before anything opens it: a FIFO or device would block or never
     * end (streams are named as such: "-", "pipe:N", URLs, cameras). */
    rfs_status st = stream ? RFS_OK : rfs_file_check_regular(path);
    if (st) return st;
    rfs_video *v = rfs_calloc(1, sizeof *v);
    if (!v) return RFS_ERR_NOMEM;
    v->rgb = o && o->rgb;
    v->max_pixels = o && o->max_pixels ? o->max_pixels : RFS_IMAGE_MAX_PIXELS_DEFAULT;
#if RFS_HAVE_FFMPEG
    /* A y4m file's header is checked by rfseg's own parser first: its messages are clear
     * where FFmpeg's are not (an oversized frame is "Device or resource busy" there). The
     * frames still come from FFmpeg, as cv2 reads them. */
    if (!stream && file_is_y4m(path)) {
        st = y4m_open(v, path, 0);
        rfs_y4m_close(v->y4m);
        v->y4m = NULL;
    }
    if (!st) st = ff_open(v, path, kind, o);
#else
    char fd[32];
    if (kind == RFS_VIDEO_STDIN) path = "/dev/stdin";
    if (kind == RFS_VIDEO_PIPE) {
        snprintf(fd, sizeof fd, "/dev/fd/%.16s", src + 5);
        path = fd;
    }
    if (kind == RFS_VIDEO_STDIN || kind == RFS_VIDEO_PIPE) {
        st = y4m_open(v, path, 1);
        if (st) rfs_fail_context(st, "%s: this build lacks FFmpeg, only YUV4MPEG2 streams can be read", src);
    } else if (stream) {
        st = RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: reading URLs and cameras needs FFmpeg, which this build lacks", src);
    } else if (file_is_y4m(path)) {
        st = y4m_open(v, path, 0);
    } else {
        st = RFS_FAIL(RFS_ERR_UNSUPPORTED,
                      "%s: reading this video needs FFmpeg, which this build lacks (only .y4m files can be read)",
                      src);
    }
#endif
    if (st) {
        rfs_video_close(v);
        return st;
    }
    *out = v;
    return RFS_OK;
}

rfs_status rfs_video_read(rfs_video *v, rfs_frame *frame, int *done) {
    *done = 0;
    if (v->y4m) {
        rfs_status st = rfs_y4m_read(v->y4m, frame, done);
        if (!*done) v->index++;
        return st;
    }
#if RFS_HAVE_FFMPEG
    return ff_read(v, frame, done);
#else
    *done = 1;
    return RFS_OK;
#endif
}

void rfs_video_close(rfs_video *v) {
    if (!v) return;
#if RFS_HAVE_FFMPEG
    ff_close(v);
#endif
    rfs_y4m_close(v->y4m);
    rfs_frame_free(&v->unrotated);
    free(v);
}

/* ---- writers ---------------------------------------------------------------------------------- */

struct rfs_video_writer {
    char path[512];
    int w, h; /* frames accepted */
    rfs_y4m_writer *y4m;
#if RFS_HAVE_FFMPEG
    rfs_outfile out; /* the MP4 is written to out.tmp, renamed to path by a good close;
                      * out.failed: a write failed, close removes the temporary file */
    int ew, eh;      /* encoded size (even) */
    AVFormatContext *oc;
    AVCodecContext *enc;
    AVStream *st;
    AVFrame *yuv;
    AVPacket *pkt;
    struct SwsContext *sws;
    int sws_fmt;
    int64_t pts;
#endif
};

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

#if RFS_HAVE_FFMPEG

/* Sends frame (NULL: flush) and writes every packet the encoder has ready. */
static rfs_status wr_encode(rfs_video_writer *w, AVFrame *frame) {
    char eb[128];
    int ret = avcodec_send_frame(w->enc, frame);
    if (ret < 0)
        return RFS_FAIL(RFS_ERR_BACKEND, "%s: encoder error (%s)", w->path, ff_err(ret, eb, sizeof eb));
    for (;;) {
        ret = avcodec_receive_packet(w->enc, w->pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return RFS_OK;
        if (ret < 0)
            return RFS_FAIL(RFS_ERR_BACKEND, "%s: encoder error (%s)", w->path, ff_err(ret, eb, sizeof eb));
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        ret = av_interleaved_write_frame(w->oc, w->pkt);
        if (ret >= 0 && w->oc->pb && w->oc->pb->error < 0) ret = w->oc->pb->error;
        if (ret < 0) {
            w->out.failed = 1;
            return RFS_FAIL(RFS_ERR_IO, "%s: write error (%s)", w->path, ff_err(ret, eb, sizeof eb));
        }
    }
}

static rfs_status wr_open_ffmpeg(rfs_video_writer *w, double fps) {
    char eb[128];
    int ret;
    pthread_once(&ff_once, ff_init);
    /* first of all the temporary file: a destination that is a directory, FIFO or device
     * is refused before anything else is set up */
    rfs_status st = rfs_outfile_open(&w->out, w->path, 0);
    if (st) return st;
    if (avformat_alloc_output_context2(&w->oc, NULL, NULL, w->path) < 0 &&
        avformat_alloc_output_context2(&w->oc, NULL, "mp4", w->path) < 0)
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: no muxer for this file name", w->path);
    if (w->oc->oformat->flags & AVFMT_NOFILE) /* muxers that name their own files (images) */
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: not a video file name (use .mp4)", w->path);
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
    if (!codec) return RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: no H.264 or MPEG-4 encoder in FFmpeg", w->path);
    w->st = avformat_new_stream(w->oc, NULL);
    w->enc = avcodec_alloc_context3(codec);
    w->yuv = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->st || !w->enc || !w->yuv || !w->pkt) return RFS_FAIL(RFS_ERR_NOMEM, "%s: out of memory", w->path);
    AVRational rate = av_d2q(fps > 0 && fps < 1e6 ? fps : 30.0, 100000);
    w->enc->width = w->ew;
    w->enc->height = w->eh;
    w->enc->pix_fmt = AV_PIX_FMT_YUV420P;
    w->enc->time_base = av_inv_q(rate);
    w->enc->framerate = rate;
    if (codec->id == AV_CODEC_ID_H264) {
        av_opt_set(w->enc->priv_data, "preset", "veryfast", 0);
        av_opt_set(w->enc->priv_data, "crf", "23", 0);
    } else { /* MPEG-4 part 2: constant quantiser 4 looks clean on annotations */
        w->enc->flags |= AV_CODEC_FLAG_QSCALE;
        w->enc->global_quality = FF_QP2LAMBDA * 4;
        w->enc->gop_size = 12;
    }
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER) w->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if ((ret = avcodec_open2(w->enc, codec, NULL)) < 0 ||
        (ret = avcodec_parameters_from_context(w->st->codecpar, w->enc)) < 0)
        return RFS_FAIL(RFS_ERR_BACKEND, "%s: cannot open the %s encoder (%s)", w->path, codec->name,
                        ff_err(ret, eb, sizeof eb));
    w->st->time_base = w->enc->time_base;
    w->st->avg_frame_rate = rate;
    w->yuv->format = AV_PIX_FMT_YUV420P;
    w->yuv->width = w->ew;
    w->yuv->height = w->eh;
    if (av_frame_get_buffer(w->yuv, 32) < 0) return RFS_FAIL(RFS_ERR_NOMEM, "%s: out of memory", w->path);
    /* the temporary file made at the start, opened by FFmpeg as a plain file */
    char *url = file_url(w->out.tmp);
    if (!url) return RFS_ERR_NOMEM;
    ret = avio_open(&w->oc->pb, url, AVIO_FLAG_WRITE);
    free(url);
    if (ret < 0) return RFS_FAIL(RFS_ERR_IO, "%s: %s", w->path, ff_err(ret, eb, sizeof eb));
    ret = avformat_write_header(w->oc, NULL);
    if (ret >= 0 && w->oc->pb->error < 0) ret = w->oc->pb->error;
    if (ret < 0)
        return RFS_FAIL(RFS_ERR_IO, "%s: cannot write the header (%s)", w->path, ff_err(ret, eb, sizeof eb));
    return RFS_OK;
}

/* Frees the FFmpeg state; the temporary file (if any) is left to the caller. */
static void wr_free_ffmpeg(rfs_video_writer *w) {
    if (w->oc && w->oc->pb) avio_closep(&w->oc->pb);
    avformat_free_context(w->oc);
    avcodec_free_context(&w->enc);
    av_frame_free(&w->yuv);
    av_packet_free(&w->pkt);
    sws_freeContext(w->sws);
}

#endif /* RFS_HAVE_FFMPEG */

rfs_status rfs_video_writer_open(rfs_video_writer **out, const char *path, int width, int height,
                                 double fps) {
    *out = NULL;
    if (width <= 0 || height <= 0 || width > (1 << 16) || height > (1 << 16))
        return RFS_FAIL(RFS_ERR_ARG, "%s: bad video size %dx%d", path, width, height);
    rfs_video_writer *w = rfs_calloc(1, sizeof *w);
    if (!w) return RFS_ERR_NOMEM;
    snprintf(w->path, sizeof w->path, "%s", path);
    w->w = width;
    w->h = height;
    rfs_status st;
    if (ends_with(path, ".y4m")) {
        st = rfs_y4m_writer_open(&w->y4m, path, width, height, fps, 420);
    } else {
#if RFS_HAVE_FFMPEG
        w->ew = width & ~1;
        w->eh = height & ~1;
        st = (w->ew && w->eh) ? wr_open_ffmpeg(w, fps)
                              : RFS_FAIL(RFS_ERR_ARG, "%s: %dx%d is too small for 4:2:0 video", path, width, height);
        if (st) {
            wr_free_ffmpeg(w);
            rfs_outfile_abort(&w->out); /* only the temporary file this call created */
        }
#else
        st = RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: writing MP4 needs FFmpeg, which this build lacks (use a .y4m file)",
                      path);
#endif
    }
    if (st) {
        free(w);
        return st;
    }
    *out = w;
    return RFS_OK;
}

rfs_status rfs_video_writer_write(rfs_video_writer *w, const rfs_frame *f) {
    if (!f || f->w != w->w || f->h != w->h)
        return RFS_FAIL(RFS_ERR_ARG, "%s: frame %dx%d, video %dx%d", w->path, f ? f->w : 0, f ? f->h : 0,
                        w->w, w->h);
    if (w->y4m) return rfs_y4m_write(w->y4m, f);
#if RFS_HAVE_FFMPEG
    enum AVPixelFormat from = f->fmt == RFS_PIX_RGB8 ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_BGR24;
    w->sws = sws_getCachedContext(w->sws, w->ew, w->eh, from, w->ew, w->eh, AV_PIX_FMT_YUV420P, SWS_BICUBIC,
                                  NULL, NULL, NULL);
    if (!w->sws) return RFS_FAIL(RFS_ERR_BACKEND, "%s: no BGR -> YUV converter", w->path);
    if (w->out.failed) return RFS_FAIL(RFS_ERR_IO, "%s: an earlier write failed", w->path);
    if (av_frame_make_writable(w->yuv) < 0) return RFS_FAIL(RFS_ERR_NOMEM, "%s: out of memory", w->path);
    const uint8_t *src[4] = {f->data, NULL, NULL, NULL};
    int ss[4] = {f->stride, 0, 0, 0};
    sws_scale(w->sws, src, ss, 0, w->eh, w->yuv->data, w->yuv->linesize);
    w->yuv->pts = w->pts++;
    return wr_encode(w, w->yuv);
#else
    return RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: no FFmpeg", w->path);
#endif
}

rfs_status rfs_video_writer_close(rfs_video_writer *w) {
    if (!w) return RFS_OK;
    rfs_status st = RFS_OK;
    if (w->y4m) {
        st = rfs_y4m_writer_close(w->y4m);
    } else {
#if RFS_HAVE_FFMPEG
        char eb[128];
        st = w->out.failed ? RFS_FAIL(RFS_ERR_IO, "%s: not written (an earlier write failed)", w->path)
                       : wr_encode(w, NULL);
        if (!st) {
            int ret = av_write_trailer(w->oc);
            if (ret >= 0) { /* avio reports a failed write only through pb->error */
                avio_flush(w->oc->pb);
                if (w->oc->pb->error < 0) ret = w->oc->pb->error;
            }
            if (ret < 0) st = RFS_FAIL(RFS_ERR_IO, "%s: cannot finish the file (%s)", w->path, ff_err(ret, eb, sizeof eb));
        }
        int ret = avio_closep(&w->oc->pb);
        if (!st && ret < 0) st = RFS_FAIL(RFS_ERR_IO, "%s: close failed (%s)", w->path, ff_err(ret, eb, sizeof eb));
        if (st) rfs_outfile_abort(&w->out);
        else st = rfs_outfile_commit(&w->out);
        wr_free_ffmpeg(w);
#endif
    }
    free(w);
    return st;
}
