/*
 * Fused scaled dot-product attention, one tape node:
 *   out = dropout(softmax(q k^T * scale + masks)) v
 * for every slice of the leading dims (batch, heads), with a causal mask,
 * an additive or boolean attention mask, key padding and dropout on the
 * weights.
 *
 * The forward pass takes a block of query rows at a time: one sgemm gives
 * the block's scores against every key, one fused loop adds the masks and
 * takes the row softmax, a second sgemm multiplies by v. The weights never
 * leave the block's scratch unless backward will want them. Backward runs
 * five sgemms per block. It needs the weights before dropout: for up to
 * ATTN_KEEP_WEIGHTS_MAX of them forward keeps them (faster); beyond, it
 * keeps one number per query row, the log of the softmax normaliser (lse),
 * and backward recomputes a block's weights as exp(scores - lse), so that
 * what the node holds grows with L, not with L x S. Dropout draws its mask
 * from the counter-based RNG at each weight's index; with the weights kept
 * it keeps the mask too (a byte a weight), else backward draws it again.
 *
 * Layouts: q, k, v may be any strided views whose last dim is contiguous
 * (nn.MultiheadAttention's heads split out of one projection pass as they
 * are). With 4 or more dims ([N, H, L, E]) the output and the gradients are
 * laid out as [N, L, H, E] in memory, so merging the heads back is a view.
 */
#include "internal.h"
#include "nn_math.h"

#include <omp.h>
#include <stdlib.h>

/* Scratch floats per block of query rows (rows = this / S, at least 8):
 * 128 KB, so a block's weights and their gradient stay in L2. */
#define ATTN_BLOCK_FLOATS 32768
/* Backward reads the weights that forward kept when there are at most this
 * many (64 MB): measured faster than recomputing them at the sizes of
 * training batches (L, S up to 512). Above it (long sequences), only lse
 * is kept and the weights are recomputed. */
#define ATTN_KEEP_WEIGHTS_MAX (16 << 20)

/* A 2-D slice of a tensor for each index of its leading dims: slice s of
 * the flattened leading dims starts at p + sum(idx[d] * lead_stride[d]);
 * rows are rs apart, columns cs apart. Stride 0 broadcasts. */
typedef struct {
    float *p;
    int nlead;
    int64_t lead_shape[MG_MAX_DIMS], lead_stride[MG_MAX_DIMS];
    int64_t rs, cs;
} slice2d;

static float *slice_at(const slice2d *m, int64_t s) {
    int64_t off = 0;
    for (int d = m->nlead - 1; d >= 0; d--) {
        off += (s % m->lead_shape[d]) * m->lead_stride[d];
        s /= m->lead_shape[d];
    }
    return m->p + off;
}

/* The slices of t [lead..., rows, cols] (t's own strides). */
static slice2d slices_of(const mg_tensor *t) {
    slice2d m = {.p = mg_f32(t), .nlead = t->ndim - 2};
    for (int d = 0; d < m.nlead; d++) m.lead_shape[d] = t->shape[d], m.lead_stride[d] = t->stride[d];
    m.rs = t->stride[t->ndim - 2];
    m.cs = t->stride[t->ndim - 1];
    /* sgemm needs a leading dimension of at least the row length */
    if (t->shape[t->ndim - 2] <= 1 && m.rs < t->shape[t->ndim - 1]) m.rs = t->shape[t->ndim - 1];
    return m;
}

/* t itself (retained) when sgemm can read its 2-D slices as they lie,
 * else a contiguous copy. */
static mg_tensor *gemm_ready(const mg_tensor *t) {
    int64_t rows = t->shape[t->ndim - 2], cols = t->shape[t->ndim - 1];
    bool cols_ok = t->stride[t->ndim - 1] == 1 || cols <= 1;
    bool rows_ok = rows <= 1 || t->stride[t->ndim - 2] >= (cols > 1 ? cols : 1);
    if (cols_ok && rows_ok && mg_numel(t) > 0) return mg_retain((mg_tensor *)t);
    return mg_as_contiguous(t);
}

