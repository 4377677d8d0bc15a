/* test_ag_elementwise.c -- backward formulas of the unary ops and parameterised activations,
 * checked by finite differences (gradcheck.h) on contiguous and transposed inputs; the kink
 * conventions (clamp bounds, relu, abs at 0), where with broadcasting, ops recorded with a
 * zero gradient, and ops that record nothing. */
#include "gradcheck.h"
#include "helpers.h"

/* A [2,3] f64 leaf requiring grad. */
static gids_tensor *leaf23(const double *v) {
    gids_tensor *t = from(GIDS_F64, 2, (int64_t[]){2, 3}, v);
    CHECK_OK(gids_set_requires_grad(t, true));
    return t;
}

static gids_tensor *leaf(int nd, const int64_t *shape, const double *v) {
    gids_tensor *t = from(GIDS_F64, nd, shape, v);
    CHECK_OK(gids_set_requires_grad(t, true));
    return t;
}

/* What a checked function applies, and whether its input is first transposed (a strided view
 * with a grad_fn of its own). */
typedef struct {
    gids_unop op;
    bool transposed;
    int act;       /* 0 unary, 1 leaky_relu, 2 elu, 3 softplus, 4 clamp */
    double p0, p1; /* activation parameters; clamp: min, max */
    bool has_min, has_max;
} fn_ctx;

/* in[0] itself, or its transpose recorded through gids_ag_transpose (NEW either way). */
static gids_status input_(gids_tensor **x, gids_tensor *const *in, bool transposed) {
    if (transposed) return gids_ag_transpose(x, in[0], 0, 1);
    gids_tensor_retain(in[0]);
    *x = in[0];
    return GIDS_OK;
}

static gids_status apply(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const fn_ctx *c = ctx;
    gids_tensor *x = NULL;
    GIDS_TRY(input_(&x, in, c->transposed));
    gids_scalar lo = gids_scalar_f(c->p0), hi = gids_scalar_f(c->p1);
    gids_status st;
    switch (c->act) {
    case 1: st = gids_ag_leaky_relu(out, x, c->p0); break;
    case 2: st = gids_ag_elu(out, x, c->p0); break;
    case 3: st = gids_ag_softplus(out, x, c->p0, c->p1); break;
    case 4: st = gids_ag_clamp(out, x, c->has_min ? &lo : NULL, c->has_max ? &hi : NULL); break;
    default: st = gids_ag_unary(out, c->op, x); break;
    }
    gids_tensor_release(x);
    return st;
}

/* Values for each op, away from its kinks and inside its domain. */
static const double mixed_[6] = {-1.3, -0.4, 0.2, 0.8, 1.7, -2.1};
static const double positive_[6] = {0.3, 0.7, 1.2, 2.5, 0.9, 1.7};
static const double small_[6] = {-0.9, -0.4, 0.2, 0.8, 1.2, -0.6};       /* tan, log1p */
static const double with_zero_[6] = {-1.3, 0.0, 0.2, 0.8, 1.7, -2.1};    /* smooth at 0 */
static const double off_integer_[6] = {-1.3, -0.4, 0.2, 0.8, 1.7, -2.2}; /* rounding */
static const double softplus_[6] = {-1.3, -0.4, 0.2, 25.0, 1.7, -2.1};   /* 25: linear branch */

static const double *values_for_(gids_unop op) {
    switch (op) {
    case GIDS_LOG:
    case GIDS_LOG2:
    case GIDS_SQRT:
    case GIDS_RSQRT: return positive_;
    case GIDS_TAN:
    case GIDS_LOG1P: return small_;
    case GIDS_GELU:
    case GIDS_GELU_TANH:
    case GIDS_SILU:
    case GIDS_SIGMOID:
    case GIDS_TANH: return with_zero_;
    case GIDS_FLOOR:
    case GIDS_CEIL:
    case GIDS_ROUND:
    case GIDS_TRUNC: return off_integer_;
    case GIDS_SOFTPLUS: return softplus_;
    default: return mixed_;
    }
}

