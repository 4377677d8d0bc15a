/* gradcheck.h -- finite-difference checks of backward formulas for the C specs.
 *
 *   static gids_status f(gids_tensor **out, gids_tensor *const *in, void *ctx) {
 *       return gids_ag_binary(out, GIDS_MUL, in[0], in[1]);
 *   }
 *   gids_tensor *in[2] = {a, b};              // f64 tensors; those to check require grad
 *   GRADCHECK(f, 2, in, NULL);
 *
 * The output is projected on fixed pseudo-random weights w (loss = sum(out * w)), so one
 * backward checks the whole vector-Jacobian product; every element of every input that
 * requires grad is perturbed by +-h and the central difference compared with its gradient
 * (relative tolerance 1e-5, as torch.autograd.gradcheck's default atol/rtol order).  Inputs
 * must be contiguous f64.
 */
#ifndef GIDS_GRADCHECK_H
#define GIDS_GRADCHECK_H

#include "check.h"
#include "gids/autograd.h"

typedef gids_status (*gradcheck_fn)(gids_tensor **out, gids_tensor *const *in, void *ctx);

/* sum(out * w) for the weights w_i = sin(1.7 i + 0.3), computed in f64. */
static inline double gradcheck_project_(const gids_tensor *out) {
    double acc = 0;
    int64_t n = gids_tensor_numel(out);
    for (int64_t i = 0; i < n; i++) {
        double v = 0;
        if (gids_tensor_get(out, i, &v) != GIDS_OK) return NAN;
        acc += v * sin(1.7 * (double)i + 0.3);
    }
    return acc;
}

static inline gids_tensor *gradcheck_weights_(const gids_tensor *out) {
    gids_tensor *w = NULL;
    if (gids_empty(&w, out->dtype, GIDS_DEVICE_CPU, out->ndim, out->shape) != GIDS_OK) return NULL;
    int64_t n = gids_tensor_numel(w);
    for (int64_t i = 0; i < n; i++) {
        double v = sin(1.7 * (double)i + 0.3);
        if (out->dtype == GIDS_F32)
            ((float *)w->storage->data)[i] = (float)v;
        else
            ((double *)w->storage->data)[i] = v;
    }
    return w;
}

/* Returns the number of mismatching elements (and reports each). */
static inline int gradcheck_run_(const char *name, gradcheck_fn f, int n, gids_tensor *const *in,
                                 void *ctx, const char *file, int line) {
    int bad = 0;
    gids_tensor *out = NULL;
    for (int i = 0; i < n; i++) gids_set_grad(in[i], NULL);
    gids_status st = f(&out, in, ctx);
    if (st != GIDS_OK) {
        fprintf(stderr, "FAIL %s (%s:%d): %s forward: %s\n", check_current_, file, line, name,
                gids_error_message());
        return 1;
    }
    gids_tensor *w = gradcheck_weights_(out);
    st = w ? gids_backward(out, w, false) : GIDS_ENOMEM;
    gids_tensor_release(w);
    gids_tensor_release(out);
    if (st != GIDS_OK) {
        fprintf(stderr, "FAIL %s (%s:%d): %s backward: %s\n", check_current_, file, line, name,
                gids_error_message());
        return 1;
    }
    bool old = gids_set_grad_enabled(false);
    for (int k = 0; k < n; k++) {
        if (!gids_requires_grad(in[k])) continue;
        const gids_tensor *g = gids_grad(in[k]);
        double *v = gids_tensor_data(in[k]);
        int64_t m = gids_tensor_numel(in[k]);
        for (int64_t i = 0; i < m; i++) {
            double keep = v[i], h = 1e-6 * (1.0 + fabs(keep)), fx[2] = {0, 0};
            for (int s = 0; s < 2; s++) {
                v[i] = keep + (s ? -h : h);
                gids_tensor *o = NULL;
                if (f(&o, in, ctx) == GIDS_OK) fx[s] = gradcheck_project_(o);
                gids_tensor_release(o);
            }
            v[i] = keep;
            double num = (fx[0] - fx[1]) / (2 * h), ana = 0;
            if (g != NULL) gids_tensor_get(g, i, &ana);
            if (!(fabs(num - ana) <= 1e-5 * (1.0 + fabs(num)))) {
                if (bad < 5)
                    fprintf(stderr,
                            "FAIL %s (%s:%d): %s input %d element %lld: numeric %.10g, "
                            "backward %.10g%s\n",
                            check_current_, file, line, name, k + 1, (long long)i, num, ana,
                            g == NULL ? " (no gradient)" : "");
                bad++;
            }
        }
    }
    gids_set_grad_enabled(old);
    return bad;
}

#define GRADCHECK(f, n, in, ctx)                                                                   \
    do {                                                                                           \
        if (gradcheck_run_(#f, (f), (n), (in), (ctx), __FILE__, __LINE__) != 0)                    \
            check_test_failed_ = 1;                                                                \
    } while (0)

#endif