/* A new float32 tensor of shape [lead..., rows, cols]; with two or more
 * leading dims its memory order is [..., rows, heads, cols] (the last
 * leading dim moved inside the rows). Zeroed when zero. */
static mg_tensor *heads_inner(int ndim, const int64_t *shape, bool zero) {
    if (ndim < 4) return zero ? mg_zeros(MG_F32, ndim, shape) : mg_empty(MG_F32, ndim, shape);
    int64_t phys[MG_MAX_DIMS], stride[MG_MAX_DIMS], pst[MG_MAX_DIMS];
    memcpy(phys, shape, sizeof(int64_t) * (size_t)ndim);
    phys[ndim - 3] = shape[ndim - 2], phys[ndim - 2] = shape[ndim - 3];
    mg_tensor *base = zero ? mg_zeros(MG_F32, ndim, phys) : mg_empty(MG_F32, ndim, phys);
    if (!base) return NULL;
    mg_contiguous_strides(ndim, phys, pst);
    memcpy(stride, pst, sizeof(int64_t) * (size_t)ndim);
    stride[ndim - 3] = pst[ndim - 2], stride[ndim - 2] = pst[ndim - 3];
    mg_tensor *t = mg_alias(base, ndim, shape, stride, base->offset);
    mg_release(base);
    return t;
}

/* ---- the kernels ------------------------------------------------------------------ */

typedef struct {
    int64_t nb, L, S, E, Ev; /* slices, query rows, keys, q/k width, v width */
    float scale;
    bool causal;
    float drop_p;     /* 0: no dropout */
    uint64_t seed, base;
    uint8_t *drop_mask; /* the dropout mask kept for backward, a byte per weight (1: kept), or NULL */
} attn_cfg;

typedef struct {
    slice2d q, k, v;
    const slice2d *bias[2]; /* additive masks broadcast to [lead..., L, S], or NULL */
} attn_in;

static int64_t block_rows(const attn_cfg *c) {
    int64_t br = ATTN_BLOCK_FLOATS / (c->S > 1 ? c->S : 1);
    if (br < 8) br = 8;
    return br < c->L ? br : (c->L > 0 ? c->L : 1);
}

/* P (rows,S) = scale * q[i0:i0+rows] k^T plus the masks of slice s, with
 * -inf above the diagonal when causal. */
static void scores(float *P, const attn_cfg *c, const attn_in *in, int64_t s, int64_t i0, int64_t rows) {
    const float *qp = slice_at(&in->q, s) + i0 * in->q.rs, *kp = slice_at(&in->k, s);
    mg_sgemm_serial(false, true, rows, c->S, c->E, c->scale, qp, in->q.rs, kp, in->k.rs, 0.0f, P, c->S);
    for (int b = 0; b < 2; b++) {
        const slice2d *m = in->bias[b];
        if (!m) continue;
        const float *mp = slice_at(m, s) + i0 * m->rs;
        for (int64_t r = 0; r < rows; r++) {
            float *row = P + r * c->S;
            const float *mr = mp + r * m->rs;
            if (m->cs == 1) {
#pragma omp simd
                for (int64_t j = 0; j < c->S; j++) row[j] += mr[j];
            } else {
                for (int64_t j = 0; j < c->S; j++) row[j] += mr[j * m->cs];
            }
        }
    }
    if (c->causal)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = i0 + r + 1; j < c->S; j++) P[r * c->S + j] = -INFINITY;
}

/* Row softmax in place; returns the log of the normaliser, +inf for a row
 * whose scores are all -inf (it gets weights 0). */
static float softmax_row(float *x, int64_t S) {
    float m = -INFINITY, sum = 0;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < S; j++) m = x[j] > m ? x[j] : m;
    if (m == -INFINITY) {
        for (int64_t j = 0; j < S; j++) x[j] = 0;
        return INFINITY;
    }
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < S; j++) {
        float e = nn_exp(x[j] - m);
        x[j] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t j = 0; j < S; j++) x[j] *= inv;
    return m + logf(sum);
}

