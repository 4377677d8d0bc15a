/* optim.cu -- fused Adam/AdamW and SGD updates on CUDA tensors (see gids/optim.h).
 *
 * The element update is the CPU's (runtime/src/cpu/optim.c) operation by operation, in the
 * parameter's dtype: the scalars are computed in double on the host and rounded once, and every
 * add, multiply, divide and square root is an explicitly rounded intrinsic, so nvcc cannot fuse
 * a multiply and an add into an FMA and the result matches the CPU's bit for bit.  Every tensor
 * must be contiguous, of the parameter's shape and dtype (f32 or f64), on one device.
 */
#include <math.h>

#include "cuda_impl.h"

/* ---------------------------------------------------------------- rounded arithmetic */
__device__ __forceinline__ float add_rn(float a, float b) {
    return __fadd_rn(a, b);
}
__device__ __forceinline__ float sub_rn(float a, float b) {
    return __fsub_rn(a, b);
}
__device__ __forceinline__ float mul_rn(float a, float b) {
    return __fmul_rn(a, b);
}
__device__ __forceinline__ float div_rn(float a, float b) {
    return __fdiv_rn(a, b);
}
__device__ __forceinline__ float sqrt_rn(float a) {
    return __fsqrt_rn(a);
}
__device__ __forceinline__ float max_(float a, float b) {
    return fmaxf(a, b);
}
__device__ __forceinline__ double add_rn(double a, double b) {
    return __dadd_rn(a, b);
}
__device__ __forceinline__ double sub_rn(double a, double b) {
    return __dsub_rn(a, b);
}
__device__ __forceinline__ double mul_rn(double a, double b) {
    return __dmul_rn(a, b);
}
__device__ __forceinline__ double div_rn(double a, double b) {
    return __ddiv_rn(a, b);
}
__device__ __forceinline__ double sqrt_rn(double a) {
    return __dsqrt_rn(a);
}
__device__ __forceinline__ double max_(double a, double b) {
    return fmax(a, b);
}

/* ---------------------------------------------------------------- checks (as the CPU) */
static void bump_version(gids_tensor *t) {
    __atomic_add_fetch(&t->storage->version, 1, __ATOMIC_RELAXED);
}

static gids_status check_param_(const char *op, const gids_tensor *param) {
    GIDS_CHECK(param != nullptr, GIDS_EINVAL, "%s: param is NULL", op);
    GIDS_CHECK(param->dtype == GIDS_F32 || param->dtype == GIDS_F64, GIDS_EDTYPE,
               "%s: parameters must be f32 or f64, got %s", op, gids_dtype_name(param->dtype));
    GIDS_CHECK(gids_tensor_is_contiguous(param), GIDS_EINVAL, "%s: param must be contiguous", op);
    return GIDS_OK;
}

static gids_status check_like_(const char *op, const char *what, const gids_tensor *t,
                               const gids_tensor *param) {
    GIDS_CHECK(t != nullptr, GIDS_EINVAL, "%s: %s is NULL", op, what);
    if (!gids_device_eq(gc_dev(t), gc_dev(param))) {
        char a[16], b[16];
        GIDS_FAIL(GIDS_EDEVICE, "%s: %s is on %s, expected the parameter's %s", op, what,
                  gids_device_str(gc_dev(t), a, sizeof a),
                  gids_device_str(gc_dev(param), b, sizeof b));
    }
    char a[160], b[160];
    bool same = t->ndim == param->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == param->shape[d];
    GIDS_CHECK(same, GIDS_ESHAPE, "%s: %s has shape %s, expected the parameter's %s", op, what,
               gids_shape_str(t->ndim, t->shape, a, sizeof a),
               gids_shape_str(param->ndim, param->shape, b, sizeof b));
    GIDS_CHECK(t->dtype == param->dtype, GIDS_EDTYPE, "%s: %s has dtype %s, expected %s", op, what,
               gids_dtype_name(t->dtype), gids_dtype_name(param->dtype));
    GIDS_CHECK(gids_tensor_is_contiguous(t), GIDS_EINVAL, "%s: %s must be contiguous", op, what);
    return GIDS_OK;
}

