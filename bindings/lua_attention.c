/*
 * Lua binding of fused attention:
 *   mg.scaled_dot_product_attention(q, k, v [, {attn_mask, key_padding_mask,
 *     is_causal = false, dropout_p = 0, scale = 1/sqrt(E),
 *     attn_mask_blocks = false, keep_weights = nil}])
 * Masks: a float32 attn_mask is added to the scores; a uint8/int64 one is
 * boolean, nonzero = may attend (PyTorch's F.scaled_dot_product_attention),
 * or nonzero = may not with attn_mask_blocks (nn.MultiheadAttention's
 * meaning). key_padding_mask [N, S]: uint8/int64 nonzero marks padding
 * keys; float32 is added. keep_weights: true keeps the attention weights
 * for backward (memory L x S per slice), false recomputes them (memory L),
 * nil lets the core choose. No dims or indices to convert.
 */
#include <math.h>

#include "lua_common.h"

static const char *OP = "scaled_dot_product_attention";

/* The Tensor in field key of the options table (borrowed: the table holds it), or NULL. */
static mg_tensor *opt_tensor(lua_State *L, int opts, const char *key) {
    if (lua_isnoneornil(L, opts)) return NULL;
    lua_getfield(L, opts, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (!mgl_is_tensor(L, -1))
        luaL_error(L, "%s: option '%s' must be a Tensor, got %s", OP, key, luaL_typename(L, -1));
    mg_tensor *t = mgl_check(L, -1);
    lua_pop(L, 1);
    return t;
}

/***
 * @module moongrad
 */

/*** Attention.
 * @section attention
 */

/*** softmax(q k^T * scale + mask) v in one fused op, with its own backward
 * (as PyTorch's F.scaled_dot_product_attention). Masks: a float32
 * attn_mask is added to the scores; a uint8 or int64 one is boolean,
 * nonzero meaning "may attend" (or "may not" with attn_mask_blocks, the
 * meaning of nn.MultiheadAttention). key_padding_mask [N, S] marks padding
 * keys (nonzero) or is added (float32).
 * @function scaled_dot_product_attention
 * @tparam Tensor q [..., L, E]
 * @tparam Tensor k [..., S, E]
 * @tparam Tensor v [..., S, Ev]
 * @tparam[opt] table opts `{attn_mask, key_padding_mask, is_causal = false, dropout_p = 0,
 *   scale = 1/sqrt(E), attn_mask_blocks = false, keep_weights = nil}`; keep_weights true keeps
 *   the attention weights for backward (memory L x S per slice), false recomputes them
 * @treturn Tensor [..., L, Ev]
 * @usage local out = mg.scaled_dot_product_attention(q, k, v, {is_causal = true})
 */
static int l_sdpa(lua_State *L) {
    lua_settop(L, 4);
    mg_tensor *q = mgl_check(L, 1), *k = mgl_check(L, 2), *v = mgl_check(L, 3);
    static const char *const known[] = {"attn_mask", "key_padding_mask", "is_causal", "dropout_p", "scale",
                                        "attn_mask_blocks", "keep_weights", NULL};
    mgl_check_keys(L, 4, OP, known);
    mg_sdpa_opts o = {.scale = NAN};
    o.attn_mask = opt_tensor(L, 4, "attn_mask");
    o.key_padding_mask = opt_tensor(L, 4, "key_padding_mask");
    o.attn_mask_blocks = mgl_opt_bool(L, 4, "attn_mask_blocks", false, OP);
    o.is_causal = mgl_opt_bool(L, 4, "is_causal", false, OP);
    o.dropout_p = mgl_opt_number(L, 4, "dropout_p", 0, OP);
    o.scale = mgl_opt_number(L, 4, "scale", NAN, OP);
    if (!lua_isnoneornil(L, 4)) {
        lua_getfield(L, 4, "keep_weights");
        bool given = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (given) o.keep_weights = mgl_opt_bool(L, 4, "keep_weights", false, OP) ? 1 : -1;
    }
    return mgl_push(L, mg_scaled_dot_product_attention(q, k, v, &o));
}

void mgl_open_attention(lua_State *L) {
    const luaL_Reg fns[] = {{"scaled_dot_product_attention", l_sdpa}, {NULL, NULL}};
    mgl_register(L, -1, fns, false);
}
