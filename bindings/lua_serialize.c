/*
 * Lua bindings: safetensors files.
 *   mg.save(path, {name = Tensor, ...} [, {key = "string value", ...}])
 *     writes atomically: a failed or interrupted save leaves the previous
 *     file as it was. Non-contiguous tensors are written in row-major order.
 *   mg.load(path) -> {name = Tensor, ...}, {key = "value", ...}
 *     the tensors are new (no grad) and the metadata table is empty when the
 *     file has none. Any problem in the file raises an error naming the file
 *     and the problem.
 */
#include <stdlib.h>
#include <string.h>

#include "lua_common.h"
#include "../core/json.h"

/* The metadata table at index i as a JSON object, pushed on the stack.
 * A first pass checks it (and may raise); the second builds the text in C
 * and cannot raise while it holds memory. */
/***
 * @module moongrad
 */

/*** Files.
 * Weights and checkpoints are safetensors files (named tensors and string
 * metadata, readable by PyTorch's safetensors; loading never runs code).
 * @section files
 */
static void push_metadata_json(lua_State *L, int i) {
    lua_pushnil(L);
    while (lua_next(L, i)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "save: metadata keys must be strings, got a %s key", luaL_typename(L, -2));
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "save: metadata value of '%s' must be a string, got %s", lua_tostring(L, -2),
                       luaL_typename(L, -1));
        size_t kn, vn;
        const char *k = lua_tolstring(L, -2, &kn), *v = lua_tolstring(L, -1, &vn);
        if (!mg_utf8_valid(k, kn)) luaL_error(L, "save: a metadata key is not valid UTF-8");
        if (!mg_utf8_valid(v, vn)) luaL_error(L, "save: metadata value of '%s' is not valid UTF-8", k);
        lua_pop(L, 1);
    }
    mg_buf b = {0};
    mg_buf_puts(&b, "{");
    lua_pushnil(L);
    while (lua_next(L, i)) {
        size_t kn, vn;
        const char *k = lua_tolstring(L, -2, &kn), *v = lua_tolstring(L, -1, &vn);
        if (b.len > 1) mg_buf_puts(&b, ",");
        mg_buf_json_string(&b, k, kn);
        mg_buf_puts(&b, ":");
        mg_buf_json_string(&b, v, vn);
        lua_pop(L, 1);
    }
    mg_buf_puts(&b, "}");
    if (b.failed) {
        mg_buf_free(&b);
        luaL_error(L, "save: out of memory for the metadata");
    }
    lua_pushlstring(L, b.data, b.len);
    mg_buf_free(&b);
}

/*** Writes named tensors to a safetensors file, atomically: a failed or
 * interrupted save leaves the previous file as it was.
 * @function save
 * @string path
 * @tparam table tensors `{name = Tensor, ...}`
 * @tparam[opt] table metadata `{key = "string value", ...}`
 * @usage mg.save("model.safetensors", model:state_dict())
 */
static int l_save(lua_State *L) {
    lua_settop(L, 3);
    const char *path = luaL_checkstring(L, 1);
    if (!lua_istable(L, 2))
        return luaL_error(L, "save: expected a table of named tensors, got %s",
                          mgl_is_tensor(L, 2) ? "a Tensor" : luaL_typename(L, 2));
    if (!lua_isnil(L, 3) && !lua_istable(L, 3))
        return luaL_error(L, "save: metadata must be a table of strings, got %s", luaL_typename(L, 3));
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return luaL_error(L, "save: tensor names must be strings, got a %s key", luaL_typename(L, -2));
        if (!mgl_is_tensor(L, -1))
            return luaL_error(L, "save: value of '%s' must be a Tensor, got %s", lua_tostring(L, -2),
                              luaL_typename(L, -1));
        size_t len;
        const char *k = lua_tolstring(L, -2, &len);
        if (strlen(k) != len) return luaL_error(L, "save: a tensor name contains a NUL character");
        n++;
        lua_pop(L, 1);
    }
    const char **names = mgl_scratch(L, sizeof(char *) * (size_t)(n ? n : 1));
    mg_tensor **tensors = mgl_scratch(L, sizeof(mg_tensor *) * (size_t)(n ? n : 1));
    int k = 0;
    lua_pushnil(L);
    while (lua_next(L, 2) && k < n) { /* the table keeps the keys alive */
        names[k] = lua_tostring(L, -2);
        tensors[k] = mgl_check(L, -1);
        k++;
        lua_pop(L, 1);
    }
    lua_settop(L, 5);
    const char *meta = NULL;
    if (lua_istable(L, 3)) {
        push_metadata_json(L, 3);
        meta = lua_tostring(L, -1);
    }
    if (mg_save_safetensors(path, k, names, tensors, meta)) return mgl_error(L);
    return 0;
}

/* Pushes the metadata JSON object (from the file) as a Lua table of strings. */
static void push_metadata_table(lua_State *L, const char *json) {
    lua_newtable(L);
    if (!json) return;
    mg_json_doc doc;
    char err[300];
    if (mg_json_parse(json, strlen(json), &doc, err, sizeof err)) luaL_error(L, "load: metadata: %s", err);
    int t = lua_gettop(L);
    for (const mg_json_node *c = mg_json_child(&doc, &doc.nodes[0]); c; c = mg_json_next(&doc, c)) {
        if (c->type != MG_JSON_STRING) continue; /* the reader accepted only strings */
        lua_pushlstring(L, c->key, c->key_len);
        lua_pushlstring(L, c->str, c->str_len);
        lua_rawset(L, t);
    }
    mg_json_free(&doc);
}

/*** Reads a safetensors file.
 * @function load
 * @string path
 * @treturn table `{name = Tensor, ...}` (new tensors, no grad)
 * @treturn table the metadata `{key = "value", ...}` (empty when the file has none)
 * @usage model:load_state_dict(mg.load("model.safetensors"))
 */
static int l_load(lua_State *L) {
    lua_settop(L, 1);
    const char *path = luaL_checkstring(L, 1);
    int n;
    char **names, *meta;
    mg_tensor **tensors;
    if (mg_load_safetensors(path, &n, &names, &tensors, &meta)) return mgl_error(L);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        mgl_push(L, tensors[i]); /* takes over the reference */
        tensors[i] = NULL;
        lua_setfield(L, -2, names[i]);
    }
    mg_free_named(n, names, tensors);
    lua_pushstring(L, meta ? meta : "");
    free(meta);
    const char *json = lua_tostring(L, -1);
    push_metadata_table(L, json[0] ? json : NULL);
    lua_remove(L, -2);
    return 2;
}

void mgl_open_serialize(lua_State *L) {
    const luaL_Reg fns[] = {{"save", l_save}, {"load", l_load}, {NULL, NULL}};
    mgl_register(L, -1, fns, false);
}