/* ---------------------------------------------------------------- Adam / AdamW */
template <typename T> struct adam_scalars {
    T b2, eps, wd, one_b1, one_b2, bc2_sqrt, step_size, decay;
    bool decoupled, maximize;
};

template <typename T>
__global__ void adam_kernel(T *p, const T *g, T *m, T *v, T *vmax, adam_scalars<T> c, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        T gi = c.maximize ? -g[i] : g[i];
        T pi = p[i];
        if (c.wd != 0) {
            if (c.decoupled)
                pi = mul_rn(pi, c.decay);
            else
                gi = add_rn(gi, mul_rn(c.wd, pi));
        }
        T mi = add_rn(m[i], mul_rn(c.one_b1, sub_rn(gi, m[i])));
        T vi = add_rn(mul_rn(v[i], c.b2), mul_rn(mul_rn(c.one_b2, gi), gi));
        m[i] = mi;
        v[i] = vi;
        if (vmax != nullptr) vi = vmax[i] = max_(vmax[i], vi);
        T denom = add_rn(div_rn(sqrt_rn(vi), c.bc2_sqrt), c.eps);
        p[i] = sub_rn(pi, mul_rn(c.step_size, div_rn(mi, denom)));
    }
}

template <typename T>
static void launch_adam(gids_tensor *param, const gids_tensor *grad, gids_tensor *exp_avg,
                        gids_tensor *exp_avg_sq, gids_tensor *max_exp_avg_sq,
                        const gids_adam_cfg *cfg, int64_t n) {
    adam_scalars<T> c;
    /* Scalars in double, rounded once, as torch computes them in Python. */
    c.b2 = (T)cfg->beta2;
    c.eps = (T)cfg->eps;
    c.wd = (T)cfg->weight_decay;
    c.one_b1 = (T)(1.0 - cfg->beta1);
    c.one_b2 = (T)(1.0 - cfg->beta2);
    c.bc2_sqrt = (T)sqrt(1.0 - pow(cfg->beta2, (double)cfg->step));
    c.step_size = (T)(cfg->lr / (1.0 - pow(cfg->beta1, (double)cfg->step)));
    c.decay = (T)(1.0 - cfg->lr * cfg->weight_decay);
    c.decoupled = cfg->decoupled;
    c.maximize = cfg->maximize;
    adam_kernel<T><<<gc_blocks(n), GC_THREADS, 0, gc_stream()>>>(
        (T *)gids_tensor_data(param), (const T *)gids_tensor_data(grad),
        (T *)gids_tensor_data(exp_avg), (T *)gids_tensor_data(exp_avg_sq),
        cfg->amsgrad ? (T *)gids_tensor_data(max_exp_avg_sq) : nullptr, c, n);
}

gids_status gc_adam_step_(gids_tensor *param, const gids_tensor *grad, gids_tensor *exp_avg,
                          gids_tensor *exp_avg_sq, gids_tensor *max_exp_avg_sq,
                          const gids_adam_cfg *cfg) {
    GIDS_CHECK(cfg != nullptr, GIDS_EINVAL, "adam_step_: cfg is NULL");
    const char *op = cfg->decoupled ? "adamw_step_" : "adam_step_";
    GIDS_TRY(check_param_(op, param));
    GIDS_TRY(check_like_(op, "grad", grad, param));
    GIDS_TRY(check_like_(op, "exp_avg", exp_avg, param));
    GIDS_TRY(check_like_(op, "exp_avg_sq", exp_avg_sq, param));
    if (cfg->amsgrad) {
        GIDS_CHECK(max_exp_avg_sq != nullptr, GIDS_EINVAL, "%s: amsgrad needs max_exp_avg_sq", op);
        GIDS_TRY(check_like_(op, "max_exp_avg_sq", max_exp_avg_sq, param));
    }
    GIDS_CHECK(cfg->step >= 1, GIDS_EINVAL, "%s: step must be >= 1, got %lld", op,
               (long long)cfg->step);
    GIDS_CHECK(cfg->lr >= 0 && cfg->eps >= 0 && cfg->beta1 >= 0 && cfg->beta1 < 1 &&
                   cfg->beta2 >= 0 && cfg->beta2 < 1,
               GIDS_EINVAL,
               "%s: need lr >= 0, eps >= 0 and betas in [0, 1), got lr %g eps %g betas %g %g", op,
               cfg->lr, cfg->eps, cfg->beta1, cfg->beta2);
    GIDS_TRY(gc_use_device(op, param));
    int64_t n = gids_tensor_numel(param);
    if (n > 0) {
        if (param->dtype == GIDS_F32)
            launch_adam<float>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, cfg, n);
        else
            launch_adam<double>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, cfg, n);
        GC_LAUNCHED(op);
    }
    bump_version(param);
    bump_version(exp_avg);
    bump_version(exp_avg_sq);
    if (cfg->amsgrad) bump_version(max_exp_avg_sq);
    return GIDS_OK;
}

