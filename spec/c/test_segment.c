/* test_segment.c -- segment_reduce (sum mean max min, with arg) and segment_softmax against
 * hand-computed values and a naive row-order reference; unsorted, sorted, strided and i32
 * indices, 3-D src, errors, and bit-identical results for 1 vs 4 threads. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

TEST(sums_and_averages_rows_by_an_unsorted_index_with_empty_segments) {
    float d[5] = {1, 2, 3, 4, 5};
    int64_t n = 5;
    int64_t ix[5] = {2, 0, 2, 1, 0};
    gids_tensor *src = from(GIDS_F32, 1, &n, d), *index = vec_i64(5, ix), *o = NULL, *arg = NULL;
    CHECK_OK(gids_segment_reduce(&o, NULL, GIDS_SEG_SUM, src, index, 4));
    CHECK(o->dtype == GIDS_F32 && o->ndim == 1 && o->shape[0] == 4);
    CHECK(same(o, 4, (double[]){7, 4, 4, 0}));
    gids_tensor_release(o);
    CHECK_OK(gids_segment_reduce(&o, &arg, GIDS_SEG_MEAN, src, index, 4));
    CHECK(arg == NULL); /* mean has no chosen row */
    CHECK(same(o, 4, (double[]){3.5, 4, 2, 0}));
    gids_tensor_release(o);
    gids_tensor_release(index);
    gids_tensor_release(src);
}

TEST(max_and_min_give_the_first_extreme_row_and_minus_one_when_empty) {
    /* rows: [1,9] [4,2] [4,7] [0,-1] [3,3] [4,9] */
    float d[12] = {1, 9, 4, 2, 4, 7, 0, -1, 3, 3, 4, 9};
    int64_t sh[2] = {6, 2};
    int64_t ix[6] = {1, 0, 1, 3, 1, 1};
    gids_tensor *src = from(GIDS_F32, 2, sh, d), *index = vec_i64(6, ix), *o = NULL, *arg = NULL;
    CHECK_OK(gids_segment_reduce(&o, &arg, GIDS_SEG_MAX, src, index, 4));
    CHECK(o->shape[0] == 4 && o->shape[1] == 2 && arg->dtype == GIDS_I64);
    CHECK(same(o, 8, (double[]){4, 2, 4, 9, 0, 0, 0, -1}));
    CHECK(same_i(arg, 8, (int64_t[]){1, 1, 2, 0, -1, -1, 3, 3}));
    gids_tensor_release(o);
    gids_tensor_release(arg);
    CHECK_OK(gids_segment_reduce(&o, &arg, GIDS_SEG_MIN, src, index, 4));
    CHECK(same(o, 8, (double[]){4, 2, 1, 3, 0, 0, 0, -1}));
    CHECK(same_i(arg, 8, (int64_t[]){1, 1, 0, 4, -1, -1, 3, 3}));
    gids_tensor_release(o);
    gids_tensor_release(arg);
    gids_tensor_release(index);
    gids_tensor_release(src);
}

TEST(max_lets_nan_win_as_max_dim_does) {
    double d[4] = {1, NAN, 5, 2};
    int64_t n = 4, ix[4] = {0, 0, 0, 1};
    gids_tensor *src = from(GIDS_F64, 1, &n, d), *index = vec_i64(4, ix), *o = NULL, *arg = NULL;
    CHECK_OK(gids_segment_reduce(&o, &arg, GIDS_SEG_MAX, src, index, 2));
    CHECK(same(o, 2, (double[]){NAN, 2}));
    CHECK(same_i(arg, 2, (int64_t[]){1, 3}));
    gids_tensor_release(o);
    gids_tensor_release(arg);
    gids_tensor_release(index);
    gids_tensor_release(src);
}

