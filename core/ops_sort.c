/*
 * Sorting and counting: sort and topk (values with their 0-based int64
 * indices along a dim), cumsum, bincount and unique.
 *
 * sort and topk share one kernel: each row along the dim is copied into
 * (value, index) entries and ordered by value, ties by index (so the order
 * is stable and the result deterministic); NaN sorts above every number,
 * as in PyTorch. topk first moves its k entries to the front with a
 * quickselect, then sorts only those. Rows run in parallel.
 *
 * Gradients (op table, ops_sort.def): the values of sort and topk send
 * the gradient back to the positions they came from (op "sort"); cumsum's
 * gradient is the reversed cumulative sum (op "cumsum"). Integer inputs
 * (int64, uint8) sort as int64 and give values of their own dtype.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    union {
        float f;
        int64_t l;
    } v;
    int64_t i;
} sort_entry;

typedef int (*entry_cmp)(const void *, const void *);

static int by_index(const sort_entry *a, const sort_entry *b) { return (a->i > b->i) - (a->i < b->i); }

static int f32_ascending(const void *pa, const void *pb) {
    const sort_entry *a = pa, *b = pb;
    bool na = isnan(a->v.f), nb = isnan(b->v.f);
    if (na != nb) return na ? 1 : -1;
    if (!na && a->v.f != b->v.f) return a->v.f < b->v.f ? -1 : 1;
    return by_index(a, b);
}

static int f32_descending(const void *pa, const void *pb) {
    const sort_entry *a = pa, *b = pb;
    bool na = isnan(a->v.f), nb = isnan(b->v.f);
    if (na != nb) return na ? -1 : 1;
    if (!na && a->v.f != b->v.f) return a->v.f > b->v.f ? -1 : 1;
    return by_index(a, b);
}

static int i64_ascending(const void *pa, const void *pb) {
    const sort_entry *a = pa, *b = pb;
    if (a->v.l != b->v.l) return a->v.l < b->v.l ? -1 : 1;
    return by_index(a, b);
}

static int i64_descending(const void *pa, const void *pb) {
    const sort_entry *a = pa, *b = pb;
    if (a->v.l != b->v.l) return a->v.l > b->v.l ? -1 : 1;
    return by_index(a, b);
}

static void swap_entries(sort_entry *a, sort_entry *b) {
    sort_entry t = *a;
    *a = *b;
    *b = t;
}

/* Moves the k first entries in cmp's order to a[0..k) (in any order):
 * quickselect with a median-of-three pivot. Entries are all distinct
 * (ties are broken by index), so partitions always shrink. */
static void select_first(sort_entry *a, int64_t n, int64_t k, entry_cmp cmp) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cmp(&a[mid], &a[lo]) < 0) swap_entries(&a[mid], &a[lo]);
        if (cmp(&a[hi], &a[lo]) < 0) swap_entries(&a[hi], &a[lo]);
        if (cmp(&a[mid], &a[hi]) < 0) swap_entries(&a[mid], &a[hi]);
        sort_entry pivot = a[hi];
        int64_t store = lo;
        for (int64_t j = lo; j < hi; j++)
            if (cmp(&a[j], &pivot) < 0) swap_entries(&a[j], &a[store++]);
        swap_entries(&a[store], &a[hi]);
        if (store == k || store == k - 1) return;
        if (store < k) lo = store + 1;
        else hi = store - 1;
    }
}

static void split_dim(const mg_tensor *t, int dim, int64_t *outer, int64_t *n, int64_t *inner) {
    *outer = 1, *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= t->shape[d];
    for (int d = dim + 1; d < t->ndim; d++) *inner *= t->shape[d];
    *n = t->ndim ? t->shape[dim] : 1;
}

/* The input as contiguous float32 or int64 (uint8 widened). */
static mg_tensor *sortable(const mg_tensor *t) {
    if (t->dtype == MG_U8) return mg_to_dtype(t, MG_I64);
    return mg_as_contiguous(t);
}

/* The k first of each row along dim, ordered; values of t's dtype and
 * 0-based int64 indices, both of t's shape with k along dim. */
