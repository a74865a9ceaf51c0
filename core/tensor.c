/*
 * Tensors: lifetime, constructors, in-place writes, dtype conversion and
 * strided copies. Views with autograd live in ops_shape.c.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

void mg_node_release(mg_node *n); /* autograd.c */

mg_tensor *mg_retain(mg_tensor *t) {
    if (t) t->refcount++;
    return t;
}

void mg_release(mg_tensor *t) {
    if (!t || --t->refcount > 0) return;
    mg_storage_release(t->storage);
    mg_release(t->grad);
    mg_node_release(t->grad_fn);
    free(t);
}

int64_t mg_shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

int64_t mg_numel(const mg_tensor *t) { return mg_shape_numel(t->ndim, t->shape); }

void mg_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        stride[d] = s;
        /* saturates: only an empty tensor (a 0 among huge sizes) can overflow */
        if (__builtin_mul_overflow(s, shape[d] > 0 ? shape[d] : 1, &s)) s = INT64_MAX;
    }
}

bool mg_is_contiguous(const mg_tensor *t) {
    if (mg_numel(t) == 0) return true; /* no element to place: any strides will do */
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] == 1) continue;
        if (t->stride[d] != s) return false;
        if (__builtin_mul_overflow(s, t->shape[d], &s)) s = INT64_MAX; /* an empty tensor's huge sizes */
    }
    return true;
}

bool mg_same_shape(const mg_tensor *a, const mg_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

void mg_bump_version(mg_tensor *t) { t->storage->version++; }

static mg_tensor *header(mg_dtype dtype, int ndim, const int64_t *shape) {
    mg_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        mg_error("out of memory");
        return NULL;
    }
    t->refcount = 1;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    return t;
}

mg_tensor *mg_empty(mg_dtype dtype, int ndim, const int64_t *shape) {
    char buf[MG_SHAPE_BUF];
    if (ndim < 0 || ndim > MG_MAX_DIMS) {
        mg_error("tensor: at most %d dims are supported, got %d", MG_MAX_DIMS, ndim);
        return NULL;
    }
    if (dtype != MG_F32 && dtype != MG_I64 && dtype != MG_U8) {
        mg_error("tensor: unknown dtype %d", (int)dtype);
        return NULL;
    }
    /* the element count must fit in memory arithmetic without overflow */
    const int64_t max_numel = ((int64_t)1 << 47) / (int64_t)mg_dtype_size(dtype);
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            mg_error("tensor: sizes must be >= 0, got %s", mg_shape_str_raw(ndim, shape, buf, sizeof buf));
            return NULL;
        }
        if (shape[d] > 0 && n > max_numel / shape[d]) {
            mg_error("tensor: %s is too large to allocate", mg_shape_str_raw(ndim, shape, buf, sizeof buf));
            return NULL;
        }
        n *= shape[d];
    }
    mg_tensor *t = header(dtype, ndim, shape);
    if (!t) return NULL;
    mg_contiguous_strides(ndim, shape, t->stride);
    t->storage = mg_storage_new((size_t)n * mg_dtype_size(dtype));
    if (!t->storage) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", mg_last_error());
        mg_error("tensor %s: %s", mg_shape_str_raw(ndim, shape, buf, sizeof buf), msg);
        free(t);
        return NULL;
    }
    return t;
}

mg_tensor *mg_zeros(mg_dtype dtype, int ndim, const int64_t *shape) {
    mg_tensor *t = mg_empty(dtype, ndim, shape);
    if (t) memset(t->storage->data, 0, (size_t)mg_numel(t) * mg_dtype_size(dtype));
    return t;
}

mg_tensor *mg_full(mg_dtype dtype, int ndim, const int64_t *shape, double value) {
    mg_tensor *t = mg_empty(dtype, ndim, shape);
    if (t && mg_fill_(t, value)) {
        mg_release(t);
        return NULL;
    }
    return t;
}

mg_tensor *mg_scalar(double value) { return mg_full(MG_F32, 0, NULL, value); }

mg_tensor *mg_empty_like(const mg_tensor *t) { return mg_empty(t->dtype, t->ndim, t->shape); }
mg_tensor *mg_zeros_like(const mg_tensor *t) { return mg_zeros(t->dtype, t->ndim, t->shape); }
mg_tensor *mg_empty_shape_of(mg_dtype dtype, const mg_tensor *like) {
    return mg_empty(dtype, like->ndim, like->shape);
}

