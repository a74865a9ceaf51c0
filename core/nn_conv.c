/*
 * Convolutions: conv2d and conv_transpose2d (forward and backward), as
 * im2col + GEMM with col2im for the input gradient, and their naive twins.
 *
 * Work is cut into units of GEMM columns: whole images when an image has
 * few output positions (several images side by side, so the product stays
 * wide), or bands of output rows of one image when an image is large (so
 * the column buffer stays in cache). With at least as many images as
 * threads, each thread takes a contiguous share of the batch with its own
 * scratch and runs single-threaded products; otherwise the units run one
 * after another and each product is split across the threads.
 *
 * A transposed convolution is the adjoint of a convolution: its forward
 * pass is the input-gradient kernel of the convolution it transposes, its
 * input gradient that convolution's forward pass, its weight gradient that
 * convolution's weight gradient with the roles of input and output swapped.
 */
#include "nn_conv.h"

#include <omp.h>

/* ---- geometry ---------------------------------------------------------------------- */

static const mg_conv_opts default_opts = {{1, 1}, {0, 0}, {1, 1}, {0, 0}};

/* floor(a / b) for b > 0 */
static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

static int check_opts(const char *op, const mg_conv_opts *o, bool transposed) {
    if (o->stride[0] < 1 || o->stride[1] < 1)
        return mg_error("%s: stride must be >= 1, got [%d, %d]", op, o->stride[0], o->stride[1]);
    if (o->padding[0] < 0 || o->padding[1] < 0)
        return mg_error("%s: padding must be >= 0, got [%d, %d]", op, o->padding[0], o->padding[1]);
    if (o->dilation[0] < 1 || o->dilation[1] < 1)
        return mg_error("%s: dilation must be >= 1, got [%d, %d]", op, o->dilation[0], o->dilation[1]);
    if (!transposed) {
        if (o->output_padding[0] != 0 || o->output_padding[1] != 0)
            return mg_error("%s: output_padding is only for conv_transpose2d, got [%d, %d]", op,
                            o->output_padding[0], o->output_padding[1]);
        return MG_OK;
    }
    for (int d = 0; d < 2; d++) {
        int op_ = o->output_padding[d];
        if (op_ < 0 || (op_ >= o->stride[d] && op_ >= o->dilation[d]))
            return mg_error("%s: output_padding must be >= 0 and smaller than either stride or dilation, "
                            "got output_padding [%d, %d], stride [%d, %d], dilation [%d, %d]",
                            op, o->output_padding[0], o->output_padding[1], o->stride[0], o->stride[1],
                            o->dilation[0], o->dilation[1]);
    }
    return MG_OK;
}

/* Checks shared by both ops: dtypes and ranks; bias [nbias] or NULL. */
static int check_tensors(const char *op, const mg_tensor *x, const mg_tensor *w, const mg_tensor *b) {
    if (x->dtype != MG_F32 || w->dtype != MG_F32 || (b && b->dtype != MG_F32))
        return mg_error("%s: needs float32 tensors, got input %s, weight %s%s%s", op, mg_dtype_name(x->dtype),
                        mg_dtype_name(w->dtype), b ? ", bias " : "", b ? mg_dtype_name(b->dtype) : "");
    if (x->ndim != 4)
        return mg_error("%s: input must be 4-D [N, C, H, W], got %s", op, mg_shp(x));
    if (w->ndim != 4)
        return mg_error("%s: weight must be 4-D, got %s", op, mg_shp(w));
    if (w->shape[0] < 1 || w->shape[1] < 1 || w->shape[2] < 1 || w->shape[3] < 1)
        return mg_error("%s: weight %s has a dim of size 0", op, mg_shp(w));
    return MG_OK;
}

/* Sizes the GEMMs see must fit an int. */
static int check_sizes(const char *op, const mg_conv_geom *g, const mg_tensor *x) {
    const int64_t lim = INT32_MAX;
    if (g->OH > lim || g->OW > lim || g->H > lim || g->W > lim || g->OH * g->OW > lim || g->H * g->W > lim ||
        g->C * g->kh * g->kw > lim)
        return mg_error("%s: sizes too large for input %s (%lld x %lld from %lld x %lld)", op, mg_shp(x),
                        (long long)g->OH, (long long)g->OW, (long long)g->H, (long long)g->W);
    return MG_OK;
}

int mg_conv_geom_init(mg_conv_geom *g, const char *op, const mg_tensor *x, const mg_tensor *w,
                      const mg_conv_opts *o) {
    if (!o) o = &default_opts;
    if (check_opts(op, o, false)) return MG_ERR;
    *g = (mg_conv_geom){.N = x->shape[0], .C = x->shape[1], .H = x->shape[2], .W = x->shape[3],
                        .K = w->shape[0], .kh = w->shape[2], .kw = w->shape[3],
                        .sh = o->stride[0], .sw = o->stride[1], .ph = o->padding[0], .pw = o->padding[1],
                        .dh = o->dilation[0], .dw = o->dilation[1]};
    int64_t eh = g->H + 2 * g->ph - g->dh * (g->kh - 1) - 1, ew = g->W + 2 * g->pw - g->dw * (g->kw - 1) - 1;
    g->OH = eh < 0 ? 0 : eh / g->sh + 1;
    g->OW = ew < 0 ? 0 : ew / g->sw + 1;
    if (g->OH < 1 || g->OW < 1)
        return mg_error("%s: input %s is too small for weight %s with padding [%d, %d] and dilation [%d, %d] "
                        "(output would be %lld x %lld)",
                        op, mg_shp(x), mg_shp(w), o->padding[0], o->padding[1], o->dilation[0], o->dilation[1],
                        (long long)(eh < 0 ? floor_div(eh, g->sh) + 1 : g->OH),
                        (long long)(ew < 0 ? floor_div(ew, g->sw) + 1 : g->OW));
    return check_sizes(op, g, x);
}

int mg_conv_transpose_geom(mg_conv_geom *g, const mg_tensor *x, const mg_tensor *w, const mg_conv_opts *o) {
    const char *op = "conv_transpose2d";
    if (!o) o = &default_opts;
    if (check_opts(op, o, true)) return MG_ERR;
    /* the convolution transposed: input (N, Cout, OHt, OWt), weight w (Cin, Cout, kh, kw),
     * output (N, Cin, H, W) */
    *g = (mg_conv_geom){.N = x->shape[0], .K = x->shape[1], .OH = x->shape[2], .OW = x->shape[3],
                        .C = w->shape[1], .kh = w->shape[2], .kw = w->shape[3],
                        .sh = o->stride[0], .sw = o->stride[1], .ph = o->padding[0], .pw = o->padding[1],
                        .dh = o->dilation[0], .dw = o->dilation[1]};
    g->H = (g->OH - 1) * g->sh - 2 * g->ph + g->dh * (g->kh - 1) + o->output_padding[0] + 1;
    g->W = (g->OW - 1) * g->sw - 2 * g->pw + g->dw * (g->kw - 1) + o->output_padding[1] + 1;
    if (g->OH < 1 || g->OW < 1)
        return mg_error("%s: input %s has an empty spatial dim", op, mg_shp(x));
    if (g->H < 1 || g->W < 1)
        return mg_error("%s: output size would be %lld x %lld (below 1) for input %s, weight %s, stride [%d, %d], "
                        "padding [%d, %d], dilation [%d, %d], output_padding [%d, %d]",
                        op, (long long)g->H, (long long)g->W, mg_shp(x), mg_shp(w), o->stride[0], o->stride[1],
                        o->padding[0], o->padding[1], o->dilation[0], o->dilation[1], o->output_padding[0],
                        o->output_padding[1]);
    return check_sizes(op, g, x);
}

