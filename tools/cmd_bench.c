/* cmd_bench.c - `rfseg bench`: latency and throughput on synthetic input or video frames.
 *
 * Without --source: the network alone (rfs_forward on a normalised random input).
 * With --source VIDEO|y4m|synthetic:WxH: end to end, the way a video service runs: the
 * frames are decoded into host memory first (up to --decode-frames of them, cycled), then
 * timed from the uint8 frames to the Roboflow JSON with polygons (or RLE): the batches go
 * through rfs_predict_submit / rfs_predict_collect with --inflight batches in flight (1 or
 * 2), and the JSON of each collected batch is built on the main thread or by --workers
 * threads, overlapping the device's work on the next batches. Prints frames/s, latency
 * (submit of a batch to the JSON of its last frame) p50/p99, a per-stage breakdown, and,
 * last, one JSON line with the same figures. */
#include "cli.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>

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

typedef struct bench_args {
    const char *model, *random_size, *device, *prec, *source;
    rfs_preset preset;
    rfs_mask_format format;
    int batch, frames, warmup, threads, inflight, workers, decode_frames, sessions;
} bench_args;

/* A string as a JSON string (the names printed here are plain ASCII). */
static void json_str(const char *s) {
    rfs_text t = {0};
    rfs_text_string(&t, s);
    fputs(t.p ? t.p : "\"\"", stdout);
    rfs_text_free(&t);
}

/* ---- the network alone ------------------------------------------------------------------- */

static int bench_network(const bench_args *a, rfs_session *s, const rfs_model *m,
                         const rfs_session_opts *so) {
    const rfs_config *c = rfs_model_config(m);
    const int batch = a->batch, frames = a->frames, warmup = a->warmup;
    size_t n = (size_t)batch * 3 * c->resolution * c->resolution;
    float *input = malloc(sizeof(float) * n);
    double *lat = malloc(sizeof(double) * (size_t)frames);
    if (!input || !lat) {
        free(input), free(lat);
        return 1;
    }
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
        int nthreads = so->backend == RFS_BACKEND_CPU ? (a->threads ? a->threads : omp_get_max_threads()) : 0;
        printf("model %s (%s), device %s, precision %s, batch %d, %d frames after %d warm-up",
               c->size, a->random_size ? "random weights" : a->model, a->device, a->prec, batch,
               frames, warmup);
        if (nthreads) printf(", %d threads", nthreads);
        printf("\nnetwork latency per batch: median %.2f ms, p90 %.2f ms, p99 %.2f ms\n", p50, p90, p99);
        printf("throughput: %.2f images/s\n", ips);
        /* the network alone (CUDA: graph replays on device-resident input) and its stages;
         * the CPU's stages from a few more runs */
        double network_ms = -1;
        rfs_profile t;
        const int cuda = so->backend == RFS_BACKEND_CUDA;
        if (rfs_session_profile(s, input, batch, cuda ? frames : (frames < 3 ? frames : 3), &t) ==
            RFS_OK) {
            network_ms = cuda ? t.network_ms : p50;
            printf("network alone%s: median %.3f ms, %.1f images/s, on %s\n",
                   cuda ? " (graph replay)" : "", network_ms, batch * 1e3 / network_ms, t.device);
            for (int k = 0; k < t.nstages; k++) printf("  %-24s %.3f ms\n", t.stage[k], t.stage_ms[k]);
        }
        printf("{\"model\":\"%s\",\"device\":\"%s\",\"precision\":\"%s\",\"batch\":%d,\"frames\":%d,"
               "\"threads\":%d,\"latency_ms\":{\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f},"
               "\"images_per_s\":%.3f",
               c->size, a->device, a->prec, batch, frames, nthreads, p50, p90, p99, ips);
        if (network_ms >= 0) {
            printf(",\"network_ms\":%.4f,\"path\":", network_ms);
            json_str(t.device);
            printf(",\"stages_ms\":{");
            for (int k = 0; k < t.nstages; k++) {
                printf(k ? "," : "");
                json_str(t.stage[k]);
                printf(":%.4f", t.stage_ms[k]);
            }
            printf("}");
        }
        printf("}\n");
    }
    free(input);
    free(lat);
    return rc;
}

/* ---- end to end ----------------------------------------------------------------------------- */