/* Row-order reference over a 2-D view [N, C] read element by element. */
static void ref_reduce(gids_segop op, const gids_tensor *src, const int64_t *ix, int64_t ns,
                       double *out, int64_t *arg) {
    int64_t N = src->shape[0], C = gids_tensor_numel(src) / (N ? N : 1);
    for (int64_t s = 0; s < ns; s++) {
        for (int64_t c = 0; c < C; c++) {
            double acc = 0;
            int64_t cnt = 0, am = -1;
            for (int64_t r = 0; r < N; r++) {
                if (ix[r] != s) continue;
                double x = at(src, r * C + c);
                if (op == GIDS_SEG_SUM || op == GIDS_SEG_MEAN)
                    acc += x;
                else if (cnt == 0 || (op == GIDS_SEG_MAX ? x > acc : x < acc))
                    acc = x, am = r;
                cnt++;
            }
            if (op == GIDS_SEG_MEAN && cnt) acc /= (double)cnt;
            out[s * C + c] = acc;
            if (arg) arg[s * C + c] = am;
        }
    }
}

static int matches_ref(gids_segop op, const gids_tensor *src, const gids_tensor *index,
                       const int64_t *ix, int64_t ns) {
    gids_tensor *o = NULL, *arg = NULL;
    bool want_arg = op == GIDS_SEG_MAX || op == GIDS_SEG_MIN;
    if (gids_segment_reduce(&o, want_arg ? &arg : NULL, op, src, index, ns) != GIDS_OK) return 0;
    int64_t C = gids_tensor_numel(src) / src->shape[0], m = ns * C;
    double *want = malloc(sizeof(double) * (size_t)(m ? m : 1));
    int64_t *warg = malloc(sizeof(int64_t) * (size_t)(m ? m : 1));
    ref_reduce(op, src, ix, ns, want, warg);
    int ok = o->shape[0] == ns && o->ndim == src->ndim;
    for (int64_t i = 0; i < m && ok; i++) {
        /* f32 output: the reference sum in double rounded once, as the kernel does */
        double w = src->dtype == GIDS_F32 ? (double)(float)want[i] : want[i];
        if (at(o, i) != w) ok = 0;
        if (arg && at_i(arg, i) != warg[i]) ok = 0;
    }
    free(want);
    free(warg);
    gids_tensor_release(o);
    gids_tensor_release(arg);
    return ok;
}

TEST(reduces_a_3d_src_like_a_naive_row_order_loop) {
    gids_generator g;
    gids_generator_init(&g, 21);
    int64_t sh[3] = {40, 3, 5}, n = 40;
    gids_tensor *src = NULL, *index = NULL;
    CHECK_OK(gids_randn(&src, &g, GIDS_F32, 3, sh));
    CHECK_OK(gids_randint(&index, &g, GIDS_I64, 0, 9, 1, &n));
    const int64_t *ix = gids_tensor_data(index);
    for (int op = GIDS_SEG_SUM; op <= GIDS_SEG_MIN; op++) {
        CHECK(matches_ref((gids_segop)op, src, index, ix, 11)); /* 9, 10 are empty */
    }
    gids_tensor *o = NULL;
    CHECK_OK(gids_segment_reduce(&o, NULL, GIDS_SEG_SUM, src, index, 11));
    CHECK(o->ndim == 3 && o->shape[0] == 11 && o->shape[1] == 3 && o->shape[2] == 5);
    gids_tensor_release(o);
    gids_tensor_release(index);
    gids_tensor_release(src);
}

