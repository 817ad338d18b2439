/* cmd_predict.c - `rfseg predict`: images in, one JSON document per image out (one line
 * each). Operands are files, directories, glob patterns, `-` and (with --allow-urls) URLs
 * (cli_inputs.h). A bad image is reported on stderr and the next one is processed; the
 * exit status is 1 when any image failed, 2 for usage errors (found before any work),
 * 130/143 after SIGINT/SIGTERM (the image in progress is finished first). */
#include "cli.h"
#include "cli_inputs.h"
#include "cli_opts.h"
#include "cli_out.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct predict_args {
    const char *model, *random_size, *raw_out, *device, *format, *annotate, *prec, *jsonl, *preset;
    int no_auto_orient, max_mpix, recursive, allow_urls, overwrite, clip_boxes;
    float confidence;
    int have_confidence;
} predict_args;

static const char *const JPEG_EXTS[] = {".jpg", ".jpeg", ".jpe", NULL};
static const char *const WRITABLE_EXTS[] = {".png", ".jpg", ".jpeg", ".jpe", NULL};
static const char *const IMAGE_EXTS[] = {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".webp",
                                         ".tif", ".tiff", ".gif", NULL};

/* --annotate destinations, one per image (NULL for operands that are errors), all checked
 * before any work. One image and OUT.png/OUT.jpg: that file; otherwise OUT is a directory
 * (created when missing) and each image's file is named after it, keeping .jpg/.jpeg/.png
 * and else taking .png, with -1, -2, ... where names would collide. */
typedef struct annot_plan {
    char **path;
    int made_dir; /* created here: removed again if it stays empty */
    char dir[4096];
} annot_plan;

static int plan_annotations(annot_plan *ap, const char *dest, const cli_inputs *in, int overwrite) {
    ap->path = calloc((size_t)in->n + 1, sizeof *ap->path);
    if (!ap->path) return 0;
    struct stat sb;
    int exists = stat(dest, &sb) == 0, is_dir = exists && S_ISDIR(sb.st_mode);
    if (!is_dir && in->n_images == 1 && cli_has_ext(dest, WRITABLE_EXTS)) {
        if (!cli_out_check("predict", "--annotate", dest, overwrite, CLI_OUT_FILE)) return 0;
        for (int i = 0; i < in->n; i++)
            if (in->v[i].kind != CLI_IN_ERROR && !(ap->path[i] = strdup(dest))) return 0;
        return 1;
    }
    if (!is_dir) {
        if (cli_has_ext(dest, IMAGE_EXTS)) {
            if (in->n_images > 1)
                fprintf(stderr, "rfseg predict: --annotate %s: %d images need a directory (give a name "
                        "without an image extension, or an existing directory)\n", dest, in->n_images);
            else
                fprintf(stderr, "rfseg predict: --annotate %s: annotated images are written as .png or .jpg\n", dest);
            return 0;
        }
        if (exists) {
            fprintf(stderr, "rfseg predict: --annotate %s: exists and is not a directory\n", dest);
            return 0;
        }
    }
    snprintf(ap->dir, sizeof ap->dir, "%s", dest);
    size_t dl = strlen(ap->dir);
    while (dl > 1 && ap->dir[dl - 1] == '/') ap->dir[--dl] = 0;
    for (int i = 0; i < in->n; i++) {
        const cli_input *e = &in->v[i];
        if (e->kind == CLI_IN_ERROR) continue;
        char base[1024], ext[16], cand[4096 + 1100];
        if (e->kind == CLI_IN_STDIN) snprintf(base, sizeof base, "stdin");
        else cli_display_base(base, sizeof base, e->name);
        char *dot = strrchr(base, '.');
        snprintf(ext, sizeof ext, ".png");
        if (dot && dot != base && cli_has_ext(base, WRITABLE_EXTS) && strlen(dot) < sizeof ext) {
            snprintf(ext, sizeof ext, "%s", dot);
        }
        if (dot && dot != base) *dot = 0;
        for (int k = 0;; k++) {
            if (k) snprintf(cand, sizeof cand, "%s/%s-%d%s", ap->dir, base, k, ext);
            else snprintf(cand, sizeof cand, "%s/%s%s", ap->dir, base, ext);
            int taken = 0;
            for (int j = 0; j < i && !taken; j++) taken = ap->path[j] && !strcmp(ap->path[j], cand);
            if (!taken) break;
        }
        if (!(ap->path[i] = strdup(cand))) return 0;
        if (is_dir && !cli_out_check("predict", "--annotate", cand, overwrite, CLI_OUT_FILE)) return 0;
    }
    if (!is_dir) {
        if (mkdir(ap->dir, 0777) != 0) {
            fprintf(stderr, "rfseg predict: --annotate: cannot create the directory %s: %s\n", ap->dir, strerror(errno));
            return 0;
        }
        ap->made_dir = 1;
    }
    return 1;
}

