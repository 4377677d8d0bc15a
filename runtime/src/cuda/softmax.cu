/* softmax.cu -- softmax and log_softmax along one dim of an f32 or f64 CUDA tensor.
 *
 * Each slice of `size` elements at stride `inner` (the input made contiguous, [outer, size,
 * inner]) gets its max, the sum of exp(x - max), then its outputs, as the CPU's softmax.c.  The
 * arithmetic is the input's type, float for f32 as PyTorch's kernels: the CPU sums an f32 slice
 * in double, which costs the GPU a double exp an element (rows of 1024 ran at a quarter of
 * PyTorch's rate) for differences far inside gpu_check's 1e-6.  A slice holding NaN gives NaN,
 * an all -inf slice NaN (exp(-inf - -inf)), as on the CPU.
 *
 * Three kernels by the shape of a slice:
 *   - softmax_thread: a thread a slice, for inner > 1 (neighbouring threads read neighbouring
 *     columns) and for rows of up to SOFTMAX_THREAD_ROW elements;
 *   - softmax_warp: a warp a row of up to 32 * SOFTMAX_WARP_ELEMS, held in registers (one read
 *     and one write per element, reductions by shuffles);
 *   - softmax_block: a block a longer row (three passes, the row's re-reads from cache).
 * Reductions run in a fixed order, so a result is the same from run to run.  The backward
 * (gc_softmax_backward) has a thread kernel and a warp kernel of the same shapes.
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

template <typename T>
__device__ __forceinline__ T sm_out(T x, T m, T inv_sum, T log_sum, bool log_) {
    return log_ ? (x - m) - log_sum : sm_exp(x - m) * inv_sum;
}

/* inner > 1, or short rows: one thread per slice. */
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
        T sum = 0;
        for (int64_t k = 0; k < size; k++) sum += sm_exp(xs[k * inner] - m);
        T inv = (T)1 / sum, ls = sm_log(sum);
        for (int64_t k = 0; k < size; k++) ys[k * inner] = sm_out(xs[k * inner], m, inv, ls, log_);
    }
}

/* Butterfly reductions over the 32 lanes: every lane ends with the same bits (a + b and b + a
 * round alike), so the lanes' outputs agree. */
template <typename T> __device__ __forceinline__ T warp_max(T v) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) v = sm_max(v, __shfl_xor_sync(0xffffffffu, v, o, 32));
    return v;
}

template <typename T> __device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o, 32);
    return v;
}

/* Contiguous rows of SOFTMAX_THREAD_ROW < size <= 32 * E: a warp a row, lane l holding columns
 * l, l + 32, ..., l + 32 (E - 1) in registers.  Rows of 1024 had taken a block each, whose 256
 * threads met at sixteen barriers a row to fold four elements apiece. */
template <typename T, int E>
__global__ void softmax_warp(T *y, const T *x, int64_t rows, int size, bool log_) {
    const int lane = (int)(threadIdx.x & 31u);
    const int64_t per_block = blockDim.x / 32, warps = (int64_t)gridDim.x * per_block;
    for (int64_t row = blockIdx.x * per_block + threadIdx.x / 32; row < rows; row += warps) {
        const T *xs = x + row * size;
        T *ys = y + row * size;
        T v[E];
        T m = (T)-INFINITY;
#pragma unroll
        for (int k = 0; k < E; k++) {
            int c = lane + 32 * k;
            v[k] = c < size ? xs[c] : (T)-INFINITY;
            m = sm_max(m, v[k]);
        }
        m = warp_max(m);
        T sum = 0;
#pragma unroll
        for (int k = 0; k < E; k++)
            if (lane + 32 * k < size) sum += sm_exp(v[k] - m);
        sum = warp_sum(sum);
        T inv = (T)1 / sum, ls = sm_log(sum);
#pragma unroll
        for (int k = 0; k < E; k++) {
            int c = lane + 32 * k;
            if (c < size) ys[c] = sm_out(v[k], m, inv, ls, log_);
        }
    }
}

