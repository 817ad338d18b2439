/* net_bench.c - the CPU network on a full-size random model, for development on a shared
 * machine: with one thread the figures are the thread's CPU time (time slices lost to other
 * processes do not count), per stage too; with more threads, wall time.
 * Usage: net_bench [size] [threads] [frames] [fp32|bf16] */
#include "cpu/cpu.h"
#include "pipeline/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern int rfs_cpu_prof_thread_clock;

static double now_ms(int cpu) {
    struct timespec t;
    clock_gettime(cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const char *size = argc > 1 ? argv[1] : "seg-nano";
    int threads = argc > 2 ? atoi(argv[2]) : 1, frames = argc > 3 ? atoi(argv[3]) : 5;
    int bf16 = argc > 4 && !strcmp(argv[4], "bf16");
    rfs_model *m;
    if (rfs_model_random(&m, size, 1) != RFS_OK) return 1;
    rfs_session_opts so = rfs_session_defaults();
    so.threads = threads;
    so.precision = bf16 ? RFS_BF16 : RFS_FP32;
    rfs_session *s;
    if (rfs_session_create(&s, m, &so) != RFS_OK) {
        fprintf(stderr, "%s\n", rfs_last_error());
        return 1;
    }
    rfs_cpu_net *n = (rfs_cpu_net *)s->net;
    const rfs_config *c = rfs_model_config(m);
    size_t img = (size_t)3 * c->resolution * c->resolution;
    for (size_t i = 0; i < img; i++) n->base.input[i] = (float)((i * 2654435761u) >> 22) / 512.f - 1.f;
    int cpu = threads == 1;
    rfs_cpu_prof_thread_clock = cpu;
    double stage[RFS_PROFILE_MAX_STAGES] = {0}, *t = malloc(sizeof(double) * frames);
    rfs_forward(s, n->base.input, 1, NULL);
    n->prof = stage;
    for (int f = 0; f < frames; f++) {
        double t0 = now_ms(cpu);
        rfs_forward(s, n->base.input, 1, NULL);
        t[f] = now_ms(cpu) - t0;
    }
    qsort(t, frames, sizeof(double), cmpd);
    static const char *names[] = {"backbone", "projector", "two-stage", "decoder", "heads", "seg head"};
    printf("%s %s, %d threads, isa %s, %s: median %.1f ms, min %.1f ms (%s)\n  ", size,
           bf16 ? "bf16" : "fp32", threads, rfs_cpu_isa_name(n->isa), "forward", t[frames / 2], t[0],
           cpu ? "thread CPU time" : "wall");
    for (int k = 0; k < 6; k++) printf("%s %.1f  ", names[k], stage[k] / frames);
    printf("\n");
    rfs_session_free(s);
    rfs_model_free(m);
    return 0;
}
