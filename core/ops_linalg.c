/*
 * Matrix products: matmul (1-D, 2-D, batched with broadcast batch dims)
 * and the fused linear layer. All products go through mg_sgemm.
 */
#include "internal.h"

/* How a 2-D slice with strides (s0, s1) is handed to sgemm: row-major with
 * leading dimension ld, possibly transposed. False if neither stride is 1. */
static bool gemm_layout(int64_t rows, int64_t cols, int64_t s0, int64_t s1, bool *trans, int64_t *ld) {
    if (s1 == 1 || cols == 1) {
        *trans = false;
        *ld = s0 > cols ? s0 : cols;
        return rows == 1 || s0 >= cols;
    }
    if (s0 == 1 || rows == 1) {
        *trans = true;
        *ld = s1 > rows ? s1 : rows;
        return cols == 1 || s1 >= rows;
    }
    return false;
}

/* out[b] = a[b] @ bm[b] for each batch index; a [..., M, K], bm [..., K, N]
 * already broadcast to out's batch shape (strides may be 0). */
static int batched_gemm(mg_tensor *out, const mg_tensor *a, const mg_tensor *bm, int nb, const int64_t *bshape,
                        const int64_t *sa, const int64_t *sb) {
    int64_t M = a->shape[a->ndim - 2], K = a->shape[a->ndim - 1], N = bm->shape[bm->ndim - 1];
    bool ta, tb;
    int64_t lda, ldb;
    if (!gemm_layout(M, K, a->stride[a->ndim - 2], a->stride[a->ndim - 1], &ta, &lda) ||
        !gemm_layout(K, N, bm->stride[bm->ndim - 2], bm->stride[bm->ndim - 1], &tb, &ldb))
        return mg_error("matmul: internal layout error");
    int64_t batches = mg_shape_numel(nb, bshape);
    const float *pa = mg_f32(a), *pb = mg_f32(bm);
    float *po = mg_f32(out);
    bool serial_each = batches >= mg_threads() && (double)M * N * K < 4e6;
#pragma omp parallel for if (serial_each && batches > 1) schedule(static)
    for (int64_t i = 0; i < batches; i++) {
        int64_t oa = 0, ob = 0, r = i;
        for (int d = nb - 1; d >= 0; d--) {
            int64_t idx = r % bshape[d];
            r /= bshape[d];
            oa += idx * sa[d];
            ob += idx * sb[d];
        }
        if (serial_each)
            mg_sgemm_serial(ta, tb, M, N, K, 1.0f, pa + oa, lda, pb + ob, ldb, 0.0f, po + i * M * N, N);
        else
            mg_sgemm(ta, tb, M, N, K, 1.0f, pa + oa, lda, pb + ob, ldb, 0.0f, po + i * M * N, N);
    }
    return MG_OK;
}

/* Both inputs at least 2-D. */
static mg_tensor *matmul_nd(mg_tensor *a, mg_tensor *b) {
    mg_tensor *ac = NULL, *bc = NULL, *out = NULL;
    int64_t K = a->shape[a->ndim - 1];
    CHECK(b->shape[b->ndim - 2] == K, "matmul: inner dimensions differ: %s and %s", mg_shp(a), mg_shp(b));
    /* batch shapes broadcast */
    int na = a->ndim - 2, nbd = b->ndim - 2, nb = na > nbd ? na : nbd;
    int64_t bshape[MG_MAX_DIMS], sa[MG_MAX_DIMS], sb[MG_MAX_DIMS], oshape[MG_MAX_DIMS];
    for (int d = 0; d < nb; d++) {
        int da = d - (nb - na), db = d - (nb - nbd);
        int64_t xa = da >= 0 ? a->shape[da] : 1, xb = db >= 0 ? b->shape[db] : 1;
        CHECK(xa == xb || xa == 1 || xb == 1, "matmul: batch dims of %s and %s cannot be broadcast", mg_shp(a),
              mg_shp(b));
        bshape[d] = xa == 1 ? xb : xa;
    }
    ac = mg_retain(a), bc = mg_retain(b);
    bool ta, tb;
    int64_t ld;
    if (!gemm_layout(a->shape[a->ndim - 2], K, a->stride[a->ndim - 2], a->stride[a->ndim - 1], &ta, &ld)) {
        mg_release(ac);
        TRY(ac = mg_as_contiguous(a));
    }
    if (!gemm_layout(K, b->shape[b->ndim - 1], b->stride[b->ndim - 2], b->stride[b->ndim - 1], &tb, &ld)) {
        mg_release(bc);
        TRY(bc = mg_as_contiguous(b));
    }
    for (int d = 0; d < nb; d++) {
        int da = d - (nb - na), db = d - (nb - nbd);
        sa[d] = (da >= 0 && ac->shape[da] == bshape[d]) ? ac->stride[da] : 0;
        sb[d] = (db >= 0 && bc->shape[db] == bshape[d]) ? bc->stride[db] : 0;
        oshape[d] = bshape[d];
    }
    oshape[nb] = a->shape[a->ndim - 2];
    oshape[nb + 1] = b->shape[b->ndim - 1];
    TRY(out = mg_empty(MG_F32, nb + 2, oshape));
    TRY_OK(batched_gemm(out, ac, bc, nb, bshape, sa, sb));
    mg_release(ac), mg_release(bc);
    return out;
fail:
    mg_release(ac), mg_release(bc), mg_release(out);
    return NULL;
}

