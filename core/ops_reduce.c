/*
 * Reductions: sum and mean (all or one dim), sum_to_shape, max/min with
 * indices, argmax/argmin, var and logsumexp. A reduced dim is seen as
 * [outer, n, inner] over a contiguous copy of the input. Integer inputs of
 * sum, mean, max, min, argmax and argmin go to reduce_int.c.
 */
#include "internal.h"
#include "reduce_int.h"

#include <float.h>

/* Sum of a contiguous run: float SIMD lanes per block, blocks added in
 * double, so a million elements keep about 7 significant digits. */
static double sum_run(const float *x, int64_t n) {
    double total = 0;
    int64_t i = 0;
    while (i < n) {
        int64_t m = n - i < 4096 ? n - i : 4096;
        float acc[16] = {0};
        int64_t j = 0;
        for (; j + 16 <= m; j += 16)
            for (int l = 0; l < 16; l++) acc[l] += x[i + j + l];
        float s = 0;
        for (int l = 0; l < 16; l++) s += acc[l];
        for (; j < m; j++) s += x[i + j];
        total += s;
        i += m;
    }
    return total;
}

static int check_f32(const char *op, const mg_tensor *t) {
    if (t->dtype != MG_F32)
        return mg_error("%s: needs a float32 tensor, got %s (convert with :float())", op, mg_dtype_name(t->dtype));
    return MG_OK;
}

static void split_dim(const mg_tensor *t, int dim, int64_t *outer, int64_t *n, int64_t *inner) {
    *outer = 1, *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= t->shape[d];
    for (int d = dim + 1; d < t->ndim; d++) *inner *= t->shape[d];
    *n = t->ndim ? t->shape[dim] : 1;
}

static void reduced_shape(const mg_tensor *t, int dim, bool keepdim, int *nd, int64_t *shape) {
    int k = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (d != dim) shape[k++] = t->shape[d];
        else if (keepdim) shape[k++] = 1;
    }
    *nd = k;
}

/* Gradient of a reduction: g (reduced shape) broadcast back to the input. */
static mg_tensor *expand_back(mg_node *n, mg_tensor *g, int dim, bool keepdim) {
    mg_tensor *u = (dim >= 0 && !keepdim && n->in[0].ndim > 0) ? mg_unsqueeze(g, dim) : mg_retain(g);
    if (!u) return NULL;
    mg_tensor *e = mg_expand(u, n->in[0].ndim, n->in[0].shape);
    mg_release(u);
    return e;
}

/* ---- sum and mean ----------------------------------------------------------- */

mg_tensor *mg_sum(mg_tensor *t) {
    if (t->dtype != MG_F32) return mg_int_sum(t, MG_ALL_DIMS, false);
    mg_tensor *c = mg_as_contiguous(t);
    if (!c) return NULL;
    mg_tensor *out = mg_scalar(sum_run(mg_f32(c), mg_numel(c)));
    mg_release(c);
    if (!out || !mg_needs_grad(1, &t)) return out;
    if (!mg_record(MG_OP_sum, out, 1, &t)) {
        mg_release(out);
        return NULL;
    }
    return out;
}

int mg_bw_sum(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (needs[0] && !(gin[0] = expand_back(n, g, -1, true))) return MG_ERR;
    return MG_OK;
}

