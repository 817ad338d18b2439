/* gemm.c - weight packing, packing of A (with the fused LayerNorm), the split of a product
 * over threads, and the baseline kernel. See gemm.h for the layouts. */
#include "cpu/gemm.h"

#include "cpu/dwconv_impl.h"
#include "cpu/fastmath.h"
#include "util/err.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- weights --------------------------------------------------------------------------- */

typedef struct dense_src {
    const float *w;
    int ldw;
} dense_src;

static float dense_get(const void *ctx, int n, int k) {
    const dense_src *s = ctx;
    return s->w[(size_t)n * s->ldw + k];
}

typedef struct conv_src {
    const float *w;
    int C;
} conv_src;

/* k = tap*C + c  <-  PyTorch (n, c, ky, kx) = n*9C + c*9 + tap */
static float conv_get(const void *ctx, int n, int k) {
    const conv_src *s = ctx;
    int tap = k / s->C, c = k % s->C;
    return s->w[(size_t)n * 9 * s->C + (size_t)c * 9 + tap];
}

int rfs_pack_get(rfs_packed *p, rfs_wget_fn get, const void *ctx, const float *b, int N, int K,
                 rfs_wform form) {
    memset(p, 0, sizeof *p);
    p->N = N;
    p->K = K;
    p->form = form;
    p->np = (N + RFS_GEMM_NR - 1) / RFS_GEMM_NR;
    p->Kp = form == RFS_WF_BF16 ? (K + 31) / 32 * 32 : K;
    const size_t n = (size_t)p->np * p->Kp * RFS_GEMM_NR;
    p->w = rfs_aligned_alloc((form == RFS_WF_BF16 ? 2 : 4) * (n ? n : 1));
    p->bias = rfs_aligned_alloc(sizeof(float) * (size_t)(p->np ? p->np : 1) * RFS_GEMM_NR);
    if (!p->w || !p->bias) {
        rfs_packed_free(p);
        return -1;
    }
    for (int j = 0; j < p->np * RFS_GEMM_NR; j++) p->bias[j] = b && j < N ? b[j] : 0.f;
    for (int pn = 0; pn < p->np; pn++) {
        if (form == RFS_WF_F32) {
            float *dst = (float *)p->w + (size_t)pn * p->Kp * RFS_GEMM_NR;
            for (int k = 0; k < K; k++)
                for (int j = 0; j < RFS_GEMM_NR; j++) {
                    int n0 = pn * RFS_GEMM_NR + j;
                    dst[(size_t)k * RFS_GEMM_NR + j] = n0 < N ? get(ctx, n0, k) : 0.f;
                }
        } else {
            uint16_t *dst = (uint16_t *)p->w + (size_t)pn * p->Kp * RFS_GEMM_NR;
            for (int k = 0; k < p->Kp; k++)
                for (int j = 0; j < RFS_GEMM_NR; j++) {
                    int n0 = pn * RFS_GEMM_NR + j;
                    float v = n0 < N && k < K ? get(ctx, n0, k) : 0.f;
                    dst[((size_t)(k / 2) * RFS_GEMM_NR + j) * 2 + (k & 1)] = rfs_bf16(v);
                }
        }
    }
    return 0;
}

int rfs_pack_linear(rfs_packed *p, const float *w, int ldw, const float *b, int N, int K,
                    rfs_wform form) {
    dense_src s = {w, ldw};
    return rfs_pack_get(p, dense_get, &s, b, N, K, form);
}

int rfs_pack_conv3x3(rfs_packed *p, const float *w, const float *b, int N, int C,
                     rfs_wform form) {
    conv_src s = {w, C};
    return rfs_pack_get(p, conv_get, &s, b, N, 9 * C, form);
}

void rfs_packed_free(rfs_packed *p) {
    if (!p) return;
    free(p->w);
    free(p->bias);
    memset(p, 0, sizeof *p);
}

