/*
 * Losses as fused ops, each one pass forward and one pass backward:
 * cross_entropy (log-softmax and NLL in one sweep of the logits, label
 * smoothing and ignore_index as PyTorch), nll_loss, binary_cross_entropy
 * (logs clamped at -100), binary_cross_entropy_with_logits (stable form),
 * mse_loss and l1_loss. Reductions mean, sum and none. Totals are summed
 * per fixed chunk and the chunks in order, so a loss does not depend on
 * the thread count.
 */
#include "internal.h"
#include "nn_math.h"

#include <stdlib.h>

/* Elements per partial sum of the elementwise losses. */
#define LOSS_CHUNK 8192

static int check_reduction(const char *op, mg_reduction r) {
    if (r != MG_REDUCE_MEAN && r != MG_REDUCE_SUM && r != MG_REDUCE_NONE)
        return mg_error("%s: unknown reduction %d (expected mean, sum or none)", op, (int)r);
    return MG_OK;
}

/* ---- elementwise losses ------------------------------------------------------- */

typedef enum { L_MSE, L_L1, L_BCE, L_BCE_LOGITS } loss_kind;

static const struct {
    const char *name;
    int op;
} loss_ops[] = {
    [L_MSE] = {"mse_loss", MG_OP_mse_loss},
    [L_L1] = {"l1_loss", MG_OP_l1_loss},
    [L_BCE] = {"binary_cross_entropy", MG_OP_binary_cross_entropy},
    [L_BCE_LOGITS] = {"binary_cross_entropy_with_logits", MG_OP_binary_cross_entropy_with_logits},
};

/* softplus(-x) + (1 - y) x = max(-x, 0) + log1p(exp(-|x|)) + (1 - y) x */
static inline float bce_logits(float x, float y) {
    return (1.0f - y) * x + (x < 0 ? -x : 0.0f) + nn_log1p(nn_exp(-fabsf(x)));
}

static inline float bce(float x, float y) {
    float lx = nn_log(x), l1x = nn_log1p(-x);
    lx = lx < -100.0f ? -100.0f : lx;
    l1x = l1x < -100.0f ? -100.0f : l1x;
    return (y - 1.0f) * l1x - y * lx;
}

static inline float sigmoid(float x) {
    float e = nn_exp(-fabsf(x)), inv = 1.0f / (1.0f + e);
    return x >= 0 ? inv : e * inv;
}

/* One loop body per loss: v is the loss of element (x, y); the sum goes to
 * s, the values to out when out is not NULL. */
#define LOSS_LOOP(EXPR)                                                                                  \
    do {                                                                                                 \
        if (out) {                                                                                       \
            _Pragma("omp simd reduction(+ : s)") for (int64_t i = 0; i < n; i++) {                       \
                float x = a[i], y = b[i], v = (EXPR);                                                    \
                out[i] = v;                                                                              \
                s += v;                                                                                  \
            }                                                                                            \
        } else {                                                                                         \
            _Pragma("omp simd reduction(+ : s)") for (int64_t i = 0; i < n; i++) {                       \
                float x = a[i], y = b[i];                                                                \
                s += (EXPR);                                                                             \
            }                                                                                            \
        }                                                                                                \
    } while (0)

/* a, b (n) -> out (n) or NULL; returns the sum. *bad is set when a BCE
 * input lies outside [0, 1] (NaN included). */
static double loss_chunk(loss_kind k, float *out, const float *a, const float *b, int64_t n, int *bad) {
    double s = 0;
    switch (k) {
    case L_MSE: LOSS_LOOP((x - y) * (x - y)); break;
    case L_L1: LOSS_LOOP(fabsf(x - y)); break;
    case L_BCE_LOGITS: LOSS_LOOP(bce_logits(x, y)); break;
    case L_BCE: {
        int flag = 0;
#pragma omp simd reduction(| : flag)
        for (int64_t i = 0; i < n; i++) flag |= !(a[i] >= 0.0f && a[i] <= 1.0f);
        *bad = flag;
        LOSS_LOOP(bce(x, y));
        break;
    }
    }
    return s;
}

/* ga = gi FA, gb = gi FB for the gradients that are wanted; gi = g[i] * gs,
 * or gs where g is NULL (mean and sum). */
