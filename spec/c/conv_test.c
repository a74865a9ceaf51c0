/*
 * Convolution and pooling kernels against their naive twins, on awkward
 * shapes (odd sizes, strides, padding, dilation, 1x1 kernels, batch 1,
 * non-square), at one and two threads. Prints "ok NAME" or
 * "not ok NAME: message" per check; exits non-zero if any failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_conv.h"

static int failures;
static uint64_t rng_state = 12345;

static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng_state >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static float *rand_buf(int64_t n) {
    float *p = malloc((size_t)(n ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

/* Largest |a - b| / (1 + |b|); NaN must match NaN. */
static double max_err(const float *a, const float *b, int64_t n, int64_t *where) {
    double worst = 0;
    *where = -1;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) {
            if (isnan(a[i]) != isnan(b[i])) {
                *where = i;
                return INFINITY;
            }
            continue;
        }
        double e = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (e > worst) worst = e, *where = i;
    }
    return worst;
}

static void check(const char *name, const float *got, const float *want, int64_t n, double tol) {
    int64_t at;
    double e = max_err(got, want, n, &at);
    if (e <= tol) {
        printf("ok %s\n", name);
    } else {
        printf("not ok %s: error %.3g at %lld (got %.8g, expected %.8g)\n", name, e, (long long)at,
               at >= 0 ? got[at] : 0.0, at >= 0 ? want[at] : 0.0);
        failures++;
    }
}

/* A convolution's sums: the error against the largest expected magnitude
 * (1 + max |b|), the scale of the rounding errors of a long float sum,
 * which Winograd's transforms amplify a little more (F(4x4) most). */
static void check_sum(const char *name, const float *got, const float *want, int64_t n, double tol) {
    double scale = 1.0;
    for (int64_t i = 0; i < n; i++)
        if (fabs((double)want[i]) + 1.0 > scale) scale = fabs((double)want[i]) + 1.0;
    double worst = 0;
    int64_t at = -1;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / scale;
        if (!(e <= worst)) worst = e, at = i; /* NaN counts as the worst */
    }
    if (worst <= tol) {
        printf("ok %s\n", name);
    } else {
        printf("not ok %s: error %.3g of the scale %.3g at %lld (got %.8g, expected %.8g)\n", name, worst, scale,
               (long long)at, at >= 0 ? got[at] : 0.0, at >= 0 ? want[at] : 0.0);
        failures++;
    }
}

static void expect(const char *name, bool cond, const char *msg) {
    if (cond) printf("ok %s\n", name);
    else printf("not ok %s: %s\n", name, msg), failures++;
}

/* ---- conv2d kernels --------------------------------------------------------------- */

typedef struct {
    const char *name;
    int64_t N, C, H, W, K, kh, kw;
    int s[2], p[2], d[2];
} conv_case;

/* The naive results are computed once per case; the tuned kernels are run
 * at one and two threads against them. */
