/* test_sort.c -- sort, argsort, topk, unique and bincount against hand-computed values and a
 * naive stable reference, on contiguous and strided inputs, with 1 vs 4 threads. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

TEST(sorts_with_ties_stably_both_ways) {
    float d[5] = {3, 1, 2, 1, 3};
    gids_tensor *a = vec_f32(5, d), *v = NULL, *ix = NULL;
    CHECK_OK(gids_sort(&v, &ix, a, 0, false, true));
    CHECK(same(v, 5, (double[]){1, 1, 2, 3, 3}));
    CHECK(same_i(ix, 5, (int64_t[]){1, 3, 2, 0, 4}));
    CHECK(v->dtype == GIDS_F32 && ix->dtype == GIDS_I64);
    gids_tensor_release(v);
    gids_tensor_release(ix);
    CHECK_OK(gids_sort(&v, &ix, a, -1, true, false));
    CHECK(same(v, 5, (double[]){3, 3, 2, 1, 1}));
    CHECK(same_i(ix, 5, (int64_t[]){0, 4, 2, 1, 3}));
    gids_tensor_release(v);
    gids_tensor_release(ix);
    gids_tensor_release(a);
}

TEST(puts_nan_last_ascending_and_first_descending) {
    float d[6] = {NAN, 1, -INFINITY, NAN, 0, INFINITY};
    gids_tensor *a = vec_f32(6, d), *v = NULL, *ix = NULL;
    CHECK_OK(gids_sort(&v, &ix, a, 0, false, true));
    CHECK(same(v, 6, (double[]){-INFINITY, 0, 1, INFINITY, NAN, NAN}));
    CHECK(same_i(ix, 6, (int64_t[]){2, 4, 1, 5, 0, 3}));
    gids_tensor_release(v);
    gids_tensor_release(ix);
    CHECK_OK(gids_sort(&v, &ix, a, 0, true, true));
    CHECK(same(v, 6, (double[]){NAN, NAN, INFINITY, 1, 0, -INFINITY}));
    CHECK(same_i(ix, 6, (int64_t[]){0, 3, 5, 1, 4, 2}));
    gids_tensor_release(v);
    gids_tensor_release(ix);
    gids_tensor_release(a);

    double e[4] = {2.5, NAN, -1e300, -0.0};
    int64_t n = 4;
    a = from(GIDS_F64, 1, &n, e);
    CHECK_OK(gids_sort(&v, &ix, a, 0, false, true));
    CHECK(same(v, 4, (double[]){-1e300, 0, 2.5, NAN}));
    CHECK(same_i(ix, 4, (int64_t[]){2, 3, 0, 1}));
    gids_tensor_release(v);
    gids_tensor_release(ix);
    gids_tensor_release(a);
}

TEST(treats_negative_zero_as_equal_to_zero_and_keeps_its_bits) {
    float d[3] = {0.0f, -0.0f, -1.0f};
    gids_tensor *a = vec_f32(3, d), *v = NULL, *ix = NULL;
    CHECK_OK(gids_sort(&v, &ix, a, 0, false, true));
    CHECK(same_i(ix, 3, (int64_t[]){2, 0, 1}));
    const float *pv = gids_tensor_data(v);
    CHECK(!signbit(pv[1]) && signbit(pv[2]));
    gids_tensor_release(v);
    gids_tensor_release(ix);
    gids_tensor_release(a);
}

TEST(sorts_a_transposed_tensor_along_each_dim) {
    float d[6] = {3, 1, 2, 0, 5, 4};
    int64_t sh[2] = {2, 3};
    gids_tensor *base = from(GIDS_F32, 2, sh, d), *t = NULL, *v = NULL, *ix = NULL;
    CHECK_OK(gids_transpose(&t, base, 0, 1)); /* [[3,0],[1,5],[2,4]] */
    CHECK_OK(gids_sort(&v, &ix, t, 0, false, true));
    CHECK(v->shape[0] == 3 && v->shape[1] == 2);
    CHECK(same(v, 6, (double[]){1, 0, 2, 4, 3, 5}));
    CHECK(same_i(ix, 6, (int64_t[]){1, 0, 2, 2, 0, 1}));
    gids_tensor_release(v);
    gids_tensor_release(ix);
    CHECK_OK(gids_sort(&v, &ix, t, 1, true, true));
    CHECK(same(v, 6, (double[]){3, 0, 5, 1, 4, 2}));
    CHECK(same_i(ix, 6, (int64_t[]){0, 1, 1, 0, 1, 0}));
    gids_tensor_release(v);
    gids_tensor_release(ix);
    gids_tensor_release(t);
    gids_tensor_release(base);
}

