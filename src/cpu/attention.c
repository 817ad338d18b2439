/* attention.c - row-block attention on the GEMM micro-kernels (see attention.h). */
#include "cpu/attention.h"

#include <math.h>
#include <omp.h>
#include <string.h>

enum { NR = RFS_GEMM_NR };

static size_t kpanels(int T) { return (size_t)(T + NR - 1) / NR; }
static size_t vpanels(int dh) { return (size_t)(dh + NR - 1) / NR; }

/* floats of one (sequence, head): k^T panels (dh x 32 each) then value panels (T x 32) */
static size_t per_head(int T, int dh) { return kpanels(T) * dh * NR + vpanels(dh) * T * NR; }

size_t rfs_attention_shared(int nseq, int T, int heads, int dh) {
    return (size_t)nseq * heads * per_head(T, dh);
}

static size_t tpad(int T) { return kpanels(T) * NR; }

size_t rfs_attention_thread_scratch(int T, int dh) {
    /* q block (MR x dh), score strip (MR x Tpad), packed strip (MR x Tpad), out (MR x 32) */
    return (size_t)RFS_MR_MAX * (dh + 2 * tpad(T) + 32) + 64;
}

/* Packs panel `p` (of this head's kp + vp panels) into dst. */
static void pack_panel(const rfs_attn_desc *a, const rfs_kern *ki, int sq, int h, size_t p,
                       float *base) {
    const int T = a->T, dh = a->dh;
    const size_t kp = kpanels(T);
    const size_t row0 = (size_t)sq * T;
    if (p < kp) { /* k^T: dst[d][j] = k[key 32p + j][h*dh + d] */
        int j0 = (int)p * NR, nj = T - j0 < NR ? T - j0 : NR;
        ki->packb(base + p * dh * NR, a->k + (row0 + j0) * a->ldk + (size_t)h * dh, a->ldk, nj, dh);
    } else { /* values: dst[t][c] = v[t][h*dh + 32(p-kp) + c] */
        size_t vp = p - kp;
        float *dst = base + kp * dh * NR + vp * T * NR;
        int c0 = (int)vp * NR, nc = dh - c0 < NR ? dh - c0 : NR;
        for (int t = 0; t < T; t++) {
            const float *src = a->v + (row0 + t) * a->ldv + (size_t)h * dh + c0;
            memcpy(dst + (size_t)t * NR, src, sizeof(float) * nc);
            if (nc < NR) memset(dst + (size_t)t * NR + nc, 0, sizeof(float) * (NR - nc));
        }
    }
}

void rfs_attention_run(const rfs_attn_desc *a, rfs_cpu_isa isa, int tid, int nt, float *shared,
                       float *scratch) {
    const int T = a->T, dh = a->dh, H = a->heads;
    const rfs_kern ki = rfs_kern_pick(RFS_WF_F32, isa);
    const int MR = ki.mr;
    const size_t kp = kpanels(T), np_head = kp + vpanels(dh), ph = per_head(T, dh);
    /* phase 1: panels of every (sequence, head), split over threads */
    const long P = (long)a->nseq * H * (long)np_head;
    for (long u = P * tid / nt; u < P * (tid + 1) / nt; u++) {
        long sh = u / (long)np_head;
        pack_panel(a, &ki, (int)(sh / H), (int)(sh % H), (size_t)(u % (long)np_head), shared + sh * ph);
    }
#pragma omp barrier
    /* phase 2: blocks of MR query rows */
    const size_t Tp = tpad(T);
    float *qb = scratch, *S = qb + (size_t)RFS_MR_MAX * dh, *Sp = S + (size_t)RFS_MR_MAX * Tp;
    float *ob = Sp + (size_t)RFS_MR_MAX * Tp;
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
        ki.pack(qb, rows, mr, dh, dh);
        /* scores: (mr, T) strip, 32 keys per kernel call */
        for (size_t p = 0; p < kp; p++) {
            int nr = T - (int)p * NR < NR ? T - (int)p * NR : NR;
            ki.fn(mr, nr, dh, qb, kv + p * dh * NR, NR, S + p * NR, (long)Tp, &plain);
        }
        double inv[RFS_MR_MAX];
        for (int i = 0; i < mr; i++) {
            inv[i] = 1.0 / ki.exp_row(S + (size_t)i * Tp, T, scale);
            rows[i] = S + (size_t)i * Tp;
        }
        ki.pack(Sp, rows, mr, T, T);
        /* out = strip . values, per 32-channel panel, then / sum */
        const float *vpan = kv + kp * dh * NR;
        for (int c0 = 0; c0 < dh; c0 += NR) {
            int nc = dh - c0 < NR ? dh - c0 : NR;
            ki.fn(mr, nc, T, Sp, vpan + (size_t)(c0 / NR) * T * NR, NR, ob, NR, &plain);
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
    const size_t per = stride;
    if (nt <= 1) {
        rfs_attention_run(a, isa, 0, 1, shared, scratch);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        int tid = omp_get_thread_num(), n = omp_get_num_threads();
        rfs_attention_run(a, isa, tid, n, shared, scratch + per * (size_t)tid);
    }
}
