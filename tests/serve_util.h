/* serve_util.h - what the rfseg serve tests share: a raw-socket HTTP client (so that a
 * client can also misbehave), servers in forked children, comparison with `rfseg predict`,
 * a small HTTP file server for URL tests, and image helpers.
 *
 * Every function is static (each test program is one translation unit). Call
 * serve_util_init(argv[0]) first: it finds the rfseg CLI and the fixture models.
 */
#ifndef RFS_TESTS_SERVE_UTIL_H
#define RFS_TESTS_SERVE_UTIL_H

#include "harness.h"
#include "io/image.h"
#include "serve/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jpeglib.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SU static __attribute__((unused))

static char rfseg_bin[1024] __attribute__((unused)); /* the CLI next to this test's build directory */
static char model_w1[1024], model_w2[1024]; /* copies: test_shared() reuses its buffers */

/* ---- small utilities ------------------------------------------------------------------ */

SU double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

SU void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

SU char *b64(const uint8_t *d, size_t n) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc(4 * ((n + 2) / 3) + 1), *p = o;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        *p++ = t[v >> 18 & 63];
        *p++ = t[v >> 12 & 63];
        *p++ = i + 1 < n ? t[v >> 6 & 63] : '=';
        *p++ = i + 2 < n ? t[v & 63] : '=';
    }
    *p = 0;
    return o;
}

/* printf into a malloc'd string */
SU char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
SU char *fmt(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

/* A PNG signature and a valid IHDR chunk declaring w x h RGB8, then IEND: no pixels. */
SU size_t png_header_only(uint8_t out[64], uint32_t w, uint32_t h) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(out, sig, 8);
    test_be32(out + 8, 13);
    memcpy(out + 12, "IHDR", 4);
    test_be32(out + 16, w);
    test_be32(out + 20, h);
    out[24] = 8, out[25] = 2, out[26] = 0, out[27] = 0, out[28] = 0;
    test_be32(out + 29, test_crc32(out + 12, 17));
    test_be32(out + 33, 0);
    memcpy(out + 37, "IEND", 4);
    test_be32(out + 41, test_crc32(out + 37, 4));
    return 45;
}

/* Encodes BGR pixels (w x h, or a gradient when bgr is NULL) as a JPEG in memory, with an
 * EXIF APP1 segment carrying `orientation` when it is not 0 (caller frees). */
SU uint8_t *encode_jpeg(const uint8_t *bgr, int w, int h, int stride, int orientation, size_t *n) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *out = NULL;
    unsigned long len = 0;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    if (orientation) { /* "Exif\0\0", little-endian TIFF, one IFD entry: Orientation (SHORT) */
        static uint8_t exif[] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0,
                                 0x12, 1, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        exif[24] = (uint8_t)orientation;
        jpeg_write_marker(&c, JPEG_APP0 + 1, exif, sizeof exif);
    }
    uint8_t *row = malloc((size_t)w * 3);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            const uint8_t *p = bgr ? bgr + (size_t)y * stride + 3 * x : NULL;
            row[3 * x] = p ? p[2] : (uint8_t)x;
            row[3 * x + 1] = p ? p[1] : (uint8_t)y;
            row[3 * x + 2] = p ? p[0] : (uint8_t)(x ^ y);
        }
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    free(row);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *n = len;
    return out;
}

SU uint8_t *make_jpeg(int w, int h, size_t *n) { return encode_jpeg(NULL, w, h, 0, 0, n); }

/* ---- HTTP client ------------------------------------------------------------------------ */

typedef struct resp {
    int status;
    char *head; /* status line and headers */
    char *body;
    size_t body_len;
} resp;

SU void resp_free(resp *r) {
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

SU int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {120, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

SU int send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0) return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads a whole answer (the server closes: every request says Connection: close). */
SU int read_resp(int fd, resp *r) {
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
        ssize_t k = recv(fd, buf + len, cap - len - 1, 0);
        if (k <= 0) break;
        len += (size_t)k;
    }
    buf[len] = 0;
    memset(r, 0, sizeof *r);
    char *sep = strstr(buf, "\r\n\r\n");
    if (!sep || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
        free(buf);
        r->status = -1;
        return -1;
    }
    size_t hl = (size_t)(sep - buf);
    r->head = malloc(hl + 1);
    memcpy(r->head, buf, hl);
    r->head[hl] = 0;
    r->body_len = len - hl - 4;
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, sep + 4, r->body_len);
    r->body[r->body_len] = 0;
    free(buf);
    return 0;
}

