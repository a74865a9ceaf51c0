/*
 * Pooling: max_pool2d and avg_pool2d (forward and backward) with PyTorch's
 * semantics (padding, ceil_mode, count_include_pad), their naive twins, and
 * a fast path for the common 2x2 window with stride 2.
 *
 * Max pooling saves its input, not indices: the backward pass finds each
 * window's maximum again, which for 2x2/2 windows lets it write every input
 * gradient in one pass instead of zeroing and scattering. Ties go to the
 * first maximum in the window (row by row) and NaN wins, as in PyTorch.
 */
#include "nn_conv.h"
#include "simd_pairs.h"

#include <omp.h>

/* ---- geometry ----------------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

int64_t mg_pool_out_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
    int64_t out = floor_div(in + 2 * p - k + (ceil_mode ? s - 1 : 0), s) + 1;
    if (ceil_mode && out > 0 && (out - 1) * s >= in + p) out--;
    return out;
}

/* Options already checked. */
static void fill_geom(mg_pool_geom *g, const int64_t *shape, const mg_pool_opts *o) {
    *g = (mg_pool_geom){.N = shape[0], .C = shape[1], .H = shape[2], .W = shape[3],
                        .kh = o->kernel[0], .kw = o->kernel[1], .sh = o->stride[0], .sw = o->stride[1],
                        .ph = o->padding[0], .pw = o->padding[1], .ceil_mode = o->ceil_mode,
                        .count_include_pad = o->count_include_pad};
    g->OH = mg_pool_out_size(g->H, g->kh, g->sh, g->ph, g->ceil_mode);
    g->OW = mg_pool_out_size(g->W, g->kw, g->sw, g->pw, g->ceil_mode);
}

int mg_pool_geom_init(mg_pool_geom *g, const char *op, const mg_tensor *x, const mg_pool_opts *o) {
    if (x->dtype != MG_F32) return mg_error("%s: needs a float32 tensor, got %s", op, mg_dtype_name(x->dtype));
    if (x->ndim != 4) return mg_error("%s: input must be 4-D [N, C, H, W], got %s", op, mg_shp(x));
    if (!o) return mg_error("%s: options are required (kernel size)", op);
    if (o->kernel[0] < 1 || o->kernel[1] < 1)
        return mg_error("%s: kernel_size must be >= 1, got [%d, %d]", op, o->kernel[0], o->kernel[1]);
    if (o->stride[0] < 1 || o->stride[1] < 1)
        return mg_error("%s: stride must be >= 1, got [%d, %d]", op, o->stride[0], o->stride[1]);
    if (o->padding[0] < 0 || o->padding[1] < 0 || o->padding[0] > o->kernel[0] / 2 ||
        o->padding[1] > o->kernel[1] / 2)
        return mg_error("%s: padding must be >= 0 and at most half the kernel size, got padding [%d, %d] "
                        "for kernel_size [%d, %d]",
                        op, o->padding[0], o->padding[1], o->kernel[0], o->kernel[1]);
    fill_geom(g, x->shape, o);
    if (g->OH < 1 || g->OW < 1)
        return mg_error("%s: input %s is too small for kernel_size [%d, %d] with padding [%d, %d] "
                        "(output would be %lld x %lld)",
                        op, mg_shp(x), o->kernel[0], o->kernel[1], o->padding[0], o->padding[1],
                        (long long)g->OH, (long long)g->OW);
    return MG_OK;
}

/* The 2x2 window with stride 2 and no padding: the fast path. Windows that
 * run past the input (ceil_mode, odd sizes) are left to the general loop. */
static bool is_2x2(const mg_pool_geom *g) {
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0;
}

#define PLANES_PARALLEL(g) if ((g)->N * (g)->C * (g)->H * (g)->W > MG_PAR_GRAIN && (g)->N * (g)->C > 1)

/* Window of output (oh, ow) clipped to the input. */
static inline void window(const mg_pool_geom *g, int64_t oh, int64_t ow, int64_t *h0, int64_t *h1, int64_t *w0,
                          int64_t *w1) {
    int64_t hs = oh * g->sh - g->ph, ws = ow * g->sw - g->pw;
    int64_t he = hs + g->kh < g->H ? hs + g->kh : g->H, we = ws + g->kw < g->W ? ws + g->kw : g->W;
    *h0 = hs < 0 ? 0 : hs, *w0 = ws < 0 ? 0 : ws, *h1 = he, *w1 = we;
}

