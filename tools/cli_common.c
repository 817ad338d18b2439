/* cli_common.c - option parsing, logging and model resolution for the commands. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void cli_log(void *user, rfs_log_level level, const char *msg) {
    static const char *names[] = {"debug", "info", "warning", "error"};
    const char *env = getenv("RFSEG_LOG");
    if (level == RFS_LOG_DEBUG && !(env && !strcmp(env, "debug"))) return;
    fprintf(stderr, "rfseg: %s: %s\n", names[level], msg);
}

void cli_init_logging(void) {
    const char *env = getenv("RFSEG_LOG");
    rfs_log_level min = env && !strcmp(env, "debug") ? RFS_LOG_DEBUG : RFS_LOG_INFO;
    rfs_set_log(cli_log, NULL, min);
}

int cli_session_devices(const char *cmd, const char *device, int lists, rfs_session_opts *base,
                        rfs_session_opts **out, int *n) {
    *out = NULL;
    *n = 0;
    const int all = !strcmp(device, "cuda:all");
    if (!all && !(lists && strchr(device, ','))) {
        if (rfs_session_opts_set(base, "device", device) != RFS_OK) {
            fprintf(stderr, "rfseg %s: %s\n", cmd, rfs_last_error());
            return 0;
        }
        return 1;
    }
    int count = 0;
    if (all) {
        count = rfs_device_count(RFS_BACKEND_CUDA);
        if (count < 1) {
            fprintf(stderr, "rfseg %s: --device cuda:all: no CUDA device is usable by this build\n", cmd);
            return 0;
        }
    } else {
        if (strncmp(device, "cuda:", 5)) {
            fprintf(stderr, "rfseg %s: --device: a list must look like cuda:0,1\n", cmd);
            return 0;
        }
        count = 1;
        for (const char *p = device; *p; p++) count += *p == ',';
    }
    rfs_session_opts *s = calloc((size_t)count, sizeof *s);
    if (!s) return 0;
    const char *p = device + 5;
    for (int d = 0; d < count; d++) {
        char name[32];
        if (all) snprintf(name, sizeof name, "cuda:%d", d);
        else {
            size_t len = strcspn(p, ",");
            if (!len || len > 8) {
                fprintf(stderr, "rfseg %s: --device: bad device list '%s'\n", cmd, device);
                free(s);
                return 0;
            }
            snprintf(name, sizeof name, "cuda:%.*s", (int)len, p);
            p += len + (p[len] == ',');
        }
        s[d] = *base;
        if (rfs_session_opts_set(&s[d], "device", name) != RFS_OK) {
            fprintf(stderr, "rfseg %s: %s\n", cmd, rfs_last_error());
            free(s);
            return 0;
        }
    }
    *out = s;
    *n = count;
    return 1;
}

int cli_has_ext(const char *path, const char *const *exts) {
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash)) return 0;
    for (int i = 0; exts[i]; i++)
        if (!strcasecmp(dot, exts[i])) return 1;
    return 0;
}

double cli_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int cli_str(int argc, char **argv, int *i, const char **out) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "rfseg: %s needs a value\n", argv[*i]);
        return 0;
    }
    *out = argv[++*i];
    return 1;
}

int cli_int(int argc, char **argv, int *i, int *out, int lo, int hi) {
    const char *s;
    if (!cli_str(argc, argv, i, &s)) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "rfseg: %s: '%s' is not an integer in [%d, %d]\n", argv[*i - 1], s, lo, hi);
        return 0;
    }
    *out = (int)v;
    return 1;
}

int cli_float(int argc, char **argv, int *i, float *out, float lo, float hi) {
    const char *s;
    if (!cli_str(argc, argv, i, &s)) return 0;
    char *end;
    errno = 0;
    /* decimal -> double -> float, as Python's float() then PyTorch's float32 comparison:
     * parsing straight to float can round differently (double rounding) */
    float v = (float)strtod(s, &end);
    if (errno || *end || end == s || !(v >= lo && v <= hi)) {
        fprintf(stderr, "rfseg: %s: '%s' is not a number in [%g, %g]\n", argv[*i - 1], s, lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

static int is_tty_stderr(void) { return isatty(2); }

static void on_download(void *user, uint64_t done, uint64_t total) {
    static double last;
    double now = cli_now_ms();
    if (now - last < 200 && done != total) return;
    last = now;
    if (total) fprintf(stderr, "\rrfseg: downloading %.1f / %.1f MB (%.0f%%)", done / 1e6,
                       total / 1e6, 100.0 * done / total);
    else fprintf(stderr, "\rrfseg: downloading %.1f MB", done / 1e6);
    if (total && done == total) fputc('\n', stderr);
}

rfs_model *cli_load_model(const char *model, const char *random_size) {
    rfs_model *m = NULL;
    if (random_size) {
        if (rfs_model_random(&m, random_size, 1) != RFS_OK) {
            fprintf(stderr, "rfseg: %s\n", rfs_last_error());
            return NULL;
        }
        fprintf(stderr, "rfseg: %s with RANDOM weights (deterministic, not a trained model)\n",
                rfs_model_config(m)->size);
        return m;
    }
    if (!model) {
        fprintf(stderr, "rfseg: give --model FILE|SIZE or --random-weights SIZE\n");
        return NULL;
    }
    char path[1024];
    struct stat sb;
    if (stat(model, &sb) != 0 && !rfs_model_url(model)) {
        fprintf(stderr, "rfseg: %s: %s; MODEL is a checkpoint file, a model package directory, or a size:",
                model, strerror(errno));
        for (const char *const *n = rfs_model_size_names(); *n; n++) fprintf(stderr, " %s", *n);
        fputc('\n', stderr);
        return NULL;
    }
    if (stat(model, &sb) != 0) {
        /* an official size name: the cached download */
        if (rfs_model_fetch(path, sizeof path, model, is_tty_stderr() ? on_download : NULL, NULL) !=
            RFS_OK) {
            fprintf(stderr, "rfseg: %s\n", rfs_last_error());
            return NULL;
        }
        model = path;
    }
    if (rfs_model_load(&m, model) != RFS_OK) {
        fprintf(stderr, "rfseg: %s\n", rfs_last_error());
        return NULL;
    }
    return m;
}

/* Idle OpenMP threads spin by default, taking the cores other work needs: on a loaded
 * 2-core machine the server fell from 44 to 1.6 requests/s, and a frame of the tiny model
 * from 13 to 185 ms. libgomp reads OMP_WAIT_POLICY once, when it is loaded, so the command
 * starts itself again with OMP_WAIT_POLICY=passive unless the variable is set (which also
 * ends the recursion). Set OMP_WAIT_POLICY=active to benchmark an idle machine's best. */
void cli_prefer_passive_omp(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);
    unsetenv("OMP_WAIT_POLICY"); /* exec failed: go on as we are */
}

rfs_status cli_annotate(cli_annot *ca, rfs_frame *f, const rfs_result *r, const rfs_model *m,
                        rfs_preset preset) {
    if (!ca->an && rfs_annotator_create(&ca->an, NULL) != RFS_OK) return RFS_ERR_NOMEM;
    if (r->count > ca->cap) {
        rfs_annot_det *d = realloc(ca->dets, sizeof *d * (size_t)r->count);
        if (d) ca->dets = d;
        char (*l)[64] = realloc(ca->labels, sizeof *l * (size_t)r->count);
        if (l) ca->labels = l;
        if (!d || !l) return RFS_ERR_NOMEM;
        ca->cap = r->count;
    }
    for (int i = 0; i < r->count; i++) {
        const rfs_detection *d = &r->dets[i];
        char num[16];
        /* copied: the name functions may return a buffer the next call reuses */
        const char *name = rfs_class_name(m, preset, d->class_id, num);
        if (d->tracker_id >= 0) /* supervision's usual tracking label */
            snprintf(ca->labels[i], sizeof ca->labels[i], "#%d %s", d->tracker_id, name);
        else snprintf(ca->labels[i], sizeof ca->labels[i], "%s", name);
        memcpy(ca->dets[i].box, d->box, sizeof d->box);
        ca->dets[i].class_id = d->class_id;
        ca->dets[i].score = d->score;
        ca->dets[i].label = ca->labels[i];
        ca->dets[i].mask = &d->mask;
    }
    if (f->fmt == RFS_PIX_RGB8) rfs_frame_swap_rb(f); /* the annotator draws on BGR */
    return rfs_annotate(ca->an, f, ca->dets, r->count);
}

void cli_annot_free(cli_annot *ca) {
    rfs_annotator_free(ca->an);
    free(ca->dets);
    free(ca->labels);
    memset(ca, 0, sizeof *ca);
}

int cli_check(rfs_status st) {
    if (st == RFS_OK) return 1;
    fprintf(stderr, "rfseg: %s\n", rfs_last_error());
    return 0;
}
