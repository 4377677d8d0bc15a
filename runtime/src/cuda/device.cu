/* device.cu -- devices: count, the info report, synchronize, memory, reset; the backend table;
 * one cuBLAS and one cuBLASLt handle (with its workspace) per device, created on first use and
 * dropped by reset (with the GEMM algorithms tuned on the device, gemm_lt.cu).  synchronize and
 * reset wait for the whole device: every stream. */
#include <mutex>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc_index.h" /* gc_index_ranges_drop; it includes cuda_impl.h */

static int device_count_(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n > GC_MAX_DEVICES ? GC_MAX_DEVICES : n;
}

gids_status gc_check_device(const char *op, int device) {
    return gids_check_device_in(op, device, device_count_(), "");
}

gids_status gc_use_device(const char *op, const gids_tensor *t) {
    GIDS_CHECK(t != nullptr, GIDS_EINVAL, "%s: tensor is NULL", op);
    gids_device d = gc_dev(t);
    if (d.type != GIDS_CUDA) {
        char buf[16];
        GIDS_FAIL(GIDS_EDEVICE, "%s: expected a CUDA tensor, got one on %s", op,
                  gids_device_str(d, buf, sizeof buf));
    }
    GC_CUDA(op, cudaSetDevice(d.index));
    return GIDS_OK;
}

/* ---- cuBLAS handles ---- */
static std::mutex handles_mu_;
static cublasHandle_t handles_[GC_MAX_DEVICES];
/* The stream each handle issues on: cublasSetStream runs only when the current stream differs,
 * so a program that never sets a stream makes exactly the calls it made before streams. */
static cudaStream_t handle_streams_[GC_MAX_DEVICES];

gids_status gc_cublas_handle(const char *op, int device, cublasHandle_t *out) {
    GIDS_CHECK(device >= 0 && device < GC_MAX_DEVICES, GIDS_EDEVICE,
               "%s: device cuda:%d is out of range", op, device);
    std::lock_guard<std::mutex> g(handles_mu_);
    if (handles_[device] == nullptr) {
        GC_CUDA(op, cudaSetDevice(device));
        cublasHandle_t h = nullptr;
        GC_CUBLAS(op, cublasCreate(&h));
        /* TF32 rounds the inputs to 10 mantissa bits: only when the user asks for it. */
        const char *tf32 = getenv("GRAPHIDS_ALLOW_TF32");
        bool allow = tf32 != nullptr && strcmp(tf32, "1") == 0;
        cublasStatus_t s =
            cublasSetMathMode(h, allow ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
        if (s != CUBLAS_STATUS_SUCCESS) {
            cublasDestroy(h);
            return gc_cublas_fail(op, s, "cublasSetMathMode", __FILE__, __LINE__);
        }
        handles_[device] = h;
        handle_streams_[device] = 0; /* a new handle issues on the legacy default stream */
    }
    cudaStream_t st = gc_stream_on(device);
    if (st != handle_streams_[device]) {
        GC_CUBLAS(op, cublasSetStream(handles_[device], st));
        handle_streams_[device] = st;
    }
    *out = handles_[device];
    return GIDS_OK;
}

/* ---- cuBLASLt handles and their workspaces (addmm's fused bias, blas.cu) ---- */
static gc_lt lt_[GC_MAX_DEVICES];

gids_status gc_cublaslt(const char *op, int device, gc_lt *out) {
    GIDS_CHECK(device >= 0 && device < GC_MAX_DEVICES, GIDS_EDEVICE,
               "%s: device cuda:%d is out of range", op, device);
    std::lock_guard<std::mutex> g(handles_mu_);
    gc_lt *l = &lt_[device];
    if (l->handle == nullptr) {
        GC_CUDA(op, cudaSetDevice(device));
        cublasLtHandle_t h = nullptr;
        GC_CUBLAS(op, cublasLtCreate(&h));
        void *ws = nullptr;
        cudaError_t e = cudaMalloc(&ws, GC_LT_WORKSPACE);
        if (e != cudaSuccess) {
            cublasLtDestroy(h);
            return gc_cuda_fail(op, e, "cudaMalloc(cuBLASLt workspace)", __FILE__, __LINE__);
        }
        const char *tf32 = getenv("GRAPHIDS_ALLOW_TF32"); /* as the cuBLAS handle */
        l->tf32 = tf32 != nullptr && strcmp(tf32, "1") == 0;
        l->workspace = ws;
        l->handle = h;
    }
    *out = *l;
    return GIDS_OK;
}

void gc_cublas_destroy(int device) {
    gc_gemm_tuned_drop(device); /* the tuned algorithms go with the handles */
    std::lock_guard<std::mutex> g(handles_mu_);
    if (device < 0 || device >= GC_MAX_DEVICES) return;
    cudaSetDevice(device);
    if (handles_[device] != nullptr) {
        cublasDestroy(handles_[device]);
        handles_[device] = nullptr;
        handle_streams_[device] = 0;
    }
    if (lt_[device].handle != nullptr) {
        cublasLtDestroy(lt_[device].handle);
        cudaFree(lt_[device].workspace);
        lt_[device] = gc_lt{};
    }
}

/* ---- backend entries ---- */
static void append(char *buf, size_t n, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t n, size_t *at, const char *fmt, ...) {
    if (*at >= n) return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *at, n - *at, fmt, ap);
    va_end(ap);
    if (w > 0) *at = *at + (size_t)w < n ? *at + (size_t)w : n;
}