/* Index in the plane of the window's first maximum (NaN wins). */
static inline int64_t argmax_window(const float *x, int64_t W, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    float m = -INFINITY;
    int64_t at = h0 * W + w0;
    for (int64_t h = h0; h < h1; h++)
        for (int64_t w = w0; w < w1; w++) {
            float v = x[h * W + w];
            if (v > m || isnan(v)) m = v, at = h * W + w;
        }
    return at;
}

/* ---- max pool ----------------------------------------------------------------------- */

/* Branch-free helpers for the 2x2 loops: on random data the scalar code
 * mispredicts branches on comparisons, so choices are made with bit masks,
 * which also vectorize as plain compares and blends. */
static inline float sel(int cond, float a, float b) { /* cond ? a : b */
    uint32_t ua, ub, m = (uint32_t)-cond;
    memcpy(&ua, &a, 4), memcpy(&ub, &b, 4);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, 4);
    return a;
}
/* The running maximum m after v: v if larger or NaN. */
static inline float max_nan(float m, float v) { return sel((v > m) | (v != v), v, m); }

/* 2x2 windows of rows r0, r1 -> n outputs: the portable loops */
static void max2x2_fwd_row_c(float *o, const float *r0, const float *r1, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        o[i] = max_nan(max_nan(max_nan(r0[2 * i], r0[2 * i + 1]), r1[2 * i]), r1[2 * i + 1]);
}

/* gradients g of n 2x2 windows -> rows d0, d1 (all written) */
static void max2x2_bwd_row_c(float *d0, float *d1, const float *r0, const float *r1, const float *g, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float a = r0[2 * i], b = r0[2 * i + 1], c = r1[2 * i], d = r1[2 * i + 1];
        float m = max_nan(max_nan(max_nan(a, b), c), d), gv = g[i];
        /* the first element equal to the maximum; with NaN, the last NaN */
        int at_eq = (a != m) * (1 + (b != m) * (1 + (c != m)));
        int at_nan = (d != d) ? 3 : (c != c) ? 2 : (b != b);
        int at = m != m ? at_nan : at_eq;
        d0[2 * i] = sel(at == 0, gv, 0.0f);
        d0[2 * i + 1] = sel(at == 1, gv, 0.0f);
        d1[2 * i] = sel(at == 2, gv, 0.0f);
        d1[2 * i + 1] = sel(at == 3, gv, 0.0f);
    }
}

#if defined(__AVX512F__)
#include <immintrin.h>

/* Sixteen windows at a time; the tail uses masked loads and stores, so
 * short rows (13 windows for 26 columns) need no scalar loop. */
static inline __m512 max_nan16(__m512 m, __m512 v) {
    __mmask16 take = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    return _mm512_mask_blend_ps(take, m, v);
}

static void max2x2_fwd_row(float *o, const float *r0, const float *r1, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        int64_t k = n - i < 16 ? n - i : 16;
        __m512 a, b, c, d;
        mg_load_pairs(r0 + 2 * i, k, &a, &b);
        mg_load_pairs(r1 + 2 * i, k, &c, &d);
        __m512 m = max_nan16(max_nan16(max_nan16(a, b), c), d);
        _mm512_mask_storeu_ps(o + i, (__mmask16)((1u << k) - 1), m);
    }
}

