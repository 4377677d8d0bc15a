/* test_stream.c -- backend ABI 6 (streams and events, gids/backend.h) through the public C API
 * on the loopback plugin (runtime/src/loopback/stream.c, allocator.c): streams are made and
 * destroyed, the current stream is per thread, events record, query, synchronize and time,
 * record_stream accepts only the allocator's device blocks, the allocator keeps one pool per
 * stream (a block freed on S is taken again by an allocation on S only, a destroyed stream's
 * cached blocks go back, its live ones join the default pool), and every misuse is an error
 * naming the argument.
 *
 * Built like test_loopback (Makefile): the runtime linked whole and exported with -Wl,-E, the
 * plugin's path in LOOPBACK_SO.  The handles are opaque to callers; the error paths that need a
 * handle of a second device (the loopback has one) build one from the plugin's own definition
 * (loopback_impl.h), as a second GPU's handle would reach these entries on a real machine.  A
 * destroyed handle is freed memory, so a caller's use of it is not detectable (as on CUDA): not
 * tested; a stream another thread destroyed while current here is (the thread falls back to the
 * default stream, ASan sees any read of the freed handle). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "helpers.h"
#include "loopback_load.h"

#include "../../runtime/src/loopback/loopback_impl.h"

#define DEV ((gids_device){GIDS_CUDA, 0})
#define BLOCK_FLOATS 4096 /* 16 KiB: one small block of the allocator */
#define BLOCK_BYTES ((int64_t)BLOCK_FLOATS * 4)

static const gids_backend *be_;

static gids_stream *new_stream(int priority, unsigned flags) {
    gids_stream *s = NULL;
    CHECK_OK(be_->stream_create(&s, 0, priority, flags));
    CHECK(s != NULL);
    return s;
}

static gids_stream *current(void) {
    gids_stream *s = (gids_stream *)&s; /* any non-NULL value, so a missed write shows */
    CHECK_OK(be_->stream_get(0, &s));
    return s;
}

/* A new 16 KiB device tensor allocated on the calling thread's current stream. */
static gids_tensor *block_on_current(void) {
    gids_tensor *t = NULL;
    CHECK_OK(gids_empty(&t, GIDS_F32, DEV, 1, (int64_t[]){BLOCK_FLOATS}));
    return t;
}

static int64_t cached_bytes(void) {
    gids_gpu_memory m;
    CHECK_OK(be_->memory(0, &m));
    return m.reserved - m.allocated;
}

TEST(streams_are_made_with_checked_priorities_and_flags_and_destroyed) {
    gids_stream *s = new_stream(0, 0), *hi = new_stream(-5, GIDS_STREAM_NONBLOCKING);
    CHECK(s != hi);
    CHECK_OK(be_->stream_synchronize(0, s));
    CHECK_OK(be_->stream_synchronize(0, NULL)); /* the legacy default stream */
    bool done = false;
    CHECK_OK(be_->stream_query(0, hi, &done));
    CHECK(done); /* the loopback's work is done when its op returns */
    gids_stream *bad = (gids_stream *)&bad;
    CHECK_ERR(be_->stream_create(&bad, 0, 1, 0), GIDS_EINVAL,
              "priority 1 is outside cuda:0's range -5 (highest) to 0 (lowest)");
    CHECK(bad == NULL); /* cleared on failure */
    CHECK_ERR(be_->stream_create(&bad, 0, -6, 0), GIDS_EINVAL, "priority -6 is outside");
    CHECK_ERR(be_->stream_create(&bad, 0, 0, 6), GIDS_EINVAL,
              "unknown flags 0x6 (expected 0 or GIDS_STREAM_NONBLOCKING)");
    CHECK_ERR(be_->stream_create(&bad, 1, 0, 0), GIDS_EDEVICE, "device cuda:1 does not exist");
    CHECK_ERR(be_->stream_create(NULL, 0, 0, 0), GIDS_EINVAL, "gpu stream create: out is NULL");
    CHECK_OK(be_->stream_destroy(hi));
    CHECK_OK(be_->stream_destroy(s));
    CHECK_OK(be_->stream_destroy(NULL)); /* nothing, as free(NULL) */
}

