/* test_autograd.c -- the engine: recording, backward, accumulation, broadcasting, saved-tensor
 * versions, retain_graph, grad mode, deep graphs, and finite-difference checks of the binary
 * op formulas. */
#include <stdlib.h>

#include "check.h"
#include "gids/autograd.h"

static gids_tensor *vec64(int n, const double *v, bool requires_grad) {
    gids_tensor *t = NULL;
    int64_t s = n;
    CHECK_OK(gids_from_buffer(&t, GIDS_F64, 1, &s, v));
    if (requires_grad) CHECK_OK(gids_set_requires_grad(t, true));
    return t;
}

static double at(const gids_tensor *t, int64_t i) {
    double v = NAN;
    CHECK_OK(gids_tensor_get(t, i, &v));
    return v;
}

static gids_tensor *ones_like(const gids_tensor *t) {
    gids_tensor *o = NULL;
    CHECK_OK(gids_ones(&o, t->dtype, GIDS_DEVICE_CPU, t->ndim, t->shape));
    return o;
}

/* Runs backward(out, ones) and releases the ones. */
static void backward_ones(gids_tensor *out, bool retain) {
    gids_tensor *o = ones_like(out);
    CHECK_OK(gids_backward(out, o, retain));
    gids_tensor_release(o);
}

TEST(mul_gives_the_other_factor_and_accumulates) {
    gids_tensor *x = vec64(3, (double[]){1, 2, 3}, true), *y = NULL;
    CHECK_OK(gids_ag_binary(&y, GIDS_MUL, x, x));
    CHECK(gids_requires_grad(y) && !gids_is_leaf(y));
    CHECK(strcmp(gids_grad_fn_name(y), "MulBackward") == 0);
    backward_ones(y, true);
    CHECK(at(gids_grad(x), 2) == 6.0);
    backward_ones(y, false); /* a second pass adds */
    CHECK(at(gids_grad(x), 2) == 12.0);
    CHECK_ERR(gids_backward(y, NULL, false), GIDS_EINVAL, "one-element root");
    gids_tensor *o = ones_like(y);
    CHECK_ERR(gids_backward(y, o, false), GIDS_ESTATE, "MulBackward: its saved tensors were freed");
    gids_tensor_release(o), gids_tensor_release(y), gids_tensor_release(x);
}

TEST(broadcast_gradients_sum_to_the_input_shape) {
    gids_tensor *a = NULL, *b = vec64(4, (double[]){1, 2, 3, 4}, true), *y = NULL;
    CHECK_OK(gids_from_buffer(&a, GIDS_F64, 2, (int64_t[]){3, 1}, (double[]){1, 10, 100}));
    CHECK_OK(gids_set_requires_grad(a, true));
    CHECK_OK(gids_ag_binary(&y, GIDS_MUL, a, b)); /* [3,4] */
    backward_ones(y, false);
    const gids_tensor *ga = gids_grad(a), *gb = gids_grad(b);
    CHECK(ga->ndim == 2 && ga->shape[0] == 3 && ga->shape[1] == 1);
    CHECK(at(ga, 1) == 10.0);  /* sum of b */
    CHECK(at(gb, 0) == 111.0); /* sum of a */
    gids_tensor_release(a), gids_tensor_release(b), gids_tensor_release(y);
}

TEST(in_place_change_of_a_saved_tensor_is_caught) {
    gids_tensor *w = vec64(2, (double[]){1, 2}, true), *x = vec64(2, (double[]){3, 4}, false);
    gids_tensor *y = NULL;
    CHECK_OK(gids_ag_binary(&y, GIDS_MUL, w, x)); /* saves x */
    CHECK_OK(gids_binary_scalar_into(x, GIDS_ADD, x, gids_scalar_i(1), false));
    gids_tensor *o = ones_like(y);
    CHECK_ERR(gids_backward(y, o, false), GIDS_ESTATE,
              "MulBackward: a tensor saved for backward was modified in place");
    CHECK_ERR(gids_ag_check_inplace("add_", w, 0, NULL), GIDS_ESTATE,
              "add_: a tensor that requires grad cannot be modified in place");
    bool old = gids_set_grad_enabled(false);
    CHECK_OK(gids_ag_check_inplace("add_", w, 0, NULL)); /* parameter updates under no_grad */
    gids_set_grad_enabled(old);
    gids_tensor_release(o), gids_tensor_release(y), gids_tensor_release(w), gids_tensor_release(x);
}