/* ---------------------------------------------------------------- SGD */
template <typename T> struct sgd_scalars {
    T lr, mom, wd, damp;
    bool maximize, nesterov, first;
};

template <typename T>
__global__ void sgd_kernel(T *p, const T *g, T *buf, sgd_scalars<T> c, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        T d = c.maximize ? -g[i] : g[i];
        T pi = p[i];
        if (c.wd != 0) d = add_rn(d, mul_rn(c.wd, pi));
        if (c.mom != 0) {
            T b = c.first ? d : add_rn(mul_rn(buf[i], c.mom), mul_rn(c.damp, d));
            buf[i] = b;
            d = c.nesterov ? add_rn(d, mul_rn(c.mom, b)) : b;
        }
        p[i] = sub_rn(pi, mul_rn(c.lr, d));
    }
}

template <typename T>
static void launch_sgd(gids_tensor *param, const gids_tensor *grad, gids_tensor *momentum_buf,
                       const gids_sgd_cfg *cfg, int64_t n) {
    sgd_scalars<T> c;
    c.lr = (T)cfg->lr;
    c.mom = (T)cfg->momentum;
    c.wd = (T)cfg->weight_decay;
    c.damp = (T)(1.0 - cfg->dampening);
    c.maximize = cfg->maximize;
    c.nesterov = cfg->nesterov;
    c.first = cfg->first;
    /* The CPU reads the buffer only when (T)momentum != 0. */
    T *buf = c.mom != 0 ? (T *)gids_tensor_data(momentum_buf) : nullptr;
    sgd_kernel<T><<<gc_blocks(n), GC_THREADS, 0, gc_stream()>>>(
        (T *)gids_tensor_data(param), (const T *)gids_tensor_data(grad), buf, c, n);
}

gids_status gc_sgd_step_(gids_tensor *param, const gids_tensor *grad, gids_tensor *momentum_buf,
                         const gids_sgd_cfg *cfg) {
    const char *op = "sgd_step_";
    GIDS_CHECK(cfg != nullptr, GIDS_EINVAL, "%s: cfg is NULL", op);
    GIDS_TRY(check_param_(op, param));
    GIDS_TRY(check_like_(op, "grad", grad, param));
    if (cfg->momentum != 0) {
        GIDS_CHECK(momentum_buf != nullptr, GIDS_EINVAL, "%s: momentum needs a momentum buffer",
                   op);
        GIDS_TRY(check_like_(op, "momentum_buf", momentum_buf, param));
    }
    GIDS_CHECK(!cfg->nesterov || (cfg->momentum > 0 && cfg->dampening == 0), GIDS_EINVAL,
               "%s: nesterov needs momentum > 0 and dampening 0", op);
    GIDS_CHECK(cfg->lr >= 0 && cfg->momentum >= 0, GIDS_EINVAL,
               "%s: need lr >= 0 and momentum >= 0, got lr %g momentum %g", op, cfg->lr,
               cfg->momentum);
    GIDS_TRY(gc_use_device(op, param));
    int64_t n = gids_tensor_numel(param);
    if (n > 0) {
        if (param->dtype == GIDS_F32)
            launch_sgd<float>(param, grad, momentum_buf, cfg, n);
        else
            launch_sgd<double>(param, grad, momentum_buf, cfg, n);
        GC_LAUNCHED(op);
    }
    bump_version(param);
    if (cfg->momentum != 0) bump_version(momentum_buf);
    return GIDS_OK;
}
