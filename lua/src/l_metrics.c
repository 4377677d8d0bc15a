/* l_metrics.c -- hot loops of graphids.metrics (being written). */
#include "binding.h"

void l_open_metrics(lua_State *L, int module, int methods) {
    (void)L;
    (void)module;
    (void)methods;
}
