/* ag_graph.c -- differentiable fused graph attention (gids/graph.h).
 *
 * One node per call with the float inputs as inputs (edge_index and the dropout scale are
 * saved, never differentiated) and out, plus alpha when the caller takes it, as outputs.  The
 * backward hands the fused backward kernel the gradients that reach either output and asks it
 * only for the inputs that need one.
 */
#include "gids/graph.h"

#include "formula_impl.h"

typedef struct att_ctx {
    int64_t num_nodes;
    double slope;
    bool has_edge, has_scale, has_alpha_out;
} att_ctx;

/* Saved: 0..3 the float inputs (NULL slots stay empty), 4 edge_index, 5 dropout scale, 6 alpha. */
enum { SAVE_EI = 4, SAVE_SCALE = 5, SAVE_ALPHA = 6 };

static const gids_tensor *saved_opt(ag_scope *s, gids_node *n, int slot, bool present) {
    return present ? ag_saved(s, n, slot) : NULL;
}

static gids_status attention_backward_(gids_node *n, gids_tensor *const *grad_out,
                                       gids_tensor **grad_in, bool v2) {
    const att_ctx *c = gids_node_ctx(n);
    ag_scope s = AG_SCOPE;
    /* v2 inputs: xl, xr, edge_proj, att; v1: x, a_src, a_dst, a_edge */
    int edge_slot = v2 ? 2 : 3;
    const gids_tensor *in[4];
    for (int i = 0; i < 4; i++) in[i] = saved_opt(&s, n, i, i != edge_slot || c->has_edge);
    const gids_tensor *ei = ag_saved(&s, n, SAVE_EI);
    const gids_tensor *scale = saved_opt(&s, n, SAVE_SCALE, c->has_scale);
    const gids_tensor *alpha = ag_saved(&s, n, SAVE_ALPHA);
    if (s.st != GIDS_OK) return ag_finish(&s, NULL, NULL);
    const gids_tensor *g_alpha = c->has_alpha_out ? grad_out[1] : NULL;
    gids_tensor *g[4] = {NULL, NULL, NULL, NULL};
    gids_tensor **want[4];
    for (int i = 0; i < 4; i++)
        want[i] = in[i] != NULL && gids_node_needs_grad(n, i) ? &g[i] : NULL;
    gids_status st =
        v2 ? gids_gatv2_attention_backward(want[0], want[1], want[2], want[3], grad_out[0], g_alpha,
                                           in[0], in[1], in[2], in[3], ei, c->num_nodes, c->slope,
                                           scale, alpha)
           : gids_gat_attention_backward(want[0], want[1], want[2], want[3], grad_out[0], g_alpha,
                                         in[0], in[1], in[2], in[3], ei, c->num_nodes, c->slope,
                                         scale, alpha);
    for (int i = 0; i < 4; i++) {
        gids_tensor *t = ag_own(&s, st, g[i]);
        ag_give(&s, n, i, t, grad_in);
    }
    return ag_finish(&s, NULL, NULL);
}

static gids_status gatv2_backward_(gids_node *n, gids_tensor *const *grad_out,
                                   gids_tensor **grad_in) {
    return attention_backward_(n, grad_out, grad_in, true);
}

static gids_status gat_backward_(gids_node *n, gids_tensor *const *grad_out,
                                 gids_tensor **grad_in) {
    return attention_backward_(n, grad_out, grad_in, false);
}

/* Records the node over ins (4) after the plain op ran: out, and alpha when wanted. */
static gids_status record(const char *name, const char *op, gids_backward_fn fn,
                          const gids_tensor *const ins[4], const gids_tensor *edge_index,
                          const gids_tensor *scale, int64_t num_nodes, double slope, bool has_edge,
                          gids_tensor **out, gids_tensor *a, gids_tensor **alpha) {
    att_ctx c = {num_nodes, slope, has_edge, scale != NULL, alpha != NULL};
    ag_node_spec r = {.name = name,
                      .op = op,
                      .fn = fn,
                      .ctx = &c,
                      .ctx_size = sizeof c,
                      .save = {ins[0], ins[1], ins[2], ins[3], edge_index, scale, a}};
    if (alpha == NULL) {
        gids_status st = ag_record(&r, 4, ins, 1, out);
        gids_tensor_release(a);
        return st;
    }
    gids_tensor *outs[2] = {*out, a};
    gids_status st = ag_record(&r, 4, ins, 2, outs);
    *out = outs[0];
    *alpha = outs[1];
    return st;
}

gids_status gids_ag_gatv2_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *xl,
                                    const gids_tensor *xr, const gids_tensor *edge_proj,
                                    const gids_tensor *att, const gids_tensor *edge_index,
                                    int64_t num_nodes, double negative_slope,
                                    const gids_tensor *dropout_scale) {
    const gids_tensor *ins[4] = {xl, xr, edge_proj, att};
    if (!gids_ag_should_record(4, ins))
        return gids_gatv2_attention(out, alpha, xl, xr, edge_proj, att, edge_index, num_nodes,
                                    negative_slope, dropout_scale);
    gids_tensor *a = NULL; /* the backward needs alpha even when the caller does not */
    GIDS_TRY(gids_gatv2_attention(out, &a, xl, xr, edge_proj, att, edge_index, num_nodes,
                                  negative_slope, dropout_scale));
    return record("GATv2AttentionBackward", "gatv2_attention", gatv2_backward_, ins, edge_index,
                  dropout_scale, num_nodes, negative_slope, edge_proj != NULL, out, a, alpha);
}

gids_status gids_ag_gat_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *x,
                                  const gids_tensor *a_src, const gids_tensor *a_dst,
                                  const gids_tensor *a_edge, const gids_tensor *edge_index,
                                  int64_t num_nodes, double negative_slope,
                                  const gids_tensor *dropout_scale) {
    const gids_tensor *ins[4] = {x, a_src, a_dst, a_edge};
    if (!gids_ag_should_record(4, ins))
        return gids_gat_attention(out, alpha, x, a_src, a_dst, a_edge, edge_index, num_nodes,
                                  negative_slope, dropout_scale);
    gids_tensor *a = NULL;
    GIDS_TRY(gids_gat_attention(out, &a, x, a_src, a_dst, a_edge, edge_index, num_nodes,
                                negative_slope, dropout_scale));
    return record("GATAttentionBackward", "gat_attention", gat_backward_, ins, edge_index,
                  dropout_scale, num_nodes, negative_slope, a_edge != NULL, out, a, alpha);
}
