/*
 * Views and copies with autograd: view/reshape, transpose, permute, narrow,
 * select, squeeze, unsqueeze, expand, flatten, clone, contiguous. A view
 * shares its input's storage; its backward maps the gradient back to the
 * input's shape. Joining and indexing ops live in ops_index.c.
 */
#include "internal.h"

mg_tensor *mg_copy_f32(const mg_tensor *a); /* ops_elementwise.c */

/* Records a view-like op; on failure releases out. */
static mg_tensor *finish(int op, mg_tensor *out, mg_tensor *in, const int64_t *params, int np) {
    if (!out || !mg_needs_grad(1, &in)) return out;
    mg_node *n = mg_record(op, out, 1, &in);
    if (!n) {
        mg_release(out);
        return NULL;
    }
    for (int k = 0; k < np; k++) n->i[k] = params[k];
    return out;
}

/* Fills in one -1 and checks the element count. */
static int infer_shape(const char *op, const mg_tensor *t, int ndim, const int64_t *shape, int64_t *out) {
    char want[MG_SHAPE_BUF];
    if (ndim < 0 || ndim > MG_MAX_DIMS) return mg_error("%s: at most %d dims, got %d", op, MG_MAX_DIMS, ndim);
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == -1) {
            if (infer >= 0) return mg_error("%s: only one dimension can be -1, got %s", op,
                                            mg_shape_str_raw(ndim, shape, want, sizeof want));
            infer = d;
        } else if (shape[d] < 0) {
            return mg_error("%s: invalid size in %s", op, mg_shape_str_raw(ndim, shape, want, sizeof want));
        } else if (__builtin_mul_overflow(known, shape[d], &known)) {
            return mg_error("%s: %s has too many elements", op, mg_shape_str_raw(ndim, shape, want, sizeof want));
        }
        out[d] = shape[d];
    }
    int64_t n = mg_numel(t);
    if (infer >= 0) {
        if (known == 0 || n % known != 0)
            return mg_error("%s: cannot view %s (%lld elements) as %s", op, mg_shp(t), (long long)n,
                            mg_shape_str_raw(ndim, shape, want, sizeof want));
        out[infer] = n / known;
    } else if (known != n) {
        return mg_error("%s: cannot view %s (%lld elements) as %s (%lld elements)", op, mg_shp(t), (long long)n,
                        mg_shape_str_raw(ndim, shape, want, sizeof want), (long long)known);
    }
    return MG_OK;
}

/* Strides for viewing t as shape without a copy, if possible: each run of
 * old dims that maps onto a run of new dims must be contiguous in itself. */
