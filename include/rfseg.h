/* rfseg.h - RF-DETR instance segmentation in C: the public API, and the only way in.
 *
 * MANUAL
 *
 * A model is the immutable network: weights and configuration, loaded once from an
 * official RF-DETR-Seg checkpoint (.pth, .ckpt or .safetensors) or a Roboflow model
 * package. A session runs it: activations, scratch buffers and, on the GPU, streams and
 * graphs, allocated once and reused for every frame.
 *
 *     rfs_model *model;
 *     if (rfs_model_load(&model, "rf-detr-seg-nano.pth") != RFS_OK) {
 *         fprintf(stderr, "%s\n", rfs_last_error());
 *         return 1;
 *     }
 *     rfs_session_opts so = rfs_session_defaults();      // CPU, fp32, batch 1
 *     rfs_session_opts_set(&so, "device", "cuda:0");     // or set the fields
 *     rfs_session *s;
 *     if (rfs_session_create(&s, model, &so) != RFS_OK) ...
 *
 *     rfs_frame f = {0};
 *     if (rfs_image_load(&f, "photo.jpg", NULL) != RFS_OK) ...   // BGR8, as cv2.imread
 *     rfs_image img = rfs_frame_image(&f);
 *     rfs_predict_opts po = rfs_predict_defaults(RFS_PRESET_ROBOFLOW);
 *     rfs_result res = {0};
 *     if (rfs_predict(s, &img, 1, &po, &res) != RFS_OK) ...
 *     for (int i = 0; i < res.count; i++) {
 *         const rfs_detection *d = &res.dets[i];
 *         printf("%s %.3f [%g %g %g %g]\n", rfs_model_class_name(model, d->class_id),
 *                d->score, d->box[0], d->box[1], d->box[2], d->box[3]);
 *     }
 *     rfs_text json = {0};                                // Roboflow's response JSON
 *     rfs_shapes *shapes; rfs_shapes_create(&shapes);
 *     rfs_response_opts ro = rfs_response_defaults();
 *     rfs_response_roboflow(&json, shapes, &res, model, &ro);
 *     puts(json.p);
 *     rfs_text_free(&json); rfs_shapes_free(shapes); rfs_result_free(&res);
 *     rfs_frame_free(&f); rfs_session_free(s); rfs_model_free(model);
 *
 * Errors. Every function that can fail returns an rfs_status; RFS_OK is 0. On failure a
 * message that names the problem (file, tensor, shape, limit) is available from
 * rfs_last_error(), per thread, until the next failure. Bad input (a corrupt checkpoint,
 * a truncated image, an absurd size) never crashes or aborts: it returns an error. Only a
 * broken internal invariant (a bug) aborts, printing file:line.
 *
 * Ownership. Objects returned through `**out` belong to the caller and are released with
 * the matching _free(), which accepts NULL. Pointers inside an rfs_raw point into the
 * session and stay valid until the next call on that session. An rfs_result, rfs_frame
 * and rfs_text own their memory, reuse it from call to call (no allocation once warm) and
 * are released by their _free(); zero-initialise them before first use.
 *
 * Logging. The library never writes to stdout or stderr; it reports progress and warnings
 * through the callback given to rfs_set_log() (none by default).
 *
 * Threads. A model is read-only after load: any number of sessions on any threads may
 * share it, and sessions of one model on one GPU share one copy of its weights there
 * (made by the first session, freed with the last). Free every session before its model.
 * A session must be used by one thread at a time, any thread; its CPU work runs on
 * rfs_session_opts.threads threads (0: OpenMP's default when the session is created),
 * applied to each of its parallel regions, whatever the calling thread's OpenMP settings.
 * Annotators, rfs_shapes, rfs_text and videos are per thread in the same way. All other
 * functions are thread-safe.
 *
 * The GPU. On a CUDA session rfs_predict runs the whole frame on the device, from the
 * uint8 pixels to the compact results (pre-processing of every preset, network,
 * selection, boxes, masks of the kept detections, bit-packed), as one CUDA graph per
 * batch size and frame size; the results equal the CPU pipeline's for the same network
 * outputs. A batch whose frames differ in size or pixel format takes the CPU
 * pre-processing instead (same results, slower).
 *
 * Streaming. rfs_predict_submit / rfs_predict_collect keep two batches in flight, so the
 * caller's work on batch i (contours, JSON) overlaps the device's work on batch i+1; on
 * the GPU the two batches run on two sets of buffers and streams and may overlap on the
 * device too. On a CPU session submit computes the batch at once and collect hands it
 * over, so the same loop works on both backends:
 *
 *     for (;;) {
 *         if (have_frames && rfs_predict_pending(s) < 2) {      // keep two in flight
 *             rfs_predict_submit(s, frames, n, &po);            // frames copied
 *             continue;                                         // read the next frames
 *         }
 *         if (!rfs_predict_pending(s)) break;
 *         rfs_predict_collect(s, results, &n);                  // oldest batch
 *         ... results[0..n-1] ...
 *     }
 */
#ifndef RFSEG_H
#define RFSEG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RFSEG_VERSION "0.2.0"

