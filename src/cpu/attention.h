/* attention.h - multi-head scaled-dot-product attention on the GEMM micro-kernels, one block
 * of query rows at a time: no T x T matrix, a (rows, T) strip in cache instead.
 *
 * For nseq independent sequences of T tokens, per head h (channels [h*dh, (h+1)*dh)):
 *   out = softmax(q k^T / sqrt(dh)) v
 * q, k, v, out are (nseq*T, heads*dh) slices with row strides ldq, ldk, ldv, ldo.
 *
 * Two phases: (1) the keys of every (sequence, head) are packed as weight panels (k^T:
 * dh rows of 32 keys) and so are the values (T rows of 32 channels), into `shared`;
 * (2) each block of query rows computes its score strip with the kernel, the softmax in
 * place (max subtracted, exp, sum in double), packs the strip as A and multiplies by the
 * value panels; the rows are divided by their sums at the end.
 * rfs_attention_run() is one thread's share of both phases with an OpenMP barrier between
 * them: every thread of the enclosing parallel region must call it (outside a region, with
 * nt = 1, the barrier is a no-op). */
#ifndef RFS_CPU_ATTENTION_H
#define RFS_CPU_ATTENTION_H

#include "cpu/gemm.h"

typedef struct rfs_attn_desc {
    float *out;
    int ldo;
    const float *q, *k, *v;
    int ldq, ldk, ldv;
    int nseq, T, heads, dh;
    int bf16;  /* products in bf16 (fp32 accumulation, softmax in fp32) where the ISA has it */
} rfs_attn_desc;

/* Floats of the shared panel buffer and of one thread's scratch. */
size_t rfs_attention_shared(int nseq, int T, int heads, int dh);
size_t rfs_attention_thread_scratch(int T, int dh);

void rfs_attention_run(const rfs_attn_desc *a, rfs_cpu_isa isa, int tid, int nt, float *shared,
                       float *scratch);
/* Both phases on nt threads of a region of its own; thread t's scratch at
 * scratch + t * stride (stride >= rfs_attention_thread_scratch). */
void rfs_attention(const rfs_attn_desc *a, rfs_cpu_isa isa, int nt, float *shared,
                   float *scratch, size_t stride);

#endif
