/* test_rnn.c -- the fused LSTM cell: values against the formula in libm doubles (f64 and f32,
 * with and without c_prev), strided and transposed gates, gradchecks of both outputs and of
 * each alone, the plain backward with absent gradients, errors, and bit-identical results for
 * 1 and 4 threads.  The bidirectional sequence LSTM (gids_bilstm): values against textbook
 * loops in both of its paths (row blocks on their own threads, one block with threaded BLAS),
 * with and without biases, gradchecks, partial and absent gradients, errors, and bit-identical
 * results for 1 and 4 threads. */
#include <math.h>
#include <stdlib.h>
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

/* ---------------------------------------------------------------- bidirectional sequence */

/* A tensor of the given shape filled as wave(). */
static gids_tensor *wave_nd(gids_dtype dt, int nd, const int64_t *shape, double phase,
                            double scale) {
    int64_t n = 1;
    for (int k = 0; k < nd; k++) n *= shape[k];
    gids_tensor *flat = wave(dt, 1, n, phase, scale), *t = NULL;
    CHECK_OK(gids_view(&t, flat, nd, shape));
    gids_tensor_release(flat);
    return t;
}

/* An LSTM problem: x [T, N, C] and torch's eight parameters (biases NULL without bias). */
typedef struct {
    int64_t T, N, C, H;
    gids_tensor *x, *w[8];
} lstm_case;

static lstm_case make_case(gids_dtype dt, int64_t T, int64_t N, int64_t C, int64_t H, bool bias) {
    lstm_case k = {T, N, C, H, NULL, {NULL}};
    int64_t xs[3] = {T, N, C};
    k.x = wave_nd(dt, 3, xs, 0.2, 1.5);
    for (int i = 0; i < 8; i++) {
        if (i % 4 >= 2 && !bias) continue;
        int64_t s[2] = {4 * H, i % 4 == 0 ? C : H};
        k.w[i] = wave_nd(dt, i % 4 >= 2 ? 1 : 2, s, 0.5 * i + 0.1, 0.6);
    }
    return k;
}

static void free_case(lstm_case *k) {
    gids_tensor_release(k->x);
    for (int i = 0; i < 8; i++) gids_tensor_release(k->w[i]);
}

/* out [T, N, 2H] by the textbook loops in libm doubles: each node, each direction, step by
 * step from a zero state. */
static double *reference_bilstm(const lstm_case *k) {
    int64_t T = k->T, N = k->N, C = k->C, H = k->H;
    double *out = calloc((size_t)(T * N * 2 * H), sizeof(double));
    double *h = calloc((size_t)H, sizeof(double)), *c = calloc((size_t)H, sizeof(double));
    double *g = calloc((size_t)(4 * H), sizeof(double));
    for (int d = 0; d < 2; d++)
        for (int64_t n = 0; n < N; n++) {
            memset(h, 0, (size_t)H * sizeof(double));
            memset(c, 0, (size_t)H * sizeof(double));
            for (int64_t s = 0; s < T; s++) {
                int64_t t = d == 0 ? s : T - 1 - s;
                const gids_tensor *wi = k->w[4 * d], *wh = k->w[4 * d + 1];
                for (int64_t j = 0; j < 4 * H; j++) {
                    double v = 0;
                    if (k->w[4 * d + 2] != NULL)
                        v = at(k->w[4 * d + 2], j) + at(k->w[4 * d + 3], j);
                    for (int64_t i = 0; i < C; i++)
                        v += at(wi, j * C + i) * at(k->x, (t * N + n) * C + i);
                    for (int64_t i = 0; i < H; i++) v += at(wh, j * H + i) * h[i];
                    g[j] = v;
                }
                for (int64_t i = 0; i < H; i++) {
                    c[i] = sig(g[H + i]) * c[i] + sig(g[i]) * tanh(g[2 * H + i]);
                    h[i] = sig(g[3 * H + i]) * tanh(c[i]);
                    out[(t * N + n) * 2 * H + d * H + i] = h[i];
                }
            }
        }
    free(h);
    free(c);
    free(g);
    return out;
}

