/*
 * Internals of the text code (text_*.c): hash maps, UTF-8 units, the
 * pre-tokenizer and the tokenizer struct. Not part of the public API.
 */
#ifndef MG_TEXT_INTERNAL_H
#define MG_TEXT_INTERNAL_H

#include "internal.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- hash maps (text_map.c) ---------------------------------------------------
 * Open addressing, linear probing, grown at 1/2 load. Functions returning
 * int give MG_ERR (message set) when memory runs out. */

/* uint64 -> uint64. Any key but UINT64_MAX. */
typedef struct {
    uint64_t *keys; /* key + 1; 0 = empty */
    uint64_t *vals;
    size_t cap, n;
} mg_u64map;
int mg_u64map_init(mg_u64map *m, size_t expect);
void mg_u64map_free(mg_u64map *m);
/* The value of key, or NULL. The pointer lives until the next insertion. */
uint64_t *mg_u64map_get(const mg_u64map *m, uint64_t key);
/* The value slot of key, inserted as `def` when absent (*added tells). */
uint64_t *mg_u64map_upsert(mg_u64map *m, uint64_t key, uint64_t def, bool *added);

/* byte string -> int64; keys are copied into an arena. */
typedef struct {
    uint64_t *hash; /* 0 = empty (hashes are forced non-zero) */
    uint32_t *klen;
    uint64_t *koff;
    int64_t *vals;
    size_t cap, n;
    char *arena;
    size_t arena_len, arena_cap;
} mg_strmap;
int mg_strmap_init(mg_strmap *m, size_t expect);
void mg_strmap_free(mg_strmap *m);
void mg_strmap_clear(mg_strmap *m);
int64_t *mg_strmap_get(const mg_strmap *m, const char *s, size_t n);
int64_t *mg_strmap_upsert(mg_strmap *m, const char *s, size_t n, int64_t def, bool *added);
/* The key of slot i (for iteration over i < cap with hash[i] != 0). */
static inline const char *mg_strmap_key(const mg_strmap *m, size_t i, size_t *n) {
    *n = m->klen[i];
    return m->arena + m->koff[i];
}

/* ---- characters (text_norm.c) ----------------------------------------------------
 * A text is read as units: a well-formed UTF-8 character (no overlongs,
 * surrogates or code points above U+10FFFF) is its code point >= 0; any
 * other byte is a unit of its own, -1 - byte. */

/* The unit at s[*pos] (pos < n); advances *pos. */
int32_t mg_utf8_unit(const unsigned char *s, size_t n, size_t *pos);
/* UTF-8 bytes of a unit (1..4) into out. */
int mg_utf8_put(int32_t unit, char *out);
/* Simple lower-casing: ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
 * capitals; other units unchanged. */
int32_t mg_text_lower(int32_t unit);
bool mg_text_is_space(int32_t unit);
bool mg_text_is_punct(int32_t unit);

/* The pre-tokenizer: white space separates words; each punctuation
 * character is a piece of its own; a word longer than max_chars units is
 * cut into pieces of max_chars. A piece is `attached` when no white space
 * precedes it (and it is not the text's first), so decoding can restore
 * the spacing. */
typedef struct {
    const unsigned char *text;
    size_t len, pos;
    bool lowercase, started, pending_attached;
    int max_chars;
    /* the current piece: normalized bytes, and its units with their offsets */
    char *bytes;
    int32_t *units;
    uint32_t *offs; /* n_units + 1 offsets into bytes */
    int n_units;
    size_t nbytes;
    bool attached;
} mg_pretok;
/* max_chars >= 1. Buffers are allocated here: free with mg_pretok_free. */
int mg_pretok_init(mg_pretok *p, const char *text, size_t len, bool lowercase, int max_chars);
/* 1: a piece is in p; 0: the end of the text. */
int mg_pretok_next(mg_pretok *p);
void mg_pretok_free(mg_pretok *p);

/* ---- the tokenizer (text_bpe.c) ---------------------------------------------------- */

enum { MG_TOK_SPECIAL, MG_TOK_BYTE, MG_TOK_CHAR, MG_TOK_MERGED };
#define MG_TOK_N_SPECIAL 5
#define MG_TOK_BYTE0 MG_TOK_N_SPECIAL            /* "<0x00>".."<0xFF>": begin a word */
#define MG_TOK_BYTE_CONT0 (MG_TOK_BYTE0 + 256)   /* "##<0x00>".."##<0xFF>": continue one */
#define MG_TOK_FIRST_CHAR (MG_TOK_BYTE_CONT0 + 256)
#define MG_TOK_CONT "##"
/* The smallest vocabulary: specials, 512 byte tokens, printable ASCII in
 * both forms. */
#define MG_TOK_MIN_VOCAB (MG_TOK_FIRST_CHAR + 2 * 94)

struct mg_tokenizer {
    int n_vocab, cap;
    char **str;      /* display strings, NUL-terminated ("##" on continuations) */
    uint32_t *len;
    uint8_t *kind;
    mg_strmap vocab; /* display string -> id */
    mg_u64map chars; /* unit << 1 | continuation -> id, for the alphabet */
    int32_t ascii[128][2]; /* the same for ASCII, -1 when absent */
    mg_u64map merges; /* left << 32 | right -> rank << 32 | result */
    int n_merges, merges_cap;
    int32_t (*merge)[3]; /* left, right, result, in rank order */
    bool lowercase;
    int max_word_chars;
    /* encoding cache: flag byte + normalized piece -> offset << 16 | count into cache_ids */
    mg_strmap cache;
    int32_t *cache_ids;
    size_t cache_n, cache_cap;
    /* scratch of one encode */
    int32_t *sym, *rank;
    char *key;
    int sym_cap;
};

/* A new empty tokenizer holding the specials and the 512 byte tokens. */
mg_tokenizer *mg_tok_new(bool lowercase, int max_word_chars);
/* Appends a token (string copied); returns its id, or -1 on failure. */
int mg_tok_add(mg_tokenizer *t, const char *s, size_t n, int kind);
/* Adds a char of the alphabet in one form; returns its id. */
int mg_tok_add_char(mg_tokenizer *t, int32_t unit, bool cont);
/* Records merge rank n_merges: left + right -> result. */
int mg_tok_add_merge(mg_tokenizer *t, int32_t left, int32_t right, int32_t result);
/* The id of a unit's char token (cont form or not), or -1. */
static inline int32_t mg_tok_char_id(const mg_tokenizer *t, int32_t unit, bool cont) {
    if (unit >= 0 && unit < 128) return t->ascii[unit][cont];
    uint64_t *v = mg_u64map_get(&t->chars, (uint64_t)(int64_t)unit << 1 | cont);
    return v ? (int32_t)*v : -1;
}
/* The initial symbols of a piece (char tokens, else byte tokens) into
 * out (room for 4 per unit); returns the count. */
int mg_tok_symbols(const mg_tokenizer *t, const mg_pretok *p, int32_t *out, bool *mergeable);

#endif
