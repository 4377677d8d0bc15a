/* l_amp.c -- automatic mixed precision: the autocast state (gids/amp.h).
 *
 *   graphids.autocast("bf16", fn, ...)    runs fn(...) with autocast on and returns its results;
 *                                         the previous state comes back however fn ends
 *   graphids.autocast("f32", fn, ...)     the same with autocast off (a region inside one that
 *                                         must stay in f32)
 *   graphids.is_autocast_enabled()        true inside an autocast("f16"|"bf16") region
 *   graphids.autocast_dtype()             "f16", "bf16", or nil when off
 *   graphids.is_autocast_cache_enabled()  the cast cache (gids/amp.h; torch's names): a
 *   graphids.set_autocast_cache_enabled(b)  parameter is cast once per region; the setter
 *   graphids.clear_autocast_cache()         returns the previous setting
 *   graphids.autocast_cache_size()        the calling thread's cached casts
 *
 * On the CPU autocast changes nothing (no half storage there); the GradScaler and the trainer's
 * `precision` option are Lua (graphids.amp, graphids.trainer).
 */
#include "gids/amp.h"
#include "l_impl.h"

static int a_autocast(lua_State *L) {
    gids_dtype dt = l_checkdtype(L, 1);
    if (dt != GIDS_F16 && dt != GIDS_BF16 && dt != GIDS_F32)
        return l_error(L, "autocast: dtype %s, expected \"f16\" or \"bf16\" (or \"f32\": off)",
                       gids_dtype_name(dt));
    luaL_checktype(L, 2, LUA_TFUNCTION);
    gids_dtype prev = gids_autocast_dtype();
    l_check(L, gids_set_autocast(dt));
    /* Stack: dtype, fn, args...: call fn with every argument after it. */
    int status = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
    gids_set_autocast(prev);                   /* prev was valid when it was set: cannot fail */
    if (status != LUA_OK) return lua_error(L); /* the error value as fn raised it */
    return lua_gettop(L) - 1;
}

static int a_is_autocast_enabled(lua_State *L) {
    l_checkend(L, 0, "is_autocast_enabled");
    lua_pushboolean(L, gids_autocast_enabled());
    return 1;
}

static int a_autocast_dtype(lua_State *L) {
    l_checkend(L, 0, "autocast_dtype");
    if (gids_autocast_enabled())
        lua_pushstring(L, gids_dtype_name(gids_autocast_dtype()));
    else
        lua_pushnil(L);
    return 1;
}

static int a_is_autocast_cache_enabled(lua_State *L) {
    l_checkend(L, 0, "is_autocast_cache_enabled");
    lua_pushboolean(L, gids_autocast_cache_enabled());
    return 1;
}

static int a_set_autocast_cache_enabled(lua_State *L) {
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    l_checkend(L, 1, "set_autocast_cache_enabled");
    lua_pushboolean(L, gids_set_autocast_cache_enabled(lua_toboolean(L, 1)));
    return 1;
}

static int a_clear_autocast_cache(lua_State *L) {
    l_checkend(L, 0, "clear_autocast_cache");
    gids_autocast_cache_clear();
    return 0;
}

static int a_autocast_cache_size(lua_State *L) {
    l_checkend(L, 0, "autocast_cache_size");
    lua_pushinteger(L, (lua_Integer)gids_autocast_cache_size());
    return 1;
}

static const luaL_Reg funcs[] = {
    {"autocast", a_autocast},
    {"is_autocast_enabled", a_is_autocast_enabled},
    {"autocast_dtype", a_autocast_dtype},
    {"is_autocast_cache_enabled", a_is_autocast_cache_enabled},
    {"set_autocast_cache_enabled", a_set_autocast_cache_enabled},
    {"clear_autocast_cache", a_clear_autocast_cache},
    {"autocast_cache_size", a_autocast_cache_size},
    {NULL, NULL},
};

void l_open_amp(lua_State *L, int module, int methods) {
    (void)methods;
    l_setfuncs(L, module, funcs);
}
