/*
 * luaopen_moongrad_dist: the Lua API of mg.dist (see dist.h for the files).
 *
 *   init([{timeout = s}]) -> rank, world_size    start (once; later calls return the same)
 *   is_initialized(), rank(), world_size(), local_rank(), local_size(), backend()
 *   barrier()
 *   all_reduce(x [, {op = "sum" | "mean" | "max" | "min"}]) -> x
 *   broadcast(x [, {root = 1}]) -> x
 *   all_gather(x) -> Tensor [world_size, ...] or a list
 *   abort([code [, message]])
 *
 * Ranks are 1-based (1..world_size; the root defaults to 1), like every
 * index in moongrad's Lua API, and 0-based in MPI: converted here only.
 *
 * x is a Tensor (changed in place), a list of Tensors of one dtype (moved
 * as one message: the gradients of a model are averaged in one call), a
 * number, or a list of numbers (new values returned). broadcast also
 * takes a string, a boolean or nil from the root.
 *
 * Before the data moves, the ranks exchange what they pass (kind and
 * size) and every rank raises the same error when they disagree, instead
 * of MPI reading past a buffer or waiting forever.
 *
 * This module does not link the core: it reads Tensors through the
 * public struct of core/mg.h (data pointer, shape, strides) and makes new
 * ones by calling moongrad.core's Lua constructors.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lua_common.h"
#include "dist.h"

#define DEFAULT_TIMEOUT 300.0

/* Kinds exchanged in the agreement check. */
enum { KIND_F32 = MG_F32, KIND_I64 = MG_I64, KIND_U8 = MG_U8, KIND_INT = 10, KIND_FLOAT, KIND_NIL, KIND_BOOL, KIND_STRING };

/* Header each rank sends in the check: kind, count, ndim, shape. */
#define HEADER 11

static const char *kind_name(long long kind) {
    switch (kind) {
    case KIND_F32: return "a float32 Tensor";
    case KIND_I64: return "an int64 Tensor";
    case KIND_U8: return "a uint8 Tensor";
    case KIND_INT: return "integers";
    case KIND_FLOAT: return "numbers";
    case KIND_NIL: return "nil";
    case KIND_BOOL: return "a boolean";
    case KIND_STRING: return "a string";
    default: return "something else";
    }
}

static bool is_tensor_kind(long long kind) { return kind == KIND_F32 || kind == KIND_I64 || kind == KIND_U8; }

static size_t elem_size(mg_dtype d) { return d == MG_F32 ? 4 : d == MG_I64 ? 8 : 1; }

static const char *dtype_name(mg_dtype d) { return d == MG_F32 ? "float32" : d == MG_I64 ? "int64" : "uint8"; }

static MPI_Datatype mpi_type(long long kind) {
    switch (kind) {
    case KIND_F32: return MPI_FLOAT;
    case KIND_I64: case KIND_INT: return MPI_INT64_T;
    case KIND_U8: return MPI_UINT8_T;
    default: return MPI_DOUBLE;
    }
}

/* ---- checks common to every call ------------------------------------------- */

static void need_init(lua_State *L, const char *op) {
    if (dist.mode == DIST_OFF) luaL_error(L, "dist.%s: call mg.dist.init() first", op);
}

/* The options table at index i: only the keys in `allowed` (NULL-ended). */
static void check_options(lua_State *L, int i, const char *op, const char *const *allowed) {
    if (lua_isnoneornil(L, i)) return;
    if (!lua_istable(L, i)) luaL_error(L, "dist.%s: options must be a table, got %s", op, luaL_typename(L, i));
    lua_pushnil(L);
    while (lua_next(L, i)) {
        lua_pop(L, 1);
        bool ok = false;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (const char *const *a = allowed; *a; a++) ok = ok || !strcmp(lua_tostring(L, -1), *a);
        if (!ok) {
            char list[128] = "";
            for (const char *const *a = allowed; *a; a++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a == allowed ? "" : ", ", *a);
            luaL_error(L, "dist.%s: unknown option '%s' (expected one of %s)", op, luaL_tolstring(L, -1, NULL),
                       *allowed ? list : "none");
        }
    }
}

/* ---- tensors ------------------------------------------------------------------ */

