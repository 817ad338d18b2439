/* wbench.c - load generator for `rfseg worker`: pushes N jobs of one image to the jobs
 * stream at once (pipelined XADDs) and waits for N results; prints one line of JSON with
 * the throughput, the job latencies the workers reported (their `ms` field) and how many
 * distinct answers came back (ids and times aside; 1 when every device and batch size
 * agrees).
 *
 *   wbench --redis redis://127.0.0.1:6379 --image IMG [--n N] [--warmup K]
 *          [--jobs rfseg:jobs] [--results rfseg:results] [--format polygon|rle] [--timeout S]
 *   wbench --redis URL --image IMG --ping 1      exit 0 when Redis answers PING
 *
 * Build: cc -O2 -std=c11 -D_GNU_SOURCE -I/usr/include/hiredis dev/worker/wbench.c -lhiredis
 */
#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The id of the last entry of a stream ("0-0" when empty). */
static void last_id(redisContext *c, const char *stream, char out[64]) {
    redisReply *r = redisCommand(c, "XREVRANGE %s + - COUNT 1", stream);
    snprintf(out, 64, "0-0");
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) snprintf(out, 64, "%s", r->element[0]->element[0]->str);
    if (r) freeReplyObject(r);
}

/* Pushes n jobs (ids PREFIX-i), pipelined 256 at a time. */
static int push(redisContext *c, const char *stream, const char *prefix, int n, const char *img, size_t len,
                const char *format) {
    for (int i = 0; i < n;) {
        int k = 0;
        for (; k < 256 && i < n; k++, i++) {
            char id[64];
            snprintf(id, sizeof id, "%s-%d", prefix, i);
            const char *argv[] = {"XADD", stream, "*", "id", id, "image", img, "format", format};
            size_t lens[] = {4, strlen(stream), 1, 2, strlen(id), 5, len, 6, strlen(format)};
            redisAppendCommandArgv(c, 9, argv, lens);
        }
        for (; k > 0; k--) {
            redisReply *r = NULL;
            if (redisGetReply(c, (void **)&r) != REDIS_OK || !r || r->type != REDIS_REPLY_STRING) {
                fprintf(stderr, "wbench: XADD failed: %s\n", r && r->str ? r->str : c->errstr);
                return -1;
            }
            freeReplyObject(r);
        }
    }
    return 0;
}

/* The JSON without the values that differ from answer to answer (inference_id, time,
 * detection_id), in place. */
