/*
 * Threads: one setting drives everything. Debian's OpenBLAS is the pthread
 * build, whose workers spin after each call; beside OpenMP workers they
 * fight for the cores (measured: a 128x784x128 product 6x slower with an
 * OpenMP loop after it). So OpenBLAS always runs on one thread and our
 * OpenMP threads split large products among themselves, each calling the
 * single-threaded sgemm on its block of rows or columns.
 */
#define _GNU_SOURCE /* dladdr */
#include "internal.h"

#include <cblas.h>
#include <dlfcn.h>
#include <omp.h>

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

void mg_set_num_threads(int n) {
    if (n < 1) n = 1;
    if (n > 256) n = 256;
    pin_blas();
    omp_set_num_threads(n);
}

int mg_get_num_threads(void) { return omp_get_max_threads(); }
int mg_threads(void) { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

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
