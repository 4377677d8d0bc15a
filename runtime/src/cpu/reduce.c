/* reduce.c -- reductions over dim lists (sum mean prod amax amin logsumexp any all, var/std,
 * norm).  Reductions along one dim with positions (max_dim, argmax, ...) are in extreme.c.
 *
 * sum/prod/amax/amin/any/all/mean run on the engine in reduce_core.c, which reads every CPU
 * dtype as it is (integer and bool inputs fold in i64 as they are read); logsumexp, var, std and
 * norm are composed from it and the elementwise ops, which keeps one deterministic summation order
 * for all of them.
 */
#include <math.h>

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "elementwise_impl.h"

static const char *const redop_names[GIDS_NREDOPS] = {
    "sum", "mean", "prod", "amax", "amin", "logsumexp", "any", "all",
};

const char *gids_redop_name(gids_redop op) {
    return (unsigned)op < GIDS_NREDOPS ? redop_names[op] : "?";
}

static int64_t reduced_count(const gids_tensor *a, uint32_t mask) {
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++)
        if (mask & (1u << d)) n *= a->shape[d];
    return n;
}

static gids_status need_float(const char *op, const gids_tensor *a) {
    GIDS_CHECK(gids_dtype_is_float(a->dtype), GIDS_EDTYPE,
               "%s: input must be a float tensor (f32 or f64), got %s", op,
               gids_dtype_name(a->dtype));
    return GIDS_OK;
}

gids_status gids_red_empty_error(const char *op, const gids_tensor *a) {
    char buf[160];
    gids_shape_str(a->ndim, a->shape, buf, sizeof buf);
    GIDS_FAIL(GIDS_EINVAL,
              "%s: cannot reduce over an empty dim (input shape %s): there is no "
              "identity for %s",
              op, buf, op);
}

/* Runs engine kind `kind` over mask into a new tensor of dtype out_dt (i64 for integer sums and
 * products, as torch). */
static gids_status engine(gids_tensor **out, const char *op, gids_red_kind kind,
                          const gids_tensor *a, uint32_t mask, bool keepdim, gids_dtype out_dt,
                          bool mean) {
    int64_t shape[GIDS_MAX_DIMS];
    int nd = gids_red_out_shape(a, mask, keepdim, shape);
    gids_tensor *r = NULL;
    gids_status st = gids_empty(&r, out_dt, GIDS_DEVICE_CPU, nd, shape);
    if (st == GIDS_OK) st = gids_red_exec(op, kind, a, mask, r, mean);
    if (st != GIDS_OK) {
        gids_tensor_release(r);
        return st;
    }
    *out = r;
    return GIDS_OK;
}

/* amax/amin keep the input dtype: the engine folds integer inputs in i64 and writes the
 * result in the input's dtype, which the value always fits. */
static gids_status extreme(gids_tensor **out, const char *op, gids_red_kind kind,
                           const gids_tensor *a, uint32_t mask, bool keepdim) {
    if (reduced_count(a, mask) == 0) {
        int64_t shape[GIDS_MAX_DIMS];
        int nd = gids_red_out_shape(a, mask, keepdim, shape);
        int64_t n_out = 1;
        for (int d = 0; d < nd; d++) n_out *= shape[d];
        if (n_out > 0) return gids_red_empty_error(op, a);
    }
    return engine(out, op, kind, a, mask, keepdim, a->dtype, false);
}

static gids_status logsumexp(gids_tensor **out, const gids_tensor *a, uint32_t mask, bool keepdim);

static gids_status reduce_mask(gids_tensor **out, gids_redop op, const gids_tensor *a,
                               uint32_t mask, bool keepdim) {
    const char *name = gids_redop_name(op);
    bool fl = gids_dtype_is_float(a->dtype);
    switch (op) {
    case GIDS_SUM:
        return engine(out, name, GIDS_RED_SUM, a, mask, keepdim, fl ? a->dtype : GIDS_I64, false);
    case GIDS_PROD:
        return engine(out, name, GIDS_RED_PROD, a, mask, keepdim, fl ? a->dtype : GIDS_I64, false);
    case GIDS_MEAN:
        GIDS_TRY(need_float(name, a));
        return engine(out, name, GIDS_RED_SUM, a, mask, keepdim, a->dtype, true);
    case GIDS_AMAX: return extreme(out, name, GIDS_RED_MAX, a, mask, keepdim);
    case GIDS_AMIN: return extreme(out, name, GIDS_RED_MIN, a, mask, keepdim);
    case GIDS_ANY: return engine(out, name, GIDS_RED_ANY, a, mask, keepdim, GIDS_BOOL, false);
    case GIDS_ALL: return engine(out, name, GIDS_RED_ALL, a, mask, keepdim, GIDS_BOOL, false);
    case GIDS_LOGSUMEXP: GIDS_TRY(need_float(name, a)); return logsumexp(out, a, mask, keepdim);
    default: break;
    }
    GIDS_FAIL(GIDS_EINVAL, "reduce: unknown op %d", (int)op);
}

