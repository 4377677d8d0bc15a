/* l_runtime.c -- process information and settings: graphids.memory(), reset_peak_memory(),
 * empty_cache(), cache_limit(), version() / _VERSION, blas(), get/set_num_threads() and the
 * heap-tracking soft limit.
 */
#include <time.h>

#include "l_impl.h"

static void set_int(lua_State *L, const char *key, int64_t v) {
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, key);
}

static int r_memory(lua_State *L) {
    l_checkend(L, 0, "memory");
    gids_mem_stats st;
    gids_memory_stats(GIDS_DEVICE_CPU, &st);
    lua_createtable(L, 0, 7);
    set_int(L, "current_bytes", st.current_bytes);
    set_int(L, "peak_bytes", st.peak_bytes);
    set_int(L, "live_tensors", st.live_tensors);
    set_int(L, "live_storages", st.live_storages);
    set_int(L, "total_allocs", st.total_allocs);
    set_int(L, "cached_bytes", st.cached_bytes);
    set_int(L, "soft_limit", l_heap_soft_limit(L));
    return 1;
}

static int r_reset_peak_memory(lua_State *L) {
    l_checkend(L, 0, "reset_peak_memory");
    gids_memory_reset_peak(GIDS_DEVICE_CPU);
    return 0;
}

/* Gives every block the CPU allocator keeps for reuse back to the system. */
static int r_empty_cache(lua_State *L) {
    l_checkend(L, 0, "empty_cache");
    gids_memory_empty_cache(GIDS_DEVICE_CPU);
    return 0;
}

/* cache_limit() returns the byte limit of the CPU block cache; cache_limit(bytes) sets it (0
 * disables the cache) and returns the old one. */
static int r_cache_limit(lua_State *L) {
    l_checkend(L, 1, "cache_limit");
    int64_t old = gids_memory_cache_limit(GIDS_DEVICE_CPU);
    if (!lua_isnoneornil(L, 1)) {
        lua_Integer bytes = luaL_checkinteger(L, 1);
        if (bytes < 0) return l_error(L, "cache_limit: bytes must be >= 0, got %I", bytes);
        gids_memory_set_cache_limit(GIDS_DEVICE_CPU, (int64_t)bytes);
    }
    lua_pushinteger(L, (lua_Integer)old);
    return 1;
}

/* graphids.clock(): seconds of a monotonic wall clock, for timing (os.clock counts CPU time of
 * every thread, os.time whole seconds). */
static int r_clock(lua_State *L) {
    l_checkend(L, 0, "clock");
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + 1e-9 * (lua_Number)ts.tv_nsec);
    return 1;
}

static int r_version(lua_State *L) {
    l_checkend(L, 0, "version");
    lua_pushstring(L, gids_version());
    return 1;
}

static int r_blas(lua_State *L) {
    l_checkend(L, 0, "blas");
    lua_pushstring(L, gids_blas_info());
    return 1;
}

static int r_get_num_threads(lua_State *L) {
    l_checkend(L, 0, "get_num_threads");
    lua_pushinteger(L, gids_get_num_threads());
    return 1;
}

static int r_set_num_threads(lua_State *L) {
    l_checkend(L, 1, "set_num_threads");
    lua_Integer n = luaL_checkinteger(L, 1);
    if (n < 1 || n > 4096) return l_error(L, "set_num_threads: n must be in [1, 4096], got %I", n);
    gids_set_num_threads((int)n);
    return 0;
}

/* gc_soft_limit() returns the limit; gc_soft_limit(bytes) sets it and returns the old one. */
static int r_gc_soft_limit(lua_State *L) {
    l_checkend(L, 1, "gc_soft_limit");
    int64_t old = l_heap_soft_limit(L);
    if (!lua_isnoneornil(L, 1)) {
        lua_Integer bytes = luaL_checkinteger(L, 1);
        if (bytes < 0) return l_error(L, "gc_soft_limit: bytes must be >= 0, got %I", bytes);
        l_heap_set_soft_limit(L, (int64_t)bytes);
    }
    lua_pushinteger(L, (lua_Integer)old);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"memory", r_memory},
    {"reset_peak_memory", r_reset_peak_memory},
    {"empty_cache", r_empty_cache},
    {"clock", r_clock},
    {"cache_limit", r_cache_limit},
    {"version", r_version},
    {"blas", r_blas},
    {"get_num_threads", r_get_num_threads},
    {"set_num_threads", r_set_num_threads},
    {"gc_soft_limit", r_gc_soft_limit},
    {NULL, NULL},
};

void l_open_runtime(lua_State *L, int module, int methods) {
    (void)methods;
    l_setfuncs(L, module, funcs);
    lua_pushstring(L, gids_version());
    lua_setfield(L, module, "_VERSION");
}