static void conv_kernels(const conv_case *cc) {
    mg_tensor *x = mg_empty(MG_F32, 4, (int64_t[]){cc->N, cc->C, cc->H, cc->W});
    mg_tensor *w = mg_empty(MG_F32, 4, (int64_t[]){cc->K, cc->C, cc->kh, cc->kw});
    mg_conv_opts o = {{cc->s[0], cc->s[1]}, {cc->p[0], cc->p[1]}, {cc->d[0], cc->d[1]}, {0, 0}};
    mg_conv_geom g;
    char name[200];
    if (mg_conv_geom_init(&g, "conv2d", x, w, &o) != MG_OK) {
        snprintf(name, sizeof name, "conv2d geometry %s", cc->name);
        expect(name, false, mg_last_error());
        mg_release(x), mg_release(w);
        return;
    }
    int64_t nx = g.N * g.C * g.H * g.W, nw = g.K * g.C * g.kh * g.kw, no = g.N * g.K * g.OH * g.OW;
    float *in = rand_buf(nx), *wt = rand_buf(nw), *b = rand_buf(g.K), *go = rand_buf(no);
    float *o1 = malloc(no * 4), *want = malloc(no * 4), *want_nb = malloc(no * 4);
    float *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4), *dw1 = malloc(nw * 4), *dw2 = malloc(nw * 4);
    float *db1 = malloc(g.K * 4), *db2 = malloc(g.K * 4);
    mg_conv2d_fwd_naive(want, in, wt, b, &g);
    mg_conv2d_fwd_naive(want_nb, in, wt, NULL, &g);
    mg_conv2d_bwd_naive(dx2, dw2, db2, go, in, wt, &g);

    for (int threads = 1; threads <= 2; threads++) {
        mg_set_num_threads(threads);
#define CASE(what) (snprintf(name, sizeof name, "conv2d %s %s (%d threads)", what, cc->name, threads), name)
        mg_conv2d_fwd(o1, in, wt, b, &g);
        check_sum(CASE("forward"), o1, want, no, 1e-4);
        mg_conv2d_fwd(o1, in, wt, NULL, &g);
        check_sum(CASE("forward without bias"), o1, want_nb, no, 1e-4);
        mg_conv2d_bwd(dx1, dw1, db1, go, in, wt, &g);
        check_sum(CASE("input grad"), dx1, dx2, nx, 1e-4);
        check_sum(CASE("weight grad"), dw1, dw2, nw, 1e-4);
        check_sum(CASE("bias grad"), db1, db2, g.K, 1e-4);
        /* one gradient at a time: the others are not touched */
        for (int64_t i = 0; i < nw; i++) dw1[i] = 7;
        mg_conv2d_bwd(dx1, NULL, NULL, go, NULL, wt, &g);
        check_sum(CASE("input grad alone"), dx1, dx2, nx, 1e-4);
        expect(CASE("input grad alone leaves the weight grad"), dw1[0] == 7 && dw1[nw - 1] == 7, "written");
        for (int64_t i = 0; i < nx; i++) dx1[i] = 7;
        mg_conv2d_bwd(NULL, dw1, NULL, go, in, NULL, &g);
        check_sum(CASE("weight grad alone"), dw1, dw2, nw, 1e-4);
        expect(CASE("weight grad alone leaves the input grad"), dx1[0] == 7 && dx1[nx - 1] == 7, "written");
        /* each path on its own: im2col + GEMM always, Winograd where it applies */
        mg_conv2d_fwd_gemm(o1, in, wt, b, &g);
        check_sum(CASE("forward, GEMM path"), o1, want, no, 1e-4);
        mg_conv2d_bwd_gemm(dx1, dw1, db1, go, in, wt, &g);
        check_sum(CASE("input grad, GEMM path"), dx1, dx2, nx, 1e-4);
        check_sum(CASE("weight grad, GEMM path"), dw1, dw2, nw, 1e-4);
        check_sum(CASE("bias grad, GEMM path"), db1, db2, g.K, 1e-4);
        if (mg_winograd_fits(&g)) {
            mg_conv2d_winograd_fwd(o1, in, wt, b, &g);
            check_sum(CASE("forward, Winograd"), o1, want, no, 1e-4);
            for (int64_t i = 0; i < nx; i++) dx1[i] = 7;
            mg_conv2d_winograd_bwd(dx1, dw1, db1, go, in, wt, &g);
            check_sum(CASE("input grad, Winograd"), dx1, dx2, nx, 1e-4);
            check_sum(CASE("weight grad, Winograd"), dw1, dw2, nw, 1e-4);
            check_sum(CASE("bias grad, Winograd"), db1, db2, g.K, 1e-4);
        }
        /* the epilogue inside the units: the same as the tuned output put
         * through the naive epilogue, bit for bit (codes included) */
        for (int pool = 1; pool <= 2; pool++) {
            if (g.OH < pool || g.OW < pool) continue;
            int64_t np = g.N * g.K * (g.OH / pool) * (g.OW / pool);
            float *e1 = malloc((size_t)(np ? np : 1) * 4), *e2 = malloc((size_t)(np ? np : 1) * 4);
            uint8_t *c1 = malloc((size_t)(np ? np : 1)), *c2 = malloc((size_t)(np ? np : 1));
            mg_conv_epilogue ep = {pool, c1};
            typedef int (*fused_fn)(float *, const float *, const float *, const float *, const mg_conv_geom *,
                                    const mg_conv_epilogue *);
            typedef int (*plain_fn)(float *, const float *, const float *, const float *, const mg_conv_geom *);
            fused_fn fused[3] = {mg_conv2d_fwd_fused, mg_conv2d_fwd_gemm_fused, mg_conv2d_winograd4_fwd_fused};
            plain_fn plain[3] = {mg_conv2d_fwd, mg_conv2d_fwd_gemm, mg_conv2d_winograd4_fwd};
            const char *which[3] = {"chosen", "GEMM", "Winograd F(4x4)"};
            for (int a = 0; a < 3; a++) {
                if (a == 2 && !mg_winograd4_fits(&g)) continue;
                plain[a](o1, in, wt, b, &g);
                mg_relu_pool_fwd_naive(e2, c2, o1, g.N * g.K, g.OH, g.OW, pool);
                fused[a](e1, in, wt, b, &g, &ep);
                char what[96];
                snprintf(what, sizeof what, "forward with epilogue pool %d, %s", pool, which[a]);
                check(CASE(what), e1, e2, np, 0);
                expect(CASE(what), memcmp(c1, c2, (size_t)np) == 0, "codes differ");
            }
            /* the backward pass from the epilogue's gradient and codes, expanded in
             * the units, against the same kernels on the expanded gradient */
            float *gp = rand_buf(np), *dy = malloc((size_t)(no ? no : 1) * 4), *dx3 = malloc((size_t)nx * 4);
            float *dw3 = malloc((size_t)nw * 4), *db3 = malloc((size_t)g.K * 4);
            mg_relu_pool_bwd_naive(dy, gp, c2, g.N * g.K, g.OH, g.OW, pool);
            mg_conv_dout src = {NULL, gp, c2, pool};
            typedef int (*bsrc_fn)(float *, float *, float *, const mg_conv_dout *, const float *, const float *,
                                   const mg_conv_geom *);
            typedef int (*bplain_fn)(float *, float *, float *, const float *, const float *, const float *,
                                     const mg_conv_geom *);
            bsrc_fn bsrc[3] = {mg_conv2d_bwd_src, mg_conv2d_bwd_gemm_src, mg_conv2d_winograd4_bwd_src};
            bplain_fn bplain[3] = {mg_conv2d_bwd, mg_conv2d_bwd_gemm, mg_conv2d_winograd4_bwd};
            for (int a = 0; a < 3; a++) {
                if (a == 2 && !mg_winograd4_fits(&g)) continue;
                bplain[a](dx3, dw3, db3, dy, in, wt, &g);
                bsrc[a](dx1, dw1, db1, &src, in, wt, &g);
                char what[96];
                snprintf(what, sizeof what, "backward from the epilogue pool %d, %s", pool, which[a]);
                check(CASE(what), dx1, dx3, nx, 0);
                check(CASE(what), dw1, dw3, nw, 0);
                check_sum(CASE(what), db1, db3, g.K, 1e-6);
                bsrc[a](NULL, NULL, db1, &src, in, wt, &g);
                check_sum(CASE(what), db1, db3, g.K, 1e-6);
            }
            free(gp), free(dy), free(dx3), free(dw3), free(db3);
            free(e1), free(e2), free(c1), free(c2);
        }
        if (mg_winograd4_fits(&g)) {
            mg_conv2d_winograd4_fwd(o1, in, wt, b, &g);
            check_sum(CASE("forward, Winograd F(4x4)"), o1, want, no, 1e-4);
            for (int64_t i = 0; i < nx; i++) dx1[i] = 7;
            mg_conv2d_winograd4_bwd(dx1, dw1, db1, go, in, wt, &g);
            check_sum(CASE("input grad, Winograd F(4x4)"), dx1, dx2, nx, 1e-4);
            check_sum(CASE("weight grad, Winograd F(4x4)"), dw1, dw2, nw, 1e-4);
            check_sum(CASE("bias grad, Winograd F(4x4)"), db1, db2, g.K, 1e-4);
            for (int64_t i = 0; i < nw; i++) dw1[i] = 7;
            mg_conv2d_winograd4_bwd(NULL, dw1, NULL, go, in, wt, &g);
            check_sum(CASE("weight grad alone, Winograd F(4x4)"), dw1, dw2, nw, 1e-4);
            mg_conv2d_winograd4_bwd(NULL, NULL, db1, go, in, wt, &g);
            check_sum(CASE("bias grad alone, Winograd F(4x4)"), db1, db2, g.K, 1e-4);
        }
#undef CASE
    }
    free(in), free(wt), free(b), free(go), free(o1), free(want), free(want_nb), free(dx1), free(dx2), free(dw1);
    free(dw2), free(db1), free(db2);
    mg_release(x), mg_release(w);
}

