/*
 * The random number generator: Philox 4x32-10, a counter-based generator.
 * The state is (seed, counter); draw i of a call uses counter base + i/4,
 * so results depend only on the seed and the order of calls, never on the
 * thread count, and the state is two numbers that checkpoints can store.
 */
#include "internal.h"

static uint64_t rng_seed = 0x5eedULL, rng_counter;

void mg_manual_seed(uint64_t seed) {
    rng_seed = seed;
    rng_counter = 0;
}

void mg_rng_get_state(uint64_t *seed, uint64_t *counter) {
    *seed = rng_seed;
    *counter = rng_counter;
}

void mg_rng_set_state(uint64_t seed, uint64_t counter) {
    rng_seed = seed;
    rng_counter = counter;
}

uint64_t mg_rng_seed(void) { return rng_seed; }

uint64_t mg_rng_reserve(uint64_t n) {
    uint64_t c = rng_counter;
    rng_counter += n;
    return c;
}

void mg_philox(uint64_t seed, uint64_t c, uint32_t out[4]) {
    uint32_t x0 = (uint32_t)c, x1 = (uint32_t)(c >> 32), x2 = 0x9E3779B9u, x3 = 0x243F6A88u;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * x0, p1 = (uint64_t)0xCD9E8D57u * x2;
        uint32_t y0 = (uint32_t)(p1 >> 32) ^ x1 ^ k0;
        uint32_t y1 = (uint32_t)p1;
        uint32_t y2 = (uint32_t)(p0 >> 32) ^ x3 ^ k1;
        uint32_t y3 = (uint32_t)p0;
        x0 = y0, x1 = y1, x2 = y2, x3 = y3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = x0, out[1] = x1, out[2] = x2, out[3] = x3;
}

/* Fills n floats of a contiguous buffer. kind 0: uniform [0,1); 1: normal. */
static void fill_random(float *dst, int64_t n, int kind, double a, double b) {
    uint64_t seed = rng_seed, base = mg_rng_reserve((uint64_t)(n + 3) / 4);
    int64_t blocks = (n + 3) / 4;
#pragma omp parallel for if (n > MG_PAR_GRAIN) schedule(static)
    for (int64_t blk = 0; blk < blocks; blk++) {
        uint32_t w[4];
        mg_philox(seed, base + (uint64_t)blk, w);
        float v[4];
        if (kind == 0) {
            for (int k = 0; k < 4; k++) v[k] = (float)(a + (b - a) * mg_u01(w[k]));
        } else {
            /* Box-Muller on two pairs; u1 in (0, 1] so the log is finite */
            for (int k = 0; k < 4; k += 2) {
                double u1 = 1.0 - mg_u01(w[k]), u2 = mg_u01(w[k + 1]);
                double r = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
                v[k] = (float)(a + b * r * cos(th));
                v[k + 1] = (float)(a + b * r * sin(th));
            }
        }
        int64_t i0 = blk * 4;
        for (int k = 0; k < 4 && i0 + k < n; k++) dst[i0 + k] = v[k];
    }
}

static int fill_checked(const char *op, mg_tensor *t, int kind, double a, double b) {
    if (t->dtype != MG_F32) return mg_error("%s: needs a float32 tensor, got %s", op, mg_dtype_name(t->dtype));
    if (mg_check_inplace(op, t)) return MG_ERR;
    int64_t n = mg_numel(t);
    if (mg_is_contiguous(t)) {
        fill_random(mg_f32(t), n, kind, a, b);
    } else {
        mg_tensor *tmp = mg_empty(MG_F32, t->ndim, t->shape);
        if (!tmp) return MG_ERR;
        fill_random(mg_f32(tmp), n, kind, a, b);
        mg_strided_copy(t, tmp);
        mg_release(tmp);
    }
    mg_bump_version(t);
    return MG_OK;
}

