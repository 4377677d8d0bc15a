/* ag_reduce.c -- differentiable reductions over dim lists: sum, mean, prod, amax, amin,
 * logsumexp, var, std, norm.
 *
 * Every formula first views the output gradient (and, where needed, the output) with the
 * reduced dims kept as size 1, so that it broadcasts against the input; with keepdim false
 * this is the unsqueeze torch does.  The conventions are torch's: amax/amin split the gradient
 * evenly among tied extremes (max()/min() of every element also among NaNs when the result is
 * NaN), prod is exact with zeros in the input (no division by zero), std
 * and the 2-norm give a zero gradient where their value is 0, the 0-"norm" (a count) has a
 * zero gradient.  any/all give bool results and record nothing.
 */
#include <math.h>

#include "formula_impl.h"

typedef enum { RED_OP, RED_VAR, RED_STD, RED_NORM, RED_ALL_EXTREME } red_kind;

typedef struct {
    red_kind kind;
    gids_redop op;      /* RED_OP; RED_ALL_EXTREME: GIDS_AMAX or GIDS_AMIN */
    uint32_t mask;      /* the reduced dims of the input */
    int64_t correction; /* var, std */
    double p;           /* norm */
} red_ctx;

enum { SAVE_X = 0, SAVE_Y = 1 }; /* slots: the input, the result */

static const char *const redop_backward_[GIDS_NREDOPS] = {
    [GIDS_SUM] = "SumBackward",   [GIDS_MEAN] = "MeanBackward",
    [GIDS_PROD] = "ProdBackward", [GIDS_AMAX] = "AmaxBackward",
    [GIDS_AMIN] = "AminBackward", [GIDS_LOGSUMEXP] = "LogsumexpBackward",
};

/* The reduced dims as a bit mask (ndims == 0: all of them).  The plain op has already checked
 * the list, so this only normalises negative dims. */
static gids_status dim_mask_(const char *op, int ndim, int ndims, const int *dims, uint32_t *mask) {
    *mask = ndims == 0 ? (uint32_t)((1u << ndim) - 1u) : 0u;
    for (int i = 0; i < ndims; i++) {
        int d = 0;
        GIDS_TRY(gids_normalize_dim(op, dims[i], ndim, &d));
        if (d < ndim) *mask |= 1u << d; /* a 0-d input takes dim 0 and has nothing to reduce */
    }
    return GIDS_OK;
}

/* Facts about the input the formulas need: its shape, the shape with the reduced dims kept as
 * 1, the reduced dims as a list (empty for a 0-d input, which gids_reduce then reduces whole),
 * and the number of elements reduced into each output. */
typedef struct {
    int nd, nred;
    const int64_t *shape;
    int64_t keep[GIDS_MAX_DIMS];
    int dims[GIDS_MAX_DIMS];
    int64_t count;
} red_geom;

static void geom_(const gids_node *n, uint32_t mask, red_geom *r) {
    gids_node_input_shape(n, 0, &r->nd, &r->shape);
    r->nred = 0;
    r->count = 1;
    for (int d = 0; d < r->nd; d++) {
        bool red = (mask >> d) & 1u;
        r->keep[d] = red ? 1 : r->shape[d];
        if (red) {
            r->dims[r->nred++] = d;
            r->count *= r->shape[d];
        }
    }
}

/* t (the gradient or the result) with the reduced dims kept as size 1. */
static gids_tensor *keep_(ag_scope *s, const gids_tensor *t, const red_geom *r) {
    return ag_reshape(s, t, r->nd, r->keep);
}

static gids_tensor *sum_keep_(ag_scope *s, const gids_tensor *t, const red_geom *r) {
    return ag_red(s, GIDS_SUM, t, r->nred, r->dims, true);
}

/* The zero-safe gradient of prod: per reduced group with z zeros and P the product of its
 * non-zero elements, d/dx_j is P / x_j when z == 0, P at the zero when z == 1, 0 otherwise. */
