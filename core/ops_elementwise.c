/*
 * Elementwise ops with NumPy broadcasting, their backward kernels,
 * comparisons and where. One engine (map2/map1) runs a row kernel over a
 * coalesced strided iteration, split across threads by rows or segments.
 *
 * Row kernels on unit strides are `omp simd` loops: GCC's -O2 leaves plain
 * loops scalar, and the math functions below are declared with vector
 * variants, which glibc's libmvec provides (linked through libm), so exp,
 * tanh, log, erf, ... run 16 lanes at a time (within a few ulp of the
 * scalar functions).
 */
#include "internal.h"

#include <omp.h>

#include "simd_math.h"

typedef void (*kern2)(float *o, const float *a, int64_t sa, const float *b, int64_t sb,
                      int64_t n, const float *p);
typedef void (*kern1)(float *o, const float *a, int64_t sa, int64_t n, const float *p);

/* Row kernels: EXPR reads x (from a), y (from b) and p[] (parameters). */
#define SIMD _Pragma("omp simd")
#define DEF2(fname, EXPR)                                                                       \
    static void fname(float *o, const float *a, int64_t sa, const float *b, int64_t sb, \
                      int64_t n, const float *p) {                                              \
        /* parameters in locals: a load inside the loop keeps it scalar */                     \
        const float P0 = p ? p[0] : 0.0f, P1 = p ? p[1] : 0.0f;                                 \
        (void)P0, (void)P1;                                                                     \
        if (sa == 1 && sb == 1) {                                                               \
            SIMD for (int64_t i = 0; i < n; i++) { float x = a[i], y = b[i]; o[i] = (EXPR); }   \
        } else if (sa == 1 && sb == 0) {                                                        \
            float y = b[0];                                                                     \
            SIMD for (int64_t i = 0; i < n; i++) { float x = a[i]; o[i] = (EXPR); }             \
        } else if (sa == 0 && sb == 1) {                                                        \
            float x = a[0];                                                                     \
            SIMD for (int64_t i = 0; i < n; i++) { float y = b[i]; o[i] = (EXPR); }             \
        } else {                                                                                \
            for (int64_t i = 0; i < n; i++) { float x = a[i * sa], y = b[i * sb]; o[i] = (EXPR); } \
        }                                                                                       \
    }
#define DEF1(fname, EXPR)                                                                       \
    static void fname(float *o, const float *a, int64_t sa, int64_t n, const float *p) { \
        const float P0 = p ? p[0] : 0.0f, P1 = p ? p[1] : 0.0f;                                 \
        (void)P0, (void)P1;                                                                     \
        if (sa == 1) {                                                                          \
            SIMD for (int64_t i = 0; i < n; i++) { float x = a[i]; o[i] = (EXPR); }             \
        } else {                                                                                \
            for (int64_t i = 0; i < n; i++) { float x = a[i * sa]; o[i] = (EXPR); }             \
        }                                                                                       \
    }

/* One exp of -|x|: never overflows, and vectorizes without a branch. */
static inline float sigmoidf(float x) {
    float e = expf(-fabsf(x)), r = 1.0f / (1.0f + e);
    return x >= 0 ? r : e * r;
}
static inline float softplusf(float x) { return x > 20 ? x : log1pf(expf(x)); }
static inline float clampf(float x, float lo, float hi) {
    if (x < lo) x = lo; /* NAN bounds compare false: no bound */
    if (x > hi) x = hi;
    return x;
}
#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f

/* forward */
DEF2(k_add, x + y)
DEF2(k_sub, x - y)
DEF2(k_mul, x *y)
DEF2(k_div, x / y)
DEF2(k_pow, powf(x, y))
DEF2(k_max, x > y || isnan(x) ? x : y)
DEF2(k_min, x < y || isnan(x) ? x : y)
DEF1(k_add_s, x + P0)
DEF1(k_mul_s, x *P0)
DEF1(k_pow_s, P0 == 2.0f ? x * x : powf(x, P0))
DEF1(k_rsub_s, P0 - x)
DEF1(k_rdiv_s, P0 / x)
DEF1(k_neg, -x)
DEF1(k_exp, expf(x))
DEF1(k_log, logf(x))
DEF1(k_sqrt, sqrtf(x))
DEF1(k_abs, fabsf(x))
DEF1(k_sign, (float)((x > 0) - (x < 0)))
DEF1(k_sin, sinf(x))
DEF1(k_cos, cosf(x))
DEF1(k_relu, x > 0 ? x : 0.0f)
DEF1(k_leaky, x > 0 ? x : x * P0)
DEF1(k_sigmoid, sigmoidf(x))
DEF1(k_tanh, tanhf(x))
DEF1(k_gelu, 0.5f * x * (1.0f + erff(x * INV_SQRT2)))
DEF1(k_softplus, softplusf(x))
DEF1(k_clamp, clampf(x, P0, P1))
DEF1(k_copy, x)