/* Every function of the API is exported from librfseg.so; nothing else is. */
#if defined(RFS_BUILDING_LIB) && defined(__GNUC__)
#define RFS_API __attribute__((visibility("default")))
#else
#define RFS_API
#endif

/* ---- errors and logging ------------------------------------------------------------ */

typedef enum rfs_status {
    RFS_OK = 0,
    RFS_ERR_ARG,         /* invalid argument or option */
    RFS_ERR_IO,          /* a file could not be opened, read or written */
    RFS_ERR_FORMAT,      /* malformed input: checkpoint, image, video, request */
    RFS_ERR_UNSUPPORTED, /* valid but not supported (or feature not built in) */
    RFS_ERR_NOMEM,       /* allocation failed */
    RFS_ERR_LIMIT,       /* a configured limit (pixels, bytes, sizes) was exceeded */
    RFS_ERR_BACKEND,     /* the compute backend failed (e.g. no CUDA device) */
    RFS_ERR_NETWORK,     /* a download failed */
} rfs_status;

RFS_API const char *rfs_last_error(void);          /* message of this thread's last failure */
RFS_API void rfs_clear_error(void);
RFS_API const char *rfs_status_name(rfs_status st); /* "malformed input", ... */

typedef enum rfs_log_level { RFS_LOG_DEBUG, RFS_LOG_INFO, RFS_LOG_WARN, RFS_LOG_ERROR } rfs_log_level;
typedef void (*rfs_log_fn)(void *user, rfs_log_level level, const char *msg);
RFS_API void rfs_set_log(rfs_log_fn fn, void *user, rfs_log_level min_level);

/* ---- model --------------------------------------------------------------------------- */

/* The network's shape, derived from the checkpoint (args when present, tensor shapes
 * always). Names follow rfdetr's args. */
typedef struct rfs_config {
    char size[32];            /* "seg-nano", ... or "custom" when no preset matches */
    int resolution;           /* R: square network input side */
    int patch_size;           /* ps */
    int grid;                 /* G = R / ps */
    int pos_grid;             /* P: stored position-embedding grid side */
    int num_windows;          /* nw: windows per side */
    int vit_dim;              /* D: ViT width */
    int vit_heads;            /* D / 64 */
    int vit_layers;           /* ViT depth */
    int vit_mlp;              /* ViT MLP hidden width */
    int num_taps;             /* backbone feature taps (len(out_feature_indexes)) */
    int tap_layers[8];        /* 0-based layers whose outputs are tapped */
    int hidden_dim;           /* C: projector / decoder / seg head width */
    int proj_blocks;          /* C2f bottlenecks in the projector */
    int dec_layers;           /* L */
    int sa_heads;             /* decoder self-attention heads */
    int ca_heads;             /* deformable cross-attention heads */
    int dec_points;           /* deformable sampling points per head */
    int dim_feedforward;      /* decoder FFN width */
    int num_queries;          /* nq */
    int num_select;           /* PostProcess top-k */
    int num_classes;          /* K: logit width (num_classes + 1 in rfdetr's args) */
    int query_rows;           /* rows stored in query tables (nq * group_detr) */
    int mask_side;            /* R / 4 */
    int seg_mlp;              /* seg head query MLP hidden width */
} rfs_config;

typedef struct rfs_model rfs_model;

/* Loads an official checkpoint (.pth torch.save zip, PyTorch Lightning .ckpt, or
 * .safetensors), or a Roboflow model package directory (weights.pth, class_names.txt,
 * inference_config.json). The state dict may sit under "model" (preferred, as the
 * official loader), "ema_model", "state_dict" or at the top level. */
RFS_API rfs_status rfs_model_load(rfs_model **out, const char *path);

/* The official seg sizes: "seg-preview", "seg-nano", "seg-small", "seg-medium",
 * "seg-large", "seg-xlarge", "seg-2xlarge" (a NULL-terminated list). */
RFS_API const char *const *rfs_model_size_names(void);

/* Builds a full-size model of a named size with deterministic random weights (no file,
 * no download): for benchmarks and tests of every size. */
RFS_API rfs_status rfs_model_random(rfs_model **out, const char *size, uint64_t seed);

RFS_API const rfs_config *rfs_model_config(const rfs_model *m);
/* Class name for a logit index: the checkpoint's args.class_names (index i+1), else COCO's;
 * never NULL (an unnamed index gives its decimal string, in a per-thread buffer). */
RFS_API const char *rfs_model_class_name(const rfs_model *m, int class_id);
/* Whether the model's package asks for EXIF orientation (1 for a bare checkpoint). */
RFS_API int rfs_model_auto_orient(const rfs_model *m);
RFS_API size_t rfs_model_param_count(const rfs_model *m); /* floats bound (used at inference) */
/* Writes the tensors the network uses as a safetensors file, with the settings that shapes
 * cannot carry in its metadata: rfs_model_load() of it gives the same model. */
RFS_API rfs_status rfs_model_save(const rfs_model *m, const char *path);
RFS_API void rfs_model_free(rfs_model *m);

