/*
 * 3x3 convolutions with stride 1 and dilation 1 by Winograd's minimal
 * filtering F(2x2, 3x3): each 2x2 block of outputs ("tile") comes from a
 * 4x4 input patch with 16 multiplications per channel pair instead of 36.
 * The products become 16 matrix products, one per transformed position xi:
 *
 *   forward         M_xi (K, T) = U_xi (K, C) @ V_xi (C, T)
 *   weight grad     dU_xi (K, C) += Gh_xi (K, T) @ V_xi^T
 *   input grad      the forward pass of the full correlation of the output
 *                   gradient with the flipped, transposed weights
 *
 * with U = G w G^T (weights), V = B^T d B (input patches), Y = A^T M A
 * (outputs), Gh = A g A^T (output gradient tiles), dw = G^T dU G. Work is
 * cut and threaded as in nn_conv.c: units of whole images or bands of tile
 * rows, the batch split across threads with per-thread scratch.
 */
#include "nn_conv.h"

#include <omp.h>

#if defined(__AVX512F__)
/* The transforms run 16 tiles at a time in AVX-512 registers, masked at
 * the end of a row. Without AVX-512 Winograd is not used (mg_winograd_fits
 * says no): plain loops over such short rows cost more than it saves. */
#include <immintrin.h>

static inline __mmask16 tail_mask(int64_t n) { return (__mmask16)((1u << n) - 1); }

/* n floats (n <= 32) from p, split into even and odd elements (zero past n). */
static inline void load_pairs(const float *p, int64_t n, __m512 *even, __m512 *odd) {
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    __m512 a = _mm512_maskz_loadu_ps(tail_mask(n < 16 ? n : 16), p);
    __m512 b = n > 16 ? _mm512_maskz_loadu_ps(tail_mask(n - 16), p + 16) : _mm512_setzero_ps();
    *even = _mm512_permutex2var_ps(a, ie, b);
    *odd = _mm512_permutex2var_ps(a, io, b);
}

/* even and odd interleaved: the first n floats (n <= 32) stored at p. */
static inline void store_pairs(float *p, int64_t n, __m512 even, __m512 odd) {
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    _mm512_mask_storeu_ps(p, tail_mask(n < 16 ? n : 16), _mm512_permutex2var_ps(even, lo, odd));
    if (n > 16) _mm512_mask_storeu_ps(p + 16, tail_mask(n - 16), _mm512_permutex2var_ps(even, hi, odd));
}

/* A 3x3 stride-1 convolution (N,C,H,W) -> (N,K,OH,OW) and its tiles. */
typedef struct {
    int64_t N, C, H, W, K, OH, OW, ph, pw;
    int64_t th, tw; /* tile rows and columns per image */
} wg_geom;

static wg_geom wg_make(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t OH, int64_t OW,
                       int64_t ph, int64_t pw) {
    wg_geom q = {N, C, H, W, K, OH, OW, ph, pw, (OH + 1) / 2, (OW + 1) / 2};
    return q;
}

/* The full correlation that gives the input gradient: output gradient
 * (N,K,OH,OW) -> (N,C,H,W), padding 2 - p. */
static wg_geom wg_data_grad(const mg_conv_geom *g) {
    return wg_make(g->N, g->K, g->OH, g->OW, g->C, g->H, g->W, 2 - g->ph, 2 - g->pw);
}

/* Multiplications saved: direct 9 per output against 16 per tile. */
static double wg_gain(const wg_geom *q) { return 9.0 * (double)(q->OH * q->OW) / (16.0 * (double)(q->th * q->tw)); }

bool mg_winograd_fits(const mg_conv_geom *g) {
    if (g->kh != 3 || g->kw != 3 || g->sh != 1 || g->sw != 1 || g->dh != 1 || g->dw != 1) return false;
    if (g->ph > 2 || g->pw > 2 || g->OH != g->H + 2 * g->ph - 2 || g->OW != g->W + 2 * g->pw - 2) return false;
    if (g->C < 8 || g->K < 8) return false; /* thin products gain little and pay for the transforms */
    wg_geom f = wg_make(g->N, g->C, g->H, g->W, g->K, g->OH, g->OW, g->ph, g->pw), d = wg_data_grad(g);
    return wg_gain(&f) >= 1.5 && wg_gain(&d) >= 1.5;
}