TEST(every_differentiable_unary_op_matches_finite_differences) {
    for (int op = GIDS_NEG; op <= GIDS_TRUNC; op++) {
        for (int tr = 0; tr < 2; tr++) {
            gids_tensor *x = leaf23(values_for_((gids_unop)op));
            fn_ctx c = {.op = (gids_unop)op, .transposed = tr};
            int before = check_test_failed_;
            check_test_failed_ = 0;
            GRADCHECK(apply, 1, &x, &c);
            if (check_test_failed_)
                fprintf(stderr, "  (op %s, %s input)\n", gids_unop_name((gids_unop)op),
                        tr ? "transposed" : "contiguous");
            check_test_failed_ |= before;
            gids_tensor_release(x);
        }
    }
}

TEST(unary_results_record_the_right_node) {
    gids_tensor *x = leaf23(mixed_), *y = NULL;
    CHECK_OK(gids_ag_unary(&y, GIDS_EXP, x));
    CHECK(gids_grad_fn_name(y) && strcmp(gids_grad_fn_name(y), "ExpBackward") == 0);
    gids_tensor_release(y);
    /* Rounding and sign are recorded with a zero gradient, as torch. */
    gids_unop zero_ops[] = {GIDS_SIGN, GIDS_FLOOR, GIDS_CEIL, GIDS_ROUND, GIDS_TRUNC};
    for (size_t i = 0; i < sizeof zero_ops / sizeof zero_ops[0]; i++) {
        CHECK_OK(gids_set_grad(x, NULL));
        y = NULL;
        CHECK_OK(gids_ag_unary(&y, zero_ops[i], x));
        CHECK(y != NULL && gids_requires_grad(y));
        gids_tensor *o = NULL;
        CHECK_OK(gids_ones(&o, GIDS_F64, GIDS_DEVICE_CPU, 2, (int64_t[]){2, 3}));
        CHECK_OK(gids_backward(y, o, false));
        CHECK(same(gids_grad(x), 6, (double[]){0, 0, 0, 0, 0, 0}));
        gids_tensor_release(o), gids_tensor_release(y);
    }
    gids_tensor_release(x);
}

TEST(bool_valued_unary_ops_record_nothing) {
    gids_tensor *x = leaf23(mixed_);
    gids_unop ops[] = {GIDS_LOGICAL_NOT, GIDS_ISNAN, GIDS_ISINF, GIDS_ISFINITE};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        gids_tensor *y = NULL;
        CHECK_OK(gids_ag_unary(&y, ops[i], x));
        CHECK(y != NULL && !gids_requires_grad(y) && gids_grad_fn_name(y) == NULL);
        CHECK(y != NULL && y->dtype == GIDS_BOOL);
        gids_tensor_release(y);
    }
    gids_tensor_release(x);
}

/* Backward of sum(op(x)) for one-element-per-case inputs: the gradient at the kinks. */
static void check_kink_grads(gids_unop op, int n, const double *xv, const double *want) {
    int64_t shape = n;
    gids_tensor *x = leaf(1, &shape, xv), *y = NULL, *o = NULL;
    CHECK_OK(gids_ag_unary(&y, op, x));
    CHECK_OK(gids_ones(&o, GIDS_F64, GIDS_DEVICE_CPU, 1, &shape));
    CHECK_OK(gids_backward(y, o, false));
    check_values(gids_grad(x), n, want);
    gids_tensor_release(o), gids_tensor_release(y), gids_tensor_release(x);
}

TEST(kinks_take_torch_subgradients) {
    check_kink_grads(GIDS_RELU, 3, (double[]){-1, 0, 2}, (double[]){0, 0, 1});
    check_kink_grads(GIDS_ABS, 3, (double[]){-1, 0, 2}, (double[]){-1, 0, 1});
    check_kink_grads(GIDS_GELU, 1, (double[]){0}, (double[]){0.5});
    check_kink_grads(GIDS_SQRT, 1, (double[]){4}, (double[]){0.25});
}

