/* entries_graph.c -- the loopback backend's indexing, segment, optimizer, fused graph attention,
 * LSTM cell and selection entries: each runs the public CPU op on aliases of its device tensors
 * (alias.c); in-place entries write through the aliases. */
#include "gids/amp.h"
#include "gids/graph.h"
#include "gids/optim.h"
#include "gids/rnn.h"
#include "loopback_impl.h"

gids_status lb_index_select(gids_tensor **out, const gids_tensor *a, int dim,
                            const gids_tensor *index) {
    lb_args x;
    GIDS_TRY(
        lb_index_seen("index_select", index, 0, gids_tensor_numel(index), lb_dim_size(a, dim)));
    if (gids_dtype_is_half(a->dtype))
        return lb_half_move(LB_MOVE_INDEX_SELECT, out, a, NULL, index, dim);
    LB_IN(x, "index_select", a, index);
    return LB_DONE(x, gids_index_select(out, x.cpu[0], dim, x.cpu[1]), out);
}

gids_status lb_gather(gids_tensor **out, const gids_tensor *a, int dim, const gids_tensor *index) {
    lb_args x;
    GIDS_TRY(lb_index_seen("gather", index, 0, gids_tensor_numel(index), lb_dim_size(a, dim)));
    if (gids_dtype_is_half(a->dtype)) return lb_half_move(LB_MOVE_GATHER, out, a, NULL, index, dim);
    LB_IN(x, "gather", a, index);
    return LB_DONE(x, gids_gather(out, x.cpu[0], dim, x.cpu[1]), out);
}

gids_status lb_scatter_add_(gids_tensor *self, int dim, const gids_tensor *index,
                            const gids_tensor *src) {
    GIDS_TRY(lb_refuse_add("scatter_add_", self, index, src));
    lb_args x;
    GIDS_TRY(
        lb_index_seen("scatter_add_", index, 0, gids_tensor_numel(index), lb_dim_size(self, dim)));
    LB_IN(x, "scatter_add_", self, index, src);
    return LB_DONE_INPLACE(x, gids_scatter_add_(x.cpu[0], dim, x.cpu[1], x.cpu[2]));
}

gids_status lb_index_add_(gids_tensor *self, int dim, const gids_tensor *index,
                          const gids_tensor *src, double alpha) {
    GIDS_TRY(lb_refuse_add("index_add_", self, index, src));
    lb_args x;
    GIDS_TRY(
        lb_index_seen("index_add_", index, 0, gids_tensor_numel(index), lb_dim_size(self, dim)));
    LB_IN(x, "index_add_", self, index, src);
    return LB_DONE_INPLACE(x, gids_index_add_(x.cpu[0], dim, x.cpu[1], x.cpu[2], alpha));
}

gids_status lb_scatter_(gids_tensor *self, int dim, const gids_tensor *index,
                        const gids_tensor *src) {
    lb_args x;
    GIDS_TRY(lb_index_seen("scatter_", index, 0, gids_tensor_numel(index), lb_dim_size(self, dim)));
    if (gids_dtype_is_half(self->dtype)) return lb_half_scatter_(self, dim, index, src);
    LB_IN(x, "scatter_", self, index, src);
    return LB_DONE_INPLACE(x, gids_scatter_(x.cpu[0], dim, x.cpu[1], x.cpu[2]));
}

gids_status lb_scatter_scalar_(gids_tensor *self, int dim, const gids_tensor *index,
                               gids_scalar value) {
    lb_args x;
    GIDS_TRY(lb_index_seen("scatter_", index, 0, gids_tensor_numel(index), lb_dim_size(self, dim)));
    LB_IN(x, "scatter_", self, index);
    return LB_DONE_INPLACE(x, gids_scatter_scalar_(x.cpu[0], dim, x.cpu[1], value));
}

gids_status lb_segment_reduce(gids_tensor **out, gids_tensor **arg, gids_segop op,
                              const gids_tensor *src, const gids_tensor *index,
                              int64_t num_segments) {
    GIDS_TRY(lb_refuse_segment((int)op, src, index, num_segments));
    lb_args x;
    GIDS_TRY(lb_index_seen("segment_reduce", index, 0, gids_tensor_numel(index), num_segments));
    LB_IN(x, "segment_reduce", src, index);
    return LB_DONE(x, gids_segment_reduce(out, arg, op, x.cpu[0], x.cpu[1], num_segments), out,
                   arg);
}