/* ---- transforms ---------------------------------------------------------------- */

/* U (16, K, C) = G w G^T for w (K, C, 3, 3); flip: use w'(c, k) = w(k, c)
 * rotated by 180 degrees instead, giving U (16, C, K). */
static void weight_transform(float *U, const float *w, int64_t K, int64_t C, bool flip) {
    int64_t rows = flip ? C : K, cols = flip ? K : C;
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++) {
            const float *f = w + (k * C + c) * 9;
            float gg[3][3], t[4][3];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) gg[i][j] = flip ? f[(2 - i) * 3 + (2 - j)] : f[i * 3 + j];
            for (int j = 0; j < 3; j++) {
                t[0][j] = gg[0][j];
                t[1][j] = 0.5f * (gg[0][j] + gg[1][j] + gg[2][j]);
                t[2][j] = 0.5f * (gg[0][j] - gg[1][j] + gg[2][j]);
                t[3][j] = gg[2][j];
            }
            int64_t at = flip ? c * cols + k : k * cols + c;
            for (int r = 0; r < 4; r++) {
                float u[4] = {t[r][0], 0.5f * (t[r][0] + t[r][1] + t[r][2]), 0.5f * (t[r][0] - t[r][1] + t[r][2]),
                              t[r][2]};
                for (int s = 0; s < 4; s++) U[(r * 4 + s) * rows * cols + at] = u[s];
            }
        }
}

/* Rows [r0, r1) of the padded plane x (H, W) split into even and odd
 * columns: E[b] = x[r - ph][2b - pw], O[b] = x[r - ph][2b + 1 - pw] for b
 * in [0, n), zero outside the input. */
static void split_rows(float *E, float *O, const float *x, int64_t H, int64_t W, int64_t ph, int64_t pw, int64_t r0,
                       int64_t r1, int64_t n) {
    int64_t blo = (pw + 1) / 2, bhi = (W + pw) / 2; /* both columns inside for b in [blo, bhi) */
    if (bhi > n) bhi = n;
    if (blo > bhi) blo = bhi;
    for (int64_t r = r0; r < r1; r++) {
        float *e = E + (r - r0) * n, *o = O + (r - r0) * n;
        int64_t ih = r - ph;
        if (ih < 0 || ih >= H) {
            for (int64_t b = 0; b < n; b++) e[b] = o[b] = 0.0f;
            continue;
        }
        const float *xr = x + ih * W;
        for (int64_t b = 0; b < n; b++) {
            if (b == blo) b = bhi; /* the inside is done below */
            if (b >= n) break;
            int64_t j = 2 * b - pw;
            e[b] = j >= 0 && j < W ? xr[j] : 0.0f;
            o[b] = j + 1 >= 0 && j + 1 < W ? xr[j + 1] : 0.0f;
        }
        for (int64_t b = blo; b < bhi; b += 16) {
            int64_t cnt = bhi - b < 16 ? bhi - b : 16;
            __m512 ev, od;
            load_pairs(xr + 2 * b - pw, 2 * cnt, &ev, &od);
            _mm512_mask_storeu_ps(e + b, tail_mask(cnt), ev);
            _mm512_mask_storeu_ps(o + b, tail_mask(cnt), od);
        }
    }
}

/* V (16, C, ld) at column t0 = B^T d B for the tiles of tile rows [a0, a1)
 * of one image x (C, H, W); buf holds 2 * (2*(a1-a0) + 2) * (tw + 1) floats.
 * A vector holds 16 consecutive tiles of the band, across tile rows when
 * rows are short (6 tiles for an 11x11 output), so that lanes are not left
 * idle: each tile row's lanes are loaded from its own rows of E and O. */
