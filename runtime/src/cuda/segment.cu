/* segment.cu -- segment_reduce (sum, mean, max, min, with arg) and segment_softmax on CUDA
 * tensors: rows of src [N, ...] grouped by an unsorted index of length N into num_segments.
 *
 * Deterministic on every GPU, with no atomics: the index is range-checked (gc_index_check), then
 * the rows are put in CSR order by a stable CUB radix sort of (index value, row) pairs, and the
 * offsets of each segment found by a binary search in the sorted values.  Each (segment, column)
 * is then folded by one thread over its rows in row order (a warp covers 32 consecutive columns
 * of one segment, so reads are coalesced when rows are wide), exactly the CPU's order: f32 and
 * f64 sums accumulate in double, so sum and mean are bit-identical to the CPU's; max/min let NaN
 * win and keep the earliest row on ties, arg is that row (-1 for an empty segment, whose value
 * is 0).  segment_softmax is exp(x - max) / sum per segment and column, 0 for a column whose max
 * is -inf; exp comes from CUDA's libm, so it can differ from the CPU's in the last bit.
 * Dtypes: f32 and f64 src (integer src is EUNSUPPORTED here), i64 or i32 index.
 */
#include <math.h>
#include <string.h>

#include <cub/cub.cuh>

#include "gc_index.h"

static const char *const seg_op_names[] = {"segment_sum", "segment_mean", "segment_max",
                                           "segment_min"};

/* ---------------------------------------------------------------- plan: index -> CSR */
__global__ void seg_iota(int64_t *v, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        v[i] = i;
}

/* off[s] = first position whose sorted key is >= s, for s in [0, ns]. */
__global__ void seg_offsets(int64_t *off, const unsigned long long *keys, int64_t n, int64_t ns) {
    for (int64_t s = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; s <= ns;
         s += (int64_t)gridDim.x * blockDim.x) {
        int64_t lo = 0, hi = n;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (keys[mid] < (unsigned long long)s)
                lo = mid + 1;
            else
                hi = mid;
        }
        off[s] = lo;
    }
}

gids_status gc_csr_build(const char *op, gc_csr *p, const gids_tensor *like, const int64_t *keys,
                         int64_t n, int64_t ns) {
    gids_device dev = gc_dev(like);
    int64_t ns1 = ns + 1;
    GIDS_TRY(gids_empty(&p->off.t, GIDS_I64, dev, 1, &ns1));
    GIDS_TRY(gids_empty(&p->perm.t, GIDS_I64, dev, 1, &n));
    int64_t *off = (int64_t *)gids_tensor_data(p->off.t);
    if (n == 0) {
        GC_CUDA(op, cudaMemsetAsync(off, 0, (size_t)ns1 * sizeof(int64_t), gc_stream()));
        return GIDS_OK;
    }
    GIDS_TRY(gids_empty(&p->keys_sorted.t, GIDS_I64, dev, 1, &n));
    GIDS_TRY(gids_empty(&p->rows.t, GIDS_I64, dev, 1, &n));
    /* Values are in [0, ns) after the check: sort them as unsigned keys of just enough bits. */
    const unsigned long long *k0 = (const unsigned long long *)keys;
    unsigned long long *k1 = (unsigned long long *)gids_tensor_data(p->keys_sorted.t);
    int64_t *r0 = (int64_t *)gids_tensor_data(p->rows.t);
    int64_t *r1 = (int64_t *)gids_tensor_data(p->perm.t);
    seg_iota<<<gc_blocks(n), GC_THREADS, 0, gc_stream()>>>(r0, n);
    GC_LAUNCHED(op);
    int bits = gc_key_bits((uint64_t)ns);
    size_t bytes = 0;
    GC_CUDA(op, cub::DeviceRadixSort::SortPairs(nullptr, bytes, k0, k1, r0, r1, n, 0, bits,
                                                gc_stream()));
    GIDS_TRY(gc_scratch(like, bytes, &p->tmp.t));
    GC_CUDA(op, cub::DeviceRadixSort::SortPairs(gids_tensor_data(p->tmp.t), bytes, k0, k1, r0, r1,
                                                n, 0, bits, gc_stream()));
    seg_offsets<<<gc_blocks(ns1), GC_THREADS, 0, gc_stream()>>>(off, k1, n, ns);
    GC_LAUNCHED(op);
    return GIDS_OK;
}

