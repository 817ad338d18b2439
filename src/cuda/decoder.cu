/* decoder.cu - the decoder's non-GEMM pieces: two-stage query selection (6.1, 6.2),
 * the query sine embedding (6.3), multi-scale deformable attention sampling (6.5) and the
 * box reparameterisation of the heads (7). Images are stacked: query row = img*nq + q,
 * token row = img*N + t. */
#include "cuda/common.cuh"

#include <math.h>
#include <type_traits>

/* ---- deformable attention ------------------------------------------------------------- */

/* One thread per (query row, head, channel): softmax over the head's points, bilinear
 * samples with zero padding (grid_sample, align_corners=False). */
template <typename T>
__global__ void msda_kernel(T *out, const T *value, int ldv, int H, int W, const float *offaw,
                            int ldoa, const float *ref, int nq, int heads, int dh, int npts, size_t n) {
    /* fp32 sessions: coordinates, weights and sums in double, as the CPU op (sampling
     * locations are scaled by the map size, where float rounding shows); float otherwise */
    typedef typename std::conditional<std::is_same<T, float>::value, double, float>::type A;
    const int C = heads * dh;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int d = (int)(i % dh), h = (int)(i / dh % heads);
        const size_t qr = i / C;
        const int img = (int)(qr / nq);
        const float *off = offaw + qr * ldoa;
        const float *aw = off + heads * npts * 2 + h * npts;
        const float *r = ref + qr * 4;
        A mx = -INFINITY, sum = 0;
        for (int p = 0; p < npts; p++) mx = mx > (A)aw[p] ? mx : (A)aw[p];
        for (int p = 0; p < npts; p++) sum += exp((A)aw[p] - mx);
        const T *val = value + (size_t)img * H * W * ldv + h * dh + d;
        A acc = 0;
        for (int p = 0; p < npts; p++) {
            const A a = exp((A)aw[p] - mx) / sum;
            const float *oxy = off + (h * npts + p) * 2;
            const A lx = (A)r[0] + (A)oxy[0] / (A)npts * (A)r[2] * (A)0.5;
            const A ly = (A)r[1] + (A)oxy[1] / (A)npts * (A)r[3] * (A)0.5;
            const A px = lx * (A)W - (A)0.5, py = ly * (A)H - (A)0.5;
            if (!(px > (A)-1 && px < (A)W && py > (A)-1 && py < (A)H)) continue;
            const A fx = floor(px), fy = floor(py);
            const int x0 = (int)fx, y0 = (int)fy;
            const A ax = px - fx, ay = py - fy;
#pragma unroll
            for (int t = 0; t < 4; t++) {
                const int sx = x0 + (t & 1), sy = y0 + (t >> 1);
                if (sx < 0 || sx >= W || sy < 0 || sy >= H) continue;
                const A wt = a * ((t & 1) ? ax : (A)1 - ax) * ((t >> 1) ? ay : (A)1 - ay);
                acc += wt * (A)to_f(val[((size_t)sy * W + sx) * ldv]);
            }
        }
        out[qr * C + h * dh + d] = from_f<T>((float)acc);
    }
}

extern "C" void rfs_msda_cuda(void *out, const void *value, int ldv, rfs_dtype t, int H, int W,
                              const float *offaw, int ldoa, const float *ref, int nimg, int nq,
                              int heads, int dh, int npts, void *stream) {
    const size_t n = (size_t)nimg * nq * heads * dh;
    if (!n) return;
    RFS_DISPATCH(t, T, {
        msda_kernel<T><<<nblocks(n, 256), 256, 0, as_stream(stream)>>>((T *)out, (const T *)value, ldv, H, W, offaw, ldoa, ref, nq, heads, dh, npts, n);
        CUDA_LAUNCH_CHECK();
    });
}

/* ---- two-stage selection ---------------------------------------------------------------- */

enum { SEL_THREADS = 1024, SEL_MAX_N = 16384 };

__device__ __forceinline__ void reparam(float *o, const float *d, const float *p) {
    o[0] = d[0] * p[2] + p[0];
    o[1] = d[1] * p[3] + p[1];
    o[2] = expf(d[2]) * p[2];
    o[3] = expf(d[3]) * p[3];
}

/* Sort key: ascending key order = score descending, then token ascending (the CPU's
 * comparator). The float's bits are mapped to an unsigned order, then inverted. */
__device__ __forceinline__ unsigned long long sel_key(float score, int t) {
    unsigned u = __float_as_uint(score);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending with the score */
    return ((unsigned long long)(~u) << 32) | (unsigned)t;
}

/* One block per image: the tokens' scores (max over K of the encoder logits) as 64-bit
 * keys in shared memory, a bitonic sort (padded to a power of two), then the first nq
 * tokens are the selection: their encoder boxes (deltas on the grid proposals, the zero
 * box for invalid ones) and the learned refpoint deltas give the reference boxes. */