/* The dropout factors of one row of weights, in place: weight (slice, i, j)
 * is element ((s L) + i) S + j, drawn as word e % 4 of Philox block
 * base + e / 4, so forward and backward draw the same mask on any thread
 * count. With c->drop_mask, the row's mask is written there (a byte per
 * weight, at the weight's index) for backward to read, not draw again.
 * row = src dropped (src may be row). w: scratch of S + 8 words. */
static void drop_row_to(float *row, const float *src, const attn_cfg *c, uint64_t first, uint32_t *w) {
    uint64_t b0 = first / 4, nblk = (first % 4 + (uint64_t)c->S + 3) / 4;
#pragma omp simd
    for (uint64_t b = 0; b < nblk; b++) mg_philox(c->seed, c->base + b0 + b, w + 4 * b);
    const uint32_t *wr = w + first % 4;
    float p = c->drop_p, keep = p < 1 ? 1.0f / (1.0f - p) : 0.0f;
#pragma omp simd
    for (int64_t j = 0; j < c->S; j++) row[j] = mg_u01(wr[j]) >= p ? src[j] * keep : 0.0f;
    if (c->drop_mask) {
        uint8_t *m = c->drop_mask + first;
#pragma omp simd
        for (int64_t j = 0; j < c->S; j++) m[j] = mg_u01(wr[j]) >= p;
    }
}

static void drop_row(float *row, const attn_cfg *c, uint64_t first, uint32_t *w) {
    drop_row_to(row, row, c, first, w);
}

/* drop_row from the mask forward wrote to c->drop_mask. */
static void drop_row_kept(float *row, const attn_cfg *c, uint64_t first) {
    const uint8_t *m = c->drop_mask + first;
    float keep = c->drop_p < 1 ? 1.0f / (1.0f - c->drop_p) : 0.0f;
#pragma omp simd
    for (int64_t j = 0; j < c->S; j++) row[j] = m[j] ? row[j] * keep : 0.0f;
}

/* Thread-private scratch of the kernels; false when out of memory. */
typedef struct {
    float *P, *dP;
    uint32_t *words;
} scratch;

static bool scratch_get(scratch *w, const attn_cfg *c, int64_t br, bool backward) {
    size_t n = (size_t)(br * (c->S > 0 ? c->S : 1));
    w->P = malloc(n * sizeof(float));
    w->dP = backward ? malloc(n * sizeof(float)) : NULL;
    w->words = c->drop_p > 0 ? malloc((size_t)(c->S + 8) * sizeof(uint32_t)) : NULL;
    return w->P && (!backward || w->dP) && (c->drop_p <= 0 || w->words);
}

static void scratch_free(scratch *w) { free(w->P), free(w->dP), free(w->words); }

/* out (nb,L,Ev) from q (nb,L,E), k (nb,S,E), v (nb,S,Ev), and for backward
 * either lse (nb,L) or the weights before dropout (nb,L,S) (or neither:
 * NULL). Blocks of query rows of every slice are independent tasks. */
static int attn_forward(const attn_cfg *c, const attn_in *in, const slice2d *out, float *lse, float *weights) {
    int64_t br = block_rows(c), nblk = (c->L + br - 1) / br, tasks = c->nb * nblk;
    double work = (double)c->nb * (double)c->L * (double)c->S * (double)(c->E + c->Ev);
    int failed = 0;
#pragma omp parallel if (tasks > 1 && work > (1 << 18)) reduction(| : failed)
    {
        scratch w;
        if (!scratch_get(&w, c, br, false)) failed = 1;
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tasks; t++) {
            if (failed) continue;
            int64_t s = t / nblk, i0 = (t % nblk) * br, rows = c->L - i0 < br ? c->L - i0 : br;
            /* the weights go straight to where backward will read them */
            float *P = weights ? weights + (s * c->L + i0) * c->S : w.P, *Pv = P;
            scores(P, c, in, s, i0, rows);
            for (int64_t r = 0; r < rows; r++) {
                float l = softmax_row(P + r * c->S, c->S);
                if (lse) lse[s * c->L + i0 + r] = l;
                if (c->drop_p > 0) { /* the dropped weights in the scratch, the kept ones as they were */
                    drop_row_to(w.P + r * c->S, P + r * c->S, c, (uint64_t)((s * c->L + i0 + r) * c->S), w.words);
                    Pv = w.P;
                }
            }
            float *op = slice_at(out, s) + i0 * out->rs;
            mg_sgemm_serial(false, false, rows, c->Ev, c->S, 1.0f, Pv, c->S, slice_at(&in->v, s), in->v.rs, 0.0f,
                            op, out->rs);
        }
        scratch_free(&w);
    }
    return failed ? mg_error("scaled_dot_product_attention: out of memory for the score blocks") : MG_OK;
}

