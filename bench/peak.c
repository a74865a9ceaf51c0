/*
 * The machine's arithmetic peak for bench/run.lua: independent chains of
 * fused multiply-adds on the widest vectors the compiler targets
 * (-march=native), one team of OpenMP threads, no memory traffic.
 *
 *   peak [MAX_THREADS]
 *
 * Prints for 1..MAX_THREADS (default 2) threads a line "fma THREADS
 * GFLOPS": each thread's multiply-adds over its own CPU time (so time the
 * scheduler gave to other processes does not count), summed over the
 * threads, best of many short runs; and a line "fma_wall THREADS GFLOPS"
 * on the wall clock. 2 FLOP per lane per multiply-add.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef float vec __attribute__((vector_size(64))); /* 16 floats */
#define LANES 16
#define CHAINS 12 /* enough independent chains to hide the FMA latency */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile float sink;

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs `iters` rounds of CHAINS multiply-adds per thread; returns the wall
 * seconds and stores each thread's CPU seconds in cpu[]. */
static double run(int threads, long iters, double *cpu) {
    double t0 = now();
#pragma omp parallel num_threads(threads)
    {
        double c0 = cpu_now();
        vec acc[CHAINS], m, c;
        for (int l = 0; l < LANES; l++) {
            m[l] = 0.999999f;
            c[l] = 1e-7f * (float)(l + 1);
        }
        for (int k = 0; k < CHAINS; k++)
            for (int l = 0; l < LANES; l++) acc[k][l] = (float)(k + l + omp_get_thread_num());
        for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
            for (int k = 0; k < CHAINS; k++) acc[k] = acc[k] * m + c;
            __asm__ volatile("" : "+x"(m)); /* keep the loop from being folded */
        }
        float s = 0;
        for (int k = 0; k < CHAINS; k++)
            for (int l = 0; l < LANES; l++) s += acc[k][l];
        cpu[omp_get_thread_num()] = cpu_now() - c0;
#pragma omp critical
        sink += s;
    }
    return now() - t0;
}

int main(int argc, char **argv) {
    int max_threads = argc > 1 ? atoi(argv[1]) : 2;
    if (max_threads < 1 || max_threads > 256) {
        fprintf(stderr, "peak: MAX_THREADS must be 1..256\n");
        return 1;
    }
    long iters = 2000000;
    double cpu[256];
    for (int t = 1; t <= max_threads; t++) {
        run(t, iters / 10, cpu); /* wake the threads and the clocks */
        double best_wall = 1e30, best_cpu[256];
        for (int k = 0; k < t; k++) best_cpu[k] = 1e30;
        for (int r = 0; r < 40; r++) { /* short runs: some miss the other load */
            double s = run(t, iters, cpu);
            if (s < best_wall) best_wall = s;
            for (int k = 0; k < t; k++)
                if (cpu[k] > 0 && cpu[k] < best_cpu[k]) best_cpu[k] = cpu[k];
        }
        double flop = 2.0 * LANES * CHAINS * (double)iters, rate = 0;
        for (int k = 0; k < t; k++) rate += flop / best_cpu[k];
        printf("fma %d %.1f\n", t, rate / 1e9);
        printf("fma_wall %d %.1f\n", t, flop * t / best_wall / 1e9);
    }
    return 0;
}
