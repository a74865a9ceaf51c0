/*
 * Lua bindings: joining and indexing ops. cat, stack and one_hot are
 * mg.NAME only; index_select, gather, rot90, flip and masked_fill are both
 * mg.NAME(t, ...) and t:NAME(...). Dims and indices are 1-based here and
 * converted to the core's 0-based ones by lua_one_based.c's helpers.
 */
#include "lua_common.h"

/* The index at i, a Tensor of 1-based int64 values or a Lua list of
 * integers, as a new 0-based int64 Tensor pushed on the stack (borrowed). */
/***
 * @module moongrad
 */

/*** Joining and indexing.
 * Indices are 1-based: an int64 tensor or a Lua list of integers.
 * @section indexing
 */
static mg_tensor *index_arg(lua_State *L, int i, const char *op, const char *what) {
    mg_tensor *ix;
    if (mgl_is_tensor(L, i)) {
        mg_tensor *t = mgl_check(L, i);
        if (t->dtype != MG_I64)
            luaL_error(L, "%s: %s must be an int64 Tensor or a list of integers, got a %s Tensor (convert with :long())",
                       op, what, mg_dtype_name(t->dtype));
        ix = t;
    } else if (lua_istable(L, i)) {
        int64_t n = (int64_t)lua_rawlen(L, i);
        mgl_push(L, mg_empty(MG_I64, 1, &n));
        ix = mgl_check(L, -1);
        for (int64_t k = 1; k <= n; k++) {
            lua_rawgeti(L, i, k);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok) luaL_error(L, "%s: %s element %d must be an integer, got %s", op, what, (int)k, luaL_typename(L, -1));
            mg_i64(ix)[k - 1] = v;
            lua_pop(L, 1);
        }
    } else {
        luaL_error(L, "%s: %s must be an int64 Tensor or a list of integers, got %s", op, what, luaL_typename(L, i));
        return NULL;
    }
    mgl_push(L, mgl_indices0(L, ix, -1, NULL, op, what, "")); /* the core checks the range */
    return mgl_check(L, -1);
}

/*** Joins tensors along an existing dim; their other sizes must match.
 * @function cat
 * @tparam {Tensor,...} tensors
 * @int[opt=1] dim
 * @treturn Tensor
 * @usage local both = mg.cat({a, b}, 1)
 */
static int l_cat(lua_State *L) {
    lua_settop(L, 2);
    mg_tensor **ts;
    int n = mgl_tensor_list(L, 1, &ts, "cat");
    if (n == 0) return luaL_error(L, "cat: needs at least one Tensor");
    int nd = 0;
    for (int k = 0; k < n; k++) nd = ts[k]->ndim > nd ? ts[k]->ndim : nd;
    int dim = lua_isnil(L, 2) ? 0 : mgl_dim_value(L, mgl_int(L, 2, "cat", "dim"), nd, "cat");
    return mgl_push(L, mg_cat(n, ts, dim));
}

/*** Stacks tensors of the same shape along a new dim.
 * @function stack
 * @tparam {Tensor,...} tensors
 * @int[opt=1] dim the new dim's place in the result (1..ndim+1; -1 the new last)
 * @treturn Tensor
 * @usage local batch = mg.stack({x1, x2, x3})   -- [3, ...]
 */
static int l_stack(lua_State *L) {
    lua_settop(L, 2);
    mg_tensor **ts;
    int n = mgl_tensor_list(L, 1, &ts, "stack");
    if (n == 0) return luaL_error(L, "stack: needs at least one Tensor");
    int dim = lua_isnil(L, 2) ? 0 : mgl_dim_value(L, mgl_int(L, 2, "stack", "dim"), ts[0]->ndim + 1, "stack");
    return mgl_push(L, mg_stack(n, ts, dim));
}

/*** The entries of x at the given indices along dim (a copy).
 * @function index_select
 * @tparam Tensor x
 * @int dim
 * @tparam Tensor|{int,...} index 1-based indices (int64 Tensor or list)
 * @treturn Tensor
 * @usage local some = images:index_select(1, {1, 5, 9})
 */
static int l_index_select(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *t = mgl_check(L, 1);
    int dim = mgl_dim(L, 2, t, "index_select");
    mg_tensor *ix = index_arg(L, 3, "index_select", "index");
    return mgl_push(L, mg_index_select(t, dim, ix));
}

/*** Picks along dim, for every position of index, x at that index:
 * out[i][j] = x[i][index[i][j]] for dim 2.
 * @function gather
 * @tparam Tensor x
 * @int dim
 * @tparam Tensor index 1-based int64, with x's number of dims
 * @treturn Tensor index's shape
 * @usage local picked = logp:gather(2, labels:unsqueeze(2))
 */