/* ---- im2col / col2im ------------------------------------------------------------- */

/* Output columns ow in [lo, hi) read input column ow*s + off inside [0, W). */
static void valid_cols(int64_t off, int64_t s, int64_t W, int64_t OW, int64_t *lo, int64_t *hi) {
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = floor_div(W - 1 - off, s) + 1;
    if (a > OW) a = OW;
    if (b > OW) b = OW;
    if (b < a) b = a;
    *lo = a, *hi = b;
}

/* Row helpers. Rows of a few to a few dozen floats are the common case
 * (11 columns for a 13x13 input), where memcpy calls and scalar loop tails
 * cost more than the copying; with AVX-512 a masked load and store take
 * the tail. */
#if defined(__AVX512F__)
#include <immintrin.h>

static inline __mmask16 tail_mask(int64_t n) { return (__mmask16)((1u << n) - 1); }

static inline void copy_floats(float *dst, const float *src, int64_t n) {
    for (; n >= 16; n -= 16, dst += 16, src += 16) _mm512_storeu_ps(dst, _mm512_loadu_ps(src));
    if (n > 0) _mm512_mask_storeu_ps(dst, tail_mask(n), _mm512_maskz_loadu_ps(tail_mask(n), src));
}

static inline void fill_floats(float *dst, float v, int64_t n) {
    __m512 z = _mm512_set1_ps(v);
    for (; n >= 16; n -= 16, dst += 16) _mm512_storeu_ps(dst, z);
    if (n > 0) _mm512_mask_storeu_ps(dst, tail_mask(n), z);
}
#else
static inline void copy_floats(float *dst, const float *src, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}
static inline void fill_floats(float *dst, float v, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) dst[i] = v;
}
#endif

/* Output rows oh in [lo, hi) read input row oh*s + off inside [0, H). */
static void valid_rows(int64_t off, int64_t s, int64_t H, int64_t oh0, int64_t oh1, int64_t *lo, int64_t *hi) {
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = floor_div(H - 1 - off, s) + 1;
    if (a < oh0) a = oh0;
    if (b > oh1) b = oh1;
    if (a > oh1) a = oh1;
    if (b < a) b = a;
    *lo = a, *hi = b;
}

#if defined(__AVX512F__)
/* Tiny images (at most 31 pixels and 16 outputs, such as 5x5 -> 3x3): a
 * channel fits in two registers (lane 31 stays zero and stands for the
 * padding), and the column row of each kernel tap is one permutation of
 * them. For col2im the inverse permutations add each tap's row back. */
#define TINY_TAPS 64

static bool tiny_image(const mg_conv_geom *g, int64_t oh0, int64_t oh1) {
    return g->H * g->W <= 31 && g->OH * g->OW <= 16 && oh0 == 0 && oh1 == g->OH && g->kh * g->kw <= TINY_TAPS;
}

/* For each tap: idx (output t -> input pixel, 31 for padding) and, when inv
 * is given, the inverse (input pixel p <- output t) with its lane masks
 * for pixels [0, 16) and [16, 32). Returns the number of taps. */
static int tiny_taps(const mg_conv_geom *g, __m512i *idx, __m512i (*inv)[2], __mmask16 (*inv_mask)[2]) {
    const int64_t P = g->OH * g->OW;
    int tp = 0;
    for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++, tp++) {
            int32_t fwd[16], back[32] = {0};
            uint32_t reached = 0;
            for (int64_t t = 0; t < 16; t++) {
                fwd[t] = 31;
                if (t >= P) continue;
                int64_t ih = (t / g->OW) * g->sh - g->ph + i * g->dh, iw = (t % g->OW) * g->sw - g->pw + j * g->dw;
                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                fwd[t] = (int32_t)(ih * g->W + iw);
                back[fwd[t]] = (int32_t)t;
                reached |= 1u << fwd[t];
            }
            idx[tp] = _mm512_loadu_si512(fwd);
            if (inv) {
                inv[tp][0] = _mm512_loadu_si512(back);
                inv[tp][1] = _mm512_loadu_si512(back + 16);
            }
            inv_mask[tp][0] = (__mmask16)(reached & 0xffff);
            inv_mask[tp][1] = (__mmask16)(reached >> 16);
        }
    return tp;
}
#endif

/* inp (C,H,W) -> col (C*kh*kw, ld): output rows [oh0, oh1), (oh1-oh0)*OW columns.
 * The kernel taps (i, j) are the outer loops, so the valid ranges (which
 * divide by the stride) are found once per tap, not once per channel. */