static void input_transform(float *V, int64_t ld, int64_t t0, const float *x, const wg_geom *q, int64_t a0,
                            int64_t a1, float *buf) {
    const int64_t n = q->tw + 1, rows = 2 * (a1 - a0) + 2, plane = q->C * ld, tw = q->tw, tu = (a1 - a0) * tw;
    float *E = buf, *O = buf + rows * n;
    for (int64_t c = 0; c < q->C; c++) {
        split_rows(E, O, x + c * q->H * q->W, q->H, q->W, q->ph, q->pw, 2 * a0, 2 * a0 + rows, n);
        float *v = V + c * ld + t0;
        for (int64_t u0 = 0; u0 < tu; u0 += 16) {
            int64_t u1 = tu - u0 < 16 ? tu : u0 + 16;
            __m512 d[4][4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) d[r][0] = d[r][1] = d[r][2] = d[r][3] = _mm512_setzero_ps();
            for (int64_t ar = u0 / tw; ar * tw < u1; ar++) { /* tile rows in these lanes */
                int64_t lo = ar * tw > u0 ? ar * tw - u0 : 0, hi = (ar + 1) * tw < u1 ? (ar + 1) * tw - u0 : u1 - u0;
                __mmask16 m = (__mmask16)(tail_mask(hi) & ~tail_mask(lo));
                int64_t off = u0 - ar * tw; /* lane l holds tile column l + off */
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    const float *er = E + (2 * ar + r) * n + off, *orr = O + (2 * ar + r) * n + off;
                    d[r][0] = _mm512_mask_loadu_ps(d[r][0], m, er);
                    d[r][1] = _mm512_mask_loadu_ps(d[r][1], m, orr);
                    d[r][2] = _mm512_mask_loadu_ps(d[r][2], m, er + 1);
                    d[r][3] = _mm512_mask_loadu_ps(d[r][3], m, orr + 1);
                }
            }
            __m512 u[4][4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) { /* d B along the row */
                u[r][0] = _mm512_sub_ps(d[r][0], d[r][2]), u[r][1] = _mm512_add_ps(d[r][1], d[r][2]);
                u[r][2] = _mm512_sub_ps(d[r][2], d[r][1]), u[r][3] = _mm512_sub_ps(d[r][1], d[r][3]);
            }
            __mmask16 m = tail_mask(u1 - u0);
#pragma GCC unroll 4
            for (int s = 0; s < 4; s++) { /* B^T along the column */
                _mm512_mask_storeu_ps(v + (0 * 4 + s) * plane + u0, m, _mm512_sub_ps(u[0][s], u[2][s]));
                _mm512_mask_storeu_ps(v + (1 * 4 + s) * plane + u0, m, _mm512_add_ps(u[1][s], u[2][s]));
                _mm512_mask_storeu_ps(v + (2 * 4 + s) * plane + u0, m, _mm512_sub_ps(u[2][s], u[1][s]));
                _mm512_mask_storeu_ps(v + (3 * 4 + s) * plane + u0, m, _mm512_sub_ps(u[1][s], u[3][s]));
            }
        }
    }
}

/* out (K, OH, OW) rows of tile rows [a0, a1) = A^T M A (+ b), M (16, K, ld)
 * from column t0. As in input_transform a vector holds 16 consecutive
 * tiles of the band; each tile row's lanes are packed down and stored. */