/* backward: x is the incoming gradient g, y the saved tensor */
DEF2(kb_relu, y > 0 ? x : 0.0f)           /* y = output */
DEF2(kb_leaky, y > 0 ? x : x * P0)      /* y = input */
DEF2(kb_sigmoid, x *y * (1.0f - y))       /* y = output */
DEF2(kb_tanh, x *(1.0f - y * y))          /* y = output */
DEF2(kb_exp, x *y)                        /* y = output */
DEF2(kb_log, x / y)                       /* y = input */
DEF2(kb_sqrt, x * 0.5f / y)               /* y = output */
DEF2(kb_abs, y > 0 ? x : (y < 0 ? -x : 0.0f))
DEF2(kb_sin, x *cosf(y))
DEF2(kb_cos, -x * sinf(y))
DEF2(kb_gelu, x *(0.5f * (1.0f + erff(y * INV_SQRT2)) + y * INV_SQRT_2PI * expf(-0.5f * y * y)))
DEF2(kb_softplus, x *sigmoidf(y))
DEF2(kb_clamp, (y < P0 || y > P1) ? 0.0f : x)
DEF2(kb_pow_s, x *P0 * (P0 == 2.0f ? y : powf(y, P0 - 1.0f)))
DEF2(kb_rdiv_s, P0 == 0 ? 0.0f : -x * y * y / P0) /* y = s/a; d/da = -s/a^2 = -y^2/s */
DEF2(kb_div_b, -x * y)                    /* g * (-out/b) needs out/b: computed as y = out/b */
DEF2(kb_ge, x >= y ? 1.0f : 0.0f)

/* ---- engine ---------------------------------------------------------------- */

static int check_f32(const char *op, const mg_tensor *t) {
    if (t->dtype != MG_F32)
        return mg_error("%s: needs a float32 tensor, got %s (convert with :float())", op, mg_dtype_name(t->dtype));
    return MG_OK;
}

/* Splits rows of `inner` elements into segments so both long rows and many
 * short rows spread over the threads. */
#define SEGMENT 16384

/* The output of a binary op over the broadcast shape of a and b, and an
 * iterator over (out, a, b) with a's and b's broadcast strides. */
static mg_tensor *broadcast_out(const char *op, const mg_tensor *a, const mg_tensor *b, mg_dtype dtype, mg_iter *it) {
    int nd;
    int64_t shape[MG_MAX_DIMS], st[4][MG_MAX_DIMS];
    if (mg_broadcast_shape(op, a, b, &nd, shape)) return NULL;
    mg_tensor *out = mg_empty(dtype, nd, shape);
    if (!out) return NULL;
    for (int d = 0; d < nd; d++) st[0][d] = out->stride[d];
    mg_broadcast_strides(a, nd, shape, st[1]);
    mg_broadcast_strides(b, nd, shape, st[2]);
    mg_iter_init(it, 3, nd, shape, st);
    return out;
}

static mg_tensor *map2(const char *op, const mg_tensor *a, const mg_tensor *b, kern2 k, const float *p) {
    if (check_f32(op, a) || check_f32(op, b)) return NULL;
    mg_iter it;
    mg_tensor *out = broadcast_out(op, a, b, MG_F32, &it);
    if (!out) return NULL;
    int64_t nseg = it.inner > 2 * SEGMENT ? it.inner / SEGMENT : 1, tasks = it.outer * nseg;
    float *po = mg_f32(out);
    const float *pa = mg_f32(a), *pb = mg_f32(b);
    int64_t last = it.ndim - 1, sa = it.stride[1][last], sb = it.stride[2][last];
#pragma omp parallel for if (it.outer * it.inner > MG_PAR_GRAIN && tasks > 1) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t r = t / nseg, s = t % nseg, lo = it.inner * s / nseg, hi = it.inner * (s + 1) / nseg;
        int64_t off[4];
        mg_iter_offsets(&it, r, off);
        k(po + off[0] + lo, pa + off[1] + lo * sa, sa, pb + off[2] + lo * sb, sb, hi - lo, p);
    }
    return out;
}