static gids_status info_(char *buf, size_t n) {
    GIDS_TRY(gids_check_info_buffer(buf, n));
    buf[0] = 0;
    size_t at = 0;
    int drv = 0, rt = 0, bl_major = 0, bl_minor = 0, bl_patch = 0;
    GC_CUDA("gpu info", cudaDriverGetVersion(&drv));
    GC_CUDA("gpu info", cudaRuntimeGetVersion(&rt));
    GC_CUBLAS("gpu info", cublasGetProperty(MAJOR_VERSION, &bl_major));
    GC_CUBLAS("gpu info", cublasGetProperty(MINOR_VERSION, &bl_minor));
    GC_CUBLAS("gpu info", cublasGetProperty(PATCH_LEVEL, &bl_patch));
    append(buf, n, &at, "driver: CUDA %d.%d\n", drv / 1000, drv % 1000 / 10);
    append(buf, n, &at, "runtime: CUDA %d.%d\n", rt / 1000, rt % 1000 / 10);
    append(buf, n, &at, "cuBLAS: %d.%d.%d\n", bl_major, bl_minor, bl_patch);
    append(buf, n, &at, "cuDNN: not used by this build\n");
    int count = device_count_();
    append(buf, n, &at, "devices: %d\n", count);
    for (int d = 0; d < count; d++) {
        cudaDeviceProp p;
        GC_CUDA("gpu info", cudaGetDeviceProperties(&p, d));
        append(buf, n, &at, "cuda:%d: %s, compute capability %d.%d, %.1f GiB, %d SMs\n", d, p.name,
               p.major, p.minor, (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0),
               p.multiProcessorCount);
    }
    return GIDS_OK;
}

static gids_status synchronize_(int device) {
    GIDS_TRY(gc_check_device("gpu synchronize", device));
    GC_CUDA("gpu synchronize", cudaSetDevice(device));
    gc_waited();
    GC_CUDA("gpu synchronize", cudaDeviceSynchronize());
    return GIDS_OK;
}

static gids_status memory_(int device, gids_gpu_memory *out) {
    GIDS_TRY(gids_check_given("gpu memory", out != nullptr, "out"));
    GIDS_TRY(gc_check_device("gpu memory", device));
    gc_alloc_stats st;
    gc_alloc_stats_get(device, &st);
    size_t fr = 0, total = 0;
    GC_CUDA("gpu memory", cudaSetDevice(device));
    GC_CUDA("gpu memory", cudaMemGetInfo(&fr, &total));
    out->allocated = st.allocated;
    out->reserved = st.reserved;
    out->peak = st.peak;
    out->free = (int64_t)fr;
    out->total = (int64_t)total;
    return GIDS_OK;
}

/* DESIGN §3: synchronise, release every cached block, reset the peak, drop the cuBLAS handle
 * (and with it its workspace); the next op recreates what it needs.  device -1: every device. */
static gids_status reset_(int device) {
    if (device == -1) {
        int n = device_count_();
        for (int d = 0; d < n; d++) GIDS_TRY(reset_(d));
        return GIDS_OK;
    }
    GIDS_TRY(gc_check_device("gpu reset", device));
    GC_CUDA("gpu reset", cudaSetDevice(device));
    GC_CUDA("gpu reset", cudaDeviceSynchronize());
    gc_cublas_destroy(device);
    gc_attention_plans_drop(device);
    gc_index_ranges_drop(device);
    gc_pinned_release(device);
    GIDS_TRY(gc_alloc_release_cached(device));
    gc_alloc_reset_peak(device);
    gids_memory_reset_peak(gids_device{GIDS_CUDA, device});
    return GIDS_OK;
}

/* indexing, joining and segments (index.cu, join.cu, segment.cu) */
gids_status gc_index_select(gids_tensor **out, const gids_tensor *a, int dim,
                            const gids_tensor *index);
gids_status gc_gather(gids_tensor **out, const gids_tensor *a, int dim, const gids_tensor *index);
gids_status gc_scatter_add_(gids_tensor *self, int dim, const gids_tensor *index,
                            const gids_tensor *src);
