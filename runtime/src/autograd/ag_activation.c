/* ag_activation.c -- differentiable parameterised activations: leaky_relu, elu, softplus,
 * clamp, where.
 *
 * Conventions at the kinks are torch's: leaky_relu and elu take the negative side at x = 0,
 * clamp passes the gradient where min < x < max (strictly inside: torch 2.15's), softplus is
 * exactly linear where beta * x exceeds the threshold.  where's condition is never differentiable.
 */
#include "formula_impl.h"

typedef enum { ACT_LEAKY_RELU, ACT_ELU, ACT_SOFTPLUS, ACT_CLAMP } act_kind;

typedef struct {
    act_kind kind;
    double p0, p1;         /* slope / alpha / beta, threshold; clamp: min, max */
    bool has_min, has_max; /* clamp */
} act_ctx;

/* d act(x)/dx * g for the input x (saved in slot 0). */
static gids_tensor *act_formula_(ag_scope *s, const act_ctx *c, const gids_tensor *g,
                                 const gids_tensor *x) {
    switch (c->kind) {
    case ACT_LEAKY_RELU:
        return ag_where(s, ag_bins(s, GIDS_GT, x, 0.0), g, ag_bins(s, GIDS_MUL, g, c->p0));
    case ACT_ELU: /* alpha exp(x) on the negative side */
        return ag_where(s, ag_bins(s, GIDS_GT, x, 0.0), g,
                        ag_bin(s, GIDS_MUL, g, ag_bins(s, GIDS_MUL, ag_un(s, GIDS_EXP, x), c->p0)));
    case ACT_SOFTPLUS: { /* sigmoid(beta x) */
        gids_tensor *bx = ag_bins(s, GIDS_MUL, x, c->p0);
        return ag_where(s, ag_bins(s, GIDS_GT, bx, c->p1), g,
                        ag_bin(s, GIDS_MUL, g, ag_un(s, GIDS_SIGMOID, bx)));
    }
    case ACT_CLAMP: {
        gids_tensor *in = NULL;
        /* strictly inside the bounds (torch 2.15): an input at a bound gets no gradient */
        if (c->has_min) in = ag_bins(s, GIDS_GT, x, c->p0);
        if (c->has_max) {
            gids_tensor *le = ag_bins(s, GIDS_LT, x, c->p1);
            in = in != NULL ? ag_bin(s, GIDS_LOGICAL_AND, in, le) : le;
        }
        return ag_mask(s, in, g);
    }
    }
    return NULL;
}

static gids_status act_backward_(gids_node *n, gids_tensor *const *grad_out,
                                 gids_tensor **grad_in) {
    const act_ctx *c = gids_node_ctx(n);
    ag_scope s = AG_SCOPE;
    const gids_tensor *x = ag_saved(&s, n, 0);
    ag_give(&s, n, 0, act_formula_(&s, c, grad_out[0], x), grad_in);
    return ag_finish(&s, NULL, NULL);
}

/* Records the node of out = act(a) when a requires grad; st is the plain op's status. */
static gids_status act_record_(gids_tensor **out, const gids_tensor *a, const char *name,
                               const char *op, const act_ctx *c, gids_status st) {
    if (st != GIDS_OK || !gids_ag_should_record(1, &a)) return st;
    ag_node_spec r = {
        .name = name, .op = op, .fn = act_backward_, .ctx = c, .ctx_size = sizeof *c, .save = {a}};
    return ag_record(&r, 1, &a, 1, out);
}

gids_status gids_ag_leaky_relu(gids_tensor **out, const gids_tensor *a, double negative_slope) {
    act_ctx c = {.kind = ACT_LEAKY_RELU, .p0 = negative_slope};
    gids_status st = gids_leaky_relu(out, a, negative_slope);
    return act_record_(out, a, "LeakyReluBackward", "leaky_relu", &c, st);
}

gids_status gids_ag_elu(gids_tensor **out, const gids_tensor *a, double alpha) {
    act_ctx c = {.kind = ACT_ELU, .p0 = alpha};
    gids_status st = gids_elu(out, a, alpha);
    return act_record_(out, a, "EluBackward", "elu", &c, st);
}

gids_status gids_ag_softplus(gids_tensor **out, const gids_tensor *a, double beta,
                             double threshold) {
    act_ctx c = {.kind = ACT_SOFTPLUS, .p0 = beta, .p1 = threshold};
    gids_status st = gids_softplus(out, a, beta, threshold);
    return act_record_(out, a, "SoftplusBackward", "softplus", &c, st);
}

static double scalar_value_(const gids_scalar *v) {
    return v->is_int ? (double)v->i : v->f;
}

gids_status gids_ag_clamp(gids_tensor **out, const gids_tensor *a, const gids_scalar *min,
                          const gids_scalar *max) {
    act_ctx c = {.kind = ACT_CLAMP, .has_min = min != NULL, .has_max = max != NULL};
    if (min != NULL) c.p0 = scalar_value_(min);
    if (max != NULL) c.p1 = scalar_value_(max);
    gids_status st = gids_clamp(out, a, min, max);
    return act_record_(out, a, "ClampBackward", "clamp", &c, st);
}

/* ---------------------------------------------------------------- where */
/* Inputs 0 = a, 1 = b; the condition, never differentiable, is saved in slot 0.  Each
 * gradient is g where its side was chosen, summed down to that side's shape (the condition may
 * have broadcast both). */
static gids_status where_backward_(gids_node *n, gids_tensor *const *grad_out,
                                   gids_tensor **grad_in) {
    const gids_tensor *g = grad_out[0];
    ag_scope s = AG_SCOPE;
    const gids_tensor *cond = ag_saved(&s, n, 0);
    gids_tensor *zero = ag_scalar(&s, 0.0, g);
    if (gids_node_needs_grad(n, 0)) ag_give(&s, n, 0, ag_where(&s, cond, g, zero), grad_in);
    if (gids_node_needs_grad(n, 1)) ag_give(&s, n, 1, ag_where(&s, cond, zero, g), grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_where(gids_tensor **out, const gids_tensor *cond, const gids_tensor *a,
                          const gids_tensor *b) {
    GIDS_TRY(gids_where(out, cond, a, b));
    const gids_tensor *ins[2] = {a, b};
    if (!gids_ag_should_record(2, ins)) return GIDS_OK;
    ag_node_spec r = {
        .name = "WhereBackward", .op = "where", .fn = where_backward_, .save = {cond}};
    return ag_record(&r, 2, ins, 1, out);
}