static bool view_strides(const mg_tensor *t, int ndim, const int64_t *shape, int64_t *stride) {
    if (mg_numel(t) == 0 || mg_is_contiguous(t)) {
        mg_contiguous_strides(ndim, shape, stride);
        return true;
    }
    int64_t chunk_base_stride = t->ndim ? t->stride[t->ndim - 1] : 1;
    int64_t tensor_numel = 1, view_numel = 1;
    int view_d = ndim - 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        tensor_numel *= t->shape[d];
        if (d == 0 || (t->shape[d - 1] != 1 && t->stride[d - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
                stride[view_d] = view_numel * chunk_base_stride;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (d > 0) {
                chunk_base_stride = t->stride[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

mg_tensor *mg_view(mg_tensor *t, int ndim, const int64_t *shape) {
    int64_t sh[MG_MAX_DIMS], st[MG_MAX_DIMS];
    if (infer_shape("view", t, ndim, shape, sh)) return NULL;
    if (!view_strides(t, ndim, sh, st)) {
        mg_error("view: %s with strides that do not allow viewing it as %s; use reshape", mg_shp(t),
                 mg_shape_str_raw(ndim, sh, (char[MG_SHAPE_BUF]){0}, MG_SHAPE_BUF));
        return NULL;
    }
    return finish(MG_OP_reshape, mg_alias(t, ndim, sh, st, t->offset), t, NULL, 0);
}

mg_tensor *mg_reshape(mg_tensor *t, int ndim, const int64_t *shape) {
    int64_t sh[MG_MAX_DIMS], st[MG_MAX_DIMS];
    if (infer_shape("reshape", t, ndim, shape, sh)) return NULL;
    if (view_strides(t, ndim, sh, st)) return finish(MG_OP_reshape, mg_alias(t, ndim, sh, st, t->offset), t, NULL, 0);
    mg_tensor *c = mg_contiguous(t);
    if (!c) return NULL;
    mg_tensor *out = mg_view(c, ndim, sh);
    mg_release(c);
    return out;
}

int mg_bw_reshape(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (needs[0] && !(gin[0] = mg_reshape(g, n->in[0].ndim, n->in[0].shape))) return MG_ERR;
    return MG_OK;
}

mg_tensor *mg_flatten(mg_tensor *t, int start, int end) {
    int nd = t->ndim;
    if (nd == 0) return mg_reshape(t, 1, (int64_t[]){1});
    if ((start = mg_check_dim("flatten", start, nd)) < 0 || (end = mg_check_dim("flatten", end, nd)) < 0)
        return NULL;
    if (start > end) {
        mg_error("flatten: start dim %d is after end dim %d", start + 1, end + 1);
        return NULL;
    }
    int64_t sh[MG_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < start; d++) sh[k++] = t->shape[d];
    int64_t m = 1;
    for (int d = start; d <= end; d++) m *= t->shape[d];
    sh[k++] = m;
    for (int d = end + 1; d < nd; d++) sh[k++] = t->shape[d];
    return mg_reshape(t, k, sh);
}

mg_tensor *mg_squeeze(mg_tensor *t, int dim) {
    int64_t sh[MG_MAX_DIMS], st[MG_MAX_DIMS];
    int k = 0;
    if (dim >= 0 && dim >= t->ndim && !(t->ndim == 0 && dim == 0)) {
        mg_error("squeeze: dim %d out of range for a %d-dim tensor", dim + 1, t->ndim);
        return NULL;
    }
    for (int d = 0; d < t->ndim; d++) {
        bool drop = t->shape[d] == 1 && (dim < 0 || dim == d);
        if (!drop) {
            sh[k] = t->shape[d];
            st[k++] = t->stride[d];
        }
    }
    return finish(MG_OP_reshape, mg_alias(t, k, sh, st, t->offset), t, NULL, 0);
}

mg_tensor *mg_unsqueeze(mg_tensor *t, int dim) {
    if (dim < 0 || dim > t->ndim || t->ndim >= MG_MAX_DIMS) {
        mg_error("unsqueeze: dim %d out of range for a %d-dim tensor", dim + 1, t->ndim);
        return NULL;
    }
    int64_t sh[MG_MAX_DIMS], st[MG_MAX_DIMS];
    int k = 0;
    for (int d = 0; d <= t->ndim; d++) {
        if (d == dim) {
            sh[k] = 1;
            st[k++] = d < t->ndim ? t->stride[d] * t->shape[d] : 1;
        }
        if (d < t->ndim) {
            sh[k] = t->shape[d];
            st[k++] = t->stride[d];
        }
    }
    return finish(MG_OP_reshape, mg_alias(t, k, sh, st, t->offset), t, NULL, 0);
}

mg_tensor *mg_transpose(mg_tensor *t, int d0, int d1) {
    if (t->ndim == 0 && (d0 == 0 || d0 == -1) && (d1 == 0 || d1 == -1)) return finish(MG_OP_transpose, mg_detach(t), t, (int64_t[]){0, 0}, 2);
    if ((d0 = mg_check_dim("transpose", d0, t->ndim)) < 0 || (d1 = mg_check_dim("transpose", d1, t->ndim)) < 0)
        return NULL;
    int64_t sh[MG_MAX_DIMS], st[MG_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    memcpy(st, t->stride, sizeof st);
    sh[d0] = t->shape[d1], sh[d1] = t->shape[d0];
    st[d0] = t->stride[d1], st[d1] = t->stride[d0];
    int64_t p[2] = {d0, d1};
    return finish(MG_OP_transpose, mg_alias(t, t->ndim, sh, st, t->offset), t, p, 2);
}

int mg_bw_transpose(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (needs[0] && !(gin[0] = mg_transpose(g, (int)n->i[0], (int)n->i[1]))) return MG_ERR;
    return MG_OK;
}

mg_tensor *mg_permute(mg_tensor *t, const int *perm) {
    int64_t sh[MG_MAX_DIMS], st[MG_MAX_DIMS], p[MG_MAX_DIMS];
    bool seen[MG_MAX_DIMS] = {false};
    for (int d = 0; d < t->ndim; d++) {
        int s = perm[d];
        if (s < 0 || s >= t->ndim || seen[s]) {
            mg_error("permute: the dims must be a permutation of 1..%d", t->ndim);
            return NULL;
        }
        seen[s] = true;
        sh[d] = t->shape[s];
        st[d] = t->stride[s];
        p[d] = s;
    }
    return finish(MG_OP_permute, mg_alias(t, t->ndim, sh, st, t->offset), t, p, t->ndim);
}

int mg_bw_permute(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (!needs[0]) return MG_OK;
    int inv[MG_MAX_DIMS];
    for (int d = 0; d < g->ndim; d++) inv[n->i[d]] = d;
    gin[0] = mg_permute(g, inv);
    return gin[0] ? MG_OK : MG_ERR;
}

mg_tensor *mg_narrow(mg_tensor *t, int dim, int64_t start, int64_t length) {
    if ((dim = mg_check_dim("narrow", dim, t->ndim)) < 0) return NULL;
    if (t->ndim == 0) {
        mg_error("narrow: cannot narrow a 0-dim tensor");
        return NULL;
    }
    if (start < 0 || length < 0 || start > t->shape[dim] || length > t->shape[dim] - start) {
        mg_error("narrow: elements %.0f..%.0f are out of range for dim %d of size %lld", (double)start + 1,
                 (double)start + (double)length, dim + 1, (long long)t->shape[dim]);
        return NULL;
    }
    int64_t sh[MG_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    sh[dim] = length;
    int64_t p[2] = {dim, start};
    return finish(MG_OP_narrow, mg_alias(t, t->ndim, sh, t->stride, t->offset + start * t->stride[dim]), t, p, 2);
}

/* The input-shaped zero gradient with g written into the narrowed slice. */
int mg_bw_narrow(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (!needs[0]) return MG_OK;
    mg_tensor *z = mg_zeros(MG_F32, n->in[0].ndim, n->in[0].shape);
    if (!z) return MG_ERR;
    mg_tensor *slice = mg_narrow(z, (int)n->i[0], n->i[1], g->shape[n->i[0]]);
    if (!slice || mg_copy_(slice, g)) {
        mg_release(slice);
        mg_release(z);
        return MG_ERR;
    }
    mg_release(slice);
    gin[0] = z;
    return MG_OK;
}

mg_tensor *mg_select(mg_tensor *t, int dim, int64_t index) {
    if (t->ndim == 0) {
        mg_error("select: cannot index a 0-dim tensor");
        return NULL;
    }
    if ((dim = mg_check_dim("select", dim, t->ndim)) < 0) return NULL;
    if (index < 0 || index >= t->shape[dim]) {
        mg_error("select: index %lld out of range for dim %d of size %lld", (long long)index + 1, dim + 1,
                 (long long)t->shape[dim]);
        return NULL;
    }
    int64_t sh[MG_MAX_DIMS], st[MG_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < t->ndim; d++)
        if (d != dim) {
            sh[k] = t->shape[d];
            st[k++] = t->stride[d];
        }
    int64_t p[2] = {dim, index};
    return finish(MG_OP_select, mg_alias(t, k, sh, st, t->offset + index * t->stride[dim]), t, p, 2);
}

int mg_bw_select(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (!needs[0]) return MG_OK;
    mg_tensor *z = mg_zeros(MG_F32, n->in[0].ndim, n->in[0].shape);
    if (!z) return MG_ERR;
    mg_tensor *slice = mg_select(z, (int)n->i[0], n->i[1]);
    if (!slice || mg_copy_(slice, g)) {
        mg_release(slice);
        mg_release(z);
        return MG_ERR;
    }
    mg_release(slice);
    gin[0] = z;
    return MG_OK;
}

mg_tensor *mg_expand(mg_tensor *t, int ndim, const int64_t *shape) {
    char want[MG_SHAPE_BUF];
    if (ndim < t->ndim || ndim > MG_MAX_DIMS) {
        mg_error("expand: cannot expand %s to %s", mg_shp(t), mg_shape_str_raw(ndim, shape, want, sizeof want));
        return NULL;
    }
    int64_t sh[MG_MAX_DIMS], st[MG_MAX_DIMS], total = 1;
    for (int d = 0; d < ndim; d++) {
        int dt = d - (ndim - t->ndim);
        int64_t have = dt >= 0 ? t->shape[dt] : 1;
        int64_t w = shape[d] == -1 && dt >= 0 ? have : shape[d];
        if (w >= 0 && (__builtin_mul_overflow(total, w, &total) || total > ((int64_t)1 << 47))) {
            mg_error("expand: %s has too many elements", mg_shape_str_raw(ndim, shape, want, sizeof want));
            return NULL;
        }
        if (w < 0 || (have != w && have != 1)) {
            mg_error("expand: cannot expand %s to %s (dim %d)", mg_shp(t),
                     mg_shape_str_raw(ndim, shape, want, sizeof want), d + 1);
            return NULL;
        }
        sh[d] = w;
        st[d] = (dt >= 0 && have == w) ? t->stride[dt] : 0;
    }
    return finish(MG_OP_expand, mg_alias(t, ndim, sh, st, t->offset), t, NULL, 0);
}

int mg_bw_expand(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (needs[0] && !(gin[0] = mg_sum_to_shape(g, n->in[0].ndim, n->in[0].shape))) return MG_ERR;
    return MG_OK;
}

mg_tensor *mg_clone(mg_tensor *t) {
    mg_tensor *out = t->dtype == MG_F32 ? mg_copy_f32(t) : mg_to_dtype(t, t->dtype);
    return finish(MG_OP_clone, out, t, NULL, 0);
}

int mg_bw_clone(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    (void)n;
    if (needs[0]) gin[0] = mg_retain(g);
    return MG_OK;
}

mg_tensor *mg_contiguous(mg_tensor *t) {
    if (mg_is_contiguous(t)) return mg_retain(t);
    return mg_clone(t);
}
