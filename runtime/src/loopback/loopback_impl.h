/* loopback_impl.h -- internal: shared by the loopback plugin's files (runtime/src/loopback/).
 *
 * graphids_loopback.so stands in for graphids_cuda.so on a machine without a GPU: loaded with
 * GIDS_CUDA_PLUGIN=.../graphids_loopback.so it registers an allocator for GIDS_CUDA (host
 * memory) and a gids_backend whose entries run the runtime's public CPU ops on CPU aliases of
 * their device tensors.  Every device path of the runtime, the binding and the stdlib then runs
 * as on a GPU (tensors say "cuda:0", mixing them with CPU tensors is an error, an entry the CUDA
 * plugin lacks is EUNSUPPORTED), with the CPU's numbers.
 *
 * Like the CUDA plugin it resolves gids_* from the process, so it never links libgraphids.
 */
#ifndef GIDS_LOOPBACK_IMPL_H
#define GIDS_LOOPBACK_IMPL_H

#include <stdint.h>

#include "gids/backend.h"
#include "gids/memory.h"
#include "gids/ops.h"
#include "gids/status.h"
#include "gids/tensor.h"

#include "../backend_common.h"

#define LB_DEVICE ((gids_device){GIDS_CUDA, 0})
/* Most tensors one backend entry takes (gat_attention_backward: 9). */
#define LB_MAX_ARGS 16

/* ---- allocator (allocator.c) ----
 * A device block's address, as the runtime sees it (storage->data), has bit 62 set: not a
 * canonical x86-64 address, so host code that reads or writes device memory directly (which
 * would fault or read garbage on a GPU) faults here too instead of working by accident.  The
 * plugin itself reaches the bytes through lb_host.  GIDS_LOOPBACK_TAG=0 turns this off. */
#define LB_TAG ((uintptr_t)1 << 62)
extern gids_allocator lb_allocator;
extern bool lb_tagged; /* set once by lb_alloc_init */
/* The host address behind device address p (p itself when tagging is off). */
static inline void *lb_host(const void *p) {
    return (void *)((uintptr_t)p ^ (lb_tagged ? LB_TAG : 0));
}
/* The host address of t's element 0, t on the loopback device or on the CPU. */
static inline void *lb_data(const gids_tensor *t) {
    void *p = gids_tensor_data(t);
    return t->storage->device.type == GIDS_CUDA ? lb_host(p) : p;
}
typedef struct lb_alloc_stats {
    int64_t allocated, reserved, peak;
} lb_alloc_stats;
void lb_alloc_stats_get(lb_alloc_stats *out);
/* Frees every cached block (every stream's) and brings the peak down to what is allocated now. */
void lb_alloc_reset(void);
/* Frees the cached blocks of stream (an id, stream.c); its live blocks go to the default
 * stream's pool when freed. */
void lb_alloc_drop_stream(uint64_t stream);
/* Whether ptr (a device address) is a live block of this allocator. */
bool lb_alloc_owns(const void *ptr);
/* Reads GIDS_LOOPBACK_MEMORY_MIB (the device's memory, default a quarter of the host's RAM),
 * GIDS_LOOPBACK_POISON and GIDS_LOOPBACK_TAG. */
gids_status lb_alloc_init(void);
/* The device's memory, and what of it is neither allocated nor cached. */
int64_t lb_total_bytes(void);
int64_t lb_free_bytes(void);

/* ---- device entries (device.c) ---- */
/* device is 0, the loopback's one device (EDEVICE naming op otherwise). */
gids_status lb_check_device(const char *op, int device);
int lb_device_count(void);
gids_status lb_info(char *buf, size_t n);
gids_status lb_synchronize(int device);
gids_status lb_memory(int device, gids_gpu_memory *out);
gids_status lb_reset(int device);
gids_status lb_gemm_tuned(gids_gemm_tuned *out, int cap, int *n);

/* ---- waits and kept index ranges (waits.c) ---- */
/* Counts one wait of the host for the device (a read back, a synchronisation). */
void lb_waited(void);
gids_status lb_waits(int64_t *count);
gids_status lb_int_range(const gids_tensor *t, int64_t *lo, int64_t *hi);
/* Keeps dst's range after a whole copy from the host into it (an i64 contiguous device tensor;
 * anything else is ignored), as the CUDA plugin's host-to-device copy does. */
