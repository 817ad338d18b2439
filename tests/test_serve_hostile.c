/* test_serve_hostile.c - rfseg serve against hostile and careless clients.
 *
 * Servers in forked children on 127.0.0.1 (serve_util.h). Clients come from several
 * loopback addresses (the whole 127/8 is loopback), so that one test can be many clients.
 * Checked:
 *   - slowloris: 130 connections that send a header line now and then, from 5 addresses,
 *     never finishing their request head, while a legitimate client gets every inference
 *     answered (200) within 5 s; the server cuts slow heads at their deadline and evicts
 *     the longest-waiting connection when the limit is reached (metrics say so); one
 *     address gets no more than its per-client limit;
 *   - a body trickling in is cut at the body deadline, long before the request deadline;
 *   - a client that hangs up while its request waits in the queue, or while its frames
 *     run, frees its queue slot: the frames not started never run, the metrics count the
 *     cancellation, and the next request is admitted;
 *   - decompression bombs: two requests of 16 5000x5000 PNGs (zeros, ~75 KB each) are
 *     refused (413) without decoding; requests that fit the memory budget one at a time
 *     run one after the other; the server's peak memory stays within the budget;
 *   - image URLs: loopback, private, link-local addresses in every spelling (0x7f000001,
 *     127.1, [::1], mapped IPv6, a name that resolves to loopback) are refused, before or at
 *     connection time, also after a redirect; the refusals never carry the remote's bytes;
 *   - a request with Content-Length and Transfer-Encoding is refused with 400 and the
 *     connection closed, so the bytes after it are never served as a second request.
 */
#include "harness.h"

#if RFS_HAVE_HTTP
#include "serve_util.h"

#include <png.h>

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* ---- slowloris ---------------------------------------------------------------------------- */

typedef struct loris {
    int port;
    const char *from[8];
    int n_from, per_from;
    volatile int stop;
    int fds[256];
    int opened, cut; /* connections opened, closed by the server */
    pthread_t th;
} loris;

/* Keeps per_from connections open from each address, each sending one more header line
 * every 300 ms and never the blank line that ends the head; reopens what the server cuts. */
