/* runtime.c -- version, BLAS identification and thread settings. */
#include <omp.h>
#include <stdio.h>

#include "core_impl.h"
#include "gids/runtime.h"
#include "iter_impl.h"

/* OpenBLAS entry points (declared here to avoid pulling cblas.h into the core). */
extern char *openblas_get_config(void);
extern void openblas_set_num_threads(int n);

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

void gids_set_num_threads(int n) {
    if (n < 1) n = 1;
    __atomic_store_n(&threads_, n, __ATOMIC_RELAXED);
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int gids_threads_for(int64_t n) {
    if (n < GIDS_PARALLEL_GRAIN) return 1;
    int nt = gids_get_num_threads();
    int64_t useful = n / GIDS_PARALLEL_GRAIN;
    return useful < nt ? (int)useful : nt;
}
