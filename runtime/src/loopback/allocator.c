/* allocator.c -- the loopback device's memory: host blocks behind a cache shaped like the CUDA
 * plugin's (runtime/src/cuda/allocator.cu), so the statistics gids_backend.memory reports move
 * as they do on a GPU: a freed block stays reserved until reset, sizes are rounded (512 B up to
 * 1 MiB, 2 MiB above), a request takes the smallest cached block of its class that holds it but
 * never one more than twice its size.  The device's memory is the machine's RAM: a request over
 * it is out of memory at once (the 4 TiB request of gpu_check.lua must fail, not overcommit).
 *
 * Every block handed out is filled with 0xFF bytes (NaN in every float dtype, -1 in the signed
 * integers) unless GIDS_LOOPBACK_POISON=0: a device path that reads memory it never wrote gets
 * garbage on a GPU too, and NaN shows up in a check where a lucky zero would not.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loopback_impl.h"

#define SMALL_MAX ((size_t)1 << 20)
#define SMALL_GRAIN ((size_t)512)
#define LARGE_GRAIN ((size_t)2 << 20)
#define ALIGN ((size_t)64)

/* A cached block keeps its list link in its own first bytes (every block is >= 512 bytes). */
typedef struct block {
    struct block *next;
    size_t size;
} block;

static pthread_mutex_t mu_ = PTHREAD_MUTEX_INITIALIZER;
static block *free_small_, *free_large_;
static int64_t allocated_, cached_, peak_;

static size_t rounded(size_t n) {
    size_t g = n <= SMALL_MAX ? SMALL_GRAIN : LARGE_GRAIN;
    if (n == 0) return SMALL_GRAIN; /* a zero-byte request still gets a unique pointer */
    if (n > SIZE_MAX - g) return 0;
    return (n + g - 1) / g * g;
}

int64_t lb_total_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (int64_t)pages * size : (int64_t)1 << 34;
}

int64_t lb_free_bytes(void) {
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    int64_t f = pages > 0 && size > 0 ? (int64_t)pages * size : lb_total_bytes();
    return f > 0 ? f : 1;
}

/* Takes the best cached block for size (caller holds mu_), or NULL. */
static void *take_cached(size_t size) {
    block **list = size <= SMALL_MAX ? &free_small_ : &free_large_;
    block **best = NULL;
    for (block **b = list; *b != NULL; b = &(*b)->next)
        if ((*b)->size >= size && (*b)->size <= 2 * size &&
            (best == NULL || (*b)->size < (*best)->size))
            best = b;
    if (best == NULL) return NULL;
    block *got = *best;
    *best = got->next;
    cached_ -= (int64_t)got->size;
    allocated_ += (int64_t)got->size;
    return got;
}

static void release_cached_locked(void) {
    block *lists[2] = {free_small_, free_large_};
    for (int k = 0; k < 2; k++) {
        for (block *b = lists[k], *next; b != NULL; b = next) {
            next = b->next;
            free(b);
        }
    }
    free_small_ = free_large_ = NULL;
    cached_ = 0;
}

static bool poison_(void) {
    const char *p = getenv("GIDS_LOOPBACK_POISON");
    return p == NULL || strcmp(p, "0") != 0;
}

static gids_status alloc_(gids_allocator *self, int device, size_t nbytes, void **out) {
    (void)self;
    GIDS_CHECK(device == 0, GIDS_EDEVICE,
               "loopback alloc: device cuda:%d does not exist (the loopback device is cuda:0)",
               device);
    size_t size = rounded(nbytes);
    GIDS_CHECK(size != 0, GIDS_EOVERFLOW, "loopback alloc: %zu bytes overflows size_t", nbytes);
    pthread_mutex_lock(&mu_);
    void *p = take_cached(size);
    int64_t total = lb_total_bytes();
    if (p == NULL && (int64_t)(size / 2) <= total / 2) { /* halves: no signed overflow */
        p = aligned_alloc(ALIGN, size);
        if (p == NULL && cached_ > 0) { /* as the CUDA plugin: give the cache back, retry once */
            release_cached_locked();
            p = aligned_alloc(ALIGN, size);
        }
        if (p != NULL) allocated_ += (int64_t)size;
    }
    if (p == NULL) {
        int64_t a = allocated_, r = allocated_ + cached_;
        pthread_mutex_unlock(&mu_);
        GIDS_FAIL(GIDS_ENOMEM,
                  "loopback alloc: out of memory on cuda:0 (loopback): requested %zu bytes, "
                  "allocated %lld, reserved %lld, device memory (host RAM) %lld",
                  nbytes, (long long)a, (long long)r, (long long)total);
    }
    if (allocated_ > peak_) peak_ = allocated_;
    pthread_mutex_unlock(&mu_);
    if (poison_()) memset(p, 0xFF, size);
    *out = p;
    return GIDS_OK;
}

static void free_(gids_allocator *self, int device, void *ptr, size_t nbytes) {
    (void)self, (void)device;
    if (ptr == NULL) return;
    block *b = ptr;
    b->size = rounded(nbytes);
    pthread_mutex_lock(&mu_);
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
    release_cached_locked();
    peak_ = allocated_;
    pthread_mutex_unlock(&mu_);
}
