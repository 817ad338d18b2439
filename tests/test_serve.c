/* test_serve.c - rfseg serve end to end, over real HTTP on 127.0.0.1.
 *
 * Servers run in forked children (the library's rfs_serve_run, stopped with SIGTERM like
 * the CLI) on a free port, with the tiny fixture models on the CPU backend. The client
 * here is a plain socket client, so that it can also misbehave (stall, trickle, cut a
 * body short). Checked:
 *   - answers equal `rfseg predict` (polygon and RLE, custom confidence, legacy route with
 *     base64 body and multipart upload, lists of images, two models) except
 *     detection_id, inference_id and time;
 *   - every kind of bad request gets its status and message, and the server keeps serving;
 *   - slow clients (silent, or trickling past the deadline) are dropped while others are
 *     served; concurrent requests all answer correctly; a full queue gives 503 +
 *     Retry-After; a request past its deadline gives 504 and is never run;
 *   - SIGTERM finishes the request in progress and the server exits 0 (under ASan: with
 *     no leaks, since the child exits through exit()).
 */
#include "harness.h"

#if RFS_HAVE_HTTP
#include "serve_util.h"

#include <cjson/cJSON.h>

static server srv; /* the main server of these tests */

/* ---- tests --------------------------------------------------------------------------------- */

TEST(server_started) {
    CHECKF(srv.pid > 0 && srv.port > 0, "the server did not start");
    CHECK(healthy(srv.port));
}

TEST(info_and_metrics) {
    resp r;
    http(srv.port, "GET", "/info", NULL, NULL, 0, &r);
    CHECK(r.status == 200);
    CHECK(r.body && strstr(r.body, "\"model_id\":\"tiny/1\"") && strstr(r.body, "\"model_id\":\"tiny/2\""));
    CHECK(r.head && strstr(r.head, "application/json"));
    resp_free(&r);
    http(srv.port, "GET", "/metrics", NULL, NULL, 0, &r);
    CHECK(r.status == 200);
    CHECK(r.body && strstr(r.body, "rfseg_requests_total{code=\"200\"}"));
    CHECK(r.body && strstr(r.body, "# TYPE rfseg_request_duration_seconds histogram"));
    CHECK(r.body && strstr(r.body, "rfseg_batch_size_bucket{le=\"+Inf\"}"));
    CHECK(r.body && strstr(r.body, "rfseg_queue_depth "));
    resp_free(&r);
}