static void normalize(char *s) {
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

/* Distinct answers seen (every job carries the same image, so more than one means that
 * devices or batch sizes disagree; fp16 on one GPU may legitimately differ by batch size). */
static char *answers[16];
static int n_answers, n_answer_overflow;

static void note_answer(const char *json, size_t len) {
    char *s = malloc(len + 1);
    memcpy(s, json, len);
    s[len] = 0;
    normalize(s);
    for (int i = 0; i < n_answers; i++)
        if (!strcmp(answers[i], s)) {
            free(s);
            return;
        }
    if (n_answers < 16) answers[n_answers++] = s;
    else n_answer_overflow = 1, free(s);
}

/* Reads results after `from` until n arrived or the timeout; fills ms[] (n slots) and
 * counts errors. Returns the count read. */
static int collect(redisContext *c, const char *stream, char from[64], int n, double *ms, int *errors,
                   double timeout_s) {
    int got = 0;
    double t0 = now_s();
    while (got < n && now_s() - t0 < timeout_s) {
        redisReply *r = redisCommand(c, "XREAD COUNT 1000 BLOCK 1000 STREAMS %s %s", stream, from);
        if (!r) {
            fprintf(stderr, "wbench: XREAD: %s\n", c->errstr);
            return got;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
            redisReply *es = r->element[0]->element[1];
            for (size_t i = 0; i < es->elements; i++) {
                redisReply *e = es->element[i], *f = e->element[1];
                snprintf(from, 64, "%s", e->element[0]->str);
                double m = -1;
                int err = 0;
                for (size_t k = 0; k + 1 < f->elements; k += 2) {
                    if (!strcmp(f->element[k]->str, "ms")) m = atof(f->element[k + 1]->str);
                    if (!strcmp(f->element[k]->str, "status")) err = strcmp(f->element[k + 1]->str, "ok") != 0;
                    if (!strcmp(f->element[k]->str, "json")) note_answer(f->element[k + 1]->str, f->element[k + 1]->len);
                    if (err && !strcmp(f->element[k]->str, "error") && *errors < 3)
                        fprintf(stderr, "wbench: error result: %s\n", f->element[k + 1]->str);
                }
                *errors += err;
                if (got < n) ms[got] = m;
                got++;
            }
        }
        freeReplyObject(r);
    }
    return got;
}

int main(int argc, char **argv) {
    const char *url = "redis://127.0.0.1:6379", *image = NULL, *jobs = "rfseg:jobs", *results = "rfseg:results";
    const char *format = "polygon";
    int n = 1000, warmup = 32, ping = 0;
    double timeout = 600;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--redis")) url = argv[i + 1];
        else if (!strcmp(argv[i], "--image")) image = argv[i + 1];
        else if (!strcmp(argv[i], "--n")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--jobs")) jobs = argv[i + 1];
        else if (!strcmp(argv[i], "--results")) results = argv[i + 1];
        else if (!strcmp(argv[i], "--format")) format = argv[i + 1];
        else if (!strcmp(argv[i], "--timeout")) timeout = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--ping")) ping = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "wbench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    char host[256] = "127.0.0.1";
    int port = 6379;
    if (sscanf(url, "redis://%255[^:/]:%d", host, &port) < 1 || !image || n < 1) {
        fprintf(stderr, "usage: wbench --redis redis://HOST:PORT --image IMG [--n N] [--warmup K] ...\n");
        return 2;
    }
    FILE *f = fopen(image, "rb");
    if (!f) {
        perror(image);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *img = malloc((size_t)len);
    if (!img || fread(img, 1, (size_t)len, f) != (size_t)len) return 1;
    fclose(f);
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        fprintf(stderr, "wbench: redis %s:%d: %s\n", host, port, c ? c->errstr : "?");
        return 1;
    }
    if (ping) { /* only: is Redis up? */
        redisReply *r = redisCommand(c, "PING");
        int up = r && r->type == REDIS_REPLY_STATUS;
        if (r) freeReplyObject(r);
        redisFree(c);
        return up ? 0 : 1;
    }
    struct timeval t = {30, 0};
    redisSetTimeout(c, t);
    double *ms = calloc((size_t)(n > warmup ? n : warmup) + 1, sizeof *ms);
    int errors = 0;
    char from[64];
    if (warmup > 0) { /* sessions, CUDA graphs and caches warm before the timed run */
        last_id(c, results, from);
        if (push(c, jobs, "warm", warmup, img, (size_t)len, format)) return 1;
        if (collect(c, results, from, warmup, ms, &errors, timeout) < warmup) {
            fprintf(stderr, "wbench: the warm-up jobs were not all answered\n");
            return 1;
        }
    }
    errors = 0;
    for (int i = 0; i < n_answers; i++) free(answers[i]);
    n_answers = n_answer_overflow = 0;
    last_id(c, results, from);
    double t0 = now_s();
    if (push(c, jobs, "job", n, img, (size_t)len, format)) return 1;
    double t_push = now_s() - t0;
    int got = collect(c, results, from, n, ms, &errors, timeout);
    double secs = now_s() - t0;
    int m = got < n ? got : n;
    qsort(ms, (size_t)m, sizeof *ms, cmp_double);
    printf("{\"jobs\":%d,\"answered\":%d,\"errors\":%d,\"image_bytes\":%ld,\"seconds\":%.3f,\"push_seconds\":%.3f,"
           "\"jobs_per_s\":%.1f,\"worker_ms_p50\":%.1f,\"worker_ms_p90\":%.1f,\"worker_ms_max\":%.1f,\"distinct_answers\":%d%s}\n",
           n, got, errors, len, secs, t_push, got / secs, m ? ms[m / 2] : 0, m ? ms[m * 9 / 10] : 0,
           m ? ms[m - 1] : 0, n_answers, n_answer_overflow ? "+" : "");
    for (int i = 0; i < n_answers; i++) free(answers[i]);
    free(ms);
    free(img);
    redisFree(c);
    return got == n && !errors ? 0 : 1;
}