TEST(reads_strided_src_and_index_and_i32_index) {
    gids_generator g;
    gids_generator_init(&g, 4);
    int64_t sh[2] = {6, 50}, n2 = 100;
    gids_tensor *base = NULL, *src = NULL, *longix = NULL, *index = NULL, *i32 = NULL;
    CHECK_OK(gids_randint(&base, &g, GIDS_F64, -5, 5, 2, sh));
    CHECK_OK(gids_transpose(&src, base, 0, 1)); /* [50, 6], column-major */
    CHECK_OK(gids_randint(&longix, &g, GIDS_I64, 0, 7, 1, &n2));
    int64_t ish[1] = {50}, ist[1] = {2};
    CHECK_OK(gids_as_strided(&index, longix, 1, ish, ist, 1)); /* odd positions */
    int64_t ix[50];
    for (int i = 0; i < 50; i++) ix[i] = at_i(index, i);
    for (int op = GIDS_SEG_SUM; op <= GIDS_SEG_MIN; op++)
        CHECK(matches_ref((gids_segop)op, src, index, ix, 7));
    CHECK_OK(gids_to_dtype(&i32, index, GIDS_I32));
    CHECK(matches_ref(GIDS_SEG_MAX, src, i32, ix, 7));
    gids_tensor_release(i32);
    gids_tensor_release(index);
    gids_tensor_release(longix);
    gids_tensor_release(src);
    gids_tensor_release(base);
}

