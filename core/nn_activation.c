/*
 * Row-wise activations and other fused single-input nn ops: softmax and
 * log_softmax (numerically stable, over any dim), dropout (inverted, mask
 * drawn from the core's counter-based RNG and drawn again in backward, so
 * nothing is stored), embedding lookup (backward scatter-adds into the
 * weight) and grad_reverse (identity forward, gradient scaled by -lambda).
 */
#include "internal.h"
#include "nn_math.h"

/* ---- softmax and log_softmax ------------------------------------------------ */

/* Short rows in blocks: x (R,n) -> out (R,n), n < NN_SHORT_ROW */
static void softmax_short_rows(float *out, const float *x, int64_t R, int64_t n, bool lg) {
    int64_t rb = NN_ROW_BLOCK / n, nblk = (R + rb - 1) / rb;
#pragma omp parallel for if (R * n > MG_PAR_GRAIN / 4 && nblk > 1) schedule(static)
    for (int64_t b = 0; b < nblk; b++) {
        float m[NN_ROW_BLOCK], s[NN_ROW_BLOCK], buf[NN_ROW_BLOCK];
        int64_t r0 = b * rb, nr = R - r0 < rb ? R - r0 : rb;
        const float *xb = x + r0 * n;
        float *ob = out + r0 * n;
        if (lg) {
            nn_exp_rows(buf, m, s, xb, nr, n);
            for (int64_t r = 0; r < nr; r++) {
                float l = m[r] + logf(s[r]);
                for (int64_t i = 0; i < n; i++) ob[r * n + i] = xb[r * n + i] - l;
            }
        } else {
            nn_exp_rows(ob, m, s, xb, nr, n);
            for (int64_t r = 0; r < nr; r++) {
                float inv = 1.0f / s[r];
                for (int64_t i = 0; i < n; i++) ob[r * n + i] *= inv;
            }
        }
    }
}

/* x (R,n) -> out (R,n): softmax, or log_softmax when lg, of each row */
static void softmax_rows(float *out, const float *x, int64_t R, int64_t n, bool lg) {
    if (n > 0 && n < NN_SHORT_ROW) {
        softmax_short_rows(out, x, R, n, lg);
        return;
    }
#pragma omp parallel for if (R * n > MG_PAR_GRAIN / 4 && R > 1) schedule(static)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * n;
        float *o = out + r * n;
        float m = -INFINITY, s = 0;
#pragma omp simd reduction(max : m)
        for (int64_t i = 0; i < n; i++) m = xr[i] > m ? xr[i] : m;
        if (lg) {
#pragma omp simd reduction(+ : s)
            for (int64_t i = 0; i < n; i++) s += nn_exp(xr[i] - m);
            float l = m + logf(s);
#pragma omp simd
            for (int64_t i = 0; i < n; i++) o[i] = xr[i] - l;
        } else {
#pragma omp simd reduction(+ : s)
            for (int64_t i = 0; i < n; i++) {
                float e = nn_exp(xr[i] - m);
                o[i] = e;
                s += e;
            }
            float inv = 1.0f / s;
#pragma omp simd
            for (int64_t i = 0; i < n; i++) o[i] *= inv;
        }
    }
}

/* Same along a strided dim: x (A,n,B) -> out (A,n,B), over n for each (a, b). */
static void softmax_strided(float *out, const float *x, int64_t A, int64_t n, int64_t B, bool lg) {
#pragma omp parallel for if (A * n * B > MG_PAR_GRAIN / 4 && A * B > 1) schedule(static)
    for (int64_t ab = 0; ab < A * B; ab++) {
        int64_t a = ab / B, b = ab % B;
        const float *xr = x + a * n * B + b;
        float *o = out + a * n * B + b;
        float m = -INFINITY, s = 0;
        for (int64_t i = 0; i < n; i++) m = xr[i * B] > m ? xr[i * B] : m;
        if (lg) {
            for (int64_t i = 0; i < n; i++) s += nn_exp(xr[i * B] - m);
            float l = m + logf(s);
            for (int64_t i = 0; i < n; i++) o[i * B] = xr[i * B] - l;
        } else {
            for (int64_t i = 0; i < n; i++) {
                float e = nn_exp(xr[i * B] - m);
                o[i * B] = e;
                s += e;
            }
            float inv = 1.0f / s;
            for (int64_t i = 0; i < n; i++) o[i * B] *= inv;
        }
    }
}

/* Backward of a row: softmax gx = y (g - sum(g y)); log_softmax gx = g - exp(y) sum(g).
 * g, y (A,n,B) -> gx (A,n,B) */