/* ---- conv_transpose2d through the ops ------------------------------------------------ */

typedef struct {
    const char *name;
    int64_t N, Cin, H, W, Cout, kh, kw;
    int s[2], p[2], d[2], op[2];
} convt_case;

static mg_tensor *rand_tensor(int nd, const int64_t *shape) {
    mg_tensor *t = mg_empty(MG_F32, nd, shape);
    float *p = mg_f32(t);
    for (int64_t i = 0; i < mg_numel(t); i++) p[i] = frand();
    return t;
}

static void convt_ops(const convt_case *cc, int threads) {
    mg_set_num_threads(threads);
    char name[160];
    mg_tensor *x = rand_tensor(4, (int64_t[]){cc->N, cc->Cin, cc->H, cc->W});
    mg_tensor *w = rand_tensor(4, (int64_t[]){cc->Cin, cc->Cout, cc->kh, cc->kw});
    mg_tensor *b = rand_tensor(1, (int64_t[]){cc->Cout});
    mg_conv_opts o = {{cc->s[0], cc->s[1]}, {cc->p[0], cc->p[1]}, {cc->d[0], cc->d[1]}, {cc->op[0], cc->op[1]}};
    mg_set_requires_grad(x, true), mg_set_requires_grad(w, true), mg_set_requires_grad(b, true);
    mg_tensor *y = mg_conv_transpose2d(x, w, b, &o);
    snprintf(name, sizeof name, "conv_transpose2d runs %s", cc->name);
    expect(name, y != NULL, mg_last_error());
    if (!y) return;
    mg_conv_geom g;
    mg_conv_transpose_geom(&g, x, w, &o);
    int64_t ny = mg_numel(y), nx = mg_numel(x), nw = mg_numel(w);
    float *want = malloc(ny * 4);
    mg_conv_transpose2d_fwd_naive(want, mg_f32(x), mg_f32(w), mg_f32(b), &g);
    snprintf(name, sizeof name, "conv_transpose2d forward %s (%d threads)", cc->name, threads);
    check(name, mg_f32(y), want, ny, 1e-4);

    mg_tensor *gy = rand_tensor(4, y->shape), *ins[3] = {x, w, b}, *grads[3] = {NULL, NULL, NULL};
    int rc = mg_grad(1, &y, &gy, 3, ins, grads, false);
    snprintf(name, sizeof name, "conv_transpose2d backward runs %s", cc->name);
    expect(name, rc == MG_OK, mg_last_error());
    if (rc == MG_OK) {
        /* the input gradient is a convolution of gy; the weight gradient pairs gy with x */
        float *gx = malloc(nx * 4), *gw = malloc(nw * 4), *gb = malloc(cc->Cout * 4);
        mg_conv2d_fwd_naive(gx, mg_f32(gy), mg_f32(w), NULL, &g);
        mg_conv2d_bwd_naive(NULL, gw, NULL, mg_f32(x), mg_f32(gy), NULL, &g);
        mg_conv_bias_grad(gb, mg_f32(gy), g.N, g.C, g.H * g.W);
        snprintf(name, sizeof name, "conv_transpose2d input grad %s (%d threads)", cc->name, threads);
        check(name, mg_f32(grads[0]), gx, nx, 1e-4);
        snprintf(name, sizeof name, "conv_transpose2d weight grad %s (%d threads)", cc->name, threads);
        check(name, mg_f32(grads[1]), gw, nw, 1e-4);
        snprintf(name, sizeof name, "conv_transpose2d bias grad %s (%d threads)", cc->name, threads);
        check(name, mg_f32(grads[2]), gb, cc->Cout, 1e-4);
        free(gx), free(gw), free(gb);
    }
    for (int k = 0; k < 3; k++) mg_release(grads[k]);
    free(want);
    mg_release(gy), mg_release(y), mg_release(x), mg_release(w), mg_release(b);
}

