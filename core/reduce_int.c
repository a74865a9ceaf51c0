/*
 * Reductions of integer tensors (int64 and uint8): sum, mean, max/min with
 * indices, and so argmax/argmin. ops_reduce.c sends non-float32 inputs
 * here. As in PyTorch, a sum of integers is int64 (wrapping on overflow),
 * max and min keep the input's dtype; unlike PyTorch, which refuses, the
 * mean of integers is a float32 (computed in double). Integer tensors
 * never require grad, so nothing is recorded.
 */
#include "reduce_int.h"

/* The input as contiguous int64 (a copy for uint8 or strided input). */
static mg_tensor *as_i64(const mg_tensor *t) {
    if (t->dtype == MG_I64) return mg_as_contiguous(t);
    return mg_to_dtype(t, MG_I64);
}

/* dim MG_ALL_DIMS: the whole tensor as one row. */
static int layout(const char *op, const mg_tensor *t, int *dim, int64_t *outer, int64_t *n, int64_t *inner) {
    if (*dim == MG_ALL_DIMS) {
        *outer = 1, *n = mg_numel(t), *inner = 1;
        return MG_OK;
    }
    if ((*dim = mg_check_dim(op, *dim, t->ndim)) < 0) return MG_ERR;
    *outer = 1, *inner = 1;
    for (int d = 0; d < *dim; d++) *outer *= t->shape[d];
    for (int d = *dim + 1; d < t->ndim; d++) *inner *= t->shape[d];
    *n = t->ndim ? t->shape[*dim] : 1;
    return MG_OK;
}

static void out_shape(const mg_tensor *t, int dim, bool keepdim, int *nd, int64_t *shape) {
    int k = 0;
    if (dim != MG_ALL_DIMS)
        for (int d = 0; d < t->ndim; d++) {
            if (d != dim) shape[k++] = t->shape[d];
            else if (keepdim) shape[k++] = 1;
        }
    *nd = k;
}

mg_tensor *mg_int_sum(const mg_tensor *t, int dim, bool keepdim) {
    int64_t outer, n, inner, shape[MG_MAX_DIMS];
    int nd;
    if (layout("sum", t, &dim, &outer, &n, &inner)) return NULL;
    out_shape(t, dim, keepdim, &nd, shape);
    mg_tensor *c = as_i64(t), *out = c ? mg_empty(MG_I64, nd, shape) : NULL;
    if (!out) {
        mg_release(c);
        return NULL;
    }
    const int64_t *x = mg_i64(c);
    int64_t *o = mg_i64(out);
    for (int64_t r = 0; r < outer; r++)
        for (int64_t j = 0; j < inner; j++) {
            uint64_t s = 0; /* unsigned: overflow wraps as in PyTorch, without undefined behaviour */
            for (int64_t k = 0; k < n; k++) s += (uint64_t)x[(r * n + k) * inner + j];
            o[r * inner + j] = (int64_t)s;
        }
    mg_release(c);
    return out;
}

mg_tensor *mg_int_mean(const mg_tensor *t, int dim, bool keepdim) {
    int64_t outer, n, inner, shape[MG_MAX_DIMS];
    int nd;
    if (layout("mean", t, &dim, &outer, &n, &inner)) return NULL;
    out_shape(t, dim, keepdim, &nd, shape);
    mg_tensor *c = as_i64(t), *out = c ? mg_empty(MG_F32, nd, shape) : NULL;
    if (!out) {
        mg_release(c);
        return NULL;
    }
    const int64_t *x = mg_i64(c);
    float *o = mg_f32(out);
    for (int64_t r = 0; r < outer; r++)
        for (int64_t j = 0; j < inner; j++) {
            double s = 0;
            for (int64_t k = 0; k < n; k++) s += (double)x[(r * n + k) * inner + j];
            o[r * inner + j] = n ? (float)(s / (double)n) : NAN;
        }
    mg_release(c);
    return out;
}

int mg_int_extreme(const char *op, const mg_tensor *t, int dim, bool keepdim, int sign, mg_tensor **values,
                   mg_tensor **indices) {
    int64_t outer, n, inner, shape[MG_MAX_DIMS];
    int nd;
    if (layout(op, t, &dim, &outer, &n, &inner)) return MG_ERR;
    if (n == 0) {
        if (dim == MG_ALL_DIMS) return mg_error("%s: cannot reduce an empty tensor", op);
        return mg_error("%s: cannot reduce an empty dim (dim %d of %s)", op, dim + 1, mg_shp(t));
    }
    out_shape(t, dim, keepdim, &nd, shape);
    mg_tensor *c = as_i64(t), *v = c ? mg_empty(MG_I64, nd, shape) : NULL;
    mg_tensor *ix = v ? mg_empty(MG_I64, nd, shape) : NULL;
    if (!ix) {
        mg_release(c), mg_release(v);
        return MG_ERR;
    }
    const int64_t *x = mg_i64(c);
    int64_t *pv = mg_i64(v), *pi = mg_i64(ix);
    for (int64_t r = 0; r < outer; r++)
        for (int64_t j = 0; j < inner; j++) {
            const int64_t *p = x + r * n * inner + j;
            int64_t best = p[0], bi = 0;
            for (int64_t k = 1; k < n; k++) {
                int64_t val = p[k * inner];
                if (sign > 0 ? val > best : val < best) best = val, bi = k;
            }
            pv[r * inner + j] = best;
            pi[r * inner + j] = bi;
        }
    mg_release(c);
    if (t->dtype != MG_I64) { /* values keep the input's dtype */
        mg_tensor *u = mg_to_dtype(v, t->dtype);
        mg_release(v);
        if (!(v = u)) {
            mg_release(ix);
            return MG_ERR;
        }
    }
    *values = v;
    if (indices) *indices = ix;
    else mg_release(ix);
    return MG_OK;
}
