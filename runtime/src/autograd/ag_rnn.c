/* ag_rnn.c -- the differentiable fused LSTM cell (gids/rnn.h).
 *
 * One node over gates and c_prev with h and c as outputs: a sequence step hands its c to the
 * next step and its h both to the output and the next step's gates, so either output may get
 * a gradient, or only one (the last step's c when the caller drops c_n).
 */
#include "gids/rnn.h"

#include "formula_impl.h"

/* Saved: 0 the activated gates, 1 c_prev (may be empty), 2 c. */
static gids_status lstm_cell_backward_(gids_node *n, gids_tensor *const *grad_out,
                                       gids_tensor **grad_in) {
    ag_scope s = AG_SCOPE;
    const bool *has_cprev = gids_node_ctx(n);
    const gids_tensor *act = ag_saved(&s, n, 0);
    const gids_tensor *cp = *has_cprev ? ag_saved(&s, n, 1) : NULL;
    const gids_tensor *c = ag_saved(&s, n, 2);
    if (s.st != GIDS_OK) return ag_finish(&s, NULL, NULL);
    if (grad_out[0] == NULL && grad_out[1] == NULL) return ag_finish(&s, NULL, NULL);
    gids_tensor *gg = NULL, *gcp = NULL;
    gids_status st = gids_lstm_cell_backward(gids_node_needs_grad(n, 0) ? &gg : NULL,
                                             cp != NULL && gids_node_needs_grad(n, 1) ? &gcp : NULL,
                                             grad_out[0], grad_out[1], act, cp, c);
    ag_give(&s, n, 0, ag_own(&s, st, gg), grad_in);
    ag_give(&s, n, 1, ag_own(&s, st, gcp), grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_lstm_cell(gids_tensor **h, gids_tensor **c, const gids_tensor *gates,
                              const gids_tensor *c_prev) {
    const gids_tensor *ins[2] = {gates, c_prev};
    int nin = c_prev != NULL ? 2 : 1;
    if (!gids_ag_should_record(nin, ins)) return gids_lstm_cell(h, c, NULL, gates, c_prev);
    gids_tensor *act = NULL;
    GIDS_TRY(gids_lstm_cell(h, c, &act, gates, c_prev));
    bool has_cprev = c_prev != NULL;
    ag_node_spec r = {.name = "LSTMCellBackward",
                      .op = "lstm_cell",
                      .fn = lstm_cell_backward_,
                      .ctx = &has_cprev,
                      .ctx_size = sizeof has_cprev,
                      .save = {act, c_prev, *c}};
    gids_tensor *outs[2] = {*h, *c};
    gids_status st = ag_record(&r, nin, ins, 2, outs);
    gids_tensor_release(act);
    *h = outs[0];
    *c = outs[1];
    return st;
}
