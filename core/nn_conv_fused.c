/*
 * conv2d with its activation fused in: conv2d_relu_pool, a convolution
 * followed by ReLU, or by ReLU then 2x2 max pooling with stride 2, as one
 * op. nn.Sequential runs Conv2d, ReLU [, MaxPool2d(2)] through it.
 *
 * Apart, the three ops pass the convolution's output through memory four
 * times forward (written, read and written by ReLU, read by the pooling)
 * and keep it alive for the backward pass, which reads it again to find
 * each window's maximum and writes two full-size gradients. Fused, the
 * forward pass keeps a one-byte code per output instead: which element of
 * the window was the (first) maximum, or that it was not positive, so that
 * nothing passes; the convolution's kernels run the ReLU and the pooling
 * on each unit's output while it is in cache (mg_conv_epilogue), so the
 * full-size output is never written. The backward pass expands the output
 * gradient by the codes in one pass and hands it to the convolution's
 * backward kernels.
 *
 * The results are those of the three ops in sequence: ReLU is x > 0 ? x : 0
 * (NaN becomes 0), the pooling takes the first maximum of each window, row
 * by row, and a window's rows and columns beyond an even size are dropped
 * (floor mode).
 */
#include "nn_conv.h"
#include "simd_pairs.h"

#include <omp.h>

/* Code of a window that passes no gradient (its maximum is 0). */
#define CODE_NONE 4

#define PLANES_PARALLEL(planes, size) if ((planes) * (size) > MG_PAR_GRAIN && (planes) > 1)

/* ---- kernels --------------------------------------------------------------------- */

#if defined(__AVX512F__)
/* Codes of 16 windows (lanes of m) with elements a, b, c (and d) after the
 * ReLU and maximum mx: the first element equal to mx, CODE_NONE where mx
 * is 0. Later assignments win, so the first equal element is the one kept.
 * (Narrowing in a register and a byte store: the narrowing store to memory
 * is microcoded on some cores.) */
static inline void store_codes(uint8_t *code, __mmask16 m, __m512 a, __m512 b, __m512 c, __m512 mx) {
    __m512i cv = _mm512_set1_epi32(3);
    cv = _mm512_mask_mov_epi32(cv, _mm512_cmp_ps_mask(c, mx, _CMP_EQ_OQ), _mm512_set1_epi32(2));
    cv = _mm512_mask_mov_epi32(cv, _mm512_cmp_ps_mask(b, mx, _CMP_EQ_OQ), _mm512_set1_epi32(1));
    cv = _mm512_mask_mov_epi32(cv, _mm512_cmp_ps_mask(a, mx, _CMP_EQ_OQ), _mm512_setzero_si512());
    cv = _mm512_mask_mov_epi32(cv, _mm512_cmp_ps_mask(mx, _mm512_setzero_ps(), _CMP_EQ_OQ),
                               _mm512_set1_epi32(CODE_NONE));
    __m128i bytes = _mm512_cvtepi32_epi8(cv);
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    _mm_mask_storeu_epi8(code, m, bytes);
#else
    uint8_t tmp[16];
    _mm_storeu_si128((__m128i *)tmp, bytes);
    for (int j = 0; j < 16; j++)
        if (m >> j & 1) code[j] = tmp[j];
#endif
}