/* Download of the official checkpoints (needs libcurl at build time). Writes the local
 * path of `size`'s checkpoint into path (cap bytes), downloading it into the user's cache
 * directory ($XDG_CACHE_HOME/rfseg or ~/.cache/rfseg) the first time. progress (may be
 * NULL) is called with bytes done and total (0 when unknown). */
typedef void (*rfs_progress_fn)(void *user, uint64_t done, uint64_t total);
RFS_API rfs_status rfs_model_fetch(char *path, size_t cap, const char *size,
                                   rfs_progress_fn progress, void *user);
/* The public URL of a size's checkpoint, or NULL. The environment variable
 * RFSEG_MODEL_URL_BASE replaces https://storage.googleapis.com/rfdetr (mirrors, tests). */
RFS_API const char *rfs_model_url(const char *size);

/* ---- session ------------------------------------------------------------------------- */

typedef enum rfs_backend { RFS_BACKEND_CPU = 0, RFS_BACKEND_CUDA = 1 } rfs_backend;
typedef enum rfs_precision { RFS_FP32 = 0, RFS_FP16 = 1, RFS_BF16 = 2 } rfs_precision;

typedef struct rfs_session_opts {
    rfs_backend backend;
    rfs_precision precision; /* CPU: fp32 */
    int max_batch;           /* frames per forward call, >= 1 */
    int threads;             /* CPU threads; 0 = OpenMP default */
    int device;              /* CUDA device ordinal */
} rfs_session_opts;

RFS_API rfs_session_opts rfs_session_defaults(void);
/* Sets one option by name from text, as a command line or a request gives it:
 *   device     cpu | cuda | cuda:N          precision  fp32 | fp16 | bf16
 *   threads    0..1024                      max_batch  1..4096
 * An unknown key or a malformed value is RFS_ERR_ARG naming both. */
RFS_API rfs_status rfs_session_opts_set(rfs_session_opts *o, const char *key, const char *value);
/* CUDA devices this build can use (0 without CUDA, without a driver, or without a device). */
RFS_API int rfs_device_count(rfs_backend b);
/* Free and total memory of a CUDA device (RFS_ERR_UNSUPPORTED for the CPU or without CUDA):
 * what the sessions and weights on it leave. */
RFS_API rfs_status rfs_device_memory(rfs_backend b, int device, size_t *free_bytes,
                                     size_t *total_bytes);

typedef struct rfs_session rfs_session;
RFS_API rfs_status rfs_session_create(rfs_session **out, const rfs_model *m,
                                      const rfs_session_opts *o);
RFS_API void rfs_session_free(rfs_session *s);
RFS_API const rfs_model *rfs_session_model(const rfs_session *s);

/* Raw network outputs for a batch, float32, pointing into the session (valid until the
 * next call): logits (B, nq, K), boxes (B, nq, 4) cxcywh normalised, masks
 * (B, nq, R/4, R/4) logits. */
typedef struct rfs_raw {
    int batch;
    const float *logits;
    const float *boxes;
    const float *masks;
} rfs_raw;

/* Runs the network on `batch` preprocessed inputs (batch, 3, R, R), float32 NCHW. */
RFS_API rfs_status rfs_forward(rfs_session *s, const float *input, int batch, rfs_raw *out);

/* Debug trace: when set, the CPU forward pass reports every named intermediate tensor
 * (names as the official module names, e.g. "backbone.0.encoder.0",
 * "transformer.decoder.layers.1"). shape has ndim entries, data is float32 row-major. */
typedef void (*rfs_trace_fn)(void *user, const char *name, const float *data, int ndim,
                             const int64_t *shape);
RFS_API void rfs_session_set_trace(rfs_session *s, rfs_trace_fn fn, void *user);

/* ---- frames and images --------------------------------------------------------------- */

typedef enum rfs_pixfmt { RFS_PIX_RGB8 = 0, RFS_PIX_BGR8 = 1 } rfs_pixfmt;

/* A view of packed 8-bit 3-channel pixels; the caller owns data. */
typedef struct rfs_image {
    int width, height;
    int stride; /* bytes per row, >= 3 * width */
    rfs_pixfmt format;
    const uint8_t *data;
} rfs_image;

/* A packed 8-bit 3-channel image that either owns its buffer (cap > 0, released by
 * rfs_frame_free) or wraps caller memory (cap == 0, never freed here). A zeroed frame is
 * an empty frame; decoders and video readers reuse the buffer of the frame they are given
 * when it is big enough, so one frame passed again and again allocates once. */
typedef struct rfs_frame {
    int w, h;
    int stride;     /* bytes from one row to the next, >= 3 * w */
    rfs_pixfmt fmt; /* RFS_PIX_BGR8 (decoders' default, as OpenCV) or RFS_PIX_RGB8 */
    uint8_t *data;  /* row 0 */
    size_t cap;     /* bytes owned at data; 0 when the memory is the caller's */
} rfs_frame;

/* Makes f a w x h frame with the given stride (0: 3 * w), reusing its buffer when it owns
 * one of at least stride * h bytes (64-byte aligned). Pixels are left undefined. */
