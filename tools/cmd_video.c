/* cmd_video.c - `rfseg video`: video sources through the whole pipeline, frame by frame:
 * decode (FFmpeg, or y4m), predict (roboflow preset by default), optional tracking
 * (ByteTrack), Roboflow JSON per frame as JSON Lines with source, source_id and frame_id,
 * optional annotated videos. Several sources are read together (round robin, or the
 * newest frame of each live source) and their frames batched into one forward pass.
 * A frame that fails to decode or predict is reported and skipped; the rest goes on; a
 * failed write stops the run. SIGINT/SIGTERM stop reading: the frames in flight are
 * finished, the outputs closed, the summary printed, and the exit status is 130/143.
 * Batches go through rfs_predict_submit / rfs_predict_collect with two in flight, so the
 * decoding, contours, JSON and annotation of one batch overlap the device's work on the
 * next (on a CPU session submit computes the batch at once: same order, same output). */
#include "cli.h"
#include "cli_opts.h"
#include "cli_out.h"
#include "cli_source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct video_args {
    const char *model, *random_size, *jsonl, *annotate, *device, *preset, *format, *prec;
    const char **srcs;
    int nsrc;
    float confidence;
    int have_confidence, batch, max_frames, quiet, clip_boxes, max_mpix, live, track, track_buffer, overwrite;
    double max_fps;
} video_args;

static const char *const VIDEO_EXTS[] = {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".y4m", NULL};

static int parse(video_args *a, int argc, char **argv) {
    cli_parser p;
    cli_parser_init(&p, &cli_cmd_video, argc, argv);
    const char *opt, *val;
    int r, ok = 1;
    while (ok && (r = cli_next(&p, &opt, &val)) > 0) {
        if (r == CLI_OPERAND || !strcmp(opt, "--source")) a->srcs[a->nsrc++] = val;
        else if (!strcmp(opt, "--model")) a->model = val;
        else if (!strcmp(opt, "--random-weights")) a->random_size = val;
        else if (!strcmp(opt, "--jsonl")) a->jsonl = val;
        else if (!strcmp(opt, "--annotate")) a->annotate = val;
        else if (!strcmp(opt, "--device")) ok = cli_to_choice(&p, opt, val, "cpu|cuda") && (a->device = val);
        else if (!strcmp(opt, "--precision")) ok = cli_to_choice(&p, opt, val, "fp32|fp16|bf16") && (a->prec = val);
        else if (!strcmp(opt, "--preset")) ok = cli_to_choice(&p, opt, val, "roboflow|rfdetr|rfdetr-1.4") && (a->preset = val);
        else if (!strcmp(opt, "--format")) ok = cli_to_choice(&p, opt, val, "polygon|rle") && (a->format = val);
        else if (!strcmp(opt, "--batch")) ok = cli_to_int(&p, opt, val, 1, 1024, &a->batch);
        else if (!strcmp(opt, "--max-frames")) ok = cli_to_int(&p, opt, val, 1, 1 << 30, &a->max_frames);
        else if (!strcmp(opt, "--max-megapixels")) ok = cli_to_int(&p, opt, val, 1, 100000, &a->max_mpix);
        else if (!strcmp(opt, "--max-fps")) ok = cli_to_double(&p, opt, val, 0.001, 1e6, &a->max_fps);
        else if (!strcmp(opt, "--confidence") || !strcmp(opt, "--threshold"))
            ok = a->have_confidence = cli_to_confidence(&p, opt, val, &a->confidence);
        else if (!strcmp(opt, "--clip-boxes")) a->clip_boxes = 1;
        else if (!strcmp(opt, "--track")) a->track = 1;
        else if (!strcmp(opt, "--track-buffer")) ok = cli_to_int(&p, opt, val, 0, 1000000, &a->track_buffer);
        else if (!strcmp(opt, "--live")) a->live = 1;
        else if (!strcmp(opt, "--no-live")) a->live = 0;
        else if (!strcmp(opt, "--overwrite")) a->overwrite = 1;
        else if (!strcmp(opt, "--quiet")) a->quiet = 1;
    }
    if (!ok) return 0;
    if (r < 0) return r == CLI_HELP ? -1 : 0;
    if (!a->nsrc) {
        fprintf(stderr, "rfseg video: no source given (see rfseg video --help)\n");
        return 0;
    }
    if (!a->model == !a->random_size) {
        fprintf(stderr, "rfseg video: give --model MODEL or --random-weights SIZE (one of them)\n");
        return 0;
    }
    if (!a->jsonl && !a->annotate) {
        fprintf(stderr, "rfseg video: nothing would be written: give --jsonl FILE (- for standard output) "
                "and/or --annotate OUT\n");
        return 0;
    }
    int stdin_uses = 0;
    for (int i = 0; i < a->nsrc; i++) stdin_uses += !strcmp(a->srcs[i], "-") || !strcmp(a->srcs[i], "pipe:0");
    if (stdin_uses > 1) {
        fprintf(stderr, "rfseg video: standard input given as a source twice\n");
        return 0;
    }
    if (stdin_uses && isatty(0)) {
        fprintf(stderr, "rfseg video: standard input is a terminal, not a video (pipe one in: ... | rfseg video -)\n");
        return 0;
    }
    return 1;
}

