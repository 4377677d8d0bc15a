/* batch.c -- graph sets (PyG InMemoryDataset layout) and the batches collated from them.
 *
 * A batch is the disjoint union of some graphs of a set: their node and edge rows copied back
 * to back, edge endpoints offset by the nodes before them, plus the `batch` vector (graph of
 * each node) and ptr offsets.  Collating checks the field layout of the set (cheap) and, for
 * each graph it copies, its offsets and edge endpoints, so a bad set fails with the field, graph
 * and value instead of producing a batch with dangling edges; gids_graph_set_validate checks
 * every graph once (after loading a cache, for instance).
 *
 * Empty graphs (no nodes) and graphs without edges are valid: they add nothing to x or
 * edge_index, but keep their slot in y, ptr and edge_ptr (PyG does the same).
 */
#include <stdlib.h>
#include <string.h>

#include "gids/graphset.h"

#include "../core/core_impl.h"

/* ---------------------------------------------------------------- field checks */

typedef struct set_view {
    int64_t G, N, E, F, D;
    const int64_t *node_ptr, *edge_ptr, *ei; /* contiguous i64 data */
} set_view;

static gids_status check_field(const char *op, const char *name, const gids_tensor *t, int ndim,
                               const int64_t *shape, bool want_float) {
    char a[96], b[96];
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "%s: the set has no '%s'", op, name);
    GIDS_TRY(gids_check_cpu(op, name, t));
    if (want_float) {
        GIDS_CHECK(t->dtype == GIDS_F32 || t->dtype == GIDS_F64, GIDS_EDTYPE,
                   "%s: '%s' must be f32 or f64, got %s", op, name, gids_dtype_name(t->dtype));
    } else {
        GIDS_CHECK(t->dtype == GIDS_I64, GIDS_EDTYPE, "%s: '%s' must be i64, got %s", op, name,
                   gids_dtype_name(t->dtype));
    }
    bool ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = shape[d] < 0 || t->shape[d] == shape[d];
    if (!ok) {
        int64_t want[2] = {shape[0], ndim > 1 ? shape[1] : 0};
        GIDS_FAIL(GIDS_ESHAPE, "%s: '%s' has shape %s, expected %s%s", op, name,
                  gids_shape_str(t->ndim, t->shape, a, sizeof a),
                  gids_shape_str(ndim, want, b, sizeof b),
                  ndim > 1 && shape[1] < 0 ? " (-1: any)" : "");
    }
    /* The collate kernels read raw rows; a view with gaps would need a copy per batch. */
    GIDS_CHECK(gids_tensor_is_contiguous(t), GIDS_EINVAL,
               "%s: '%s' must be contiguous (call contiguous() on it once)", op, name);
    return GIDS_OK;
}

static gids_status check_opt(const char *op, const char *name, const gids_tensor *t, int ndim,
                             const int64_t *shape, bool want_float) {
    return t == NULL ? GIDS_OK : check_field(op, name, t, ndim, shape, want_float);
}

