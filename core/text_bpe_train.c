/*
 * BPE training: count the pieces of the texts (pre-tokenized as for
 * encoding), pick the alphabet (printable ASCII always, then the most
 * frequent characters), then repeatedly merge the most frequent adjacent
 * pair of tokens inside the pieces until the vocabulary is full or no pair
 * is seen min_frequency times. Pair counts are updated only in the pieces
 * that hold the merged pair (an index from pair to pieces), and a max-heap
 * with lazy deletion finds the next pair, so training is one pass over
 * the pieces plus work proportional to the merges' occurrences.
 */
#include "text_internal.h"

#include <stdlib.h>

typedef struct {
    int64_t count;
    int32_t off, len; /* symbols in the pool */
} word;

typedef struct {
    int32_t *w;
    int32_t n, cap;
} occ_list;

typedef struct {
    int64_t count;
    uint64_t key;
} heap_item;

typedef struct {
    mg_tokenizer *t;
    word *words;
    int64_t n_words;
    int32_t *pool;
    mg_u64map pair_index; /* pair key -> index */
    int64_t *pcount;
    uint64_t *pkey;
    uint8_t *seen; /* marks pairs already listed as touched by the current merge */
    occ_list *occ;
    int64_t n_pairs, pairs_cap;
    int64_t *touched; /* pairs holding the newest token: pushed on the heap after the merge */
    int64_t n_touched, touched_cap;
    heap_item *heap;
    int64_t heap_n, heap_cap;
} trainer;

static bool heap_before(heap_item a, heap_item b) {
    return a.count > b.count || (a.count == b.count && a.key < b.key);
}

static int heap_push(trainer *tr, int64_t count, uint64_t key) {
    if (tr->heap_n == tr->heap_cap) {
        int64_t cap = tr->heap_cap ? tr->heap_cap * 2 : 1 << 16;
        heap_item *h = realloc(tr->heap, (size_t)cap * sizeof *h);
        if (!h) return mg_error("bpe_train: out of memory for the pair heap");
        tr->heap = h;
        tr->heap_cap = cap;
    }
    int64_t i = tr->heap_n++;
    heap_item it = {count, key};
    while (i > 0) {
        int64_t parent = (i - 1) / 2;
        if (!heap_before(it, tr->heap[parent])) break;
        tr->heap[i] = tr->heap[parent];
        i = parent;
    }
    tr->heap[i] = it;
    return MG_OK;
}

static heap_item heap_pop(trainer *tr) {
    heap_item top = tr->heap[0], last = tr->heap[--tr->heap_n];
    int64_t i = 0, n = tr->heap_n;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_before(tr->heap[c + 1], tr->heap[c])) c++;
        if (!heap_before(tr->heap[c], last)) break;
        tr->heap[i] = tr->heap[c];
        i = c;
    }
    if (n > 0) tr->heap[i] = last;
    return top;
}

/* The index of a pair, added with count 0 when new. */
static int64_t pair_of(trainer *tr, int32_t a, int32_t b) {
    uint64_t key = (uint64_t)a << 32 | (uint32_t)b;
    bool added;
    uint64_t *v = mg_u64map_upsert(&tr->pair_index, key, (uint64_t)tr->n_pairs, &added);
    if (!v) return -1;
    if (!added) return (int64_t)*v;
    if (tr->n_pairs == tr->pairs_cap) {
        int64_t cap = tr->pairs_cap ? tr->pairs_cap * 2 : 1 << 16;
        int64_t *c = realloc(tr->pcount, (size_t)cap * sizeof *c);
        if (c) tr->pcount = c;
        uint64_t *k = realloc(tr->pkey, (size_t)cap * sizeof *k);
        if (k) tr->pkey = k;
        uint8_t *sn = realloc(tr->seen, (size_t)cap);
        if (sn) tr->seen = sn;
        occ_list *o = realloc(tr->occ, (size_t)cap * sizeof *o);
        if (o) tr->occ = o;
        if (!c || !k || !sn || !o) {
            mg_error("bpe_train: out of memory for %lld pairs", (long long)cap);
            return -1;
        }
        tr->pairs_cap = cap;
    }
    tr->pcount[tr->n_pairs] = 0;
    tr->pkey[tr->n_pairs] = key;
    tr->seen[tr->n_pairs] = 0;
    tr->occ[tr->n_pairs] = (occ_list){NULL, 0, 0};
    return tr->n_pairs++;
}

