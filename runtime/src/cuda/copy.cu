/* copy.cu -- copies host<->device and device<->device, fill, and the layout helper.
 *
 * A copy between views of the same dtype, both contiguous and of one shape, is one copy: an
 * upload through page-locked staging that the host does not wait for (pinned.cu, gc_upload), a
 * download waited for (gc_memcpy_sync: the host needs the values).  Anything else runs a kernel on
 * the device that reads src strided and broadcast to dst's shape, converts the dtype and writes dst
 * strided; host data is first staged into a contiguous device buffer, and device results bound for
 * a strided host view into a contiguous host buffer.  Conversions follow the CPU's (core/copy.c):
 * bool <- x != 0, integer <- float truncates toward zero and saturates (NaN -> 0).
 *
 * f16 and bf16 (GPU storage only) convert as PyTorch does: every conversion goes through f32,
 * and f32 -> f16/bf16 rounds to nearest even (__float2half_rn, __float2bfloat16_rn).  A double
 * is first rounded to f32 (torch's c10::Half/BFloat16 are built from a float, so it rounds twice
 * too); a half read as an integer is its f32 value under the rules above.
 */
#include <math.h>
#include <string.h>

#include "cuda_impl.h"
#include "gc_index.h" /* gc_index_range_note */
#include "half_impl.h"

/* ---------------------------------------------------------------- layouts */
void gc_layouts(int n, const gids_tensor *const *ts, int nd, const int64_t *shape, gc_layout *out) {
    int64_t st[4][GIDS_MAX_DIMS];
    int64_t sh[GIDS_MAX_DIMS];
    int m = 0;
    for (int d = 0; d < nd; d++) {
        if (shape[d] == 1) continue; /* a size-1 dim never moves the offset */
        sh[m] = shape[d];
        for (int k = 0; k < n; k++) {
            const gids_tensor *t = ts[k];
            int td = d - (nd - t->ndim);
            st[k][m] = (td < 0 || t->shape[td] == 1) ? 0 : t->stride[td];
        }
        m++;
    }
    /* Merge dim j into the previous one when every operand steps over it contiguously. */
    int r = 0;
    for (int j = 0; j < m; j++) {
        bool merge = r > 0;
        for (int k = 0; merge && k < n; k++) merge = st[k][r - 1] == st[k][j] * sh[j];
        if (merge) {
            sh[r - 1] *= sh[j];
            for (int k = 0; k < n; k++) st[k][r - 1] = st[k][j];
        } else {
            sh[r] = sh[j];
            for (int k = 0; k < n; k++) st[k][r] = st[k][j];
            r++;
        }
    }
    /* The dividers of gc_offset's 32-bit path: shift = ceil(log2(size)),
     * magic = 2^32 * (2^shift - size) / size + 1 (fits 32 bits for sizes below 2^31).  A shape
     * with a 0 has no element to place and no divider (its division would trap: SIGFPE); callers
     * may ask for the layout of an empty operand before they look at its count. */
    int64_t total = 1;
    for (int d = 0; d < r; d++) total *= sh[d];
    uint32_t magic[GIDS_MAX_DIMS] = {0}, shift[GIDS_MAX_DIMS] = {0};
    bool fast = total < ((int64_t)1 << 31);
    for (int d = 0; fast && total > 0 && d < r; d++) {
        uint32_t s = 0;
        while (((uint64_t)1 << s) < (uint64_t)sh[d]) s++;
        shift[d] = s;
        magic[d] = (uint32_t)((((uint64_t)1 << 32) * (((uint64_t)1 << s) - (uint64_t)sh[d])) /
                                  (uint64_t)sh[d] +
                              1);
    }
    for (int k = 0; k < n; k++) {
        out[k].ndim = r;
        out[k].fast = fast;
        for (int d = 0; d < r; d++) {
            out[k].shape[d] = sh[d];
            out[k].stride[d] = st[k][d];
            out[k].magic[d] = magic[d];
            out[k].shift[d] = shift[d];
        }
    }
}

