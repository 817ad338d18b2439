/* request.c - Roboflow request parsing and image intake (see request.h). */
#include "serve/request.h"

#include "serve/base64.h"
#include "serve/multipart.h"
#include "serve/util.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int rfs_http_fail(rfs_http_err *e, int status, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->status = status;
    }
    return status;
}

void rfs_req_free(rfs_req *r) {
    if (!r) return;
    for (int i = 0; i < r->n_images; i++) {
        free(r->images[i].bytes);
        free(r->images[i].url);
    }
    free(r->images);
    for (int i = 0; i < r->n_class_filter; i++) free(r->class_filter[i]);
    free(r->class_filter);
    free(r->inference_id);
    free(r->api_key);
    memset(r, 0, sizeof *r);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Room for n images (n <= max_images, checked by the caller). */
static int alloc_images(rfs_req *r, int n, rfs_http_err *e) {
    r->images = calloc((size_t)n, sizeof *r->images);
    if (!r->images) return rfs_http_fail(e, 500, "out of memory");
    r->n_images = n;
    return 0;
}

/* One image from base64 text: decoded into owned bytes of at most max_image_bytes. */
int rfs_req_image_base64(rfs_req_image *im, const char *s, size_t n, const rfs_req_limits *lim,
                         const char *what, rfs_http_err *e) {
    size_t cap = rfs_b64_decoded_bound(n);
    if (cap > lim->max_image_bytes) cap = lim->max_image_bytes;
    im->bytes = malloc(cap ? cap : 1);
    if (!im->bytes) return rfs_http_fail(e, 500, "out of memory");
    char msg[160];
    rfs_b64_result br = rfs_b64_decode(im->bytes, cap, &im->len, s, n, msg, sizeof msg);
    if (br == RFS_B64_TOO_LARGE)
        return rfs_http_fail(e, 413, "%s: image larger than the limit of %zu bytes", what,
                             lim->max_image_bytes);
    if (br != RFS_B64_OK) {
        /* a raw image where base64 was expected gets a message that says so */
        rfs_image_format f = rfs_image_sniff((const uint8_t *)s, n);
        if (f != RFS_IMG_UNKNOWN && f != RFS_IMG_BMP)
            return rfs_http_fail(e, 400, "%s: got raw %s bytes, expected base64 text", what,
                                 rfs_image_format_name(f));
        return rfs_http_fail(e, 400, "%s: %s", what, msg);
    }
    return 0;
}

static int image_from_url(rfs_req_image *im, const char *url, const rfs_req_limits *lim,
                          const char *what, rfs_http_err *e) {
    if (!lim->allow_urls)
        return rfs_http_fail(e, 400, "%s: image URLs are not accepted by this server (start it "
                                     "with --allow-urls to allow them); send the image as base64",
                             what);
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        return rfs_http_fail(e, 400, "%s: only http:// and https:// image URLs are supported", what);
    if (strlen(url) > 4096) return rfs_http_fail(e, 413, "%s: image URL longer than 4096 bytes", what);
    im->url = dup_str(url);
    return im->url ? 0 : rfs_http_fail(e, 500, "out of memory");
}

/* ---- strict JSON -------------------------------------------------------------------- */

#if RFS_HAVE_HTTP
#include <cjson/cJSON.h>

/* A JSON number token exactly as RFC 8259 writes it; returns its length or 0. */
static size_t json_number_len(const char *s, size_t n) {
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i < n && s[i] == '0') i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        while (i < n && isdigit((unsigned char)s[i])) i++;
    else return 0;
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && isdigit((unsigned char)s[i])) i++;
        if (i == d) return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t d = i;
        while (i < n && isdigit((unsigned char)s[i])) i++;
        if (i == d) return 0;
    }
    return i;
}

/* What cJSON does not check: UTF-8, raw control characters in strings, the number grammar;
 * plus bounds on nesting and on the number of values (cJSON allocates one node per value,
 * so this bounds its memory). */