/* Rows r0, r1 of a plane -> n pooled outputs and their codes (code may be NULL). */
static void pool2_fwd_row(float *o, uint8_t *code, const float *r0, const float *r1, int64_t n, float bias) {
    const __m512 zero = _mm512_setzero_ps(), bv = _mm512_set1_ps(bias);
    for (int64_t i = 0; i < n; i += 16) {
        int64_t k = n - i < 16 ? n - i : 16;
        __mmask16 m = (__mmask16)((1u << k) - 1);
        __m512 a, b, c, d;
        mg_load_pairs(r0 + 2 * i, k, &a, &b);
        mg_load_pairs(r1 + 2 * i, k, &c, &d);
        a = _mm512_add_ps(a, bv), b = _mm512_add_ps(b, bv), c = _mm512_add_ps(c, bv), d = _mm512_add_ps(d, bv);
        /* max_ps returns its second operand when the first is NaN: x > 0 ? x : 0 */
        a = _mm512_max_ps(a, zero), b = _mm512_max_ps(b, zero), c = _mm512_max_ps(c, zero), d = _mm512_max_ps(d, zero);
        __m512 mx = _mm512_max_ps(_mm512_max_ps(a, b), _mm512_max_ps(c, d));
        _mm512_mask_storeu_ps(o + i, m, mx);
        if (code) store_codes(code + i, m, a, b, c, mx);
    }
}

/* n pooled gradients and their codes -> rows d0, d1 (2n floats each, all written) */
static void pool2_bwd_row(float *d0, float *d1, const float *g, const uint8_t *code, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        int64_t k = n - i < 16 ? n - i : 16;
        __mmask16 m = (__mmask16)((1u << k) - 1);
        __m512 gv = _mm512_maskz_loadu_ps(m, g + i);
        __m512i cv = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, code + i));
        __mmask16 e0 = _mm512_cmpeq_epi32_mask(cv, _mm512_setzero_si512());
        __mmask16 e1 = _mm512_cmpeq_epi32_mask(cv, _mm512_set1_epi32(1));
        __mmask16 e2 = _mm512_cmpeq_epi32_mask(cv, _mm512_set1_epi32(2));
        __mmask16 e3 = _mm512_cmpeq_epi32_mask(cv, _mm512_set1_epi32(3));
        mg_store_pairs(d0 + 2 * i, k, _mm512_maskz_mov_ps(e0, gv), _mm512_maskz_mov_ps(e1, gv));
        mg_store_pairs(d1 + 2 * i, k, _mm512_maskz_mov_ps(e2, gv), _mm512_maskz_mov_ps(e3, gv));
    }
}
/* ReLU alone over n floats: out, and code 1 where y > 0 (code may be NULL) */
static void relu_fwd_run(float *out, uint8_t *code, const float *y, int64_t n, float bias) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
        __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), _mm512_set1_ps(bias));
        __mmask16 pos = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ); /* NaN: not positive */
        _mm512_mask_storeu_ps(out + i, m, _mm512_maskz_mov_ps(pos, v));
        if (code) {
            __m128i bytes = _mm512_cvtepi32_epi8(_mm512_maskz_mov_epi32(pos, _mm512_set1_epi32(1)));
#if defined(__AVX512BW__) && defined(__AVX512VL__)
            _mm_mask_storeu_epi8(code + i, m, bytes);
#else
            uint8_t tmp[16];
            _mm_storeu_si128((__m128i *)tmp, bytes);
            for (int j = 0; j < 16 && i + j < n; j++) code[i + j] = tmp[j];
#endif
        }
    }
}

static void relu_bwd_run(float *dy, const float *g, const uint8_t *code, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
        __m512i cv = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, code + i));
        __mmask16 pass = _mm512_test_epi32_mask(cv, cv);
        _mm512_mask_storeu_ps(dy + i, m, _mm512_maskz_loadu_ps(pass & m, g + i));
    }
}
#else
static void relu_fwd_run(float *out, uint8_t *code, const float *y, int64_t n, float bias) {
    for (int64_t i = 0; i < n; i++) {
        float v = y[i] + bias;
        bool pos = v > 0;
        out[i] = pos ? v : 0.0f;
        if (code) code[i] = pos;
    }
}

static void relu_bwd_run(float *dy, const float *g, const uint8_t *code, int64_t n) {
    for (int64_t i = 0; i < n; i++) dy[i] = code[i] ? g[i] : 0.0f;
}

