/* team.c -- parallel regions that run on one thread while the second would only be waited for.
 *
 * Every OpenMP region of the runtime ends in a barrier that waits for each thread of its team.
 * On a machine whose cores other processes also want, a team thread is often not running when
 * the region starts, and the region then lasts until the scheduler gives it a core back: on the
 * 2-core development machine under a load of 4-7, the VGAE recipe's regions (about 300 a
 * training step, most of them elementwise ops of 30 000 to 300 000 elements) took 0.6 ms each
 * on average instead of a few microseconds, and 3 epochs ran in 42 s on 2 threads against 10 s
 * on one (bench/results/cpu-2026-11-28-vi.txt).  The program cannot know the load in advance,
 * so it measures it: now and then a region is timed, together with the CPU time each of its
 * threads spent in the region's body.  When over a window of such regions the teams took longer
 * than their bodies' summed CPU time -- what one thread would have needed -- the regions of
 * this OS thread run on one thread for a while (50 ms, doubling up to 1.6 s while the next
 * window says the same, back to 50 ms once a window says otherwise), then are tried again.
 *
 * Shrinking a team changes no result: the runtime's loops split their work into chunks that do
 * not depend on the team (docs/architecture.md, "Determinism").  A region whose threads call
 * BLAS (gids_team_blas_begin) runs its GEMMs single-threaded inside a team of several, where
 * OpenBLAS stays on one thread; on one thread it would use OpenBLAS's own threads, which could
 * round them differently, so such a region, shrunk, runs with OpenBLAS set to one thread
 * (gids_blas_alone_begin: it holds the BLAS lock alone meanwhile).
 *
 * The hook: the runtime is linked with -Wl,--wrap for the two libgomp entry points GCC emits for
 * its regions (Makefile, TEAM_WRAP), so each of the runtime's regions comes here and OpenBLAS's
 * own do not.  gids_set_adaptive_threads(false) or GRAPHIDS_ADAPTIVE_THREADS=0 keeps every team
 * at its requested size. */
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core_impl.h"
#include "gids/runtime.h"

typedef void (*region_fn)(void *);

void __real_GOMP_parallel(region_fn fn, void *data, unsigned nthreads, unsigned flags);
void __real_GOMP_parallel_loop_nonmonotonic_dynamic(region_fn fn, void *data, unsigned nthreads,
                                                    long start, long end, long incr, long chunk,
                                                    unsigned flags);
void __wrap_GOMP_parallel(region_fn fn, void *data, unsigned nthreads, unsigned flags);
void __wrap_GOMP_parallel_loop_nonmonotonic_dynamic(region_fn fn, void *data, unsigned nthreads,
                                                    long start, long end, long incr, long chunk,
                                                    unsigned flags);

#define TEAM_TIMED_MAX 64             /* threads whose CPU time a timed region records */
#define TEAM_WINDOW 8                 /* timed regions per decision */
#define TEAM_SAMPLE_EVERY 4           /* while teams pay off, one region in this many is timed */
#define TEAM_BACKOFF_MIN 50000000LL   /* ns on one thread after a first window that did not pay */
#define TEAM_BACKOFF_MAX 1600000000LL /* ns: the longest, so a quiet machine is seen in 1.6 s */

/* Per OS thread that starts regions (each Lua state of an embedding program has its own). */
typedef struct team_state {
    int64_t serial_until; /* CLOCK_MONOTONIC ns: regions started before it get one thread */
    int64_t backoff;      /* ns: the next serial stretch */
    int64_t wall, cpu;    /* ns over the window: the regions' time, their bodies' CPU time */
    int timed, skipped;   /* timed regions in the window, regions since the last timed one */
    int blas;             /* gids_team_blas_begin depth */
    bool probing;         /* the first window after a serial stretch: every region timed */
} team_state;

static _Thread_local team_state ts_ = {0, TEAM_BACKOFF_MIN, 0, 0, 0, 0, 0, false};