TEST(no_grad_records_nothing_and_detach_cuts_the_graph) {
    gids_tensor *x = vec64(2, (double[]){1, 2}, true), *y = NULL, *d = NULL;
    bool old = gids_set_grad_enabled(false);
    CHECK_OK(gids_ag_binary(&y, GIDS_MUL, x, x));
    gids_set_grad_enabled(old);
    CHECK(!gids_requires_grad(y) && gids_grad_fn_name(y) == NULL);
    CHECK_ERR(gids_backward(y, NULL, false), GIDS_ESTATE, "does not require grad");
    CHECK_OK(gids_detach(&d, x));
    CHECK(!gids_requires_grad(d) && d->storage == x->storage);
    gids_tensor *i = NULL;
    CHECK_OK(gids_zeros(&i, GIDS_I64, GIDS_DEVICE_CPU, 1, (int64_t[]){2}));
    CHECK_ERR(gids_set_requires_grad(i, true), GIDS_EDTYPE, "only float tensors");
    gids_tensor *z = NULL;
    CHECK_OK(gids_ag_binary(&z, GIDS_ADD, x, x));
    CHECK_ERR(gids_set_requires_grad(z, false), GIDS_ESTATE, "only leaf tensors");
    gids_tensor_release(i);
    i = NULL;
    CHECK_OK(gids_ag_binary(&i, GIDS_LT, x, x));
    CHECK(!gids_requires_grad(i)); /* comparisons are not differentiable */
    gids_tensor_release(x), gids_tensor_release(y), gids_tensor_release(d);
    gids_tensor_release(i), gids_tensor_release(z);
}

TEST(a_long_chain_runs_and_dies_without_deep_recursion) {
    gids_tensor *x = vec64(1, (double[]){1}, true);
    gids_tensor *y = x;
    gids_tensor_retain(y);
    for (int i = 0; i < 200000; i++) {
        gids_tensor *z = NULL;
        CHECK_OK(gids_ag_binary_scalar(&z, GIDS_MUL, y, gids_scalar_f(1.0), false));
        gids_tensor_release(y);
        y = z;
    }
    CHECK_OK(gids_backward(y, NULL, false));
    CHECK(at(gids_grad(x), 0) == 1.0);
    gids_tensor_release(y); /* frees 200000 nodes one after the other */
    gids_tensor_release(x);
}

TEST(leaf_gradients_are_never_shared) {
    gids_tensor *a = vec64(2, (double[]){1, 2}, true), *b = vec64(2, (double[]){3, 4}, true);
    gids_tensor *y = NULL;
    CHECK_OK(gids_ag_binary(&y, GIDS_ADD, a, b)); /* both get the same incoming gradient */
    backward_ones(y, false);
    CHECK(gids_grad(a) != gids_grad(b));
    CHECK_OK(gids_fill_(gids_grad(a), gids_scalar_i(7)));
    CHECK(at(gids_grad(b), 0) == 1.0);
    gids_tensor_release(a), gids_tensor_release(b), gids_tensor_release(y);
}

/* Central differences in f64 against backward for out = a op b (and a op 1.7, 1.7 op a). */
static void check_binop_grad(gids_binop op, const double *av, const double *bv) {
    const int n = 3;
    for (int form = 0; form < 3; form++) {
        gids_tensor *a = vec64(n, av, true), *b = vec64(n, bv, form == 0), *y = NULL;
        gids_status st = form == 0   ? gids_ag_binary(&y, op, a, b)
                         : form == 1 ? gids_ag_binary_scalar(&y, op, a, gids_scalar_f(1.7), false)
                                     : gids_ag_binary_scalar(&y, op, a, gids_scalar_f(1.7), true);
        CHECK_OK(st);
        backward_ones(y, false);
        for (int which = 0; which < (form == 0 ? 2 : 1); which++) {
            gids_tensor *p = which == 0 ? a : b;
            for (int i = 0; i < n; i++) {
                double *v = (double *)p->storage->data, keep = v[i], h = 1e-6, f[2];
                for (int k = 0; k < 2; k++) {
                    v[i] = keep + (k ? -h : h);
                    gids_tensor *r = NULL;
                    bool old = gids_set_grad_enabled(false);
                    st = form == 0 ? gids_binary(&r, op, a, b)
                                   : gids_binary_scalar(&r, op, a, gids_scalar_f(1.7), form == 2);
                    gids_set_grad_enabled(old);
                    CHECK_OK(st);
                    f[k] = 0;
                    for (int j = 0; j < n; j++) f[k] += at(r, j);
                    gids_tensor_release(r);
                }
                v[i] = keep;
                double num = (f[0] - f[1]) / (2 * h), ana = at(gids_grad(p), i);
                if (fabs(num - ana) > 1e-5 * (1 + fabs(num)))
                    CHECK_FAIL_("%s form %d input %d[%d]: numeric %.9g, backward %.9g",
                                gids_binop_name(op), form, which, i, num, ana);
            }
        }
        gids_tensor_release(a), gids_tensor_release(b), gids_tensor_release(y);
    }
}

