/* ag_binary.c -- differentiable binary ops: tensor op tensor and tensor op number.
 *
 * Gradients are computed at the broadcast shape and then summed down to each input's shape
 * (gids_ag_input_grad).  Comparisons, logical ops and floor_divide are not differentiable: they
 * record nothing and their results do not require grad, as in PyTorch.
 */
#include <math.h>

#include "formula_impl.h"

static bool differentiable_(gids_binop op) {
    switch (op) {
    case GIDS_ADD:
    case GIDS_SUB:
    case GIDS_MUL:
    case GIDS_DIV:
    case GIDS_POW:
    case GIDS_MAXIMUM:
    case GIDS_MINIMUM:
    case GIDS_FMOD:
    case GIDS_REMAINDER:
    case GIDS_ATAN2: return true;
    default: return false;
    }
}

/* An operand's share of a maximum/minimum gradient: g (1 - lost - tie / 2), computed as
 * g - g (lost + tie / 2) so that the losing operand gets +0, not -0. */
static gids_tensor *extreme_share_(ag_scope *s, const gids_tensor *g, const gids_tensor *lost,
                                   const gids_tensor *half) {
    return ag_bin(s, GIDS_SUB, g, ag_bin(s, GIDS_MUL, g, ag_bin(s, GIDS_ADD, lost, half)));
}

static const char *const backward_names_[GIDS_NBINOPS] = {
    [GIDS_ADD] = "AddBackward",
    [GIDS_SUB] = "SubBackward",
    [GIDS_MUL] = "MulBackward",
    [GIDS_DIV] = "DivBackward",
    [GIDS_POW] = "PowBackward",
    [GIDS_MAXIMUM] = "MaximumBackward",
    [GIDS_MINIMUM] = "MinimumBackward",
    [GIDS_FMOD] = "FmodBackward",
    [GIDS_REMAINDER] = "RemainderBackward",
    [GIDS_ATAN2] = "Atan2Backward",
};

typedef struct {
    gids_binop op;
    bool scalar, reversed; /* tensor op number: the number, and whether it came first */
    double s;
    bool need_a, need_b; /* which inputs required grad when recorded (what was saved for) */
} bin_ctx;

/* d(a op b)/da * g and d(a op b)/db * g at the broadcast shape; either pointer may be NULL
 * when that gradient is not wanted.  out is the forward result. */