typedef struct {
    slice2d gout;
    slice2d *gq, *gk, *gv; /* NULL: not wanted; dk and dv sum over the query blocks */
    float *gmask;          /* (nb,L,S) gradient of the scores, or NULL */
} attn_grads;

/* Backward of attn_forward, slice by slice (a slice's dk and dv sum over
 * its query blocks, so one thread owns a slice). Per block, with P the
 * weights before dropout (kept, or recomputed from lse), Z the dropout
 * factors and dO the output's gradient: dP = (dO v^T) Z, D = rowsum(P dP),
 * dS = P (dP - D); dv += (P Z)^T dO, dq = scale dS k, dk += scale dS^T q. */
static int attn_backward(const attn_cfg *c, const attn_in *in, const float *lse, const float *weights,
                         const attn_grads *g) {
    int64_t br = block_rows(c), S = c->S;
    bool need_ds = g->gq || g->gk || g->gmask, drop = c->drop_p > 0;
    double work = (double)c->nb * (double)c->L * (double)S * (double)(c->E + c->Ev);
    int failed = 0;
#pragma omp parallel if (c->nb > 1 && work > (1 << 17)) reduction(| : failed)
    {
        scratch w;
        if (!scratch_get(&w, c, br, true)) failed = 1;
#pragma omp for schedule(dynamic, 1)
        for (int64_t s = 0; s < c->nb; s++) {
            if (failed) continue;
            const float *qp = slice_at(&in->q, s), *kp = slice_at(&in->k, s), *vp = slice_at(&in->v, s);
            const float *gop = slice_at(&g->gout, s);
            for (int64_t i0 = 0; i0 < c->L; i0 += br) {
                int64_t rows = c->L - i0 < br ? c->L - i0 : br;
                const float *P = w.P;
                float *dP = w.dP;
                if (weights) {
                    P = weights + (s * c->L + i0) * S;
                } else {
                    scores(w.P, c, in, s, i0, rows);
                    for (int64_t r = 0; r < rows; r++) {
                        float l = lse[s * c->L + i0 + r], *row = w.P + r * S;
#pragma omp simd
                        for (int64_t j = 0; j < S; j++) row[j] = nn_exp(row[j] - l);
                        if (l == INFINITY)
                            for (int64_t j = 0; j < S; j++) row[j] = 0;
                    }
                }
                const float *go = gop + i0 * g->gout.rs;
                if (need_ds) {
                    mg_sgemm_serial(false, true, rows, S, c->Ev, 1.0f, go, g->gout.rs, vp, in->v.rs, 0.0f, dP, S);
                    for (int64_t r = 0; r < rows; r++) {
                        const float *pr = P + r * S;
                        float *dr = dP + r * S, d = 0;
                        uint64_t first = (uint64_t)((s * c->L + i0 + r) * S);
                        if (drop && c->drop_mask) drop_row_kept(dr, c, first);
                        else if (drop) drop_row(dr, c, first, w.words);
#pragma omp simd reduction(+ : d)
                        for (int64_t j = 0; j < S; j++) d += pr[j] * dr[j];
#pragma omp simd
                        for (int64_t j = 0; j < S; j++) dr[j] = pr[j] * (dr[j] - d);
                    }
                    if (g->gmask)
                        memcpy(g->gmask + (s * c->L + i0) * S, dP, sizeof(float) * (size_t)(rows * S));
                }
                if (g->gv) {
                    if (drop) { /* the weights as dropped in forward, in the scratch */
                        if (P != w.P) memcpy(w.P, P, sizeof(float) * (size_t)(rows * S));
                        for (int64_t r = 0; r < rows; r++) {
                            uint64_t first = (uint64_t)((s * c->L + i0 + r) * S);
                            if (c->drop_mask) drop_row_kept(w.P + r * S, c, first);
                            else drop_row(w.P + r * S, c, first, w.words);
                        }
                        P = w.P;
                    }
                    mg_sgemm_serial(true, false, S, c->Ev, rows, 1.0f, P, S, go, g->gout.rs, i0 ? 1.0f : 0.0f,
                                    slice_at(g->gv, s), g->gv->rs);
                }
                if (g->gq)
                    mg_sgemm_serial(false, false, rows, c->E, S, c->scale, dP, S, kp, in->k.rs, 0.0f,
                                    slice_at(g->gq, s) + i0 * g->gq->rs, g->gq->rs);
                if (g->gk)
                    mg_sgemm_serial(true, false, S, c->E, rows, c->scale, dP, S, qp + i0 * in->q.rs, in->q.rs,
                                    i0 ? 1.0f : 0.0f, slice_at(g->gk, s), g->gk->rs);
            }
        }
        scratch_free(&w);
    }
    return failed ? mg_error("scaled_dot_product_attention: out of memory in backward") : MG_OK;
}

