/* test_ag_index.c -- formulas of index_select, gather, scatter, scatter_add, index_add,
 * masked_fill, masked_select, sort, topk, segment_reduce and segment_softmax, checked by finite
 * differences: duplicate indices, i32 and i64 indices, strided inputs, ties, empty segments. */
#include <stdlib.h>

#include "check.h"
#include "gradcheck.h"
#include "helpers.h"

static gids_tensor *leaf(int nd, const int64_t *shape, int salt, bool rg) {
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = sin(0.9 * (double)i + salt) + 0.01 * (double)i;
    gids_tensor *t = from(GIDS_F64, nd, shape, v);
    free(v);
    if (rg) CHECK_OK(gids_set_requires_grad(t, true));
    return t;
}

/* An index tensor of dtype dt (i32 or i64) from int64 values. */
static gids_tensor *idx(gids_dtype dt, int nd, const int64_t *shape, const int64_t *v) {
    gids_tensor *t = from(GIDS_I64, nd, shape, v), *c = NULL;
    if (dt == GIDS_I64) return t;
    CHECK_OK(gids_to_dtype(&c, t, dt));
    gids_tensor_release(t);
    return c;
}

static const gids_dtype index_dtypes[2] = {GIDS_I64, GIDS_I32};

/* What the index ops below read from their ctx. */
typedef struct {
    int dim;
    const gids_tensor *index; /* or the mask */
    double alpha;
    bool transposed; /* the differentiable input is a transposed view of in[0] */
} ix_case;

/* in[0], transposed (dims 0 and 1) when c->transposed; a new reference either way. */
static gids_status input_(gids_tensor **out, gids_tensor *x, const ix_case *c) {
    if (c->transposed) return gids_ag_transpose(out, x, 0, 1);
    gids_tensor_retain(x);
    *out = x;
    return GIDS_OK;
}

static gids_status f_index_select(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const ix_case *c = ctx;
    gids_tensor *a = NULL;
    GIDS_TRY(input_(&a, in[0], c));
    gids_status st = gids_ag_index_select(out, a, c->dim, c->index);
    gids_tensor_release(a);
    return st;
}

TEST(index_select_adds_up_duplicate_indices) {
    for (int t = 0; t < 2; t++) {
        gids_tensor *x = leaf(2, (int64_t[]){4, 4}, 1, true), *in[1] = {x};
        gids_tensor *i = idx(index_dtypes[t], 1, (int64_t[]){5}, (int64_t[]){2, 0, 2, 3, 2});
        for (int dim = -1; dim < 1; dim++)
            for (int tr = 0; tr < 2; tr++) {
                ix_case c = {dim, i, 1.0, tr == 1};
                GRADCHECK(f_index_select, 1, in, &c);
            }
        /* row 2 was picked three times */
        gids_tensor *y = NULL, *w = NULL;
        CHECK_OK(gids_ag_index_select(&y, x, 0, i));
        CHECK_OK(gids_ones(&w, GIDS_F64, GIDS_DEVICE_CPU, 2, y->shape));
        CHECK_OK(gids_set_grad(x, NULL));
        CHECK_OK(gids_backward(y, w, false));
        check_values(gids_grad(x), 16, (double[]){1, 1, 1, 1, 0, 0, 0, 0, 3, 3, 3, 3, 1, 1, 1, 1});
        CHECK(strcmp(gids_grad_fn_name(y), "IndexSelectBackward") == 0);
        gids_tensor_release(w), gids_tensor_release(y), gids_tensor_release(i);
        gids_tensor_release(x);
    }
}

static gids_status f_gather(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const ix_case *c = ctx;
    gids_tensor *a = NULL;
    GIDS_TRY(input_(&a, in[0], c));
    gids_status st = gids_ag_gather(out, a, c->dim, c->index);
    gids_tensor_release(a);
    return st;
}

