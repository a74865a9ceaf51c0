/*
 * Lua bindings: file IO of datasets.
 *   mg.read_idx(path) -> Tensor (uint8, int64 or float32 by the file's type)
 *   mg.read_idx(path, {scale = s}) -> float32 Tensor of the values times s,
 *     converted while reading (s = 1/255 maps ubyte images to [0, 1])
 *   mg.write_idx(path, t_uint8, {gzip = bool}) (gzip defaults to a path
 *   ending in ".gz")
 */
#include <math.h>
#include <string.h>

#include "lua_common.h"

/***
 * @module moongrad
 */

/*** IDX files, the format of MNIST and Fashion-MNIST.
 * @section idx
 */

/*** Reads an IDX file (MNIST's format), plain or gzip.
 * @function read_idx
 * @string path
 * @tparam[opt] table opts `{scale = s}`: a float32 result of the values times s
 *   (1/255 maps byte images to [0, 1])
 * @treturn Tensor uint8, int64 or float32 by the file's type
 * @usage local images = mg.read_idx("train-images-idx3-ubyte.gz", {scale = 1 / 255})
 */
static int l_read_idx(lua_State *L) {
    lua_settop(L, 2);
    const char *path = luaL_checkstring(L, 1);
    double scale = mgl_opt_number(L, 2, "scale", NAN, "read_idx");
    if (isnan(scale)) return mgl_push(L, mg_read_idx(path));
    return mgl_push(L, mg_read_idx_scaled(path, (float)scale));
}

/*** Writes a uint8 tensor as an IDX file.
 * @function write_idx
 * @string path
 * @tparam Tensor t uint8
 * @tparam[opt] table opts `{gzip = bool}` (default: whether path ends in ".gz")
 */
static int l_write_idx(lua_State *L) {
    lua_settop(L, 3);
    const char *path = luaL_checkstring(L, 1);
    mg_tensor *t = mgl_check(L, 2);
    size_t n = strlen(path);
    bool by_name = n >= 3 && !strcmp(path + n - 3, ".gz");
    bool gzip = mgl_opt_bool(L, 3, "gzip", by_name, "write_idx");
    if (mg_write_idx_u8(path, t, gzip)) return mgl_error(L);
    return 0;
}

void mgl_open_io(lua_State *L) {
    const luaL_Reg fns[] = {{"read_idx", l_read_idx}, {"write_idx", l_write_idx}, {NULL, NULL}};
    mgl_register(L, -1, fns, false);
}
