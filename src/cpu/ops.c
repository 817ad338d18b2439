/* ops.c - reference CPU ops (see ops.h for layouts). GEMMs go to OpenBLAS; everything
 * else is plain C with OpenMP over rows. Reductions that decide accuracy (LayerNorm
 * statistics, softmax sums, sampling coordinates) run in double: the CPU path is the
 * oracle the GPU is checked against, and it is checked against float64 references. */
#include "cpu/ops.h"

#include "cpu/fastmath.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* The transcendental loops are compiled twice, for the baseline and for x86-64-v3 (AVX2),
 * and picked at load time: twice the vector width where the machine has it. Contraction
 * stays off in both (the Makefile's -ffp-contract=off), so both give the same results. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RFS_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define RFS_CLONES
#endif

RFS_CLONES static void gelu_span(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = rfs_gelu(x[i]);
}

RFS_CLONES static void exp_span(float *x, int n, float shift) {
    for (int j = 0; j < n; j++) x[j] = rfs_expf(x[j] - shift);
}

void rfs_act_cpu(float *x, size_t n, rfs_act act) {
    switch (act) {
    case RFS_ACT_NONE: return;
    case RFS_ACT_RELU:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.f ? x[i] : 0.f;
        return;
    case RFS_ACT_GELU: /* exact erf form */
        if (n <= 16384) {
            gelu_span(x, n);
            return;
        }
#pragma omp parallel for schedule(static)
        for (size_t i0 = 0; i0 < n; i0 += 4096) gelu_span(x + i0, n - i0 < 4096 ? n - i0 : 4096);
        return;
    case RFS_ACT_SILU:
#pragma omp parallel for schedule(static) if (n > 16384)
        for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] / (1.0 + exp(-(double)x[i])));
        return;
    }
}

static void act_rows(float *y, int ldy, int M, int N, rfs_act act) {
    if (act == RFS_ACT_NONE) return;
    if (ldy == N) {
        rfs_act_cpu(y, (size_t)M * N, act);
        return;
    }
    for (int i = 0; i < M; i++) rfs_act_cpu(y + (size_t)i * ldy, (size_t)N, act);
}

void rfs_linear_cpu(float *y, int ldy, const float *x, int ldx, const float *w,
                    const float *b, int M, int N, int K, rfs_act act) {
    if (M <= 0 || N <= 0) return;
    float beta = 0.f;
    if (b) {
        for (int i = 0; i < M; i++) memcpy(y + (size_t)i * ldy, b, sizeof(float) * (size_t)N);
        beta = 1.f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, x, ldx, w, K, beta, y,
                ldy);
    act_rows(y, ldy, M, N, act);
}

void rfs_layernorm_cpu(float *y, int ldy, const float *x, int ldx, const float *g,
                       const float *b, int M, int C, float eps) {
#pragma omp parallel for schedule(static) if (M > 64)
    for (int i = 0; i < M; i++) {
        const float *xi = x + (size_t)i * ldx;
        float *yi = y + (size_t)i * ldy;
        double s = 0;
        for (int c = 0; c < C; c++) s += xi[c];
        double mean = s / C, v = 0;
        for (int c = 0; c < C; c++) {
            double d = xi[c] - mean;
            v += d * d;
        }
        double rstd = 1.0 / sqrt(v / C + (double)eps);
        for (int c = 0; c < C; c++) yi[c] = (float)((xi[c] - mean) * rstd * g[c] + b[c]);
    }
}

/* Query rows are processed in blocks so that scratch stays small for long sequences
 * (seg-2xlarge's global layers attend over 4100 tokens). */
enum { ATT_QB = 64 };

size_t rfs_attention_scratch(int T, int threads) { return (size_t)threads * ATT_QB * T; }

