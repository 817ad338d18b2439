/* fetch.c - image URLs under a destination policy (see fetch.h). */
#include "serve/fetch.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

/* ---- address ranges ------------------------------------------------------------------ */

static int prefix_match(const uint8_t *a, const uint8_t *net, int bits) {
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, net, (size_t)full)) return 0;
    if (!rest) return 1;
    uint8_t m = (uint8_t)(0xFF << (8 - rest));
    return (a[full] & m) == (net[full] & m);
}

/* Non-global IPv4 ranges (IANA special-purpose registry, plus multicast and class E). */
static const char *v4_special(const uint8_t a[4]) {
    static const struct {
        uint8_t net[4];
        int bits;
        const char *what;
    } r[] = {
        {{0, 0, 0, 0}, 8, "a \"this network\" address"},
        {{10, 0, 0, 0}, 8, "a private address"},
        {{100, 64, 0, 0}, 10, "a shared (carrier-grade NAT) address"},
        {{127, 0, 0, 0}, 8, "a loopback address"},
        {{169, 254, 0, 0}, 16, "a link-local address"},
        {{172, 16, 0, 0}, 12, "a private address"},
        {{192, 0, 0, 0}, 24, "an IETF protocol address"},
        {{192, 0, 2, 0}, 24, "a documentation address"},
        {{192, 88, 99, 0}, 24, "a 6to4 relay address"},
        {{192, 168, 0, 0}, 16, "a private address"},
        {{198, 18, 0, 0}, 15, "a benchmarking address"},
        {{198, 51, 100, 0}, 24, "a documentation address"},
        {{203, 0, 113, 0}, 24, "a documentation address"},
        {{224, 0, 0, 0}, 4, "a multicast address"},
        {{240, 0, 0, 0}, 4, "a reserved address"},
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++)
        if (prefix_match(a, r[i].net, r[i].bits)) return r[i].what;
    return NULL;
}

/* Non-global IPv6 ranges; IPv4 carried inside mapped, NAT64 and 6to4 addresses is checked
 * as IPv4. */
static const char *v6_special(const uint8_t a[16]) {
    static const uint8_t zero[16] = {0}, mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF},
                         nat64[12] = {0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0};
    if (!memcmp(a, mapped, 12) || !memcmp(a, nat64, 12)) return v4_special(a + 12);
    if (a[0] == 0x20 && a[1] == 0x02) return v4_special(a + 2); /* 2002::/16, 6to4 */
    if (!memcmp(a, zero, 15)) return a[15] == 1 ? "a loopback address" : "an unspecified address";
    if (!memcmp(a, zero, 12)) return "an IPv4-compatible address"; /* ::/96, deprecated */
    static const struct {
        uint8_t net[4];
        int bits;
        const char *what;
    } r[] = {
        {{0x01, 0x00, 0, 0}, 16, "a discard address"},          /* 100::/64 within 100::/16 */
        {{0x20, 0x01, 0x00, 0x00}, 23, "an IETF protocol address"}, /* incl. Teredo */
        {{0x20, 0x01, 0x0d, 0xb8}, 32, "a documentation address"},
        {{0xfc, 0x00, 0, 0}, 7, "a unique local address"},
        {{0xfe, 0x80, 0, 0}, 10, "a link-local address"},
        {{0xfe, 0xc0, 0, 0}, 10, "a site-local address"},
        {{0xff, 0x00, 0, 0}, 8, "a multicast address"},
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++)
        if (prefix_match(a, r[i].net, r[i].bits)) return r[i].what;
    return NULL;
}

static int list_has_addr(const rfs_url_net *l, int n, int family, const uint8_t *a) {
    for (int i = 0; i < n; i++) {
        if (l[i].family == family && prefix_match(a, l[i].addr, l[i].bits)) return 1;
        /* an IPv4 entry also covers the IPv4-mapped form of its addresses */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
        if (l[i].family == AF_INET && family == AF_INET6 && !memcmp(a, mapped, 12) &&
            prefix_match(a + 12, l[i].addr, l[i].bits))
            return 1;
    }
    return 0;
}

