/* allocator.cu -- the caching allocator for GIDS_CUDA storage: per device, one pool per stream.
 *
 * Sizes are rounded up (512 B granularity up to 1 MiB, 2 MiB above) and a freed block goes to a
 * free list for its size class (small <= 1 MiB, large above) instead of back to the driver:
 * cudaFree synchronises the device, and training allocates the same sizes every step.  A request
 * takes the smallest cached block of its class that holds it (best fit), but never one more than
 * twice its rounded size, so a small tensor cannot pin a huge block.  Blocks are not split.  When
 * cudaMalloc fails, every cached block of the device is released and the call is retried once;
 * the out-of-memory error then names requested, allocated, reserved and free bytes.
 *
 * Streams (stream.cu).  A block belongs to the stream that was current when it was allocated
 * (the legacy default stream, id 0, unless the thread set another), and when freed it goes back
 * to that stream's pool, whatever stream is current then (the Lua GC frees at any time).  Only
 * allocations on that same stream take it again: their work is queued behind every use of the
 * block on that stream, so reuse needs no event, as with one stream.  A use on another stream is
 * declared with record_stream (torch's Tensor.record_stream): at free time an event is recorded
 * on each such stream and the block waits in `pending` until they have all completed; each
 * allocation first moves completed ones to their pools.  A destroyed stream has no work left
 * (stream_destroy waits for it): its cached blocks go back to the driver and its live blocks to
 * the default stream's pool when they are freed.  The statistics (allocated, reserved, peak) and
 * reset cover every pool of the device.  The runtime's own per-device counters are kept by
 * gids_storage_new; these count the allocator's view (rounded block sizes and the cache).
 */
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda_impl.h"

#define SMALL_MAX GIDS_ALLOC_SMALL_MAX /* backend_common.h: the loopback's size classes too */

