/*
 * 3x3 convolutions with stride 1 and dilation 1 by Winograd's F(4x4, 3x3),
 * for batches of small images: each 4x4 block of outputs ("tile") comes
 * from a 6x6 input patch with 36 multiplications per channel pair instead
 * of 144 (F(2x2, 3x3) in nn_winograd.c needs 64 for the same outputs).
 *
 * The lanes of a vector hold 16 images at the same tile. Small images have
 * few tiles (an 11x11 output has 9, a 3x3 output one), so lanes running
 * over the tiles of one image would stay mostly idle; across images every
 * lane works, padding is the same in all lanes, and the transforms are
 * plain vector arithmetic. Each channel of 16 images is turned into that
 * layout ("image-minor", [row][column][16]) by 16x16 transposes into a
 * small zero-bordered buffer, and outputs go back the same way.
 *
 * With U = G w G^T (weights), V = B^T d B (input patches), Y = A^T M A
 * (outputs), Gh = A g A^T (output-gradient tiles), dw = G^T dU G, a unit of
 * T tile-lanes does, for each of the 36 transformed positions xi:
 *
 *   forward        M_xi (K, T) = U_xi (K, C) @ V_xi (C, T)
 *   weight grad    dU_xi (K, C) += Gh_xi (K, T) @ V_xi^T
 *   input grad     the forward pass of the full correlation of the output
 *                  gradient with the flipped, transposed weights
 *
 * A unit is a few whole groups of 16 images, or a band of tile rows of one
 * group, sized so that its transformed data stays in cache; the groups are
 * shared out between threads, each with its own scratch.
 */
#include "nn_conv.h"

#include <omp.h>

#if defined(__AVX512F__)
#include <immintrin.h>

#define LANES 16
#define NPOS 36 /* transformed positions of a 6x6 patch */

static inline __mmask16 tail_mask(int64_t n) { return (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1); }

/* A 3x3 stride-1 convolution (N,C,H,W) -> (N,K,OH,OW) and its tiles. */
typedef struct {
    int64_t N, C, H, W, K, OH, OW, ph, pw;
    int64_t th, tw; /* tile rows and columns per image */
} w4_geom;

static w4_geom w4_make(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t OH, int64_t OW, int64_t ph,
                       int64_t pw) {
    w4_geom q = {N, C, H, W, K, OH, OW, ph, pw, (OH + 3) / 4, (OW + 3) / 4};
    return q;
}

/* The full correlation that gives the input gradient: output gradient
 * (N,K,OH,OW) -> (N,C,H,W), padding 2 - p. */
static w4_geom w4_data_grad(const mg_conv_geom *g) {
    return w4_make(g->N, g->K, g->OH, g->OW, g->C, g->H, g->W, 2 - g->ph, 2 - g->pw);
}

bool mg_winograd4_fits(const mg_conv_geom *g) {
    return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 && g->ph <= 2 &&
           g->pw <= 2 && g->OH == g->H + 2 * g->ph - 2 && g->OW == g->W + 2 * g->pw - 2;
}

double mg_winograd4_cost(int64_t N, int64_t OH, int64_t OW) {
    int64_t groups = (N + LANES - 1) / LANES;
    return (double)NPOS * (double)(((OH + 3) / 4) * ((OW + 3) / 4)) * (double)(groups * LANES);
}

/* ---- 16x16 transposes ------------------------------------------------------------ */

/* r[i] (row i) -> r[j] (column j), in registers */
static inline __attribute__((always_inline)) void transpose16(__m512 *r) {
    __m512 t[16], u[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(u[i], u[4 + i], 0x88);
        t[4 + i] = _mm512_shuffle_f32x4(u[i], u[4 + i], 0xdd);
        t[8 + i] = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0x88);
        t[12 + i] = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0xdd);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
        r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
        r[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0x88);
        r[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0xdd);
    }
}

/* nl rows of n floats (row l at src + l * stride) -> lanes: lane l of
 * vector j is row l's element j; lanes from nl on are 0. Vector j goes to
 * dst + (j / w) * ld + (j % w) * 16: rows of w elements, ld floats apart
 * (a band of image rows is contiguous in its plane, so one call moves it). */
static void rows_to_lanes(float *dst, int64_t w, int64_t ld, const float *src, int64_t stride, int64_t nl,
                          int64_t n) {
    int64_t row = 0, col = 0;
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
        int64_t cnt = n - j0 < 16 ? n - j0 : 16;
        __mmask16 m = tail_mask(cnt);
        __m512 r[16];
#pragma GCC unroll 16
        for (int l = 0; l < 16; l++) r[l] = _mm512_maskz_loadu_ps(l < nl ? m : 0, src + (l < nl ? l : 0) * stride + j0);
        transpose16(r);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            if (j < cnt) {
                _mm512_storeu_ps(dst + row * ld + col * LANES, r[j]);
                if (++col == w) col = 0, row++;
            }
    }
}

/* The inverse: vector j at src + (j / w) * ld + (j % w) * 16 -> element j
 * of the rows dst + l * stride, l < nl. */
