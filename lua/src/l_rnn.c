/* l_rnn.c -- the fused LSTM cell (gids/rnn.h) for graphids.nn.LSTM.
 *
 *   local h, c = core.lstm_cell(gates, c_prev)   -- gates [N, 4H] (i, f, g, o); c_prev [N, H] or
 * nil
 *
 * Records one LSTMCellBackward node for gates and c_prev when they require grad.
 */
#include "binding.h"
#include "gids/rnn.h"

static int l_lstm_cell(lua_State *L) {
    gids_tensor *gates = l_checktensor(L, 1);
    gids_tensor *c_prev = lua_isnoneornil(L, 2) ? NULL : l_checktensor(L, 2);
    l_checkend(L, 2, "lstm_cell");
    l_tensor *h = l_newtensor(L);
    l_tensor *c = l_newtensor(L);
    l_check(L, gids_ag_lstm_cell(&h->t, &c->t, gates, c_prev));
    return 2;
}

static const luaL_Reg funcs[] = {
    {"lstm_cell", l_lstm_cell},
    {NULL, NULL},
};

void l_open_rnn(lua_State *L, int module, int methods) {
    (void)methods;
    l_setfuncs(L, module, funcs);
}
