/* index.cu -- index_select, gather, scatter_add_ and index_add_ on CUDA tensors, plus the index
 * helpers of gc_index.h.
 *
 * Argument checks, result dtypes and error messages are the CPU's (cpu/index.c, cpu/scatter.c).
 * Every index value is range-checked on the device before anything is written (gc_index_check).
 * index_select and gather are pure gathers of any dtype (elements moved by size), read through
 * the input's strides.
 *
 * scatter_add_ and index_add_ (f32, f64, i64, i32; others EUNSUPPORTED):
 *   - default: one thread per source element, atomicAdd into self.  Integer sums are exact (and
 *     wrap like the CPU's), so they are deterministic; float sums then depend on the order the
 *     atomics land in and can differ from run to run in the last bits.
 *   - GRAPHIDS_DETERMINISTIC=1 (read at each call), floats only: the source elements are sorted
 *     by target with a stable CUB radix sort, then one thread per target adds its elements in
 *     index order onto self's value, exactly as the CPU does (self += alpha * src, product and
 *     sum rounded separately), so the result is bit-identical to the CPU's and to every run.
 * A src sharing memory with self is read from a copy first (numpy.add.at semantics, as the CPU).
 *
 * scatter_ and scatter_scalar_ (overwrite, any dtype): see "scatter_ (overwrite)" below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include <cub/cub.cuh>

#include "gc_index.h"

extern "C" gids_status gids_check_writable(const char *op, const gids_tensor *t);

/* ---------------------------------------------------------------- index helpers */
gids_status gc_index_dtype(const char *op, const char *arg, const gids_tensor *index) {
    GIDS_CHECK(index != nullptr, GIDS_EINVAL, "%s: %s is NULL", op, arg);
    if (index->dtype != GIDS_I64 && index->dtype != GIDS_I32)
        GIDS_FAIL(GIDS_EDTYPE, "%s: %s must be an i64 or i32 index tensor, got %s", op, arg,
                  gids_dtype_name(index->dtype));
    return GIDS_OK;
}

gids_status gc_index_i64(const char *op, const char *arg, const gids_tensor *index, bool fresh,
                         gids_tensor **out) {
    *out = nullptr;
    GIDS_TRY(gc_index_dtype(op, arg, index));
    if (!fresh) return gc_contiguous_as(op, out, index, GIDS_I64);
    GIDS_TRY(gc_use_device(op, index));
    gc_ref r;
    GIDS_TRY(gids_empty(&r.t, GIDS_I64, gc_dev(index), index->ndim, index->shape));
    GIDS_TRY(gc_copy(r.t, index));
    *out = r.take();
    return GIDS_OK;
}

gids_status gc_scratch(const gids_tensor *t, size_t nbytes, gids_tensor **out) {
    int64_t n = (int64_t)(nbytes > 0 ? nbytes : 1);
    return gids_empty(out, GIDS_U8, gc_dev(t), 1, &n);
}

gids_status gc_index_check(const char *op, const gids_tensor *idx, const gids_tensor *given,
                           int64_t size, int ndim, const int64_t *shape) {
    int64_t i = -1, bad = 0;
    GIDS_TRY(gc_index_find(op, idx, (const int64_t *)gids_tensor_data(idx), gids_tensor_numel(idx),
                           size, idx == given, &i, &bad));
    if (i < 0) return GIDS_OK;
    char pos[160];
    if (ndim <= 1) {
        snprintf(pos, sizeof pos, "%lld", (long long)i);
    } else {
        int64_t coord[GIDS_MAX_DIMS], flat = i;
        for (int d = ndim - 1; d >= 0; d--) {
            int64_t s = shape[d] > 0 ? shape[d] : 1;
            coord[d] = flat % s;
            flat /= s;
        }
        gids_shape_str(ndim, coord, pos, sizeof pos);
    }
    GIDS_FAIL(GIDS_EINDEX, "%s: index %lld out of range [0, %lld) at position %s (0-based)", op,
              (long long)bad, (long long)size, pos);
}

/* ---------------------------------------------------------------- gathers */
template <typename E>
__global__ void select_kernel(E *o, const E *a, gc_layout la, int64_t dstride, const int64_t *iv,
                              int64_t nidx, int64_t inner, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t l = (i / inner) % nidx;
        o[i] = a[gc_offset(la, i) + iv[l] * dstride];
    }
}

template <typename E>
__global__ void gather_kernel(E *o, const E *a, gc_layout la, int64_t dstride, const int64_t *iv,
                              int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        o[i] = a[gc_offset(la, i) + iv[i] * dstride];
}

