/* test_rnn.c -- the fused LSTM cell: values against the formula in libm doubles (f64 and f32,
 * with and without c_prev), strided and transposed gates, gradchecks of both outputs and of
 * each alone, the plain backward with absent gradients, errors, and bit-identical results for
 * 1 and 4 threads. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "gids/rnn.h"
#include "gradcheck.h"
#include "helpers.h"

/* A [r, c] tensor of dtype dt filled with sin(1.3 i + phase) * scale. */
static gids_tensor *wave(gids_dtype dt, int64_t r, int64_t c, double phase, double scale) {
    int64_t s[2] = {r, c};
    gids_tensor *t = NULL;
    CHECK_OK(gids_empty(&t, dt, GIDS_DEVICE_CPU, 2, s));
    for (int64_t i = 0; i < r * c; i++) {
        double v = sin(1.3 * (double)i + phase) * scale;
        if (dt == GIDS_F32)
            ((float *)gids_tensor_data(t))[i] = (float)v;
        else
            ((double *)gids_tensor_data(t))[i] = v;
    }
    return t;
}

static double sig(double x) {
    return 1.0 / (1.0 + exp(-x));
}

/* Compares h and c of the cell over gates (and c_prev, may be NULL) with the formula. */
static void check_against_formula(const gids_tensor *gates, const gids_tensor *cp, double tol) {
    gids_tensor *h = NULL, *c = NULL;
    CHECK_OK(gids_lstm_cell(&h, &c, NULL, gates, cp));
    int64_t N = gates->shape[0], H = gates->shape[1] / 4;
    CHECK(h != NULL && h->shape[0] == N && h->shape[1] == H && h->dtype == gates->dtype);
    int bad = 0;
    for (int64_t n = 0; n < N && h != NULL; n++) {
        for (int64_t k = 0; k < H; k++) {
            double i = sig(at(gates, n * 4 * H + k)), f = sig(at(gates, n * 4 * H + H + k));
            double g = tanh(at(gates, n * 4 * H + 2 * H + k));
            double o = sig(at(gates, n * 4 * H + 3 * H + k));
            double cv = (cp != NULL ? f * at(cp, n * H + k) : 0.0) + i * g;
            double hv = o * tanh(cv);
            if (fabs(at(c, n * H + k) - cv) > tol || fabs(at(h, n * H + k) - hv) > tol) bad++;
        }
    }
    CHECK(bad == 0);
    gids_tensor_release(h);
    gids_tensor_release(c);
}

TEST(computes_gates_and_state_as_the_formula_in_f64_and_f32) {
    gids_tensor *g64 = wave(GIDS_F64, 5, 12, 0.2, 3.0), *c64 = wave(GIDS_F64, 5, 3, 1.1, 2.0);
    check_against_formula(g64, c64, 1e-14);
    check_against_formula(g64, NULL, 1e-14);
    gids_tensor *g32 = wave(GIDS_F32, 5, 12, 0.2, 3.0), *c32 = wave(GIDS_F32, 5, 3, 1.1, 2.0);
    check_against_formula(g32, c32, 2e-6);
    check_against_formula(g32, NULL, 2e-6);
    gids_tensor *act = NULL, *h = NULL, *c = NULL;
    CHECK_OK(gids_lstm_cell(&h, &c, &act, g64, c64));
    /* act holds sigmoid(i), sigmoid(f), tanh(g), sigmoid(o) */
    CHECK_NEAR(at(act, 0), sig(at(g64, 0)), 1e-15);
    CHECK_NEAR(at(act, 3), sig(at(g64, 3)), 1e-15);
    CHECK_NEAR(at(act, 7), tanh(at(g64, 7)), 1e-15);
    CHECK_NEAR(at(act, 11), sig(at(g64, 11)), 1e-15);
    gids_tensor *ts[] = {g64, c64, g32, c32, act, h, c};
    for (int i = 0; i < 7; i++) gids_tensor_release(ts[i]);
}

