/* attention.cu - fused multi-head attention, softmax(q k^T / sqrt(dh)) v, for the ViT
 * (windowed and global, dh 64, T = 257..4100) and the decoder self-attention (dh 32,
 * T = nq). One kernel per call, no T x T matrix in memory (flash attention: running
 * row maximum and sum, the output rescaled as the maximum grows).
 *
 * fp16/bf16: tensor cores through mma.sync m16n8k16 (sm_80+, also on sm_90), fp32
 *   accumulators and softmax statistics. A block of 4 warps owns 64 query rows of one
 *   (sequence, head); key/value tiles of 64 rows are double-buffered in shared memory with
 *   cp.async; rows are padded by 16 bytes so ldmatrix reads are conflict-free.
 *   The Turing path (ARCH 75, chosen by rfs_cuda_arch(), fp16 only) is the same kernel
 *   with each m16n8k16 as two m16n8k8 and the tile loads as ordinary 16-byte copies; it
 *   runs on every GPU since Turing, so newer GPUs can test it (RFS_CUDA_ARCH=75).
 * fp32 (the parity path) and any unaligned case: a SIMT kernel, one query row per thread,
 *   key/value tiles of 16 rows in shared memory. */
#include "cuda/common.cuh"

#include <math.h>
#include <type_traits>

/* ---- SIMT kernel ---------------------------------------------------------------------- */

enum { SIMT_Q = 128, SIMT_K = 16 };

template <typename T, int DH>
__global__ void __launch_bounds__(SIMT_Q)
attn_simt_kernel(T *out, int ldo, const T *q, int ldq, const T *k, int ldk, const T *v, int ldv,
                 int Tn, float scale_log2) {
    __shared__ float Ks[SIMT_K][DH];
    __shared__ float Vs[SIMT_K][DH];
    const int h = blockIdx.y;
    const long base = (long)blockIdx.z * Tn;
    const int row = blockIdx.x * SIMT_Q + threadIdx.x;
    const bool active = row < Tn;
    float qr[DH], acc[DH];
#pragma unroll
    for (int d = 0; d < DH; d++) {
        qr[d] = active ? to_f(q[(base + row) * ldq + h * DH + d]) * scale_log2 : 0.f;
        acc[d] = 0.f;
    }
    float m = -INFINITY, l = 0.f;
    for (int k0 = 0; k0 < Tn; k0 += SIMT_K) {
        const int nk = min(SIMT_K, Tn - k0);
        __syncthreads();
        for (int i = threadIdx.x; i < SIMT_K * DH; i += SIMT_Q) {
            const int j = i / DH, d = i % DH;
            const bool ok = j < nk;
            Ks[j][d] = ok ? to_f(k[(base + k0 + j) * ldk + h * DH + d]) : 0.f;
            Vs[j][d] = ok ? to_f(v[(base + k0 + j) * ldv + h * DH + d]) : 0.f;
        }
        __syncthreads();
        if (!active) continue;
        float s[SIMT_K], mx = m;
#pragma unroll
        for (int j = 0; j < SIMT_K; j++) {
            float dot = 0.f;
#pragma unroll
            for (int d = 0; d < DH; d++) dot += qr[d] * Ks[j][d];
            s[j] = j < nk ? dot : -INFINITY;
            mx = fmaxf(mx, s[j]);
        }
        const float corr = exp2f(m - mx);
        m = mx;
        /* the chunk's terms are summed first, then added: shorter running sums, so the
         * rounding error grows with T/16 rather than T (global layers reach T = 4100) */
        float ls = 0.f;
#pragma unroll
        for (int j = 0; j < SIMT_K; j++) {
            s[j] = exp2f(s[j] - mx);
            ls += s[j];
        }
        l = l * corr + ls;
#pragma unroll
        for (int d = 0; d < DH; d++) {
            float t = 0.f;
#pragma unroll
            for (int j = 0; j < SIMT_K; j++) t += s[j] * Vs[j][d];
            acc[d] = acc[d] * corr + t;
        }
    }
    if (!active) return;
    const float inv = 1.f / l;
    T *o = out + (base + row) * ldo + h * DH;
#pragma unroll
    for (int d = 0; d < DH; d++) o[d] = from_f<T>(acc[d] * inv);
}