static int sort_k(const char *op, mg_tensor *t, int dim, bool descending, int64_t k, mg_tensor **values,
                  mg_tensor **indices) {
    mg_tensor *c = NULL, *v = NULL, *ix = NULL;
    if ((dim = mg_check_dim(op, dim, t->ndim)) < 0) return MG_ERR;
    int64_t outer, n, inner;
    split_dim(t, dim, &outer, &n, &inner);
    CHECK(t->ndim > 0 || k == 1, "%s: k must be 1 for a 0-dim tensor, got %lld", op, (long long)k);
    CHECK(k >= 0 && k <= n, "%s: k %lld out of range for dim %d of size %lld (valid: 0..%lld)", op, (long long)k,
          dim + 1, (long long)n, (long long)n);
    int64_t shape[MG_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    if (t->ndim) shape[dim] = k;
    TRY(c = sortable(t));
    TRY(v = mg_empty(c->dtype, t->ndim, shape));
    TRY(ix = mg_empty(MG_I64, t->ndim, shape));
    bool f32 = c->dtype == MG_F32;
    entry_cmp cmp = f32 ? (descending ? f32_descending : f32_ascending) : (descending ? i64_descending : i64_ascending);
    int64_t rows = outer * inner;
    bool failed = false;
    if (k > 0) {
#pragma omp parallel if (rows > 1 && rows * n > MG_PAR_GRAIN)
        {
            sort_entry *buf = malloc(sizeof(sort_entry) * (size_t)n);
#pragma omp for schedule(static)
            for (int64_t r = 0; r < rows; r++) {
                if (!buf) {
#pragma omp atomic write
                    failed = true;
                    continue;
                }
                int64_t o = r / inner, j = r % inner, in0 = o * n * inner + j, out0 = o * k * inner + j;
                for (int64_t m = 0; m < n; m++) {
                    if (f32) buf[m].v.f = mg_f32(c)[in0 + m * inner];
                    else buf[m].v.l = mg_i64(c)[in0 + m * inner];
                    buf[m].i = m;
                }
                if (k < n) select_first(buf, n, k, cmp);
                qsort(buf, (size_t)k, sizeof *buf, cmp);
                for (int64_t m = 0; m < k; m++) {
                    if (f32) mg_f32(v)[out0 + m * inner] = buf[m].v.f;
                    else mg_i64(v)[out0 + m * inner] = buf[m].v.l;
                    mg_i64(ix)[out0 + m * inner] = buf[m].i;
                }
            }
            free(buf);
        }
    }
    CHECK(!failed, "%s: out of memory for rows of %lld elements", op, (long long)n);
    mg_release(c);
    c = NULL;
    if (t->dtype == MG_U8) { /* values keep the input's dtype */
        mg_tensor *u = mg_to_dtype(v, MG_U8);
        mg_release(v);
        TRY(v = u);
    }
    if (mg_needs_grad(1, &t)) {
        mg_node *node = mg_record(MG_OP_sort, v, 1, &t);
        TRY(node);
        TRY_OK(mg_save(node, ix));
        node->i[0] = dim;
    }
    *values = v;
    if (indices) *indices = ix;
    else mg_release(ix);
    return MG_OK;
fail:
    mg_release(c), mg_release(v), mg_release(ix);
    return MG_ERR;
}

int mg_sort(mg_tensor *t, int dim, bool descending, mg_tensor **values, mg_tensor **indices) {
    int d = mg_check_dim("sort", dim, t->ndim);
    if (d < 0) return MG_ERR;
    return sort_k("sort", t, d, descending, t->ndim ? t->shape[d] : 1, values, indices);
}

int mg_topk(mg_tensor *t, int64_t k, int dim, bool largest, mg_tensor **values, mg_tensor **indices) {
    return sort_k("topk", t, dim, largest, k, values, indices);
}

/* Each kept value's gradient goes back to the position it came from. */
int mg_bw_sort(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (!needs[0]) return MG_OK;
    mg_tensor *ix = mg_saved(n, 0);
    if (!ix) return MG_ERR;
    int dim = (int)n->i[0];
    mg_tensor *z = mg_zeros(MG_F32, n->in[0].ndim, n->in[0].shape), *gc = z ? mg_as_contiguous(g) : NULL;
    if (!gc) {
        mg_release(z);
        return MG_ERR;
    }
    int64_t outer, len, inner;
    split_dim(z, dim, &outer, &len, &inner);
    int64_t k = z->ndim ? ix->shape[dim] : 1;
    const int64_t *pi = mg_i64(ix);
    const float *pg = mg_f32(gc);
    float *pz = mg_f32(z);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t m = 0; m < k; m++)
            for (int64_t j = 0; j < inner; j++) {
                int64_t e = (o * k + m) * inner + j;
                pz[(o * len + pi[e]) * inner + j] += pg[e];
            }
    mg_release(gc);
    gin[0] = z;
    return MG_OK;
}