/* Elements are moved by size: any dtype. */
static void launch_select(size_t es, void *o, const void *a, const gc_layout &la, int64_t ds,
                          const int64_t *iv, int64_t nidx, int64_t inner, int64_t n) {
    unsigned g = gc_blocks(n);
    switch (es) {
    case 1:
        select_kernel<<<g, GC_THREADS, 0, gc_stream()>>>((uint8_t *)o, (const uint8_t *)a, la, ds,
                                                         iv, nidx, inner, n);
        break;
    case 2:
        select_kernel<<<g, GC_THREADS, 0, gc_stream()>>>((uint16_t *)o, (const uint16_t *)a, la, ds,
                                                         iv, nidx, inner, n);
        break;
    case 4:
        select_kernel<<<g, GC_THREADS, 0, gc_stream()>>>((uint32_t *)o, (const uint32_t *)a, la, ds,
                                                         iv, nidx, inner, n);
        break;
    default:
        select_kernel<<<g, GC_THREADS, 0, gc_stream()>>>((uint64_t *)o, (const uint64_t *)a, la, ds,
                                                         iv, nidx, inner, n);
        break;
    }
}

static void launch_gather(size_t es, void *o, const void *a, const gc_layout &la, int64_t ds,
                          const int64_t *iv, int64_t n) {
    unsigned g = gc_blocks(n);
    switch (es) {
    case 1:
        gather_kernel<<<g, GC_THREADS, 0, gc_stream()>>>((uint8_t *)o, (const uint8_t *)a, la, ds,
                                                         iv, n);
        break;
    case 2:
        gather_kernel<<<g, GC_THREADS, 0, gc_stream()>>>((uint16_t *)o, (const uint16_t *)a, la, ds,
                                                         iv, n);
        break;
    case 4:
        gather_kernel<<<g, GC_THREADS, 0, gc_stream()>>>((uint32_t *)o, (const uint32_t *)a, la, ds,
                                                         iv, n);
        break;
    default:
        gather_kernel<<<g, GC_THREADS, 0, gc_stream()>>>((uint64_t *)o, (const uint64_t *)a, la, ds,
                                                         iv, n);
        break;
    }
}

static gids_status check_es(const char *op, const gids_tensor *a) {
    size_t es = gids_dtype_size(a->dtype);
    GIDS_CHECK(es == 1 || es == 2 || es == 4 || es == 8, GIDS_EUNSUPPORTED,
               "%s: dtype %s is not supported on CUDA", op, gids_dtype_name(a->dtype));
    return GIDS_OK;
}

/* The layout of `a` read at positions of the row-major shape (nd, shape), with the stride of
 * dim d zeroed (that coordinate comes from the index). */
static gc_layout layout_without_dim(const gids_tensor *a, int d, int nd, const int64_t *shape) {
    gids_tensor v = *a;
    for (int k = 0; k < nd; k++) v.shape[k] = shape[k];
    if (nd > 0) v.stride[d] = 0;
    const gids_tensor *ts[1] = {&v};
    gc_layout l;
    gc_layouts(1, ts, nd, shape, &l);
    return l;
}

static gids_status index_select_(gids_tensor **out, const gids_tensor *a, int dim,
                                 const gids_tensor *index) {
    const char *op = "index_select";
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", op);
    *out = nullptr;
    GIDS_CHECK(a != nullptr && index != nullptr, GIDS_EINVAL, "%s: input or index is NULL", op);
    int d = 0;
    GIDS_TRY(gids_normalize_dim(op, dim, a->ndim, &d));
    char sh[128];
    GIDS_CHECK(index->ndim <= 1, GIDS_ESHAPE, "index_select: index has shape %s, expected 1-D",
               gids_shape_str(index->ndim, index->shape, sh, sizeof sh));
    int64_t nidx = gids_tensor_numel(index);
    GIDS_CHECK(a->ndim > 0 || nidx == 1, GIDS_ESHAPE,
               "index_select: indexing a 0-d tensor takes exactly 1 index, got %lld",
               (long long)nidx);
    GIDS_TRY(check_es(op, a));
    GIDS_TRY(gc_use_device(op, a));
    gc_ref idx, r;
    GIDS_TRY(gc_index_i64(op, "index", index, false, &idx.t));
    int64_t size = a->ndim > 0 ? a->shape[d] : 1;
    GIDS_TRY(gc_index_check(op, idx.t, index, size, 1, nullptr));
    int64_t shape[GIDS_MAX_DIMS];
    memcpy(shape, a->shape, sizeof(int64_t) * (size_t)a->ndim);
    if (a->ndim > 0) shape[d] = nidx;
    GIDS_TRY(gids_empty(&r.t, a->dtype, gc_dev(a), a->ndim, shape));
    int64_t n = gids_tensor_numel(r.t);
    if (n > 0) {
        int64_t inner = 1;
        for (int k = d + 1; k < a->ndim; k++) inner *= a->shape[k];
        gc_layout la = layout_without_dim(a, d, a->ndim, shape);
        int64_t ds = a->ndim > 0 ? a->stride[d] : 0;
        launch_select(gids_dtype_size(a->dtype), gids_tensor_data(r.t), gids_tensor_data(a), la, ds,
                      (const int64_t *)gids_tensor_data(idx.t), nidx, inner, n);
        GC_LAUNCHED(op);
    }
    *out = r.take();
    return GIDS_OK;
}

