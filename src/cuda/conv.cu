/* conv.cu - the convolution-shaped pieces: patch gathering and token embedding (3.2),
 * im2col for the projector's 3x3 convolutions (4), the seg head's depthwise 3x3 conv
 * fused with its LayerNorm (8), bilinear upsampling (8 step 1) and the two-stage
 * validity mask (6.1). Maps are HWC, nimg of them stacked (rows image-major). */
#include "cuda/common.cuh"

#include <type_traits>

/* I: the index type, 32-bit whenever the element count allows (64-bit division is slow) */
template <typename T, typename I>
__global__ void patch_gather_kernel(T *patches, const float *img, int nimg, int R, int ps, I n) {
    const I G = R / ps, K = 3 * ps * ps;
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
        const I e = i % K, row = i / K;
        const I p = row % (G * G), b = row / (G * G);
        const I ci = e / (ps * ps), ky = e / ps % ps, kx = e % ps;
        const I y = p / G * ps + ky, x = p % G * ps + kx;
        patches[i] = from_f<T>(img[((b * 3 + ci) * R + y) * R + x]);
    }
}

extern "C" void rfs_patch_gather_cuda(void *patches, rfs_dtype t, const float *img, int nimg,
                                      int R, int ps, void *stream) {
    const size_t n = (size_t)nimg * (R / ps) * (R / ps) * 3 * ps * ps;
    const size_t total = (size_t)nimg * 3 * R * R;
    RFS_DISPATCH(t, T, {
        if (total < 0xffffffffu)
            patch_gather_kernel<T, unsigned><<<nblocks(n, 256), 256, 0, as_stream(stream)>>>((T *)patches, img, nimg, R, ps, (unsigned)n);
        else
            patch_gather_kernel<T, size_t><<<nblocks(n, 256), 256, 0, as_stream(stream)>>>((T *)patches, img, nimg, R, ps, n);
        CUDA_LAUNCH_CHECK();
    });
}

template <typename I>
__global__ void embed_kernel(float *x, const float *pe, const float *cls, const float *pos,
                             int G, int nw, int D, I n) {
    const I gw = G / nw, Tw = 1 + gw * gw, NT = nw * nw * Tw;
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
        const I d = i % D, tok = i / D;
        const I b = tok / NT, t = tok % NT, win = t / Tw, j = t % Tw;
        if (j == 0) {
            x[i] = cls[d] + pos[d];
        } else {
            const I gy = (win / nw) * gw + (j - 1) / gw, gx = (win % nw) * gw + (j - 1) % gw;
            const I p = gy * G + gx;
            x[i] = pe[(b * G * G + p) * D + d] + pos[(1 + p) * D + d];
        }
    }
}

extern "C" void rfs_embed_cuda(float *x, const float *pe, const float *cls, const float *pos,
                               int nimg, int G, int nw, int D, void *stream) {
    const int gw = G / nw;
    const size_t n = (size_t)nimg * nw * nw * (1 + gw * gw) * D;
    if (n < 0xffffffffu)
        embed_kernel<unsigned><<<nblocks(n, 256), 256, 0, as_stream(stream)>>>(x, pe, cls, pos, G, nw, D, (unsigned)n);
    else
        embed_kernel<size_t><<<nblocks(n, 256), 256, 0, as_stream(stream)>>>(x, pe, cls, pos, G, nw, D, n);
    CUDA_LAUNCH_CHECK();
}

/* A block per IM_PIX consecutive output pixels: their 9 neighbour rows are read coalesced
 * into shared memory (zeros outside the map), then the pixels' 9*C im2col rows, which are
 * contiguous in memory, are written in PyTorch's (c, ky, kx) order. */
enum { IM_PIX = 8 };

