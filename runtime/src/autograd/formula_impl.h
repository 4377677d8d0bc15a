/* formula_impl.h -- internal: what every differentiable op (ag_*.c) shares beyond the scope
 * arithmetic of scope_impl.h: more scope steps, the tail of a forward (record the node, save,
 * anomaly check) and of a backward (hand each input its gradient).
 *
 *   static gids_status exp_backward_(gids_node *n, gids_tensor *const *grad_out,
 *                                    gids_tensor **grad_in) {
 *       ag_scope s = AG_SCOPE;
 *       const gids_tensor *y = ag_saved(&s, n, 0);
 *       ag_give(&s, n, 0, ag_bin(&s, GIDS_MUL, grad_out[0], y), grad_in);
 *       return ag_finish(&s, NULL, NULL);
 *   }
 *   ...
 *   GIDS_TRY(gids_unary(out, GIDS_EXP, a));                       // the plain op
 *   if (!gids_ag_should_record(1, &a)) return GIDS_OK;
 *   ag_node_spec r = {.name = "ExpBackward", .op = "exp", .fn = exp_backward_, .save = {*out}};
 *   return ag_record(&r, 1, &a, 1, out);
 */
#ifndef GIDS_FORMULA_IMPL_H
#define GIDS_FORMULA_IMPL_H

#include <string.h>

#include "autograd_impl.h"
#include "scope_impl.h"

/* ---------------------------------------------------------------- scope steps */

/* var <- the NEW result that `call` writes through &var, owned by the scope.  Nothing runs once
 * the scope has failed (the inputs of the call may be NULL by then). */
#define AG_RUN(s, var, call)                                                                       \
    do {                                                                                           \
        (var) = NULL;                                                                              \
        if ((s)->st == GIDS_OK) {                                                                  \
            gids_status ag_st_ = (call);                                                           \
            (var) = ag_own((s), ag_st_, (var));                                                    \
        }                                                                                          \
    } while (0)

/* A call that returns only a status (in-place steps on tensors the scope owns). */
#define AG_DO(s, call)                                                                             \
    do {                                                                                           \
        if ((s)->st == GIDS_OK) (s)->st = (call);                                                  \
    } while (0)

/* A 0-d tensor holding v, with the dtype and on the device of `like` (the tensors of one op
 * share a device). */
static inline gids_tensor *ag_scalar(ag_scope *s, double v, const gids_tensor *like) {
    gids_tensor *t = NULL;
    if (like == NULL) return NULL;
    AG_RUN(s, t, gids_full(&t, like->dtype, gids_tensor_device(like), 0, NULL, gids_scalar_f(v)));
    return t;
}

static inline gids_tensor *ag_red(ag_scope *s, gids_redop op, const gids_tensor *a, int ndims,
                                  const int *dims, bool keepdim) {
    gids_tensor *t = NULL;
    if (a != NULL) AG_RUN(s, t, gids_reduce(&t, op, a, ndims, dims, keepdim));
    return t;
}

/* A view when a's strides allow it, else a copy. */
static inline gids_tensor *ag_reshape(ag_scope *s, const gids_tensor *a, int ndim,
                                      const int64_t *shape) {
    gids_tensor *t = NULL;
    if (a != NULL) AG_RUN(s, t, gids_reshape(&t, a, ndim, shape));
    return t;
}

static inline gids_tensor *ag_expand(ag_scope *s, const gids_tensor *a, int ndim,
                                     const int64_t *shape) {
    gids_tensor *t = NULL;
    if (a != NULL) AG_RUN(s, t, gids_expand(&t, a, ndim, shape));
    return t;
}

/* Zeros with input j's recorded shape, in the dtype and on the device of `like` (the gradient
 * that fills them). */
static inline gids_tensor *ag_input_zeros(ag_scope *s, const gids_node *n, int j,
                                          const gids_tensor *like) {
    int nd = 0;
    const int64_t *shape = NULL;
    gids_node_input_shape(n, j, &nd, &shape);
    gids_tensor *t = NULL;
    if (like != NULL)
        AG_RUN(s, t, gids_zeros(&t, like->dtype, gids_tensor_device(like), nd, shape));
    return t;
}

/* Multiplies by a bool mask: g where m, 0 elsewhere (a select, so an inf or NaN in g outside
 * the mask cannot turn into NaN as 0 * inf would). */