TEST(gather_scatter_adds_back_with_duplicates) {
    for (int t = 0; t < 2; t++) {
        gids_tensor *x = leaf(2, (int64_t[]){3, 4}, 2, true), *in[1] = {x};
        /* [3,2] picks along dim 1 (a smaller index than the input), with repeats */
        gids_tensor *i1 = idx(index_dtypes[t], 2, (int64_t[]){3, 2}, (int64_t[]){1, 1, 3, 0, 2, 2});
        /* [2,4] picks along dim 0 */
        gids_tensor *i0 =
            idx(index_dtypes[t], 2, (int64_t[]){2, 4}, (int64_t[]){0, 2, 2, 1, 0, 0, 1, 2});
        /* [4,2] picks along the last dim of the [4,3] transpose */
        gids_tensor *it =
            idx(index_dtypes[t], 2, (int64_t[]){4, 2}, (int64_t[]){0, 2, 1, 1, 2, 0, 0, 0});
        ix_case c1 = {1, i1, 1.0, false}, c0 = {0, i0, 1.0, false}, ct = {-1, it, 1.0, true};
        GRADCHECK(f_gather, 1, in, &c1);
        GRADCHECK(f_gather, 1, in, &c0);
        GRADCHECK(f_gather, 1, in, &ct);
        gids_tensor_release(i0), gids_tensor_release(i1), gids_tensor_release(it);
        gids_tensor_release(x);
    }
}

static gids_status f_scatter(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const ix_case *c = ctx;
    return c->alpha == 0.0 ? gids_ag_scatter(out, in[0], c->dim, c->index, in[1])
                           : gids_ag_scatter_add(out, in[0], c->dim, c->index, in[1]);
}

TEST(scatter_and_scatter_add_split_the_gradient_between_self_and_src) {
    for (int t = 0; t < 2; t++) {
        gids_tensor *self = leaf(2, (int64_t[]){3, 4}, 3, true);
        /* src [3,3] is larger than the index [2,3] along dim 0: its last row is never read */
        gids_tensor *src = leaf(2, (int64_t[]){3, 3}, 4, true), *in[2] = {self, src};
        /* dim 0: column 0 gets rows 1 and then 1 again (a duplicate: the second write wins) */
        gids_tensor *i0 = idx(index_dtypes[t], 2, (int64_t[]){2, 3}, (int64_t[]){1, 0, 2, 1, 2, 0});
        /* dim 1: row 1 writes column 3 twice */
        gids_tensor *i1 = idx(index_dtypes[t], 2, (int64_t[]){2, 3}, (int64_t[]){0, 2, 1, 3, 0, 3});
        for (int add = 0; add < 2; add++) {
            ix_case c0 = {0, i0, add, false}, c1 = {1, i1, add, false};
            GRADCHECK(f_scatter, 2, in, &c0);
            GRADCHECK(f_scatter, 2, in, &c1);
        }
        gids_tensor_release(i0), gids_tensor_release(i1);
        gids_tensor_release(self), gids_tensor_release(src);
    }
    /* the overwritten src element gets nothing; the written self positions get nothing */
    gids_tensor *self = leaf(1, (int64_t[]){3}, 1, true), *src = leaf(1, (int64_t[]){3}, 2, true);
    gids_tensor *i = idx(GIDS_I64, 1, (int64_t[]){3}, (int64_t[]){2, 0, 2}), *y = NULL, *w = NULL;
    CHECK_OK(gids_ag_scatter(&y, self, 0, i, src));
    CHECK(strcmp(gids_grad_fn_name(y), "ScatterBackward") == 0);
    w = from(GIDS_F64, 1, (int64_t[]){3}, (double[]){10, 20, 30});
    CHECK_OK(gids_backward(y, w, false));
    check_values(gids_grad(self), 3, (double[]){0, 20, 0});
    check_values(gids_grad(src), 3, (double[]){0, 10, 30});
    gids_tensor_release(w), gids_tensor_release(y), gids_tensor_release(i);
    gids_tensor_release(self), gids_tensor_release(src);
}

