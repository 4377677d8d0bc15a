/* softmax.cu -- softmax and log_softmax along one dim of an f32 or f64 CUDA tensor.
 *
 * Each slice of `size` elements at stride `inner` (the input made contiguous, [outer, size,
 * inner]) gets its max, the sum of exp(x - max), then its outputs, as the CPU's softmax.c.  The
 * exponentials are the input's type (a double exp an element cost the GPU three quarters of
 * PyTorch's rate for rows of 1024); their sum is a double, as on the CPU, except for rows of up
 * to 32, where a lane adds one term and the lanes fold them pairwise, or a lane adds a row of
 * up to 4 (at most five roundings either way).  An f32 running sum over a slice of 300 had put
 * the GPU 1.3e-6 off the CPU (an H100).  A slice holding NaN gives NaN, an all -inf slice NaN
 * (exp(-inf - -inf)), as on the CPU.
 *
 * Kernels by the shape of a slice:
 *   - softmax_thread: a thread a slice, for inner > 1 (neighbouring threads read neighbouring
 *     columns);
 *   - softmax_rows: G lanes a contiguous row, each holding E of its elements in registers (one
 *     read and one write per element, folds by shuffles within the G lanes): a lane a row of up
 *     to 4 (no shuffles; on an H100 rows of 4 moved 2110 GB/s with 4 lanes a row), else G the
 *     power of two >= size up to 32; a warp takes 32 / G rows at once, so its loads of short
 *     rows are one contiguous stretch;
 *   - softmax_block: a block a row longer than 1024 (three passes, the row's
 *     re-reads from cache).
 * Reductions run in a fixed order, so a result is the same from run to run.  The backward
 * (gc_softmax_backward) has a thread kernel and a row kernel of the same kinds.
 */
#include <math.h>

#include <type_traits>

#include "cuda_impl.h"

/* ---------------------------------------------------------------- kernels */
template <typename T> __device__ __forceinline__ T sm_exp(T x) {
    if constexpr (std::is_same<T, double>::value)
        return exp(x);
    else
        return expf(x);
}

template <typename T> __device__ __forceinline__ T sm_log(T x) {
    if constexpr (std::is_same<T, double>::value)
        return log(x);
    else
        return logf(x);
}

/* The max of a and b, NaN winning (torch's max). */
template <typename T> __device__ __forceinline__ T sm_max(T a, T b) {
    return (b > a || b != b) ? b : a;
}

/* Butterfly folds over the G lanes of a group (G a power of two, the groups aligned within the
 * warp): every lane ends with the same bits (a + b and b + a round alike), so the lanes'
 * outputs agree.  Every lane of the warp must take part. */
template <int G, typename T> __device__ __forceinline__ T group_max(T v) {
#pragma unroll
    for (int o = G / 2; o > 0; o /= 2) v = sm_max(v, __shfl_xor_sync(0xffffffffu, v, o, G));
    return v;
}

template <int G, typename T> __device__ __forceinline__ T group_sum(T v) {
#pragma unroll
    for (int o = G / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o, G);
    return v;
}

/* softmax_rows' shape classes, shortest rows first: rows of up to MAX elements take E elements
 * a lane and G lanes a row; longer rows take softmax_block.  One list for the launcher and the
 * kernel emulator (spec/gpu/emu), so the two cannot drift apart. */
// clang-format off
#define SOFTMAX_ROW_CLASSES(X)                                                                     \
    X(1, 1, 1) X(2, 2, 1) X(4, 4, 1) X(8, 1, 8) X(16, 1, 16) X(32, 1, 32) X(64, 2, 32)           \
    X(128, 4, 32) X(256, 8, 32) X(512, 16, 32) X(1024, 32, 32)
// clang-format on
/* softmax_bw_rows': rows of up to MAX elements take G lanes, longer ones a warp. */
#define SOFTMAX_BW_ROW_CLASSES(X) X(1, 1) X(2, 2) X(4, 4) X(8, 8) X(16, 16)

/* A thread's place in the row kernels: G lanes a row, a warp 32 / G rows at a time.  The
 * kernels loop by warps: the first row of this thread's warp, the stride to its next rows, this
 * thread's row within them and its lane in the row's group. */
template <int G> struct row_groups {
    int64_t first, step, offset;
    int lane;
    __device__ row_groups()
        : first((blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32) * (32 / G)),
          step((int64_t)gridDim.x * (blockDim.x / 32) * (32 / G)),
          offset((int64_t)((threadIdx.x & 31u) / G)), lane((int)(threadIdx.x & (unsigned)(G - 1))) {
    }
};

