/* l_net.c -- the HTTP client for tracking (being written). */
#include "binding.h"

void l_open_net(lua_State *L, int module, int methods) {
    (void)L;
    (void)module;
    (void)methods;
}
