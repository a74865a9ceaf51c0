/*
 * Joining and indexing: cat, stack, index_select, gather, rot90, flip,
 * masked_fill and one_hot. Outputs are new contiguous tensors of the
 * input's dtype (any dtype). Indices are int64 and 0-based here; error
 * messages show them 1-based, as users wrote them.
 *
 * rot90 and flip describe their result as a strided view of the input
 * (negative strides on reversed dims) and copy it with one plane kernel:
 * tiles of the last two dims, pointer steps only, so rotating a batch of
 * images [N,C,H,W] in dims (3,4) is one pass over memory.
 */
#include "internal.h"

#include <stdlib.h>

static int check_index(const char *op, const mg_tensor *ix, const char *what) {
    if (ix->dtype != MG_I64)
        return mg_error("%s: %s must be int64, got %s (convert with :long())", op, what, mg_dtype_name(ix->dtype));
    return MG_OK;
}

/* Checks that every index lies in [0, n); the message shows it 1-based. */
static int check_range(const char *op, const int64_t *ix, int64_t m, int64_t n, int dim, const char *what) {
    for (int64_t j = 0; j < m; j++)
        if (ix[j] < 0 || ix[j] >= n)
            return mg_error("%s: %s %lld out of range for dim %d of size %lld (valid: 1..%lld)", op, what,
                            (long long)ix[j] + 1, dim + 1, (long long)n, (long long)n);
    return MG_OK;
}

static void split_at(const int64_t *shape, int ndim, int dim, int64_t *outer, int64_t *inner) {
    *outer = 1, *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= shape[d];
    for (int d = dim + 1; d < ndim; d++) *inner *= shape[d];
}

static char *bytes(const mg_tensor *t) {
    return (char *)t->storage->data + (size_t)t->offset * mg_dtype_size(t->dtype);
}

/* ---- cat and stack ----------------------------------------------------------- */

/* A node has at most MG_NODE_MAX_INPUTS inputs. For more, the inputs are
 * grouped: each group's part of the output is a slice alias of `out` (no
 * copy) with a cat node of its own, and out's node joins the groups. */
static int record_cat(mg_tensor *out, int m, mg_tensor *const *ins, const int64_t *start, int dim) {
    if (m <= MG_NODE_MAX_INPUTS) {
        mg_node *node = mg_record(MG_OP_cat, out, m, ins);
        if (!node) return MG_ERR;
        node->i[0] = dim;
        for (int k = 0; k < m; k++) node->i[1 + k] = start[k];
        return MG_OK;
    }
    mg_tensor *parts[MG_NODE_MAX_INPUTS] = {NULL};
    int64_t pstart[MG_NODE_MAX_INPUTS];
    int per = (m + MG_NODE_MAX_INPUTS - 1) / MG_NODE_MAX_INPUTS, g = 0, rc = MG_OK;
    int64_t *rel = malloc(sizeof(int64_t) * (size_t)per);
    if (!rel) return mg_error("cat: out of memory");
    for (int lo = 0; lo < m && rc == MG_OK; lo += per, g++) {
        int hi = lo + per < m ? lo + per : m;
        pstart[g] = start[lo];
        if (hi - lo == 1) {
            parts[g] = mg_retain(ins[lo]);
            continue;
        }
        int64_t shape[MG_MAX_DIMS];
        memcpy(shape, out->shape, sizeof shape);
        shape[dim] = start[hi - 1] + ins[hi - 1]->shape[dim] - start[lo];
        parts[g] = mg_alias(out, out->ndim, shape, out->stride, out->offset + start[lo] * out->stride[dim]);
        if (!parts[g]) {
            rc = MG_ERR;
            break;
        }
        for (int k = lo; k < hi; k++) rel[k - lo] = start[k] - start[lo];
        rc = record_cat(parts[g], hi - lo, ins + lo, rel, dim);
    }
    if (rc == MG_OK) rc = record_cat(out, g, parts, pstart, dim);
    for (int k = 0; k < MG_NODE_MAX_INPUTS; k++) mg_release(parts[k]);
    free(rel);
    return rc;
}

