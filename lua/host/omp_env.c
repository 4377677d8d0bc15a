/* omp_env.c -- how the graphids program's OpenMP threads wait.
 *
 * libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, while it is loaded, before main runs.
 * By default a thread that reaches a barrier first spins for up to 300 000 iterations before it
 * sleeps.  On a machine whose cores other processes also want, that spinning holds the core the
 * descheduled partner thread needs to reach the barrier: a VGAE training step of the hcrl_sa
 * recipe (64 graphs, 2 threads, a Zen 5 with two busy processes beside it) took 840-930 ms
 * instead of the quiet machine's 24.  With GOMP_SPINCOUNT=10000 it took 210-220 ms there and 24
 * on the quiet machine (OMP_WAIT_POLICY=PASSIVE: 470 and 30).  So when neither variable is set,
 * the program sets GOMP_SPINCOUNT=10000 and executes itself again, once, so that libgomp reads
 * it.  A Lua interpreter or a C program that loads graphids itself must set it in its own
 * environment (docs/development.md).
 */
#include <stdlib.h>
#include <unistd.h>

#include "host_impl.h"

void host_tune_openmp(char **argv) {
    if (getenv("OMP_WAIT_POLICY") != NULL || getenv("GOMP_SPINCOUNT") != NULL) return;
    if (setenv("GOMP_SPINCOUNT", "10000", 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* No exec (no /proc): this run keeps libgomp's defaults; its child processes get the
     * variable. */
}
