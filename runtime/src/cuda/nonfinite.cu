/* nonfinite.cu -- gids_count_nonfinite on CUDA tensors (see gids/optim.h): how many elements of
 * a list of tensors are inf or NaN, left on the device as a 0-d f64.
 *
 * The trainer counts every step's gradients; one launch covers up to COUNT_LIST tensors of one
 * element size (as the Adam list kernel, optim.cu), so a model's few dozen gradients cost one
 * or two launches and no wait.  An element is inf or NaN when every exponent bit is set, which
 * the kernel tests on the bits, the same test as the CPU's (cpu/nonfinite.c). */
#include "cuda_impl.h"

#define COUNT_LIST 64
#define COUNT_BLOCK_ELEMS (16 * GC_THREADS)

/* Tensor k owns blocks [first[k], first[k + 1]), each COUNT_BLOCK_ELEMS elements of it. */
template <typename U> struct count_list {
    const U *p[COUNT_LIST];
    int64_t n[COUNT_LIST];
    U mask[COUNT_LIST];
    int first[COUNT_LIST + 1];
    int count;
};

template <typename U> __global__ void count_list_kernel(count_list<U> l, double *total) {
    int k = 0;
    while (k + 1 < l.count && (int)blockIdx.x >= l.first[k + 1]) k++;
    int64_t start = (int64_t)(blockIdx.x - l.first[k]) * COUNT_BLOCK_ELEMS;
    int64_t end = start + COUNT_BLOCK_ELEMS < l.n[k] ? start + COUNT_BLOCK_ELEMS : l.n[k];
    const U *p = l.p[k];
    const U m = l.mask[k];
    unsigned c = 0;
    for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x) c += (p[i] & m) == m;
    for (int off = 16; off > 0; off >>= 1) c += __shfl_down_sync(0xffffffffu, c, off);
    __shared__ unsigned block;
    if (threadIdx.x == 0) block = 0;
    __syncthreads();
    if ((threadIdx.x & 31) == 0 && c != 0) atomicAdd(&block, c);
    __syncthreads();
    if (threadIdx.x == 0 && block != 0) atomicAdd(total, (double)block);
}

/* The exponent bits of a float dtype, as its element type holds them (0: not a float). */
static uint64_t exponent_mask(gids_dtype dt) {
    switch (dt) {
    case GIDS_F32: return 0x7f800000u;
    case GIDS_F64: return 0x7ff0000000000000ull;
    case GIDS_F16: return 0x7c00u;
    case GIDS_BF16: return 0x7f80u;
    default: return 0;
    }
}

/* The k tensors cs[idx[0..k)] (contiguous, of element type U, none empty), COUNT_LIST at a
 * time. */
template <typename U>
static gids_status launch_counts(const char *op, gids_tensor *const *cs, const int *idx, int k,
                                 double *total) {
    for (int lo = 0; lo < k; lo += COUNT_LIST) {
        count_list<U> l;
        l.count = 0;
        l.first[0] = 0;
        for (int j = lo; j < k && j < lo + COUNT_LIST; j++) {
            const gids_tensor *t = cs[idx[j]];
            int e = l.count++;
            int64_t n = gids_tensor_numel(t);
            l.p[e] = (const U *)gids_tensor_data(t);
            l.n[e] = n;
            l.mask[e] = (U)exponent_mask(t->dtype);
            l.first[e + 1] = l.first[e] + (int)((n + COUNT_BLOCK_ELEMS - 1) / COUNT_BLOCK_ELEMS);
        }
        count_list_kernel<U><<<(unsigned)l.first[l.count], GC_THREADS, 0, gc_stream()>>>(l, total);
        GC_LAUNCHED(op);
    }
    return GIDS_OK;
}

/* The float tensors of the list, contiguous (a strided one copied), grouped by element size,
 * each group through the list kernel.  The runtime (cpu/nonfinite.c) has checked the list:
 * n >= 1, no NULL, one device. */
static gids_status count_into(const char *op, gids_tensor **cs, int *idx, int n,
                              const gids_tensor *const *ts, double *total) {
    /* COUNT_LIST tensors' blocks must fit in an int: 6.9e10 elements each (275 GB of f32) */
    const int64_t big = (int64_t)COUNT_BLOCK_ELEMS * (INT32_MAX / (2 * COUNT_LIST));
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (exponent_mask(ts[i]->dtype) == 0 || gids_tensor_numel(ts[i]) == 0) continue;
        GIDS_CHECK(gids_tensor_numel(ts[i]) < big, GIDS_EUNSUPPORTED,
                   "%s: tensor %d has %lld elements (at most %lld)", op, i + 1,
                   (long long)gids_tensor_numel(ts[i]), (long long)(big - 1));
        GIDS_TRY(gc_contiguous_as(op, &cs[m++], ts[i], ts[i]->dtype));
    }
    for (size_t size = 2; size <= 8; size *= 2) {
        int k = 0;
        for (int i = 0; i < m; i++)
            if (gids_dtype_size(cs[i]->dtype) == size) idx[k++] = i;
        if (k == 0) continue;
        if (size == 2)
            GIDS_TRY(launch_counts<uint16_t>(op, cs, idx, k, total));
        else if (size == 4)
            GIDS_TRY(launch_counts<uint32_t>(op, cs, idx, k, total));
        else
            GIDS_TRY(launch_counts<uint64_t>(op, cs, idx, k, total));
    }
    return GIDS_OK;
}

gids_status gc_count_nonfinite(gids_tensor **out, int n, const gids_tensor *const *ts) {
    const char *op = "count_nonfinite";
    GIDS_TRY(gc_use_device(op, ts[0]));
    gc_ref r;
    GIDS_TRY(gids_zeros(&r.t, GIDS_F64, gc_dev(ts[0]), 0, nullptr));
    gids_tensor **cs = (gids_tensor **)calloc((size_t)n, sizeof *cs);
    int *idx = (int *)calloc((size_t)n, sizeof *idx);
    gids_status st;
    if (cs != nullptr && idx != nullptr)
        st = count_into(op, cs, idx, n, ts, (double *)gids_tensor_data(r.t));
    else
        st = gids_error_set(GIDS_ENOMEM, __FILE__, __LINE__,
                            "%s: out of host memory for a list of %d tensors", op, n);
    for (int i = 0; cs != nullptr && i < n; i++) gids_tensor_release(cs[i]);
    free(cs);
    free(idx);
    GIDS_TRY(st);
    *out = r.take();
    return GIDS_OK;
}
