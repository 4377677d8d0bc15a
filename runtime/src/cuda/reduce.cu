/* reduce.cu -- sum, mean, amax, amin over any dims (keepdim or not) and max/min along one dim
 * with positions (max_dim, min_dim, argmax, argmin), on f32 and f64 (softmax: softmax.cu).
 *
 * amax and amin also take i64 and i32 (exact; what the GNN layers' index range checks use), sum
 * also i64, i32, u8 and bool (to i64, exact with the CPU's wrap-around: accuracy counts), and
 * max/min along a dim i64 and i32.
 * Sums accumulate in double for f32 as for f64, as the CPU does.  Each output element is folded
 * by one thread (few reduced elements) or by one block through a fixed shared-memory tree (many),
 * with no atomics, so a result is the same from run to run; it can differ from the CPU's in the
 * last bits because the summation order differs.  amax/amin let NaN win, as torch.
 */
#include <math.h>

#include "cuda_impl.h"

#define RED_BLOCK_MIN 256 /* reduced elements from which one block folds each output element */

/* ---------------------------------------------------------------- kernels */
enum { R_SUM = 0, R_MAX = 1, R_MIN = 2 };

template <int K, typename A> __device__ __forceinline__ A fold(A acc, A v) {
    if constexpr (K == R_SUM)
        return acc + v;
    else if constexpr (K == R_MAX)
        return (v > acc || v != v) ? v : acc;
    else
        return (v < acc || v != v) ? v : acc;
}

/* The identities of max and min: +-inf for floats, the extreme values for integers. */
template <typename A> __device__ __forceinline__ A lowest() {
    return (A)-INFINITY;
}
template <> __device__ __forceinline__ int64_t lowest<int64_t>() {
    return INT64_MIN;
}
template <> __device__ __forceinline__ int32_t lowest<int32_t>() {
    return INT32_MIN;
}
template <typename A> __device__ __forceinline__ A highest() {
    return (A)INFINITY;
}
template <> __device__ __forceinline__ int64_t highest<int64_t>() {
    return INT64_MAX;
}
template <> __device__ __forceinline__ int32_t highest<int32_t>() {
    return INT32_MAX;
}

template <int K, typename A> __device__ __forceinline__ A identity() {
    if constexpr (K == R_SUM)
        return (A)0;
    else if constexpr (K == R_MAX)
        return lowest<A>();
    else
        return highest<A>();
}

/* Accumulator: double for sums, the element type for max/min (exact either way). */
template <int K, typename T> struct acc_of { typedef double A; };
template <typename T> struct acc_of<R_MAX, T> { typedef T A; };
template <typename T> struct acc_of<R_MIN, T> { typedef T A; };

/* One thread per output element. */
template <int K, typename T>
__global__ void reduce_thread(T *o, const T *a, gc_layout kept, gc_layout red, int64_t n_out,
                              int64_t n_red, double divisor) {
    typedef typename acc_of<K, T>::A A;
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < n_out;
         j += (int64_t)gridDim.x * blockDim.x) {
        const T *base = a + gc_offset(kept, j);
        A acc = identity<K, A>();
        for (int64_t r = 0; r < n_red; r++) acc = fold<K, A>(acc, (A)base[gc_offset(red, r)]);
        o[j] = K == R_SUM ? (T)(acc / divisor) : (T)acc;
    }
}

/* One block (GC_THREADS threads) per output element: strided partial folds, then a tree. */
template <int K, typename T>
__global__ void reduce_block(T *o, const T *a, gc_layout kept, gc_layout red, int64_t n_out,
                             int64_t n_red, double divisor) {
    typedef typename acc_of<K, T>::A A;
    __shared__ A part[GC_THREADS];
    for (int64_t j = blockIdx.x; j < n_out; j += gridDim.x) {
        const T *base = a + gc_offset(kept, j);
        A acc = identity<K, A>();
        for (int64_t r = threadIdx.x; r < n_red; r += blockDim.x)
            acc = fold<K, A>(acc, (A)base[gc_offset(red, r)]);
        part[threadIdx.x] = acc;
        __syncthreads();
        for (int w = GC_THREADS / 2; w > 0; w /= 2) {
            if (threadIdx.x < w)
                part[threadIdx.x] = fold<K, A>(part[threadIdx.x], part[threadIdx.x + w]);
            __syncthreads();
        }
        if (threadIdx.x == 0) o[j] = K == R_SUM ? (T)(part[0] / divisor) : (T)part[0];
        __syncthreads(); /* part is reused by the next j */
    }
}