static void im2col(float *col, int64_t ld, const float *inp, const mg_conv_geom *g, int64_t oh0, int64_t oh1) {
    const int64_t OW = g->OW, W = g->W, sw = g->sw, sh = g->sh, HW = g->H * W;
    const int64_t tap_stride = g->kh * g->kw * ld; /* from channel c to c+1 in col */
#if defined(__AVX512F__)
    const int64_t pc = (oh1 - oh0) * OW;
    if (tiny_image(g, oh0, oh1)) { /* a channel in two registers, each tap's row one permutation */
        __m512i idx[TINY_TAPS];
        __mmask16 unused[TINY_TAPS][2];
        int ntap = tiny_taps(g, idx, NULL, unused);
        __mmask16 m = tail_mask(pc);
        for (int64_t c = 0; c < g->C; c++) {
            const float *xc = inp + c * HW;
            __m512 lo = _mm512_maskz_loadu_ps(tail_mask(HW < 16 ? HW : 16), xc);
            __m512 hi = HW > 16 ? _mm512_maskz_loadu_ps(tail_mask(HW - 16), xc + 16) : _mm512_setzero_ps();
            for (int tp = 0; tp < ntap; tp++)
                _mm512_mask_storeu_ps(col + (c * ntap + tp) * ld, m, _mm512_permutex2var_ps(lo, idx[tp], hi));
        }
        return;
    }
    /* Short output rows (a 5x5 input gives rows of 3): a whole band of up to
     * 64 outputs is gathered with a few instructions instead of row by row. */
    __m512i idx[4];
    const bool gather = OW < 8 && pc <= 64 && (oh1 - oh0 - 1) * sh * W + (OW - 1) * sw < INT32_MAX;
    if (gather) {
        int32_t t32[64];
        for (int64_t t = 0; t < 64; t++) t32[t] = t < pc ? (int32_t)((t / OW) * sh * W + (t % OW) * sw) : 0;
        for (int q = 0; q < 4; q++) idx[q] = _mm512_loadu_si512(t32 + 16 * q);
    }
#endif
    for (int64_t i = 0; i < g->kh; i++) {
        int64_t hoff = i * g->dh - g->ph, rlo, rhi;
        valid_rows(hoff, sh, g->H, oh0, oh1, &rlo, &rhi);
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t off = j * g->dw - g->pw, lo, hi;
            valid_cols(off, sw, W, OW, &lo, &hi);
            float *row = col + (i * g->kw + j) * ld;
            const float *xr0 = inp + (rlo * sh + hoff) * W + off; /* used only when rlo < rhi */
#if defined(__AVX512F__)
            if (gather && rlo == oh0 && rhi == oh1 && lo == 0 && hi == OW) {
                for (int64_t c = 0; c < g->C; c++, row += tap_stride, xr0 += HW)
                    for (int64_t t = 0, q = 0; t < pc; t += 16, q++) {
                        __mmask16 m = tail_mask(pc - t < 16 ? pc - t : 16);
                        _mm512_mask_storeu_ps(row + t, m, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx[q], xr0, 4));
                    }
                continue;
            }
#endif
            for (int64_t c = 0; c < g->C; c++, row += tap_stride, xr0 += HW) {
                /* rows above and below the input are zero */
                fill_floats(row, 0.0f, (rlo - oh0) * OW);
                fill_floats(row + (rhi - oh0) * OW, 0.0f, (oh1 - rhi) * OW);
                if (rlo == rhi) continue;
                float *r = row + (rlo - oh0) * OW;
                const float *xr = xr0;
                if (sw == 1 && lo == 0 && hi == OW) { /* the common case: whole rows */
                    for (int64_t oh = rlo; oh < rhi; oh++, r += OW, xr += sh * W) copy_floats(r, xr, OW);
                    continue;
                }
                for (int64_t oh = rlo; oh < rhi; oh++, r += OW, xr += sh * W) {
                    fill_floats(r, 0.0f, lo);
                    if (sw == 1) {
                        copy_floats(r + lo, xr + lo, hi - lo);
                    } else {
                        for (int64_t ow = lo; ow < hi; ow++) r[ow] = xr[ow * sw];
                    }
                    fill_floats(r + hi, 0.0f, OW - hi);
                }
            }
        }
    }
}

/* col (C*kh*kw, ld) -> inp (C,H,W) += the columns of output rows [oh0, oh1) */
static void col2im(float *inp, const float *col, int64_t ld, const mg_conv_geom *g, int64_t oh0, int64_t oh1) {
    const int64_t OW = g->OW, W = g->W, sw = g->sw, sh = g->sh;
#if defined(__AVX512F__)
    if (tiny_image(g, oh0, oh1)) {
        __m512i idx[TINY_TAPS], inv[TINY_TAPS][2];
        __mmask16 im[TINY_TAPS][2];
        int ntap = tiny_taps(g, idx, inv, im);
        const int64_t HW = g->H * W;
        __mmask16 m = tail_mask(g->OH * OW), mlo = tail_mask(HW < 16 ? HW : 16), mhi = tail_mask(HW > 16 ? HW - 16 : 0);
        for (int64_t c = 0; c < g->C; c++) {
            float *xc = inp + c * HW;
            __m512 lo = _mm512_maskz_loadu_ps(mlo, xc), hi = _mm512_maskz_loadu_ps(mhi, xc + 16);
            for (int tp = 0; tp < ntap; tp++) {
                __m512 r = _mm512_maskz_loadu_ps(m, col + (c * ntap + tp) * ld);
                lo = _mm512_add_ps(lo, _mm512_maskz_permutexvar_ps(im[tp][0], inv[tp][0], r));
                hi = _mm512_add_ps(hi, _mm512_maskz_permutexvar_ps(im[tp][1], inv[tp][1], r));
            }
            _mm512_mask_storeu_ps(xc, mlo, lo);
            if (HW > 16) _mm512_mask_storeu_ps(xc + 16, mhi, hi);
        }
        return;
    }
    /* Input row by input row: every (i, j) tap that reaches the row is added
     * in a register and the row is stored once. (Adding the shifted column
     * rows one after another through memory stalls each load on the store
     * just before it.) Masked-off lanes are not read, so a lane's address may
     * lie outside the column row. */
    if (sw == 1 && g->kw <= 32) {
        int64_t off[32], lo[32], hi[32];
        for (int64_t j = 0; j < g->kw; j++) {
            off[j] = j * g->dw - g->pw;
            valid_cols(off[j], 1, W, OW, &lo[j], &hi[j]);
        }
        const int64_t kh = g->kh, kw = g->kw;
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t r = 0; r < g->H; r++) {
                float *xr = inp + (c * g->H + r) * W;
                for (int64_t p = 0; p < W; p += 16) {
                    __mmask16 mx = tail_mask(W - p < 16 ? W - p : 16);
                    __m512 acc = _mm512_maskz_loadu_ps(mx, xr + p);
                    bool touched = false;
                    for (int64_t i = 0; i < kh; i++) {
                        int64_t t = r + g->ph - i * g->dh; /* = oh * sh */
                        if (t < 0) break;
                        if (sh > 1 && t % sh) continue;
                        int64_t oh = sh > 1 ? t / sh : t;
                        if (oh < oh0 || oh >= oh1) continue;
                        const float *cr = col + (c * kh + i) * kw * ld + (oh - oh0) * OW;
                        for (int64_t j = 0; j < kw; j++) {
                            int64_t base = p - off[j], s0 = lo[j] - base, e = hi[j] - base; /* lanes [s0, e) */
                            s0 = s0 < 0 ? 0 : s0;
                            e = e > 16 ? 16 : e;
                            if (e <= s0) continue;
                            __mmask16 m = (__mmask16)(((1u << e) - 1) & ~((1u << s0) - 1));
                            acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, cr + j * ld + base));
                            touched = true;
                        }
                    }
                    if (touched) _mm512_mask_storeu_ps(xr + p, mx, acc);
                }
            }
        return;
    }
#endif
    for (int64_t c = 0; c < g->C; c++) {
        float *xc = inp + c * g->H * W;
        for (int64_t i = 0; i < g->kh; i++) {
            int64_t hoff = i * g->dh - g->ph, rlo, rhi;
            valid_rows(hoff, sh, g->H, oh0, oh1, &rlo, &rhi);
            for (int64_t j = 0; j < g->kw && rlo < rhi; j++) {
                const float *r = col + ((c * g->kh + i) * g->kw + j) * ld + (rlo - oh0) * OW;
                int64_t off = j * g->dw - g->pw, lo, hi;
                valid_cols(off, sw, W, OW, &lo, &hi);
                float *xr = xc + (rlo * sh + hoff) * W + off;
                for (int64_t oh = rlo; oh < rhi; oh++, r += OW, xr += sh * W) {
                    if (sw == 1) {
#pragma omp simd
                        for (int64_t ow = lo; ow < hi; ow++) xr[ow] += r[ow];
                    } else {
                        for (int64_t ow = lo; ow < hi; ow++) xr[ow * sw] += r[ow];
                    }
                }
            }
        }
    }
}