/* ---------------------------------------------------------------- conversion kernels */
template <int DT> struct ctype;
template <> struct ctype<GIDS_F32> { typedef float T; };
template <> struct ctype<GIDS_F64> { typedef double T; };
template <> struct ctype<GIDS_I64> { typedef int64_t T; };
template <> struct ctype<GIDS_I32> { typedef int32_t T; };
template <> struct ctype<GIDS_U8> { typedef uint8_t T; };
template <> struct ctype<GIDS_BOOL> { typedef uint8_t T; };
template <> struct ctype<GIDS_F16> { typedef __half T; };
template <> struct ctype<GIDS_BF16> { typedef __nv_bfloat16 T; };

template <int DT> constexpr bool is_half_v = DT == GIDS_F16 || DT == GIDS_BF16;

template <int DS> __device__ __forceinline__ float half_to_float(typename ctype<DS>::T x) {
    if constexpr (DS == GIDS_F16)
        return __half2float(x);
    else
        return __bfloat162float(x);
}

__device__ __forceinline__ double sat(double v, double lo, double hi) {
    return isnan(v) ? 0.0 : (v <= lo ? lo : (v >= hi ? hi : v));
}

/* i64 as the CPU's gids_sat_i64: 2^63 and above give INT64_MAX exactly. */
__device__ __forceinline__ int64_t sat_i64(double v) {
    return isnan(v)                      ? 0
           : v >= 9223372036854775808.0  ? INT64_MAX
           : v <= -9223372036854775808.0 ? INT64_MIN
                                         : (int64_t)v;
}

template <int DD, int DS>
__device__ __forceinline__ typename ctype<DD>::T convert(typename ctype<DS>::T x) {
    typedef typename ctype<DD>::T TD;
    constexpr bool src_float = DS == GIDS_F32 || DS == GIDS_F64;
    if constexpr (DD == DS) {
        return x;
    } else if constexpr (is_half_v<DS>) { /* through f32, which holds every half exactly */
        return convert<DD, GIDS_F32>(half_to_float<DS>(x));
    } else if constexpr (DD == GIDS_F16) {
        return __float2half_rn((float)x);
    } else if constexpr (DD == GIDS_BF16) {
        return __float2bfloat16_rn((float)x);
    } else if constexpr (DD == GIDS_BOOL) {
        return (TD)(x != 0);
    } else if constexpr (src_float && DD == GIDS_I64) {
        return (TD)sat_i64((double)x);
    } else if constexpr (src_float && DD == GIDS_I32) {
        return (TD)sat((double)x, -2147483648.0, 2147483647.0);
    } else if constexpr (src_float && DD == GIDS_U8) {
        return (TD)sat((double)x, 0.0, 255.0);
    } else {
        return (TD)x;
    }
}

template <int DD, int DS>
__global__ void copy_kernel(typename ctype<DD>::T *dst, gc_layout ld,
                            const typename ctype<DS>::T *src, gc_layout ls, int64_t n) {
    typedef typename ctype<DD>::T D;
    gc_elementwise<D>(
        n, [&](int64_t i) { return convert<DD, DS>(src[gc_offset(ls, i)]); },
        [&](int64_t i, D v) { dst[gc_offset(ld, i)] = v; });
}

template <int DD, int DS>
static gids_status launch_copy(gids_tensor *dst, const gids_tensor *src, int64_t n) {
    const gids_tensor *ts[2] = {dst, src};
    gc_layout l[2];
    gc_layouts(2, ts, dst->ndim, dst->shape, l);
    copy_kernel<DD, DS><<<gc_blocks(n), GC_THREADS, 0, gc_stream()>>>(
        (typename ctype<DD>::T *)gids_tensor_data(dst), l[0],
        (const typename ctype<DS>::T *)gids_tensor_data(src), l[1], n);
    GC_LAUNCHED("copy_");
    return GIDS_OK;
}

