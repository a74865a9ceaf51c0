/*
 * Torch7-style indexing of a Tensor with a table key, read and write:
 *
 *   x[{2, 3}]            the element at row 2, column 3, as a Lua number
 *   x[{{}, {1, 2}}]      a view: all rows, columns 1 to 2 (inclusive)
 *   x[{2}]               a view of row 2 (the dim is dropped), as x[2]
 *   x[{{2}, 3}]          {a} keeps the dim: rows 2..2 of column 3, shape [1]
 *   x[{{-2, -1}}]        negative positions count from the end (-1 the last)
 *   x[{{}, 2}] = 0       assignment through any of these forms: a number
 *   x[{{1, 2}}] = y      or a Tensor broadcast to the selected shape
 *
 * A key lists one entry per leading dim (missing trailing dims are kept
 * whole): an integer selects that position and drops the dim, a table
 * {first, last}, {first} or {} narrows it. Positions are 1-based and
 * inclusive, as everywhere in Lua; {first, first - 1} is an empty range.
 * Views share storage with x and are differentiable (narrow and select
 * record the graph); an element read gives a plain number. Writes are
 * refused on a tensor that requires grad while grad mode is on, as every
 * in-place op is. Positions become 0-based through mgl_index0 (a range's
 * first may be n + 1 when the range is empty); a range's last is checked
 * against its first here.
 */
#include <string.h>

#include "lua_common.h"

#define OP "index"

static lua_Integer integer_entry(lua_State *L, int k, const char *what) {
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok)
        luaL_error(L, OP ": %s of entry %d must be an integer, got %s", what, k,
                   lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
    return v;
}

/* One entry of the key, resolved against a dim of size n. */
typedef struct {
    bool select;          /* an integer: take one position, drop the dim */
    int64_t start, len;   /* 0-based start and length (len 1 for a select) */
} slice_entry;

/* Reads entry k of the key table at `key` (1-based k) for dim `dim` of
 * size n. Raises on anything but an integer or a {first [, last]} table. */
static slice_entry read_entry(lua_State *L, int key, int k, int dim, int64_t n) {
    slice_entry e = {false, 0, n};
    lua_rawgeti(L, key, k);
    if (lua_type(L, -1) == LUA_TNUMBER) {
        e.select = true;
        e.start = mgl_index0(L, integer_entry(L, k, "the index"), n, n, dim, OP, "index");
        e.len = 1;
    } else if (lua_istable(L, -1) && !mgl_is_tensor(L, -1)) {
        lua_Integer m = (lua_Integer)lua_rawlen(L, -1);
        if (m > 2)
            luaL_error(L, OP ": entry %d is a range of %I numbers; a range is {first, last}, {first} or {}", k, m);
        if (m >= 1) {
            lua_rawgeti(L, -1, 1);
            e.start = mgl_index0(L, integer_entry(L, k, "the first position"), n, n + 1, dim, OP,
                                 "first position");
            lua_pop(L, 1);
            e.len = 1; /* {first}: one position, dim kept */
            if (m == 2) {
                lua_rawgeti(L, -1, 2);
                lua_Integer b = integer_entry(L, k, "the last position");
                lua_pop(L, 1);
                lua_Integer r = b < 0 ? b + n + 1 : b;
                if (r < 0 || r > n || r < e.start)
                    luaL_error(L, OP ": range {%I, %I} out of range for dim %d of size %I (positions are 1..%I, "
                               "inclusive; {first, first - 1} is empty)", (lua_Integer)e.start + 1, b, dim + 1,
                               (lua_Integer)n, (lua_Integer)n);
                e.len = (int64_t)r - e.start; /* positions first..r (1-based r, 0-based start) */
            } else if (e.start >= n) {
                luaL_error(L, OP ": position %I out of range for dim %d of size %I", (lua_Integer)e.start + 1,
                           dim + 1, (lua_Integer)n);
            }
        }
    } else {
        luaL_error(L, OP ": entry %d must be an integer or a range {first, last}, got %s", k,
                   mgl_is_tensor(L, -1) ? "a Tensor" : luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return e;
}

/* Reads the whole key against t's shape; returns the number of entries. */
static int read_key(lua_State *L, int key, const mg_tensor *t, slice_entry *entries) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, key);
    if (n > t->ndim) {
        char shape[160];
        luaL_error(L, OP ": %I entries for a %d-dim tensor of shape %s", n, t->ndim, mg_shape_str(t, shape, sizeof shape));
    }
    for (int k = 0; k < n; k++) entries[k] = read_entry(L, key, k + 1, k, t->shape[k]);
    return (int)n;
}