/* ---- plan: how the work is cut and threaded -------------------------------------- */

/* Columns a product should have at least (narrower products run slower),
 * and the most floats a column buffer may hold (it should stay in cache). */
#define MIN_COLS 240
#define COL_BUDGET (256 * 1024)

typedef struct {
    int64_t P, CKK;
    int64_t nb;   /* images per unit (> 1: whole images side by side) */
    int64_t rows; /* output rows per unit when nb == 1 */
    int64_t cols; /* most columns of one unit */
    bool direct;  /* 1x1 kernel, stride 1, no padding: the input is its own column matrix */
    int nt;       /* threads that split the batch (1: units in turn, products split) */
    size_t col_floats, tmp_floats;
} conv_plan;

static void make_plan(conv_plan *pl, const mg_conv_geom *g) {
    pl->P = g->OH * g->OW;
    pl->CKK = g->C * g->kh * g->kw;
    pl->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 &&
                 g->OH == g->H && g->OW == g->W;
    if (pl->P >= MIN_COLS || g->N <= 1) {
        pl->nb = 1;
        int64_t rows = COL_BUDGET / (pl->CKK * g->OW);
        if (rows < (MIN_COLS + g->OW - 1) / g->OW) rows = (MIN_COLS + g->OW - 1) / g->OW;
        pl->rows = rows < 1 ? 1 : rows > g->OH ? g->OH : rows;
        /* an even count: bands start on a 2x2 pooling window (mg_conv_epilogue) */
        if (pl->rows < g->OH) pl->rows = (pl->rows + 1) & ~(int64_t)1;
        pl->cols = pl->rows * g->OW;
    } else {
        int64_t nb = (MIN_COLS + pl->P - 1) / pl->P, fit = COL_BUDGET / (pl->CKK * pl->P);
        if (nb > fit) nb = fit;
        if (nb < 2) nb = 2;
        if (nb > g->N) nb = g->N;
        pl->nb = nb;
        pl->rows = g->OH;
        pl->cols = nb * pl->P;
    }
    int threads = mg_threads();
    double flops = 2.0 * (double)g->N * (double)g->K * (double)pl->CKK * (double)pl->P;
    pl->nt = (threads > 1 && g->N >= threads && flops > 4e6) ? threads : 1;
    pl->col_floats = (size_t)(pl->CKK * pl->cols);
    pl->tmp_floats = pl->nb > 1 ? (size_t)(g->K * pl->cols) : 0;
}

/* Units of the images [lo, hi): calls fn for each. Whole-image units are
 * evened out so the last one is not a sliver. */
#define FOR_UNITS(pl, g, lo, hi, n0, nimg, oh0, oh1, body)                                        \
    do {                                                                                          \
        if ((pl)->nb > 1) {                                                                       \
            int64_t cnt_ = (hi) - (lo), nu_ = (cnt_ + (pl)->nb - 1) / (pl)->nb;                  \
            int64_t per_ = nu_ ? (cnt_ + nu_ - 1) / nu_ : 0;                                      \
            for (int64_t n0 = (lo); n0 < (hi); n0 += per_) {                                      \
                int64_t nimg = (hi) - n0 < per_ ? (hi) - n0 : per_, oh0 = 0, oh1 = (g)->OH;      \
                body;                                                                             \
            }                                                                                     \
        } else {                                                                                  \
            for (int64_t n0 = (lo); n0 < (hi); n0++)                                              \
                for (int64_t oh0 = 0; oh0 < (g)->OH; oh0 += (pl)->rows) {                         \
                    int64_t nimg = 1, oh1 = oh0 + (pl)->rows < (g)->OH ? oh0 + (pl)->rows : (g)->OH; \
                    body;                                                                         \
                }                                                                                 \
        }                                                                                         \
    } while (0)

/* ---- forward ---------------------------------------------------------------------- */

/* One unit: images [n0, n0+nimg), output rows [oh0, oh1). With an
 * epilogue the product goes to the band buffer (K, rows of the unit) or
 * tmp, and from there through the epilogue into out, while in cache. */
static void fwd_unit(const conv_plan *pl, const mg_conv_geom *g, float *out, const float *inp, const float *w,
                     const float *b, float *col, float *tmp, float *band, const mg_conv_epilogue *e, int64_t n0,
                     int64_t nimg, int64_t oh0, int64_t oh1) {
    const int64_t P = pl->P, CKK = pl->CKK, K = g->K, pc = (oh1 - oh0) * g->OW, ncols = nimg * pc;
    const int64_t isz = g->C * g->H * g->W;
    const float *B = col;
    int64_t ldb = ncols;
    if (pl->direct && nimg == 1) {
        B = inp + n0 * isz + oh0 * g->OW;
        ldb = P;
    } else {
        for (int64_t m = 0; m < nimg; m++) im2col(col + m * pc, ncols, inp + (n0 + m) * isz, g, oh0, oh1);
    }
    const int64_t pool = e ? e->pool : 1, PH = g->OH / pool, PW = g->OW / pool;
    if (nimg == 1) { /* straight into the output rows: out[n0] (K, P); the bias fills them
                      * first (the product would zero them otherwise) */
        float *C = e ? band : out + n0 * K * P + oh0 * g->OW;
        int64_t ldc = e ? pc : P;
        if (b)
            for (int64_t k = 0; k < K; k++) fill_floats(C + k * ldc, b[k], pc);
        mg_sgemm(false, false, K, pc, CKK, 1.0f, w, CKK, B, ldb, b ? 1.0f : 0.0f, C, ldc);
        if (e)
            for (int64_t k = 0; k < K; k++) {
                int64_t at = ((n0 * K + k) * PH + oh0 / pool) * PW;
                mg_relu_pool_band(out + at, e->code ? e->code + at : NULL, C + k * ldc, g->OW, oh1 - oh0, g->OW,
                                  (int)pool, 0.0f);
            }
        return;
    }
    /* tmp (K, nimg*P) -> out[n0 + m] (K, P) */
    mg_sgemm(false, false, K, ncols, CKK, 1.0f, w, CKK, B, ldb, 0.0f, tmp, ncols);
    if (e) { /* the bias added as below, then through the epilogue */
        for (int64_t m = 0; m < nimg; m++)
            for (int64_t k = 0; k < K; k++) {
                int64_t at = ((n0 + m) * K + k) * PH * PW;
                mg_relu_pool_band(out + at, e->code ? e->code + at : NULL, tmp + k * ncols + m * P, g->OW, g->OH,
                                  g->OW, (int)pool, b ? b[k] : 0.0f);
            }
        return;
    }
    for (int64_t m = 0; m < nimg; m++)
        for (int64_t k = 0; k < K; k++) {
            float bk = b ? b[k] : 0.0f, *o = out + ((n0 + m) * K + k) * P;
            const float *t = tmp + k * ncols + m * P;
#pragma omp simd
            for (int64_t p = 0; p < P; p++) o[p] = t[p] + bk;
        }
}