static gids_status gather_(gids_tensor **out, const gids_tensor *a, int dim,
                           const gids_tensor *index) {
    const char *op = "gather";
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", op);
    *out = nullptr;
    GIDS_CHECK(a != nullptr && index != nullptr, GIDS_EINVAL, "%s: input or index is NULL", op);
    int d = 0;
    GIDS_TRY(gids_normalize_dim(op, dim, a->ndim, &d));
    char si[128], sa[128];
    GIDS_CHECK(index->ndim == a->ndim, GIDS_ESHAPE,
               "gather: index has shape %s, expected %d dims like the input %s",
               gids_shape_str(index->ndim, index->shape, si, sizeof si), a->ndim,
               gids_shape_str(a->ndim, a->shape, sa, sizeof sa));
    for (int k = 0; k < a->ndim; k++)
        GIDS_CHECK(k == d || index->shape[k] <= a->shape[k], GIDS_ESHAPE,
                   "gather: index has shape %s, larger than the input %s outside the gather dim",
                   gids_shape_str(index->ndim, index->shape, si, sizeof si),
                   gids_shape_str(a->ndim, a->shape, sa, sizeof sa));
    GIDS_TRY(check_es(op, a));
    GIDS_TRY(gc_use_device(op, a));
    gc_ref idx, r;
    GIDS_TRY(gc_index_i64(op, "index", index, false, &idx.t));
    int64_t size = a->ndim > 0 ? a->shape[d] : 1;
    GIDS_TRY(gc_index_check(op, idx.t, index, size, idx.t->ndim, idx.t->shape));
    GIDS_TRY(gids_empty(&r.t, a->dtype, gc_dev(a), index->ndim, index->shape));
    int64_t n = gids_tensor_numel(r.t);
    if (n > 0) {
        gc_layout la = layout_without_dim(a, d, a->ndim, index->shape);
        int64_t ds = a->ndim > 0 ? a->stride[d] : 0;
        launch_gather(gids_dtype_size(a->dtype), gids_tensor_data(r.t), gids_tensor_data(a), la, ds,
                      (const int64_t *)gids_tensor_data(idx.t), n);
        GC_LAUNCHED(op);
    }
    *out = r.take();
    return GIDS_OK;
}

/* ---------------------------------------------------------------- scatter-add */
/* One add plan: n source positions in a row-major iteration shape; position i reads
 * src[gc_offset(lsrc, i)] and the index value idx[gc_offset(lidx, i)], and adds into
 * self[gc_offset(lself, i) + value * sd]. */
struct sa_plan {
    int64_t n;
    gc_layout lself, lsrc, lidx;
    int64_t sd;
    int64_t max_off; /* largest element offset of self, for the sort's key bits */
};

template <typename T> struct sa_ops;
template <> struct sa_ops<float> {
    typedef float S;
    static __device__ __forceinline__ void add(float *p, float a, float v) {
        atomicAdd(p, __fmul_rn(a, v));
    }
    static __device__ __forceinline__ float fold(float acc, float a, float v) {
        return __fadd_rn(acc, __fmul_rn(a, v));
    }
};
template <> struct sa_ops<double> {
    typedef double S;
    static __device__ __forceinline__ void add(double *p, double a, double v) {
        atomicAdd(p, __dmul_rn(a, v));
    }
    static __device__ __forceinline__ double fold(double acc, double a, double v) {
        return __dadd_rn(acc, __dmul_rn(a, v));
    }
};
/* Integers: unsigned arithmetic wraps like the CPU's (which adds in the dtype's width). */
template <> struct sa_ops<int64_t> {
    typedef int64_t S;
    static __device__ __forceinline__ void add(int64_t *p, int64_t a, int64_t v) {
        atomicAdd((unsigned long long *)p, (unsigned long long)a * (unsigned long long)v);
    }
};
template <> struct sa_ops<int32_t> {
    typedef int32_t S;
    static __device__ __forceinline__ void add(int32_t *p, int32_t a, int32_t v) {
        atomicAdd((unsigned int *)p, (unsigned int)a * (unsigned int)v);
    }
};

