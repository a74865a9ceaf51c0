/*
 * Normalisation as fused ops: batch_norm (per channel over the batch and
 * the spatial dims; running statistics updated in training) and
 * layer_norm (per row over the trailing dims). Each records one tape node
 * that saves its input and the per-channel (per-row) mean and 1/std, so
 * backward is one pass of sums and one elementwise pass. Sums are formed
 * in a fixed order (one thread per channel or column block), so results
 * do not depend on the thread count.
 */
#include "internal.h"

#include <stdlib.h>

/* Channels handled by one task when x is [N, C] (the sums run along C). */
#define BN_CBLK 64
/* Rows summed in float before joining the double totals ([N, C] input). */
#define BN_FLUSH 16
/* Elements per chunk of rows whose weight and bias gradients layer_norm sums apart. */
#define LN_CHUNK 16384

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Element c of a 1-D float tensor (any stride). */
static inline float at1(const mg_tensor *t, int64_t c) { return mg_f32(t)[c * t->stride[0]]; }

/* ---- batch norm kernels: x is seen as (N, C, S), S the product of the dims
 *      after C (1 for [N, C]) ------------------------------------------------ */

/* Per-channel sums over N and S of d = x - shift[c]:
 * g NULL: s1 = sum d, s2 = sum d^2 (moments for the statistics);
 * else    s1 = sum g, s2 = sum g d (for the backward pass).
 * x, g (N,C,S), shift (C) -> s1, s2 (C) */
static void bn_sums(double *s1, double *s2, const float *x, const float *g, const float *shift, int64_t N,
                    int64_t C, int64_t S) {
    bool par = N * C * S > MG_PAR_GRAIN;
    if (S == 1) { /* [N, C]: rows of a channel block summed in float, BN_FLUSH rows at a time */
        int64_t nb = (C + BN_CBLK - 1) / BN_CBLK;
#pragma omp parallel for if (par && nb > 1) schedule(static)
        for (int64_t b = 0; b < nb; b++) {
            int64_t c0 = b * BN_CBLK, w = min64(C, c0 + BN_CBLK) - c0;
            float f1[BN_CBLK], f2[BN_CBLK];
            const float *sh = shift + c0;
            for (int64_t c = 0; c < w; c++) s1[c0 + c] = s2[c0 + c] = 0;
            for (int64_t n0 = 0; n0 < N; n0 += BN_FLUSH) {
                int64_t n1 = min64(N, n0 + BN_FLUSH);
                for (int64_t c = 0; c < w; c++) f1[c] = f2[c] = 0;
                for (int64_t n = n0; n < n1; n++) {
                    const float *xr = x + n * C + c0;
                    if (g) {
                        const float *gr = g + n * C + c0;
#pragma omp simd
                        for (int64_t c = 0; c < w; c++) {
                            f1[c] += gr[c];
                            f2[c] += gr[c] * (xr[c] - sh[c]);
                        }
                    } else {
#pragma omp simd
                        for (int64_t c = 0; c < w; c++) {
                            float d = xr[c] - sh[c];
                            f1[c] += d;
                            f2[c] += d * d;
                        }
                    }
                }
                for (int64_t c = 0; c < w; c++) {
                    s1[c0 + c] += f1[c];
                    s2[c0 + c] += f2[c];
                }
            }
        }
        return;
    }
#pragma omp parallel for if (par && C > 1) schedule(static)
    for (int64_t c = 0; c < C; c++) {
        double a1 = 0, a2 = 0;
        float k = shift[c];
        for (int64_t n = 0; n < N; n++) {
            const float *xp = x + (n * C + c) * S;
            float b1 = 0, b2 = 0;
            if (g) {
                const float *gp = g + (n * C + c) * S;
#pragma omp simd reduction(+ : b1, b2)
                for (int64_t i = 0; i < S; i++) {
                    b1 += gp[i];
                    b2 += gp[i] * (xp[i] - k);
                }
            } else {
#pragma omp simd reduction(+ : b1, b2)
                for (int64_t i = 0; i < S; i++) {
                    float d = xp[i] - k;
                    b1 += d;
                    b2 += d * d;
                }
            }
            a1 += b1;
            a2 += b2;
        }
        s1[c] = a1;
        s2[c] = a2;
    }
}