mg_tensor *mg_arange(double start, double end, double step, mg_dtype dtype) {
    if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step)) {
        mg_error("arange: start, end and step must be finite and step nonzero (got %g, %g, %g)",
                 start, end, step);
        return NULL;
    }
    double count = ceil((end - start) / step);
    if (count < 0) count = 0;
    if (count > 1e12) {
        mg_error("arange: %g elements is too many", count);
        return NULL;
    }
    int64_t shape[1] = {(int64_t)count};
    mg_tensor *t = mg_empty(dtype, 1, shape);
    if (!t) return NULL;
    for (int64_t i = 0; i < shape[0]; i++) mg_set_flat(t, i, start + (double)i * step);
    return t;
}

mg_tensor *mg_linspace(double start, double end, int64_t steps) {
    if (steps < 0) {
        mg_error("linspace: steps must be >= 0, got %lld", (long long)steps);
        return NULL;
    }
    mg_tensor *t = mg_empty(MG_F32, 1, &steps);
    if (!t) return NULL;
    float *d = mg_f32(t);
    for (int64_t i = 0; i < steps; i++)
        d[i] = steps == 1 ? (float)start : (float)(start + (end - start) * (double)i / (double)(steps - 1));
    return t;
}

mg_tensor *mg_eye(int64_t n) {
    int64_t shape[2] = {n, n};
    mg_tensor *t = mg_zeros(MG_F32, 2, shape);
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) mg_f32(t)[i * n + i] = 1.0f;
    return t;
}

mg_tensor *mg_from_data(mg_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    mg_tensor *t = mg_empty(dtype, ndim, shape);
    if (t && mg_numel(t) > 0) memcpy(t->storage->data, data, (size_t)mg_numel(t) * mg_dtype_size(dtype));
    return t;
}

mg_tensor *mg_alias(const mg_tensor *base, int ndim, const int64_t *shape, const int64_t *stride,
                    int64_t offset) {
    mg_tensor *t = header(base->dtype, ndim, shape);
    if (!t) return NULL;
    for (int d = 0; d < ndim; d++) t->stride[d] = stride[d];
    t->offset = offset;
    t->storage = base->storage;
    t->storage->refcount++;
    return t;
}

mg_tensor *mg_detach(mg_tensor *t) { return mg_alias(t, t->ndim, t->shape, t->stride, t->offset); }

int mg_check_inplace(const char *op, const mg_tensor *t) {
    if (t->requires_grad && mg_grad_enabled())
        return mg_error("%s: in-place change of a tensor that requires grad; "
                        "wrap it in no_grad or use the out-of-place op", op);
    return MG_OK;
}

int mg_check_dim(const char *op, int dim, int ndim) {
    int n = ndim == 0 ? 1 : ndim;
    if (dim < -n || dim >= n) return mg_error("%s: dim %d out of range for a %d-dim tensor", op, dim, ndim);
    return dim < 0 ? dim + n : dim;
}

/* ---- element access ---------------------------------------------------- */

static int64_t flat_offset(const mg_tensor *t, int64_t i) {
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (i % t->shape[d]) * t->stride[d];
        i /= t->shape[d];
    }
    return off;
}

static double load(const mg_tensor *t, int64_t off) {
    switch (t->dtype) {
    case MG_F32: return ((const float *)t->storage->data)[off];
    case MG_I64: return (double)((const int64_t *)t->storage->data)[off];
    case MG_U8: return ((const uint8_t *)t->storage->data)[off];
    }
    return 0;
}

static void store(mg_tensor *t, int64_t off, double v) {
    switch (t->dtype) {
    case MG_F32: ((float *)t->storage->data)[off] = (float)v; break;
    case MG_I64: ((int64_t *)t->storage->data)[off] = (int64_t)v; break;
    case MG_U8: ((uint8_t *)t->storage->data)[off] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); break;
    }
}

double mg_get_flat(const mg_tensor *t, int64_t i) { return load(t, flat_offset(t, i)); }

int mg_set_flat(mg_tensor *t, int64_t i, double v) {
    int64_t n = mg_numel(t);
    if (i < 0 || i >= n)
        return mg_error("set: flat index %lld out of range for %lld elements", (long long)i, (long long)n);
    store(t, flat_offset(t, i), v);
    mg_bump_version(t);
    return MG_OK;
}

int mg_to_doubles(const mg_tensor *t, double *out) {
    int64_t n = mg_numel(t);
    if (t->dtype == MG_F32 && mg_is_contiguous(t)) {
        const float *d = mg_f32(t);
        for (int64_t i = 0; i < n; i++) out[i] = d[i];
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = mg_get_flat(t, i);
    }
    return MG_OK;
}

/* ---- strided copies ---------------------------------------------------- */

