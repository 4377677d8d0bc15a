/* ag_index.c -- differentiable index_select, gather, scatter, scatter_add, index_add,
 * masked_fill, masked_select, sort and topk.
 *
 * Index and mask tensors are never differentiable: they are saved (version-checked) for the
 * backward pass but are not inputs of the node.  Each formula moves the gradient back along
 * the same index with the opposite op: what gathers scatter-adds (so duplicate indices sum),
 * what scatters gathers.  sort and topk differentiate their values only; their indices come
 * from the plain op.
 */
#include <string.h>

#include "formula_impl.h"
#include "gids/backend.h"

typedef struct {
    int dim;
    double alpha; /* index_add */
    int ndim;     /* masked_select: the broadcast shape of input and mask */
    int64_t shape[GIDS_MAX_DIMS];
} index_ctx;

/* Records `name` over the inputs with up to two saved tensors; `op` names the result in the
 * anomaly check. */
static gids_status record_(gids_tensor **out, const char *op, const char *name, gids_backward_fn fn,
                           int nin, const gids_tensor *const *ins, const index_ctx *c,
                           const gids_tensor *s0, const gids_tensor *s1) {
    if (!gids_ag_should_record(nin, ins)) return GIDS_OK;
    ag_node_spec r = {
        .name = name, .op = op, .fn = fn, .ctx = c, .ctx_size = sizeof *c, .save = {s0, s1}};
    return ag_record(&r, nin, ins, 1, out);
}

/* g (index-shaped, from a gather) written into zeros of input j's shape when input j is larger
 * than the index outside the indexed dim (scatter's src may be): those elements were not read. */
static gids_tensor *pad_to_input_(ag_scope *s, const gids_node *n, int j, gids_tensor *g) {
    int nd = 0;
    const int64_t *shape = NULL;
    gids_node_input_shape(n, j, &nd, &shape);
    if (g == NULL || (nd == g->ndim && memcmp(shape, g->shape, sizeof(int64_t) * (size_t)nd) == 0))
        return g;
    gids_tensor *z = ag_input_zeros(s, n, j, g), *part = z;
    for (int d = 0; d < nd && s->st == GIDS_OK; d++) {
        gids_tensor *prev = part;
        AG_RUN(s, part, gids_narrow(&part, prev, d, 0, g->shape[d]));
    }
    AG_DO(s, gids_copy_(part, g));
    return z;
}

/* ---------------------------------------------------------------- index_select, gather */

