/* cmd_video.c - `rfseg video`: a video file through the whole pipeline, frame by frame:
 * decode (FFmpeg, or y4m), predict (roboflow preset by default), Roboflow JSON per frame
 * as JSON Lines with frame_id, optional annotated MP4. A frame that fails to decode or
 * predict is reported and skipped; the rest goes on. A progress line (frames, fps, ETA)
 * is shown on a terminal; a summary with the time per stage ends the run.
 * Batches go through rfs_predict_submit / rfs_predict_collect with two in flight, so the
 * decoding, contours, JSON and annotation of one batch overlap the device's work on the
 * next (on a CPU session submit computes the batch at once: same order, same output). */
#include "cli.h"

#include "io/image.h"
#include "io/video.h"
#include "pipeline/response.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct video_args {
    const char *model, *random_size, *in, *jsonl, *annotate, *device, *preset, *format, *prec;
    float confidence;
    int have_confidence, batch, max_frames, quiet, clip_boxes, max_mpix;
} video_args;

static int parse(video_args *a, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int ok = 1;
        if (!strcmp(o, "--model")) ok = cli_str(argc, argv, &i, &a->model);
        else if (!strcmp(o, "--random-weights")) ok = cli_str(argc, argv, &i, &a->random_size);
        else if (!strcmp(o, "--jsonl")) ok = cli_str(argc, argv, &i, &a->jsonl);
        else if (!strcmp(o, "--annotate")) ok = cli_str(argc, argv, &i, &a->annotate);
        else if (!strcmp(o, "--device")) ok = cli_str(argc, argv, &i, &a->device);
        else if (!strcmp(o, "--precision")) ok = cli_str(argc, argv, &i, &a->prec);
        else if (!strcmp(o, "--preset")) ok = cli_str(argc, argv, &i, &a->preset);
        else if (!strcmp(o, "--format")) ok = cli_str(argc, argv, &i, &a->format);
        else if (!strcmp(o, "--batch")) ok = cli_int(argc, argv, &i, &a->batch, 1, 1024);
        else if (!strcmp(o, "--max-frames")) ok = cli_int(argc, argv, &i, &a->max_frames, 1, 1 << 30);
        else if (!strcmp(o, "--confidence") || !strcmp(o, "--threshold")) {
            ok = cli_float(argc, argv, &i, &a->confidence, 0.f, 1.f);
            a->have_confidence = 1;
        } else if (!strcmp(o, "--clip-boxes")) a->clip_boxes = 1;
        else if (!strcmp(o, "--quiet")) a->quiet = 1;
        else if (o[0] == '-' && o[1]) {
            fprintf(stderr, "rfseg video: unknown option %s\n", o);
            return 0;
        } else if (!a->in) a->in = o;
        else {
            fprintf(stderr, "rfseg video: one input video at a time\n");
            return 0;
        }
        if (!ok) return 0;
    }
    if (!a->in) {
        fprintf(stderr, "usage: rfseg video --model M IN [--jsonl OUT] [--annotate OUT.mp4]\n");
        return 0;
    }
    return 1;
}

static void progress(long done, long total, double elapsed_ms) {
    double fps = elapsed_ms > 0 ? done * 1e3 / elapsed_ms : 0;
    if (total > 0) {
        double eta = fps > 0 ? (total - done) / fps : 0;
        fprintf(stderr, "\rrfseg: %ld/%ld frames  %.1f fps  ETA %.0f s   ", done, total, fps, eta);
    } else fprintf(stderr, "\rrfseg: %ld frames  %.1f fps   ", done, fps);
}

