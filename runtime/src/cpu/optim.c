/* optim.c -- fused Adam/AdamW and SGD updates (see gids/optim.h).
 *
 * Each element's update is written out as torch.optim's single-tensor code performs it (lerp
 * for the first moment, mul + addcmul for the second, sqrt / bias_correction2_sqrt + eps for
 * the denominator, addcdiv for the step), in the parameter's precision, so that a trajectory
 * matches PyTorch's to rounding.  One pass reads each tensor once instead of the eight passes
 * the composed tensor ops would take.
 */
#include <math.h>
#include <string.h>

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "gids/optim.h"

static gids_status check_like_(const char *op, const char *what, const gids_tensor *t,
                               const gids_tensor *param) {
    GIDS_TRY(gids_check_cpu(op, what, t));
    char a[160], b[160];
    bool same = t->ndim == param->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == param->shape[d];
    GIDS_CHECK(same, GIDS_ESHAPE, "%s: %s has shape %s, expected the parameter's %s", op, what,
               gids_shape_str(t->ndim, t->shape, a, sizeof a),
               gids_shape_str(param->ndim, param->shape, b, sizeof b));
    GIDS_CHECK(t->dtype == param->dtype, GIDS_EDTYPE, "%s: %s has dtype %s, expected %s", op, what,
               gids_dtype_name(t->dtype), gids_dtype_name(param->dtype));
    GIDS_CHECK(gids_tensor_is_contiguous(t), GIDS_EINVAL, "%s: %s must be contiguous", op, what);
    return GIDS_OK;
}

static gids_status check_param_(const char *op, const gids_tensor *param) {
    GIDS_TRY(gids_check_cpu(op, "param", param));
    GIDS_CHECK(param->dtype == GIDS_F32 || param->dtype == GIDS_F64, GIDS_EDTYPE,
               "%s: parameters must be f32 or f64, got %s", op, gids_dtype_name(param->dtype));
    GIDS_CHECK(gids_tensor_is_contiguous(param), GIDS_EINVAL, "%s: param must be contiguous", op);
    return GIDS_OK;
}

/* The Adam element update in type T (float or double). */
#define ADAM_LOOP(T, SQRT, FMAX)                                                                   \
    do {                                                                                           \
        T *p = gids_tensor_data(param), *m = gids_tensor_data(exp_avg),                            \
          *v = gids_tensor_data(exp_avg_sq);                                                       \
        T *vmax = cfg->amsgrad ? gids_tensor_data(max_exp_avg_sq) : NULL;                          \
        const T *g = gids_tensor_data(grad);                                                       \
        /* Scalars are computed in double and rounded once, as torch computes them in Python. */   \
        const T b2 = (T)cfg->beta2, eps = (T)cfg->eps, wd = (T)cfg->weight_decay;                  \
        const T one_b1 = (T)(1.0 - cfg->beta1), one_b2 = (T)(1.0 - cfg->beta2);                    \
        /* torch's lerp_(grad, 1 - beta1): from the far end when the weight is >= 0.5, so that     \
         * beta1 = 0 gives the grad exactly */                                                     \
        const bool far = one_b1 >= (T)0.5;                                                         \
        const T rest = (T)1 - one_b1;                                                              \
        const T bc2_sqrt = (T)sqrt(1.0 - pow(cfg->beta2, (double)cfg->step));                      \
        const T step_size = (T)(cfg->lr / (1.0 - pow(cfg->beta1, (double)cfg->step)));             \
        const T decay = (T)(1.0 - cfg->lr * cfg->weight_decay);                                    \
        _Pragma(                                                                                   \
            "omp parallel for num_threads(nt) schedule(static) if (nt > 1)") for (int64_t i = 0;   \
                                                                                  i < n; i++) {    \
            T gi = cfg->maximize ? -g[i] : g[i];                                                   \
            if (wd != 0) {                                                                         \
                if (cfg->decoupled)                                                                \
                    p[i] *= decay;                                                                 \
                else                                                                               \
                    gi = gi + wd * p[i];                                                           \
            }                                                                                      \
            m[i] = far ? gi - (gi - m[i]) * rest : m[i] + one_b1 * (gi - m[i]);                    \
            v[i] = v[i] * b2 + one_b2 * gi * gi;                                                   \
            T vi = v[i];                                                                           \
            if (vmax) vi = vmax[i] = FMAX(vmax[i], v[i]);                                          \
            T denom = SQRT(vi) / bc2_sqrt + eps;                                                   \
            p[i] = p[i] - step_size * (m[i] / denom);                                              \
        }                                                                                          \
    } while (0)

