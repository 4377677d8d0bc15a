/* waits.c -- where the host would wait for a GPU, counted (gids_backend.waits), and the index
 * ranges the CUDA plugin keeps to avoid some of those waits, kept here the same way
 * (kept_ranges.h), so that a spec on the loopback device sees the waits a GPU run would make:
 * graphids.gpu.waits() over a training step.
 *
 * Counted as the CUDA plugin counts them: every read of values back to the host, uploads past
 * the page-locked staging's limit (GIDS_PINNED_MAX_COPY; the CUDA plugin's staging pool can also
 * fill up, which is not modelled here), every synchronisation asked for,
 * the ops whose result size the host reads back (nonzero, masked_select, unique), and an int_range
 * whose values' range is not kept, the range checks of index ops (gather, scatter, segment and
 * attention ops) whose index's range is not kept, and the zero-divisor check of an integer fmod,
 * remainder or floor_divide whose divisor is not a number known to be nonzero.  Not modelled:
 * the fused attention's kept plans (a GPU that reuses one checks nothing), which only remove
 * waits.
 *
 * Where kept bounds fit, the CUDA plugin checks nothing: a wrong bound (one the runtime noted for
 * how an op made the values, core/ranges.c) would let a bad index through unread.  The CPU op the
 * loopback then runs would refuse only an index beyond the op's own bound, so here the values,
 * at hand on the host, are held to the bounds the GPU would trust, and a breach is an error that
 * names the op: every spec and stage on the loopback device checks the noted ranges.
 */
#include <pthread.h>

#include "../kept_ranges.h"
#include "loopback_impl.h"

static int64_t waits_;
static gids_kept_ranges kept_;
static pthread_mutex_t lock_ = PTHREAD_MUTEX_INITIALIZER;

void lb_waited(void) {
    __atomic_add_fetch(&waits_, 1, __ATOMIC_RELAXED);
}

gids_status lb_waits(int64_t *count) {
    GIDS_TRY(gids_check_given("gpu waits", count != NULL, "count"));
    *count = __atomic_load_n(&waits_, __ATOMIC_RELAXED);
    return GIDS_OK;
}

void lb_ranges_drop(void) {
    pthread_mutex_lock(&lock_);
    gids_kept_clear(&kept_);
    pthread_mutex_unlock(&lock_);
}

void lb_range_uploaded(const gids_tensor *dst) {
    if (dst->storage->device.type != GIDS_CUDA || dst->dtype != GIDS_I64 ||
        !gids_tensor_is_contiguous(dst))
        return;
    pthread_mutex_lock(&lock_);
    gids_kept_note(&kept_, dst, lb_data(dst), gids_tensor_numel(dst));
    pthread_mutex_unlock(&lock_);
}

gids_status lb_int_range(const gids_tensor *t, int64_t *lo, int64_t *hi) {
    const bool whole = t->dtype == GIDS_I64 && gids_tensor_is_contiguous(t);
    const int64_t *v = gids_tensor_data(t), n = gids_tensor_numel(t);
    if (whole) {
        pthread_mutex_lock(&lock_);
        bool found = gids_kept_find(&kept_, t, v, n, true, lo, hi);
        pthread_mutex_unlock(&lock_);
        if (found) return GIDS_OK;
    }
    uint64_t version = gids_kept_version(t);
    lb_waited();
    lb_args x;
    LB_IN(x, "int_range", t);
    GIDS_TRY(LB_DONE_INPLACE(x, gids_int_range(x.cpu[0], lo, hi)));
    if (whole) {
        pthread_mutex_lock(&lock_);
        gids_kept_put(&kept_, t, v, n, version, *lo, *hi, true);
        pthread_mutex_unlock(&lock_);
    }
    return GIDS_OK;
}

gids_status lb_index_seen(const char *op, const gids_tensor *t, int64_t offset, int64_t n,
                          int64_t size) {
    if (n <= 0) return GIDS_OK;
    if (t->dtype != GIDS_I64 || !gids_tensor_is_contiguous(t)) {
        lb_waited(); /* the CUDA plugin checks a fresh contiguous i64 copy: never kept */
        return GIDS_OK;
    }
    const int64_t *v = (const int64_t *)gids_tensor_data(t) + offset;
    const int64_t *host = (const int64_t *)lb_data(t) + offset;
    int64_t lo = 0, hi = 0, least = 0, most = 0;
    pthread_mutex_lock(&lock_);
    /* as gc_index_find: any bounds that fit, else the exact range, kept or read */
    bool fits = gids_kept_find(&kept_, t, v, n, false, &lo, &hi) && lo >= 0 && hi < size;
    if (!fits && !gids_kept_find(&kept_, t, v, n, true, &lo, &hi)) {
        uint64_t version = gids_kept_version(t);
        gids_kept_minmax(host, n, &lo, &hi);
        gids_kept_put(&kept_, t, v, n, version, lo, hi, true);
        lb_waited();
    }
    pthread_mutex_unlock(&lock_);
    if (!fits) return GIDS_OK;
    /* Where the bounds fit, a GPU checks nothing: they must hold (the values are at hand). */
    gids_kept_minmax(host, n, &least, &most);
    GIDS_CHECK(least >= lo && most <= hi, GIDS_ESTATE,
               "%s (loopback): the index's kept bounds [%lld, %lld] are wrong: it holds %lld; a "
               "GPU would use it unchecked against [0, %lld) (runtime/src/core/ranges.c)",
               op, (long long)lo, (long long)hi, (long long)(least < lo ? least : most),
               (long long)size);
    return GIDS_OK;
}

void lb_division_seen(gids_binop op, const gids_tensor *out, bool divisor_nonzero) {
    bool divides = op == GIDS_FMOD || op == GIDS_REMAINDER || op == GIDS_FLOOR_DIVIDE;
    if (divides && out != NULL && !gids_dtype_is_float(out->dtype) && gids_tensor_numel(out) > 0 &&
        !divisor_nonzero)
        lb_waited();
}

gids_status lb_edges_seen(const char *op, const gids_tensor *edge_index, int64_t num_nodes) {
    if (edge_index == NULL || edge_index->ndim != 2 || edge_index->shape[0] != 2) return GIDS_OK;
    int64_t E = edge_index->shape[1];
    GIDS_TRY(lb_index_seen(op, edge_index, E, E, num_nodes)); /* targets first, as the plugin */
    return lb_index_seen(op, edge_index, 0, E, num_nodes);
}

int64_t lb_dim_size(const gids_tensor *t, int dim) {
    if (t == NULL) return -1;
    if (dim < 0) dim += t->ndim;
    return dim >= 0 && dim < t->ndim ? t->shape[dim] : (t->ndim == 0 ? 1 : -1);
}

bool lb_range_known(const gids_tensor *t, int64_t *lo, int64_t *hi) {
    const int64_t *v = NULL;
    int64_t n = 0;
    if (!gids_kept_region(t, &v, &n)) return false;
    pthread_mutex_lock(&lock_);
    bool found = gids_kept_find(&kept_, t, v, n, false, lo, hi);
    pthread_mutex_unlock(&lock_);
    return found;
}

void lb_range_note(const gids_tensor *t, int64_t lo, int64_t hi) {
    const int64_t *v = NULL;
    int64_t n = 0;
    if (!gids_kept_region(t, &v, &n)) return;
    pthread_mutex_lock(&lock_);
    gids_kept_put(&kept_, t, v, n, gids_kept_version(t), lo, hi, false);
    pthread_mutex_unlock(&lock_);
}
