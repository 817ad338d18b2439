/* dwconv_impl.h - the depthwise 3x3 row of rfs_rowops as plain C, included by each ISA's
 * kernel file (after its target pragma) so that the compiler vectorises it for that ISA.
 * Defines a static function rfs_dwconv_impl. */
#ifndef RFS_CPU_DWCONV_IMPL_H
#define RFS_CPU_DWCONV_IMPL_H

#include <stddef.h>

static inline void rfs_dwconv_impl(float *restrict y, const float *restrict x, int H, int W,
                                   int C, int p, const float *restrict wt,
                                   const float *restrict b) {
    const int py = p / W, px = p % W;
    for (int c = 0; c < C; c++) y[c] = b[c];
    for (int ky = 0; ky < 3; ky++) {
        const int sy = py + ky - 1;
        if (sy < 0 || sy >= H) continue;
        for (int kx = 0; kx < 3; kx++) {
            const int sx = px + kx - 1;
            if (sx < 0 || sx >= W) continue;
            const float *restrict src = x + ((size_t)sy * W + sx) * C;
            const float *restrict w = wt + (size_t)(ky * 3 + kx) * C;
            for (int c = 0; c < C; c++) y[c] += w[c] * src[c];
        }
    }
}

#endif
