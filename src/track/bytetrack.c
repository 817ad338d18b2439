/* bytetrack.c - ByteTrack (see bytetrack.h for the algorithm and its sources of truth).
 *
 * Tracks live in a pool addressed by index; the tracked and lost lists hold indices in the
 * order supervision's lists have (the order decides ties in the assignments, so it is
 * kept exactly: joins append without duplicates, removals keep the rest in order). */
#include "track/bytetrack.h"

#include "util/err.h"

#include <math.h>
#include <string.h>

enum { ST_NEW, ST_TRACKED, ST_LOST, ST_REMOVED };

typedef struct strack {
    float tlwh[4];        /* the detection's box (top-left x, y, width, height), float32 */
    double mean[8];       /* Kalman state: cx, cy, a, h and their velocities */
    double cov[64];
    int has_mean;
    int state, activated;
    double score;         /* the float32 score, widened */
    int tracklet_len, frame_id, start_frame;
    long internal_id, external_id;
} strack;

typedef struct ivec {
    int *v;
    int n, cap;
} ivec;

struct rfs_tracker {
    rfs_tracker_opts o;
    double det_thresh;
    int max_time_lost;
    int frame_id;
    long next_internal, next_external;
    strack *pool;
    unsigned char *used;
    int pool_n, pool_cap;
    ivec tracked, lost;
    /* per-update scratch */
    ivec dets, dets2, pool_list, unconfirmed, tracked_ok, activated, refind, lost_new, removed,
        remaining, r_tracked, tmp, out_tracks;
    int *row_sel, *col_sel;
    double *cost;
    size_t cost_cap;
    int idx_cap;
    /* rfs_assign scratch */
    double *a_u, *a_v, *a_spc;
    int *a_path, *a_row4col, *a_col4row, *a_remaining;
    unsigned char *a_sr, *a_sc;
    double *a_cost;
    size_t a_cost_cap;
    int a_cap;
    float (*boxes)[4];
    float *scores;
    int *ids;
    int box_cap;
};

/* ---- small vectors ---------------------------------------------------------------- */