TEST(sorted_index_takes_the_same_path_to_the_same_values) {
    float d[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; /* rows [1,2] [3,4] ... */
    int64_t sh[2] = {5, 2}, ix[5] = {0, 0, 1, 3, 3};
    gids_tensor *src = from(GIDS_F32, 2, sh, d), *index = vec_i64(5, ix), *o = NULL;
    CHECK_OK(gids_segment_reduce(&o, NULL, GIDS_SEG_SUM, src, index, 4));
    CHECK(same(o, 8, (double[]){4, 6, 5, 6, 0, 0, 16, 18}));
    gids_tensor_release(o);
    gids_tensor_release(index);
    gids_tensor_release(src);
}

TEST(reduces_integer_src_in_its_own_dtype) {
    int32_t d[4] = {5, -3, 7, 2};
    int64_t n = 4, ix[4] = {1, 1, 0, 1};
    gids_tensor *src = from(GIDS_I32, 1, &n, d), *index = vec_i64(4, ix), *o = NULL, *arg = NULL;
    CHECK_OK(gids_segment_reduce(&o, NULL, GIDS_SEG_SUM, src, index, 3));
    CHECK(o->dtype == GIDS_I32 && same_i(o, 3, (int64_t[]){7, 4, 0}));
    gids_tensor_release(o);
    CHECK_OK(gids_segment_reduce(&o, &arg, GIDS_SEG_MIN, src, index, 3));
    CHECK(same_i(o, 3, (int64_t[]){7, -3, 0}));
    CHECK(same_i(arg, 3, (int64_t[]){2, 1, -1}));
    gids_tensor_release(o);
    gids_tensor_release(arg);
    CHECK_ERR(gids_segment_reduce(&o, NULL, GIDS_SEG_MEAN, src, index, 3), GIDS_EDTYPE,
              "segment_mean: src must be a float tensor (f32 or f64), got i32");
    gids_tensor_release(index);
    gids_tensor_release(src);
}

TEST(rejects_bad_indices_shapes_and_dtypes) {
    float d[4] = {1, 2, 3, 4};
    int64_t n = 4, bad[4] = {0, 1, 2, 7}, neg[4] = {0, -1, 0, 0}, ok[4] = {0, 1, 0, 1};
    gids_tensor *src = from(GIDS_F32, 1, &n, d), *o = NULL;
    gids_tensor *ib = vec_i64(4, bad), *in = vec_i64(4, neg), *iok = vec_i64(4, ok);
    gids_tensor *short_ix = vec_i64(3, ok), *fix = NULL, *bsrc = NULL, *s0 = NULL;
    CHECK_ERR(gids_segment_reduce(&o, NULL, GIDS_SEG_SUM, src, ib, 5), GIDS_EINDEX,
              "segment_sum: index 7 out of range [0, 5) at position 3");
    CHECK_ERR(gids_segment_reduce(&o, NULL, GIDS_SEG_MAX, src, in, 2), GIDS_EINDEX,
              "segment_max: index -1 out of range [0, 2) at position 1");
    CHECK_ERR(gids_segment_softmax(&o, src, ib, 2), GIDS_EINDEX,
              "segment_softmax: index 2 out of range [0, 2) at position 2");
    CHECK_ERR(gids_segment_reduce(&o, NULL, GIDS_SEG_SUM, src, short_ix, 2), GIDS_ESHAPE,
              "segment_sum: index has shape [3], expected [4]");
    CHECK_ERR(gids_segment_reduce(&o, NULL, GIDS_SEG_SUM, src, iok, -1), GIDS_EINVAL,
              "num_segments must be >= 0, got -1");
    CHECK_ERR(gids_segment_reduce(&o, NULL, (gids_segop)9, src, iok, 2), GIDS_EINVAL, "op 9");
    CHECK_OK(gids_to_dtype(&fix, iok, GIDS_F32));
    CHECK_ERR(gids_segment_reduce(&o, NULL, GIDS_SEG_SUM, src, fix, 2), GIDS_EDTYPE, "index");
    CHECK_OK(gids_to_dtype(&bsrc, src, GIDS_BOOL));
    CHECK_ERR(gids_segment_reduce(&o, NULL, GIDS_SEG_SUM, bsrc, iok, 2), GIDS_EDTYPE, "bool");
    CHECK_OK(gids_full(&s0, GIDS_F32, GIDS_DEVICE_CPU, 0, NULL, gids_scalar_f(1)));
    CHECK_ERR(gids_segment_reduce(&o, NULL, GIDS_SEG_SUM, s0, iok, 2), GIDS_ESHAPE, "0-d");
    gids_tensor *isrc = NULL;
    CHECK_OK(gids_to_dtype(&isrc, src, GIDS_I64));
    CHECK_ERR(gids_segment_softmax(&o, isrc, iok, 2), GIDS_EDTYPE,
              "segment_softmax: src must be a float tensor");
    gids_tensor_release(isrc);
    gids_tensor_release(s0);
    gids_tensor_release(bsrc);
    gids_tensor_release(fix);
    gids_tensor_release(short_ix);
    gids_tensor_release(iok);
    gids_tensor_release(in);
    gids_tensor_release(ib);
    gids_tensor_release(src);
}

TEST(handles_zero_rows_and_zero_segments) {
    int64_t sh[2] = {0, 3}, z = 0;
    gids_tensor *src = NULL, *index = NULL, *o = NULL, *arg = NULL;
    CHECK_OK(gids_zeros(&src, GIDS_F32, GIDS_DEVICE_CPU, 2, sh));
    CHECK_OK(gids_zeros(&index, GIDS_I64, GIDS_DEVICE_CPU, 1, &z));
    CHECK_OK(gids_segment_reduce(&o, &arg, GIDS_SEG_MAX, src, index, 2));
    CHECK(same(o, 6, (double[]){0, 0, 0, 0, 0, 0}));
    CHECK(same_i(arg, 6, (int64_t[]){-1, -1, -1, -1, -1, -1}));
    gids_tensor_release(o);
    gids_tensor_release(arg);
    CHECK_OK(gids_segment_reduce(&o, NULL, GIDS_SEG_SUM, src, index, 0));
    CHECK(o->shape[0] == 0 && o->shape[1] == 3);
    gids_tensor_release(o);
    CHECK_OK(gids_segment_softmax(&o, src, index, 0));
    CHECK(o->shape[0] == 0);
    gids_tensor_release(o);
    gids_tensor_release(index);
    gids_tensor_release(src);
}

TEST(softmax_normalises_each_segment_and_column) {
    /* rows [1,2] [3,4] [0,-inf] [5,-inf]; index 0 1 0 1 */
    float d[8] = {1, 2, 3, 4, 0, -INFINITY, 5, -INFINITY};
    int64_t sh[2] = {4, 2}, ix[4] = {0, 1, 0, 1};
    gids_tensor *src = from(GIDS_F32, 2, sh, d), *index = vec_i64(4, ix), *o = NULL;
    CHECK_OK(gids_segment_softmax(&o, src, index, 3));
    CHECK(o->shape[0] == 4 && o->shape[1] == 2 && o->dtype == GIDS_F32);
    double a0 = 1 / (1 + exp(-1.0)), b0 = 1 / (1 + exp(-2.0));
    CHECK_NEAR(at(o, 0), a0, 1e-6); /* softmax(1, 0)[0] */
    CHECK_NEAR(at(o, 4), 1 - a0, 1e-6);
    CHECK_NEAR(at(o, 2), 1 - b0, 1e-6); /* softmax(3, 5)[0] */
    CHECK_NEAR(at(o, 6), b0, 1e-6);
    CHECK(at(o, 1) == 1 && at(o, 5) == 0); /* softmax(2, -inf) */
    CHECK(at(o, 3) == 1 && at(o, 7) == 0);
    gids_tensor_release(o);
    /* a column with only -inf has no mass: 0, not NaN */
    float m[2] = {-INFINITY, -INFINITY};
    int64_t n = 2, ix2[2] = {1, 1};
    gids_tensor *s2 = from(GIDS_F32, 1, &n, m), *i2 = vec_i64(2, ix2);
    CHECK_OK(gids_segment_softmax(&o, s2, i2, 2));
    CHECK(same(o, 2, (double[]){0, 0}));
    gids_tensor_release(o);
    gids_tensor_release(i2);
    gids_tensor_release(s2);
    gids_tensor_release(index);
    gids_tensor_release(src);
}

TEST(softmax_of_large_values_does_not_overflow_and_sums_to_one) {
    double d[3] = {1000, 1001, 999};
    int64_t n = 3, ix[3] = {0, 0, 0};
    gids_tensor *src = from(GIDS_F64, 1, &n, d), *index = vec_i64(3, ix), *o = NULL;
    CHECK_OK(gids_segment_softmax(&o, src, index, 1));
    double z = exp(-1.0) + 1 + exp(-2.0);
    CHECK_NEAR(at(o, 0), exp(-1.0) / z, 1e-14);
    CHECK_NEAR(at(o, 1), 1 / z, 1e-14);
    CHECK_NEAR(at(o, 0) + at(o, 1) + at(o, 2), 1.0, 1e-14);
    gids_tensor_release(o);
    gids_tensor_release(index);
    gids_tensor_release(src);
}

/* The GAT shape: [E, H] f32 with an unsorted index, large enough for 4 threads to run. */
TEST(gives_bit_identical_results_for_1_and_4_threads) {
    gids_generator g;
    gids_generator_init(&g, 9);
    int64_t sh[2] = {200000, 8}, e = 200000, ns = 5000;
    gids_tensor *src = NULL, *index = NULL;
    CHECK_OK(gids_randn(&src, &g, GIDS_F32, 2, sh));
    CHECK_OK(gids_randint(&index, &g, GIDS_I64, 0, ns, 1, &e));
    int saved = omp_get_max_threads();
    gids_tensor *r[2][4] = {{NULL}}, *arg[2] = {NULL, NULL};
    int threads[2] = {1, 4};
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(threads[k]);
        CHECK_OK(gids_segment_reduce(&r[k][0], NULL, GIDS_SEG_SUM, src, index, ns));
        CHECK_OK(gids_segment_reduce(&r[k][1], NULL, GIDS_SEG_MEAN, src, index, ns));
        CHECK_OK(gids_segment_reduce(&r[k][2], &arg[k], GIDS_SEG_MAX, src, index, ns));
        CHECK_OK(gids_segment_softmax(&r[k][3], src, index, ns));
    }
    omp_set_num_threads(saved);
    for (int j = 0; j < 4; j++) {
        size_t bytes = (size_t)gids_tensor_numel(r[0][j]) * 4;
        CHECK(bytes > 0 &&
              memcmp(gids_tensor_data(r[0][j]), gids_tensor_data(r[1][j]), bytes) == 0);
    }
    CHECK(memcmp(gids_tensor_data(arg[0]), gids_tensor_data(arg[1]),
                 (size_t)gids_tensor_numel(arg[0]) * 8) == 0);
    /* and the softmax of every segment and column sums to 1 */
    gids_tensor *sums = NULL;
    CHECK_OK(gids_segment_reduce(&sums, NULL, GIDS_SEG_SUM, r[0][3], index, ns));
    const float *ps = gids_tensor_data(sums);
    int ok = 1;
    for (int64_t i = 0; i < ns * 8; i++) ok &= fabsf(ps[i] - 1.0f) < 1e-5f;
    CHECK(ok);
    gids_tensor_release(sums);
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < 4; j++) gids_tensor_release(r[k][j]);
        gids_tensor_release(arg[k]);
    }
    gids_tensor_release(index);
    gids_tensor_release(src);
}

