/* kept_ranges.h -- internal: the least and greatest value of index tensors a device backend has
 * read back, kept so that the next look at the same values costs no wait for the device.  The
 * CUDA plugin keeps them for its index checks and gids_int_range (runtime/src/cuda/
 * index_range.cu); the loopback device keeps them the same way for gids_int_range, so that the
 * waits it counts (gids_backend.waits) are the ones a GPU would make.
 *
 * An entry stands for the values at v (n i64 values in the memory of tensor t) while t's storage
 * is at `version`: every in-place write bumps the version, so an entry never outlives the values
 * it describes, and the entry holds a reference to t, so the memory cannot be freed and handed
 * to another tensor while it is kept.  A range check may use the range of values around the
 * ones it checks (an edge_index row inside the whole edge_index: bounds of a superset are
 * bounds), and bounds noted by the runtime for an op's result (gids_range_note: the rows an
 * index_select took from a tensor of known range lie in that range); gids_int_range, which
 * promises the least and the greatest value, only the range read of exactly these values.
 *
 * Not thread-safe: the backend holds its own lock around each call.  Static inline, in C11 and
 * C++17 alike; both plugins resolve gids_tensor_retain/release from the process.
 */
#ifndef GIDS_KEPT_RANGES_H
#define GIDS_KEPT_RANGES_H

#include <stdbool.h>
#include <stdint.h>

#include "gids/tensor.h"

/* Per device: a training step's index tensors (edges, batch vector, ids, labels, the self-loop
 * forms and what they are made of) and spares; the least recently used entry gives way. */
#define GIDS_KEPT_SLOTS 32
/* Ranges of more values are not kept: an entry pins its tensor's memory until it is replaced,
 * and a check of so many values costs little beside the op that reads them.  The values whose
 * memory the entries of a device pin stay within GIDS_KEPT_BYTES: the least recently used
 * entries give way first. */
#define GIDS_KEPT_MAX ((int64_t)1 << 22)
#define GIDS_KEPT_BYTES ((int64_t)256 << 20)

typedef struct gids_kept_range {
    gids_tensor *t; /* retained; NULL: a free slot */
    const int64_t *v;
    int64_t n;
    uint64_t version;
    int64_t lo, hi;
    bool exact;    /* lo and hi are the least and greatest value (else bounds) */
    uint64_t used; /* when last found or kept */
} gids_kept_range;

typedef struct gids_kept_ranges {
    gids_kept_range slot[GIDS_KEPT_SLOTS];
    uint64_t clock;
    int64_t bytes; /* of the values the entries stand for */
} gids_kept_ranges;

/* Frees slot e. */
static inline void gids_kept_drop(gids_kept_ranges *k, gids_kept_range *e) {
    if (e->t != NULL) k->bytes -= e->n * (int64_t)sizeof(int64_t);
    gids_tensor_release(e->t);
    e->t = NULL;
    e->used = 0;
}

/* The storage version of t now (read before the values are, so that a write enqueued meanwhile
 * makes the entry stale rather than wrong). */
static inline uint64_t gids_kept_version(const gids_tensor *t) {
    return __atomic_load_n(&t->storage->version, __ATOMIC_RELAXED);
}

/* Bounds of the n values at v (in like's memory) from a kept range: of exactly these values
 * when `exact`, else of any kept values around them. */
static inline bool gids_kept_find(gids_kept_ranges *k, const gids_tensor *like, const int64_t *v,
                                  int64_t n, bool exact, int64_t *lo, int64_t *hi) {
    for (int i = 0; i < GIDS_KEPT_SLOTS; i++) {
        gids_kept_range *e = &k->slot[i];
        bool covers =
            exact ? e->exact && v == e->v && n == e->n : v >= e->v && v + n <= e->v + e->n;
        if (e->t != NULL && e->t->storage == like->storage && covers &&
            e->version == gids_kept_version(like)) {
            e->used = ++k->clock;
            *lo = e->lo;
            *hi = e->hi;
            return true;
        }
    }
    return false;
}

/* Keeps [lo, hi] for the n values at v in like's memory, as they were at version: their least
 * and greatest value when `exact`, else bounds. */
static inline void gids_kept_put(gids_kept_ranges *k, const gids_tensor *like, const int64_t *v,
                                 int64_t n, uint64_t version, int64_t lo, int64_t hi, bool exact) {
    if (n <= 0 || n > GIDS_KEPT_MAX) return;
    gids_kept_range *e = &k->slot[0]; /* the least recently used (a free slot has used 0) */
    for (int i = 1; i < GIDS_KEPT_SLOTS; i++)
        if (k->slot[i].used < e->used) e = &k->slot[i];
    gids_kept_drop(k, e);
    int64_t add = n * (int64_t)sizeof(int64_t);
    while (k->bytes + add > GIDS_KEPT_BYTES) { /* the next least recently used give way */
        gids_kept_range *old = NULL;
        for (int i = 0; i < GIDS_KEPT_SLOTS; i++)
            if (k->slot[i].t != NULL && (old == NULL || k->slot[i].used < old->used))
                old = &k->slot[i];
        if (old == NULL) break;
        gids_kept_drop(k, old);
    }
    k->bytes += add;
    gids_tensor_retain((gids_tensor *)like);
    e->t = (gids_tensor *)like;
    e->v = v;
    e->n = n;
    e->version = version;
    e->lo = lo;
    e->hi = hi;
    e->exact = exact;
    e->used = ++k->clock;
}

/* The least and the greatest of the n >= 1 values at host. */
static inline void gids_kept_minmax(const int64_t *host, int64_t n, int64_t *lo, int64_t *hi) {
    *lo = *hi = host[0];
    for (int64_t i = 1; i < n; i++) {
        *lo = host[i] < *lo ? host[i] : *lo;
        *hi = host[i] > *hi ? host[i] : *hi;
    }
}

/* Keeps the range of the n values at host (just copied whole into like, whose version the copy
 * has bumped already): a tensor moved to the device brings its range along. */
static inline void gids_kept_note(gids_kept_ranges *k, const gids_tensor *like, const int64_t *host,
                                  int64_t n) {
    if (n <= 0 || n > GIDS_KEPT_MAX) return;
    int64_t lo = 0, hi = 0;
    gids_kept_minmax(host, n, &lo, &hi);
    gids_kept_put(k, like, (const int64_t *)gids_tensor_data(like), n, gids_kept_version(like), lo,
                  hi, true);
}

/* Whether t's values are one stretch of i64 memory a range can be kept for (its data and
 * count in *v, *n). */
static inline bool gids_kept_region(const gids_tensor *t, const int64_t **v, int64_t *n) {
    *n = gids_tensor_numel(t);
    *v = (const int64_t *)gids_tensor_data(t);
    return t->dtype == GIDS_I64 && *n > 0 && *n <= GIDS_KEPT_MAX && gids_tensor_is_contiguous(t);
}

/* Forgets every range (gpu.reset()). */
static inline void gids_kept_clear(gids_kept_ranges *k) {
    for (int i = 0; i < GIDS_KEPT_SLOTS; i++) gids_kept_drop(k, &k->slot[i]);
    k->clock = 0;
}

#endif
