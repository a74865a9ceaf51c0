/*
 * The tokenizer file: plain JSON a user can read, one token per line.
 *
 *   {"format": "moongrad.tokenizer", "version": 1, "model": "bpe",
 *    "lowercase": true, "max_word_chars": 100, "continuation_prefix": "##",
 *    "special_tokens": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
 *    "vocab": ["[PAD]", ..., "<0x00>", ..., "##<0xFF>", "a", "##a", ...],
 *    "merges": ["t ##h", "th ##e", ...]}
 *
 * The k-th vocab entry (0-based) is token id k: the specials, the byte
 * tokens "<0xNN>" and "##<0xNN>", then one-character tokens (the alphabet)
 * and merged tokens. Each merge is "left right" (a space between), in rank
 * order; its result, left followed by right without its "##", must be in
 * the vocabulary. Loading checks all of this and names what is wrong.
 */
#include "json.h"
#include "text_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define FORMAT "moongrad.tokenizer"
#define MAX_FILE_BYTES ((size_t)1 << 30)

char *mg_tokenizer_to_json(const mg_tokenizer *t, size_t *len) {
    mg_buf b = {0};
    mg_buf_printf(&b, "{\n  \"format\": \"%s\",\n  \"version\": 1,\n  \"model\": \"bpe\",\n", FORMAT);
    mg_buf_printf(&b, "  \"lowercase\": %s,\n  \"max_word_chars\": %d,\n", t->lowercase ? "true" : "false",
                  t->max_word_chars);
    mg_buf_puts(&b, "  \"continuation_prefix\": \"" MG_TOK_CONT "\",\n  \"special_tokens\": [");
    for (int k = 0; k < MG_TOK_N_SPECIAL; k++) {
        if (k) mg_buf_puts(&b, ", ");
        mg_buf_json_string(&b, t->str[k], t->len[k]);
    }
    mg_buf_puts(&b, "],\n  \"vocab\": [\n");
    for (int i = 0; i < t->n_vocab; i++) {
        mg_buf_puts(&b, "    ");
        mg_buf_json_string(&b, t->str[i], t->len[i]);
        mg_buf_puts(&b, i + 1 < t->n_vocab ? ",\n" : "\n");
    }
    mg_buf_puts(&b, "  ],\n  \"merges\": [\n");
    for (int r = 0; r < t->n_merges; r++) {
        int32_t a = t->merge[r][0], c = t->merge[r][1];
        mg_buf_puts(&b, "    ");
        mg_buf b2 = {0};
        mg_buf_append(&b2, t->str[a], t->len[a]);
        mg_buf_append(&b2, " ", 1);
        mg_buf_append(&b2, t->str[c], t->len[c]);
        if (!b2.failed) mg_buf_json_string(&b, b2.data, b2.len);
        b.failed |= b2.failed;
        mg_buf_free(&b2);
        mg_buf_puts(&b, r + 1 < t->n_merges ? ",\n" : "\n");
    }
    mg_buf_puts(&b, "  ]\n}\n");
    if (b.failed) {
        mg_buf_free(&b);
        mg_error("tokenizer: out of memory writing JSON");
        return NULL;
    }
    *len = b.len;
    return b.data;
}

int mg_tokenizer_save(const mg_tokenizer *t, const char *path) {
    size_t n;
    char *json = mg_tokenizer_to_json(t, &n);
    if (!json) return MG_ERR;
    int status = mg_write_file_atomic(path, json, n);
    free(json);
    if (status) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mg_last_error());
        mg_error("tokenizer save: %s", msg);
    }
    return status;
}

/* ---- loading ---------------------------------------------------------------------------- */

static bool str_is(const mg_json_node *n, const char *s) {
    return n && n->type == MG_JSON_STRING && n->str_len == strlen(s) && memcmp(n->str, s, n->str_len) == 0;
}

/* The single unit of s[0..n) when it is one well-formed character, else INT32_MIN. */
static int32_t single_char(const char *s, size_t n) {
    if (n == 0) return INT32_MIN;
    size_t pos = 0;
    int32_t u = mg_utf8_unit((const unsigned char *)s, n, &pos);
    return pos == n && u >= 0 ? u : INT32_MIN;
}

