/* sort.cu -- sort, argsort and topk along one dim of CUDA tensors, with the CPU's results
 * (runtime/src/cpu/sort.c): stable (ties keep input order, so topk gives the lower index
 * first), NaN after every number ascending and before every number descending, -0.0 and +0.0
 * equal (kept in input order), f32, f64, i64, i32, u8 and bool.
 *
 * Each element becomes the CPU's order-preserving unsigned key (complemented for a descending
 * sort) paired with its position in the lane-major order p = lane * n + i, where a lane is the
 * n elements along the sorted dim for one position of the other dims.  A stable CUB radix sort
 * then has to order by (lane, key):
 *   - keys of at most 32 bits (f32, i32, u8, bool) carry the lane number above the key bits, so
 *     one sort does it;
 *   - 64-bit keys are sorted once by key and then, stably, by the lane of each sorted position
 *     (a radix sort on the lane number only: gc_key_bits(lanes) bits).  Stability of the second
 *     sort keeps each lane's key order, and of the first the input order of equal keys.
 * Lane l's results are then sorted positions l * n .. l * n + k - 1 (topk keeps the first k);
 * the values are gathered from the input at the sorted positions, so NaN payloads and the sign
 * of zero come out as the CPU's (which copies those from the input too).  No atomics: the
 * result is the same on every run.
 */
#include <cub/cub.cuh>

#include "gc_index.h"

/* ---------------------------------------------------------------- keys (sort.c's) */

__device__ __forceinline__ uint64_t st_key(float v) {
    if (isnan(v)) return UINT32_MAX;
    if (v == 0.0f) v = 0.0f; /* -0.0 == +0.0: both get the key of +0.0 */
    uint32_t b = __float_as_uint(v);
    return (b >> 31) ? (uint32_t)~b : b | (UINT32_C(1) << 31);
}
__device__ __forceinline__ uint64_t st_key(double v) {
    if (isnan(v)) return UINT64_MAX;
    if (v == 0.0) v = 0.0;
    uint64_t b = (uint64_t)__double_as_longlong(v);
    return (b >> 63) ? ~b : b | (UINT64_C(1) << 63);
}
__device__ __forceinline__ uint64_t st_key(int64_t v) {
    return (uint64_t)v ^ (UINT64_C(1) << 63);
}
__device__ __forceinline__ uint64_t st_key(int32_t v) {
    return (uint32_t)v ^ (UINT32_C(1) << 31);
}
__device__ __forceinline__ uint64_t st_key(uint8_t v) {
    return v; /* u8 and bool: the byte is its own key */
}

/* Bits of T's keys: the complement of a descending sort stays within them, and a lane number
 * folded into the key goes above them. */
template <typename T> __host__ __device__ constexpr int st_key_bits() {
    return sizeof(T) >= 8 ? 64 : 8 * (int)sizeof(T);
}

/* keys[p], pos[p] for every lane-major position p of the contiguous [outer, n, inner] input x:
 * the element's key (complemented within its bits when descending), with the lane number above
 * the key bits when `fold`; and p itself. */
template <typename T>
__global__ void st_make_keys(uint64_t *keys, int64_t *pos, const T *x, int64_t total, int64_t n,
                             int64_t inner, bool descending, bool fold) {
    constexpr int kb = st_key_bits<T>();
    const uint64_t mask = kb == 64 ? UINT64_MAX : (UINT64_C(1) << kb) - 1;
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < total;
         p += (int64_t)gridDim.x * blockDim.x) {
        int64_t lane = p / n, i = p - lane * n;
        int64_t o = lane / inner, j = lane - o * inner;
        uint64_t key = st_key(x[(o * n + i) * inner + j]);
        if (descending) key = ~key & mask;
        if constexpr (kb < 64) {
            if (fold) key |= (uint64_t)lane << kb;
        }
        keys[p] = key;
        pos[p] = p;
    }
}

/* lane_keys[q] = the lane of the position sorted to q (the second sort of 64-bit keys). */
__global__ void st_lane_of(uint64_t *lane_keys, const int64_t *perm, int64_t total, int64_t n) {
    for (int64_t q = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; q < total;
         q += (int64_t)gridDim.x * blockDim.x)
        lane_keys[q] = (uint64_t)(perm[q] / n);
}

/* The first k sorted positions of every lane into the contiguous [outer, k, inner] outputs:
 * indices (the position along dim) and values (gathered from x).  Either may be NULL. */
