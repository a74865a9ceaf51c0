/*
 * Lua bindings: sorting and counting. Each is both mg.NAME(t, ...) and
 * t:NAME(...); indices come back 1-based and bincount's bins are 1-based.
 *
 *   values, indices = t:sort([dim = -1 [, descending = false]])
 *   indices = t:argsort([dim = -1 [, descending = false]])
 *   values, indices = t:topk(k [, dim = -1 [, largest = true [, sorted = true]]])
 *   t:cumsum(dim)            dim may be left out for a 1-D tensor
 *   t:bincount([weights [, minlength]])
 *   values, inverse, counts = t:unique()
 *
 * sort, argsort and topk also take their options as a table in place of
 * the positional ones: t:sort{dim = 1, descending = true},
 * t:topk(3, {dim = 2, largest = false}); bincount takes {weights =,
 * minlength =}.
 */
#include <string.h>

#include "lua_common.h"

static bool is_options(lua_State *L, int i) { return lua_istable(L, i) && !mgl_is_tensor(L, i); }

static bool positional_bool(lua_State *L, int i, bool def, const char *op, const char *what) {
    if (lua_isnoneornil(L, i)) return def;
    if (!lua_isboolean(L, i)) luaL_error(L, "%s: %s must be a boolean, got %s", op, what, luaL_typename(L, i));
    return lua_toboolean(L, i);
}

/* dim (1-based, default -1) and one flag, positional from `first` or in an
 * options table there. */
static void dim_and_flag(lua_State *L, int first, const mg_tensor *t, const char *op, const char *flag, bool def,
                         int *dim, bool *value, bool *sorted) {
    lua_Integer d = -1;
    if (is_options(L, first)) {
        const char *known[] = {"dim", flag, sorted ? "sorted" : NULL, NULL};
        mgl_check_keys(L, first, op, known);
        d = mgl_opt_int(L, first, "dim", -1, op);
        *value = mgl_opt_bool(L, first, flag, def, op);
        if (sorted) *sorted = mgl_opt_bool(L, first, "sorted", true, op);
    } else {
        if (!lua_isnoneornil(L, first)) d = mgl_int(L, first, op, "dim");
        *value = positional_bool(L, first + 1, def, op, flag);
        if (sorted) *sorted = positional_bool(L, first + 2, true, op, "sorted");
    }
    *dim = mgl_dim_value(L, d, t->ndim, op);
}

/***
 * @module moongrad
 */

/*** Sorting and counting.
 * Each is also a Tensor method. Indices come back 1-based; the dim defaults
 * to the last. sort, argsort and topk take their options positionally or
 * as one table: `x:sort{dim = 1, descending = true}`.
 * @section sorting
 */

/*** Sorts along a dim; the values are differentiable.
 * @function sort
 * @tparam Tensor x
 * @tparam[opt=-1] int|table dim or the options `{dim = -1, descending = false}`
 * @bool[opt=false] descending
 * @treturn Tensor the sorted values
 * @treturn Tensor int64 1-based indices into x along dim
 * @usage local values, order = scores:sort(1, true)
 */
static int l_sort(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *t = mgl_check(L, 1), *v = NULL, *ix = NULL;
    int dim;
    bool descending;
    dim_and_flag(L, 2, t, "sort", "descending", false, &dim, &descending, NULL);
    if (mg_sort(t, dim, descending, &v, &ix)) return mgl_error(L);
    mgl_push(L, v);
    mgl_push(L, mgl_indices1(ix));
    return 2;
}

/*** The 1-based indices that sort x along a dim.
 * @function argsort
 * @tparam Tensor x
 * @tparam[opt=-1] int|table dim or the options `{dim = -1, descending = false}`
 * @bool[opt=false] descending
 * @treturn Tensor int64
 */
static int l_argsort(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *t = mgl_check(L, 1), *v = NULL, *ix = NULL;
    int dim;
    bool descending;
    dim_and_flag(L, 2, t, "argsort", "descending", false, &dim, &descending, NULL);
    bool grad = mg_grad_enabled();
    mg_set_grad_enabled(false); /* indices only: no graph */
    int rc = mg_sort(t, dim, descending, &v, &ix);
    mg_set_grad_enabled(grad);
    if (rc) return mgl_error(L);
    mg_release(v);
    return mgl_push(L, mgl_indices1(ix));
}

/*** The k largest (or smallest) values along a dim, in order, and their
 * 1-based indices; the values are differentiable.
 * @function topk
 * @tparam Tensor x
 * @int k
 * @tparam[opt=-1] int|table dim or the options `{dim = -1, largest = true, sorted = true}`
 * @bool[opt=true] largest
 * @bool[opt=true] sorted accepted for PyTorch's sake; the values always come sorted
 * @treturn Tensor values
 * @treturn Tensor int64 indices
 * @usage local _, top5 = logits:topk(5, 2)   -- [N, 5] class indices
 */
