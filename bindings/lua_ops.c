/*
 * Tensor ops for Lua: arithmetic (also as metamethods), unary functions,
 * comparisons, reductions, views and matrix products. Each function is
 * both mg.NAME(t, ...) and t:NAME(...).
 */
#include <math.h>
#include <string.h>

#include "lua_common.h"

/* ---- arithmetic ---------------------------------------------------------------- */

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

static int l_add(lua_State *L) {
    lua_settop(L, 3);
    if (!lua_isnil(L, 3)) { /* add(a, b, alpha) = a + alpha * b */
        mg_tensor *a = mgl_check_or_scalar(L, 1), *b = mgl_check_or_scalar(L, 2);
        mgl_push(L, mg_mul_scalar(b, luaL_checknumber(L, 3)));
        return mgl_push(L, mg_add(a, mgl_check(L, -1)));
    }
    return arith(L, "add", mg_add, mg_add_scalar, mg_add_scalar);
}
static int l_sub(lua_State *L) { return arith(L, "sub", mg_sub, sub_scalar, mg_rsub_scalar); }
static int l_mul(lua_State *L) { return arith(L, "mul", mg_mul, mg_mul_scalar, mg_mul_scalar); }
static int l_div(lua_State *L) { return arith(L, "div", mg_div, div_scalar, mg_rdiv_scalar); }
static int l_pow(lua_State *L) { return arith(L, "pow", mg_pow, mg_pow_scalar, NULL); }
static int l_maximum(lua_State *L) { return arith(L, "maximum", mg_maximum, NULL, NULL); }
static int l_minimum(lua_State *L) { return arith(L, "minimum", mg_minimum, NULL, NULL); }

#define UNARY(lname, fn)                                                                      \
    static int lname(lua_State *L) { return mgl_push(L, fn(mgl_check(L, 1))); }
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

static int l_leaky_relu(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    return mgl_push(L, mg_leaky_relu(t, luaL_optnumber(L, 2, 0.01)));
}

/* clamp(x, min, max): nil leaves that side unbounded */
static int l_clamp(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    double lo = luaL_optnumber(L, 2, NAN), hi = luaL_optnumber(L, 3, NAN);
    return mgl_push(L, mg_clamp(t, lo, hi));
}

static int l_square(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    return mgl_push(L, mg_mul(t, t));
}

/* ---- comparisons ---------------------------------------------------------------- */

static int compare(lua_State *L, mg_cmp c, mg_cmp mirrored) {
    lua_settop(L, 2);
    if (lua_type(L, 2) == LUA_TNUMBER) return mgl_push(L, mg_compare_scalar(mgl_check(L, 1), lua_tonumber(L, 2), c));
    if (lua_type(L, 1) == LUA_TNUMBER)
        return mgl_push(L, mg_compare_scalar(mgl_check(L, 2), lua_tonumber(L, 1), mirrored));
    return mgl_push(L, mg_compare(mgl_check(L, 1), mgl_check(L, 2), c));
}
static int l_eq(lua_State *L) { return compare(L, MG_EQ, MG_EQ); }
static int l_ne(lua_State *L) { return compare(L, MG_NE, MG_NE); }
static int l_lt(lua_State *L) { return compare(L, MG_LT, MG_GT); }
static int l_le(lua_State *L) { return compare(L, MG_LE, MG_GE); }
static int l_gt(lua_State *L) { return compare(L, MG_GT, MG_LT); }
static int l_ge(lua_State *L) { return compare(L, MG_GE, MG_LE); }

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

/* sum(t [, dim [, keepdim]]): float32 stays float32; int64 and uint8 give int64 */
static int l_sum(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (lua_isnoneornil(L, 2)) return mgl_push(L, mg_sum(t));
    int d = mgl_dim(L, 2, t, "sum");
    return mgl_push(L, mg_sum_dim(t, d, opt_keepdim(L, 3)));
}

/* mean(t [, dim [, keepdim]]): float32; the mean of integers is a float32
 * too (PyTorch refuses integers here) */
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
static int l_max(lua_State *L) { return extreme(L, true); }
static int l_min(lua_State *L) { return extreme(L, false); }

static int arg_extreme(lua_State *L, bool is_max) {
    mg_tensor *t = mgl_check(L, 1);
    int d = lua_isnoneornil(L, 2) ? MG_ALL_DIMS : mgl_dim(L, 2, t, is_max ? "argmax" : "argmin");
    bool keep = opt_keepdim(L, 3);
    return mgl_push(L, one_based(is_max ? mg_argmax(t, d, keep) : mg_argmin(t, d, keep)));
}
static int l_argmax(lua_State *L) { return arg_extreme(L, true); }
static int l_argmin(lua_State *L) { return arg_extreme(L, false); }

