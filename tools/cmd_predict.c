/* cmd_predict.c - `rfseg predict`: images in, one JSON document per image out (one line
 * each). A bad image is reported on stderr and the next one is processed; the exit status
 * is 1 when any image failed. */
#include "cli.h"

#include "io/image.h"
#include "io/tensorfile.h"
#include "model/model.h"
#include "pipeline/response.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct predict_args {
    const char *model, *random_size, *raw_out, *device, *format, *annotate, *prec;
    rfs_predict_opts po;
    int no_auto_orient, max_mpix;
    float confidence;
    int have_confidence;
} predict_args;

/* --annotate: the frame with its masks, boxes and labels as a PNG. With several images
 * the destination is a directory and each PNG is named after its image. */
static int write_annotated(cli_annot *ca, const char *dest, int many, const char *image,
                           rfs_frame *f, const rfs_result *r, const rfs_model *m, int rfdetr) {
    char path[4096], copy[4096];
    if (many) {
        snprintf(copy, sizeof copy, "%s", image);
        char *base = basename(copy), *dot = strrchr(base, '.');
        if (dot) *dot = 0;
        if (mkdir(dest, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "rfseg predict: --annotate: cannot create %s: %s\n", dest, strerror(errno));
            return 0;
        }
        snprintf(path, sizeof path, "%s/%s.png", dest, base);
    } else snprintf(path, sizeof path, "%s", dest);
    if (cli_annotate(ca, f, r, m, rfdetr) != RFS_OK || rfs_image_write_png(path, f) != RFS_OK) {
        fprintf(stderr, "rfseg predict: --annotate: %s\n", rfs_last_error());
        return 0;
    }
    return 1;
}