static void annot_plan_free(annot_plan *ap, int n) {
    if (ap->made_dir) rmdir(ap->dir); /* only when nothing was written into it */
    for (int i = 0; ap->path && i < n; i++) free(ap->path[i]);
    free(ap->path);
}

/* The annotated frame into `path` (temporary name, then renamed), PNG or JPEG by extension. */
static int write_annotated(cli_annot *ca, const char *path, int overwrite, rfs_frame *f, const rfs_result *r,
                           const rfs_model *m, rfs_preset preset) {
    if (cli_annotate(ca, f, r, m, preset) != RFS_OK) {
        fprintf(stderr, "rfseg predict: --annotate: %s\n", rfs_last_error());
        return 0;
    }
    cli_tmp t;
    if (!cli_tmp_begin(&t, "predict", path, overwrite)) return 0;
    rfs_status st = cli_has_ext(path, JPEG_EXTS) ? rfs_image_write_jpeg(t.tmp, f, 95) : rfs_image_write_png(t.tmp, f);
    if (st != RFS_OK) {
        fprintf(stderr, "rfseg predict: --annotate %s: %s\n", path, rfs_last_error());
        cli_tmp_abort(&t);
        return 0;
    }
    return cli_tmp_commit(&t, "predict");
}

static int parse(predict_args *a, cli_inputs *in, int argc, char **argv) {
    cli_parser p;
    cli_parser_init(&p, &cli_cmd_predict, argc, argv);
    const char *opt, *val;
    int r, ok = 1;
    const char **ops = calloc((size_t)argc + 1, sizeof *ops);
    int nops = 0;
    if (!ops) return 0;
    while (ok && (r = cli_next(&p, &opt, &val)) > 0) {
        if (r == CLI_OPERAND) ops[nops++] = val;
        else if (!strcmp(opt, "--model")) a->model = val;
        else if (!strcmp(opt, "--random-weights")) a->random_size = val;
        else if (!strcmp(opt, "--preset")) ok = cli_to_choice(&p, opt, val, "roboflow|rfdetr|rfdetr-1.4") && (a->preset = val);
        else if (!strcmp(opt, "--confidence") || !strcmp(opt, "--threshold"))
            ok = a->have_confidence = cli_to_confidence(&p, opt, val, &a->confidence);
        else if (!strcmp(opt, "--format")) ok = cli_to_choice(&p, opt, val, "polygon|rle") && (a->format = val);
        else if (!strcmp(opt, "--clip-boxes")) a->clip_boxes = 1;
        else if (!strcmp(opt, "--no-auto-orient")) a->no_auto_orient = 1;
        else if (!strcmp(opt, "--max-megapixels")) ok = cli_to_int(&p, opt, val, 1, 100000, &a->max_mpix);
        else if (!strcmp(opt, "--recursive")) a->recursive = 1;
        else if (!strcmp(opt, "--allow-urls")) a->allow_urls = 1;
        else if (!strcmp(opt, "--jsonl")) a->jsonl = val;
        else if (!strcmp(opt, "--annotate")) a->annotate = val;
        else if (!strcmp(opt, "--raw-out")) a->raw_out = val;
        else if (!strcmp(opt, "--overwrite")) a->overwrite = 1;
        else if (!strcmp(opt, "--device")) ok = cli_to_choice(&p, opt, val, "cpu|cuda") && (a->device = val);
        else if (!strcmp(opt, "--precision")) ok = cli_to_choice(&p, opt, val, "fp32|fp16|bf16") && (a->prec = val);
    }
    if (ok && r < 0) {
        free(ops);
        return r == CLI_HELP ? -1 : 0;
    }
    /* operands after the options: --recursive and --allow-urls apply wherever they stand */
    for (int i = 0; ok && i < nops; i++) ok = cli_inputs_add(in, ops[i], a->recursive, a->allow_urls);
    free(ops);
    if (!ok) return 0;
    if (!a->model == !a->random_size) {
        fprintf(stderr, "rfseg predict: give --model MODEL or --random-weights SIZE (one of them)\n");
        return 0;
    }
    if (in->n == 0) {
        fprintf(stderr, "rfseg predict: no images given (see rfseg predict --help)\n");
        return 0;
    }
    if (in->n_images == 0) { /* every operand expanded to nothing */
        for (int i = 0; i < in->n; i++) fprintf(stderr, "rfseg predict: %s\n", in->v[i].error);
        return 0;
    }
    return 1;
}