static int occ_add(occ_list *o, int32_t w) {
    if (o->n > 0 && o->w[o->n - 1] == w) return MG_OK;
    if (o->n == o->cap) {
        int32_t cap = o->cap ? o->cap * 2 : 4;
        int32_t *p = realloc(o->w, (size_t)cap * sizeof *p);
        if (!p) return mg_error("bpe_train: out of memory");
        o->w = p;
        o->cap = cap;
    }
    o->w[o->n++] = w;
    return MG_OK;
}

static bool mergeable(const mg_tokenizer *t, int32_t id) { return t->kind[id] != MG_TOK_BYTE; }

/* Fills p with the units of a counted piece (key: flag byte + bytes). */
static void piece_of_key(mg_pretok *p, const char *key, size_t n) {
    p->attached = key[0] == 'a';
    p->n_units = 0;
    p->nbytes = n - 1;
    memcpy(p->bytes, key + 1, n - 1);
    size_t pos = 0;
    while (pos < p->nbytes) {
        p->offs[p->n_units] = (uint32_t)pos;
        p->units[p->n_units++] = mg_utf8_unit((const unsigned char *)p->bytes, p->nbytes, &pos);
    }
    p->offs[p->n_units] = (uint32_t)pos;
}

typedef struct {
    int32_t unit;
    int64_t count;
} char_count;

static int by_count(const void *x, const void *y) {
    const char_count *a = x, *b = y;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return a->unit < b->unit ? -1 : a->unit > b->unit;
}

static void trainer_free(trainer *tr) {
    free(tr->words);
    free(tr->pool);
    mg_u64map_free(&tr->pair_index);
    for (int64_t i = 0; i < tr->n_pairs; i++) free(tr->occ[i].w);
    free(tr->occ);
    free(tr->pcount);
    free(tr->pkey);
    free(tr->seen);
    free(tr->heap);
    free(tr->touched);
}

/* Merges the pair (a, b) into m in every word that holds it. */
static int apply_merge(trainer *tr, int64_t pair, int32_t a, int32_t b, int32_t m, int32_t *stamp_w, int32_t stamp) {
    mg_tokenizer *t = tr->t;
    int32_t *list = tr->occ[pair].w, n_list = tr->occ[pair].n;
    for (int32_t k = 0; k < n_list; k++) {
        int32_t w = list[k];
        if (stamp_w[w] == stamp) continue;
        stamp_w[w] = stamp;
        word *wd = &tr->words[w];
        int32_t *s = tr->pool + wd->off;
        int32_t len = wd->len;
        bool found = false;
        for (int32_t i = 0; i + 1 < len && !found; i++) found = s[i] == a && s[i + 1] == b;
        if (!found) continue;
        for (int32_t i = 0; i + 1 < len; i++) {
            if (!mergeable(t, s[i]) || !mergeable(t, s[i + 1])) continue;
            uint64_t *v = mg_u64map_get(&tr->pair_index, (uint64_t)s[i] << 32 | (uint32_t)s[i + 1]);
            tr->pcount[*v] -= wd->count;
        }
        int32_t j = 0;
        for (int32_t i = 0; i < len;) {
            if (i + 1 < len && s[i] == a && s[i + 1] == b) {
                s[j++] = m;
                i += 2;
            } else {
                s[j++] = s[i++];
            }
        }
        wd->len = len = j;
        for (int32_t i = 0; i + 1 < len; i++) {
            if (!mergeable(t, s[i]) || !mergeable(t, s[i + 1])) continue;
            int64_t q = pair_of(tr, s[i], s[i + 1]);
            if (q < 0) return MG_ERR;
            tr->pcount[q] += wd->count;
            if (s[i] != m && s[i + 1] != m) continue;
            if (occ_add(&tr->occ[q], w)) return MG_ERR;
            if (!tr->seen[q]) {
                if (tr->n_touched == tr->touched_cap) {
                    int64_t cap = tr->touched_cap ? tr->touched_cap * 2 : 256;
                    int64_t *p = realloc(tr->touched, (size_t)cap * sizeof *p);
                    if (!p) return mg_error("bpe_train: out of memory");
                    tr->touched = p;
                    tr->touched_cap = cap;
                }
                tr->seen[q] = 1;
                tr->touched[tr->n_touched++] = q;
            }
        }
    }
    return MG_OK;
}

/* Merges the most frequent pair until the vocabulary holds vocab_size
 * tokens, no pair is left or the best is seen fewer than min_frequency
 * times. A merge whose joined string is already a token reuses its id. */