void rfs_attention_cpu(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                       const float *v, int ldv, int nseq, int T, int heads, int dh,
                       int threads, float *scratch) {
    const int nqb = (T + ATT_QB - 1) / ATT_QB;
    const long jobs = (long)nseq * heads * nqb;
    const float scale = (float)(1.0 / sqrt((double)dh));
    /* the team never exceeds `threads`, so every thread number owns a scratch block */
#pragma omp parallel num_threads(threads)
    {
        float *S = scratch + (size_t)omp_get_thread_num() * ATT_QB * T;
#pragma omp for schedule(dynamic, 1)
        for (long job = 0; job < jobs; job++) {
            int qb = (int)(job % nqb);
            int h = (int)(job / nqb % heads);
            int sq = (int)(job / nqb / heads);
            int r0 = qb * ATT_QB, nr = T - r0 < ATT_QB ? T - r0 : ATT_QB;
            size_t base = (size_t)sq * T;
            const float *qh = q + (base + r0) * ldq + h * dh;
            const float *kh = k + base * ldk + h * dh;
            const float *vh = v + base * ldv + h * dh;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, T, dh, scale, qh, ldq, kh,
                        ldk, 0.f, S, T);
            for (int r = 0; r < nr; r++) {
                float *row = S + (size_t)r * T;
                float mx = row[0];
                for (int j = 1; j < T; j++) mx = row[j] > mx ? row[j] : mx;
                double sum = 0;
                exp_span(row, T, mx);
                for (int j = 0; j < T; j++) sum += row[j];
                float inv = (float)(1.0 / sum);
                for (int j = 0; j < T; j++) row[j] *= inv;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, dh, T, 1.f, S, T, vh, ldv,
                        0.f, out + (base + r0) * ldo + h * dh, ldo);
        }
    }
}

void rfs_im2col3x3_cpu(float *col, const float *x, int ldx, int H, int W, int C) {
    const int K = C * 9;
#pragma omp parallel for schedule(static)
    for (int y = 0; y < H; y++) {
        for (int xx = 0; xx < W; xx++) {
            float *dst = col + ((size_t)y * W + xx) * K;
            for (int ky = 0; ky < 3; ky++) {
                int sy = y + ky - 1;
                for (int kx = 0; kx < 3; kx++) {
                    int sx = xx + kx - 1;
                    int tap = ky * 3 + kx;
                    if (sy < 0 || sy >= H || sx < 0 || sx >= W) {
                        for (int c = 0; c < C; c++) dst[c * 9 + tap] = 0.f;
                    } else {
                        const float *src = x + ((size_t)sy * W + sx) * ldx;
                        for (int c = 0; c < C; c++) dst[c * 9 + tap] = src[c];
                    }
                }
            }
        }
    }
}

void rfs_dwconv3x3_cpu(float *y, const float *x, const float *w, const float *b, int H,
                       int W, int C) {
#pragma omp parallel for schedule(static)
    for (int yy = 0; yy < H; yy++) {
        for (int xx = 0; xx < W; xx++) {
            float *dst = y + ((size_t)yy * W + xx) * C;
            for (int c = 0; c < C; c++) dst[c] = b[c];
            for (int ky = 0; ky < 3; ky++) {
                int sy = yy + ky - 1;
                if (sy < 0 || sy >= H) continue;
                for (int kx = 0; kx < 3; kx++) {
                    int sx = xx + kx - 1;
                    if (sx < 0 || sx >= W) continue;
                    const float *src = x + ((size_t)sy * W + sx) * C;
                    const int tap = ky * 3 + kx;
                    for (int c = 0; c < C; c++) dst[c] += w[c * 9 + tap] * src[c];
                }
            }
        }
    }
}

/* PyTorch's area_pixel_compute_source_index for linear modes, align_corners=False. */
static void linear_taps(int out, int in, int i, int *i0, int *i1, double *l1) {
    double scale = (double)in / out;
    double src = scale * (i + 0.5) - 0.5;
    if (src < 0) src = 0;
    int a = (int)src;
    if (a > in - 1) a = in - 1;
    *i0 = a;
    *i1 = a < in - 1 ? a + 1 : a;
    *l1 = src - a;
}