/* Naive stable sort of one lane read through gids_tensor_get (the reference). */
static void ref_lane(const double *x, int64_t n, bool desc, int64_t *order) {
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = 1; i < n; i++) {
        int64_t o = order[i], j = i - 1;
        for (; j >= 0; j--) {
            double p = x[order[j]], q = x[o];
            /* p goes after q? NaN is the largest value */
            bool after = desc ? (isnan(q) && !isnan(p)) || (!isnan(p) && !isnan(q) && p < q)
                              : (isnan(p) && !isnan(q)) || (!isnan(p) && !isnan(q) && p > q);
            if (!after) break;
            order[j + 1] = order[j];
        }
        order[j + 1] = o;
    }
}

/* Sorts t along dim and compares every lane with the naive reference. */
static int matches_reference(const gids_tensor *t, int dim, bool desc) {
    gids_tensor *v = NULL, *ix = NULL;
    if (gids_sort(&v, &ix, t, dim, desc, true) != GIDS_OK) return 0;
    int nd = t->ndim, ok = 1;
    int64_t n = t->shape[dim], lanes = gids_tensor_numel(t) / (n ? n : 1);
    int64_t inner = 1;
    for (int d = dim + 1; d < nd; d++) inner *= t->shape[d];
    double *x = malloc(sizeof(double) * (size_t)n);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)n);
    for (int64_t l = 0; l < lanes && ok; l++) {
        int64_t outer = l / inner, in = l % inner, base = outer * n * inner + in;
        for (int64_t i = 0; i < n; i++) x[i] = at(t, base + i * inner);
        ref_lane(x, n, desc, order);
        for (int64_t i = 0; i < n && ok; i++) {
            double got = at(v, base + i * inner), want = x[order[i]];
            if (at_i(ix, base + i * inner) != order[i]) ok = 0;
            if (!(got == want || (isnan(got) && isnan(want)))) ok = 0;
        }
    }
    free(x);
    free(order);
    gids_tensor_release(v);
    gids_tensor_release(ix);
    return ok;
}

TEST(matches_a_naive_stable_sort_on_long_lanes_of_every_dtype) {
    gids_generator g;
    gids_generator_init(&g, 7);
    int64_t n = 1000;
    gids_dtype dts[4] = {GIDS_I64, GIDS_I32, GIDS_U8, GIDS_F64};
    for (int k = 0; k < 4; k++) {
        gids_tensor *a = NULL;
        /* a small range forces many ties, negatives cover the sign handling */
        CHECK_OK(gids_randint(&a, &g, dts[k], dts[k] == GIDS_U8 ? 0 : -40, 40, 1, &n));
        CHECK(matches_reference(a, 0, false));
        CHECK(matches_reference(a, 0, true));
        gids_tensor_release(a);
    }
    gids_tensor *f = NULL;
    CHECK_OK(gids_randn(&f, &g, GIDS_F32, 1, &n));
    float *fp = gids_tensor_data(f);
    fp[10] = NAN;
    fp[500] = NAN;
    fp[20] = -0.0f;
    fp[30] = 0.0f;
    CHECK(matches_reference(f, 0, false));
    CHECK(matches_reference(f, 0, true));
    gids_tensor_release(f);

    /* i64 values far apart exercise all eight radix passes */
    int64_t big[6] = {INT64_MAX, -5, INT64_MIN, 1LL << 40, -(1LL << 50), 0};
    gids_tensor *b = vec_i64(6, big), *v = NULL, *ix = NULL;
    CHECK_OK(gids_sort(&v, &ix, b, 0, false, true));
    CHECK(same_i(v, 6, (int64_t[]){INT64_MIN, -(1LL << 50), -5, 0, 1LL << 40, INT64_MAX}));
    gids_tensor_release(v);
    gids_tensor_release(ix);
    gids_tensor_release(b);
}

