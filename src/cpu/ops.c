/* ops.c - reference CPU ops (see ops.h for layouts). The products and the attention run on
 * the engine's kernels (gemm.h, attention.h; weights packed per call, buffers allocated per
 * call: these serve the tests and the trace, the forward pass packs once); everything else
 * is plain C with OpenMP over rows. Reductions that decide accuracy (LayerNorm
 * statistics, softmax sums, sampling coordinates) run in double: the CPU path is the
 * oracle the GPU is checked against, and it is checked against float64 references. */
#include "cpu/ops.h"

#include "cpu/attention.h"
#include "cpu/fastmath.h"
#include "cpu/gemm.h"

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

/* Naive product for when the packed one cannot get its buffers. */
static void linear_naive(float *y, int ldy, const float *x, int ldx, const float *w,
                         const float *b, int M, int N, int K) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = b ? b[j] : 0.0;
            for (int k = 0; k < K; k++) s += (double)x[(size_t)i * ldx + k] * w[(size_t)j * K + k];
            y[(size_t)i * ldy + j] = (float)s;
        }
}

void rfs_linear_cpu(float *y, int ldy, const float *x, int ldx, const float *w,
                    const float *b, int M, int N, int K, rfs_act act) {
    if (M <= 0 || N <= 0) return;
    const int nt = omp_get_max_threads();
    rfs_packed p;
    float *scratch = NULL, *shared = NULL;
    int packed = rfs_pack_linear(&p, w, K, b, N, K, RFS_WF_F32) == 0;
    if (packed) {
        scratch = malloc(sizeof(float) * rfs_gemm_scratch(K) * (size_t)nt);
        shared = malloc(sizeof(float) * rfs_gemm_shared(M, K));
    }
    if (packed && scratch && shared) {
        rfs_gemm_desc g = {.M = M, .w = &p, .a = x, .lda = ldx,
                           .act = act == RFS_ACT_SILU ? RFS_ACT_NONE : act, .c = y, .ldc = ldy};
        rfs_gemm(&g, rfs_cpu_isa_active(), nt, scratch, rfs_gemm_scratch(K), shared);
        if (act == RFS_ACT_SILU)
            for (int i = 0; i < M; i++) rfs_act_cpu(y + (size_t)i * ldy, (size_t)N, act);
    } else {
        linear_naive(y, ldy, x, ldx, w, b, M, N, K);
        for (int i = 0; i < M; i++) rfs_act_cpu(y + (size_t)i * ldy, (size_t)N, act);
    }
    if (packed) rfs_packed_free(&p);
    free(scratch);
    free(shared);
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

/* softmax(q k^T / sqrt(dh)) v row by row in double, online (running max and sum), no
 * buffers: for when the engine's cannot be had */
void rfs_attention_naive_cpu(float *out, int ldo, const float *q, int ldq, const float *k,
                             int ldk, const float *v, int ldv, int nseq, int T, int heads,
                             int dh) {
    enum { CH = 256 };
    const double scale = 1.0 / sqrt((double)dh);
#pragma omp parallel for schedule(dynamic, 1)
    for (long r = 0; r < (long)nseq * T; r++) {
        const long base = r / T * T;
        for (int h = 0; h < heads; h++)
            for (int c0 = 0; c0 < dh; c0 += CH) {
                const int nc = dh - c0 < CH ? dh - c0 : CH;
                const float *qr = q + r * ldq + h * dh;
                double acc[CH] = {0}, mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    const float *kj = k + (base + j) * ldk + h * dh;
                    const float *vj = v + (base + j) * ldv + h * dh + c0;
                    double sc = 0;
                    for (int d = 0; d < dh; d++) sc += (double)qr[d] * kj[d];
                    sc *= scale;
                    if (sc > mx) {
                        double f = exp(mx - sc);
                        sum *= f;
                        for (int d = 0; d < nc; d++) acc[d] *= f;
                        mx = sc;
                    }
                    double p = exp(sc - mx);
                    sum += p;
                    for (int d = 0; d < nc; d++) acc[d] += p * vj[d];
                }
                for (int d = 0; d < nc; d++) out[r * ldo + h * dh + c0 + d] = (float)(acc[d] / sum);
            }
    }
}

void rfs_attention_cpu(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                       const float *v, int ldv, int nseq, int T, int heads, int dh,
                       int threads) {
    const size_t per = rfs_attention_thread_scratch(T, dh);
    float *shared = malloc(sizeof(float) * rfs_attention_shared(nseq, T, heads, dh));
    float *thr = malloc(sizeof(float) * per * (size_t)(threads > 0 ? threads : 1));
    if (shared && thr) {
        rfs_attn_desc d = {out, ldo, q, k, v, ldq, ldk, ldv, nseq, T, heads, dh, 0};
        rfs_attention(&d, rfs_cpu_isa_active(), threads > 0 ? threads : 1, shared, thr, per);
    } else {
        rfs_attention_naive_cpu(out, ldo, q, ldq, k, ldk, v, ldv, nseq, T, heads, dh);
    }
    free(shared);
    free(thr);
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
/* ~200 thousand multiply-adds for seg-nano: a team costs more than it saves */
#pragma omp parallel for schedule(static) if ((long)nq * heads * npts * dh > (1L << 21))
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
    float dt[512]; /* powf per frequency, once per call (F beyond 512: in the loop) */
    for (int k = 0; k < F && k < 512; k++) dt[k] = powf(10000.f, (float)(2 * (k / 2)) / (float)F);
#pragma omp parallel for schedule(static) if (rows > 32)
    for (int q = 0; q < rows; q++)
        for (int j = 0; j < 4; j++) {
            float v = ref[q * 4 + comp[j]] * (float)(2 * M_PI);
            float *e = sine + (size_t)q * 2 * C + j * F;
            for (int k = 0; k < F; k++) {
                float u = v / (k < 512 ? dt[k] : powf(10000.f, (float)(2 * (k / 2)) / (float)F));
                e[k] = k % 2 ? cosf(u) : sinf(u);
            }
        }
}

void rfs_box_reparam_cpu(float *boxes, const float *deltas, const float *ref, int rows) {
    for (int q = 0; q < rows; q++)
        reparam(boxes + (size_t)q * 4, deltas + (size_t)q * 4, ref + (size_t)q * 4);
}
