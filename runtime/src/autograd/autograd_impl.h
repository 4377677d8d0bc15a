/* autograd_impl.h -- internal: the structures behind gids/autograd.h.
 *
 * A tensor that takes part in differentiation carries a gids_ag_meta (tensor->autograd).  A
 * leaf has requires_grad and, once backward reached it, a grad; a non-leaf has the node that
 * produced it (grad_fn) and its output number.  Nodes point to the nodes of their inputs
 * (edges), so the graph is reachable from any output and dies with the last output and the
 * last downstream node that refer to it.  Leaves are reached through an AccumulateGrad node,
 * created on first use and remembered (without a reference, to avoid a cycle) in the leaf's
 * meta.
 */
#ifndef GIDS_AUTOGRAD_IMPL_H
#define GIDS_AUTOGRAD_IMPL_H

#include "gids/autograd.h"

#define GIDS_NODE_MAX_SAVED 8

/* Gradient hooks (hooks.c): a list shared by its holder (a leaf's meta, or a node for its
 * outputs) and the handles, freed with the last of them. */
typedef struct gids_hook {
    uint64_t id;
    int32_t output_nr; /* the node output it watches (0 on a leaf) */
    gids_grad_hook_fn fn;
    void *ctx;
    void (*ctx_free)(void *ctx);
    struct gids_hook *next;
} gids_hook;

typedef struct gids_hook_list {
    int32_t refcount;
    gids_hook *first;
} gids_hook_list;

void gids_hook_list_release(gids_hook_list *l);
/* Runs l's hooks on output output_nr over *g (replaced by what they return; NULL stays NULL);
 * `where` names the node in errors. */
gids_status gids_ag_apply_hooks(const gids_hook_list *l, int32_t output_nr, gids_tensor **g,
                                const char *where);

typedef struct gids_ag_meta {
    bool requires_grad;
    bool counts_leaf; /* counted in storage->grad_leaves (a leaf switched on by requires_grad) */
    /* a view taken under no_grad of a tensor that required grad, or of such a view; a detach()
     * and its views are not one.  Written in place
     * with grad mode on it would change that tensor behind autograd's back, so in-place ops
     * refuse it while the storage still holds a leaf that requires grad, or when the base was a
     * non-leaf (whose requires_grad cannot be switched off) -- torch decides at the write too. */
    bool no_grad_view;
    bool no_grad_view_of_nonleaf;
    bool retains_grad; /* a non-leaf whose grad_fn keeps its gradient here (t:retain_grad()) */
    gids_tensor *grad;
    gids_node *grad_fn; /* owned reference; NULL for leaves */
    int32_t output_nr;
    gids_node *grad_acc;   /* the leaf's AccumulateGrad node, not owned */
    gids_hook_list *hooks; /* a leaf's gradient hooks (a non-leaf's are on its grad_fn) */
} gids_ag_meta;

typedef struct gids_edge {
    gids_node *node;  /* owned reference; NULL when the input needs no gradient */
    int32_t input_nr; /* which output of `node` this input is */
} gids_edge;

typedef struct gids_input_info {
    int32_t ndim;
    gids_dtype dtype;
    gids_device device; /* a gradient for the input must be on it */
    int64_t shape[GIDS_MAX_DIMS];
} gids_input_info;

/* A non-leaf output that keeps its gradient (gids_retain_grad): the engine adds the output's
 * complete gradient into meta->grad as dtype.  The meta holds the node, so the node outlives
 * it; the meta clears its entry when it dies. */
typedef struct gids_retained {
    struct gids_ag_meta *meta; /* not owned; NULL when none */
    gids_dtype dtype;
} gids_retained;

typedef struct gids_saved {
    gids_tensor *t; /* a plain handle on the saved storage (no autograd meta: no cycles) */
    uint64_t version;
} gids_saved;

struct gids_node {
    int32_t refcount;
    int32_t nin, nout;
    uint64_t seq; /* creation order: backward runs later nodes first */
    const char *name;
    gids_backward_fn fn;
    gids_edge *next;         /* [nin] */
    gids_input_info *inputs; /* [nin] */
    gids_saved saved[GIDS_NODE_MAX_SAVED];
    bool released;  /* saved tensors freed by a backward without retain_graph */
    bool consuming; /* set while fn runs in such a backward (gids_node_saved_scratch) */
    void *ctx;
    void (*ctx_free)(void *ctx);
    gids_tensor *leaf;       /* AccumulateGrad: the leaf (owned) */
    gids_retained *retained; /* [nout] or NULL: outputs that keep their gradient */
    gids_hook_list *hooks;   /* the outputs' gradient hooks, or NULL */
};

/* After a view op made out of base without recording it: marks out as a no_grad view when it
 * is one (gids_ag_meta.no_grad_view).  ENOMEM only when the mark cannot be made. */
gids_status gids_ag_note_unrecorded_view(gids_tensor *out, const gids_tensor *base);

/* The meta of t, created (zeroed) when missing; NULL only when out of memory. */
gids_ag_meta *gids_ag_meta_get(gids_tensor *t);
/* Ends m's gradient retention (its entry in its grad_fn). */
void gids_ag_unretain(gids_ag_meta *m);
/* Called by gids_tensor_release on the last reference. */
void gids_ag_meta_free(void *meta, gids_storage *s);

void gids_node_retain(gids_node *n);
/* The AccumulateGrad node of a leaf that requires grad (NEW reference). */
gids_status gids_node_grad_accumulator(gids_node **out, gids_tensor *leaf);

/* NEW: g (BORROW) made fit for input j of n: summed down to the input's shape (undoing
 * broadcasting) and converted to its dtype. */
gids_status gids_ag_input_grad(gids_tensor **out, const gids_node *n, int j, const gids_tensor *g);

/* Applies the anomaly check to a result: ESTATE naming `op` when t holds a NaN. */
gids_status gids_ag_check_nan(const char *op, const char *what, const gids_tensor *t);

#endif