template <typename T>
__global__ void scatter_add_atomic(T *self, const T *src, const int64_t *iv, sa_plan p, T alpha) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < p.n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t t = gc_offset(p.lself, i) + iv[gc_offset(p.lidx, i)] * p.sd;
        sa_ops<T>::add(self + t, alpha, src[gc_offset(p.lsrc, i)]);
    }
}

/* Deterministic path: key = target offset in self, value = source position. */
__global__ void scatter_keys(unsigned long long *keys, int64_t *pos, const int64_t *iv, sa_plan p) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < p.n;
         i += (int64_t)gridDim.x * blockDim.x) {
        keys[i] = (unsigned long long)(gc_offset(p.lself, i) + iv[gc_offset(p.lidx, i)] * p.sd);
        pos[i] = i;
    }
}

/* One thread per run of equal keys (a target): self's value, then the run's sources in order. */
template <typename T>
__global__ void scatter_runs(T *self, const T *src, const unsigned long long *keys,
                             const int64_t *pos, sa_plan p, T alpha) {
    for (int64_t q = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; q < p.n;
         q += (int64_t)gridDim.x * blockDim.x) {
        unsigned long long k = keys[q];
        if (q > 0 && keys[q - 1] == k) continue;
        T acc = self[k];
        for (int64_t r = q; r < p.n && keys[r] == k; r++)
            acc = sa_ops<T>::fold(acc, alpha, src[gc_offset(p.lsrc, pos[r])]);
        self[k] = acc;
    }
}

static bool deterministic_requested(void) {
    const char *e = getenv("GRAPHIDS_DETERMINISTIC");
    return e != nullptr && strcmp(e, "1") == 0;
}

template <typename T>
static gids_status run_sorted(const char *op, gids_tensor *self, const gids_tensor *src,
                              const int64_t *iv, const sa_plan &p, T alpha) {
    gc_ref keys, keys2, pos, pos2, tmp;
    int64_t n = p.n;
    GIDS_TRY(gids_empty(&keys.t, GIDS_I64, gc_dev(self), 1, &n));
    GIDS_TRY(gids_empty(&keys2.t, GIDS_I64, gc_dev(self), 1, &n));
    GIDS_TRY(gids_empty(&pos.t, GIDS_I64, gc_dev(self), 1, &n));
    GIDS_TRY(gids_empty(&pos2.t, GIDS_I64, gc_dev(self), 1, &n));
    unsigned long long *k0 = (unsigned long long *)gids_tensor_data(keys.t),
                       *k1 = (unsigned long long *)gids_tensor_data(keys2.t);
    int64_t *p0 = (int64_t *)gids_tensor_data(pos.t), *p1 = (int64_t *)gids_tensor_data(pos2.t);
    scatter_keys<<<gc_blocks(n), GC_THREADS, 0, gc_stream()>>>(k0, p0, iv, p);
    GC_LAUNCHED(op);
    int bits = gc_key_bits((uint64_t)p.max_off + 1);
    size_t bytes = 0;
    GC_CUDA(op, cub::DeviceRadixSort::SortPairs(nullptr, bytes, k0, k1, p0, p1, n, 0, bits,
                                                gc_stream()));
    GIDS_TRY(gc_scratch(self, bytes, &tmp.t));
    GC_CUDA(op, cub::DeviceRadixSort::SortPairs(gids_tensor_data(tmp.t), bytes, k0, k1, p0, p1, n,
                                                0, bits, gc_stream()));
    scatter_runs<T><<<gc_blocks(n), GC_THREADS, 0, gc_stream()>>>(
        (T *)gids_tensor_data(self), (const T *)gids_tensor_data(src), k1, p1, p, alpha);
    GC_LAUNCHED(op);
    return GIDS_OK;
}

template <typename T>
static gids_status run_atomic(const char *op, gids_tensor *self, const gids_tensor *src,
                              const int64_t *iv, const sa_plan &p, T alpha) {
    scatter_add_atomic<T><<<gc_blocks(p.n), GC_THREADS, 0, gc_stream()>>>(
        (T *)gids_tensor_data(self), (const T *)gids_tensor_data(src), iv, p, alpha);
    GC_LAUNCHED(op);
    return GIDS_OK;
}

