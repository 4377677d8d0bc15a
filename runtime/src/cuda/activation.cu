/* activation.cu -- leaky_relu, elu, softplus, clamp and where on CUDA tensors.
 *
 * Semantics are the CPU's (runtime/src/cpu/activation.c): the activations compute in the
 * input's float dtype (integer and bool inputs give f32) with their parameters rounded once to
 * that dtype; clamp keeps integer dtypes when its bounds are integers (bounds limited to the
 * element type's range first); where promotes a and b as the binary ops do and selects
 * elements, so it serves every dtype.  Inputs may be strided or broadcast (gc_layout); the
 * activations of contiguous, aligned tensors move 16-byte packs (gc_map1).
 */
#include <math.h>

#include <type_traits>

#include "cuda_impl.h"

/* ---------------------------------------------------------------- shared */
static int category(gids_dtype dt) {
    if (dt == GIDS_BOOL) return 0;
    return gids_dtype_is_float(dt) ? 2 : 1;
}

/* PyTorch's result type of two tensors (a 0-d tensor decides only with a higher category). */
static gids_dtype promote_tensors(const gids_tensor *a, const gids_tensor *b) {
    bool za = a->ndim == 0, zb = b->ndim == 0;
    if (za == zb) return gids_promote(a->dtype, b->dtype);
    const gids_tensor *dimmed = za ? b : a, *zero = za ? a : b;
    return category(zero->dtype) > category(dimmed->dtype) ? zero->dtype : dimmed->dtype;
}

/* The dtype a number takes next to a tensor of dtype t (a wrapped number). */
static gids_dtype scalar_dtype(gids_dtype t, gids_scalar s) {
    if (!s.is_int && !gids_dtype_is_float(t)) return GIDS_F32;
    if (s.is_int && t == GIDS_BOOL) return GIDS_I64;
    return t;
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

#define GC_GRID_LOOP(i, n)                                                                         \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n);                      \
         i += (int64_t)gridDim.x * blockDim.x)

/* ---------------------------------------------------------------- activations */
enum { ACT_LEAKY_RELU, ACT_ELU, ACT_SOFTPLUS };

template <int OP, typename T> __device__ __forceinline__ T act(T x, T p0, T p1) {
    constexpr bool D = std::is_same<T, double>::value;
    if constexpr (OP == ACT_LEAKY_RELU) {
        return x > 0 ? x : x * p0; /* NaN stays NaN */
    } else if constexpr (OP == ACT_ELU) {
        return x > 0 ? x : p0 * (D ? (T)expm1((double)x) : (T)expm1f((float)x));
    } else { /* softplus: linear where beta * x exceeds the threshold; below it
              * max(y, 0) + log1p(e^-|y|), finite where e^y overflows (as the CPU's) */
        T y = x * p0;
        if (y > p1) return x;
        T l = D ? (T)(fmax((double)y, 0.0) + log1p(exp(-fabs((double)y))))
                : (T)(fmaxf((float)y, 0.0f) + log1pf(expf(-fabsf((float)y))));
        return l / p0;
    }
}

template <int OP, typename T>
__global__ void act_kernel(T *o, gc_layout lo, const T *a, gc_layout la, T p0, T p1, int64_t n) {
    gc_elementwise<T>(
        n, [&](int64_t i) { return act<OP, T>(a[gc_offset(la, i)], p0, p1); },
        [&](int64_t i, T v) { o[gc_offset(lo, i)] = v; });
}

template <int OP, typename T>
__global__ void act_vec_kernel(T *o, const T *a, T p0, T p1, int64_t n) {
    gc_map1<gc_vec_width<T>>(o, a, n, [=](T x) { return act<OP, T>(x, p0, p1); });
}

/* The contiguous, aligned case in 16-byte packs (cuda_impl.h), else through the layouts. */
template <int OP, typename T>
static void launch_activation(T *o, const gc_layout &lo, const T *a, const gc_layout &la, T p0,
                              T p1, int64_t n) {
    constexpr int V = gc_vec_width<T>;
    if (gc_vec_ok(lo, o, V * sizeof(T)) && gc_vec_ok(la, a, V * sizeof(T)))
        act_vec_kernel<OP, T><<<gc_vec_blocks(n, V), GC_THREADS, 0, gc_stream()>>>(o, a, p0, p1, n);
    else
        act_kernel<OP, T><<<gc_blocks(n), GC_THREADS, 0, gc_stream()>>>(o, lo, a, la, p0, p1, n);
}

