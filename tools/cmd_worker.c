/* cmd_worker.c - `rfseg worker`: inference jobs from a Redis stream (src/worker/worker.h).
 *
 *   rfseg worker --redis redis://HOST:PORT[/DB] --model M[:ID]... [--random-weights SIZE[:ID]]...
 *                [--device cpu|cuda|cuda:N|cuda:N,M,...|cuda:all] [--precision P] [--threads T]
 *                [--jobs STREAM] [--group G] [--results STREAM] [--consumer NAME]
 *                [--max-batch B] [--batch-wait-ms MS] [--inflight N] [--block-ms MS]
 *                [--claim-idle-ms T] [--max-attempts N] [--results-maxlen N] [--delete-jobs]
 *                [--memory-budget-mb MB] [--max-pixels N] [--max-image-mb MB]
 *                [--metrics-port P] [--metrics-host H] [--log-every S]
 *
 * --redis defaults to the environment variable RFSEG_REDIS_URL, then redis://127.0.0.1:6379.
 * ID is the `model` field jobs name; without one, the file name without extension (or the
 * size name). Jobs without a `model` field go to the first model. Runs until SIGINT or
 * SIGTERM, then finishes the batches it read, writes their results, acknowledges them and
 * exits 0 (docs/scale-out.md).
 */
#include "cli.h"

#include "serve/util.h"
#include "worker/job.h"
#include "worker/worker.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct wmodel_arg {
    const char *spec;
    int random;
    char src[1024];
    char id[RFS_WJOB_MAX_ID + 1];
} wmodel_arg;

/* SPEC[:ID]; a spec naming an existing path is taken whole (paths may hold ':'). */
static int split_spec(wmodel_arg *a) {
    const char *colon = strrchr(a->spec, ':');
    struct stat sb;
    size_t n = strlen(a->spec);
    if (colon && stat(a->spec, &sb) != 0) n = (size_t)(colon - a->spec);
    else colon = NULL;
    if (!n || n >= sizeof a->src || (colon && (!colon[1] || strlen(colon + 1) > 256))) {
        fprintf(stderr, "rfseg worker: bad model argument '%s'\n", a->spec);
        return 0;
    }
    memcpy(a->src, a->spec, n);
    a->src[n] = 0;
    if (colon) {
        snprintf(a->id, sizeof a->id, "%s", colon + 1);
        return 1;
    }
    const char *base = strrchr(a->src, '/');
    snprintf(a->id, sizeof a->id, "%s", base && base[1] ? base + 1 : a->src);
    char *dot = strrchr(a->id, '.');
    if (dot && dot != a->id && (!strcmp(dot, ".pth") || !strcmp(dot, ".safetensors") || !strcmp(dot, ".pt")))
        *dot = 0;
    return 1;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: rfseg worker --redis redis://HOST:PORT[/DB] --model M[:ID]... [--random-weights SIZE[:ID]]...\n"
            "                    [--device cpu|cuda|cuda:N|cuda:N,M,...|cuda:all] [--precision fp32|fp16|bf16]\n"
            "                    [--threads T] [--jobs STREAM] [--group G] [--results STREAM] [--consumer NAME]\n"
            "                    [--max-batch B] [--batch-wait-ms MS] [--inflight N] [--block-ms MS]\n"
            "                    [--claim-idle-ms T] [--max-attempts N] [--results-maxlen N] [--delete-jobs]\n"
            "                    [--memory-budget-mb MB] [--max-pixels N] [--max-image-mb MB]\n"
            "                    [--metrics-port P] [--metrics-host H] [--log-every S]\n"
            "Reads jobs (fields id, image, model, confidence, format, class_filter) from a Redis stream\n"
            "with a consumer group and adds results (id, entry, status, json|error, worker, ms) to another;\n"
            "defaults: --jobs rfseg:jobs --group rfseg --results rfseg:results (docs/scale-out.md).\n");
}