#define GRAD_LOOP(FA, FB)                                                                                \
    do {                                                                                                 \
        if (g) {                                                                                         \
            if (ga && gb) {                                                                              \
                _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                    \
                    float x = a[i], y = b[i], gi = g[i] * gs;                                            \
                    (void)x, (void)y;                                                                    \
                    ga[i] = gi * (FA);                                                                   \
                    gb[i] = gi * (FB);                                                                   \
                }                                                                                        \
            } else if (ga) {                                                                             \
                _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                    \
                    float x = a[i], y = b[i];                                                            \
                    (void)x, (void)y;                                                                    \
                    ga[i] = g[i] * gs * (FA);                                                            \
                }                                                                                        \
            } else {                                                                                     \
                _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                    \
                    float x = a[i], y = b[i];                                                            \
                    (void)x, (void)y;                                                                    \
                    gb[i] = g[i] * gs * (FB);                                                            \
                }                                                                                        \
            }                                                                                            \
        } else {                                                                                         \
            if (ga && gb) {                                                                              \
                _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                    \
                    float x = a[i], y = b[i];                                                            \
                    (void)x, (void)y;                                                                    \
                    ga[i] = gs * (FA);                                                                   \
                    gb[i] = gs * (FB);                                                                   \
                }                                                                                        \
            } else if (ga) {                                                                             \
                _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                    \
                    float x = a[i], y = b[i];                                                            \
                    (void)x, (void)y;                                                                    \
                    ga[i] = gs * (FA);                                                                   \
                }                                                                                        \
            } else {                                                                                     \
                _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                    \
                    float x = a[i], y = b[i];                                                            \
                    (void)x, (void)y;                                                                    \
                    gb[i] = gs * (FB);                                                                   \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
    } while (0)

static inline float bce_dx(float x, float y) {
    float den = (1.0f - x) * x;
    return (x - y) / (den > 1e-12f ? den : 1e-12f);
}

static inline float bce_dy(float x) {
    float lx = nn_log(x), l1x = nn_log1p(-x);
    return (l1x < -100.0f ? -100.0f : l1x) - (lx < -100.0f ? -100.0f : lx);
}

static inline float signf(float d) { return (float)((d > 0) - (d < 0)); }

/* a, b, g (n) or g NULL -> ga, gb (n), either may be NULL */
static void loss_grad_chunk(loss_kind k, float *ga, float *gb, const float *a, const float *b, const float *g,
                            float gs, int64_t n) {
    switch (k) {
    case L_MSE: GRAD_LOOP(2.0f * (x - y), -2.0f * (x - y)); break;
    case L_L1: GRAD_LOOP(signf(x - y), -signf(x - y)); break;
    case L_BCE: GRAD_LOOP(bce_dx(x, y), bce_dy(x)); break;
    case L_BCE_LOGITS: GRAD_LOOP(sigmoid(x) - y, -x); break;
    }
}

static mg_tensor *elementwise_loss(loss_kind k, mg_tensor *a, mg_tensor *b, mg_reduction r) {
    const char *name = loss_ops[k].name;
    mg_tensor *ac = NULL, *bc = NULL, *out = NULL;
    double *partial = NULL;
    TRY_OK(check_reduction(name, r));
    CHECK(a->dtype == MG_F32 && b->dtype == MG_F32, "%s: input and target must be float32, got %s and %s", name,
          mg_dtype_name(a->dtype), mg_dtype_name(b->dtype));
    CHECK(mg_same_shape(a, b), "%s: target %s must have the same shape as input %s", name, mg_shp(b), mg_shp2(a));
    TRY(ac = mg_as_contiguous(a));
    TRY(bc = mg_as_contiguous(b));
    int64_t n = mg_numel(a), chunks = (n + LOSS_CHUNK - 1) / LOSS_CHUNK;
    if (r == MG_REDUCE_NONE)
        TRY(out = mg_empty(MG_F32, a->ndim, a->shape));
    else
        TRY(out = mg_empty(MG_F32, 0, NULL));
    partial = malloc(sizeof(double) * (size_t)(chunks + 1));
    CHECK(partial, "%s: out of memory", name);
    const float *pa = mg_f32(ac), *pb = mg_f32(bc);
    float *po = r == MG_REDUCE_NONE ? mg_f32(out) : NULL;
    int bad = 0;
#pragma omp parallel for if (n > MG_PAR_GRAIN && chunks > 1) schedule(static) reduction(| : bad)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t off = c * LOSS_CHUNK, len = n - off < LOSS_CHUNK ? n - off : LOSS_CHUNK;
        int flag = 0;
        partial[c] = loss_chunk(k, po ? po + off : NULL, pa + off, pb + off, len, &flag);
        bad |= flag;
    }
    CHECK(!bad, "%s: all elements of input should be between 0 and 1 (apply sigmoid first, or use "
                "binary_cross_entropy_with_logits)", name);
    if (r != MG_REDUCE_NONE) {
        double total = 0;
        for (int64_t c = 0; c < chunks; c++) total += partial[c];
        mg_f32(out)[0] = (float)(r == MG_REDUCE_MEAN ? total / (double)n : total);
    }
    free(partial);
    partial = NULL;
    mg_tensor *ins[2] = {a, b};
    if (mg_needs_grad(2, ins)) {
        mg_node *node = mg_record(loss_ops[k].op, out, 2, ins);
        TRY(node);
        TRY_OK(mg_save(node, ac));
        TRY_OK(mg_save(node, bc));
        node->i[0] = r;
    }
    mg_release(ac), mg_release(bc);
    return out;