template <int OP>
static gids_status run_activation(gids_tensor **out, const char *name, const gids_tensor *a,
                                  double p0, double p1) {
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", name);
    GIDS_CHECK(a != nullptr, GIDS_EINVAL, "%s: arg 1 is NULL", name);
    gids_dtype dt = gids_dtype_is_float(a->dtype) ? a->dtype : GIDS_F32;
    GIDS_TRY(gids_refuse_dtype(GIDS_DR_FLOAT, name, dt)); /* dt is a->dtype where refused */
    GIDS_TRY(gc_use_device(name, a));
    gc_ref ca, r;
    GIDS_TRY(as_dtype(name, &ca.t, a, dt));
    GIDS_TRY(gids_empty(&r.t, dt, gc_dev(a), a->ndim, a->shape));
    int64_t n = gids_tensor_numel(r.t);
    if (n > 0) {
        const gids_tensor *ts[2] = {r.t, ca.t};
        gc_layout l[2];
        gc_layouts(2, ts, a->ndim, a->shape, l);
        if (dt == GIDS_F32)
            launch_activation<OP, float>((float *)gids_tensor_data(r.t), l[0],
                                         (const float *)gids_tensor_data(ca.t), l[1], (float)p0,
                                         (float)p1, n);
        else
            launch_activation<OP, double>((double *)gids_tensor_data(r.t), l[0],
                                          (const double *)gids_tensor_data(ca.t), l[1], p0, p1, n);
        GC_LAUNCHED(name);
    }
    *out = r.take();
    return GIDS_OK;
}

gids_status gc_leaky_relu(gids_tensor **out, const gids_tensor *a, double negative_slope) {
    return run_activation<ACT_LEAKY_RELU>(out, "leaky_relu", a, negative_slope, 0);
}

gids_status gc_elu(gids_tensor **out, const gids_tensor *a, double alpha) {
    return run_activation<ACT_ELU>(out, "elu", a, alpha, 0);
}

gids_status gc_softplus(gids_tensor **out, const gids_tensor *a, double beta, double threshold) {
    GIDS_CHECK(beta != 0 && beta == beta, GIDS_EINVAL, "softplus: beta must be non-zero, got %g",
               beta);
    return run_activation<ACT_SOFTPLUS>(out, "softplus", a, beta, threshold);
}

/* ---------------------------------------------------------------- clamp */
/* y = max(x, lo) then min(y, hi): with lo > hi every element becomes hi; NaN passes through. */
template <typename T>
__global__ void clamp_kernel(T *o, gc_layout lo_, const T *a, gc_layout la, T lo, T hi, int64_t n) {
    GC_GRID_LOOP(i, n) {
        T x = a[gc_offset(la, i)];
        T y = x < lo ? lo : x;
        o[gc_offset(lo_, i)] = y > hi ? hi : y;
    }
}

template <typename T>
static void launch_clamp(gids_tensor *r, const gc_layout &lr, const gids_tensor *a,
                         const gc_layout &la, T lo, T hi, int64_t n) {
    clamp_kernel<T><<<gc_blocks(n), GC_THREADS, 0, gc_stream()>>>(
        (T *)gids_tensor_data(r), lr, (const T *)gids_tensor_data(a), la, lo, hi, n);
}

static double scalar_f(gids_scalar s) {
    return s.is_int ? (double)s.i : s.f;
}

gids_status gc_clamp(gids_tensor **out, const gids_tensor *a, const gids_scalar *min,
                     const gids_scalar *max) {
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "clamp: out is NULL");
    GIDS_CHECK(a != nullptr, GIDS_EINVAL, "clamp: arg 1 is NULL");
    GIDS_CHECK(min || max, GIDS_EINVAL, "clamp: at least one of min and max must be given");
    gids_dtype dt = a->dtype;
    if (min) dt = gids_promote(dt, scalar_dtype(a->dtype, *min));
    if (max) dt = gids_promote(dt, scalar_dtype(a->dtype, *max));
    if (dt == GIDS_BOOL) dt = GIDS_I64;
    GIDS_TRY(gids_refuse_dtype(GIDS_DR_CLAMP, "clamp", dt));

    /* Integer bounds are limited to the element type's range first (u8 clamp(-5, 3) is
     * clamp(0, 3), not a wrapped bound). */
    double flo = -INFINITY, fhi = INFINITY;
    int64_t tmin = dt == GIDS_I32 ? INT32_MIN : dt == GIDS_U8 ? 0 : INT64_MIN;
    int64_t tmax = dt == GIDS_I32 ? INT32_MAX : dt == GIDS_U8 ? 255 : INT64_MAX;
    int64_t ilo = tmin, ihi = tmax;
    if (min) {
        flo = scalar_f(*min);
        if (min->is_int) ilo = min->i < tmin ? tmin : min->i > tmax ? tmax : min->i;
    }
    if (max) {
        fhi = scalar_f(*max);
        if (max->is_int) ihi = max->i < tmin ? tmin : max->i > tmax ? tmax : max->i;
    }

    GIDS_TRY(gc_use_device("clamp", a));
    gc_ref ca, r;
    GIDS_TRY(as_dtype("clamp", &ca.t, a, dt));
    GIDS_TRY(gids_empty(&r.t, dt, gc_dev(a), a->ndim, a->shape));
    int64_t n = gids_tensor_numel(r.t);
    if (n > 0) {
        const gids_tensor *ts[2] = {r.t, ca.t};
        gc_layout l[2];
        gc_layouts(2, ts, a->ndim, a->shape, l);
        switch (dt) {
        case GIDS_F32: launch_clamp<float>(r.t, l[0], ca.t, l[1], (float)flo, (float)fhi, n); break;
        case GIDS_F64: launch_clamp<double>(r.t, l[0], ca.t, l[1], flo, fhi, n); break;
        case GIDS_I64: launch_clamp<int64_t>(r.t, l[0], ca.t, l[1], ilo, ihi, n); break;
        case GIDS_I32:
            launch_clamp<int32_t>(r.t, l[0], ca.t, l[1], (int32_t)ilo, (int32_t)ihi, n);
            break;
        default: launch_clamp<uint8_t>(r.t, l[0], ca.t, l[1], (uint8_t)ilo, (uint8_t)ihi, n); break;
        }
        GC_LAUNCHED("clamp");
    }
    *out = r.take();
    return GIDS_OK;
}