template <typename T>
__global__ void __launch_bounds__(256)
im2col_kernel(T *col, const T *x, int ldx, unsigned npix, int H, int W, int C) {
    extern __shared__ __align__(16) unsigned char nb_raw[];
    T *nb = (T *)nb_raw; /* [IM_PIX][9][C] */
    const unsigned pix0 = blockIdx.x * IM_PIX, HW = (unsigned)H * W, K = 9u * C;
    const unsigned np = min((unsigned)IM_PIX, npix - pix0);
    for (unsigned q = 0; q < np; q++) {
        const unsigned pix = pix0 + q, img = pix / HW, p = pix % HW, py = p / W, px = p % W;
#pragma unroll
        for (int tap = 0; tap < 9; tap++) {
            const int sy = (int)py + tap / 3 - 1, sx = (int)px + tap % 3 - 1;
            const bool in = sy >= 0 && sy < H && sx >= 0 && sx < W;
            const T *src = x + ((size_t)img * HW + (in ? (unsigned)sy * W + (unsigned)sx : 0)) * ldx;
            T *d = nb + q * K + tap * C;
            for (int c = threadIdx.x; c < C; c += blockDim.x) d[c] = in ? src[c] : from_f<T>(0.f);
        }
    }
    __syncthreads();
    T *dst = col + (size_t)pix0 * K;
    for (unsigned q = 0; q < np; q++)
        for (unsigned r = threadIdx.x; r < K; r += blockDim.x) {
            const unsigned c = r / 9, tap = r - 9 * c; /* division by a constant */
            dst[q * K + r] = nb[q * K + tap * C + c];
        }
}

extern "C" void rfs_im2col3x3_cuda(void *col, const void *x, int ldx, rfs_dtype t, int nimg,
                                   int H, int W, int C, void *stream) {
    const size_t pixels = (size_t)nimg * H * W;
    if (!pixels) return;
    RFS_CHECK(pixels * 9 * C < 0xffffffffu);
    RFS_DISPATCH(t, T, {
        const size_t smem = sizeof(T) * IM_PIX * 9 * (size_t)C;
        if (smem > 48 * 1024)
            CUDA_CHECK(cudaFuncSetAttribute(im2col_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        im2col_kernel<T><<<nblocks(pixels, IM_PIX), 256, smem, as_stream(stream)>>>((T *)col, (const T *)x, ldx, (unsigned)pixels, H, W, C);
        CUDA_LAUNCH_CHECK();
    });
}

/* One warp per pixel: the depthwise conv of all C channels (lane owns c = lane + 32i),
 * then the LayerNorm of that pixel's channel vector. Any C <= 1024. */
template <typename T, int NV>
__global__ void __launch_bounds__(256)
dwconv_ln_kernel(T *y, const T *x, const float *w, const float *b, const float *g,
                 const float *beta, float eps, int nimg, int H, int W, int C) {
    const long pix = (long)(blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (pix >= (long)nimg * H * W) return;
    const long img0 = pix / ((long)H * W) * H * W;
    const int p = (int)(pix % ((long)H * W)), py = p / W, px = p % W;
    float v[NV];
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = lane + 32 * i;
        v[i] = c < C ? b[c] : 0.f;
    }
    for (int ky = 0; ky < 3; ky++) {
        const int sy = py + ky - 1;
        if (sy < 0 || sy >= H) continue;
        for (int kx = 0; kx < 3; kx++) {
            const int sx = px + kx - 1;
            if (sx < 0 || sx >= W) continue;
            const T *src = x + (img0 + (long)sy * W + sx) * C;
#pragma unroll
            for (int i = 0; i < NV; i++) {
                const int c = lane + 32 * i;
                if (c < C) v[i] += w[c * 9 + ky * 3 + kx] * to_f(src[c]);
            }
        }
    }
    T *dst = y + pix * C;
    if (!g) {
#pragma unroll
        for (int i = 0; i < NV; i++)
            if (lane + 32 * i < C) dst[lane + 32 * i] = from_f<T>(v[i]);
        return;
    }
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < NV; i++) s += v[i];
    const float mean = warp_sum(s) / (float)C;
    float q = 0.f;
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const float d = lane + 32 * i < C ? v[i] - mean : 0.f;
        q += d * d;
    }
    const float rstd = rsqrtf(warp_sum(q) / (float)C + eps);
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = lane + 32 * i;
        if (c < C) dst[c] = from_f<T>((v[i] - mean) * rstd * g[c] + beta[c]);
    }
}