/* --annotate destinations, one per source, checked before any work: one source and a video
 * file name (.mp4 ...), or a directory (existing, or created) with SOURCE-NAME.mp4 each. */
static int plan_annotations(char **paths, const char *dest, const cli_sources *g, int overwrite, int *made_dir) {
    struct stat sb;
    int exists = stat(dest, &sb) == 0, is_dir = exists && S_ISDIR(sb.st_mode);
    if (!is_dir && g->n == 1 && cli_has_ext(dest, VIDEO_EXTS)) {
        if (!cli_out_check("video", "--annotate", dest, overwrite, CLI_OUT_FILE)) return 0;
        return (paths[0] = strdup(dest)) != NULL;
    }
    if (!is_dir) {
        const char *dot = strrchr(dest, '.'), *slash = strrchr(dest, '/');
        if (dot && (!slash || dot > slash) && dot[1]) {
            if (g->n > 1)
                fprintf(stderr, "rfseg video: --annotate %s: %d sources need a directory (give a name without "
                        "an extension, or an existing directory)\n", dest, g->n);
            else
                fprintf(stderr, "rfseg video: --annotate %s: the annotated video is written as .mp4, .m4v, .mov, "
                        ".mkv, .avi or .y4m\n", dest);
            return 0;
        }
        if (exists) {
            fprintf(stderr, "rfseg video: --annotate %s: exists and is not a directory\n", dest);
            return 0;
        }
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", dest);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dir[--dl] = 0;
    for (int i = 0; i < g->n; i++) {
        char base[256], cand[4096 + 300];
        snprintf(base, sizeof base, "%s", g->v[i].base);
        char *dot = strrchr(base, '.');
        if (dot && dot != base) *dot = 0;
        for (int k = 0;; k++) {
            if (k) snprintf(cand, sizeof cand, "%s/%s-%d.mp4", dir, base, k);
            else snprintf(cand, sizeof cand, "%s/%s.mp4", dir, base);
            int taken = 0;
            for (int j = 0; j < i && !taken; j++) taken = !strcmp(paths[j], cand);
            if (!taken) break;
        }
        if (!(paths[i] = strdup(cand))) return 0;
        if (is_dir && !cli_out_check("video", "--annotate", cand, overwrite, CLI_OUT_FILE)) return 0;
    }
    if (!is_dir) {
        if (mkdir(dir, 0777) != 0) {
            fprintf(stderr, "rfseg video: --annotate: cannot create the directory %s: %s\n", dir, strerror(errno));
            return 0;
        }
        *made_dir = 1;
    }
    return 1;
}

static void progress(long done, long total, long dropped, double elapsed_ms) {
    double fps = elapsed_ms > 0 ? done * 1e3 / elapsed_ms : 0;
    if (total > 0) {
        double eta = fps > 0 ? (total - done) / fps : 0;
        fprintf(stderr, "\rrfseg: %ld/%ld frames  %.1f fps  ETA %.0f s   ", done, total, fps, eta);
    } else if (dropped) fprintf(stderr, "\rrfseg: %ld frames  %.1f fps  %ld dropped   ", done, fps, dropped);
    else fprintf(stderr, "\rrfseg: %ld frames  %.1f fps   ", done, fps);
}

/* One batch being collected or in flight. */
typedef struct batch_set {
    rfs_frame *frames;
    rfs_image *imgs;
    int *src;
    int64_t *ids;
    int n;
} batch_set;

typedef struct video_run {
    video_args *a;
    cli_sources g;
    int rr;             /* round-robin start */
    long errors;
    double decode_ms;
} video_run;

/* Fills b with up to a->batch frames: one per source per round, round robin. Returns the
 * frame count, or -1 when every source has ended. wait_ms > 0: when nothing is ready,
 * waits up to that long for a live frame or a --max-fps slot. */
static int gather(video_run *vr, batch_set *b, int wait_ms) {
    video_args *a = vr->a;
    cli_sources *g = &vr->g;
    int n = 0, open = 0, live = 0;
    double soonest = -1;
    for (int pass = 0; n < a->batch; pass++) {
        int progress_made = 0;
        open = 0;
        for (int k = 0; k < g->n && n < a->batch; k++) {
            cli_source *s = &g->v[(vr->rr + k) % g->n];
            if (s->ended) continue;
            if (a->max_frames && s->taken + s->errors >= a->max_frames) {
                cli_source_finish(s);
                continue;
            }
            open++;
            live |= s->live;
            double now = cli_now_ms();
            if (a->max_fps > 0 && now < s->next_due_ms) {
                if (soonest < 0 || s->next_due_ms < soonest) soonest = s->next_due_ms;
                continue;
            }
            int64_t id = 0;
            double t0 = cli_now_ms();
            int r = cli_source_take(s, &b->frames[n], &id, 0);
            vr->decode_ms += s->live ? 0 : cli_now_ms() - t0;
            if (r == CLI_TAKE_FRAME) {
                b->imgs[n] = rfs_frame_image(&b->frames[n]);
                b->src[n] = s->id;
                b->ids[n++] = id;
                if (a->max_fps > 0) {
                    double step = 1e3 / a->max_fps;
                    s->next_due_ms = s->next_due_ms + step > now ? s->next_due_ms + step : now + step;
                }
                progress_made = 1;
            } else if (r == CLI_TAKE_ERROR) {
                if (!cli_stop) vr->errors++;
                progress_made = 1;
            } else if (r == CLI_TAKE_END) {
                open--;
            }
        }
        if (!progress_made || cli_stop) break;
    }
    vr->rr = (vr->rr + 1) % g->n;
    if (n == 0 && open == 0) return -1;
    if (n == 0 && wait_ms > 0 && !cli_stop) {
        if (soonest >= 0) { /* --max-fps: sleep to the next slot (live frames keep coming) */
            double left = soonest - cli_now_ms();
            if (left > wait_ms) left = wait_ms;
            if (live) cli_sources_wait(g, left > 1 ? (int)left : 1);
            else if (left > 0) {
                struct timespec ts = {(time_t)(left / 1e3), (long)(((long)left % 1000) * 1000000L)};
                nanosleep(&ts, NULL);
            }
        } else if (live) cli_sources_wait(g, wait_ms);
    }
    return n;
}

int cmd_video(int argc, char **argv) {
    video_args a = {.device = "cpu", .preset = "roboflow", .format = "polygon", .prec = "fp32", .batch = 0,
                    .max_mpix = 100, .live = -1, .track_buffer = 30};
    a.srcs = calloc((size_t)argc + 1, sizeof *a.srcs);
    if (!a.srcs) return 1;
    video_run vr = {.a = &a};
    char **ann_paths = NULL;
    cli_tmp *ann_tmp = NULL;
    rfs_video_writer **vw = NULL;
    rfs_tracker **trk = NULL;
    unsigned char *ann_failed = NULL;
    int made_dir = 0, rc = 2, sources_ready = 0, out_open = 0;
    rfs_model *m = NULL;
    rfs_session *s = NULL;
    cli_stream jout = {.fd = -1};
    cli_annot annot = {0};
    batch_set sets[2] = {{0}};
    rfs_result *res = NULL;
    rfs_text line = {0};
    rfs_shapes *shapes = NULL;

    int pr = parse(&a, argc, argv);
    if (pr <= 0) {
        rc = pr < 0 ? 0 : 2;
        goto done;
    }
    if (!a.batch) a.batch = a.nsrc;
    if (!cli_sources_init(&vr.g, a.srcs, a.nsrc, a.live)) goto done;
    sources_ready = 1;

    /* every output checked before any work */
    ann_paths = calloc((size_t)a.nsrc, sizeof *ann_paths);
    ann_tmp = calloc((size_t)a.nsrc, sizeof *ann_tmp);
    vw = calloc((size_t)a.nsrc, sizeof *vw);
    trk = calloc((size_t)a.nsrc, sizeof *trk);
    ann_failed = calloc((size_t)a.nsrc, 1);
    if (!ann_paths || !ann_tmp || !vw || !trk || !ann_failed) goto done;
    if (a.jsonl && !cli_out_check("video", "--jsonl", a.jsonl, a.overwrite, CLI_OUT_STREAM)) goto done;
    if (a.annotate && a.jsonl && !strcmp(a.annotate, a.jsonl)) {
        fprintf(stderr, "rfseg video: --jsonl and --annotate name the same file %s\n", a.jsonl);
        goto done;
    }
    if (a.annotate && !plan_annotations(ann_paths, a.annotate, &vr.g, a.overwrite, &made_dir)) goto done;

    rfs_preset preset = RFS_PRESET_ROBOFLOW;
    rfs_preset_parse(a.preset, &preset); /* checked by cli_to_choice */
    rfs_predict_opts po = rfs_predict_defaults(preset);
    if (a.have_confidence) po.threshold = a.confidence;
    po.clip_boxes = a.clip_boxes;
    rfs_response_opts ro = rfs_response_defaults();
    ro.format = !strcmp(a.format, "rle") ? RFS_MASK_RLE : RFS_MASK_POLYGON;
    rfs_session_opts so = rfs_session_defaults();
    so.max_batch = a.batch;
    rfs_session_opts_set(&so, "device", a.device); /* both checked by cli_to_choice */
    rfs_session_opts_set(&so, "precision", a.prec);
    if (a.track) {
        rfs_tracker_opts to = rfs_tracker_defaults();
        to.lost_buffer = a.track_buffer;
        for (int i = 0; i < a.nsrc; i++)
            if (rfs_tracker_create(&trk[i], &to) != RFS_OK) {
                fprintf(stderr, "rfseg video: %s\n", rfs_last_error());
                goto done;
            }
    }

    rc = 1;
    for (int k = 0; k < 2; k++) {
        sets[k].frames = calloc((size_t)a.batch, sizeof(rfs_frame));
        sets[k].imgs = calloc((size_t)a.batch, sizeof(rfs_image));
        sets[k].src = calloc((size_t)a.batch, sizeof(int));
        sets[k].ids = calloc((size_t)a.batch, sizeof(int64_t));
        if (!sets[k].frames || !sets[k].imgs || !sets[k].src || !sets[k].ids) goto done;
    }
    if (!(res = calloc((size_t)a.batch, sizeof *res))) goto done;
    if (rfs_shapes_create(&shapes) != RFS_OK) {
        fprintf(stderr, "rfseg video: %s\n", rfs_last_error());
        goto done;
    }
    /* sources first: a bad one is reported before a model is downloaded or loaded */
    cli_signals_install();
    rfs_video_opts vo = {.max_pixels = (uint64_t)a.max_mpix * 1000000};
    if (!cli_sources_open(&vr.g, &vo)) goto done;
    if (!(m = cli_load_model(a.model, a.random_size))) goto done;
    if (rfs_session_create(&s, m, &so) != RFS_OK) {
        fprintf(stderr, "rfseg video: %s\n", rfs_last_error());
        goto done;
    }
    if (a.jsonl) {
        if (!cli_stream_open(&jout, "video", a.jsonl, a.overwrite)) goto done;
        out_open = 1;
    }
    for (int i = 0; a.annotate && i < a.nsrc; i++) {
        rfs_video *v = vr.g.v[i].v;
        double fps = rfs_video_fps(v) > 0 ? rfs_video_fps(v) : 30;
        if (a.max_fps > 0 && a.max_fps < fps) fps = a.max_fps;
        if (!cli_tmp_begin(&ann_tmp[i], "video", ann_paths[i], a.overwrite)) goto done;
        if (rfs_video_writer_open(&vw[i], ann_tmp[i].tmp, rfs_video_width(v), rfs_video_height(v), fps) != RFS_OK) {
            fprintf(stderr, "rfseg video: --annotate %s: %s\n", ann_paths[i], rfs_last_error());
            cli_tmp_abort(&ann_tmp[i]);
            goto done;
        }
    }
    if (!cli_sources_start(&vr.g)) goto done;

    const int tty = isatty(2) && !a.quiet;
    long total = 0, done_frames = 0;
    for (int i = 0; i < a.nsrc && total >= 0; i++) {
        long t = vr.g.v[i].live ? -1 : (long)rfs_video_frame_count(vr.g.v[i].v);
        if (t > 0 && a.max_frames && t > a.max_frames) t = a.max_frames;
        if (t <= 0) t = a.max_frames && !vr.g.v[i].live ? a.max_frames : -1;
        total = t > 0 ? total + t : -1;
    }
    double json_ms = 0, annotate_ms = 0, track_ms = 0, t_start = cli_now_ms(), last_draw = 0;
    int eof = 0, fatal = 0;
    rfs_session_times_reset(s);
    long submitted = 0, collected = 0;
    for (;;) {
        if (cli_stop || fatal) eof = 1;
        /* read and submit the next batch while fewer than two are in flight */
        if (!eof && rfs_predict_pending(s) < 2) {
            batch_set *b = &sets[submitted % 2];
            int n = gather(&vr, b, rfs_predict_pending(s) ? 0 : 100);
            if (n < 0) eof = 1;
            if (n > 0) {
                if (rfs_predict_submit(s, b->imgs, n, &po) != RFS_OK) {
                    fprintf(stderr, "%srfseg video: %d frames: %s\n", tty ? "\n" : "", n, rfs_last_error());
                    vr.errors += n;
                    continue;
                }
                b->n = n;
                submitted++;
                continue;
            }
            if (!rfs_predict_pending(s)) continue;
        }
        if (!rfs_predict_pending(s)) break;
        /* the oldest batch: tracking, JSON, annotation */
        batch_set *b = &sets[collected % 2];
        collected++;
        int n = 0;
        if (rfs_predict_collect(s, res, &n) != RFS_OK) {
            fprintf(stderr, "%srfseg video: %d frames: %s\n", tty ? "\n" : "", b->n, rfs_last_error());
            vr.errors += b->n;
            continue;
        }
        for (int i = 0; i < n && !fatal; i++) {
            cli_source *src = &vr.g.v[b->src[i]];
            double t0 = cli_now_ms();
            if (trk[src->id] && rfs_tracker_update(trk[src->id], &res[i]) != RFS_OK) {
                fprintf(stderr, "rfseg video: %s: frame %lld: %s\n", src->shown, (long long)b->ids[i], rfs_last_error());
                vr.errors++;
                continue;
            }
            double t1 = cli_now_ms();
            track_ms += t1 - t0;
            if (out_open) {
                rfs_text_reset(&line);
                ro.frame_id = b->ids[i];
                ro.source = src->shown;
                ro.source_id = src->id;
                if (rfs_response_roboflow(&line, shapes, &res[i], m, &ro) != RFS_OK) {
                    fprintf(stderr, "rfseg video: %s: frame %lld: %s\n", src->shown, (long long)b->ids[i],
                            rfs_last_error());
                    vr.errors++;
                    continue;
                }
                rfs_text_put(&line, "\n", 1);
                if (line.oom || !cli_stream_write(&jout, line.p, line.len)) { /* whole line, one write */
                    fatal = 1;
                    break;
                }
            }
            double t2 = cli_now_ms();
            json_ms += t2 - t1;
            if (vw[src->id]) {
                if (cli_annotate(&annot, &b->frames[i], &res[i], m, po.preset) != RFS_OK) {
                    fprintf(stderr, "rfseg video: %s: frame %lld: %s\n", src->shown, (long long)b->ids[i],
                            rfs_last_error());
                    vr.errors++;
                } else if (rfs_video_writer_write(vw[src->id], &b->frames[i]) != RFS_OK) {
                    fprintf(stderr, "rfseg video: --annotate %s: %s\n", ann_paths[src->id], rfs_last_error());
                    ann_failed[src->id] = 1;
                    fatal = 1;
                    break;
                }
                annotate_ms += cli_now_ms() - t2;
            }
            done_frames++;
        }
        double now = cli_now_ms();
        if (tty && now - last_draw > 250) {
            progress(done_frames, total, cli_sources_dropped(&vr.g), now - t_start);
            last_draw = now;
        }
    }
    double wall = cli_now_ms() - t_start;
    long dropped = cli_sources_dropped(&vr.g);
    for (int i = 0; i < a.nsrc; i++) vr.errors += vr.g.v[i].reader_errors;
    if (tty) {
        progress(done_frames, total, dropped, wall);
        fputc('\n', stderr);
    }
    rfs_stage_times st;
    rfs_session_times(s, &st);
    double per = done_frames ? 1.0 / done_frames : 0;
    double shapes_ms = rfs_shapes_time_ms(shapes);
    char extra[128] = "";
    if (dropped || a.live == 1) snprintf(extra, sizeof extra, ", %ld dropped to stay live", dropped);
    fprintf(stderr, "rfseg video: %ld frames (%ld errors%s) in %.2f s: %.2f frames/s\n", done_frames, vr.errors,
            extra, wall / 1e3, done_frames * 1e3 / (wall > 0 ? wall : 1));
    fprintf(stderr,
            "rfseg video: ms per frame: decode %.3f, preprocess %.3f, forward %.3f, select %.3f, masks %.3f, "
            "%s %.3f, json %.3f",
            vr.decode_ms * per, st.preprocess_ms * per, st.forward_ms * per, st.select_ms * per, st.masks_ms * per,
            ro.format == RFS_MASK_RLE ? "rle" : "polygons", shapes_ms * per, (json_ms - shapes_ms) * per);
    if (a.track) fprintf(stderr, ", track %.3f", track_ms * per);
    if (a.annotate) fprintf(stderr, ", annotate+encode %.3f", annotate_ms * per);
    fputc('\n', stderr);
    if (cli_stop)
        fprintf(stderr, "rfseg video: stopped by %s after the frames in flight; outputs closed\n",
                cli_stop == SIGINT ? "SIGINT" : cli_stop == SIGTERM ? "SIGTERM" : "a signal");
    rc = fatal || vr.errors ? 1 : 0;
done:
    if (sources_ready) cli_sources_free(&vr.g); /* readers stopped before the outputs close */
    for (int i = 0; vw && i < a.nsrc; i++) {
        if (!vw[i]) continue;
        if (rfs_video_writer_close(vw[i]) != RFS_OK || ann_failed[i]) { /* a failed file is not kept */
            if (!ann_failed[i]) fprintf(stderr, "rfseg video: --annotate %s: %s\n", ann_paths[i], rfs_last_error());
            cli_tmp_abort(&ann_tmp[i]);
            rc = rc == 2 ? 2 : 1;
        } else if (!cli_tmp_commit(&ann_tmp[i], "video")) rc = rc == 2 ? 2 : 1;
        else made_dir = 0;
    }
    if (out_open && !cli_stream_close(&jout)) rc = rc == 2 ? 2 : 1;
    if (made_dir && a.annotate) rmdir(a.annotate); /* created here and left empty */
    for (int i = 0; trk && i < a.nsrc; i++) rfs_tracker_free(trk[i]);
    for (int i = 0; ann_paths && i < a.nsrc; i++) free(ann_paths[i]);
    free(ann_paths), free(ann_tmp), free(vw), free(trk), free(ann_failed);
    cli_annot_free(&annot);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; sets[k].frames && i < a.batch; i++) rfs_frame_free(&sets[k].frames[i]);
        free(sets[k].frames), free(sets[k].imgs), free(sets[k].src), free(sets[k].ids);
    }
    for (int i = 0; res && i < a.batch; i++) rfs_result_free(&res[i]);
    free(res);
    rfs_shapes_free(shapes);
    rfs_text_free(&line);
    rfs_session_free(s);
    rfs_model_free(m);
    free(a.srcs);
    return rc == 2 ? 2 : cli_exit_code(rc);
}