static void softmax_backward(float *gx, const float *g, const float *y, int64_t A, int64_t n, int64_t B, bool lg) {
    if (lg && B == 1 && n > 0 && n < NN_SHORT_ROW) { /* short rows: the exps as one vector loop per block */
        int64_t rb = NN_ROW_BLOCK / n, nblk = (A + rb - 1) / rb;
#pragma omp parallel for if (A * n > MG_PAR_GRAIN / 4 && nblk > 1) schedule(static)
        for (int64_t b = 0; b < nblk; b++) {
            int64_t r0 = b * rb, nr = A - r0 < rb ? A - r0 : rb;
            const float *gb = g + r0 * n, *yb = y + r0 * n;
            float *ob = gx + r0 * n;
#pragma omp simd
            for (int64_t k = 0; k < nr * n; k++) ob[k] = nn_exp(yb[k]);
            for (int64_t r = 0; r < nr; r++) {
                float s = 0;
                for (int64_t i = 0; i < n; i++) s += gb[r * n + i];
                for (int64_t i = 0; i < n; i++) ob[r * n + i] = gb[r * n + i] - ob[r * n + i] * s;
            }
        }
        return;
    }
#pragma omp parallel for if (A * n * B > MG_PAR_GRAIN / 4 && A * B > 1) schedule(static)
    for (int64_t ab = 0; ab < A * B; ab++) {
        int64_t a = ab / B, b = ab % B, off = a * n * B + b;
        const float *gr = g + off, *yr = y + off;
        float *o = gx + off;
        float s = 0;
        if (B == 1) {
            if (lg) {
#pragma omp simd reduction(+ : s)
                for (int64_t i = 0; i < n; i++) s += gr[i];
#pragma omp simd
                for (int64_t i = 0; i < n; i++) o[i] = gr[i] - nn_exp(yr[i]) * s;
            } else {
#pragma omp simd reduction(+ : s)
                for (int64_t i = 0; i < n; i++) s += gr[i] * yr[i];
#pragma omp simd
                for (int64_t i = 0; i < n; i++) o[i] = yr[i] * (gr[i] - s);
            }
        } else {
            for (int64_t i = 0; i < n; i++) s += lg ? gr[i * B] : gr[i * B] * yr[i * B];
            for (int64_t i = 0; i < n; i++)
                o[i * B] = lg ? gr[i * B] - nn_exp(yr[i * B]) * s : yr[i * B] * (gr[i * B] - s);
        }
    }
}

/* (A, n, B) view of t around dim d (t 0-dim: 1, 1, 1). */
static void split_at(const mg_tensor *t, int d, int64_t *A, int64_t *n, int64_t *B) {
    *A = 1, *B = 1, *n = t->ndim ? t->shape[d] : 1;
    for (int k = 0; k < d; k++) *A *= t->shape[k];
    for (int k = d + 1; k < t->ndim; k++) *B *= t->shape[k];
}

static mg_tensor *softmax_op(const char *name, int op, mg_tensor *x, int dim, bool lg) {
    if (x->dtype != MG_F32) {
        mg_error("%s: input must be float32, got %s", name, mg_dtype_name(x->dtype));
        return NULL;
    }
    int d = mg_check_dim(name, dim, x->ndim);
    if (d < 0) return NULL;
    mg_tensor *xc = mg_as_contiguous(x);
    if (!xc) return NULL;
    mg_tensor *out = mg_empty(MG_F32, x->ndim, x->shape);
    if (out) {
        int64_t A, n, B;
        split_at(x, d, &A, &n, &B);
        if (B == 1)
            softmax_rows(mg_f32(out), mg_f32(xc), A, n, lg);
        else
            softmax_strided(mg_f32(out), mg_f32(xc), A, n, B, lg);
    }
    mg_release(xc);
    if (!out || !mg_needs_grad(1, &x)) return out;
    mg_node *node = mg_record(op, out, 1, &x);
    if (!node || mg_save_output(node, out)) {
        mg_release(out);
        return NULL;
    }
    node->i[0] = d;
    return out;
}

mg_tensor *mg_softmax(mg_tensor *x, int dim) { return softmax_op("softmax", MG_OP_softmax, x, dim, false); }
mg_tensor *mg_log_softmax(mg_tensor *x, int dim) {
    return softmax_op("log_softmax", MG_OP_log_softmax, x, dim, true);
}

