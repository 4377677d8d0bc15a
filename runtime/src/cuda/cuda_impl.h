/* cuda_impl.h -- internal: shared by the CUDA plugin's files (runtime/src/cuda/, the .cu files).
 *
 * Every CUDA and cuBLAS call goes through GC_CUDA / GC_CUBLAS, which turn a failure into
 * gids_error_set with the op, the failing call's text, file:line and a hint.  Kernels, copies,
 * memsets, CUB and cuBLAS(Lt) calls are issued on the calling thread's current stream of the
 * op's device, gc_stream() (stream.cu): the legacy default stream (0) unless the thread set
 * another with the backend's stream_set, so ops run in issue order on it.  The caching allocator
 * keeps a pool per stream (allocator.cu): a freed block is reused only on the stream it was
 * allocated on, again in issue order, and a use on another stream is made known with
 * record_stream.
 */
#ifndef GIDS_CUDA_IMPL_H
#define GIDS_CUDA_IMPL_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "gids/backend.h"
#include "gids/memory.h"
#include "gids/ops.h"
#include "gids/status.h"
#include "gids/tensor.h"

#include "../backend_common.h"

#define GC_MAX_DEVICES 16 /* the runtime keeps counters for cuda:0..15 */
#define GC_THREADS 256

/* ---- errors (plugin.cu) ---- */
gids_status gc_cuda_fail(const char *op, cudaError_t e, const char *call, const char *file,
                         int line);
gids_status gc_cublas_fail(const char *op, cublasStatus_t e, const char *call, const char *file,
                           int line);
/* GRAPHIDS_CUDA_SYNC=1: read once at plugin init. */
extern bool gc_sync_each_op;

#define GC_CUDA(op, call)                                                                          \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) return gc_cuda_fail((op), e_, #call, __FILE__, __LINE__);           \
    } while (0)