/* ---- the op ----------------------------------------------------------------------- */

/* What backward needs besides the saved tensors. */
typedef struct {
    float scale, drop_p;
    bool causal;
    uint64_t seed, base;
    bool kept_weights;       /* saved slot SAVED_STATS holds the weights, else lse */
    int mask_slot, kpm_slot; /* saved index of the additive masks, -1 if absent */
    int drop_slot;           /* saved index of the dropout mask kept with the weights, or -1 */
} attn_params;

enum { SAVED_Q, SAVED_K, SAVED_V, SAVED_STATS };

static const char *OP = "scaled_dot_product_attention";

/* The additive form of an integer mask (same shape): 0 where attention is
 * allowed, -inf where not. `nonzero_allows`: a nonzero entry allows. */
static mg_tensor *additive_mask(const mg_tensor *m, bool nonzero_allows) {
    mg_tensor *out = mg_empty(MG_F32, m->ndim, m->shape);
    if (!out) return NULL;
    float *po = mg_f32(out);
    int64_t n = mg_numel(m);
    for (int64_t i = 0; i < n; i++) {
        bool nz = mg_get_flat(m, i) != 0;
        po[i] = nz == nonzero_allows ? 0.0f : -INFINITY;
    }
    return out;
}

/* The slices of an attention mask broadcast to [lead..., L, S]. */
static slice2d mask_slices(const mg_tensor *m, int ndim, const int64_t *full) {
    int64_t st[MG_MAX_DIMS];
    mg_broadcast_strides(m, ndim, full, st);
    slice2d s = {.p = mg_f32(m), .nlead = ndim - 2, .rs = st[ndim - 2], .cs = st[ndim - 1]};
    for (int d = 0; d < ndim - 2; d++) s.lead_shape[d] = full[d], s.lead_stride[d] = st[d];
    return s;
}

/* The slices of a key padding mask [N, S] ([S] without leading dims): one
 * row per batch index N (the first leading dim), broadcast over the rest. */
static slice2d kpm_slices(const mg_tensor *m, int ndim, const int64_t *full) {
    slice2d s = {.p = mg_f32(m), .nlead = ndim - 2, .rs = 0, .cs = m->stride[m->ndim - 1]};
    for (int d = 0; d < ndim - 2; d++) s.lead_shape[d] = full[d], s.lead_stride[d] = 0;
    if (ndim > 2) s.lead_stride[0] = m->stride[0];
    return s;
}

