/* elementwise.cu -- binary (tensor op tensor, tensor op scalar) and unary ops on CUDA tensors.
 *
 * Dtypes follow the CPU exactly: the promoted dtype (PyTorch's rule, where a 0-d tensor only
 * decides when its category is higher), then gids_binop_result_dtype / gids_unop_result_dtype.
 * Every binary and unary op of the CPU is here, computing in f32, f64, i64, i32, u8 or bool as
 * the CPU's binary.c / unary.c do (an input of another dtype is first converted on the device):
 * integer arithmetic wraps (through uint64), integer fmod / remainder / floor_divide by zero is
 * the CPU's EINVAL (a device flag read back after the kernel), bool arithmetic stays bool.
 * f16 / bf16 compute dtypes are refused as on the CPU.  Broadcast and strided inputs are read
 * through gc_layout (int64 index math); float ops on contiguous, aligned operands move 16-byte
 * packs (gc_map1 / gc_map2).
 */
#include <math.h>

#include <type_traits>

#include "cuda_impl.h"

/* ---------------------------------------------------------------- dtype rules (as the CPU) */
static int category(gids_dtype dt) {
    if (dt == GIDS_BOOL) return 0;
    return gids_dtype_is_float(dt) ? 2 : 1;
}

static gids_dtype promote_tensors(const gids_tensor *a, const gids_tensor *b) {
    bool za = a->ndim == 0, zb = b->ndim == 0;
    if (za == zb) return gids_promote(a->dtype, b->dtype);
    const gids_tensor *dimmed = za ? b : a, *zero = za ? a : b;
    return category(zero->dtype) > category(dimmed->dtype) ? zero->dtype : dimmed->dtype;
}

/* The dtype of a number next to a tensor (a "wrapped number"), then promoted with it. */
static gids_dtype scalar_dtype(const gids_tensor *a, gids_scalar s) {
    gids_dtype sd = a->dtype;
    if (!s.is_int && !gids_dtype_is_float(a->dtype)) sd = GIDS_F32;
    if (s.is_int && a->dtype == GIDS_BOOL) sd = GIDS_I64;
    return sd;
}

static gids_dtype promote_scalar(const gids_tensor *a, gids_scalar s) {
    gids_dtype sd = scalar_dtype(a, s);
    if (a->ndim == 0) return gids_promote(a->dtype, sd);
    return category(sd) > category(a->dtype) ? sd : a->dtype;
}

static bool is_compare(gids_binop op) {
    return op == GIDS_EQ || op == GIDS_NE || op == GIDS_LT || op == GIDS_LE || op == GIDS_GT ||
           op == GIDS_GE;
}

static bool is_logical(gids_binop op) {
    return op == GIDS_LOGICAL_AND || op == GIDS_LOGICAL_OR || op == GIDS_LOGICAL_XOR;
}

/* Integer fmod, remainder and floor_divide report a zero divisor (as the CPU, an error). */
static bool int_divides(gids_binop op, gids_dtype compute) {
    return (op == GIDS_FMOD || op == GIDS_REMAINDER || op == GIDS_FLOOR_DIVIDE) &&
           !gids_dtype_is_float(compute);
}

static bool compute_supported(gids_dtype dt) {
    return dt == GIDS_F32 || dt == GIDS_F64 || dt == GIDS_I64 || dt == GIDS_I32 || dt == GIDS_U8 ||
           dt == GIDS_BOOL;
}

/* Compute and result dtypes of op on operands promoted to p, or EUNSUPPORTED.  The compute
 * dtype is the CPU's: p, except f32 for div and atan2 of non-float operands. */
static gids_status binop_plan(gids_binop op, gids_dtype p, gids_dtype *compute,
                              gids_dtype *result) {
    const char *name = gids_binop_name(op);
    GIDS_TRY(gids_binop_result_dtype(op, p, p, result));
    *compute = (is_compare(op) || is_logical(op)) ? p : *result;
    GIDS_CHECK(compute_supported(*compute), GIDS_EUNSUPPORTED,
               "%s: dtype %s is not supported on CUDA yet (f32, f64, i64, i32, u8 and bool only)",
               name, gids_dtype_name(*compute));
    return GIDS_OK;
}

/* NEW: t itself when it has dtype dt (any strides), else a contiguous converted copy. */
static gids_status as_dtype(const char *op, gids_tensor **out, const gids_tensor *t,
                            gids_dtype dt) {
    if (t->dtype == dt) {
        gids_tensor_retain((gids_tensor *)t);
        *out = (gids_tensor *)t;
        return GIDS_OK;
    }
    return gc_contiguous_as(op, out, t, dt);
}

/* ---------------------------------------------------------------- kernels */
/* Integer ops go through uint64 so overflow wraps instead of being undefined (as the CPU). */
__device__ __forceinline__ uint64_t u64(int64_t v) {
    return (uint64_t)v;
}