static int run_merges(trainer *tr, const mg_bpe_opts *o) {
    mg_tokenizer *t = tr->t;
    int32_t *stamp_w = calloc((size_t)tr->n_words + 1, sizeof *stamp_w);
    char *joined = malloc((size_t)o->max_word_chars * 4 + 8);
    int status = MG_OK;
    if (!stamp_w || !joined) status = mg_error("bpe_train: out of memory");
    int32_t stamp = 0;
    while (status == MG_OK && t->n_vocab < o->vocab_size && tr->heap_n > 0) {
        heap_item top = heap_pop(tr);
        int64_t pair = (int64_t)*mg_u64map_get(&tr->pair_index, top.key);
        int64_t cur = tr->pcount[pair];
        if (cur != top.count) { /* stale: the count fell since it was pushed */
            if (cur > 0) status = heap_push(tr, cur, top.key);
            continue;
        }
        if (cur < o->min_frequency) break;
        int32_t a = (int32_t)(top.key >> 32), b = (int32_t)(uint32_t)top.key;
        size_t la = t->len[a], lb = t->len[b] - 2; /* b continues a piece: "##..." */
        memcpy(joined, t->str[a], la);
        memcpy(joined + la, t->str[b] + 2, lb);
        int32_t m = mg_tokenizer_token_id(t, joined, la + lb);
        if (m < 0 && (m = mg_tok_add(t, joined, la + lb, MG_TOK_MERGED)) < 0) {
            status = MG_ERR;
            break;
        }
        if ((status = mg_tok_add_merge(t, a, b, m)) != MG_OK) break;
        tr->n_touched = 0;
        if ((status = apply_merge(tr, pair, a, b, m, stamp_w, ++stamp)) != MG_OK) break;
        free(tr->occ[pair].w);
        tr->occ[pair] = (occ_list){NULL, 0, 0};
        for (int64_t k = 0; k < tr->n_touched && status == MG_OK; k++) {
            int64_t q = tr->touched[k];
            tr->seen[q] = 0;
            if (tr->pcount[q] > 0) status = heap_push(tr, tr->pcount[q], tr->pkey[q]);
        }
    }
    free(stamp_w);
    free(joined);
    return status;
}