template <typename T>
__global__ void st_write(T *vals, int64_t *inds, const T *x, const int64_t *perm, int64_t nout,
                         int64_t n, int64_t k, int64_t inner) {
    for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < nout;
         t += (int64_t)gridDim.x * blockDim.x) {
        int64_t lane = t / k, r = t - lane * k;
        int64_t i = perm[lane * n + r] - lane * n; /* the sort keeps lane l in l*n .. l*n+n-1 */
        int64_t o = lane / inner, j = lane - o * inner;
        int64_t dst = (o * k + r) * inner + j;
        if (inds != nullptr) inds[dst] = i;
        if (vals != nullptr) vals[dst] = x[(o * n + i) * inner + j];
    }
}

/* ---------------------------------------------------------------- the engine */

/* Sorts the lane-major positions (see the top) of the contiguous input c: on return `keep` holds
 * the tensor of sorted positions this function allocates and *perm_data points at its data. */
template <typename T>
static gids_status st_sort_positions(const char *op, const gids_tensor *c, int64_t lanes, int64_t n,
                                     int64_t inner, bool descending, gc_ref &keep,
                                     const int64_t **perm_data) {
    constexpr int kb = st_key_bits<T>();
    gids_device dev = gc_dev(c);
    int64_t total = lanes * n;
    int lane_bits = lanes > 1 ? gc_key_bits((uint64_t)lanes) : 0;
    bool fold = kb + lane_bits <= 64; /* the lane fits above the key bits: one sort */
    gc_ref k0, k1, p0, p1, tmp;
    GIDS_TRY(gids_empty(&k0.t, GIDS_I64, dev, 1, &total)); /* u64 keys in i64 storage */
    GIDS_TRY(gids_empty(&k1.t, GIDS_I64, dev, 1, &total));
    GIDS_TRY(gids_empty(&p0.t, GIDS_I64, dev, 1, &total));
    GIDS_TRY(gids_empty(&p1.t, GIDS_I64, dev, 1, &total));
    uint64_t *kp0 = (uint64_t *)gids_tensor_data(k0.t), *kp1 = (uint64_t *)gids_tensor_data(k1.t);
    int64_t *pp0 = (int64_t *)gids_tensor_data(p0.t), *pp1 = (int64_t *)gids_tensor_data(p1.t);
    unsigned g = gc_blocks(total);
    st_make_keys<T><<<g, GC_THREADS, 0, gc_stream()>>>(kp0, pp0, (const T *)gids_tensor_data(c),
                                                       total, n, inner, descending,
                                                       fold && lane_bits > 0);
    GC_LAUNCHED(op);

    int end1 = fold ? kb + lane_bits : kb;
    bool second = !fold; /* the lane does not fit above the key: a second sort by lane */
    size_t b1 = 0, b2 = 0;
    GC_CUDA(op, cub::DeviceRadixSort::SortPairs(nullptr, b1, kp0, kp1, pp0, pp1, total, 0, end1,
                                                gc_stream()));
    if (second)
        GC_CUDA(op, cub::DeviceRadixSort::SortPairs(nullptr, b2, kp0, kp1, pp1, pp0, total, 0,
                                                    lane_bits, gc_stream()));
    size_t bytes = b1 > b2 ? b1 : b2;
    GIDS_TRY(gc_scratch(c, bytes, &tmp.t));
    void *tp = gids_tensor_data(tmp.t);
    b1 = bytes;
    GC_CUDA(op, cub::DeviceRadixSort::SortPairs(tp, b1, kp0, kp1, pp0, pp1, total, 0, end1,
                                                gc_stream()));
    if (!second) {
        *perm_data = pp1;
        keep.t = p1.take();
        return GIDS_OK;
    }
    /* by lane, stably: kp0 (free after the first sort) gets each sorted position's lane */
    st_lane_of<<<g, GC_THREADS, 0, gc_stream()>>>(kp0, pp1, total, n);
    GC_LAUNCHED(op);
    b2 = bytes;
    GC_CUDA(op, cub::DeviceRadixSort::SortPairs(tp, b2, kp0, kp1, pp1, pp0, total, 0, lane_bits,
                                                gc_stream()));
    *perm_data = pp0;
    keep.t = p0.take();
    return GIDS_OK;
}

