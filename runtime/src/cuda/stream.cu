/* stream.cu -- streams and events (gids_backend's ABI 6 entries) and the calling thread's
 * current stream per device, which every op of the plugin issues its work on (gc_stream).
 *
 * A thread starts with no stream set on any device: the legacy default stream (0), where every
 * op ran before streams existed, so a program that never sets one issues exactly the calls it
 * issued before.  Streams are created blocking unless GIDS_STREAM_NONBLOCKING is asked for:
 * their work and the legacy default stream's are then ordered by CUDA itself, which keeps a
 * program that mixes the two (a tensor made on the default stream, read on a side stream) safe
 * without events.  Handles are plain heap objects: the allocator keys its pools by the stream's
 * id, which unlike a cudaStream_t is never handed out twice.
 */
#include <atomic>
#include <new>

#include "../live_streams.h"
#include "cuda_impl.h"

static thread_local gids_stream *current_[GC_MAX_DEVICES];
static thread_local uint64_t ids_[GC_MAX_DEVICES]; /* current_'s ids, readable once freed */
static thread_local uint64_t seen_; /* live_.destroys when current_ was last checked */
/* How many of current_ are set: 0 on a thread that never set a stream, whose ops then skip the
 * cudaGetDevice of gc_stream. */
static thread_local int n_set_;
/* A stream destroyed while another thread has it current is dropped there at that thread's
 * next lookup (live_streams.h), as on the loopback device. */
static gids_live_streams live_ = GIDS_LIVE_STREAMS_INIT;
static std::atomic<uint64_t> next_id_{1}; /* 0 is the legacy default stream */

static void set_current(int device, gids_stream *s) {
    n_set_ += (s != nullptr) - (current_[device] != nullptr);
    current_[device] = s;
    ids_[device] = s != nullptr ? s->id : 0;
}

gids_stream *gc_current(int device) {
    if (n_set_ == 0 || device < 0 || device >= GC_MAX_DEVICES) return nullptr;
    if (gids_live_moved(&live_, seen_))
        n_set_ -= gids_live_forget(&live_, &seen_, current_, ids_, GC_MAX_DEVICES);
    return current_[device];
}

cudaStream_t gc_stream_on(int device) {
    gids_stream *s = gc_current(device);
    return s != nullptr ? s->s : 0;
}

cudaStream_t gc_stream(void) {
    if (n_set_ == 0) return 0;
    int d = 0;
    if (cudaGetDevice(&d) != cudaSuccess) {
        cudaGetLastError();
        return 0; /* the op's own next CUDA call reports the failure */
    }
    return gc_stream_on(d);
}

/* Live nonblocking streams per device (gc_queued_is_seen_everywhere). */
static std::atomic<int> nonblocking_[GC_MAX_DEVICES];

bool gc_queued_is_seen_everywhere(int device) {
    return device >= 0 && device < GC_MAX_DEVICES && gc_stream_on(device) == 0 &&
           nonblocking_[device].load() == 0;
}

bool gc_warn_syncs = false;
static std::atomic<int64_t> waits_{0};

int64_t gc_waited(void) {
    return waits_.fetch_add(1, std::memory_order_relaxed) + 1;
}

gids_status gc_waits(int64_t *count) {
    GIDS_TRY(gids_check_given("gpu waits", count != nullptr, "count"));
    *count = waits_.load(std::memory_order_relaxed);
    return GIDS_OK;
}

cudaError_t gc_memcpy_sync_at(void *dst, const void *src, size_t n, cudaMemcpyKind kind,
                              const char *file, int line) {
    int64_t w = gc_waited();
    if (gc_warn_syncs) {
        const char *base = strrchr(file, '/');
        fprintf(stderr,
                "graphids cuda: the host waits for the device at %s:%d (%zu bytes; wait %lld)\n",
                base ? base + 1 : file, line, n, (long long)w);
    }
    cudaStream_t s = gc_stream();
    if (s == 0) {
        /* From pageable memory cudaMemcpy may return once the bytes are staged, before the DMA
         * lands: a nonblocking stream (not ordered after the legacy one) could read dst first. */
        cudaError_t e = cudaMemcpy(dst, src, n, kind);
        return e != cudaSuccess || kind != cudaMemcpyHostToDevice ? e : cudaStreamSynchronize(0);
    }
    cudaError_t e = cudaMemcpyAsync(dst, src, n, kind, s);
    return e != cudaSuccess ? e : cudaStreamSynchronize(s);
}

/* Not counted in gpu.waits(): the count is the program's own waits, which GRAPHIDS_CUDA_SYNC=1
 * (a debugging mode) must not change, or the checks that count them fail under it. */
cudaError_t gc_sync_current(void) {
    cudaStream_t s = gc_stream();
    return s == 0 ? cudaDeviceSynchronize() : cudaStreamSynchronize(s);
}

/* The device exists and s (when not NULL) was made for it. */
static gids_status check_pair(const char *op, int device, const gids_stream *s) {
    GIDS_TRY(gc_check_device(op, device));
    return gids_check_stream_of(op, device, s != nullptr, s != nullptr ? s->device : device);
}

