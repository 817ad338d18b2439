/* fetch.c - bounded download of image URLs (see fetch.h). */
#include "serve/fetch.h"

#include <stdlib.h>
#include <string.h>

#if RFS_HAVE_CURL
#include <curl/curl.h>

typedef struct sink {
    uint8_t *p;
    size_t len, cap, max;
    int too_large;
} sink;

static size_t on_data(char *data, size_t size, size_t nmemb, void *user) {
    sink *s = user;
    size_t n = size * nmemb;
    if (n > s->max - s->len) {
        s->too_large = 1;
        return 0; /* aborts the transfer */
    }
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 65536;
        while (cap < s->len + n) cap *= 2;
        if (cap > s->max) cap = s->max;
        uint8_t *p = realloc(s->p, cap);
        if (!p) return 0;
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->len, data, n);
    s->len += n;
    return n;
}

void rfs_fetch_global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int rfs_fetch_url(uint8_t **out, size_t *len, const char *url, size_t max_bytes, long timeout_ms,
                  rfs_http_err *e) {
    *out = NULL;
    *len = 0;
    if (timeout_ms < 1) return rfs_http_fail(e, 504, "no time left to fetch the image URL");
    CURL *c = curl_easy_init();
    if (!c) return rfs_http_fail(e, 500, "could not start a download");
    sink s = {.max = max_bytes};
    char errbuf[CURL_ERROR_SIZE] = "";
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
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    int st = 0;
    if (s.too_large || rc == CURLE_FILESIZE_EXCEEDED)
        st = rfs_http_fail(e, 413, "image URL: larger than the limit of %zu bytes", max_bytes);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        st = rfs_http_fail(e, 504, "image URL: download did not finish in time");
    else if (rc != CURLE_OK)
        st = rfs_http_fail(e, 400, "image URL: could not fetch it: %s",
                           errbuf[0] ? errbuf : curl_easy_strerror(rc));
    else if (s.len == 0) st = rfs_http_fail(e, 400, "image URL: empty response");
    if (st) {
        free(s.p);
        return st;
    }
    *out = s.p;
    *len = s.len;
    return 0;
}
#else
void rfs_fetch_global_init(void) {}

int rfs_fetch_url(uint8_t **out, size_t *len, const char *url, size_t max_bytes, long timeout_ms,
                  rfs_http_err *e) {
    *out = NULL;
    *len = 0;
    return rfs_http_fail(e, 501, "image URLs need libcurl, which this build of rfseg lacks");
}
#endif