static void *loris_main(void *p) {
    loris *l = p;
    int n = l->n_from * l->per_from;
    for (int i = 0; i < n; i++) l->fds[i] = -1;
    static const char start[] = "POST /infer/instance_segmentation HTTP/1.1\r\nHost: x\r\n";
    while (!l->stop) {
        for (int i = 0; i < n && !l->stop; i++) {
            if (l->fds[i] >= 0 && closed_by_server(l->fds[i], 0)) {
                close(l->fds[i]);
                l->fds[i] = -1;
                l->cut++;
            }
            if (l->fds[i] < 0) {
                int fd = connect_from(l->from[i / l->per_from], l->port);
                if (fd < 0) continue;
                send(fd, start, sizeof start - 1, MSG_NOSIGNAL);
                l->fds[i] = fd;
                l->opened++;
            } else {
                send(l->fds[i], "X-Slow: 1\r\n", 11, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
        }
        sleep_ms(300);
    }
    for (int i = 0; i < n; i++)
        if (l->fds[i] >= 0) close(l->fds[i]);
    return NULL;
}

TEST(slowloris) {
    rfs_serve_config c = test_config();
    c.max_connections = 64;
    c.max_client_connections = 32;
    c.header_timeout_ms = 2000;
    c.client_timeout_s = 60; /* never silent: the idle timeout alone would not help */
    server s = start_server(&c);
    CHECK(s.pid > 0);
    if (s.pid <= 0) return;
    size_t jn;
    uint8_t *jpg = make_jpeg(160, 120, &jn);
    char *v = b64(jpg, jn);
    char *json = fmt("{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"base64\",\"value\":\"%s\"}}", v);

    loris l = {.port = s.port, .from = {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"},
               .n_from = 5, .per_from = 26}; /* 130 connections */
    pthread_create(&l.th, NULL, loris_main, &l);
    sleep_ms(500);
    /* the legitimate client, from its own address, for 6 s */
    double t_end = now_s() + 6, worst = 0;
    int served = 0, failed = 0;
    while (now_s() < t_end) {
        double t0 = now_s();
        int fd = connect_from("127.0.0.1", s.port);
        resp r = {0};
        if (fd >= 0) {
            send_request(fd, "POST", "/infer/instance_segmentation", "application/json", json, strlen(json));
            read_resp(fd, &r);
            close(fd);
        }
        double dt = now_s() - t0;
        if (dt > worst) worst = dt;
        if (r.status == 200 && dt < 5) served++;
        else {
            failed++;
            printf("  legitimate request: status %d after %.2f s\n", r.status, dt);
        }
        resp_free(&r);
        sleep_ms(200);
    }
    l.stop = 1;
    pthread_join(l.th, NULL);
    printf("  slowloris: %d slow connections opened, %d cut by the server; legitimate: %d served, "
           "%d failed, slowest %.2f s\n", l.opened, l.cut, served, failed, worst);
    CHECKF(failed == 0 && served >= 3, "legitimate client: %d served, %d failed", served, failed);
    CHECKF(l.opened >= 130 && l.cut > 0, "the slow connections were not cut (%d opened, %d cut)", l.opened, l.cut);
    CHECKF(metric(s.port, "rfseg_connections_cut_total{reason=\"evicted\"}") >= 1, "no eviction at the limit");

    /* below the limit nobody is evicted: the head deadline (2 s) cuts them */
    int slow[20], cut = 0;
    double t0 = now_s();
    for (int i = 0; i < 20; i++) {
        slow[i] = connect_from("127.0.0.8", s.port);
        if (slow[i] >= 0) send(slow[i], "GET /healthz HTTP/1.1\r\n", 23, MSG_NOSIGNAL);
    }
    while (now_s() - t0 < 10 && cut < 20) {
        cut = 0;
        for (int i = 0; i < 20; i++) {
            if (slow[i] >= 0 && !closed_by_server(slow[i], 0)) send(slow[i], "X-Slow: 1\r\n", 11, MSG_NOSIGNAL);
            else cut++;
        }
        sleep_ms(250);
    }
    double dt = now_s() - t0;
    for (int i = 0; i < 20; i++)
        if (slow[i] >= 0) close(slow[i]);
    CHECKF(cut == 20 && dt > 1.5 && dt < 6, "head deadline: %d of 20 cut after %.1f s", cut, dt);
    CHECKF(metric(s.port, "rfseg_connections_cut_total{reason=\"head_timeout\"}") >= 20, "head deadline cuts not counted");

    /* one address gets no more than its 32 connections: the rest are closed at once */
    int fds[48], closed = 0;
    for (int i = 0; i < 48; i++) {
        fds[i] = connect_from("127.0.0.9", s.port);
        if (fds[i] >= 0) send(fds[i], "GET /healthz HTTP/1.1\r\n", 23, MSG_NOSIGNAL);
    }
    sleep_ms(300);
    for (int i = 0; i < 48; i++) closed += fds[i] < 0 || closed_by_server(fds[i], 0);
    for (int i = 0; i < 48; i++)
        if (fds[i] >= 0) close(fds[i]);
    CHECKF(closed >= 16, "per-client limit: only %d of 48 connections from one address refused", closed);
    CHECK(healthy(s.port));
    CHECKF(stop_server(&s) == 0, "server did not exit cleanly");
    free(jpg), free(v), free(json);
}

TEST(slow_body) {
    /* a body trickling in at a byte every 200 ms, never silent for the client timeout, is
     * cut at the body deadline (1.5 s), long before the request deadline */
    rfs_serve_config c = test_config();
    c.body_timeout_ms = 1500;
    c.client_timeout_s = 60;
    server s = start_server(&c);
    CHECK(s.pid > 0);
    if (s.pid <= 0) return;
    int fd = connect_to(s.port);
    const char *h = "POST /infer/instance_segmentation HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{";
    send_all(fd, h, strlen(h));
    double t0 = now_s();
    int cut = 0;
    while (now_s() - t0 < 20 && !cut) {
        if (send(fd, " ", 1, MSG_NOSIGNAL) != 1) break;
        cut = closed_by_server(fd, 200);
    }
    double dt = now_s() - t0;
    close(fd);
    CHECKF(dt > 1.2 && dt < 5, "slow body cut after %.1f s (deadline 1.5 s)", dt);
    CHECK(metric(s.port, "rfseg_connections_cut_total{reason=\"body_timeout\"}") >= 1);
    CHECK(healthy(s.port));
    CHECKF(stop_server(&s) == 0, "server did not exit cleanly");
}

/* ---- clients that leave --------------------------------------------------------------------- */

static char *list_json(const char *model, const char *v, int n) {
    size_t one = strlen(v) + 40;
    char *imgs = malloc(one * (size_t)n + 1), *p = imgs;
    for (int i = 0; i < n; i++) p += sprintf(p, "%s{\"type\":\"base64\",\"value\":\"%s\"}", i ? "," : "", v);
    char *json = fmt("{\"model_id\":\"%s\",\"image\":[%s]}", model, imgs);
    free(imgs);
    return json;
}

TEST(client_leaves_while_queued) {
    /* batches wait long to fill: a 4-frame request sits in the queue, holding all of it */
    rfs_serve_config c = test_config();
    c.session.max_batch = 8;
    c.batch_wait_ms = 60000;
    c.queue_frames = 4;
    server s = start_server(&c);
    CHECK(s.pid > 0);
    if (s.pid <= 0) return;
    size_t jn;
    uint8_t *jpg = make_jpeg(32, 32, &jn);
    char *v = b64(jpg, jn);
    char *four = list_json("tiny/1", v, 4);
    int fd = connect_to(s.port);
    send_request(fd, "POST", "/infer/instance_segmentation", "application/json", four, strlen(four));
    CHECK(wait_metric(s.port, "rfseg_queue_depth", 4));
    resp r;
    post_json(s.port, four, &r); /* the queue is full */
    CHECKF(r.status == 503, "queue full: %d", r.status);
    resp_free(&r);
    close(fd); /* the client leaves */
    CHECKF(wait_metric(s.port, "rfseg_requests_cancelled_total", 1), "the cancellation was not counted");
    CHECK(metric(s.port, "rfseg_queue_depth") == 0);
    CHECK(metric(s.port, "rfseg_frames_cancelled_total") == 4);
    CHECK(metric(s.port, "rfseg_frames_total") == 0); /* never run */
    /* its slot is free: the next request is admitted (and leaves too) */
    fd = connect_to(s.port);
    send_request(fd, "POST", "/infer/instance_segmentation", "application/json", four, strlen(four));
    CHECKF(wait_metric(s.port, "rfseg_queue_depth", 4), "the next request was not admitted");
    close(fd);
    CHECK(wait_metric(s.port, "rfseg_requests_cancelled_total", 2));
    CHECKF(stop_server(&s) == 0, "server did not exit cleanly");
    free(jpg), free(v), free(four);
}

TEST(client_leaves_while_running) {
    /* one frame per batch, large frames: the client leaves after the first batch started */
    rfs_serve_config c = test_config();
    c.session.max_batch = 1;
    c.batch_wait_ms = 0;
    c.queue_frames = 8;
    c.limits.max_images = 8;
    c.max_body = 16 << 20;
    server s = start_server(&c);
    CHECK(s.pid > 0);
    if (s.pid <= 0) return;
    size_t jn;
    uint8_t *jpg = make_jpeg(1600, 1200, &jn);
    char *v = b64(jpg, jn);
    char *eight = list_json("tiny/1", v, 8);
    int fd = connect_to(s.port);
    send_request(fd, "POST", "/infer/instance_segmentation", "application/json", eight, strlen(eight));
    CHECK(wait_metric(s.port, "rfseg_frames_total", 1));
    close(fd);
    CHECKF(wait_metric(s.port, "rfseg_requests_cancelled_total", 1), "the cancellation was not counted");
    double ran = metric(s.port, "rfseg_frames_total"), dropped = metric(s.port, "rfseg_frames_cancelled_total");
    printf("  client left mid-request: %.0f of 8 frames ran, %.0f dropped unrun\n", ran, dropped);
    CHECKF(ran < 8 && dropped >= 1 && ran + dropped <= 8, "ran %.0f, dropped %.0f", ran, dropped);
    /* the whole queue is free again: an 8-frame request is admitted and answered */
    resp r;
    post_json(s.port, eight, &r);
    CHECKF(r.status == 200, "after the cancellation: %d %.200s", r.status, r.body ? r.body : "");
    resp_free(&r);
    CHECKF(stop_server(&s) == 0, "server did not exit cleanly");
    free(jpg), free(v), free(eight);
}

/* ---- decompression bombs -------------------------------------------------------------------- */

/* A w x h RGB PNG of zeros, zlib level 9, in memory. */
typedef struct png_mem {
    uint8_t *p;
    size_t n, cap;
} png_mem;

static void png_mem_write(png_structp png, png_bytep data, png_size_t n) {
    png_mem *m = png_get_io_ptr(png);
    if (m->n + n > m->cap) {
        while (m->n + n > m->cap) m->cap = m->cap ? m->cap * 2 : 65536;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->n, data, n);
    m->n += n;
}

static void png_mem_flush(png_structp png) {}

static uint8_t *zero_png(int w, int h, size_t *n) {
    png_mem m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(m.p);
        return NULL;
    }
    png_set_write_fn(png, &m, png_mem_write, png_mem_flush);
    png_set_compression_level(png, 9);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    uint8_t *row = calloc((size_t)w, 3);
    for (int y = 0; y < h; y++) png_write_row(png, row);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    *n = m.n;
    return m.p;
}

typedef struct post_arg {
    int port;
    const char *json;
    resp r;
    double seconds;
} post_arg;

static void *post_main(void *p) {
    post_arg *a = p;
    double t0 = now_s();
    post_json(a->port, a->json, &a->r);
    a->seconds = now_s() - t0;
    return NULL;
}

static long rss_kib(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) v = atol(line + 6);
    fclose(f);
    return v;
}

TEST(decompression_bombs) {
    const uint64_t budget = (uint64_t)256 << 20;
    rfs_serve_config c = test_config();
    c.memory_budget = budget;
    c.memory_wait_ms = 60000;
    c.limits.max_images = 16;
    c.limits.max_pixels = 25000000;
    c.queue_frames = 32;
    c.max_body = (size_t)16 << 20;
    c.session.threads = 1;
    server s = start_server(&c);
    CHECK(s.pid > 0);
    if (s.pid <= 0) return;
    size_t pn;
    uint8_t *png = zero_png(5000, 5000, &pn);
    CHECK(png != NULL);
    char *v = b64(png, pn);
    char *sixteen = list_json("tiny/1", v, 16), *two = list_json("tiny/1", v, 2);
    printf("  a 5000x5000 zero PNG: %zu bytes; a request of 16: %zu bytes of JSON\n", pn, strlen(sixteen));
    CHECK(healthy(s.port));
    long base = rss_kib(s.pid);

    /* 16 x 75 MB decoded can never fit 256 MiB: refused at once, nothing decoded */
    post_arg a[2] = {{.port = s.port, .json = sixteen}, {.port = s.port, .json = sixteen}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, post_main, &a[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECKF(a[i].r.status == 413 && a[i].r.body && strstr(a[i].r.body, "memory budget"),
               "bomb request %d: %d %.200s", i, a[i].r.status, a[i].r.body ? a[i].r.body : "");
        resp_free(&a[i].r);
    }
    long after_bombs = peak_rss_kib(s.pid);
    printf("  server RSS %ld KiB before, peak %ld KiB after two bomb requests\n", base, after_bombs);
    CHECKF(SANITIZED || after_bombs - base < 64 * 1024, "the bomb requests grew the server by %ld KiB", after_bombs - base);

    /* 2 x 75 MB (+ 75 MB while decoding) fits once, not twice: the second waits its turn */
    post_arg b[2] = {{.port = s.port, .json = two}, {.port = s.port, .json = two}};
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, post_main, &b[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECKF(b[i].r.status == 200, "fitting request %d: %d %.200s", i, b[i].r.status, b[i].r.body ? b[i].r.body : "");
        resp_free(&b[i].r);
    }
    double peak_budget = metric(s.port, "rfseg_memory_budget_bytes{state=\"peak\"}");
    long peak = peak_rss_kib(s.pid);
    printf("  two fitting requests: %.1f s and %.1f s; budget peak %.0f MiB of %llu; server peak RSS %ld KiB "
           "(%ld KiB above the start)\n", b[0].seconds, b[1].seconds, peak_budget / (1 << 20),
           (unsigned long long)(budget >> 20), peak, peak - base);
    CHECK(peak_budget > 0 && peak_budget <= (double)budget);
    /* decoded frames within the budget; the rest (bodies, results, allocator) well below it.
     * (AddressSanitizer keeps freed memory in quarantine: RSS says nothing there.) */
    if (!SANITIZED)
        CHECKF((uint64_t)(peak - base) * 1024 < budget + ((uint64_t)96 << 20),
               "server peak %ld KiB above its start, budget %llu MiB", peak - base, (unsigned long long)(budget >> 20));
    CHECKF(stop_server(&s) == 0, "server did not exit cleanly");
    free(png), free(v), free(sixteen), free(two);
}

/* ---- image URLs ------------------------------------------------------------------------------- */

typedef struct url_case {
    const char *url; /* %d: the file server's port */
    const char *msg; /* substring of the answer */
} url_case;

static void check_urls(int port, const file_server *fs, const url_case *cases, int n) {
    for (int k = 0; k < n; k++) {
        char *url = fmt(cases[k].url, fs->port);
        char *json = fmt("{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"url\",\"value\":\"%s\"}}", url);
        resp r;
        post_json(port, json, &r);
        int ok = r.status == 400 && r.body && strstr(r.body, cases[k].msg) && !strstr(r.body, "internal-secret") &&
                 !strstr(r.body, "69 6e 74") && !strstr(r.body, "curl") && !strstr(r.body, "Could not");
        CHECKF(ok, "%s: %d %.300s", url, r.status, r.body ? r.body : "");
        resp_free(&r);
        free(json), free(url);
    }
}

TEST(image_url_refusals) {
    file_server fs;
    CHECK(file_server_bind(&fs, "fixtures/images/coffee.png") == 0);
    /* A: the default policy (https only, fully qualified names) */
    rfs_serve_config c = test_config();
    c.limits.allow_urls = 1;
    server a = start_server(&c);
    /* B: http and bare addresses allowed: the address rules alone must refuse */
    c.urls.allow_non_https = 1;
    c.urls.allow_without_fqdn = 1;
    server b = start_server(&c);
    /* C: 127.0.0.1 named in the allow list: fetched, but redirects elsewhere are refused */
    char msg[128];
    CHECK(rfs_url_list_parse(&c.urls.allow, &c.urls.n_allow, "127.0.0.1", msg, sizeof msg) == 0);
    server cc = start_server(&c);
    free(c.urls.allow);
    file_server_run(&fs);
    CHECK(a.pid > 0 && b.pid > 0 && cc.pid > 0);
    if (a.pid <= 0 || b.pid <= 0 || cc.pid <= 0) goto done;

    const url_case by_policy[] = {
        {"http://127.0.0.1:%d/img", "only https://"},
        {"https://127.0.0.1:%d/img", "literal IP address"},
        {"https://0x7f000001:%d/img", "refused"},
        {"https://127.1:%d/img", "refused"},
        {"https://[::1]:%d/img", "literal IP address"},
        {"https://localhost:%d/img", "not a fully qualified domain name"},
        {"https://intranet:%d/img", "not a fully qualified domain name"},
        {"https://user:pw@example.com:%d/img", "credentials"},
        {"ftp://example.com:%d/img", "only http:// and https://"},
    };
    check_urls(a.port, &fs, by_policy, (int)(sizeof by_policy / sizeof *by_policy));

    const url_case by_address[] = {
        {"http://127.0.0.1:%d/img", "loopback"},
        {"http://0x7f000001:%d/img", "loopback"},
        {"http://127.1:%d/img", "loopback"},
        {"http://2130706433:%d/img", "loopback"},
        {"http://0177.0.0.1:%d/img", "loopback"},
        {"http://[::1]:%d/img", "loopback"},
        {"http://[::ffff:127.0.0.1]:%d/img", "loopback"},
        {"http://localhost:%d/img", "loopback"}, /* a name: refused after DNS, at connect */
        {"http://10.1.2.3:%d/img", "private"},
        {"http://192.168.0.1:%d/img", "private"},
        {"http://172.16.5.4:%d/img", "private"},
        {"http://169.254.169.254:%d/latest/meta-data", "link-local"},
        {"http://100.64.0.1:%d/img", "shared"},
        {"http://[fe80::1]:%d/img", "link-local"},
        {"http://[fd00::1]:%d/img", "unique local"},
        {"http://0.0.0.0:%d/img", "refused"},
    };
    check_urls(b.port, &fs, by_address, (int)(sizeof by_address / sizeof *by_address));
    CHECKF(fs.hits == 0, "the file server was reached %d times by refused URLs", fs.hits);

    /* redirects are checked hop by hop */
    const url_case redirected[] = {{"http://127.0.0.1:%d/redir", "refused"}};
    snprintf(fs.redirect_to, sizeof fs.redirect_to, "http://127.0.0.2:%d/img", fs.port);
    check_urls(cc.port, &fs, redirected, 1);
    snprintf(fs.redirect_to, sizeof fs.redirect_to, "http://localhost:%d/img", fs.port);
    check_urls(cc.port, &fs, redirected, 1);
    snprintf(fs.redirect_to, sizeof fs.redirect_to, "http://[::1]:%d/img", fs.port);
    check_urls(cc.port, &fs, redirected, 1);
    int hits = fs.hits;
    CHECKF(hits == 3, "expected only the 3 first hops to reach the file server, got %d", hits);
    /* a redirect to an allowed place is followed */
    snprintf(fs.redirect_to, sizeof fs.redirect_to, "http://127.0.0.1:%d/img", fs.port);
    char *json = fmt("{\"model_id\":\"tiny/1\",\"image\":{\"type\":\"url\",\"value\":\"http://127.0.0.1:%d/redir\"}}", fs.port);
    resp r;
    post_json(cc.port, json, &r);
    CHECKF(r.status == 200 && r.body && strstr(r.body, "\"predictions\""), "allowed redirect: %d", r.status);
    resp_free(&r);
    free(json);
    /* a body that is not an image is not quoted back */
    const url_case text[] = {{"http://127.0.0.1:%d/text", "not an image"}, {"http://127.0.0.1:%d/nothing", "could not fetch"}};
    check_urls(cc.port, &fs, text, 2);
done:
    CHECK(stop_server(&a) == 0 && stop_server(&b) == 0 && stop_server(&cc) == 0);
    file_server_close(&fs);
}

/* ---- request framing ---------------------------------------------------------------------------- */

/* Sends raw bytes and reads until the server closes (or 5 s). */
static char *raw_exchange(int port, const char *bytes) {
    int fd = connect_to(port);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    send_all(fd, bytes, strlen(bytes));
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        ssize_t k = recv(fd, buf + len, cap - len - 1, 0);
        if (k <= 0) break;
        len += (size_t)k;
        if (len + 1 >= cap) break;
    }
    buf[len] = 0;
    close(fd);
    return buf;
}

static int count_responses(const char *s) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, "HTTP/1.1 ")); p++) n++;
    return n;
}