static gids_status run_add(const char *op, gids_tensor *self, const gids_tensor *src,
                           const gids_tensor *idx, const sa_plan &p, double alpha) {
    if (p.n == 0) return GIDS_OK;
    const int64_t *iv = (const int64_t *)gids_tensor_data(idx);
    bool det = deterministic_requested();
    switch (self->dtype) {
    case GIDS_F32:
        return det ? run_sorted<float>(op, self, src, iv, p, (float)alpha)
                   : run_atomic<float>(op, self, src, iv, p, (float)alpha);
    case GIDS_F64:
        return det ? run_sorted<double>(op, self, src, iv, p, alpha)
                   : run_atomic<double>(op, self, src, iv, p, alpha);
    case GIDS_I64: return run_atomic<int64_t>(op, self, src, iv, p, (int64_t)alpha);
    default: return run_atomic<int32_t>(op, self, src, iv, p, (int32_t)(int64_t)alpha);
    }
}

static gids_status check_add_target(const char *op, gids_tensor *self, int dim, int *d) {
    GIDS_CHECK(self != nullptr, GIDS_EINVAL, "%s: self is NULL", op);
    GIDS_TRY(gids_check_writable(op, self));
    GIDS_TRY(gids_normalize_dim(op, dim, self->ndim, d));
    return GIDS_OK;
}

static gids_status check_add_src(const char *op, const gids_tensor *self, const gids_tensor *src) {
    GIDS_CHECK(src != nullptr, GIDS_EINVAL, "%s: src is NULL", op);
    GIDS_CHECK(src->dtype == self->dtype, GIDS_EDTYPE,
               "%s: src has dtype %s, expected the dtype of self (%s)", op,
               gids_dtype_name(src->dtype), gids_dtype_name(self->dtype));
    return GIDS_OK;
}

static gids_status check_add_dtype(const char *op, const gids_tensor *self) {
    return gids_refuse_dtype(GIDS_DR_ADD, op, self->dtype);
}

static gids_status check_alpha(const char *op, gids_dtype dt, double alpha) {
    if (gids_dtype_is_float(dt)) return GIDS_OK;
    GIDS_CHECK(alpha == trunc(alpha) && fabs(alpha) < 9.2e18, GIDS_EINVAL,
               "%s: alpha = %g must be an integer for %s tensors", op, alpha, gids_dtype_name(dt));
    return GIDS_OK;
}

/* src itself, or (when it shares self's storage) a copy read whole before any write. */
static gids_status unalias(const char *op, const gids_tensor *self, const gids_tensor *src,
                           gc_ref *copy, const gids_tensor **use) {
    *use = src;
    if (src->storage != self->storage) return GIDS_OK;
    GIDS_TRY(gids_empty(&copy->t, src->dtype, gc_dev(src), src->ndim, src->shape));
    GIDS_TRY(gc_copy(copy->t, src));
    *use = copy->t;
    return GIDS_OK;
}

/* Layout of t's strides (dim d zeroed when zero_d) read at the iteration shape. */
static gc_layout iter_layout(const gids_tensor *t, int nd, const int64_t *shape, int d,
                             bool zero_d) {
    gids_tensor v = *t;
    v.ndim = nd;
    for (int k = 0; k < nd; k++) v.shape[k] = shape[k];
    if (zero_d && nd > 0) v.stride[d] = 0;
    const gids_tensor *ts[1] = {&v};
    gc_layout l;
    gc_layouts(1, ts, nd, shape, &l);
    return l;
}

static int64_t max_offset(const gids_tensor *t) {
    int64_t m = 0;
    for (int k = 0; k < t->ndim; k++)
        if (t->shape[k] > 0) m += (t->shape[k] - 1) * t->stride[k];
    return m;
}

/* torch's rules (the CPU's messages): index has self's ndim, index.size(k) <= src.size(k) for
 * every k (src NULL: the scalar form) and <= self.size(k) for k != dim. */
