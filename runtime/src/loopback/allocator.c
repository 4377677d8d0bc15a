/* allocator.c -- the loopback device's memory: host blocks behind a cache shaped like the CUDA
 * plugin's (runtime/src/cuda/allocator.cu), so the statistics gids_backend.memory reports move
 * as they do on a GPU: a freed block stays reserved until reset, sizes are rounded (512 B up to
 * 1 MiB, 2 MiB above), a request takes the smallest cached block of its class that holds it but
 * never one more than twice its size.
 *
 * The device has a fixed memory, GIDS_LOOPBACK_MEMORY_MIB (default a quarter of the host's RAM):
 * as on a GPU, a request that does not fit first returns the cache, then fails with ENOMEM, and
 * the runtime's pressure handler (the binding's full GC) runs before its one retry.  Without the
 * limit nothing would ever fail on an overcommitting host, the GC (which does not see device
 * bytes) would not run, and a training loop would fill the machine's memory with dead tensors.
 *
 * Every block handed out is filled with 0xFF bytes (NaN in every float dtype, -1 in the signed
 * integers) unless GIDS_LOOPBACK_POISON=0: a device path that reads memory it never wrote gets
 * garbage on a GPU too, and NaN shows up in a check where a lucky zero would not.  Blocks are
 * handed out at tagged addresses (LB_TAG, loopback_impl.h) unless GIDS_LOOPBACK_TAG=0.
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
static int64_t limit_ = (int64_t)1 << 32; /* set by lb_alloc_init */
static bool poison_ = true;               /* set by lb_alloc_init */
bool lb_tagged = true;

static size_t rounded(size_t n) {
    size_t g = n <= SMALL_MAX ? SMALL_GRAIN : LARGE_GRAIN;
    if (n == 0) return SMALL_GRAIN; /* a zero-byte request still gets a unique pointer */
    if (n > SIZE_MAX - g) return 0;
    return (n + g - 1) / g * g;
}

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

static gids_status alloc_(gids_allocator *self, int device, size_t nbytes, void **out) {
    (void)self;
    GIDS_CHECK(device == 0, GIDS_EDEVICE,
               "loopback alloc: device cuda:%d does not exist (the loopback device is cuda:0)",
               device);
    size_t size = rounded(nbytes);
    GIDS_CHECK(size != 0, GIDS_EOVERFLOW, "loopback alloc: %zu bytes overflows size_t", nbytes);
    pthread_mutex_lock(&mu_);
    void *p = take_cached(size);
    bool fits = size <= (size_t)limit_;
    if (p == NULL && fits && allocated_ + cached_ > limit_ - (int64_t)size)
        release_cached_locked(); /* as the CUDA plugin: give the cache back first */
    fits = fits && allocated_ <= limit_ - (int64_t)size;
    if (p == NULL && fits) {
        p = aligned_alloc(ALIGN, size);
        if (p != NULL) allocated_ += (int64_t)size;
    }
    if (p == NULL) {
        int64_t a = allocated_, r = allocated_ + cached_;
        pthread_mutex_unlock(&mu_);
        GIDS_FAIL(GIDS_ENOMEM,
                  "loopback alloc: out of memory on cuda:0 (loopback): requested %zu bytes, "
                  "allocated %lld, reserved %lld, device memory %lld (GIDS_LOOPBACK_MEMORY_MIB)",
                  nbytes, (long long)a, (long long)r, (long long)limit_);
    }
    if (allocated_ > peak_) peak_ = allocated_;
    pthread_mutex_unlock(&mu_);
    if (poison_) memset(p, 0xFF, size);
    *out = lb_host(p);
    return GIDS_OK;
}

static void free_(gids_allocator *self, int device, void *ptr, size_t nbytes) {
    (void)self, (void)device;
    if (ptr == NULL) return;
    block *b = lb_host(ptr);
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