static gids_status f_index_add(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const ix_case *c = ctx;
    return gids_ag_index_add(out, in[0], c->dim, c->index, in[1], c->alpha);
}

TEST(index_add_scales_the_source_gradient_by_alpha) {
    for (int t = 0; t < 2; t++) {
        gids_tensor *self = leaf(2, (int64_t[]){3, 4}, 5, true);
        gids_tensor *src0 = leaf(2, (int64_t[]){5, 4}, 6, true),
                    *src1 = leaf(2, (int64_t[]){3, 2}, 7, true);
        gids_tensor *i0 = idx(index_dtypes[t], 1, (int64_t[]){5}, (int64_t[]){2, 0, 2, 1, 2});
        gids_tensor *i1 = idx(index_dtypes[t], 1, (int64_t[]){2}, (int64_t[]){3, 3});
        gids_tensor *in0[2] = {self, src0}, *in1[2] = {self, src1};
        ix_case c0 = {0, i0, 2.5, false}, c1 = {1, i1, -1.0, false};
        GRADCHECK(f_index_add, 2, in0, &c0);
        GRADCHECK(f_index_add, 2, in1, &c1);
        gids_tensor_release(i0), gids_tensor_release(i1), gids_tensor_release(self);
        gids_tensor_release(src0), gids_tensor_release(src1);
    }
}

static gids_status f_masked_fill(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const ix_case *c = ctx;
    gids_tensor *a = NULL;
    GIDS_TRY(input_(&a, in[0], c));
    gids_status st = gids_ag_masked_fill(out, a, c->index, gids_scalar_f(7.5));
    gids_tensor_release(a);
    return st;
}

static gids_status f_masked_select(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const ix_case *c = ctx;
    gids_tensor *a = NULL;
    GIDS_TRY(input_(&a, in[0], c));
    gids_status st = gids_ag_masked_select(out, a, c->index);
    gids_tensor_release(a);
    return st;
}

static gids_tensor *mask(int nd, const int64_t *shape, const bool *v) {
    return from(GIDS_BOOL, nd, shape, v);
}

TEST(masked_ops_route_the_gradient_through_the_mask) {
    gids_tensor *x = leaf(2, (int64_t[]){3, 4}, 8, true), *in[1] = {x};
    gids_tensor *full = mask(2, (int64_t[]){3, 4}, (bool[]){1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0});
    gids_tensor *row = mask(1, (int64_t[]){4}, (bool[]){0, 1, 1, 0}); /* broadcast over rows */
    gids_tensor *tmask = mask(2, (int64_t[]){4, 3}, (bool[]){1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0});
    ix_case cf = {0, full, 1, false}, cr = {0, row, 1, false}, ct = {0, tmask, 1, true};
    GRADCHECK(f_masked_fill, 1, in, &cf);
    GRADCHECK(f_masked_fill, 1, in, &cr);
    GRADCHECK(f_masked_fill, 1, in, &ct);
    GRADCHECK(f_masked_select, 1, in, &cf);
    GRADCHECK(f_masked_select, 1, in, &cr);
    GRADCHECK(f_masked_select, 1, in, &ct);
    /* an input the mask broadcasts: [3,1] against a [3,4] mask sums over the 4 copies */
    gids_tensor *col = leaf(2, (int64_t[]){3, 1}, 9, true), *inc[1] = {col};
    GRADCHECK(f_masked_select, 1, inc, &cf);
    gids_tensor *y = NULL, *w = NULL;
    CHECK_OK(gids_set_grad(col, NULL)); /* drop what gradcheck accumulated */
    CHECK_OK(gids_ag_masked_select(&y, col, full));
    CHECK_OK(gids_ones(&w, GIDS_F64, GIDS_DEVICE_CPU, 1, y->shape));
    CHECK_OK(gids_backward(y, w, false));
    check_values(gids_grad(col), 3, (double[]){2, 2, 2});
    gids_tensor_release(w), gids_tensor_release(y), gids_tensor_release(col);
    gids_tensor_release(full), gids_tensor_release(row), gids_tensor_release(tmask);
    gids_tensor_release(x);
}

