/* test_worker.c - rfseg worker over Redis Streams, end to end.
 *
 * Units first (no Redis): job fields (src/worker/job.h) and redis:// URLs. Then, with a
 * real redis-server started on 127.0.0.1 on a free port in a temporary directory and
 * `rfseg worker` processes (the CLI next to this test's build directory; tiny fixture
 * model, CPU, one thread each, as the `rfseg predict` reference):
 *   - crash_and_restart: 300 jobs through 3 workers; one is SIGKILLed while it holds read
 *     but uncommitted jobs, and redis-server (appendonly yes, appendfsync always) is
 *     SIGKILLed and restarted later in the run. Every job id gets a result; every ok
 *     result's JSON equals `rfseg predict`'s for its image and options (except ids and
 *     time); duplicates only for jobs the killed worker had not acknowledged; results that
 *     existed before the restart still exist; nothing is left pending; SIGTERM: exit 0.
 *   - malformed_jobs: missing id, bad and truncated image bytes, a huge image (header only),
 *     an oversized image field, unknown model, bad confidence and format, no image: each
 *     gets an error result and the workers keep going (valid jobs after them succeed);
 *     class_filter; a job already delivered more than --max-attempts times is given up
 *     with an error result; the metrics port answers Prometheus text.
 *   - unreachable_then_drain: a worker started before Redis retries until it is up; SIGTERM
 *     while it holds jobs: it finishes them, writes their results, acknowledges them and
 *     exits 0; nothing read is lost or left pending.
 *   - results_bounded: --results-maxlen keeps the results stream short (MAXLEN ~), and
 *     --delete-jobs removes answered jobs from the jobs stream.
 * Without hiredis at build time, or without a redis-server binary (RFS_REDIS_SERVER or
 * the usual paths), the Redis tests print SKIP.
 */
#include "harness.h"

#include "serve_util.h"
#include "worker/job.h"
#include "worker/redis.h"

#include <fcntl.h>

/* ---- units --------------------------------------------------------------------------- */

typedef struct fields {
    const char *v[32];
    size_t l[32];
    size_t n;
} fields;

static void fadd(fields *f, const char *k, const char *v) {
    f->v[f->n] = k, f->l[f->n++] = strlen(k);
    f->v[f->n] = v, f->l[f->n++] = strlen(v);
}

static int parse(rfs_wjob *j, const fields *f, char *err) {
    static const char *const ids[] = {"tiny", "other"};
    return rfs_wjob_parse(j, f->v, f->l, f->n, ids, 2, 1000, err, 400);
}

TEST(job_fields) {
    char err[400];
    rfs_wjob j;
    fields f = {0};
    fadd(&f, "id", "a-1");
    fadd(&f, "image", "BYTES");
    fadd(&f, "ignored", "x");
    CHECK(parse(&j, &f, err) == 0);
    CHECK(j.id && !strcmp(j.id, "a-1") && j.id_len == 3 && j.image_len == 5 && j.model == 0);
    CHECK(!j.custom_confidence && j.format == RFS_MASK_POLYGON && !j.class_filter);
    rfs_wjob_free(&j);

    fadd(&f, "model", "other");
    fadd(&f, "confidence", "45%");
    fadd(&f, "format", "rle");
    fadd(&f, "class_filter", "person,traffic light,,dog");
    CHECK(parse(&j, &f, err) == 0);
    CHECK(j.model == 1 && j.custom_confidence && j.confidence == 0.45f && j.format == RFS_MASK_RLE);
    CHECKF(j.n_class_filter == 3 && !strcmp(j.class_filter[1], "traffic light") && !strcmp(j.class_filter[2], "dog"),
           "%d names", j.n_class_filter);
    rfs_wjob_free(&j);

    struct {
        const char *kv[6]; /* field, value, ... (NULL-terminated) */
        const char *expect;
        int keeps_id;
    } bad[] = {
        {{"image", "B"}, "missing field \"id\"", 0},
        {{"id", "", "image", "B"}, "1 to 1024 bytes", 0},
        {{"id", "x"}, "missing field \"image\"", 1},
        {{"id", "x", "image", ""}, "missing field \"image\"", 1},
        {{"id", "x", "id", "y", "image", "B"}, "given twice", 0},
        {{"id", "x", "image", "B", "model", "nope"}, "model \"nope\" is not served", 1},
        {{"id", "x", "image", "B", "confidence", "abc"}, "confidence 'abc'", 1},
        {{"id", "x", "image", "B", "confidence", "1.5"}, "outside [0, 1]", 1},
        {{"id", "x", "image", "B", "format", "svg"}, "format must be polygon, rle or none", 1},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        fields g = {0};
        for (int i = 0; i < 6 && bad[k].kv[i]; i += 2) fadd(&g, bad[k].kv[i], bad[k].kv[i + 1]);
        int rc = parse(&j, &g, err);
        CHECKF(rc == -1 && strstr(err, bad[k].expect), "case %zu: rc %d, '%s'", k, rc, err);
        CHECKF(!bad[k].keeps_id || (j.id && !strcmp(j.id, "x")), "case %zu keeps the id", k);
        rfs_wjob_free(&j);
    }
    /* the image bound, an odd field count, a NUL in a short value */
    char big[1001];
    memset(big, 'z', sizeof big);
    fields g = {0};
    fadd(&g, "id", "x");
    g.v[g.n] = "image", g.l[g.n++] = 5;
    g.v[g.n] = big, g.l[g.n++] = sizeof big;
    CHECK(parse(&j, &g, err) == -1 && strstr(err, "exceeds the limit of 1000 bytes"));
    rfs_wjob_free(&j);
    g.n = 3;
    CHECK(parse(&j, &g, err) == -1 && strstr(err, "odd number"));
    rfs_wjob_free(&j);
    fields h = {0};
    fadd(&h, "id", "x");
    fadd(&h, "image", "B");
    h.v[h.n] = "confidence", h.l[h.n++] = 10;
    h.v[h.n] = "0.5\0", h.l[h.n++] = 4;
    CHECK(parse(&j, &h, err) == -1 && strstr(err, "confidence"));
    rfs_wjob_free(&j);
    rfs_wjob_free(NULL);
}