TEST(the_current_stream_is_set_per_thread_and_destroying_it_restores_the_default) {
    CHECK(current() == NULL); /* at first the legacy default stream */
    gids_stream *s = new_stream(0, 0);
    CHECK_OK(be_->stream_set(0, s));
    CHECK(current() == s);
    CHECK_OK(be_->stream_set(0, NULL));
    CHECK(current() == NULL);
    CHECK_OK(be_->stream_set(0, s));
    CHECK_OK(be_->stream_destroy(s)); /* the current one: the default becomes current */
    CHECK(current() == NULL);
    CHECK_ERR(be_->stream_get(0, NULL), GIDS_EINVAL, "gpu stream get: out is NULL");
    gids_stream *out = NULL;
    CHECK_ERR(be_->stream_get(3, &out), GIDS_EDEVICE, "gpu stream get: device cuda:3");
    CHECK_ERR(be_->stream_set(1, NULL), GIDS_EDEVICE, "gpu stream set: device cuda:1");
}

typedef struct {
    gids_stream *seen, *own, *own_after_set;
    gids_status st;
} thread_view;

static void *other_thread(void *arg) {
    thread_view *v = arg;
    v->seen = (gids_stream *)v; /* overwritten by stream_get */
    v->st = be_->stream_get(0, &v->seen);
    if (v->st == GIDS_OK) v->st = be_->stream_set(0, v->own);
    if (v->st == GIDS_OK) v->st = be_->stream_get(0, &v->own_after_set);
    return NULL;
}

TEST(a_second_thread_sees_the_default_stream_and_sets_its_own) {
    gids_stream *mine = new_stream(0, 0), *theirs = new_stream(0, 0);
    CHECK_OK(be_->stream_set(0, mine));
    thread_view v = {NULL, theirs, NULL, GIDS_OK};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, other_thread, &v) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(v.st == GIDS_OK);
    CHECK(v.seen == NULL);            /* not this thread's stream */
    CHECK(v.own_after_set == theirs); /* its own setting held there */
    CHECK(current() == mine);         /* and did not change this thread's */
    CHECK_OK(be_->stream_set(0, NULL));
    CHECK_OK(be_->stream_destroy(mine));
    CHECK_OK(be_->stream_destroy(theirs));
}

/* A thread whose current stream another thread destroys (a Lua state closed elsewhere). */
typedef struct {
    pthread_barrier_t made, destroyed;
    gids_stream *s, *after;
    gids_status st;
    bool used;
} destroyed_view;

static void *thread_with_a_current_stream(void *arg) {
    destroyed_view *v = arg;
    v->st = be_->stream_create(&v->s, 0, 0, 0);
    if (v->st == GIDS_OK) v->st = be_->stream_set(0, v->s);
    pthread_barrier_wait(&v->made);
    pthread_barrier_wait(&v->destroyed); /* the main thread destroys v->s in between */
    if (v->st != GIDS_OK) return NULL;
    v->after = (gids_stream *)v;
    v->st = be_->stream_get(0, &v->after);
    /* an upload: allocates on the current stream's pool (its id) and asks whether the stream
     * is the default one */
    gids_tensor *h = NULL, *d = NULL;
    if (v->st == GIDS_OK) v->st = gids_zeros(&h, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){4});
    if (v->st == GIDS_OK) v->st = gids_to_device(&d, h, DEV);
    v->used = d != NULL;
    gids_tensor_release(h), gids_tensor_release(d);
    return NULL;
}

TEST(a_stream_another_thread_destroys_is_no_longer_current_here) {
    destroyed_view v = {.st = GIDS_OK};
    pthread_barrier_init(&v.made, NULL, 2);
    pthread_barrier_init(&v.destroyed, NULL, 2);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_with_a_current_stream, &v) == 0);
    pthread_barrier_wait(&v.made);
    gids_stream *keep = new_stream(0, 0); /* a live stream is still found among others */
    CHECK_OK(be_->stream_destroy(v.s));
    pthread_barrier_wait(&v.destroyed);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(v.st == GIDS_OK);
    CHECK(v.after == NULL); /* the default stream, not the freed handle */
    CHECK(v.used);
    CHECK_OK(be_->stream_set(0, keep)); /* this thread's own, untouched by the other's */
    gids_stream *other = new_stream(0, 0);
    CHECK_OK(be_->stream_destroy(other)); /* a destroy elsewhere: keep is checked, and live */
    CHECK(current() == keep);
    CHECK_OK(be_->stream_destroy(keep));
    CHECK(current() == NULL);
    pthread_barrier_destroy(&v.made);
    pthread_barrier_destroy(&v.destroyed);
}

