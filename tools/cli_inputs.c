/* cli_inputs.c - predict's operands (cli_inputs.h). */
#include "cli_inputs.h"

#include "cli.h"
#include "cli_out.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#if RFS_HAVE_CURL
#include <curl/curl.h>
#endif

int cli_is_http_url(const char *s) { return !strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8); }

static int push(cli_inputs *in, cli_input_kind kind, const char *name, const char *error) {
    if (in->n == in->cap) {
        int cap = in->cap ? in->cap * 2 : 16;
        cli_input *v = realloc(in->v, sizeof *v * (size_t)cap);
        if (!v) return 0;
        in->v = v, in->cap = cap;
    }
    cli_input *e = &in->v[in->n];
    e->kind = kind;
    e->name = strdup(name);
    e->error = error ? strdup(error) : NULL;
    if (!e->name || (error && !e->error)) {
        free(e->name), free(e->error);
        return 0;
    }
    in->n++;
    if (kind != CLI_IN_ERROR) in->n_images++;
    return 1;
}

/* the images a directory operand contributes */
static const char *const DIR_IMAGE_EXTS[] = {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".webp",
                                             ".tif", ".tiff", NULL};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Directories being listed, from the operand down: a symbolic link back to one of them is
 * not followed again (no loops). */
typedef struct dir_chain {
    dev_t dev;
    ino_t ino;
    const struct dir_chain *up;
} dir_chain;

/* The images of a directory in name order (files first-level, then each subdirectory's in
 * its place in the order when recursive). Hidden entries are skipped. */
static int add_dir(cli_inputs *in, const char *dir, int recursive, int depth, const dir_chain *up) {
    struct stat ds;
    if (stat(dir, &ds) != 0) return 1;
    for (const dir_chain *c = up; c; c = c->up)
        if (c->dev == ds.st_dev && c->ino == ds.st_ino) return 1; /* a loop */
    const dir_chain here = {ds.st_dev, ds.st_ino, up};
    DIR *d = opendir(dir);
    if (!d) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s: %s", dir, strerror(errno));
        return push(in, CLI_IN_ERROR, dir, msg);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int ok = 1;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, sizeof *nn * cap);
            if (!nn) {
                ok = 0;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            ok = 0;
            break;
        }
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && ok; i++) {
        char path[4096];
        size_t dl = strlen(dir);
        snprintf(path, sizeof path, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", names[i]);
        struct stat sb;
        if (stat(path, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) {
            if (recursive && depth < 64) ok = add_dir(in, path, recursive, depth + 1, &here);
        } else if (S_ISREG(sb.st_mode) && cli_has_ext(names[i], DIR_IMAGE_EXTS)) {
            ok = push(in, CLI_IN_FILE, path, NULL);
        }
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return ok;
}

int cli_inputs_add(cli_inputs *in, const char *op, int recursive, int allow_urls) {
    if (!strcmp(op, "-")) {
        for (int i = 0; i < in->n; i++)
            if (in->v[i].kind == CLI_IN_STDIN) {
                fprintf(stderr, "rfseg predict: `-` (standard input) given twice\n");
                return 0;
            }
        return push(in, CLI_IN_STDIN, "-", NULL);
    }
    if (cli_is_http_url(op)) {
        if (!allow_urls) {
            fprintf(stderr, "rfseg predict: %s: URLs are read only with --allow-urls\n", op);
            return 0;
        }
        return push(in, CLI_IN_URL, op, NULL); /* shown without credentials (cli_display_source) */
    }
    struct stat sb;
    if (stat(op, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            int before = in->n_images, ok = add_dir(in, op, recursive, 0, NULL);
            if (ok && in->n_images == before) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s: no images in this directory (.jpg .jpeg .png .bmp .webp .tif%s)", op,
                         recursive ? "" : "; --recursive descends into subdirectories");
                return push(in, CLI_IN_ERROR, op, msg);
            }
            return ok;
        }
        return push(in, CLI_IN_FILE, op, NULL);
    }
    if (strpbrk(op, "*?[")) {
        glob_t g;
        int r = glob(op, GLOB_MARK, NULL, &g);
        if (r == GLOB_NOMATCH || (r == 0 && g.gl_pathc == 0)) {
            globfree(&g);
            char msg[512];
            snprintf(msg, sizeof msg, "%s: no file matches this pattern", op);
            return push(in, CLI_IN_ERROR, op, msg);
        }
        if (r != 0) {
            globfree(&g);
            fprintf(stderr, "rfseg predict: %s: cannot expand the pattern\n", op);
            return 0;
        }
        int ok = 1;
        for (size_t i = 0; i < g.gl_pathc && ok; i++) {
            const char *p = g.gl_pathv[i];
            size_t l = strlen(p);
            if (l && p[l - 1] == '/') { /* a directory: its images, as for a directory operand */
                char dir[4096];
                snprintf(dir, sizeof dir, "%.*s", (int)(l - 1), p);
                ok = add_dir(in, dir, recursive, 0, NULL);
            } else ok = push(in, CLI_IN_FILE, p, NULL);
        }
        globfree(&g);
        return ok;
    }
    return push(in, CLI_IN_FILE, op, NULL); /* missing: reported when it is read */
}