static void output_transform(float *out, const float *M, int64_t ld, int64_t t0, const float *bias, const wg_geom *q,
                             int64_t a0, int64_t a1) {
    const int64_t tw = q->tw, plane = q->K * ld, OW = q->OW, tu = (a1 - a0) * tw;
    for (int64_t k = 0; k < q->K; k++) {
        __m512 bk = _mm512_set1_ps(bias ? bias[k] : 0.0f);
        const float *mr = M + k * ld + t0;
        float *ok = out + k * q->OH * OW;
        for (int64_t u0 = 0; u0 < tu; u0 += 16) {
            int64_t u1 = tu - u0 < 16 ? tu : u0 + 16;
            __mmask16 msk = tail_mask(u1 - u0);
            __m512 p[2][4];
#pragma GCC unroll 4
            for (int s = 0; s < 4; s++) { /* A^T along the column */
                __m512 m0 = _mm512_maskz_loadu_ps(msk, mr + (0 * 4 + s) * plane + u0);
                __m512 m1 = _mm512_maskz_loadu_ps(msk, mr + (1 * 4 + s) * plane + u0);
                __m512 m2 = _mm512_maskz_loadu_ps(msk, mr + (2 * 4 + s) * plane + u0);
                __m512 m3 = _mm512_maskz_loadu_ps(msk, mr + (3 * 4 + s) * plane + u0);
                p[0][s] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
                p[1][s] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
            }
            __m512 y[2][2]; /* [output row][even, odd column] */
#pragma GCC unroll 2
            for (int r = 0; r < 2; r++) {
                y[r][0] = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(p[r][0], p[r][1]), p[r][2]), bk);
                y[r][1] = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(p[r][1], p[r][2]), p[r][3]), bk);
            }
            for (int64_t ar = u0 / tw; ar * tw < u1; ar++) { /* tile rows in these lanes */
                int64_t lo = ar * tw > u0 ? ar * tw - u0 : 0, hi = (ar + 1) * tw < u1 ? (ar + 1) * tw - u0 : u1 - u0;
                int64_t b0 = lo + u0 - ar * tw, cnt = OW - 2 * b0 < 2 * (hi - lo) ? OW - 2 * b0 : 2 * (hi - lo);
                __mmask16 m = (__mmask16)(tail_mask(hi) & ~tail_mask(lo));
                for (int r = 0; r < 2 && 2 * (a0 + ar) + r < q->OH; r++) {
                    __m512 ye = lo ? _mm512_maskz_compress_ps(m, y[r][0]) : y[r][0];
                    __m512 yo = lo ? _mm512_maskz_compress_ps(m, y[r][1]) : y[r][1];
                    store_pairs(ok + (2 * (a0 + ar) + r) * OW + 2 * b0, cnt, ye, yo);
                }
            }
        }
    }
}

/* Gh (16, K, ld) at column t0 = A g A^T for the output-gradient tiles of
 * tile rows [a0, a1) of one image g (K, OH, OW). */
static void grad_transform(float *Gh, int64_t ld, int64_t t0, const float *gout, const wg_geom *q, int64_t a0,
                           int64_t a1) {
    const int64_t tw = q->tw, plane = q->K * ld, OW = q->OW;
    for (int64_t k = 0; k < q->K; k++)
        for (int64_t a = a0; a < a1; a++) {
            float *v = Gh + k * ld + t0 + (a - a0) * tw;
            for (int64_t b = 0; b < tw; b += 16) {
                __mmask16 msk = tail_mask(tw - b < 16 ? tw - b : 16);
                int64_t cnt = OW - 2 * b < 32 ? OW - 2 * b : 32;
                __m512 ge[2], go[2];
#pragma GCC unroll 2
                for (int r = 0; r < 2; r++) {
                    if (2 * a + r < q->OH) {
                        load_pairs(gout + (k * q->OH + 2 * a + r) * OW + 2 * b, cnt, &ge[r], &go[r]);
                    } else {
                        ge[r] = go[r] = _mm512_setzero_ps();
                    }
                }
                __m512 h[4][2] = {{ge[0], go[0]},
                                  {_mm512_add_ps(ge[0], ge[1]), _mm512_add_ps(go[0], go[1])},
                                  {_mm512_sub_ps(ge[0], ge[1]), _mm512_sub_ps(go[0], go[1])},
                                  {_mm512_sub_ps(_mm512_setzero_ps(), ge[1]), _mm512_sub_ps(_mm512_setzero_ps(), go[1])}};
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    _mm512_mask_storeu_ps(v + (r * 4 + 0) * plane + b, msk, h[r][0]);
                    _mm512_mask_storeu_ps(v + (r * 4 + 1) * plane + b, msk, _mm512_add_ps(h[r][0], h[r][1]));
                    _mm512_mask_storeu_ps(v + (r * 4 + 2) * plane + b, msk, _mm512_sub_ps(h[r][0], h[r][1]));
                    _mm512_mask_storeu_ps(v + (r * 4 + 3) * plane + b, msk, _mm512_sub_ps(_mm512_setzero_ps(), h[r][1]));
                }
            }
        }
}