/* A host written as an IPv4 address in any form inet_aton accepts (127.1, 0x7f000001,
 * 2130706433, 0177.0.0.1) or as an IPv6 address (with or without brackets). */
static int parse_ip_literal(const char *host, int *family, uint8_t a[16]) {
    char buf[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        if (n - 2 >= sizeof buf) return 0;
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = 0;
        char *pct = strchr(buf, '%'); /* zone id */
        if (pct) *pct = 0;
        if (inet_pton(AF_INET6, buf, a) == 1) return *family = AF_INET6, 1;
        return 0;
    }
    if (inet_pton(AF_INET6, host, a) == 1) return *family = AF_INET6, 1;
    struct in_addr v4;
    if (inet_aton(host, &v4)) {
        memcpy(a, &v4.s_addr, 4);
        *family = AF_INET;
        return 1;
    }
    return 0;
}

int rfs_url_list_parse(rfs_url_net **out, int *n, const char *list, char *msg, size_t msg_cap) {
    *out = NULL;
    *n = 0;
    int cap = 1;
    for (const char *p = list; *p; p++) cap += *p == ',';
    rfs_url_net *l = calloc((size_t)cap, sizeof *l);
    if (!l) {
        snprintf(msg, msg_cap, "out of memory");
        return -1;
    }
    int k = 0;
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) p++, len--;
        while (len && isspace((unsigned char)p[len - 1])) len--;
        if (len) {
            char item[300];
            if (len >= sizeof item || len >= sizeof l[k].name) {
                snprintf(msg, msg_cap, "destination list: entry longer than 255 bytes");
                free(l);
                return -1;
            }
            memcpy(item, p, len);
            item[len] = 0;
            rfs_url_net *it = &l[k];
            char *slash = strchr(item, '/');
            int bits = -1;
            if (slash) {
                char *end;
                *slash = 0;
                bits = (int)strtol(slash + 1, &end, 10);
                if (end == slash + 1 || *end) bits = -2;
            }
            if (parse_ip_literal(item, &it->family, it->addr)) {
                int maxb = it->family == AF_INET ? 32 : 128;
                uint8_t canon[16];
                /* a range is written with a canonical address (10.0.0.0/8, fd00::/8) */
                if (slash && inet_pton(it->family, item, canon) != 1) bits = -2;
                if (bits == -1) bits = maxb;
                if (bits < 0 || bits > maxb) {
                    snprintf(msg, msg_cap, "destination list: bad address range \"%s/%s\"", item, slash + 1);
                    free(l);
                    return -1;
                }
                it->bits = bits;
            } else {
                it->family = 0;
                if (slash) {
                    snprintf(msg, msg_cap, "destination list: \"%s/...\" is not an address range", item);
                    free(l);
                    return -1;
                }
                for (size_t i = 0; i <= len; i++) it->name[i] = (char)tolower((unsigned char)item[i]);
            }
            k++;
        }
        if (!e) break;
        p = e + 1;
    }
    *out = l;
    *n = k;
    return 0;
}

int rfs_url_addr_ok(const rfs_url_policy *p, const void *sa, int host_named, char *why, size_t why_cap) {
    const struct sockaddr *s = sa;
    uint8_t a[16];
    int family = s->sa_family;
    if (family == AF_INET) memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    else if (family == AF_INET6) memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    else {
        snprintf(why, why_cap, "not an internet address");
        return 0;
    }
    if (list_has_addr(p->deny, p->n_deny, family, a)) {
        snprintf(why, why_cap, "the host resolves to an address in the deny list");
        return 0;
    }
    int listed = list_has_addr(p->allow, p->n_allow, family, a);
    if (p->allow && !host_named && !listed) {
        snprintf(why, why_cap, "the host resolves to an address outside the allow list");
        return 0;
    }
    const char *sp = family == AF_INET ? v4_special(a) : v6_special(a);
    if (sp && !host_named && !listed) {
        snprintf(why, why_cap, "the host resolves to %s (name it in --url-allow-list to allow it)", sp);
        return 0;
    }
    return 1;
}