/* Copies one row of `n` elements between any dtypes. */
static void copy_row(mg_tensor *dst, int64_t od, int64_t sd, const mg_tensor *src, int64_t os,
                     int64_t ss, int64_t n) {
    if (dst->dtype == MG_F32 && src->dtype == MG_F32) {
        float *o = (float *)dst->storage->data + od;
        const float *s = (const float *)src->storage->data + os;
        if (sd == 1 && ss == 1) memcpy(o, s, (size_t)n * 4);
        else if (ss == 0) for (int64_t i = 0; i < n; i++) o[i * sd] = s[0];
        else for (int64_t i = 0; i < n; i++) o[i * sd] = s[i * ss];
    } else if (dst->dtype == MG_I64 && src->dtype == MG_I64) {
        int64_t *o = (int64_t *)dst->storage->data + od;
        const int64_t *s = (const int64_t *)src->storage->data + os;
        for (int64_t i = 0; i < n; i++) o[i * sd] = s[i * ss];
    } else if (dst->dtype == MG_F32 && src->dtype == MG_U8) {
        float *o = (float *)dst->storage->data + od;
        const uint8_t *s = (const uint8_t *)src->storage->data + os;
        for (int64_t i = 0; i < n; i++) o[i * sd] = s[i * ss];
    } else {
        for (int64_t i = 0; i < n; i++) store(dst, od + i * sd, load(src, os + i * ss));
    }
}

void mg_strided_copy(mg_tensor *dst, const mg_tensor *src) {
    int64_t st[4][MG_MAX_DIMS];
    for (int d = 0; d < dst->ndim; d++) {
        st[0][d] = dst->stride[d];
        st[1][d] = src->stride[d];
    }
    mg_iter it;
    mg_iter_init(&it, 2, dst->ndim, dst->shape, st);
    int64_t total = it.outer * it.inner;
#pragma omp parallel for if (total > MG_PAR_GRAIN && it.outer > 1) schedule(static)
    for (int64_t r = 0; r < it.outer; r++) {
        int64_t off[4];
        mg_iter_offsets(&it, r, off);
        copy_row(dst, dst->offset + off[0], it.stride[0][it.ndim - 1], src, src->offset + off[1],
                 it.stride[1][it.ndim - 1], it.inner);
    }
}

int mg_copy_(mg_tensor *dst, const mg_tensor *src) {
    if (mg_check_inplace("copy_", dst)) return MG_ERR;
    int nd = dst->ndim;
    int64_t shape[MG_MAX_DIMS];
    bool fits = src->ndim <= nd;
    for (int d = 0; fits && d < src->ndim; d++) {
        int64_t s = src->shape[d], want = dst->shape[nd - src->ndim + d];
        fits = s == want || s == 1;
    }
    if (!fits) return mg_error("copy_: source %s cannot be broadcast to destination %s", mg_shp(src), mg_shp(dst));
    memcpy(shape, dst->shape, sizeof shape);
    mg_tensor view = *src;
    view.ndim = nd;
    mg_broadcast_strides(src, nd, shape, view.stride);
    for (int d = 0; d < nd; d++) view.shape[d] = shape[d];
    /* the source may overlap the destination: copy through a temporary */
    if (src->storage == dst->storage) {
        mg_tensor *tmp = mg_empty(src->dtype, nd, shape);
        if (!tmp) return MG_ERR;
        mg_strided_copy(tmp, &view);
        mg_strided_copy(dst, tmp);
        mg_release(tmp);
    } else {
        mg_strided_copy(dst, &view);
    }
    mg_bump_version(dst);
    return MG_OK;
}

mg_tensor *mg_to_dtype(const mg_tensor *t, mg_dtype dtype) {
    mg_tensor *out = mg_empty(dtype, t->ndim, t->shape);
    if (out) mg_strided_copy(out, t);
    return out;
}

/* A contiguous copy or the tensor itself (retained); never records autograd. */
mg_tensor *mg_as_contiguous(const mg_tensor *t) {
    if (mg_is_contiguous(t)) return mg_retain((mg_tensor *)t);
    return mg_to_dtype(t, t->dtype);
}

/* ---- in-place writes ------------------------------------------------------- */

int mg_fill_(mg_tensor *t, double value) {
    if (mg_check_inplace("fill_", t)) return MG_ERR;
    int64_t n = mg_numel(t);
    if (mg_is_contiguous(t) && t->dtype == MG_F32) {
        float *d = mg_f32(t), v = (float)value;
        for (int64_t i = 0; i < n; i++) d[i] = v;
    } else if (mg_is_contiguous(t) && t->dtype == MG_I64) {
        int64_t *d = mg_i64(t), v = (int64_t)value;
        for (int64_t i = 0; i < n; i++) d[i] = v;
    } else {
        for (int64_t i = 0; i < n; i++) store(t, flat_offset(t, i), value);
    }
    mg_bump_version(t);
    return MG_OK;
}

