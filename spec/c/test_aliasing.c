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

/* An index sharing self's memory is read whole before any write: the writes must not change the
 * positions later elements go to (they were range-checked before; a changed one overflowed). */
TEST(scatter_and_index_add_read_an_index_aliasing_self_first) {
    int64_t n = 4;
    int64_t sv[4] = {1000, 7, 0, 0}, iv[4] = {1, 0, 0, 0};
    gids_tensor *src = NULL, *self = NULL;
    CHECK_OK(gids_from_buffer(&src, GIDS_I64, 1, &n, sv));
    CHECK_OK(gids_from_buffer(&self, GIDS_I64, 1, &n, iv));
    CHECK_OK(gids_scatter_(self, 0, self, src));
    double set[4] = {0, 1000, 0, 0}; /* the last write to 0 is src[3] */
    for (int i = 0; i < 4; i++) CHECK(at(self, i) == set[i]);
    gids_tensor_release(self), self = NULL;
    CHECK_OK(gids_from_buffer(&self, GIDS_I64, 1, &n, iv));
    CHECK_OK(gids_scatter_add_(self, 0, self, src));
    double add[4] = {8, 1000, 0, 0};
    for (int i = 0; i < 4; i++) CHECK(at(self, i) == add[i]);
    gids_tensor_release(self), self = NULL;
    CHECK_OK(gids_from_buffer(&self, GIDS_I64, 1, &n, iv));
    CHECK_OK(gids_index_add_(self, 0, self, src, 1.0));
    for (int i = 0; i < 4; i++) CHECK(at(self, i) == add[i]);
    gids_tensor_release(self), gids_tensor_release(src);
}

TEST(scatter_needs_a_src_and_a_fitting_value) {
    gids_tensor *a = NULL, *ix = NULL;
    int64_t s23[2] = {2, 3};
    CHECK_OK(gids_zeros(&a, GIDS_U8, GIDS_DEVICE_CPU, 2, s23));
    CHECK_OK(gids_zeros(&ix, GIDS_I64, GIDS_DEVICE_CPU, 2, s23));
    CHECK_ERR(gids_scatter_(a, 1, ix, NULL), GIDS_EINVAL, "scatter_: src is NULL");
    CHECK_ERR(gids_scatter_add_(a, 1, ix, NULL), GIDS_EINVAL, "scatter_add_: src is NULL");
    CHECK_ERR(gids_scatter_(a, 1, NULL, a), GIDS_EINVAL, "scatter_: index is NULL");
    CHECK_ERR(gids_scatter_(NULL, 1, ix, a), GIDS_EINVAL, "scatter_: self is NULL");
    CHECK_ERR(gids_index_add_(a, 0, NULL, a, 1.0), GIDS_EINVAL, "index_add_: index is NULL");
    CHECK_ERR(gids_scatter_scalar_(a, 1, ix, gids_scalar_i(300)), GIDS_EINVAL,
              "scatter_: value 300 does not fit in u8 [0, 255]");
    CHECK_ERR(gids_scatter_scalar_(a, 1, ix, gids_scalar_f(1e300)), GIDS_EINVAL,
              "does not fit in u8");
    for (int i = 0; i < 6; i++) CHECK(at(a, i) == 0.0);
    gids_tensor_release(a), gids_tensor_release(ix);
}

/* A mask that is a broadcast view of self is read whole before self is filled. */
TEST(masked_fill_reads_a_mask_aliasing_self_first) {
    gids_tensor *self = NULL, *n1 = NULL, *m = NULL;
    CHECK_OK(gids_from_buffer(&self, GIDS_BOOL, 1, (int64_t[]){4}, (uint8_t[]){1, 1, 1, 1}));
    CHECK_OK(gids_narrow(&n1, self, 0, 0, 1));
    CHECK_OK(gids_expand(&m, n1, 1, (int64_t[]){4}));
    CHECK_OK(gids_masked_fill_(self, m, gids_scalar_i(0)));
    for (int i = 0; i < 4; i++) CHECK(at(self, i) == 0.0); /* mask was all true */
    gids_tensor *u = NULL, *i32 = NULL, *all = NULL;
    CHECK_OK(gids_full(&all, GIDS_BOOL, GIDS_DEVICE_CPU, 1, (int64_t[]){3}, gids_scalar_i(1)));
    CHECK_OK(gids_zeros(&u, GIDS_U8, GIDS_DEVICE_CPU, 1, (int64_t[]){3}));
    CHECK_OK(gids_zeros(&i32, GIDS_I32, GIDS_DEVICE_CPU, 1, (int64_t[]){3}));
    CHECK_ERR(gids_masked_fill_(u, all, gids_scalar_i(300)), GIDS_EINVAL,
              "masked_fill_: value 300 does not fit in u8 [0, 255]");
    CHECK_ERR(gids_masked_fill_(i32, all, gids_scalar_f(1e300)), GIDS_EINVAL,
              "masked_fill_: value 1e+300 does not fit in i32");
    CHECK(at(u, 0) == 0.0 && at(i32, 0) == 0.0);
    gids_tensor_release(self), gids_tensor_release(n1), gids_tensor_release(m);
    gids_tensor_release(u), gids_tensor_release(i32), gids_tensor_release(all);
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
    /* f32 holds only every 4th integer past 2^25: 2^25 + 3 rounds to high, PyTorch refuses. */
    int64_t b = (int64_t)1 << 25;
    CHECK_ERR(gids_randint(&t, NULL, GIDS_F32, b, b + 4, 1, &n), GIDS_EINVAL,
              "randint: low (33554432) must stay less than high (33554436) once both are "
              "rounded to f32, got low 33554432 >= high 33554432");
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
    RUN(scatter_and_index_add_read_an_index_aliasing_self_first);
    RUN(scatter_needs_a_src_and_a_fitting_value);
    RUN(masked_fill_reads_a_mask_aliasing_self_first);
    RUN(expanded_targets_are_refused);
    RUN(values_must_fit_integer_dtypes);
    RUN(allocation_failures_name_the_creating_function);
    return check_summary("aliasing");
}
