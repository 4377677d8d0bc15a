/* test_join.c -- cat, stack and split: values, dtype promotion, strided inputs, errors. */
#include <stdlib.h>

#include "check.h"
#include "helpers.h"

TEST(cat_joins_along_any_dim) {
    gids_tensor *a = arange_view(GIDS_F32, 0, 2, (int64_t[]){2, 2}),
                *b = arange_view(GIDS_F32, 10, 2, (int64_t[]){1, 2}), *r = NULL;
    const gids_tensor *ab[2] = {a, b};
    CHECK_OK(gids_cat(&r, 2, ab, 0));
    CHECK(r->shape[0] == 3 && r->shape[1] == 2);
    check_values(r, 6, (double[6]){0, 1, 2, 3, 10, 11});
    gids_tensor_release(r);
    gids_tensor *c = arange_view(GIDS_F32, 20, 2, (int64_t[]){2, 1}), *bt = NULL;
    const gids_tensor *ac[2] = {a, c};
    CHECK_OK(gids_cat(&r, 2, ac, -1));
    check_values(r, 6, (double[6]){0, 1, 20, 2, 3, 21});
    gids_tensor_release(r);
    /* a transposed input is read through its strides */
    CHECK_OK(gids_transpose(&bt, b, 0, 1)); /* [2,1] = [[10],[11]] */
    const gids_tensor *abt[3] = {a, bt, c};
    CHECK_OK(gids_cat(&r, 3, abt, 1));
    check_values(r, 8, (double[8]){0, 1, 10, 20, 2, 3, 11, 21});
    gids_tensor_release(r);
    gids_tensor_release(bt);
    gids_tensor_release(c);
    gids_tensor_release(b);
    gids_tensor_release(a);
}

TEST(cat_promotes_dtypes_and_skips_empty_vectors) {
    gids_tensor *a = arange_view(GIDS_I64, 0, 2, (int64_t[]){1, 2}),
                *b = arange_view(GIDS_F32, 5, 2, (int64_t[]){1, 2}), *e = NULL, *r = NULL;
    int64_t zero = 0;
    CHECK_OK(gids_empty(&e, GIDS_F64, GIDS_DEVICE_CPU, 1, &zero));
    const gids_tensor *ts[3] = {a, e, b};
    CHECK_OK(gids_cat(&r, 3, ts, 0));
    /* i64 + f32 + f64 -> f64, the empty placeholder contributes nothing */
    CHECK(r->dtype == GIDS_F64 && r->ndim == 2 && r->shape[0] == 2);
    check_values(r, 4, (double[4]){0, 1, 5, 6});
    gids_tensor_release(r);
    const gids_tensor *only[2] = {e, e};
    CHECK_OK(gids_cat(&r, 2, only, 0));
    CHECK(r->ndim == 1 && r->shape[0] == 0);
    gids_tensor_release(r);
    gids_tensor *i32 = arange_view(GIDS_I32, 7, 2, (int64_t[]){1, 2}),
                *u8 = arange_view(GIDS_U8, 1, 2, (int64_t[]){1, 2});
    const gids_tensor *ints[2] = {u8, i32};
    CHECK_OK(gids_cat(&r, 2, ints, 1));
    CHECK(r->dtype == GIDS_I32);
    check_values(r, 4, (double[4]){1, 2, 7, 8});
    gids_tensor_release(r);
    gids_tensor_release(u8);
    gids_tensor_release(i32);
    gids_tensor_release(e);
    gids_tensor_release(b);
    gids_tensor_release(a);
}

TEST(cat_errors_name_the_shapes) {
    gids_tensor *a = arange_view(GIDS_F32, 0, 2, (int64_t[]){2, 3}),
                *b = arange_view(GIDS_F32, 0, 2, (int64_t[]){2, 4}), *s = NULL;
    gids_tensor *r = NULL;
    const gids_tensor *ab[2] = {a, b};
    CHECK_ERR(gids_cat(&r, 2, ab, 0), GIDS_ESHAPE,
              "cat: shapes [2,3] and [2,4] differ outside the cat dim");
    CHECK_OK(gids_cat(&r, 2, ab, 1));
    CHECK(r->shape[1] == 7);
    gids_tensor_release(r);
    r = NULL;
    CHECK_ERR(gids_cat(&r, 2, ab, 2), GIDS_EINDEX, "dim 2 out of range");
    CHECK_ERR(gids_cat(&r, 0, ab, 0), GIDS_EINVAL, "cat: expected a non-empty list of tensors");
    CHECK_OK(gids_full(&s, GIDS_F32, GIDS_DEVICE_CPU, 0, NULL, gids_scalar_f(1)));
    const gids_tensor *ss[2] = {s, s};
    CHECK_ERR(gids_cat(&r, 2, ss, 0), GIDS_ESHAPE, "zero-dimensional");
    int64_t s3 = 3;
    gids_tensor *v = NULL;
    CHECK_OK(gids_zeros(&v, GIDS_F32, GIDS_DEVICE_CPU, 1, &s3));
    const gids_tensor *av[2] = {a, v};
    CHECK_ERR(gids_cat(&r, 2, av, 0), GIDS_ESHAPE, "cat: shapes [2,3] and [3] differ");
    CHECK(r == NULL);
    gids_tensor_release(v);
    gids_tensor_release(s);
    gids_tensor_release(b);
    gids_tensor_release(a);
}