static int iv_push(ivec *a, int x) {
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        int *nv = rfs_realloc(a->v, sizeof *nv * (size_t)cap);
        if (!nv) return -1;
        a->v = nv, a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

static void iv_free(ivec *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* ---- Kalman filter (x, y, a, h, vx, vy, va, vh; constant velocity) ------------------ */

static const double W_POS = 1.0 / 20, W_VEL = 1.0 / 160;

static void kf_initiate(strack *t, const double z[4]) {
    for (int i = 0; i < 4; i++) t->mean[i] = z[i], t->mean[4 + i] = 0;
    const double h = z[3];
    const double sd[8] = {2 * W_POS * h, 2 * W_POS * h, 1e-2, 2 * W_POS * h,
                          10 * W_VEL * h, 10 * W_VEL * h, 1e-5, 10 * W_VEL * h};
    memset(t->cov, 0, sizeof t->cov);
    for (int i = 0; i < 8; i++) t->cov[i * 8 + i] = sd[i] * sd[i];
    t->has_mean = 1;
}

/* mean = F mean, cov = F cov F^T + Q(h), F = [I I; 0 I]. */
static void kf_predict(strack *t) {
    double *m = t->mean, *P = t->cov;
    const double h = m[3];
    const double sd[8] = {W_POS * h, W_POS * h, 1e-2, W_POS * h, W_VEL * h, W_VEL * h, 1e-5, W_VEL * h};
    for (int i = 0; i < 4; i++) m[i] += m[4 + i];
    double FP[64], out[64];
    for (int i = 0; i < 8; i++) /* rows of F P: row i (< 4) is P_i + P_{i+4} */
        for (int j = 0; j < 8; j++) FP[i * 8 + j] = P[i * 8 + j] + (i < 4 ? P[(i + 4) * 8 + j] : 0);
    for (int i = 0; i < 8; i++) /* (F P) F^T: column j (< 4) is col_j + col_{j+4} */
        for (int j = 0; j < 8; j++) out[i * 8 + j] = FP[i * 8 + j] + (j < 4 ? FP[i * 8 + j + 4] : 0);
    for (int i = 0; i < 8; i++) out[i * 8 + i] += sd[i] * sd[i];
    memcpy(P, out, sizeof out);
}

/* The measurement update with z = (x, y, a, h). */
static void kf_update(strack *t, const double z[4]) {
    double *m = t->mean, *P = t->cov;
    const double h = m[3];
    const double r[4] = {W_POS * h, W_POS * h, 1e-1, W_POS * h};
    double S[16], L[16] = {0};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) S[i * 4 + j] = P[i * 8 + j] + (i == j ? r[i] * r[i] : 0);
    /* Cholesky S = L L^T */
    for (int i = 0; i < 4; i++)
        for (int j = 0; j <= i; j++) {
            double s = S[i * 4 + j];
            for (int k = 0; k < j; k++) s -= L[i * 4 + k] * L[j * 4 + k];
            L[i * 4 + j] = i == j ? sqrt(s > 0 ? s : 0) : (L[j * 4 + j] != 0 ? s / L[j * 4 + j] : 0);
        }
    /* K^T (4x8) = S^-1 (P H^T)^T = S^-1 P[0:4, :] */
    double KT[32];
    for (int c = 0; c < 8; c++) {
        double y[4];
        for (int i = 0; i < 4; i++) { /* L y = b */
            double s = P[i * 8 + c];
            for (int k = 0; k < i; k++) s -= L[i * 4 + k] * y[k];
            y[i] = L[i * 4 + i] != 0 ? s / L[i * 4 + i] : 0;
        }
        for (int i = 3; i >= 0; i--) { /* L^T x = y */
            double s = y[i];
            for (int k = i + 1; k < 4; k++) s -= L[k * 4 + i] * KT[k * 8 + c];
            KT[i * 8 + c] = L[i * 4 + i] != 0 ? s / L[i * 4 + i] : 0;
        }
    }
    double innov[4];
    for (int i = 0; i < 4; i++) innov[i] = z[i] - m[i];
    for (int j = 0; j < 8; j++) {
        double s = 0;
        for (int i = 0; i < 4; i++) s += innov[i] * KT[i * 8 + j];
        m[j] += s;
    }
    /* cov -= K S K^T */
    double KS[32]; /* K S: 8x4 */
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) {
            double s = 0;
            for (int k = 0; k < 4; k++) s += KT[k * 8 + i] * S[k * 4 + j];
            KS[i * 4 + j] = s;
        }
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) {
            double s = 0;
            for (int k = 0; k < 4; k++) s += KS[i * 4 + k] * KT[k * 8 + j];
            P[i * 8 + j] -= s;
        }
}

/* ---- boxes ----------------------------------------------------------------------- */

/* x0, y0, x1, y1 of a track: from its Kalman mean, else from the detection box. */
static void track_tlbr(const strack *t, double b[4]) {
    if (t->has_mean) {
        double w = t->mean[2] * t->mean[3], h = t->mean[3];
        double x = t->mean[0] - w / 2, y = t->mean[1] - h / 2;
        b[0] = x, b[1] = y, b[2] = x + w, b[3] = y + h;
    } else { /* float32 arithmetic, as the detection's float32 tlwh */
        b[0] = t->tlwh[0], b[1] = t->tlwh[1];
        b[2] = (float)(t->tlwh[0] + t->tlwh[2]), b[3] = (float)(t->tlwh[1] + t->tlwh[3]);
    }
}

/* The detection box as (center x, center y, width / height, height), float32 steps. */
static void det_xyah(const strack *d, double z[4]) {
    float w = d->tlwh[2], h = d->tlwh[3];
    z[0] = (float)(d->tlwh[0] + w / 2.f);
    z[1] = (float)(d->tlwh[1] + h / 2.f);
    z[2] = (float)(w / h);
    z[3] = h;
}

static double iou(const double a[4], const double b[4]) {
    double area_a = (a[2] - a[0]) * (a[3] - a[1]), area_b = (b[2] - b[0]) * (b[3] - b[1]);
    double iw = fmin(a[2], b[2]) - fmax(a[0], b[0]), ih = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    if (iw < 0) iw = 0;
    if (ih < 0) ih = 0;
    double inter = iw * ih, uni = area_a + area_b - inter;
    double v = uni != 0 ? inter / uni : 0;
    return isfinite(v) ? v : 0; /* nan_to_num: inf would be finite-clamped; boxes are finite */
}

/* ---- linear assignment ---------------------------------------------------------------- */

