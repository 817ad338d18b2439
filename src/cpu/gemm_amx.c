/* gemm_amx.c - the AMX bf16 GEMM micro-kernel: 32 rows x 32 columns in four 16x16 fp32
 * tiles, A as two 16-row tiles of row-major bf16 (32 k each), B as the two 16-column halves
 * of a bf16 weight panel (gemm.h: [k/2][32][2] is the VNNI layout an AMX B tile reads with
 * a row stride of 128 bytes). Only called after run-time detection, which also asks the
 * kernel for the tile state (isa.c). */
#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma,avx2"))), apply_to = function)
#else
#pragma GCC target("amx-tile,amx-bf16,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma,avx2")
#endif

#include "cpu/simd_avx512.h"

#include <string.h>

#if defined(RFS_AMX_EMULATE)
/* dev/cpu/amx_emu.c builds this file on a C model of the tiles (machines without AMX) */
#include "amx_emu.h"
#else
#define TILE_CONFIG(c) _tile_loadconfig(c)
#define TILE_ZERO(t) _tile_zero(t)
#define TILE_LOAD(t, p, s) _tile_loadd(t, p, s)
#define TILE_STORE(t, p, s) _tile_stored(t, p, s)
#define TILE_DP(c, a, b) _tile_dpbf16ps(c, a, b)
#endif

enum { MR = RFS_MR_AMX };

/* Tiles 0-3: C (rows 0-15 x cols 0-15, 0-15 x 16-31, 16-31 x 0-15, 16-31 x 16-31);
 * 4, 5: A rows 0-15 / 16-31; 6, 7: B cols 0-15 / 16-31. Every tile 16 rows of 64 bytes. */
typedef struct tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

static _Thread_local int configured;

static void configure(void) {
    _Alignas(64) tilecfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) {
        c.colsb[t] = 64;
        c.rows[t] = 16;
    }
    TILE_CONFIG(&c);
    configured = 1;
}

/* A: MR rows of K bf16 (row-major, K a multiple of 32), B: a bf16 panel (bks = 32 pairs). */
void rfs_kern_bf16_amx(int mr, int nr, int K, const void *A, const void *B, long bks, float *C,
                       long ldc, const rfs_epi *e) {
    _Alignas(64) float t[MR * 32];
    if (!configured) configure();
    const char *a = A, *b = B;
    const long sa = (long)K * 2, sb = bks * 4; /* bytes per A row / per B pair row */
    TILE_ZERO(0);
    TILE_ZERO(1);
    TILE_ZERO(2);
    TILE_ZERO(3);
    for (int k = 0; k < K; k += 32) {
        TILE_LOAD(4, a + (size_t)k * 2, sa);
        TILE_LOAD(5, a + 16 * sa + (size_t)k * 2, sa);
        TILE_LOAD(6, b + (size_t)(k / 2) * sb, sb);
        TILE_LOAD(7, b + (size_t)(k / 2) * sb + 64, sb);
        TILE_DP(0, 4, 6);
        TILE_DP(1, 4, 7);
        TILE_DP(2, 5, 6);
        TILE_DP(3, 5, 7);
    }
    TILE_STORE(0, t, 128);
    TILE_STORE(1, t + 16, 128);
    TILE_STORE(2, t + 16 * 32, 128);
    TILE_STORE(3, t + 16 * 32 + 16, 128);
    rfs_v16_epilogue(t, mr, nr, C, ldc, e);
}

/* mr rows of K floats -> MR rows of Kp bf16, row-major, zero padded (rows and k). */
void rfs_packa_bf16_amx(void *dstv, const float *const *rows, int mr, int K, int Kp) {
    uint16_t *dst = dstv;
    for (int i = 0; i < MR; i++) {
        uint16_t *d = dst + (size_t)i * Kp;
        for (int k0 = 0; k0 < Kp; k0 += 32) {
            __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
            if (i < mr) {
                lo = _mm512_maskz_loadu_ps(rfs_v16_mask(K - k0), rows[i] + k0);
                hi = _mm512_maskz_loadu_ps(rfs_v16_mask(K - k0 - 16), rows[i] + k0 + 16);
            }
            _mm512_storeu_si512(d + k0, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
typedef int rfs_gemm_amx_unused;
#endif
