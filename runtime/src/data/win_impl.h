/* win_impl.h -- internals shared by windows.c (window list, output, threads) and
 * win_features.c (one window's nodes, edges and features). */
#ifndef GIDS_WIN_IMPL_H
#define GIDS_WIN_IMPL_H

#include <stdint.h>

#include "gids/status.h"
#include "gids/windows.h"

/* Per-node running sums of one window.  Byte moments are integer sums so that mean, variance,
 * skewness and kurtosis come out exact before the final division (win_features.c). */
typedef struct win_node {
    int64_t cnt;
    int64_t s1[8], s2[8], s3[8], s4[8];
    uint8_t mn[8], mx[8];
    int32_t changes[8]; /* consecutive messages of this node whose byte differs */
    int64_t first_half; /* messages in the first W/2 rows of the window */
    int64_t last;       /* row (in the window) of this node's latest message */
    double ent;         /* sum of per-message entropy */
    double iat_sum;     /* sum of gaps between this node's consecutive messages */
    double iat_sq;      /* sum of squared deviations of those gaps from their mean */
    int32_t in_deg, out_deg;
} win_node;

/* A row's node key: its vocabulary index (0 .. vocab n), or with node_by_id, vocab n + 1 + k for
 * the window's k-th distinct id absent from the vocabulary. */
typedef struct win_scratch {
    int32_t *loc;   /* [vocab n + 1 + W] local node of each key, -1 when absent */
    int32_t *nodes; /* [max_nodes] key of each local node */
    int32_t *nid;   /* [W] key of each row of the current window */
    uint64_t *unk;  /* [W] the window's distinct absent ids (id | extended << 32), by key */
    int64_t vocab_n1;
    int32_t *fl;   /* [W] local node of each row */
    win_node *acc; /* [max_nodes] */
    int32_t *pair; /* [max_nodes^2] edge multiplicity by (src, dst) */
    uint64_t *adj; /* [max_nodes * words] undirected adjacency bits */
    int64_t words; /* 64-bit words per adjacency row */
    int64_t max_nodes;
} win_scratch;

/* One window's input: its W rows. */
typedef struct win_frames {
    const double *ts;
    const uint8_t *data; /* [n * 8] */
    const uint8_t *attack;
    const uint32_t *id;
    const uint8_t *flags;
    const gids_can_vocab *vocab;
    int64_t n; /* W */
    int aligned_edges;
    int node_by_id;
    int64_t file_attack_type;
} win_frames;

/* Output base pointers (whole set). */
typedef struct win_out {
    float *x;
    int64_t *src, *dst; /* rows 0 and 1 of edge_index */
    float *edge_attr;
    int64_t *node_id, *y, *attack_type;
    const int64_t *node_ptr, *edge_ptr;
} win_out;

gids_status win_scratch_init(win_scratch *s, int64_t window, int64_t max_nodes, int64_t vocab_n1);
void win_scratch_free(win_scratch *s);
/* Distinct node keys of the window's rows; leaves the scratch clean. */
int64_t win_count_nodes(win_scratch *s, const win_frames *in);
/* Writes graph w: its nodes from row node0 of x/node_id, its edges from column edge0 of
 * edge_index / row edge0 of edge_attr, and y/attack_type[w].  Leaves the scratch clean. */
void win_build_one(win_scratch *s, const win_frames *in, const win_out *o, int64_t w, int64_t node0,
                   int64_t edge0);

#endif