RFS_API rfs_status rfs_frame_alloc(rfs_frame *f, int w, int h, int stride, rfs_pixfmt fmt);
/* Points f at caller-owned pixels (not copied, never freed by rfseg). */
RFS_API void rfs_frame_wrap(rfs_frame *f, uint8_t *data, int w, int h, int stride,
                            rfs_pixfmt fmt);
/* Releases an owned buffer and zeroes f; accepts NULL and wrapped frames. */
RFS_API void rfs_frame_free(rfs_frame *f);
/* Swaps the first and third channel of every pixel in place (BGR <-> RGB) and flips fmt. */
RFS_API void rfs_frame_swap_rb(rfs_frame *f);
/* The frame as an image view (no copy). */
RFS_API rfs_image rfs_frame_image(const rfs_frame *f);

/* Decoding gives what Roboflow's load_image_bgr gives, i.e. cv2.imdecode(buf,
 * IMREAD_COLOR) on Debian's OpenCV 4.6 (same libjpeg-turbo and libpng), pixel for pixel,
 * EXIF orientation included (docs/images.md). Formats are recognised by their magic
 * bytes, never by the file name. Sizes are checked from the header before anything is
 * allocated (RFS_ERR_LIMIT above max_pixels); corrupt or truncated data is
 * RFS_ERR_FORMAT, also where cv2 would return a partly decoded image. */
#define RFS_IMAGE_MAX_PIXELS_DEFAULT ((uint64_t)100000000) /* 100 MP */

typedef enum rfs_image_format {
    RFS_IMG_UNKNOWN = 0,
    RFS_IMG_JPEG,
    RFS_IMG_PNG,
    RFS_IMG_BMP,
    RFS_IMG_WEBP, /* where the build has libwebp */
    RFS_IMG_TIFF, /* where the build has libtiff */
} rfs_image_format;

/* Zero-initialised options are the defaults (BGR8, EXIF orientation applied, 100 MP). */
typedef struct rfs_decode_opts {
    int rgb;            /* 1: RGB8 output instead of BGR8 */
    int no_auto_orient; /* 1: ignore EXIF orientation (Roboflow's
                         * disable_preproc_auto_orient, cv2.IMREAD_IGNORE_ORIENTATION) */
    uint64_t max_pixels;/* width * height limit checked on the header; 0: default */
} rfs_decode_opts;

/* The format named by the first bytes (JPEG FF D8 FF, PNG signature, BMP "BM", WebP
 * "RIFF....WEBP", TIFF "II*\0" / "MM\0*" and BigTIFF). */
RFS_API rfs_image_format rfs_image_sniff(const uint8_t *bytes, size_t n);
RFS_API const char *rfs_image_format_name(rfs_image_format f);
/* Decodes an encoded image into out (see rfs_frame for buffer reuse); o may be NULL.
 * On failure out keeps a valid (possibly reallocated) buffer but undefined pixels. */
RFS_API rfs_status rfs_image_decode(rfs_frame *out, const uint8_t *bytes, size_t n,
                                    const rfs_decode_opts *o);
/* Reads a whole file (at most 1 GiB) and decodes it; errors are prefixed with the path.
 * Anything but a regular file (FIFO, device, directory) is refused before it is read. */
RFS_API rfs_status rfs_image_load(rfs_frame *out, const char *path, const rfs_decode_opts *o);
/* Writes an 8-bit RGB PNG (zlib level 1, as cv2.imwrite's default) from a BGR8 or RGB8
 * frame. Every writer (PNG, JPEG, video, safetensors) writes under a temporary name in
 * path's directory and renames it to path only when every write, the flush and the close
 * succeeded: on failure path is left as it was (never truncated or removed), and a path
 * that exists as something other than a regular file (directory, FIFO, device) is
 * refused. Replacing an existing file is the caller's decision. */
RFS_API rfs_status rfs_image_write_png(const char *path, const rfs_frame *f);
/* Writes a baseline JPEG (4:2:0, libjpeg's tables scaled to quality 1..100; 0 gives 95,
 * cv2.imwrite's default) from a BGR8 or RGB8 frame. */
RFS_API rfs_status rfs_image_write_jpeg(const char *path, const rfs_frame *f, int quality);

/* ---- video --------------------------------------------------------------------------- */

/* Reading (FFmpeg): frames are BGR8 and equal, bit for bit, to what cv2.VideoCapture(path)
 * .read() returns on Debian's OpenCV 4.6 with the same FFmpeg libraries (docs/video.md).
 * Frames go straight into the caller's rfs_frame, whose buffer is reused. Without FFmpeg
 * at build time only YUV4MPEG2 (.y4m) files can be opened; others give
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
 */
typedef struct rfs_video rfs_video;

