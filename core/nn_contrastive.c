/*
 * The NT-Xent loss of SimCLR as one fused op (forward and backward each a
 * couple of GEMMs and one pass over the similarity matrix).
 *
 * z1, z2 [N, D] are the projections of two views of the same N images.
 * The M = 2N rows z = [z1; z2] are normalised to unit length, s_ik =
 * <z_i, z_k> / tau (cosine similarity over the temperature), and anchor i
 * has its other view p(i) = i +- N as the positive and the 2(N - 1) other
 * rows as negatives:
 *   loss = 1/M sum_i [ logsumexp_{k != i} s_ik - s_i,p(i) ].
 * Backward: with P_ik = softmax_{k != i}(s_i.)_k (P_ii = 0) and G = g/M
 * (P - E), E the positive pairs, d zn = (G + G^T) zn / tau, and through
 * the normalisation dz_i = (d zn_i - zn_i <zn_i, d zn_i>) / |z_i|.
 * The similarity matrix is recomputed in backward rather than saved
 * (M x M floats against two GEMMs).
 */
#include "internal.h"
#include "nn_math.h"

#include <stdlib.h>

/* Rows with a smaller norm are divided by this instead (as PyTorch's
 * cosine similarity), so a zero row gives no NaN. */
#define NORM_EPS 1e-8f

/* z (M,D) -> zn (M,D) unit rows, r (M) the norms (at least NORM_EPS) */
static void normalise_rows(float *zn, float *r, const float *z, int64_t M, int64_t D) {
#pragma omp parallel for if (M * D > MG_PAR_GRAIN) schedule(static)
    for (int64_t i = 0; i < M; i++) {
        const float *zi = z + i * D;
        double s = 0;
        for (int64_t d = 0; d < D; d++) s += (double)zi[d] * zi[d];
        float n = (float)sqrt(s);
        r[i] = n > NORM_EPS ? n : NORM_EPS;
        float inv = 1.0f / r[i];
        for (int64_t d = 0; d < D; d++) zn[i * D + d] = zi[d] * inv;
    }
}

/* z1, z2 (N,D) -> z (2N,D) contiguous, zn, r; s (M,M) = zn zn^T / tau with
 * the diagonal at -inf; lse (M) the row log-sum-exps. Buffers allocated by
 * the caller. */
static void similarities(float *z, float *zn, float *r, float *s, float *lse, const mg_tensor *z1,
                         const mg_tensor *z2, int64_t N, int64_t D, float tau) {
    int64_t M = 2 * N;
    memcpy(z, mg_f32(z1), sizeof(float) * (size_t)(N * D));
    memcpy(z + N * D, mg_f32(z2), sizeof(float) * (size_t)(N * D));
    normalise_rows(zn, r, z, M, D);
    mg_sgemm(false, true, M, M, D, 1.0f / tau, zn, D, zn, D, 0.0f, s, M);
#pragma omp parallel for if (M * M > MG_PAR_GRAIN) schedule(static)
    for (int64_t i = 0; i < M; i++) {
        float *si = s + i * M, m = -INFINITY, sum = 0;
        si[i] = -INFINITY;
        for (int64_t k = 0; k < M; k++) m = si[k] > m ? si[k] : m;
#pragma omp simd reduction(+ : sum)
        for (int64_t k = 0; k < M; k++) sum += nn_exp(si[k] - m);
        lse[i] = m + logf(sum);
    }
}

static int64_t positive(int64_t i, int64_t N) { return i < N ? i + N : i - N; }

static int check_pair(const char *op, const mg_tensor *z1, const mg_tensor *z2, double tau) {
    if (z1->dtype != MG_F32 || z2->dtype != MG_F32)
        return mg_error("%s: z1 and z2 must be float32, got %s and %s", op, mg_dtype_name(z1->dtype),
                        mg_dtype_name(z2->dtype));
    if (z1->ndim != 2 || !mg_same_shape(z1, z2))
        return mg_error("%s: z1 and z2 must be [N, D] of the same shape, got %s and %s", op, mg_shp(z1), mg_shp2(z2));
    if (z1->shape[0] < 1 || z1->shape[1] < 1)
        return mg_error("%s: needs at least one pair of one-element rows, got %s", op, mg_shp(z1));
    if (!(tau > 0) || tau == INFINITY) return mg_error("%s: temperature must be > 0 and finite, got %g", op, tau);
    return MG_OK;
}

/* Scratch of one pass: z, zn (M,D), r, lse (M), s (M,M) in one block. */
typedef struct {
    float *z, *zn, *r, *lse, *s;
} scratch;

static float *scratch_alloc(scratch *w, int64_t N, int64_t D) {
    int64_t M = 2 * N;
    float *block = malloc(sizeof(float) * (size_t)(2 * M * D + 2 * M + M * M));
    if (!block) return NULL;
    w->z = block, w->zn = w->z + M * D, w->r = w->zn + M * D, w->lse = w->r + M, w->s = w->lse + M;
    return block;
}