__device__ __forceinline__ int64_t ipow(int64_t base, int64_t e) {
    if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = u64(base);
    while (e) {
        if (e & 1) r *= b;
        b *= b;
        e >>= 1;
    }
    return (int64_t)r;
}

/* Integer division by zero sets *flag and yields 0. */
__device__ __forceinline__ int64_t ifmod(int64_t a, int64_t b, int *flag) {
    if (b == 0) {
        *flag = 1;
        return 0;
    }
    if (b == -1) return 0;
    return a % b;
}

__device__ __forceinline__ int64_t iremainder(int64_t a, int64_t b, int *flag) {
    int64_t r = ifmod(a, b, flag);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

/* Division rounding toward minus infinity; INT64_MIN / -1 wraps. */
/* Float floor division as the CPU's (binary.c): from fmod, not floor(a / b). */
template <typename T> __device__ __forceinline__ T floordiv_flt(T a, T b) {
    if (b == 0) return a / b;
    T mod = fmod(a, b), div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= (T)1;
    if (div == 0) return copysign((T)0, a / b);
    T fl = floor(div);
    return div - fl > (T)0.5 ? fl + (T)1 : fl;
}

__device__ __forceinline__ int64_t ifloordiv(int64_t a, int64_t b, int *flag) {
    if (b == 0) {
        *flag = 1;
        return 0;
    }
    if (b == -1) return (int64_t)(0 - u64(a));
    int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) q--;
    return q;
}

template <typename T> struct is_flt {
    static constexpr bool value = std::is_same<T, float>::value || std::is_same<T, double>::value;
};

/* One element of op in compute type T (float, double, int64_t, int32_t, uint8_t or bool; bool
 * arithmetic stays bool as torch: + is or, * is and, x ** y is x or not y). */
template <int OP, typename T> __device__ __forceinline__ auto bin(T a, T b, int *flag) {
    constexpr bool F = is_flt<T>::value, D = std::is_same<T, double>::value;
    if constexpr (OP == GIDS_EQ)
        return (uint8_t)(a == b);
    else if constexpr (OP == GIDS_NE)
        return (uint8_t)(a != b);
    else if constexpr (OP == GIDS_LT)
        return (uint8_t)(a < b);
    else if constexpr (OP == GIDS_LE)
        return (uint8_t)(a <= b);
    else if constexpr (OP == GIDS_GT)
        return (uint8_t)(a > b);
    else if constexpr (OP == GIDS_GE)
        return (uint8_t)(a >= b);
    else if constexpr (OP == GIDS_LOGICAL_AND)
        return (uint8_t)((a != 0) && (b != 0));
    else if constexpr (OP == GIDS_LOGICAL_OR)
        return (uint8_t)((a != 0) || (b != 0));
    else if constexpr (OP == GIDS_LOGICAL_XOR)
        return (uint8_t)((a != 0) != (b != 0));
    else if constexpr (F) {
        if constexpr (OP == GIDS_ADD)
            return (T)(a + b);
        else if constexpr (OP == GIDS_SUB)
            return (T)(a - b);
        else if constexpr (OP == GIDS_MUL)
            return (T)(a * b);
        else if constexpr (OP == GIDS_DIV)
            return (T)(a / b);
        else if constexpr (OP == GIDS_POW)
            return D ? (T)pow((double)a, (double)b) : (T)powf((float)a, (float)b);
        /* NaN wins, as torch.maximum / torch.minimum. */
        else if constexpr (OP == GIDS_MAXIMUM)
            return (a > b || a != a) ? a : b;
        else if constexpr (OP == GIDS_MINIMUM)
            return (a < b || a != a) ? a : b;
        else if constexpr (OP == GIDS_FMOD)
            return D ? (T)fmod((double)a, (double)b) : (T)fmodf((float)a, (float)b);
        else if constexpr (OP == GIDS_REMAINDER) {
            T r = D ? (T)fmod((double)a, (double)b) : (T)fmodf((float)a, (float)b);
            if (r != 0 && ((r < 0) != (b < 0))) r += b;
            return r;
        } else if constexpr (OP == GIDS_ATAN2)
            return D ? (T)atan2((double)a, (double)b) : (T)atan2f((float)a, (float)b);
        else /* GIDS_FLOOR_DIVIDE: the CPU's (torch's) from fmod, not floor(a / b) */
            return floordiv_flt(a, b);
    } else if constexpr (std::is_same<T, bool>::value) {
        if constexpr (OP == GIDS_ADD || OP == GIDS_MAXIMUM)
            return (bool)(a || b);
        else if constexpr (OP == GIDS_MUL || OP == GIDS_MINIMUM)
            return (bool)(a && b);
        else /* GIDS_POW */
            return (bool)(a || !b);
    } else {
        const int64_t x = (int64_t)a, y = (int64_t)b;
        if constexpr (OP == GIDS_ADD)
            return (T)(u64(x) + u64(y));
        else if constexpr (OP == GIDS_SUB)
            return (T)(u64(x) - u64(y));
        else if constexpr (OP == GIDS_MUL)
            return (T)(u64(x) * u64(y));
        else if constexpr (OP == GIDS_POW)
            return (T)ipow(x, y);
        else if constexpr (OP == GIDS_MAXIMUM)
            return a > b ? a : b;
        else if constexpr (OP == GIDS_MINIMUM)
            return a < b ? a : b;
        else if constexpr (OP == GIDS_FMOD)
            return (T)ifmod(x, y, flag);
        else if constexpr (OP == GIDS_REMAINDER)
            return (T)iremainder(x, y, flag);
        else /* GIDS_FLOOR_DIVIDE */
            return (T)ifloordiv(x, y, flag);
    }
}