mg_tokenizer *mg_bpe_train(int64_t n, const char *const *texts, const size_t *lens, const mg_bpe_opts *o) {
    trainer tr = {0};
    mg_strmap counts = {0};
    mg_u64map chars = {0};
    mg_pretok p = {0};
    char_count *alphabet = NULL;
    mg_tokenizer *t = NULL;
    CHECK(n >= 0, "bpe_train: %lld texts", (long long)n);
    CHECK(o->vocab_size >= MG_TOK_MIN_VOCAB && o->vocab_size <= (1 << 20),
          "bpe_train: vocab_size must be in %d..%d (5 special tokens, 512 byte tokens and printable ASCII in both "
          "forms come first), got %d", MG_TOK_MIN_VOCAB, 1 << 20, o->vocab_size);
    CHECK(o->min_frequency >= 1, "bpe_train: min_frequency must be at least 1, got %d", o->min_frequency);
    CHECK(o->max_word_chars >= 1 && o->max_word_chars <= 1000,
          "bpe_train: max_word_chars must be in 1..1000, got %d", o->max_word_chars);

    /* 1. the pieces and their counts */
    TRY_OK(mg_strmap_init(&counts, 1 << 16));
    TRY_OK(mg_pretok_init(&p, "", 0, o->lowercase, o->max_word_chars));
    char *key = malloc((size_t)o->max_word_chars * 4 + 1);
    CHECK(key, "bpe_train: out of memory");
    for (int64_t i = 0; i < n; i++) {
        mg_pretok q = p;
        q.text = (const unsigned char *)texts[i];
        q.len = lens[i];
        q.pos = 0;
        q.started = false;
        while (mg_pretok_next(&q) == 1) {
            key[0] = q.attached ? 'a' : 'w';
            memcpy(key + 1, q.bytes, q.nbytes);
            int64_t *c = mg_strmap_upsert(&counts, key, q.nbytes + 1, 0, NULL);
            if (!c) {
                free(key);
                goto fail;
            }
            (*c)++;
        }
    }
    free(key);

    /* 2. the alphabet: printable ASCII, then characters by count */
    TRY_OK(mg_u64map_init(&chars, 1024));
    for (size_t i = 0; i < counts.cap; i++) {
        if (!counts.hash[i]) continue;
        size_t kn;
        const char *k = mg_strmap_key(&counts, i, &kn);
        size_t pos = 1;
        while (pos < kn) {
            int32_t u = mg_utf8_unit((const unsigned char *)k, kn, &pos);
            if (u < 0 || (u >= 33 && u <= 126)) continue;
            uint64_t *c = mg_u64map_upsert(&chars, (uint64_t)u, 0, NULL);
            TRY(c);
            *c += (uint64_t)counts.vals[i];
        }
    }
    TRY(t = mg_tok_new(o->lowercase, o->max_word_chars));
    for (int32_t u = 33; u <= 126; u++) {
        if (mg_tok_add_char(t, u, false) < 0 || mg_tok_add_char(t, u, true) < 0) goto fail;
    }
    alphabet = malloc((chars.n + 1) * sizeof *alphabet);
    CHECK(alphabet, "bpe_train: out of memory");
    int64_t n_chars = 0;
    for (size_t i = 0; i < chars.cap; i++) {
        if (chars.keys[i] && (int64_t)chars.vals[i] >= o->min_frequency)
            alphabet[n_chars++] = (char_count){(int32_t)(chars.keys[i] - 1), (int64_t)chars.vals[i]};
    }
    qsort(alphabet, (size_t)n_chars, sizeof *alphabet, by_count);
    int64_t room = (o->vocab_size - MG_TOK_MIN_VOCAB) / 4; /* half the rest, at most, for characters */
    for (int64_t i = 0; i < n_chars && i < room; i++) {
        if (mg_tok_add_char(t, alphabet[i].unit, false) < 0 || mg_tok_add_char(t, alphabet[i].unit, true) < 0)
            goto fail;
    }

    /* 3. the pieces as symbols, and the pair counts */
    tr.t = t;
    tr.words = malloc((counts.n + 1) * sizeof *tr.words);
    CHECK(tr.words, "bpe_train: out of memory");
    int64_t pool_n = 0, pool_cap = 1 << 16;
    tr.pool = malloc((size_t)pool_cap * sizeof *tr.pool);
    CHECK(tr.pool, "bpe_train: out of memory");
    for (size_t i = 0; i < counts.cap; i++) {
        if (!counts.hash[i]) continue;
        size_t kn;
        const char *k = mg_strmap_key(&counts, i, &kn);
        piece_of_key(&p, k, kn);
        if (pool_n + p.n_units * 4 > pool_cap) {
            while (pool_n + p.n_units * 4 > pool_cap) pool_cap *= 2;
            int32_t *q = realloc(tr.pool, (size_t)pool_cap * sizeof *q);
            CHECK(q, "bpe_train: out of memory for %lld symbols", (long long)pool_cap);
            tr.pool = q;
        }
        int m = mg_tok_symbols(t, &p, tr.pool + pool_n, NULL);
        tr.words[tr.n_words++] = (word){counts.vals[i], (int32_t)pool_n, m};
        pool_n += m;
    }
    CHECK(pool_n < INT32_MAX, "bpe_train: too many distinct words (%lld symbols)", (long long)pool_n);
    mg_strmap_free(&counts);
    TRY_OK(mg_u64map_init(&tr.pair_index, 1 << 16));
    for (int64_t w = 0; w < tr.n_words; w++) {
        int32_t *s = tr.pool + tr.words[w].off;
        for (int32_t i = 0; i + 1 < tr.words[w].len; i++) {
            if (!mergeable(t, s[i]) || !mergeable(t, s[i + 1])) continue;
            int64_t q = pair_of(&tr, s[i], s[i + 1]);
            TRY_OK(q < 0 ? MG_ERR : MG_OK);
            tr.pcount[q] += tr.words[w].count;
            TRY_OK(occ_add(&tr.occ[q], (int32_t)w));
        }
    }
    for (int64_t q = 0; q < tr.n_pairs; q++) TRY_OK(heap_push(&tr, tr.pcount[q], tr.pkey[q]));

    /* 4. merges */
    TRY_OK(run_merges(&tr, o));
    trainer_free(&tr);
    mg_u64map_free(&chars);
    mg_pretok_free(&p);
    free(alphabet);
    return t;
fail:
    trainer_free(&tr);
    mg_strmap_free(&counts);
    mg_u64map_free(&chars);
    mg_pretok_free(&p);
    free(alphabet);
    mg_tokenizer_free(t);
    return NULL;
}
