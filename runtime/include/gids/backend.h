/* gids/backend.h -- device backends (the CUDA plugin) behind the plain ops.
 *
 *   gids_tensor *x = NULL, *g = NULL;
 *   GIDS_TRY(gids_randn(&x, NULL, GIDS_F32, 2, shape));
 *   GIDS_TRY(gids_to_device(&g, x, (gids_device){GIDS_CUDA, 0}));   // loads the plugin if needed
 *   GIDS_TRY(gids_binary(&y, GIDS_ADD, g, g));                        // runs on the GPU
 *
 * The core never links CUDA.  The first time a CUDA device is asked for, gids_backend_load()
 * dlopens graphids_cuda.so (from $GIDS_CUDA_PLUGIN, else next to the library or program that
 * holds the runtime, else the dynamic loader's search path) and calls its entry point
 * gids_cuda_plugin_init, which registers an allocator for GIDS_CUDA (memory.h) and a
 * gids_backend.  The plugin resolves the runtime's own functions (gids_empty, gids_error_set, ...)
 * from the process, so the runtime's symbols must be visible: the Lua module promotes itself
 * to global scope before loading it, and C programs link libgraphids normally.
 *
 * A plain op whose tensors live on a CUDA device is handed to the backend; an op the backend
 * does not implement (a NULL entry) fails with EUNSUPPORTED naming the op and the device.
 * Tensors of one op must all live on one device (EDEVICE otherwise, naming both).
 */
#ifndef GIDS_BACKEND_H
#define GIDS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gids/gemm_tuning.h"
#include "gids/ops.h"
#include "gids/optim.h"
#include "gids/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GIDS_BACKEND_ABI 12

/* ABI 6: streams and events (docs/cuda.md "Streams and events").  Opaque handles, defined by the
 * backend that makes them; a handle of one backend means nothing to another. */
typedef struct gids_stream gids_stream;
typedef struct gids_event gids_event;
/* stream_create's flags: no implicit ordering with the legacy default stream (CUDA's
 * cudaStreamNonBlocking).  Without it a stream's work waits for earlier work on the default
 * stream and the default stream's work waits for the stream's, as CUDA's blocking streams do. */
#define GIDS_STREAM_NONBLOCKING 1u

typedef struct gids_gpu_memory {
    int64_t allocated; /* bytes in live tensors */
    int64_t reserved;  /* bytes held from the driver (allocated + cached) */
    int64_t peak;      /* highest `allocated` since start or the last reset */
    int64_t free;      /* the driver's free bytes on the device */
    int64_t total;     /* the device's memory */
} gids_gpu_memory;