static int json_prescan(const char *s, size_t n, rfs_http_err *e) {
    if (!rfs_utf8_valid(s, n)) return rfs_http_fail(e, 400, "malformed JSON: body is not valid UTF-8");
    size_t values = 1;
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
            else if (c < 0x20)
                return rfs_http_fail(e, 400, "malformed JSON: control character in a string at offset %zu", i);
            continue;
        }
        if (c == '"') in_str = 1;
        else if (c == '[' || c == '{') {
            if (++depth > RFS_REQ_MAX_JSON_DEPTH)
                return rfs_http_fail(e, 400, "malformed JSON: nested deeper than %d levels",
                                     RFS_REQ_MAX_JSON_DEPTH);
            values++;
        } else if (c == ']' || c == '}') depth--;
        else if (c == ',') values++;
        else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t run = i;
            while (run < n && (isdigit((unsigned char)s[run]) || s[run] == '-' || s[run] == '+' ||
                               s[run] == '.' || s[run] == 'e' || s[run] == 'E'))
                run++;
            if (json_number_len(s + i, run - i) != run - i)
                return rfs_http_fail(e, 400, "malformed JSON: bad number at offset %zu", i);
            i = run - 1;
        }
        if (values > RFS_REQ_MAX_JSON_VALUES)
            return rfs_http_fail(e, 413, "JSON body with more than %d values", RFS_REQ_MAX_JSON_VALUES);
    }
    return 0;
}

static const char *type_name(const cJSON *v) {
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "a list";
    return "an object";
}

/* A string field of bounded length; returns 0 when it is one. */
static int want_string(const cJSON *v, const char *key, size_t max_len, rfs_http_err *e) {
    if (!cJSON_IsString(v))
        return rfs_http_fail(e, 422, "%s must be a string, got %s", key, type_name(v));
    if (strlen(v->valuestring) > max_len)
        return rfs_http_fail(e, 422, "%s longer than %zu bytes", key, max_len);
    return 0;
}

static int parse_image_obj(rfs_req_image *im, const cJSON *o, const rfs_req_limits *lim,
                           const char *what, rfs_http_err *e) {
    if (!cJSON_IsObject(o))
        return rfs_http_fail(e, 422, "%s must be an object {\"type\": ..., \"value\": ...}, got %s",
                             what, type_name(o));
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value");
    if (!t) return rfs_http_fail(e, 422, "%s: field \"type\" is required", what);
    if (!cJSON_IsString(t)) return rfs_http_fail(e, 422, "%s: type must be a string", what);
    const char *type = t->valuestring;
    if (!strcmp(type, "base64") || !strcmp(type, "url")) {
        if (!v || cJSON_IsNull(v)) return rfs_http_fail(e, 422, "%s: field \"value\" is required", what);
        if (!cJSON_IsString(v))
            return rfs_http_fail(e, 422, "%s: value must be a string, got %s", what, type_name(v));
        if (type[0] == 'u') return image_from_url(im, v->valuestring, lim, what, e);
        return rfs_req_image_base64(im, v->valuestring, strlen(v->valuestring), lim, what, e);
    }
    static const char *const other[] = {"numpy", "numpy_object", "pil", "file", "multipart"};
    for (size_t k = 0; k < sizeof other / sizeof *other; k++)
        if (!strcmp(type, other[k]))
            return rfs_http_fail(e, 400, "%s: image type \"%s\" cannot be sent over HTTP; use "
                                         "\"base64\"", what, type);
    return rfs_http_fail(e, 422, "%s: unknown image type (expected \"base64\" or \"url\")", what);
}

typedef enum { F_STRING, F_NUMBER, F_BOOL, F_ANY } field_kind;