/* inner > 1: one thread per slice. */
template <typename T>
__global__ void softmax_thread(T *y, const T *x, int64_t outer, int64_t size, int64_t inner,
                               bool log_) {
    for (int64_t s = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; s < outer * inner;
         s += (int64_t)gridDim.x * blockDim.x) {
        int64_t base = (s / inner) * size * inner + s % inner;
        const T *xs = x + base;
        T *ys = y + base;
        T m = (T)-INFINITY;
        for (int64_t k = 0; k < size; k++) m = sm_max(m, xs[k * inner]);
        double sum = 0;
        for (int64_t k = 0; k < size; k++) sum += (double)sm_exp(xs[k * inner] - m);
        T inv = (T)(1.0 / sum), ls = (T)log(sum);
        for (int64_t k = 0; k < size; k++) {
            T d = xs[k * inner] - m;
            ys[k * inner] = log_ ? d - ls : sm_exp(d) * inv;
        }
    }
}

/* Contiguous rows of up to G * E elements, G lanes a row: lane l of a group holds columns l,
 * l + G, ..., l + G (E - 1).  The loop runs by warps (every lane of a warp shuffles, including
 * those of a group past the last row), and softmax keeps each exponential in its register for
 * the output. */
template <typename T, int E, int G>
__global__ void softmax_rows(T *y, const T *x, int64_t rows, int size, bool log_) {
    /* the sum's type: the input's where a lane adds at most a few terms of its own */
    using A = typename std::conditional<E == 1 || (G == 1 && E <= 4), T, double>::type;
    const row_groups<G> q;
    for (int64_t first = q.first; first < rows; first += q.step) {
        const int64_t row = first + q.offset;
        const int lane = q.lane;
        const bool live = row < rows;
        const T *xs = x + row * size;
        T v[E];
        T m = (T)-INFINITY;
#pragma unroll
        for (int k = 0; k < E; k++) {
            int c = lane + G * k;
            v[k] = live && c < size ? xs[c] : (T)-INFINITY;
            m = sm_max(m, v[k]);
        }
        m = group_max<G>(m);
        A sum = 0;
#pragma unroll
        for (int k = 0; k < E; k++) {
            T e = sm_exp(v[k] - m);
            if (lane + G * k < size) sum += (A)e;
            v[k] = log_ ? v[k] - m : e;
        }
        sum = group_sum<G>(sum);
        if (!live) continue;
        /* only the one needed: a double log a lane would cost rows of 4 more than their reads */
        T inv = log_ ? (T)0 : (T)((A)1 / sum), ls = log_ ? (T)sm_log(sum) : (T)0;
        T *ys = y + row * size;
#pragma unroll
        for (int k = 0; k < E; k++) {
            int c = lane + G * k;
            if (c < size) ys[c] = log_ ? v[k] - ls : v[k] * inv;
        }
    }
}

/* The backward, from the output gradient g and the result y: softmax r = y (g - sum(g y)),
 * log_softmax r = g - exp(y) sum(g), the sum a double as the CPU's.  softmax_bw_thread: a
 * thread a slice (inner > 1); softmax_bw_rows: G lanes a contiguous row of any length (the
 * forward's groups), striding it twice (the sum, then the outputs; the second read from
 * cache). */
template <typename T> __device__ __forceinline__ T sm_bw_out(T g, T y, T s, bool log_) {
    return log_ ? g - sm_exp(y) * s : y * (g - s);
}

template <typename T>
__global__ void softmax_bw_thread(T *r, const T *g, const T *y, int64_t outer, int64_t size,
                                  int64_t inner, bool log_) {
    for (int64_t sl = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; sl < outer * inner;
         sl += (int64_t)gridDim.x * blockDim.x) {
        int64_t base = (sl / inner) * size * inner + sl % inner;
        double acc = 0;
        for (int64_t k = 0; k < size; k++) {
            int64_t i = base + k * inner;
            acc += log_ ? (double)g[i] : (double)(g[i] * y[i]);
        }
        T s = (T)acc;
        for (int64_t k = 0; k < size; k++) {
            int64_t i = base + k * inner;
            r[i] = sm_bw_out(g[i], y[i], s, log_);
        }
    }
}

