/* test_reduce.c -- reductions over dim lists, var/std, norm, logsumexp, max/min along a dim with
 * positions, argmax/argmin, softmax and scans: values against hand computation, keepdim shapes,
 * strided inputs, empty inputs, determinism across thread counts and every error path. */
#include <float.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "helpers.h"

/* ---------------------------------------------------------------- gids_reduce */
TEST(sum_over_each_dim_list) {
    int64_t s[3] = {2, 3, 4};
    gids_tensor *a = arange_nd(GIDS_F32, 3, s), *o = NULL;
    int d0[1] = {0}, d1[1] = {-2}, d02[2] = {2, 0};
    CHECK_OK(gids_reduce(&o, GIDS_SUM, a, 1, d0, false));
    int64_t s34[2] = {3, 4};
    check_shape(o, 2, s34);
    double w0[12] = {12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34};
    check_close(o, 12, w0, 0);
    CHECK(o->dtype == GIDS_F32);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_SUM, a, 1, d1, true));
    int64_t s214[3] = {2, 1, 4};
    check_shape(o, 3, s214);
    double w1[8] = {12, 15, 18, 21, 48, 51, 54, 57};
    check_close(o, 8, w1, 0);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_SUM, a, 2, d02, false));
    int64_t s3 = 3;
    check_shape(o, 1, &s3);
    double w2[3] = {60, 92, 124};
    check_close(o, 3, w2, 0);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_SUM, a, 0, NULL, false));
    CHECK(o->ndim == 0 && at(o, 0) == 276);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_SUM, a, 0, NULL, true));
    int64_t s111[3] = {1, 1, 1};
    check_shape(o, 3, s111);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_MEAN, a, 1, d0, false));
    double wm[12] = {6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
    check_close(o, 12, wm, 0);
    gids_tensor_release(o);
    gids_tensor_release(a);
}

TEST(sum_reads_strided_inputs) {
    int64_t s[2] = {3, 4};
    gids_tensor *a = arange_nd(GIDS_F64, 2, s), *t = NULL, *n = NULL, *o = NULL, *e = NULL;
    int d0[1] = {0}, d1[1] = {1};
    CHECK_OK(gids_transpose(&t, a, 0, 1)); /* [4,3] */
    CHECK_OK(gids_reduce(&o, GIDS_SUM, t, 1, d1, false));
    double w[4] = {12, 15, 18, 21};
    check_close(o, 4, w, 0);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_SUM, t, 1, d0, false));
    double w2[3] = {6, 22, 38};
    check_close(o, 3, w2, 0);
    gids_tensor_release(o);
    CHECK_OK(gids_narrow(&n, a, 1, 1, 2)); /* columns 1, 2 */
    CHECK_OK(gids_reduce(&o, GIDS_PROD, n, 1, d1, false));
    double w3[3] = {2, 30, 90};
    check_close(o, 3, w3, 0);
    gids_tensor_release(o);
    int64_t row_shape[2] = {1, 4}, big[2] = {5, 4};
    gids_tensor *row = NULL, *r = NULL;
    CHECK_OK(gids_narrow(&row, a, 0, 2, 1)); /* [8 9 10 11] */
    CHECK_OK(gids_view(&r, row, 2, row_shape));
    CHECK_OK(gids_expand(&e, r, 2, big)); /* stride 0 rows */
    CHECK_OK(gids_reduce(&o, GIDS_SUM, e, 1, d0, false));
    double w4[4] = {40, 45, 50, 55};
    check_close(o, 4, w4, 0);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_SUM, e, 0, NULL, false));
    CHECK(at(o, 0) == 190);
    gids_tensor_release(o);
    gids_tensor_release(row);
    gids_tensor_release(r);
    gids_tensor_release(e);
    gids_tensor_release(n);
    gids_tensor_release(t);
    gids_tensor_release(a);
}