/* Fields of the request that are accepted with their type checked but change nothing. */
static const struct {
    const char *key;
    field_kind kind;
} ignored_fields[] = {
    {"iou_threshold", F_NUMBER},           {"max_detections", F_NUMBER},
    {"max_candidates", F_NUMBER},          {"tradeoff_factor", F_NUMBER},
    {"class_agnostic_nms", F_BOOL},        {"fix_batch_size", F_BOOL},
    {"disable_active_learning", F_BOOL},   {"usage_billable", F_BOOL},
    {"disable_model_monitoring", F_BOOL},  {"enforce_dense_masks_in_inference_models", F_BOOL},
    {"visualization_labels", F_ANY},       {"visualization_stroke_width", F_ANY},
    {"source", F_ANY},
    {"source_info", F_ANY},                {"mask_decode_mode", F_STRING},
    {"active_learning_target_dataset", F_ANY},
};

static const char *const known_fields[] = {
    "model_id", "image", "confidence", "class_filter", "response_mask_format", "id", "api_key",
    "visualize_predictions", "disable_preproc_auto_orient", "disable_preproc_contrast",
    "disable_preproc_grayscale", "disable_preproc_static_crop",
};

/* Optional boolean (null = absent = false). */
static int opt_bool(int *out, const cJSON *root, const char *key, rfs_http_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return rfs_http_fail(e, 422, "%s must be a boolean, got %s", key, type_name(v));
    *out = cJSON_IsTrue(v);
    return 0;
}

static int check_fields(const cJSON *root, rfs_http_err *e) {
    /* a known key given twice is ambiguous (JSON parsers disagree on which wins) */
    size_t n_known = sizeof known_fields / sizeof *known_fields;
    size_t n_ign = sizeof ignored_fields / sizeof *ignored_fields;
    for (size_t k = 0; k < n_known + n_ign; k++) {
        const char *key = k < n_known ? known_fields[k] : ignored_fields[k - n_known].key;
        int count = 0;
        for (const cJSON *c = root->child; c; c = c->next)
            if (c->string && !strcmp(c->string, key) && ++count > 1)
                return rfs_http_fail(e, 400, "malformed JSON: key \"%s\" appears twice", key);
    }
    for (size_t k = 0; k < n_ign; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, ignored_fields[k].key);
        if (!v || cJSON_IsNull(v)) continue;
        field_kind kind = ignored_fields[k].kind;
        if ((kind == F_STRING && !cJSON_IsString(v)) || (kind == F_NUMBER && !cJSON_IsNumber(v)) ||
            (kind == F_BOOL && !cJSON_IsBool(v)))
            return rfs_http_fail(e, 422, "%s must be %s, got %s", ignored_fields[k].key,
                                 kind == F_STRING ? "a string" : kind == F_NUMBER ? "a number" : "a boolean",
                                 type_name(v));
    }
    return 0;
}