TEST(binary_formulas_match_finite_differences) {
    const double a[3] = {0.7, -1.3, 2.2}, b[3] = {1.9, 0.4, -0.8}, pos[3] = {0.7, 1.3, 2.2};
    gids_binop ops[] = {GIDS_ADD,     GIDS_SUB,  GIDS_MUL,       GIDS_DIV,  GIDS_MAXIMUM,
                        GIDS_MINIMUM, GIDS_FMOD, GIDS_REMAINDER, GIDS_ATAN2};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) check_binop_grad(ops[i], a, b);
    check_binop_grad(GIDS_POW, pos, b); /* a real base for a^b */
}

TEST(a_gradient_passed_through_a_view_is_copied_into_grad) {
    gids_tensor *x = vec64(6, (double[]){1, 2, 3, 4, 5, 6}, true), *v = NULL, *w = NULL;
    CHECK_OK(gids_ag_view(&v, x, 2, (int64_t[]){2, 3}));
    CHECK_OK(gids_ones(&w, GIDS_F64, GIDS_DEVICE_CPU, 2, (int64_t[]){2, 3}));
    CHECK_OK(gids_backward(v, w, false));
    CHECK(gids_grad(x)->storage != w->storage); /* the caller's w stays the caller's */
    CHECK_OK(gids_fill_(w, gids_scalar_i(5)));
    CHECK(at(gids_grad(x), 0) == 1.0);
    gids_tensor_release(x), gids_tensor_release(v), gids_tensor_release(w);
}

static gids_status noop_backward_(gids_node *n, gids_tensor *const *go, gids_tensor **gi) {
    (void)n, (void)go, (void)gi;
    return GIDS_OK;
}

TEST(node_record_refuses_what_backward_could_not_run) {
    gids_tensor *x = vec64(3, (double[]){1, 2, 3}, true), *y = vec64(3, (double[]){0, 0, 0}, false);
    const gids_tensor *ins[1] = {x};
    gids_tensor *outs[1] = {y};
    gids_node *n = NULL;
    CHECK_ERR(gids_node_record(&n, "Custom", NULL, 1, ins, 1, outs, 0, NULL), GIDS_EINVAL,
              "Custom: node_record: backward function fn is NULL");
    CHECK_ERR(gids_node_record(&n, "Custom", noop_backward_, 1, NULL, 1, outs, 0, NULL),
              GIDS_EINVAL, "Custom: node_record: inputs is NULL with nin = 1");
    CHECK_ERR(gids_node_record(&n, "Custom", noop_backward_, -1, ins, 1, outs, 0, NULL),
              GIDS_EINVAL, "nin = -1 and nout = 1 must not be negative");
    CHECK_ERR(gids_node_record(&n, "Custom", noop_backward_, 1, ins, 2, NULL, 0, NULL), GIDS_EINVAL,
              "outputs is NULL with nout = 2");
    CHECK_ERR(gids_node_record(&n, NULL, noop_backward_, 1, ins, 1, outs, 0, NULL), GIDS_EINVAL,
              "node_record: name is NULL");
    CHECK(n == NULL && gids_is_leaf(y)); /* nothing was recorded */
    CHECK_OK(gids_node_record(&n, "Custom", noop_backward_, 1, ins, 1, outs, 0, NULL));
    /* input numbers outside [0, nin) read as absent inputs instead of past the arrays */
    int nd = 7;
    const int64_t *sh = NULL;
    gids_node_input_shape(n, 3, &nd, &sh);
    CHECK(nd == -1 && sh != NULL);
    gids_node_input_shape(n, -1, &nd, &sh);
    CHECK(nd == -1);
    gids_node_input_shape(n, 0, &nd, &sh);
    CHECK(nd == 1 && sh[0] == 3);
    CHECK(gids_node_input_dtype(n, 1) == GIDS_NDTYPES && gids_node_input_dtype(n, 0) == GIDS_F64);
    CHECK(!gids_node_needs_grad(n, 5) && gids_node_needs_grad(n, 0));
    CHECK_ERR(gids_node_save(n, 0, NULL), GIDS_EINVAL, "Custom: node_save: tensor for slot 0");
    gids_node_release(n);
    gids_tensor_release(x), gids_tensor_release(y);
}