static void check_bilstm_case(gids_dtype dt, int64_t T, int64_t N, int64_t C, int64_t H, bool bias,
                              double tol) {
    lstm_case k = make_case(dt, T, N, C, H, bias);
    gids_tensor *out = NULL, *act = NULL, *c = NULL;
    CHECK_OK(gids_bilstm(&out, &act, &c, k.x, (const gids_tensor *const *)k.w));
    double *want = reference_bilstm(&k);
    int bad = 0;
    for (int64_t i = 0; i < T * N * 2 * H && bad < 5; i++)
        if (!(fabs(at(out, i) - want[i]) <= tol)) {
            bad++;
            CHECK_FAIL_("T %lld N %lld H %lld: out[%lld] = %.17g, want %.17g", (long long)T,
                        (long long)N, (long long)H, (long long)i, at(out, i), want[i]);
        }
    CHECK(act->ndim == 4 && act->shape[0] == 2 && act->shape[3] == 4 * H);
    CHECK(c->ndim == 4 && c->shape[3] == H);
    free(want);
    gids_tensor_release(out);
    gids_tensor_release(act);
    gids_tensor_release(c);
    free_case(&k);
}

TEST(bilstm_matches_textbook_loops_in_both_paths) {
    check_bilstm_case(GIDS_F64, 3, 5, 3, 2, true, 1e-13);     /* one block, one chunk */
    check_bilstm_case(GIDS_F64, 2, 300, 3, 4, true, 1e-13);   /* blocks on their own threads */
    check_bilstm_case(GIDS_F64, 3, 140, 2, 64, false, 1e-12); /* one block, chunked cells */
    check_bilstm_case(GIDS_F64, 1, 9, 4, 3, true, 1e-13);     /* one step: no recurrence */
    check_bilstm_case(GIDS_F32, 3, 200, 5, 6, true, 2e-6);
}

static gids_status bilstm_fn(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    bool bias = ctx != NULL;
    const gids_tensor *w[8] = {in[1], in[2], bias ? in[5] : NULL, bias ? in[6] : NULL,
                               in[3], in[4], bias ? in[7] : NULL, bias ? in[8] : NULL};
    return gids_ag_bilstm(out, in[0], w);
}

/* in: x, w_ih, w_hh, w_ih_r, w_hh_r, then the biases (bilstm_fn's order). */
static void gradcheck_case(int64_t T, int64_t N, int64_t C, int64_t H, bool bias) {
    lstm_case k = make_case(GIDS_F64, T, N, C, H, bias);
    gids_tensor *in[9] = {k.x, k.w[0], k.w[1], k.w[4], k.w[5], k.w[2], k.w[3], k.w[6], k.w[7]};
    int n = bias ? 9 : 5;
    for (int i = 0; i < n; i++) CHECK_OK(gids_set_requires_grad(in[i], true));
    GRADCHECK(bilstm_fn, n, in, bias ? &k : NULL);
    free_case(&k);
}

TEST(bilstm_gradients_match_central_differences) {
    gradcheck_case(3, 4, 2, 2, true);
    gradcheck_case(2, 3, 3, 2, false);
    gradcheck_case(1, 2, 2, 1, true);
    gradcheck_case(2, 130, 1, 1, true); /* two row blocks, two bias chunks */
}