/* Whether the CPU has a kernel for op in compute type T (binop_plan sends no other). */
template <int OP, typename T> constexpr bool bin_exists() {
    constexpr bool F = is_flt<T>::value, B = std::is_same<T, bool>::value;
    if (OP == GIDS_DIV || OP == GIDS_ATAN2) return F;
    if (OP == GIDS_SUB || OP == GIDS_FMOD || OP == GIDS_REMAINDER || OP == GIDS_FLOOR_DIVIDE)
        return !B;
    return true;
}

template <int OP, typename T, typename TO>
__global__ void binary_kernel(TO *o, gc_layout lo, const T *a, gc_layout la, const T *b,
                              gc_layout lb, int64_t n, int *flag) {
    gc_elementwise<TO>(
        n,
        [&](int64_t i) { return (TO)bin<OP, T>(a[gc_offset(la, i)], b[gc_offset(lb, i)], flag); },
        [&](int64_t i, TO v) { o[gc_offset(lo, i)] = v; });
}

template <int OP, typename T, typename TO>
__global__ void binary_scalar_kernel(TO *o, gc_layout lo, const T *a, gc_layout la, T s,
                                     bool reversed, int64_t n, int *flag) {
    gc_elementwise<TO>(
        n,
        [&](int64_t i) {
            T x = a[gc_offset(la, i)];
            return (TO)(reversed ? bin<OP, T>(s, x, flag) : bin<OP, T>(x, s, flag));
        },
        [&](int64_t i, TO v) { o[gc_offset(lo, i)] = v; });
}

/* Float ops on contiguous, aligned operands: 16-byte packs (cuda_impl.h, gc_map1/gc_map2). */
template <int OP, typename T, typename TO>
__global__ void binary_vec_kernel(TO *o, const T *a, const T *b, int64_t n) {
    gc_map2<gc_vec_width<T, TO>>(o, a, b, n,
                                 [](T x, T y) { return (TO)bin<OP, T>(x, y, nullptr); });
}

template <int OP, typename T, typename TO>
__global__ void binary_scalar_vec_kernel(TO *o, const T *a, T s, bool reversed, int64_t n) {
    gc_map1<gc_vec_width<T, TO>>(o, a, n, [=](T x) {
        return (TO)(reversed ? bin<OP, T>(s, x, nullptr) : bin<OP, T>(x, s, nullptr));
    });
}

/* Operands of one launch: out, a and b (b NULL for the scalar form) with their layouts. */
struct ew_args {
    gids_tensor *out;
    const gids_tensor *a, *b;
    gc_layout lo, la, lb;
    int64_t n;
    gids_scalar s;
    bool reversed;
    int *flag; /* device int for integer division by zero, or NULL */
};

/* The number as the kernel takes it in the compute dtype: an integer wraps into an i32 or u8
 * compute dtype (u8 + 300 adds 44, as torch converts a wrapped number); a float compute dtype
 * (div or atan2 of an integer tensor) takes the number itself, as the CPU (binary.c,
 * binary_scalar_run): u8 / 256 divides by 256, not by 0. */
static gids_scalar wrap_scalar(gids_scalar s, gids_dtype compute) {
    gids_scalar w = s;
    if (!s.is_int) return w;
    if (compute == GIDS_I32) w.i = (int32_t)(uint32_t)(uint64_t)s.i;
    if (compute == GIDS_U8) w.i = (uint8_t)(uint64_t)s.i;
    return w; /* i64 keeps it; a float type converts it itself (scalar_as) */
}

/* That stored number converted to the compute type T (integer to integer wraps). */
template <typename T> static T scalar_as(gids_scalar s) {
    if constexpr (std::is_same<T, bool>::value)
        return s.is_int ? s.i != 0 : s.f != 0;
    else if constexpr (is_flt<T>::value)
        return s.is_int ? (T)s.i : (T)s.f;
    else
        return s.is_int ? (T)(uint64_t)s.i : (T)s.f; /* a float number never gets here */
}