TEST(an_f32_input_gets_an_f32_gradient) {
    gids_tensor *x = from(GIDS_F32, 1, (int64_t[]){3}, (float[]){0.5f, 1.0f, 2.0f}), *y = NULL;
    CHECK_OK(gids_set_requires_grad(x, true));
    CHECK_OK(gids_ag_unary(&y, GIDS_LOG, x));
    gids_tensor *o = NULL;
    CHECK_OK(gids_ones(&o, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){3}));
    CHECK_OK(gids_backward(y, o, false));
    CHECK(gids_grad(x) != NULL && gids_grad(x)->dtype == GIDS_F32);
    check_values(gids_grad(x), 3, (double[]){2, 1, 0.5});
    gids_tensor_release(o), gids_tensor_release(y), gids_tensor_release(x);
}

TEST(anomaly_mode_names_the_op_that_made_a_nan) {
    gids_tensor *x = leaf(1, (int64_t[]){2}, (double[]){1, -1}), *y = NULL;
    bool old = gids_set_anomaly_enabled(true);
    CHECK_ERR(gids_ag_unary(&y, GIDS_LOG, x), GIDS_ESTATE, "log produced NaN");
    CHECK(y == NULL);
    gids_set_anomaly_enabled(old);
    gids_tensor_release(x);
}

/* ---------------------------------------------------------------- activations */
TEST(parameterised_activations_match_finite_differences) {
    const fn_ctx cases[] = {
        {.act = 1, .p0 = 0.1},
        {.act = 1, .p0 = -0.7},
        {.act = 2, .p0 = 1.3},
        {.act = 3, .p0 = 1.0, .p1 = 20.0},
        {.act = 3, .p0 = 2.0, .p1 = 3.0}, /* 1.7 * 2 > 3: the linear branch */
        {.act = 3, .p0 = -0.5, .p1 = 20.0},
        {.act = 4, .p0 = -1.0, .p1 = 1.0, .has_min = true, .has_max = true},
        {.act = 4, .p0 = 0.5, .has_min = true},
        {.act = 4, .p1 = 0.0, .has_max = true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int tr = 0; tr < 2; tr++) {
            gids_tensor *x = leaf23(mixed_);
            fn_ctx c = cases[i];
            c.transposed = tr;
            int before = check_test_failed_;
            check_test_failed_ = 0;
            GRADCHECK(apply, 1, &x, &c);
            if (check_test_failed_) fprintf(stderr, "  (case %zu, transposed %d)\n", i, tr);
            check_test_failed_ |= before;
            gids_tensor_release(x);
        }
    }
}

TEST(clamp_passes_the_gradient_strictly_inside_its_bounds_and_kinks_go_negative) {
    gids_tensor *x = leaf(1, (int64_t[]){5}, (double[]){-2, -1, 0, 1, 2}), *y = NULL, *o = NULL;
    gids_scalar lo = gids_scalar_i(-1), hi = gids_scalar_f(1.0);
    CHECK_OK(gids_ag_clamp(&y, x, &lo, &hi));
    CHECK(strcmp(gids_grad_fn_name(y), "ClampBackward") == 0);
    CHECK_OK(gids_ones(&o, GIDS_F64, GIDS_DEVICE_CPU, 1, (int64_t[]){5}));
    CHECK_OK(gids_backward(y, o, false));
    check_values(gids_grad(x), 5, (double[]){0, 0, 1, 0, 0}); /* at a bound: 0 (torch 2.15) */
    gids_tensor_release(y);
    CHECK_OK(gids_set_grad(x, NULL));
    CHECK_OK(gids_ag_leaky_relu(&y, x, 0.25));
    CHECK_OK(gids_backward(y, o, false));
    check_values(gids_grad(x), 5, (double[]){0.25, 0.25, 0.25, 1, 1}); /* x = 0: the slope */
    gids_tensor_release(y);
    CHECK_OK(gids_set_grad(x, NULL));
    CHECK_OK(gids_ag_elu(&y, x, 2.0));
    CHECK_OK(gids_backward(y, o, false));
    CHECK_NEAR(at(gids_grad(x), 2), 2.0, 1e-12); /* alpha exp(0) */
    gids_tensor_release(o), gids_tensor_release(y), gids_tensor_release(x);
}