/* The encoded bytes of a URL or standard input, decoded. */
static rfs_status load_bytes(rfs_frame *f, const cli_input *e, const rfs_decode_opts *o, char *err, size_t cap) {
    uint8_t *b = NULL;
    size_t n = 0;
    int ok = e->kind == CLI_IN_STDIN ? cli_read_stdin(&b, &n, (size_t)1 << 30, err, cap)
                                     : cli_fetch_url(&b, &n, e->name, CLI_URL_MAX_BYTES, CLI_URL_TIMEOUT_MS, err, cap);
    if (!ok) return RFS_ERR_IO;
    rfs_status st = rfs_image_decode(f, b, n, o);
    if (st) snprintf(err, cap, "%s", rfs_last_error());
    free(b);
    return st;
}

int cmd_predict(int argc, char **argv) {
    predict_args a = {.device = "cpu", .format = "polygon", .prec = "fp32", .preset = "roboflow", .max_mpix = 100};
    cli_inputs in = {0};
    annot_plan ap = {0};
    int rc = 2;
    rfs_model *m = NULL;
    rfs_session *s = NULL;
    cli_stream out = {.fd = -1};
    int out_open = 0;

    int pr = parse(&a, &in, argc, argv);
    if (pr <= 0) {
        rc = pr < 0 ? 0 : 2;
        goto done;
    }
    rfs_preset preset = RFS_PRESET_ROBOFLOW;
    rfs_preset_parse(a.preset, &preset); /* checked by cli_to_choice */
    rfs_predict_opts po = rfs_predict_defaults(preset);
    if (a.have_confidence) po.threshold = a.confidence;
    po.clip_boxes = a.clip_boxes;
    rfs_mask_format fmt = !strcmp(a.format, "rle") ? RFS_MASK_RLE : RFS_MASK_POLYGON;
    const int many = in.n > 1;

    /* every output checked before any work */
    if (a.jsonl && !cli_out_check("predict", "--jsonl", a.jsonl, a.overwrite, CLI_OUT_STREAM)) goto done;
    if (a.raw_out && !cli_out_check("predict", "--raw-out", a.raw_out, a.overwrite, CLI_OUT_FILE)) goto done;
    if ((a.jsonl && a.raw_out && !strcmp(a.jsonl, a.raw_out)) || (a.annotate && a.jsonl && !strcmp(a.annotate, a.jsonl)) ||
        (a.annotate && a.raw_out && !strcmp(a.annotate, a.raw_out))) {
        fprintf(stderr, "rfseg predict: two outputs name the same file\n");
        goto done;
    }
    if (a.annotate && !plan_annotations(&ap, a.annotate, &in, a.overwrite)) goto done;
    rc = 1;
    if (!(m = cli_load_model(a.model, a.random_size))) goto done;
    rfs_session_opts so = rfs_session_defaults();
    rfs_session_opts_set(&so, "device", a.device); /* both checked by cli_to_choice */
    rfs_session_opts_set(&so, "precision", a.prec);
    if (rfs_session_create(&s, m, &so) != RFS_OK) {
        fprintf(stderr, "rfseg predict: %s\n", rfs_last_error());
        goto done;
    }
    if (a.jsonl) {
        if (!cli_stream_open(&out, "predict", a.jsonl, a.overwrite)) goto done;
    } else cli_stream_stdout(&out, "predict");
    out_open = 1;
    cli_signals_install();

    rfs_frame frame = {0};
    rfs_result res = {0};
    rfs_text line = {0};
    rfs_shapes *shapes = NULL;
    cli_annot annot = {0};
    if (rfs_shapes_create(&shapes) != RFS_OK) {
        fprintf(stderr, "rfseg predict: %s\n", rfs_last_error());
        goto done;
    }
    /* EXIF orientation unless disabled here or by the model's package (as serve does) */
    rfs_decode_opts dopt = {.no_auto_orient = a.no_auto_orient || !rfs_model_auto_orient(m),
                            .max_pixels = (uint64_t)a.max_mpix * 1000000};
    int failures = 0, last_ok = 0, write_failed = 0;
    for (int i = 0; i < in.n && !cli_stop && !write_failed; i++) {
        const cli_input *e = &in.v[i];
        char shown[4096], err[512] = "";
        cli_display_source(shown, sizeof shown, e->name);
        if (e->kind == CLI_IN_ERROR) {
            fprintf(stderr, "rfseg predict: %s\n", e->error);
            failures++;
            last_ok = 0;
            continue;
        }
        double t0 = cli_now_ms();
        rfs_status st = e->kind == CLI_IN_FILE ? rfs_image_load(&frame, e->name, &dopt)
                                               : load_bytes(&frame, e, &dopt, err, sizeof err);
        if (st == RFS_OK) {
            rfs_image img = rfs_frame_image(&frame);
            st = rfs_predict(s, &img, 1, &po, &res);
        }
        rfs_text_reset(&line);
        if (st == RFS_OK) {
            rfs_response_opts ro = rfs_response_defaults();
            ro.format = fmt;
            if (po.preset != RFS_PRESET_ROBOFLOW) { /* the image's name is the rfdetr result's "image" */
                ro.source = shown;
                st = rfs_response_rfdetr(&line, shapes, &res, m, &ro);
            } else {
                ro.time = (cli_now_ms() - t0) / 1e3;
                ro.source = many ? shown : NULL;
                st = rfs_response_roboflow(&line, shapes, &res, m, &ro);
            }
        }
        if (st != RFS_OK) {
            const char *msg = err[0] ? err : rfs_last_error(); /* decode errors already name the file */
            if (!strncmp(msg, e->name, strlen(e->name))) fprintf(stderr, "rfseg predict: %s\n", msg);
            else fprintf(stderr, "rfseg predict: %s: %s\n", shown, msg);
            failures++;
            last_ok = 0;
            continue;
        }
        last_ok = 1;
        rfs_text_put(&line, "\n", 1);
        if (line.oom || !cli_stream_write(&out, line.p, line.len)) {
            write_failed = 1;
            break;
        }
        if (ap.path && !write_annotated(&annot, ap.path[i], a.overwrite, &frame, &res, m, po.preset))
            failures++;
        else if (ap.path) ap.made_dir = 0; /* holds a file now */
    }
    if (a.raw_out && !cli_stop && !write_failed) {
        cli_tmp t;
        if (!last_ok) {
            fprintf(stderr, "rfseg predict: --raw-out: the last image failed, nothing written\n");
            failures++;
        } else if (cli_tmp_begin(&t, "predict", a.raw_out, a.overwrite)) {
            if (rfs_session_save_raw(s, t.tmp) != RFS_OK) {
                fprintf(stderr, "rfseg predict: --raw-out %s: %s\n", a.raw_out, rfs_last_error());
                cli_tmp_abort(&t);
                failures++;
            } else if (!cli_tmp_commit(&t, "predict")) failures++;
        } else failures++;
    }
    rfs_shapes_free(shapes);
    cli_annot_free(&annot);
    rfs_text_free(&line);
    rfs_result_free(&res);
    rfs_frame_free(&frame);
    rc = failures || write_failed ? 1 : 0;
done:
    if (out_open && !cli_stream_close(&out)) rc = 1;
    annot_plan_free(&ap, in.n);
    cli_inputs_free(&in);
    rfs_session_free(s);
    rfs_model_free(m);
    return rc == 2 ? 2 : cli_exit_code(rc);
}