template <int OP, typename T> static void launch_binary(const ew_args &x) {
    if constexpr (bin_exists<OP, T>()) {
        constexpr bool pred = OP == GIDS_EQ || OP == GIDS_NE || OP == GIDS_LT || OP == GIDS_LE ||
                              OP == GIDS_GT || OP == GIDS_GE || OP == GIDS_LOGICAL_AND ||
                              OP == GIDS_LOGICAL_OR || OP == GIDS_LOGICAL_XOR;
        typedef typename std::conditional<pred, uint8_t, T>::type TO;
        TO *o = (TO *)gids_tensor_data(x.out);
        const T *a = (const T *)gids_tensor_data(x.a);
        if constexpr (is_flt<T>::value) {
            constexpr int V = gc_vec_width<T, TO>;
            const T *b = x.b != nullptr ? (const T *)gids_tensor_data(x.b) : nullptr;
            if (gc_vec_ok(x.lo, o, V * sizeof(TO)) && gc_vec_ok(x.la, a, V * sizeof(T)) &&
                (b == nullptr || gc_vec_ok(x.lb, b, V * sizeof(T)))) {
                if (b != nullptr)
                    binary_vec_kernel<OP, T, TO>
                        <<<gc_vec_blocks(x.n, V), GC_THREADS, 0, gc_stream()>>>(o, a, b, x.n);
                else
                    binary_scalar_vec_kernel<OP, T, TO>
                        <<<gc_vec_blocks(x.n, V), GC_THREADS, 0, gc_stream()>>>(
                            o, a, scalar_as<T>(x.s), x.reversed, x.n);
                return;
            }
        }
        if (x.b != nullptr)
            binary_kernel<OP, T, TO><<<gc_blocks(x.n), GC_THREADS, 0, gc_stream()>>>(
                o, x.lo, a, x.la, (const T *)gids_tensor_data(x.b), x.lb, x.n, x.flag);
        else
            binary_scalar_kernel<OP, T, TO><<<gc_blocks(x.n), GC_THREADS, 0, gc_stream()>>>(
                o, x.lo, a, x.la, scalar_as<T>(x.s), x.reversed, x.n, x.flag);
    }
}

template <typename T> static void dispatch_binary(gids_binop op, const ew_args &x) {
    switch (op) {
    case GIDS_ADD: launch_binary<GIDS_ADD, T>(x); break;
    case GIDS_SUB: launch_binary<GIDS_SUB, T>(x); break;
    case GIDS_MUL: launch_binary<GIDS_MUL, T>(x); break;
    case GIDS_DIV: launch_binary<GIDS_DIV, T>(x); break;
    case GIDS_POW: launch_binary<GIDS_POW, T>(x); break;
    case GIDS_MAXIMUM: launch_binary<GIDS_MAXIMUM, T>(x); break;
    case GIDS_MINIMUM: launch_binary<GIDS_MINIMUM, T>(x); break;
    case GIDS_FMOD: launch_binary<GIDS_FMOD, T>(x); break;
    case GIDS_REMAINDER: launch_binary<GIDS_REMAINDER, T>(x); break;
    case GIDS_ATAN2: launch_binary<GIDS_ATAN2, T>(x); break;
    case GIDS_FLOOR_DIVIDE: launch_binary<GIDS_FLOOR_DIVIDE, T>(x); break;
    case GIDS_EQ: launch_binary<GIDS_EQ, T>(x); break;
    case GIDS_NE: launch_binary<GIDS_NE, T>(x); break;
    case GIDS_LT: launch_binary<GIDS_LT, T>(x); break;
    case GIDS_LE: launch_binary<GIDS_LE, T>(x); break;
    case GIDS_GT: launch_binary<GIDS_GT, T>(x); break;
    case GIDS_GE: launch_binary<GIDS_GE, T>(x); break;
    case GIDS_LOGICAL_AND: launch_binary<GIDS_LOGICAL_AND, T>(x); break;
    case GIDS_LOGICAL_OR: launch_binary<GIDS_LOGICAL_OR, T>(x); break;
    default: launch_binary<GIDS_LOGICAL_XOR, T>(x); break;
    }
}

static void dispatch_binary_dt(gids_dtype dt, gids_binop op, const ew_args &x) {
    switch (dt) {
    case GIDS_F32: dispatch_binary<float>(op, x); break;
    case GIDS_F64: dispatch_binary<double>(op, x); break;
    case GIDS_I64: dispatch_binary<int64_t>(op, x); break;
    case GIDS_I32: dispatch_binary<int32_t>(op, x); break;
    case GIDS_U8: dispatch_binary<uint8_t>(op, x); break;
    default: dispatch_binary<bool>(op, x); break; /* binop_plan admitted only these */
    }
}

