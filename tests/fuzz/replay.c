/* replay.c - runs a fuzz target's LLVMFuzzerTestOneInput on files without libFuzzer, to
 * replay a corpus or a reproducer under valgrind or gdb with an ordinary build:
 *
 *   cc -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc -Itests/fuzz tests/fuzz/fuzz_y4m.c \
 *      tests/fuzz/replay.c build/librfseg.a <the libraries of `make`> -o /tmp/replay_y4m
 *   valgrind --error-exitcode=1 /tmp/replay_y4m tests/fuzz/seeds_y4m build-fuzz/corpus_y4m
 *
 * Arguments are files or directories (their regular files, not recursively). Prints the
 * number of inputs run. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) break;
            buf = nb;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        if (k == 0) break;
        n += k;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf ? buf : (const uint8_t *)"", n);
    free(buf);
    return 1;
}

int main(int argc, char **argv) {
    long runs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0) continue;
        if (!S_ISDIR(sb.st_mode)) {
            runs += run_file(argv[i]);
            continue;
        }
        DIR *d = opendir(argv[i]);
        for (struct dirent *e; d && (e = readdir(d));) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
            if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) runs += run_file(p);
        }
        if (d) closedir(d);
    }
    printf("%ld inputs run\n", runs);
    return 0;
}