TEST(redis_urls) {
    rfs_redis_url u;
    char err[200];
    CHECK(rfs_redis_url_parse(&u, "redis://127.0.0.1:6380/2", err, sizeof err) == 0);
    CHECK(!strcmp(u.host, "127.0.0.1") && u.port == 6380 && u.db == 2 && !u.password[0]);
    CHECK(rfs_redis_url_parse(&u, "redis://cache.example", err, sizeof err) == 0);
    CHECK(!strcmp(u.host, "cache.example") && u.port == 6379 && u.db == 0);
    CHECK(rfs_redis_url_parse(&u, "redis://:s3cret@h:1/", err, sizeof err) == 0);
    CHECK(!strcmp(u.host, "h") && u.port == 1 && !u.user[0] && !strcmp(u.password, "s3cret"));
    CHECK(rfs_redis_url_parse(&u, "redis://bob:pw@[::1]:7000/3", err, sizeof err) == 0);
    CHECK(!strcmp(u.host, "::1") && u.port == 7000 && u.db == 3 && !strcmp(u.user, "bob") && !strcmp(u.password, "pw"));
    const char *bad[] = {"http://h", "redis://", "redis://h:0", "redis://h:99999", "redis://h:12x", "redis://h/x",
                         "redis://h:1/2/3", "redis://pw@h", "redis://[::1", NULL};
    for (int i = 0; bad[i]; i++) CHECKF(rfs_redis_url_parse(&u, bad[i], err, sizeof err) == -1, "%s", bad[i]);
}

#if RFS_HAVE_HIREDIS
#include <hiredis/hiredis.h>

/* ---- processes ----------------------------------------------------------------------- */

static char redis_bin[1024];
static char tmpdir[256];
static const char *images[4] = {"fixtures/images/chelsea.png", "fixtures/images/coffee.png",
                                "fixtures/images/rocket.png", "fixtures/images/astronaut.png"};

static int find_redis(void) {
    const char *env = getenv("RFS_REDIS_SERVER");
    const char *cands[] = {env, "/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server", NULL};
    for (int i = 0; i < 4; i++)
        if (cands[i] && *cands[i] && access(cands[i], X_OK) == 0) {
            snprintf(redis_bin, sizeof redis_bin, "%s", cands[i]);
            return 1;
        }
    return 0;
}

/* n free ports, all different (their sockets are held until all are found). */
static void free_ports(int n, int *out) {
    int fds[8];
    for (int i = 0; i < n && i < 8; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        socklen_t al = sizeof a;
        out[i] = -1;
        if (bind(fds[i], (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fds[i], (struct sockaddr *)&a, &al) == 0)
            out[i] = ntohs(a.sin_port);
    }
    for (int i = 0; i < n && i < 8; i++) close(fds[i]);
}

static int free_port(void) {
    int p;
    free_ports(1, &p);
    return p;
}

/* Forks argv[0] with stdout and stderr into log (appended). */
static pid_t spawn(char *const argv[], const char *log) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2), close(fd);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Sends sig, then waits up to timeout_s for the exit: its status (128 + signal when
 * killed), -1 when it did not exit (then it is SIGKILLed). */
static int stop_proc(pid_t pid, int sig, double timeout_s) {
    if (pid <= 0) return -1;
    kill(pid, sig);
    double t0 = now_s();
    int status = 0;
    while (now_s() - t0 < timeout_s) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static int alive(pid_t pid) { return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0; }

static char *file_text(const char *path) {
    size_t n;
    uint8_t *d = test_read_file(path, &n);
    if (!d) return strdup("");
    char *s = realloc(d, n + 1);
    s[n] = 0;
    return s;
}

/* Waits until a worker logged that it started (its sessions are up and its lanes run):
 * on a loaded machine loading a model can take a while. */
static int worker_ready(pid_t pid, const char *log, double timeout_s) {
    for (double t0 = now_s(); now_s() - t0 < timeout_s && alive(pid);) {
        char *t = file_text(log);
        int up = strstr(t, "worker: consumer") != NULL;
        free(t);
        if (up) return 1;
        sleep_ms(20);
    }
    printf("  worker %ld did not start (log %s)\n", (long)pid, log);
    return 0;
}

static redisContext *rconnect(int port) {
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c) {
        struct timeval t = {60, 0};
        redisSetTimeout(c, t);
    }
    return c;
}