static void lanes_to_rows(float *dst, int64_t stride, int64_t nl, const float *src, int64_t w, int64_t ld,
                          int64_t n) {
    int64_t row = 0, col = 0;
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
        int64_t cnt = n - j0 < 16 ? n - j0 : 16;
        __mmask16 m = tail_mask(cnt);
        __m512 r[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            r[j] = _mm512_maskz_loadu_ps(j < cnt ? 0xffff : 0, src + row * ld + col * LANES);
            if (j < cnt && ++col == w) col = 0, row++;
        }
        transpose16(r);
#pragma GCC unroll 16
        for (int l = 0; l < 16; l++)
            if (l < nl) _mm512_mask_storeu_ps(dst + l * stride + j0, m, r[l]);
    }
}

/* lanes_to_rows for codes: float lanes (small whole numbers) stored as bytes. */
static void lanes_to_rows_u8(uint8_t *dst, int64_t stride, int64_t nl, const float *src, int64_t w, int64_t ld,
                             int64_t n) {
    int64_t row = 0, col = 0;
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
        int64_t cnt = n - j0 < 16 ? n - j0 : 16;
        __mmask16 m = tail_mask(cnt);
        __m512 r[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            r[j] = _mm512_maskz_loadu_ps(j < cnt ? 0xffff : 0, src + row * ld + col * LANES);
            if (j < cnt && ++col == w) col = 0, row++;
        }
        transpose16(r);
        for (int l = 0; l < nl; l++) {
            __m128i bytes = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(r[l]));
#if defined(__AVX512BW__) && defined(__AVX512VL__)
            _mm_mask_storeu_epi8(dst + l * stride + j0, m, bytes);
#else
            uint8_t tmp[16];
            _mm_storeu_si128((__m128i *)tmp, bytes);
            memcpy(dst + l * stride + j0, tmp, (size_t)cnt);
#endif
        }
    }
}

/* Floats from one transformed position's plane to the next: 16 more than
 * the data, so that the 36 planes a tile touches do not all fall into the
 * same cache set (chans * T * 4 bytes is often a multiple of 4096). */
static int64_t plane_of(int64_t chans, int64_t T) { return chans * T + 16; }

/* ---- transforms -------------------------------------------------------------------- */

/* G x for three vectors x[0..2] -> six (G of F(4x4, 3x3), 6x3) */
static inline void g3(__m512 *t, const __m512 *x) {
    const __m512 q = _mm512_set1_ps(0.25f), s6 = _mm512_set1_ps(1.0f / 6), s12 = _mm512_set1_ps(1.0f / 12);
    const __m512 s24 = _mm512_set1_ps(1.0f / 24);
    __m512 e = _mm512_add_ps(x[0], x[2]);
    t[0] = _mm512_mul_ps(q, x[0]);
    t[1] = _mm512_mul_ps(_mm512_set1_ps(-1.0f / 6), _mm512_add_ps(e, x[1]));
    t[2] = _mm512_mul_ps(_mm512_set1_ps(-1.0f / 6), _mm512_sub_ps(e, x[1]));
    __m512 a = _mm512_fmadd_ps(s24, x[0], _mm512_mul_ps(s6, x[2])), b = _mm512_mul_ps(s12, x[1]);
    t[3] = _mm512_add_ps(a, b);
    t[4] = _mm512_sub_ps(a, b);
    t[5] = x[2];
}

/* G^T u for six vectors u[0..5] -> three */
static inline void gt6(__m512 *o, const __m512 *u) {
    const __m512 q = _mm512_set1_ps(0.25f), s6 = _mm512_set1_ps(1.0f / 6), s12 = _mm512_set1_ps(1.0f / 12);
    const __m512 s24 = _mm512_set1_ps(1.0f / 24);
    __m512 s12u = _mm512_add_ps(u[1], u[2]), d21 = _mm512_sub_ps(u[2], u[1]);
    __m512 s34 = _mm512_add_ps(u[3], u[4]), d34 = _mm512_sub_ps(u[3], u[4]);
    o[0] = _mm512_fmadd_ps(s24, s34, _mm512_fnmadd_ps(s6, s12u, _mm512_mul_ps(q, u[0])));
    o[1] = _mm512_fmadd_ps(s12, d34, _mm512_mul_ps(s6, d21));
    o[2] = _mm512_add_ps(_mm512_fmadd_ps(s6, _mm512_sub_ps(s34, s12u), _mm512_setzero_ps()), u[5]);
}

/* U (36, K, C) = G w G^T for w (K, C, 3, 3); flip: use w'(c, k) = w(k, c)
 * rotated by 180 degrees instead, giving U (36, C, K). Sixteen filters at
 * a time, gathered from their nine taps. */