#if RFS_HAVE_CURL /* the host checks and the fetch; without libcurl there is no fetch */
static int list_has_name(const rfs_url_net *l, int n, const char *host) {
    for (int i = 0; i < n; i++)
        if (!l[i].family && !strcasecmp(l[i].name, host)) return 1;
    return 0;
}

/* Host names that are not fully qualified public domains. */
static int not_fqdn(const char *host) {
    static const char *const local[] = {".localhost", ".local", ".internal", ".lan", ".home.arpa",
                                        ".localdomain"};
    size_t n = strlen(host);
    while (n && host[n - 1] == '.') n--; /* "example.com." is fully qualified */
    if (!n || !memchr(host, '.', n)) return 1;
    if (n == 9 && !strncasecmp(host, "localhost", 9)) return 1;
    for (size_t i = 0; i < sizeof local / sizeof *local; i++) {
        size_t k = strlen(local[i]);
        if (n > k && !strncasecmp(host + n - k, local[i], k)) return 1;
    }
    /* the last label must be a name (a top-level domain is never all digits) */
    size_t j = n;
    while (j && host[j - 1] != '.') j--;
    int digits = 1;
    for (size_t i = j; i < n; i++) digits &= isdigit((unsigned char)host[i]) != 0;
    return digits;
}

static int check_host(const rfs_url_policy *p, const char *host, int *host_named, rfs_http_err *e) {
    char h[300];
    size_t n = strlen(host);
    if (!n || n >= sizeof h) return rfs_http_fail(e, 400, "image URL refused: no valid host");
    for (size_t i = 0; i <= n; i++) h[i] = (char)tolower((unsigned char)host[i]);
    if (strchr(h, '%') || strchr(h, '\\') || strchr(h, '@'))
        return rfs_http_fail(e, 400, "image URL refused: no valid host");
    int family;
    uint8_t a[16];
    int literal = parse_ip_literal(h, &family, a);
    /* a bracketed IPv6 literal is listed without its brackets */
    char bare[300];
    snprintf(bare, sizeof bare, "%s", h);
    if (bare[0] == '[') {
        size_t bl = strlen(bare);
        memmove(bare, bare + 1, bl);
        if (bl >= 2) bare[bl - 2] = 0;
    }
    int denied = list_has_name(p->deny, p->n_deny, bare) || (literal && list_has_addr(p->deny, p->n_deny, family, a));
    if (denied) return rfs_http_fail(e, 400, "image URL refused: its host is in the deny list");
    *host_named = list_has_name(p->allow, p->n_allow, bare) || (literal && list_has_addr(p->allow, p->n_allow, family, a));
    if (p->allow && !*host_named)
        return rfs_http_fail(e, 400, "image URL refused: its host is not in the allow list");
    if (!*host_named && !p->allow_without_fqdn) {
        if (literal)
            return rfs_http_fail(e, 400, "image URL refused: a literal IP address is not accepted "
                                         "(start the server with --allow-urls-without-fqdn, or name it in --url-allow-list)");
        if (not_fqdn(bare))
            return rfs_http_fail(e, 400, "image URL refused: its host is not a fully qualified domain name");
    }
    if (literal) { /* the address is known now: refuse without connecting */
        struct sockaddr_storage ss = {0};
        if (family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            s4->sin_family = AF_INET;
            memcpy(&s4->sin_addr, a, 4);
        } else {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            s6->sin6_family = AF_INET6;
            memcpy(&s6->sin6_addr, a, 16);
        }
        char why[160];
        if (!rfs_url_addr_ok(p, &ss, *host_named, why, sizeof why))
            return rfs_http_fail(e, 400, "image URL refused: %s", why);
    }
    return 0;
}