/* ---------------------------------------------------------------- sort, topk */

typedef struct {
    int dim;
    bool flag; /* sort: descending; topk: largest */
    int64_t k; /* 0: sort */
} sort_case;

static gids_status f_sorted(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const sort_case *c = ctx;
    gids_tensor *ix = NULL;
    gids_status st = c->k == 0 ? gids_ag_sort(out, &ix, in[0], c->dim, c->flag, true)
                               : gids_ag_topk(out, &ix, in[0], c->k, c->dim, c->flag, true);
    if (st == GIDS_OK && gids_requires_grad(ix)) st = GIDS_ESTATE; /* indices never do */
    gids_tensor_release(ix);
    return st;
}

TEST(sort_and_topk_send_the_gradient_back_to_where_values_came_from) {
    gids_tensor *x = leaf(2, (int64_t[]){3, 5}, 10, true), *in[1] = {x};
    for (int dim = -1; dim < 1; dim++)
        for (int flag = 0; flag < 2; flag++) {
            sort_case s = {dim, flag, 0}, t = {dim, flag, 2};
            GRADCHECK(f_sorted, 1, in, &s);
            GRADCHECK(f_sorted, 1, in, &t);
        }
    gids_tensor *y = NULL;
    CHECK_OK(gids_ag_sort(&y, NULL, x, 0, false, true)); /* indices not wanted */
    CHECK(y != NULL && strcmp(gids_grad_fn_name(y), "SortBackward") == 0);
    gids_tensor_release(y);
    CHECK_OK(gids_ag_topk(&y, NULL, x, 1, 1, true, true));
    CHECK(y != NULL && strcmp(gids_grad_fn_name(y), "TopkBackward") == 0);
    gids_tensor_release(y), gids_tensor_release(x);
}

TEST(sort_ties_follow_the_stable_order) {
    gids_tensor *x = from(GIDS_F64, 1, (int64_t[]){5}, (double[]){2, 1, 2, 0, 1});
    CHECK_OK(gids_set_requires_grad(x, true));
    gids_tensor *y = NULL, *ix = NULL;
    CHECK_OK(gids_ag_sort(&y, &ix, x, 0, true, true)); /* 2 2 1 1 0 from positions 0 2 1 4 3 */
    check_values(ix, 5, (double[]){0, 2, 1, 4, 3});
    gids_tensor *w = from(GIDS_F64, 1, (int64_t[]){5}, (double[]){10, 20, 30, 40, 50});
    CHECK_OK(gids_backward(y, w, false));
    check_values(gids_grad(x), 5, (double[]){10, 30, 20, 50, 40});
    gids_tensor_release(w), gids_tensor_release(ix), gids_tensor_release(y);
    gids_tensor_release(x);
}

/* ---------------------------------------------------------------- segments */

typedef struct {
    gids_segop op; /* GIDS_SEG_MIN + 1: segment_softmax */
    const gids_tensor *index;
    int64_t num_segments;
} seg_case;

static gids_status f_segment(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const seg_case *c = ctx;
    if (c->op > GIDS_SEG_MIN) return gids_ag_segment_softmax(out, in[0], c->index, c->num_segments);
    gids_tensor *arg = NULL;
    gids_status st = gids_ag_segment_reduce(out, &arg, c->op, in[0], c->index, c->num_segments);
    gids_tensor_release(arg);
    return st;
}

