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
    T rest; /* 1 - one_b1: torch's lerp from the far end when one_b1 >= 0.5 (the CPU's) */
    bool decoupled, maximize, far;
};

/* Element i of one parameter's update (the CPU's arithmetic, rounded step by step). */
template <typename T>
__device__ __forceinline__ void adam_elem(T *p, const T *g, T *m, T *v, T *vmax,
                                          const adam_scalars<T> &c, T bc2_sqrt, T step_size,
                                          int64_t i) {
    T gi = c.maximize ? -g[i] : g[i];
    T pi = p[i];
    if (c.wd != 0) {
        if (c.decoupled)
            pi = mul_rn(pi, c.decay);
        else
            gi = add_rn(gi, mul_rn(c.wd, pi));
    }
    T mi = c.far ? sub_rn(gi, mul_rn(sub_rn(gi, m[i]), c.rest))
                 : add_rn(m[i], mul_rn(c.one_b1, sub_rn(gi, m[i])));
    T vi = add_rn(mul_rn(v[i], c.b2), mul_rn(mul_rn(c.one_b2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    if (vmax != nullptr) vi = vmax[i] = max_(vmax[i], vi);
    T denom = add_rn(div_rn(sqrt_rn(vi), bc2_sqrt), c.eps);
    p[i] = sub_rn(pi, mul_rn(step_size, div_rn(mi, denom)));
}

template <typename T>
__global__ void adam_kernel(T *p, const T *g, T *m, T *v, T *vmax, adam_scalars<T> c, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        adam_elem(p, g, m, v, vmax, c, c.bc2_sqrt, c.step_size, i);
}

/* Up to ADAM_LIST parameters in one launch, passed by value (3.3 KiB for f64, under the 4 KiB
 * of kernel parameters): parameter k owns blocks [first[k], first[k + 1]), each block
 * ADAM_BLOCK_ELEMS consecutive elements of it. */
#define ADAM_LIST 48
#define ADAM_BLOCK_ELEMS (4 * GC_THREADS)
template <typename T> struct adam_list {
    T *p[ADAM_LIST], *m[ADAM_LIST], *v[ADAM_LIST], *vmax[ADAM_LIST];
    const T *g[ADAM_LIST];
    int64_t n[ADAM_LIST];
    T bc2_sqrt[ADAM_LIST], step_size[ADAM_LIST];
    int first[ADAM_LIST + 1];
    int count;
};

template <typename T> __global__ void adam_list_kernel(adam_list<T> l, adam_scalars<T> c) {
    int k = 0;
    while (k + 1 < l.count && (int)blockIdx.x >= l.first[k + 1]) k++;
    int64_t start = (int64_t)(blockIdx.x - l.first[k]) * ADAM_BLOCK_ELEMS;
    int64_t end = start + ADAM_BLOCK_ELEMS < l.n[k] ? start + ADAM_BLOCK_ELEMS : l.n[k];
    for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x)
        adam_elem(l.p[k], l.g[k], l.m[k], l.v[k], l.vmax[k], c, l.bc2_sqrt[k], l.step_size[k], i);
}

/* ---------------------------------------------------------------- Adam launches */
/* Scalars in double, rounded once, as torch computes them in Python; bc2_sqrt and step_size
 * are those of step `step`. */
template <typename T>
static adam_scalars<T> adam_scalars_of(const gids_adam_cfg *cfg, int64_t step) {
    adam_scalars<T> c;
    c.b2 = (T)cfg->beta2;
    c.eps = (T)cfg->eps;
    c.wd = (T)cfg->weight_decay;
    c.one_b1 = (T)(1.0 - cfg->beta1);
    c.far = c.one_b1 >= (T)0.5;
    c.rest = (T)1 - c.one_b1;
    c.one_b2 = (T)(1.0 - cfg->beta2);
    c.bc2_sqrt = (T)sqrt(1.0 - pow(cfg->beta2, (double)step));
    c.step_size = (T)(cfg->lr / (1.0 - pow(cfg->beta1, (double)step)));
    c.decay = (T)(1.0 - cfg->lr * cfg->weight_decay);
    c.decoupled = cfg->decoupled;
    c.maximize = cfg->maximize;
    return c;
}

template <typename T>
static void launch_adam(gids_tensor *param, const gids_tensor *grad, gids_tensor *exp_avg,
                        gids_tensor *exp_avg_sq, gids_tensor *max_exp_avg_sq,
                        const gids_adam_cfg *cfg, int64_t n) {
    adam_scalars<T> c = adam_scalars_of<T>(cfg, cfg->step);
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

/* Parameters [i0, i1) of one dtype, ADAM_LIST at a time. */
template <typename T>
static void launch_adam_list(int i0, int i1, gids_tensor *const *params,
                             const gids_tensor *const *grads, gids_tensor *const *exp_avgs,
                             gids_tensor *const *exp_avg_sqs, gids_tensor *const *max_exp_avg_sqs,
                             const int64_t *steps, const gids_adam_cfg *cfg) {
    adam_scalars<T> c = adam_scalars_of<T>(cfg, 1);
    for (int lo = i0; lo < i1; lo += ADAM_LIST) {
        adam_list<T> l;
        l.count = 0;
        l.first[0] = 0;
        for (int i = lo; i < i1 && i < lo + ADAM_LIST; i++) {
            int64_t n = gids_tensor_numel(params[i]);
            if (n == 0) continue;
            int k = l.count++;
            adam_scalars<T> ck = adam_scalars_of<T>(cfg, steps[i]);
            l.p[k] = (T *)gids_tensor_data(params[i]);
            l.g[k] = (const T *)gids_tensor_data(grads[i]);
            l.m[k] = (T *)gids_tensor_data(exp_avgs[i]);
            l.v[k] = (T *)gids_tensor_data(exp_avg_sqs[i]);
            l.vmax[k] = cfg->amsgrad ? (T *)gids_tensor_data(max_exp_avg_sqs[i]) : nullptr;
            l.n[k] = n;
            l.bc2_sqrt[k] = ck.bc2_sqrt;
            l.step_size[k] = ck.step_size;
            l.first[k + 1] = l.first[k] + (int)((n + ADAM_BLOCK_ELEMS - 1) / ADAM_BLOCK_ELEMS);
        }
        if (l.count > 0)
            adam_list_kernel<T><<<(unsigned)l.first[l.count], GC_THREADS, 0, gc_stream()>>>(l, c);
    }
}

/* The runtime (cpu/optim.c) has checked every update: one device, f32 or f64 parameters, each
 * update's tensors of its parameter's shape and dtype, contiguous.  Runs of one dtype go to
 * the list kernel; a parameter too large for a block count in an int takes its own launch. */
gids_status gc_adam_steps_(int n, gids_tensor *const *params, const gids_tensor *const *grads,
                           gids_tensor *const *exp_avgs, gids_tensor *const *exp_avg_sqs,
                           gids_tensor *const *max_exp_avg_sqs, const int64_t *steps,
                           const gids_adam_cfg *cfg) {
    const char *op = cfg->decoupled ? "adamw_steps_" : "adam_steps_";
    GIDS_TRY(gc_use_device(op, params[0]));
    const int64_t big = (int64_t)ADAM_BLOCK_ELEMS * (INT32_MAX / (2 * ADAM_LIST));
    for (int i0 = 0; i0 < n;) {
        int i1 = i0;
        while (i1 < n && params[i1]->dtype == params[i0]->dtype &&
               gids_tensor_numel(params[i1]) < big)
            i1++;
        if (i1 == i0) { /* a huge parameter: the one-parameter kernel */
            gids_adam_cfg one = *cfg;
            one.step = steps[i0];
            GIDS_TRY(gc_adam_step_(params[i0], grads[i0], exp_avgs[i0], exp_avg_sqs[i0],
                                   cfg->amsgrad ? max_exp_avg_sqs[i0] : nullptr, &one));
            i0++;
            continue;
        }
        if (params[i0]->dtype == GIDS_F32)
            launch_adam_list<float>(i0, i1, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs,
                                    steps, cfg);
        else
            launch_adam_list<double>(i0, i1, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs,
                                     steps, cfg);
        GC_LAUNCHED(op);
        for (int i = i0; i < i1; i++) {
            bump_version(params[i]);
            bump_version(exp_avgs[i]);
            bump_version(exp_avg_sqs[i]);
            if (cfg->amsgrad) bump_version(max_exp_avg_sqs[i]);
        }
        i0 = i1;
    }
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
