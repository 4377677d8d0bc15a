/* test_ag_reduce.c -- backward formulas of reductions, var/std/norm, max_dim/min_dim, softmax,
 * log_softmax, cumsum and cumprod: finite differences over dim lists (all, one, several,
 * negative), keepdim, transposed inputs and 0-d inputs; then the points finite differences
 * cannot judge: ties (even split for amax, the returned index for max_dim), zeros for prod and
 * cumprod, zero variance and the zero vector; the fused softmax backward against the composed
 * form it replaced. */
#include <math.h>
#include <string.h>

#include "gradcheck.h"
#include "helpers.h"

/* 24 distinct values, none zero, both signs (for [2,3,4] or [4,6] inputs). */
static const double vals_[24] = {
    0.31, -1.24, 0.57,  1.93, -0.48, 0.72, -1.61, 0.15,  1.08, -0.86, 0.44, -0.23,
    1.37, 0.66,  -0.95, 0.28, -1.12, 0.83, 0.51,  -0.37, 1.64, -0.79, 0.19, -1.46,
};

static gids_tensor *leaf(int nd, const int64_t *shape, const double *v) {
    gids_tensor *t = from(GIDS_F64, nd, shape, v);
    CHECK_OK(gids_set_requires_grad(t, true));
    return t;
}

typedef enum {
    F_REDUCE,
    F_VAR,
    F_STD,
    F_NORM,
    F_MAX,
    F_MIN,
    F_SOFTMAX,
    F_LOGSOFTMAX,
    F_CUMSUM,
    F_CUMPROD
} fn_kind;

typedef struct {
    fn_kind kind;
    gids_redop op;
    int ndims;
    int dims[3];
    bool keepdim, transposed; /* transposed: dims 0 and last of the input swapped first */
    int64_t correction;
    double p;
} fn_ctx;

static gids_status apply(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const fn_ctx *c = ctx;
    gids_tensor *x = in[0];
    if (c->transposed)
        GIDS_TRY(gids_ag_transpose(&x, in[0], 0, in[0]->ndim - 1));
    else
        gids_tensor_retain(x);
    gids_status st = GIDS_OK;
    switch (c->kind) {
    case F_REDUCE: st = gids_ag_reduce(out, c->op, x, c->ndims, c->dims, c->keepdim); break;
    case F_VAR: st = gids_ag_var(out, x, c->ndims, c->dims, c->correction, c->keepdim); break;
    case F_STD: st = gids_ag_std(out, x, c->ndims, c->dims, c->correction, c->keepdim); break;
    case F_NORM: st = gids_ag_norm(out, x, c->p, c->ndims, c->dims, c->keepdim); break;
    case F_MAX: st = gids_ag_max_dim(out, NULL, x, c->dims[0], c->keepdim); break;
    case F_MIN: st = gids_ag_min_dim(out, NULL, x, c->dims[0], c->keepdim); break;
    case F_SOFTMAX: st = gids_ag_softmax(out, x, c->dims[0]); break;
    case F_LOGSOFTMAX: st = gids_ag_log_softmax(out, x, c->dims[0]); break;
    case F_CUMSUM: st = gids_ag_cumsum(out, x, c->dims[0]); break;
    case F_CUMPROD: st = gids_ag_cumprod(out, x, c->dims[0]); break;
    }
    gids_tensor_release(x);
    return st;
}

/* GRADCHECK of c over a fresh leaf of the given shape and values, naming the case on failure. */
static void check_case(const fn_ctx *c, int nd, const int64_t *shape, const double *v,
                       const char *what) {
    gids_tensor *x = leaf(nd, shape, v);
    int before = check_test_failed_;
    check_test_failed_ = 0;
    GRADCHECK(apply, 1, &x, (void *)c);
    if (check_test_failed_)
        fprintf(stderr, "  (%s: ndims %d dims {%d,%d} keepdim %d transposed %d)\n", what, c->ndims,
                c->dims[0], c->dims[1], c->keepdim, c->transposed);
    check_test_failed_ |= before;
    gids_tensor_release(x);
}

/* The dim lists every reduction is checked over, with keepdim on and off and a transposed
 * input: all dims, one, two (one negative), all three listed. */
static const struct {
    int ndims, dims[3];
} dim_lists_[] = {{0, {0}}, {1, {1}}, {1, {-1}}, {2, {0, -1}}, {2, {2, 1}}, {3, {0, 1, 2}}};