gids_status gc_index_add_(gids_tensor *self, int dim, const gids_tensor *index,
                          const gids_tensor *src, double alpha);
gids_status gc_segment_reduce(gids_tensor **out, gids_tensor **arg, gids_segop op,
                              const gids_tensor *src, const gids_tensor *index,
                              int64_t num_segments);
gids_status gc_segment_softmax(gids_tensor **out, const gids_tensor *src, const gids_tensor *index,
                               int64_t num_segments);

/* activations, selection and optimizer steps (activation.cu, optim.cu) */
gids_status gc_leaky_relu(gids_tensor **out, const gids_tensor *a, double negative_slope);
gids_status gc_elu(gids_tensor **out, const gids_tensor *a, double alpha);
gids_status gc_softplus(gids_tensor **out, const gids_tensor *a, double beta, double threshold);
gids_status gc_clamp(gids_tensor **out, const gids_tensor *a, const gids_scalar *min,
                     const gids_scalar *max);
gids_status gc_where(gids_tensor **out, const gids_tensor *cond, const gids_tensor *a,
                     const gids_tensor *b);
gids_status gc_adam_step_(gids_tensor *param, const gids_tensor *grad, gids_tensor *exp_avg,
                          gids_tensor *exp_avg_sq, gids_tensor *max_exp_avg_sq,
                          const gids_adam_cfg *cfg);
gids_status gc_adam_steps_(int n, gids_tensor *const *params, const gids_tensor *const *grads,
                           gids_tensor *const *exp_avgs, gids_tensor *const *exp_avg_sqs,
                           gids_tensor *const *max_exp_avg_sqs, const int64_t *steps,
                           const gids_adam_cfg *cfg);
gids_status gc_sgd_step_(gids_tensor *param, const gids_tensor *grad, gids_tensor *momentum_buf,
                         const gids_sgd_cfg *cfg);
gids_status gc_count_nonfinite(gids_tensor **out, int n, const gids_tensor *const *ts);

/* batched matmul, fused graph attention, LSTM cell, max/min along a dim, bernoulli_, nonzero,
 * masked_select, unique, scatter_ (matmul.cu, graph_attention.cu, rnn.cu, reduce.cu, rng.cu,
 * select.cu, unique.cu, index.cu) */
gids_status gc_matmul(gids_tensor **out, const gids_tensor *a, const gids_tensor *b);
gids_status gc_gat_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *x,
                             const gids_tensor *a_src, const gids_tensor *a_dst,
                             const gids_tensor *a_edge, const gids_tensor *edge_index,
                             int64_t num_nodes, double negative_slope,
                             const gids_tensor *dropout_scale);
gids_status gc_gat_attention_backward(gids_tensor **g_x, gids_tensor **g_a_src,
                                      gids_tensor **g_a_dst, gids_tensor **g_a_edge,
                                      const gids_tensor *g_out, const gids_tensor *g_alpha,
                                      const gids_tensor *x, const gids_tensor *a_src,
                                      const gids_tensor *a_dst, const gids_tensor *a_edge,
                                      const gids_tensor *edge_index, int64_t num_nodes,
                                      double negative_slope, const gids_tensor *dropout_scale,
                                      const gids_tensor *alpha);
gids_status gc_gatv2_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *xl,
                               const gids_tensor *xr, const gids_tensor *edge_proj,
                               const gids_tensor *att, const gids_tensor *edge_index,
                               int64_t num_nodes, double negative_slope,
                               const gids_tensor *dropout_scale);
gids_status gc_gatv2_attention_backward(gids_tensor **g_xl, gids_tensor **g_xr,
                                        gids_tensor **g_edge_proj, gids_tensor **g_att,
                                        const gids_tensor *g_out, const gids_tensor *g_alpha,
                                        const gids_tensor *xl, const gids_tensor *xr,
                                        const gids_tensor *edge_proj, const gids_tensor *att,
                                        const gids_tensor *edge_index, int64_t num_nodes,
                                        double negative_slope, const gids_tensor *dropout_scale,
                                        const gids_tensor *alpha);
gids_status gc_lstm_cell(gids_tensor **h, gids_tensor **c, gids_tensor **act,
                         const gids_tensor *gates, const gids_tensor *c_prev);
gids_status gc_lstm_cell_backward(gids_tensor **g_gates, gids_tensor **g_c_prev,
                                  const gids_tensor *g_h, const gids_tensor *g_c,
                                  const gids_tensor *act, const gids_tensor *c_prev,
                                  const gids_tensor *c);
gids_status gc_extreme_dim(gids_tensor **values, gids_tensor **indices, const gids_tensor *a,
                           int dim, bool keepdim, bool is_max);
