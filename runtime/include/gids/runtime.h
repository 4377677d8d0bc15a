/* gids/runtime.h -- version and process-wide settings.
 *
 *   printf("graphids %s, %d threads, BLAS %s\n", gids_version(), gids_get_num_threads(),
 *          gids_blas_info());
 */
#ifndef GIDS_RUNTIME_H
#define GIDS_RUNTIME_H

#include <stdbool.h>

#include "gids/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GIDS_VERSION_MAJOR 0
#define GIDS_VERSION_MINOR 1
#define GIDS_VERSION_PATCH 0
#define GIDS_VERSION_STRING "0.1.0"

const char *gids_version(void);
/* BORROW: BLAS library and its configuration ("OpenBLAS 0.3.21 ... Haswell MAX_THREADS=64"). */
const char *gids_blas_info(void);
/* Threads used by the CPU kernels (OpenMP) and by BLAS. */
int gids_get_num_threads(void);
void gids_set_num_threads(int n);
/* Whether the CPU kernels' parallel regions measure what their threads cost and, on a loaded
 * machine where the other threads would mostly be waited for, run on the calling thread alone
 * for a while (the results are the same bits either way): on unless GRAPHIDS_ADAPTIVE_THREADS=0.
 * The set returns the previous setting. */
bool gids_adaptive_threads(void);
bool gids_set_adaptive_threads(bool on);
/* EINVAL naming the first of graphids' environment switches (GRAPHIDS_RNN_TF32,
 * GRAPHIDS_ALLOW_TF32, GRAPHIDS_CUDA_SYNC, ...) set to a value it does not take: each reads
 * "1" as on and anything else as off, so `=yes` or `=true` would be silently off.  Empty is unset.
 * The Lua module checks them when it opens. */
gids_status gids_check_env(void);

#ifdef __cplusplus
}
#endif
#endif