static gids_tensor *prod_grad_(ag_scope *s, const gids_tensor *gk, const gids_tensor *x,
                               const red_geom *r) {
    gids_tensor *zero = ag_bins(s, GIDS_EQ, x, 0.0);
    gids_tensor *xs = ag_where(s, zero, ag_scalar(s, 1.0, x), x);
    gids_tensor *p = ag_red(s, GIDS_PROD, xs, r->nred, r->dims, true);
    gids_tensor *nz = ag_red(s, GIDS_SUM, zero, r->nred, r->dims, true);
    gids_tensor *only = ag_bin(s, GIDS_LOGICAL_AND, zero, ag_bins(s, GIDS_EQ, nz, 1.0));
    gids_tensor *d =
        ag_where(s, ag_bins(s, GIDS_EQ, nz, 0.0), ag_bin(s, GIDS_DIV, p, xs), ag_mask(s, only, p));
    return ag_bin(s, GIDS_MUL, gk, d);
}

/* amax/amin: the gradient shared evenly by the elements equal to the extreme, multiplied in as
 * torch does (g / ties * hit): a NaN extreme equals no element, so 0 ties make its whole slice
 * NaN, as in torch, where a mask would hide it as zeros. */
static gids_tensor *extreme_grad_(ag_scope *s, const gids_tensor *gk, const gids_tensor *x,
                                  const gids_tensor *yk, const red_geom *r) {
    gids_tensor *hit = ag_cast(s, ag_bin(s, GIDS_EQ, x, yk), gk->dtype);
    gids_tensor *ties = sum_keep_(s, hit, r);
    return ag_bin(s, GIDS_MUL, ag_bin(s, GIDS_DIV, gk, ties), hit);
}

/* max()/min() of every element, torch's evenly_distribute_backward: the gradient shared by the
 * elements equal to the result or, when the result is NaN, by the NaN elements (amax's rule
 * would make every element's gradient NaN there). */
static gids_tensor *all_extreme_grad_(ag_scope *s, const gids_tensor *gk, const gids_tensor *x,
                                      const gids_tensor *yk, const red_geom *r) {
    gids_tensor *both_nan =
        ag_bin(s, GIDS_LOGICAL_AND, ag_un(s, GIDS_ISNAN, x), ag_un(s, GIDS_ISNAN, yk));
    gids_tensor *hit = ag_bin(s, GIDS_LOGICAL_OR, ag_bin(s, GIDS_EQ, x, yk), both_nan);
    gids_tensor *ties = sum_keep_(s, ag_cast(s, hit, gk->dtype), r);
    return ag_mask(s, hit, ag_bin(s, GIDS_DIV, gk, ties));
}

static gids_tensor *redop_grad_(ag_scope *s, gids_redop op, const gids_tensor *gk,
                                const gids_tensor *x, const gids_tensor *yk, const red_geom *r) {
    switch (op) {
    case GIDS_SUM: return ag_expand(s, gk, r->nd, r->shape);
    case GIDS_MEAN:
        return ag_expand(s, ag_bins(s, GIDS_DIV, gk, (double)r->count), r->nd, r->shape);
    case GIDS_PROD: return prod_grad_(s, gk, x, r);
    case GIDS_AMAX:
    case GIDS_AMIN: return extreme_grad_(s, gk, x, yk, r);
    case GIDS_LOGSUMEXP:
        return ag_bin(s, GIDS_MUL, gk, ag_un(s, GIDS_EXP, ag_bin(s, GIDS_SUB, x, yk)));
    default: return NULL;
    }
}

/* var: 2 (x - mean) / dof; std: (x - mean) / (dof std), 0 where std is 0 (torch masks the
 * division there).  dof = max(0, n - correction), as the forward. */
static gids_tensor *var_grad_(ag_scope *s, bool is_std, int64_t correction, const gids_tensor *gk,
                              const gids_tensor *x, const gids_tensor *yk, const red_geom *r) {
    int64_t dof = r->count - correction > 0 ? r->count - correction : 0;
    double scale = dof > 0 ? 1.0 / (double)dof : INFINITY;
    gids_tensor *dev = ag_bin(s, GIDS_SUB, x, ag_red(s, GIDS_MEAN, x, r->nred, r->dims, true));
    gids_tensor *gs = (gids_tensor *)gk;
    if (is_std) {
        gids_tensor *zero = ag_bins(s, GIDS_EQ, yk, 0.0);
        gs = ag_where(s, zero, ag_scalar(s, 0.0, gk), ag_bin(s, GIDS_DIV, gk, yk));
    } else {
        scale *= 2.0;
    }
    return ag_bins(s, GIDS_MUL, ag_bin(s, GIDS_MUL, gs, dev), scale);
}