/* ---- pooling ------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    int64_t N, C, H, W;
    int k[2], s[2], p[2];
    bool ceil_mode, count_include_pad;
} pool_case;

static void pool_kernels(const pool_case *pc, int threads, int inputs) {
    mg_set_num_threads(threads);
    char name[200];
    const char *kind = inputs == 0 ? "random" : inputs == 1 ? "ties" : "NaN";
    mg_tensor *x = mg_empty(MG_F32, 4, (int64_t[]){pc->N, pc->C, pc->H, pc->W});
    mg_pool_opts o = {{pc->k[0], pc->k[1]}, {pc->s[0], pc->s[1]}, {pc->p[0], pc->p[1]}, pc->ceil_mode,
                      pc->count_include_pad};
    mg_pool_geom g;
    if (mg_pool_geom_init(&g, "max_pool2d", x, &o) != MG_OK) {
        snprintf(name, sizeof name, "pool geometry %s", pc->name);
        expect(name, false, mg_last_error());
        mg_release(x);
        return;
    }
    int64_t nx = mg_numel(x), no = g.N * g.C * g.OH * g.OW;
    float *in = rand_buf(nx), *go = rand_buf(no);
    if (inputs == 1) /* few distinct values: many ties */
        for (int64_t i = 0; i < nx; i++) in[i] = (float)((int)(in[i] * 2));
    if (inputs == 2)
        for (int64_t i = 0; i < nx; i += 7) in[i] = NAN;
    float *o1 = malloc(no * 4), *o2 = malloc(no * 4), *d1 = malloc(nx * 4), *d2 = malloc(nx * 4);
    for (int64_t i = 0; i < nx; i++) d1[i] = 9; /* must be overwritten */

    mg_max_pool2d_fwd_naive(o2, in, &g);
    mg_max_pool2d_fwd(o1, in, &g);
    snprintf(name, sizeof name, "max_pool2d forward %s, %s inputs (%d threads)", pc->name, kind, threads);
    check(name, o1, o2, no, 0);
    mg_max_pool2d_bwd(d1, go, in, &g);
    mg_max_pool2d_bwd_naive(d2, go, in, &g);
    snprintf(name, sizeof name, "max_pool2d backward %s, %s inputs (%d threads)", pc->name, kind, threads);
    check(name, d1, d2, nx, 1e-6);
    mg_max_pool2d_fwd_portable(o1, in, &g);
    snprintf(name, sizeof name, "max_pool2d portable forward %s, %s inputs (%d threads)", pc->name, kind, threads);
    check(name, o1, o2, no, 0);
    for (int64_t i = 0; i < nx; i++) d1[i] = 9;
    mg_max_pool2d_bwd_portable(d1, go, in, &g);
    snprintf(name, sizeof name, "max_pool2d portable backward %s, %s inputs (%d threads)", pc->name, kind, threads);
    check(name, d1, d2, nx, 1e-6);
    if (inputs == 0) {
        for (int64_t i = 0; i < nx; i++) d1[i] = 9;
        mg_avg_pool2d_fwd(o1, in, &g);
        mg_avg_pool2d_fwd_naive(o2, in, &g);
        snprintf(name, sizeof name, "avg_pool2d forward %s (%d threads)", pc->name, threads);
        check(name, o1, o2, no, 1e-6);
        mg_avg_pool2d_bwd(d1, go, &g);
        mg_avg_pool2d_bwd_naive(d2, go, &g);
        snprintf(name, sizeof name, "avg_pool2d backward %s (%d threads)", pc->name, threads);
        check(name, d1, d2, nx, 1e-6);
    }
    free(in), free(go), free(o1), free(o2), free(d1), free(d2);
    mg_release(x);
}