/* The segment ops' plan: the index as contiguous i64 (kept alive here), checked, then CSR. */
struct seg_plan : gc_csr {
    gc_ref keys;
};

static gids_status seg_plan_build(const char *op, seg_plan *p, const gids_tensor *src,
                                  const gids_tensor *index, int64_t ns) {
    GIDS_TRY(gc_index_i64(op, "index", index, false, &p->keys.t));
    GIDS_TRY(gc_index_check(op, p->keys.t, index, ns, 1, nullptr));
    return gc_csr_build(op, p, src, (const int64_t *)gids_tensor_data(p->keys.t), index->shape[0],
                        ns);
}

/* ---------------------------------------------------------------- kernels */
/* NaN wins (and then stays) as in max_dim; ties keep the earlier row. */
template <typename T> __device__ __forceinline__ bool better(bool max, T x, T m) {
    return (m == m) && ((x != x) || (max ? x > m : x < m));
}

enum { K_SUM = 0, K_MEAN = 1, K_MAX = 2, K_MIN = 3 };

/* One thread per (segment, column), over ns * C. */
template <int K, typename T>
__global__ void seg_reduce_kernel(T *o, int64_t *arg, const T *src, const int64_t *off,
                                  const int64_t *perm, int64_t ns, int64_t C) {
    int64_t total = ns * C;
    for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total;
         t += (int64_t)gridDim.x * blockDim.x) {
        int64_t s = t / C, c = t - s * C;
        int64_t lo = off[s], hi = off[s + 1];
        if (lo == hi) {
            o[t] = (T)0;
            if (arg) arg[t] = -1;
            continue;
        }
        if constexpr (K == K_SUM || K == K_MEAN) {
            double acc = 0.0;
            for (int64_t k = lo; k < hi; k++) acc = __dadd_rn(acc, (double)src[perm[k] * C + c]);
            if constexpr (K == K_MEAN) acc = __ddiv_rn(acc, (double)(hi - lo));
            o[t] = (T)acc;
        } else {
            int64_t r = perm[lo];
            T m = src[r * C + c];
            int64_t am = r;
            for (int64_t k = lo + 1; k < hi; k++) {
                r = perm[k];
                T x = src[r * C + c];
                if (better<T>(K == K_MAX, x, m)) m = x, am = r;
            }
            o[t] = m;
            if (arg) arg[t] = am;
        }
    }
}

template <typename T> __device__ __forceinline__ double seg_exp(double v);
template <> __device__ __forceinline__ double seg_exp<float>(double v) {
    return (double)expf((float)v); /* as the CPU: expf is exact enough for an f32 result */
}
template <> __device__ __forceinline__ double seg_exp<double>(double v) {
    return exp(v);
}

/* One thread per (segment, column): max, then exp and sum (exp written to out), then divide. */
template <typename T>
__global__ void seg_softmax_kernel(T *o, const T *src, const int64_t *off, const int64_t *perm,
                                   int64_t ns, int64_t C) {
    int64_t total = ns * C;
    for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total;
         t += (int64_t)gridDim.x * blockDim.x) {
        int64_t s = t / C, c = t - s * C;
        int64_t lo = off[s], hi = off[s + 1];
        if (lo == hi) continue;
        double m = (double)src[perm[lo] * C + c];
        for (int64_t k = lo + 1; k < hi; k++) {
            double x = (double)src[perm[k] * C + c];
            m = better<double>(true, x, m) ? x : m;
        }
        if (m == -INFINITY) {
            for (int64_t k = lo; k < hi; k++) o[perm[k] * C + c] = (T)0;
            continue;
        }
        double sum = 0.0;
        for (int64_t k = lo; k < hi; k++) {
            int64_t i = perm[k] * C + c;
            double e = seg_exp<T>(__dsub_rn((double)src[i], m));
            sum = __dadd_rn(sum, e);
            o[i] = (T)e;
        }
        for (int64_t k = lo; k < hi; k++) {
            int64_t i = perm[k] * C + c;
            o[i] = (T)__ddiv_rn((double)o[i], sum);
        }
    }
}

