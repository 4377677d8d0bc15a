/* l_hook_keep.c -- where the Lua functions of gradient hooks (l_hook.c) live, and the keeping
 * of a tensor handle that dies while a graph still reaches its hooks (l_hook_keep.h).
 *
 * Not in the registry, which would make a hook that refers to its own tensor
 * (function(g) return g * x:detach() end) a cycle through C that the collector cannot see:
 * registry -> fn -> x -> its C tensor -> the hook.  The tensor handle it was registered through
 * holds it instead (owned_key, an ephemeron table: handle -> {id = fn}), so fn lives while the
 * handle does and the cycle is collected with it, as torch collects it.  fn_key (weak values)
 * finds it by id.  When the handle dies while something else still reaches the hooks (a graph a
 * backward can run: gids_hooks_shared), its __gc keeps it (l_hook_keep): the handle is pinned
 * (pinned_key) with its tensor and finalized again later, and a sentinel object, finalized once
 * per collection while any handle is pinned, unpins each whose graph has gone -- as torch keeps
 * a tensor's Python object alive while C++ holds it.  A handle freed by hand (t:free(),
 * <close>) while a graph reaches its hooks hands their functions to hooks_key (id = fn, strong)
 * until the hooks go (l_hook_handover).  hooks_key holds `true` for a hook whose function its
 * handle holds; l_hook_forget, when the hook goes, clears both entries.  At lua_close the
 * handles kept so let go of their tensors in the keeper's __gc, finalized after every tensor (it
 * is older).
 */
#include "l_hook_keep.h"
#include "l_impl.h"

#define SENTINEL_MT "graphids.HookSentinel"
#define KEEPER_MT "graphids.HookKeeper"

/* registry keys */
static const char hooks_key = 'h';    /* id -> fn (held here) or true (held by its handle) */
static const char fn_key = 'f';       /* id -> fn, weak values */
static const char owned_key = 'o';    /* handle -> {id -> fn}, weak keys */
static const char pinned_key = 'p';   /* handle -> true: handles kept for a live graph */
static const char kept_key = 'K';     /* handle -> true, weak keys: those ever pinned */
static const char sentinel_key = 's'; /* true while a sentinel is on its way */
static const char keeper_key = 'k';   /* the keeper (finalized at lua_close only) */

/* t[id] = nil in the registry table at key, if there: no allocation, so nothing raises. */
static void clear_entry(lua_State *L, const void *key, lua_Integer id) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE) {
        if (lua_rawgeti(L, -1, id) != LUA_TNIL) {
            lua_pushnil(L);
            lua_rawseti(L, -3, id);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* (l_hook_keep.h) */
void l_hook_forget(lua_State *L, lua_Integer id) {
    clear_entry(L, &hooks_key, id);
    clear_entry(L, &fn_key, id);
}

/* (l_hook_keep.h) */
void l_hook_push_fn(lua_State *L, lua_Integer id) {
    int top = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &hooks_key);
    if (lua_rawgeti(L, -1, id) == LUA_TFUNCTION) goto found;
    lua_settop(L, top);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &fn_key);
    if (lua_rawgeti(L, -1, id) == LUA_TFUNCTION) goto found;
    lua_settop(L, top);
    /* A collection found its handle unreachable and has not run the handle's __gc yet (which
     * puts the function back in fn_key; the weak table lost it first): the handle's own table
     * still holds it. */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &owned_key);
    lua_pushnil(L);
    while (lua_next(L, top + 1)) {
        if (lua_type(L, -1) == LUA_TTABLE && lua_rawgeti(L, -1, id) == LUA_TFUNCTION) goto found;
        lua_settop(L, top + 2);
    }
    lua_settop(L, top);
    lua_pushnil(L);
    return;
found:
    lua_copy(L, -1, top + 1);
    lua_settop(L, top + 1);
}

/* (l_hook_keep.h) */
void l_hook_own_fn(lua_State *L, int idx, lua_Integer id, int fn_idx) {
    int top = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &hooks_key); /* top + 1 */
    lua_pushboolean(L, 1);
    lua_rawseti(L, top + 1, id);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &fn_key);
    lua_pushvalue(L, fn_idx);
    lua_rawseti(L, -2, id);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &owned_key); /* top + 3 */
    lua_pushvalue(L, idx);
    if (lua_rawget(L, top + 3) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, idx);
        lua_pushvalue(L, -2);
        lua_rawset(L, top + 3);
    }
    int own = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, own)) { /* (clearing existing fields while traversing is allowed) */
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, top + 1) == LUA_TNIL) {
            lua_pushvalue(L, -2);
            lua_pushnil(L);
            lua_rawset(L, own);
        }
        lua_pop(L, 1);
    }
    lua_pushvalue(L, fn_idx);
    lua_rawseti(L, own, id);
    lua_settop(L, top);
}

/* ---------------------------------------------------------------- handles kept past their __gc */

/* Arms the sentinel unless one is on its way: an unreferenced object whose __gc (run once per
 * collection) unpins the handles whose graph has gone.  May raise (memory). */
static void arm_sentinel(lua_State *L) {
    int on =
        lua_rawgetp(L, LUA_REGISTRYINDEX, &sentinel_key) == LUA_TBOOLEAN && lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (on) return;
    lua_newuserdatauv(L, 1, 0);
    luaL_setmetatable(L, SENTINEL_MT);
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &sentinel_key);
}

