/* test_optim.c -- the fused optimizer updates against their formulas written out by hand, and
 * Adam over a list of parameters against one update at a time. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "gids/optim.h"

static gids_tensor *vec(int n, const double *v) {
    gids_tensor *t = NULL;
    int64_t s = n;
    CHECK_OK(gids_from_buffer(&t, GIDS_F64, 1, &s, v));
    return t;
}

static double at(const gids_tensor *t, int64_t i) {
    double v = NAN;
    CHECK_OK(gids_tensor_get(t, i, &v));
    return v;
}

TEST(adam_first_step_moves_by_lr_times_sign) {
    gids_tensor *p = vec(2, (double[]){1.0, -2.0}), *g = vec(2, (double[]){0.5, -3.0});
    gids_tensor *m = vec(2, (double[]){0, 0}), *v = vec(2, (double[]){0, 0});
    gids_adam_cfg cfg = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .step = 1};
    CHECK_OK(gids_adam_step_(p, g, m, v, NULL, &cfg));
    /* bias correction undoes (1 - beta): the step is lr * g / (|g| + eps) */
    CHECK_NEAR(at(p, 0), 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-12);
    CHECK_NEAR(at(p, 1), -2.0 + 0.1 * 3.0 / (3.0 + 1e-8), 1e-12);
    CHECK_NEAR(at(m, 1), -0.3, 1e-12);
    CHECK_NEAR(at(v, 1), 0.009, 1e-12);
    gids_tensor_release(p), gids_tensor_release(g), gids_tensor_release(m), gids_tensor_release(v);
}

TEST(adamw_decays_the_parameter_adam_the_gradient) {
    double g0 = 0.5, p0 = 2.0, lr = 0.01, wd = 0.1;
    for (int decoupled = 0; decoupled < 2; decoupled++) {
        gids_tensor *p = vec(1, &p0), *g = vec(1, &g0), *m = vec(1, (double[]){0}),
                    *v = vec(1, (double[]){0});
        gids_adam_cfg cfg = {.lr = lr,
                             .beta1 = 0.9,
                             .beta2 = 0.999,
                             .eps = 1e-8,
                             .weight_decay = wd,
                             .step = 1,
                             .decoupled = decoupled};
        CHECK_OK(gids_adam_step_(p, g, m, v, NULL, &cfg));
        double expect = decoupled ? p0 * (1 - lr * wd) - lr * g0 / (g0 + 1e-8)
                                  : p0 - lr * (g0 + wd * p0) / (g0 + wd * p0 + 1e-8);
        CHECK_NEAR(at(p, 0), expect, 1e-12);
        gids_tensor_release(p), gids_tensor_release(g), gids_tensor_release(m);
        gids_tensor_release(v);
    }
}

TEST(amsgrad_keeps_the_largest_second_moment) {
    gids_tensor *p = vec(1, (double[]){0}), *g = vec(1, (double[]){1}), *m = vec(1, (double[]){0});
    gids_tensor *v = vec(1, (double[]){0}), *vmax = vec(1, (double[]){5});
    gids_adam_cfg cfg = {
        .lr = 1, .beta1 = 0.9, .beta2 = 0.999, .eps = 0, .step = 1, .amsgrad = true};
    CHECK_OK(gids_adam_step_(p, g, m, v, vmax, &cfg));
    CHECK(at(vmax, 0) == 5.0);
    CHECK_NEAR(at(p, 0), -1.0 / (sqrt(5.0) / sqrt(0.001)), 1e-12);
    CHECK_ERR(gids_adam_step_(p, g, m, v, NULL, &cfg), GIDS_EINVAL, "amsgrad needs max_exp_avg_sq");
    gids_tensor_release(p), gids_tensor_release(g), gids_tensor_release(m);
    gids_tensor_release(v), gids_tensor_release(vmax);
}