/* A redis-server on port with its files in dir; returns when it answers PING. */
static pid_t start_redis(int port, const char *dir, int aof) {
    char port_s[16], log[512];
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(log, sizeof log, "%s/redis.log", dir);
    char *argv[] = {redis_bin, "--port", port_s, "--bind", "127.0.0.1", "--dir", (char *)dir, "--save", "",
                    "--appendonly", aof ? "yes" : "no", "--appendfsync", "always", "--daemonize", "no",
                    "--loglevel", "warning", NULL};
    pid_t pid = spawn(argv, log);
    for (int i = 0; i < 1000; i++) {
        redisContext *c = rconnect(port);
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            if (r) freeReplyObject(r);
            redisFree(c);
            if (ok) return pid;
        }
        if (!alive(pid)) break;
        sleep_ms(10);
    }
    stop_proc(pid, SIGKILL, 5);
    return -1;
}

/* `rfseg worker` on the tiny model, one CPU thread; extra options NULL-terminated. */
static pid_t start_worker(int port, const char *log, ...) {
    static char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    char *argv[64] = {rfseg_bin, "worker", "--redis", url, "--model", model_w1, "--threads", "1"};
    int argc = 8;
    va_list ap;
    va_start(ap, log);
    for (char *a; argc < 63 && (a = va_arg(ap, char *));) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    return spawn(argv, log);
}

/* ---- redis helpers ------------------------------------------------------------------- */

static redisReply *cmd(redisContext *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    return r;
}

static long long cmd_int(redisContext *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) freeReplyObject(r);
    return v;
}

/* XADD jobs * with field/value pairs (binary values with lengths); the entry id (static). */
static const char *xadd(redisContext *c, const char *stream, int n, const char **kv, const size_t *kl) {
    static char id[64];
    const char *argv[40] = {"XADD", stream, "*"};
    size_t lens[40] = {4, strlen(stream), 1};
    for (int i = 0; i < n; i++) argv[3 + i] = kv[i], lens[3 + i] = kl ? kl[i] : strlen(kv[i]);
    redisReply *r = redisCommandArgv(c, 3 + n, argv, lens);
    id[0] = 0;
    if (r && r->type == REDIS_REPLY_STRING) snprintf(id, sizeof id, "%s", r->str);
    if (r) freeReplyObject(r);
    return id;
}

typedef struct result {
    char eid[64], entry[64], id[64], status[16], worker[128];
    char *json, *error;
} result;

typedef struct results {
    result *r;
    int n;
} results;

static void results_free(results *rs) {
    for (int i = 0; i < rs->n; i++) free(rs->r[i].json), free(rs->r[i].error);
    free(rs->r);
    memset(rs, 0, sizeof *rs);
}

static int read_results(redisContext *c, const char *stream, results *rs) {
    memset(rs, 0, sizeof *rs);
    redisReply *r = cmd(c, "XRANGE %s - +", stream);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        if (r) freeReplyObject(r);
        return -1;
    }
    rs->r = calloc(r->elements + 1, sizeof *rs->r);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *e = r->element[i], *f = e->element[1];
        result *x = &rs->r[rs->n++];
        snprintf(x->eid, sizeof x->eid, "%s", e->element[0]->str);
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            const char *key = f->element[k]->str, *v = f->element[k + 1]->str;
            if (!strcmp(key, "id")) snprintf(x->id, sizeof x->id, "%s", v);
            else if (!strcmp(key, "entry")) snprintf(x->entry, sizeof x->entry, "%s", v);
            else if (!strcmp(key, "status")) snprintf(x->status, sizeof x->status, "%s", v);
            else if (!strcmp(key, "worker")) snprintf(x->worker, sizeof x->worker, "%s", v);
            else if (!strcmp(key, "json")) x->json = strdup(v);
            else if (!strcmp(key, "error")) x->error = strdup(v);
        }
    }
    freeReplyObject(r);
    return rs->n;
}

/* Entry ids pending for one consumer (all consumers when NULL), into ids (cap); the count. */
static int pending_of(redisContext *c, const char *jobs, const char *consumer, char (*ids)[64], int cap) {
    redisReply *r = consumer ? cmd(c, "XPENDING %s rfseg - + 10000 %s", jobs, consumer)
                             : cmd(c, "XPENDING %s rfseg - + 10000", jobs);
    int n = -1;
    if (r && r->type == REDIS_REPLY_ARRAY) {
        n = 0;
        for (size_t i = 0; i < r->elements; i++)
            if (n < cap && ids) snprintf(ids[n++], 64, "%s", r->element[i]->element[0]->str);
            else n++;
    }
    if (r) freeReplyObject(r);
    return n;
}

static const result *find_id(const results *rs, const char *id, int *count) {
    const result *first = NULL;
    *count = 0;
    for (int i = 0; i < rs->n; i++)
        if (!strcmp(rs->r[i].id, id)) {
            if (!first) first = &rs->r[i];
            ++*count;
        }
    return first;
}