static int64_t clock_ns(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* -1 until read or set; then 1 (on) or 0.  GRAPHIDS_ADAPTIVE_THREADS=0 starts it off (env.c
 * checks the value). */
static int adaptive_ = -1;

bool gids_adaptive_threads(void) {
    int v = __atomic_load_n(&adaptive_, __ATOMIC_ACQUIRE);
    if (v < 0) {
        const char *e = getenv("GRAPHIDS_ADAPTIVE_THREADS");
        int want = !(e != NULL && strcmp(e, "0") == 0);
        /* a racing set wins over the environment */
        __atomic_compare_exchange_n(&adaptive_, &v, want, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE);
        v = __atomic_load_n(&adaptive_, __ATOMIC_ACQUIRE);
    }
    return v == 1;
}

bool gids_set_adaptive_threads(bool on) {
    bool was = gids_adaptive_threads();
    __atomic_store_n(&adaptive_, on ? 1 : 0, __ATOMIC_RELEASE);
    return was;
}

void gids_team_blas_begin(void) {
    ts_.blas++;
}

void gids_team_blas_end(void) {
    ts_.blas--;
}

/* A timed region: the body each thread runs, with the CPU time it took. */
typedef struct timed_region {
    region_fn fn;
    void *data;
    int64_t cpu[TEAM_TIMED_MAX];
} timed_region;

static void timed_body(void *p) {
    timed_region *r = p;
    int t = omp_get_thread_num();
    int64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    r->fn(r->data);
    if (t < TEAM_TIMED_MAX) r->cpu[t] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
}

/* Closes a window: one thread for the next stretch when the teams did not pay. */
static void decide(int64_t now) {
    if (ts_.wall > ts_.cpu) {
        ts_.serial_until = now + ts_.backoff;
        ts_.backoff = ts_.backoff * 2 < TEAM_BACKOFF_MAX ? ts_.backoff * 2 : TEAM_BACKOFF_MAX;
        ts_.probing = true;
    } else {
        ts_.backoff = TEAM_BACKOFF_MIN;
        ts_.probing = false;
    }
    ts_.wall = ts_.cpu = 0;
    ts_.timed = 0;
}

/* How a region asked for `nthreads` runs: 0 -> as asked, untimed; 1 -> on one thread;
 * 2 -> as asked, timed. */
static int plan(unsigned nthreads) {
    if (nthreads == 1 || omp_in_parallel() || !gids_adaptive_threads()) return 0;
    if (ts_.serial_until != 0) {
        if (clock_ns(CLOCK_MONOTONIC) < ts_.serial_until) return 1;
        ts_.serial_until = 0;
    }
    if (!ts_.probing && ++ts_.skipped < TEAM_SAMPLE_EVERY) return 0;
    ts_.skipped = 0;
    return 2;
}

static void account(const timed_region *r, int64_t wall, unsigned nthreads) {
    int n = nthreads == 0 || nthreads > TEAM_TIMED_MAX ? TEAM_TIMED_MAX : (int)nthreads;
    for (int t = 0; t < n; t++) ts_.cpu += r->cpu[t];
    ts_.wall += wall;
    if (++ts_.timed >= TEAM_WINDOW) decide(clock_ns(CLOCK_MONOTONIC));
}

/* A region as the program started it: GOMP_parallel's arguments, or the dynamic loop's too. */
typedef struct launch {
    region_fn fn;
    void *data;
    unsigned flags;
    bool loop;
    long start, end, incr, chunk;
} launch;

static void start(const launch *l, region_fn fn, void *data, unsigned nthreads) {
    if (l->loop)
        __real_GOMP_parallel_loop_nonmonotonic_dynamic(fn, data, nthreads, l->start, l->end,
                                                       l->incr, l->chunk, l->flags);
    else
        __real_GOMP_parallel(fn, data, nthreads, l->flags);
}

static void run(const launch *l, unsigned nthreads) {
    int how = plan(nthreads);
    if (how == 0) {
        start(l, l->fn, l->data, nthreads);
    } else if (how == 1) {
        bool blas = ts_.blas > 0;
        if (blas) gids_blas_alone_begin();
        start(l, l->fn, l->data, 1);
        if (blas) gids_blas_alone_end();
    } else {
        timed_region r = {l->fn, l->data, {0}};
        int64_t t0 = clock_ns(CLOCK_MONOTONIC);
        start(l, timed_body, &r, nthreads);
        account(&r, clock_ns(CLOCK_MONOTONIC) - t0, nthreads);
    }
}

void __wrap_GOMP_parallel(region_fn fn, void *data, unsigned nthreads, unsigned flags) {
    launch l = {fn, data, flags, false, 0, 0, 0, 0};
    run(&l, nthreads);
}

void __wrap_GOMP_parallel_loop_nonmonotonic_dynamic(region_fn fn, void *data, unsigned nthreads,
                                                    long start_, long end, long incr, long chunk,
                                                    unsigned flags) {
    launch l = {fn, data, flags, true, start_, end, incr, chunk};
    run(&l, nthreads);
}
