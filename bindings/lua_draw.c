/*
 * Lua bindings: PNG files and drawing on canvases (core/io_png.c,
 * core/draw.c).
 *
 *   write_png(path, t) -> path   t uint8 or float32 (values in [0, 1]) of
 *                                shape [H,W], [H,W,1], [H,W,3] or [H,W,4]
 *   read_png(path) -> uint8 Tensor [H,W], [H,W,3] or [H,W,4]
 *
 * Canvas functions take a uint8 canvas [H,W] or [H,W,C] (C 1, 3, 4) and
 * draw into it in place. Pixel coordinates are 1-based like tensor
 * indices: (1, 1) is the top-left pixel, x the column, y the row. A
 * colour is 0xRRGGBB, {r, g, b} (0..255), "#rrggbb" or a name (black,
 * white, grey, red, green, blue, orange, purple, yellow, cyan, magenta).
 *
 *   draw_rect(c, x, y, w, h, colour)
 *   draw_line(c, x0, y0, x1, y1, colour [, width = 1])
 *   draw_polyline(c, xs, ys, colour [, width = 1])  non-finite values break
 *                                                   the line; lone points are dots
 *   draw_disc(c, x, y, radius, colour)
 *   draw_text(c, x, y, text, colour [, {scale = 1, vertical = false}])
 *   text_size(text [, scale = 1]) -> width, height
 *   draw_image(c, img, x, y [, {scale = 1, range = {0, 1}}])
 *   parse_color(colour) -> 0xRRGGBB
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lua_common.h"

/* ---- PNG ------------------------------------------------------------------ */

/***
 * @module moongrad
 */

/*** PNG files and drawing.
 * Canvas functions draw in place into a uint8 canvas [H, W] or [H, W, C]
 * (C 1, 3 or 4) and return it. Pixel coordinates are 1-based like tensor
 * indices: (1, 1) is the top-left pixel, x the column, y the row. A
 * colour is 0xRRGGBB, {r, g, b} (0..255), "#rrggbb" or a name (black,
 * white, grey, red, green, blue, orange, purple, yellow, cyan, magenta).
 * `mg.viz` builds image grids and plots on these.
 * @section drawing
 */

/*** Writes an image as a PNG file.
 * @function write_png
 * @string path
 * @tparam Tensor image uint8, or float32 with values in [0, 1]; [H, W], [H, W, 1], [H, W, 3] or [H, W, 4]
 * @treturn string path
 * @usage mg.write_png("digit.png", images[1][1])   -- [28, 28] in [0, 1]
 */