void lb_range_uploaded(const gids_tensor *dst);
/* Forgets the kept ranges (gpu.reset()). */
void lb_ranges_drop(void);
/* The CUDA plugin's range check against [0, size) of the n index values at element offset of t
 * before op reads them: no wait when kept bounds around them fit or their range is kept, else a
 * wait and their range kept.  ESTATE when bounds that fit (a GPU would check nothing) do not
 * hold the values. */
gids_status lb_index_seen(const char *op, const gids_tensor *t, int64_t offset, int64_t n,
                          int64_t size);
/* The same for both rows of a [2, E] edge_index (the fused attention's check). */
gids_status lb_edges_seen(const char *op, const gids_tensor *edge_index, int64_t num_nodes);
/* The size of t's dim (negative from the end; a 0-d tensor's is 1), -1 when there is none. */
int64_t lb_dim_size(const gids_tensor *t, int dim);
/* gids_backend's range_known and range_note, from the kept ranges. */
bool lb_range_known(const gids_tensor *t, int64_t *lo, int64_t *hi);
void lb_range_note(const gids_tensor *t, int64_t lo, int64_t hi);
/* The CUDA plugin's zero-divisor check of an integer fmod, remainder or floor_divide with
 * result out: a wait unless the divisor is a number known to be nonzero. */
void lb_division_seen(gids_binop op, const gids_tensor *out, bool divisor_nonzero);

/* ---- streams and events (stream.c): gids_backend's ABI 6 entries ----
 * A loopback stream is an in-order queue whose work runs at once (every op has finished when it
 * returns): synchronize returns, query says done, wait_event has nothing to wait for.  An event
 * records the host's monotonic clock; elapsed time is the difference.  What streams change here
 * is the allocator's pool (allocator.c) and the bookkeeping the Lua API shows. */
struct gids_stream {
    int device;
    int priority;
    unsigned flags;
    uint64_t id; /* never reused; 0 is the default stream */
};
struct gids_event {
    int device;
    bool timing, recorded;
    double ms; /* the host's monotonic clock at the last record */
};
/* The id of the calling thread's current stream (0: the default stream). */
uint64_t lb_current_stream_id(void);
/* As the CUDA plugin's gc_queued_is_seen_everywhere: the current stream is the default one and
 * no nonblocking stream exists (the CUDA plugin leaves an upload queued only then). */
bool lb_queued_is_seen_everywhere(void);
gids_status lb_stream_create(gids_stream **out, int device, int priority, unsigned flags);
gids_status lb_stream_destroy(gids_stream *s);
gids_status lb_stream_set(int device, gids_stream *s);
gids_status lb_stream_get(int device, gids_stream **out);
gids_status lb_stream_synchronize(int device, gids_stream *s);
gids_status lb_stream_query(int device, gids_stream *s, bool *done);
gids_status lb_stream_wait_event(int device, gids_stream *s, gids_event *e);
gids_status lb_event_create(gids_event **out, int device, bool timing);
gids_status lb_event_record(gids_event *e, int device, gids_stream *s);
gids_status lb_event_synchronize(gids_event *e);
gids_status lb_event_query(gids_event *e, bool *done);
gids_status lb_event_elapsed(const gids_event *start, const gids_event *end, double *ms);
gids_status lb_event_destroy(gids_event *e);
gids_status lb_record_stream(const gids_tensor *t, gids_stream *s);

/* ---- aliases (alias.c) ----
 * The CPU view of a call's tensors: device tensors become CPU tensors over the same bytes
 * (wrapped storage whose deleter releases the device storage), CPU tensors pass through
 * retained, NULL stays NULL.  Tensors sharing a device storage share one wrapped storage, so
 * the CPU ops' aliasing checks (scatter_add_ into its own source, copy_ of overlapping views)
 * see what they would see on the CPU.  lb_finish releases the aliases, carries the in-place
 * writes' version bumps over to the device storages (autograd compares them) and moves each
 * output onto the device. */
typedef struct lb_args {
    int n, nwrap;
    gids_tensor *cpu[LB_MAX_ARGS];
    gids_storage *wrap[LB_MAX_ARGS]; /* one reference each */
    gids_storage *dev[LB_MAX_ARGS];  /* the device storage wrap[k] stands for (borrowed) */
} lb_args;