static gids_status check_scatter_shapes(const char *op, const gids_tensor *self, int d,
                                        const gids_tensor *index, const gids_tensor *src) {
    GIDS_CHECK(index != nullptr, GIDS_EINVAL, "%s: index is NULL", op);
    char si[128], so[128];
    GIDS_CHECK(index->ndim == self->ndim, GIDS_ESHAPE,
               "%s: index has shape %s, expected %d dims like self %s", op,
               gids_shape_str(index->ndim, index->shape, si, sizeof si), self->ndim,
               gids_shape_str(self->ndim, self->shape, so, sizeof so));
    for (int k = 0; k < self->ndim; k++)
        GIDS_CHECK(k == d || index->shape[k] <= self->shape[k], GIDS_ESHAPE,
                   "%s: index has shape %s, larger than self %s outside the scatter dim", op,
                   gids_shape_str(index->ndim, index->shape, si, sizeof si),
                   gids_shape_str(self->ndim, self->shape, so, sizeof so));
    if (src == nullptr) return GIDS_OK;
    GIDS_CHECK(src->ndim == self->ndim, GIDS_ESHAPE,
               "%s: src has shape %s, expected %d dims like self %s", op,
               gids_shape_str(src->ndim, src->shape, si, sizeof si), self->ndim,
               gids_shape_str(self->ndim, self->shape, so, sizeof so));
    for (int k = 0; k < self->ndim; k++)
        GIDS_CHECK(index->shape[k] <= src->shape[k], GIDS_ESHAPE,
                   "%s: index has shape %s, larger than src %s", op,
                   gids_shape_str(index->ndim, index->shape, si, sizeof si),
                   gids_shape_str(src->ndim, src->shape, so, sizeof so));
    return GIDS_OK;
}

static gids_status scatter_add__(gids_tensor *self, int dim, const gids_tensor *index,
                                 const gids_tensor *src) {
    const char *op = "scatter_add_";
    int d = 0;
    GIDS_TRY(check_add_target(op, self, dim, &d));
    GIDS_TRY(check_add_src(op, self, src));
    GIDS_TRY(check_scatter_shapes(op, self, d, index, src));
    GIDS_TRY(gc_index_dtype(op, "index", index));
    GIDS_TRY(check_add_dtype(op, self));
    GIDS_TRY(gc_use_device(op, self));
    gc_ref idx, copy;
    GIDS_TRY(gc_index_i64(op, "index", index, index->storage == self->storage, &idx.t));
    int64_t size = self->ndim > 0 ? self->shape[d] : 1;
    GIDS_TRY(gc_index_check(op, idx.t, index, size, idx.t->ndim, idx.t->shape));
    const gids_tensor *s = nullptr;
    GIDS_TRY(unalias(op, self, src, &copy, &s));
    int nd = self->ndim;
    const int64_t *shape = index->shape;
    sa_plan p;
    p.n = gids_tensor_numel(idx.t);
    p.lself = iter_layout(self, nd, shape, d, true);
    p.lsrc = iter_layout(s, nd, shape, d, false);
    p.lidx = iter_layout(idx.t, nd, shape, d, false);
    p.sd = nd > 0 ? self->stride[d] : 0;
    p.max_off = max_offset(self);
    GIDS_TRY(run_add(op, self, s, idx.t, p, 1.0));
    gc_bump_version(self);
    return GIDS_OK;
}

static gids_status index_add__(gids_tensor *self, int dim, const gids_tensor *index,
                               const gids_tensor *src, double alpha) {
    const char *op = "index_add_";
    int d = 0;
    GIDS_TRY(check_add_target(op, self, dim, &d));
    GIDS_TRY(check_add_src(op, self, src));
    GIDS_CHECK(index != nullptr, GIDS_EINVAL, "%s: index is NULL", op);
    char si[128], so[128];
    GIDS_CHECK(index->ndim <= 1, GIDS_ESHAPE, "%s: index has shape %s, expected 1-D", op,
               gids_shape_str(index->ndim, index->shape, si, sizeof si));
    int64_t n = gids_tensor_numel(index);
    GIDS_CHECK(src->ndim == self->ndim, GIDS_ESHAPE,
               "%s: src has shape %s, expected %d dims like self %s", op,
               gids_shape_str(src->ndim, src->shape, si, sizeof si), self->ndim,
               gids_shape_str(self->ndim, self->shape, so, sizeof so));
    int64_t want[GIDS_MAX_DIMS];
    bool same = true;
    for (int k = 0; k < self->ndim; k++) {
        want[k] = k == d ? n : self->shape[k];
        same = same && src->shape[k] == want[k];
    }
    char sw[128];
    GIDS_CHECK(same, GIDS_ESHAPE, "%s: src has shape %s, expected %s (self %s with %lld indices)",
               op, gids_shape_str(src->ndim, src->shape, si, sizeof si),
               gids_shape_str(self->ndim, want, sw, sizeof sw),
               gids_shape_str(self->ndim, self->shape, so, sizeof so), (long long)n);
    GIDS_CHECK(self->ndim > 0 || n == 1, GIDS_ESHAPE,
               "%s: a 0-d self takes exactly 1 index, got %lld", op, (long long)n);
    GIDS_TRY(gc_index_dtype(op, "index", index));
    GIDS_TRY(check_add_dtype(op, self));
    GIDS_TRY(gc_use_device(op, self));
    gc_ref idx, copy;
    GIDS_TRY(gc_index_i64(op, "index", index, index->storage == self->storage, &idx.t));
    int64_t size = self->ndim > 0 ? self->shape[d] : 1;
    GIDS_TRY(gc_index_check(op, idx.t, index, size, 1, nullptr));
    GIDS_TRY(check_alpha(op, self->dtype, alpha));
    const gids_tensor *s = nullptr;
    GIDS_TRY(unalias(op, self, src, &copy, &s));
    int nd = self->ndim;
    /* The index read at the iteration shape (src's): stride 1 along dim, 0 elsewhere. */
    gids_tensor iview = *idx.t;
    iview.ndim = nd;
    for (int k = 0; k < nd; k++) iview.stride[k] = k == d ? 1 : 0;
    sa_plan p;
    p.n = gids_tensor_numel(s);
    p.lself = iter_layout(self, nd, s->shape, d, true);
    p.lsrc = iter_layout(s, nd, s->shape, d, false);
    p.lidx = iter_layout(&iview, nd, s->shape, d, false);
    p.sd = nd > 0 ? self->stride[d] : 0;
    p.max_off = max_offset(self);
    GIDS_TRY(run_add(op, self, s, idx.t, p, alpha));
    gc_bump_version(self);
    return GIDS_OK;
}

