/*
 * The Tensor userdata: helpers shared by all binding files, constructors,
 * element access, conversions, in-place writes and metamethods.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_common.h"

/* ---- memory accounting ---------------------------------------------------- */

#define YOUNG_STEP ((size_t)4 << 20)
#define GARBAGE_FLOOR ((size_t)16 << 20)
static size_t gc_threshold = GARBAGE_FLOOR, young_mark;

/* Lua runs its generational collector (set when the module opens).
 *  - After every 4 MB of tensor allocation, a young collection frees the
 *    temporaries made since the last one, so their buffers go back to the
 *    cache while still warm in the CPU caches and the next ops reuse them.
 *  - Handles that live through two young collections (a training step's
 *    longer-lived tensors) become old, and only a full collection frees
 *    them: one runs once live tensor bytes exceed those after the last
 *    full collection by a quarter (at least 16 MB). Measured on the
 *    rotation CNN step: peak memory 293 MB with a doubling rule, 173 MB
 *    with this one, at the same speed. */
static void gc_check(lua_State *L) {
    size_t total = mg_allocated_bytes();
    if (total - young_mark >= YOUNG_STEP) {
        young_mark = total;
        if (lua_gc(L, LUA_GCISRUNNING)) lua_gc(L, LUA_GCSTEP, 0);
    }
    size_t live = mg_live_bytes();
    if (live <= gc_threshold) return;
    lua_gc(L, LUA_GCCOLLECT);
    live = mg_live_bytes();
    gc_threshold = live + (live / 4 > GARBAGE_FLOOR ? live / 4 : GARBAGE_FLOOR);
}

/* ---- push and check ------------------------------------------------------- */

int mgl_error(lua_State *L) { return luaL_error(L, "%s", mg_last_error()); }

int mgl_push(lua_State *L, mg_tensor *t) {
    if (!t) return mgl_error(L);
    /* Collect before the new handle exists: the op's inputs are still on
     * the stack and survive this one, but the handles of the op before
     * them are gone. Collecting after it would age every intermediate
     * through two young collections into the old generation, which only
     * a full collection frees. */
    gc_check(L);
    mgl_tensor *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->t = t;
    luaL_setmetatable(L, MGL_TENSOR);
    return 1;
}

bool mgl_is_tensor(lua_State *L, int i) { return luaL_testudata(L, i, MGL_TENSOR) != NULL; }

mg_tensor *mgl_check(lua_State *L, int i) {
    mgl_tensor *u = luaL_testudata(L, i, MGL_TENSOR);
    if (!u) luaL_typeerror(L, i, "Tensor");
    if (!u->t) luaL_argerror(L, i, "Tensor was closed and cannot be used");
    return u->t;
}

mg_tensor *mgl_opt(lua_State *L, int i) { return lua_isnoneornil(L, i) ? NULL : mgl_check(L, i); }

mg_tensor *mgl_check_or_scalar(lua_State *L, int i) {
    if (lua_type(L, i) == LUA_TNUMBER) {
        mgl_push(L, mg_scalar(lua_tonumber(L, i)));
        return ((mgl_tensor *)lua_touserdata(L, -1))->t;
    }
    mgl_tensor *u = luaL_testudata(L, i, MGL_TENSOR);
    if (!u) luaL_typeerror(L, i, "Tensor or number");
    if (!u->t) luaL_argerror(L, i, "Tensor was closed and cannot be used");
    return u->t;
}

lua_Integer mgl_int(lua_State *L, int i, const char *op, const char *what) {
    int ok;
    lua_Integer v = lua_tointegerx(L, i, &ok);
    if (!ok) {
        if (lua_type(L, i) == LUA_TNUMBER)
            luaL_error(L, "%s: %s must be an integer, got %s", op, what, lua_tostring(L, i));
        luaL_error(L, "%s: %s must be an integer, got %s", op, what, luaL_typename(L, i));
    }
    return v;
}

int mgl_shape(lua_State *L, int first, int *ndim, int64_t *shape, const char *op) {
    int n = 0;
    if (lua_istable(L, first) && !mgl_is_tensor(L, first)) {
        lua_Integer len = (lua_Integer)lua_rawlen(L, first);
        if (len > MG_MAX_DIMS) luaL_error(L, "%s: at most %d dims are supported, got %d", op, MG_MAX_DIMS, (int)len);
        for (lua_Integer k = 1; k <= len; k++) {
            lua_rawgeti(L, first, k);
            shape[n++] = mgl_int(L, -1, op, "a size");
            lua_pop(L, 1);
        }
        *ndim = n;
        return first + 1;
    }
    int i = first;
    while (lua_type(L, i) == LUA_TNUMBER) {
        if (n >= MG_MAX_DIMS) luaL_error(L, "%s: at most %d dims are supported", op, MG_MAX_DIMS);
        shape[n++] = mgl_int(L, i, op, "a size");
        i++;
    }
    *ndim = n;
    return i;
}

mg_dtype mgl_dtype(lua_State *L, const char *name, const char *op) {
    if (!strcmp(name, "float32") || !strcmp(name, "float")) return MG_F32;
    if (!strcmp(name, "int64") || !strcmp(name, "long")) return MG_I64;
    if (!strcmp(name, "uint8") || !strcmp(name, "byte")) return MG_U8;
    luaL_error(L, "%s: unknown dtype '%s' (expected float32, int64 or uint8)", op, name);
    return MG_F32;
}

/* ---- options tables ------------------------------------------------------------ */

static bool opt_field(lua_State *L, int opts, const char *key, const char *op) {
    if (opts == 0 || lua_isnoneornil(L, opts)) return false;
    if (!lua_istable(L, opts)) luaL_error(L, "%s: options must be a table, got %s", op, luaL_typename(L, opts));
    lua_getfield(L, opts, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return false;
    }
    return true;
}