SU void send_request(int fd, const char *method, const char *path, const char *ctype,
                         const void *body, size_t n) {
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%sContent-Length: %zu\r\n\r\n",
                      method, path, ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "", n);
    send_all(fd, head, (size_t)hl);
    if (n) send_all(fd, body, n); /* a server that refused early may close: ignore */
}

/* A request with extra header lines (each ending in \r\n; may be NULL). */
SU int http_h(int port, const char *method, const char *path, const char *ctype, const char *headers,
              const void *body, size_t n, resp *r) {
    int fd = connect_to(port);
    memset(r, 0, sizeof *r);
    r->status = -1;
    if (fd < 0) return -1;
    char *head = malloc(2048 + (headers ? strlen(headers) : 0));
    int hl = sprintf(head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%s%sContent-Length: %zu\r\n\r\n",
                     method, path, ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
                     headers ? headers : "", n);
    send_all(fd, head, (size_t)hl);
    free(head);
    if (n) send_all(fd, body, n);
    int rc = read_resp(fd, r);
    close(fd);
    return rc;
}

SU int http(int port, const char *method, const char *path, const char *ctype, const void *body,
                size_t n, resp *r) {
    int fd = connect_to(port);
    if (fd < 0) {
        memset(r, 0, sizeof *r);
        r->status = -1;
        return -1;
    }
    send_request(fd, method, path, ctype, body, n);
    int rc = read_resp(fd, r);
    close(fd);
    return rc;
}

SU int post_json(int port, const char *json, resp *r) {
    return http(port, "POST", "/infer/instance_segmentation", "application/json", json, strlen(json), r);
}

SU int healthy(int port) {
    resp r;
    http(port, "GET", "/healthz", NULL, NULL, 0, &r);
    int ok = r.status == 200 && r.body && strstr(r.body, "\"ok\"");
    resp_free(&r);
    return ok;
}

/* ---- servers in child processes ------------------------------------------------------------ */

typedef struct server {
    pid_t pid;
    int port;
} server;

SU void on_ready(void *user, int port) {
    int fd = *(int *)user;
    if (write(fd, &port, sizeof port) != (ssize_t)sizeof port) _exit(5);
    close(fd);
}

/* Forks a server with both fixture models ("tiny/1" = w1, "tiny/2" = w2, "w1" = w1 again). */
SU server start_server(const rfs_serve_config *base) {
    int p[2];
    server s = {-1, -1};
    if (pipe(p) != 0) return s;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        rfs_model *m1 = NULL, *m2 = NULL;
        if (rfs_model_load(&m1, model_w1) != RFS_OK || rfs_model_load(&m2, model_w2) != RFS_OK) {
            fprintf(stderr, "server: %s\n", rfs_last_error());
            exit(3);
        }
        rfs_predict_opts po = rfs_predict_defaults(RFS_PRESET_ROBOFLOW);
        rfs_serve_model models[3] = {{"tiny/1", m1, po}, {"tiny/2", m2, po}, {"w1", m1, po}};
        rfs_serve_config c = *base;
        c.models = models;
        c.n_models = 3;
        rfs_status st = rfs_serve_run(&c, on_ready, &p[1]);
        if (st != RFS_OK) fprintf(stderr, "server: %s\n", rfs_serve_last_error());
        rfs_model_free(m1);
        rfs_model_free(m2);
        exit(st == RFS_OK ? 0 : 4); /* exit(), not _exit(): LeakSanitizer checks the server */
    }
    close(p[1]);
    struct pollfd pf = {p[0], POLLIN, 0};
    if (pid > 0 && poll(&pf, 1, 120000) == 1 && read(p[0], &s.port, sizeof s.port) == (ssize_t)sizeof s.port)
        s.pid = pid;
    else if (pid > 0) kill(pid, SIGKILL), waitpid(pid, NULL, 0);
    close(p[0]);
    return s;
}