void rfs_resize_bilinear_hwc_cpu(float *y, int Ho, int Wo, const float *x, int Hi, int Wi,
                                 int C) {
#pragma omp parallel for schedule(static)
    for (int oy = 0; oy < Ho; oy++) {
        int y0, y1;
        double ly;
        linear_taps(Ho, Hi, oy, &y0, &y1, &ly);
        for (int ox = 0; ox < Wo; ox++) {
            int x0, x1;
            double lx;
            linear_taps(Wo, Wi, ox, &x0, &x1, &lx);
            const float *p00 = x + ((size_t)y0 * Wi + x0) * C, *p01 = x + ((size_t)y0 * Wi + x1) * C;
            const float *p10 = x + ((size_t)y1 * Wi + x0) * C, *p11 = x + ((size_t)y1 * Wi + x1) * C;
            float *dst = y + ((size_t)oy * Wo + ox) * C;
            double w00 = (1 - ly) * (1 - lx), w01 = (1 - ly) * lx, w10 = ly * (1 - lx), w11 = ly * lx;
            for (int c = 0; c < C; c++)
                dst[c] = (float)(w00 * p00[c] + w01 * p01[c] + w10 * p10[c] + w11 * p11[c]);
        }
    }
}

void rfs_msda_cpu(float *out, const float *value, int H, int W, const float *offaw, int ldoa,
                  const float *ref, int nq, int heads, int dh, int npts) {
    const int C = heads * dh;
#pragma omp parallel for schedule(static)
    for (int q = 0; q < nq; q++) {
        const float *off = offaw + (size_t)q * ldoa;
        const float *aw = off + heads * npts * 2;
        const float *r = ref + (size_t)q * 4;
        float *o = out + (size_t)q * C;
        for (int h = 0; h < heads; h++) {
            double wts[64], mx = -INFINITY, sum = 0;
            for (int p = 0; p < npts; p++) mx = fmax(mx, aw[h * npts + p]);
            for (int p = 0; p < npts; p++) sum += wts[p] = exp(aw[h * npts + p] - mx);
            double acc[256] = {0};
            for (int p = 0; p < npts; p++) {
                double a = wts[p] / sum;
                const float *oxy = off + (h * npts + p) * 2;
                double lx = r[0] + oxy[0] / npts * r[2] * 0.5;
                double ly = r[1] + oxy[1] / npts * r[3] * 0.5;
                double px = lx * W - 0.5, py = ly * H - 0.5;
                /* all four taps outside (also NaN): contributes zero */
                if (!(px > -1.0 && px < W && py > -1.0 && py < H)) continue;
                double fx = floor(px), fy = floor(py);
                int x0 = (int)fx, y0 = (int)fy;
                double ax = px - fx, ay = py - fy;
                for (int t = 0; t < 4; t++) {
                    int sx = x0 + (t & 1), sy = y0 + (t >> 1);
                    if (sx < 0 || sx >= W || sy < 0 || sy >= H) continue;
                    double wt = a * ((t & 1) ? ax : 1 - ax) * ((t >> 1) ? ay : 1 - ay);
                    const float *vp = value + ((size_t)sy * W + sx) * C + h * dh;
                    for (int d = 0; d < dh; d++) acc[d] += wt * vp[d];
                }
            }
            for (int d = 0; d < dh; d++) o[h * dh + d] = (float)acc[d];
        }
    }
}

/* ---- the network's own steps ------------------------------------------------------------ */

void rfs_patch_gather_cpu(float *patches, const float *img, int R, int ps, int threads) {
    const int G = R / ps, K = 3 * ps * ps;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int p = 0; p < G * G; p++) {
        int py = p / G, px = p % G;
        float *dst = patches + (size_t)p * K;
        for (int ci = 0; ci < 3; ci++)
            for (int ky = 0; ky < ps; ky++)
                memcpy(dst + (ci * ps + ky) * ps,
                       img + ((size_t)ci * R + py * ps + ky) * R + px * ps, sizeof(float) * ps);
    }
}

void rfs_embed_cpu(float *x, const float *pe, const float *cls, const float *pos, int G,
                   int nw, int D) {
    const int gw = G / nw, Tw = 1 + gw * gw;
    for (int wy = 0; wy < nw; wy++)
        for (int wx = 0; wx < nw; wx++) {
            float *seq = x + (size_t)(wy * nw + wx) * Tw * D;
            for (int d = 0; d < D; d++) seq[d] = cls[d] + pos[d];
            for (int yy = 0; yy < gw; yy++)
                for (int xx = 0; xx < gw; xx++) {
                    int gy = wy * gw + yy, gx = wx * gw + xx;
                    const float *src = pe + (size_t)(gy * G + gx) * D;
                    const float *pp = pos + (size_t)(1 + gy * G + gx) * D;
                    float *dst = seq + (size_t)(1 + yy * gw + xx) * D;
                    for (int d = 0; d < D; d++) dst[d] = src[d] + pp[d];
                }
        }
}

