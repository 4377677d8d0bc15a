/* loopback_entries.h -- which gids_backend entries the loopback backend fills, and which of them
 * the real CUDA plugin has.  Included by the plugin (plugin.c) and by spec/c/test_loopback.c,
 * which checks this list against the CUDA plugin's table and finds it through
 * gids_loopback_entries (exported by graphids_loopback.so).
 *
 * THE LIST: one line per field of gids_backend after `name`, in the struct's order, with 1 where
 * the CUDA plugin's table (gc_backend in runtime/src/cuda/device.cu) has the entry and 0 where
 * it is NULL.  Whoever adds a CUDA entry (or a field to gids_backend) changes this line too: the
 * loopback device then shows exactly what a GPU run lacks (an entry marked 0 is NULL there
 * unless GIDS_LOOPBACK_ALL=1), and spec/c/test_loopback.c fails until the two agree.
 */
#ifndef GIDS_LOOPBACK_ENTRIES_H
#define GIDS_LOOPBACK_ENTRIES_H

#include <stdbool.h>
#include <stddef.h>

#define LB_ENTRIES(X)                                                                              \
    X(device_count, 1)                                                                             \
    X(info, 1)                                                                                     \
    X(synchronize, 1)                                                                              \
    X(memory, 1)                                                                                   \
    X(reset, 1)                                                                                    \
    X(copy, 1)                                                                                     \
    X(fill, 1)                                                                                     \
    X(binary, 1)                                                                                   \
    X(binary_scalar, 1)                                                                            \
    X(unary, 1)                                                                                    \
    X(reduce, 1)                                                                                   \
    X(softmax, 1)                                                                                  \
    X(mm, 1)                                                                                       \
    X(addmm, 1)                                                                                    \
    X(leaky_relu, 1)                                                                               \
    X(elu, 1)                                                                                      \
    X(softplus, 1)                                                                                 \
    X(clamp, 1)                                                                                    \
    X(where, 1)                                                                                    \
    X(index_select, 1)                                                                             \
    X(gather, 1)                                                                                   \
    X(scatter_add_, 1)                                                                             \
    X(index_add_, 1)                                                                               \
    X(segment_reduce, 1)                                                                           \
    X(segment_softmax, 1)                                                                          \
    X(adam_step_, 1)                                                                               \
    X(sgd_step_, 1)                                                                                \
    X(matmul, 1)                                                                                   \
    X(gat_attention, 1)                                                                            \
    X(gat_attention_backward, 1)                                                                   \
    X(gatv2_attention, 1)                                                                          \
    X(gatv2_attention_backward, 1)                                                                 \
    X(lstm_cell, 1)                                                                                \
    X(lstm_cell_backward, 1)                                                                       \
    X(extreme_dim, 1)                                                                              \
    X(bernoulli_, 1)                                                                               \
    X(nonzero, 1)                                                                                  \
    X(masked_select, 1)                                                                            \
    X(unique, 1)                                                                                   \
    X(scatter_, 1)                                                                                 \
    X(scatter_scalar_, 1)                                                                          \
    X(sort, 1)                                                                                     \
    X(topk, 1)                                                                                     \
    X(scan, 1)                                                                                     \
    X(stream_create, 1)                                                                            \
    X(stream_destroy, 1)                                                                           \
    X(stream_set, 1)                                                                               \
    X(stream_get, 1)                                                                               \
    X(stream_synchronize, 1)                                                                       \
    X(stream_query, 1)                                                                             \
    X(stream_wait_event, 1)                                                                        \
    X(event_create, 1)                                                                             \
    X(event_record, 1)                                                                             \
    X(event_synchronize, 1)                                                                        \
    X(event_query, 1)                                                                              \
    X(event_elapsed, 1)                                                                            \
    X(event_destroy, 1)                                                                            \
    X(record_stream, 1)                                                                            \
    X(bilstm, 1)                                                                                   \
    X(bilstm_backward, 1)                                                                          \
    X(jk_sum, 1)                                                                                   \
    X(jk_sum_backward, 1)                                                                          \
    X(softmax_backward, 1)                                                                         \
    X(adam_steps_, 1)                                                                              \
    X(int_range, 1)                                                                                \
    X(waits, 1)                                                                                    \
    X(range_known, 1)                                                                              \
    X(range_note, 1)                                                                               \
    X(gemm_tuned, 1)                                                                               \
    X(count_nonfinite, 1)

typedef struct lb_entry {
    const char *name;
    size_t offset; /* offsetof(gids_backend, name) */
    bool in_cuda;  /* the CUDA plugin has it */
    bool nullable; /* the runtime copes with NULL (reports EUNSUPPORTED): copy_ onwards */
    bool present;  /* filled in the registered backend (after the environment's choices) */
} lb_entry;

/* BORROW: the list above, *n entries; exported by graphids_loopback.so under this name. */
typedef const lb_entry *(*lb_entries_fn)(int *n);
#define LB_ENTRIES_SYMBOL "gids_loopback_entries"

/* What the bilstm entries saw of gids_tf32_products since the last call (bit 0 forward, bit 1
 * backward), cleared by the call; exported under this name. */
typedef unsigned (*lb_tf32_seen_fn)(void);
#define LB_TF32_SYMBOL "gids_loopback_tf32_seen"

#endif
