/* test_metrics.c -- metric hot loops against values computed by hand (the sums are written out
 * in the comments), a brute-force pairwise AUROC on tie-heavy random data, strided inputs, and
 * the error messages.  scikit-learn agreement is checked by spec/metrics/sklearn_spec.lua. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "gids/metrics.h"
#include "helpers.h"

static gids_tensor *vec_f64(int64_t n, const double *d) {
    return from(GIDS_F64, 1, &n, d);
}

/* y = 1 0 1 1 0 0, s = .9 .8 .8 .3 .2 .1: points (TP, FP) = (1,0) (2,1) (3,1) (3,2) (3,3). */
static const double S6[6] = {0.9, 0.8, 0.8, 0.3, 0.2, 0.1};
static const int64_t Y6[6] = {1, 0, 1, 1, 0, 0};

TEST(summarises_a_small_curve_with_a_tie) {
    gids_tensor *s = vec_f64(6, S6), *y = vec_i64(6, Y6);
    gids_binary_summary b;
    CHECK_OK(gids_metrics_binary(&b, s, y, 2, 1, 0.95, 0.99));
    CHECK(b.n == 6 && b.positives == 3 && b.negatives == 3 && b.distinct == 5);
    /* pairs: .9 beats 3, .8 beats 2 and ties 1, .3 beats 2 -> 7.5 / 9 */
    CHECK_NEAR(b.auroc, 7.5 / 9.0, 1e-15);
    /* (1/3)(1/1) + (1/3)(2/3) + (1/3)(3/4) */
    CHECK_NEAR(b.ap, 29.0 / 36.0, 1e-15);
    /* J = 1/3, 1/3, 2/3, 1/3, 0 */
    CHECK(b.youden_threshold == 0.3);
    CHECK_NEAR(b.youden_j, 2.0 / 3.0, 1e-15);
    /* recall >= .95 at .3 (P 3/4), .2 (3/5), .1 (1/2); precision >= .99 only at .9 (R 1/3) */
    CHECK_NEAR(b.precision_at_recall, 0.75, 1e-15);
    CHECK(b.threshold_at_recall == 0.3);
    CHECK_NEAR(b.recall_at_precision, 1.0 / 3.0, 1e-15);
    CHECK(b.threshold_at_precision == 0.9);
    gids_tensor_release(s);
    gids_tensor_release(y);
}

TEST(breaks_youden_ties_towards_the_highest_threshold) {
    /* J at 4, 3, 2, 1 = 1/2, 0, 1/2, 0: the first maximum (threshold 4) wins. */
    gids_tensor *s = vec_f64(4, (double[]){4, 3, 2, 1}), *y = vec_i64(4, (int64_t[]){1, 0, 1, 0});
    gids_binary_summary b;
    CHECK_OK(gids_metrics_binary(&b, s, y, 2, 1, 0.95, 0.99));
    CHECK(b.youden_threshold == 4.0);
    CHECK_NEAR(b.youden_j, 0.5, 1e-15);
    gids_tensor_release(s);
    gids_tensor_release(y);
    /* One tied point with J = 0: the (0,0) point at +inf comes first. */
    s = vec_f64(2, (double[]){0.5, 0.5});
    y = vec_i64(2, (int64_t[]){1, 0});
    CHECK_OK(gids_metrics_binary(&b, s, y, 2, 1, 0.95, 0.99));
    CHECK(isinf(b.youden_threshold) && b.youden_threshold > 0 && b.youden_j == 0.0);
    CHECK_NEAR(b.auroc, 0.5, 1e-15);
    gids_tensor_release(s);
    gids_tensor_release(y);
}

TEST(reports_an_unreachable_precision_as_recall_zero_at_infinity) {
    gids_tensor *s = vec_f64(2, (double[]){0.9, 0.1}), *y = vec_i64(2, (int64_t[]){0, 1});
    gids_binary_summary b;
    CHECK_OK(gids_metrics_binary(&b, s, y, 2, 1, 0.95, 0.99));
    CHECK(b.auroc == 0.0);
    CHECK_NEAR(b.ap, 0.5, 1e-15);
    CHECK(b.recall_at_precision == 0.0 && isinf(b.threshold_at_precision));
    CHECK(b.precision_at_recall == 0.5 && b.threshold_at_recall == 0.1);
    gids_tensor_release(s);
    gids_tensor_release(y);
}

