/* elementwise.cu - activations (exact-erf GELU, SiLU, ReLU), type conversion, the seg
 * head's GELU + residual, row adds and broadcasts; plus the device memory helpers. */
#include "cuda/common.cuh"

#include <stdio.h>
#include <stdlib.h>

/* ---- device memory helpers ------------------------------------------------------------ */

extern "C" int rfs_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

extern "C" const char *rfs_cuda_device_name(int dev) {
    static char name[256];
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
        cudaGetLastError();
        return "unknown device";
    }
    snprintf(name, sizeof name, "%.200s (sm_%d%d, %d SMs, %.1f GiB)", p.name, p.major, p.minor,
             p.multiProcessorCount, p.totalGlobalMem / (1024.0 * 1024 * 1024));
    return name;
}

/* Per-device facts, read once per device (the current device at the call). */
typedef struct dev_facts {
    int known, arch, sms;
} dev_facts;

static const dev_facts *facts(void) {
    static dev_facts f[64];
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    RFS_CHECK(dev >= 0 && dev < 64);
    if (!f[dev].known) {
        int major = 0, minor = 0, sms = 0;
        CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
        int arch = major * 10 + minor;
        const char *cap = getenv("RFS_CUDA_ARCH");
        if (cap && atoi(cap) >= 75 && atoi(cap) < arch) arch = atoi(cap);
        f[dev].arch = arch, f[dev].sms = sms, f[dev].known = 1;
    }
    return &f[dev];
}

extern "C" int rfs_cuda_arch(void) { return facts()->arch; }
extern "C" int rfs_cuda_sm_count(void) { return facts()->sms; }

extern "C" void *rfs_cuda_alloc(size_t bytes) {
    void *p = NULL;
    CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
    return p;
}

extern "C" void rfs_cuda_free(void *p) {
    if (p) CUDA_CHECK(cudaFree(p));
}

extern "C" void rfs_cuda_upload(void *dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

extern "C" void rfs_cuda_download(void *dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

extern "C" void rfs_cuda_sync(void) { CUDA_CHECK(cudaDeviceSynchronize()); }

template <typename TD, typename TS>
__global__ void convert_kernel(TD *d, const TS *s, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        d[i] = from_f<TD>(to_f(s[i]));
}

static unsigned grid_for(size_t n) {
    size_t b = (n + 255) / 256;
    return (unsigned)(b < 1 ? 1 : b > 65535 * 8 ? 65535 * 8 : b);
}

extern "C" void rfs_convert_cuda(void *dst, rfs_dtype dt, const void *src, rfs_dtype st,
                                 size_t n, void *stream) {
    if (!n) return;
    RFS_DISPATCH(dt, TD, RFS_DISPATCH(st, TS, {
        convert_kernel<TD, TS><<<grid_for(n), 256, 0, as_stream(stream)>>>((TD *)dst, (const TS *)src, n);
        CUDA_LAUNCH_CHECK();
    }));
}

extern "C" void *rfs_cuda_upload_as(const float *src, size_t n, rfs_dtype t) {
    float *tmp = (float *)rfs_cuda_alloc(n * sizeof(float));
    rfs_cuda_upload(tmp, src, n * sizeof(float));
    void *d = rfs_cuda_alloc(n * rfs_dtype_size(t));
    rfs_convert_cuda(d, t, tmp, RFS_DT_F32, n, NULL);
    CUDA_CHECK(cudaDeviceSynchronize());
    rfs_cuda_free(tmp);
    return d;
}

extern "C" void rfs_cuda_download_f32(float *dst, const void *src, size_t n, rfs_dtype t) {
    float *tmp = (float *)rfs_cuda_alloc(n * sizeof(float));
    rfs_convert_cuda(tmp, RFS_DT_F32, src, t, n, NULL);
    CUDA_CHECK(cudaDeviceSynchronize());
    rfs_cuda_download(dst, tmp, n * sizeof(float));
    rfs_cuda_free(tmp);
}

/* ---- activations --------------------------------------------------------------------- */

template <typename T>
__global__ void act_kernel(T *x, size_t n, int act) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = to_f(x[i]);
        v = act == RFS_ACT_GELU ? gelu_erf(v) : act == RFS_ACT_SILU ? silu(v) : fmaxf(v, 0.f);
        x[i] = from_f<T>(v);
    }
}

/* Eight values (16 bytes) per thread for the 16-bit types: GELU after the ViT's fc1 is
 * the largest elementwise pass of the network. */
