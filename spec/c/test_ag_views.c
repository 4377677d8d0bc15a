/* test_ag_views.c -- formulas of the views and copies (view, reshape, permute, transpose,
 * narrow, select, expand, squeeze, unsqueeze, flatten, contiguous, clone, to_dtype) and of the
 * joins (cat, stack, split), checked by finite differences; views stay views while recorded. */
#include <stdlib.h>

#include "check.h"
#include "gradcheck.h"
#include "helpers.h"

/* A contiguous f64 tensor of distinct values that requires grad when rg. */
static gids_tensor *leaf(int nd, const int64_t *shape, int salt, bool rg) {
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = sin(0.9 * (double)i + salt) + 0.01 * (double)i;
    gids_tensor *t = from(GIDS_F64, nd, shape, v);
    free(v);
    if (rg) CHECK_OK(gids_set_requires_grad(t, true));
    return t;
}

/* ---------------------------------------------------------------- views */

/* Each view of in[0] (shape [2,3,4]), then a product with in[0]-independent weights happens in
 * gradcheck's projection; a mul by itself makes the formula see a non-trivial incoming grad. */
typedef enum {
    V_VIEW,
    V_RESHAPE_COPY,
    V_PERMUTE,
    V_TRANSPOSE,
    V_NARROW,
    V_SELECT,
    V_EXPAND,
    V_SQUEEZE,
    V_UNSQUEEZE,
    V_FLATTEN,
    V_CONTIGUOUS,
    V_CLONE,
    V_TO_DTYPE,
    V_NVIEWS
} view_case;

static gids_status one_view_(gids_tensor **out, const gids_tensor *x, view_case k) {
    switch (k) {
    case V_VIEW: return gids_ag_view(out, x, 2, (int64_t[]){6, -1});
    case V_RESHAPE_COPY: { /* reshape of a transposed tensor has to copy */
        gids_tensor *t = NULL;
        GIDS_TRY(gids_ag_transpose(&t, x, 0, 2));
        gids_status st = gids_ag_reshape(out, t, 2, (int64_t[]){4, 6});
        gids_tensor_release(t);
        return st;
    }
    case V_PERMUTE: return gids_ag_permute(out, x, (int[]){2, -3, 1});
    case V_TRANSPOSE: return gids_ag_transpose(out, x, -1, 0);
    case V_NARROW: return gids_ag_narrow(out, x, 2, -3, 2);
    case V_SELECT: return gids_ag_select(out, x, 1, -1);
    case V_EXPAND: {
        gids_tensor *t = NULL;
        GIDS_TRY(gids_ag_narrow(&t, x, 1, 1, 1)); /* [2,1,4] */
        gids_status st = gids_ag_expand(out, t, 4, (int64_t[]){3, 2, 5, -1});
        gids_tensor_release(t);
        return st;
    }
    case V_SQUEEZE: {
        gids_tensor *t = NULL;
        GIDS_TRY(gids_ag_narrow(&t, x, 1, 2, 1));
        gids_status st = gids_ag_squeeze(out, t, GIDS_ALL_DIMS);
        gids_tensor_release(t);
        return st;
    }
    case V_UNSQUEEZE: return gids_ag_unsqueeze(out, x, -2);
    case V_FLATTEN: {
        gids_tensor *t = NULL;
        GIDS_TRY(gids_ag_permute(&t, x, (int[]){1, 0, 2}));
        gids_status st = gids_ag_flatten(out, t, 0, 1);
        gids_tensor_release(t);
        return st;
    }
    case V_CONTIGUOUS: {
        gids_tensor *t = NULL;
        GIDS_TRY(gids_ag_transpose(&t, x, 0, 1));
        gids_status st = gids_ag_contiguous(out, t);
        gids_tensor_release(t);
        return st;
    }
    case V_CLONE: return gids_ag_clone(out, x);
    default: return gids_ag_to_dtype(out, x, GIDS_F64); /* f32 round trips: checked below */
    }
}