static int bw_softmax(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin, bool lg) {
    if (!needs[0]) return MG_OK;
    mg_tensor *y = mg_saved(n, 0);
    if (!y) return MG_ERR;
    mg_tensor *gc = mg_as_contiguous(g);
    if (!gc) return MG_ERR;
    gin[0] = mg_empty(MG_F32, y->ndim, y->shape);
    if (gin[0]) {
        int64_t A, len, B;
        split_at(y, (int)n->i[0], &A, &len, &B);
        softmax_backward(mg_f32(gin[0]), mg_f32(gc), mg_f32(y), A, len, B, lg);
    }
    mg_release(gc);
    return gin[0] ? MG_OK : MG_ERR;
}

int mg_bw_softmax(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return bw_softmax(n, g, needs, gin, false);
}
int mg_bw_log_softmax(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    return bw_softmax(n, g, needs, gin, true);
}

/* ---- dropout --------------------------------------------------------------------- */

/* Philox blocks per dropout task (4 draws each). */
#define DROP_TILE 64

/* out[i] = x[i] * scale where draw i >= p, else 0. Draw i is word i % 4 of
 * Philox block base + i / 4, so the mask depends on the RNG state only,
 * never on the thread count, and backward draws the same mask again. The
 * draws of a tile go to a buffer first so that the select is one
 * branch-free vector loop. x (n) -> out (n) */
static void dropout_kernel(float *out, const float *x, int64_t n, uint64_t seed, uint64_t base, float p,
                           float scale) {
    int64_t tiles = (n + 4 * DROP_TILE - 1) / (4 * DROP_TILE);
#pragma omp parallel for if (n > MG_PAR_GRAIN) schedule(static)
    for (int64_t t = 0; t < tiles; t++) {
        uint32_t w[4 * DROP_TILE];
        int64_t i0 = t * 4 * DROP_TILE, m = n - i0 < 4 * DROP_TILE ? n - i0 : 4 * DROP_TILE;
        uint64_t c0 = base + (uint64_t)(t * DROP_TILE);
        /* a whole tile of blocks, as one vector loop (the words past n are not used) */
#pragma omp simd
        for (int64_t b = 0; b < DROP_TILE; b++) mg_philox(seed, c0 + (uint64_t)b, w + 4 * b);
        const float *xs = x + i0;
        float *o = out + i0;
#pragma omp simd
        for (int64_t k = 0; k < m; k++) o[k] = mg_u01(w[k]) >= p ? xs[k] * scale : 0.0f;
    }
}

mg_tensor *mg_dropout(mg_tensor *x, double p, bool training) {
    if (!(p >= 0 && p <= 1)) {
        mg_error("dropout: p must be in [0, 1], got %g", p);
        return NULL;
    }
    if (x->dtype != MG_F32) {
        mg_error("dropout: input must be float32, got %s", mg_dtype_name(x->dtype));
        return NULL;
    }
    if (!training || p == 0) return mg_retain(x);
    int64_t n = mg_numel(x);
    mg_tensor *out = NULL, *xc = NULL;
    uint64_t seed = mg_rng_seed(), base = 0;
    if (p >= 1) {
        TRY(out = mg_zeros(MG_F32, x->ndim, x->shape));
    } else {
        TRY(xc = mg_as_contiguous(x));
        TRY(out = mg_empty(MG_F32, x->ndim, x->shape));
        base = mg_rng_reserve((uint64_t)(n + 3) / 4);
        dropout_kernel(mg_f32(out), mg_f32(xc), n, seed, base, (float)p, (float)(1.0 / (1.0 - p)));
        mg_release(xc);
        xc = NULL;
    }
    if (mg_needs_grad(1, &x)) {
        mg_node *node = mg_record(MG_OP_dropout, out, 1, &x);
        TRY(node);
        node->i[0] = (int64_t)seed;
        node->i[1] = (int64_t)base;
        node->f[0] = p;
    }
    return out;
fail:
    mg_release(xc), mg_release(out);
    return NULL;
}

int mg_bw_dropout(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (!needs[0]) return MG_OK;
    double p = n->f[0];
    if (p >= 1) {
        gin[0] = mg_zeros(MG_F32, g->ndim, g->shape);
        return gin[0] ? MG_OK : MG_ERR;
    }
    mg_tensor *gc = mg_as_contiguous(g);
    if (!gc) return MG_ERR;
    gin[0] = mg_empty(MG_F32, g->ndim, g->shape);
    if (gin[0])
        dropout_kernel(mg_f32(gin[0]), mg_f32(gc), mg_numel(gc), (uint64_t)n->i[0], (uint64_t)n->i[1], (float)p,
                       (float)(1.0 / (1.0 - p)));
    mg_release(gc);
    return gin[0] ? MG_OK : MG_ERR;
}

/* ---- embedding ------------------------------------------------------------------- */