static mg_tensor *map1(const char *op, const mg_tensor *a, kern1 k, const float *p) {
    if (check_f32(op, a)) return NULL;
    mg_tensor *out = mg_empty(MG_F32, a->ndim, a->shape);
    if (!out) return NULL;
    int64_t st[4][MG_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) {
        st[0][d] = out->stride[d];
        st[1][d] = a->stride[d];
    }
    mg_iter it;
    mg_iter_init(&it, 2, a->ndim, a->shape, st);
    int64_t nseg = it.inner > 2 * SEGMENT ? it.inner / SEGMENT : 1, tasks = it.outer * nseg;
    float *po = mg_f32(out);
    const float *pa = mg_f32(a);
    int64_t sa = it.stride[1][it.ndim - 1];
#pragma omp parallel for if (it.outer * it.inner > MG_PAR_GRAIN && tasks > 1) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t r = t / nseg, s = t % nseg, lo = it.inner * s / nseg, hi = it.inner * (s + 1) / nseg;
        int64_t off[4];
        mg_iter_offsets(&it, r, off);
        k(po + off[0] + lo, pa + off[1] + lo * sa, sa, hi - lo, p);
    }
    return out;
}

/* ---- binary ops ---------------------------------------------------------------- */

/* ---- integer inputs ------------------------------------------------------------
 * PyTorch's promotion: int64 (+ - * max min) int64 stays int64; any other
 * combination with an integer or byte tensor computes in float32. Integer
 * tensors never require grad, so the integer paths record nothing. */

typedef enum { I_ADD, I_SUB, I_MUL, I_MAX, I_MIN, I_NONE } int_kind;

static int_kind int_kind_of(int op) {
    switch (op) {
    case MG_OP_add: return I_ADD;
    case MG_OP_sub: return I_SUB;
    case MG_OP_mul: return I_MUL;
    case MG_OP_maximum: return I_MAX;
    case MG_OP_minimum: return I_MIN;
    default: return I_NONE;
    }
}

static mg_tensor *map2_i64(const char *op, const mg_tensor *a, const mg_tensor *b, int_kind kind) {
    mg_iter it;
    mg_tensor *out = broadcast_out(op, a, b, MG_I64, &it);
    if (!out) return NULL;
    int64_t *po = mg_i64(out);
    const int64_t *pa = mg_i64(a), *pb = mg_i64(b);
    int64_t last = it.ndim - 1, sa = it.stride[1][last], sb = it.stride[2][last];
    for (int64_t r = 0; r < it.outer; r++) {
        int64_t off[4];
        mg_iter_offsets(&it, r, off);
        for (int64_t i = 0; i < it.inner; i++) {
            /* unsigned arithmetic: wraps on overflow instead of undefined behaviour */
            uint64_t x = (uint64_t)pa[off[1] + i * sa], y = (uint64_t)pb[off[2] + i * sb];
            int64_t xs = (int64_t)x, ys = (int64_t)y, v;
            switch (kind) {
            case I_ADD: v = (int64_t)(x + y); break;
            case I_SUB: v = (int64_t)(x - y); break;
            case I_MUL: v = (int64_t)(x * y); break;
            case I_MAX: v = xs > ys ? xs : ys; break;
            default: v = xs < ys ? xs : ys; break;
            }
            po[off[0] + i] = v;
        }
    }
    return out;
}

static mg_tensor *as_f32(mg_tensor *t) {
    return t->dtype == MG_F32 ? mg_retain(t) : mg_to_dtype(t, MG_F32);
}

static mg_tensor *binary(int op, const char *name, mg_tensor *a, mg_tensor *b, kern2 k, bool save);

static mg_tensor *binary_promoted(int op, const char *name, mg_tensor *a, mg_tensor *b, kern2 k, bool save) {
    if (a->dtype == MG_I64 && b->dtype == MG_I64 && int_kind_of(op) != I_NONE)
        return map2_i64(name, a, b, int_kind_of(op));
    mg_tensor *fa = as_f32(a), *fb = fa ? as_f32(b) : NULL;
    mg_tensor *out = fb ? binary(op, name, fa, fb, k, save) : NULL;
    mg_release(fa), mg_release(fb);
    return out;
}