TEST(sum_to_refuses_sizes_that_broadcasting_cannot_explain) {
    gids_tensor *g = NULL, *o = NULL;
    CHECK_OK(gids_zeros(&g, GIDS_F32, GIDS_DEVICE_CPU, 2, (int64_t[]){2, 3}));
    CHECK_ERR(gids_sum_to(&o, g, 2, (int64_t[]){4, 3}), GIDS_ESHAPE,
              "sum_to: gradient [2,3] does not reduce to the target [4,3] (gradient size 2 "
              "meets target size 4");
    /* same element count: a view would have hidden the mismatch */
    CHECK_ERR(gids_sum_to(&o, g, 2, (int64_t[]){3, 2}), GIDS_ESHAPE, "does not reduce");
    CHECK_ERR(gids_sum_to(&o, NULL, 1, (int64_t[]){3}), GIDS_EINVAL, "sum_to: gradient is NULL");
    CHECK(o == NULL);
    CHECK_OK(gids_sum_to(&o, g, 2, (int64_t[]){1, 3}));
    CHECK(o->shape[0] == 1 && o->shape[1] == 3);
    gids_tensor_release(o), o = NULL;
    CHECK_OK(gids_sum_to(&o, g, 1, (int64_t[]){1}));
    CHECK(o->ndim == 1 && o->shape[0] == 1);
    gids_tensor_release(o), gids_tensor_release(g);
}

/* autograd.grad: the asked-for gradients only, no .grad touched, and only the nodes that lead
 * to the inputs run (the other branch saved a tensor that was since modified in place). */
TEST(autograd_grad_returns_gradients_and_runs_only_what_leads_to_the_inputs) {
    gids_tensor *x = vec64(3, (double[]){1, 2, 3}, true), *v = vec64(3, (double[]){1, 1, 1}, true);
    gids_tensor *u = vec64(3, (double[]){4, 5, 6}, false), *xx = NULL, *vu = NULL, *y = NULL;
    CHECK_OK(gids_ag_binary(&xx, GIDS_MUL, x, x));
    CHECK_OK(gids_ag_binary(&vu, GIDS_MUL, v, u)); /* saves u */
    CHECK_OK(gids_ag_binary(&y, GIDS_ADD, xx, vu));
    gids_tensor *zero = NULL;
    CHECK_OK(gids_zeros(&zero, GIDS_F64, GIDS_DEVICE_CPU, 1, (int64_t[]){3}));
    CHECK_OK(gids_binary_into(u, GIDS_ADD, u, zero)); /* bumps u's version */
    gids_tensor *o = ones_like(y), *g[2] = {NULL, NULL}, *in[2] = {x, xx};
    CHECK_OK(gids_autograd_grad(1, &y, (const gids_tensor *const[]){o}, 2, in, g, true, false));
    CHECK(at(g[0], 2) == 6.0 && at(g[1], 2) == 1.0);
    CHECK(gids_grad(x) == NULL && gids_grad(v) == NULL);
    /* the same walk through backward reaches v's branch and fails there */
    CHECK_ERR(gids_backward(y, o, true), GIDS_ESTATE, "modified in place");
    gids_tensor_release(g[0]), gids_tensor_release(g[1]);
    /* an input the roots do not depend on */
    gids_tensor *z = vec64(1, (double[]){1}, true), *in2[2] = {z, x};
    CHECK_ERR(gids_autograd_grad(1, &y, (const gids_tensor *const[]){o}, 2, in2, g, true, false),
              GIDS_ESTATE, "input 1 is not used");
    CHECK(g[0] == NULL && g[1] == NULL);
    CHECK_OK(gids_autograd_grad(1, &y, (const gids_tensor *const[]){o}, 2, in2, g, false, true));
    CHECK(g[0] == NULL && at(g[1], 0) == 2.0);
    gids_tensor_release(g[1]);
    /* without retain_graph the nodes that ran freed their saved tensors */
    CHECK_ERR(gids_autograd_grad(1, &y, (const gids_tensor *const[]){o}, 1, &x, g, false, false),
              GIDS_ESTATE, "MulBackward: its saved tensors were freed");
    CHECK_ERR(gids_autograd_grad(1, &y, (const gids_tensor *const[]){o}, 1, &u, g, false, false),
              GIDS_ESTATE, "input 1 does not require grad");
    gids_tensor *obj[] = {o, zero, z, y, vu, xx, u, v, x};
    for (size_t i = 0; i < sizeof obj / sizeof *obj; i++) gids_tensor_release(obj[i]);
}

