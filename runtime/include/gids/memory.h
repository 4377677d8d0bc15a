/* gids/memory.h -- allocators, storage and memory statistics.
 *
 *   gids_mem_stats st;
 *   gids_memory_stats(GIDS_DEVICE_CPU, &st);
 *   printf("%lld bytes in %lld live tensors (peak %lld)\n",
 *          (long long)st.current_bytes, (long long)st.live_tensors, (long long)st.peak_bytes);
 *
 * Storage is a refcounted block of bytes obtained from the allocator of its device.  Tensors
 * are views onto a storage; several tensors can share one.  The CUDA plugin registers its own
 * allocator for GIDS_CUDA devices; the CPU allocator is built in.
 */
#ifndef GIDS_MEMORY_H
#define GIDS_MEMORY_H

#include <stdint.h>

#include "gids/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gids_mem_stats {
    int64_t current_bytes; /* bytes held by live storages */
    int64_t peak_bytes;    /* highest current_bytes since start or the last reset_peak */
    int64_t live_tensors;  /* tensor handles not yet released */
    int64_t live_storages;
    int64_t total_allocs; /* number of allocations since start */
    int64_t cached_bytes; /* freed blocks kept by the allocator for reuse (not in current) */
} gids_mem_stats;

typedef struct gids_allocator gids_allocator;
struct gids_allocator {
    const char *name;
    gids_device_type device_type;
    /* Return GIDS_OK and a block of at least nbytes (64-byte aligned on the CPU), or a status
     * with a message naming the requested size. nbytes == 0 must give a valid unique pointer. */
    gids_status (*alloc)(gids_allocator *self, int device_index, size_t nbytes, void **out);
    void (*free)(gids_allocator *self, int device_index, void *ptr, size_t nbytes);
    void *ctx;
};

/* BORROW: the allocator used for new storage on that device type (NULL if none registered). */
gids_allocator *gids_allocator_get(gids_device_type t);
/* BORROW: a registered allocator must outlive every storage allocated with it. */
void gids_allocator_register(gids_device_type t, gids_allocator *a);

/* The counters of dev into *out (EINVAL for a NULL out; the only failure). */
gids_status gids_memory_stats(gids_device dev, gids_mem_stats *out);
void gids_memory_reset_peak(gids_device dev);
/* The CPU allocator keeps freed blocks of 1 MiB and more (up to a byte limit) and hands them
 * out again for the same size class (sizes rounded up to an eighth of an octave, so batches of
 * slightly different sizes share blocks): glibc gives such blocks back to the kernel on free, so
 * without the cache a loop producing a 64 MB tensor per step page-faults every page every step.
 * The limit defaults to a quarter of the machine's memory; a freed block that does not fit
 * evicts the oldest kept ones.  empty_cache returns every kept block; set_cache_limit(0)
 * disables keeping. */
void gids_memory_empty_cache(gids_device dev);
void gids_memory_set_cache_limit(gids_device dev, int64_t bytes);
int64_t gids_memory_cache_limit(gids_device dev);

/* Called by the binding's heap tracking: bytes currently held on the CPU, cheap (one atomic). */
int64_t gids_memory_cpu_bytes(void);
/* The same for every device off the CPU together (the binding paces its GC by both). */
int64_t gids_memory_device_bytes(void);

/* Memory pressure: when an allocation fails, the storage allocator calls this handler (when one
 * is set), gives the device's cached blocks back (gids_memory_empty_cache) and retries once.  A
 * host whose garbage collector holds dead tensors can free them here.  The Lua binding sets
 * none: a GC there would run finalizers in the middle of a runtime call, on whichever thread is
 * allocating; it retries the whole call after a full GC instead (l_check, lua/src/binding.h).
 * fn == NULL removes it. */
typedef void (*gids_pressure_fn)(void *ctx, gids_device dev, size_t nbytes);
void gids_memory_set_pressure_handler(gids_pressure_fn fn, void *ctx);
/* BORROW: the current handler's context (NULL when none), so an owner can tell it is its own. */
void *gids_memory_pressure_ctx(void);

typedef struct gids_storage gids_storage;
struct gids_storage {
    int32_t refcount; /* atomic; use retain/release */
    gids_device device;
    void *data;
    size_t nbytes;
    uint64_t version;          /* bumped by in-place writes; autograd compares it */
    gids_allocator *allocator; /* NULL for wrapped external memory */
    bool inline_data;          /* a small CPU block allocated together with this header */
    void (*deleter)(void *data, void *ctx); /* wrapped memory: called on last release */
    void *deleter_ctx;
    /* How many live leaf tensors over this memory require grad (gids_set_requires_grad; a leaf
     * freed while requiring grad counts itself out): nonzero marks a parameter's memory for the
     * autocast cast cache (gids/amp.h), including views made under no_grad, which carry no
     * autograd link back to their leaf.  A count, so that freezing one of two leaves over the
     * same memory leaves the other's mark. */
    uint32_t grad_leaves;
};

/* NEW: storage of nbytes on dev (contents undefined). */
gids_status gids_storage_new(gids_storage **out, gids_device dev, size_t nbytes);
/* NEW: storage over caller memory; deleter(data, ctx) runs on last release (may be NULL).
 * The bytes are not counted in the statistics: the caller owns them. */
gids_status gids_storage_wrap(gids_storage **out, gids_device dev, void *data, size_t nbytes,
                              void (*deleter)(void *, void *), void *ctx);
void gids_storage_retain(gids_storage *s);  /* NULL is ignored */
void gids_storage_release(gids_storage *s); /* NULL is ignored */

#ifdef __cplusplus
}
#endif
#endif
