/*
 * topk: the k largest (or smallest) values along a dim and their indices,
 * sorted best first; ties keep the lower index first, NaN counts as larger
 * than every number (as PyTorch). Each row keeps a sorted buffer of the k
 * best seen so far, so a row of n costs about n comparisons when k is small
 * next to n (the k-nearest-neighbour monitor: k = 20 of thousands).
 * The values are gathered from the input, so they carry its gradient.
 */
#include "internal.h"

#include <stdlib.h>

static inline bool better(float a, float b, bool largest) {
    if (a != a) return b == b; /* NaN beats numbers either way: it is "largest" */
    if (b != b) return !largest;
    return largest ? a > b : a < b;
}

/* One row: n values at stride st -> the k best indices, best first. */
static void topk_row(int64_t *idx, float *val, const float *x, int64_t n, int64_t st, int64_t k, bool largest) {
    int64_t have = 0;
    for (int64_t j = 0; j < n; j++) {
        float v = x[j * st];
        if (have == k && !better(v, val[k - 1], largest)) continue;
        int64_t p = have < k ? have++ : k - 1;
        while (p > 0 && better(v, val[p - 1], largest)) {
            val[p] = val[p - 1], idx[p] = idx[p - 1];
            p--;
        }
        val[p] = v, idx[p] = j;
    }
}

int mg_topk(mg_tensor *t, int64_t k, int dim, bool largest, mg_tensor **values, mg_tensor **indices) {
    const char *op = "topk";
    mg_tensor *tc = NULL, *ix = NULL;
    int64_t *scratch = NULL; /* indices, then values */
    *values = NULL;
    if (indices) *indices = NULL;
    CHECK(t->dtype == MG_F32, "%s: input must be float32, got %s", op, mg_dtype_name(t->dtype));
    CHECK(t->ndim >= 1, "%s: input must have at least one dim, got a 0-dim tensor", op);
    dim = mg_check_dim(op, dim, t->ndim);
    if (dim < 0) goto fail;
    int64_t n = t->shape[dim];
    CHECK(k >= 0 && k <= n, "%s: k must be in 0..%lld (the size of dim %d of %s), got %lld", op, (long long)n,
          dim + 1, mg_shp(t), (long long)k);
    int64_t outer = 1, inner = 1, shape[MG_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) {
        shape[d] = d == dim ? k : t->shape[d];
        if (d < dim) outer *= t->shape[d];
        if (d > dim) inner *= t->shape[d];
    }
    TRY(tc = mg_as_contiguous(t));
    TRY(ix = mg_empty(MG_I64, t->ndim, shape));
    /* per row: k values and k indices */
    size_t per = (size_t)(k > 0 ? k : 1), nrows = (size_t)(outer * inner > 0 ? outer * inner : 1);
    scratch = malloc((sizeof(float) + sizeof(int64_t)) * per * nrows);
    CHECK(scratch, "%s: out of memory", op);
    const float *px = mg_f32(tc);
    int64_t *pi = mg_i64(ix), rows = outer * inner, *bidx = scratch;
    float *bval = (float *)(bidx + per * nrows);
    if (k > 0) {
#pragma omp parallel for if (rows * n > MG_PAR_GRAIN && rows > 1) schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            int64_t o = r / inner, q = r % inner, *best = bidx + r * k;
            topk_row(best, bval + r * k, px + o * n * inner + q, n, inner, k, largest);
            for (int64_t j = 0; j < k; j++) pi[(o * k + j) * inner + q] = best[j];
        }
    }
    free(scratch);
    scratch = NULL;
    TRY(*values = mg_gather(t, dim, ix));
    mg_release(tc);
    if (indices)
        *indices = ix;
    else
        mg_release(ix);
    return MG_OK;
fail:
    free(scratch);
    mg_release(tc), mg_release(ix);
    return MG_ERR;
}