/* keep(handle) -> whether it pinned it (protected: raises only for memory). */
static int pkeep(lua_State *L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &owned_key); /* 2 */
    lua_pushvalue(L, 1);
    if (lua_rawget(L, 2) != LUA_TTABLE) { /* 3 */
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &hooks_key); /* 4 */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &fn_key);    /* 5 */
    int live = 0;
    lua_pushnil(L);
    while (lua_next(L, 3)) { /* id, fn */
        lua_pushvalue(L, -2);
        if (lua_rawget(L, 4) == LUA_TBOOLEAN) { /* its handle holds it: findable by id again */
            lua_pushvalue(L, -3);
            lua_pushvalue(L, -3);
            lua_rawset(L, 5);
            live = 1;
        }
        lua_pop(L, 2);
    }
    if (live) {
        const void *keys[2] = {&pinned_key, &kept_key};
        for (int k = 0; k < 2; k++) {
            lua_rawgetp(L, LUA_REGISTRYINDEX, keys[k]);
            lua_pushvalue(L, 1);
            lua_pushboolean(L, 1);
            lua_rawset(L, -3);
        }
        arm_sentinel(L);
        lua_getmetatable(L, 1); /* finalized again when next found unreachable */
        lua_setmetatable(L, 1);
    }
    lua_pushboolean(L, live);
    return 1;
}

int l_hook_keep(lua_State *L, int idx) {
    l_tensor *u = lua_touserdata(L, idx);
    if (!gids_hooks_shared(u->t) || !lua_checkstack(L, 8)) return 0;
    idx = lua_absindex(L, idx);
    lua_pushcfunction(L, pkeep);
    lua_pushvalue(L, idx);
    int kept = lua_pcall(L, 1, 1, 0) == LUA_OK && lua_toboolean(L, -1);
    lua_pop(L, 1);
    return kept;
}

void l_hook_handover(lua_State *L, int idx) {
    l_tensor *u = lua_touserdata(L, idx);
    u->hooks = false;
    if (!lua_checkstack(L, 8)) return;
    idx = lua_absindex(L, idx);
    int top = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &owned_key); /* top + 1 */
    lua_pushvalue(L, idx);
    if (lua_rawget(L, top + 1) == LUA_TTABLE && gids_hooks_shared(u->t)) { /* top + 2 */
        lua_rawgetp(L, LUA_REGISTRYINDEX, &hooks_key);                     /* top + 3 */
        lua_pushnil(L);
        while (lua_next(L, top + 2)) { /* id, fn: true -> fn replaces a value, allocating nothing */
            lua_pushvalue(L, -2);
            if (lua_rawget(L, top + 3) == LUA_TBOOLEAN) {
                lua_pushvalue(L, -3);
                lua_pushvalue(L, -3);
                lua_rawset(L, top + 3);
            }
            lua_pop(L, 2);
        }
    }
    lua_settop(L, top + 1);
    lua_pushvalue(L, idx);
    if (lua_rawget(L, top + 1) != LUA_TNIL) {
        lua_pushvalue(L, idx);
        lua_pushnil(L);
        lua_rawset(L, top + 1);
    }
    lua_settop(L, top);
}

/* The sentinel's __gc: unpins each handle that no longer needs its tensor kept, and comes back
 * next collection while any stays pinned.  Sets existing fields only: raises nothing. */
static int sentinel_gc(lua_State *L) {
    if (!lua_checkstack(L, 6)) return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &pinned_key); /* 2 */
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pop(L, 1);
        const l_tensor *u = lua_touserdata(L, -1);
        if (u->t == NULL || !gids_hooks_shared(u->t)) {
            lua_pushvalue(L, -1);
            lua_pushnil(L);
            lua_rawset(L, 2);
        }
    }
    lua_pushnil(L);
    if (lua_next(L, 2)) {
        lua_settop(L, 1);
        lua_getmetatable(L, 1);
        lua_setmetatable(L, 1);
    } else {
        lua_pushboolean(L, 0);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &sentinel_key);
    }
    return 0;
}

/* The keeper's __gc, at lua_close (it is never unreferenced before): the handles that a __gc
 * kept let go of their tensors.  kept_key, not pinned_key: at lua_close a handle's __gc may
 * keep it and the sentinel unpin it afterwards, with no later __gc to release it (a weak
 * table loses a finalized key only at the next collection, which lua_close never runs). */
static int keeper_gc(lua_State *L) {
    if (!lua_checkstack(L, 4)) return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kept_key);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pop(L, 1);
        l_tensor *u = lua_touserdata(L, -1);
        gids_tensor *t = u->t;
        u->t = NULL;
        gids_tensor_release(t);
    }
    return 0;
}

static void new_table(lua_State *L, const void *key, const char *mode) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_newtable(L);
    if (mode != NULL) {
        lua_createtable(L, 0, 1);
        lua_pushstring(L, mode);
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
    }
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

void l_hook_open_keep(lua_State *L) {
    new_table(L, &hooks_key, NULL);
    new_table(L, &fn_key, "v");
    new_table(L, &owned_key, "k");
    new_table(L, &pinned_key, NULL);
    new_table(L, &kept_key, "k");
    if (luaL_newmetatable(L, SENTINEL_MT)) {
        lua_pushcfunction(L, sentinel_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &keeper_key) == LUA_TNIL) {
        lua_newuserdatauv(L, 1, 0);
        if (luaL_newmetatable(L, KEEPER_MT)) {
            lua_pushcfunction(L, keeper_gc);
            lua_setfield(L, -2, "__gc");
        }
        lua_setmetatable(L, -2);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &keeper_key);
    }
    lua_pop(L, 1);
}
