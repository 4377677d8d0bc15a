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
 *
 * Under valgrind the program is not the process's executable: /proc/self/exe is valgrind's tool
 * (memcheck-amd64-linux), so executing it again runs the tool without its launcher, which exits
 * 1 at once, silently (stderr is on /dev/null then); and a valgrind that mapped the path to the
 * program would run it natively, unchecked, unless told --trace-children=yes.  So under valgrind
 * the program keeps libgomp's defaults (the spinning costs time only, which valgrind's
 * slowdown dwarfs).  Valgrind always preloads its vgpreload_core library into the program it
 * runs, whatever the tool and version; looking for it in LD_PRELOAD needs no valgrind headers.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "host_impl.h"

/* The first start's stderr, kept open across the exec under this descriptor number. */
#define SAVED_STDERR_ENV "GRAPHIDS_REEXEC_STDERR"
/* The first start's process name (comm), which the exec would change. */
#define SAVED_NAME_ENV "GRAPHIDS_REEXEC_NAME"

static bool under_valgrind(void) {
    const char *preload = getenv("LD_PRELOAD");
    return preload != NULL && strstr(preload, "vgpreload_") != NULL;
}

void host_tune_openmp(char **argv) {
    /* What libgomp says while it loads (an OMP_NUM_THREADS it ignores: "Invalid value for
     * environment variable") it says in the first start and again in the second, which has
     * the same environment.  So the second start loads with stderr on /dev/null and gets the
     * real one back here, before main does anything: the message is printed once, and the
     * variables (and so the thread count) stay as the user set them.
     * The kernel names a process after the file it executes, here "exe" (of /proc/self/exe),
     * which ps, top and perf would show: the second start takes the first start's name, which
     * the kernel gave it from the path it executed (argv[0] may say anything).  Taken whether
     * or not stderr could be kept (a start with fd 2 closed). */
    const char *given = getenv(SAVED_NAME_ENV);
    if (given != NULL) {
        prctl(PR_SET_NAME, given, 0, 0, 0);
        unsetenv(SAVED_NAME_ENV);
    }
    const char *saved = getenv(SAVED_STDERR_ENV);
    if (saved != NULL) {
        int fd = atoi(saved);
        if (fd > STDERR_FILENO && dup2(fd, STDERR_FILENO) == STDERR_FILENO) close(fd);
        unsetenv(SAVED_STDERR_ENV);
        return;
    }
    if (getenv("OMP_WAIT_POLICY") != NULL || getenv("GOMP_SPINCOUNT") != NULL) return;
    if (under_valgrind()) return;
    if (setenv("GOMP_SPINCOUNT", "10000", 1) != 0) return;
    int keep = fcntl(STDERR_FILENO, F_DUPFD, 3); /* no FD_CLOEXEC: it survives the exec */
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    char num[16];
    if (keep >= 0 && null >= 0 && dup2(null, STDERR_FILENO) == STDERR_FILENO) {
        snprintf(num, sizeof num, "%d", keep);
        setenv(SAVED_STDERR_ENV, num, 1);
    }
    char name[17] = {0}; /* PR_GET_NAME writes at most 16 bytes, the NUL included */
    if (prctl(PR_GET_NAME, name, 0, 0, 0) == 0) setenv(SAVED_NAME_ENV, name, 1);
    if (null >= 0) close(null);
    execv("/proc/self/exe", argv);
    /* No exec (no /proc): this run keeps libgomp's defaults; its child processes get the
     * variable. */
    if (keep >= 0) {
        dup2(keep, STDERR_FILENO);
        close(keep);
    }
    unsetenv(SAVED_STDERR_ENV);
    unsetenv(SAVED_NAME_ENV);
}
