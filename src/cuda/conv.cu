/* conv.cu - the convolution-shaped pieces: patch gathering and token embedding (3.2),
 * im2col for the projector's 3x3 convolutions (4), the seg head's depthwise 3x3 conv
 * fused with its LayerNorm (8), bilinear upsampling (8 step 1) and the two-stage
 * validity mask (6.1). Maps are HWC, nimg of them stacked (rows image-major). */
#include "cuda/common.cuh"

template <typename T>
__global__ void patch_gather_kernel(T *patches, const float *img, int nimg, int R, int ps) {
    const int G = R / ps, K = 3 * ps * ps;
    const size_t n = (size_t)nimg * G * G * K;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int e = (int)(i % K);
        const size_t row = i / K;
        const int p = (int)(row % (G * G)), b = (int)(row / (G * G));
        const int ci = e / (ps * ps), ky = e / ps % ps, kx = e % ps;
        const int y = p / G * ps + ky, x = p % G * ps + kx;
        patches[i] = from_f<T>(img[(((size_t)b * 3 + ci) * R + y) * R + x]);
    }
}

extern "C" void rfs_patch_gather_cuda(void *patches, rfs_dtype t, const float *img, int nimg,
                                      int R, int ps, void *stream) {
    const size_t n = (size_t)nimg * (R / ps) * (R / ps) * 3 * ps * ps;
    RFS_DISPATCH(t, T, {
        patch_gather_kernel<T><<<nblocks(n, 256), 256, 0, as_stream(stream)>>>((T *)patches, img, nimg, R, ps);
        CUDA_LAUNCH_CHECK();
    });
}

__global__ void embed_kernel(float *x, const float *pe, const float *cls, const float *pos,
                             int nimg, int G, int nw, int D) {
    const int gw = G / nw, Tw = 1 + gw * gw, NT = nw * nw * Tw;
    const size_t n = (size_t)nimg * NT * D;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int d = (int)(i % D);
        const size_t tok = i / D;
        const int b = (int)(tok / NT), t = (int)(tok % NT), win = t / Tw, j = t % Tw;
        if (j == 0) {
            x[i] = cls[d] + pos[d];
        } else {
            const int gy = (win / nw) * gw + (j - 1) / gw, gx = (win % nw) * gw + (j - 1) % gw;
            const int p = gy * G + gx;
            x[i] = pe[((size_t)b * G * G + p) * D + d] + pos[(size_t)(1 + p) * D + d];
        }
    }
}

extern "C" void rfs_embed_cuda(float *x, const float *pe, const float *cls, const float *pos,
                               int nimg, int G, int nw, int D, void *stream) {
    const int gw = G / nw;
    const size_t n = (size_t)nimg * nw * nw * (1 + gw * gw) * D;
    embed_kernel<<<nblocks(n, 256), 256, 0, as_stream(stream)>>>(x, pe, cls, pos, nimg, G, nw, D);
    CUDA_LAUNCH_CHECK();
}

/* One thread per (pixel, channel): writes the 9 taps of that channel (PyTorch order
 * c*9 + ky*3 + kx), reading neighbours channel-coalesced. */
template <typename T>
__global__ void im2col_kernel(T *col, const T *x, int ldx, int nimg, int H, int W, int C) {
    const size_t n = (size_t)nimg * H * W * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int c = (int)(i % C);
        const size_t pix = i / C;
        const int b = (int)(pix / ((size_t)H * W)), p = (int)(pix % ((size_t)H * W));
        const int y = p / W, xx = p % W;
        T *dst = col + pix * 9 * C + (size_t)c * 9;
#pragma unroll
        for (int ky = 0; ky < 3; ky++)
#pragma unroll
            for (int kx = 0; kx < 3; kx++) {
                const int sy = y + ky - 1, sx = xx + kx - 1;
                T v = from_f<T>(0.f);
                if (sy >= 0 && sy < H && sx >= 0 && sx < W)
                    v = x[((size_t)b * H * W + (size_t)sy * W + sx) * ldx + c];
                dst[ky * 3 + kx] = v;
            }
    }
}

extern "C" void rfs_im2col3x3_cuda(void *col, const void *x, int ldx, rfs_dtype t, int nimg,
                                   int H, int W, int C, void *stream) {
    const size_t n = (size_t)nimg * H * W * C;
    RFS_DISPATCH(t, T, {
        im2col_kernel<T><<<nblocks(n, 256), 256, 0, as_stream(stream)>>>((T *)col, (const T *)x, ldx, nimg, H, W, C);
        CUDA_LAUNCH_CHECK();
    });
}