int cmd_worker(int argc, char **argv) {
    rfs_worker_config cfg = rfs_worker_defaults();
    wmodel_arg *margs = calloc((size_t)argc, sizeof *margs);
    rfs_worker_model *models = calloc((size_t)argc, sizeof *models);
    rfs_session_opts *sessions = NULL;
    int n = 0, rc = 2, n_loaded = 0;
    const char *device = "cpu", *prec = "fp32";
    /* RFSEG_REDIS_URL keeps a password out of the process list */
    const char *env_url = getenv("RFSEG_REDIS_URL");
    cfg.redis_url = env_url && *env_url ? env_url : "redis://127.0.0.1:6379";
    if (!margs || !models) goto done;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int ok = 1, v = 0;
        if (!strcmp(o, "--model") || !strcmp(o, "-m") || !strcmp(o, "--random-weights")) {
            margs[n].random = o[2] == 'r';
            ok = cli_str(argc, argv, &i, &margs[n].spec) && split_spec(&margs[n]);
            n += ok;
        } else if (!strcmp(o, "--redis")) ok = cli_str(argc, argv, &i, &cfg.redis_url);
        else if (!strcmp(o, "--jobs")) ok = cli_str(argc, argv, &i, &cfg.jobs);
        else if (!strcmp(o, "--group")) ok = cli_str(argc, argv, &i, &cfg.group);
        else if (!strcmp(o, "--results")) ok = cli_str(argc, argv, &i, &cfg.results);
        else if (!strcmp(o, "--consumer")) ok = cli_str(argc, argv, &i, &cfg.consumer);
        else if (!strcmp(o, "--device")) ok = cli_str(argc, argv, &i, &device);
        else if (!strcmp(o, "--precision")) ok = cli_str(argc, argv, &i, &prec);
        else if (!strcmp(o, "--threads")) ok = cli_int(argc, argv, &i, &cfg.session.threads, 0, 1024);
        else if (!strcmp(o, "--max-batch")) ok = cli_int(argc, argv, &i, &cfg.max_batch, 1, 256);
        else if (!strcmp(o, "--batch-wait-ms")) ok = cli_int(argc, argv, &i, &cfg.batch_wait_ms, 0, 10000);
        else if (!strcmp(o, "--inflight")) ok = cli_int(argc, argv, &i, &cfg.inflight, 1, 256);
        else if (!strcmp(o, "--block-ms")) ok = cli_int(argc, argv, &i, &cfg.block_ms, 1, 60000);
        else if (!strcmp(o, "--claim-idle-ms")) ok = cli_int(argc, argv, &i, &cfg.claim_idle_ms, 1, 86400000);
        else if (!strcmp(o, "--max-attempts")) ok = cli_int(argc, argv, &i, &cfg.max_attempts, 1, 1000);
        else if (!strcmp(o, "--results-maxlen")) {
            ok = cli_int(argc, argv, &i, &v, 1, 2000000000);
            cfg.results_maxlen = v;
        } else if (!strcmp(o, "--memory-budget-mb")) {
            ok = cli_int(argc, argv, &i, &v, 1, 1 << 24);
            cfg.memory_budget = (uint64_t)v << 20;
        } else if (!strcmp(o, "--max-pixels")) {
            ok = cli_int(argc, argv, &i, &v, 1, 2000000000);
            cfg.max_pixels = (uint64_t)v;
        } else if (!strcmp(o, "--max-image-mb")) {
            ok = cli_int(argc, argv, &i, &v, 1, 4096);
            cfg.max_image_bytes = (size_t)v << 20;
        } else if (!strcmp(o, "--metrics-port")) ok = cli_int(argc, argv, &i, &cfg.metrics_port, 0, 65535);
        else if (!strcmp(o, "--metrics-host")) ok = cli_str(argc, argv, &i, &cfg.metrics_host);
        else if (!strcmp(o, "--log-every")) ok = cli_int(argc, argv, &i, &cfg.log_every_s, 0, 86400);
        else if (!strcmp(o, "--delete-jobs")) cfg.delete_jobs = 1;
        else {
            fprintf(stderr, "rfseg worker: unknown option %s\n", o);
            ok = 0;
        }
        if (!ok) goto done;
    }
    if (!n) {
        fprintf(stderr, "rfseg worker: give at least one --model M[:ID] (or --random-weights SIZE[:ID])\n");
        usage(stderr);
        goto done;
    }
    if (rfs_session_opts_set(&cfg.session, "precision", prec) != RFS_OK) {
        fprintf(stderr, "rfseg worker: %s\n", rfs_last_error());
        goto done;
    }
    if (!cli_session_devices("worker", device, 1, &cfg.session, &sessions, &cfg.n_sessions)) goto done;
    cfg.sessions = sessions;
    rc = 1;
    for (int k = 0; k < n; k++) {
        rfs_model *m = margs[k].random ? cli_load_model(NULL, margs[k].src) : cli_load_model(margs[k].src, NULL);
        if (!m) goto done;
        models[k] = (rfs_worker_model){.id = margs[k].id, .model = m, .predict = rfs_predict_defaults(RFS_PRESET_ROBOFLOW)};
        n_loaded = k + 1;
    }
    cfg.models = models;
    cfg.n_models = n;
    cfg.log = cli_log;
    if (rfs_worker_run(&cfg) != RFS_OK) {
        fprintf(stderr, "rfseg: %s\n", rfs_serve_last_error()); /* the message starts with "worker:" */
        goto done;
    }
    rc = 0;
done:
    for (int k = 0; k < n_loaded; k++) rfs_model_free((rfs_model *)models[k].model);
    free(models);
    free(margs);
    free(sessions);
    return rc;
}
