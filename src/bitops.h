/* Portable bit helpers for the fluxpool core (GCC/Clang builtins, an MSVC intrinsic,
 * or a plain C fallback), so the extension builds on every cibuildwheel compiler. */
#ifndef FLUXPOOL_BITOPS_H
#define FLUXPOOL_BITOPS_H
#include <stdint.h>
#if defined(_MSC_VER)
#include <intrin.h>
#endif

static inline int fp_popcount64(uint64_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_popcountll(x);
#else
    /* Portable SWAR count; MSVC's __popcnt64 would need a CPU with POPCNT. */
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return (int)((x * 0x0101010101010101ULL) >> 56);
#endif
}

/* Index of the lowest set bit; x must be non-zero. */
static inline int fp_ctz64(uint64_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctzll(x);
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_ARM64))
    unsigned long i;
    _BitScanForward64(&i, x);
    return (int)i;
#else
    int n = 0;
    while (!(x & 1)) { x >>= 1; n++; }
    return n;
#endif
}
#endif
