/* scan.cu -- cumsum and cumprod along one dim of CUDA tensors, with the CPU's dtypes
 * (runtime/src/cpu/scan.c): floats keep their dtype and accumulate in f64, integers and bool
 * accumulate in i64 (wrapping) and give i64.
 *
 * Two kernels, by the shape of the scan:
 *  - a thread per line (one position of the dims before and after the scanned one) walks the
 *    scanned dim in order, as the CPU does, so every running value is the same sequence of IEEE
 *    adds (or multiplies) of the same operands in the same order as on the CPU: the CPU's bits
 *    (no atomics, no reassociation; an add or a multiply alone gives nvcc nothing to contract
 *    into an FMA).  Neighbouring threads take neighbouring positions of the dims after the
 *    scanned one, so those reads are coalesced.  Used for scans along any dim but the last, and
 *    along the last for lines shorter than SCAN_CHUNKED_MIN.
 *  - longer lines along the last dim (a 1-D cumsum, rows of a matrix) are cut into chunks of up
 *    to SCAN_MAX_THREADS x SCAN_ELEMS elements, a block each: every chunk's total, then each
 *    line's running totals of its chunks, then every chunk again seeded with them.  The order of
 *    operations is fixed by the chunk size and the position alone, so the result is the same on
 *    every run; for integers (wrapping i64, associative) it is the CPU's exactly, for floats the
 *    f64 sums are grouped differently from the CPU's left-to-right walk (within f64 rounding of
 *    it; an f32 result is the CPU's but where that rounding crosses an f32 rounding boundary).
 */
#include "cuda_impl.h"

#define SCAN_ELEMS 8         /* consecutive elements a thread holds in the chunked scan */
#define SCAN_MAX_THREADS 256 /* a chunk: up to 256 x 8 = 2048 elements */
#define SCAN_CHUNKED_MIN 512 /* lines at least this long along the last dim scan in chunks */

/* -- scan kernels */
template <typename ACC> __device__ __forceinline__ ACC sc_op(ACC a, ACC b, bool prod) {
    return prod ? a * b : a + b;
}

/* y = the inclusive scan of the contiguous [outer, size, inner] x along its middle dim. */
template <typename T, typename ACC>
__global__ void sc_lines(T *y, const T *x, int64_t lines, int64_t size, int64_t inner, bool prod) {
    for (int64_t l = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; l < lines;
         l += (int64_t)gridDim.x * blockDim.x) {
        int64_t o = l / inner, j = l - o * inner;
        int64_t at = o * size * inner + j;
        ACC acc = prod ? (ACC)1 : (ACC)0;
        for (int64_t k = 0; k < size; k++, at += inner) {
            acc = prod ? acc * (ACC)x[at] : acc + (ACC)x[at];
            y[at] = (T)acc;
        }
    }
}

/* The inclusive scan of one chunk of n <= blockDim.x * SCAN_ELEMS elements at x, seeded with
 * carry (the identity for none); the chunk's total (carry included) is returned to every thread,
 * and y is written unless it is null.  Thread t holds elements [t E, t E + E) and scans them in
 * order; the lanes of each warp scan their totals by shuffles; each warp then adds, in order,
 * the totals of the warps before it.  blockDim.x is a multiple of 32, at most SCAN_MAX_THREADS. */