static int parse_fields(rfs_req *r, const cJSON *root, const rfs_req_limits *lim, rfs_http_err *e) {
    int st;
    if (!cJSON_IsObject(root)) return rfs_http_fail(e, 422, "the request body must be a JSON object, got %s", type_name(root));
    if ((st = check_fields(root, e))) return st;

    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "model_id");
    if (!v || cJSON_IsNull(v)) return rfs_http_fail(e, 422, "model_id is required");
    if ((st = want_string(v, "model_id", RFS_REQ_MAX_ID, e))) return st;
    snprintf(r->model_id, sizeof r->model_id, "%s", v->valuestring);

    v = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (v && !cJSON_IsNull(v)) {
        if ((st = want_string(v, "id", RFS_REQ_MAX_ID, e))) return st;
        if (!(r->inference_id = dup_str(v->valuestring))) return rfs_http_fail(e, 500, "out of memory");
    }

    v = cJSON_GetObjectItemCaseSensitive(root, "api_key");
    if (v && !cJSON_IsNull(v)) {
        if ((st = want_string(v, "api_key", RFS_REQ_MAX_ID, e))) return st;
        if (!(r->api_key = dup_str(v->valuestring))) return rfs_http_fail(e, 500, "out of memory");
    }

    v = cJSON_GetObjectItemCaseSensitive(root, "confidence");
    if (v && !cJSON_IsNull(v)) {
        if (cJSON_IsString(v)) {
            if (strcmp(v->valuestring, "default") && strcmp(v->valuestring, "best")) {
                float c;
                if (rfs_parse_confidence(v->valuestring, &c))
                    return rfs_http_fail(e, 422, "confidence must be a number in [0, 1], a percentage "
                                                 "such as \"40%%\", \"default\" or \"best\"");
                r->custom_confidence = 1;
                r->confidence = c;
            }
        } else if (cJSON_IsNumber(v)) {
            double c = v->valuedouble;
            if (!(c >= 0.0 && c <= 1.0)) return rfs_http_fail(e, 422, "confidence must be in [0, 1], got %g", c);
            r->custom_confidence = 1;
            r->confidence = (float)c;
        } else return rfs_http_fail(e, 422, "confidence must be a number or \"default\" or \"best\", got %s", type_name(v));
    }

    v = cJSON_GetObjectItemCaseSensitive(root, "response_mask_format");
    if (v && !cJSON_IsNull(v)) {
        if (cJSON_IsString(v) && !strcmp(v->valuestring, "polygon")) r->format = RFS_MASK_POLYGON;
        else if (cJSON_IsString(v) && !strcmp(v->valuestring, "rle")) r->format = RFS_MASK_RLE;
        else return rfs_http_fail(e, 422, "response_mask_format must be \"polygon\" or \"rle\"");
    }

    v = cJSON_GetObjectItemCaseSensitive(root, "class_filter");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsArray(v)) return rfs_http_fail(e, 422, "class_filter must be a list of strings, got %s", type_name(v));
        int n = cJSON_GetArraySize(v);
        if (n > RFS_REQ_MAX_CLASS_FILTER)
            return rfs_http_fail(e, 413, "class_filter with more than %d names", RFS_REQ_MAX_CLASS_FILTER);
        if (n > 0) { /* an empty list filters nothing (Python truthiness, as Roboflow) */
            r->class_filter = calloc((size_t)n, sizeof *r->class_filter);
            if (!r->class_filter) return rfs_http_fail(e, 500, "out of memory");
            const cJSON *c;
            cJSON_ArrayForEach(c, v) {
                if (!cJSON_IsString(c)) return rfs_http_fail(e, 422, "class_filter must be a list of strings, got an item that is %s", type_name(c));
                if (!(r->class_filter[r->n_class_filter] = dup_str(c->valuestring)))
                    return rfs_http_fail(e, 500, "out of memory");
                r->n_class_filter++;
            }
        }
    }

    int vis = 0;
    if ((st = opt_bool(&vis, root, "visualize_predictions", e))) return st;
    if (vis) return rfs_http_fail(e, 422, "visualize_predictions is not supported by rfseg serve");
    if ((st = opt_bool(&r->no_auto_orient, root, "disable_preproc_auto_orient", e))) return st;
    if ((st = opt_bool(&r->no_contrast, root, "disable_preproc_contrast", e))) return st;
    if ((st = opt_bool(&r->no_grayscale, root, "disable_preproc_grayscale", e))) return st;
    if ((st = opt_bool(&r->no_static_crop, root, "disable_preproc_static_crop", e))) return st;

    /* images last: the expensive part, after every cheap check passed */
    v = cJSON_GetObjectItemCaseSensitive(root, "image");
    if (!v || cJSON_IsNull(v)) return rfs_http_fail(e, 422, "image is required");
    if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        if (n == 0) return rfs_http_fail(e, 422, "image is an empty list");
        if (n > lim->max_images)
            return rfs_http_fail(e, 413, "%d images in one request (limit %d)", n, lim->max_images);
        r->is_list = 1;
        if ((st = alloc_images(r, n, e))) return st;
        int i = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, v) {
            char what[32];
            snprintf(what, sizeof what, "image[%d]", i);
            if ((st = parse_image_obj(&r->images[i], c, lim, what, e))) return st;
            i++;
        }
        return 0;
    }
    if ((st = alloc_images(r, 1, e))) return st;
    return parse_image_obj(&r->images[0], v, lim, "image", e);
}