/* torch's norm_backward, case by case in p; nk is the norm with the reduced dims kept. */
static gids_tensor *norm_grad_(ag_scope *s, const gids_node *n, double p, const gids_tensor *gk,
                               const gids_tensor *x, const gids_tensor *nk, const red_geom *r) {
    if (p == 0) return ag_input_zeros(s, n, 0, gk); /* a count: constant almost everywhere */
    gids_tensor *sign = ag_un(s, GIDS_SIGN, x);
    if (p == 1) return ag_bin(s, GIDS_MUL, gk, sign);
    gids_tensor *zero = ag_scalar(s, 0.0, gk);
    gids_tensor *nzero = ag_bins(s, GIDS_EQ, nk, 0.0);
    if (p == 2)
        return ag_bin(s, GIDS_MUL, gk, ag_where(s, nzero, zero, ag_bin(s, GIDS_DIV, x, nk)));
    gids_tensor *ax = ag_un(s, GIDS_ABS, x);
    if (isinf(p)) { /* amax/amin of |x|; a NaN element counts as the extreme */
        gids_tensor *hit =
            ag_bin(s, GIDS_LOGICAL_OR, ag_bin(s, GIDS_EQ, ax, nk), ag_un(s, GIDS_ISNAN, ax));
        gids_tensor *ties = sum_keep_(s, ag_cast(s, hit, gk->dtype), r);
        return ag_bin(s, GIDS_MUL, sign, ag_mask(s, hit, ag_bin(s, GIDS_DIV, gk, ties)));
    }
    if (p < 1) { /* sgn(x) |x|^(p-1) (0 at x == 0) * g * norm^(1-p) */
        gids_tensor *xs = ag_where(s, ag_bins(s, GIDS_EQ, x, 0.0), zero,
                                   ag_bin(s, GIDS_MUL, sign, ag_bins(s, GIDS_POW, ax, p - 1)));
        return ag_bin(s, GIDS_MUL, xs, ag_bin(s, GIDS_MUL, gk, ag_bins(s, GIDS_POW, nk, 1 - p)));
    }
    /* p in (1, 2): sgn(x) |x|^(p-1); p > 2: x |x|^(p-2) (the same, without a sign kink) */
    gids_tensor *xs = p < 2 ? ag_bin(s, GIDS_MUL, sign, ag_bins(s, GIDS_POW, ax, p - 1))
                            : ag_bin(s, GIDS_MUL, x, ag_bins(s, GIDS_POW, ax, p - 2));
    gids_tensor *gs =
        ag_where(s, nzero, zero, ag_bin(s, GIDS_DIV, gk, ag_bins(s, GIDS_POW, nk, p - 1)));
    return ag_bin(s, GIDS_MUL, xs, gs);
}

/* Which saved tensors the formula of c reads. */
static bool needs_x_(const red_ctx *c) {
    if (c->kind == RED_OP) return c->op != GIDS_SUM && c->op != GIDS_MEAN;
    return c->kind != RED_NORM || c->p != 0;
}

static bool needs_y_(const red_ctx *c) {
    if (c->kind == RED_ALL_EXTREME) return true;
    if (c->kind == RED_OP)
        return c->op == GIDS_AMAX || c->op == GIDS_AMIN || c->op == GIDS_LOGSUMEXP;
    return c->kind == RED_STD || (c->kind == RED_NORM && c->p != 0 && c->p != 1);
}