static void max2x2_bwd_row(float *d0, float *d1, const float *r0, const float *r1, const float *g, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        int64_t k = n - i < 16 ? n - i : 16;
        __m512 a, b, c, d;
        mg_load_pairs(r0 + 2 * i, k, &a, &b);
        mg_load_pairs(r1 + 2 * i, k, &c, &d);
        __m512 m = max_nan16(max_nan16(max_nan16(a, b), c), d);
        __m512 gv = _mm512_maskz_loadu_ps((__mmask16)((1u << k) - 1), g + i);
        /* the first element equal to the maximum; with NaN, the last NaN */
        __mmask16 e0 = _mm512_cmp_ps_mask(a, m, _CMP_EQ_OQ);
        __mmask16 e1 = _mm512_cmp_ps_mask(b, m, _CMP_EQ_OQ) & ~e0;
        __mmask16 e2 = _mm512_cmp_ps_mask(c, m, _CMP_EQ_OQ) & ~(e0 | e1);
        __mmask16 e3 = ~(e0 | e1 | e2);
        __mmask16 nan = _mm512_cmp_ps_mask(m, m, _CMP_UNORD_Q);
        if (nan) {
            __mmask16 n3 = _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q);
            __mmask16 n2 = _mm512_cmp_ps_mask(c, c, _CMP_UNORD_Q) & ~n3;
            __mmask16 n1 = _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q) & ~(n3 | n2);
            __mmask16 n0 = ~(n1 | n2 | n3);
            e0 = (e0 & ~nan) | (n0 & nan), e1 = (e1 & ~nan) | (n1 & nan);
            e2 = (e2 & ~nan) | (n2 & nan), e3 = (e3 & ~nan) | (n3 & nan);
        }
        mg_store_pairs(d0 + 2 * i, k, _mm512_maskz_mov_ps(e0, gv), _mm512_maskz_mov_ps(e1, gv));
        mg_store_pairs(d1 + 2 * i, k, _mm512_maskz_mov_ps(e2, gv), _mm512_maskz_mov_ps(e3, gv));
    }
}
#else
#define max2x2_fwd_row max2x2_fwd_row_c
#define max2x2_bwd_row max2x2_bwd_row_c
#endif

/* one plane, general windows, outputs [oh0, OH) x [0, OW) and [0, oh0) x [ow0, OW) */
static void max_plane_general(float *o, const float *x, const mg_pool_geom *g, int64_t oh0, int64_t ow0) {
    for (int64_t oh = 0; oh < g->OH; oh++)
        for (int64_t ow = oh < oh0 ? ow0 : 0; ow < g->OW; ow++) {
            int64_t h0, h1, w0, w1;
            window(g, oh, ow, &h0, &h1, &w0, &w1);
            o[oh * g->OW + ow] = x[argmax_window(x, g->W, h0, h1, w0, w1)];
        }
}

typedef void (*fwd_row_fn)(float *, const float *, const float *, int64_t);
typedef void (*bwd_row_fn)(float *, float *, const float *, const float *, const float *, int64_t);

/* inp (N,C,H,W) -> out (N,C,OH,OW), with `row` for the full 2x2 windows */
static void max_fwd(float *out, const float *inp, const mg_pool_geom *g, fwd_row_fn row) {
    const int64_t planes = g->N * g->C, H = g->H, W = g->W, OH = g->OH, OW = g->OW;
    const bool fast = is_2x2(g);
    const int64_t fh = fast ? H / 2 : 0, fw = fast ? W / 2 : 0; /* full 2x2 windows */
#pragma omp parallel for PLANES_PARALLEL(g) schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *x = inp + pl * H * W;
        float *o = out + pl * OH * OW;
        for (int64_t oh = 0; oh < fh; oh++) {
            const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
            row(o + oh * OW, r0, r1, fw);
        }
        if (fh < OH || fw < OW) max_plane_general(o, x, g, fh, fw);
    }
}

/* The 2x2 fast path writes every input gradient of the fh x fw full
 * windows; this zeroes the rest of the plane dx (all of it when there are
 * none), so that the general windows can accumulate into it. */
static void zero_outside_full_windows(float *dx, const mg_pool_geom *g, int64_t fh, int64_t fw) {
    const int64_t H = g->H, W = g->W;
    if (fh == g->OH && fw == g->OW && 2 * fh == H && 2 * fw == W) return;
    if (fh == 0) {
        memset(dx, 0, (size_t)(H * W) * sizeof(float));
        return;
    }
    for (int64_t h = 0; h < 2 * fh; h++) memset(dx + h * W + 2 * fw, 0, (size_t)(W - 2 * fw) * sizeof(float));
    memset(dx + 2 * fh * W, 0, (size_t)((H - 2 * fh) * W) * sizeof(float));
}

