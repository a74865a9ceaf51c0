/*
 * Tensor ops for Lua: arithmetic (also as metamethods), unary functions,
 * comparisons, reductions, views and matrix products. Each function is
 * both mg.NAME(t, ...) and t:NAME(...).
 */
#include <math.h>
#include <string.h>

#include "lua_common.h"

/* ---- arithmetic ---------------------------------------------------------------- */

/***
 * @module moongrad
 */

/*** Arithmetic and elementwise functions.
 * Binary ops broadcast their arguments as PyTorch does (sizes compared from
 * the last dim; a size 1 stretches), and take a number on either side.
 * Each is also a Tensor method, and `+ - * / ^` and unary minus call them.
 * All are differentiable.
 * @section elementwise
 */
typedef mg_tensor *(*binop)(mg_tensor *, mg_tensor *);

/* a OP b where either side may be a number. */
static int arith(lua_State *L, const char *name, binop op, mg_tensor *(*with_scalar)(mg_tensor *, double),
                 mg_tensor *(*scalar_first)(mg_tensor *, double)) {
    lua_settop(L, 2);
    bool na = lua_type(L, 1) == LUA_TNUMBER, nb = lua_type(L, 2) == LUA_TNUMBER;
    if (na && nb) return luaL_error(L, "%s: at least one argument must be a Tensor", name);
    if (nb && with_scalar) return mgl_push(L, with_scalar(mgl_check(L, 1), lua_tonumber(L, 2)));
    if (na && scalar_first) return mgl_push(L, scalar_first(mgl_check(L, 2), lua_tonumber(L, 1)));
    mg_tensor *a = mgl_check_or_scalar(L, 1), *b = mgl_check_or_scalar(L, 2);
    return mgl_push(L, op(a, b));
}

static mg_tensor *sub_scalar(mg_tensor *a, double s) { return mg_add_scalar(a, -s); }
static mg_tensor *div_scalar(mg_tensor *a, double s) { return mg_mul_scalar(a, 1.0 / s); }

/*** a + alpha * b.
 * @function add
 * @tparam Tensor|number a
 * @tparam Tensor|number b
 * @number[opt=1] alpha
 * @treturn Tensor
 * @usage local y = x:add(1)          -- x + 1
 * local z = mg.add(x, y, -0.5)   -- x - 0.5 * y
 */
static int l_add(lua_State *L) {
    lua_settop(L, 3);
    if (!lua_isnil(L, 3)) { /* add(a, b, alpha) = a + alpha * b */
        mg_tensor *a = mgl_check_or_scalar(L, 1), *b = mgl_check_or_scalar(L, 2);
        mgl_push(L, mg_mul_scalar(b, luaL_checknumber(L, 3)));
        return mgl_push(L, mg_add(a, mgl_check(L, -1)));
    }
    return arith(L, "add", mg_add, mg_add_scalar, mg_add_scalar);
}
/*** a - b.
 * @function sub
 * @tparam Tensor|number a
 * @tparam Tensor|number b
 * @treturn Tensor
 */

/*** a * b, elementwise.
 * @function mul
 * @tparam Tensor|number a
 * @tparam Tensor|number b
 * @treturn Tensor
 */

/*** a / b, elementwise.
 * @function div
 * @tparam Tensor|number a
 * @tparam Tensor|number b
 * @treturn Tensor
 */

/*** a to the power b, elementwise (the exponent may be a number or a tensor).
 * @function pow
 * @tparam Tensor a
 * @tparam Tensor|number b
 * @treturn Tensor
 */

/*** The larger of a and b, elementwise.
 * @function maximum
 * @tparam Tensor a
 * @tparam Tensor b
 * @treturn Tensor
 */

/*** The smaller of a and b, elementwise.
 * @function minimum
 * @tparam Tensor a
 * @tparam Tensor b
 * @treturn Tensor
 */