/* Few outputs over many elements (a full sum): one block per output would leave the GPU idle
 * (a 1 GiB sum ran at 1.9 GB/s), so each output's range is cut into P chunks, one block each,
 * whose partials a second pass folds in chunk order.  P depends only on n_red, so the result
 * does not depend on the GPU.  Chunks of 4096 elements (16 a thread): with 32768 a reduction of
 * a batch vector (46k elements, the large GAT's min and max at 1024 graphs) still ran on one
 * block, 74 us on an H100 where a dozen blocks need a few. */
#define RED_CHUNK 4096
#define RED_SPLIT_MAX_OUT 1024

static int64_t red_chunks(int64_t n_out, int64_t n_red) {
    if (n_out > RED_SPLIT_MAX_OUT || n_red < 2 * RED_CHUNK) return 1;
    int64_t p = (n_red + RED_CHUNK - 1) / RED_CHUNK;
    return p > 4096 ? 4096 : p;
}

template <int K, typename A> __device__ __forceinline__ A block_fold(A *sh, A acc) {
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int w = GC_THREADS / 2; w > 0; w /= 2) {
        if (threadIdx.x < w) sh[threadIdx.x] = fold<K, A>(sh[threadIdx.x], sh[threadIdx.x + w]);
        __syncthreads();
    }
    A r = sh[0];
    __syncthreads(); /* sh is reused by the caller's next iteration */
    return r;
}

template <int K, typename T>
__global__ void reduce_chunks(typename acc_of<K, T>::A *part, const T *a, gc_layout kept,
                              gc_layout red, int64_t n_out, int64_t n_red, int64_t P) {
    typedef typename acc_of<K, T>::A A;
    __shared__ A sh[GC_THREADS];
    const int64_t chunk = (n_red + P - 1) / P;
    for (int64_t b = blockIdx.x; b < n_out * P; b += gridDim.x) {
        int64_t j = b / P, lo = (b % P) * chunk, hi = lo + chunk < n_red ? lo + chunk : n_red;
        const T *base = a + gc_offset(kept, j);
        A acc = identity<K, A>();
        if (red.ndim == 1 && red.stride[0] == 1) {
            /* Contiguous: four independent accumulators keep four loads in flight per thread
             * (one dependent chain left the memory system idle); combined in a fixed order. */
            A acc1 = identity<K, A>(), acc2 = acc1, acc3 = acc1;
            int64_t r = lo + threadIdx.x;
            for (; r + 3 * blockDim.x < hi; r += 4 * blockDim.x) {
                acc = fold<K, A>(acc, (A)base[r]);
                acc1 = fold<K, A>(acc1, (A)base[r + blockDim.x]);
                acc2 = fold<K, A>(acc2, (A)base[r + 2 * blockDim.x]);
                acc3 = fold<K, A>(acc3, (A)base[r + 3 * blockDim.x]);
            }
            for (; r < hi; r += blockDim.x) acc = fold<K, A>(acc, (A)base[r]);
            acc = fold<K, A>(fold<K, A>(acc, acc1), fold<K, A>(acc2, acc3));
        } else {
            for (int64_t r = lo + threadIdx.x; r < hi; r += blockDim.x)
                acc = fold<K, A>(acc, (A)base[gc_offset(red, r)]);
        }
        acc = block_fold<K, A>(sh, acc);
        if (threadIdx.x == 0) part[b] = acc;
    }
}