/* dw (K, C, 3, 3) = G^T dU G for dU (16, K, C). */
static void weight_grad_transform(float *dw, const float *dU, int64_t K, int64_t C) {
    const int64_t plane = K * C;
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++) {
            float u[4][4], t[3][4];
            for (int x = 0; x < 16; x++) u[x / 4][x % 4] = dU[x * plane + k * C + c];
            for (int s = 0; s < 4; s++) { /* G^T along the column */
                t[0][s] = u[0][s] + 0.5f * (u[1][s] + u[2][s]);
                t[1][s] = 0.5f * (u[1][s] - u[2][s]);
                t[2][s] = 0.5f * (u[1][s] + u[2][s]) + u[3][s];
            }
            float *o = dw + (k * C + c) * 9;
            for (int i = 0; i < 3; i++) {
                o[i * 3 + 0] = t[i][0] + 0.5f * (t[i][1] + t[i][2]);
                o[i * 3 + 1] = 0.5f * (t[i][1] - t[i][2]);
                o[i * 3 + 2] = 0.5f * (t[i][1] + t[i][2]) + t[i][3];
            }
        }
}

/* ---- plan --------------------------------------------------------------------- */

/* Tiles a unit should have at least, and the most floats its transformed
 * input and output may take together (they should stay in cache). */
#define MIN_TILES 96
#define TILE_BUDGET (160 * 1024)

double mg_winograd_cost(int64_t N, int64_t OH, int64_t OW) {
    int64_t th = (OH + 1) / 2, tw = (OW + 1) / 2, T1 = th * tw;
    double busy = 1.0; /* whole images side by side: each image's tiles start a new vector */
    if (T1 < MIN_TILES) busy = (double)T1 / (double)(16 * ((T1 + 15) / 16));
    return 16.0 * (double)T1 * (double)N / busy;
}

typedef struct {
    int64_t nb;    /* images per unit (> 1: whole images) */
    int64_t rows;  /* tile rows per unit when nb == 1 */
    int64_t tiles; /* most tiles of a unit */
    int nt;        /* threads that split the batch */
} wg_plan;

static void wg_plan_make(wg_plan *pl, const wg_geom *q, int64_t per_tile) {
    int64_t T1 = q->th * q->tw;
    if (T1 >= MIN_TILES || q->N <= 1) {
        int64_t rows = TILE_BUDGET / (per_tile * q->tw);
        if (rows * q->tw < MIN_TILES) rows = (MIN_TILES + q->tw - 1) / q->tw;
        pl->nb = 1;
        pl->rows = rows < 1 ? 1 : rows > q->th ? q->th : rows;
        pl->tiles = pl->rows * q->tw;
    } else {
        int64_t nb = TILE_BUDGET / (per_tile * T1), want = (MIN_TILES + T1 - 1) / T1;
        if (nb < want) nb = want;
        if (nb > q->N) nb = q->N;
        pl->nb = nb < 1 ? 1 : nb;
        pl->rows = q->th;
        pl->tiles = pl->nb * T1;
    }
    int threads = mg_threads();
    pl->nt = threads > 1 && q->N >= threads ? threads : 1;
}

/* Units of the images [lo, hi): whole images side by side, or bands of
 * tile rows of one image. Sets n0, nimg, a0, a1 and runs body. */
#define FOR_WG_UNITS(pl, q, lo, hi, n0, nimg, a0, a1, body)                                       \
    do {                                                                                          \
        if ((pl)->nb > 1) {                                                                       \
            int64_t cnt_ = (hi) - (lo), nu_ = (cnt_ + (pl)->nb - 1) / (pl)->nb;                  \
            int64_t per_ = nu_ ? (cnt_ + nu_ - 1) / nu_ : 0;                                      \
            for (int64_t n0 = (lo); n0 < (hi); n0 += per_) {                                      \
                int64_t nimg = (hi) - n0 < per_ ? (hi) - n0 : per_, a0 = 0, a1 = (q)->th;        \
                body;                                                                             \
            }                                                                                     \
        } else {                                                                                  \
            for (int64_t n0 = (lo); n0 < (hi); n0++)                                              \
                for (int64_t a0 = 0; a0 < (q)->th; a0 += (pl)->rows) {                            \
                    int64_t nimg = 1, a1 = a0 + (pl)->rows < (q)->th ? a0 + (pl)->rows : (q)->th; \
                    body;                                                                         \
                }                                                                                 \
        }                                                                                         \
    } while (0)

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Scratch of one thread's unit: transformed input (16, C, tiles), products
 * (16, K, tiles) and row buffers. */