/* ---------------------------------------------------------------- scatter_ (overwrite) */
/* scatter_ with a tensor src: where several positions hit one target, the last one in the
 * row-major order of index wins, as on the CPU.  The targets are sorted (stable) with their
 * positions, and one thread per run of equal targets writes the run's last source: no write
 * races, the same result on every run.  scatter_scalar_ writes one value, so positions that
 * meet write the same bits and need no order.  Any dtype (elements moved by size). */
template <typename E>
__global__ void scatter_last_runs(E *self, const E *src, const unsigned long long *keys,
                                  const int64_t *pos, sa_plan p) {
    for (int64_t q = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; q < p.n;
         q += (int64_t)gridDim.x * blockDim.x) {
        if (q + 1 < p.n && keys[q + 1] == keys[q]) continue; /* not the run's last */
        self[keys[q]] = src[gc_offset(p.lsrc, pos[q])];
    }
}

template <typename E>
__global__ void scatter_value(E *self, const E *value, const int64_t *iv, sa_plan p) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < p.n;
         i += (int64_t)gridDim.x * blockDim.x)
        self[gc_offset(p.lself, i) + iv[gc_offset(p.lidx, i)] * p.sd] = *value;
}

template <typename E>
static gids_status overwrite_typed(const char *op, gids_tensor *self, const gids_tensor *src,
                                   const gids_tensor *value, const int64_t *iv, const sa_plan &p) {
    int64_t n = p.n;
    unsigned g = gc_blocks(n);
    if (value != nullptr) {
        scatter_value<E><<<g, GC_THREADS, 0, gc_stream()>>>(
            (E *)gids_tensor_data(self), (const E *)gids_tensor_data(value), iv, p);
        GC_LAUNCHED(op);
        return GIDS_OK;
    }
    gc_ref keys, keys2, pos, pos2, tmp;
    GIDS_TRY(gids_empty(&keys.t, GIDS_I64, gc_dev(self), 1, &n));
    GIDS_TRY(gids_empty(&keys2.t, GIDS_I64, gc_dev(self), 1, &n));
    GIDS_TRY(gids_empty(&pos.t, GIDS_I64, gc_dev(self), 1, &n));
    GIDS_TRY(gids_empty(&pos2.t, GIDS_I64, gc_dev(self), 1, &n));
    unsigned long long *k0 = (unsigned long long *)gids_tensor_data(keys.t),
                       *k1 = (unsigned long long *)gids_tensor_data(keys2.t);
    int64_t *p0 = (int64_t *)gids_tensor_data(pos.t), *p1 = (int64_t *)gids_tensor_data(pos2.t);
    scatter_keys<<<g, GC_THREADS, 0, gc_stream()>>>(k0, p0, iv, p);
    GC_LAUNCHED(op);
    int bits = gc_key_bits((uint64_t)p.max_off + 1);
    size_t bytes = 0;
    GC_CUDA(op, cub::DeviceRadixSort::SortPairs(nullptr, bytes, k0, k1, p0, p1, n, 0, bits,
                                                gc_stream()));
    GIDS_TRY(gc_scratch(self, bytes, &tmp.t));
    GC_CUDA(op, cub::DeviceRadixSort::SortPairs(gids_tensor_data(tmp.t), bytes, k0, k1, p0, p1, n,
                                                0, bits, gc_stream()));
    scatter_last_runs<E><<<g, GC_THREADS, 0, gc_stream()>>>(
        (E *)gids_tensor_data(self), (const E *)gids_tensor_data(src), k1, p1, p);
    GC_LAUNCHED(op);
    return GIDS_OK;
}