static void weight_transform(float *U, const float *w, int64_t K, int64_t C, bool flip) {
    const int64_t rows = flip ? C : K, cols = flip ? K : C, plane = plane_of(K, C);
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32((int)(flip ? C * 9 : 9)));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c0 = 0; c0 < cols; c0 += 16) {
            __mmask16 m = tail_mask(cols - c0);
            const float *base = w + (flip ? c0 * C + r : r * C + c0) * 9;
            __m512 gg[3][3], t[6][3];
            for (int tap = 0; tap < 9; tap++)
                gg[tap / 3][tap % 3] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, base + (flip ? 8 - tap : tap), 4);
            for (int j = 0; j < 3; j++) { /* G along the columns */
                __m512 x[3] = {gg[0][j], gg[1][j], gg[2][j]}, y[6];
                g3(y, x);
                for (int i = 0; i < 6; i++) t[i][j] = y[i];
            }
            for (int i = 0; i < 6; i++) { /* and along the rows */
                __m512 y[6];
                g3(y, t[i]);
                for (int s2 = 0; s2 < 6; s2++) _mm512_mask_storeu_ps(U + (i * 6 + s2) * plane + r * cols + c0, m, y[s2]);
            }
        }
}

/* dw (K, C, 3, 3) = G^T dU G for dU (36, K, C) (planes plane_of(K, C) apart), sixteen filters at a time. */
static void weight_grad_transform(float *dw, const float *dU, int64_t K, int64_t C) {
    const int64_t plane = plane_of(K, C);
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(9));
    for (int64_t k = 0; k < K; k++)
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
            __mmask16 m = tail_mask(C - c0);
            __m512 t[3][6];
            for (int s2 = 0; s2 < 6; s2++) { /* G^T along the columns */
                __m512 u[6], o[3];
                for (int r = 0; r < 6; r++) u[r] = _mm512_maskz_loadu_ps(m, dU + (r * 6 + s2) * plane + k * C + c0);
                gt6(o, u);
                for (int i = 0; i < 3; i++) t[i][s2] = o[i];
            }
            float *base = dw + (k * C + c0) * 9;
            for (int i = 0; i < 3; i++) { /* and along the rows */
                __m512 o[3];
                gt6(o, t[i]);
                for (int j = 0; j < 3; j++) _mm512_mask_i32scatter_ps(base + i * 3 + j, m, idx, o[j], 4);
            }
        }
}

/* B^T d for six vectors d[0..5] (a column or a row of a patch) */
static inline void bt6(__m512 *v, const __m512 *d) {
    const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f);
    __m512 s12 = _mm512_add_ps(d[1], d[2]), d12 = _mm512_sub_ps(d[1], d[2]);
    __m512 s34 = _mm512_add_ps(d[3], d[4]), d43 = _mm512_sub_ps(d[4], d[3]);
    __m512 d31 = _mm512_sub_ps(d[3], d[1]), d42 = _mm512_sub_ps(d[4], d[2]);
    v[0] = _mm512_fnmadd_ps(five, d[2], _mm512_fmadd_ps(four, d[0], d[4]));
    v[1] = _mm512_fnmadd_ps(four, s12, s34);
    v[2] = _mm512_fmadd_ps(four, d12, d43);
    v[3] = _mm512_fmadd_ps(two, d31, d42);
    v[4] = _mm512_fnmadd_ps(two, d31, d42);
    v[5] = _mm512_fnmadd_ps(five, d[3], _mm512_fmadd_ps(four, d[1], d[5]));
}

/* A^T m for six vectors m[0..5] -> four */
static inline void at6(__m512 *y, const __m512 *m) {
    const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f), eight = _mm512_set1_ps(8.0f);
    __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
    __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
    y[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
    y[1] = _mm512_fmadd_ps(two, d34, d12);
    y[2] = _mm512_fmadd_ps(four, s34, s12);
    y[3] = _mm512_add_ps(_mm512_fmadd_ps(eight, d34, d12), m[5]);
}

/* A g for four vectors g[0..3] -> six */
static inline void a4(__m512 *h, const __m512 *g) {
    const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f);
    __m512 s02 = _mm512_add_ps(g[0], g[2]), s13 = _mm512_add_ps(g[1], g[3]);
    __m512 e = _mm512_fmadd_ps(four, g[2], g[0]), o = _mm512_fmadd_ps(four, g[3], g[1]);
    h[0] = g[0];
    h[1] = _mm512_add_ps(s02, s13);
    h[2] = _mm512_sub_ps(s02, s13);
    h[3] = _mm512_fmadd_ps(two, o, e);
    h[4] = _mm512_fnmadd_ps(two, o, e);
    h[5] = g[3];
}

/* V[xi * plane + tt * 16] = B^T d B for the patch at X (rows ldx floats
 * apart, 16 lanes per element) */
static inline void input_tile(float *V, int64_t plane, const float *X, int64_t ldx) {
    __m512 t[6][6];
    for (int r = 0; r < 6; r++) {
        __m512 d[6];
        for (int j = 0; j < 6; j++) d[j] = _mm512_loadu_ps(X + r * ldx + j * LANES);
        bt6(t[r], d);
    }
    for (int s = 0; s < 6; s++) {
        __m512 col[6], v[6];
        for (int r = 0; r < 6; r++) col[r] = t[r][s];
        bt6(v, col);
        for (int r = 0; r < 6; r++) _mm512_storeu_ps(V + (r * 6 + s) * plane, v[r]);
    }
}

