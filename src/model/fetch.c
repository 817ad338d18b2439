/* fetch.c - download of the official checkpoints into the user's cache (libcurl), verified
 * against the official MD5 digests (libcrypto).
 *
 * URLs, local names and MD5s from rfdetr's assets/model_weights.py (ModelWeights). A
 * download goes to "<file>.part", is hashed while it is written, and is renamed only when
 * complete, of the official digest and loadable, so an interrupted, corrupt or altered
 * download is never mistaken for a cached checkpoint. */
#include "model/model.h"

#include "util/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if RFS_HAVE_CURL
#include <curl/curl.h>
#include <openssl/evp.h>
#endif

typedef struct remote {
    const char *size, *basename, *local, *md5;
} remote;

/* size, the file at the URL, rfdetr's local name (the cache name), its MD5 */
static const remote REMOTES[] = {
    {"seg-preview", "rf-detr-seg-preview.pt", "rf-detr-seg-preview.pt", "e35820c28fb86080558123e47a5e49ca"},
    {"seg-nano", "rf-detr-seg-n-ft.pth", "rf-detr-seg-nano.pt", "9995497791d0ff1664a1d9ddee9cfd20"},
    {"seg-small", "rf-detr-seg-s-ft.pth", "rf-detr-seg-small.pt", "0a2a3006381d0c42853907e700eadd08"},
    {"seg-medium", "rf-detr-seg-m-ft.pth", "rf-detr-seg-medium.pt", "a49af1562c3719227ad43d0ca53b4c7a"},
    {"seg-large", "rf-detr-seg-l-ft.pth", "rf-detr-seg-large.pt", "275f7b094909544ed2841c94a677d07e"},
    {"seg-xlarge", "rf-detr-seg-xl-ft.pth", "rf-detr-seg-xlarge.pt", "3693b35d0eea86ebb3e0444f4a611fba"},
    {"seg-2xlarge", "rf-detr-seg-2xl-ft.pth", "rf-detr-seg-xxlarge.pt", "040bc3412af840fa8a47e0ff69b552ba"},
};
enum { N_REMOTES = sizeof REMOTES / sizeof REMOTES[0] };

static const remote *find_remote(const char *size) {
    rfs_config cfg; /* accept every spelling the presets accept */
    if (rfs_config_preset(&cfg, size) != RFS_OK) return NULL;
    for (size_t i = 0; i < N_REMOTES; i++)
        if (!strcmp(REMOTES[i].size, cfg.size)) return &REMOTES[i];
    return NULL;
}

/* The MD5 a download of r must have: the official one, unless a mirror
 * (RFSEG_MODEL_URL_BASE) declares its own in RFSEG_MODEL_MD5 as "size=hex[,size=hex...]"
 * (sizes spelled as --model accepts them). Writes 32 lowercase hex digits. */
static void expected_md5(char out[33], const remote *r) {
    snprintf(out, 33, "%s", r->md5);
    const char *base = getenv("RFSEG_MODEL_URL_BASE"), *list = getenv("RFSEG_MODEL_MD5");
    if (!base || !*base || !list) return;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = 0;
        const remote *o = find_remote(tok);
        if (o != r || strlen(eq + 1) != 32 || strspn(eq + 1, "0123456789abcdefABCDEF") != 32) continue;
        for (int i = 0; i < 32; i++) out[i] = (char)(eq[1 + i] | 0x20); /* lower case */
        out[32] = 0;
    }
}

/* The advice for a machine that cannot download: the real file name at the URL. */
static void offline_hint(char *buf, size_t cap, const remote *r, const char *url, const char *md5) {
    snprintf(buf, cap, "If this machine is offline, download %s elsewhere (MD5 %s) and pass the "
             "file: --model /path/to/%s", url, md5, r->basename);
}

/* RFSEG_MODEL_URL_BASE replaces the official location (a mirror, or a test server). */
const char *rfs_model_url(const char *size) {
    static _Thread_local char url[1024];
    const remote *r = find_remote(size);
    if (!r) return NULL;
    const char *base = getenv("RFSEG_MODEL_URL_BASE");
    if (!base || !*base) base = "https://storage.googleapis.com/rfdetr";
    snprintf(url, sizeof url, "%s/%s", base, r->basename);
    return url;
}

static rfs_status cache_dir(char *dir, size_t cap) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && *xdg) n = snprintf(dir, cap, "%s/rfseg", xdg);
    else if (home && *home) n = snprintf(dir, cap, "%s/.cache/rfseg", home);
    else return RFS_FAIL(RFS_ERR_IO, "no cache directory: set XDG_CACHE_HOME or HOME");
    if (n < 0 || (size_t)n >= cap) return RFS_FAIL(RFS_ERR_IO, "cache directory path too long");
    /* mkdir -p */
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            *p = '/';
            return RFS_FAIL(RFS_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
        }
        *p = '/';
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return RFS_FAIL(RFS_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    return RFS_OK;
}

