/*
 * Lua bindings of the fused nn ops: batch_norm, layer_norm, dropout,
 * embedding, softmax, log_softmax, the losses and grad_reverse, as mg.NAME
 * (softmax, log_softmax and dropout also as Tensor methods).
 *
 * Class targets and embedding ids are 1-based in Lua. Each call makes a
 * 0-based int64 copy for the core, checking the range with a message in
 * the user's numbering, and releases the copy before anything can raise.
 * Dims go through mgl_dim (1-based, -1 the last).
 */
#include <stdio.h>
#include <string.h>

#include "lua_common.h"

/* opts.reduction: "mean" (default), "sum" or "none". */
/***
 * @module moongrad
 */

/*** Neural-network functions.
 * The fused kernels behind `mg.nn` and `mg.nn.functional`. Class targets
 * and embedding ids are 1-based int64. Losses take
 * `{reduction = "mean"|"sum"|"none"}` (default "mean").
 * @section nnfunctions
 */
static mg_reduction opt_reduction(lua_State *L, int opts, const char *op) {
    const char *s = mgl_opt_string(L, opts, "reduction", "mean", op);
    if (!strcmp(s, "mean")) return MG_REDUCE_MEAN;
    if (!strcmp(s, "sum")) return MG_REDUCE_SUM;
    if (!strcmp(s, "none")) return MG_REDUCE_NONE;
    luaL_error(L, "%s: reduction must be 'mean', 'sum' or 'none', got '%s'", op, s);
    return MG_REDUCE_MEAN;
}

/* A 0-based int64 copy of 1-based classes t (new reference). Every value
 * must lie in 1..n, or equal `ignore` when has_ignore; n < 0 skips the
 * range check (the core then reports the shape error). Raises on error. */
static mg_tensor *zero_based(lua_State *L, const mg_tensor *t, int64_t n, bool has_ignore, int64_t ignore,
                             const char *op, const char *what) {
    bool ids = !strcmp(what, "ids");
    if (t->dtype != MG_I64)
        luaL_error(L, "%s: %s must be an int64 tensor of 1-based numbers, got %s", op, what, mg_dtype_name(t->dtype));
    return mgl_indices0(L, t, n, has_ignore ? &ignore : NULL, op, ids ? "index" : "target",
                        ids ? "embeddings (ids are 1-based)" : "classes (targets are 1-based)");
}

/*** Batch normalization over dim 2 (channels) of [N, C] or [N, C, H, W].
 * In training, normalizes with the batch's statistics and updates the
 * running ones in place; otherwise uses the running ones.
 * @function batch_norm
 * @tparam Tensor x
 * @tparam[opt] Tensor running_mean [C], or nil
 * @tparam[opt] Tensor running_var [C], or nil
 * @tparam[opt] Tensor weight [C], or nil
 * @tparam[opt] Tensor bias [C], or nil
 * @tparam[opt] table opts `{training = false, momentum = 0.1, eps = 1e-5}`
 * @treturn Tensor x's shape
 */
static int l_batch_norm(lua_State *L) {
    lua_settop(L, 6);
    mg_tensor *x = mgl_check(L, 1), *rm = mgl_opt(L, 2), *rv = mgl_opt(L, 3), *w = mgl_opt(L, 4),
              *b = mgl_opt(L, 5);
    bool training = mgl_opt_bool(L, 6, "training", false, "batch_norm");
    double momentum = mgl_opt_number(L, 6, "momentum", 0.1, "batch_norm");
    double eps = mgl_opt_number(L, 6, "eps", 1e-5, "batch_norm");
    return mgl_push(L, mg_batch_norm(x, w, b, rm, rv, training, momentum, eps));
}

/*** Layer normalization over the last dims.
 * @function layer_norm
 * @tparam Tensor x
 * @tparam int|{int,...} normalized_shape the sizes of the last dims normalized together
 * @tparam[opt] Tensor weight normalized_shape, or nil
 * @tparam[opt] Tensor bias normalized_shape, or nil
 * @tparam[opt] table opts `{eps = 1e-5}`
 * @treturn Tensor x's shape
 */
static int l_layer_norm(lua_State *L) {
    lua_settop(L, 5);
    mg_tensor *x = mgl_check(L, 1);
    int nd = 0;
    int64_t shape[MG_MAX_DIMS];
    if (lua_type(L, 2) == LUA_TNUMBER) {
        shape[nd++] = mgl_int(L, 2, "layer_norm", "normalized_shape");
    } else if (lua_istable(L, 2) && !mgl_is_tensor(L, 2)) {
        mgl_shape(L, 2, &nd, shape, "layer_norm");
    } else {
        return luaL_error(L, "layer_norm: normalized_shape must be a number or a list of sizes, got %s",
                          luaL_typename(L, 2));
    }
    mg_tensor *w = mgl_opt(L, 3), *b = mgl_opt(L, 4);
    double eps = mgl_opt_number(L, 5, "eps", 1e-5, "layer_norm");
    bool ok = nd >= 1 && nd <= x->ndim;
    for (int d = 0; ok && d < nd; d++) ok = shape[d] == x->shape[x->ndim - nd + d];
    if (!ok) {
        char want[160], got[160];
        int k = 0;
        k += snprintf(want + k, sizeof want - (size_t)k, "[");
        for (int d = 0; d < nd && k < (int)sizeof want - 24; d++)
            k += snprintf(want + k, sizeof want - (size_t)k, d ? ", %lld" : "%lld", (long long)shape[d]);
        snprintf(want + k, sizeof want - (size_t)k, "]");
        mg_shape_str(x, got, sizeof got);
        return luaL_error(L, "layer_norm: normalized_shape %s does not match the last dims of input %s", want, got);
    }
    return mgl_push(L, mg_layer_norm(x, nd, w, b, eps));
}