/* view(x) * view(x): the incoming gradient of the view is 2 view(x) w, not constant. */
static gids_status f_view(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    gids_tensor *v = NULL;
    GIDS_TRY(one_view_(&v, in[0], *(const view_case *)ctx));
    gids_status st = gids_ag_binary(out, GIDS_MUL, v, v);
    gids_tensor_release(v);
    return st;
}

TEST(view_formulas_match_finite_differences) {
    gids_tensor *x = leaf(3, (int64_t[]){2, 3, 4}, 1, true);
    gids_tensor *in[1] = {x};
    for (view_case k = 0; k < V_NVIEWS; k++) GRADCHECK(f_view, 1, in, &k);
    gids_tensor_release(x);
}

TEST(views_share_storage_while_recording) {
    gids_tensor *x = leaf(3, (int64_t[]){2, 3, 4}, 2, true);
    const view_case views[] = {V_VIEW,   V_PERMUTE, V_TRANSPOSE, V_NARROW,
                               V_SELECT, V_EXPAND,  V_SQUEEZE,   V_UNSQUEEZE};
    const char *names[] = {"ViewBackward",    "PermuteBackward",  "TransposeBackward",
                           "NarrowBackward",  "SelectBackward",   "ExpandBackward",
                           "SqueezeBackward", "UnsqueezeBackward"};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        gids_tensor *v = NULL;
        CHECK_OK(one_view_(&v, x, views[i]));
        if (v == NULL) continue;
        if (v->storage != x->storage) CHECK_FAIL_("%s: the view has its own storage", names[i]);
        if (gids_grad_fn_name(v) == NULL || strcmp(gids_grad_fn_name(v), names[i]) != 0)
            CHECK_FAIL_("view %zu records %s, expected %s", i,
                        gids_grad_fn_name(v) ? gids_grad_fn_name(v) : "nothing", names[i]);
        gids_tensor_release(v);
    }
    /* reshape and flatten of a contiguous tensor are views too */
    gids_tensor *r = NULL, *f = NULL, *sp[2] = {NULL, NULL};
    CHECK_OK(gids_ag_reshape(&r, x, 1, (int64_t[]){24}));
    CHECK_OK(gids_ag_flatten(&f, x, 1, 2));
    CHECK_OK(gids_ag_split(sp, 2, x, (int64_t[]){1, 2}, 1));
    CHECK(r->storage == x->storage && strcmp(gids_grad_fn_name(r), "ReshapeBackward") == 0);
    CHECK(f->storage == x->storage && strcmp(gids_grad_fn_name(f), "FlattenBackward") == 0);
    CHECK(sp[0]->storage == x->storage && sp[1]->storage == x->storage);
    CHECK(strcmp(gids_grad_fn_name(sp[1]), "SplitBackward") == 0);
    gids_tensor_release(r), gids_tensor_release(f);
    gids_tensor_release(sp[0]), gids_tensor_release(sp[1]);
    gids_tensor_release(x);
}

TEST(contiguous_of_a_contiguous_tensor_is_the_tensor_itself) {
    gids_tensor *x = leaf(2, (int64_t[]){2, 3}, 3, true), *y = NULL, *c = NULL, *t = NULL;
    CHECK_OK(gids_ag_contiguous(&c, x));
    CHECK(c == x && gids_is_leaf(x)); /* no node that would make x its own input */
    gids_tensor_release(c);
    CHECK_OK(gids_ag_transpose(&t, x, 0, 1));
    CHECK_OK(gids_ag_contiguous(&y, t));
    CHECK(y != t && y->storage != x->storage && strcmp(gids_grad_fn_name(y), "CloneBackward") == 0);
    gids_tensor_release(y), gids_tensor_release(t), gids_tensor_release(x);
}