/* ---- the fused ReLU (+ 2x2 max pooling) epilogue of conv2d_relu_pool -------------------- */

/* The tuned epilogue against its naive twin: outputs, codes and gradients
 * (values with ties, zeros, negatives and NaN, odd sizes). */
static void relu_pool_kernels(int64_t planes, int64_t H, int64_t W, int pool, int threads) {
    mg_set_num_threads(threads);
    char name[200];
    int64_t n = planes * H * W, no = planes * (H / pool) * (W / pool);
    float *y = rand_buf(n), *go = rand_buf(no), *o1 = malloc(no * 4), *o2 = malloc(no * 4);
    float *d1 = malloc(n * 4), *d2 = malloc(n * 4);
    uint8_t *c1 = malloc(no), *c2 = malloc(no);
    for (int64_t i = 0; i < n; i++) {
        if (i % 5 == 0) y[i] = (float)((int)(y[i] * 2)); /* ties, zeros */
        if (i % 11 == 3) y[i] = NAN;                     /* ReLU makes it 0 */
    }
    for (int64_t i = 0; i < n; i++) d1[i] = 9; /* must be overwritten */
    mg_relu_pool_fwd_naive(o2, c2, y, planes, H, W, pool);
    mg_relu_pool_fwd(o1, c1, y, planes, H, W, pool);
#define NAME(what) (snprintf(name, sizeof name, "relu_pool %s, %lldx%lldx%lld, pool %d (%d threads)", what, \
                             (long long)planes, (long long)H, (long long)W, pool, threads), name)
    check(NAME("forward"), o1, o2, no, 0);
    expect(NAME("codes"), memcmp(c1, c2, (size_t)no) == 0, "differ from the naive twin's");
    mg_relu_pool_fwd(o1, NULL, y, planes, H, W, pool);
    check(NAME("forward without codes"), o1, o2, no, 0);
    mg_relu_pool_bwd(d1, go, c2, planes, H, W, pool);
    mg_relu_pool_bwd_naive(d2, go, c2, planes, H, W, pool);
    check(NAME("backward"), d1, d2, n, 0);