static int l_sub(lua_State *L) { return arith(L, "sub", mg_sub, sub_scalar, mg_rsub_scalar); }
static int l_mul(lua_State *L) { return arith(L, "mul", mg_mul, mg_mul_scalar, mg_mul_scalar); }
static int l_div(lua_State *L) { return arith(L, "div", mg_div, div_scalar, mg_rdiv_scalar); }
static int l_pow(lua_State *L) { return arith(L, "pow", mg_pow, mg_pow_scalar, NULL); }
static int l_maximum(lua_State *L) { return arith(L, "maximum", mg_maximum, NULL, NULL); }
static int l_minimum(lua_State *L) { return arith(L, "minimum", mg_minimum, NULL, NULL); }

#define UNARY(lname, fn)                                                                      \
    static int lname(lua_State *L) { return mgl_push(L, fn(mgl_check(L, 1))); }
/*** -x.
 * @function neg
 * @tparam Tensor x
 * @treturn Tensor
 */

/*** e to the x, elementwise.
 * @function exp
 * @tparam Tensor x
 * @treturn Tensor
 */

/*** The natural logarithm, elementwise.
 * @function log
 * @tparam Tensor x
 * @treturn Tensor
 */

/*** The square root, elementwise.
 * @function sqrt
 * @tparam Tensor x
 * @treturn Tensor
 */

/*** The absolute value, elementwise.
 * @function abs
 * @tparam Tensor x
 * @treturn Tensor
 */

/*** -1, 0 or 1 by the sign of each element (gradient zero).
 * @function sign
 * @tparam Tensor x
 * @treturn Tensor
 */

/*** The sine, elementwise.
 * @function sin
 * @tparam Tensor x
 * @treturn Tensor
 */

/*** The cosine, elementwise.
 * @function cos
 * @tparam Tensor x
 * @treturn Tensor
 */

/*** max(x, 0), elementwise.
 * @function relu
 * @tparam Tensor x
 * @treturn Tensor
 */

/*** 1 / (1 + e^-x), elementwise.
 * @function sigmoid
 * @tparam Tensor x
 * @treturn Tensor
 */

/*** The hyperbolic tangent, elementwise.
 * @function tanh
 * @tparam Tensor x
 * @treturn Tensor
 */

/*** GELU, x * Phi(x) with Phi the normal CDF (the exact form, not the tanh
 * approximation).
 * @function gelu
 * @tparam Tensor x
 * @treturn Tensor
 */

/*** log(1 + e^x), elementwise, computed without overflow.
 * @function softplus
 * @tparam Tensor x
 * @treturn Tensor
 */
UNARY(l_neg, mg_neg)
UNARY(l_exp, mg_exp)
UNARY(l_log, mg_log)
UNARY(l_sqrt, mg_sqrt)
UNARY(l_abs, mg_abs)
UNARY(l_sign, mg_sign)
UNARY(l_sin, mg_sin)
UNARY(l_cos, mg_cos)
UNARY(l_relu, mg_relu)
UNARY(l_sigmoid, mg_sigmoid)
UNARY(l_tanh, mg_tanh)
UNARY(l_gelu, mg_gelu)
UNARY(l_softplus, mg_softplus)

/*** x where x > 0, else slope * x.
 * @function leaky_relu
 * @tparam Tensor x
 * @number[opt=0.01] slope
 * @treturn Tensor
 */
static int l_leaky_relu(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    return mgl_push(L, mg_leaky_relu(t, luaL_optnumber(L, 2, 0.01)));
}

/*** x limited to [min, max]; nil leaves that side unbounded.
 * @function clamp
 * @tparam Tensor x
 * @number[opt] min
 * @number[opt] max
 * @treturn Tensor
 * @usage local pixels = x:clamp(0, 1)
 * local nonneg = x:clamp(0)
 */
static int l_clamp(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    double lo = luaL_optnumber(L, 2, NAN), hi = luaL_optnumber(L, 3, NAN);
    return mgl_push(L, mg_clamp(t, lo, hi));
}

/*** x * x.
 * @function square
 * @tparam Tensor x
 * @treturn Tensor
 */