static int assign_reserve(rfs_tracker *t, int rows, int cols) {
    int need = rows > cols ? rows : cols;
    size_t cells = (size_t)rows * cols;
    if (cells > t->a_cost_cap) {
        double *c = rfs_realloc(t->a_cost, sizeof *c * cells);
        if (!c) return -1;
        t->a_cost = c, t->a_cost_cap = cells;
    }
    if (need <= t->a_cap) return 0;
    int cap = need * 2;
#define GROW(p)                                                        \
    do {                                                               \
        void *np_ = rfs_realloc((p), sizeof *(p) * (size_t)cap);       \
        if (!np_) return -1;                                           \
        (p) = np_;                                                     \
    } while (0)
    GROW(t->a_u);
    GROW(t->a_v);
    GROW(t->a_spc);
    GROW(t->a_path);
    GROW(t->a_row4col);
    GROW(t->a_col4row);
    GROW(t->a_remaining);
    GROW(t->a_sr);
    GROW(t->a_sc);
#undef GROW
    t->a_cap = cap;
    return 0;
}

static void assign_free(rfs_tracker *t) {
    free(t->a_u), free(t->a_v), free(t->a_spc), free(t->a_path), free(t->a_row4col);
    free(t->a_col4row), free(t->a_remaining), free(t->a_sr), free(t->a_sc), free(t->a_cost);
}

/* Rows <= cols. cost is non-negative (shifted by its minimum). For each row in turn, the
 * shortest augmenting path from it to a free column (Dijkstra on reduced costs), then the
 * dual update and the augmentation. Columns are scanned in the order of a list filled in
 * reverse and shrunk by moving the last entry into the taken slot; among equally short
 * columns a free one wins: this decides ties as scipy does. */
static int assign_core(rfs_tracker *t, int nr, int nc, const double *cost, int *col4row) {
    double *u = t->a_u, *v = t->a_v, *spc = t->a_spc;
    int *path = t->a_path, *row4col = t->a_row4col, *remaining = t->a_remaining;
    unsigned char *SR = t->a_sr, *SC = t->a_sc;
    for (int i = 0; i < nr; i++) u[i] = 0, col4row[i] = -1;
    for (int j = 0; j < nc; j++) v[j] = 0, row4col[j] = -1, path[j] = -1;
    for (int cur = 0; cur < nr; cur++) {
        int n_rem = nc;
        for (int k = 0; k < nc; k++) remaining[k] = nc - k - 1;
        for (int r = 0; r < nr; r++) SR[r] = 0;
        for (int j = 0; j < nc; j++) SC[j] = 0, spc[j] = INFINITY;
        double min_val = 0;
        int i = cur, sink = -1;
        while (sink == -1) {
            int index = -1;
            double lowest = INFINITY;
            SR[i] = 1;
            for (int k = 0; k < n_rem; k++) {
                int j = remaining[k];
                double r = min_val + cost[(size_t)i * nc + j] - u[i] - v[j];
                if (r < spc[j]) path[j] = i, spc[j] = r;
                if (spc[j] < lowest || (spc[j] == lowest && row4col[j] == -1)) lowest = spc[j], index = k;
            }
            min_val = lowest;
            if (index < 0 || min_val == INFINITY) return -1;
            int j = remaining[index];
            if (row4col[j] == -1) sink = j;
            else i = row4col[j];
            SC[j] = 1;
            remaining[index] = remaining[--n_rem];
        }
        u[cur] += min_val;
        for (int r = 0; r < nr; r++)
            if (SR[r] && r != cur) u[r] += min_val - spc[col4row[r]];
        for (int j = 0; j < nc; j++)
            if (SC[j]) v[j] -= min_val - spc[j];
        for (int j = sink;;) { /* augment along the path back to cur */
            int r = path[j];
            row4col[j] = r;
            int prev = col4row[r];
            col4row[r] = j;
            j = prev;
            if (r == cur) break;
        }
    }
    return 0;
}