/* y = A^T M A + bias for the tile at M, in registers */
static inline __attribute__((always_inline)) void tile_outputs(__m512 y[4][4], const float *M, int64_t plane,
                                                               __m512 bias) {
    __m512 p[4][6];
    for (int s = 0; s < 6; s++) {
        __m512 col[6], t[4];
        for (int r = 0; r < 6; r++) col[r] = _mm512_loadu_ps(M + (r * 6 + s) * plane);
        at6(t, col);
        for (int r = 0; r < 4; r++) p[r][s] = t[r];
    }
    for (int r = 0; r < 4; r++) {
        __m512 t[4];
        at6(t, p[r]);
        for (int s = 0; s < 4; s++) y[r][s] = _mm512_add_ps(t[s], bias);
    }
}

/* Y (4x4 at Yp, rows ldy apart) = A^T M A + bias for the tile at M */
static inline void output_tile(float *Yp, int64_t ldy, const float *M, int64_t plane, __m512 bias) {
    __m512 y[4][4];
    tile_outputs(y, M, plane, bias);
    for (int r = 0; r < 4; r++)
        for (int s = 0; s < 4; s++) _mm512_storeu_ps(Yp + r * ldy + s * LANES, y[r][s]);
}

/* The same through the epilogue: ReLU (pool 1: 4x4 outputs and codes 1 or
 * 0 at Yp, Cp) or ReLU and 2x2 max pooling (pool 2: 2x2 outputs and codes
 * 0..3, or 4 where the maximum is 0), codes as floats; rows ldy apart. */
static inline void output_tile_epilogue(float *Yp, float *Cp, int64_t ldy, const float *M, int64_t plane,
                                        __m512 bias, int pool) {
    const __m512 zero = _mm512_setzero_ps();
    __m512 y[4][4];
    tile_outputs(y, M, plane, bias);
    for (int r = 0; r < 4; r++)
        for (int s = 0; s < 4; s++) y[r][s] = _mm512_max_ps(y[r][s], zero); /* NaN becomes 0 */
    if (pool == 1) {
        for (int r = 0; r < 4; r++)
            for (int s = 0; s < 4; s++) {
                _mm512_storeu_ps(Yp + r * ldy + s * LANES, y[r][s]);
                __mmask16 pos = _mm512_cmp_ps_mask(y[r][s], zero, _CMP_GT_OQ);
                _mm512_storeu_ps(Cp + r * ldy + s * LANES, _mm512_maskz_mov_ps(pos, _mm512_set1_ps(1.0f)));
            }
        return;
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            __m512 a = y[2 * i][2 * j], b = y[2 * i][2 * j + 1], c = y[2 * i + 1][2 * j], d = y[2 * i + 1][2 * j + 1];
            __m512 mx = _mm512_max_ps(_mm512_max_ps(a, b), _mm512_max_ps(c, d));
            __m512 cv = _mm512_set1_ps(3.0f); /* the first element equal to the maximum: later ones first */
            cv = _mm512_mask_mov_ps(cv, _mm512_cmp_ps_mask(c, mx, _CMP_EQ_OQ), _mm512_set1_ps(2.0f));
            cv = _mm512_mask_mov_ps(cv, _mm512_cmp_ps_mask(b, mx, _CMP_EQ_OQ), _mm512_set1_ps(1.0f));
            cv = _mm512_mask_mov_ps(cv, _mm512_cmp_ps_mask(a, mx, _CMP_EQ_OQ), zero);
            cv = _mm512_mask_mov_ps(cv, _mm512_cmp_ps_mask(mx, zero, _CMP_EQ_OQ), _mm512_set1_ps(4.0f));
            _mm512_storeu_ps(Yp + i * ldy + j * LANES, mx);
            _mm512_storeu_ps(Cp + i * ldy + j * LANES, cv);
        }
}

/* Gh[xi * plane] = A g A^T for the 4x4 gradient tile at Gp (rows ldg apart) */
static inline void grad_tile(float *Gh, int64_t plane, const float *Gp, int64_t ldg) {
    __m512 h[6][4];
    for (int s = 0; s < 4; s++) {
        __m512 col[4], v[6];
        for (int r = 0; r < 4; r++) col[r] = _mm512_loadu_ps(Gp + r * ldg + s * LANES);
        a4(v, col);
        for (int r = 0; r < 6; r++) h[r][s] = v[r];
    }
    for (int r = 0; r < 6; r++) {
        __m512 v[6];
        a4(v, h[r]);
        for (int s = 0; s < 6; s++) _mm512_storeu_ps(Gh + (r * 6 + s) * plane, v[s]);
    }
}

/* ---- units -------------------------------------------------------------------------- */

/* A unit: images [n0, n1) in groups of 16 starting at n0 (ng groups), tile
 * rows [a0, a1) of each. Tile-lane index of (group gi, tile row a, column
 * b): ((gi * (a1 - a0) + a - a0) * tw + b), times 16 lanes. */
typedef struct {
    int64_t n0, n1, a0, a1, ng, T; /* T: tile-lanes x 16 = columns of the products */
} w4_unit;

