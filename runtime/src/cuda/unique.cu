/* unique.cu -- unique on CUDA tensors, as the CPU's (runtime/src/cpu/unique.c): the distinct
 * elements of the flattened input in ascending order, with inverse ([input's shape], i64: the
 * group of each element) and counts (i64) when asked.  Integer and bool inputs (i64, i32, u8,
 * bool); floats (whose NaN each form a group on the CPU) are EUNSUPPORTED here.
 *
 * A stable CUB radix sort of (value, position) pairs; a flag where a sorted run starts and an
 * inclusive scan of the flags give each sorted position its group; the run starts are compacted
 * (DeviceSelect::Flagged) into the values and the counts (differences of start positions), and
 * the inverse is scattered through the sort's permutation (a permutation: no two writes meet).
 * No atomics; the group count is read back to size the results.
 */
#include <cub/cub.cuh>

#include "gc_index.h"

__global__ void uq_iota(int64_t *v, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        v[i] = i;
}

/* starts[i] (u8 for the compaction, i64 for the scan): sorted position i begins a run. */
template <typename K>
__global__ void uq_starts(uint8_t *flags, int64_t *starts, const K *k, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        bool s = i == 0 || k[i] != k[i - 1];
        flags[i] = s ? 1 : 0;
        starts[i] = s ? 1 : 0;
    }
}

/* inverse[perm[i]] = group[i] - 1 (group: the inclusive scan of the starts). */
__global__ void uq_inverse(int64_t *inverse, const int64_t *perm, const int64_t *group, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        inverse[perm[i]] = group[i] - 1;
}

/* counts[g] = start[g + 1] - start[g], the last one up to n. */
__global__ void uq_counts(int64_t *counts, const int64_t *start, int64_t ng, int64_t n) {
    for (int64_t g = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; g < ng;
         g += (int64_t)gridDim.x * blockDim.x)
        counts[g] = (g + 1 < ng ? start[g + 1] : n) - start[g];
}