static int l_square(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    return mgl_push(L, mg_mul(t, t));
}

/* ---- comparisons ---------------------------------------------------------------- */

/*** Comparisons.
 * Elementwise, broadcasting, with a number on either side; the result is
 * a float32 tensor of 0 and 1 (no gradient). Also Tensor methods.
 * @section comparisons
 */
static int compare(lua_State *L, mg_cmp c, mg_cmp mirrored) {
    lua_settop(L, 2);
    if (lua_type(L, 2) == LUA_TNUMBER) return mgl_push(L, mg_compare_scalar(mgl_check(L, 1), lua_tonumber(L, 2), c));
    if (lua_type(L, 1) == LUA_TNUMBER)
        return mgl_push(L, mg_compare_scalar(mgl_check(L, 2), lua_tonumber(L, 1), mirrored));
    return mgl_push(L, mg_compare(mgl_check(L, 1), mgl_check(L, 2), c));
}
/*** 1 where a == b, else 0.
 * @function eq
 * @tparam Tensor|number a
 * @tparam Tensor|number b
 * @treturn Tensor
 * @usage local correct = logits:argmax(2):eq(labels):sum():item()
 */

/*** 1 where a ~= b, else 0.
 * @function ne
 * @tparam Tensor|number a
 * @tparam Tensor|number b
 * @treturn Tensor
 */

/*** 1 where a < b, else 0.
 * @function lt
 * @tparam Tensor|number a
 * @tparam Tensor|number b
 * @treturn Tensor
 */

/*** 1 where a <= b, else 0.
 * @function le
 * @tparam Tensor|number a
 * @tparam Tensor|number b
 * @treturn Tensor
 */

/*** 1 where a > b, else 0.
 * @function gt
 * @tparam Tensor|number a
 * @tparam Tensor|number b
 * @treturn Tensor
 */

/*** 1 where a >= b, else 0.
 * @function ge
 * @tparam Tensor|number a
 * @tparam Tensor|number b
 * @treturn Tensor
 */
static int l_eq(lua_State *L) { return compare(L, MG_EQ, MG_EQ); }
static int l_ne(lua_State *L) { return compare(L, MG_NE, MG_NE); }
static int l_lt(lua_State *L) { return compare(L, MG_LT, MG_GT); }
static int l_le(lua_State *L) { return compare(L, MG_LE, MG_GE); }
static int l_gt(lua_State *L) { return compare(L, MG_GT, MG_LT); }
static int l_ge(lua_State *L) { return compare(L, MG_GE, MG_LE); }

/*** a where cond is nonzero, else b (all three broadcast); differentiable
 * in a and b.
 * @function where
 * @tparam Tensor cond
 * @tparam Tensor|number a
 * @tparam Tensor|number b
 * @treturn Tensor
 * @usage local y = mg.where(x:gt(0), x, 0.1 * x)
 */
static int l_where(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *c = mgl_check(L, 1), *a = mgl_check_or_scalar(L, 2), *b = mgl_check_or_scalar(L, 3);
    return mgl_push(L, mg_where(c, a, b));
}

/* ---- reductions ----------------------------------------------------------------- */

static bool opt_keepdim(lua_State *L, int i) {
    if (lua_isnoneornil(L, i)) return false;
    luaL_checktype(L, i, LUA_TBOOLEAN);
    return lua_toboolean(L, i);
}

/*** Reductions.
 * Dims are 1-based (-1 is the last). Without a dim, over all elements (a
 * 0-dim result); with keepdim the reduced dim stays with size 1.
 * @section reductions
 */

/*** The sum of all elements, or along dim.
 * @function sum
 * @tparam Tensor x
 * @int[opt] dim
 * @bool[opt=false] keepdim
 * @treturn Tensor float32 stays float32; int64 and uint8 give int64
 * @usage mg.tensor{{1, 2}, {3, 4}}:sum(1)   -- {4, 6}
 */