TEST(integer_and_bool_reductions) {
    int64_t s4 = 4;
    int32_t iv[4] = {3, -1, 4, 2};
    bool bv[4] = {true, false, true, true};
    gids_tensor *i = from(GIDS_I32, 1, &s4, iv), *b = from(GIDS_BOOL, 1, &s4, bv), *o = NULL;
    CHECK_OK(gids_reduce(&o, GIDS_SUM, i, 0, NULL, false));
    CHECK(o->dtype == GIDS_I64 && at(o, 0) == 8);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_PROD, i, 0, NULL, false));
    CHECK(o->dtype == GIDS_I64 && at(o, 0) == -24);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_AMAX, i, 0, NULL, false));
    CHECK(o->dtype == GIDS_I32 && at(o, 0) == 4);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_AMIN, i, 0, NULL, false));
    CHECK(o->dtype == GIDS_I32 && at(o, 0) == -1);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_SUM, b, 0, NULL, false));
    CHECK(o->dtype == GIDS_I64 && at(o, 0) == 3);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_ANY, b, 0, NULL, false));
    CHECK(o->dtype == GIDS_BOOL && at(o, 0) == 1);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_ALL, b, 0, NULL, false));
    CHECK(o->dtype == GIDS_BOOL && at(o, 0) == 0);
    gids_tensor_release(o);
    o = NULL;
    CHECK_ERR(gids_reduce(&o, GIDS_MEAN, i, 0, NULL, false), GIDS_EDTYPE,
              "mean: input must be a float tensor (f32 or f64), got i32");
    CHECK_ERR(gids_reduce(&o, GIDS_LOGSUMEXP, b, 0, NULL, false), GIDS_EDTYPE, "logsumexp:");
    CHECK(o == NULL);
    /* i64 sums wrap instead of trapping */
    int64_t wv[2] = {INT64_MAX, 1}, s2 = 2;
    gids_tensor *w = from(GIDS_I64, 1, &s2, wv);
    CHECK_OK(gids_reduce(&o, GIDS_SUM, w, 0, NULL, false));
    int64_t got = 0;
    CHECK_OK(gids_tensor_get_i64(o, 0, &got));
    CHECK(got == INT64_MIN);
    gids_tensor_release(o);
    gids_tensor_release(w);
    gids_tensor_release(i);
    gids_tensor_release(b);
}

/* Long i64 and bool sums (eight lanes, blocks of 32768) are the wrapping sequential sum and
 * the count of trues, whatever the length's remainder. */
TEST(long_integer_sums_wrap_as_the_sequential_sum) {
    static const int64_t lens[] = {7, 8, 1003, 70001};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        int64_t n = lens[k], got = 0, trues = 0;
        int64_t *v = malloc((size_t)n * sizeof *v);
        bool *t = malloc((size_t)n);
        uint64_t want = 0, r = 3 + k;
        for (int64_t i = 0; i < n; i++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            v[i] = (int64_t)r, want += r, t[i] = (r >> 63) != 0, trues += t[i];
        }
        gids_tensor *a = from(GIDS_I64, 1, &n, v), *b = from(GIDS_BOOL, 1, &n, t), *o = NULL;
        CHECK_OK(gids_reduce(&o, GIDS_SUM, a, 0, NULL, false));
        CHECK_OK(gids_tensor_get_i64(o, 0, &got));
        CHECK(got == (int64_t)want);
        gids_tensor_release(o);
        CHECK_OK(gids_reduce(&o, GIDS_SUM, b, 0, NULL, false));
        CHECK_OK(gids_tensor_get_i64(o, 0, &got));
        CHECK(got == trues);
        gids_tensor_release(o);
        gids_tensor_release(b);
        gids_tensor_release(a);
        free(t);
        free(v);
    }
}

TEST(extremes_any_all_and_nan) {
    int64_t s23[2] = {2, 3};
    float v[6] = {1, NAN, 3, -2, 5, 0};
    gids_tensor *a = from(GIDS_F32, 2, s23, v), *o = NULL;
    int d1[1] = {1}, d0[1] = {0};
    CHECK_OK(gids_reduce(&o, GIDS_AMAX, a, 1, d1, false));
    double w[2] = {NAN, 5};
    check_close(o, 2, w, 0);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_AMIN, a, 1, d0, false));
    double w2[3] = {-2, NAN, 0};
    check_close(o, 3, w2, 0);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_ANY, a, 1, d0, false)); /* NaN counts as true */
    double w3[3] = {1, 1, 1};
    check_close(o, 3, w3, 0);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_ALL, a, 1, d1, false));
    double w4[2] = {1, 0};
    check_close(o, 2, w4, 0);
    gids_tensor_release(o);
    gids_tensor_release(a);
}

