/* bitcheck.c - hashes of the CPU engine's outputs (products, attention, row ops, the whole
 * network on the fixture models) on every ISA path up to the active one, for proving a
 * refactor bit-identical: build against two libraries, diff the output.
 *   cc -std=c11 -D_GNU_SOURCE -O2 -fopenmp -Iinclude -Isrc dev/rev-cpu/bitcheck.c LIB ... */
#include "rfseg.h"

#include "cpu/attention.h"
#include "cpu/gemm.h"
#include "io/tensorfile.h"

#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t seed = 12345;
static float rnd(void) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((seed >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}
static float *rvec(size_t n) {
    float *v = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) v[i] = rnd();
    return v;
}
static uint64_t fnv(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

typedef struct {
    const float *x;
    int ld;
} rowsrc;
static void arow(const void *ctx, float *dst, int r) {
    const rowsrc *s = ctx;
    for (int k = 0; k < s->ld - 3; k++) dst[k] = s->x[(size_t)r * s->ld + k] * 0.5f;
}

static void gemm_case(rfs_cpu_isa isa, rfs_wform form, int M, int N, int K, int ln, int act,
                      int res, int scale, int viarow, int nt) {
    const int lda = K + 3, ldc = N + 1;
    float *a = rvec((size_t)M * lda), *w = rvec((size_t)N * K), *b = rvec(N);
    float *g = rvec(K), *be = rvec(K), *sc = rvec(N), *c = rvec((size_t)M * ldc);
    for (int i = 0; i < M; i++) a[(size_t)i * lda] += 5;
    rfs_packed p;
    rfs_pack_linear(&p, w, K, b, N, K, form);
    rowsrc rs = {a, lda};
    rfs_gemm_desc gd = {.M = M, .w = &p, .a = viarow ? NULL : a, .lda = lda,
                        .arow = viarow ? arow : NULL, .actx = &rs, .ln_g = ln ? g : NULL,
                        .ln_b = be, .ln_eps = 1e-6f, .act = (rfs_act)act, .res = res ? c : NULL,
                        .ldr = ldc, .res_scale = scale ? sc : NULL, .c = c, .ldc = ldc};
    size_t st = rfs_gemm_scratch(K);
    float *scr = malloc(sizeof(float) * st * nt), *sh = malloc(sizeof(float) * rfs_gemm_shared(M, K));
    rfs_gemm(&gd, isa, nt, scr, st, sh);
    printf("gemm %-10s %s M=%d N=%d K=%d ln=%d act=%d res=%d sc=%d row=%d nt=%d %016llx\n",
           rfs_cpu_isa_name(isa), form ? "bf16" : "f32", M, N, K, ln, act, res, scale, viarow, nt,
           (unsigned long long)fnv(c, sizeof(float) * (size_t)M * ldc));
    rfs_packed_free(&p);
    free(a), free(w), free(b), free(g), free(be), free(sc), free(c), free(scr), free(sh);
}

static void attn_case(rfs_cpu_isa isa, int bf16, int nseq, int T, int heads, int dh, int nt) {
    const int C = heads * dh, ld = 3 * C + 5, ldo = C + 3;
    const size_t rows = (size_t)nseq * T;
    float *qkv = rvec(rows * ld), *out = calloc(rows * ldo, sizeof(float));
    rfs_attn_desc d = {out, ldo, qkv, qkv + C, qkv + 2 * C, ld, ld, ld, nseq, T, heads, dh, bf16};
    size_t per = rfs_attention_thread_scratch(T, dh);
    float *sh = malloc(sizeof(float) * rfs_attention_shared(nseq, T, heads, dh));
    float *scr = malloc(sizeof(float) * per * nt);
    rfs_attention(&d, isa, nt, sh, scr, per);
    printf("attn %-10s bf16=%d nseq=%d T=%d h=%d dh=%d nt=%d %016llx\n", rfs_cpu_isa_name(isa),
           bf16, nseq, T, heads, dh, nt, (unsigned long long)fnv(out, sizeof(float) * rows * ldo));
    free(qkv), free(out), free(sh), free(scr);
}

static void rowops_case(rfs_cpu_isa isa) {
    const rfs_rowops ro = rfs_rowops_pick(isa);
    for (int K = 1; K <= 300; K += 37) {
        float *x = rvec(K), *g = rvec(K), *b = rvec(K), *y = malloc(sizeof(float) * K);
        ro.ln(y, x, K, g, b, 1e-6f);
        uint64_t h = fnv(y, sizeof(float) * K);
        memcpy(y, x, sizeof(float) * K);
        double s = ro.exp_row(y, K, 0.7f);
        h ^= fnv(y, sizeof(float) * K) ^ fnv(&s, sizeof s);
        memcpy(y, x, sizeof(float) * K);
        ro.silu(y, K);
        h ^= fnv(y, sizeof(float) * K) * 3;
        memcpy(y, x, sizeof(float) * K);
        ro.gelu(y, K);
        h ^= fnv(y, sizeof(float) * K) * 5;
        printf("rowops %-10s K=%d %016llx\n", rfs_cpu_isa_name(isa), K, (unsigned long long)h);
        free(x), free(g), free(b), free(y);
    }
}

static void model_case(const char *shared, const char *model, const char *prec, int threads,
                       int batch) {
    char path[512];
    snprintf(path, sizeof path, "%s/fixtures/rfdetr/%s.pth", shared, model);
    rfs_model *m = NULL;
    if (rfs_model_load(&m, path) != RFS_OK) {
        printf("model %s: load failed\n", model);
        return;
    }
    snprintf(path, sizeof path, "%s/fixtures/rfdetr/%s.ref.safetensors", shared, model);
    rfs_tensorfile *ref = NULL;
    if (rfs_tensorfile_open(&ref, path) != RFS_OK) return;
    const rfs_tensor *t = rfs_tensorfile_find(ref, "astronaut/input");
    size_t n = (size_t)rfs_tensor_numel(t);
    float *in = malloc(sizeof(float) * n * batch);
    rfs_tensor_to_f32(t, in);
    for (int b = 1; b < batch; b++)
        for (size_t i = 0; i < n; i++) in[b * n + i] = in[i] * (1.0f - 0.1f * b);
    rfs_session_opts o = rfs_session_defaults();
    rfs_session_opts_set(&o, "precision", prec);
    o.threads = threads;
    o.max_batch = batch;
    rfs_session *s = NULL;
    if (rfs_session_create(&s, m, &o) != RFS_OK) {
        printf("model %s %s: no session (%s)\n", model, prec, rfs_last_error());
    } else {
        rfs_raw r;
        rfs_forward(s, in, batch, &r);
        const rfs_config *c = NULL;
        (void)c;
        printf("model %s %s threads=%d batch=%d %016llx %016llx %016llx\n", model, prec, threads,
               batch, (unsigned long long)fnv(r.logits, 4),
               (unsigned long long)fnv(r.boxes, 4), (unsigned long long)fnv(r.masks, 4));
        /* whole outputs: sizes from the reference */
        const rfs_tensor *tl = rfs_tensorfile_find(ref, "astronaut/pred_logits");
        const rfs_tensor *tb = rfs_tensorfile_find(ref, "astronaut/pred_boxes");
        const rfs_tensor *tm = rfs_tensorfile_find(ref, "astronaut/pred_masks");
        printf("  full %016llx %016llx %016llx\n",
               (unsigned long long)fnv(r.logits, 4 * (size_t)rfs_tensor_numel(tl) * batch),
               (unsigned long long)fnv(r.boxes, 4 * (size_t)rfs_tensor_numel(tb) * batch),
               (unsigned long long)fnv(r.masks, 4 * (size_t)rfs_tensor_numel(tm) * batch));
        rfs_session_free(s);
    }
    free(in);
    rfs_tensorfile_free(ref);
    rfs_model_free(m);
}

int main(void) {
    const rfs_cpu_isa top = rfs_cpu_isa_active();
    for (int isa = 0; isa <= (int)top && isa <= RFS_ISA_AVX512BF16; isa++) {
        for (int form = 0; form < 2; form++) {
            if (form == 1 && isa < RFS_ISA_AVX512BF16) continue;
            static const int cs[][9] = {{1, 1, 1, 0, 0, 0, 0, 0, 1},    {13, 31, 7, 1, 2, 0, 0, 0, 1},
                                        {14, 32, 64, 0, 0, 0, 0, 0, 1}, {14, 32, 64, 0, 0, 1, 1, 0, 2},
                                        {15, 33, 65, 1, 0, 1, 0, 1, 2}, {29, 100, 97, 0, 2, 1, 1, 0, 3},
                                        {37, 4, 256, 0, 1, 0, 0, 1, 1}, {100, 91, 256, 0, 0, 0, 0, 0, 2},
                                        {677, 96, 384, 1, 0, 0, 0, 0, 2}, {300, 64, 100, 0, 0, 0, 0, 0, 1},
                                        {103, 64, 1152, 0, 2, 0, 0, 1, 2}, {6, 64, 48, 1, 1, 1, 1, 1, 1}};
            for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
                gemm_case((rfs_cpu_isa)isa, (rfs_wform)form, cs[i][0], cs[i][1], cs[i][2], cs[i][3],
                          cs[i][4], cs[i][5], cs[i][6], cs[i][7], cs[i][8]);
        }
        for (int bf = 0; bf < 2; bf++) {
            attn_case((rfs_cpu_isa)isa, bf, 4, 17, 2, 16, 1);
            attn_case((rfs_cpu_isa)isa, bf, 1, 100, 8, 32, 2);
            attn_case((rfs_cpu_isa)isa, bf, 1, 65, 3, 40, 2);
        }
        rowops_case((rfs_cpu_isa)isa);
    }
    const char *sh = getenv("RFS_SHARED");
    if (sh) {
        static const char *models[] = {"tiny-w1", "tiny-w2"};
        for (int i = 0; i < 2; i++) {
            model_case(sh, models[i], "fp32", 2, 1);
            model_case(sh, models[i], "bf16", 2, 1);
        }
        model_case(sh, "tiny-w2", "fp32", 8, 3); /* side-by-side groups */
    }
    return 0;
}
