/* allocator.c -- the loopback device's memory: host blocks behind a cache shaped like the CUDA
 * plugin's (runtime/src/cuda/allocator.cu), so the statistics gids_backend.memory reports move
 * as they do on a GPU: a freed block stays reserved until reset, sizes are rounded (512 B up to
 * 1 MiB, 2 MiB above), a request takes the smallest cached block of its class that holds it but
 * never one more than twice its size.
 *
 * The device has a fixed memory, GIDS_LOOPBACK_MEMORY_MIB (default a quarter of the host's RAM):
 * as on a GPU, a request that does not fit first returns the cache, then fails with ENOMEM; the
 * runtime retries once (gids/memory.h's pressure handler) and the Lua binding retries the call
 * after a full GC (l_check).  Without the limit nothing would ever fail on an overcommitting
 * host, the GC (which does not see device bytes) would not run, and a training loop would fill
 * the machine's memory with dead tensors.
 *
 * Every block handed out is filled with 0xFF bytes (NaN in every float dtype, -1 in the signed
 * integers) unless GIDS_LOOPBACK_POISON=0: a device path that reads memory it never wrote gets
 * garbage on a GPU too, and NaN shows up in a check where a lucky zero would not.  Blocks are
 * handed out at tagged addresses (LB_TAG, loopback_impl.h) unless GIDS_LOOPBACK_TAG=0.
 *
 * Pools per stream, as the CUDA plugin's: a block belongs to the stream current when it was
 * allocated (lb_current_stream_id, stream.c; 0 is the default stream) and, freed, is taken again
 * only by allocations on that stream; a destroyed stream's cached blocks are freed and its live
 * blocks belong to the default stream from then on.  Each block carries a header (ALIGN bytes
 * before the address handed out, not counted in the statistics) with its size, its stream and
 * its links: the cache list while cached, the live list while allocated.  record_stream has
 * nothing to wait for here: a loopback stream's work is done when its op returns.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loopback_impl.h"

#define SMALL_MAX GIDS_ALLOC_SMALL_MAX /* backend_common.h: the CUDA plugin's size classes */
#define ALIGN ((size_t)64)

/* The header before each block's bytes: cached blocks are on free_small_ / free_large_, live
 * ones on live_ (doubly linked, so a free unlinks in O(1)). */
typedef struct block {
    struct block *next, *prev;
    size_t size;
    uint64_t stream; /* the id of the stream it belongs to (0: the default stream) */
} block;
_Static_assert(sizeof(block) <= ALIGN, "the block header must fit in ALIGN bytes");

static pthread_mutex_t mu_ = PTHREAD_MUTEX_INITIALIZER;
static block *free_small_, *free_large_, *live_;
static int64_t allocated_, cached_, peak_;
static int64_t limit_ = (int64_t)1 << 32; /* set by lb_alloc_init */
static bool poison_ = true;               /* set by lb_alloc_init */
bool lb_tagged = true;

static int64_t host_ram(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (int64_t)pages * size : (int64_t)1 << 34;
}

static bool env_off(const char *name) {
    const char *v = getenv(name);
    return v != NULL && strcmp(v, "0") == 0;
}

gids_status lb_alloc_init(void) {
    poison_ = !env_off("GIDS_LOOPBACK_POISON");
    lb_tagged = !env_off("GIDS_LOOPBACK_TAG");
    const char *env = getenv("GIDS_LOOPBACK_MEMORY_MIB");
    limit_ = host_ram() / 4;
    if (env == NULL || env[0] == '\0') return GIDS_OK;
    char *end = NULL;
    long long mib = strtoll(env, &end, 10);
    GIDS_CHECK(*end == '\0' && mib > 0 && mib <= ((int64_t)1 << 40), GIDS_EINVAL,
               "loopback: GIDS_LOOPBACK_MEMORY_MIB must be a positive number of MiB, got '%s'",
               env);
    limit_ = (int64_t)mib << 20;
    return GIDS_OK;
}

int64_t lb_total_bytes(void) {
    return limit_;
}

int64_t lb_free_bytes(void) {
    pthread_mutex_lock(&mu_);
    int64_t f = limit_ - allocated_ - cached_;
    pthread_mutex_unlock(&mu_);
    return f > 0 ? f : 0;
}

static void *payload(block *b) {
    return (char *)b + ALIGN;
}

static void link_live(block *b) {
    b->prev = NULL;
    b->next = live_;
    if (live_ != NULL) live_->prev = b;
    live_ = b;
}

static void unlink_live(block *b) {
    if (b->prev != NULL)
        b->prev->next = b->next;
    else
        live_ = b->next;
    if (b->next != NULL) b->next->prev = b->prev;
}

