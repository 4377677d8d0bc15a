/* unary.c -- elementwise unary ops.
 *
 * Float kernels use <tgmath.h> so one expression serves f32 (float math: expf, erff, ...) and
 * f64.  Math ops of integer or bool inputs compute in f32 (as torch); neg/abs/sign/square/relu
 * keep integer dtypes and wrap on overflow; rounding ops of integers are a copy; isnan/isinf of
 * integers are constant.
 */
#include <tgmath.h>

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "../core/iter_impl.h"
#include "../core/vecmath_impl.h"
#include "elementwise_impl.h"
#include "fastmath_impl.h"

static const char *const unop_names[GIDS_NUNOPS] = {
    [GIDS_NEG] = "neg",
    [GIDS_ABS] = "abs",
    [GIDS_SIGN] = "sign",
    [GIDS_EXP] = "exp",
    [GIDS_EXPM1] = "expm1",
    [GIDS_LOG] = "log",
    [GIDS_LOG1P] = "log1p",
    [GIDS_LOG2] = "log2",
    [GIDS_SQRT] = "sqrt",
    [GIDS_RSQRT] = "rsqrt",
    [GIDS_SQUARE] = "square",
    [GIDS_RECIPROCAL] = "reciprocal",
    [GIDS_SIN] = "sin",
    [GIDS_COS] = "cos",
    [GIDS_TAN] = "tan",
    [GIDS_TANH] = "tanh",
    [GIDS_SIGMOID] = "sigmoid",
    [GIDS_RELU] = "relu",
    [GIDS_GELU] = "gelu",
    [GIDS_GELU_TANH] = "gelu_tanh",
    [GIDS_SOFTPLUS] = "softplus",
    [GIDS_SILU] = "silu",
    [GIDS_FLOOR] = "floor",
    [GIDS_CEIL] = "ceil",
    [GIDS_ROUND] = "round",
    [GIDS_TRUNC] = "trunc",
    [GIDS_LOGICAL_NOT] = "logical_not",
    [GIDS_ISNAN] = "isnan",
    [GIDS_ISINF] = "isinf",
    [GIDS_ISFINITE] = "isfinite",
};

const char *gids_unop_name(gids_unop op) {
    return (unsigned)op < GIDS_NUNOPS ? unop_names[op] : "?";
}

/* ---------------------------------------------------------------- kernels */
#define U64(v) ((uint64_t)(int64_t)(v))
/* Shared by the signed and unsigned kernels (a plain `x < 0` on uint8 draws -Wtype-limits). */
static inline bool is_neg(int64_t v) {
    return v < 0;
}
static inline bool is_pos(int64_t v) {
    return v > 0;
}

#define UN_KERNEL(fname, TI, TO, EXPR)                                                             \
    GIDS_HOT static void fname(void *ctx, int64_t n, char **p, const int64_t *s) {                 \
        (void)ctx;                                                                                 \
        GIDS_EW_UNARY_LOOP(TI, TO, EXPR);                                                          \
    }

/* The polynomial f32 functions (fastmath_impl.h) are also cloned for FMA and AVX-512, with the
 * same bits (core_impl.h, GIDS_HOT_MATH). */
#define UN_FLOAT_MATH_T(fname, TY, EXPR)                                                           \
    GIDS_HOT_MATH static void fname(void *ctx, int64_t n, char **p, const int64_t *s) {            \
        (void)ctx;                                                                                 \
        GIDS_EW_UNARY_LOOP(TY, TY, EXPR);                                                          \
    }

/* f32 sin, cos and tan in double (vecmath_impl.h), whose reduction holds below 1.6e6: the vector
 * loop writes a block of 256 lanes and notes whether any was out of range, and only then are
 * those lanes made again with libm's double function (+-inf and NaN among them; glibc's f32
 * ones are not correctly rounded out there: sinf and cosf differ from the rounded double
 * function in 1.3% of those inputs, tanf in 3.8%).  gids_ew_block_f32 keeps the input block
 * readable for that pass. */