static const result *find_entry(const results *rs, const char *entry) {
    for (int i = 0; i < rs->n; i++)
        if (!strcmp(rs->r[i].entry, entry)) return &rs->r[i];
    return NULL;
}

static int json_matches(const char *json, const char *expect) {
    if (!json || !expect) return 0;
    char *b = strdup(json);
    normalize(b);
    int eq = !strcmp(b, expect);
    if (!eq) printf("  got:    %.300s\n  expect: %.300s\n", b, expect);
    free(b);
    return eq;
}

static int wait_results(redisContext *c, const char *stream, long long n, double timeout_s) {
    double t0 = now_s();
    while (now_s() - t0 < timeout_s) {
        if (cmd_int(c, "XLEN %s", stream) >= n) return 1;
        sleep_ms(20);
    }
    return 0;
}

/* ---- the 300-job run ----------------------------------------------------------------- */

#define NJOBS 300

TEST(crash_and_restart) {
    char dir[300], log[3][512];
    snprintf(dir, sizeof dir, "%s/crash", tmpdir);
    mkdir(dir, 0755);
    for (int i = 0; i < 3; i++) snprintf(log[i], sizeof log[i], "%s/worker%d.log", dir, i);
    /* references: each image with the defaults, and with RLE at confidence 0.5 */
    char *ref[4][2];
    for (int i = 0; i < 4; i++) {
        ref[i][0] = predict_cli(model_w1, test_shared(images[i]), NULL);
        ref[i][1] = predict_cli(model_w1, test_shared(images[i]), "--format rle --confidence 0.5");
        CHECKF(ref[i][0] && ref[i][1] && strstr(ref[i][0], "\"points\"") && strstr(ref[i][1], "\"rle\""),
               "rfseg predict %s", images[i]);
    }
    uint8_t *img[4];
    size_t img_len[4];
    for (int i = 0; i < 4; i++) img[i] = test_read_file(test_shared(images[i]), &img_len[i]);
    int port = free_port();
    pid_t redis = start_redis(port, dir, 1);
    CHECK(redis > 0);
    redisContext *c = rconnect(port);
    CHECK(c != NULL);
    if (redis <= 0 || !c || !img[0] || !img[1] || !img[2] || !img[3] || test_cur_failed) goto done;
    for (int j = 0; j < NJOBS; j++) {
        char id[32];
        snprintf(id, sizeof id, "job-%03d", j);
        int v = (j / 4) % 2;
        const char *kv[10] = {"id", id, "image", (const char *)img[j % 4]};
        size_t kl[10] = {2, strlen(id), 5, img_len[j % 4]};
        int n = 4;
        if (v) {
            kv[4] = "format", kv[5] = "rle", kv[6] = "confidence", kv[7] = "0.5";
            for (int k = 4; k < 8; k++) kl[k] = strlen(kv[k]);
            n = 8;
        }
        CHECK(xadd(c, "rfseg:jobs", n, kv, kl)[0]);
    }
    /* three workers: w0 will be killed; w2 keeps the default consumer name (host:pid) */
    pid_t w[3];
    w[0] = start_worker(port, log[0], "--consumer", "w0", "--claim-idle-ms", "3000", "--max-batch", "4", NULL);
    w[1] = start_worker(port, log[1], "--consumer", "w1", "--claim-idle-ms", "3000", "--max-batch", "4", NULL);
    w[2] = start_worker(port, log[2], "--claim-idle-ms", "3000", "--max-batch", "4", NULL);
    for (int i = 0; i < 3; i++) CHECK(worker_ready(w[i], log[i], 120));
    /* once the run is under way, kill w0 while it holds jobs it read and has not
     * committed (in the middle of a batch) */
    char (*killed)[64] = calloc(64, sizeof *killed);
    int n_killed = -1;
    CHECK(wait_results(c, "rfseg:results", 30, 120));
    for (double t0 = now_s(); now_s() - t0 < 120;) {
        if (pending_of(c, "rfseg:jobs", "w0", NULL, 0) > 0) {
            kill(w[0], SIGKILL);
            waitpid(w[0], NULL, 0);
            n_killed = pending_of(c, "rfseg:jobs", "w0", killed, 64);
            break;
        }
        sleep_ms(1);
    }
    CHECKF(n_killed > 0, "worker w0 was not caught mid-batch (%d jobs pending)", n_killed);
    /* restart redis-server (SIGKILL; appendfsync always) once half of the jobs are done */
    CHECK(wait_results(c, "rfseg:results", NJOBS / 2, 120));
    results before;
    read_results(c, "rfseg:results", &before);
    redisFree(c);
    c = NULL;
    stop_proc(redis, SIGKILL, 10);
    sleep_ms(300);
    redis = start_redis(port, dir, 1);
    CHECKF(redis > 0, "redis-server did not restart");
    c = rconnect(port);
    if (redis <= 0 || !c) {
        results_free(&before);
        free(killed);
        for (int i = 1; i < 3; i++) stop_proc(w[i], SIGKILL, 5);
        goto done;
    }
    results mid;
    read_results(c, "rfseg:results", &mid);
    int lost = 0;
    for (int i = 0; i < before.n; i++) {
        int found = 0;
        for (int k = 0; k < mid.n && !found; k++) found = !strcmp(before.r[i].eid, mid.r[k].eid);
        lost += !found;
    }
    printf("  redis-server restarted with %d of %d jobs answered; %d results survived\n", before.n, NJOBS, mid.n);
    CHECKF(before.n >= NJOBS / 2 && lost == 0, "%d of %d results written before the restart are gone", lost, before.n);
    results_free(&before);
    results_free(&mid);
    /* every job answered */
    double t1 = now_s();
    int all = 0;
    while (!all && now_s() - t1 < 180) {
        results rs;
        read_results(c, "rfseg:results", &rs);
        all = 1;
        for (int j = 0; j < NJOBS && all; j++) {
            char id[32];
            int k;
            snprintf(id, sizeof id, "job-%03d", j);
            all = find_id(&rs, id, &k) != NULL;
        }
        results_free(&rs);
        if (!all) sleep_ms(50);
    }
    CHECKF(all, "not every job got a result within 180 s");
    char default_name[300];
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    snprintf(default_name, sizeof default_name, "%s:%ld", host, (long)w[2]);
    for (int i = 1; i < 3; i++) {
        int st = stop_proc(w[i], SIGTERM, 60);
        CHECKF(st == 0, "worker %d: exit status %d after SIGTERM", i, st);
    }
    results rs;
    read_results(c, "rfseg:results", &rs);
    int ok = 0, wrong = 0, errors = 0, dups = 0, dup_unexpected = 0, by_default = 0, reclaimed = 0;
    for (int j = 0; j < NJOBS; j++) {
        char id[32];
        int k;
        snprintf(id, sizeof id, "job-%03d", j);
        const result *x = find_id(&rs, id, &k);
        if (!x) continue;
        if (k > 1) dups++;
        for (int i = 0; i < rs.n; i++) {
            const result *y = &rs.r[i];
            if (strcmp(y->id, id)) continue;
            if (strcmp(y->status, "ok")) {
                if (errors++ < 3) printf("  %s: %s\n", id, y->error ? y->error : "?");
                continue;
            }
            if (!json_matches(y->json, ref[j % 4][(j / 4) % 2])) wrong++;
            else ok++;
            by_default += !strcmp(y->worker, default_name);
        }
        if (k > 1) { /* only jobs the killed worker held may have been answered twice */
            int held = 0;
            for (int i = 0; i < n_killed; i++) held |= !strcmp(killed[i], x->entry);
            dup_unexpected += !held;
        }
    }
    for (int i = 0; i < n_killed; i++) {
        const result *x = find_entry(&rs, killed[i]);
        reclaimed += x && strcmp(x->worker, "w0");
    }
    printf("  %d results for %d jobs (%d ok, %d duplicated); w0 killed holding %d jobs, all answered by others: %s\n",
           rs.n, NJOBS, ok, dups, n_killed, reclaimed == n_killed ? "yes" : "no");
    CHECKF(wrong == 0 && errors == 0, "%d results differ from rfseg predict, %d errors", wrong, errors);
    CHECKF(dup_unexpected == 0, "%d jobs answered twice that the killed worker did not hold", dup_unexpected);
    CHECKF(n_killed <= 0 || reclaimed == n_killed, "%d of the killed worker's %d jobs were answered by others", reclaimed,
           n_killed);
    CHECKF(by_default > 0, "no result names the default consumer %s", default_name);
    CHECK(pending_of(c, "rfseg:jobs", NULL, NULL, 0) == 0);
    char *l1 = file_text(log[1]), *l2 = file_text(log[2]);
    CHECKF(strstr(l1, "reconnected") || strstr(l2, "reconnected"), "no worker logged a reconnection");
    CHECKF(strstr(l1, "claimed") || strstr(l2, "claimed"), "no worker logged a claim");
    free(l1);
    free(l2);
    results_free(&rs);
    free(killed);
done:
    if (c) redisFree(c);
    stop_proc(redis, SIGTERM, 20);
    for (int i = 0; i < 4; i++) free(img[i]), free(ref[i][0]), free(ref[i][1]);
}

