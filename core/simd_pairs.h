/*
 * AVX-512 helpers for rows read or written two floats per output, as 2x2
 * pooling with stride 2 does: up to 16 pairs split into their even and odd
 * elements, and back. Shared by nn_pool.c and nn_conv_fused.c.
 */
#ifndef MG_SIMD_PAIRS_H
#define MG_SIMD_PAIRS_H

#if defined(__AVX512F__)
#include <immintrin.h>
#include <stdint.h>

/* Loads 2*k floats (k <= 16) from p as the even and odd elements (0 past k). */
static inline void mg_load_pairs(const float *p, int64_t k, __m512 *even, __m512 *odd) {
    __mmask16 lo = k >= 8 ? 0xffff : (__mmask16)((1u << (2 * k)) - 1);
    __mmask16 hi = k >= 16 ? 0xffff : k > 8 ? (__mmask16)((1u << (2 * (k - 8))) - 1) : 0;
    __m512 a = _mm512_maskz_loadu_ps(lo, p), b = _mm512_maskz_loadu_ps(hi, p + 16);
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    *even = _mm512_permutex2var_ps(a, ie, b);
    *odd = _mm512_permutex2var_ps(a, io, b);
}

/* Stores even and odd interleaved: 2*k floats (k <= 16) at p. */
static inline void mg_store_pairs(float *p, int64_t k, __m512 even, __m512 odd) {
    const __m512i lo_i = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi_i = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    __mmask16 lo = k >= 8 ? 0xffff : (__mmask16)((1u << (2 * k)) - 1);
    __mmask16 hi = k >= 16 ? 0xffff : k > 8 ? (__mmask16)((1u << (2 * (k - 8))) - 1) : 0;
    _mm512_mask_storeu_ps(p, lo, _mm512_permutex2var_ps(even, lo_i, odd));
    _mm512_mask_storeu_ps(p + 16, hi, _mm512_permutex2var_ps(even, hi_i, odd));
}
#endif

#endif
