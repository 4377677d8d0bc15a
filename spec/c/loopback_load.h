/* loopback_load.h -- loads the loopback plugin as the CUDA backend for the C specs that run
 * device paths on the CPU (built with LOOPBACK_SO defined, and -Wl,-E so the plugin resolves
 * the runtime's symbols from the test binary; see the Makefile's LOOPBACK_CTESTS).
 *
 *   if (!load_loopback(NULL)) return check_summary("stream");
 *
 * The loopback's knobs are cleared first so a developer's environment cannot change what a
 * spec sees; `disable` (or NULL) becomes GIDS_LOOPBACK_DISABLE.  A failure is printed and
 * counted as a failed check.
 */
#ifndef GIDS_SPEC_LOOPBACK_LOAD_H
#define GIDS_SPEC_LOOPBACK_LOAD_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "gids/backend.h"

static inline bool load_loopback(const char *disable) {
    setenv("GIDS_CUDA_PLUGIN", LOOPBACK_SO, 1);
    if (disable != NULL)
        setenv("GIDS_LOOPBACK_DISABLE", disable, 1);
    else
        unsetenv("GIDS_LOOPBACK_DISABLE");
    unsetenv("GIDS_LOOPBACK_ALL");
    unsetenv("GIDS_LOOPBACK_POISON");
    unsetenv("GIDS_LOOPBACK_TAG");
    unsetenv("GIDS_LOOPBACK_MEMORY_MIB");
    if (gids_backend_load() != GIDS_OK) {
        fprintf(stderr, "FAIL loading %s: %s\n", LOOPBACK_SO, gids_error_message());
        check_failed_++;
        return false;
    }
    return true;
}

#endif
