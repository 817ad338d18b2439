/* rfdetr_tool - the rfdetr preset (today's rfdetr predict) for tests/diff_rfdetr_predict.py.
 *
 *   rfdetr_tool pre R w h bgr     in: w*h*3 bytes (RGB, or BGR when bgr is 1)
 *                                 out: 3*R*R floats, the network input
 *   rfdetr_tool predict MODEL IMAGE OUT.safetensors THRESHOLD
 *       one image through the preset: pre-processing, the network, top-k, threshold, boxes,
 *       masks, class names. Writes input (1,3,R,R), pred_logits (1,nq,K), pred_boxes
 *       (1,nq,4), pred_masks (1,nq,R/4,R/4), then the kept detections: scores (n), labels
 *       (n, int32), queries (n, int32), boxes (n,4), masks (n,H,W uint8 0/1), and metadata
 *       num_select and class_names (one name per detection, joined by newlines).
 *   rfdetr_tool select nq K num_select THRESHOLD W H
 *                                 in: nq*K logits, nq*4 boxes (float32)
 *                                 out: {n} then n records {score f32, label i32, query i32,
 *                                      box 4 x f32}: top-k, threshold and boxes alone
 */
#include "io/image.h"
#include "io/tensorfile.h"
#include "model/model.h"
#include "pipeline/maskup.h"
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
    if (rfs_preprocess_rfdetr_current(out, R, pix, w, h, 3 * w, bgr, &ctx) != RFS_OK) die("preprocess");
    fwrite(out, sizeof(float), (size_t)3 * R * R, stdout);
    rfs_preprocess_ctx_free(&ctx);
    free(out);
    free(pix);
    return 0;
}