double mgl_opt_number(lua_State *L, int opts, const char *key, double def, const char *op) {
    if (!opt_field(L, opts, key, op)) return def;
    if (lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "%s: option '%s' must be a number, got %s", op, key, luaL_typename(L, -1));
    double v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

lua_Integer mgl_opt_int(lua_State *L, int opts, const char *key, lua_Integer def, const char *op) {
    if (!opt_field(L, opts, key, op)) return def;
    char what[96];
    snprintf(what, sizeof what, "option '%s'", key);
    lua_Integer v = mgl_int(L, -1, op, what);
    lua_pop(L, 1);
    return v;
}

bool mgl_opt_bool(lua_State *L, int opts, const char *key, bool def, const char *op) {
    if (!opt_field(L, opts, key, op)) return def;
    if (!lua_isboolean(L, -1))
        luaL_error(L, "%s: option '%s' must be a boolean, got %s", op, key, luaL_typename(L, -1));
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

const char *mgl_opt_string(lua_State *L, int opts, const char *key, const char *def, const char *op) {
    if (!opt_field(L, opts, key, op)) return def;
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: option '%s' must be a string, got %s", op, key, luaL_typename(L, -1));
    const char *v = lua_tostring(L, -1); /* stays valid: the table holds it */
    lua_pop(L, 1);
    return v;
}

/* Raises an error for an options table key not in `known` (NULL-ended),
 * in the one format of every options check (Lua's moongrad/options.lua
 * too): "op: unknown option 'k' (expected one of a, b, c)". */
void mgl_check_keys(lua_State *L, int opts, const char *op, const char *const *known) {
    if (lua_isnoneornil(L, opts)) return;
    if (!lua_istable(L, opts) || mgl_is_tensor(L, opts))
        luaL_error(L, "%s: options must be a table, got %s", op, luaL_typename(L, opts));
    lua_pushnil(L);
    while (lua_next(L, opts)) {
        bool ok = false;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (int k = 0; known[k]; k++) ok = ok || !strcmp(lua_tostring(L, -2), known[k]);
        if (!ok) {
            char list[160] = "";
            for (int k = 0; known[k]; k++) {
                strncat(list, k ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, known[k], sizeof list - strlen(list) - 1);
            }
            lua_pushvalue(L, -2);
            luaL_error(L, "%s: unknown option '%s' (expected one of %s)", op, luaL_tolstring(L, -1, NULL), list);
        }
        lua_pop(L, 1);
    }
}

void *mgl_scratch(lua_State *L, size_t n) { return lua_newuserdatauv(L, n ? n : 1, 0); }

int mgl_tensor_list(lua_State *L, int i, mg_tensor ***out, const char *op) {
    if (!lua_istable(L, i) || mgl_is_tensor(L, i))
        luaL_error(L, "%s: expected a list of Tensors, got %s", op, luaL_typename(L, i));
    int n = (int)lua_rawlen(L, i);
    mg_tensor **v = mgl_scratch(L, sizeof(mg_tensor *) * (size_t)(n ? n : 1));
    for (int k = 1; k <= n; k++) {
        lua_rawgeti(L, i, k);
        mgl_tensor *u = luaL_testudata(L, -1, MGL_TENSOR);
        if (!u || !u->t) luaL_error(L, "%s: element %d of the list is %s, expected a Tensor", op, k,
                                    u ? "a closed Tensor" : luaL_typename(L, -1));
        v[k - 1] = u->t;
        lua_pop(L, 1);
    }
    *out = v;
    return n;
}

void mgl_push_methods(lua_State *L) { lua_getfield(L, LUA_REGISTRYINDEX, "moongrad.methods"); }

void mgl_register(lua_State *L, int module, const luaL_Reg *fns, bool methods) {
    if (module) module = lua_absindex(L, module);
    mgl_push_methods(L);
    for (const luaL_Reg *f = fns; f->name; f++) {
        if (module) {
            lua_pushcfunction(L, f->func);
            lua_setfield(L, module, f->name);
        }
        if (methods) {
            lua_pushcfunction(L, f->func);
            lua_setfield(L, -2, f->name);
        }
    }
    lua_pop(L, 1);
}

/* ---- constructors --------------------------------------------------------------- */

/* A constructor's trailing argument at i: nothing, a dtype name ("int64")
 * or an options table {dtype = ..., requires_grad = ...}. Anything else,
 * or an unknown option, raises: a misspelt option must not silently give
 * float32. */
typedef struct {
    mg_dtype dtype;
    bool requires_grad;
} ctor_opts;

static ctor_opts ctor_options(lua_State *L, int i, const char *op, mg_dtype def) {
    ctor_opts o = {def, false};
    if (lua_isnoneornil(L, i)) return o;
    if (lua_type(L, i) == LUA_TSTRING) {
        o.dtype = mgl_dtype(L, lua_tostring(L, i), op);
        return o;
    }
    if (!lua_istable(L, i) || mgl_is_tensor(L, i))
        luaL_error(L, "%s: expected a dtype name or an options table {dtype = ..., requires_grad = ...} at argument %d, "
                      "got %s", op, i, mgl_is_tensor(L, i) ? "a Tensor" : luaL_typename(L, i));
    static const char *const known[] = {"dtype", "requires_grad", NULL};
    mgl_check_keys(L, i, op, known);
    o.dtype = mgl_dtype(L, mgl_opt_string(L, i, "dtype", mg_dtype_name(def), op), op);
    o.requires_grad = mgl_opt_bool(L, i, "requires_grad", false, op);
    return o;
}

/* Pushes a new tensor made by a constructor, with requires_grad if asked. */
static int push_made(lua_State *L, mg_tensor *t, const ctor_opts *o) {
    mgl_push(L, t);
    if (o->requires_grad && mg_set_requires_grad(t, true)) return mgl_error(L);
    return 1;
}

/* Shape plus a trailing dtype or options table: (2, 3, {dtype = "int64"}). */
static ctor_opts shape_and_options(lua_State *L, int first, int *nd, int64_t *shape, const char *op) {
    int next = mgl_shape(L, first, nd, shape, op);
    if (!lua_isnoneornil(L, next) && !lua_istable(L, next) && lua_type(L, next) != LUA_TSTRING)
        luaL_error(L, "%s: expected sizes then a dtype or an options table, got %s at argument %d", op,
                   luaL_typename(L, next), next);
    return ctor_options(L, next, op, MG_F32);
}

/***
 * @module moongrad
 */

/*** Creating tensors.
 * Sizes come as numbers (`mg.zeros(2, 3)`) or as one table
 * (`mg.zeros{2, 3}`). A dtype name or an options table may follow:
 * `{dtype = ..., requires_grad = false}`, dtype "float32" (the default),
 * "int64" or "uint8" (also "float", "long", "byte"); unknown options are
 * refused.
 * @section creating
 */

/*** A tensor filled with zeros.
 * @function zeros
 * @param ... the sizes, as numbers or one table
 * @tparam[opt] table opts a dtype name, or `{dtype = "float32", requires_grad = false}`
 * @treturn Tensor
 * @usage local x = mg.zeros(2, 3)                 -- [2, 3] float32
 * local ids = mg.zeros(4, {dtype = "int64"})
 */
static int l_zeros(lua_State *L) {
    int nd;
    int64_t shape[MG_MAX_DIMS];
    ctor_opts o = shape_and_options(L, 1, &nd, shape, "zeros");
    return push_made(L, mg_zeros(o.dtype, nd, shape), &o);
}

/*** A tensor filled with ones.
 * @function ones
 * @param ... the sizes, as numbers or one table
 * @tparam[opt] table opts a dtype name, or `{dtype = "float32", requires_grad = false}`
 * @treturn Tensor
 * @usage mg.ones(2, 3):sum():item()   --> 6
 */
static int l_ones(lua_State *L) {
    int nd;
    int64_t shape[MG_MAX_DIMS];
    ctor_opts o = shape_and_options(L, 1, &nd, shape, "ones");
    return push_made(L, mg_full(o.dtype, nd, shape, 1.0), &o);
}

/*** A tensor for values to be written into. Its elements are zero (no
 * stale memory leaks into results), so it is the same as `zeros`.
 * @function empty
 * @param ... the sizes, as numbers or one table
 * @tparam[opt] table opts a dtype name, or `{dtype = "float32", requires_grad = false}`
 * @treturn Tensor
 */
static int l_empty(lua_State *L) {
    int nd;
    int64_t shape[MG_MAX_DIMS];
    ctor_opts o = shape_and_options(L, 1, &nd, shape, "empty");
    return push_made(L, mg_zeros(o.dtype, nd, shape), &o); /* zeroed: no stale data leaks into results */
}

/*** A tensor filled with one value.
 * @function full
 * @param ... the sizes (numbers, or one table), then the value
 * @tparam[opt] table opts a dtype name, or `{dtype = "float32", requires_grad = false}`
 * @treturn Tensor
 * @usage mg.full(2, 3, 0.5)
 * mg.full({2, 3}, 7, {dtype = "int64"})
 */
static int l_full(lua_State *L) {
    int nd = 0;
    int64_t shape[MG_MAX_DIMS];
    int next;
    if (lua_istable(L, 1)) {
        next = mgl_shape(L, 1, &nd, shape, "full");
    } else { /* sizes, then the value: the last number */
        int last = 1;
        while (lua_type(L, last + 1) == LUA_TNUMBER) last++;
        if (lua_type(L, 1) != LUA_TNUMBER || last < 2)
            return luaL_error(L, "full: expected sizes and a value, as full(2, 3, value) or full({2, 3}, value)");
        if (last - 1 > MG_MAX_DIMS) return luaL_error(L, "full: at most %d dims are supported", MG_MAX_DIMS);
        for (int i = 1; i < last; i++) shape[nd++] = mgl_int(L, i, "full", "a size");
        next = last;
    }
    double v = luaL_checknumber(L, next);
    ctor_opts o = ctor_options(L, next + 1, "full", MG_F32);
    return push_made(L, mg_full(o.dtype, nd, shape, v), &o);
}

/* rand(2, 3 [, opts]), randn(...): float32 only */
static int random_shaped(lua_State *L, bool normal, const char *op) {
    int nd;
    int64_t shape[MG_MAX_DIMS];
    ctor_opts o = shape_and_options(L, 1, &nd, shape, op);
    if (o.dtype != MG_F32) return luaL_error(L, "%s: random values are float32, got dtype %s", op, mg_dtype_name(o.dtype));
    return push_made(L, normal ? mg_randn(nd, shape) : mg_rand(nd, shape), &o);
}

/*** Uniform random numbers in [0, 1), float32, from the seeded generator
 * (`manual_seed`).
 * @function rand
 * @param ... the sizes, as numbers or one table
 * @tparam[opt] table opts `{requires_grad = false}` (the dtype can only be float32)
 * @treturn Tensor
 * @usage mg.manual_seed(1); local u = mg.rand(3, 4)
 */
static int l_rand(lua_State *L) { return random_shaped(L, false, "rand"); }

/*** Standard normal random numbers (mean 0, standard deviation 1), float32.
 * @function randn
 * @param ... the sizes, as numbers or one table
 * @tparam[opt] table opts `{requires_grad = false}` (the dtype can only be float32)
 * @treturn Tensor
 * @usage local noise = mg.randn(64, 100)
 */
static int l_randn(lua_State *L) { return random_shaped(L, true, "randn"); }

/*** Random integers in [low, high), int64.
 * @function randint
 * @int low the smallest value
 * @int high one more than the largest value
 * @param ... the sizes, as numbers or one table
 * @treturn Tensor int64
 * @usage local labels = mg.randint(1, 11, 32)   -- 32 classes in 1..10
 */
static int l_randint(lua_State *L) {
    lua_Integer lo = mgl_int(L, 1, "randint", "low"), hi = mgl_int(L, 2, "randint", "high");
    int nd;
    int64_t shape[MG_MAX_DIMS];
    mgl_shape(L, 3, &nd, shape, "randint");
    return mgl_push(L, mg_randint(lo, hi, nd, shape));
}

/*** A random order of 1..n (1-based, like every index in Lua).
 * @function randperm
 * @int n how many
 * @treturn Tensor int64 [n]
 * @usage local order = mg.randperm(#ds)
 */
static int l_randperm(lua_State *L) {
    mg_tensor *p = mg_randperm(mgl_int(L, 1, "randperm", "n"));
    if (p) {
        int64_t n = mg_numel(p), *d = mg_i64(p);
        for (int64_t i = 0; i < n; i++) d[i] += 1;
    }
    return mgl_push(L, p);
}

/*** Evenly spaced values in [start, end), as Python's range: `arange(n)`
 * gives 0..n-1. The dtype is int64 when all arguments are integers, else
 * float32.
 * @function arange
 * @number start the first value (or, alone, the end with start 0)
 * @number[opt] end one step past the last value
 * @number[opt=1] step the spacing
 * @tparam[opt] table opts a dtype name, or `{dtype = ..., requires_grad = false}`
 * @treturn Tensor [ceil((end - start) / step)]
 * @usage mg.arange(4)            -- 0, 1, 2, 3 (int64)
 * mg.arange(0, 1, 0.25)  -- 0, 0.25, 0.5, 0.75 (float32)
 */
static int l_arange(lua_State *L) {
    double a[3];
    int n = 0;
    while (n < 3 && lua_type(L, n + 1) == LUA_TNUMBER) {
        a[n] = lua_tonumber(L, n + 1);
        n++;
    }
    if (n == 0) luaL_error(L, "arange: expected arange(end), arange(start, end) or arange(start, end, step)");
    bool ints = true;
    for (int k = 0; k < n; k++) ints = ints && lua_isinteger(L, k + 1);
    ctor_opts o = ctor_options(L, n + 1, "arange", ints ? MG_I64 : MG_F32);
    double start = n == 1 ? 0 : a[0], end = n == 1 ? a[0] : a[1], step = n == 3 ? a[2] : 1;
    return push_made(L, mg_arange(start, end, step, o.dtype), &o);
}

/*** `steps` evenly spaced values from start to end, both included.
 * @function linspace
 * @number start the first value
 * @number end the last value
 * @int steps how many values
 * @treturn Tensor float32 [steps]
 * @usage mg.linspace(0, 1, 5)   -- 0, 0.25, 0.5, 0.75, 1
 */
static int l_linspace(lua_State *L) {
    return mgl_push(L, mg_linspace(luaL_checknumber(L, 1), luaL_checknumber(L, 2), mgl_int(L, 3, "linspace", "steps")));
}

/*** The identity matrix.
 * @function eye
 * @int n its size
 * @treturn Tensor float32 [n, n]
 */
static int l_eye(lua_State *L) {
    lua_Integer n = mgl_int(L, 1, "eye", "n");
    if (n < 0) luaL_error(L, "eye: n must be >= 0, got %d", (int)n);
    return mgl_push(L, mg_eye(n));
}

/*** A 0-dim float32 tensor holding one number.
 * @function scalar
 * @number v the value
 * @treturn Tensor 0-dim
 * @usage mg.scalar(3):item()   --> 3
 */
static int l_scalar(lua_State *L) { return mgl_push(L, mg_scalar(luaL_checknumber(L, 1))); }

/* Shape of nested tables, following first elements. */
static void nested_shape(lua_State *L, int idx, int *nd, int64_t *shape) {
    int n = 0;
    lua_pushvalue(L, idx);
    while (lua_istable(L, -1) && !mgl_is_tensor(L, -1)) {
        if (n >= MG_MAX_DIMS) luaL_error(L, "tensor: nested tables deeper than %d levels", MG_MAX_DIMS);
        shape[n++] = (int64_t)lua_rawlen(L, -1);
        if (shape[n - 1] == 0) break;
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    *nd = n;
}

static void nested_fill(lua_State *L, int depth, int nd, const int64_t *shape, mg_tensor *t, int64_t *pos) {
    if (depth == nd) {
        double v = 0;
        if (t->dtype == MG_I64 && lua_isinteger(L, -1)) { /* exact beyond 2^53 */
            mg_i64(t)[(*pos)++] = lua_tointeger(L, -1);
            return;
        }
        if (lua_type(L, -1) == LUA_TNUMBER) v = lua_tonumber(L, -1);
        else if (lua_isboolean(L, -1)) v = lua_toboolean(L, -1);
        else luaL_error(L, "tensor: expected numbers, got %s at element %d", luaL_typename(L, -1), (int)(*pos + 1));
        mg_set_flat(t, (*pos)++, v);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "tensor: nested tables are not rectangular: expected a table at depth %d, got %s", depth + 1,
                   luaL_typename(L, -1));
    if ((int64_t)lua_rawlen(L, -1) != shape[depth])
        luaL_error(L, "tensor: nested tables are not rectangular: expected %d elements at depth %d, got %d",
                   (int)shape[depth], depth + 1, (int)lua_rawlen(L, -1));
    for (int64_t k = 1; k <= shape[depth]; k++) {
        lua_rawgeti(L, -1, k);
        nested_fill(L, depth + 1, nd, shape, t, pos);
        lua_pop(L, 1);
    }
}

/*** A tensor from a number, nested tables or another tensor. Nested
 * tables must be rectangular; booleans become 0 and 1.
 * @function tensor
 * @param data a number (0-dim result), nested tables of numbers, or a Tensor (copied)
 * @tparam[opt] table opts a dtype name, or `{dtype = "float32", requires_grad = false}`
 * @treturn Tensor
 * @usage local t = mg.tensor{{1, 2}, {3, 4}}               -- [2, 2] float32
 * local y = mg.tensor({3, 1}, {dtype = "int64"})
 */
static int l_tensor(lua_State *L) {
    lua_settop(L, 2);
    mg_dtype def = mgl_is_tensor(L, 1) ? mgl_check(L, 1)->dtype : MG_F32;
    ctor_opts o = ctor_options(L, 2, "tensor", def);
    if (lua_type(L, 1) == LUA_TNUMBER || lua_isboolean(L, 1)) {
        double v = lua_type(L, 1) == LUA_TNUMBER ? lua_tonumber(L, 1) : lua_toboolean(L, 1);
        return push_made(L, mg_full(o.dtype, 0, NULL, v), &o);
    }
    if (mgl_is_tensor(L, 1)) return push_made(L, mg_to_dtype(mgl_check(L, 1), o.dtype), &o);
    if (!lua_istable(L, 1)) return luaL_typeerror(L, 1, "number, table or Tensor");
    int nd;
    int64_t shape[MG_MAX_DIMS];
    nested_shape(L, 1, &nd, shape);
    mgl_push(L, mg_empty(o.dtype, nd, shape)); /* on the stack: collected if filling raises */
    mg_tensor *t = ((mgl_tensor *)lua_touserdata(L, -1))->t;
    lua_pushvalue(L, 1);
    int64_t pos = 0;
    nested_fill(L, 0, nd, shape, t, &pos);
    lua_pop(L, 1);
    if (o.requires_grad && mg_set_requires_grad(t, true)) return mgl_error(L);
    return 1;
}

/* zeros_like(t [, opts]), full_like(t, v [, opts]): t's shape, t's dtype
 * unless opts say otherwise; the options are at index `opts`. */
static int like(lua_State *L, double v, int opts, const char *op) {
    mg_tensor *t = mgl_check(L, 1);
    ctor_opts o = ctor_options(L, opts, op, t->dtype);
    return push_made(L, mg_full(o.dtype, t->ndim, t->shape, v), &o);
}
/*** Zeros of x's shape (and dtype, unless opts says otherwise).
 * @function zeros_like
 * @tparam Tensor x the model
 * @tparam[opt] table opts a dtype name, or `{dtype = ..., requires_grad = false}`
 * @treturn Tensor
 */
static int l_zeros_like(lua_State *L) { return like(L, 0, 2, "zeros_like"); }
/*** Ones of x's shape (and dtype, unless opts says otherwise).
 * @function ones_like
 * @tparam Tensor x the model
 * @tparam[opt] table opts a dtype name, or `{dtype = ..., requires_grad = false}`
 * @treturn Tensor
 */
static int l_ones_like(lua_State *L) { return like(L, 1, 2, "ones_like"); }
/*** One value in x's shape (and dtype, unless opts says otherwise).
 * @function full_like
 * @tparam Tensor x the model
 * @number value the value
 * @tparam[opt] table opts a dtype name, or `{dtype = ..., requires_grad = false}`
 * @treturn Tensor
 */
static int l_full_like(lua_State *L) { return like(L, luaL_checknumber(L, 2), 3, "full_like"); }

/* rand_like(t), randn_like(t): float32 of t's shape */
static int random_like(lua_State *L, bool normal, const char *op) {
    mg_tensor *t = mgl_check(L, 1);
    ctor_opts o = ctor_options(L, 2, op, MG_F32);
    if (o.dtype != MG_F32) return luaL_error(L, "%s: random values are float32, got dtype %s", op, mg_dtype_name(o.dtype));
    return push_made(L, normal ? mg_randn(t->ndim, t->shape) : mg_rand(t->ndim, t->shape), &o);
}
/*** Uniform random numbers in [0, 1) of x's shape, float32.
 * @function rand_like
 * @tparam Tensor x the model
 * @tparam[opt] table opts `{requires_grad = false}`
 * @treturn Tensor
 */
static int l_rand_like(lua_State *L) { return random_like(L, false, "rand_like"); }
/*** Standard normal random numbers of x's shape, float32.
 * @function randn_like
 * @tparam Tensor x the model
 * @tparam[opt] table opts `{requires_grad = false}`
 * @treturn Tensor
 */
static int l_randn_like(lua_State *L) { return random_like(L, true, "randn_like"); }

/* ---- inspection ------------------------------------------------------------------- */

static void push_shape(lua_State *L, const mg_tensor *t) {
    lua_createtable(L, t->ndim, 0);
    for (int d = 0; d < t->ndim; d++) {
        lua_pushinteger(L, t->shape[d]);
        lua_rawseti(L, -2, d + 1);
    }
}

/*** Shape, values and types.
 * Each of these is also a Tensor method: `x:shape()` is `mg.shape(x)`.
 * @section inspecting
 */

/*** The sizes of all dims.
 * @function shape
 * @tparam Tensor x
 * @treturn {int,...} a new table of sizes (empty for a 0-dim tensor)
 * @usage mg.zeros(2, 3):shape()   --> {2, 3}
 */
static int l_shape(lua_State *L) {
    push_shape(L, mgl_check(L, 1));
    return 1;
}

/*** One size, or all of them.
 * @function size
 * @tparam Tensor x
 * @int[opt] dim a dim (1-based; -1 is the last); without it, the shape table
 * @return the size of dim, or the shape table
 * @usage x:size(1)   -- the batch size of x
 */
static int l_size(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (lua_isnoneornil(L, 2)) {
        push_shape(L, t);
        return 1;
    }
    if (t->ndim == 0) return luaL_error(L, "size: a 0-dim tensor has no dims");
    lua_pushinteger(L, t->shape[mgl_dim(L, 2, t, "size")]);
    return 1;
}

/*** The strides of all dims, in elements.
 * @function stride
 * @tparam Tensor x
 * @treturn {int,...}
 */
static int l_stride(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int d = 0; d < t->ndim; d++) {
        lua_pushinteger(L, t->stride[d]);
        lua_rawseti(L, -2, d + 1);
    }
    return 1;
}

/*** The number of dims.
 * @function dim
 * @tparam Tensor x
 * @treturn int
 */
static int l_dim(lua_State *L) {
    lua_pushinteger(L, mgl_check(L, 1)->ndim);
    return 1;
}

/*** The number of elements.
 * @function numel
 * @tparam Tensor x
 * @treturn int
 */
static int l_numel(lua_State *L) {
    lua_pushinteger(L, mg_numel(mgl_check(L, 1)));
    return 1;
}

/*** Whether the elements lie in memory in row-major order without gaps
 * (views made by transpose, permute or expand are not).
 * @function is_contiguous
 * @tparam Tensor x
 * @treturn bool
 */
static int l_is_contiguous(lua_State *L) {
    lua_pushboolean(L, mg_is_contiguous(mgl_check(L, 1)));
    return 1;
}

/* Integral values come back as Lua integers (6, not 6.0); others as floats. */
/* Pushes element i (row-major) of t; int64 values exactly. */
static void push_element(lua_State *L, const mg_tensor *t, int64_t i) {
    if (t->dtype != MG_I64) {
        mgl_push_number(L, t, mg_get_flat(t, i));
        return;
    }
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (i % t->shape[d]) * t->stride[d];
        i /= t->shape[d];
    }
    lua_pushinteger(L, ((const int64_t *)t->storage->data)[off]);
}

void mgl_push_number(lua_State *L, const mg_tensor *t, double v) {
    if (t->dtype != MG_F32 || (v == floor(v) && fabs(v) < 9007199254740992.0 && !(v == 0 && signbit(v))))
        lua_pushinteger(L, (lua_Integer)v);
    else lua_pushnumber(L, v);
}

/*** The value of a one-element tensor, as a Lua number (an integer when
 * the value is integral).
 * @function item
 * @tparam Tensor x a tensor of exactly one element
 * @treturn number
 * @usage local l = loss:item()
 */
static int l_item(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (mg_numel(t) != 1)
        return luaL_error(L, "item: the tensor has %d elements, expected exactly 1", (int)mg_numel(t));
    push_element(L, t, 0);
    return 1;
}

static void totable_rec(lua_State *L, const mg_tensor *t, int depth, int64_t *pos) {
    if (depth == t->ndim) {
        push_element(L, t, (*pos)++);
        return;
    }
    luaL_checkstack(L, 4, "totable");
    lua_createtable(L, (int)t->shape[depth], 0);
    for (int64_t k = 0; k < t->shape[depth]; k++) {
        totable_rec(L, t, depth + 1, pos);
        lua_rawseti(L, -2, k + 1);
    }
}

/*** The values as nested Lua tables (a number for a 0-dim tensor).
 * @function totable
 * @tparam Tensor x
 * @treturn table
 * @usage mg.tensor{{1, 2}, {3, 4}}:totable()   --> {{1, 2}, {3, 4}}
 */
static int l_totable(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (mg_numel(t) > 50000000) return luaL_error(L, "totable: %d elements is too many for a Lua table", (int)mg_numel(t));
    int64_t pos = 0;
    totable_rec(L, t, 0, &pos);
    return 1;
}

/*** All values in row-major order, as one flat Lua list.
 * @function flat_values
 * @tparam Tensor x
 * @treturn {number,...}
 */
static int l_flat_values(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int64_t n = mg_numel(t);
    if (n > 50000000) return luaL_error(L, "flat_values: %d elements is too many", (int)n);
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        push_element(L, t, i);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* ---- conversions ------------------------------------------------------------------ */

/*** Converts to a dtype (x itself when it already has it). Float to int
 * conversions truncate towards zero.
 * @function to
 * @tparam Tensor x
 * @string dtype "float32", "int64" or "uint8" (or "float", "long", "byte")
 * @treturn Tensor
 * @usage local ids = x:to("int64")
 */
static int l_to(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    mg_dtype dt = mgl_dtype(L, luaL_checkstring(L, 2), "to");
    if (dt == t->dtype) return mgl_push(L, mg_retain(t));
    return mgl_push(L, mg_to_dtype(t, dt));
}

/*** Converts to float32 (x itself when it already is).
 * @function float
 * @tparam Tensor x
 * @treturn Tensor
 */
static int l_float(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    return mgl_push(L, t->dtype == MG_F32 ? mg_retain(t) : mg_to_dtype(t, MG_F32));
}

/*** Converts to int64 (x itself when it already is).
 * @function long
 * @tparam Tensor x
 * @treturn Tensor
 */
static int l_long(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    return mgl_push(L, t->dtype == MG_I64 ? mg_retain(t) : mg_to_dtype(t, MG_I64));
}

/*** Converts to uint8 (x itself when it already is).
 * @function byte
 * @tparam Tensor x
 * @treturn Tensor
 */
static int l_byte(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    return mgl_push(L, t->dtype == MG_U8 ? mg_retain(t) : mg_to_dtype(t, MG_U8));
}

/*** A contiguous tensor with x's values: x itself when it is contiguous,
 * else a copy.
 * @function contiguous
 * @tparam Tensor x
 * @treturn Tensor
 */
static int l_contiguous(lua_State *L) { return mgl_push(L, mg_contiguous(mgl_check(L, 1))); }
/*** A copy of x with its own storage (gradients flow back to x).
 * @function clone
 * @tparam Tensor x
 * @treturn Tensor
 */
static int l_clone(lua_State *L) { return mgl_push(L, mg_clone(mgl_check(L, 1))); }
/*** x without its autograd history: a view of the same values that does
 * not require grad, as PyTorch's detach.
 * @function detach
 * @tparam Tensor x
 * @treturn Tensor
 * @usage local target = model(x):detach()
 */
static int l_detach(lua_State *L) { return mgl_push(L, mg_detach(mgl_check(L, 1))); }

/* ---- in-place writes: return the tensor itself ---------------------------------------- */

static int self_or_error(lua_State *L, int rc) {
    if (rc != MG_OK) return mgl_error(L);
    lua_settop(L, 1);
    return 1;
}

/*** In-place writes.
 * Each returns x itself, so calls chain: `w:normal_(0, 0.02):requires_grad_()`.
 * @section inplace
 */

/*** Sets every element to value.
 * @function fill_
 * @tparam Tensor x
 * @number value
 * @treturn Tensor x
 */
static int l_fill_(lua_State *L) { return self_or_error(L, mg_fill_(mgl_check(L, 1), luaL_checknumber(L, 2))); }
/*** Sets every element to zero.
 * @function zero_
 * @tparam Tensor x
 * @treturn Tensor x
 */
static int l_zero_(lua_State *L) { return self_or_error(L, mg_zero_(mgl_check(L, 1))); }
/*** Fills with uniform random numbers in [low, high).
 * @function uniform_
 * @tparam Tensor x
 * @number[opt=0] low
 * @number[opt=1] high
 * @treturn Tensor x
 */
static int l_uniform_(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    return self_or_error(L, mg_uniform_(t, luaL_optnumber(L, 2, 0), luaL_optnumber(L, 3, 1)));
}
/*** Fills with normal random numbers.
 * @function normal_
 * @tparam Tensor x
 * @number[opt=0] mean
 * @number[opt=1] std the standard deviation
 * @treturn Tensor x
 */
static int l_normal_(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    return self_or_error(L, mg_normal_(t, luaL_optnumber(L, 2, 0), luaL_optnumber(L, 3, 1)));
}
/*** Fills with 1 with probability p, else 0.
 * @function bernoulli_
 * @tparam Tensor x
 * @number[opt=0.5] p
 * @treturn Tensor x
 */
static int l_bernoulli_(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    return self_or_error(L, mg_bernoulli_(t, luaL_optnumber(L, 2, 0.5)));
}
/*** Copies the values of src (broadcast to x's shape) into x.
 * @function copy_
 * @tparam Tensor x
 * @tparam Tensor|number src
 * @treturn Tensor x
 */
static int l_copy_(lua_State *L) {
    lua_settop(L, 2);
    mg_tensor *t = mgl_check(L, 1);
    return self_or_error(L, mg_copy_(t, mgl_check_or_scalar(L, 2)));
}
/*** Adds alpha * other to x.
 * @function add_
 * @tparam Tensor x
 * @tparam Tensor|number other broadcast to x's shape
 * @number[opt=1] alpha
 * @treturn Tensor x
 */
static int l_add_(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *t = mgl_check(L, 1), *o = mgl_check_or_scalar(L, 2);
    return self_or_error(L, mg_add_(t, o, luaL_optnumber(L, 3, 1)));
}
/*** Subtracts alpha * other from x.
 * @function sub_
 * @tparam Tensor x
 * @tparam Tensor|number other broadcast to x's shape
 * @number[opt=1] alpha
 * @treturn Tensor x
 */
static int l_sub_(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *t = mgl_check(L, 1), *o = mgl_check_or_scalar(L, 2);
    return self_or_error(L, mg_add_(t, o, -luaL_optnumber(L, 3, 1)));
}
/*** Multiplies x by other.
 * @function mul_
 * @tparam Tensor x
 * @tparam Tensor|number other broadcast to x's shape
 * @treturn Tensor x
 */
static int l_mul_(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) return self_or_error(L, mg_scale_(t, lua_tonumber(L, 2)));
    return self_or_error(L, mg_mul_(t, mgl_check(L, 2)));
}
/*** Divides x by a number.
 * @function div_
 * @tparam Tensor x
 * @number s
 * @treturn Tensor x
 */
static int l_div_(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    return self_or_error(L, mg_scale_(t, 1.0 / luaL_checknumber(L, 2)));
}
/*** Clamps x into [min, max]; nil leaves that side open.
 * @function clamp_
 * @tparam Tensor x
 * @number[opt] min
 * @number[opt] max
 * @treturn Tensor x
 */
static int l_clamp_(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    return self_or_error(L, mg_clamp_(t, luaL_optnumber(L, 2, NAN), luaL_optnumber(L, 3, NAN)));
}

/* ---- metamethods -------------------------------------------------------------------- */

static int l_gc(lua_State *L) {
    mgl_tensor *u = luaL_checkudata(L, 1, MGL_TENSOR);
    mg_release(u->t);
    u->t = NULL;
    return 0;
}

static int l_tostring_basic(lua_State *L) {
    mgl_tensor *u = luaL_checkudata(L, 1, MGL_TENSOR);
    if (!u->t) {
        lua_pushliteral(L, "Tensor (closed)");
        return 1;
    }
    char buf[256];
    lua_pushfstring(L, "Tensor %s %s", mg_shape_str(u->t, buf, sizeof buf), mg_dtype_name(u->t->dtype));
    return 1;
}

static int l_len(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (t->ndim == 0) return luaL_error(L, "#: a 0-dim tensor has no length");
    lua_pushinteger(L, t->shape[0]);
    return 1;
}

static int l_eq(lua_State *L) {
    mgl_tensor *a = luaL_testudata(L, 1, MGL_TENSOR), *b = luaL_testudata(L, 2, MGL_TENSOR);
    lua_pushboolean(L, a && b && a->t == b->t);
    return 1;
}

/* t[i] selects along the first dim (1-based, negative from the end). */
static int index_select_first(lua_State *L, mg_tensor *t, lua_Integer i) {
    if (t->ndim == 0) return luaL_error(L, "index: a 0-dim tensor cannot be indexed");
    lua_Integer n = t->shape[0];
    if (i == 0 || i > n || i < -n)
        return luaL_error(L, "index: %d out of range for dim 1 of size %d", (int)i, (int)n);
    return mgl_push(L, mg_select(t, 0, i > 0 ? i - 1 : i + n));
}

/* A key that is neither a method nor a field: the Lua side (tensor.lua)
 * raises an error naming what the user probably meant. */
static int unknown_field(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, "moongrad.unknown_field");
    if (lua_isfunction(L, -1)) {
        lua_pushvalue(L, 2);
        lua_call(L, 1, 0); /* raises */
    }
    return luaL_error(L, "Tensor has no field or method '%s'", lua_tostring(L, 2));
}

