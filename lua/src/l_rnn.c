/* l_rnn.c -- the fused LSTM cell and bidirectional sequence LSTM (gids/rnn.h).
 *
 *   local h, c = core.lstm_cell(gates, c_prev)   -- gates [N, 4H] (i, f, g, o); c_prev [N, H] or
 * nil
 *   local out = core.bilstm(x, w_ih, w_hh, b_ih, b_hh, w_ih_r, w_hh_r, b_ih_r, b_hh_r)
 *                                                -- x [T, N, C] -> out [T, N, 2H]; biases nil: none
 *   local y = core.jk_sum(x, alpha)              -- x [T, N, C], alpha [T, N] -> [N, C]:
 *                                                -- sum over t of alpha[t, n] * x[t, n, c]
 *
 * Each records one node (LSTMCellBackward, BiLSTMBackward, JKSumBackward) when an input requires
 * grad.
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

static int l_bilstm(lua_State *L) {
    gids_tensor *x = l_checktensor(L, 1);
    const gids_tensor *w[8];
    for (int k = 0; k < 8; k++)
        w[k] = k % 4 >= 2 && lua_isnoneornil(L, k + 2) ? NULL : l_checktensor(L, k + 2);
    l_checkend(L, 9, "bilstm");
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_bilstm(&out->t, x, w));
    return 1;
}

static int l_jk_sum(lua_State *L) {
    gids_tensor *x = l_checktensor(L, 1);
    gids_tensor *alpha = l_checktensor(L, 2);
    l_checkend(L, 2, "jk_sum");
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_jk_sum(&out->t, x, alpha));
    return 1;
}

static const luaL_Reg funcs[] = {
    {"bilstm", l_bilstm},
    {"jk_sum", l_jk_sum},
    {"lstm_cell", l_lstm_cell},
    {NULL, NULL},
};

void l_open_rnn(lua_State *L, int module, int methods) {
    (void)methods;
    l_setfuncs(L, module, funcs);
}