/* any / all off the CPU, where the backends reduce numbers only: (a != 0) as i32, then its max
 * (any) or min (all); an empty reduction gives any's false and all's true, as on the CPU. */
static gids_status any_all_device(gids_tensor **out, gids_redop op, const gids_tensor *a, int ndims,
                                  const int *dims, bool keepdim) {
    const char *name = gids_redop_name(op);
    uint32_t mask;
    GIDS_TRY(gids_red_dim_mask(name, a->ndim, ndims, dims, &mask));
    if (reduced_count(a, mask) == 0) {
        int64_t shape[GIDS_MAX_DIMS];
        int nd = gids_red_out_shape(a, mask, keepdim, shape);
        return gids_full(out, GIDS_BOOL, gids_tensor_device(a), nd, shape,
                         gids_scalar_i(op == GIDS_ALL));
    }
    enum { NZ, WIDE, R, NT };
    gids_tensor *t[NT] = {NULL};
    gids_status st = gids_binary_scalar(&t[NZ], GIDS_NE, a, gids_scalar_i(0), false);
    if (st == GIDS_OK) st = gids_to_dtype(&t[WIDE], t[NZ], GIDS_I32);
    if (st == GIDS_OK)
        st = gids_reduce(&t[R], op == GIDS_ANY ? GIDS_AMAX : GIDS_AMIN, t[WIDE], ndims, dims,
                         keepdim);
    if (st == GIDS_OK) st = gids_to_dtype(out, t[R], GIDS_BOOL);
    for (int i = 0; i < NT; i++) gids_tensor_release(t[i]);
    return st;
}

gids_status gids_reduce(gids_tensor **out, gids_redop op, const gids_tensor *a, int ndims,
                        const int *dims, bool keepdim) {
    const char *name = gids_redop_name(op);
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", name);
    GIDS_CHECK(a != NULL, GIDS_EINVAL, "%s: arg 1 is NULL", name);
    if ((op == GIDS_ANY || op == GIDS_ALL) && !gids_is_cpu(a))
        return any_all_device(out, op, a, ndims, dims, keepdim);
    GIDS_ON_DEVICE(name, reduce, a)(out, op, a, ndims, dims, keepdim);
    GIDS_TRY(gids_ew_check_input(name, "arg 1", a));
    uint32_t mask;
    GIDS_TRY(gids_red_dim_mask(name, a->ndim, ndims, dims, &mask));
    return reduce_mask(out, op, a, mask, keepdim);
}

/* ---------------------------------------------------------------- composed reductions */
/* Releases the n tensors of ts (NULLs are skipped). */
static void release_all(gids_tensor **ts, int n) {
    for (int i = 0; i < n; i++) gids_tensor_release(ts[i]);
}

/* r is a keepdim-shaped result; returns it (STEAL) as is or viewed without the reduced dims. */
static gids_status finish_keepdim(gids_tensor **out, gids_tensor *r, const gids_tensor *a,
                                  uint32_t mask, bool keepdim) {
    if (keepdim) {
        *out = r;
        return GIDS_OK;
    }
    int64_t shape[GIDS_MAX_DIMS];
    int nd = gids_red_out_shape(a, mask, false, shape);
    gids_status st = gids_reshape(out, r, nd, shape);
    gids_tensor_release(r);
    return st;
}

/* log(sum(exp(a - m))) + m with m the max over the dims; a non-finite max is replaced by 0 so
 * that an all -inf slice gives -inf and an inf gives inf, as torch. */
