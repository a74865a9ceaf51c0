/*
 * The random number generator: Philox 4x32-10, a counter-based generator.
 * The state is (seed, counter); draw i of a call uses counter base + i/4,
 * so results depend only on the seed and the order of calls, never on the
 * thread count, and the state is two numbers that checkpoints can store.
 */
#include "internal.h"
#include "simd_math.h"

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


/* Philox blocks per task: 256 draws. */
#define RNG_TILE 64

/* Fills n floats of a contiguous buffer. kind 0: uniform [a, b); 1: normal
 * with mean a and std b. Draw i is word i % 4 of block base + i / 4; a
 * normal pair comes from the words (2j, 2j+1) by Box-Muller in float, so
 * each tile is a few vector loops (libmvec's logf, sinf and cosf). */
static void fill_random(float *dst, int64_t n, int kind, double a, double b) {
    uint64_t seed = rng_seed, base = mg_rng_reserve((uint64_t)(n + 3) / 4);
    int64_t tiles = (n + 4 * RNG_TILE - 1) / (4 * RNG_TILE);
    float fa = (float)a, fb = (float)b;
#pragma omp parallel for if (n > MG_PAR_GRAIN) schedule(static)
    for (int64_t t = 0; t < tiles; t++) {
        uint32_t w[4 * RNG_TILE];
        float v[4 * RNG_TILE];
        uint64_t c0 = base + (uint64_t)(t * RNG_TILE);
#pragma omp simd
        for (int64_t k = 0; k < RNG_TILE; k++) mg_philox(seed, c0 + (uint64_t)k, w + 4 * k);
        if (kind == 0) {
            for (int k = 0; k < 4 * RNG_TILE; k++) v[k] = (float)(a + (b - a) * mg_u01(w[k]));
        } else {
#pragma omp simd
            for (int j = 0; j < 2 * RNG_TILE; j++) {
                float u1 = 1.0f - mg_u01(w[2 * j]), u2 = mg_u01(w[2 * j + 1]); /* u1 in (0, 1] */
                float r = sqrtf(-2.0f * logf(u1)), th = 6.28318530718f * u2;
                v[2 * j] = fa + fb * r * cosf(th);
                v[2 * j + 1] = fa + fb * r * sinf(th);
            }
        }
        int64_t i0 = t * 4 * RNG_TILE, m = n - i0 < 4 * RNG_TILE ? n - i0 : 4 * RNG_TILE;
        memcpy(dst + i0, v, (size_t)m * sizeof(float));
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