TEST(sgd_momentum_and_nesterov) {
    gids_tensor *p = vec(1, (double[]){1}), *g = vec(1, (double[]){2}),
                *buf = vec(1, (double[]){0});
    gids_sgd_cfg cfg = {.lr = 0.1, .momentum = 0.9, .first = true};
    CHECK_OK(gids_sgd_step_(p, g, buf, &cfg)); /* buf = g; p -= lr * buf */
    CHECK_NEAR(at(buf, 0), 2.0, 1e-15);
    CHECK_NEAR(at(p, 0), 0.8, 1e-15);
    cfg.first = false;
    CHECK_OK(gids_sgd_step_(p, g, buf, &cfg)); /* buf = 0.9*2 + 2 = 3.8 */
    CHECK_NEAR(at(buf, 0), 3.8, 1e-15);
    CHECK_NEAR(at(p, 0), 0.8 - 0.38, 1e-14);
    cfg.nesterov = true;
    CHECK_OK(gids_sgd_step_(p, g, buf, &cfg)); /* buf = 5.42; d = 2 + 0.9 * 5.42 */
    CHECK_NEAR(at(p, 0), 0.42 - 0.1 * (2 + 0.9 * 5.42), 1e-14);
    cfg.dampening = 0.5;
    CHECK_ERR(gids_sgd_step_(p, g, buf, &cfg), GIDS_EINVAL,
              "nesterov needs momentum > 0 and dampening 0");
    gids_tensor_release(p), gids_tensor_release(g), gids_tensor_release(buf);
}

TEST(state_must_match_the_parameter) {
    gids_tensor *p = vec(2, (double[]){0, 0}), *g = vec(1, (double[]){0}), *f = NULL;
    gids_sgd_cfg cfg = {.lr = 0.1};
    CHECK_ERR(gids_sgd_step_(p, g, NULL, &cfg), GIDS_ESHAPE,
              "grad has shape [1], expected the parameter's [2]");
    CHECK_OK(gids_zeros(&f, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){2}));
    CHECK_ERR(gids_sgd_step_(p, f, NULL, &cfg), GIDS_EDTYPE, "grad has dtype f32, expected f64");
    gids_tensor_release(p), gids_tensor_release(g), gids_tensor_release(f);
}

/* n fresh f64 tensors of the given sizes, deterministic values (|v| for second moments). */
static void fill_list(gids_tensor **t, int n, const int64_t *sizes, double seed, bool positive) {
    for (int i = 0; i < n; i++) {
        double buf[64];
        for (int64_t j = 0; j < sizes[i]; j++) {
            double x = sin(seed + 1.7 * (double)i + 0.37 * (double)j);
            buf[j] = positive ? fabs(x) : x;
        }
        t[i] = vec((int)sizes[i], buf);
    }
}

/* Adam over a list: each parameter at its own step gets the bits of gids_adam_step_ on it
 * alone, for Adam, AdamW and amsgrad; a bad update anywhere in the list is refused, naming it,
 * before any parameter changes. */
TEST(adam_steps_match_one_update_at_a_time) {
    enum { N = 4 };
    const int64_t sizes[N] = {5, 1, 64, 0};
    const int64_t steps[N] = {1, 9, 3, 2};
    for (int variant = 0; variant < 3; variant++) {
        gids_adam_cfg cfg = {.lr = 0.01,
                             .beta1 = 0.9,
                             .beta2 = 0.999,
                             .eps = 1e-8,
                             .weight_decay = 0.05,
                             .decoupled = variant == 1,
                             .amsgrad = variant == 2};
        gids_tensor *a[5][N], *b[5][N]; /* p, g, m, v, vmax: the list's and the one-by-one's */
        for (int k = 0; k < 5; k++) {
            fill_list(a[k], N, sizes, 0.3 * k, k >= 3);
            fill_list(b[k], N, sizes, 0.3 * k, k >= 3);
        }
        CHECK_OK(gids_adam_steps_(N, a[0], (const gids_tensor *const *)a[1], a[2], a[3],
                                  cfg.amsgrad ? a[4] : NULL, steps, &cfg));
        for (int i = 0; i < N; i++) {
            gids_adam_cfg one = cfg;
            one.step = steps[i];
            CHECK_OK(gids_adam_step_(b[0][i], b[1][i], b[2][i], b[3][i],
                                     cfg.amsgrad ? b[4][i] : NULL, &one));
            for (int k = 0; k < 5; k++)
                CHECK(memcmp(gids_tensor_data(a[k][i]), gids_tensor_data(b[k][i]),
                             (size_t)sizes[i] * sizeof(double)) == 0);
        }
        for (int k = 0; k < 5; k++)
            for (int i = 0; i < N; i++) gids_tensor_release(a[k][i]), gids_tensor_release(b[k][i]);
    }
    /* refusals: the third update's grad has another shape; a step of 0; amsgrad without its
     * list; nothing has moved */
    gids_tensor *t[5][N];
    for (int k = 0; k < 5; k++) fill_list(t[k], N, sizes, 0.3 * k, k >= 3);
    double p0 = at(t[0][0], 0);
    gids_tensor *bad = vec(3, (double[]){1, 2, 3}), *keep = t[1][2];
    t[1][2] = bad;
    gids_adam_cfg cfg = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    CHECK_ERR(
        gids_adam_steps_(N, t[0], (const gids_tensor *const *)t[1], t[2], t[3], NULL, steps, &cfg),
        GIDS_ESHAPE, "adam_steps_: update 3: grad has shape [3], expected the parameter's [64]");
    t[1][2] = keep;
    CHECK(at(t[0][0], 0) == p0);
    CHECK_ERR(gids_adam_steps_(N, t[0], (const gids_tensor *const *)t[1], t[2], t[3], NULL,
                               (const int64_t[]){1, 0, 1, 1}, &cfg),
              GIDS_EINVAL, "adam_steps_: update 2: step must be >= 1, got 0");
    cfg.amsgrad = true;
    CHECK_ERR(
        gids_adam_steps_(N, t[0], (const gids_tensor *const *)t[1], t[2], t[3], NULL, steps, &cfg),
        GIDS_EINVAL, "adam_steps_: amsgrad needs max_exp_avg_sqs");
    CHECK(at(t[0][0], 0) == p0);
    CHECK_OK(gids_adam_steps_(0, NULL, NULL, NULL, NULL, NULL, NULL, &cfg)); /* nothing to do */
    gids_tensor_release(bad);
    for (int k = 0; k < 5; k++)
        for (int i = 0; i < N; i++) gids_tensor_release(t[k][i]);
}

