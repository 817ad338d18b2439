/* cmd_serve.c - `rfseg serve`: the Roboflow-compatible HTTP server (src/serve/server.h).
 *
 *   rfseg serve --model M[:ID]... [--random-weights SIZE[:ID]]... [--host H] [--port P]
 *               [--device cpu|cuda|cuda:N|cuda:all] [--precision fp32|fp16|bf16] [--threads T]
 *               [--max-batch B] [--batch-wait-ms MS]
 *               [--queue N] [--deadline-ms MS] [--client-timeout S] [--header-timeout S]
 *               [--body-timeout S] [--max-connections N] [--max-client-connections N]
 *               [--max-body-mb MB] [--max-inflight-mb MB] [--memory-budget-mb MB]
 *               [--memory-wait-ms MS] [--max-image-mb MB] [--max-pixels N] [--max-images N]
 *               [--api-key KEY] [--allow-urls [--allow-non-https-urls]
 *               [--allow-urls-without-fqdn] [--url-allow-list LIST] [--url-deny-list LIST]
 *               [--max-url-redirects N]]
 *
 * ID is the model_id clients send (/infer/instance_segmentation) or the
 * dataset_id/version_id of the legacy route; without one a model is served under its file
 * name without extension (or its size name). Serves until SIGINT / SIGTERM, then finishes
 * the requests it accepted. --device cuda:all gives every model one session per GPU, all
 * taking batches from the model's one queue. The API key may also come from the environment variable
 * RFSEG_API_KEY (so that it does not show in the process list).
 */
#include "cli.h"

#include "serve/server.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct model_arg {
    const char *spec; /* as given */
    int random;       /* --random-weights */
    char src[1024];   /* file, size name */
    char id[RFS_REQ_MAX_ID + 1];
} model_arg;

/* Splits SPEC[:ID]. A spec that names an existing path is taken whole (paths may hold ':'). */
static int split_model_arg(model_arg *a) {
    const char *colon = strrchr(a->spec, ':');
    struct stat sb;
    size_t n = strlen(a->spec);
    if (colon && !(stat(a->spec, &sb) == 0)) n = (size_t)(colon - a->spec);
    else colon = NULL;
    if (n == 0 || n >= sizeof a->src) {
        fprintf(stderr, "rfseg serve: bad model argument '%s'\n", a->spec);
        return 0;
    }
    memcpy(a->src, a->spec, n);
    a->src[n] = 0;
    if (colon) {
        if (!colon[1] || strlen(colon + 1) > RFS_REQ_MAX_ID) {
            fprintf(stderr, "rfseg serve: bad model id in '%s'\n", a->spec);
            return 0;
        }
        snprintf(a->id, sizeof a->id, "%s", colon + 1);
        return 1;
    }
    /* default id: the file name without directory and extension */
    const char *base = strrchr(a->src, '/');
    base = base && base[1] ? base + 1 : a->src;
    size_t bl = strlen(base);
    if (bl > RFS_REQ_MAX_ID) {
        fprintf(stderr, "rfseg serve: model file name too long for an id; give one: '%s:ID'\n", a->spec);
        return 0;
    }
    memcpy(a->id, base, bl + 1);
    char *dot = strrchr(a->id, '.');
    if (dot && dot != a->id && (!strcmp(dot, ".pth") || !strcmp(dot, ".safetensors") || !strcmp(dot, ".pt")))
        *dot = 0;
    return 1;
}

static int cli_size(int argc, char **argv, int *i, size_t *out, int mb_lo, int mb_hi) {
    int mb;
    if (!cli_int(argc, argv, i, &mb, mb_lo, mb_hi)) return 0;
    *out = (size_t)mb << 20;
    return 1;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: rfseg serve --model M[:ID]... [--random-weights SIZE[:ID]]... [--host H] [--port P]\n"
            "                   [--device cpu|cuda|cuda:N|cuda:all] [--precision fp32|fp16|bf16] [--threads T]\n"
            "                   [--max-batch B] [--batch-wait-ms MS]\n"
            "                   [--queue FRAMES] [--deadline-ms MS] [--client-timeout S]\n"
            "                   [--header-timeout S] [--body-timeout S]\n"
            "                   [--max-connections N] [--max-client-connections N]\n"
            "                   [--max-body-mb MB] [--max-inflight-mb MB] [--memory-budget-mb MB]\n"
            "                   [--memory-wait-ms MS] [--max-image-mb MB] [--max-pixels N] [--max-images N]\n"
            "                   [--api-key KEY] [--allow-urls] [--allow-non-https-urls]\n"
            "                   [--allow-urls-without-fqdn] [--url-allow-list LIST] [--url-deny-list LIST]\n"
            "                   [--max-url-redirects N]\n"
            "Roboflow-compatible HTTP API (inference_sdk v1 and v0): POST /infer/instance_segmentation,\n"
            "POST /{dataset}/{version}, /model/registry /model/add /model/remove /model/clear, GET /info\n"
            "/healthz /metrics; the Open Inference Protocol under /v2 (docs/serve.md).\n");
}