gids_status lb_segment_softmax(gids_tensor **out, const gids_tensor *src, const gids_tensor *index,
                               int64_t num_segments) {
    GIDS_TRY(lb_refuse_segment(-1, src, index, num_segments));
    lb_args x;
    GIDS_TRY(lb_index_seen("segment_softmax", index, 0, gids_tensor_numel(index), num_segments));
    LB_IN(x, "segment_softmax", src, index);
    return LB_DONE(x, gids_segment_softmax(out, x.cpu[0], x.cpu[1], num_segments), out);
}

gids_status lb_adam_step_(gids_tensor *param, const gids_tensor *grad, gids_tensor *exp_avg,
                          gids_tensor *exp_avg_sq, gids_tensor *max_exp_avg_sq,
                          const gids_adam_cfg *cfg) {
    lb_args x;
    LB_IN(x, "adam_step_", param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq);
    return LB_DONE_INPLACE(x,
                           gids_adam_step_(x.cpu[0], x.cpu[1], x.cpu[2], x.cpu[3], x.cpu[4], cfg));
}

/* The list as the plugin gets it, each update through the one-parameter entry (the loopback
 * counts no launches). */
gids_status lb_adam_steps_(int n, gids_tensor *const *params, const gids_tensor *const *grads,
                           gids_tensor *const *exp_avgs, gids_tensor *const *exp_avg_sqs,
                           gids_tensor *const *max_exp_avg_sqs, const int64_t *steps,
                           const gids_adam_cfg *cfg) {
    for (int i = 0; i < n; i++) {
        gids_adam_cfg one = *cfg;
        one.step = steps[i];
        GIDS_TRY(lb_adam_step_(params[i], grads[i], exp_avgs[i], exp_avg_sqs[i],
                               cfg->amsgrad ? max_exp_avg_sqs[i] : NULL, &one));
    }
    return GIDS_OK;
}

gids_status lb_sgd_step_(gids_tensor *param, const gids_tensor *grad, gids_tensor *momentum_buf,
                         const gids_sgd_cfg *cfg) {
    lb_args x;
    LB_IN(x, "sgd_step_", param, grad, momentum_buf);
    return LB_DONE_INPLACE(x, gids_sgd_step_(x.cpu[0], x.cpu[1], x.cpu[2], cfg));
}

/* The CPU's count on an alias of each tensor (half ones too: it tests bits), summed and put on
 * the device as the plugin's kernel leaves it. */
gids_status lb_count_nonfinite(gids_tensor **out, int n, const gids_tensor *const *ts) {
    double total = 0;
    for (int i = 0; i < n; i++) {
        lb_args x;
        gids_tensor *c = NULL;
        LB_IN(x, "count_nonfinite", ts[i]);
        gids_status st = gids_count_nonfinite(&c, 1, (const gids_tensor *const *)x.cpu);
        if (st == GIDS_OK) total += *(const double *)gids_tensor_data(c);
        gids_tensor_release(c);
        GIDS_TRY(LB_DONE_INPLACE(x, st));
    }
    return gids_full(out, GIDS_F64, gids_tensor_device(ts[0]), 0, NULL, gids_scalar_f(total));
}

gids_status lb_gat_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *x,
                             const gids_tensor *a_src, const gids_tensor *a_dst,
                             const gids_tensor *a_edge, const gids_tensor *edge_index,
                             int64_t num_nodes, double negative_slope,
                             const gids_tensor *dropout_scale) {
    lb_args c;
    GIDS_TRY(lb_edges_seen("gat_attention", edge_index, num_nodes));
    LB_IN(c, "gat_attention", x, a_src, a_dst, a_edge, edge_index, dropout_scale);
    gids_status st = gids_gat_attention(out, alpha, c.cpu[0], c.cpu[1], c.cpu[2], c.cpu[3],
                                        c.cpu[4], num_nodes, negative_slope, c.cpu[5]);
    return LB_DONE(c, st, out, alpha);
}

