/* ag_rnn.c -- the differentiable fused LSTM cell and bidirectional sequence LSTM (gids/rnn.h).
 *
 * Cell: one node over gates and c_prev with h and c as outputs: a sequence step hands its c to the
 * next step and its h both to the output and the next step's gates, so either output may get
 * a gradient, or only one (the last step's c when the caller drops c_n).
 * Sequence: one node over x and the weights for the whole [T, N, 2H] output.
 */
#include "gids/amp.h"
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

/* ---------------------------------------------------------------- bidirectional sequence */

/* Inputs: 0 x, 1..4 w_ih, w_hh, w_ih_r, w_hh_r, then (with biases) 5..8 b_ih, b_hh, b_ih_r,
 * b_hh_r.  Saved: 0 x, 1 act, 2 c, 3 out, 4..7 the four weight matrices (the bias values are
 * not needed). */
static const int BILSTM_W_INPUT[8] = {1, 2, 5, 6, 3, 4, 7, 8}; /* input number of w[k] */

/* The node's ctx: whether the biases are inputs; whether the forward ran with TF32 products
 * (under autocast, or with gids_rnn_tf32 on: its backward then runs with them too, gids/amp.h). */
typedef struct bilstm_ctx {
    bool has_bias, tf32;
} bilstm_ctx;

static gids_status bilstm_backward_(gids_node *n, gids_tensor *const *grad_out,
                                    gids_tensor **grad_in) {
    ag_scope s = AG_SCOPE;
    const bilstm_ctx *ctx = gids_node_ctx(n);
    const gids_tensor *x = ag_saved(&s, n, 0), *act = ag_saved(&s, n, 1);
    const gids_tensor *c = ag_saved(&s, n, 2), *out = ag_saved(&s, n, 3);
    const gids_tensor *w[8] = {ag_saved(&s, n, 4), ag_saved(&s, n, 5), NULL, NULL,
                               ag_saved(&s, n, 6), ag_saved(&s, n, 7), NULL, NULL};
    if (s.st != GIDS_OK || grad_out[0] == NULL) return ag_finish(&s, NULL, NULL);
    bool want[8];
    for (int k = 0; k < 8; k++)
        want[k] = (k % 4 < 2 || ctx->has_bias) && gids_node_needs_grad(n, BILSTM_W_INPUT[k]);
    gids_tensor *gx = NULL, *gw[8] = {NULL};
    gids_tensor **want_x = gids_node_needs_grad(n, 0) ? &gx : NULL;
    /* the activated gates are read for the last time here: when the graph is not retained the
     * gate gradients take their place (act is the largest buffer of the op, [2, T, N, 4H]) */
    gids_tensor *scratch = gids_node_saved_scratch(n, 1);
    bool prev = gids_set_tf32_products(ctx->tf32 || gids_tf32_products());
    gids_status st =
        scratch != NULL
            ? gids_bilstm_backward_consume(want_x, gw, want, grad_out[0], x, w, out, scratch, c)
            : gids_bilstm_backward(want_x, gw, want, grad_out[0], x, w, out, act, c);
    gids_set_tf32_products(prev);
    ag_give(&s, n, 0, ag_own(&s, st, gx), grad_in);
    for (int k = 0; k < 8; k++)
        if (want[k]) ag_give(&s, n, BILSTM_W_INPUT[k], ag_own(&s, st, gw[k]), grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_bilstm(gids_tensor **out, const gids_tensor *x, const gids_tensor *const w[8]) {
    GIDS_CHECK(out != NULL && w != NULL, GIDS_EINVAL, "bilstm: out and w must not be NULL");
    *out = NULL;
    /* autocast has no half kernel to give this op: its products go TF32 instead, as they do
     * when the user chose TF32 for it (gids_rnn_tf32, gids/amp.h) */
    bilstm_ctx ctx = {.has_bias = w[2] != NULL, .tf32 = gids_autocast_enabled() || gids_rnn_tf32()};
    const gids_tensor *ins[9] = {x, w[0], w[1], w[4], w[5], w[2], w[3], w[6], w[7]};
    int nin = ctx.has_bias ? 9 : 5;
    gids_tensor *act = NULL, *c = NULL;
    bool prev = gids_set_tf32_products(ctx.tf32 || gids_tf32_products());
    gids_status st = gids_bilstm(out, &act, &c, x, w);
    gids_set_tf32_products(prev);
    if (st != GIDS_OK || !gids_ag_should_record(nin, ins)) {
        gids_tensor_release(act);
        gids_tensor_release(c);
        return st;
    }
    ag_node_spec r = {.name = "BiLSTMBackward",
                      .op = "bilstm",
                      .fn = bilstm_backward_,
                      .ctx = &ctx,
                      .ctx_size = sizeof ctx,
                      .save = {x, act, c, *out, w[0], w[1], w[4], w[5]}};
    st = ag_record(&r, nin, ins, 1, out);
    gids_tensor_release(act);
    gids_tensor_release(c);
    return st;
}

/* ---------------------------------------------------------------- jumping-knowledge sum */

/* Inputs: 0 x, 1 alpha.  Saved: 0 x, 1 alpha. */
static gids_status jk_sum_backward_(gids_node *n, gids_tensor *const *grad_out,
                                    gids_tensor **grad_in) {
    ag_scope s = AG_SCOPE;
    const gids_tensor *x = ag_saved(&s, n, 0), *alpha = ag_saved(&s, n, 1);
    if (s.st != GIDS_OK || grad_out[0] == NULL) return ag_finish(&s, NULL, NULL);
    gids_tensor *gx = NULL, *ga = NULL;
    gids_status st =
        gids_jk_sum_backward(gids_node_needs_grad(n, 0) ? &gx : NULL,
                             gids_node_needs_grad(n, 1) ? &ga : NULL, grad_out[0], x, alpha);
    ag_give(&s, n, 0, ag_own(&s, st, gx), grad_in);
    ag_give(&s, n, 1, ag_own(&s, st, ga), grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_jk_sum(gids_tensor **out, const gids_tensor *x, const gids_tensor *alpha) {
    const gids_tensor *ins[2] = {x, alpha};
    if (!gids_ag_should_record(2, ins)) return gids_jk_sum(out, x, alpha);
    GIDS_TRY(gids_jk_sum(out, x, alpha));
    ag_node_spec r = {
        .name = "JKSumBackward", .op = "jk_sum", .fn = jk_sum_backward_, .save = {x, alpha}};
    return ag_record(&r, 2, ins, 1, out);
}