#define TRIG_BLOCK 256
#define UN_TRIG_F32(name, VM, LIBM)                                                                \
    GIDS_HOT_MATH static void name##_f32(void *ctx, int64_t n, char **p, const int64_t *s) {       \
        (void)ctx;                                                                                 \
        const bool dense = s[0] == (int64_t)sizeof(float);                                         \
        for (int64_t b = 0; b < n; b += TRIG_BLOCK) {                                              \
            int m = n - b < TRIG_BLOCK ? (int)(n - b) : TRIG_BLOCK, redo = 0;                      \
            float xb[TRIG_BLOCK], yb[TRIG_BLOCK];                                                  \
            float *y = dense ? (float *)p[0] + b : yb;                                             \
            const float *x = gids_ew_block_f32(p[1], s[1], b, m, dense ? y : NULL, xb);            \
            _Pragma("omp simd reduction(| : redo)") for (int i = 0; i < m; i++) {                  \
                redo |= !gids_vm_trig_ok(x[i]);                                                    \
                y[i] = (float)VM(x[i]);                                                            \
            }                                                                                      \
            if (redo)                                                                              \
                for (int i = 0; i < m; i++)                                                        \
                    if (!gids_vm_trig_ok(x[i])) y[i] = (float)LIBM((double)x[i]);                  \
            if (!dense)                                                                            \
                for (int i = 0; i < m; i++) *(float *)(p[0] + (b + i) * s[0]) = y[i];              \
        }                                                                                          \
    }

/* f32 log and log2: the vector loop takes every lane through gids_vm_log_pos_f32, which holds
 * for positive normal finite inputs only and is 1.4x faster than the function with the selects
 * for the rest (vecmath_impl.h), and counts the other lanes (zeros, negatives, subnormals,
 * infinities, NaN).  Those are made again with the full function: one by one when a block has
 * few, else the whole block in its vector loop.  Both give gids_vm_logf's bits. */
#define LOG_BLOCK 256
#define LOG_FEW 16
#define UN_LOG_F32(name, POS, ANY)                                                                 \
    GIDS_HOT_MATH static void name##_f32(void *ctx, int64_t n, char **p, const int64_t *s) {       \
        (void)ctx;                                                                                 \
        const bool dense = s[0] == (int64_t)sizeof(float);                                         \
        for (int64_t b = 0; b < n; b += LOG_BLOCK) {                                               \
            int m = n - b < LOG_BLOCK ? (int)(n - b) : LOG_BLOCK, other = 0;                       \
            float xb[LOG_BLOCK], yb[LOG_BLOCK];                                                    \
            float *y = dense ? (float *)p[0] + b : yb;                                             \
            const float *x = gids_ew_block_f32(p[1], s[1], b, m, dense ? y : NULL, xb);            \
            _Pragma("omp simd reduction(+ : other)") for (int i = 0; i < m; i++) {                 \
                other += !gids_vm_pos_normal_f32(x[i]);                                            \
                y[i] = POS(x[i]);                                                                  \
            }                                                                                      \
            if (other > LOG_FEW) {                                                                 \
                _Pragma("omp simd") for (int i = 0; i < m; i++) y[i] = ANY(x[i]);                  \
            } else if (other > 0) {                                                                \
                for (int i = 0; i < m; i++)                                                        \
                    if (!gids_vm_pos_normal_f32(x[i])) y[i] = ANY(x[i]);                           \
            }                                                                                      \
            if (!dense)                                                                            \
                for (int i = 0; i < m; i++) *(float *)(p[0] + (b + i) * s[0]) = y[i];              \
        }                                                                                          \
    }
#define LOG_POS(x) ((float)gids_vm_log_pos_f32(x))
#define LOG2_POS(x) ((float)(gids_vm_log_pos_f32(x) * GIDS_VM_INV_LN2))
UN_LOG_F32(log, LOG_POS, gids_vm_logf)
UN_LOG_F32(log2, LOG2_POS, gids_vm_log2f)

