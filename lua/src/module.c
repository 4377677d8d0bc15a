/* module.c -- luaopen_graphids_core: the module table, the Tensor methods table and metatable,
 * then every area of the API in a fixed order (later areas may wrap earlier functions).
 */
#include <dlfcn.h>

#include "l_impl.h"

/* The CUDA plugin resolves the runtime's functions (gids_empty, ...) from the process.  Lua
 * loads C modules with RTLD_LOCAL, which would hide them: reopen this module's own file with
 * RTLD_GLOBAL (RTLD_NOLOAD: only promote what is already loaded). */
static void promote_symbols(void) {
    Dl_info info;
    if (dladdr((void *)luaopen_graphids_core, &info) != 0 && info.dli_fname != NULL)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
}

void l_open_amp(lua_State *L, int module, int methods); /* l_amp.c: autocast state */

int luaopen_graphids_core(lua_State *L) {
    promote_symbols();
    /* a switch set to a value it does not take would be silently off: refused at require */
    if (gids_check_env() != GIDS_OK) return luaL_error(L, "%s", gids_error_message());
    lua_newtable(L);
    int module = lua_gettop(L);
    lua_newtable(L);
    int methods = lua_gettop(L);
    /* The metatable exists before any area opens, so areas can add metamethods (__add, ...). */
    l_tensor_mt_init(L);

    l_open_tensor(L, module, methods);
    l_open_random(L, module, methods);
    l_open_elementwise(L, module, methods);
    l_open_reduce(L, module, methods);
    l_open_linalg(L, module, methods);
    l_open_index(L, module, methods);
    l_open_sort(L, module, methods);
    l_open_join(L, module, methods);
    l_open_segment(L, module, methods);
    l_open_runtime(L, module, methods);
    l_open_named(L, module, methods);
    l_open_autograd(L, module, methods);
    l_open_optim(L, module, methods);
    l_open_gpu(L, module, methods);
    l_open_can(L, module, methods);
    l_open_windows(L, module, methods);
    l_open_io(L, module, methods);
    l_open_graph(L, module, methods);
    l_open_digest(L, module, methods);
    l_open_metrics(L, module, methods);
    l_open_net(L, module, methods);
    l_open_rnn(L, module, methods);
    l_open_amp(L, module, methods);

    /* graphids.Tensor is the methods table: the stdlib adds Lua-written methods to it. */
    lua_pushvalue(L, methods);
    lua_setfield(L, module, "Tensor");
    lua_settop(L, module);
    return 1;
}
