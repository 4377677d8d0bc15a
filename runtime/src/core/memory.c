/* memory.c -- allocators, refcounted storage and per-device byte counters.
 *
 * Counters are atomics so that any thread may allocate; peak is maintained with a CAS loop.
 * Wrapped (caller-owned) memory is not counted: the statistics describe what graphids holds.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core_impl.h"
#include "gids/memory.h"

#define SLOTS 17 /* slot 0: CPU; slots 1..16: cuda:0..15 */

typedef struct {
    _Atomic int64_t current, peak, tensors, storages, allocs;
} counters;

static counters counters_[SLOTS];

static counters *slot_(gids_device dev) {
    if (dev.type == GIDS_CPU) return &counters_[0];
    int i = dev.index < 0 ? 0 : (dev.index > SLOTS - 2 ? SLOTS - 2 : dev.index);
    return &counters_[1 + i];
}

static void add_bytes_(gids_device dev, int64_t delta) {
    counters *c = slot_(dev);
    int64_t now = atomic_fetch_add(&c->current, delta) + delta;
    int64_t peak = atomic_load(&c->peak);
    while (now > peak && !atomic_compare_exchange_weak(&c->peak, &peak, now)) {
    }
}

void gids_mem_count_tensor(gids_device dev, int delta) { atomic_fetch_add(&slot_(dev)->tensors, delta); }

void gids_memory_stats(gids_device dev, gids_mem_stats *out) {
    counters *c = slot_(dev);
    out->current_bytes = atomic_load(&c->current);
    out->peak_bytes = atomic_load(&c->peak);
    out->live_tensors = atomic_load(&c->tensors);
    out->live_storages = atomic_load(&c->storages);
    out->total_allocs = atomic_load(&c->allocs);
}

void gids_memory_reset_peak(gids_device dev) {
    counters *c = slot_(dev);
    atomic_store(&c->peak, atomic_load(&c->current));
}

int64_t gids_memory_cpu_bytes(void) { return atomic_load(&counters_[0].current); }

/* ---- the CPU allocator: 64-byte aligned for SIMD loads and to keep BLAS panels on lines ---- */
static gids_status cpu_alloc_(gids_allocator *self, int device_index, size_t nbytes, void **out) {
    size_t rounded = (nbytes + 63) & ~(size_t)63;
    if (rounded < nbytes) GIDS_FAIL(GIDS_EOVERFLOW, "alloc: %zu bytes overflows size_t", nbytes);
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (p == NULL)
        GIDS_FAIL(GIDS_ENOMEM, "alloc: out of CPU memory allocating %zu bytes (%lld bytes in use)",
                  nbytes, (long long)gids_memory_cpu_bytes());
    *out = p;
    return GIDS_OK;
}

static void cpu_free_(gids_allocator *self, int device_index, void *ptr, size_t nbytes) { free(ptr); }

static gids_allocator cpu_allocator_ = {"cpu", GIDS_CPU, cpu_alloc_, cpu_free_, NULL};
static gids_allocator *_Atomic allocators_[2] = {&cpu_allocator_, NULL};

gids_allocator *gids_allocator_get(gids_device_type t) {
    return (unsigned)t < 2 ? atomic_load(&allocators_[t]) : NULL;
}

void gids_allocator_register(gids_device_type t, gids_allocator *a) {
    if ((unsigned)t < 2) atomic_store(&allocators_[t], a);
}

/* ---- memory pressure ---- */
static struct {
    gids_pressure_fn fn;
    void *ctx;
} pressure_;

void gids_memory_set_pressure_handler(gids_pressure_fn fn, void *ctx) {
    pressure_.fn = fn;
    pressure_.ctx = fn ? ctx : NULL;
}

void *gids_memory_pressure_ctx(void) { return pressure_.ctx; }

/* ---- storage ---- */
gids_status gids_storage_new(gids_storage **out, gids_device dev, size_t nbytes) {
    gids_allocator *a = gids_allocator_get(dev.type);
    if (a == NULL) {
        char buf[16];
        GIDS_FAIL(GIDS_EDEVICE, "storage: no allocator for device %s (is the CUDA plugin loaded?)",
                  gids_device_str(dev, buf, sizeof buf));
    }
    gids_storage *s = calloc(1, sizeof *s);
    if (s == NULL) GIDS_FAIL(GIDS_ENOMEM, "storage: out of memory for the storage header");
    gids_status st = a->alloc(a, dev.index, nbytes, &s->data);
    if (st == GIDS_ENOMEM && pressure_.fn) {
        pressure_.fn(pressure_.ctx, dev, nbytes);
        st = a->alloc(a, dev.index, nbytes, &s->data);
    }
    if (st != GIDS_OK) {
        free(s);
        return st;
    }
    s->refcount = 1;
    s->device = dev;
    s->nbytes = nbytes;
    s->allocator = a;
    counters *c = slot_(dev);
    add_bytes_(dev, (int64_t)nbytes);
    atomic_fetch_add(&c->storages, 1);
    atomic_fetch_add(&c->allocs, 1);
    *out = s;
    return GIDS_OK;
}

gids_status gids_storage_wrap(gids_storage **out, gids_device dev, void *data, size_t nbytes,
                              void (*deleter)(void *, void *), void *ctx) {
    gids_storage *s = calloc(1, sizeof *s);
    if (s == NULL) GIDS_FAIL(GIDS_ENOMEM, "storage: out of memory for the storage header");
    s->refcount = 1;
    s->device = dev;
    s->data = data;
    s->nbytes = nbytes;
    s->deleter = deleter;
    s->deleter_ctx = ctx;
    atomic_fetch_add(&slot_(dev)->storages, 1);
    *out = s;
    return GIDS_OK;
}

void gids_storage_retain(gids_storage *s) { __atomic_add_fetch(&s->refcount, 1, __ATOMIC_RELAXED); }

void gids_storage_release(gids_storage *s) {
    if (s == NULL) return;
    if (__atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    counters *c = slot_(s->device);
    atomic_fetch_sub(&c->storages, 1);
    if (s->allocator) {
        s->allocator->free(s->allocator, s->device.index, s->data, s->nbytes);
        add_bytes_(s->device, -(int64_t)s->nbytes);
    } else if (s->deleter) {
        s->deleter(s->data, s->deleter_ctx);
    }
    free(s);
}
