/* ag_unary.c -- differentiable unary ops (gids_ag_unary).
 *
 * Formulas follow PyTorch's derivatives.yaml: where torch writes the derivative through the
 * result (exp, sqrt, tanh, sigmoid, relu, ...) the result is saved instead of the input, which
 * also makes the gradient exactly consistent with the value the forward returned.  sign and
 * the rounding ops are piecewise constant: torch records them with a zero gradient, and so do
 * we.  logical_not, isnan, isinf and isfinite give bool results: nothing is recorded.
 */
#include <math.h>

#include "formula_impl.h"

static const char *const backward_names_[GIDS_NUNOPS] = {
    [GIDS_NEG] = "NegBackward",           [GIDS_ABS] = "AbsBackward",
    [GIDS_SIGN] = "SignBackward",         [GIDS_EXP] = "ExpBackward",
    [GIDS_EXPM1] = "Expm1Backward",       [GIDS_LOG] = "LogBackward",
    [GIDS_LOG1P] = "Log1pBackward",       [GIDS_LOG2] = "Log2Backward",
    [GIDS_SQRT] = "SqrtBackward",         [GIDS_RSQRT] = "RsqrtBackward",
    [GIDS_SQUARE] = "SquareBackward",     [GIDS_RECIPROCAL] = "ReciprocalBackward",
    [GIDS_SIN] = "SinBackward",           [GIDS_COS] = "CosBackward",
    [GIDS_TAN] = "TanBackward",           [GIDS_TANH] = "TanhBackward",
    [GIDS_SIGMOID] = "SigmoidBackward",   [GIDS_RELU] = "ReluBackward",
    [GIDS_GELU] = "GeluBackward",         [GIDS_GELU_TANH] = "GeluBackward",
    [GIDS_SOFTPLUS] = "SoftplusBackward", [GIDS_SILU] = "SiluBackward",
    [GIDS_FLOOR] = "FloorBackward",       [GIDS_CEIL] = "CeilBackward",
    [GIDS_ROUND] = "RoundBackward",       [GIDS_TRUNC] = "TruncBackward",
};

static bool differentiable_(gids_unop op) {
    return (unsigned)op < GIDS_NUNOPS && backward_names_[op] != NULL;
}

/* Ops whose formula reads the result rather than the input. */
static bool uses_out_(gids_unop op) {
    switch (op) {
    case GIDS_EXP:
    case GIDS_EXPM1:
    case GIDS_SQRT:
    case GIDS_RSQRT:
    case GIDS_RECIPROCAL:
    case GIDS_TAN:
    case GIDS_TANH:
    case GIDS_SIGMOID:
    case GIDS_RELU:
    case GIDS_GELU: return true;
    default: return false;
    }
}

/* Ops whose gradient is zero everywhere (it needs nothing saved). */
static bool zero_grad_(gids_unop op) {
    return op == GIDS_SIGN || op == GIDS_FLOOR || op == GIDS_CEIL || op == GIDS_ROUND ||
           op == GIDS_TRUNC;
}

/* Ops whose formula reads neither input nor result: nothing is saved, so the input may be
 * modified in place before the backward and a second backward needs no retain_graph (torch's
 * NegBackward saves nothing either). */
static bool saves_nothing_(gids_unop op) {
    return zero_grad_(op) || op == GIDS_NEG;
}

typedef struct {
    gids_unop op;
} un_ctx;

/* The softplus op of ops.h is linear above this input (its kernel's threshold, beta 1). */
#define SOFTPLUS_THRESHOLD 20.0