/* ---- tensor-core kernel ------------------------------------------------------------------ */

enum { FA_N = 64 }; /* keys per tile; a block has WARPS warps of 16 query rows each */

/* 16 bytes from global to shared memory, zero-filled when src_bytes is 0: asynchronous
 * (cp.async) on sm_80+, an ordinary copy on the Turing path, where the commit and wait
 * below do nothing (the barriers that follow the waits order the copies). */
template <int ARCH>
__device__ __forceinline__ void cp_async16(void *smem, const void *gmem, int src_bytes) {
    if constexpr (ARCH >= 80) {
#if __CUDA_ARCH__ >= 800
        const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
#else
        __trap();
#endif
    } else {
        *(uint4 *)smem = src_bytes ? *(const uint4 *)gmem : make_uint4(0, 0, 0, 0);
    }
}
template <int ARCH> __device__ __forceinline__ void cp_async_commit() {
#if __CUDA_ARCH__ >= 800
    if constexpr (ARCH >= 80) asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int ARCH, int N> __device__ __forceinline__ void cp_async_wait() {
#if __CUDA_ARCH__ >= 800
    if constexpr (ARCH >= 80) asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void *smem) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void *smem) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
}

/* c += a (16x16, row) . b (16x8, col), fp32 accumulators. On the Turing path (fp16
 * only) as two m16n8k8 products: a[0], a[1] and b0 hold k 0..7, a[2], a[3] and b1 k 8..15,
 * in the same register layout. */
template <typename T, int ARCH>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
    if constexpr (ARCH < 80) {
        static_assert(std::is_same<T, f16>::value, "the Turing path has no bf16");
        asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 "
                     "{%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(b0));
        asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 "
                     "{%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[2]), "r"(a[3]), "r"(b1));
    } else {
#if __CUDA_ARCH__ >= 800
        if constexpr (std::is_same<T, f16>::value)
            asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                         "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                         : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                         : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
        else
            asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                         "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                         : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                         : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
        __trap();
#endif
    }
}

/* 2^x with the SFU's approximation (~2 ulp): the probabilities are rounded to fp16/bf16
 * right after, and exp2(-inf) = 0 as needed for masked keys */
__device__ __forceinline__ float ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

template <typename T> __device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    uint32_t r;
    if constexpr (std::is_same<T, f16>::value) {
        __half2 h = __floats2half2_rn(lo, hi);
        r = *(uint32_t *)&h;
    } else {
        __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
        r = *(uint32_t *)&h;
    }
    return r;
}

/* One tile of FA_N keys for a warp's 16 query rows: S = Q K^T, the online-softmax update
 * of the running max m, sum l and output O, then O += P V. Ks and Vs hold the tile in
 * shared memory (row stride LD); keys at k0 + i >= Tn are masked out. */
