/* l_windows.c -- window graphs from CAN frames (being written). */
#include "binding.h"

void l_open_windows(lua_State *L, int module, int methods) {
    (void)L;
    (void)module;
    (void)methods;
}