mg_tensor *mg_matmul(mg_tensor *a, mg_tensor *b) {
    if (a->dtype != MG_F32 || b->dtype != MG_F32) {
        mg_error("matmul: needs float32 tensors, got %s and %s", mg_dtype_name(a->dtype), mg_dtype_name(b->dtype));
        return NULL;
    }
    if (a->ndim == 0 || b->ndim == 0) {
        mg_error("matmul: both arguments need at least 1 dim, got %s and %s", mg_shp(a), mg_shp(b));
        return NULL;
    }
    if (a->ndim == 1 || b->ndim == 1) { /* promote vectors to matrices and drop the dim after */
        mg_tensor *a2 = a->ndim == 1 ? mg_unsqueeze(a, 0) : mg_retain(a);
        mg_tensor *b2 = b->ndim == 1 ? mg_unsqueeze(b, 1) : mg_retain(b);
        mg_tensor *p = a2 && b2 ? mg_matmul(a2, b2) : NULL, *out = p;
        if (p && a->ndim == 1) {
            out = mg_squeeze(p, p->ndim - 2);
            mg_release(p);
            p = out;
        }
        if (p && b->ndim == 1) {
            out = mg_squeeze(p, p->ndim - 1);
            mg_release(p);
        }
        mg_release(a2), mg_release(b2);
        return out;
    }
    mg_tensor *out = matmul_nd(a, b);
    mg_tensor *ins[2] = {a, b};
    if (!out || !mg_needs_grad(2, ins)) return out;
    mg_node *n = mg_record(MG_OP_matmul, out, 2, ins);
    if (!n || mg_save(n, a) || mg_save(n, b)) {
        mg_release(out);
        return NULL;
    }
    return out;
}

int mg_bw_matmul(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    mg_tensor *a = mg_saved(n, 0), *b = mg_saved(n, 1);
    if (!a || !b) return MG_ERR;
    if (needs[0]) { /* g @ b^T, summed over broadcast batch dims */
        mg_tensor *bt = mg_transpose(b, -1, -2), *p = bt ? mg_matmul(g, bt) : NULL;
        gin[0] = p ? mg_sum_to_shape(p, a->ndim, a->shape) : NULL;
        mg_release(bt), mg_release(p);
        if (!gin[0]) return MG_ERR;
    }
    if (needs[1]) { /* a^T @ g */
        mg_tensor *at = mg_transpose(a, -1, -2), *p = at ? mg_matmul(at, g) : NULL;
        gin[1] = p ? mg_sum_to_shape(p, b->ndim, b->shape) : NULL;
        mg_release(at), mg_release(p);
        if (!gin[1]) return MG_ERR;
    }
    return MG_OK;
}

/* ---- linear ---------------------------------------------------------------------- */