TEST(gives_nan_for_what_a_single_class_leaves_undefined) {
    gids_tensor *s = vec_f64(3, (double[]){0.1, 0.2, 0.2}), *y0 = vec_i64(3, (int64_t[]){0, 0, 0});
    gids_tensor *y1 = vec_i64(3, (int64_t[]){1, 1, 1});
    gids_binary_summary b;
    CHECK_OK(gids_metrics_binary(&b, s, y0, 2, 1, 0.95, 0.99));
    CHECK(isnan(b.auroc) && isnan(b.ap) && isnan(b.youden_threshold) && isnan(b.youden_j));
    CHECK(isnan(b.precision_at_recall) && isnan(b.recall_at_precision));
    CHECK_OK(gids_metrics_binary(&b, s, y1, 2, 1, 0.95, 0.99));
    CHECK(isnan(b.auroc) && b.ap == 1.0 && isnan(b.youden_threshold));
    CHECK(b.precision_at_recall == 1.0 && b.threshold_at_recall == 0.1); /* recall 1 only at .1 */
    gids_tensor_release(s);
    gids_tensor_release(y0);
    gids_tensor_release(y1);
}

/* Mann-Whitney: P(score of a positive > score of a negative) + P(tie) / 2. */
static double pairwise_auroc(const float *s, const int64_t *y, int n) {
    double num = 0;
    int64_t p = 0, q = 0;
    for (int i = 0; i < n; i++) p += y[i], q += !y[i];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (y[i] && !y[j]) num += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
    return num / ((double)p * (double)q);
}

TEST(matches_the_pairwise_auroc_on_tie_heavy_strided_data) {
    enum { N = 500 };
    float d[2 * N];
    int64_t y[N];
    srand(7);
    for (int i = 0; i < N; i++) {
        y[i] = rand() % 3 == 0;
        d[2 * i] = (float)(rand() % 9) / 8.0f + (float)y[i] * 0.25f; /* 9 levels, shifted */
        d[2 * i + 1] = -1.0f;
    }
    float col[N];
    for (int i = 0; i < N; i++) col[i] = d[2 * i];
    int64_t sh[2] = {N, 2};
    gids_tensor *m = from(GIDS_F32, 2, sh, d), *s = NULL, *yt = vec_i64(N, y);
    CHECK_OK(gids_select(&s, m, 1, 0)); /* stride 2 */
    gids_binary_summary b;
    CHECK_OK(gids_metrics_binary(&b, s, yt, 2, 1, 0.95, 0.99));
    CHECK_NEAR(b.auroc, pairwise_auroc(col, y, N), 1e-14);
    CHECK(b.distinct <= 18);
    gids_tensor_release(s);
    gids_tensor_release(m);
    gids_tensor_release(yt);
}

TEST(treats_one_class_against_the_rest) {
    /* class 2 of labels 0..2 as positive: y = 0 0 1 1 -> the 4-sample AUROC of 0.75 */
    gids_tensor *s = vec_f64(4, (double[]){0.1, 0.6, 0.4, 0.8});
    gids_tensor *y = vec_i64(4, (int64_t[]){1, 0, 2, 2});
    gids_binary_summary b;
    CHECK_OK(gids_metrics_binary(&b, s, y, 3, 2, 0.95, 0.99));
    CHECK(b.positives == 2 && b.negatives == 2);
    CHECK_NEAR(b.auroc, 0.75, 1e-15);
    gids_tensor_release(s);
    gids_tensor_release(y);
}

