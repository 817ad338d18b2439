/* rfseg.h - RF-DETR instance segmentation in C: the public API.
 *
 * MANUAL
 *
 * A model is the immutable network: weights and configuration, loaded once from an
 * official RF-DETR-Seg checkpoint (.pth, or .safetensors) and shareable between threads.
 * A session is the per-thread state that runs it: activations, scratch buffers and, on
 * the GPU, streams and graphs; it is allocated once and reused for every frame. Use one
 * session per thread.
 *
 *     rfs_model *model;
 *     if (rfs_model_load(&model, "rf-detr-seg-nano.pth") != RFS_OK) {
 *         fprintf(stderr, "%s\n", rfs_last_error());
 *         return 1;
 *     }
 *     rfs_session_opts so = rfs_session_defaults();      // CPU, fp32, batch 1
 *     rfs_session *s;
 *     if (rfs_session_create(&s, model, &so) != RFS_OK) ...
 *
 *     rfs_image img = {.width = w, .height = h, .stride = 3 * w,
 *                      .format = RFS_PIX_RGB8, .data = pixels};
 *     rfs_predict_opts po = rfs_predict_defaults(RFS_PRESET_RFDETR);
 *     rfs_result res = {0};
 *     if (rfs_predict(s, &img, 1, &po, &res) != RFS_OK) ...
 *     for (int i = 0; i < res.count; i++) {
 *         const rfs_detection *d = &res.dets[i];
 *         printf("%s %.3f [%g %g %g %g]\n", rfs_model_class_name(model, d->class_id),
 *                d->score, d->box[0], d->box[1], d->box[2], d->box[3]);
 *     }
 *     rfs_result_free(&res);
 *     rfs_session_free(s);
 *     rfs_model_free(model);
 *
 * Errors. Every function that can fail returns an rfs_status; RFS_OK is 0. On failure a
 * message that names the problem (file, tensor, shape, limit) is available from
 * rfs_last_error(), per thread, until the next failure. Bad input (a corrupt checkpoint,
 * a truncated image, an absurd size) never crashes or aborts: it returns an error. Only a
 * broken internal invariant (a bug) aborts, printing file:line.
 *
 * Ownership. Objects returned through `**out` belong to the caller and are released with
 * the matching _free(), which accepts NULL. Pointers inside an rfs_raw point into the
 * session and stay valid until the next call on that session. An rfs_result owns its
 * memory; rfs_result_free() releases it and leaves it reusable.
 *
 * Logging. The library never writes to stdout or stderr; it reports progress and warnings
 * through the callback given to rfs_set_log() (none by default).
 *
 * Threads. The model is read-only after load: any number of sessions on any threads may
 * share it. A session must be used by one thread at a time. The CPU backend parallelises
 * each frame with OpenMP (rfs_session_opts.threads).
 *
 * The GPU. On a CUDA session rfs_predict runs the whole frame on the device, from the
 * uint8 pixels to the compact results (pre-processing of both presets, network,
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

#define RFSEG_VERSION "0.1.0"

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

const char *rfs_last_error(void);          /* message of this thread's last failure */
void rfs_clear_error(void);
const char *rfs_status_name(rfs_status st); /* "malformed input", ... */

typedef enum rfs_log_level { RFS_LOG_DEBUG, RFS_LOG_INFO, RFS_LOG_WARN, RFS_LOG_ERROR } rfs_log_level;
typedef void (*rfs_log_fn)(void *user, rfs_log_level level, const char *msg);
void rfs_set_log(rfs_log_fn fn, void *user, rfs_log_level min_level);

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

/* Loads an official checkpoint (.pth torch.save zip, or .safetensors), or a Roboflow model
 * package directory (weights.pth, class_names.txt, inference_config.json). The state dict
 * may sit under "model" (preferred, as the official loader), "ema_model" or at the top
 * level. */
rfs_status rfs_model_load(rfs_model **out, const char *path);

/* The official seg sizes: "seg-preview", "seg-nano", "seg-small", "seg-medium",
 * "seg-large", "seg-xlarge", "seg-2xlarge". Returns NULL when the name is unknown. */