TEST(to_dtype_converts_the_gradient_back_and_detaches_integers) {
    gids_tensor *x = leaf(1, (int64_t[]){3}, 4, true), *h = NULL, *i = NULL, *y = NULL;
    CHECK_OK(gids_ag_to_dtype(&h, x, GIDS_F32));
    CHECK(h->dtype == GIDS_F32 && strcmp(gids_grad_fn_name(h), "ToCopyBackward") == 0);
    CHECK_OK(gids_ag_binary_scalar(&y, GIDS_MUL, h, gids_scalar_f(3.0), false));
    gids_tensor *ones = NULL;
    CHECK_OK(gids_ones(&ones, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){3}));
    CHECK_OK(gids_backward(y, ones, false));
    const gids_tensor *g = gids_grad(x);
    CHECK(g != NULL && g->dtype == GIDS_F64);
    check_values(g, 3, (double[]){3, 3, 3});
    CHECK_OK(gids_ag_to_dtype(&i, x, GIDS_I64));
    CHECK(i->dtype == GIDS_I64 && !gids_requires_grad(i) && gids_grad_fn_name(i) == NULL);
    gids_tensor_release(ones), gids_tensor_release(y), gids_tensor_release(h);
    gids_tensor_release(i), gids_tensor_release(x);
}

TEST(nothing_is_recorded_without_grad) {
    gids_tensor *x = leaf(2, (int64_t[]){2, 3}, 5, false), *v = NULL;
    CHECK_OK(gids_ag_transpose(&v, x, 0, 1));
    CHECK(!gids_requires_grad(v) && v->storage == x->storage);
    gids_tensor_release(v);
    gids_tensor *w = leaf(2, (int64_t[]){2, 3}, 6, true);
    bool old = gids_set_grad_enabled(false);
    CHECK_OK(gids_ag_narrow(&v, w, 1, 0, 2));
    gids_set_grad_enabled(old);
    CHECK(!gids_requires_grad(v));
    gids_tensor_release(v), gids_tensor_release(w), gids_tensor_release(x);
}

/* ---------------------------------------------------------------- cat, stack, split */

typedef struct {
    int dim;
    bool placeholder; /* a 1-D empty tensor among the inputs (cat skips it) */
} join_case;

static gids_status f_cat(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const join_case *c = ctx;
    gids_tensor *e = NULL, *t = NULL;
    GIDS_TRY(gids_zeros(&e, GIDS_F64, GIDS_DEVICE_CPU, 1, (int64_t[]){0}));
    GIDS_TRY(gids_ag_transpose(&t, in[1], 0, 1)); /* a strided input */
    const gids_tensor *ts[4] = {in[0], e, t, in[2]};
    const gids_tensor *plain[3] = {in[0], t, in[2]};
    gids_tensor *r = NULL;
    gids_status st =
        c->placeholder ? gids_ag_cat(&r, 4, ts, c->dim) : gids_ag_cat(&r, 3, plain, c->dim);
    if (st == GIDS_OK) st = gids_ag_binary(out, GIDS_MUL, r, r);
    gids_tensor_release(r), gids_tensor_release(t), gids_tensor_release(e);
    return st;
}

TEST(cat_hands_each_input_its_slice) {
    /* along dim 1: [2,3], [2,2] (as the transpose of a [2,2]), [2,1] */
    gids_tensor *a = leaf(2, (int64_t[]){2, 3}, 1, true), *b = leaf(2, (int64_t[]){2, 2}, 2, true),
                *c = leaf(2, (int64_t[]){2, 1}, 3, false);
    gids_tensor *in[3] = {a, b, c};
    join_case k = {-1, false};
    GRADCHECK(f_cat, 3, in, &k);
    k.placeholder = true;
    GRADCHECK(f_cat, 3, in, &k);
    CHECK(gids_grad(c) == NULL); /* an input that needs no gradient gets none */
    gids_tensor_release(a), gids_tensor_release(b), gids_tensor_release(c);
    /* along dim 0: [1,2], [2,2] and [3,2] */
    a = leaf(2, (int64_t[]){1, 2}, 4, true), b = leaf(2, (int64_t[]){2, 2}, 5, true);
    c = leaf(2, (int64_t[]){3, 2}, 6, true);
    gids_tensor *in0[3] = {a, b, c};
    k.dim = 0;
    GRADCHECK(f_cat, 3, in0, &k);
    gids_tensor_release(a), gids_tensor_release(b), gids_tensor_release(c);
}