TEST(returns_sklearn_shaped_curves) {
    gids_tensor *s = vec_f64(6, S6), *y = vec_i64(6, Y6), *a = NULL, *b = NULL, *t = NULL;
    CHECK_OK(gids_metrics_roc_curve(&a, &b, &t, s, y, 2, 1));
    check_close(a, 6, (double[]){0, 0, 1. / 3, 1. / 3, 2. / 3, 1}, 1e-15);
    check_close(b, 6, (double[]){0, 1. / 3, 2. / 3, 1, 1, 1}, 1e-15);
    CHECK(isinf(at(t, 0)));
    check_close(t, 6, (double[]){INFINITY, 0.9, 0.8, 0.3, 0.2, 0.1}, 0);
    gids_tensor_release(a);
    gids_tensor_release(b);
    gids_tensor_release(t);
    CHECK_OK(gids_metrics_pr_curve(&a, &b, &t, s, y, 2, 1));
    check_close(a, 6, (double[]){0.5, 0.6, 0.75, 2. / 3, 1, 1}, 1e-15);
    check_close(b, 6, (double[]){1, 1, 1, 2. / 3, 1. / 3, 0}, 1e-15);
    CHECK(t->shape[0] == 5);
    check_close(t, 5, (double[]){0.1, 0.2, 0.3, 0.8, 0.9}, 0);
    gids_tensor_release(a);
    gids_tensor_release(b);
    gids_tensor_release(t);
    gids_tensor_release(s);
    gids_tensor_release(y);
}

TEST(counts_confusion_matrices) {
    gids_tensor *p = vec_i64(4, (int64_t[]){0, 2, 1, 1}), *y = vec_i64(4, (int64_t[]){0, 1, 1, 2});
    gids_tensor *cm = NULL;
    CHECK_OK(gids_metrics_confusion(&cm, p, y, 3));
    CHECK(cm->ndim == 2 && cm->shape[0] == 3 && cm->shape[1] == 3 && cm->dtype == GIDS_I64);
    CHECK(same_i(cm, 9, (int64_t[]){1, 0, 0, 0, 1, 1, 0, 1, 0}));
    gids_tensor_release(cm);
    CHECK_ERR(gids_metrics_confusion(&cm, p, y, 2), GIDS_EINDEX, "preds[1] = 2 is outside [0, 2)");
    gids_tensor_release(p);
    gids_tensor_release(y);

    gids_tensor *s = vec_f64(6, S6);
    y = vec_i64(6, Y6);
    CHECK_OK(gids_metrics_threshold_confusion(&cm, s, y, 0.8)); /* predicted: 1 1 1 0 0 0 */
    CHECK(same_i(cm, 4, (int64_t[]){2, 1, 1, 2}));
    gids_tensor_release(cm);
    CHECK_OK(gids_metrics_threshold_confusion(&cm, s, y, INFINITY));
    CHECK(same_i(cm, 4, (int64_t[]){3, 0, 3, 0}));
    gids_tensor_release(cm);
    gids_tensor_release(s);
    gids_tensor_release(y);
}

TEST(computes_the_calibration_error_with_a_bin_for_one) {
    /* bins of 1/15: .1 -> bin 1 (acc 0), .4 -> bin 6 (acc 1/2), 1.0 alone (acc 1):
     * |0 - .1| * 1/4 + |.5 - .4| * 2/4 + 0 = .075 */
    gids_tensor *c = vec_f64(4, (double[]){0.1, 0.4, 0.4, 1.0});
    gids_tensor *ok = vec_i64(4, (int64_t[]){0, 1, 0, 1});
    double e = -1;
    CHECK_OK(gids_metrics_ece(&e, c, ok, 15));
    CHECK_NEAR(e, 0.075, 1e-15);
    gids_tensor_release(c);
    gids_tensor_release(ok);
    /* 0.3 sits on the boundary 3/10 and belongs to the upper bin; just below it, the lower:
     * bins [.2,.3) -> {a} with acc 1, [.3,.4) -> {0.3} with acc 0. */
    double below = nextafter(0.3, 0.0);
    c = vec_f64(2, (double[]){below, 0.3});
    ok = vec_i64(2, (int64_t[]){1, 0});
    CHECK_OK(gids_metrics_ece(&e, c, ok, 10));
    CHECK_NEAR(e, 0.5 * (1 - below) + 0.5 * 0.3, 1e-15);
    gids_tensor_release(c);
    gids_tensor_release(ok);
}