static int cmd_predict(int argc, char **argv) {
    if (argc != 6) die("usage: predict MODEL IMAGE OUT THRESHOLD");
    const float thr = strtof(argv[5], NULL);
    rfs_model *m = NULL;
    if (rfs_model_load(&m, argv[2]) != RFS_OK) die("load");
    const rfs_config *c = rfs_model_config(m);
    const int R = c->resolution, nq = c->num_queries, K = c->num_classes, H4 = c->mask_side;
    rfs_frame f = {0};
    rfs_decode_opts dopt = {.rgb = 1};
    if (rfs_image_load(&f, argv[3], &dopt) != RFS_OK) die("image");
    const int W = f.w, H = f.h;
    float *in = xmalloc(sizeof(float) * 3 * R * R);
    if (rfs_preprocess_rfdetr_current(in, R, f.data, W, H, f.stride, f.fmt == RFS_PIX_BGR8, NULL) != RFS_OK)
        die("preprocess");
    rfs_session *s = NULL;
    rfs_raw raw;
    if (rfs_session_create(&s, m, NULL) != RFS_OK || rfs_forward(s, in, 1, &raw) != RFS_OK) die("forward");

    /* selection: top num_select of nq*K, then score > threshold */
    const int nk = nq * K;
    rfs_cand *cand = xmalloc(sizeof *cand * nk);
    int *idx = xmalloc(sizeof(int) * nk);
    float *prob = xmalloc(sizeof(float) * nk);
    int n = rfs_select_topk(cand, raw.logits, nq, K, c->num_select, idx, prob);
    n = rfs_select_above(cand, n, thr);
    float *scores = xmalloc(sizeof(float) * n), *boxes = xmalloc(sizeof(float) * 4 * n);
    int32_t *labels = xmalloc(sizeof(int32_t) * n), *queries = xmalloc(sizeof(int32_t) * n);
    uint8_t *masks = xmalloc((size_t)n * W * H);
    size_t names_len = 1;
    for (int i = 0; i < n; i++) names_len += strlen(rfs_rfdetr_class_name(m, cand[i].cls)) + 1;
    char *names = xmalloc(names_len);
    rfs_maskup_plan plan;
    rfs_maskup_scratch scr;
    if (rfs_maskup_plan_init(&plan, H4, H4, W, H, RFS_MASKUP_BILINEAR) != RFS_OK ||
        rfs_maskup_scratch_init(&scr, &plan) != RFS_OK)
        die("mask plan");
    for (int i = 0; i < n; i++) {
        scores[i] = cand[i].score;
        labels[i] = cand[i].cls;
        queries[i] = cand[i].query;
        rfs_box_xyxy_clamped(boxes + 4 * i, raw.boxes + (size_t)cand[i].query * 4, (float)W, (float)H);
        rfs_mask mk;
        rfs_maskup_run(&plan, &scr, raw.masks + (size_t)cand[i].query * H4 * H4, &mk);
        uint8_t *dst = masks + (size_t)i * W * H;
        for (int y = 0; y < mk.h; y++) memcpy(dst + (size_t)(y + mk.y0) * W + mk.x0, mk.data + (size_t)y * mk.w, (size_t)mk.w);
        if (i) strcat(names, "\n");
        strcat(names, rfs_rfdetr_class_name(m, cand[i].cls));
    }
    char nsel[16];
    snprintf(nsel, sizeof nsel, "%d", c->num_select);
    rfs_tensor_out t[] = {
        {"input", RFS_DT_F32, 4, {1, 3, R, R}, in},
        {"pred_logits", RFS_DT_F32, 3, {1, nq, K}, raw.logits},
        {"pred_boxes", RFS_DT_F32, 3, {1, nq, 4}, raw.boxes},
        {"pred_masks", RFS_DT_F32, 4, {1, nq, H4, H4}, raw.masks},
        {"scores", RFS_DT_F32, 1, {n}, scores},
        {"labels", RFS_DT_I32, 1, {n}, labels},
        {"queries", RFS_DT_I32, 1, {n}, queries},
        {"boxes", RFS_DT_F32, 2, {n, 4}, boxes},
        {"masks", RFS_DT_U8, 3, {n, H, W}, masks},
    };
    const char *meta[] = {"num_select", nsel, "class_names", names};
    if (rfs_safetensors_write(argv[4], t, (int)(sizeof t / sizeof t[0]), meta, 2) != RFS_OK) die("write");
    rfs_maskup_scratch_free(&scr);
    rfs_maskup_plan_free(&plan);
    free(names), free(masks), free(queries), free(labels), free(boxes), free(scores);
    free(prob), free(idx), free(cand), free(in);
    rfs_session_free(s);
    rfs_frame_free(&f);
    rfs_model_free(m);
    return 0;
}

static int cmd_select(int argc, char **argv) {
    if (argc != 8) die("usage: select nq K num_select THRESHOLD W H");
    const int nq = atoi(argv[2]), K = atoi(argv[3]), ns = atoi(argv[4]);
    const float thr = strtof(argv[5], NULL), W = strtof(argv[6], NULL), H = strtof(argv[7], NULL);
    float *logits = xmalloc(sizeof(float) * nq * K), *boxes = xmalloc(sizeof(float) * nq * 4);
    if (fread(logits, sizeof(float), (size_t)nq * K, stdin) != (size_t)nq * K ||
        fread(boxes, sizeof(float), (size_t)nq * 4, stdin) != (size_t)nq * 4)
        die("short input");
    rfs_cand *cand = xmalloc(sizeof *cand * nq * K);
    int *idx = xmalloc(sizeof(int) * nq * K);
    float *prob = xmalloc(sizeof(float) * nq * K);
    int n = rfs_select_topk(cand, logits, nq, K, ns, idx, prob);
    int keep = rfs_select_above(cand, n, thr);
    fwrite(&keep, sizeof keep, 1, stdout);
    for (int i = 0; i < keep; i++) {
        float box[4];
        int32_t lq[2] = {cand[i].cls, cand[i].query};
        rfs_box_xyxy_clamped(box, boxes + (size_t)cand[i].query * 4, W, H);
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
