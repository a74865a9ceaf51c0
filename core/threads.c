/*
 * Threads: one setting drives everything. Debian's OpenBLAS is the pthread
 * build, whose workers spin after each call; beside OpenMP workers they
 * fight for the cores (measured: a 128x784x128 product 6x slower with an
 * OpenMP loop after it). So OpenBLAS always runs on one thread and our
 * OpenMP threads split large products among themselves, each calling the
 * single-threaded sgemm on its block of rows or columns.
 *
 * The thread count follows the load of the machine: every 100 ms (checked
 * when tensors are made and kernels plan their work) the cores that other
 * processes kept busy are measured from /proc/stat less this process's own
 * CPU time, and the kernels use at most the cores left, never more than
 * asked for. A kernel split evenly over two threads while another process
 * holds one of two cores waits at every join for the thread that shares a
 * core (measured: an autoencoder step 2.8 times slower at 2 threads than
 * at 1); on the core left it runs as fast as at 1 thread. Off with
 * MG_THREAD_ADAPT=0 in the environment or mg_set_thread_adapt(false), for
 * runs that must use exactly the threads asked for (sums split across
 * threads round differently at another count).
 */
#define _GNU_SOURCE /* dladdr */
#include "internal.h"

#include <cblas.h>
#include <dlfcn.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

void openblas_set_num_threads(int n);

/* Built into a shared Lua module, the core is unloaded by lua_close() at
 * exit (dlclose) while OpenMP workers may still spin in libgomp, whose code
 * then vanishes under them: a segfault after the script's last line. A
 * reference that is never dropped, with RTLD_NODELETE, keeps this object
 * (and so libgomp) mapped until the process ends. */
__attribute__((constructor)) static void keep_loaded(void) {
    Dl_info info;
    if (dladdr((void *)keep_loaded, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
}

static int blas_pinned;

static void pin_blas(void) {
    if (!blas_pinned) {
        openblas_set_num_threads(1);
        blas_pinned = 1;
    }
}

/* ---- the thread count and the load -------------------------------------------------- */

static int requested;      /* threads asked for (0: OpenMP's default, read on first use) */
static int adapt = -1;     /* -1: not read from the environment yet */
static double next_check;  /* monotonic seconds */
static double last_time, last_self, others_avg;
static unsigned long long last_busy;
static int ncores;

int mg_thread_policy(int want, int cores, double others) {
    /* a core counts as taken from about 0.6 of it busy: below, sharing
     * it costs less than leaving it idle */
    int taken = (int)(others + 0.4);
    int left = cores - (taken > 0 ? taken : 0);
    if (left < 1) left = 1;
    return want < left ? want : left;
}

static double seconds(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* From /proc/stat: busy ticks of all cores together (user, nice, system,
 * irq, softirq and steal: time a virtual machine's host gave to others)
 * and the threads runnable right now; false if unknown. */
static bool read_stat(unsigned long long *busy, int *running) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return false;
    unsigned long long v[8] = {0};
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                     &v[6], &v[7]);
    char line[256];
    *running = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "procs_running %d", running) == 1) break;
    fclose(f);
    *busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return got == 8 && *running >= 0;
}

static void init_threads(void) {
    if (!requested) requested = omp_get_max_threads();
    if (adapt < 0) {
        const char *e = getenv("MG_THREAD_ADAPT");
        adapt = !(e && e[0] == '0');
    }
    if (!ncores) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        ncores = n > 0 ? (int)n : 1;
    }
}

/* Every 100 ms, outside parallel regions: measure the others' load and set
 * the OpenMP team size. */
static void tick(void) {
    if (omp_in_parallel()) return;
    init_threads();
    if (!adapt || requested < 2) return;
    double now = seconds(CLOCK_MONOTONIC_COARSE);
    if (now < next_check) return;
    next_check = now + 0.1;
    static long hz;
    if (!hz) hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
    unsigned long long busy;
    int running;
    if (!read_stat(&busy, &running)) {
        adapt = 0; /* no /proc/stat: keep the count asked for */
        return;
    }
    double self = seconds(CLOCK_PROCESS_CPUTIME_ID);
    if (!last_busy) {
        /* the first look: the threads runnable now besides this one, so a
         * short run on a busy machine does not start with a wasted split */
        others_avg = running > 1 ? running - 1 : 0;
    } else if (now > last_time) {
        double others = ((double)(busy - last_busy) / (double)hz - (self - last_self)) / (now - last_time);
        if (others < 0) others = 0;
        others_avg = 0.5 * others_avg + 0.5 * others;
    }
    int n = mg_thread_policy(requested, ncores, others_avg);
    if (n != omp_get_max_threads()) omp_set_num_threads(n);
    last_busy = busy, last_self = self, last_time = now;
}

void mg_threads_tick(void) { tick(); }

void mg_set_num_threads(int n) {
    if (n < 1) n = 1;
    if (n > 256) n = 256;
    pin_blas();
    init_threads();
    requested = n;
    omp_set_num_threads(n);
    next_check = 0; /* look at the load again at the next check point */
}

void mg_set_thread_adapt(bool on) {
    init_threads();
    adapt = on;
    if (!on) omp_set_num_threads(requested);
}

int mg_get_num_threads(void) {
    init_threads();
    return requested;
}

int mg_active_threads(void) { return omp_get_max_threads(); }

int mg_threads(void) {
    if (omp_in_parallel()) return 1;
    tick();
    return omp_get_max_threads();
}

void mg_sgemm_serial(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta * C */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0 ? 0 : beta * C[i * ldc + j];
        return;
    }
    pin_blas();
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M,
                (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

void mg_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    int nt = mg_threads();
    double work = (double)M * (double)N * (double)K;
    if (nt <= 1 || work < 1 << 18 || (M < 32 && N < 32)) {
        mg_sgemm_serial(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    bool split_cols = N >= M;
    int64_t len = split_cols ? N : M;
    if (nt > len / 16) nt = (int)(len / 16 > 0 ? len / 16 : 1);
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        /* block edges on multiples of 16 floats keep rows cache-line aligned */
        int64_t lo = (len * t / n) & ~(int64_t)15, hi = t == n - 1 ? len : (len * (t + 1) / n) & ~(int64_t)15;
        if (hi > lo) {
            if (split_cols) {
                const float *Bp = tb ? B + lo * ldb : B + lo;
                mg_sgemm_serial(ta, tb, M, hi - lo, K, alpha, A, lda, Bp, ldb, beta, C + lo, ldc);
            } else {
                const float *Ap = ta ? A + lo : A + lo * lda;
                mg_sgemm_serial(ta, tb, hi - lo, N, K, alpha, Ap, lda, B, ldb, beta, C + lo * ldc, ldc);
            }
        }
    }
}