/* dout (N,C,OH,OW) -> dinp (N,C,H,W) */
static void max_bwd(float *dinp, const float *dout, const float *inp, const mg_pool_geom *g,
                    bwd_row_fn row) {
    const int64_t planes = g->N * g->C, H = g->H, W = g->W, OH = g->OH, OW = g->OW;
    const bool fast = is_2x2(g);
    const int64_t fh = fast ? H / 2 : 0, fw = fast ? W / 2 : 0;
#pragma omp parallel for PLANES_PARALLEL(g) schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *x = inp + pl * H * W, *go = dout + pl * OH * OW;
        float *dx = dinp + pl * H * W;
        zero_outside_full_windows(dx, g, fh, fw);
        for (int64_t oh = 0; oh < fh; oh++) {
            const float *r0 = x + 2 * oh * W, *r1 = r0 + W, *grow = go + oh * OW;
            row(dx + 2 * oh * W, dx + 2 * oh * W + W, r0, r1, grow, fw);
        }
        for (int64_t oh = 0; oh < OH; oh++) /* windows outside the fast block (overlapping ones too) */
            for (int64_t ow = oh < fh ? fw : 0; ow < OW; ow++) {
                int64_t h0, h1, w0, w1;
                window(g, oh, ow, &h0, &h1, &w0, &w1);
                dx[argmax_window(x, W, h0, h1, w0, w1)] += go[oh * OW + ow];
            }
    }
}

void mg_max_pool2d_fwd(float *out, const float *inp, const mg_pool_geom *g) {
    max_fwd(out, inp, g, max2x2_fwd_row);
}
void mg_max_pool2d_bwd(float *dinp, const float *dout, const float *inp, const mg_pool_geom *g) {
    max_bwd(dinp, dout, inp, g, max2x2_bwd_row);
}
void mg_max_pool2d_fwd_portable(float *out, const float *inp, const mg_pool_geom *g) {
    max_fwd(out, inp, g, max2x2_fwd_row_c);
}
void mg_max_pool2d_bwd_portable(float *dinp, const float *dout, const float *inp, const mg_pool_geom *g) {
    max_bwd(dinp, dout, inp, g, max2x2_bwd_row_c);
}

void mg_max_pool2d_fwd_naive(float *out, const float *inp, const mg_pool_geom *g) {
    for (int64_t pl = 0; pl < g->N * g->C; pl++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                float m = -INFINITY;
                for (int64_t i = 0; i < g->kh; i++)
                    for (int64_t j = 0; j < g->kw; j++) {
                        int64_t h = oh * g->sh - g->ph + i, w = ow * g->sw - g->pw + j;
                        if (h < 0 || h >= g->H || w < 0 || w >= g->W) continue;
                        float v = inp[(pl * g->H + h) * g->W + w];
                        if (v > m || isnan(v)) m = v;
                    }
                out[(pl * g->OH + oh) * g->OW + ow] = m;
            }
}

void mg_max_pool2d_bwd_naive(float *dinp, const float *dout, const float *inp, const mg_pool_geom *g) {
    memset(dinp, 0, (size_t)(g->N * g->C * g->H * g->W) * sizeof(float));
    for (int64_t pl = 0; pl < g->N * g->C; pl++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                float m = -INFINITY;
                int64_t at = -1;
                for (int64_t i = 0; i < g->kh; i++)
                    for (int64_t j = 0; j < g->kw; j++) {
                        int64_t h = oh * g->sh - g->ph + i, w = ow * g->sw - g->pw + j;
                        if (h < 0 || h >= g->H || w < 0 || w >= g->W) continue;
                        float v = inp[(pl * g->H + h) * g->W + w];
                        if (at < 0) at = h * g->W + w;
                        if (v > m || isnan(v)) m = v, at = h * g->W + w;
                    }
                dinp[pl * g->H * g->W + at] += dout[(pl * g->OH + oh) * g->OW + ow];
            }
}

/* ---- average pool ------------------------------------------------------------------- */

/* The divisor of output (oh, ow): the window clipped to the padded input
 * (count_include_pad) or to the input itself. */
static inline float avg_divisor(const mg_pool_geom *g, int64_t oh, int64_t ow) {
    int64_t hs = oh * g->sh - g->ph, ws = ow * g->sw - g->pw;
    int64_t he = hs + g->kh, we = ws + g->kw;
    if (g->count_include_pad) {
        if (he > g->H + g->ph) he = g->H + g->ph;
        if (we > g->W + g->pw) we = g->W + g->pw;
    } else {
        if (hs < 0) hs = 0;
        if (ws < 0) ws = 0;
        if (he > g->H) he = g->H;
        if (we > g->W) we = g->W;
    }
    return (float)((he - hs) * (we - ws));
}