TEST(ops_on_a_side_stream_give_the_default_streams_result) {
    gids_stream *s = new_stream(-1, 0);
    gids_tensor *a = from(GIDS_F32, 1, (int64_t[]){3}, (float[]){1, 2, 3}), *d = NULL, *y = NULL,
                *h = NULL;
    CHECK_OK(be_->stream_set(0, s));
    CHECK_OK(gids_to_device(&d, a, DEV));
    CHECK_OK(gids_binary(&y, GIDS_MUL, d, d));
    CHECK_OK(be_->stream_synchronize(0, s));
    CHECK_OK(be_->stream_set(0, NULL));
    CHECK_OK(gids_to_device(&h, y, GIDS_DEVICE_CPU));
    if (h != NULL) check_values(h, 3, (double[]){1, 4, 9});
    gids_tensor_release(a), gids_tensor_release(d), gids_tensor_release(y), gids_tensor_release(h);
    CHECK_OK(be_->stream_destroy(s));
}

static void sleep_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

TEST(events_record_query_synchronize_and_time_the_work_between_them) {
    gids_stream *s = new_stream(0, 0);
    gids_event *start = NULL, *end = NULL, *plain = NULL;
    CHECK_OK(be_->event_create(&start, 0, true));
    CHECK_OK(be_->event_create(&end, 0, true));
    CHECK_OK(be_->event_create(&plain, 0, false));
    bool done = false;
    CHECK_OK(be_->event_query(plain, &done));
    CHECK(done); /* never recorded: complete */
    CHECK_OK(be_->event_synchronize(plain));
    double ms = -1;
    CHECK_ERR(be_->event_elapsed(start, end, &ms), GIDS_EINVAL,
              "gpu event elapsed_time: the start event was never recorded");
    CHECK_OK(be_->event_record(start, 0, s));
    CHECK_ERR(be_->event_elapsed(start, end, &ms), GIDS_EINVAL, "the end event was never recorded");
    sleep_ms(20);
    CHECK_OK(be_->event_record(end, 0, NULL)); /* on the default stream */
    CHECK_OK(be_->event_synchronize(end));
    done = false;
    CHECK_OK(be_->event_query(end, &done));
    CHECK(done);
    CHECK_OK(be_->event_elapsed(start, end, &ms));
    CHECK(ms >= 19.0 && ms < 5000.0);
    CHECK_OK(be_->event_record(plain, 0, s));
    CHECK_ERR(be_->event_elapsed(start, plain, &ms), GIDS_EINVAL,
              "the end event was created without timing (Event{timing = true})");
    CHECK_ERR(be_->event_elapsed(plain, end, &ms), GIDS_EINVAL,
              "the start event was created without timing");
    /* a stream waits for an event (any device's, the loopback has nothing to wait for) */
    CHECK_OK(be_->stream_wait_event(0, s, end));
    CHECK_OK(be_->stream_wait_event(0, NULL, plain));
    CHECK_OK(be_->event_destroy(start));
    CHECK_OK(be_->event_destroy(end));
    CHECK_OK(be_->event_destroy(plain));
    CHECK_OK(be_->event_destroy(NULL));
    CHECK_OK(be_->stream_destroy(s));
}