/* A unit's transformed input V (36, C, T) should stay in cache while the
 * products run over it, and so should each chunk of the products' other
 * side, M or Gh (36, kb, T), taken a few output channels at a time. The
 * weight gradient's products sum over the T columns, which they should
 * have many of: it takes larger units, in the outer cache. */
#define V_BUDGET (96 * 1024)
#define M_BUDGET (48 * 1024)
#define V_BUDGET_WGRAD (256 * 1024)
#define M_BUDGET_WGRAD (128 * 1024)

typedef struct {
    int64_t groups; /* per unit when whole images (rows == th) */
    int64_t rows;   /* tile rows per unit */
    int64_t cols;   /* most product columns of a unit */
    int64_t kb;     /* output channels per chunk */
    int nt;         /* threads that share the groups */
} w4_plan;

static void w4_plan_make(w4_plan *pl, const w4_geom *q, bool wgrad) {
    const int64_t P = q->th * q->tw, G = (q->N + LANES - 1) / LANES;
    int64_t want = (wgrad ? V_BUDGET_WGRAD : V_BUDGET) / (NPOS * q->C * LANES); /* tiles (of 16 lanes) */
    if (want < 2) want = 2;
    if (P <= want) {
        pl->rows = q->th;
        pl->groups = want / P < G ? want / P : G;
    } else {
        pl->groups = 1;
        pl->rows = want / q->tw < 1 ? 1 : want / q->tw;
    }
    pl->cols = pl->groups * pl->rows * q->tw * LANES;
    int64_t kmax = (wgrad ? M_BUDGET_WGRAD : M_BUDGET) / (NPOS * pl->cols), chunks;
    kmax = kmax < 8 ? 8 : kmax;
    chunks = (q->K + kmax - 1) / kmax;
    pl->kb = ((q->K + chunks - 1) / chunks + 7) & ~(int64_t)7; /* even chunks, multiples of 8 */
    if (pl->kb > q->K) pl->kb = q->K;
    int threads = mg_threads();
    pl->nt = threads > 1 && G >= threads ? threads : 1;
}

/* Units of the groups [g0, g1): calls body with u set. */
#define FOR_W4_UNITS(pl, q, g0, g1, u, body)                                                         \
    do {                                                                                             \
        for (int64_t gg_ = (g0); gg_ < (g1); gg_ += (pl)->groups) {                                  \
            int64_t ge_ = gg_ + (pl)->groups < (g1) ? gg_ + (pl)->groups : (g1);                     \
            for (int64_t a_ = 0; a_ < (q)->th; a_ += (pl)->rows) {                                   \
                w4_unit u = {gg_ * LANES, ge_ * LANES < (q)->N ? ge_ * LANES : (q)->N, a_,            \
                             a_ + (pl)->rows < (q)->th ? a_ + (pl)->rows : (q)->th, ge_ - gg_, 0};   \
                u.T = u.ng * (u.a1 - u.a0) * (q)->tw * LANES;                                        \
                body;                                                                                \
            }                                                                                        \
        }                                                                                            \
    } while (0)

/* Zero-bordered patch buffer of a band: rows 4*rows + 2, columns 4*tw + 2. */
static int64_t xbuf_floats(const w4_plan *pl, const w4_geom *q) { return (4 * pl->rows + 2) * (4 * q->tw + 2) * LANES; }
/* Output (or output-gradient) tiles of a band, 4*rows x 4*tw, twice (the
 * epilogue's codes go in the second). */
static int64_t ybuf_floats(const w4_plan *pl, const w4_geom *q) { return 2 * 4 * pl->rows * 4 * q->tw * LANES; }
/* Rows of 16 images an expanded gradient is written to before its
 * transpose: a band's input rows, or its output rows. */
static int64_t sbuf_floats(const w4_plan *pl, const w4_geom *q) {
    return LANES * (4 * pl->rows + 2) * (q->W > q->OW ? q->W : q->OW);
}
/* Scratch of one thread: V, a chunk of M or Gh, the three buffers. */
static size_t unit_floats(const w4_plan *pl, const w4_geom *q) {
    size_t n = (size_t)(NPOS * (plane_of(q->C, pl->cols) + plane_of(pl->kb, pl->cols)) + xbuf_floats(pl, q) +
                        ybuf_floats(pl, q) + sbuf_floats(pl, q));
    return ((n + 15) & ~(size_t)15) + 16;
}

/* The 16 rows of a group's channel plane (stride apart) that the next
 * transposes read: asked for early, they arrive while this one works. */
static inline void prefetch_rows(const float *p, int64_t stride, int64_t nl, int64_t n) {
    for (int64_t l = 0; l < nl; l++)
        for (int64_t j = 0; j < n; j += 16) _mm_prefetch((const char *)(p + l * stride + j), _MM_HINT_T0);
}

/* V (36, C, T) = B^T d B for the unit's tiles of x (N, C, H, W), or of the
 * gradient src expands (src set: the input gradient's pass, whose input is
 * an output gradient); X is the patch buffer, zeroed here, S the rows of an
 * expanded gradient. */