TEST(infer_equals_predict) {
    const char *img = test_shared("fixtures/images/chelsea.png");
    char *v = image_b64("fixtures/images/chelsea.png");
    CHECK(v != NULL);
    if (!v) return;
    struct {
        const char *model, *file, *json_extra, *cli_extra;
    } cases[] = {
        {"tiny/1", model_w1, "", ""},
        {"tiny/2", model_w2, "", ""},
        {"tiny/1", model_w1, ",\"response_mask_format\":\"rle\"", "--format rle"},
        {"tiny/1", model_w1, ",\"confidence\":0.86,\"disable_preproc_auto_orient\":true",
         "--confidence 0.86 --no-auto-orient"},
        {"w1", model_w1, ",\"confidence\":\"default\",\"iou_threshold\":0.5,\"api_key\":\"k\"", ""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char *expect = predict_cli(cases[k].file, img, cases[k].cli_extra);
        CHECKF(expect != NULL, "rfseg predict failed (%s)", rfseg_bin);
        char *json = fmt("{\"model_id\":\"%s\",\"image\":{\"type\":\"base64\",\"value\":\"%s\"}%s}",
                         cases[k].model, v, cases[k].json_extra);
        resp r;
        post_json(srv.port, json, &r);
        CHECKF(r.status == 200, "case %zu: status %d %.200s", k, r.status, r.body ? r.body : "");
        CHECKF(body_equals(&r, expect), "case %zu differs from rfseg predict", k);
        CHECK(r.body && strstr(r.body, "\"predictions\":[{")); /* not vacuous: detections */
        resp_free(&r);
        free(json);
        free(expect);
    }
    free(v);
}

TEST(infer_list_id_and_filter) {
    const char *names[2] = {"fixtures/images/chelsea.png", "fixtures/images/coffee.png"};
    char *v0 = image_b64(names[0]), *v1 = image_b64(names[1]);
    char *e0 = predict_cli(model_w1, test_shared(names[0]), NULL);
    char *e1 = predict_cli(model_w1, test_shared(names[1]), NULL);
    CHECK(v0 && v1 && e0 && e1);
    if (!(v0 && v1 && e0 && e1)) goto done;
    char *json = fmt("{\"model_id\":\"tiny/1\",\"id\":\"req-42\",\"image\":[{\"type\":\"base64\",\"value\":\"%s\"},"
                     "{\"type\":\"base64\",\"value\":\"%s\"}]}", v0, v1);
    resp r;
    post_json(srv.port, json, &r);
    CHECK(r.status == 200);
    char *expect = fmt("[%s,%s]", e0, e1);
    CHECKF(body_equals(&r, expect), "list answer differs from rfseg predict");
    /* Roboflow: the request's id is every response's inference_id */
    const char *p = r.body ? strstr(r.body, "\"inference_id\":\"req-42\"") : NULL;
    CHECK(p && strstr(p + 1, "\"inference_id\":\"req-42\""));
    free(expect);
    free(json);
    resp_free(&r);

    /* class_filter: the fixture detects "person"; an unknown name filters everything */
    json = fmt("{\"model_id\":\"tiny/1\",\"class_filter\":[\"no-such-class\"],\"image\":{\"type\":\"base64\",\"value\":\"%s\"}}", v0);
    post_json(srv.port, json, &r);
    CHECK(r.status == 200 && r.body && strstr(r.body, "\"predictions\":[]"));
    free(json);
    resp_free(&r);
    json = fmt("{\"model_id\":\"tiny/1\",\"class_filter\":[\"person\"],\"image\":{\"type\":\"base64\",\"value\":\"%s\"}}", v0);
    post_json(srv.port, json, &r);
    CHECK(r.status == 200 && r.body && strstr(r.body, "\"class\":\"person\""));
    free(json);
    resp_free(&r);
done:
    free(v0), free(v1), free(e0), free(e1);
}

TEST(exif_orientation) {
    /* a photo stored sideways with EXIF Orientation 6: rotated unless the request says
     * disable_preproc_auto_orient, exactly as rfseg predict does with --no-auto-orient */
    rfs_frame f = {0};
    CHECK(rfs_image_load(&f, test_shared("fixtures/images/chelsea.png"), NULL) == RFS_OK);
    size_t n;
    uint8_t *jpg = encode_jpeg(f.data, f.w, f.h, f.stride, 6, &n);
    char path[] = "/tmp/rfs_test_serve_XXXXXX.jpg";
    int fd = mkstemps(path, 4);
    CHECK(fd >= 0 && write(fd, jpg, n) == (ssize_t)n);
    if (fd >= 0) close(fd);
    char *v = b64(jpg, n);
    for (int dis = 0; dis < 2; dis++) {
        char *expect = predict_cli(model_w1, path, dis ? "--no-auto-orient" : "");
        char *json = fmt("{\"model_id\":\"tiny/1\",\"disable_preproc_auto_orient\":%s,"
                         "\"image\":{\"type\":\"base64\",\"value\":\"%s\"}}", dis ? "true" : "false", v);
        resp r;
        post_json(srv.port, json, &r);
        CHECKF(r.status == 200 && body_equals(&r, expect), "disable_preproc_auto_orient=%d differs", dis);
        /* rotated: 300 wide, 451 high; as stored: 451 wide */
        char dims[64];
        snprintf(dims, sizeof dims, "\"image\":{\"width\":%d,\"height\":%d}", dis ? f.w : f.h, dis ? f.h : f.w);
        CHECKF(r.body && strstr(r.body, dims), "expected %s", dims);
        resp_free(&r);
        free(json), free(expect);
    }
    unlink(path);
    free(v), free(jpg);
    rfs_frame_free(&f);
}

TEST(image_urls) {
    /* a server started with allow_urls (http allowed, 127.0.0.1 named in the allow list):
     * URL images are fetched (bounded) and answered as if sent inline; fetch failures are
     * client errors */
    file_server fs;
    CHECK(file_server_bind(&fs, "fixtures/images/coffee.png") == 0);
    rfs_serve_config c = test_config();
    c.limits.allow_urls = 1;
    c.limits.max_image_bytes = 1 << 20;
    c.urls.allow_non_https = 1;
    char msg[128];
    CHECK(rfs_url_list_parse(&c.urls.allow, &c.urls.n_allow, "127.0.0.1", msg, sizeof msg) == 0);
    server s3 = start_server(&c); /* fork before this process starts a thread */
    free(c.urls.allow);
    file_server_run(&fs);
    CHECK(s3.pid > 0);
    char *expect = predict_cli(model_w1, test_shared("fixtures/images/coffee.png"), NULL);
    struct {
        const char *path; /* on the file server */
        int status;
        const char *msg;
    } cases[] = {{"/img", 200, "\"predictions\""}, {"/big", 413, "limit"}, {"/missing", 400, "could not fetch"}};
    for (int k = 0; k < 3 && s3.pid > 0; k++) {
        char *json = fmt("{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"url\",\"value\":\"http://127.0.0.1:%d%s\"}}",
                         fs.port, cases[k].path);
        resp r;
        post_json(s3.port, json, &r);
        CHECKF(r.status == cases[k].status && r.body && strstr(r.body, cases[k].msg), "%s: %d %.200s",
               cases[k].path, r.status, r.body ? r.body : "");
        if (k == 0) CHECK(body_equals(&r, expect));
        resp_free(&r);
        free(json);
    }
    if (s3.pid > 0) { /* the legacy route's ?image= */
        char *path = fmt("/tiny/1?image=http%%3A%%2F%%2F127.0.0.1%%3A%d%%2Fimg", fs.port);
        resp r;
        http(s3.port, "GET", path, NULL, NULL, 0, &r);
        CHECKF(r.status == 200 && body_equals(&r, expect), "legacy ?image=: %d", r.status);
        resp_free(&r);
        free(path);
        const char *bad = "{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"url\",\"value\":\"file:///etc/passwd\"}}";
        post_json(s3.port, bad, &r);
        CHECK(r.status == 400 && r.body && strstr(r.body, "http"));
        resp_free(&r);
    }
    CHECKF(stop_server(&s3) == 0, "URL server did not exit cleanly");
    file_server_close(&fs);
    free(expect);
}

TEST(legacy_route) {
    const char *img = test_shared("fixtures/images/rocket.png");
    size_t n;
    uint8_t *raw = test_read_file(img, &n);
    char *v = raw ? b64(raw, n) : NULL;
    char *expect = predict_cli(model_w1, img, "--confidence 0.85");
    char *expect_rle = predict_cli(model_w1, img, "--format rle");
    CHECK(raw && v && expect && expect_rle);
    if (!(raw && v && expect && expect_rle)) goto done;
    resp r;
    /* raw base64 body; confidence in percent as Roboflow's legacy route reads it */
    http(srv.port, "POST", "/tiny/1?confidence=85&format=json&api_key=x", "application/x-www-form-urlencoded",
         v, strlen(v), &r);
    CHECK(r.status == 200);
    CHECK(body_equals(&r, expect));
    resp_free(&r);
    /* the same as a fraction */
    http(srv.port, "POST", "/tiny/1?confidence=0.85", NULL, v, strlen(v), &r);
    CHECK(r.status == 200 && body_equals(&r, expect));
    resp_free(&r);
    /* multipart upload of the file itself */
    const char *bnd = "----rfsegTestBoundary7MA4YWxk";
    char *pre = fmt("--%s\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
                    "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"rocket.png\"\r\n"
                    "Content-Type: image/png\r\n\r\n", bnd, bnd);
    char *post = fmt("\r\n--%s--\r\n", bnd);
    size_t pl = strlen(pre), ql = strlen(post);
    uint8_t *body = malloc(pl + n + ql);
    memcpy(body, pre, pl);
    memcpy(body + pl, raw, n);
    memcpy(body + pl + n, post, ql);
    char *ct = fmt("multipart/form-data; boundary=%s", bnd);
    http(srv.port, "POST", "/tiny/1?response_mask_format=rle", ct, body, pl + n + ql, &r);
    CHECKF(r.status == 200, "multipart: %d %.200s", r.status, r.body ? r.body : "");
    CHECK(body_equals(&r, expect_rle));
    resp_free(&r);
    free(ct), free(body), free(pre), free(post);
done:
    free(raw), free(v), free(expect), free(expect_rle);
}

typedef struct bad_case {
    const char *what;
    const char *method, *path, *ctype;
    char *body; /* owned */
    size_t len;
    int status;
    const char *msg; /* substring of the message */
} bad_case;

static bad_case json_case(const char *what, char *body, int status, const char *msg) {
    return (bad_case){what, "POST", "/infer/instance_segmentation", "application/json", body, strlen(body), status, msg};
}

TEST(bad_requests) {
    size_t jn, pn;
    uint8_t *jpg = make_jpeg(64, 48, &jn);
    char *jpg64 = b64(jpg, jn), *cut64 = b64(jpg, jn * 2 / 3);
    uint8_t big[64];
    pn = png_header_only(big, 100000, 100000);
    char *big64 = b64(big, pn);
    char *text64 = b64((const uint8_t *)"hello, this is not an image", 27);
    char deep[200] = "{\"model_id\":\"tiny/1\",\"x\":";
    for (int i = 0; i < 40; i++) strcat(deep, "[");
    for (int i = 0; i < 40; i++) strcat(deep, "]");
    strcat(deep, "}");
    const char *im = "{\"type\":\"base64\",\"value\":\"%s\"}";
    char *good_img = fmt(im, jpg64);
    bad_case cases[] = {
        json_case("malformed JSON", strdup("{\"model_id\": \"tiny/1\", \"image\": "), 400, "malformed JSON"),
        json_case("trailing comma", strdup("{\"model_id\":\"tiny/1\",}"), 400, "malformed JSON"),
        json_case("bad number", strdup("{\"model_id\":\"tiny/1\",\"confidence\":01}"), 400, "bad number"),
        json_case("invalid UTF-8", strdup("{\"model_id\":\"tiny/\xff\"}"), 400, "UTF-8"),
        json_case("deep nesting", strdup(deep), 400, "nested"),
        json_case("empty body", strdup(""), 400, "empty request body"),
        json_case("not an object", strdup("[1,2]"), 422, "must be a JSON object"),
        json_case("missing model_id", fmt("{\"image\":%s}", good_img), 422, "model_id is required"),
        json_case("model_id type", fmt("{\"model_id\":7,\"image\":%s}", good_img), 422, "model_id must be a string"),
        json_case("missing image", strdup("{\"model_id\":\"tiny/1\"}"), 422, "image is required"),
        json_case("image type", strdup("{\"model_id\":\"tiny/1\",\"image\":\"abc\"}"), 422, "must be an object"),
        json_case("image value type", strdup("{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"base64\",\"value\":3}}"), 422, "value must be a string"),
        json_case("confidence type", fmt("{\"model_id\":\"tiny/1\",\"confidence\":\"high\",\"image\":%s}", good_img), 422, "confidence"),
        json_case("confidence range", fmt("{\"model_id\":\"tiny/1\",\"confidence\":1.5,\"image\":%s}", good_img), 422, "confidence"),
        json_case("class_filter type", fmt("{\"model_id\":\"tiny/1\",\"class_filter\":\"person\",\"image\":%s}", good_img), 422, "class_filter"),
        json_case("mask format", fmt("{\"model_id\":\"tiny/1\",\"response_mask_format\":\"mask\",\"image\":%s}", good_img), 422, "response_mask_format"),
        json_case("bool type", fmt("{\"model_id\":\"tiny/1\",\"disable_preproc_auto_orient\":\"yes\",\"image\":%s}", good_img), 422, "boolean"),
        json_case("ignored field type", fmt("{\"model_id\":\"tiny/1\",\"iou_threshold\":\"x\",\"image\":%s}", good_img), 422, "iou_threshold"),
        json_case("duplicate key", fmt("{\"model_id\":\"tiny/1\",\"model_id\":\"tiny/2\",\"image\":%s}", good_img), 400, "twice"),
        json_case("bad base64", strdup("{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"base64\",\"value\":\"ab$d\"}}"), 400, "invalid base64"),
        json_case("bad padding", strdup("{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"base64\",\"value\":\"abcde\"}}"), 400, "padding"),
        json_case("not an image", fmt("{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"base64\",\"value\":\"%s\"}}", text64), 400, "could not decode"),
        json_case("truncated JPEG", fmt("{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"base64\",\"value\":\"%s\"}}", cut64), 400, "could not decode"),
        json_case("huge PNG header", fmt("{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"base64\",\"value\":\"%s\"}}", big64), 413, "100000x100000"),
        json_case("unknown model", fmt("{\"model_id\":\"no/such\",\"image\":%s}", good_img), 404, "no/such"),
        json_case("image URL", strdup("{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"url\",\"value\":\"http://127.0.0.1:1/x.jpg\"}}"), 400, "--allow-urls"),
        json_case("numpy image", strdup("{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"numpy\",\"value\":\"x\"}}"), 400, "base64"),
        json_case("empty list", strdup("{\"model_id\":\"tiny/1\",\"image\":[]}"), 422, "empty list"),
        json_case("too many images", fmt("{\"model_id\":\"tiny/1\",\"image\":[%s,%s,%s,%s,%s]}", good_img, good_img, good_img, good_img, good_img), 413, "limit 4"),
        json_case("visualize", fmt("{\"model_id\":\"tiny/1\",\"visualize_predictions\":true,\"image\":%s}", good_img), 422, "visualize"),
        {"unknown route", "GET", "/nope", NULL, NULL, 0, 404, "not found"},
        {"wrong method", "GET", "/infer/instance_segmentation", NULL, NULL, 0, 405, "method not allowed"},
        {"legacy format=image", "POST", "/tiny/1?format=image", NULL, strdup(jpg64), strlen(jpg64), 400, "format=image"},
        {"legacy confidence", "POST", "/tiny/1?confidence=abc", NULL, strdup(jpg64), strlen(jpg64), 422, "confidence"},
        {"legacy bool", "POST", "/tiny/1?disable_preproc_auto_orient=maybe", NULL, strdup(jpg64), strlen(jpg64), 422, "true or false"},
        {"legacy empty body", "POST", "/tiny/1", NULL, NULL, 0, 400, "no image"},
        {"legacy raw bytes", "POST", "/tiny/1", "image/jpeg", (char *)jpg, jn, 400, "expected base64"},
        {"legacy unknown model", "POST", "/tiny/9", NULL, strdup(jpg64), strlen(jpg64), 404, "tiny/9"},
        {"legacy URL", "GET", "/tiny/1?image=http%3A%2F%2F127.0.0.1%3A1%2Fx.jpg", NULL, NULL, 0, 400, "--allow-urls"},
        {"multipart without file", "POST", "/tiny/1", "multipart/form-data; boundary=XyZ",
         strdup("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n2\r\n--XyZ--\r\n"),
         0, 400, "has no"},
        {"multipart malformed", "POST", "/tiny/1", "multipart/form-data; boundary=XyZ", strdup("--XyZ\r\nno end"), 0, 400, "malformed multipart"},
    };
    jpg = NULL; /* owned by its case now */
    int n = (int)(sizeof cases / sizeof *cases);
    for (int k = 0; k < n; k++) {
        bad_case *c = &cases[k];
        if (c->body && !c->len) c->len = strlen(c->body);
        resp r;
        http(srv.port, c->method, c->path, c->ctype, c->body, c->len, &r);
        int ok_status = r.status == c->status;
        int ok_json = r.body && !strncmp(r.body, "{\"message\":\"", 12) && r.head && strstr(r.head, "application/json");
        int ok_msg = r.body && strstr(r.body, c->msg);
        CHECKF(ok_status && ok_json && ok_msg, "%s: want %d '%s', got %d %.200s", c->what, c->status,
               c->msg, r.status, r.body ? r.body : "(none)");
        resp_free(&r);
        CHECKF(healthy(srv.port), "server not healthy after: %s", c->what);
        free(c->body);
    }
    free(good_img), free(jpg64), free(cut64), free(big64), free(text64);
}

TEST(oversize_body) {
    /* Content-Length over the limit: refused from the headers, before any body is read */
    int fd = connect_to(srv.port);
    const char *h = "POST /infer/instance_segmentation HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    "Content-Length: 5000000\r\n\r\n{\"model_id\":";
    send_all(fd, h, strlen(h));
    resp r;
    read_resp(fd, &r);
    close(fd);
    CHECKF(r.status == 413 && r.body && strstr(r.body, "larger than the limit"), "got %d", r.status);
    resp_free(&r);
    /* chunked, no length: discarded past the limit, answered at its end */
    fd = connect_to(srv.port);
    const char *hc = "POST /infer/instance_segmentation HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n";
    send_all(fd, hc, strlen(hc));
    static char chunk[65536 + 16];
    int cl = snprintf(chunk, sizeof chunk, "10000\r\n");
    memset(chunk + cl, ' ', 65536);
    memcpy(chunk + cl + 65536, "\r\n", 2);
    for (int i = 0; i < 80; i++) send_all(fd, chunk, (size_t)cl + 65536 + 2); /* 5 MiB */
    send_all(fd, "0\r\n\r\n", 5);
    read_resp(fd, &r);
    close(fd);
    CHECKF(r.status == 413 && r.body && strstr(r.body, "larger than the limit"), "chunked: got %d", r.status);
    resp_free(&r);
    CHECK(healthy(srv.port));
}

TEST(slow_clients) {
    /* silent after connecting; stalled in the headers; stalled in the body */
    int silent = connect_to(srv.port), mid_head = connect_to(srv.port), mid_body = connect_to(srv.port);
    const char *hh = "POST /infer/instance_segmentation HTTP/1.1\r\nHost: x\r\nContent-Le";
    send_all(mid_head, hh, strlen(hh));
    const char *h = "POST /infer/instance_segmentation HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"mo";
    send_all(mid_body, h, strlen(h));
    /* others are served meanwhile: the stalled body is still open when the answer comes */
    CHECK(healthy(srv.port));
    CHECKF(!closed_by_server(mid_body, 0), "no answer before the slow clients were dropped");
    /* the server drops them after client_timeout (2 s) of silence */
    CHECK(closed_by_server(silent, 30000));
    CHECK(closed_by_server(mid_head, 30000));
    CHECK(closed_by_server(mid_body, 30000));
    close(silent), close(mid_head), close(mid_body);
    CHECK(healthy(srv.port));
    CHECKF(metric(srv.port, "rfseg_requests_dropped_total") >= 1, "dropped requests not counted");
}
typedef struct conc_arg {
    int port;
    const char *json;
    resp r;
} conc_arg;

static void *conc_main(void *p) {
    conc_arg *a = p;
    post_json(a->port, a->json, &a->r);
    return NULL;
}

/* 9 concurrent requests of 3 images; every answer equal to rfseg predict's. */
static void nine_at_once(int port) {
    const char *names[3] = {"fixtures/images/chelsea.png", "fixtures/images/coffee.png", "fixtures/images/astronaut.png"};
    char *json[3], *expect[3];
    for (int i = 0; i < 3; i++) {
        char *v = image_b64(names[i]);
        json[i] = fmt("{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"base64\",\"value\":\"%s\"}}", v);
        expect[i] = predict_cli(model_w1, test_shared(names[i]), NULL);
        free(v);
    }
    enum { N = 9 };
    conc_arg args[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        args[i].port = port;
        args[i].json = json[i % 3];
        pthread_create(&th[i], NULL, conc_main, &args[i]);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        CHECKF(args[i].r.status == 200, "request %d: %d", i, args[i].r.status);
        CHECKF(body_equals(&args[i].r, expect[i % 3]), "request %d differs from rfseg predict", i);
        resp_free(&args[i].r);
    }
    for (int i = 0; i < 3; i++) free(json[i]), free(expect[i]);
}

TEST(concurrent_requests) { nine_at_once(srv.port); }

TEST(two_sessions_one_queue) {
    /* every model with two sessions (as --device cuda:all gives one per GPU), both taking
     * batches of at most 2 frames from the model's one queue */
    rfs_serve_config c = test_config();
    rfs_session_opts so[2] = {c.session, c.session}; /* 2 threads each, as rfseg predict here */
    so[0].max_batch = so[1].max_batch = 2;
    c.sessions = so;
    c.n_sessions = 2;
    server s = start_server(&c);
    CHECK(s.pid > 0);
    if (s.pid <= 0) return;
    resp r;
    http(s.port, "GET", "/info", NULL, NULL, 0, &r);
    CHECK(r.status == 200 && r.body && strstr(r.body, "\"sessions_per_model\":2"));
    resp_free(&r);
    nine_at_once(s.port);
    CHECK(metric(s.port, "rfseg_frames_total") == 9);
    CHECKF(stop_server(&s) == 0, "server did not exit cleanly");
}

TEST(short_deadline_server) {
    /* a second server with a 3 s deadline whose batches wait long to fill */
    rfs_serve_config c = test_config();
    c.session.max_batch = 8;
    c.batch_wait_ms = 60000;
    c.queue_frames = 4;
    c.deadline_ms = 3000;
    server s2 = start_server(&c);
    CHECK(s2.pid > 0);
    if (s2.pid <= 0) return;
    size_t jn;
    uint8_t *jpg = make_jpeg(32, 32, &jn);
    char *v = b64(jpg, jn);
    const char *im = "{\"type\":\"base64\",\"value\":\"%s\"}";
    char *one = fmt(im, v);
    char *four = fmt("{\"model_id\":\"tiny/1\",\"image\":[%s,%s,%s,%s]}", one, one, one, one);
    char *single = fmt("{\"model_id\":\"tiny/1\",\"image\":%s}", one);

    /* a request of 4 frames holds the whole queue (the batch waits for 8) ... */
    int fd = connect_to(s2.port);
    send_request(fd, "POST", "/infer/instance_segmentation", "application/json", four, strlen(four));
    CHECK(wait_metric(s2.port, "rfseg_queue_depth", 4));
    /* ... so the next one is refused with 503 and Retry-After */
    resp r;
    post_json(s2.port, single, &r);
    CHECKF(r.status == 503 && r.head && strstr(r.head, "Retry-After:") && r.body && strstr(r.body, "full"),
           "queue full: got %d %s", r.status, r.body ? r.body : "");
    resp_free(&r);
    /* and the first one is answered 504 when its deadline passes, never run */
    read_resp(fd, &r);
    close(fd);
    CHECKF(r.status == 504 && r.body && strstr(r.body, "deadline"), "deadline: got %d %s", r.status, r.body ? r.body : "");
    resp_free(&r);
    CHECKF(metric(s2.port, "rfseg_frames_total") == 0, "a request past its deadline was run");
    CHECKF(metric(s2.port, "rfseg_queue_depth") == 0, "the expired request stayed queued");
    /* the queue is free again: a request is admitted (and expires the same way) */
    post_json(s2.port, single, &r);
    CHECKF(r.status == 504, "after: got %d", r.status);
    resp_free(&r);

    /* a body trickling in (a byte every 0.3 s, never silent for the 2 s client timeout) is
     * dropped when the request deadline passes */
    int trickle = connect_to(s2.port);
    const char *h = "POST /infer/instance_segmentation HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{";
    send_all(trickle, h, strlen(h));
    double t0 = now_s();
    int dropped = 0;
    while (now_s() - t0 < 120 && !dropped) {
        if (send_all(trickle, " ", 1) != 0) break;
        dropped = closed_by_server(trickle, 300);
    }
    CHECKF(now_s() - t0 < 120, "trickling client still connected after %.0f s", now_s() - t0);
    close(trickle);
    CHECK(healthy(s2.port));
    CHECKF(stop_server(&s2) == 0, "second server did not exit cleanly");
    free(jpg), free(v), free(one), free(four), free(single);
}

/* ---- inference_sdk's calls (v1) --------------------------------------------------------------- */

static int status_of(const char *method, const char *path, const char *json, resp *r) {
    http(srv.port, method, path, json ? "application/json" : NULL, json, json ? strlen(json) : 0, r);
    return r->status;
}

TEST(sdk_model_routes) {
    resp r;
    /* GET /model/registry: what RegisteredModels / ModelDescription read */
    CHECK(status_of("GET", "/model/registry", NULL, &r) == 200);
    CHECK(r.body && strstr(r.body, "{\"models\":[{\"model_id\":\"tiny/1\",\"task_type\":\"instance-segmentation\","
                                    "\"batch_size\":4,\"input_height\":96,\"input_width\":96}"));
    CHECK(r.body && strstr(r.body, "\"model_id\":\"tiny/2\"") && strstr(r.body, "\"model_id\":\"w1\""));
    resp_free(&r);
    /* load_model: POST /model/add {"model_id", "api_key"} answers the registry */
    CHECK(status_of("POST", "/model/add", "{\"model_id\":\"tiny/2\",\"api_key\":\"any\"}", &r) == 200);
    CHECK(r.body && !strncmp(r.body, "{\"models\":[", 11) && strstr(r.body, "\"model_id\":\"tiny/2\""));
    resp_free(&r);
    CHECK(status_of("POST", "/model/add", "{\"model_id\":\"nope/1\"}", &r) == 404);
    CHECK(r.body && strstr(r.body, "nope/1") && strstr(r.body, "\"message\""));
    resp_free(&r);
    CHECK(status_of("POST", "/model/add", "{}", &r) == 422);
    resp_free(&r);
    CHECK(status_of("POST", "/model/add", NULL, &r) == 422);
    resp_free(&r);
    CHECK(status_of("GET", "/model/add", NULL, &r) == 405 && r.head && strstr(r.head, "Allow: POST"));
    resp_free(&r);
    /* unload_model: off the registry; an inference loads it again, as Roboflow's server does */
    CHECK(status_of("POST", "/model/remove", "{\"model_id\":\"tiny/2\"}", &r) == 200);
    CHECK(r.body && !strstr(r.body, "\"tiny/2\"") && strstr(r.body, "\"tiny/1\""));
    resp_free(&r);
    size_t jn;
    uint8_t *jpg = make_jpeg(48, 32, &jn);
    char *v = b64(jpg, jn);
    char *json = fmt("{\"model_id\":\"tiny/2\",\"image\":{\"type\":\"base64\",\"value\":\"%s\"}}", v);
    CHECK(status_of("POST", "/infer/instance_segmentation", json, &r) == 200);
    resp_free(&r);
    CHECK(status_of("GET", "/model/registry", NULL, &r) == 200 && r.body && strstr(r.body, "\"tiny/2\""));
    resp_free(&r);
    /* unload_all_models: POST /model/clear, no body */
    CHECK(status_of("POST", "/model/clear", NULL, &r) == 200 && r.body && !strcmp(r.body, "{\"models\":[]}"));
    resp_free(&r);
    const char *ids[3] = {"tiny/1", "tiny/2", "w1"};
    for (int i = 0; i < 3; i++) {
        char *add = fmt("{\"model_id\":\"%s\"}", ids[i]);
        CHECK(status_of("POST", "/model/add", add, &r) == 200);
        resp_free(&r);
        free(add);
    }
    CHECK(status_of("POST", "/model/registry", "{}", &r) == 200 && r.body && strstr(r.body, "\"w1\""));
    resp_free(&r);
    /* get_server_info: name, version, uuid */
    CHECK(status_of("GET", "/info", NULL, &r) == 200);
    const char *u = r.body ? strstr(r.body, "\"uuid\":\"") : NULL;
    CHECK(r.body && strstr(r.body, "\"name\":\"rfseg\"") && strstr(r.body, "\"version\":\"") && u &&
          strlen(u) > 45 && u[8 + 36] == '"' && u[8 + 14] == '4');
    resp_free(&r);
    free(jpg), free(v), free(json);
}

TEST(confidence_syntax) {
    /* a fraction, a percentage ("30%"), as JSON numbers or strings; the legacy route also
     * reads numbers >= 1 as percents */
    const char *img = test_shared("fixtures/images/chelsea.png");
    char *v = image_b64("fixtures/images/chelsea.png");
    char *expect = predict_cli(model_w1, img, "--confidence 0.85");
    CHECK(v && expect);
    if (!v || !expect) goto done;
    const char *forms[] = {"0.85", "\"0.85\"", "\"85%\""};
    for (int k = 0; k < 3; k++) {
        char *json = fmt("{\"model_id\":\"tiny/1\",\"confidence\":%s,\"image\":{\"type\":\"base64\",\"value\":\"%s\"}}",
                         forms[k], v);
        resp r;
        post_json(srv.port, json, &r);
        CHECKF(r.status == 200 && body_equals(&r, expect), "confidence %s: %d", forms[k], r.status);
        resp_free(&r);
        free(json);
    }
    const char *queries[] = {"/tiny/1?confidence=85", "/tiny/1?confidence=0.85", "/tiny/1?confidence=85%25"};
    for (int k = 0; k < 3; k++) {
        resp r;
        http(srv.port, "POST", queries[k], "application/json", v, strlen(v), &r);
        CHECKF(r.status == 200 && body_equals(&r, expect), "%s: %d", queries[k], r.status);
        resp_free(&r);
    }
    resp r;
    char *bad = fmt("{\"model_id\":\"tiny/1\",\"confidence\":\"130%%\",\"image\":{\"type\":\"base64\",\"value\":\"%s\"}}", v);
    post_json(srv.port, bad, &r);
    CHECK(r.status == 422 && r.body && strstr(r.body, "percentage"));
    resp_free(&r);
    free(bad);
done:
    free(v), free(expect);
}

/* ---- the Open Inference Protocol (KServe v2) -------------------------------------------------- */

/* outputs[0].data[i] of a JSON answer, normalized, or NULL. */
static char *v2_answer(const char *body, int i) {
    cJSON *root = body ? cJSON_Parse(body) : NULL;
    cJSON *outs = root ? cJSON_GetObjectItem(root, "outputs") : NULL;
    cJSON *o = outs ? cJSON_GetArrayItem(outs, 0) : NULL;
    cJSON *d = o ? cJSON_GetArrayItem(cJSON_GetObjectItem(o, "data"), i) : NULL;
    char *s = d && cJSON_IsString(d) ? strdup(d->valuestring) : NULL;
    cJSON_Delete(root);
    if (s) normalize(s);
    return s;
}

static int same(const char *got, const char *expect, const char *what) {
    int eq = got && expect && !strcmp(got, expect);
    if (!eq) printf("  %s:\n  got:    %.300s\n  expect: %.300s\n", what, got ? got : "(none)", expect ? expect : "(none)");
    return eq;
}

TEST(kserve_v2) {
    const char *n0 = "fixtures/images/chelsea.png", *n1 = "fixtures/images/coffee.png";
    char *v0 = image_b64(n0), *v1 = image_b64(n1);
    char *e0 = predict_cli(model_w1, test_shared(n0), NULL), *e1 = predict_cli(model_w1, test_shared(n1), NULL);
    char *e0c = predict_cli(model_w1, test_shared(n0), "--confidence 0.85 --format rle");
    CHECK(v0 && v1 && e0 && e1 && e0c);
    if (!(v0 && v1 && e0 && e1 && e0c)) goto done;
    resp r;
    /* one image, JSON: the Roboflow answer as the BYTES output */
    char *json = fmt("{\"id\":\"r-1\",\"inputs\":[{\"name\":\"image\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"%s\"]}]}", v0);
    http(srv.port, "POST", "/v2/models/tiny/1/infer", "application/json", json, strlen(json), &r);
    CHECKF(r.status == 200, "v2 infer: %d %.200s", r.status, r.body ? r.body : "");
    CHECK(r.body && strstr(r.body, "\"model_name\":\"tiny/1\"") && strstr(r.body, "\"id\":\"r-1\"") &&
          strstr(r.body, "\"name\":\"predictions\",\"datatype\":\"BYTES\",\"shape\":[1]"));
    char *a = v2_answer(r.body, 0);
    CHECK(same(a, e0, "v2 single"));
    free(a);
    resp_free(&r);
    free(json);
    /* two images, version path, options in parameters */
    json = fmt("{\"inputs\":[{\"name\":\"images\",\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"%s\",\"%s\"]}]}", v0, v1);
    http(srv.port, "POST", "/v2/models/tiny/versions/1/infer", "application/json", json, strlen(json), &r);
    char *a0 = v2_answer(r.body, 0), *a1 = v2_answer(r.body, 1);
    CHECKF(r.status == 200 && same(a0, e0, "v2 list[0]") && same(a1, e1, "v2 list[1]"), "v2 list: %d", r.status);
    free(a0), free(a1);
    resp_free(&r);
    free(json);
    json = fmt("{\"parameters\":{\"confidence\":\"85%%\",\"response_mask_format\":\"rle\"},\"inputs\":[{\"name\":\"x\","
               "\"datatype\":\"BYTES\",\"shape\":[1,1],\"data\":[[\"%s\"]]}]}", v0);
    http(srv.port, "POST", "/v2/models/tiny%2F1/infer", "application/json", json, strlen(json), &r);
    a = v2_answer(r.body, 0);
    CHECKF(r.status == 200 && same(a, e0c, "v2 parameters"), "v2 parameters: %d", r.status);
    free(a);
    resp_free(&r);
    free(json);

    /* the binary tensor extension, both ways */
    size_t n;
    uint8_t *raw = test_read_file(test_shared(n0), &n);
    char *hdr = fmt("{\"inputs\":[{\"name\":\"image\",\"datatype\":\"BYTES\",\"shape\":[1],\"parameters\":"
                    "{\"binary_data_size\":%zu}}],\"outputs\":[{\"name\":\"predictions\",\"parameters\":{\"binary_data\":true}}]}",
                    n + 4);
    size_t hl = strlen(hdr);
    uint8_t *body = malloc(hl + 4 + n);
    memcpy(body, hdr, hl);
    body[hl] = (uint8_t)n, body[hl + 1] = (uint8_t)(n >> 8), body[hl + 2] = (uint8_t)(n >> 16), body[hl + 3] = (uint8_t)(n >> 24);
    memcpy(body + hl + 4, raw, n);
    char *extra = fmt("Inference-Header-Content-Length: %zu\r\n", hl);
    http_h(srv.port, "POST", "/v2/models/tiny/1/infer", "application/octet-stream", extra, body, hl + 4 + n, &r);
    const char *ihcl = r.head ? strcasestr(r.head, "Inference-Header-Content-Length: ") : NULL;
    size_t jl = ihcl ? (size_t)atol(ihcl + 33) : 0;
    int bin_ok = r.status == 200 && jl > 0 && jl + 4 <= r.body_len && strstr(r.body, "\"binary_data_size\":");
    CHECKF(bin_ok, "v2 binary: %d %.200s", r.status, r.body ? r.body : "");
    if (bin_ok) {
        const uint8_t *b = (const uint8_t *)r.body + jl;
        size_t len = (size_t)b[0] | (size_t)b[1] << 8 | (size_t)b[2] << 16 | (size_t)b[3] << 24;
        CHECK(jl + 4 + len == r.body_len);
        char *got = malloc(len + 1);
        memcpy(got, b + 4, len);
        got[len] = 0;
        normalize(got);
        CHECK(same(got, e0, "v2 binary"));
        free(got);
    }
    resp_free(&r);
    free(raw), free(hdr), free(body), free(extra);

    /* metadata, readiness, health */
    CHECK(status_of("GET", "/v2/models/tiny/1", NULL, &r) == 200 && r.body && strstr(r.body, "\"name\":\"tiny/1\"") &&
          strstr(r.body, "\"inputs\":[{\"name\":\"image\",\"datatype\":\"BYTES\""));
    resp_free(&r);
    CHECK(status_of("GET", "/v2/models/tiny/1/ready", NULL, &r) == 200 && r.body && strstr(r.body, "\"ready\":true"));
    resp_free(&r);
    CHECK(status_of("GET", "/v2/models/nope/ready", NULL, &r) == 404 && r.body && strstr(r.body, "{\"error\":"));
    resp_free(&r);
    CHECK(status_of("GET", "/v2/health/live", NULL, &r) == 200 && r.body && strstr(r.body, "\"live\":true"));
    resp_free(&r);
    CHECK(status_of("GET", "/v2/health/ready", NULL, &r) == 200 && r.body && strstr(r.body, "\"ready\":true"));
    resp_free(&r);
    CHECK(status_of("GET", "/v2", NULL, &r) == 200 && r.body && strstr(r.body, "\"name\":\"rfseg\""));
    resp_free(&r);

    /* errors: {"error": ...} */
    struct {
        const char *path, *json;
        int status;
        const char *msg;
    } bad[] = {
        {"/v2/models/nope/infer", "{\"inputs\":[]}", 404, "nope"},
        {"/v2/models/tiny/1/infer", "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}", 400, "BYTES"},
        {"/v2/models/tiny/1/infer", "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"aGk=\"]}]}", 400, "shape"},
        {"/v2/models/tiny/1/infer", "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"ab$d\"]}]}", 400, "base64"},
        {"/v2/models/tiny/1/infer", "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"aGk=\"]}],"
                                    "\"outputs\":[{\"name\":\"masks\"}]}", 400, "unknown output"},
        {"/v2/models/tiny/1/infer", "{\"inputs\":", 400, "malformed JSON"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        http(srv.port, "POST", bad[k].path, "application/json", bad[k].json, strlen(bad[k].json), &r);
        CHECKF(r.status == bad[k].status && r.body && !strncmp(r.body, "{\"error\":", 9) && strstr(r.body, bad[k].msg),
               "v2 bad %zu: %d %.200s", k, r.status, r.body ? r.body : "");
        resp_free(&r);
    }
    CHECK(status_of("GET", "/v2/models/tiny/1/infer", NULL, &r) == 405);
    resp_free(&r);
done:
    free(v0), free(v1), free(e0), free(e1), free(e0c);
}

/* ---- --api-key ------------------------------------------------------------------------------------ */

TEST(api_key) {
    rfs_serve_config c = test_config();
    c.api_key = "s3cret-key";
    server s = start_server(&c);
    CHECK(s.pid > 0);
    if (s.pid <= 0) return;
    size_t jn;
    uint8_t *jpg = make_jpeg(48, 32, &jn);
    char *v = b64(jpg, jn);
    char *with = fmt("{\"model_id\":\"tiny/1\",\"api_key\":\"s3cret-key\",\"image\":{\"type\":\"base64\",\"value\":\"%s\"}}", v);
    char *wrong = fmt("{\"model_id\":\"tiny/1\",\"api_key\":\"s3cret-kez\",\"image\":{\"type\":\"base64\",\"value\":\"%s\"}}", v);
    char *none = fmt("{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"base64\",\"value\":\"%s\"}}", v);
    char *v2 = fmt("{\"inputs\":[{\"name\":\"image\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"%s\"]}]}", v);
    const char *bearer = "Authorization: Bearer s3cret-key\r\n";
    struct {
        const char *method, *path, *headers, *json;
        int status;
    } cases[] = {
        {"GET", "/model/registry", NULL, NULL, 400},
        {"GET", "/model/registry?api_key=wrong", NULL, NULL, 401},
        {"GET", "/model/registry?api_key=s3cret-key", NULL, NULL, 200},
        {"GET", "/model/registry", bearer, NULL, 200},
        {"GET", "/model/registry", "Authorization: Bearer s3cret-ke\r\n", NULL, 401},
        {"POST", "/infer/instance_segmentation", NULL, with, 200},
        {"POST", "/infer/instance_segmentation", NULL, wrong, 401},
        {"POST", "/infer/instance_segmentation", NULL, none, 400},
        {"POST", "/infer/instance_segmentation", bearer, none, 200},
        {"POST", "/infer/instance_segmentation?api_key=s3cret-key", NULL, none, 200},
        {"POST", "/tiny/1?api_key=s3cret-key", NULL, v, 200},
        {"POST", "/tiny/1", NULL, v, 400},
        {"POST", "/tiny/1?api_key=nope", NULL, v, 401},
        {"POST", "/model/add", NULL, "{\"model_id\":\"tiny/1\",\"api_key\":\"s3cret-key\"}", 200},
        {"POST", "/model/add", NULL, "{\"model_id\":\"tiny/1\",\"api_key\":\"x\"}", 401},
        {"POST", "/model/remove", NULL, "{\"model_id\":\"tiny/2\"}", 200}, /* the SDK sends no key here */
        {"POST", "/model/clear", NULL, NULL, 200},
        {"POST", "/v2/models/tiny/1/infer", NULL, v2, 401},
        {"POST", "/v2/models/tiny/1/infer", bearer, v2, 200},
        {"GET", "/healthz", NULL, NULL, 200},
        {"GET", "/info", NULL, NULL, 200},
        {"GET", "/metrics", NULL, NULL, 200},
        {"GET", "/v2/health/ready", NULL, NULL, 200},
        {"GET", "/v2/models/tiny/1/ready", NULL, NULL, 200},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        resp r;
        const char *body = cases[k].json;
        http_h(s.port, cases[k].method, cases[k].path, body ? "application/json" : NULL, cases[k].headers, body,
               body ? strlen(body) : 0, &r);
        int ok = r.status == cases[k].status;
        if (r.status == 401) ok &= r.head && strstr(r.head, "WWW-Authenticate: Bearer") && r.body && !strstr(r.body, "s3cret");
        if (r.status == 400) ok &= r.body && strstr(r.body, "API key is missing");
        CHECKF(ok, "%s %s%s: want %d, got %d %.200s", cases[k].method, cases[k].path, cases[k].headers ? " (bearer)" : "",
               cases[k].status, r.status, r.body ? r.body : "");
        resp_free(&r);
    }
    CHECKF(stop_server(&s) == 0, "server did not exit cleanly");
    free(jpg), free(v), free(with), free(wrong), free(none), free(v2);
}

TEST(graceful_shutdown) {
    /* a list of images, so that the request is still being worked on when it is seen */
    char *v = image_b64("fixtures/images/astronaut.png");
    char *one = fmt("{\"type\":\"base64\",\"value\":\"%s\"}", v);
    size_t n1 = strlen(one);
    char *list = malloc(4 * (n1 + 1) + 1), *p = list;
    for (int i = 0; i < 4; i++) p += sprintf(p, "%s%s", i ? "," : "", one); /* the limit */
    char *json = fmt("{\"model_id\":\"tiny/1\",\"image\":[%s]}", list);
    free(one), free(list);
    int fd = connect_to(srv.port);
    send_request(fd, "POST", "/infer/instance_segmentation", "application/json", json, strlen(json));
    /* accepted and in progress: in flight besides the metrics request itself */
    CHECK(wait_metric(srv.port, "rfseg_requests_in_flight", 2));
    int port = srv.port;
    int status = stop_server(&srv);
    resp r;
    read_resp(fd, &r);
    close(fd);
    CHECKF(r.status == 200 && r.body && strstr(r.body, "\"predictions\":"), "in-flight request: %d", r.status);
    resp_free(&r);
    CHECKF(status == 0, "server exit status %d (non-zero under ASan: a leak or error report)", status);
    int late = connect_to(port);
    CHECKF(late < 0, "the stopped server still accepts connections");
    if (late >= 0) close(late);
    free(json), free(v);
}

int main(int argc, char **argv) {
    serve_util_init(argv[0]);
    rfs_serve_config c = test_config();
    srv = start_server(&c);
    RUN(server_started);
    if (srv.pid > 0) {
        RUN(info_and_metrics);
        RUN(infer_equals_predict);
        RUN(infer_list_id_and_filter);
        RUN(exif_orientation);
        RUN(legacy_route);
        RUN(image_urls);
        RUN(sdk_model_routes);
        RUN(confidence_syntax);
        RUN(kserve_v2);
        RUN(api_key);
        RUN(bad_requests);
        RUN(oversize_body);
        RUN(slow_clients);
        RUN(concurrent_requests);
        RUN(two_sessions_one_queue);
        RUN(short_deadline_server);
        RUN(graceful_shutdown);
    }
    if (srv.pid > 0) stop_server(&srv);
    return test_summary();
}
#else
int main(void) {
    printf("rfseg serve is not built (no libmicrohttpd): nothing to test\n0 passed, 0 failed\n");
    return 0;
}
#endif