/* src NULL: the scalar form with `value`. */
static gids_status scatter_overwrite(const char *op, gids_tensor *self, int dim,
                                     const gids_tensor *index, const gids_tensor *src,
                                     gids_scalar value) {
    int d = 0;
    GIDS_TRY(check_add_target(op, self, dim, &d));
    if (src != nullptr) GIDS_TRY(check_add_src(op, self, src));
    GIDS_TRY(check_scatter_shapes(op, self, d, index, src));
    GIDS_TRY(gc_index_dtype(op, "index", index));
    size_t es = gids_dtype_size(self->dtype);
    GIDS_CHECK(es == 1 || es == 2 || es == 4 || es == 8, GIDS_EUNSUPPORTED,
               "%s: dtype %s is not supported on CUDA yet", op, gids_dtype_name(self->dtype));
    GIDS_TRY(gc_use_device(op, self));
    gc_ref idx, copy, val;
    GIDS_TRY(gc_index_i64(op, "index", index, index->storage == self->storage, &idx.t));
    int64_t size = self->ndim > 0 ? self->shape[d] : 1;
    GIDS_TRY(gc_index_check(op, idx.t, index, size, idx.t->ndim, idx.t->shape));
    const gids_tensor *s = nullptr;
    if (src != nullptr) {
        GIDS_TRY(unalias(op, self, src, &copy, &s));
    } else {
        /* the value in self's dtype, converted as fill converts it */
        int64_t one = 1;
        GIDS_TRY(gids_empty(&val.t, self->dtype, gc_dev(self), 1, &one));
        GIDS_TRY(gc_fill(val.t, value));
    }
    int nd = self->ndim;
    sa_plan p;
    p.n = gids_tensor_numel(idx.t);
    p.lself = iter_layout(self, nd, index->shape, d, true);
    p.lsrc = s != nullptr ? iter_layout(s, nd, index->shape, d, false) : gc_layout{};
    p.lidx = iter_layout(idx.t, nd, index->shape, d, false);
    p.sd = nd > 0 ? self->stride[d] : 0;
    p.max_off = max_offset(self);
    if (p.n > 0) {
        const int64_t *iv = (const int64_t *)gids_tensor_data(idx.t);
        switch (es) {
        case 1: GIDS_TRY(overwrite_typed<uint8_t>(op, self, s, val.t, iv, p)); break;
        case 2: GIDS_TRY(overwrite_typed<uint16_t>(op, self, s, val.t, iv, p)); break;
        case 4: GIDS_TRY(overwrite_typed<uint32_t>(op, self, s, val.t, iv, p)); break;
        default: GIDS_TRY(overwrite_typed<uint64_t>(op, self, s, val.t, iv, p)); break;
        }
    }
    gc_bump_version(self);
    return GIDS_OK;
}

/* Entries of gc_backend (device.cu). */
gids_status gc_index_select(gids_tensor **out, const gids_tensor *a, int dim,
                            const gids_tensor *index) {
    return index_select_(out, a, dim, index);
}
gids_status gc_gather(gids_tensor **out, const gids_tensor *a, int dim, const gids_tensor *index) {
    return gather_(out, a, dim, index);
}
gids_status gc_scatter_add_(gids_tensor *self, int dim, const gids_tensor *index,
                            const gids_tensor *src) {
    return scatter_add__(self, dim, index, src);
}
gids_status gc_index_add_(gids_tensor *self, int dim, const gids_tensor *index,
                          const gids_tensor *src, double alpha) {
    return index_add__(self, dim, index, src, alpha);
}
gids_status gc_scatter_(gids_tensor *self, int dim, const gids_tensor *index,
                        const gids_tensor *src) {
    GIDS_CHECK(src != nullptr, GIDS_EINVAL, "scatter_: src is NULL");
    return scatter_overwrite("scatter_", self, dim, index, src, gids_scalar_i(0));
}
gids_status gc_scatter_scalar_(gids_tensor *self, int dim, const gids_tensor *index,
                               gids_scalar value) {
    return scatter_overwrite("scatter_", self, dim, index, nullptr, value);
}
