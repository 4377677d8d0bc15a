/* ag_segment.c -- differentiable segment reductions and segment softmax (graph layers).
 *
 * Each row i of src belongs to segment index[i].  sum hands every row its segment's gradient
 * (index_select along the rows); mean divides it by the segment's size first; max and min send
 * it to the row each output element came from (the plain op's arg), and empty segments, which
 * came from no row, send nothing.  The index is never differentiable: it is saved, not an input.
 */
#include "formula_impl.h"

typedef struct {
    gids_segop op;
    int64_t num_segments;
} seg_ctx;

static const char *const seg_names_[] = {"SegmentSumBackward", "SegmentMeanBackward",
                                         "SegmentMaxBackward", "SegmentMinBackward"};
static const char *const seg_ops_[] = {"segment_sum", "segment_mean", "segment_max", "segment_min"};

/* g [S, ...] divided by the number of rows of each segment (at least 1: an empty segment's
 * gradient reaches no row anyway). */
static gids_tensor *per_row_mean_(ag_scope *s, const gids_tensor *g, const gids_tensor *index,
                                  int64_t num_segments) {
    gids_tensor *counts = NULL, *shaped = NULL;
    AG_RUN(s, counts, gids_bincount(&counts, index, NULL, num_segments));
    gids_tensor *c = ag_bins(s, GIDS_MAXIMUM, ag_cast(s, counts, g->dtype), 1.0);
    int64_t shape[GIDS_MAX_DIMS];
    for (int d = 0; d < g->ndim; d++) shape[d] = d == 0 ? num_segments : 1;
    AG_RUN(s, shaped, gids_view(&shaped, c, g->ndim, shape));
    return ag_bin(s, GIDS_DIV, g, shaped);
}

/* Saved: 0 = index, 1 = arg (max, min). */
static gids_status segment_backward_(gids_node *n, gids_tensor *const *grad_out,
                                     gids_tensor **grad_in) {
    const seg_ctx *c = gids_node_ctx(n);
    const gids_tensor *g = grad_out[0];
    ag_scope s = AG_SCOPE;
    const gids_tensor *index = ag_saved(&s, n, 0);
    gids_tensor *r = NULL;
    if (c->op == GIDS_SEG_SUM || c->op == GIDS_SEG_MEAN) {
        const gids_tensor *per =
            c->op == GIDS_SEG_SUM ? g : per_row_mean_(&s, g, index, c->num_segments);
        if (per != NULL) AG_RUN(&s, r, gids_index_select(&r, per, 0, index));
    } else {
        const gids_tensor *arg = ag_saved(&s, n, 1);
        r = ag_input_zeros(&s, n, 0, g);
        if (r != NULL && r->shape[0] > 0) {
            /* empty segments (arg -1) add a zero to row 0 instead of indexing out of range */
            gids_tensor *gz = ag_mask(&s, ag_bins(&s, GIDS_GE, arg, 0.0), g), *row = NULL;
            gids_scalar lo = gids_scalar_i(0);
            AG_RUN(&s, row, gids_clamp(&row, arg, &lo, NULL));
            AG_DO(&s, gids_scatter_add_(r, 0, row, gz));
        }
    }
    ag_give(&s, n, 0, r, grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_segment_reduce(gids_tensor **out, gids_tensor **arg, gids_segop op,
                                   const gids_tensor *src, const gids_tensor *index,
                                   int64_t num_segments) {
    if (!gids_ag_should_record(1, &src))
        return gids_segment_reduce(out, arg, op, src, index, num_segments);
    gids_tensor *a = NULL; /* max/min need the chosen rows even when the caller does not */
    GIDS_TRY(gids_segment_reduce(out, &a, op, src, index, num_segments));
    seg_ctx c = {op, num_segments};
    ag_node_spec r = {.name = seg_names_[op],
                      .op = seg_ops_[op],
                      .fn = segment_backward_,
                      .ctx = &c,
                      .ctx_size = sizeof c,
                      .save = {index, a}};
    return ag_side_result(ag_record(&r, 1, &src, 1, out), a, arg);
}

/* Saved: 0 = index, 1 = the result y.  Within a segment dy_i/dx_j = y_i (delta_ij - y_j), so
 * the gradient is y * (g - the segment's sum of g * y). */
static gids_status segment_softmax_backward_(gids_node *n, gids_tensor *const *grad_out,
                                             gids_tensor **grad_in) {
    const seg_ctx *c = gids_node_ctx(n);
    const gids_tensor *g = grad_out[0];
    ag_scope s = AG_SCOPE;
    const gids_tensor *index = ag_saved(&s, n, 0), *y = ag_saved(&s, n, 1);
    gids_tensor *gy = ag_bin(&s, GIDS_MUL, g, y), *sums = NULL, *back = NULL;
    AG_RUN(&s, sums, gids_segment_reduce(&sums, NULL, GIDS_SEG_SUM, gy, index, c->num_segments));
    AG_RUN(&s, back, gids_index_select(&back, sums, 0, index));
    ag_give(&s, n, 0, ag_bin(&s, GIDS_MUL, y, ag_bin(&s, GIDS_SUB, g, back)), grad_in);
    return ag_finish(&s, NULL, NULL);
}

gids_status gids_ag_segment_softmax(gids_tensor **out, const gids_tensor *src,
                                    const gids_tensor *index, int64_t num_segments) {
    GIDS_TRY(gids_segment_softmax(out, src, index, num_segments));
    if (!gids_ag_should_record(1, &src)) return GIDS_OK;
    seg_ctx c = {GIDS_SEG_SUM, num_segments};
    ag_node_spec r = {.name = "SegmentSoftmaxBackward",
                      .op = "segment_softmax",
                      .fn = segment_softmax_backward_,
                      .ctx = &c,
                      .ctx_size = sizeof c,
                      .save = {index, *out}};
    return ag_record(&r, 1, &src, 1, out);
}
