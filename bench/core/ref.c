/*
 * Reference figures for bench/core/run.lua, measured without moongrad:
 * raw cblas_sgemm (OpenBLAS with its own threads) on square matrices, and
 * memory bandwidth of stream-like loops (copy, add, relu) over arrays far
 * larger than the caches, split across OpenMP threads.
 *
 *   core_ref [N [MB]]   N: matrix size (1024), MB: array size (64)
 *
 * Prints one "name threads value" line per figure: sgemm in GFLOP/s, the
 * loops in GB/s (bytes read plus bytes written).
 */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int n);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static float *buffer(size_t n) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "core_ref: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    return p;
}

/* Best time of `reps` runs of `calls` products each, as GFLOP/s. */
static double sgemm_gflops(int n, int threads) {
    openblas_set_num_threads(threads);
    float *a = buffer((size_t)n * n), *b = buffer((size_t)n * n), *c = buffer((size_t)n * n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double flop = 2.0 * n * n * n, best = 1e30;
    int calls = flop > 1e10 ? 1 : (int)(1e10 / flop);
    for (int r = 0; r < 7; r++) {
        double t0 = now();
        for (int k = 0; k < calls; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = (now() - t0) / calls;
        if (t < best) best = t;
    }
    free(a), free(b), free(c);
    return flop / best / 1e9;
}

/* out = inp */
static void copy_loop(float *out, const float *inp, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = inp[i];
}

/* out = a + b */
static void add_loop(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* out = max(inp, 0) */
static void relu_loop(float *out, const float *inp, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0 ? inp[i] : 0;
}

static void bandwidth(size_t mb, int threads) {
    size_t n = mb * 1024 * 1024 / sizeof(float);
    float *a = buffer(n), *b = buffer(n), *c = buffer(n);
    omp_set_num_threads(threads);
    const char *names[] = {"copy", "add", "relu"};
    double bytes[] = {2.0 * n * 4, 3.0 * n * 4, 2.0 * n * 4};
    for (int k = 0; k < 3; k++) {
        double best = 1e30;
        for (int r = 0; r < 7; r++) {
            double t0 = now();
            if (k == 0) copy_loop(c, a, n);
            else if (k == 1) add_loop(c, a, b, n);
            else relu_loop(c, a, n);
            double t = now() - t0;
            if (t < best) best = t;
        }
        printf("%s %d %.2f\n", names[k], threads, bytes[k] / best / 1e9);
    }
    free(a), free(b), free(c);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1024;
    size_t mb = argc > 2 ? (size_t)atoi(argv[2]) : 64;
    int cores = omp_get_num_procs();
    for (int t = 1; t <= (cores < 2 ? cores : 2); t++) {
        printf("sgemm %d %.2f\n", t, sgemm_gflops(n, t));
        fflush(stdout);
    }
    openblas_set_num_threads(1);
    for (int t = 1; t <= (cores < 2 ? cores : 2); t++) bandwidth(mb, t);
    return 0;
}