TEST(names_the_bad_argument) {
    gids_tensor *s = vec_f64(3, (double[]){0.1, NAN, 0.3}), *y = vec_i64(3, (int64_t[]){0, 1, 0});
    gids_binary_summary b;
    CHECK_ERR(gids_metrics_binary(&b, s, y, 2, 1, 0.95, 0.99), GIDS_EINVAL,
              "scores[1] is NaN; scores must be finite");
    gids_tensor_release(s);
    s = vec_f64(3, (double[]){0.1, 0.2, 0.3});
    gids_tensor *y3 = vec_i64(3, (int64_t[]){0, 3, 0}), *y2 = vec_i64(2, (int64_t[]){0, 1});
    CHECK_ERR(gids_metrics_binary(&b, s, y3, 2, 1, 0.95, 0.99), GIDS_EINDEX,
              "labels[1] = 3 is outside [0, 2)");
    CHECK_ERR(gids_metrics_binary(&b, s, y2, 2, 1, 0.95, 0.99), GIDS_ESHAPE,
              "labels has 2 elements, expected 3 (one per score)");
    CHECK_ERR(gids_metrics_binary(&b, s, y, 2, 2, 0.95, 0.99), GIDS_EINVAL,
              "positive_class 2 is outside [0, 2)");
    CHECK_ERR(gids_metrics_binary(&b, s, y, 2, 1, 1.5, 0.99), GIDS_EINVAL,
              "min_recall must be in [0, 1], got 1.5");
    CHECK_ERR(gids_metrics_binary(&b, y, y, 2, 1, 0.95, 0.99), GIDS_EDTYPE,
              "scores must be f32 or f64, got i64");
    CHECK_ERR(gids_metrics_binary(&b, s, s, 2, 1, 0.95, 0.99), GIDS_EDTYPE,
              "labels must be an integer or bool tensor of class ids, got f64");
    int64_t sh[2] = {3, 1};
    gids_tensor *s2 = NULL;
    CHECK_OK(gids_view(&s2, s, 2, sh));
    CHECK_ERR(gids_metrics_binary(&b, s2, y, 2, 1, 0.95, 0.99), GIDS_ESHAPE,
              "scores must be 1-D, got shape [3,1]");
    gids_tensor *e = NULL, *ei = NULL;
    int64_t zero = 0;
    CHECK_OK(gids_empty(&e, GIDS_F32, GIDS_DEVICE_CPU, 1, &zero));
    CHECK_OK(gids_empty(&ei, GIDS_I64, GIDS_DEVICE_CPU, 1, &zero));
    CHECK_ERR(gids_metrics_binary(&b, e, ei, 2, 1, 0.95, 0.99), GIDS_EINVAL, "scores are empty");
    double v;
    gids_tensor *big = vec_f64(3, (double[]){0.1, 1.5, 0.3});
    CHECK_ERR(gids_metrics_ece(&v, big, y, 15), GIDS_EINVAL,
              "confidence[1] = 1.5 is outside [0, 1]");
    CHECK_ERR(gids_metrics_ece(&v, s, y, 0), GIDS_EINVAL, "n_bins must be in [1, 100000], got 0");
    gids_tensor *cm = NULL;
    CHECK_ERR(gids_metrics_threshold_confusion(&cm, s, y, NAN), GIDS_EINVAL, "threshold is NaN");
    CHECK(cm == NULL);
    gids_tensor_release(big);
    gids_tensor_release(e);
    gids_tensor_release(ei);
    gids_tensor_release(s2);
    gids_tensor_release(s);
    gids_tensor_release(y);
    gids_tensor_release(y2);
    gids_tensor_release(y3);
}