/* ---- malformed jobs ------------------------------------------------------------------ */

TEST(malformed_jobs) {
    char dir[300], log0[512], log1[512];
    snprintf(dir, sizeof dir, "%s/malformed", tmpdir);
    mkdir(dir, 0755);
    snprintf(log0, sizeof log0, "%s/worker0.log", dir);
    snprintf(log1, sizeof log1, "%s/worker1.log", dir);
    char *ref = predict_cli(model_w1, test_shared(images[0]), NULL);
    size_t png_len;
    uint8_t *png = test_read_file(test_shared(images[0]), &png_len);
    int ports[2];
    free_ports(2, ports);
    int port = ports[0], mport = ports[1];
    pid_t redis = start_redis(port, dir, 0);
    redisContext *c = redis > 0 ? rconnect(port) : NULL;
    CHECK(ref && png && c);
    if (!ref || !png || !c) goto done;
    /* a job that workers "died" on 5 times already: delivered to a ghost consumer, its
     * delivery count raised and its idle time set as if long abandoned */
    freeReplyObject(cmd(c, "XGROUP CREATE rfseg:jobs rfseg 0 MKSTREAM"));
    const char *pk[] = {"id", "poison", "image", (const char *)png};
    size_t pl[] = {2, 6, 5, png_len};
    char poison[64];
    snprintf(poison, sizeof poison, "%s", xadd(c, "rfseg:jobs", 4, pk, pl));
    freeReplyObject(cmd(c, "XREADGROUP GROUP rfseg ghost COUNT 1 STREAMS rfseg:jobs >"));
    freeReplyObject(cmd(c, "XCLAIM rfseg:jobs rfseg ghost 0 %s IDLE 3600000 RETRYCOUNT 5", poison));

    uint8_t hdr[64];
    size_t hdr_len = png_header_only(hdr, 20000, 20000);
    size_t big_len = (size_t)3 << 19; /* 1.5 MiB */
    uint8_t *big = calloc(1, big_len);
    memcpy(big, png, png_len < big_len ? png_len : big_len);
    struct {
        const char *id;      /* NULL: no id field */
        const char *k2, *v2; /* an extra field */
        const uint8_t *image;
        size_t image_len;
        const char *expect;  /* error substring, NULL: ok */
    } jobs[] = {
        {"v-1", NULL, NULL, png, png_len, NULL},
        {NULL, NULL, NULL, png, png_len, "missing field \"id\""},
        {"bad-bytes", NULL, NULL, (const uint8_t *)"definitely not an image", 23, "could not decode the image"},
        {"truncated", NULL, NULL, png, 200, "could not decode the image"},
        {"huge", NULL, NULL, hdr, hdr_len, "image size 20000x20000 exceeds the limit of 1000000 pixels"},
        {"big-field", NULL, NULL, big, big_len, "exceeds the limit of 1048576 bytes"},
        {"v-2", NULL, NULL, png, png_len, NULL},
        {"unknown-model", "model", "nope", png, png_len, "model \"nope\" is not served"},
        {"bad-conf", "confidence", "lots", png, png_len, "confidence 'lots'"},
        {"bad-format", "format", "svg", png, png_len, "format must be"},
        {"no-image", NULL, NULL, NULL, 0, "missing field \"image\""},
        {"filter-none", "class_filter", "zebra,giraffe", png, png_len, NULL},
        {"filter-person", "class_filter", "person", png, png_len, NULL},
        {"v-3", "model", "tiny-w1", png, png_len, NULL},
    };
    int nj = (int)(sizeof jobs / sizeof jobs[0]);
    char entries[32][64];
    for (int i = 0; i < nj; i++) {
        const char *kv[8];
        size_t kl[8];
        int n = 0;
        if (jobs[i].id) kv[n] = "id", kl[n++] = 2, kv[n] = jobs[i].id, kl[n++] = strlen(jobs[i].id);
        if (jobs[i].image) kv[n] = "image", kl[n++] = 5, kv[n] = (const char *)jobs[i].image, kl[n++] = jobs[i].image_len;
        if (jobs[i].k2) kv[n] = jobs[i].k2, kl[n++] = strlen(jobs[i].k2), kv[n] = jobs[i].v2, kl[n++] = strlen(jobs[i].v2);
        snprintf(entries[i], 64, "%s", xadd(c, "rfseg:jobs", n, kv, kl));
    }
    char mport_s[16];
    snprintf(mport_s, sizeof mport_s, "%d", mport);
    pid_t w0 = start_worker(port, log0, "--consumer", "m0", "--max-pixels", "1000000", "--max-image-mb", "1",
                            "--claim-idle-ms", "500", "--max-attempts", "2", "--metrics-port", mport_s, NULL);
    pid_t w1 = start_worker(port, log1, "--consumer", "m1", "--max-pixels", "1000000", "--max-image-mb", "1",
                            "--claim-idle-ms", "500", "--max-attempts", "2", "--max-batch", "2", NULL);
    CHECK(worker_ready(w0, log0, 120) && worker_ready(w1, log1, 120));
    CHECKF(wait_results(c, "rfseg:results", nj + 1, 120), "not every job got a result");
    results rs;
    read_results(c, "rfseg:results", &rs);
    for (int i = 0; i < nj; i++) {
        const result *x = find_entry(&rs, entries[i]);
        CHECKF(x != NULL, "job %d (%s) has no result", i, jobs[i].id ? jobs[i].id : "no id");
        if (!x) continue;
        CHECKF(!strcmp(x->id, jobs[i].id ? jobs[i].id : ""), "job %d: id '%s'", i, x->id);
        if (jobs[i].expect) {
            CHECKF(!strcmp(x->status, "error") && x->error && strstr(x->error, jobs[i].expect) && !x->json,
                   "job %s: status %s, error '%s'", jobs[i].id, x->status, x->error ? x->error : "");
        } else if (jobs[i].k2 && !strcmp(jobs[i].k2, "class_filter")) {
            CHECKF(!strcmp(x->status, "ok") && x->json, "job %s: %s", jobs[i].id, x->error ? x->error : "");
            if (x->json && strstr(jobs[i].v2, "zebra")) CHECK(strstr(x->json, "\"predictions\":[]"));
            if (x->json && !strcmp(jobs[i].v2, "person")) {
                int other = 0;
                for (const char *p = strstr(x->json, "\"class\":\""); p; p = strstr(p + 9, "\"class\":\""))
                    other += strncmp(p + 9, "person\"", 7) != 0;
                CHECKF(strstr(x->json, "\"class\":\"person\"") && !other, "class_filter person: %d other classes", other);
            }
        } else {
            CHECKF(!strcmp(x->status, "ok") && json_matches(x->json, ref), "job %s: %s", jobs[i].id,
                   x->error ? x->error : "");
        }
        CHECK(!strcmp(x->worker, "m0") || !strcmp(x->worker, "m1"));
    }
    const result *p = find_entry(&rs, poison);
    CHECKF(p && !strcmp(p->id, "poison") && !strcmp(p->status, "error") && p->error && strstr(p->error, "gave up after 6 deliveries"),
           "poison job: %s", p && p->error ? p->error : "no result");
    int k;
    find_id(&rs, "poison", &k);
    CHECKF(k == 1, "the poison job has %d results", k);
    int m0_ok = 0, m0_err = 0;
    for (int i = 0; i < rs.n; i++)
        if (!strcmp(rs.r[i].worker, "m0")) m0_ok += !strcmp(rs.r[i].status, "ok"), m0_err += !strcmp(rs.r[i].status, "error");
    results_free(&rs);
    CHECK(pending_of(c, "rfseg:jobs", NULL, NULL, 0) == 0);
    CHECK(alive(w0) && alive(w1));
    /* counters over HTTP */
    resp r;
    http(mport, "GET", "/metrics", NULL, NULL, 0, &r);
    CHECK(r.status == 200 && r.body && strstr(r.body, "# TYPE rfseg_worker_jobs_total counter") &&
          strstr(r.body, "rfseg_batch_size_bucket{le=\"+Inf\"}") && strstr(r.body, "rfseg_worker_job_duration_seconds_count"));
    resp_free(&r);
    /* m0's counters are its results (counted just after each commit: poll briefly) */
    double okc = -1, errc = -1;
    for (int i = 0; i < 100 && (okc != m0_ok || errc != m0_err); i++, sleep_ms(20)) {
        okc = metric(mport, "rfseg_worker_jobs_total{status=\"ok\"}");
        errc = metric(mport, "rfseg_worker_jobs_total{status=\"error\"}");
    }
    CHECKF(okc == m0_ok && errc == m0_err, "metrics ok %g error %g; results of m0: ok %d error %d", okc, errc, m0_ok,
           m0_err);
    http(mport, "GET", "/nope", NULL, NULL, 0, &r);
    CHECK(r.status == 404);
    resp_free(&r);
    CHECKF(stop_proc(w0, SIGTERM, 60) == 0, "worker m0 did not exit 0");
    CHECKF(stop_proc(w1, SIGTERM, 60) == 0, "worker m1 did not exit 0");
    char *l0 = file_text(log0);
    CHECKF(strstr(l0, "jobs ok"), "the counters are in the log at exit");
    free(l0);
    free(big);
done:
    if (c) redisFree(c);
    stop_proc(redis, SIGTERM, 20);
    free(png);
    free(ref);
}