TEST(stack_adds_a_new_dim) {
    gids_tensor *a = arange_view(GIDS_F32, 0, 2, (int64_t[]){2, 2}),
                *b = arange_view(GIDS_F32, 4, 2, (int64_t[]){2, 2}), *r = NULL;
    const gids_tensor *ab[2] = {a, b};
    CHECK_OK(gids_stack(&r, 2, ab, 0));
    CHECK(r->ndim == 3 && r->shape[0] == 2 && r->shape[1] == 2 && r->shape[2] == 2);
    check_values(r, 8, (double[8]){0, 1, 2, 3, 4, 5, 6, 7});
    gids_tensor_release(r);
    CHECK_OK(gids_stack(&r, 2, ab, 2)); /* the new last dim */
    CHECK(r->shape[2] == 2);
    check_values(r, 8, (double[8]){0, 4, 1, 5, 2, 6, 3, 7});
    gids_tensor_release(r);
    CHECK_OK(gids_stack(&r, 2, ab, -1));
    check_values(r, 8, (double[8]){0, 4, 1, 5, 2, 6, 3, 7});
    gids_tensor_release(r);
    r = NULL;
    gids_tensor *c = arange_view(GIDS_F32, 0, 2, (int64_t[]){1, 4});
    const gids_tensor *ac[2] = {a, c};
    CHECK_ERR(gids_stack(&r, 2, ac, 0), GIDS_ESHAPE,
              "stack: shapes [2,2] and [1,4] differ; stack needs equal shapes");
    CHECK_ERR(gids_stack(&r, 2, ab, 3), GIDS_EINDEX, "dim 3 out of range");
    CHECK(r == NULL);
    gids_tensor_release(c);
    gids_tensor_release(b);
    gids_tensor_release(a);
}

TEST(split_returns_views_that_share_storage) {
    gids_tensor *a = arange_view(GIDS_F32, 0, 2, (int64_t[]){5, 2}), *outs[3] = {NULL, NULL, NULL};
    int64_t sizes[3] = {2, 0, 3};
    CHECK_OK(gids_split(outs, 3, a, sizes, 0));
    CHECK(outs[0]->shape[0] == 2 && outs[1]->shape[0] == 0 && outs[2]->shape[0] == 3);
    CHECK(outs[2]->storage == a->storage);
    check_values(outs[2], 6, (double[6]){4, 5, 6, 7, 8, 9});
    for (int i = 0; i < 3; i++) gids_tensor_release(outs[i]);
    int64_t cols[2] = {1, 1};
    CHECK_OK(gids_split(outs, 2, a, cols, -1));
    check_values(outs[1], 5, (double[5]){1, 3, 5, 7, 9});
    for (int i = 0; i < 2; i++) gids_tensor_release(outs[i]);
    int64_t bad[2] = {2, 2};
    CHECK_ERR(gids_split(outs, 2, a, bad, 0), GIDS_ESHAPE,
              "split: sizes add up to 4, expected 5 (the size of the split dim)");
    int64_t neg[2] = {6, -1};
    CHECK_ERR(gids_split(outs, 2, a, neg, 0), GIDS_EINVAL,
              "split: size -1 at position 1 (0-based), expected >= 0");
    CHECK(outs[0] == NULL && outs[1] == NULL);
    gids_tensor_release(a);
}

int main(void) {
    RUN(cat_joins_along_any_dim);
    RUN(cat_promotes_dtypes_and_skips_empty_vectors);
    RUN(cat_errors_name_the_shapes);
    RUN(stack_adds_a_new_dim);
    RUN(split_returns_views_that_share_storage);
    return check_summary("join");
}
