/* gids/windows.h -- window graphs from CAN frames, the id vocabulary and the feature scaler.
 *
 *   gids_can_vocab v;
 *   GIDS_TRY(gids_can_vocab_from_frames(&v, train_files, n_train, 0));  // sorted, 1.., 0 = UNK
 *   gids_window_opts o = gids_window_opts_default();                  // W = S = 100
 *   int64_t codes[2] = {0, 1};                                        // attack type per file
 *   gids_graph_set set;
 *   GIDS_TRY(gids_build_windows(&set, train_files, codes, 2, &v, &o));
 *   ... set.x [N,35], set.edge_attr [E,11], ...
 *   gids_graph_set_release(&set);
 *   gids_can_vocab_free(&v);
 *
 * One graph per window of W consecutive frames of one file (start rows 0, S, 2S, ...; only full
 * windows), graphs in file order then window order.  Nodes are the distinct vocabulary indices
 * of the window in order of first appearance; edges join consecutive frames.  The exact feature
 * definitions (the reference's, 35 node and 11 edge columns) are in docs/windows.md.
 */
#ifndef GIDS_WINDOWS_H
#define GIDS_WINDOWS_H

#include <stdint.h>

#include "gids/can.h"
#include "gids/graphset.h"
#include "gids/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GIDS_WIN_NODE_FEATURES 35
#define GIDS_WIN_EDGE_FEATURES 11
/* Longest canonical id text ("18FEDF00") and its NUL. */
#define GIDS_CAN_ID_TEXT_SIZE 9

/* ---- vocabulary ----
 * Entry k (0-based) has vocabulary index k + 1; index 0 is UNK.  An entry is an id with its
 * GIDS_CAN_EXTENDED flag: 0x0C1 and the extended 0x000000C1 are different ids.  Entries built
 * from frames are sorted by canonical text (byte order), as the reference sorts its id strings. */
typedef struct gids_can_vocab {
    int64_t n;        /* entries */
    uint32_t *id;     /* [n] in index order */
    uint8_t *ext;     /* [n] 1 for a 29-bit id */
    int32_t *std_map; /* [2048] index of each 11-bit id, 0 when absent */
    uint64_t *keys;   /* [n_ext] extended ids in ascending order, for binary search */
    int32_t *key_idx; /* [n_ext] their indices */
    int64_t n_ext;
} gids_can_vocab;

/* Canonical text: 3 uppercase hex digits for an 11-bit id, 8 for an extended one (nothing for a
 * NULL out). */
void gids_can_id_text(char out[GIDS_CAN_ID_TEXT_SIZE], uint32_t id, int extended);
/* Parses canonical text (3 or 8 hex digits, either case); EINVAL naming the text otherwise,
 * and for a 3-digit id above 7FF or an 8-digit one above 1FFFFFFF. */
gids_status gids_can_id_parse(const char *text, uint32_t *id, int *extended);

/* NEW (*v; release with gids_can_vocab_free): the sorted distinct ids of the files' frames, or
 * with benign_only of their frames whose attack label is 0 (the ids of normal traffic: injected
 * ids, such as a fuzzing attack's random ones, then stay unknown). */
gids_status gids_can_vocab_from_frames(gids_can_vocab *v, const gids_can_frames *const *files,
                                       int64_t nfiles, int benign_only);
/* NEW: entries given in index order (entry k gets index k + 1).  A repeated id is EINVAL naming
 * both positions.  BORROW: id, ext. */
gids_status gids_can_vocab_from_ids(gids_can_vocab *v, const uint32_t *id, const uint8_t *ext,
                                    int64_t n);
void gids_can_vocab_free(gids_can_vocab *v); /* NULL is ignored */
/* Vocabulary index of an id (0 = UNK when absent, and for a NULL or freed v). */
int64_t gids_can_vocab_lookup(const gids_can_vocab *v, uint32_t id, int extended);

/* ---- window graphs ---- */
typedef struct gids_window_opts {
    int64_t window; /* W >= 1 frames per window */
    int64_t stride; /* S >= 1 frames between window starts */
    /* 0 (default): the reference's edges -- frames t -> t+1 for t = 1 .. W-2 carrying the
     * differences of frames t-1 and t (W-2 edges; see docs/windows.md).  1: frames t -> t+1
     * for t = 0 .. W-2 carrying their own differences (W-1 edges). */
    int aligned_edges;
    /* 0 (default, the reference): one node per vocabulary index, so every id absent from the
     * vocabulary folds into one UNK node.  1: one node per distinct CAN id (11-bit and 29-bit ids
     * kept apart); an absent id still gets node_id 0 (UNK) but keeps its own node, so a capture
     * from an unseen vehicle keeps its graph structure instead of collapsing to one node. */
    int node_by_id;
} gids_window_opts;

gids_window_opts gids_window_opts_default(void);

/* NEW (*out, a complete graph set with every field): the window graphs of the files, in file
 * order then window order; edgeless windows are left out (every window when W <= 2, or W <= 1
 * with aligned_edges).  attack_type[f] is the code of file f (>= 0), given to its windows whose
 * y is 1 (0 for the others); NULL means 0 for every file.  vocab maps ids to node_id (absent ids
 * get 0, UNK, and share one node unless opts->node_by_id).  BORROW: files, attack_type, vocab.
 * Parallel over windows (OpenMP); the result does not depend on the thread count.  On failure *out
 * is left zeroed. */
gids_status gids_build_windows(gids_graph_set *out, const gids_can_frames *const *files,
                               const int64_t *attack_type, int64_t nfiles,
                               const gids_can_vocab *vocab, const gids_window_opts *opts);

/* ---- scaler ----
 * NEW (*mean, *std: f32 [F]): per-column mean and unbiased standard deviation (as torch's
 * x.std(0)) of the rows of the graphs graphs[0..n-1] of a [R, F] f32 table whose graph g owns
 * rows ptr[g] .. ptr[g+1]-1 (ptr: i64 [G+1]).  Accumulated in f64 in fixed chunks, so the
 * result does not depend on the thread count; std is floored at min_std (the reference: 1e-6);
 * a column with fewer than 2 rows gets std = min_std.  A graph index out of range is EINDEX. */
gids_status gids_scaler_fit(gids_tensor **mean, gids_tensor **std, const gids_tensor *table,
                            const gids_tensor *ptr, const int64_t *graphs, int64_t n,
                            double min_std);

/* In place: each row of a contiguous [R, F] f32 table becomes (row - mean) / std, computed in
 * f32 as PyTorch's (t - mean) / std; mean, std: f32 [F].  Parallel over rows. */
gids_status gids_scaler_apply_(gids_tensor *table, const gids_tensor *mean, const gids_tensor *std);

#ifdef __cplusplus
}
#endif

#endif
