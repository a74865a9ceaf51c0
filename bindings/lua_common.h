/*
 * Glue between Lua 5.4 and the core: shared helpers of the binding files.
 *
 * Ownership rules:
 *  - A Lua Tensor is a full userdata holding exactly one reference to an
 *    mg_tensor. __gc (and __close, earlier) releases it; a closed Tensor
 *    raises an error when used again.
 *  - mgl_push() takes over the reference it is given. Core calls return
 *    new references, so `return mgl_push(L, mg_add(a, b));` is the whole
 *    pattern; a NULL result raises the core's message as a Lua error.
 *  - Tensors read with mgl_check() are borrowed for the duration of the
 *    call: the Lua stack keeps them alive.
 *  - Lua's collector cannot see tensor memory, so every push, before the
 *    new handle exists, steps the generational collector: a young
 *    collection after every 4 MB of tensor allocation (temporaries go back
 *    to the buffer cache while warm), and a full collection once the bytes
 *    that live tensors hold (mg_live_bytes) exceed those after the last
 *    full collection by a quarter (16 MB floor); see gc_check in
 *    lua_tensor.c. Memory stays bounded without collectgarbage() in user
 *    code.
 *  - Dims and indices are 1-based in Lua (negative counts from the end)
 *    and 0-based in the core; the helpers of lua_one_based.c (mgl_dim,
 *    mgl_index0, mgl_indices0, mgl_indices1, mgl_coord0) convert, and
 *    every binding calls them.
 *  - mgl_check_or_scalar, mgl_tensor_list and mgl_scratch push temporaries
 *    on the Lua stack; a function using them first fixes its argument count
 *    with lua_settop(L, n), so a temporary is never read as an optional
 *    argument.
 *  - Errors raised here never longjmp through core code: every core call
 *    has returned before luaL_error runs, and nothing is left unreleased
 *    (tensors made for a call are released before raising).
 */
#ifndef MGL_COMMON_H
#define MGL_COMMON_H

#include <lauxlib.h>
#include <lua.h>

#include "../core/mg.h"

#define MGL_TENSOR "moongrad.Tensor"

typedef struct {
    mg_tensor *t;
} mgl_tensor;

/* Pushes a Tensor taking over `t`; NULL raises the core's last error. */
int mgl_push(lua_State *L, mg_tensor *t);
/* Raises the core's last error. */
int mgl_error(lua_State *L);
/* The Tensor at index i (borrowed), or a type error naming the argument. */
mg_tensor *mgl_check(lua_State *L, int i);
/* nil/none -> NULL, else as mgl_check. */
mg_tensor *mgl_opt(lua_State *L, int i);
bool mgl_is_tensor(lua_State *L, int i);
/* A Tensor, or a number made into a 0-dim float32 Tensor that is pushed
 * on the Lua stack to keep it alive (so nothing leaks if a later check
 * raises). Borrowed either way. */
mg_tensor *mgl_check_or_scalar(lua_State *L, int i);
/* 1-based Lua <-> 0-based core, in lua_one_based.c and nowhere else. */
/* A 1-based Lua dim at index i, converted to 0-based for t (negatives from
 * the end). Raises a clear error when out of range. */
int mgl_dim(lua_State *L, int i, const mg_tensor *t, const char *op);
/* Same, for a dim value already read. */
int mgl_dim_value(lua_State *L, lua_Integer d, int ndim, const char *op);
/* A 1-based index i (negative from the end) into dim `dim` (0-based) of
 * size n, made 0-based; it must be at most `upto` (n for a position that
 * exists, n + 1 for the start of a range that may be empty). */
int64_t mgl_index0(lua_State *L, lua_Integer i, int64_t n, int64_t upto, int dim, const char *op, const char *what);
/* A new 0-based int64 copy of the 1-based values of t (new reference).
 * With n >= 0 each value must lie in 1..n (or equal *ignore), else the
 * error "op: what V out of range for n RANGE". */
mg_tensor *mgl_indices0(lua_State *L, const mg_tensor *t, int64_t n, const int64_t *ignore, const char *op,
                        const char *what, const char *range);
/* Takes ix (0-based indices from the core; NULL passes through) and
 * returns a new 1-based int64 copy. */
