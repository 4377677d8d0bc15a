/* ag_view.c -- differentiable views (view, reshape, permute, transpose, narrow, select, expand,
 * squeeze, unsqueeze, flatten) and copies (contiguous, clone, to_dtype, to_device).
 *
 * The forward pass runs the plain op, so a view stays a view of its input's storage while it is
 * recorded.  Backward maps the gradient back to the input's layout: views that only rename the
 * elements (reshape-like, permute, transpose) return a view of the gradient; narrow and select
 * write it into zeros of the input's shape; expand sums it over the expanded dims; copies pass
 * it through, converted to the input's dtype; a move between devices moves it back.
 */
#include "formula_impl.h"
#include "gids/backend.h"

typedef enum {
    V_RESHAPE,   /* view, reshape, squeeze, unsqueeze, flatten: the same elements re-shaped */
    V_PERMUTE,   /* perm holds the inverse permutation */
    V_TRANSPOSE, /* dim, dim2 */
    V_NARROW,    /* dim, start, length */
    V_SELECT,    /* dim, start = the index */
    V_PASS,      /* expand (summed down by ag_give), contiguous, clone, to_dtype */
    V_MOVE,      /* to_device: device holds the input's device */
} view_kind;

typedef struct {
    view_kind kind;
    int dim, dim2;
    int64_t start, length;
    int perm[GIDS_MAX_DIMS];
    gids_device device;
} view_ctx;

static gids_status view_backward_(gids_node *n, gids_tensor *const *grad_out,
                                  gids_tensor **grad_in) {
    const view_ctx *c = gids_node_ctx(n);
    const gids_tensor *g = grad_out[0];
    int nd = 0;
    const int64_t *shape = NULL;
    gids_node_input_shape(n, 0, &nd, &shape);
    ag_scope s = AG_SCOPE;
    gids_tensor *r = NULL, *part = NULL;
    switch (c->kind) {
    case V_RESHAPE: r = ag_reshape(&s, g, nd, shape); break;
    case V_PERMUTE: AG_RUN(&s, r, gids_permute(&r, g, c->perm)); break;
    case V_TRANSPOSE: AG_RUN(&s, r, gids_transpose(&r, g, c->dim, c->dim2)); break;
    case V_NARROW:
    case V_SELECT:
        /* The same view taken of zeros of the input's shape receives the gradient; the other
         * elements did not reach the output. */
        r = ag_input_zeros(&s, n, 0, g);
        if (c->kind == V_NARROW)
            AG_RUN(&s, part, gids_narrow(&part, r, c->dim, c->start, c->length));
        else
            AG_RUN(&s, part, gids_select(&part, r, c->dim, c->start));
        AG_DO(&s, gids_copy_(part, g));
        break;
    case V_PASS: r = (gids_tensor *)g; break;
    case V_MOVE: AG_RUN(&s, r, gids_to_device(&r, g, c->device)); break;
    }
    ag_give(&s, n, 0, r, grad_in);
    return ag_finish(&s, NULL, NULL);
}

/* Records `name` for out = op(t) when t requires grad; `st` is the status of the plain op. */
static gids_status record_(gids_tensor **out, const gids_tensor *t, const char *op,
                           const char *name, const view_ctx *c, gids_status st) {
    if (st == GIDS_OK && !gids_ag_should_record(1, &t)) {
        st = gids_ag_note_unrecorded_view(*out, t);
        if (st != GIDS_OK) {
            gids_tensor_release(*out);
            *out = NULL;
        }
        return st;
    }
    if (st != GIDS_OK || !gids_ag_should_record(1, &t)) return st;
    ag_node_spec r = {
        .name = name, .op = op, .fn = view_backward_, .ctx = c, .ctx_size = sizeof *c};
    return ag_record(&r, 1, &t, 1, out);
}

static const view_ctx reshape_ctx_ = {.kind = V_RESHAPE}, pass_ctx_ = {.kind = V_PASS};

gids_status gids_ag_view(gids_tensor **out, const gids_tensor *t, int ndim, const int64_t *shape) {
    GIDS_CHECK_ARG(out, "view", "out");
    gids_status st = gids_view(out, t, ndim, shape);
    return record_(out, t, "view", "ViewBackward", &reshape_ctx_, st);
}