template <typename T, int DH, int LD, int ARCH>
__device__ __forceinline__ void fa_tile(const T *Ks, const T *Vs, const uint32_t (&qf)[DH / 16][4],
                                        int k0, int Tn, float scale_log2, int lane, float &m0,
                                        float &m1, float &l0, float &l1, float (&o)[DH / 8][4]) {
    /* S = Q K^T for this warp's 16 rows and the tile's 64 keys */
    float s[8][4];
#pragma unroll
    for (int n = 0; n < 8; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < DH / 16; kk++)
#pragma unroll
        for (int np = 0; np < 4; np++) {
            uint32_t b[4];
            ldmatrix_x4(b, &Ks[(np * 16 + (lane & 7) + ((lane >> 4) << 3)) * LD + kk * 16 +
                                    ((lane >> 3) & 1) * 8]);
            mma16816<T, ARCH>(s[2 * np], qf[kk], b[0], b[1]);
            mma16816<T, ARCH>(s[2 * np + 1], qf[kk], b[2], b[3]);
        }
    /* online softmax; this thread holds rows g and g+8 (g = lane/4) */
    float mx0 = m0, mx1 = m1;
#pragma unroll
    for (int n = 0; n < 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int key = k0 + n * 8 + 2 * (lane & 3) + (e & 1);
            s[n][e] = key < Tn ? s[n][e] * scale_log2 : -INFINITY;
            if (e < 2) mx0 = fmaxf(mx0, s[n][e]);
            else mx1 = fmaxf(mx1, s[n][e]);
        }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    const float c0 = ex2(m0 - mx0), c1 = ex2(m1 - mx1);
    m0 = mx0, m1 = mx1;
    l0 *= c0, l1 *= c1;
#pragma unroll
    for (int n = 0; n < DH / 8; n++) o[n][0] *= c0, o[n][1] *= c0, o[n][2] *= c1, o[n][3] *= c1;
    uint32_t pa[4][4]; /* P as the A operand of P V, one 16-key chunk per index */
#pragma unroll
    for (int n = 0; n < 8; n++) {
        const float p0 = ex2(s[n][0] - mx0), p1 = ex2(s[n][1] - mx0);
        const float p2 = ex2(s[n][2] - mx1), p3 = ex2(s[n][3] - mx1);
        l0 += p0 + p1, l1 += p2 + p3;
        pa[n / 2][(n & 1) * 2 + 0] = pack2<T>(p0, p1);
        pa[n / 2][(n & 1) * 2 + 1] = pack2<T>(p2, p3);
    }
    /* O += P V */
#pragma unroll
    for (int kc = 0; kc < 4; kc++)
#pragma unroll
        for (int dp = 0; dp < DH / 16; dp++) {
            uint32_t b[4];
            ldmatrix_x4_trans(b, &Vs[(kc * 16 + (lane & 7) + (((lane >> 3) & 1) << 3)) * LD +
                                          dp * 16 + (lane >> 4) * 8]);
            mma16816<T, ARCH>(o[2 * dp], pa[kc], b[0], b[1]);
            mma16816<T, ARCH>(o[2 * dp + 1], pa[kc], b[2], b[3]);
        }
}

