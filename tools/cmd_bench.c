/* cmd_bench.c - `rfseg bench`: latency and throughput of the network on synthetic input.
 * Prints a human table and, last, one JSON line with the same figures. */
#include "cli.h"

#include <math.h>
#include <omp.h>

#if RFS_HAVE_CUDA
#include "cuda/backend.h"
#endif
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, int n, double p) {
    double k = p * (n - 1);
    int i = (int)k;
    return i + 1 < n ? sorted[i] + (k - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *random_size = NULL, *device = "cpu", *prec = "fp32";
    int batch = 1, frames = 20, warmup = 2, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int ok = 1;
        if (!strcmp(a, "--model")) ok = cli_str(argc, argv, &i, &model);
        else if (!strcmp(a, "--random-weights")) ok = cli_str(argc, argv, &i, &random_size);
        else if (!strcmp(a, "--device")) ok = cli_str(argc, argv, &i, &device);
        else if (!strcmp(a, "--precision")) ok = cli_str(argc, argv, &i, &prec);
        else if (!strcmp(a, "--batch")) ok = cli_int(argc, argv, &i, &batch, 1, 4096);
        else if (!strcmp(a, "--frames")) ok = cli_int(argc, argv, &i, &frames, 1, 1000000);
        else if (!strcmp(a, "--warmup")) ok = cli_int(argc, argv, &i, &warmup, 0, 1000);
        else if (!strcmp(a, "--threads")) ok = cli_int(argc, argv, &i, &threads, 0, 1024);
        else {
            fprintf(stderr, "rfseg bench: unknown option %s\n", a);
            return 2;
        }
        if (!ok) return 2;
    }
    rfs_session_opts so = rfs_session_defaults();
    if (!strcmp(device, "cpu")) so.backend = RFS_BACKEND_CPU;
    else if (!strcmp(device, "cuda")) so.backend = RFS_BACKEND_CUDA;
    else {
        fprintf(stderr, "rfseg bench: --device must be cpu or cuda\n");
        return 2;
    }
    if (!strcmp(prec, "fp32")) so.precision = RFS_FP32;
    else if (!strcmp(prec, "fp16")) so.precision = RFS_FP16;
    else if (!strcmp(prec, "bf16")) so.precision = RFS_BF16;
    else {
        fprintf(stderr, "rfseg bench: --precision must be fp32, fp16 or bf16\n");
        return 2;
    }
    so.max_batch = batch;
    so.threads = threads;
    rfs_model *m = cli_load_model(model, random_size);
    if (!m) return 1;
    rfs_session *s = NULL;
    if (rfs_session_create(&s, m, &so) != RFS_OK) {
        fprintf(stderr, "rfseg bench: %s\n", rfs_last_error());
        rfs_model_free(m);
        return 1;
    }
    const rfs_config *c = rfs_model_config(m);
    size_t n = (size_t)batch * 3 * c->resolution * c->resolution;
    float *input = malloc(sizeof(float) * n);
    double *lat = malloc(sizeof(double) * (size_t)frames);
    uint64_t z = 42;
    for (size_t i = 0; i < n; i++) { /* normalised-image-like values in [-2, 2] */
        z = z * 6364136223846793005ull + 1442695040888963407ull;
        input[i] = (float)((z >> 40) / (double)(1 << 24) * 4.0 - 2.0);
    }
    int rc = 0;
    for (int i = 0; i < warmup + frames && !rc; i++) {
        double t0 = cli_now_ms();
        if (rfs_forward(s, input, batch, NULL) != RFS_OK) {
            fprintf(stderr, "rfseg bench: %s\n", rfs_last_error());
            rc = 1;
        }
        if (i >= warmup) lat[i - warmup] = cli_now_ms() - t0;
    }
    if (!rc) {
        qsort(lat, (size_t)frames, sizeof *lat, cmp_double);
        double p50 = percentile(lat, frames, 0.5), p90 = percentile(lat, frames, 0.9);
        double p99 = percentile(lat, frames, 0.99), sum = 0;
        for (int i = 0; i < frames; i++) sum += lat[i];
        double ips = batch * frames / (sum / 1e3);
        int nthreads = so.backend == RFS_BACKEND_CPU ? (threads ? threads : omp_get_max_threads()) : 0;
        printf("model %s (%s), device %s, precision %s, batch %d, %d frames after %d warm-up",
               c->size, random_size ? "random weights" : model, device, prec, batch, frames, warmup);
        if (nthreads) printf(", %d threads", nthreads);
        printf("\nnetwork latency per batch: median %.2f ms, p90 %.2f ms, p99 %.2f ms\n", p50, p90, p99);
        printf("throughput: %.2f images/s\n", ips);
        double network_ms = -1;
#if RFS_HAVE_CUDA
        /* the network alone (graph replay on device-resident input), and its stages */
        rfs_cuda_timing t;
        if (so.backend == RFS_BACKEND_CUDA && rfs_cuda_time(s, batch, frames, NULL, &t) == RFS_OK) {
            network_ms = t.graph_ms;
            printf("network alone (graph replay): median %.3f ms, %.1f images/s\n", t.graph_ms,
                   batch * 1e3 / t.graph_ms);
            for (int k = 0; k < t.nstages; k++) printf("  %-24s %.3f ms\n", t.stage[k], t.stage_ms[k]);
        }
#endif
        printf("{\"model\":\"%s\",\"device\":\"%s\",\"precision\":\"%s\",\"batch\":%d,\"frames\":%d,"
               "\"threads\":%d,\"latency_ms\":{\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f},"
               "\"images_per_s\":%.3f",
               c->size, device, prec, batch, frames, nthreads, p50, p90, p99, ips);
        if (network_ms >= 0) printf(",\"network_ms\":%.4f", network_ms);
        printf("}\n");
    }
    free(input);
    free(lat);
    rfs_session_free(s);
    rfs_model_free(m);
    return rc;
}
