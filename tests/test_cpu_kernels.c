/* test_cpu_kernels.c - the CPU engine's kernels (src/cpu/gemm*.c, attention, fused ops)
 * against double-precision loops, on every instruction-set path this machine has (capped
 * by RFS_CPU_ISA like the library), at awkward sizes: M, N, K not multiples of the tiles,
 * K = 1, one row, the longest window; 1, 2 and 3 threads.
 *
 * Bounds: GEMM, fp32 paths, norm-wise relative error ||y - ref|| / ||ref|| <= 2e-6
 * (products summed in fp32; K up to 1536); bf16 paths, against a double reference computed
 * from the same bf16-rounded operands: <= 1e-4 (fp32 accumulation; a LayerNorm output one
 * fp32 ulp away may round to the neighbouring bf16 now and then). Attention <= 2e-6 (fp32),
 * <= 1e-2 (bf16 against fp32). Row operations: stated at each check. The whole network on
 * every path: the parity bounds of test_model_parity. */
#include "harness.h"

#include "cpu/attention.h"
#include "cpu/cpu.h"
#include "cpu/gemm.h"
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "io/tensorfile.h"
#include "pipeline/session.h"

#include <math.h>
#include <omp.h>

static uint64_t seed = 777;
static float rnd(void) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((seed >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}
static float *rvec(size_t n, float scale) {
    float *v = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) v[i] = rnd() * scale;
    return v;
}

/* Paths to test: every level up to the active one that has its own kernel. */
static int isa_list(rfs_cpu_isa *out) {
    rfs_cpu_isa top = rfs_cpu_isa_active();
    int n = 0;
    for (int i = RFS_ISA_BASELINE; i <= (int)top && i <= RFS_ISA_AVX512; i++) out[n++] = (rfs_cpu_isa)i;
    return n;
}

static double q(double v, int bf16) { return bf16 ? rfs_bf16_to_f32(rfs_bf16((float)v)) : v; }

typedef struct gcase {
    int M, N, K;
    int ln, act, res, scale, lda_pad, ldc_pad;
} gcase;

/* One product through rfs_gemm against double loops; returns the relative error. */
static double run_case(const gcase *gc, rfs_wform form, rfs_cpu_isa isa, int nt) {
    const int M = gc->M, N = gc->N, K = gc->K, lda = K + gc->lda_pad, ldc = N + gc->ldc_pad;
    const int bf = form == RFS_WF_BF16;
    float *a = rvec((size_t)M * lda, 1), *w = rvec((size_t)N * K, 1), *b = rvec(N, 1);
    float *g = rvec(K, 1), *be = rvec(K, 1), *sc = rvec(N, 1);
    float *c = rvec((size_t)M * ldc, 1); /* also the residual when res is set */
    for (int i = 0; i < M; i++) a[(size_t)i * lda] += 5; /* LN statistics must not cancel */
    double *ref = malloc(sizeof(double) * (size_t)M * N), *xn = malloc(sizeof(double) * K);
    for (int i = 0; i < M; i++) {
        const float *x = a + (size_t)i * lda;
        if (gc->ln) {
            double mu = 0, v = 0;
            for (int k = 0; k < K; k++) mu += x[k];
            mu /= K;
            for (int k = 0; k < K; k++) v += (x[k] - mu) * (x[k] - mu);
            double rs = 1 / sqrt(v / K + 1e-6);
            for (int k = 0; k < K; k++) xn[k] = q((float)((x[k] - mu) * rs * g[k] + be[k]), bf);
        } else {
            for (int k = 0; k < K; k++) xn[k] = q(x[k], bf);
        }
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += xn[k] * q(w[(size_t)j * K + k], bf);
            s += b[j];
            if (gc->act == RFS_ACT_RELU) s = s > 0 ? s : 0;
            if (gc->act == RFS_ACT_GELU) s = 0.5 * s * (1 + erf(s / sqrt(2.0)));
            if (gc->res) s = c[(size_t)i * ldc + j] + (gc->scale ? sc[j] : 1.0) * s;
            ref[(size_t)i * N + j] = s;
        }
    }
    rfs_packed p;
    CHECK(rfs_pack_linear(&p, w, K, b, N, K, form) == 0);
    rfs_gemm_desc gm = {.M = M, .w = &p, .a = a, .lda = lda, .ln_g = gc->ln ? g : NULL, .ln_b = be,
                   .ln_eps = 1e-6f, .act = (rfs_act)gc->act, .res = gc->res ? c : NULL, .ldr = ldc,
                   .res_scale = gc->scale ? sc : NULL, .c = c, .ldc = ldc};
    float *scratch = malloc(sizeof(float) * rfs_gemm_scratch(K) * nt);
    float *ash = malloc(sizeof(float) * rfs_gemm_shared(M, K));
    rfs_gemm(&gm, isa, nt, scratch, rfs_gemm_scratch(K), ash);
    free(ash);
    double num = 0, den = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double d = c[(size_t)i * ldc + j] - ref[(size_t)i * N + j];
            num += d * d;
            den += ref[(size_t)i * N + j] * ref[(size_t)i * N + j];
        }
    rfs_packed_free(&p);
    free(a), free(w), free(b), free(g), free(be), free(sc), free(c), free(ref), free(xn), free(scratch);
    return sqrt(num / (den > 0 ? den : 1));
}

