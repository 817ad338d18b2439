/* kserve.h - the Open Inference Protocol (KServe v2 / Triton HTTP) for rfseg serve.
 *
 *   POST /v2/models/{m}[/versions/{v}]/infer
 *
 * Request: {"id"?, "parameters"?, "inputs": [input...], "outputs"?: [{"name", "parameters"?}]}.
 * The images are the elements of the first BYTES input (an input named "image" or
 * "images" wins when there are several), one encoded image (JPEG, PNG, BMP) per element:
 *   - JSON: "data" is a list (flat or nested) of strings, each the image as base64 (an
 *     optional data:image/...;base64, prefix allowed);
 *   - binary tensor extension: the header `Inference-Header-Content-Length: N` says the
 *     first N body bytes are the JSON; an input with parameters {"binary_data_size": S}
 *     has no "data" and its S bytes follow the JSON (inputs in order), each element as a
 *     4-byte little-endian length and the image's bytes.
 * Options, in the request's "parameters" (or the image input's, which win): confidence (a
 * number in [0, 1] or a string "40%"), response_mask_format ("polygon" | "rle"),
 * class_filter (list of class names), disable_preproc_auto_orient,
 * disable_preproc_static_crop, disable_preproc_grayscale (booleans).
 *
 * Response: {"model_name", "model_version"?, "id"?, "outputs": [{"name": "predictions",
 * "datatype": "BYTES", "shape": [n], "data": [json...]}]}: element i is the Roboflow JSON
 * answer for image i, exactly as POST /infer/instance_segmentation would give it. With
 * the output requested as binary ("outputs": [{"name": "predictions", "parameters":
 * {"binary_data": true}}], or the request parameter "binary_data_output": true), the
 * output has parameters {"binary_data_size": S} and no "data"; its bytes follow the JSON
 * (header Inference-Header-Content-Length) in the BYTES layout above.
 *
 * Errors: {"error": "..."} with the status rfseg serve uses everywhere (400, 404, 413, ...).
 */
#ifndef RFS_SERVE_KSERVE_H
#define RFS_SERVE_KSERVE_H

#include "rfseg.h"
#include "serve/request.h"

typedef struct rfs_kserve_req {
    char id[RFS_REQ_MAX_ID + 1]; /* the request's id; "" when none */
    int has_id;
    int binary_output;
} rfs_kserve_req;

/* Parses an infer request for model_id into r (images and options). body holds n bytes;
 * json_len is the value of Inference-Header-Content-Length (n when the header is absent).
 * 0 or the HTTP status of the error. */
int rfs_kserve_parse_infer(rfs_req *r, rfs_kserve_req *k, const char *model_id, const char *body,
                           size_t n, size_t json_len, const rfs_req_limits *lim, rfs_http_err *e);

/* Writes the response for n answers (answers[i], lens[i] bytes of JSON each) into out;
 * *json_len receives the length of the JSON part (the whole body unless binary). */
void rfs_kserve_response(rfs_text *out, size_t *json_len, const rfs_kserve_req *k,
                         const char *model_name, const char *const *answers, const size_t *lens,
                         int n);

#endif