/* An integer key given as a float (x[2.0]) counts as the integer. */
static bool integer_key(lua_State *L, int i, lua_Integer *v) {
    int ok;
    *v = lua_tointegerx(L, i, &ok);
    return ok && lua_type(L, i) == LUA_TNUMBER;
}

static int bad_key(lua_State *L, bool write) {
    const char *what = lua_type(L, 2) == LUA_TNUMBER ? lua_tostring(L, 2)
                       : mgl_is_tensor(L, 2)        ? "a Tensor (use index_select or masked_fill)"
                                                    : luaL_typename(L, 2);
    return luaL_error(L, "index: cannot %s a Tensor with %s; use an integer, a table such as {2, {1, 3}}, "
                         "or a field name", write ? "assign into" : "index", what);
}

/* __index: methods first, then properties, then integer and table keys. */
static int l_index(lua_State *L) {
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(1));
        if (!lua_isnil(L, -1)) return 1;
        const char *k = lua_tostring(L, 2);
        mg_tensor *t = mgl_check(L, 1);
        if (!strcmp(k, "grad")) {
            if (!t->grad) return 0;
            return mgl_push(L, mg_retain(t->grad));
        }
        if (!strcmp(k, "requires_grad")) {
            lua_pushboolean(L, t->requires_grad);
            return 1;
        }
        if (!strcmp(k, "is_leaf")) {
            lua_pushboolean(L, t->grad_fn == NULL);
            return 1;
        }
        if (!strcmp(k, "grad_fn")) {
            if (!t->grad_fn) return 0;
            lua_pushstring(L, mg_grad_fn_name(t));
            return 1;
        }
        if (!strcmp(k, "dtype")) {
            lua_pushstring(L, mg_dtype_name(t->dtype));
            return 1;
        }
        return unknown_field(L);
    }
    lua_Integer i;
    if (integer_key(L, 2, &i)) return index_select_first(L, mgl_check(L, 1), i);
    if (lua_istable(L, 2)) return mgl_slice_get(L, 1, 2);
    return bad_key(L, false);
}