/* Zero-initialised options are the defaults. */
typedef struct rfs_video_opts {
    int threads;         /* decoder threads; 0: min(CPUs, 16) as OpenCV */
    int no_auto_rotate;  /* 1: ignore the rotation metadata (cv2 CAP_PROP_ORIENTATION_AUTO 0) */
    int rgb;             /* 1: RGB8 frames instead of BGR8 */
    uint64_t max_pixels; /* frame size limit; 0: RFS_IMAGE_MAX_PIXELS_DEFAULT */
    /* Live sources (cameras, streams): decode with slice threads only, so a frame comes
     * out as soon as its packet is in (frame threads hold frames back); same pixels. */
    int low_delay;
    /* Network sources: a read blocked longer than this fails (0: 10 s; < 0: never). */
    int timeout_ms;
    /* Polled while FFmpeg blocks (opening, reading): nonzero makes the pending call fail
     * (RFS_ERR_IO "interrupted" when opening). NULL: never. */
    int (*interrupt)(void *user);
    void *interrupt_user;
} rfs_video_opts;

/* What a source string names, as rfs_video_open reads it. */
typedef enum rfs_video_source_kind {
    RFS_VIDEO_FILE = 0, /* a path (y4m, or anything FFmpeg reads) */
    RFS_VIDEO_STDIN,    /* "-": standard input */
    RFS_VIDEO_PIPE,     /* "pipe:N" */
    RFS_VIDEO_NETWORK,  /* an FFmpeg URL: http(s)://, rtsp(s)://, rtmp(s)://, tcp://, udp://, srt://, ... */
    RFS_VIDEO_CAMERA,   /* "/dev/videoN", or "N" when no file of that name exists (V4L2) */
} rfs_video_source_kind;
RFS_API rfs_video_source_kind rfs_video_source_kind_of(const char *src);

/* Opens a video source and its first video stream; o may be NULL. The source is a file,
 * "-" (standard input), "pipe:N", an FFmpeg URL, or a camera (rfs_video_source_kind);
 * cameras need libavdevice at build time, else RFS_ERR_UNSUPPORTED. A file source must be
 * a regular file, checked before anything opens it (a FIFO, device or directory is refused
 * at once: name a pipe "-" or "pipe:N"), and FFmpeg reads that file alone: playlists,
 * concat lists and files with external references, which could name other files, FIFOs
 * or devices, fail to open. */
RFS_API rfs_status rfs_video_open(rfs_video **out, const char *path, const rfs_video_opts *o);
/* Decodes the next frame into frame. *done = 1 at the end of the stream (status RFS_OK,
 * frame untouched). A frame that cannot be decoded returns an error with *done = 0; call
 * again for the next frame. */
RFS_API rfs_status rfs_video_read(rfs_video *v, rfs_frame *frame, int *done);
RFS_API int rfs_video_width(const rfs_video *v); /* frame size after rotation */
RFS_API int rfs_video_height(const rfs_video *v);
RFS_API double rfs_video_fps(const rfs_video *v); /* cv2 CAP_PROP_FPS */
/* cv2 CAP_PROP_FRAME_COUNT: the container's count, else round(duration * fps); may differ
 * from the number of frames actually decoded. */
RFS_API int64_t rfs_video_frame_count(const rfs_video *v);
RFS_API int rfs_video_rotation(const rfs_video *v); /* 0, 90, 180, 270 (clockwise) */
/* The number of the frame the last rfs_video_read returned or failed on, plus one (0
 * before the first read; at the end, the number of frames the video spans). Frames are
 * numbered in the container's order as cv2 counts them while the stream is sound; after a
 * decode error or damaged data they are numbered from their timestamps, so frames lost to
 * damage leave a gap and every later frame keeps its own number. Numbers of returned
 * frames only increase; an error for a packet the decoder rejected carries that packet's
 * frame number, which may be lower than the frame before it (decoders reorder). */
RFS_API int64_t rfs_video_frame_index(const rfs_video *v);
RFS_API void rfs_video_close(rfs_video *v); /* accepts NULL */

typedef struct rfs_video_writer rfs_video_writer;
/* Creates path (MP4 through FFmpeg, or Y4M for *.y4m) for width x height frames at fps.
 * Odd sizes are encoded with the last column/row dropped in MP4 (4:2:0 needs even). */
RFS_API rfs_status rfs_video_writer_open(rfs_video_writer **out, const char *path, int width,
                                         int height, double fps);
/* Appends one BGR8 or RGB8 frame of the size given at open. */
RFS_API rfs_status rfs_video_writer_write(rfs_video_writer *w, const rfs_frame *frame);
/* Flushes the encoder, finishes the file and frees w (also on error). The file appears at
 * path only here, when everything was written (see rfs_image_write_png); after a failed
 * write or close nothing is left at path but what was there before. */
RFS_API rfs_status rfs_video_writer_close(rfs_video_writer *w);

/* ---- prediction ---------------------------------------------------------------------- */

typedef enum rfs_preset {
    RFS_PRESET_ROBOFLOW = 0,  /* Roboflow inference (docs/presets.md) */
    RFS_PRESET_RFDETR = 1,    /* official rfdetr RFDETR.predict, as of rfdetr 1.9 */
    RFS_PRESET_RFDETR_14 = 2, /* official rfdetr 1.4.1 RFDETR.predict */
} rfs_preset;