gids_status gids_adam_step_(gids_tensor *param, const gids_tensor *grad, gids_tensor *exp_avg,
                            gids_tensor *exp_avg_sq, gids_tensor *max_exp_avg_sq,
                            const gids_adam_cfg *cfg) {
    GIDS_CHECK(cfg != NULL, GIDS_EINVAL, "adam_step_: cfg is NULL");
    const char *op = cfg->decoupled ? "adamw_step_" : "adam_step_";
    GIDS_ON_DEVICE(op, adam_step_, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq)
    (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, cfg);
    GIDS_TRY(check_param_(op, param));
    GIDS_TRY(check_like_(op, "grad", grad, param));
    GIDS_TRY(check_like_(op, "exp_avg", exp_avg, param));
    GIDS_TRY(check_like_(op, "exp_avg_sq", exp_avg_sq, param));
    if (cfg->amsgrad) {
        GIDS_CHECK(max_exp_avg_sq != NULL, GIDS_EINVAL, "%s: amsgrad needs max_exp_avg_sq", op);
        GIDS_TRY(check_like_(op, "max_exp_avg_sq", max_exp_avg_sq, param));
    }
    GIDS_CHECK(cfg->step >= 1, GIDS_EINVAL, "%s: step must be >= 1, got %lld", op,
               (long long)cfg->step);
    GIDS_CHECK(cfg->lr >= 0 && cfg->eps >= 0 && cfg->beta1 >= 0 && cfg->beta1 < 1 &&
                   cfg->beta2 >= 0 && cfg->beta2 < 1,
               GIDS_EINVAL,
               "%s: need lr >= 0, eps >= 0 and betas in [0, 1), got lr %g eps %g betas %g %g", op,
               cfg->lr, cfg->eps, cfg->beta1, cfg->beta2);
    int64_t n = gids_tensor_numel(param);
    int nt = gids_threads_for(n);
    if (param->dtype == GIDS_F32)
        ADAM_LOOP(float, sqrtf, fmaxf);
    else
        ADAM_LOOP(double, sqrt, fmax);
    gids_tensor_bump_version(param);
    gids_tensor_bump_version(exp_avg);
    gids_tensor_bump_version(exp_avg_sq);
    if (cfg->amsgrad) gids_tensor_bump_version(max_exp_avg_sq);
    return GIDS_OK;
}

/* The checks of gids_adam_steps_, for any device: update i's tensors present, of its
 * parameter's shape and dtype, contiguous, on the first parameter's device. */
static gids_status check_update_(const char *op, int i, const char *what, const gids_tensor *t,
                                 const gids_tensor *param, gids_device dev) {
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "%s: update %d: %s is NULL", op, i + 1, what);
    char a[160], b[160];
    if (!gids_device_eq(gids_tensor_device(t), dev))
        GIDS_FAIL(GIDS_EDEVICE, "%s: update %d: %s is on %s, the first parameter on %s", op, i + 1,
                  what, gids_device_str(gids_tensor_device(t), a, sizeof a),
                  gids_device_str(dev, b, sizeof b));
    bool same = t->ndim == param->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == param->shape[d];
    GIDS_CHECK(same, GIDS_ESHAPE, "%s: update %d: %s has shape %s, expected the parameter's %s", op,
               i + 1, what, gids_shape_str(t->ndim, t->shape, a, sizeof a),
               gids_shape_str(param->ndim, param->shape, b, sizeof b));
    GIDS_CHECK(t->dtype == param->dtype, GIDS_EDTYPE, "%s: update %d: %s has dtype %s, expected %s",
               op, i + 1, what, gids_dtype_name(t->dtype), gids_dtype_name(param->dtype));
    GIDS_CHECK(gids_tensor_is_contiguous(t), GIDS_EINVAL, "%s: update %d: %s must be contiguous",
               op, i + 1, what);
    return GIDS_OK;
}

