/* waits.c -- where the host would wait for a GPU, counted (gids_backend.waits), and the index
 * ranges the CUDA plugin keeps to avoid some of those waits, kept here the same way
 * (kept_ranges.h), so that a spec on the loopback device sees the waits a GPU run would make:
 * graphids.gpu.waits() over a training step.
 *
 * Counted as the CUDA plugin counts them: every read of values back to the host, uploads past
 * the page-locked staging's limit (GIDS_PINNED_MAX_COPY; the CUDA plugin's staging pool can also
 * fill up, which is not modelled here), every synchronisation asked for,
 * the ops whose result size the host reads back (nonzero, masked_select, unique), and an int_range
 * whose values' range is not kept.  Not counted here: the range checks inside index ops (gather,
 * scatter, segment and attention ops) and the zero-divisor check of integer division, which wait on
 * a GPU when their index or divisor is not kept; spec/gpu/gpu_check.lua counts those on a GPU.
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

void lb_range_note(const gids_tensor *dst) {
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
        gids_kept_put(&kept_, t, v, n, version, *lo, *hi);
        pthread_mutex_unlock(&lock_);
    }
    return GIDS_OK;
}
