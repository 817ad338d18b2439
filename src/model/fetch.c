/* fetch.c - download of the official checkpoints into the user's cache (libcurl).
 *
 * URLs from rfdetr's OPEN_SOURCE_MODELS (rfdetr-seg-model.md 1.2). A download goes to
 * "<file>.part" and is renamed only when complete and loadable, so an interrupted or
 * corrupt download is never mistaken for a cached checkpoint. */
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
#endif

typedef struct remote {
    const char *size, *basename, *local;
} remote;

static const remote REMOTES[] = {
    {"seg-preview", "rf-detr-seg-preview.pt", "rf-detr-seg-preview.pt"},
    {"seg-nano", "rf-detr-seg-n-ft.pth", "rf-detr-seg-nano.pt"},
    {"seg-small", "rf-detr-seg-s-ft.pth", "rf-detr-seg-small.pt"},
    {"seg-medium", "rf-detr-seg-m-ft.pth", "rf-detr-seg-medium.pt"},
    {"seg-large", "rf-detr-seg-l-ft.pth", "rf-detr-seg-large.pt"},
    {"seg-xlarge", "rf-detr-seg-xl-ft.pth", "rf-detr-seg-xlarge.pt"},
    {"seg-2xlarge", "rf-detr-seg-2xl-ft.pth", "rf-detr-seg-xxlarge.pt"},
};

static const remote *find_remote(const char *size) {
    rfs_config cfg; /* accept every spelling the presets accept */
    if (rfs_config_preset(&cfg, size) != RFS_OK) return NULL;
    for (size_t i = 0; i < sizeof REMOTES / sizeof REMOTES[0]; i++)
        if (!strcmp(REMOTES[i].size, cfg.size)) return &REMOTES[i];
    return NULL;
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

static rfs_status download(const char *url, const char *dest, rfs_progress_fn fn, void *user,
                           const char *size) {
    FILE *f = fopen(dest, "wb");
    if (!f) return RFS_FAIL(RFS_ERR_IO, "cannot write %s: %s", dest, strerror(errno));
    CURL *curl = curl_easy_init();
    if (!curl) {
        fclose(f);
        return RFS_FAIL(RFS_ERR_NETWORK, "libcurl initialisation failed");
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    progress_ctx pc = {fn, user};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
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
    int close_err = fclose(f);
    if (rc != CURLE_OK || close_err) {
        unlink(dest);
        return RFS_FAIL(RFS_ERR_NETWORK,
                        "could not download the %s checkpoint from %s: %s. If this machine is "
                        "offline, download it elsewhere and pass the file: --model /path/to/%s",
                        size, url, errbuf[0] ? errbuf : curl_easy_strerror(rc),
                        find_remote(size)->local);
    }
    return RFS_OK;
}
#endif

rfs_status rfs_model_fetch(char *path, size_t cap, const char *size, rfs_progress_fn fn,
                           void *user) {
    const remote *r = find_remote(size);
    if (!r) return RFS_FAIL(RFS_ERR_ARG, "no official checkpoint named '%s'", size);
    char dir[1024];
    rfs_status st = cache_dir(dir, sizeof dir);
    if (st != RFS_OK) return st;
    int n = snprintf(path, cap, "%s/%s", dir, r->local);
    if (n < 0 || (size_t)n >= cap) return RFS_FAIL(RFS_ERR_ARG, "path buffer too small");
    struct stat sb;
    if (stat(path, &sb) == 0 && sb.st_size > 0) return RFS_OK; /* cached */
#if RFS_HAVE_CURL
    char part[1100];
    snprintf(part, sizeof part, "%s.part", path);
    RFS_INFO("downloading %s to %s", rfs_model_url(size), path);
    if ((st = download(rfs_model_url(size), part, fn, user, r->size)) != RFS_OK) return st;
    rfs_model *m = NULL;
    if ((st = rfs_model_load(&m, part)) != RFS_OK) {
        unlink(part);
        return rfs_fail_context(st, "downloaded %s does not load", rfs_model_url(size));
    }
    rfs_model_free(m);
    if (rename(part, path) != 0)
        return RFS_FAIL(RFS_ERR_IO, "cannot rename %s: %s", part, strerror(errno));
    return RFS_OK;
#else
    return RFS_FAIL(RFS_ERR_UNSUPPORTED,
                    "this build has no download support (libcurl); download %s and pass the file: "
                    "--model /path/to/%s", rfs_model_url(size), r->local);
#endif
}