/* Runs the launch; for integer fmod / remainder / floor_divide a device flag catches a zero
 * divisor, read back after the kernel (the CPU's error, and no result): a wait for the device,
 * so not when the divisor is a number the host knows is not 0 (`divisor_nonzero`). */
static gids_status run_binary(const char *name, gids_binop op, gids_dtype compute, ew_args &x,
                              bool divisor_nonzero) {
    gc_ref flag;
    if (int_divides(op, compute) && !divisor_nonzero) {
        int64_t one[1] = {1};
        GIDS_TRY(gids_empty(&flag.t, GIDS_I32, gc_dev(x.out), 0, one));
        x.flag = (int *)gids_tensor_data(flag.t);
        GC_CUDA(name, cudaMemsetAsync(x.flag, 0, sizeof(int), gc_stream()));
    }
    dispatch_binary_dt(compute, op, x);
    GC_LAUNCHED(name);
    if (x.flag != nullptr) {
        int hit = 0;
        GC_CUDA(name, gc_memcpy_sync(&hit, x.flag, sizeof hit, cudaMemcpyDeviceToHost));
        GIDS_CHECK(!hit, GIDS_EINVAL, "%s: integer division by zero (arg 2 holds a 0)", name);
    }
    return GIDS_OK;
}

/* ---------------------------------------------------------------- binary */
static gids_status check_input(const char *op, const char *arg, const gids_tensor *t) {
    GIDS_CHECK(t != nullptr, GIDS_EINVAL, "%s: %s is NULL", op, arg);
    return GIDS_OK;
}

gids_status gc_binary(gids_tensor **out, gids_binop op, const gids_tensor *a,
                      const gids_tensor *b) {
    const char *name = gids_binop_name(op);
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", name);
    GIDS_CHECK((unsigned)op < GIDS_NBINOPS, GIDS_EINVAL, "binary: unknown op %d", (int)op);
    GIDS_TRY(check_input(name, "arg 1", a));
    GIDS_TRY(check_input(name, "arg 2", b));
    if (!gids_device_eq(gc_dev(a), gc_dev(b))) {
        char da[16], db[16];
        GIDS_FAIL(GIDS_EDEVICE, "%s: arg 1 is on %s and arg 2 on %s; expected one device", name,
                  gids_device_str(gc_dev(a), da, sizeof da),
                  gids_device_str(gc_dev(b), db, sizeof db));
    }
    gids_dtype compute, result;
    GIDS_TRY(binop_plan(op, promote_tensors(a, b), &compute, &result));
    ew_args x = {};
    int nd;
    int64_t shape[GIDS_MAX_DIMS];
    GIDS_TRY(gids_broadcast_shapes(name, a->ndim, a->shape, b->ndim, b->shape, &nd, shape));
    GIDS_TRY(gc_use_device(name, a));
    gc_ref ca, cb, r;
    GIDS_TRY(as_dtype(name, &ca.t, a, compute));
    GIDS_TRY(as_dtype(name, &cb.t, b, compute));
    GIDS_TRY(gids_empty(&r.t, result, gc_dev(a), nd, shape));
    x.n = gids_tensor_numel(r.t);
    if (x.n > 0) {
        const gids_tensor *ts[3] = {r.t, ca.t, cb.t};
        gc_layout l[3];
        gc_layouts(3, ts, nd, shape, l);
        x.out = r.t, x.a = ca.t, x.b = cb.t, x.lo = l[0], x.la = l[1], x.lb = l[2];
        GIDS_TRY(run_binary(name, op, compute, x, false));
    }
    *out = r.take();
    return GIDS_OK;
}

gids_status gc_binary_scalar(gids_tensor **out, gids_binop op, const gids_tensor *a, gids_scalar s,
                             bool reversed) {
    const char *name = gids_binop_name(op);
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", name);
    GIDS_CHECK((unsigned)op < GIDS_NBINOPS, GIDS_EINVAL, "binary: unknown op %d", (int)op);
    GIDS_TRY(check_input(name, "arg 1", a));
    gids_dtype compute, result;
    GIDS_TRY(binop_plan(op, promote_scalar(a, s), &compute, &result));
    GIDS_TRY(gc_use_device(name, a));
    gc_ref ca, r;
    GIDS_TRY(as_dtype(name, &ca.t, a, compute));
    GIDS_TRY(gids_empty(&r.t, result, gc_dev(a), a->ndim, a->shape));
    ew_args x = {};
    x.n = gids_tensor_numel(r.t);
    if (x.n > 0) {
        const gids_tensor *ts[2] = {r.t, ca.t};
        gc_layout l[2];
        gc_layouts(2, ts, a->ndim, a->shape, l);
        x.out = r.t, x.a = ca.t, x.b = nullptr, x.lo = l[0], x.la = l[1];
        x.s = wrap_scalar(s, compute);
        x.reversed = reversed;
        /* an integer divisor is the number wrapped into the compute dtype (x.s), unless
         * reversed (binary.c has refused one that wraps to 0) */
        GIDS_TRY(run_binary(name, op, compute, x, !reversed && x.s.is_int && x.s.i != 0));
    }
    *out = r.take();
    return GIDS_OK;
}