template <int K, typename T>
__global__ void reduce_parts(T *o, const typename acc_of<K, T>::A *part, int64_t n_out, int64_t P,
                             double divisor) {
    typedef typename acc_of<K, T>::A A;
    __shared__ A sh[GC_THREADS];
    for (int64_t j = blockIdx.x; j < n_out; j += gridDim.x) {
        A acc = identity<K, A>();
        for (int64_t r = threadIdx.x; r < P; r += blockDim.x)
            acc = fold<K, A>(acc, part[j * P + r]);
        acc = block_fold<K, A>(sh, acc);
        if (threadIdx.x == 0) o[j] = K == R_SUM ? (T)(acc / divisor) : (T)acc;
    }
}

/* Column reductions: the kept elements are neighbours in memory (kept stride 1: a sum over the
 * rows of a row-major [N, C], a bias gradient), so a warp's lanes read neighbouring columns of
 * one row, coalesced, where one block per column read one column each (a [45780, 1536] column
 * sum ran at a sixth of the bandwidth).  Block: COL_TILE columns x COL_LANES row lanes; grid:
 * column tiles x P row chunks of COL_ROWS rows.  Lane y folds rows y, y + COL_LANES, ... of its
 * chunk, the lanes fold in a fixed tree, and a second pass folds the P partials of a column in
 * chunk order: no atomics, the same bits on every run, P a function of the sizes only. */
#define COL_TILE 32
#define COL_LANES 8
#define COL_ROWS 512

static int64_t col_chunks(int64_t n_red) {
    return (n_red + COL_ROWS - 1) / COL_ROWS;
}

/* grid.y holds at most 65535 chunks (33.5M rows); longer columns take the general path. */
static bool red_by_cols(const gc_layout &kept, int64_t n_out, int64_t n_red) {
    return kept.ndim == 1 && kept.stride[0] == 1 && n_out >= COL_TILE && n_red >= RED_BLOCK_MIN &&
           col_chunks(n_red) <= 65535;
}

template <int K, typename T>
__global__ void reduce_cols(typename acc_of<K, T>::A *part, const T *a, gc_layout red,
                            int64_t n_out, int64_t n_red) {
    typedef typename acc_of<K, T>::A A;
    __shared__ A sh[COL_LANES][COL_TILE];
    int64_t col = blockIdx.x * (int64_t)COL_TILE + threadIdx.x;
    int64_t lo = blockIdx.y * (int64_t)COL_ROWS;
    int64_t hi = lo + COL_ROWS < n_red ? lo + COL_ROWS : n_red;
    A acc = identity<K, A>();
    if (col < n_out)
        for (int64_t r = lo + threadIdx.y; r < hi; r += COL_LANES)
            acc = fold<K, A>(acc, (A)a[col + gc_offset(red, r)]);
    sh[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    for (int w = COL_LANES / 2; w > 0; w /= 2) {
        if (threadIdx.y < w)
            sh[threadIdx.y][threadIdx.x] =
                fold<K, A>(sh[threadIdx.y][threadIdx.x], sh[threadIdx.y + w][threadIdx.x]);
        __syncthreads();
    }
    if (threadIdx.y == 0 && col < n_out) part[blockIdx.y * n_out + col] = sh[0][threadIdx.x];
}

template <int K, typename T>
__global__ void reduce_col_parts(T *o, const typename acc_of<K, T>::A *part, int64_t n_out,
                                 int64_t P, double divisor) {
    typedef typename acc_of<K, T>::A A;
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < n_out;
         j += (int64_t)gridDim.x * blockDim.x) {
        A acc = identity<K, A>();
        for (int64_t p = 0; p < P; p++) acc = fold<K, A>(acc, part[p * n_out + j]);
        o[j] = K == R_SUM ? (T)(acc / divisor) : (T)acc;
    }
}

/* Partials a reduction needs (in elements of its accumulator), 0 for none. */
static int64_t red_scratch(const gc_layout &kept, int64_t n_out, int64_t n_red) {
    if (red_by_cols(kept, n_out, n_red)) return col_chunks(n_red) * n_out;
    int64_t P = red_chunks(n_out, n_red);
    return P > 1 ? P * n_out : 0;
}