static int l_write_png(lua_State *L) {
    lua_settop(L, 2);
    const char *path = luaL_checkstring(L, 1);
    mg_tensor *t = mgl_check(L, 2);
    char shp[160];
    int ok_shape = t->ndim == 2 || (t->ndim == 3 && (t->shape[2] == 1 || t->shape[2] == 3 || t->shape[2] == 4));
    if (!ok_shape) {
        mg_shape_str(t, shp, sizeof shp);
        bool chw = t->ndim == 3 && (t->shape[0] == 1 || t->shape[0] == 3);
        return luaL_error(L, "write_png: expected a [H,W], [H,W,3] or [H,W,4] image, got %s%s", shp,
                          chw ? " (for a [C,H,W] image use t:permute(2, 3, 1))" : "");
    }
    if (t->dtype != MG_U8 && t->dtype != MG_F32)
        return luaL_error(L, "write_png: expected uint8 or float32 (values in [0, 1]), got %s",
                          mg_dtype_name(t->dtype));
    if (t->shape[0] > INT32_MAX || t->shape[1] > INT32_MAX || t->shape[0] == 0 || t->shape[1] == 0) {
        mg_shape_str(t, shp, sizeof shp);
        return luaL_error(L, "write_png: image size %s is out of range", shp);
    }
    int h = (int)t->shape[0], w = (int)t->shape[1], c = t->ndim == 2 ? 1 : (int)t->shape[2];
    int64_t n = mg_numel(t);
    uint8_t *px = mgl_scratch(L, (size_t)n);
    mg_tensor *d = mg_detach(t);
    mg_tensor *src = d ? mg_contiguous(d) : NULL;
    mg_release(d);
    if (!src) return mgl_error(L);
    if (src->dtype == MG_U8) {
        memcpy(px, mg_u8(src), (size_t)n);
    } else {
        const float *f = mg_f32(src);
        for (int64_t i = 0; i < n; i++) {
            float v = f[i] * 255.0f + 0.5f;
            px[i] = (uint8_t)(v != v || v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    mg_release(src);
    if (mg_write_png(path, w, h, c, px) != MG_OK) return mgl_error(L);
    lua_pushvalue(L, 1);
    return 1;
}

/*** Reads a PNG file (8-bit grey, RGB or RGBA).
 * @function read_png
 * @string path
 * @treturn Tensor uint8 [H, W], [H, W, 3] or [H, W, 4]
 */
static int l_read_png(lua_State *L) { return mgl_push(L, mg_read_png(luaL_checkstring(L, 1))); }

/* ---- colours -------------------------------------------------------------- */

static const struct {
    const char *name;
    uint32_t rgb;
} colour_names[] = {
    {"black", 0x000000}, {"white", 0xffffff},  {"grey", 0x808080},   {"gray", 0x808080},
    {"red", 0xd62728},   {"green", 0x2ca02c},  {"blue", 0x1f5fbf},   {"orange", 0xf28e1c},
    {"purple", 0x8e44ad}, {"yellow", 0xe6c619}, {"cyan", 0x17a2b8},  {"magenta", 0xd63384},
};

static int byte_of(lua_State *L, int idx, lua_Integer k, const char *op) {
    lua_rawgeti(L, idx, k);
    if (lua_type(L, -1) != LUA_TNUMBER)
        return luaL_error(L, "%s: a colour table needs 3 numbers {r, g, b} in 0..255", op);
    lua_Number v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!(v >= 0 && v <= 255)) return luaL_error(L, "%s: colour component %f is outside 0..255", op, v);
    return (int)(v + 0.5);
}

/* The colour at index idx (see the top of the file). */
static uint32_t check_colour(lua_State *L, int idx, const char *op) {
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER: {
        lua_Integer v = mgl_int(L, idx, op, "colour");
        if (v < 0 || v > 0xffffff) luaL_error(L, "%s: colour %I is outside 0x000000..0xffffff", op, v);
        return (uint32_t)v;
    }
    case LUA_TTABLE:
        if (lua_rawlen(L, idx) != 3) luaL_error(L, "%s: a colour table needs 3 numbers {r, g, b}", op);
        return (uint32_t)byte_of(L, idx, 1, op) << 16 | (uint32_t)byte_of(L, idx, 2, op) << 8 |
               (uint32_t)byte_of(L, idx, 3, op);
    case LUA_TSTRING: {
        const char *s = lua_tostring(L, idx);
        if (s[0] == '#' && strlen(s) == 7 && strspn(s + 1, "0123456789abcdefABCDEF") == 6)
            return (uint32_t)strtoul(s + 1, NULL, 16);
        for (size_t k = 0; k < sizeof colour_names / sizeof colour_names[0]; k++)
            if (!strcmp(s, colour_names[k].name)) return colour_names[k].rgb;
        luaL_error(L, "%s: unknown colour '%s' (expected a name, \"#rrggbb\", 0xRRGGBB or {r, g, b})", op, s);
        return 0;
    }
    default:
        luaL_error(L, "%s: expected a colour, got %s", op, luaL_typename(L, idx));
        return 0;
    }
}

/*** A colour in any of the accepted forms, as 0xRRGGBB; an error names
 * what is wrong.
 * @function parse_color
 * @param colour a name, "#rrggbb", 0xRRGGBB or {r, g, b}
 * @treturn int
 * @usage mg.parse_color("#ff8000")   --> 0xff8000
 */
static int l_parse_color(lua_State *L) {
    lua_pushinteger(L, check_colour(L, 1, "parse_color"));
    return 1;
}

/* ---- canvas functions ------------------------------------------------------- */

/* A Lua pixel coordinate (1-based) as a core one, refusing absurd values. */
static double coord(lua_State *L, int idx, const char *op) { return mgl_coord0(L, luaL_checknumber(L, idx), op); }

static int icoord(lua_State *L, int idx, const char *op) {
    return (int)mgl_coord0(L, (double)mgl_int(L, idx, op, "a coordinate"), op);
}

static int isize(lua_State *L, int idx, const char *op, const char *what) {
    lua_Integer v = mgl_int(L, idx, op, what);
    if (v < 0 || v > 1000000000) luaL_error(L, "%s: %s %d is out of range", op, what, (int)v);
    return (int)v;
}

static int canvas_result(lua_State *L, int rc) {
    if (rc != MG_OK) return mgl_error(L);
    lua_settop(L, 1);
    return 1;
}

/*** Fills a rectangle.
 * @function draw_rect
 * @tparam Tensor canvas
 * @int x the left column
 * @int y the top row
 * @int w width
 * @int h height
 * @param colour
 * @treturn Tensor canvas
 */
static int l_draw_rect(lua_State *L) {
    mg_tensor *c = mgl_check(L, 1);
    int x = icoord(L, 2, "draw_rect"), y = icoord(L, 3, "draw_rect");
    int w = isize(L, 4, "draw_rect", "width"), h = isize(L, 5, "draw_rect", "height");
    uint32_t rgb = check_colour(L, 6, "draw_rect");
    return canvas_result(L, mg_draw_rect(c, x, y, w, h, rgb));
}

/*** Draws an antialiased line.
 * @function draw_line
 * @tparam Tensor canvas
 * @number x0
 * @number y0
 * @number x1
 * @number y1
 * @param colour
 * @number[opt=1] width
 * @treturn Tensor canvas
 */
static int l_draw_line(lua_State *L) {
    mg_tensor *c = mgl_check(L, 1);
    double x0 = coord(L, 2, "draw_line"), y0 = coord(L, 3, "draw_line");
    double x1 = coord(L, 4, "draw_line"), y1 = coord(L, 5, "draw_line");
    uint32_t rgb = check_colour(L, 6, "draw_line");
    double width = luaL_optnumber(L, 7, 1.0);
    return canvas_result(L, mg_draw_line(c, x0, y0, x1, y1, width, rgb));
}

/* A number of a list, NAN where missing or not finite. */
static double list_number(lua_State *L, int idx, lua_Integer k) {
    lua_rawgeti(L, idx, k);
    double v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : NAN;
    lua_pop(L, 1);
    return isfinite(v) && fabs(v) < 1e9 ? mgl_coord0(L, v, "draw_polyline") : NAN;
}

/*** Draws a line through points; a missing or non-finite value breaks the
 * line, and a lone point between breaks is drawn as a dot.
 * @function draw_polyline
 * @tparam Tensor canvas
 * @tparam {number,...} xs
 * @tparam {number,...} ys as many as xs
 * @param colour
 * @number[opt=1] width in (0, 64]
 * @treturn Tensor canvas
 */
static int l_draw_polyline(lua_State *L) {
    mg_tensor *c = mgl_check(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    if ((lua_Integer)lua_rawlen(L, 3) != n)
        return luaL_error(L, "draw_polyline: %d x values but %d y values", (int)n, (int)lua_rawlen(L, 3));
    uint32_t rgb = check_colour(L, 4, "draw_polyline");
    double width = luaL_optnumber(L, 5, 1.0);
    if (!(width > 0 && width <= 64)) return luaL_error(L, "draw_polyline: width must be in (0, 64], got %f", width);
    double px = NAN, py = NAN;
    bool prev_drawn = false; /* the previous point was joined to something */
    for (lua_Integer k = 1; k <= n; k++) {
        double x = list_number(L, 2, k), y = list_number(L, 3, k);
        bool ok = !isnan(x) && !isnan(y), pok = !isnan(px);
        if (ok && pok) {
            if (mg_draw_line(c, px, py, x, y, width, rgb) != MG_OK) return mgl_error(L);
            prev_drawn = true;
        } else if (!ok && pok && !prev_drawn) { /* a lone point between gaps */
            if (mg_draw_disc(c, px, py, width + 0.5, rgb) != MG_OK) return mgl_error(L);
        }
        if (ok && !pok) prev_drawn = false;
        px = ok ? x : NAN;
        py = ok ? y : NAN;
    }
    if (!isnan(px) && !prev_drawn && mg_draw_disc(c, px, py, width + 0.5, rgb) != MG_OK) return mgl_error(L);
    lua_settop(L, 1);
    return 1;
}

/*** Fills a disc.
 * @function draw_disc
 * @tparam Tensor canvas
 * @number x the centre's column
 * @number y the centre's row
 * @number radius
 * @param colour
 * @treturn Tensor canvas
 */
static int l_draw_disc(lua_State *L) {
    mg_tensor *c = mgl_check(L, 1);
    double x = coord(L, 2, "draw_disc"), y = coord(L, 3, "draw_disc");
    double r = luaL_checknumber(L, 4);
    uint32_t rgb = check_colour(L, 5, "draw_disc");
    return canvas_result(L, mg_draw_disc(c, x, y, r, rgb));
}

/*** Writes text with the built-in bitmap font.
 * @function draw_text
 * @tparam Tensor canvas
 * @int x the left column
 * @int y the top row
 * @param text a string (or a value tostring turns into one)
 * @param colour
 * @tparam[opt] table opts `{scale = 1, vertical = false}` (vertical: reading upwards)
 * @treturn Tensor canvas
 */
static int l_draw_text(lua_State *L) {
    lua_settop(L, 6); /* luaL_tolstring pushes a temporary */
    mg_tensor *c = mgl_check(L, 1);
    int x = icoord(L, 2, "draw_text"), y = icoord(L, 3, "draw_text");
    const char *text = luaL_tolstring(L, 4, NULL); /* pushes a string; fine after the checks */
    uint32_t rgb = check_colour(L, 5, "draw_text");
    int opts = lua_istable(L, 6) ? 6 : 0;
    if (!opts && !lua_isnoneornil(L, 6)) return luaL_error(L, "draw_text: options must be a table");
    int scale = (int)mgl_opt_int(L, opts, "scale", 1, "draw_text");
    bool vertical = mgl_opt_bool(L, opts, "vertical", false, "draw_text");
    return canvas_result(L, mg_draw_text(c, x, y, text, scale, rgb, vertical));
}

/*** The size in pixels that draw_text gives text.
 * @function text_size
 * @param text
 * @int[opt=1] scale 1..16
 * @treturn int width
 * @treturn int height
 */
static int l_text_size(lua_State *L) {
    lua_settop(L, 2);
    const char *text = luaL_tolstring(L, 1, NULL);
    lua_Integer scale = luaL_optinteger(L, 2, 1);
    if (scale < 1 || scale > 16) return luaL_error(L, "text_size: scale must be in 1..16, got %d", (int)scale);
    int w, h;
    mg_text_size(text, (int)scale, &w, &h);
    lua_pushinteger(L, w);
    lua_pushinteger(L, h);
    return 2;
}

/*** Draws an image onto the canvas, its values mapped from range to 0..255.
 * @function draw_image
 * @tparam Tensor canvas
 * @tparam Tensor image [H, W] or [H, W, C]
 * @int x the left column
 * @int y the top row
 * @tparam[opt] table opts `{scale = 1 (an integer zoom), range = {0, 1} (uint8 images: {0, 255})}`
 * @treturn Tensor canvas
 */
static int l_draw_image(lua_State *L) {
    mg_tensor *c = mgl_check(L, 1);
    mg_tensor *img = mgl_check(L, 2);
    int x = icoord(L, 3, "draw_image"), y = icoord(L, 4, "draw_image");
    int opts = lua_istable(L, 5) ? 5 : 0;
    if (!opts && !lua_isnoneornil(L, 5)) return luaL_error(L, "draw_image: options must be a table");
    int scale = (int)mgl_opt_int(L, opts, "scale", 1, "draw_image");
    double lo = 0, hi = img->dtype == MG_U8 ? 255 : 1;
    if (opts) {
        lua_getfield(L, opts, "range");
        if (!lua_isnil(L, -1)) {
            if (!lua_istable(L, -1) || lua_rawlen(L, -1) != 2)
                return luaL_error(L, "draw_image: option 'range' must be {lo, hi}");
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            if (lua_type(L, -2) != LUA_TNUMBER || lua_type(L, -1) != LUA_TNUMBER)
                return luaL_error(L, "draw_image: option 'range' must be {lo, hi}");
            lo = lua_tonumber(L, -2);
            hi = lua_tonumber(L, -1);
            lua_pop(L, 2);
        }
        lua_pop(L, 1);
    }
    return canvas_result(L, mg_draw_image(c, img, x, y, scale, lo, hi));
}

void mgl_open_draw(lua_State *L) {
    const luaL_Reg fns[] = {{"write_png", l_write_png},         {"read_png", l_read_png},
                            {"draw_rect", l_draw_rect},         {"draw_line", l_draw_line},
                            {"draw_polyline", l_draw_polyline}, {"draw_disc", l_draw_disc},
                            {"draw_text", l_draw_text},         {"text_size", l_text_size},
                            {"draw_image", l_draw_image},       {"parse_color", l_parse_color},
                            {NULL, NULL}};
    mgl_register(L, -1, fns, false);
}
