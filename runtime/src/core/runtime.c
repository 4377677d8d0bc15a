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

int gids_get_num_threads(void) {
    return omp_get_max_threads();
}

void gids_set_num_threads(int n) {
    if (n < 1) n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int gids_threads_for(int64_t n) {
    if (n < GIDS_PARALLEL_GRAIN) return 1;
    int nt = omp_get_max_threads();
    int64_t useful = n / GIDS_PARALLEL_GRAIN;
    return useful < nt ? (int)useful : nt;
}
