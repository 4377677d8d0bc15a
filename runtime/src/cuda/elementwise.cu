/* elementwise.cu -- binary (tensor op tensor, tensor op scalar) and unary ops on CUDA tensors.
 *
 * Dtypes follow the CPU exactly: the promoted dtype (PyTorch's rule, where a 0-d tensor only
 * decides when its category is higher), then gids_binop_result_dtype / gids_unop_result_dtype.
 * Kernels compute in f32 or f64; an input of another dtype is first converted on the device.
 * Other compute dtypes and ops not listed below are EUNSUPPORTED, naming op and dtype.
 * Broadcast and strided inputs are read through gc_layout (int64 index math).
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
static gids_dtype promote_scalar(const gids_tensor *a, gids_scalar s) {
    gids_dtype sd = a->dtype;
    if (!s.is_int && !gids_dtype_is_float(a->dtype)) sd = GIDS_F32;
    if (s.is_int && a->dtype == GIDS_BOOL) sd = GIDS_I64;
    if (a->ndim == 0) return gids_promote(a->dtype, sd);
    return category(sd) > category(a->dtype) ? sd : a->dtype;
}

static bool is_compare(gids_binop op) {
    return op == GIDS_EQ || op == GIDS_NE || op == GIDS_LT || op == GIDS_LE || op == GIDS_GT ||
           op == GIDS_GE;
}

static bool binop_supported(gids_binop op) {
    return op == GIDS_ADD || op == GIDS_SUB || op == GIDS_MUL || op == GIDS_DIV ||
           op == GIDS_MAXIMUM || op == GIDS_MINIMUM || is_compare(op);
}

/* Compute and result dtypes of op on operands promoted to p, or EUNSUPPORTED. */
static gids_status binop_plan(gids_binop op, gids_dtype p, gids_dtype *compute,
                              gids_dtype *result) {
    const char *name = gids_binop_name(op);
    GIDS_TRY(gids_binop_result_dtype(op, p, p, result));
    *compute = is_compare(op) ? p : *result;
    GIDS_CHECK(binop_supported(op), GIDS_EUNSUPPORTED, "%s: not implemented on CUDA yet", name);
    GIDS_CHECK(*compute == GIDS_F32 || *compute == GIDS_F64, GIDS_EUNSUPPORTED,
               "%s: dtype %s is not supported on CUDA yet (f32 and f64 only)", name,
               gids_dtype_name(*compute));
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
template <int OP, typename T> __device__ __forceinline__ auto bin(T a, T b) {
    if constexpr (OP == GIDS_ADD)
        return a + b;
    else if constexpr (OP == GIDS_SUB)
        return a - b;
    else if constexpr (OP == GIDS_MUL)
        return a * b;
    else if constexpr (OP == GIDS_DIV)
        return a / b;
    /* NaN wins, as torch.maximum / torch.minimum. */
    else if constexpr (OP == GIDS_MAXIMUM)
        return (a > b || a != a) ? a : b;
    else if constexpr (OP == GIDS_MINIMUM)
        return (a < b || a != a) ? a : b;
    else if constexpr (OP == GIDS_EQ)
        return (uint8_t)(a == b);
    else if constexpr (OP == GIDS_NE)
        return (uint8_t)(a != b);
    else if constexpr (OP == GIDS_LT)
        return (uint8_t)(a < b);
    else if constexpr (OP == GIDS_LE)
        return (uint8_t)(a <= b);
    else if constexpr (OP == GIDS_GT)
        return (uint8_t)(a > b);
    else
        return (uint8_t)(a >= b); /* GIDS_GE */
}

template <int OP, typename T, typename TO>
__global__ void binary_kernel(TO *o, gc_layout lo, const T *a, gc_layout la, const T *b,
                              gc_layout lb, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        o[gc_offset(lo, i)] = (TO)bin<OP, T>(a[gc_offset(la, i)], b[gc_offset(lb, i)]);
}

template <int OP, typename T, typename TO>
__global__ void binary_scalar_kernel(TO *o, gc_layout lo, const T *a, gc_layout la, T s,
                                     bool reversed, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        T x = a[gc_offset(la, i)];
        o[gc_offset(lo, i)] = (TO)(reversed ? bin<OP, T>(s, x) : bin<OP, T>(x, s));
    }
}

