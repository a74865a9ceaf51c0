/*
 * Lua bindings of the BPE tokenizer (core/text_*.c), a userdata
 * "moongrad.Tokenizer" owning one mg_tokenizer (freed by __gc).
 *
 *   mg.tokenizer_train(texts, {vocab_size = 8192, min_frequency = 2,
 *                      max_word_chars = 100, lowercase = true}) -> tok
 *   mg.tokenizer_load(path), mg.tokenizer_from_json(string) -> tok
 *   mg.text_normalize(text [, {lowercase = true}]) -> what decode(encode(text)) gives
 *   mg.text_ngrams(texts [, {buckets = 2^20, ngrams = 2, lowercase = true}])
 *     -> ids int64 [nnz] (1-based bins), counts float32 [nnz], offsets int64 [N + 1]
 *     (text i's bins are entries offsets[i] + 1 .. offsets[i + 1])
 *   tok:encode(text [, {add_special_tokens = false}]) -> {ids}
 *   tok:tokenize(text) -> {token strings}
 *   tok:encode_batch(texts, {max_length, padding = "longest"|"max_length",
 *                    head, add_special_tokens = true})
 *     -> {input_ids = int64 [B, T], attention_mask = float32 [B, T], lengths = int64 [B]}
 *   tok:encode_flat(texts [, {separator = true}]) -> ids int64 [total], lengths int64 [N]
 *   tok:decode(ids [, {skip_special_tokens = true}]) -> text (a list of texts for [B, T])
 *   tok:save(path) (JSON, atomic), tok:to_json()
 *   tok:token_to_id(s) -> id or nil, tok:id_to_token(id) -> s or nil
 *   fields: vocab_size, num_merges, lowercase, max_word_chars, pad_id,
 *     unk_id, cls_id, sep_id, mask_id; #tok is vocab_size.
 *
 * Token ids are 1-based in Lua ([PAD] 1, [UNK] 2, [CLS] 3, [SEP] 4, [MASK]
 * 5), 0-based in the core: converted here. Texts are byte strings; any
 * byte sequence encodes (invalid UTF-8 bytes become byte tokens). Lists of
 * texts are read with lua_rawlen (a __len metamethod is not trusted), and
 * every element must be a string.
 */
#include <stdlib.h>
#include <string.h>

#include "lua_common.h"

#define MGL_TOKENIZER "moongrad.Tokenizer"

typedef struct {
    mg_tokenizer *t;
} mgl_tok;

static mg_tokenizer *check_tok(lua_State *L, int i, const char *op) {
    mgl_tok *u = luaL_testudata(L, i, MGL_TOKENIZER);
    if (!u) luaL_error(L, "%s: expected a Tokenizer, got %s", op, luaL_typename(L, i));
    if (!u->t) luaL_error(L, "%s: the Tokenizer was freed", op);
    return u->t;
}

static int push_tok(lua_State *L, mg_tokenizer *t) {
    if (!t) return mgl_error(L);
    mgl_tok *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->t = t;
    luaL_setmetatable(L, MGL_TOKENIZER);
    return 1;
}

/* The strings of the list at index i, in Lua-owned scratch (pushed). */
static int64_t text_list(lua_State *L, int i, const char ***texts, size_t **lens, const char *op) {
    if (lua_type(L, i) != LUA_TTABLE)
        luaL_error(L, "%s: texts must be a list of strings, got %s", op, luaL_typename(L, i));
    int64_t n = (int64_t)lua_rawlen(L, i);
    const char **s = mgl_scratch(L, (size_t)(n ? n : 1) * sizeof *s);
    size_t *l = mgl_scratch(L, (size_t)(n ? n : 1) * sizeof *l);
    for (int64_t k = 1; k <= n; k++) {
        lua_rawgeti(L, i, k);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: texts[%d] is a %s, expected a string", op, (int)k, luaL_typename(L, -1));
        s[k - 1] = lua_tolstring(L, -1, &l[k - 1]); /* kept alive by the list */
        lua_pop(L, 1);
    }
    *texts = s;
    *lens = l;
    return n;
}

/***
 * @module moongrad
 */

/*** Tokenizers.
 * @section tokenizers
 */

