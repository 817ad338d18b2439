/* select.h - which (query, class) pairs become detections, and their boxes.
 *
 * Two selection rules, one per preset:
 *   rfdetr   official PostProcess: top-k over sigmoid(logits) flattened as q*K + c
 *            (a query may appear with several classes), then score > threshold;
 *   roboflow Roboflow R1: argmax per query, class removal/remap, score > threshold
 *            (scalar or per class), descending sort (roboflow-pipeline.md 2.2).
 * The top-k is a stable sort by descending score, ties by ascending flat index q*K + c,
 * NaN first: rfdetr >= 1.9.3's torch.argsort(descending, stable) (1.4.1's torch.topk left
 * the order of ties unspecified, so this is one of its orders; the tests of that preset
 * compare tied entries as sets).
 */
#ifndef RFS_PIPELINE_SELECT_H
#define RFS_PIPELINE_SELECT_H

#include <stdint.h>

typedef struct rfs_cand {
    float score; /* sigmoid probability, float32 */
    int query;
    int cls;     /* logit index (rfdetr) or remapped class id (roboflow) */
} rfs_cand;

/* sigmoid in float32 as PyTorch computes it: 1 / (1 + exp(-x)) */
float rfs_sigmoidf(float x);

/* Official PostProcess top-k: the k best of nq*K, descending. idx_scratch holds nq*K ints.
 * Returns k (or nq*K if smaller). */
int rfs_select_topk(rfs_cand *out, const float *logits, int nq, int K, int k, int *idx_scratch,
                    float *prob_scratch);

/* Keeps the candidates with score > threshold (strict; NaN fails), in order; returns the
 * count. After the top-k, as PostProcess and predict() filter it (NaN ranks first in the
 * top-k, so the kept ones need not be a prefix). */
int rfs_select_above(rfs_cand *c, int n, float threshold);

/* Roboflow R1 selection. remap (may be NULL) maps logit index -> class id, -1 = removed;
 * without it, indexes >= n_names are dropped (the no-object slot). thresholds: per class
 * id when per_class is non-NULL (n entries), else the scalar. Returns the count. */
int rfs_select_argmax(rfs_cand *out, const float *logits, int nq, int K, const int *remap,
                      int n_names, float threshold, const float *per_class, int n_per_class);

/* cxcywh (normalised) -> xyxy scaled by (sx, sy), w and h clamped at 0, float32
 * (rfdetr's box_cxcywh_to_xyxy then boxes * scale_fct; NaN stays NaN, as torch.clamp). */
void rfs_box_xyxy(float out[4], const float *cxcywh, float sx, float sy);

#endif
