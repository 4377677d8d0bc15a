/* l_digest.c -- graphids.sha256 (being written). */
#include "binding.h"

void l_open_digest(lua_State *L, int module, int methods) {
    (void)L;
    (void)module;
    (void)methods;
}