/* Saved: 0 = index. */
static gids_status index_select_backward_(gids_node *n, gids_tensor *const *grad_out,
                                          gids_tensor **grad_in) {
    const index_ctx *c = gids_node_ctx(n);
    ag_scope s = AG_SCOPE;
    const gids_tensor *index = ag_saved(&s, n, 0);
    gids_tensor *z = ag_input_zeros(&s, n, 0, grad_out[0]);
    AG_DO(&s, gids_index_add_(z, c->dim, index, grad_out[0], 1.0)); /* duplicates add up */
    ag_give(&s, n, 0, z, grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_index_select(gids_tensor **out, const gids_tensor *a, int dim,
                                 const gids_tensor *index) {
    GIDS_TRY(gids_index_select(out, a, dim, index));
    index_ctx c = {.dim = dim};
    return record_(out, "index_select", "IndexSelectBackward", index_select_backward_, 1, &a, &c,
                   index, NULL);
}

/* Saved: 0 = index (sort and topk: their indices). */
static gids_status gather_backward_(gids_node *n, gids_tensor *const *grad_out,
                                    gids_tensor **grad_in) {
    const index_ctx *c = gids_node_ctx(n);
    ag_scope s = AG_SCOPE;
    const gids_tensor *index = ag_saved(&s, n, 0);
    gids_tensor *z = ag_input_zeros(&s, n, 0, grad_out[0]);
    AG_DO(&s, gids_scatter_add_(z, c->dim, index, grad_out[0]));
    ag_give(&s, n, 0, z, grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_gather(gids_tensor **out, const gids_tensor *a, int dim,
                           const gids_tensor *index) {
    GIDS_TRY(gids_gather(out, a, dim, index));
    index_ctx c = {.dim = dim};
    return record_(out, "gather", "GatherBackward", gather_backward_, 1, &a, &c, index, NULL);
}

/* ---------------------------------------------------------------- scatter, scatter_add */

/* Which elements of src a scatter kept: with duplicate indices only the last write along dim
 * survives (scatter_ applies them in index order), and the others get no gradient.  Scattering
 * each position's own number and reading it back tells the survivors. */
/* 0, 1, ..., n - 1 (i64) on dev: made on the CPU (arange has no device form) and moved. */
static gids_tensor *positions_(ag_scope *s, int64_t n, gids_device dev) {
    gids_tensor *flat = NULL, *moved = NULL;
    AG_RUN(s, flat,
           gids_arange(&flat, GIDS_I64, gids_scalar_i(0), gids_scalar_i(n), gids_scalar_i(1)));
    if (flat == NULL || gids_device_eq(dev, GIDS_DEVICE_CPU)) return flat;
    AG_RUN(s, moved, gids_to_device(&moved, flat, dev));
    return moved;
}

static gids_tensor *survivors_(ag_scope *s, const gids_node *n, int dim, const gids_tensor *index) {
    gids_tensor *ids = NULL, *flat = NULL, *owner = NULL, *back = NULL;
    int nd = 0;
    const int64_t *shape = NULL;
    gids_node_input_shape(n, 0, &nd, &shape);
    int64_t count = gids_tensor_numel(index);
    flat = positions_(s, count, gids_tensor_device(index));
    AG_RUN(s, ids, gids_view(&ids, flat, index->ndim, index->shape));
    AG_RUN(s, owner,
           gids_full(&owner, GIDS_I64, gids_tensor_device(index), nd, shape, gids_scalar_i(-1)));
    AG_DO(s, gids_scatter_(owner, dim, index, ids));
    AG_RUN(s, back, gids_gather(&back, owner, dim, index));
    return ag_bin(s, GIDS_EQ, back, ids);
}

typedef enum { SC_SET, SC_ADD } scatter_kind;

/* Saved: 0 = index.  Inputs: 0 = self, 1 = src. */
static gids_status scatter_backward_common_(gids_node *n, gids_tensor *const *grad_out,
                                            gids_tensor **grad_in, scatter_kind kind) {
    const index_ctx *c = gids_node_ctx(n);
    const gids_tensor *g = grad_out[0];
    ag_scope s = AG_SCOPE;
    const gids_tensor *index = ag_saved(&s, n, 0);
    if (gids_node_needs_grad(n, 0)) {
        gids_tensor *gs = (gids_tensor *)g;
        if (kind == SC_SET) { /* overwritten elements of self did not reach the output */
            AG_RUN(&s, gs, gids_clone(&gs, g));
            AG_DO(&s, gids_scatter_scalar_(gs, c->dim, index, gids_scalar_i(0)));
        }
        ag_give(&s, n, 0, gs, grad_in);
    }
    if (gids_node_needs_grad(n, 1)) {
        gids_tensor *gsrc = NULL;
        AG_RUN(&s, gsrc, gids_gather(&gsrc, g, c->dim, index));
        if (kind == SC_SET) gsrc = ag_mask(&s, survivors_(&s, n, c->dim, index), gsrc);
        ag_give(&s, n, 1, pad_to_input_(&s, n, 1, gsrc), grad_in);
    }
    return ag_finish(&s, NULL, NULL);
}

static gids_status scatter_backward_(gids_node *n, gids_tensor *const *grad_out,
                                     gids_tensor **grad_in) {
    return scatter_backward_common_(n, grad_out, grad_in, SC_SET);
}

static gids_status scatter_add_backward_(gids_node *n, gids_tensor *const *grad_out,
                                         gids_tensor **grad_in) {
    return scatter_backward_common_(n, grad_out, grad_in, SC_ADD);
}

gids_status gids_ag_scatter(gids_tensor **out, const gids_tensor *self, int dim,
                            const gids_tensor *index, const gids_tensor *src) {
    GIDS_TRY(gids_scatter(out, self, dim, index, src));
    const gids_tensor *ins[2] = {self, src};
    index_ctx c = {.dim = dim};
    return record_(out, "scatter", "ScatterBackward", scatter_backward_, 2, ins, &c, index, NULL);
}

gids_status gids_ag_scatter_add(gids_tensor **out, const gids_tensor *self, int dim,
                                const gids_tensor *index, const gids_tensor *src) {
    GIDS_TRY(gids_scatter_add(out, self, dim, index, src));
    const gids_tensor *ins[2] = {self, src};
    index_ctx c = {.dim = dim};
    return record_(out, "scatter_add", "ScatterAddBackward", scatter_add_backward_, 2, ins, &c,
                   index, NULL);
}

/* ---------------------------------------------------------------- index_add */

/* Saved: 0 = index.  self gets g; src gets alpha * g at the rows it was added to. */
static gids_status index_add_backward_(gids_node *n, gids_tensor *const *grad_out,
                                       gids_tensor **grad_in) {
    const index_ctx *c = gids_node_ctx(n);
    const gids_tensor *g = grad_out[0];
    ag_scope s = AG_SCOPE;
    if (gids_node_needs_grad(n, 0)) ag_give(&s, n, 0, g, grad_in);
    if (gids_node_needs_grad(n, 1)) {
        const gids_tensor *index = ag_saved(&s, n, 0);
        gids_tensor *r = NULL;
        AG_RUN(&s, r, gids_index_select(&r, g, c->dim, index));
        if (c->alpha != 1.0) r = ag_bins(&s, GIDS_MUL, r, c->alpha);
        ag_give(&s, n, 1, r, grad_in);
    }
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_index_add(gids_tensor **out, const gids_tensor *self, int dim,
                              const gids_tensor *index, const gids_tensor *src, double alpha) {
    GIDS_TRY(gids_index_add(out, self, dim, index, src, alpha));
    const gids_tensor *ins[2] = {self, src};
    index_ctx c = {.dim = dim, .alpha = alpha};
    return record_(out, "index_add", "IndexAddBackward", index_add_backward_, 2, ins, &c, index,
                   NULL);
}

/* ---------------------------------------------------------------- masked ops */

/* Saved: 0 = mask.  The filled elements no longer depend on self. */
static gids_status masked_fill_backward_(gids_node *n, gids_tensor *const *grad_out,
                                         gids_tensor **grad_in) {
    ag_scope s = AG_SCOPE;
    const gids_tensor *mask = ag_saved(&s, n, 0);
    gids_tensor *r = NULL;
    AG_RUN(&s, r, gids_masked_fill(&r, grad_out[0], mask, gids_scalar_i(0)));
    ag_give(&s, n, 0, r, grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_masked_fill(gids_tensor **out, const gids_tensor *self, const gids_tensor *mask,
                                gids_scalar value) {
    GIDS_TRY(gids_masked_fill(out, self, mask, value));
    index_ctx c = {.dim = 0};
    return record_(out, "masked_fill", "MaskedFillBackward", masked_fill_backward_, 1, &self, &c,
                   mask, NULL);
}

/* Saved: 0 = mask.  The selected elements' flat positions in the broadcast shape are the
 * masked_select of their own row-major numbers; the gradient is added there into zeros, then
 * summed down to the input's shape (where the mask broadcast it). */
static gids_status masked_select_backward_(gids_node *n, gids_tensor *const *grad_out,
                                           gids_tensor **grad_in) {
    const index_ctx *c = gids_node_ctx(n);
    const gids_tensor *g = grad_out[0];
    ag_scope s = AG_SCOPE;
    const gids_tensor *mask = ag_saved(&s, n, 0);
    int64_t numel = 1;
    for (int d = 0; d < c->ndim; d++) numel *= c->shape[d];
    gids_tensor *flat = NULL, *pos = NULL, *sel = NULL, *z = NULL, *r = NULL;
    flat = positions_(&s, numel, gids_tensor_device(g));
    AG_RUN(&s, pos, gids_view(&pos, flat, c->ndim, c->shape));
    AG_RUN(&s, sel, gids_masked_select(&sel, pos, mask));
    AG_RUN(&s, z, gids_zeros(&z, g->dtype, gids_tensor_device(g), 1, &numel));
    AG_DO(&s, gids_index_add_(z, 0, sel, g, 1.0));
    AG_RUN(&s, r, gids_view(&r, z, c->ndim, c->shape));
    ag_give(&s, n, 0, r, grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_masked_select(gids_tensor **out, const gids_tensor *a,
                                  const gids_tensor *mask) {
    GIDS_TRY(gids_masked_select(out, a, mask));
    if (!gids_ag_should_record(1, &a)) return GIDS_OK;
    index_ctx c = {.dim = 0};
    gids_status st = gids_broadcast_shapes("masked_select", a->ndim, a->shape, mask->ndim,
                                           mask->shape, &c.ndim, c.shape);
    if (st != GIDS_OK) return ag_drop(st, 1, out);
    return record_(out, "masked_select", "MaskedSelectBackward", masked_select_backward_, 1, &a, &c,
                   mask, NULL);
}

/* ---------------------------------------------------------------- sort, topk */

/* Records the node on the values (the one differentiable output) and hands the indices out
 * when wanted; st is the status of the plain op that produced them.  The values are a gathered
 * at the indices along dim, so the formula is gather's. */
static gids_status sorted_finish_(gids_tensor **values, gids_tensor **indices, gids_tensor *idx,
                                  const gids_tensor *a, int dim, const char *op, const char *name,
                                  gids_status st) {
    if (st == GIDS_OK) {
        index_ctx c = {.dim = dim};
        st = record_(values, op, name, gather_backward_, 1, &a, &c, idx, NULL);
    }
    return ag_side_result(st, idx, indices);
}

gids_status gids_ag_sort(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int dim,
                         bool descending, bool stable) {
    if (values == NULL || !gids_ag_should_record(1, &a))
        return gids_sort(values, indices, a, dim, descending, stable);
    gids_tensor *idx = NULL;
    gids_status st = gids_sort(values, &idx, a, dim, descending, stable);
    return sorted_finish_(values, indices, idx, a, dim, "sort", "SortBackward", st);
}

gids_status gids_ag_topk(gids_tensor **values, gids_tensor **indices, const gids_tensor *a,
                         int64_t k, int dim, bool largest, bool sorted) {
    if (values == NULL || !gids_ag_should_record(1, &a))
        return gids_topk(values, indices, a, k, dim, largest, sorted);
    gids_tensor *idx = NULL;
    gids_status st = gids_topk(values, &idx, a, k, dim, largest, sorted);
    return sorted_finish_(values, indices, idx, a, dim, "topk", "TopkBackward", st);
}
