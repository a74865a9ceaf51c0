/*
 * Autograd for Lua: backward, grad (gradients w.r.t. any tensors),
 * requires_grad_, the grad-mode flag and the list of registered ops.
 */
#include "lua_common.h"

/***
 * @module moongrad
 */

/*** Autograd.
 * PyTorch's model: when grad mode is on and an input requires grad, an op
 * records how to compute its gradient; `backward` walks that record in
 * reverse and accumulates `.grad` on the leaves that require grad.
 * @section autograd
 */

/*** Computes the gradients of x with respect to the leaves that require
 * grad and adds them to their `.grad`. Frees the graph unless asked to
 * keep it. Also a Tensor method.
 * @function backward
 * @tparam Tensor x a 0-dim tensor (or any shape, given gradient)
 * @tparam[opt] Tensor gradient d(something)/dx, for a tensor that is not 0-dim
 * @tparam[opt] table opts `{retain_graph = false}`
 * @usage local loss = (w * w):sum()
 * loss:backward()
 * print(w.grad)
 */
static int l_backward(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *t = mgl_check(L, 1);
    int opts = lua_istable(L, 2) && !mgl_is_tensor(L, 2) ? 2 : (lua_istable(L, 3) ? 3 : 0);
    mg_tensor *g = opts == 2 ? NULL : mgl_opt(L, 2);
    bool retain = mgl_opt_bool(L, opts, "retain_graph", false, "backward");
    if (mg_backward(t, g, retain) != MG_OK) return mgl_error(L);
    return 0;
}

/* A Tensor or a list of Tensors at index i, as an array (Lua-owned). */
static int tensors_arg(lua_State *L, int i, mg_tensor ***out, const char *op) {
    if (mgl_is_tensor(L, i)) {
        mg_tensor **v = mgl_scratch(L, sizeof *v);
        v[0] = mgl_check(L, i);
        *out = v;
        return 1;
    }
    return mgl_tensor_list(L, i, out, op);
}

/*** The gradients of outputs with respect to inputs, returned rather
 * than accumulated into `.grad`; inputs may be any tensors that outputs
 * depend on, not only leaves (what attacks need).
 * @function grad
 * @tparam Tensor|{Tensor,...} outputs
 * @tparam Tensor|{Tensor,...} inputs
 * @tparam[opt] table opts `{grad_outputs = Tensor or list (one per output), retain_graph = false}`
 * @treturn {Tensor,...} one gradient per input
 * @usage local gx = mg.grad(F.cross_entropy(model(x), y), {x})[1]
 */
static int l_grad(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor **outs, **ins, **gouts = NULL;
    int n_out = tensors_arg(L, 1, &outs, "grad");
    int n_in = tensors_arg(L, 2, &ins, "grad");
    if (n_out == 0 || n_in == 0) return luaL_error(L, "grad: needs at least one output and one input");
    bool retain = mgl_opt_bool(L, 3, "retain_graph", false, "grad");
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "grad_outputs");
        if (!lua_isnil(L, -1)) {
            int top = lua_gettop(L);
            int n = tensors_arg(L, top, &gouts, "grad");
            if (n != n_out) return luaL_error(L, "grad: %d grad_outputs for %d outputs", n, n_out);
        }
    }
    mg_tensor **res = mgl_scratch(L, sizeof(mg_tensor *) * (size_t)n_in);
    if (mg_grad(n_out, outs, gouts, n_in, ins, res, retain) != MG_OK) return mgl_error(L);
    lua_createtable(L, n_in, 0);
    for (int k = 0; k < n_in; k++) {
        mgl_push(L, res[k]);
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

/*** Sets whether autograd records ops on x (a leaf). Also a Tensor method.
 * @function requires_grad_
 * @tparam Tensor x
 * @bool[opt=true] flag
 * @treturn Tensor x
 * @usage local w = mg.randn(3, 3):requires_grad_()
 */
static int l_requires_grad_(lua_State *L) {
    mg_tensor *t = mgl_check(L, 1);
    bool on = lua_isnoneornil(L, 2) ? true : lua_toboolean(L, 2);
    if (mg_set_requires_grad(t, on) != MG_OK) return mgl_error(L);
    lua_settop(L, 1);
    return 1;
}

/*** Turns gradient recording on or off for everything that follows
 * (`no_grad` does it for one function).
 * @function set_grad_enabled
 * @bool on
 * @treturn bool the previous setting
 */
static int l_set_grad_enabled(lua_State *L) {
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    lua_pushboolean(L, mg_grad_enabled());
    mg_set_grad_enabled(lua_toboolean(L, 1));
    return 1; /* the previous setting */
}

/*** Whether gradient recording is on.
 * @function is_grad_enabled
 * @treturn bool
 */
static int l_is_grad_enabled(lua_State *L) {
    lua_pushboolean(L, mg_grad_enabled());
    return 1;
}

/*** The names of all differentiable ops in the core's op table.
 * @function ops
 * @treturn {string,...}
 */
static int l_ops(lua_State *L) {
    int n = mg_op_count();
    lua_createtable(L, n, 0);
    for (int k = 0; k < n; k++) {
        lua_pushstring(L, mg_op_name(k));
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

void mgl_open_autograd(lua_State *L) {
    const luaL_Reg both[] = {{"backward", l_backward}, {"requires_grad_", l_requires_grad_}, {NULL, NULL}};
    const luaL_Reg module[] = {{"grad", l_grad}, {"set_grad_enabled", l_set_grad_enabled},
                               {"is_grad_enabled", l_is_grad_enabled}, {"ops", l_ops}, {NULL, NULL}};
    mgl_register(L, -1, both, true);
    mgl_register(L, -1, module, false);
}