static int check_inputs(const mg_tensor *q, const mg_tensor *k, const mg_tensor *v) {
    if (q->dtype != MG_F32 || k->dtype != MG_F32 || v->dtype != MG_F32)
        return mg_error("%s: query, key and value must be float32, got %s, %s and %s", OP, mg_dtype_name(q->dtype),
                        mg_dtype_name(k->dtype), mg_dtype_name(v->dtype));
    if (q->ndim < 2 || q->ndim != k->ndim || q->ndim != v->ndim)
        return mg_error("%s: query %s, key %s and value %s must have the same number of dims, at least 2 "
                        "([..., L, E], [..., S, E], [..., S, Ev])", OP, mg_shp(q), mg_shp2(k), mg_shp(v));
    int nd = q->ndim;
    for (int d = 0; d < nd - 2; d++)
        if (k->shape[d] != q->shape[d] || v->shape[d] != q->shape[d])
            return mg_error("%s: the leading dims of query %s, key %s and value %s differ (dim %d)", OP, mg_shp(q),
                            mg_shp2(k), mg_shp(v), d + 1);
    if (k->shape[nd - 1] != q->shape[nd - 1])
        return mg_error("%s: query %s and key %s must have the same last dim (E)", OP, mg_shp(q), mg_shp2(k));
    if (k->shape[nd - 2] != v->shape[nd - 2])
        return mg_error("%s: key %s and value %s must have the same number of positions (S)", OP, mg_shp(k),
                        mg_shp2(v));
    return MG_OK;
}

static int check_masks(const mg_sdpa_opts *o, int nd, const int64_t *full) {
    const mg_tensor *m = o->attn_mask, *kp = o->key_padding_mask;
    char want[MG_SHAPE_BUF];
    if (m) {
        bool ok = m->ndim >= 1 && m->ndim <= nd;
        for (int d = 0; ok && d < m->ndim; d++) {
            int64_t size = m->shape[m->ndim - 1 - d], f = full[nd - 1 - d];
            ok = size == f || size == 1;
        }
        if (!ok)
            return mg_error("%s: attn_mask %s cannot be broadcast to the scores' shape %s", OP, mg_shp(m),
                            mg_shape_str_raw(nd, full, want, sizeof want));
    }
    if (kp) {
        bool ok = nd == 2 ? kp->ndim == 1 && kp->shape[0] == full[1]
                          : kp->ndim == 2 && kp->shape[0] == full[0] && kp->shape[1] == full[nd - 1];
        int64_t exp[2] = {full[0], full[nd - 1]};
        if (!ok)
            return mg_error("%s: key_padding_mask must be [N, S] = %s, got %s", OP,
                            nd == 2 ? mg_shape_str_raw(1, full + 1, want, sizeof want)
                                    : mg_shape_str_raw(2, exp, want, sizeof want),
                            mg_shp(kp));
    }
    if (!(o->dropout_p >= 0 && o->dropout_p <= 1))
        return mg_error("%s: dropout_p must be in [0, 1], got %g", OP, o->dropout_p);
    if (o->scale != o->scale) return MG_OK;
    if (!isfinite(o->scale)) return mg_error("%s: scale must be a finite number, got %g", OP, o->scale);
    return MG_OK;
}