static void pool2_fwd_row(float *o, uint8_t *code, const float *r0, const float *r1, int64_t n, float bias) {
    for (int64_t i = 0; i < n; i++) {
        float v[4] = {r0[2 * i] + bias, r0[2 * i + 1] + bias, r1[2 * i] + bias, r1[2 * i + 1] + bias}, mx = 0;
        int at = CODE_NONE;
        for (int j = 0; j < 4; j++) {
            v[j] = v[j] > 0 ? v[j] : 0.0f;
            if (v[j] > mx) mx = v[j], at = j;
        }
        o[i] = mx;
        if (code) code[i] = (uint8_t)at;
    }
}

static void pool2_bwd_row(float *d0, float *d1, const float *g, const uint8_t *code, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        int c = code[i];
        d0[2 * i] = c == 0 ? g[i] : 0.0f, d0[2 * i + 1] = c == 1 ? g[i] : 0.0f;
        d1[2 * i] = c == 2 ? g[i] : 0.0f, d1[2 * i + 1] = c == 3 ? g[i] : 0.0f;
    }
}
#endif

void mg_relu_pool_band(float *out, uint8_t *code, const float *y, int64_t ldy, int64_t rows, int64_t W, int pool,
                       float bias) {
    if (pool == 1) {
        for (int64_t r = 0; r < rows; r++) relu_fwd_run(out + r * W, code ? code + r * W : NULL, y + r * ldy, W, bias);
        return;
    }
    const int64_t PW = W / 2;
    for (int64_t i = 0; i < rows / 2; i++) {
        const float *r0 = y + 2 * i * ldy;
        pool2_fwd_row(out + i * PW, code ? code + i * PW : NULL, r0, r0 + ldy, PW, bias);
    }
}

void mg_relu_pool_fwd(float *out, uint8_t *code, const float *y, int64_t planes, int64_t H, int64_t W, int pool) {
    const int64_t osz = (H / pool) * (W / pool);
#pragma omp parallel for PLANES_PARALLEL(planes, H * W) schedule(static)
    for (int64_t p = 0; p < planes; p++)
        mg_relu_pool_band(out + p * osz, code ? code + p * osz : NULL, y + p * H * W, W, H, W, pool, 0.0f);
}

void mg_relu_pool_bwd(float *dy, const float *g, const uint8_t *code, int64_t planes, int64_t H, int64_t W,
                      int pool) {
    if (pool == 1) {
#pragma omp parallel for PLANES_PARALLEL(planes, H * W) schedule(static)
        for (int64_t p = 0; p < planes; p++) relu_bwd_run(dy + p * H * W, g + p * H * W, code + p * H * W, H * W);
        return;
    }
    const int64_t PH = H / 2, PW = W / 2;
#pragma omp parallel for PLANES_PARALLEL(planes, H * W) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float *d = dy + p * H * W;
        for (int64_t i = 0; i < PH; i++) {
            float *d0 = d + 2 * i * W;
            pool2_bwd_row(d0, d0 + W, g + (p * PH + i) * PW, code + (p * PH + i) * PW, PW);
            if (W & 1) d0[W - 1] = d0[2 * W - 1] = 0.0f; /* the column no window covers */
        }
        if (H & 1) memset(d + (H - 1) * W, 0, (size_t)W * sizeof(float));
    }
}

/* One row of a plane of the expanded gradient for 2x2 pooling: row parity
 * p of the windows of n pooled gradients g with codes c; W floats written. */
