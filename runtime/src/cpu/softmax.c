/* softmax.c -- softmax and log_softmax along one dim (float inputs), and their backward.
 *
 * Each slice along the dim is handled on its own: max, then the sum of exp(x - max) in f64,
 * then the outputs.  Slices are independent, so the split over threads cannot change a result.
 * A slice holding NaN or +inf gives NaN; an all -inf slice gives NaN, as torch.
 *
 * f32 slices of 64 or more along the last dim (contiguous rows: a classifier over many ids)
 * take a path that vectorises: exp(x - max) <= 1 in float arithmetic (fastmath_impl.h's Cephes
 * expf, about 1 ulp), written into the output row and summed in f64 by sixteen accumulators in a
 * fixed order (sum_impl.h), cloned up to AVX-512 (GIDS_HOT_MATH).  libm's scalar exp in double
 * had made a [2988, 2049] log_softmax take 11.7 ms on two Zen 5 cores; 2.1 with the clamped
 * exp of sigmoid, 1.6 with the one-sided clamp below (2 EPYC cores; PyTorch's 1.6).  Other
 * slices keep libm's exp in double in the forward, and the backward takes the unary op's f32
 * exp (vecmath_impl.h), so both keep the bits of the composed forms.
 */
#include <math.h>

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "../core/vecmath_impl.h"
#include "elementwise_impl.h"
#include "fastmath_impl.h"
#include "sum_impl.h"

/* Rows shorter than this keep libm's exp in double: they cost little either way, and the
 * two-class logits of the GAT classifiers keep the CPU's bits from before the fast path. */
#define FAST_ROW_MIN 64

/* e^d for d <= 0 (x - max): below the range of gids_expf_in_range_ the true value is under
 * 1.2e-38 and is flushed to 0, so -inf entries give exactly 0; NaN stays NaN.  d is never above
 * 0, so only the low end needs a clamp (two selects fewer an element than the clamped exp of
 * sigmoid and tanh; the same bits). */
static inline float exp_nonpositive_f32(float d) {
    float e = gids_expf_in_range_(d < -87.33654f ? -87.33654f : d);
    return d < -87.33654f ? 0.0f : e;
}

/* The row's max, NaN ignored.  32 running maxima, a select each: GCC kept 8 of them in scalar
 * registers but turns 32 into vector code (a [256, 2049] log_softmax in cache: 0.165 -> 0.144
 * ms), and the tail folds into the combined max so no lane is written after the loop. */
#define MAX_LANES 32
GIDS_HOT_MATH static float row_max_f32(const float *x, int64_t n) {
    float mx[MAX_LANES];
    for (int j = 0; j < MAX_LANES; j++) mx[j] = -INFINITY;
    int64_t k = 0;
    for (; k + MAX_LANES <= n; k += MAX_LANES)
        for (int j = 0; j < MAX_LANES; j++) mx[j] = x[k + j] > mx[j] ? x[k + j] : mx[j];
    float m = mx[0];
    for (int j = 1; j < MAX_LANES; j++) m = mx[j] > m ? mx[j] : m;
    for (; k < n; k++) m = x[k] > m ? x[k] : m;
    return m;
}

/* One contiguous f32 row of n elements.  The max ignores NaN; a NaN, a +inf (inf - inf) or an
 * all -inf row (-inf - -inf) then puts a NaN into the sum, and the row becomes NaN, as torch. */
GIDS_HOT_MATH static void row_f32(const float *x, float *y, int64_t n, bool log_) {
    float m = row_max_f32(x, n);
    int64_t k;
    for (k = 0; k < n; k++) y[k] = exp_nonpositive_f32(x[k] - m);
    double sum = gids_sum_f32(y, n);
    if (sum != sum) {
        for (k = 0; k < n; k++) y[k] = NAN;
        return;
    }
    if (log_) {
        double ls = log(sum),
               md = (double)m; /* (x - m) - ls: m + ls would round away small terms */
        for (k = 0; k < n; k++) y[k] = (float)(((double)x[k] - md) - ls);
    } else {
        double inv = 1.0 / sum;
        for (k = 0; k < n; k++) y[k] = (float)((double)y[k] * inv);
    }
}

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
    if (dt == GIDS_F32 && inner == 1 && size >= FAST_ROW_MIN)
        row_f32((const float *)x + base, (float *)y + base, size, log_);
    else if (dt == GIDS_F32)
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

/* ---------------------------------------------------------------- backward */
/* The input gradient of one slice (size elements at stride inner) from the output gradient g
 * and the forward's result y, in the arithmetic of the composed form it replaces
 * (ag_scan.c's formulas before this op): the sum in f64 as sum() folds it (sum_impl.h for
 * contiguous rows, in order otherwise), rounded to TY, then each element in TY:
 *   softmax:      r = y * (g - sum(g * y))        log_softmax:  r = g - exp(y) * sum(g)
 * so a contiguous row's result has the composed form's bits wherever exp is the unary op's
 * (short rows, gids_vm_expf; long ones take the forward's vectorising exp instead).  scratch
 * holds size elements (the products g * y). */
