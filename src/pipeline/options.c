/* options.c - options by name from text (rfseg.h: rfs_session_opts_set,
 * rfs_predict_opts_set, rfs_parse_confidence): the one place where command lines, HTTP
 * requests and job fields become rfs_session_opts and rfs_predict_opts, so the same text
 * means the same thing everywhere and a bad value is an error everywhere. */
#include "model/backend.h"
#include "util/err.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_int(const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

static int parse_bool(const char *s, int *out) {
    if (!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes")) return *out = 1, 1;
    if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no")) return *out = 0, 1;
    return 0;
}

rfs_status rfs_parse_confidence(const char *s, float *out) {
    if (!s || !*s) return RFS_FAIL(RFS_ERR_ARG, "confidence: empty value");
    char *end;
    errno = 0;
    /* decimal -> double -> float, as Python's float() then PyTorch's float32 comparison:
     * parsing straight to float could round differently (double rounding) */
    double v = strtod(s, &end);
    const int pct = *end == '%' && end[1] == 0;
    if (errno || end == s || (*end && !pct) || !isfinite(v))
        return RFS_FAIL(RFS_ERR_ARG, "confidence '%s': expected a fraction in [0, 1] or a "
                        "percentage like 40%%", s);
    if (pct) v /= 100.0;
    if (!(v >= 0.0 && v <= 1.0))
        return RFS_FAIL(RFS_ERR_ARG, "confidence '%s' is outside [0, 1] (or [0%%, 100%%])", s);
    *out = (float)v;
    return RFS_OK;
}

static const char *const preset_names[] = {"roboflow", "rfdetr", "rfdetr-1.4"};

rfs_status rfs_preset_parse(const char *s, rfs_preset *out) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, preset_names[i])) {
            *out = (rfs_preset)i;
            return RFS_OK;
        }
    return RFS_FAIL(RFS_ERR_ARG, "preset '%s': expected roboflow, rfdetr or rfdetr-1.4", s);
}

const char *rfs_preset_name(rfs_preset p) {
    return (int)p >= 0 && (int)p < 3 ? preset_names[p] : "unknown";
}

rfs_status rfs_predict_opts_set(rfs_predict_opts *o, const char *key, const char *value) {
    if (!key || !value) return RFS_FAIL(RFS_ERR_ARG, "option name and value needed");
    int b;
    if (!strcmp(key, "preset")) {
        rfs_preset p;
        rfs_status st = rfs_preset_parse(value, &p);
        if (st != RFS_OK) return st;
        /* a threshold still at the old preset's default follows the new preset */
        const float old_default = rfs_predict_defaults(o->preset).threshold;
        o->preset = p;
        if (o->threshold == old_default) o->threshold = rfs_predict_defaults(p).threshold;
        return RFS_OK;
    }
    if (!strcmp(key, "confidence") || !strcmp(key, "threshold"))
        return rfs_parse_confidence(value, &o->threshold);
    int *flag = !strcmp(key, "masks")               ? &o->want_masks
                : !strcmp(key, "clip_boxes")          ? &o->clip_boxes
                : !strcmp(key, "disable_static_crop") ? &o->disable_static_crop
                : !strcmp(key, "disable_grayscale")   ? &o->disable_grayscale
                                                      : NULL;
    if (!flag)
        return RFS_FAIL(RFS_ERR_ARG, "unknown prediction option '%s' (preset, confidence, masks, "
                        "clip_boxes, disable_static_crop, disable_grayscale)", key);
    if (!parse_bool(value, &b))
        return RFS_FAIL(RFS_ERR_ARG, "%s '%s': expected 1, 0, true or false", key, value);
    *flag = b;
    return RFS_OK;
}

rfs_status rfs_session_opts_set(rfs_session_opts *o, const char *key, const char *value) {
    if (!key || !value) return RFS_FAIL(RFS_ERR_ARG, "option name and value needed");
    if (!strcmp(key, "device")) {
        if (!strcmp(value, "cpu")) {
            o->backend = RFS_BACKEND_CPU, o->device = 0;
            return RFS_OK;
        }
        if (!strcmp(value, "cuda")) {
            o->backend = RFS_BACKEND_CUDA, o->device = 0;
            return RFS_OK;
        }
        int d;
        if (!strncmp(value, "cuda:", 5) && parse_int(value + 5, 0, RFS_MAX_DEVICES - 1, &d)) {
            o->backend = RFS_BACKEND_CUDA, o->device = d;
            return RFS_OK;
        }
        return RFS_FAIL(RFS_ERR_ARG, "device '%s': expected cpu, cuda or cuda:N (N < %d)", value,
                        RFS_MAX_DEVICES);
    }
    if (!strcmp(key, "precision")) {
        if (!strcmp(value, "fp32")) o->precision = RFS_FP32;
        else if (!strcmp(value, "fp16")) o->precision = RFS_FP16;
        else if (!strcmp(value, "bf16")) o->precision = RFS_BF16;
        else return RFS_FAIL(RFS_ERR_ARG, "precision '%s': expected fp32, fp16 or bf16", value);
        return RFS_OK;
    }
    if (!strcmp(key, "threads")) {
        if (!parse_int(value, 0, 1024, &o->threads))
            return RFS_FAIL(RFS_ERR_ARG, "threads '%s': expected an integer in [0, 1024]", value);
        return RFS_OK;
    }
    if (!strcmp(key, "max_batch") || !strcmp(key, "batch")) {
        if (!parse_int(value, 1, 4096, &o->max_batch))
            return RFS_FAIL(RFS_ERR_ARG, "max_batch '%s': expected an integer in [1, 4096]", value);
        return RFS_OK;
    }
    return RFS_FAIL(RFS_ERR_ARG, "unknown session option '%s' (device, precision, threads, "
                    "max_batch)", key);
}

int rfs_device_count(rfs_backend b) {
    if (b == RFS_BACKEND_CPU) return 1;
#if RFS_HAVE_CUDA
    if (b == RFS_BACKEND_CUDA) return rfs_backend_cuda.device_count();
#endif
    return 0;
}

rfs_status rfs_device_memory(rfs_backend b, int device, size_t *free_bytes, size_t *total_bytes) {
    *free_bytes = *total_bytes = 0;
#if RFS_HAVE_CUDA
    if (b == RFS_BACKEND_CUDA) return rfs_backend_cuda.device_memory(device, free_bytes, total_bytes);
#endif
    return RFS_FAIL(RFS_ERR_UNSUPPORTED, "device memory: %s",
                    b == RFS_BACKEND_CPU ? "the CPU has none of its own" : "no CUDA in this build");
}