mg_tensor *mg_scaled_dot_product_attention(mg_tensor *q, mg_tensor *k, mg_tensor *v, const mg_sdpa_opts *o) {
    mg_sdpa_opts none = {.scale = NAN};
    if (!o) o = &none;
    mg_tensor *qc = NULL, *kc = NULL, *vc = NULL, *mask = NULL, *kpm = NULL, *out = NULL, *stats = NULL;
    mg_tensor *drop = NULL;
    TRY_OK(check_inputs(q, k, v));
    int nd = q->ndim;
    int64_t full[MG_MAX_DIMS], oshape[MG_MAX_DIMS];
    memcpy(full, q->shape, sizeof(int64_t) * (size_t)nd);
    full[nd - 1] = k->shape[nd - 2];
    TRY_OK(check_masks(o, nd, full));
    memcpy(oshape, q->shape, sizeof(int64_t) * (size_t)nd);
    oshape[nd - 1] = v->shape[nd - 1];

    attn_cfg c = {.L = q->shape[nd - 2], .S = k->shape[nd - 2], .E = q->shape[nd - 1], .Ev = v->shape[nd - 1],
                  .causal = o->is_causal, .drop_p = (float)o->dropout_p};
    c.nb = mg_shape_numel(nd - 2, q->shape);
    c.scale = o->scale == o->scale ? (float)o->scale : 1.0f / sqrtf((float)(c.E > 0 ? c.E : 1));

    /* the masks in additive float form */
    const mg_tensor *m = o->attn_mask;
    if (m) {
        if (m->dtype == MG_F32) mask = mg_retain(o->attn_mask);
        else TRY(mask = additive_mask(m, !o->attn_mask_blocks));
    }
    if (o->key_padding_mask) {
        const mg_tensor *kp = o->key_padding_mask;
        if (kp->dtype == MG_F32) kpm = mg_retain((mg_tensor *)(uintptr_t)kp);
        else TRY(kpm = additive_mask(kp, false));
    }
    TRY(out = heads_inner(nd, oshape, false));
    mg_tensor *mask_in = m && m->dtype == MG_F32 ? o->attn_mask : NULL;
    mg_tensor *ins[4] = {q, k, v, mask_in};
    bool grad = mg_needs_grad(4, ins);
    bool keep_weights = grad && (o->keep_weights > 0 ||
                                 (o->keep_weights == 0 && (double)c.nb * c.L * c.S <= ATTN_KEEP_WEIGHTS_MAX));
    if (keep_weights) TRY(stats = mg_empty(MG_F32, nd, full));
    else if (grad) TRY(stats = mg_empty(MG_F32, nd - 1, q->shape));
    /* with the weights, the dropout mask too (a quarter of their size) */
    if (keep_weights && c.drop_p > 0 && c.nb * c.L * c.S > 0) {
        TRY(drop = mg_empty(MG_U8, 1, (int64_t[]){c.nb * c.L * c.S}));
        c.drop_mask = mg_u8(drop);
    }
    if (c.nb * c.L > 0) {
        TRY(qc = gemm_ready(q));
        TRY(kc = gemm_ready(k));
        TRY(vc = gemm_ready(v));
        slice2d ms, ks;
        if (mask) ms = mask_slices(mask, nd, full);
        if (kpm) ks = kpm_slices(kpm, nd, full);
        attn_in in = {slices_of(qc), slices_of(kc), slices_of(vc), {mask ? &ms : NULL, kpm ? &ks : NULL}};
        if (c.drop_p > 0) {
            c.seed = mg_rng_seed();
            c.base = mg_rng_reserve((uint64_t)((c.nb * c.L * c.S + 3) / 4));
        }
        slice2d os = slices_of(out);
        TRY_OK(attn_forward(&c, &in, &os, grad && !keep_weights ? mg_f32(stats) : NULL,
                            keep_weights ? mg_f32(stats) : NULL));
    }
    if (grad) {
        mg_node *n = mg_record(MG_OP_scaled_dot_product_attention, out, 4, ins);
        TRY(n);
        attn_params *p = mg_node_params(n, sizeof *p);
        TRY(p);
        *p = (attn_params){.scale = c.scale, .drop_p = c.drop_p, .causal = c.causal, .seed = c.seed, .base = c.base,
                           .kept_weights = keep_weights, .mask_slot = -1, .kpm_slot = -1, .drop_slot = -1};
        TRY_OK(mg_save(n, q));
        TRY_OK(mg_save(n, k));
        TRY_OK(mg_save(n, v));
        TRY_OK(mg_save(n, stats));
        if (mask) {
            p->mask_slot = n->n_saved;
            TRY_OK(mg_save(n, mask));
        }
        if (kpm) {
            p->kpm_slot = n->n_saved;
            TRY_OK(mg_save(n, kpm));
        }
        if (drop) {
            p->drop_slot = n->n_saved;
            TRY_OK(mg_save(n, drop));
        }
    }
    mg_release(qc), mg_release(kc), mg_release(vc), mg_release(mask), mg_release(kpm), mg_release(stats);
    mg_release(drop);
    return out;
fail:
    mg_release(qc), mg_release(kc), mg_release(vc), mg_release(mask), mg_release(kpm), mg_release(stats);
    mg_release(drop);
    mg_release(out);
    return NULL;
}

