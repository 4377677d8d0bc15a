/* index_range.cu -- the range check of index values on the device (gc_index_find), and the
 * ranges it has found, kept for the next check of the same memory.
 *
 * A check reads its answer back, so the host waits for the device and the queue of launches
 * runs dry: the large GAT's training step at 1024 graphs made 26 such checks (its gathers,
 * scatters and segment sums over the same few index tensors), and on an H100 the step took
 * 48 ms of which the kernels ran 41.  So a check computes the least and the greatest value
 * (one reduction, one 16-byte read back) and keeps them per device; a later check of the same
 * values against any bound is then a comparison on the host.  The same values: the same memory
 * (the entry holds a reference to the tensor, so the memory cannot be freed and handed to
 * another tensor while it is kept), offset, count and storage version (an in-place write of
 * any op bumps the version, so a kept range never outlives the values it describes).  A value
 * out of range then takes the kernel that finds its first position, for the CPU's message.
 * An i64 tensor copied whole from the host gets its range from the host copy on the way
 * (gc_index_range_note): a batch moved to the GPU for a training step is then checked without
 * any wait.  gids_int_range (gc_int_range) answers from the same ranges: the Lua checks of
 * labels, ids and edges read their bounds through it.  The runtime notes bounds of the results
 * of the ops that make indexes from indexes (gc_range_note; core/ranges.c), which the checks use
 * too.  The table is kept_ranges.h's, shared with
 * the loopback device.
 * Raw references, released by hand (a static gc_ref would release them after the CUDA context
 * is gone at exit); gpu.reset() drops them.
 */
#include <mutex>

#include "../kept_ranges.h"
#include "gc_index.h"

/* ---------------------------------------------------------------- kernels */
/* i64 in the order of u64: the sign bit flipped. */
__device__ __forceinline__ unsigned long long order_key(int64_t v) {
    return (unsigned long long)v ^ (1ull << 63);
}

/* mm[0] = min over v of order_key, mm[1] = min of its complement (so the max); both start at
 * all ones (one memset).  A warp folds its lanes' values first: one atomic a warp. */
__global__ void index_minmax_kernel(const int64_t *v, int64_t n, unsigned long long *mm) {
    unsigned long long lo = ~0ull, hi = ~0ull;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        unsigned long long k = order_key(v[i]);
        lo = k < lo ? k : lo;
        hi = ~k < hi ? ~k : hi;
    }
    for (int o = 16; o > 0; o /= 2) {
        unsigned long long a = __shfl_xor_sync(0xffffffffu, lo, o),
                           b = __shfl_xor_sync(0xffffffffu, hi, o);
        lo = a < lo ? a : lo;
        hi = b < hi ? b : hi;
    }
    if ((threadIdx.x & 31u) == 0) {
        atomicMin(&mm[0], lo);
        atomicMin(&mm[1], hi);
    }
}

__global__ void index_first_bad_kernel(const int64_t *v, int64_t n, int64_t size,
                                       unsigned long long *first) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        if (v[i] < 0 || v[i] >= size) atomicMin(first, (unsigned long long)i);
}

/* ---------------------------------------------------------------- kept ranges */
/* kept_ranges.h holds the table (shared with the loopback device); one per device, one lock. */
static gids_kept_ranges kept[GC_MAX_DEVICES];
static std::mutex kept_lock;

void gc_index_ranges_drop(int device) {
    std::lock_guard<std::mutex> lk(kept_lock);
    if (device < 0 || device >= GC_MAX_DEVICES) return;
    gids_kept_clear(&kept[device]);
}

static bool keepable(int dev, int64_t n) {
    return dev >= 0 && dev < GC_MAX_DEVICES && n <= GIDS_KEPT_MAX;
}

static bool lookup(int dev, const gids_tensor *like, const int64_t *v, int64_t n, bool exact,
                   int64_t *lo, int64_t *hi) {
    std::lock_guard<std::mutex> lk(kept_lock);
    return gids_kept_find(&kept[dev], like, v, n, exact, lo, hi);
}

static void keep(int dev, const gids_tensor *like, const int64_t *v, int64_t n, uint64_t version,
                 int64_t lo, int64_t hi) {
    std::lock_guard<std::mutex> lk(kept_lock);
    gids_kept_put(&kept[dev], like, v, n, version, lo, hi, true);
}

/* ---------------------------------------------------------------- the check */
/* The least and the greatest of the n values at v, from the device (a wait). */
static gids_status device_minmax(const char *op, const gids_tensor *like, const int64_t *v,
                                 int64_t n, int64_t *lo, int64_t *hi) {
    gc_ref scratch;
    GIDS_TRY(gc_scratch(like, 2 * sizeof(unsigned long long), &scratch.t));
    unsigned long long *mm = (unsigned long long *)gids_tensor_data(scratch.t), got[2];
    GC_CUDA(op, cudaMemsetAsync(mm, 0xff, sizeof got, gc_stream()));
    index_minmax_kernel<<<gc_blocks(n), GC_THREADS, 0, gc_stream()>>>(v, n, mm);
    GC_LAUNCHED(op);
    GC_CUDA(op, gc_memcpy_sync(got, mm, sizeof got, cudaMemcpyDeviceToHost));
    *lo = (int64_t)(got[0] ^ (1ull << 63));
    *hi = (int64_t)(~got[1] ^ (1ull << 63));
    return GIDS_OK;
}

