/*
 * The BPE tokenizer: its vocabulary, encoding (with a cache of the pieces
 * already seen), batched encoding with truncation and padding, and
 * decoding. Training is in text_bpe_train.c, the JSON file in
 * text_json.c.
 *
 * Why BPE with WordPiece-style marks: byte-pair merges learnt from counts
 * train in one pass over the word counts and encode by applying merges in
 * rank order, and a fallback to byte tokens fits them naturally: every
 * character outside the alphabet becomes its UTF-8 bytes, so nothing is
 * ever unknown (spam in GB2312, invalid UTF-8). Continuation pieces carry
 * "##" as in WordPiece, and a piece not preceded by white space
 * (punctuation after a word, the rest of a long word) is a continuation
 * too, so decode restores the spacing: decode(encode(s)) is s lower-cased
 * with runs of white space made one space.
 *
 * Ids are 0-based here: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4,
 * byte tokens "<0xNN>" 5..260 and "##<0xNN>" 261..516, then the alphabet
 * (each character in both forms) and the merged tokens.
 */
#include "json.h"
#include "text_internal.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const SPECIAL[MG_TOK_N_SPECIAL] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

/* The cache is cleared when it holds more than this many pieces or ids. */
#define CACHE_MAX_PIECES (1 << 20)
#define CACHE_MAX_IDS (1 << 24)

const char *mg_tokenizer_special_name(int k) { return k >= 0 && k < MG_TOK_N_SPECIAL ? SPECIAL[k] : NULL; }

void mg_tokenizer_free(mg_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_vocab; i++) free(t->str[i]);
    free(t->str);
    free(t->len);
    free(t->kind);
    mg_strmap_free(&t->vocab);
    mg_u64map_free(&t->chars);
    mg_u64map_free(&t->merges);
    free(t->merge);
    mg_strmap_free(&t->cache);
    free(t->cache_ids);
    free(t->sym);
    free(t->rank);
    free(t->key);
    free(t);
}

int mg_tok_add(mg_tokenizer *t, const char *s, size_t n, int kind) {
    if (t->n_vocab == t->cap) {
        int cap = t->cap ? t->cap * 2 : 1024;
        char **str = realloc(t->str, (size_t)cap * sizeof *str);
        if (str) t->str = str;
        uint32_t *len = realloc(t->len, (size_t)cap * sizeof *len);
        if (len) t->len = len;
        uint8_t *k = realloc(t->kind, (size_t)cap);
        if (k) t->kind = k;
        if (!str || !len || !k) return mg_error("tokenizer: out of memory for %d tokens", cap);
        t->cap = cap;
    }
    bool added;
    int64_t *slot = mg_strmap_upsert(&t->vocab, s, n, t->n_vocab, &added);
    if (!slot) return -1;
    if (!added) return mg_error("the token \"%.*s\" is in the vocabulary twice", (int)(n > 60 ? 60 : n), s);
    char *copy = malloc(n + 1);
    if (!copy) {
        *slot = -1;
        return mg_error("tokenizer: out of memory");
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    t->str[t->n_vocab] = copy;
    t->len[t->n_vocab] = (uint32_t)n;
    t->kind[t->n_vocab] = (uint8_t)kind;
    return t->n_vocab++;
}

mg_tokenizer *mg_tok_new(bool lowercase, int max_word_chars) {
    mg_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        mg_error("tokenizer: out of memory");
        return NULL;
    }
    t->lowercase = lowercase;
    t->max_word_chars = max_word_chars;
    memset(t->ascii, -1, sizeof t->ascii);
    TRY_OK(mg_strmap_init(&t->vocab, 8192));
    TRY_OK(mg_u64map_init(&t->chars, 1024));
    TRY_OK(mg_u64map_init(&t->merges, 8192));
    TRY_OK(mg_strmap_init(&t->cache, 1 << 14));
    for (int k = 0; k < MG_TOK_N_SPECIAL; k++)
        if (mg_tok_add(t, SPECIAL[k], strlen(SPECIAL[k]), MG_TOK_SPECIAL) < 0) goto fail;
    for (int cont = 0; cont < 2; cont++) {
        for (int b = 0; b < 256; b++) {
            char s[16];
            int n = snprintf(s, sizeof s, "%s<0x%02X>", cont ? MG_TOK_CONT : "", b);
            if (mg_tok_add(t, s, (size_t)n, MG_TOK_BYTE) < 0) goto fail;
        }
    }
    return t;
fail:
    mg_tokenizer_free(t);
    return NULL;
}