TEST(reads_labels_of_every_integer_dtype) {
    gids_tensor *s = vec_f64(4, (double[]){0.9, 0.1, 0.8, 0.3}), *y = NULL;
    int64_t n = 4;
    gids_binary_summary b;
    const gids_dtype dts[3] = {GIDS_I32, GIDS_U8, GIDS_BOOL};
    for (int i = 0; i < 3; i++) {
        if (dts[i] == GIDS_I32)
            y = from(GIDS_I32, 1, &n, (int32_t[]){1, 0, 0, 1});
        else
            y = from(dts[i], 1, &n, (uint8_t[]){1, 0, 0, 1});
        CHECK_OK(gids_metrics_binary(&b, s, y, 2, 1, 0.95, 0.99));
        CHECK(b.positives == 2);
        CHECK_NEAR(b.auroc, 0.75, 1e-15); /* .9 beats both, .3 beats .1 only */
        gids_tensor_release(y);
    }
    gids_tensor_release(s);
}

TEST(gives_sklearns_nan_curve_for_a_missing_class) {
    gids_tensor *s = vec_f64(3, (double[]){0.1, 0.3, 0.2}), *y = vec_i64(3, (int64_t[]){0, 0, 0});
    gids_tensor *a = NULL, *b = NULL, *t = NULL;
    CHECK_OK(gids_metrics_roc_curve(&a, &b, &t, s, y, 2, 1));
    check_values(a, 4, (double[]){0, 1. / 3, 2. / 3, 1});
    check_values(b, 4, (double[]){NAN, NAN, NAN, NAN});
    gids_tensor_release(a);
    gids_tensor_release(b);
    gids_tensor_release(t);
    CHECK_OK(gids_metrics_pr_curve(&a, &b, &t, s, y, 2, 1));
    check_values(a, 4, (double[]){0, 0, 0, 1});
    check_values(b, 4, (double[]){1, 1, 1, 0}); /* sklearn sets recall to 1 without positives */
    gids_tensor_release(a);
    gids_tensor_release(b);
    gids_tensor_release(t);
    gids_tensor_release(s);
    gids_tensor_release(y);
}

TEST(reduces_to_the_calibration_gap_with_one_bin) {
    /* one bin [0, 1) plus the bin of 1: mean confidence .5 vs accuracy 1/3 */
    gids_tensor *c = vec_f64(3, (double[]){0.2, 0.5, 0.8}), *ok = vec_i64(3, (int64_t[]){1, 0, 0});
    double e = -1;
    CHECK_OK(gids_metrics_ece(&e, c, ok, 1));
    CHECK_NEAR(e, 0.5 - 1.0 / 3.0, 1e-15);
    gids_tensor_release(ok);
    ok = vec_i64(3, (int64_t[]){1, 2, 0});
    CHECK_ERR(gids_metrics_ece(&e, c, ok, 15), GIDS_EINDEX, "correct[1] = 2 is outside [0, 2)");
    CHECK_ERR(gids_metrics_threshold_confusion(NULL, c, ok, 0.5), GIDS_EINVAL, "out is NULL");
    gids_tensor *cm = NULL;
    CHECK_ERR(gids_metrics_threshold_confusion(&cm, c, ok, 0.5), GIDS_EINDEX,
              "labels[1] = 2 is outside [0, 2)");
    gids_tensor_release(c);
    gids_tensor_release(ok);
}

int main(void) {
    RUN(summarises_a_small_curve_with_a_tie);
    RUN(breaks_youden_ties_towards_the_highest_threshold);
    RUN(reports_an_unreachable_precision_as_recall_zero_at_infinity);
    RUN(gives_nan_for_what_a_single_class_leaves_undefined);
    RUN(matches_the_pairwise_auroc_on_tie_heavy_strided_data);
    RUN(treats_one_class_against_the_rest);
    RUN(returns_sklearn_shaped_curves);
    RUN(counts_confusion_matrices);
    RUN(computes_the_calibration_error_with_a_bin_for_one);
    RUN(names_the_bad_argument);
    RUN(reads_labels_of_every_integer_dtype);
    RUN(gives_sklearns_nan_curve_for_a_missing_class);
    RUN(reduces_to_the_calibration_gap_with_one_bin);
    return check_summary("metrics");
}
