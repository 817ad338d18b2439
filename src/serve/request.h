/* request.h - Roboflow inference requests in, validated and bounded, ready to run.
 *
 * Two entry points, one result type:
 *   rfs_req_parse_infer   POST /infer/instance_segmentation: a JSON body
 *                         (InstanceSegmentationInferenceRequest, roboflow-pipeline.md 6)
 *   rfs_req_parse_legacy  POST /{dataset_id}/{version_id}: query parameters plus a raw
 *                         base64 body or a multipart/form-data file upload
 * Both check everything a client controls before any real work: body syntax (strict JSON:
 * UTF-8, one value, no trailing bytes, bounded nesting and value count), the type of every
 * known field (unknown fields are ignored, as pydantic does), images per request, base64,
 * encoded bytes per image. rfs_req_decode_images then decodes the images with the pixel
 * limit applied to each image header before its pixels are allocated.
 *
 * Errors are an HTTP status and a message (rfs_http_err), never a crash: 400 malformed
 * (JSON syntax, base64, undecodable image), 422 wrong schema (missing field, wrong type,
 * bad value), 413 a limit exceeded, 500 out of memory.
 *
 * Memory: an rfs_req owns everything it points to; rfs_req_free releases it.
 */
#ifndef RFS_SERVE_REQUEST_H
#define RFS_SERVE_REQUEST_H

#include "rfseg.h"

#include <stddef.h>
#include <stdint.h>

#define RFS_REQ_MAX_JSON_VALUES 10000 /* JSON values (objects, arrays, scalars) per body */
#define RFS_REQ_MAX_JSON_DEPTH 32
#define RFS_REQ_MAX_CLASS_FILTER 1000
#define RFS_REQ_MAX_ID 256 /* bytes of model_id / dataset_id/version_id and of id */

typedef struct rfs_http_err {
    int status;     /* HTTP status; 0: no error */
    char msg[400];
} rfs_http_err;

/* Records status and message in e (when e is not NULL) and returns status. */
int rfs_http_fail(rfs_http_err *e, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

typedef struct rfs_req_limits {
    size_t max_image_bytes; /* encoded bytes per image (after base64) */
    uint64_t max_pixels;    /* width * height per image, from its header */
    int max_images;         /* images per request */
    int allow_urls;         /* 1: accept {type: "url"} / ?image=URL (fetched by the caller) */
} rfs_req_limits;

typedef struct rfs_req_image {
    uint8_t *bytes; /* encoded image (owned); NULL for a URL */
    size_t len;
    char *url;      /* when the client gave a URL (only with allow_urls) */
} rfs_req_image;

typedef struct rfs_req {
    char model_id[RFS_REQ_MAX_ID + 1];
    int is_list;          /* image was a list: the answer is a list */
    int n_images;
    rfs_req_image *images;
    int custom_confidence; /* 0: the model's default ("default", "best" or absent) */
    float confidence;
    rfs_mask_format format;
    int no_auto_orient, no_contrast, no_grayscale, no_static_crop; /* disable_preproc_* */
    char *inference_id;   /* the request's `id`; NULL: none given */
    char *api_key;        /* the request's api_key (JSON field or query); NULL: none */
    char **class_filter;  /* NULL: no filter */
    int n_class_filter;
} rfs_req;

/* Looks up a query parameter (already URL-decoded); NULL when absent. */
typedef const char *(*rfs_query_fn)(void *user, const char *key);

/* One image from base64 text (an optional data:image/...;base64, prefix, whitespace
 * allowed): decoded into im->bytes, at most lim->max_image_bytes. `what` names the image
 * in messages. 0 or the HTTP status of the error. */
int rfs_req_image_base64(rfs_req_image *im, const char *s, size_t n, const rfs_req_limits *lim,
                         const char *what, rfs_http_err *e);

#if RFS_HAVE_HTTP
#include <cjson/cJSON.h>
/* A strict JSON body (UTF-8, RFC 8259 numbers, bounded nesting and value count, nothing
 * after the value) parsed into *out (cJSON_Delete it). 0 or 400/413. */
int rfs_req_json_parse(cJSON **out, const char *body, size_t n, rfs_http_err *e);
#endif

/* POST /infer/instance_segmentation. Returns 0 or the HTTP status of the error. */
int rfs_req_parse_infer(rfs_req *r, const char *body, size_t n, const rfs_req_limits *lim,
                        rfs_http_err *e);

/* POST (or GET with ?image=URL) /{dataset_id}/{version_id}. content_type may be NULL. */
int rfs_req_parse_legacy(rfs_req *r, const char *dataset_id, const char *version_id,
                         rfs_query_fn query, void *query_user, const char *content_type,
                         const uint8_t *body, size_t n, const rfs_req_limits *lim,
                         rfs_http_err *e);

/* "image" or "image[i]" (for a list), as messages name an image. */
void rfs_req_image_name(char *out, size_t cap, const rfs_req *r, int i);

/* Decodes image i of r into frame (BGR8; the buffer is owned by the frame, released with
 * rfs_frame_free) with the pixel limit checked on its header. EXIF orientation is applied
 * when the model's package enables auto-orient (auto_orient) and the request does not
 * disable it. An image given as a URL must have been fetched first; its decode errors
 * never quote its bytes. */
int rfs_req_decode_image(rfs_frame *frame, const rfs_req *r, int i, int auto_orient,
                         uint64_t max_pixels, rfs_http_err *e);

void rfs_req_free(rfs_req *r);

#endif
