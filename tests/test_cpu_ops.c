/* test_cpu_ops.c - the CPU ops against naive double-precision loops on random inputs of
 * awkward sizes (odd, prime, not multiples of any vector width). */
#include "harness.h"

#include "cpu/fastmath.h"
#include "cpu/ops.h"

#include <math.h>
#include <omp.h>

static uint64_t seed = 12345;
static float rnd(void) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((seed >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}
static float *rvec(size_t n, float scale) {
    float *v = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) v[i] = rnd() * scale;
    return v;
}
static double relerr(const float *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

TEST(fast_exp_and_gelu) {
    double worst_e = 0, worst_g = 0;
    for (int i = -870000; i <= 880000; i++) {
        float x = i * 1e-4f;
        double e = exp((double)x);
        worst_e = fmax(worst_e, fabs(rfs_expf(x) - e) / e);
    }
    for (int i = -200000; i <= 200000; i++) {
        float x = i * 5e-5f;
        double g = 0.5 * x * (1 + erf(x / sqrt(2.0)));
        worst_g = fmax(worst_g, fabs(rfs_gelu(x) - g) / fmax(fabs((double)x), 1e-30));
    }
    CHECKF(worst_e < 3e-7, "exp relative error %g", worst_e);
    CHECKF(worst_g < 3e-7, "gelu error relative to |x| %g", worst_g);
}

TEST(linear_and_act) {
    int M = 37, N = 53, K = 29, ldy = 61, ldx = 31;
    float *x = rvec((size_t)M * ldx, 1), *w = rvec((size_t)N * K, 1), *b = rvec(N, 1);
    float *y = calloc((size_t)M * ldy, sizeof(float));
    double *ref = malloc(sizeof(double) * M * N);
    rfs_act acts[] = {RFS_ACT_NONE, RFS_ACT_RELU, RFS_ACT_GELU, RFS_ACT_SILU};
    for (int a = 0; a < 4; a++) {
        rfs_linear_cpu(y, ldy, x, ldx, w, b, M, N, K, acts[a]);
        float *packed = malloc(sizeof(float) * M * N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = b[j];
                for (int k = 0; k < K; k++) s += (double)x[i * ldx + k] * w[j * K + k];
                if (acts[a] == RFS_ACT_RELU) s = s > 0 ? s : 0;
                if (acts[a] == RFS_ACT_GELU) s = 0.5 * s * (1 + erf(s / sqrt(2.0)));
                if (acts[a] == RFS_ACT_SILU) s = s / (1 + exp(-s));
                ref[i * N + j] = s;
                packed[i * N + j] = y[i * ldy + j];
            }
        double e = relerr(packed, ref, (size_t)M * N);
        CHECKF(e < 1e-6, "act %d: rel %g", a, e);
        free(packed);
    }
    free(x), free(w), free(b), free(y), free(ref);
}

TEST(layernorm) {
    int M = 19, C = 77;
    float *x = rvec((size_t)M * C, 3), *g = rvec(C, 1), *b = rvec(C, 1), *y = malloc(sizeof(float) * M * C);
    double *ref = malloc(sizeof(double) * M * C);
    for (int i = 0; i < M; i++) x[i * C] += 100; /* offset: statistics must not cancel */
    rfs_layernorm_cpu(y, C, x, C, g, b, M, C, 1e-6f);
    for (int i = 0; i < M; i++) {
        double mu = 0, v = 0;
        for (int c = 0; c < C; c++) mu += x[i * C + c];
        mu /= C;
        for (int c = 0; c < C; c++) v += (x[i * C + c] - mu) * (x[i * C + c] - mu);
        v /= C;
        for (int c = 0; c < C; c++) ref[i * C + c] = (x[i * C + c] - mu) / sqrt(v + 1e-6) * g[c] + b[c];
    }
    CHECKF(relerr(y, ref, (size_t)M * C) < 1e-6, "rel %g", relerr(y, ref, (size_t)M * C));
    free(x), free(g), free(b), free(y), free(ref);
}

TEST(attention) {
    int nseq = 3, T = 131, heads = 3, dh = 16, C = heads * dh, ld = 3 * C + 5;
    float *qkv = rvec((size_t)nseq * T * ld, 1), *out = malloc(sizeof(float) * nseq * T * C);
    rfs_attention_cpu(out, C, qkv, ld, qkv + C, ld, qkv + 2 * C, ld, nseq, T, heads, dh,
                      omp_get_max_threads());
    double *ref = calloc((size_t)nseq * T * C, sizeof(double)), *p = malloc(sizeof(double) * T);
    for (int s = 0; s < nseq; s++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < T; i++) {
                const float *q = qkv + ((size_t)s * T + i) * ld + h * dh;
                double mx = -1e300, sum = 0;
                for (int j = 0; j < T; j++) {
                    const float *k = qkv + ((size_t)s * T + j) * ld + C + h * dh;
                    double d = 0;
                    for (int t = 0; t < dh; t++) d += (double)q[t] * k[t];
                    p[j] = d / sqrt(dh);
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j < T; j++) sum += p[j] = exp(p[j] - mx);
                for (int j = 0; j < T; j++) {
                    const float *v = qkv + ((size_t)s * T + j) * ld + 2 * C + h * dh;
                    for (int t = 0; t < dh; t++) ref[((size_t)s * T + i) * C + h * dh + t] += p[j] / sum * v[t];
                }
            }
    double e = relerr(out, ref, (size_t)nseq * T * C);
    CHECKF(e < 1e-6, "rel %g", e);
    free(qkv), free(out), free(ref), free(p);
}

TEST(conv_and_resize) {
    int H = 7, W = 11, C = 5;
    float *x = rvec((size_t)H * W * C, 1), *col = malloc(sizeof(float) * H * W * C * 9);
    rfs_im2col3x3_cpu(col, x, C, H, W, C);
    int bad = 0;
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++)
            for (int c = 0; c < C; c++)
                for (int t = 0; t < 9; t++) {
                    int sy = y + t / 3 - 1, sx = xx + t % 3 - 1;
                    float want = sy < 0 || sy >= H || sx < 0 || sx >= W ? 0 : x[(sy * W + sx) * C + c];
                    bad += col[((size_t)y * W + xx) * C * 9 + c * 9 + t] != want;
                }
    CHECKF(bad == 0, "%d im2col mismatches", bad);
    float *w = rvec((size_t)C * 9, 1), *b = rvec(C, 1), *y = malloc(sizeof(float) * H * W * C);
    rfs_dwconv3x3_cpu(y, x, w, b, H, W, C);
    double worst = 0;
    for (int p = 0; p < H * W; p++)
        for (int c = 0; c < C; c++) {
            double s = b[c];
            for (int t = 0; t < 9; t++) s += (double)col[(size_t)p * C * 9 + c * 9 + t] * w[c * 9 + t];
            worst = fmax(worst, fabs(s - y[p * C + c]));
        }
    CHECKF(worst < 1e-5, "dwconv max err %g", worst);
    /* bilinear x3 (the seg head's upsample): a linear ramp stays a clamped linear ramp */
    int Ho = 21, Wo = 33;
    float *ramp = malloc(sizeof(float) * H * W), *up = malloc(sizeof(float) * Ho * Wo);
    for (int i = 0; i < H * W; i++) ramp[i] = (float)(i % W);
    rfs_resize_bilinear_hwc_cpu(up, Ho, Wo, ramp, H, W, 1);
    worst = 0;
    for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++) {
            double src = fmin(fmax((ox + 0.5) * W / Wo - 0.5, 0), W - 1);
            worst = fmax(worst, fabs(up[oy * Wo + ox] - src));
        }
    CHECKF(worst < 1e-5, "resize max err %g", worst);
    free(x), free(col), free(w), free(b), free(y), free(ramp), free(up);
}