TEST(bilstm_backward_computes_only_what_is_wanted) {
    lstm_case k = make_case(GIDS_F64, 2, 3, 2, 2, true);
    const gids_tensor *const *w = (const gids_tensor *const *)k.w;
    gids_tensor *out = NULL, *act = NULL, *c = NULL, *gx = NULL, *gw[8];
    CHECK_OK(gids_bilstm(&out, &act, &c, k.x, w));
    bool want[8] = {true, false, false, true, false, false, false, false};
    gids_tensor *go = wave(GIDS_F64, 2 * 3, 4, 0.9, 1.0), *go3 = NULL;
    int64_t os[3] = {2, 3, 4};
    CHECK_OK(gids_view(&go3, go, 3, os));
    CHECK_OK(gids_bilstm_backward(NULL, gw, want, go3, k.x, w, out, act, c));
    CHECK(gw[0] != NULL && gw[3] != NULL && gw[1] == NULL && gw[2] == NULL && gw[4] == NULL);
    gids_tensor_release(gw[0]);
    gids_tensor_release(gw[3]);
    /* no output gradient: every gradient is zero */
    bool all[8] = {true, true, true, true, true, true, true, true};
    CHECK_OK(gids_bilstm_backward(&gx, gw, all, NULL, k.x, w, out, act, c));
    double sum = 0;
    for (int64_t i = 0; i < gids_tensor_numel(gx); i++) sum += fabs(at(gx, i));
    for (int j = 0; j < 8; j++) {
        for (int64_t i = 0; i < gids_tensor_numel(gw[j]); i++) sum += fabs(at(gw[j], i));
        gids_tensor_release(gw[j]);
    }
    CHECK(sum == 0.0);
    gids_tensor *ts[] = {out, act, c, gx, go, go3};
    for (int i = 0; i < 6; i++) gids_tensor_release(ts[i]);
    free_case(&k);
}

/* No nodes (a batch of node-less graphs): empty results, zero weight gradients of the weights'
 * shapes; it divided by zero in the row blocking and killed the process. */
TEST(bilstm_takes_zero_rows) {
    for (int pass = 0; pass < 2; pass++) {
        lstm_case k = make_case(pass ? GIDS_F32 : GIDS_F64, 3, 0, 2, 2, true);
        const gids_tensor *const *w = (const gids_tensor *const *)k.w;
        gids_tensor *out = NULL, *act = NULL, *c = NULL, *gx = NULL, *gw[8];
        CHECK_OK(gids_bilstm(&out, &act, &c, k.x, w));
        CHECK(out->ndim == 3 && out->shape[0] == 3 && out->shape[1] == 0 && out->shape[2] == 4);
        bool all[8] = {true, true, true, true, true, true, true, true};
        CHECK_OK(gids_bilstm_backward(&gx, gw, all, out, k.x, w, out, act, c));
        CHECK(gids_tensor_numel(gx) == 0);
        for (int j = 0; j < 8; j++) {
            CHECK(gw[j] != NULL && gw[j]->shape[0] == 8);
            CHECK(gw[j]->ndim == (j % 4 < 2 ? 2 : 1));
            for (int64_t i = 0; i < gids_tensor_numel(gw[j]); i++) CHECK(at(gw[j], i) == 0.0);
            gids_tensor_release(gw[j]);
        }
        gids_tensor *ts[] = {out, act, c, gx};
        for (int i = 0; i < 4; i++) gids_tensor_release(ts[i]);
        free_case(&k);
    }
}