/* Dtypes and shapes of every field, and the two ptrs' ends.  Fills v. */
static gids_status check_layout(const char *op, const gids_graph_set *s, set_view *v) {
    GIDS_CHECK(s != NULL, GIDS_EINVAL, "%s: set is NULL", op);
    /* < INT64_MAX: the ptr vectors hold num_graphs + 1 entries */
    GIDS_CHECK(s->num_graphs >= 0 && s->num_graphs < INT64_MAX, GIDS_EINVAL,
               "%s: num_graphs must be in [0, INT64_MAX), got %lld", op, (long long)s->num_graphs);
    int64_t G = s->num_graphs, g1[1] = {G + 1}, gv[1] = {G};
    GIDS_CHECK(s->x != NULL && s->edge_index != NULL, GIDS_EINVAL, "%s: the set has no '%s'", op,
               s->x == NULL ? "x" : "edge_index");
    GIDS_CHECK(s->x->ndim == 2, GIDS_ESHAPE, "%s: 'x' must be 2-D [N, F], got %d dims", op,
               s->x->ndim);
    GIDS_CHECK(s->edge_index->ndim == 2, GIDS_ESHAPE,
               "%s: 'edge_index' must be 2-D [2, E], got %d dims", op, s->edge_index->ndim);
    v->G = G;
    v->N = s->x->shape[0];
    v->F = s->x->shape[1];
    v->E = s->edge_index->shape[1];
    int64_t xs[2] = {v->N, -1}, es[2] = {2, v->E}, ns[1] = {v->N};
    GIDS_TRY(check_field(op, "x", s->x, 2, xs, true));
    GIDS_TRY(check_field(op, "edge_index", s->edge_index, 2, es, false));
    GIDS_TRY(check_field(op, "node_ptr", s->node_ptr, 1, g1, false));
    GIDS_TRY(check_field(op, "edge_ptr", s->edge_ptr, 1, g1, false));
    GIDS_TRY(check_opt(op, "y", s->y, 1, gv, false));
    int64_t as[2] = {v->E, -1};
    GIDS_TRY(check_opt(op, "edge_attr", s->edge_attr, 2, as, true));
    v->D = s->edge_attr ? s->edge_attr->shape[1] : 0;
    GIDS_TRY(check_opt(op, "node_id", s->node_id, 1, ns, false));
    GIDS_TRY(check_opt(op, "attack_type", s->attack_type, 1, gv, false));
    GIDS_TRY(check_opt(op, "window_start", s->window_start, 1, gv, false));
    GIDS_TRY(check_opt(op, "source_file", s->source_file, 1, gv, false));
    v->node_ptr = gids_tensor_data(s->node_ptr);
    v->edge_ptr = gids_tensor_data(s->edge_ptr);
    v->ei = gids_tensor_data(s->edge_index);
    GIDS_CHECK(v->node_ptr[0] == 0 && v->edge_ptr[0] == 0, GIDS_EINVAL,
               "%s: '%s'[0] must be 0, got %lld", op, v->node_ptr[0] != 0 ? "node_ptr" : "edge_ptr",
               (long long)(v->node_ptr[0] != 0 ? v->node_ptr[0] : v->edge_ptr[0]));
    GIDS_CHECK(v->node_ptr[G] == v->N, GIDS_EINVAL,
               "%s: 'node_ptr'[%lld] must equal the node count %lld, got %lld", op, (long long)G,
               (long long)v->N, (long long)v->node_ptr[G]);
    GIDS_CHECK(v->edge_ptr[G] == v->E, GIDS_EINVAL,
               "%s: 'edge_ptr'[%lld] must equal the edge count %lld, got %lld", op, (long long)G,
               (long long)v->E, (long long)v->edge_ptr[G]);
    return GIDS_OK;
}

/* Graph g's offsets are ordered and its edges stay inside it (local numbering). */
static gids_status check_graph(const char *op, const set_view *v, int64_t g) {
    int64_t n0 = v->node_ptr[g], n1 = v->node_ptr[g + 1];
    int64_t e0 = v->edge_ptr[g], e1 = v->edge_ptr[g + 1];
    GIDS_CHECK(
        0 <= n0 && n0 <= n1 && n1 <= v->N, GIDS_EINVAL,
        "%s: 'node_ptr' must be non-decreasing within [0, %lld]: graph %lld spans %lld..%lld", op,
        (long long)v->N, (long long)g, (long long)n0, (long long)n1);
    GIDS_CHECK(
        0 <= e0 && e0 <= e1 && e1 <= v->E, GIDS_EINVAL,
        "%s: 'edge_ptr' must be non-decreasing within [0, %lld]: graph %lld spans %lld..%lld", op,
        (long long)v->E, (long long)g, (long long)e0, (long long)e1);
    int64_t n = n1 - n0;
    for (int r = 0; r < 2; r++) {
        const int64_t *row = v->ei + r * v->E;
        for (int64_t k = e0; k < e1; k++)
            GIDS_CHECK(row[k] >= 0 && row[k] < n, GIDS_EINDEX,
                       "%s: 'edge_index' %s %lld of edge %lld (graph %lld, local edge %lld) is out "
                       "of range [0, %lld) of the graph's nodes",
                       op, r == 0 ? "source" : "target", (long long)row[k], (long long)k,
                       (long long)g, (long long)(k - e0), (long long)n);
    }
    return GIDS_OK;
}