gids_status gids_adam_steps_(int n, gids_tensor *const *params, const gids_tensor *const *grads,
                             gids_tensor *const *exp_avgs, gids_tensor *const *exp_avg_sqs,
                             gids_tensor *const *max_exp_avg_sqs, const int64_t *steps,
                             const gids_adam_cfg *cfg) {
    GIDS_CHECK(cfg != NULL, GIDS_EINVAL, "adam_steps_: cfg is NULL");
    const char *op = cfg->decoupled ? "adamw_steps_" : "adam_steps_";
    GIDS_CHECK(n >= 0, GIDS_EINVAL, "%s: n must be >= 0, got %d", op, n);
    if (n == 0) return GIDS_OK;
    GIDS_CHECK(params != NULL && grads != NULL && exp_avgs != NULL && exp_avg_sqs != NULL &&
                   steps != NULL,
               GIDS_EINVAL, "%s: a list is NULL", op);
    GIDS_CHECK(!cfg->amsgrad || max_exp_avg_sqs != NULL, GIDS_EINVAL,
               "%s: amsgrad needs max_exp_avg_sqs", op);
    GIDS_CHECK(cfg->lr >= 0 && cfg->eps >= 0 && cfg->beta1 >= 0 && cfg->beta1 < 1 &&
                   cfg->beta2 >= 0 && cfg->beta2 < 1,
               GIDS_EINVAL,
               "%s: need lr >= 0, eps >= 0 and betas in [0, 1), got lr %g eps %g betas %g %g", op,
               cfg->lr, cfg->eps, cfg->beta1, cfg->beta2);
    GIDS_CHECK(params[0] != NULL, GIDS_EINVAL, "%s: update 1: param is NULL", op);
    gids_device dev = gids_tensor_device(params[0]);
    for (int i = 0; i < n; i++) {
        const gids_tensor *p = params[i];
        GIDS_TRY(check_update_(op, i, "param", p, p != NULL ? p : params[0], dev));
        GIDS_CHECK(p->dtype == GIDS_F32 || p->dtype == GIDS_F64, GIDS_EDTYPE,
                   "%s: update %d: parameters must be f32 or f64, got %s", op, i + 1,
                   gids_dtype_name(p->dtype));
        GIDS_TRY(check_update_(op, i, "grad", grads[i], p, dev));
        GIDS_TRY(check_update_(op, i, "exp_avg", exp_avgs[i], p, dev));
        GIDS_TRY(check_update_(op, i, "exp_avg_sq", exp_avg_sqs[i], p, dev));
        if (cfg->amsgrad)
            GIDS_TRY(check_update_(op, i, "max_exp_avg_sq", max_exp_avg_sqs[i], p, dev));
        GIDS_CHECK(steps[i] >= 1, GIDS_EINVAL, "%s: update %d: step must be >= 1, got %lld", op,
                   i + 1, (long long)steps[i]);
    }
    if (dev.type != GIDS_CPU) {
        const gids_backend *be = NULL;
        GIDS_TRY(gids_dispatch_backend(op, 1, (const gids_tensor *const[]){params[0]}, &be));
        if (be->adam_steps_ != NULL)
            return be->adam_steps_(n, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps,
                                   cfg);
    }
    /* The CPU, or a backend without the list entry: one update after another. */
    for (int i = 0; i < n; i++) {
        gids_adam_cfg one = *cfg;
        one.step = steps[i];
        GIDS_TRY(gids_adam_step_(params[i], grads[i], exp_avgs[i], exp_avg_sqs[i],
                                 cfg->amsgrad ? max_exp_avg_sqs[i] : NULL, &one));
    }
    return GIDS_OK;
}

#define SGD_LOOP(T)                                                                                \
    do {                                                                                           \
        T *p = gids_tensor_data(param),                                                            \
          *buf = momentum_buf ? gids_tensor_data(momentum_buf) : NULL;                             \
        const T *g = gids_tensor_data(grad);                                                       \
        const T lr = (T)cfg->lr, mom = (T)cfg->momentum, wd = (T)cfg->weight_decay,                \
                damp = (T)(1.0 - cfg->dampening);                                                  \
        _Pragma(                                                                                   \
            "omp parallel for num_threads(nt) schedule(static) if (nt > 1)") for (int64_t i = 0;   \
                                                                                  i < n; i++) {    \
            T d = cfg->maximize ? -g[i] : g[i];                                                    \
            if (wd != 0) d = d + wd * p[i];                                                        \
            if (mom != 0) {                                                                        \
                buf[i] = cfg->first ? d : buf[i] * mom + damp * d;                                 \
                d = cfg->nesterov ? d + mom * buf[i] : buf[i];                                     \
            }                                                                                      \
            p[i] = p[i] - lr * d;                                                                  \
        }                                                                                          \
    } while (0)

gids_status gids_sgd_step_(gids_tensor *param, const gids_tensor *grad, gids_tensor *momentum_buf,
                           const gids_sgd_cfg *cfg) {
    GIDS_CHECK(cfg != NULL, GIDS_EINVAL, "sgd_step_: cfg is NULL");
    const char *op = "sgd_step_";
    GIDS_ON_DEVICE(op, sgd_step_, param, grad, momentum_buf)(param, grad, momentum_buf, cfg);
    GIDS_TRY(check_param_(op, param));
    GIDS_TRY(check_like_(op, "grad", grad, param));
    if (cfg->momentum != 0) {
        GIDS_CHECK(momentum_buf != NULL, GIDS_EINVAL, "%s: momentum needs a momentum buffer", op);
        GIDS_TRY(check_like_(op, "momentum_buf", momentum_buf, param));
    }
    GIDS_CHECK(!cfg->nesterov || (cfg->momentum > 0 && cfg->dampening == 0), GIDS_EINVAL,
               "%s: nesterov needs momentum > 0 and dampening 0", op);
    GIDS_CHECK(cfg->lr >= 0 && cfg->momentum >= 0, GIDS_EINVAL,
               "%s: need lr >= 0 and momentum >= 0, got lr %g momentum %g", op, cfg->lr,
               cfg->momentum);
    int64_t n = gids_tensor_numel(param);
    int nt = gids_threads_for(n);
    if (param->dtype == GIDS_F32)
        SGD_LOOP(float);
    else
        SGD_LOOP(double);
    gids_tensor_bump_version(param);
    if (cfg->momentum != 0) gids_tensor_bump_version(momentum_buf);
    return GIDS_OK;
}
