/* self_loops.c -- the self-loop replacement of the attention layers (gids/graph.h:
 * gids_replace_self_loops_mean) in one call.
 *
 * Why: composed from plain ops (ne, nonzero, two index_selects, arange, stack, a range check,
 * cat, a segment mean and a second cat) each GAT/GATv2 layer paid about a dozen dispatches and
 * Lua calls for a result that is O(E) work -- 0.24 ms a layer on a 32-graph batch, most of it
 * overhead.  Here: one pass over the edges, one segment mean (gids_segment_reduce, so the loop
 * attributes are the bits the composed path gives), and the copies into the results.
 */
#include <string.h>

#include "gids/graph.h"
#include "gids/ops.h"

#include "../core/core_impl.h"

#define OP "replace_self_loops"

/* Checks edge_index ([2, E] i64 on the CPU, values in [0, N)) and edge_attr ([E, D] float on
 * the CPU, or NULL); *ei gets a contiguous form of edge_index (NEW). */
static gids_status check_args(const gids_tensor *edge_index, const gids_tensor *edge_attr,
                              int64_t N, gids_tensor **ei) {
    char a[96];
    GIDS_CHECK(edge_index != NULL, GIDS_EINVAL, OP ": edge_index is NULL");
    if (!gids_is_cpu(edge_index)) return gids_no_kernel(OP, edge_index);
    GIDS_CHECK(edge_index->dtype == GIDS_I64, GIDS_EDTYPE, OP ": edge_index must be i64, got %s",
               gids_dtype_name(edge_index->dtype));
    GIDS_CHECK(edge_index->ndim == 2 && edge_index->shape[0] == 2, GIDS_ESHAPE,
               OP ": edge_index must have shape [2, E], got %s",
               gids_shape_str(edge_index->ndim, edge_index->shape, a, sizeof a));
    GIDS_CHECK(N >= 0, GIDS_EINVAL, OP ": num_nodes must be >= 0, got %lld", (long long)N);
    int64_t E = edge_index->shape[1];
    if (edge_attr != NULL) {
        if (!gids_is_cpu(edge_attr)) return gids_no_kernel(OP, edge_attr);
        GIDS_CHECK(edge_attr->dtype == GIDS_F32 || edge_attr->dtype == GIDS_F64, GIDS_EDTYPE,
                   OP ": edge_attr must be f32 or f64, got %s", gids_dtype_name(edge_attr->dtype));
        GIDS_CHECK(edge_attr->ndim == 2 && edge_attr->shape[0] == E, GIDS_ESHAPE,
                   OP ": edge_attr must have shape [%lld, D] (one row per edge), got %s",
                   (long long)E, gids_shape_str(edge_attr->ndim, edge_attr->shape, a, sizeof a));
    }
    GIDS_TRY(gids_contiguous(ei, edge_index));
    const int64_t *p = gids_tensor_data(*ei);
    for (int64_t k = 0; k < 2 * E; k++)
        if (p[k] < 0 || p[k] >= N) {
            gids_tensor_release(*ei);
            *ei = NULL;
            GIDS_FAIL(GIDS_EINDEX,
                      OP ": edge_index %s %lld of edge %lld is out of range [0, %lld) (num_nodes)",
                      k < E ? "source" : "target", (long long)p[k], (long long)(k % (E ? E : 1)),
                      (long long)N);
        }
    return GIDS_OK;
}

/* out_attr rows [0, kept) <- the kept rows of edge_attr, rows [kept, kept + N) <- the mean of
 * each node's kept incoming rows. */
static gids_status fill_attr(gids_tensor *out_attr, const gids_tensor *edge_attr, const int64_t *ei,
                             int64_t E, int64_t kept, int64_t N) {
    int64_t D = edge_attr->shape[1];
    size_t row = (size_t)D * gids_dtype_size(edge_attr->dtype);
    gids_tensor *ea = NULL, *dst = NULL, *rows = NULL, *mean = NULL;
    gids_status st = gids_contiguous(&ea, edge_attr);
    int64_t ds = kept;
    if (st == GIDS_OK) st = gids_empty_named(OP, &dst, GIDS_I64, GIDS_DEVICE_CPU, 1, &ds);
    char *o = gids_tensor_data(out_attr);
    if (st == GIDS_OK) {
        const char *src = gids_tensor_data(ea);
        int64_t *d = gids_tensor_data(dst), n = 0;
        for (int64_t k = 0; k < E; k++)
            if (ei[k] != ei[E + k]) {
                memcpy(o + (size_t)n * row, src + (size_t)k * row, row);
                d[n++] = ei[E + k];
            }
        /* the kept rows, as a view of the result's first rows */
        int64_t rs[2] = {kept, D}, strd[2] = {D, 1};
        st = gids_as_strided(&rows, out_attr, 2, rs, strd, 0);
    }
    if (st == GIDS_OK) st = gids_segment_reduce(&mean, NULL, GIDS_SEG_MEAN, rows, dst, N);
    if (st == GIDS_OK && N > 0) memcpy(o + (size_t)kept * row, gids_tensor_data(mean), N * row);
    gids_tensor_release(ea);
    gids_tensor_release(dst);
    gids_tensor_release(rows);
    gids_tensor_release(mean);
    return st;
}

gids_status gids_replace_self_loops_mean(gids_tensor **out_index, gids_tensor **out_attr,
                                         const gids_tensor *edge_index,
                                         const gids_tensor *edge_attr, int64_t num_nodes) {
    GIDS_CHECK(out_index != NULL && out_attr != NULL, GIDS_EINVAL,
               OP ": out_index and out_attr must not be NULL");
    *out_index = *out_attr = NULL;
    gids_tensor *eic = NULL;
    GIDS_TRY(check_args(edge_index, edge_attr, num_nodes, &eic));
    const int64_t *ei = gids_tensor_data(eic);
    int64_t E = edge_index->shape[1], N = num_nodes, kept = 0;
    for (int64_t k = 0; k < E; k++) kept += ei[k] != ei[E + k];
    int64_t is[2] = {2, 0};
    if (!gids_add_ok(kept, N, &is[1])) { /* kept + N edges; then 2 * that is checked by empty */
        gids_tensor_release(eic);
        GIDS_FAIL(GIDS_EOVERFLOW, OP ": %lld kept edges plus num_nodes %lld self-loops overflow",
                  (long long)kept, (long long)N);
    }
    gids_status st = gids_empty_named(OP, out_index, GIDS_I64, GIDS_DEVICE_CPU, 2, is);
    if (st == GIDS_OK) {
        int64_t *o = gids_tensor_data(*out_index), n = 0, W = kept + N;
        for (int64_t k = 0; k < E; k++)
            if (ei[k] != ei[E + k]) {
                o[n] = ei[k];
                o[W + n] = ei[E + k];
                n++;
            }
        for (int64_t v = 0; v < N; v++) o[kept + v] = o[W + kept + v] = v;
    }
    if (st == GIDS_OK && edge_attr != NULL) {
        int64_t as[2] = {kept + N, edge_attr->shape[1]};
        st = gids_empty_named(OP, out_attr, edge_attr->dtype, GIDS_DEVICE_CPU, 2, as);
        if (st == GIDS_OK) st = fill_attr(*out_attr, edge_attr, ei, E, kept, N);
    }
    gids_tensor_release(eic);
    if (st != GIDS_OK) {
        gids_tensor_release(*out_index);
        gids_tensor_release(*out_attr);
        *out_index = *out_attr = NULL;
    }
    return st;
}