TEST(sorts_3d_tensors_along_each_dim_including_narrowed_views) {
    gids_generator g;
    gids_generator_init(&g, 11);
    int64_t sh[3] = {4, 70, 5};
    gids_tensor *a = NULL, *nv = NULL, *p = NULL;
    CHECK_OK(gids_randint(&a, &g, GIDS_I32, -9, 9, 3, sh));
    for (int d = 0; d < 3; d++) {
        CHECK(matches_reference(a, d, false));
        CHECK(matches_reference(a, d, true));
    }
    CHECK_OK(gids_narrow(&nv, a, 1, 3, 60));
    int perm[3] = {2, 1, 0};
    CHECK_OK(gids_permute(&p, nv, perm)); /* [5, 60, 4], every stride non-unit */
    for (int d = 0; d < 3; d++) CHECK(matches_reference(p, d, d == 1));
    gids_tensor_release(p);
    gids_tensor_release(nv);
    gids_tensor_release(a);
}

TEST(argsort_gives_the_indices_of_sort) {
    float d[5] = {0.5f, -2, 7, 0.5f, 1};
    gids_tensor *a = vec_f32(5, d), *ix = NULL;
    CHECK_OK(gids_argsort(&ix, a, 0, true, true));
    CHECK(ix->dtype == GIDS_I64);
    CHECK(same_i(ix, 5, (int64_t[]){2, 4, 0, 3, 1}));
    gids_tensor_release(ix);
    gids_tensor_release(a);
}

TEST(sorts_0d_and_empty_tensors) {
    gids_tensor *s = NULL, *v = NULL, *ix = NULL, *e = NULL;
    CHECK_OK(gids_full(&s, GIDS_F32, GIDS_DEVICE_CPU, 0, NULL, gids_scalar_f(4.5)));
    CHECK_OK(gids_sort(&v, &ix, s, 0, false, true));
    CHECK(v->ndim == 0 && at(v, 0) == 4.5 && at_i(ix, 0) == 0);
    gids_tensor_release(v);
    gids_tensor_release(ix);
    int64_t sh[2] = {3, 0};
    CHECK_OK(gids_zeros(&e, GIDS_F64, GIDS_DEVICE_CPU, 2, sh));
    CHECK_OK(gids_sort(&v, &ix, e, 0, false, true));
    CHECK(v->shape[0] == 3 && v->shape[1] == 0 && gids_tensor_numel(ix) == 0);
    gids_tensor_release(v);
    gids_tensor_release(ix);
    gids_tensor_release(e);
    gids_tensor_release(s);
}

TEST(topk_takes_largest_or_smallest_with_lower_index_on_ties) {
    float d[6] = {1, 3, 3, 2, 5, 1};
    gids_tensor *a = vec_f32(6, d), *v = NULL, *ix = NULL;
    CHECK_OK(gids_topk(&v, &ix, a, 3, 0, true, true));
    CHECK(same(v, 3, (double[]){5, 3, 3}));
    CHECK(same_i(ix, 3, (int64_t[]){4, 1, 2}));
    gids_tensor_release(v);
    gids_tensor_release(ix);
    CHECK_OK(gids_topk(&v, &ix, a, 3, -1, false, true));
    CHECK(same(v, 3, (double[]){1, 1, 2}));
    CHECK(same_i(ix, 3, (int64_t[]){0, 5, 3}));
    gids_tensor_release(v);
    gids_tensor_release(ix);
    CHECK_OK(gids_topk(&v, &ix, a, 0, 0, true, true));
    CHECK(v->ndim == 1 && v->shape[0] == 0 && ix->shape[0] == 0);
    gids_tensor_release(v);
    gids_tensor_release(ix);
    CHECK_ERR(gids_topk(&v, &ix, a, 7, 0, true, true), GIDS_EINDEX,
              "topk: k 7 out of range for dim 0 of size 6");
    CHECK_ERR(gids_topk(&v, &ix, a, -1, 0, true, true), GIDS_EINDEX, "k -1 out of range");
    CHECK_ERR(gids_topk(&v, &ix, a, 1, 1, true, true), GIDS_EINDEX, "dim");
    gids_tensor_release(a);
}