/* Takes the best cached block of stream for size (caller holds mu_), or NULL. */
static block *take_cached(size_t size, uint64_t stream) {
    block **list = size <= SMALL_MAX ? &free_small_ : &free_large_;
    block **best = NULL;
    for (block **b = list; *b != NULL; b = &(*b)->next) {
        if ((*b)->stream == stream && (*b)->size >= size && (*b)->size <= 2 * size &&
            (best == NULL || (*b)->size < (*best)->size))
            best = b;
        if (best != NULL && (*best)->size == size) break; /* none can fit better */
    }
    if (best == NULL) return NULL;
    block *got = *best;
    *best = got->next;
    cached_ -= (int64_t)got->size;
    allocated_ += (int64_t)got->size;
    return got;
}

/* Frees the cached blocks of one stream, or of every stream when all (caller holds mu_). */
static void release_cached_locked(bool all, uint64_t stream) {
    block **lists[2] = {&free_small_, &free_large_};
    for (int k = 0; k < 2; k++) {
        for (block **b = lists[k]; *b != NULL;) {
            block *x = *b;
            if (!all && x->stream != stream) {
                b = &x->next;
                continue;
            }
            *b = x->next;
            cached_ -= (int64_t)x->size;
            free(x);
        }
    }
}

static gids_status alloc_(gids_allocator *self, int device, size_t nbytes, void **out) {
    (void)self;
    GIDS_CHECK(device == 0, GIDS_EDEVICE,
               "loopback alloc: device cuda:%d does not exist (the loopback device is cuda:0)",
               device);
    size_t size = gids_alloc_rounded(nbytes);
    GIDS_CHECK(size != 0, GIDS_EOVERFLOW, "loopback alloc: %zu bytes overflows size_t", nbytes);
    uint64_t stream = lb_current_stream_id();
    pthread_mutex_lock(&mu_);
    block *p = take_cached(size, stream);
    bool fits = size <= (size_t)limit_;
    if (p == NULL && fits && allocated_ + cached_ > limit_ - (int64_t)size)
        release_cached_locked(true, 0); /* as the CUDA plugin: give the cache back first */
    fits = fits && allocated_ <= limit_ - (int64_t)size;
    if (p == NULL && fits && size <= SIZE_MAX - ALIGN) {
        p = aligned_alloc(ALIGN, ALIGN + size);
        if (p != NULL) {
            allocated_ += (int64_t)size;
            p->size = size;
            p->stream = stream;
        }
    }
    if (p == NULL) {
        int64_t a = allocated_, r = allocated_ + cached_;
        pthread_mutex_unlock(&mu_);
        GIDS_FAIL(GIDS_ENOMEM,
                  "loopback alloc: out of memory on cuda:0 (loopback): requested %zu bytes, "
                  "allocated %lld, reserved %lld, device memory %lld (GIDS_LOOPBACK_MEMORY_MIB)",
                  nbytes, (long long)a, (long long)r, (long long)limit_);
    }
    link_live(p);
    if (allocated_ > peak_) peak_ = allocated_;
    pthread_mutex_unlock(&mu_);
    if (poison_) memset(payload(p), 0xFF, size);
    *out = lb_host(payload(p));
    return GIDS_OK;
}

/* The header of the block at device address ptr. */
static block *header(const void *ptr) {
    return (block *)((char *)lb_host(ptr) - ALIGN);
}

static void free_(gids_allocator *self, int device, void *ptr, size_t nbytes) {
    (void)self, (void)device, (void)nbytes;
    if (ptr == NULL) return;
    block *b = header(ptr);
    pthread_mutex_lock(&mu_);
    unlink_live(b);
    block **list = b->size <= SMALL_MAX ? &free_small_ : &free_large_;
    b->next = *list;
    *list = b;
    allocated_ -= (int64_t)b->size;
    cached_ += (int64_t)b->size;
    pthread_mutex_unlock(&mu_);
}

gids_allocator lb_allocator = {"loopback", GIDS_CUDA, alloc_, free_, NULL};

void lb_alloc_stats_get(lb_alloc_stats *out) {
    pthread_mutex_lock(&mu_);
    out->allocated = allocated_;
    out->reserved = allocated_ + cached_;
    out->peak = peak_;
    pthread_mutex_unlock(&mu_);
}

void lb_alloc_reset(void) {
    pthread_mutex_lock(&mu_);
    release_cached_locked(true, 0);
    peak_ = allocated_;
    pthread_mutex_unlock(&mu_);
}

void lb_alloc_drop_stream(uint64_t stream) {
    pthread_mutex_lock(&mu_);
    release_cached_locked(false, stream);
    for (block *b = live_; b != NULL; b = b->next)
        if (b->stream == stream) b->stream = 0;
    pthread_mutex_unlock(&mu_);
}

bool lb_alloc_owns(const void *ptr) {
    pthread_mutex_lock(&mu_);
    block *h = header(ptr);
    bool found = false;
    for (block *b = live_; b != NULL && !found; b = b->next) found = b == h;
    pthread_mutex_unlock(&mu_);
    return found;
}
