/* test_aliasing.c -- writes into memory that an input or the target itself shares: copies
 * between overlapping views, in-place scatter/index_add reading their own target, expanded
 * (stride-0) targets, and values that do not fit the target dtype. */
#include "check.h"
#include "helpers.h"

TEST(copy_from_own_transpose_reads_before_writing) {
    gids_tensor *a = arange_nd(GIDS_F32, 1, (int64_t[]){4}), *m = NULL, *t = NULL;
    CHECK_OK(gids_view(&m, a, 2, (int64_t[]){2, 2}));
    CHECK_OK(gids_transpose(&t, m, 0, 1));
    CHECK_OK(gids_copy_(m, t));
    double expect[4] = {0, 2, 1, 3};
    for (int i = 0; i < 4; i++) CHECK(at(m, i) == expect[i]);
    gids_tensor_release(a), gids_tensor_release(m), gids_tensor_release(t);
}

TEST(copy_between_shifted_narrows_of_one_tensor) {
    gids_tensor *e = arange_nd(GIDS_F32, 1, (int64_t[]){5}), *dst = NULL, *src = NULL;
    CHECK_OK(gids_narrow(&dst, e, 0, 1, 4));
    CHECK_OK(gids_narrow(&src, e, 0, 0, 4));
    CHECK_OK(gids_copy_(dst, src));
    double expect[5] = {0, 0, 1, 2, 3}; /* as numpy's e[1:] = e[:4] */
    for (int i = 0; i < 5; i++) CHECK(at(e, i) == expect[i]);
    gids_tensor_release(e), gids_tensor_release(dst), gids_tensor_release(src);
}

TEST(scatter_and_index_add_read_src_before_writing_self) {
    int64_t n = 4;
    gids_tensor *idx = NULL, *t = arange_nd(GIDS_F32, 1, (int64_t[]){4}),
                *s = arange_nd(GIDS_F32, 1, (int64_t[]){4});
    CHECK_OK(gids_from_buffer(&idx, GIDS_I64, 1, &n, (int64_t[]){1, 2, 3, 0}));
    CHECK_OK(gids_index_add_(t, 0, idx, t, 1.0));
    double add_at[4] = {3, 1, 3, 5}; /* numpy.add.at(t, idx, t.copy()) */
    for (int i = 0; i < 4; i++) CHECK(at(t, i) == add_at[i]);
    CHECK_OK(gids_scatter_(s, 0, idx, s));
    double rolled[4] = {3, 0, 1, 2};
    for (int i = 0; i < 4; i++) CHECK(at(s, i) == rolled[i]);
    gids_tensor *u = arange_nd(GIDS_F32, 1, (int64_t[]){4});
    CHECK_OK(gids_scatter_add_(u, 0, idx, u));
    for (int i = 0; i < 4; i++) CHECK(at(u, i) == add_at[i]);
    gids_tensor_release(idx), gids_tensor_release(t), gids_tensor_release(s);
    gids_tensor_release(u);
}

TEST(expanded_targets_are_refused) {
    gids_tensor *z = NULL, *e = NULL, *one = NULL;
    CHECK_OK(gids_zeros(&z, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){1}));
    CHECK_OK(gids_expand(&e, z, 1, (int64_t[]){3}));
    CHECK_OK(gids_ones(&one, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){3}));
    CHECK_ERR(gids_binary_into(e, GIDS_ADD, e, one), GIDS_EINVAL, "is expanded");
    CHECK_ERR(gids_fill_(e, gids_scalar_i(1)), GIDS_EINVAL,
              "fill_: the target of shape [3] is expanded");
    CHECK_ERR(gids_copy_(e, one), GIDS_EINVAL, "copy_: the target");
    CHECK_ERR(gids_normal_(e, NULL, 0.0, 1.0), GIDS_EINVAL, "normal_: the target");
    CHECK(at(z, 0) == 0.0); /* nothing was written */
    gids_tensor_release(z), gids_tensor_release(e), gids_tensor_release(one);
}

TEST(values_must_fit_integer_dtypes) {
    gids_tensor *t = NULL;
    int64_t n = 2;
    CHECK_ERR(gids_full(&t, GIDS_U8, GIDS_DEVICE_CPU, 1, &n, gids_scalar_i(300)), GIDS_EINVAL,
              "full: value 300 does not fit in u8 [0, 255]");
    CHECK_ERR(gids_full(&t, GIDS_I32, GIDS_DEVICE_CPU, 1, &n, gids_scalar_f(3e9)), GIDS_EINVAL,
              "does not fit in i32");
    CHECK_ERR(gids_randint(&t, NULL, GIDS_I32, 0, (int64_t)1 << 40, 1, &n), GIDS_EINVAL,
              "randint (high - 1): value 1099511627775 does not fit in i32");
    CHECK_ERR(gids_randint(&t, NULL, GIDS_U8, -5, 5, 1, &n), GIDS_EINVAL,
              "randint (low): value -5 does not fit in u8");
    CHECK(t == NULL);
    CHECK_OK(gids_full(&t, GIDS_U8, GIDS_DEVICE_CPU, 1, &n, gids_scalar_f(255.9)));
    CHECK(at(t, 1) == 255.0); /* truncation first, then the range */
    /* An operand number is not a fill: it wraps into the tensor's dtype, as PyTorch's. */
    gids_tensor *w = NULL;
    CHECK_OK(gids_binary_scalar(&w, GIDS_ADD, t, gids_scalar_i(300), false));
    CHECK(w->dtype == GIDS_U8 && at(w, 0) == 43.0); /* (255 + 300) mod 256 */
    gids_tensor_release(w);
    gids_tensor_release(t);
}

TEST(allocation_failures_name_the_creating_function) {
    gids_tensor *t = NULL;
    int64_t huge = (int64_t)1 << 50; /* 4 PiB of f32: no machine has it */
    CHECK_ERR(gids_ones(&t, GIDS_F32, GIDS_DEVICE_CPU, 1, &huge), GIDS_ENOMEM,
              "ones: a [1125899906842624] f32 tensor: out of CPU memory");
    CHECK(t == NULL);
}

int main(void) {
    RUN(copy_from_own_transpose_reads_before_writing);
    RUN(copy_between_shifted_narrows_of_one_tensor);
    RUN(scatter_and_index_add_read_src_before_writing_self);
    RUN(expanded_targets_are_refused);
    RUN(values_must_fit_integer_dtypes);
    RUN(allocation_failures_name_the_creating_function);
    return check_summary("aliasing");
}
