/* pipeline.cu - the whole frame on the device (see backend.h, "the frame pipeline").
 *
 * One batch on one lane, in stream order (captured once per key as a CUDA graph):
 *   1. header reset, frames (pinned, packed BGR/RGB) and per-call parameters uploaded;
 *   2. pre-processing into the network input (pre_roboflow_kernel / pre_rfdetr_kernel);
 *   3. the network (backend.cu), or, for tests, raw outputs copied in its place;
 *   4. selection: one block per image, one thread per query; the candidates are compacted
 *      through an atomic counter into records (query, class, logit, box in frame pixels);
 *   5. masks of the candidates only: the output window that can hold set pixels (from
 *      the positive logits and the taps' coverage, as maskup.c), the exact bounding box of
 *      the set pixels (atomics), a prefix sum of the packed sizes, the packed rectangles;
 *   6. copy-out: header, records, the logit rows of flagged candidates and the packed
 *      words are written by one kernel into mapped pinned host memory: only those bytes
 *      cross PCIe, and no copy has a data-dependent size.
 * The host (collect) then finishes the selection exactly (scores by rfs_sigmoidf, sort),
 * and unpacks the rectangles into the rfs_result.
 *
 * Float arithmetic that must match the CPU bit for bit uses the _rn intrinsics
 * (__fmul_rn, __fadd_rn, __fsub_rn, __fdiv_rn and their double forms), which the
 * compiler never contracts into FMAs; the integer resize is the CPU's integer code. The
 * tables (resize taps, interpolation taps and weights, coverage) are built on the host by
 * the CPU's own functions (resize.c, maskup.c) and uploaded once per graph.
 */
#include "cuda/cuda.cuh"
#include "cuda/host.h"

extern "C" {
#include "pipeline/maskup.h"
#include "pipeline/resize.h"
#include "pipeline/result.h"
#include "pipeline/select.h"
}
#include "pipeline/geometry.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    PIPE_FULLROW = 1,   /* candidate flag: the host needs the whole logit row */
    SIG_MARGIN = 16,    /* ulps: device sigmoid vs the host's (<= ~3 ulps apart) */
    PIPE_GRAPHS = 4,    /* graphs cached per lane */
    PIPE_STAGES = 5,
};

/* ---- records shared by device and host ----------------------------------------------- */

typedef struct pipe_cand {
    int img, query, cls, flags;
    float logit;  /* logit of the device's argmax class (roboflow) */
    float box[4]; /* x0, y0, x1, y1 in frame pixels, the preset's float32 box math */
    int win[4];   /* X0, X1, Y0, Y1: mask output window that can hold set pixels */
    int bb[4];    /* set pixels: x0, y0, x1, y1 inclusive (x1 < 0: none) */
    int off;      /* first word of the packed rectangle */
    int pad_[2];
} pipe_cand;
static_assert(sizeof(pipe_cand) == 80, "pipe_cand is copied in 16-byte units");

typedef struct pipe_hdr {
    int count;             /* candidates */
    int overflow;          /* packed words do not fit: collect re-runs the packing */
    long long total_words; /* packed words of all candidates */
    int pad_[12];
} pipe_hdr;
static_assert(sizeof(pipe_hdr) == 64, "pipe_hdr is copied in 16-byte units");

/* per call (uploaded with the frames) */
typedef struct pipe_params {
    int clip;    /* roboflow: clamp boxes to the frame */
    int pad_[3];
    float thr_lo[1]; /* [K]: per class id, SIG_MARGIN ulps below the threshold */
} pipe_params;

/* Everything a graph's kernels need to know about the frame size and the preset: the
 * frame geometry the host pipeline uses (pipeline/geometry.h), plus the batch. */
typedef struct pipe_geom {
    rfs_frame_geom fg;           /* frame, crop, resize placement, pads, mask window */
    int B, nq, K;                /* batch, network */
    int rgb;                     /* frame byte order */
    int rkind;                   /* rfs_resize_kind of the roboflow resize */
    int center;                  /* center-crop: a copy from (sx0, sy0), no resize */
    int masks;                   /* masks wanted */
    int band, nbands;            /* output rows per work item of the mask passes */
} pipe_geom;

typedef struct dev_axis {        /* rfs_interp_axis on the device */
    const int *n, *idx;
    const float *w;
    int K, identity;
} dev_axis;

typedef struct dev_axis64 {      /* rfs_aa_axis64 on the device */
    const int *xmin, *n;
    const double *w;
    int K, identity;
} dev_axis64;

typedef struct dev_bl {         /* rfs_bl64_axis on the device */
    const int *i0, *i1;
    const double *w0, *w1;
} dev_bl;

typedef struct pipe_tabs {
    const int32_t *xofs, *yrow;  /* roboflow resize (rfs_resize_plan) */
    const int16_t *alpha, *beta;
    dev_axis64 px, py;           /* rfdetr-1.4 resize (rfs_aa_plan) */
    dev_bl bx, by;               /* rfdetr resize (rfs_bl64_plan) */
    dev_axis mx, my;             /* mask upsampling (rfs_maskup_plan) */
    const int *xcov, *ycov;
    const int *cls_of;           /* logit index -> class id, -1: dropped */
} pipe_tabs;

/* ---- 2. pre-processing ------------------------------------------------------------------ */

__device__ __forceinline__ float norm_mean(int ch) { return ch == 0 ? 0.485f : ch == 1 ? 0.456f : 0.406f; }
__device__ __forceinline__ float norm_std(int ch) { return ch == 0 ? 0.229f : ch == 1 ? 0.224f : 0.225f; }

/* Roboflow: x * float32(1/255), then (x - mean) / std, each step rounded (preprocess.c) */
__device__ __forceinline__ float rf_norm(float v, int ch) {
    return __fdiv_rn(__fsub_rn(__fmul_rn(v, 0.0039215688593685627f), norm_mean(ch)), norm_std(ch));
}

/* The three bytes of a pixel after the package's grayscale step (predict.c gray3: cv2's
 * 15-bit BGR2GRAY, replicated), in the frame's byte order. */
__device__ __forceinline__ void px3(const uint8_t *p, int gray, int rgb, int v[3]) {
    if (gray) {
        const int cb = rgb ? 2 : 0, cr = rgb ? 0 : 2;
        const int g = (p[cb] * 3735 + p[1] * 19235 + p[cr] * 9798 + 16384) >> 15;
        v[0] = v[1] = v[2] = g;
    } else {
        v[0] = p[0], v[1] = p[1], v[2] = p[2];
    }
}

/* One network-input pixel (all three planes) per thread: the resized byte (the integer
 * code of resize.c: copy, 2x2 area, or the fixed-point linear taps with the SIMD combine
 * formula) or the canvas value, then the normalisation. */
__global__ void pre_roboflow_kernel(float *out, const uint8_t *frames, pipe_geom g, pipe_tabs t) {
    const int R = g.fg.R, b = blockIdx.y;
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= R * R) return;
    const int x = i % R, y = i / R;
    const size_t fs = (size_t)3 * g.fg.W;
    const uint8_t *img = frames + (size_t)b * g.fg.H * fs + (size_t)g.fg.crop_y * fs + (size_t)g.fg.crop_x * 3;
    float *o = out + (size_t)b * 3 * R * R + i;
    const size_t plane = (size_t)R * R;
    const int rx = x - g.fg.dx0, ry = y - g.fg.dy0;
    if (rx < 0 || ry < 0 || rx >= g.fg.rw || ry >= g.fg.rh) {
        for (int ch = 0; ch < 3; ch++) o[ch * plane] = rf_norm(g.fg.pad_value, ch);
        return;
    }
    int v[3];
    if (g.rkind == RFS_RESIZE_COPY) {
        px3(img + (size_t)(g.fg.sy0 + ry) * fs + (size_t)(g.fg.sx0 + rx) * 3, g.fg.gray, g.rgb, v);
    } else if (g.rkind == RFS_RESIZE_AREA2X) {
        int a[3], c[3], d[3], e[3];
        const uint8_t *p = img + (size_t)(2 * ry) * fs + (size_t)(2 * rx) * 3;
        px3(p, g.fg.gray, g.rgb, a);
        px3(p + 3, g.fg.gray, g.rgb, c);
        px3(p + fs, g.fg.gray, g.rgb, d);
        px3(p + fs + 3, g.fg.gray, g.rgb, e);
        for (int k = 0; k < 3; k++) v[k] = (a[k] + c[k] + d[k] + e[k] + 2) >> 2;
    } else {
        const int o0 = t.xofs[2 * rx], o1 = t.xofs[2 * rx + 1]; /* byte offsets */
        const int a0 = t.alpha[2 * rx], a1 = t.alpha[2 * rx + 1];
        const int b0 = t.beta[2 * ry], b1 = t.beta[2 * ry + 1];
        const uint8_t *r0 = img + (size_t)t.yrow[2 * ry] * fs, *r1 = img + (size_t)t.yrow[2 * ry + 1] * fs;
        int p00[3], p01[3], p10[3], p11[3];
        px3(r0 + o0, g.fg.gray, g.rgb, p00);
        px3(r0 + o1, g.fg.gray, g.rgb, p01);
        px3(r1 + o0, g.fg.gray, g.rgb, p10);
        px3(r1 + o1, g.fg.gray, g.rgb, p11);
        for (int k = 0; k < 3; k++) {
            const int h0 = p00[k] * a0 + p01[k] * a1, h1 = p10[k] * a0 + p11[k] * a1;
            int r = (((h0 >> 4) * b0) >> 16) + (((h1 >> 4) * b1) >> 16);
            r = (r + 2) >> 2;
            v[k] = r < 0 ? 0 : r > 255 ? 255 : r;
        }
    }
    for (int ch = 0; ch < 3; ch++) o[ch * plane] = rf_norm((float)v[g.rgb ? ch : 2 - ch], ch);
}