static int l_sum(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (lua_isnoneornil(L, 2)) return mgl_push(L, mg_sum(t));
    int d = mgl_dim(L, 2, t, "sum");
    return mgl_push(L, mg_sum_dim(t, d, opt_keepdim(L, 3)));
}

/*** The mean of all elements, or along dim.
 * @function mean
 * @tparam Tensor x
 * @int[opt] dim
 * @bool[opt=false] keepdim
 * @treturn Tensor float32, also for integer tensors (PyTorch refuses integers here)
 */
static int l_mean(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (lua_isnoneornil(L, 2)) return mgl_push(L, mg_mean(t));
    int d = mgl_dim(L, 2, t, "mean");
    return mgl_push(L, mg_mean_dim(t, d, opt_keepdim(L, 3)));
}

/* Core indices are 0-based; Lua sees 1-based. */
#define one_based mgl_indices1

/* max(t) -> value; max(t, dim [, keepdim]) -> values, indices; max(a, b) -> maximum */
static int extreme(lua_State *L, bool is_max) {
    const char *name = is_max ? "max" : "min";
    mg_tensor *t = mgl_check(L, 1);
    if (mgl_is_tensor(L, 2)) return mgl_push(L, is_max ? mg_maximum(t, mgl_check(L, 2)) : mg_minimum(t, mgl_check(L, 2)));
    if (lua_isnoneornil(L, 2)) return mgl_push(L, is_max ? mg_max(t) : mg_min(t));
    int d = mgl_dim(L, 2, t, name);
    bool keep = opt_keepdim(L, 3);
    mg_tensor *v = NULL, *ix = NULL;
    int rc = is_max ? mg_max_dim(t, d, keep, &v, &ix) : mg_min_dim(t, d, keep, &v, &ix);
    if (rc != MG_OK) return mgl_error(L);
    mgl_push(L, v);
    mgl_push(L, one_based(ix));
    return 2;
}
/*** The largest element; along a dim, the largest values and their
 * 1-based indices; of two tensors, `maximum`.
 * @function max
 * @tparam Tensor x
 * @tparam[opt] int|Tensor dim a dim, or a second tensor
 * @bool[opt=false] keepdim
 * @treturn Tensor the largest value (0-dim), or the values along dim
 * @treturn Tensor the int64 indices along dim (only with a dim)
 * @usage local best, at = scores:max(2)
 */

/*** The smallest element; along a dim, the smallest values and their
 * 1-based indices; of two tensors, `minimum`.
 * @function min
 * @tparam Tensor x
 * @tparam[opt] int|Tensor dim a dim, or a second tensor
 * @bool[opt=false] keepdim
 * @treturn Tensor the smallest value (0-dim), or the values along dim
 * @treturn Tensor the int64 indices along dim (only with a dim)
 */
static int l_max(lua_State *L) { return extreme(L, true); }
static int l_min(lua_State *L) { return extreme(L, false); }

static int arg_extreme(lua_State *L, bool is_max) {
    mg_tensor *t = mgl_check(L, 1);
    int d = lua_isnoneornil(L, 2) ? MG_ALL_DIMS : mgl_dim(L, 2, t, is_max ? "argmax" : "argmin");
    bool keep = opt_keepdim(L, 3);
    return mgl_push(L, one_based(is_max ? mg_argmax(t, d, keep) : mg_argmin(t, d, keep)));
}
/*** The 1-based index of the largest element (of the flattened tensor, or
 * along dim).
 * @function argmax
 * @tparam Tensor x
 * @int[opt] dim
 * @bool[opt=false] keepdim
 * @treturn Tensor int64
 * @usage local predicted = logits:argmax(2)   -- classes, 1-based
 */

/*** The 1-based index of the smallest element (of the flattened tensor, or
 * along dim).
 * @function argmin
 * @tparam Tensor x
 * @int[opt] dim
 * @bool[opt=false] keepdim
 * @treturn Tensor int64
 */
static int l_argmax(lua_State *L) { return arg_extreme(L, true); }
static int l_argmin(lua_State *L) { return arg_extreme(L, false); }