static gids_event_facts facts(const gids_event *e) {
    return gids_event_facts{e->device, e->timing, e->recorded};
}

static cudaStream_t raw(const gids_stream *s) {
    return s != nullptr ? s->s : 0;
}

/* done <- whether a query found the work finished; cudaErrorNotReady is no error. */
static gids_status query_result(const char *op, cudaError_t e, const char *call, bool *done) {
    if (e == cudaErrorNotReady) {
        cudaGetLastError(); /* NotReady must not surface as a later op's error */
        *done = false;
        return GIDS_OK;
    }
    if (e != cudaSuccess) return gc_cuda_fail(op, e, call, __FILE__, __LINE__);
    *done = true;
    return GIDS_OK;
}

/* ---------------------------------------------------------------- streams */
gids_status gc_stream_create(gids_stream **out, int device, int priority, unsigned flags) {
    const char *op = "gpu stream create";
    GIDS_TRY(gids_check_given(op, out != nullptr, "out"));
    *out = nullptr;
    GIDS_TRY(gc_check_device(op, device));
    GIDS_TRY(gids_check_stream_flags(op, flags));
    GC_CUDA(op, cudaSetDevice(device));
    int least = 0, greatest = 0; /* CUDA: lower numbers are higher priorities */
    GC_CUDA(op, cudaDeviceGetStreamPriorityRange(&least, &greatest));
    GIDS_TRY(gids_check_stream_priority(op, device, priority, greatest, least));
    cudaStream_t cs = nullptr;
    GC_CUDA(op, cudaStreamCreateWithPriority(&cs,
                                             flags & GIDS_STREAM_NONBLOCKING ? cudaStreamNonBlocking
                                                                             : cudaStreamDefault,
                                             priority));
    bool nb = (flags & GIDS_STREAM_NONBLOCKING) != 0;
    gids_stream *s = new (std::nothrow) gids_stream{device, cs, next_id_.fetch_add(1), nb};
    if (s == nullptr) {
        cudaStreamDestroy(cs);
        GIDS_FAIL(GIDS_ENOMEM, "%s: out of host memory for the handle", op);
    }
    gids_status live = gids_live_add(&live_, op, s->id);
    if (live != GIDS_OK) {
        cudaStreamDestroy(cs);
        delete s;
        return live;
    }
    if (nb) {
        /* CUDA does not order a nonblocking stream after the legacy stream: uploads left
         * queued there (pinned.cu) before it existed would race its first kernels.  It waits
         * for them once, and later uploads see it counted (under the same lock). */
        gc_upload_lock();
        nonblocking_[device].fetch_add(1);
        cudaEvent_t ev = nullptr;
        cudaError_t e = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming);
        if (e == cudaSuccess) e = cudaEventRecord(ev, cudaStreamLegacy);
        if (e == cudaSuccess) e = cudaStreamWaitEvent(cs, ev, 0);
        if (ev != nullptr) cudaEventDestroy(ev); /* freed once the wait is done */
        gc_upload_unlock();
        if (e != cudaSuccess) {
            gids_status st = gc_cuda_fail(
                op, e, "cudaStreamWaitEvent (order after the legacy stream)", __FILE__, __LINE__);
            gc_stream_destroy(s);
            return st;
        }
    }
    *out = s;
    return GIDS_OK;
}

gids_status gc_stream_destroy(gids_stream *s) {
    const char *op = "gpu stream destroy";
    if (s == nullptr) return GIDS_OK;
    /* The handle is gone whatever fails below (STEAL); the first failure is reported. */
    if (current_[s->device] == s) set_current(s->device, nullptr);
    gids_live_remove(&live_, s->id); /* and in any other thread, at its next lookup */
    if (s->nonblocking) nonblocking_[s->device].fetch_sub(1);
    gids_status st = GIDS_OK;
    cudaError_t e = cudaSetDevice(s->device);
    if (e == cudaSuccess) e = cudaStreamSynchronize(s->s);
    if (e != cudaSuccess) st = gc_cuda_fail(op, e, "cudaStreamSynchronize", __FILE__, __LINE__);
    /* Its work is done (or the context is lost and no work will run): its blocks are free. */
    gids_status dst = gc_alloc_drop_stream(s);
    if (st == GIDS_OK) st = dst;
    e = cudaStreamDestroy(s->s);
    if (e != cudaSuccess && st == GIDS_OK)
        st = gc_cuda_fail(op, e, "cudaStreamDestroy", __FILE__, __LINE__);
    delete s;
    return st;
}

gids_status gc_stream_set(int device, gids_stream *s) {
    GIDS_TRY(check_pair("gpu stream set", device, s));
    set_current(device, s);
    return GIDS_OK;
}

gids_status gc_stream_get(int device, gids_stream **out) {
    GIDS_TRY(gids_check_given("gpu stream get", out != nullptr, "out"));
    GIDS_TRY(gc_check_device("gpu stream get", device));
    *out = gc_current(device);
    return GIDS_OK;
}