/* 8 consecutive elements of type T as floats, and back (16-byte accesses for 16-bit T). */
template <typename T> __device__ __forceinline__ void load8(float (&v)[8], const T *p) {
    if constexpr (sizeof(T) == 2) {
        const uint4 u = *(const uint4 *)p;
        const T *e = (const T *)&u;
#pragma unroll
        for (int k = 0; k < 8; k++) v[k] = to_f(e[k]);
    } else {
        const float4 a = *(const float4 *)p, b = *(const float4 *)(p + 4);
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    }
}
template <typename T> __device__ __forceinline__ void store8(T *p, const float (&v)[8]) {
    if constexpr (sizeof(T) == 2) {
        uint4 u;
        T *e = (T *)&u;
#pragma unroll
        for (int k = 0; k < 8; k++) e[k] = from_f<T>(v[k]);
        *(uint4 *)p = u;
    } else {
        *(float4 *)p = make_float4(v[0], v[1], v[2], v[3]);
        *(float4 *)(p + 4) = make_float4(v[4], v[5], v[6], v[7]);
    }
}

/* C = 256 (every official size): a warp computes a run of DWR_RUN pixels of one row,
 * 8 consecutive channels per lane (16-byte loads), sliding a 3 x 3 window of inputs in
 * registers so that each input is loaded 3 times instead of 9; the block's warps share the
 * weights, staged transposed ([tap][C]) in shared memory. */
enum { DWR_RUN = 8, DWR_WARPS = 8 };

template <typename T>
__global__ void __launch_bounds__(DWR_WARPS * 32)
dwconv_ln_run_kernel(T *y, const T *x, const float *w, const float *b, const float *g,
                     const float *beta, float eps, unsigned nruns, int H, int W, int runs_per_row) {
    constexpr int C = 256;
    __shared__ __align__(16) float wt[9 * C], prm[3][C]; /* weights [tap][C]; bias, gamma, beta */
    for (int i = threadIdx.x; i < 9 * C; i += blockDim.x) wt[(i % 9) * C + i / 9] = w[i];
    for (int i = threadIdx.x; i < C; i += blockDim.x) prm[0][i] = b[i], prm[1][i] = g[i], prm[2][i] = beta[i];
    __syncthreads();
    const unsigned run = blockIdx.x * DWR_WARPS + (threadIdx.x >> 5);
    if (run >= nruns) return;
    const int lane = threadIdx.x & 31, c0 = 8 * lane;
    const unsigned rows = run / runs_per_row, img = rows / H;
    const int py = (int)(rows % H), x0 = (int)(run % runs_per_row) * DWR_RUN;
    const T *xi = x + (size_t)img * H * W * C + c0;
    float win[3][3][8]; /* [row][column x-1, x, x+1][channel] */
    auto load_col = [&](int col, int sx) {
#pragma unroll
        for (int r = 0; r < 3; r++) {
            const int sy = py + r - 1;
            if (sy >= 0 && sy < H && sx >= 0 && sx < W) {
                load8(win[r][col], xi + ((size_t)sy * W + sx) * C);
            } else {
#pragma unroll
                for (int k = 0; k < 8; k++) win[r][col][k] = 0.f;
            }
        }
    };
    load_col(0, x0 - 1);
    load_col(1, x0);
#pragma unroll
    for (int i = 0; i < DWR_RUN; i++) {
        const int px = x0 + i;
        if (px >= W) break;
        load_col(2, px + 1);
        float acc[8];
#pragma unroll
        for (int k = 0; k < 8; k++) acc[k] = prm[0][c0 + k];
#pragma unroll
        for (int r = 0; r < 3; r++)
#pragma unroll
            for (int cc = 0; cc < 3; cc++) {
                const float *wk = wt + (r * 3 + cc) * C + c0;
                const float4 w0 = *(const float4 *)wk, w1 = *(const float4 *)(wk + 4);
                const float *v = win[r][cc];
                acc[0] += w0.x * v[0], acc[1] += w0.y * v[1], acc[2] += w0.z * v[2], acc[3] += w0.w * v[3];
                acc[4] += w1.x * v[4], acc[5] += w1.y * v[5], acc[6] += w1.z * v[6], acc[7] += w1.w * v[7];
            }
        float s = 0.f;
#pragma unroll
        for (int k = 0; k < 8; k++) s += acc[k];
        const float mean = warp_sum(s) / (float)C;
        float q = 0.f;
#pragma unroll
        for (int k = 0; k < 8; k++) q += (acc[k] - mean) * (acc[k] - mean);
        const float rstd = rsqrtf(warp_sum(q) / (float)C + eps);
#pragma unroll
        for (int k = 0; k < 8; k++) acc[k] = (acc[k] - mean) * rstd * prm[1][c0 + k] + prm[2][c0 + k];
        store8(y + ((size_t)img * H * W + (size_t)py * W + px) * C + c0, acc);
#pragma unroll
        for (int r = 0; r < 3; r++)
#pragma unroll
            for (int k = 0; k < 8; k++) win[r][0][k] = win[r][1][k], win[r][1][k] = win[r][2][k];
    }
}