int rfs_req_json_parse(cJSON **out, const char *body, size_t n, rfs_http_err *e) {
    *out = NULL;
    int st;
    size_t ws = 0;
    while (ws < n && (body[ws] == ' ' || body[ws] == '\t' || body[ws] == '\r' || body[ws] == '\n')) ws++;
    if (ws == n) return rfs_http_fail(e, 400, "empty request body: expected a JSON object");
    if ((st = json_prescan(body, n, e))) return st;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, n, &end, 0);
    if (!root) {
        size_t off = end && end >= body && end <= body + n ? (size_t)(end - body) : 0;
        return rfs_http_fail(e, 400, "malformed JSON at offset %zu", off);
    }
    while (end < body + n && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')) end++;
    if (end != body + n) {
        cJSON_Delete(root);
        return rfs_http_fail(e, 400, "malformed JSON: extra data at offset %zu", (size_t)(end - body));
    }
    *out = root;
    return 0;
}

int rfs_req_parse_infer(rfs_req *r, const char *body, size_t n, const rfs_req_limits *lim,
                        rfs_http_err *e) {
    memset(r, 0, sizeof *r);
    cJSON *root;
    int st = rfs_req_json_parse(&root, body, n, e);
    if (st) return st;
    st = parse_fields(r, root, lim, e);
    cJSON_Delete(root);
    return st;
}
#else
int rfs_req_parse_infer(rfs_req *r, const char *body, size_t n, const rfs_req_limits *lim,
                        rfs_http_err *e) {
    memset(r, 0, sizeof *r);
    return rfs_http_fail(e, 501, "rfseg was built without libcjson: JSON requests not built");
}
#endif

/* ---- legacy route ---------------------------------------------------------------------- */

static int query_bool(int *out, rfs_query_fn q, void *u, const char *key, rfs_http_err *e) {
    const char *v = q(u, key);
    if (!v) return 0;
    if (!strcasecmp(v, "true") || !strcmp(v, "1")) *out = 1;
    else if (!strcasecmp(v, "false") || !strcmp(v, "0")) *out = 0;
    else return rfs_http_fail(e, 422, "%s must be true or false", key);
    return 0;
}