int mg_tok_add_char(mg_tokenizer *t, int32_t unit, bool cont) {
    char s[8];
    int n = 0;
    if (cont) memcpy(s, MG_TOK_CONT, 2), n = 2;
    n += mg_utf8_put(unit, s + n);
    int id = mg_tok_add(t, s, (size_t)n, MG_TOK_CHAR);
    if (id < 0) return MG_ERR;
    if (unit >= 0 && unit < 128) {
        t->ascii[unit][cont] = id;
    } else if (!mg_u64map_upsert(&t->chars, (uint64_t)(int64_t)unit << 1 | cont, (uint64_t)id, NULL)) {
        return MG_ERR;
    }
    return id;
}

int mg_tok_add_merge(mg_tokenizer *t, int32_t left, int32_t right, int32_t result) {
    if (t->n_merges == t->merges_cap) {
        int cap = t->merges_cap ? t->merges_cap * 2 : 1024;
        int32_t(*m)[3] = realloc(t->merge, (size_t)cap * sizeof *m);
        if (!m) return mg_error("tokenizer: out of memory for %d merges", cap);
        t->merge = m;
        t->merges_cap = cap;
    }
    bool added;
    uint64_t *v = mg_u64map_upsert(&t->merges, (uint64_t)left << 32 | (uint32_t)right,
                                   (uint64_t)t->n_merges << 32 | (uint32_t)result, &added);
    if (!v) return MG_ERR;
    if (!added) return mg_error("the merge \"%s %s\" is listed twice", t->str[left], t->str[right]);
    t->merge[t->n_merges][0] = left;
    t->merge[t->n_merges][1] = right;
    t->merge[t->n_merges][2] = result;
    t->n_merges++;
    return MG_OK;
}

int mg_tok_symbols(const mg_tokenizer *t, const mg_pretok *p, int32_t *out, bool *mergeable) {
    int n = 0;
    for (int k = 0; k < p->n_units; k++) {
        bool cont = k > 0 || p->attached;
        int32_t id = mg_tok_char_id(t, p->units[k], cont);
        if (id >= 0) {
            if (mergeable) mergeable[n] = true;
            out[n++] = id;
            continue;
        }
        const unsigned char *b = (const unsigned char *)p->bytes + p->offs[k];
        int nb = (int)(p->offs[k + 1] - p->offs[k]);
        for (int j = 0; j < nb; j++) {
            if (mergeable) mergeable[n] = false;
            out[n++] = (j == 0 && !cont ? MG_TOK_BYTE0 : MG_TOK_BYTE_CONT0) + b[j];
        }
    }
    return n;
}

/* ---- encoding ------------------------------------------------------------------------ */

static int32_t merge_rank(const mg_tokenizer *t, int32_t a, int32_t b, int32_t *result) {
    uint64_t *v = mg_u64map_get(&t->merges, (uint64_t)a << 32 | (uint32_t)b);
    if (!v) return INT32_MAX;
    *result = (int32_t)(uint32_t)*v;
    return (int32_t)(*v >> 32);
}

static int push_ids(int32_t **ids, int64_t *n, int64_t *cap, const int32_t *src, int64_t k) {
    if (*n + k > *cap) {
        int64_t c = *cap ? *cap : 256;
        while (c < *n + k) c *= 2;
        int32_t *p = realloc(*ids, (size_t)c * sizeof *p);
        if (!p) return mg_error("tokenizer: out of memory for %lld ids", (long long)c);
        *ids = p;
        *cap = c;
    }
    memcpy(*ids + *n, src, (size_t)k * sizeof *src);
    *n += k;
    return MG_OK;
}

/* The ids of the piece in p: from the cache, else the symbols merged in
 * rank order (leftmost first among equal ranks). */