TEST(topk_works_along_dim_0_of_a_matrix) {
    float d[6] = {1, 9, 4, 2, 4, 0}; /* [[1,9],[4,2],[4,0]] */
    int64_t sh[2] = {3, 2};
    gids_tensor *a = from(GIDS_F32, 2, sh, d), *v = NULL, *ix = NULL;
    CHECK_OK(gids_topk(&v, &ix, a, 2, 0, true, true));
    CHECK(v->shape[0] == 2 && v->shape[1] == 2);
    CHECK(same(v, 4, (double[]){4, 9, 4, 2}));
    CHECK(same_i(ix, 4, (int64_t[]){1, 0, 2, 1}));
    gids_tensor_release(v);
    gids_tensor_release(ix);
    gids_tensor_release(a);
}

TEST(unique_returns_sorted_values_inverse_and_counts) {
    int64_t d[6] = {3, 1, 3, 2, 1, 1};
    int64_t sh[2] = {2, 3};
    gids_tensor *a = from(GIDS_I64, 2, sh, d), *v = NULL, *inv = NULL, *cnt = NULL;
    CHECK_OK(gids_unique(&v, &inv, &cnt, a));
    CHECK(same_i(v, 3, (int64_t[]){1, 2, 3}));
    CHECK(inv->ndim == 2 && inv->shape[0] == 2 && inv->shape[1] == 3);
    CHECK(same_i(inv, 6, (int64_t[]){2, 0, 2, 1, 0, 0}));
    CHECK(same_i(cnt, 3, (int64_t[]){3, 1, 2}));
    gids_tensor_release(v);
    gids_tensor_release(inv);
    gids_tensor_release(cnt);
    /* strided: the transpose [[3,2],[1,1],[3,1]] flattens in its own row-major order */
    gids_tensor *t = NULL;
    CHECK_OK(gids_transpose(&t, a, 0, 1));
    CHECK_OK(gids_unique(&v, &inv, NULL, t));
    CHECK(same_i(v, 3, (int64_t[]){1, 2, 3}));
    CHECK(same_i(inv, 6, (int64_t[]){2, 1, 0, 0, 2, 0}));
    gids_tensor_release(v);
    gids_tensor_release(inv);
    gids_tensor_release(t);
    gids_tensor_release(a);
}

TEST(unique_keeps_each_nan_apart_and_handles_empty_input) {
    float d[5] = {NAN, 1, NAN, -0.0f, 0.0f};
    gids_tensor *a = vec_f32(5, d), *v = NULL, *inv = NULL, *cnt = NULL;
    CHECK_OK(gids_unique(&v, &inv, &cnt, a));
    CHECK(same(v, 4, (double[]){0, 1, NAN, NAN}));
    CHECK(same_i(inv, 5, (int64_t[]){2, 1, 3, 0, 0}));
    CHECK(same_i(cnt, 4, (int64_t[]){2, 1, 1, 1}));
    gids_tensor_release(v);
    gids_tensor_release(inv);
    gids_tensor_release(cnt);
    gids_tensor_release(a);
    int64_t z = 0;
    gids_tensor *e = NULL;
    CHECK_OK(gids_empty(&e, GIDS_I32, GIDS_DEVICE_CPU, 1, &z));
    CHECK_OK(gids_unique(&v, &inv, &cnt, e));
    CHECK(gids_tensor_numel(v) == 0 && gids_tensor_numel(inv) == 0 && gids_tensor_numel(cnt) == 0);
    CHECK(v->dtype == GIDS_I32);
    gids_tensor_release(v);
    gids_tensor_release(inv);
    gids_tensor_release(cnt);
    gids_tensor_release(e);
}