static void tensor_grads_(ag_scope *s, gids_binop op, const gids_tensor *g, const gids_tensor *a,
                          const gids_tensor *b, const gids_tensor *out, gids_tensor **ga,
                          gids_tensor **gb) {
    switch (op) {
    case GIDS_ADD:
        if (ga) *ga = (gids_tensor *)g;
        if (gb) *gb = (gids_tensor *)g;
        break;
    case GIDS_SUB:
        if (ga) *ga = (gids_tensor *)g;
        if (gb) *gb = ag_un(s, GIDS_NEG, g);
        break;
    case GIDS_MUL:
        if (ga) *ga = ag_bin(s, GIDS_MUL, g, b);
        if (gb) *gb = ag_bin(s, GIDS_MUL, g, a);
        break;
    case GIDS_DIV:
        if (ga) *ga = ag_bin(s, GIDS_DIV, g, b);
        if (gb) *gb = ag_un(s, GIDS_NEG, ag_bin(s, GIDS_DIV, ag_bin(s, GIDS_MUL, g, out), b));
        break;
    case GIDS_POW: {
        /* a^b: b a^(b-1) and a^b log a; torch's convention makes the b-gradient 0 where a == 0
         * and b >= 0 (the limit of a^b log a), not NaN, and the a-gradient 0 where b == 0 (a^0
         * is 1 whatever a; b a^(b-1) would be 0 * inf at a == 0). */
        if (ga) {
            gids_tensor *d =
                ag_bin(s, GIDS_MUL, b, ag_bin(s, GIDS_POW, a, ag_bins(s, GIDS_SUB, b, 1.0)));
            d = ag_where(s, ag_bins(s, GIDS_EQ, b, 0.0), ag_zeros_like(s, d), d);
            *ga = ag_bin(s, GIDS_MUL, g, d);
        }
        if (gb) {
            /* log a in the result's dtype (g's): an f32 or integer base beside an f64
             * exponent would otherwise give an f32 log */
            gids_tensor *t = ag_bin(s, GIDS_MUL, ag_bin(s, GIDS_MUL, g, out),
                                    ag_un(s, GIDS_LOG, ag_cast(s, a, g->dtype)));
            gids_tensor *zero = ag_bin(s, GIDS_LOGICAL_AND, ag_bins(s, GIDS_EQ, a, 0.0),
                                       ag_bins(s, GIDS_GE, b, 0.0));
            *gb = ag_where(s, zero, ag_zeros_like(s, t), t);
        }
        break;
    }
    case GIDS_MAXIMUM:
    case GIDS_MINIMUM: {
        /* As torch: the gradient goes to the chosen operand, split in half on ties, and to both
         * where either is NaN (neither loses a comparison with NaN). */
        gids_binop lose = op == GIDS_MAXIMUM ? GIDS_LT : GIDS_GT;
        gids_tensor *half =
            ag_bins(s, GIDS_MUL, ag_cast(s, ag_bin(s, GIDS_EQ, a, b), g->dtype), 0.5);
        if (ga) *ga = extreme_share_(s, g, ag_cast(s, ag_bin(s, lose, a, b), g->dtype), half);
        if (gb) *gb = extreme_share_(s, g, ag_cast(s, ag_bin(s, lose, b, a), g->dtype), half);
        break;
    }
    case GIDS_FMOD:
    case GIDS_REMAINDER:
        /* a - q b with q = trunc(a/b) (fmod) or floor(a/b) (remainder), piecewise constant. */
        if (ga) *ga = (gids_tensor *)g;
        if (gb)
            *gb = ag_un(s, GIDS_NEG,
                        ag_bin(s, GIDS_MUL, g,
                               ag_un(s, op == GIDS_FMOD ? GIDS_TRUNC : GIDS_FLOOR,
                                     ag_bin(s, GIDS_DIV, a, b))));
        break;
    case GIDS_ATAN2: {
        /* b / r and -a / r with r = a^2 + b^2; at the origin (r == 0) 0 and -0, as torch, not
         * 0 / 0; in the result's dtype (g's), where an integer operand cannot overflow */
        const gids_tensor *fa = ag_cast(s, a, g->dtype), *fb = ag_cast(s, b, g->dtype);
        gids_tensor *r =
            ag_bin(s, GIDS_ADD, ag_bin(s, GIDS_MUL, fa, fa), ag_bin(s, GIDS_MUL, fb, fb));
        r = ag_bin(s, GIDS_ADD, r, ag_cast(s, ag_bins(s, GIDS_EQ, r, 0.0), r->dtype)); /* 0 -> 1 */
        if (ga) *ga = ag_bin(s, GIDS_MUL, g, ag_bin(s, GIDS_DIV, fb, r));
        if (gb) *gb = ag_bin(s, GIDS_MUL, g, ag_un(s, GIDS_NEG, ag_bin(s, GIDS_DIV, fa, r)));
        break;
    }
    default: break;
    }
}

/* What a node saves: 0 = a (the tensor of the number form), 1 = b, 2 = the result; only what
 * the formulas of the wanted gradients read (torch's choice too), so that an operand modified in
 * place before the backward (a buffer, an EMA) is no error where the gradient does not read it,
 * nothing is held alive for nothing (a sum of products would otherwise keep every operand), and
 * a node saving nothing can run twice without retain_graph. */
typedef struct {
    bool a, b, out;
} bin_saves;

static bin_saves saves_(const bin_ctx *c, bool need_a, bool need_b) {
    bin_saves v = {false, false, false};
    if (!c->scalar) {
        switch (c->op) {
        case GIDS_ADD:
        case GIDS_SUB: break;
        case GIDS_MUL: /* g b and g a */
            v.a = need_b;
            v.b = need_a;
            break;
        case GIDS_DIV: /* g / b and -(g out) / b */
            v.b = true;
            v.out = need_b;
            break;
        case GIDS_POW: /* b a^(b-1) (where b != 0), and g out log a (where not a == 0 <= b) */
            v.a = v.b = true;
            v.out = need_b;
            break;
        case GIDS_FMOD:
        case GIDS_REMAINDER: /* g, and -g q(a / b) */ v.a = v.b = need_b; break;
        default: v.a = v.b = true; /* maximum, minimum, atan2: comparisons or a^2 + b^2 */
        }
    } else if (!c->reversed) { /* a op number: g, g s, g / s, or formulas of a */
        v.a = c->op == GIDS_POW || c->op == GIDS_MAXIMUM || c->op == GIDS_MINIMUM ||
              c->op == GIDS_ATAN2;
    } else { /* number op a: the b-gradient's formula with the tensor as b */
        v.a = c->op != GIDS_ADD && c->op != GIDS_SUB && c->op != GIDS_MUL;
        v.out = c->op == GIDS_DIV || c->op == GIDS_POW;
    }
    return v;
}