TEST(empty_reductions) {
    int64_t s30[2] = {3, 0}, s03[2] = {0, 3};
    gids_tensor *a = NULL, *z = NULL, *o = NULL;
    CHECK_OK(gids_zeros(&a, GIDS_F32, GIDS_DEVICE_CPU, 2, s30));
    int d1[1] = {1}, d0[1] = {0};
    CHECK_OK(gids_reduce(&o, GIDS_SUM, a, 1, d1, false));
    double w0[3] = {0, 0, 0}, w1[3] = {1, 1, 1}, wn[3] = {NAN, NAN, NAN};
    check_close(o, 3, w0, 0);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_PROD, a, 1, d1, false));
    check_close(o, 3, w1, 0);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_MEAN, a, 1, d1, false));
    check_close(o, 3, wn, 0);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_ALL, a, 1, d1, false));
    check_close(o, 3, w1, 0);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_LOGSUMEXP, a, 1, d1, false));
    double wl[3] = {-INFINITY, -INFINITY, -INFINITY};
    check_close(o, 3, wl, 0);
    gids_tensor_release(o);
    o = NULL;
    CHECK_ERR(gids_reduce(&o, GIDS_AMAX, a, 1, d1, false), GIDS_EINVAL,
              "amax: cannot reduce over an empty dim (input shape [3,0])");
    CHECK_ERR(gids_reduce(&o, GIDS_AMIN, a, 0, NULL, false), GIDS_EINVAL, "amin: cannot reduce");
    CHECK(o == NULL);
    /* reducing a non-empty dim of an empty tensor is fine: the result is empty */
    CHECK_OK(gids_reduce(&o, GIDS_AMAX, a, 1, d0, false));
    CHECK(gids_tensor_numel(o) == 0 && o->ndim == 1);
    gids_tensor_release(o);
    CHECK_OK(gids_zeros(&z, GIDS_F32, GIDS_DEVICE_CPU, 2, s03));
    CHECK_ERR(gids_max_dim(&o, NULL, z, 0, false), GIDS_EINVAL, "max: cannot reduce");
    CHECK_ERR(gids_argmin(&o, z, GIDS_ALL_DIMS, false), GIDS_EINVAL, "argmin: cannot reduce");
    gids_tensor_release(z);
    gids_tensor_release(a);
}

TEST(dim_list_errors) {
    int64_t s[2] = {2, 3};
    gids_tensor *a = arange_nd(GIDS_F32, 2, s), *o = NULL;
    int dup[2] = {1, -1}, bad[1] = {2};
    CHECK_ERR(gids_reduce(&o, GIDS_SUM, a, 2, dup, false), GIDS_EINVAL,
              "sum: dim -1 appears more than once in the dim list");
    CHECK_ERR(gids_reduce(&o, GIDS_MEAN, a, 1, bad, false), GIDS_EINDEX,
              "mean: dim 2 out of range");
    CHECK_ERR(gids_var(&o, a, 1, bad, 1, false), GIDS_EINDEX, "var: dim 2 out of range");
    CHECK_ERR(gids_max_dim(&o, NULL, a, 5, false), GIDS_EINDEX, "max: dim 5 out of range");
    CHECK_ERR(gids_softmax(&o, a, -3), GIDS_EINDEX, "softmax: dim -3 out of range");
    CHECK_ERR(gids_cumsum(&o, a, 2), GIDS_EINDEX, "cumsum: dim 2 out of range");
    CHECK_ERR(gids_reduce(&o, (gids_redop)42, a, 0, NULL, false), GIDS_EINVAL, "unknown op 42");
    CHECK(o == NULL);
    CHECK(strcmp(gids_redop_name(GIDS_LOGSUMEXP), "logsumexp") == 0);
    gids_tensor_release(a);
}

/* Sums of big inputs: exact values (integers in f32 sum exactly in f64) and bit-identical
 * results with 1 and several threads, over the generic and the column path. */
TEST(big_reductions_are_exact_and_thread_independent) {
    int64_t n = (int64_t)1 << 21;
    gids_tensor *a = NULL, *o1 = NULL, *o2 = NULL, *c = NULL, *m1 = NULL, *m2 = NULL;
    CHECK_OK(gids_arange(&a, GIDS_F32, gids_scalar_i(0), gids_scalar_i(n), gids_scalar_i(1)));
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK_OK(gids_reduce(&o1, GIDS_SUM, a, 0, NULL, false));
    omp_set_num_threads(saved > 1 ? saved : 2);
    CHECK_OK(gids_reduce(&o2, GIDS_SUM, a, 0, NULL, false));
    CHECK(at(o1, 0) == (double)(float)((double)n * (n - 1) / 2));
    CHECK(memcmp(gids_tensor_data(o1), gids_tensor_data(o2), 4) == 0);
    /* columns: [n/4, 4] summed over dim 0 (stride-1 kept dim) against the transposed copy */
    int64_t s[2] = {n / 4, 4};
    int d0[1] = {0}, d1[1] = {1};
    CHECK_OK(gids_view(&c, a, 2, s));
    omp_set_num_threads(1);
    CHECK_OK(gids_reduce(&m1, GIDS_MEAN, c, 1, d0, false));
    omp_set_num_threads(saved > 1 ? saved : 2);
    CHECK_OK(gids_reduce(&m2, GIDS_MEAN, c, 1, d0, false));
    CHECK(memcmp(gids_tensor_data(m1), gids_tensor_data(m2), 16) == 0);
    for (int j = 0; j < 4; j++) CHECK(at(m1, j) == (double)(n / 2 - 2 + j));
    gids_tensor *t = NULL, *tc = NULL, *r = NULL;
    CHECK_OK(gids_transpose(&t, c, 0, 1));
    CHECK_OK(gids_contiguous(&tc, t));
    CHECK_OK(gids_reduce(&r, GIDS_MEAN, tc, 1, d1, false));
    CHECK(memcmp(gids_tensor_data(r), gids_tensor_data(m1), 16) == 0);
    gids_tensor_release(r);
    CHECK_OK(gids_reduce(&r, GIDS_AMAX, t, 1, d1, false));
    for (int j = 0; j < 4; j++) CHECK(at(r, j) == (double)(n - 4 + j));
    gids_tensor_release(r);
    omp_set_num_threads(saved);
    gids_tensor_release(t);
    gids_tensor_release(tc);
    gids_tensor_release(c);
    gids_tensor_release(m1);
    gids_tensor_release(m2);
    gids_tensor_release(o1);
    gids_tensor_release(o2);
    gids_tensor_release(a);
}

