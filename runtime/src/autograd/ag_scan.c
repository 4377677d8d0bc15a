/* ag_scan.c -- differentiable ops along one dim: max_dim/min_dim, softmax, log_softmax,
 * cumsum, cumprod.
 *
 * max_dim/min_dim: only the values are differentiable; their gradient goes to the position the
 * indices output names (the first extreme, as the forward picks it), and the indices are the
 * plain op's, never requiring grad.  cumsum's gradient is the reversed cumulative sum;
 * cumprod's is torch's formula, exact with zeros in the input.
 */
#include "formula_impl.h"
#include "gids/backend.h"

typedef struct {
    int dim; /* normalised against the input */
    bool keepdim;
} dim_ctx;

/* Backward of a 0-d input or of a dim of size <= 1: the gradient passes unchanged. */
static bool trivial_(const gids_node *n, int dim) {
    int nd;
    const int64_t *shape;
    gids_node_input_shape(n, 0, &nd, &shape);
    return nd == 0 || shape[dim] <= 1;
}

/* Records `name` for *out = op(a) along dim, saving save0 and save1 in slots 0 and 1. */
static gids_status record_(gids_tensor **out, const gids_tensor *a, const char *name,
                           const char *op, gids_backward_fn fn, int dim, bool keepdim,
                           const gids_tensor *save0, const gids_tensor *save1) {
    dim_ctx c = {0, keepdim};
    gids_status st = gids_normalize_dim(op, dim, a->ndim, &c.dim);
    if (st != GIDS_OK) return ag_drop(st, 1, out);
    ag_node_spec r = {
        .name = name, .op = op, .fn = fn, .ctx = &c, .ctx_size = sizeof c, .save = {save0, save1}};
    return ag_record(&r, 1, &a, 1, out);
}

/* ---------------------------------------------------------------- max_dim, min_dim */
/* Saved: the indices in slot 0.  The gradient is scattered into zeros at those positions. */
static gids_status extreme_backward_(gids_node *n, gids_tensor *const *grad_out,
                                     gids_tensor **grad_in) {
    const dim_ctx *c = gids_node_ctx(n);
    const gids_tensor *g = grad_out[0];
    int nd;
    const int64_t *shape;
    gids_node_input_shape(n, 0, &nd, &shape);
    ag_scope s = AG_SCOPE;
    const gids_tensor *idx = ag_saved(&s, n, 0);
    gids_tensor *r = (gids_tensor *)g; /* a 0-d input is its own extreme */
    if (nd > 0) {
        int64_t keep[GIDS_MAX_DIMS];
        for (int d = 0; d < nd; d++) keep[d] = d == c->dim ? 1 : shape[d];
        gids_tensor *gk = ag_reshape(&s, g, nd, keep), *ik = ag_reshape(&s, idx, nd, keep);
        gids_tensor *z = ag_input_zeros(&s, n, 0, g);
        AG_RUN(&s, r, gids_scatter(&r, z, c->dim, ik, gk));
    }
    ag_give(&s, n, 0, r, grad_in);
    return ag_finish(&s, NULL, NULL);
}

static gids_status extreme_(gids_tensor **values, gids_tensor **indices, const gids_tensor *a,
                            int dim, bool keepdim, bool is_max) {
    gids_status (*plain)(gids_tensor **, gids_tensor **, const gids_tensor *, int, bool) =
        is_max ? gids_max_dim : gids_min_dim;
    if (values == NULL || !gids_ag_should_record(1, &a))
        return plain(values, indices, a, dim, keepdim);
    gids_tensor *idx = NULL;
    GIDS_TRY(plain(values, &idx, a, dim, keepdim));
    gids_status st = record_(values, a, is_max ? "MaxBackward" : "MinBackward",
                             is_max ? "max" : "min", extreme_backward_, dim, keepdim, idx, NULL);
    return ag_side_result(st, idx, indices);
}

gids_status gids_ag_max_dim(gids_tensor **values, gids_tensor **indices, const gids_tensor *a,
                            int dim, bool keepdim) {
    return extreme_(values, indices, a, dim, keepdim, true);
}

gids_status gids_ag_min_dim(gids_tensor **values, gids_tensor **indices, const gids_tensor *a,
                            int dim, bool keepdim) {
    return extreme_(values, indices, a, dim, keepdim, false);
}