static float *scratch_alloc(size_t nfloats, size_t *got, const char *op) {
    float *p = mg_alloc((nfloats ? nfloats : 1) * sizeof(float), got);
    if (!p) mg_error("%s: out of memory for %zu bytes of scratch", op, nfloats * sizeof(float));
    return p;
}

/* ---- choosing the method ------------------------------------------------------------- */

typedef enum { ALGO_GEMM, ALGO_WINOGRAD2, ALGO_WINOGRAD4 } conv_algo;

/* The method for the forward pass (data_grad false, which also serves the
 * weight gradient) or the input gradient: the fewest multiplications per
 * channel pair, counting the vector lanes each Winograd variant leaves idle
 * (F(2x2) runs its lanes over one image's tiles, F(4x4) over 16 images).
 * im2col + GEMM does 9 per output of the forward pass in both directions;
 * Winograd computes the input gradient as a full correlation over the
 * input's positions, and must save a third to pay for its transforms. It
 * wants 8 channels or more on both sides. On a tie the smaller tile wins:
 * its rounding errors are smaller. */
static conv_algo choose_algo(const mg_conv_geom *g, bool data_grad) {
    int64_t OH = data_grad ? g->H : g->OH, OW = data_grad ? g->W : g->OW;
    double best = 9.0 * (double)g->OH * (double)g->OW * (double)g->N / 1.5;
    conv_algo algo = ALGO_GEMM;
    if (g->C >= 8 && g->K >= 8 && mg_winograd4_fits(g)) {
        double c4 = mg_winograd4_cost(g->N, OH, OW);
        if (c4 < best) best = c4, algo = ALGO_WINOGRAD4;
    }
    if (mg_winograd_fits(g) && mg_winograd_cost(g->N, OH, OW) <= best) algo = ALGO_WINOGRAD2;
    return algo;
}

int mg_conv2d_fwd(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g) {
    return mg_conv2d_fwd_fused(out, inp, w, b, g, NULL);
}

int mg_conv2d_fwd_fused(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g,
                        const mg_conv_epilogue *e) {
    switch (choose_algo(g, false)) {
    case ALGO_WINOGRAD4: return mg_conv2d_winograd4_fwd_fused(out, inp, w, b, g, e);
    case ALGO_WINOGRAD2: break;
    default: return mg_conv2d_fwd_gemm_fused(out, inp, w, b, g, e);
    }
    if (!e) return mg_conv2d_winograd_fwd(out, inp, w, b, g);
    /* F(2x2) has no epilogue of its own: the whole output, then the epilogue */
    size_t ny = (size_t)(g->N * g->K * g->OH * g->OW), got;
    float *y = scratch_alloc(ny, &got, "conv2d");
    if (!y) return MG_ERR;
    int rc = mg_conv2d_winograd_fwd(y, inp, w, b, g);
    if (rc == MG_OK) mg_relu_pool_fwd(out, e->code, y, g->N * g->K, g->OH, g->OW, e->pool);
    mg_free(y, got);
    return rc;
}

int mg_conv2d_fwd_gemm(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g) {
    return mg_conv2d_fwd_gemm_fused(out, inp, w, b, g, NULL);
}

int mg_conv2d_fwd_gemm_fused(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g,
                             const mg_conv_epilogue *e) {
    conv_plan pl;
    make_plan(&pl, g);
    size_t bandf = e ? (size_t)(g->K * pl.cols) : 0; /* a one-image unit goes through it (also when nb > 1) */
    size_t per = pl.col_floats + pl.tmp_floats + bandf, got;
    per = (per + 15) & ~(size_t)15; /* keep each thread's slice on its own cache lines */
    float *scratch = scratch_alloc(per * (size_t)pl.nt, &got, "conv2d");
    if (!scratch) return MG_ERR;
#pragma omp parallel num_threads(pl.nt) if (pl.nt > 1)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t lo = g->N * t / nt, hi = g->N * (t + 1) / nt;
        float *col = scratch + per * (size_t)t, *tmp = col + pl.col_floats, *band = tmp + pl.tmp_floats;
        FOR_UNITS(&pl, g, lo, hi, n0, nimg, oh0, oh1,
                  fwd_unit(&pl, g, out, inp, w, b, col, tmp, band, e, n0, nimg, oh0, oh1));
    }
    mg_free(scratch, got);
    return MG_OK;
}

/* ---- backward --------------------------------------------------------------------- */

/* One unit of the backward pass. The output gradient is read from dout
 * where it is there as is, else gathered (several images side by side) or
 * expanded (an epilogue's gradient) into tmp or the band buffer. */
static void bwd_unit(const conv_plan *pl, const mg_conv_geom *g, float *dinp, float *dw, double *db,
                     const mg_conv_dout *d, const float *inp, const float *w, float *col, float *tmp, float *band,
                     int64_t n0, int64_t nimg, int64_t oh0, int64_t oh1) {
    const int64_t P = pl->P, CKK = pl->CKK, K = g->K, pc = (oh1 - oh0) * g->OW, ncols = nimg * pc;
    const int64_t isz = g->C * g->H * g->W;
    const float *G;
    int64_t ldg;
    if (nimg > 1) { /* gather dout[n0 + m] (K, P) -> tmp (K, nimg*P) */
        for (int64_t m = 0; m < nimg; m++)
            for (int64_t k = 0; k < K; k++) mg_conv_dout_rows(tmp + k * ncols + m * P, d, K, g->OH, g->OW, n0 + m, k, 0, g->OH);
        G = tmp;
        ldg = ncols;
    } else if (d->g) { /* the unit's rows expanded into the band buffer (K, pc) */
        for (int64_t k = 0; k < K; k++) mg_conv_dout_rows(band + k * pc, d, K, g->OH, g->OW, n0, k, oh0, oh1);
        G = band;
        ldg = pc;
    } else {
        G = d->dout + n0 * K * P + oh0 * g->OW;
        ldg = P;
    }
    if (db)
        for (int64_t k = 0; k < K; k++) {
            const float *r = G + k * ldg;
            float s = 0;
#pragma omp simd reduction(+ : s)
            for (int64_t p = 0; p < ncols; p++) s += r[p];
            db[k] += s;
        }
    bool direct = pl->direct && nimg == 1;
    if (dw) { /* dw^T (CKK, K) += col @ G^T: this orientation runs faster than G @ col^T */
        const float *B = col;
        int64_t ldb = ncols;
        if (direct) {
            B = inp + n0 * isz + oh0 * g->OW;
            ldb = P;
        } else {
            for (int64_t m = 0; m < nimg; m++) im2col(col + m * pc, ncols, inp + (n0 + m) * isz, g, oh0, oh1);
        }
        mg_sgemm(false, true, CKK, K, ncols, 1.0f, B, ldb, G, ldg, 1.0f, dw, K);
    }
    if (dinp) { /* dcol (CKK, cols) = w^T @ G, then folded back into dinp */
        if (direct) {
            mg_sgemm(true, false, CKK, pc, K, 1.0f, w, CKK, G, ldg, 0.0f, dinp + n0 * isz + oh0 * g->OW, P);
            return;
        }
        mg_sgemm(true, false, CKK, ncols, K, 1.0f, w, CKK, G, ldg, 0.0f, col, ncols);
        if (oh0 == 0) fill_floats(dinp + n0 * isz, 0.0f, nimg * isz);
        for (int64_t m = 0; m < nimg; m++) col2im(dinp + (n0 + m) * isz, col + m * pc, ncols, g, oh0, oh1);
    }
}