static rfs_status assign_t(rfs_tracker *t, int rows, int cols, const double *cost, int *col_of_row) {
    for (int r = 0; r < rows; r++) col_of_row[r] = -1;
    if (rows == 0 || cols == 0) return RFS_OK;
    if (assign_reserve(t, rows, cols)) return RFS_ERR_NOMEM;
    const int tr = rows > cols; /* solved transposed: fewer rows than columns */
    const int nr = tr ? cols : rows, nc = tr ? rows : cols;
    double mn = INFINITY;
    for (size_t k = 0; k < (size_t)rows * cols; k++) {
        if (!isfinite(cost[k])) return RFS_FAIL(RFS_ERR_ARG, "assignment: non-finite cost");
        if (cost[k] < mn) mn = cost[k];
    }
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < nc; j++)
            t->a_cost[(size_t)i * nc + j] = (tr ? cost[(size_t)j * cols + i] : cost[(size_t)i * cols + j]) - mn;
    if (assign_core(t, nr, nc, t->a_cost, t->a_col4row))
        return RFS_FAIL(RFS_ERR_ARG, "assignment: infeasible cost matrix");
    if (!tr) memcpy(col_of_row, t->a_col4row, sizeof *col_of_row * (size_t)rows);
    else
        for (int i = 0; i < nr; i++) col_of_row[t->a_col4row[i]] = i;
    return RFS_OK;
}

rfs_status rfs_assign(int rows, int cols, const double *cost, int *col_of_row) {
    if (rows < 0 || cols < 0) return RFS_FAIL(RFS_ERR_ARG, "assignment: negative size");
    rfs_tracker tmp;
    memset(&tmp, 0, sizeof tmp);
    rfs_status st = assign_t(&tmp, rows, cols, cost, col_of_row);
    assign_free(&tmp);
    return st;
}

/* ByteTrack's linear_assignment: costs above thresh become thresh + 1e-4, the optimal
 * assignment is taken, pairs costing more than thresh dropped. match[r] = column or -1. */
static rfs_status match(rfs_tracker *t, int rows, int cols, double *cost, double thresh, int *match_of_row) {
    for (size_t k = 0; k < (size_t)rows * cols; k++)
        if (cost[k] > thresh) cost[k] = thresh + 1e-4;
    rfs_status st = assign_t(t, rows, cols, cost, match_of_row);
    if (st) return st;
    for (int r = 0; r < rows; r++)
        if (match_of_row[r] >= 0 && !(cost[(size_t)r * cols + match_of_row[r]] <= thresh)) match_of_row[r] = -1;
    return RFS_OK;
}

/* ---- tracker ---------------------------------------------------------------------------- */

rfs_tracker_opts rfs_tracker_defaults(void) {
    rfs_tracker_opts o = {.activation_threshold = 0.25f, .lost_buffer = 30, .matching_threshold = 0.8f,
                          .frame_rate = 30.0, .min_consecutive_frames = 1, .keep_unmatched = 0};
    return o;
}

rfs_status rfs_tracker_create(rfs_tracker **out, const rfs_tracker_opts *o) {
    *out = NULL;
    rfs_tracker_opts d = o ? *o : rfs_tracker_defaults();
    if (!(d.activation_threshold >= 0 && d.activation_threshold <= 1) ||
        !(d.matching_threshold >= 0 && d.matching_threshold <= 1))
        return RFS_FAIL(RFS_ERR_ARG, "tracker: thresholds must be in [0, 1]");
    if (d.lost_buffer < 0 || d.lost_buffer > 1000000 || d.min_consecutive_frames < 1 ||
        !(d.frame_rate > 0 && d.frame_rate < 1e6))
        return RFS_FAIL(RFS_ERR_ARG, "tracker: lost_buffer %d, min_consecutive_frames %d, frame_rate %g out of range",
                        d.lost_buffer, d.min_consecutive_frames, d.frame_rate);
    rfs_tracker *t = rfs_calloc(1, sizeof *t);
    if (!t) return RFS_ERR_NOMEM;
    t->o = d;
    /* supervision: det_thresh = threshold + 0.1, max_time_lost = int(rate / 30 * buffer),
     * with the float32 threshold widened to a Python float */
    t->det_thresh = (double)d.activation_threshold + 0.1;
    t->max_time_lost = (int)(d.frame_rate / 30.0 * d.lost_buffer);
    rfs_tracker_reset(t);
    *out = t;
    return RFS_OK;
}

void rfs_tracker_reset(rfs_tracker *t) {
    t->frame_id = 0;
    t->next_internal = 0;
    t->next_external = 1;
    t->tracked.n = t->lost.n = 0;
    t->pool_n = 0;
}

