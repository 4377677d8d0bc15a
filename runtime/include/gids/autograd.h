/* gids/autograd.h -- reverse-mode automatic differentiation.
 *
 *   gids_tensor *x = NULL, *y = NULL, *s = NULL;
 *   GIDS_TRY(gids_randn(&x, NULL, GIDS_F64, 1, (int64_t[]){5}));
 *   GIDS_TRY(gids_set_requires_grad(x, true));
 *   GIDS_TRY(gids_ag_binary(&y, GIDS_MUL, x, x));      // records MulBackward
 *   GIDS_TRY(gids_ag_reduce(&s, GIDS_SUM, y, 0, NULL, false));
 *   GIDS_TRY(gids_backward(s, NULL, false));             // x's grad is now 2x
 *   const gids_tensor *g = gids_grad(x);
 *
 * The plain ops of ops.h never record anything; the gids_ag_* forms below run the same op
 * and, when grad mode is on and an input requires grad, record a node of the graph with the
 * tensors its backward formula needs.  Saved tensors are kept with the version of their
 * storage: writing into one in place before backward makes backward fail with a message naming
 * the node ("MulBackward: a tensor saved for backward was modified in place ...").  Saved tensors
 * are released as soon as their node has run, unless retain_graph.  In-place ops refuse a target
 * that requires grad while grad mode is on (use the out-of-place form, or no_grad for parameter
 * updates).  Gradients of gradients (create_graph) are not supported: backward formulas run the
 * plain ops.
 *
 * Grad mode and anomaly mode are per thread.
 */
#ifndef GIDS_AUTOGRAD_H
#define GIDS_AUTOGRAD_H

#include <stdbool.h>
#include <stdint.h>

#include "gids/ops.h"
#include "gids/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- modes */
bool gids_grad_enabled(void);
/* Returns the previous setting. */
bool gids_set_grad_enabled(bool on);
/* Anomaly mode: recorded ops check their outputs for NaN (error naming the op) and backward
 * checks every gradient a node returns (error naming the node). */
bool gids_anomaly_enabled(void);
bool gids_set_anomaly_enabled(bool on);

/* ---------------------------------------------------------------- tensors */
/* Only float tensors can require grad (EDTYPE otherwise); only leaves can be switched (a
 * tensor with a grad_fn is ESTATE: detach it first). */
gids_status gids_set_requires_grad(gids_tensor *t, bool on);
bool gids_requires_grad(const gids_tensor *t);
/* True for tensors that no recorded op produced. */
bool gids_is_leaf(const gids_tensor *t);
/* BORROW: the accumulated gradient of a leaf, NULL when none. */
gids_tensor *gids_grad(const gids_tensor *t);
/* Replaces the gradient (grad retained; NULL clears).  Its shape must equal t's (ESHAPE), and
 * its dtype and device too; t itself, or a tensor sharing memory with t, is EINVAL. */
gids_status gids_set_grad(gids_tensor *t, gids_tensor *grad);
/* Makes a non-leaf keep its gradient: each later backward adds the complete gradient of t
 * into its grad, as for a leaf (torch's retain_grad).  A no-op for a leaf; ESTATE for a tensor
 * that does not require grad. */
gids_status gids_retain_grad(gids_tensor *t);
bool gids_retains_grad(const gids_tensor *t);
/* A gradient hook: sees the complete gradient of the tensor it was registered on and may
 * store a NEW replacement of the same shape and device into *replace (NULL keeps grad).  It
 * must not write into grad. */
typedef gids_status (*gids_grad_hook_fn)(void *ctx, const gids_tensor *grad, gids_tensor **replace);
typedef struct gids_hook_handle gids_hook_handle;
/* Registers fn on t (which must require grad), as torch's register_hook: on a leaf it runs
 * before the gradient is added into .grad (or returned by gids_autograd_grad); on a non-leaf
 * before the gradient flows on to t's inputs (and before retain_grad keeps it).  Hooks of one
 * tensor run in registration order, each on what the one before returned.  ctx_free (may be
 * NULL) runs on ctx when the hook is removed or the last holder of it dies.  *handle is NEW. */
gids_status gids_register_hook(gids_tensor *t, gids_grad_hook_fn fn, void *ctx,
                               void (*ctx_free)(void *ctx), gids_hook_handle **handle);