/*** Zeroes each element with probability p and scales the others by
 * 1 / (1 - p) in training; x unchanged otherwise. Also a Tensor method.
 * @function dropout
 * @tparam Tensor x
 * @number[opt=0.5] p
 * @bool[opt=true] training
 * @treturn Tensor
 */
static int l_dropout(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *x = mgl_check(L, 1);
    double p = luaL_optnumber(L, 2, 0.5);
    bool training = true;
    if (!lua_isnil(L, 3)) {
        if (!lua_isboolean(L, 3))
            return luaL_error(L, "dropout: training must be a boolean, got %s", luaL_typename(L, 3));
        training = lua_toboolean(L, 3);
    }
    return mgl_push(L, mg_dropout(x, p, training));
}

/*** Rows of weight picked by 1-based ids.
 * @function embedding
 * @tparam Tensor ids int64 of any shape, values in 1..V
 * @tparam Tensor weight [V, D]
 * @treturn Tensor [..., D]
 */
static int l_embedding(lua_State *L) {
    mg_tensor *ids = mgl_check(L, 1), *w = mgl_check(L, 2);
    int64_t V = w->ndim == 2 ? w->shape[0] : -1;
    mg_tensor *ids0 = zero_based(L, ids, V, false, 0, "embedding", "ids");
    mg_tensor *out = mg_embedding(ids0, w);
    mg_release(ids0);
    return mgl_push(L, out);
}

/* softmax(x [, dim = -1]), log_softmax(x [, dim = -1]) */
static int softmax_common(lua_State *L, bool lg) {
    const char *name = lg ? "log_softmax" : "softmax";
    mg_tensor *x = mgl_check(L, 1);
    int d = lua_isnoneornil(L, 2) ? (x->ndim ? x->ndim - 1 : 0) : mgl_dim(L, 2, x, name);
    return mgl_push(L, lg ? mg_log_softmax(x, d) : mg_softmax(x, d));
}
/*** exp(x) normalized to sum 1 along dim. Also a Tensor method.
 * @function softmax
 * @tparam Tensor x
 * @int[opt=-1] dim
 * @treturn Tensor
 * @usage local probs = logits:softmax(2)
 */

/*** log(softmax(x)) along dim, computed stably. Also a Tensor method.
 * @function log_softmax
 * @tparam Tensor x
 * @int[opt=-1] dim
 * @treturn Tensor
 */
static int l_softmax(lua_State *L) { return softmax_common(L, false); }
static int l_log_softmax(lua_State *L) { return softmax_common(L, true); }

/* Number of classes of class-loss input x ([N, C] or [C]), or -1. */
static int64_t n_classes(const mg_tensor *x) {
    return x->ndim == 1 || x->ndim == 2 ? x->shape[x->ndim - 1] : -1;
}

/*** Cross-entropy of logits and 1-based class targets (log_softmax and
 * nll_loss fused), as PyTorch's.
 * @function cross_entropy
 * @tparam Tensor logits [N, C] (or [C])
 * @tparam Tensor targets int64 [N] (or 0-dim), classes 1..C
 * @tparam[opt] table opts `{reduction = "mean", label_smoothing = 0, ignore_index = nil}`;
 *   targets equal to ignore_index (1-based numbering) add nothing
 * @treturn Tensor 0-dim, or [N] with reduction "none"
 * @usage local loss = mg.cross_entropy(model(x), y)
 */
static int l_cross_entropy(lua_State *L) {
    const char *op = "cross_entropy";
    lua_settop(L, 3);
    mg_tensor *x = mgl_check(L, 1), *t = mgl_check(L, 2);
    mg_reduction r = opt_reduction(L, 3, op);
    double ls = mgl_opt_number(L, 3, "label_smoothing", 0, op);
    bool has_ignore = false;
    int64_t ignore = 0;
    if (!lua_isnil(L, 3)) {
        lua_getfield(L, 3, "ignore_index");
        has_ignore = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (has_ignore) ignore = mgl_opt_int(L, 3, "ignore_index", 0, op);
    }
    if (has_ignore && ignore == INT64_MIN) has_ignore = false;
    mg_tensor *t0 = zero_based(L, t, n_classes(x), has_ignore, ignore, op, "targets");
    mg_tensor *out = mg_cross_entropy(x, t0, r, ls, has_ignore ? ignore - 1 : INT64_MIN);
    mg_release(t0);
    return mgl_push(L, out);
}