template <typename T>
static gids_status st_run(const char *op, const gids_tensor *c, gids_tensor *v, gids_tensor *ix,
                          int64_t lanes, int64_t n, int64_t k, int64_t inner, bool descending) {
    gc_ref perm;
    const int64_t *pp = nullptr;
    GIDS_TRY(st_sort_positions<T>(op, c, lanes, n, inner, descending, perm, &pp));
    int64_t nout = lanes * k;
    st_write<T><<<gc_blocks(nout), GC_THREADS, 0, gc_stream()>>>(
        v != nullptr ? (T *)gids_tensor_data(v) : nullptr,
        ix != nullptr ? (int64_t *)gids_tensor_data(ix) : nullptr, (const T *)gids_tensor_data(c),
        pp, nout, n, k, inner);
    GC_LAUNCHED(op);
    return GIDS_OK;
}

/* Checks what the CPU checks (sort.c's check_input, without the CPU parts) and the dtypes that
 * have keys here; *d: dim normalised, *n: the lane length. */
static gids_status st_check(const char *op, const gids_tensor *a, int dim, int *d, int64_t *n) {
    GIDS_CHECK(a != nullptr, GIDS_EINVAL, "%s: input is NULL", op);
    gids_dtype dt = a->dtype;
    GIDS_TRY(gids_refuse_dtype(GIDS_DR_SIX, op, dt));
    GIDS_TRY(gids_normalize_dim(op, dim, a->ndim, d));
    *n = a->ndim == 0 ? 1 : a->shape[*d];
    return GIDS_OK;
}

/* Sorts every lane of a along dim d and keeps the first k (sort: k = n); either output may be
 * NULL.  The outputs are contiguous, a's shape with k along d. */
static gids_status st_lanes(const char *op, gids_tensor **values, gids_tensor **indices,
                            const gids_tensor *a, int d, int64_t n, int64_t k, bool descending) {
    GIDS_CHECK(values != nullptr || indices != nullptr, GIDS_EINVAL, "%s: both outputs are NULL",
               op);
    if (values != nullptr) *values = nullptr;
    if (indices != nullptr) *indices = nullptr;
    GIDS_TRY(gc_use_device(op, a));
    int nd = a->ndim;
    int64_t shape[GIDS_MAX_DIMS] = {0}, outer = 1, inner = 1;
    for (int i = 0; i < nd; i++) {
        shape[i] = i == d ? k : a->shape[i];
        if (i < d) outer *= a->shape[i];
        if (i > d) inner *= a->shape[i];
    }
    int64_t lanes = outer * inner; /* <= numel(a) unless n == 0 */
    gids_device dev = gc_dev(a);
    gc_ref v, ix, c;
    if (values != nullptr) GIDS_TRY(gids_empty(&v.t, a->dtype, dev, nd, shape));
    if (indices != nullptr) GIDS_TRY(gids_empty(&ix.t, GIDS_I64, dev, nd, shape));
    if (lanes > 0 && k > 0) { /* k > 0 implies n > 0 */
        GIDS_TRY(gc_contiguous_as(op, &c.t, a, a->dtype));
        gids_status s;
        switch (a->dtype) {
        case GIDS_F32: s = st_run<float>(op, c.t, v.t, ix.t, lanes, n, k, inner, descending); break;
        case GIDS_F64:
            s = st_run<double>(op, c.t, v.t, ix.t, lanes, n, k, inner, descending);
            break;
        case GIDS_I64:
            s = st_run<int64_t>(op, c.t, v.t, ix.t, lanes, n, k, inner, descending);
            break;
        case GIDS_I32:
            s = st_run<int32_t>(op, c.t, v.t, ix.t, lanes, n, k, inner, descending);
            break;
        default: /* u8, bool */
            s = st_run<uint8_t>(op, c.t, v.t, ix.t, lanes, n, k, inner, descending);
            break;
        }
        GIDS_TRY(s);
    }
    if (values != nullptr) *values = v.take();
    if (indices != nullptr) *indices = ix.take();
    return GIDS_OK;
}

/* ---------------------------------------------------------------- backend entries */

gids_status gc_sort(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int dim,
                    bool descending) {
    const char *op = values != nullptr ? "sort" : "argsort";
    int d = 0;
    int64_t n = 0;
    GIDS_TRY(st_check(op, a, dim, &d, &n));
    return st_lanes(op, values, indices, a, d, n, n, descending);
}

gids_status gc_topk(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int64_t k,
                    int dim, bool largest) {
    const char *op = "topk";
    int d = 0;
    int64_t n = 0;
    GIDS_TRY(st_check(op, a, dim, &d, &n));
    GIDS_CHECK(k >= 0 && k <= n, GIDS_EINDEX,
               "topk: k %lld out of range for dim %d of size %lld (valid: 0..%lld)", (long long)k,
               d, (long long)n, (long long)n);
    return st_lanes(op, values, indices, a, d, n, k, largest);
}