static mg_tokenizer *from_doc(const mg_json_doc *d, const char *where) {
    mg_tokenizer *t = NULL;
    const mg_json_node *top = &d->nodes[0];
    CHECK(top->type == MG_JSON_OBJECT, "%s: expected a JSON object, got %s", where, mg_json_type_name(top->type));
    CHECK(str_is(mg_json_get(d, top, "format"), FORMAT), "%s: \"format\" must be \"" FORMAT "\"", where);
    const mg_json_node *v = mg_json_get(d, top, "version");
    CHECK(v && v->type == MG_JSON_NUMBER && v->is_int && v->ival == 1, "%s: \"version\" must be 1", where);
    CHECK(str_is(mg_json_get(d, top, "model"), "bpe"), "%s: \"model\" must be \"bpe\"", where);
    CHECK(str_is(mg_json_get(d, top, "continuation_prefix"), MG_TOK_CONT),
          "%s: \"continuation_prefix\" must be \"" MG_TOK_CONT "\"", where);
    const mg_json_node *lc = mg_json_get(d, top, "lowercase");
    CHECK(lc && (lc->type == MG_JSON_TRUE || lc->type == MG_JSON_FALSE), "%s: \"lowercase\" must be true or false",
          where);
    const mg_json_node *mw = mg_json_get(d, top, "max_word_chars");
    CHECK(mw && mw->type == MG_JSON_NUMBER && mw->is_int && mw->ival >= 1 && mw->ival <= 1000,
          "%s: \"max_word_chars\" must be an integer in 1..1000", where);
    const mg_json_node *sp = mg_json_get(d, top, "special_tokens");
    CHECK(sp && sp->type == MG_JSON_ARRAY && sp->count == MG_TOK_N_SPECIAL,
          "%s: \"special_tokens\" must be [\"[PAD]\", \"[UNK]\", \"[CLS]\", \"[SEP]\", \"[MASK]\"]", where);
    int k = 0;
    for (const mg_json_node *c = mg_json_child(d, sp); c; c = mg_json_next(d, c), k++)
        CHECK(str_is(c, mg_tokenizer_special_name(k)),
              "%s: \"special_tokens\" must be [\"[PAD]\", \"[UNK]\", \"[CLS]\", \"[SEP]\", \"[MASK]\"]", where);
    const mg_json_node *vocab = mg_json_get(d, top, "vocab"), *merges = mg_json_get(d, top, "merges");
    CHECK(vocab && vocab->type == MG_JSON_ARRAY, "%s: \"vocab\" must be a list of strings", where);
    CHECK(merges && merges->type == MG_JSON_ARRAY, "%s: \"merges\" must be a list of strings", where);
    CHECK(vocab->count >= MG_TOK_FIRST_CHAR && vocab->count <= (1 << 20),
          "%s: \"vocab\" has %d entries, expected %d..%d", where, vocab->count, MG_TOK_FIRST_CHAR, 1 << 20);

    TRY(t = mg_tok_new(lc->type == MG_JSON_TRUE, (int)mw->ival));
    int i = 0;
    for (const mg_json_node *c = mg_json_child(d, vocab); c; c = mg_json_next(d, c), i++) {
        CHECK(c->type == MG_JSON_STRING, "%s: vocab entry %d is %s, expected a string", where, i,
              mg_json_type_name(c->type));
        if (i < MG_TOK_FIRST_CHAR) { /* the fixed part: specials and bytes */
            CHECK(c->str_len == t->len[i] && memcmp(c->str, t->str[i], c->str_len) == 0,
                  "%s: vocab entry %d is \"%.40s\", expected \"%s\"", where, i, c->str, t->str[i]);
            continue;
        }
        const char *s = c->str;
        size_t n = c->str_len;
        bool cont = n > 2 && s[0] == '#' && s[1] == '#';
        const char *body = cont ? s + 2 : s;
        size_t bn = cont ? n - 2 : n;
        CHECK(bn > 0, "%s: vocab entry %d is empty", where, i);
        for (size_t pos = 0; pos < bn;) {
            int32_t u = mg_utf8_unit((const unsigned char *)body, bn, &pos);
            CHECK(!mg_text_is_space(u), "%s: vocab entry %d (\"%.40s\") holds white space", where, i, s);
        }
        int32_t u = single_char(body, bn);
        if (u != INT32_MIN) {
            if (mg_tok_add_char(t, u, cont) < 0) goto fail;
        } else if (mg_tok_add(t, s, n, MG_TOK_MERGED) < 0) {
            goto prefixed;
        }
    }
    int r = 0;
    for (const mg_json_node *c = mg_json_child(d, merges); c; c = mg_json_next(d, c), r++) {
        CHECK(c->type == MG_JSON_STRING, "%s: merge %d is %s, expected \"left right\"", where, r,
              mg_json_type_name(c->type));
        const char *sp1 = memchr(c->str, ' ', c->str_len);
        CHECK(sp1, "%s: merge %d (\"%.60s\") is not \"left right\"", where, r, c->str);
        size_t la = (size_t)(sp1 - c->str), lb = c->str_len - la - 1;
        int a = mg_tokenizer_token_id(t, c->str, la), b = mg_tokenizer_token_id(t, sp1 + 1, lb);
        CHECK(a >= MG_TOK_FIRST_CHAR && b >= MG_TOK_FIRST_CHAR,
              "%s: merge %d (\"%.60s\") joins a token that is not in the vocabulary (or a special or byte token)",
              where, r, c->str);
        CHECK(lb > 2 && sp1[1] == '#' && sp1[2] == '#', "%s: merge %d (\"%.60s\"): the right token must continue "
              "a word (\"##...\")", where, r, c->str);
        char *joined = malloc(la + lb);
        CHECK(joined, "%s: out of memory", where);
        memcpy(joined, c->str, la);
        memcpy(joined + la, sp1 + 3, lb - 2);
        int m = mg_tokenizer_token_id(t, joined, la + lb - 2);
        free(joined);
        CHECK(m >= 0, "%s: merge %d (\"%.60s\"): the joined token is not in the vocabulary", where, r, c->str);
        if (mg_tok_add_merge(t, a, b, m)) goto prefixed;
    }
    return t;
prefixed: { /* the error of a helper, prefixed with where it happened */
    char msg[512];
    snprintf(msg, sizeof msg, "%s", mg_last_error());
    mg_error("%s: %s", where, msg);
}
fail:
    mg_tokenizer_free(t);
    return NULL;
}