typedef struct gids_backend {
    int abi; /* GIDS_BACKEND_ABI */
    const char *name;

    /* ---- devices ---- */
    int (*device_count)(void);
    /* A multi-line report: driver, runtime, cuBLAS and cuDNN versions, each device. */
    gids_status (*info)(char *buf, size_t n);
    gids_status (*synchronize)(int device);
    gids_status (*memory)(int device, gids_gpu_memory *out);
    /* Returns every cached block to the driver, resets the peak, drops library handles,
     * plans and compiled modules (DESIGN §3, GPU reset). */
    gids_status (*reset)(int device);

    /* ---- data ---- */
    /* dst <- src where at least one of them is on this backend's devices: host<->device and
     * device<->device, strided, src broadcast to dst, dtype converted. */
    gids_status (*copy)(gids_tensor *dst, const gids_tensor *src);
    gids_status (*fill)(gids_tensor *t, gids_scalar value);

    /* ---- compute (same contracts as ops.h; NULL: the op fails with EUNSUPPORTED) ---- */
    gids_status (*binary)(gids_tensor **out, gids_binop op, const gids_tensor *a,
                          const gids_tensor *b);
    gids_status (*binary_scalar)(gids_tensor **out, gids_binop op, const gids_tensor *a,
                                 gids_scalar s, bool reversed);
    gids_status (*unary)(gids_tensor **out, gids_unop op, const gids_tensor *a);
    gids_status (*reduce)(gids_tensor **out, gids_redop op, const gids_tensor *a, int ndims,
                          const int *dims, bool keepdim);
    gids_status (*softmax)(gids_tensor **out, const gids_tensor *a, int dim, bool log);
    gids_status (*mm)(gids_tensor **out, const gids_tensor *a, const gids_tensor *b);
    gids_status (*addmm)(gids_tensor **out, const gids_tensor *bias, const gids_tensor *a,
                         const gids_tensor *b, double beta, double alpha);

    /* ---- activations and selection ---- */
    gids_status (*leaky_relu)(gids_tensor **out, const gids_tensor *a, double negative_slope);
    gids_status (*elu)(gids_tensor **out, const gids_tensor *a, double alpha);
    gids_status (*softplus)(gids_tensor **out, const gids_tensor *a, double beta, double threshold);
    gids_status (*clamp)(gids_tensor **out, const gids_tensor *a, const gids_scalar *min,
                         const gids_scalar *max);
    gids_status (*where)(gids_tensor **out, const gids_tensor *cond, const gids_tensor *a,
                         const gids_tensor *b);

    /* ---- indexing and segments (message passing; cat needs only copy) ---- */
    gids_status (*index_select)(gids_tensor **out, const gids_tensor *a, int dim,
                                const gids_tensor *index);
    gids_status (*gather)(gids_tensor **out, const gids_tensor *a, int dim,
                          const gids_tensor *index);
    gids_status (*scatter_add_)(gids_tensor *self, int dim, const gids_tensor *index,
                                const gids_tensor *src);
    gids_status (*index_add_)(gids_tensor *self, int dim, const gids_tensor *index,
                              const gids_tensor *src, double alpha);
    gids_status (*segment_reduce)(gids_tensor **out, gids_tensor **arg, gids_segop op,
                                  const gids_tensor *src, const gids_tensor *index,
                                  int64_t num_segments);
    gids_status (*segment_softmax)(gids_tensor **out, const gids_tensor *src,
                                   const gids_tensor *index, int64_t num_segments);

    /* ---- fused optimizer updates (gids/optim.h) ---- */
    gids_status (*adam_step_)(gids_tensor *param, const gids_tensor *grad, gids_tensor *exp_avg,
                              gids_tensor *exp_avg_sq, gids_tensor *max_exp_avg_sq,
                              const gids_adam_cfg *cfg);
    gids_status (*sgd_step_)(gids_tensor *param, const gids_tensor *grad, gids_tensor *momentum_buf,
                             const gids_sgd_cfg *cfg);

    /* ---- ABI 4: batched matmul, fused graph attention and LSTM cell (gids/graph.h, rnn.h),
     * max/min along a dim, bernoulli_, nonzero, masked_select, unique, scatter_ ---- */
    /* gids_matmul for any operands (batch dims, 1-D); gids_bmm is its 3-D case. */
    gids_status (*matmul)(gids_tensor **out, const gids_tensor *a, const gids_tensor *b);
    gids_status (*gat_attention)(gids_tensor **out, gids_tensor **alpha, const gids_tensor *x,
                                 const gids_tensor *a_src, const gids_tensor *a_dst,
                                 const gids_tensor *a_edge, const gids_tensor *edge_index,
                                 int64_t num_nodes, double negative_slope,
                                 const gids_tensor *dropout_scale);
    gids_status (*gat_attention_backward)(gids_tensor **g_x, gids_tensor **g_a_src,
                                          gids_tensor **g_a_dst, gids_tensor **g_a_edge,
                                          const gids_tensor *g_out, const gids_tensor *g_alpha,
                                          const gids_tensor *x, const gids_tensor *a_src,
                                          const gids_tensor *a_dst, const gids_tensor *a_edge,
                                          const gids_tensor *edge_index, int64_t num_nodes,
                                          double negative_slope, const gids_tensor *dropout_scale,
                                          const gids_tensor *alpha);
    gids_status (*gatv2_attention)(gids_tensor **out, gids_tensor **alpha, const gids_tensor *xl,
                                   const gids_tensor *xr, const gids_tensor *edge_proj,
                                   const gids_tensor *att, const gids_tensor *edge_index,
                                   int64_t num_nodes, double negative_slope,
                                   const gids_tensor *dropout_scale);
    gids_status (*gatv2_attention_backward)(gids_tensor **g_xl, gids_tensor **g_xr,
                                            gids_tensor **g_edge_proj, gids_tensor **g_att,
                                            const gids_tensor *g_out, const gids_tensor *g_alpha,
                                            const gids_tensor *xl, const gids_tensor *xr,
                                            const gids_tensor *edge_proj, const gids_tensor *att,
                                            const gids_tensor *edge_index, int64_t num_nodes,
                                            double negative_slope, const gids_tensor *dropout_scale,
                                            const gids_tensor *alpha);
    gids_status (*lstm_cell)(gids_tensor **h, gids_tensor **c, gids_tensor **act,
                             const gids_tensor *gates, const gids_tensor *c_prev);
    gids_status (*lstm_cell_backward)(gids_tensor **g_gates, gids_tensor **g_c_prev,
                                      const gids_tensor *g_h, const gids_tensor *g_c,
                                      const gids_tensor *act, const gids_tensor *c_prev,
                                      const gids_tensor *c);
    /* gids_max_dim / gids_min_dim (is_max false), and through them argmax / argmin. */
    gids_status (*extreme_dim)(gids_tensor **values, gids_tensor **indices, const gids_tensor *a,
                               int dim, bool keepdim, bool is_max);
    /* gids_bernoulli_ with the generator's state: the draw of elements [offset, offset + numel)
     * of (seed), the CPU's numbers; the caller then advances the generator by numel. */
    gids_status (*bernoulli_)(gids_tensor *t, uint64_t seed, uint64_t offset, double p);
    /* gids_nonzero */
    gids_status (*nonzero)(gids_tensor **out, const gids_tensor *a);
    /* gids_masked_select */
    gids_status (*masked_select)(gids_tensor **out, const gids_tensor *a, const gids_tensor *mask);
    /* gids_unique, gids_scatter_, gids_scatter_scalar_ */
    gids_status (*unique)(gids_tensor **values, gids_tensor **inverse, gids_tensor **counts,
                          const gids_tensor *a);
    gids_status (*scatter_)(gids_tensor *self, int dim, const gids_tensor *index,
                            const gids_tensor *src);
    gids_status (*scatter_scalar_)(gids_tensor *self, int dim, const gids_tensor *index,
                                   gids_scalar value);

    /* ---- ABI 5: sorting and prefix scans along a dim ---- */
    /* gids_sort, and gids_argsort with values NULL (every sort is stable, so no flag). */
    gids_status (*sort)(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int dim,
                        bool descending);
    /* gids_topk (the k results always come sorted). */
    gids_status (*topk)(gids_tensor **values, gids_tensor **indices, const gids_tensor *a,
                        int64_t k, int dim, bool largest);
    /* gids_cumsum (prod false) and gids_cumprod (prod true). */
    gids_status (*scan)(gids_tensor **out, const gids_tensor *a, int dim, bool prod);

    /* ---- ABI 6: streams and events ----
     * Each thread has a current stream per device, at first NULL: the legacy default stream,
     * where every op ran before ABI 6.  Every op, copy and allocation of the thread on a device is
     * issued on that device's current stream, in issue order.  A (device, stream) pair names a
     * stream: stream NULL is the device's legacy default stream, otherwise it must be one made
     * for that device (EINVAL naming both).  Streams and events are not thread-safe objects: one
     * thread destroys a handle, after every thread has stopped using it (having it current is
     * not using it: see stream_destroy). */
    /* NEW in *out (free with stream_destroy): a stream on device.  priority 0 is the default;
     * lower numbers run first where both have work (CUDA's range, usually -5..0, EINVAL outside
     * it); flags 0 or GIDS_STREAM_NONBLOCKING. */
    gids_status (*stream_create)(gids_stream **out, int device, int priority, unsigned flags);
    /* STEAL s (NULL: nothing): waits for its work, returns its cached blocks to the driver and,
     * in every thread that has it current, makes the default stream current: the calling
     * thread's at once, another thread's at its next op or stream_get ordered after the destroy
     * (an op of that thread running meanwhile is a race). */
    gids_status (*stream_destroy)(gids_stream *s);
    /* BORROW s: the calling thread's current stream on device (NULL: the legacy default). */
    gids_status (*stream_set)(int device, gids_stream *s);
    /* BORROW in *out: the calling thread's current stream on device (NULL: the default). */
    gids_status (*stream_get)(int device, gids_stream **out);
    /* Waits until every op issued on the stream so far has finished. */
    gids_status (*stream_synchronize)(int device, gids_stream *s);
    /* *done: every op issued on the stream so far has finished. */
    gids_status (*stream_query)(int device, gids_stream *s, bool *done);
    /* Work issued on the stream from now on waits for e's last record (none: no wait).  e may
     * belong to another device. */
    gids_status (*stream_wait_event)(int device, gids_stream *s, gids_event *e);
    /* NEW in *out (free with event_destroy): an event of device; timing false makes recording
     * cheaper and event_elapsed an error. */
    gids_status (*event_create)(gids_event **out, int device, bool timing);
    /* Marks the point after the work issued so far on the stream (which must be e's device's). */
    gids_status (*event_record)(gids_event *e, int device, gids_stream *s);
    /* Waits for the work before e's last record (an event never recorded is complete). */
    gids_status (*event_synchronize)(gids_event *e);
    gids_status (*event_query)(gids_event *e, bool *done);
    /* *ms: milliseconds from start's record to end's; both recorded, complete, made with timing
     * and of one device. */
    gids_status (*event_elapsed)(const gids_event *start, const gids_event *end, double *ms);
    /* STEAL e (NULL: nothing). */
    gids_status (*event_destroy)(gids_event *e);
    /* t's memory is in use on (t's device, s) too (torch's Tensor.record_stream): when it is
     * freed, the allocator reuses it only after the work issued on s by then has finished.  The
     * stream it was allocated on needs no record. */
    gids_status (*record_stream)(const gids_tensor *t, gids_stream *s);

    /* ---- ABI 7: the bidirectional sequence LSTM and the jumping-knowledge sum (gids/rnn.h) ----
     */
    /* gids_bilstm */
    gids_status (*bilstm)(gids_tensor **out, gids_tensor **act, gids_tensor **c,
                          const gids_tensor *x, const gids_tensor *const w[8]);
    /* gids_bilstm_backward, and gids_bilstm_backward_consume with consume true (the gate
     * gradients written over act, whose version the runtime has bumped already). */
    gids_status (*bilstm_backward)(gids_tensor **g_x, gids_tensor *g_w[8], const bool want_w[8],
                                   const gids_tensor *g_out, const gids_tensor *x,
                                   const gids_tensor *const w[8], const gids_tensor *out,
                                   gids_tensor *act, const gids_tensor *c, bool consume);
    /* gids_jk_sum, gids_jk_sum_backward */
    gids_status (*jk_sum)(gids_tensor **out, const gids_tensor *x, const gids_tensor *alpha);
    gids_status (*jk_sum_backward)(gids_tensor **g_x, gids_tensor **g_alpha, const gids_tensor *g,
                                   const gids_tensor *x, const gids_tensor *alpha);
    /* ---- ABI 8: softmax's backward in one op ---- */
    /* gids_softmax_backward, its arguments checked by the runtime (dim normalised) */
    gids_status (*softmax_backward)(gids_tensor **out, const gids_tensor *g, const gids_tensor *y,
                                    int dim, bool log);
    /* ---- ABI 9: Adam over a list of parameters ---- */
    /* gids_adam_steps_, its arguments checked by the runtime (n >= 1, one device) */
    gids_status (*adam_steps_)(int n, gids_tensor *const *params, const gids_tensor *const *grads,
                               gids_tensor *const *exp_avgs, gids_tensor *const *exp_avg_sqs,
                               gids_tensor *const *max_exp_avg_sqs, const int64_t *steps,
                               const gids_adam_cfg *cfg);
    /* ---- ABI 10: index ranges without a wait, bounds carried through ops, the count of waits ----
     */
    /* gids_int_range of a tensor with at least one element, its dtype checked by the runtime */
    gids_status (*int_range)(const gids_tensor *t, int64_t *lo, int64_t *hi);
    /* *count: how many times this process's host has waited for the backend's devices so far
     * (reading values back, synchronising); graphids.gpu.waits() */
    gids_status (*waits)(int64_t *count);
    /* Bounds of the values of t (a contiguous i64 tensor with at least one element) that the
     * backend knows without reading them (a kept range of them or of values around them). */
    bool (*range_known)(const gids_tensor *t, int64_t *lo, int64_t *hi);
    /* Every value of t (as above) lies in [lo, hi], by how the runtime made t: bounds for its
     * later range checks (core/ranges.c). */
    void (*range_note)(const gids_tensor *t, int64_t lo, int64_t hi);
    /* ---- ABI 11: GEMM algorithms chosen by timing (gids/gemm_tuning.h) ---- */
    /* gids_gemm_tuned_list, its arguments checked by the runtime */
    gids_status (*gemm_tuned)(gids_gemm_tuned *out, int cap, int *n);
    /* ---- ABI 12: the gradients' inf/NaN count (gids/optim.h) ---- */
    /* gids_count_nonfinite, its arguments checked by the runtime (n >= 1, one device); NULL:
     * the runtime composes it from unary, reduce and binary */
    gids_status (*count_nonfinite)(gids_tensor **out, int n, const gids_tensor *const *ts);
} gids_backend;

/* The plugin's entry point (exported by graphids_cuda.so under this name). */
typedef gids_status (*gids_plugin_init_fn)(void);
#define GIDS_CUDA_PLUGIN_INIT "gids_cuda_plugin_init"

/* BORROW: the registered backend for t, or NULL. */
const gids_backend *gids_backend_get(gids_device_type t);
void gids_backend_register(gids_device_type t, const gids_backend *b);
/* Loads the CUDA plugin once; later calls return the first outcome.  EDEVICE with the reason
 * (plugin not found, dlopen error, no driver or no device) on failure. */
gids_status gids_backend_load(void);
/* BORROW: where the plugin was loaded from, or the reason it was not ("" before a load). */
const char *gids_backend_status(void);

/* EDEVICE unless dev exists: the CPU is device 0; a CUDA index loads the plugin and must be
 * below its device count.  op names the caller in the message (NULL: EINVAL). */
gids_status gids_device_check(const char *op, gids_device dev);

/* NEW: t copied to dev (t itself, retained, when already there). */
gids_status gids_to_device(gids_tensor **out, const gids_tensor *t, gids_device dev);

#ifdef __cplusplus
}
#endif
#endif