mg_tensor *mg_nt_xent(mg_tensor *z1, mg_tensor *z2, double temperature) {
    const char *op = "nt_xent";
    mg_tensor *c1 = NULL, *c2 = NULL, *out = NULL;
    float *block = NULL;
    TRY_OK(check_pair(op, z1, z2, temperature));
    int64_t N = z1->shape[0], D = z1->shape[1], M = 2 * N;
    TRY(c1 = mg_as_contiguous(z1));
    TRY(c2 = mg_as_contiguous(z2));
    scratch w;
    CHECK(block = scratch_alloc(&w, N, D), "%s: out of memory for a %lld x %lld similarity matrix", op, (long long)M,
          (long long)M);
    similarities(w.z, w.zn, w.r, w.s, w.lse, c1, c2, N, D, (float)temperature);
    double total = 0;
    for (int64_t i = 0; i < M; i++) total += (double)w.lse[i] - w.s[i * M + positive(i, N)];
    TRY(out = mg_empty(MG_F32, 0, NULL));
    mg_f32(out)[0] = (float)(total / (double)M);
    free(block);
    block = NULL;
    mg_tensor *ins[2] = {z1, z2};
    if (mg_needs_grad(2, ins)) {
        mg_node *node = mg_record(MG_OP_nt_xent, out, 2, ins);
        TRY(node);
        TRY_OK(mg_save(node, c1));
        TRY_OK(mg_save(node, c2));
        node->f[0] = temperature;
    }
    mg_release(c1), mg_release(c2);
    return out;
fail:
    free(block);
    mg_release(c1), mg_release(c2), mg_release(out);
    return NULL;
}

int mg_bw_nt_xent(mg_node *n, mg_tensor *g, const bool *needs, mg_tensor **gin) {
    mg_tensor *z1 = mg_saved(n, 0), *z2 = mg_saved(n, 1), *dz = NULL;
    if (!z1 || !z2) return MG_ERR;
    int64_t N = z1->shape[0], D = z1->shape[1], M = 2 * N;
    float tau = (float)n->f[0], scale = (float)(mg_get_flat(g, 0) / (double)M);
    scratch w;
    float *block = scratch_alloc(&w, N, D), *dzn = NULL;
    int64_t shape[2] = {M, D};
    if (!block) return mg_error("nt_xent: out of memory in backward");
    if (!(dz = mg_empty(MG_F32, 2, shape))) goto fail;
    dzn = mg_f32(dz);
    similarities(w.z, w.zn, w.r, w.s, w.lse, z1, z2, N, D, tau);
    /* s becomes G = scale (P - E) */
#pragma omp parallel for if (M * M > MG_PAR_GRAIN) schedule(static)
    for (int64_t i = 0; i < M; i++) {
        float *si = w.s + i * M, l = w.lse[i];
#pragma omp simd
        for (int64_t k = 0; k < M; k++) si[k] = scale * nn_exp(si[k] - l); /* exp(-inf) = 0 on the diagonal */
        si[positive(i, N)] -= scale;
    }
    /* A = G + G^T, in place (symmetric), then d zn = A zn / tau */
    for (int64_t i = 0; i < M; i++)
        for (int64_t k = i; k < M; k++) {
            float a = w.s[i * M + k] + w.s[k * M + i];
            w.s[i * M + k] = w.s[k * M + i] = a;
        }
    mg_sgemm(false, false, M, D, M, 1.0f / tau, w.s, M, w.zn, D, 0.0f, dzn, D);
#pragma omp parallel for if (M * D > MG_PAR_GRAIN) schedule(static)
    for (int64_t i = 0; i < M; i++) {
        float *gi = dzn + i * D;
        const float *ui = w.zn + i * D;
        double dot = 0;
        for (int64_t d = 0; d < D; d++) dot += (double)ui[d] * gi[d];
        /* a row shorter than NORM_EPS was divided by the constant: no projection */
        float proj = w.r[i] > NORM_EPS ? (float)dot : 0.0f, inv = 1.0f / w.r[i];
        for (int64_t d = 0; d < D; d++) gi[d] = (gi[d] - ui[d] * proj) * inv;
    }
    free(block);
    block = NULL;
    for (int j = 0; j < 2; j++) {
        if (!needs[j]) continue;
        int64_t half[2] = {N, D};
        if (!(gin[j] = mg_empty(MG_F32, 2, half))) goto fail;
        memcpy(mg_f32(gin[j]), dzn + j * N * D, sizeof(float) * (size_t)(N * D));
    }
    mg_release(dz);
    return MG_OK;
fail:
    free(block);
    mg_release(dz);
    return MG_ERR;
}
