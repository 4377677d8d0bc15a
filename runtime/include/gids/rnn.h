/* gids/rnn.h -- the fused LSTM cell: gate activations and state update in one pass.
 *
 *   gids_tensor *h = NULL, *c = NULL;
 *   // gates [N, 4H] = x W_ih^T + b_ih + h_prev W_hh^T + b_hh, in torch's order i, f, g, o
 *   GIDS_TRY(gids_ag_lstm_cell(&h, &c, gates, c_prev));     // records LSTMCellBackward
 *
 * i = sigmoid(gates[:, 0:H]), f = sigmoid(gates[:, H:2H]), g = tanh(gates[:, 2H:3H]),
 * o = sigmoid(gates[:, 3H:4H]); c = f * c_prev + i * g; h = o * tanh(c).  c_prev NULL means
 * zeros (the first step of a sequence).  One call replaces the split, four activations and five
 * elementwise ops of the composed cell, each of which would read and write [N, H] and record an
 * autograd node; the backward is one pass too.  Every element is computed on its own, so
 * results do not depend on the thread count.
 *
 * Arguments: f32 or f64 (one dtype for all) on the CPU, 2-D; rows may have any stride, a last
 * dim with stride other than 1 is copied first.  A tensor on another device gives
 * EUNSUPPORTED naming the op.  f32 uses the vectorisable sigmoid/tanh of the elementwise ops
 * (within 2e-7 relative of libm).
 * Ownership: every result is NEW; the inputs are BORROWed.
 */
#ifndef GIDS_RNN_H
#define GIDS_RNN_H

#include <stdbool.h>

#include "gids/status.h"
#include "gids/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* NEW *h, *c [N, H]; act (NULL: not wanted) receives NEW [N, 4H], the activated gates
 * (i, f, g, o after their sigmoid/tanh) that the backward reads. */
gids_status gids_lstm_cell(gids_tensor **h, gids_tensor **c, gids_tensor **act,
                           const gids_tensor *gates, const gids_tensor *c_prev);

/* Gradients of the cell.  g_h, g_c [N, H]: gradients of h and c (NULL: zero, not both);
 * act from gids_lstm_cell; c_prev as given to it (NULL: zeros); c its result.  NEW
 * *g_gates [N, 4H] when g_gates is not NULL, NEW *g_c_prev [N, H] when g_c_prev is not NULL
 * and c_prev was given (else *g_c_prev stays NULL). */
gids_status gids_lstm_cell_backward(gids_tensor **g_gates, gids_tensor **g_c_prev,
                                    const gids_tensor *g_h, const gids_tensor *g_c,
                                    const gids_tensor *act, const gids_tensor *c_prev,
                                    const gids_tensor *c);

/* gids_lstm_cell recording one LSTMCellBackward node over gates and c_prev when grad mode is
 * on and either requires grad. */
gids_status gids_ag_lstm_cell(gids_tensor **h, gids_tensor **c, const gids_tensor *gates,
                              const gids_tensor *c_prev);

/* ---------------------------------------------------------------- bidirectional sequence */

/* A one-layer bidirectional LSTM over a whole sequence from a zero state, time-major: torch's
 * nn.LSTM(C, H, bidirectional = true) on x [T, N, C], without the per-step ops.
 *
 *   const gids_tensor *w[8] = {w_ih, w_hh, b_ih, b_hh, w_ih_r, w_hh_r, b_ih_r, b_hh_r};
 *   GIDS_TRY(gids_ag_bilstm(&out, x, w));   // out [T, N, 2H]: forward h, then reverse h
 *
 * w: torch's parameters in its order, w_ih [4H, C], w_hh [4H, H], biases [4H] (all four NULL:
 * no bias).  The input projections of every step are one GEMM per direction over all T * N
 * rows, each step adds its recurrent GEMM (none at a direction's first step, where the state is
 * zero) and runs the fused cell (gids_lstm_cell's formulas) on its gate rows in place.  The
 * backward batches the same way: the weight and input gradients are one GEMM each over all
 * steps.  gids_bilstm gives *out [T, N, 2H], and *act [2, T, N, 4H] (each direction's
 * activated gates) and *c [2, T, N, H] (its cell states) for the backward.  Results do not
 * depend on the thread count.  Arguments as gids_lstm_cell (f32 or f64), on the CPU or a CUDA
 * device (runtime/src/cuda/bilstm.cu: the same layout and products); x and the weights
 * may have any strides (copied when not contiguous).
 * Ownership: results NEW, inputs BORROWed. */