typedef int (*bwd_fn)(float *, float *, float *, const mg_conv_dout *, const float *, const float *,
                      const mg_conv_geom *);

/* F(2x2) reads the whole gradient: an epilogue's is expanded first. */
static int winograd2_bwd_src(float *dinp, float *dw, float *db, const mg_conv_dout *d, const float *inp,
                             const float *w, const mg_conv_geom *g) {
    if (!d->g) return mg_conv2d_winograd_bwd(dinp, dw, db, d->dout, inp, w, g);
    size_t ny = (size_t)(g->N * g->K * g->OH * g->OW), got;
    float *dy = scratch_alloc(ny, &got, "conv2d backward");
    if (!dy) return MG_ERR;
    mg_relu_pool_bwd(dy, d->g, d->code, g->N * g->K, g->OH, g->OW, d->pool);
    int rc = mg_conv2d_winograd_bwd(dinp, dw, db, dy, inp, w, g);
    mg_free(dy, got);
    return rc;
}

static bwd_fn bwd_of(conv_algo a) {
    return a == ALGO_WINOGRAD4 ? mg_conv2d_winograd4_bwd_src : a == ALGO_WINOGRAD2 ? winograd2_bwd_src
                                                                                   : mg_conv2d_bwd_gemm_src;
}

int mg_conv2d_bwd(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                  const mg_conv_geom *g) {
    mg_conv_dout d = {dout, NULL, NULL, 1};
    return mg_conv2d_bwd_src(dinp, dw, db, &d, inp, w, g);
}

int mg_conv2d_bwd_src(float *dinp, float *dw, float *db, const mg_conv_dout *d, const float *inp, const float *w,
                      const mg_conv_geom *g) {
    conv_algo ad = dinp ? choose_algo(g, true) : ALGO_GEMM, aw = dw || db ? choose_algo(g, false) : ALGO_GEMM;
    bool gemm_only = (!dinp || ad == ALGO_GEMM) && (!(dw || db) || aw == ALGO_GEMM);
    if (d->g && !gemm_only) {
        /* Winograd reads the gradient of 16 images at a time, too scattered
         * to expand it as it goes (measured slower), and its two passes
         * would expand it twice: expanded once, whole */
        size_t ny = (size_t)(g->N * g->K * g->OH * g->OW), got;
        float *dy = scratch_alloc(ny, &got, "conv2d backward");
        if (!dy) return MG_ERR;
        mg_relu_pool_bwd(dy, d->g, d->code, g->N * g->K, g->OH, g->OW, d->pool);
        mg_conv_dout whole = {dy, NULL, NULL, 1};
        int rc = mg_conv2d_bwd_src(dinp, dw, db, &whole, inp, w, g);
        mg_free(dy, got);
        return rc;
    }
    if (ad == aw) return bwd_of(ad)(dinp, dw, db, d, inp, w, g); /* one pass for both where it can share */
    if (dinp && bwd_of(ad)(dinp, NULL, NULL, d, inp, w, g) != MG_OK) return MG_ERR;
    return dw || db ? bwd_of(aw)(NULL, dw, db, d, inp, w, g) : MG_OK;
}

int mg_conv2d_bwd_gemm(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                       const mg_conv_geom *g) {
    mg_conv_dout d = {dout, NULL, NULL, 1};
    return mg_conv2d_bwd_gemm_src(dinp, dw, db, &d, inp, w, g);
}

int mg_conv2d_bwd_gemm_src(float *dinp, float *dw, float *db, const mg_conv_dout *d, const float *inp,
                           const float *w, const mg_conv_geom *g) {
    conv_plan pl;
    make_plan(&pl, g);
    const int64_t K = g->K, CKK = pl.CKK;
    size_t bandf = d->g ? (size_t)(K * pl.cols) : 0; /* a one-image unit's expanded rows */
    size_t per = pl.col_floats + pl.tmp_floats + bandf, wsz = (size_t)(K * CKK);
    per = (per + 15) & ~(size_t)15;
    size_t dwpart = dw ? (wsz + 15) & ~(size_t)15 : 0; /* per thread: dw^T (CKK, K) */
    size_t dbpart = db ? (size_t)K * 2 : 0; /* doubles, as pairs of floats */
    size_t total = (per + dwpart + dbpart) * (size_t)pl.nt, got;
    float *scratch = scratch_alloc(total, &got, "conv2d backward");
    if (!scratch) return MG_ERR;
    if (db) memset(scratch + (per + dwpart) * (size_t)pl.nt, 0, dbpart * (size_t)pl.nt * sizeof(float));
    if (dwpart) memset(scratch + per * (size_t)pl.nt, 0, dwpart * (size_t)pl.nt * sizeof(float));
#pragma omp parallel num_threads(pl.nt) if (pl.nt > 1)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t lo = g->N * t / nt, hi = g->N * (t + 1) / nt;
        float *col = scratch + per * (size_t)t, *tmp = col + pl.col_floats, *band = tmp + pl.tmp_floats;
        float *dwt = dw ? scratch + per * (size_t)pl.nt + dwpart * (size_t)t : NULL;
        double *dbt = db ? (double *)(scratch + (per + dwpart) * (size_t)pl.nt) + K * t : NULL;
        FOR_UNITS(&pl, g, lo, hi, n0, nimg, oh0, oh1,
                  bwd_unit(&pl, g, dinp, dwt, dbt, d, inp, w, col, tmp, band, n0, nimg, oh0, oh1));
    }
    if (dw) { /* transposed back, threads summed in a fixed order: the same thread count gives the same sums */
        const float *parts = scratch + per * (size_t)pl.nt;
        for (int64_t k = 0; k < K; k++)
            for (int64_t r = 0; r < CKK; r++) {
                float s = 0;
                for (int t = 0; t < pl.nt; t++) s += parts[dwpart * (size_t)t + (size_t)(r * K + k)];
                dw[k * CKK + r] = s;
            }
    }
    if (db) {
        const double *parts = (const double *)(scratch + (per + dwpart) * (size_t)pl.nt);
        for (int64_t k = 0; k < K; k++) {
            double s = 0;
            for (int t = 0; t < pl.nt; t++) s += parts[K * t + k];
            db[k] = (float)s;
        }
    }
    mg_free(scratch, got);
    return MG_OK;
}

void mg_conv_bias_grad(float *db, const float *dout, int64_t N, int64_t K, int64_t P) {
    for (int64_t k = 0; k < K; k++) {
        double s = 0;
        for (int64_t n = 0; n < N; n++) {
            const float *r = dout + (n * K + k) * P;
            float part = 0;
#pragma omp simd reduction(+ : part)
            for (int64_t p = 0; p < P; p++) part += r[p];
            s += part;
        }
        db[k] = (float)s;
    }
}

