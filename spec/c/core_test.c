/*
 * Core internals that the Lua specs cannot see: allocator size classes and
 * the reuse cache, the op table, and the dimension coalescing of strided
 * iteration. Prints "ok NAME" or "not ok NAME: message" per check; exits
 * non-zero if any failed.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int failures;

static void expect(const char *name, bool cond, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void expect(const char *name, bool cond, const char *fmt, ...) {
    if (cond) {
        printf("ok %s\n", name);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    printf("not ok %s: ", name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    failures++;
}

/* ---- allocator ----------------------------------------------------------------- */

static void test_size_classes(void) {
    static const size_t sizes[] = {1, 4, 63, 64, 65, 200, 256, 257, 300, 511, 512, 513, 1000,
                                   4096, 4097, 65535, 1 << 20, (1 << 20) + 1, 3000000, 12345678};
    bool ok = true;
    char msg[200] = "";
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0] && ok; k++) {
        size_t n = sizes[k], got = 0;
        void *p = mg_alloc(n, &got);
        if (!p) {
            snprintf(msg, sizeof msg, "mg_alloc(%zu) returned NULL", n);
            ok = false;
            break;
        }
        /* at least n, a multiple of 64, aligned, and at most 25% slack past 256 bytes */
        if (got < n || got % 64 || (uintptr_t)p % 64 || (n > 256 && got > n + n / 4 + 64) || (n <= 256 && got > 256)) {
            snprintf(msg, sizeof msg, "mg_alloc(%zu) gave %zu bytes at %p", n, got, p);
            ok = false;
        }
        memset(p, 0xab, got); /* the whole block is usable */
        mg_free(p, got);
    }
    expect("allocator size classes: enough, aligned, at most 25% slack", ok, "%s", msg);
}

static void test_live_bytes(void) {
    size_t before = mg_live_bytes(), got;
    void *p = mg_alloc(100000, &got);
    size_t during = mg_live_bytes();
    mg_free(p, got);
    size_t after = mg_live_bytes();
    expect("allocator counts live bytes", during == before + got && after == before,
           "before %zu, during %zu (block %zu), after %zu", before, during, got, after);
}

static void test_reuse(void) {
#if defined(__SANITIZE_ADDRESS__)
    printf("ok allocator reuses a freed block of the same class (skipped: the sanitizer build has no cache)\n");
#else
    size_t got1, got2;
    void *p = mg_alloc(777777, &got1);
    mg_free(p, got1);
    size_t cached = mg_cached_bytes();
    void *q = mg_alloc(760000, &got2); /* same size class */
    expect("allocator reuses a freed block of the same class", q == p && got1 == got2 && cached >= got1,
           "first %p (%zu bytes), then %p (%zu bytes), cached %zu", p, got1, q, got2, cached);
    mg_free(q, got2);
    mg_empty_cache();
    expect("empty_cache releases the cache", mg_cached_bytes() == 0, "%zu bytes still cached", mg_cached_bytes());
#endif
}

/* ---- op table ----------------------------------------------------------------------- */

static void test_op_table(void) {
    int n = mg_op_count();
    bool ok = n > 0 && mg_op_name(n) == NULL && mg_op_name(-1) == NULL;
    char msg[200] = "";
    if (!ok) snprintf(msg, sizeof msg, "%d ops; names out of range must be NULL", n);
    for (int i = 0; i < n && ok; i++) {
        const char *a = mg_op_name(i);
        if (!a || !a[0]) {
            snprintf(msg, sizeof msg, "op %d has no name", i);
            ok = false;
        }
        for (int j = 0; j < i && ok; j++)
            if (!strcmp(a, mg_op_name(j))) {
                snprintf(msg, sizeof msg, "ops %d and %d are both named %s", j, i, a);
                ok = false;
            }
    }
    expect("op table: every op named once", ok, "%s", msg);
}

/* ---- strided iteration --------------------------------------------------------------- */

/* Coalesces one operand of shape/strides; checks the resulting dims. */
static void coalesce(const char *name, int ndim, const int64_t *shape, const int64_t *stride, int want_ndim,
                     const int64_t *want_shape, const int64_t *want_stride) {
    int64_t strides[4][MG_MAX_DIMS];
    memcpy(strides[0], stride, sizeof(int64_t) * (size_t)(ndim ? ndim : 1));
    memcpy(strides[1], stride, sizeof(int64_t) * (size_t)(ndim ? ndim : 1));
    mg_iter it;
    mg_iter_init(&it, 2, ndim, shape, strides);
    bool ok = it.ndim == want_ndim;
    for (int d = 0; ok && d < want_ndim; d++)
        ok = it.shape[d] == want_shape[d] && it.stride[0][d] == want_stride[d] && it.stride[1][d] == want_stride[d];
    int64_t outer = 1;
    for (int d = 0; d < want_ndim - 1; d++) outer *= want_shape[d];
    ok = ok && it.inner == want_shape[want_ndim - 1] && it.outer == outer;
    char got[200];
    int w = snprintf(got, sizeof got, "got %d dims:", it.ndim);
    for (int d = 0; d < it.ndim && w < (int)sizeof got - 40; d++)
        w += snprintf(got + w, sizeof got - (size_t)w, " %lld/%lld", (long long)it.shape[d], (long long)it.stride[0][d]);
    expect(name, ok, "%s", got);
}

