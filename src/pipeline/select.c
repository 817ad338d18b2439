/* select.c - detection selection for both presets (see select.h). */
#include "pipeline/select.h"

#include <math.h>
#include <stdlib.h>

float rfs_sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* descending, NaN first (torch.sort's order), then ascending index: a total order */
static int cmp_prob_desc(const void *pa, const void *pb, void *ctx) {
    const float *p = ctx;
    int a = *(const int *)pa, b = *(const int *)pb;
    int na = isnan(p[a]), nb = isnan(p[b]);
    if (na != nb) return na ? -1 : 1;
    if (!na && p[a] != p[b]) return p[a] > p[b] ? -1 : 1;
    return a - b;
}

int rfs_select_topk(rfs_cand *out, const float *logits, int nq, int K, int k, int *idx,
                    float *prob) {
    const int n = nq * K;
    if (k > n) k = n;
    for (int i = 0; i < n; i++) {
        prob[i] = rfs_sigmoidf(logits[i]);
        idx[i] = i;
    }
    qsort_r(idx, (size_t)n, sizeof(int), cmp_prob_desc, prob);
    for (int i = 0; i < k; i++) {
        out[i].score = prob[idx[i]];
        out[i].query = idx[i] / K;
        out[i].cls = idx[i] % K;
    }
    return k;
}

int rfs_select_above(rfs_cand *c, int n, float threshold) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (c[i].score > threshold) c[k++] = c[i];
    return k;
}

static int cmp_cand_desc(const void *pa, const void *pb) {
    const rfs_cand *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->query - b->query;
}

int rfs_select_argmax(rfs_cand *out, const float *logits, int nq, int K, const int *remap,
                      int n_names, float threshold, const float *per_class, int n_per_class) {
    int n = 0;
    for (int q = 0; q < nq; q++) {
        /* argmax of the probabilities, not the logits: distinct logits can round to the
         * same float32 probability, and then the first class wins (as torch.max) */
        const float *row = logits + (size_t)q * K;
        int best = 0;
        float p = rfs_sigmoidf(row[0]);
        for (int c = 1; c < K; c++) {
            float pc = rfs_sigmoidf(row[c]);
            if (pc > p) p = pc, best = c;
        }
        int cls = remap ? remap[best] : (best < n_names ? best : -1);
        if (cls < 0) continue;
        float t = per_class && cls < n_per_class ? per_class[cls] : threshold;
        if (!(p > t)) continue;
        out[n].score = p;
        out[n].query = q;
        out[n].cls = cls;
        n++;
    }
    qsort(out, (size_t)n, sizeof *out, cmp_cand_desc);
    return n;
}

/* torch.clamp(min=lo): NaN passes through */
static inline float clamp_min(float v, float lo) { return v < lo ? lo : v; }

void rfs_box_xyxy(float out[4], const float *b, float sx, float sy) {
    float hw = 0.5f * clamp_min(b[2], 0.f), hh = 0.5f * clamp_min(b[3], 0.f);
    out[0] = (b[0] - hw) * sx;
    out[1] = (b[1] - hh) * sy;
    out[2] = (b[0] + hw) * sx;
    out[3] = (b[1] + hh) * sy;
}