fail:
    free(partial);
    mg_release(ac), mg_release(bc), mg_release(out);
    return NULL;
}

static int elementwise_loss_bw(loss_kind k, mg_node *node, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    mg_tensor *a = mg_saved(node, 0), *b = mg_saved(node, 1), *gc = NULL;
    if (!a || !b) return MG_ERR;
    mg_reduction r = (mg_reduction)node->i[0];
    int64_t n = mg_numel(a), chunks = (n + LOSS_CHUNK - 1) / LOSS_CHUNK;
    float gs = 1.0f;
    if (r == MG_REDUCE_NONE) {
        if (!(gc = mg_as_contiguous(g))) return MG_ERR;
    } else {
        double gv = mg_get_flat(g, 0);
        gs = (float)(r == MG_REDUCE_MEAN ? gv / (double)n : gv);
    }
    for (int j = 0; j < 2; j++)
        if (needs[j] && !(gin[j] = mg_empty(MG_F32, a->ndim, a->shape))) {
            mg_release(gc);
            return MG_ERR;
        }
    float *ga = needs[0] ? mg_f32(gin[0]) : NULL, *gb = needs[1] ? mg_f32(gin[1]) : NULL;
    const float *pa = mg_f32(a), *pb = mg_f32(b), *pg = gc ? mg_f32(gc) : NULL;
    if (ga || gb) {
#pragma omp parallel for if (n > MG_PAR_GRAIN && chunks > 1) schedule(static)
        for (int64_t c = 0; c < chunks; c++) {
            int64_t off = c * LOSS_CHUNK, len = n - off < LOSS_CHUNK ? n - off : LOSS_CHUNK;
            loss_grad_chunk(k, ga ? ga + off : NULL, gb ? gb + off : NULL, pa + off, pb + off, pg ? pg + off : NULL,
                            gs, len);
        }
    }
    mg_release(gc);
    return MG_OK;
}

mg_tensor *mg_mse_loss(mg_tensor *a, mg_tensor *b, mg_reduction r) { return elementwise_loss(L_MSE, a, b, r); }
mg_tensor *mg_l1_loss(mg_tensor *a, mg_tensor *b, mg_reduction r) { return elementwise_loss(L_L1, a, b, r); }
mg_tensor *mg_binary_cross_entropy(mg_tensor *p, mg_tensor *target, mg_reduction r) {
    return elementwise_loss(L_BCE, p, target, r);
}
mg_tensor *mg_binary_cross_entropy_with_logits(mg_tensor *z, mg_tensor *target, mg_reduction r) {
    return elementwise_loss(L_BCE_LOGITS, z, target, r);
}

int mg_bw_mse_loss(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return elementwise_loss_bw(L_MSE, n, g, needs, gin);
}
int mg_bw_l1_loss(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return elementwise_loss_bw(L_L1, n, g, needs, gin);
}
int mg_bw_binary_cross_entropy(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return elementwise_loss_bw(L_BCE, n, g, needs, gin);
}
int mg_bw_binary_cross_entropy_with_logits(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return elementwise_loss_bw(L_BCE_LOGITS, n, g, needs, gin);
}