#if defined(__AVX512F__)
static void expand_pool2_row(float *d, const float *g, const uint8_t *c, int64_t n, int64_t W, int p) {
    const __m512i c0 = _mm512_set1_epi32(2 * p), c1 = _mm512_set1_epi32(2 * p + 1);
    for (int64_t i = 0; i < n; i += 16) {
        int64_t k = n - i < 16 ? n - i : 16;
        __mmask16 m = (__mmask16)((1u << k) - 1);
        __m512 gv = _mm512_maskz_loadu_ps(m, g + i);
        __m512i cv = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, c + i));
        mg_store_pairs(d + 2 * i, k, _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(cv, c0), gv),
                       _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(cv, c1), gv));
    }
    if (W & 1) d[W - 1] = 0.0f;
}
#else
static void expand_pool2_row(float *d, const float *g, const uint8_t *c, int64_t n, int64_t W, int p) {
    for (int64_t i = 0; i < n; i++) {
        d[2 * i] = c[i] == 2 * p ? g[i] : 0.0f;
        d[2 * i + 1] = c[i] == 2 * p + 1 ? g[i] : 0.0f;
    }
    if (W & 1) d[W - 1] = 0.0f;
}
#endif

void mg_conv_dout_rows(float *dst, const mg_conv_dout *d, int64_t K, int64_t OH, int64_t OW, int64_t n, int64_t k,
                       int64_t r0, int64_t r1) {
    if (!d->g) {
        memcpy(dst, d->dout + ((n * K + k) * OH + r0) * OW, (size_t)((r1 - r0) * OW) * sizeof(float));
        return;
    }
    if (d->pool == 1) {
        int64_t at = ((n * K + k) * OH + r0) * OW;
        relu_bwd_run(dst, d->g + at, d->code + at, (r1 - r0) * OW);
        return;
    }
    const int64_t PH = OH / 2, PW = OW / 2;
    for (int64_t r = r0; r < r1;) {
        float *row = dst + (r - r0) * OW;
        int64_t at = ((n * K + k) * PH + r / 2) * PW;
        if (r / 2 >= PH) { /* the row no window covers */
            memset(row, 0, (size_t)OW * sizeof(float));
            r++;
        } else if (!(r & 1) && r + 1 < r1) { /* both rows of the windows from one read */
            pool2_bwd_row(row, row + OW, d->g + at, d->code + at, PW);
            if (OW & 1) row[OW - 1] = row[2 * OW - 1] = 0.0f;
            r += 2;
        } else {
            expand_pool2_row(row, d->g + at, d->code + at, PW, OW, (int)(r & 1));
            r++;
        }
    }
}

void mg_conv_dout_bias_grad(float *db, const mg_conv_dout *d, int64_t N, int64_t K, int64_t OH, int64_t OW) {
    if (!d->g) {
        mg_conv_bias_grad(db, d->dout, N, K, OH * OW);
        return;
    }
    const int64_t P = (OH / d->pool) * (OW / d->pool);
    const uint8_t none = d->pool == 1 ? 0 : CODE_NONE; /* the code that passes nothing */
    for (int64_t k = 0; k < K; k++) {
        double s = 0;
        for (int64_t n = 0; n < N; n++) {
            const float *g = d->g + (n * K + k) * P;
            const uint8_t *c = d->code + (n * K + k) * P;
            float part = 0;
#pragma omp simd reduction(+ : part)
            for (int64_t i = 0; i < P; i++) part += c[i] != none ? g[i] : 0.0f;
            s += part;
        }
        db[k] = (float)s;
    }
}

void mg_relu_pool_fwd_naive(float *out, uint8_t *code, const float *y, int64_t planes, int64_t H, int64_t W,
                            int pool) {
    const int64_t PH = H / pool, PW = W / pool;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < PH; i++)
            for (int64_t j = 0; j < PW; j++) {
                float best = -INFINITY;
                int at = 0;
                for (int a = 0; a < pool; a++)
                    for (int b = 0; b < pool; b++) {
                        float v = y[(p * H + i * pool + a) * W + j * pool + b];
                        v = v > 0 ? v : 0.0f; /* ReLU */
                        if (v > best) best = v, at = a * pool + b; /* the first maximum */
                    }
                out[(p * PH + i) * PW + j] = best;
                if (code) code[(p * PH + i) * PW + j] = (uint8_t)(pool == 1 ? best > 0 : best > 0 ? at : CODE_NONE);
            }
}

