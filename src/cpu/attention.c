/* attention.c - row-block attention on the GEMM micro-kernels (see attention.h). */
#include "cpu/attention.h"

#include <math.h>
#include <omp.h>
#include <string.h>

enum { NR = RFS_GEMM_NR };

static size_t kpanels(int T) { return (size_t)(T + NR - 1) / NR; }
static size_t vpanels(int dh) { return (size_t)(dh + NR - 1) / NR; }
static size_t tpad(int T) { return kpanels(T) * NR; }
static int round32(int v) { return (v + 31) / 32 * 32; }

/* floats of one (sequence, head): k^T panels (dh x 32 each) then value panels (T x 32);
 * bf16 panels (pairs along k) take no more room */
static size_t per_head(int T, int dh) {
    return kpanels(T) * round32(dh) * NR + vpanels(dh) * tpad(T) * NR;
}

size_t rfs_attention_shared(int nseq, int T, int heads, int dh) {
    return (size_t)nseq * heads * per_head(T, dh);
}

size_t rfs_attention_thread_scratch(int T, int dh) {
    /* q block (MR x dh), score strip (MR x Tpad), packed strip (MR x Tpad), out (MR x 32),
     * one fp32 panel (dh x 32) for the bf16 packing */
    return (size_t)RFS_MR_MAX * (round32(dh) + 2 * tpad(T) + 32) + (size_t)round32(dh) * NR + 64;
}

/* Packs panel `p` (of this head's kp + vp panels) into base. fp32: k^T panel (dh rows of
 * 32 keys) or value panel (T rows of 32 channels). bf16: the same as pairs along the rows
 * (dh padded to 32, T to a multiple of 32, zeros), made from an fp32 panel in tmp. */
static void pack_panel(const rfs_attn_desc *a, const rfs_kern *ki, int bf16, int sq, int h,
                       size_t p, float *base, float *tmp) {
    const int T = a->T, dh = a->dh, dhp = bf16 ? round32(dh) : dh;
    const size_t kp = kpanels(T), Tp = tpad(T);
    const size_t row0 = (size_t)sq * T;
    const size_t kfl = bf16 ? (size_t)dhp / 2 * NR : (size_t)dh * NR; /* floats per k panel */
    if (p < kp) { /* k^T: [d][j] = k[key 32p + j][h*dh + d] */
        int j0 = (int)p * NR, nj = T - j0 < NR ? T - j0 : NR;
        const float *src = a->k + (row0 + j0) * a->ldk + (size_t)h * dh;
        if (!bf16) {
            ki->packb(base + p * kfl, src, a->ldk, nj, dh);
            return;
        }
        ki->packb(tmp, src, a->ldk, nj, dh);
        uint32_t *dst = (uint32_t *)(base + p * kfl);
        for (int d = 0; d < dhp; d += 2)
            ki->pair(dst + (size_t)(d / 2) * NR, d < dh ? tmp + (size_t)d * NR : NULL,
                     d + 1 < dh ? tmp + (size_t)(d + 1) * NR : NULL);
        return;
    }
    /* values: [t][c] = v[t][h*dh + 32(p-kp) + c] */
    size_t vp = p - kp;
    int c0 = (int)vp * NR, nc = dh - c0 < NR ? dh - c0 : NR;
    const float *src = a->v + row0 * a->ldv + (size_t)h * dh + c0;
    if (!bf16) {
        float *dst = base + kp * kfl + vp * (size_t)T * NR;
        for (int t = 0; t < T; t++) {
            memcpy(dst + (size_t)t * NR, src + (size_t)t * a->ldv, sizeof(float) * nc);
            if (nc < NR) memset(dst + (size_t)t * NR + nc, 0, sizeof(float) * (NR - nc));
        }
        return;
    }
    uint32_t *dst = (uint32_t *)(base + kp * kfl + vp * Tp / 2 * NR);
    float r0[NR], r1[NR];
    for (size_t t = 0; t < Tp; t += 2) {
        const float *x0 = NULL, *x1 = NULL;
        if ((int)t < T) {
            memcpy(r0, src + t * a->ldv, sizeof(float) * nc);
            memset(r0 + nc, 0, sizeof(float) * (NR - nc));
            x0 = r0;
        }
        if ((int)t + 1 < T) {
            memcpy(r1, src + (t + 1) * a->ldv, sizeof(float) * nc);
            memset(r1 + nc, 0, sizeof(float) * (NR - nc));
            x1 = r1;
        }
        ki->pair(dst + t / 2 * NR, x0, x1);
    }
}