/*** The variance, over all elements or along dim.
 * @function var
 * @tparam Tensor x
 * @int[opt] dim
 * @bool[opt=false] keepdim
 * @int[opt=1] correction 1 divides by n - 1 (unbiased), 0 by n
 * @treturn Tensor
 */
static int l_var(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int d = lua_isnoneornil(L, 2) ? MG_ALL_DIMS : mgl_dim(L, 2, t, "var");
    bool keep = opt_keepdim(L, 3);
    int corr = (int)luaL_optinteger(L, 4, 1);
    return mgl_push(L, mg_var(t, d, keep, corr));
}

/*** log(sum(exp(x))) along dim, computed without overflow.
 * @function logsumexp
 * @tparam Tensor x
 * @int dim
 * @bool[opt=false] keepdim
 * @treturn Tensor
 */
static int l_logsumexp(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int d = mgl_dim(L, 2, t, "logsumexp");
    return mgl_push(L, mg_logsumexp(t, d, opt_keepdim(L, 3)));
}

/* ---- views ------------------------------------------------------------------------ */

/*** Views and reshaping.
 * Views share x's storage: writing to one writes to the other. Sizes come
 * as numbers or one table; one size may be -1, inferred from the others.
 * @section views
 */

/*** A view of x with another shape; x must be contiguous (else use
 * `reshape`).
 * @function view
 * @tparam Tensor x
 * @param ... the new sizes
 * @treturn Tensor
 * @usage local flat = images:view(images:size(1), -1)
 */
static int l_view(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int nd;
    int64_t shape[MG_MAX_DIMS];
    mgl_shape(L, 2, &nd, shape, "view");
    return mgl_push(L, mg_view(t, nd, shape));
}

/*** x with another shape: a view when x is contiguous, else a copy.
 * @function reshape
 * @tparam Tensor x
 * @param ... the new sizes
 * @treturn Tensor
 */
static int l_reshape(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int nd;
    int64_t shape[MG_MAX_DIMS];
    mgl_shape(L, 2, &nd, shape, "reshape");
    return mgl_push(L, mg_reshape(t, nd, shape));
}

/*** x reshaped to other's shape.
 * @function view_as
 * @tparam Tensor x
 * @tparam Tensor other
 * @treturn Tensor
 */
static int l_view_as(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1), *o = mgl_check(L, 2);
    return mgl_push(L, mg_reshape(t, o->ndim, o->shape));
}

/*** A view with two dims swapped (dims 1 and 2 by default).
 * @function transpose
 * @tparam Tensor x
 * @int[opt=1] dim0
 * @int[opt=2] dim1
 * @treturn Tensor
 */
static int l_transpose(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (t->ndim < 2 && lua_isnoneornil(L, 2)) return mgl_push(L, mg_retain(t));
    int d0 = lua_isnoneornil(L, 2) ? 0 : mgl_dim(L, 2, t, "transpose");
    int d1 = lua_isnoneornil(L, 3) ? 1 : mgl_dim(L, 3, t, "transpose");
    return mgl_push(L, mg_transpose(t, d0, d1));
}

/*** The transpose of a matrix (a view); vectors are returned as they are.
 * @function t
 * @tparam Tensor x at most 2 dims
 * @treturn Tensor
 */
static int l_t(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (t->ndim > 2) return luaL_error(L, "t: expects a tensor with at most 2 dims, got %d (use transpose)", t->ndim);
    if (t->ndim < 2) return mgl_push(L, mg_retain(t));
    return mgl_push(L, mg_transpose(t, 0, 1));
}

/*** A view with the dims reordered.
 * @function permute
 * @tparam Tensor x
 * @param ... the dims in their new order (numbers or one table), one per dim of x
 * @treturn Tensor
 * @usage local hwc = chw:permute(2, 3, 1)
 */
