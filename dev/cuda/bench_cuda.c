/* bench_cuda.c - device-side timing of the CUDA forward pass (kernel lab; not part of the
 * product). For each size x precision x batch: the network alone (median device time of
 * a CUDA-graph replay, input already on the device), the full rfs_forward call (host input
 * copied in, logits/boxes/masks copied out to pinned session buffers) and a per-stage
 * breakdown; plus the machine's two ceilings (a large bf16 GEMM, a device-to-device copy).
 *
 *   bench_cuda [--sizes a,b] [--batches 1,8,32] [--precisions fp16,bf16] [--iters N]
 *
 * Prints a table and one JSON line per configuration ("bench:" prefix). */
#include "cuda/backend.h"
#include "rfseg.h"

#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_dbl(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int in_list(const char *list, const char *item) {
    if (!list) return 1;
    size_t n = strlen(item);
    for (const char *p = list; (p = strstr(p, item)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return 1;
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void ceilings(void) {
    /* bf16 GEMM 8192^3 through the backend's cuBLASLt wrapper, random data */
    const int n = 8192;
    float *h = malloc(sizeof(float) * (size_t)n * n);
    uint64_t z = 1;
    for (size_t i = 0; i < (size_t)n * n; i++) {
        z = z * 6364136223846793005ull + 1442695040888963407ull;
        h[i] = (float)((z >> 40) / (double)(1 << 24) - 0.5);
    }
    void *a = rfs_cuda_upload_as(h, (size_t)n * n, RFS_DT_BF16);
    void *b = rfs_cuda_upload_as(h, (size_t)n * n, RFS_DT_BF16);
    void *c = rfs_cuda_alloc((size_t)n * n * 2);
    free(h);
    rfs_cuda_ctx *ctx;
    if (rfs_cuda_ctx_create(&ctx) != RFS_OK) return;
    for (int i = 0; i < 3; i++)
        rfs_linear_cuda(ctx, c, RFS_DT_BF16, n, a, n, b, RFS_DT_BF16, NULL, n, n, n, RFS_ACT_NONE, 0, NULL);
    rfs_cuda_sync();
    double t0 = now_ms();
    const int reps = 10;
    for (int i = 0; i < reps; i++)
        rfs_linear_cuda(ctx, c, RFS_DT_BF16, n, a, n, b, RFS_DT_BF16, NULL, n, n, n, RFS_ACT_NONE, 0, NULL);
    rfs_cuda_sync();
    double ms = (now_ms() - t0) / reps;
    printf("ceiling: bf16 GEMM %dx%dx%d: %.3f ms = %.0f TFLOP/s\n", n, n, n, ms, 2.0 * n * n * n / ms / 1e9);
    /* device-to-device copy, 2 GiB read + 2 GiB written */
    const size_t bytes = (size_t)2 << 30;
    void *x = rfs_cuda_alloc(bytes), *y = rfs_cuda_alloc(bytes);
    cudaMemcpy(y, x, bytes, cudaMemcpyDeviceToDevice);
    rfs_cuda_sync();
    t0 = now_ms();
    for (int i = 0; i < 5; i++) cudaMemcpy(y, x, bytes, cudaMemcpyDeviceToDevice);
    rfs_cuda_sync();
    ms = (now_ms() - t0) / 5;
    printf("ceiling: device copy %.1f GB in %.3f ms = %.2f TB/s (read + write)\n", 2.0 * bytes / 1e9, ms,
           2.0 * bytes / ms / 1e9);
    rfs_cuda_free(x), rfs_cuda_free(y), rfs_cuda_free(a), rfs_cuda_free(b), rfs_cuda_free(c);
    rfs_cuda_ctx_free(ctx);
}

int main(int argc, char **argv) {
    const char *sizes = NULL, *batches = "1,8,32", *precs = "fp16,bf16";
    int iters = 50, ceil_only = 0, no_ceil = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sizes") && i + 1 < argc) sizes = argv[++i];
        else if (!strcmp(argv[i], "--batches") && i + 1 < argc) batches = argv[++i];
        else if (!strcmp(argv[i], "--precisions") && i + 1 < argc) precs = argv[++i];
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ceilings-only")) ceil_only = 1;
        else if (!strcmp(argv[i], "--no-ceilings")) no_ceil = 1;
        else {
            fprintf(stderr, "usage: bench_cuda [--sizes a,b] [--batches 1,8,32] [--precisions fp16,bf16] [--iters N]\n");
            return 2;
        }
    }
    if (rfs_cuda_device_count() == 0) {
        printf("no CUDA device\n");
        return 1;
    }
    printf("device: %s\n", rfs_cuda_device_name(0));
    if (!no_ceil) ceilings();
    if (ceil_only) return 0;
    const char *pnames[] = {"fp32", "fp16", "bf16"};
    const int blist[] = {1, 2, 4, 8, 16, 32, 64, 128};
    printf("%-12s %-5s %5s %10s %10s %12s %12s   stages (ms)\n", "model", "prec", "batch",
           "net ms", "net img/s", "fwd ms", "fwd img/s");
    for (const char *const *sz = rfs_model_size_names(); *sz; sz++) {
        if (!in_list(sizes, *sz)) continue;
        rfs_model *m = NULL;
        if (rfs_model_random(&m, *sz, 1) != RFS_OK) {
            printf("%s: %s\n", *sz, rfs_last_error());
            continue;
        }
        const rfs_config *c = rfs_model_config(m);
        for (int p = 0; p < 3; p++) {
            if (!in_list(precs, pnames[p])) continue;
            for (size_t bi = 0; bi < sizeof blist / sizeof blist[0]; bi++) {
                char bs[16];
                snprintf(bs, sizeof bs, "%d", blist[bi]);
                if (!in_list(batches, bs)) continue;
                const int B = blist[bi];
                rfs_session_opts so = rfs_session_defaults();
                so.backend = RFS_BACKEND_CUDA, so.precision = (rfs_precision)p, so.max_batch = B;
                rfs_session *s = NULL;
                if (rfs_session_create(&s, m, &so) != RFS_OK) {
                    printf("%s %s b%d: %s\n", *sz, pnames[p], B, rfs_last_error());
                    continue;
                }
                const size_t n = (size_t)B * 3 * c->resolution * c->resolution;
                float *in = malloc(sizeof(float) * n);
                uint64_t z = 42;
                for (size_t i = 0; i < n; i++) {
                    z = z * 6364136223846793005ull + 1442695040888963407ull;
                    in[i] = (float)((z >> 40) / (double)(1 << 24) * 4.0 - 2.0);
                }
                rfs_forward(s, in, B, NULL); /* graph captured */
                /* the full call, copies included */
                double *ft = malloc(sizeof(double) * (size_t)iters), fwd_ms = 0;
                for (int i = 0; i < iters && ft; i++) {
                    struct timespec t0, t1;
                    clock_gettime(CLOCK_MONOTONIC, &t0);
                    rfs_forward(s, in, B, NULL);
                    clock_gettime(CLOCK_MONOTONIC, &t1);
                    ft[i] = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
                }
                if (ft) {
                    qsort(ft, (size_t)iters, sizeof *ft, cmp_dbl);
                    fwd_ms = ft[iters / 2];
                    free(ft);
                }
                rfs_profile t;
                if (rfs_session_profile(s, in, B, iters, &t) != RFS_OK) {
                    printf("%s: %s\n", *sz, rfs_last_error());
                } else {
                    printf("%-12s %-5s %5d %10.3f %10.0f %12.3f %12.0f  ", *sz, pnames[p], B,
                           t.network_ms, B * 1e3 / t.network_ms, fwd_ms, B * 1e3 / fwd_ms);
                    double sum = 0;
                    for (int k = 0; k < t.nstages; k++) sum += t.stage_ms[k];
                    for (int k = 0; k < t.nstages; k++) printf(" %s %.3f", t.stage[k], t.stage_ms[k]);
                    printf(" (serial sum %.3f)\n", sum);
                    printf("bench: {\"model\":\"%s\",\"precision\":\"%s\",\"batch\":%d,"
                           "\"network_ms\":%.4f,\"network_min_ms\":%.4f,\"network_images_per_s\":%.1f,"
                           "\"forward_ms\":%.4f,\"forward_images_per_s\":%.1f,\"stages_ms\":{",
                           *sz, pnames[p], B, t.network_ms, t.network_min_ms, B * 1e3 / t.network_ms,
                           fwd_ms, B * 1e3 / fwd_ms);
                    for (int k = 0; k < t.nstages; k++)
                        printf("%s\"%s\":%.4f", k ? "," : "", t.stage[k], t.stage_ms[k]);
                    printf("}}\n");
                }
                fflush(stdout);
                free(in);
                rfs_session_free(s);
            }
        }
        rfs_model_free(m);
    }
    return 0;
}
