/*
 * luaopen_moongrad_core: builds the module table from every binding file,
 * plus runtime settings (threads, seed, RNG state, memory statistics, a
 * wall clock for timings).
 */
#include <time.h>

#include "lua_common.h"

/***
 * @module moongrad
 */

/*** Runtime settings.
 * @section runtime
 */

/*** Sets the number of threads of the kernels (OpenMP and OpenBLAS
 * together, so they never oversubscribe the cores). While other processes
 * keep cores busy the kernels use fewer, down to the cores left (measured
 * every 100 ms): on a shared machine that is faster than waiting for a
 * thread that shares a core. `{adapt = false}` keeps exactly n (as does
 * MG_THREAD_ADAPT=0 in the environment), `{adapt = true}` turns following
 * the load back on: sums split across threads round differently at
 * another count.
 * @function set_num_threads
 * @int n 1..256
 * @tparam[opt] table opts `{adapt = true}`
 * @usage mg.set_num_threads(1)   -- bit-exact runs with a fixed seed
 * mg.set_num_threads(2, {adapt = false})
 */
static int l_set_num_threads(lua_State *L) {
    lua_Integer n = mgl_int(L, 1, "set_num_threads", "n");
    if (n < 1 || n > 256) return luaL_error(L, "set_num_threads: n must be in 1..256, got %d", (int)n);
    static const char *const known[] = {"adapt", NULL};
    mgl_check_keys(L, 2, "set_num_threads", known);
    bool given = lua_istable(L, 2) && lua_getfield(L, 2, "adapt") != LUA_TNIL;
    bool adapt = mgl_opt_bool(L, 2, "adapt", true, "set_num_threads");
    mg_set_num_threads((int)n);
    if (given) mg_set_thread_adapt(adapt); /* else as it was (on, unless MG_THREAD_ADAPT=0) */
    return 0;
}

/*** The number of kernel threads asked for, and the number in use now
 * (fewer while other processes keep cores busy).
 * @function get_num_threads
 * @treturn int asked for
 * @treturn int in use
 */
static int l_get_num_threads(lua_State *L) {
    lua_pushinteger(L, mg_get_num_threads());
    lua_pushinteger(L, mg_active_threads());
    return 2;
}

/*** Seeds the random number generator; the same seed (and thread count)
 * gives the same numbers.
 * @function manual_seed
 * @int seed
 */
static int l_manual_seed(lua_State *L) {
    mg_manual_seed((uint64_t)mgl_int(L, 1, "manual_seed", "seed"));
    return 0;
}

/*** The random generator's state, to restore later with set_rng_state.
 * @function get_rng_state
 * @treturn table `{seed = s, counter = c}`
 */
static int l_get_rng_state(lua_State *L) {
    uint64_t seed, counter;
    mg_rng_get_state(&seed, &counter);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)seed);
    lua_setfield(L, -2, "seed");
    lua_pushinteger(L, (lua_Integer)counter);
    lua_setfield(L, -2, "counter");
    return 1;
}

/*** Restores a state from get_rng_state.
 * @function set_rng_state
 * @tparam table state `{seed = s, counter = c}`
 */
static int l_set_rng_state(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "seed");
    lua_getfield(L, 1, "counter");
    uint64_t seed = (uint64_t)mgl_int(L, -2, "set_rng_state", "seed");
    uint64_t counter = (uint64_t)mgl_int(L, -1, "set_rng_state", "counter");
    mg_rng_set_state(seed, counter);
    return 0;
}

/*** Tensor memory statistics, in bytes.
 * @function memory
 * @tparam[opt] table opts `{reset_peak = true}` starts a new peak
 * @treturn table `{live = held by tensors, cached = kept for reuse, peak = most live since
 *   the start or the last reset}`
 */
static int l_memory(lua_State *L) {
    bool reset = mgl_opt_bool(L, 1, "reset_peak", false, "memory");
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)mg_live_bytes());
    lua_setfield(L, -2, "live");
    lua_pushinteger(L, (lua_Integer)mg_cached_bytes());
    lua_setfield(L, -2, "cached");
    lua_pushinteger(L, (lua_Integer)mg_peak_live_bytes(reset));
    lua_setfield(L, -2, "peak");
    return 1;
}

/*** Returns the cached tensor buffers to the system.
 * @function empty_cache
 */
static int l_empty_cache(lua_State *L) {
    (void)L;
    mg_empty_cache();
    return 0;
}

/*** Seconds of a monotonic wall clock, for timings (os.clock counts the
 * CPU time of all threads, which is not elapsed time).
 * @function clock
 * @treturn number
 * @usage local t0 = mg.clock(); train(); print(mg.clock() - t0)
 */
static int l_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

void mgl_open_runtime(lua_State *L) {
    const luaL_Reg fns[] = {{"set_num_threads", l_set_num_threads}, {"get_num_threads", l_get_num_threads},
                            {"manual_seed", l_manual_seed}, {"get_rng_state", l_get_rng_state},
                            {"set_rng_state", l_set_rng_state}, {"memory", l_memory},
                            {"empty_cache", l_empty_cache}, {"clock", l_clock}, {NULL, NULL}};
    mgl_register(L, -1, fns, false);
    lua_pushliteral(L, MG_VERSION);
    lua_setfield(L, -2, "version");
}

/* The bindings' doc comments (generated into build/gen/core_docs.c),
 * offered as package.loaded["moongrad.core_docs"] for `help`. */
extern const char *const mgl_core_docs[];

int luaopen_moongrad_core(lua_State *L) {
    /* generational mode: young collections reclaim short-lived tensors
     * cheaply (see gc_check in lua_tensor.c) */
    lua_gc(L, LUA_GCGEN, 0, 0);
    lua_newtable(L);
    mgl_open_tensor(L);
    mgl_open_ops(L);
    mgl_open_autograd(L);
    mgl_open_index(L);
    mgl_open_sort(L);
    mgl_open_conv(L);
    mgl_open_nn(L);
    mgl_open_attention(L);
    mgl_open_optim(L);
    mgl_open_serialize(L);
    mgl_open_io(L);
    mgl_open_draw(L);
    mgl_open_sys(L);
    mgl_open_text(L);
    mgl_open_tokenizer(L);
    mgl_open_runtime(L);
    mgl_open_augment(L);
    mgl_offer_docs(L, "moongrad.core_docs", mgl_core_docs);
    return 1;
}
