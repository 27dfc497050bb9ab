/* Which SIMD path runs. Kernels are compiled once per ISA (files named *_<isa>.c) and
 * picked here: from cpuid on x86, from the board's build flags on ARM. */
#ifndef PN_SIMD_H
#define PN_SIMD_H

typedef enum {
    PN_SIMD_SCALAR = 0,
    PN_SIMD_AVX2,
    PN_SIMD_AVXVNNI,
    PN_SIMD_NEON,
    PN_SIMD_DOTPROD,
    PN_SIMD_COUNT
} pn_simd_level;

/* The level in force; the best available until pn_simd_select() says otherwise. */
pn_simd_level pn_simd_level_active(void);
int pn_simd_level_supported(pn_simd_level level);

#endif
