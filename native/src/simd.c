#include <string.h>

#include "percepnet.h"
#include "simd.h"

/* The level in force is chosen when the library is loaded (a constructor), before any caller
 * thread exists, and so is the list of available paths: nothing is initialised lazily. Later
 * reads and pn_simd_select() writes are atomic, so a select racing a running state makes it
 * read one level or the other, never a torn or half-initialised value. A compiler without
 * constructors and atomics falls back to choosing on first use (single-threaded callers). */
#if defined(__GNUC__)
#define PN_CONSTRUCTOR __attribute__((constructor))
#define LOAD(v) __atomic_load_n(&(v), __ATOMIC_ACQUIRE)
#define STORE(v, x) __atomic_store_n(&(v), (x), __ATOMIC_RELEASE)
#else
#define PN_CONSTRUCTOR
#define LOAD(v) (v)
#define STORE(v, x) ((v) = (x))
#endif

static const char *const names[PN_SIMD_COUNT] = {"scalar", "avx2", "avxvnni", "neon", "dotprod"};
static int active = -1;      /* -1 only before the constructor (or first use without one) */
static char available[64];

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

PN_CONSTRUCTOR static void simd_init(void)
{
    if (LOAD(active) >= 0)
        return;
    char list[sizeof available] = "";
    int best = PN_SIMD_SCALAR;
    for (int i = 0; i < PN_SIMD_COUNT; i++) {
        if (pn_simd_level_supported((pn_simd_level)i)) {
            if (list[0])
                strcat(list, ",");
            strcat(list, names[i]);
            best = i;
        }
    }
    memcpy(available, list, sizeof available);
    STORE(active, best);
}

pn_simd_level pn_simd_level_active(void)
{
    int level = LOAD(active);
    if (level < 0) {
        simd_init();
        level = LOAD(active);
    }
    return (pn_simd_level)level;
}

int pn_simd_select(const char *name)
{
    if (!name)
        return PN_ERR_ARG;
    for (int i = 0; i < PN_SIMD_COUNT; i++) {
        if (strcmp(name, names[i]) == 0) {
            if (!pn_simd_level_supported((pn_simd_level)i))
                return PN_ERR_SIMD;
            STORE(active, i);
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
    pn_simd_level_active();   /* initialised (only ever needed without a constructor) */
    return available;
}
