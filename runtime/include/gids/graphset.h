/* gids/graphset.h -- many small graphs stored back to back, and batches collated from them.
 *
 *   gids_graph_batch b;
 *   int64_t pick[3] = {7, 2, 11};
 *   GIDS_TRY(gids_graph_batch_collate(&b, &set, pick, 3));   // a disjoint union of 3 graphs
 *   ... b.x, b.edge_index (global node numbers), b.batch ...
 *   gids_graph_batch_release(&b);
 *
 * A graph set is the layout of PyTorch Geometric's InMemoryDataset: every graph's nodes and
 * edges concatenated, with offsets (`node_ptr`, `edge_ptr`) saying where each graph starts.
 * The window-graph builder produces sets, the dataset cache stores and memory-maps them, and
 * batching reads them.  All index data is 0-based (DESIGN §2).
 *
 * Ownership: every tensor field of a set or batch is owned by it (NEW references); a field that
 * a set does not have is NULL.  *_release releases every field and zeroes the struct.
 */
#ifndef GIDS_GRAPHSET_H
#define GIDS_GRAPHSET_H

#include <stdint.h>

#include "gids/status.h"
#include "gids/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gids_graph_set {
    int64_t num_graphs;
    gids_tensor *x;            /* [N, F] f32 node features */
    gids_tensor *edge_index;   /* [2, E] i64, node numbers local to each graph */
    gids_tensor *edge_attr;    /* [E, D] f32, or NULL */
    gids_tensor *node_id;      /* [N] i64 vocabulary index (0 = UNK), or NULL */
    gids_tensor *node_ptr;     /* [G + 1] i64: graph g owns nodes node_ptr[g] .. node_ptr[g+1]-1 */
    gids_tensor *edge_ptr;     /* [G + 1] i64: likewise for edges */
    gids_tensor *y;            /* [G] i64 window label (0 normal, 1 attack), or NULL */
    gids_tensor *attack_type;  /* [G] i64 attack-type code, or NULL */
    gids_tensor *window_start; /* [G] i64 row of the window's first frame in its file, or NULL */
    gids_tensor *source_file;  /* [G] i64 index of the capture file, or NULL */
} gids_graph_set;

typedef struct gids_graph_batch {
    int64_t num_graphs;
    gids_tensor *x;            /* [n, F] */
    gids_tensor *edge_index;   /* [2, e] i64, node numbers of the batch (offset by ptr) */
    gids_tensor *edge_attr;    /* [e, D] or NULL */
    gids_tensor *node_id;      /* [n] or NULL */
    gids_tensor *batch;        /* [n] i64: the graph (0 .. num_graphs-1) of each node */
    gids_tensor *ptr;          /* [B + 1] i64 node offsets of the graphs in the batch */
    gids_tensor *edge_ptr;     /* [B + 1] i64 edge offsets */
    gids_tensor *y;            /* [B] or NULL */
    gids_tensor *attack_type;  /* [B] or NULL */
    gids_tensor *window_start; /* [B] or NULL */
    gids_tensor *source_file;  /* [B] or NULL */
} gids_graph_batch;

/* Checks a set in full: dtypes and shapes of every field (x and edge_attr f32 or f64, the rest
 * i64, all contiguous CPU tensors), ptrs starting at 0, non-decreasing and ending at N / E, and
 * each edge's endpoints within its own graph.  The message names the field, the graph and the
 * value.  Graphs without nodes or without edges are valid. */
gids_status gids_graph_set_validate(const gids_graph_set *s);
void gids_graph_set_release(gids_graph_set *s);

/* NEW: the disjoint union of graphs idx[0..n-1] of s (in that order, repeats allowed), n >= 1.
 * Edge endpoints are offset to batch numbering.  Checks the layout of s and the offsets and
 * edges of each picked graph (not the whole set).  An index out of range is EINDEX naming it.
 * On failure *out is untouched.  Fields the set lacks are NULL in the batch. */
gids_status gids_graph_batch_collate(gids_graph_batch *out, const gids_graph_set *s,
                                     const int64_t *idx, int64_t n);
void gids_graph_batch_release(gids_graph_batch *b);

#ifdef __cplusplus
}
#endif

#endif
