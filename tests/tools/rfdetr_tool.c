/* rfdetr_tool - the rfdetr preset (today's rfdetr predict) for tests/diff_rfdetr_predict.py.
 *
 *   rfdetr_tool pre R w h bgr     in: w*h*3 bytes (RGB, or BGR when bgr is 1)
 *                                 out: 3*R*R floats, the network input
 *   rfdetr_tool predict MODEL IMAGE OUT.safetensors THRESHOLD
 *       one image through rfs_predict with RFS_PRESET_RFDETR. Writes the network's input
 *       and outputs (rfs_session_save_raw: input, pred_logits, pred_boxes, pred_masks) and
 *       the detections: scores (n), labels (n, int32), queries (n, int32), boxes (n,4),
 *       masks (n,H,W uint8 0/1), metadata num_select and class_names (one name per
 *       detection, joined by newlines).
 *   rfdetr_tool select nq K num_select THRESHOLD W H
 *                                 in: nq*K logits, nq*4 boxes (float32)
 *                                 out: {n} then n records {score f32, label i32, query i32,
 *                                      box 4 x f32}: top-k, threshold and boxes alone
 */
#include "io/image.h"
#include "io/tensorfile.h"
#include "model/model.h"
#include "pipeline/geometry.h"
#include "pipeline/preprocess.h"
#include "pipeline/select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *msg) {
    fprintf(stderr, "rfdetr_tool: %s (%s)\n", msg, rfs_last_error());
    exit(2);
}

static void *xmalloc(size_t n) {
    void *p = calloc(n ? n : 1, 1);
    if (!p) die("out of memory");
    return p;
}

static int cmd_pre(int argc, char **argv) {
    if (argc != 6) die("usage: pre R w h bgr");
    const int R = atoi(argv[2]), w = atoi(argv[3]), h = atoi(argv[4]), bgr = atoi(argv[5]);
    uint8_t *pix = xmalloc((size_t)w * h * 3);
    if (fread(pix, 1, (size_t)w * h * 3, stdin) != (size_t)w * h * 3) die("short input");
    float *out = xmalloc(sizeof(float) * 3 * R * R);
    rfs_preprocess_ctx ctx = {0};
    if (rfs_preprocess_rfdetr(out, R, pix, w, h, 3 * w, bgr, &ctx) != RFS_OK) die("preprocess");
    fwrite(out, sizeof(float), (size_t)3 * R * R, stdout);
    rfs_preprocess_ctx_free(&ctx);
    free(out);
    free(pix);
    return 0;
}

/* Appends the tensors of the file at path to t[*n], keeping the file open in *keep. */
static void add_raw(rfs_tensor_out *t, int *n, const char *path, rfs_tensorfile **keep) {
    if (rfs_tensorfile_open(keep, path) != RFS_OK) die("raw");
    for (int i = 0; i < (*keep)->count; i++) {
        const rfs_tensor *r = &(*keep)->tensors[i];
        t[*n] = (rfs_tensor_out){r->name, r->dtype, r->ndim, {0}, r->data};
        memcpy(t[*n].shape, r->shape, sizeof r->shape);
        (*n)++;
    }
}

