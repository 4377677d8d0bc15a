/* l_can.c -- CAN log readers and the traffic simulator (being written). */
#include "binding.h"

void l_open_can(lua_State *L, int module, int methods) {
    (void)L;
    (void)module;
    (void)methods;
}

struct gids_can_frames *l_checkframes(lua_State *L, int idx) {
    luaL_error(L, "CanFrames: not written yet (argument #%d)", idx);
    return NULL;
}