static int encode_piece(mg_tokenizer *t, const mg_pretok *p, int32_t **ids, int64_t *n, int64_t *cap) {
    t->key[0] = p->attached ? 'a' : 'w';
    memcpy(t->key + 1, p->bytes, p->nbytes);
    int64_t *hit = mg_strmap_get(&t->cache, t->key, p->nbytes + 1);
    if (hit) return push_ids(ids, n, cap, t->cache_ids + (*hit >> 16), *hit & 0xFFFF);
    int32_t *sym = t->sym, *rank = t->rank, res = 0;
    int m = mg_tok_symbols(t, p, sym, NULL);
    for (int i = 0; i + 1 < m; i++) rank[i] = merge_rank(t, sym[i], sym[i + 1], &res);
    for (;;) {
        int best = -1;
        int32_t r = INT32_MAX;
        for (int i = 0; i + 1 < m; i++)
            if (rank[i] < r) r = rank[i], best = i;
        if (best < 0) break;
        merge_rank(t, sym[best], sym[best + 1], &res);
        sym[best] = res;
        memmove(sym + best + 1, sym + best + 2, (size_t)(m - best - 2) * sizeof *sym);
        memmove(rank + best + 1, rank + best + 2, (size_t)(m > best + 3 ? m - best - 3 : 0) * sizeof *rank);
        m--;
        if (best > 0) rank[best - 1] = merge_rank(t, sym[best - 1], sym[best], &res);
        if (best + 1 < m) rank[best] = merge_rank(t, sym[best], sym[best + 1], &res);
    }
    if (t->cache.n >= CACHE_MAX_PIECES || t->cache_n + (size_t)m > CACHE_MAX_IDS) {
        mg_strmap_clear(&t->cache);
        t->cache_n = 0;
    }
    if (t->cache_n + (size_t)m > t->cache_cap) {
        size_t c = t->cache_cap ? t->cache_cap : 1 << 16;
        while (c < t->cache_n + (size_t)m) c *= 2;
        int32_t *q = realloc(t->cache_ids, c * sizeof *q);
        if (!q) return mg_error("tokenizer: out of memory for the encoding cache");
        t->cache_ids = q;
        t->cache_cap = c;
    }
    int64_t *slot = mg_strmap_upsert(&t->cache, t->key, p->nbytes + 1, (int64_t)t->cache_n << 16 | m, NULL);
    if (!slot) return MG_ERR;
    memcpy(t->cache_ids + t->cache_n, sym, (size_t)m * sizeof *sym);
    t->cache_n += (size_t)m;
    return push_ids(ids, n, cap, sym, m);
}

/* Scratch of one piece: 4 symbols per unit at most (byte fallback). */
static int ensure_scratch(mg_tokenizer *t) {
    int need = t->max_word_chars * 4 + 4;
    if (t->sym_cap >= need) return MG_OK;
    int32_t *s = realloc(t->sym, (size_t)need * sizeof *s);
    if (s) t->sym = s;
    int32_t *r = realloc(t->rank, (size_t)need * sizeof *r);
    if (r) t->rank = r;
    char *k = realloc(t->key, (size_t)need + 1);
    if (k) t->key = k;
    if (!s || !r || !k) return mg_error("tokenizer: out of memory");
    t->sym_cap = need;
    return MG_OK;
}

int mg_tokenizer_encode(mg_tokenizer *t, const char *text, size_t len, int32_t **ids, int64_t *n, int64_t *cap) {
    *n = 0;
    if (ensure_scratch(t)) return MG_ERR;
    mg_pretok p;
    if (mg_pretok_init(&p, text, len, t->lowercase, t->max_word_chars)) return MG_ERR;
    int status = MG_OK;
    while (mg_pretok_next(&p) == 1) {
        if ((status = encode_piece(t, &p, ids, n, cap)) != MG_OK) break;
    }
    mg_pretok_free(&p);
    return status;
}