/* ---------------------------------------------------------------- composed reductions */
TEST(var_std_with_correction) {
    int64_t s[2] = {2, 4};
    double v[8] = {1, 2, 3, 4, 2, 4, 6, 8};
    gids_tensor *a = from(GIDS_F64, 2, s, v), *o = NULL;
    int d1[1] = {1}, d0[1] = {0};
    CHECK_OK(gids_var(&o, a, 1, d1, 1, false));
    double w[2] = {5.0 / 3.0, 20.0 / 3.0};
    check_close(o, 2, w, 1e-15);
    gids_tensor_release(o);
    CHECK_OK(gids_var(&o, a, 1, d1, 0, true));
    int64_t s21[2] = {2, 1};
    check_shape(o, 2, s21);
    double w2[2] = {1.25, 5};
    check_close(o, 2, w2, 1e-15);
    gids_tensor_release(o);
    CHECK_OK(gids_std(&o, a, 1, d0, 1, false));
    double w3[4] = {sqrt(0.5), sqrt(2.0), sqrt(4.5), sqrt(8.0)};
    check_close(o, 4, w3, 1e-15);
    gids_tensor_release(o);
    CHECK_OK(gids_var(&o, a, 0, NULL, 1, false)); /* all: mean 3.75, ss 37.5 */
    CHECK_NEAR(at(o, 0), 37.5 / 7, 1e-15);
    gids_tensor_release(o);
    /* one element with correction 1: 0 / 0 */
    int d01[2] = {0, 1};
    gids_tensor *one = NULL;
    CHECK_OK(gids_narrow(&one, a, 1, 0, 1));
    gids_tensor *oo = NULL;
    CHECK_OK(gids_narrow(&oo, one, 0, 0, 1));
    CHECK_OK(gids_var(&o, oo, 2, d01, 1, false));
    CHECK(isnan(at(o, 0)));
    gids_tensor_release(o);
    int64_t s2 = 2, iv[2] = {1, 2};
    gids_tensor *i = from(GIDS_I64, 1, &s2, iv);
    o = NULL;
    CHECK_ERR(gids_std(&o, i, 0, NULL, 1, false), GIDS_EDTYPE, "std: input must be a float");
    CHECK(o == NULL);
    gids_tensor_release(i);
    gids_tensor_release(oo);
    gids_tensor_release(one);
    gids_tensor_release(a);
}