TEST(reads_row_strided_and_transposed_gates_like_contiguous_ones) {
    gids_tensor *wide = wave(GIDS_F64, 4, 20, 0.5, 2.0), *narrow = NULL, *contig = NULL;
    CHECK_OK(gids_narrow(&narrow, wide, 1, 3, 8)); /* row stride 20 */
    CHECK_OK(gids_contiguous(&contig, narrow));
    gids_tensor *tall = wave(GIDS_F64, 8, 4, 0.9, 2.0), *tr = NULL, *trc = NULL;
    CHECK_OK(gids_transpose(&tr, tall, 0, 1)); /* last dim stride 4 */
    CHECK_OK(gids_contiguous(&trc, tr));
    gids_tensor *cp = wave(GIDS_F64, 4, 2, 0.1, 1.0);
    gids_tensor *in[4] = {narrow, contig, tr, trc}, *h[4], *c[4];
    for (int i = 0; i < 4; i++) CHECK_OK(gids_lstm_cell(&h[i], &c[i], NULL, in[i], cp));
    for (int i = 0; i < 4; i += 2) {
        CHECK(memcmp(gids_tensor_data(h[i]), gids_tensor_data(h[i + 1]), 8 * 8) == 0);
        CHECK(memcmp(gids_tensor_data(c[i]), gids_tensor_data(c[i + 1]), 8 * 8) == 0);
    }
    for (int i = 0; i < 4; i++) {
        gids_tensor_release(h[i]);
        gids_tensor_release(c[i]);
        gids_tensor_release(in[i]);
    }
    gids_tensor_release(wide);
    gids_tensor_release(tall);
    gids_tensor_release(cp);
}

/* out = cat(h, c) along the channels, so both outputs' gradients are checked. */
static gids_status cell_both(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const gids_tensor *cp = ctx != NULL ? in[1] : NULL;
    gids_tensor *h = NULL, *c = NULL;
    GIDS_TRY(gids_ag_lstm_cell(&h, &c, in[0], cp));
    const gids_tensor *hc[2] = {h, c};
    gids_status st = gids_ag_cat(out, 2, hc, 1);
    gids_tensor_release(h);
    gids_tensor_release(c);
    return st;
}

/* out = h only (c's gradient is absent) or c only (h's is). */
static gids_status cell_h(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    gids_tensor *h = NULL, *c = NULL;
    GIDS_TRY(gids_ag_lstm_cell(&h, &c, in[0], in[1]));
    gids_tensor_release(c);
    *out = h;
    return GIDS_OK;
}

static gids_status cell_c(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    gids_tensor *h = NULL, *c = NULL;
    GIDS_TRY(gids_ag_lstm_cell(&h, &c, in[0], in[1]));
    gids_tensor_release(h);
    *out = c;
    return GIDS_OK;
}

TEST(gradients_match_central_differences) {
    gids_tensor *gates = wave(GIDS_F64, 3, 8, 0.4, 2.0), *cp = wave(GIDS_F64, 3, 2, 0.7, 1.5);
    CHECK_OK(gids_set_requires_grad(gates, true));
    CHECK_OK(gids_set_requires_grad(cp, true));
    gids_tensor *in[2] = {gates, cp};
    int with_cp = 1;
    GRADCHECK(cell_both, 2, in, &with_cp);
    GRADCHECK(cell_both, 1, in, NULL); /* zero initial state */
    GRADCHECK(cell_h, 2, in, NULL);
    GRADCHECK(cell_c, 2, in, NULL);
    /* only gates requires grad: c_prev gets none */
    CHECK_OK(gids_set_requires_grad(cp, false));
    GRADCHECK(cell_both, 2, in, &with_cp);
    CHECK(gids_grad(cp) == NULL);
    gids_tensor_release(gates);
    gids_tensor_release(cp);
}

TEST(backward_treats_absent_gradients_as_zeros) {
    gids_tensor *gates = wave(GIDS_F64, 2, 4, 0.3, 1.0), *cp = wave(GIDS_F64, 2, 1, 0.8, 1.0);
    gids_tensor *h = NULL, *c = NULL, *act = NULL, *gc = wave(GIDS_F64, 2, 1, 0.0, 1.0);
    CHECK_OK(gids_lstm_cell(&h, &c, &act, gates, cp));
    gids_tensor *gg = NULL, *gcp = NULL;
    CHECK_OK(gids_lstm_cell_backward(&gg, &gcp, NULL, gc, act, cp, c));
    /* with g_h absent, o gets nothing and c_prev gets g_c * f */
    CHECK(at(gg, 3) == 0.0 && at(gg, 7) == 0.0);
    CHECK_NEAR(at(gcp, 0), at(gc, 0) * at(act, 1), 1e-15);
    gids_tensor_release(gg);
    gids_tensor_release(gcp);
    /* without c_prev no g_c_prev comes back, and the forget gate gets zero */
    CHECK_OK(gids_lstm_cell_backward(&gg, &gcp, gc, NULL, act, NULL, c));
    CHECK(gcp == NULL && at(gg, 1) == 0.0);
    gids_tensor *ts[] = {gates, cp, h, c, act, gc, gg};
    for (int i = 0; i < 7; i++) gids_tensor_release(ts[i]);
}