template <typename T>
__global__ void gelu8_kernel(uint4 *x, size_t n8) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n8;
         i += (size_t)gridDim.x * blockDim.x) {
        uint4 p = x[i];
        T *e = (T *)&p;
#pragma unroll
        for (int k = 0; k < 8; k++) e[k] = from_f<T>(gelu_erf(to_f(e[k])));
        x[i] = p;
    }
}

extern "C" void rfs_act_cuda(void *x, rfs_dtype t, size_t n, rfs_act act, void *stream) {
    if (!n || act == RFS_ACT_NONE) return;
    cudaStream_t st = as_stream(stream);
    if (act == RFS_ACT_GELU && t != RFS_DT_F32 && n % 8 == 0 && ((uintptr_t)x & 15) == 0) {
        if (t == RFS_DT_F16) gelu8_kernel<f16><<<grid_for(n / 8), 256, 0, st>>>((uint4 *)x, n / 8);
        else gelu8_kernel<bf16><<<grid_for(n / 8), 256, 0, st>>>((uint4 *)x, n / 8);
        CUDA_LAUNCH_CHECK();
        return;
    }
    RFS_DISPATCH(t, T, {
        act_kernel<T><<<grid_for(n), 256, 0, st>>>((T *)x, n, (int)act);
        CUDA_LAUNCH_CHECK();
    });
}

/* f += GELU(g), f and g of type T, four channels per thread; the last seg-head block
 * writes the result into the mask product's operand (row stride ldh) instead of f. */
template <typename T>
__global__ void gelu_residual_kernel(T *f, T *fh, int ldh, const T *g, unsigned n4, int C4) {
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += gridDim.x * blockDim.x) {
        const T *fi = f + 4 * (size_t)i, *gi = g + 4 * (size_t)i;
        float v[4];
#pragma unroll
        for (int k = 0; k < 4; k++) v[k] = to_f(fi[k]) + gelu_erf(to_f(gi[k]));
        T *o = fh ? fh + (size_t)(i / C4) * ldh + 4 * (i % C4) : f + 4 * (size_t)i;
#pragma unroll
        for (int k = 0; k < 4; k++) o[k] = from_f<T>(v[k]);
    }
}

extern "C" void rfs_gelu_residual_cuda(void *f, void *fh, int ldh, const void *g, rfs_dtype t,
                                       int rows, int C, void *stream) {
    const size_t n = (size_t)rows * C;
    if (!n) return;
    RFS_CHECK(C % 4 == 0 && n / 4 < 0xffffffffu);
    RFS_DISPATCH(t, T, {
        gelu_residual_kernel<T><<<grid_for(n / 4), 256, 0, as_stream(stream)>>>((T *)f, (T *)fh, ldh, (const T *)g, (unsigned)(n / 4), C / 4);
        CUDA_LAUNCH_CHECK();
    });
}

template <typename T>
__global__ void add_rows_kernel(T *y, int ldy, const float *a, int lda, const float *b, int ldb,
                                int rows, int C) {
    const unsigned n = (unsigned)rows * C;
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        const unsigned r = i / C, c = i % C;
        float v = a[(size_t)r * lda + c];
        if (b) v += b[(size_t)r * ldb + c];
        y[(size_t)r * ldy + c] = from_f<T>(v);
    }
}

extern "C" void rfs_add_rows_cuda(void *y, rfs_dtype t, int ldy, const float *a, int lda,
                                  const float *b, int ldb, int rows, int C, void *stream) {
    if (rows <= 0) return;
    RFS_CHECK((size_t)rows * C < 0xffffffffu);
    RFS_DISPATCH(t, T, {
        add_rows_kernel<T><<<grid_for((size_t)rows * C), 256, 0, as_stream(stream)>>>((T *)y, ldy, a, lda, b, ldb, rows, C);
        CUDA_LAUNCH_CHECK();
    });
}

__global__ void broadcast_rows_kernel(float *dst, const float *src, size_t per_img, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = src[i % per_img];
}

extern "C" void rfs_broadcast_rows_cuda(float *dst, const float *src, int rows, int C, int nimg,
                                        void *stream) {
    const size_t per = (size_t)rows * C, n = per * nimg;
    if (!n) return;
    broadcast_rows_kernel<<<grid_for(n), 256, 0, as_stream(stream)>>>(dst, src, per, n);
    CUDA_LAUNCH_CHECK();
}
