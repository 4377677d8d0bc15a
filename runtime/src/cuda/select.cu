/* select.cu -- ops whose result size depends on the data, on CUDA tensors, as the CPU's
 * (runtime/src/cpu/masked.c): nonzero (the [count, ndim] i64 coordinates of the non-zero
 * elements in row-major order; NaN counts as non-zero) and masked_select (the elements of a
 * where the mask is true, a and mask broadcast together, in row-major order).
 *
 * A flag per element (read through the operands' strides), then CUB's DeviceSelect::Flagged
 * keeps the row-major positions whose flag is set, in order (a stable compaction: no atomics,
 * the same output on every run); the count is read back to size the result (one
 * synchronisation: the size depends on the data), and a last kernel turns positions into
 * coordinates (nonzero) or gathers the elements (masked_select).
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

/* The positions whose flag is set, in order, into sel (NEW, i64 [n]); *count their number.
 * flags (u8 [n]) and pos (i64 [n], 0..n-1) are device memory; like: a tensor on their device. */
static gids_status compact(const char *op, const gids_tensor *like, const uint8_t *flags,
                           const int64_t *pos, int64_t n, gc_ref *sel, int64_t *count) {
    gc_ref num, tmp;
    int64_t one = 1;
    GIDS_TRY(gids_empty(&sel->t, GIDS_I64, gc_dev(like), 1, &n));
    GIDS_TRY(gids_empty(&num.t, GIDS_I64, gc_dev(like), 1, &one));
    int64_t *sp = (int64_t *)gids_tensor_data(sel->t), *np = (int64_t *)gids_tensor_data(num.t);
    size_t bytes = 0;
    GC_CUDA(op, cub::DeviceSelect::Flagged(nullptr, bytes, pos, flags, sp, np, n, gc_stream()));
    GIDS_TRY(gc_scratch(like, bytes, &tmp.t));
    GC_CUDA(op, cub::DeviceSelect::Flagged(gids_tensor_data(tmp.t), bytes, pos, flags, sp, np, n,
                                           gc_stream()));
    GC_CUDA(op, gc_memcpy_sync(count, np, sizeof *count, cudaMemcpyDeviceToHost));
    return GIDS_OK;
}

template <typename T>
static void launch_flags(uint8_t *flags, int64_t *pos, const gids_tensor *a, const gc_layout &la,
                         int64_t n) {
    nonzero_flags<T><<<gc_blocks(n), GC_THREADS, 0, gc_stream()>>>(
        flags, pos, (const T *)gids_tensor_data(a), la, n);
}

gids_status gc_nonzero(gids_tensor **out, const gids_tensor *a) {
    const char *op = "nonzero";
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", op);
    *out = nullptr;
    GIDS_CHECK(a != nullptr, GIDS_EINVAL, "%s: input is NULL", op);
    gids_dtype dt = a->dtype;
    GIDS_TRY(gids_refuse_dtype(GIDS_DR_NONZERO, op, dt));
    GIDS_TRY(gc_use_device(op, a));
    int64_t n = gids_tensor_numel(a), count = 0;
    gids_device dev = gc_dev(a);
    gc_ref flags, pos, sel, r;
    if (n > 0) {
        GIDS_TRY(gids_empty(&flags.t, GIDS_U8, dev, 1, &n));
        GIDS_TRY(gids_empty(&pos.t, GIDS_I64, dev, 1, &n));
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
        GIDS_TRY(compact(op, a, fp, pp, n, &sel, &count));
    }
    int64_t shape[2] = {count, a->ndim};
    GIDS_TRY(gids_empty(&r.t, GIDS_I64, dev, 2, shape));
    if (count > 0 && a->ndim > 0) {
        nz_shape s;
        s.ndim = a->ndim;
        for (int d = 0; d < a->ndim; d++) s.shape[d] = a->shape[d];
        nonzero_coords<<<gc_blocks(count), GC_THREADS, 0, gc_stream()>>>(
            (int64_t *)gids_tensor_data(r.t), (const int64_t *)gids_tensor_data(sel.t), count, s);
        GC_LAUNCHED(op);
    }
    *out = r.take();
    return GIDS_OK;
}