typedef struct rfs_predict_opts {
    rfs_preset preset;
    float threshold;                /* keep score > threshold (strict); rfdetr 0.5, roboflow 0.4 */
    const float *class_thresholds;  /* roboflow: per class id (overrides threshold), or NULL */
    int n_class_thresholds;
    int want_masks;                 /* compute masks for the kept detections (default 1) */
    int clip_boxes;                 /* roboflow: clamp boxes to the frame (Roboflow R2) */
    int disable_static_crop;        /* roboflow: ignore the package's static crop */
    int disable_grayscale;          /* roboflow: ignore the package's grayscale step */
} rfs_predict_opts;

RFS_API rfs_predict_opts rfs_predict_defaults(rfs_preset preset);
/* Sets one option by name from text, as a command line or a request gives it:
 *   preset      roboflow | rfdetr | rfdetr-1.4 (resets the threshold to the preset's
 *               default when it was the old preset's default)
 *   confidence  a fraction in [0, 1] ("0.4") or a percentage ("40%"), see below
 *   masks, clip_boxes, disable_static_crop, disable_grayscale   1 | 0 | true | false
 * An unknown key or a malformed value is RFS_ERR_ARG naming both. */
RFS_API rfs_status rfs_predict_opts_set(rfs_predict_opts *o, const char *key, const char *value);
/* Confidence thresholds as text: "0.4" (a fraction in [0, 1]) or "40%" (a percentage in
 * [0, 100]). The decimal is read as a double, then rounded to float, as Python's float()
 * then PyTorch's float32 comparison. */
RFS_API rfs_status rfs_parse_confidence(const char *s, float *out);
/* The preset named by s ("roboflow", "rfdetr", "rfdetr-1.4") and its name. */
RFS_API rfs_status rfs_preset_parse(const char *s, rfs_preset *out);
RFS_API const char *rfs_preset_name(rfs_preset p);

/* A binary mask at the frame size, stored as its smallest non-empty rectangle: pixel
 * (x, y) of the frame is set iff x0 <= x < x0+w, y0 <= y < y0+h and data[(y-y0)*w + (x-x0)]
 * is 1. An empty mask has w = h = 0 and data NULL. */
typedef struct rfs_mask {
    int x0, y0, w, h;
    uint8_t *data;
} rfs_mask;

typedef struct rfs_detection {
    float box[4];   /* x0, y0, x1, y1 in frame pixels (float, as the preset computes them) */
    float score;    /* sigmoid probability */
    int class_id;   /* logit index (rfdetr presets) or remapped class (roboflow preset) */
    int query;      /* decoder query it came from */
    int tracker_id; /* track id from a tracker, -1 when none assigned one */
    rfs_mask mask;  /* when requested */
} rfs_detection;

/* Detections of one frame. The fields are read-only for the caller; the storage behind
 * them is the library's, reused from call to call, released by rfs_result_free.
 * Zero-initialise before first use. */
typedef struct rfs_result {
    int width, height;   /* frame size */
    int count;
    rfs_detection *dets; /* count detections, descending score */
    struct rfs_result_store *store; /* private */
} rfs_result;
RFS_API void rfs_result_free(rfs_result *r);

/* Preprocesses, runs and post-processes n frames (n <= max_batch), filling results[n]. */
RFS_API rfs_status rfs_predict(rfs_session *s, const rfs_image *frames, int n,
                               const rfs_predict_opts *o, rfs_result *results);

/* Streaming: rfs_predict split in two, with up to two batches in flight (see Streaming in
 * the manual above). submit copies the frames (they may be reused or freed on return)
 * and starts the batch; collect waits for the oldest batch and fills results[0..n-1],
 * storing n in *count (count may be NULL). A third submit before a collect, a collect
 * with nothing in flight, and rfs_predict while batches are in flight fail with
 * RFS_ERR_ARG. pending: batches submitted and not yet collected. */
RFS_API rfs_status rfs_predict_submit(rfs_session *s, const rfs_image *frames, int n,
                                      const rfs_predict_opts *o);
RFS_API rfs_status rfs_predict_collect(rfs_session *s, rfs_result *results, int *count);
RFS_API int rfs_predict_pending(const rfs_session *s);

/* The network input and outputs of the last predicted frame (image 0 of the last batch)
 * as a safetensors file: input (1, 3, R, R), pred_logits (1, nq, K), pred_boxes (1, nq, 4),
 * pred_masks (1, nq, R/4, R/4), float32, on every backend. */
RFS_API rfs_status rfs_session_save_raw(rfs_session *s, const char *path);

/* Time spent per stage by rfs_predict on this session since the last reset, summed over
 * frames (milliseconds of wall time; the forward pass of a batch counts once). */
typedef struct rfs_stage_times {
    double preprocess_ms, forward_ms, select_ms, masks_ms;
    long frames, batches;
} rfs_stage_times;
RFS_API void rfs_session_times(const rfs_session *s, rfs_stage_times *out);
RFS_API void rfs_session_times_reset(rfs_session *s);