const char *const *rfs_model_size_names(void); /* NULL-terminated list */

/* Builds a full-size model of a named size with deterministic random weights (no file,
 * no download): for benchmarks and tests of every size. */
rfs_status rfs_model_random(rfs_model **out, const char *size, uint64_t seed);

const rfs_config *rfs_model_config(const rfs_model *m);
/* Class name for a logit index: the checkpoint's args.class_names (index i+1), else COCO's;
 * never NULL (an unnamed index gives its decimal string). */
const char *rfs_model_class_name(const rfs_model *m, int class_id);
size_t rfs_model_param_count(const rfs_model *m); /* floats bound (used at inference) */
/* Writes the tensors the network uses as a safetensors file, with the settings that shapes
 * cannot carry in its metadata: rfs_model_load() of it gives the same model. */
rfs_status rfs_model_save(const rfs_model *m, const char *path);
void rfs_model_free(rfs_model *m);

/* Download of the official checkpoints (needs libcurl at build time). Writes the local
 * path of `size`'s checkpoint into path (cap bytes), downloading it into the user's cache
 * directory ($XDG_CACHE_HOME/rfseg or ~/.cache/rfseg) the first time. progress (may be
 * NULL) is called with bytes done and total (0 when unknown). */
typedef void (*rfs_progress_fn)(void *user, uint64_t done, uint64_t total);
rfs_status rfs_model_fetch(char *path, size_t cap, const char *size, rfs_progress_fn progress,
                           void *user);
/* The public URL of a size's checkpoint, or NULL. The environment variable
 * RFSEG_MODEL_URL_BASE replaces https://storage.googleapis.com/rfdetr (mirrors, tests). */
const char *rfs_model_url(const char *size);

/* ---- session ------------------------------------------------------------------------- */

typedef enum rfs_backend { RFS_BACKEND_CPU = 0, RFS_BACKEND_CUDA = 1 } rfs_backend;
typedef enum rfs_precision { RFS_FP32 = 0, RFS_FP16 = 1, RFS_BF16 = 2 } rfs_precision;

typedef struct rfs_session_opts {
    rfs_backend backend;
    rfs_precision precision; /* CPU: fp32 only */
    int max_batch;           /* frames per forward call, >= 1 */
    int threads;             /* CPU threads; 0 = OpenMP default */
    int device;              /* CUDA device ordinal */
} rfs_session_opts;

rfs_session_opts rfs_session_defaults(void);

typedef struct rfs_session rfs_session;
rfs_status rfs_session_create(rfs_session **out, const rfs_model *m, const rfs_session_opts *o);
void rfs_session_free(rfs_session *s);
const rfs_model *rfs_session_model(const rfs_session *s);

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
rfs_status rfs_forward(rfs_session *s, const float *input, int batch, rfs_raw *out);

/* Debug trace: when set, the CPU forward pass reports every named intermediate tensor
 * (names as the official module names, e.g. "backbone.0.encoder.0",
 * "transformer.decoder.layers.1"). shape has ndim entries, data is float32 row-major. */
typedef void (*rfs_trace_fn)(void *user, const char *name, const float *data, int ndim,
                             const int64_t *shape);
void rfs_session_set_trace(rfs_session *s, rfs_trace_fn fn, void *user);

/* ---- images and prediction ----------------------------------------------------------- */

typedef enum rfs_pixfmt { RFS_PIX_RGB8 = 0, RFS_PIX_BGR8 = 1 } rfs_pixfmt;

/* A packed 8-bit 3-channel image; the caller owns data. */
typedef struct rfs_image {
    int width, height;
    int stride; /* bytes per row, >= 3 * width */
    rfs_pixfmt format;
    const uint8_t *data;
} rfs_image;

