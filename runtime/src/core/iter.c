/* iter.c -- the broadcasting, coalescing N-d loop used by every elementwise kernel. */
#include <string.h>

#include "core_impl.h"
#include "iter_impl.h"

gids_status gids_iter_init(gids_iter *it, const char *op, int nops, const gids_tensor *const *ops) {
    if (nops < 1 || nops > GIDS_ITER_MAX_OPS)
        GIDS_FAIL(GIDS_EINVAL, "%s: %d operands, the iterator takes 1..%d", op, nops,
                  GIDS_ITER_MAX_OPS);
    memset(it, 0, sizeof *it);
    const gids_tensor *out = ops[0];
    int n = out->ndim;
    it->nops = nops;
    for (int k = 0; k < nops; k++) {
        const gids_tensor *t = ops[k];
        GIDS_TRY(gids_check_cpu_dtype(op, k == 0 ? "output" : "input", t));
        int64_t esize = (int64_t)gids_dtype_size(t->dtype);
        int lead = n - t->ndim;
        for (int j = 0; j < -lead; j++)
            if (t->shape[j] != 1) lead = 1000; /* extra leading dims must all be 1 */
        for (int i = 0; i < n && lead < 1000; i++) {
            int j = i - lead;
            if (j < 0 || t->shape[j] == 1)
                it->stride[k][i] = 0;
            else if (t->shape[j] == out->shape[i])
                it->stride[k][i] = t->stride[j] * esize;
            else
                lead = 1000;
        }
        if (lead >= 1000) {
            char a[160], b[160];
            GIDS_FAIL(GIDS_ESHAPE,
                      "%s: input of shape %s does not broadcast to the result shape %s", op,
                      gids_shape_str(t->ndim, t->shape, a, sizeof a),
                      gids_shape_str(n, out->shape, b, sizeof b));
        }
        it->data[k] = gids_tensor_data(t);
    }
    /* Drop size-1 dims, then merge each dim into its inner neighbour when every operand steps
     * through both as one: the inner loop gets as long as the layouts allow. */
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (out->shape[i] == 1) continue;
        it->shape[m] = out->shape[i];
        for (int k = 0; k < nops; k++) it->stride[k][m] = it->stride[k][i];
        m++;
    }
    if (m == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < nops; k++) it->stride[k][0] = 0;
        m = 1;
    }
    int w = 0;
    for (int i = 1; i < m; i++) {
        bool merge = true;
        for (int k = 0; k < nops && merge; k++)
            merge = it->stride[k][w] == it->stride[k][i] * it->shape[i];
        if (merge) {
            it->shape[w] *= it->shape[i];
            for (int k = 0; k < nops; k++) it->stride[k][w] = it->stride[k][i];
        } else {
            w++;
            it->shape[w] = it->shape[i];
            for (int k = 0; k < nops; k++) it->stride[k][w] = it->stride[k][i];
        }
    }
    it->ndim = w + 1;
    it->numel = 1;
    for (int i = 0; i < it->ndim; i++) it->numel *= it->shape[i];
    return GIDS_OK;
}

/* Runs the flat positions [start, end) as inner-dim runs. */
static void run_range_(const gids_iter *it, gids_iter_fn fn, void *ctx, int64_t start,
                       int64_t end) {
    int nd = it->ndim, last = nd - 1;
    int64_t idx[GIDS_MAX_DIMS], inner[GIDS_ITER_MAX_OPS];
    char *ptrs[GIDS_ITER_MAX_OPS];
    int64_t rem = start;
    for (int i = last; i >= 0; i--) {
        idx[i] = rem % it->shape[i];
        rem /= it->shape[i];
    }
    for (int k = 0; k < it->nops; k++) inner[k] = it->stride[k][last];
    while (start < end) {
        for (int k = 0; k < it->nops; k++) {
            char *p = it->data[k];
            for (int i = 0; i < nd; i++) p += idx[i] * it->stride[k][i];
            ptrs[k] = p;
        }
        int64_t n = it->shape[last] - idx[last];
        if (n > end - start) n = end - start;
        fn(ctx, n, ptrs, inner);
        start += n;
        idx[last] += n;
        for (int i = last; i > 0 && idx[i] == it->shape[i]; i--) {
            idx[i] = 0;
            idx[i - 1]++;
        }
    }
}

void gids_iter_run_serial(const gids_iter *it, gids_iter_fn fn, void *ctx) {
    if (it->numel > 0) run_range_(it, fn, ctx, 0, it->numel);
}

void gids_iter_run(const gids_iter *it, gids_iter_fn fn, void *ctx) {
    int64_t n = it->numel;
    int nt = gids_threads_for(n);
    if (n == 0) return;
    if (nt <= 1) {
        run_range_(it, fn, ctx, 0, n);
        return;
    }
    /* Fixed-size chunks: which elements form a run never depends on the thread count. */
    int64_t chunks = (n + GIDS_PARALLEL_GRAIN - 1) / GIDS_PARALLEL_GRAIN;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t s = c * GIDS_PARALLEL_GRAIN, e = s + GIDS_PARALLEL_GRAIN;
        run_range_(it, fn, ctx, s, e < n ? e : n);
    }
}