gids_status gids_ag_reshape(gids_tensor **out, const gids_tensor *t, int ndim,
                            const int64_t *shape) {
    gids_status st = gids_reshape(out, t, ndim, shape);
    return record_(out, t, "reshape", "ReshapeBackward", &reshape_ctx_, st);
}

gids_status gids_ag_permute(gids_tensor **out, const gids_tensor *t, const int *perm) {
    GIDS_TRY(gids_permute(out, t, perm));
    view_ctx c = {.kind = V_PERMUTE};
    /* the plain op validated perm: every dim appears once */
    for (int i = 0; i < t->ndim; i++) {
        int d = perm[i] < 0 ? perm[i] + t->ndim : perm[i];
        c.perm[d] = i;
    }
    return record_(out, t, "permute", "PermuteBackward", &c, GIDS_OK);
}

gids_status gids_ag_transpose(gids_tensor **out, const gids_tensor *t, int d0, int d1) {
    gids_status st = gids_transpose(out, t, d0, d1);
    view_ctx c = {.kind = V_TRANSPOSE, .dim = d0, .dim2 = d1};
    return record_(out, t, "transpose", "TransposeBackward", &c, st);
}

gids_status gids_ag_narrow(gids_tensor **out, const gids_tensor *t, int dim, int64_t start,
                           int64_t length) {
    gids_status st = gids_narrow(out, t, dim, start, length);
    view_ctx c = {.kind = V_NARROW, .dim = dim, .start = start, .length = length};
    return record_(out, t, "narrow", "NarrowBackward", &c, st);
}

gids_status gids_ag_select(gids_tensor **out, const gids_tensor *t, int dim, int64_t index) {
    gids_status st = gids_select(out, t, dim, index);
    view_ctx c = {.kind = V_SELECT, .dim = dim, .start = index};
    return record_(out, t, "select", "SelectBackward", &c, st);
}

gids_status gids_ag_expand(gids_tensor **out, const gids_tensor *t, int ndim,
                           const int64_t *shape) {
    gids_status st = gids_expand(out, t, ndim, shape);
    return record_(out, t, "expand", "ExpandBackward", &pass_ctx_, st);
}

gids_status gids_ag_squeeze(gids_tensor **out, const gids_tensor *t, int dim) {
    gids_status st = gids_squeeze(out, t, dim);
    return record_(out, t, "squeeze", "SqueezeBackward", &reshape_ctx_, st);
}

gids_status gids_ag_unsqueeze(gids_tensor **out, const gids_tensor *t, int dim) {
    gids_status st = gids_unsqueeze(out, t, dim);
    return record_(out, t, "unsqueeze", "UnsqueezeBackward", &reshape_ctx_, st);
}

gids_status gids_ag_flatten(gids_tensor **out, const gids_tensor *t, int start_dim, int end_dim) {
    gids_status st = gids_flatten(out, t, start_dim, end_dim);
    return record_(out, t, "flatten", "FlattenBackward", &reshape_ctx_, st);
}

gids_status gids_ag_contiguous(gids_tensor **out, const gids_tensor *t) {
    GIDS_TRY(gids_contiguous(out, t));
    /* An already contiguous t comes back as itself, history and all (as torch): recording a
     * node on it would make t its own input. */
    if (*out == t) return GIDS_OK;
    return record_(out, t, "contiguous", "CloneBackward", &pass_ctx_, GIDS_OK);
}

gids_status gids_ag_clone(gids_tensor **out, const gids_tensor *t) {
    gids_status st = gids_clone(out, t);
    return record_(out, t, "clone", "CloneBackward", &pass_ctx_, st);
}

gids_status gids_ag_to_dtype(gids_tensor **out, const gids_tensor *t, gids_dtype dt) {
    GIDS_TRY(gids_to_dtype(out, t, dt));
    /* Integer results are not differentiable: they come out detached (as torch's .long()). */
    if (!gids_dtype_is_float(dt)) return GIDS_OK;
    return record_(out, t, "to_dtype", "ToCopyBackward", &pass_ctx_, GIDS_OK);
}

gids_status gids_ag_to_device(gids_tensor **out, const gids_tensor *t, gids_device dev) {
    GIDS_TRY(gids_to_device(out, t, dev));
    if (*out == t) return GIDS_OK; /* already there: t itself, history and all */
    view_ctx c = {.kind = V_MOVE, .device = gids_tensor_device(t)};
    return record_(out, t, "to_device", "ToCopyBackward", &c, GIDS_OK);
}