gids_status gc_stream_synchronize(int device, gids_stream *s) {
    const char *op = "gpu stream synchronize";
    GIDS_TRY(check_pair(op, device, s));
    GC_CUDA(op, cudaSetDevice(device));
    gc_waited();
    GC_CUDA(op, cudaStreamSynchronize(raw(s)));
    return GIDS_OK;
}

gids_status gc_stream_query(int device, gids_stream *s, bool *done) {
    const char *op = "gpu stream query";
    GIDS_TRY(gids_check_given(op, done != nullptr, "done"));
    GIDS_TRY(check_pair(op, device, s));
    GC_CUDA(op, cudaSetDevice(device));
    return query_result(op, cudaStreamQuery(raw(s)), "cudaStreamQuery", done);
}

gids_status gc_stream_wait_event(int device, gids_stream *s, gids_event *e) {
    const char *op = "gpu stream wait_event";
    GIDS_TRY(gids_check_given(op, e != nullptr, "event"));
    GIDS_TRY(check_pair(op, device, s));
    GC_CUDA(op, cudaSetDevice(device));
    GC_CUDA(op, cudaStreamWaitEvent(raw(s), e->e, 0));
    return GIDS_OK;
}

/* ---------------------------------------------------------------- events */
gids_status gc_event_create(gids_event **out, int device, bool timing) {
    const char *op = "gpu event create";
    GIDS_TRY(gids_check_given(op, out != nullptr, "out"));
    *out = nullptr;
    GIDS_TRY(gc_check_device(op, device));
    GC_CUDA(op, cudaSetDevice(device));
    cudaEvent_t ce = nullptr;
    GC_CUDA(op, cudaEventCreateWithFlags(&ce, timing ? cudaEventDefault : cudaEventDisableTiming));
    gids_event *e = new (std::nothrow) gids_event{device, ce, timing, false};
    if (e == nullptr) {
        cudaEventDestroy(ce);
        GIDS_FAIL(GIDS_ENOMEM, "%s: out of host memory for the handle", op);
    }
    *out = e;
    return GIDS_OK;
}

gids_status gc_event_record(gids_event *e, int device, gids_stream *s) {
    const char *op = "gpu event record";
    GIDS_TRY(gids_check_given(op, e != nullptr, "event"));
    GIDS_TRY(check_pair(op, device, s));
    GIDS_TRY(gids_check_event_of(op, e->device, device));
    GC_CUDA(op, cudaSetDevice(device));
    GC_CUDA(op, cudaEventRecord(e->e, raw(s)));
    e->recorded = true;
    return GIDS_OK;
}

gids_status gc_event_synchronize(gids_event *e) {
    const char *op = "gpu event synchronize";
    GIDS_TRY(gids_check_given(op, e != nullptr, "event"));
    gc_waited();
    GC_CUDA(op, cudaEventSynchronize(e->e));
    return GIDS_OK;
}

gids_status gc_event_query(gids_event *e, bool *done) {
    const char *op = "gpu event query";
    GIDS_TRY(gids_check_given(op, e != nullptr && done != nullptr, "event or done"));
    return query_result(op, cudaEventQuery(e->e), "cudaEventQuery", done);
}

gids_status gc_event_elapsed(const gids_event *start, const gids_event *end, double *ms) {
    const char *op = "gpu event elapsed_time";
    GIDS_TRY(gids_check_given(op, start != nullptr && end != nullptr && ms != nullptr,
                              "start, end or ms"));
    GIDS_TRY(gids_check_elapsed(op, facts(start), facts(end)));
    float f = 0;
    cudaError_t e = cudaEventElapsedTime(&f, start->e, end->e);
    if (e == cudaErrorNotReady) {
        cudaGetLastError();
        GIDS_FAIL(GIDS_EINVAL,
                  "%s: the events' work has not finished yet; synchronize the end event first", op);
    }
    if (e != cudaSuccess) return gc_cuda_fail(op, e, "cudaEventElapsedTime", __FILE__, __LINE__);
    *ms = (double)f;
    return GIDS_OK;
}

gids_status gc_event_destroy(gids_event *e) {
    if (e == nullptr) return GIDS_OK;
    cudaError_t err = cudaEventDestroy(e->e); /* returns at once; CUDA frees it once complete */
    delete e;
    if (err != cudaSuccess)
        return gc_cuda_fail("gpu event destroy", err, "cudaEventDestroy", __FILE__, __LINE__);
    return GIDS_OK;
}

/* ---------------------------------------------------------------- tensors */
gids_status gc_record_stream(const gids_tensor *t, gids_stream *s) {
    const char *op = "record_stream";
    GIDS_TRY(gids_check_record_stream_tensor(op, t));
    int device = gc_dev(t).index;
    GIDS_TRY(check_pair(op, device, s));
    return gc_alloc_record_stream(t->storage->data, device, s);
}
