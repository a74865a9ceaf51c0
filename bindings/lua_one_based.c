/*
 * Lua counts from 1, the core from 0. Every conversion of a dim, an index,
 * a position or a pixel coordinate between the two happens here, and every
 * binding calls these helpers (a spec covers each function that takes or
 * returns an index):
 *   mgl_dim, mgl_dim_value  a dim (negative from the end) -> 0-based
 *   mgl_index0              an index or position (negative from the end)
 *                           -> 0-based, range-checked
 *   mgl_indices0            a tensor of 1-based values -> a 0-based copy
 *   mgl_indices1            a tensor of 0-based results -> a 1-based copy
 *   mgl_coord0              a 1-based pixel coordinate -> the core's
 *   mgl_positions0          rows whose first columns are 1-based positions
 *                           (cutout's boxes) -> a 0-based copy
 */
#include <math.h>

#include "lua_common.h"

int mgl_dim_value(lua_State *L, lua_Integer d, int ndim, const char *op) {
    lua_Integer n = ndim == 0 ? 1 : ndim;
    if (d == 0 || d > n || d < -n)
        luaL_error(L, "%s: dim %d out of range for a %d-dim tensor (dims are 1..%d, or -1 for the last)", op,
                   (int)d, ndim, (int)n);
    return (int)(d > 0 ? d - 1 : d + n);
}

int mgl_dim(lua_State *L, int i, const mg_tensor *t, const char *op) {
    return mgl_dim_value(L, mgl_int(L, i, op, "dim"), t->ndim, op);
}

int64_t mgl_index0(lua_State *L, lua_Integer i, int64_t n, int64_t upto, int dim, const char *op, const char *what) {
    lua_Integer r = i < 0 ? i + n + 1 : i;
    if (r < 1 || r > upto)
        luaL_error(L, "%s: %s %I out of range for dim %d of size %I (valid: 1..%I, or -%I..-1)", op, what, i, dim + 1,
                   (lua_Integer)n, (lua_Integer)n, (lua_Integer)n);
    return (int64_t)r - 1;
}

mg_tensor *mgl_indices0(lua_State *L, const mg_tensor *t, int64_t n, const int64_t *ignore, const char *op,
                        const char *what, const char *range) {
    if (t->dtype != MG_I64)
        luaL_error(L, "%s: %s must be an int64 tensor of 1-based numbers, got %s", op, what, mg_dtype_name(t->dtype));
    mg_tensor *c = mg_to_dtype(t, MG_I64); /* always a fresh contiguous copy */
    if (!c) mgl_error(L);
    int64_t *p = mg_i64(c), cnt = mg_numel(c);
    for (int64_t k = 0; k < cnt; k++) {
        int64_t v = p[k];
        if (n >= 0 && (v < 1 || v > n) && !(ignore && v == *ignore)) {
            char msg[200];
            snprintf(msg, sizeof msg, "%s: %s %lld out of range for %lld %s", op, what, (long long)v, (long long)n,
                     range);
            mg_release(c);
            luaL_error(L, "%s", msg);
        }
        p[k] = v - 1;
    }
    return c;
}

mg_tensor *mgl_indices1(mg_tensor *ix) {
    if (!ix) return NULL;
    mg_tensor *out = mg_to_dtype(ix, MG_I64); /* a copy: ix itself may be saved by an autograd node */
    mg_release(ix);
    if (!out) return NULL;
    int64_t n = mg_numel(out), *p = mg_i64(out);
    for (int64_t k = 0; k < n; k++) p[k] += 1;
    return out;
}

double mgl_coord0(lua_State *L, double v, const char *op) {
    if (!isfinite(v) || fabs(v) > 1e9) luaL_error(L, "%s: coordinate %f is out of range", op, v);
    return v - 1;
}

mg_tensor *mgl_positions0(lua_State *L, const mg_tensor *t, int npos, const char *op, const char *what) {
    if (t->dtype != MG_I64) luaL_error(L, "%s: %s must be an int64 tensor, got %s", op, what, mg_dtype_name(t->dtype));
    mg_tensor *c = mg_to_dtype(t, MG_I64); /* always a fresh contiguous copy */
    if (!c) mgl_error(L);
    if (c->ndim == 2 && c->shape[1] >= npos) { /* other shapes: the core names the expected one */
        int64_t rows = c->shape[0], cols = c->shape[1], *p = mg_i64(c);
        for (int64_t r = 0; r < rows; r++)
            for (int k = 0; k < npos; k++) p[r * cols + k] -= 1;
    }
    return c;
}