/* ---------------------------------------------------------------- where */
/* Elements are moved as unsigned integers of their width: a selection needs no arithmetic. */
template <typename T>
__global__ void where_kernel(T *o, gc_layout lo, const uint8_t *c, gc_layout lc, const T *a,
                             gc_layout la, const T *b, gc_layout lb, int64_t n) {
    gc_elementwise<T>(
        n,
        [&](int64_t i) { return c[gc_offset(lc, i)] ? a[gc_offset(la, i)] : b[gc_offset(lb, i)]; },
        [&](int64_t i, T v) { o[gc_offset(lo, i)] = v; });
}

template <typename T>
static void launch_where(const gids_tensor *const *ts, const gc_layout *l, int64_t n) {
    where_kernel<T><<<gc_blocks(n), GC_THREADS, 0, gc_stream()>>>(
        (T *)gids_tensor_data(ts[0]), l[0], (const uint8_t *)gids_tensor_data(ts[1]), l[1],
        (const T *)gids_tensor_data(ts[2]), l[2], (const T *)gids_tensor_data(ts[3]), l[3], n);
}

gids_status gc_where(gids_tensor **out, const gids_tensor *cond, const gids_tensor *a,
                     const gids_tensor *b) {
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "where: out is NULL");
    GIDS_CHECK(cond != nullptr, GIDS_EINVAL, "where: condition is NULL");
    GIDS_CHECK(a != nullptr, GIDS_EINVAL, "where: arg 2 is NULL");
    GIDS_CHECK(b != nullptr, GIDS_EINVAL, "where: arg 3 is NULL");
    GIDS_CHECK(cond->dtype == GIDS_BOOL || cond->dtype == GIDS_U8, GIDS_EDTYPE,
               "where: condition must be bool (or u8), got %s", gids_dtype_name(cond->dtype));
    int n1, nd;
    int64_t s1[GIDS_MAX_DIMS], shape[GIDS_MAX_DIMS];
    GIDS_TRY(gids_broadcast_shapes("where", cond->ndim, cond->shape, a->ndim, a->shape, &n1, s1));
    GIDS_TRY(gids_broadcast_shapes("where", n1, s1, b->ndim, b->shape, &nd, shape));

    gids_dtype dt = promote_tensors(a, b);
    GIDS_TRY(gc_use_device("where", cond));
    gc_ref ca, cb, r;
    GIDS_TRY(as_dtype("where", &ca.t, a, dt));
    GIDS_TRY(as_dtype("where", &cb.t, b, dt));
    GIDS_TRY(gids_empty(&r.t, dt, gc_dev(cond), nd, shape));
    int64_t n = gids_tensor_numel(r.t);
    if (n > 0) {
        const gids_tensor *ts[4] = {r.t, cond, ca.t, cb.t};
        gc_layout l[4];
        gc_layouts(4, ts, nd, shape, l);
        switch (gids_dtype_size(dt)) {
        case 1: launch_where<uint8_t>(ts, l, n); break;
        case 2: launch_where<uint16_t>(ts, l, n); break;
        case 4: launch_where<uint32_t>(ts, l, n); break;
        default: launch_where<uint64_t>(ts, l, n); break;
        }
        GC_LAUNCHED("where");
    }
    *out = r.take();
    return GIDS_OK;
}