/* rfdetr: to_tensor (u8 / 255.0f) then normalize, in float32 as preprocess.c */
__device__ __forceinline__ float rd_norm(int v, int ch) {
    return __fdiv_rn(__fsub_rn(__fdiv_rn((float)v, 255.0f), norm_mean(ch)), norm_std(ch));
}

/* Horizontal pass of rfs_aa_run at (x, frame row): acc = 0.0; acc += w_j * x_j in double. */
__device__ double rd_hpass(const uint8_t *row, int x, int bi, int ch, const dev_axis64 &ax) {
    if (ax.identity) return (double)rd_norm(row[3 * x + bi], ch);
    const double *w = ax.w + (size_t)x * ax.K;
    const uint8_t *q = row + 3 * (size_t)ax.xmin[x] + bi;
    double acc = 0.0;
    for (int j = 0; j < ax.n[x]; j++) acc = __dadd_rn(acc, __dmul_rn(w[j], (double)rd_norm(q[3 * j], ch)));
    return acc;
}

/* The official rfdetr pre-processing, evaluated as rfs_aa_run does (same double tables,
 * same order, no FMA): one output pixel per thread, the horizontal values recomputed per
 * vertical tap instead of stored (they are the same doubles). */
__global__ void pre_rfdetr_kernel(float *out, const uint8_t *frames, pipe_geom g, pipe_tabs t) {
    const int R = g.fg.R, b = blockIdx.y;
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= R * R) return;
    const int x = i % R, y = i / R;
    const size_t fs = (size_t)3 * g.fg.W;
    const uint8_t *img = frames + (size_t)b * g.fg.H * fs;
    float *o = out + (size_t)b * 3 * R * R + i;
    for (int ch = 0; ch < 3; ch++) {
        const int bi = g.rgb ? ch : 2 - ch;
        float v;
        if (t.py.identity) {
            v = __double2float_rn(rd_hpass(img + (size_t)y * fs, x, bi, ch, t.px));
        } else {
            const double *w = t.py.w + (size_t)y * t.py.K;
            const int r0 = t.py.xmin[y];
            double acc = __dmul_rn(w[0], rd_hpass(img + (size_t)r0 * fs, x, bi, ch, t.px));
            for (int j = 1; j < t.py.n[y]; j++)
                acc = __dadd_rn(acc, __dmul_rn(w[j], rd_hpass(img + (size_t)(r0 + j) * fs, x, bi, ch, t.px)));
            v = __double2float_rn(acc);
        }
        o[(size_t)ch * R * R] = v;
    }
}

/* Today's rfdetr: each pixel u8 / 255.0f, the two-tap bilinear resize (no antialias)
 * evaluated in double as rfs_bl64_run_u8 does (same taps, same order: each horizontal
 * value recomputed per vertical tap is the same double), rounded once, then normalised. */
__device__ __forceinline__ double bl_row(const uint8_t *row, int x, int bi, const dev_bl &ax) {
    return __dadd_rn(__dmul_rn(ax.w0[x], (double)__fdiv_rn((float)row[3 * ax.i0[x] + bi], 255.0f)),
                     __dmul_rn(ax.w1[x], (double)__fdiv_rn((float)row[3 * ax.i1[x] + bi], 255.0f)));
}

__global__ void pre_rfdetr_bl_kernel(float *out, const uint8_t *frames, pipe_geom g, pipe_tabs t) {
    const int R = g.fg.R, b = blockIdx.y;
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= R * R) return;
    const int x = i % R, y = i / R;
    const size_t fs = (size_t)3 * g.fg.W;
    const uint8_t *img = frames + (size_t)b * g.fg.H * fs;
    float *o = out + (size_t)b * 3 * R * R + i;
    for (int ch = 0; ch < 3; ch++) {
        const int bi = g.rgb ? ch : 2 - ch;
        const double t0 = bl_row(img + (size_t)t.by.i0[y] * fs, x, bi, t.bx);
        const double t1 = bl_row(img + (size_t)t.by.i1[y] * fs, x, bi, t.bx);
        const float v = __double2float_rn(__dadd_rn(__dmul_rn(t.by.w0[y], t0), __dmul_rn(t.by.w1[y], t1)));
        o[(size_t)ch * R * R] = __fdiv_rn(__fsub_rn(v, norm_mean(ch)), norm_std(ch));
    }
}

/* ---- 4. selection ---------------------------------------------------------------------- */

/* sigmoid as select.c computes it, with a correctly rounded exp (double, rounded) in place
 * of glibc's expf: the two agree to about an ulp; SIG_MARGIN covers the difference. */
__device__ __forceinline__ float sig_dev(float x) {
    const float e = __double2float_rn(exp(-(double)x));
    return __fdiv_rn(1.0f, __fadd_rn(1.0f, e));
}

/* One warp per query (grid: images x groups of 4 queries), each lane over the classes
 * lane, lane + 32, ... roboflow: argmax of the probabilities (the first maximum, as
 * select.c: NaN never wins unless it is class 0's), class map, threshold; a query whose
 * argmax or threshold decision lies within SIG_MARGIN ulps is kept and flagged (the host
 * decides it from the whole row). rfdetr: every query with some probability above the
 * threshold's lower bound is kept with its row (the host runs the top-k over those rows:
 * the pairs above the threshold all lie in them). */
__global__ void select_kernel(pipe_hdr *hdr, pipe_cand *rec, float *rows, const float *logits,
                              const float *boxes, const pipe_params *prm, pipe_geom g,
                              pipe_tabs t) {
    const int b = blockIdx.x, nq = g.nq, K = g.K, lane = threadIdx.x & 31;
    const int q = blockIdx.y * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (q >= nq) return; /* whole warps */
    const float *row = logits + ((size_t)b * nq + q) * K;
    int best = K, flags = 0, cls = -1, keep = 0;
    float p = -1.f;
    if (g.fg.preset == RFS_PRESET_ROBOFLOW) {
        for (int c = lane; c < K; c += 32) {
            const float pc = sig_dev(row[c]);
            if (pc > p) p = pc, best = c;
        }
        for (int o = 16; o > 0; o >>= 1) {
            const float po = __shfl_xor_sync(0xffffffffu, p, o);
            const int co = __shfl_xor_sync(0xffffffffu, best, o);
            if (po > p || (po == p && co < best)) p = po, best = co;
        }
        const float p0 = sig_dev(row[0]);
        if (p0 != p0) p = p0, best = 0; /* NaN at class 0 stays the argmax */
        const int pb = __float_as_int(p);
        int near = 0;
        for (int c = lane; c < K; c += 32)
            near |= c != best && pb - __float_as_int(sig_dev(row[c])) <= SIG_MARGIN;
        flags = __any_sync(0xffffffffu, near) ? PIPE_FULLROW : 0;
        cls = t.cls_of[best];
        keep = flags || (cls >= 0 && p > prm->thr_lo[cls]);
    } else {
        int above = 0;
        for (int c = lane; c < K; c += 32) above |= sig_dev(row[c]) > prm->thr_lo[0];
        keep = __any_sync(0xffffffffu, above);
        flags = PIPE_FULLROW, best = 0;
    }
    if (!keep) return;
    int slot = 0;
    if (lane == 0) slot = atomicAdd(&hdr->count, 1);
    slot = __shfl_sync(0xffffffffu, slot, 0);
    pipe_cand *r = rec + slot;
    if (lane == 0) {
        r->img = b, r->query = q, r->cls = cls, r->flags = flags, r->logit = row[best];
        rfs_geom_box(r->box, boxes + ((size_t)b * nq + q) * 4, &g.fg, prm->clip);
        r->win[0] = g.fg.ow, r->win[1] = 0, r->win[2] = g.fg.oh, r->win[3] = 0;
        r->bb[0] = r->bb[1] = INT_MAX, r->bb[2] = r->bb[3] = -1;
        r->off = 0;
    }
    if (flags)
        for (int c = lane; c < K; c += 32) rows[(size_t)slot * K + c] = row[c];
}