static const gcase CASES[] = {
    {1, 1, 1, 0, RFS_ACT_NONE, 0, 0, 0, 0},
    {1, 33, 1, 0, RFS_ACT_RELU, 0, 0, 3, 1},
    {13, 31, 7, 1, RFS_ACT_GELU, 0, 0, 1, 0},
    {14, 32, 64, 0, RFS_ACT_NONE, 1, 1, 0, 0},
    {15, 33, 65, 1, RFS_ACT_NONE, 1, 0, 2, 5},
    {29, 100, 97, 0, RFS_ACT_GELU, 1, 1, 0, 3},
    {37, 4, 256, 0, RFS_ACT_RELU, 0, 0, 0, 0},
    {100, 91, 256, 0, RFS_ACT_NONE, 0, 0, 0, 0},
    {677, 96, 384, 1, RFS_ACT_NONE, 0, 0, 0, 0},
    {677, 200, 1536, 0, RFS_ACT_NONE, 1, 1, 0, 0},
    {103, 64, 1152, 0, RFS_ACT_GELU, 0, 0, 0, 0},
};

TEST(gemm_fp32_every_path) {
    rfs_cpu_isa isas[8];
    int ni = isa_list(isas);
    for (int ii = 0; ii < ni; ii++) {
        double worst = 0;
        for (size_t ci = 0; ci < sizeof CASES / sizeof CASES[0]; ci++)
            for (int nt = 1; nt <= 3; nt++) {
                const gcase *gc = &CASES[ci];
                double e = run_case(gc, RFS_WF_F32, isas[ii], nt);
                worst = e > worst ? e : worst;
                CHECKF(e <= 2e-6, "%s M=%d N=%d K=%d ln=%d act=%d res=%d threads=%d: rel %.3g",
                       rfs_cpu_isa_name(isas[ii]), gc->M, gc->N, gc->K, gc->ln, gc->act, gc->res,
                       nt, e);
            }
        printf("  %s: worst rel %.2e\n", rfs_cpu_isa_name(isas[ii]), worst);
    }
}