/* The first position of a value outside [0, size) and that value (a wait; error path). */
static gids_status first_bad(const char *op, const gids_tensor *like, const int64_t *v, int64_t n,
                             int64_t size, int64_t *pos, int64_t *bad) {
    gc_ref flag;
    GIDS_TRY(gc_scratch(like, sizeof(unsigned long long), &flag.t));
    unsigned long long *fp = (unsigned long long *)gids_tensor_data(flag.t);
    GC_CUDA(op, cudaMemsetAsync(fp, 0xff, sizeof *fp, gc_stream()));
    index_first_bad_kernel<<<gc_blocks(n), GC_THREADS, 0, gc_stream()>>>(v, n, size, fp);
    GC_LAUNCHED(op);
    unsigned long long first = 0;
    GC_CUDA(op, gc_memcpy_sync(&first, fp, sizeof first, cudaMemcpyDeviceToHost));
    if (first == ~0ull) return GIDS_OK; /* not reached: the range said otherwise */
    *pos = (int64_t)first;
    GC_CUDA(op, gc_memcpy_sync(bad, v + *pos, sizeof *bad, cudaMemcpyDeviceToHost));
    return GIDS_OK;
}

/* Bounds of the n values at v: kept (of exactly these values when `exact`, else possibly of
 * values around them), or their least and greatest read from the device and kept. */
static gids_status bounds(const char *op, const gids_tensor *like, const int64_t *v, int64_t n,
                          bool exact, bool may_keep, int64_t *lo, int64_t *hi) {
    const int dev = gc_dev(like).index;
    if (keepable(dev, n) && lookup(dev, like, v, n, exact, lo, hi)) return GIDS_OK;
    uint64_t version = gids_kept_version(like);
    GIDS_TRY(device_minmax(op, like, v, n, lo, hi));
    if (may_keep && keepable(dev, n)) keep(dev, like, v, n, version, *lo, *hi);
    return GIDS_OK;
}

gids_status gc_index_find(const char *op, const gids_tensor *like, const int64_t *v, int64_t n,
                          int64_t size, bool may_keep, int64_t *pos, int64_t *bad) {
    *pos = -1;
    *bad = 0;
    if (n <= 0) return GIDS_OK;
    int64_t lo = 0, hi = 0;
    const int dev = gc_dev(like).index;
    /* bounds of these values or of values around them, or noted for how they were made, when
     * they fit; else the least and greatest of exactly these (kept, or read and kept) */
    if (keepable(dev, n) && lookup(dev, like, v, n, false, &lo, &hi) && lo >= 0 && hi < size)
        return GIDS_OK;
    GIDS_TRY(bounds(op, like, v, n, true, may_keep, &lo, &hi));
    if (lo >= 0 && hi < size) return GIDS_OK;
    return first_bad(op, like, v, n, size, pos, bad);
}

gids_status gc_int_range(const gids_tensor *t, int64_t *lo, int64_t *hi) {
    const char *op = "int_range";
    GC_CUDA(op, cudaSetDevice(gc_dev(t).index));
    gc_ref idx; /* an i32 or strided tensor: read as a contiguous i64 copy (not kept) */
    GIDS_TRY(gc_index_i64(op, "input", t, false, &idx.t));
    const int64_t *v = (const int64_t *)gids_tensor_data(idx.t);
    int64_t n = gids_tensor_numel(idx.t);
    return bounds(op, idx.t, v, n, true, idx.t == t, lo, hi); /* a copy: nothing to keep */
}

void gc_index_range_note(const gids_tensor *t, const int64_t *host, int64_t n) {
    const int dev = gc_dev(t).index;
    if (!keepable(dev, n)) return;
    std::lock_guard<std::mutex> lk(kept_lock);
    gids_kept_note(&kept[dev], t, host, n);
}

bool gc_range_known(const gids_tensor *t, int64_t *lo, int64_t *hi) {
    const int64_t *v = nullptr;
    int64_t n = 0;
    const int dev = gc_dev(t).index;
    return gids_kept_region(t, &v, &n) && keepable(dev, n) && lookup(dev, t, v, n, false, lo, hi);
}

void gc_range_note(const gids_tensor *t, int64_t lo, int64_t hi) {
    const int64_t *v = nullptr;
    int64_t n = 0;
    const int dev = gc_dev(t).index;
    if (!gids_kept_region(t, &v, &n) || !keepable(dev, n)) return;
    std::lock_guard<std::mutex> lk(kept_lock);
    gids_kept_put(&kept[dev], t, v, n, gids_kept_version(t), lo, hi, false);
}
