/* kserve.c - Open Inference Protocol requests and responses (see kserve.h). */
#include "serve/kserve.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if RFS_HAVE_HTTP
#include <cjson/cJSON.h>

static const cJSON *item(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* Counts the string leaves of a (possibly nested) list; -1 when a leaf is not a string. */
static int count_strings(const cJSON *v) {
    if (cJSON_IsString(v)) return 1;
    if (!cJSON_IsArray(v)) return -1;
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, v) {
        int k = count_strings(c);
        if (k < 0) return -1;
        n += k;
    }
    return n;
}

static int take_strings(rfs_req *r, const cJSON *v, int *i, const rfs_req_limits *lim, rfs_http_err *e) {
    if (cJSON_IsString(v)) {
        char what[48];
        snprintf(what, sizeof what, "input element %d", *i);
        int st = rfs_req_image_base64(&r->images[*i], v->valuestring, strlen(v->valuestring), lim, what, e);
        (*i)++;
        return st;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, v) {
        int st = take_strings(r, c, i, lim, e);
        if (st) return st;
    }
    return 0;
}

static int param_bool(int *out, const cJSON *params, const char *key, rfs_http_err *e) {
    const cJSON *v = params ? item(params, key) : NULL;
    if (!v) return 0;
    if (!cJSON_IsBool(v)) return rfs_http_fail(e, 400, "parameter %s must be a boolean", key);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* Options from one "parameters" object (request level first, then the input's). */
static int apply_params(rfs_req *r, rfs_kserve_req *k, const cJSON *p, rfs_http_err *e) {
    if (!p) return 0;
    if (!cJSON_IsObject(p)) return rfs_http_fail(e, 400, "parameters must be an object");
    int st;
    const cJSON *v = item(p, "confidence");
    if (v) {
        float c;
        if (cJSON_IsNumber(v) && v->valuedouble >= 0.0 && v->valuedouble <= 1.0) c = (float)v->valuedouble;
        else if (!cJSON_IsString(v) || rfs_parse_confidence(v->valuestring, &c))
            return rfs_http_fail(e, 400, "parameter confidence must be a number in [0, 1] or a percentage such as \"40%%\"");
        r->custom_confidence = 1;
        r->confidence = c;
    }
    if ((v = item(p, "response_mask_format"))) {
        if (cJSON_IsString(v) && !strcmp(v->valuestring, "polygon")) r->format = RFS_MASK_POLYGON;
        else if (cJSON_IsString(v) && !strcmp(v->valuestring, "rle")) r->format = RFS_MASK_RLE;
        else return rfs_http_fail(e, 400, "parameter response_mask_format must be \"polygon\" or \"rle\"");
    }
    if ((v = item(p, "class_filter"))) {
        int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
        if (n < 0 || n > RFS_REQ_MAX_CLASS_FILTER)
            return rfs_http_fail(e, 400, "parameter class_filter must be a list of at most %d class names",
                                 RFS_REQ_MAX_CLASS_FILTER);
        for (int i = 0; i < r->n_class_filter; i++) free(r->class_filter[i]);
        free(r->class_filter);
        r->class_filter = NULL;
        r->n_class_filter = 0;
        if (n > 0) {
            if (!(r->class_filter = calloc((size_t)n, sizeof *r->class_filter)))
                return rfs_http_fail(e, 500, "out of memory");
            const cJSON *c;
            cJSON_ArrayForEach(c, v) {
                if (!cJSON_IsString(c)) return rfs_http_fail(e, 400, "parameter class_filter must be a list of strings");
                if (!(r->class_filter[r->n_class_filter] = strdup(c->valuestring)))
                    return rfs_http_fail(e, 500, "out of memory");
                r->n_class_filter++;
            }
        }
    }
    if ((st = param_bool(&r->no_auto_orient, p, "disable_preproc_auto_orient", e))) return st;
    if ((st = param_bool(&r->no_static_crop, p, "disable_preproc_static_crop", e))) return st;
    if ((st = param_bool(&r->no_grayscale, p, "disable_preproc_grayscale", e))) return st;
    if ((st = param_bool(&r->no_contrast, p, "disable_preproc_contrast", e))) return st;
    if ((st = param_bool(&k->binary_output, p, "binary_data_output", e))) return st;
    return 0;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Binary BYTES elements of one input: [u32 length][bytes] repeated over size bytes. */
static int take_binary(rfs_req *r, const uint8_t *b, size_t size, int count, const rfs_req_limits *lim,
                       rfs_http_err *e) {
    size_t at = 0;
    for (int i = 0; i < count; i++) {
        if (size - at < 4) return rfs_http_fail(e, 400, "binary input: element %d is truncated", i);
        uint32_t len = le32(b + at);
        at += 4;
        if (len > size - at) return rfs_http_fail(e, 400, "binary input: element %d is truncated", i);
        if (len > lim->max_image_bytes)
            return rfs_http_fail(e, 413, "input element %d: image larger than the limit of %zu bytes", i,
                                 lim->max_image_bytes);
        if (!(r->images[i].bytes = malloc(len ? len : 1))) return rfs_http_fail(e, 500, "out of memory");
        memcpy(r->images[i].bytes, b + at, len);
        r->images[i].len = len;
        at += len;
    }
    if (at != size) return rfs_http_fail(e, 400, "binary input: %zu bytes after the last element", size - at);
    return 0;
}

/* 1 when v is a JSON number holding a whole number in [0, max]; the range is checked
 * first, so converting it afterwards is defined (a double outside an integer type's
 * range is undefined behaviour). */
static int whole_number(const cJSON *v, double max) {
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= max &&
           v->valuedouble == floor(v->valuedouble);
}

static int shape_elements(const cJSON *shape, long long *out, rfs_http_err *e) {
    if (!cJSON_IsArray(shape)) return rfs_http_fail(e, 400, "input shape must be a list of integers");
    long long n = 1;
    const cJSON *c;
    cJSON_ArrayForEach(c, shape) {
        if (!whole_number(c, 1e6))
            return rfs_http_fail(e, 400, "input shape must be a list of non-negative integers");
        n *= (long long)c->valuedouble;
        if (n > 1000000) return rfs_http_fail(e, 413, "input shape too large");
    }
    *out = n;
    return 0;
}

static int parse(rfs_req *r, rfs_kserve_req *k, const cJSON *root, const char *bin, size_t bin_len,
                 const rfs_req_limits *lim, rfs_http_err *e) {
    int st;
    if (!cJSON_IsObject(root)) return rfs_http_fail(e, 400, "the request must be a JSON object");
    const cJSON *v = item(root, "id");
    if (v) {
        if (!cJSON_IsString(v) || strlen(v->valuestring) > RFS_REQ_MAX_ID)
            return rfs_http_fail(e, 400, "id must be a string of at most %d bytes", RFS_REQ_MAX_ID);
        snprintf(k->id, sizeof k->id, "%s", v->valuestring);
        k->has_id = 1;
        if (!(r->inference_id = strdup(v->valuestring))) return rfs_http_fail(e, 500, "out of memory");
    }
    const cJSON *inputs = item(root, "inputs");
    if (!cJSON_IsArray(inputs) || cJSON_GetArraySize(inputs) < 1)
        return rfs_http_fail(e, 400, "inputs must be a non-empty list");
    /* the image input, and where each input's binary data starts */
    const cJSON *img = NULL, *c;
    size_t at = 0, img_at = 0, img_size = 0;
    int img_binary = 0;
    cJSON_ArrayForEach(c, inputs) {
        if (!cJSON_IsObject(c)) return rfs_http_fail(e, 400, "every input must be an object");
        const cJSON *name = item(c, "name"), *dt = item(c, "datatype"), *params = item(c, "parameters");
        if (!cJSON_IsString(name) || !cJSON_IsString(dt))
            return rfs_http_fail(e, 400, "every input needs a name and a datatype");
        const cJSON *bs = params && cJSON_IsObject(params) ? item(params, "binary_data_size") : NULL;
        size_t size = 0;
        if (bs) {
            if (!whole_number(bs, (double)bin_len - (double)at))
                return rfs_http_fail(e, 400, "input \"%s\": binary_data_size is beyond the request body",
                                     name->valuestring);
            size = (size_t)bs->valuedouble;
        }
        int is_img = !strcmp(dt->valuestring, "BYTES") &&
                     (!img || (strcmp(item(img, "name")->valuestring, "image") &&
                               strcmp(item(img, "name")->valuestring, "images") &&
                               (!strcmp(name->valuestring, "image") || !strcmp(name->valuestring, "images"))));
        if (is_img) {
            img = c;
            img_at = at;
            img_size = size;
            img_binary = bs != NULL;
        }
        at += size;
    }
    if (at != bin_len) return rfs_http_fail(e, 400, "%zu bytes of binary data that no input claims", bin_len - at);
    if (!img) return rfs_http_fail(e, 400, "no BYTES input: send each image as an element of a BYTES input");
    long long count = 0;
    if ((st = shape_elements(item(img, "shape"), &count, e))) return st;
    if (count < 1) return rfs_http_fail(e, 400, "the image input has no elements");
    if (count > lim->max_images)
        return rfs_http_fail(e, 413, "%lld images in one request (limit %d)", count, lim->max_images);
    r->images = calloc((size_t)count, sizeof *r->images);
    if (!r->images) return rfs_http_fail(e, 500, "out of memory");
    r->n_images = (int)count;
    r->is_list = 1;
    if (img_binary) {
        if (item(img, "data")) return rfs_http_fail(e, 400, "an input has both data and binary_data_size");
        if ((st = take_binary(r, (const uint8_t *)bin + img_at, img_size, (int)count, lim, e))) return st;
    } else {
        const cJSON *data = item(img, "data");
        int ns = data ? count_strings(data) : -1;
        if (ns < 0) return rfs_http_fail(e, 400, "the image input's data must be a list of base64 strings");
        if (ns != count) return rfs_http_fail(e, 400, "the image input's shape says %lld elements, its data has %d", count, ns);
        int i = 0;
        if ((st = take_strings(r, data, &i, lim, e))) return st;
    }
    if ((st = apply_params(r, k, item(root, "parameters"), e))) return st;
    if ((st = apply_params(r, k, item(img, "parameters"), e))) return st;
    const cJSON *outs = item(root, "outputs");
    if (outs) {
        if (!cJSON_IsArray(outs)) return rfs_http_fail(e, 400, "outputs must be a list");
        cJSON_ArrayForEach(c, outs) {
            const cJSON *name = cJSON_IsObject(c) ? item(c, "name") : NULL;
            if (!cJSON_IsString(name) || strcmp(name->valuestring, "predictions"))
                return rfs_http_fail(e, 400, "unknown output (this model has one: \"predictions\")");
            if ((st = param_bool(&k->binary_output, item(c, "parameters"), "binary_data", e))) return st;
        }
    }
    return 0;
}

int rfs_kserve_parse_infer(rfs_req *r, rfs_kserve_req *k, const char *model_id, const char *body,
                           size_t n, size_t json_len, const rfs_req_limits *lim, rfs_http_err *e) {
    memset(r, 0, sizeof *r);
    memset(k, 0, sizeof *k);
    snprintf(r->model_id, sizeof r->model_id, "%s", model_id);
    if (json_len > n) return rfs_http_fail(e, 400, "Inference-Header-Content-Length is larger than the body");
    cJSON *root;
    int st = rfs_req_json_parse(&root, body, json_len, e);
    if (st) return st;
    st = parse(r, k, root, body + json_len, n - json_len, lim, e);
    cJSON_Delete(root);
    return st;
}
#else
int rfs_kserve_parse_infer(rfs_req *r, rfs_kserve_req *k, const char *model_id, const char *body,
                           size_t n, size_t json_len, const rfs_req_limits *lim, rfs_http_err *e) {
    memset(r, 0, sizeof *r);
    return rfs_http_fail(e, 501, "rfseg was built without libcjson");
}
#endif

void rfs_kserve_response(rfs_text *out, size_t *json_len, const rfs_kserve_req *k,
                         const char *model_name, const char *const *answers, const size_t *lens,
                         int n) {
    rfs_text_puts(out, "{\"model_name\":");
    rfs_text_string(out, model_name);
    if (k->has_id) {
        rfs_text_puts(out, ",\"id\":");
        rfs_text_string(out, k->id);
    }
    rfs_text_puts(out, ",\"outputs\":[{\"name\":\"predictions\",\"datatype\":\"BYTES\",\"shape\":[");
    rfs_text_int(out, n);
    rfs_text_puts(out, "],");
    if (k->binary_output) {
        size_t total = 0;
        for (int i = 0; i < n; i++) total += 4 + lens[i];
        rfs_text_puts(out, "\"parameters\":{\"binary_data_size\":");
        rfs_text_int(out, (long long)total);
        rfs_text_puts(out, "}}]}");
        *json_len = out->len;
        for (int i = 0; i < n; i++) {
            uint8_t l[4] = {(uint8_t)lens[i], (uint8_t)(lens[i] >> 8), (uint8_t)(lens[i] >> 16), (uint8_t)(lens[i] >> 24)};
            rfs_text_put(out, (const char *)l, 4);
            rfs_text_put(out, answers[i], lens[i]);
        }
        return;
    }
    rfs_text_puts(out, "\"data\":[");
    for (int i = 0; i < n; i++) {
        if (i) rfs_text_puts(out, ",");
        rfs_text_string(out, answers[i]);
    }
    rfs_text_puts(out, "]}]}");
    *json_len = out->len;
}