static mg_tensor *binary(int op, const char *name, mg_tensor *a, mg_tensor *b, kern2 k, bool save) {
    if (a->dtype != MG_F32 || b->dtype != MG_F32) return binary_promoted(op, name, a, b, k, save);
    mg_tensor *out = map2(name, a, b, k, NULL);
    mg_tensor *ins[2] = {a, b};
    if (!out || !mg_needs_grad(2, ins)) return out;
    mg_node *n = mg_record(op, out, 2, ins);
    if (!n || (save && (mg_save(n, a) || mg_save(n, b)))) {
        mg_release(out);
        return NULL;
    }
    return out;
}

mg_tensor *mg_add(mg_tensor *a, mg_tensor *b) { return binary(MG_OP_add, "add", a, b, k_add, false); }
mg_tensor *mg_sub(mg_tensor *a, mg_tensor *b) { return binary(MG_OP_sub, "sub", a, b, k_sub, false); }
mg_tensor *mg_mul(mg_tensor *a, mg_tensor *b) { return binary(MG_OP_mul, "mul", a, b, k_mul, true); }
mg_tensor *mg_div(mg_tensor *a, mg_tensor *b) { return binary(MG_OP_div, "div", a, b, k_div, true); }
mg_tensor *mg_pow(mg_tensor *a, mg_tensor *b) { return binary(MG_OP_pow, "pow", a, b, k_pow, true); }
mg_tensor *mg_maximum(mg_tensor *a, mg_tensor *b) { return binary(MG_OP_maximum, "maximum", a, b, k_max, true); }
mg_tensor *mg_minimum(mg_tensor *a, mg_tensor *b) { return binary(MG_OP_minimum, "minimum", a, b, k_min, true); }

/* Reduces a gradient to an input's shape (undoing broadcasting). */
static mg_tensor *to_input(mg_node *n, int k, mg_tensor *g) {
    if (!g) return NULL;
    mg_tensor *r = mg_sum_to_shape(g, n->in[k].ndim, n->in[k].shape);
    mg_release(g);
    return r;
}

int mg_bw_add(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    for (int k = 0; k < 2; k++)
        if (needs[k] && !(gin[k] = to_input(n, k, mg_retain(g)))) return MG_ERR;
    return MG_OK;
}

int mg_bw_sub(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (needs[0] && !(gin[0] = to_input(n, 0, mg_retain(g)))) return MG_ERR;
    if (needs[1] && !(gin[1] = to_input(n, 1, mg_neg(g)))) return MG_ERR;
    return MG_OK;
}

int mg_bw_mul(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    mg_tensor *a = mg_saved(n, 0), *b = mg_saved(n, 1);
    if (!a || !b) return MG_ERR;
    if (needs[0] && !(gin[0] = to_input(n, 0, mg_mul(g, b)))) return MG_ERR;
    if (needs[1] && !(gin[1] = to_input(n, 1, mg_mul(g, a)))) return MG_ERR;
    return MG_OK;
}

int mg_bw_div(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    mg_tensor *a = mg_saved(n, 0), *b = mg_saved(n, 1);
    if (!a || !b) return MG_ERR;
    mg_tensor *gb = mg_div(g, b); /* g / b */
    if (!gb) return MG_ERR;
    if (needs[0] && !(gin[0] = to_input(n, 0, mg_retain(gb)))) goto fail;
    if (needs[1]) { /* -g a / b^2 = -(g/b) * (a/b) */
        mg_tensor *ab = mg_div(a, b);
        mg_tensor *t = ab ? map2("div", gb, ab, kb_div_b, NULL) : NULL;
        mg_release(ab);
        if (!(gin[1] = to_input(n, 1, t))) goto fail;
    }
    mg_release(gb);
    return MG_OK;
fail:
    mg_release(gb);
    return MG_ERR;
}

int mg_bw_pow(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    mg_tensor *a = mg_saved(n, 0), *b = mg_saved(n, 1);
    if (!a || !b) return MG_ERR;
    if (needs[0]) { /* g * b * a^(b-1) */
        mg_tensor *bm1 = mg_add_scalar(b, -1.0), *p = bm1 ? mg_pow(a, bm1) : NULL;
        mg_tensor *bp = p ? mg_mul(b, p) : NULL, *t = bp ? mg_mul(g, bp) : NULL;
        mg_release(bm1), mg_release(p), mg_release(bp);
        if (!(gin[0] = to_input(n, 0, t))) return MG_ERR;
    }
    if (needs[1]) { /* g * a^b * log(a) */
        mg_tensor *p = mg_pow(a, b), *l = p ? mg_log(a) : NULL, *pl = l ? mg_mul(p, l) : NULL;
        mg_tensor *t = pl ? mg_mul(g, pl) : NULL;
        mg_release(p), mg_release(l), mg_release(pl);
        if (!(gin[1] = to_input(n, 1, t))) return MG_ERR;
    }
    return MG_OK;
}