/* The count of inf and NaN elements, by their bits: f64 and f32, contiguous and strided (a
 * transpose walks rows of stride 3, a narrow rows of stride 1 that skip), integers holding none. */
TEST(count_nonfinite_counts_inf_and_nan_in_every_layout) {
    double inf = INFINITY, nan_ = NAN;
    /* [2, 3]: row 0 holds one NaN and one -inf; row 1 one +inf */
    gids_tensor *a = NULL, *a32 = NULL, *at_ = NULL, *col = NULL, *ints = NULL, *c = NULL;
    CHECK_OK(gids_from_buffer(&a, GIDS_F64, 2, (const int64_t[]){2, 3},
                              (const double[]){1, nan_, -inf, 4, inf, 6}));
    CHECK_OK(gids_to_dtype(&a32, a, GIDS_F32));
    CHECK_OK(gids_transpose(&at_, a32, 0, 1)); /* [3, 2], strides (1, 3) */
    CHECK_OK(gids_narrow(&col, a, 1, 1, 1));   /* [2, 1]: nan and inf */
    CHECK_OK(gids_from_buffer(&ints, GIDS_F64, 1, (const int64_t[]){1}, (const double[]){1}));
    gids_tensor *ii = NULL;
    CHECK_OK(gids_to_dtype(&ii, ints, GIDS_I64));
    CHECK_OK(gids_count_nonfinite(&c, 5, (const gids_tensor *const[]){a, a32, at_, col, ii}));
    CHECK(c->dtype == GIDS_F64 && c->ndim == 0);
    CHECK(at(c, 0) == 3 + 3 + 3 + 2);
    gids_tensor_release(c);
    c = NULL;
    CHECK_OK(gids_count_nonfinite(&c, 0, NULL));
    CHECK(at(c, 0) == 0);
    gids_tensor_release(c);
    c = NULL;
    CHECK_ERR(gids_count_nonfinite(&c, 2, (const gids_tensor *const[]){a, NULL}), GIDS_EINVAL,
              "count_nonfinite: tensor 2 is NULL");
    CHECK_ERR(gids_count_nonfinite(&c, -1, NULL), GIDS_EINVAL, "count_nonfinite: n must be >= 0");
    CHECK(c == NULL);
    gids_tensor *list[] = {a, a32, at_, col, ints, ii};
    for (int i = 0; i < 6; i++) gids_tensor_release(list[i]);
}

int main(void) {
    RUN(adam_first_step_moves_by_lr_times_sign);
    RUN(adamw_decays_the_parameter_adam_the_gradient);
    RUN(amsgrad_keeps_the_largest_second_moment);
    RUN(sgd_momentum_and_nesterov);
    RUN(state_must_match_the_parameter);
    RUN(adam_steps_match_one_update_at_a_time);
    RUN(count_nonfinite_counts_inf_and_nan_in_every_layout);
    return check_summary("optim");
}