TEST(bilstm_rejects_bad_shapes_dtypes_and_partial_biases) {
    lstm_case k = make_case(GIDS_F64, 2, 3, 2, 2, true);
    gids_tensor *out = NULL, *act = NULL, *c = NULL, *x2 = wave(GIDS_F64, 3, 2, 0, 1);
    gids_tensor *w[8];
    memcpy(w, k.w, sizeof w);
    const gids_tensor *const *cw = (const gids_tensor *const *)w;
    CHECK_ERR(gids_bilstm(&out, &act, &c, x2, cw), GIDS_ESHAPE,
              "bilstm: x must have shape [T >= 1, N, C], got [3,2]");
    /* a hidden size whose 8 * H overflows: the size check must not overflow itself */
    gids_tensor *xe = NULL, *huge = NULL;
    CHECK_OK(gids_zeros(&xe, GIDS_F32, GIDS_DEVICE_CPU, 3, (int64_t[]){1, 1, 0}));
    CHECK_OK(gids_zeros(&huge, GIDS_F32, GIDS_DEVICE_CPU, 2, (int64_t[]){1LL << 62, 0}));
    CHECK_ERR(gids_bilstm(&out, &act, &c, xe, (const gids_tensor *[8]){huge}), GIDS_ESHAPE,
              "hidden 1152921504606846976 too large for BLAS");
    gids_tensor_release(xe), gids_tensor_release(huge);
    gids_tensor *bad = wave(GIDS_F64, 8, 3, 0, 1);
    w[5] = bad;
    CHECK_ERR(gids_bilstm(&out, &act, &c, k.x, cw), GIDS_ESHAPE,
              "bilstm: w_hh_r has shape [8,3], expected [8,2]");
    w[5] = k.w[5];
    w[3] = NULL;
    CHECK_ERR(gids_bilstm(&out, &act, &c, k.x, cw), GIDS_EINVAL,
              "bilstm: b_hh is NULL (the biases are all given or all NULL)");
    w[3] = k.w[3];
    gids_tensor *w32 = wave(GIDS_F32, 8, 2, 0, 1);
    w[4] = w32;
    CHECK_ERR(gids_bilstm(&out, &act, &c, k.x, cw), GIDS_EDTYPE,
              "bilstm: w_ih_r has dtype f32, expected f64");
    w[4] = k.w[4];
    gids_tensor *w7 = wave(GIDS_F64, 7, 2, 0, 1);
    w[0] = w7;
    CHECK_ERR(gids_bilstm(&out, &act, &c, k.x, cw), GIDS_ESHAPE,
              "bilstm: w_ih must have shape [4 * hidden, C], got [7,2]");
    w[0] = k.w[0];
    CHECK_ERR(gids_bilstm(NULL, &act, &c, k.x, cw), GIDS_EINVAL,
              "bilstm: out, act and c must not be NULL");
    CHECK(out == NULL && act == NULL && c == NULL);
    CHECK_OK(gids_bilstm(&out, &act, &c, k.x, cw));
    gids_tensor *gw[8];
    bool want[8] = {true};
    CHECK_ERR(gids_bilstm_backward(NULL, gw, want, NULL, k.x, cw, out, out, c), GIDS_ESHAPE,
              "bilstm_backward: act has shape [2,3,4], expected [2,2,3,8]");
    CHECK(gw[0] == NULL);
    gids_tensor *ts[] = {out, act, c, x2, bad, w32, w7};
    for (int i = 0; i < 7; i++) gids_tensor_release(ts[i]);
    free_case(&k);
}

/* forward and every gradient with 1 and with 4 threads, compared bit for bit */
static void check_bilstm_threads(gids_dtype dt, int64_t T, int64_t N, int64_t C, int64_t H) {
    lstm_case k = make_case(dt, T, N, C, H, true);
    const gids_tensor *const *w = (const gids_tensor *const *)k.w;
    int64_t os[3] = {T, N, 2 * H};
    gids_tensor *go = wave_nd(dt, 3, os, 0.4, 1.0);
    gids_tensor *r[2][12] = {{NULL}};
    bool all[8] = {true, true, true, true, true, true, true, true};
    int old = gids_get_num_threads();
    for (int t = 0; t < 2; t++) {
        gids_set_num_threads(t == 0 ? 1 : 4);
        CHECK_OK(gids_bilstm(&r[t][0], &r[t][1], &r[t][2], k.x, w));
        CHECK_OK(
            gids_bilstm_backward(&r[t][3], &r[t][4], all, go, k.x, w, r[t][0], r[t][1], r[t][2]));
    }
    gids_set_num_threads(old);
    for (int j = 0; j < 12; j++) {
        size_t bytes = (size_t)gids_tensor_numel(r[0][j]) * gids_dtype_size(dt);
        if (memcmp(gids_tensor_data(r[0][j]), gids_tensor_data(r[1][j]), bytes) != 0)
            CHECK_FAIL_("%s, H %lld: result %d differs between 1 and 4 threads",
                        gids_dtype_name(dt), (long long)H, j);
    }
    for (int t = 0; t < 2; t++)
        for (int j = 0; j < 12; j++) gids_tensor_release(r[t][j]);
    gids_tensor_release(go);
    free_case(&k);
}

/* The consuming backward (gate gradients over act) gives the plain backward's results bit for
 * bit, from a contiguous act and from a strided copy, in both paths; it refuses an act that
 * shares memory with another operand. */
