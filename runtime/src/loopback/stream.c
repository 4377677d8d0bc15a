/* stream.c -- the loopback device's streams and events (gids_backend's ABI 6 entries), with the
 * CUDA plugin's checks and messages (runtime/src/backend_common.h) and CPU semantics
 * (loopback_impl.h): the work of a stream runs at once, an event is a host timestamp.  The
 * current stream is per thread, as on CUDA, and a stream destroyed while another thread has it
 * current is dropped there at that thread's next lookup (live_streams.h, as the CUDA plugin
 * does); there is one device.  Priorities are checked against
 * the range an H100 reports, -5 (highest) to 0 (lowest), and otherwise ignored.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "../live_streams.h"
#include "loopback_impl.h"

#define LB_PRIORITY_HIGHEST (-5)
#define LB_PRIORITY_LOWEST 0

static _Thread_local gids_stream *current_;
static _Thread_local uint64_t current_id_; /* current_'s id, readable once current_ is freed */
static _Thread_local uint64_t seen_;       /* live_.destroys when current_ was last checked */
static gids_live_streams live_ = GIDS_LIVE_STREAMS_INIT;
static atomic_uint_least64_t next_id_ = 1; /* 0 is the default stream */
static atomic_int nonblocking_;            /* live nonblocking streams */

/* The calling thread's current stream; NULL (the default) once another thread destroyed it. */
static gids_stream *current(void) {
    if (current_ != NULL && gids_live_moved(&live_, seen_))
        gids_live_forget(&live_, &seen_, &current_, &current_id_, 1);
    return current_;
}

uint64_t lb_current_stream_id(void) {
    return current() != NULL ? current_id_ : 0;
}

bool lb_queued_is_seen_everywhere(void) {
    return current() == NULL && atomic_load(&nonblocking_) == 0;
}

static gids_status check_pair(const char *op, int device, const gids_stream *s) {
    GIDS_TRY(lb_check_device(op, device));
    return gids_check_stream_of(op, device, s != NULL, s != NULL ? s->device : device);
}

static gids_event_facts facts(const gids_event *e) {
    return (gids_event_facts){e->device, e->timing, e->recorded};
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* ---------------------------------------------------------------- streams */
gids_status lb_stream_create(gids_stream **out, int device, int priority, unsigned flags) {
    const char *op = "gpu stream create";
    GIDS_TRY(gids_check_given(op, out != NULL, "out"));
    *out = NULL;
    GIDS_TRY(lb_check_device(op, device));
    GIDS_TRY(gids_check_stream_flags(op, flags));
    GIDS_TRY(
        gids_check_stream_priority(op, device, priority, LB_PRIORITY_HIGHEST, LB_PRIORITY_LOWEST));
    gids_stream *s = malloc(sizeof *s);
    GIDS_CHECK(s != NULL, GIDS_ENOMEM, "%s: out of host memory for the handle", op);
    *s = (gids_stream){device, priority, flags, atomic_fetch_add(&next_id_, 1)};
    gids_status st = gids_live_add(&live_, op, s->id);
    if (st != GIDS_OK) {
        free(s);
        return st;
    }
    if (flags & GIDS_STREAM_NONBLOCKING) atomic_fetch_add(&nonblocking_, 1);
    *out = s;
    return GIDS_OK;
}

gids_status lb_stream_destroy(gids_stream *s) {
    if (s == NULL) return GIDS_OK;
    if (current_ == s) current_ = NULL;
    gids_live_remove(&live_, s->id); /* and in any other thread, at its next lookup */
    if (s->flags & GIDS_STREAM_NONBLOCKING) atomic_fetch_sub(&nonblocking_, 1);
    lb_alloc_drop_stream(s->id); /* its work is done: every op finished when it returned */
    free(s);
    return GIDS_OK;
}

gids_status lb_stream_set(int device, gids_stream *s) {
    GIDS_TRY(check_pair("gpu stream set", device, s));
    current_ = s;
    current_id_ = s != NULL ? s->id : 0;
    return GIDS_OK;
}

gids_status lb_stream_get(int device, gids_stream **out) {
    GIDS_TRY(gids_check_given("gpu stream get", out != NULL, "out"));
    GIDS_TRY(lb_check_device("gpu stream get", device));
    *out = current();
    return GIDS_OK;
}

gids_status lb_stream_synchronize(int device, gids_stream *s) {
    GIDS_TRY(check_pair("gpu stream synchronize", device, s));
    lb_waited();
    return GIDS_OK;
}

gids_status lb_stream_query(int device, gids_stream *s, bool *done) {
    GIDS_TRY(gids_check_given("gpu stream query", done != NULL, "done"));
    GIDS_TRY(check_pair("gpu stream query", device, s));
    *done = true;
    return GIDS_OK;
}

gids_status lb_stream_wait_event(int device, gids_stream *s, gids_event *e) {
    GIDS_TRY(gids_check_given("gpu stream wait_event", e != NULL, "event"));
    return check_pair("gpu stream wait_event", device, s);
}

/* ---------------------------------------------------------------- events */
gids_status lb_event_create(gids_event **out, int device, bool timing) {
    const char *op = "gpu event create";
    GIDS_TRY(gids_check_given(op, out != NULL, "out"));
    *out = NULL;
    GIDS_TRY(lb_check_device(op, device));
    gids_event *e = malloc(sizeof *e);
    GIDS_CHECK(e != NULL, GIDS_ENOMEM, "%s: out of host memory for the handle", op);
    *e = (gids_event){device, timing, false, 0.0};
    *out = e;
    return GIDS_OK;
}

gids_status lb_event_record(gids_event *e, int device, gids_stream *s) {
    const char *op = "gpu event record";
    GIDS_TRY(gids_check_given(op, e != NULL, "event"));
    GIDS_TRY(check_pair(op, device, s));
    GIDS_TRY(gids_check_event_of(op, e->device, device));
    e->ms = now_ms();
    e->recorded = true;
    return GIDS_OK;
}

gids_status lb_event_synchronize(gids_event *e) {
    GIDS_TRY(gids_check_given("gpu event synchronize", e != NULL, "event"));
    lb_waited();
    return GIDS_OK;
}

gids_status lb_event_query(gids_event *e, bool *done) {
    GIDS_TRY(gids_check_given("gpu event query", e != NULL && done != NULL, "event or done"));
    *done = true;
    return GIDS_OK;
}

gids_status lb_event_elapsed(const gids_event *start, const gids_event *end, double *ms) {
    const char *op = "gpu event elapsed_time";
    GIDS_TRY(gids_check_given(op, start != NULL && end != NULL && ms != NULL, "start, end or ms"));
    GIDS_TRY(gids_check_elapsed(op, facts(start), facts(end)));
    *ms = end->ms - start->ms;
    return GIDS_OK;
}

gids_status lb_event_destroy(gids_event *e) {
    free(e);
    return GIDS_OK;
}

/* ---------------------------------------------------------------- tensors */
gids_status lb_record_stream(const gids_tensor *t, gids_stream *s) {
    const char *op = "record_stream";
    GIDS_TRY(gids_check_record_stream_tensor(op, t));
    GIDS_TRY(check_pair(op, t->storage->device.index, s));
    GIDS_CHECK(lb_alloc_owns(t->storage->data), GIDS_EINVAL,
               "%s: the tensor's memory is not a block of cuda:0's caching allocator (memory "
               "wrapped from elsewhere is the caller's to keep alive)",
               op);
    return GIDS_OK; /* the stream's work is already done: nothing to wait for at free time */
}