int mg_uniform_(mg_tensor *t, double low, double high) {
    if (!(low <= high)) return mg_error("uniform_: low %g must not exceed high %g", low, high);
    return fill_checked("uniform_", t, 0, low, high);
}

int mg_normal_(mg_tensor *t, double mean, double std) {
    if (!(std >= 0)) return mg_error("normal_: std must be >= 0, got %g", std);
    return fill_checked("normal_", t, 1, mean, std);
}

int mg_bernoulli_(mg_tensor *t, double p) {
    if (!(p >= 0 && p <= 1)) return mg_error("bernoulli_: p must be in [0, 1], got %g", p);
    if (fill_checked("bernoulli_", t, 0, 0, 1)) return MG_ERR;
    /* uniform draws u become (u < p) */
    mg_tensor *c = mg_contiguous(t);
    if (!c) return MG_ERR;
    float *d = mg_f32(c);
    int64_t n = mg_numel(c);
    for (int64_t i = 0; i < n; i++) d[i] = d[i] < (float)p ? 1.0f : 0.0f;
    if (c != t) mg_strided_copy(t, c);
    mg_release(c);
    return MG_OK;
}

mg_tensor *mg_rand(int ndim, const int64_t *shape) {
    mg_tensor *t = mg_empty(MG_F32, ndim, shape);
    if (t) fill_random(mg_f32(t), mg_numel(t), 0, 0, 1);
    return t;
}

mg_tensor *mg_randn(int ndim, const int64_t *shape) {
    mg_tensor *t = mg_empty(MG_F32, ndim, shape);
    if (t) fill_random(mg_f32(t), mg_numel(t), 1, 0, 1);
    return t;
}

/* Uniform integer in [0, range) from a 64-bit word, by multiply-shift
 * (Lemire); the bias is below 2^-32 for any range used here. */
static int64_t bounded(uint64_t word, uint64_t range) {
    return (int64_t)(((unsigned __int128)word * range) >> 64);
}

mg_tensor *mg_randint(int64_t low, int64_t high, int ndim, const int64_t *shape) {
    if (high <= low) {
        mg_error("randint: high (%lld) must be greater than low (%lld)", (long long)high, (long long)low);
        return NULL;
    }
    mg_tensor *t = mg_empty(MG_I64, ndim, shape);
    if (!t) return NULL;
    int64_t n = mg_numel(t), *d = mg_i64(t);
    uint64_t seed = rng_seed, base = mg_rng_reserve((uint64_t)(n + 1) / 2);
    uint64_t range = (uint64_t)high - (uint64_t)low; /* unsigned: the span may exceed INT64_MAX */
    for (int64_t i = 0; i < n; i += 2) {
        uint32_t w[4];
        mg_philox(seed, base + (uint64_t)(i / 2), w);
        d[i] = (int64_t)((uint64_t)low + (uint64_t)bounded(((uint64_t)w[0] << 32) | w[1], range));
        if (i + 1 < n) d[i + 1] = (int64_t)((uint64_t)low + (uint64_t)bounded(((uint64_t)w[2] << 32) | w[3], range));
    }
    return t;
}

mg_tensor *mg_randperm(int64_t n) {
    if (n < 0) {
        mg_error("randperm: n must be >= 0, got %lld", (long long)n);
        return NULL;
    }
    int64_t shape[1] = {n};
    mg_tensor *t = mg_empty(MG_I64, 1, shape);
    if (!t) return NULL;
    int64_t *d = mg_i64(t);
    for (int64_t i = 0; i < n; i++) d[i] = i;
    /* Fisher-Yates, one counter per swap */
    uint64_t seed = rng_seed, base = mg_rng_reserve((uint64_t)(n > 0 ? n : 0));
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t w[4];
        mg_philox(seed, base + (uint64_t)i, w);
        int64_t j = bounded(((uint64_t)w[0] << 32) | w[1], (uint64_t)(i + 1));
        int64_t tmp = d[i];
        d[i] = d[j];
        d[j] = tmp;
    }
    return t;
}
