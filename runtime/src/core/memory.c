/* memory.c -- allocators, refcounted storage and per-device byte counters.
 *
 * Counters are atomics so that any thread may allocate; peak is maintained with a CAS loop.
 * Wrapped (caller-owned) memory is not counted: the statistics describe what graphids holds.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core_impl.h"
#include "gids/backend.h"
#include "gids/memory.h"

#define SLOTS 17 /* slot 0: CPU; slots 1..16: cuda:0..15 */

typedef struct {
    _Atomic int64_t current, peak, tensors, storages, allocs;
} counters;

static counters counters_[SLOTS];

static int64_t cpu_cache_bytes_(void);

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

void gids_mem_count_tensor(gids_device dev, int delta) {
    atomic_fetch_add(&slot_(dev)->tensors, delta);
}

gids_status gids_memory_stats(gids_device dev, gids_mem_stats *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "memory_stats: out is NULL");
    counters *c = slot_(dev);
    out->current_bytes = atomic_load(&c->current);
    out->peak_bytes = atomic_load(&c->peak);
    out->live_tensors = atomic_load(&c->tensors);
    out->live_storages = atomic_load(&c->storages);
    out->total_allocs = atomic_load(&c->allocs);
    out->cached_bytes = dev.type == GIDS_CPU ? cpu_cache_bytes_() : 0;
    return GIDS_OK;
}

void gids_memory_reset_peak(gids_device dev) {
    counters *c = slot_(dev);
    atomic_store(&c->peak, atomic_load(&c->current));
}

int64_t gids_memory_cpu_bytes(void) {
    return atomic_load(&counters_[0].current);
}

int64_t gids_memory_device_bytes(void) {
    int64_t n = 0;
    for (int i = 1; i < SLOTS; i++) n += atomic_load(&counters_[i].current);
    return n;
}

/* ---- the CPU allocator: 64-byte aligned for SIMD loads and to keep BLAS panels on lines ---- */

/* Large-block cache (see memory.h).  Blocks are matched by size class: a size is rounded up to
 * an eighth of an octave (CACHE_CLASS_BITS: at most 12.5% more than asked), so the tensors of
 * batches whose node and edge counts vary a little share their blocks.  With a 64 KiB grain
 * instead, the GAT's JK LSTM gates (about 12 MB for 64 hcrl_sa windows) fell in some 30
 * different sizes, most of those allocations missed the cache and their pages were faulted in
 * afresh (hcrl_sa GAT fit: minor faults 360 000 -> 190 000, max RSS 0.90 -> 0.65 GB, system
 * time -30%; bench/results/cpu-2026-11-28-vii.txt).  A block that does not fit (slots or bytes)
 * evicts the least recently cached ones: without eviction, blocks of a finished workload (an
 * earlier model, other batch sizes) held the cache for good and every block of the next one went
 * back to the kernel and was faulted in afresh each step (a GATv2 layer over 1024 graphs took
 * 470 ms a step after two other models had run in the process, 165 ms with an empty cache). */
#define CACHE_MIN_BYTES ((size_t)1 << 20)
#define INLINE_BYTES 256
#define CACHE_CLASS_BITS 3
#define CACHE_SLOTS 64

static struct {
    pthread_mutex_t mu;
    void *ptr[CACHE_SLOTS];
    size_t size[CACHE_SLOTS];
    uint64_t stamp[CACHE_SLOTS]; /* when cached: the smallest is evicted first */
    uint64_t clock;
    int n;
    int64_t bytes;
    int64_t limit; /* -1: not yet set, use the default */
} cache_ = {PTHREAD_MUTEX_INITIALIZER, {0}, {0}, {0}, 0, 0, 0, -1};

/* Default limit: a quarter of the machine's memory.  A training step's large blocks (the JK
 * LSTM of the large GAT at 1024 graphs frees about 4 GB of them a step) must all fit for the
 * cache to pay: with a 1 GiB limit that step's bidirectional LSTM took 10.3 s, with 6 GiB
 * 8.7 s (2 threads, 23 GB machine); the time went to page faults and zeroing fresh pages. */
static int64_t cache_limit_locked_(void) {
    if (cache_.limit < 0) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        int64_t phys = pages > 0 && page > 0 ? (int64_t)pages * page : (int64_t)8 << 30;
        cache_.limit = phys / 4;
    }
    return cache_.limit;
}