/* maximum/minimum: the gradient goes to the chosen input (to a on ties). */
static int bw_select(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin, kern2 pick_a) {
    mg_tensor *a = mg_saved(n, 0), *b = mg_saved(n, 1);
    if (!a || !b) return MG_ERR;
    mg_tensor *mask = map2("maximum", a, b, pick_a, NULL);
    if (!mask) return MG_ERR;
    int rc = MG_ERR;
    if (needs[0] && !(gin[0] = to_input(n, 0, mg_mul(g, mask)))) goto done;
    if (needs[1]) {
        mg_tensor *inv = mg_rsub_scalar(mask, 1.0);
        gin[1] = to_input(n, 1, inv ? mg_mul(g, inv) : NULL);
        mg_release(inv);
        if (!gin[1]) goto done;
    }
    rc = MG_OK;
done:
    mg_release(mask);
    return rc;
}

int mg_bw_maximum(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return bw_select(n, g, needs, gin, kb_ge);
}

static void kb_le(float *o, const float *a, int64_t sa, const float *b, int64_t sb, int64_t n,
                  const float *p) {
    kb_ge(o, b, sb, a, sa, n, p);
}

int mg_bw_minimum(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return bw_select(n, g, needs, gin, kb_le);
}

/* ---- unary ops --------------------------------------------------------------- */

/* Runs kernel k; records `op` saving the input and/or the output, and up to
 * two float parameters in n->f. */
static mg_tensor *unary(int op, const char *name, mg_tensor *a, kern1 k, const float *p, int np,
                        bool save_in, bool save_out);

/* Integer input: neg and integral scalar + - * stay int64; the rest promote. */
static mg_tensor *unary_promoted(int op, const char *name, mg_tensor *a, kern1 k, const float *p, int np,
                                 bool save_in, bool save_out, double s) {
    bool integral = s == floor(s) && fabs(s) < 9.2e18;
    if (a->dtype == MG_I64 && (op == MG_OP_neg || (integral && (op == MG_OP_add_scalar || op == MG_OP_mul_scalar ||
                                                                op == MG_OP_rsub_scalar)))) {
        int64_t v = op == MG_OP_neg ? -1 : (int64_t)s;
        mg_tensor *c = mg_full(MG_I64, 0, NULL, (double)v);
        if (!c) return NULL;
        mg_tensor *out = NULL;
        if (op == MG_OP_add_scalar) out = map2_i64(name, a, c, I_ADD);
        else if (op == MG_OP_rsub_scalar) out = map2_i64(name, c, a, I_SUB);
        else out = map2_i64(name, a, c, I_MUL); /* mul_scalar, and neg as * -1 */
        mg_release(c);
        return out;
    }
    mg_tensor *fa = as_f32(a);
    mg_tensor *out = fa ? unary(op, name, fa, k, p, np, save_in, save_out) : NULL;
    mg_release(fa);
    return out;
}

static mg_tensor *unary(int op, const char *name, mg_tensor *a, kern1 k, const float *p, int np,
                        bool save_in, bool save_out) {
    if (a->dtype != MG_F32)
        return unary_promoted(op, name, a, k, p, np, save_in, save_out, np > 0 ? (double)p[0] : 0.0);
    mg_tensor *out = map1(name, a, k, p);
    if (!out || !mg_needs_grad(1, &a)) return out;
    mg_node *n = mg_record(op, out, 1, &a);
    if (!n || (save_in && mg_save(n, a)) || (save_out && mg_save_output(n, out))) {
        mg_release(out);
        return NULL;
    }
    for (int i = 0; i < np; i++) n->f[i] = p[i];
    return out;
}