/* x (N,C,S), mean, scale, beta (C) -> out = (x - mean[c]) scale[c] + beta[c] (N,C,S) */
static void bn_normalize(float *out, const float *x, const float *mean, const float *scale, const float *beta,
                         int64_t N, int64_t C, int64_t S) {
    bool par = N * C * S > MG_PAR_GRAIN;
    if (S == 1) {
#pragma omp parallel for if (par && N > 1) schedule(static)
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x + n * C;
            float *o = out + n * C;
#pragma omp simd
            for (int64_t c = 0; c < C; c++) o[c] = (xr[c] - mean[c]) * scale[c] + beta[c];
        }
        return;
    }
#pragma omp parallel for if (par && N * C > 1) schedule(static)
    for (int64_t nc = 0; nc < N * C; nc++) {
        int64_t c = nc % C;
        const float *xp = x + nc * S;
        float *o = out + nc * S, mc = mean[c], sc = scale[c], bc = beta[c];
#pragma omp simd
        for (int64_t i = 0; i < S; i++) o[i] = (xp[i] - mc) * sc + bc;
    }
}

/* out = a[c] g + b[c] (x - mean[c]) + d[c]; with x NULL: out = a[c] g + d[c].
 * g, x (N,C,S), mean, a, b, d (C) -> out (N,C,S) */
static void bn_affine(float *out, const float *g, const float *x, const float *mean, const float *a, const float *b,
                      const float *d, int64_t N, int64_t C, int64_t S) {
    bool par = N * C * S > MG_PAR_GRAIN;
    if (S == 1) {
#pragma omp parallel for if (par && N > 1) schedule(static)
        for (int64_t n = 0; n < N; n++) {
            const float *gr = g + n * C;
            float *o = out + n * C;
            if (x) {
                const float *xr = x + n * C;
#pragma omp simd
                for (int64_t c = 0; c < C; c++) o[c] = a[c] * gr[c] + b[c] * (xr[c] - mean[c]) + d[c];
            } else {
#pragma omp simd
                for (int64_t c = 0; c < C; c++) o[c] = a[c] * gr[c] + d[c];
            }
        }
        return;
    }
#pragma omp parallel for if (par && N * C > 1) schedule(static)
    for (int64_t nc = 0; nc < N * C; nc++) {
        int64_t c = nc % C;
        const float *gp = g + nc * S;
        float *o = out + nc * S, ac = a[c], dc = d[c];
        if (x) {
            const float *xp = x + nc * S;
            float bc = b[c], mc = mean[c];
#pragma omp simd
            for (int64_t i = 0; i < S; i++) o[i] = ac * gp[i] + bc * (xp[i] - mc) + dc;
        } else {
#pragma omp simd
            for (int64_t i = 0; i < S; i++) o[i] = ac * gp[i] + dc;
        }
    }
}

/* ---- batch norm ------------------------------------------------------------ */

static int check_channel_param(const char *what, const mg_tensor *p, int64_t C, const mg_tensor *x) {
    if (!p) return MG_OK;
    if (p->dtype != MG_F32)
        return mg_error("batch_norm: %s must be float32, got %s", what, mg_dtype_name(p->dtype));
    if (p->ndim != 1 || p->shape[0] != C)
        return mg_error("batch_norm: %s %s does not match the %lld channels of input %s (expected [%lld])", what,
                        mg_shp(p), (long long)C, mg_shp2(x), (long long)C);
    return MG_OK;
}