/* For a binding whose handle on t keeps its hooks' contexts alive (so that a context referring
 * back to the handle can be collected with it): true when t has hooks (on a leaf, or on a
 * non-leaf's grad_fn) that something besides one reference to t holds -- another reference to
 * t (an AccumulateGrad node of a live graph, another handle), or a non-leaf's grad_fn held by
 * a later node -- so that a backward can still run them once that reference is dropped.
 * False when dropping the reference frees the hooks (or when there are none). */
bool gids_hooks_shared(const gids_tensor *t);
/* Removes the handle's hook; false when it was removed already. */
bool gids_hook_remove(gids_hook_handle *h);
/* Frees the handle (the hook stays registered). */
void gids_hook_handle_free(gids_hook_handle *h);
/* BORROW: "MulBackward", "AccumulateGrad", or NULL for a leaf. */
const char *gids_grad_fn_name(const gids_tensor *t);
/* NEW: a handle on the same storage that is a leaf without requires_grad. */
gids_status gids_detach(gids_tensor **out, const gids_tensor *t);

/* Runs backward from root.  grad is d(output)/d(root), root's shape; NULL means 1 and is only
 * allowed for a one-element root.  Gradients accumulate (add) into the .grad of leaves. */
gids_status gids_backward(gids_tensor *root, const gids_tensor *grad, bool retain_graph);
/* Several roots at once (as torch.autograd.backward); grads may be NULL or hold NULLs. */
gids_status gids_backward_multi(int n, gids_tensor *const *roots, const gids_tensor *const *grads,
                                bool retain_graph);

/* The gradients of the roots with respect to the inputs, as torch.autograd.grad: out[i] (NEW)
 * is d(roots . grads)/d(inputs[i]), in the input's dtype.  Nothing's grad changes (leaves' and
 * retained ones alike), and only the nodes on a path from the roots to an input run.  An input
 * that does not require grad is ESTATE; one the roots do not depend on is ESTATE too unless
 * allow_unused, which leaves out[i] NULL.  Roots and grads as gids_backward_multi. */
gids_status gids_autograd_grad(int n, gids_tensor *const *roots, const gids_tensor *const *grads,
                               int ninputs, gids_tensor *const *inputs, gids_tensor **out,
                               bool retain_graph, bool allow_unused);

/* ---------------------------------------------------------------- recording nodes
 * For the gids_ag_* forms and for functions defined outside the runtime (the Lua binding's
 * custom Functions).  A node has nin inputs (the tensors it differentiates with respect to)
 * and nout outputs. */
typedef struct gids_node gids_node;

/* grad_out[k] is the gradient with respect to output k, NULL when no path from the root
 * reached it (treat as zeros).  The function stores NEW tensors into grad_in[j] (shape of
 * input j), or leaves NULL where input j gets no gradient.  It may fail with a status. */
typedef gids_status (*gids_backward_fn)(gids_node *node, gids_tensor *const *grad_out,
                                        gids_tensor **grad_in);

/* True when grad mode is on and one of the n inputs requires grad: only then record. */
bool gids_ag_should_record(int n, const gids_tensor *const *inputs);

/* NEW node named `name` (a static string) whose edges lead to the inputs that require grad,
 * with ctx_size zeroed bytes of context (ctx_free, when given, runs on it when the node dies).
 * The outputs become non-leaf tensors requiring grad with this node as grad_fn.  EINVAL for a
 * NULL name or fn, a negative nin or nout, or NULL inputs / outputs with a positive count
 * (entries of the arrays may be NULL). */
gids_status gids_node_record(gids_node **out, const char *name, gids_backward_fn fn, int nin,
                             const gids_tensor *const *inputs, int nout,
                             gids_tensor *const *outputs, size_t ctx_size,
                             void (*ctx_free)(void *ctx));
void gids_node_release(gids_node *n); /* the caller's reference from gids_node_record */
void *gids_node_ctx(gids_node *n);
const char *gids_node_name(const gids_node *n);
/* Saves t (a handle on its storage, with the storage's current version) in slot i (i < 8). */
gids_status gids_node_save(gids_node *n, int slot, const gids_tensor *t);
/* BORROW: the tensor saved in slot i.  ESTATE when saved tensors were already released by an
 * earlier backward, or when t was modified in place since it was saved. */
gids_status gids_node_saved(gids_node *n, int slot, const gids_tensor **out);
/* BORROW: the tensor saved in slot i as scratch the formula may overwrite, or NULL.  Non-NULL
 * only while the engine runs n in a backward that frees n's saved tensors right after it (no
 * retain_graph) and when nothing else holds the tensor or its storage, so no one can read the
 * overwritten values.  A formula uses it to put a result of the same size in place of a saved
 * buffer it reads for the last time. */