mg_tensor *mg_add_scalar(mg_tensor *a, double s) {
    float p[2] = {(float)s, 0.0f};
    return unary(MG_OP_add_scalar, "add", a, k_add_s, p, 1, false, false);
}
mg_tensor *mg_mul_scalar(mg_tensor *a, double s) {
    float p[2] = {(float)s, 0.0f};
    return unary(MG_OP_mul_scalar, "mul", a, k_mul_s, p, 1, false, false);
}
mg_tensor *mg_pow_scalar(mg_tensor *a, double e) {
    float p[2] = {(float)e, 0.0f};
    return unary(MG_OP_pow_scalar, "pow", a, k_pow_s, p, 1, true, false);
}
mg_tensor *mg_rsub_scalar(mg_tensor *a, double s) {
    float p[2] = {(float)s, 0.0f};
    return unary(MG_OP_rsub_scalar, "sub", a, k_rsub_s, p, 1, false, false);
}
mg_tensor *mg_rdiv_scalar(mg_tensor *a, double s) {
    float p[2] = {(float)s, 0.0f};
    return unary(MG_OP_rdiv_scalar, "div", a, k_rdiv_s, p, 1, false, true);
}
mg_tensor *mg_neg(mg_tensor *a) { return unary(MG_OP_neg, "neg", a, k_neg, NULL, 0, false, false); }
mg_tensor *mg_exp(mg_tensor *a) { return unary(MG_OP_exp, "exp", a, k_exp, NULL, 0, false, true); }
mg_tensor *mg_log(mg_tensor *a) { return unary(MG_OP_log, "log", a, k_log, NULL, 0, true, false); }
mg_tensor *mg_sqrt(mg_tensor *a) { return unary(MG_OP_sqrt, "sqrt", a, k_sqrt, NULL, 0, false, true); }
mg_tensor *mg_abs(mg_tensor *a) { return unary(MG_OP_abs, "abs", a, k_abs, NULL, 0, true, false); }
mg_tensor *mg_sign(mg_tensor *a) { return unary(MG_OP_sign, "sign", a, k_sign, NULL, 0, false, false); }
mg_tensor *mg_sin(mg_tensor *a) { return unary(MG_OP_sin, "sin", a, k_sin, NULL, 0, true, false); }
mg_tensor *mg_cos(mg_tensor *a) { return unary(MG_OP_cos, "cos", a, k_cos, NULL, 0, true, false); }
mg_tensor *mg_relu(mg_tensor *a) { return unary(MG_OP_relu, "relu", a, k_relu, NULL, 0, false, true); }
mg_tensor *mg_leaky_relu(mg_tensor *a, double slope) {
    float p[2] = {(float)slope, 0.0f};
    return unary(MG_OP_leaky_relu, "leaky_relu", a, k_leaky, p, 1, true, false);
}
mg_tensor *mg_sigmoid(mg_tensor *a) { return unary(MG_OP_sigmoid, "sigmoid", a, k_sigmoid, NULL, 0, false, true); }
mg_tensor *mg_tanh(mg_tensor *a) { return unary(MG_OP_tanh, "tanh", a, k_tanh, NULL, 0, false, true); }
mg_tensor *mg_gelu(mg_tensor *a) { return unary(MG_OP_gelu, "gelu", a, k_gelu, NULL, 0, true, false); }
mg_tensor *mg_softplus(mg_tensor *a) { return unary(MG_OP_softplus, "softplus", a, k_softplus, NULL, 0, true, false); }
mg_tensor *mg_clamp(mg_tensor *a, double lo, double hi) {
    if (!isnan(lo) && !isnan(hi) && lo > hi) {
        mg_error("clamp: min %g is greater than max %g", lo, hi);
        return NULL;
    }
    float p[2] = {(float)lo, (float)hi};
    return unary(MG_OP_clamp, "clamp", a, k_clamp, p, 2, true, false);
}

/* gin[0] = k(g, saved[0]) with the node's parameters. */
/* True when the backward pass holds the only reference to the incoming
 * gradient and nothing shares its storage: a backward may then write its
 * result over it instead of allocating another buffer of the same size
 * (the engine drops its reference right after). Kernels write o[i] from
 * a[i] and b[i] only, so running them in place is exact. */
static bool writable_grad(const mg_tensor *g) {
    return g->refcount == 1 && g->storage->refcount == 1 && g->dtype == MG_F32 && !g->requires_grad &&
           mg_is_contiguous(g);
}

/* Segments of a flat in-place kernel run, as map1/map2 split rows. */
static int64_t segments(int64_t n) { return n > 2 * SEGMENT ? n / SEGMENT : 1; }