mg_tensor *mg_batch_norm(mg_tensor *x, mg_tensor *weight, mg_tensor *bias, mg_tensor *running_mean,
                         mg_tensor *running_var, bool training, double momentum, double eps) {
    mg_tensor *xc = NULL, *out = NULL, *stats = NULL;
    float *scratch = NULL;
    double *acc = NULL;
    CHECK(x->dtype == MG_F32, "batch_norm: input must be float32, got %s", mg_dtype_name(x->dtype));
    CHECK(x->ndim >= 2, "batch_norm: input must be [N, C] or [N, C, ...], got %s", mg_shp(x));
    int64_t N = x->shape[0], C = x->shape[1], S = 1;
    for (int d = 2; d < x->ndim; d++) S *= x->shape[d];
    TRY_OK(check_channel_param("weight", weight, C, x));
    TRY_OK(check_channel_param("bias", bias, C, x));
    TRY_OK(check_channel_param("running_mean", running_mean, C, x));
    TRY_OK(check_channel_param("running_var", running_var, C, x));
    CHECK(!running_mean == !running_var, "batch_norm: running_mean and running_var must be given together");
    CHECK(eps >= 0, "batch_norm: eps must be >= 0, got %g", eps);
    /* without running statistics, eval mode normalises with the batch's own
     * (as PyTorch's track_running_stats = false) */
    bool use_batch = training || !running_mean;
    int64_t M = N * S;
    CHECK(!use_batch || M > 1,
          "batch_norm: expected more than 1 value per channel when training, got input %s", mg_shp(x));
    bool update = training && running_mean;
    if (update) {
        TRY_OK(mg_check_inplace("batch_norm", running_mean));
        TRY_OK(mg_check_inplace("batch_norm", running_var));
    }
    TRY(xc = mg_as_contiguous(x));
    TRY(out = mg_empty(MG_F32, x->ndim, x->shape));
    TRY(stats = mg_empty(MG_F32, 2, (int64_t[]){2, C}));
    scratch = malloc(sizeof(float) * (size_t)(2 * C + 1));
    CHECK(scratch, "batch_norm: out of memory");
    float *mean = mg_f32(stats), *invstd = mean + C, *scale = scratch, *beta = scratch + C;
    const float *px = mg_f32(xc);
    if (use_batch) {
        acc = malloc(sizeof(double) * (size_t)(2 * C + 1));
        CHECK(acc, "batch_norm: out of memory");
        /* moments about the channel's first value, so a large mean does not
         * cancel the variance away */
        for (int64_t c = 0; c < C; c++) scale[c] = M > 0 ? px[c * S] : 0.0f;
        bn_sums(acc, acc + C, px, NULL, scale, N, C, S);
        for (int64_t c = 0; c < C; c++) {
            double m1 = acc[c] / (double)M, var = acc[C + c] / (double)M - m1 * m1;
            if (var < 0) var = 0;
            double mu = scale[c] + m1;
            mean[c] = (float)mu;
            invstd[c] = (float)(1.0 / sqrt(var + eps));
            if (update) {
                float *rm = mg_f32(running_mean) + c * running_mean->stride[0];
                float *rv = mg_f32(running_var) + c * running_var->stride[0];
                *rm = (float)((1.0 - momentum) * *rm + momentum * mu);
                *rv = (float)((1.0 - momentum) * *rv + momentum * var * (double)M / (double)(M - 1));
            }
        }
        if (update) {
            mg_bump_version(running_mean);
            mg_bump_version(running_var);
        }
    } else {
        for (int64_t c = 0; c < C; c++) {
            mean[c] = at1(running_mean, c);
            invstd[c] = (float)(1.0 / sqrt((double)at1(running_var, c) + eps));
        }
    }
    for (int64_t c = 0; c < C; c++) {
        scale[c] = invstd[c] * (weight ? at1(weight, c) : 1.0f);
        beta[c] = bias ? at1(bias, c) : 0.0f;
    }
    bn_normalize(mg_f32(out), px, mean, scale, beta, N, C, S);
    mg_tensor *ins[3] = {x, weight, bias};
    if (mg_needs_grad(3, ins)) {
        mg_node *n = mg_record(MG_OP_batch_norm, out, 3, ins);
        TRY(n);
        TRY_OK(mg_save(n, xc));
        TRY_OK(mg_save(n, stats));
        if (weight) TRY_OK(mg_save(n, weight));
        n->i[0] = use_batch;
        n->i[1] = weight != NULL;
    }
    free(scratch), free(acc);
    mg_release(xc), mg_release(stats);
    return out;
fail:
    free(scratch), free(acc);
    mg_release(xc), mg_release(stats), mg_release(out);
    return NULL;
}