static int l_permute(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int nd;
    int64_t dims[MG_MAX_DIMS];
    mgl_shape(L, 2, &nd, dims, "permute");
    if (nd != t->ndim) return luaL_error(L, "permute: got %d dims for a %d-dim tensor", nd, t->ndim);
    int perm[MG_MAX_DIMS];
    for (int d = 0; d < nd; d++) perm[d] = mgl_dim_value(L, dims[d], t->ndim, "permute");
    return mgl_push(L, mg_permute(t, perm));
}

/*** A view of length elements of dim, from start (1-based).
 * @function narrow
 * @tparam Tensor x
 * @int dim
 * @int start
 * @int length
 * @treturn Tensor
 * @usage local first_half = x:narrow(1, 1, x:size(1) // 2)
 */
static int l_narrow(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int d = mgl_dim(L, 2, t, "narrow");
    lua_Integer start = mgl_int(L, 3, "narrow", "start"), len = mgl_int(L, 4, "narrow", "length");
    if (start < 1) return luaL_error(L, "narrow: start must be >= 1 (1-based), got %d", (int)start);
    /* a start just past the end is the core's to refuse (or take, for length 0) */
    return mgl_push(L, mg_narrow(t, d, mgl_index0(L, start, t->shape[d], INT64_MAX, d, "narrow", "start"), len));
}

/*** A view of one index of dim, that dim removed.
 * @function select
 * @tparam Tensor x
 * @int dim
 * @int index 1-based, or negative from the end
 * @treturn Tensor
 */
static int l_select(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (t->ndim == 0) return luaL_error(L, "select: cannot index a 0-dim tensor");
    int d = mgl_dim(L, 2, t, "select");
    lua_Integer i = mgl_int(L, 3, "select", "index");
    return mgl_push(L, mg_select(t, d, mgl_index0(L, i, t->shape[d], t->shape[d], d, "select", "index")));
}

/*** x without dims of size 1 (all of them, or only dim).
 * @function squeeze
 * @tparam Tensor x
 * @int[opt] dim
 * @treturn Tensor
 */
static int l_squeeze(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (lua_isnoneornil(L, 2)) return mgl_push(L, mg_squeeze(t, -1));
    return mgl_push(L, mg_squeeze(t, mgl_dim(L, 2, t, "squeeze")));
}

/*** A view with a new dim of size 1 at dim.
 * @function unsqueeze
 * @tparam Tensor x
 * @int dim in 1..ndim+1, or -1 for a new last dim
 * @treturn Tensor
 */
static int l_unsqueeze(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    lua_Integer d = mgl_int(L, 2, "unsqueeze", "dim"), n = t->ndim + 1;
    if (d == 0 || d > n || d < -n)
        return luaL_error(L, "unsqueeze: dim %d out of range for a %d-dim tensor (dims are 1..%d, or -1 for a new last)",
                          (int)d, t->ndim, (int)n);
    return mgl_push(L, mg_unsqueeze(t, (int)(d > 0 ? d - 1 : d + n)));
}

/*** A view that repeats dims of size 1 to the given sizes without copying
 * (-1 keeps a size).
 * @function expand
 * @tparam Tensor x
 * @param ... the new sizes (numbers or one table)
 * @treturn Tensor
 */
static int l_expand(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int nd;
    int64_t shape[MG_MAX_DIMS];
    mgl_shape(L, 2, &nd, shape, "expand");
    return mgl_push(L, mg_expand(t, nd, shape));
}

/*** x expanded to other's shape.
 * @function expand_as
 * @tparam Tensor x
 * @tparam Tensor other
 * @treturn Tensor
 */
static int l_expand_as(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1), *o = mgl_check(L, 2);
    return mgl_push(L, mg_expand(t, o->ndim, o->shape));
}

/*** Merges dims start..end into one (all dims by default).
 * @function flatten
 * @tparam Tensor x
 * @int[opt=1] start
 * @int[opt=-1] end
 * @treturn Tensor
 * @usage local features = x:flatten(2)   -- [N, C, H, W] -> [N, C*H*W]
 */
