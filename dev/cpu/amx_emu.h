/* amx_emu.h - a C model of the AMX tile operations gemm_amx.c uses (TILE_* macros), with
 * the semantics of the Intel SDM: a tile is `rows` rows of `colsb` bytes; TDPBF16PS
 * C[m][n] += sum over pairs p of A[m][2p]*B[p][2n] + A[m][2p+1]*B[p][2n+1] in fp32 (here
 * with the products and sums in double, then rounded: close to, not bit-equal with, the
 * hardware). Checks the configuration each operation relies on. */
#ifndef RFS_AMX_EMU_H
#define RFS_AMX_EMU_H

#include <stdint.h>

void amx_emu_config(const void *cfg);
void amx_emu_zero(int t);
void amx_emu_load(int t, const void *base, long stride);
void amx_emu_store(int t, void *base, long stride);
void amx_emu_dpbf16(int c, int a, int b);

#define TILE_CONFIG(c) amx_emu_config(c)
#define TILE_ZERO(t) amx_emu_zero(t)
#define TILE_LOAD(t, p, s) amx_emu_load(t, p, s)
#define TILE_STORE(t, p, s) amx_emu_store(t, p, s)
#define TILE_DP(c, a, b) amx_emu_dpbf16(c, a, b)

#endif