/* NEW aliases of ts[0..n) in a->cpu (released by lb_finish, also on failure). */
gids_status lb_open(lb_args *a, const char *op, int n, const gids_tensor *const *ts);
/* Ends a call whose CPU op returned st: releases the aliases; when st is GIDS_OK, moves every
 * non-NULL *outs[k] (outs[k] may be NULL) onto the device.  On a failed move every output is
 * released and set to NULL.  Returns st or the move's failure. */
gids_status lb_finish(lb_args *a, gids_status st, int nout, gids_tensor **const *outs);
/* dst <- src where either may be on the loopback device: one memcpy when both are contiguous
 * of one dtype and shape, else the CPU's gids_copy_ on aliases (strides, broadcast, dtypes). */
gids_status lb_copy_host(gids_tensor *dst, const gids_tensor *src);

#define LB_COUNT_(T, ...) ((int)(sizeof((T[]){__VA_ARGS__}) / sizeof(T)))
/* Opens aliases of the device arguments into x (x.cpu[k] is the k-th). */
#define LB_IN(x, op, ...)                                                                          \
    GIDS_TRY(lb_open(&(x), (op), LB_COUNT_(const gids_tensor *, __VA_ARGS__),                      \
                     (const gids_tensor *const[]){__VA_ARGS__}))
/* lb_finish(&x, st, <the output slots>). */
#define LB_DONE(x, st, ...)                                                                        \
    lb_finish(&(x), (st), LB_COUNT_(gids_tensor **, __VA_ARGS__),                                  \
              (gids_tensor * *const[]){__VA_ARGS__})
#define LB_DONE_INPLACE(x, st) lb_finish(&(x), (st), 0, NULL)

/* ---- f16 / bf16, which the CPU cannot hold (half.c) ---- */
/* dst <- src where either is half: through f32, rounding to nearest even. */
gids_status lb_copy_half(gids_tensor *dst, const gids_tensor *src);
gids_status lb_fill_half(gids_tensor *t, gids_scalar value);
/* Half operands of ops that only move elements, which the CUDA plugin takes for any dtype (by
 * element size) and the CPU ops refuse: NEW in *out, index_select / gather of a along dim by the
 * index aux, masked_select of a by the mask aux, where(aux, a, b) (b NULL but for where); and
 * scatter_ of src into self in place. */
typedef enum lb_move_op {
    LB_MOVE_INDEX_SELECT,
    LB_MOVE_GATHER,
    LB_MOVE_MASKED_SELECT,
    LB_MOVE_WHERE
} lb_move_op;
gids_status lb_half_move(lb_move_op op, gids_tensor **out, const gids_tensor *a,
                         const gids_tensor *b, const gids_tensor *aux, int dim);
gids_status lb_half_scatter_(gids_tensor *self, int dim, const gids_tensor *index,
                             const gids_tensor *src);
/* NEW in *out: op ("mm", "addmm" or "matmul"; bias NULL but for addmm) of half operands, as the
 * CPU's f32 product of their widened values rounded to their dtype. */
gids_status lb_product_half(const char *op, gids_tensor **out, const gids_tensor *bias,
                            const gids_tensor *a, const gids_tensor *b, double beta, double alpha);

/* ---- what the CUDA plugin refuses in the entries it has (refusals.c) ----
 * Each returns GIDS_OK, or the CUDA plugin's EUNSUPPORTED (or, for binary and unary ops, its
 * EDTYPE) with its message, for the arguments of the entry it is named after; GIDS_OK always once
 * lb_refusals_init(true) lifted them (GIDS_LOOPBACK_ALL=1). */
