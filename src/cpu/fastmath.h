/* fastmath.h - exp and erf written as straight-line float arithmetic, so that loops over
 * them vectorise (libm's expf/erff are calls the compiler cannot vectorise). Accuracy:
 * rfs_expf within 2 ulp of expf on [-87, 88] (Cephes' polynomial after a Cody-Waite
 * reduction); rfs_gelu within 2e-7 absolute of the exact erf GELU relative to |x| (erfc by
 * the Chebyshev fit of Numerical Recipes, fractional error < 1.2e-7). Both far inside the
 * 1e-5 tolerance the CPU path is held to against float64 references. */
#ifndef RFS_CPU_FASTMATH_H
#define RFS_CPU_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline float rfs_expf(float x) {
    x = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
    float n = __builtin_rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* erfc(z) for z >= 0 */
static inline float rfs_erfcf_pos(float z) {
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    return t * rfs_expf(-z * z + p);
}

/* exact-form GELU: 0.5 x (1 + erf(x / sqrt 2)), with erf(z) = sign(z) (1 - erfc(|z|)) */
static inline float rfs_gelu(float x) {
    float z = x * 0.70710678118654752f;
    float az = z < 0 ? -z : z;
    float c = rfs_erfcf_pos(az); /* erfc(|z|) */
    /* x >= 0: x - x c / 2; x < 0: x c / 2; one branch-free expression for both */
    return 0.5f * x + 0.5f * __builtin_fabsf(x) * (1.0f - c);
}

#endif