typedef struct {
    mg_tensor **t; /* borrowed: the Lua arguments keep them alive */
    int n;
    long long kind;
    int64_t count; /* elements in all */
} tensor_set;

static mg_tensor *tensor_at(lua_State *L, int i) {
    mgl_tensor *u = luaL_testudata(L, i, MGL_TENSOR);
    if (!u || !u->t) return NULL;
    return u->t;
}

static int64_t numel(const mg_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

static bool contiguous(const mg_tensor *t) {
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expect) return false;
        expect *= t->shape[d];
    }
    return true;
}

static char *bytes_of(const mg_tensor *t) {
    return (char *)t->storage->data + (size_t)t->offset * elem_size(t->dtype);
}

/* Copies t's elements (any strides) into or out of the packed buffer. */
static void copy_strided(mg_tensor *t, char *packed, bool out_of_tensor) {
    size_t es = elem_size(t->dtype);
    int64_t n = numel(t);
    if (contiguous(t)) {
        if (out_of_tensor) memcpy(packed, bytes_of(t), (size_t)n * es);
        else memcpy(bytes_of(t), packed, (size_t)n * es);
        return;
    }
    int64_t idx[MG_MAX_DIMS] = {0};
    char *base = bytes_of(t);
    for (int64_t k = 0; k < n; k++) {
        int64_t off = 0;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        if (out_of_tensor) memcpy(packed + (size_t)k * es, base + off * (int64_t)es, es);
        else memcpy(base + off * (int64_t)es, packed + (size_t)k * es, es);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}

/* A Tensor or a non-empty list of Tensors of one dtype at index i. */
static void read_tensors(lua_State *L, int i, tensor_set *s, const char *op) {
    mg_tensor *one = tensor_at(L, i);
    if (one) {
        s->t = lua_newuserdatauv(L, sizeof(mg_tensor *), 0);
        s->t[0] = one;
        s->n = 1;
    } else {
        int n = (int)lua_rawlen(L, i);
        s->t = lua_newuserdatauv(L, sizeof(mg_tensor *) * (size_t)(n ? n : 1), 0);
        s->n = n;
        for (int k = 0; k < n; k++) {
            lua_rawgeti(L, i, k + 1);
            s->t[k] = tensor_at(L, -1);
            lua_pop(L, 1);
            if (!s->t[k]) luaL_error(L, "dist.%s: item %d of the list is not a Tensor", op, k + 1);
            if (s->t[k]->dtype != s->t[0]->dtype)
                luaL_error(L, "dist.%s: the list mixes dtypes (item 1 is %s, item %d is %s)", op,
                           dtype_name(s->t[0]->dtype), k + 1, dtype_name(s->t[k]->dtype));
        }
    }
    s->kind = s->t[0]->dtype;
    s->count = 0;
    for (int k = 0; k < s->n; k++) s->count += numel(s->t[k]);
}

/* Marks an in-place write, as the core's mg_bump_version does (autograd
 * refuses a backward through a tensor changed after it was saved). */
static void written(tensor_set *s) {
    for (int k = 0; k < s->n; k++) s->t[k]->storage->version++;
}

/* One buffer, kept and grown, for lists and strided Tensors: a training
 * step packs its gradients into the same memory every time. */
static char *stage;
static size_t stage_size;

static char *staging(lua_State *L, size_t n, const char *op) {
    if (n > stage_size) {
        char *p = realloc(stage, n);
        if (!p) luaL_error(L, "dist.%s: out of memory for a %zu-byte buffer", op, n);
        stage = p, stage_size = n;
    }
    return stage;
}

/* The data of the set as one buffer: the Tensor's own memory when it is a
 * single contiguous one, else the staging buffer (packed when `pack`). */
static char *buffer_of(lua_State *L, tensor_set *s, bool pack, bool *staged, const char *op) {
    if (s->n == 1 && contiguous(s->t[0])) {
        *staged = false;
        return bytes_of(s->t[0]);
    }
    size_t es = elem_size((mg_dtype)s->kind);
    char *buf = staging(L, (size_t)s->count * es, op);
    if (pack)
        for (int k = 0; k < s->n; k++) {
            copy_strided(s->t[k], buf, true);
            buf += (size_t)numel(s->t[k]) * es;
        }
    *staged = true;
    return stage;
}

static void unpack(tensor_set *s, const char *buf) {
    size_t es = elem_size((mg_dtype)s->kind);
    for (int k = 0; k < s->n; k++) {
        copy_strided(s->t[k], (char *)buf, false);
        buf += (size_t)numel(s->t[k]) * es;
    }
}

/* ---- moving data ------------------------------------------------------------------ */

/* MPI counts are int: long buffers go in pieces. */
#define PIECE ((int64_t)1 << 30)

static void reduce_buffer(void *buf, int64_t count, long long kind, MPI_Op op) {
    size_t es = kind == KIND_F32 ? 4 : kind == KIND_U8 ? 1 : 8;
    for (int64_t done = 0; done < count; done += PIECE) {
        int n = (int)(count - done < PIECE ? count - done : PIECE);
        MPI_Request req;
        dist.calls++;
        dist_check(MPI_Iallreduce(MPI_IN_PLACE, (char *)buf + done * (int64_t)es, n, mpi_type(kind), op, dist.world, &req),
                   DIST_OP_ALL_REDUCE);
        dist_wait(&req, DIST_OP_ALL_REDUCE);
    }
}

static void broadcast_buffer(void *buf, int64_t bytes, int root) {
    for (int64_t done = 0; done < bytes; done += PIECE) {
        int n = (int)(bytes - done < PIECE ? bytes - done : PIECE);
        MPI_Request req;
        dist.calls++;
        dist_check(MPI_Ibcast((char *)buf + done, n, MPI_BYTE, root, dist.world, &req), DIST_OP_BROADCAST);
        dist_wait(&req, DIST_OP_BROADCAST);
    }
}

/* Every rank's header (HEADER values each), pushed on the stack as a
 * userdata. A world of one exchanges nothing. */
static long long *agree(lua_State *L, const long long *mine, dist_op op) {
    long long *all = lua_newuserdatauv(L, sizeof(long long) * HEADER * (size_t)dist.size, 0);
    if (dist.mode != DIST_MPI) {
        memcpy(all, mine, sizeof(long long) * HEADER);
        return all;
    }
    MPI_Request req;
    dist.calls++;
    dist_check(MPI_Iallgather(mine, HEADER, MPI_LONG_LONG, all, HEADER, MPI_LONG_LONG, dist.world, &req), op);
    dist_wait(&req, op);
    return all;
}

static void describe(char *out, size_t n, const long long *h) {
    if (is_tensor_kind(h[0])) snprintf(out, n, "%s of %lld values", kind_name(h[0]), h[1]);
    else if (h[0] == KIND_INT || h[0] == KIND_FLOAT) snprintf(out, n, "%lld %s", h[1], kind_name(h[0]));
    else snprintf(out, n, "%s", kind_name(h[0]));
}

/* Raises the same error on every rank when a rank's tensors differ from
 * the reference rank's in kind or count. */
static void same_tensors(lua_State *L, const long long *all, int ref, const char *op) {
    for (int r = 0; r < dist.size; r++) {
        const long long *h = all + r * HEADER, *g = all + ref * HEADER;
        if (h[0] == g[0] && h[1] == g[1]) continue;
        char a[96], b[96];
        describe(a, sizeof a, h);
        describe(b, sizeof b, g);
        luaL_error(L, "dist.%s: the ranks disagree: rank %d passes %s, rank %d passes %s", op, r + 1, a, ref + 1, b);
    }
}

/* ---- numbers ------------------------------------------------------------------------- */

static bool is_number_list(lua_State *L, int i) {
    if (lua_type(L, i) == LUA_TNUMBER) return true;
    if (!lua_istable(L, i) || tensor_at(L, i)) return false;
    lua_rawgeti(L, i, 1);
    bool yes = lua_type(L, -1) == LUA_TNUMBER;
    lua_pop(L, 1);
    return yes;
}

/* all_reduce of a number or a list of numbers: returns new values. */
static int reduce_numbers(lua_State *L, MPI_Op op, bool mean) {
    bool single = lua_type(L, 1) == LUA_TNUMBER;
    int n = single ? 1 : (int)lua_rawlen(L, 1);
    bool all_int = true;
    for (int k = 1; k <= n; k++) {
        if (!single) lua_rawgeti(L, 1, k);
        else lua_pushvalue(L, 1);
        if (lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "dist.all_reduce: item %d of the list is not a number", k);
        all_int = all_int && lua_isinteger(L, -1);
        lua_pop(L, 1);
    }
    long long mine[HEADER] = {all_int ? KIND_INT : KIND_FLOAT, n};
    long long *all = agree(L, mine, DIST_OP_ALL_REDUCE);
    bool as_float = mean;
    for (int r = 0; r < dist.size; r++) {
        const long long *h = all + r * HEADER;
        if ((h[0] != KIND_INT && h[0] != KIND_FLOAT) || h[1] != n) same_tensors(L, all, dist.rank, "all_reduce");
        as_float = as_float || h[0] == KIND_FLOAT;
    }
    union {
        double f;
        int64_t i;
    } *v = lua_newuserdatauv(L, sizeof *v * (size_t)(n ? n : 1), 0);
    for (int k = 1; k <= n; k++) {
        if (!single) lua_rawgeti(L, 1, k);
        else lua_pushvalue(L, 1);
        if (as_float) v[k - 1].f = lua_tonumber(L, -1);
        else v[k - 1].i = (int64_t)lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    if (dist.mode == DIST_MPI) reduce_buffer(v, n, as_float ? KIND_FLOAT : KIND_INT, op);
    if (!single) lua_createtable(L, n, 0);
    for (int k = 0; k < n; k++) {
        if (!as_float) lua_pushinteger(L, (lua_Integer)v[k].i);
        else lua_pushnumber(L, mean ? v[k].f / dist.size : v[k].f);
        if (!single) lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

/* ---- the API --------------------------------------------------------------------------- */

/***
 * Data parallelism over MPI (`mg.dist`), a Lua C module of its own: the
 * core and the host program do not link MPI, and MPI starts only in
 * init. Ranks are 1-based (1..world_size; the root defaults to 1), like
 * every index in moongrad. Start a job with Open MPI's
 * `mpirun -np N bin/moongrad script.lua` (or Slurm's `srun --mpi=pmix`);
 * a plain run is a world of one.
 *
 * The collectives take a Tensor (changed in place), a list of Tensors of
 * one dtype (moved as one message: the gradients of a model are averaged
 * in one call), a number, or a list of numbers (new values returned).
 * Before the data moves, the ranks check that they pass the same kinds and
 * sizes, and every rank raises the same error when they do not. A
 * collective that waits longer than the timeout names the missing rank.
 * @module moongrad.dist
 * @usage local dist = mg.dist
 * local rank, world = dist.init()
 * local loader = mg.data.DataLoader(ds, {batch_size = 64, shuffle = true, seed = 1,
 *   rank = rank, world_size = world})
 * local trainer = mg.train.Trainer{model = model, optimizer = opt, rank = rank,
 *   grad_hook = function(params) dist.all_reduce(grads_of(params), {op = "mean"}) end}
 */

/*** Starts the job (once; later calls return the same). Under mpirun
 * MPI starts; in a plain run the world is this one process.
 * @function init
 * @tparam[opt] table opts `{timeout = 300}`: seconds a collective may wait (0: no limit;
 *   also $MOONGRAD_DIST_TIMEOUT)
 * @treturn int this process's rank, 1-based
 * @treturn int the world size
 */
static int l_init(lua_State *L) {
    lua_settop(L, 1);
    static const char *const allowed[] = {"timeout", NULL};
    check_options(L, 1, "init", allowed);
    if (dist.mode == DIST_OFF) {
        double timeout = DEFAULT_TIMEOUT;
        const char *env = getenv("MOONGRAD_DIST_TIMEOUT");
        if (env && *env) {
            char *end;
            timeout = strtod(env, &end);
            if (*end || !(timeout >= 0))
                return luaL_error(L, "dist.init: MOONGRAD_DIST_TIMEOUT must be a number of seconds >= 0 (0: no limit), got '%s'",
                                  env);
        }
        if (lua_istable(L, 1)) {
            lua_getfield(L, 1, "timeout");
            if (!lua_isnil(L, -1)) {
                if (lua_type(L, -1) != LUA_TNUMBER || !(lua_tonumber(L, -1) >= 0))
                    return luaL_error(L, "dist.init: timeout must be a number of seconds >= 0 (0: no limit), got %s",
                                      luaL_tolstring(L, -1, NULL));
                timeout = lua_tonumber(L, -1);
            }
            lua_pop(L, 1);
        }
        dist_launcher launcher;
        dist_detect_launcher(&launcher);
        if (launcher.name && !launcher.joinable && launcher.size != 1)
            return luaL_error(L,
                              "dist.init: this process was started by %s (%s=%s), whose ranks this build of moongrad.dist "
                              "(for %s) cannot join: each would run alone as world size 1 and train on its own. Start the "
                              "job with Open MPI's mpirun (mpirun -np N bin/moongrad script.lua), or under Slurm with "
                              "srun --mpi=pmix",
                              launcher.name, launcher.var, getenv(launcher.var),
#ifdef OPEN_MPI
                              "Open MPI"
#else
                              "another MPI"
#endif
            );
        if (launcher.name && launcher.joinable) {
            const char *err = dist_start_mpi(timeout, &launcher);
            if (err) return luaL_error(L, "dist.init: %s", err);
        } else { /* a plain run: a world of one, without starting MPI */
            dist.mode = DIST_ALONE;
            dist.rank = dist.local_rank = 0;
            dist.size = dist.local_size = 1;
            dist.timeout = timeout;
        }
    }
    lua_pushinteger(L, dist.rank + 1);
    lua_pushinteger(L, dist.size);
    return 2;
}

/*** Whether init has run.
 * @function is_initialized
 * @treturn bool
 */
static int l_is_initialized(lua_State *L) {
    lua_pushboolean(L, dist.mode != DIST_OFF);
    return 1;
}

/*** This process's rank, 1..world_size.
 * @function rank
 * @treturn int
 */
static int l_rank(lua_State *L) {
    need_init(L, "rank");
    lua_pushinteger(L, dist.rank + 1);
    return 1;
}

/*** The number of processes.
 * @function world_size
 * @treturn int
 */
static int l_world_size(lua_State *L) {
    need_init(L, "world_size");
    lua_pushinteger(L, dist.size);
    return 1;
}

/*** This process's rank among those of its machine, 1-based.
 * @function local_rank
 * @treturn int
 */
static int l_local_rank(lua_State *L) {
    need_init(L, "local_rank");
    lua_pushinteger(L, dist.local_rank + 1);
    return 1;
}

/*** The number of processes on this machine.
 * @function local_size
 * @treturn int
 */
static int l_local_size(lua_State *L) {
    need_init(L, "local_size");
    lua_pushinteger(L, dist.local_size);
    return 1;
}

/*** "mpi", or "none" for a plain run (a world of one).
 * @function backend
 * @treturn string
 */
static int l_backend(lua_State *L) {
    need_init(L, "backend");
    lua_pushstring(L, dist.mode == DIST_MPI ? "mpi" : "none");
    return 1;
}

/*** The seconds a collective may wait (0: no limit).
 * @function timeout
 * @treturn number
 */
static int l_timeout(lua_State *L) {
    need_init(L, "timeout");
    lua_pushnumber(L, dist.timeout);
    return 1;
}

/*** Waits until every rank gets here.
 * @function barrier
 */
static int l_barrier(lua_State *L) {
    need_init(L, "barrier");
    if (dist.mode != DIST_MPI) return 0;
    MPI_Request req;
    dist.calls++;
    dist_check(MPI_Ibarrier(dist.world, &req), DIST_OP_BARRIER);
    dist_wait(&req, DIST_OP_BARRIER);
    return 0;
}

/*** Combines x across the ranks; every rank gets the result.
 * @function all_reduce
 * @tparam Tensor|{Tensor,...}|number|{number,...} x changed in place when Tensors
 * @tparam[opt] table opts `{op = "sum"}`: "sum", "mean", "max" or "min"
 * @return x (Tensors), or the new values (numbers)
 * @usage dist.all_reduce(grads, {op = "mean"})   -- average gradients
 */
static int l_all_reduce(lua_State *L) {
    lua_settop(L, 2);
    need_init(L, "all_reduce");
    static const char *const allowed[] = {"op", NULL};
    check_options(L, 2, "all_reduce", allowed);
    const char *name = "sum";
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "op");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "dist.all_reduce: op must be a string, got %s", luaL_typename(L, -1));
            name = lua_tostring(L, -1);
        }
        lua_pop(L, 1); /* the table still holds the string */
    }
    MPI_Op op;
    bool mean = false;
    if (!strcmp(name, "sum")) op = MPI_SUM;
    else if (!strcmp(name, "mean")) op = MPI_SUM, mean = true;
    else if (!strcmp(name, "max")) op = MPI_MAX;
    else if (!strcmp(name, "min")) op = MPI_MIN;
    else return luaL_error(L, "dist.all_reduce: op must be \"sum\", \"mean\", \"max\" or \"min\", got \"%s\"", name);
    if (is_number_list(L, 1)) return reduce_numbers(L, op, mean);
    if (!tensor_at(L, 1) && !(lua_istable(L, 1) && lua_rawlen(L, 1) > 0))
        return luaL_error(L, "dist.all_reduce: expected a Tensor, a list of Tensors, a number or a list of numbers, got %s",
                          lua_istable(L, 1) ? "an empty table" : luaL_typename(L, 1));
    tensor_set s;
    read_tensors(L, 1, &s, "all_reduce");
    if (mean && s.kind != KIND_F32)
        return luaL_error(L, "dist.all_reduce: op \"mean\" needs float32 Tensors, got %s", dtype_name((mg_dtype)s.kind));
    long long mine[HEADER] = {s.kind, s.count};
    long long *all = agree(L, mine, DIST_OP_ALL_REDUCE);
    same_tensors(L, all, 0, "all_reduce");
    if (dist.mode == DIST_MPI && s.count > 0) {
        bool staged;
        char *buf = buffer_of(L, &s, true, &staged, "all_reduce");
        reduce_buffer(buf, s.count, s.kind, op);
        if (mean) {
            float *f = (float *)buf, k = (float)dist.size;
            for (int64_t i = 0; i < s.count; i++) f[i] /= k;
        }
        if (staged) unpack(&s, buf);
        written(&s);
    }
    lua_settop(L, 1);
    return 1;
}

