/* pinned.cu -- page-locked staging for uploads (host-to-device copies).
 *
 * The copy engine cannot read pageable memory, and an upload straight from it must be finished
 * when the call returns (the caller may free or overwrite its buffer next), so it waited for
 * every launch queued ahead of it on the stream: a training step that uploads its batch, or a
 * mask or permutation drawn on the CPU, left the GPU idle once per upload while the host queued
 * the work that followed.  Here an upload of up to GIDS_PINNED_MAX_COPY bytes is copied by the
 * host into a page-locked block and queued from there on the current stream (cudaMemcpyAsync),
 * and the host moves on; the stream orders it before the ops that read the destination.  Only
 * on the legacy default stream of a device without nonblocking streams, where CUDA orders
 * every stream's later work after it (gc_queued_is_seen_everywhere): an upload stays as
 * complete, for every op issued after it, as one the host waited for, so code that uploads on
 * one stream and reads on another (correct while uploads waited) stays correct.
 *
 * A block is used again once the event recorded after its copy has completed (cudaEventQuery,
 * never a wait): the smallest ready block of the device that holds the bytes, else a new one
 * (cudaHostAlloc, sizes in powers of two from 64 KiB) while the blocks together stay within
 * GIDS_PINNED_POOL_MAX.  Past that, for larger uploads (a dataset, a checkpoint's weights:
 * there the copy costs more than the wait), when page-locked memory runs out, and with
 * GRAPHIDS_CUDA_PINNED=0, an upload waits as before (gc_memcpy_sync).  gpu.reset() frees the
 * blocks of its device after its synchronisation.  The loopback device counts an upload as a
 * wait above GIDS_PINNED_MAX_COPY only (backend_common.h).
 */
#include <mutex>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "cuda_impl.h"

namespace {

#define PINNED_MIN ((size_t)64 << 10)

struct block {
    void *p;
    size_t size;
    int device;
    cudaEvent_t done; /* recorded after the block's last copy */
    bool queued;      /* a copy from it may still be running */
};

/* Never destroyed: a copy may be in flight when static destructors would run. */
std::mutex mu_;
std::vector<block> *blocks_ = new std::vector<block>();
size_t held_ = 0;

bool enabled() {
    static const bool on = [] {
        const char *e = getenv("GRAPHIDS_CUDA_PINNED");
        return e == nullptr || strcmp(e, "0") != 0;
    }();
    return on;
}

/* Whether no copy from b is running.  A failure other than NotReady means the context is lost
 * (no copy will run): counted as done, the error cleared, as the allocator's event_done. */
bool ready(block &b) {
    if (!b.queued) return true;
    cudaError_t r = cudaEventQuery(b.done);
    if (r == cudaErrorNotReady) return false;
    if (r != cudaSuccess) cudaGetLastError();
    b.queued = false;
    return true;
}

size_t block_size(size_t n) {
    size_t s = PINNED_MIN;
    while (s < n) s *= 2;
    return s;
}

/* The smallest ready block of device holding n bytes, or a new one; nullptr when the pool is at
 * its limit or the driver has no page-locked memory for it (the caller then waits instead). */
block *take(int device, size_t n) {
    block *best = nullptr;
    for (block &b : *blocks_)
        if (b.device == device && b.size >= n && (best == nullptr || b.size < best->size) &&
            ready(b))
            best = &b;
    if (best != nullptr) return best;
    size_t size = block_size(n);
    if (held_ + size > GIDS_PINNED_POOL_MAX) return nullptr;
    block b = {nullptr, size, device, nullptr, false};
    if (cudaHostAlloc(&b.p, size, cudaHostAllocDefault) != cudaSuccess) {
        cudaGetLastError();
        return nullptr;
    }
    if (cudaEventCreateWithFlags(&b.done, cudaEventDisableTiming) != cudaSuccess) {
        cudaGetLastError();
        cudaFreeHost(b.p);
        return nullptr;
    }
    blocks_->push_back(b);
    held_ += size;
    return &blocks_->back();
}

} // namespace

void gc_upload_lock(void) {
    mu_.lock();
}

void gc_upload_unlock(void) {
    mu_.unlock();
}

gids_status gc_upload(const char *op, void *dst, const void *src, size_t n) {
    int device = 0;
    GC_CUDA(op, cudaGetDevice(&device));
    if (enabled() && n > 0 && n <= GIDS_PINNED_MAX_COPY) {
        /* The check under the lock a nonblocking stream's creation takes (stream.cu): a stream
         * made after it is ordered after this copy; one made before it makes the copy wait. */
        std::lock_guard<std::mutex> g(mu_);
        block *b = gc_queued_is_seen_everywhere(device) ? take(device, n) : nullptr;
        if (b != nullptr) {
            memcpy(b->p, src, n);
            GC_CUDA(op, cudaMemcpyAsync(dst, b->p, n, cudaMemcpyHostToDevice, gc_stream()));
            cudaError_t re = cudaEventRecord(b->done, gc_stream());
            if (re != cudaSuccess) {
                /* no event marks the copy's end: wait for it, or the next take() could hand the
                 * block out and overwrite it mid-transfer */
                cudaStreamSynchronize(gc_stream());
                return gc_cuda_fail(op, re, "cudaEventRecord", __FILE__, __LINE__);
            }
            b->queued = true;
            return GIDS_OK;
        }
    }
    GC_CUDA(op, gc_memcpy_sync(dst, src, n, cudaMemcpyHostToDevice));
    return GIDS_OK;
}

void gc_pinned_release(int device) {
    std::lock_guard<std::mutex> g(mu_);
    std::vector<block> keep;
    bool failed = false;
    for (block &b : *blocks_) {
        if (b.device != device) {
            keep.push_back(b);
            continue;
        }
        /* reset has synchronised the device: this returns at once */
        if (b.queued) failed = cudaEventSynchronize(b.done) != cudaSuccess || failed;
        failed = cudaEventDestroy(b.done) != cudaSuccess || failed;
        failed = cudaFreeHost(b.p) != cudaSuccess || failed;
        held_ -= b.size;
    }
    if (failed) cudaGetLastError(); /* must not surface as the next op's error */
    blocks_->swap(keep);
}