mg_tensor *mg_embedding(const mg_tensor *ids, mg_tensor *weight) {
    mg_tensor *ic = NULL, *wc = NULL, *out = NULL;
    CHECK(ids->dtype == MG_I64, "embedding: ids must be int64, got %s", mg_dtype_name(ids->dtype));
    CHECK(weight->dtype == MG_F32, "embedding: weight must be float32, got %s", mg_dtype_name(weight->dtype));
    CHECK(weight->ndim == 2, "embedding: weight must be [num_embeddings, dim], got %s", mg_shp(weight));
    CHECK(ids->ndim < MG_MAX_DIMS, "embedding: ids %s have too many dims (at most %d)", mg_shp(ids),
          MG_MAX_DIMS - 1);
    int64_t V = weight->shape[0], D = weight->shape[1], n = mg_numel(ids);
    TRY(ic = mg_as_contiguous(ids));
    const int64_t *pi = mg_i64(ic);
    for (int64_t k = 0; k < n; k++)
        CHECK(pi[k] >= 0 && pi[k] < V, "embedding: index %lld out of range for %lld embeddings (expected 0..%lld)",
              (long long)pi[k], (long long)V, (long long)(V - 1));
    TRY(wc = mg_as_contiguous(weight));
    int64_t oshape[MG_MAX_DIMS];
    for (int d = 0; d < ids->ndim; d++) oshape[d] = ids->shape[d];
    oshape[ids->ndim] = D;
    TRY(out = mg_empty(MG_F32, ids->ndim + 1, oshape));
    const float *pw = mg_f32(wc);
    float *po = mg_f32(out);
#pragma omp parallel for if (n * D > MG_PAR_GRAIN) schedule(static)
    for (int64_t k = 0; k < n; k++) memcpy(po + k * D, pw + pi[k] * D, sizeof(float) * (size_t)D);
    mg_release(wc);
    wc = NULL;
    if (mg_needs_grad(1, &weight)) {
        mg_node *node = mg_record(MG_OP_embedding, out, 1, &weight);
        TRY(node);
        TRY_OK(mg_save(node, ic));
    }
    mg_release(ic);
    return out;
fail:
    mg_release(ic), mg_release(wc), mg_release(out);
    return NULL;
}

/* gw[ids[k]] += g[k]; split over column blocks so each sum keeps one order.
 * ids (n), g (n,D) -> gw (V,D), zeroed first */
int mg_bw_embedding(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (!needs[0]) return MG_OK;
    mg_tensor *ids = mg_saved(n, 0);
    if (!ids) return MG_ERR;
    mg_tensor *gc = mg_as_contiguous(g);
    if (!gc) return MG_ERR;
    gin[0] = mg_zeros(MG_F32, n->in[0].ndim, n->in[0].shape);
    if (gin[0]) {
        int64_t D = n->in[0].shape[1], cnt = mg_numel(ids), blk = 64, nb = (D + blk - 1) / blk;
        const int64_t *pi = mg_i64(ids);
        const float *pg = mg_f32(gc);
        float *pw = mg_f32(gin[0]);
#pragma omp parallel for if (cnt * D > MG_PAR_GRAIN && nb > 1) schedule(static)
        for (int64_t b = 0; b < nb; b++) {
            int64_t c0 = b * blk, c1 = c0 + blk < D ? c0 + blk : D;
            for (int64_t k = 0; k < cnt; k++) {
                float *dst = pw + pi[k] * D;
                const float *src = pg + k * D;
#pragma omp simd
                for (int64_t c = c0; c < c1; c++) dst[c] += src[c];
            }
        }
    }
    mg_release(gc);
    return gin[0] ? MG_OK : MG_ERR;
}

/* ---- gradient reversal ------------------------------------------------------------ */

mg_tensor *mg_grad_reverse(mg_tensor *x, double lambda) {
    if (x->dtype != MG_F32) {
        mg_error("grad_reverse: input must be float32, got %s", mg_dtype_name(x->dtype));
        return NULL;
    }
    mg_tensor *out = mg_alias(x, x->ndim, x->shape, x->stride, x->offset);
    if (!out || !mg_needs_grad(1, &x)) return out;
    mg_node *node = mg_record(MG_OP_grad_reverse, out, 1, &x);
    if (!node) {
        mg_release(out);
        return NULL;
    }
    node->f[0] = lambda;
    return out;
}

int mg_bw_grad_reverse(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    if (!needs[0]) return MG_OK;
    gin[0] = mg_mul_scalar(g, -n->f[0]);
    return gin[0] ? MG_OK : MG_ERR;
}