/* ---- cumsum ------------------------------------------------------------------ */

/* out[.., m, ..] = sum of x[.., 0..m, ..] (reverse: of x[.., m..n-1, ..]) along
 * the middle dim of [outer, n, inner]; float32 sums run in double. */
static void running_sum(const mg_tensor *x, mg_tensor *out, int64_t outer, int64_t n, int64_t inner, bool reverse) {
    bool f32 = x->dtype == MG_F32;
#pragma omp parallel for if (outer * n * inner > MG_PAR_GRAIN && outer * inner > 1) schedule(static)
    for (int64_t r = 0; r < outer * inner; r++) {
        int64_t o = r / inner, j = r % inner;
        double s = 0;
        uint64_t si = 0; /* integer sums wrap as in PyTorch */
        for (int64_t step = 0; step < n; step++) {
            int64_t m = reverse ? n - 1 - step : step, e = (o * n + m) * inner + j;
            if (f32) {
                s += mg_f32(x)[e];
                mg_f32(out)[e] = (float)s;
            } else {
                si += (uint64_t)mg_i64(x)[e];
                mg_i64(out)[e] = (int64_t)si;
            }
        }
    }
}

mg_tensor *mg_cumsum(mg_tensor *t, int dim) {
    if ((dim = mg_check_dim("cumsum", dim, t->ndim)) < 0) return NULL;
    mg_tensor *c = t->dtype == MG_U8 ? mg_to_dtype(t, MG_I64) : mg_as_contiguous(t);
    mg_tensor *out = c ? mg_empty(c->dtype, t->ndim, t->shape) : NULL;
    if (!out) {
        mg_release(c);
        return NULL;
    }
    int64_t outer, n, inner;
    split_dim(t, dim, &outer, &n, &inner);
    running_sum(c, out, outer, n, inner, false);
    mg_release(c);
    if (!mg_needs_grad(1, &t)) return out;
    mg_node *node = mg_record(MG_OP_cumsum, out, 1, &t);
    if (!node) {
        mg_release(out);
        return NULL;
    }
    node->i[0] = dim;
    return out;
}

int mg_bw_cumsum(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (!needs[0]) return MG_OK;
    mg_tensor *gc = mg_as_contiguous(g), *z = gc ? mg_empty(MG_F32, gc->ndim, gc->shape) : NULL;
    if (!z) {
        mg_release(gc);
        return MG_ERR;
    }
    int64_t outer, len, inner;
    split_dim(z, (int)n->i[0], &outer, &len, &inner);
    running_sum(gc, z, outer, len, inner, true);
    mg_release(gc);
    gin[0] = z;
    return MG_OK;
}

/* ---- bincount and unique ------------------------------------------------------------ */