template <int K, typename T>
static void launch_reduce(T *o, const T *a, const gc_layout &kept, const gc_layout &red,
                          int64_t n_out, int64_t n_red, double divisor, void *scratch) {
    if (red_by_cols(kept, n_out, n_red)) {
        typedef typename acc_of<K, T>::A A;
        int64_t P = col_chunks(n_red), tiles = (n_out + COL_TILE - 1) / COL_TILE;
        reduce_cols<K, T>
            <<<dim3((unsigned)tiles, (unsigned)P), dim3(COL_TILE, COL_LANES), 0, gc_stream()>>>(
                (A *)scratch, a, red, n_out, n_red);
        reduce_col_parts<K, T><<<gc_blocks(n_out), GC_THREADS, 0, gc_stream()>>>(
            o, (const A *)scratch, n_out, P, divisor);
        return;
    }
    int64_t P = red_chunks(n_out, n_red);
    if (P > 1) {
        typedef typename acc_of<K, T>::A A;
        int64_t nb = n_out * P;
        unsigned g = (unsigned)(nb < 65535 * 8 ? nb : 65535 * 8);
        reduce_chunks<K, T>
            <<<g, GC_THREADS, 0, gc_stream()>>>((A *)scratch, a, kept, red, n_out, n_red, P);
        unsigned g2 = (unsigned)(n_out < 65535 * 8 ? n_out : 65535 * 8);
        reduce_parts<K, T>
            <<<g2, GC_THREADS, 0, gc_stream()>>>(o, (const A *)scratch, n_out, P, divisor);
    } else if (n_red >= RED_BLOCK_MIN) {
        unsigned g = (unsigned)(n_out < 65535 * 8 ? n_out : 65535 * 8);
        reduce_block<K, T>
            <<<g, GC_THREADS, 0, gc_stream()>>>(o, a, kept, red, n_out, n_red, divisor);
    } else {
        reduce_thread<K, T><<<gc_blocks(n_out), GC_THREADS, 0, gc_stream()>>>(
            o, a, kept, red, n_out, n_red, divisor);
    }
}

/* i64 and i32: amax and amin only (exact; sums of integers, which give i64, are not here). */
template <typename T>
static void dispatch_extreme(int kind, T *o, const T *a, const gc_layout &kept,
                             const gc_layout &red, int64_t n_out, int64_t n_red, void *scratch) {
    if (kind == R_MAX)
        launch_reduce<R_MAX, T>(o, a, kept, red, n_out, n_red, 1.0, scratch);
    else
        launch_reduce<R_MIN, T>(o, a, kept, red, n_out, n_red, 1.0, scratch);
}

template <typename T>
static void dispatch_reduce(int kind, T *o, const T *a, const gc_layout &kept, const gc_layout &red,
                            int64_t n_out, int64_t n_red, double divisor, void *scratch) {
    if (kind == R_SUM)
        launch_reduce<R_SUM, T>(o, a, kept, red, n_out, n_red, divisor, scratch);
    else if (kind == R_MAX)
        launch_reduce<R_MAX, T>(o, a, kept, red, n_out, n_red, divisor, scratch);
    else
        launch_reduce<R_MIN, T>(o, a, kept, red, n_out, n_red, divisor, scratch);
}

/* Sums of integers and bool, to i64 with the CPU's wrap-around: accumulated as unsigned 64-bit
 * (exact modulo 2^64, so any order gives the same result).  One thread per output element for
 * short reductions, else one block per output element with a shared-memory tree. */
template <typename T>
__global__ void isum_thread(int64_t *o, const T *a, gc_layout kept, gc_layout red, int64_t n_out,
                            int64_t n_red) {
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < n_out;
         j += (int64_t)gridDim.x * blockDim.x) {
        const T *base = a + gc_offset(kept, j);
        unsigned long long acc = 0;
        for (int64_t r = 0; r < n_red; r++)
            acc += (unsigned long long)(int64_t)base[gc_offset(red, r)];
        o[j] = (int64_t)acc;
    }
}