TEST(unique_matches_sort_on_a_large_input) {
    gids_generator g;
    gids_generator_init(&g, 3);
    int64_t n = 50000;
    gids_tensor *a = NULL, *v = NULL, *inv = NULL, *cnt = NULL;
    CHECK_OK(gids_randint(&a, &g, GIDS_I64, -1000, 1000, 1, &n));
    CHECK_OK(gids_unique(&v, &inv, &cnt, a));
    const int64_t *pa = gids_tensor_data(a), *pv = gids_tensor_data(v);
    const int64_t *pi = gids_tensor_data(inv), *pc = gids_tensor_data(cnt);
    int64_t u = gids_tensor_numel(v), total = 0;
    int ok = u > 0 && u <= 2000;
    for (int64_t i = 1; i < u; i++) ok &= pv[i - 1] < pv[i];
    for (int64_t i = 0; i < n; i++) ok &= pi[i] >= 0 && pi[i] < u && pv[pi[i]] == pa[i];
    for (int64_t i = 0; i < u; i++) total += pc[i];
    CHECK(ok);
    CHECK(total == n);
    gids_tensor_release(a);
    gids_tensor_release(v);
    gids_tensor_release(inv);
    gids_tensor_release(cnt);
}

TEST(bincount_counts_and_sums_weights) {
    int64_t d[5] = {1, 1, 3, 0, 1};
    gids_tensor *a = vec_i64(5, d), *r = NULL;
    CHECK_OK(gids_bincount(&r, a, NULL, 0));
    CHECK(r->dtype == GIDS_I64);
    CHECK(same_i(r, 4, (int64_t[]){1, 3, 0, 1}));
    gids_tensor_release(r);
    CHECK_OK(gids_bincount(&r, a, NULL, 6));
    CHECK(same_i(r, 6, (int64_t[]){1, 3, 0, 1, 0, 0}));
    gids_tensor_release(r);
    float w[5] = {0.5f, 1, 2, 0.25f, -4};
    gids_tensor *wt = vec_f32(5, w);
    CHECK_OK(gids_bincount(&r, a, wt, 2));
    CHECK(r->dtype == GIDS_F32);
    CHECK(same(r, 4, (double[]){0.25, -2.5, 0, 2}));
    gids_tensor_release(r);
    gids_tensor *w64 = NULL, *wi = NULL;
    CHECK_OK(gids_to_dtype(&w64, wt, GIDS_F64));
    CHECK_OK(gids_bincount(&r, a, w64, 0));
    CHECK(r->dtype == GIDS_F64 && same(r, 4, (double[]){0.25, -2.5, 0, 2}));
    gids_tensor_release(r);
    CHECK_OK(gids_to_dtype(&wi, a, GIDS_I32));
    CHECK_OK(gids_bincount(&r, wi, wi, 0)); /* integer weights sum in f64 */
    CHECK(r->dtype == GIDS_F64 && same(r, 4, (double[]){0, 3, 0, 3}));
    gids_tensor_release(r);
    gids_tensor_release(wi);
    gids_tensor_release(w64);
    gids_tensor_release(wt);
    gids_tensor_release(a);

    int64_t z = 0;
    gids_tensor *e = NULL;
    CHECK_OK(gids_empty(&e, GIDS_I64, GIDS_DEVICE_CPU, 1, &z));
    CHECK_OK(gids_bincount(&r, e, NULL, 3));
    CHECK(same_i(r, 3, (int64_t[]){0, 0, 0}));
    gids_tensor_release(r);
    gids_tensor_release(e);
}

TEST(bincount_reads_a_strided_input) {
    int64_t d[6] = {2, 9, 0, 9, 2, 9};
    gids_tensor *a = vec_i64(6, d), *s = NULL, *r = NULL;
    int64_t shape[1] = {3}, stride[1] = {2};
    CHECK_OK(gids_as_strided(&s, a, 1, shape, stride, 0)); /* {2, 0, 2} */
    CHECK_OK(gids_bincount(&r, s, NULL, 0));
    CHECK(same_i(r, 3, (int64_t[]){1, 0, 2}));
    gids_tensor_release(r);
    gids_tensor_release(s);
    gids_tensor_release(a);
}