TEST(event_and_stream_entries_reject_null_handles_and_other_devices) {
    gids_stream *s = new_stream(0, 0);
    gids_event *e = NULL, *bad = (gids_event *)&bad;
    CHECK_OK(be_->event_create(&e, 0, true));
    bool done;
    double ms;
    CHECK_ERR(be_->event_create(NULL, 0, false), GIDS_EINVAL, "gpu event create: out is NULL");
    CHECK_ERR(be_->event_create(&bad, 2, false), GIDS_EDEVICE,
              "gpu event create: device cuda:2 does not exist");
    CHECK(bad == NULL);
    CHECK_ERR(be_->event_record(NULL, 0, s), GIDS_EINVAL, "gpu event record: event is NULL");
    CHECK_ERR(be_->event_record(e, 1, NULL), GIDS_EDEVICE, "gpu event record: device cuda:1");
    CHECK_ERR(be_->event_synchronize(NULL), GIDS_EINVAL, "gpu event synchronize: event is NULL");
    CHECK_ERR(be_->event_query(NULL, &done), GIDS_EINVAL, "gpu event query: event or done is NULL");
    CHECK_ERR(be_->event_query(e, NULL), GIDS_EINVAL, "gpu event query: event or done is NULL");
    CHECK_ERR(be_->event_elapsed(e, NULL, &ms), GIDS_EINVAL, "start, end or ms is NULL");
    CHECK_ERR(be_->event_elapsed(e, e, NULL), GIDS_EINVAL, "start, end or ms is NULL");
    CHECK_ERR(be_->stream_query(0, s, NULL), GIDS_EINVAL, "gpu stream query: done is NULL");
    CHECK_ERR(be_->stream_wait_event(0, s, NULL), GIDS_EINVAL,
              "gpu stream wait_event: event is NULL");
    CHECK_ERR(be_->stream_synchronize(4, NULL), GIDS_EDEVICE,
              "gpu stream synchronize: device cuda:4");

    /* Handles of a second device, as a two-GPU machine would pass them. */
    gids_stream other_s = {1, 0, 0, 999999};
    gids_event other_e = {1, true, true, 0.0};
    CHECK_ERR(be_->stream_set(0, &other_s), GIDS_EINVAL,
              "gpu stream set: the stream belongs to cuda:1, not to cuda:0");
    CHECK_ERR(be_->stream_query(0, &other_s, &done), GIDS_EINVAL,
              "gpu stream query: the stream belongs to cuda:1");
    CHECK_ERR(be_->event_record(&other_e, 0, s), GIDS_EINVAL,
              "gpu event record: the event belongs to cuda:1, the stream to cuda:0");
    CHECK_OK(be_->event_record(e, 0, s));
    CHECK_ERR(be_->event_elapsed(e, &other_e, &ms), GIDS_EINVAL,
              "the events belong to cuda:0 and cuda:1, not one device");
    CHECK_OK(be_->stream_wait_event(0, s, &other_e)); /* across devices is allowed */
    CHECK(current() == NULL);                         /* no failed set changed the current stream */
    CHECK_OK(be_->event_destroy(e));
    CHECK_OK(be_->stream_destroy(s));
}

TEST(record_stream_takes_device_blocks_of_the_allocator_only) {
    gids_stream *s = new_stream(0, 0), *t = new_stream(0, 0);
    CHECK_OK(be_->stream_set(0, s));
    gids_tensor *d = block_on_current(), *v = NULL, *c = NULL;
    CHECK_OK(be_->stream_set(0, NULL));
    CHECK_OK(be_->record_stream(d, t)); /* used on t too */
    CHECK_OK(be_->record_stream(d, NULL));
    CHECK_OK(gids_narrow(&v, d, 0, 8, 16)); /* a view: its storage is still the block */
    CHECK_OK(be_->record_stream(v, t));
    CHECK_ERR(be_->record_stream(NULL, t), GIDS_EINVAL, "record_stream: tensor is NULL");
    CHECK_OK(gids_zeros(&c, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){4}));
    CHECK_ERR(be_->record_stream(c, t), GIDS_EDEVICE,
              "record_stream: expected a CUDA tensor, got one on cpu");
    gids_stream other = {1, 0, 0, 999998};
    CHECK_ERR(be_->record_stream(d, &other), GIDS_EINVAL,
              "record_stream: the stream belongs to cuda:1, not to cuda:0");
    /* device memory wrapped from elsewhere is not the allocator's to delay */
    gids_storage *w = NULL;
    gids_tensor *wt = NULL;
    CHECK_OK(gids_storage_wrap(&w, DEV, (char *)d->storage->data + BLOCK_BYTES / 2,
                               (size_t)BLOCK_BYTES / 2, NULL, NULL));
    CHECK_OK(gids_tensor_from_storage(&wt, w, GIDS_F32, 1, (int64_t[]){4}, (int64_t[]){1}, 0));
    if (wt != NULL)
        CHECK_ERR(be_->record_stream(wt, t), GIDS_EINVAL,
                  "the tensor's memory is not a block of cuda:0's caching allocator");
    gids_tensor_release(wt), gids_storage_release(w);
    gids_tensor_release(c), gids_tensor_release(v), gids_tensor_release(d);
    CHECK_OK(be_->stream_destroy(s));
    CHECK_OK(be_->stream_destroy(t));
}