static int l_flatten(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (t->ndim == 0) return mgl_push(L, mg_flatten(t, 0, 0));
    int s = lua_isnoneornil(L, 2) ? 0 : mgl_dim(L, 2, t, "flatten");
    int e = lua_isnoneornil(L, 3) ? t->ndim - 1 : mgl_dim(L, 3, t, "flatten");
    return mgl_push(L, mg_flatten(t, s, e));
}

/* ---- products ------------------------------------------------------------------------ */

/*** Matrix products.
 * @section products
 */

/*** The matrix product, as PyTorch's matmul: vectors and matrices, and
 * batches of matrices (leading dims broadcast). `mm` is the same function.
 * @function matmul
 * @tparam Tensor a [..., n, k] (or [k])
 * @tparam Tensor b [..., k, m] (or [k])
 * @treturn Tensor [..., n, m]
 * @usage local y = x:matmul(w:t())
 */

/*** The matrix product (the same as `matmul`).
 * @function mm
 * @tparam Tensor a
 * @tparam Tensor b
 * @treturn Tensor
 */
static int l_matmul(lua_State *L) { return mgl_push(L, mg_matmul(mgl_check(L, 1), mgl_check(L, 2))); }

/*** x W^T + b in one fused op.
 * @function linear
 * @tparam Tensor x [..., in]
 * @tparam Tensor weight [out, in]
 * @tparam[opt] Tensor bias [out]
 * @treturn Tensor [..., out]
 */
static int l_linear(lua_State *L) {
    mg_tensor *x = mgl_check(L, 1), *w = mgl_check(L, 2), *b = mgl_opt(L, 3);
    return mgl_push(L, mg_linear(x, w, b));
}

/* ---- metamethods ------------------------------------------------------------------------ */

static int l_unm(lua_State *L) { return mgl_push(L, mg_neg(mgl_check(L, 1))); }

static const luaL_Reg fns[] = {
    {"add", l_add}, {"sub", l_sub}, {"mul", l_mul}, {"div", l_div}, {"pow", l_pow},
    {"maximum", l_maximum}, {"minimum", l_minimum}, {"neg", l_neg}, {"exp", l_exp}, {"log", l_log},
    {"sqrt", l_sqrt}, {"abs", l_abs}, {"sign", l_sign}, {"sin", l_sin}, {"cos", l_cos},
    {"relu", l_relu}, {"sigmoid", l_sigmoid}, {"tanh", l_tanh}, {"gelu", l_gelu},
    {"softplus", l_softplus}, {"leaky_relu", l_leaky_relu}, {"clamp", l_clamp}, {"square", l_square},
    {"eq", l_eq}, {"ne", l_ne}, {"lt", l_lt}, {"le", l_le}, {"gt", l_gt}, {"ge", l_ge},
    {"where", l_where}, {"sum", l_sum}, {"mean", l_mean}, {"max", l_max}, {"min", l_min},
    {"argmax", l_argmax}, {"argmin", l_argmin}, {"var", l_var}, {"logsumexp", l_logsumexp},
    {"view", l_view}, {"reshape", l_reshape}, {"view_as", l_view_as}, {"transpose", l_transpose},
    {"t", l_t}, {"permute", l_permute}, {"narrow", l_narrow}, {"select", l_select},
    {"squeeze", l_squeeze}, {"unsqueeze", l_unsqueeze}, {"expand", l_expand},
    {"expand_as", l_expand_as}, {"flatten", l_flatten}, {"matmul", l_matmul}, {"mm", l_matmul},
    {"linear", l_linear}, {NULL, NULL}};

void mgl_open_ops(lua_State *L) {
    mgl_register(L, -1, fns, true);
    luaL_getmetatable(L, MGL_TENSOR);
    const luaL_Reg meta[] = {{"__add", l_add}, {"__sub", l_sub}, {"__mul", l_mul}, {"__div", l_div},
                             {"__pow", l_pow}, {"__unm", l_unm}, {NULL, NULL}};
    luaL_setfuncs(L, meta, 0);
    lua_pop(L, 1);
}