template <typename T, int DH, int WARPS, int ARCH>
__global__ void __launch_bounds__(WARPS * 32)
attn_mma_kernel(T *out, int ldo, const T *q, int ldq, const T *k, int ldk, const T *v, int ldv,
                int Tn, float scale_log2) {
    constexpr int LD = DH + 8; /* padded row, elements */
    constexpr int CPR = DH / 8; /* 16-byte chunks per row */
    constexpr int FA_M = 16 * WARPS, NTH = 32 * WARPS;
    __shared__ __align__(16) T Qs[FA_M * LD];
    __shared__ __align__(16) T Ks[2][FA_N * LD];
    __shared__ __align__(16) T Vs[2][FA_N * LD];
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int h = blockIdx.y, q0 = blockIdx.x * FA_M;
    const long base = (long)blockIdx.z * Tn;
    const T *qg = q + base * ldq + h * DH;
    const T *kg = k + base * ldk + h * DH;
    const T *vg = v + base * ldv + h * DH;

    /* rows r0..r0+rows-1 of a (T, ld) matrix into a padded tile; rows past Tn are zero-filled */
    auto load_tile = [&](T *dst, const T *src, int ld, int r0, int rows) {
        for (int i = tid; i < rows * CPR; i += NTH) {
            const int r = i / CPR, c = (i % CPR) * 8, gr = r0 + r;
            cp_async16<ARCH>(dst + r * LD + c, src + (long)min(gr, Tn - 1) * ld + c, gr < Tn ? 16 : 0);
        }
    };
    load_tile(Qs, qg, ldq, q0, FA_M);
    load_tile(Ks[0], kg, ldk, 0, FA_N);
    load_tile(Vs[0], vg, ldv, 0, FA_N);
    cp_async_commit<ARCH>();

    uint32_t qf[DH / 16][4];
    float o[DH / 8][4];
#pragma unroll
    for (int n = 0; n < DH / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    const int nt = (Tn + FA_N - 1) / FA_N;
    for (int j = 0; j < nt; j++) {
        const int buf = j & 1;
        if (j + 1 < nt) {
            load_tile(Ks[buf ^ 1], kg, ldk, (j + 1) * FA_N, FA_N);
            load_tile(Vs[buf ^ 1], vg, ldv, (j + 1) * FA_N, FA_N);
            cp_async_commit<ARCH>();
            cp_async_wait<ARCH, 1>();
        } else {
            cp_async_wait<ARCH, 0>();
        }
        __syncthreads();
        if (j == 0) {
#pragma unroll
            for (int kk = 0; kk < DH / 16; kk++)
                ldmatrix_x4(qf[kk], &Qs[(warp * 16 + (lane & 15)) * LD + kk * 16 + (lane >> 4) * 8]);
        }
        fa_tile<T, DH, LD, ARCH>(Ks[buf], Vs[buf], qf, j * FA_N, Tn, scale_log2, lane, m0, m1, l0, l1, o);
        __syncthreads(); /* the next iteration's prefetch overwrites the other buffer */
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float i0 = 1.f / l0, i1 = 1.f / l1;
    const int r0 = q0 + warp * 16 + (lane >> 2), r1 = r0 + 8;
    T *og = out + base * ldo + h * DH;
#pragma unroll
    for (int n = 0; n < DH / 8; n++) {
        const int col = n * 8 + 2 * (lane & 3);
        if (r0 < Tn) *(uint32_t *)(og + (long)r0 * ldo + col) = pack2<T>(o[n][0] * i0, o[n][1] * i0);
        if (r1 < Tn) *(uint32_t *)(og + (long)r1 * ldo + col) = pack2<T>(o[n][2] * i1, o[n][3] * i1);
    }
}

/* Small batches: a block of SPLIT warps owns 16 query rows and splits the key tiles among
 * its warps (warp w takes tiles w, w + SPLIT, ...), each with its own running maximum, sum
 * and output; the partial results are merged through shared memory at the end. This
 * shortens the serial chain of tiles per warp SPLIT times when there are too few
 * (sequence, head, row block) triples to fill the GPU. */
template <typename T, int DH, int SPLIT, int ARCH>
__global__ void __launch_bounds__(SPLIT * 32)
attn_mma_split_kernel(T *out, int ldo, const T *q, int ldq, const T *k, int ldk, const T *v,
                      int ldv, int Tn, float scale_log2) {
    constexpr int LD = DH + 8, CPR = DH / 8, NTH = SPLIT * 32;
    extern __shared__ __align__(16) unsigned char smraw[];
    T *Qs = (T *)smraw;        /* [16][LD] */
    T *KV = Qs + 16 * LD;      /* per warp: K [64][LD] then V [64][LD] */
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int h = blockIdx.y, q0 = blockIdx.x * 16;
    const long base = (long)blockIdx.z * Tn;
    const T *qg = q + base * ldq + h * DH;
    const T *kg = k + base * ldk + h * DH;
    const T *vg = v + base * ldv + h * DH;
    T *Ks = KV + warp * 2 * FA_N * LD, *Vs = Ks + FA_N * LD;
    for (int i = tid; i < 16 * CPR; i += NTH) {
        const int r = i / CPR, c = (i % CPR) * 8, gr = q0 + r;
        cp_async16<ARCH>(Qs + r * LD + c, qg + (long)min(gr, Tn - 1) * ldq + c, gr < Tn ? 16 : 0);
    }
    cp_async_commit<ARCH>();
    cp_async_wait<ARCH, 0>();
    __syncthreads();
    uint32_t qf[DH / 16][4];
#pragma unroll
    for (int kk = 0; kk < DH / 16; kk++)
        ldmatrix_x4(qf[kk], &Qs[(lane & 15) * LD + kk * 16 + (lane >> 4) * 8]);
    float o[DH / 8][4];
#pragma unroll
    for (int n = 0; n < DH / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    const int nt = (Tn + FA_N - 1) / FA_N;
    for (int j = warp; j < nt; j += SPLIT) {
        for (int i = lane; i < FA_N * CPR; i += 32) {
            const int r = i / CPR, c = (i % CPR) * 8, gr = j * FA_N + r;
            const long src = (long)min(gr, Tn - 1);
            cp_async16<ARCH>(Ks + r * LD + c, kg + src * ldk + c, gr < Tn ? 16 : 0);
            cp_async16<ARCH>(Vs + r * LD + c, vg + src * ldv + c, gr < Tn ? 16 : 0);
        }
        cp_async_commit<ARCH>();
        cp_async_wait<ARCH, 0>();
        __syncwarp();
        fa_tile<T, DH, LD, ARCH>(Ks, Vs, qf, j * FA_N, Tn, scale_log2, lane, m0, m1, l0, l1, o);
        __syncwarp(); /* the next tile overwrites this warp's buffers */
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    __syncthreads(); /* every warp is done with its tiles: their memory holds the partials */
    float *Ob = (float *)KV;         /* [SPLIT][16][DH] */
    float *Mb = Ob + SPLIT * 16 * DH; /* [SPLIT][16] */
    float *Lb = Mb + SPLIT * 16;
    const int r0 = lane >> 2, r1 = r0 + 8;
#pragma unroll
    for (int n = 0; n < DH / 8; n++) {
        const int col = n * 8 + 2 * (lane & 3);
        Ob[(warp * 16 + r0) * DH + col] = o[n][0], Ob[(warp * 16 + r0) * DH + col + 1] = o[n][1];
        Ob[(warp * 16 + r1) * DH + col] = o[n][2], Ob[(warp * 16 + r1) * DH + col + 1] = o[n][3];
    }
    if ((lane & 3) == 0) {
        Mb[warp * 16 + r0] = m0, Mb[warp * 16 + r1] = m1;
        Lb[warp * 16 + r0] = l0, Lb[warp * 16 + r1] = l1;
    }
    __syncthreads();
    T *og = out + base * ldo + h * DH;
    for (int i = tid; i < 16 * DH; i += NTH) {
        const int r = i / DH, d = i % DH;
        if (q0 + r >= Tn) continue;
        float M = -INFINITY;
#pragma unroll
        for (int w = 0; w < SPLIT; w++) M = fmaxf(M, Mb[w * 16 + r]);
        float L = 0.f, O = 0.f;
#pragma unroll
        for (int w = 0; w < SPLIT; w++) {
            const float f = exp2f(Mb[w * 16 + r] - M); /* 0 for warps that saw no key */
            L += Lb[w * 16 + r] * f;
            O += Ob[(w * 16 + r) * DH + d] * f;
        }
        og[(long)(q0 + r) * ldo + d] = from_f<T>(O / L);
    }
}

/* ---- launcher --------------------------------------------------------------------------- */

extern "C" int rfs_attention_cuda_supported(int dh) { return dh == 16 || dh == 32 || dh == 64; }

static int aligned16(const void *p, int ld, size_t esz) {
    return ((uintptr_t)p % 16) == 0 && ((size_t)ld * esz) % 16 == 0;
}

/* The tensor-core kernels for code path ARCH (80: sm_80+, 75: Turing). */
template <typename T, int DH, int ARCH>
static void launch_mma(T *out, int ldo, const T *q, int ldq, const T *k, int ldk, const T *v,
                       int ldv, int nseq, int Tn, int heads, float scale_log2, cudaStream_t st) {
    /* 64 query rows per block when that fills the GPU twice; otherwise blocks of 16 rows
     * whose warps split the keys (the chain of tiles per warp is what bounds a small
     * batch's latency) */
    const long per = (long)heads * nseq, sms = rfs_cuda_sm_count();
    const int nt = (Tn + FA_N - 1) / FA_N;
    const dim3 g16((Tn + 15) / 16, heads, nseq);
    if (per * ((Tn + 63) / 64) >= 2 * sms) {
        attn_mma_kernel<T, DH, 4, ARCH><<<dim3((Tn + 63) / 64, heads, nseq), 128, 0, st>>>(
            out, ldo, q, ldq, k, ldk, v, ldv, Tn, scale_log2);
    } else if (nt >= 3) {
        const size_t smem = sizeof(T) * (16 + 4 * 2 * FA_N) * (DH + 8);
        static int attr_dev = -1;
        int dev;
        CUDA_CHECK(cudaGetDevice(&dev));
        if (attr_dev != dev) { /* per device; a race only sets the same value twice */
            CUDA_CHECK(cudaFuncSetAttribute(attn_mma_split_kernel<T, DH, 4, ARCH>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
            attr_dev = dev;
        }
        attn_mma_split_kernel<T, DH, 4, ARCH><<<g16, 128, smem, st>>>(out, ldo, q, ldq, k, ldk, v,
                                                                     ldv, Tn, scale_log2);
    } else if (nt == 2) {
        const size_t smem = sizeof(T) * (16 + 2 * 2 * FA_N) * (DH + 8);
        attn_mma_split_kernel<T, DH, 2, ARCH><<<g16, 64, smem, st>>>(out, ldo, q, ldq, k, ldk, v,
                                                                    ldv, Tn, scale_log2);
    } else {
        attn_mma_kernel<T, DH, 1, ARCH><<<g16, 32, 0, st>>>(out, ldo, q, ldq, k, ldk, v, ldv, Tn,
                                                           scale_log2);
    }
    CUDA_LAUNCH_CHECK();
}

template <typename T, int DH>
static void launch(T *out, int ldo, const T *q, int ldq, const T *k, int ldk, const T *v, int ldv,
                   int nseq, int Tn, int heads, cudaStream_t st) {
    const float scale_log2 = (float)(1.4426950408889634 / sqrt((double)DH));
    if constexpr (!std::is_same<T, float>::value) {
        if (aligned16(q, ldq, 2) && aligned16(k, ldk, 2) && aligned16(v, ldv, 2) &&
            ((uintptr_t)out % 4) == 0 && ldo % 2 == 0) {
            const int arch = rfs_cuda_arch();
            if (arch >= 80) {
                launch_mma<T, DH, 80>(out, ldo, q, ldq, k, ldk, v, ldv, nseq, Tn, heads, scale_log2, st);
                return;
            }
            if constexpr (std::is_same<T, f16>::value)
                launch_mma<T, DH, 75>(out, ldo, q, ldq, k, ldk, v, ldv, nseq, Tn, heads, scale_log2, st);
            else
                RFS_CHECK(!"bf16 attention below sm_80"); /* sessions refuse bf16 there */
            return;
        }
    }
    dim3 grid((Tn + SIMT_Q - 1) / SIMT_Q, heads, nseq);
    attn_simt_kernel<T, DH><<<grid, SIMT_Q, 0, st>>>(out, ldo, q, ldq, k, ldk, v, ldv, Tn, scale_log2);
    CUDA_LAUNCH_CHECK();
}

extern "C" void rfs_attention_cuda(void *out, int ldo, const void *q, int ldq, const void *k,
                                   int ldk, const void *v, int ldv, rfs_dtype t, int nseq, int T,
                                   int heads, int dh, void *stream) {
    if (nseq <= 0 || T <= 0) return;
    RFS_CHECK(rfs_attention_cuda_supported(dh));
    RFS_CHECK(nseq <= 65535 && heads <= 65535);
    cudaStream_t st = as_stream(stream);
    RFS_DISPATCH(t, E, {
        E *o = (E *)out;
        const E *qq = (const E *)q, *kk = (const E *)k, *vv = (const E *)v;
        if (dh == 16) launch<E, 16>(o, ldo, qq, ldq, kk, ldk, vv, ldv, nseq, T, heads, st);
        else if (dh == 32) launch<E, 32>(o, ldo, qq, ldq, kk, ldk, vv, ldv, nseq, T, heads, st);
        else launch<E, 64>(o, ldo, qq, ldq, kk, ldk, vv, ldv, nseq, T, heads, st);
    });
}
