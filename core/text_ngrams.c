/*
 * Hashed n-gram counts for linear text models (the TF-IDF floor): each
 * text's words (the pre-tokenizer's pieces that are not punctuation) and,
 * with ngrams = 2, its pairs of consecutive words are hashed into `buckets`
 * bins; the distinct bins of each text and their counts are returned in
 * compressed rows (CSR).
 */
#include "text_internal.h"

#include <stdlib.h>

static uint64_t fnv1a(const char *s, size_t n, uint64_t seed) {
    uint64_t h = 0xCBF29CE484222325ull ^ seed;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001B3ull;
    return h;
}

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int mg_text_ngrams(int64_t n, const char *const *texts, const size_t *lens, const mg_ngram_opts *o,
                   mg_tensor **out_ids, mg_tensor **out_counts, mg_tensor **out_offsets) {
    *out_ids = *out_counts = *out_offsets = NULL;
    int64_t *feat = NULL, *ids = NULL;
    float *counts = NULL;
    int64_t feat_cap = 0, nnz = 0, cap = 0;
    mg_pretok p = {0};
    int64_t shape[1];
    CHECK(n >= 0, "text_ngrams: %lld texts", (long long)n);
    CHECK(o->buckets >= 1 && o->buckets <= ((int64_t)1 << 40), "text_ngrams: buckets must be in 1..2^40, got %lld",
          (long long)o->buckets);
    CHECK(o->ngrams == 1 || o->ngrams == 2, "text_ngrams: ngrams must be 1 or 2, got %d", o->ngrams);
    shape[0] = n + 1;
    TRY(*out_offsets = mg_empty(MG_I64, 1, shape));
    int64_t *offs = mg_i64(*out_offsets);
    TRY_OK(mg_pretok_init(&p, "", 0, o->lowercase, 1000));
    for (int64_t i = 0; i < n; i++) {
        offs[i] = nnz;
        mg_pretok q = p;
        q.text = (const unsigned char *)texts[i];
        q.len = lens[i];
        q.pos = 0;
        q.started = false;
        int64_t nf = 0;
        uint64_t prev = 0;
        bool have_prev = false;
        while (mg_pretok_next(&q) == 1) {
            if (q.n_units == 1 && mg_text_is_punct(q.units[0])) continue;
            uint64_t h = fnv1a(q.bytes, q.nbytes, 0);
            if (nf + 2 > feat_cap) {
                feat_cap = feat_cap ? feat_cap * 2 : 4096;
                int64_t *f = realloc(feat, (size_t)feat_cap * sizeof *f);
                CHECK(f, "text_ngrams: out of memory");
                feat = f;
            }
            feat[nf++] = (int64_t)(mix(h) % (uint64_t)o->buckets);
            if (o->ngrams == 2 && have_prev)
                feat[nf++] = (int64_t)(mix(prev * 0x9E3779B97F4A7C15ull + h + 1) % (uint64_t)o->buckets);
            prev = h;
            have_prev = true;
        }
        qsort(feat, (size_t)nf, sizeof *feat, cmp_i64);
        for (int64_t k = 0; k < nf; k++) {
            if (k > 0 && feat[k] == feat[k - 1]) {
                counts[nnz - 1] += 1.0f;
                continue;
            }
            if (nnz == cap) {
                cap = cap ? cap * 2 : 1 << 16;
                int64_t *a = realloc(ids, (size_t)cap * sizeof *a);
                if (a) ids = a;
                float *c = realloc(counts, (size_t)cap * sizeof *c);
                if (c) counts = c;
                CHECK(a && c, "text_ngrams: out of memory for %lld features", (long long)cap);
            }
            ids[nnz] = feat[k];
            counts[nnz++] = 1.0f;
        }
    }
    offs[n] = nnz;
    shape[0] = nnz;
    TRY(*out_ids = mg_from_data(MG_I64, 1, shape, ids ? ids : (int64_t[]){0}));
    TRY(*out_counts = mg_from_data(MG_F32, 1, shape, counts ? counts : (float[]){0}));
    mg_pretok_free(&p);
    free(feat);
    free(ids);
    free(counts);
    return MG_OK;
fail:
    mg_pretok_free(&p);
    free(feat);
    free(ids);
    free(counts);
    mg_release(*out_ids);
    mg_release(*out_counts);
    mg_release(*out_offsets);
    *out_ids = *out_counts = *out_offsets = NULL;
    return MG_ERR;
}