/* The header of a value broadcast from the root: numbers and booleans
 * travel in it whole, a string's length does. */
static void value_header(lua_State *L, int i, long long *h) {
    switch (lua_type(L, i)) {
    case LUA_TNONE:
    case LUA_TNIL: h[0] = KIND_NIL; break;
    case LUA_TBOOLEAN: h[0] = KIND_BOOL, h[1] = lua_toboolean(L, i); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, i)) h[0] = KIND_INT, h[1] = (long long)lua_tointeger(L, i);
        else {
            double d = lua_tonumber(L, i);
            h[0] = KIND_FLOAT;
            memcpy(&h[1], &d, sizeof d);
        }
        break;
    case LUA_TSTRING: h[0] = KIND_STRING, h[1] = (long long)lua_rawlen(L, i); break;
    default: h[0] = -1;
    }
}

/*** Sends the root's x to every rank.
 * @function broadcast
 * @param x a Tensor (overwritten in place on the other ranks), a list of Tensors, a number,
 *   a list of numbers, or from the root also a string, a boolean or nil
 * @tparam[opt] table opts `{root = 1}`
 * @return x, or the root's value
 */
static int l_broadcast(lua_State *L) {
    lua_settop(L, 2);
    need_init(L, "broadcast");
    static const char *const allowed[] = {"root", NULL};
    check_options(L, 2, "broadcast", allowed);
    lua_Integer root = 1;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "root");
        if (!lua_isnil(L, -1)) {
            if (!lua_isinteger(L, -1))
                return luaL_error(L, "dist.broadcast: root must be an integer rank, got %s", luaL_tolstring(L, -1, NULL));
            root = lua_tointeger(L, -1);
        }
        lua_pop(L, 1);
    }
    if (root < 1 || root > dist.size)
        return luaL_error(L, "dist.broadcast: root must be a rank in 1..%d, got %d", dist.size, (int)root);
    int r0 = (int)root - 1;
    long long mine[HEADER] = {0};
    tensor_set s = {0};
    bool tensors = tensor_at(L, 1) || (lua_istable(L, 1) && lua_rawlen(L, 1) > 0 && !is_number_list(L, 1));
    if (tensors) {
        read_tensors(L, 1, &s, "broadcast");
        mine[0] = s.kind, mine[1] = s.count;
    } else {
        value_header(L, 1, mine);
        if (mine[0] < 0 && dist.rank == r0)
            return luaL_error(L, "dist.broadcast: expected a Tensor, a list of Tensors, a number, a string, a boolean or "
                                 "nil, got %s", luaL_typename(L, 1));
    }
    long long *all = agree(L, mine, DIST_OP_BROADCAST);
    const long long *g = all + r0 * HEADER;
    if (is_tensor_kind(g[0])) {
        same_tensors(L, all, r0, "broadcast");
        if (dist.mode == DIST_MPI && s.count > 0) {
            bool staged;
            char *buf = buffer_of(L, &s, dist.rank == r0, &staged, "broadcast");
            broadcast_buffer(buf, s.count * (int64_t)elem_size((mg_dtype)s.kind), r0);
            if (dist.rank != r0) {
                if (staged) unpack(&s, buf);
                written(&s);
            }
        }
        lua_settop(L, 1);
        return 1;
    }
    switch (g[0]) {
    case KIND_NIL: lua_pushnil(L); return 1;
    case KIND_BOOL: lua_pushboolean(L, g[1] != 0); return 1;
    case KIND_INT: lua_pushinteger(L, (lua_Integer)g[1]); return 1;
    case KIND_FLOAT: {
        double d;
        memcpy(&d, &g[1], sizeof d);
        lua_pushnumber(L, d);
        return 1;
    }
    case KIND_STRING: {
        if (dist.rank == r0 || g[1] == 0) {
            if (dist.rank == r0) lua_pushvalue(L, 1);
            else lua_pushliteral(L, "");
            if (dist.mode == DIST_MPI && g[1] > 0) broadcast_buffer((void *)lua_tostring(L, 1), g[1], r0);
            return 1;
        }
        char *bytes = lua_newuserdatauv(L, (size_t)g[1], 0);
        broadcast_buffer(bytes, g[1], r0);
        lua_pushlstring(L, bytes, (size_t)g[1]);
        return 1;
    }
    default:
        return luaL_error(L, "dist.broadcast: the root (rank %d) passes something that cannot be sent", r0 + 1);
    }
}

