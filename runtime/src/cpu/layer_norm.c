/* layer_norm.c -- layer normalisation over the trailing dims in one pass per row.
 *
 * Composed of mean, var, subtract, rsqrt, multiply and add, a layer norm walks its input six or
 * seven times and leaves as many temporaries; here each row of the normalised dims is read
 * twice while it is in cache (its sum, then the squares of its deviations: the two-pass
 * variance, which does not cancel as E[x^2] - E[x]^2 would) and written once.  Statistics are
 * accumulated in double, sixteen partial sums combined in a fixed order (sum_impl.h), so the
 * result does not depend on the thread count or on the vector width a clone uses.  Each output
 * is computed in double and rounded once: within half an ulp even where the bias cancels the
 * rest (the same formula in float arithmetic averaged 1.6 ulp on random rows, many more there).
 * An f32 row thus costs four conversions an element (one for each of three reads, one to
 * write), and on AMD Zen 4 those conversions, four lanes a cycle, bound it (sum_impl.h);
 * keeping the row in double between the passes, to convert it once, gained 2%.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "../core/core_impl.h"
#include "elementwise_impl.h"
#include "sum_impl.h"

/* sum over j of (p[j] - mean)^2, its sixteen lanes as gids_sum_f32 folds a sum */
#define DEV16(fname, TY)                                                                           \
    static inline double fname(const TY *p, int64_t n, double mean) {                              \
        double l[16] = {0}, s;                                                                     \
        int64_t i = 0;                                                                             \
        for (; i + 16 <= n; i += 16)                                                               \
            for (int j = 0; j < 16; j++) {                                                         \
                double d = (double)p[i + j] - mean;                                                \
                l[j] += d * d;                                                                     \
            }                                                                                      \
        GIDS_SUM16_COMBINE(l, s);                                                                  \
        for (; i < n; i++) {                                                                       \
            double d = (double)p[i] - mean;                                                        \
            s += d * d;                                                                            \
        }                                                                                          \
        return s;                                                                                  \
    }
DEV16(dev16_f32_c, float)
DEV16(dev16_f64, double)

/* y = (x - mean) rstd (w) (+ b) over one row of d, each element in double and rounded once.
 * An absent weight multiplies by 1 (exact); an absent bias adds nothing (adding 0 would turn
 * a -0 into +0). */
#define LN_OUT(fname, TY, WTY)                                                                     \
    static inline void fname(const TY *x, const WTY *w, const WTY *b, TY *y, int64_t d, double m,  \
                             double rs) {                                                          \
        if (b != NULL)                                                                             \
            for (int64_t j = 0; j < d; j++)                                                        \
                y[j] = (TY)(((double)x[j] - m) * rs * (w ? (double)w[j] : 1.0) + (double)b[j]);    \
        else                                                                                       \
            for (int64_t j = 0; j < d; j++)                                                        \
                y[j] = (TY)(((double)x[j] - m) * rs * (w ? (double)w[j] : 1.0));                   \
    }
LN_OUT(ln_out_f32_c, float, double)
LN_OUT(ln_out_f64, double, double)

#ifdef GIDS_SUM_AVX2
/* The AVX2 forms of the two above: the same operations in the same order, so the same bits.
 * GCC's own vectorisation splits every 256-bit load of floats in two for the conversions.  In
 * dev the sum's add is written as fma(a, 1, b) (GIDS_ADD_ON_FMA, sum_impl.h), which rounds
 * a + b exactly as the add does but runs on the multiply pipes, off the two that convert and
 * subtract (AMD Zen 4): 0.10 -> 0.07 ns an element, the conversion's rate. */

__attribute__((target("avx2,fma"))) static inline double dev16_f32_avx2(const float *p, int64_t n,
                                                                        double mean) {
    __m256d mv = _mm256_set1_pd(mean), a[4];
    for (int k = 0; k < 4; k++) a[k] = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++) {
            __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(p + i + 4 * k)), mv);
            a[k] = GIDS_ADD_ON_FMA(_mm256_mul_pd(d, d), a[k]);
        }
    __m256d v = _mm256_add_pd(_mm256_add_pd(a[0], a[1]), _mm256_add_pd(a[2], a[3]));
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    double s = _mm_cvtsd_f64(h) + _mm_cvtsd_f64(_mm_unpackhi_pd(h, h));
    for (; i < n; i++) {
        double d = (double)p[i] - mean;
        s += d * d;
    }
    return s;
}

/* x - m is written as x + (-m) on the fma pipes (GIDS_ADD_ON_FMA: the same rounding), which
 * leaves the two conversions and the bias's add on the other two: 0.15 -> 0.11 ns an element. */
