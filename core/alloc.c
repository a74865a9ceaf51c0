/*
 * Storage allocation with a reuse cache.
 *
 * A training step frees and allocates the same buffer sizes every step.
 * glibc hands large blocks back to the kernel on free and faults them in
 * again on the next malloc, which costs as much system time as the math.
 * So freed blocks go to per-size-class free lists and are reused. Size
 * classes are four per power of two (at most 25% slack). The cache is
 * bounded (MG_CACHE_LIMIT_MB, default 2048); mg_empty_cache() empties it.
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define N_CLASSES 256
#define ALIGN 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *free_list[N_CLASSES]; /* next pointer stored in the block */
static size_t live_bytes, cached_bytes, cache_limit, allocated_total, peak_live;

/* Rounds n up to its class size; returns the class index (-1: uncached). */
static int size_class(size_t n, size_t *rounded) {
    if (n <= 256) {
        size_t r = (n + ALIGN - 1) / ALIGN * ALIGN;
        if (r == 0) r = ALIGN;
        *rounded = r;
        return (int)(r / ALIGN) - 1; /* 0..3 */
    }
    /* 2^p < n <= 2^(p+1), p >= 8; the octave is split in 4 steps of 2^(p-2) */
    int p = 63 - __builtin_clzll((unsigned long long)(n - 1));
    size_t step = (size_t)1 << (p - 2);
    size_t r = (n + step - 1) / step * step; /* 5, 6, 7 or 8 steps */
    *rounded = r;
    int idx = 4 + (p - 8) * 4 + (int)(r / step) - 5;
    return idx < N_CLASSES ? idx : -1;
}

static size_t limit(void) {
#if defined(__SANITIZE_ADDRESS__)
    return 0; /* AddressSanitizer must see every free to catch use after free */
#endif
    if (!cache_limit) {
        const char *s = getenv("MG_CACHE_LIMIT_MB");
        long mb = s ? atol(s) : 2048;
        cache_limit = (size_t)(mb < 0 ? 0 : mb) * 1024 * 1024 + 1;
    }
    return cache_limit - 1;
}

void *mg_alloc(size_t nbytes, size_t *got) {
    size_t rounded;
    int c = size_class(nbytes, &rounded);
    void *p = NULL;
    pthread_mutex_lock(&lock);
    if (c >= 0 && free_list[c]) {
        p = free_list[c];
        free_list[c] = *(void **)p;
        cached_bytes -= rounded;
    }
    if (p) live_bytes += rounded;
    allocated_total += rounded;
    if (live_bytes > peak_live) peak_live = live_bytes;
    pthread_mutex_unlock(&lock);
    if (!p) {
        p = aligned_alloc(ALIGN, rounded);
        if (!p) return NULL;
        pthread_mutex_lock(&lock);
        live_bytes += rounded;
        if (live_bytes > peak_live) peak_live = live_bytes;
        pthread_mutex_unlock(&lock);
    }
    *got = rounded;
    return p;
}

void mg_free(void *p, size_t got) {
    if (!p) return;
    size_t rounded;
    int c = size_class(got, &rounded);
    pthread_mutex_lock(&lock);
    live_bytes -= got;
    if (c >= 0 && rounded == got && cached_bytes + got <= limit()) {
        *(void **)p = free_list[c];
        free_list[c] = p;
        cached_bytes += got;
        p = NULL;
    }
    pthread_mutex_unlock(&lock);
    free(p);
}

void mg_empty_cache(void) {
    pthread_mutex_lock(&lock);
    for (int c = 0; c < N_CLASSES; c++) {
        while (free_list[c]) {
            void *p = free_list[c];
            free_list[c] = *(void **)p;
            free(p);
        }
    }
    cached_bytes = 0;
    pthread_mutex_unlock(&lock);
}

size_t mg_live_bytes(void) { return live_bytes; }
size_t mg_allocated_bytes(void) { return allocated_total; }
size_t mg_peak_live_bytes(bool reset) {
    size_t p = peak_live;
    if (reset) peak_live = live_bytes;
    return p;
}
size_t mg_cached_bytes(void) { return cached_bytes; }

static size_t physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : (size_t)1 << 40;
}

mg_storage *mg_storage_new(size_t nbytes) {
    mg_threads_tick();
    static size_t phys;
    if (!phys) phys = physical_memory();
    if (nbytes > phys) {
        mg_error("cannot allocate %.1f GB: more than this machine's memory (%.1f GB)",
                 (double)nbytes / 1e9, (double)phys / 1e9);
        return NULL;
    }
    mg_storage *s = malloc(sizeof *s);
    if (!s) {
        mg_error("out of memory");
        return NULL;
    }
    size_t got;
    s->data = mg_alloc(nbytes, &got);
    if (!s->data) {
        free(s);
        mg_error("cannot allocate %.1f MB", (double)nbytes / 1e6);
        return NULL;
    }
    s->nbytes = got;
    s->refcount = 1;
    s->version = 0;
    return s;
}

void mg_storage_release(mg_storage *s) {
    if (!s || --s->refcount > 0) return;
    mg_free(s->data, s->nbytes);
    free(s);
}