__global__ void __launch_bounds__(SEL_THREADS)
select_kernel(float *ref, int *order, const int *force, const float *enc_cls, int K,
              const float *enc_d, const float *refpoint, int G, int nq, int NP) {
    extern __shared__ unsigned long long key[];
    const int N = G * G, img = blockIdx.x, k = min(nq, N);
    const float *cls = enc_cls + (size_t)img * N * K;
    for (int t = threadIdx.x; t < NP; t += blockDim.x) {
        if (t < N) {
            const float *row = cls + (size_t)t * K;
            float mx = row[0];
            for (int c = 1; c < K; c++) mx = row[c] > mx ? row[c] : mx;
            key[t] = sel_key(mx, t);
        } else {
            key[t] = ~0ull; /* padding sorts last */
        }
    }
    __syncthreads();
    if (NP <= 2048) {
        /* few tokens: each token's rank = the number of keys before it, O(N^2 / threads)
         * shared-memory reads, faster than the sort's many barriers at this size */
        unsigned long long *rk = key + NP; /* ranked keys */
        for (int t = threadIdx.x; t < N; t += blockDim.x) {
            const unsigned long long kt = key[t];
            int rank = 0;
            for (int u = 0; u < N; u++) rank += key[u] < kt;
            rk[rank] = kt;
        }
        __syncthreads();
        for (int t = threadIdx.x; t < N; t += blockDim.x) key[t] = rk[t];
        __syncthreads();
    } else
    for (int size = 2; size <= NP; size <<= 1)
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int i = threadIdx.x; i < NP / 2; i += blockDim.x) {
                /* compare-exchange pair (lo, lo + stride); direction from the size block */
                const int lo = 2 * i - (i & (stride - 1));
                const int hi = lo + stride;
                const bool up = (lo & size) == 0;
                const unsigned long long a = key[lo], b = key[hi];
                if ((a > b) == up) key[lo] = b, key[hi] = a;
            }
            __syncthreads();
        }
    for (int i = threadIdx.x; i < nq; i += blockDim.x) {
        const float *r = refpoint + (size_t)i * 4;
        float *o = ref + ((size_t)img * nq + i) * 4;
        if (i >= k) {
            o[0] = r[0], o[1] = r[1], o[2] = r[2], o[3] = r[3];
            order[(size_t)img * nq + i] = -1;
            continue;
        }
        const int f = force ? force[(size_t)img * nq + i] : -1;
        const int t = f >= 0 && f < N ? f : (int)(key[i] & 0xffffffffu);
        order[(size_t)img * nq + i] = t;
        float p[4] = {(float)((t % G) + 0.5f) / (float)G, (float)((t / G) + 0.5f) / (float)G,
                      0.05f, 0.05f};
        bool valid = true;
        for (int c = 0; c < 4; c++) valid &= p[c] > 0.01f && p[c] < 0.99f;
        if (!valid) p[0] = p[1] = p[2] = p[3] = 0.f;
        float box[4];
        reparam(box, enc_d + ((size_t)img * N + t) * 4, p);
        reparam(o, r, box);
    }
}

extern "C" int rfs_select_supported(int N) { return N >= 1 && N <= SEL_MAX_N; }

extern "C" void rfs_two_stage_select_cuda(float *ref, int *order, const int *force,
                                          const float *enc_cls, int K, const float *enc_d,
                                          const float *refpoint, int G, int nq, int nimg,
                                          void *stream) {
    const int N = G * G;
    RFS_CHECK(rfs_select_supported(N) && order != NULL);
    int NP = 2;
    while (NP < N) NP <<= 1;
    const size_t smem = sizeof(unsigned long long) * (size_t)NP * (NP <= 2048 ? 2 : 1);
    if (smem > 48 * 1024)
        CUDA_CHECK(cudaFuncSetAttribute(select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    select_kernel<<<nimg, SEL_THREADS, smem, as_stream(stream)>>>(ref, order, force, enc_cls, K,
                                                                 enc_d, refpoint, G, nq, NP);
    CUDA_LAUNCH_CHECK();
}

/* ---- query sine embedding ------------------------------------------------------------- */

template <typename T>
__global__ void sine_kernel(T *sine, const float *ref, int rows, int C) {
    const int F = C / 2;
    const size_t n = (size_t)rows * 2 * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int k = (int)(i % F), j = (int)(i / F % 4);
        const size_t r = i / (2 * C);
        const int comp = j == 0 ? 1 : j == 1 ? 0 : j; /* order y, x, w, h */
        const float v = ref[r * 4 + comp] * 6.28318530717958647692f;
        const float dt = powf(10000.f, (float)(2 * (k / 2)) / (float)F);
        const float u = v / dt;
        sine[i] = from_f<T>(k % 2 ? cosf(u) : sinf(u));
    }
}

extern "C" void rfs_sine_embed_cuda(void *sine, rfs_dtype t, const float *ref, int rows, int C,
                                    void *stream) {
    const size_t n = (size_t)rows * 2 * C;
    RFS_DISPATCH(t, T, {
        sine_kernel<T><<<nblocks(n, 256), 256, 0, as_stream(stream)>>>((T *)sine, ref, rows, C);
        CUDA_LAUNCH_CHECK();
    });
}

/* ---- heads -------------------------------------------------------------------------------- */

__global__ void box_reparam_kernel(float *boxes, const float *deltas, const float *ref, int rows) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r < rows) reparam(boxes + (size_t)r * 4, deltas + (size_t)r * 4, ref + (size_t)r * 4);
}

extern "C" void rfs_box_reparam_cuda(float *boxes, const float *deltas, const float *ref, int rows,
                                     void *stream) {
    if (rows <= 0) return;
    box_reparam_kernel<<<nblocks((size_t)rows, 128), 128, 0, as_stream(stream)>>>(boxes, deltas, ref, rows);
    CUDA_LAUNCH_CHECK();
}
