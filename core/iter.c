/* Strided iteration and broadcasting shapes, shared by every elementwise
 * kernel: operands are described by strides over one common shape. */
#include "internal.h"

void mg_iter_init(mg_iter *it, int nops, int ndim, const int64_t *shape,
                  int64_t (*strides)[MG_MAX_DIMS]) {
    it->nops = nops;
    int n = 0;
    /* drop size-1 dims, then merge neighbours that are contiguous for all */
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        if (n > 0) {
            bool merge = true;
            for (int k = 0; k < nops; k++)
                if (it->stride[k][n - 1] != strides[k][d] * shape[d]) merge = false;
            if (merge) {
                it->shape[n - 1] *= shape[d];
                for (int k = 0; k < nops; k++) it->stride[k][n - 1] = strides[k][d];
                continue;
            }
        }
        it->shape[n] = shape[d];
        for (int k = 0; k < nops; k++) it->stride[k][n] = strides[k][d];
        n++;
    }
    for (int d = 0; d < ndim; d++)
        if (shape[d] == 0) { /* empty: one empty row */
            n = 1;
            it->shape[0] = 0;
            for (int k = 0; k < nops; k++) it->stride[k][0] = 1;
            break;
        }
    if (n == 0) {
        n = 1;
        it->shape[0] = 1;
        for (int k = 0; k < nops; k++) it->stride[k][0] = 1;
    }
    it->ndim = n;
    it->inner = it->shape[n - 1];
    it->outer = 1;
    for (int d = 0; d < n - 1; d++) it->outer *= it->shape[d];
}

void mg_iter_offsets(const mg_iter *it, int64_t r, int64_t *offs) {
    for (int k = 0; k < it->nops; k++) offs[k] = 0;
    for (int d = it->ndim - 2; d >= 0; d--) {
        int64_t i = r % it->shape[d];
        r /= it->shape[d];
        for (int k = 0; k < it->nops; k++) offs[k] += i * it->stride[k][d];
    }
}

int mg_broadcast_shape(const char *op, const mg_tensor *a, const mg_tensor *b, int *ndim,
                       int64_t *shape) {
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int d = 0; d < n; d++) {
        int da = d - (n - a->ndim), db = d - (n - b->ndim);
        int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return mg_error("%s: shapes %s and %s cannot be broadcast (dim %d: %lld vs %lld)", op,
                            mg_shp(a), mg_shp(b), d + 1, (long long)sa, (long long)sb);
        shape[d] = sa == 1 ? sb : sa;
    }
    *ndim = n;
    return MG_OK;
}

void mg_broadcast_strides(const mg_tensor *t, int ndim, const int64_t *shape, int64_t *stride) {
    for (int d = 0; d < ndim; d++) {
        int dt = d - (ndim - t->ndim);
        stride[d] = (dt >= 0 && t->shape[dt] == shape[d] && shape[d] != 1) ? t->stride[dt] : 0;
    }
}