mg_tensor *mg_sum_dim(mg_tensor *t, int dim, bool keepdim) {
    if (t->dtype != MG_F32) return mg_int_sum(t, dim, keepdim);
    if ((dim = mg_check_dim("sum", dim, t->ndim)) < 0) return NULL;
    int nd;
    int64_t shape[MG_MAX_DIMS], outer, n, inner;
    reduced_shape(t, dim, keepdim, &nd, shape);
    split_dim(t, dim, &outer, &n, &inner);
    mg_tensor *c = mg_as_contiguous(t), *out = c ? mg_empty(MG_F32, nd, shape) : NULL;
    if (!out) {
        mg_release(c);
        return NULL;
    }
    const float *x = mg_f32(c);
    float *o = mg_f32(out);
    if (inner == 1) {
#pragma omp parallel for if (outer * n > MG_PAR_GRAIN && outer > 1) schedule(static)
        for (int64_t r = 0; r < outer; r++) o[r] = (float)sum_run(x + r * n, n);
    } else {
        int64_t chunks = outer >= mg_threads() ? outer : outer * ((inner + 255) / 256);
        int64_t per = outer ? chunks / outer : 1; /* outer 0: an empty result, no chunks */
#pragma omp parallel for if (outer * n * inner > MG_PAR_GRAIN && chunks > 1) schedule(static)
        for (int64_t c2 = 0; c2 < chunks; c2++) {
            int64_t r = c2 / per, s = c2 % per;
            int64_t lo = inner * s / per, hi = inner * (s + 1) / per;
            float *orow = o + r * inner;
            const float *xr = x + r * n * inner;
            for (int64_t j = lo; j < hi; j++) orow[j] = 0;
            for (int64_t k = 0; k < n; k++)
                for (int64_t j = lo; j < hi; j++) orow[j] += xr[k * inner + j];
        }
    }
    mg_release(c);
    if (!mg_needs_grad(1, &t)) return out;
    mg_node *node = mg_record(MG_OP_sum_dim, out, 1, &t);
    if (!node) {
        mg_release(out);
        return NULL;
    }
    node->i[0] = dim;
    node->i[1] = keepdim;
    return out;
}

int mg_bw_sum_dim(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (needs[0] && !(gin[0] = expand_back(n, g, (int)n->i[0], n->i[1]))) return MG_ERR;
    return MG_OK;
}

mg_tensor *mg_mean(mg_tensor *t) {
    if (t->dtype != MG_F32) return mg_int_mean(t, MG_ALL_DIMS, false);
    mg_tensor *s = mg_sum(t);
    if (!s) return NULL;
    int64_t n = mg_numel(t);
    mg_tensor *out = mg_mul_scalar(s, n ? 1.0 / (double)n : NAN);
    mg_release(s);
    return out;
}

mg_tensor *mg_mean_dim(mg_tensor *t, int dim, bool keepdim) {
    if (t->dtype != MG_F32) return mg_int_mean(t, dim, keepdim);
    int d = mg_check_dim("mean", dim, t->ndim);
    if (d < 0) return NULL;
    mg_tensor *s = mg_sum_dim(t, d, keepdim);
    if (!s) return NULL;
    int64_t n = t->ndim ? t->shape[d] : 1;
    mg_tensor *out = mg_mul_scalar(s, n ? 1.0 / (double)n : NAN);
    mg_release(s);
    return out;
}

mg_tensor *mg_sum_to_shape(mg_tensor *t, int ndim, const int64_t *shape) {
    char want[MG_SHAPE_BUF];
    int lead = t->ndim - ndim;
    if (lead < 0) goto bad;
    for (int d = 0; d < ndim; d++)
        if (shape[d] != 1 && shape[d] != t->shape[lead + d]) goto bad;
    mg_tensor *cur = mg_retain(t);
    if (lead > 0) {
        int64_t sh[MG_MAX_DIMS];
        sh[0] = 1;
        for (int d = 0; d < lead; d++) sh[0] *= t->shape[d];
        for (int d = 0; d < ndim; d++) sh[1 + d] = t->shape[lead + d];
        mg_tensor *r = mg_reshape(cur, ndim + 1, sh);
        mg_release(cur);
        cur = r ? mg_sum_dim(r, 0, false) : NULL;
        mg_release(r);
        if (!cur) return NULL;
    }
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1 && cur->shape[d] != 1) {
            mg_tensor *s = mg_sum_dim(cur, d, true);
            mg_release(cur);
            if (!(cur = s)) return NULL;
        }
    }
    return cur;
bad:
    mg_error("sum_to_shape: %s cannot be reduced to %s", mg_shp(t), mg_shape_str_raw(ndim, shape, want, sizeof want));
    return NULL;
}

/* ---- max and min -------------------------------------------------------------- */