template <typename T, int G>
__global__ void softmax_bw_rows(T *r, const T *g, const T *y, int64_t rows, int64_t size,
                                bool log_) {
    const row_groups<G> q;
    for (int64_t first = q.first; first < rows; first += q.step) {
        const int64_t row = first + q.offset;
        const int lane = q.lane;
        const int64_t n = row < rows ? size : 0; /* a group past the last row only shuffles */
        const T *gs = g + row * size, *ys = y + row * size;
        double acc = 0;
        for (int64_t c = lane; c < n; c += G) acc += log_ ? (double)gs[c] : (double)(gs[c] * ys[c]);
        T s = (T)group_sum<G>(acc);
        T *rs = r + row * size;
        for (int64_t c = lane; c < n; c += G) rs[c] = sm_bw_out(gs[c], ys[c], s, log_);
    }
}

/* ---------------------------------------------------------------- block kernel */
/* The fold of one value a thread over the block: warps by shuffles, then the warps' results in
 * warp order (every thread reads them all, so every thread ends with the same bits). */
template <bool MAX, typename T> __device__ __forceinline__ T block_fold(T v, T *part) {
    v = MAX ? group_max<32>(v) : group_sum<32>(v);
    if ((threadIdx.x & 31u) == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    T r = part[0];
    for (unsigned w = 1; w < blockDim.x / 32; w++) r = MAX ? sm_max(r, part[w]) : r + part[w];
    __syncthreads(); /* part is reused by the next fold */
    return r;
}

/* Contiguous rows longer than softmax_rows takes: a block a row, three passes (the second
 * and third read the row back from cache). */
template <typename T>
__global__ void softmax_block(T *y, const T *x, int64_t rows, int64_t size, bool log_) {
    __shared__ T max_part[GC_THREADS / 32];
    __shared__ double sum_part[GC_THREADS / 32];
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T *xs = x + row * size;
        T *ys = y + row * size;
        T m = (T)-INFINITY;
        for (int64_t k = threadIdx.x; k < size; k += blockDim.x) m = sm_max(m, xs[k]);
        m = block_fold<true>(m, max_part);
        double sum = 0;
        for (int64_t k = threadIdx.x; k < size; k += blockDim.x) sum += (double)sm_exp(xs[k] - m);
        sum = block_fold<false>(sum, sum_part);
        T inv = (T)(1.0 / sum), ls = (T)log(sum);
        for (int64_t k = threadIdx.x; k < size; k += blockDim.x) {
            T d = xs[k] - m;
            ys[k] = log_ ? d - ls : sm_exp(d) * inv;
        }
    }
}

/* ---------------------------------------------------------------- launches */
/* The grid for a kernel whose warps take 32 / G rows at a time. */
static unsigned rows_grid(int64_t rows, int G) {
    const int64_t rows_per_block = (GC_THREADS / 32) * (32 / G);
    int64_t b = (rows + rows_per_block - 1) / rows_per_block;
    return (unsigned)(b < (int64_t)gc_grid_cap ? b : gc_grid_cap);
}

template <typename T, int E, int G>
static void launch_rows(T *y, const T *x, int64_t rows, int64_t size, bool log_) {
    softmax_rows<T, E, G>
        <<<rows_grid(rows, G), GC_THREADS, 0, gc_stream()>>>(y, x, rows, (int)size, log_);
}

/* softmax_rows of the first class that takes rows of `size`; false when none does. */
template <typename T>
static bool rows_by_class(T *y, const T *x, int64_t rows, int64_t size, bool log_) {
#define SM_ROWS(MAX, E, G)                                                                         \
    if (size <= MAX) {                                                                             \
        launch_rows<T, E, G>(y, x, rows, size, log_);                                              \
        return true;                                                                               \
    }
    SOFTMAX_ROW_CLASSES(SM_ROWS)
#undef SM_ROWS
    return false;
}

template <typename T>
static void launch_softmax(T *y, const T *x, int64_t outer, int64_t size, int64_t inner,
                           bool log_) {
    if (inner > 1) {
        softmax_thread<T><<<gc_blocks(outer * inner), GC_THREADS, 0, gc_stream()>>>(
            y, x, outer, size, inner, log_);
        return;
    }
    if (rows_by_class(y, x, outer, size, log_)) return;
    unsigned g = (unsigned)(outer < 65535 * 8 ? outer : 65535 * 8);
    softmax_block<T><<<g, GC_THREADS, 0, gc_stream()>>>(y, x, outer, size, log_);
}

template <typename T, int G>
static void launch_bw_rows(T *r, const T *g, const T *y, int64_t rows, int64_t size, bool log_) {
    softmax_bw_rows<T, G>
        <<<rows_grid(rows, G), GC_THREADS, 0, gc_stream()>>>(r, g, y, rows, size, log_);
}