static int l_newindex(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *t = mgl_check(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING) {
        const char *k = lua_tostring(L, 2);
        if (!strcmp(k, "grad")) {
            mg_tensor *g = mgl_opt(L, 3);
            if (g && (!mg_same_shape(g, t) || g->dtype != MG_F32)) {
                char a[160], b[160];
                return luaL_error(L, "grad: must be float32 of the tensor's shape %s, got %s %s",
                                  mg_shape_str(t, a, sizeof a), mg_shape_str(g, b, sizeof b), mg_dtype_name(g->dtype));
            }
            mg_release(t->grad);
            t->grad = mg_retain(g);
            return 0;
        }
        if (!strcmp(k, "requires_grad")) {
            if (mg_set_requires_grad(t, lua_toboolean(L, 3))) return mgl_error(L);
            return 0;
        }
        return luaL_error(L, "Tensor: cannot set field '%s'", k);
    }
    lua_Integer i;
    if (integer_key(L, 2, &i)) { /* t[i] = value or tensor: copy into the slice */
        index_select_first(L, t, i);
        mg_tensor *slice = mgl_check(L, -1);
        if (mg_copy_(slice, mgl_check_or_scalar(L, 3))) return mgl_error(L);
        return 0;
    }
    if (lua_istable(L, 2)) return mgl_slice_set(L, 1, 2, 3);
    return bad_key(L, true);
}

