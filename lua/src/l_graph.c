/* l_graph.c -- graph batches and message passing (being written). */
#include "binding.h"

void l_open_graph(lua_State *L, int module, int methods) {
    (void)L;
    (void)module;
    (void)methods;
}