static gids_status red_backward_(gids_node *n, gids_tensor *const *grad_out,
                                 gids_tensor **grad_in) {
    const red_ctx *c = gids_node_ctx(n);
    red_geom r;
    geom_(n, c->mask, &r);
    ag_scope s = AG_SCOPE;
    const gids_tensor *x = needs_x_(c) ? ag_saved(&s, n, SAVE_X) : NULL;
    const gids_tensor *y = needs_y_(c) ? ag_saved(&s, n, SAVE_Y) : NULL;
    gids_tensor *gk = keep_(&s, grad_out[0], &r), *yk = keep_(&s, y, &r);
    gids_tensor *g = NULL;
    if (s.st == GIDS_OK) { /* the formulas read the dtypes of gk and x */
        switch (c->kind) {
        case RED_OP: g = redop_grad_(&s, c->op, gk, x, yk, &r); break;
        case RED_VAR:
        case RED_STD: g = var_grad_(&s, c->kind == RED_STD, c->correction, gk, x, yk, &r); break;
        case RED_NORM: g = norm_grad_(&s, n, c->p, gk, x, yk, &r); break;
        case RED_ALL_EXTREME: g = all_extreme_grad_(&s, gk, x, yk, &r); break;
        }
    }
    ag_give(&s, n, 0, g, grad_in);
    return ag_finish(&s, NULL, NULL);
}

/* Records `name` for *out = reduction(a) over dims; c carries the kind and its parameters. */
static gids_status red_record_(gids_tensor **out, const gids_tensor *a, const char *name,
                               const char *op, red_ctx *c, int ndims, const int *dims) {
    gids_status st = dim_mask_(op, a->ndim, ndims, dims, &c->mask);
    if (st != GIDS_OK) return ag_drop(st, 1, out);
    ag_node_spec r = {
        .name = name,
        .op = op,
        .fn = red_backward_,
        .ctx = c,
        .ctx_size = sizeof *c,
        .save = {[SAVE_X] = needs_x_(c) ? a : NULL, [SAVE_Y] = needs_y_(c) ? *out : NULL}};
    return ag_record(&r, 1, &a, 1, out);
}

gids_status gids_ag_reduce(gids_tensor **out, gids_redop op, const gids_tensor *a, int ndims,
                           const int *dims, bool keepdim) {
    GIDS_TRY(gids_reduce(out, op, a, ndims, dims, keepdim));
    bool differentiable = (unsigned)op < GIDS_NREDOPS && redop_backward_[op] != NULL;
    if (!differentiable || !gids_ag_should_record(1, &a)) return GIDS_OK;
    red_ctx c = {.kind = RED_OP, .op = op};
    return red_record_(out, a, redop_backward_[op], gids_redop_name(op), &c, ndims, dims);
}

gids_status gids_ag_extreme_all(gids_tensor **out, const gids_tensor *a, bool is_max,
                                bool keepdim) {
    gids_redop op = is_max ? GIDS_AMAX : GIDS_AMIN;
    GIDS_TRY(gids_reduce(out, op, a, 0, NULL, keepdim));
    if (!gids_ag_should_record(1, &a)) return GIDS_OK;
    red_ctx c = {.kind = RED_ALL_EXTREME, .op = op};
    return red_record_(out, a, is_max ? "MaxBackward" : "MinBackward", gids_redop_name(op), &c, 0,
                       NULL);
}

gids_status gids_ag_var(gids_tensor **out, const gids_tensor *a, int ndims, const int *dims,
                        int64_t correction, bool keepdim) {
    GIDS_TRY(gids_var(out, a, ndims, dims, correction, keepdim));
    if (!gids_ag_should_record(1, &a)) return GIDS_OK;
    red_ctx c = {.kind = RED_VAR, .correction = correction};
    return red_record_(out, a, "VarBackward", "var", &c, ndims, dims);
}

gids_status gids_ag_std(gids_tensor **out, const gids_tensor *a, int ndims, const int *dims,
                        int64_t correction, bool keepdim) {
    GIDS_TRY(gids_std(out, a, ndims, dims, correction, keepdim));
    if (!gids_ag_should_record(1, &a)) return GIDS_OK;
    red_ctx c = {.kind = RED_STD, .correction = correction};
    return red_record_(out, a, "StdBackward", "std", &c, ndims, dims);
}

gids_status gids_ag_norm(gids_tensor **out, const gids_tensor *a, double p, int ndims,
                         const int *dims, bool keepdim) {
    GIDS_TRY(gids_norm(out, a, p, ndims, dims, keepdim));
    if (!gids_ag_should_record(1, &a)) return GIDS_OK;
    red_ctx c = {.kind = RED_NORM, .p = p};
    return red_record_(out, a, "NormBackward", "norm", &c, ndims, dims);
}