/* A 1-D empty tensor joins anything (it is skipped), as in PyTorch. */
static bool skippable(const mg_tensor *t) { return t->ndim == 1 && t->shape[0] == 0; }

mg_tensor *mg_cat(int n, mg_tensor *const *ts, int dim) {
    mg_tensor *out = NULL, **grads = NULL;
    int64_t *starts = NULL;
    CHECK(n >= 1, "cat: needs at least one tensor");
    int r = 0;
    while (r < n - 1 && skippable(ts[r])) r++;
    const mg_tensor *ref = ts[r];
    CHECK(ref->ndim > 0, "cat: cannot join 0-dim tensors (tensor %d; use stack)", r + 1);
    if ((dim = mg_check_dim("cat", dim, ref->ndim)) < 0) return NULL;
    int64_t shape[MG_MAX_DIMS];
    memcpy(shape, ref->shape, sizeof shape);
    shape[dim] = 0;
    for (int k = 0; k < n; k++) {
        const mg_tensor *t = ts[k];
        if (k != r && skippable(t)) continue;
        CHECK(t->dtype == ref->dtype, "cat: tensor %d is %s, tensor %d is %s", k + 1, mg_dtype_name(t->dtype),
              r + 1, mg_dtype_name(ref->dtype));
        bool ok = t->ndim == ref->ndim;
        for (int d = 0; ok && d < ref->ndim; d++) ok = d == dim || t->shape[d] == ref->shape[d];
        CHECK(ok, "cat: sizes must match except in dim %d: tensor %d is %s, tensor %d is %s", dim + 1, k + 1,
              mg_shp(t), r + 1, mg_shp(ref));
        shape[dim] += t->shape[dim];
    }
    TRY(out = mg_empty(ref->dtype, ref->ndim, shape));
    starts = malloc(sizeof(int64_t) * (size_t)n);
    grads = malloc(sizeof(mg_tensor *) * (size_t)n);
    CHECK(starts && grads, "cat: out of memory");
    bool want_grad = mg_needs_grad(n, ts);
    int64_t pos = 0;
    int ng = 0;
    for (int k = 0; k < n; k++) {
        mg_tensor *t = ts[k];
        if (k != r && skippable(t)) continue;
        int64_t len = t->shape[dim];
        if (mg_numel(t) > 0) {
            int64_t sh[MG_MAX_DIMS];
            memcpy(sh, out->shape, sizeof sh);
            sh[dim] = len;
            mg_tensor *slice = mg_alias(out, out->ndim, sh, out->stride, pos * out->stride[dim]);
            TRY(slice);
            mg_strided_copy(slice, t);
            mg_release(slice);
        }
        if (want_grad && t->requires_grad) {
            starts[ng] = pos;
            grads[ng++] = t;
        }
        pos += len;
    }
    if (ng > 0) TRY_OK(record_cat(out, ng, grads, starts, dim));
    free(starts);
    free(grads);
    return out;
fail:
    free(starts);
    free(grads);
    mg_release(out);
    return NULL;
}

/* Each input's gradient is its slice of g. */
int mg_bw_cat(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    int dim = (int)n->i[0];
    for (int k = 0; k < n->n_inputs; k++)
        if (needs[k] && !(gin[k] = mg_narrow(g, dim, n->i[1 + k], n->in[k].shape[dim]))) return MG_ERR;
    return MG_OK;
}