template <typename T>
__global__ void isum_block(int64_t *o, const T *a, gc_layout kept, gc_layout red, int64_t n_out,
                           int64_t n_red) {
    __shared__ unsigned long long part[GC_THREADS];
    for (int64_t j = blockIdx.x; j < n_out; j += gridDim.x) {
        const T *base = a + gc_offset(kept, j);
        unsigned long long acc = 0;
        for (int64_t r = threadIdx.x; r < n_red; r += blockDim.x)
            acc += (unsigned long long)(int64_t)base[gc_offset(red, r)];
        part[threadIdx.x] = acc;
        __syncthreads();
        for (int w = GC_THREADS / 2; w > 0; w /= 2) {
            if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
            __syncthreads();
        }
        if (threadIdx.x == 0) o[j] = (int64_t)part[0];
        __syncthreads(); /* part is reused by the next j */
    }
}

template <typename T>
static void launch_isum(int64_t *o, const T *a, const gc_layout &kept, const gc_layout &red,
                        int64_t n_out, int64_t n_red) {
    if (n_red >= RED_BLOCK_MIN) {
        unsigned g = (unsigned)(n_out < 65535 * 8 ? n_out : 65535 * 8);
        isum_block<T><<<g, GC_THREADS, 0, gc_stream()>>>(o, a, kept, red, n_out, n_red);
    } else {
        isum_thread<T>
            <<<gc_blocks(n_out), GC_THREADS, 0, gc_stream()>>>(o, a, kept, red, n_out, n_red);
    }
}

/* Max/min along one dim with the position of the first extreme, or of the first NaN (the
 * CPU's rule, as torch); one thread per output element, in order along the dim. */
template <typename T>
__global__ void extreme_kernel(T *vals, int64_t *idx, const T *a, gc_layout kept, int64_t n_out,
                               int64_t size, int64_t step, bool is_max) {
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < n_out;
         j += (int64_t)gridDim.x * blockDim.x) {
        const T *x = a + gc_offset(kept, j);
        T best = x[0];
        int64_t bi = 0;
        for (int64_t k = 1; k < size && best == best; k++) {
            T v = x[k * step];
            if (v != v || (is_max ? v > best : v < best)) {
                best = v;
                bi = k;
            }
        }
        if (vals != nullptr) vals[j] = best;
        idx[j] = bi;
    }
}

/* ---------------------------------------------------------------- reduce */
static gids_status dim_mask(const char *op, int ndim, int ndims, const int *dims, uint32_t *mask) {
    if (ndims == 0) {
        *mask = ndim == 0 ? 0 : (uint32_t)((1u << ndim) - 1u);
        return GIDS_OK;
    }
    GIDS_CHECK(ndims > 0 && dims != nullptr, GIDS_EINVAL, "%s: dim list of length %d is invalid",
               op, ndims);
    uint32_t m = 0;
    for (int i = 0; i < ndims; i++) {
        int d;
        GIDS_TRY(gids_normalize_dim(op, dims[i], ndim, &d));
        if (ndim == 0) continue; /* a 0-d tensor accepts dim 0 / -1 and reduces nothing */
        GIDS_CHECK(!(m & (1u << d)), GIDS_EINVAL,
                   "%s: dim %d appears more than once in the dim list", op, dims[i]);
        m |= 1u << d;
    }
    *mask = m;
    return GIDS_OK;
}

/* Layout of the dims of a selected by `want` (merged where contiguous). */
static gc_layout sub_layout(const gids_tensor *a, uint32_t mask, bool want, int64_t *count) {
    gids_tensor v = {};
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++) {
        if (((mask >> d) & 1u) != (want ? 1u : 0u)) continue;
        v.shape[v.ndim] = a->shape[d];
        v.stride[v.ndim] = a->stride[d];
        v.ndim++;
        n *= a->shape[d];
    }
    const gids_tensor *ts[1] = {&v};
    gc_layout l;
    gc_layouts(1, ts, v.ndim, v.shape, &l);
    *count = n;
    return l;
}