TEST(bincount_rejects_bad_input) {
    int64_t d[3] = {1, -2, 0};
    gids_tensor *a = vec_i64(3, d), *r = NULL, *f = NULL, *m = NULL, *w = NULL;
    CHECK_ERR(gids_bincount(&r, a, NULL, 0), GIDS_EINVAL,
              "bincount: value -2 at position 1 (0-based) is negative");
    float fd[2] = {1, 2};
    f = vec_f32(2, fd);
    CHECK_ERR(gids_bincount(&r, f, NULL, 0), GIDS_EDTYPE, "bincount: input must be an integer");
    int64_t sh[2] = {1, 3};
    m = from(GIDS_I64, 2, sh, d);
    CHECK_ERR(gids_bincount(&r, m, NULL, 0), GIDS_ESHAPE, "must be 1-D, got shape [1,3]");
    int64_t ok[2] = {0, 1};
    gids_tensor *g = vec_i64(2, ok);
    CHECK_ERR(gids_bincount(&r, g, NULL, -1), GIDS_EINVAL, "minlength must be >= 0, got -1");
    w = vec_f32(2, fd);
    CHECK_ERR(gids_bincount(&r, a, w, 0), GIDS_ESHAPE, "weights has shape [2], expected [3]");
    gids_tensor_release(g);
    gids_tensor_release(w);
    gids_tensor_release(m);
    gids_tensor_release(f);
    gids_tensor_release(a);
}

TEST(sort_rejects_bad_dims) {
    float d[2] = {1, 2};
    gids_tensor *a = vec_f32(2, d), *v = NULL, *ix = NULL;
    CHECK_ERR(gids_sort(&v, &ix, a, 1, false, true), GIDS_EINDEX, "sort: dim 1 out of range");
    CHECK_ERR(gids_argsort(&ix, a, -3, false, true), GIDS_EINDEX, "argsort: dim -3 out of range");
    gids_tensor_release(a);
}

TEST(gives_bit_identical_results_for_1_and_4_threads) {
    gids_generator g;
    gids_generator_init(&g, 5);
    int64_t sh[2] = {520, 257}; /* above 4 parallel grains: 4 threads really run */
    gids_tensor *a = NULL, *v1 = NULL, *i1 = NULL, *v4 = NULL, *i4 = NULL;
    CHECK_OK(gids_randn(&a, &g, GIDS_F32, 2, sh));
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK_OK(gids_sort(&v1, &i1, a, 0, true, true));
    omp_set_num_threads(4);
    CHECK_OK(gids_sort(&v4, &i4, a, 0, true, true));
    omp_set_num_threads(saved);
    size_t n = (size_t)gids_tensor_numel(a);
    CHECK(memcmp(gids_tensor_data(v1), gids_tensor_data(v4), n * 4) == 0);
    CHECK(memcmp(gids_tensor_data(i1), gids_tensor_data(i4), n * 8) == 0);
    CHECK(matches_reference(a, 1, false));
    gids_tensor_release(v1);
    gids_tensor_release(i1);
    gids_tensor_release(v4);
    gids_tensor_release(i4);
    gids_tensor_release(a);
}

int main(void) {
    RUN(sorts_with_ties_stably_both_ways);
    RUN(puts_nan_last_ascending_and_first_descending);
    RUN(treats_negative_zero_as_equal_to_zero_and_keeps_its_bits);
    RUN(sorts_a_transposed_tensor_along_each_dim);
    RUN(matches_a_naive_stable_sort_on_long_lanes_of_every_dtype);
    RUN(sorts_3d_tensors_along_each_dim_including_narrowed_views);
    RUN(argsort_gives_the_indices_of_sort);
    RUN(sorts_0d_and_empty_tensors);
    RUN(topk_takes_largest_or_smallest_with_lower_index_on_ties);
    RUN(topk_works_along_dim_0_of_a_matrix);
    RUN(unique_returns_sorted_values_inverse_and_counts);
    RUN(unique_keeps_each_nan_apart_and_handles_empty_input);
    RUN(unique_matches_sort_on_a_large_input);
    RUN(bincount_counts_and_sums_weights);
    RUN(bincount_reads_a_strided_input);
    RUN(bincount_rejects_bad_input);
    RUN(sort_rejects_bad_dims);
    RUN(gives_bit_identical_results_for_1_and_4_threads);
    return check_summary("sort");
}