template <int DD>
static gids_status launch_copy_from(gids_tensor *dst, const gids_tensor *src, int64_t n) {
    switch (src->dtype) {
    case GIDS_F32: return launch_copy<DD, GIDS_F32>(dst, src, n);
    case GIDS_F64: return launch_copy<DD, GIDS_F64>(dst, src, n);
    case GIDS_I64: return launch_copy<DD, GIDS_I64>(dst, src, n);
    case GIDS_I32: return launch_copy<DD, GIDS_I32>(dst, src, n);
    case GIDS_U8: return launch_copy<DD, GIDS_U8>(dst, src, n);
    case GIDS_BOOL: return launch_copy<DD, GIDS_BOOL>(dst, src, n);
    case GIDS_F16: return launch_copy<DD, GIDS_F16>(dst, src, n);
    case GIDS_BF16: return launch_copy<DD, GIDS_BF16>(dst, src, n);
    default: break;
    }
    GIDS_FAIL(GIDS_EUNSUPPORTED, "copy_: source dtype %s is not supported on CUDA yet",
              gids_dtype_name(src->dtype));
}

static bool supported_dtype(gids_dtype dt) {
    return dt == GIDS_F32 || dt == GIDS_F64 || dt == GIDS_I64 || dt == GIDS_I32 || dt == GIDS_U8 ||
           dt == GIDS_BOOL || dt == GIDS_F16 || dt == GIDS_BF16;
}

/* dst <- src, both on the current device (already made current), no overlap. */
static gids_status device_copy(gids_tensor *dst, const gids_tensor *src) {
    int64_t n = gids_tensor_numel(dst);
    if (n == 0) return GIDS_OK;
    switch (dst->dtype) {
    case GIDS_F32: return launch_copy_from<GIDS_F32>(dst, src, n);
    case GIDS_F64: return launch_copy_from<GIDS_F64>(dst, src, n);
    case GIDS_I64: return launch_copy_from<GIDS_I64>(dst, src, n);
    case GIDS_I32: return launch_copy_from<GIDS_I32>(dst, src, n);
    case GIDS_U8: return launch_copy_from<GIDS_U8>(dst, src, n);
    case GIDS_BOOL: return launch_copy_from<GIDS_BOOL>(dst, src, n);
    case GIDS_F16: return launch_copy_from<GIDS_F16>(dst, src, n);
    case GIDS_BF16: return launch_copy_from<GIDS_BF16>(dst, src, n);
    default: break;
    }
    GIDS_FAIL(GIDS_EUNSUPPORTED, "copy_: destination dtype %s is not supported on CUDA yet",
              gids_dtype_name(dst->dtype));
}

/* ---------------------------------------------------------------- copy */
static bool same_shape(const gids_tensor *a, const gids_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

static bool same_view(const gids_tensor *a, const gids_tensor *b) {
    if (a->storage != b->storage || a->offset != b->offset || !same_shape(a, b)) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] > 1 && a->stride[d] != b->stride[d]) return false;
    return true;
}

static size_t nbytes_of(const gids_tensor *t) {
    return (size_t)gids_tensor_numel(t) * gids_dtype_size(t->dtype);
}