static const luaL_Reg module_fns[] = {
    {"zeros", l_zeros}, {"ones", l_ones}, {"empty", l_empty}, {"full", l_full},
    {"rand", l_rand}, {"randn", l_randn}, {"randint", l_randint}, {"randperm", l_randperm},
    {"arange", l_arange}, {"linspace", l_linspace}, {"eye", l_eye}, {"scalar", l_scalar},
    {"tensor", l_tensor}, {"zeros_like", l_zeros_like}, {"ones_like", l_ones_like},
    {"full_like", l_full_like}, {"rand_like", l_rand_like}, {"randn_like", l_randn_like},
    {NULL, NULL}};

static const luaL_Reg both_fns[] = {
    {"shape", l_shape}, {"size", l_size}, {"stride", l_stride}, {"dim", l_dim}, {"numel", l_numel},
    {"is_contiguous", l_is_contiguous}, {"item", l_item}, {"totable", l_totable},
    {"flat_values", l_flat_values}, {"to", l_to}, {"float", l_float}, {"long", l_long}, {"byte", l_byte},
    {"contiguous", l_contiguous}, {"clone", l_clone}, {"detach", l_detach},
    {"fill_", l_fill_}, {"zero_", l_zero_}, {"uniform_", l_uniform_}, {"normal_", l_normal_},
    {"bernoulli_", l_bernoulli_}, {"copy_", l_copy_}, {"add_", l_add_}, {"sub_", l_sub_},
    {"mul_", l_mul_}, {"div_", l_div_}, {"clamp_", l_clamp_}, {NULL, NULL}};

