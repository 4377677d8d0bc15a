/* l_hook_keep.h -- between l_hook.c (registering, calling and the handles of gradient hooks)
 * and l_hook_keep.c (where a hook's Lua function lives, and the keeping of a tensor handle that
 * dies while a graph still reaches its hooks).  A hook is named by its id, a number never
 * reused.  l_hook_keep and l_hook_handover, which l_tensor.c calls, are in l_impl.h.
 */
#ifndef GIDS_L_HOOK_KEEP_H
#define GIDS_L_HOOK_KEEP_H

#include <lua.h>

/* Makes the function at fn_idx hook id's, held by the tensor handle at idx: owned[handle][id] =
 * fn, hooks[id] = true, fn_key[id] = fn; the handle's table drops the ids of hooks that went.
 * May raise (memory): nothing is registered yet. */
void l_hook_own_fn(lua_State *L, int idx, lua_Integer id, int fn_idx);
/* Pushes the function of hook id, or nil when it is gone. */
void l_hook_push_fn(lua_State *L, lua_Integer id);
/* The hook id went: clears its entries.  Allocates nothing, so raises nothing (inside a __gc);
 * needs 3 free stack slots. */
void l_hook_forget(lua_State *L, lua_Integer id);
/* Creates the registry tables, the sentinel's metatable and the keeper (module opening). */
void l_hook_open_keep(lua_State *L);

#endif