int mg_bw_batch_norm(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    mg_tensor *x = mg_saved(n, 0), *stats = mg_saved(n, 1), *w = n->i[1] ? mg_saved(n, 2) : NULL;
    if (!x || !stats || (n->i[1] && !w)) return MG_ERR;
    bool batch = n->i[0];
    int64_t N = x->shape[0], C = x->shape[1], S = 1;
    for (int d = 2; d < x->ndim; d++) S *= x->shape[d];
    double M = (double)(N * S);
    const float *mean = mg_f32(stats), *invstd = mean + C;
    mg_tensor *gc = NULL;
    float *coef = NULL;
    double *acc = NULL;
    int rc = MG_ERR;
    TRY(gc = mg_as_contiguous(g));
    const float *pg = mg_f32(gc), *px = mg_f32(x);
    coef = malloc(sizeof(float) * (size_t)(3 * C + 1));
    CHECK(coef, "batch_norm: out of memory in backward");
    if (needs[1] || needs[2] || (needs[0] && batch)) {
        acc = malloc(sizeof(double) * (size_t)(2 * C + 1));
        CHECK(acc, "batch_norm: out of memory in backward");
        bn_sums(acc, acc + C, px, pg, mean, N, C, S); /* sum g, sum g (x - mean) */
    }
    if (needs[1]) {
        TRY(gin[1] = mg_empty(MG_F32, 1, &C));
        float *gw = mg_f32(gin[1]);
        for (int64_t c = 0; c < C; c++) gw[c] = (float)(acc[C + c] * invstd[c]);
    }
    if (needs[2]) {
        TRY(gin[2] = mg_empty(MG_F32, 1, &C));
        float *gb = mg_f32(gin[2]);
        for (int64_t c = 0; c < C; c++) gb[c] = (float)acc[c];
    }
    if (needs[0]) {
        /* gx = k (g - sum g / M - xhat sum(g xhat) / M), k = w invstd, xhat = (x - mean) invstd */
        float *a = coef, *b = coef + C, *d = coef + 2 * C;
        for (int64_t c = 0; c < C; c++) {
            double k = (double)invstd[c] * (w ? at1(w, c) : 1.0f);
            a[c] = (float)k;
            b[c] = batch ? (float)(-k * invstd[c] * invstd[c] * acc[C + c] / M) : 0.0f;
            d[c] = batch ? (float)(-k * acc[c] / M) : 0.0f;
        }
        TRY(gin[0] = mg_empty(MG_F32, x->ndim, x->shape));
        bn_affine(mg_f32(gin[0]), pg, batch ? px : NULL, mean, a, b, d, N, C, S);
    }
    rc = MG_OK;
fail:
    free(coef), free(acc);
    mg_release(gc);
    return rc;
}

/* ---- layer norm --------------------------------------------------------------- */

/* x (R,D), w, b (D) or NULL -> out (R,D), stats (R,2): mean and 1/std per row */
static void ln_forward(float *out, float *stats, const float *x, const float *w, const float *b, int64_t R,
                       int64_t D, double eps) {
#pragma omp parallel for if (R * D > MG_PAR_GRAIN && R > 1) schedule(static)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * D;
        float *o = out + r * D;
        double s = 0, v = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < D; i++) s += xr[i];
        float mean = (float)(s / (double)D);
#pragma omp simd reduction(+ : v)
        for (int64_t i = 0; i < D; i++) {
            float dv = xr[i] - mean;
            v += dv * dv;
        }
        float invstd = (float)(1.0 / sqrt(v / (double)D + eps));
        stats[2 * r] = mean;
        stats[2 * r + 1] = invstd;
        if (w && b) {
#pragma omp simd
            for (int64_t i = 0; i < D; i++) o[i] = (xr[i] - mean) * invstd * w[i] + b[i];
        } else if (w) {
#pragma omp simd
            for (int64_t i = 0; i < D; i++) o[i] = (xr[i] - mean) * invstd * w[i];
        } else {
#pragma omp simd
            for (int64_t i = 0; i < D; i++) o[i] = (xr[i] - mean) * invstd;
            if (b) {
#pragma omp simd
                for (int64_t i = 0; i < D; i++) o[i] += b[i];
            }
        }
    }
}