void rfs_attention_run(const rfs_attn_desc *a, rfs_cpu_isa isa, int tid, int nt, float *shared,
                       float *scratch) {
    const int T = a->T, dh = a->dh, H = a->heads;
    const int bf16 = a->bf16 && isa >= RFS_ISA_AVX512BF16 && dh % 2 == 0;
    const rfs_kern ki = rfs_kern_pick(bf16 ? RFS_WF_BF16 : RFS_WF_F32, isa);
    const rfs_exp_row_fn exp_row = rfs_rowops_pick(isa).exp_row;
    const int MR = ki.mr, dhp = bf16 ? round32(dh) : dh;
    const size_t kp = kpanels(T), np_head = kp + vpanels(dh), ph = per_head(T, dh);
    const size_t Tp = tpad(T);
    const size_t kfl = bf16 ? (size_t)dhp / 2 * NR : (size_t)dh * NR;
    float *qb = scratch, *S = qb + (size_t)RFS_MR_MAX * round32(dh);
    float *Sp = S + (size_t)RFS_MR_MAX * Tp, *ob = Sp + (size_t)RFS_MR_MAX * Tp;
    float *tmp = ob + (size_t)RFS_MR_MAX * NR;
    /* phase 1: panels of every (sequence, head), split over threads */
    const long P = (long)a->nseq * H * (long)np_head;
    for (long u = P * tid / nt; u < P * (tid + 1) / nt; u++) {
        long sh = u / (long)np_head;
        pack_panel(a, &ki, bf16, (int)(sh / H), (int)(sh % H), (size_t)(u % (long)np_head),
                   shared + sh * ph, tmp);
    }
#pragma omp barrier
    /* phase 2: blocks of MR query rows */
    static const float zero[NR];
    const rfs_epi plain = {zero, NULL, NULL, 0, RFS_ACT_NONE};
    const float scale = (float)(1.0 / sqrt((double)dh));
    const int nqb = (T + MR - 1) / MR;
    const long J = (long)a->nseq * H * nqb;
    for (long u = J * tid / nt; u < J * (tid + 1) / nt; u++) {
        const int qblk = (int)(u % nqb), h = (int)(u / nqb % H), sq = (int)(u / nqb / H);
        const int r0 = qblk * MR, mr = T - r0 < MR ? T - r0 : MR;
        const size_t row0 = (size_t)sq * T + r0;
        const float *kv = shared + ((size_t)sq * H + h) * ph;
        const float *rows[RFS_MR_MAX];
        for (int i = 0; i < mr; i++) rows[i] = a->q + (row0 + i) * a->ldq + (size_t)h * dh;
        ki.pack(qb, rows, mr, dh, dhp);
        /* scores: (mr, T) strip, 32 keys per kernel call */
        for (size_t p = 0; p < kp; p++) {
            int nr = T - (int)p * NR < NR ? T - (int)p * NR : NR;
            ki.fn(mr, nr, dhp, qb, kv + p * kfl, NR, S + p * NR, (long)Tp, &plain);
        }
        double inv[RFS_MR_MAX];
        for (int i = 0; i < mr; i++) {
            inv[i] = 1.0 / exp_row(S + (size_t)i * Tp, T, scale);
            rows[i] = S + (size_t)i * Tp;
        }
        ki.pack(Sp, rows, mr, T, bf16 ? (int)Tp : T);
        /* out = strip . values, per 32-channel panel, then / sum */
        const float *vpan = kv + kp * kfl;
        const size_t vfl = bf16 ? Tp / 2 * NR : (size_t)T * NR;
        for (int c0 = 0; c0 < dh; c0 += NR) {
            int nc = dh - c0 < NR ? dh - c0 : NR;
            ki.fn(mr, nc, bf16 ? (int)Tp : T, Sp, vpan + (size_t)(c0 / NR) * vfl, NR, ob, NR, &plain);
            for (int i = 0; i < mr; i++) {
                float *o = a->out + (row0 + i) * a->ldo + (size_t)h * dh + c0;
                const float s = (float)inv[i];
                for (int c = 0; c < nc; c++) o[c] = ob[(size_t)i * NR + c] * s;
            }
        }
    }
}

void rfs_attention(const rfs_attn_desc *a, rfs_cpu_isa isa, int nt, float *shared,
                   float *scratch, size_t stride) {
    if (nt <= 1) {
        rfs_attention_run(a, isa, 0, 1, shared, scratch);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        int tid = omp_get_thread_num(), n = omp_get_num_threads();
        rfs_attention_run(a, isa, tid, n, shared, scratch + stride * (size_t)tid);
    }
}