static void input_transform(float *V, const float *x, const mg_conv_dout *src, const w4_geom *q, const w4_unit *u,
                            float *X, float *S) {
    const int64_t Wp = 4 * q->tw + 2, ldx = Wp * LANES, rows = 4 * (u->a1 - u->a0) + 2, plane = plane_of(q->C, u->T);
    const int64_t r0 = 4 * u->a0 - q->ph; /* input row of buffer row 0 */
    const int64_t rlo = r0 < 0 ? -r0 : 0, rhi = r0 + rows > q->H ? q->H - r0 : rows;
    const int64_t isz = q->C * q->H * q->W, P = (u->a1 - u->a0) * q->tw, HW = q->H * q->W, cnt = (rhi - rlo) * q->W;
    memset(X, 0, (size_t)(rows * ldx) * sizeof(float));
    for (int64_t gi = 0; gi < u->ng; gi++) {
        int64_t n = u->n0 + gi * LANES, nl = u->n1 - n < LANES ? u->n1 - n : LANES;
        const float *xg = src ? NULL : x + n * isz + (r0 + rlo) * q->W;
        for (int64_t c = 0; c < q->C; c++) {
            if (src) {
                for (int64_t l = 0; l < nl; l++)
                    mg_conv_dout_rows(S + l * cnt, src, q->C, q->H, q->W, n + l, c, r0 + rlo, r0 + rhi);
                rows_to_lanes(X + rlo * ldx + q->pw * LANES, q->W, ldx, S, cnt, nl, cnt);
            } else {
                if (c + 1 < q->C) prefetch_rows(xg + (c + 1) * HW, isz, nl, cnt);
                rows_to_lanes(X + rlo * ldx + q->pw * LANES, q->W, ldx, xg + c * HW, isz, nl, cnt);
            }
            float *v = V + c * u->T + gi * P * LANES;
            for (int64_t a = 0; a < u->a1 - u->a0; a++)
                for (int64_t b = 0; b < q->tw; b++)
                    input_tile(v + (a * q->tw + b) * LANES, plane, X + 4 * a * ldx + 4 * b * LANES, ldx);
        }
    }
}

/* out (N, K, OH, OW) rows of the unit for channels [k0, k0 + kb) = A^T M A
 * + bias, M (36, kb, T); with an epilogue, out (N, K, OH/pool, OW/pool)
 * and codes through it. Y holds two tile buffers (outputs, codes). */
static void output_transform(float *out, const float *M, const float *bias, const w4_geom *q, const w4_unit *u,
                             int64_t k0, int64_t kb, float *Y, const mg_conv_epilogue *e) {
    const int64_t pool = e ? e->pool : 1, t = 4 / pool; /* outputs per tile side after the epilogue */
    const int64_t ldy = t * q->tw * LANES, plane = plane_of(kb, u->T), P = (u->a1 - u->a0) * q->tw;
    const int64_t PH = q->OH / pool, PW = q->OW / pool, osz = q->K * PH * PW;
    const int64_t row0 = t * u->a0, row1 = t * u->a1 < PH ? t * u->a1 : PH;
    float *C = Y + 4 * (u->a1 - u->a0) * 4 * q->tw * LANES; /* the codes' buffer */
    for (int64_t gi = 0; gi < u->ng; gi++) {
        int64_t n = u->n0 + gi * LANES, nl = u->n1 - n < LANES ? u->n1 - n : LANES;
        for (int64_t k = 0; k < kb; k++) {
            __m512 bk = _mm512_set1_ps(bias ? bias[k0 + k] : 0.0f);
            const float *m = M + k * u->T + gi * P * LANES;
            for (int64_t a = 0; a < u->a1 - u->a0; a++)
                for (int64_t b = 0; b < q->tw; b++) {
                    float *yp = Y + t * a * ldy + t * b * LANES;
                    if (e) output_tile_epilogue(yp, C + t * a * ldy + t * b * LANES, ldy, m + (a * q->tw + b) * LANES,
                                                plane, bk, (int)pool);
                    else output_tile(yp, ldy, m + (a * q->tw + b) * LANES, plane, bk);
                }
            if (row1 <= row0) continue;
            int64_t at = n * osz + (k0 + k) * PH * PW + row0 * PW;
            lanes_to_rows(out + at, osz, nl, Y, PW, ldy, (row1 - row0) * PW);
            if (e && e->code) lanes_to_rows_u8(e->code + at, osz, nl, C, PW, ldy, (row1 - row0) * PW);
        }
    }
}

/* Gh (36, kb, T) = A g A^T for the unit's output-gradient tiles of d
 * (N, K, OH, OW), channels [k0, k0 + kb); db[k] += their sums when db is
 * given. G is the tile buffer, zeroed here, S the rows of an expanded
 * gradient. */