/* Calls moongrad.core.zeros({sizes...}, {dtype = name}); leaves the Tensor on the stack. */
static mg_tensor *new_tensor(lua_State *L, int ndim, const int64_t *shape, mg_dtype dtype) {
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moongrad.core");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "zeros");
    lua_remove(L, -2);
    lua_createtable(L, ndim, 0);
    for (int d = 0; d < ndim; d++) {
        lua_pushinteger(L, (lua_Integer)shape[d]);
        lua_rawseti(L, -2, d + 1);
    }
    lua_createtable(L, 0, 1);
    lua_pushstring(L, dtype_name(dtype));
    lua_setfield(L, -2, "dtype");
    lua_call(L, 2, 1);
    mg_tensor *t = tensor_at(L, -1);
    if (!t) luaL_error(L, "dist.all_gather: moongrad.core.zeros did not return a Tensor");
    return t;
}

static void shape_text(char *out, size_t n, const long long *h) {
    int len = snprintf(out, n, "%s [", kind_name(h[0]));
    for (int d = 0; d < h[2] && len < (int)n; d++) len += snprintf(out + len, n - len, "%s%lld", d ? ", " : "", h[3 + d]);
    if (len < (int)n) snprintf(out + len, n - len, "]");
}

/*** Every rank's x, gathered on every rank.
 * @function all_gather
 * @param x a Tensor or a number
 * @return a Tensor [world_size, ...], or a list of numbers
 */
