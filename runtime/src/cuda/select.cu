/* select.cu -- nonzero on CUDA tensors: the [count, ndim] i64 coordinates of the non-zero
 * elements in row-major order, as the CPU's (runtime/src/cpu/masked.c; NaN counts as non-zero).
 *
 * A flag per element (read through the input's strides), then CUB's DeviceSelect::Flagged keeps
 * the row-major positions whose flag is set, in order (a stable compaction: no atomics, the
 * same output on every run); the count is read back to size the result (one synchronisation:
 * the size depends on the data), and a last kernel turns positions into coordinates.
 */
#include <cub/cub.cuh>

#include "gc_index.h"

template <typename T>
__global__ void nonzero_flags(uint8_t *flags, int64_t *pos, const T *a, gc_layout la, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        flags[i] = a[gc_offset(la, i)] != (T)0 ? 1 : 0; /* NaN != 0 */
        pos[i] = i;
    }
}

/* Row-major position -> coordinates, one row of the result per selected element. */
struct nz_shape {
    int ndim;
    int64_t shape[GIDS_MAX_DIMS];
};
__global__ void nonzero_coords(int64_t *out, const int64_t *pos, int64_t count, nz_shape s) {
    for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; r < count;
         r += (int64_t)gridDim.x * blockDim.x) {
        int64_t f = pos[r];
        for (int d = s.ndim - 1; d >= 0; d--) {
            out[r * s.ndim + d] = f % s.shape[d];
            f /= s.shape[d];
        }
    }
}

template <typename T>
static void launch_flags(uint8_t *flags, int64_t *pos, const gids_tensor *a, const gc_layout &la,
                         int64_t n) {
    nonzero_flags<T>
        <<<gc_blocks(n), GC_THREADS>>>(flags, pos, (const T *)gids_tensor_data(a), la, n);
}

gids_status gc_nonzero(gids_tensor **out, const gids_tensor *a) {
    const char *op = "nonzero";
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", op);
    *out = nullptr;
    GIDS_CHECK(a != nullptr, GIDS_EINVAL, "%s: input is NULL", op);
    gids_dtype dt = a->dtype;
    GIDS_CHECK(dt == GIDS_F32 || dt == GIDS_F64 || dt == GIDS_I64 || dt == GIDS_I32 ||
                   dt == GIDS_U8 || dt == GIDS_BOOL,
               GIDS_EUNSUPPORTED, "%s: dtype %s is not supported on CUDA yet", op,
               gids_dtype_name(dt));
    GIDS_TRY(gc_use_device(op, a));
    int64_t n = gids_tensor_numel(a), count = 0;
    gids_device dev = gc_dev(a);
    gc_ref flags, pos, sel, num, tmp, r;
    if (n > 0) {
        GIDS_TRY(gids_empty(&flags.t, GIDS_U8, dev, 1, &n));
        GIDS_TRY(gids_empty(&pos.t, GIDS_I64, dev, 1, &n));
        GIDS_TRY(gids_empty(&sel.t, GIDS_I64, dev, 1, &n));
        int64_t one = 1;
        GIDS_TRY(gids_empty(&num.t, GIDS_I64, dev, 1, &one));
        gc_layout la;
        const gids_tensor *ts[1] = {a};
        gc_layouts(1, ts, a->ndim, a->shape, &la);
        uint8_t *fp = (uint8_t *)gids_tensor_data(flags.t);
        int64_t *pp = (int64_t *)gids_tensor_data(pos.t);
        switch (dt) {
        case GIDS_F32: launch_flags<float>(fp, pp, a, la, n); break;
        case GIDS_F64: launch_flags<double>(fp, pp, a, la, n); break;
        case GIDS_I64: launch_flags<int64_t>(fp, pp, a, la, n); break;
        case GIDS_I32: launch_flags<int32_t>(fp, pp, a, la, n); break;
        default: launch_flags<uint8_t>(fp, pp, a, la, n); break; /* u8, bool */
        }
        GC_LAUNCHED(op);
        int64_t *sp = (int64_t *)gids_tensor_data(sel.t), *np = (int64_t *)gids_tensor_data(num.t);
        size_t bytes = 0;
        GC_CUDA(op, cub::DeviceSelect::Flagged(nullptr, bytes, pp, fp, sp, np, n, 0));
        GIDS_TRY(gc_scratch(a, bytes, &tmp.t));
        GC_CUDA(op,
                cub::DeviceSelect::Flagged(gids_tensor_data(tmp.t), bytes, pp, fp, sp, np, n, 0));
        GC_CUDA(op, cudaMemcpy(&count, np, sizeof count, cudaMemcpyDeviceToHost));
    }
    int64_t shape[2] = {count, a->ndim};
    GIDS_TRY(gids_empty(&r.t, GIDS_I64, dev, 2, shape));
    if (count > 0 && a->ndim > 0) {
        nz_shape s;
        s.ndim = a->ndim;
        for (int d = 0; d < a->ndim; d++) s.shape[d] = a->shape[d];
        nonzero_coords<<<gc_blocks(count), GC_THREADS>>>(
            (int64_t *)gids_tensor_data(r.t), (const int64_t *)gids_tensor_data(sel.t), count, s);
        GC_LAUNCHED(op);
    }
    *out = r.take();
    return GIDS_OK;
}