static size_t rounded_(size_t nbytes) {
    if (nbytes < CACHE_MIN_BYTES) return (nbytes + 63) / 64 * 64;
    /* (no request of a tensor comes near: sizes are int64; the rounding below must not wrap) */
    if (nbytes > SIZE_MAX / 2) return nbytes;
    /* the leading bit and the next CACHE_CLASS_BITS kept, the rest rounded up */
    size_t grain =
        (size_t)1 << (63 - __builtin_clzll((unsigned long long)nbytes) - CACHE_CLASS_BITS);
    return (nbytes + grain - 1) / grain * grain;
}

static int64_t cpu_cache_bytes_(void) {
    pthread_mutex_lock(&cache_.mu);
    int64_t b = cache_.bytes;
    pthread_mutex_unlock(&cache_.mu);
    return b;
}

/* Removes entry i (the last one takes its place) and returns its block; cache_.mu held. */
static void *cache_remove_locked_(int i) {
    void *p = cache_.ptr[i];
    cache_.bytes -= (int64_t)cache_.size[i];
    cache_.n--;
    cache_.ptr[i] = cache_.ptr[cache_.n];
    cache_.size[i] = cache_.size[cache_.n];
    cache_.stamp[i] = cache_.stamp[cache_.n];
    return p;
}

static void *cache_take_(size_t size) {
    void *p = NULL;
    pthread_mutex_lock(&cache_.mu);
    for (int i = cache_.n - 1; i >= 0; i--)
        if (cache_.size[i] == size) {
            p = cache_remove_locked_(i);
            break;
        }
    pthread_mutex_unlock(&cache_.mu);
    return p;
}

static bool cache_put_(void *p, size_t size) {
    void *evicted[CACHE_SLOTS];
    int nev = 0;
    bool kept = false;
    pthread_mutex_lock(&cache_.mu);
    int64_t limit = cache_limit_locked_();
    if ((int64_t)size <= limit) {
        /* make room by evicting the oldest blocks */
        while (cache_.n > 0 && (cache_.n == CACHE_SLOTS || cache_.bytes + (int64_t)size > limit)) {
            int old = 0;
            for (int i = 1; i < cache_.n; i++)
                if (cache_.stamp[i] < cache_.stamp[old]) old = i;
            evicted[nev++] = cache_remove_locked_(old);
        }
        cache_.ptr[cache_.n] = p;
        cache_.size[cache_.n] = size;
        cache_.stamp[cache_.n++] = ++cache_.clock;
        cache_.bytes += (int64_t)size;
        kept = true;
    }
    pthread_mutex_unlock(&cache_.mu);
    for (int i = 0; i < nev; i++) free(evicted[i]);
    return kept;
}

static void cache_empty_(void) {
    pthread_mutex_lock(&cache_.mu);
    for (int i = 0; i < cache_.n; i++) free(cache_.ptr[i]);
    cache_.n = 0;
    cache_.bytes = 0;
    pthread_mutex_unlock(&cache_.mu);
}

void gids_memory_empty_cache(gids_device dev) {
    if (dev.type != GIDS_CPU) return;
    cache_empty_();
#ifdef __GLIBC__
    /* glibc raises its mmap threshold after the first large free, so later blocks of 1-32 MiB
     * come from the heap and free() keeps their pages: RSS stayed at a fit's peak (500 MB after
     * 100 x 4 MB tensors, 12 MB with trimming).  Giving the cache back means giving them back. */
    malloc_trim(0);
#endif
}

void gids_memory_set_cache_limit(gids_device dev, int64_t bytes) {
    if (dev.type != GIDS_CPU) return;
    pthread_mutex_lock(&cache_.mu);
    cache_.limit = bytes < 0 ? 0 : bytes;
    pthread_mutex_unlock(&cache_.mu);
    cache_empty_();
}

int64_t gids_memory_cache_limit(gids_device dev) {
    if (dev.type != GIDS_CPU) return 0;
    pthread_mutex_lock(&cache_.mu);
    int64_t l = cache_limit_locked_();
    pthread_mutex_unlock(&cache_.mu);
    return l;
}