/* Operands of one launch: out, a and b (b NULL for the scalar form) with their layouts. */
struct ew_args {
    gids_tensor *out;
    const gids_tensor *a, *b;
    gc_layout lo, la, lb;
    int64_t n;
    double s;
    bool reversed;
};

template <int OP, typename T> static void launch_binary(const ew_args &x) {
    constexpr bool cmp = OP == GIDS_EQ || OP == GIDS_NE || OP == GIDS_LT || OP == GIDS_LE ||
                         OP == GIDS_GT || OP == GIDS_GE;
    typedef typename std::conditional<cmp, uint8_t, T>::type TO;
    TO *o = (TO *)gids_tensor_data(x.out);
    const T *a = (const T *)gids_tensor_data(x.a);
    if (x.b != nullptr)
        binary_kernel<OP, T, TO><<<gc_blocks(x.n), GC_THREADS>>>(
            o, x.lo, a, x.la, (const T *)gids_tensor_data(x.b), x.lb, x.n);
    else
        binary_scalar_kernel<OP, T, TO>
            <<<gc_blocks(x.n), GC_THREADS>>>(o, x.lo, a, x.la, (T)x.s, x.reversed, x.n);
}

template <typename T> static void dispatch_binary(gids_binop op, const ew_args &x) {
    switch (op) {
    case GIDS_ADD: launch_binary<GIDS_ADD, T>(x); break;
    case GIDS_SUB: launch_binary<GIDS_SUB, T>(x); break;
    case GIDS_MUL: launch_binary<GIDS_MUL, T>(x); break;
    case GIDS_DIV: launch_binary<GIDS_DIV, T>(x); break;
    case GIDS_MAXIMUM: launch_binary<GIDS_MAXIMUM, T>(x); break;
    case GIDS_MINIMUM: launch_binary<GIDS_MINIMUM, T>(x); break;
    case GIDS_EQ: launch_binary<GIDS_EQ, T>(x); break;
    case GIDS_NE: launch_binary<GIDS_NE, T>(x); break;
    case GIDS_LT: launch_binary<GIDS_LT, T>(x); break;
    case GIDS_LE: launch_binary<GIDS_LE, T>(x); break;
    case GIDS_GT: launch_binary<GIDS_GT, T>(x); break;
    default: launch_binary<GIDS_GE, T>(x); break; /* binop_plan admitted only these */
    }
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
        if (compute == GIDS_F32)
            dispatch_binary<float>(op, x);
        else
            dispatch_binary<double>(op, x);
        GC_LAUNCHED(name);
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
        /* The CPU stores the number in its wrapped dtype first: an integer stays exact there,
         * then converts to the compute dtype, as here. */
        x.s = s.is_int ? (double)s.i : s.f;
        x.reversed = reversed;
        if (compute == GIDS_F32)
            dispatch_binary<float>(op, x);
        else
            dispatch_binary<double>(op, x);
        GC_LAUNCHED(name);
    }
    *out = r.take();
    return GIDS_OK;
}

/* ---------------------------------------------------------------- unary */
template <int OP> __device__ __forceinline__ float un(float x) {
    if constexpr (OP == GIDS_NEG)
        return -x;
    else if constexpr (OP == GIDS_ABS)
        return fabsf(x);
    else if constexpr (OP == GIDS_EXP)
        return expf(x);
    else if constexpr (OP == GIDS_LOG)
        return logf(x);
    else if constexpr (OP == GIDS_SQRT)
        return sqrtf(x);
    else if constexpr (OP == GIDS_TANH)
        return tanhf(x);
    else if constexpr (OP == GIDS_SIGMOID)
        return 1.0f / (1.0f + expf(-x));
    else
        return x < 0.0f ? 0.0f : x; /* RELU: NaN passes through, as torch.relu */
}