gids_status gids_graph_set_validate(const gids_graph_set *s) {
    set_view v;
    GIDS_TRY(check_layout("graph_set_validate", s, &v));
    for (int64_t g = 0; g < v.G; g++) GIDS_TRY(check_graph("graph_set_validate", &v, g));
    return GIDS_OK;
}

static void release_fields(gids_tensor **fields, int n) {
    for (int i = 0; i < n; i++) gids_tensor_release(fields[i]);
}

void gids_graph_set_release(gids_graph_set *s) {
    if (s == NULL) return;
    gids_tensor *f[] = {
        s->x,        s->edge_index, s->edge_attr,   s->node_id,      s->node_ptr,
        s->edge_ptr, s->y,          s->attack_type, s->window_start, s->source_file};
    release_fields(f, (int)(sizeof f / sizeof f[0]));
    memset(s, 0, sizeof *s);
}

void gids_graph_batch_release(gids_graph_batch *b) {
    if (b == NULL) return;
    gids_tensor *f[] = {b->x,           b->edge_index,   b->edge_attr,  b->node_id,
                        b->batch,       b->ptr,          b->edge_ptr,   b->y,
                        b->attack_type, b->window_start, b->source_file};
    release_fields(f, (int)(sizeof f / sizeof f[0]));
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- collate */

/* Row block [r0, r0 + rows) of a contiguous 2-D (or 1-D) src into dst at row d0. */
static void copy_rows(gids_tensor *dst, int64_t d0, const gids_tensor *src, int64_t r0,
                      int64_t rows) {
    if (rows == 0) return;
    size_t row = gids_dtype_size(src->dtype) * (size_t)(src->ndim > 1 ? src->shape[1] : 1);
    memcpy((char *)gids_tensor_data(dst) + (size_t)d0 * row,
           (const char *)gids_tensor_data(src) + (size_t)r0 * row, (size_t)rows * row);
}

static gids_status new_like_rows(gids_tensor **out, const gids_tensor *t, int64_t rows) {
    if (t == NULL) return GIDS_OK;
    int64_t shape[2] = {rows, t->ndim > 1 ? t->shape[1] : 0};
    return gids_empty_named("graph_batch_collate", out, t->dtype, GIDS_DEVICE_CPU, t->ndim, shape);
}

/* Per-graph i64 values (y, attack_type, ...) picked by idx. */
static void pick_graph_values(gids_tensor *dst, const gids_tensor *src, const int64_t *idx,
                              int64_t n) {
    if (src == NULL) return;
    const int64_t *s = gids_tensor_data(src);
    int64_t *d = gids_tensor_data(dst);
    for (int64_t i = 0; i < n; i++) d[i] = s[idx[i]];
}

gids_status gids_graph_batch_collate(gids_graph_batch *out, const gids_graph_set *s,
                                     const int64_t *idx, int64_t n) {
    const char *op = "graph_batch_collate";
    set_view v;
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", op);
    GIDS_TRY(check_layout(op, s, &v));
    GIDS_CHECK(n >= 1, GIDS_EINVAL, "%s: a batch needs at least 1 graph, got %lld", op,
               (long long)n);
    GIDS_CHECK(idx != NULL, GIDS_EINVAL, "%s: idx is NULL", op);
    for (int64_t i = 0; i < n; i++) {
        GIDS_CHECK(idx[i] >= 0 && idx[i] < v.G, GIDS_EINDEX,
                   "%s: graph index %lld at position %lld is out of range [0, %lld)", op,
                   (long long)idx[i], (long long)i, (long long)v.G);
        GIDS_TRY(check_graph(op, &v, idx[i]));
    }

    gids_graph_batch b;
    memset(&b, 0, sizeof b);
    b.num_graphs = n;
    int64_t g1[1] = {n + 1};
    gids_status st = gids_empty_named(op, &b.ptr, GIDS_I64, GIDS_DEVICE_CPU, 1, g1);
    if (st == GIDS_OK) st = gids_empty_named(op, &b.edge_ptr, GIDS_I64, GIDS_DEVICE_CPU, 1, g1);
    if (st != GIDS_OK) goto fail;
    int64_t *ptr = gids_tensor_data(b.ptr), *eptr = gids_tensor_data(b.edge_ptr);
    ptr[0] = eptr[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t g = idx[i];
        ptr[i + 1] = ptr[i] + (v.node_ptr[g + 1] - v.node_ptr[g]);
        eptr[i + 1] = eptr[i] + (v.edge_ptr[g + 1] - v.edge_ptr[g]);
    }
    int64_t nn = ptr[n], ne = eptr[n], es[2] = {2, ne}, nv[1] = {nn};
    st = new_like_rows(&b.x, s->x, nn);
    if (st == GIDS_OK) st = gids_empty_named(op, &b.edge_index, GIDS_I64, GIDS_DEVICE_CPU, 2, es);
    if (st == GIDS_OK) st = new_like_rows(&b.edge_attr, s->edge_attr, ne);
    if (st == GIDS_OK) st = new_like_rows(&b.node_id, s->node_id, nn);
    if (st == GIDS_OK) st = gids_empty_named(op, &b.batch, GIDS_I64, GIDS_DEVICE_CPU, 1, nv);
    if (st == GIDS_OK) st = new_like_rows(&b.y, s->y, n);
    if (st == GIDS_OK) st = new_like_rows(&b.attack_type, s->attack_type, n);
    if (st == GIDS_OK) st = new_like_rows(&b.window_start, s->window_start, n);
    if (st == GIDS_OK) st = new_like_rows(&b.source_file, s->source_file, n);
    if (st != GIDS_OK) goto fail;

    int64_t *bei = gids_tensor_data(b.edge_index), *bb = gids_tensor_data(b.batch);
    int nt = gids_threads_for(nn * (v.F + 2) + ne * (v.D + 2));
    /* Each graph writes its own disjoint rows: the result does not depend on the threads. */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t i = 0; i < n; i++) {
        int64_t g = idx[i], n0 = v.node_ptr[g], e0 = v.edge_ptr[g];
        int64_t rows = ptr[i + 1] - ptr[i], edges = eptr[i + 1] - eptr[i];
        copy_rows(b.x, ptr[i], s->x, n0, rows);
        if (b.node_id) copy_rows(b.node_id, ptr[i], s->node_id, n0, rows);
        if (b.edge_attr) copy_rows(b.edge_attr, eptr[i], s->edge_attr, e0, edges);
        for (int64_t k = 0; k < edges; k++) {
            bei[eptr[i] + k] = v.ei[e0 + k] + ptr[i];
            bei[ne + eptr[i] + k] = v.ei[v.E + e0 + k] + ptr[i];
        }
        for (int64_t r = 0; r < rows; r++) bb[ptr[i] + r] = i;
    }
    pick_graph_values(b.y, s->y, idx, n);
    pick_graph_values(b.attack_type, s->attack_type, idx, n);
    pick_graph_values(b.window_start, s->window_start, idx, n);
    pick_graph_values(b.source_file, s->source_file, idx, n);
    *out = b;
    return GIDS_OK;
fail:
    gids_graph_batch_release(&b);
    return st;
}
