#include <string.h>

#include "percepnet.h"
#include "simd.h"

static const char *const names[PN_SIMD_COUNT] = {"scalar", "avx2", "avxvnni", "neon", "dotprod"};
static int active = -1;  /* -1: not chosen yet, take the best supported */

int pn_simd_level_supported(pn_simd_level level)
{
    switch (level) {
    case PN_SIMD_SCALAR:
        return 1;
#if defined(PN_HAVE_AVX2) && (defined(__x86_64__) || defined(__i386__))
    case PN_SIMD_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
#if defined(PN_HAVE_AVXVNNI) && (defined(__x86_64__) || defined(__i386__))
    case PN_SIMD_AVXVNNI:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
               && __builtin_cpu_supports("avxvnni");
#endif
#if defined(PN_HAVE_NEON)
    case PN_SIMD_NEON:
        return 1;  /* the board's -mfpu/-mcpu flags promise it */
#endif
#if defined(PN_HAVE_DOTPROD)
    case PN_SIMD_DOTPROD:
        return 1;
#endif
    default:
        return 0;
    }
}

pn_simd_level pn_simd_level_active(void)
{
    if (active < 0) {
        int best = PN_SIMD_COUNT - 1;
        while (best > 0 && !pn_simd_level_supported((pn_simd_level)best))
            best--;
        active = best;
    }
    return (pn_simd_level)active;
}

int pn_simd_select(const char *name)
{
    if (!name)
        return PN_ERR_ARG;
    for (int i = 0; i < PN_SIMD_COUNT; i++) {
        if (strcmp(name, names[i]) == 0) {
            if (!pn_simd_level_supported((pn_simd_level)i))
                return PN_ERR_SIMD;
            active = i;
            return PN_OK;
        }
    }
    return PN_ERR_SIMD;
}

const char *pn_simd_active(void)
{
    return names[pn_simd_level_active()];
}

const char *pn_simd_available(void)
{
    static char list[64];
    if (!list[0]) {
        for (int i = 0; i < PN_SIMD_COUNT; i++) {
            if (pn_simd_level_supported((pn_simd_level)i)) {
                if (list[0])
                    strcat(list, ",");
                strcat(list, names[i]);
            }
        }
    }
    return list;
}
