/* redis.c - URLs, connections and reply readers (see redis.h). */
#include "worker/redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_num(const char *s, size_t n, long lo, long hi, int *out) {
    if (!n || n > 9) return 0;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

static int copy_part(char *dst, size_t cap, const char *s, size_t n) {
    if (n >= cap) return 0;
    memcpy(dst, s, n);
    dst[n] = 0;
    return 1;
}

int rfs_redis_url_parse(rfs_redis_url *u, const char *s, char *err, size_t cap) {
    memset(u, 0, sizeof *u);
    u->port = 6379;
    static const char scheme[] = "redis://";
    if (!s || strncmp(s, scheme, sizeof scheme - 1))
        return snprintf(err, cap, "redis URL must look like redis://HOST[:PORT][/DB]"), -1;
    const char *p = s + sizeof scheme - 1;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon) return snprintf(err, cap, "redis URL: credentials must be [USER]:PASSWORD@"), -1;
        if (!copy_part(u->user, sizeof u->user, p, (size_t)(colon - p)) ||
            !copy_part(u->password, sizeof u->password, colon + 1, (size_t)(at - colon - 1)))
            return snprintf(err, cap, "redis URL: user or password too long"), -1;
        p = at + 1;
    }
    const char *host = p, *host_end;
    if (*p == '[') { /* [IPv6] */
        host = p + 1;
        if (!(host_end = strchr(host, ']'))) return snprintf(err, cap, "redis URL: unclosed [ in host"), -1;
        p = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/");
        p = host_end;
    }
    if (host_end == host || !copy_part(u->host, sizeof u->host, host, (size_t)(host_end - host)))
        return snprintf(err, cap, "redis URL: missing or too long host"), -1;
    if (*p == ':') {
        size_t n = strcspn(p + 1, "/");
        if (!parse_num(p + 1, n, 1, 65535, &u->port)) return snprintf(err, cap, "redis URL: bad port"), -1;
        p += 1 + n;
    }
    if (*p == '/') {
        size_t n = strlen(p + 1);
        if (n && !parse_num(p + 1, n, 0, 100000, &u->db)) return snprintf(err, cap, "redis URL: bad database number"), -1;
        p += 1 + n;
    }
    if (*p) return snprintf(err, cap, "redis URL: unexpected text after the host"), -1;
    return 0;
}

#if RFS_HAVE_HIREDIS

static struct timeval tv_ms(int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

redisReply *rfs_rcmd(redisContext *c, int argc, const char **argv, const size_t *lens) {
    size_t l[16];
    if (!lens) {
        if (argc > 16) return NULL;
        for (int i = 0; i < argc; i++) l[i] = strlen(argv[i]);
        lens = l;
    }
    return redisCommandArgv(c, argc, argv, lens);
}

redisReply *rfs_rcmdv(redisContext *c, ...) {
    const char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, c);
    for (const char *a; argc < 16 && (a = va_arg(ap, const char *));) argv[argc++] = a;
    va_end(ap);
    return rfs_rcmd(c, argc, argv, NULL);
}

int rfs_reply_is_error(const redisReply *r, const char *prefix) {
    return r && r->type == REDIS_REPLY_ERROR && r->str && !strncmp(r->str, prefix, strlen(prefix));
}

redisContext *rfs_rconn_open(const rfs_redis_url *u, int timeout_ms, int cmd_timeout_ms, char *err,
                             size_t cap) {
    redisContext *c = redisConnectWithTimeout(u->host, u->port, tv_ms(timeout_ms));
    if (!c) {
        snprintf(err, cap, "redis %s:%d: out of memory", u->host, u->port);
        return NULL;
    }
    if (c->err) {
        snprintf(err, cap, "redis %s:%d: %s", u->host, u->port, c->errstr);
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv_ms(cmd_timeout_ms));
    redisEnableKeepAlive(c);
    redisReply *r = NULL;
    if (u->password[0]) {
        r = u->user[0] ? rfs_rcmdv(c, "AUTH", u->user, u->password, NULL) : rfs_rcmdv(c, "AUTH", u->password, NULL);
        if (!r || r->type == REDIS_REPLY_ERROR) goto fail;
        freeReplyObject(r);
    }
    if (u->db) {
        char db[16];
        snprintf(db, sizeof db, "%d", u->db);
        r = rfs_rcmdv(c, "SELECT", db, NULL);
        if (!r || r->type == REDIS_REPLY_ERROR) goto fail;
        freeReplyObject(r);
    }
    return c;
fail:
    snprintf(err, cap, "redis %s:%d: %s", u->host, u->port,
             r ? r->str : c->errstr[0] ? c->errstr : "connection closed");
    if (r) freeReplyObject(r);
    redisFree(c);
    return NULL;
}

int rfs_reply_entries(const redisReply *arr, rfs_sentry *out, int cap) {
    if (!arr || arr->type != REDIS_REPLY_ARRAY) return -1;
    int n = 0;
    for (size_t i = 0; i < arr->elements && n < cap; i++) {
        const redisReply *e = arr->element[i];
        if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
            return -1;
        const redisReply *f = e->element[1];
        if (f->type != REDIS_REPLY_ARRAY && f->type != REDIS_REPLY_NIL) return -1;
        if (f->type == REDIS_REPLY_ARRAY)
            for (size_t k = 0; k < f->elements; k++)
                if (f->element[k]->type != REDIS_REPLY_STRING) return -1;
        out[n].id = e->element[0]->str;
        out[n].fields = f->type == REDIS_REPLY_ARRAY ? f : NULL;
        n++;
    }
    return n;
}

#endif