static void grad_transform(float *Gh, double *db, const mg_conv_dout *d, const w4_geom *q, const w4_unit *u,
                           int64_t k0, int64_t kb, float *G, float *S) {
    const int64_t ldg = 4 * q->tw * LANES, plane = plane_of(kb, u->T), P = (u->a1 - u->a0) * q->tw;
    const int64_t orow0 = 4 * u->a0, orow1 = 4 * u->a1 < q->OH ? 4 * u->a1 : q->OH, osz = q->K * q->OH * q->OW;
    const int64_t cnt = (orow1 - orow0) * q->OW;
    memset(G, 0, (size_t)(4 * (u->a1 - u->a0) * ldg) * sizeof(float));
    for (int64_t gi = 0; gi < u->ng; gi++) {
        int64_t n = u->n0 + gi * LANES, nl = u->n1 - n < LANES ? u->n1 - n : LANES;
        const float *gg = d->g ? NULL : d->dout + n * osz + orow0 * q->OW;
        for (int64_t k = 0; k < kb; k++) {
            if (d->g) {
                for (int64_t l = 0; l < nl; l++)
                    mg_conv_dout_rows(S + l * cnt, d, q->K, q->OH, q->OW, n + l, k0 + k, orow0, orow1);
                rows_to_lanes(G, q->OW, ldg, S, cnt, nl, cnt);
            } else {
                const float *gk = gg + (k0 + k) * q->OH * q->OW;
                if (k + 1 < kb) prefetch_rows(gk + q->OH * q->OW, osz, nl, cnt);
                rows_to_lanes(G, q->OW, ldg, gk, osz, nl, cnt);
            }
            if (db) {
                __m512 sum = _mm512_setzero_ps();
                for (int64_t r = 0; r < orow1 - orow0; r++)
                    for (int64_t j = 0; j < q->OW; j++) sum = _mm512_add_ps(sum, _mm512_loadu_ps(G + r * ldg + j * LANES));
                db[k0 + k] += _mm512_reduce_add_ps(sum);
            }
            float *h = Gh + k * u->T + gi * P * LANES;
            for (int64_t a = 0; a < u->a1 - u->a0; a++)
                for (int64_t b = 0; b < q->tw; b++)
                    grad_tile(h + (a * q->tw + b) * LANES, plane, G + 4 * a * ldg + 4 * b * LANES, ldg);
        }
    }
}

/* ---- forward (also the input gradient) ------------------------------------------------ */

/* out (N,K,OH,OW) = inp (N,C,H,W) (*) weights already transformed (36,K,C)
 * (planes plane_of(K, C) apart) + bias */
static int w4_forward(float *out, const float *inp, const mg_conv_dout *src, const float *U, const float *bias,
                      const w4_geom *q, const char *op, const mg_conv_epilogue *e) {
    w4_plan pl;
    w4_plan_make(&pl, q, false);
    size_t per = unit_floats(&pl, q), got;
    float *scratch = mg_alloc(per * (size_t)pl.nt * sizeof(float), &got);
    if (!scratch) return mg_error("%s: out of memory for %zu bytes of scratch", op, per * (size_t)pl.nt * 4);
    const int64_t G = (q->N + LANES - 1) / LANES, pu = plane_of(q->K, q->C);
#pragma omp parallel num_threads(pl.nt) if (pl.nt > 1)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        float *V = scratch + per * (size_t)t, *M = V + NPOS * plane_of(q->C, pl.cols);
        float *X = M + NPOS * plane_of(pl.kb, pl.cols), *Y = X + xbuf_floats(&pl, q), *S = Y + ybuf_floats(&pl, q);
        FOR_W4_UNITS(&pl, q, G * t / nt, G * (t + 1) / nt, u, {
            input_transform(V, inp, src, q, &u, X, S);
            for (int64_t k0 = 0; k0 < q->K; k0 += pl.kb) {
                int64_t kb = q->K - k0 < pl.kb ? q->K - k0 : pl.kb;
                for (int x = 0; x < NPOS; x++)
                    mg_sgemm(false, false, kb, u.T, q->C, 1.0f, U + x * pu + k0 * q->C, q->C,
                             V + x * plane_of(q->C, u.T), u.T, 0.0f, M + x * plane_of(kb, u.T), u.T);
                output_transform(out, M, bias, q, &u, k0, kb, Y, e);
            }
        });
    }
    mg_free(scratch, got);
    return MG_OK;
}

int mg_conv2d_winograd4_fwd(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g) {
    return mg_conv2d_winograd4_fwd_fused(out, inp, w, b, g, NULL);
}

int mg_conv2d_winograd4_fwd_fused(float *out, const float *inp, const float *w, const float *b,
                                  const mg_conv_geom *g, const mg_conv_epilogue *e) {
    w4_geom q = w4_make(g->N, g->C, g->H, g->W, g->K, g->OH, g->OW, g->ph, g->pw);
    size_t got;
    float *U = mg_alloc((size_t)(NPOS * plane_of(g->K, g->C)) * sizeof(float), &got);
    if (!U) return mg_error("conv2d: out of memory for the transformed weights");
    weight_transform(U, w, g->K, g->C, false);
    int rc = w4_forward(out, inp, NULL, U, b, &q, "conv2d", e);
    mg_free(U, got);
    return rc;
}

/* ---- backward ------------------------------------------------------------------------ */