/* ---- Redis down at start, then SIGTERM with jobs in hand ------------------------------ */

TEST(unreachable_then_drain) {
    char dir[300], log[512];
    snprintf(dir, sizeof dir, "%s/drain", tmpdir);
    mkdir(dir, 0755);
    snprintf(log, sizeof log, "%s/worker.log", dir);
    size_t png_len;
    uint8_t *png = test_read_file(test_shared(images[1]), &png_len);
    int port = free_port();
    pid_t w = start_worker(port, log, "--consumer", "d0", "--max-batch", "4", "--inflight", "2", NULL);
    CHECK(worker_ready(w, log, 120));
    for (double t0 = now_s(); now_s() - t0 < 30;) { /* until it has found Redis missing */
        char *t = file_text(log);
        int down = strstr(t, "redis unreachable") != NULL;
        free(t);
        if (down) break;
        sleep_ms(20);
    }
    sleep_ms(300); /* it retries meanwhile */
    CHECK(alive(w));
    pid_t redis = start_redis(port, dir, 0);
    redisContext *c = redis > 0 ? rconnect(port) : NULL;
    CHECK(png && c);
    if (!png || !c) {
        stop_proc(w, SIGKILL, 5);
        goto done;
    }
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof id, "d-%d", i);
        const char *kv[] = {"id", id, "image", (const char *)png};
        size_t kl[] = {2, strlen(id), 5, png_len};
        xadd(c, "rfseg:jobs", 4, kv, kl);
    }
    int held = 0;
    for (double t0 = now_s(); now_s() - t0 < 60 && held <= 0;) {
        held = pending_of(c, "rfseg:jobs", "d0", NULL, 0);
        if (held <= 0) sleep_ms(2);
    }
    CHECKF(held > 0, "the worker never held a job");
    int st = stop_proc(w, SIGTERM, 60);
    CHECKF(st == 0, "exit status %d after SIGTERM", st);
    CHECK(pending_of(c, "rfseg:jobs", NULL, NULL, 0) == 0);
    /* every job delivered has exactly one result; the rest wait in the stream */
    redisReply *g = cmd(c, "XINFO GROUPS rfseg:jobs");
    char last[64] = "";
    for (size_t i = 0; g && g->type == REDIS_REPLY_ARRAY && i < g->elements; i++)
        for (size_t k = 0; k + 1 < g->element[i]->elements; k += 2)
            if (!strcmp(g->element[i]->element[k]->str, "last-delivered-id"))
                snprintf(last, sizeof last, "%s", g->element[i]->element[k + 1]->str);
    if (g) freeReplyObject(g);
    redisReply *d = cmd(c, "XRANGE rfseg:jobs - %s", last);
    long long delivered = d && d->type == REDIS_REPLY_ARRAY ? (long long)d->elements : -1;
    if (d) freeReplyObject(d);
    results rs;
    read_results(c, "rfseg:results", &rs);
    int ok = 0;
    for (int i = 0; i < rs.n; i++) ok += !strcmp(rs.r[i].status, "ok");
    printf("  held %d jobs at SIGTERM; %lld delivered, %d results\n", held, delivered, rs.n);
    CHECKF(delivered >= held && rs.n == delivered && ok == rs.n, "%lld delivered, %d results (%d ok)", delivered, rs.n, ok);
    results_free(&rs);
    char *l = file_text(log);
    CHECKF(strstr(l, "redis unreachable"), "the worker did not log that Redis was unreachable");
    free(l);