/* The backward, from the output gradient g and the result y: softmax r = y (g - sum(g y)),
 * log_softmax r = g - exp(y) sum(g), the sum in the input's type as the forward's.
 * softmax_bw_thread: a thread a slice (inner > 1, short rows); softmax_bw_warp: a warp a
 * contiguous row of any length, its lanes striding it twice (the sum, then the outputs; the
 * second read from cache). */
template <typename T>
__device__ __forceinline__ T sm_bw_out(T g, T y, T s, bool log_) {
    return log_ ? g - sm_exp(y) * s : y * (g - s);
}

template <typename T>
__global__ void softmax_bw_thread(T *r, const T *g, const T *y, int64_t outer, int64_t size,
                                  int64_t inner, bool log_) {
    for (int64_t sl = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; sl < outer * inner;
         sl += (int64_t)gridDim.x * blockDim.x) {
        int64_t base = (sl / inner) * size * inner + sl % inner;
        T s = 0;
        for (int64_t k = 0; k < size; k++) {
            int64_t i = base + k * inner;
            s += log_ ? g[i] : g[i] * y[i];
        }
        for (int64_t k = 0; k < size; k++) {
            int64_t i = base + k * inner;
            r[i] = sm_bw_out(g[i], y[i], s, log_);
        }
    }
}

template <typename T>
__global__ void softmax_bw_warp(T *r, const T *g, const T *y, int64_t rows, int64_t size,
                                bool log_) {
    const int lane = (int)(threadIdx.x & 31u);
    const int64_t per_block = blockDim.x / 32, warps = (int64_t)gridDim.x * per_block;
    for (int64_t row = blockIdx.x * per_block + threadIdx.x / 32; row < rows; row += warps) {
        const T *gs = g + row * size, *ys = y + row * size;
        T *rs = r + row * size;
        T s = 0;
        for (int64_t c = lane; c < size; c += 32) s += log_ ? gs[c] : gs[c] * ys[c];
        s = warp_sum(s);
        for (int64_t c = lane; c < size; c += 32) rs[c] = sm_bw_out(gs[c], ys[c], s, log_);
    }
}

/* ---------------------------------------------------------------- block kernel */
/* The fold of one value a thread over the block: warps by shuffles, then the warps' results in
 * warp order (every thread reads them all, so every thread ends with the same bits). */
template <bool MAX, typename T> __device__ __forceinline__ T block_fold(T v, T *part) {
    v = MAX ? warp_max(v) : warp_sum(v);
    if ((threadIdx.x & 31u) == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    T r = part[0];
    for (unsigned w = 1; w < blockDim.x / 32; w++) r = MAX ? sm_max(r, part[w]) : r + part[w];
    __syncthreads(); /* part is reused by the next fold */
    return r;
}

/* Contiguous rows longer than the warp kernel takes: a block a row, three passes (the second
 * and third read the row back from cache). */
template <typename T>
__global__ void softmax_block(T *y, const T *x, int64_t rows, int64_t size, bool log_) {
    __shared__ T part[GC_THREADS / 32];
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T *xs = x + row * size;
        T *ys = y + row * size;
        T m = (T)-INFINITY;
        for (int64_t k = threadIdx.x; k < size; k += blockDim.x) m = sm_max(m, xs[k]);
        m = block_fold<true>(m, part);
        T sum = 0;
        for (int64_t k = threadIdx.x; k < size; k += blockDim.x) sum += sm_exp(xs[k] - m);
        sum = block_fold<false>(sum, part);
        T inv = (T)1 / sum, ls = sm_log(sum);
        for (int64_t k = threadIdx.x; k < size; k += blockDim.x)
            ys[k] = sm_out(xs[k], m, inv, ls, log_);
    }
}