void rfs_tracker_free(rfs_tracker *t) {
    if (!t) return;
    ivec *vs[] = {&t->tracked, &t->lost, &t->dets, &t->dets2, &t->pool_list, &t->unconfirmed,
                  &t->tracked_ok, &t->activated, &t->refind, &t->lost_new, &t->removed,
                  &t->remaining, &t->r_tracked, &t->tmp, &t->out_tracks};
    for (size_t i = 0; i < sizeof vs / sizeof *vs; i++) iv_free(vs[i]);
    free(t->pool), free(t->used);
    free(t->row_sel), free(t->col_sel), free(t->cost);
    assign_free(t);
    free(t->boxes), free(t->scores), free(t->ids);
    free(t);
}

/* A pool slot for a new track; slots not in the tracked or lost list are reused. */
static int pool_new(rfs_tracker *t) {
    for (int i = 0; i < t->pool_n; i++)
        if (!t->used[i]) {
            t->used[i] = 1;
            return i;
        }
    if (t->pool_n == t->pool_cap) {
        int cap = t->pool_cap ? t->pool_cap * 2 : 64;
        strack *np = rfs_realloc(t->pool, sizeof *np * (size_t)cap);
        if (!np) return -1;
        t->pool = np;
        unsigned char *nu = rfs_realloc(t->used, (size_t)cap);
        if (!nu) return -1;
        t->used = nu;
        t->pool_cap = cap;
    }
    t->used[t->pool_n] = 1;
    return t->pool_n++;
}

/* Room for a rows x cols cost matrix and index arrays of the larger side. */
static int scratch(rfs_tracker *t, int rows, int cols) {
    size_t cells = (size_t)rows * cols;
    if (cells > t->cost_cap) {
        double *c = rfs_realloc(t->cost, sizeof *c * cells);
        if (!c) return -1;
        t->cost = c, t->cost_cap = cells;
    }
    int need = (rows > cols ? rows : cols) + 1;
    if (need > t->idx_cap) {
        int cap = need * 2;
        int *a = rfs_realloc(t->row_sel, sizeof *a * (size_t)cap);
        if (!a) return -1;
        t->row_sel = a;
        if (!(a = rfs_realloc(t->col_sel, sizeof *a * (size_t)cap))) return -1;
        t->col_sel = a;
        t->idx_cap = cap;
    }
    return 0;
}

/* cost[i][j] = 1 - IoU(track a_i, track b_j), times the score of b_j when fuse. */
static void iou_cost(rfs_tracker *t, const ivec *a, const ivec *b, int fuse) {
    for (int i = 0; i < a->n; i++) {
        double ba[4];
        track_tlbr(&t->pool[a->v[i]], ba);
        for (int j = 0; j < b->n; j++) {
            double bb[4];
            track_tlbr(&t->pool[b->v[j]], bb);
            /* as supervision computes it: distance 1 - IoU, then 1 - (1 - distance) x score */
            double c = 1 - iou(ba, bb);
            if (fuse) c = 1 - (1 - c) * t->pool[b->v[j]].score;
            t->cost[(size_t)i * b->n + j] = c;
        }
    }
}

static void track_update(rfs_tracker *t, strack *tr, const strack *det) {
    double z[4];
    tr->frame_id = t->frame_id;
    tr->tracklet_len++;
    det_xyah(det, z);
    kf_update(tr, z);
    tr->state = ST_TRACKED;
    if (tr->tracklet_len == t->o.min_consecutive_frames) {
        tr->activated = 1;
        if (tr->external_id < 0) tr->external_id = t->next_external++;
    }
    tr->score = det->score;
}

static void track_reactivate(rfs_tracker *t, strack *tr, const strack *det) {
    double z[4];
    det_xyah(det, z);
    kf_update(tr, z);
    tr->tracklet_len = 0;
    tr->state = ST_TRACKED;
    tr->frame_id = t->frame_id;
    tr->score = det->score;
}

static void track_activate(rfs_tracker *t, strack *tr) {
    double z[4];
    tr->internal_id = t->next_internal++;
    det_xyah(tr, z);
    kf_initiate(tr, z);
    tr->tracklet_len = 0;
    tr->state = ST_TRACKED;
    if (t->frame_id == 1) tr->activated = 1;
    if (t->o.min_consecutive_frames == 1) tr->external_id = t->next_external++;
    tr->frame_id = t->frame_id;
    tr->start_frame = t->frame_id;
}

