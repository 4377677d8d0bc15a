/* ag_linalg.c -- differentiable matmul, mm, bmm and addmm.
 *
 * For c = a @ b the gradients are g @ b^T and a^T @ g.  matmul's special cases are reduced to
 * the batched one: a 1-D left operand is a row [1,k], a 1-D right operand a column [k,1], and
 * the gradient gets the unit dims its result dropped; the gradients are then summed over the
 * batch dims that broadcasting added or expanded (gids_ag_input_grad) and the unit dims dropped
 * again.  Each operand is saved only when the other one needs a gradient.
 */
#include "formula_impl.h"

typedef struct {
    int first;          /* input number of a (1 for addmm, whose input 0 is the bias) */
    double alpha, beta; /* addmm's scales; alpha 1 for the others */
} mm_ctx;

/* g @ b^T and a^T @ g for c = a @ b with matmul's rules (a or b NULL: that product is not
 * wanted).  ar/br are the operands' ranks; the results carry batch dims still to be summed. */
static void products_(ag_scope *s, const gids_tensor *g, const gids_tensor *a, const gids_tensor *b,
                      int ar, int br, gids_tensor **ga, gids_tensor **gb) {
    gids_tensor *g1 = (gids_tensor *)g, *t = NULL;
    if (br == 1) AG_RUN(s, g1, gids_unsqueeze(&g1, g, g->ndim));
    if (ar == 1) {
        gids_tensor *h = g1;
        AG_RUN(s, g1, gids_unsqueeze(&g1, h, h != NULL ? h->ndim - 1 : 0));
    }
    if (b != NULL) { /* ga = g1 @ b1^T, with b1 = b as a column when 1-D */
        gids_tensor *b1 = (gids_tensor *)b, *bt = NULL, *p = NULL;
        if (br == 1) AG_RUN(s, b1, gids_unsqueeze(&b1, b, 1));
        AG_RUN(s, bt, gids_transpose(&bt, b1, -1, -2));
        AG_RUN(s, p, gids_matmul(&p, g1, bt));
        if (ar == 1) AG_RUN(s, t, gids_squeeze(&t, p, -2)); /* the row dim it was given */
        *ga = ar == 1 ? t : p;
    }
    if (a != NULL) { /* gb = a1^T @ g1, with a1 = a as a row when 1-D */
        gids_tensor *a1 = (gids_tensor *)a, *at = NULL, *p = NULL;
        if (ar == 1) AG_RUN(s, a1, gids_unsqueeze(&a1, a, 0));
        AG_RUN(s, at, gids_transpose(&at, a1, -1, -2));
        AG_RUN(s, p, gids_matmul(&p, at, g1));
        if (br == 1) AG_RUN(s, t, gids_squeeze(&t, p, -1)); /* the column dim it was given */
        *gb = br == 1 ? t : p;
    }
}

/* Saved: 0 = a (when b needs a gradient), 1 = b (when a does). */
static gids_status mm_backward_(gids_node *n, gids_tensor *const *grad_out, gids_tensor **grad_in) {
    const mm_ctx *c = gids_node_ctx(n);
    const gids_tensor *g = grad_out[0];
    int ia = c->first, ib = c->first + 1, ar = 0, br = 0;
    const int64_t *shape = NULL;
    gids_node_input_shape(n, ia, &ar, &shape);
    gids_node_input_shape(n, ib, &br, &shape);
    bool need_a = gids_node_needs_grad(n, ia), need_b = gids_node_needs_grad(n, ib);
    ag_scope s = AG_SCOPE;
    const gids_tensor *a = need_b ? ag_saved(&s, n, 0) : NULL;
    const gids_tensor *b = need_a ? ag_saved(&s, n, 1) : NULL;
    gids_tensor *ga = NULL, *gb = NULL;
    products_(&s, g, a, b, ar, br, &ga, &gb);
    if (c->alpha != 1.0) {
        if (ga != NULL) ga = ag_bins(&s, GIDS_MUL, ga, c->alpha);
        if (gb != NULL) gb = ag_bins(&s, GIDS_MUL, gb, c->alpha);
    }
    ag_give(&s, n, ia, ga, grad_in);
    ag_give(&s, n, ib, gb, grad_in);
    if (c->first == 1 && gids_node_needs_grad(n, 0)) /* addmm's bias: beta * g, summed down */
        ag_give(&s, n, 0, c->beta == 1.0 ? g : ag_bins(&s, GIDS_MUL, g, c->beta), grad_in);
    return ag_finish(&s, NULL, NULL);
}

/* ins = {a, b} or {bias, a, b} (addmm); out is the plain op's result. */
static gids_status record_(gids_tensor **out, const char *op, const char *name, int nin,
                           const gids_tensor *const *ins, double alpha, double beta) {
    if (!gids_ag_should_record(nin, ins)) return GIDS_OK;
    mm_ctx c = {nin - 2, alpha, beta};
    const gids_tensor *a = ins[nin - 2], *b = ins[nin - 1];
    ag_node_spec r = {.name = name,
                      .op = op,
                      .fn = mm_backward_,
                      .ctx = &c,
                      .ctx_size = sizeof c,
                      .save = {gids_requires_grad(b) ? a : NULL, gids_requires_grad(a) ? b : NULL}};
    return ag_record(&r, nin, ins, 1, out);
}

gids_status gids_ag_matmul(gids_tensor **out, const gids_tensor *a, const gids_tensor *b) {
    GIDS_TRY(gids_matmul(out, a, b));
    const gids_tensor *ins[2] = {a, b};
    return record_(out, "matmul", "MatmulBackward", 2, ins, 1.0, 0.0);
}

gids_status gids_ag_mm(gids_tensor **out, const gids_tensor *a, const gids_tensor *b) {
    GIDS_TRY(gids_mm(out, a, b));
    const gids_tensor *ins[2] = {a, b};
    return record_(out, "mm", "MmBackward", 2, ins, 1.0, 0.0);
}

gids_status gids_ag_bmm(gids_tensor **out, const gids_tensor *a, const gids_tensor *b) {
    GIDS_TRY(gids_bmm(out, a, b));
    const gids_tensor *ins[2] = {a, b};
    return record_(out, "bmm", "BmmBackward", 2, ins, 1.0, 0.0);
}

gids_status gids_ag_addmm(gids_tensor **out, const gids_tensor *bias, const gids_tensor *a,
                          const gids_tensor *b, double beta, double alpha) {
    GIDS_TRY(gids_addmm(out, bias, a, b, beta, alpha));
    const gids_tensor *ins[3] = {bias, a, b};
    return record_(out, "addmm", "AddmmBackward", 3, ins, alpha, beta);
}