/*** Whether v is a Tensor.
 * @function is_tensor
 * @param v any value
 * @treturn bool
 */
static int l_is_tensor(lua_State *L) {
    lua_pushboolean(L, mgl_is_tensor(L, 1));
    return 1;
}

/*** A Tensor: an n-dim array of float32, int64 or uint8 values, a view
 * (shape, strides, offset) of a shared storage. Every function of
 * `moongrad` that takes a tensor first is also its method: `x:sum(1)` is
 * `mg.sum(x, 1)`.
 *
 * Fields: `x.dtype` ("float32", "int64" or "uint8"), `x.grad` (the
 * accumulated gradient of a leaf, or nil; may be set or cleared),
 * `x.requires_grad` (may be set), `x.is_leaf`, `x.grad_fn` (the name of the
 * op that made x, or nil).
 *
 * Operators: `+ - * / ^` and unary minus broadcast, with numbers on either
 * side; `#x` is the size of dim 1; `tostring(x)` shows the values
 * (abbreviated when long), shape and dtype; `x == y` is identity (use
 * `mg.eq` for elementwise comparison). Any other field name is an error
 * that suggests the right one (`x.T` names `x:t()`).
 *
 * Indexing, 1-based and inclusive as in Torch7, negative from the end:
 * `x[i]` and `x[{i}]` are a view of index i of dim 1; `x[{2, 3}]` is an
 * element (a number); `x[{{}, {1, 2}}]` is a view of all rows, columns 1
 * to 2; `{a}` keeps the dim. Assignment through any of these forms copies
 * a number or a broadcast tensor in: `x[{{}, 2}] = 0`.
 * @type Tensor
 * @usage local x = mg.randn(2, 3):requires_grad_()
 * local y = (x * 2 + 1):sum()
 * y:backward()
 * print(x.grad, x.dtype, #x, x[1])
 */