template <typename T>
static void bw_rows_by_class(T *r, const T *g, const T *y, int64_t rows, int64_t size, bool log_) {
#define SM_BW_ROWS(MAX, G)                                                                         \
    if (size <= MAX) {                                                                             \
        launch_bw_rows<T, G>(r, g, y, rows, size, log_);                                           \
        return;                                                                                    \
    }
    SOFTMAX_BW_ROW_CLASSES(SM_BW_ROWS)
#undef SM_BW_ROWS
    launch_bw_rows<T, 32>(r, g, y, rows, size, log_);
}

template <typename T>
static void launch_softmax_backward(T *r, const T *g, const T *y, int64_t outer, int64_t size,
                                    int64_t inner, bool log_) {
    if (inner > 1)
        softmax_bw_thread<T><<<gc_blocks(outer * inner), GC_THREADS, 0, gc_stream()>>>(
            r, g, y, outer, size, inner, log_);
    else
        bw_rows_by_class(r, g, y, outer, size, log_);
}

/* t (f32 or f64 here) as [outer, size, inner] around dim. */
static gids_status sm_split(const char *name, const gids_tensor *t, int dim, int64_t *outer,
                            int64_t *size, int64_t *inner) {
    GIDS_TRY(gids_refuse_dtype(GIDS_DR_FLOAT, name, t->dtype));
    int d0;
    GIDS_TRY(gids_normalize_dim(name, dim, t->ndim, &d0));
    *outer = 1, *size = t->ndim == 0 ? 1 : t->shape[d0], *inner = 1;
    for (int d = 0; d < d0; d++) *outer *= t->shape[d];
    for (int d = d0 + 1; d < t->ndim; d++) *inner *= t->shape[d];
    return GIDS_OK;
}

/* The runtime (softmax.c) has checked the arguments: one float dtype, one shape, dim in range. */
gids_status gc_softmax_backward(gids_tensor **out, const gids_tensor *g, const gids_tensor *y,
                                int dim, bool log_) {
    const char *name = log_ ? "log_softmax_backward" : "softmax_backward";
    int64_t outer = 0, size = 0, inner = 0;
    GIDS_TRY(sm_split(name, y, dim, &outer, &size, &inner));
    gc_ref gc, yc, r;
    GIDS_TRY(gc_contiguous_as(name, &gc.t, g, g->dtype));
    GIDS_TRY(gc_contiguous_as(name, &yc.t, y, y->dtype));
    GIDS_TRY(gids_empty(&r.t, y->dtype, gc_dev(y), y->ndim, y->shape));
    if (gids_tensor_numel(y) > 0) {
        if (y->dtype == GIDS_F32)
            launch_softmax_backward<float>(
                (float *)gids_tensor_data(r.t), (const float *)gids_tensor_data(gc.t),
                (const float *)gids_tensor_data(yc.t), outer, size, inner, log_);
        else
            launch_softmax_backward<double>(
                (double *)gids_tensor_data(r.t), (const double *)gids_tensor_data(gc.t),
                (const double *)gids_tensor_data(yc.t), outer, size, inner, log_);
        GC_LAUNCHED(name);
    }
    *out = r.take();
    return GIDS_OK;
}

gids_status gc_softmax(gids_tensor **out, const gids_tensor *a, int dim, bool log_) {
    const char *name = log_ ? "log_softmax" : "softmax";
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", name);
    GIDS_CHECK(a != nullptr, GIDS_EINVAL, "%s: arg 1 is NULL", name);
    GIDS_CHECK(gids_dtype_is_float(a->dtype), GIDS_EDTYPE,
               "%s: input must be a float tensor (f32 or f64), got %s", name,
               gids_dtype_name(a->dtype));
    int64_t outer = 0, size = 0, inner = 0;
    GIDS_TRY(sm_split(name, a, dim, &outer, &size, &inner));
    gc_ref c, r;
    GIDS_TRY(gc_contiguous_as(name, &c.t, a, a->dtype));
    GIDS_TRY(gids_empty(&r.t, a->dtype, gc_dev(a), a->ndim, a->shape));
    if (gids_tensor_numel(a) > 0) {
        if (a->dtype == GIDS_F32)
            launch_softmax<float>((float *)gids_tensor_data(r.t),
                                  (const float *)gids_tensor_data(c.t), outer, size, inner, log_);
        else
            launch_softmax<double>((double *)gids_tensor_data(r.t),
                                   (const double *)gids_tensor_data(c.t), outer, size, inner, log_);
        GC_LAUNCHED(name);
    }
    *out = r.take();
    return GIDS_OK;
}