size_t rfs_packed_bytes(const rfs_packed *p) {
    size_t n = (size_t)p->np * p->Kp * RFS_GEMM_NR;
    return n * (p->form == RFS_WF_BF16 ? 2 : 4) + sizeof(float) * (size_t)p->np * RFS_GEMM_NR;
}

/* ---- the baseline kernel ------------------------------------------------------------------ */

static inline float epi_act(float v, int act) {
    if (act == RFS_ACT_RELU) return v > 0.f ? v : 0.f;
    if (act == RFS_ACT_GELU) return rfs_gelu(v);
    return v;
}

void rfs_kern_f32_ref(int mr, int nr, int K, const void *Av, const void *Bv, long bks, float *C,
                      long ldc, const rfs_epi *e) {
    const float *A = Av, *B = Bv;
    float acc[RFS_MR_REF][RFS_GEMM_NR];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < K; k++) {
        const float *a = A + (size_t)k * RFS_MR_REF, *b = B + (size_t)k * bks;
        for (int i = 0; i < RFS_MR_REF; i++)
            for (int j = 0; j < RFS_GEMM_NR; j++) acc[i][j] += a[i] * b[j];
    }
    for (int i = 0; i < mr; i++) {
        float *c = C + (size_t)i * ldc;
        const float *r = e->res ? e->res + (size_t)i * e->ldr : NULL;
        for (int j = 0; j < nr; j++) {
            float v = epi_act(acc[i][j] + e->bias[j], e->act);
            if (r) v = r[j] + (e->scale ? e->scale[j] : 1.f) * v;
            c[j] = v;
        }
    }
}

/* ---- dispatch ------------------------------------------------------------------------------ */

rfs_cpu_isa rfs_gemm_isa(rfs_wform form, rfs_cpu_isa isa) {
    if (form == RFS_WF_BF16) return isa >= RFS_ISA_AMX ? RFS_ISA_AMX : RFS_ISA_AVX512BF16;
    if (isa >= RFS_ISA_AVX512) return RFS_ISA_AVX512;
    return isa >= RFS_ISA_AVX2 ? RFS_ISA_AVX2 : RFS_ISA_BASELINE;
}

rfs_kern rfs_kern_pick(rfs_wform form, rfs_cpu_isa isa) {
    rfs_kern k = {rfs_kern_f32_ref, rfs_packa_f32_ref, rfs_packb_panel_ref, rfs_pair_bf16_ref,
                  RFS_MR_REF, 0};
#if defined(__x86_64__)
    switch (rfs_gemm_isa(form, isa)) {
    case RFS_ISA_AMX:
        k = (rfs_kern){rfs_kern_bf16_amx, rfs_packa_bf16_amx, rfs_packb_panel_avx512,
                       rfs_pair_bf16_avx512, RFS_MR_AMX, 1};
        break;
    case RFS_ISA_AVX512BF16:
        k = (rfs_kern){rfs_kern_bf16_avx512, rfs_packa_bf16_avx512, rfs_packb_panel_avx512,
                       rfs_pair_bf16_avx512, RFS_MR_AVX512, 1};
        break;
    case RFS_ISA_AVX512:
        k = (rfs_kern){rfs_kern_f32_avx512, rfs_packa_f32_avx512, rfs_packb_panel_avx512,
                       rfs_pair_bf16_avx512, RFS_MR_AVX512, 0};
        break;
    case RFS_ISA_AVX2:
        k = (rfs_kern){rfs_kern_f32_avx2, rfs_packa_f32_avx2, rfs_packb_panel_avx2,
                       rfs_pair_bf16_ref, RFS_MR_AVX2, 0};
        break;
    default: break;
    }
#else
    (void)form, (void)isa;
#endif
    return k;
}

void rfs_silu_ref(float *y, int n) {
    for (int j = 0; j < n; j++) y[j] = y[j] / (1.0f + rfs_expf(-y[j]));
}

void rfs_gelu_ref(float *y, int n) {
    for (int j = 0; j < n; j++) y[j] = rfs_gelu(y[j]);
}