TEST(rejects_bad_shapes_dtypes_and_missing_arguments) {
    gids_tensor *g7 = wave(GIDS_F32, 2, 7, 0, 1), *g8 = wave(GIDS_F32, 2, 8, 0, 1);
    gids_tensor *c3 = wave(GIDS_F32, 2, 3, 0, 1), *c64 = wave(GIDS_F64, 2, 2, 0, 1);
    gids_tensor *h = NULL, *c = NULL, *ids = NULL;
    int64_t s[2] = {2, 8};
    CHECK_OK(gids_zeros(&ids, GIDS_I64, GIDS_DEVICE_CPU, 2, s));
    CHECK_ERR(gids_lstm_cell(&h, &c, NULL, g7, NULL), GIDS_ESHAPE,
              "gates must have shape [N, 4 * hidden], got [2,7]");
    CHECK_ERR(gids_lstm_cell(&h, &c, NULL, ids, NULL), GIDS_EDTYPE,
              "gates must be f32 or f64, got i64");
    CHECK_ERR(gids_lstm_cell(&h, &c, NULL, g8, c3), GIDS_ESHAPE,
              "c_prev has shape [2,3], expected [2,2]");
    CHECK_ERR(gids_lstm_cell(&h, &c, NULL, g8, c64), GIDS_EDTYPE,
              "c_prev has dtype f64, expected f32");
    CHECK_ERR(gids_lstm_cell(&h, &c, NULL, NULL, NULL), GIDS_EINVAL, "lstm_cell: gates is NULL");
    CHECK_ERR(gids_lstm_cell(NULL, &c, NULL, g8, NULL), GIDS_EINVAL, "h and c must not be NULL");
    CHECK(h == NULL && c == NULL);
    gids_tensor *gg = NULL;
    CHECK_ERR(gids_lstm_cell_backward(&gg, NULL, c3, NULL, g8, NULL, NULL), GIDS_EINVAL,
              "lstm_cell_backward: c is NULL");
    CHECK_ERR(gids_lstm_cell_backward(&gg, NULL, c3, NULL, g8, NULL, c64), GIDS_EDTYPE,
              "lstm_cell_backward: c has dtype f64");
    CHECK(gg == NULL);
    gids_tensor *ts[] = {g7, g8, c3, c64, ids};
    for (int i = 0; i < 5; i++) gids_tensor_release(ts[i]);
}

TEST(gives_bit_identical_results_for_1_and_4_threads) {
    int64_t N = 3000, H = 24;
    gids_tensor *gates = wave(GIDS_F32, N, 4 * H, 0.1, 4.0), *cp = wave(GIDS_F32, N, H, 0.6, 2.0);
    gids_tensor *gh = wave(GIDS_F32, N, H, 0.2, 1.0), *gc = wave(GIDS_F32, N, H, 0.3, 1.0);
    gids_tensor *r[2][5];
    int old = gids_get_num_threads();
    for (int t = 0; t < 2; t++) {
        gids_set_num_threads(t == 0 ? 1 : 4);
        CHECK_OK(gids_lstm_cell(&r[t][0], &r[t][1], &r[t][2], gates, cp));
        CHECK_OK(gids_lstm_cell_backward(&r[t][3], &r[t][4], gh, gc, r[t][2], cp, r[t][1]));
    }
    gids_set_num_threads(old);
    for (int j = 0; j < 5; j++) {
        size_t bytes = (size_t)gids_tensor_numel(r[0][j]) * 4;
        CHECK(memcmp(gids_tensor_data(r[0][j]), gids_tensor_data(r[1][j]), bytes) == 0);
    }
    for (int t = 0; t < 2; t++)
        for (int j = 0; j < 5; j++) gids_tensor_release(r[t][j]);
    gids_tensor *ts[] = {gates, cp, gh, gc};
    for (int i = 0; i < 4; i++) gids_tensor_release(ts[i]);
}

int main(void) {
    RUN(computes_gates_and_state_as_the_formula_in_f64_and_f32);
    RUN(reads_row_strided_and_transposed_gates_like_contiguous_ones);
    RUN(gradients_match_central_differences);
    RUN(backward_treats_absent_gradients_as_zeros);
    RUN(rejects_bad_shapes_dtypes_and_missing_arguments);
    RUN(gives_bit_identical_results_for_1_and_4_threads);
    return check_summary("rnn");
}