gids_tensor *gids_node_saved_scratch(gids_node *n, int slot);
/* Shape of input j as recorded (for sum_to and zeros of the right shape).  For j outside
 * [0, nin) or a NULL n: *ndim = -1, input_dtype GIDS_NDTYPES and needs_grad false. */
void gids_node_input_shape(const gids_node *n, int j, int *ndim, const int64_t **shape);
gids_dtype gids_node_input_dtype(const gids_node *n, int j);
/* The device of input j as recorded (the CPU for j outside [0, nin)). */
gids_device gids_node_input_device(const gids_node *n, int j);
/* Whether input j needs a gradient (lets formulas skip work). */
bool gids_node_needs_grad(const gids_node *n, int j);

/* NEW: g summed over the dims that broadcasting added or expanded, so it has `shape`. */
gids_status gids_sum_to(gids_tensor **out, const gids_tensor *g, int ndim, const int64_t *shape);

/* ---------------------------------------------------------------- differentiable ops
 * Same arguments and results as the plain ops of ops.h / tensor.h, recording a node when
 * needed.  Ops whose results are not differentiable (comparisons, argmax, sort indices) have
 * no gids_ag_ form: call the plain op. */
gids_status gids_ag_binary(gids_tensor **out, gids_binop op, const gids_tensor *a,
                           const gids_tensor *b);
gids_status gids_ag_binary_scalar(gids_tensor **out, gids_binop op, const gids_tensor *a,
                                  gids_scalar s, bool reversed);
gids_status gids_ag_unary(gids_tensor **out, gids_unop op, const gids_tensor *a);
gids_status gids_ag_leaky_relu(gids_tensor **out, const gids_tensor *a, double negative_slope);
gids_status gids_ag_elu(gids_tensor **out, const gids_tensor *a, double alpha);
gids_status gids_ag_softplus(gids_tensor **out, const gids_tensor *a, double beta,
                             double threshold);
/* gids_layer_norm, differentiable in x, weight and bias (NULL: none). */
gids_status gids_ag_layer_norm(gids_tensor **out, const gids_tensor *x, int ndims,
                               const gids_tensor *weight, const gids_tensor *bias, double eps);
gids_status gids_ag_clamp(gids_tensor **out, const gids_tensor *a, const gids_scalar *min,
                          const gids_scalar *max);
gids_status gids_ag_where(gids_tensor **out, const gids_tensor *cond, const gids_tensor *a,
                          const gids_tensor *b);

gids_status gids_ag_reduce(gids_tensor **out, gids_redop op, const gids_tensor *a, int ndims,
                           const int *dims, bool keepdim);
/* max()/min() of every element: amax/amin's value; the gradient shared evenly by the elements
 * equal to it, or by the NaN elements when it is NaN (torch's max() and min()). */
gids_status gids_ag_extreme_all(gids_tensor **out, const gids_tensor *a, bool is_max, bool keepdim);
gids_status gids_ag_var(gids_tensor **out, const gids_tensor *a, int ndims, const int *dims,
                        int64_t correction, bool keepdim);
gids_status gids_ag_std(gids_tensor **out, const gids_tensor *a, int ndims, const int *dims,
                        int64_t correction, bool keepdim);
gids_status gids_ag_norm(gids_tensor **out, const gids_tensor *a, double p, int ndims,
                         const int *dims, bool keepdim);
gids_status gids_ag_max_dim(gids_tensor **values, gids_tensor **indices, const gids_tensor *a,
                            int dim, bool keepdim);
gids_status gids_ag_min_dim(gids_tensor **values, gids_tensor **indices, const gids_tensor *a,
                            int dim, bool keepdim);
gids_status gids_ag_softmax(gids_tensor **out, const gids_tensor *a, int dim);
gids_status gids_ag_log_softmax(gids_tensor **out, const gids_tensor *a, int dim);
gids_status gids_ag_cumsum(gids_tensor **out, const gids_tensor *a, int dim);
gids_status gids_ag_cumprod(gids_tensor **out, const gids_tensor *a, int dim);

