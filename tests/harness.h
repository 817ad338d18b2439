/* harness.h - the tiny test harness.
 *
 *   TEST(name) { CHECK(x == 1); CHECKF(fabs(d) < 1e-5, "d = %g", d); }
 *   int main(void) { RUN(name); return test_summary(); }
 *
 * Every CHECK that fails prints file:line and the condition; test_summary() prints
 * "N passed, N failed" and returns non-zero when anything failed. Fixtures are looked up
 * under $RFS_SHARED (default ../shared); a missing fixture is a failure, never a skip.
 */
#ifndef RFS_TEST_HARNESS_H
#define RFS_TEST_HARNESS_H

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int test_passed, test_failed, test_cur_failed;
static const char *test_cur_name;

#define TEST(name) static void name(void)
#define RUN(name)                                                                          \
    do {                                                                                   \
        test_cur_name = #name;                                                             \
        test_cur_failed = 0;                                                               \
        name();                                                                            \
        if (test_cur_failed) {                                                             \
            test_failed++;                                                                 \
            printf("FAIL %s\n", #name);                                                    \
        } else {                                                                           \
            test_passed++;                                                                 \
            printf("ok   %s\n", #name);                                                    \
        }                                                                                  \
        fflush(stdout);                                                                    \
    } while (0)

#define CHECKF(cond, ...)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            printf("  %s:%d: %s: check failed: %s: ", __FILE__, __LINE__, test_cur_name,   \
                   #cond);                                                                 \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
            test_cur_failed = 1;                                                           \
        }                                                                                  \
    } while (0)
#define CHECK(cond) CHECKF(cond, "%s", "")

static inline int test_summary(void) {
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

/* Path of a file under the shared folder (fixtures, videos). */
static inline const char *test_shared(const char *rel) {
    static char buf[8][1024];
    static int k;
    const char *root = getenv("RFS_SHARED");
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", root && *root ? root : "../shared", rel);
    return b;
}

/* A whole file in a malloc'd buffer (NULL when it cannot be opened). */
static inline uint8_t *test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

/* CRC-32 of zlib / PNG chunks, for crafting files. */
static inline uint32_t test_crc32(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static inline void test_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* ---- files for the tests of writers and readers ------------------------------------- */

/* Writes text to path (a fixture file the test makes). */
static inline void test_write_text(const char *path, const char *text) {
    FILE *o = fopen(path, "wb");
    fputs(text, o);
    fclose(o);
}

/* The number of entries in dir, "." and ".." aside (-1 when it cannot be read). */
static inline int test_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* Removes every file and empty directory in dir (one level), leaving dir itself. */
static inline void test_empty_dir(const char *dir) {
    char path[1024];
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (remove(path) != 0) rmdir(path);
    }
    if (d) closedir(d);
}

/* ulimit -f for the writers' tests: files this process writes stop at bytes, and with
 * SIGXFSZ ignored a write beyond that fails with EFBIG instead of killing the test.
 * test_fsize_limit returns setrlimit's result; test_fsize_unlimit puts both back. */
typedef struct test_fsize_saved {
    struct rlimit old;
    void (*prev)(int);
} test_fsize_saved;

static inline int test_fsize_limit(test_fsize_saved *s, rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &s->old);
    struct rlimit lim = s->old;
    lim.rlim_cur = bytes;
    fflush(stdout);
    s->prev = signal(SIGXFSZ, SIG_IGN);
    return setrlimit(RLIMIT_FSIZE, &lim);
}

static inline void test_fsize_unlimit(const test_fsize_saved *s) {
    setrlimit(RLIMIT_FSIZE, &s->old);
    signal(SIGXFSZ, s->prev);
}

#endif