TEST(deformable_sampling) {
    int H = 9, W = 13, heads = 3, dh = 4, npts = 2, nq = 5, C = heads * dh, ld = heads * npts * 3 + 1;
    float *value = rvec((size_t)H * W * C, 1), *offaw = rvec((size_t)nq * ld, 3), *out = malloc(sizeof(float) * nq * C);
    float ref4[4 * 5] = {0.5f, 0.5f, 0.3f, 0.2f, 0.02f, 0.9f, 0.5f, 0.5f, 0.99f, 0.01f, 0.1f,
                         0.1f, 0.3f, 0.7f, 0.05f, 0.05f, 0.5f, 0.5f, 2.0f, 2.0f};
    rfs_msda_cpu(out, value, H, W, offaw, ld, ref4, nq, heads, dh, npts);
    double worst = 0;
    for (int q = 0; q < nq; q++)
        for (int h = 0; h < heads; h++) {
            const float *off = offaw + (size_t)q * ld, *aw = off + heads * npts * 2;
            double mx = -1e300, sum = 0, wts[2];
            for (int p = 0; p < npts; p++) mx = fmax(mx, aw[h * npts + p]);
            for (int p = 0; p < npts; p++) sum += wts[p] = exp(aw[h * npts + p] - mx);
            for (int d = 0; d < dh; d++) {
                double acc = 0;
                for (int p = 0; p < npts; p++) {
                    const float *r = ref4 + q * 4;
                    double lx = r[0] + off[(h * npts + p) * 2] / npts * r[2] * 0.5;
                    double ly = r[1] + off[(h * npts + p) * 2 + 1] / npts * r[3] * 0.5;
                    double px = lx * W - 0.5, py = ly * H - 0.5, s = 0;
                    for (int yy = (int)floor(py); yy <= (int)floor(py) + 1; yy++)
                        for (int xx = (int)floor(px); xx <= (int)floor(px) + 1; xx++) {
                            if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                            s += (1 - fabs(px - xx)) * (1 - fabs(py - yy)) * value[((size_t)yy * W + xx) * C + h * dh + d];
                        }
                    acc += wts[p] / sum * s;
                }
                worst = fmax(worst, fabs(acc - out[q * C + h * dh + d]));
            }
        }
    CHECKF(worst < 1e-5, "msda max err %g", worst);
    free(value), free(offaw), free(out);
}

int main(void) {
    RUN(fast_exp_and_gelu);
    RUN(linear_and_act);
    RUN(layernorm);
    RUN(attention);
    RUN(conv_and_resize);
    RUN(deformable_sampling);
    return test_summary();
}