/* SIGTERM, then the exit status (-1 when it did not exit within 60 s). */
SU int stop_server(server *s) {
    if (s->pid <= 0) return -1;
    kill(s->pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 6000; i++) {
        pid_t w = waitpid(s->pid, &status, WNOHANG);
        if (w == s->pid) {
            s->pid = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        sleep_ms(10);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = -1;
    return -1;
}

SU rfs_serve_config test_config(void) {
    rfs_serve_config c = rfs_serve_defaults();
    c.port = 0;
    c.session.threads = 2;
    c.session.max_batch = 4;
    c.batch_wait_ms = 20;
    c.queue_frames = 16;
    c.deadline_ms = 300000; /* generous: other builds and tests may load this machine */
    c.client_timeout_s = 2;
    c.max_body = (size_t)4 << 20;
    c.limits.max_images = 4;
    return c;
}


/* ---- comparing with `rfseg predict` ---------------------------------------------------------- */

/* Removes the values of "detection_id", "inference_id" (strings) and "time" (a number). */
SU void normalize(char *s) {
    static const char *const keys[] = {"\"detection_id\":\"", "\"inference_id\":\"", "\"time\":"};
    for (int k = 0; k < 3; k++) {
        size_t kl = strlen(keys[k]);
        for (char *p = strstr(s, keys[k]); p; p = strstr(p + kl, keys[k])) {
            char *v = p + kl, *e = v;
            if (k < 2) while (*e && *e != '"') e++;
            else while (*e && *e != ',' && *e != '}') e++;
            memmove(v, e, strlen(e) + 1);
        }
    }
}

/* One line of `rfseg predict` output (normalized), or NULL. */
SU char *predict_cli(const char *model, const char *image, const char *extra) {
    char *cmd = fmt("'%s' predict --model '%s' %s '%s' 2>/dev/null", rfseg_bin, model, extra ? extra : "", image);
    FILE *f = popen(cmd, "r");
    free(cmd);
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    size_t k;
    while ((k = fread(out + len, 1, cap - len - 1, f)) > 0)
        if ((len += k) + 1 >= cap) out = realloc(out, cap *= 2);
    out[len] = 0;
    int st = pclose(f);
    while (len && out[len - 1] == '\n') out[--len] = 0;
    if (st != 0 || !len) {
        free(out);
        return NULL;
    }
    normalize(out);
    return out;
}

SU int body_equals(const resp *r, const char *expect) {
    if (!r->body || !expect) return 0;
    char *b = strdup(r->body);
    normalize(b);
    int eq = !strcmp(b, expect);
    if (!eq) printf("  got:    %.300s\n  expect: %.300s\n", b, expect);
    free(b);
    return eq;
}

SU char *image_b64(const char *name) {
    size_t n;
    uint8_t *d = test_read_file(test_shared(name), &n);
    if (!d) return NULL;
    char *s = b64(d, n);
    free(d);
    return s;
}

SU int closed_by_server(int fd, int timeout_ms) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return 0;
    char b[256];
    ssize_t k = recv(fd, b, sizeof b, MSG_DONTWAIT);
    return k == 0 || (k < 0 && errno == ECONNRESET);
}

/* Value of a gauge or counter line "name value" in a metrics text; -1 when absent. */
SU double metric(int port, const char *name) {
    resp r;
    http(port, "GET", "/metrics", NULL, NULL, 0, &r);
    double v = -1;
    size_t nl = strlen(name);
    for (const char *p = r.body; p && (p = strstr(p, name)); p += nl)
        if ((p == r.body || p[-1] == '\n') && p[nl] == ' ') {
            v = atof(p + nl + 1);
            break;
        }
    resp_free(&r);
    return v;
}

/* Polls a metric until it reaches at least min (up to 60 s). */
SU int wait_metric(int port, const char *name, double min) {
    for (int i = 0; i < 6000; i++) {
        if (metric(port, name) >= min) return 1;
        sleep_ms(10);
    }
    return 0;
}

/* A one-thread HTTP file server for the URL tests, on 127.0.0.1:
 *   /img  -> the image, /big -> 2 MiB of zeros, /text -> a non-image body (SECRET_TEXT),
 *   /redir -> 302 to redirect_to, anything else -> 404. */
#define SECRET_TEXT "internal-secret-0123456789 <html>do not echo</html>"
typedef struct file_server {
    int fd, port, stop, started;
    const uint8_t *img;
    size_t img_len;
    char redirect_to[512];
    int hits;                  /* requests served */
    pthread_t th;
} file_server;

SU void *file_server_main(void *p) {
    file_server *fs = p;
    static uint8_t big[2 << 20];
    while (!fs->stop) {
        struct pollfd pf = {fs->fd, POLLIN, 0};
        if (poll(&pf, 1, 100) != 1) continue;
        int c = accept(fs->fd, NULL, NULL);
        if (c < 0) continue;
        char req[2048] = "";
        ssize_t k = recv(c, req, sizeof req - 1, 0);
        req[k > 0 ? k : 0] = 0;
        fs->hits++;
        const uint8_t *body = NULL;
        size_t n = 0;
        char head[1024];
        int hl;
        if (!strncmp(req, "GET /img ", 9)) body = fs->img, n = fs->img_len;
        else if (!strncmp(req, "GET /big ", 9)) body = big, n = sizeof big;
        else if (!strncmp(req, "GET /text ", 10)) body = (const uint8_t *)SECRET_TEXT, n = strlen(SECRET_TEXT);
        if (!strncmp(req, "GET /redir ", 11))
            hl = snprintf(head, sizeof head, "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n"
                                             "Connection: close\r\n\r\n", fs->redirect_to);
        else if (body)
            hl = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", n);
        else
            hl = snprintf(head, sizeof head, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        send_all(c, head, (size_t)hl);
        if (body) send_all(c, body, n);
        close(c);
    }
    return NULL;
}

/* Binds the file server to 127.0.0.1 (any port); the thread starts in file_server_run, so
 * that servers can be forked before this process has threads. 0 or -1. */
SU int file_server_bind(file_server *fs, const char *image_fixture) {
    memset(fs, 0, sizeof *fs);
    uint8_t *img = test_read_file(test_shared(image_fixture), &fs->img_len);
    fs->img = img;
    fs->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t al = sizeof a;
    if (!img || bind(fs->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fs->fd, 16) != 0 ||
        getsockname(fs->fd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    fs->port = ntohs(a.sin_port);
    return 0;
}

SU void file_server_run(file_server *fs) { fs->started = pthread_create(&fs->th, NULL, file_server_main, fs) == 0; }

SU void file_server_close(file_server *fs) {
    fs->stop = 1;
    if (fs->started) pthread_join(fs->th, NULL);
    close(fs->fd);
    free((void *)fs->img);
}

/* Finds the CLI next to this test's build directory (build/tests/test_x -> build/rfseg)
 * and the fixture models. */
SU void serve_util_init(const char *argv0) {
    signal(SIGPIPE, SIG_IGN);
    snprintf(rfseg_bin, sizeof rfseg_bin, "%s", argv0);
    char *slash = strrchr(rfseg_bin, '/');
    if (slash) *slash = 0;
    else snprintf(rfseg_bin, sizeof rfseg_bin, ".");
    strncat(rfseg_bin, "/../rfseg", sizeof rfseg_bin - strlen(rfseg_bin) - 1);
    struct stat sb;
    if (stat(rfseg_bin, &sb) != 0) {
        const char *b = getenv("RFS_BUILD");
        snprintf(rfseg_bin, sizeof rfseg_bin, "%s/rfseg", b && *b ? b : "build");
    }
    snprintf(model_w1, sizeof model_w1, "%s", test_shared("fixtures/rfdetr/tiny-w1.pth"));
    snprintf(model_w2, sizeof model_w2, "%s", test_shared("fixtures/rfdetr/tiny-w2.pth"));
}

/* Peak resident memory (VmHWM) of a process in KiB, or -1. */
SU long peak_rss_kib(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) v = atol(line + 6);
    fclose(f);
    return v;
}

/* A connected TCP socket to 127.0.0.1:port from the local address `from` (any 127.x.y.z:
 * the whole 127/8 is loopback, so a test can be several clients), or -1. */
SU int connect_from(const char *from, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, from, &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

#endif
