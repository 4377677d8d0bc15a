/* gids/optim.h -- fused optimizer updates: one pass over a parameter and its state.
 *
 *   gids_adam_cfg cfg = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
 *                        .weight_decay = 1e-2, .step = 1, .decoupled = true};   // AdamW
 *   GIDS_TRY(gids_adam_step_(param, grad, exp_avg, exp_avg_sq, NULL, &cfg));
 *
 * The arithmetic follows torch.optim's single-tensor implementations operation by operation,
 * in the parameter's dtype, so trajectories match PyTorch's.  All tensors of one call must be
 * contiguous CPU tensors of the parameter's shape and dtype (f32 or f64); the state tensors
 * are written in place.  Updates are elementwise, so any thread count gives the same result.
 */
#ifndef GIDS_OPTIM_H
#define GIDS_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "gids/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gids_adam_cfg {
    double lr, beta1, beta2, eps, weight_decay;
    int64_t step;   /* 1 on the first update (bias correction) */
    bool decoupled; /* AdamW: weight decay scales the parameter instead of adding to grad */
    bool amsgrad;   /* max_exp_avg_sq must then be given */
    bool maximize;
} gids_adam_cfg;

/* Adam / AdamW.  max_exp_avg_sq is NULL unless cfg->amsgrad. */
gids_status gids_adam_step_(gids_tensor *param, const gids_tensor *grad, gids_tensor *exp_avg,
                            gids_tensor *exp_avg_sq, gids_tensor *max_exp_avg_sq,
                            const gids_adam_cfg *cfg);

/* Adam / AdamW over n parameters at once, each updated as gids_adam_step_ would with
 * cfg->step = steps[i] (the same bits).  Every tensor is checked before any changes: the four
 * (five with amsgrad) of each update on the first parameter's device, of its parameter's shape
 * and dtype, contiguous.  On a GPU one kernel launch updates many parameters, where one call
 * per parameter launched one kernel each.  max_exp_avg_sqs is NULL unless cfg->amsgrad. */
gids_status gids_adam_steps_(int n, gids_tensor *const *params, const gids_tensor *const *grads,
                             gids_tensor *const *exp_avgs, gids_tensor *const *exp_avg_sqs,
                             gids_tensor *const *max_exp_avg_sqs, const int64_t *steps,
                             const gids_adam_cfg *cfg);

typedef struct gids_sgd_cfg {
    double lr, momentum, dampening, weight_decay;
    bool nesterov, maximize;
    bool first; /* the momentum buffer holds nothing yet: it starts as the gradient */
} gids_sgd_cfg;

/* SGD with optional momentum (momentum_buf may be NULL when cfg->momentum == 0). */
gids_status gids_sgd_step_(gids_tensor *param, const gids_tensor *grad, gids_tensor *momentum_buf,
                           const gids_sgd_cfg *cfg);

/* *out: NEW 0-d f64 tensor on the tensors' device, how many elements of the n tensors are inf or
 * NaN (integer and bool tensors hold none; any shape and layout).  The tensors must share one
 * device; n = 0 gives a CPU 0.  On a GPU the count stays there (one kernel per few dozen
 * tensors, no wait for the device), so a training loop reads it with the step's other values:
 * the trainer's check of every step's gradients.  Exact below 2^53. */
gids_status gids_count_nonfinite(gids_tensor **out, int n, const gids_tensor *const *ts);

#ifdef __cplusplus
}
#endif
#endif