/* ---- 5. masks of the candidates ---------------------------------------------------------- */

/* The mask logit at (row r, column c) of the window the CPU crops (predict.c: padding
 * removal, zeros outside the stored map). */
__device__ __forceinline__ float logit_at(const float *L, const pipe_geom &g, int r, int c) {
    const int sy = r + g.fg.win[1], sx = c + g.fg.win[0];
    return sy >= 0 && sy < g.fg.H4 && sx >= 0 && sx < g.fg.H4 ? L[sy * g.fg.H4 + sx] : 0.f;
}

/* rfs_interp_row at output column x of window row r: w0*s0, then += w_t*s_t (float32). */
__device__ __forceinline__ float mask_h(const float *L, const pipe_geom &g, const dev_axis &a, int r, int x) {
    if (a.identity) return logit_at(L, g, r, x);
    const int *ix = a.idx + (size_t)x * a.K;
    const float *w = a.w + (size_t)x * a.K;
    float acc = __fmul_rn(logit_at(L, g, r, ix[0]), w[0]);
    for (int k = 1; k < a.n[x]; k++) acc = __fadd_rn(acc, __fmul_rn(logit_at(L, g, r, ix[k]), w[k]));
    return acc;
}

/* The upsampled mask value at output pixel (x, y), in maskup.c's operation order. */
__device__ __forceinline__ float mask_value(const float *L, const pipe_geom &g, const pipe_tabs &t, int x, int y) {
    if (t.my.identity) return mask_h(L, g, t.mx, y, x);
    const int *iy = t.my.idx + (size_t)y * t.my.K;
    const float *w = t.my.w + (size_t)y * t.my.K;
    float v = __fmul_rn(mask_h(L, g, t.mx, iy[0], x), w[0]);
    for (int k = 1; k < t.my.n[y]; k++) v = __fadd_rn(v, __fmul_rn(mask_h(L, g, t.mx, iy[k], x), w[k]));
    return v;
}

__device__ __forceinline__ const float *cand_logits(const float *masks, const pipe_geom &g, const pipe_cand *r) {
    return masks + ((size_t)r->img * g.nq + r->query) * g.fg.H4 * g.fg.H4;
}

/* Output window per candidate (maskup.c steps 1-2): the rows and columns of the logit
 * window holding a positive value, mapped through the taps' coverage tables. One block
 * per candidate slot. */
__global__ void mask_window_kernel(const pipe_hdr *hdr, pipe_cand *rec, const float *masks,
                                   pipe_geom g, pipe_tabs t) {
    extern __shared__ unsigned char pos[]; /* [mw] columns, then [mh] rows */
    __shared__ int w4[4];
    const int slot = blockIdx.x;
    if (slot >= hdr->count) return;
    pipe_cand *r = rec + slot;
    const float *L = cand_logits(masks, g, r);
    unsigned char *cpos = pos, *rpos = pos + g.fg.mw;
    for (int i = threadIdx.x; i < g.fg.mw + g.fg.mh; i += blockDim.x) pos[i] = 0;
    if (threadIdx.x == 0) w4[0] = g.fg.ow, w4[1] = 0, w4[2] = g.fg.oh, w4[3] = 0;
    __syncthreads();
    const int H4 = g.fg.H4;
    for (int i = threadIdx.x; i < H4 * H4; i += blockDim.x) {
        const int rr = i / H4 - g.fg.win[1], cc = i % H4 - g.fg.win[0];
        if (rr >= 0 && rr < g.fg.mh && cc >= 0 && cc < g.fg.mw && L[i] > 0.f) rpos[rr] = 1, cpos[cc] = 1;
    }
    __syncthreads();
    for (int c = threadIdx.x; c < g.fg.mw; c += blockDim.x)
        if (cpos[c]) atomicMin(&w4[0], t.xcov[2 * c]), atomicMax(&w4[1], t.xcov[2 * c + 1]);
    for (int c = threadIdx.x; c < g.fg.mh; c += blockDim.x)
        if (rpos[c]) atomicMin(&w4[2], t.ycov[2 * c]), atomicMax(&w4[3], t.ycov[2 * c + 1]);
    __syncthreads();
    if (threadIdx.x < 4) r->win[threadIdx.x] = w4[threadIdx.x];
}