/*** The element type: "float32", "int64" or "uint8".
 * @field dtype
 */

/*** The gradient accumulated by backward (a leaf's), or nil; may be set
 * (a float32 tensor of x's shape) or cleared with nil.
 * @field grad
 */

/*** Whether autograd records ops on x; may be set (as requires_grad_ does).
 * @field requires_grad
 */

/*** Whether x was made by the user rather than by a recorded op.
 * @field is_leaf
 */

/*** The name of the op that made x, or nil for a leaf.
 * @field grad_fn
 */
void mgl_open_tensor(lua_State *L) {
    int module = lua_gettop(L);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "moongrad.methods");
    if (luaL_newmetatable(L, MGL_TENSOR)) {
        mgl_push_methods(L);
        lua_pushcclosure(L, l_index, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_newindex);
        lua_setfield(L, -2, "__newindex");
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, l_tostring_basic);
        lua_setfield(L, -2, "__tostring");
        lua_pushcfunction(L, l_len);
        lua_setfield(L, -2, "__len");
        lua_pushcfunction(L, l_eq);
        lua_setfield(L, -2, "__eq");
        lua_pushliteral(L, "Tensor");
        lua_setfield(L, -2, "__name");
    }
    lua_setfield(L, module, "Tensor");
    mgl_register(L, module, module_fns, false);
    lua_pushcfunction(L, l_is_tensor);
    lua_setfield(L, module, "is_tensor");
    mgl_register(L, module, both_fns, true);
    mgl_push_methods(L);
    lua_setfield(L, module, "methods");
}
