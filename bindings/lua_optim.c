/*
 * Lua bindings: the fused optimizer updates that mg.optim's classes call.
 *   core.sgd_step(params, bufs_or_nil, {lr, momentum, dampening, weight_decay,
 *                 nesterov, maximize}, first_step)
 *   core.adam_step(params, exp_avg, exp_avg_sq, max_exp_avg_sq_or_nil, step,
 *                  {lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad,
 *                   maximize})   -- step: the 1-based count after this update
 *   core.clip_grad_norm(params, max_norm) -> total L2 norm of the gradients
 * Lists are Lua lists of Tensors of equal length; parameters without a
 * .grad are skipped. The updates do not record autograd.
 */
#include <math.h>

#include "lua_common.h"

/* A list argument that must have n entries (or be nil when optional). */
/***
 * @module moongrad
 */

/*** Optimizer kernels.
 * The fused updates that `mg.optim`'s classes call over each parameter
 * group; use those classes rather than these. Parameters without a `.grad`
 * are skipped, and no autograd is recorded.
 * @section optimkernels
 */
static mg_tensor **list_of(lua_State *L, int i, int n, const char *op, const char *what, bool optional) {
    if (optional && lua_isnil(L, i)) return NULL;
    mg_tensor **v;
    int k = mgl_tensor_list(L, i, &v, op);
    if (k != n) luaL_error(L, "%s: %s has %d tensors, expected %d (one per parameter)", op, what, k, n);
    return v;
}

static double required_number(lua_State *L, int opts, const char *key, const char *op) {
    double v = mgl_opt_number(L, opts, key, NAN, op);
    if (isnan(v)) luaL_error(L, "%s: option '%s' is required", op, key);
    return v;
}

/*** One SGD update of every parameter, in place.
 * @function sgd_step
 * @tparam {Tensor,...} params
 * @tparam[opt] {Tensor,...} bufs momentum buffers, one per parameter (needed when momentum is not 0)
 * @tparam table opts `{lr = (required), momentum = 0, dampening = 0, weight_decay = 0,
 *   nesterov = false, maximize = false}`
 * @bool first_step true on the first update (the buffers then take the gradient as it is)
 */
static int l_sgd_step(lua_State *L) {
    const char *op = "sgd_step";
    lua_settop(L, 4);
    luaL_checktype(L, 3, LUA_TTABLE);
    mg_sgd_opts o = {
        .lr = required_number(L, 3, "lr", op),
        .momentum = mgl_opt_number(L, 3, "momentum", 0, op),
        .dampening = mgl_opt_number(L, 3, "dampening", 0, op),
        .weight_decay = mgl_opt_number(L, 3, "weight_decay", 0, op),
        .nesterov = mgl_opt_bool(L, 3, "nesterov", false, op),
        .maximize = mgl_opt_bool(L, 3, "maximize", false, op),
    };
    bool first = lua_toboolean(L, 4);
    mg_tensor **params;
    int n = mgl_tensor_list(L, 1, &params, op);
    mg_tensor **bufs = list_of(L, 2, n, op, "the momentum buffer list", true);
    if (o.momentum != 0 && !bufs) return luaL_error(L, "%s: momentum %f needs momentum buffers", op, (lua_Number)o.momentum);
    if (mg_sgd_step(n, params, bufs, &o, first)) return mgl_error(L);
    return 0;
}

/*** One Adam (or AdamW) update of every parameter, in place.
 * @function adam_step
 * @tparam {Tensor,...} params
 * @tparam {Tensor,...} exp_avg first-moment buffers, one per parameter
 * @tparam {Tensor,...} exp_avg_sq second-moment buffers
 * @tparam[opt] {Tensor,...} max_exp_avg_sq the amsgrad buffers (needed with amsgrad)
 * @int step the 1-based count of this update
 * @tparam table opts `{lr = (required), beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0,
 *   decoupled = false (true: AdamW), amsgrad = false, maximize = false}`
 */
static int l_adam_step(lua_State *L) {
    const char *op = "adam_step";
    lua_settop(L, 6);
    luaL_checktype(L, 6, LUA_TTABLE);
    mg_adam_opts o = {
        .lr = required_number(L, 6, "lr", op),
        .beta1 = mgl_opt_number(L, 6, "beta1", 0.9, op),
        .beta2 = mgl_opt_number(L, 6, "beta2", 0.999, op),
        .eps = mgl_opt_number(L, 6, "eps", 1e-8, op),
        .weight_decay = mgl_opt_number(L, 6, "weight_decay", 0, op),
        .decoupled = mgl_opt_bool(L, 6, "decoupled", false, op),
        .amsgrad = mgl_opt_bool(L, 6, "amsgrad", false, op),
        .maximize = mgl_opt_bool(L, 6, "maximize", false, op),
    };
    lua_Integer step = mgl_int(L, 5, op, "step");
    mg_tensor **params;
    int n = mgl_tensor_list(L, 1, &params, op);
    mg_tensor **m = list_of(L, 2, n, op, "the exp_avg list", false);
    mg_tensor **v = list_of(L, 3, n, op, "the exp_avg_sq list", false);
    mg_tensor **vmax = list_of(L, 4, n, op, "the max_exp_avg_sq list", true);
    if (o.amsgrad && !vmax) return luaL_error(L, "%s: amsgrad needs the max_exp_avg_sq list", op);
    if (mg_adam_step(n, params, m, v, vmax, (int64_t)step, &o)) return mgl_error(L);
    return 0;
}

/*** Scales all gradients together so that their joint L2 norm is at most
 * max_norm (`mg.optim.clip_grad_norm` also takes parameter groups).
 * @function clip_grad_norm
 * @tparam {Tensor,...} params
 * @number max_norm
 * @treturn number the norm before clipping
 */
static int l_clip_grad_norm(lua_State *L) {
    lua_settop(L, 2);
    double max_norm = luaL_checknumber(L, 2);
    mg_tensor **params;
    int n = mgl_tensor_list(L, 1, &params, "clip_grad_norm");
    double norm = mg_clip_grad_norm(n, params, max_norm);
    if (norm < 0) return mgl_error(L);
    lua_pushnumber(L, norm);
    return 1;
}

void mgl_open_optim(lua_State *L) {
    const luaL_Reg fns[] = {{"sgd_step", l_sgd_step}, {"adam_step", l_adam_step},
                            {"clip_grad_norm", l_clip_grad_norm}, {NULL, NULL}};
    mgl_register(L, -1, fns, false);
}