/*** Trains a BPE tokenizer (also mg.text.Tokenizer.train, which takes a
 * dataset too). The tokenizer's methods: `tok:encode(text [,
 * {add_special_tokens = false}])` -> {ids}; `tok:tokenize(text)` -> {token
 * strings}; `tok:encode_batch(texts, {max_length, padding =
 * "longest"|"max_length", head, add_special_tokens = true})` ->
 * `{input_ids = int64 [B, T], attention_mask = float32 [B, T], lengths =
 * int64 [B]}`; `tok:encode_flat(texts [, {separator = true}])` -> ids int64
 * [total], lengths int64 [N]; `tok:decode(ids [, {skip_special_tokens =
 * true}])` -> text (a list of texts for [B, T]); `tok:save(path)` (JSON,
 * atomic); `tok:to_json()`; `tok:token_to_id(s)` -> id or nil;
 * `tok:id_to_token(id)` -> s or nil. Fields: vocab_size, num_merges,
 * lowercase, max_word_chars, pad_id, unk_id, cls_id, sep_id, mask_id;
 * `#tok` is vocab_size. Ids are 1-based.
 * @function tokenizer_train
 * @tparam {string,...} texts
 * @tparam[opt] table opts `{vocab_size = 8192, min_frequency = 2, max_word_chars = 100,
 *   lowercase = true}`
 * @treturn Tokenizer
 * @usage local tok = mg.tokenizer_train({"a first text", "a second one"}, {vocab_size = 800})
 * print(table.concat(tok:tokenize("a first one"), " "))
 */
static int l_train(lua_State *L) {
    lua_settop(L, 2);
    static const char *const known[] = {"vocab_size", "min_frequency", "max_word_chars", "lowercase", NULL};
    mgl_check_keys(L, 2, "tokenizer_train", known);
    lua_Integer vocab = mgl_opt_int(L, 2, "vocab_size", 8192, "tokenizer_train");
    lua_Integer minf = mgl_opt_int(L, 2, "min_frequency", 2, "tokenizer_train");
    lua_Integer mwc = mgl_opt_int(L, 2, "max_word_chars", 100, "tokenizer_train");
    bool lower = mgl_opt_bool(L, 2, "lowercase", true, "tokenizer_train");
    if (vocab < 0 || vocab > (1 << 20))
        return luaL_error(L, "tokenizer_train: vocab_size must be in 705..1048576, got %I", vocab);
    if (minf < 1 || minf > INT32_MAX)
        return luaL_error(L, "tokenizer_train: min_frequency must be a positive integer, got %I", minf);
    if (mwc < 1 || mwc > 1000) return luaL_error(L, "tokenizer_train: max_word_chars must be in 1..1000, got %I", mwc);
    const char **texts;
    size_t *lens;
    int64_t n = text_list(L, 1, &texts, &lens, "tokenizer_train");
    mg_bpe_opts o = {.vocab_size = (int)vocab, .min_frequency = (int)minf, .max_word_chars = (int)mwc,
                     .lowercase = lower};
    return push_tok(L, mg_bpe_train(n, texts, lens, &o));
}

/*** A tokenizer saved with tok:save(path).
 * @function tokenizer_load
 * @string path a JSON file
 * @treturn Tokenizer
 */
static int l_load(lua_State *L) { return push_tok(L, mg_tokenizer_load(luaL_checkstring(L, 1))); }

/*** A tokenizer from tok:to_json()'s text.
 * @function tokenizer_from_json
 * @string json
 * @treturn Tokenizer
 */
static int l_from_json(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    return push_tok(L, mg_tokenizer_from_json(s, n));
}

/*** The text as the tokenizer sees it: lower-cased, pieces joined by one
 * space where white space separated them; decode(encode(text)) equals it.
 * @function text_normalize
 * @string text
 * @tparam[opt] table opts `{lowercase = true}`
 * @treturn string
 */
static int l_normalize(lua_State *L) {
    lua_settop(L, 2);
    size_t n, out_n;
    const char *s = luaL_checklstring(L, 1, &n);
    static const char *const known[] = {"lowercase", NULL};
    mgl_check_keys(L, 2, "text_normalize", known);
    bool lower = mgl_opt_bool(L, 2, "lowercase", true, "text_normalize");
    char *out = mg_text_normalize(s, n, lower, &out_n);
    if (!out) return mgl_error(L);
    lua_pushlstring(L, out, out_n);
    free(out);
    return 1;
}

static void to_lua_ids(mg_tensor *t);