static gids_status check_copy(gids_tensor *dst, const gids_tensor *src) {
    GIDS_TRY(gids_check_given("copy_", dst != nullptr, "dst"));
    GIDS_TRY(gids_check_given("copy_", src != nullptr, "src"));
    GIDS_CHECK(supported_dtype(dst->dtype) && supported_dtype(src->dtype), GIDS_EUNSUPPORTED,
               "copy_: %s -> %s is not supported on CUDA", gids_dtype_name(src->dtype),
               gids_dtype_name(dst->dtype));
    int nd;
    int64_t shape[GIDS_MAX_DIMS];
    GIDS_TRY(
        gids_broadcast_shapes("copy_", src->ndim, src->shape, dst->ndim, dst->shape, &nd, shape));
    bool ok = nd == dst->ndim;
    for (int d = 0; ok && d < nd; d++) ok = shape[d] == dst->shape[d];
    if (!ok) {
        char a[160], b[160];
        GIDS_FAIL(GIDS_ESHAPE, "copy_: source of shape %s does not broadcast to destination %s",
                  gids_shape_str(src->ndim, src->shape, a, sizeof a),
                  gids_shape_str(dst->ndim, dst->shape, b, sizeof b));
    }
    for (int d = 0; d < dst->ndim; d++)
        GIDS_CHECK(dst->stride[d] != 0 || dst->shape[d] <= 1, GIDS_EINVAL,
                   "copy_: destination has stride 0 in dim %d (an expanded tensor); its elements "
                   "overlap",
                   d);
    return GIDS_OK;
}

/* NEW: a fresh contiguous copy of t (dtype dt) on t's CUDA device, which is current. */
static gids_status fresh_on_device(gids_tensor **out, const gids_tensor *t, gids_dtype dt) {
    gc_ref r;
    GIDS_TRY(gids_empty(&r.t, dt, gc_dev(t), t->ndim, t->shape));
    GIDS_TRY(device_copy(r.t, t));
    *out = r.take();
    return GIDS_OK;
}

gids_status gc_contiguous_as(const char *op, gids_tensor **out, const gids_tensor *t,
                             gids_dtype dt) {
    GIDS_TRY(gc_use_device(op, t));
    if (t->dtype == dt && gids_tensor_is_contiguous(t)) {
        gids_tensor_retain((gids_tensor *)t);
        *out = (gids_tensor *)t;
        return GIDS_OK;
    }
    GIDS_CHECK(supported_dtype(t->dtype) && supported_dtype(dt), GIDS_EUNSUPPORTED,
               "%s: %s -> %s is not supported on CUDA yet", op, gids_dtype_name(t->dtype),
               gids_dtype_name(dt));
    return fresh_on_device(out, t, dt);
}

/* n bytes from device sd to device dd.  On the two legacy default streams, cudaMemcpyPeer as
 * before streams existed.  Where either device has another current stream, the copy waits for
 * src's stream, runs on dst's and is waited for: a rare move between GPUs then needs no event
 * between the streams, and the temporaries on either side are free to reuse when it returns. */
static gids_status peer_copy(void *dst, int dd, const void *src, int sd, size_t n) {
    cudaStream_t ss = gc_stream_on(sd), ds = gc_stream_on(dd);
    gc_waited();
    if (ss == 0 && ds == 0) {
        GC_CUDA("copy_", cudaMemcpyPeer(dst, dd, src, sd, n));
        return GIDS_OK;
    }
    GC_CUDA("copy_", cudaSetDevice(sd));
    GC_CUDA("copy_", cudaStreamSynchronize(ss));
    GC_CUDA("copy_", cudaSetDevice(dd));
    GC_CUDA("copy_", cudaMemcpyPeerAsync(dst, dd, src, sd, n, ds));
    GC_CUDA("copy_", cudaStreamSynchronize(ds));
    return GIDS_OK;
}

