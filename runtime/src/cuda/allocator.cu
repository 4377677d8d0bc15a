/* allocator.cu -- the caching allocator for GIDS_CUDA storage, one pool per device.
 *
 * Sizes are rounded up (512 B granularity up to 1 MiB, 2 MiB above) and a freed block goes to
 * its device's free list for its size class (small <= 1 MiB, large above) instead of back to the
 * driver: cudaFree synchronises the device, and training allocates the same sizes every step.
 * A request takes the smallest cached block of its class that holds it (best fit), but never
 * one more than twice its rounded size, so a small tensor cannot pin a huge block.  Blocks are
 * not split.  When cudaMalloc fails, every cached block of the device is released and the call
 * is retried once; the out-of-memory error then names requested, allocated, reserved and free
 * bytes.  All ops run on one stream per device, so a block freed here is safe to hand out again
 * at once.  The runtime's own per-device counters are kept by gids_storage_new; these count
 * the allocator's view (rounded block sizes and the cache).
 */
#include <map>
#include <mutex>
#include <unordered_map>

#include "cuda_impl.h"

#define SMALL_MAX ((size_t)1 << 20)
#define SMALL_GRAIN ((size_t)512)
#define LARGE_GRAIN ((size_t)2 << 20)

namespace {

struct pool {
    std::mutex mu;
    std::multimap<size_t, void *> free_small, free_large; /* size -> block */
    std::unordered_map<void *, size_t> live;              /* block -> size */
    int64_t allocated = 0, cached = 0, peak = 0;
};

/* Never destroyed: storages may be released after static destructors would have run. */
pool *pools_[GC_MAX_DEVICES];
std::mutex pools_mu_;

pool *pool_of(int device) {
    if (device < 0 || device >= GC_MAX_DEVICES) return nullptr;
    std::lock_guard<std::mutex> g(pools_mu_);
    if (pools_[device] == nullptr) pools_[device] = new pool();
    return pools_[device];
}

size_t rounded(size_t n) {
    size_t g = n <= SMALL_MAX ? SMALL_GRAIN : LARGE_GRAIN;
    if (n == 0) return SMALL_GRAIN; /* a zero-byte request still gets a unique pointer */
    if (n > SIZE_MAX - g) return 0;
    return (n + g - 1) / g * g;
}

/* Frees every cached block; the caller holds p->mu and has made `device` current. */
cudaError_t release_locked(pool *p) {
    cudaError_t first = cudaSuccess;
    for (auto *list : {&p->free_small, &p->free_large}) {
        for (auto &kv : *list) {
            cudaError_t e = cudaFree(kv.second);
            if (e != cudaSuccess && first == cudaSuccess) first = e;
        }
        list->clear();
    }
    p->cached = 0;
    return first;
}

gids_status alloc_(gids_allocator *self, int device, size_t nbytes, void **out) {
    pool *p = pool_of(device);
    GIDS_CHECK(p != nullptr, GIDS_EDEVICE, "cuda alloc: device cuda:%d is out of range (0..%d)",
               device, GC_MAX_DEVICES - 1);
    size_t size = rounded(nbytes);
    GIDS_CHECK(size != 0, GIDS_EOVERFLOW, "cuda alloc: %zu bytes overflows size_t", nbytes);
    std::lock_guard<std::mutex> g(p->mu);
    auto &list = size <= SMALL_MAX ? p->free_small : p->free_large;
    auto it = list.lower_bound(size);
    void *ptr = nullptr;
    size_t got = size;
    if (it != list.end() && it->first <= 2 * size) {
        got = it->first;
        ptr = it->second;
        list.erase(it);
        p->cached -= (int64_t)got;
    } else {
        GC_CUDA("cuda alloc", cudaSetDevice(device));
        cudaError_t e = cudaMalloc(&ptr, size);
        if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            release_locked(p);
            e = cudaMalloc(&ptr, size);
        }
        if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            size_t fr = 0, total = 0;
            cudaMemGetInfo(&fr, &total);
            cudaGetLastError();
            GIDS_FAIL(GIDS_ENOMEM,
                      "cuda:%d out of memory: %zu bytes requested (%zu rounded); %lld allocated, "
                      "%lld reserved, %zu free of %zu total (cache released and retried); hint: "
                      "free tensors or use smaller batches",
                      device, nbytes, size, (long long)p->allocated,
                      (long long)(p->allocated + p->cached), fr, total);
        }
        if (e != cudaSuccess)
            return gc_cuda_fail("cuda alloc", e, "cudaMalloc", __FILE__, __LINE__);
    }
    p->live.emplace(ptr, got);
    p->allocated += (int64_t)got;
    if (p->allocated > p->peak) p->peak = p->allocated;
    *out = ptr;
    return GIDS_OK;
}

void free_(gids_allocator *self, int device, void *ptr, size_t nbytes) {
    pool *p = pool_of(device);
    if (p == nullptr || ptr == nullptr) return;
    std::lock_guard<std::mutex> g(p->mu);
    auto it = p->live.find(ptr);
    if (it == p->live.end()) return; /* not ours: never hand it out again */
    size_t size = it->second;
    p->live.erase(it);
    p->allocated -= (int64_t)size;
    p->cached += (int64_t)size;
    (size <= SMALL_MAX ? p->free_small : p->free_large).emplace(size, ptr);
}

} // namespace

gids_allocator gc_allocator = {"cuda-caching", GIDS_CUDA, alloc_, free_, nullptr};

void gc_alloc_stats_get(int device, gc_alloc_stats *out) {
    *out = {0, 0, 0};
    pool *p = pool_of(device);
    if (p == nullptr) return;
    std::lock_guard<std::mutex> g(p->mu);
    out->allocated = p->allocated;
    out->reserved = p->allocated + p->cached;
    out->peak = p->peak;
}

gids_status gc_alloc_release_cached(int device) {
    pool *p = pool_of(device);
    if (p == nullptr) return GIDS_OK;
    std::lock_guard<std::mutex> g(p->mu);
    GC_CUDA("cuda reset", cudaSetDevice(device));
    cudaError_t e = release_locked(p);
    if (e != cudaSuccess) return gc_cuda_fail("cuda reset", e, "cudaFree", __FILE__, __LINE__);
    return GIDS_OK;
}

void gc_alloc_reset_peak(int device) {
    pool *p = pool_of(device);
    if (p == nullptr) return;
    std::lock_guard<std::mutex> g(p->mu);
    p->peak = p->allocated;
}
