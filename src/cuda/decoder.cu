/* decoder.cu - the decoder's non-GEMM pieces: two-stage query selection (6.1, 6.2),
 * the query sine embedding (6.3), multi-scale deformable attention sampling (6.5) and the
 * box reparameterisation of the heads (7). Images are stacked: query row = img*nq + q,
 * token row = img*N + t. */
#include "cuda/common.cuh"

#include <math.h>

/* ---- deformable attention ------------------------------------------------------------- */

/* One thread per (query row, head, channel): softmax over the head's points, bilinear
 * samples with zero padding (grid_sample, align_corners=False). */
template <typename T>
__global__ void msda_kernel(T *out, const T *value, int H, int W, const float *offaw, int ldoa,
                            const float *ref, int nq, int heads, int dh, int npts, size_t n) {
    const int C = heads * dh;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int d = (int)(i % dh), h = (int)(i / dh % heads);
        const size_t qr = i / C;
        const int img = (int)(qr / nq);
        const float *off = offaw + qr * ldoa;
        const float *aw = off + heads * npts * 2 + h * npts;
        const float *r = ref + qr * 4;
        float mx = -INFINITY, sum = 0.f;
        for (int p = 0; p < npts; p++) mx = fmaxf(mx, aw[p]);
        for (int p = 0; p < npts; p++) sum += expf(aw[p] - mx);
        const T *val = value + (size_t)img * H * W * C + h * dh + d;
        float acc = 0.f;
        for (int p = 0; p < npts; p++) {
            const float a = expf(aw[p] - mx) / sum;
            const float *oxy = off + (h * npts + p) * 2;
            const float lx = r[0] + oxy[0] / (float)npts * r[2] * 0.5f;
            const float ly = r[1] + oxy[1] / (float)npts * r[3] * 0.5f;
            const float px = lx * (float)W - 0.5f, py = ly * (float)H - 0.5f;
            if (!(px > -1.f && px < (float)W && py > -1.f && py < (float)H)) continue;
            const float fx = floorf(px), fy = floorf(py);
            const int x0 = (int)fx, y0 = (int)fy;
            const float ax = px - fx, ay = py - fy;
#pragma unroll
            for (int t = 0; t < 4; t++) {
                const int sx = x0 + (t & 1), sy = y0 + (t >> 1);
                if (sx < 0 || sx >= W || sy < 0 || sy >= H) continue;
                const float wt = a * ((t & 1) ? ax : 1.f - ax) * ((t >> 1) ? ay : 1.f - ay);
                acc += wt * to_f(val[((size_t)sy * W + sx) * C]);
            }
        }
        out[qr * C + h * dh + d] = from_f<T>(acc);
    }
}

extern "C" void rfs_msda_cuda(void *out, const void *value, rfs_dtype t, int H, int W,
                              const float *offaw, int ldoa, const float *ref, int nimg, int nq,
                              int heads, int dh, int npts, void *stream) {
    const size_t n = (size_t)nimg * nq * heads * dh;
    if (!n) return;
    RFS_DISPATCH(t, T, {
        msda_kernel<T><<<nblocks(n, 256), 256, 0, as_stream(stream)>>>((T *)out, (const T *)value, H, W, offaw, ldoa, ref, nq, heads, dh, npts, n);
        CUDA_LAUNCH_CHECK();
    });
}

/* ---- two-stage selection ---------------------------------------------------------------- */

enum { SEL_THREADS = 1024, SEL_MAX_N = 12288 };

__device__ __forceinline__ void reparam(float *o, const float *d, const float *p) {
    o[0] = d[0] * p[2] + p[0];
    o[1] = d[1] * p[3] + p[1];
    o[2] = expf(d[2]) * p[2];
    o[3] = expf(d[3]) * p[3];
}

/* One block per image. Scores into shared memory, then each token's rank in the order
 * (score descending, token ascending) = how many tokens precede it; the tokens of rank
 * < nq are the selection, in order. O(N^2 / threads) comparisons from shared memory:
 * a few microseconds for N <= 4096 and deterministic. */
__global__ void __launch_bounds__(SEL_THREADS)
select_kernel(float *ref, int *order, const float *enc_cls, int K, const float *enc_d,
              const float *refpoint, int G, int nq) {
    extern __shared__ float score[];
    const int N = G * G, img = blockIdx.x, k = min(nq, N);
    const float *cls = enc_cls + (size_t)img * N * K;
    for (int t = threadIdx.x; t < N; t += blockDim.x) {
        const float *row = cls + (size_t)t * K;
        float mx = row[0];
        for (int c = 1; c < K; c++) mx = row[c] > mx ? row[c] : mx;
        score[t] = mx;
    }
    __syncthreads();
    for (int t = threadIdx.x; t < N; t += blockDim.x) {
        const float st = score[t];
        int rank = 0;
        for (int u = 0; u < N; u++) {
            const float su = score[u];
            rank += su > st || (su == st && u < t);
        }
        if (rank < k) order[(size_t)img * nq + rank] = t;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < nq; i += blockDim.x) {
        const float *r = refpoint + (size_t)i * 4;
        float *o = ref + ((size_t)img * nq + i) * 4;
        if (i >= k) {
            o[0] = r[0], o[1] = r[1], o[2] = r[2], o[3] = r[3];
            continue;
        }
        const int t = order[(size_t)img * nq + i];
        /* encoder box of token t: deltas on the proposal (zero box when invalid) */
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

extern "C" void rfs_two_stage_select_cuda(float *ref, int *order, const float *enc_cls, int K,
                                          const float *enc_d, const float *refpoint, int G,
                                          int nq, int nimg, void *stream) {
    const int N = G * G;
    RFS_CHECK(rfs_select_supported(N) && order != NULL);
    const size_t smem = sizeof(float) * (size_t)N;
    if (smem > 48 * 1024)
        CUDA_CHECK(cudaFuncSetAttribute(select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    select_kernel<<<nimg, SEL_THREADS, smem, as_stream(stream)>>>(ref, order, enc_cls, K, enc_d, refpoint, G, nq);
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