template <typename T, typename ACC>
__device__ ACC sc_chunk(T *y, const T *x, int64_t n, ACC carry, bool prod) {
    __shared__ ACC warp_total[SCAN_MAX_THREADS / 32];
    const ACC one = prod ? (ACC)1 : (ACC)0;
    const int t = (int)threadIdx.x, lane = t & 31, w = t >> 5, warps = (int)(blockDim.x >> 5);
    const int64_t base = (int64_t)t * SCAN_ELEMS;
    ACC v[SCAN_ELEMS];
    ACC run = one;
    for (int k = 0; k < SCAN_ELEMS; k++) {
        if (base + k < n) run = sc_op(run, (ACC)x[base + k], prod);
        v[k] = run;
    }
    ACC s = run;
    for (int o = 1; o < 32; o <<= 1) {
        ACC u = __shfl_up_sync(0xffffffffu, s, o);
        if (lane >= o) s = sc_op(u, s, prod);
    }
    /* the lanes before this one (lane 0: its own) */
    ACC before = __shfl_up_sync(0xffffffffu, s, 1);
    if (lane == 31) warp_total[w] = s;
    __syncthreads();
    ACC prefix = carry;
    for (int i = 0; i < w; i++) prefix = sc_op(prefix, warp_total[i], prod);
    if (lane > 0) prefix = sc_op(prefix, before, prod);
    if (y != nullptr)
        for (int k = 0; k < SCAN_ELEMS; k++)
            if (base + k < n) y[base + k] = (T)sc_op(prefix, v[k], prod);
    ACC total = carry;
    for (int i = 0; i < warps; i++) total = sc_op(total, warp_total[i], prod);
    return total;
}

/* Block b scans chunk b % chunks of line b / chunks of the contiguous [lines, size] x. */
template <typename T, typename ACC>
__device__ ACC sc_chunk_at(T *y, const T *x, int64_t size, int64_t chunks, ACC carry, bool prod) {
    int64_t b = blockIdx.x, line = b / chunks, c = b - line * chunks;
    int64_t len = (int64_t)blockDim.x * SCAN_ELEMS, start = line * size + c * len;
    int64_t n = size - c * len < len ? size - c * len : len;
    return sc_chunk<T, ACC>(y != nullptr ? y + start : nullptr, x + start, n, carry, prod);
}

/* Pass 1: every chunk's total. */
template <typename T, typename ACC>
__global__ void sc_chunk_totals(ACC *totals, const T *x, int64_t size, int64_t chunks, bool prod) {
    ACC total = sc_chunk_at<T, ACC>(nullptr, x, size, chunks, prod ? (ACC)1 : (ACC)0, prod);
    if (threadIdx.x == 0) totals[blockIdx.x] = total;
}

/* Pass 2: carry[l, c] = the totals of the chunks before c of line l, in order (a thread a line). */
template <typename ACC>
__global__ void sc_chunk_carries(ACC *carry, const ACC *totals, int64_t lines, int64_t chunks,
                                 bool prod) {
    for (int64_t l = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; l < lines;
         l += (int64_t)gridDim.x * blockDim.x) {
        ACC acc = prod ? (ACC)1 : (ACC)0;
        for (int64_t c = l * chunks; c < (l + 1) * chunks; c++) {
            carry[c] = acc;
            acc = sc_op(acc, totals[c], prod);
        }
    }
}

/* Pass 3: every chunk scanned again, seeded with its carry (none: a line is one chunk). */
template <typename T, typename ACC>
__global__ void sc_chunk_scan(T *y, const T *x, const ACC *carry, int64_t size, int64_t chunks,
                              bool prod) {
    ACC seed = carry != nullptr ? carry[blockIdx.x] : prod ? (ACC)1 : (ACC)0;
    sc_chunk_at<T, ACC>(y, x, size, chunks, seed, prod);
}
/* -- launches */