mg_tensor *mg_stack(int n, mg_tensor *const *ts, int dim) {
    if (n < 1) {
        mg_error("stack: needs at least one tensor");
        return NULL;
    }
    int nd = ts[0]->ndim;
    if (nd >= MG_MAX_DIMS) {
        mg_error("stack: %d-dim tensors cannot gain a dim (at most %d)", nd, MG_MAX_DIMS);
        return NULL;
    }
    if (dim < -(nd + 1) || dim > nd) {
        mg_error("stack: dim %d out of range for %d-dim tensors", dim, nd);
        return NULL;
    }
    if (dim < 0) dim += nd + 1;
    for (int k = 1; k < n; k++)
        if (!mg_same_shape(ts[k], ts[0]) || ts[k]->dtype != ts[0]->dtype) {
            mg_error("stack: all tensors must have one shape and dtype: tensor %d is %s %s, tensor 1 is %s %s",
                     k + 1, mg_shp(ts[k]), mg_dtype_name(ts[k]->dtype), mg_shp(ts[0]), mg_dtype_name(ts[0]->dtype));
            return NULL;
        }
    mg_tensor **u = calloc((size_t)n, sizeof *u), *out = NULL;
    if (!u) {
        mg_error("stack: out of memory");
        return NULL;
    }
    int k = 0;
    while (k < n && (u[k] = mg_unsqueeze(ts[k], dim))) k++;
    if (k == n) out = mg_cat(n, u, dim);
    for (int j = 0; j < n; j++) mg_release(u[j]);
    free(u);
    return out;
}

/* ---- index_select ---------------------------------------------------------------- */

/* out (outer, m, inner) = x (outer, n, inner) with rows ix (m), elements of es bytes */
static void select_rows(char *out, const char *x, const int64_t *ix, int64_t outer, int64_t n, int64_t m,
                        int64_t inner, size_t es) {
    int64_t tasks = outer * m;
    bool par = tasks * inner > MG_PAR_GRAIN && tasks > 1;
    if (inner == 1 && es == 4) {
        const float *xs = (const float *)x;
        float *o = (float *)out;
#pragma omp parallel for if (par && outer > 1) schedule(static)
        for (int64_t r = 0; r < outer; r++)
            for (int64_t j = 0; j < m; j++) o[r * m + j] = xs[r * n + ix[j]];
        return;
    }
    size_t row = (size_t)inner * es;
#pragma omp parallel for if (par) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t r = t / m, j = t % m;
        memcpy(out + (size_t)t * row, x + (size_t)(r * n + ix[j]) * row, row);
    }
}

mg_tensor *mg_index_select(mg_tensor *t, int dim, const mg_tensor *index) {
    mg_tensor *ix = NULL, *c = NULL, *out = NULL;
    if (check_index("index_select", index, "index")) return NULL;
    CHECK(t->ndim > 0, "index_select: cannot index a 0-dim tensor");
    if ((dim = mg_check_dim("index_select", dim, t->ndim)) < 0) return NULL;
    CHECK(index->ndim <= 1, "index_select: index must be 1-D, got %s", mg_shp(index));
    TRY(ix = mg_as_contiguous(index));
    int64_t m = mg_numel(ix), n = t->shape[dim], outer, inner;
    TRY_OK(check_range("index_select", mg_i64(ix), m, n, dim, "index"));
    int64_t shape[MG_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[dim] = m;
    TRY(c = mg_as_contiguous(t));
    TRY(out = mg_empty(t->dtype, t->ndim, shape));
    split_at(t->shape, t->ndim, dim, &outer, &inner);
    if (mg_numel(out) > 0) select_rows(bytes(out), bytes(c), mg_i64(ix), outer, n, m, inner, mg_dtype_size(t->dtype));
    mg_release(c);
    c = NULL;
    if (mg_needs_grad(1, &t)) {
        mg_node *node = mg_record(MG_OP_index_select, out, 1, &t);
        TRY(node);
        TRY_OK(mg_save(node, ix));
        node->i[0] = dim;
    }
    mg_release(ix);
    return out;
fail:
    mg_release(ix), mg_release(c), mg_release(out);
    return NULL;
}

/* dx (outer, n, inner) += g (outer, m, inner) scattered to rows ix (m); repeats add up */
static void scatter_rows(float *dx, const float *g, const int64_t *ix, int64_t outer, int64_t n, int64_t m,
                         int64_t inner) {
    bool big = outer * m * inner > MG_PAR_GRAIN;
    if (outer >= 2 * mg_threads() || inner < 64) {
        /* outer rows are disjoint in dx */
#pragma omp parallel for if (big && outer > 1) schedule(static)
        for (int64_t r = 0; r < outer; r++)
            for (int64_t j = 0; j < m; j++) {
                float *d = dx + (r * n + ix[j]) * inner;
                const float *s = g + (r * m + j) * inner;
#pragma omp simd
                for (int64_t e = 0; e < inner; e++) d[e] += s[e];
            }
        return;
    }
    /* few outer rows: split the columns instead */
    int64_t chunks = (inner + 63) / 64;
#pragma omp parallel for if (big) schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t lo = c * 64, hi = lo + 64 < inner ? lo + 64 : inner;
        for (int64_t r = 0; r < outer; r++)
            for (int64_t j = 0; j < m; j++) {
                float *d = dx + (r * n + ix[j]) * inner;
                const float *s = g + (r * m + j) * inner;
#pragma omp simd
                for (int64_t e = lo; e < hi; e++) d[e] += s[e];
            }
    }
}