mg_tensor *mgl_indices1(mg_tensor *ix);
/* A 1-based pixel coordinate as the core's, refusing absurd values. */
double mgl_coord0(lua_State *L, double v, const char *op);
/* A new int64 copy of t [N, cols] with its first npos columns (1-based
 * positions) made 0-based; other shapes are copied as they are. */
mg_tensor *mgl_positions0(lua_State *L, const mg_tensor *t, int npos, const char *op, const char *what);
/* An integer argument (a float with an integer value is accepted). */
lua_Integer mgl_int(lua_State *L, int i, const char *op, const char *what);
/* A shape given as varargs (2, 3) or as a table {2, 3}, from index first
 * up to the first non-number; returns the index after the shape. */
int mgl_shape(lua_State *L, int first, int *ndim, int64_t *shape, const char *op);
/* Reads a dtype name ("float32", "float", "int64", "long", "uint8"). */
mg_dtype mgl_dtype(lua_State *L, const char *name, const char *op);

/* Options tables: fields of the table at index opts (absent/nil -> default). */
double mgl_opt_number(lua_State *L, int opts, const char *key, double def, const char *op);
lua_Integer mgl_opt_int(lua_State *L, int opts, const char *key, lua_Integer def, const char *op);
bool mgl_opt_bool(lua_State *L, int opts, const char *key, bool def, const char *op);
const char *mgl_opt_string(lua_State *L, int opts, const char *key, const char *def, const char *op);
/* Raises "op: unknown option 'x' (expected a, b)" for a key of the options
 * table at index opts that is not in `known` (NULL-ended); nil is fine. */
void mgl_check_keys(lua_State *L, int opts, const char *op, const char *const *known);
/* A list of Tensors in the table at index i: returns the count and sets
 * *out to an array of borrowed pointers that lives in a userdata pushed on
 * the stack (collected by Lua, so raising later leaks nothing). */
int mgl_tensor_list(lua_State *L, int i, mg_tensor ***out, const char *op);
/* Scratch memory owned by Lua (a userdata pushed on the stack). */
void *mgl_scratch(lua_State *L, size_t n);

/* Pushes one element value of t: an integer for int64/uint8 and for
 * integral float32 values (6, not 6.0), else a float. */
void mgl_push_number(lua_State *L, const mg_tensor *t, double v);
/* Torch7-style table keys (lua_slice.c): t[{2, {1, 3}}] read and write;
 * ti, key and value are stack indices. */
int mgl_slice_get(lua_State *L, int ti, int key);
int mgl_slice_set(lua_State *L, int ti, int key, int value);

/* Registers functions: into the module table at index `module` (if not 0)
 * and/or into the Tensor methods table (if methods is true). */
void mgl_register(lua_State *L, int module, const luaL_Reg *fns, bool methods);
/* Pushes the Tensor methods table. */
void mgl_push_methods(lua_State *L);

/* One per binding file, called by luaopen_moongrad_core with the module
 * table at the top of the stack. */
void mgl_open_tensor(lua_State *L);
void mgl_open_ops(lua_State *L);
void mgl_open_autograd(lua_State *L);
void mgl_open_index(lua_State *L);
void mgl_open_sort(lua_State *L);
void mgl_open_conv(lua_State *L);
void mgl_open_nn(lua_State *L);
void mgl_open_attention(lua_State *L);
void mgl_open_optim(lua_State *L);
void mgl_open_serialize(lua_State *L);
void mgl_open_io(lua_State *L);
void mgl_open_draw(lua_State *L);
void mgl_open_sys(lua_State *L);
void mgl_open_text(lua_State *L);
void mgl_open_tokenizer(lua_State *L);
void mgl_open_runtime(lua_State *L);
void mgl_open_augment(lua_State *L);

int luaopen_moongrad_core(lua_State *L);

/* Offers a C module's doc comments (a NULL-ended list generated by
 * bindings/core_docs.lua) as package.loaded[name], for `help`
 * (lua/moongrad/doc.lua). Inline: moongrad.dist uses it without linking
 * the bindings. */
static inline void mgl_offer_docs(lua_State *L, const char *name, const char *const *docs) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_newtable(L);
    for (int i = 0; docs[i]; i++) {
        lua_pushstring(L, docs[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

#endif