#if RFS_HAVE_CURL
typedef struct progress_ctx {
    rfs_progress_fn fn;
    void *user;
} progress_ctx;

static int on_progress(void *p, curl_off_t total, curl_off_t done, curl_off_t ut, curl_off_t un) {
    progress_ctx *c = p;
    if (c->fn) c->fn(c->user, (uint64_t)done, (uint64_t)(total > 0 ? total : 0));
    return 0;
}

/* The body goes to the file and through the digest as it arrives. */
typedef struct sink {
    FILE *f;
    EVP_MD_CTX *md;
    int failed;
} sink;

static size_t on_data(char *p, size_t size, size_t n, void *user) {
    sink *k = user;
    size_t bytes = size * n;
    if (fwrite(p, 1, bytes, k->f) != bytes || EVP_DigestUpdate(k->md, p, bytes) != 1) {
        k->failed = 1;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    return bytes;
}

/* Downloads url into dest, writing the MD5 of what was received as hex into md5. */
static rfs_status download(const char *url, const char *dest, rfs_progress_fn fn, void *user,
                           const remote *r, const char *want_md5, char md5[33]) {
    char hint[1200];
    offline_hint(hint, sizeof hint, r, url, want_md5);
    FILE *f = fopen(dest, "wb");
    if (!f) return RFS_FAIL(RFS_ERR_IO, "cannot write %s: %s", dest, strerror(errno));
    CURL *curl = curl_easy_init();
    sink k = {.f = f, .md = EVP_MD_CTX_new()};
    if (!curl || !k.md || EVP_DigestInit_ex(k.md, EVP_md5(), NULL) != 1) {
        if (curl) curl_easy_cleanup(curl);
        EVP_MD_CTX_free(k.md);
        fclose(f);
        unlink(dest);
        return RFS_FAIL(RFS_ERR_NETWORK, "libcurl or libcrypto initialisation failed");
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    progress_ctx pc = {fn, user};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L); /* give up on a stalled link */
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &pc);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int md_ok = EVP_DigestFinal_ex(k.md, digest, &dlen) == 1 && dlen == 16;
    EVP_MD_CTX_free(k.md);
    int close_err = fclose(f);
    if (k.failed || close_err) {
        unlink(dest);
        return RFS_FAIL(RFS_ERR_IO, "cannot write %s: %s", dest, strerror(errno));
    }
    if (rc != CURLE_OK || !md_ok) {
        unlink(dest);
        return RFS_FAIL(RFS_ERR_NETWORK, "could not download the %s checkpoint from %s: %s. %s",
                        r->size, url, errbuf[0] ? errbuf : curl_easy_strerror(rc), hint);
    }
    for (int i = 0; i < 16; i++) snprintf(md5 + 2 * i, 3, "%02x", digest[i]);
    return RFS_OK;
}
#endif

rfs_status rfs_model_fetch(char *path, size_t cap, const char *size, rfs_progress_fn fn,
                           void *user) {
    const remote *r = find_remote(size);
    if (!r) return RFS_FAIL(RFS_ERR_ARG, "no official checkpoint named '%s'", size);
    char dir[1024], want[33];
    expected_md5(want, r);
    rfs_status st = cache_dir(dir, sizeof dir);
    if (st != RFS_OK) return st;
    int n = snprintf(path, cap, "%s/%s", dir, r->local);
    if (n < 0 || (size_t)n >= cap) return RFS_FAIL(RFS_ERR_ARG, "path buffer too small");
    struct stat sb;
    if (stat(path, &sb) == 0 && sb.st_size > 0) return RFS_OK; /* cached */
    const char *url = rfs_model_url(size);
#if RFS_HAVE_CURL
    char part[1100], got[33];
    snprintf(part, sizeof part, "%s.part", path);
    RFS_INFO("downloading %s to %s", url, path);
    if ((st = download(url, part, fn, user, r, want, got)) != RFS_OK) return st;
    if (strcmp(got, want)) {
        unlink(part);
        return RFS_FAIL(RFS_ERR_FORMAT, "the %s checkpoint downloaded from %s has MD5 %s, not the "
                        "official %s: refused (a corrupt or altered download), nothing cached",
                        r->size, url, got, want);
    }
    rfs_model *m = NULL;
    if ((st = rfs_model_load(&m, part)) != RFS_OK) {
        unlink(part);
        return rfs_fail_context(st, "downloaded %s does not load", url);
    }
    rfs_model_free(m);
    if (rename(part, path) != 0)
        return RFS_FAIL(RFS_ERR_IO, "cannot rename %s: %s", part, strerror(errno));
    return RFS_OK;
#else
    char hint[1200];
    offline_hint(hint, sizeof hint, r, url, want);
    return RFS_FAIL(RFS_ERR_UNSUPPORTED, "this build has no download support (libcurl). %s", hint);
#endif
}