gids_status lb_gat_attention_backward(gids_tensor **g_x, gids_tensor **g_a_src,
                                      gids_tensor **g_a_dst, gids_tensor **g_a_edge,
                                      const gids_tensor *g_out, const gids_tensor *g_alpha,
                                      const gids_tensor *x, const gids_tensor *a_src,
                                      const gids_tensor *a_dst, const gids_tensor *a_edge,
                                      const gids_tensor *edge_index, int64_t num_nodes,
                                      double negative_slope, const gids_tensor *dropout_scale,
                                      const gids_tensor *alpha) {
    lb_args c;
    GIDS_TRY(lb_edges_seen("gat_attention_backward", edge_index, num_nodes));
    LB_IN(c, "gat_attention_backward", g_out, g_alpha, x, a_src, a_dst, a_edge, edge_index,
          dropout_scale, alpha);
    gids_status st = gids_gat_attention_backward(
        g_x, g_a_src, g_a_dst, g_a_edge, c.cpu[0], c.cpu[1], c.cpu[2], c.cpu[3], c.cpu[4], c.cpu[5],
        c.cpu[6], num_nodes, negative_slope, c.cpu[7], c.cpu[8]);
    return LB_DONE(c, st, g_x, g_a_src, g_a_dst, g_a_edge);
}

gids_status lb_gatv2_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *xl,
                               const gids_tensor *xr, const gids_tensor *edge_proj,
                               const gids_tensor *att, const gids_tensor *edge_index,
                               int64_t num_nodes, double negative_slope,
                               const gids_tensor *dropout_scale) {
    lb_args c;
    GIDS_TRY(lb_edges_seen("gatv2_attention", edge_index, num_nodes));
    LB_IN(c, "gatv2_attention", xl, xr, edge_proj, att, edge_index, dropout_scale);
    gids_status st = gids_gatv2_attention(out, alpha, c.cpu[0], c.cpu[1], c.cpu[2], c.cpu[3],
                                          c.cpu[4], num_nodes, negative_slope, c.cpu[5]);
    return LB_DONE(c, st, out, alpha);
}

gids_status lb_gatv2_attention_backward(gids_tensor **g_xl, gids_tensor **g_xr,
                                        gids_tensor **g_edge_proj, gids_tensor **g_att,
                                        const gids_tensor *g_out, const gids_tensor *g_alpha,
                                        const gids_tensor *xl, const gids_tensor *xr,
                                        const gids_tensor *edge_proj, const gids_tensor *att,
                                        const gids_tensor *edge_index, int64_t num_nodes,
                                        double negative_slope, const gids_tensor *dropout_scale,
                                        const gids_tensor *alpha) {
    lb_args c;
    GIDS_TRY(lb_edges_seen("gatv2_attention_backward", edge_index, num_nodes));
    LB_IN(c, "gatv2_attention_backward", g_out, g_alpha, xl, xr, edge_proj, att, edge_index,
          dropout_scale, alpha);
    gids_status st = gids_gatv2_attention_backward(
        g_xl, g_xr, g_edge_proj, g_att, c.cpu[0], c.cpu[1], c.cpu[2], c.cpu[3], c.cpu[4], c.cpu[5],
        c.cpu[6], num_nodes, negative_slope, c.cpu[7], c.cpu[8]);
    return LB_DONE(c, st, g_xl, g_xr, g_edge_proj, g_att);
}

gids_status lb_lstm_cell(gids_tensor **h, gids_tensor **c, gids_tensor **act,
                         const gids_tensor *gates, const gids_tensor *c_prev) {
    lb_args x;
    LB_IN(x, "lstm_cell", gates, c_prev);
    return LB_DONE(x, gids_lstm_cell(h, c, act, x.cpu[0], x.cpu[1]), h, c, act);
}

gids_status lb_lstm_cell_backward(gids_tensor **g_gates, gids_tensor **g_c_prev,
                                  const gids_tensor *g_h, const gids_tensor *g_c,
                                  const gids_tensor *act, const gids_tensor *c_prev,
                                  const gids_tensor *c) {
    lb_args x;
    LB_IN(x, "lstm_cell_backward", g_h, g_c, act, c_prev, c);
    gids_status st = gids_lstm_cell_backward(g_gates, g_c_prev, x.cpu[0], x.cpu[1], x.cpu[2],
                                             x.cpu[3], x.cpu[4]);
    return LB_DONE(x, st, g_gates, g_c_prev);
}

/* What the bilstm entries saw of gids_tf32_products (the setting the CUDA plugin's GEMMs
 * follow): bit 0 a forward under it, bit 1 a backward; read and cleared by the exported
 * LB_TF32_SYMBOL, for the specs.  One process-wide word: the specs that read it are
 * single-threaded. */