/* The grid proposal of token t: (x + 0.5) / G, (y + 0.5) / G, 0.05, 0.05, or all zero when
 * any coordinate falls outside (0.01, 0.99). Returns whether it is valid. */
static int grid_proposal(float p[4], int t, int G) {
    p[0] = (float)((t % G) + 0.5f) / (float)G;
    p[1] = (float)((t / G) + 0.5f) / (float)G;
    p[2] = p[3] = 0.05f;
    int valid = 1;
    for (int k = 0; k < 4; k++) valid &= p[k] > 0.01f && p[k] < 0.99f;
    if (!valid) memset(p, 0, sizeof(float) * 4);
    return valid;
}

void rfs_mask_invalid_cpu(float *omem, const float *mem, int G, int C) {
    for (int t = 0; t < G * G; t++) {
        float p[4];
        if (grid_proposal(p, t, G)) memcpy(omem + (size_t)t * C, mem + (size_t)t * C, sizeof(float) * C);
        else memset(omem + (size_t)t * C, 0, sizeof(float) * C);
    }
}

static void reparam(float *box, const float *d, const float *p) {
    box[0] = d[0] * p[2] + p[0];
    box[1] = d[1] * p[3] + p[1];
    box[2] = expf(d[2]) * p[2];
    box[3] = expf(d[3]) * p[3];
}

static int cmp_score_desc(const void *pa, const void *pb, void *ctx) {
    const float *sc = ctx;
    int ia = *(const int *)pa, ib = *(const int *)pb;
    if (sc[ia] != sc[ib]) return sc[ia] > sc[ib] ? -1 : 1;
    return ia - ib; /* ties: lower index first (torch.topk leaves it unspecified) */
}

void rfs_two_stage_select_cpu(float *ref, int *order, float *enc_boxes, float *score,
                              const float *enc_cls, int K, const float *enc_d,
                              const float *refpoint, int G, int nq) {
    const int N = G * G;
    for (int t = 0; t < N; t++) {
        float p[4];
        grid_proposal(p, t, G);
        reparam(enc_boxes + (size_t)t * 4, enc_d + (size_t)t * 4, p);
        const float *row = enc_cls + (size_t)t * K;
        float mx = row[0];
        for (int k = 1; k < K; k++) mx = row[k] > mx ? row[k] : mx;
        score[t] = mx;
        order[t] = t;
    }
    qsort_r(order, (size_t)N, sizeof(int), cmp_score_desc, score);
    const int k = nq < N ? nq : N;
    for (int i = 0; i < nq; i++) {
        const float *r = refpoint + (size_t)i * 4;
        if (i < k) reparam(ref + (size_t)i * 4, r, enc_boxes + (size_t)order[i] * 4);
        else memcpy(ref + (size_t)i * 4, r, sizeof(float) * 4);
    }
}

void rfs_sine_embed_cpu(float *sine, const float *ref, int rows, int C) {
    static const int comp[4] = {1, 0, 2, 3};
    const int F = C / 2;
    for (int q = 0; q < rows; q++)
        for (int j = 0; j < 4; j++) {
            float v = ref[q * 4 + comp[j]] * (float)(2 * M_PI);
            float *e = sine + (size_t)q * 2 * C + j * F;
            for (int k = 0; k < F; k++) {
                float dt = powf(10000.f, (float)(2 * (k / 2)) / (float)F);
                float u = v / dt;
                e[k] = k % 2 ? cosf(u) : sinf(u);
            }
        }
}

void rfs_box_reparam_cpu(float *boxes, const float *deltas, const float *ref, int rows) {
    for (int q = 0; q < rows; q++)
        reparam(boxes + (size_t)q * 4, deltas + (size_t)q * 4, ref + (size_t)q * 4);
}