TEST(norms_for_each_p) {
    int64_t s[2] = {2, 3};
    float v[6] = {3, -4, 0, 1, 2, -2};
    gids_tensor *a = from(GIDS_F32, 2, s, v), *o = NULL;
    int d1[1] = {1};
    struct {
        double p;
        double w[2];
    } cases[] = {
        {2, {5, 3}},         {1, {7, 5}}, {INFINITY, {4, 2}},
        {-INFINITY, {0, 1}}, {0, {2, 3}}, {3, {cbrt(91.0), cbrt(17.0)}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        CHECK_OK(gids_norm(&o, a, cases[k].p, 1, d1, false));
        CHECK(o->dtype == GIDS_F32);
        check_close(o, 2, cases[k].w, 1e-6);
        gids_tensor_release(o);
    }
    CHECK_OK(gids_norm(&o, a, 2, 0, NULL, true));
    int64_t s11[2] = {1, 1};
    check_shape(o, 2, s11);
    CHECK_NEAR(at(o, 0), sqrt(34.0), 1e-6);
    gids_tensor_release(o);
    o = NULL;
    CHECK_ERR(gids_norm(&o, a, NAN, 0, NULL, false), GIDS_EINVAL, "norm: p must be a number");
    gids_tensor *i = NULL;
    CHECK_OK(gids_to_dtype(&i, a, GIDS_I64));
    CHECK_ERR(gids_norm(&o, i, 2, 0, NULL, false), GIDS_EDTYPE, "norm: input must be a float");
    CHECK(o == NULL);
    gids_tensor_release(i);
    gids_tensor_release(a);
}

TEST(logsumexp_is_stable) {
    int64_t s[2] = {3, 2};
    double v[6] = {1000, 1000, -INFINITY, -INFINITY, INFINITY, 0};
    gids_tensor *a = from(GIDS_F64, 2, s, v), *o = NULL;
    int d1[1] = {1};
    CHECK_OK(gids_reduce(&o, GIDS_LOGSUMEXP, a, 1, d1, false));
    double w[3] = {1000 + log(2.0), -INFINITY, INFINITY};
    check_close(o, 3, w, 1e-15);
    gids_tensor_release(o);
    double u[4] = {0, log(2.0), log(3.0), log(4.0)};
    int64_t s4[2] = {2, 2};
    gids_tensor *b = from(GIDS_F64, 2, s4, u);
    CHECK_OK(gids_reduce(&o, GIDS_LOGSUMEXP, b, 0, NULL, true));
    int64_t s11[2] = {1, 1};
    check_shape(o, 2, s11);
    CHECK_NEAR(at(o, 0), log(10.0), 1e-15);
    gids_tensor_release(o);
    gids_tensor_release(b);
    gids_tensor_release(a);
}

/* ---------------------------------------------------------------- max/min along a dim */
TEST(max_min_dim_return_first_extreme) {
    int64_t s[2] = {3, 4};
    float v[12] = {1, 5, 5, 2, 7, 7, 7, 7, -1, NAN, 3, NAN};
    gids_tensor *a = from(GIDS_F32, 2, s, v), *mv = NULL, *mi = NULL;
    CHECK_OK(gids_max_dim(&mv, &mi, a, 1, false));
    double wv[3] = {5, 7, NAN}, wi[3] = {1, 0, 1};
    check_close(mv, 3, wv, 0);
    check_close(mi, 3, wi, 0);
    CHECK(mv->dtype == GIDS_F32 && mi->dtype == GIDS_I64);
    gids_tensor_release(mv);
    gids_tensor_release(mi);
    CHECK_OK(gids_min_dim(&mv, &mi, a, 0, true));
    int64_t s14[2] = {1, 4};
    check_shape(mv, 2, s14);
    check_shape(mi, 2, s14);
    double wv2[4] = {-1, NAN, 3, NAN}, wi2[4] = {2, 2, 2, 2};
    check_close(mv, 4, wv2, 0);
    check_close(mi, 4, wi2, 0);
    gids_tensor_release(mv);
    gids_tensor_release(mi);
    /* integers keep their dtype; a transposed input */
    gids_tensor *i = arange_nd(GIDS_I32, 2, s), *t = NULL;
    CHECK_OK(gids_transpose(&t, i, 0, 1));
    CHECK_OK(gids_max_dim(&mv, NULL, t, 1, false));
    CHECK(mv->dtype == GIDS_I32);
    double wv3[4] = {8, 9, 10, 11};
    check_close(mv, 4, wv3, 0);
    gids_tensor_release(mv);
    CHECK_OK(gids_argmin(&mi, t, 0, false));
    double wi3[3] = {0, 0, 0};
    check_close(mi, 3, wi3, 0);
    gids_tensor_release(mi);
    CHECK_OK(gids_argmax(&mi, t, GIDS_ALL_DIMS, false)); /* flattened t: 11 is last */
    CHECK(mi->ndim == 0 && at(mi, 0) == 11);
    gids_tensor_release(mi);
    CHECK_OK(gids_argmax(&mi, a, GIDS_ALL_DIMS, true)); /* first NaN at flat 9 */
    int64_t s11[2] = {1, 1};
    check_shape(mi, 2, s11);
    CHECK(at(mi, 0) == 9);
    gids_tensor_release(mi);
    mi = NULL;
    CHECK_ERR(gids_max_dim(NULL, NULL, a, 0, false), GIDS_EINVAL, "max: both outputs are NULL");
    CHECK_ERR(gids_argmax(&mi, a, 2, false), GIDS_EINDEX, "argmax: dim 2 out of range");
    CHECK(mi == NULL);
    gids_tensor_release(t);
    gids_tensor_release(i);
    gids_tensor_release(a);
}

/* ---------------------------------------------------------------- softmax and scans */
TEST(softmax_and_log_softmax) {
    int64_t s[2] = {2, 3};
    double v[6] = {1, 2, 3, 1000, 1000, -INFINITY};
    gids_tensor *a = from(GIDS_F64, 2, s, v), *o = NULL;
    CHECK_OK(gids_softmax(&o, a, 1));
    double e = exp(1.0) + exp(2.0) + exp(3.0);
    double w[6] = {exp(1.0) / e, exp(2.0) / e, exp(3.0) / e, 0.5, 0.5, 0};
    check_close(o, 6, w, 1e-15);
    gids_tensor_release(o);
    CHECK_OK(gids_log_softmax(&o, a, -1));
    double w2[6] = {1 - log(e), 2 - log(e), 3 - log(e), -log(2.0), -log(2.0), -INFINITY};
    check_close(o, 6, w2, 1e-15);
    gids_tensor_release(o);
    /* along dim 0 of a transposed f32 view */
    int64_t s22[2] = {2, 2};
    float fv[4] = {0, 1, 2, 3};
    gids_tensor *f = from(GIDS_F32, 2, s22, fv), *t = NULL;
    CHECK_OK(gids_transpose(&t, f, 0, 1)); /* [[0,2],[1,3]] */
    CHECK_OK(gids_softmax(&o, t, 0));
    double s0 = 1 / (1 + exp(1.0));
    double w3[4] = {s0, s0, 1 - s0, 1 - s0};
    check_close(o, 4, w3, 1e-6);
    CHECK(o->dtype == GIDS_F32);
    gids_tensor_release(o);
    int64_t s2 = 2, iv[2] = {1, 2};
    gids_tensor *i = from(GIDS_I64, 1, &s2, iv);
    o = NULL;
    CHECK_ERR(gids_softmax(&o, i, 0), GIDS_EDTYPE, "softmax: input must be a float tensor");
    CHECK_ERR(gids_log_softmax(&o, i, 0), GIDS_EDTYPE, "log_softmax: input must be a float");
    CHECK(o == NULL);
    gids_tensor_release(i);
    gids_tensor_release(t);
    gids_tensor_release(f);
    gids_tensor_release(a);
}

/* f32 rows of 64 or more take the vectorised path (softmax.c): each row against an f64
 * computation, the max placed in every position class (the 32-lane body, its last lane, the
 * tail past it), and the edge rows: a NaN or a +inf gives a NaN row, an all -inf row a NaN row,
 * -inf and very negative entries probability exactly 0. */
TEST(softmax_f32_long_rows) {
    enum { R = 8, C = 70 };
    int64_t s[2] = {R, C};
    float v[R * C];
    for (int i = 0; i < R * C; i++) v[i] = (float)((i * 37) % 23) * 0.25f - 3.0f;
    /* Far above the rest: e^(x - max) of a wrong max would overflow, not just shift. */
    v[0 * C + 5] = 150.0f;  /* max inside the first 32 lanes */
    v[1 * C + 63] = 150.0f; /* the last lane of the second block */
    v[2 * C + 69] = 150.0f; /* the tail, after the blocks */
    v[3 * C + 10] = -INFINITY, v[3 * C + 11] = -1e30f, v[3 * C + 12] = -100.0f;
    v[4 * C + 40] = NAN;
    v[5 * C + 66] = INFINITY;
    for (int j = 0; j < C; j++) v[6 * C + j] = -INFINITY;
    for (int j = 0; j < C; j++) v[7 * C + j] = 88.0f + (float)j * 1e-3f; /* large, finite */
    gids_tensor *a = from(GIDS_F32, 2, s, v);
    for (int log_ = 0; log_ < 2; log_++) {
        gids_tensor *o = NULL;
        CHECK_OK(log_ ? gids_log_softmax(&o, a, 1) : gids_softmax(&o, a, 1));
        const float *p = gids_tensor_data(o);
        for (int r = 0; r < R; r++) {
            const float *x = v + r * C, *y = p + r * C;
            if (r == 4 || r == 5 || r == 6) {
                for (int j = 0; j < C; j++)
                    if (y[j] == y[j]) CHECK_FAIL_("row %d col %d: %g, not NaN", r, j, y[j]);
                continue;
            }
            double m = -INFINITY, z = 0;
            for (int j = 0; j < C; j++) m = x[j] > m ? x[j] : m;
            for (int j = 0; j < C; j++) z += exp((double)x[j] - m);
            for (int j = 0; j < C; j++) {
                double w = log_ ? ((double)x[j] - m) - log(z) : exp((double)x[j] - m) / z;
                double tol = 4e-7 * (fabs(w) > 1 ? fabs(w) : 1);
                if (isinf(w) ? y[j] != w : fabs(y[j] - w) > tol)
                    CHECK_FAIL_("%s row %d col %d: %.9g, want %.9g",
                                log_ ? "log_softmax" : "softmax", r, j, y[j], w);
            }
        }
        if (!log_) CHECK(p[3 * C + 10] == 0.0f && p[3 * C + 11] == 0.0f && p[3 * C + 12] == 0.0f);
        gids_tensor_release(o);
    }
    gids_tensor_release(a);
}

TEST(cumsum_and_cumprod) {
    int64_t s[2] = {2, 3};
    gids_tensor *a = arange_nd(GIDS_F32, 2, s), *o = NULL, *t = NULL;
    CHECK_OK(gids_cumsum(&o, a, 1));
    double w[6] = {0, 1, 3, 3, 7, 12};
    check_close(o, 6, w, 0);
    CHECK(o->dtype == GIDS_F32);
    gids_tensor_release(o);
    CHECK_OK(gids_cumsum(&o, a, 0));
    double w2[6] = {0, 1, 2, 3, 5, 7};
    check_close(o, 6, w2, 0);
    gids_tensor_release(o);
    CHECK_OK(gids_transpose(&t, a, 0, 1)); /* [[0,3],[1,4],[2,5]] */
    CHECK_OK(gids_cumprod(&o, t, 0));
    double w3[6] = {0, 3, 0, 12, 0, 60};
    check_close(o, 6, w3, 0);
    gids_tensor_release(o);
    int64_t s4 = 4;
    bool bv[4] = {true, false, true, true};
    gids_tensor *b = from(GIDS_BOOL, 1, &s4, bv);
    CHECK_OK(gids_cumsum(&o, b, 0));
    CHECK(o->dtype == GIDS_I64);
    double w4[4] = {1, 1, 2, 3};
    check_close(o, 4, w4, 0);
    gids_tensor_release(o);
    int32_t iv[4] = {2, -3, 4, 1};
    gids_tensor *i = from(GIDS_I32, 1, &s4, iv);
    CHECK_OK(gids_cumprod(&o, i, -1));
    CHECK(o->dtype == GIDS_I64);
    double w5[4] = {2, -6, -24, -24};
    check_close(o, 4, w5, 0);
    gids_tensor_release(o);
    gids_tensor_release(i);
    gids_tensor_release(b);
    gids_tensor_release(t);
    gids_tensor_release(a);
}

/* Scans along either layout (rows of contiguous memory, interleaved eight at a time with a
 * remainder group; columns in tiles) give exactly the sequential f64 running value rounded to
 * the dtype, element by element, and integers wrap in i64. */
TEST(cumsum_and_cumprod_are_the_sequential_f64_scan) {
    enum { R = 13, C = 97 };
    float v[R * C];
    for (int i = 0; i < R * C; i++) v[i] = (float)(1.0 + 0.01 * sin(0.7 * i)) * (i % 3 ? 1 : -1);
    int64_t rc[2] = {R, C};
    gids_tensor *a = from(GIDS_F32, 2, rc, v), *o = NULL;
    for (int prod = 0; prod < 2; prod++)
        for (int dim = 0; dim < 2; dim++) {
            CHECK_OK(prod ? gids_cumprod(&o, a, dim) : gids_cumsum(&o, a, dim));
            const float *y = gids_tensor_data(o);
            int lines = dim == 1 ? R : C, len = dim == 1 ? C : R;
            for (int l = 0; l < lines; l++) {
                double acc = prod;
                for (int k = 0; k < len; k++) {
                    int at_ = dim == 1 ? l * C + k : k * C + l;
                    acc = prod ? acc * (double)v[at_] : acc + (double)v[at_];
                    if (y[at_] != (float)acc)
                        CHECK_FAIL_("%s dim %d line %d step %d: %.9g, want %.9g",
                                    prod ? "cumprod" : "cumsum", dim, l, k, y[at_], (float)acc);
                }
            }
            gids_tensor_release(o);
        }
    int64_t n2[2] = {9, 2};
    int64_t iv[18];
    for (int i = 0; i < 18; i++) iv[i] = i == 2 ? INT64_MAX : i;
    gids_tensor *b = from(GIDS_I64, 2, n2, iv);
    CHECK_OK(gids_cumsum(&o, b, 1));
    const int64_t *q = gids_tensor_data(o);
    CHECK(q[2] == INT64_MAX && q[3] == INT64_MIN + 2 && q[17] == 33);
    gids_tensor_release(o);
    gids_tensor_release(b);
    gids_tensor_release(a);
}

/* Inputs above the parallel grain: softmax, cumsum and max_dim give the same bits with one and
 * with several threads, and cumsum's last row equals the column sums. */
TEST(big_softmax_scan_and_max_are_thread_independent) {
    gids_generator g;
    gids_generator_init(&g, 7);
    int64_t s[2] = {300, 200};
    gids_tensor *a = NULL;
    CHECK_OK(gids_randn(&a, &g, GIDS_F64, 2, s));
    int saved = omp_get_max_threads();
    gids_tensor *r[2][6] = {{NULL}};
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k == 0 ? 1 : (saved > 1 ? saved : 2));
        CHECK_OK(gids_softmax(&r[k][0], a, 1));
        CHECK_OK(gids_log_softmax(&r[k][1], a, 0));
        CHECK_OK(gids_cumsum(&r[k][2], a, 0));
        CHECK_OK(gids_max_dim(&r[k][3], &r[k][4], a, 1, false));
        CHECK_OK(gids_cumsum(&r[k][5], a, 1));
    }
    omp_set_num_threads(saved);
    size_t bytes[6] = {60000 * 8, 60000 * 8, 60000 * 8, 300 * 8, 300 * 8, 60000 * 8};
    for (int i = 0; i < 6; i++)
        if (memcmp(gids_tensor_data(r[0][i]), gids_tensor_data(r[1][i]), bytes[i]) != 0)
            CHECK_FAIL_("output %d differs between thread counts", i);
    gids_tensor *col = NULL, *rows = NULL;
    int d0[1] = {0}, d1[1] = {1};
    CHECK_OK(gids_reduce(&col, GIDS_SUM, a, 1, d0, false));
    const double *cs = gids_tensor_data(r[0][2]), *cv = gids_tensor_data(col);
    CHECK(memcmp(cs + 299 * 200, cv, 200 * 8) == 0);
    CHECK_OK(gids_reduce(&rows, GIDS_SUM, r[0][0], 1, d1, false));
    for (int i = 0; i < 300; i++) CHECK_NEAR(at(rows, i), 1.0, 1e-14);
    gids_tensor_release(rows);
    CHECK_OK(gids_reduce(&rows, GIDS_AMAX, a, 1, d1, false));
    CHECK(memcmp(gids_tensor_data(rows), gids_tensor_data(r[0][3]), 300 * 8) == 0);
    gids_tensor_release(rows);
    gids_tensor_release(col);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 6; i++) gids_tensor_release(r[k][i]);
    gids_tensor_release(a);
}