int rfs_req_parse_legacy(rfs_req *r, const char *dataset_id, const char *version_id,
                         rfs_query_fn q, void *qu, const char *content_type, const uint8_t *body,
                         size_t n, const rfs_req_limits *lim, rfs_http_err *e) {
    memset(r, 0, sizeof *r);
    int st;
    size_t la = strlen(dataset_id), lb = strlen(version_id);
    if (la + lb + 1 > RFS_REQ_MAX_ID)
        return rfs_http_fail(e, 422, "model id longer than %d bytes", RFS_REQ_MAX_ID);
    memcpy(r->model_id, dataset_id, la);
    r->model_id[la] = '/';
    memcpy(r->model_id + la + 1, version_id, lb + 1);

    const char *v = q(qu, "confidence");
    if (v) {
        char *end;
        double c = strtod(v, &end);
        size_t vl = strlen(v);
        if (vl && v[vl - 1] == '%') { /* "40%": the same syntax as --confidence */
            float f;
            if (rfs_parse_confidence(v, &f)) return rfs_http_fail(e, 422, "confidence must be a number");
            c = f;
        } else {
            if (end == v || *end || !isfinite(c) || c < 0) return rfs_http_fail(e, 422, "confidence must be a number");
            if (c >= 1.0) c /= 100.0; /* percent, as Roboflow's legacy route reads it */
        }
        if (c < 0.01) c = 0.01;       /* CONFIDENCE_LOWER_BOUND_OOM_PREVENTION */
        if (c > 1.0) return rfs_http_fail(e, 422, "confidence must be at most 100 (percent)");
        r->custom_confidence = 1;
        r->confidence = (float)c;
    }
    v = q(qu, "api_key");
    if (v && !(r->api_key = dup_str(v))) return rfs_http_fail(e, 500, "out of memory");
    v = q(qu, "format");
    if (v && strcmp(v, "json")) {
        if (!strcmp(v, "image")) return rfs_http_fail(e, 400, "format=image is not supported; use format=json");
        return rfs_http_fail(e, 422, "format must be json");
    }
    v = q(qu, "response_mask_format");
    if (v) {
        if (!strcmp(v, "polygon")) r->format = RFS_MASK_POLYGON;
        else if (!strcmp(v, "rle")) r->format = RFS_MASK_RLE;
        else return rfs_http_fail(e, 422, "response_mask_format must be polygon or rle");
    }
    if ((st = query_bool(&r->no_auto_orient, q, qu, "disable_preproc_auto_orient", e))) return st;
    if ((st = query_bool(&r->no_contrast, q, qu, "disable_preproc_contrast", e))) return st;
    if ((st = query_bool(&r->no_grayscale, q, qu, "disable_preproc_grayscale", e))) return st;
    if ((st = query_bool(&r->no_static_crop, q, qu, "disable_preproc_static_crop", e))) return st;
    v = q(qu, "image_type");
    if (v && strcmp(v, "base64") && strcmp(v, "file") && strcmp(v, "url"))
        return rfs_http_fail(e, 400, "image_type \"%s\" is not supported; use base64", v);

    if ((st = alloc_images(r, 1, e))) return st;
    v = q(qu, "image");
    if (v) return image_from_url(&r->images[0], v, lim, "image", e);
    if (n == 0)
        return rfs_http_fail(e, 400, "no image: POST base64 text or a multipart file upload");
    if (rfs_multipart_is_form(content_type)) {
        const uint8_t *file;
        size_t len;
        char msg[200];
        if (rfs_multipart_file(&file, &len, content_type, body, n, msg, sizeof msg))
            return rfs_http_fail(e, 400, "%s", msg);
        if (len > lim->max_image_bytes)
            return rfs_http_fail(e, 413, "image larger than the limit of %zu bytes", lim->max_image_bytes);
        if (!(r->images[0].bytes = malloc(len))) return rfs_http_fail(e, 500, "out of memory");
        memcpy(r->images[0].bytes, file, len);
        r->images[0].len = len;
        return 0;
    }
    return rfs_req_image_base64(&r->images[0], (const char *)body, n, lim, "image", e);
}

/* ---- image intake -------------------------------------------------------------------------- */

void rfs_req_image_name(char *out, size_t cap, const rfs_req *r, int i) {
    if (r->is_list) snprintf(out, cap, "image[%d]", i);
    else snprintf(out, cap, "image");
}

int rfs_req_decode_image(rfs_frame *frame, const rfs_req *r, int i, int auto_orient,
                         uint64_t max_pixels, rfs_http_err *e) {
    char what[32];
    rfs_req_image_name(what, sizeof what, r, i);
    const rfs_req_image *im = &r->images[i];
    if (!im->bytes) return rfs_http_fail(e, 400, "%s: no image bytes", what);
    rfs_decode_opts o = {.no_auto_orient = r->no_auto_orient || !auto_orient, .max_pixels = max_pixels};
    rfs_status st = rfs_image_decode(frame, im->bytes, im->len, &o);
    if (st == RFS_OK) return 0;
    if (st == RFS_ERR_NOMEM) return rfs_http_fail(e, 503, "%s: out of memory decoding the image", what);
    if (im->url) /* never echo what a remote server sent */
        return rfs_http_fail(e, 400, "%s: the content at the image URL is not an image rfseg can "
                                     "decode (JPEG, PNG or BMP)", what);
    if (st == RFS_ERR_LIMIT) return rfs_http_fail(e, 413, "%s: %s", what, rfs_last_error());
    return rfs_http_fail(e, 400, "%s: could not decode the image: %s", what, rfs_last_error());
}