/*** Negative log-likelihood of log-probabilities and 1-based targets.
 * @function nll_loss
 * @tparam Tensor logp [N, C] log-probabilities
 * @tparam Tensor targets int64 [N], classes 1..C
 * @tparam[opt] table opts `{reduction = "mean"}`
 * @treturn Tensor
 */
static int l_nll_loss(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *x = mgl_check(L, 1), *t = mgl_check(L, 2);
    mg_reduction r = opt_reduction(L, 3, "nll_loss");
    mg_tensor *t0 = zero_based(L, t, n_classes(x), false, 0, "nll_loss", "targets");
    mg_tensor *out = mg_nll_loss(x, t0, r);
    mg_release(t0);
    return mgl_push(L, out);
}

typedef mg_tensor *(*loss2)(mg_tensor *, mg_tensor *, mg_reduction);

/* name(input, target, {reduction = "mean"}) */
static int pair_loss(lua_State *L, const char *name, loss2 fn) {
    lua_settop(L, 3);
    mg_tensor *a = mgl_check(L, 1), *b = mgl_check(L, 2);
    return mgl_push(L, fn(a, b, opt_reduction(L, 3, name)));
}
/*** Binary cross-entropy of probabilities in [0, 1] and targets.
 * @function binary_cross_entropy
 * @tparam Tensor input probabilities
 * @tparam Tensor target input's shape, values in [0, 1]
 * @tparam[opt] table opts `{reduction = "mean"}`
 * @treturn Tensor
 */

/*** Binary cross-entropy of logits (sigmoid fused in, stable for large
 * values) and targets.
 * @function binary_cross_entropy_with_logits
 * @tparam Tensor input logits
 * @tparam Tensor target input's shape, values in [0, 1]
 * @tparam[opt] table opts `{reduction = "mean"}`
 * @treturn Tensor
 */
static int l_bce(lua_State *L) { return pair_loss(L, "binary_cross_entropy", mg_binary_cross_entropy); }
static int l_bce_logits(lua_State *L) {
    return pair_loss(L, "binary_cross_entropy_with_logits", mg_binary_cross_entropy_with_logits);
}
/*** Mean squared error.
 * @function mse_loss
 * @tparam Tensor input
 * @tparam Tensor target input's shape
 * @tparam[opt] table opts `{reduction = "mean"}`
 * @treturn Tensor
 */

/*** Mean absolute error.
 * @function l1_loss
 * @tparam Tensor input
 * @tparam Tensor target input's shape
 * @tparam[opt] table opts `{reduction = "mean"}`
 * @treturn Tensor
 */
static int l_mse_loss(lua_State *L) { return pair_loss(L, "mse_loss", mg_mse_loss); }
static int l_l1_loss(lua_State *L) { return pair_loss(L, "l1_loss", mg_l1_loss); }

/*** The identity going forward; multiplies the gradient by -lambda going
 * back (the gradient reversal layer of domain-adversarial training).
 * @function grad_reverse
 * @tparam Tensor x
 * @number[opt=1] lambda
 * @treturn Tensor
 */
static int l_grad_reverse(lua_State *L) {
    mg_tensor *x = mgl_check(L, 1);
    return mgl_push(L, mg_grad_reverse(x, luaL_optnumber(L, 2, 1.0)));
}

/*** SimCLR's NT-Xent loss: the 2N rows of z1 and z2 (two views of N
 * images) normalised; each row's positive is its other view, its
 * negatives the 2(N - 1) other rows; the mean over the 2N anchors of the
 * cross-entropy of the cosine similarities over the temperature. One fused op.
 * @function nt_xent
 * @tparam Tensor z1 [N, D]
 * @tparam Tensor z2 [N, D]
 * @tparam[opt] table opts `{temperature = 0.5}`
 * @treturn Tensor 0-dim
 * @usage local loss = mg.nt_xent(head(trunk(v1)), head(trunk(v2)), {temperature = 0.5})
 */
static int l_nt_xent(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *a = mgl_check(L, 1), *b = mgl_check(L, 2);
    return mgl_push(L, mg_nt_xent(a, b, mgl_opt_number(L, 3, "temperature", 0.5, "nt_xent")));
}

void mgl_open_nn(lua_State *L) {
    const luaL_Reg fns[] = {
        {"batch_norm", l_batch_norm}, {"layer_norm", l_layer_norm}, {"embedding", l_embedding},
        {"cross_entropy", l_cross_entropy}, {"nll_loss", l_nll_loss}, {"binary_cross_entropy", l_bce},
        {"binary_cross_entropy_with_logits", l_bce_logits}, {"mse_loss", l_mse_loss}, {"l1_loss", l_l1_loss},
        {"grad_reverse", l_grad_reverse}, {"nt_xent", l_nt_xent}, {NULL, NULL}};
    const luaL_Reg both[] = {
        {"softmax", l_softmax}, {"log_softmax", l_log_softmax}, {"dropout", l_dropout}, {NULL, NULL}};
    mgl_register(L, -1, fns, false);
    mgl_register(L, -1, both, true);
}
