/* layer_norm.c -- layer normalisation over the trailing dims in one pass per row.
 *
 * Composed of mean, var, subtract, rsqrt, multiply and add, a layer norm walks its input six or
 * seven times and leaves as many temporaries; here each row of the normalised dims is read
 * twice while it is in cache (its sum, then the squares of its deviations: the two-pass
 * variance, which does not cancel as E[x^2] - E[x]^2 would) and written once.  Statistics are
 * accumulated in double, partial sums combined in a fixed order (sum_impl.h), so the
 * result does not depend on the thread count or on the vector width a clone uses.
 */
#include <math.h>
#include <omp.h>

#include "../core/core_impl.h"
#include "elementwise_impl.h"
#include "sum_impl.h"

/* sum over j of (p[j] - mean)^2, eight partial sums in a fixed order */
#define DEV8(fname, TY)                                                                            \
    static inline double fname(const TY *p, int64_t n, double mean) {                              \
        double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                    \
        int64_t i = 0;                                                                             \
        for (; i + 8 <= n; i += 8)                                                                 \
            for (int j = 0; j < 8; j++) {                                                          \
                double d = (double)p[i + j] - mean;                                                \
                l[j] += d * d;                                                                     \
            }                                                                                      \
        double s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));              \
        for (; i < n; i++) {                                                                       \
            double d = (double)p[i] - mean;                                                        \
            s += d * d;                                                                            \
        }                                                                                          \
        return s;                                                                                  \
    }
DEV8(dev8_f32, float)
DEV8(dev8_f64, double)

/* Rows [r0, r1) of length d: y = (x - mean) rstd (w) (+ b), and the row's mean and rstd. */
#define LN_ROWS(fname, TY, SUM8, DEV8F)                                                            \
    GIDS_HOT static void fname(const TY *x, const TY *w, const TY *b, TY *y, TY *mean, TY *rstd,   \
                               int64_t r0, int64_t r1, int64_t d, double eps) {                    \
        for (int64_t r = r0; r < r1; r++) {                                                        \
            const TY *xr = x + r * d;                                                              \
            TY *yr = y + r * d;                                                                    \
            double m = SUM8(xr, d) / (double)d;                                                    \
            double rs = 1.0 / sqrt(DEV8F(xr, d, m) / (double)d + eps);                             \
            mean[r] = (TY)m, rstd[r] = (TY)rs;                                                     \
            if (w != NULL && b != NULL)                                                            \
                for (int64_t j = 0; j < d; j++)                                                    \
                    yr[j] = (TY)(((double)xr[j] - m) * rs * (double)w[j] + (double)b[j]);          \
            else if (w != NULL)                                                                    \
                for (int64_t j = 0; j < d; j++)                                                    \
                    yr[j] = (TY)(((double)xr[j] - m) * rs * (double)w[j]);                         \
            else if (b != NULL)                                                                    \
                for (int64_t j = 0; j < d; j++)                                                    \
                    yr[j] = (TY)(((double)xr[j] - m) * rs + (double)b[j]);                         \
            else                                                                                   \
                for (int64_t j = 0; j < d; j++) yr[j] = (TY)(((double)xr[j] - m) * rs);            \
        }                                                                                          \
    }
LN_ROWS(ln_rows_f32, float, gids_sum_f32, dev8_f32)
LN_ROWS(ln_rows_f64, double, gids_sum_f64, dev8_f64)

/* weight or bias: NULL, or a CPU tensor of x's dtype shaped as x's last ndims dims. */
static gids_status check_affine_(const char *name, const gids_tensor *p, const gids_tensor *x,
                                 int ndims) {
    if (p == NULL) return GIDS_OK;
    GIDS_TRY(gids_ew_check_input("layer_norm", name, p));
    GIDS_CHECK(p->dtype == x->dtype, GIDS_EDTYPE, "layer_norm: %s has dtype %s, the input %s", name,
               gids_dtype_name(p->dtype), gids_dtype_name(x->dtype));
    bool same = p->ndim == ndims;
    for (int k = 0; same && k < ndims; k++) same = p->shape[k] == x->shape[x->ndim - ndims + k];
    char ps[160], xs[160];
    GIDS_CHECK(same, GIDS_ESHAPE,
               "layer_norm: %s has shape %s, expected the input's last %d dims (input %s)", name,
               gids_shape_str(p->ndim, p->shape, ps, sizeof ps), ndims,
               gids_shape_str(x->ndim, x->shape, xs, sizeof xs));
    return GIDS_OK;
}