static gids_status binary_backward_(gids_node *n, gids_tensor *const *grad_out,
                                    gids_tensor **grad_in) {
    const bin_ctx *c = gids_node_ctx(n);
    const gids_tensor *g = grad_out[0];
    ag_scope s = AG_SCOPE;
    bool need_a = c->need_a, need_b = c->need_b;
    bin_saves v = saves_(c, need_a, need_b);
    const gids_tensor *a = v.a ? ag_saved(&s, n, 0) : NULL;
    const gids_tensor *b = v.b ? ag_saved(&s, n, 1) : NULL;
    const gids_tensor *out = v.out ? ag_saved(&s, n, 2) : NULL;
    gids_tensor *ga = NULL, *gb = NULL;
    if (s.st != GIDS_OK) return ag_finish(&s, NULL, NULL);
    if (!c->scalar) {
        tensor_grads_(&s, c->op, g, a, b, out, need_a ? &ga : NULL, need_b ? &gb : NULL);
    } else if (!c->reversed && c->op == GIDS_POW && c->s == 0.5) {
        /* 0.5 a^-0.5 with a^-0.5 the rsqrt that pow(a, -0.5) is (binary.c), as torch's */
        ga = ag_bin(&s, GIDS_MUL, g, ag_bins(&s, GIDS_MUL, ag_un(&s, GIDS_RSQRT, a), 0.5));
    } else if (!c->reversed && c->op == GIDS_POW) {
        /* e a^(e-1) with the number e kept as it is, not as a tensor of g's dtype: an f32 one
         * cannot hold 2^24 + 1, and (e-1) would turn odd (binary.c computes such a pow in f64);
         * 0 where e is 0, as tensor_grads_ */
        gids_tensor *d = c->s == 0.0
                             ? ag_bins(&s, GIDS_MUL, g, 0.0)
                             : ag_bins(&s, GIDS_MUL, ag_bins(&s, GIDS_POW, a, c->s - 1.0), c->s);
        ga = c->s == 0.0 ? d : ag_bin(&s, GIDS_MUL, g, d);
    } else if (!c->reversed) {
        tensor_grads_(&s, c->op, g, a, ag_scalar(&s, c->s, g), out, need_a ? &ga : NULL, NULL);
    } else {
        tensor_grads_(&s, c->op, g, ag_scalar(&s, c->s, g), a, out, NULL, need_a ? &ga : NULL);
    }
    ag_give(&s, n, 0, ga, grad_in);
    ag_give(&s, n, 1, gb, grad_in);
    return ag_finish(&s, NULL, NULL);
}

/* Records the node for out = a op b (b NULL: a op number). */
static gids_status record_(gids_tensor **out, gids_binop op, const gids_tensor *a,
                           const gids_tensor *b, double sv, bool reversed) {
    bin_ctx c = {
        op, b == NULL, reversed, sv, gids_requires_grad(a), b != NULL && gids_requires_grad(b)};
    bin_saves v = saves_(&c, c.need_a, c.need_b);
    ag_node_spec r = {.name = backward_names_[op],
                      .op = gids_binop_name(op),
                      .fn = binary_backward_,
                      .ctx = &c,
                      .ctx_size = sizeof c,
                      .save = {v.a ? a : NULL, v.b ? b : NULL, v.out ? *out : NULL}};
    const gids_tensor *ins[2] = {a, b};
    return ag_record(&r, b != NULL ? 2 : 1, ins, 1, out);
}

gids_status gids_ag_binary(gids_tensor **out, gids_binop op, const gids_tensor *a,
                           const gids_tensor *b) {
    GIDS_TRY(gids_binary(out, op, a, b));
    const gids_tensor *ins[2] = {a, b};
    if (!differentiable_(op) || !gids_ag_should_record(2, ins)) return GIDS_OK;
    return record_(out, op, a, b, 0.0, false);
}

gids_status gids_ag_binary_scalar(gids_tensor **out, gids_binop op, const gids_tensor *a,
                                  gids_scalar sv, bool reversed) {
    GIDS_TRY(gids_binary_scalar(out, op, a, sv, reversed));
    if (!differentiable_(op) || !gids_ag_should_record(1, &a)) return GIDS_OK;
    return record_(out, op, a, NULL, sv.is_int ? (double)sv.i : sv.f, reversed);
}
