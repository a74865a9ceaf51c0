/*
 * Lua bindings of the batched augmentation kernels (core/augment.c), as
 * mg.NAME. Parameters come one row per image; the random drawing of them
 * lives in Lua (moongrad.data.augment). Box corners are 1-based here and
 * made 0-based by mgl_positions0.
 */
#include <math.h>

#include "lua_common.h"

/***
 * @module moongrad
 */

/*** Augmentation kernels.
 * Batched image augmentations in C, one parameter row per image of a batch
 * x [B, C, H, W] (float32). Not differentiable: images that require grad
 * are refused. The random transforms of `mg.data.transforms`
 * (random_resized_crop, random_rotation, color_jitter, ...) draw the
 * parameters and call these.
 * @section augment
 */

/* A per-image parameter at index i: a Tensor, or a number used for every
 * image of x (a [B] Tensor pushed on the stack). Borrowed. */
static mg_tensor *per_image(lua_State *L, int i, const mg_tensor *x, const char *op, const char *what) {
    if (lua_type(L, i) == LUA_TNUMBER) {
        int64_t b = x->ndim >= 1 ? x->shape[0] : 1;
        mgl_push(L, mg_full(MG_F32, 1, &b, lua_tonumber(L, i)));
        return mgl_check(L, -1);
    }
    if (!mgl_is_tensor(L, i))
        luaL_error(L, "%s: %s must be a Tensor [B] or a number, got %s", op, what, luaL_typename(L, i));
    return mgl_check(L, i);
}

/*** Resamples each image through its own affine map, bilinearly: output
 * pixel (u, v), its column and row counted from the image centre, reads
 * the input at (t1 u + t2 v + t3, t4 u + t5 v + t6) from the centre
 * (offsets, not indices). Identity rows {1, 0, 0, 0, 1, 0} copy exactly.
 * @function affine_warp
 * @tparam Tensor x [B, C, H, W]
 * @tparam Tensor theta [B, 6]
 * @tparam[opt] table opts `{fill = 0}`, the value where the map leaves the image
 * @treturn Tensor [B, C, H, W]
 * @usage local shifted = mg.affine_warp(x, mg.tensor{{1, 0, 2, 0, 1, 0}}) -- 2 columns
 */
static int l_affine_warp(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *x = mgl_check(L, 1), *theta = mgl_check(L, 2);
    double fill = mgl_opt_number(L, 3, "fill", 0, "affine_warp");
    return mgl_push(L, mg_affine_warp(x, theta, fill));
}

/*** Brightness and contrast per image: y = clamp(brightness * x), then
 * clamp(contrast * (y - m) + m) with m the mean of the image's y.
 * @function color_jitter
 * @tparam Tensor x [B, C, H, W]
 * @tparam Tensor|number brightness factors [B] (or one for all)
 * @tparam Tensor|number contrast factors [B] (or one for all)
 * @tparam[opt] table opts `{clamp = {0, 1}}`; clamp = false does not clamp
 * @treturn Tensor [B, C, H, W]
 */
static int l_color_jitter(lua_State *L) {
    const char *op = "color_jitter";
    lua_settop(L, 4);
    mg_tensor *x = mgl_check(L, 1);
    double lo = 0, hi = 1;
    if (!lua_isnil(L, 4)) {
        if (!lua_istable(L, 4)) return luaL_error(L, "%s: options must be a table, got %s", op, luaL_typename(L, 4));
        lua_getfield(L, 4, "clamp");
        if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
            lo = -INFINITY, hi = INFINITY;
        } else if (lua_istable(L, -1)) {
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            if (lua_type(L, -2) != LUA_TNUMBER || lua_type(L, -1) != LUA_TNUMBER)
                return luaL_error(L, "%s: clamp must be {lo, hi} (two numbers) or false", op);
            lo = lua_tonumber(L, -2), hi = lua_tonumber(L, -1);
            lua_pop(L, 2);
        } else if (!lua_isnil(L, -1)) {
            return luaL_error(L, "%s: clamp must be {lo, hi} or false, got %s", op, luaL_typename(L, -1));
        }
        lua_pop(L, 1);
    }
    mg_tensor *b = per_image(L, 2, x, op, "brightness");
    mg_tensor *c = per_image(L, 3, x, op, "contrast");
    return mgl_push(L, mg_color_jitter(x, b, c, lo, hi));
}

/*** Gaussian blur per image, separable, the edge pixels repeated beyond the
 * border; sigma 0 copies the image.
 * @function gaussian_blur
 * @tparam Tensor x [B, C, H, W]
 * @tparam Tensor|number sigma standard deviations [B] (or one for all), >= 0
 * @int radius the kernel is 2 radius + 1 wide (0..32)
 * @treturn Tensor [B, C, H, W]
 */
static int l_gaussian_blur(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *x = mgl_check(L, 1);
    lua_Integer r = mgl_int(L, 3, "gaussian_blur", "radius");
    if (r < 0 || r > 32) /* as the core's limit; checked here too so a huge value cannot wrap */
        return luaL_error(L, "gaussian_blur: radius must be in 0..32 (kernel size 2 radius + 1), got %lld",
                          (long long)r);
    mg_tensor *s = per_image(L, 2, x, "gaussian_blur", "sigma");
    return mgl_push(L, mg_gaussian_blur(x, s, (int)r));
}

/*** Sets a box of each image (every channel) to a value; boxes are
 * clipped to the image.
 * @function cutout
 * @tparam Tensor x [B, C, H, W]
 * @tparam Tensor boxes int64 [B, 4]: top, left (1-based), height, width
 * @tparam[opt] table opts `{value = 0}`
 * @treturn Tensor [B, C, H, W]
 * @usage local y = mg.cutout(x, mg.tensor({{3, 3, 10, 10}}, {dtype = "int64"}))
 */
static int l_cutout(lua_State *L) {
    lua_settop(L, 3);
    mg_tensor *x = mgl_check(L, 1), *boxes = mgl_check(L, 2);
    double value = mgl_opt_number(L, 3, "value", 0, "cutout");
    if (boxes->dtype != MG_I64)
        return luaL_error(L, "cutout: boxes must be an int64 Tensor [B, 4] (top, left, height, width), got %s",
                          mg_dtype_name(boxes->dtype));
    mgl_push(L, mgl_positions0(L, boxes, 2, "cutout", "boxes"));
    return mgl_push(L, mg_cutout(x, mgl_check(L, -1), value));
}

void mgl_open_augment(lua_State *L) {
    const luaL_Reg fns[] = {{"affine_warp", l_affine_warp}, {"color_jitter", l_color_jitter},
                            {"gaussian_blur", l_gaussian_blur}, {"cutout", l_cutout}, {NULL, NULL}};
    mgl_register(L, -1, fns, false);
}