/* ---- class losses: cross_entropy and nll_loss ------------------------------------ */

/* Checks logits [N, C] with targets [N] (or [C] with a 0-dim target) and
 * every target in 0..C-1 or equal to ignore; counts the targets kept. */
static int check_class_args(const char *op, const mg_tensor *x, const mg_tensor *t, mg_reduction r,
                            int64_t ignore, bool use_ignore, int64_t *N, int64_t *C, int64_t *kept) {
    if (check_reduction(op, r)) return MG_ERR;
    if (x->dtype != MG_F32) return mg_error("%s: input must be float32, got %s", op, mg_dtype_name(x->dtype));
    if (t->dtype != MG_I64)
        return mg_error("%s: targets must be int64 class numbers, got %s", op, mg_dtype_name(t->dtype));
    if (x->ndim == 1) {
        if (t->ndim != 0)
            return mg_error("%s: targets %s do not match input %s (a single class for unbatched input)", op,
                            mg_shp(t), mg_shp2(x));
        *N = 1, *C = x->shape[0];
    } else if (x->ndim == 2) {
        if (t->ndim != 1 || t->shape[0] != x->shape[0])
            return mg_error("%s: targets %s do not match input %s (expected [%lld])", op, mg_shp(t), mg_shp2(x),
                            (long long)x->shape[0]);
        *N = x->shape[0], *C = x->shape[1];
    } else {
        return mg_error("%s: input must be [N, C] or [C], got %s (flatten the other dims into N)", op, mg_shp(x));
    }
    int64_t cnt = 0;
    for (int64_t i = 0; i < *N; i++) {
        int64_t v = (int64_t)mg_get_flat(t, i);
        if (use_ignore && v == ignore) continue;
        if (v < 0 || v >= *C)
            return mg_error("%s: target %lld out of range for %lld classes (expected 0..%lld)", op, (long long)v,
                            (long long)*C, (long long)(*C - 1));
        cnt++;
    }
    *kept = cnt;
    return MG_OK;
}

/* Output of a class loss: [N] (or 0-dim for unbatched input) for none, else 0-dim. */
static mg_tensor *class_loss_out(const mg_tensor *x, mg_reduction r, int64_t N) {
    if (r == MG_REDUCE_NONE && x->ndim == 2) return mg_empty(MG_F32, 1, &N);
    return mg_empty(MG_F32, 0, NULL);
}

/* Writes the per-row losses rl into out: as they are (none), or summed or
 * averaged over the kept rows. */
static void class_loss_write(mg_tensor *out, const double *rl, int64_t N, int64_t kept, mg_reduction r) {
    if (r == MG_REDUCE_NONE) {
        float *po = mg_f32(out);
        for (int64_t i = 0; i < N; i++) po[i] = (float)rl[i];
        return;
    }
    double total = 0;
    for (int64_t i = 0; i < N; i++) total += rl[i];
    mg_f32(out)[0] = (float)(r == MG_REDUCE_MEAN ? total / (double)kept : total);
}

/* The gradient scale of row i: g / kept (mean), g (sum) or g[i] (none). */
static float row_scale(const float *gv, int64_t i, mg_reduction r, int64_t kept) {
    if (r == MG_REDUCE_NONE) return gv[i];
    return r == MG_REDUCE_MEAN ? gv[0] / (float)kept : gv[0];
}

/* Loss of row x (C) with log-sum-exp l and target t: (1 - ls) (l - x[t]) + ls / C sum_c (l - x[c]). */
static double ce_row(const float *x, int64_t C, float l, int64_t t, float ls) {
    double nll = (double)l - x[t];
    if (ls == 0) return nll;
    double sx = 0;
    for (int64_t c = 0; c < C; c++) sx += x[c];
    return (1.0 - ls) * nll + ls / (double)C * ((double)C * l - sx);
}