int mg_conv2d_winograd4_bwd(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                            const mg_conv_geom *g) {
    mg_conv_dout d = {dout, NULL, NULL, 1};
    return mg_conv2d_winograd4_bwd_src(dinp, dw, db, &d, inp, w, g);
}

int mg_conv2d_winograd4_bwd_src(float *dinp, float *dw, float *db, const mg_conv_dout *src, const float *inp,
                                const float *w, const mg_conv_geom *g) {
    const int64_t K = g->K, C = g->C;
    if (dinp) { /* the full correlation of dout with the flipped weights */
        w4_geom d = w4_data_grad(g);
        size_t got;
        float *U = mg_alloc((size_t)(NPOS * plane_of(K, C)) * sizeof(float), &got);
        if (!U) return mg_error("conv2d backward: out of memory for the transformed weights");
        weight_transform(U, w, K, C, true);
        int rc = w4_forward(dinp, src->g ? NULL : src->dout, src->g ? src : NULL, U, NULL, &d, "conv2d backward", NULL);
        mg_free(U, got);
        if (rc != MG_OK) return rc;
    }
    if (!dw) {
        if (db) mg_conv_dout_bias_grad(db, src, g->N, K, g->OH, g->OW);
        return MG_OK;
    }
    w4_geom q = w4_make(g->N, C, g->H, g->W, K, g->OH, g->OW, g->ph, g->pw);
    w4_plan pl;
    w4_plan_make(&pl, &q, true);
    size_t per = unit_floats(&pl, &q), acc = (size_t)((NPOS * plane_of(K, C) + 15) & ~(int64_t)15);
    size_t dbn = (size_t)((2 * K + 15) & ~(int64_t)15), total = (per + acc + dbn) * (size_t)pl.nt, got;
    float *scratch = mg_alloc(total * sizeof(float), &got);
    if (!scratch) return mg_error("conv2d backward: out of memory for %zu bytes of scratch", total * 4);
    float *accs = scratch + per * (size_t)pl.nt, *dbs = accs + acc * (size_t)pl.nt;
    memset(accs, 0, (acc + dbn) * (size_t)pl.nt * sizeof(float));
    const int64_t G = (q.N + LANES - 1) / LANES, pu = plane_of(K, C);
#pragma omp parallel num_threads(pl.nt) if (pl.nt > 1)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        float *V = scratch + per * (size_t)t, *Gh = V + NPOS * plane_of(C, pl.cols);
        float *X = Gh + NPOS * plane_of(pl.kb, pl.cols), *Gb = X + xbuf_floats(&pl, &q), *S = Gb + ybuf_floats(&pl, &q);
        float *dU = accs + acc * (size_t)t;
        double *dbt = db ? (double *)(dbs + dbn * (size_t)t) : NULL;
        FOR_W4_UNITS(&pl, &q, G * t / nt, G * (t + 1) / nt, u, {
            input_transform(V, inp, NULL, &q, &u, X, S);
            for (int64_t k0 = 0; k0 < K; k0 += pl.kb) {
                int64_t kb = K - k0 < pl.kb ? K - k0 : pl.kb;
                grad_transform(Gh, dbt, src, &q, &u, k0, kb, Gb, S);
                for (int x = 0; x < NPOS; x++)
                    mg_sgemm(false, true, kb, C, u.T, 1.0f, Gh + x * plane_of(kb, u.T), u.T, V + x * plane_of(C, u.T),
                             u.T, 1.0f, dU + x * pu + k0 * C, C);
            }
        });
    }
    /* threads summed in a fixed order: the same thread count gives the same sums */
    for (int t = 1; t < pl.nt; t++) {
        for (size_t i = 0; i < acc; i++) accs[i] += accs[acc * (size_t)t + i];
        if (db)
            for (int64_t k = 0; k < K; k++) ((double *)dbs)[k] += ((double *)(dbs + dbn * (size_t)t))[k];
    }
    weight_grad_transform(dw, accs, K, C);
    if (db)
        for (int64_t k = 0; k < K; k++) db[k] = (float)((double *)dbs)[k];
    mg_free(scratch, got);
    return MG_OK;
}

#else /* no AVX-512: never chosen */

bool mg_winograd4_fits(const mg_conv_geom *g) { return false; }
double mg_winograd4_cost(int64_t N, int64_t OH, int64_t OW) { return INFINITY; }
int mg_conv2d_winograd4_fwd(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g) {
    return mg_error("conv2d: Winograd kernels need AVX-512");
}
int mg_conv2d_winograd4_fwd_fused(float *out, const float *inp, const float *w, const float *b,
                                  const mg_conv_geom *g, const mg_conv_epilogue *e) {
    return mg_error("conv2d: Winograd kernels need AVX-512");
}
int mg_conv2d_winograd4_bwd(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                            const mg_conv_geom *g) {
    return mg_error("conv2d: Winograd kernels need AVX-512");
}
int mg_conv2d_winograd4_bwd_src(float *dinp, float *dw, float *db, const mg_conv_dout *src, const float *inp,
                                const float *w, const mg_conv_geom *g) {
    return mg_error("conv2d: Winograd kernels need AVX-512");
}
#endif