TEST(gemm_bf16) {
    rfs_cpu_isa top = rfs_cpu_isa_active();
    if (top < RFS_ISA_AVX512BF16) {
        printf("  (no AVX512_BF16 here: %s)\n", rfs_cpu_isa_name(top));
        return;
    }
    for (int isa = RFS_ISA_AVX512BF16; isa <= (int)top; isa++) {
        double worst = 0;
        for (size_t ci = 0; ci < sizeof CASES / sizeof CASES[0]; ci++)
            for (int nt = 1; nt <= 2; nt++) {
                const gcase *gc = &CASES[ci];
                double e = run_case(gc, RFS_WF_BF16, (rfs_cpu_isa)isa, nt);
                worst = e > worst ? e : worst;
                CHECKF(e <= 1e-4, "%s M=%d N=%d K=%d ln=%d act=%d res=%d threads=%d: rel %.3g",
                       rfs_cpu_isa_name((rfs_cpu_isa)isa), gc->M, gc->N, gc->K, gc->ln, gc->act,
                       gc->res, nt, e);
            }
        printf("  %s: worst rel %.2e\n", rfs_cpu_isa_name((rfs_cpu_isa)isa), worst);
    }
}

/* Attention against double loops on every stride-th query row; returns the relative error. */
static double attn_case(int nseq, int T, int heads, int dh, int stride, rfs_cpu_isa isa, int nt,
                        int bf16) {
    const int C = heads * dh, ld = 3 * C + 5, ldo = C + 3;
    const size_t rows = (size_t)nseq * T;
    float *qkv = rvec(rows * ld, 2), *out = rvec(rows * ldo, 1);
    float *shared = malloc(sizeof(float) * rfs_attention_shared(nseq, T, heads, dh));
    float *scratch = malloc(sizeof(float) * rfs_attention_thread_scratch(T, dh) * (nt ? nt : 1));
    rfs_attn_desc a = {out, ldo, qkv, qkv + C, qkv + 2 * C, ld, ld, ld, nseq, T, heads, dh, bf16};
    if (nt == 0) /* the buffer-free fallback of rfs_attention_cpu */
        rfs_attention_naive_cpu(out, ldo, qkv, ld, qkv + C, ld, qkv + 2 * C, ld, nseq, T, heads, dh);
    else
        rfs_attention(&a, isa, nt, shared, scratch, rfs_attention_thread_scratch(T, dh));
    double num = 0, den = 0, *sc = malloc(sizeof(double) * T);
    for (int sq = 0; sq < nseq; sq++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < T; i += stride) {
                const float *qi = qkv + ((size_t)sq * T + i) * ld + h * dh;
                double mx = -1e300, sum = 0;
                for (int j = 0; j < T; j++) {
                    const float *kj = qkv + ((size_t)sq * T + j) * ld + C + h * dh;
                    double s = 0;
                    for (int d = 0; d < dh; d++) s += (double)qi[d] * kj[d];
                    sc[j] = s / sqrt((double)dh);
                    mx = sc[j] > mx ? sc[j] : mx;
                }
                for (int j = 0; j < T; j++) sum += sc[j] = exp(sc[j] - mx);
                for (int d = 0; d < dh; d++) {
                    double o = 0;
                    for (int j = 0; j < T; j++) o += sc[j] * qkv[((size_t)sq * T + j) * ld + 2 * C + h * dh + d];
                    o /= sum;
                    double e = out[((size_t)sq * T + i) * ldo + h * dh + d] - o;
                    num += e * e;
                    den += o * o;
                }
            }
    free(qkv), free(out), free(shared), free(scratch), free(sc);
    return sqrt(num / (den > 0 ? den : 1));
}