TEST(cat_of_mixed_float_dtypes_returns_each_inputs_dtype) {
    gids_tensor *a = leaf(1, (int64_t[]){2}, 1, true), *b = NULL, *r = NULL;
    CHECK_OK(gids_ones(&b, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){3}));
    CHECK_OK(gids_set_requires_grad(b, true));
    const gids_tensor *ts[2] = {b, a};
    CHECK_OK(gids_ag_cat(&r, 2, ts, 0));
    CHECK(r->dtype == GIDS_F64);
    gids_tensor *w = from(GIDS_F64, 1, (int64_t[]){5}, (double[]){1, 2, 3, 4, 5});
    CHECK_OK(gids_backward(r, w, false));
    CHECK(gids_grad(b)->dtype == GIDS_F32 && gids_grad(a)->dtype == GIDS_F64);
    check_values(gids_grad(b), 3, (double[]){1, 2, 3});
    check_values(gids_grad(a), 2, (double[]){4, 5});
    gids_tensor_release(w), gids_tensor_release(r), gids_tensor_release(a), gids_tensor_release(b);
}

static gids_status f_stack(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    gids_tensor *r = NULL;
    const gids_tensor *ts[3] = {in[0], in[1], in[0]}; /* in[0] twice: its slices add up */
    GIDS_TRY(gids_ag_stack(&r, 3, ts, *(const int *)ctx));
    gids_status st = gids_ag_binary(out, GIDS_MUL, r, r);
    gids_tensor_release(r);
    return st;
}

TEST(stack_hands_each_input_its_slice) {
    gids_tensor *a = leaf(2, (int64_t[]){2, 3}, 1, true), *b = leaf(2, (int64_t[]){2, 3}, 2, true);
    gids_tensor *in[2] = {a, b};
    for (int dim = -3; dim < 3; dim++) GRADCHECK(f_stack, 2, in, &dim);
    gids_tensor_release(a), gids_tensor_release(b);
}

/* Pieces 0 and 2 used, piece 1 not: its part of the gradient is zero. */
static gids_status f_split(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    gids_tensor *p[3] = {NULL, NULL, NULL};
    GIDS_TRY(gids_ag_split(p, 3, in[0], (int64_t[]){2, 1, 2}, *(const int *)ctx));
    gids_status st = gids_ag_binary(out, GIDS_MUL, p[0], p[2]);
    for (int k = 0; k < 3; k++) gids_tensor_release(p[k]);
    return st;
}

TEST(split_gives_zeros_where_a_piece_went_unused) {
    gids_tensor *x = leaf(2, (int64_t[]){5, 3}, 1, true), *y = leaf(2, (int64_t[]){3, 5}, 2, true);
    gids_tensor *in[1] = {x}, *iny[1] = {y};
    int dim = 0;
    GRADCHECK(f_split, 1, in, &dim);
    for (int i = 6; i < 9; i++) CHECK(at(gids_grad(x), i) == 0.0); /* row 2: the unused piece */
    dim = -1;
    GRADCHECK(f_split, 1, iny, &dim);
    for (int r = 0; r < 3; r++) CHECK(at(gids_grad(y), r * 5 + 2) == 0.0);
    gids_tensor_release(x), gids_tensor_release(y);
}

int main(void) {
    RUN(view_formulas_match_finite_differences);
    RUN(views_share_storage_while_recording);
    RUN(contiguous_of_a_contiguous_tensor_is_the_tensor_itself);
    RUN(to_dtype_converts_the_gradient_back_and_detaches_integers);
    RUN(nothing_is_recorded_without_grad);
    RUN(cat_hands_each_input_its_slice);
    RUN(cat_of_mixed_float_dtypes_returns_each_inputs_dtype);
    RUN(stack_hands_each_input_its_slice);
    RUN(split_gives_zeros_where_a_piece_went_unused);
    return check_summary("ag_views");
}
