/* test_optim.c -- the fused optimizer updates against their formulas written out by hand. */
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

int main(void) {
    RUN(adam_first_step_moves_by_lr_times_sign);
    RUN(adamw_decays_the_parameter_adam_the_gradient);
    RUN(amsgrad_keeps_the_largest_second_moment);
    RUN(sgd_momentum_and_nesterov);
    RUN(state_must_match_the_parameter);
    return check_summary("optim");
}