static void check_over_dims(fn_ctx c, const double *v, const char *what) {
    const int64_t shape[3] = {2, 3, 4};
    for (size_t i = 0; i < sizeof dim_lists_ / sizeof dim_lists_[0]; i++)
        for (int k = 0; k < 4; k++) {
            c.ndims = dim_lists_[i].ndims;
            memcpy(c.dims, dim_lists_[i].dims, sizeof c.dims);
            c.keepdim = k & 1;
            c.transposed = k >> 1;
            check_case(&c, 3, shape, v, what);
        }
    /* A 0-d input reduces to itself (var/std of one element with a correction are NaN). */
    c.ndims = 0, c.keepdim = false, c.transposed = false;
    if ((c.kind != F_VAR && c.kind != F_STD) || c.correction == 0)
        check_case(&c, 0, NULL, (double[]){0.7}, what);
}

TEST(reductions_match_finite_differences_over_dim_lists) {
    gids_redop ops[] = {GIDS_SUM, GIDS_MEAN, GIDS_PROD, GIDS_AMAX, GIDS_AMIN, GIDS_LOGSUMEXP};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        check_over_dims((fn_ctx){.kind = F_REDUCE, .op = ops[i]}, vals_, gids_redop_name(ops[i]));
}

TEST(prod_is_exact_with_zeros) {
    /* Rows of the last dim with no zero, one zero, and two zeros; a zero at either end. */
    const double v[24] = {0.5, -1.5, 2.0, 0.7,  0.0, 1.3,  -0.6, 0.9, 0.0, 0.4, 0.0, 1.1,
                          0.0, 0.8,  1.2, -0.9, 1.4, -0.3, 0.6,  0.0, 0.0, 0.0, 0.0, 0.0};
    check_over_dims((fn_ctx){.kind = F_REDUCE, .op = GIDS_PROD}, v, "prod with zeros");
    /* Exact values: d/dx of prod [2, 0, 3] is [0, 6, 0]; of [0, 0, 3] all zero. */
    gids_tensor *x = leaf(2, (int64_t[]){2, 3}, (double[]){2, 0, 3, 0, 0, 3}), *y = NULL, *o = NULL;
    CHECK_OK(gids_ag_reduce(&y, GIDS_PROD, x, 1, (int[]){1}, false));
    CHECK_OK(gids_ones(&o, GIDS_F64, GIDS_DEVICE_CPU, 1, (int64_t[]){2}));
    CHECK_OK(gids_backward(y, o, false));
    check_values(gids_grad(x), 6, (double[]){0, 6, 0, 0, 0, 0});
    gids_tensor_release(o), gids_tensor_release(y), gids_tensor_release(x);
}

/* sum(op(x)) backward with ones, then x's gradient against want. */
static void check_grad_of(const fn_ctx *c, int nd, const int64_t *shape, const double *xv,
                          const double *want) {
    gids_tensor *x = leaf(nd, shape, xv), *y = NULL, *s = NULL;
    CHECK_OK(apply(&y, &x, (void *)c));
    CHECK_OK(gids_ag_reduce(&s, GIDS_SUM, y, 0, NULL, false));
    CHECK_OK(gids_backward(s, NULL, false));
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    check_close(gids_grad(x), (int)n, want, 1e-12);
    gids_tensor_release(s), gids_tensor_release(y), gids_tensor_release(x);
}

TEST(amax_and_amin_split_the_gradient_among_ties) {
    const int64_t shape[2] = {2, 3};
    const double v[6] = {3, 1, 3, 2, 2, 2};
    fn_ctx c = {.kind = F_REDUCE, .op = GIDS_AMAX, .ndims = 1, .dims = {1}};
    check_grad_of(&c, 2, shape, v, (double[]){0.5, 0, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3});
    c.op = GIDS_AMIN;
    check_grad_of(&c, 2, shape, v, (double[]){0, 1, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3});
    c.op = GIDS_AMAX, c.ndims = 0; /* over everything: the two 3s */
    check_grad_of(&c, 2, shape, v, (double[]){0.5, 0, 0.5, 0, 0, 0});
}

