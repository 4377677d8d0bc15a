/* scope_impl.h -- internal: arithmetic on temporaries for backward formulas, without a
 * release after every step.
 *
 *   ag_scope s = AG_SCOPE;
 *   gids_tensor *t = ag_bin(&s, GIDS_MUL, g, b);     // NULL once anything failed
 *   t = ag_bin(&s, GIDS_DIV, t, a);
 *   return ag_finish(&s, t, &grad_in[0]);           // keeps t, releases the rest
 *
 * Every result is owned by the scope until ag_finish/ag_take hands one out; after the first
 * failure every further step returns NULL and the scope keeps the first status and message.
 */
#ifndef GIDS_SCOPE_IMPL_H
#define GIDS_SCOPE_IMPL_H

#include "../core/core_impl.h"
#include "gids/ops.h"

#define AG_SCOPE_MAX 32

typedef struct ag_scope {
    gids_tensor *owned[AG_SCOPE_MAX];
    int n;
    gids_status st;
} ag_scope;

#define AG_SCOPE                                                                                   \
    { {NULL}, 0, GIDS_OK }

/* Takes ownership of the result of a NEW-returning call.  Call it after the call, never as
 * ag_own(s, f(&t), t): the order in which arguments are evaluated is unspecified. */
static inline gids_tensor *ag_own(ag_scope *s, gids_status st, gids_tensor *t) {
    if (s->st != GIDS_OK) {
        gids_tensor_release(t);
        return NULL;
    }
    if (st != GIDS_OK) {
        s->st = st;
        gids_tensor_release(t);
        return NULL;
    }
    if (s->n == AG_SCOPE_MAX) {
        s->st = gids_error_set(GIDS_EINVAL, __FILE__, __LINE__, "autograd: formula scope full");
        gids_tensor_release(t);
        return NULL;
    }
    s->owned[s->n++] = t;
    return t;
}

#define AG_OK(s, ...) ((s)->st == GIDS_OK && __VA_ARGS__)

static inline gids_tensor *ag_bin(ag_scope *s, gids_binop op, const gids_tensor *a,
                                  const gids_tensor *b) {
    gids_tensor *t = NULL;
    if (s->st != GIDS_OK || a == NULL || b == NULL) return NULL;
    gids_status st = gids_binary(&t, op, a, b);
    return ag_own(s, st, t);
}

static inline gids_tensor *ag_bins(ag_scope *s, gids_binop op, const gids_tensor *a, double v) {
    gids_tensor *t = NULL;
    if (s->st != GIDS_OK || a == NULL) return NULL;
    gids_status st = gids_binary_scalar(&t, op, a, gids_scalar_f(v), false);
    return ag_own(s, st, t);
}

/* v op a (the scalar first). */
static inline gids_tensor *ag_sbin(ag_scope *s, gids_binop op, double v, const gids_tensor *a) {
    gids_tensor *t = NULL;
    if (s->st != GIDS_OK || a == NULL) return NULL;
    gids_status st = gids_binary_scalar(&t, op, a, gids_scalar_f(v), true);
    return ag_own(s, st, t);
}

static inline gids_tensor *ag_un(ag_scope *s, gids_unop op, const gids_tensor *a) {
    gids_tensor *t = NULL;
    if (s->st != GIDS_OK || a == NULL) return NULL;
    gids_status st = gids_unary(&t, op, a);
    return ag_own(s, st, t);
}

/* Elementwise cond ? a : b. */
static inline gids_tensor *ag_where(ag_scope *s, const gids_tensor *c, const gids_tensor *a,
                                    const gids_tensor *b) {
    gids_tensor *t = NULL;
    if (s->st != GIDS_OK || c == NULL || a == NULL || b == NULL) return NULL;
    gids_status st = gids_where(&t, c, a, b);
    return ag_own(s, st, t);
}

/* a converted to dtype dt (a itself, not a copy, when it already has it). */
static inline gids_tensor *ag_cast(ag_scope *s, const gids_tensor *a, gids_dtype dt) {
    gids_tensor *t = NULL;
    if (s->st != GIDS_OK || a == NULL) return NULL;
    if (a->dtype == dt) return (gids_tensor *)a;
    gids_status st = gids_to_dtype(&t, a, dt);
    return ag_own(s, st, t);
}

static inline gids_tensor *ag_zeros_like(ag_scope *s, const gids_tensor *a) {
    gids_tensor *t = NULL;
    if (s->st != GIDS_OK || a == NULL) return NULL;
    gids_status st = gids_zeros(&t, a->dtype, gids_tensor_device(a), a->ndim, a->shape);
    return ag_own(s, st, t);
}

/* Hands `t` out of the scope without ending it (NULL when the scope failed). */
static inline gids_tensor *ag_take(ag_scope *s, gids_tensor *t) {
    if (s->st != GIDS_OK || t == NULL) return NULL;
    for (int i = 0; i < s->n; i++)
        if (s->owned[i] == t) {
            s->owned[i] = s->owned[--s->n];
            return t;
        }
    gids_tensor_retain(t); /* not the scope's: hand out a new reference */
    return t;
}

/* Releases everything but `keep`, which goes to *out as a NEW reference (keep may also be a
 * tensor the scope does not own, such as the incoming gradient); returns the status. */
static inline gids_status ag_finish(ag_scope *s, gids_tensor *keep, gids_tensor **out) {
    gids_tensor *k = out != NULL ? ag_take(s, keep) : NULL;
    for (int i = 0; i < s->n; i++) gids_tensor_release(s->owned[i]);
    s->n = 0;
    if (out != NULL) *out = k;
    return s->st;
}

#endif