template <typename T>
static void launch_reduce(int op, T *o, int64_t *arg, const T *src, const int64_t *off,
                          const int64_t *perm, int64_t ns, int64_t C) {
    unsigned g = gc_blocks(ns * C);
    switch (op) {
    case K_SUM:
        seg_reduce_kernel<K_SUM, T>
            <<<g, GC_THREADS, 0, gc_stream()>>>(o, arg, src, off, perm, ns, C);
        break;
    case K_MEAN:
        seg_reduce_kernel<K_MEAN, T>
            <<<g, GC_THREADS, 0, gc_stream()>>>(o, arg, src, off, perm, ns, C);
        break;
    case K_MAX:
        seg_reduce_kernel<K_MAX, T>
            <<<g, GC_THREADS, 0, gc_stream()>>>(o, arg, src, off, perm, ns, C);
        break;
    default:
        seg_reduce_kernel<K_MIN, T>
            <<<g, GC_THREADS, 0, gc_stream()>>>(o, arg, src, off, perm, ns, C);
        break;
    }
}

/* ---------------------------------------------------------------- checks (the CPU's) */
static gids_status seg_check(const char *op, const gids_tensor *src, const gids_tensor *index,
                             int64_t ns) {
    char a[96], b[96];
    GIDS_CHECK(src != nullptr, GIDS_EINVAL, "%s: src is NULL", op);
    GIDS_TRY(gc_index_dtype(op, "index", index));
    GIDS_CHECK(src->ndim >= 1, GIDS_ESHAPE,
               "%s: src must have at least 1 dim (its rows), got a 0-d tensor", op);
    GIDS_CHECK(index->ndim == 1 && index->shape[0] == src->shape[0], GIDS_ESHAPE,
               "%s: index has shape %s, expected [%lld] (one entry per row of src %s)", op,
               gids_shape_str(index->ndim, index->shape, a, sizeof a), (long long)src->shape[0],
               gids_shape_str(src->ndim, src->shape, b, sizeof b));
    GIDS_CHECK(ns >= 0, GIDS_EINVAL, "%s: num_segments must be >= 0, got %lld", op, (long long)ns);
    GIDS_CHECK((uint64_t)ns < SIZE_MAX / sizeof(int64_t), GIDS_EOVERFLOW,
               "%s: num_segments %lld is too large", op, (long long)ns);
    return GIDS_OK;
}

static gids_status check_float_src(const char *op, const gids_tensor *src) {
    return gids_refuse_dtype(GIDS_DR_FLOAT, op, src->dtype);
}

