/* scan.cu -- cumsum and cumprod along one dim of CUDA tensors, with the CPU's bits
 * (runtime/src/cpu/scan.c): floats keep their dtype and accumulate in f64, integers and bool
 * accumulate in i64 (wrapping) and give i64.
 *
 * One thread per line (one position of the dims before and after the scanned one) walks the
 * scanned dim in order, as the CPU does, so every running value is the same sequence of IEEE
 * adds (or multiplies) of the same operands in the same order as on the CPU: the results are
 * the CPU's bit for bit, on every run (no atomics, no reassociation; an add or a multiply
 * alone gives nvcc nothing to contract into an FMA).  Neighbouring threads take neighbouring
 * positions of the dims after the scanned one, so those reads are coalesced; a scan along the
 * last dim reads each line with one thread and is latency-bound, and a single long line (a 1-D
 * cumsum) runs on one thread: correct and deterministic, not fast.
 */
#include "cuda_impl.h"

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

gids_status gc_scan(gids_tensor **out, const gids_tensor *a, int dim, bool prod) {
    const char *op = prod ? "cumprod" : "cumsum";
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", op);
    *out = nullptr;
    GIDS_CHECK(a != nullptr, GIDS_EINVAL, "%s: arg 1 is NULL", op);
    gids_dtype in = a->dtype;
    GIDS_CHECK(in == GIDS_F32 || in == GIDS_F64 || in == GIDS_I64 || in == GIDS_I32 ||
                   in == GIDS_U8 || in == GIDS_BOOL,
               GIDS_EUNSUPPORTED,
               "%s: dtype %s is not supported on CUDA yet (f32, f64, i64, i32, u8 and bool)", op,
               gids_dtype_name(in));
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
        if (dt == GIDS_F32)
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