/*** Hashed word and word-pair counts of texts, for linear models (the
 * TF-IDF floor, mg.text.baseline): words are the tokenizer's pieces that
 * are not punctuation, lower-cased; text i's distinct bins are entries
 * offsets[i] + 1 .. offsets[i + 1] of ids (ascending) and counts.
 * @function text_ngrams
 * @tparam {string,...} texts
 * @tparam[opt] table opts `{buckets = 2^20, ngrams = 2 (words and pairs) or 1, lowercase = true}`
 * @treturn Tensor ids int64 [nnz], 1-based bins
 * @treturn Tensor counts float32 [nnz]
 * @treturn Tensor offsets int64 [N + 1]
 */
static int l_ngrams(lua_State *L) {
    lua_settop(L, 2);
    const char *op = "text_ngrams";
    static const char *const known[] = {"buckets", "ngrams", "lowercase", NULL};
    mgl_check_keys(L, 2, op, known);
    lua_Integer buckets = mgl_opt_int(L, 2, "buckets", 1 << 20, op);
    lua_Integer ngrams = mgl_opt_int(L, 2, "ngrams", 2, op);
    bool lower = mgl_opt_bool(L, 2, "lowercase", true, op);
    if (ngrams < 1 || ngrams > 2) return luaL_error(L, "%s: ngrams must be 1 or 2, got %I", op, ngrams);
    const char **texts;
    size_t *lens;
    int64_t n = text_list(L, 1, &texts, &lens, op);
    mg_ngram_opts o = {.buckets = buckets, .ngrams = (int)ngrams, .lowercase = lower};
    mg_tensor *ids, *counts, *offsets;
    if (mg_text_ngrams(n, texts, lens, &o, &ids, &counts, &offsets)) return mgl_error(L);
    to_lua_ids(ids);
    mgl_push(L, ids);
    mgl_push(L, counts);
    mgl_push(L, offsets);
    return 3;
}

/* ---- methods ------------------------------------------------------------------- */

/* Encodes s into a malloc'd buffer; raises (after freeing) on failure. */
static int32_t *encode_one(lua_State *L, mg_tokenizer *t, const char *s, size_t n, int64_t *count) {
    int32_t *ids = NULL;
    int64_t cap = 0;
    if (mg_tokenizer_encode(t, s, n, &ids, count, &cap)) {
        free(ids);
        mgl_error(L);
    }
    return ids;
}

static int m_encode(lua_State *L) {
    lua_settop(L, 3);
    mg_tokenizer *t = check_tok(L, 1, "encode");
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    static const char *const known[] = {"add_special_tokens", NULL};
    mgl_check_keys(L, 3, "encode", known);
    bool special = mgl_opt_bool(L, 3, "add_special_tokens", false, "encode");
    int64_t count;
    int32_t *ids = encode_one(L, t, s, n, &count);
    if (count + 2 > INT32_MAX) {
        free(ids);
        return luaL_error(L, "encode: %I tokens do not fit a Lua list", (lua_Integer)count);
    }
    if (!lua_checkstack(L, 4)) {
        free(ids);
        return luaL_error(L, "encode: out of stack");
    }
    lua_createtable(L, (int)count + 2, 0); /* may raise on memory: ids leak then, as any Lua allocation failure */
    int k = 1;
    if (special) lua_pushinteger(L, 3), lua_rawseti(L, -2, k++);
    for (int64_t i = 0; i < count; i++) {
        lua_pushinteger(L, ids[i] + 1);
        lua_rawseti(L, -2, k++);
    }
    if (special) lua_pushinteger(L, 4), lua_rawseti(L, -2, k++);
    free(ids);
    return 1;
}