/* EXPR is written once for both float types: T is the element type. */
#define UN_FLOAT(name, EXPR)                                                                       \
    UN_FLOAT_T(name##_f32, float, EXPR)                                                            \
    UN_FLOAT_T(name##_f64, double, EXPR)
#define UN_FLOAT_T(fname, TY, EXPR) UN_KERNEL(fname, TY, TY, EXPR)
#define UN_FLOAT_PRED(name, EXPR)                                                                  \
    UN_KERNEL(name##_f32, float, bool, EXPR)                                                       \
    UN_KERNEL(name##_f64, double, bool, EXPR)
#define UN_INT(name, EXPR)                                                                         \
    UN_KERNEL(name##_i64, int64_t, int64_t, EXPR)                                                  \
    UN_KERNEL(name##_i32, int32_t, int32_t, EXPR)                                                  \
    UN_KERNEL(name##_u8, uint8_t, uint8_t, EXPR)

/* The (T) casts keep float kernels in float: a bare 0.5 would promote the expression to double
 * and make tgmath pick the double functions. */
#define T __typeof__(x_)
UN_FLOAT(neg, -x_)
UN_INT(neg, 0 - U64(x_))
UN_FLOAT(abs, fabs(x_))
UN_INT(abs, is_neg(x_) ? 0 - U64(x_) : U64(x_))
UN_FLOAT(sign, (T)((x_ > 0) - (x_ < 0)))
UN_INT(sign, (is_pos(x_)) - (is_neg(x_)))
/* f32 exp and log1p compute in double (vecmath_impl.h), every input by selects; log and log2
 * are the block kernels above. */
UN_FLOAT_MATH_T(exp_f32, float, gids_vm_expf(x_))
UN_FLOAT_T(exp_f64, double, exp(x_))
UN_FLOAT_MATH_T(expm1_f32, float, gids_fast_expm1f(x_))
UN_FLOAT_T(expm1_f64, double, expm1(x_))
UN_FLOAT_T(log_f64, double, log(x_))
UN_FLOAT_MATH_T(log1p_f32, float, gids_vm_log1pf(x_))
UN_FLOAT_T(log1p_f64, double, log1p(x_))
UN_FLOAT_T(log2_f64, double, log2(x_))
UN_FLOAT(sqrt, sqrt(x_))
UN_FLOAT(rsqrt, (T)1 / sqrt(x_))
UN_FLOAT(square, x_ *x_)
UN_INT(square, U64(x_) * U64(x_))
UN_FLOAT(reciprocal, (T)1 / x_)
UN_TRIG_F32(sin, gids_vm_sin, sin)
UN_TRIG_F32(cos, gids_vm_cos, cos)
UN_TRIG_F32(tan, gids_vm_tan, tan)
UN_FLOAT_T(sin_f64, double, sin(x_))
UN_FLOAT_T(cos_f64, double, cos(x_))
UN_FLOAT_T(tan_f64, double, tan(x_))
/* f32 tanh and sigmoid vectorise through fastmath_impl.h; f64 keeps libm. */
UN_FLOAT_MATH_T(tanh_f32, float, gids_fast_tanhf(x_))
UN_FLOAT_T(tanh_f64, double, tanh(x_))
UN_FLOAT_MATH_T(sigmoid_f32, float, gids_fast_sigmoidf(x_))
UN_FLOAT_T(sigmoid_f64, double, (T)1 / ((T)1 + exp(-x_)))
/* x < 0 rather than x > 0 so that NaN passes through, as torch.relu. */
UN_FLOAT(relu, x_ < 0 ? (T)0 : x_)
UN_INT(relu, is_neg(x_) ? 0 : x_)
UN_FLOAT_MATH_T(gelu_f32, float, 0.5f * x_ * (1.0f + gids_fast_erff(x_ * 0.70710678118654752440f)))
UN_FLOAT_T(gelu_f64, double, 0.5 * x_ * (1.0 + erf(x_ * 0.70710678118654752440)))
UN_FLOAT_MATH_T(
    gelu_tanh_f32, float,
    0.5f * x_ * (1.0f + gids_fast_tanhf(0.79788456080286535588f * (x_ + 0.044715f * x_ * x_ * x_))))
UN_FLOAT_T(gelu_tanh_f64, double,
           0.5 * x_ * (1.0 + tanh(0.79788456080286535588 * (x_ + 0.044715 * x_ * x_ * x_))))
UN_FLOAT_MATH_T(softplus_f32, float, x_ > 20.0f ? x_ : gids_fast_softplusf(x_))
UN_FLOAT_T(softplus_f64, double, x_ > 20.0 ? x_ : fmax(x_, 0.0) + log1p(exp(-fabs(x_))))
UN_FLOAT_MATH_T(silu_f32, float, x_ / (1.0f + gids_clamped_expf_(-x_)))
UN_FLOAT_T(silu_f64, double, x_ / ((T)1 + exp(-x_)))
UN_FLOAT(floor, floor(x_))
UN_FLOAT(ceil, ceil(x_))
/* Half to even, as torch.round. */
UN_FLOAT(round, nearbyint(x_))
UN_FLOAT(trunc, trunc(x_))
UN_FLOAT_PRED(lnot, x_ == 0)
UN_KERNEL(lnot_i64, int64_t, bool, x_ == 0)
UN_KERNEL(lnot_i32, int32_t, bool, x_ == 0)
UN_KERNEL(lnot_u8, uint8_t, bool, x_ == 0)
UN_KERNEL(lnot_bool, bool, bool, !x_)
UN_FLOAT_PRED(isnan, x_ != x_)
UN_FLOAT_PRED(isinf, isinf(x_))
UN_FLOAT_PRED(isfinite, isfinite(x_))
#undef T

#define ROW_FLOAT(name) [GIDS_F32] = name##_f32, [GIDS_F64] = name##_f64
#define ROW_INT(name) [GIDS_I64] = name##_i64, [GIDS_I32] = name##_i32, [GIDS_U8] = name##_u8

/* kernels[op][compute dtype]; NULL where the plan never asks for a kernel. */
static const gids_iter_fn kernels[GIDS_NUNOPS][GIDS_NDTYPES] = {
    [GIDS_NEG] = {ROW_FLOAT(neg), ROW_INT(neg)},
    [GIDS_ABS] = {ROW_FLOAT(abs), ROW_INT(abs)},
    [GIDS_SIGN] = {ROW_FLOAT(sign), ROW_INT(sign)},
    [GIDS_EXP] = {ROW_FLOAT(exp)},
    [GIDS_EXPM1] = {ROW_FLOAT(expm1)},
    [GIDS_LOG] = {ROW_FLOAT(log)},
    [GIDS_LOG1P] = {ROW_FLOAT(log1p)},
    [GIDS_LOG2] = {ROW_FLOAT(log2)},
    [GIDS_SQRT] = {ROW_FLOAT(sqrt)},
    [GIDS_RSQRT] = {ROW_FLOAT(rsqrt)},
    [GIDS_SQUARE] = {ROW_FLOAT(square), ROW_INT(square)},
    [GIDS_RECIPROCAL] = {ROW_FLOAT(reciprocal)},
    [GIDS_SIN] = {ROW_FLOAT(sin)},
    [GIDS_COS] = {ROW_FLOAT(cos)},
    [GIDS_TAN] = {ROW_FLOAT(tan)},
    [GIDS_TANH] = {ROW_FLOAT(tanh)},
    [GIDS_SIGMOID] = {ROW_FLOAT(sigmoid)},
    [GIDS_RELU] = {ROW_FLOAT(relu), ROW_INT(relu)},
    [GIDS_GELU] = {ROW_FLOAT(gelu)},
    [GIDS_GELU_TANH] = {ROW_FLOAT(gelu_tanh)},
    [GIDS_SOFTPLUS] = {ROW_FLOAT(softplus)},
    [GIDS_SILU] = {ROW_FLOAT(silu)},
    [GIDS_FLOOR] = {ROW_FLOAT(floor)},
    [GIDS_CEIL] = {ROW_FLOAT(ceil)},
    [GIDS_ROUND] = {ROW_FLOAT(round)},
    [GIDS_TRUNC] = {ROW_FLOAT(trunc)},
    [GIDS_LOGICAL_NOT] = {ROW_FLOAT(lnot), ROW_INT(lnot), [GIDS_BOOL] = lnot_bool},
    [GIDS_ISNAN] = {ROW_FLOAT(isnan)},
    [GIDS_ISINF] = {ROW_FLOAT(isinf)},
    [GIDS_ISFINITE] = {ROW_FLOAT(isfinite)},
};

/* ---------------------------------------------------------------- plan */
typedef enum { PLAN_KERNEL, PLAN_COPY, PLAN_FALSE, PLAN_TRUE } plan_kind;

static bool is_rounding(gids_unop op) {
    return op == GIDS_FLOOR || op == GIDS_CEIL || op == GIDS_ROUND || op == GIDS_TRUNC;
}

/* Ops whose kernel exists for integer dtypes too. */
static bool keeps_int(gids_unop op) {
    return op == GIDS_NEG || op == GIDS_ABS || op == GIDS_SIGN || op == GIDS_SQUARE ||
           op == GIDS_RELU;
}

static gids_status unop_plan(gids_unop op, gids_dtype in, gids_dtype *compute, gids_dtype *result,
                             plan_kind *kind) {
    GIDS_CHECK((unsigned)op < GIDS_NUNOPS, GIDS_EINVAL, "unary: unknown op %d", (int)op);
    const char *name = gids_unop_name(op);
    /* (device tensors too: this plan is every device's, and no device computes in half) */
    GIDS_CHECK(!gids_dtype_is_half(in), GIDS_EDTYPE,
               "%s: dtype %s is a storage-only dtype (copies, conversions and matrix products take "
               "it); convert to f32 first",
               name, gids_dtype_name(in));
    *compute = *result = in;
    *kind = PLAN_KERNEL;
    if (op == GIDS_LOGICAL_NOT) {
        *result = GIDS_BOOL;
    } else if (op == GIDS_ISNAN || op == GIDS_ISINF || op == GIDS_ISFINITE) {
        *result = GIDS_BOOL;
        if (!gids_dtype_is_float(in)) *kind = op == GIDS_ISFINITE ? PLAN_TRUE : PLAN_FALSE;
    } else if (gids_dtype_is_float(in)) {
        /* every remaining op has a float kernel */
    } else if (in == GIDS_BOOL && (op == GIDS_NEG || op == GIDS_RELU || is_rounding(op))) {
        GIDS_FAIL(GIDS_EDTYPE, "%s: bool tensors are not supported%s", name,
                  op == GIDS_NEG ? "; use logical_not" : "");
    } else if (in == GIDS_BOOL && (op == GIDS_ABS || op == GIDS_SIGN)) {
        *kind = PLAN_COPY;
    } else if (in == GIDS_BOOL && op == GIDS_SQUARE) {
        *compute = *result = GIDS_I64;
    } else if (is_rounding(op)) {
        *kind = PLAN_COPY;
    } else if (!keeps_int(op)) {
        *compute = *result = GIDS_F32;
    }
    return GIDS_OK;
}

gids_status gids_unop_result_dtype(gids_unop op, gids_dtype a, gids_dtype *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "unop_result_dtype: out is NULL");
    gids_dtype compute;
    plan_kind kind;
    return unop_plan(op, a, &compute, out, &kind);
}

/* ---------------------------------------------------------------- driver */
static gids_status run_kernel(gids_tensor *target, gids_unop op, const gids_tensor *in) {
    const gids_tensor *ops[2] = {target, in};
    gids_iter it;
    GIDS_TRY(gids_iter_init(&it, gids_unop_name(op), 2, ops));
    gids_iter_run(&it, kernels[op][in->dtype], NULL);
    return GIDS_OK;
}

gids_status gids_unary(gids_tensor **out, gids_unop op, const gids_tensor *a) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", gids_unop_name(op));
    GIDS_ON_DEVICE(gids_unop_name(op), unary, a)(out, op, a);
    GIDS_TRY(gids_ew_check_input(gids_unop_name(op), "arg 1", a));
    gids_dtype compute = GIDS_F32, result = GIDS_F32; /* both set by unop_plan */
    plan_kind kind = PLAN_COPY;
    GIDS_TRY(unop_plan(op, a->dtype, &compute, &result, &kind));
    if (kind == PLAN_COPY) return gids_clone(out, a);
    if (kind != PLAN_KERNEL)
        return gids_full(out, result, GIDS_DEVICE_CPU, a->ndim, a->shape,
                         gids_scalar_i(kind == PLAN_TRUE));

    gids_tensor *ca = NULL, *r = NULL;
    GIDS_TRY(gids_ew_cast(&ca, a, compute));
    gids_status st = gids_empty(&r, result, GIDS_DEVICE_CPU, a->ndim, a->shape);
    if (st == GIDS_OK) st = run_kernel(r, op, ca);
    gids_tensor_release(ca);
    if (st != GIDS_OK) {
        gids_tensor_release(r);
        return st;
    }
    *out = r;
    return GIDS_OK;
}

gids_status gids_unary_into(gids_tensor *dst, gids_unop op, const gids_tensor *a) {
    const char *name = gids_unop_name(op);
    if (gids_any_device(2, (const gids_tensor *const[]){dst, a})) {
        gids_tensor *r = NULL;
        GIDS_TRY(gids_unary(&r, op, a));
        return gids_ew_into_device(name, dst, r);
    }
    GIDS_TRY(gids_ew_check_input(name, "arg 1", a));
    GIDS_CHECK(dst != NULL, GIDS_EINVAL, "%s: output is NULL", name);
    gids_dtype compute, result;
    plan_kind kind;
    GIDS_TRY(unop_plan(op, a->dtype, &compute, &result, &kind));
    GIDS_TRY(gids_ew_check_dst(name, dst, result, a->ndim, a->shape));

    gids_status st = GIDS_OK;
    if (kind == PLAN_COPY) {
        st = gids_copy_(dst, a);
    } else if (kind != PLAN_KERNEL) {
        st = gids_fill_(dst, gids_scalar_i(kind == PLAN_TRUE));
    } else {
        gids_tensor *ca = NULL, *tmp = NULL;
        st = gids_ew_cast(&ca, a, compute);
        if (st == GIDS_OK && dst->dtype == result && !gids_may_overlap(dst, ca)) {
            st = run_kernel(dst, op, ca);
        } else if (st == GIDS_OK) {
            st = gids_empty(&tmp, result, GIDS_DEVICE_CPU, a->ndim, a->shape);
            if (st == GIDS_OK) st = run_kernel(tmp, op, ca);
            if (st == GIDS_OK) st = gids_copy_(dst, tmp);
        }
        gids_tensor_release(ca);
        gids_tensor_release(tmp);
    }
    if (st == GIDS_OK) gids_tensor_bump_version(dst);
    return st;
}