mg_tensor *mg_bincount(const mg_tensor *x, const mg_tensor *weights, int64_t minlength) {
    mg_tensor *c = NULL, *w = NULL, *out = NULL;
    CHECK(x->dtype != MG_F32, "bincount: needs an integer tensor (int64 or uint8), got float32 (convert with :long())");
    CHECK(x->ndim == 1, "bincount: needs a 1-D tensor, got %s", mg_shp(x));
    CHECK(minlength >= 0, "bincount: minlength must be >= 0, got %lld", (long long)minlength);
    if (weights) {
        CHECK(weights->dtype == MG_F32, "bincount: weights must be float32, got %s", mg_dtype_name(weights->dtype));
        CHECK(mg_same_shape(weights, x), "bincount: weights %s must have the input's shape %s", mg_shp(weights),
              mg_shp2(x));
    }
    TRY(c = x->dtype == MG_I64 ? mg_as_contiguous(x) : mg_to_dtype(x, MG_I64));
    int64_t m = mg_numel(c), len = minlength;
    const int64_t *px = mg_i64(c);
    for (int64_t i = 0; i < m; i++) {
        CHECK(px[i] >= 0, "bincount: value %lld at position %lld is below the first bin (bins are 1-based)",
              (long long)px[i] + 1, (long long)i + 1);
        if (px[i] + 1 > len) len = px[i] + 1;
    }
    if (!(out = mg_zeros(weights ? MG_F32 : MG_I64, 1, &len))) {
        char why[256];
        snprintf(why, sizeof why, "%s", mg_last_error());
        mg_error("bincount: cannot make %lld bins (one per value up to the largest): %s", (long long)len, why);
        goto fail;
    }
    if (weights) {
        TRY(w = mg_as_contiguous(weights));
        double *acc = calloc((size_t)(len ? len : 1), sizeof *acc);
        CHECK(acc, "bincount: out of memory for %lld bins", (long long)len);
        for (int64_t i = 0; i < m; i++) acc[px[i]] += mg_f32(w)[i];
        for (int64_t b = 0; b < len; b++) mg_f32(out)[b] = (float)acc[b];
        free(acc);
    } else {
        for (int64_t i = 0; i < m; i++) mg_i64(out)[px[i]]++;
    }
    mg_release(c), mg_release(w);
    return out;
fail:
    mg_release(c), mg_release(w), mg_release(out);
    return NULL;
}

int mg_unique(const mg_tensor *t, mg_tensor **values, mg_tensor **inverse, mg_tensor **counts) {
    mg_tensor *c = NULL, *v = NULL, *inv = NULL, *cnt = NULL;
    sort_entry *buf = NULL;
    TRY(c = sortable(t));
    int64_t n = mg_numel(c);
    bool f32 = c->dtype == MG_F32;
    buf = malloc(sizeof *buf * (size_t)(n ? n : 1));
    CHECK(buf, "unique: out of memory for %lld elements", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (f32) buf[i].v.f = mg_f32(c)[i];
        else buf[i].v.l = mg_i64(c)[i];
        buf[i].i = i;
    }
    qsort(buf, (size_t)n, sizeof *buf, f32 ? f32_ascending : i64_ascending);
    int64_t u = 0; /* distinct values; NaN equals nothing, so each NaN stays apart */
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || (f32 ? buf[i].v.f != buf[i - 1].v.f : buf[i].v.l != buf[i - 1].v.l)) u++;
    TRY(v = mg_empty(c->dtype, 1, &u));
    TRY(cnt = mg_zeros(MG_I64, 1, &u));
    TRY(inv = mg_empty(MG_I64, t->ndim, t->shape));
    int64_t k = -1;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || (f32 ? buf[i].v.f != buf[i - 1].v.f : buf[i].v.l != buf[i - 1].v.l)) {
            k++;
            if (f32) mg_f32(v)[k] = buf[i].v.f;
            else mg_i64(v)[k] = buf[i].v.l;
        }
        mg_i64(cnt)[k]++;
        mg_i64(inv)[buf[i].i] = k;
    }
    free(buf);
    buf = NULL;
    mg_release(c);
    c = NULL;
    if (t->dtype == MG_U8) {
        mg_tensor *b = mg_to_dtype(v, MG_U8);
        mg_release(v);
        TRY(v = b);
    }
    *values = v, *inverse = inv, *counts = cnt;
    return MG_OK;
fail:
    free(buf);
    mg_release(c), mg_release(v), mg_release(inv), mg_release(cnt);
    return MG_ERR;
}