static unsigned tf32_seen_;

__attribute__((visibility("default"))) unsigned gids_loopback_tf32_seen(void) {
    unsigned s = tf32_seen_;
    tf32_seen_ = 0;
    return s;
}

gids_status lb_bilstm(gids_tensor **out, gids_tensor **act, gids_tensor **c, const gids_tensor *x,
                      const gids_tensor *const w[8]) {
    GIDS_CHECK(w != NULL, GIDS_EINVAL, "bilstm: w is NULL");
    if (gids_tf32_products()) tf32_seen_ |= 1u;
    lb_args a;
    LB_IN(a, "bilstm", x, w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]);
    gids_status st = gids_bilstm(out, act, c, a.cpu[0], (const gids_tensor *const *)&a.cpu[1]);
    return LB_DONE(a, st, out, act, c);
}

gids_status lb_bilstm_backward(gids_tensor **g_x, gids_tensor *g_w[8], const bool want_w[8],
                               const gids_tensor *g_out, const gids_tensor *x,
                               const gids_tensor *const w[8], const gids_tensor *out,
                               gids_tensor *act, const gids_tensor *c, bool consume) {
    GIDS_CHECK(w != NULL && g_w != NULL, GIDS_EINVAL,
               "bilstm_backward: w and g_w must not be NULL");
    if (gids_tf32_products()) tf32_seen_ |= 2u;
    lb_args a;
    LB_IN(a, "bilstm_backward", x, w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], g_out, out, act,
          c);
    const gids_tensor *const *cw = (const gids_tensor *const *)&a.cpu[1];
    gids_status st = consume ? gids_bilstm_backward_consume(g_x, g_w, want_w, a.cpu[9], a.cpu[0],
                                                            cw, a.cpu[10], a.cpu[11], a.cpu[12])
                             : gids_bilstm_backward(g_x, g_w, want_w, a.cpu[9], a.cpu[0], cw,
                                                    a.cpu[10], a.cpu[11], a.cpu[12]);
    return LB_DONE(a, st, g_x, &g_w[0], &g_w[1], &g_w[2], &g_w[3], &g_w[4], &g_w[5], &g_w[6],
                   &g_w[7]);
}

gids_status lb_jk_sum(gids_tensor **out, const gids_tensor *x, const gids_tensor *alpha) {
    lb_args a;
    LB_IN(a, "jk_sum", x, alpha);
    return LB_DONE(a, gids_jk_sum(out, a.cpu[0], a.cpu[1]), out);
}

gids_status lb_jk_sum_backward(gids_tensor **g_x, gids_tensor **g_alpha, const gids_tensor *g,
                               const gids_tensor *x, const gids_tensor *alpha) {
    lb_args a;
    LB_IN(a, "jk_sum_backward", g, x, alpha);
    gids_status st = gids_jk_sum_backward(g_x, g_alpha, a.cpu[0], a.cpu[1], a.cpu[2]);
    return LB_DONE(a, st, g_x, g_alpha);
}

gids_status lb_nonzero(gids_tensor **out, const gids_tensor *a) {
    GIDS_TRY(lb_refuse_one(GIDS_DR_NONZERO, "nonzero", a));
    lb_args x;
    lb_waited(); /* on a GPU the host reads the result's size back */
    LB_IN(x, "nonzero", a);
    return LB_DONE(x, gids_nonzero(out, x.cpu[0]), out);
}

gids_status lb_masked_select(gids_tensor **out, const gids_tensor *a, const gids_tensor *mask) {
    lb_args x;
    lb_waited(); /* on a GPU the host reads the result's size back */
    if (gids_dtype_is_half(a->dtype))
        return lb_half_move(LB_MOVE_MASKED_SELECT, out, a, NULL, mask, 0);
    LB_IN(x, "masked_select", a, mask);
    return LB_DONE(x, gids_masked_select(out, x.cpu[0], x.cpu[1]), out);
}

gids_status lb_unique(gids_tensor **values, gids_tensor **inverse, gids_tensor **counts,
                      const gids_tensor *a) {
    GIDS_TRY(lb_refuse_one(GIDS_DR_UNIQUE, "unique", a));
    lb_args x;
    lb_waited(); /* on a GPU the host reads the result's size back */
    LB_IN(x, "unique", a);
    return LB_DONE(x, gids_unique(values, inverse, counts, x.cpu[0]), values, inverse, counts);
}