/* Values and indices of the max (sign 1) or min (sign -1) along dim; NaN wins. */
static int extreme_dim(const char *op, int opcode, mg_tensor *t, int dim, bool keepdim, int sign,
                       mg_tensor **values, mg_tensor **indices) {
    if (t->dtype != MG_F32) return mg_int_extreme(op, t, dim, keepdim, sign, values, indices);
    if ((dim = mg_check_dim(op, dim, t->ndim)) < 0) return MG_ERR;
    int64_t outer, n, inner, shape[MG_MAX_DIMS];
    int nd;
    split_dim(t, dim, &outer, &n, &inner);
    if (n == 0) return mg_error("%s: cannot reduce an empty dim (dim %d of %s)", op, dim + 1, mg_shp(t));
    reduced_shape(t, dim, keepdim, &nd, shape);
    mg_tensor *c = mg_as_contiguous(t);
    mg_tensor *v = c ? mg_empty(MG_F32, nd, shape) : NULL, *ix = v ? mg_empty(MG_I64, nd, shape) : NULL;
    if (!ix) {
        mg_release(c), mg_release(v);
        return MG_ERR;
    }
    const float *x = mg_f32(c);
    float *pv = mg_f32(v);
    int64_t *pi = mg_i64(ix);
    float s = (float)sign;
#pragma omp parallel for if (outer * n * inner > MG_PAR_GRAIN && outer > 1) schedule(static)
    for (int64_t r = 0; r < outer; r++) {
        for (int64_t j = 0; j < inner; j++) {
            const float *p = x + r * n * inner + j;
            float best = p[0];
            int64_t bi = 0;
            for (int64_t k = 1; k < n && !isnan(best); k++) {
                float val = p[k * inner];
                if (s * val > s * best || isnan(val)) best = val, bi = k;
            }
            pv[r * inner + j] = best;
            pi[r * inner + j] = bi;
        }
    }
    mg_release(c);
    if (mg_needs_grad(1, &t)) {
        mg_node *node = mg_record(opcode, v, 1, &t);
        if (!node || mg_save(node, ix)) {
            mg_release(v), mg_release(ix);
            return MG_ERR;
        }
        node->i[0] = dim;
        node->i[1] = keepdim;
    }
    *values = v;
    if (indices) *indices = ix;
    else mg_release(ix);
    return MG_OK;
}

int mg_max_dim(mg_tensor *t, int dim, bool keepdim, mg_tensor **values, mg_tensor **indices) {
    return extreme_dim("max", MG_OP_max_dim, t, dim, keepdim, 1, values, indices);
}

int mg_min_dim(mg_tensor *t, int dim, bool keepdim, mg_tensor **values, mg_tensor **indices) {
    return extreme_dim("min", MG_OP_min_dim, t, dim, keepdim, -1, values, indices);
}

/* The gradient flows to the chosen element of each reduced row. */
static int bw_extreme(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (!needs[0]) return MG_OK;
    mg_tensor *ix = mg_saved(n, 0);
    if (!ix) return MG_ERR;
    int dim = (int)n->i[0];
    mg_tensor *z = mg_zeros(MG_F32, n->in[0].ndim, n->in[0].shape);
    mg_tensor *gc = z ? mg_as_contiguous(g) : NULL;
    if (!gc) {
        mg_release(z);
        return MG_ERR;
    }
    int64_t outer, len, inner;
    split_dim(z, dim, &outer, &len, &inner);
    const int64_t *pi = mg_i64(ix);
    const float *pg = mg_f32(gc);
    float *pz = mg_f32(z);
    for (int64_t r = 0; r < outer; r++)
        for (int64_t j = 0; j < inner; j++)
            pz[(r * len + pi[r * inner + j]) * inner + j] += pg[r * inner + j];
    mg_release(gc);
    gin[0] = z;
    return MG_OK;
}

int mg_bw_max_dim(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) { return bw_extreme(n, g, needs, gin); }
int mg_bw_min_dim(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) { return bw_extreme(n, g, needs, gin); }

static mg_tensor *extreme_all(const char *op, mg_tensor *t, int sign) {
    if (mg_numel(t) == 0) {
        mg_error("%s: cannot reduce an empty tensor", op);
        return NULL;
    }
    mg_tensor *flat = mg_reshape(t, 1, (int64_t[]){-1}), *v = NULL;
    if (!flat) return NULL;
    int rc = sign > 0 ? mg_max_dim(flat, 0, false, &v, NULL) : mg_min_dim(flat, 0, false, &v, NULL);
    mg_release(flat);
    return rc == MG_OK ? v : NULL;
}