TEST(request_framing) {
    rfs_serve_config c = test_config();
    server s = start_server(&c);
    CHECK(s.pid > 0);
    if (s.pid <= 0) return;
    /* CL + TE: a smuggled request hides in the "body" */
    char *out = raw_exchange(s.port, "POST /tiny/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECKF(!strncmp(out, "HTTP/1.1 400", 12) && strstr(out, "Content-Length and Transfer-Encoding") &&
               count_responses(out) == 1 && !strstr(out, "\"ok\""),
           "CL+TE: %.300s", out);
    free(out);
    out = raw_exchange(s.port, "POST /tiny/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                               "Content-Length: 5\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECKF(!strncmp(out, "HTTP/1.1 400", 12) && count_responses(out) == 1, "TE+CL: %.300s", out);
    free(out);
    out = raw_exchange(s.port, "POST /tiny/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
    CHECKF(!strncmp(out, "HTTP/1.1 501", 12) && count_responses(out) == 1, "TE gzip: %.300s", out);
    free(out);
    out = raw_exchange(s.port, "POST /tiny/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab");
    CHECKF(!strncmp(out, "HTTP/1.1 400", 12) && strstr(out, "conflicting"), "two lengths: %.300s", out);
    free(out);
    /* chunked alone is fine (and keep-alive pipelining still works) */
    out = raw_exchange(s.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n"
                               "Connection: close\r\n\r\n");
    CHECKF(count_responses(out) == 2, "pipelined: %.300s", out);
    free(out);
    CHECK(healthy(s.port));
    CHECKF(stop_server(&s) == 0, "server did not exit cleanly");
}

int main(int argc, char **argv) {
    serve_util_init(argv[0]);
    RUN(request_framing);
    RUN(slow_body);
    RUN(client_leaves_while_queued);
    RUN(client_leaves_while_running);
    RUN(image_url_refusals);
    RUN(decompression_bombs);
    RUN(slowloris);
    return test_summary();
}
#else
int main(void) {
    printf("rfseg serve is not built (no libmicrohttpd): nothing to test\n0 passed, 0 failed\n");
    return 0;
}
#endif
