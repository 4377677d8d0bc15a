/* l_can.c -- CAN log readers and the traffic simulator (being written). */
#include "binding.h"

void l_open_can(lua_State *L, int module, int methods) {
    (void)L;
    (void)module;
    (void)methods;
}