#undef NAME
    free(y), free(go), free(o1), free(o2), free(d1), free(d2), free(c1), free(c2);
}

int main(void) {
    static const conv_case convs[] = {
        {"batch 1, 5x7, 3x3", 1, 1, 5, 7, 2, 3, 3, {1, 1}, {0, 0}, {1, 1}},
        {"3x2 kernel, stride 2, padding 1", 3, 2, 9, 8, 4, 3, 2, {2, 2}, {1, 1}, {1, 1}},
        {"dilation 2, padding 2", 2, 3, 11, 10, 5, 3, 3, {1, 1}, {2, 2}, {2, 2}},
        {"1x1, small images", 4, 6, 5, 5, 3, 1, 1, {1, 1}, {0, 0}, {1, 1}},
        {"1x1, large images", 3, 5, 17, 16, 4, 1, 1, {1, 1}, {0, 0}, {1, 1}},
        {"1x1, stride 2", 2, 3, 7, 6, 2, 1, 1, {2, 2}, {0, 0}, {1, 1}},
        {"mixed stride (1,3), padding (2,0), dilation (1,2)", 3, 2, 8, 13, 3, 2, 3, {1, 3}, {2, 0}, {1, 2}},
        {"kernel larger than input, padding 1", 2, 2, 2, 3, 3, 3, 3, {1, 1}, {1, 1}, {1, 1}},
        {"stride larger than kernel", 2, 2, 9, 9, 2, 2, 2, {3, 3}, {1, 0}, {1, 1}},
        {"first layer 28x28", 6, 1, 28, 28, 4, 3, 3, {1, 1}, {0, 0}, {1, 1}},
        {"odd batch, small images", 5, 4, 6, 6, 7, 3, 3, {1, 1}, {0, 0}, {1, 1}},
        {"tiny images 5x5", 20, 16, 5, 5, 24, 3, 3, {1, 1}, {0, 0}, {1, 1}},
        {"tiny images, stride 2, padding 1", 6, 5, 4, 5, 7, 3, 3, {2, 2}, {1, 1}, {1, 1}},
        {"tiny images, dilation 2", 4, 3, 5, 5, 4, 2, 2, {1, 1}, {0, 0}, {2, 2}},
        {"many small images", 33, 16, 7, 7, 32, 3, 3, {1, 1}, {0, 0}, {1, 1}},
        {"bands of rows", 2, 32, 40, 40, 8, 3, 3, {1, 1}, {1, 1}, {1, 1}},
        {"bands of rows, batch 1", 1, 32, 41, 39, 6, 3, 3, {2, 1}, {1, 1}, {1, 1}},
        {"Winograd, odd output, padding 1", 5, 8, 13, 11, 9, 3, 3, {1, 1}, {1, 1}, {1, 1}},
        {"Winograd, no padding, odd sizes", 4, 12, 13, 14, 10, 3, 3, {1, 1}, {0, 0}, {1, 1}},
        {"Winograd, padding (2, 0)", 3, 9, 12, 15, 8, 3, 3, {1, 1}, {2, 0}, {1, 1}},
        {"Winograd, many images", 40, 16, 9, 9, 24, 3, 3, {1, 1}, {0, 0}, {1, 1}},
        {"Winograd, batch 1, bands", 1, 16, 60, 58, 20, 3, 3, {1, 1}, {1, 1}, {1, 1}},
        {"Winograd, large images, bands", 2, 24, 40, 40, 16, 3, 3, {1, 1}, {0, 1}, {1, 1}},
        {"seed CNN layer 2, a partial group of 16", 18, 32, 13, 13, 64, 3, 3, {1, 1}, {0, 0}, {1, 1}},
        {"seed CNN layer 3, tiny images", 17, 64, 5, 5, 40, 3, 3, {1, 1}, {0, 0}, {1, 1}},
        {"32 images, padding 1, non-square", 32, 9, 7, 10, 12, 3, 3, {1, 1}, {1, 1}, {1, 1}},
        {"a thread with one image where units are whole images", 3, 16, 28, 28, 64, 4, 4, {4, 4}, {0, 0}, {1, 1}},
    };
    for (size_t i = 0; i < sizeof convs / sizeof *convs; i++) conv_kernels(&convs[i]);

    static const convt_case convts[] = {
        {"3x3", 2, 3, 4, 5, 2, 3, 3, {1, 1}, {0, 0}, {1, 1}, {0, 0}},
        {"stride 2, padding 1, output_padding 1", 3, 4, 5, 4, 3, 3, 3, {2, 2}, {1, 1}, {1, 1}, {1, 1}},
        {"4x4 stride 2 (generator)", 4, 8, 7, 7, 4, 4, 4, {2, 2}, {1, 1}, {1, 1}, {0, 0}},
        {"dilation 2, output_padding 1 < dilation", 2, 2, 5, 6, 3, 3, 2, {1, 1}, {1, 0}, {2, 2}, {1, 1}},
        {"mixed stride (1,3)", 1, 2, 6, 3, 2, 2, 3, {1, 3}, {0, 1}, {1, 1}, {0, 2}},
        {"1x1", 3, 5, 6, 6, 4, 1, 1, {1, 1}, {0, 0}, {1, 1}, {0, 0}},
        {"many images", 40, 16, 5, 5, 8, 3, 3, {2, 2}, {0, 0}, {1, 1}, {0, 0}},
    };
    for (size_t i = 0; i < sizeof convts / sizeof *convts; i++)
        for (int t = 1; t <= 2; t++) convt_ops(&convts[i], t);

    static const pool_case pools[] = {
        {"2x2/2 even", 3, 4, 8, 6, {2, 2}, {2, 2}, {0, 0}, false, true},
        {"2x2/2 odd", 2, 3, 7, 9, {2, 2}, {2, 2}, {0, 0}, false, true},
        {"2x2/2 odd, ceil_mode", 2, 3, 7, 9, {2, 2}, {2, 2}, {0, 0}, true, true},
        {"1x2/(1,2) on 1 row", 2, 2, 1, 6, {1, 2}, {1, 2}, {0, 0}, false, true},
        {"3x3/2 padding 1", 2, 3, 9, 10, {3, 3}, {2, 2}, {1, 1}, false, true},
        {"3x3/2 padding 1, ceil_mode", 2, 3, 10, 9, {3, 3}, {2, 2}, {1, 1}, true, true},
        {"3x3/2 padding 1, ceil_mode, pad not counted", 2, 3, 10, 9, {3, 3}, {2, 2}, {1, 1}, true, false},
        {"3x2 stride (1,2) padding (1,0) ceil_mode", 1, 2, 6, 7, {3, 2}, {1, 2}, {1, 0}, true, false},
        {"overlapping 3x3/1", 2, 2, 6, 6, {3, 3}, {1, 1}, {0, 0}, false, true},
        {"1x1", 2, 2, 3, 4, {1, 1}, {1, 1}, {0, 0}, false, true},
        {"3x3/3 ceil_mode on 10x10", 1, 2, 10, 10, {3, 3}, {3, 3}, {0, 0}, true, true},
        {"2x2/2 seed shape", 16, 32, 26, 26, {2, 2}, {2, 2}, {0, 0}, false, true},
        {"2x2/2 wide rows, ceil_mode", 2, 3, 7, 71, {2, 2}, {2, 2}, {0, 0}, true, true},
    };
    for (size_t i = 0; i < sizeof pools / sizeof *pools; i++)
        for (int t = 1; t <= 2; t++)
            for (int inputs = 0; inputs < 3; inputs++) pool_kernels(&pools[i], t, inputs);

    static const int64_t epilogues[][3] = {{3, 6, 6}, {5, 7, 9}, {64, 26, 26}, {40, 11, 11}, {7, 1, 3}, {9, 3, 40}};
    for (size_t i = 0; i < sizeof epilogues / sizeof *epilogues; i++)
        for (int pool = 1; pool <= 2; pool++)
            for (int t = 1; t <= 2; t++) {
                if (pool == 2 && (epilogues[i][1] < 2 || epilogues[i][2] < 2)) continue;
                relu_pool_kernels(epilogues[i][0], epilogues[i][1], epilogues[i][2], pool, t);
            }

    /* pooling output sizes, PyTorch's ceil_mode rule */
    expect("pool size floor", mg_pool_out_size(7, 2, 2, 0, false) == 3, "7/2 floor");
    expect("pool size ceil", mg_pool_out_size(7, 2, 2, 0, true) == 4, "7/2 ceil");
    expect("pool size ceil, last window must start inside", mg_pool_out_size(5, 2, 2, 1, true) == 3,
           "the 4th window would start in the right padding");
    expect("pool size ceil, even", mg_pool_out_size(8, 2, 2, 0, true) == 4, "8/2 ceil");
    return failures ? 1 : 0;
}