void mg_avg_pool2d_fwd(float *out, const float *inp, const mg_pool_geom *g) {
    const int64_t planes = g->N * g->C, H = g->H, W = g->W, OH = g->OH, OW = g->OW;
    const bool fast = is_2x2(g);
    const int64_t fh = fast ? H / 2 : 0, fw = fast ? W / 2 : 0;
#pragma omp parallel for PLANES_PARALLEL(g) schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *x = inp + pl * H * W;
        float *o = out + pl * OH * OW;
        for (int64_t oh = 0; oh < fh; oh++) {
            const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
            float *orow = o + oh * OW;
#pragma omp simd
            for (int64_t ow = 0; ow < fw; ow++)
                orow[ow] = (((r0[2 * ow] + r0[2 * ow + 1]) + r1[2 * ow]) + r1[2 * ow + 1]) / 4.0f;
        }
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = oh < fh ? fw : 0; ow < OW; ow++) {
                int64_t h0, h1, w0, w1;
                window(g, oh, ow, &h0, &h1, &w0, &w1);
                float s = 0;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) s += x[h * W + w];
                o[oh * OW + ow] = s / avg_divisor(g, oh, ow);
            }
    }
}

void mg_avg_pool2d_bwd(float *dinp, const float *dout, const mg_pool_geom *g) {
    const int64_t planes = g->N * g->C, H = g->H, W = g->W, OH = g->OH, OW = g->OW;
    const bool fast = is_2x2(g);
    const int64_t fh = fast ? H / 2 : 0, fw = fast ? W / 2 : 0;
#pragma omp parallel for PLANES_PARALLEL(g) schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *go = dout + pl * OH * OW;
        float *dx = dinp + pl * H * W;
        zero_outside_full_windows(dx, g, fh, fw);
        for (int64_t oh = 0; oh < fh; oh++) {
            const float *grow = go + oh * OW;
            float *d0 = dx + 2 * oh * W, *d1 = d0 + W;
#pragma omp simd
            for (int64_t ow = 0; ow < fw; ow++) {
                float v = grow[ow] / 4.0f;
                d0[2 * ow] = v, d0[2 * ow + 1] = v, d1[2 * ow] = v, d1[2 * ow + 1] = v;
            }
        }
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = oh < fh ? fw : 0; ow < OW; ow++) {
                int64_t h0, h1, w0, w1;
                window(g, oh, ow, &h0, &h1, &w0, &w1);
                float v = go[oh * OW + ow] / avg_divisor(g, oh, ow);
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) dx[h * W + w] += v;
            }
    }
}

void mg_avg_pool2d_fwd_naive(float *out, const float *inp, const mg_pool_geom *g) {
    for (int64_t pl = 0; pl < g->N * g->C; pl++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                double s = 0;
                int64_t inside = 0, padded = 0;
                for (int64_t i = 0; i < g->kh; i++)
                    for (int64_t j = 0; j < g->kw; j++) {
                        int64_t h = oh * g->sh - g->ph + i, w = ow * g->sw - g->pw + j;
                        if (h < g->H + g->ph && w < g->W + g->pw) padded++; /* inside the padded input */
                        if (h < 0 || h >= g->H || w < 0 || w >= g->W) continue;
                        s += inp[(pl * g->H + h) * g->W + w];
                        inside++;
                    }
                out[(pl * g->OH + oh) * g->OW + ow] = (float)(s / (double)(g->count_include_pad ? padded : inside));
            }
}