/* a = a + the tracks of b whose internal id a lacks (joint_tracks). */
static int join(rfs_tracker *t, ivec *a, const ivec *b) {
    for (int j = 0; j < b->n; j++) {
        long id = t->pool[b->v[j]].internal_id;
        int dup = 0;
        for (int i = 0; i < a->n && !dup; i++) dup = t->pool[a->v[i]].internal_id == id;
        if (!dup && iv_push(a, b->v[j])) return -1;
    }
    return 0;
}

/* a = a without the tracks whose internal id is in b (sub_tracks; order kept, and of
 * tracks sharing an id the last one stays, at the first one's place, as a dict does). */
static void subtract(rfs_tracker *t, ivec *a, const ivec *b) {
    int n = 0;
    for (int i = 0; i < a->n; i++) {
        long id = t->pool[a->v[i]].internal_id;
        int gone = 0;
        for (int j = 0; j < b->n && !gone; j++) gone = t->pool[b->v[j]].internal_id == id;
        for (int k = 0; k < n && !gone; k++)
            if (t->pool[a->v[k]].internal_id == id) {
                a->v[k] = a->v[i];
                gone = 1;
            }
        if (!gone) a->v[n++] = a->v[i];
    }
    a->n = n;
}

static rfs_status track_step(rfs_tracker *t, const float (*boxes)[4], const float *scores, int n, int *ids) {
    t->frame_id++;
    ivec *dets = &t->dets, *dets2 = &t->dets2, *pool = &t->pool_list, *unconf = &t->unconfirmed,
         *tracked = &t->tracked_ok, *act = &t->activated, *refind = &t->refind, *lost_new = &t->lost_new,
         *removed = &t->removed, *rem = &t->remaining, *rtr = &t->r_tracked, *tmp = &t->tmp;
    dets->n = dets2->n = pool->n = unconf->n = tracked->n = act->n = refind->n = lost_new->n = 0;
    removed->n = rem->n = rtr->n = tmp->n = 0;

    /* detection tracks: above the activation threshold, and the low band (0.1, threshold) */
    for (int i = 0; i < n; i++) {
        double s = scores[i];
        int hi = s > t->o.activation_threshold, lo = s > 0.1 && s < t->o.activation_threshold;
        if (!hi && !lo) continue;
        int k = pool_new(t);
        if (k < 0) return RFS_ERR_NOMEM;
        strack *d = &t->pool[k];
        memset(d, 0, sizeof *d);
        d->tlwh[0] = boxes[i][0], d->tlwh[1] = boxes[i][1];
        d->tlwh[2] = boxes[i][2] - boxes[i][0], d->tlwh[3] = boxes[i][3] - boxes[i][1];
        d->score = scores[i];
        d->state = ST_NEW;
        d->internal_id = d->external_id = -1;
        if (iv_push(hi ? dets : dets2, k)) return RFS_ERR_NOMEM;
    }
    for (int i = 0; i < t->tracked.n; i++)
        if (iv_push(t->pool[t->tracked.v[i]].activated ? tracked : unconf, t->tracked.v[i])) return RFS_ERR_NOMEM;

    /* first association: confirmed + lost tracks, predicted, against the high detections */
    if (join(t, pool, tracked) || join(t, pool, &t->lost)) return RFS_ERR_NOMEM;
    for (int i = 0; i < pool->n; i++) {
        strack *tr = &t->pool[pool->v[i]];
        if (tr->state != ST_TRACKED) tr->mean[7] = 0;
        kf_predict(tr);
    }
    /* the three matchings below: pool x dets, (pool) x dets2, unconfirmed x (dets) */
    if (scratch(t, pool->n > unconf->n ? pool->n : unconf->n, dets->n > dets2->n ? dets->n : dets2->n))
        return RFS_ERR_NOMEM;
    int *m = t->row_sel, *det_taken = t->col_sel;
    iou_cost(t, pool, dets, 1);
    rfs_status st = match(t, pool->n, dets->n, t->cost, t->o.matching_threshold, m);
    if (st) return st;
    for (int j = 0; j < dets->n; j++) det_taken[j] = 0;
    for (int i = 0; i < pool->n; i++) {
        if (m[i] < 0) continue;
        strack *tr = &t->pool[pool->v[i]];
        det_taken[m[i]] = 1;
        if (tr->state == ST_TRACKED) {
            track_update(t, tr, &t->pool[dets->v[m[i]]]);
            if (iv_push(act, pool->v[i])) return RFS_ERR_NOMEM;
        } else {
            track_reactivate(t, tr, &t->pool[dets->v[m[i]]]);
            if (iv_push(refind, pool->v[i])) return RFS_ERR_NOMEM;
        }
    }
    for (int j = 0; j < dets->n; j++)
        if (!det_taken[j] && iv_push(rem, dets->v[j])) return RFS_ERR_NOMEM;

    /* second association: unmatched tracked tracks against the low detections */
    for (int i = 0; i < pool->n; i++)
        if (m[i] < 0 && t->pool[pool->v[i]].state == ST_TRACKED && iv_push(rtr, pool->v[i])) return RFS_ERR_NOMEM;
    iou_cost(t, rtr, dets2, 0);
    if ((st = match(t, rtr->n, dets2->n, t->cost, 0.5, m))) return st;
    for (int i = 0; i < rtr->n; i++) {
        strack *tr = &t->pool[rtr->v[i]];
        if (m[i] >= 0) {
            if (tr->state == ST_TRACKED) {
                track_update(t, tr, &t->pool[dets2->v[m[i]]]);
                if (iv_push(act, rtr->v[i])) return RFS_ERR_NOMEM;
            } else {
                track_reactivate(t, tr, &t->pool[dets2->v[m[i]]]);
                if (iv_push(refind, rtr->v[i])) return RFS_ERR_NOMEM;
            }
        } else if (tr->state != ST_LOST) {
            tr->state = ST_LOST;
            if (iv_push(lost_new, rtr->v[i])) return RFS_ERR_NOMEM;
        }
    }

    /* unconfirmed tracks against the remaining high detections; new tracks from the rest */
    iou_cost(t, unconf, rem, 1);
    if ((st = match(t, unconf->n, rem->n, t->cost, 0.7, m))) return st;
    for (int j = 0; j < rem->n; j++) det_taken[j] = 0;
    for (int i = 0; i < unconf->n; i++) {
        strack *tr = &t->pool[unconf->v[i]];
        if (m[i] >= 0) {
            det_taken[m[i]] = 1;
            track_update(t, tr, &t->pool[rem->v[m[i]]]);
            if (iv_push(act, unconf->v[i])) return RFS_ERR_NOMEM;
        } else {
            tr->state = ST_REMOVED;
            if (iv_push(removed, unconf->v[i])) return RFS_ERR_NOMEM;
        }
    }
    for (int j = 0; j < rem->n; j++) {
        strack *d = &t->pool[rem->v[j]];
        if (det_taken[j] || !(d->score >= t->det_thresh)) continue;
        track_activate(t, d);
        if (iv_push(act, rem->v[j])) return RFS_ERR_NOMEM;
    }

    /* lost tracks past the buffer */
    for (int i = 0; i < t->lost.n; i++) {
        strack *tr = &t->pool[t->lost.v[i]];
        if (t->frame_id - tr->frame_id > t->max_time_lost) {
            tr->state = ST_REMOVED;
            if (iv_push(removed, t->lost.v[i])) return RFS_ERR_NOMEM;
        }
    }

    /* the new lists */
    tmp->n = 0;
    for (int i = 0; i < t->tracked.n; i++)
        if (t->pool[t->tracked.v[i]].state == ST_TRACKED && iv_push(tmp, t->tracked.v[i])) return RFS_ERR_NOMEM;
    if (join(t, tmp, act) || join(t, tmp, refind)) return RFS_ERR_NOMEM;
    subtract(t, &t->lost, tmp);
    for (int i = 0; i < lost_new->n; i++)
        if (iv_push(&t->lost, lost_new->v[i])) return RFS_ERR_NOMEM;
    subtract(t, &t->lost, removed);
    /* a tracked and a lost track with IoU > 0.95 (distance < 0.05): the younger goes */
    ivec *trk = tmp, *lst = &t->lost;
    if (scratch(t, trk->n + 1, lst->n + 1)) return RFS_ERR_NOMEM;
    iou_cost(t, trk, lst, 0);
    unsigned char *dup_a = (unsigned char *)t->row_sel, *dup_b = (unsigned char *)t->col_sel;
    memset(dup_a, 0, (size_t)trk->n);
    memset(dup_b, 0, (size_t)lst->n);
    for (int i = 0; i < trk->n; i++)
        for (int j = 0; j < lst->n; j++) {
            if (!(t->cost[(size_t)i * lst->n + j] < 0.05)) continue;
            const strack *a = &t->pool[trk->v[i]], *b = &t->pool[lst->v[j]];
            if (a->frame_id - a->start_frame > b->frame_id - b->start_frame) dup_b[j] = 1;
            else dup_a[i] = 1;
        }
    t->tracked.n = 0;
    for (int i = 0; i < trk->n; i++)
        if (!dup_a[i] && iv_push(&t->tracked, trk->v[i])) return RFS_ERR_NOMEM;
    int nl = 0;
    for (int j = 0; j < lst->n; j++)
        if (!dup_b[j]) lst->v[nl++] = lst->v[j];
    lst->n = nl;

    /* slots of everything no longer listed are free */
    memset(t->used, 0, (size_t)t->pool_n);
    for (int i = 0; i < t->tracked.n; i++) t->used[t->tracked.v[i]] = 1;
    for (int i = 0; i < t->lost.n; i++) t->used[t->lost.v[i]] = 1;

    /* ids: each detection to the output track it overlaps best, IoU >= 0.5 */
    ivec *out = &t->out_tracks;
    out->n = 0;
    for (int i = 0; i < t->tracked.n; i++)
        if (t->pool[t->tracked.v[i]].activated && iv_push(out, t->tracked.v[i])) return RFS_ERR_NOMEM;
    for (int i = 0; i < n; i++) ids[i] = -1;
    if (out->n == 0 || n == 0) return RFS_OK;
    if (scratch(t, n + 1, out->n + 1)) return RFS_ERR_NOMEM;
    m = t->row_sel;
    for (int i = 0; i < n; i++) {
        const double db[4] = {boxes[i][0], boxes[i][1], boxes[i][2], boxes[i][3]};
        for (int j = 0; j < out->n; j++) {
            double tb[4];
            track_tlbr(&t->pool[out->v[j]], tb);
            t->cost[(size_t)i * out->n + j] = 1 - iou(db, tb);
        }
    }
    if ((st = match(t, n, out->n, t->cost, 0.5, m))) return st;
    for (int i = 0; i < n; i++)
        if (m[i] >= 0) ids[i] = (int)t->pool[out->v[m[i]]].external_id;
    return RFS_OK;
}