gids_status gc_reduce(gids_tensor **out, gids_redop op, const gids_tensor *a, int ndims,
                      const int *dims, bool keepdim) {
    const char *name = gids_redop_name(op);
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", name);
    GIDS_CHECK(a != nullptr, GIDS_EINVAL, "%s: arg 1 is NULL", name);
    GIDS_CHECK(op != GIDS_MEAN || gids_dtype_is_float(a->dtype), GIDS_EDTYPE,
               "%s: input must be a float tensor (f32 or f64), got %s", name,
               gids_dtype_name(a->dtype));
    GIDS_TRY(gids_refuse_reduce(op, name, a->dtype));
    /* a sum of integers (or bools) accumulates and returns i64 */
    bool int_sum = op == GIDS_SUM && !gids_dtype_is_float(a->dtype);
    uint32_t mask = 0;
    GIDS_TRY(dim_mask(name, a->ndim, ndims, dims, &mask));
    int64_t shape[GIDS_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (mask & (1u << d)) {
            if (keepdim) shape[nd++] = 1;
        } else {
            shape[nd++] = a->shape[d];
        }
    }
    int64_t n_out, n_red;
    gc_layout kept = sub_layout(a, mask, false, &n_out);
    gc_layout red = sub_layout(a, mask, true, &n_red);
    GIDS_TRY(gc_use_device(name, a));
    gc_ref r;
    /* sums of integers and bool give i64, as the CPU */
    GIDS_TRY(gids_empty(&r.t, int_sum ? GIDS_I64 : a->dtype, gc_dev(a), nd, shape));
    if (n_out == 0) {
        *out = r.take();
        return GIDS_OK;
    }
    if (n_red == 0) {
        char buf[160];
        GIDS_CHECK(op == GIDS_SUM || op == GIDS_MEAN, GIDS_EINVAL,
                   "%s: cannot reduce over an empty dim (input shape %s): there is no identity "
                   "for %s",
                   name, gids_shape_str(a->ndim, a->shape, buf, sizeof buf), name);
        /* sum of nothing is 0; mean is 0/0 */
        GIDS_TRY(gc_fill(r.t, gids_scalar_f(op == GIDS_SUM ? 0.0 : NAN)));
        *out = r.take();
        return GIDS_OK;
    }
    if (int_sum) {
        int64_t *o = (int64_t *)gids_tensor_data(r.t);
        const void *p = gids_tensor_data(a);
        if (a->dtype == GIDS_I64)
            launch_isum<int64_t>(o, (const int64_t *)p, kept, red, n_out, n_red);
        else if (a->dtype == GIDS_I32)
            launch_isum<int32_t>(o, (const int32_t *)p, kept, red, n_out, n_red);
        else /* u8 and bool (one byte, 0 or 1) */
            launch_isum<uint8_t>(o, (const uint8_t *)p, kept, red, n_out, n_red);
        GC_LAUNCHED(name);
        *out = r.take();
        return GIDS_OK;
    }
    int kind = op == GIDS_AMAX ? R_MAX : op == GIDS_AMIN ? R_MIN : R_SUM;
    double divisor = op == GIDS_MEAN ? (double)n_red : 1.0; /* a divisor, as the CPU divides */
    /* Partials of a split reduction: doubles for sums, the element type for max/min. */
    gc_ref part;
    int64_t np = red_scratch(kept, n_out, n_red);
    if (np > 0)
        GIDS_TRY(gids_empty(&part.t, kind == R_SUM ? GIDS_F64 : a->dtype, gc_dev(a), 1, &np));
    void *scratch = part.t != nullptr ? gids_tensor_data(part.t) : nullptr;
    if (a->dtype == GIDS_I64)
        dispatch_extreme<int64_t>(kind, (int64_t *)gids_tensor_data(r.t),
                                  (const int64_t *)gids_tensor_data(a), kept, red, n_out, n_red,
                                  scratch);
    else if (a->dtype == GIDS_I32)
        dispatch_extreme<int32_t>(kind, (int32_t *)gids_tensor_data(r.t),
                                  (const int32_t *)gids_tensor_data(a), kept, red, n_out, n_red,
                                  scratch);
    else if (a->dtype == GIDS_F32)
        dispatch_reduce<float>(kind, (float *)gids_tensor_data(r.t),
                               (const float *)gids_tensor_data(a), kept, red, n_out, n_red, divisor,
                               scratch);
    else
        dispatch_reduce<double>(kind, (double *)gids_tensor_data(r.t),
                                (const double *)gids_tensor_data(a), kept, red, n_out, n_red,
                                divisor, scratch);
    GC_LAUNCHED(name);
    *out = r.take();
    return GIDS_OK;
}