gids_status gids_layer_norm(gids_tensor **out, gids_tensor **mean, gids_tensor **rstd,
                            const gids_tensor *x, int ndims, const gids_tensor *weight,
                            const gids_tensor *bias, double eps) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "layer_norm: out is NULL");
    GIDS_TRY(gids_ew_check_input("layer_norm", "input", x));
    GIDS_CHECK(gids_dtype_is_float(x->dtype), GIDS_EDTYPE,
               "layer_norm: expected a float input, got %s", gids_dtype_name(x->dtype));
    GIDS_CHECK(ndims >= 1 && ndims <= x->ndim, GIDS_EINVAL,
               "layer_norm: normalises over the last %d dims of a %d-D input", ndims, x->ndim);
    GIDS_TRY(check_affine_("weight", weight, x, ndims));
    GIDS_TRY(check_affine_("bias", bias, x, ndims));

    int64_t d = 1, rows = 1, stat_shape[GIDS_MAX_DIMS];
    for (int k = 0; k < x->ndim; k++) {
        bool normalised = k >= x->ndim - ndims;
        if (normalised)
            d *= x->shape[k];
        else
            rows *= x->shape[k];
        stat_shape[k] = normalised ? 1 : x->shape[k];
    }
    gids_tensor *xc = NULL, *wc = NULL, *bc = NULL, *y = NULL, *m = NULL, *rs = NULL;
    gids_status st = gids_contiguous(&xc, x);
    if (st == GIDS_OK && weight != NULL) st = gids_contiguous(&wc, weight);
    if (st == GIDS_OK && bias != NULL) st = gids_contiguous(&bc, bias);
    if (st == GIDS_OK) st = gids_empty(&y, x->dtype, GIDS_DEVICE_CPU, x->ndim, x->shape);
    if (st == GIDS_OK) st = gids_empty(&m, x->dtype, GIDS_DEVICE_CPU, x->ndim, stat_shape);
    if (st == GIDS_OK) st = gids_empty(&rs, x->dtype, GIDS_DEVICE_CPU, x->ndim, stat_shape);
    if (st == GIDS_OK && rows > 0 && d > 0) {
        const void *xp = gids_tensor_data(xc), *wp = wc ? gids_tensor_data(wc) : NULL,
                   *bp = bc ? gids_tensor_data(bc) : NULL;
        void *yp = gids_tensor_data(y), *mp = gids_tensor_data(m), *rp = gids_tensor_data(rs);
        bool f32 = x->dtype == GIDS_F32;
        /* rows are independent: each thread takes a contiguous range */
        int nt = gids_threads_for(rows * d);
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            int t = omp_get_thread_num(), n = omp_get_num_threads();
            int64_t r0 = rows * t / n, r1 = rows * (t + 1) / n;
            if (f32)
                ln_rows_f32(xp, wp, bp, yp, mp, rp, r0, r1, d, eps);
            else
                ln_rows_f64(xp, wp, bp, yp, mp, rp, r0, r1, d, eps);
        }
    } else if (st == GIDS_OK && rows > 0) {
        /* empty rows: mean 0 and rstd NaN, as torch's native_layer_norm */
        st = gids_fill_(m, gids_scalar_f(0));
        if (st == GIDS_OK) st = gids_fill_(rs, gids_scalar_f(NAN));
    }
    gids_tensor_release(xc), gids_tensor_release(wc), gids_tensor_release(bc);
    if (st != GIDS_OK) {
        gids_tensor_release(y), gids_tensor_release(m), gids_tensor_release(rs);
        return st;
    }
    *out = y;
    if (mean != NULL)
        *mean = m;
    else
        gids_tensor_release(m);
    if (rstd != NULL)
        *rstd = rs;
    else
        gids_tensor_release(rs);
    return GIDS_OK;
}
