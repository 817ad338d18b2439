/* norm.cu - LayerNorm over the channels of each row (one warp per row), with the fused
 * variants the forward pass needs: SiLU and a second norm (projector ConvX + final LN),
 * an fp32 copy and a "+ query position" copy of the output (decoder), and the tap mode
 * that un-windows ViT tokens into grid order (backbone taps).
 *
 * Statistics in fp32, two passes over the row held in registers (mean, then the mean of
 * squared deviations): the same biased variance as the CPU, which uses double. */
#include "cuda/common.cuh"

#include <type_traits>

/* Warp sum in the statistics type: double for fp32 sessions (the CPU oracle's LayerNorm
 * accumulates in double), float otherwise. */
template <typename A> __device__ __forceinline__ A warp_sum_t(A v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <typename TX, typename TY, int NV>
__global__ void __launch_bounds__(256) ln_kernel(rfs_ln_args a) {
    typedef typename std::conditional<std::is_same<TY, float>::value, double, float>::type A;
    const int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
    if (warp >= a.M) return;
    const int C = a.C;
    long in_row = warp;
    if (a.tap_nw > 0 && !a.tap_y) { /* output row = image*G*G + pixel; input = its token */
        const int G = a.tap_G, nw = a.tap_nw, gw = G / nw, Tw = 1 + gw * gw;
        const int img = warp / (G * G), p = warp % (G * G), gy = p / G, gx = p % G;
        const int win = (gy / gw) * nw + gx / gw;
        in_row = (long)img * nw * nw * Tw + (long)win * Tw + 1 + (gy % gw) * gw + gx % gw;
    }
    const TX *x = (const TX *)a.x + in_row * a.ldx;
    float v[NV], gg[NV], bb[NV];
    A s = 0;
#pragma unroll
    for (int i = 0; i < NV; i++) { /* the row and the norm's parameters, all loads in flight */
        const int c = lane + 32 * i;
        const bool in = c < C;
        v[i] = in ? to_f(x[c]) : 0.f;
        gg[i] = in ? a.g[c] : 0.f;
        bb[i] = in ? a.b[c] : 0.f;
    }
#pragma unroll
    for (int i = 0; i < NV; i++) s += (A)v[i];
    const A mean = warp_sum_t(s) / (A)C;
    A q = 0;
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const A d = lane + 32 * i < C ? (A)v[i] - mean : (A)0;
        q += d * d;
    }
    const A rstd = (A)1 / sqrt(warp_sum_t(q) / (A)C + (A)a.eps);
    if (a.tap_y) { /* the backbone tap of this token (3.6): its pixel's row, CLS dropped */
        const int G = a.tap_G, nw = a.tap_nw, gw = G / nw, Tw = 1 + gw * gw, NT = nw * nw * Tw;
        const int img = warp / NT, t = warp % NT, win = t / Tw, j = t % Tw;
        if (j > 0) {
            const int gy = (win / nw) * gw + (j - 1) / gw, gx = (win % nw) * gw + (j - 1) % gw;
            TY *ty = (TY *)a.tap_y + ((long)img * G * G + gy * G + gx) * a.tap_ld;
#pragma unroll
            for (int i = 0; i < NV; i++) {
                const int c = lane + 32 * i;
                if (c < C) ty[c] = from_f<TY>((float)(((A)v[i] - mean) * rstd * (A)a.tap_g[c] + (A)a.tap_b[c]));
            }
        }
    }
#pragma unroll
    for (int i = 0; i < NV; i++) {
        float u = (float)(((A)v[i] - mean) * rstd * (A)gg[i] + (A)bb[i]);
        if (a.act == RFS_ACT_SILU) u = silu(u);
        v[i] = u;
    }
    if (a.g2) { /* second LayerNorm on the activated values */
        s = 0;
#pragma unroll
        for (int i = 0; i < NV; i++) s += lane + 32 * i < C ? (A)v[i] : (A)0;
        const A m2 = warp_sum_t(s) / (A)C;
        q = 0;
#pragma unroll
        for (int i = 0; i < NV; i++) {
            const A d = lane + 32 * i < C ? (A)v[i] - m2 : (A)0;
            q += d * d;
        }
        const A r2 = (A)1 / sqrt(warp_sum_t(q) / (A)C + (A)a.eps2);
#pragma unroll
        for (int i = 0; i < NV; i++) {
            const int c = lane + 32 * i;
            if (c < C) v[i] = (float)(((A)v[i] - m2) * r2 * (A)a.g2[c] + (A)a.b2[c]);
        }
    }
    TY *y = (TY *)a.y + (long)warp * a.ldy;
    float *y32 = a.y32 ? a.y32 + (long)warp * a.ldy32 : nullptr;
    TY *yq = a.yq ? (TY *)a.yq + (long)warp * a.ldy : nullptr;
    const float *qp = a.q ? a.q + (long)warp * a.ldq : nullptr;
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = lane + 32 * i;
        if (c < C) {
            y[c] = from_f<TY>(v[i]);
            if (y32) y32[c] = v[i];
            if (yq) yq[c] = from_f<TY>(v[i] + qp[c]);
        }
    }
}

template <typename TX, typename TY>
static void launch_ln(const rfs_ln_args *a, cudaStream_t st) {
    const int threads = 256, rows_per_block = threads / 32;
    const unsigned grid = nblocks((size_t)a->M, rows_per_block);
    const int nv = (a->C + 31) / 32;
#define LN_CASE(N)                                                                         \
    if (nv <= N) {                                                                         \
        ln_kernel<TX, TY, N><<<grid, threads, 0, st>>>(*a);                                \
        CUDA_LAUNCH_CHECK();                                                               \
        return;                                                                            \
    }
    LN_CASE(1) LN_CASE(2) LN_CASE(4) LN_CASE(8) LN_CASE(12) LN_CASE(16) LN_CASE(20) LN_CASE(32)
#undef LN_CASE
    RFS_CHECK(!"LayerNorm width above 1024");
}

extern "C" void rfs_layernorm_cuda(const rfs_ln_args *a, void *stream) {
    if (a->M <= 0) return;
    RFS_CHECK(a->C >= 1 && a->C <= 1024);
    RFS_CHECK(a->act == RFS_ACT_NONE || a->act == RFS_ACT_SILU);
    cudaStream_t st = as_stream(stream);
    RFS_DISPATCH(a->xt, TX, RFS_DISPATCH(a->yt, TY, launch_ln<TX, TY>(a, st)));
}