/* A root that is the input itself: the gradient passed in comes back as a copy of its own. */
TEST(autograd_grad_of_a_leaf_by_itself_is_a_copy_of_the_given_gradient) {
    gids_tensor *x = vec64(2, (double[]){1, 2}, true), *g = vec64(2, (double[]){3, 4}, false);
    gids_tensor *out = NULL;
    CHECK_OK(gids_autograd_grad(1, &x, (const gids_tensor *const[]){g}, 1, &x, &out, false, false));
    CHECK(out != g && out->storage != g->storage && at(out, 1) == 4.0);
    CHECK(gids_grad(x) == NULL);
    gids_tensor_release(out), gids_tensor_release(g), gids_tensor_release(x);
}

/* retain_grad: a non-leaf keeps its gradient, which accumulates; a retained tensor that died
 * before backward is skipped, not written. */
TEST(retain_grad_keeps_a_non_leaf_gradient_and_survives_its_death) {
    gids_tensor *x = vec64(2, (double[]){1, 2}, true), *a = NULL, *b = NULL;
    CHECK_OK(gids_ag_binary_scalar(&a, GIDS_MUL, x, gids_scalar_f(2.0), false));
    CHECK_OK(gids_retain_grad(a));
    CHECK(gids_retains_grad(a) && !gids_retains_grad(x));
    CHECK_OK(gids_retain_grad(x)); /* a leaf: nothing to do */
    CHECK(!gids_retains_grad(x));
    CHECK_OK(gids_ag_binary(&b, GIDS_MUL, a, a));
    backward_ones(b, true);
    CHECK(at(gids_grad(a), 1) == 8.0 && at(gids_grad(x), 1) == 16.0);
    backward_ones(b, true);
    CHECK(at(gids_grad(a), 1) == 16.0);
    gids_tensor_release(a); /* b's graph still holds a's node */
    backward_ones(b, false);
    CHECK(at(gids_grad(x), 1) == 48.0);
    gids_tensor *c = vec64(1, (double[]){1}, false);
    CHECK_ERR(gids_retain_grad(c), GIDS_ESTATE, "does not require grad");
    gids_tensor_release(c), gids_tensor_release(b), gids_tensor_release(x);
}

/* Gradient hooks: a scaling hook, counted frees of its context. */
typedef struct scale_ctx {
    double by;
    int *freed;
} scale_ctx;

static gids_status scale_hook(void *ctx, const gids_tensor *g, gids_tensor **replace) {
    const scale_ctx *c = ctx;
    return gids_binary_scalar(replace, GIDS_MUL, g, gids_scalar_f(c->by), false);
}

static void scale_free(void *ctx) {
    scale_ctx *c = ctx;
    (*c->freed)++;
    free(c);
}

static scale_ctx *scale_by(double by, int *freed) {
    scale_ctx *c = malloc(sizeof *c);
    c->by = by;
    c->freed = freed;
    return c;
}