TEST(any_and_all_record_nothing) {
    gids_tensor *x = leaf(1, (int64_t[]){3}, (double[]){0, 1, 2}), *y = NULL;
    CHECK_OK(gids_ag_reduce(&y, GIDS_ANY, x, 0, NULL, false));
    CHECK(!gids_requires_grad(y) && y->dtype == GIDS_BOOL);
    gids_tensor_release(y);
    CHECK_OK(gids_ag_reduce(&y, GIDS_ALL, x, 0, NULL, false));
    CHECK(!gids_requires_grad(y));
    gids_tensor_release(y);
    CHECK_OK(gids_ag_reduce(&y, GIDS_SUM, x, 0, NULL, false));
    CHECK(strcmp(gids_grad_fn_name(y), "SumBackward") == 0);
    gids_tensor_release(y), gids_tensor_release(x);
}

TEST(var_and_std_match_finite_differences) {
    for (int64_t corr = 0; corr <= 1; corr++) {
        check_over_dims((fn_ctx){.kind = F_VAR, .correction = corr}, vals_, "var");
        check_over_dims((fn_ctx){.kind = F_STD, .correction = corr}, vals_, "std");
    }
    /* A larger correction where the reduced dims leave degrees of freedom (8 - 3). */
    const int64_t shape[3] = {2, 3, 4};
    for (int k = 0; k < 4; k++) {
        fn_ctx c = {.kind = k < 2 ? F_VAR : F_STD,
                    .ndims = 2,
                    .dims = {0, -1},
                    .correction = 3,
                    .keepdim = k & 1};
        check_case(&c, 3, shape, vals_, "var/std correction 3");
    }
}

TEST(std_of_a_constant_slice_has_a_zero_gradient) {
    fn_ctx c = {.kind = F_STD, .ndims = 1, .dims = {1}, .correction = 1};
    /* Row 0 is constant (std 0: torch masks the gradient to 0), row 1 is not. */
    gids_tensor *x = leaf(2, (int64_t[]){2, 3}, (double[]){2, 2, 2, 1, 2, 4}), *y = NULL, *s = NULL;
    CHECK_OK(apply(&y, &x, &c));
    CHECK_OK(gids_ag_reduce(&s, GIDS_SUM, y, 0, NULL, false));
    CHECK_OK(gids_backward(s, NULL, false));
    for (int i = 0; i < 3; i++) CHECK(at(gids_grad(x), i) == 0.0);
    for (int i = 3; i < 6; i++) CHECK(isfinite(at(gids_grad(x), i)) && at(gids_grad(x), i) != 0.0);
    gids_tensor_release(s), gids_tensor_release(y), gids_tensor_release(x);
}

TEST(norms_match_finite_differences_for_every_p) {
    const double ps[] = {1, 2, INFINITY, -INFINITY, 3, 1.5, 0.5, -1.5};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        char what[32];
        snprintf(what, sizeof what, "norm p=%g", ps[i]);
        check_over_dims((fn_ctx){.kind = F_NORM, .p = ps[i]}, vals_, what);
    }
}

TEST(norm_gradients_at_zero_and_for_p0) {
    fn_ctx c = {.kind = F_NORM, .p = 2};
    const int64_t shape[1] = {3};
    check_grad_of(&c, 1, shape, (double[]){0, 0, 0}, (double[]){0, 0, 0});
    c.p = 0; /* a count of non-zeros: piecewise constant */
    check_grad_of(&c, 1, shape, (double[]){1, 0, -2}, (double[]){0, 0, 0});
    c.p = 1;
    check_grad_of(&c, 1, shape, (double[]){1, 0, -2}, (double[]){1, 0, -1});
    c.p = INFINITY; /* |2| and |-2| tie: half each, with the sign */
    check_grad_of(&c, 1, shape, (double[]){2, 1, -2}, (double[]){0.5, 0, -0.5});
    c.p = 3; /* all zero: 0, not NaN */
    check_grad_of(&c, 1, shape, (double[]){0, 0, 0}, (double[]){0, 0, 0});
}

/* ---------------------------------------------------------------- along one dim */
static void check_along_dims(fn_ctx c, const double *v, const char *what) {
    const int64_t shape[3] = {2, 3, 4};
    const int dims[4] = {0, 1, 2, -2};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++) {
            c.dims[0] = dims[i];
            c.keepdim = k & 1;
            c.transposed = k >> 1;
            check_case(&c, 3, shape, v, what);
        }
    c.dims[0] = 0, c.keepdim = false, c.transposed = false;
    check_case(&c, 0, NULL, (double[]){0.7}, what);
    c.dims[0] = -1;
    check_case(&c, 1, (int64_t[]){1}, (double[]){0.7}, what); /* a dim of size 1 */
}