mg_tokenizer *mg_tokenizer_from_json(const char *json, size_t len) {
    mg_json_doc d = {0};
    char err[256];
    if (mg_json_parse(json, len, &d, err, sizeof err)) {
        mg_error("tokenizer: %s", err);
        return NULL;
    }
    mg_tokenizer *t = from_doc(&d, "tokenizer");
    mg_json_free(&d);
    return t;
}

mg_tokenizer *mg_tokenizer_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        mg_error("tokenizer load: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FILE_BYTES) {
                fclose(f);
                free(buf);
                mg_error("tokenizer load: %s is larger than %zu bytes", path, MAX_FILE_BYTES);
                return NULL;
            }
            cap = cap ? cap * 2 : 1 << 16;
            char *q = realloc(buf, cap);
            if (!q) {
                fclose(f);
                free(buf);
                mg_error("tokenizer load: out of memory reading %s", path);
                return NULL;
            }
            buf = q;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        mg_error("tokenizer load: cannot read %s (a folder?)", path);
        return NULL;
    }
    mg_json_doc d = {0};
    char err[256];
    mg_tokenizer *t = NULL;
    if (mg_json_parse(buf, n, &d, err, sizeof err)) {
        mg_error("tokenizer load: %s: %s", path, err);
    } else {
        char where[300];
        snprintf(where, sizeof where, "tokenizer load: %s", path);
        t = from_doc(&d, where);
    }
    mg_json_free(&d);
    free(buf);
    return t;
}