TEST(gradient_hooks_replace_gradients_and_free_their_context_once) {
    int freed = 0;
    gids_tensor *x = vec64(2, (double[]){1, 2}, true), *a = NULL, *b = NULL;
    gids_hook_handle *hx = NULL, *ha = NULL;
    CHECK_OK(gids_register_hook(x, scale_hook, scale_by(10, &freed), scale_free, &hx));
    CHECK_OK(gids_ag_binary_scalar(&a, GIDS_MUL, x, gids_scalar_f(2.0), false));
    CHECK_OK(gids_register_hook(a, scale_hook, scale_by(3, &freed), scale_free, &ha));
    CHECK_OK(gids_ag_binary(&b, GIDS_MUL, a, a));
    backward_ones(b, true); /* d/da = 2a = (4, 8), x3, x2 (a = 2x), x10 */
    CHECK(at(gids_grad(x), 0) == 240.0 && at(gids_grad(x), 1) == 480.0);
    CHECK(gids_hook_remove(hx) && !gids_hook_remove(hx));
    CHECK(freed == 1);
    gids_hook_handle_free(hx);
    CHECK_OK(gids_set_grad(x, NULL));
    backward_ones(b, false);
    CHECK(at(gids_grad(x), 1) == 48.0);
    gids_tensor_release(b), gids_tensor_release(a); /* the node with a's hook dies ... */
    CHECK(freed == 1);                              /* ... the handle still shares the list */
    gids_hook_handle_free(ha);
    CHECK(freed == 2);
    gids_tensor *c = vec64(1, (double[]){1}, false);
    gids_hook_handle *hc = (gids_hook_handle *)1;
    CHECK_ERR(gids_register_hook(c, scale_hook, NULL, NULL, &hc), GIDS_ESTATE,
              "does not require grad");
    CHECK(hc == NULL);
    gids_tensor_release(c), gids_tensor_release(x);
}

/* gids_hooks_shared: whether something besides the one reference a binding drops still holds
 * a tensor's hooks (a graph a backward can still run). */
TEST(hooks_shared_says_whether_a_graph_still_reaches_the_hooks) {
    int freed = 0;
    gids_tensor *x = vec64(2, (double[]){1, 2}, true), *a = NULL, *b = NULL;
    CHECK(!gids_hooks_shared(x)); /* no hooks */
    gids_hook_handle *hx = NULL, *ha = NULL;
    CHECK_OK(gids_register_hook(x, scale_hook, scale_by(10, &freed), scale_free, &hx));
    CHECK(!gids_hooks_shared(x)); /* only this reference */
    CHECK_OK(gids_ag_binary_scalar(&a, GIDS_MUL, x, gids_scalar_f(2.0), false));
    CHECK(gids_hooks_shared(x)); /* a's graph holds x (its AccumulateGrad) */
    CHECK_OK(gids_register_hook(a, scale_hook, scale_by(3, &freed), scale_free, &ha));
    CHECK(!gids_hooks_shared(a)); /* a's node: only a holds it */
    CHECK_OK(gids_ag_binary(&b, GIDS_MUL, a, a));
    CHECK(gids_hooks_shared(a)); /* b's node holds a's */
    gids_tensor_retain(a);
    gids_tensor_release(b);
    CHECK(gids_hooks_shared(a)); /* a second reference to a */
    gids_tensor_release(a);
    CHECK(!gids_hooks_shared(a));
    gids_tensor_release(a);
    CHECK(!gids_hooks_shared(x)); /* the graph died */
    CHECK(gids_hook_remove(hx));
    CHECK(!gids_hooks_shared(x)); /* its hooks were removed */
    CHECK(!gids_hooks_shared(NULL));
    gids_hook_handle_free(hx), gids_hook_handle_free(ha), gids_tensor_release(x);
    CHECK(freed == 2);
}

int main(void) {
    RUN(mul_gives_the_other_factor_and_accumulates);
    RUN(broadcast_gradients_sum_to_the_input_shape);
    RUN(in_place_change_of_a_saved_tensor_is_caught);
    RUN(no_grad_records_nothing_and_detach_cuts_the_graph);
    RUN(a_long_chain_runs_and_dies_without_deep_recursion);
    RUN(leaf_gradients_are_never_shared);
    RUN(binary_formulas_match_finite_differences);
    RUN(a_gradient_passed_through_a_view_is_copied_into_grad);
    RUN(node_record_refuses_what_backward_could_not_run);
    RUN(sum_to_refuses_sizes_that_broadcasting_cannot_explain);
    RUN(autograd_grad_returns_gradients_and_runs_only_what_leads_to_the_inputs);
    RUN(autograd_grad_of_a_leaf_by_itself_is_a_copy_of_the_given_gradient);
    RUN(retain_grad_keeps_a_non_leaf_gradient_and_survives_its_death);
    RUN(gradient_hooks_replace_gradients_and_free_their_context_once);
    RUN(hooks_shared_says_whether_a_graph_still_reaches_the_hooks);
    return check_summary("autograd");
}