/* d(op x)/dx * g; x is the input, y the result (each NULL when the op does not save it). */
static gids_tensor *formula_(ag_scope *s, gids_unop op, const gids_tensor *g, const gids_tensor *x,
                             const gids_tensor *y) {
    switch (op) {
    case GIDS_NEG: return ag_un(s, GIDS_NEG, g);
    /* sign(0) = 0: the subgradient torch picks at the kink. */
    case GIDS_ABS: return ag_bin(s, GIDS_MUL, g, ag_un(s, GIDS_SIGN, x));
    case GIDS_EXP: return ag_bin(s, GIDS_MUL, g, y);
    case GIDS_EXPM1: return ag_bin(s, GIDS_MUL, g, ag_bins(s, GIDS_ADD, y, 1.0));
    case GIDS_LOG: return ag_bin(s, GIDS_DIV, g, x);
    case GIDS_LOG1P: return ag_bin(s, GIDS_DIV, g, ag_bins(s, GIDS_ADD, x, 1.0));
    case GIDS_LOG2: return ag_bin(s, GIDS_DIV, g, ag_bins(s, GIDS_MUL, x, M_LN2));
    case GIDS_SQRT: return ag_bin(s, GIDS_DIV, g, ag_bins(s, GIDS_MUL, y, 2.0));
    case GIDS_RSQRT: /* -0.5 y^3 */
        return ag_bin(s, GIDS_MUL, g,
                      ag_bins(s, GIDS_MUL, ag_bin(s, GIDS_MUL, y, ag_un(s, GIDS_SQUARE, y)), -0.5));
    case GIDS_SQUARE: return ag_bin(s, GIDS_MUL, g, ag_bins(s, GIDS_MUL, x, 2.0));
    case GIDS_RECIPROCAL:
        return ag_un(s, GIDS_NEG, ag_bin(s, GIDS_MUL, g, ag_un(s, GIDS_SQUARE, y)));
    case GIDS_SIN: return ag_bin(s, GIDS_MUL, g, ag_un(s, GIDS_COS, x));
    case GIDS_COS: return ag_un(s, GIDS_NEG, ag_bin(s, GIDS_MUL, g, ag_un(s, GIDS_SIN, x)));
    case GIDS_TAN:
        return ag_bin(s, GIDS_MUL, g, ag_bins(s, GIDS_ADD, ag_un(s, GIDS_SQUARE, y), 1.0));
    case GIDS_TANH:
        return ag_bin(s, GIDS_MUL, g, ag_sbin(s, GIDS_SUB, 1.0, ag_un(s, GIDS_SQUARE, y)));
    case GIDS_SIGMOID:
        return ag_bin(s, GIDS_MUL, g, ag_bin(s, GIDS_MUL, y, ag_sbin(s, GIDS_SUB, 1.0, y)));
    /* Zero where the result is <= 0 (torch's threshold_backward on the result). */
    case GIDS_RELU: /* g where not y <= 0: a NaN passes its gradient, as torch's threshold */
        return ag_where(s, ag_bins(s, GIDS_LE, y, 0.0), ag_scalar(s, 0.0, g), g);
    case GIDS_GELU: {
        /* Phi(x) + x phi(x).  ops.h has no erf, but gelu(x) = x Phi(x) gives Phi back from the
         * saved result; near 0 (|x| < 1e-20) Phi is 1/2 to 1e-20, where the quotient would be 0/0
         * or read a result that underflowed to a subnormal (x = 1.4e-45 gave Phi = 0). */
        gids_tensor *cdf = ag_where(s, ag_bins(s, GIDS_LT, ag_un(s, GIDS_ABS, x), 1e-20),
                                    ag_scalar(s, 0.5, g), ag_bin(s, GIDS_DIV, y, x));
        gids_tensor *pdf = ag_bins(
            s, GIDS_MUL, ag_un(s, GIDS_EXP, ag_bins(s, GIDS_MUL, ag_un(s, GIDS_SQUARE, x), -0.5)),
            0.5 * M_2_SQRTPI * M_SQRT1_2);
        return ag_bin(s, GIDS_MUL, g, ag_bin(s, GIDS_ADD, cdf, ag_bin(s, GIDS_MUL, x, pdf)));
    }
    case GIDS_GELU_TANH: {
        /* torch's GeluBackward with approximate='tanh', t = tanh(k (x + c x^3)):
         *   0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2) */
        const double k = M_SQRT2 * M_2_SQRTPI * 0.5, c = 0.044715;
        gids_tensor *x2 = ag_un(s, GIDS_SQUARE, x);
        gids_tensor *inner =
            ag_bins(s, GIDS_MUL,
                    ag_bin(s, GIDS_ADD, x, ag_bins(s, GIDS_MUL, ag_bin(s, GIDS_MUL, x2, x), c)), k);
        gids_tensor *t = ag_un(s, GIDS_TANH, inner);
        gids_tensor *left = ag_bins(s, GIDS_MUL, ag_bins(s, GIDS_ADD, t, 1.0), 0.5);
        gids_tensor *right =
            ag_bin(s, GIDS_MUL, ag_bins(s, GIDS_MUL, x, 0.5 * k),
                   ag_bin(s, GIDS_MUL, ag_sbin(s, GIDS_SUB, 1.0, ag_un(s, GIDS_SQUARE, t)),
                          ag_bins(s, GIDS_ADD, ag_bins(s, GIDS_MUL, x2, 3.0 * c), 1.0)));
        return ag_bin(s, GIDS_MUL, g, ag_bin(s, GIDS_ADD, left, right));
    }
    case GIDS_SOFTPLUS: /* sigmoid(x), exactly 1 where the forward is linear */
        return ag_where(s, ag_bins(s, GIDS_GT, x, SOFTPLUS_THRESHOLD), g,
                        ag_bin(s, GIDS_MUL, g, ag_un(s, GIDS_SIGMOID, x)));
    case GIDS_SILU: { /* s (1 + x (1 - s)) with s = sigmoid(x) */
        gids_tensor *sg = ag_un(s, GIDS_SIGMOID, x);
        gids_tensor *d = ag_bin(
            s, GIDS_MUL, sg,
            ag_bins(s, GIDS_ADD, ag_bin(s, GIDS_MUL, x, ag_sbin(s, GIDS_SUB, 1.0, sg)), 1.0));
        return ag_bin(s, GIDS_MUL, g, d);
    }
    default: return ag_zeros_like(s, g); /* sign and rounding: zero almost everywhere */
    }
}

static gids_status unary_backward_(gids_node *n, gids_tensor *const *grad_out,
                                   gids_tensor **grad_in) {
    const un_ctx *c = gids_node_ctx(n);
    ag_scope s = AG_SCOPE;
    const gids_tensor *x = NULL, *y = NULL;
    if (!saves_nothing_(c->op)) {
        if (uses_out_(c->op)) y = ag_saved(&s, n, 1);
        if (!uses_out_(c->op) || c->op == GIDS_GELU) x = ag_saved(&s, n, 0);
    }
    ag_give(&s, n, 0, formula_(&s, c->op, grad_out[0], x, y), grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_unary(gids_tensor **out, gids_unop op, const gids_tensor *a) {
    GIDS_TRY(gids_unary(out, op, a));
    if (!differentiable_(op) || !gids_ag_should_record(1, &a)) return GIDS_OK;
    un_ctx c = {op};
    ag_node_spec r = {.name = backward_names_[op],
                      .op = gids_unop_name(op),
                      .fn = unary_backward_,
                      .ctx = &c,
                      .ctx_size = sizeof c};
    if (!saves_nothing_(op)) {
        if (!uses_out_(op) || op == GIDS_GELU) r.save[0] = a;
        if (uses_out_(op)) r.save[1] = *out;
    }
    return ag_record(&r, 1, &a, 1, out);
}