mg_tensor *mg_max(mg_tensor *t) { return extreme_all("max", t, 1); }
mg_tensor *mg_min(mg_tensor *t) { return extreme_all("min", t, -1); }

static mg_tensor *arg_extreme(const char *op, const mg_tensor *t, int dim, bool keepdim, int sign) {
    bool saved = mg_grad_enabled();
    mg_set_grad_enabled(false);
    mg_tensor *src = (mg_tensor *)t, *v = NULL, *ix = NULL;
    int rc;
    if (dim == MG_ALL_DIMS) {
        if (mg_numel(t) == 0) {
            mg_set_grad_enabled(saved);
            mg_error("%s: cannot reduce an empty tensor", op);
            return NULL;
        }
        src = mg_reshape(src, 1, (int64_t[]){-1});
        rc = src ? extreme_dim(op, 0, src, 0, false, sign, &v, &ix) : MG_ERR;
        mg_release(src);
    } else {
        rc = extreme_dim(op, 0, src, dim, keepdim, sign, &v, &ix);
    }
    mg_set_grad_enabled(saved);
    mg_release(v);
    return rc == MG_OK ? ix : NULL;
}

mg_tensor *mg_argmax(const mg_tensor *t, int dim, bool keepdim) { return arg_extreme("argmax", t, dim, keepdim, 1); }
mg_tensor *mg_argmin(const mg_tensor *t, int dim, bool keepdim) { return arg_extreme("argmin", t, dim, keepdim, -1); }

/* ---- composed reductions --------------------------------------------------- */

mg_tensor *mg_var(mg_tensor *t, int dim, bool keepdim, int correction) {
    if (check_f32("var", t)) return NULL;
    bool all = dim == MG_ALL_DIMS;
    mg_tensor *m = all ? mg_mean(t) : mg_mean_dim(t, dim, true);
    if (!m) return NULL;
    if (!all && (dim = mg_check_dim("var", dim, t->ndim)) < 0) {
        mg_release(m);
        return NULL;
    }
    int64_t n = all ? mg_numel(t) : (t->ndim ? t->shape[dim] : 1);
    mg_tensor *d = mg_sub(t, m), *sq = d ? mg_mul(d, d) : NULL;
    mg_tensor *s = sq ? (all ? mg_sum(sq) : mg_sum_dim(sq, dim, keepdim)) : NULL;
    double denom = (double)(n - correction);
    mg_tensor *out = s ? mg_mul_scalar(s, denom > 0 ? 1.0 / denom : NAN) : NULL;
    mg_release(m), mg_release(d), mg_release(sq), mg_release(s);
    return out;
}

mg_tensor *mg_logsumexp(mg_tensor *t, int dim, bool keepdim) {
    if (check_f32("logsumexp", t)) return NULL;
    mg_tensor *m = NULL;
    if (mg_max_dim(t, dim, true, &m, NULL)) return NULL;
    mg_tensor *md = mg_detach(m); /* a constant shift: the gradient is unchanged */
    mg_release(m);
    if (!md) return NULL;
    /* rows of -inf stay -inf rather than NaN */
    float *pm = mg_f32(md);
    for (int64_t i = 0; i < mg_numel(md); i++)
        if (isinf(pm[i])) pm[i] = 0;
    mg_tensor *d = mg_sub(t, md), *e = d ? mg_exp(d) : NULL, *s = e ? mg_sum_dim(e, dim, true) : NULL;
    mg_tensor *l = s ? mg_log(s) : NULL, *r = l ? mg_add(l, md) : NULL;
    mg_tensor *out = r ? (keepdim ? mg_retain(r) : mg_squeeze(r, mg_check_dim("logsumexp", dim, t->ndim))) : NULL;
    mg_release(md), mg_release(d), mg_release(e), mg_release(s), mg_release(l), mg_release(r);
    return out;
}
