/* tfbench.c - times rfs_tensorfile_open() and the float32 conversion of every tensor.
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc dev/tensorfile/tfbench.c build/librfseg.a -lzip -fopenmp -lm -o /tmp/tfbench
 */
#include "io/tensorfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Baseline: one fread of the whole file into fresh memory. */
static double read_whole(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    double t0 = now();
    char *b = malloc((size_t)n);
    size_t r = fread(b, 1, (size_t)n, fp);
    double t = now() - t0;
    free(b);
    fclose(fp);
    return r == (size_t)n ? t : -1;
}

int main(int argc, char **argv) {
    for (int a = 1; a < argc; a++) {
        rfs_tensorfile *f;
        printf("%s: plain fread of the whole file into fresh memory: %.3f s\n", argv[a], read_whole(argv[a]));
        double t0 = now();
        if (rfs_tensorfile_open(&f, argv[a]) != RFS_OK) {
            printf("%s\n", rfs_last_error());
            continue;
        }
        double t1 = now();
        int64_t total = 0, maxn = 0;
        for (int i = 0; i < f->count; i++) {
            int64_t n = rfs_tensor_numel(&f->tensors[i]);
            total += n;
            if (n > maxn) maxn = n;
        }
        float *buf = malloc((size_t)(maxn ? maxn : 1) * sizeof *buf);
        double t2 = now();
        for (int i = 0; i < f->count; i++) rfs_tensor_to_f32(&f->tensors[i], buf);
        double t3 = now();
        printf("%s: %d tensors, %.1f MB: open %.3f s (%.2f GB/s), to_f32 %.3f s\n", argv[a], f->count,
               total * 4e-6, t1 - t0, total * 4e-9 / (t1 - t0), t3 - t2);
        free(buf);
        rfs_tensorfile_free(f);
    }
    return 0;
}