/* out (N,K,P) += b[k] on every plane */
static void add_bias(float *out, const float *b, int64_t N, int64_t K, int64_t P) {
#pragma omp parallel for if (N * K * P > MG_PAR_GRAIN) schedule(static)
    for (int64_t nk = 0; nk < N * K; nk++) {
        float bk = b[nk % K], *r = out + nk * P;
#pragma omp simd
        for (int64_t p = 0; p < P; p++) r[p] += bk;
    }
}

/* ---- naive twins ---------------------------------------------------------------------- */

void mg_conv2d_fwd_naive(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g) {
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t k = 0; k < g->K; k++)
            for (int64_t oh = 0; oh < g->OH; oh++)
                for (int64_t ow = 0; ow < g->OW; ow++) {
                    double s = b ? b[k] : 0.0;
                    for (int64_t c = 0; c < g->C; c++)
                        for (int64_t i = 0; i < g->kh; i++)
                            for (int64_t j = 0; j < g->kw; j++) {
                                int64_t ih = oh * g->sh - g->ph + i * g->dh, iw = ow * g->sw - g->pw + j * g->dw;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                s += (double)inp[((n * g->C + c) * g->H + ih) * g->W + iw] *
                                     w[((k * g->C + c) * g->kh + i) * g->kw + j];
                            }
                    out[((n * g->K + k) * g->OH + oh) * g->OW + ow] = (float)s;
                }
}

void mg_conv2d_bwd_naive(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                         const float *w, const mg_conv_geom *g) {
    if (db)
        for (int64_t k = 0; k < g->K; k++) {
            double s = 0;
            for (int64_t n = 0; n < g->N; n++)
                for (int64_t p = 0; p < g->OH * g->OW; p++) s += dout[(n * g->K + k) * g->OH * g->OW + p];
            db[k] = (float)s;
        }
    if (dw)
        for (int64_t k = 0; k < g->K; k++)
            for (int64_t c = 0; c < g->C; c++)
                for (int64_t i = 0; i < g->kh; i++)
                    for (int64_t j = 0; j < g->kw; j++) {
                        double s = 0;
                        for (int64_t n = 0; n < g->N; n++)
                            for (int64_t oh = 0; oh < g->OH; oh++)
                                for (int64_t ow = 0; ow < g->OW; ow++) {
                                    int64_t ih = oh * g->sh - g->ph + i * g->dh, iw = ow * g->sw - g->pw + j * g->dw;
                                    if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                    s += (double)dout[((n * g->K + k) * g->OH + oh) * g->OW + ow] *
                                         inp[((n * g->C + c) * g->H + ih) * g->W + iw];
                                }
                        dw[((k * g->C + c) * g->kh + i) * g->kw + j] = (float)s;
                    }
    if (dinp) /* gather form: each input element sums the outputs it reached */
        for (int64_t n = 0; n < g->N; n++)
            for (int64_t c = 0; c < g->C; c++)
                for (int64_t ih = 0; ih < g->H; ih++)
                    for (int64_t iw = 0; iw < g->W; iw++) {
                        double s = 0;
                        for (int64_t k = 0; k < g->K; k++)
                            for (int64_t i = 0; i < g->kh; i++)
                                for (int64_t j = 0; j < g->kw; j++) {
                                    int64_t th = ih + g->ph - i * g->dh, tw = iw + g->pw - j * g->dw;
                                    if (th < 0 || tw < 0 || th % g->sh || tw % g->sw) continue;
                                    int64_t oh = th / g->sh, ow = tw / g->sw;
                                    if (oh >= g->OH || ow >= g->OW) continue;
                                    s += (double)dout[((n * g->K + k) * g->OH + oh) * g->OW + ow] *
                                         w[((k * g->C + c) * g->kh + i) * g->kw + j];
                                }
                        dinp[((n * g->C + c) * g->H + ih) * g->W + iw] = (float)s;
                    }
}

void mg_conv_transpose2d_fwd_naive(float *out, const float *inp, const float *w, const float *b,
                                   const mg_conv_geom *g) {
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t p = 0; p < g->H * g->W; p++) out[(n * g->C + c) * g->H * g->W + p] = b ? b[c] : 0.0f;
    /* scatter: every input element spreads over its kernel footprint */
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t k = 0; k < g->K; k++)
            for (int64_t oh = 0; oh < g->OH; oh++)
                for (int64_t ow = 0; ow < g->OW; ow++) {
                    float v = inp[((n * g->K + k) * g->OH + oh) * g->OW + ow];
                    for (int64_t c = 0; c < g->C; c++)
                        for (int64_t i = 0; i < g->kh; i++)
                            for (int64_t j = 0; j < g->kw; j++) {
                                int64_t ih = oh * g->sh - g->ph + i * g->dh, iw = ow * g->sw - g->pw + j * g->dw;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                out[((n * g->C + c) * g->H + ih) * g->W + iw] +=
                                    v * w[((k * g->C + c) * g->kh + i) * g->kw + j];
                            }
                }
}

/* ---- ops ---------------------------------------------------------------------------- */

int mg_conv2d_check(mg_conv_geom *g, const char *op, const mg_tensor *x, const mg_tensor *w, const mg_tensor *b,
                    const mg_conv_opts *o) {
    if (check_tensors(op, x, w, b)) return MG_ERR;
    if (x->shape[1] != w->shape[1])
        return mg_error("%s: input %s has %lld channels, weight %s expects %lld", op, mg_shp(x),
                        (long long)x->shape[1], mg_shp(w), (long long)w->shape[1]);
    if (b && !(b->ndim == 1 && b->shape[0] == w->shape[0]))
        return mg_error("%s: bias %s does not match weight %s (expected [%lld])", op, mg_shp(b), mg_shp(w),
                        (long long)w->shape[0]);
    return mg_conv_geom_init(g, op, x, w, o);
}

void mg_conv_opts_to_node(mg_node *n, const mg_conv_geom *g, const mg_conv_opts *o) {
    int64_t v[8] = {g->sh, g->sw, g->ph, g->pw, g->dh, g->dw, o ? o->output_padding[0] : 0,
                    o ? o->output_padding[1] : 0};
    for (int k = 0; k < 8; k++) n->i[k] = v[k];
}

mg_conv_opts mg_conv_node_opts(const mg_node *n) {
    mg_conv_opts o = {{(int)n->i[0], (int)n->i[1]}, {(int)n->i[2], (int)n->i[3]},
                      {(int)n->i[4], (int)n->i[5]}, {(int)n->i[6], (int)n->i[7]}};
    return o;
}