/* gin[0] = k(g, saved[0]) with the node's parameters. */
static int bw_unary(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin, kern2 k) {
    if (!needs[0]) return MG_OK;
    mg_tensor *y = mg_saved(n, 0);
    if (!y) return MG_ERR;
    float p[2] = {(float)n->f[0], (float)n->f[1]};
    if (writable_grad(g) && y->dtype == MG_F32 && mg_is_contiguous(y) && mg_same_shape(g, y)) {
        float *pg = mg_f32(g);
        const float *py = mg_f32(y);
        int64_t total = mg_numel(g), nseg = segments(total);
#pragma omp parallel for if (total > MG_PAR_GRAIN && nseg > 1) schedule(static)
        for (int64_t sg = 0; sg < nseg; sg++) {
            int64_t lo = total * sg / nseg, hi = total * (sg + 1) / nseg;
            k(pg + lo, pg + lo, 1, py + lo, 1, hi - lo, p);
        }
        mg_bump_version(g);
        gin[0] = mg_retain(g);
        return MG_OK;
    }
    gin[0] = map2(mg_op_name(n->op), g, y, k, p);
    return gin[0] ? MG_OK : MG_ERR;
}

/* gin[0] = k(g) with the node's parameters. */
static int bw_map(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin, kern1 k, float s) {
    if (!needs[0]) return MG_OK;
    float p[2] = {s, 0.0f};
    if (writable_grad(g)) {
        float *pg = mg_f32(g);
        int64_t total = mg_numel(g), nseg = segments(total);
#pragma omp parallel for if (total > MG_PAR_GRAIN && nseg > 1) schedule(static)
        for (int64_t sg = 0; sg < nseg; sg++) {
            int64_t lo = total * sg / nseg, hi = total * (sg + 1) / nseg;
            k(pg + lo, pg + lo, 1, hi - lo, p);
        }
        mg_bump_version(g);
        gin[0] = mg_retain(g);
        return MG_OK;
    }
    gin[0] = map1(mg_op_name(n->op), g, k, p);
    return gin[0] ? MG_OK : MG_ERR;
}

int mg_bw_add_scalar(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    (void)n;
    if (needs[0]) gin[0] = mg_retain(g);
    return MG_OK;
}
int mg_bw_mul_scalar(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return bw_map(n, g, needs, gin, k_mul_s, (float)n->f[0]);
}
int mg_bw_pow_scalar(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return bw_unary(n, g, needs, gin, kb_pow_s);
}
int mg_bw_rsub_scalar(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return bw_map(n, g, needs, gin, k_neg, 0);
}
int mg_bw_rdiv_scalar(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return bw_unary(n, g, needs, gin, kb_rdiv_s);
}
int mg_bw_neg(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return bw_map(n, g, needs, gin, k_neg, 0);
}
int mg_bw_exp(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) { return bw_unary(n, g, needs, gin, kb_exp); }
int mg_bw_log(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) { return bw_unary(n, g, needs, gin, kb_log); }
int mg_bw_sqrt(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) { return bw_unary(n, g, needs, gin, kb_sqrt); }
int mg_bw_abs(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) { return bw_unary(n, g, needs, gin, kb_abs); }
int mg_bw_sign(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    (void)n;
    if (needs[0] && !(gin[0] = mg_zeros_like(g))) return MG_ERR;
    return MG_OK;
}
int mg_bw_sin(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) { return bw_unary(n, g, needs, gin, kb_sin); }
int mg_bw_cos(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) { return bw_unary(n, g, needs, gin, kb_cos); }
int mg_bw_relu(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) { return bw_unary(n, g, needs, gin, kb_relu); }
int mg_bw_leaky_relu(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return bw_unary(n, g, needs, gin, kb_leaky);
}
int mg_bw_sigmoid(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return bw_unary(n, g, needs, gin, kb_sigmoid);
}
int mg_bw_tanh(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) { return bw_unary(n, g, needs, gin, kb_tanh); }
int mg_bw_gelu(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) { return bw_unary(n, g, needs, gin, kb_gelu); }
int mg_bw_softplus(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return bw_unary(n, g, needs, gin, kb_softplus);
}
int mg_bw_clamp(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) { return bw_unary(n, g, needs, gin, kb_clamp); }

/* ---- comparisons and where ---------------------------------------------------- */

static bool cmp_holds(double x, double y, mg_cmp c) {
    switch (c) {
    case MG_EQ: return x == y;
    case MG_NE: return x != y;
    case MG_LT: return x < y;
    case MG_LE: return x <= y;
    case MG_GT: return x > y;
    case MG_GE: return x >= y;
    }
    return false;
}