gids_status gids_ag_matmul(gids_tensor **out, const gids_tensor *a, const gids_tensor *b);
gids_status gids_ag_mm(gids_tensor **out, const gids_tensor *a, const gids_tensor *b);
gids_status gids_ag_bmm(gids_tensor **out, const gids_tensor *a, const gids_tensor *b);
gids_status gids_ag_addmm(gids_tensor **out, const gids_tensor *bias, const gids_tensor *a,
                          const gids_tensor *b, double beta, double alpha);

gids_status gids_ag_index_select(gids_tensor **out, const gids_tensor *a, int dim,
                                 const gids_tensor *index);
gids_status gids_ag_gather(gids_tensor **out, const gids_tensor *a, int dim,
                           const gids_tensor *index);
gids_status gids_ag_scatter(gids_tensor **out, const gids_tensor *self, int dim,
                            const gids_tensor *index, const gids_tensor *src);
gids_status gids_ag_scatter_add(gids_tensor **out, const gids_tensor *self, int dim,
                                const gids_tensor *index, const gids_tensor *src);
gids_status gids_ag_index_add(gids_tensor **out, const gids_tensor *self, int dim,
                              const gids_tensor *index, const gids_tensor *src, double alpha);
gids_status gids_ag_masked_fill(gids_tensor **out, const gids_tensor *self, const gids_tensor *mask,
                                gids_scalar value);
gids_status gids_ag_masked_select(gids_tensor **out, const gids_tensor *a, const gids_tensor *mask);
gids_status gids_ag_sort(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int dim,
                         bool descending, bool stable);
gids_status gids_ag_topk(gids_tensor **values, gids_tensor **indices, const gids_tensor *a,
                         int64_t k, int dim, bool largest, bool sorted);

gids_status gids_ag_cat(gids_tensor **out, int n, const gids_tensor *const *ts, int dim);
gids_status gids_ag_stack(gids_tensor **out, int n, const gids_tensor *const *ts, int dim);
gids_status gids_ag_split(gids_tensor **outs, int n, const gids_tensor *t, const int64_t *sizes,
                          int dim);

gids_status gids_ag_segment_reduce(gids_tensor **out, gids_tensor **arg, gids_segop op,
                                   const gids_tensor *src, const gids_tensor *index,
                                   int64_t num_segments);
gids_status gids_ag_segment_softmax(gids_tensor **out, const gids_tensor *src,
                                    const gids_tensor *index, int64_t num_segments);

/* Views and copies. */
gids_status gids_ag_view(gids_tensor **out, const gids_tensor *t, int ndim, const int64_t *shape);
gids_status gids_ag_reshape(gids_tensor **out, const gids_tensor *t, int ndim,
                            const int64_t *shape);
gids_status gids_ag_permute(gids_tensor **out, const gids_tensor *t, const int *perm);
gids_status gids_ag_transpose(gids_tensor **out, const gids_tensor *t, int d0, int d1);
gids_status gids_ag_narrow(gids_tensor **out, const gids_tensor *t, int dim, int64_t start,
                           int64_t length);
gids_status gids_ag_select(gids_tensor **out, const gids_tensor *t, int dim, int64_t index);
gids_status gids_ag_expand(gids_tensor **out, const gids_tensor *t, int ndim, const int64_t *shape);
gids_status gids_ag_squeeze(gids_tensor **out, const gids_tensor *t, int dim);
gids_status gids_ag_unsqueeze(gids_tensor **out, const gids_tensor *t, int dim);
gids_status gids_ag_flatten(gids_tensor **out, const gids_tensor *t, int start_dim, int end_dim);
gids_status gids_ag_contiguous(gids_tensor **out, const gids_tensor *t);
gids_status gids_ag_clone(gids_tensor **out, const gids_tensor *t);
/* Float -> float conversions are differentiable; to an integer dtype the result is detached. */
gids_status gids_ag_to_dtype(gids_tensor **out, const gids_tensor *t, gids_dtype dt);
/* NEW: t moved to dev (t itself, retained, when already there); the gradient moves back to
 * t's device. */
gids_status gids_ag_to_device(gids_tensor **out, const gids_tensor *t, gids_device dev);

/* In-place ops on tensors that take part in a graph: ESTATE ("add_: a tensor that requires
 * grad cannot be modified in place while grad mode is on ...") when `target` requires grad
 * with grad mode on, or when one of the inputs requires grad (the result would need a
 * history); otherwise GIDS_OK.  The binding calls it before every in-place op. */
gids_status gids_ag_check_inplace(const char *op, const gids_tensor *target, int n,
                                  const gids_tensor *const *inputs);

#ifdef __cplusplus
}
#endif
#endif