TEST(max_min_softmax_and_scans_match_finite_differences) {
    check_along_dims((fn_ctx){.kind = F_MAX}, vals_, "max_dim");
    check_along_dims((fn_ctx){.kind = F_MIN}, vals_, "min_dim");
    check_along_dims((fn_ctx){.kind = F_SOFTMAX}, vals_, "softmax");
    check_along_dims((fn_ctx){.kind = F_LOGSOFTMAX}, vals_, "log_softmax");
    check_along_dims((fn_ctx){.kind = F_CUMSUM}, vals_, "cumsum");
    check_along_dims((fn_ctx){.kind = F_CUMPROD}, vals_, "cumprod");
}

TEST(cumprod_is_exact_with_zeros) {
    /* Along the last dim: no zero, a zero first, one in the middle, two, a zero last, all. */
    const double v[24] = {0.5, -1.5, 2.0, 0.7, 0.0, 1.3,  -0.6, 0.9, 0.8, 0.0, 1.1, -0.7,
                          0.6, 0.0,  1.2, 0.0, 1.4, -0.3, 0.6,  0.0, 0.0, 0.0, 0.0, 0.0};
    check_along_dims((fn_ctx){.kind = F_CUMPROD}, v, "cumprod with zeros");
    /* x = [2, 0, 3, 4]: out = [2, 0, 0, 0]; with g = 1, d/dx = [1, 2 + 6 + 24, 0, 0]. */
    fn_ctx c = {.kind = F_CUMPROD, .dims = {0}};
    check_grad_of(&c, 1, (int64_t[]){4}, (double[]){2, 0, 3, 4}, (double[]){1, 32, 0, 0});
}

TEST(max_dim_sends_the_gradient_to_the_returned_index) {
    gids_tensor *x = leaf(2, (int64_t[]){2, 3}, (double[]){1, 5, 5, 4, 4, 0});
    gids_tensor *v = NULL, *i = NULL, *o = NULL;
    CHECK_OK(gids_ag_max_dim(&v, &i, x, -1, false));
    CHECK(strcmp(gids_grad_fn_name(v), "MaxBackward") == 0);
    CHECK(!gids_requires_grad(i) && i->dtype == GIDS_I64);
    CHECK(same_i(i, 2, (int64_t[]){1, 0}));
    CHECK_OK(gids_ones(&o, GIDS_F64, GIDS_DEVICE_CPU, 1, (int64_t[]){2}));
    CHECK_OK(gids_backward(v, o, false));
    check_values(gids_grad(x), 6, (double[]){0, 1, 0, 1, 0, 0});
    gids_tensor_release(v), gids_tensor_release(i), gids_tensor_release(o);
    o = NULL;
    CHECK_OK(gids_set_grad(x, NULL));
    CHECK_OK(gids_ag_min_dim(&v, NULL, x, 0, true)); /* indices not asked for */
    CHECK_OK(gids_ones(&o, GIDS_F64, GIDS_DEVICE_CPU, 2, (int64_t[]){1, 3}));
    CHECK_OK(gids_backward(v, o, false));
    check_values(gids_grad(x), 6, (double[]){1, 0, 0, 0, 1, 1});
    gids_tensor_release(o), gids_tensor_release(v), gids_tensor_release(x);
}

TEST(an_f32_input_gets_an_f32_gradient) {
    gids_tensor *x = from(GIDS_F32, 2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4}), *y = NULL;
    CHECK_OK(gids_set_requires_grad(x, true));
    CHECK_OK(gids_ag_reduce(&y, GIDS_MEAN, x, 1, (int[]){0}, false));
    gids_tensor *o = NULL;
    CHECK_OK(gids_ones(&o, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){2}));
    CHECK_OK(gids_backward(y, o, false));
    CHECK(gids_grad(x) != NULL && gids_grad(x)->dtype == GIDS_F32);
    check_values(gids_grad(x), 4, (double[]){0.5, 0.5, 0.5, 0.5});
    gids_tensor_release(o), gids_tensor_release(y), gids_tensor_release(x);
}