void cli_inputs_free(cli_inputs *in) {
    for (int i = 0; i < in->n; i++) free(in->v[i].name), free(in->v[i].error);
    free(in->v);
    memset(in, 0, sizeof *in);
}

int cli_read_stdin(uint8_t **out, size_t *len, size_t max_bytes, char *err, size_t errcap) {
    if (isatty(0)) {
        snprintf(err, errcap, "standard input is a terminal, not an image");
        return 0;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    if (!b) {
        snprintf(err, errcap, "out of memory");
        return 0;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= max_bytes) {
                free(b);
                snprintf(err, errcap, "standard input is larger than %zu bytes", max_bytes);
                return 0;
            }
            cap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            uint8_t *nb = realloc(b, cap);
            if (!nb) {
                free(b);
                snprintf(err, errcap, "out of memory");
                return 0;
            }
            b = nb;
        }
        ssize_t r = read(0, b + n, cap - n);
        if (r < 0 && errno == EINTR) {
            if (cli_stop) break;
            continue;
        }
        if (r < 0) {
            snprintf(err, errcap, "reading standard input: %s", strerror(errno));
            free(b);
            return 0;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    if (n == 0) {
        free(b);
        snprintf(err, errcap, "standard input is empty");
        return 0;
    }
    *out = b;
    *len = n;
    return 1;
}

#if RFS_HAVE_CURL
typedef struct sink {
    uint8_t *p;
    size_t n, cap, max;
    int too_big;
} sink;

static size_t on_data(char *d, size_t sz, size_t nm, void *user) {
    sink *s = user;
    size_t n = sz * nm;
    if (s->n + n > s->max) {
        s->too_big = 1;
        return 0;
    }
    if (s->n + n > s->cap) {
        size_t cap = s->cap ? s->cap : 65536;
        while (cap < s->n + n) cap *= 2;
        if (cap > s->max) cap = s->max;
        uint8_t *np = realloc(s->p, cap);
        if (!np) return 0;
        s->p = np, s->cap = cap;
    }
    memcpy(s->p + s->n, d, n);
    s->n += n;
    return n;
}

static int on_progress(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)user, (void)dt, (void)dn, (void)ut, (void)un;
    return cli_stop != 0; /* Ctrl-C aborts the transfer */
}
#endif

int cli_fetch_url(uint8_t **out, size_t *len, const char *url, size_t max_bytes, long timeout_ms,
                  char *err, size_t errcap) {
#if RFS_HAVE_CURL
    static int inited;
    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = 1;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errcap, "could not fetch: libcurl failed to start");
        return 0;
    }
    sink s = {.max = max_bytes};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    CURLcode r = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (r != CURLE_OK) {
        free(s.p);
        if (s.too_big || r == CURLE_FILESIZE_EXCEEDED)
            snprintf(err, errcap, "could not fetch: larger than %zu bytes", max_bytes);
        else if (r == CURLE_OPERATION_TIMEDOUT)
            snprintf(err, errcap, "could not fetch: no complete answer within %ld ms", timeout_ms);
        else if (r == CURLE_HTTP_RETURNED_ERROR)
            snprintf(err, errcap, "could not fetch: HTTP status %ld", code);
        else if (r == CURLE_ABORTED_BY_CALLBACK)
            snprintf(err, errcap, "could not fetch: interrupted");
        else snprintf(err, errcap, "could not fetch: %s", curl_easy_strerror(r));
        return 0;
    }
    if (s.n == 0) {
        free(s.p);
        snprintf(err, errcap, "could not fetch: empty body");
        return 0;
    }
    *out = s.p;
    *len = s.n;
    return 1;
#else
    (void)out, (void)len, (void)url, (void)max_bytes, (void)timeout_ms;
    snprintf(err, errcap, "URLs need libcurl, which this build lacks");
    return 0;
#endif
}
