/*
 * Lua bindings: convolutions and pooling. Each function is both mg.NAME(x,
 * ...) and x:NAME(...):
 *   conv2d(x, w [, b] [, {stride, padding, dilation, relu, pool}])
 *     relu = true fuses a ReLU after the convolution, pool = 2 then a 2x2
 *     max pooling with stride 2 (the same values as the three ops apart)
 *   conv_transpose2d(x, w [, b] [, {stride, padding, output_padding, dilation}])
 *   max_pool2d(x, kernel_size [, {stride, padding, ceil_mode}])
 *   avg_pool2d(x, kernel_size [, {stride, padding, ceil_mode, count_include_pad}])
 * Sizes are a number or a {h, w} pair; stride defaults to 1 for
 * convolutions and to kernel_size for pooling. Unknown option names are
 * refused, so a typo does not pass silently.
 *
 * Ownership: argument Tensors are borrowed for the call; each result is a
 * new tensor handed to Lua with mgl_push. Option values are read (and
 * checked to fit an int) before any core call, so an error raised here
 * leaves nothing allocated.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lua_common.h"

/* The integer at index i, in the range of an int. */
/***
 * @module moongrad
 */

/*** Convolution and pooling.
 * Images are [N, C, H, W]. Sizes are a number or an {h, w} pair; unknown
 * option names are refused. Each is also a Tensor method.
 * @section convolution
 */
static int read_int(lua_State *L, int i, const char *op, const char *what) {
    if (lua_type(L, i) != LUA_TNUMBER)
        luaL_error(L, "%s: %s must be a number or a {h, w} pair, got %s", op, what, luaL_typename(L, i));
    int ok;
    lua_Integer v = lua_tointegerx(L, i, &ok);
    if (!ok) luaL_error(L, "%s: %s must be an integer, got %s", op, what, lua_tostring(L, i));
    if (v < -INT32_MAX || v > INT32_MAX) luaL_error(L, "%s: %s is out of range, got %I", op, what, v);
    return (int)v;
}

/* The number or {h, w} pair at index i, as two ints. */
static void read_pair(lua_State *L, int i, const char *op, const char *what, int out[2]) {
    i = lua_absindex(L, i);
    if (lua_type(L, i) != LUA_TTABLE || mgl_is_tensor(L, i)) {
        out[0] = out[1] = read_int(L, i, op, what);
        return;
    }
    lua_Integer n = (lua_Integer)lua_rawlen(L, i);
    if (n != 2) luaL_error(L, "%s: %s must be a number or a {h, w} pair, got a table of %d values", op, what, (int)n);
    for (int k = 0; k < 2; k++) {
        lua_rawgeti(L, i, k + 1);
        out[k] = read_int(L, -1, op, what);
        lua_pop(L, 1);
    }
}

/* Reads option `key` of the options table at index opts into out (both
 * entries default to def). */
static void opt_pair(lua_State *L, int opts, const char *key, int def, const char *op, int out[2]) {
    out[0] = out[1] = def;
    if (lua_isnoneornil(L, opts)) return;
    lua_getfield(L, opts, key);
    if (!lua_isnil(L, -1)) {
        char what[64];
        snprintf(what, sizeof what, "option '%s'", key);
        read_pair(L, -1, op, what, out);
    }
    lua_pop(L, 1);
}

/* conv2d(x, w [, b] [, opts]) and conv_transpose2d: b may be left out when opts follow. */
static int conv(lua_State *L, bool transposed) {
    const char *op = transposed ? "conv_transpose2d" : "conv2d";
    lua_settop(L, 4);
    mg_tensor *x = mgl_check(L, 1), *w = mgl_check(L, 2), *b = NULL;
    int opts = 4;
    if (lua_istable(L, 3) && !mgl_is_tensor(L, 3) && lua_isnil(L, 4)) opts = 3;
    else b = mgl_opt(L, 3);
    static const char *const known[] = {"stride", "padding", "dilation", "relu", "pool", NULL};
    static const char *const known_t[] = {"stride", "padding", "output_padding", "dilation", NULL};
    mgl_check_keys(L, opts, op, transposed ? known_t : known);
    mg_conv_opts o;
    opt_pair(L, opts, "stride", 1, op, o.stride);
    opt_pair(L, opts, "padding", 0, op, o.padding);
    opt_pair(L, opts, "dilation", 1, op, o.dilation);
    if (transposed) opt_pair(L, opts, "output_padding", 0, op, o.output_padding);
    else o.output_padding[0] = o.output_padding[1] = 0;
    if (!transposed) { /* the fused epilogue: relu = true [, pool = 2] */
        bool relu = mgl_opt_bool(L, opts, "relu", false, op);
        int pool = 1;
        if (!lua_isnoneornil(L, opts)) {
            lua_getfield(L, opts, "pool");
            if (!lua_isnil(L, -1)) pool = read_int(L, -1, op, "option 'pool'");
            lua_pop(L, 1);
        }
        if (pool != 1 && !relu)
            return luaL_error(L, "conv2d: option 'pool' needs relu = true (the fused epilogue is ReLU, then pooling)");
        if (relu) return mgl_push(L, mg_conv2d_relu_pool(x, w, b, &o, pool));
    }
    return mgl_push(L, transposed ? mg_conv_transpose2d(x, w, b, &o) : mg_conv2d(x, w, b, &o));
}