static void test_iteration(void) {
    {
        int64_t s[] = {2, 3, 4}, st[] = {12, 4, 1}, ws[] = {24}, wst[] = {1};
        coalesce("iteration: a contiguous tensor is one run", 3, s, st, 1, ws, wst);
    }
    {
        int64_t s[] = {4, 3}, st[] = {1, 4}, ws[] = {4, 3}, wst[] = {1, 4};
        coalesce("iteration: a transposed matrix keeps two dims", 2, s, st, 2, ws, wst);
    }
    {
        int64_t s[] = {2, 1, 3, 1, 4}, st[] = {12, 99, 4, 7, 1}, ws[] = {24}, wst[] = {1};
        coalesce("iteration: size-1 dims are dropped", 5, s, st, 1, ws, wst);
    }
    {
        int64_t s[] = {5, 3, 4}, st[] = {0, 4, 1}, ws[] = {5, 12}, wst[] = {0, 1};
        coalesce("iteration: a broadcast dim stays apart", 3, s, st, 2, ws, wst);
    }
    {
        int64_t s[] = {3, 2, 5}, st[] = {20, 5, 1}, ws[] = {3, 10}, wst[] = {20, 1};
        coalesce("iteration: a narrowed tensor merges its inner dims", 3, s, st, 2, ws, wst);
    }
    {
        int64_t s[] = {3, 0, 2}, st[] = {2, 2, 1}, ws[] = {0}, wst[] = {1};
        coalesce("iteration: an empty tensor is one empty run", 3, s, st, 1, ws, wst);
    }
    {
        int64_t s[] = {1}, st[] = {1}, ws[] = {1}, wst[] = {1};
        coalesce("iteration: a 0-dim tensor is one element", 0, s, st, 1, ws, wst);
    }
    {
        int64_t s[] = {2, 3, 4};
        int64_t strides[4][MG_MAX_DIMS] = {{12, 4, 1}, {1, 2, 6}}; /* second operand is permuted */
        mg_iter it;
        mg_iter_init(&it, 2, 3, s, strides);
        int64_t offs[2];
        mg_iter_offsets(&it, it.outer - 1, offs);
        expect("iteration: operands with different layouts are not merged", it.ndim == 3 && it.inner == 4 &&
               offs[0] == 20 && offs[1] == 1 + 2 * 2, "%d dims, inner %lld, last row at %lld/%lld",
               it.ndim, (long long)it.inner, (long long)offs[0], (long long)offs[1]);
    }
}

/* ---- the thread count under load ----------------------------------------------------- */

static void test_thread_policy(void) {
    static const struct {
        int want, cores;
        double others;
        int expect;
    } cases[] = {
        {2, 2, 0.0, 2},  /* a quiet machine: as asked */
        {2, 2, 0.5, 2},  /* half a core busy: sharing it costs less than leaving it */
        {2, 2, 0.7, 1},  /* one core taken: the one left */
        {2, 2, 1.0, 1},  {2, 2, 3.5, 1}, /* never below one */
        {4, 2, 0.0, 2},  /* never more threads than cores */
        {1, 8, 0.0, 1},  {8, 8, 2.2, 6}, {8, 16, 2.2, 8}, {3, 4, 1.6, 2},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int got = mg_thread_policy(cases[k].want, cases[k].cores, cases[k].others);
        char name[120];
        snprintf(name, sizeof name, "thread policy: %d asked on %d cores, %.1f busy", cases[k].want, cases[k].cores,
                 cases[k].others);
        expect(name, got == cases[k].expect, "got %d, expected %d", got, cases[k].expect);
    }
    /* with adaptation off the count asked for is the count in use */
    mg_set_thread_adapt(false);
    mg_set_num_threads(2);
    for (int i = 0; i < 3; i++) mg_release(mg_zeros(MG_F32, 1, (int64_t[]){1000}));
    expect("thread count fixed without adaptation", mg_get_num_threads() == 2 && mg_active_threads() == 2,
           "asked %d, in use %d", mg_get_num_threads(), mg_active_threads());
}

int main(void) {
    test_thread_policy();
    test_size_classes();
    test_live_bytes();
    test_reuse();
    test_op_table();
    test_iteration();
    return failures ? 1 : 0;
}