/* Every dim subset of a [70,3,260] input and of a permuted view of it, against a naive sum
 * (small integers, so every order of summation is exact). */
TEST(every_dim_subset_matches_a_naive_sum) {
    int64_t s[3] = {70, 3, 260}, n = 70 * 3 * 260;
    gids_tensor *r = NULL, *a = NULL, *m = NULL, *v = NULL;
    CHECK_OK(gids_arange(&r, GIDS_F32, gids_scalar_i(0), gids_scalar_i(n), gids_scalar_i(1)));
    CHECK_OK(gids_binary_scalar(&m, GIDS_REMAINDER, r, gids_scalar_i(7), false));
    CHECK_OK(gids_view(&a, m, 3, s));
    const int perm[3] = {2, 0, 1};
    CHECK_OK(gids_permute(&v, a, perm));
    for (int which = 0; which < 2; which++) {
        const gids_tensor *x = which ? v : a;
        for (uint32_t mask = 1; mask < 8; mask++) {
            int dims[3], nd = 0;
            for (int d = 0; d < 3; d++)
                if (mask & (1u << d)) dims[nd++] = d;
            gids_tensor *o = NULL;
            CHECK_OK(gids_reduce(&o, GIDS_SUM, x, nd, dims, true));
            /* naive: walk x's logical index space */
            int64_t osh[3];
            for (int d = 0; d < 3; d++) osh[d] = (mask & (1u << d)) ? 1 : x->shape[d];
            double *want = calloc((size_t)(osh[0] * osh[1] * osh[2]), sizeof(double));
            const float *base = gids_tensor_data(x);
            for (int64_t i = 0; i < x->shape[0]; i++)
                for (int64_t j = 0; j < x->shape[1]; j++)
                    for (int64_t k = 0; k < x->shape[2]; k++) {
                        int64_t oi = (mask & 1) ? 0 : i, oj = (mask & 2) ? 0 : j,
                                ok = (mask & 4) ? 0 : k;
                        want[(oi * osh[1] + oj) * osh[2] + ok] +=
                            base[i * x->stride[0] + j * x->stride[1] + k * x->stride[2]];
                    }
            int64_t no = osh[0] * osh[1] * osh[2], bad = 0;
            for (int64_t q = 0; q < no; q++) bad += at(o, q) != want[q];
            if (bad)
                CHECK_FAIL_("view %d mask %u: %lld outputs differ", which, mask, (long long)bad);
            free(want);
            gids_tensor_release(o);
        }
    }
    gids_tensor_release(v);
    gids_tensor_release(a);
    gids_tensor_release(m);
    gids_tensor_release(r);
}

int main(void) {
    RUN(sum_over_each_dim_list);
    RUN(sum_reads_strided_inputs);
    RUN(integer_and_bool_reductions);
    RUN(long_integer_sums_wrap_as_the_sequential_sum);
    RUN(extremes_any_all_and_nan);
    RUN(empty_reductions);
    RUN(dim_list_errors);
    RUN(big_reductions_are_exact_and_thread_independent);
    RUN(var_std_with_correction);
    RUN(norms_for_each_p);
    RUN(logsumexp_is_stable);
    RUN(max_min_dim_return_first_extreme);
    RUN(softmax_and_log_softmax);
    RUN(softmax_f32_long_rows);
    RUN(cumsum_and_cumprod);
    RUN(cumsum_and_cumprod_are_the_sequential_f64_scan);
    RUN(big_softmax_scan_and_max_are_thread_independent);
    RUN(every_dim_subset_matches_a_naive_sum);
    return check_summary("reduce");
}