int cmd_predict(int argc, char **argv) {
    predict_args a = {.device = "cpu", .format = "polygon", .prec = "fp32"};
    a.po = rfs_predict_defaults(RFS_PRESET_ROBOFLOW);
    const char **images = calloc((size_t)argc, sizeof *images);
    int n_images = 0;
    const char *preset = "roboflow";
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int ok = 1;
        if (!strcmp(o, "--model")) ok = cli_str(argc, argv, &i, &a.model);
        else if (!strcmp(o, "--random-weights")) ok = cli_str(argc, argv, &i, &a.random_size);
        else if (!strcmp(o, "--preset")) ok = cli_str(argc, argv, &i, &preset);
        else if (!strcmp(o, "--threshold") || !strcmp(o, "--confidence")) {
            ok = cli_float(argc, argv, &i, &a.confidence, 0.f, 1.f);
            a.have_confidence = 1;
        } else if (!strcmp(o, "--raw-out")) ok = cli_str(argc, argv, &i, &a.raw_out);
        else if (!strcmp(o, "--annotate")) ok = cli_str(argc, argv, &i, &a.annotate);
        else if (!strcmp(o, "--device")) ok = cli_str(argc, argv, &i, &a.device);
        else if (!strcmp(o, "--precision")) ok = cli_str(argc, argv, &i, &a.prec);
        else if (!strcmp(o, "--format")) ok = cli_str(argc, argv, &i, &a.format);
        else if (!strcmp(o, "--clip-boxes")) a.po.clip_boxes = 1;
        else if (!strcmp(o, "--no-auto-orient")) a.no_auto_orient = 1;
        else if (!strcmp(o, "--max-megapixels")) ok = cli_int(argc, argv, &i, &a.max_mpix, 1, 100000);
        else if (o[0] == '-' && o[1]) {
            fprintf(stderr, "rfseg predict: unknown option %s\n", o);
            ok = 0;
        } else images[n_images++] = o;
        if (!ok) {
            free(images);
            return 2;
        }
    }
    rfs_mask_format fmt = RFS_MASK_POLYGON;
    if (!strcmp(a.format, "rle")) fmt = RFS_MASK_RLE;
    else if (strcmp(a.format, "polygon")) {
        fprintf(stderr, "rfseg predict: --format must be polygon or rle\n");
        free(images);
        return 2;
    }
    if (!strcmp(preset, "rfdetr")) a.po = rfs_predict_defaults(RFS_PRESET_RFDETR);
    else if (!strcmp(preset, "rfdetr-1.4")) a.po = rfs_predict_defaults(RFS_PRESET_RFDETR_14);
    else if (strcmp(preset, "roboflow")) {
        fprintf(stderr, "rfseg predict: --preset must be roboflow, rfdetr or rfdetr-1.4\n");
        free(images);
        return 2;
    }
    if (a.have_confidence) a.po.threshold = a.confidence;
    if (!n_images) {
        fprintf(stderr, "rfseg predict: no images given\n");
        free(images);
        return 2;
    }
    rfs_model *m = cli_load_model(a.model, a.random_size);
    if (!m) {
        free(images);
        return 1;
    }
    rfs_session_opts so = rfs_session_defaults();
    if (!strcmp(a.device, "cuda")) so.backend = RFS_BACKEND_CUDA;
    if (!strcmp(a.prec, "fp16")) so.precision = RFS_FP16;
    else if (!strcmp(a.prec, "bf16")) so.precision = RFS_BF16;
    rfs_session *s = NULL;
    if (rfs_session_create(&s, m, &so) != RFS_OK) {
        fprintf(stderr, "rfseg predict: %s\n", rfs_last_error());
        rfs_model_free(m);
        free(images);
        return 1;
    }
    rfs_frame frame = {0};
    rfs_result res = {0};
    rfs_jbuf out = {0};
    rfs_shape_ctx shapes = {0};
    cli_annot annot = {0};
    /* EXIF orientation unless disabled here or by the model's package (as serve does) */
    rfs_decode_opts dopt = {.no_auto_orient = a.no_auto_orient || !m->pkg.auto_orient,
                            .max_pixels = (uint64_t)a.max_mpix * 1000000};
    int failures = 0, last_ok = 0;
    for (int i = 0; i < n_images; i++) {
        double t0 = cli_now_ms();
        rfs_image img;
        rfs_status st = rfs_image_load(&frame, images[i], &dopt);
        if (st == RFS_OK) {
            img = rfs_frame_image(&frame);
            st = rfs_predict(s, &img, 1, &a.po, &res);
        }
        rfs_jbuf_reset(&out);
        if (st == RFS_OK) {
            if (a.po.preset != RFS_PRESET_ROBOFLOW) {
                rfs_response_opts ro = {.format = fmt, .time = -1, .frame_id = -1, .source = images[i]};
                st = rfs_response_rfdetr(&out, &shapes, &res, m, &ro);
            }
            else {
                rfs_response_opts ro = {.format = fmt, .time = (cli_now_ms() - t0) / 1e3, .frame_id = -1};
                st = rfs_response_roboflow(&out, &shapes, &res, m, &ro);
            }
        }
        if (st != RFS_OK) {
            const char *msg = rfs_last_error(); /* decode errors already name the file */
            if (!strncmp(msg, images[i], strlen(images[i]))) fprintf(stderr, "rfseg predict: %s\n", msg);
            else fprintf(stderr, "rfseg predict: %s: %s\n", images[i], msg);
            failures++;
            last_ok = 0;
            continue;
        }
        last_ok = 1;
        fwrite(out.p, 1, out.len, stdout);
        fputc('\n', stdout);
        if (a.annotate && !write_annotated(&annot, a.annotate, n_images > 1, images[i], &frame,
                                           &res, m, a.po.preset != RFS_PRESET_ROBOFLOW))
            failures++;
    }
    if (a.raw_out) {
        if (!last_ok) {
            fprintf(stderr, "rfseg predict: --raw-out: the last image failed, nothing written\n");
            failures++;
        } else if (rfs_session_save_raw(s, a.raw_out) != RFS_OK) {
            fprintf(stderr, "rfseg predict: --raw-out: %s\n", rfs_last_error());
            failures++;
        }
    }
    rfs_shape_ctx_free(&shapes);
    cli_annot_free(&annot);
    rfs_jbuf_free(&out);
    rfs_result_free(&res);
    rfs_frame_free(&frame);
    rfs_session_free(s);
    rfs_model_free(m);
    free(images);
    return failures ? 1 : 0;
}