/* The network alone, timed: `iters` runs at `batch` on input ((batch, 3, R, R) floats, or
 * NULL for the network input of the last call), median and fastest, plus the time per
 * stage, the threads used (CPU) and the device or instruction-set path. For benchmarks,
 * never on the hot path. rfs_predict_profile times the whole-frame device pipeline on
 * these frames instead, per stage (RFS_ERR_UNSUPPORTED where the batch runs on the host). */
typedef struct rfs_profile {
    double network_ms;     /* median of iters runs */
    double network_min_ms; /* fastest run */
    int nstages;
    const char *stage[16]; /* stage names (static strings) */
    double stage_ms[16];   /* median or mean time per stage */
    int threads;           /* CPU threads of the session (CPU backend) */
    char device[96];       /* "cpu (...)", "NVIDIA H200 (sm_90, fp16)", ... */
} rfs_profile;
RFS_API rfs_status rfs_session_profile(rfs_session *s, const float *input, int batch,
                                       int iters, rfs_profile *out);
RFS_API rfs_status rfs_predict_profile(rfs_session *s, const rfs_image *frames, int n,
                                       const rfs_predict_opts *o, int iters, rfs_profile *out);

/* ---- text and JSON ------------------------------------------------------------------- */

/* A growable text buffer; p is NUL-terminated after every append. Zero-initialise, reuse
 * with rfs_text_reset (keeps the memory), release with rfs_text_free. An append that
 * cannot grow the buffer sets oom and leaves the text incomplete. */
typedef struct rfs_text {
    char *p;
    size_t len, cap;
    int oom;
} rfs_text;
RFS_API void rfs_text_free(rfs_text *t);
RFS_API void rfs_text_reset(rfs_text *t);
RFS_API void rfs_text_put(rfs_text *t, const char *s, size_t n);
RFS_API void rfs_text_puts(rfs_text *t, const char *s);
RFS_API void rfs_text_int(rfs_text *t, long long v);
/* Python's repr(float): shortest round-trip digits, "1e-05", "63.0"; JSON null for inf/nan. */
RFS_API void rfs_text_double(rfs_text *t, double v);
/* A JSON string, quoted and escaped as orjson writes it (invalid UTF-8 becomes U+FFFD). */
RFS_API void rfs_text_string(rfs_text *t, const char *s);
/* 1 when s[0..n) is valid UTF-8 (no overlongs, surrogates or code points > U+10FFFF). */
RFS_API int rfs_utf8_valid(const char *s, size_t n);

typedef enum rfs_mask_format { RFS_MASK_POLYGON = 0, RFS_MASK_RLE = 1, RFS_MASK_NONE = 2 } rfs_mask_format;
/* "polygon" | "rle" | "none". */
RFS_API rfs_status rfs_mask_format_parse(const char *s, rfs_mask_format *out);

/* Reusable working memory for mask shapes (contours, RLE): one per thread. */
typedef struct rfs_shapes rfs_shapes;
RFS_API rfs_status rfs_shapes_create(rfs_shapes **out);
RFS_API void rfs_shapes_free(rfs_shapes *s);
/* Milliseconds spent tracing contours and encoding RLE with s so far (benchmarks). */
RFS_API double rfs_shapes_time_ms(const rfs_shapes *s);
/* The polygon Roboflow reports for a mask: the external contour with the most points, as
 * cv2.findContours(RETR_EXTERNAL, CHAIN_APPROX_SIMPLE) orders them; xy[2*i], xy[2*i+1]
 * in frame pixels, valid until the next call on s. An empty mask gives 0 points. */
RFS_API rfs_status rfs_mask_polygon(rfs_shapes *s, const rfs_mask *m, const int **xy,
                                    int *npoints);
/* The mask as COCO RLE (column-major counts over a W x H frame, pycocotools' compressed
 * string), NUL-terminated, valid until the next call on s. */
RFS_API rfs_status rfs_mask_rle(rfs_shapes *s, const rfs_mask *m, int W, int H,
                                const char **counts);

typedef struct rfs_response_opts {
    rfs_mask_format format;
    const char *inference_id;        /* NULL: a fresh UUID4 */
    double time;                     /* seconds; < 0: omitted */
    long long frame_id;              /* < 0: omitted */
    const char *source;              /* a "source" field naming the input; NULL: omitted */
    long long source_id;             /* a "source_id" after "source" when >= 0 (and source set) */
    const char *const *class_filter; /* keep only these class names; NULL: all */
    int n_class_filter;
} rfs_response_opts;
RFS_API rfs_response_opts rfs_response_defaults(void); /* polygons, no time, no frame_id */

/* The Roboflow response for one frame, appended to out: the dict of Roboflow's
 * InstanceSegmentationInferenceResponse as its server serialises it (key order, Python
 * float repr, a fresh UUID4 per detection, polygons or COCO RLE, `tracker_id` when a
 * tracker set one). Class names come from the model (its package's class names, else
 * COCO's with Roboflow's "background" placeholders). */
RFS_API rfs_status rfs_response_roboflow(rfs_text *out, rfs_shapes *shapes, const rfs_result *r,
                                         const rfs_model *m, const rfs_response_opts *o);
