/* binary.c -- elementwise binary ops (arithmetic, comparisons, logical) with NumPy broadcasting.
 *
 * Inputs are first converted to the op's compute dtype (the promoted dtype), so each kernel
 * reads one element type and writes one: the result dtype, which is bool for comparisons and
 * logical ops.  Integer arithmetic wraps (computed in uint64) as in PyTorch; integer fmod,
 * remainder and floor_divide by zero are an error, not a trap.
 */
#include <math.h>
#include <string.h>

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "../core/iter_impl.h"
#include "../core/vecmath_impl.h"
#include "elementwise_impl.h"

static const char *const binop_names[GIDS_NBINOPS] = {
    "add",  "sub",       "mul",   "div",          "pow",        "maximum",     "minimum",
    "fmod", "remainder", "atan2", "floor_divide", "eq",         "ne",          "lt",
    "le",   "gt",        "ge",    "logical_and",  "logical_or", "logical_xor",
};

const char *gids_binop_name(gids_binop op) {
    return (unsigned)op < GIDS_NBINOPS ? binop_names[op] : "?";
}

/* Compute and result dtypes of op on inputs promoted to p. */
static gids_status binop_dtypes(gids_binop op, gids_dtype p, gids_dtype *compute,
                                gids_dtype *result) {
    const char *name = gids_binop_name(op);
    GIDS_CHECK((unsigned)op < GIDS_NBINOPS, GIDS_EINVAL, "binary: unknown op %d", (int)op);
    /* (device tensors too: this plan is every device's, and no device computes in half) */
    GIDS_CHECK(!gids_dtype_is_half(p), GIDS_EDTYPE,
               "%s: dtype %s is a storage-only dtype (copies, conversions and matrix products take "
               "it); convert to f32 first",
               name, gids_dtype_name(p));
    *compute = p;
    *result = p;
    switch (op) {
    case GIDS_SUB:
        GIDS_CHECK(p != GIDS_BOOL, GIDS_EDTYPE,
                   "sub: subtraction of two bool tensors is not supported; use logical_xor");
        break;
    case GIDS_DIV:
    case GIDS_ATAN2:
        if (!gids_dtype_is_float(p)) *compute = *result = GIDS_F32;
        break;
    case GIDS_FMOD:
    case GIDS_REMAINDER:
    case GIDS_FLOOR_DIVIDE:
        GIDS_CHECK(p != GIDS_BOOL, GIDS_EDTYPE, "%s: bool tensors are not supported", name);
        break;
    case GIDS_EQ:
    case GIDS_NE:
    case GIDS_LT:
    case GIDS_LE:
    case GIDS_GT:
    case GIDS_GE:
    case GIDS_LOGICAL_AND:
    case GIDS_LOGICAL_OR:
    case GIDS_LOGICAL_XOR: *result = GIDS_BOOL; break;
    default: break;
    }
    return GIDS_OK;
}

gids_status gids_binop_result_dtype(gids_binop op, gids_dtype a, gids_dtype b, gids_dtype *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "binop_result_dtype: out is NULL");
    gids_dtype compute;
    return binop_dtypes(op, gids_promote(a, b), &compute, out);
}

/* ---------------------------------------------------------------- scalar helpers */
/* Integer ops go through uint64 so overflow wraps instead of being undefined. */
#define U64(v) ((uint64_t)(int64_t)(v))

static inline int64_t ipow(int64_t base, int64_t e) {
    if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = U64(base);
    while (e) {
        if (e & 1) r *= b;
        b *= b;
        e >>= 1;
    }
    return (int64_t)r;
}

/* Integer division by zero sets the flag in ctx (an int) and yields 0. */
static inline int64_t ifmod(int64_t a, int64_t b, void *ctx) {
    if (b == 0) {
        __atomic_store_n((int *)ctx, 1, __ATOMIC_RELAXED);
        return 0;
    }
    if (b == -1) return 0; /* INT64_MIN % -1 traps on x86 */
    return a % b;
}

static inline int64_t iremainder(int64_t a, int64_t b, void *ctx) {
    int64_t r = ifmod(a, b, ctx);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

/* Division rounding toward minus infinity; INT64_MIN / -1 wraps instead of trapping. */
static inline int64_t ifloordiv(int64_t a, int64_t b, void *ctx) {
    if (b == 0) {
        __atomic_store_n((int *)ctx, 1, __ATOMIC_RELAXED);
        return 0;
    }
    if (b == -1) return (int64_t)(0 - U64(a));
    int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) q--;
    return q;
}