#define GC_CUBLAS(op, call)                                                                        \
    do {                                                                                           \
        cublasStatus_t e_ = (call);                                                                \
        if (e_ != CUBLAS_STATUS_SUCCESS)                                                           \
            return gc_cublas_fail((op), e_, #call, __FILE__, __LINE__);                            \
    } while (0)
/* After a kernel launch: launch errors now, execution errors too under GRAPHIDS_CUDA_SYNC=1. */
#define GC_LAUNCHED(op)                                                                            \
    do {                                                                                           \
        GC_CUDA((op), cudaGetLastError());                                                         \
        if (gc_sync_each_op) GC_CUDA((op), gc_sync_current());                                     \
    } while (0)

/* ---- streams and events (stream.cu): the backend's ABI 6 entries ---- */
struct gids_stream {
    int device;
    cudaStream_t s;
    uint64_t id; /* never reused (a cudaStream_t may be, after a destroy): the allocator's key */
    bool nonblocking;
};
struct gids_event {
    int device;
    cudaEvent_t e;
    bool timing, recorded;
};
/* BORROW: the calling thread's current stream on device (NULL: the legacy default stream). */
gids_stream *gc_current(int device);
/* The CUDA stream of gc_current(device), 0 for the legacy default stream. */
cudaStream_t gc_stream_on(int device);
/* The same for the current CUDA device (the op's: every entry makes its device current first). */
cudaStream_t gc_stream(void);
/* A copy the host waits for: cudaMemcpy on the legacy default stream (as before streams), else
 * cudaMemcpyAsync on the current stream followed by a wait for that stream only.  Each one
 * stalls the queue of launches, so GRAPHIDS_CUDA_SYNC_DEBUG=warn prints every one with the
 * place that asked for it (PyTorch's set_sync_debug_mode("warn")). */
cudaError_t gc_memcpy_sync_at(void *dst, const void *src, size_t n, cudaMemcpyKind kind,
                              const char *file, int line);
#define gc_memcpy_sync(dst, src, n, kind) gc_memcpy_sync_at(dst, src, n, kind, __FILE__, __LINE__)
extern bool gc_warn_syncs;
/* Counts one wait of the host for the device (gids_backend.waits, graphids.gpu.waits()): every
 * call above, synchronisations the user asks for, and the copies between devices.  Returns the
 * count so far. */
int64_t gc_waited(void);
gids_status gc_waits(int64_t *count);
/* Whether work queued now on the current stream of device is ordered before whatever any
 * stream issues later: the current stream is the legacy default stream (CUDA orders blocking
 * streams after it) and the device has no nonblocking stream.  An upload left queued is then
 * as complete, for every later op, as one the host waited for. */
bool gc_queued_is_seen_everywhere(int device);
/* n bytes from host memory src to device memory dst on the current stream, through page-locked
 * staging (pinned.cu): the host does not wait for the device, and src may be reused on return;
 * past the staging limits, or where another stream could read dst before the copy has run
 * (gc_queued_is_seen_everywhere), a copy that waits (gc_memcpy_sync). */
gids_status gc_upload(const char *op, void *dst, const void *src, size_t n);
/* Frees device's staging blocks (gpu.reset(), after its synchronisation). */
void gc_pinned_release(int device);
/* Holds the uploads' lock: a nonblocking stream being created (stream.cu) is counted and
 * ordered after the uploads already queued while no upload decides to queue (pinned.cu). */
void gc_upload_lock(void);
void gc_upload_unlock(void);
/* GRAPHIDS_CUDA_SYNC=1's wait after an op: the device on the legacy default stream (as before
 * streams), else the current stream.  Not counted as one of gpu.waits(). */
cudaError_t gc_sync_current(void);
/* EDEVICE naming op unless 0 <= device < the device count. */
gids_status gc_check_device(const char *op, int device);
gids_status gc_stream_create(gids_stream **out, int device, int priority, unsigned flags);
gids_status gc_stream_destroy(gids_stream *s);
gids_status gc_stream_set(int device, gids_stream *s);
gids_status gc_stream_get(int device, gids_stream **out);
gids_status gc_stream_synchronize(int device, gids_stream *s);
gids_status gc_stream_query(int device, gids_stream *s, bool *done);
gids_status gc_stream_wait_event(int device, gids_stream *s, gids_event *e);
gids_status gc_event_create(gids_event **out, int device, bool timing);
gids_status gc_event_record(gids_event *e, int device, gids_stream *s);
gids_status gc_event_synchronize(gids_event *e);
gids_status gc_event_query(gids_event *e, bool *done);
gids_status gc_event_elapsed(const gids_event *start, const gids_event *end, double *ms);
gids_status gc_event_destroy(gids_event *e);
gids_status gc_record_stream(const gids_tensor *t, gids_stream *s);

/* ---- allocator (allocator.cu) ---- */
extern gids_allocator gc_allocator;
typedef struct gc_alloc_stats {
    int64_t allocated, reserved, peak;
} gc_alloc_stats;
void gc_alloc_stats_get(int device, gc_alloc_stats *out);
/* cudaFree of every cached block of the device, in every stream's pool (blocks waiting for
 * another stream's work are waited for first); returns the first failure. */
gids_status gc_alloc_release_cached(int device);
void gc_alloc_reset_peak(int device);
/* The block at ptr (a storage's data) is used on stream s of device too (see record_stream). */
gids_status gc_alloc_record_stream(const void *ptr, int device, const gids_stream *s);
/* s is being destroyed and has no work left: its pool's cached blocks go back to the driver,
 * and its live blocks go to the default stream's pool when freed. */
gids_status gc_alloc_drop_stream(const gids_stream *s);

/* ---- devices (device.cu) ---- */
extern const gids_backend gc_backend;
/* Makes t's device current (EDEVICE naming op when t is not a CUDA tensor). */
gids_status gc_use_device(const char *op, const gids_tensor *t);
/* The device's cuBLAS handle, created on first use (TF32 only with GRAPHIDS_ALLOW_TF32=1), set
 * to issue on the device's current stream.  One handle serves every thread: two threads must not
 * run cuBLAS work on one device at the same time (as before streams). */
gids_status gc_cublas_handle(const char *op, int device, cublasHandle_t *out);
/* Drops the device's cuBLAS and cuBLASLt handles, the cuBLASLt workspace and the GEMM
 * algorithms tuned on the device (gpu.reset). */
void gc_cublas_destroy(int device);
/* Drops the device's memo of the last graph attention plan (graph_attention.cu; gpu.reset). */
void gc_attention_plans_drop(int device);

/* The device's cuBLASLt handle with a GC_LT_WORKSPACE-byte workspace (cudaMalloc'd outside the
 * caching allocator, so not in its statistics; freed by reset), created on first use; tf32 is
 * GRAPHIDS_ALLOW_TF32=1 as for the cuBLAS handle.  The workspace belongs to the legacy default
 * stream: a call on another stream takes one from the caching allocator on that stream (two
 * streams' GEMMs may run at once and must not share scratch). */
#define GC_LT_WORKSPACE ((size_t)32 << 20)
struct gc_lt {
    cublasLtHandle_t handle;
    void *workspace;
    bool tf32;
};
gids_status gc_cublaslt(const char *op, int device, gc_lt *out);

/* ---- f32 GEMMs through cuBLASLt (gemm_lt.cu) ---- */
/* One product as cuBLAS sees it (column-major): D[m, n] = alpha op(A) op(B) + beta C, plus
 * bias[m] down every column when bias is set; C may be D (then ldc == ldd). */
struct gc_gemm {
    cublasOperation_t ta, tb;
    int m, n, k;
    const void *A;
    int lda;
    const void *B;
    int ldb;
    float alpha, beta;
    const void *C;
    int ldc;
    void *D;
    int ldd;
    const void *bias;
    bool tf32; /* TF32 math for this call even without GRAPHIDS_ALLOW_TF32 */
};
/* Runs g on device's current stream with the algorithm tuned for its shape when GEMM tuning is
 * on (gids/gemm_tuning.h), else the heuristic's first; *done false (nothing written) when
 * cuBLASLt has no algorithm for it or a size is 0, and the caller's path runs. */
gids_status gc_gemm_lt(const char *op, int device, const gc_gemm *g, bool *done);
/* The backend's gemm_tuned entry, and gpu.reset's: forget device's tuned shapes. */
gids_status gc_gemm_tuned(gids_gemm_tuned *out, int cap, int *n);
void gc_gemm_tuned_drop(int device);
/* The largest power of two dividing the address, at most 256. */
uint32_t gc_alignment_of(const void *p);

/* ---- copies (copy.cu) ---- */
gids_status gc_copy(gids_tensor *dst, const gids_tensor *src);
gids_status gc_fill(gids_tensor *t, gids_scalar value);
/* NEW: t itself (retained) when it is contiguous with dtype dt, else a contiguous copy of dtype
 * dt on t's device. */
gids_status gc_contiguous_as(const char *op, gids_tensor **out, const gids_tensor *t,
                             gids_dtype dt);

/* ---- elementwise, reductions, BLAS ---- */
gids_status gc_binary(gids_tensor **out, gids_binop op, const gids_tensor *a, const gids_tensor *b);
gids_status gc_binary_scalar(gids_tensor **out, gids_binop op, const gids_tensor *a, gids_scalar s,
                             bool reversed);
gids_status gc_unary(gids_tensor **out, gids_unop op, const gids_tensor *a);
gids_status gc_reduce(gids_tensor **out, gids_redop op, const gids_tensor *a, int ndims,
                      const int *dims, bool keepdim);
gids_status gc_softmax(gids_tensor **out, const gids_tensor *a, int dim, bool log);
gids_status gc_softmax_backward(gids_tensor **out, const gids_tensor *g, const gids_tensor *y,
                                int dim, bool log);
gids_status gc_mm(gids_tensor **out, const gids_tensor *a, const gids_tensor *b);
gids_status gc_addmm(gids_tensor **out, const gids_tensor *bias, const gids_tensor *a,
                     const gids_tensor *b, double beta, double alpha);

/* ---- helpers ---- */
/* A view's shape and element strides, passed to kernels by value. */
struct gc_layout {
    int ndim;
    bool fast; /* every position < 2^31: 32-bit magic-number division (gc_layouts sets it) */
    int64_t shape[GIDS_MAX_DIMS];
    int64_t stride[GIDS_MAX_DIMS];
    uint32_t magic[GIDS_MAX_DIMS], shift[GIDS_MAX_DIMS]; /* n / shape[d], see gc_offset */
};

/* Element offset of row-major position i in layout l.  The coordinates come from dividing i by
 * the dim sizes, which with 64-bit `/` and `%` cost the GPU far more than the loads they
 * address (a broadcast or strided copy ran at a quarter of the bandwidth a contiguous one
 * reached).  Below 2^31 positions each division is a multiply-high, an add and a shift
 * (Granlund-Montgomery: q = (umulhi(n, magic) + n) >> shift, exact for n, d < 2^31); dim 0
 * takes what is left without one. */
__device__ __forceinline__ int64_t gc_offset(const gc_layout &l, int64_t i) {
    if (l.ndim == 1) return i * l.stride[0]; /* every contiguous operand */
    int64_t off = 0;
    if (l.fast) {
        uint32_t u = (uint32_t)i;
        for (int d = l.ndim - 1; d > 0; d--) {
            uint32_t q = (__umulhi(u, l.magic[d]) + u) >> l.shift[d];
            off += (int64_t)(u - q * (uint32_t)l.shape[d]) * l.stride[d];
            u = q;
        }
        return off + (int64_t)u * l.stride[0];
    }
    for (int d = l.ndim - 1; d > 0; d--) {
        int64_t s = l.shape[d];
        off += (i % s) * l.stride[d];
        i /= s;
    }
    return off + i * l.stride[0];
}

/* Layouts of n operands viewed in the shape (nd, shape): operand k's strides are right-aligned
 * to shape with stride 0 where it broadcasts.  Size-1 dims are dropped and dims that every
 * operand walks contiguously are merged, so a contiguous op becomes one flat dim.  n <= 4. */
void gc_layouts(int n, const gids_tensor *const *ts, int nd, const int64_t *shape, gc_layout *out);

/* Grid for a grid-stride loop over n elements: one thread per element up to gc_grid_cap
 * blocks (eight per SM of device 0, set at plugin init: a full GPU), beyond which threads take
 * several.  Launching a block per 256 elements of a 70M-element copy left the GPU scheduling
 * blocks instead of moving bytes (1.2 TB/s of the H100's 3). */
extern unsigned gc_grid_cap;
static inline unsigned gc_blocks(int64_t n) {
    int64_t b = (n + GC_THREADS - 1) / GC_THREADS;
    if (b < 1) b = 1;
    return (unsigned)(b > (int64_t)gc_grid_cap ? gc_grid_cap : b);
}

/* The elementwise loop: grid-stride over [0, n) with GC_UNROLL elements per thread per round,
 * all loads of a round before its stores, so that each thread keeps GC_UNROLL loads in flight
 * (one dependent load per round leaves the memory system idle at a grid sized to the GPU).
 * load(i) returns what element i stores (type V); store(i, v) writes it. */
#define GC_UNROLL 4
template <typename V, typename L, typename S>
__device__ __forceinline__ void gc_elementwise(int64_t n, L load, S store) {
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    for (; i + (GC_UNROLL - 1) * step < n; i += GC_UNROLL * step) {
        V v[GC_UNROLL];
#pragma unroll
        for (int k = 0; k < GC_UNROLL; k++) v[k] = load(i + k * step);
#pragma unroll
        for (int k = 0; k < GC_UNROLL; k++) store(i + k * step, v[k]);
    }
    for (; i < n; i += step) store(i, load(i));
}

/* -- vector map */
/* Operands that are all contiguous and aligned take 16 bytes a load and a store (V elements of
 * the widest operand type), one pack a thread per round, with the tail after the last whole
 * pack taken an element a thread.  The scalar loop above moves 4 bytes an instruction and
 * computes a 64-bit offset an element: relu over 1 GiB of f32 ran at 3.0 TB/s on an H200,
 * where PyTorch's vectorised kernel and our own device copy reached 4.0-4.2. */
template <typename T, int V> struct alignas(sizeof(T) * V) gc_pack { T v[V]; };

/* Elements a pack: 16 bytes of the widest of the types (4 for f32, 2 for f64); a constant,
 * not a function, so that kernels may use it. */
template <typename... Ts> struct gc_widest { static constexpr size_t size = 1; };
template <typename T, typename... Ts> struct gc_widest<T, Ts...> {
    static constexpr size_t rest = gc_widest<Ts...>::size;
    static constexpr size_t size = sizeof(T) > rest ? sizeof(T) : rest;
};
template <typename... Ts> constexpr int gc_vec_width = (int)(16 / gc_widest<Ts...>::size);

/* o[i] = f(a[i]) for i < n. */
template <int V, typename TO, typename TA, typename F>
__device__ __forceinline__ void gc_map1(TO *o, const TA *a, int64_t n, F f) {
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    const int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, packs = n / V;
    for (int64_t p = tid; p < packs; p += step) {
        gc_pack<TA, V> x = ((const gc_pack<TA, V> *)a)[p];
        gc_pack<TO, V> r;
#pragma unroll
        for (int k = 0; k < V; k++) r.v[k] = f(x.v[k]);
        ((gc_pack<TO, V> *)o)[p] = r;
    }
    for (int64_t i = packs * V + tid; i < n; i += step) o[i] = f(a[i]);
}

/* o[i] = f(a[i], b[i]) for i < n. */
template <int V, typename TO, typename TA, typename TB, typename F>
__device__ __forceinline__ void gc_map2(TO *o, const TA *a, const TB *b, int64_t n, F f) {
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    const int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, packs = n / V;
    for (int64_t p = tid; p < packs; p += step) {
        gc_pack<TA, V> x = ((const gc_pack<TA, V> *)a)[p];
        gc_pack<TB, V> y = ((const gc_pack<TB, V> *)b)[p];
        gc_pack<TO, V> r;
#pragma unroll
        for (int k = 0; k < V; k++) r.v[k] = f(x.v[k], y.v[k]);
        ((gc_pack<TO, V> *)o)[p] = r;
    }
    for (int64_t i = packs * V + tid; i < n; i += step) o[i] = f(a[i], b[i]);
}
/* -- end vector map */

/* Whether an operand with layout l (from gc_layouts) at p can take packs of `bytes`: one flat
 * contiguous dim, p aligned to the pack (a view may start anywhere in its storage). */
static inline bool gc_vec_ok(const gc_layout &l, const void *p, size_t bytes) {
    return l.ndim == 1 && l.stride[0] == 1 && (uintptr_t)p % bytes == 0;
}

/* Grid for the vector map over n elements in packs of V. */
static inline unsigned gc_vec_blocks(int64_t n, int V) {
    return gc_blocks((n + V - 1) / V);
}

/* Owns a tensor reference for the length of a scope (error paths release it). */
struct gc_ref {
    gids_tensor *t = nullptr;
    gc_ref() = default;
    gc_ref(const gc_ref &) = delete;
    gc_ref &operator=(const gc_ref &) = delete;
    ~gc_ref() { gids_tensor_release(t); }
    gids_tensor *take() {
        gids_tensor *r = t;
        t = nullptr;
        return r;
    }
};

static inline gids_device gc_dev(const gids_tensor *t) {
    return t->storage->device;
}
static inline bool gc_is_cuda(const gids_tensor *t) {
    return t->storage->device.type == GIDS_CUDA;
}

/* ---- sorting and prefix scans (sort.cu, scan.cu): gids_backend's ABI 5 entries ---- */
/* gids_sort, and gids_argsort with values NULL. */
gids_status gc_sort(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int dim,
                    bool descending);
gids_status gc_topk(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int64_t k,
                    int dim, bool largest);
/* gids_cumsum (prod false), gids_cumprod (prod true). */
gids_status gc_scan(gids_tensor **out, const gids_tensor *a, int dim, bool prod);

#endif