done:
    if (c) redisFree(c);
    stop_proc(redis, SIGTERM, 20);
    free(png);
}

TEST(results_bounded) {
    char dir[300], log[512];
    snprintf(dir, sizeof dir, "%s/bounded", tmpdir);
    mkdir(dir, 0755);
    snprintf(log, sizeof log, "%s/worker.log", dir);
    int port = free_port();
    pid_t redis = start_redis(port, dir, 0);
    redisContext *c = redis > 0 ? rconnect(port) : NULL;
    CHECK(c != NULL);
    if (!c) goto done;
    freeReplyObject(cmd(c, "CONFIG SET stream-node-max-entries 4"));
    size_t n;
    uint8_t *jpg = make_jpeg(48, 32, &n);
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof id, "b-%d", i);
        const char *kv[] = {"id", id, "image", (const char *)jpg};
        size_t kl[] = {2, strlen(id), 5, n};
        xadd(c, "rfseg:jobs", 4, kv, kl);
    }
    free(jpg);
    pid_t w = start_worker(port, log, "--results", "bounded", "--results-maxlen", "6", "--max-batch", "8",
                           "--delete-jobs", NULL);
    CHECK(worker_ready(w, log, 120));
    double t0 = now_s();
    long long lag = -1;
    while (now_s() - t0 < 60) { /* until the group has read everything and nothing is pending */
        redisReply *g = cmd(c, "XINFO GROUPS rfseg:jobs");
        lag = -1;
        for (size_t k = 0; g && g->type == REDIS_REPLY_ARRAY && g->elements && k + 1 < g->element[0]->elements; k += 2)
            if (!strcmp(g->element[0]->element[k]->str, "entries-read")) lag = 40 - g->element[0]->element[k + 1]->integer;
        if (g) freeReplyObject(g);
        if (lag == 0 && pending_of(c, "rfseg:jobs", NULL, NULL, 0) == 0) break;
        sleep_ms(20);
    }
    CHECKF(lag == 0, "the worker did not read every job");
    long long len = cmd_int(c, "XLEN bounded");
    CHECKF(len >= 6 && len <= 10, "XLEN of the results stream: %lld (MAXLEN ~ 6, nodes of 4)", len);
    CHECKF(cmd_int(c, "XLEN rfseg:jobs") == 0, "--delete-jobs left %lld jobs", cmd_int(c, "XLEN rfseg:jobs"));
    CHECK(stop_proc(w, SIGTERM, 60) == 0);
