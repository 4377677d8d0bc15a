/* live_streams.h -- internal: the ids of a backend's live streams, so that a stream destroyed
 * while another thread has it current stops being that thread's current stream (the CUDA
 * plugin's stream.cu and the loopback's stream.c; gids/backend.h's stream_destroy).
 *
 * A thread's current stream is thread-local, so the thread that destroys a stream cannot clear
 * another thread's pointer (a Lua state closed on one thread destroys the streams a state on
 * another thread set).  Each thread keeps its current streams' ids (never reused, unlike a
 * freed handle's address) beside the pointers, and the count of destroys it last checked
 * against.  Its lookups (every op) compare that count with the backend's: equal, the pointers
 * are live; different, gids_live_forget checks the ids under the lock once and clears the ones
 * no longer live, so the thread is on the default stream from then on.  A thread with no stream
 * set pays nothing, one with a stream set pays one load per lookup.  An op running while
 * another thread destroys its stream is still a race (as using any handle being destroyed).
 *
 * Static inline, in C11 and C++17 alike (GCC's __atomic builtins, POSIX mutex); a backend has
 * one gids_live_streams, initialised with GIDS_LIVE_STREAMS_INIT.
 */
#ifndef GIDS_LIVE_STREAMS_H
#define GIDS_LIVE_STREAMS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "gids/backend.h"
#include "gids/status.h"

typedef struct gids_live_streams {
    pthread_mutex_t lock;
    uint64_t *ids; /* the live streams' ids, in no order */
    size_t n, cap;
    uint64_t destroys; /* streams destroyed so far; written under the lock, read without it */
} gids_live_streams;

#define GIDS_LIVE_STREAMS_INIT                                                                     \
    { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0 }

/* Records a new stream's id; ENOMEM naming op when the list cannot grow. */
static inline gids_status gids_live_add(gids_live_streams *r, const char *op, uint64_t id) {
    pthread_mutex_lock(&r->lock);
    if (r->n == r->cap) {
        size_t cap = r->cap != 0 ? 2 * r->cap : 16;
        uint64_t *ids = (uint64_t *)realloc(r->ids, cap * sizeof *ids);
        if (ids == NULL) {
            pthread_mutex_unlock(&r->lock);
            GIDS_FAIL(GIDS_ENOMEM, "%s: out of host memory for the list of live streams", op);
        }
        r->ids = ids;
        r->cap = cap;
    }
    r->ids[r->n++] = id;
    pthread_mutex_unlock(&r->lock);
    return GIDS_OK;
}

/* Forgets id (before its handle is freed): every thread's next lookup checks its ids. */
static inline void gids_live_remove(gids_live_streams *r, uint64_t id) {
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++)
        if (r->ids[i] == id) {
            r->ids[i] = r->ids[--r->n];
            break;
        }
    __atomic_add_fetch(&r->destroys, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&r->lock);
}

/* Whether a stream was destroyed since the thread's check at seen (the lookups' one load). */
static inline bool gids_live_moved(gids_live_streams *r, uint64_t seen) {
    return __atomic_load_n(&r->destroys, __ATOMIC_ACQUIRE) != seen;
}

/* Sets current[d] to NULL for each of the thread's n current streams whose id (ids[d]) is no
 * longer live, and *seen to the count of destroys checked against.  Returns how many it
 * cleared. */
static inline int gids_live_forget(gids_live_streams *r, uint64_t *seen, gids_stream **current,
                                   const uint64_t *ids, int n) {
    int cleared = 0;
    pthread_mutex_lock(&r->lock);
    *seen = __atomic_load_n(&r->destroys, __ATOMIC_RELAXED);
    for (int d = 0; d < n; d++) {
        if (current[d] == NULL) continue;
        bool live = false;
        for (size_t i = 0; i < r->n && !live; i++) live = r->ids[i] == ids[d];
        if (!live) {
            current[d] = NULL;
            cleared++;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return cleared;
}

#endif