int cmd_video(int argc, char **argv) {
    video_args a = {.device = "cpu", .preset = "roboflow", .format = "polygon", .prec = "fp32", .batch = 1};
    if (!parse(&a, argc, argv)) return 2;
    rfs_predict_opts po = rfs_predict_defaults(RFS_PRESET_ROBOFLOW);
    if (!strcmp(a.preset, "rfdetr")) po = rfs_predict_defaults(RFS_PRESET_RFDETR);
    else if (strcmp(a.preset, "roboflow")) {
        fprintf(stderr, "rfseg video: --preset must be roboflow or rfdetr\n");
        return 2;
    }
    if (a.have_confidence) po.threshold = a.confidence;
    po.clip_boxes = a.clip_boxes;
    rfs_response_opts ro = {.format = RFS_MASK_POLYGON, .time = 0, .frame_id = 0};
    if (!strcmp(a.format, "rle")) ro.format = RFS_MASK_RLE;
    else if (strcmp(a.format, "polygon")) {
        fprintf(stderr, "rfseg video: --format must be polygon or rle\n");
        return 2;
    }
    rfs_session_opts so = rfs_session_defaults();
    so.max_batch = a.batch;
    if (!strcmp(a.device, "cuda")) so.backend = RFS_BACKEND_CUDA;
    if (!strcmp(a.prec, "fp16")) so.precision = RFS_FP16;
    else if (!strcmp(a.prec, "bf16")) so.precision = RFS_BF16;

    int rc = 1;
    rfs_model *m = NULL;
    rfs_session *s = NULL;
    rfs_video *v = NULL;
    rfs_video_writer *vw = NULL;
    cli_annot annot = {0};
    FILE *jf = NULL;
    /* two sets of frames: the batch being collected and the one in flight */
    rfs_frame *frames[2] = {calloc((size_t)a.batch, sizeof(rfs_frame)), calloc((size_t)a.batch, sizeof(rfs_frame))};
    rfs_image *imgs[2] = {calloc((size_t)a.batch, sizeof(rfs_image)), calloc((size_t)a.batch, sizeof(rfs_image))};
    long *ids[2] = {calloc((size_t)a.batch, sizeof(long)), calloc((size_t)a.batch, sizeof(long))};
    int nset[2] = {0, 0};
    rfs_result *res = calloc((size_t)a.batch, sizeof *res);
    rfs_jbuf out = {0};
    rfs_shape_ctx shapes = {0};
    if (!frames[0] || !frames[1] || !imgs[0] || !imgs[1] || !ids[0] || !ids[1] || !res) goto done;

    if (!(m = cli_load_model(a.model, a.random_size))) goto done;
    if (rfs_session_create(&s, m, &so) != RFS_OK) {
        fprintf(stderr, "rfseg video: %s\n", rfs_last_error());
        goto done;
    }
    rfs_video_opts vo = {.max_pixels = (uint64_t)a.max_mpix * 1000000};
    if (rfs_video_open(&v, a.in, &vo) != RFS_OK) {
        fprintf(stderr, "rfseg video: %s\n", rfs_last_error());
        goto done;
    }
    if (a.jsonl && !(jf = strcmp(a.jsonl, "-") ? fopen(a.jsonl, "w") : stdout)) {
        fprintf(stderr, "rfseg video: cannot write %s\n", a.jsonl);
        goto done;
    }
    if (a.annotate) {
        if (rfs_video_writer_open(&vw, a.annotate, rfs_video_width(v), rfs_video_height(v),
                                  rfs_video_fps(v) > 0 ? rfs_video_fps(v) : 30) != RFS_OK) {
            fprintf(stderr, "rfseg video: %s\n", rfs_last_error());
            goto done;
        }
    }

    const int tty = isatty(2) && !a.quiet;
    long total = (long)rfs_video_frame_count(v), index = 0, done_frames = 0, errors = 0;
    if (a.max_frames && (total <= 0 || total > a.max_frames)) total = a.max_frames;
    double decode_ms = 0, json_ms = 0, annotate_ms = 0, t_start = cli_now_ms(), last_draw = 0;
    int eof = 0;
    rfs_session_times_reset(s);
    long submitted = 0, collected = 0;
    for (;;) {
        /* read and submit the next batch while fewer than two are in flight */
        if (!eof && rfs_predict_pending(s) < 2) {
            const int set = (int)(submitted % 2);
            int n = 0;
            while (n < a.batch && !(a.max_frames && index >= a.max_frames)) {
                double t0 = cli_now_ms();
                int end = 0;
                rfs_status st = rfs_video_read(v, &frames[set][n], &end);
                decode_ms += cli_now_ms() - t0;
                if (end) {
                    eof = 1;
                    break;
                }
                long id = index++;
                if (st != RFS_OK) {
                    fprintf(stderr, "%srfseg video: frame %ld: %s\n", tty ? "\n" : "", id, rfs_last_error());
                    errors++;
                    continue;
                }
                imgs[set][n] = rfs_frame_image(&frames[set][n]);
                ids[set][n++] = id;
            }
            if (a.max_frames && index >= a.max_frames) eof = 1;
            if (n == 0) continue;
            if (rfs_predict_submit(s, imgs[set], n, &po) != RFS_OK) {
                fprintf(stderr, "%srfseg video: frames %ld..%ld: %s\n", tty ? "\n" : "",
                        ids[set][0], ids[set][n - 1], rfs_last_error());
                errors += n;
                continue;
            }
            nset[set] = n;
            submitted++;
            continue;
        }
        if (!rfs_predict_pending(s)) break;
        /* the oldest batch: JSON, annotation */
        const int set = (int)(collected % 2);
        collected++;
        int n = 0;
        if (rfs_predict_collect(s, res, &n) != RFS_OK) {
            fprintf(stderr, "%srfseg video: frames %ld..%ld: %s\n", tty ? "\n" : "", ids[set][0],
                    ids[set][nset[set] - 1], rfs_last_error());
            errors += nset[set];
            continue;
        }
        for (int i = 0; i < n; i++) {
            double t0 = cli_now_ms();
            if (jf) {
                rfs_jbuf_reset(&out);
                ro.frame_id = ids[set][i];
                ro.time = -1;
                if (rfs_response_roboflow(&out, &shapes, &res[i], m, &ro) != RFS_OK) {
                    fprintf(stderr, "rfseg video: frame %ld: %s\n", ids[set][i], rfs_last_error());
                    errors++;
                } else {
                    fwrite(out.p, 1, out.len, jf);
                    fputc('\n', jf);
                }
            }
            double t1 = cli_now_ms();
            json_ms += t1 - t0;
            if (vw) {
                if (cli_annotate(&annot, &frames[set][i], &res[i], m,
                                 po.preset == RFS_PRESET_RFDETR) != RFS_OK ||
                    rfs_video_writer_write(vw, &frames[set][i]) != RFS_OK) {
                    fprintf(stderr, "rfseg video: frame %ld: %s\n", ids[set][i], rfs_last_error());
                    errors++;
                }
                annotate_ms += cli_now_ms() - t1;
            }
            done_frames++;
        }
        double now = cli_now_ms();
        if (tty && now - last_draw > 250) {
            progress(done_frames, total, now - t_start);
            last_draw = now;
        }
    }
    double wall = cli_now_ms() - t_start;
    if (tty) {
        progress(done_frames, total, wall);
        fputc('\n', stderr);
    }
    rfs_stage_times st;
    rfs_session_times(s, &st);
    double per = done_frames ? 1.0 / done_frames : 0;
    double shapes_ms = shapes.shape_ms;
    fprintf(stderr,
            "rfseg video: %ld frames (%ld errors) in %.2f s: %.2f frames/s\n"
            "rfseg video: ms per frame: decode %.3f, preprocess %.3f, forward %.3f, select %.3f, "
            "masks %.3f, %s %.3f, json %.3f%s",
            done_frames, errors, wall / 1e3, done_frames * 1e3 / (wall > 0 ? wall : 1),
            decode_ms * per, st.preprocess_ms * per, st.forward_ms * per, st.select_ms * per,
            st.masks_ms * per, ro.format == RFS_MASK_RLE ? "rle" : "polygons", shapes_ms * per,
            (json_ms - shapes_ms) * per, vw ? "" : "\n");
    if (vw) fprintf(stderr, ", annotate+encode %.3f\n", annotate_ms * per);
    rc = errors ? 1 : 0;
done:
    if (jf && jf != stdout) fclose(jf);
    else if (jf) fflush(jf);
    if (vw && rfs_video_writer_close(vw) != RFS_OK) {
        fprintf(stderr, "rfseg video: %s\n", rfs_last_error());
        rc = 1;
    }
    cli_annot_free(&annot);
    rfs_video_close(v);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; frames[k] && i < a.batch; i++) rfs_frame_free(&frames[k][i]);
        free(frames[k]), free(imgs[k]), free(ids[k]);
    }
    for (int i = 0; res && i < a.batch; i++) rfs_result_free(&res[i]);
    free(res);
    rfs_shape_ctx_free(&shapes);
    rfs_jbuf_free(&out);
    rfs_session_free(s);
    rfs_model_free(m);
    return rc;
}
