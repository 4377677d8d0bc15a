/* ag_norm.c -- differentiable layer normalisation.
 *
 * The forward (cpu/layer_norm.c) saves x, the weight and the row statistics; with xhat =
 * (x - mean) rstd and gw = g w, the gradients are torch's:
 *   dx = rstd (gw - mean(gw) - xhat mean(gw xhat))   (means over the normalised dims)
 *   dweight = sum of g xhat over the other dims,  dbias = sum of g  (ag_give sums them down)
 */
#include "formula_impl.h"

typedef struct {
    int ndims;       /* normalised dims: the last ndims of x */
    bool has_weight; /* saved in slot 1 */
} ln_ctx;

static gids_status ln_backward_(gids_node *n, gids_tensor *const *grad_out, gids_tensor **grad_in) {
    const ln_ctx *c = gids_node_ctx(n);
    const gids_tensor *g = grad_out[0];
    ag_scope s = AG_SCOPE;
    const gids_tensor *x = ag_saved(&s, n, 0), *mean = ag_saved(&s, n, 2),
                      *rstd = ag_saved(&s, n, 3);
    const gids_tensor *w = c->has_weight ? ag_saved(&s, n, 1) : NULL;
    gids_tensor *xhat = ag_bin(&s, GIDS_MUL, ag_bin(&s, GIDS_SUB, x, mean), rstd);
    if (gids_node_needs_grad(n, 0) && x != NULL) {
        int dims[GIDS_MAX_DIMS];
        for (int k = 0; k < c->ndims; k++) dims[k] = x->ndim - c->ndims + k;
        const gids_tensor *gw = w != NULL ? ag_bin(&s, GIDS_MUL, g, w) : g;
        gids_tensor *m1 = ag_red(&s, GIDS_MEAN, gw, c->ndims, dims, true);
        gids_tensor *m2 =
            ag_red(&s, GIDS_MEAN, ag_bin(&s, GIDS_MUL, gw, xhat), c->ndims, dims, true);
        gids_tensor *inner =
            ag_bin(&s, GIDS_SUB, ag_bin(&s, GIDS_SUB, gw, m1), ag_bin(&s, GIDS_MUL, xhat, m2));
        ag_give(&s, n, 0, ag_bin(&s, GIDS_MUL, inner, rstd), grad_in);
    }
    if (gids_node_needs_grad(n, 1)) ag_give(&s, n, 1, ag_bin(&s, GIDS_MUL, g, xhat), grad_in);
    if (gids_node_needs_grad(n, 2)) ag_give(&s, n, 2, g, grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_layer_norm(gids_tensor **out, const gids_tensor *x, int ndims,
                               const gids_tensor *weight, const gids_tensor *bias, double eps) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "layer_norm: out is NULL");
    const gids_tensor *ins[3] = {x, weight, bias};
    if (!gids_ag_should_record(3, ins))
        return gids_layer_norm(out, NULL, NULL, x, ndims, weight, bias, eps);
    gids_tensor *mean = NULL, *rstd = NULL;
    GIDS_TRY(gids_layer_norm(out, &mean, &rstd, x, ndims, weight, bias, eps));
    ln_ctx c = {ndims, weight != NULL};
    ag_node_spec r = {.name = "NativeLayerNormBackward",
                      .op = "layer_norm",
                      .fn = ln_backward_,
                      .ctx = &c,
                      .ctx_size = sizeof c,
                      .save = {x, weight, mean, rstd}};
    gids_status st = ag_record(&r, 3, ins, 1, out);
    gids_tensor_release(mean), gids_tensor_release(rstd);
    return st;
}