__device__ __forceinline__ int warp_min_i(int v) {
    for (int o = 16; o > 0; o >>= 1) v = min(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ int warp_max_i(int v) {
    for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Bounding box of the set pixels: work items (candidate, band of g.band output rows),
 * grid-stride over count * nbands. */
__global__ void mask_bbox_kernel(const pipe_hdr *hdr, pipe_cand *rec, const float *masks,
                                 pipe_geom g, pipe_tabs t) {
    __shared__ int red[4];
    const int count = hdr->count, nb = g.nbands;
    for (int item = blockIdx.x; item < count * nb; item += gridDim.x) {
        pipe_cand *r = rec + item / nb;
        const int band = item % nb;
        const int X0 = r->win[0], X1 = r->win[1];
        const int y0 = max(r->win[2], band * g.band), y1 = min(r->win[3], (band + 1) * g.band);
        if (X0 >= X1 || y0 >= y1) continue; /* the same for the whole block */
        const float *L = cand_logits(masks, g, r);
        const int cols = X1 - X0, n = cols * (y1 - y0);
        int mnx = INT_MAX, mny = INT_MAX, mxx = -1, mxy = -1;
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            const int x = X0 + i % cols, y = y0 + i / cols;
            if (mask_value(L, g, t, x, y) > 0.f)
                mnx = min(mnx, x), mxx = max(mxx, x), mny = min(mny, y), mxy = max(mxy, y);
        }
        if (threadIdx.x == 0) red[0] = red[1] = INT_MAX, red[2] = red[3] = -1;
        __syncthreads();
        mnx = warp_min_i(mnx), mny = warp_min_i(mny), mxx = warp_max_i(mxx), mxy = warp_max_i(mxy);
        if ((threadIdx.x & 31) == 0 && mxx >= 0)
            atomicMin(&red[0], mnx), atomicMin(&red[1], mny), atomicMax(&red[2], mxx), atomicMax(&red[3], mxy);
        __syncthreads();
        if (threadIdx.x == 0 && red[2] >= 0) {
            atomicMin(&r->bb[0], red[0]), atomicMin(&r->bb[1], red[1]);
            atomicMax(&r->bb[2], red[2]), atomicMax(&r->bb[3], red[3]);
        }
        __syncthreads();
    }
}

/* Exclusive prefix sum of the packed sizes (rows of 32-bit words per rectangle), one
 * block; flags an overflow of the word buffer. */
__global__ void mask_layout_kernel(pipe_hdr *hdr, pipe_cand *rec, long long cap_words) {
    __shared__ long long wsum[32];
    const int count = hdr->count, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int nwarps = blockDim.x >> 5;
    long long carry = 0;
    for (int base = 0; base < count; base += blockDim.x) {
        const int i = base + threadIdx.x;
        long long words = 0;
        if (i < count && rec[i].bb[2] >= 0) {
            const int *bb = rec[i].bb;
            words = (long long)(bb[3] - bb[1] + 1) * ((bb[2] - bb[0] + 1 + 31) >> 5);
        }
        long long v = words;
        for (int o = 1; o < 32; o <<= 1) {
            const long long u = __shfl_up_sync(0xffffffffu, v, o);
            if (lane >= o) v += u;
        }
        if (lane == 31) wsum[warp] = v;
        __syncthreads();
        if (warp == 0) {
            long long s = lane < nwarps ? wsum[lane] : 0;
            for (int o = 1; o < 32; o <<= 1) {
                const long long u = __shfl_up_sync(0xffffffffu, s, o);
                if (lane >= o) s += u;
            }
            wsum[lane] = s;
        }
        __syncthreads();
        const long long before = carry + (warp ? wsum[warp - 1] : 0) + v - words;
        if (i < count) rec[i].off = before < INT_MAX ? (int)before : INT_MAX;
        carry += wsum[nwarps - 1];
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        hdr->total_words = carry;
        hdr->overflow = carry > cap_words;
    }
}

/* The packed rectangles: one warp per 32-pixel word (bit i = pixel x0 + 32k + i), rows of
 * ceil(w/32) words. */
__global__ void mask_pack_kernel(const pipe_hdr *hdr, const pipe_cand *rec, uint32_t *words,
                                 const float *masks, pipe_geom g, pipe_tabs t) {
    if (hdr->overflow) return;
    const int count = hdr->count, nb = g.nbands;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    for (int item = blockIdx.x; item < count * nb; item += gridDim.x) {
        const pipe_cand *r = rec + item / nb;
        const int band = item % nb;
        if (r->bb[2] < 0) continue;
        const int bx0 = r->bb[0], by0 = r->bb[1], bx1 = r->bb[2], by1 = r->bb[3];
        const int y0 = max(by0, band * g.band), y1 = min(by1 + 1, (band + 1) * g.band);
        if (y0 >= y1) continue;
        const float *L = cand_logits(masks, g, r);
        const int wpr = (bx1 - bx0 + 1 + 31) >> 5, n = (y1 - y0) * wpr;
        for (int k = warp; k < n; k += nwarps) {
            const int y = y0 + k / wpr, wd = k % wpr, x = bx0 + 32 * wd + lane;
            const bool on = x <= bx1 && mask_value(L, g, t, x, y) > 0.f;
            const unsigned m = __ballot_sync(0xffffffffu, on);
            if (lane == 0) words[(size_t)r->off + (size_t)(y - by0) * wpr + wd] = m;
        }
    }
}

/* ---- 6. copy-out -------------------------------------------------------------------------- */

/* blockIdx.y: 0 header and records, 1 packed words, 2 logit rows of flagged candidates. */
__global__ void copy_out_kernel(const char *dout, char *hout, const uint32_t *dwords,
                                uint32_t *hwords, size_t rows_off, int K) {
    const pipe_hdr *hdr = (const pipe_hdr *)dout;
    const int count = hdr->count;
    const size_t tid = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    const size_t nthr = (size_t)gridDim.x * blockDim.x;
    if (blockIdx.y == 0) {
        const size_t n16 = (sizeof(pipe_hdr) + (size_t)count * sizeof(pipe_cand)) / 16;
        const uint4 *s = (const uint4 *)dout;
        uint4 *d = (uint4 *)hout;
        for (size_t i = tid; i < n16; i += nthr) d[i] = s[i];
    } else if (blockIdx.y == 1) {
        if (hdr->overflow) return;
        const size_t n16 = (size_t)(hdr->total_words + 3) / 4;
        const uint4 *s = (const uint4 *)dwords;
        uint4 *d = (uint4 *)hwords;
        for (size_t i = tid; i < n16; i += nthr) d[i] = s[i];
    } else {
        const pipe_cand *rec = (const pipe_cand *)(dout + sizeof(pipe_hdr));
        const float *s = (const float *)(dout + rows_off);
        float *d = (float *)(hout + rows_off);
        for (int slot = blockIdx.x; slot < count; slot += gridDim.x)
            if (rec[slot].flags & PIPE_FULLROW)
                for (int c = threadIdx.x; c < K; c += blockDim.x)
                    d[(size_t)slot * K + c] = s[(size_t)slot * K + c];
    }
}

/* ---- host side: keys, graphs, lanes ------------------------------------------------------- */

/* a detection being selected on the host: score, query, class, flat index q*K+c, record */
typedef struct host_det {
    float score;
    int query, cls, flat, rec;
} host_det;

typedef struct pipe_key {
    int B, W, H, preset, masks, rgb, gray, inject;
    int crop[4];
} pipe_key;

typedef struct pipe_graph {
    pipe_key key;
    pipe_geom g;
    pipe_tabs t;
    void *dtab;            /* device tables (one allocation) */
    cudaGraphExec_t exec;  /* NULL until captured (after one eager run) */
    unsigned long long used;
} pipe_graph;

typedef struct pipe_lane {
    cuda_state *cs;
    int B, nq, K;
    /* frames: pinned staging and device copy */
    uint8_t *h_frames, *d_frames;
    size_t frames_cap;
    /* per-call parameters */
    pipe_params *h_params, *d_params;
    size_t params_bytes;
    /* results: device [hdr | records | rows] and its mapped host mirror; packed words */
    char *d_out, *h_out, *h_out_dev;
    size_t out_bytes, rows_off;
    uint32_t *d_words, *h_words, *h_words_dev;
    long long words_cap;
    float *h_raw;          /* tests: raw network outputs in place of the network */
    int sms;               /* multiprocessors: grid of the mask passes */
    /* graphs */
    pipe_graph graphs[PIPE_GRAPHS];
    unsigned long long tick;
    cudaEvent_t ev_done;
    cudaEvent_t ev[PIPE_STAGES + 1];
    /* the batch in flight */
    int busy, n;
    pipe_graph *job;
    double submit_ms;      /* host time of the submit (staging, launch) */
    float *thr;            /* [nthr] exact thresholds per class id (roboflow) / [0] (rfdetr) */
    int nthr;              /* K, or more when a class map names larger ids */
    int want_masks, clip;
    /* host scratch of collect */
    int *order;            /* candidates grouped by image */
    int *cnt;              /* [B + 1] */
    host_det *dets;        /* [nq * K] */
    rfs_unpack_job *jobs;  /* masks to unpack, whole batch */
    size_t jobs_cap;
    int *cls_of;           /* [K] */
} pipe_lane;


static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void graph_release(pipe_graph *gr) {
    if (gr->exec) cudaGraphExecDestroy(gr->exec);
    cudaFree(gr->dtab);
    memset(gr, 0, sizeof *gr);
}

/* The lane's graphs hold its buffers' addresses: forget the captures after a reallocation
 * (the tables stay). */
static void graphs_uncapture(pipe_lane *pl) {
    for (int i = 0; i < PIPE_GRAPHS; i++)
        if (pl->graphs[i].exec) {
            cudaGraphExecDestroy(pl->graphs[i].exec);
            pl->graphs[i].exec = NULL;
        }
}

void rfs_cuda_pipe_free(cuda_state *cs) {
    pipe_lane *pl = cs ? cs->pipe : NULL;
    if (!pl) return;
    for (int i = 0; i < PIPE_GRAPHS; i++) graph_release(&pl->graphs[i]);
    cudaFreeHost(pl->h_frames);
    cudaFree(pl->d_frames);
    cudaFreeHost(pl->h_params);
    cudaFree(pl->d_params);
    cudaFree(pl->d_out);
    cudaFreeHost(pl->h_out);
    cudaFree(pl->d_words);
    cudaFreeHost(pl->h_words);
    cudaFreeHost(pl->h_raw);
    if (pl->ev_done) cudaEventDestroy(pl->ev_done);
    for (int i = 0; i <= PIPE_STAGES; i++)
        if (pl->ev[i]) cudaEventDestroy(pl->ev[i]);
    free(pl->thr);
    free(pl->order);
    free(pl->cnt);
    free(pl->dets);
    free(pl->jobs);
    free(pl->cls_of);
    cudaGetLastError();
    free(pl);
    cs->pipe = NULL;
}

static rfs_status oom(const char *what, size_t bytes) {
    cudaGetLastError();
    return rfs_fail(RFS_ERR_NOMEM, "out of memory for the device pipeline: %s (%.1f MiB)", what,
                    bytes / (1024.0 * 1024.0));
}

/* Mapped pinned host memory: the copy-out kernel writes it directly. */
static rfs_status host_mapped(void **h, void **d, size_t bytes, const char *what) {
    if (cudaHostAlloc(h, bytes, cudaHostAllocMapped) != cudaSuccess) {
        *h = NULL;
        return oom(what, bytes);
    }
    CUDA_CHECK(cudaHostGetDevicePointer(d, *h, 0));
    return RFS_OK;
}

/* Packed words of one frame's masks the buffers start with: 8 full-frame masks (grown on
 * overflow). RFS_CUDA_MASK_WORDS overrides it (tests of the overflow path). */
static long long initial_words(const pipe_geom *g) {
    const char *e = getenv("RFS_CUDA_MASK_WORDS");
    if (e && *e) return atoll(e) > 0 ? atoll(e) : 4;
    const long long per_mask = (long long)g->fg.oh * ((g->fg.ow + 31) / 32);
    const int masks = g->nq < 8 ? g->nq : 8;
    return (long long)g->B * masks * per_mask + 1024;
}

static rfs_status words_alloc(pipe_lane *pl, long long words) {
    words = (words + 3) & ~3LL;
    if (words > (long long)INT_MAX)
        return rfs_fail(RFS_ERR_LIMIT, "device pipeline: %lld mask words exceed the limit", words);
    cudaFree(pl->d_words);
    cudaFreeHost(pl->h_words);
    pl->d_words = NULL, pl->h_words = NULL, pl->words_cap = 0;
    const size_t bytes = (size_t)words * 4;
    if (cudaMalloc((void **)&pl->d_words, bytes) != cudaSuccess) {
        pl->d_words = NULL;
        return oom("mask words", bytes);
    }
    rfs_status st = host_mapped((void **)&pl->h_words, (void **)&pl->h_words_dev, bytes, "mask words");
    if (st != RFS_OK) return st;
    pl->words_cap = words;
    graphs_uncapture(pl);
    return RFS_OK;
}

/* Lane i's pipeline state, created on first use. */
static rfs_status lane_state(pipe_lane **out, rfs_cuda_net *n, int i) {
    *out = NULL;
    cuda_state *cs = rfs_cuda_lane(n, i);
    if (!cs) return RFS_ERR_NOMEM; /* message set */
    if (cs->pipe) {
        *out = cs->pipe;
        return RFS_OK;
    }
    const rfs_config *c = &n->base.m->cfg;
    pipe_lane *pl = (pipe_lane *)calloc(1, sizeof *pl);
    if (!pl) return rfs_fail(RFS_ERR_NOMEM, "out of memory for the device pipeline");
    cs->pipe = pl;
    pl->cs = cs;
    pl->B = cs->max_batch, pl->nq = c->num_queries, pl->K = c->num_classes;
    const size_t slots = (size_t)pl->B * pl->nq, K = pl->K;
    pl->rows_off = sizeof(pipe_hdr) + slots * sizeof(pipe_cand);
    pl->out_bytes = pl->rows_off + slots * K * sizeof(float);
    pl->nthr = (int)K;
    {
        const rfs_model *m = n->base.m;
        for (int k = 0; m->remap && k < (int)K; k++)
            if (m->remap[k] + 1 > pl->nthr) pl->nthr = m->remap[k] + 1;
    }
    pl->params_bytes = sizeof(pipe_params) + (size_t)pl->nthr * sizeof(float);
    pl->thr = (float *)malloc((size_t)pl->nthr * sizeof(float));
    pl->order = (int *)malloc(slots * sizeof(int));
    pl->cnt = (int *)malloc(((size_t)pl->B + 1) * sizeof(int));
    pl->dets = (host_det *)malloc((size_t)pl->nq * K * sizeof(host_det));
    pl->cls_of = (int *)malloc(K * sizeof(int));
    rfs_status st = RFS_OK;
    if (!pl->thr || !pl->order || !pl->cnt || !pl->dets || !pl->cls_of) {
        st = rfs_fail(RFS_ERR_NOMEM, "out of memory for the device pipeline");
        goto fail;
    }
    {
        const rfs_model *m = n->base.m;
        const int names = rfs_model_class_count(m);
        for (int k = 0; k < (int)K; k++) pl->cls_of[k] = m->remap ? m->remap[k] : k < names ? k : -1;
    }
    if (cudaMalloc((void **)&pl->d_out, pl->out_bytes) != cudaSuccess) {
        pl->d_out = NULL;
        st = oom("results", pl->out_bytes);
        goto fail;
    }
    if ((st = host_mapped((void **)&pl->h_out, (void **)&pl->h_out_dev, pl->out_bytes, "results")) != RFS_OK)
        goto fail;
    if (cudaMalloc((void **)&pl->d_params, pl->params_bytes) != cudaSuccess ||
        cudaMallocHost((void **)&pl->h_params, pl->params_bytes) != cudaSuccess) {
        st = oom("parameters", pl->params_bytes);
        goto fail;
    }
    CUDA_CHECK(cudaEventCreateWithFlags(&pl->ev_done, cudaEventDisableTiming));
    CUDA_CHECK(cudaDeviceGetAttribute(&pl->sms, cudaDevAttrMultiProcessorCount, cs->device));
    for (int k = 0; k <= PIPE_STAGES; k++) CUDA_CHECK(cudaEventCreate(&pl->ev[k]));
    *out = pl;
    return RFS_OK;
fail:
    rfs_cuda_pipe_free(cs);
    return st;
}

/* ---- geometry: the host pipeline's (pipeline/geometry.h) plus the batch ------------- */

static int make_key(const rfs_cuda_net *n, const rfs_image *f, int count, const rfs_predict_opts *o,
                    pipe_key *k, pipe_geom *g) {
    const rfs_model *m = n->base.m;
    const rfs_config *c = &m->cfg;
    memset(k, 0, sizeof *k);
    memset(g, 0, sizeof *g);
    const int W = f[0].width, H = f[0].height;
    for (int i = 0; i < count; i++)
        if (!f[i].data || f[i].width != W || f[i].height != H || f[i].format != f[0].format ||
            f[i].stride < 3 * W)
            return 0;
    if (W < 1 || H < 1 || W > 65535 || H > 65535) return 0;
    if (f[0].format != RFS_PIX_RGB8 && f[0].format != RFS_PIX_BGR8) return 0;
    if (o->preset != RFS_PRESET_ROBOFLOW && o->preset != RFS_PRESET_RFDETR &&
        o->preset != RFS_PRESET_RFDETR_14)
        return 0;
    if (rfs_frame_geom_init(&g->fg, m, W, H, o) != RFS_OK) {
        rfs_clear_error();
        return 0; /* the host path reports it */
    }
    const rfs_frame_geom *fg = &g->fg;
    k->B = count, k->W = W, k->H = H, k->preset = o->preset, k->masks = o->want_masks != 0;
    k->rgb = f[0].format == RFS_PIX_RGB8;
    k->inject = n->inject != NULL;
    k->gray = fg->gray;
    k->crop[0] = fg->crop_x, k->crop[1] = fg->crop_y;
    k->crop[2] = fg->crop_x + fg->cw, k->crop[3] = fg->crop_y + fg->ch;
    g->B = count, g->nq = c->num_queries, g->K = c->num_classes;
    g->rgb = k->rgb, g->masks = k->masks;
    g->center = o->preset == RFS_PRESET_ROBOFLOW && fg->resize_mode == RFS_RESIZE_CENTER_CROP;
    if (g->center) g->rkind = RFS_RESIZE_COPY;
    if (g->masks && (fg->mw < 1 || fg->mh < 1)) return 0; /* the host path reports it */
    if (fg->mw + fg->mh > 40000) return 0;
    /* packed words of the worst case must stay addressable with ints */
    if ((long long)g->B * g->nq * fg->oh * ((fg->ow + 31) / 32) > (long long)INT_MAX) return 0;
    g->band = 8192 / fg->ow > 1 ? 8192 / fg->ow : 1;
    if (g->band > fg->oh) g->band = fg->oh;
    g->nbands = (fg->oh + g->band - 1) / g->band;
    return 1;
}

int rfs_cuda_pipe_accepts(const rfs_net *base, const rfs_image *frames, int count,
                                     const rfs_predict_opts *o) {
    pipe_key k;
    pipe_geom g;
    return count >= 1 && count <= base->o.max_batch &&
           make_key(cuda_net_c(base), frames, count, o, &k, &g);
}

/* Host blob of the key's tables, uploaded as one allocation; pointers set in t. */
typedef struct blob {
    char *p;
    size_t len, cap;
} blob;

static size_t blob_put(blob *b, const void *src, size_t bytes) {
    const size_t off = (b->len + 15) & ~(size_t)15;
    if (off + bytes > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < off + bytes) cap *= 2;
        char *np = (char *)realloc(b->p, cap);
        RFS_CHECK(np);
        b->p = np, b->cap = cap;
    }
    if (bytes) memcpy(b->p + off, src, bytes);
    b->len = off + bytes;
    return off;
}

static rfs_status graph_tables(pipe_graph *gr, const pipe_lane *pl) {
    pipe_geom *g = &gr->g;
    pipe_tabs *t = &gr->t;
    blob b = {NULL, 0, 0};
    /* offsets while the blob grows (it moves), device pointers at the end */
    size_t o_xofs = 0, o_yrow = 0, o_alpha = 0, o_beta = 0;
    size_t o_px[3] = {0, 0, 0}, o_py[3] = {0, 0, 0}, o_mx[3] = {0, 0, 0}, o_my[3] = {0, 0, 0};
    size_t o_xcov = 0, o_ycov = 0, o_cls = 0;
    size_t o_bx[4] = {0, 0, 0, 0}, o_by[4] = {0, 0, 0, 0};
    int linear = 0;
    rfs_status st = RFS_OK;
    memset(t, 0, sizeof *t);
    if (g->fg.preset == RFS_PRESET_ROBOFLOW && !g->center) {
        /* stretch / letterbox: the CPU's resize plan of (cw, ch) -> (rw, rh) */
        rfs_resize_plan rp;
        if ((st = rfs_resize_plan_init(&rp, g->fg.cw, g->fg.ch, g->fg.rw, g->fg.rh)) != RFS_OK) goto done;
        g->rkind = rp.kind;
        if (rp.kind == RFS_RESIZE_LINEAR) {
            linear = 1;
            o_xofs = blob_put(&b, rp.xofs, (size_t)g->fg.rw * 2 * 4);
            o_alpha = blob_put(&b, rp.alpha, (size_t)g->fg.rw * 2 * 2);
            o_yrow = blob_put(&b, rp.yrow, (size_t)g->fg.rh * 2 * 4);
            o_beta = blob_put(&b, rp.beta, (size_t)g->fg.rh * 2 * 2);
        }
        rfs_resize_plan_free(&rp);
    }
    if (g->fg.preset == RFS_PRESET_RFDETR) {
        rfs_bl64_plan bp;
        if ((st = rfs_bl64_plan_init(&bp, g->fg.W, g->fg.H, g->fg.R, g->fg.R)) != RFS_OK) goto done;
        const rfs_bl64_axis *ax[2] = {&bp.ax, &bp.ay};
        size_t *o[2] = {o_bx, o_by};
        for (int a = 0; a < 2; a++) {
            o[a][0] = blob_put(&b, ax[a]->i0, (size_t)ax[a]->out * 4);
            o[a][1] = blob_put(&b, ax[a]->i1, (size_t)ax[a]->out * 4);
            o[a][2] = blob_put(&b, ax[a]->w0, (size_t)ax[a]->out * 8);
            o[a][3] = blob_put(&b, ax[a]->w1, (size_t)ax[a]->out * 8);
        }
        rfs_bl64_plan_free(&bp);
    }
    if (g->fg.preset == RFS_PRESET_RFDETR_14) {
        rfs_aa_plan ap;
        if ((st = rfs_aa_plan_init(&ap, g->fg.W, g->fg.H, g->fg.R, g->fg.R)) != RFS_OK) goto done;
        const rfs_aa_axis64 *ax[2] = {&ap.ax, &ap.ay};
        dev_axis64 *dx[2] = {&t->px, &t->py};
        size_t *o[2] = {o_px, o_py};
        for (int a = 0; a < 2; a++) {
            dx[a]->K = ax[a]->K, dx[a]->identity = ax[a]->identity;
            o[a][0] = blob_put(&b, ax[a]->xmin, (size_t)ax[a]->out * 4);
            o[a][1] = blob_put(&b, ax[a]->n, (size_t)ax[a]->out * 4);
            o[a][2] = blob_put(&b, ax[a]->w, (size_t)ax[a]->out * ax[a]->K * 8);
        }
        rfs_aa_plan_free(&ap);
    }
    if (g->masks) {
        rfs_maskup_plan mp;
        st = rfs_maskup_plan_init(&mp, g->fg.mw, g->fg.mh, g->fg.ow, g->fg.oh,
                                  g->fg.preset == RFS_PRESET_ROBOFLOW ? RFS_MASKUP_AA : RFS_MASKUP_BILINEAR);
        if (st != RFS_OK) goto done;
        const rfs_interp_axis *ax[2] = {&mp.ax, &mp.ay};
        dev_axis *dx[2] = {&t->mx, &t->my};
        size_t *o[2] = {o_mx, o_my};
        for (int a = 0; a < 2; a++) {
            dx[a]->K = ax[a]->K, dx[a]->identity = ax[a]->identity;
            o[a][0] = blob_put(&b, ax[a]->n, (size_t)ax[a]->out * 4);
            o[a][1] = blob_put(&b, ax[a]->idx, (size_t)ax[a]->out * ax[a]->K * 4);
            o[a][2] = blob_put(&b, ax[a]->w, (size_t)ax[a]->out * ax[a]->K * 4);
        }
        o_xcov = blob_put(&b, mp.xcov, (size_t)g->fg.mw * 2 * 4);
        o_ycov = blob_put(&b, mp.ycov, (size_t)g->fg.mh * 2 * 4);
        rfs_maskup_plan_free(&mp);
    }
    o_cls = blob_put(&b, pl->cls_of, (size_t)pl->K * 4);
    if (cudaMalloc(&gr->dtab, b.len) != cudaSuccess) {
        gr->dtab = NULL;
        st = oom("tables", b.len);
        goto done;
    }
    CUDA_CHECK(cudaMemcpy(gr->dtab, b.p, b.len, cudaMemcpyHostToDevice));
    {
        const char *d = (const char *)gr->dtab;
        if (linear) {
            t->xofs = (const int32_t *)(d + o_xofs), t->alpha = (const int16_t *)(d + o_alpha);
            t->yrow = (const int32_t *)(d + o_yrow), t->beta = (const int16_t *)(d + o_beta);
        }
        if (g->fg.preset == RFS_PRESET_RFDETR) {
            dev_bl *bl[2] = {&t->bx, &t->by};
            const size_t *o[2] = {o_bx, o_by};
            for (int a = 0; a < 2; a++) {
                bl[a]->i0 = (const int *)(d + o[a][0]), bl[a]->i1 = (const int *)(d + o[a][1]);
                bl[a]->w0 = (const double *)(d + o[a][2]), bl[a]->w1 = (const double *)(d + o[a][3]);
            }
        }
        if (g->fg.preset == RFS_PRESET_RFDETR_14) {
            t->px.xmin = (const int *)(d + o_px[0]), t->px.n = (const int *)(d + o_px[1]);
            t->px.w = (const double *)(d + o_px[2]);
            t->py.xmin = (const int *)(d + o_py[0]), t->py.n = (const int *)(d + o_py[1]);
            t->py.w = (const double *)(d + o_py[2]);
        }
        if (g->masks) {
            t->mx.n = (const int *)(d + o_mx[0]), t->mx.idx = (const int *)(d + o_mx[1]);
            t->mx.w = (const float *)(d + o_mx[2]);
            t->my.n = (const int *)(d + o_my[0]), t->my.idx = (const int *)(d + o_my[1]);
            t->my.w = (const float *)(d + o_my[2]);
            t->xcov = (const int *)(d + o_xcov), t->ycov = (const int *)(d + o_ycov);
        }
        t->cls_of = (const int *)(d + o_cls);
    }
done:
    free(b.p);
    return st;
}

/* ---- enqueue, submit, collect ------------------------------------------------------------- */

/* The batch's device work on the lane's stream (captured into the graph, or run eagerly;
 * profile: events between the steps). */
static void pipe_enqueue(const rfs_model *m, pipe_lane *pl, const pipe_graph *gr, int profile) {
    cuda_state *cs = pl->cs;
    cudaStream_t st = cs->st;
    const pipe_geom &g = gr->g;
    const int B = g.B, nq = g.nq, K = g.K;
    const size_t P = (size_t)g.fg.H4 * g.fg.H4;
#define EV(i) \
    if (profile) CUDA_CHECK(cudaEventRecord(pl->ev[i], st))
    EV(0);
    CUDA_CHECK(cudaMemsetAsync(pl->d_out, 0, sizeof(pipe_hdr), st));
    CUDA_CHECK(cudaMemcpyAsync(pl->d_frames, pl->h_frames, (size_t)B * g.fg.H * g.fg.W * 3,
                               cudaMemcpyHostToDevice, st));
    CUDA_CHECK(cudaMemcpyAsync(pl->d_params, pl->h_params, pl->params_bytes, cudaMemcpyHostToDevice, st));
    const dim3 pgrid(nblocks((size_t)g.fg.R * g.fg.R, 128), B);
    if (g.fg.preset == RFS_PRESET_ROBOFLOW)
        pre_roboflow_kernel<<<pgrid, 128, 0, st>>>(cs->input, pl->d_frames, g, gr->t);
    else if (g.fg.preset == RFS_PRESET_RFDETR)
        pre_rfdetr_bl_kernel<<<pgrid, 128, 0, st>>>(cs->input, pl->d_frames, g, gr->t);
    else
        pre_rfdetr_kernel<<<pgrid, 128, 0, st>>>(cs->input, pl->d_frames, g, gr->t);
    CUDA_LAUNCH_CHECK();
    EV(1);
    if (gr->key.inject) {
        const float *h = pl->h_raw;
        CUDA_CHECK(cudaMemcpyAsync(cs->logits, h, sizeof(float) * B * nq * K, cudaMemcpyHostToDevice, st));
        h += (size_t)B * nq * K;
        CUDA_CHECK(cudaMemcpyAsync(cs->boxes, h, sizeof(float) * B * nq * 4, cudaMemcpyHostToDevice, st));
        h += (size_t)B * nq * 4;
        CUDA_CHECK(cudaMemcpyAsync(cs->masks, h, sizeof(float) * B * nq * P, cudaMemcpyHostToDevice, st));
    } else {
        rfs_cuda_enqueue_net(m, cs, B, 0);
    }
    EV(2);
    pipe_hdr *hdr = (pipe_hdr *)pl->d_out;
    pipe_cand *rec = (pipe_cand *)(pl->d_out + sizeof(pipe_hdr));
    float *rows = (float *)(pl->d_out + pl->rows_off);
    select_kernel<<<dim3(B, (nq + 3) / 4), 128, 0, st>>>(hdr, rec, rows, cs->logits, cs->boxes,
                                                        pl->d_params, g, gr->t);
    CUDA_LAUNCH_CHECK();
    EV(3);
    if (g.masks) {
        const int grid = 2 * pl->sms;
        mask_window_kernel<<<B * nq, 128, g.fg.mw + g.fg.mh, st>>>(hdr, rec, cs->masks, g, gr->t);
        CUDA_LAUNCH_CHECK();
        mask_bbox_kernel<<<grid, 256, 0, st>>>(hdr, rec, cs->masks, g, gr->t);
        CUDA_LAUNCH_CHECK();
        mask_layout_kernel<<<1, 1024, 0, st>>>(hdr, rec, pl->words_cap);
        CUDA_LAUNCH_CHECK();
        mask_pack_kernel<<<grid, 256, 0, st>>>(hdr, rec, pl->d_words, cs->masks, g, gr->t);
        CUDA_LAUNCH_CHECK();
    }
    EV(4);
    copy_out_kernel<<<dim3(32, 3), 256, 0, st>>>(pl->d_out, pl->h_out_dev, pl->d_words,
                                                 pl->h_words_dev, pl->rows_off, K);
    CUDA_LAUNCH_CHECK();
    EV(5);
#undef EV
}

static cudaGraphExec_t pipe_capture(const rfs_model *m, pipe_lane *pl, const pipe_graph *gr) {
    cudaGraph_t graph;
    CUDA_CHECK(cudaStreamBeginCapture(pl->cs->st, cudaStreamCaptureModeThreadLocal));
    pipe_enqueue(m, pl, gr, 0);
    CUDA_CHECK(cudaStreamEndCapture(pl->cs->st, &graph));
    cudaGraphExec_t ex;
    CUDA_CHECK(cudaGraphInstantiate(&ex, graph, 0));
    CUDA_CHECK(cudaGraphDestroy(graph));
    return ex;
}

/* The lane's graph entry for key k: found, or built (tables uploaded; the least recently
 * used entry is replaced). */
static rfs_status graph_for(pipe_lane *pl, const pipe_key *k, const pipe_geom *g, pipe_graph **out) {
    pipe_graph *victim = &pl->graphs[0];
    for (int i = 0; i < PIPE_GRAPHS; i++) {
        pipe_graph *gr = &pl->graphs[i];
        if (gr->dtab && !memcmp(&gr->key, k, sizeof *k)) {
            *out = gr;
            return RFS_OK;
        }
        if (!gr->dtab || (victim->dtab && gr->used < victim->used)) victim = gr;
    }
    graph_release(victim);
    victim->key = *k;
    victim->g = *g;
    rfs_status st = graph_tables(victim, pl);
    if (st != RFS_OK) {
        graph_release(victim);
        return st;
    }
    *out = victim;
    return RFS_OK;
}

static rfs_status frames_reserve(pipe_lane *pl, size_t bytes) {
    if (bytes <= pl->frames_cap) return RFS_OK;
    const size_t cap = bytes + bytes / 4;
    cudaFreeHost(pl->h_frames);
    cudaFree(pl->d_frames);
    pl->h_frames = pl->d_frames = NULL, pl->frames_cap = 0;
    if (cudaMallocHost((void **)&pl->h_frames, cap) != cudaSuccess) {
        pl->h_frames = NULL;
        return oom("frame staging", cap);
    }
    if (cudaMalloc((void **)&pl->d_frames, cap) != cudaSuccess) {
        pl->d_frames = NULL;
        return oom("frames", cap);
    }
    pl->frames_cap = cap;
    graphs_uncapture(pl);
    return RFS_OK;
}

/* SIG_MARGIN ulps below t (t in [0, 1]); -1 when that crosses 0 (everything passes). */
static float lower_bound(float t) {
    if (!(t > 0.f)) return -1.f;
    int32_t b;
    memcpy(&b, &t, 4);
    if (b <= SIG_MARGIN) return -1.f;
    b -= SIG_MARGIN;
    float r;
    memcpy(&r, &b, 4);
    return r;
}

rfs_status rfs_cuda_pipe_submit(rfs_net *base, int lane, const rfs_image *frames,
                                           int n, const rfs_predict_opts *o) {
    rfs_cuda_net *net = cuda_net(base);
    const rfs_model *m = base->m;
    const double t0 = now_ms();
    pipe_key k;
    pipe_geom g;
    if (n < 1 || n > base->o.max_batch || !make_key(net, frames, n, o, &k, &g))
        return rfs_fail(RFS_ERR_UNSUPPORTED, "this batch cannot run on the device pipeline");
    pipe_lane *pl;
    rfs_status st = lane_state(&pl, net, lane);
    if (st != RFS_OK) return st;
    if (pl->busy) return rfs_fail(RFS_ERR_ARG, "CUDA lane %d already has a batch in flight", lane);
    CUDA_CHECK(cudaSetDevice(pl->cs->device));
    pipe_graph *gr;
    st = graph_for(pl, &k, &g, &gr);
    if (st != RFS_OK) return st;
    const size_t fbytes = (size_t)g.fg.W * g.fg.H * 3;
    if ((st = frames_reserve(pl, fbytes * n)) != RFS_OK) return st;
    if (g.masks && pl->words_cap < initial_words(&g) &&
        (st = words_alloc(pl, initial_words(&g))) != RFS_OK)
        return st;
    if (!pl->words_cap && (st = words_alloc(pl, 4)) != RFS_OK) return st;
    const size_t nq = g.nq, K = g.K, P = (size_t)g.fg.H4 * g.fg.H4;
    if (k.inject) {
        const rfs_raw *inj = net->inject;
        const size_t per = nq * (K + 4 + P);
        if (!pl->h_raw && cudaMallocHost((void **)&pl->h_raw, per * pl->B * sizeof(float)) != cudaSuccess) {
            pl->h_raw = NULL;
            return oom("raw outputs", per * pl->B * sizeof(float));
        }
        memcpy(pl->h_raw, inj->logits, sizeof(float) * n * nq * K);
        memcpy(pl->h_raw + n * nq * K, inj->boxes, sizeof(float) * n * nq * 4);
        memcpy(pl->h_raw + n * nq * (K + 4), inj->masks, sizeof(float) * n * nq * P);
    }
    /* frames, packed, into the pinned staging buffer */
    rfs_pipe_stage_frames(pl->h_frames, frames, n, g.fg.W, g.fg.H);
    /* thresholds: exact ones for the host, lower bounds for the device */
    pl->h_params->clip = o->clip_boxes;
    for (int c = 0; c < pl->nthr; c++) {
        float t = o->threshold;
        if (o->preset == RFS_PRESET_ROBOFLOW && o->class_thresholds && c < o->n_class_thresholds)
            t = o->class_thresholds[c];
        pl->thr[c] = t;
        pl->h_params->thr_lo[c] = lower_bound(t);
    }
    pl->want_masks = g.masks, pl->clip = o->clip_boxes;
    cuda_state *cs = pl->cs;
    if (gr->exec) {
        CUDA_CHECK(cudaGraphLaunch(gr->exec, cs->st));
    } else {
        /* first batch of this key on this lane: run it directly (loads the kernels and the
         * cuBLASLt plans outside any capture), then capture the graph for the next ones */
        pipe_enqueue(m, pl, gr, 0);
        if (!cs->eager) {
            CUDA_CHECK(cudaStreamSynchronize(cs->st));
            gr->exec = pipe_capture(m, pl, gr);
        }
    }
    CUDA_CHECK(cudaEventRecord(pl->ev_done, cs->st));
    gr->used = ++pl->tick;
    pl->busy = 1, pl->n = n, pl->job = gr;
    pl->submit_ms = now_ms() - t0;
    net->last_lane = lane;
    return RFS_OK;
}

/* Re-runs the packing after an overflow of the word buffer (grown first). */
static rfs_status repack(pipe_lane *pl, long long need) {
    rfs_status st = words_alloc(pl, need + need / 2 + 1024);
    if (st != RFS_OK) return st;
    const pipe_graph *gr = pl->job;
    cudaStream_t stm = pl->cs->st;
    pipe_hdr *hdr = (pipe_hdr *)pl->d_out;
    pipe_cand *rec = (pipe_cand *)(pl->d_out + sizeof(pipe_hdr));
    mask_layout_kernel<<<1, 1024, 0, stm>>>(hdr, rec, pl->words_cap);
    CUDA_LAUNCH_CHECK();
    mask_pack_kernel<<<2 * pl->sms, 256, 0, stm>>>(hdr, rec, pl->d_words, pl->cs->masks, gr->g, gr->t);
    CUDA_LAUNCH_CHECK();
    copy_out_kernel<<<dim3(32, 3), 256, 0, stm>>>(pl->d_out, pl->h_out_dev, pl->d_words,
                                                  pl->h_words_dev, pl->rows_off, gr->g.K);
    CUDA_LAUNCH_CHECK();
    CUDA_CHECK(cudaStreamSynchronize(stm));
    if (((pipe_hdr *)pl->h_out)->overflow)
        return rfs_fail(RFS_ERR_NOMEM, "device pipeline: mask words still overflow after growing");
    return RFS_OK;
}

static int cmp_roboflow(const void *pa, const void *pb) { /* select.c cmp_cand_desc */
    const host_det *a = (const host_det *)pa, *b = (const host_det *)pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->query - b->query;
}

static int cmp_rfdetr(const void *pa, const void *pb) { /* select.c cmp_prob_desc */
    const host_det *a = (const host_det *)pa, *b = (const host_det *)pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->flat - b->flat;
}

rfs_status rfs_cuda_pipe_collect(rfs_net *base, int lane, rfs_result *results,
                                            rfs_stage_times *times) {
    cuda_state *cs = cuda_net(base)->lane[lane];
    pipe_lane *pl = cs ? cs->pipe : NULL;
    if (!pl || !pl->busy) return rfs_fail(RFS_ERR_ARG, "CUDA lane %d has no batch in flight", lane);
    const double t0 = now_ms();
    CUDA_CHECK(cudaSetDevice(cs->device));
    CUDA_CHECK(cudaEventSynchronize(pl->ev_done));
    pl->busy = 0;
    const double t1 = now_ms();
    const pipe_graph *gr = pl->job;
    const pipe_geom *g = &gr->g;
    const int n = pl->n, K = g->K, rf = g->fg.preset == RFS_PRESET_ROBOFLOW;
    const pipe_hdr *hdr = (const pipe_hdr *)pl->h_out;
    rfs_status st;
    if (g->masks && hdr->overflow && (st = repack(pl, hdr->total_words)) != RFS_OK) return st;
    const int count = hdr->count;
    const pipe_cand *rec = (const pipe_cand *)(pl->h_out + sizeof(pipe_hdr));
    const float *rows = (const float *)(pl->h_out + pl->rows_off);
    /* group the candidates by image (counting sort) */
    int *start = pl->cnt;
    memset(start, 0, sizeof(int) * (n + 1));
    for (int i = 0; i < count; i++) start[rec[i].img + 1]++;
    for (int b = 0; b < n; b++) start[b + 1] += start[b];
    for (int i = 0; i < count; i++) pl->order[start[rec[i].img]++] = i;
    for (int b = n; b > 0; b--) start[b] = start[b - 1];
    start[0] = 0;
    host_det *dets = pl->dets;
    int njobs = 0;
    size_t pixels = 0;
    for (int b = 0; b < n; b++) {
        int nd = 0;
        for (int j = start[b]; j < start[b + 1]; j++) {
            const int i = pl->order[j];
            const pipe_cand *r = &rec[i];
            const float *row = rows + (size_t)i * K;
            if (!rf) { /* all pairs above the threshold, then the top-k of those */
                for (int c = 0; c < K; c++) {
                    const float p = rfs_sigmoidf(row[c]);
                    if (p > pl->thr[0]) dets[nd++] = (host_det){p, r->query, c, r->query * K + c, i};
                }
                continue;
            }
            float p;
            int cls;
            if (r->flags & PIPE_FULLROW) { /* select.c rfs_select_argmax, this query */
                int best = 0;
                p = rfs_sigmoidf(row[0]);
                for (int c = 1; c < K; c++) {
                    const float pc = rfs_sigmoidf(row[c]);
                    if (pc > p) p = pc, best = c;
                }
                cls = pl->cls_of[best];
                if (cls < 0) continue;
            } else {
                p = rfs_sigmoidf(r->logit);
                cls = r->cls;
            }
            const float t = cls < pl->nthr ? pl->thr[cls] : pl->thr[0];
            if (!(p > t)) continue;
            dets[nd++] = (host_det){p, r->query, cls, r->query, i};
        }
        qsort(dets, (size_t)nd, sizeof *dets, rf ? cmp_roboflow : cmp_rfdetr);
        if (!rf && nd > base->m->cfg.num_select) nd = base->m->cfg.num_select;
        /* the result: detections, then the masks in one pool */
        rfs_result *res = &results[b];
        if (rfs_result_reserve(res, nd) != RFS_OK || rfs_result_set_preset(res, g->fg.preset) != RFS_OK)
            return rfs_fail(RFS_ERR_NOMEM, "out of memory for %d detections", nd);
        res->width = g->fg.W, res->height = g->fg.H, res->count = nd;
        size_t pool = 0;
        for (int d = 0; d < nd && pl->want_masks; d++) {
            const int *bb = rec[dets[d].rec].bb;
            if (bb[2] >= 0) pool += (size_t)(bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1);
        }
        uint8_t *pool_base = rfs_result_pool(res, pool);
        if (!pool_base) return rfs_fail(RFS_ERR_NOMEM, "out of memory for masks (%zu bytes)", pool);
        if ((size_t)(njobs + nd) > pl->jobs_cap) {
            size_t cap = pl->jobs_cap ? pl->jobs_cap : 256;
            while (cap < (size_t)(njobs + nd)) cap *= 2;
            rfs_unpack_job *nj = (rfs_unpack_job *)realloc(pl->jobs, sizeof *nj * cap);
            if (!nj) return rfs_fail(RFS_ERR_NOMEM, "out of memory for %zu mask jobs", cap);
            pl->jobs = nj, pl->jobs_cap = cap;
        }
        size_t at = 0;
        for (int d = 0; d < nd; d++) {
            rfs_detection *o = &res->dets[d];
            const pipe_cand *r = &rec[dets[d].rec];
            o->score = dets[d].score;
            o->class_id = dets[d].cls;
            o->query = dets[d].query;
            o->tracker_id = -1;
            memcpy(o->box, r->box, sizeof o->box);
            memset(&o->mask, 0, sizeof o->mask);
            if (!pl->want_masks || r->bb[2] < 0) continue;
            rfs_mask *m = &o->mask;
            m->w = r->bb[2] - r->bb[0] + 1, m->h = r->bb[3] - r->bb[1] + 1;
            m->x0 = r->bb[0] + (rf ? g->fg.crop_x : 0), m->y0 = r->bb[1] + (rf ? g->fg.crop_y : 0);
            m->data = pool_base + at;
            pl->jobs[njobs++] = (rfs_unpack_job){m->data, pl->h_words + r->off, m->w, m->h};
            at += (size_t)m->w * m->h;
        }
        pixels += at;
    }
    const double t2 = now_ms();
    rfs_pipe_unpack(pl->jobs, njobs, pixels);
    times->preprocess_ms += pl->submit_ms;
    times->forward_ms += t1 - t0;
    times->select_ms += t2 - t1;
    times->masks_ms += now_ms() - t2;
    times->frames += n;
    times->batches++;
    return RFS_OK;
}

static int cmp_dbl(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

rfs_status rfs_cuda_pipe_profile(rfs_net *base, const rfs_image *frames, int n,
                                            const rfs_predict_opts *o, int iters,
                                            rfs_profile *out) {
    static const char *names[PIPE_STAGES] = {"upload + preprocess", "network", "selection",
                                             "masks (window, bbox, pack)", "copy-out"};
    memset(out, 0, sizeof *out);
    if (iters < 1) iters = 1;
    rfs_result *res = (rfs_result *)calloc((size_t)n, sizeof *res);
    double *t = (double *)malloc(sizeof(double) * (size_t)iters * (PIPE_STAGES + 1));
    if (!res || !t) {
        free(res), free(t);
        return rfs_fail(RFS_ERR_NOMEM, "out of memory");
    }
    rfs_stage_times scratch = {0, 0, 0, 0, 0, 0};
    rfs_status st = RFS_OK;
    for (int w = 0; w < 2 && st == RFS_OK; w++) /* eager + capture, then a replay */
        if ((st = rfs_cuda_pipe_submit(base, 0, frames, n, o)) == RFS_OK)
            st = rfs_cuda_pipe_collect(base, 0, res, &scratch);
    pipe_lane *pl = st == RFS_OK ? cuda_net(base)->lane[0]->pipe : NULL;
    if (pl && pl->job->exec) {
        cudaStream_t stm = pl->cs->st;
        for (int i = 0; i < iters; i++) {
            CUDA_CHECK(cudaEventRecord(pl->ev[0], stm));
            CUDA_CHECK(cudaGraphLaunch(pl->job->exec, stm));
            CUDA_CHECK(cudaEventRecord(pl->ev[PIPE_STAGES], stm));
            CUDA_CHECK(cudaEventSynchronize(pl->ev[PIPE_STAGES]));
            float ms;
            CUDA_CHECK(cudaEventElapsedTime(&ms, pl->ev[0], pl->ev[PIPE_STAGES]));
            t[i] = ms;
        }
        qsort(t, (size_t)iters, sizeof *t, cmp_dbl);
        out->network_ms = t[iters / 2];
        out->network_min_ms = t[0];
        for (int i = 0; i < iters; i++) {
            pipe_enqueue(base->m, pl, pl->job, 1);
            CUDA_CHECK(cudaStreamSynchronize(stm));
            for (int k = 0; k < PIPE_STAGES; k++) {
                float ms;
                CUDA_CHECK(cudaEventElapsedTime(&ms, pl->ev[k], pl->ev[k + 1]));
                t[(size_t)k * iters + i] = ms;
            }
        }
        out->nstages = PIPE_STAGES;
        for (int k = 0; k < PIPE_STAGES; k++) {
            qsort(t + (size_t)k * iters, (size_t)iters, sizeof *t, cmp_dbl);
            out->stage[k] = names[k];
            out->stage_ms[k] = t[(size_t)k * iters + iters / 2];
        }
    }
    for (int i = 0; i < n; i++) rfs_result_free(&res[i]);
    free(res);
    free(t);
    return st;
}
