/* amx_emu.c - the AMX GEMM path (gemm_amx.c built with -DRFS_AMX_EMULATE) on a C model of
 * the tiles, against double loops: checks the layouts (A rows, B halves of a bf16 panel,
 * strides, the tile configuration) on a machine without AMX. The real instructions are
 * checked by tests/test_cpu_kernels on an AMX machine (dev/cpu/device_bench.sh).
 * Build and run: dev/cpu/build.sh && build/dev-cpu/amx_emu */
#include "amx_emu.h"
#include "cpu/attention.h"
#include "cpu/gemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    uint8_t palette;
    uint16_t colsb[16];
    uint8_t rows[16];
} cfg;
static _Thread_local uint8_t tile[8][16][64];
static int errors;

#define EXPECT(c)                                                                          \
    do {                                                                                   \
        if (!(c)) {                                                                        \
            if (errors++ < 10) fprintf(stderr, "amx_emu: %s\n", #c);                       \
        }                                                                                  \
    } while (0)

void amx_emu_config(const void *c) {
    const uint8_t *b = c;
    cfg.palette = b[0];
    memcpy(cfg.colsb, b + 16, 32);
    memcpy(cfg.rows, b + 48, 16);
    EXPECT(cfg.palette == 1);
}
void amx_emu_zero(int t) {
    EXPECT(t >= 0 && t < 8 && cfg.rows[t] == 16);
    memset(tile[t], 0, sizeof tile[t]);
}
void amx_emu_load(int t, const void *base, long stride) {
    EXPECT(cfg.rows[t] == 16 && cfg.colsb[t] == 64);
    for (int r = 0; r < cfg.rows[t]; r++) memcpy(tile[t][r], (const char *)base + r * stride, cfg.colsb[t]);
}
void amx_emu_store(int t, void *base, long stride) {
    for (int r = 0; r < cfg.rows[t]; r++) memcpy((char *)base + r * stride, tile[t][r], cfg.colsb[t]);
}
static float bf(const uint8_t *p) {
    uint32_t u = (uint32_t)(p[0] | p[1] << 8) << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
void amx_emu_dpbf16(int c, int a, int b) {
    /* C: M rows x N fp32; A: M rows x K bf16 (K/2 pairs); B: K/2 rows x N pairs */
    const int M = cfg.rows[c], N = cfg.colsb[c] / 4, KP = cfg.colsb[a] / 4;
    EXPECT(cfg.rows[a] == M && cfg.rows[b] == KP && cfg.colsb[b] == N * 4);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float acc;
            memcpy(&acc, &tile[c][m][4 * n], 4);
            double s = acc;
            for (int p = 0; p < KP; p++)
                s += (double)bf(&tile[a][m][4 * p]) * bf(&tile[b][p][4 * n]) +
                     (double)bf(&tile[a][m][4 * p + 2]) * bf(&tile[b][p][4 * n + 2]);
            acc = (float)s;
            memcpy(&tile[c][m][4 * n], &acc, 4);
        }
}

static uint64_t seed = 99;
static float rnd(void) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((seed >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}
static double q(double v) { return rfs_bf16_to_f32(rfs_bf16((float)v)); }

int main(void) {
    static const int cases[][4] = {{1, 1, 1, 0}, {15, 33, 65, 1}, {32, 32, 64, 0},
                                   {45, 100, 97, 1}, {677, 96, 384, 1}, {100, 200, 1536, 0}};
    int fails = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int M = cases[ci][0], N = cases[ci][1], K = cases[ci][2], gelu = cases[ci][3];
        float *a = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
        float *c = malloc(sizeof(float) * M * N);
        for (int i = 0; i < M * K; i++) a[i] = rnd();
        for (int i = 0; i < N * K; i++) w[i] = rnd();
        for (int i = 0; i < N; i++) b[i] = rnd();
        rfs_packed p;
        rfs_pack_linear(&p, w, K, b, N, K, RFS_WF_BF16);
        rfs_gemm_desc g = {.M = M, .w = &p, .a = a, .lda = K, .act = gelu ? RFS_ACT_GELU : RFS_ACT_NONE,
                           .c = c, .ldc = N};
        for (int nt = 1; nt <= 2; nt++) {
            float *scr = malloc(sizeof(float) * rfs_gemm_scratch(K) * nt);
            float *ash = malloc(sizeof(float) * rfs_gemm_shared(M, K));
            rfs_gemm(&g, RFS_ISA_AMX, nt, scr, rfs_gemm_scratch(K), ash);
            double num = 0, den = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double s = b[j];
                    for (int k = 0; k < K; k++) s += q(a[i * K + k]) * q(w[j * K + k]);
                    if (gelu) s = 0.5 * s * (1 + erf(s / sqrt(2.0)));
                    num += (c[i * N + j] - s) * (c[i * N + j] - s);
                    den += s * s;
                }
            double e = sqrt(num / den);
            printf("gemm M=%d N=%d K=%d gelu=%d threads=%d: rel %.2e\n", M, N, K, gelu, nt, e);
            fails += !(e <= 1e-5);
            free(scr), free(ash);
        }
        rfs_packed_free(&p);
        free(a), free(w), free(b), free(c);
    }
    /* attention on the AMX kernels against the fp32 path */
    {
        const int T = 77, H = 2, dh = 64, C = H * dh, ld = 3 * C;
        float *qkv = malloc(sizeof(float) * T * ld), *o1 = malloc(sizeof(float) * T * C), *o2 = malloc(sizeof(float) * T * C);
        for (int i = 0; i < T * ld; i++) qkv[i] = rnd();
        float *sh = malloc(sizeof(float) * rfs_attention_shared(1, T, H, dh));
        float *scr = malloc(sizeof(float) * rfs_attention_thread_scratch(T, dh));
        rfs_attn_desc d = {o1, C, qkv, qkv + C, qkv + 2 * C, ld, ld, ld, 1, T, H, dh, 1};
        rfs_attention(&d, RFS_ISA_AMX, 1, sh, scr, rfs_attention_thread_scratch(T, dh));
        d.out = o2;
        d.bf16 = 0;
        rfs_attention(&d, RFS_ISA_AVX512, 1, sh, scr, rfs_attention_thread_scratch(T, dh));
        double num = 0, den = 0;
        for (int i = 0; i < T * C; i++) num += (o1[i] - o2[i]) * (o1[i] - o2[i]), den += o2[i] * o2[i];
        printf("attention bf16 (amx) vs fp32: rel %.2e\n", sqrt(num / den));
        fails += !(sqrt(num / den) <= 1e-2);
    }
    printf("%s (%d layout errors)\n", fails || errors ? "FAILED" : "all passed", errors);
    return fails || errors;
}