/* var(t [, dim [, keepdim [, correction]]]), correction 1 (unbiased) by default */
static int l_var(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int d = lua_isnoneornil(L, 2) ? MG_ALL_DIMS : mgl_dim(L, 2, t, "var");
    bool keep = opt_keepdim(L, 3);
    int corr = (int)luaL_optinteger(L, 4, 1);
    return mgl_push(L, mg_var(t, d, keep, corr));
}

static int l_logsumexp(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int d = mgl_dim(L, 2, t, "logsumexp");
    return mgl_push(L, mg_logsumexp(t, d, opt_keepdim(L, 3)));
}

/* ---- views ------------------------------------------------------------------------ */

static int l_view(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int nd;
    int64_t shape[MG_MAX_DIMS];
    mgl_shape(L, 2, &nd, shape, "view");
    return mgl_push(L, mg_view(t, nd, shape));
}

static int l_reshape(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int nd;
    int64_t shape[MG_MAX_DIMS];
    mgl_shape(L, 2, &nd, shape, "reshape");
    return mgl_push(L, mg_reshape(t, nd, shape));
}

static int l_view_as(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1), *o = mgl_check(L, 2);
    return mgl_push(L, mg_reshape(t, o->ndim, o->shape));
}

static int l_transpose(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (t->ndim < 2 && lua_isnoneornil(L, 2)) return mgl_push(L, mg_retain(t));
    int d0 = lua_isnoneornil(L, 2) ? 0 : mgl_dim(L, 2, t, "transpose");
    int d1 = lua_isnoneornil(L, 3) ? 1 : mgl_dim(L, 3, t, "transpose");
    return mgl_push(L, mg_transpose(t, d0, d1));
}

/* t() : transpose of a matrix */
static int l_t(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (t->ndim > 2) return luaL_error(L, "t: expects a tensor with at most 2 dims, got %d (use transpose)", t->ndim);
    if (t->ndim < 2) return mgl_push(L, mg_retain(t));
    return mgl_push(L, mg_transpose(t, 0, 1));
}

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

/* narrow(dim, start, length), start 1-based */
static int l_narrow(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int d = mgl_dim(L, 2, t, "narrow");
    lua_Integer start = mgl_int(L, 3, "narrow", "start"), len = mgl_int(L, 4, "narrow", "length");
    if (start < 1) return luaL_error(L, "narrow: start must be >= 1 (1-based), got %d", (int)start);
    /* a start just past the end is the core's to refuse (or take, for length 0) */
    return mgl_push(L, mg_narrow(t, d, mgl_index0(L, start, t->shape[d], INT64_MAX, d, "narrow", "start"), len));
}

/* select(dim, index), index 1-based or negative from the end */
static int l_select(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (t->ndim == 0) return luaL_error(L, "select: cannot index a 0-dim tensor");
    int d = mgl_dim(L, 2, t, "select");
    lua_Integer i = mgl_int(L, 3, "select", "index");
    return mgl_push(L, mg_select(t, d, mgl_index0(L, i, t->shape[d], t->shape[d], d, "select", "index")));
}

static int l_squeeze(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (lua_isnoneornil(L, 2)) return mgl_push(L, mg_squeeze(t, -1));
    return mgl_push(L, mg_squeeze(t, mgl_dim(L, 2, t, "squeeze")));
}

/* unsqueeze(dim): dim in 1..ndim+1, or -1 for a new last dim */
static int l_unsqueeze(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    lua_Integer d = mgl_int(L, 2, "unsqueeze", "dim"), n = t->ndim + 1;
    if (d == 0 || d > n || d < -n)
        return luaL_error(L, "unsqueeze: dim %d out of range for a %d-dim tensor (dims are 1..%d, or -1 for a new last)",
                          (int)d, t->ndim, (int)n);
    return mgl_push(L, mg_unsqueeze(t, (int)(d > 0 ? d - 1 : d + n)));
}

static int l_expand(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    int nd;
    int64_t shape[MG_MAX_DIMS];
    mgl_shape(L, 2, &nd, shape, "expand");
    return mgl_push(L, mg_expand(t, nd, shape));
}

static int l_expand_as(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1), *o = mgl_check(L, 2);
    return mgl_push(L, mg_expand(t, o->ndim, o->shape));
}

/* flatten([start [, end]]), all dims by default */
static int l_flatten(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    if (t->ndim == 0) return mgl_push(L, mg_flatten(t, 0, 0));
    int s = lua_isnoneornil(L, 2) ? 0 : mgl_dim(L, 2, t, "flatten");
    int e = lua_isnoneornil(L, 3) ? t->ndim - 1 : mgl_dim(L, 3, t, "flatten");
    return mgl_push(L, mg_flatten(t, s, e));
}

/* ---- products ------------------------------------------------------------------------ */

static int l_matmul(lua_State *L) { return mgl_push(L, mg_matmul(mgl_check(L, 1), mgl_check(L, 2))); }

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