static int l_topk(lua_State *L) {
    lua_settop(L, 5);
    mg_tensor *t = mgl_check(L, 1), *v = NULL, *ix = NULL;
    lua_Integer k = mgl_int(L, 2, "topk", "k");
    int dim;
    bool largest, sorted;
    dim_and_flag(L, 3, t, "topk", "largest", true, &dim, &largest, &sorted);
    if (mg_topk(t, k, dim, largest, &v, &ix)) return mgl_error(L);
    mgl_push(L, v);
    mgl_push(L, mgl_indices1(ix));
    return 2;
}

/*** Cumulative sums along a dim (differentiable).
 * @function cumsum
 * @tparam Tensor x
 * @int[opt] dim required unless x is 1-d
 * @treturn Tensor x's shape
 */
static int l_cumsum(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (lua_isnoneornil(L, 2) && t->ndim > 1)
        return luaL_error(L, "cumsum: give the dim for a %d-dim tensor (cumsum(t, dim))", t->ndim);
    int dim = lua_isnoneornil(L, 2) ? 0 : mgl_dim(L, 2, t, "cumsum");
    return mgl_push(L, mg_cumsum(t, dim));
}

/*** Counts of the values 1, 2, ... of a 1-d integer tensor (bin v holds
 * the count, or the summed weights, of value v).
 * @function bincount
 * @tparam Tensor x 1-d int64 or uint8, values >= 1
 * @tparam[opt] Tensor|table weights a weight per element (or the options `{weights = w, minlength = n}`)
 * @int[opt=0] minlength the least number of bins
 * @treturn Tensor int64 counts, or float32 sums with weights
 * @usage local per_class = labels:bincount()   -- samples per class
 */
static int l_bincount(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *t = mgl_check(L, 1), *w = NULL;
    lua_Integer minlength = 0;
    if (is_options(L, 2)) {
        const char *known[] = {"weights", "minlength", NULL};
        mgl_check_keys(L, 2, "bincount", known);
        lua_getfield(L, 2, "weights");
        lua_replace(L, 3); /* keeps the weights alive on the stack */
        if (!lua_isnil(L, 3) && !mgl_is_tensor(L, 3))
            return luaL_error(L, "bincount: option 'weights' must be a Tensor, got %s", luaL_typename(L, 3));
        w = mgl_opt(L, 3);
        minlength = mgl_opt_int(L, 2, "minlength", 0, "bincount");
    } else {
        if (!lua_isnil(L, 2) && !mgl_is_tensor(L, 2))
            return luaL_error(L, "bincount: weights must be a Tensor, got %s", luaL_typename(L, 2));
        w = mgl_opt(L, 2);
        if (!lua_isnil(L, 3)) minlength = mgl_int(L, 3, "bincount", "minlength");
    }
    if (t->dtype == MG_F32)
        return luaL_error(L, "bincount: needs an integer tensor (int64 or uint8), got float32 (convert with :long())");
    /* bins are 1-based in Lua: value v is counted in bin v, the core's v - 1
     * (the core refuses values below the first bin) */
    mgl_push(L, mg_to_dtype(t, MG_I64));
    mgl_push(L, mgl_indices0(L, mgl_check(L, -1), -1, NULL, "bincount", "value", ""));
    return mgl_push(L, mg_bincount(mgl_check(L, -1), w, minlength));
}

/*** The sorted distinct values, where each element went, and how many
 * times each value occurs.
 * @function unique
 * @tparam Tensor x
 * @tparam[opt] table opts PyTorch's flags `{sorted, return_inverse, return_counts}` are
 *   accepted; all three results always come back
 * @treturn Tensor the distinct values, sorted
 * @treturn Tensor int64 1-based positions in those values, x's shape
 * @treturn Tensor int64 counts
 */
static int l_unique(lua_State *L) {
    lua_settop(L, 2);
    mg_tensor *t = mgl_check(L, 1), *v = NULL, *inv = NULL, *cnt = NULL;
    if (!lua_isnil(L, 2)) {
        if (!is_options(L, 2)) return luaL_error(L, "unique: expected an options table, got %s", luaL_typename(L, 2));
        const char *known[] = {"sorted", "return_inverse", "return_counts", NULL};
        mgl_check_keys(L, 2, "unique", known);
        for (int k = 0; known[k]; k++) mgl_opt_bool(L, 2, known[k], true, "unique");
    }
    if (mg_unique(t, &v, &inv, &cnt)) return mgl_error(L);
    mgl_push(L, v);
    mgl_push(L, mgl_indices1(inv));
    mgl_push(L, cnt);
    return 3;
}

void mgl_open_sort(lua_State *L) {
    const luaL_Reg fns[] = {{"sort", l_sort},         {"argsort", l_argsort}, {"topk", l_topk},
                            {"cumsum", l_cumsum},     {"bincount", l_bincount}, {"unique", l_unique},
                            {NULL, NULL}};
    mgl_register(L, -1, fns, true);
}