int mg_bw_index_select(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (!needs[0]) return MG_OK;
    mg_tensor *ix = mg_saved(n, 0);
    if (!ix) return MG_ERR;
    int dim = (int)n->i[0];
    mg_tensor *z = mg_zeros(MG_F32, n->in[0].ndim, n->in[0].shape), *gc = z ? mg_as_contiguous(g) : NULL;
    if (!gc) {
        mg_release(z);
        return MG_ERR;
    }
    int64_t outer, inner;
    split_at(z->shape, z->ndim, dim, &outer, &inner);
    if (mg_numel(gc) > 0) scatter_rows(mg_f32(z), mg_f32(gc), mg_i64(ix), outer, z->shape[dim], mg_numel(ix), inner);
    mg_release(gc);
    gin[0] = z;
    return MG_OK;
}

/* ---- gather ---------------------------------------------------------------------- */

/* Walks the index (contiguous, shape of the output) row by row along its
 * last dim; `base` is the input offset of a row without the gathered dim.
 * BODY sees e (flat output position) and src (input offset); `par` says
 * whether to run in parallel. */
#define GATHER_LOOP(BODY)                                                                         \
    do {                                                                                          \
        _Pragma("omp parallel for if (par) schedule(static)")                                     \
        for (int64_t blk = 0; blk < blocks; blk++) {                                              \
            for (int64_t r = blk * rpb; r < (blk + 1) * rpb; r++) {                               \
                int64_t rem = r, base = 0;                                                        \
                for (int d = last - 1; d >= 0; d--) {                                             \
                    int64_t c = rem % ishape[d];                                                  \
                    rem /= ishape[d];                                                             \
                    if (d != dim) base += c * tstride[d];                                         \
                }                                                                                 \
                for (int64_t i = 0; i < len; i++) {                                               \
                    int64_t e = r * len + i;                                                      \
                    int64_t src = base + ix[e] * tstride[dim] + (dim == last ? 0 : i * tstride[last]); \
                    BODY;                                                                         \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)

/* Blocks of rows whose scatters never collide: rows that differ only in
 * dims after `dim` (or in none, when dim is the last) share a block. */
static void gather_blocks(const mg_tensor *index, int dim, int64_t *blocks, int64_t *rpb) {
    int last = index->ndim - 1;
    int64_t len = index->shape[last], rows = len ? mg_numel(index) / len : 0, outer = 1;
    for (int d = 0; d < dim && d < last; d++) outer *= index->shape[d];
    if (dim == last) outer = rows;
    *blocks = outer;
    *rpb = outer ? rows / outer : 0;
}

mg_tensor *mg_gather(mg_tensor *t, int dim, const mg_tensor *index) {
    mg_tensor *ixc = NULL, *out = NULL;
    if (check_index("gather", index, "index")) return NULL;
    CHECK(t->ndim > 0, "gather: cannot gather from a 0-dim tensor");
    if ((dim = mg_check_dim("gather", dim, t->ndim)) < 0) return NULL;
    CHECK(index->ndim == t->ndim, "gather: index %s must have as many dims as the input %s", mg_shp(index), mg_shp(t));
    for (int d = 0; d < t->ndim; d++)
        CHECK(d == dim || index->shape[d] <= t->shape[d],
              "gather: index %s is larger than the input %s in dim %d", mg_shp(index), mg_shp(t), d + 1);
    TRY(ixc = mg_as_contiguous(index));
    TRY_OK(check_range("gather", mg_i64(ixc), mg_numel(ixc), t->shape[dim], dim, "index"));
    TRY(out = mg_empty(t->dtype, index->ndim, index->shape));
    if (mg_numel(out) > 0) {
        const int64_t *ix = mg_i64(ixc), *ishape = index->shape, *tstride = t->stride;
        int last = t->ndim - 1;
        int64_t len = ishape[last], blocks, rpb;
        gather_blocks(index, dim, &blocks, &rpb);
        bool par = mg_numel(out) > MG_PAR_GRAIN && blocks > 1;
        switch (t->dtype) {
        case MG_F32: {
            const float *s = mg_f32(t);
            float *o = mg_f32(out);
            GATHER_LOOP(o[e] = s[src]);
            break;
        }
        case MG_I64: {
            const int64_t *s = mg_i64(t);
            int64_t *o = mg_i64(out);
            GATHER_LOOP(o[e] = s[src]);
            break;
        }
        case MG_U8: {
            const uint8_t *s = mg_u8(t);
            uint8_t *o = mg_u8(out);
            GATHER_LOOP(o[e] = s[src]);
            break;
        }
        }
    }
    if (mg_needs_grad(1, &t)) {
        mg_node *node = mg_record(MG_OP_gather, out, 1, &t);
        TRY(node);
        TRY_OK(mg_save(node, ixc));
        node->i[0] = dim;
    }
    mg_release(ixc);
    return out;
fail:
    mg_release(ixc), mg_release(out);
    return NULL;
}

int mg_bw_gather(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (!needs[0]) return MG_OK;
    mg_tensor *index = mg_saved(n, 0);
    if (!index) return MG_ERR;
    int dim = (int)n->i[0];
    mg_tensor *z = mg_zeros(MG_F32, n->in[0].ndim, n->in[0].shape), *gc = z ? mg_as_contiguous(g) : NULL;
    if (!gc) {
        mg_release(z);
        return MG_ERR;
    }
    if (mg_numel(gc) > 0) {
        const int64_t *ix = mg_i64(index), *ishape = index->shape, *tstride = z->stride;
        int last = z->ndim - 1;
        int64_t len = ishape[last], blocks, rpb;
        gather_blocks(index, dim, &blocks, &rpb);
        float *d = mg_f32(z);
        const float *s = mg_f32(gc);
        bool par = mg_numel(gc) > MG_PAR_GRAIN && blocks > 1;
        GATHER_LOOP(d[src] += s[e]);
    }
    mg_release(gc);
    gin[0] = z;
    return MG_OK;
}

/* ---- strided views: rot90 and flip ------------------------------------------------- */

#define TILE 32

/* Reverses a row of n 4-byte elements: o[j] = s[-j]. At -O2 GCC leaves
 * the plain loop scalar (several times slower), so 8 lanes are reversed
 * with a vector shuffle. */
static void reverse32(uint32_t *restrict o, const uint32_t *s, int64_t n) {
    int64_t j = 0;
#if defined(__GNUC__) && !defined(__clang__)
    typedef uint32_t v8 __attribute__((vector_size(32)));
    typedef int32_t m8 __attribute__((vector_size(32)));
    for (; j + 8 <= n; j += 8) {
        v8 v;
        memcpy(&v, s - j - 7, sizeof v);
        v = __builtin_shuffle(v, (m8){7, 6, 5, 4, 3, 2, 1, 0});
        memcpy(o + j, &v, sizeof v);
    }
#endif
    for (; j < n; j++) o[j] = s[-j];
}

/* One strip of a plane: rows [r0, r1) of an R x C output plane o, read from
 * s at (i * rs + j * cs): rows copied forwards (memcpy), backwards, or with
 * a stride (a transpose; whole planes of small images sit in L1). */
#define PLANE_KERNEL(T)                                                                          \
    static void plane_##T(T *restrict o, const T *s, int64_t r0, int64_t r1, int64_t C, int64_t rs, \
                          int64_t cs) {                                                          \
        for (int64_t i = r0; i < r1; i++) {                                                      \
            T *restrict op = o + i * C;                                                          \
            const T *sp = s + i * rs;                                                            \
            if (cs == 1) memcpy(op, sp, (size_t)C * sizeof(T));                                  \
            else if (cs == -1 && sizeof(T) == 4) reverse32((uint32_t *)op, (const uint32_t *)sp, C); \
            else for (int64_t j = 0; j < C; j++) op[j] = sp[j * cs];                             \
        }                                                                                        \
    }
PLANE_KERNEL(uint8_t)
PLANE_KERNEL(uint32_t)
PLANE_KERNEL(uint64_t)

/* out (contiguous) = the view of src's storage with out's shape, the given
 * strides (any sign) and element offset. */
static void copy_view(mg_tensor *out, const mg_tensor *src, const int64_t *stride, int64_t offset) {
    int64_t st[4][MG_MAX_DIMS];
    for (int d = 0; d < out->ndim; d++) {
        st[0][d] = out->stride[d];
        st[1][d] = stride[d];
    }
    mg_iter it;
    mg_iter_init(&it, 2, out->ndim, out->shape, st);
    if (it.outer * it.inner == 0) return;
    int nd = it.ndim;
    int64_t R = nd >= 2 ? it.shape[nd - 2] : 1, C = it.inner;
    int64_t rs = nd >= 2 ? it.stride[1][nd - 2] : 0, cs = it.stride[1][nd - 1];
    int64_t planes = it.outer / R, strips = (R + TILE - 1) / TILE, tasks = planes * strips;
    size_t es = mg_dtype_size(src->dtype);
    char *ob = bytes(out);
    const char *sb = (const char *)src->storage->data + offset * (int64_t)es;
#pragma omp parallel for if (it.outer * it.inner > MG_PAR_GRAIN && tasks > 1) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t p = t / strips, r0 = (t % strips) * TILE, r1 = r0 + TILE < R ? r0 + TILE : R;
        int64_t off[4];
        mg_iter_offsets(&it, p * R, off);
        char *o = ob + off[0] * (int64_t)es;
        const char *s = sb + off[1] * (int64_t)es;
        if (es == 4) plane_uint32_t((uint32_t *)o, (const uint32_t *)s, r0, r1, C, rs, cs);
        else if (es == 8) plane_uint64_t((uint64_t *)o, (const uint64_t *)s, r0, r1, C, rs, cs);
        else plane_uint8_t((uint8_t *)o, (const uint8_t *)s, r0, r1, C, rs, cs);
    }
}

typedef struct {
    int64_t shape[MG_MAX_DIMS], stride[MG_MAX_DIMS], offset;
} view_t;

static void view_of(const mg_tensor *t, view_t *v) {
    memcpy(v->shape, t->shape, sizeof v->shape);
    memcpy(v->stride, t->stride, sizeof v->stride);
    v->offset = t->offset;
}

static void view_flip(view_t *v, int d) {
    if (v->shape[d] > 0) v->offset += (v->shape[d] - 1) * v->stride[d];
    v->stride[d] = -v->stride[d];
}

static void view_swap(view_t *v, int a, int b) {
    int64_t s = v->shape[a], st = v->stride[a];
    v->shape[a] = v->shape[b], v->stride[a] = v->stride[b];
    v->shape[b] = s, v->stride[b] = st;
}

/* A new contiguous tensor holding view v of t. */
static mg_tensor *materialize(const mg_tensor *t, const view_t *v) {
    mg_tensor *out = mg_empty(t->dtype, t->ndim, v->shape);
    if (out) copy_view(out, t, v->stride, v->offset);
    return out;
}

static mg_tensor *rot90_nograd(const mg_tensor *t, int k, int d0, int d1) {
    view_t v;
    view_of(t, &v);
    if (k == 1 || k == 3) { /* k=1: flip d1 then swap; k=3: flip d0 then swap */
        view_flip(&v, k == 1 ? d1 : d0);
        view_swap(&v, d0, d1);
    } else if (k == 2) {
        view_flip(&v, d0);
        view_flip(&v, d1);
    }
    return materialize(t, &v);
}

mg_tensor *mg_rot90(mg_tensor *t, int k, int d0, int d1) {
    if (t->ndim < 2) {
        mg_error("rot90: needs at least 2 dims, got %s", mg_shp(t));
        return NULL;
    }
    if ((d0 = mg_check_dim("rot90", d0, t->ndim)) < 0 || (d1 = mg_check_dim("rot90", d1, t->ndim)) < 0) return NULL;
    if (d0 == d1) {
        mg_error("rot90: the two dims must differ, got dim %d twice", d0 + 1);
        return NULL;
    }
    k = ((k % 4) + 4) % 4;
    mg_tensor *out = rot90_nograd(t, k, d0, d1);
    if (!out || !mg_needs_grad(1, &t)) return out;
    mg_node *n = mg_record(MG_OP_rot90, out, 1, &t);
    if (!n) {
        mg_release(out);
        return NULL;
    }
    n->i[0] = k, n->i[1] = d0, n->i[2] = d1;
    return out;
}

/* The inverse rotation: -k in the same plane. */
int mg_bw_rot90(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (needs[0] && !(gin[0] = rot90_nograd(g, (4 - (int)n->i[0]) % 4, (int)n->i[1], (int)n->i[2]))) return MG_ERR;
    return MG_OK;
}

static mg_tensor *flip_nograd(const mg_tensor *t, int ndims, const int64_t *dims) {
    view_t v;
    view_of(t, &v);
    for (int k = 0; k < ndims; k++) view_flip(&v, (int)dims[k]);
    return materialize(t, &v);
}

mg_tensor *mg_flip(mg_tensor *t, int ndims, const int *dims) {
    int64_t ds[MG_MAX_DIMS];
    bool seen[MG_MAX_DIMS] = {false};
    if (ndims < 0 || ndims > (t->ndim ? t->ndim : 1)) {
        mg_error("flip: got %d dims for a %d-dim tensor", ndims, t->ndim);
        return NULL;
    }
    for (int k = 0; k < ndims; k++) {
        int d = mg_check_dim("flip", dims[k], t->ndim);
        if (d < 0) return NULL;
        if (seen[d]) {
            mg_error("flip: dim %d appears more than once", d + 1);
            return NULL;
        }
        seen[d] = true;
        ds[k] = d;
    }
    if (t->ndim == 0) ndims = 0; /* flipping a scalar is a copy */
    mg_tensor *out = flip_nograd(t, ndims, ds);
    if (!out || !mg_needs_grad(1, &t)) return out;
    mg_node *n = mg_record(MG_OP_flip, out, 1, &t);
    if (!n) {
        mg_release(out);
        return NULL;
    }
    n->i[0] = ndims;
    for (int k = 0; k < ndims; k++) n->i[1 + k] = ds[k];
    return out;
}

/* A flip is its own inverse. */
int mg_bw_flip(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (needs[0] && !(gin[0] = flip_nograd(g, (int)n->i[0], n->i + 1))) return MG_ERR;
    return MG_OK;
}

/* ---- masked_fill ------------------------------------------------------------------- */

/* Rows of out = mask != 0 ? v : a, mask of any dtype (strides broadcast). */
#define MASK_ROW(MT)                                                                             \
    do {                                                                                         \
        const MT *m = (const MT *)mb + off[2];                                                   \
        for (int64_t i = 0; i < it.inner; i++) o[i] = m[i * sm] != 0 ? v : a[i * sa];            \
    } while (0)

static void fill_where(mg_tensor *out, const mg_tensor *t, const mg_tensor *mask, double value) {
    int64_t st[4][MG_MAX_DIMS];
    int nd = out->ndim;
    for (int d = 0; d < nd; d++) st[0][d] = out->stride[d], st[1][d] = t->stride[d];
    mg_broadcast_strides(mask, nd, out->shape, st[2]);
    mg_iter it;
    mg_iter_init(&it, 3, nd, out->shape, st);
    int64_t last = it.ndim - 1, sa = it.stride[1][last], sm = it.stride[2][last];
    const char *mb = bytes(mask);
    float *ob = mg_f32(out), v = (float)value;
    const float *ab = mg_f32(t);
#pragma omp parallel for if (it.outer * it.inner > MG_PAR_GRAIN && it.outer > 1) schedule(static)
    for (int64_t r = 0; r < it.outer; r++) {
        int64_t off[4];
        mg_iter_offsets(&it, r, off);
        float *o = ob + off[0];
        const float *a = ab + off[1];
        switch (mask->dtype) {
        case MG_F32: MASK_ROW(float); break;
        case MG_I64: MASK_ROW(int64_t); break;
        case MG_U8: MASK_ROW(uint8_t); break;
        }
    }
}

mg_tensor *mg_masked_fill(mg_tensor *t, const mg_tensor *mask, double value) {
    int nd;
    int64_t shape[MG_MAX_DIMS];
    if (mg_broadcast_shape("masked_fill", t, mask, &nd, shape)) return NULL;
    if (nd != t->ndim || mg_shape_numel(nd, shape) != mg_numel(t) || memcmp(shape, t->shape, sizeof(int64_t) * (size_t)nd)) {
        mg_error("masked_fill: mask %s cannot be broadcast to the input %s", mg_shp(mask), mg_shp(t));
        return NULL;
    }
    mg_tensor *out = mg_empty(t->dtype, t->ndim, t->shape);
    if (!out) return NULL;
    if (t->dtype == MG_F32) {
        fill_where(out, t, mask, value);
    } else { /* other dtypes: copy, then write the value through the mask */
        mg_strided_copy(out, t);
        bool was = mg_grad_enabled();
        mg_set_grad_enabled(false);
        mg_tensor *m = mg_expand((mg_tensor *)mask, t->ndim, t->shape);
        mg_set_grad_enabled(was);
        if (!m) {
            mg_release(out);
            return NULL;
        }
        int64_t n = mg_numel(out);
        for (int64_t i = 0; i < n; i++)
            if (mg_get_flat(m, i) != 0) mg_set_flat(out, i, value);
        mg_release(m);
    }
    if (!mg_needs_grad(1, &t)) return out;
    mg_node *n = mg_record(MG_OP_masked_fill, out, 1, &t);
    if (!n || mg_save(n, (mg_tensor *)mask)) {
        mg_release(out);
        return NULL;
    }
    return out;
}

/* Filled places get no gradient. */
int mg_bw_masked_fill(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (!needs[0]) return MG_OK;
    mg_tensor *mask = mg_saved(n, 0);
    if (!mask || !(gin[0] = mg_masked_fill(g, mask, 0.0))) return MG_ERR;
    return MG_OK;
}

/* ---- one_hot ------------------------------------------------------------------------ */

mg_tensor *mg_one_hot(const mg_tensor *classes, int64_t n) {
    mg_tensor *c = NULL, *out = NULL;
    if (check_index("one_hot", classes, "classes")) return NULL;
    CHECK(classes->ndim < MG_MAX_DIMS, "one_hot: classes %s have too many dims", mg_shp(classes));
    TRY(c = mg_as_contiguous(classes));
    const int64_t *pc = mg_i64(c);
    int64_t m = mg_numel(c);
    if (n < 0) { /* infer: the largest class + 1 */
        n = 0;
        for (int64_t i = 0; i < m; i++) n = pc[i] + 1 > n ? pc[i] + 1 : n;
    }
    CHECK(n > 0 || m == 0, "one_hot: the number of classes must be positive, got %lld", (long long)n);
    for (int64_t i = 0; i < m; i++)
        CHECK(pc[i] >= 0 && pc[i] < n, "one_hot: class %lld out of range for %lld classes (valid: 1..%lld)",
              (long long)pc[i] + 1, (long long)n, (long long)n);
    int64_t shape[MG_MAX_DIMS];
    memcpy(shape, classes->shape, sizeof(int64_t) * (size_t)classes->ndim);
    shape[classes->ndim] = n;
    TRY(out = mg_zeros(MG_F32, classes->ndim + 1, shape));
    float *o = mg_f32(out);
    for (int64_t i = 0; i < m; i++) o[i * n + pc[i]] = 1.0f;
    mg_release(c);
    return out;
fail:
    mg_release(c), mg_release(out);
    return NULL;
}