#define SOFTMAX_BW_SLICE(fname, TY, SUMF, EXP)                                                     \
    GIDS_HOT_MATH static void fname(const TY *g, const TY *y, TY *r, int64_t size, int64_t inner,  \
                                    bool log_) {                                                   \
        double acc = 0;                                                                            \
        if (log_) {                                                                                \
            if (inner == 1)                                                                        \
                acc = SUMF(g, size);                                                               \
            else                                                                                   \
                for (int64_t k = 0; k < size; k++) acc += (double)g[k * inner];                    \
            TY s = (TY)acc;                                                                        \
            for (int64_t k = 0; k < size; k++) {                                                   \
                TY t = EXP(y[k * inner]) * s;                                                      \
                r[k * inner] = g[k * inner] - t;                                                   \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        if (inner == 1) {                                                                          \
            for (int64_t k = 0; k < size; k++) r[k] = g[k] * y[k]; /* the products, then */        \
            acc = SUMF(r, size);                                   /* their sum */                 \
        } else {                                                                                   \
            for (int64_t k = 0; k < size; k++) {                                                   \
                TY p = g[k * inner] * y[k * inner];                                                \
                acc += (double)p;                                                                  \
            }                                                                                      \
        }                                                                                          \
        TY dot = (TY)acc;                                                                          \
        for (int64_t k = 0; k < size; k++) {                                                       \
            TY d = g[k * inner] - dot;                                                             \
            r[k * inner] = y[k * inner] * d;                                                       \
        }                                                                                          \
    }

/* the f32 exp of the unary op (vecmath_impl.h), so a short slice's backward keeps the bits of
 * the composed form exp(y) * ... it replaces */
SOFTMAX_BW_SLICE(bw_slice_f32, float, gids_sum_f32, gids_vm_expf)
/* e^y of the result y: the forward's vectorising exp, but clamped on both sides, since a caller
 * of gids_softmax_backward may pass any y, not only the forward's y <= 0 (above 88.7 it is
 * +inf, as libm's on a short row); the same bits as exp_nonpositive_f32 where y <= 0. */
static inline float exp_result_f32(float y) {
    float e = gids_clamped_expf_(y);
    return y < -87.33654f ? 0.0f : e;
}
SOFTMAX_BW_SLICE(bw_row_fast_f32, float, gids_sum_f32, exp_result_f32)
SOFTMAX_BW_SLICE(bw_slice_f64, double, gids_sum_f64, exp)

static void bw_slice_at(gids_dtype dt, const void *g, const void *y, void *r, int64_t s,
                        int64_t size, int64_t inner, bool log_) {
    int64_t base = (s / inner) * size * inner + s % inner;
    if (dt == GIDS_F64)
        bw_slice_f64((const double *)g + base, (const double *)y + base, (double *)r + base, size,
                     inner, log_);
    else if (inner == 1 && size >= FAST_ROW_MIN)
        bw_row_fast_f32((const float *)g + base, (const float *)y + base, (float *)r + base, size,
                        inner, log_);
    else
        bw_slice_f32((const float *)g + base, (const float *)y + base, (float *)r + base, size,
                     inner, log_);
}

gids_status gids_softmax_backward(gids_tensor **out, const gids_tensor *g, const gids_tensor *y,
                                  int dim, bool log_) {
    const char *op = log_ ? "log_softmax_backward" : "softmax_backward";
    /* The arguments are checked here for every device; a backend gets them valid. */
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", op);
    GIDS_CHECK(g != NULL && y != NULL, GIDS_EINVAL, "%s: %s is NULL", op,
               g == NULL ? "grad" : "result");
    GIDS_CHECK(gids_dtype_is_float(y->dtype) && g->dtype == y->dtype, GIDS_EDTYPE,
               "%s: grad and result must be float tensors of one dtype, got %s and %s", op,
               gids_dtype_name(g->dtype), gids_dtype_name(y->dtype));
    bool same = g->ndim == y->ndim;
    for (int d = 0; same && d < g->ndim; d++) same = g->shape[d] == y->shape[d];
    if (!same) {
        char a[160], b[160];
        GIDS_FAIL(GIDS_ESHAPE, "%s: grad has shape %s, the result %s", op,
                  gids_shape_str(g->ndim, g->shape, a, sizeof a),
                  gids_shape_str(y->ndim, y->shape, b, sizeof b));
    }
    int d0;
    GIDS_TRY(gids_normalize_dim(op, dim, y->ndim, &d0));
    GIDS_ON_DEVICE(op, softmax_backward, g, y)(out, g, y, d0, log_);
    GIDS_TRY(gids_ew_check_input(op, "grad", g));
    GIDS_TRY(gids_ew_check_input(op, "result", y));
    int64_t outer, size, inner;
    gids_ew_split_dim(y, d0, &outer, &size, &inner);
    gids_tensor *gc = NULL, *yc = NULL, *r = NULL;
    gids_status st = gids_contiguous(&gc, g);
    if (st == GIDS_OK) st = gids_contiguous(&yc, y);
    if (st == GIDS_OK) st = gids_empty(&r, y->dtype, GIDS_DEVICE_CPU, y->ndim, y->shape);
    if (st == GIDS_OK && gids_tensor_numel(y) > 0) {
        const void *gp = gids_tensor_data(gc), *yp = gids_tensor_data(yc);
        void *rp = gids_tensor_data(r);
        int nt = gids_threads_for(outer * size * inner);
        if (nt <= 1) {
            for (int64_t s = 0; s < outer * inner; s++)
                bw_slice_at(y->dtype, gp, yp, rp, s, size, inner, log_);
        } else {
#pragma omp parallel for schedule(static) num_threads(nt)
            for (int64_t s = 0; s < outer * inner; s++)
                bw_slice_at(y->dtype, gp, yp, rp, s, size, inner, log_);
        }
    }
    gids_tensor_release(gc);
    gids_tensor_release(yc);
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