template <int OP> __device__ __forceinline__ double un(double x) {
    if constexpr (OP == GIDS_NEG)
        return -x;
    else if constexpr (OP == GIDS_ABS)
        return fabs(x);
    else if constexpr (OP == GIDS_EXP)
        return exp(x);
    else if constexpr (OP == GIDS_LOG)
        return log(x);
    else if constexpr (OP == GIDS_SQRT)
        return sqrt(x);
    else if constexpr (OP == GIDS_TANH)
        return tanh(x);
    else if constexpr (OP == GIDS_SIGMOID)
        return 1.0 / (1.0 + exp(-x));
    else
        return x < 0.0 ? 0.0 : x;
}

template <int OP, typename T>
__global__ void unary_kernel(T *o, gc_layout lo, const T *a, gc_layout la, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        o[gc_offset(lo, i)] = un<OP>(a[gc_offset(la, i)]);
}

template <int OP, typename T>
static void launch_unary(T *o, const gc_layout &lo, const T *a, const gc_layout &la, int64_t n) {
    unary_kernel<OP, T><<<gc_blocks(n), GC_THREADS>>>(o, lo, a, la, n);
}

template <typename T>
static void dispatch_unary(gids_unop op, T *o, const gc_layout &lo, const T *a, const gc_layout &la,
                           int64_t n) {
    switch (op) {
    case GIDS_NEG: launch_unary<GIDS_NEG>(o, lo, a, la, n); break;
    case GIDS_ABS: launch_unary<GIDS_ABS>(o, lo, a, la, n); break;
    case GIDS_EXP: launch_unary<GIDS_EXP>(o, lo, a, la, n); break;
    case GIDS_LOG: launch_unary<GIDS_LOG>(o, lo, a, la, n); break;
    case GIDS_SQRT: launch_unary<GIDS_SQRT>(o, lo, a, la, n); break;
    case GIDS_TANH: launch_unary<GIDS_TANH>(o, lo, a, la, n); break;
    case GIDS_SIGMOID: launch_unary<GIDS_SIGMOID>(o, lo, a, la, n); break;
    default: launch_unary<GIDS_RELU>(o, lo, a, la, n); break; /* unary admitted only these */
    }
}

static bool unop_supported(gids_unop op) {
    return op == GIDS_NEG || op == GIDS_ABS || op == GIDS_EXP || op == GIDS_LOG ||
           op == GIDS_SQRT || op == GIDS_TANH || op == GIDS_SIGMOID || op == GIDS_RELU;
}

gids_status gc_unary(gids_tensor **out, gids_unop op, const gids_tensor *a) {
    const char *name = gids_unop_name(op);
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", name);
    GIDS_CHECK((unsigned)op < GIDS_NUNOPS, GIDS_EINVAL, "unary: unknown op %d", (int)op);
    GIDS_TRY(check_input(name, "arg 1", a));
    gids_dtype result;
    GIDS_TRY(gids_unop_result_dtype(op, a->dtype, &result));
    GIDS_CHECK(unop_supported(op), GIDS_EUNSUPPORTED, "%s: not implemented on CUDA yet", name);
    GIDS_CHECK(result == GIDS_F32 || result == GIDS_F64, GIDS_EUNSUPPORTED,
               "%s: dtype %s is not supported on CUDA yet (f32 and f64 only)", name,
               gids_dtype_name(a->dtype));
    GIDS_TRY(gc_use_device(name, a));
    gc_ref ca, r;
    GIDS_TRY(as_dtype(name, &ca.t, a, result)); /* integer inputs of exp, sqrt, ... give f32 */
    GIDS_TRY(gids_empty(&r.t, result, gc_dev(a), a->ndim, a->shape));
    int64_t n = gids_tensor_numel(r.t);
    if (n > 0) {
        const gids_tensor *ts[2] = {r.t, ca.t};
        gc_layout l[2];
        gc_layouts(2, ts, a->ndim, a->shape, l);
        if (result == GIDS_F32)
            dispatch_unary<float>(op, (float *)gids_tensor_data(r.t), l[0],
                                  (const float *)gids_tensor_data(ca.t), l[1], n);
        else
            dispatch_unary<double>(op, (double *)gids_tensor_data(r.t), l[0],
                                   (const double *)gids_tensor_data(ca.t), l[1], n);
        GC_LAUNCHED(name);
    }
    *out = r.take();
    return GIDS_OK;
}