/* ---------------------------------------------------------------- entries */
gids_status gc_segment_reduce(gids_tensor **out, gids_tensor **arg, gids_segop op,
                              const gids_tensor *src, const gids_tensor *index,
                              int64_t num_segments) {
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "segment_reduce: out is NULL");
    *out = nullptr;
    GIDS_CHECK(op >= GIDS_SEG_SUM && op <= GIDS_SEG_MIN, GIDS_EINVAL,
               "segment_reduce: op %d is not one of sum, mean, max, min (0..3)", (int)op);
    const char *name = seg_op_names[op];
    GIDS_TRY(seg_check(name, src, index, num_segments));
    GIDS_CHECK(src->dtype != GIDS_BOOL, GIDS_EDTYPE, "%s: src must be a number tensor, got bool",
               name);
    GIDS_CHECK(gids_dtype_is_float(src->dtype) || op != GIDS_SEG_MEAN, GIDS_EDTYPE,
               "%s: src must be a float tensor (f32 or f64), got %s", name,
               gids_dtype_name(src->dtype));
    GIDS_TRY(check_float_src(name, src));
    bool want_arg = arg != nullptr && (op == GIDS_SEG_MAX || op == GIDS_SEG_MIN);
    GIDS_TRY(gc_use_device(name, src));

    int64_t shape[GIDS_MAX_DIMS], C = 1;
    for (int d = 1; d < src->ndim; d++) C *= src->shape[d];
    memcpy(shape, src->shape, sizeof shape);
    shape[0] = num_segments;

    gc_ref o, a, c;
    seg_plan plan;
    GIDS_TRY(gids_empty(&o.t, src->dtype, gc_dev(src), src->ndim, shape));
    if (want_arg) GIDS_TRY(gids_empty(&a.t, GIDS_I64, gc_dev(src), src->ndim, shape));
    GIDS_TRY(seg_plan_build(name, &plan, src, index, num_segments));
    GIDS_TRY(gc_contiguous_as(name, &c.t, src, src->dtype));
    if (num_segments * C > 0) {
        const int64_t *off = (const int64_t *)gids_tensor_data(plan.off.t);
        const int64_t *perm = (const int64_t *)gids_tensor_data(plan.perm.t);
        int64_t *ap = a.t ? (int64_t *)gids_tensor_data(a.t) : nullptr;
        if (src->dtype == GIDS_F32)
            launch_reduce<float>((int)op, (float *)gids_tensor_data(o.t), ap,
                                 (const float *)gids_tensor_data(c.t), off, perm, num_segments, C);
        else
            launch_reduce<double>((int)op, (double *)gids_tensor_data(o.t), ap,
                                  (const double *)gids_tensor_data(c.t), off, perm, num_segments,
                                  C);
        GC_LAUNCHED(name);
    }
    *out = o.take();
    if (arg) *arg = a.take(); /* NULL for sum and mean: they have no chosen row */
    return GIDS_OK;
}

gids_status gc_segment_softmax(gids_tensor **out, const gids_tensor *src, const gids_tensor *index,
                               int64_t num_segments) {
    const char *name = "segment_softmax";
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", name);
    *out = nullptr;
    GIDS_TRY(seg_check(name, src, index, num_segments));
    GIDS_CHECK(gids_dtype_is_float(src->dtype), GIDS_EDTYPE,
               "%s: src must be a float tensor (f32 or f64), got %s", name,
               gids_dtype_name(src->dtype));
    GIDS_TRY(check_float_src(name, src));
    GIDS_TRY(gc_use_device(name, src));
    int64_t C = 1;
    for (int d = 1; d < src->ndim; d++) C *= src->shape[d];

    gc_ref o, c;
    seg_plan plan;
    GIDS_TRY(gids_empty(&o.t, src->dtype, gc_dev(src), src->ndim, src->shape));
    GIDS_TRY(seg_plan_build(name, &plan, src, index, num_segments));
    GIDS_TRY(gc_contiguous_as(name, &c.t, src, src->dtype));
    if (num_segments * C > 0 && gids_tensor_numel(src) > 0) {
        const int64_t *off = (const int64_t *)gids_tensor_data(plan.off.t);
        const int64_t *perm = (const int64_t *)gids_tensor_data(plan.perm.t);
        unsigned g = gc_blocks(num_segments * C);
        if (src->dtype == GIDS_F32)
            seg_softmax_kernel<float><<<g, GC_THREADS, 0, gc_stream()>>>(
                (float *)gids_tensor_data(o.t), (const float *)gids_tensor_data(c.t), off, perm,
                num_segments, C);
        else
            seg_softmax_kernel<double><<<g, GC_THREADS, 0, gc_stream()>>>(
                (double *)gids_tensor_data(o.t), (const double *)gids_tensor_data(c.t), off, perm,
                num_segments, C);
        GC_LAUNCHED(name);
    }
    *out = o.take();
    return GIDS_OK;
}