/* where(cond, a, b) with cond [2,3], a [3] and b [2,1]: both broadcast to [2,3]. */
static gids_status where_fn(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    return gids_ag_where(out, (const gids_tensor *)ctx, in[0], in[1]);
}

TEST(where_sends_the_gradient_to_the_chosen_side_through_broadcasting) {
    gids_tensor *cond =
        from(GIDS_BOOL, 2, (int64_t[]){2, 3}, (bool[]){true, false, true, false, false, true});
    gids_tensor *a = leaf(1, (int64_t[]){3}, (double[]){0.5, -1.5, 2.0});
    gids_tensor *b = leaf(2, (int64_t[]){2, 1}, (double[]){3.0, -4.0});
    gids_tensor *in[2] = {a, b};
    GRADCHECK(where_fn, 2, in, cond);

    gids_tensor *y = NULL, *o = NULL;
    CHECK_OK(gids_ag_where(&y, cond, a, b));
    CHECK(strcmp(gids_grad_fn_name(y), "WhereBackward") == 0);
    CHECK_OK(gids_ones(&o, GIDS_F64, GIDS_DEVICE_CPU, 2, (int64_t[]){2, 3}));
    CHECK_OK(gids_set_grad(a, NULL));
    CHECK_OK(gids_set_grad(b, NULL));
    CHECK_OK(gids_backward(y, o, false));
    check_shape(gids_grad(a), 1, (int64_t[]){3});
    check_values(gids_grad(a), 3, (double[]){1, 0, 2}); /* chosen once, never, twice */
    check_shape(gids_grad(b), 2, (int64_t[]){2, 1});
    check_values(gids_grad(b), 2, (double[]){1, 2});
    gids_tensor_release(o), gids_tensor_release(y);

    /* Only one side requiring grad: the other gets nothing. */
    gids_tensor *plain = from(GIDS_F64, 1, (int64_t[]){3}, (double[]){1, 2, 3});
    CHECK_OK(gids_set_grad(b, NULL));
    CHECK_OK(gids_ag_where(&y, cond, plain, b));
    CHECK(gids_requires_grad(y));
    CHECK_OK(gids_ones(&o, GIDS_F64, GIDS_DEVICE_CPU, 2, (int64_t[]){2, 3}));
    CHECK_OK(gids_backward(y, o, false));
    check_values(gids_grad(b), 2, (double[]){1, 2});
    CHECK(gids_grad(plain) == NULL);
    gids_tensor_release(o), gids_tensor_release(y), gids_tensor_release(plain);
    gids_tensor_release(cond), gids_tensor_release(a), gids_tensor_release(b);
}

TEST(activations_of_tensors_without_grad_record_nothing) {
    gids_tensor *x = from(GIDS_F64, 1, (int64_t[]){2}, (double[]){-1, 1}), *y = NULL;
    CHECK_OK(gids_ag_elu(&y, x, 1.0));
    CHECK(!gids_requires_grad(y));
    gids_tensor_release(y);
    gids_tensor *g = leaf(1, (int64_t[]){2}, (double[]){-1, 1});
    bool old = gids_set_grad_enabled(false);
    CHECK_OK(gids_ag_softplus(&y, g, 1.0, 20.0));
    gids_set_grad_enabled(old);
    CHECK(!gids_requires_grad(y));
    gids_tensor_release(y), gids_tensor_release(x), gids_tensor_release(g);
}

int main(void) {
    RUN(every_differentiable_unary_op_matches_finite_differences);
    RUN(unary_results_record_the_right_node);
    RUN(bool_valued_unary_ops_record_nothing);
    RUN(kinks_take_torch_subgradients);
    RUN(an_f32_input_gets_an_f32_gradient);
    RUN(anomaly_mode_names_the_op_that_made_a_nan);
    RUN(parameterised_activations_match_finite_differences);
    RUN(clamp_passes_the_gradient_strictly_inside_its_bounds_and_kinks_go_negative);
    RUN(where_sends_the_gradient_to_the_chosen_side_through_broadcasting);
    RUN(activations_of_tensors_without_grad_record_nothing);
    return check_summary("ag_elementwise");
}