/* The view a key selects, as a new reference (narrow and select, so the
 * graph is recorded when t needs grad). */
static mg_tensor *view_of(mg_tensor *t, int n, const slice_entry *entries) {
    mg_tensor *cur = mg_retain(t);
    int dim = 0;
    for (int k = 0; k < n && cur; k++) {
        mg_tensor *next;
        if (entries[k].select) {
            next = mg_select(cur, dim, entries[k].start);
        } else if (entries[k].start == 0 && entries[k].len == cur->shape[dim]) {
            next = mg_retain(cur);
            dim++;
        } else {
            next = mg_narrow(cur, dim, entries[k].start, entries[k].len);
            dim++;
        }
        mg_release(cur);
        cur = next;
    }
    return cur;
}

static bool all_selects(int n, int ndim, const slice_entry *entries) {
    if (n != ndim || n == 0) return false;
    for (int k = 0; k < n; k++)
        if (!entries[k].select) return false;
    return true;
}

static int64_t element_offset(const mg_tensor *t, const slice_entry *entries) {
    int64_t off = t->offset;
    for (int d = 0; d < t->ndim; d++) off += entries[d].start * t->stride[d];
    return off;
}

int mgl_slice_get(lua_State *L, int ti, int key) {
    mg_tensor *t = mgl_check(L, ti);
    slice_entry entries[MG_MAX_DIMS];
    int n = read_key(L, key, t, entries);
    if (all_selects(n, t->ndim, entries)) {
        int64_t off = element_offset(t, entries);
        switch (t->dtype) {
        case MG_F32: mgl_push_number(L, t, ((const float *)t->storage->data)[off]); break;
        case MG_I64: lua_pushinteger(L, ((const int64_t *)t->storage->data)[off]); break;
        case MG_U8: lua_pushinteger(L, ((const uint8_t *)t->storage->data)[off]); break;
        }
        return 1;
    }
    return mgl_push(L, view_of(t, n, entries));
}

int mgl_slice_set(lua_State *L, int ti, int key, int value) {
    mg_tensor *t = mgl_check(L, ti);
    slice_entry entries[MG_MAX_DIMS];
    int n = read_key(L, key, t, entries);
    if (t->requires_grad && mg_grad_enabled())
        return luaL_error(L, OP ": cannot assign into a tensor that requires grad (in-place change); "
                             "wrap it in mg.no_grad or build a new tensor");
    if (!mgl_is_tensor(L, value) && lua_type(L, value) != LUA_TNUMBER)
        return luaL_error(L, OP ": the assigned value must be a number or a Tensor, got %s", luaL_typename(L, value));
    if (all_selects(n, t->ndim, entries) && lua_type(L, value) == LUA_TNUMBER) {
        int64_t off = element_offset(t, entries);
        if (t->dtype == MG_I64 && lua_isinteger(L, value)) {
            ((int64_t *)t->storage->data)[off] = lua_tointeger(L, value);
            mg_bump_version(t);
            return 0;
        }
    }
    mg_tensor *src = mgl_check_or_scalar(L, value);
    bool grad = mg_grad_enabled();
    mg_set_grad_enabled(false); /* t does not require grad: the views need no graph */
    mg_tensor *view = view_of(t, n, entries);
    mg_set_grad_enabled(grad);
    if (!view) return mgl_error(L);
    int rc = mg_copy_(view, src);
    mg_release(view);
    if (rc != MG_OK) return mgl_error(L);
    return 0;
}