/* One pass over the rows of layer_norm's backward: gx, and per chunk of
 * `rpc` rows the partial sums of g xhat (pw) and of g (pb), added up in
 * chunk order afterwards so the thread count does not change them.
 * g, x (R,D), stats (R,2), w (D) or NULL -> gx (R,D), pw, pb (chunks,D); any output may be NULL */
static void ln_backward(float *gx, float *pw, float *pb, const float *g, const float *x, const float *stats,
                        const float *w, int64_t R, int64_t D, int64_t rpc) {
    int64_t nch = (R + rpc - 1) / rpc;
#pragma omp parallel for if (R * D > MG_PAR_GRAIN && nch > 1) schedule(static)
    for (int64_t ch = 0; ch < nch; ch++) {
        float *cw = pw ? pw + ch * D : NULL, *cb = pb ? pb + ch * D : NULL;
        for (int64_t i = 0; i < D; i++) {
            if (cw) cw[i] = 0;
            if (cb) cb[i] = 0;
        }
        for (int64_t r = ch * rpc; r < R && r < (ch + 1) * rpc; r++) {
            const float *gr = g + r * D, *xr = x + r * D;
            float mean = stats[2 * r], invstd = stats[2 * r + 1];
            if (gx) {
                float *o = gx + r * D, s1 = 0, s2 = 0;
                if (w) {
#pragma omp simd reduction(+ : s1, s2)
                    for (int64_t i = 0; i < D; i++) {
                        float gy = gr[i] * w[i];
                        s1 += gy;
                        s2 += gy * (xr[i] - mean);
                    }
                } else {
#pragma omp simd reduction(+ : s1, s2)
                    for (int64_t i = 0; i < D; i++) {
                        s1 += gr[i];
                        s2 += gr[i] * (xr[i] - mean);
                    }
                }
                /* gx = invstd (gy - mean(gy) - xhat mean(gy xhat)) */
                float c1 = s1 / (float)D, c2 = s2 * invstd * invstd / (float)D;
                if (w) {
#pragma omp simd
                    for (int64_t i = 0; i < D; i++) o[i] = invstd * (gr[i] * w[i] - c1 - (xr[i] - mean) * c2);
                } else {
#pragma omp simd
                    for (int64_t i = 0; i < D; i++) o[i] = invstd * (gr[i] - c1 - (xr[i] - mean) * c2);
                }
            }
            if (cw) {
#pragma omp simd
                for (int64_t i = 0; i < D; i++) cw[i] += gr[i] * ((xr[i] - mean) * invstd);
            }
            if (cb) {
#pragma omp simd
                for (int64_t i = 0; i < D; i++) cb[i] += gr[i];
            }
        }
    }
}

/* out (D) = sum over chunks of part (chunks,D), in chunk order */
static void sum_chunks(float *out, const float *part, int64_t chunks, int64_t D) {
    for (int64_t i = 0; i < D; i++) out[i] = 0;
    for (int64_t ch = 0; ch < chunks; ch++) {
#pragma omp simd
        for (int64_t i = 0; i < D; i++) out[i] += part[ch * D + i];
    }
}

static int check_ln_param(const char *what, const mg_tensor *p, const mg_tensor *x, int nnorm) {
    if (!p) return MG_OK;
    if (p->dtype != MG_F32)
        return mg_error("layer_norm: %s must be float32, got %s", what, mg_dtype_name(p->dtype));
    bool ok = p->ndim == nnorm;
    for (int d = 0; ok && d < nnorm; d++) ok = p->shape[d] == x->shape[x->ndim - nnorm + d];
    if (!ok) {
        char buf[MG_SHAPE_BUF];
        return mg_error("layer_norm: %s %s does not match the normalised shape %s of input %s", what, mg_shp(p),
                        mg_shape_str_raw(nnorm, x->shape + x->ndim - nnorm, buf, sizeof buf), mg_shp2(x));
    }
    return MG_OK;
}