/* The official rfdetr predict result for one image, appended to out: supervision
 * Detections' fields (xyxy, confidence, class_id, class_name, masks as o->format says). */
RFS_API rfs_status rfs_response_rfdetr(rfs_text *out, rfs_shapes *shapes, const rfs_result *r,
                                       const rfs_model *m, const rfs_response_opts *o);
/* Roboflow's name for a class id: the package's class name, else COCO_LABELS (with
 * "background" at the unused ids), else the decimal id (written into buf). */
RFS_API const char *rfs_roboflow_class_name(const rfs_model *m, int class_id, char buf[16]);
/* The class name a preset reports for a detection's class_id: Roboflow's (above) for
 * roboflow, today's rfdetr data["class_name"] for rfdetr (args.class_names or COCO's 80
 * names, sparse COCO ids for official checkpoints, "" where there is no name), and
 * rfs_model_class_name for rfdetr-1.4. Never NULL; buf holds a number when one is made. */
RFS_API const char *rfs_class_name(const rfs_model *m, rfs_preset preset, int class_id,
                                   char buf[16]);

/* ---- tracking ------------------------------------------------------------------------ */

/* Multi-object tracking by detection: ByteTrack as supervision's sv.ByteTrack implements
 * it (its thresholds, Kalman filter, lost-track buffer and assignment), so the ids equal
 * what `tracker.update_with_detections(detections)` assigns. One tracker per video
 * stream; ids count from 1. As supervision returns only detections with a tracker id,
 * rfs_tracker_update removes the others (unless keep_unmatched).
 *
 *     rfs_tracker *t;
 *     rfs_tracker_create(&t, NULL);              // supervision's defaults
 *     for (each frame) {
 *         rfs_predict(s, &img, 1, &po, &res);
 *         rfs_tracker_update(t, &res);           // res.dets[i].tracker_id
 *     }
 *     rfs_tracker_free(t);
 */
typedef struct rfs_tracker rfs_tracker;

typedef struct rfs_tracker_opts {
    float activation_threshold; /* track_activation_threshold: 0.25 */
    int lost_buffer;            /* lost_track_buffer, frames: 30 */
    float matching_threshold;   /* minimum_matching_threshold: 0.8 */
    double frame_rate;          /* frame_rate: 30 (lost_buffer scales by frame_rate / 30) */
    int min_consecutive_frames; /* minimum_consecutive_frames: 1 */
    int keep_unmatched;         /* 1: keep detections without an id (tracker_id -1) */
} rfs_tracker_opts;

RFS_API rfs_tracker_opts rfs_tracker_defaults(void); /* supervision's sv.ByteTrack() */
/* o may be NULL (the defaults); bad options are RFS_ERR_ARG. */
RFS_API rfs_status rfs_tracker_create(rfs_tracker **out, const rfs_tracker_opts *o);
/* One frame: sets r->dets[i].tracker_id and removes the detections that got none (unless
 * keep_unmatched), keeping the order of the others. */
RFS_API rfs_status rfs_tracker_update(rfs_tracker *t, rfs_result *r);
/* The same on plain arrays: n boxes (x0, y0, x1, y1) and scores in, ids[n] out (-1: none). */
RFS_API rfs_status rfs_tracker_update_boxes(rfs_tracker *t, const float (*boxes)[4],
                                            const float *scores, int n, int *ids);
RFS_API void rfs_tracker_reset(rfs_tracker *t); /* forgets every track; ids from 1 again */
RFS_API void rfs_tracker_free(rfs_tracker *t);  /* accepts NULL */

/* ---- annotation ---------------------------------------------------------------------- */

/* Draws detections the way supervision's default annotators look (MaskAnnotator,
 * BoxAnnotator, LabelAnnotator; palette by class): masks blended at opacity 0.5 (smaller
 * areas on top), boxes 2 px, "name 0.93" labels on the box's top-left corner. */
typedef struct rfs_annot_det {
    float box[4];         /* x0, y0, x1, y1 in frame pixels */
    int class_id;         /* picks the color */
    float score;          /* printed with two decimals; negative: not printed */
    const char *label;    /* class name; NULL: the class id */
    const rfs_mask *mask; /* NULL or empty (w == 0): no mask */
} rfs_annot_det;

/* Zero-initialised options are the defaults. */
typedef struct rfs_annot_opts {
    int no_masks, no_boxes, no_labels;
    float mask_opacity; /* 0: supervision's 0.5 */
    int font_scale;     /* pixels per font dot; 0: 1 + frame height / 500 */
} rfs_annot_opts;

typedef struct rfs_annotator rfs_annotator;
RFS_API rfs_status rfs_annotator_create(rfs_annotator **out, const rfs_annot_opts *o);
/* Draws n detections on a BGR8 or RGB8 frame in place. */
RFS_API rfs_status rfs_annotate(rfs_annotator *a, rfs_frame *f, const rfs_annot_det *d, int n);
RFS_API void rfs_annotator_free(rfs_annotator *a);

#ifdef __cplusplus
}
#endif
#endif