/* ---------------------------------------------------------------- unary */
/* Float ops in T (float math for f32, double for f64), written as the CPU's unary.c. */
template <int OP, typename T> __device__ __forceinline__ T unf(T x) {
    constexpr bool D = std::is_same<T, double>::value;
#define GC_M(fn) (D ? (T)fn((double)x) : (T)fn##f((float)x))
    if constexpr (OP == GIDS_NEG)
        return -x;
    else if constexpr (OP == GIDS_ABS)
        return GC_M(fabs);
    else if constexpr (OP == GIDS_SIGN)
        return (T)((x > 0) - (x < 0));
    else if constexpr (OP == GIDS_EXP)
        return GC_M(exp);
    else if constexpr (OP == GIDS_EXPM1)
        return GC_M(expm1);
    else if constexpr (OP == GIDS_LOG)
        return GC_M(log);
    else if constexpr (OP == GIDS_LOG1P)
        return GC_M(log1p);
    else if constexpr (OP == GIDS_LOG2)
        return GC_M(log2);
    else if constexpr (OP == GIDS_SQRT)
        return GC_M(sqrt);
    else if constexpr (OP == GIDS_RSQRT)
        return (T)1 / GC_M(sqrt);
    else if constexpr (OP == GIDS_SQUARE)
        return x * x;
    else if constexpr (OP == GIDS_RECIPROCAL)
        return (T)1 / x;
    else if constexpr (OP == GIDS_SIN)
        return GC_M(sin);
    else if constexpr (OP == GIDS_COS)
        return GC_M(cos);
    else if constexpr (OP == GIDS_TAN)
        return GC_M(tan);
    else if constexpr (OP == GIDS_TANH)
        return GC_M(tanh);
    else if constexpr (OP == GIDS_SIGMOID) {
        T e = D ? (T)exp(-(double)x) : (T)expf(-(float)x);
        return (T)1 / ((T)1 + e);
    } else if constexpr (OP == GIDS_RELU)
        return x < (T)0 ? (T)0 : x; /* NaN passes through, as torch.relu */
    else if constexpr (OP == GIDS_GELU) {
        T y = x * (T)0.70710678118654752440;
        T e = D ? (T)erf((double)y) : (T)erff((float)y);
        return (T)0.5 * x * ((T)1 + e);
    } else if constexpr (OP == GIDS_GELU_TANH) {
        T y = (T)0.79788456080286535588 * (x + (T)0.044715 * x * x * x);
        T t = D ? (T)tanh((double)y) : (T)tanhf((float)y);
        return (T)0.5 * x * ((T)1 + t);
    } else if constexpr (OP == GIDS_SOFTPLUS) {
        T e = GC_M(exp);
        return x > (T)20 ? x : (D ? (T)log1p((double)e) : (T)log1pf((float)e));
    } else if constexpr (OP == GIDS_SILU) {
        T e = D ? (T)exp(-(double)x) : (T)expf(-(float)x);
        return x / ((T)1 + e);
    } else if constexpr (OP == GIDS_FLOOR)
        return GC_M(floor);
    else if constexpr (OP == GIDS_CEIL)
        return GC_M(ceil);
    else if constexpr (OP == GIDS_ROUND)
        return GC_M(rint); /* half to even, as torch.round */
    else                   /* GIDS_TRUNC */
        return GC_M(trunc);
#undef GC_M
}

__device__ __forceinline__ bool is_neg(int64_t v) {
    return v < 0;
}

/* Integer ops kept in the integer dtype (neg, abs, sign, square, relu), wrapping as the CPU. */
template <int OP, typename T> __device__ __forceinline__ T uni(T x) {
    const int64_t v = (int64_t)x;
    if constexpr (OP == GIDS_NEG)
        return (T)(0 - u64(v));
    else if constexpr (OP == GIDS_ABS)
        return (T)(is_neg(v) ? 0 - u64(v) : u64(v));
    else if constexpr (OP == GIDS_SIGN)
        return (T)((v > 0) - is_neg(v));
    else if constexpr (OP == GIDS_SQUARE)
        return (T)(u64(v) * u64(v));
    else /* GIDS_RELU */
        return (T)(is_neg(v) ? 0 : v);
}

