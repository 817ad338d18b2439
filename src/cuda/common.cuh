/* common.cuh - shared pieces of the CUDA sources: fail-fast checks (tier 2 errors, with
 * file:line), element types and their fp32 conversions, launch helpers. */
#ifndef RFS_CUDA_COMMON_CUH
#define RFS_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdint.h>

#include "cuda/backend.h"

/* util/err.h uses C11's _Noreturn, which C++ lacks: the two functions used here are
 * declared again with C++ syntax (same symbols). */
extern "C" {
rfs_status rfs_fail(rfs_status st, const char *fmt, ...);
[[noreturn]] void rfs_panic(const char *file, int line, const char *fmt, ...);
void rfs_log(rfs_log_level level, const char *fmt, ...);
}

#define CUDA_CHECK(call)                                                                   \
    do {                                                                                   \
        cudaError_t e_ = (call);                                                           \
        if (e_ != cudaSuccess)                                                             \
            rfs_panic(__FILE__, __LINE__, "%s: %s (%s)", #call, cudaGetErrorString(e_),    \
                      cudaGetErrorName(e_));                                               \
    } while (0)

#define CUBLAS_CHECK(call)                                                                 \
    do {                                                                                   \
        cublasStatus_t s_ = (call);                                                        \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                   \
            rfs_panic(__FILE__, __LINE__, "%s: cuBLAS status %d", #call, (int)s_);        \
    } while (0)

/* after every launch: catches bad configurations at the call site */
#define CUDA_LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())

#define RFS_CHECK(cond)                                                                    \
    do {                                                                                   \
        if (!(cond)) rfs_panic(__FILE__, __LINE__, "CUDA backend invariant: %s", #cond);  \
    } while (0)

typedef __half f16;
typedef __nv_bfloat16 bf16;

static inline cudaStream_t as_stream(void *s) { return (cudaStream_t)s; }

/* ---- element conversions --------------------------------------------------------------- */

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(f16 v) { return __half2float(v); }
__device__ __forceinline__ float to_f(bf16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ f16 from_f<f16>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ bf16 from_f<bf16>(float v) { return __float2bfloat16_rn(v); }

/* Calls body with T bound to the C++ type of dtype dt. */
#define RFS_DISPATCH(dt, T, ...)                                                           \
    do {                                                                                   \
        switch (dt) {                                                                      \
        case RFS_DT_F32: { typedef float T; __VA_ARGS__; } break;                          \
        case RFS_DT_F16: { typedef f16 T; __VA_ARGS__; } break;                            \
        case RFS_DT_BF16: { typedef bf16 T; __VA_ARGS__; } break;                          \
        default: RFS_CHECK(!"unknown dtype");                                              \
        }                                                                                  \
    } while (0)

static inline unsigned nblocks(size_t n, int threads) {
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float gelu_erf(float x) {
    return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
}

__device__ __forceinline__ float silu(float x) { return x / (1.f + expf(-x)); }

#endif
