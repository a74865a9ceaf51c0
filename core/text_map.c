/*
 * Hash maps of the text code: uint64 -> uint64 (pairs of token ids,
 * characters) and byte string -> int64 (vocabulary, word counts, the
 * encoding cache). Open addressing with linear probing, grown at half load.
 */
#include "text_internal.h"

#include <stdlib.h>

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* FNV-1a, then mixed; never 0 (0 marks an empty slot). */
static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001B3ull;
    h = mix64(h ^ n);
    return h ? h : 1;
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

/* ---- uint64 -> uint64 ---------------------------------------------------------- */

int mg_u64map_init(mg_u64map *m, size_t expect) {
    m->cap = pow2_at_least(expect * 2);
    m->n = 0;
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->vals = malloc(m->cap * sizeof *m->vals);
    if (!m->keys || !m->vals) {
        mg_u64map_free(m);
        return mg_error("text: out of memory for a map of %zu entries", expect);
    }
    return MG_OK;
}

void mg_u64map_free(mg_u64map *m) {
    free(m->keys);
    free(m->vals);
    m->keys = m->vals = NULL;
    m->cap = m->n = 0;
}

uint64_t *mg_u64map_get(const mg_u64map *m, uint64_t key) {
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == 0) return NULL;
        if (m->keys[i] == key + 1) return &m->vals[i];
    }
}

static int u64_grow(mg_u64map *m) {
    mg_u64map bigger;
    if (mg_u64map_init(&bigger, m->cap)) return MG_ERR;
    size_t mask = bigger.cap - 1;
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->keys[j]) continue;
        size_t i = mix64(m->keys[j] - 1) & mask;
        while (bigger.keys[i]) i = (i + 1) & mask;
        bigger.keys[i] = m->keys[j];
        bigger.vals[i] = m->vals[j];
    }
    bigger.n = m->n;
    mg_u64map_free(m);
    *m = bigger;
    return MG_OK;
}

uint64_t *mg_u64map_upsert(mg_u64map *m, uint64_t key, uint64_t def, bool *added) {
    if ((m->n + 1) * 2 > m->cap && u64_grow(m)) return NULL;
    size_t mask = m->cap - 1;
    size_t i = mix64(key) & mask;
    for (; m->keys[i]; i = (i + 1) & mask) {
        if (m->keys[i] == key + 1) {
            if (added) *added = false;
            return &m->vals[i];
        }
    }
    m->keys[i] = key + 1;
    m->vals[i] = def;
    m->n++;
    if (added) *added = true;
    return &m->vals[i];
}

/* ---- byte string -> int64 --------------------------------------------------------- */

static int str_alloc(mg_strmap *m, size_t cap) {
    m->cap = cap;
    m->n = 0;
    m->hash = calloc(cap, sizeof *m->hash);
    m->klen = malloc(cap * sizeof *m->klen);
    m->koff = malloc(cap * sizeof *m->koff);
    m->vals = malloc(cap * sizeof *m->vals);
    if (!m->hash || !m->klen || !m->koff || !m->vals)
        return mg_error("text: out of memory for a map of %zu entries", cap / 2);
    return MG_OK;
}

int mg_strmap_init(mg_strmap *m, size_t expect) {
    memset(m, 0, sizeof *m);
    if (str_alloc(m, pow2_at_least(expect * 2))) {
        mg_strmap_free(m);
        return MG_ERR;
    }
    return MG_OK;
}

void mg_strmap_free(mg_strmap *m) {
    free(m->hash);
    free(m->klen);
    free(m->koff);
    free(m->vals);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

void mg_strmap_clear(mg_strmap *m) {
    if (m->hash) memset(m->hash, 0, m->cap * sizeof *m->hash);
    m->n = 0;
    m->arena_len = 0;
}

static size_t str_find(const mg_strmap *m, uint64_t h, const char *s, size_t n, bool *found) {
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    for (; m->hash[i]; i = (i + 1) & mask) {
        if (m->hash[i] == h && m->klen[i] == n && memcmp(m->arena + m->koff[i], s, n) == 0) {
            *found = true;
            return i;
        }
    }
    *found = false;
    return i;
}

int64_t *mg_strmap_get(const mg_strmap *m, const char *s, size_t n) {
    if (!m->cap) return NULL;
    bool found;
    size_t i = str_find(m, hash_bytes(s, n), s, n, &found);
    return found ? &m->vals[i] : NULL;
}

static int str_grow(mg_strmap *m) {
    mg_strmap bigger = *m;
    if (str_alloc(&bigger, m->cap * 2)) {
        free(bigger.hash);
        free(bigger.klen);
        free(bigger.koff);
        free(bigger.vals);
        return MG_ERR;
    }
    size_t mask = bigger.cap - 1;
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->hash[j]) continue;
        size_t i = m->hash[j] & mask;
        while (bigger.hash[i]) i = (i + 1) & mask;
        bigger.hash[i] = m->hash[j];
        bigger.klen[i] = m->klen[j];
        bigger.koff[i] = m->koff[j];
        bigger.vals[i] = m->vals[j];
    }
    bigger.n = m->n;
    free(m->hash);
    free(m->klen);
    free(m->koff);
    free(m->vals);
    *m = bigger;
    return MG_OK;
}

int64_t *mg_strmap_upsert(mg_strmap *m, const char *s, size_t n, int64_t def, bool *added) {
    if (n > UINT32_MAX) {
        mg_error("text: a key of %zu bytes is too long", n);
        return NULL;
    }
    if ((m->n + 1) * 2 > m->cap && str_grow(m)) return NULL;
    uint64_t h = hash_bytes(s, n);
    bool found;
    size_t i = str_find(m, h, s, n, &found);
    if (added) *added = !found;
    if (found) return &m->vals[i];
    if (m->arena_len + n + 1 > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 4096;
        while (cap < m->arena_len + n + 1) cap *= 2;
        char *a = realloc(m->arena, cap);
        if (!a) {
            mg_error("text: out of memory for %zu bytes of keys", cap);
            return NULL;
        }
        m->arena = a;
        m->arena_cap = cap;
    }
    memcpy(m->arena + m->arena_len, s, n);
    m->arena[m->arena_len + n] = '\0';
    m->hash[i] = h;
    m->klen[i] = (uint32_t)n;
    m->koff[i] = m->arena_len;
    m->vals[i] = def;
    m->arena_len += n + 1;
    m->n++;
    return &m->vals[i];
}