static void on_ready(void *user, int port) {
    const rfs_serve_config *c = user;
    fprintf(stderr, "rfseg serve: listening on http://%s:%d/ (", c->host, port);
    for (int i = 0; i < c->n_models; i++) fprintf(stderr, "%s%s", i ? ", " : "models: ", c->models[i].id);
    fprintf(stderr, ")\n");
}

int cmd_serve(int argc, char **argv) {
    rfs_serve_config cfg = rfs_serve_defaults();
    model_arg *margs = calloc((size_t)argc, sizeof *margs);
    rfs_serve_model *models = calloc((size_t)argc, sizeof *models);
    int n = 0, rc = 2;
    const char *device = "cpu", *prec = "fp32", *allow_list = NULL, *deny_list = NULL;
    rfs_url_net *allow = NULL, *deny = NULL;
    rfs_session_opts *sessions = NULL;
    if (!margs || !models) goto done;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int ok = 1, mb_pixels = 0, secs = 0, mb = 0;
        if (!strcmp(o, "--model") || !strcmp(o, "--random-weights")) {
            margs[n].random = o[2] == 'r';
            ok = cli_str(argc, argv, &i, &margs[n].spec) && split_model_arg(&margs[n]);
            n += ok;
        } else if (!strcmp(o, "--host")) ok = cli_str(argc, argv, &i, &cfg.host);
        else if (!strcmp(o, "--port")) ok = cli_int(argc, argv, &i, &cfg.port, 0, 65535);
        else if (!strcmp(o, "--device")) ok = cli_str(argc, argv, &i, &device);
        else if (!strcmp(o, "--precision")) ok = cli_str(argc, argv, &i, &prec);
        else if (!strcmp(o, "--threads")) ok = cli_int(argc, argv, &i, &cfg.session.threads, 0, 1024);
        else if (!strcmp(o, "--max-batch")) ok = cli_int(argc, argv, &i, &cfg.session.max_batch, 1, 128);
        else if (!strcmp(o, "--batch-wait-ms")) ok = cli_int(argc, argv, &i, &cfg.batch_wait_ms, 0, 10000);
        else if (!strcmp(o, "--queue")) ok = cli_int(argc, argv, &i, &cfg.queue_frames, 1, 1 << 20);
        else if (!strcmp(o, "--deadline-ms")) ok = cli_int(argc, argv, &i, &cfg.deadline_ms, 1, 3600000);
        else if (!strcmp(o, "--client-timeout")) ok = cli_int(argc, argv, &i, &cfg.client_timeout_s, 1, 3600);
        else if (!strcmp(o, "--header-timeout")) {
            ok = cli_int(argc, argv, &i, &secs, 1, 3600);
            cfg.header_timeout_ms = secs * 1000;
        } else if (!strcmp(o, "--body-timeout")) {
            ok = cli_int(argc, argv, &i, &secs, 1, 3600);
            cfg.body_timeout_ms = secs * 1000;
        } else if (!strcmp(o, "--max-connections")) ok = cli_int(argc, argv, &i, &cfg.max_connections, 1, 65536);
        else if (!strcmp(o, "--max-client-connections"))
            ok = cli_int(argc, argv, &i, &cfg.max_client_connections, 0, 65536);
        else if (!strcmp(o, "--memory-budget-mb")) {
            ok = cli_int(argc, argv, &i, &mb, 1, 1 << 24);
            cfg.memory_budget = (uint64_t)mb << 20;
        } else if (!strcmp(o, "--memory-wait-ms")) ok = cli_int(argc, argv, &i, &cfg.memory_wait_ms, 0, 3600000);
        else if (!strcmp(o, "--api-key")) ok = cli_str(argc, argv, &i, &cfg.api_key);
        else if (!strcmp(o, "--allow-non-https-urls")) cfg.urls.allow_non_https = 1;
        else if (!strcmp(o, "--allow-urls-without-fqdn")) cfg.urls.allow_without_fqdn = 1;
        else if (!strcmp(o, "--url-allow-list")) ok = cli_str(argc, argv, &i, &allow_list);
        else if (!strcmp(o, "--url-deny-list")) ok = cli_str(argc, argv, &i, &deny_list);
        else if (!strcmp(o, "--max-url-redirects")) ok = cli_int(argc, argv, &i, &cfg.urls.max_redirects, 0, 30);
        else if (!strcmp(o, "--max-body-mb")) ok = cli_size(argc, argv, &i, &cfg.max_body, 1, 4096);
        else if (!strcmp(o, "--max-inflight-mb")) ok = cli_size(argc, argv, &i, &cfg.max_inflight_body, 1, 1 << 20);
        else if (!strcmp(o, "--max-image-mb")) ok = cli_size(argc, argv, &i, &cfg.limits.max_image_bytes, 1, 4096);
        else if (!strcmp(o, "--max-pixels")) {
            ok = cli_int(argc, argv, &i, &mb_pixels, 1, 2000000000);
            cfg.limits.max_pixels = (uint64_t)mb_pixels;
        } else if (!strcmp(o, "--max-images")) ok = cli_int(argc, argv, &i, &cfg.limits.max_images, 1, 4096);
        else if (!strcmp(o, "--allow-urls")) cfg.limits.allow_urls = 1;
        else {
            fprintf(stderr, "rfseg serve: unknown option %s\n", o);
            ok = 0;
        }
        if (!ok) goto done;
    }
    if (!n) {
        fprintf(stderr, "rfseg serve: give at least one --model M[:ID] (or --random-weights SIZE[:ID])\n");
        usage(stderr);
        goto done;
    }
    /* the device and precision through the library's own parser (the same words as
     * everywhere); cuda:all: one session per GPU, all draining each model's queue */
    if (rfs_session_opts_set(&cfg.session, "precision", prec) != RFS_OK) {
        fprintf(stderr, "rfseg serve: %s\n", rfs_last_error());
        goto done;
    }
    if (!cli_session_devices("serve", device, 0, &cfg.session, &sessions, &cfg.n_sessions)) goto done;
    cfg.sessions = sessions;
    if (!cfg.api_key) {
        const char *env = getenv("RFSEG_API_KEY");
        if (env && *env) cfg.api_key = env;
    }
    char msg[200];
    if (allow_list && rfs_url_list_parse(&allow, &cfg.urls.n_allow, allow_list, msg, sizeof msg)) {
        fprintf(stderr, "rfseg serve: --url-allow-list: %s\n", msg);
        goto done;
    }
    if (deny_list && rfs_url_list_parse(&deny, &cfg.urls.n_deny, deny_list, msg, sizeof msg)) {
        fprintf(stderr, "rfseg serve: --url-deny-list: %s\n", msg);
        goto done;
    }
    cfg.urls.allow = allow;
    cfg.urls.deny = deny;
    if ((allow_list || deny_list || cfg.urls.allow_non_https || cfg.urls.allow_without_fqdn) && !cfg.limits.allow_urls)
        fprintf(stderr, "rfseg serve: note: URL options have no effect without --allow-urls\n");
    if (cfg.max_inflight_body < cfg.max_body) cfg.max_inflight_body = cfg.max_body;
    if (cfg.queue_frames < cfg.limits.max_images) cfg.queue_frames = cfg.limits.max_images;
    rc = 1;
    for (int k = 0; k < n; k++) {
        rfs_model *m = margs[k].random ? cli_load_model(NULL, margs[k].src) : cli_load_model(margs[k].src, NULL);
        if (!m) goto done;
        models[k] = (rfs_serve_model){.id = margs[k].id, .model = m,
                                      .predict = rfs_predict_defaults(RFS_PRESET_ROBOFLOW)};
        cfg.n_models = k + 1;
    }
    cfg.models = models;
    cfg.log = cli_log;
    if (rfs_serve_run(&cfg, on_ready, &cfg) != RFS_OK) {
        fprintf(stderr, "rfseg: %s\n", rfs_serve_last_error()); /* the message starts with "serve:" */
        goto done;
    }
    rc = 0;
done:
    for (int k = 0; k < cfg.n_models; k++) rfs_model_free((rfs_model *)models[k].model);
    free(models);
    free(margs);
    free(allow);
    free(deny);
    free(sessions);
    return rc;
}