template <typename T>
static void launch_dwconv_ln(T *y, const T *x, const float *w, const float *b, const float *g,
                             const float *beta, float eps, int nimg, int H, int W, int C,
                             cudaStream_t st) {
    const size_t npix = (size_t)nimg * H * W;
    if (g && C == 256 && npix < 0xffffffffu && ((uintptr_t)x % 16) == 0 &&
        ((uintptr_t)y % 16) == 0) {
        const int rpr = (W + DWR_RUN - 1) / DWR_RUN;
        const size_t nruns = (size_t)nimg * H * rpr;
        dwconv_ln_run_kernel<T><<<nblocks(nruns, DWR_WARPS), DWR_WARPS * 32, 0, st>>>(y, x, w, b, g, beta, eps, (unsigned)nruns, H, W, rpr);
        CUDA_LAUNCH_CHECK();
        return;
    }
    const unsigned grid = nblocks(npix, 8); /* 8 warps (pixels) per block */
    const int nv = (C + 31) / 32;
    if (nv <= 2) dwconv_ln_kernel<T, 2><<<grid, 256, 0, st>>>(y, x, w, b, g, beta, eps, nimg, H, W, C);
    else if (nv <= 4) dwconv_ln_kernel<T, 4><<<grid, 256, 0, st>>>(y, x, w, b, g, beta, eps, nimg, H, W, C);
    else if (nv <= 8) dwconv_ln_kernel<T, 8><<<grid, 256, 0, st>>>(y, x, w, b, g, beta, eps, nimg, H, W, C);
    else if (nv <= 16) dwconv_ln_kernel<T, 16><<<grid, 256, 0, st>>>(y, x, w, b, g, beta, eps, nimg, H, W, C);
    else dwconv_ln_kernel<T, 32><<<grid, 256, 0, st>>>(y, x, w, b, g, beta, eps, nimg, H, W, C);
    CUDA_LAUNCH_CHECK();
}

extern "C" void rfs_dwconv3x3_ln_cuda(void *y, rfs_dtype t, const void *x, const float *w,
                                      const float *b, const float *ln_g, const float *ln_b,
                                      float eps, int nimg, int H, int W, int C, void *stream) {
    RFS_CHECK(C >= 1 && C <= 1024);
    RFS_DISPATCH(t, T, launch_dwconv_ln<T>((T *)y, (const T *)x, w, b, ln_g, ln_b, eps, nimg, H, W, C, as_stream(stream)));
}

/* PyTorch's bilinear source index, align_corners=False, in double as
 * rfs_resize_bilinear_hwc_cpu (scale = in / out computed on the host). */
__device__ __forceinline__ void linear_taps(double scale, int in, int i, int &i0, int &i1,
                                            double &l1) {
    double src = scale * (i + 0.5) - 0.5;
    if (src < 0) src = 0;
    int a = (int)src;
    if (a > in - 1) a = in - 1;
    i0 = a;
    i1 = a < in - 1 ? a + 1 : a;
    l1 = src - a;
}

/* One thread per output element (channel fastest), 32-bit index arithmetic. */
template <typename T>
__global__ void resize_kernel(T *y, int Ho, int Wo, const T *x, int Hi, int Wi, int C,
                              double sy_, double sx_, unsigned n) {
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        const unsigned c = i % C, pix = i / C, HWo = (unsigned)Ho * Wo;
        const unsigned b = pix / HWo, p = pix % HWo;
        int y0, y1, x0, x1;
        double ly, lx;
        linear_taps(sy_, Hi, (int)(p / Wo), y0, y1, ly);
        linear_taps(sx_, Wi, (int)(p % Wo), x0, x1, lx);
        const T *img = x + (size_t)b * Hi * Wi * C + c;
        const double p00 = to_f(img[((size_t)y0 * Wi + x0) * C]), p01 = to_f(img[((size_t)y0 * Wi + x1) * C]);
        const double p10 = to_f(img[((size_t)y1 * Wi + x0) * C]), p11 = to_f(img[((size_t)y1 * Wi + x1) * C]);
        y[i] = from_f<T>((float)((1 - ly) * (1 - lx) * p00 + (1 - ly) * lx * p01 +
                                 ly * (1 - lx) * p10 + ly * lx * p11));
    }
}