static inline gids_tensor *ag_mask(ag_scope *s, const gids_tensor *m, const gids_tensor *g) {
    if (s->st != GIDS_OK || g == NULL) return NULL;
    return ag_where(s, m, g, ag_scalar(s, 0.0, g));
}

/* ---------------------------------------------------------------- backward */

/* The tensor saved in slot i, or NULL with the scope failed (released by an earlier backward,
 * or modified in place since). */
static inline const gids_tensor *ag_saved(ag_scope *s, gids_node *n, int i) {
    const gids_tensor *t = NULL;
    if (s->st != GIDS_OK) return NULL;
    s->st = gids_node_saved(n, i, &t);
    return s->st == GIDS_OK ? t : NULL;
}

/* grad_in[j] <- g summed down to input j's shape and converted to its dtype (nothing when g is
 * NULL or the scope failed).  g may be the scope's or not.  A backward ends with
 * `return ag_finish(&s, NULL, NULL);`; the engine releases whatever a failing formula left in
 * grad_in. */
static inline void ag_give(ag_scope *s, const gids_node *n, int j, const gids_tensor *g,
                           gids_tensor **grad_in) {
    if (s->st != GIDS_OK || g == NULL) return;
    gids_tensor *r = NULL;
    s->st = gids_ag_input_grad(&r, n, j, g);
    if (s->st == GIDS_OK) grad_in[j] = r;
}

/* ---------------------------------------------------------------- forward */

/* What a forward records (designated initializers read best):
 *   .name     the node, as errors and gids_node_name give it ("ExpBackward")
 *   .op       the op the anomaly check names ("exp")
 *   .fn       the formula
 *   .ctx      ctx_size bytes copied into the node's context (NULL: none)
 *   .save[i]  the tensors the formula reads back, saved in slot i (NULL: nothing there) */
typedef struct ag_node_spec {
    const char *name, *op;
    gids_backward_fn fn;
    const void *ctx;
    size_t ctx_size;
    const gids_tensor *save[GIDS_NODE_MAX_SAVED];
} ag_node_spec;

/* Releases the results of a forward that failed with st after the plain op succeeded, and sets
 * them to NULL, so no caller sees a half-recorded tensor; returns st. */
static inline gids_status ag_drop(gids_status st, int nout, gids_tensor **outs) {
    for (int k = 0; k < nout; k++) {
        gids_tensor_release(outs[k]);
        outs[k] = NULL;
    }
    return st;
}

/* The tail of a differentiable forward: records the node of `spec` over the nin inputs for the
 * nout results (which then require grad, the node living on through their grad_fn), and applies
 * the anomaly check to each result.  On failure every result is dropped (ag_drop). */
static inline gids_status ag_record(const ag_node_spec *spec, int nin,
                                    const gids_tensor *const *ins, int nout, gids_tensor **outs) {
    size_t ctx_size = spec->ctx != NULL ? spec->ctx_size : 0;
    gids_node *n = NULL;
    gids_status st =
        gids_node_record(&n, spec->name, spec->fn, nin, ins, nout, outs, ctx_size, NULL);
    if (st == GIDS_OK) {
        if (ctx_size > 0) memcpy(gids_node_ctx(n), spec->ctx, ctx_size);
        for (int i = 0; i < GIDS_NODE_MAX_SAVED && st == GIDS_OK; i++)
            if (spec->save[i] != NULL) st = gids_node_save(n, i, spec->save[i]);
        gids_node_release(n);
    }
    for (int k = 0; k < nout && st == GIDS_OK && gids_anomaly_enabled(); k++)
        st = gids_ag_check_nan(spec->op, "its result", outs[k]);
    return st == GIDS_OK ? GIDS_OK : ag_drop(st, nout, outs);
}

/* Hands a forward's non-differentiable side result (the indices of max_dim, sort, topk, the
 * rows segment max chose) to *out when st is GIDS_OK and the caller wants it (out != NULL);
 * releases it otherwise, leaving *out NULL.  Returns st. */
static inline gids_status ag_side_result(gids_status st, gids_tensor *t, gids_tensor **out) {
    if (st == GIDS_OK && out != NULL) {
        *out = t;
        return GIDS_OK;
    }
    gids_tensor_release(t);
    if (out != NULL) *out = NULL;
    return st;
}

#endif