static gids_status logsumexp(gids_tensor **out, const gids_tensor *a, uint32_t mask, bool keepdim) {
    if (reduced_count(a, mask) == 0) {
        int64_t shape[GIDS_MAX_DIMS];
        int nd = gids_red_out_shape(a, mask, keepdim, shape);
        return gids_full(out, a->dtype, GIDS_DEVICE_CPU, nd, shape, gids_scalar_f(-INFINITY));
    }
    enum { M, FIN, ZERO, MS, D, E, S, L, R, NT };
    gids_tensor *t[NT] = {NULL};
    gids_status st = engine(&t[M], "logsumexp", GIDS_RED_MAX, a, mask, true, a->dtype, false);
    if (st == GIDS_OK) st = gids_unary(&t[FIN], GIDS_ISFINITE, t[M]);
    if (st == GIDS_OK) st = gids_ew_scalar_tensor(&t[ZERO], a->dtype, gids_scalar_f(0));
    if (st == GIDS_OK) st = gids_where(&t[MS], t[FIN], t[M], t[ZERO]);
    if (st == GIDS_OK) st = gids_binary(&t[D], GIDS_SUB, a, t[MS]);
    if (st == GIDS_OK) st = gids_unary(&t[E], GIDS_EXP, t[D]);
    if (st == GIDS_OK)
        st = engine(&t[S], "logsumexp", GIDS_RED_SUM, t[E], mask, true, a->dtype, false);
    if (st == GIDS_OK) st = gids_unary(&t[L], GIDS_LOG, t[S]);
    if (st == GIDS_OK) st = gids_binary(&t[R], GIDS_ADD, t[L], t[MS]);
    gids_tensor *r = t[R];
    t[R] = NULL;
    release_all(t, NT);
    if (st != GIDS_OK) return st;
    return finish_keepdim(out, r, a, mask, keepdim);
}

/* Two passes: the mean (in the input's dtype), then the sum of squared deviations divided by
 * max(0, n - correction), all in f64 from the deviations on and rounded to the input's dtype
 * last, as torch: an f32 deviation above 1.8e19 squared to inf in f32, so std([1e20, -1e20])
 * was inf, not 1.41e20, and a sum of squares could overflow where the variance does not. */
/* variance off the CPU, from the public ops the backends have: mean (keepdim), a - mean, its
 * square, their sum, / dof (the backends accumulate float sums in f64, as the CPU engine). */
/* *s <- max(0, s - s1^2 / n): the sum of squared deviations from a mean rounded to the input's
 * dtype (m + e) is the exact one plus n e^2, and s1, the sum of the deviations, is -n e: the
 * correction takes that bias out (8.9e-6 relative in f32 for rows of 100 + 1e-3 noise, now
 * torch's 5e-8).  In place of *s. */
static gids_status drop_mean_error(gids_tensor *s, const gids_tensor *s1, int64_t n) {
    if (n <= 0) return GIDS_OK;
    gids_tensor *c = NULL;
    gids_status st = gids_unary(&c, GIDS_SQUARE, s1);
    if (st == GIDS_OK)
        st = gids_binary_scalar_into(c, GIDS_DIV, c, gids_scalar_f((double)n), false);
    if (st == GIDS_OK) st = gids_binary_into(s, GIDS_SUB, s, c);
    if (st == GIDS_OK) st = gids_binary_scalar_into(s, GIDS_MAXIMUM, s, gids_scalar_f(0.0), false);
    gids_tensor_release(c);
    return st;
}

static gids_status variance_device(gids_tensor **out, const gids_tensor *a, int ndims,
                                   const int *dims, int64_t n, int64_t dof, bool keepdim,
                                   bool take_sqrt) {
    enum { MEAN, D0, D, SQ, S, S1, V, NT };
    gids_tensor *t[NT] = {NULL};
    gids_status st = gids_reduce(&t[MEAN], GIDS_MEAN, a, ndims, dims, true);
    if (st == GIDS_OK) st = gids_binary(&t[D0], GIDS_SUB, a, t[MEAN]);
    if (st == GIDS_OK) st = gids_to_dtype(&t[D], t[D0], GIDS_F64);
    if (st == GIDS_OK) st = gids_unary(&t[SQ], GIDS_SQUARE, t[D]);
    if (st == GIDS_OK) st = gids_reduce(&t[S], GIDS_SUM, t[SQ], ndims, dims, keepdim);
    if (st == GIDS_OK) st = gids_reduce(&t[S1], GIDS_SUM, t[D], ndims, dims, keepdim);
    if (st == GIDS_OK) st = drop_mean_error(t[S], t[S1], n);
    if (st == GIDS_OK)
        st = gids_binary_scalar_into(t[S], GIDS_DIV, t[S], gids_scalar_f((double)dof), false);
    if (st == GIDS_OK && take_sqrt) st = gids_unary_into(t[S], GIDS_SQRT, t[S]);
    if (st == GIDS_OK) st = gids_to_dtype(out, t[S], a->dtype);
    release_all(t, NT);
    return st;
}