static inline double fremainder(double a, double b) {
    double r = fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

static inline float fremainderf(float a, float b) {
    float r = fmodf(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

/* Float floor division as torch's div_floor_floating (and Python's //): from fmod, not
 * floor(a / b), whose rounded quotient is off by one where the remainder is near b (1.0 // 0.1
 * is 9, floor(1.0 / 0.1) 10): a == b * (a // b) + remainder(a, b) holds. */
#define FLOORDIV_FLOAT(T, FMOD, FLOOR, COPYSIGN)                                                   \
    static inline T floordiv_##T(T a, T b) {                                                       \
        if (b == 0) return a / b;                                                                  \
        T mod = FMOD(a, b), div = (a - mod) / b;                                                   \
        if (mod != 0 && ((b < 0) != (mod < 0))) div -= (T)1;                                       \
        if (div == 0) return COPYSIGN((T)0, a / b);                                                \
        T fl = FLOOR(div);                                                                         \
        return div - fl > (T)0.5 ? fl + (T)1 : fl;                                                 \
    }
FLOORDIV_FLOAT(float, fmodf, floorf, copysignf)
FLOORDIV_FLOAT(double, fmod, floor, copysign)

/* ---------------------------------------------------------------- kernels */
#define BIN_KERNEL(fname, TI, TO, EXPR)                                                            \
    GIDS_HOT static void fname(void *ctx, int64_t n, char **p, const int64_t *s) {                 \
        (void)ctx;                                                                                 \
        GIDS_EW_BINARY_LOOP(TI, TO, EXPR);                                                         \
    }

/* One op over the float types (f32 with float math, f64 with double math). */
#define BIN_FLOAT(name, EXPR_F, EXPR_D)                                                            \
    BIN_KERNEL(name##_f32, float, float, EXPR_F)                                                   \
    BIN_KERNEL(name##_f64, double, double, EXPR_D)

/* f32 pow in double (vecmath_impl.h), in blocks as the f32 sine (unary.c): a vector loop writes
 * every lane of the block and notes whether any needs libm (infinities, NaN, a negative base
 * with a fraction exponent), then only those lanes are made again with libm's double pow,
 * which rounds to the same f32 as the exact result but for a few boundary cases (and gives
 * torch's pow(NaN, 0) = 1 where glibc's powf keeps a signalling NaN). */
#define POW_BLOCK 256
#define POW_FEW 16
GIDS_HOT_MATH static void pow_f32(void *ctx, int64_t n, char **p, const int64_t *s) {
    (void)ctx;
    /* x^2 and x^3, the commonest, by multiplying in double, where every input (signed zeros,
     * infinities, NaN) comes out as pow's and the square is exact before its one rounding:
     * about 20x faster than the general path (PyTorch multiplies them out in f32). */
    if (s[2] == 0 && (*(const float *)p[2] == 2.0f || *(const float *)p[2] == 3.0f)) {
        if (*(const float *)p[2] == 2.0f)
            GIDS_EW_UNARY_LOOP(float, float, (double)x_ *x_);
        else
            GIDS_EW_UNARY_LOOP(float, float, (double)x_ *x_ *x_);
        return;
    }
    const bool dense = s[0] == (int64_t)sizeof(float);
    /* A finite scalar exponent that is not a small integer (x^2.5, x^-1.5) sends every block
     * through exp and log, where only a base that is not positive, normal and finite can need
     * libm: the pass over the block's exponents and bases is left out (it took 0.5 of 3.4 ms
     * for 1M elements on one thread). */
    const bool log_path =
        s[2] == 0 && isfinite(*(const float *)p[2]) && !gids_vm_pow_small(*(const float *)p[2]);
    for (int64_t b = 0; b < n; b += POW_BLOCK) {
        int m = n - b < POW_BLOCK ? (int)(n - b) : POW_BLOCK, redo = 0;
        float xb[POW_BLOCK], eb[POW_BLOCK], yb[POW_BLOCK];
        float *y = dense ? (float *)p[0] + b : yb;
        const float *x = gids_ew_block_f32(p[1], s[1], b, m, dense ? y : NULL, xb);
        const float *e = gids_ew_block_f32(p[2], s[2], b, m, dense ? y : NULL, eb);
        /* one path for the whole block where its exponents allow (a scalar one always does) */
        int nsmall = 0;
        if (!log_path) {
#pragma omp simd reduction(+ : nsmall) reduction(| : redo)
            for (int i = 0; i < m; i++) {
                nsmall += gids_vm_pow_small(e[i]);
                redo |= !gids_vm_powf_ok(x[i], e[i]);
            }
        }
        if (nsmall == m) {
#pragma omp simd
            for (int i = 0; i < m; i++) y[i] = gids_vm_powf_mul(x[i], e[i]);
        } else if (nsmall == 0) {
            /* positive normal finite bases through the f32 log (gids_vm_powf_pos), the rest
             * again as unary.c's log does: few one by one, many in the block's vector loop */
            int other = 0;
#pragma omp simd reduction(+ : other)
            for (int i = 0; i < m; i++) {
                other += !gids_vm_pos_normal_f32(x[i]);
                y[i] = gids_vm_powf_pos(x[i], e[i]);
            }
            if (other > POW_FEW) {
#pragma omp simd
                for (int i = 0; i < m; i++) y[i] = gids_vm_powf_exp(x[i], e[i]);
            } else if (other > 0) {
                for (int i = 0; i < m; i++)
                    if (!gids_vm_pos_normal_f32(x[i])) y[i] = gids_vm_powf_exp(x[i], e[i]);
            }
            /* (log_path left the libm lanes uncounted; they are among the others) */
            redo |= log_path & (other > 0);
        } else {
#pragma omp simd
            for (int i = 0; i < m; i++) y[i] = gids_vm_powf(x[i], e[i]);
        }
        if (redo)
            for (int i = 0; i < m; i++)
                if (!gids_vm_powf_ok(x[i], e[i])) y[i] = (float)pow((double)x[i], (double)e[i]);
        if (!dense)
            for (int i = 0; i < m; i++) *(float *)(p[0] + (b + i) * s[0]) = y[i];
    }
}

/* One op over the integer types; EXPR computes in int64 / uint64. */
#define BIN_INT(name, EXPR)                                                                        \
    BIN_KERNEL(name##_i64, int64_t, int64_t, EXPR)                                                 \
    BIN_KERNEL(name##_i32, int32_t, int32_t, EXPR)                                                 \
    BIN_KERNEL(name##_u8, uint8_t, uint8_t, EXPR)

/* Comparison / logical: any input type, bool output. */
#define BIN_PRED(name, EXPR)                                                                       \
    BIN_KERNEL(name##_f32, float, bool, EXPR)                                                      \
    BIN_KERNEL(name##_f64, double, bool, EXPR)                                                     \
    BIN_KERNEL(name##_i64, int64_t, bool, EXPR)                                                    \
    BIN_KERNEL(name##_i32, int32_t, bool, EXPR)                                                    \
    BIN_KERNEL(name##_u8, uint8_t, bool, EXPR)                                                     \
    BIN_KERNEL(name##_bool, bool, bool, EXPR)

BIN_FLOAT(add, a_ + b_, a_ + b_)
BIN_INT(add, U64(a_) + U64(b_))
BIN_FLOAT(sub, a_ - b_, a_ - b_)
BIN_INT(sub, U64(a_) - U64(b_))
BIN_FLOAT(mul, a_ *b_, a_ *b_)
BIN_INT(mul, U64(a_) * U64(b_))
BIN_FLOAT(div, a_ / b_, a_ / b_)
BIN_KERNEL(pow_f64, double, double, pow(a_, b_))
BIN_INT(pow, ipow((int64_t)a_, (int64_t)b_))
/* NaN wins, as torch.maximum / torch.minimum. */
BIN_FLOAT(maximum, (a_ > b_ || a_ != a_) ? a_ : b_, (a_ > b_ || a_ != a_) ? a_ : b_)
BIN_INT(maximum, a_ > b_ ? a_ : b_)
BIN_FLOAT(minimum, (a_ < b_ || a_ != a_) ? a_ : b_, (a_ < b_ || a_ != a_) ? a_ : b_)
BIN_INT(minimum, a_ < b_ ? a_ : b_)
/* bool arithmetic stays bool, as torch: + is or, * is and, x ** y is x or not y. */
BIN_KERNEL(add_bool, bool, bool, a_ || b_)
BIN_KERNEL(mul_bool, bool, bool, a_ &&b_)
BIN_KERNEL(pow_bool, bool, bool, a_ || !b_)
BIN_KERNEL(maximum_bool, bool, bool, a_ || b_)
BIN_KERNEL(minimum_bool, bool, bool, a_ &&b_)
BIN_FLOAT(fmod, fmodf(a_, b_), fmod(a_, b_))
BIN_KERNEL(fmod_i64, int64_t, int64_t, ifmod(a_, b_, ctx))
BIN_KERNEL(fmod_i32, int32_t, int32_t, ifmod(a_, b_, ctx))
BIN_KERNEL(fmod_u8, uint8_t, uint8_t, ifmod(a_, b_, ctx))
BIN_FLOAT(remainder, fremainderf(a_, b_), fremainder(a_, b_))
BIN_KERNEL(remainder_i64, int64_t, int64_t, iremainder(a_, b_, ctx))
BIN_KERNEL(remainder_i32, int32_t, int32_t, iremainder(a_, b_, ctx))
BIN_KERNEL(remainder_u8, uint8_t, uint8_t, iremainder(a_, b_, ctx))
BIN_FLOAT(atan2, atan2f(a_, b_), atan2(a_, b_))
BIN_FLOAT(floordiv, floordiv_float(a_, b_), floordiv_double(a_, b_))
BIN_KERNEL(floordiv_i64, int64_t, int64_t, ifloordiv(a_, b_, ctx))
BIN_KERNEL(floordiv_i32, int32_t, int32_t, ifloordiv(a_, b_, ctx))
BIN_KERNEL(floordiv_u8, uint8_t, uint8_t, ifloordiv(a_, b_, ctx))
BIN_PRED(eq, a_ == b_)
BIN_PRED(ne, a_ != b_)
BIN_PRED(lt, a_ < b_)
BIN_PRED(le, a_ <= b_)
BIN_PRED(gt, a_ > b_)
BIN_PRED(ge, a_ >= b_)
BIN_PRED(land, (a_ != 0) && (b_ != 0))
BIN_PRED(lor, (a_ != 0) || (b_ != 0))
BIN_PRED(lxor, (a_ != 0) != (b_ != 0))

#define ROW_FLOAT(name) [GIDS_F32] = name##_f32, [GIDS_F64] = name##_f64
#define ROW_INT(name) [GIDS_I64] = name##_i64, [GIDS_I32] = name##_i32, [GIDS_U8] = name##_u8
#define ROW_ALL(name) ROW_FLOAT(name), ROW_INT(name), [GIDS_BOOL] = name##_bool

/* kernels[op][compute dtype]; NULL where binop_dtypes never sends that dtype. */
static const gids_iter_fn kernels[GIDS_NBINOPS][GIDS_NDTYPES] = {
    [GIDS_ADD] = {ROW_ALL(add)},
    [GIDS_SUB] = {ROW_FLOAT(sub), ROW_INT(sub)},
    [GIDS_MUL] = {ROW_ALL(mul)},
    [GIDS_DIV] = {ROW_FLOAT(div)},
    [GIDS_POW] = {ROW_ALL(pow)},
    [GIDS_MAXIMUM] = {ROW_ALL(maximum)},
    [GIDS_MINIMUM] = {ROW_ALL(minimum)},
    [GIDS_FMOD] = {ROW_FLOAT(fmod), ROW_INT(fmod)},
    [GIDS_REMAINDER] = {ROW_FLOAT(remainder), ROW_INT(remainder)},
    [GIDS_ATAN2] = {ROW_FLOAT(atan2)},
    [GIDS_FLOOR_DIVIDE] = {ROW_FLOAT(floordiv), ROW_INT(floordiv)},
    [GIDS_EQ] = {ROW_ALL(eq)},
    [GIDS_NE] = {ROW_ALL(ne)},
    [GIDS_LT] = {ROW_ALL(lt)},
    [GIDS_LE] = {ROW_ALL(le)},
    [GIDS_GT] = {ROW_ALL(gt)},
    [GIDS_GE] = {ROW_ALL(ge)},
    [GIDS_LOGICAL_AND] = {ROW_ALL(land)},
    [GIDS_LOGICAL_OR] = {ROW_ALL(lor)},
    [GIDS_LOGICAL_XOR] = {ROW_ALL(lxor)},
};

/* ---------------------------------------------------------------- driver */
/* Runs op on a and b (already checked) promoted to p.  Exactly one of out / dst is set: out
 * receives a new tensor, dst is written in place. */
static gids_status binary_run(gids_tensor **out, gids_tensor *dst, gids_binop op,
                              const gids_tensor *a, const gids_tensor *b, gids_dtype p) {
    const char *name = gids_binop_name(op);
    gids_dtype compute, result;
    GIDS_TRY(binop_dtypes(op, p, &compute, &result));
    int nd;
    int64_t shape[GIDS_MAX_DIMS];
    GIDS_TRY(gids_broadcast_shapes(name, a->ndim, a->shape, b->ndim, b->shape, &nd, shape));
    if (dst) GIDS_TRY(gids_ew_check_dst(name, dst, result, nd, shape));

    gids_tensor *ca = NULL, *cb = NULL, *target = NULL;
    gids_status st = gids_ew_cast(&ca, a, compute);
    if (st == GIDS_OK) st = gids_ew_cast(&cb, b, compute);
    /* Integer fmod/remainder can fail half-way (division by zero): never write dst directly. */
    bool may_fail = (op == GIDS_FMOD || op == GIDS_REMAINDER || op == GIDS_FLOOR_DIVIDE) &&
                    !gids_dtype_is_float(compute);
    bool direct = dst && dst->dtype == result && !may_fail && st == GIDS_OK &&
                  !gids_may_overlap(dst, ca) && !gids_may_overlap(dst, cb);
    if (st == GIDS_OK) {
        if (direct) {
            target = dst;
            gids_tensor_retain(dst);
        } else {
            st = gids_empty(&target, result, GIDS_DEVICE_CPU, nd, shape);
        }
    }
    if (st == GIDS_OK) {
        const gids_tensor *ops[3] = {target, ca, cb};
        gids_iter it;
        st = gids_iter_init(&it, name, 3, ops);
        if (st == GIDS_OK) {
            int divzero = 0;
            gids_iter_run(&it, kernels[op][compute], &divzero);
            if (divzero)
                st = gids_error_set(GIDS_EINVAL, __FILE__, __LINE__,
                                    "%s: integer division by zero (arg 2 holds a 0)", name);
        }
    }
    if (st == GIDS_OK && dst && !direct) st = gids_copy_(dst, target);
    if (st == GIDS_OK && dst) gids_tensor_bump_version(dst);
    gids_tensor_release(ca);
    gids_tensor_release(cb);
    if (st == GIDS_OK && out) {
        *out = target;
        return GIDS_OK;
    }
    gids_tensor_release(target);
    return st;
}

static gids_status check_pair(const char *name, const gids_tensor *a, const gids_tensor *b) {
    GIDS_TRY(gids_ew_check_input(name, "arg 1", a));
    return gids_ew_check_input(name, "arg 2", b);
}

gids_status gids_binary(gids_tensor **out, gids_binop op, const gids_tensor *a,
                        const gids_tensor *b) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", gids_binop_name(op));
    GIDS_DEVICE_BACKEND(gids_binop_name(op), binary, a, b);
    if (gids_be_ != NULL) {
        GIDS_TRY(gids_be_->binary(out, op, a, b));
        gids_range_binary(*out, op, a, b, gids_scalar_i(0), false); /* core/ranges.c */
        return GIDS_OK;
    }
    GIDS_TRY(check_pair(gids_binop_name(op), a, b));
    return binary_run(out, NULL, op, a, b, gids_result_type(a, b));
}

gids_status gids_binary_into(gids_tensor *dst, gids_binop op, const gids_tensor *a,
                             const gids_tensor *b) {
    if (gids_any_device(3, (const gids_tensor *const[]){dst, a, b})) {
        gids_tensor *r = NULL;
        GIDS_TRY(gids_binary(&r, op, a, b));
        return gids_ew_into_device(gids_binop_name(op), dst, r);
    }
    GIDS_TRY(check_pair(gids_binop_name(op), a, b));
    GIDS_CHECK(dst != NULL, GIDS_EINVAL, "%s: output is NULL", gids_binop_name(op));
    return binary_run(NULL, dst, op, a, b, gids_result_type(a, b));
}

/* The dtype op computes in with the number s next to a: the number promotes as a 0-d tensor of
 * its wrapped-number dtype (gids_ew_scalar_dtype), as torch's wrapped numbers. */
static gids_dtype scalar_promoted(const gids_tensor *a, gids_scalar s) {
    gids_dtype sd = gids_ew_scalar_dtype(a->dtype, s);
    if (a->ndim == 0) return gids_promote(a->dtype, sd);
    return gids_ew_category(sd) > gids_ew_category(a->dtype) ? sd : a->dtype;
}

/* An integer number that does not fit an integer compute dtype: torch wraps it there for every
 * op but pow's exponent, which it refuses ("value cannot be converted to type uint8_t without
 * overflow"); a divisor that wraps to 0 fails as a division by zero, said here with the number
 * the caller passed rather than the kernel's "arg 2 holds a 0". */
static gids_status check_wrapped(gids_binop op, const gids_tensor *a, gids_scalar s,
                                 bool reversed) {
    gids_dtype compute, result;
    if (a == NULL || !s.is_int || reversed ||
        binop_dtypes(op, scalar_promoted(a, s), &compute, &result) != GIDS_OK)
        return GIDS_OK; /* (the op itself reports a bad dtype) */
    if (gids_dtype_is_float(compute) || compute == GIDS_I64 || compute == GIDS_BOOL) return GIDS_OK;
    int64_t w = compute == GIDS_U8 ? (int64_t)(uint8_t)(uint64_t)s.i
                                   : (int64_t)(int32_t)(uint32_t)(uint64_t)s.i;
    if (w == s.i) return GIDS_OK;
    const char *name = gids_binop_name(op), *dt = gids_dtype_name(compute);
    if (op == GIDS_POW)
        GIDS_FAIL(GIDS_EINVAL, "pow: the exponent %lld does not fit the tensor's dtype %s",
                  (long long)s.i, dt);
    if (w == 0 && (op == GIDS_FMOD || op == GIDS_REMAINDER || op == GIDS_FLOOR_DIVIDE))
        GIDS_FAIL(GIDS_EINVAL,
                  "%s: integer division by zero: the divisor %lld wraps to 0 in the tensor's "
                  "dtype %s (as in torch); convert the tensor to a wider dtype first",
                  name, (long long)s.i, dt);
    return GIDS_OK;
}

/* The number becomes a 0-d tensor holding it exactly (i64 or f64) and is converted to the
 * compute dtype with the tensor: an integer wraps where that dtype is integer (u8 + 300 adds
 * 44, as torch), but div and atan2, which compute in float, see the number itself (u8 / 256 is
 * x / 256.0, not x / 0).  reversed puts the number first. */
static gids_status binary_scalar_run(gids_tensor **out, gids_tensor *dst, gids_binop op,
                                     const gids_tensor *a, gids_scalar s, bool reversed) {
    GIDS_TRY(gids_ew_check_input(gids_binop_name(op), "arg 1", a));
    gids_tensor *z = NULL;
    GIDS_TRY(gids_ew_scalar_tensor(&z, s.is_int ? GIDS_I64 : GIDS_F64, s));
    const gids_tensor *x = reversed ? z : a, *y = reversed ? a : z;
    gids_status st = binary_run(out, dst, op, x, y, scalar_promoted(a, s));
    gids_tensor_release(z);
    return st;
}

/* An integer tensor to a negative integer power has no integer result (2 ^ -1 is 0.5): refused,
 * as torch refuses it, rather than truncated to 0.  (A float exponent gives a float result.) */
static gids_status check_int_pow(gids_binop op, const gids_tensor *a, gids_scalar s,
                                 bool reversed) {
    if (op == GIDS_POW && !reversed && s.is_int && s.i < 0 && a != NULL &&
        (gids_dtype_is_int(a->dtype) || a->dtype == GIDS_BOOL)) /* (bool computes in i64) */
        GIDS_FAIL(
            GIDS_EINVAL,
            "pow: an integer tensor (%s) to a negative integer power (%lld) is not an integer; "
            "use a float tensor or exponent",
            gids_dtype_name(a->dtype), (long long)s.i);
    return GIDS_OK;
}

/* pow(a, 0.5) and pow(a, -0.5) of a number exponent are sqrt(a) and rsqrt(a), as torch computes
 * them (so pow(-inf, 0.5) is NaN and pow(-0, 0.5) is -0, where the C pow gives inf and +0);
 * GIDS_NUNOPS (no op) otherwise.  A tensor exponent keeps the C pow, as in torch. */
static gids_unop pow_as_unary(gids_binop op, const gids_tensor *a, gids_scalar s, bool reversed) {
    if (op != GIDS_POW || reversed || s.is_int || a == NULL || gids_dtype_is_half(a->dtype))
        return GIDS_NUNOPS;
    if (s.f == 0.5) return GIDS_SQRT;
    if (s.f == -0.5) return GIDS_RSQRT;
    return GIDS_NUNOPS;
}

/* Whether op is pow of an f32 tensor by a number f32 cannot hold: 2^24 + 1 would round to the
 * even 2^24, and (-1)^16777217 come out 1.  Torch keeps the exponent exact. */
static bool exponent_beyond_f32(gids_binop op, const gids_tensor *a, gids_scalar s, bool reversed) {
    /* (an f32 tensor, or an integer one with a float exponent: both compute in f32) */
    if (op != GIDS_POW || reversed || a == NULL || scalar_promoted(a, s) != GIDS_F32) return false;
    if (!s.is_int) return s.f == s.f && (double)(float)s.f != s.f; /* (an infinity fits) */
    float f = (float)s.i;
    /* (2^63 and beyond do not convert back to an int64) */
    if (f >= 9.2233720368547758e18f || f < -9.2233720368547758e18f) return true;
    return (int64_t)f != s.i;
}

/* pow(a, s) for such an exponent: in f64, rounded once to f32 (the device's ops alike).  (The
 * f64 tensor's pow computes in f64: the recursion ends there.) */
static gids_status pow_in_f64(gids_tensor **out, const gids_tensor *a, gids_scalar s) {
    gids_tensor *a64 = NULL, *r64 = NULL;
    GIDS_TRY(gids_to_dtype(&a64, a, GIDS_F64));
    gids_status st = gids_binary_scalar(&r64, GIDS_POW, a64, s, false);
    gids_tensor_release(a64);
    if (st != GIDS_OK) return st;
    st = gids_to_dtype(out, r64, GIDS_F32);
    gids_tensor_release(r64);
    return st;
}

gids_status gids_binary_scalar(gids_tensor **out, gids_binop op, const gids_tensor *a,
                               gids_scalar s, bool reversed) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", gids_binop_name(op));
    GIDS_TRY(check_int_pow(op, a, s, reversed));
    GIDS_TRY(check_wrapped(op, a, s, reversed)); /* (the device's too) */
    gids_unop u = pow_as_unary(op, a, s, reversed);
    if (u != GIDS_NUNOPS) return gids_unary(out, u, a);
    if (exponent_beyond_f32(op, a, s, reversed)) return pow_in_f64(out, a, s);
    GIDS_DEVICE_BACKEND(gids_binop_name(op), binary_scalar, a);
    if (gids_be_ != NULL) {
        GIDS_TRY(gids_be_->binary_scalar(out, op, a, s, reversed));
        gids_range_binary(*out, op, a, NULL, s, reversed); /* core/ranges.c */
        return GIDS_OK;
    }
    return binary_scalar_run(out, NULL, op, a, s, reversed);
}

gids_status gids_binary_scalar_into(gids_tensor *dst, gids_binop op, const gids_tensor *a,
                                    gids_scalar s, bool reversed) {
    GIDS_CHECK(dst != NULL, GIDS_EINVAL, "%s: output is NULL", gids_binop_name(op));
    GIDS_TRY(check_int_pow(op, a, s, reversed));
    GIDS_TRY(check_wrapped(op, a, s, reversed));
    gids_unop u = pow_as_unary(op, a, s, reversed);
    if (u != GIDS_NUNOPS && gids_dtype_is_float(a->dtype) && dst->dtype == a->dtype)
        return gids_unary_into(dst, u, a);
    if (exponent_beyond_f32(op, a, s, reversed) ||
        gids_any_device(2, (const gids_tensor *const[]){dst, a})) {
        gids_tensor *r = NULL;
        GIDS_TRY(gids_binary_scalar(&r, op, a, s, reversed));
        return gids_ew_into_device(gids_binop_name(op), dst, r);
    }
    return binary_scalar_run(NULL, dst, op, a, s, reversed);
}