/* ---------------------------------------------------------------- the fused softmax backward */
/* The composed form gids_softmax_backward replaced (ag_scan.c before it): softmax
 * y * (g - sum(g * y)), log_softmax g - exp(y) * sum(g), sums along dim with keepdim. */
static gids_tensor *composed_softmax_backward(const gids_tensor *g, const gids_tensor *y, int dim,
                                              bool log_) {
    gids_tensor *a = NULL, *b = NULL, *c = NULL, *r = NULL;
    if (log_) {
        CHECK_OK(gids_reduce(&a, GIDS_SUM, g, 1, &dim, true));
        CHECK_OK(gids_unary(&b, GIDS_EXP, y));
        CHECK_OK(gids_binary(&c, GIDS_MUL, b, a));
        CHECK_OK(gids_binary(&r, GIDS_SUB, g, c));
    } else {
        CHECK_OK(gids_binary(&a, GIDS_MUL, g, y));
        CHECK_OK(gids_reduce(&b, GIDS_SUM, a, 1, &dim, true));
        CHECK_OK(gids_binary(&c, GIDS_SUB, g, b));
        CHECK_OK(gids_binary(&r, GIDS_MUL, y, c));
    }
    gids_tensor_release(a), gids_tensor_release(b), gids_tensor_release(c);
    return r;
}

/* Largest |a - b| over max(1, max |b|), both contiguous f32 of n elements. */
static double rel_diff_f32(const gids_tensor *a, const gids_tensor *b, int64_t n) {
    const float *p = gids_tensor_data(a), *q = gids_tensor_data(b);
    double d = 0, scale = 1;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)p[i] - (double)q[i]);
        d = e > d || e != e ? e : d;
        scale = fabs((double)q[i]) > scale ? fabs((double)q[i]) : scale;
    }
    return d / scale;
}

/* f32 rows shorter than 64 along the last dim and every slice across it: the composed form's
 * bits (the unary op's exp); rows of 64 and more (the vectorised exp): within 1e-6 of it. */
TEST(softmax_backward_keeps_the_composed_forms_bits) {
    const int64_t cols[] = {2, 5, 63, 64, 2049};
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
        int64_t shape[2] = {37, cols[k]}, n = 37 * cols[k];
        gids_tensor *x = NULL, *g = NULL;
        CHECK_OK(gids_randn(&x, NULL, GIDS_F32, 2, shape));
        CHECK_OK(gids_randn(&g, NULL, GIDS_F32, 2, shape));
        for (int log_ = 0; log_ < 2; log_++)
            for (int dim = 0; dim < 2; dim++) {
                gids_tensor *y = NULL, *fused = NULL;
                CHECK_OK(log_ ? gids_log_softmax(&y, x, dim) : gids_softmax(&y, x, dim));
                CHECK_OK(gids_softmax_backward(&fused, g, y, dim, log_));
                gids_tensor *want = composed_softmax_backward(g, y, dim, log_);
                bool exact = dim == 0 || cols[k] < 64;
                if (exact)
                    CHECK(memcmp(gids_tensor_data(fused), gids_tensor_data(want),
                                 (size_t)n * sizeof(float)) == 0);
                else
                    CHECK(rel_diff_f32(fused, want, n) <= 1e-6);
                if (check_test_failed_)
                    fprintf(stderr, "  (%s, %lld columns, dim %d)\n",
                            log_ ? "log_softmax" : "softmax", (long long)cols[k], dim);
                gids_tensor_release(y), gids_tensor_release(fused), gids_tensor_release(want);
            }
        gids_tensor_release(x), gids_tensor_release(g);
    }
}

/* -inf logits give probability 0 and a zero gradient; a NaN row stays NaN; bad arguments are
 * refused naming what is wrong. */