/* x (N,C), t (N) -> rl (N) per-row losses (0 where ignored), lse (N) */
static void ce_forward(double *rl, float *lse, const float *x, const int64_t *t, int64_t N, int64_t C, float ls,
                       int64_t ignore) {
    if (C > 0 && C < NN_SHORT_ROW) { /* short rows in blocks, the exps as one vector loop */
        int64_t rb = NN_ROW_BLOCK / C, nblk = (N + rb - 1) / rb;
#pragma omp parallel for if (N * C > MG_PAR_GRAIN / 4 && nblk > 1) schedule(static)
        for (int64_t b = 0; b < nblk; b++) {
            float m[NN_ROW_BLOCK], s[NN_ROW_BLOCK], buf[NN_ROW_BLOCK];
            int64_t r0 = b * rb, nr = N - r0 < rb ? N - r0 : rb;
            nn_exp_rows(buf, m, s, x + r0 * C, nr, C);
            for (int64_t r = 0; r < nr; r++) {
                int64_t i = r0 + r;
                lse[i] = m[r] + logf(s[r]);
                rl[i] = t[i] == ignore ? 0.0 : ce_row(x + i * C, C, lse[i], t[i], ls);
            }
        }
        return;
    }
#pragma omp parallel for if (N * C > MG_PAR_GRAIN / 4 && N > 1) schedule(static)
    for (int64_t i = 0; i < N; i++) {
        const float *xr = x + i * C;
        float m = -INFINITY, s = 0;
#pragma omp simd reduction(max : m)
        for (int64_t c = 0; c < C; c++) m = xr[c] > m ? xr[c] : m;
#pragma omp simd reduction(+ : s)
        for (int64_t c = 0; c < C; c++) s += nn_exp(xr[c] - m);
        lse[i] = m + logf(s);
        rl[i] = t[i] == ignore ? 0.0 : ce_row(xr, C, lse[i], t[i], ls);
    }
}

mg_tensor *mg_cross_entropy(mg_tensor *logits, const mg_tensor *targets, mg_reduction r, double label_smoothing,
                            int64_t ignore_index) {
    const char *op = "cross_entropy";
    mg_tensor *xc = NULL, *tc = NULL, *lse = NULL, *out = NULL;
    double *rl = NULL;
    int64_t N, C, kept;
    TRY_OK(check_class_args(op, logits, targets, r, ignore_index, true, &N, &C, &kept));
    CHECK(label_smoothing >= 0 && label_smoothing <= 1, "cross_entropy: label_smoothing must be in [0, 1], got %g",
          label_smoothing);
    TRY(xc = mg_as_contiguous(logits));
    TRY(tc = mg_as_contiguous(targets));
    TRY(lse = mg_empty(MG_F32, 1, &N));
    TRY(out = class_loss_out(logits, r, N));
    rl = malloc(sizeof(double) * (size_t)(N + 1));
    CHECK(rl, "cross_entropy: out of memory");
    ce_forward(rl, mg_f32(lse), mg_f32(xc), mg_i64(tc), N, C, (float)label_smoothing, ignore_index);
    class_loss_write(out, rl, N, kept, r);
    free(rl);
    rl = NULL;
    if (mg_needs_grad(1, &logits)) {
        mg_node *node = mg_record(MG_OP_cross_entropy, out, 1, &logits);
        TRY(node);
        TRY_OK(mg_save(node, xc));
        TRY_OK(mg_save(node, tc));
        TRY_OK(mg_save(node, lse));
        node->i[0] = ignore_index;
        node->i[1] = r;
        node->i[2] = kept;
        node->f[0] = label_smoothing;
    }
    mg_release(xc), mg_release(tc), mg_release(lse);
    return out;
fail:
    free(rl);
    mg_release(xc), mg_release(tc), mg_release(lse), mg_release(out);
    return NULL;
}

/* gx[i, c] = s_i (softmax(x_i)_c - ls / C - (1 - ls) [c == t_i]); 0 on ignored rows.
 * x (N,C), t, lse (N), g -> gx (N,C) */