done:
    if (c) redisFree(c);
    stop_proc(redis, SIGTERM, 20);
}
#endif

int main(int argc, char **argv) {
    serve_util_init(argv[0]);
    RUN(job_fields);
    RUN(redis_urls);
#if RFS_HAVE_HIREDIS
    if (!find_redis()) {
        printf("SKIP: no redis-server binary (install redis-server or set RFS_REDIS_SERVER): Redis tests not run\n");
        return test_summary();
    }
    /* the workers and the `rfseg predict` reference: one CPU thread each, no re-exec */
    setenv("OMP_NUM_THREADS", "1", 1);
    setenv("OMP_WAIT_POLICY", "passive", 1);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rfs_worker_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("cannot create a temporary directory\n");
        return 1;
    }
    RUN(crash_and_restart);
    RUN(malformed_jobs);
    RUN(unreachable_then_drain);
    RUN(results_bounded);
    if (!test_failed && !getenv("RFS_KEEP_LOGS")) {
        char *rm = fmt("rm -rf '%s'", tmpdir);
        if (system(rm) != 0) printf("could not remove %s\n", tmpdir);
        free(rm);
    } else printf("logs kept in %s\n", tmpdir);
#else
    printf("SKIP: built without hiredis: the Redis tests are not run\n");
#endif
    return test_summary();
}