/* The rules and their messages: backend_common.h (gids_dtype_rule), the CUDA plugin's own. */
void lb_refusals_init(bool lifted);
/* op's refusal of dtype dt under rule. */
gids_status lb_refuse(gids_dtype_rule rule, const char *op, gids_dtype dt);
/* lb_refuse of a's dtype; GIDS_OK for a NULL a (the CPU op reports it). */
gids_status lb_refuse_one(gids_dtype_rule rule, const char *op, const gids_tensor *a);
gids_status lb_refuse_binary(gids_binop op, const gids_tensor *a, const gids_tensor *b);
gids_status lb_refuse_binary_scalar(gids_binop op, const gids_tensor *a, gids_scalar s);
gids_status lb_refuse_unary(gids_unop op, const gids_tensor *a);
gids_status lb_refuse_activation(const char *op, const gids_tensor *a);
gids_status lb_refuse_clamp(const gids_tensor *a, const gids_scalar *min, const gids_scalar *max);
gids_status lb_refuse_reduce(gids_redop op, const gids_tensor *a);
gids_status lb_refuse_extreme_dim(bool is_max, const gids_tensor *a);
gids_status lb_refuse_softmax(const char *op, const gids_tensor *t);
gids_status lb_refuse_mm(const char *op, const gids_tensor *a, const gids_tensor *b);
gids_status lb_refuse_matmul(const gids_tensor *a, const gids_tensor *b);
gids_status lb_refuse_add(const char *op, const gids_tensor *self, const gids_tensor *index,
                          const gids_tensor *src);
/* op: a gids_segop, or -1 for segment_softmax. */
gids_status lb_refuse_segment(int op, const gids_tensor *src, const gids_tensor *index,
                              int64_t num_segments);
gids_status lb_refuse_bernoulli(const gids_tensor *t, double p);

/* ---- compute entries (entries_*.c) ---- */
gids_status lb_copy(gids_tensor *dst, const gids_tensor *src);
gids_status lb_fill(gids_tensor *t, gids_scalar value);
gids_status lb_binary(gids_tensor **out, gids_binop op, const gids_tensor *a, const gids_tensor *b);
gids_status lb_binary_scalar(gids_tensor **out, gids_binop op, const gids_tensor *a, gids_scalar s,
                             bool reversed);
gids_status lb_unary(gids_tensor **out, gids_unop op, const gids_tensor *a);
gids_status lb_reduce(gids_tensor **out, gids_redop op, const gids_tensor *a, int ndims,
                      const int *dims, bool keepdim);
gids_status lb_softmax(gids_tensor **out, const gids_tensor *a, int dim, bool log);
gids_status lb_softmax_backward(gids_tensor **out, const gids_tensor *g, const gids_tensor *y,
                                int dim, bool log);
gids_status lb_mm(gids_tensor **out, const gids_tensor *a, const gids_tensor *b);
gids_status lb_addmm(gids_tensor **out, const gids_tensor *bias, const gids_tensor *a,
                     const gids_tensor *b, double beta, double alpha);
gids_status lb_leaky_relu(gids_tensor **out, const gids_tensor *a, double negative_slope);
gids_status lb_elu(gids_tensor **out, const gids_tensor *a, double alpha);
gids_status lb_softplus(gids_tensor **out, const gids_tensor *a, double beta, double threshold);
gids_status lb_clamp(gids_tensor **out, const gids_tensor *a, const gids_scalar *min,
                     const gids_scalar *max);
gids_status lb_where(gids_tensor **out, const gids_tensor *cond, const gids_tensor *a,
                     const gids_tensor *b);
gids_status lb_index_select(gids_tensor **out, const gids_tensor *a, int dim,
                            const gids_tensor *index);
gids_status lb_gather(gids_tensor **out, const gids_tensor *a, int dim, const gids_tensor *index);
gids_status lb_scatter_add_(gids_tensor *self, int dim, const gids_tensor *index,
                            const gids_tensor *src);
gids_status lb_index_add_(gids_tensor *self, int dim, const gids_tensor *index,
                          const gids_tensor *src, double alpha);
gids_status lb_segment_reduce(gids_tensor **out, gids_tensor **arg, gids_segop op,
                              const gids_tensor *src, const gids_tensor *index,
                              int64_t num_segments);
gids_status lb_segment_softmax(gids_tensor **out, const gids_tensor *src, const gids_tensor *index,
                               int64_t num_segments);
gids_status lb_adam_step_(gids_tensor *param, const gids_tensor *grad, gids_tensor *exp_avg,
                          gids_tensor *exp_avg_sq, gids_tensor *max_exp_avg_sq,
                          const gids_adam_cfg *cfg);
gids_status lb_adam_steps_(int n, gids_tensor *const *params, const gids_tensor *const *grads,
                           gids_tensor *const *exp_avgs, gids_tensor *const *exp_avg_sqs,
                           gids_tensor *const *max_exp_avg_sqs, const int64_t *steps,
                           const gids_adam_cfg *cfg);
gids_status lb_sgd_step_(gids_tensor *param, const gids_tensor *grad, gids_tensor *momentum_buf,
                         const gids_sgd_cfg *cfg);