static int l_all_gather(lua_State *L) {
    lua_settop(L, 1);
    need_init(L, "all_gather");
    long long mine[HEADER] = {0};
    mg_tensor *t = tensor_at(L, 1);
    if (lua_type(L, 1) == LUA_TNUMBER) {
        value_header(L, 1, mine);
        long long *all = agree(L, mine, DIST_OP_ALL_GATHER);
        lua_createtable(L, dist.size, 0);
        for (int r = 0; r < dist.size; r++) {
            const long long *h = all + r * HEADER;
            if (h[0] == KIND_INT) lua_pushinteger(L, (lua_Integer)h[1]);
            else if (h[0] == KIND_FLOAT) {
                double d;
                memcpy(&d, &h[1], sizeof d);
                lua_pushnumber(L, d);
            } else {
                return luaL_error(L, "dist.all_gather: the ranks disagree: rank %d passes %s, rank %d passes a number", r + 1,
                                  kind_name(h[0]), dist.rank + 1);
            }
            lua_rawseti(L, -2, r + 1);
        }
        return 1;
    }
    if (!t) return luaL_error(L, "dist.all_gather: expected a Tensor or a number, got %s", luaL_typename(L, 1));
    int64_t n = numel(t);
    if (n > INT_MAX) return luaL_error(L, "dist.all_gather: Tensors of more than %d elements are not supported", INT_MAX);
    if (t->ndim + 1 > MG_MAX_DIMS)
        return luaL_error(L, "dist.all_gather: the result would have %d dims (at most %d)", t->ndim + 1, MG_MAX_DIMS);
    mine[0] = t->dtype, mine[1] = n, mine[2] = t->ndim;
    for (int d = 0; d < t->ndim; d++) mine[3 + d] = t->shape[d];
    long long *all = agree(L, mine, DIST_OP_ALL_GATHER);
    for (int r = 1; r < dist.size; r++) /* every rank compares with rank 1: the same error everywhere */
        if (memcmp(all + r * HEADER, all, sizeof mine)) {
            char a[160], b[160];
            shape_text(a, sizeof a, all + r * HEADER);
            shape_text(b, sizeof b, all);
            return luaL_error(L, "dist.all_gather: the ranks disagree: rank %d passes %s, rank 1 passes %s", r + 1, a, b);
        }
    int64_t shape[MG_MAX_DIMS];
    shape[0] = dist.size;
    for (int d = 0; d < t->ndim; d++) shape[d + 1] = t->shape[d];
    mg_tensor *out = new_tensor(L, t->ndim + 1, shape, t->dtype);
    tensor_set s = {&t, 1, t->dtype, n};
    bool staged;
    char *send = buffer_of(L, &s, true, &staged, "all_gather");
    if (dist.mode != DIST_MPI) {
        memcpy(bytes_of(out), send, (size_t)n * elem_size(t->dtype));
    } else if (n > 0) {
        MPI_Request req;
        dist.calls++;
        dist_check(MPI_Iallgather(send, (int)n, mpi_type(t->dtype), bytes_of(out), (int)n, mpi_type(t->dtype), dist.world,
                                  &req),
                   DIST_OP_ALL_GATHER);
        dist_wait(&req, DIST_OP_ALL_GATHER);
    }
    return 1;
}