mg_tensor *mg_layer_norm(mg_tensor *x, int nnorm, mg_tensor *weight, mg_tensor *bias, double eps) {
    mg_tensor *xc = NULL, *wc = NULL, *bc = NULL, *out = NULL, *stats = NULL;
    CHECK(x->dtype == MG_F32, "layer_norm: input must be float32, got %s", mg_dtype_name(x->dtype));
    CHECK(nnorm >= 1 && nnorm <= x->ndim, "layer_norm: cannot normalise over the last %d dims of input %s", nnorm,
          mg_shp(x));
    CHECK(eps >= 0, "layer_norm: eps must be >= 0, got %g", eps);
    TRY_OK(check_ln_param("weight", weight, x, nnorm));
    TRY_OK(check_ln_param("bias", bias, x, nnorm));
    int64_t D = 1;
    for (int d = x->ndim - nnorm; d < x->ndim; d++) D *= x->shape[d];
    int64_t R = D ? mg_numel(x) / D : 0;
    TRY(xc = mg_as_contiguous(x));
    if (weight) TRY(wc = mg_as_contiguous(weight));
    if (bias) TRY(bc = mg_as_contiguous(bias));
    TRY(out = mg_empty(MG_F32, x->ndim, x->shape));
    TRY(stats = mg_empty(MG_F32, 2, (int64_t[]){R, 2}));
    ln_forward(mg_f32(out), mg_f32(stats), mg_f32(xc), wc ? mg_f32(wc) : NULL, bc ? mg_f32(bc) : NULL, R, D, eps);
    mg_tensor *ins[3] = {x, weight, bias};
    if (mg_needs_grad(3, ins)) {
        mg_node *n = mg_record(MG_OP_layer_norm, out, 3, ins);
        TRY(n);
        TRY_OK(mg_save(n, xc));
        TRY_OK(mg_save(n, stats));
        if (wc) TRY_OK(mg_save(n, wc));
        n->i[0] = nnorm;
        n->i[1] = wc != NULL;
    }
    mg_release(xc), mg_release(wc), mg_release(bc), mg_release(stats);
    return out;
fail:
    mg_release(xc), mg_release(wc), mg_release(bc), mg_release(stats), mg_release(out);
    return NULL;
}

int mg_bw_layer_norm(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    mg_tensor *x = mg_saved(n, 0), *stats = mg_saved(n, 1), *w = n->i[1] ? mg_saved(n, 2) : NULL;
    if (!x || !stats || (n->i[1] && !w)) return MG_ERR;
    int nnorm = (int)n->i[0];
    int64_t D = 1;
    for (int d = x->ndim - nnorm; d < x->ndim; d++) D *= x->shape[d];
    int64_t R = D ? mg_numel(x) / D : 0;
    mg_tensor *gc = mg_as_contiguous(g);
    if (!gc) return MG_ERR;
    const float *pg = mg_f32(gc), *px = mg_f32(x), *ps = mg_f32(stats);
    int64_t rpc = D > 0 && D < LN_CHUNK ? LN_CHUNK / D : 1, chunks = (R + rpc - 1) / rpc;
    float *part = NULL;
    int rc = MG_ERR;
    if (needs[0]) TRY(gin[0] = mg_empty(MG_F32, x->ndim, x->shape));
    if (needs[1]) TRY(gin[1] = mg_empty(MG_F32, n->in[1].ndim, n->in[1].shape));
    if (needs[2]) TRY(gin[2] = mg_empty(MG_F32, n->in[2].ndim, n->in[2].shape));
    if (needs[1] || needs[2]) {
        part = malloc(sizeof(float) * (size_t)(2 * chunks * D + 1));
        CHECK(part, "layer_norm: out of memory in backward");
    }
    float *pw = needs[1] ? part : NULL, *pb = needs[2] ? part + chunks * D : NULL;
    ln_backward(needs[0] ? mg_f32(gin[0]) : NULL, pw, pb, pg, px, ps, w ? mg_f32(w) : NULL, R, D, rpc);
    if (pw) sum_chunks(mg_f32(gin[1]), pw, chunks, D);
    if (pb) sum_chunks(mg_f32(gin[2]), pb, chunks, D);
    rc = MG_OK;
fail:
    free(part);
    mg_release(gc);
    return rc;
}