gids_status lb_count_nonfinite(gids_tensor **out, int n, const gids_tensor *const *ts);
gids_status lb_matmul(gids_tensor **out, const gids_tensor *a, const gids_tensor *b);
gids_status lb_gat_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *x,
                             const gids_tensor *a_src, const gids_tensor *a_dst,
                             const gids_tensor *a_edge, const gids_tensor *edge_index,
                             int64_t num_nodes, double negative_slope,
                             const gids_tensor *dropout_scale);
gids_status lb_gat_attention_backward(gids_tensor **g_x, gids_tensor **g_a_src,
                                      gids_tensor **g_a_dst, gids_tensor **g_a_edge,
                                      const gids_tensor *g_out, const gids_tensor *g_alpha,
                                      const gids_tensor *x, const gids_tensor *a_src,
                                      const gids_tensor *a_dst, const gids_tensor *a_edge,
                                      const gids_tensor *edge_index, int64_t num_nodes,
                                      double negative_slope, const gids_tensor *dropout_scale,
                                      const gids_tensor *alpha);
gids_status lb_gatv2_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *xl,
                               const gids_tensor *xr, const gids_tensor *edge_proj,
                               const gids_tensor *att, const gids_tensor *edge_index,
                               int64_t num_nodes, double negative_slope,
                               const gids_tensor *dropout_scale);
gids_status lb_gatv2_attention_backward(gids_tensor **g_xl, gids_tensor **g_xr,
                                        gids_tensor **g_edge_proj, gids_tensor **g_att,
                                        const gids_tensor *g_out, const gids_tensor *g_alpha,
                                        const gids_tensor *xl, const gids_tensor *xr,
                                        const gids_tensor *edge_proj, const gids_tensor *att,
                                        const gids_tensor *edge_index, int64_t num_nodes,
                                        double negative_slope, const gids_tensor *dropout_scale,
                                        const gids_tensor *alpha);
gids_status lb_lstm_cell(gids_tensor **h, gids_tensor **c, gids_tensor **act,
                         const gids_tensor *gates, const gids_tensor *c_prev);
gids_status lb_lstm_cell_backward(gids_tensor **g_gates, gids_tensor **g_c_prev,
                                  const gids_tensor *g_h, const gids_tensor *g_c,
                                  const gids_tensor *act, const gids_tensor *c_prev,
                                  const gids_tensor *c);
gids_status lb_bilstm(gids_tensor **out, gids_tensor **act, gids_tensor **c, const gids_tensor *x,
                      const gids_tensor *const w[8]);
gids_status lb_bilstm_backward(gids_tensor **g_x, gids_tensor *g_w[8], const bool want_w[8],
                               const gids_tensor *g_out, const gids_tensor *x,
                               const gids_tensor *const w[8], const gids_tensor *out,
                               gids_tensor *act, const gids_tensor *c, bool consume);
gids_status lb_jk_sum(gids_tensor **out, const gids_tensor *x, const gids_tensor *alpha);
gids_status lb_jk_sum_backward(gids_tensor **g_x, gids_tensor **g_alpha, const gids_tensor *g,
                               const gids_tensor *x, const gids_tensor *alpha);
gids_status lb_extreme_dim(gids_tensor **values, gids_tensor **indices, const gids_tensor *a,
                           int dim, bool keepdim, bool is_max);
gids_status lb_bernoulli_(gids_tensor *t, uint64_t seed, uint64_t offset, double p);
gids_status lb_nonzero(gids_tensor **out, const gids_tensor *a);
gids_status lb_masked_select(gids_tensor **out, const gids_tensor *a, const gids_tensor *mask);
gids_status lb_unique(gids_tensor **values, gids_tensor **inverse, gids_tensor **counts,
                      const gids_tensor *a);
gids_status lb_scatter_(gids_tensor *self, int dim, const gids_tensor *index,
                        const gids_tensor *src);
gids_status lb_scatter_scalar_(gids_tensor *self, int dim, const gids_tensor *index,
                               gids_scalar value);
gids_status lb_sort(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int dim,
                    bool descending);
gids_status lb_topk(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int64_t k,
                    int dim, bool largest);
gids_status lb_scan(gids_tensor **out, const gids_tensor *a, int dim, bool prod);

#endif