/* The chunked scan of the contiguous [lines, size] x into y (the passes above). */
template <typename T, typename ACC>
static gids_status sc_chunked(const char *op, const gids_tensor *like, T *y, const T *x,
                              int64_t lines, int64_t size, bool prod, gids_dtype acc_dtype) {
    int64_t per = (size + SCAN_ELEMS - 1) / SCAN_ELEMS;
    unsigned threads =
        per >= SCAN_MAX_THREADS ? SCAN_MAX_THREADS : (unsigned)((per + 31) / 32 * 32);
    int64_t len = (int64_t)threads * SCAN_ELEMS, chunks = (size + len - 1) / len;
    GIDS_CHECK(lines <= INT32_MAX / chunks, GIDS_EUNSUPPORTED,
               "%s: %lld lines of %lld elements need more than 2^31 blocks", op, (long long)lines,
               (long long)size);
    unsigned blocks = (unsigned)(lines * chunks);
    if (chunks == 1) {
        sc_chunk_scan<T, ACC><<<blocks, threads, 0, gc_stream()>>>(y, x, nullptr, size, 1, prod);
        return GIDS_OK;
    }
    gc_ref buf; /* the chunk totals, then their carries */
    int64_t n2 = 2 * (int64_t)blocks;
    GIDS_TRY(gids_empty(&buf.t, acc_dtype, gc_dev(like), 1, &n2));
    ACC *totals = (ACC *)gids_tensor_data(buf.t), *carry = totals + blocks;
    sc_chunk_totals<T, ACC><<<blocks, threads, 0, gc_stream()>>>(totals, x, size, chunks, prod);
    sc_chunk_carries<ACC>
        <<<gc_blocks(lines), GC_THREADS, 0, gc_stream()>>>(carry, totals, lines, chunks, prod);
    sc_chunk_scan<T, ACC><<<blocks, threads, 0, gc_stream()>>>(y, x, carry, size, chunks, prod);
    return GIDS_OK;
}

gids_status gc_scan(gids_tensor **out, const gids_tensor *a, int dim, bool prod) {
    const char *op = prod ? "cumprod" : "cumsum";
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", op);
    *out = nullptr;
    GIDS_CHECK(a != nullptr, GIDS_EINVAL, "%s: arg 1 is NULL", op);
    gids_dtype in = a->dtype;
    GIDS_TRY(gids_refuse_dtype(GIDS_DR_SIX, op, in));
    int d = 0;
    GIDS_TRY(gids_normalize_dim(op, dim, a->ndim, &d));
    GIDS_TRY(gc_use_device(op, a));
    int64_t outer = 1, size = a->ndim == 0 ? 1 : a->shape[d], inner = 1;
    for (int i = 0; i < a->ndim; i++) {
        if (i < d) outer *= a->shape[i];
        if (i > d) inner *= a->shape[i];
    }
    gids_dtype dt = in == GIDS_F32 || in == GIDS_F64 ? in : GIDS_I64;
    gc_ref r, c;
    GIDS_TRY(gids_empty(&r.t, dt, gc_dev(a), a->ndim, a->shape));
    int64_t lines = outer * inner;
    if (lines > 0 && size > 0) {
        GIDS_TRY(gc_contiguous_as(op, &c.t, a, dt)); /* integers and bool widen to i64 here */
        unsigned g = gc_blocks(lines);
        void *y = gids_tensor_data(r.t);
        const void *x = gids_tensor_data(c.t);
        if (inner == 1 && size >= SCAN_CHUNKED_MIN) {
            gids_status st;
            if (dt == GIDS_F32)
                st = sc_chunked<float, double>(op, a, (float *)y, (const float *)x, lines, size,
                                               prod, GIDS_F64);
            else if (dt == GIDS_F64)
                st = sc_chunked<double, double>(op, a, (double *)y, (const double *)x, lines, size,
                                                prod, GIDS_F64);
            else
                st = sc_chunked<int64_t, uint64_t>(op, a, (int64_t *)y, (const int64_t *)x, lines,
                                                   size, prod, GIDS_I64);
            GIDS_TRY(st);
        } else if (dt == GIDS_F32)
            sc_lines<float, double><<<g, GC_THREADS, 0, gc_stream()>>>((float *)y, (const float *)x,
                                                                       lines, size, inner, prod);
        else if (dt == GIDS_F64)
            sc_lines<double, double><<<g, GC_THREADS, 0, gc_stream()>>>(
                (double *)y, (const double *)x, lines, size, inner, prod);
        else /* unsigned arithmetic wraps where signed overflow would be undefined, as the CPU */
            sc_lines<int64_t, uint64_t><<<g, GC_THREADS, 0, gc_stream()>>>(
                (int64_t *)y, (const int64_t *)x, lines, size, inner, prod);
        GC_LAUNCHED(op);
    }
    *out = r.take();
    return GIDS_OK;
}