template <int OP, typename T> __device__ __forceinline__ auto un(T x) {
    if constexpr (OP == GIDS_LOGICAL_NOT)
        return (uint8_t)(x == 0);
    else if constexpr (OP == GIDS_ISNAN)
        return (uint8_t)(x != x);
    else if constexpr (OP == GIDS_ISINF)
        return (uint8_t)isinf(x);
    else if constexpr (OP == GIDS_ISFINITE)
        return (uint8_t)isfinite(x);
    else if constexpr (is_flt<T>::value)
        return unf<OP, T>(x);
    else
        return uni<OP, T>(x);
}

/* Whether unary_plan may send op with compute type T. */
template <int OP, typename T> constexpr bool un_exists() {
    if (OP == GIDS_LOGICAL_NOT) return true;
    if (is_flt<T>::value) return true;
    if (std::is_same<T, bool>::value) return false;
    return OP == GIDS_NEG || OP == GIDS_ABS || OP == GIDS_SIGN || OP == GIDS_SQUARE ||
           OP == GIDS_RELU;
}

template <int OP, typename T, typename TO>
__global__ void unary_kernel(TO *o, gc_layout lo, const T *a, gc_layout la, int64_t n) {
    gc_elementwise<TO>(
        n, [&](int64_t i) { return (TO)un<OP, T>(a[gc_offset(la, i)]); },
        [&](int64_t i, TO v) { o[gc_offset(lo, i)] = v; });
}

template <int OP, typename T, typename TO>
__global__ void unary_vec_kernel(TO *o, const T *a, int64_t n) {
    gc_map1<gc_vec_width<T, TO>>(o, a, n, [](T x) { return (TO)un<OP, T>(x); });
}

struct un_args {
    gids_tensor *out;
    const gids_tensor *a;
    gc_layout lo, la;
    int64_t n;
};

template <int OP, typename T> static void launch_unary(const un_args &x) {
    if constexpr (un_exists<OP, T>()) {
        constexpr bool pred =
            OP == GIDS_LOGICAL_NOT || OP == GIDS_ISNAN || OP == GIDS_ISINF || OP == GIDS_ISFINITE;
        typedef typename std::conditional<pred, uint8_t, T>::type TO;
        TO *o = (TO *)gids_tensor_data(x.out);
        const T *a = (const T *)gids_tensor_data(x.a);
        if constexpr (is_flt<T>::value) {
            constexpr int V = gc_vec_width<T, TO>;
            if (gc_vec_ok(x.lo, o, V * sizeof(TO)) && gc_vec_ok(x.la, a, V * sizeof(T))) {
                unary_vec_kernel<OP, T, TO>
                    <<<gc_vec_blocks(x.n, V), GC_THREADS, 0, gc_stream()>>>(o, a, x.n);
                return;
            }
        }
        unary_kernel<OP, T, TO>
            <<<gc_blocks(x.n), GC_THREADS, 0, gc_stream()>>>(o, x.lo, a, x.la, x.n);
    }
}

template <typename T> static void dispatch_unary(gids_unop op, const un_args &x) {
    switch (op) {
    case GIDS_NEG: launch_unary<GIDS_NEG, T>(x); break;
    case GIDS_ABS: launch_unary<GIDS_ABS, T>(x); break;
    case GIDS_SIGN: launch_unary<GIDS_SIGN, T>(x); break;
    case GIDS_EXP: launch_unary<GIDS_EXP, T>(x); break;
    case GIDS_EXPM1: launch_unary<GIDS_EXPM1, T>(x); break;
    case GIDS_LOG: launch_unary<GIDS_LOG, T>(x); break;
    case GIDS_LOG1P: launch_unary<GIDS_LOG1P, T>(x); break;
    case GIDS_LOG2: launch_unary<GIDS_LOG2, T>(x); break;
    case GIDS_SQRT: launch_unary<GIDS_SQRT, T>(x); break;
    case GIDS_RSQRT: launch_unary<GIDS_RSQRT, T>(x); break;
    case GIDS_SQUARE: launch_unary<GIDS_SQUARE, T>(x); break;
    case GIDS_RECIPROCAL: launch_unary<GIDS_RECIPROCAL, T>(x); break;
    case GIDS_SIN: launch_unary<GIDS_SIN, T>(x); break;
    case GIDS_COS: launch_unary<GIDS_COS, T>(x); break;
    case GIDS_TAN: launch_unary<GIDS_TAN, T>(x); break;
    case GIDS_TANH: launch_unary<GIDS_TANH, T>(x); break;
    case GIDS_SIGMOID: launch_unary<GIDS_SIGMOID, T>(x); break;
    case GIDS_RELU: launch_unary<GIDS_RELU, T>(x); break;
    case GIDS_GELU: launch_unary<GIDS_GELU, T>(x); break;
    case GIDS_GELU_TANH: launch_unary<GIDS_GELU_TANH, T>(x); break;
    case GIDS_SOFTPLUS: launch_unary<GIDS_SOFTPLUS, T>(x); break;
    case GIDS_SILU: launch_unary<GIDS_SILU, T>(x); break;
    case GIDS_FLOOR: launch_unary<GIDS_FLOOR, T>(x); break;
    case GIDS_CEIL: launch_unary<GIDS_CEIL, T>(x); break;
    case GIDS_ROUND: launch_unary<GIDS_ROUND, T>(x); break;
    case GIDS_TRUNC: launch_unary<GIDS_TRUNC, T>(x); break;
    case GIDS_LOGICAL_NOT: launch_unary<GIDS_LOGICAL_NOT, T>(x); break;
    case GIDS_ISNAN: launch_unary<GIDS_ISNAN, T>(x); break;
    case GIDS_ISINF: launch_unary<GIDS_ISINF, T>(x); break;
    default: launch_unary<GIDS_ISFINITE, T>(x); break;
    }
}