__attribute__((target("avx2,fma"))) static inline void
ln_out_f32_avx2(const float *x, const double *w, const double *b, float *y, int64_t d, double m,
                double rs) {
    __m256d nmv = _mm256_set1_pd(-m), rv = _mm256_set1_pd(rs), one = _mm256_set1_pd(1.0);
    int64_t j = 0; /* two conversions an element, above the sums' passes together */
#define LN_OUT_AVX2(ADD_B)                                                                         \
    for (; j + 4 <= d; j += 4) {                                                                   \
        __m256d t = _mm256_mul_pd(GIDS_ADD_ON_FMA(_mm256_cvtps_pd(_mm_loadu_ps(x + j)), nmv), rv); \
        t = _mm256_mul_pd(t, w ? _mm256_loadu_pd(w + j) : one);                                    \
        _mm_storeu_ps(y + j, _mm256_cvtpd_ps(ADD_B));                                              \
    }
    if (b != NULL) {
        LN_OUT_AVX2(_mm256_add_pd(t, _mm256_loadu_pd(b + j)))
    } else {
        LN_OUT_AVX2(t)
    }
#undef LN_OUT_AVX2
    ln_out_f32_c(x + j, w ? w + j : NULL, b ? b + j : NULL, y + j, d - j, m, rs);
}
#endif

static inline double dev16_f32(const float *p, int64_t n, double mean) {
#ifdef GIDS_SUM_AVX2
    if (gids_sum_simd()) return dev16_f32_avx2(p, n, mean);
#endif
    return dev16_f32_c(p, n, mean);
}

static inline void ln_out_f32(const float *x, const double *w, const double *b, float *y, int64_t d,
                              double m, double rs) {
#ifdef GIDS_SUM_AVX2
    if (gids_sum_simd()) {
        ln_out_f32_avx2(x, w, b, y, d, m, rs);
        return;
    }
#endif
    ln_out_f32_c(x, w, b, y, d, m, rs);
}

/* Rows [r0, r1) of length d: y = (x - mean) rstd (w) (+ b), and the row's mean and rstd.  The
 * affine parameters come as double (an f32 layer's converted once a call, not once a row). */
#define LN_ROWS(fname, TY, SUMF, DEVF, OUTF)                                                       \
    GIDS_HOT_MATH static void fname(const TY *x, const double *w, const double *b, TY *y,          \
                                    TY *mean, TY *rstd, int64_t r0, int64_t r1, int64_t d,         \
                                    double eps) {                                                  \
        for (int64_t r = r0; r < r1; r++) {                                                        \
            const TY *xr = x + r * d;                                                              \
            double m = SUMF(xr, d) / (double)d;                                                    \
            double rs = 1.0 / sqrt(DEVF(xr, d, m) / (double)d + eps);                              \
            mean[r] = (TY)m, rstd[r] = (TY)rs;                                                     \
            OUTF(xr, w, b, y + r * d, d, m, rs);                                                   \
        }                                                                                          \
    }
LN_ROWS(ln_rows_f32, float, gids_sum_f32, dev16_f32, ln_out_f32)
LN_ROWS(ln_rows_f64, double, gids_sum_f64, dev16_f64, ln_out_f64)

/* A float parameter as double (NULL stays NULL); *buf is what to free. */
static gids_status params_f64(const gids_tensor *p, int64_t d, const double **out, double **buf) {
    *out = NULL, *buf = NULL;
    if (p == NULL) return GIDS_OK;
    if (p->dtype == GIDS_F64) {
        *out = gids_tensor_data(p);
        return GIDS_OK;
    }
    *buf = malloc((size_t)d * sizeof(double));
    GIDS_CHECK(*buf != NULL, GIDS_ENOMEM, "layer_norm: cannot allocate %lld doubles", (long long)d);
    const float *f = gids_tensor_data(p);
    for (int64_t j = 0; j < d; j++) (*buf)[j] = (double)f[j];
    *out = *buf;
    return GIDS_OK;
}

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
    const double *wp = NULL, *bp = NULL;
    double *wbuf = NULL, *bbuf = NULL;
    if (st == GIDS_OK && rows > 0 && d > 0) st = params_f64(wc, d, &wp, &wbuf);
    if (st == GIDS_OK && rows > 0 && d > 0) st = params_f64(bc, d, &bp, &bbuf);
    if (st == GIDS_OK && rows > 0 && d > 0) {
        const void *xp = gids_tensor_data(xc);
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
    free(wbuf), free(bbuf);
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