/* ---------------------------------------------------------------- softmax, log_softmax */
/* Saved: the result y in slot 0.  softmax: y (g - sum(g y)); log_softmax: g - exp(y) sum(g),
 * one op (gids_softmax_backward: on the CPU the composed form's bits where exp is libm's). */
static gids_status softmax_backward_(gids_node *n, gids_tensor *const *grad_out,
                                     gids_tensor **grad_in, bool log) {
    const dim_ctx *c = gids_node_ctx(n);
    ag_scope s = AG_SCOPE;
    const gids_tensor *y = ag_saved(&s, n, 0);
    if (s.st != GIDS_OK || grad_out[0] == NULL) return ag_finish(&s, NULL, NULL);
    gids_tensor *r = NULL;
    gids_status st = gids_softmax_backward(&r, grad_out[0], y, c->dim, log);
    ag_give(&s, n, 0, ag_own(&s, st, r), grad_in);
    return ag_finish(&s, NULL, NULL);
}

static gids_status softmax_bw_(gids_node *n, gids_tensor *const *grad_out, gids_tensor **grad_in) {
    return softmax_backward_(n, grad_out, grad_in, false);
}

static gids_status log_softmax_bw_(gids_node *n, gids_tensor *const *grad_out,
                                   gids_tensor **grad_in) {
    return softmax_backward_(n, grad_out, grad_in, true);
}

gids_status gids_ag_softmax(gids_tensor **out, const gids_tensor *a, int dim) {
    GIDS_TRY(gids_softmax(out, a, dim));
    if (!gids_ag_should_record(1, &a)) return GIDS_OK;
    return record_(out, a, "SoftmaxBackward", "softmax", softmax_bw_, dim, false, *out, NULL);
}

gids_status gids_ag_log_softmax(gids_tensor **out, const gids_tensor *a, int dim) {
    GIDS_TRY(gids_log_softmax(out, a, dim));
    if (!gids_ag_should_record(1, &a)) return GIDS_OK;
    return record_(out, a, "LogSoftmaxBackward", "log_softmax", log_softmax_bw_, dim, false, *out,
                   NULL);
}

/* ---------------------------------------------------------------- cumsum, cumprod */
/* t reversed along dim (index_select with n-1, ..., 0). */
static gids_tensor *flip_(ag_scope *s, const gids_tensor *t, int dim, const gids_tensor *rev) {
    gids_tensor *r = NULL;
    if (s->st != GIDS_OK || t == NULL || rev == NULL) return NULL;
    gids_status st = gids_index_select(&r, t, dim, rev);
    return ag_own(s, st, r);
}

/* The positions n-1, ..., 0 along dim of input 0, on the device of `like` (the gradient they
 * index: index_select takes its index on the data's device). */
static gids_tensor *reversed_positions_(ag_scope *s, const gids_node *n, int dim,
                                        const gids_tensor *like) {
    int nd;
    const int64_t *shape;
    gids_node_input_shape(n, 0, &nd, &shape);
    gids_tensor *r = NULL, *moved = NULL;
    if (s->st != GIDS_OK || like == NULL) return NULL;
    gids_status st = gids_arange(&r, GIDS_I64, gids_scalar_i(shape[dim] - 1), gids_scalar_i(-1),
                                 gids_scalar_i(-1));
    if (st != GIDS_OK || gids_is_cpu(like)) return ag_own(s, st, r);
    st = gids_to_device(&moved, r, gids_tensor_device(like));
    gids_tensor_release(r);
    return ag_own(s, st, moved);
}

static gids_tensor *ag_cumsum_(ag_scope *s, const gids_tensor *t, int dim) {
    gids_tensor *r = NULL;
    if (s->st != GIDS_OK || t == NULL) return NULL;
    gids_status st = gids_cumsum(&r, t, dim);
    return ag_own(s, st, r);
}

static gids_tensor *ag_cumprod_(ag_scope *s, const gids_tensor *t, int dim) {
    gids_tensor *r = NULL;
    if (s->st != GIDS_OK || t == NULL) return NULL;
    gids_status st = gids_cumprod(&r, t, dim);
    return ag_own(s, st, r);
}