/* Both on CUDA devices. */
static gids_status copy_d2d(gids_tensor *dst, const gids_tensor *src) {
    gids_device dd = gc_dev(dst), sd = gc_dev(src);
    bool flat = dst->dtype == src->dtype && same_shape(dst, src) &&
                gids_tensor_is_contiguous(dst) && gids_tensor_is_contiguous(src);
    if (dd.index == sd.index) {
        GC_CUDA("copy_", cudaSetDevice(dd.index));
        if (same_view(dst, src)) return GIDS_OK;
        if (dst->storage == src->storage) {
            /* May overlap (t:copy_(t:t())): read everything before writing anything. */
            gc_ref tmp;
            GIDS_TRY(fresh_on_device(&tmp.t, src, src->dtype));
            return device_copy(dst, tmp.t);
        }
        if (flat) {
            GC_CUDA("copy_",
                    cudaMemcpyAsync(gids_tensor_data(dst), gids_tensor_data(src), nbytes_of(dst),
                                    cudaMemcpyDeviceToDevice, gc_stream()));
            if (gc_sync_each_op) GC_CUDA("copy_", gc_sync_current());
            return GIDS_OK;
        }
        return device_copy(dst, src);
    }
    /* Between devices: src packed on its device, moved whole, then converted on dst's. */
    gc_ref packed, moved;
    GIDS_TRY(gc_contiguous_as("copy_", &packed.t, src, src->dtype));
    if (flat) {
        return peer_copy(gids_tensor_data(dst), dd.index, gids_tensor_data(src), sd.index,
                         nbytes_of(dst));
    }
    GIDS_TRY(gids_empty(&moved.t, src->dtype, dd, src->ndim, src->shape));
    GIDS_TRY(peer_copy(gids_tensor_data(moved.t), dd.index, gids_tensor_data(packed.t), sd.index,
                       nbytes_of(moved.t)));
    GC_CUDA("copy_", cudaSetDevice(dd.index));
    return device_copy(dst, moved.t);
}

/* Host src, CUDA dst. */
static gids_status copy_h2d(gids_tensor *dst, const gids_tensor *src) {
    GC_CUDA("copy_", cudaSetDevice(gc_dev(dst).index));
    gc_ref host, staged;
    GIDS_TRY(gids_contiguous(&host.t, src));
    if (dst->dtype == src->dtype && same_shape(dst, src) && gids_tensor_is_contiguous(dst)) {
        GIDS_TRY(
            gc_upload("copy_", gids_tensor_data(dst), gids_tensor_data(host.t), nbytes_of(dst)));
        /* an index on its way to the device: its range, so its checks need not wait */
        if (dst->dtype == GIDS_I64)
            gc_index_range_note(dst, (const int64_t *)gids_tensor_data(host.t),
                                gids_tensor_numel(dst));
        return GIDS_OK;
    }
    GIDS_TRY(gids_empty(&staged.t, src->dtype, gc_dev(dst), src->ndim, src->shape));
    GIDS_TRY(gc_upload("copy_", gids_tensor_data(staged.t), gids_tensor_data(host.t),
                       nbytes_of(staged.t)));
    return device_copy(dst, staged.t);
}

/* CUDA src, host dst. */
static gids_status copy_d2h(gids_tensor *dst, const gids_tensor *src) {
    GC_CUDA("copy_", cudaSetDevice(gc_dev(src).index));
    gc_ref packed, host;
    if (src->dtype == dst->dtype && same_shape(dst, src) && gids_tensor_is_contiguous(src)) {
        packed.t = (gids_tensor *)src;
        gids_tensor_retain(packed.t);
    } else {
        /* Broadcast and convert on the device, into dst's shape and dtype. */
        GIDS_TRY(gids_empty(&packed.t, dst->dtype, gc_dev(src), dst->ndim, dst->shape));
        GIDS_TRY(device_copy(packed.t, src));
    }
    if (gids_tensor_is_contiguous(dst)) {
        GC_CUDA("copy_", gc_memcpy_sync(gids_tensor_data(dst), gids_tensor_data(packed.t),
                                        nbytes_of(dst), cudaMemcpyDeviceToHost));
        return GIDS_OK;
    }
    GIDS_TRY(gids_empty(&host.t, dst->dtype, GIDS_DEVICE_CPU, dst->ndim, dst->shape));
    GC_CUDA("copy_", gc_memcpy_sync(gids_tensor_data(host.t), gids_tensor_data(packed.t),
                                    nbytes_of(dst), cudaMemcpyDeviceToHost));
    return gids_copy_(dst, host.t);
}

