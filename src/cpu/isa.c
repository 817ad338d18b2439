/* isa.c - run-time instruction-set detection (see isa.h). */
#include "cpu/isa.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#define RFS_X86 1
#endif

static const char *const NAMES[] = {"baseline", "avx2", "avx512", "avx512bf16", "amx"};

const char *rfs_cpu_isa_name(rfs_cpu_isa isa) {
    return (unsigned)isa < sizeof NAMES / sizeof NAMES[0] ? NAMES[isa] : "unknown";
}

int rfs_cpu_isa_parse(const char *s) {
    for (int i = 0; i < (int)(sizeof NAMES / sizeof NAMES[0]); i++)
        if (!strcmp(s, NAMES[i])) return i;
    return -1;
}

#if RFS_X86
static unsigned long long xgetbv0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

/* AMX tile data is off until the process asks the kernel for it (Linux >= 5.16). */
static int amx_permitted(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return 0;
#endif
}

static rfs_cpu_isa detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return RFS_ISA_BASELINE;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx || !fma) return RFS_ISA_BASELINE;
    const unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return RFS_ISA_BASELINE; /* XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return RFS_ISA_BASELINE;
    const unsigned b7 = b, d7 = d;
    if (!((b7 >> 5) & 1)) return RFS_ISA_BASELINE; /* AVX2 */
    const int avx512 = ((b7 >> 16) & 1) && ((b7 >> 17) & 1) && ((b7 >> 30) & 1) &&
                       ((b7 >> 31) & 1); /* F, DQ, BW, VL */
    if (!avx512 || (xcr0 & 0xe0) != 0xe0) return RFS_ISA_AVX2; /* opmask, ZMM state */
    unsigned a71 = 0, b71, c71, d71;
    if (!__get_cpuid_count(7, 1, &a71, &b71, &c71, &d71)) return RFS_ISA_AVX512;
    if (!((a71 >> 5) & 1)) return RFS_ISA_AVX512; /* AVX512_BF16 */
    const int amx = ((d7 >> 22) & 1) && ((d7 >> 24) & 1); /* AMX-BF16, AMX-TILE */
    if (amx && (xcr0 & 0x60000) == 0x60000 && amx_permitted()) return RFS_ISA_AMX;
    return RFS_ISA_AVX512BF16;
}
#else
static rfs_cpu_isa detect(void) { return RFS_ISA_BASELINE; }
#endif

/* -1: not computed yet. Racing first calls compute the same value. */
static int detected = -1, active = -1;

rfs_cpu_isa rfs_cpu_isa_detect(void) {
    int v = __atomic_load_n(&detected, __ATOMIC_ACQUIRE);
    if (v < 0) {
        v = (int)detect();
        __atomic_store_n(&detected, v, __ATOMIC_RELEASE);
    }
    return (rfs_cpu_isa)v;
}

rfs_cpu_isa rfs_cpu_isa_active(void) {
    int v = __atomic_load_n(&active, __ATOMIC_ACQUIRE);
    if (v < 0) {
        v = (int)rfs_cpu_isa_detect();
        const char *cap = getenv("RFS_CPU_ISA");
        int want = cap && *cap ? rfs_cpu_isa_parse(cap) : -1;
        if (want >= 0 && want < v) v = want;
        __atomic_store_n(&active, v, __ATOMIC_RELEASE);
    }
    return (rfs_cpu_isa)v;
}
