/* gids/graph.h -- fused message-passing ops of graph attention layers (GAT, GATv2).
 *
 *   gids_tensor *out = NULL, *alpha = NULL;
 *   GIDS_TRY(gids_ag_gatv2_attention(&out, &alpha, xl, xr, edge_proj, att, edge_index,
 *                                    num_nodes, 0.2, NULL));
 *   // out [N, H, C]: attention-weighted sums of xl[src] per target; alpha [E, H]
 *
 * Each op visits the edges grouped by target node (a counting sort of edge_index[1], stable, so
 * the edges of a node are taken in edge order), computes the attention scores of a node's edges,
 * their softmax and the weighted sum of the source rows in one pass, without materialising
 * [E, H, C] intermediates.  The backward runs one pass over the edges by target (softmax and
 * score gradients, the target-side and att gradients) and one by source (the source rows'
 * gradients), each node reduced by one thread in edge order: results are bit-identical for every
 * thread count and need no atomics.  The other per-edge formulas follow PyG's GATConv and
 * GATv2Conv message passing exactly; docs/graph.md has the formulas.
 *
 * Arguments: float tensors (f32 or f64, one dtype for all) of any strides on the CPU;
 * edge_index [2, E] i64 with values in [0, num_nodes) (row 0 sources, row 1 targets); a node
 * without incoming edges gets zeros.  dropout_scale, when not NULL, is [E, H] and multiplies
 * alpha before the aggregation (0 or 1/(1-p): a dropout mask drawn by the caller); alpha is
 * returned before it.  A CUDA tensor gives EUNSUPPORTED naming the op.
 * Ownership: *out, *alpha and every gradient are NEW; the inputs are BORROWed.
 */
#ifndef GIDS_GRAPH_H
#define GIDS_GRAPH_H

#include <stdint.h>

#include "gids/status.h"
#include "gids/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GATv2: for edge k = (j -> i) and head h,
 *   e[k,h] = sum_c att[h,c] * leaky_relu(xl[j,h,c] + xr[i,h,c] + edge_proj[k,h,c])
 *   alpha[k,h] = softmax of e[., h] over the edges into i
 *   out[i,h,:] = sum over edges k into i of alpha[k,h] * dropout_scale[k,h] * xl[j,h,:]
 * xl, xr [N, H, C]; edge_proj [E, H, C] or NULL; att [H, C] or [1, H, C]. */
gids_status gids_gatv2_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *xl,
                                 const gids_tensor *xr, const gids_tensor *edge_proj,
                                 const gids_tensor *att, const gids_tensor *edge_index,
                                 int64_t num_nodes, double negative_slope,
                                 const gids_tensor *dropout_scale);

/* Gradients of gids_gatv2_attention given g_out [N, H, C] and g_alpha [E, H] (either may be
 * NULL: zero) and the forward's alpha.  A NULL destination is not computed (g_edge_proj must be
 * NULL when edge_proj is). */
gids_status gids_gatv2_attention_backward(gids_tensor **g_xl, gids_tensor **g_xr,
                                          gids_tensor **g_edge_proj, gids_tensor **g_att,
                                          const gids_tensor *g_out, const gids_tensor *g_alpha,
                                          const gids_tensor *xl, const gids_tensor *xr,
                                          const gids_tensor *edge_proj, const gids_tensor *att,
                                          const gids_tensor *edge_index, int64_t num_nodes,
                                          double negative_slope, const gids_tensor *dropout_scale,
                                          const gids_tensor *alpha);

/* GAT (v1): e[k,h] = leaky_relu(a_src[j,h] + a_dst[i,h] + a_edge[k,h]); alpha and out as GATv2
 * with x in place of xl.  x [N, H, C]; a_src, a_dst [N, H]; a_edge [E, H] or NULL. */
gids_status gids_gat_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *x,
                               const gids_tensor *a_src, const gids_tensor *a_dst,
                               const gids_tensor *a_edge, const gids_tensor *edge_index,
                               int64_t num_nodes, double negative_slope,
                               const gids_tensor *dropout_scale);

gids_status gids_gat_attention_backward(gids_tensor **g_x, gids_tensor **g_a_src,
                                        gids_tensor **g_a_dst, gids_tensor **g_a_edge,
                                        const gids_tensor *g_out, const gids_tensor *g_alpha,
                                        const gids_tensor *x, const gids_tensor *a_src,
                                        const gids_tensor *a_dst, const gids_tensor *a_edge,
                                        const gids_tensor *edge_index, int64_t num_nodes,
                                        double negative_slope, const gids_tensor *dropout_scale,
                                        const gids_tensor *alpha);

/* Differentiable forms (in the float inputs; edge_index and dropout_scale get no gradient):
 * record one node whose backward is the function above. */
gids_status gids_ag_gatv2_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *xl,
                                    const gids_tensor *xr, const gids_tensor *edge_proj,
                                    const gids_tensor *att, const gids_tensor *edge_index,
                                    int64_t num_nodes, double negative_slope,
                                    const gids_tensor *dropout_scale);
gids_status gids_ag_gat_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *x,
                                  const gids_tensor *a_src, const gids_tensor *a_dst,
                                  const gids_tensor *a_edge, const gids_tensor *edge_index,
                                  int64_t num_nodes, double negative_slope,
                                  const gids_tensor *dropout_scale);

/* The self-loop handling of the GAT/GATv2 layers with fill_value "mean" (PyG's
 * remove_self_loops then add_self_loops): the edges (j, j) are dropped with their edge_attr
 * rows, the others keep their order, and one loop (i, i) per node is appended, in node order,
 * whose attribute row is the mean of node i's remaining incoming rows (0 without any: the
 * segment mean of gids_segment_reduce).  edge_index [2, E] i64 with values in [0, num_nodes);
 * edge_attr [E, D] f32/f64 or NULL.  NEW *out_index [2, E' + num_nodes] and *out_attr
 * [E' + num_nodes, D] (NULL without edge_attr).  Not differentiable (callers whose edge_attr
 * requires grad compose it from differentiable ops). */
gids_status gids_replace_self_loops_mean(gids_tensor **out_index, gids_tensor **out_attr,
                                         const gids_tensor *edge_index,
                                         const gids_tensor *edge_attr, int64_t num_nodes);

#ifdef __cplusplus
}
#endif

#endif