static int l_gather(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *t = mgl_check(L, 1);
    int dim = mgl_dim(L, 2, t, "gather");
    if (!mgl_is_tensor(L, 3)) return luaL_error(L, "gather: index must be an int64 Tensor, got %s", luaL_typename(L, 3));
    mg_tensor *ix = index_arg(L, 3, "gather", "index");
    return mgl_push(L, mg_gather(t, dim, ix));
}

/*** Rotates by k quarter turns in the plane of two dims, from dim0
 * towards dim1 (as numpy's and PyTorch's rot90).
 * @function rot90
 * @tparam Tensor x at least 2 dims
 * @int[opt=1] k quarter turns (negative turns the other way)
 * @int[opt=1] dim0
 * @int[opt=2] dim1
 * @treturn Tensor
 * @usage local turned = images:rot90(1, 3, 4)   -- [N, C, H, W], a quarter turn
 */
static int l_rot90(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    lua_Integer k = lua_isnoneornil(L, 2) ? 1 : mgl_int(L, 2, "rot90", "k");
    if (t->ndim < 2) return luaL_error(L, "rot90: needs at least 2 dims, got %d", t->ndim);
    int d0 = lua_isnoneornil(L, 3) ? 0 : mgl_dim(L, 3, t, "rot90");
    int d1 = lua_isnoneornil(L, 4) ? 1 : mgl_dim(L, 4, t, "rot90");
    return mgl_push(L, mg_rot90(t, (int)(k % 4), d0, d1));
}

/*** Reverses the order of elements along the given dims.
 * @function flip
 * @tparam Tensor x
 * @param ... the dims (numbers, or one table)
 * @treturn Tensor
 * @usage local mirrored = images:flip(4)
 */
static int l_flip(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int dims[MG_MAX_DIMS], n = 0;
    bool list = lua_istable(L, 2);
    int count = list ? (int)lua_rawlen(L, 2) : lua_gettop(L) - 1;
    if (count == 0) return luaL_error(L, "flip: give the dims to flip");
    if (count > (t->ndim ? t->ndim : 1)) return luaL_error(L, "flip: %d dims given for a %d-dim tensor", count, t->ndim);
    for (int k = 1; k <= count; k++) {
        if (list) lua_rawgeti(L, 2, k);
        else lua_pushvalue(L, k + 1);
        dims[n++] = mgl_dim_value(L, mgl_int(L, -1, "flip", "dim"), t->ndim, "flip");
        lua_pop(L, 1);
    }
    return mgl_push(L, mg_flip(t, n, dims));
}

/*** x with value where mask is nonzero (mask broadcast to x's shape).
 * @function masked_fill
 * @tparam Tensor x
 * @tparam Tensor mask
 * @number value
 * @treturn Tensor
 */
static int l_masked_fill(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1), *mask = mgl_check(L, 2);
    return mgl_push(L, mg_masked_fill(t, mask, luaL_checknumber(L, 3)));
}

/*** One-hot float32 rows of 1-based classes.
 * @function one_hot
 * @tparam Tensor|{int,...} classes 1-based int64 classes of any shape
 * @int[opt] n the number of classes (default: the largest class)
 * @treturn Tensor float32 [..., n]
 * @usage mg.one_hot(mg.tensor({2, 1}, {dtype = "int64"}), 3)   -- {{0, 1, 0}, {1, 0, 0}}
 */
static int l_one_hot(lua_State *L) {
    lua_settop(L, 2);
    lua_Integer n = lua_isnil(L, 2) ? -1 : mgl_int(L, 2, "one_hot", "n");
    if (!lua_isnil(L, 2) && n < 1) return luaL_error(L, "one_hot: n must be >= 1, got %d", (int)n);
    mg_tensor *c = index_arg(L, 1, "one_hot", "classes");
    return mgl_push(L, mg_one_hot(c, n));
}

void mgl_open_index(lua_State *L) {
    const luaL_Reg module[] = {{"cat", l_cat}, {"stack", l_stack}, {"one_hot", l_one_hot}, {NULL, NULL}};
    const luaL_Reg both[] = {{"index_select", l_index_select}, {"gather", l_gather}, {"rot90", l_rot90},
                             {"flip", l_flip}, {"masked_fill", l_masked_fill}, {NULL, NULL}};
    mgl_register(L, -1, module, false);
    mgl_register(L, -1, both, true);
}