/* C % 8 == 0: a thread per (pixel, 8 channels), the taps computed once per thread; the
 * weights in double for fp32 sessions (parity with the CPU's double), float otherwise. */
template <typename T>
__global__ void resize8_kernel(T *y, int Ho, int Wo, const T *x, int Hi, int Wi, int C8,
                               double sy_, double sx_, unsigned n) {
    typedef typename std::conditional<std::is_same<T, float>::value, double, float>::type A;
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        const unsigned cg = i % C8, pix = i / C8, HWo = (unsigned)Ho * Wo;
        const unsigned b = pix / HWo, p = pix % HWo;
        int y0, y1, x0, x1;
        double ly, lx;
        linear_taps(sy_, Hi, (int)(p / Wo), y0, y1, ly);
        linear_taps(sx_, Wi, (int)(p % Wo), x0, x1, lx);
        const A w00 = (A)((1 - ly) * (1 - lx)), w01 = (A)((1 - ly) * lx);
        const A w10 = (A)(ly * (1 - lx)), w11 = (A)(ly * lx);
        const size_t C = (size_t)C8 * 8;
        const T *img = x + (size_t)b * Hi * Wi * C + 8 * cg;
        float v00[8], v01[8], v10[8], v11[8], o[8];
        load8(v00, img + ((size_t)y0 * Wi + x0) * C), load8(v01, img + ((size_t)y0 * Wi + x1) * C);
        load8(v10, img + ((size_t)y1 * Wi + x0) * C), load8(v11, img + ((size_t)y1 * Wi + x1) * C);
#pragma unroll
        for (int k = 0; k < 8; k++)
            o[k] = (float)(w00 * v00[k] + w01 * v01[k] + w10 * v10[k] + w11 * v11[k]);
        store8(y + (size_t)pix * C + 8 * cg, o);
    }
}

extern "C" void rfs_resize_bilinear_cuda(void *y, int Ho, int Wo, const void *x, rfs_dtype t,
                                         int Hi, int Wi, int C, int nimg, void *stream) {
    const size_t n = (size_t)nimg * Ho * Wo * C;
    if (!n) return;
    RFS_CHECK(n < 0xffffffffu);
    const double sy = (double)Hi / Ho, sx = (double)Wi / Wo;
    RFS_DISPATCH(t, T, {
        if (C % 8 == 0 && ((uintptr_t)x % 16) == 0 && ((uintptr_t)y % 16) == 0)
            resize8_kernel<T><<<nblocks(n / 8, 256), 256, 0, as_stream(stream)>>>((T *)y, Ho, Wo, (const T *)x, Hi, Wi, C / 8, sy, sx, (unsigned)(n / 8));
        else
            resize_kernel<T><<<nblocks(n, 256), 256, 0, as_stream(stream)>>>((T *)y, Ho, Wo, (const T *)x, Hi, Wi, C, sy, sx, (unsigned)n);
        CUDA_LAUNCH_CHECK();
    });
}

/* The proposal of token t is valid iff all of (cx, cy, 0.05, 0.05) lie in (0.01, 0.99),
 * computed in float32 as forward_cpu.c does. */
__device__ __forceinline__ bool proposal_valid(int t, int G) {
    const float cx = (float)((t % G) + 0.5f) / (float)G, cy = (float)((t / G) + 0.5f) / (float)G;
    return cx > 0.01f && cx < 0.99f && cy > 0.01f && cy < 0.99f;
}

template <typename T>
__global__ void mask_invalid_kernel(T *omem, const T *mem, int nimg, int G, int C) {
    const size_t n = (size_t)nimg * G * G * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int t = (int)(i / C % ((size_t)G * G));
        omem[i] = proposal_valid(t, G) ? mem[i] : from_f<T>(0.f);
    }
}

extern "C" void rfs_mask_invalid_cuda(void *omem, const void *mem, rfs_dtype t, int nimg, int G,
                                      int C, void *stream) {
    const size_t n = (size_t)nimg * G * G * C;
    RFS_DISPATCH(t, T, {
        mask_invalid_kernel<T><<<nblocks(n, 256), 256, 0, as_stream(stream)>>>((T *)omem, (const T *)mem, nimg, G, C);
        CUDA_LAUNCH_CHECK();
    });
}