TEST(a_block_freed_on_a_stream_is_reused_by_that_stream_only) {
    CHECK_OK(be_->reset(0));
    CHECK(cached_bytes() == 0);
    gids_stream *s = new_stream(0, 0), *t = new_stream(0, 0);

    CHECK_OK(be_->stream_set(0, s));
    gids_tensor *a = block_on_current();
    void *pa = a->storage->data;
    gids_tensor_release(a); /* cached in s's pool */
    CHECK(cached_bytes() == BLOCK_BYTES);

    CHECK_OK(be_->stream_set(0, t));
    gids_tensor *b = block_on_current(); /* t cannot take s's block */
    CHECK(b->storage->data != pa);
    CHECK(cached_bytes() == BLOCK_BYTES);
    CHECK_OK(be_->stream_set(0, NULL));
    gids_tensor *c = block_on_current(); /* nor can the default stream */
    CHECK(c->storage->data != pa && c->storage->data != b->storage->data);
    /* freed while the default stream is current, b still goes back to t's pool */
    gids_tensor_release(b);
    gids_tensor_release(c);
    CHECK(cached_bytes() == 3 * BLOCK_BYTES);

    CHECK_OK(be_->stream_set(0, s));
    gids_tensor *d = block_on_current(); /* s takes its own block back */
    CHECK(d->storage->data == pa);
    CHECK(cached_bytes() == 2 * BLOCK_BYTES);
    CHECK_OK(be_->stream_set(0, NULL));

    /* Destroying s while d is live: nothing of s is cached, d joins the default pool later. */
    CHECK_OK(be_->stream_destroy(s));
    CHECK(cached_bytes() == 2 * BLOCK_BYTES);
    gids_tensor_release(d);
    CHECK(cached_bytes() == 3 * BLOCK_BYTES);
    gids_tensor *e = block_on_current();
    gids_tensor *f = block_on_current(); /* the default pool held two blocks: c's and d's */
    CHECK(e->storage->data == pa || f->storage->data == pa);
    CHECK(cached_bytes() == BLOCK_BYTES); /* t's block, untouched */
    gids_tensor_release(e), gids_tensor_release(f);

    /* Destroying t returns its cached block to the driver (reserved falls), not the others. */
    gids_gpu_memory before, after;
    CHECK_OK(be_->memory(0, &before));
    CHECK_OK(be_->stream_destroy(t));
    CHECK_OK(be_->memory(0, &after));
    CHECK(before.reserved - after.reserved == BLOCK_BYTES);
    CHECK(after.allocated == before.allocated);
    CHECK(cached_bytes() == 2 * BLOCK_BYTES);
    CHECK_OK(be_->reset(0));
    CHECK(cached_bytes() == 0);
}

int main(void) {
    if (!load_loopback(NULL)) return check_summary("stream");
    be_ = gids_backend_get(GIDS_CUDA);
    RUN(streams_are_made_with_checked_priorities_and_flags_and_destroyed);
    RUN(the_current_stream_is_set_per_thread_and_destroying_it_restores_the_default);
    RUN(a_second_thread_sees_the_default_stream_and_sets_its_own);
    RUN(a_stream_another_thread_destroys_is_no_longer_current_here);
    RUN(ops_on_a_side_stream_give_the_default_streams_result);
    RUN(events_record_query_synchronize_and_time_the_work_between_them);
    RUN(event_and_stream_entries_reject_null_handles_and_other_devices);
    RUN(record_stream_takes_device_blocks_of_the_allocator_only);
    RUN(a_block_freed_on_a_stream_is_reused_by_that_stream_only);
    CHECK_OK(be_->reset(-1)); /* cached blocks back before the leak check */
    return check_summary("stream");
}