static int cmd_predict(int argc, char **argv) {
    if (argc != 6) die("usage: predict MODEL IMAGE OUT THRESHOLD");
    rfs_model *m = NULL;
    if (rfs_model_load(&m, argv[2]) != RFS_OK) die("load");
    rfs_frame f = {0};
    rfs_decode_opts dopt = {.rgb = 1};
    if (rfs_image_load(&f, argv[3], &dopt) != RFS_OK) die("image");
    const int W = f.w, H = f.h;
    rfs_session *s = NULL;
    rfs_predict_opts po = rfs_predict_defaults(RFS_PRESET_RFDETR);
    po.threshold = strtof(argv[5], NULL);
    rfs_image img = rfs_frame_image(&f);
    rfs_result r = {0};
    char raw[4096];
    snprintf(raw, sizeof raw, "%s.raw", argv[4]);
    if (rfs_session_create(&s, m, NULL) != RFS_OK || rfs_predict(s, &img, 1, &po, &r) != RFS_OK ||
        rfs_session_save_raw(s, raw) != RFS_OK)
        die("predict");
    const int n = r.count;
    float *scores = xmalloc(sizeof(float) * n), *boxes = xmalloc(sizeof(float) * 4 * n);
    int32_t *labels = xmalloc(sizeof(int32_t) * n), *queries = xmalloc(sizeof(int32_t) * n);
    uint8_t *masks = xmalloc((size_t)n * W * H);
    size_t names_len = 1;
    for (int i = 0; i < n; i++) names_len += strlen(rfs_rfdetr_class_name(m, r.dets[i].class_id)) + 1;
    char *names = xmalloc(names_len);
    for (int i = 0; i < n; i++) {
        const rfs_detection *d = &r.dets[i];
        scores[i] = d->score;
        labels[i] = d->class_id;
        queries[i] = d->query;
        memcpy(boxes + 4 * i, d->box, sizeof d->box);
        uint8_t *dst = masks + (size_t)i * W * H;
        for (int y = 0; y < d->mask.h; y++)
            memcpy(dst + (size_t)(y + d->mask.y0) * W + d->mask.x0, d->mask.data + (size_t)y * d->mask.w,
                   (size_t)d->mask.w);
        if (i) strcat(names, "\n");
        strcat(names, rfs_rfdetr_class_name(m, d->class_id));
    }
    char nsel[16];
    snprintf(nsel, sizeof nsel, "%d", rfs_model_config(m)->num_select);
    rfs_tensor_out t[16] = {
        {"scores", RFS_DT_F32, 1, {n}, scores},
        {"labels", RFS_DT_I32, 1, {n}, labels},
        {"queries", RFS_DT_I32, 1, {n}, queries},
        {"boxes", RFS_DT_F32, 2, {n, 4}, boxes},
        {"masks", RFS_DT_U8, 3, {n, H, W}, masks},
    };
    int nt = 5;
    rfs_tensorfile *rf = NULL;
    add_raw(t, &nt, raw, &rf);
    const char *meta[] = {"num_select", nsel, "class_names", names};
    if (rfs_safetensors_write(argv[4], t, nt, meta, 2) != RFS_OK) die("write");
    rfs_tensorfile_free(rf);
    remove(raw);
    free(names), free(masks), free(queries), free(labels), free(boxes), free(scores);
    rfs_result_free(&r);
    rfs_session_free(s);
    rfs_frame_free(&f);
    rfs_model_free(m);
    return 0;
}

static int cmd_select(int argc, char **argv) {
    if (argc != 8) die("usage: select nq K num_select THRESHOLD W H");
    const int nq = atoi(argv[2]), K = atoi(argv[3]), ns = atoi(argv[4]);
    const float thr = strtof(argv[5], NULL);
    float *logits = xmalloc(sizeof(float) * nq * K), *boxes = xmalloc(sizeof(float) * nq * 4);
    if (fread(logits, sizeof(float), (size_t)nq * K, stdin) != (size_t)nq * K ||
        fread(boxes, sizeof(float), (size_t)nq * 4, stdin) != (size_t)nq * 4)
        die("short input");
    rfs_cand *cand = xmalloc(sizeof *cand * nq * K);
    int *idx = xmalloc(sizeof(int) * nq * K);
    float *prob = xmalloc(sizeof(float) * nq * K);
    int n = rfs_select_topk(cand, logits, nq, K, ns, idx, prob);
    int keep = rfs_select_above(cand, n, thr);
    rfs_frame_geom g = {.W = atoi(argv[6]), .H = atoi(argv[7]), .preset = RFS_PRESET_RFDETR};
    fwrite(&keep, sizeof keep, 1, stdout);
    for (int i = 0; i < keep; i++) {
        float box[4];
        int32_t lq[2] = {cand[i].cls, cand[i].query};
        rfs_geom_box(box, boxes + (size_t)cand[i].query * 4, &g, 0);
        fwrite(&cand[i].score, sizeof(float), 1, stdout);
        fwrite(lq, sizeof(int32_t), 2, stdout);
        fwrite(box, sizeof(float), 4, stdout);
    }
    free(prob), free(idx), free(cand), free(boxes), free(logits);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "select")) return cmd_select(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "pre")) return cmd_pre(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "predict")) return cmd_predict(argc, argv);
    fprintf(stderr, "usage: rfdetr_tool pre R w h bgr | predict MODEL IMAGE OUT THRESHOLD | select ...\n");
    return 2;
}