static size_t unit_floats(const wg_plan *pl, const wg_geom *q) {
    return round16((size_t)(16 * (q->C + q->K) * pl->tiles)) +
           round16((size_t)(2 * (2 * pl->rows + 2) * (q->tw + 1) + 4 * q->tw));
}

/* ---- forward (also the input gradient) ------------------------------------------------ */

static void fwd_unit(float *out, const float *inp, const float *U, const float *bias, const wg_geom *q,
                     float *scr, int64_t n0, int64_t nimg, int64_t a0, int64_t a1) {
    const int64_t tu = (a1 - a0) * q->tw, T = nimg * tu, isz = q->C * q->H * q->W, osz = q->K * q->OH * q->OW;
    float *V = scr, *M = V + 16 * q->C * T, *buf = M + 16 * q->K * T;
    for (int64_t m = 0; m < nimg; m++) input_transform(V, T, m * tu, inp + (n0 + m) * isz, q, a0, a1, buf);
    for (int x = 0; x < 16; x++)
        mg_sgemm(false, false, q->K, T, q->C, 1.0f, U + x * q->K * q->C, q->C, V + x * q->C * T, T, 0.0f,
                 M + x * q->K * T, T);
    for (int64_t m = 0; m < nimg; m++) output_transform(out + (n0 + m) * osz, M, T, m * tu, bias, q, a0, a1);
}

/* out (N,K,OH,OW) = inp (N,C,H,W) (*) weights already transformed (16,K,C) + bias */
static int wg_forward(float *out, const float *inp, const float *U, const float *bias, const wg_geom *q) {
    wg_plan pl;
    wg_plan_make(&pl, q, 16 * (q->C + q->K));
    size_t per = unit_floats(&pl, q), got;
    float *scratch = mg_alloc(per * (size_t)pl.nt * sizeof(float), &got);
    if (!scratch) return mg_error("conv2d: out of memory for %zu bytes of scratch", per * (size_t)pl.nt * 4);
#pragma omp parallel num_threads(pl.nt) if (pl.nt > 1)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t lo = q->N * t / nt, hi = q->N * (t + 1) / nt;
        float *scr = scratch + per * (size_t)t;
        FOR_WG_UNITS(&pl, q, lo, hi, n0, nimg, a0, a1, fwd_unit(out, inp, U, bias, q, scr, n0, nimg, a0, a1));
    }
    mg_free(scratch, got);
    return MG_OK;
}

int mg_conv2d_winograd_fwd(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g) {
    wg_geom q = wg_make(g->N, g->C, g->H, g->W, g->K, g->OH, g->OW, g->ph, g->pw);
    size_t got;
    float *U = mg_alloc((size_t)(16 * g->K * g->C) * sizeof(float), &got);
    if (!U) return mg_error("conv2d: out of memory for the transformed weights");
    weight_transform(U, w, g->K, g->C, false);
    int rc = wg_forward(out, inp, U, b, &q);
    mg_free(U, got);
    return rc;
}

/* ---- backward ------------------------------------------------------------------- */