/* sum over k >= i of t_k along dim: the transpose of cumsum. */
static gids_tensor *rev_cumsum_(ag_scope *s, const gids_tensor *t, int dim,
                                const gids_tensor *rev) {
    return flip_(s, ag_cumsum_(s, flip_(s, t, dim, rev), dim), dim, rev);
}

static gids_status cumsum_backward_(gids_node *n, gids_tensor *const *grad_out,
                                    gids_tensor **grad_in) {
    const dim_ctx *c = gids_node_ctx(n);
    ag_scope s = AG_SCOPE;
    gids_tensor *r = grad_out[0];
    if (!trivial_(n, c->dim)) r = rev_cumsum_(&s, r, c->dim, reversed_positions_(&s, n, c->dim, r));
    ag_give(&s, n, 0, r, grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_cumsum(gids_tensor **out, const gids_tensor *a, int dim) {
    GIDS_TRY(gids_cumsum(out, a, dim));
    if (!gids_ag_should_record(1, &a)) return GIDS_OK;
    return record_(out, a, "CumsumBackward", "cumsum", cumsum_backward_, dim, false, NULL, NULL);
}

/* Saved: the input x in slot 0, the result y in slot 1.  Along the dim, with z the position of
 * the first zero of x (the end when there is none):
 *   i < z:  d/dx_i = sum_{k >= i} g_k y_k / x_i   (y_k = 0 from z on, so only k < z count)
 *   i = z:  d/dx_i = sum_{k >= z} g_k prod_{j <= k, j != z} x_j   (cumprod of x with x_z = 1)
 *   i > z:  0 (every product still holds x_z = 0).
 * Without zeros only the first line applies: the reversed cumsum of g y divided by x. */
static gids_tensor *cumprod_grad_(ag_scope *s, const gids_tensor *g, const gids_tensor *x,
                                  const gids_tensor *y, int dim, const gids_tensor *rev) {
    gids_tensor *wsum = rev_cumsum_(s, ag_bin(s, GIDS_MUL, g, y), dim, rev);
    gids_tensor *zero = ag_bins(s, GIDS_EQ, x, 0.0),
                *any = ag_red(s, GIDS_ANY, zero, 0, NULL, false);
    double has_zero = 0;
    if (AG_OK(s, any)) s->st = gids_tensor_get(any, 0, &has_zero); /* any device */
    if (s->st != GIDS_OK) return NULL;
    if (has_zero == 0) return ag_bin(s, GIDS_DIV, wsum, x);

    gids_tensor *seen = ag_cumsum_(s, zero, dim); /* zeros at or before each position */
    gids_tensor *before = ag_bins(s, GIDS_EQ, seen, 0.0);
    gids_tensor *first = ag_bin(s, GIDS_LOGICAL_AND, zero, ag_bins(s, GIDS_EQ, seen, 1.0));
    gids_tensor *one = ag_scalar(s, 1.0, x);
    gids_tensor *lead = ag_mask(s, before, ag_bin(s, GIDS_DIV, wsum, ag_where(s, before, x, one)));
    gids_tensor *skip = ag_cumprod_(s, ag_where(s, first, one, x), dim);
    gids_tensor *at_zero = rev_cumsum_(s, ag_bin(s, GIDS_MUL, g, skip), dim, rev);
    return ag_where(s, first, at_zero, lead);
}

static gids_status cumprod_backward_(gids_node *n, gids_tensor *const *grad_out,
                                     gids_tensor **grad_in) {
    const dim_ctx *c = gids_node_ctx(n);
    ag_scope s = AG_SCOPE;
    gids_tensor *r = grad_out[0];
    if (!trivial_(n, c->dim)) {
        const gids_tensor *x = ag_saved(&s, n, 0), *y = ag_saved(&s, n, 1);
        r = cumprod_grad_(&s, r, x, y, c->dim, reversed_positions_(&s, n, c->dim, r));
    }
    ag_give(&s, n, 0, r, grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_cumprod(gids_tensor **out, const gids_tensor *a, int dim) {
    GIDS_TRY(gids_cumprod(out, a, dim));
    if (!gids_ag_should_record(1, &a)) return GIDS_OK;
    return record_(out, a, "CumprodBackward", "cumprod", cumprod_backward_, dim, false, a, *out);
}