TEST(attention_every_path) {
    static const int cases[][5] = {
        /* nseq, T, heads, dh, stride */
        {1, 1, 3, 16, 1},      /* one token */
        {4, 15, 2, 64, 1},     /* windows shorter than a row block */
        {2, 33, 8, 32, 1},     /* decoder self-attention shape, keys past one panel */
        {3, 29, 4, 16, 1},     /* fixture widths: dh 16 */
        {1, 677, 2, 64, 7},    /* seg-nano: one window of 677 tokens */
        {1, 4100, 1, 64, 97},  /* the longest: seg-2xlarge global layers */
    };
    rfs_cpu_isa isas[8];
    int ni = isa_list(isas);
    for (int ii = 0; ii < ni; ii++) {
        double worst = 0;
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (int nt = 1; nt <= 3; nt += 2) {
                const int *k = cases[c];
                double e = attn_case(k[0], k[1], k[2], k[3], k[4], isas[ii], nt, 0);
                worst = e > worst ? e : worst;
                CHECKF(e <= 2e-6, "%s nseq=%d T=%d heads=%d dh=%d threads=%d: rel %.3g",
                       rfs_cpu_isa_name(isas[ii]), k[0], k[1], k[2], k[3], nt, e);
            }
        printf("  %s: worst rel %.2e\n", rfs_cpu_isa_name(isas[ii]), worst);
    }
    double worst = 0;
    for (size_t c = 0; c + 1 < sizeof cases / sizeof cases[0]; c++) {
        const int *k = cases[c];
        double e = attn_case(k[0], k[1], k[2], k[3], k[4], RFS_ISA_BASELINE, 0, 0);
        worst = e > worst ? e : worst;
        CHECKF(e <= 1e-6, "naive nseq=%d T=%d heads=%d dh=%d: rel %.3g", k[0], k[1], k[2], k[3], e);
    }
    printf("  double fallback: worst rel %.2e\n", worst);
}

/* bf16 products against the fp32 double reference: operands rounded to 8 bits of
 * mantissa, so a bound of 1e-2 (norm-wise); typically 3e-3. */
TEST(attention_bf16) {
    static const int cases[][5] = {
        {1, 1, 3, 16, 1}, {4, 15, 2, 64, 1}, {2, 33, 8, 32, 1}, {3, 29, 4, 16, 1}, {1, 677, 2, 64, 7},
    };
    rfs_cpu_isa top = rfs_cpu_isa_active();
    if (top < RFS_ISA_AVX512BF16) {
        printf("  (no AVX512_BF16 here: %s)\n", rfs_cpu_isa_name(top));
        return;
    }
    double worst = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int nt = 1; nt <= 2; nt++) {
            const int *k = cases[c];
            double e = attn_case(k[0], k[1], k[2], k[3], k[4], top, nt, 1);
            worst = e > worst ? e : worst;
            CHECKF(e <= 1e-2, "bf16 nseq=%d T=%d heads=%d dh=%d threads=%d: rel %.3g", k[0], k[1],
                   k[2], k[3], nt, e);
        }
    printf("  %s bf16: worst rel %.2e\n", rfs_cpu_isa_name(top), worst);
}

/* The row operations of every path against double loops: LayerNorm (a large mean against
 * the spread), SiLU, GELU, exp rows, the depthwise 3x3 row, and the activation panel
 * packing (the ones row included). */