mg_tensor *mg_conv2d(mg_tensor *x, mg_tensor *w, mg_tensor *b, const mg_conv_opts *o) {
    const char *op = "conv2d";
    mg_tensor *xc = NULL, *wc = NULL, *bc = NULL, *out = NULL;
    mg_conv_geom g;
    TRY_OK(mg_conv2d_check(&g, op, x, w, b, o));
    TRY(xc = mg_as_contiguous(x));
    TRY(wc = mg_as_contiguous(w));
    if (b) TRY(bc = mg_as_contiguous(b));
    TRY(out = mg_empty(MG_F32, 4, (int64_t[]){g.N, g.K, g.OH, g.OW}));
    if (g.N > 0) TRY_OK(mg_conv2d_fwd(mg_f32(out), mg_f32(xc), mg_f32(wc), bc ? mg_f32(bc) : NULL, &g));
    mg_release(xc), mg_release(wc), mg_release(bc);
    xc = wc = bc = NULL;
    mg_tensor *ins[3] = {x, w, b};
    if (mg_needs_grad(3, ins)) {
        mg_node *n = mg_record(MG_OP_conv2d, out, 3, ins);
        TRY(n);
        TRY_OK(mg_save(n, x));
        TRY_OK(mg_save(n, w));
        mg_conv_opts_to_node(n, &g, NULL);
    }
    return out;
fail:
    mg_release(xc), mg_release(wc), mg_release(bc), mg_release(out);
    return NULL;
}

int mg_conv2d_grads(mg_tensor **gin, const bool *needs, const mg_conv_dout *d, mg_tensor *x, mg_tensor *w,
                    const mg_conv_geom *g) {
    mg_tensor *xc = NULL, *wc = NULL;
    int rc = MG_ERR;
    if (needs[0]) {
        TRY(wc = mg_as_contiguous(w));
        TRY(gin[0] = mg_empty(MG_F32, 4, x->shape));
    }
    if (needs[1]) {
        TRY(xc = mg_as_contiguous(x));
        TRY(gin[1] = mg_empty(MG_F32, 4, w->shape));
    }
    if (needs[2]) TRY(gin[2] = mg_empty(MG_F32, 1, (int64_t[]){g->K}));
    if (g->N > 0) {
        TRY_OK(mg_conv2d_bwd_src(needs[0] ? mg_f32(gin[0]) : NULL, needs[1] ? mg_f32(gin[1]) : NULL,
                                 needs[2] ? mg_f32(gin[2]) : NULL, d, xc ? mg_f32(xc) : NULL, wc ? mg_f32(wc) : NULL,
                                 g));
    } else {
        for (int k = 1; k < 3; k++)
            if (needs[k]) TRY_OK(mg_zero_(gin[k]));
    }
    rc = MG_OK;
fail:
    mg_release(xc), mg_release(wc);
    return rc;
}

int mg_bw_conv2d(mg_node *n, mg_tensor *gout, const bool *needs, mg_tensor **gin) {
    mg_tensor *x = mg_saved(n, 0), *w = mg_saved(n, 1), *gc = NULL;
    if (!x || !w) return MG_ERR;
    mg_conv_geom g;
    mg_conv_opts o = mg_conv_node_opts(n);
    if (mg_conv_geom_init(&g, "conv2d", x, w, &o) || !(gc = mg_as_contiguous(gout))) return MG_ERR;
    mg_conv_dout d = {mg_f32(gc), NULL, NULL, 1};
    int rc = mg_conv2d_grads(gin, needs, &d, x, w, &g);
    mg_release(gc);
    return rc;
}

mg_tensor *mg_conv_transpose2d(mg_tensor *x, mg_tensor *w, mg_tensor *b, const mg_conv_opts *o) {
    const char *op = "conv_transpose2d";
    mg_tensor *xc = NULL, *wc = NULL, *bc = NULL, *out = NULL;
    mg_conv_geom g;
    TRY_OK(check_tensors(op, x, w, b));
    CHECK(x->shape[1] == w->shape[0], "conv_transpose2d: input %s has %lld channels, weight %s expects %lld",
          mg_shp(x), (long long)x->shape[1], mg_shp(w), (long long)w->shape[0]);
    CHECK(!b || (b->ndim == 1 && b->shape[0] == w->shape[1]),
          "conv_transpose2d: bias %s does not match weight %s (expected [%lld])", b ? mg_shp(b) : "", mg_shp(w),
          (long long)w->shape[1]);
    TRY_OK(mg_conv_transpose_geom(&g, x, w, o));
    TRY(xc = mg_as_contiguous(x));
    TRY(wc = mg_as_contiguous(w));
    if (b) TRY(bc = mg_as_contiguous(b));
    TRY(out = mg_empty(MG_F32, 4, (int64_t[]){g.N, g.C, g.H, g.W}));
    if (g.N > 0) {
        TRY_OK(mg_conv2d_bwd(mg_f32(out), NULL, NULL, mg_f32(xc), NULL, mg_f32(wc), &g));
        if (bc) add_bias(mg_f32(out), mg_f32(bc), g.N, g.C, g.H * g.W);
    }
    mg_release(xc), mg_release(wc), mg_release(bc);
    xc = wc = bc = NULL;
    mg_tensor *ins[3] = {x, w, b};
    if (mg_needs_grad(3, ins)) {
        mg_node *n = mg_record(MG_OP_conv_transpose2d, out, 3, ins);
        TRY(n);
        TRY_OK(mg_save(n, x));
        TRY_OK(mg_save(n, w));
        mg_conv_opts_to_node(n, &g, o ? o : &default_opts);
    }
    return out;
fail:
    mg_release(xc), mg_release(wc), mg_release(bc), mg_release(out);
    return NULL;
}

int mg_bw_conv_transpose2d(mg_node *n, mg_tensor *gout, const bool *needs, mg_tensor **gin) {
    mg_tensor *x = mg_saved(n, 0), *w = mg_saved(n, 1), *gc = NULL, *xc = NULL, *wc = NULL;
    if (!x || !w) return MG_ERR;
    int rc = MG_ERR;
    mg_conv_geom g;
    mg_conv_opts o = mg_conv_node_opts(n);
    TRY_OK(mg_conv_transpose_geom(&g, x, w, &o));
    TRY(gc = mg_as_contiguous(gout));
    if (needs[0]) { /* the input gradient is the convolution of gout */
        TRY(wc = mg_as_contiguous(w));
        TRY(gin[0] = mg_empty(MG_F32, 4, x->shape));
        if (g.N > 0) TRY_OK(mg_conv2d_fwd(mg_f32(gin[0]), mg_f32(gc), mg_f32(wc), NULL, &g));
    }
    if (needs[1]) { /* that convolution's weight gradient, gout as its input, x as its output gradient */
        TRY(xc = mg_as_contiguous(x));
        TRY(gin[1] = mg_empty(MG_F32, 4, w->shape));
        if (g.N > 0) TRY_OK(mg_conv2d_bwd(NULL, mg_f32(gin[1]), NULL, mg_f32(xc), mg_f32(gc), NULL, &g));
        else TRY_OK(mg_zero_(gin[1]));
    }
    if (needs[2]) {
        TRY(gin[2] = mg_empty(MG_F32, 1, (int64_t[]){g.C}));
        mg_conv_bias_grad(mg_f32(gin[2]), mg_f32(gc), g.N, g.C, g.H * g.W);
    }
    rc = MG_OK;
fail:
    mg_release(gc), mg_release(xc), mg_release(wc);
    return rc;
}