/* max(0, n - correction); a correction so negative that n - correction overflows is EINVAL. */
static gids_status dof_(const char *op, int64_t n, int64_t correction, int64_t *dof) {
    if (__builtin_sub_overflow(n, correction, dof))
        GIDS_FAIL(GIDS_EINVAL, "%s: correction %lld is out of range for %lld reduced elements", op,
                  (long long)correction, (long long)n);
    if (*dof < 0) *dof = 0;
    return GIDS_OK;
}

static gids_status variance(gids_tensor **out, const char *op, const gids_tensor *a, int ndims,
                            const int *dims, int64_t correction, bool keepdim, bool take_sqrt) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", op);
    GIDS_CHECK(a != NULL, GIDS_EINVAL, "%s: arg 1 is NULL", op);
    if (!gids_is_cpu(a)) {
        GIDS_TRY(need_float(op, a));
        uint32_t m;
        GIDS_TRY(gids_red_dim_mask(op, a->ndim, ndims, dims, &m));
        int64_t n = reduced_count(a, m), dof;
        GIDS_TRY(dof_(op, n, correction, &dof));
        return variance_device(out, a, ndims, dims, n, dof, keepdim, take_sqrt);
    }
    GIDS_TRY(gids_ew_check_input(op, "arg 1", a));
    GIDS_TRY(need_float(op, a));
    uint32_t mask;
    GIDS_TRY(gids_red_dim_mask(op, a->ndim, ndims, dims, &mask));
    int64_t n = reduced_count(a, mask), dof;
    GIDS_TRY(dof_(op, n, correction, &dof));
    enum { MEAN, D0, D, SQ, S, S1, NT };
    gids_tensor *t[NT] = {NULL};
    gids_status st = engine(&t[MEAN], op, GIDS_RED_SUM, a, mask, true, a->dtype, true);
    if (st == GIDS_OK) st = gids_binary(&t[D0], GIDS_SUB, a, t[MEAN]);
    if (st == GIDS_OK) st = gids_ew_cast(&t[D], t[D0], GIDS_F64);
    if (st == GIDS_OK) st = gids_unary(&t[SQ], GIDS_SQUARE, t[D]);
    if (st == GIDS_OK) st = engine(&t[S], op, GIDS_RED_SUM, t[SQ], mask, keepdim, GIDS_F64, false);
    if (st == GIDS_OK) st = engine(&t[S1], op, GIDS_RED_SUM, t[D], mask, keepdim, GIDS_F64, false);
    if (st == GIDS_OK) st = drop_mean_error(t[S], t[S1], n);
    if (st == GIDS_OK)
        st = gids_binary_scalar_into(t[S], GIDS_DIV, t[S], gids_scalar_f((double)dof), false);
    if (st == GIDS_OK && take_sqrt) st = gids_unary_into(t[S], GIDS_SQRT, t[S]);
    if (st == GIDS_OK) st = gids_ew_cast(out, t[S], a->dtype);
    release_all(t, NT);
    return st;
}

gids_status gids_var(gids_tensor **out, const gids_tensor *a, int ndims, const int *dims,
                     int64_t correction, bool keepdim) {
    return variance(out, "var", a, ndims, dims, correction, keepdim, false);
}

gids_status gids_std(gids_tensor **out, const gids_tensor *a, int ndims, const int *dims,
                     int64_t correction, bool keepdim) {
    return variance(out, "std", a, ndims, dims, correction, keepdim, true);
}

/* norm off the CPU, from the public ops the backends have, in the CPU path's steps: p = 0 counts
 * the non-zeros (a != 0 as a's dtype, summed: the backends reduce numbers only), p = 2 is
 * sqrt(sum(a^2)), p = 1 sum(|a|), p = +-inf amax/amin(|a|) (whose device reduce reports an
 * empty reduction, as the CPU does), any other p sum(|a|^p)^(1/p). */
