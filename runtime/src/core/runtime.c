/* runtime.c -- version, BLAS identification and thread settings. */
#include <omp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "core_impl.h"
#include "gids/runtime.h"
#include "iter_impl.h"

/* OpenBLAS entry points (declared here to avoid pulling cblas.h into the core). */
extern char *openblas_get_config(void);
extern void openblas_set_num_threads(int n);
extern int openblas_get_num_threads(void);

const char *gids_version(void) {
    return GIDS_VERSION_STRING;
}

const char *gids_blas_info(void) {
    static _Thread_local char buf[256];
    snprintf(buf, sizeof buf, "%s", openblas_get_config()); /* already starts with "OpenBLAS" */
    return buf;
}

/* The threads set by gids_set_num_threads (0: never set, OpenMP's default).  Kept here, not
 * only in OpenMP's setting, which belongs to the thread that set it: another OS thread (a second
 * Lua state of an embedding program) would keep its own while BLAS took the new one.  Every
 * parallel loop of the runtime names its team size from it. */
static int threads_;

int gids_get_num_threads(void) {
    int n = __atomic_load_n(&threads_, __ATOMIC_RELAXED);
    return n > 0 ? n : omp_get_max_threads();
}

/* OpenBLAS's thread count is process state that a GEMM reads while it runs: changing it while
 * another thread (another Lua state of an embedding program) is inside a GEMM gave wrong
 * products and hangs.  It changes in two ways: openblas_set_num_threads, and every GEMM of the
 * OpenMP build itself, which resets it to the calling thread's OpenMP setting when the two
 * differ (num_cpu_avail) -- and that setting is per thread.  So GEMMs hold this lock shared and
 * first give their thread the count OpenBLAS has, and a change holds it alone; writers are
 * preferred, so a stream of GEMMs cannot hold a change off for ever (no thread takes it twice:
 * each GEMM call locks around that call only). */
static pthread_rwlock_t blas_lock_ = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static int blas_threads_; /* what OpenBLAS was last told, written under the lock (0: nothing) */

/* Set while this thread holds blas_lock_ alone (gids_blas_alone_begin), with what to restore. */
static _Thread_local bool blas_alone_;
static _Thread_local int alone_blas_prev_, alone_omp_prev_;

void gids_blas_enter(void) {
    if (blas_alone_) return;
    pthread_rwlock_rdlock(&blas_lock_);
    if (blas_threads_ > 0 && !omp_in_parallel() && omp_get_max_threads() != blas_threads_)
        omp_set_num_threads(blas_threads_);
}

void gids_blas_leave(void) {
    if (blas_alone_) return;
    pthread_rwlock_unlock(&blas_lock_);
}

void gids_blas_alone_begin(void) {
    pthread_rwlock_wrlock(&blas_lock_);
    alone_omp_prev_ = omp_get_max_threads();
    alone_blas_prev_ = openblas_get_num_threads();
    if (alone_blas_prev_ != 1) openblas_set_num_threads(1);
    blas_alone_ = true;
}

void gids_blas_alone_end(void) {
    blas_alone_ = false;
    /* (openblas_set_num_threads also sets this thread's OpenMP count) */
    if (alone_blas_prev_ != 1) openblas_set_num_threads(alone_blas_prev_);
    omp_set_num_threads(alone_omp_prev_);
    pthread_rwlock_unlock(&blas_lock_);
}

void gids_set_num_threads(int n) {
    if (n < 1) n = 1;
    __atomic_store_n(&threads_, n, __ATOMIC_RELAXED);
    omp_set_num_threads(n);
    pthread_rwlock_wrlock(&blas_lock_);
    if (blas_threads_ != n) {
        openblas_set_num_threads(n);
        blas_threads_ = n;
    }
    pthread_rwlock_unlock(&blas_lock_);
}

int gids_threads_for(int64_t n) {
    if (n < GIDS_PARALLEL_GRAIN) return 1;
    int nt = gids_get_num_threads();
    int64_t useful = n / GIDS_PARALLEL_GRAIN;
    return useful < nt ? (int)useful : nt;
}
