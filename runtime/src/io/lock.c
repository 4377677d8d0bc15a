/* lock.c -- advisory file locks (flock) with a timeout, for builds that must not run twice at
 * once (the dataset cache) and readers that must not see a build half done.  flock is released
 * by the kernel when the process dies, so a crashed build never leaves a stale lock. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "io_impl.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

gids_status gids_lock_acquire(int *fd_out, const char *path, bool exclusive, double timeout_s) {
    if (fd_out == NULL) GIDS_FAIL(GIDS_EINVAL, "lock: fd_out is NULL");
    *fd_out = -1;
    if (path == NULL || path[0] == '\0') GIDS_FAIL(GIDS_EINVAL, "lock: empty path");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    /* A reader of a read-only folder (a published lake, another user's) takes its shared lock
     * on the existing file: flock needs no write access. */
    if (fd < 0 && !exclusive && (errno == EACCES || errno == EROFS || errno == EPERM))
        fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) GIDS_FAIL(GIDS_EIO, "lock: cannot open '%s': %s", path, strerror(errno));
    int op = (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
    double deadline = now_s() + timeout_s;
    for (;;) {
        if (flock(fd, op) == 0) {
            *fd_out = fd;
            return GIDS_OK;
        }
        int e = errno;
        if (e != EWOULDBLOCK && e != EINTR) {
            close(fd);
            GIDS_FAIL(GIDS_EIO, "lock: flock '%s': %s", path, strerror(e));
        }
        if (timeout_s >= 0 && now_s() >= deadline) {
            close(fd);
            GIDS_FAIL(GIDS_ESTATE,
                      "lock: '%s' is held by another process (%s lock not acquired within "
                      "%.2f s)",
                      path, exclusive ? "exclusive" : "shared", timeout_s);
        }
        /* Polling (10 ms) rather than a blocking flock keeps the timeout without signals. */
        struct timespec nap = {0, 10 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
}

void gids_lock_release(int fd) {
    if (fd < 0) return;
    flock(fd, LOCK_UN);
    close(fd);
}