gids_status gc_copy(gids_tensor *dst, const gids_tensor *src) {
    GIDS_TRY(check_copy(dst, src));
    if (gids_tensor_numel(dst) == 0) return GIDS_OK;
    bool dc = gc_is_cuda(dst), sc = gc_is_cuda(src);
    if (dc && sc) return copy_d2d(dst, src);
    if (dc) return copy_h2d(dst, src);
    if (sc) return copy_d2h(dst, src);
    GIDS_FAIL(GIDS_EDEVICE, "copy_: neither tensor is on a CUDA device");
}

/* ---------------------------------------------------------------- fill */
template <typename T> __global__ void fill_kernel(T *p, gc_layout l, T v, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        p[gc_offset(l, i)] = v;
}

template <typename T> static gids_status launch_fill(gids_tensor *t, T v) {
    int64_t n = gids_tensor_numel(t);
    if (n == 0) return GIDS_OK;
    const gids_tensor *ts[1] = {t};
    gc_layout l;
    gc_layouts(1, ts, t->ndim, t->shape, &l);
    /* Zeros into contiguous memory (every gradient buffer): the copy engine's memset. */
    static const T zero = T();
    if (l.ndim == 1 && l.stride[0] == 1 && memcmp(&v, &zero, sizeof v) == 0) {
        GC_CUDA("fill_",
                cudaMemsetAsync(gids_tensor_data(t), 0, (size_t)n * sizeof(T), gc_stream()));
        return GIDS_OK;
    }
    fill_kernel<T><<<gc_blocks(n), GC_THREADS, 0, gc_stream()>>>((T *)gids_tensor_data(t), l, v, n);
    GC_LAUNCHED("fill_");
    return GIDS_OK;
}

static double sat_host(double v, double lo, double hi) {
    return isnan(v) ? 0.0 : (v <= lo ? lo : (v >= hi ? hi : v));
}

/* Same value rules as the CPU's fill_ (the runtime has checked that the value fits). */
gids_status gc_fill(gids_tensor *t, gids_scalar value) {
    GIDS_TRY(gc_use_device("fill_", t));
    for (int d = 0; d < t->ndim; d++)
        GIDS_CHECK(t->stride[d] != 0 || t->shape[d] <= 1, GIDS_EINVAL,
                   "fill_: tensor has stride 0 in dim %d (an expanded tensor); its elements "
                   "overlap",
                   d);
    double f = value.is_int ? (double)value.i : value.f;
    switch (t->dtype) {
    case GIDS_F32: return launch_fill<float>(t, (float)f);
    case GIDS_F64: return launch_fill<double>(t, f);
    case GIDS_I64:
        return launch_fill<int64_t>(t, value.is_int ? value.i : (int64_t)f); /* fits: checked */
    case GIDS_I32:
        return launch_fill<int32_t>(
            t, value.is_int ? (int32_t)value.i : (int32_t)sat_host(f, -2147483648.0, 2147483647.0));
    case GIDS_U8:
        return launch_fill<uint8_t>(t, value.is_int ? (uint8_t)value.i
                                                    : (uint8_t)sat_host(f, 0.0, 255.0));
    case GIDS_BOOL:
        return launch_fill<uint8_t>(t, (uint8_t)(value.is_int ? value.i != 0 : f != 0.0));
    /* through f32, as the copies (a double fill value rounds to f32, then to nearest even) */
    case GIDS_F16: return launch_fill<__half>(t, __float2half_rn((float)f));
    case GIDS_BF16: return launch_fill<__nv_bfloat16>(t, __float2bfloat16_rn((float)f));
    default: break;
    }
    GIDS_FAIL(GIDS_EUNSUPPORTED, "fill_: dtype %s is not supported on CUDA yet",
              gids_dtype_name(t->dtype));
}