/* The source's frames, decoded once into host memory. */
static int load_frames(const bench_args *a, rfs_frame **out, int *count) {
    int cap = a->decode_frames, n = 0;
    rfs_frame *f = calloc((size_t)cap, sizeof *f);
    if (!f) return 0;
    int w, h;
    if (sscanf(a->source, "synthetic:%dx%d", &w, &h) == 2) {
        if (w < 1 || h < 1 || w > 16384 || h > 16384) {
            fprintf(stderr, "rfseg bench: bad synthetic frame size %dx%d\n", w, h);
            free(f);
            return 0;
        }
        /* smooth colour fields with noise, different per frame */
        uint64_t z = 7;
        for (; n < cap; n++) {
            if (rfs_frame_alloc(&f[n], w, h, 0, RFS_PIX_BGR8) != RFS_OK) break;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < 3 * w; x++) {
                    z = z * 6364136223846793005ull + 1442695040888963407ull;
                    int v = (x * 7 + y * 3 + n * 11) % 256 + (int)((z >> 59) & 15) - 8;
                    f[n].data[(size_t)y * f[n].stride + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
        }
    } else {
        rfs_video *v = NULL;
        if (rfs_video_open(&v, a->source, NULL) != RFS_OK) {
            fprintf(stderr, "rfseg bench: %s\n", rfs_last_error());
            free(f);
            return 0;
        }
        while (n < cap) {
            int done = 0;
            rfs_status st = rfs_video_read(v, &f[n], &done);
            if (done) break;
            if (st == RFS_OK) n++;
        }
        rfs_video_close(v);
    }
    if (n == 0) {
        fprintf(stderr, "rfseg bench: no frames from %s\n", a->source);
        free(f);
        return 0;
    }
    *out = f;
    *count = n;
    return 1;
}

enum { NSETS = 4, GPU_STAGES = 12 };

/* A collected batch waiting for (or in) JSON. */
typedef struct result_set {
    rfs_result *res;
    long batch;    /* batch number; -1: free */
    int n, pending;
    long long frame0;
} result_set;

typedef struct json_worker {
    rfs_text out;
    rfs_shapes *shapes;
    double shapes_ms0; /* shape time at the end of the warm-up */
    double json_ms;
    long long bytes, dets;
} json_worker;

typedef struct e2e {
    const rfs_model *m;
    rfs_response_opts ro;
    int rfdetr;
    result_set sets[NSETS];
    double *t_submit, *lat; /* per batch */
    /* job queue (set, frame) for the workers */
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_done;
    int *queue, qcap, qhead, qlen, stop;
    json_worker *w; /* [workers + 1]: the last one is the main thread's */
    int nw;
} e2e;

/* The JSON text of frame i of a set (what a service would send). */
static void json_frame(e2e *e, json_worker *w, result_set *rs, int i) {
    const double t0 = cli_now_ms();
    rfs_text_reset(&w->out);
    const rfs_result *r = &rs->res[i];
    rfs_response_opts ro = e->ro;
    ro.frame_id = rs->frame0 + i;
    rfs_status st = e->rfdetr ? rfs_response_rfdetr(&w->out, w->shapes, r, e->m, &ro)
                              : rfs_response_roboflow(&w->out, w->shapes, r, e->m, &ro);
    if (st != RFS_OK) fprintf(stderr, "rfseg bench: %s\n", rfs_last_error());
    w->bytes += (long long)w->out.len;
    w->dets += r->count;
    w->json_ms += cli_now_ms() - t0;
}

static void set_done_one(e2e *e, result_set *rs) { /* under e->mu */
    if (--rs->pending == 0) {
        e->lat[rs->batch] = cli_now_ms() - e->t_submit[rs->batch];
        pthread_cond_broadcast(&e->cv_done);
    }
}

static void *worker_main(void *arg) {
    e2e *e = ((void **)arg)[0];
    json_worker *w = ((void **)arg)[1];
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (!e->qlen && !e->stop) pthread_cond_wait(&e->cv_job, &e->mu);
        if (!e->qlen) break;
        const int job = e->queue[e->qhead];
        e->qhead = (e->qhead + 1) % e->qcap, e->qlen--;
        pthread_mutex_unlock(&e->mu);
        result_set *rs = &e->sets[job / 65536];
        json_frame(e, w, rs, job % 65536);
        pthread_mutex_lock(&e->mu);
        set_done_one(e, rs);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

static int bench_e2e(const bench_args *a, rfs_session *s, const rfs_model *m, const rfs_session_opts *so) {
    const rfs_config *c = rfs_model_config(m);
    const int B = a->batch, inflight = a->inflight;
    rfs_frame *src = NULL;
    int nsrc = 0;
    if (!load_frames(a, &src, &nsrc)) return 1;
    rfs_predict_opts po = rfs_predict_defaults(a->preset);
    const long nb = (a->frames + B - 1) / B, total_batches = a->warmup + nb;
    e2e e;
    memset(&e, 0, sizeof e);
    e.m = m;
    e.rfdetr = po.preset != RFS_PRESET_ROBOFLOW;
    e.ro = rfs_response_defaults();
    e.ro.format = a->format;
    e.nw = a->workers;
    e.qcap = NSETS * B;
    e.queue = malloc(sizeof(int) * (size_t)e.qcap);
    e.w = calloc((size_t)e.nw + 1, sizeof *e.w);
    e.t_submit = calloc((size_t)total_batches, sizeof(double));
    e.lat = calloc((size_t)total_batches, sizeof(double));
    rfs_image *imgs = malloc(sizeof(rfs_image) * (size_t)B);
    pthread_t *th = calloc((size_t)e.nw + 1, sizeof *th);
    void *(*targs)[2] = calloc((size_t)e.nw + 1, sizeof *targs);
    int rc = 1, started = 0;
    if (!e.queue || !e.w || !e.t_submit || !e.lat || !imgs || !th || !targs) goto done;
    for (int k = 0; k <= e.nw; k++)
        if (rfs_shapes_create(&e.w[k].shapes) != RFS_OK) goto done;
    for (int k = 0; k < NSETS; k++) {
        e.sets[k].batch = -1;
        if (!(e.sets[k].res = calloc((size_t)B, sizeof(rfs_result)))) goto done;
    }
    pthread_mutex_init(&e.mu, NULL);
    pthread_cond_init(&e.cv_job, NULL);
    pthread_cond_init(&e.cv_done, NULL);
    for (int k = 0; k < e.nw; k++) {
        targs[k][0] = &e, targs[k][1] = &e.w[k];
        if (pthread_create(&th[k], NULL, worker_main, targs[k])) goto done;
        started++;
    }

    long submitted = 0, collected = 0;
    double t_start = 0;
    rfs_stage_times times;
    double busy_json = 0;
    while (collected < total_batches) {
        if (collected == a->warmup && submitted == collected) { /* warm-up done, pipeline empty */
            pthread_mutex_lock(&e.mu); /* wait for the warm-up's JSON */
            for (int k = 0; k < NSETS; k++)
                while (e.sets[k].pending) pthread_cond_wait(&e.cv_done, &e.mu);
            pthread_mutex_unlock(&e.mu);
            for (int k = 0; k <= e.nw; k++) {
                e.w[k].json_ms = 0, e.w[k].bytes = e.w[k].dets = 0;
                e.w[k].shapes_ms0 = rfs_shapes_time_ms(e.w[k].shapes);
            }
            rfs_session_times_reset(s);
            busy_json = 0;
            t_start = cli_now_ms();
        }
        /* keep `inflight` batches submitted (the warm-up drains before timing starts) */
        const long limit = collected < a->warmup ? a->warmup : total_batches;
        if (submitted < limit && submitted - collected < inflight) {
            for (int i = 0; i < B; i++) imgs[i] = rfs_frame_image(&src[(submitted * B + i) % nsrc]);
            e.t_submit[submitted] = cli_now_ms();
            if (rfs_predict_submit(s, imgs, B, &po) != RFS_OK) {
                fprintf(stderr, "rfseg bench: %s\n", rfs_last_error());
                goto drain;
            }
            submitted++;
            continue;
        }
        /* collect the oldest batch into a free result set */
        result_set *rs = &e.sets[collected % NSETS];
        pthread_mutex_lock(&e.mu);
        while (rs->pending) pthread_cond_wait(&e.cv_done, &e.mu);
        pthread_mutex_unlock(&e.mu);
        int n = 0;
        if (rfs_predict_collect(s, rs->res, &n) != RFS_OK) {
            fprintf(stderr, "rfseg bench: %s\n", rfs_last_error());
            goto drain;
        }
        rs->batch = collected, rs->n = n, rs->frame0 = (long long)collected * B;
        if (e.nw == 0) {
            const double t0 = cli_now_ms();
            rs->pending = n;
            for (int i = 0; i < n; i++) {
                json_frame(&e, &e.w[0], rs, i);
                set_done_one(&e, rs);
            }
            busy_json += cli_now_ms() - t0;
        } else {
            pthread_mutex_lock(&e.mu);
            rs->pending = n;
            for (int i = 0; i < n; i++) {
                e.queue[(e.qhead + e.qlen) % e.qcap] = (int)(collected % NSETS) * 65536 + i;
                e.qlen++;
            }
            pthread_cond_broadcast(&e.cv_job);
            pthread_mutex_unlock(&e.mu);
        }
        collected++;
    }
    pthread_mutex_lock(&e.mu);
    for (int k = 0; k < NSETS; k++)
        while (e.sets[k].pending) pthread_cond_wait(&e.cv_done, &e.mu);
    pthread_mutex_unlock(&e.mu);
    {
        const double wall = cli_now_ms() - t_start;
        rfs_session_times(s, &times);
        const long frames = nb * B;
        double *lat = e.lat + a->warmup;
        qsort(lat, (size_t)nb, sizeof *lat, cmp_double);
        const double p50 = percentile(lat, (int)nb, 0.5), p99 = percentile(lat, (int)nb, 0.99);
        const double fps = frames * 1e3 / wall;
        double json_ms = 0, shape_ms = 0;
        long long bytes = 0, dets = 0;
        for (int k = 0; k <= e.nw; k++) {
            json_ms += e.w[k].json_ms;
            shape_ms += rfs_shapes_time_ms(e.w[k].shapes) - e.w[k].shapes_ms0;
            bytes += e.w[k].bytes, dets += e.w[k].dets;
        }
        const double pb = 1.0 / nb, pf = 1.0 / frames;
        printf("model %s (%s), device %s, precision %s, preset %s, %s\n", c->size,
               a->random_size ? "random weights" : a->model, a->device, a->prec,
               rfs_preset_name(a->preset), a->format == RFS_MASK_RLE ? "rle" : "polygon");
        printf("source %s: %d frames %dx%d decoded into memory, cycled; batch %d, %d in flight, "
               "%d JSON worker thread(s); %ld frames after %d warm-up batches\n",
               a->source, nsrc, src[0].w, src[0].h, B, inflight, e.nw, frames, a->warmup);
        printf("end to end (uint8 frames in memory -> JSON): %.1f frames/s, latency per batch "
               "p50 %.3f ms, p99 %.3f ms\n", fps, p50, p99);
        printf("detections per frame %.2f, JSON %.0f bytes per frame\n", (double)dets * pf,
               (double)bytes * pf);
        printf("main thread per batch: submit (stage frames, launch) %.3f ms, wait for the "
               "device %.3f ms, selection %.3f ms, masks (unpack) %.3f ms%s",
               times.preprocess_ms * pb, times.forward_ms * pb, times.select_ms * pb,
               times.masks_ms * pb, e.nw ? "\n" : "");
        if (!e.nw) printf(", JSON %.3f ms\n", busy_json * pb);
        printf("CPU per frame: %s %.3f ms, JSON text %.3f ms\n",
               e.ro.format == RFS_MASK_RLE ? "RLE" : "polygons", shape_ms * pf,
               (json_ms - shape_ms) * pf);
        double gpu_graph = -1, gpu_st[GPU_STAGES];
        int gpu_n = 0;
        const char *gpu_names[GPU_STAGES];
        double network_ms = -1;
        if (so->backend == RFS_BACKEND_CUDA) {
            rfs_profile t;
            for (int i = 0; i < B; i++) imgs[i] = rfs_frame_image(&src[i % nsrc]);
            if (rfs_predict_profile(s, imgs, B, &po, nb < 20 ? (int)nb : 20, &t) == RFS_OK) {
                gpu_graph = t.network_ms, gpu_n = t.nstages;
                for (int k = 0; k < gpu_n && k < GPU_STAGES; k++) gpu_st[k] = t.stage_ms[k], gpu_names[k] = t.stage[k];
                printf("device, one batch: whole graph %.3f ms (%.1f frames/s on one lane); "
                       "stages (eager, events):\n", gpu_graph, B * 1e3 / gpu_graph);
                for (int k = 0; k < gpu_n; k++) printf("  %-28s %.3f ms\n", gpu_names[k], gpu_st[k]);
            }
            if (rfs_session_profile(s, NULL, B, nb < 20 ? (int)nb : 20, &t) == RFS_OK) {
                network_ms = t.network_ms;
                printf("network alone (graph replay): %.3f ms per batch\n", network_ms);
            }
        }
        printf("{\"mode\":\"end-to-end\",\"model\":\"%s\",\"device\":\"%s\",\"precision\":\"%s\","
               "\"preset\":\"%s\",\"format\":\"%s\",\"source\":\"%s\",\"frame_w\":%d,\"frame_h\":%d,"
               "\"batch\":%d,\"inflight\":%d,\"workers\":%d,\"frames\":%ld,\"frames_per_s\":%.2f,"
               "\"latency_ms\":{\"p50\":%.4f,\"p99\":%.4f},\"dets_per_frame\":%.3f,"
               "\"main_ms_per_batch\":{\"submit\":%.4f,\"wait\":%.4f,\"select\":%.4f,\"masks\":%.4f},"
               "\"cpu_ms_per_frame\":{\"shapes\":%.4f,\"json\":%.4f}",
               c->size, a->device, a->prec, rfs_preset_name(a->preset),
               a->format == RFS_MASK_RLE ? "rle" : "polygon", a->source, src[0].w, src[0].h, B,
               inflight, e.nw, frames, fps, p50, p99, (double)dets * pf, times.preprocess_ms * pb,
               times.forward_ms * pb, times.select_ms * pb, times.masks_ms * pb, shape_ms * pf,
               (json_ms - shape_ms) * pf);
        if (gpu_graph >= 0) {
            printf(",\"gpu_ms_per_batch\":{\"graph\":%.4f", gpu_graph);
            static const char *keys[] = {"upload_preprocess", "network", "select", "masks", "copy_out"};
            for (int k = 0; k < gpu_n && k < 5; k++) printf(",\"%s\":%.4f", keys[k], gpu_st[k]);
            printf("}");
        }
        if (network_ms >= 0) printf(",\"network_ms\":%.4f", network_ms);
        printf("}\n");
        (void)gpu_names;
    }
    rc = 0;
    goto done;
drain:
    while (rfs_predict_pending(s)) {
        int n;
        rfs_predict_collect(s, e.sets[0].res, &n);
    }
done:
    if (started) {
        pthread_mutex_lock(&e.mu);
        e.stop = 1;
        pthread_cond_broadcast(&e.cv_job);
        pthread_mutex_unlock(&e.mu);
        for (int k = 0; k < started; k++) pthread_join(th[k], NULL);
    }
    for (int k = 0; k < NSETS; k++) {
        for (int i = 0; e.sets[k].res && i < B; i++) rfs_result_free(&e.sets[k].res[i]);
        free(e.sets[k].res);
    }
    for (int k = 0; e.w && k <= e.nw; k++) {
        rfs_text_free(&e.w[k].out);
        rfs_shapes_free(e.w[k].shapes);
    }
    for (int i = 0; i < nsrc; i++) rfs_frame_free(&src[i]);
    free(src), free(e.queue), free(e.w), free(e.t_submit), free(e.lat), free(imgs), free(th), free(targs);
    return rc;
}

/* ---- many sessions on one model ------------------------------------------------------- */

/* One stream: its own session of the shared model, two batches in flight, the Roboflow
 * JSON of every frame on its own thread, from its own copy of the frames. */
typedef struct stream_job {
    const bench_args *a;
    const rfs_model *m;
    const rfs_session_opts *so;
    rfs_session *s;
    const rfs_frame *src;
    int nsrc, offset;
    long frames;
    pthread_barrier_t *start;
    rfs_status st;
} stream_job;

/* n batches through the session with two in flight, each frame's JSON built. */
static rfs_status stream_batches(stream_job *j, long n, long first, rfs_result *res, rfs_image *imgs,
                                 rfs_shapes *shapes, rfs_text *out, long *frames) {
    const int B = j->a->batch;
    rfs_predict_opts po = rfs_predict_defaults(j->a->preset);
    rfs_response_opts ro = rfs_response_defaults();
    ro.format = j->a->format;
    rfs_status st = RFS_OK;
    long sub = 0, col = 0;
    while (st == RFS_OK && col < n) {
        if (sub < n && sub - col < 2) {
            for (int i = 0; i < B; i++)
                imgs[i] = rfs_frame_image(&j->src[((first + sub) * B + i + j->offset) % j->nsrc]);
            st = rfs_predict_submit(j->s, imgs, B, &po);
            sub++;
            continue;
        }
        int got = 0;
        st = rfs_predict_collect(j->s, res, &got);
        for (int i = 0; i < got && st == RFS_OK; i++) {
            rfs_text_reset(out);
            st = rfs_response_roboflow(out, shapes, &res[i], j->m, &ro);
        }
        col++;
        *frames += got;
    }
    while (rfs_predict_pending(j->s)) {
        int got;
        rfs_predict_collect(j->s, res, &got);
    }
    return st;
}

static void *stream_main(void *arg) {
    stream_job *j = arg;
    const int B = j->a->batch;
    rfs_result *res = calloc((size_t)B, sizeof *res);
    rfs_image *imgs = malloc(sizeof *imgs * (size_t)B);
    rfs_shapes *shapes = NULL;
    rfs_text out = {0};
    long warm = 0;
    j->st = !res || !imgs ? RFS_ERR_NOMEM : rfs_shapes_create(&shapes);
    /* warm-up (graphs captured, plans made), then all streams start the timed part together */
    if (j->st == RFS_OK)
        j->st = stream_batches(j, j->a->warmup, 0, res, imgs, shapes, &out, &warm);
    pthread_barrier_wait(j->start);
    if (j->st == RFS_OK)
        j->st = stream_batches(j, (j->a->frames + B - 1) / B, j->a->warmup, res, imgs, shapes, &out,
                               &j->frames);
    for (int i = 0; i < B && res; i++) rfs_result_free(&res[i]);
    free(res);
    free(imgs);
    rfs_shapes_free(shapes);
    rfs_text_free(&out);
    return NULL;
}

/* --sessions N: N streams, each its own session of the one model, side by side; the
 * total frames/s and the device memory the sessions hold. */
static int bench_sessions(const bench_args *a, const rfs_model *m, const rfs_session_opts *so) {
    rfs_frame *src = NULL;
    int nsrc = 0, rc = 1;
    if (!load_frames(a, &src, &nsrc)) return 1;
    const int N = a->sessions;
    stream_job *jobs = calloc((size_t)N, sizeof *jobs);
    pthread_t *th = calloc((size_t)N, sizeof *th);
    pthread_barrier_t start;
    size_t free0 = 0, free1 = 0, total = 0;
    const int cuda = so->backend == RFS_BACKEND_CUDA;
    if (!jobs || !th) goto done;
    if (cuda) rfs_device_memory(so->backend, so->device, &free0, &total);
    for (int k = 0; k < N; k++) {
        if (rfs_session_create(&jobs[k].s, m, so) != RFS_OK) {
            fprintf(stderr, "rfseg bench: session %d: %s\n", k, rfs_last_error());
            goto done;
        }
        jobs[k] = (stream_job){a, m, so, jobs[k].s, src, nsrc, k * 7, 0, &start, RFS_OK};
    }
    if (cuda) rfs_device_memory(so->backend, so->device, &free1, &total);
    pthread_barrier_init(&start, NULL, (unsigned)N + 1);
    for (int k = 0; k < N; k++) pthread_create(&th[k], NULL, stream_main, &jobs[k]);
    pthread_barrier_wait(&start);
    const double t0 = cli_now_ms();
    long frames = 0;
    rc = 0;
    for (int k = 0; k < N; k++) {
        pthread_join(th[k], NULL);
        frames += jobs[k].frames;
        if (jobs[k].st != RFS_OK) {
            fprintf(stderr, "rfseg bench: stream %d: %s\n", k, rfs_last_error());
            rc = 1;
        }
    }
    const double sec = (cli_now_ms() - t0) / 1e3, mib = 1024.0 * 1024.0;
    pthread_barrier_destroy(&start);
    printf("%d sessions of %s, batch %d each, %d in flight per session: %ld frames in %.2f s, "
           "%.1f frames/s in all",
           N, rfs_model_config(m)->size, a->batch, 2, frames, sec, frames / sec);
    if (cuda) printf("; device memory held by the sessions %.1f MiB", (double)(free0 - free1) / mib);
    printf("\n{\"mode\":\"sessions\",\"model\":\"%s\",\"device\":\"%s\",\"precision\":\"%s\","
           "\"sessions\":%d,\"batch\":%d,\"frames\":%ld,\"seconds\":%.3f,\"frames_per_s\":%.2f",
           rfs_model_config(m)->size, a->device, a->prec, N, a->batch, frames, sec, frames / sec);
    if (cuda) printf(",\"device_mib\":%.1f", (double)(free0 - free1) / mib);
    printf("}\n");
done:
    for (int k = 0; jobs && k < N; k++) rfs_session_free(jobs[k].s);
    free(jobs);
    free(th);
    for (int i = 0; i < nsrc; i++) rfs_frame_free(&src[i]);
    free(src);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    bench_args a = {.device = "cpu", .prec = "fp32", .preset = RFS_PRESET_ROBOFLOW,
                    .format = RFS_MASK_POLYGON, .batch = 1, .frames = 20, .warmup = -1,
                    .inflight = 2, .decode_frames = 64};
    rfs_session_opts so = rfs_session_defaults();
    const char *v;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int ok = 1;
        if (!strcmp(o, "--model")) ok = cli_str(argc, argv, &i, &a.model);
        else if (!strcmp(o, "--random-weights")) ok = cli_str(argc, argv, &i, &a.random_size);
        else if (!strcmp(o, "--device")) ok = cli_str(argc, argv, &i, &a.device) &&
                                              cli_check(rfs_session_opts_set(&so, "device", a.device));
        else if (!strcmp(o, "--precision")) ok = cli_str(argc, argv, &i, &a.prec) &&
                                                 cli_check(rfs_session_opts_set(&so, "precision", a.prec));
        else if (!strcmp(o, "--source")) ok = cli_str(argc, argv, &i, &a.source);
        else if (!strcmp(o, "--preset")) ok = cli_str(argc, argv, &i, &v) &&
                                              cli_check(rfs_preset_parse(v, &a.preset));
        else if (!strcmp(o, "--format")) ok = cli_str(argc, argv, &i, &v) &&
                                              cli_check(rfs_mask_format_parse(v, &a.format));
        else if (!strcmp(o, "--batch")) ok = cli_int(argc, argv, &i, &a.batch, 1, 4096);
        else if (!strcmp(o, "--frames")) ok = cli_int(argc, argv, &i, &a.frames, 1, 1000000);
        else if (!strcmp(o, "--warmup")) ok = cli_int(argc, argv, &i, &a.warmup, 0, 1000);
        else if (!strcmp(o, "--threads")) ok = cli_int(argc, argv, &i, &a.threads, 0, 1024);
        else if (!strcmp(o, "--inflight")) ok = cli_int(argc, argv, &i, &a.inflight, 1, 2);
        else if (!strcmp(o, "--workers")) ok = cli_int(argc, argv, &i, &a.workers, 0, 256);
        else if (!strcmp(o, "--decode-frames")) ok = cli_int(argc, argv, &i, &a.decode_frames, 1, 100000);
        else if (!strcmp(o, "--sessions")) ok = cli_int(argc, argv, &i, &a.sessions, 1, 256);
        else {
            fprintf(stderr, "rfseg bench: unknown option %s\n", o);
            return 2;
        }
        if (!ok) return 2;
    }
    if (a.warmup < 0) a.warmup = a.source ? 4 : 2;
    so.max_batch = a.batch;
    so.threads = a.threads;
    rfs_model *m = cli_load_model(a.model, a.random_size);
    if (!m) return 1;
    if (a.sessions) {
        if (!a.source) {
            fprintf(stderr, "rfseg bench: --sessions needs --source\n");
            rfs_model_free(m);
            return 2;
        }
        int rc = bench_sessions(&a, m, &so);
        rfs_model_free(m);
        return rc;
    }
    rfs_session *s = NULL;
    if (rfs_session_create(&s, m, &so) != RFS_OK) {
        fprintf(stderr, "rfseg bench: %s\n", rfs_last_error());
        rfs_model_free(m);
        return 1;
    }
    int rc = a.source ? bench_e2e(&a, s, m, &so) : bench_network(&a, s, m, &so);
    rfs_session_free(s);
    rfs_model_free(m);
    return rc;
}