static gids_status cpu_alloc_(gids_allocator *self, int device_index, size_t nbytes, void **out) {
    size_t rounded = rounded_(nbytes);
    if (rounded < nbytes) GIDS_FAIL(GIDS_EOVERFLOW, "alloc: %zu bytes overflows size_t", nbytes);
    void *p = rounded >= CACHE_MIN_BYTES ? cache_take_(rounded) : NULL;
    if (p == NULL) p = aligned_alloc(64, rounded ? rounded : 64);
    if (p == NULL)
        GIDS_FAIL(GIDS_ENOMEM,
                  "out of CPU memory: %zu bytes requested, %lld held by tensors, cache emptied",
                  nbytes, (long long)gids_memory_cpu_bytes());
    *out = p;
    return GIDS_OK;
}

static void cpu_free_(gids_allocator *self, int device_index, void *ptr, size_t nbytes) {
    size_t rounded = rounded_(nbytes);
    if (rounded >= CACHE_MIN_BYTES && cache_put_(ptr, rounded)) return;
    free(ptr);
}

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

void *gids_memory_pressure_ctx(void) {
    return pressure_.ctx;
}

/* ---- storage ---- */
gids_status gids_storage_new(gids_storage **out, gids_device dev, size_t nbytes) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "storage: out is NULL");
    /* a CUDA index is checked by its allocator: a device count per allocation would cost */
    if (dev.type == GIDS_CPU) GIDS_TRY(gids_device_check("storage", dev));
    gids_allocator *a = gids_allocator_get(dev.type);
    if (a == NULL && dev.type == GIDS_CUDA) {
        /* The first CUDA tensor of a C program loads the plugin here (Lua loads it earlier), and
         * a plugin that cannot load says why instead of "no allocator". */
        GIDS_TRY(gids_backend_load());
        a = gids_allocator_get(dev.type);
    }
    if (a == NULL) {
        char buf[16];
        GIDS_FAIL(GIDS_EDEVICE, "storage: no allocator for %s%s", /* "cuda:0", "device type 7" */
                  gids_device_str(dev, buf, sizeof buf),
                  dev.type == GIDS_CUDA ? " (is the CUDA plugin loaded?)" : "");
    }
    gids_storage *s = NULL;
    gids_status st = GIDS_OK;
    if (a == &cpu_allocator_ && nbytes <= INLINE_BYTES) {
        /* Small blocks (scalars, losses, per-step bookkeeping) share one allocation with their
         * header: one malloc and one free instead of two of each, a tenth of a small op. */
        s = malloc(sizeof *s + 63 + (nbytes ? nbytes : 1));
        if (s == NULL) GIDS_FAIL(GIDS_ENOMEM, "storage: out of memory for %zu bytes", nbytes);
        memset(s, 0, sizeof *s);
        s->data = (void *)(((uintptr_t)(s + 1) + 63) & ~(uintptr_t)63);
        s->inline_data = true;
    } else {
        s = calloc(1, sizeof *s);
        if (s == NULL) GIDS_FAIL(GIDS_ENOMEM, "storage: out of memory for the storage header");
        st = a->alloc(a, dev.index, nbytes, &s->data);
    }
    if (st == GIDS_ENOMEM) {
        /* Collect what only the GC knows is dead, give every cached block back, retry once. */
        if (pressure_.fn) pressure_.fn(pressure_.ctx, dev, nbytes);
        gids_memory_empty_cache(dev);
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
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "storage: out is NULL");
    GIDS_CHECK(data != NULL || nbytes == 0, GIDS_EINVAL, "storage: data is NULL with %zu bytes",
               nbytes);
    GIDS_TRY(gids_device_check("storage", dev));
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

void gids_storage_retain(gids_storage *s) {
    if (s == NULL) return; /* as release: NULL is ignored */
    __atomic_add_fetch(&s->refcount, 1, __ATOMIC_RELAXED);
}

void gids_storage_release(gids_storage *s) {
    if (s == NULL) return;
    if (__atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    counters *c = slot_(s->device);
    atomic_fetch_sub(&c->storages, 1);
    if (s->inline_data) {
        add_bytes_(s->device, -(int64_t)s->nbytes);
    } else if (s->allocator) {
        s->allocator->free(s->allocator, s->device.index, s->data, s->nbytes);
        add_bytes_(s->device, -(int64_t)s->nbytes);
    } else if (s->deleter) {
        s->deleter(s->data, s->deleter_ctx);
    }
    free(s);
}
