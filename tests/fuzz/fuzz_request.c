/* fuzz_request.c - libFuzzer target for request parsing and image intake (make fuzz).
 *
 * The first byte picks the route, the rest is the request as a client would send it:
 *   0: POST /infer/instance_segmentation, the rest is the JSON body;
 *   1, 2: the legacy route, where the rest is "QUERY\nCONTENT-TYPE\nBODY" (QUERY as
 *      k=v&k=v, no URL decoding; 2 forces a multipart Content-Type with boundary "B");
 *   3: POST /v2/models/m/infer (Open Inference Protocol): two bytes give the length of the
 *      JSON part (Inference-Header-Content-Length, clamped), the rest is the body.
 * A request that parses is decoded like the server does: each image's size is read from
 * its header (probe.h), checked against the pixel limit (1 MP here to keep runs fast) and
 * the decoder is given exactly that many pixels; a decoded frame must have exactly the
 * probed size. Then everything is freed: leaks and overflows are found by ASan, every path
 * must end in either success or an HTTP error status with a message.
 */
#include "rfseg.h"
#include "serve/kserve.h"
#include "serve/probe.h"
#include "serve/request.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct query {
    char *keys[16], *vals[16];
    int n;
} query;

static const char *query_get(void *user, const char *key) {
    const query *q = user;
    for (int i = 0; i < q->n; i++)
        if (!strcmp(q->keys[i], key)) return q->vals[i];
    return NULL;
}

/* Splits "a=b&c=d" in place. */
static void query_parse(query *q, char *s) {
    q->n = 0;
    while (s && *s && q->n < 16) {
        char *amp = strchr(s, '&');
        if (amp) *amp = 0;
        char *eq = strchr(s, '=');
        if (eq) {
            *eq = 0;
            q->keys[q->n] = s;
            q->vals[q->n++] = eq + 1;
        }
        s = amp ? amp + 1 : NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] % 4;
    const rfs_req_limits lim = {.max_image_bytes = 1 << 20, .max_pixels = 1 << 20, .max_images = 4};
    rfs_req req;
    rfs_http_err e = {0};
    int st;
    if (mode == 0) {
        st = rfs_req_parse_infer(&req, (const char *)data + 1, size - 1, &lim, &e);
    } else if (mode == 3) {
        if (size < 3) return 0;
        size_t n = size - 3, jl = ((size_t)data[1] << 8 | data[2]);
        if (jl > n) jl = n;
        rfs_kserve_req k;
        st = rfs_kserve_parse_infer(&req, &k, "m", (const char *)data + 3, n, jl, &lim, &e);
    } else {
        /* NUL-terminated copy so that the first two lines can be split in place */
        char *text = malloc(size);
        if (!text) return 0;
        memcpy(text, data + 1, size - 1);
        text[size - 1] = 0;
        char *ct = memchr(text, '\n', size - 1);
        char *body = NULL;
        if (ct) {
            *ct++ = 0;
            body = memchr(ct, '\n', (size_t)(text + size - 1 - ct));
            if (body) *body++ = 0;
        }
        query q;
        query_parse(&q, text);
        const char *ctype = mode == 2 ? "multipart/form-data; boundary=B" : ct;
        size_t blen = body ? (size_t)(text + size - 1 - body) : 0;
        st = rfs_req_parse_legacy(&req, "ds", "1", query_get, &q, ctype, (const uint8_t *)body, blen,
                                  &lim, &e);
        free(text);
    }
    if (st == 0) {
        if (req.n_images < 1 || req.n_images > lim.max_images) abort();
        rfs_frame *frames = calloc((size_t)req.n_images, sizeof *frames);
        if (frames) {
            int images_ok = 1;
            for (int i = 0; i < req.n_images; i++) images_ok &= req.images[i].bytes != NULL;
            for (int i = 0; i < req.n_images && images_ok; i++) {
                uint32_t w, h;
                uint64_t px = 1;
                if (rfs_serve_image_dims(req.images[i].bytes, req.images[i].len, &w, &h)) {
                    px = (uint64_t)w * h;
                    if (px > lim.max_pixels) continue; /* the server answers 413 */
                    if (!px) px = 1;
                }
                int dst = rfs_req_decode_image(&frames[i], &req, i, 1, px, &e);
                if (dst && (dst < 400 || dst > 599 || !e.msg[0])) abort();
                /* the decoder never allocates more than the probe charged */
                if (!dst && (uint64_t)frames[i].w * (uint64_t)frames[i].h > px) abort();
            }
            for (int i = 0; i < req.n_images; i++) rfs_frame_free(&frames[i]);
            free(frames);
        }
    } else if (st < 400 || st > 599 || !e.msg[0]) {
        abort(); /* every failure is an HTTP error with a message */
    }
    rfs_req_free(&req);
    return 0;
}