void mg_avg_pool2d_bwd_naive(float *dinp, const float *dout, const mg_pool_geom *g) {
    memset(dinp, 0, (size_t)(g->N * g->C * g->H * g->W) * sizeof(float));
    for (int64_t pl = 0; pl < g->N * g->C; pl++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                int64_t inside = 0, padded = 0;
                for (int64_t i = 0; i < g->kh; i++)
                    for (int64_t j = 0; j < g->kw; j++) {
                        int64_t h = oh * g->sh - g->ph + i, w = ow * g->sw - g->pw + j;
                        if (h < g->H + g->ph && w < g->W + g->pw) padded++;
                        if (h >= 0 && h < g->H && w >= 0 && w < g->W) inside++;
                    }
                float v = dout[(pl * g->OH + oh) * g->OW + ow] / (float)(g->count_include_pad ? padded : inside);
                for (int64_t i = 0; i < g->kh; i++)
                    for (int64_t j = 0; j < g->kw; j++) {
                        int64_t h = oh * g->sh - g->ph + i, w = ow * g->sw - g->pw + j;
                        if (h < 0 || h >= g->H || w < 0 || w >= g->W) continue;
                        dinp[(pl * g->H + h) * g->W + w] += v;
                    }
            }
}

/* ---- ops ------------------------------------------------------------------------------ */

static void geom_to_node(mg_node *n, const mg_pool_geom *g) {
    int64_t v[8] = {g->kh, g->kw, g->sh, g->sw, g->ph, g->pw, g->ceil_mode, g->count_include_pad};
    for (int k = 0; k < 8; k++) n->i[k] = v[k];
}

static mg_pool_opts node_opts(const mg_node *n) {
    mg_pool_opts o = {{(int)n->i[0], (int)n->i[1]}, {(int)n->i[2], (int)n->i[3]}, {(int)n->i[4], (int)n->i[5]},
                      n->i[6] != 0, n->i[7] != 0};
    return o;
}

typedef void (*pool_fwd)(float *, const float *, const mg_pool_geom *);

static mg_tensor *pool(int op, const char *name, mg_tensor *x, const mg_pool_opts *o, pool_fwd fwd, bool save_x) {
    mg_pool_geom g;
    if (mg_pool_geom_init(&g, name, x, o)) return NULL;
    mg_tensor *xc = mg_as_contiguous(x);
    if (!xc) return NULL;
    mg_tensor *out = mg_empty(MG_F32, 4, (int64_t[]){g.N, g.C, g.OH, g.OW});
    if (out) fwd(mg_f32(out), mg_f32(xc), &g);
    mg_release(xc);
    if (!out || !mg_needs_grad(1, &x)) return out;
    mg_node *n = mg_record(op, out, 1, &x);
    if (!n || (save_x && mg_save(n, x))) {
        mg_release(out);
        return NULL;
    }
    geom_to_node(n, &g);
    return out;
}

mg_tensor *mg_max_pool2d(mg_tensor *x, const mg_pool_opts *o) {
    return pool(MG_OP_max_pool2d, "max_pool2d", x, o, mg_max_pool2d_fwd, true);
}

mg_tensor *mg_avg_pool2d(mg_tensor *x, const mg_pool_opts *o) {
    return pool(MG_OP_avg_pool2d, "avg_pool2d", x, o, mg_avg_pool2d_fwd, false);
}

int mg_bw_max_pool2d(mg_node *n, mg_tensor *gout, const bool *needs, mg_tensor **gin) {
    mg_tensor *x = mg_saved(n, 0), *xc = NULL, *gc = NULL;
    if (!x) return MG_ERR;
    mg_pool_geom g;
    mg_pool_opts o = node_opts(n);
    int rc = MG_ERR;
    TRY_OK(mg_pool_geom_init(&g, "max_pool2d", x, &o));
    TRY(xc = mg_as_contiguous(x));
    TRY(gc = mg_as_contiguous(gout));
    TRY(gin[0] = mg_empty(MG_F32, 4, x->shape));
    mg_max_pool2d_bwd(mg_f32(gin[0]), mg_f32(gc), mg_f32(xc), &g);
    rc = MG_OK;
fail:
    mg_release(xc), mg_release(gc);
    return rc;
}

int mg_bw_avg_pool2d(mg_node *n, mg_tensor *gout, const bool *needs, mg_tensor **gin) {
    mg_tensor *gc = mg_as_contiguous(gout);
    if (!gc) return MG_ERR;
    mg_pool_geom g;
    mg_pool_opts o = node_opts(n);
    fill_geom(&g, n->in[0].shape, &o);
    gin[0] = mg_empty(MG_F32, 4, n->in[0].shape);
    if (gin[0]) mg_avg_pool2d_bwd(mg_f32(gin[0]), mg_f32(gc), &g);
    mg_release(gc);
    return gin[0] ? MG_OK : MG_ERR;
}