void mg_relu_pool_bwd_naive(float *dy, const float *g, const uint8_t *code, int64_t planes, int64_t H, int64_t W,
                            int pool) {
    const int64_t PH = H / pool, PW = W / pool;
    memset(dy, 0, (size_t)(planes * H * W) * sizeof(float));
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < PH; i++)
            for (int64_t j = 0; j < PW; j++) {
                int c = code[(p * PH + i) * PW + j];
                if (pool == 1 ? c == 0 : c == CODE_NONE) continue;
                int a = pool == 1 ? 0 : c / 2, b = pool == 1 ? 0 : c % 2;
                dy[(p * H + i * pool + a) * W + j * pool + b] = g[(p * PH + i) * PW + j];
            }
}

/* ---- the op ------------------------------------------------------------------------ */

mg_tensor *mg_conv2d_relu_pool(mg_tensor *x, mg_tensor *w, mg_tensor *b, const mg_conv_opts *o, int pool) {
    const char *op = "conv2d";
    mg_tensor *xc = NULL, *wc = NULL, *bc = NULL, *out = NULL, *code = NULL;
    mg_conv_geom g;
    CHECK(pool == 1 || pool == 2, "conv2d: pool must be 1 (none) or 2 (2x2 max pooling after the ReLU), got %d", pool);
    TRY_OK(mg_conv2d_check(&g, op, x, w, b, o));
    CHECK(pool == 1 || (g.OH >= 2 && g.OW >= 2),
          "conv2d: pool 2 needs a convolution output of at least 2x2, got %lldx%lld for input %s",
          (long long)g.OH, (long long)g.OW, mg_shp(x));
    mg_tensor *ins[3] = {x, w, b};
    bool grad = mg_needs_grad(3, ins);
    int64_t oshape[4] = {g.N, g.K, g.OH / pool, g.OW / pool};
    TRY(out = mg_empty(MG_F32, 4, oshape));
    if (grad) TRY(code = mg_empty(MG_U8, 4, oshape));
    if (g.N > 0) {
        TRY(xc = mg_as_contiguous(x));
        TRY(wc = mg_as_contiguous(w));
        if (b) TRY(bc = mg_as_contiguous(b));
        mg_conv_epilogue e = {pool, code ? mg_u8(code) : NULL};
        TRY_OK(mg_conv2d_fwd_fused(mg_f32(out), mg_f32(xc), mg_f32(wc), bc ? mg_f32(bc) : NULL, &g, &e));
    }
    mg_release(xc), mg_release(wc), mg_release(bc);
    xc = wc = bc = NULL;
    if (grad) {
        mg_node *n = mg_record(MG_OP_conv2d_relu_pool, out, 3, ins);
        TRY(n);
        TRY_OK(mg_save(n, x));
        TRY_OK(mg_save(n, w));
        TRY_OK(mg_save(n, code));
        mg_conv_opts_to_node(n, &g, NULL);
        n->i[8] = pool;
        mg_release(code);
    }
    return out;
fail:
    mg_release(xc), mg_release(wc), mg_release(bc), mg_release(out), mg_release(code);
    return NULL;
}

int mg_bw_conv2d_relu_pool(mg_node *n, mg_tensor *gout, const bool *needs, mg_tensor **gin) {
    mg_tensor *x = mg_saved(n, 0), *w = mg_saved(n, 1), *code = mg_saved(n, 2), *gc = NULL;
    if (!x || !w || !code) return MG_ERR;
    mg_conv_geom g;
    mg_conv_opts o = mg_conv_node_opts(n);
    if (mg_conv_geom_init(&g, "conv2d", x, w, &o) || !(gc = mg_as_contiguous(gout))) return MG_ERR;
    /* the kernels expand the gradient by the codes where they read it */
    mg_conv_dout d = {NULL, mg_f32(gc), mg_u8(code), (int)n->i[8]};
    int rc = mg_conv2d_grads(gin, needs, &d, x, w, &g);
    mg_release(gc);
    return rc;
}
