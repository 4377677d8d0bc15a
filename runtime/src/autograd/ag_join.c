/* ag_join.c -- differentiable cat, stack and split.
 *
 * cat and stack hand each input its slice of the gradient (a view of it: narrow for cat, select
 * for stack), skipping inputs that need none.  split is one node with an output per piece; the
 * pieces the loss never reached have no gradient, so their part of the input's gradient stays
 * zero.
 */
#include <stdlib.h>

#include "ag_formula_impl.h"

typedef struct {
    int dim, n;      /* dim normalised against the result (cat, stack) or the input (split) */
    int64_t sizes[]; /* cat: size of each input along dim (-1: a skipped empty placeholder);
                      * split: the sizes of the pieces */
} join_ctx;

/* Records a node over nin inputs and nout outputs with a join_ctx of n sizes. */
static gids_status record_(const char *name, gids_backward_fn fn, int nin,
                           const gids_tensor *const *ins, int nout, gids_tensor *const *outs,
                           int dim, int n, const int64_t *sizes) {
    gids_node *node = NULL;
    GIDS_TRY(gids_node_record(&node, name, fn, nin, ins, nout, outs,
                              sizeof(join_ctx) + (size_t)n * sizeof(int64_t), NULL));
    join_ctx *c = gids_node_ctx(node);
    c->dim = dim, c->n = n;
    for (int i = 0; sizes != NULL && i < n; i++) c->sizes[i] = sizes[i];
    gids_node_release(node);
    return GIDS_OK;
}

/* ---------------------------------------------------------------- cat */

static gids_status cat_backward_(gids_node *node, gids_tensor *const *grad_out,
                                 gids_tensor **grad_in) {
    const join_ctx *c = gids_node_ctx(node);
    const gids_tensor *g = grad_out[0];
    int64_t at = 0;
    /* a scope per input: a cat of many tensors would overflow one */
    for (int i = 0; i < c->n; i++) {
        int64_t size = c->sizes[i];
        if (size > 0) at += size;
        if (!gids_node_needs_grad(node, i)) continue;
        ag_scope s = AG_SCOPE;
        gids_tensor *r = NULL;
        if (size < 0)
            r = ag_input_zeros(&s, node, i, g->dtype);
        else
            AG_RUN(&s, r, gids_narrow(&r, g, c->dim, at - size, size));
        ag_give(&s, node, i, r, grad_in);
        GIDS_TRY(ag_finish(&s, NULL, NULL));
    }
    return GIDS_OK;
}

gids_status gids_ag_cat(gids_tensor **out, int n, const gids_tensor *const *ts, int dim) {
    GIDS_TRY(gids_cat(out, n, ts, dim));
    if (!gids_ag_should_record(n, ts)) return GIDS_OK;
    gids_status st = GIDS_OK;
    int64_t *sizes = malloc((size_t)n * sizeof *sizes);
    int d = 0;
    if (sizes == NULL)
        st = gids_error_set(GIDS_ENOMEM, __FILE__, __LINE__, "cat: out of memory for %d sizes", n);
    if (st == GIDS_OK) st = gids_normalize_dim("cat", dim, (*out)->ndim, &d);
    for (int i = 0; st == GIDS_OK && i < n; i++) {
        /* the 1-D empty placeholders cat skips may have any other rank than the result */
        bool skipped = ts[i]->ndim == 1 && ts[i]->shape[0] == 0 && (*out)->ndim != 1;
        sizes[i] = skipped ? -1 : ts[i]->shape[d];
    }
    if (st == GIDS_OK) st = record_("CatBackward", cat_backward_, n, ts, 1, out, d, n, sizes);
    free(sizes);
    return ag_done(out, "cat", st);
}

/* ---------------------------------------------------------------- stack */

static gids_status stack_backward_(gids_node *node, gids_tensor *const *grad_out,
                                   gids_tensor **grad_in) {
    const join_ctx *c = gids_node_ctx(node);
    for (int i = 0; i < c->n; i++) {
        if (!gids_node_needs_grad(node, i)) continue;
        ag_scope s = AG_SCOPE;
        gids_tensor *r = NULL;
        AG_RUN(&s, r, gids_select(&r, grad_out[0], c->dim, i));
        ag_give(&s, node, i, r, grad_in);
        GIDS_TRY(ag_finish(&s, NULL, NULL));
    }
    return GIDS_OK;
}

gids_status gids_ag_stack(gids_tensor **out, int n, const gids_tensor *const *ts, int dim) {
    GIDS_TRY(gids_stack(out, n, ts, dim));
    if (!gids_ag_should_record(n, ts)) return GIDS_OK;
    int d = 0;
    gids_status st = gids_normalize_dim("stack", dim, (*out)->ndim, &d);
    if (st == GIDS_OK) st = record_("StackBackward", stack_backward_, n, ts, 1, out, d, n, NULL);
    return ag_done(out, "stack", st);
}

/* ---------------------------------------------------------------- split */

static gids_status split_backward_(gids_node *node, gids_tensor *const *grad_out,
                                   gids_tensor **grad_in) {
    const join_ctx *c = gids_node_ctx(node);
    gids_dtype dt = gids_node_input_dtype(node, 0);
    for (int k = 0; k < c->n; k++)
        if (grad_out[k] != NULL) dt = grad_out[k]->dtype;
    ag_scope s = AG_SCOPE;
    gids_tensor *z = ag_input_zeros(&s, node, 0, dt);
    int64_t at = 0;
    for (int k = 0; k < c->n && s.st == GIDS_OK; k++) {
        if (grad_out[k] != NULL) {
            gids_tensor *part = NULL;
            s.st = gids_narrow(&part, z, c->dim, at, c->sizes[k]);
            if (s.st == GIDS_OK) s.st = gids_copy_(part, grad_out[k]);
            gids_tensor_release(part);
        }
        at += c->sizes[k];
    }
    ag_give(&s, node, 0, z, grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_split(gids_tensor **outs, int n, const gids_tensor *t, const int64_t *sizes,
                          int dim) {
    GIDS_TRY(gids_split(outs, n, t, sizes, dim));
    if (!gids_ag_should_record(1, &t)) return GIDS_OK;
    int d = 0;
    gids_status st = gids_normalize_dim("split", dim, t->ndim, &d);
    if (st == GIDS_OK) st = record_("SplitBackward", split_backward_, 1, &t, n, outs, d, n, sizes);
    for (int k = 0; k < n && st == GIDS_OK && gids_anomaly_enabled(); k++)
        st = gids_ag_check_nan("split", "its result", outs[k]);
    if (st != GIDS_OK)
        for (int k = 0; k < n; k++) {
            gids_tensor_release(outs[k]);
            outs[k] = NULL;
        }
    return st;
}