static gids_status norm_device(gids_tensor **out, const gids_tensor *a, double p, int ndims,
                               const int *dims, bool keepdim) {
    enum { X, Y, S, NT };
    gids_tensor *t[NT] = {NULL};
    gids_status st;
    if (p == 0) {
        st = gids_binary_scalar(&t[X], GIDS_NE, a, gids_scalar_i(0), false);
        if (st == GIDS_OK) st = gids_to_dtype(&t[Y], t[X], a->dtype);
        if (st == GIDS_OK) st = gids_reduce(out, GIDS_SUM, t[Y], ndims, dims, keepdim);
    } else if (p == 2) {
        st = gids_unary(&t[X], GIDS_SQUARE, a);
        if (st == GIDS_OK) st = gids_reduce(&t[S], GIDS_SUM, t[X], ndims, dims, keepdim);
        if (st == GIDS_OK) st = gids_unary(out, GIDS_SQRT, t[S]);
    } else {
        st = gids_unary(&t[X], GIDS_ABS, a);
        if (st == GIDS_OK && isinf(p)) {
            st = gids_reduce(out, p > 0 ? GIDS_AMAX : GIDS_AMIN, t[X], ndims, dims, keepdim);
        } else if (st == GIDS_OK && p == 1) {
            st = gids_reduce(out, GIDS_SUM, t[X], ndims, dims, keepdim);
        } else if (st == GIDS_OK) {
            st = gids_binary_scalar(&t[Y], GIDS_POW, t[X], gids_scalar_f(p), false);
            if (st == GIDS_OK) st = gids_reduce(&t[S], GIDS_SUM, t[Y], ndims, dims, keepdim);
            if (st == GIDS_OK)
                st = gids_binary_scalar(out, GIDS_POW, t[S], gids_scalar_f(1.0 / p), false);
        }
    }
    release_all(t, NT);
    return st;
}

gids_status gids_norm(gids_tensor **out, const gids_tensor *a, double p, int ndims, const int *dims,
                      bool keepdim) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "norm: out is NULL");
    GIDS_CHECK(a != NULL, GIDS_EINVAL, "norm: arg 1 is NULL");
    if (!gids_is_cpu(a)) {
        GIDS_TRY(need_float("norm", a));
        GIDS_CHECK(p == p, GIDS_EINVAL, "norm: p must be a number, got NaN");
        uint32_t m; /* checked here, so that a bad dim list names norm */
        GIDS_TRY(gids_red_dim_mask("norm", a->ndim, ndims, dims, &m));
        return norm_device(out, a, p, ndims, dims, keepdim);
    }
    GIDS_TRY(gids_ew_check_input("norm", "arg 1", a));
    GIDS_TRY(need_float("norm", a));
    GIDS_CHECK(p == p, GIDS_EINVAL, "norm: p must be a number, got NaN");
    uint32_t mask;
    GIDS_TRY(gids_red_dim_mask("norm", a->ndim, ndims, dims, &mask));
    enum { X, S, R, NT };
    gids_tensor *t[NT] = {NULL};
    gids_status st;
    if (p == 0) { /* number of non-zero elements */
        st = gids_binary_scalar(&t[X], GIDS_NE, a, gids_scalar_i(0), false);
        if (st == GIDS_OK)
            st = engine(&t[S], "norm", GIDS_RED_SUM, t[X], mask, keepdim, GIDS_I64, false);
        if (st == GIDS_OK) st = gids_to_dtype(&t[R], t[S], a->dtype);
    } else if (p == 2) {
        st = gids_unary(&t[X], GIDS_SQUARE, a);
        if (st == GIDS_OK)
            st = engine(&t[S], "norm", GIDS_RED_SUM, t[X], mask, keepdim, a->dtype, false);
        if (st == GIDS_OK) st = gids_unary(&t[R], GIDS_SQRT, t[S]);
    } else {
        st = gids_unary(&t[X], GIDS_ABS, a);
        if (st == GIDS_OK && isinf(p)) {
            st = extreme(&t[R], "norm", p > 0 ? GIDS_RED_MAX : GIDS_RED_MIN, t[X], mask, keepdim);
        } else if (st == GIDS_OK && p == 1) {
            st = engine(&t[R], "norm", GIDS_RED_SUM, t[X], mask, keepdim, a->dtype, false);
        } else if (st == GIDS_OK) {
            st = gids_binary_scalar_into(t[X], GIDS_POW, t[X], gids_scalar_f(p), false);
            if (st == GIDS_OK)
                st = engine(&t[S], "norm", GIDS_RED_SUM, t[X], mask, keepdim, a->dtype, false);
            if (st == GIDS_OK)
                st = gids_binary_scalar(&t[R], GIDS_POW, t[S], gids_scalar_f(1.0 / p), false);
        }
    }
    gids_tensor *r = t[R];
    t[R] = NULL;
    release_all(t, NT);
    if (st == GIDS_OK) *out = r;
    return st;
}