/* ---------------------------------------------------------------- launches */
/* Rows up to this long take a thread each even when contiguous: a block per row of 4 left 252
 * of its 256 threads idle through sixteen barriers (14 GB/s on an H200 for [268M, 4] f32,
 * where PyTorch moved 2930). */
#define SOFTMAX_THREAD_ROW 32
/* Elements a lane holds in softmax_warp at most: rows of up to 1024. */
#define SOFTMAX_WARP_ELEMS 32

template <typename T, int E>
static void launch_warp(T *y, const T *x, int64_t rows, int64_t size, bool log_) {
    const int64_t per_block = GC_THREADS / 32;
    int64_t b = (rows + per_block - 1) / per_block;
    unsigned g = (unsigned)(b < (int64_t)gc_grid_cap ? b : gc_grid_cap);
    softmax_warp<T, E><<<g, GC_THREADS, 0, gc_stream()>>>(y, x, rows, (int)size, log_);
}

template <typename T>
static void launch_softmax(T *y, const T *x, int64_t outer, int64_t size, int64_t inner,
                           bool log_) {
    if (inner > 1 || size <= SOFTMAX_THREAD_ROW) {
        softmax_thread<T><<<gc_blocks(outer * inner), GC_THREADS, 0, gc_stream()>>>(
            y, x, outer, size, inner, log_);
    } else if (size <= 64) {
        launch_warp<T, 2>(y, x, outer, size, log_);
    } else if (size <= 128) {
        launch_warp<T, 4>(y, x, outer, size, log_);
    } else if (size <= 256) {
        launch_warp<T, 8>(y, x, outer, size, log_);
    } else if (size <= 512) {
        launch_warp<T, 16>(y, x, outer, size, log_);
    } else if (size <= 32 * SOFTMAX_WARP_ELEMS) {
        launch_warp<T, SOFTMAX_WARP_ELEMS>(y, x, outer, size, log_);
    } else {
        unsigned g = (unsigned)(outer < 65535 * 8 ? outer : 65535 * 8);
        softmax_block<T><<<g, GC_THREADS, 0, gc_stream()>>>(y, x, outer, size, log_);
    }
}

template <typename T>
static void launch_softmax_backward(T *r, const T *g, const T *y, int64_t outer, int64_t size,
                                    int64_t inner, bool log_) {
    if (inner > 1 || size <= SOFTMAX_THREAD_ROW) {
        softmax_bw_thread<T><<<gc_blocks(outer * inner), GC_THREADS, 0, gc_stream()>>>(
            r, g, y, outer, size, inner, log_);
    } else {
        const int64_t per_block = GC_THREADS / 32;
        int64_t b = (outer + per_block - 1) / per_block;
        unsigned grid = (unsigned)(b < (int64_t)gc_grid_cap ? b : gc_grid_cap);
        softmax_bw_warp<T><<<grid, GC_THREADS, 0, gc_stream()>>>(r, g, y, outer, size, log_);
    }
}

/* t (f32 or f64 here) as [outer, size, inner] around dim. */
static gids_status sm_split(const char *name, const gids_tensor *t, int dim, int64_t *outer,
                            int64_t *size, int64_t *inner) {
    GIDS_CHECK(t->dtype == GIDS_F32 || t->dtype == GIDS_F64, GIDS_EUNSUPPORTED,
               "%s: dtype %s is not supported on CUDA yet (f32 and f64 only)", name,
               gids_dtype_name(t->dtype));
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
            launch_softmax_backward<float>((float *)gids_tensor_data(r.t),
                                           (const float *)gids_tensor_data(gc.t),
                                           (const float *)gids_tensor_data(yc.t), outer, size,
                                           inner, log_);
        else
            launch_softmax_backward<double>((double *)gids_tensor_data(r.t),
                                            (const double *)gids_tensor_data(gc.t),
                                            (const double *)gids_tensor_data(yc.t), outer, size,
                                            inner, log_);
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