TEST(rowops_every_path) {
    rfs_cpu_isa isas[8];
    int ni = isa_list(isas);
    for (int ii = 0; ii < ni; ii++) {
        const rfs_rowops ro = rfs_rowops_pick(isas[ii]);
        const char *nm = rfs_cpu_isa_name(isas[ii]);
        double wl = 0, ws = 0, wg = 0, we = 0, wd = 0;
        static const int Ks[] = {1, 7, 16, 33, 256, 385};
        for (size_t t = 0; t < sizeof Ks / sizeof Ks[0]; t++) {
            const int K = Ks[t];
            float *x = rvec(K, 3), *g = rvec(K, 1), *b = rvec(K, 1), *y = rvec(K, 1);
            for (int k = 0; k < K; k++) x[k] += 1000.f; /* mean 1000, spread 3 */
            ro.ln(y, x, K, g, b, 1e-6f);
            double mu = 0, v = 0;
            for (int k = 0; k < K; k++) mu += x[k];
            mu /= K;
            for (int k = 0; k < K; k++) v += (x[k] - mu) * (x[k] - mu);
            double rs = 1 / sqrt(v / K + 1e-6);
            for (int k = 0; k < K; k++) {
                double r = (x[k] - mu) * rs * g[k] + b[k];
                wl = fmax(wl, fabs(y[k] - r) / (fabs(g[k]) + fabs(b[k]) + 1e-3));
            }
            /* exp row: max subtracted, scaled */
            for (int k = 0; k < K; k++) y[k] = x[k] - 1000.f;
            double sum = ro.exp_row(y, K, 0.7f), mx = -1e300, rsum = 0;
            for (int k = 0; k < K; k++) mx = fmax(mx, x[k] - 1000.f);
            for (int k = 0; k < K; k++) {
                double e = exp(((x[k] - 1000.f) - mx) * 0.7f);
                rsum += e;
                we = fmax(we, fabs(y[k] - e) / e);
            }
            we = fmax(we, fabs(sum - rsum) / rsum);
            free(x), free(g), free(b), free(y);
        }
        for (int i = -20000; i <= 20000; i += 7) {
            float v[3] = {i * 1e-3f, i * 5e-4f, -i * 3e-3f}, u[3] = {v[0], v[1], v[2]};
            ro.gelu(v, 3);
            ro.silu(u, 3);
            for (int j = 0; j < 3; j++) {
                double xs = j == 0 ? i * 1e-3 : j == 1 ? i * 5e-4 : -i * 3e-3;
                xs = (float)xs;
                double ge = 0.5 * xs * (1 + erf(xs / sqrt(2.0))), si = xs / (1 + exp(-xs));
                wg = fmax(wg, fabs(v[j] - ge) / fmax(fabs(xs), 1e-30));
                ws = fmax(ws, fabs(u[j] - si) / fmax(fabs(xs), 1e-30));
            }
        }
        /* depthwise 3x3 at every pixel of a 5 x 7 map of 19 channels */
        {
            const int H = 5, W = 7, C = 19;
            float *xm = rvec((size_t)H * W * C, 1), *wt = rvec(9 * C, 1), *bb = rvec(C, 1), y[19];
            for (int p = 0; p < H * W; p++) {
                ro.dwconv(y, xm, H, W, C, p, wt, bb);
                for (int c = 0; c < C; c++) {
                    double r = bb[c];
                    for (int t = 0; t < 9; t++) {
                        int sy = p / W + t / 3 - 1, sx = p % W + t % 3 - 1;
                        if (sy >= 0 && sy < H && sx >= 0 && sx < W) r += (double)wt[t * C + c] * xm[(sy * W + sx) * C + c];
                    }
                    wd = fmax(wd, fabs(y[c] - r));
                }
            }
            free(xm), free(wt), free(bb);
        }
        CHECKF(wl <= 2e-6, "%s layernorm err %.3g", nm, wl);
        CHECKF(we <= 1e-6, "%s exp row rel %.3g", nm, we);
        CHECKF(wg <= 3e-7, "%s gelu err (rel |x|) %.3g", nm, wg);
        CHECKF(ws <= 3e-7, "%s silu err (rel |x|) %.3g", nm, ws);
        CHECKF(wd <= 1e-5, "%s dwconv abs err %.3g", nm, wd);
        printf("  %s: layernorm %.1e, exp %.1e, gelu %.1e, silu %.1e, dwconv %.1e\n", nm, wl, we, wg, ws, wd);
        /* activation panels: (N, K) as a weight, with the ones row */
        const int N = 45, K = 21, ld = 23;
        float *src = rvec((size_t)N * ld, 1);
        float *buf = malloc(sizeof(float) * rfs_act_packed_floats(N, K + 1));
        float *zeros = malloc(sizeof(float) * 64);
        rfs_packed v;
        rfs_pack_act_run(&v, buf, zeros, src, ld, N, K, 1, isas[ii], 0, 1);
        int bad = v.N != N || v.K != K + 1 || v.np != 2;
        for (int n = 0; n < 64; n++)
            for (int k = 0; k <= K; k++) {
                float want = n >= N ? 0.f : k == K ? 1.f : src[(size_t)n * ld + k];
                bad += buf[((size_t)(n / 32) * (K + 1) + k) * 32 + n % 32] != want;
            }
        for (int n = 0; n < 64; n++) bad += zeros[n] != 0.f;
        CHECKF(!bad, "%s activation panels: %d wrong", nm, bad);
        free(src), free(buf), free(zeros);
    }
}

