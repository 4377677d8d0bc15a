/* activation.c -- parameterised elementwise ops: leaky_relu, elu, softplus, clamp, where.
 *
 * The activations compute in the input's float dtype (integer inputs give f32, like the math
 * ops in unary.c); clamp keeps integer dtypes when its bounds are integers; where selects bytes
 * and so works for every dtype.
 */
#include <tgmath.h>

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "../core/iter_impl.h"
#include "elementwise_impl.h"
#include "fastmath_impl.h"

typedef struct act_params {
    double p0, p1;
} act_params;

#define ACT_KERNEL(fname, TY, EXPR)                                                                \
    GIDS_HOT static void fname(void *ctx, int64_t n, char **p, const int64_t *s) {                 \
        const act_params *ap_ = ctx;                                                               \
        const TY p0 = (TY)ap_->p0, p1 = (TY)ap_->p1;                                               \
        (void)p0;                                                                                  \
        (void)p1;                                                                                  \
        GIDS_EW_UNARY_LOOP(TY, TY, EXPR);                                                          \
    }
#define ACT_FLOAT(name, EXPR)                                                                      \
    ACT_KERNEL(name##_f32, float, EXPR)                                                            \
    ACT_KERNEL(name##_f64, double, EXPR)
/* The f32 kernels built on fastmath_impl.h's polynomials, also cloned for FMA and AVX-512 with
 * the same bits (core_impl.h, GIDS_HOT_MATH). */
#define ACT_KERNEL_MATH(fname, TY, EXPR)                                                           \
    GIDS_HOT_MATH static void fname(void *ctx, int64_t n, char **p, const int64_t *s) {            \
        const act_params *ap_ = ctx;                                                               \
        const TY p0 = (TY)ap_->p0, p1 = (TY)ap_->p1;                                               \
        (void)p1;                                                                                  \
        GIDS_EW_UNARY_LOOP(TY, TY, EXPR);                                                          \
    }

/* p0 = negative slope. NaN stays NaN (the comparison is false, NaN * slope is NaN). */
ACT_FLOAT(leaky_relu, x_ > 0 ? x_ : x_ * p0)
/* p0 = alpha.  f32 takes the vectorised expm1 of fastmath_impl.h (libm's scalar expm1f made
 * ELU 10x slower than PyTorch's). */
ACT_KERNEL_MATH(elu_f32, float, x_ > 0 ? x_ : p0 * gids_fast_expm1f(x_))
ACT_KERNEL(elu_f64, double, x_ > 0 ? x_ : p0 * expm1(x_))
/* p0 = beta, p1 = threshold: linear where beta * x exceeds the threshold.  f32 takes the
 * vectorised softplus of fastmath_impl.h (libm's scalar log1pf and expf cost 8 ms a million
 * elements); it does not overflow where a threshold above 88 leaves beta * x unlinearised
 * (torch's log1p(exp()) gives inf there); f64 takes the same stable form with libm. */
ACT_KERNEL_MATH(softplus_f32, float, x_ *p0 > p1 ? x_ : gids_fast_softplusf(x_ * p0) / p0)
ACT_KERNEL(softplus_f64, double,
           x_ *p0 > p1 ? x_ : (fmax(x_ * p0, 0.0) + log1p(exp(-fabs(x_ * p0)))) / p0)

static gids_status run_activation(gids_tensor **out, const char *name, const gids_tensor *a,
                                  gids_iter_fn f32, gids_iter_fn f64, act_params params) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", name);
    GIDS_TRY(gids_ew_check_input(name, "arg 1", a));
    gids_dtype dt = gids_dtype_is_float(a->dtype) ? a->dtype : GIDS_F32;
    gids_tensor *ca = NULL, *r = NULL;
    GIDS_TRY(gids_ew_cast(&ca, a, dt));
    gids_status st = gids_empty(&r, dt, GIDS_DEVICE_CPU, a->ndim, a->shape);
    if (st == GIDS_OK) {
        const gids_tensor *ops[2] = {r, ca};
        gids_iter it;
        st = gids_iter_init(&it, name, 2, ops);
        if (st == GIDS_OK) gids_iter_run(&it, dt == GIDS_F32 ? f32 : f64, &params);
    }
    gids_tensor_release(ca);
    if (st != GIDS_OK) {
        gids_tensor_release(r);
        return st;
    }
    *out = r;
    return GIDS_OK;
}

gids_status gids_leaky_relu(gids_tensor **out, const gids_tensor *a, double negative_slope) {
    GIDS_ON_DEVICE("leaky_relu", leaky_relu, a)(out, a, negative_slope);
    return run_activation(out, "leaky_relu", a, leaky_relu_f32, leaky_relu_f64,
                          (act_params){negative_slope, 0});
}

gids_status gids_elu(gids_tensor **out, const gids_tensor *a, double alpha) {
    GIDS_ON_DEVICE("elu", elu, a)(out, a, alpha);
    return run_activation(out, "elu", a, elu_f32, elu_f64, (act_params){alpha, 0});
}

gids_status gids_softplus(gids_tensor **out, const gids_tensor *a, double beta, double threshold) {
    GIDS_ON_DEVICE("softplus", softplus, a)(out, a, beta, threshold);
    GIDS_CHECK(beta != 0 && beta == beta, GIDS_EINVAL, "softplus: beta must be non-zero, got %g",
               beta);
    return run_activation(out, "softplus", a, softplus_f32, softplus_f64,
                          (act_params){beta, threshold});
}

/* ---------------------------------------------------------------- clamp */
typedef struct clamp_params {
    double flo, fhi;
    int64_t ilo, ihi;
} clamp_params;

/* y = max(x, lo) then min(y, hi): with lo > hi every element becomes hi, and NaN passes
 * through, as torch.clamp. */
#define CLAMP_KERNEL(fname, TY, LO, HI)                                                            \
    static void fname(void *ctx, int64_t n, char **p, const int64_t *s) {                          \
        const clamp_params *cp_ = ctx;                                                             \
        const TY lo = (TY)cp_->LO, hi = (TY)cp_->HI;                                               \
        GIDS_EW_UNARY_LOOP(TY, TY, (x_ < lo ? lo : x_) > hi ? hi : (x_ < lo ? lo : x_));           \
    }
CLAMP_KERNEL(clamp_f32, float, flo, fhi)
CLAMP_KERNEL(clamp_f64, double, flo, fhi)
CLAMP_KERNEL(clamp_i64, int64_t, ilo, ihi)
CLAMP_KERNEL(clamp_i32, int32_t, ilo, ihi)
CLAMP_KERNEL(clamp_u8, uint8_t, ilo, ihi)

static const gids_iter_fn clamp_kernels[GIDS_NDTYPES] = {
    [GIDS_F32] = clamp_f32, [GIDS_F64] = clamp_f64, [GIDS_I64] = clamp_i64,
    [GIDS_I32] = clamp_i32, [GIDS_U8] = clamp_u8,
};

/* Integer bounds are first limited to the range of the element type, so that u8 clamp(-5, 3)
 * means clamp(0, 3) rather than a wrapped bound. */
static void int_range(gids_dtype dt, int64_t *lo, int64_t *hi) {
    *lo = dt == GIDS_I32 ? INT32_MIN : dt == GIDS_U8 ? 0 : INT64_MIN;
    *hi = dt == GIDS_I32 ? INT32_MAX : dt == GIDS_U8 ? 255 : INT64_MAX;
}

static double scalar_f(gids_scalar s) {
    return s.is_int ? (double)s.i : s.f;
}

static int is_nan_bound(const gids_scalar *b) {
    return b != NULL && !b->is_int && isnan(b->f);
}

/* An integer bound that leaves nothing in an integer tensor's range: a min above its largest
 * value or a max below its smallest (u8 clamp(256)).  Torch refuses those ("outside the
 * representable range"); a min below the range or a max above it only bounds nothing. */
static gids_status check_int_bounds(const gids_tensor *a, const gids_scalar *min,
                                    const gids_scalar *max) {
    if (a == NULL || (a->dtype != GIDS_U8 && a->dtype != GIDS_I32)) return GIDS_OK;
    /* (a float bound, NaN included, makes the result float: every integer bound then fits) */
    if ((min != NULL && !min->is_int) || (max != NULL && !max->is_int)) return GIDS_OK;
    int64_t tmin, tmax;
    int_range(a->dtype, &tmin, &tmax);
    GIDS_CHECK(min == NULL || !min->is_int || min->i <= tmax, GIDS_EINVAL,
               "clamp: min %lld is outside the range of the tensor's dtype %s (%lld..%lld)",
               min != NULL ? (long long)min->i : 0LL, gids_dtype_name(a->dtype), (long long)tmin,
               (long long)tmax);
    GIDS_CHECK(max == NULL || !max->is_int || max->i >= tmin, GIDS_EINVAL,
               "clamp: max %lld is outside the range of the tensor's dtype %s (%lld..%lld)",
               max != NULL ? (long long)max->i : 0LL, gids_dtype_name(a->dtype), (long long)tmin,
               (long long)tmax);
    return GIDS_OK;
}

gids_status gids_clamp(gids_tensor **out, const gids_tensor *a, const gids_scalar *min,
                       const gids_scalar *max) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "clamp: out is NULL");
    GIDS_TRY(check_int_bounds(a, min, max)); /* (the device's too) */
    if (is_nan_bound(min) || is_nan_bound(max)) {
        /* A NaN bound makes every element NaN, as torch.clamp (the kernels' comparisons would
         * ignore it); decided here so that every device agrees. */
        /* (on any device: only the tensor's dtype, shape and device are read) */
        GIDS_CHECK(a != NULL, GIDS_EINVAL, "clamp: arg 1 is NULL");
        gids_dtype dt = gids_promote(a->dtype, gids_ew_scalar_dtype(a->dtype, gids_scalar_f(NAN)));
        return gids_full(out, dt, gids_tensor_device(a), a->ndim, a->shape, gids_scalar_f(NAN));
    }
    GIDS_ON_DEVICE("clamp", clamp, a)(out, a, min, max);
    GIDS_TRY(gids_ew_check_input("clamp", "arg 1", a));
    GIDS_CHECK(min || max, GIDS_EINVAL, "clamp: at least one of min and max must be given");
    gids_dtype dt = a->dtype;
    if (min) dt = gids_promote(dt, gids_ew_scalar_dtype(a->dtype, *min));
    if (max) dt = gids_promote(dt, gids_ew_scalar_dtype(a->dtype, *max));
    if (dt == GIDS_BOOL) dt = GIDS_I64;

    clamp_params cp = {-INFINITY, INFINITY, 0, 0};
    int64_t tmin, tmax;
    int_range(dt, &tmin, &tmax);
    cp.ilo = tmin;
    cp.ihi = tmax;
    if (min) {
        cp.flo = scalar_f(*min);
        if (min->is_int) cp.ilo = min->i < tmin ? tmin : min->i > tmax ? tmax : min->i;
    }
    if (max) {
        cp.fhi = scalar_f(*max);
        if (max->is_int) cp.ihi = max->i < tmin ? tmin : max->i > tmax ? tmax : max->i;
    }

    gids_tensor *ca = NULL, *r = NULL;
    GIDS_TRY(gids_ew_cast(&ca, a, dt));
    gids_status st = gids_empty(&r, dt, GIDS_DEVICE_CPU, a->ndim, a->shape);
    if (st == GIDS_OK) {
        const gids_tensor *ops[2] = {r, ca};
        gids_iter it;
        st = gids_iter_init(&it, "clamp", 2, ops);
        if (st == GIDS_OK) gids_iter_run(&it, clamp_kernels[dt], &cp);
    }
    gids_tensor_release(ca);
    if (st != GIDS_OK) {
        gids_tensor_release(r);
        return st;
    }
    *out = r;
    return GIDS_OK;
}