static double load_any(const mg_tensor *t, int64_t off) {
    switch (t->dtype) {
    case MG_F32: return ((const float *)t->storage->data)[off];
    case MG_I64: return (double)((const int64_t *)t->storage->data)[off];
    case MG_U8: return ((const uint8_t *)t->storage->data)[off];
    }
    return 0;
}

mg_tensor *mg_compare(const mg_tensor *a, const mg_tensor *b, mg_cmp c) {
    mg_iter it;
    mg_tensor *out = broadcast_out("compare", a, b, MG_F32, &it);
    if (!out) return NULL;
    float *po = mg_f32(out);
    int64_t last = it.ndim - 1;
    for (int64_t r = 0; r < it.outer; r++) {
        int64_t off[4];
        mg_iter_offsets(&it, r, off);
        for (int64_t i = 0; i < it.inner; i++) {
            double x = load_any(a, a->offset + off[1] + i * it.stride[1][last]);
            double y = load_any(b, b->offset + off[2] + i * it.stride[2][last]);
            po[off[0] + i] = cmp_holds(x, y, c) ? 1.0f : 0.0f;
        }
    }
    return out;
}

mg_tensor *mg_compare_scalar(const mg_tensor *a, double s, mg_cmp c) {
    mg_tensor *b = mg_scalar(s);
    if (!b) return NULL;
    mg_tensor *out = mg_compare(a, b, c);
    mg_release(b);
    return out;
}

mg_tensor *mg_where(const mg_tensor *cond, mg_tensor *a, mg_tensor *b) {
    if (check_f32("where", a) || check_f32("where", b)) return NULL;
    int nd, nd2;
    int64_t s1[MG_MAX_DIMS], shape[MG_MAX_DIMS], st[4][MG_MAX_DIMS];
    if (mg_broadcast_shape("where", a, b, &nd, s1)) return NULL;
    mg_tensor ab = *a; /* a shape-only stand-in for broadcasting cond */
    ab.ndim = nd;
    memcpy(ab.shape, s1, sizeof s1);
    if (mg_broadcast_shape("where", cond, &ab, &nd2, shape)) return NULL;
    mg_tensor *out = mg_empty(MG_F32, nd2, shape);
    if (!out) return NULL;
    for (int d = 0; d < nd2; d++) st[0][d] = out->stride[d];
    mg_broadcast_strides(cond, nd2, shape, st[1]);
    mg_broadcast_strides(a, nd2, shape, st[2]);
    mg_broadcast_strides(b, nd2, shape, st[3]);
    mg_iter it;
    mg_iter_init(&it, 4, nd2, shape, st);
    float *po = mg_f32(out);
    const float *pa = mg_f32(a), *pb = mg_f32(b);
    int64_t last = it.ndim - 1;
    for (int64_t r = 0; r < it.outer; r++) {
        int64_t off[4];
        mg_iter_offsets(&it, r, off);
        for (int64_t i = 0; i < it.inner; i++) {
            double c = load_any(cond, cond->offset + off[1] + i * it.stride[1][last]);
            po[off[0] + i] = c != 0 ? pa[off[2] + i * it.stride[2][last]] : pb[off[3] + i * it.stride[3][last]];
        }
    }
    mg_tensor *ins[2] = {a, b};
    if (!mg_needs_grad(2, ins)) return out;
    mg_node *n = mg_record(MG_OP_where, out, 2, ins);
    mg_tensor *mask = n ? mg_compare_scalar(cond, 0.0, MG_NE) : NULL;
    if (!mask || mg_save(n, mask)) {
        mg_release(mask);
        mg_release(out);
        return NULL;
    }
    mg_release(mask);
    return out;
}

int mg_bw_where(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    mg_tensor *mask = mg_saved(n, 0);
    if (!mask) return MG_ERR;
    if (needs[0] && !(gin[0] = to_input(n, 0, mg_mul(g, mask)))) return MG_ERR;
    if (needs[1]) {
        mg_tensor *inv = mg_rsub_scalar(mask, 1.0);
        gin[1] = to_input(n, 1, inv ? mg_mul(g, inv) : NULL);
        mg_release(inv);
        if (!gin[1]) return MG_ERR;
    }
    return MG_OK;
}

/* Used by clone and contiguous: a plain strided-to-contiguous copy. */
mg_tensor *mg_copy_f32(const mg_tensor *a) { return map1("clone", a, k_copy, NULL); }