namespace {

/* A stream as the allocator knows it: its id (0: the legacy default stream) and handle. */
struct owner {
    uint64_t id;
    cudaStream_t s;
};

struct live_block {
    size_t size;
    owner home;               /* the stream it was allocated on */
    std::vector<owner> other; /* streams record_stream named (not home, no repeats) */
};

/* A freed block waiting for events recorded on its other streams. */
struct pending_block {
    void *ptr;
    size_t size;
    uint64_t home;
    std::vector<cudaEvent_t> events;
};

struct stream_pool {
    std::multimap<size_t, void *> free_small, free_large; /* size -> block */
};

struct pool {
    std::mutex mu;
    std::unordered_map<uint64_t, stream_pool> streams; /* stream id -> its cached blocks */
    std::unordered_map<void *, live_block> live;       /* block -> size and streams */
    std::vector<pending_block> pending;
    int64_t allocated = 0, cached = 0, peak = 0; /* cached: in a pool or pending */
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

void cache_locked(pool *p, uint64_t home, void *ptr, size_t size) {
    stream_pool &sp = p->streams[home];
    (size <= SMALL_MAX ? sp.free_small : sp.free_large).emplace(size, ptr);
}

/* Whether the event's work is done.  A failure other than NotReady means the context is lost
 * (no later work can run, so nothing can race with a reuse): counted as done, error cleared. */
bool event_done(cudaEvent_t e, bool wait) {
    cudaError_t r = wait ? cudaEventSynchronize(e) : cudaEventQuery(e);
    if (r == cudaSuccess) return true;
    cudaGetLastError();
    return r != cudaErrorNotReady;
}

/* Moves pending blocks whose events have all completed (all of them when wait) to their pools.
 * The caller holds p->mu. */
void collect_pending_locked(pool *p, bool wait) {
    size_t keep = 0;
    for (size_t i = 0; i < p->pending.size(); i++) {
        pending_block &b = p->pending[i];
        size_t left = 0;
        for (cudaEvent_t e : b.events) {
            if (event_done(e, wait))
                cudaEventDestroy(e);
            else
                b.events[left++] = e;
        }
        b.events.resize(left);
        if (left == 0) {
            cache_locked(p, b.home, b.ptr, b.size);
        } else {
            if (keep != i) p->pending[keep] = std::move(b); /* never a self-move */
            keep++;
        }
    }
    p->pending.resize(keep);
}

/* cudaFree of one stream's cached blocks; the caller holds p->mu and has made the device
 * current.  Returns the first failure. */
cudaError_t release_stream_locked(pool *p, stream_pool &sp) {
    cudaError_t first = cudaSuccess;
    for (auto *list : {&sp.free_small, &sp.free_large}) {
        for (auto &kv : *list) {
            cudaError_t e = cudaFree(kv.second);
            if (e != cudaSuccess && first == cudaSuccess) first = e;
            p->cached -= (int64_t)kv.first;
        }
        list->clear();
    }
    return first;
}

/* Frees every cached block of every stream, pending ones once their events complete. */
cudaError_t release_locked(pool *p) {
    collect_pending_locked(p, true);
    cudaError_t first = cudaSuccess;
    for (auto &kv : p->streams) {
        cudaError_t e = release_stream_locked(p, kv.second);
        if (e != cudaSuccess && first == cudaSuccess) first = e;
    }
    return first;
}

gids_status alloc_(gids_allocator *self, int device, size_t nbytes, void **out) {
    pool *p = pool_of(device);
    GIDS_CHECK(p != nullptr, GIDS_EDEVICE, "cuda alloc: device cuda:%d is out of range (0..%d)",
               device, GC_MAX_DEVICES - 1);
    size_t size = gids_alloc_rounded(nbytes);
    GIDS_CHECK(size != 0, GIDS_EOVERFLOW, "cuda alloc: %zu bytes overflows size_t", nbytes);
    gids_stream *cur = gc_current(device);
    owner home = {cur != nullptr ? cur->id : 0, cur != nullptr ? cur->s : 0};
    std::lock_guard<std::mutex> g(p->mu);
    if (!p->pending.empty()) collect_pending_locked(p, false);
    stream_pool &sp = p->streams[home.id];
    auto &list = size <= SMALL_MAX ? sp.free_small : sp.free_large;
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
    p->live.emplace(ptr, live_block{got, home, {}});
    p->allocated += (int64_t)got;
    if (p->allocated > p->peak) p->peak = p->allocated;
    *out = ptr;
    return GIDS_OK;
}

/* Records an event on each of b's other streams (the caller holds p->mu).  Where an event cannot
 * be made, waits for that stream instead; a failed wait means the context is lost (see
 * event_done).  The calling thread's current device is kept. */
std::vector<cudaEvent_t> events_for(int device, const live_block &b) {
    std::vector<cudaEvent_t> evs;
    int prev = -1;
    bool failed = cudaGetDevice(&prev) != cudaSuccess;
    if (failed) prev = -1;
    failed = cudaSetDevice(device) != cudaSuccess || failed;
    for (const owner &o : b.other) {
        cudaEvent_t e = nullptr;
        if (cudaEventCreateWithFlags(&e, cudaEventDisableTiming) == cudaSuccess &&
            cudaEventRecord(e, o.s) == cudaSuccess) {
            evs.push_back(e);
            continue;
        }
        failed = true;
        if (e != nullptr) cudaEventDestroy(e);
        cudaStreamSynchronize(o.s);
    }
    if (prev >= 0 && prev != device) failed = cudaSetDevice(prev) != cudaSuccess || failed;
    /* A failure here must not surface as the next op's error; without one, an error an op has
     * yet to check is left alone. */
    if (failed) cudaGetLastError();
    return evs;
}

void free_(gids_allocator *self, int device, void *ptr, size_t nbytes) {
    pool *p = pool_of(device);
    if (p == nullptr || ptr == nullptr) return;
    std::lock_guard<std::mutex> g(p->mu);
    auto it = p->live.find(ptr);
    if (it == p->live.end()) return; /* not ours: never hand it out again */
    live_block b = std::move(it->second);
    p->live.erase(it);
    p->allocated -= (int64_t)b.size;
    p->cached += (int64_t)b.size;
    std::vector<cudaEvent_t> evs;
    if (!b.other.empty()) evs = events_for(device, b);
    if (evs.empty())
        cache_locked(p, b.home.id, ptr, b.size);
    else
        p->pending.push_back(pending_block{ptr, b.size, b.home.id, std::move(evs)});
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

gids_status gc_alloc_record_stream(const void *ptr, int device, const gids_stream *s) {
    pool *p = pool_of(device);
    GIDS_CHECK(p != nullptr, GIDS_EDEVICE, "record_stream: device cuda:%d is out of range", device);
    owner o = {s != nullptr ? s->id : 0, s != nullptr ? s->s : 0};
    std::lock_guard<std::mutex> g(p->mu);
    auto it = p->live.find((void *)ptr);
    GIDS_CHECK(it != p->live.end(), GIDS_EINVAL,
               "record_stream: the tensor's memory is not a block of cuda:%d's caching allocator "
               "(memory wrapped from elsewhere is the caller's to keep alive)",
               device);
    live_block &b = it->second;
    if (o.id == b.home.id) return GIDS_OK;
    for (const owner &x : b.other)
        if (x.id == o.id) return GIDS_OK;
    b.other.push_back(o);
    return GIDS_OK;
}

gids_status gc_alloc_drop_stream(const gids_stream *s) {
    pool *p = pool_of(s->device);
    if (p == nullptr) return GIDS_OK;
    std::lock_guard<std::mutex> g(p->mu);
    /* s's work has finished: events recorded on it are complete, and its live blocks hold no
     * queued use on it, so the default stream may take them over. */
    collect_pending_locked(p, false);
    for (auto &kv : p->live) {
        live_block &b = kv.second;
        if (b.home.id == s->id) b.home = owner{0, 0};
        for (size_t i = 0; i < b.other.size(); i++)
            if (b.other[i].id == s->id) {
                b.other.erase(b.other.begin() + (long)i);
                break;
            }
    }
    for (pending_block &b : p->pending)
        if (b.home == s->id) b.home = 0;
    auto it = p->streams.find(s->id);
    if (it == p->streams.end()) return GIDS_OK;
    GC_CUDA("gpu stream destroy", cudaSetDevice(s->device));
    cudaError_t e = release_stream_locked(p, it->second);
    p->streams.erase(it);
    if (e != cudaSuccess)
        return gc_cuda_fail("gpu stream destroy", e, "cudaFree", __FILE__, __LINE__);
    return GIDS_OK;
}