/* The whole network on every path this machine has (the session's path switched after
 * creation; RFS_CPU_ISA would need a process per path): tiny-w2 (2x2 windows) on the
 * astronaut fixture against the official float64 reference, the parity bounds of
 * test_model_parity (relative 1e-5, max abs 1e-3). */
TEST(network_every_path) {
    rfs_model *m = NULL;
    rfs_tensorfile *ref = NULL;
    CHECKF(rfs_model_load(&m, test_shared("fixtures/rfdetr/tiny-w2.pth")) == RFS_OK, "%s", rfs_last_error());
    CHECKF(rfs_tensorfile_open(&ref, test_shared("fixtures/rfdetr/tiny-w2.ref.safetensors")) == RFS_OK,
           "%s", rfs_last_error());
    if (!m || !ref) {
        rfs_model_free(m);
        rfs_tensorfile_free(ref);
        return;
    }
    const rfs_tensor *in = rfs_tensorfile_find(ref, "astronaut/input");
    CHECK(in != NULL);
    float *x = in ? malloc(sizeof(float) * (size_t)rfs_tensor_numel(in)) : NULL;
    if (x) rfs_tensor_to_f32(in, x);
    rfs_cpu_isa isas[8];
    int ni = isa_list(isas);
    for (int ii = 0; ii < ni && x; ii++) {
        rfs_session_opts so = rfs_session_defaults();
        so.threads = 2;
        rfs_session *s = NULL;
        CHECK(rfs_session_create(&s, m, &so) == RFS_OK);
        if (!s) continue;
        ((rfs_cpu_net *)s->net)->isa = isas[ii];
        rfs_raw raw;
        CHECK(rfs_forward(s, x, 1, &raw) == RFS_OK);
        const char *names[] = {"astronaut/pred_logits", "astronaut/pred_boxes", "astronaut/pred_masks"};
        const float *mine[] = {raw.logits, raw.boxes, raw.masks};
        for (int k = 0; k < 3; k++) {
            const rfs_tensor *t = rfs_tensorfile_find(ref, names[k]);
            CHECK(t != NULL);
            if (!t) continue;
            size_t n = (size_t)rfs_tensor_numel(t);
            float *r = malloc(sizeof(float) * n);
            rfs_tensor_to_f32(t, r);
            double num = 0, den = 0, mx = 0;
            for (size_t i = 0; i < n; i++) {
                double d = (double)mine[k][i] - r[i];
                num += d * d;
                den += (double)r[i] * r[i];
                mx = fabs(d) > mx ? fabs(d) : mx;
            }
            double rel = sqrt(num / (den > 0 ? den : 1));
            CHECKF(rel <= 1e-5 && mx <= 1e-3, "%s %s: rel %.3g max abs %.3g",
                   rfs_cpu_isa_name(isas[ii]), names[k], rel, mx);
            if (k == 2) printf("  %s: pred_masks rel %.2e\n", rfs_cpu_isa_name(isas[ii]), rel);
            free(r);
        }
        rfs_session_free(s);
    }
    free(x);
    rfs_tensorfile_free(ref);
    rfs_model_free(m);
}

TEST(isa_names) {
    for (int i = RFS_ISA_BASELINE; i <= RFS_ISA_AMX; i++)
        CHECK(rfs_cpu_isa_parse(rfs_cpu_isa_name((rfs_cpu_isa)i)) == i);
    CHECK(rfs_cpu_isa_parse("sse9") == -1);
    CHECK(rfs_cpu_isa_active() <= rfs_cpu_isa_detect());
    printf("  detected %s, active %s\n", rfs_cpu_isa_name(rfs_cpu_isa_detect()),
           rfs_cpu_isa_name(rfs_cpu_isa_active()));
}

int main(void) {
    RUN(isa_names);
    RUN(rowops_every_path);
    RUN(gemm_fp32_every_path);
    RUN(gemm_bf16);
    RUN(attention_every_path);
    RUN(attention_bf16);
    RUN(network_every_path);
    return test_summary();
}