/* dU (16, K, C) += Gh @ V^T over one unit; db += sums of the output gradient. */
static void wgrad_unit(float *dU, double *db, const float *dout, const float *inp, const wg_geom *q, float *scr,
                       int64_t n0, int64_t nimg, int64_t a0, int64_t a1) {
    const int64_t tu = (a1 - a0) * q->tw, T = nimg * tu, isz = q->C * q->H * q->W, osz = q->K * q->OH * q->OW;
    float *V = scr, *Gh = V + 16 * q->C * T, *buf = Gh + 16 * q->K * T;
    if (dU) {
        for (int64_t m = 0; m < nimg; m++) {
            input_transform(V, T, m * tu, inp + (n0 + m) * isz, q, a0, a1, buf);
            grad_transform(Gh, T, m * tu, dout + (n0 + m) * osz, q, a0, a1);
        }
        for (int x = 0; x < 16; x++)
            mg_sgemm(false, true, q->K, q->C, T, 1.0f, Gh + x * q->K * T, T, V + x * q->C * T, T, 1.0f,
                     dU + x * q->K * q->C, q->C);
    }
    if (db) { /* output rows of this unit's tile rows */
        int64_t r0 = 2 * a0, r1 = 2 * a1 < q->OH ? 2 * a1 : q->OH;
        for (int64_t m = 0; m < nimg; m++)
            for (int64_t k = 0; k < q->K; k++) {
                const float *r = dout + (n0 + m) * osz + (k * q->OH + r0) * q->OW;
                float s = 0;
#pragma omp simd reduction(+ : s)
                for (int64_t p = 0; p < (r1 - r0) * q->OW; p++) s += r[p];
                db[k] += s;
            }
    }
}

int mg_conv2d_winograd_bwd(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                           const mg_conv_geom *g) {
    const int64_t K = g->K, C = g->C;
    if (dinp) { /* the full correlation of dout with the flipped weights */
        wg_geom d = wg_data_grad(g);
        size_t got;
        float *U = mg_alloc((size_t)(16 * K * C) * sizeof(float), &got);
        if (!U) return mg_error("conv2d backward: out of memory for the transformed weights");
        weight_transform(U, w, K, C, true);
        int rc = wg_forward(dinp, dout, U, NULL, &d);
        mg_free(U, got);
        if (rc != MG_OK) return rc;
    }
    if (!dw && !db) return MG_OK;
    wg_geom q = wg_make(g->N, C, g->H, g->W, K, g->OH, g->OW, g->ph, g->pw);
    wg_plan pl;
    wg_plan_make(&pl, &q, 16 * (C + K));
    size_t per = unit_floats(&pl, &q), acc = dw ? round16((size_t)(16 * K * C)) : 0, dbn = db ? round16((size_t)(2 * K)) : 0;
    size_t total = (per + acc + dbn) * (size_t)pl.nt, got;
    float *scratch = mg_alloc(total * sizeof(float), &got);
    if (!scratch) return mg_error("conv2d backward: out of memory for %zu bytes of scratch", total * 4);
    float *accs = scratch + per * (size_t)pl.nt, *dbs = accs + acc * (size_t)pl.nt;
    memset(accs, 0, (acc + dbn) * (size_t)pl.nt * sizeof(float));
#pragma omp parallel num_threads(pl.nt) if (pl.nt > 1)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t lo = q.N * t / nt, hi = q.N * (t + 1) / nt;
        float *scr = scratch + per * (size_t)t, *dU = dw ? accs + acc * (size_t)t : NULL;
        double *dbt = db ? (double *)(dbs + dbn * (size_t)t) : NULL;
        FOR_WG_UNITS(&pl, &q, lo, hi, n0, nimg, a0, a1, wgrad_unit(dU, dbt, dout, inp, &q, scr, n0, nimg, a0, a1));
    }
    /* threads summed in a fixed order: the same thread count gives the same sums */
    for (int t = 1; t < pl.nt; t++) {
        for (size_t i = 0; i < acc; i++) accs[i] += accs[acc * (size_t)t + i];
        if (db)
            for (int64_t k = 0; k < K; k++) ((double *)dbs)[k] += ((double *)(dbs + dbn * (size_t)t))[k];
    }
    if (dw) weight_grad_transform(dw, accs, K, C);
    if (db)
        for (int64_t k = 0; k < K; k++) db[k] = (float)((double *)dbs)[k];
    mg_free(scratch, got);
    return MG_OK;
}

#else /* no AVX-512: never chosen */

bool mg_winograd_fits(const mg_conv_geom *g) { return false; }
double mg_winograd_cost(int64_t N, int64_t OH, int64_t OW) { return INFINITY; }
int mg_conv2d_winograd_fwd(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g) {
    return mg_error("conv2d: Winograd kernels need AVX-512");
}
int mg_conv2d_winograd_bwd(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                           const mg_conv_geom *g) {
    return mg_error("conv2d: Winograd kernels need AVX-512");
}
#endif