/* A gradient tensor shaped like input k of the node, with its slices. */
static mg_tensor *grad_like(mg_node *n, int k, bool zero, slice2d *s) {
    mg_tensor *t = heads_inner(n->in[k].ndim, n->in[k].shape, zero);
    if (t) *s = slices_of(t);
    return t;
}

int mg_bw_scaled_dot_product_attention(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    attn_params *p = n->params;
    mg_tensor *q = mg_saved(n, SAVED_Q), *k = mg_saved(n, SAVED_K), *v = mg_saved(n, SAVED_V);
    mg_tensor *stats = mg_saved(n, SAVED_STATS);
    mg_tensor *mask = p->mask_slot >= 0 ? mg_saved(n, p->mask_slot) : NULL;
    mg_tensor *kpm = p->kpm_slot >= 0 ? mg_saved(n, p->kpm_slot) : NULL;
    mg_tensor *drop = p->drop_slot >= 0 ? mg_saved(n, p->drop_slot) : NULL;
    if (!q || !k || !v || !stats || (p->mask_slot >= 0 && !mask) || (p->kpm_slot >= 0 && !kpm) ||
        (p->drop_slot >= 0 && !drop))
        return MG_ERR;
    mg_tensor *qc = NULL, *kc = NULL, *vc = NULL, *gc = NULL, *gmask = NULL;
    int rc = MG_ERR, nd = q->ndim;
    int64_t full[MG_MAX_DIMS];
    memcpy(full, q->shape, sizeof(int64_t) * (size_t)nd);
    full[nd - 1] = k->shape[nd - 2];
    attn_cfg c = {.nb = mg_shape_numel(nd - 2, q->shape), .L = q->shape[nd - 2], .S = k->shape[nd - 2],
                  .E = q->shape[nd - 1], .Ev = v->shape[nd - 1], .scale = p->scale, .causal = p->causal,
                  .drop_p = p->drop_p, .seed = p->seed, .base = p->base, .drop_mask = drop ? mg_u8(drop) : NULL};
    slice2d sq, sk, sv;
    attn_grads gr = {0};
    if (needs[0]) {
        TRY(gin[0] = grad_like(n, 0, false, &sq));
        gr.gq = &sq;
    }
    /* dk and dv start zeroed only without query rows to sum over */
    bool empty = mg_numel(q) == 0;
    if (needs[1]) {
        TRY(gin[1] = grad_like(n, 1, empty, &sk));
        gr.gk = &sk;
    }
    if (needs[2]) {
        TRY(gin[2] = grad_like(n, 2, empty, &sv));
        gr.gv = &sv;
    }
    if (needs[3]) {
        TRY(gmask = mg_empty(MG_F32, nd, full));
        gr.gmask = mg_f32(gmask);
    }
    if (c.nb * c.L > 0) {
        TRY(qc = gemm_ready(q));
        TRY(kc = gemm_ready(k));
        TRY(vc = gemm_ready(v));
        TRY(gc = gemm_ready(g));
        slice2d ms, ks;
        if (mask) ms = mask_slices(mask, nd, full);
        if (kpm) ks = kpm_slices(kpm, nd, full);
        attn_in in = {slices_of(qc), slices_of(kc), slices_of(vc), {mask ? &ms : NULL, kpm ? &ks : NULL}};
        gr.gout = slices_of(gc);
        TRY_OK(attn_backward(&c, &in, p->kept_weights ? NULL : mg_f32(stats), p->kept_weights ? mg_f32(stats) : NULL,
                             &gr));
    } else if (gmask) {
        TRY_OK(mg_zero_(gmask));
    }
    if (needs[3]) TRY(gin[3] = mg_sum_to_shape(gmask, n->in[3].ndim, n->in[3].shape));
    rc = MG_OK;
fail:
    mg_release(qc), mg_release(kc), mg_release(vc), mg_release(gc), mg_release(gmask);
    return rc;
}