gids_status gids_bilstm(gids_tensor **out, gids_tensor **act, gids_tensor **c, const gids_tensor *x,
                        const gids_tensor *const w[8]);

/* Gradients of gids_bilstm given g_out [T, N, 2H] (NULL: zero) and the forward's out, act and
 * c.  g_x NULL: not computed; g_w[k] receives NEW the gradient of w[k] for each k with
 * want_w[k], else NULL (the biases' values are not read: w[2], w[3], w[6], w[7] may be NULL). */
gids_status gids_bilstm_backward(gids_tensor **g_x, gids_tensor *g_w[8], const bool want_w[8],
                                 const gids_tensor *g_out, const gids_tensor *x,
                                 const gids_tensor *const w[8], const gids_tensor *out,
                                 const gids_tensor *act, const gids_tensor *c);
/* The same, writing the gate gradients over act's elements instead of a buffer of act's size (a
 * gigabyte and more for the large GAT's jumping knowledge at 1024 graphs): for a caller that
 * never reads act again, such as the autograd node when the graph is not retained.  act's
 * contents are undefined afterwards and its version is bumped. */
gids_status gids_bilstm_backward_consume(gids_tensor **g_x, gids_tensor *g_w[8],
                                         const bool want_w[8], const gids_tensor *g_out,
                                         const gids_tensor *x, const gids_tensor *const w[8],
                                         const gids_tensor *out, gids_tensor *act,
                                         const gids_tensor *c);

/* gids_bilstm recording one BiLSTMBackward node over x and the weights when grad mode is on and
 * any of them requires grad. */
gids_status gids_ag_bilstm(gids_tensor **out, const gids_tensor *x, const gids_tensor *const w[8]);

/* ---------------------------------------------------------------- weighted sum over the steps */

/* The jumping-knowledge sum that follows the sequence LSTM: out[n, c] = sum over t of
 * alpha[t, n] * x[t, n, c], for x [T, N, C] and alpha [T, N] (its softmax scores over the
 * layers).  One pass over x, where the composed broadcast multiply and sum made two forward and
 * three backward (the composed form cost the large GAT at 1024 graphs 1.3 ms a step on an H100,
 * this one 0.18 ms on an H200).  Sums accumulate in f64 in an order fixed by the shapes, so
 * results repeat on every thread count and launch.  f32 or f64, one dtype and device for all;
 * strided operands are copied first.
 * Ownership: results NEW, inputs BORROWed. */
gids_status gids_jk_sum(gids_tensor **out, const gids_tensor *x, const gids_tensor *alpha);
/* Gradients given g [N, C]: NEW *g_x [T, N, C] = alpha[t, n] * g[n, c] and NEW *g_alpha [T, N] =
 * sum over c of g[n, c] * x[t, n, c], each only when its pointer is not NULL. */
gids_status gids_jk_sum_backward(gids_tensor **g_x, gids_tensor **g_alpha, const gids_tensor *g,
                                 const gids_tensor *x, const gids_tensor *alpha);
/* gids_jk_sum recording one JKSumBackward node over x and alpha when grad mode is on and either
 * requires grad. */
gids_status gids_ag_jk_sum(gids_tensor **out, const gids_tensor *x, const gids_tensor *alpha);

#ifdef __cplusplus
}
#endif
#endif