static int m_tokenize(lua_State *L) {
    lua_settop(L, 2);
    mg_tokenizer *t = check_tok(L, 1, "tokenize");
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    int64_t count;
    int32_t *ids = encode_one(L, t, s, n, &count);
    /* the ids go to Lua-owned scratch first, so a raised allocation error leaks nothing */
    int32_t *kept = lua_newuserdatauv(L, (size_t)(count ? count : 1) * sizeof *kept, 0);
    memcpy(kept, ids, (size_t)count * sizeof *kept);
    free(ids);
    lua_createtable(L, count > INT32_MAX ? 0 : (int)count, 0);
    for (int64_t i = 0; i < count; i++) {
        size_t len;
        const char *tok = mg_tokenizer_token(t, kept[i], &len);
        lua_pushlstring(L, tok, len);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* Adds 1 to every element of a fresh contiguous int64 tensor (0-based ids -> Lua's). */
static void to_lua_ids(mg_tensor *t) {
    int64_t *p = mg_i64(t), n = mg_numel(t);
    for (int64_t i = 0; i < n; i++) p[i] += 1;
}

static int m_encode_batch(lua_State *L) {
    lua_settop(L, 3);
    const char *op = "encode_batch";
    mg_tokenizer *t = check_tok(L, 1, op);
    static const char *const known[] = {"max_length", "padding", "head", "add_special_tokens", NULL};
    mgl_check_keys(L, 3, op, known);
    lua_Integer max_length = mgl_opt_int(L, 3, "max_length", 0, op);
    lua_Integer head = mgl_opt_int(L, 3, "head", -1, op);
    const char *padding = mgl_opt_string(L, 3, "padding", "longest", op);
    bool special = mgl_opt_bool(L, 3, "add_special_tokens", true, op);
    if (max_length < 0 || max_length > (1 << 24))
        return luaL_error(L, "%s: max_length must be in 1..16777216 (or nil: no truncation), got %I", op, max_length);
    if (strcmp(padding, "longest") && strcmp(padding, "max_length"))
        return luaL_error(L, "%s: padding must be \"longest\" or \"max_length\", got \"%s\"", op, padding);
    bool pad_max = !strcmp(padding, "max_length");
    if (pad_max && max_length == 0) return luaL_error(L, "%s: padding = \"max_length\" needs max_length", op);
    if (head < -1) return luaL_error(L, "%s: head must be an integer >= 0, got %I", op, head);
    const char **texts;
    size_t *lens;
    int64_t n = text_list(L, 2, &texts, &lens, op);
    mg_encode_opts o = {.max_length = max_length, .head = head, .add_special = special, .pad_to_max = pad_max};
    mg_tensor *ids, *mask, *lengths;
    if (mg_tokenizer_encode_batch(t, n, texts, lens, &o, &ids, &mask, &lengths)) return mgl_error(L);
    to_lua_ids(ids);
    lua_createtable(L, 0, 3);
    int tbl = lua_gettop(L);
    /* mgl_push takes each reference; push them all before anything can raise */
    mgl_push(L, ids);
    lua_setfield(L, tbl, "input_ids");
    mgl_push(L, mask);
    lua_setfield(L, tbl, "attention_mask");
    mgl_push(L, lengths);
    lua_setfield(L, tbl, "lengths");
    return 1;
}

static int m_encode_flat(lua_State *L) {
    lua_settop(L, 3);
    const char *op = "encode_flat";
    mg_tokenizer *t = check_tok(L, 1, op);
    static const char *const known[] = {"separator", NULL};
    mgl_check_keys(L, 3, op, known);
    bool sep = mgl_opt_bool(L, 3, "separator", true, op);
    const char **texts;
    size_t *lens;
    int64_t n = text_list(L, 2, &texts, &lens, op);
    int32_t *all = NULL, *one = NULL;
    int64_t all_n = 0, all_cap = 0, one_n = 0, one_cap = 0;
    int64_t shape[1] = {n};
    mg_tensor *lengths = mg_empty(MG_I64, 1, shape);
    if (!lengths) return mgl_error(L);
    int status = MG_OK;
    for (int64_t i = 0; i < n && status == MG_OK; i++) {
        status = mg_tokenizer_encode(t, texts[i], lens[i], &one, &one_n, &one_cap);
        if (status) break;
        int64_t extra = sep ? 1 : 0;
        if (all_n + one_n + extra > all_cap) {
            int64_t c = all_cap ? all_cap : 1 << 16;
            while (c < all_n + one_n + extra) c *= 2;
            int32_t *p = realloc(all, (size_t)c * sizeof *p);
            if (!p) {
                status = mg_error("%s: out of memory for %lld ids", op, (long long)c);
                break;
            }
            all = p;
            all_cap = c;
        }
        memcpy(all + all_n, one, (size_t)one_n * sizeof *one);
        all_n += one_n;
        if (sep) all[all_n++] = 3;
        mg_i64(lengths)[i] = one_n + extra;
    }
    free(one);
    shape[0] = all_n;
    mg_tensor *ids = status ? NULL : mg_empty(MG_I64, 1, shape);
    if (ids)
        for (int64_t i = 0; i < all_n; i++) mg_i64(ids)[i] = all[i] + 1;
    free(all);
    if (!ids) {
        mg_release(lengths);
        return mgl_error(L);
    }
    mgl_push(L, ids);
    mgl_push(L, lengths);
    return 2;
}

/* ids at index i (a list of integers or a 1-d int64 Tensor) -> 0-based ids in scratch. */
static int64_t read_ids(lua_State *L, int i, mg_tokenizer *t, int64_t **out, const char *op) {
    int vocab = mg_tokenizer_vocab_size(t);
    if (mgl_is_tensor(L, i)) {
        mg_tensor *x = mgl_check(L, i);
        if (x->dtype != MG_I64 || x->ndim != 1)
            luaL_error(L, "%s: ids must be a list of integers or an int64 Tensor [n] or [B, n], got a %s Tensor "
                       "of %d dims", op, mg_dtype_name(x->dtype), x->ndim);
        int64_t n = mg_numel(x);
        int64_t *v = mgl_scratch(L, (size_t)(n ? n : 1) * sizeof *v);
        for (int64_t k = 0; k < n; k++) v[k] = (int64_t)mg_get_flat(x, k);
        *out = v;
    } else {
        if (lua_type(L, i) != LUA_TTABLE)
            luaL_error(L, "%s: ids must be a list of integers or an int64 Tensor, got %s", op, luaL_typename(L, i));
        int64_t n = (int64_t)lua_rawlen(L, i);
        int64_t *v = mgl_scratch(L, (size_t)(n ? n : 1) * sizeof *v);
        for (int64_t k = 1; k <= n; k++) {
            lua_rawgeti(L, i, k);
            int ok;
            lua_Integer id = lua_tointegerx(L, -1, &ok);
            if (!ok) luaL_error(L, "%s: ids[%d] is not an integer (%s)", op, (int)k, luaL_typename(L, -1));
            v[k - 1] = id;
            lua_pop(L, 1);
        }
        *out = v;
    }
    int64_t n = mgl_is_tensor(L, i) ? mg_numel(mgl_check(L, i)) : (int64_t)lua_rawlen(L, i);
    for (int64_t k = 0; k < n; k++) {
        if ((*out)[k] < 1 || (*out)[k] > vocab)
            luaL_error(L, "%s: id %I at position %d is out of range 1..%d", op, (lua_Integer)(*out)[k], (int)k + 1,
                       vocab);
        (*out)[k] -= 1;
    }
    return n;
}

static void push_decoded(lua_State *L, mg_tokenizer *t, const int64_t *ids, int64_t n, bool skip) {
    size_t len;
    char *s = mg_tokenizer_decode(t, ids, n, skip, &len);
    if (!s) mgl_error(L);
    /* copy into a Lua-owned buffer first so a raising pushlstring cannot leak s */
    char *kept = lua_newuserdatauv(L, len ? len : 1, 0);
    memcpy(kept, s, len);
    free(s);
    lua_pushlstring(L, kept, len);
    lua_remove(L, -2);
}

static int m_decode(lua_State *L) {
    lua_settop(L, 3);
    const char *op = "decode";
    mg_tokenizer *t = check_tok(L, 1, op);
    static const char *const known[] = {"skip_special_tokens", NULL};
    mgl_check_keys(L, 3, op, known);
    bool skip = mgl_opt_bool(L, 3, "skip_special_tokens", true, op);
    if (mgl_is_tensor(L, 2) && mgl_check(L, 2)->ndim == 2 && mgl_check(L, 2)->dtype == MG_I64) {
        mg_tensor *x = mgl_check(L, 2);
        int64_t rows = x->shape[0], cols = x->shape[1], vocab = mg_tokenizer_vocab_size(t);
        int64_t *v = mgl_scratch(L, (size_t)(cols ? cols : 1) * sizeof *v);
        lua_createtable(L, rows > INT32_MAX ? 0 : (int)rows, 0);
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t c = 0; c < cols; c++) {
                v[c] = (int64_t)mg_get_flat(x, r * cols + c);
                if (v[c] < 1 || v[c] > vocab)
                    return luaL_error(L, "%s: id %I at [%d, %d] is out of range 1..%d", op, (lua_Integer)v[c],
                                      (int)r + 1, (int)c + 1, (int)vocab);
                v[c] -= 1;
            }
            push_decoded(L, t, v, cols, skip);
            lua_rawseti(L, -2, r + 1);
        }
        return 1;
    }
    int64_t *ids;
    int64_t n = read_ids(L, 2, t, &ids, op);
    push_decoded(L, t, ids, n, skip);
    return 1;
}

static int m_save(lua_State *L) {
    mg_tokenizer *t = check_tok(L, 1, "save");
    const char *path = luaL_checkstring(L, 2);
    if (mg_tokenizer_save(t, path)) return mgl_error(L);
    return 0;
}

static int m_to_json(lua_State *L) {
    mg_tokenizer *t = check_tok(L, 1, "to_json");
    size_t n;
    char *s = mg_tokenizer_to_json(t, &n);
    if (!s) return mgl_error(L);
    char *kept = lua_newuserdatauv(L, n ? n : 1, 0);
    memcpy(kept, s, n);
    free(s);
    lua_pushlstring(L, kept, n);
    return 1;
}

static int m_token_to_id(lua_State *L) {
    mg_tokenizer *t = check_tok(L, 1, "token_to_id");
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    int id = mg_tokenizer_token_id(t, s, n);
    if (id < 0) lua_pushnil(L);
    else lua_pushinteger(L, id + 1);
    return 1;
}

static int m_id_to_token(lua_State *L) {
    mg_tokenizer *t = check_tok(L, 1, "id_to_token");
    lua_Integer id = mgl_int(L, 2, "id_to_token", "id");
    size_t n;
    const char *s = id >= 1 && id <= INT32_MAX ? mg_tokenizer_token(t, id - 1, &n) : NULL;
    if (!s) lua_pushnil(L);
    else lua_pushlstring(L, s, n);
    return 1;
}

static int m_len(lua_State *L) {
    lua_pushinteger(L, mg_tokenizer_vocab_size(check_tok(L, 1, "#")));
    return 1;
}

static int m_tostring(lua_State *L) {
    mg_tokenizer *t = check_tok(L, 1, "tostring");
    lua_pushfstring(L, "Tokenizer(BPE, %d tokens, %d merges%s)", mg_tokenizer_vocab_size(t),
                    mg_tokenizer_merge_count(t), mg_tokenizer_lowercase(t) ? ", lowercase" : "");
    return 1;
}

static int m_gc(lua_State *L) {
    mgl_tok *u = luaL_checkudata(L, 1, MGL_TOKENIZER);
    mg_tokenizer_free(u->t);
    u->t = NULL;
    return 0;
}

/* Methods first, then the read-only fields. */
static int m_index(lua_State *L) {
    mg_tokenizer *t = check_tok(L, 1, "Tokenizer");
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    if (!lua_isnil(L, -1)) return 1;
    const char *k = lua_tostring(L, 2);
    if (!k) return 1;
    static const char *const ids[] = {"pad_id", "unk_id", "cls_id", "sep_id", "mask_id"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(k, ids[i])) return lua_pushinteger(L, i + 1), 1;
    if (!strcmp(k, "vocab_size")) return lua_pushinteger(L, mg_tokenizer_vocab_size(t)), 1;
    if (!strcmp(k, "num_merges")) return lua_pushinteger(L, mg_tokenizer_merge_count(t)), 1;
    if (!strcmp(k, "lowercase")) return lua_pushboolean(L, mg_tokenizer_lowercase(t)), 1;
    if (!strcmp(k, "max_word_chars")) return lua_pushinteger(L, mg_tokenizer_max_word_chars(t)), 1;
    return luaL_error(L, "Tokenizer: no field or method '%s'", k);
}

void mgl_open_tokenizer(lua_State *L) {
    const luaL_Reg methods[] = {{"encode", m_encode}, {"tokenize", m_tokenize}, {"encode_batch", m_encode_batch},
                                {"encode_flat", m_encode_flat}, {"decode", m_decode}, {"save", m_save},
                                {"to_json", m_to_json}, {"token_to_id", m_token_to_id},
                                {"id_to_token", m_id_to_token}, {NULL, NULL}};
    luaL_newmetatable(L, MGL_TOKENIZER);
    luaL_newlib(L, methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "methods"); /* metatable.methods: for enumeration (fuzzing, docs) */
    lua_pushcclosure(L, m_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, m_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "Tokenizer");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    const luaL_Reg fns[] = {{"tokenizer_train", l_train},         {"tokenizer_load", l_load},
                            {"tokenizer_from_json", l_from_json}, {"text_normalize", l_normalize},
                            {"text_ngrams", l_ngrams},            {NULL, NULL}};
    mgl_register(L, -1, fns, false);
}