/*** 2-d convolution (cross-correlation, as in PyTorch).
 * @function conv2d
 * @tparam Tensor x [N, C, H, W]
 * @tparam Tensor weight [K, C, kh, kw]
 * @tparam[opt] Tensor bias [K] (may be left out when opts follow)
 * @tparam[opt] table opts `{stride = 1, padding = 0, dilation = 1}`; `relu = true`
 * fuses a ReLU after the convolution, and `pool = 2` then a 2x2 max pooling
 * with stride 2 (one op, the same values as the three apart)
 * @treturn Tensor [N, K, OH, OW] ([N, K, OH/2, OW/2] with pool 2)
 * @usage local y = mg.conv2d(x, w, b, {padding = 1})
 * local h = mg.conv2d(x, w, b, {relu = true, pool = 2})
 */

/*** 2-d transposed convolution (the gradient of conv2d with respect to
 * its input), for upsampling.
 * @function conv_transpose2d
 * @tparam Tensor x [N, C, H, W]
 * @tparam Tensor weight [C, K, kh, kw]
 * @tparam[opt] Tensor bias [K]
 * @tparam[opt] table opts `{stride = 1, padding = 0, output_padding = 0, dilation = 1}`
 * @treturn Tensor [N, K, OH, OW]
 */
static int l_conv2d(lua_State *L) { return conv(L, false); }
static int l_conv_transpose2d(lua_State *L) { return conv(L, true); }

/* max_pool2d / avg_pool2d(x, kernel_size [, opts]) */
static int pool(lua_State *L, bool avg) {
    const char *op = avg ? "avg_pool2d" : "max_pool2d";
    lua_settop(L, 3);
    mg_tensor *x = mgl_check(L, 1);
    if (lua_isnoneornil(L, 2)) return luaL_error(L, "%s: kernel_size is required", op);
    static const char *const known_max[] = {"stride", "padding", "ceil_mode", NULL};
    static const char *const known_avg[] = {"stride", "padding", "ceil_mode", "count_include_pad", NULL};
    mgl_check_keys(L, 3, op, avg ? known_avg : known_max);
    mg_pool_opts o;
    read_pair(L, 2, op, "kernel_size", o.kernel);
    opt_pair(L, 3, "stride", 0, op, o.stride);
    bool stride_given = false;
    if (!lua_isnoneornil(L, 3)) {
        stride_given = lua_getfield(L, 3, "stride") != LUA_TNIL;
        lua_pop(L, 1);
    }
    if (!stride_given) o.stride[0] = o.kernel[0], o.stride[1] = o.kernel[1]; /* default: the kernel */
    opt_pair(L, 3, "padding", 0, op, o.padding);
    o.ceil_mode = mgl_opt_bool(L, 3, "ceil_mode", false, op);
    o.count_include_pad = avg ? mgl_opt_bool(L, 3, "count_include_pad", true, op) : false;
    return mgl_push(L, avg ? mg_avg_pool2d(x, &o) : mg_max_pool2d(x, &o));
}

/*** 2-d max pooling.
 * @function max_pool2d
 * @tparam Tensor x [N, C, H, W]
 * @tparam int|{int,int} kernel_size
 * @tparam[opt] table opts `{stride = kernel_size, padding = 0, ceil_mode = false}`
 * @treturn Tensor [N, C, OH, OW]
 * @usage local y = x:max_pool2d(2)
 */

/*** 2-d average pooling.
 * @function avg_pool2d
 * @tparam Tensor x [N, C, H, W]
 * @tparam int|{int,int} kernel_size
 * @tparam[opt] table opts `{stride = kernel_size, padding = 0, ceil_mode = false, count_include_pad = true}`
 * @treturn Tensor [N, C, OH, OW]
 */
static int l_max_pool2d(lua_State *L) { return pool(L, false); }
static int l_avg_pool2d(lua_State *L) { return pool(L, true); }

void mgl_open_conv(lua_State *L) {
    static const luaL_Reg fns[] = {{"conv2d", l_conv2d}, {"conv_transpose2d", l_conv_transpose2d},
                                   {"max_pool2d", l_max_pool2d}, {"avg_pool2d", l_avg_pool2d}, {NULL, NULL}};
    mgl_register(L, -1, fns, true);
}