/* ---------------------------------------------------------------- where */
/* Contiguous runs, and a broadcast number on either side (relu's backward is where(mask, g, 0)),
 * get loops the compiler vectorises: the element types are unsigned integers of the right
 * width, so the choice is a bit mask (all ones or zero) rather than a branch. */
#define WHERE_SELECT(TY, c, a, b)                                                                  \
    (((a) & (TY)(0 - (TY)((c) != 0))) | ((b) & (TY) ~(TY)(0 - (TY)((c) != 0))))
#define WHERE_KERNEL(fname, TY)                                                                    \
    GIDS_HOT static void fname(void *ctx, int64_t n, char **p, const int64_t *s) {                 \
        (void)ctx;                                                                                 \
        const int64_t es = (int64_t)sizeof(TY);                                                    \
        if (s[0] == es && s[1] == 1 && (s[2] == es || s[2] == 0) && (s[3] == es || s[3] == 0)) {   \
            TY *o = (TY *)p[0];                                                                    \
            const uint8_t *c = (const uint8_t *)p[1];                                              \
            const TY *a = (const TY *)p[2], *b = (const TY *)p[3];                                 \
            if (s[2] == es && s[3] == es) {                                                        \
                GIDS_EW_SIMD for (int64_t i = 0; i < n; i++) o[i] =                                \
                    WHERE_SELECT(TY, c[i], a[i], b[i]);                                            \
            } else if (s[2] == es) {                                                               \
                const TY bv = b[0];                                                                \
                GIDS_EW_SIMD for (int64_t i = 0; i < n; i++) o[i] =                                \
                    WHERE_SELECT(TY, c[i], a[i], bv);                                              \
            } else if (s[3] == es) {                                                               \
                const TY av = a[0];                                                                \
                GIDS_EW_SIMD for (int64_t i = 0; i < n; i++) o[i] =                                \
                    WHERE_SELECT(TY, c[i], av, b[i]);                                              \
            } else {                                                                               \
                const TY av = a[0], bv = b[0];                                                     \
                GIDS_EW_SIMD for (int64_t i = 0; i < n; i++) o[i] =                                \
                    WHERE_SELECT(TY, c[i], av, bv);                                                \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        char *po = p[0];                                                                           \
        const char *pc = p[1], *pa = p[2], *pb = p[3];                                             \
        for (int64_t i = 0; i < n; i++, po += s[0], pc += s[1], pa += s[2], pb += s[3])            \
            *(TY *)po = *(const uint8_t *)pc ? *(const TY *)pa : *(const TY *)pb;                  \
    }
WHERE_KERNEL(where_1, uint8_t)
WHERE_KERNEL(where_4, uint32_t)
WHERE_KERNEL(where_8, uint64_t)

gids_status gids_where(gids_tensor **out, const gids_tensor *cond, const gids_tensor *a,
                       const gids_tensor *b) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "where: out is NULL");
    GIDS_DEVICE_BACKEND("where", where, cond, a, b);
    if (gids_be_ != NULL) {
        GIDS_TRY(gids_be_->where(out, cond, a, b));
        gids_range_follow(*out, 2, (const gids_tensor *const[]){a, b}); /* ranges.c */
        return GIDS_OK;
    }
    GIDS_TRY(gids_ew_check_input("where", "condition", cond));
    GIDS_TRY(gids_ew_check_input("where", "arg 2", a));
    GIDS_TRY(gids_ew_check_input("where", "arg 3", b));
    GIDS_CHECK(cond->dtype == GIDS_BOOL || cond->dtype == GIDS_U8, GIDS_EDTYPE,
               "where: condition must be bool (or u8), got %s", gids_dtype_name(cond->dtype));
    int n1, nd;
    int64_t s1[GIDS_MAX_DIMS], shape[GIDS_MAX_DIMS];
    GIDS_TRY(gids_broadcast_shapes("where", cond->ndim, cond->shape, a->ndim, a->shape, &n1, s1));
    GIDS_TRY(gids_broadcast_shapes("where", n1, s1, b->ndim, b->shape, &nd, shape));

    gids_dtype dt = gids_result_type(a, b);
    gids_tensor *ca = NULL, *cb = NULL, *r = NULL;
    gids_status st = gids_ew_cast(&ca, a, dt);
    if (st == GIDS_OK) st = gids_ew_cast(&cb, b, dt);
    if (st == GIDS_OK) st = gids_empty(&r, dt, GIDS_DEVICE_CPU, nd, shape);
    if (st == GIDS_OK) {
        const gids_tensor *ops[4] = {r, cond, ca, cb};
        gids_iter it;
        st = gids_iter_init(&it, "where", 4, ops);
        size_t z = gids_dtype_size(dt);
        if (st == GIDS_OK) gids_iter_run(&it, z == 1 ? where_1 : z == 4 ? where_4 : where_8, NULL);
    }
    gids_tensor_release(ca);
    gids_tensor_release(cb);
    if (st != GIDS_OK) {
        gids_tensor_release(r);
        return st;
    }
    *out = r;
    return GIDS_OK;
}
