/* ag_formula_impl.h -- internal: small steps shared by the formulas of the linear algebra,
 * indexing, joining, segment and view ops (ag_linalg.c, ag_index.c, ag_join.c, ag_segment.c,
 * ag_view.c), on top of scope_impl.h.
 *
 *   ag_scope s = AG_SCOPE;
 *   gids_tensor *z = ag_input_zeros(&s, n, 0, g->dtype);   // owned by s
 *   AG_DO(&s, gids_scatter_add_(z, dim, index, g));        // in place on z
 *   ag_give(&s, n, 0, z, grad_in);                         // fitted to input 0
 *   return ag_finish(&s, NULL, NULL);
 */
#ifndef GIDS_AG_FORMULA_IMPL_H
#define GIDS_AG_FORMULA_IMPL_H

#include <string.h>

#include "autograd_impl.h"
#include "scope_impl.h"

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

/* grad_in[j] <- g summed down and converted to input j (nothing when g is NULL or the scope
 * failed).  The engine releases whatever a failing formula left in grad_in. */
static inline void ag_give(ag_scope *s, const gids_node *n, int j, const gids_tensor *g,
                           gids_tensor **grad_in) {
    if (s->st != GIDS_OK || g == NULL) return;
    gids_tensor *r = NULL;
    gids_status st = gids_ag_input_grad(&r, n, j, g);
    if (st != GIDS_OK) {
        s->st = st;
        return;
    }
    grad_in[j] = r;
}

/* Zeros with input j's recorded shape, in the dtype of the gradient that fills them. */
static inline gids_tensor *ag_input_zeros(ag_scope *s, const gids_node *n, int j, gids_dtype dt) {
    int nd = 0;
    const int64_t *shape = NULL;
    gids_node_input_shape(n, j, &nd, &shape);
    gids_tensor *z = NULL;
    AG_RUN(s, z, gids_zeros(&z, dt, GIDS_DEVICE_CPU, nd, shape));
    return z;
}

/* The tensor saved in slot i, or NULL with the scope failed. */
static inline const gids_tensor *ag_saved(ag_scope *s, gids_node *n, int i) {
    const gids_tensor *t = NULL;
    if (s->st != GIDS_OK) return NULL;
    s->st = gids_node_saved(n, i, &t);
    return s->st == GIDS_OK ? t : NULL;
}

/* The common tail of a recording forward: the anomaly check of the result, and on any failure
 * the result dropped, so no caller sees a half-recorded tensor. */
static inline gids_status ag_done(gids_tensor **out, const char *op, gids_status st) {
    if (st == GIDS_OK && gids_anomaly_enabled()) st = gids_ag_check_nan(op, "its result", *out);
    if (st != GIDS_OK) {
        gids_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

/* Records a one-output node over `nin` inputs with a copy of ctx (ctx_size bytes; NULL: none)
 * as its context, and saves up to four tensors in slots 0..3 (NULL entries are skipped).  The
 * node lives on through the output's grad_fn. */
static inline gids_status ag_record1(gids_tensor *out, const char *name, gids_backward_fn fn,
                                     int nin, const gids_tensor *const *ins, const void *ctx,
                                     size_t ctx_size, const gids_tensor *s0, const gids_tensor *s1,
                                     const gids_tensor *s2, const gids_tensor *s3) {
    gids_node *n = NULL;
    GIDS_TRY(gids_node_record(&n, name, fn, nin, ins, 1, &out, ctx != NULL ? ctx_size : 0, NULL));
    if (ctx != NULL) memcpy(gids_node_ctx(n), ctx, ctx_size);
    const gids_tensor *saved[4] = {s0, s1, s2, s3};
    gids_status st = GIDS_OK;
    for (int i = 0; i < 4 && st == GIDS_OK; i++)
        if (saved[i] != NULL) st = gids_node_save(n, i, saved[i]);
    gids_node_release(n);
    return st;
}

#endif
