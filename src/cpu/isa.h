/* isa.h - which vector instruction set the CPU kernels use, chosen at run time.
 *
 * The library is built for baseline x86-64 (the Makefile's -march); the kernels for wider
 * instruction sets are compiled with per-function target attributes and picked here from
 * CPUID and the OS's enabled register state (XCR0; AMX also needs the kernel's permission).
 * The environment variable RFS_CPU_ISA caps the choice (baseline | avx2 | avx512 |
 * avx512bf16 | amx): tests and CI use it to exercise the narrower paths on a wide machine.
 * A cap above what the machine has is ignored (the detected level is used).
 *
 * Levels are ordered; each implies the ones below it:
 *   baseline    plain C (any x86-64, and any other architecture)
 *   avx2        AVX2 + FMA (x86-64-v3)
 *   avx512      AVX-512 F/BW/DQ/VL (x86-64-v4)
 *   avx512bf16  + AVX512_BF16 (vdpbf16ps): the bf16 path
 *   amx         + AMX-TILE/AMX-BF16: bf16 GEMMs on tiles
 */
#ifndef RFS_CPU_ISA_H
#define RFS_CPU_ISA_H

typedef enum rfs_cpu_isa {
    RFS_ISA_BASELINE = 0,
    RFS_ISA_AVX2 = 1,
    RFS_ISA_AVX512 = 2,
    RFS_ISA_AVX512BF16 = 3,
    RFS_ISA_AMX = 4,
} rfs_cpu_isa;

/* What the machine and OS support (cached after the first call; thread-safe). */
rfs_cpu_isa rfs_cpu_isa_detect(void);
/* The level the kernels use: the detected one, capped by RFS_CPU_ISA (read once). */
rfs_cpu_isa rfs_cpu_isa_active(void);
/* "baseline", "avx2", "avx512", "avx512bf16", "amx". */
const char *rfs_cpu_isa_name(rfs_cpu_isa isa);
/* Parses a name as above; -1 when unknown. */
int rfs_cpu_isa_parse(const char *s);

#endif
