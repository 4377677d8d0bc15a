/* ag_join.c -- differentiable cat, stack and split.
 *
 * cat and stack hand each input its slice of the gradient (a view of it: narrow for cat, select
 * for stack), skipping inputs that need none.  split is one node with an output per piece; the
 * pieces the loss never reached have no gradient, so their part of the input's gradient stays
 * zero.
 */
#include <stdlib.h>
#include <string.h>

#include "formula_impl.h"

typedef struct {
    int dim, n;      /* dim normalised against the result (cat, stack) or the input (split) */
    int64_t sizes[]; /* cat: size of each input along dim (-1: a skipped empty placeholder);
                      * split: the sizes of the pieces */
} join_ctx;

/* *out <- NEW (free()) join_ctx of n sizes, copied from `sizes` when given; *size <- its size
 * in bytes. */
static gids_status ctx_new_(join_ctx **out, size_t *size, const char *op, int n,
                            const int64_t *sizes) {
    *size = sizeof(join_ctx) + (size_t)n * sizeof(int64_t);
    *out = calloc(1, *size);
    if (*out == NULL) GIDS_FAIL(GIDS_ENOMEM, "%s: out of memory for %d sizes", op, n);
    (*out)->n = n;
    if (sizes != NULL) memcpy((*out)->sizes, sizes, (size_t)n * sizeof(int64_t));
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
            r = ag_input_zeros(&s, node, i, g);
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
    join_ctx *c = NULL;
    size_t size = 0;
    gids_status st = ctx_new_(&c, &size, "cat", n, NULL);
    if (st == GIDS_OK) st = gids_normalize_dim("cat", dim, (*out)->ndim, &c->dim);
    for (int i = 0; st == GIDS_OK && i < n; i++) {
        /* the 1-D empty placeholders cat skips may have any other rank than the result */
        bool skipped = ts[i]->ndim == 1 && ts[i]->shape[0] == 0 && (*out)->ndim != 1;
        c->sizes[i] = skipped ? -1 : ts[i]->shape[c->dim];
    }
    ag_node_spec r = {
        .name = "CatBackward", .op = "cat", .fn = cat_backward_, .ctx = c, .ctx_size = size};
    st = st == GIDS_OK ? ag_record(&r, n, ts, 1, out) : ag_drop(st, 1, out);
    free(c);
    return st;
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
    join_ctx c = {.n = n};
    gids_status st = gids_normalize_dim("stack", dim, (*out)->ndim, &c.dim);
    if (st != GIDS_OK) return ag_drop(st, 1, out);
    ag_node_spec r = {.name = "StackBackward",
                      .op = "stack",
                      .fn = stack_backward_,
                      .ctx = &c,
                      .ctx_size = sizeof c};
    return ag_record(&r, n, ts, 1, out);
}

/* ---------------------------------------------------------------- split */

static gids_status split_backward_(gids_node *node, gids_tensor *const *grad_out,
                                   gids_tensor **grad_in) {
    const join_ctx *c = gids_node_ctx(node);
    const gids_tensor *like = NULL; /* the engine runs a formula only when some output has one */
    for (int k = 0; k < c->n; k++)
        if (grad_out[k] != NULL) like = grad_out[k];
    ag_scope s = AG_SCOPE;
    gids_tensor *z = ag_input_zeros(&s, node, 0, like);
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
    if (!gids_ag_should_record(1, &t)) {
        /* views of t: marked as no_grad views where they are such (chunk, split) */
        gids_status st = GIDS_OK;
        for (int i = 0; i < n && st == GIDS_OK; i++) st = gids_ag_note_unrecorded_view(outs[i], t);
        return st == GIDS_OK ? GIDS_OK : ag_drop(st, n, outs);
    }
    join_ctx *c = NULL;
    size_t size = 0;
    gids_status st = ctx_new_(&c, &size, "split", n, sizes);
    if (st == GIDS_OK) st = gids_normalize_dim("split", dim, t->ndim, &c->dim);
    ag_node_spec r = {
        .name = "SplitBackward", .op = "split", .fn = split_backward_, .ctx = c, .ctx_size = size};
    st = st == GIDS_OK ? ag_record(&r, 1, &t, n, outs) : ag_drop(st, n, outs);
    free(c);
    return st;
}
