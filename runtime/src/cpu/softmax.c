/* softmax.c -- softmax and log_softmax along one dim (float inputs).
 *
 * Each slice along the dim is handled on its own: max, then the sum of exp(x - max) in f64,
 * then the outputs.  Slices are independent, so the split over threads cannot change a result.
 * A slice holding NaN gives NaN; an all -inf slice gives NaN, as torch.
 */
#include <math.h>

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "elementwise_impl.h"

/* One slice: size elements at stride `inner`, starting at x / y. */
#define SOFTMAX_SLICE(fname, TY)                                                                   \
    static void fname(const TY *x, TY *y, int64_t size, int64_t inner, bool log_) {                \
        double m = -INFINITY;                                                                      \
        for (int64_t k = 0; k < size; k++) {                                                       \
            double v = (double)x[k * inner];                                                       \
            if (v > m || v != v) m = v;                                                            \
        }                                                                                          \
        double sum = 0;                                                                            \
        for (int64_t k = 0; k < size; k++) sum += exp((double)x[k * inner] - m);                   \
        if (log_) {                                                                                \
            double ls = log(sum); /* (x - m) - ls: m + ls would round away small terms */          \
            for (int64_t k = 0; k < size; k++)                                                     \
                y[k * inner] = (TY)(((double)x[k * inner] - m) - ls);                              \
        } else {                                                                                   \
            for (int64_t k = 0; k < size; k++)                                                     \
                y[k * inner] = (TY)(exp((double)x[k * inner] - m) / sum);                          \
        }                                                                                          \
    }
SOFTMAX_SLICE(slice_f32, float)
SOFTMAX_SLICE(slice_f64, double)

/* Slice s of x and y, contiguous [outer, size, inner] of dtype dt. */
static void slice_at(gids_dtype dt, const void *x, void *y, int64_t s, int64_t size, int64_t inner,
                     bool log_) {
    int64_t base = (s / inner) * size * inner + s % inner;
    if (dt == GIDS_F32)
        slice_f32((const float *)x + base, (float *)y + base, size, inner, log_);
    else
        slice_f64((const double *)x + base, (double *)y + base, size, inner, log_);
}

static void softmax_all(gids_dtype dt, const void *x, void *y, int64_t outer, int64_t size,
                        int64_t inner, bool log_) {
    int nt = gids_threads_for(outer * size * inner);
    if (nt <= 1) {
        for (int64_t s = 0; s < outer * inner; s++) slice_at(dt, x, y, s, size, inner, log_);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t s = 0; s < outer * inner; s++) slice_at(dt, x, y, s, size, inner, log_);
}

static gids_status softmax_run(gids_tensor **out, const char *op, const gids_tensor *a, int dim,
                               bool log_) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", op);
    GIDS_TRY(gids_ew_check_input(op, "arg 1", a));
    GIDS_CHECK(gids_dtype_is_float(a->dtype), GIDS_EDTYPE,
               "%s: input must be a float tensor (f32 or f64), got %s", op,
               gids_dtype_name(a->dtype));
    int d0;
    GIDS_TRY(gids_normalize_dim(op, dim, a->ndim, &d0));
    int64_t outer, size, inner;
    gids_ew_split_dim(a, d0, &outer, &size, &inner);
    gids_tensor *c = NULL, *r = NULL;
    GIDS_TRY(gids_contiguous(&c, a));
    gids_status st = gids_empty(&r, a->dtype, GIDS_DEVICE_CPU, a->ndim, a->shape);
    if (st == GIDS_OK && gids_tensor_numel(a) > 0) {
        softmax_all(a->dtype, gids_tensor_data(c), gids_tensor_data(r), outer, size, inner, log_);
    }
    gids_tensor_release(c);
    if (st != GIDS_OK) {
        gids_tensor_release(r);
        return st;
    }
    *out = r;
    return GIDS_OK;
}

gids_status gids_softmax(gids_tensor **out, const gids_tensor *a, int dim) {
    GIDS_ON_DEVICE("softmax", softmax, a)(out, a, dim, false);
    return softmax_run(out, "softmax", a, dim, false);
}

gids_status gids_log_softmax(gids_tensor **out, const gids_tensor *a, int dim) {
    GIDS_ON_DEVICE("log_softmax", softmax, a)(out, a, dim, true);
    return softmax_run(out, "log_softmax", a, dim, true);
}