/* One warp per pixel: the depthwise conv of all C channels (lane owns c = lane + 32i),
 * then the LayerNorm of that pixel's channel vector. */
template <typename T, int NV>
__global__ void __launch_bounds__(256)
dwconv_ln_kernel(T *y, const float *x, const float *w, const float *b, const float *g,
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
            const float *src = x + (img0 + (long)sy * W + sx) * C;
#pragma unroll
            for (int i = 0; i < NV; i++) {
                const int c = lane + 32 * i;
                if (c < C) v[i] += w[c * 9 + ky * 3 + kx] * src[c];
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

template <typename T>
static void launch_dwconv_ln(T *y, const float *x, const float *w, const float *b,
                             const float *g, const float *beta, float eps, int nimg, int H, int W,
                             int C, cudaStream_t st) {
    const unsigned grid = nblocks((size_t)nimg * H * W, 8); /* 8 warps (pixels) per block */
    const int nv = (C + 31) / 32;
    if (nv <= 2) dwconv_ln_kernel<T, 2><<<grid, 256, 0, st>>>(y, x, w, b, g, beta, eps, nimg, H, W, C);
    else if (nv <= 4) dwconv_ln_kernel<T, 4><<<grid, 256, 0, st>>>(y, x, w, b, g, beta, eps, nimg, H, W, C);
    else if (nv <= 8) dwconv_ln_kernel<T, 8><<<grid, 256, 0, st>>>(y, x, w, b, g, beta, eps, nimg, H, W, C);
    else if (nv <= 16) dwconv_ln_kernel<T, 16><<<grid, 256, 0, st>>>(y, x, w, b, g, beta, eps, nimg, H, W, C);
    else dwconv_ln_kernel<T, 32><<<grid, 256, 0, st>>>(y, x, w, b, g, beta, eps, nimg, H, W, C);
    CUDA_LAUNCH_CHECK();
}

extern "C" void rfs_dwconv3x3_ln_cuda(void *y, rfs_dtype t, const float *x, const float *w,
                                      const float *b, const float *ln_g, const float *ln_b,
                                      float eps, int nimg, int H, int W, int C, void *stream) {
    RFS_CHECK(C >= 1 && C <= 1024);
    RFS_DISPATCH(t, T, launch_dwconv_ln<T>((T *)y, x, w, b, ln_g, ln_b, eps, nimg, H, W, C, as_stream(stream)));
}

/* PyTorch's bilinear source index, align_corners=False, in double as
 * rfs_resize_bilinear_hwc_cpu. */
__device__ __forceinline__ void linear_taps(int out, int in, int i, int &i0, int &i1, double &l1) {
    const double scale = (double)in / out;
    double src = scale * (i + 0.5) - 0.5;
    if (src < 0) src = 0;
    int a = (int)src;
    if (a > in - 1) a = in - 1;
    i0 = a;
    i1 = a < in - 1 ? a + 1 : a;
    l1 = src - a;
}

template <typename T>
__global__ void resize_kernel(float *y, int Ho, int Wo, const T *x, int Hi, int Wi, int C,
                              int nimg) {
    const size_t n = (size_t)nimg * Ho * Wo * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int c = (int)(i % C);
        const size_t pix = i / C;
        const int b = (int)(pix / ((size_t)Ho * Wo)), p = (int)(pix % ((size_t)Ho * Wo));
        int y0, y1, x0, x1;
        double ly, lx;
        linear_taps(Ho, Hi, p / Wo, y0, y1, ly);
        linear_taps(Wo, Wi, p % Wo, x0, x1, lx);
        const T *img = x + (size_t)b * Hi * Wi * C + c;
        const double p00 = to_f(img[((size_t)y0 * Wi + x0) * C]), p01 = to_f(img[((size_t)y0 * Wi + x1) * C]);
        const double p10 = to_f(img[((size_t)y1 * Wi + x0) * C]), p11 = to_f(img[((size_t)y1 * Wi + x1) * C]);
        y[i] = (float)((1 - ly) * (1 - lx) * p00 + (1 - ly) * lx * p01 + ly * (1 - lx) * p10 +
                       ly * lx * p11);
    }
}

extern "C" void rfs_resize_bilinear_cuda(float *y, int Ho, int Wo, const void *x, rfs_dtype t,
                                         int Hi, int Wi, int C, int nimg, void *stream) {
    const size_t n = (size_t)nimg * Ho * Wo * C;
    RFS_DISPATCH(t, T, {
        resize_kernel<T><<<nblocks(n, 256), 256, 0, as_stream(stream)>>>(y, Ho, Wo, (const T *)x, Hi, Wi, C, nimg);
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