mg_tensor *mg_linear(mg_tensor *x, mg_tensor *w, mg_tensor *b) {
    mg_tensor *x2 = NULL, *out = NULL;
    CHECK(x->dtype == MG_F32 && w->dtype == MG_F32 && (!b || b->dtype == MG_F32),
          "linear: needs float32 tensors");
    CHECK(w->ndim == 2, "linear: weight must be [out, in], got %s", mg_shp(w));
    CHECK(x->ndim >= 1 && x->shape[x->ndim - 1] == w->shape[1],
          "linear: input %s has %lld features, weight %s expects %lld", mg_shp(x),
          (long long)(x->ndim ? x->shape[x->ndim - 1] : 0), mg_shp(w), (long long)w->shape[1]);
    CHECK(!b || (b->ndim == 1 && b->shape[0] == w->shape[0]), "linear: bias %s does not match weight %s",
          b ? mg_shp(b) : "", mg_shp(w));
    int64_t in = w->shape[1], outf = w->shape[0], rows = mg_numel(x) / (in ? in : 1);
    if (in == 0) rows = mg_numel(x);
    TRY(x2 = mg_as_contiguous(x));
    mg_tensor *wc = mg_as_contiguous(w);
    TRY(wc);
    int64_t oshape[MG_MAX_DIMS];
    for (int d = 0; d < x->ndim - 1; d++) oshape[d] = x->shape[d];
    oshape[x->ndim - 1] = outf;
    out = mg_empty(MG_F32, x->ndim, oshape);
    if (!out) {
        mg_release(wc);
        goto fail;
    }
    float *po = mg_f32(out);
    float beta = 0.0f;
    if (b) {
        mg_tensor *bc = mg_as_contiguous(b);
        if (!bc) {
            mg_release(wc);
            goto fail;
        }
        const float *pb = mg_f32(bc);
        for (int64_t r = 0; r < rows; r++) memcpy(po + r * outf, pb, (size_t)outf * sizeof(float));
        mg_release(bc);
        beta = 1.0f;
    }
    /* out[rows, out] = x[rows, in] @ w[out, in]^T */
    mg_sgemm(false, true, rows, outf, in, 1.0f, mg_f32(x2), in, mg_f32(wc), in, beta, po, outf);
    mg_release(wc);
    mg_release(x2);
    x2 = NULL;
    mg_tensor *ins[3] = {x, w, b};
    if (mg_needs_grad(3, ins)) {
        mg_node *n = mg_record(MG_OP_linear, out, 3, ins);
        TRY(n);
        TRY_OK(mg_save(n, x));
        TRY_OK(mg_save(n, w));
    }
    return out;
fail:
    mg_release(x2), mg_release(out);
    return NULL;
}

int mg_bw_linear(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    mg_tensor *x = mg_saved(n, 0), *w = mg_saved(n, 1);
    if (!x || !w) return MG_ERR;
    int64_t in = w->shape[1], outf = w->shape[0], rows = mg_numel(g) / (outf ? outf : 1);
    mg_tensor *gc = mg_as_contiguous(g), *xc = NULL, *wc = NULL;
    if (!gc) return MG_ERR;
    int rc = MG_ERR;
    if (needs[0]) { /* gx[rows, in] = g[rows, out] @ w[out, in] */
        TRY(wc = mg_as_contiguous(w));
        TRY(gin[0] = mg_empty(MG_F32, x->ndim, x->shape));
        mg_sgemm(false, false, rows, in, outf, 1.0f, mg_f32(gc), outf, mg_f32(wc), in, 0.0f, mg_f32(gin[0]), in);
    }
    if (needs[1]) { /* gw[out, in] = g^T @ x */
        TRY(xc = mg_as_contiguous(x));
        TRY(gin[1] = mg_empty(MG_F32, 2, w->shape));
        mg_sgemm(true, false, outf, in, rows, 1.0f, mg_f32(gc), outf, mg_f32(xc), in, 0.0f, mg_f32(gin[1]), in);
    }
    if (needs[2]) { /* gb = column sums of g */
        mg_tensor *g2 = mg_reshape(gc, 2, (int64_t[]){rows, outf});
        TRY(g2);
        gin[2] = mg_sum_dim(g2, 0, false);
        mg_release(g2);
        TRY(gin[2]);
    }
    rc = MG_OK;
fail:
    mg_release(gc), mg_release(xc), mg_release(wc);
    return rc;
}