/*** Ends every rank of the job now.
 * @function abort
 * @int[opt=1] code the exit status
 * @string[opt] message printed first
 */
static int l_abort(lua_State *L) {
    lua_Integer code = luaL_optinteger(L, 1, 1);
    const char *msg = luaL_optstring(L, 2, "aborted by the script");
    if (code < 0 || code > 255) return luaL_error(L, "dist.abort: code must be in 0..255, got %d", (int)code);
    dist_abort((int)code, "%s", msg);
}

/* The staging buffer goes with the Lua state (Lua unloads this module then). */
static int free_stage(lua_State *L) {
    (void)L;
    free(stage);
    stage = NULL, stage_size = 0;
    return 0;
}

/* This file's doc comments (generated into build/gen/dist_docs.c). */
extern const char *const mgl_dist_docs[];

int luaopen_moongrad_dist(lua_State *L) {
    lua_newuserdatauv(L, 1, 0);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, free_stage);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "moongrad.dist.stage");

    const luaL_Reg fns[] = {{"init", l_init},
                            {"is_initialized", l_is_initialized},
                            {"rank", l_rank},
                            {"world_size", l_world_size},
                            {"local_rank", l_local_rank},
                            {"local_size", l_local_size},
                            {"backend", l_backend},
                            {"timeout", l_timeout},
                            {"barrier", l_barrier},
                            {"all_reduce", l_all_reduce},
                            {"broadcast", l_broadcast},
                            {"all_gather", l_all_gather},
                            {"abort", l_abort},
                            {NULL, NULL}};
    luaL_newlib(L, fns);
    mgl_offer_docs(L, "moongrad.dist_docs", mgl_dist_docs);
    return 1;
}