/* ---------------------------------------------------------------- max/min along a dim */
gids_status gc_extreme_dim(gids_tensor **values, gids_tensor **indices, const gids_tensor *a,
                           int dim, bool keepdim, bool is_max) {
    const char *name = is_max ? "max" : "min";
    GIDS_CHECK(values != nullptr || indices != nullptr, GIDS_EINVAL, "%s: both outputs are NULL",
               name);
    if (values != nullptr) *values = nullptr;
    if (indices != nullptr) *indices = nullptr;
    GIDS_CHECK(a != nullptr, GIDS_EINVAL, "%s: arg 1 is NULL", name);
    GIDS_TRY(gids_refuse_dtype(GIDS_DR_EXTREME_DIM, name, a->dtype));
    int d0 = 0;
    GIDS_TRY(gids_normalize_dim(name, dim, a->ndim, &d0));
    uint32_t mask = a->ndim == 0 ? 0 : 1u << d0;
    int64_t shape[GIDS_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (mask & (1u << d)) {
            if (keepdim) shape[nd++] = 1;
        } else {
            shape[nd++] = a->shape[d];
        }
    }
    int64_t n_out, n_red;
    gc_layout kept = sub_layout(a, mask, false, &n_out);
    (void)sub_layout(a, mask, true, &n_red);
    int64_t step = a->ndim == 0 ? 0 : a->stride[d0];
    if (n_red == 0 && n_out > 0) {
        char buf[160];
        GIDS_FAIL(GIDS_EINVAL,
                  "%s: cannot reduce over an empty dim (input shape %s): there is no identity "
                  "for %s",
                  name, gids_shape_str(a->ndim, a->shape, buf, sizeof buf), name);
    }
    GIDS_TRY(gc_use_device(name, a));
    gc_ref v, ix;
    if (values != nullptr) GIDS_TRY(gids_empty(&v.t, a->dtype, gc_dev(a), nd, shape));
    GIDS_TRY(gids_empty(&ix.t, GIDS_I64, gc_dev(a), nd, shape));
    if (n_out > 0) {
        unsigned g = gc_blocks(n_out);
        int64_t *ip = (int64_t *)gids_tensor_data(ix.t);
        void *vp = v.t != nullptr ? gids_tensor_data(v.t) : nullptr;
        const void *ap = gids_tensor_data(a);
        switch (a->dtype) {
        case GIDS_F32:
            extreme_kernel<float><<<g, GC_THREADS, 0, gc_stream()>>>(
                (float *)vp, ip, (const float *)ap, kept, n_out, n_red, step, is_max);
            break;
        case GIDS_F64:
            extreme_kernel<double><<<g, GC_THREADS, 0, gc_stream()>>>(
                (double *)vp, ip, (const double *)ap, kept, n_out, n_red, step, is_max);
            break;
        case GIDS_I64:
            extreme_kernel<int64_t><<<g, GC_THREADS, 0, gc_stream()>>>(
                (int64_t *)vp, ip, (const int64_t *)ap, kept, n_out, n_red, step, is_max);
            break;
        default:
            extreme_kernel<int32_t><<<g, GC_THREADS, 0, gc_stream()>>>(
                (int32_t *)vp, ip, (const int32_t *)ap, kept, n_out, n_red, step, is_max);
            break;
        }
        GC_LAUNCHED(name);
    }
    if (values != nullptr) *values = v.take();
    if (indices != nullptr) *indices = ix.take();
    return GIDS_OK;
}