typedef enum { UN_KERNEL, UN_COPY, UN_FALSE, UN_TRUE } un_kind;

static bool is_rounding(gids_unop op) {
    return op == GIDS_FLOOR || op == GIDS_CEIL || op == GIDS_ROUND || op == GIDS_TRUNC;
}

/* The CPU's plan (unary.c): result dtype from gids_unop_result_dtype (which also rejects what
 * the CPU rejects), compute dtype and whether a kernel runs at all. */
static gids_status unary_plan(gids_unop op, gids_dtype in, gids_dtype *compute, gids_dtype *result,
                              un_kind *kind) {
    const char *name = gids_unop_name(op);
    GIDS_TRY(gids_unop_result_dtype(op, in, result));
    *kind = UN_KERNEL;
    *compute = *result;
    if (op == GIDS_LOGICAL_NOT) {
        *compute = in;
    } else if (op == GIDS_ISNAN || op == GIDS_ISINF || op == GIDS_ISFINITE) {
        *compute = in;
        if (!gids_dtype_is_float(in)) *kind = op == GIDS_ISFINITE ? UN_TRUE : UN_FALSE;
    } else if (gids_dtype_is_float(in)) {
        /* every remaining op has a float kernel */
    } else if (in == GIDS_BOOL && (op == GIDS_ABS || op == GIDS_SIGN)) {
        *kind = UN_COPY;
    } else if (is_rounding(op) && in != GIDS_BOOL) {
        *kind = UN_COPY;
    }
    if (*kind == UN_KERNEL)
        GIDS_CHECK(compute_supported(*compute), GIDS_EUNSUPPORTED,
                   "%s: dtype %s is not supported on CUDA yet (f32, f64, i64, i32, u8 and bool "
                   "only)",
                   name, gids_dtype_name(in));
    return GIDS_OK;
}

gids_status gc_unary(gids_tensor **out, gids_unop op, const gids_tensor *a) {
    const char *name = gids_unop_name(op);
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", name);
    GIDS_CHECK((unsigned)op < GIDS_NUNOPS, GIDS_EINVAL, "unary: unknown op %d", (int)op);
    GIDS_TRY(check_input(name, "arg 1", a));
    gids_dtype compute, result;
    un_kind kind;
    GIDS_TRY(unary_plan(op, a->dtype, &compute, &result, &kind));
    GIDS_TRY(gc_use_device(name, a));
    if (kind == UN_COPY) return gids_clone(out, a);
    if (kind != UN_KERNEL)
        return gids_full(out, result, gc_dev(a), a->ndim, a->shape, gids_scalar_i(kind == UN_TRUE));
    gc_ref ca, r;
    GIDS_TRY(as_dtype(name, &ca.t, a, compute)); /* integer inputs of exp, sqrt, ... give f32 */
    GIDS_TRY(gids_empty(&r.t, result, gc_dev(a), a->ndim, a->shape));
    un_args x = {};
    x.n = gids_tensor_numel(r.t);
    if (x.n > 0) {
        const gids_tensor *ts[2] = {r.t, ca.t};
        gc_layout l[2];
        gc_layouts(2, ts, a->ndim, a->shape, l);
        x.out = r.t, x.a = ca.t, x.lo = l[0], x.la = l[1];
        switch (compute) {
        case GIDS_F32: dispatch_unary<float>(op, x); break;
        case GIDS_F64: dispatch_unary<double>(op, x); break;
        case GIDS_I64: dispatch_unary<int64_t>(op, x); break;
        case GIDS_I32: dispatch_unary<int32_t>(op, x); break;
        case GIDS_U8: dispatch_unary<uint8_t>(op, x); break;
        default: dispatch_unary<bool>(op, x); break;
        }
        GC_LAUNCHED(name);
    }
    *out = r.take();
    return GIDS_OK;
}