template <typename K>
static gids_status unique_typed(const char *op, const gids_tensor *c, int64_t n,
                                gids_tensor **values, gids_tensor **inverse, gids_tensor **counts,
                                const gids_tensor *a) {
    gids_device dev = gc_dev(c);
    gc_ref ks, iota, perm, flags, starts, group, tmp, num, v, pos, st, inv, cnt;
    int64_t one = 1;
    GIDS_TRY(gids_empty(&ks.t, c->dtype, dev, 1, &n));
    GIDS_TRY(gids_empty(&iota.t, GIDS_I64, dev, 1, &n));
    GIDS_TRY(gids_empty(&perm.t, GIDS_I64, dev, 1, &n));
    GIDS_TRY(gids_empty(&flags.t, GIDS_U8, dev, 1, &n));
    GIDS_TRY(gids_empty(&starts.t, GIDS_I64, dev, 1, &n));
    GIDS_TRY(gids_empty(&group.t, GIDS_I64, dev, 1, &n));
    GIDS_TRY(gids_empty(&num.t, GIDS_I64, dev, 1, &one));
    const K *k0 = (const K *)gids_tensor_data(c);
    K *k1 = (K *)gids_tensor_data(ks.t);
    int64_t *ip = (int64_t *)gids_tensor_data(iota.t), *pp = (int64_t *)gids_tensor_data(perm.t);
    uint8_t *fp = (uint8_t *)gids_tensor_data(flags.t);
    int64_t *sp = (int64_t *)gids_tensor_data(starts.t), *gp = (int64_t *)gids_tensor_data(group.t);
    int64_t *np = (int64_t *)gids_tensor_data(num.t);
    unsigned g = gc_blocks(n);
    uq_iota<<<g, GC_THREADS, 0, gc_stream()>>>(ip, n);
    GC_LAUNCHED(op);

    /* one scratch buffer, large enough for the sort, the scan and the compactions */
    size_t b_sort = 0, b_scan = 0, b_sel = 0, b_sel2 = 0;
    GC_CUDA(op, cub::DeviceRadixSort::SortPairs(nullptr, b_sort, k0, k1, ip, pp, n, 0,
                                                (int)(sizeof(K) * 8), gc_stream()));
    GC_CUDA(op, cub::DeviceScan::InclusiveSum(nullptr, b_scan, sp, gp, n, gc_stream()));
    GC_CUDA(op, cub::DeviceSelect::Flagged(nullptr, b_sel, k1, fp, k1, np, n, gc_stream()));
    GC_CUDA(op, cub::DeviceSelect::Flagged(nullptr, b_sel2, ip, fp, ip, np, n, gc_stream()));
    size_t bytes = b_sort;
    for (size_t b : {b_scan, b_sel, b_sel2}) bytes = b > bytes ? b : bytes;
    GIDS_TRY(gc_scratch(c, bytes, &tmp.t));
    void *tp = gids_tensor_data(tmp.t);

    b_sort = bytes;
    GC_CUDA(op, cub::DeviceRadixSort::SortPairs(tp, b_sort, k0, k1, ip, pp, n, 0,
                                                (int)(sizeof(K) * 8), gc_stream()));
    uq_starts<K><<<g, GC_THREADS, 0, gc_stream()>>>(fp, sp, k1, n);
    GC_LAUNCHED(op);
    b_scan = bytes;
    GC_CUDA(op, cub::DeviceScan::InclusiveSum(tp, b_scan, sp, gp, n, gc_stream()));
    int64_t ng = 0;
    GC_CUDA(op, gc_memcpy_sync(&ng, gp + n - 1, sizeof ng, cudaMemcpyDeviceToHost));

    GIDS_TRY(gids_empty(&v.t, a->dtype, dev, 1, &ng));
    b_sel = bytes;
    GC_CUDA(op, cub::DeviceSelect::Flagged(tp, b_sel, k1, fp, (K *)gids_tensor_data(v.t), np, n,
                                           gc_stream()));
    if (counts != nullptr) {
        /* the sorted positions where runs start (the iota is free again after the sort) */
        GIDS_TRY(gids_empty(&pos.t, GIDS_I64, dev, 1, &n));
        uq_iota<<<g, GC_THREADS, 0, gc_stream()>>>((int64_t *)gids_tensor_data(pos.t), n);
        GC_LAUNCHED(op);
        GIDS_TRY(gids_empty(&st.t, GIDS_I64, dev, 1, &ng));
        b_sel2 = bytes;
        GC_CUDA(op,
                cub::DeviceSelect::Flagged(tp, b_sel2, (const int64_t *)gids_tensor_data(pos.t), fp,
                                           (int64_t *)gids_tensor_data(st.t), np, n, gc_stream()));
        GIDS_TRY(gids_empty(&cnt.t, GIDS_I64, dev, 1, &ng));
        uq_counts<<<gc_blocks(ng), GC_THREADS, 0, gc_stream()>>>(
            (int64_t *)gids_tensor_data(cnt.t), (const int64_t *)gids_tensor_data(st.t), ng, n);
        GC_LAUNCHED(op);
    }
    if (inverse != nullptr) {
        GIDS_TRY(gids_empty(&inv.t, GIDS_I64, dev, a->ndim, a->shape));
        uq_inverse<<<g, GC_THREADS, 0, gc_stream()>>>((int64_t *)gids_tensor_data(inv.t), pp, gp,
                                                      n);
        GC_LAUNCHED(op);
    }
    *values = v.take();
    if (inverse != nullptr) *inverse = inv.take();
    if (counts != nullptr) *counts = cnt.take();
    return GIDS_OK;
}

gids_status gc_unique(gids_tensor **values, gids_tensor **inverse, gids_tensor **counts,
                      const gids_tensor *a) {
    const char *op = "unique";
    GIDS_CHECK(values != nullptr, GIDS_EINVAL, "%s: values is NULL", op);
    *values = nullptr;
    if (inverse != nullptr) *inverse = nullptr;
    if (counts != nullptr) *counts = nullptr;
    GIDS_CHECK(a != nullptr, GIDS_EINVAL, "%s: input is NULL", op);
    gids_dtype dt = a->dtype;
    GIDS_TRY(gids_refuse_dtype(GIDS_DR_UNIQUE, op, dt));
    GIDS_TRY(gc_use_device(op, a));
    int64_t n = gids_tensor_numel(a);
    if (n == 0) {
        gc_ref v, inv, cnt;
        int64_t zero = 0;
        GIDS_TRY(gids_empty(&v.t, dt, gc_dev(a), 1, &zero));
        if (inverse != nullptr)
            GIDS_TRY(gids_empty(&inv.t, GIDS_I64, gc_dev(a), a->ndim, a->shape));
        if (counts != nullptr) GIDS_TRY(gids_empty(&cnt.t, GIDS_I64, gc_dev(a), 1, &zero));
        *values = v.take();
        if (inverse != nullptr) *inverse = inv.take();
        if (counts != nullptr) *counts = cnt.take();
        return GIDS_OK;
    }
    gc_ref c;
    GIDS_TRY(gc_contiguous_as(op, &c.t, a, dt));
    switch (dt) {
    case GIDS_I64: return unique_typed<int64_t>(op, c.t, n, values, inverse, counts, a);
    case GIDS_I32: return unique_typed<int32_t>(op, c.t, n, values, inverse, counts, a);
    default: return unique_typed<uint8_t>(op, c.t, n, values, inverse, counts, a);
    }
}