gids_status gc_bernoulli_(gids_tensor *t, uint64_t seed, uint64_t offset, double p);
gids_status gc_nonzero(gids_tensor **out, const gids_tensor *a);
gids_status gc_masked_select(gids_tensor **out, const gids_tensor *a, const gids_tensor *mask);
gids_status gc_unique(gids_tensor **values, gids_tensor **inverse, gids_tensor **counts,
                      const gids_tensor *a);
gids_status gc_scatter_(gids_tensor *self, int dim, const gids_tensor *index,
                        const gids_tensor *src);
gids_status gc_scatter_scalar_(gids_tensor *self, int dim, const gids_tensor *index,
                               gids_scalar value);
gids_status gc_bilstm(gids_tensor **out, gids_tensor **act, gids_tensor **c, const gids_tensor *x,
                      const gids_tensor *const w[8]);
gids_status gc_bilstm_backward(gids_tensor **g_x, gids_tensor *g_w[8], const bool want_w[8],
                               const gids_tensor *g_out, const gids_tensor *x,
                               const gids_tensor *const w[8], const gids_tensor *out,
                               gids_tensor *act, const gids_tensor *c, bool consume);
gids_status gc_jk_sum(gids_tensor **out, const gids_tensor *x, const gids_tensor *alpha);
gids_status gc_jk_sum_backward(gids_tensor **g_x, gids_tensor **g_alpha, const gids_tensor *g,
                               const gids_tensor *x, const gids_tensor *alpha);

/* One entry per line, in gids_backend's order (NULL: the runtime reports the op as unavailable). */
const gids_backend gc_backend = {
    GIDS_BACKEND_ABI,
    "cuda",
    device_count_,
    info_,
    synchronize_,
    memory_,
    reset_,
    gc_copy,
    gc_fill,
    gc_binary,
    gc_binary_scalar,
    gc_unary,
    gc_reduce,
    gc_softmax,
    gc_mm,
    gc_addmm,
    gc_leaky_relu,               /* leaky_relu */
    gc_elu,                      /* elu */
    gc_softplus,                 /* softplus */
    gc_clamp,                    /* clamp */
    gc_where,                    /* where */
    gc_index_select,             /* index_select */
    gc_gather,                   /* gather */
    gc_scatter_add_,             /* scatter_add_ */
    gc_index_add_,               /* index_add_ */
    gc_segment_reduce,           /* segment_reduce */
    gc_segment_softmax,          /* segment_softmax */
    gc_adam_step_,               /* adam_step_ */
    gc_sgd_step_,                /* sgd_step_ */
    gc_matmul,                   /* matmul */
    gc_gat_attention,            /* gat_attention */
    gc_gat_attention_backward,   /* gat_attention_backward */
    gc_gatv2_attention,          /* gatv2_attention */
    gc_gatv2_attention_backward, /* gatv2_attention_backward */
    gc_lstm_cell,                /* lstm_cell */
    gc_lstm_cell_backward,       /* lstm_cell_backward */
    gc_extreme_dim,              /* extreme_dim */
    gc_bernoulli_,               /* bernoulli_ */
    gc_nonzero,                  /* nonzero */
    gc_masked_select,            /* masked_select */
    gc_unique,                   /* unique */
    gc_scatter_,                 /* scatter_ */
    gc_scatter_scalar_,          /* scatter_scalar_ */
    gc_sort,                     /* sort */
    gc_topk,                     /* topk */
    gc_scan,                     /* scan */
    gc_stream_create,            /* stream_create */
    gc_stream_destroy,           /* stream_destroy */
    gc_stream_set,               /* stream_set */
    gc_stream_get,               /* stream_get */
    gc_stream_synchronize,       /* stream_synchronize */
    gc_stream_query,             /* stream_query */
    gc_stream_wait_event,        /* stream_wait_event */
    gc_event_create,             /* event_create */
    gc_event_record,             /* event_record */
    gc_event_synchronize,        /* event_synchronize */
    gc_event_query,              /* event_query */
    gc_event_elapsed,            /* event_elapsed */
    gc_event_destroy,            /* event_destroy */
    gc_record_stream,            /* record_stream */
    gc_bilstm,                   /* bilstm */
    gc_bilstm_backward,          /* bilstm_backward */
    gc_jk_sum,                   /* jk_sum */
    gc_jk_sum_backward,          /* jk_sum_backward */
    gc_softmax_backward,         /* softmax_backward */
    gc_adam_steps_,              /* adam_steps_ */
    gc_int_range,                /* int_range */
    gc_waits,                    /* waits */
    gc_range_known,              /* range_known */
    gc_range_note,               /* range_note */
    gc_gemm_tuned,               /* gemm_tuned */
    gc_count_nonfinite,          /* count_nonfinite */
};