#include <curl/curl.h>

/* Parses url into u and checks it; 0 or 400. */
static int check_parsed(const rfs_url_policy *p, CURLU *u, const char *url, int *host_named, rfs_http_err *e) {
    if (strlen(url) > 4096) return rfs_http_fail(e, 400, "image URL refused: longer than 4096 bytes");
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
        return rfs_http_fail(e, 400, "image URL refused: not a valid URL");
    char *scheme = NULL, *host = NULL, *user = NULL;
    int st = 0;
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_USER, &user, 0);
    if (!scheme || (strcasecmp(scheme, "https") && strcasecmp(scheme, "http")))
        st = rfs_http_fail(e, 400, "image URL refused: only http:// and https:// URLs are fetched");
    else if (strcasecmp(scheme, "https") && !p->allow_non_https)
        st = rfs_http_fail(e, 400, "image URL refused: only https:// URLs are accepted (start the "
                                   "server with --allow-non-https-urls to accept http://)");
    else if (user)
        st = rfs_http_fail(e, 400, "image URL refused: URLs with credentials are not accepted");
    else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host)
        st = rfs_http_fail(e, 400, "image URL refused: no host");
    else st = check_host(p, host, host_named, e);
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    return st;
}

int rfs_url_check(const rfs_url_policy *p, const char *url, int *host_named, rfs_http_err *e) {
    CURLU *u = curl_url();
    if (!u) return rfs_http_fail(e, 500, "out of memory");
    int st = check_parsed(p, u, url, host_named, e);
    curl_url_cleanup(u);
    return st;
}

typedef struct fetch_ctx {
    const rfs_url_policy *p;
    int host_named;       /* of the current hop */
    int refused;
    char why[200];
    uint8_t *buf;
    size_t len, cap, max;
    int too_large, oom;
    int (*gone)(void *user);
    void *user;
    int was_gone;
} fetch_ctx;

static size_t on_data(char *data, size_t size, size_t nmemb, void *user) {
    fetch_ctx *f = user;
    size_t n = size * nmemb;
    if (n > f->max - f->len) {
        f->too_large = 1;
        return 0; /* aborts the transfer */
    }
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 65536;
        while (cap < f->len + n) cap *= 2;
        if (cap > f->max) cap = f->max;
        uint8_t *q = realloc(f->buf, cap);
        if (!q) {
            f->oom = 1;
            return 0;
        }
        f->buf = q;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, data, n);
    f->len += n;
    return n;
}