rfs_status rfs_tracker_update_boxes(rfs_tracker *t, const float (*boxes)[4], const float *scores, int n, int *ids) {
    if (n < 0) return RFS_FAIL(RFS_ERR_ARG, "tracker: negative detection count");
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            if (!isfinite(boxes[i][k]) || !isfinite(scores[i]))
                return RFS_FAIL(RFS_ERR_ARG, "tracker: detection %d has a non-finite box or score", i);
    rfs_status st = track_step(t, boxes, scores, n, ids);
    if (st == RFS_ERR_NOMEM) return RFS_FAIL(RFS_ERR_NOMEM, "tracker: out of memory");
    return st;
}

rfs_status rfs_tracker_update(rfs_tracker *t, rfs_result *r) {
    int n = r->count;
    if (n > t->box_cap) {
        float(*b)[4] = rfs_realloc(t->boxes, sizeof *b * (size_t)n);
        if (!b) return RFS_ERR_NOMEM;
        t->boxes = b;
        float *s = rfs_realloc(t->scores, sizeof *s * (size_t)n);
        if (!s) return RFS_ERR_NOMEM;
        t->scores = s;
        int *d = rfs_realloc(t->ids, sizeof *d * (size_t)n);
        if (!d) return RFS_ERR_NOMEM;
        t->ids = d;
        t->box_cap = n;
    }
    for (int i = 0; i < n; i++) {
        memcpy(t->boxes[i], r->dets[i].box, sizeof t->boxes[i]);
        t->scores[i] = r->dets[i].score;
    }
    rfs_status st = rfs_tracker_update_boxes(t, (const float(*)[4])t->boxes, t->scores, n, t->ids);
    if (st) return st;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (t->ids[i] < 0 && !t->o.keep_unmatched) continue;
        if (k != i) r->dets[k] = r->dets[i];
        r->dets[k++].tracker_id = t->ids[i];
    }
    r->count = k;
    return RFS_OK;
}