/* ---------------------------------------------------------------- masked_select */

/* Elements of a copied by size (any dtype). */
template <typename E>
__global__ void gather_positions(E *out, const E *a, gc_layout la, const int64_t *sel,
                                 int64_t count) {
    for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; r < count;
         r += (int64_t)gridDim.x * blockDim.x)
        out[r] = a[gc_offset(la, sel[r])];
}

gids_status gc_masked_select(gids_tensor **out, const gids_tensor *a, const gids_tensor *mask) {
    const char *op = "masked_select";
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", op);
    *out = nullptr;
    GIDS_CHECK(a != nullptr && mask != nullptr, GIDS_EINVAL, "%s: %s is NULL", op,
               a == nullptr ? "input" : "mask");
    GIDS_CHECK(mask->dtype == GIDS_BOOL || mask->dtype == GIDS_U8, GIDS_EDTYPE,
               "%s: mask has dtype %s, expected bool (or u8)", op, gids_dtype_name(mask->dtype));
    size_t es = gids_dtype_size(a->dtype);
    GIDS_CHECK(es == 1 || es == 2 || es == 4 || es == 8, GIDS_EUNSUPPORTED,
               "%s: dtype %s is not supported on CUDA yet", op, gids_dtype_name(a->dtype));
    int nb = 0;
    int64_t bshape[GIDS_MAX_DIMS];
    GIDS_TRY(gids_broadcast_shapes(op, a->ndim, a->shape, mask->ndim, mask->shape, &nb, bshape));
    GIDS_TRY(gc_use_device(op, a));
    int64_t n = 1, count = 0;
    GIDS_TRY(gids_shape_numel(op, nb, bshape, &n));
    gids_device dev = gc_dev(a);
    gc_ref flags, pos, sel, r;
    gc_layout l[2];
    const gids_tensor *ts[2] = {mask, a};
    gc_layouts(2, ts, nb, bshape, l);
    if (n > 0) {
        GIDS_TRY(gids_empty(&flags.t, GIDS_U8, dev, 1, &n));
        GIDS_TRY(gids_empty(&pos.t, GIDS_I64, dev, 1, &n));
        uint8_t *fp = (uint8_t *)gids_tensor_data(flags.t);
        int64_t *pp = (int64_t *)gids_tensor_data(pos.t);
        nonzero_flags<uint8_t><<<gc_blocks(n), GC_THREADS, 0, gc_stream()>>>(
            fp, pp, (const uint8_t *)gids_tensor_data(mask), l[0], n);
        GC_LAUNCHED(op);
        GIDS_TRY(compact(op, a, fp, pp, n, &sel, &count));
    }
    GIDS_TRY(gids_empty(&r.t, a->dtype, dev, 1, &count));
    if (count > 0) {
        unsigned g = gc_blocks(count);
        const int64_t *sp = (const int64_t *)gids_tensor_data(sel.t);
        void *o = gids_tensor_data(r.t);
        const void *ap = gids_tensor_data(a);
        switch (es) {
        case 1:
            gather_positions<uint8_t><<<g, GC_THREADS, 0, gc_stream()>>>(
                (uint8_t *)o, (const uint8_t *)ap, l[1], sp, count);
            break;
        case 2:
            gather_positions<uint16_t><<<g, GC_THREADS, 0, gc_stream()>>>(
                (uint16_t *)o, (const uint16_t *)ap, l[1], sp, count);
            break;
        case 4:
            gather_positions<uint32_t><<<g, GC_THREADS, 0, gc_stream()>>>(
                (uint32_t *)o, (const uint32_t *)ap, l[1], sp, count);
            break;
        default:
            gather_positions<uint64_t><<<g, GC_THREADS, 0, gc_stream()>>>(
                (uint64_t *)o, (const uint64_t *)ap, l[1], sp, count);
            break;
        }
        GC_LAUNCHED(op);
    }
    *out = r.take();
    return GIDS_OK;
}