/* Large indices take the parallel, block-counted plan: same errors, same sorted shortcut. */
TEST(block_counted_plans_report_the_first_bad_position_and_match_sorted_input) {
    int64_t n = 100000, ns = 100;
    gids_tensor *src = NULL, *index = NULL, *o1 = NULL, *o4 = NULL;
    CHECK_OK(gids_ones(&src, GIDS_F32, GIDS_DEVICE_CPU, 1, &n));
    CHECK_OK(gids_empty(&index, GIDS_I64, GIDS_DEVICE_CPU, 1, &n));
    int64_t *ix = gids_tensor_data(index);
    for (int64_t i = 0; i < n; i++) ix[i] = i * ns / n; /* sorted: 1000 rows per segment */
    int saved = omp_get_max_threads();
    omp_set_num_threads(4);
    CHECK_OK(gids_segment_reduce(&o4, NULL, GIDS_SEG_SUM, src, index, ns));
    omp_set_num_threads(1);
    CHECK_OK(gids_segment_reduce(&o1, NULL, GIDS_SEG_SUM, src, index, ns));
    CHECK(at(o4, 0) == 1000 && at(o4, 99) == 1000);
    CHECK(memcmp(gids_tensor_data(o1), gids_tensor_data(o4), (size_t)ns * 4) == 0);
    ix[90000] = 100;
    ix[40000] = -4; /* blocks 1 and 2 both see a bad value: the earlier wins */
    omp_set_num_threads(4);
    gids_tensor *o = NULL;
    CHECK_ERR(gids_segment_reduce(&o, NULL, GIDS_SEG_SUM, src, index, ns), GIDS_EINDEX,
              "segment_sum: index -4 out of range [0, 100) at position 40000");
    ix[40000] = 0; /* now unsorted, one bad value left */
    CHECK_ERR(gids_segment_softmax(&o, src, index, ns), GIDS_EINDEX,
              "index 100 out of range [0, 100) at position 90000");
    omp_set_num_threads(saved);
    gids_tensor_release(o1);
    gids_tensor_release(o4);
    gids_tensor_release(index);
    gids_tensor_release(src);
}

int main(void) {
    RUN(sums_and_averages_rows_by_an_unsorted_index_with_empty_segments);
    RUN(max_and_min_give_the_first_extreme_row_and_minus_one_when_empty);
    RUN(max_lets_nan_win_as_max_dim_does);
    RUN(reduces_a_3d_src_like_a_naive_row_order_loop);
    RUN(reads_strided_src_and_index_and_i32_index);
    RUN(sorted_index_takes_the_same_path_to_the_same_values);
    RUN(reduces_integer_src_in_its_own_dtype);
    RUN(rejects_bad_indices_shapes_and_dtypes);
    RUN(handles_zero_rows_and_zero_segments);
    RUN(softmax_normalises_each_segment_and_column);
    RUN(softmax_of_large_values_does_not_overflow_and_sums_to_one);
    RUN(gives_bit_identical_results_for_1_and_4_threads);
    RUN(block_counted_plans_report_the_first_bad_position_and_match_sorted_input);
    return check_summary("segment");
}