int mg_bw_cross_entropy(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (!needs[0]) return MG_OK;
    mg_tensor *x = mg_saved(n, 0), *t = mg_saved(n, 1), *lse = mg_saved(n, 2);
    if (!x || !t || !lse) return MG_ERR;
    mg_tensor *gc = mg_as_contiguous(g);
    if (!gc) return MG_ERR;
    gin[0] = mg_empty(MG_F32, x->ndim, x->shape);
    if (!gin[0]) {
        mg_release(gc);
        return MG_ERR;
    }
    int64_t ignore = n->i[0], kept = n->i[2], N = mg_numel(lse), C = N ? mg_numel(x) / N : 0;
    mg_reduction r = (mg_reduction)n->i[1];
    float ls = (float)n->f[0], off = ls / (float)C;
    const float *px = mg_f32(x), *pl = mg_f32(lse), *gv = mg_f32(gc);
    const int64_t *pt = mg_i64(t);
    float *po = mg_f32(gin[0]);
    /* rows in blocks of up to NN_ROW_BLOCK elements (one row when rows are long): o = x - lse
     * row by row, then exp as one vector loop, then the per-row scale and target term */
    int64_t rb = C > 0 && C < NN_ROW_BLOCK ? NN_ROW_BLOCK / C : 1, nblk = (N + rb - 1) / rb;
#pragma omp parallel for if (N * C > MG_PAR_GRAIN / 4 && nblk > 1) schedule(static)
    for (int64_t b = 0; b < nblk; b++) {
        int64_t r0 = b * rb, nr = N - r0 < rb ? N - r0 : rb;
        for (int64_t i = r0; i < r0 + nr; i++) {
            const float *xr = px + i * C;
            float *o = po + i * C, l = pl[i];
#pragma omp simd
            for (int64_t c = 0; c < C; c++) o[c] = xr[c] - l;
        }
        float *ob = po + r0 * C;
#pragma omp simd
        for (int64_t k = 0; k < nr * C; k++) ob[k] = nn_exp(ob[k]);
        for (int64_t i = r0; i < r0 + nr; i++) {
            float *o = po + i * C;
            int64_t ti = pt[i];
            if (ti == ignore) {
                for (int64_t c = 0; c < C; c++) o[c] = 0;
                continue;
            }
            float sc = row_scale(gv, i, r, kept);
#pragma omp simd
            for (int64_t c = 0; c < C; c++) o[c] = sc * (o[c] - off);
            o[ti] -= sc * (1.0f - ls);
        }
    }
    mg_release(gc);
    return MG_OK;
}

mg_tensor *mg_nll_loss(mg_tensor *logp, const mg_tensor *targets, mg_reduction r) {
    const char *op = "nll_loss";
    mg_tensor *xc = NULL, *tc = NULL, *out = NULL;
    double *rl = NULL;
    int64_t N, C, kept;
    TRY_OK(check_class_args(op, logp, targets, r, 0, false, &N, &C, &kept));
    TRY(xc = mg_as_contiguous(logp));
    TRY(tc = mg_as_contiguous(targets));
    TRY(out = class_loss_out(logp, r, N));
    rl = malloc(sizeof(double) * (size_t)(N + 1));
    CHECK(rl, "nll_loss: out of memory");
    const float *px = mg_f32(xc);
    const int64_t *pt = mg_i64(tc);
    for (int64_t i = 0; i < N; i++) rl[i] = -(double)px[i * C + pt[i]];
    class_loss_write(out, rl, N, kept, r);
    free(rl);
    rl = NULL;
    if (mg_needs_grad(1, &logp)) {
        mg_node *node = mg_record(MG_OP_nll_loss, out, 1, &logp);
        TRY(node);
        TRY_OK(mg_save(node, tc));
        node->i[1] = r;
        node->i[2] = kept;
    }
    mg_release(xc), mg_release(tc);
    return out;
fail:
    free(rl);
    mg_release(xc), mg_release(tc), mg_release(out);
    return NULL;
}

/* gx[i, t_i] = -s_i, zero elsewhere. t (N), g -> gx (N,C) */
int mg_bw_nll_loss(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (!needs[0]) return MG_OK;
    mg_tensor *t = mg_saved(n, 0);
    if (!t) return MG_ERR;
    mg_tensor *gc = mg_as_contiguous(g);
    if (!gc) return MG_ERR;
    gin[0] = mg_zeros(MG_F32, n->in[0].ndim, n->in[0].shape);
    if (gin[0]) {
        int64_t N = mg_numel(t), C = N ? mg_numel(gin[0]) / N : 0, kept = n->i[2];
        mg_reduction r = (mg_reduction)n->i[1];
        const int64_t *pt = mg_i64(t);
        const float *gv = mg_f32(gc);
        float *po = mg_f32(gin[0]);
        for (int64_t i = 0; i < N; i++) po[i * C + pt[i]] = -row_scale(gv, i, r, kept);
    }
    mg_release(gc);
    return gin[0] ? MG_OK : MG_ERR;
}