TEST(softmax_backward_edges_and_refusals) {
    int64_t shape[2] = {2, 70};
    float xs[140], gs[140];
    for (int i = 0; i < 140; i++) xs[i] = (float)(i % 7) * 0.5f, gs[i] = (float)(i % 5) - 2;
    xs[3] = -INFINITY; /* row 0: one -inf logit */
    xs[70 + 9] = NAN;  /* row 1: NaN */
    gids_tensor *x = from(GIDS_F32, 2, shape, xs), *g = from(GIDS_F32, 2, shape, gs), *y = NULL;
    for (int log_ = 0; log_ < 2; log_++) {
        gids_tensor *r = NULL;
        CHECK_OK(log_ ? gids_log_softmax(&y, x, 1) : gids_softmax(&y, x, 1));
        CHECK_OK(gids_softmax_backward(&r, g, y, 1, log_));
        const float *rp = gids_tensor_data(r);
        /* softmax: y = 0 there, so 0; log_softmax: g - 0 * sum = g */
        CHECK(rp[3] == (log_ ? gs[3] : 0.0f));
        CHECK(rp[70] != rp[70] && rp[139] != rp[139]);
        gids_tensor_release(r), gids_tensor_release(y);
    }
    gids_tensor *o = NULL, *i = NULL, *d = NULL, *short_ = NULL;
    CHECK_OK(gids_to_dtype(&d, g, GIDS_F64));
    CHECK_ERR(gids_softmax_backward(&o, d, x, 1, true), GIDS_EDTYPE,
              "log_softmax_backward: grad and result must be float tensors of one dtype, got f64 "
              "and f32");
    CHECK_OK(gids_to_dtype(&i, g, GIDS_I64));
    CHECK_ERR(gids_softmax_backward(&o, i, i, 1, false), GIDS_EDTYPE,
              "softmax_backward: grad and result must be float tensors");
    CHECK_OK(gids_narrow(&short_, g, 1, 0, 69));
    CHECK_ERR(gids_softmax_backward(&o, short_, x, 1, false), GIDS_ESHAPE,
              "softmax_backward: grad has shape [2,69], the result [2,70]");
    CHECK_ERR(gids_softmax_backward(&o, g, x, 2, false), GIDS_EINDEX,
              "softmax_backward: dim 2 out of range");
    CHECK_ERR(gids_softmax_backward(NULL, g, x, 1, false), GIDS_EINVAL, "out is NULL");
    gids_tensor_release(d), gids_tensor_release(i), gids_tensor_release(short_);
    gids_tensor_release(x), gids_tensor_release(g);
}

/* log_softmax_backward takes any result y from a C caller: where e^y overflows f32 the
 * gradient is -inf on a long row (the vectorised path) as on a short one (libm), not garbage. */
TEST(log_softmax_backward_of_large_results_overflows_alike) {
    for (int len = 8; len <= 72; len += 64) {
        int64_t shape[2] = {1, len};
        float ys[72], gs[72];
        for (int i = 0; i < len; i++) ys[i] = -1.0f, gs[i] = 1.0f;
        ys[0] = 100.0f, ys[1] = 89.0f, ys[2] = INFINITY;
        gids_tensor *y = from(GIDS_F32, 2, shape, ys), *g = from(GIDS_F32, 2, shape, gs), *r = NULL;
        CHECK_OK(gids_softmax_backward(&r, g, y, 1, true));
        const float *rp = gids_tensor_data(r);
        for (int i = 0; i < 3; i++)
            if (!(isinf(rp[i]) && rp[i] < 0))
                CHECK_FAIL_("row of %d, y = %g: %g, want -inf", len, (double)ys[i], (double)rp[i]);
        CHECK_NEAR(rp[3], 1.0 - exp(-1.0) * len, 1e-4);
        gids_tensor_release(r), gids_tensor_release(y), gids_tensor_release(g);
    }
}

int main(void) {
    RUN(reductions_match_finite_differences_over_dim_lists);
    RUN(prod_is_exact_with_zeros);
    RUN(amax_and_amin_split_the_gradient_among_ties);
    RUN(any_and_all_record_nothing);
    RUN(var_and_std_match_finite_differences);
    RUN(std_of_a_constant_slice_has_a_zero_gradient);
    RUN(norms_match_finite_differences_for_every_p);
    RUN(norm_gradients_at_zero_and_for_p0);
    RUN(max_min_softmax_and_scans_match_finite_differences);
    RUN(cumprod_is_exact_with_zeros);
    RUN(max_dim_sends_the_gradient_to_the_returned_index);
    RUN(an_f32_input_gets_an_f32_gradient);
    RUN(softmax_backward_keeps_the_composed_forms_bits);
    RUN(softmax_backward_edges_and_refusals);
    RUN(log_softmax_backward_of_large_results_overflows_alike);
    return check_summary("ag_reduce");
}