static void check_consume(int64_t T, int64_t N, int64_t C, int64_t H) {
    lstm_case k = make_case(GIDS_F64, T, N, C, H, true);
    const gids_tensor *const *w = (const gids_tensor *const *)k.w;
    int64_t os[3] = {T, N, 2 * H}, wide[4] = {2, T, N, 4 * H + 3};
    gids_tensor *go = wave_nd(GIDS_F64, 3, os, 0.4, 1.0), *out, *act, *c, *big, *strided;
    CHECK_OK(gids_bilstm(&out, &act, &c, k.x, w));
    bool all[8] = {true, true, true, true, true, true, true, true};
    gids_tensor *ref[9] = {NULL}, *got[9] = {NULL};
    CHECK_OK(gids_bilstm_backward(&ref[0], &ref[1], all, go, k.x, w, out, act, c));
    CHECK_OK(gids_zeros(&big, GIDS_F64, GIDS_DEVICE_CPU, 4, wide));
    CHECK_OK(gids_narrow(&strided, big, 3, 0, 4 * H));
    CHECK_OK(gids_copy_(strided, act));
    for (int pass = 0; pass < 2; pass++) {
        gids_tensor *a = pass == 0 ? act : strided;
        CHECK_OK(gids_bilstm_backward_consume(&got[0], &got[1], all, go, k.x, w, out, a, c));
        for (int j = 0; j < 9; j++) {
            size_t bytes = (size_t)gids_tensor_numel(ref[j]) * 8;
            if (memcmp(gids_tensor_data(ref[j]), gids_tensor_data(got[j]), bytes) != 0)
                CHECK_FAIL_("H %lld, %s act: gradient %d differs from the plain backward's",
                            (long long)H, pass == 0 ? "contiguous" : "strided", j);
            gids_tensor_release(got[j]);
            got[j] = NULL;
        }
    }
    /* g_out over act's memory */
    gids_tensor *alias;
    CHECK_OK(gids_tensor_from_storage(&alias, act->storage, GIDS_F64, 3, os,
                                      (int64_t[]){N * 2 * H, 2 * H, 1}, 0));
    CHECK_ERR(gids_bilstm_backward_consume(&got[0], &got[1], all, alias, k.x, w, out, act, c),
              GIDS_EINVAL, "act shares its memory with g_out");
    gids_tensor_release(alias);
    for (int j = 0; j < 9; j++) gids_tensor_release(ref[j]);
    gids_tensor *ts[6] = {go, out, act, c, big, strided};
    for (int i = 0; i < 6; i++) gids_tensor_release(ts[i]);
    free_case(&k);
}

TEST(bilstm_consuming_backward_equals_the_plain_one) {
    check_consume(3, 300, 4, 6);  /* row blocks */
    check_consume(3, 40, 8, 150); /* one block */
}

TEST(bilstm_gives_bit_identical_results_for_1_and_4_threads) {
    for (int i = 0; i < 2; i++) {
        gids_dtype dt = i == 0 ? GIDS_F32 : GIDS_F64;
        check_bilstm_threads(dt, 3, 1000, 16, 8);   /* row blocks */
        check_bilstm_threads(dt, 3, 150, 48, 72);   /* one block, one row block of products */
        check_bilstm_threads(dt, 3, 1400, 16, 160); /* one block, several row blocks, cells */
    }
}

int main(void) {
    RUN(computes_gates_and_state_as_the_formula_in_f64_and_f32);
    RUN(reads_row_strided_and_transposed_gates_like_contiguous_ones);
    RUN(gradients_match_central_differences);
    RUN(backward_treats_absent_gradients_as_zeros);
    RUN(rejects_bad_shapes_dtypes_and_missing_arguments);
    RUN(gives_bit_identical_results_for_1_and_4_threads);
    RUN(bilstm_matches_textbook_loops_in_both_paths);
    RUN(bilstm_gradients_match_central_differences);
    RUN(bilstm_backward_computes_only_what_is_wanted);
    RUN(bilstm_takes_zero_rows);
    RUN(bilstm_rejects_bad_shapes_dtypes_and_partial_biases);
    RUN(bilstm_gives_bit_identical_results_for_1_and_4_threads);
    RUN(bilstm_consuming_backward_equals_the_plain_one);
    return check_summary("rnn");
}