TEST(segment_formulas_with_an_unsorted_index_and_an_empty_segment) {
    /* 6 rows into 4 segments; segment 2 is empty */
    const int64_t rows[6] = {3, 0, 1, 3, 0, 3};
    for (int t = 0; t < 2; t++) {
        gids_tensor *i = idx(index_dtypes[t], 1, (int64_t[]){6}, rows);
        gids_tensor *x2 = leaf(2, (int64_t[]){6, 2}, 11, true),
                    *x1 = leaf(1, (int64_t[]){6}, 12, true);
        gids_tensor *in2[1] = {x2}, *in1[1] = {x1};
        for (int op = GIDS_SEG_SUM; op <= GIDS_SEG_MIN + 1; op++) {
            seg_case c = {(gids_segop)op, i, 4};
            GRADCHECK(f_segment, 1, in2, &c);
            GRADCHECK(f_segment, 1, in1, &c);
        }
        gids_tensor_release(i), gids_tensor_release(x2), gids_tensor_release(x1);
    }
}

TEST(segment_max_sends_the_gradient_to_the_chosen_row) {
    gids_tensor *x = from(GIDS_F64, 1, (int64_t[]){4}, (double[]){1, 5, 3, 5});
    gids_tensor *i = idx(GIDS_I32, 1, (int64_t[]){4}, (int64_t[]){1, 1, 1, 2});
    CHECK_OK(gids_set_requires_grad(x, true));
    gids_tensor *y = NULL, *arg = NULL;
    CHECK_OK(gids_ag_segment_reduce(&y, &arg, GIDS_SEG_MAX, x, i, 3));
    CHECK(strcmp(gids_grad_fn_name(y), "SegmentMaxBackward") == 0 && !gids_requires_grad(arg));
    check_values(arg, 3, (double[]){-1, 1, 3});
    gids_tensor *w = from(GIDS_F64, 1, (int64_t[]){3}, (double[]){100, 10, 1});
    CHECK_OK(gids_backward(y, w, false));
    check_values(gids_grad(x), 4, (double[]){0, 10, 0, 1}); /* the empty segment sends nothing */
    gids_tensor_release(w), gids_tensor_release(arg), gids_tensor_release(y);
    /* sum and mean set a wanted arg to NULL, as the plain op */
    arg = x;
    CHECK_OK(gids_ag_segment_reduce(&y, &arg, GIDS_SEG_MEAN, x, i, 3));
    CHECK(arg == NULL && strcmp(gids_grad_fn_name(y), "SegmentMeanBackward") == 0);
    gids_tensor_release(y), gids_tensor_release(i), gids_tensor_release(x);
}

TEST(saved_indices_are_version_checked) {
    gids_tensor *x = leaf(1, (int64_t[]){4}, 13, true), *y = NULL;
    gids_tensor *i = idx(GIDS_I64, 1, (int64_t[]){2}, (int64_t[]){3, 1});
    CHECK_OK(gids_ag_index_select(&y, x, 0, i));
    CHECK_OK(gids_fill_(i, gids_scalar_i(0)));
    gids_tensor *w = from(GIDS_F64, 1, (int64_t[]){2}, (double[]){1, 1});
    CHECK_ERR(gids_backward(y, w, false), GIDS_ESTATE,
              "IndexSelectBackward: a tensor saved for backward was modified in place");
    gids_tensor_release(w), gids_tensor_release(y), gids_tensor_release(i), gids_tensor_release(x);
}

int main(void) {
    RUN(index_select_adds_up_duplicate_indices);
    RUN(gather_scatter_adds_back_with_duplicates);
    RUN(scatter_and_scatter_add_split_the_gradient_between_self_and_src);
    RUN(index_add_scales_the_source_gradient_by_alpha);
    RUN(masked_ops_route_the_gradient_through_the_mask);
    RUN(sort_and_topk_send_the_gradient_back_to_where_values_came_from);
    RUN(sort_ties_follow_the_stable_order);
    RUN(segment_formulas_with_an_unsorted_index_and_an_empty_segment);
    RUN(segment_max_sends_the_gradient_to_the_chosen_row);
    RUN(saved_indices_are_version_checked);
    return check_summary("ag_index");
}