int mg_zero_(mg_tensor *t) { return mg_fill_(t, 0); }

/* t op= other (broadcast to t), float32 only. kind 0: t += alpha*other, 1: t *= other. */
static int update_(const char *op, mg_tensor *t, const mg_tensor *other, double alpha, int kind) {
    if (mg_check_inplace(op, t)) return MG_ERR;
    if (t->dtype != MG_F32 || other->dtype != MG_F32)
        return mg_error("%s: needs float32 tensors, got %s and %s", op, mg_dtype_name(t->dtype),
                        mg_dtype_name(other->dtype));
    if (other->ndim > t->ndim)
        return mg_error("%s: %s cannot be broadcast to %s", op, mg_shp(other), mg_shp(t));
    for (int d = 0; d < other->ndim; d++) {
        int64_t so = other->shape[d], st = t->shape[d + t->ndim - other->ndim];
        if (so != st && so != 1) return mg_error("%s: %s cannot be broadcast to %s", op, mg_shp(other), mg_shp(t));
    }
    mg_tensor *src = (mg_tensor *)other, *tmp = NULL;
    if (other->storage == t->storage) {
        tmp = mg_as_contiguous(other);
        if (tmp == other) { /* same storage: force a real copy */
            mg_release(tmp);
            tmp = mg_to_dtype(other, MG_F32);
        }
        if (!tmp) return MG_ERR;
        src = tmp;
    }
    int64_t st[4][MG_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) st[0][d] = t->stride[d];
    mg_broadcast_strides(src, t->ndim, t->shape, st[1]);
    mg_iter it;
    mg_iter_init(&it, 2, t->ndim, t->shape, st);
    float a = (float)alpha;
    float *base_t = (float *)t->storage->data + t->offset;
    const float *base_o = (const float *)src->storage->data + src->offset;
    int64_t total = it.outer * it.inner;
#pragma omp parallel for if (total > MG_PAR_GRAIN && it.outer > 1) schedule(static)
    for (int64_t r = 0; r < it.outer; r++) {
        int64_t off[4];
        mg_iter_offsets(&it, r, off);
        float *o = base_t + off[0];
        const float *s = base_o + off[1];
        int64_t so = it.stride[0][it.ndim - 1], ss = it.stride[1][it.ndim - 1];
        if (kind == 0) {
            if (so == 1 && ss == 1)
                for (int64_t i = 0; i < it.inner; i++) o[i] += a * s[i];
            else
                for (int64_t i = 0; i < it.inner; i++) o[i * so] += a * s[i * ss];
        } else {
            for (int64_t i = 0; i < it.inner; i++) o[i * so] *= s[i * ss];
        }
    }
    mg_release(tmp);
    mg_bump_version(t);
    return MG_OK;
}

int mg_add_(mg_tensor *t, const mg_tensor *other, double alpha) { return update_("add_", t, other, alpha, 0); }
int mg_mul_(mg_tensor *t, const mg_tensor *other) { return update_("mul_", t, other, 1, 1); }

static int map_inplace(const char *op, mg_tensor *t, double a, double b, int kind) {
    if (mg_check_inplace(op, t)) return MG_ERR;
    if (t->dtype != MG_F32) return mg_error("%s: needs a float32 tensor, got %s", op, mg_dtype_name(t->dtype));
    int64_t st[4][MG_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) st[0][d] = t->stride[d];
    mg_iter it;
    mg_iter_init(&it, 1, t->ndim, t->shape, st);
    float fa = (float)a, fb = (float)b;
    float *base = (float *)t->storage->data + t->offset;
    for (int64_t r = 0; r < it.outer; r++) {
        int64_t off[4];
        mg_iter_offsets(&it, r, off);
        float *o = base + off[0];
        int64_t s = it.stride[0][it.ndim - 1];
        if (kind == 0) {
            for (int64_t i = 0; i < it.inner; i++) o[i * s] *= fa;
        } else {
            for (int64_t i = 0; i < it.inner; i++) {
                float v = o[i * s];
                if (!isnan(a) && v < fa) v = fa;
                if (!isnan(b) && v > fb) v = fb;
                o[i * s] = v;
            }
        }
    }
    mg_bump_version(t);
    return MG_OK;
}

int mg_scale_(mg_tensor *t, double s) { return map_inplace("mul_", t, s, 0, 0); }
int mg_clamp_(mg_tensor *t, double lo, double hi) { return map_inplace("clamp_", t, lo, hi, 1); }