void rfs_dwconv_ref(float *y, const float *x, int H, int W, int C, int p, const float *wt,
                    const float *b) {
    rfs_dwconv_impl(y, x, H, W, C, p, wt, b);
}

rfs_rowops rfs_rowops_pick(rfs_cpu_isa isa) {
    rfs_rowops r = {rfs_ln_row_ref, rfs_exp_row_ref, rfs_silu_ref, rfs_gelu_ref, rfs_dwconv_ref};
#if defined(__x86_64__)
    if (isa >= RFS_ISA_AVX512)
        r = (rfs_rowops){rfs_ln_row_avx512, rfs_exp_row_avx512, rfs_silu_avx512, rfs_gelu_avx512,
                         rfs_dwconv_avx512};
    else if (isa >= RFS_ISA_AVX2)
        r = (rfs_rowops){rfs_ln_row_avx2, rfs_exp_row_avx2, rfs_silu_avx2, rfs_gelu_avx2,
                         rfs_dwconv_avx2};
#else
    (void)isa;
#endif
    return r;
}

double rfs_exp_row_ref(float *x, int n, float scale) {
    float mx = x[0];
    for (int j = 1; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    double sum = 0;
    for (int j = 0; j < n; j++) sum += x[j] = rfs_expf((x[j] - mx) * scale);
    return sum;
}

/* ---- packing A ----------------------------------------------------------------------------- */

/* A chunk of rows packed at once (kept while the thread's tiles stay in it): ~256 KB, so
 * that it and a weight panel stay in L2. */
enum { CHUNK_FLOATS = 65536, MAX_CHUNK_ROWS = 512 };

static size_t round_k(int K) { return (size_t)(K + 31) / 32 * 32; }

size_t rfs_gemm_scratch(int maxK) {
    size_t Kp = round_k(maxK);
    size_t chunk = (size_t)RFS_MR_MAX * Kp > CHUNK_FLOATS ? (size_t)RFS_MR_MAX * Kp : CHUNK_FLOATS;
    return chunk + (RFS_MR_MAX + 1) * Kp + 64;
}

void rfs_ln_row_ref(float *dst, const float *x, int K, const float *g, const float *b, float eps) {
    double s = 0;
    for (int k = 0; k < K; k++) s += x[k];
    double mean = s / K, v = 0;
    for (int k = 0; k < K; k++) {
        double d = x[k] - mean;
        v += d * d;
    }
    double rstd = 1.0 / sqrt(v / K + (double)eps);
    for (int k = 0; k < K; k++) dst[k] = (float)((x[k] - mean) * rstd * g[k] + b[k]);
}

void rfs_packb_panel_ref(float *dst, const float *src, long ld, int n, int K) {
    for (int k = 0; k < K; k++)
        for (int j = 0; j < RFS_GEMM_NR; j++) dst[(size_t)k * RFS_GEMM_NR + j] = j < n ? src[j * ld + k] : 0.f;
}

void rfs_pair_bf16_ref(uint32_t *dst, const float *r0, const float *r1) {
    for (int j = 0; j < RFS_GEMM_NR; j++)
        dst[j] = (uint32_t)(r0 ? rfs_bf16(r0[j]) : 0) | (uint32_t)(r1 ? rfs_bf16(r1[j]) : 0) << 16;
}

size_t rfs_act_packed_floats(int N, int K1) {
    return (size_t)(N + RFS_GEMM_NR - 1) / RFS_GEMM_NR * RFS_GEMM_NR * K1;
}

void rfs_pack_act_run(rfs_packed *view, float *buf, float *zeros, const float *src, int ld,
                      int N, int K, int ones, rfs_cpu_isa isa, int tid, int nt) {
    const rfs_kern ki = rfs_kern_pick(RFS_WF_F32, isa);
    const int np = (N + RFS_GEMM_NR - 1) / RFS_GEMM_NR, K1 = K + (ones ? 1 : 0);
    if (view && tid == 0)
        *view = (rfs_packed){.N = N, .K = K1, .Kp = K1, .np = np, .form = RFS_WF_F32, .w = buf,
                             .bias = zeros};
    for (int p = np * tid / nt; p < np * (tid + 1) / nt; p++) {
        const int j0 = p * RFS_GEMM_NR, n = N - j0 < RFS_GEMM_NR ? N - j0 : RFS_GEMM_NR;
        float *dst = buf + (size_t)p * K1 * RFS_GEMM_NR;
        ki.packb(dst, src + (size_t)j0 * ld, ld, n, K);
        if (ones)
            for (int j = 0; j < RFS_GEMM_NR; j++) dst[(size_t)K * RFS_GEMM_NR + j] = j < n ? 1.f : 0.f;
    }
    for (int j = np * RFS_GEMM_NR * tid / nt; j < np * RFS_GEMM_NR * (tid + 1) / nt; j++) zeros[j] = 0.f;
}

void rfs_packa_f32_ref(void *dstv, const float *const *rows, int mr, int K, int Kp) {
    float *d = dstv;
    for (int i = 0; i < RFS_MR_REF; i++)
        for (int k = 0; k < K; k++) d[(size_t)k * RFS_MR_REF + i] = i < mr ? rows[i][k] : 0.f;
}

/* Packs rows [m0, m0+mr) into dst in the kernel's layout. rowbuf: MR rows of Kp floats,
 * tmp: Kp floats. */
static void pack_block(const rfs_gemm_desc *g, const rfs_kern *ki, rfs_ln_row_fn ln, void *dst,
                       int m0, int mr, float *rowbuf, float *tmp) {
    const int K = g->w->K, Kp = g->w->Kp;
    const float *rows[RFS_MR_MAX];
    for (int i = 0; i < mr; i++) {
        const float *x;
        float *rb = rowbuf + (size_t)i * Kp;
        if (g->a) {
            x = g->a + (size_t)(m0 + i) * g->lda;
        } else {
            g->arow(g->actx, g->ln_g ? tmp : rb, m0 + i);
            x = g->ln_g ? tmp : rb;
        }
        if (g->ln_g) {
            ln(rb, x, K, g->ln_g, g->ln_b, g->ln_eps);
            x = rb;
        }
        rows[i] = x;
    }
    ki->pack(dst, rows, mr, K, Kp);
}

/* ---- the split over threads ------------------------------------------------------------------ */

/* How a product is split over nt threads. With enough row blocks per thread each thread
 * takes whole rows (its blocks, every panel) and packs its own A chunk by chunk; otherwise
 * the tiles (row block, panel) are split two-dimensionally and A is packed once, by all
 * threads, into a shared buffer, with a barrier before the tiles. */
static int split_2d(int mb, int nt) {
    if (nt <= 1) return 0;
    const long most = (mb + nt - 1) / nt; /* blocks of the busiest thread */
    return most * nt * 10 > (long)mb * 11; /* rows alone would idle > ~10 % */
}

size_t rfs_gemm_shared(int M, int K) {
    return ((size_t)(M + RFS_MR_MAX - 1) / RFS_MR_MAX * RFS_MR_MAX + RFS_MR_MAX) * round_k(K);
}

void rfs_gemm_run(const rfs_gemm_desc *g, rfs_cpu_isa isa, int tid, int nt, float *scratch,
                  float *ashared) {
    const rfs_packed *w = g->w;
    const rfs_kern ki = rfs_kern_pick(w->form, isa);
    const rfs_ln_row_fn ln = rfs_rowops_pick(isa).ln;
    const int M = g->M, N = w->N, MR = ki.mr, np = w->np;
    if (M <= 0 || N <= 0) return;
    const int Kp = w->Kp;
    /* floats per packed block (bf16 pairs take the room of one float per pair) */
    const size_t blk = ki.bf16 ? (size_t)MR * Kp / 2 : (size_t)MR * Kp;
    const int mb = (M + MR - 1) / MR;
    int cr = (int)(CHUNK_FLOATS / (blk ? blk : 1)); /* blocks per chunk */
    if (cr * MR > MAX_CHUNK_ROWS) cr = MAX_CHUNK_ROWS / MR;
    if (cr < 1) cr = 1;
    size_t afl = blk * cr > CHUNK_FLOATS ? blk * cr : CHUNK_FLOATS;
    float *rowbuf = scratch + afl, *tmp = rowbuf + (size_t)RFS_MR_MAX * Kp;
    const void *wdata = w->w;
    const size_t panel = (size_t)Kp * RFS_GEMM_NR; /* elements */
    const int shared = split_2d(mb, nt);
    if (shared) {
        for (int bi = mb * tid / nt; bi < mb * (tid + 1) / nt; bi++) {
            int m0 = bi * MR, mr = M - m0 < MR ? M - m0 : MR;
            pack_block(g, &ki, ln, ashared + (size_t)bi * blk, m0, mr, rowbuf, tmp);
        }
#pragma omp barrier
    }
    /* this thread's tiles: whole rows [b0, b1) of blocks, or a range of the 2-D order
     * (chunk of cr blocks, then panel, then block) */
    long u0, u1, b0 = 0;
    if (shared) {
        u0 = (long)mb * np * tid / nt;
        u1 = (long)mb * np * (tid + 1) / nt;
    } else {
        b0 = (long)mb * tid / nt;
        long b1 = (long)mb * (tid + 1) / nt;
        u0 = 0;
        u1 = (b1 - b0) * np;
    }
    const int mbt = shared ? mb : (int)(u1 / (np ? np : 1)); /* blocks in this ordering */
    const long per_chunk = (long)cr * np;
    unsigned char packed[MAX_CHUNK_ROWS];
    long cur_chunk = -1;
    for (long u = u0; u < u1; u++) {
        long ch = u / per_chunk, local = u - ch * per_chunk;
        int cb = mbt - (int)ch * cr < cr ? mbt - (int)ch * cr : cr; /* blocks in this chunk */
        int p = (int)(local / cb), ib = (int)(local % cb);
        int bi = (int)(b0 + ch * cr + ib), m0 = bi * MR, mr = M - m0 < MR ? M - m0 : MR;
        void *ablk;
        if (shared) {
            ablk = ashared + (size_t)bi * blk;
        } else {
            if (ch != cur_chunk) {
                memset(packed, 0, (size_t)cb);
                cur_chunk = ch;
            }
            ablk = scratch + (size_t)ib * blk;
            if (!packed[ib]) {
                pack_block(g, &ki, ln, ablk, m0, mr, rowbuf, tmp);
                packed[ib] = 1;
            }
        }
        int n0 = p * RFS_GEMM_NR, nr = N - n0 < RFS_GEMM_NR ? N - n0 : RFS_GEMM_NR;
        rfs_epi e = {w->bias + n0, g->res_scale ? g->res_scale + n0 : NULL,
                     g->res ? g->res + (size_t)m0 * g->ldr + n0 : NULL, g->ldr, (int)g->act};
        const void *B = ki.bf16 ? (const void *)((const uint16_t *)wdata + p * panel)
                                : (const void *)((const float *)wdata + p * panel);
        ki.fn(mr, nr, Kp, ablk, B, RFS_GEMM_NR, g->c + (size_t)m0 * g->ldc + n0,
              g->ldc, &e);
    }
}

void rfs_gemm(const rfs_gemm_desc *g, rfs_cpu_isa isa, int nt, float *scratch, size_t stride,
              float *ashared) {
    if (nt <= 1) {
        rfs_gemm_run(g, isa, 0, 1, scratch, ashared);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        int tid = omp_get_thread_num(), n = omp_get_num_threads();
        rfs_gemm_run(g, isa, tid, n, scratch + stride * (size_t)tid, ashared);
    }
}