static curl_socket_t on_open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *a) {
    fetch_ctx *f = user;
    if (purpose != CURLSOCKTYPE_IPCXN || !rfs_url_addr_ok(f->p, &a->addr, f->host_named, f->why, sizeof f->why)) {
        if (purpose != CURLSOCKTYPE_IPCXN) snprintf(f->why, sizeof f->why, "unexpected connection type");
        f->refused = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

static int on_progress(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    fetch_ctx *f = user;
    if (f->gone && f->gone(f->user)) {
        f->was_gone = 1;
        return 1;
    }
    return 0;
}

void rfs_fetch_global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int rfs_fetch_url(uint8_t **out, size_t *len, const char *url, const rfs_url_policy *p,
                  size_t max_bytes, long timeout_ms, int (*gone)(void *user), void *user,
                  rfs_http_err *e) {
    *out = NULL;
    *len = 0;
    if (timeout_ms < 1) return rfs_http_fail(e, 504, "no time left to fetch the image URL");
    double until = mono_ms() + (double)timeout_ms;
    CURL *c = curl_easy_init();
    CURLU *u = curl_url();
    char *next = NULL;
    fetch_ctx f = {.p = p, .max = max_bytes, .gone = gone, .user = user};
    int st = 0;
    if (!c || !u) {
        st = rfs_http_fail(e, 500, "could not start a download");
        goto done;
    }
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, p->allow_non_https ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* redirects are checked hop by hop here */
    curl_easy_setopt(c, CURLOPT_PROXY, "");          /* never a proxy from the environment */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &f);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &f);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, NULL); /* no decompression (no bombs here) */
    const char *cur = url;
    for (int hop = 0;; hop++) {
        if ((st = check_parsed(p, u, cur, &f.host_named, e))) goto done;
        long left = (long)(until - mono_ms());
        if (left < 1) {
            st = rfs_http_fail(e, 504, "could not fetch the image URL in time");
            goto done;
        }
        curl_easy_setopt(c, CURLOPT_CURLU, u);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, left);
        f.len = 0;
        f.refused = f.too_large = f.oom = 0;
        CURLcode rc = curl_easy_perform(c);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (f.was_gone) {
            st = rfs_http_fail(e, 499, "the client closed the connection");
            goto done;
        }
        if (f.refused) {
            st = rfs_http_fail(e, 400, "image URL refused: %s", f.why);
            goto done;
        }
        if (f.oom) {
            st = rfs_http_fail(e, 503, "out of memory fetching the image URL");
            goto done;
        }
        if (f.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
            st = rfs_http_fail(e, 413, "image URL: larger than the limit of %zu bytes", max_bytes);
            goto done;
        }
        if (rc == CURLE_OPERATION_TIMEDOUT) {
            st = rfs_http_fail(e, 504, "could not fetch the image URL in time");
            goto done;
        }
        if (rc != CURLE_OK) {
            const char *what = rc == CURLE_COULDNT_RESOLVE_HOST ? "its host name does not resolve"
                             : rc == CURLE_COULDNT_CONNECT    ? "the connection failed"
                             : rc == CURLE_UNSUPPORTED_PROTOCOL ? "unsupported protocol"
                             : (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR)
                                 ? "the TLS connection failed"
                                 : "the transfer failed";
            st = rfs_http_fail(e, 400, "could not fetch the image URL (%s)", what);
            goto done;
        }
        if (code >= 300 && code < 400) {
            char *loc = NULL;
            curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
            if (!loc) {
                st = rfs_http_fail(e, 400, "could not fetch the image URL (a redirect without a location)");
                goto done;
            }
            if (hop >= p->max_redirects) {
                st = rfs_http_fail(e, 400, "could not fetch the image URL (more than %d redirects)", p->max_redirects);
                goto done;
            }
            free(next);
            next = strdup(loc);
            if (!next) {
                st = rfs_http_fail(e, 500, "out of memory");
                goto done;
            }
            cur = next;
            continue;
        }
        if (code < 200 || code >= 300) {
            st = rfs_http_fail(e, 400, "could not fetch the image URL (HTTP status %ld)", code);
            goto done;
        }
        break;
    }
    if (f.len == 0) st = rfs_http_fail(e, 400, "could not fetch the image URL (an empty body)");
done:
    if (c) curl_easy_cleanup(c);
    if (u) curl_url_cleanup(u);
    free(next);
    if (st) {
        free(f.buf);
        return st;
    }
    *out = f.buf;
    *len = f.len;
    return 0;
}
#else
int rfs_url_check(const rfs_url_policy *p, const char *url, int *host_named, rfs_http_err *e) {
    return rfs_http_fail(e, 501, "image URLs need libcurl, which this build of rfseg lacks");
}

void rfs_fetch_global_init(void) {}

int rfs_fetch_url(uint8_t **out, size_t *len, const char *url, const rfs_url_policy *p,
                  size_t max_bytes, long timeout_ms, int (*gone)(void *user), void *user,
                  rfs_http_err *e) {
    *out = NULL;
    *len = 0;
    return rfs_http_fail(e, 501, "image URLs need libcurl, which this build of rfseg lacks");
}
#endif
