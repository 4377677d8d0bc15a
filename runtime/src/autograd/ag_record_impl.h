/* ag_record_impl.h -- internal: what ag_unary.c, ag_activation.c, ag_reduce.c and ag_scan.c
 * share beyond scope_impl.h: more scope steps (views, reductions, 0-d numbers), the common
 * tail of a forward (record, save, anomaly check) and of a backward (one input's gradient).
 *
 *   GIDS_TRY(gids_unary(out, GIDS_EXP, a));                      // the plain op
 *   if (!gids_ag_should_record(1, &a)) return GIDS_OK;
 *   const gids_tensor *save[1] = {*out};
 *   return ag_record(out, "ExpBackward", "exp", exp_backward_, 1, &a, NULL, 0, 1, save);
 */
#ifndef GIDS_AG_RECORD_IMPL_H
#define GIDS_AG_RECORD_IMPL_H

#include <string.h>

#include "autograd_impl.h"
#include "scope_impl.h"

/* A 0-d tensor holding v, of dtype dt. */
static inline gids_tensor *ag_scalar(ag_scope *s, double v, gids_dtype dt) {
    gids_tensor *t = NULL;
    if (s->st != GIDS_OK) return NULL;
    gids_status st = gids_full(&t, dt, GIDS_DEVICE_CPU, 0, NULL, gids_scalar_f(v));
    return ag_own(s, st, t);
}

static inline gids_tensor *ag_red(ag_scope *s, gids_redop op, const gids_tensor *a, int ndims,
                                  const int *dims, bool keepdim) {
    gids_tensor *t = NULL;
    if (s->st != GIDS_OK || a == NULL) return NULL;
    gids_status st = gids_reduce(&t, op, a, ndims, dims, keepdim);
    return ag_own(s, st, t);
}

/* A view when t's strides allow it, else a copy. */
static inline gids_tensor *ag_reshape(ag_scope *s, const gids_tensor *a, int ndim,
                                      const int64_t *shape) {
    gids_tensor *t = NULL;
    if (s->st != GIDS_OK || a == NULL) return NULL;
    gids_status st = gids_reshape(&t, a, ndim, shape);
    return ag_own(s, st, t);
}

static inline gids_tensor *ag_expand(ag_scope *s, const gids_tensor *a, int ndim,
                                     const int64_t *shape) {
    gids_tensor *t = NULL;
    if (s->st != GIDS_OK || a == NULL) return NULL;
    gids_status st = gids_expand(&t, a, ndim, shape);
    return ag_own(s, st, t);
}

/* Zeros of the given shape with the dtype and device of `like`. */
static inline gids_tensor *ag_zeros(ag_scope *s, const gids_tensor *like, int ndim,
                                    const int64_t *shape) {
    gids_tensor *t = NULL;
    if (s->st != GIDS_OK || like == NULL) return NULL;
    gids_status st = gids_zeros(&t, like->dtype, gids_tensor_device(like), ndim, shape);
    return ag_own(s, st, t);
}

/* Multiplies by a bool mask: g where m, 0 elsewhere (a select, so an inf or NaN in g outside
 * the mask cannot turn into NaN as 0 * inf would). */
static inline gids_tensor *ag_mask(ag_scope *s, const gids_tensor *m, const gids_tensor *g) {
    if (s->st != GIDS_OK || g == NULL) return NULL;
    return ag_where(s, m, g, ag_scalar(s, 0.0, g->dtype));
}

/* The common tail of a differentiable forward: records node `name` (backward fn) for *out
 * over the nin inputs, copies ctx_size bytes of ctx into the node, saves saves[0..nsave) (NULLs
 * skipped) in the slots of the same number, and applies the anomaly check naming `op`.  On
 * failure *out is released and set to NULL, so a caller never sees a half-recorded tensor. */
static inline gids_status ag_record(gids_tensor **out, const char *name, const char *op,
                                    gids_backward_fn fn, int nin, const gids_tensor *const *ins,
                                    const void *ctx, size_t ctx_size, int nsave,
                                    const gids_tensor *const *saves) {
    gids_node *n = NULL;
    gids_status st = gids_node_record(&n, name, fn, nin, ins, 1, out, ctx_size, NULL);
    if (st == GIDS_OK) {
        if (ctx_size > 0) memcpy(gids_node_ctx(n), ctx, ctx_size);
        for (int i = 0; i < nsave && st == GIDS_OK; i++)
            if (saves[i] != NULL) st = gids_node_save(n, i, saves[i]);
        gids_node_release(n);
    }
    if (st == GIDS_OK && gids_anomaly_enabled()) st = gids_ag_check_nan(op, "its result", *out);
    if (st != GIDS_OK) {
        gids_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

/* The common tail of a one-input backward: g (the gradient at the input's shape, owned by the
 * scope or not) converted to input j's dtype into *out, everything else released. */
static inline gids_status ag_finish_input(ag_scope *s, const gids_node *n, int j,
                                          const gids_tensor *g, gids_tensor **out) {
    gids_tensor *r = NULL;
    if (s->st == GIDS_OK && g != NULL) s->st = gids_ag_input_grad(&r, n, j, g);
    gids_status st = ag_finish(s, NULL, NULL);
    if (st != GIDS_OK) {
        gids_tensor_release(r);
        r = NULL;
    }
    *out = r;
    return st;
}

#endif
