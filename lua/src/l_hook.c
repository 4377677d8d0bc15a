/* l_hook.c -- gradient hooks from Lua: t:register_hook(fn) and the handle it returns.
 *
 *   local h = w:register_hook(function(g) return g:clamp(-1, 1) end)   -- clip w's gradient
 *   loss:backward()
 *   h:remove()                                -- or: local h <close> = w:register_hook(...)
 *
 * The runtime calls the hook (hook_call) during backward on the Lua thread that runs it
 * (l_current_backward, as for custom Functions); its context (lua_hook) names the Lua function
 * by a number that is never reused.
 *
 * The Lua function itself is held where the collector can see it, by the tensor handle the
 * hook was registered through, and kept past that handle's death while a graph still reaches the
 * hook: l_hook_keep.c (l_hook_keep.h) holds that machinery; this file registers hooks, calls
 * them and serves their handles.
 */
#include <stdlib.h>
#include <string.h>

#include "l_hook_keep.h"
#include "l_impl.h"

#define HOOK_HANDLE_MT "graphids.HookHandle"

static lua_Integer next_id_; /* atomic; ids are never reused */

typedef struct lua_hook {
    lua_State *main; /* to clear the hook's entries, and to check the calling state */
    lua_Integer id;
} lua_hook;

typedef struct hook_args {
    const lua_hook *h;
    const gids_tensor *grad;
    gids_tensor **replace;
} hook_args;

/* Runs when the hook goes, possibly inside a __gc: only calls that cannot raise. */
static void hook_free(void *p) {
    lua_hook *h = p;
    if (h->main != NULL && lua_checkstack(h->main, 3)) l_hook_forget(h->main, h->id);
    free(h);
}

/* Calls the hook (protected by hook_call); its error comes back as the string "gradient hook:
 * <message>", whatever value it raised. */
static int phook(lua_State *L) {
    hook_args *a = lua_touserdata(L, 1);
    l_hook_push_fn(L, a->h->id);
    if (lua_isnil(L, -1))
        return l_error(L, "gradient hook: its function is gone (the memory to keep it ran out "
                          "when its tensor's handle was collected)");
    l_tensor *u = l_newtensor(L);
    gids_tensor_retain((gids_tensor *)a->grad);
    u->t = (gids_tensor *)a->grad;
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        const char *msg = luaL_tolstring(L, -1, NULL);
        if (strncmp(msg, "gradient hook: ", 15) == 0) return lua_error(L);
        lua_pushfstring(L, "gradient hook: %s", msg);
        return lua_error(L);
    }
    if (lua_isnil(L, -1)) return 0;
    gids_tensor *r = l_totensor(L, -1);
    if (r == NULL)
        return l_error(L, "gradient hook: must return a Tensor or nil, got %s",
                       l_testtensor(L, -1) ? "a freed tensor" : luaL_typename(L, -1));
    gids_tensor_retain(r);
    *a->replace = r;
    return 0;
}

static gids_status hook_call(void *ctx, const gids_tensor *grad, gids_tensor **replace) {
    const lua_hook *h = ctx;
    l_bwd_call *call = l_current_backward();
    if (call == NULL || call->main != h->main)
        GIDS_FAIL(GIDS_ESTATE, "gradient hook: a Lua hook runs only from the Lua state that "
                               "registered it (t:backward() or graphids.autograd.*)");
    lua_State *L = call->L;
    if (!lua_checkstack(L, 4)) GIDS_FAIL(GIDS_ENOMEM, "gradient hook: no room on the Lua stack");
    hook_args a = {h, grad, replace};
    lua_pushcfunction(L, phook);
    lua_pushlightuserdata(L, &a);
    bool prev = gids_set_grad_enabled(false); /* as a Function's backward: nothing records */
    int rc = lua_pcall(L, 1, 0, 0);
    gids_set_grad_enabled(prev);
    if (rc == LUA_OK) return GIDS_OK;
    if (lua_type(L, -1) != LUA_TSTRING) { /* (a __tostring that raised a table, out of memory) */
        lua_pop(L, 1);
        lua_pushliteral(L, "gradient hook: failed with an error that is not a string");
    }
    call->err_at = lua_gettop(L); /* stays there until run_graph raises it */
    GIDS_FAIL(GIDS_ESTATE, "%s", lua_tostring(L, -1));
}

/* t:register_hook(fn) -> handle */
static int t_register_hook(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_tensor *u = lua_touserdata(L, 1);
    if (lua_type(L, 2) != LUA_TFUNCTION)
        return l_error(L, "register_hook: argument #2 must be a function, got %s",
                       luaL_typename(L, 2));
    l_checkend(L, 2, "register_hook");
    gids_hook_handle **ud = lua_newuserdatauv(L, sizeof *ud, 0);
    *ud = NULL;
    luaL_setmetatable(L, HOOK_HANDLE_MT);
    lua_Integer id = __atomic_add_fetch(&next_id_, 1, __ATOMIC_RELAXED);
    l_hook_own_fn(L, 1, id, 2);
    lua_hook *h = malloc(sizeof *h);
    if (h != NULL) {
        h->main = l_main_thread(L);
        h->id = id;
    }
    if (h == NULL) {
        l_hook_forget(L, id);
        return l_error(L, "register_hook: out of memory");
    }
    gids_status st = gids_register_hook(t, hook_call, h, hook_free, ud);
    if (st != GIDS_OK) {
        hook_free(h);
        return l_check_status(L, st);
    }
    u->hooks = true;
    return 1;
}

static gids_hook_handle **check_handle(lua_State *L) {
    return luaL_checkudata(L, 1, HOOK_HANDLE_MT);
}

/* handle:remove() -> whether the hook was still there */
static int h_remove(lua_State *L) {
    gids_hook_handle **ud = check_handle(L);
    l_checkend(L, 1, "remove");
    lua_pushboolean(L, gids_hook_remove(*ud));
    return 1;
}

/* `local h <close> = t:register_hook(fn)` removes the hook at the end of the scope. */
static int h_close(lua_State *L) {
    gids_hook_remove(*check_handle(L));
    return 0;
}

static int h_gc(lua_State *L) {
    gids_hook_handle **ud = check_handle(L);
    gids_hook_handle_free(*ud);
    *ud = NULL;
    return 0;
}

static int h_tostring(lua_State *L) {
    check_handle(L);
    lua_pushstring(L, "graphids.HookHandle");
    return 1;
}

static const luaL_Reg handle_meta[] = {
    {"__gc", h_gc},
    {"__close", h_close},
    {"__tostring", h_tostring},
    {NULL, NULL},
};

static const luaL_Reg handle_methods[] = {
    {"remove", h_remove},
    {NULL, NULL},
};

void l_open_hook(lua_State *L, int methods) {
    l_newclass(L, HOOK_HANDLE_MT, NULL, handle_meta, handle_methods);
    l_hook_open_keep(L);
    lua_pushcfunction(L, t_register_hook);
    lua_setfield(L, methods, "register_hook");
}