int mg_tokenizer_encode_batch(mg_tokenizer *t, int64_t n, const char *const *texts, const size_t *lens,
                              const mg_encode_opts *o, mg_tensor **out_ids, mg_tensor **out_mask,
                              mg_tensor **out_lengths) {
    *out_ids = *out_mask = *out_lengths = NULL;
    int32_t *one = NULL, *all = NULL;
    int64_t one_n = 0, one_cap = 0, all_n = 0, all_cap = 0;
    int64_t *start = NULL;
    int64_t extra = o->add_special ? 2 : 0;
    CHECK(n >= 0, "encode: %lld texts", (long long)n);
    CHECK(o->max_length <= 0 || o->max_length > extra,
          "encode: max_length %lld leaves no room for tokens besides [CLS] and [SEP]", (long long)o->max_length);
    int64_t budget = o->max_length > 0 ? o->max_length - extra : INT64_MAX;
    int64_t head = o->head < 0 ? budget / 4 : (o->head > budget ? budget : o->head);
    start = malloc((size_t)(n + 1) * sizeof *start);
    CHECK(start, "encode: out of memory");
    int64_t longest = 0;
    for (int64_t i = 0; i < n; i++) {
        start[i] = all_n;
        TRY_OK(mg_tokenizer_encode(t, texts[i], lens[i], &one, &one_n, &one_cap));
        int32_t cls = 2, sep = 3;
        if (o->add_special) TRY_OK(push_ids(&all, &all_n, &all_cap, &cls, 1));
        if (one_n <= budget) {
            TRY_OK(push_ids(&all, &all_n, &all_cap, one, one_n));
        } else { /* the first `head` tokens and the last budget - head */
            TRY_OK(push_ids(&all, &all_n, &all_cap, one, head));
            TRY_OK(push_ids(&all, &all_n, &all_cap, one + one_n - (budget - head), budget - head));
        }
        if (o->add_special) TRY_OK(push_ids(&all, &all_n, &all_cap, &sep, 1));
        if (all_n - start[i] > longest) longest = all_n - start[i];
    }
    start[n] = all_n;
    int64_t width = o->pad_to_max && o->max_length > 0 ? o->max_length : longest;
    int64_t shape[2] = {n, width};
    TRY(*out_ids = mg_zeros(MG_I64, 2, shape));
    TRY(*out_mask = mg_zeros(MG_F32, 2, shape));
    TRY(*out_lengths = mg_empty(MG_I64, 1, shape));
    int64_t *idp = mg_i64(*out_ids), *lp = mg_i64(*out_lengths);
    float *mp = mg_f32(*out_mask);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = start[i + 1] - start[i];
        lp[i] = k;
        for (int64_t j = 0; j < k; j++) {
            idp[i * width + j] = all[start[i] + j];
            mp[i * width + j] = 1.0f;
        }
    }
    free(one);
    free(all);
    free(start);
    return MG_OK;
fail:
    free(one);
    free(all);
    free(start);
    mg_release(*out_ids);
    mg_release(*out_mask);
    mg_release(*out_lengths);
    *out_ids = *out_mask = *out_lengths = NULL;
    return MG_ERR;
}

/* ---- decoding ----------------------------------------------------------------------- */

char *mg_tokenizer_decode(const mg_tokenizer *t, const int64_t *ids, int64_t n, bool skip_special, size_t *len) {
    mg_buf b = {0};
    for (int64_t i = 0; i < n; i++) {
        int64_t id = ids[i];
        if (id < 0 || id >= t->n_vocab) {
            mg_buf_free(&b);
            mg_error("decode: id %lld is out of range [0, %d)", (long long)id, t->n_vocab);
            return NULL;
        }
        int kind = t->kind[id];
        if (kind == MG_TOK_SPECIAL && (skip_special || id == 0)) continue;
        const char *s = t->str[id];
        size_t k = t->len[id];
        bool cont = k > 2 && s[0] == '#' && s[1] == '#' && kind != MG_TOK_SPECIAL;
        if (cont) s += 2, k -= 2;
        if (!cont && b.len > 0) mg_buf_append(&b, " ", 1);
        if (kind == MG_TOK_BYTE) {
            unsigned v = (unsigned)strtoul(s + 3, NULL, 16); /* "<0xNN>" */
            char c = (char)v;
            mg_buf_append(&b, &c, 1);
        } else {
            mg_buf_append(&b, s, k);
        }
    }
    mg_buf_append(&b, "", 1); /* NUL, not counted */
    if (b.failed) {
        mg_buf_free(&b);
        mg_error("decode: out of memory");
        return NULL;
    }
    *len = b.len - 1;
    return b.data;
}

/* ---- accessors ------------------------------------------------------------------------ */

int mg_tokenizer_vocab_size(const mg_tokenizer *t) { return t->n_vocab; }
int mg_tokenizer_merge_count(const mg_tokenizer *t) { return t->n_merges; }
bool mg_tokenizer_lowercase(const mg_tokenizer *t) { return t->lowercase; }
int mg_tokenizer_max_word_chars(const mg_tokenizer *t) { return t->max_word_chars; }

const char *mg_tokenizer_token(const mg_tokenizer *t, int64_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    *len = t->len[id];
    return t->str[id];
}

int mg_tokenizer_token_id(const mg_tokenizer *t, const char *s, size_t n) {
    int64_t *v = mg_strmap_get(&t->vocab, s, n);
    return v ? (int)*v : -1;
}