typedef enum rfs_preset {
    RFS_PRESET_ROBOFLOW = 0,  /* Roboflow inference (docs/presets.md) */
    RFS_PRESET_RFDETR = 1,    /* official rfdetr RFDETR.predict as of rfdetr 1.9+ */
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

rfs_predict_opts rfs_predict_defaults(rfs_preset preset);

/* A binary mask at the frame size, stored as its smallest non-empty rectangle: pixel
 * (x, y) of the frame is set iff x0 <= x < x0+w, y0 <= y < y0+h and data[(y-y0)*w + (x-x0)]
 * is 1. An empty mask has w = h = 0 and data NULL. */
typedef struct rfs_mask {
    int x0, y0, w, h;
    uint8_t *data;
} rfs_mask;

typedef struct rfs_detection {
    float box[4];  /* x0, y0, x1, y1 in frame pixels (float, as the preset computes them) */
    float score;   /* sigmoid probability */
    int class_id;  /* logit index (rfdetr preset) or remapped class (roboflow preset) */
    int query;     /* decoder query it came from */
    int tracker_id;/* track id from a tracker, -1 when none assigned one */
    rfs_mask mask; /* when requested */
} rfs_detection;

/* Detections of one frame. The fields are read-only for the caller; the storage behind
 * them is the library's, reused from call to call (no allocation once warm), released by
 * rfs_result_free. Zero-initialise before first use. */
typedef struct rfs_result {
    int width, height;   /* frame size */
    int count;
    rfs_detection *dets; /* count detections, descending score */
    struct rfs_result_store *store; /* private */
} rfs_result;

/* Time spent per stage by rfs_predict on this session since the last reset, summed over
 * frames (milliseconds of wall time; the forward pass of a batch counts once). */
typedef struct rfs_stage_times {
    double preprocess_ms, forward_ms, select_ms, masks_ms;
    long frames, batches;
} rfs_stage_times;
void rfs_session_times(const rfs_session *s, rfs_stage_times *out);

/* The network alone, timed: `iters` runs at `batch` on whatever the session's input
 * buffer holds (median and fastest), plus the time per stage, the threads used (CPU) and
 * the device or instruction-set path. For benchmarks, never on the hot path. */
typedef struct rfs_profile {
    double network_ms;     /* median of iters runs */
    double network_min_ms; /* fastest run */
    int nstages;
    const char *stage[16]; /* stage names (static strings) */
    double stage_ms[16];   /* mean time per stage */
    int threads;           /* CPU threads of the session (CPU backend) */
    char device[96];       /* "cpu (OpenBLAS, fp32)", "NVIDIA H200 (sm_90a, fp16)", ... */
} rfs_profile;
rfs_status rfs_session_profile(rfs_session *s, int batch, int iters, rfs_profile *out);
void rfs_session_times_reset(rfs_session *s);

/* Preprocesses, runs and post-processes n frames (n <= max_batch), filling results[n]. */
rfs_status rfs_predict(rfs_session *s, const rfs_image *frames, int n,
                       const rfs_predict_opts *o, rfs_result *results);

/* Streaming: rfs_predict split in two, with up to two batches in flight (see Streaming in
 * the manual above). submit copies the frames (they may be reused or freed on return)
 * and starts the batch; collect waits for the oldest batch and fills results[0..n-1],
 * storing n in *count (count may be NULL). A third submit before a collect, a collect
 * with nothing in flight, and rfs_predict while batches are in flight fail with
 * RFS_ERR_ARG. pending: batches submitted and not yet collected. */
rfs_status rfs_predict_submit(rfs_session *s, const rfs_image *frames, int n,
                              const rfs_predict_opts *o);
rfs_status rfs_predict_collect(rfs_session *s, rfs_result *results, int *count);
int rfs_predict_pending(const rfs_session *s);
void rfs_result_free(rfs_result *r);

/* The network input and outputs of the last predicted frame (image 0 of the last batch)
 * as a safetensors file: input (1, 3, R, R), pred_logits (1, nq, K), pred_boxes (1, nq, 4),
 * pred_masks (1, nq, R/4, R/4), float32, on every backend. */
rfs_status rfs_session_save_raw(rfs_session *s, const char *path);

#ifdef __cplusplus
}
#endif
#endif
