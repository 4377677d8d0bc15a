/* append.c -- whole-record appends for trace and spool files (gids_append_file). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gids/io.h"

gids_status gids_append_file(const char *path, const void *data, size_t n, bool sync) {
    GIDS_CHECK(path != NULL && path[0] != '\0', GIDS_EINVAL, "append_file: path is empty");
    GIDS_CHECK(data != NULL || n == 0, GIDS_EINVAL, "append_file: data is NULL");
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    GIDS_CHECK(fd >= 0, GIDS_EIO, "append_file: cannot open '%s': %s", path, strerror(errno));
    /* One write keeps a record whole: with O_APPEND, a regular file receives it at the end in
     * one piece.  A short write (disk full) is reported, never completed by a second write that
     * another writer's record could precede. */
    ssize_t w;
    do {
        w = write(fd, data, n);
    } while (w < 0 && errno == EINTR);
    int err = errno;
    if (w < 0 || (size_t)w != n) {
        /* A partial record would be glued to the next one into a line no reader can parse:
         * cut it off again, unless another writer has appended after it meanwhile. */
        struct stat st;
        off_t end = w > 0 ? lseek(fd, 0, SEEK_CUR) : -1;
        if (end >= w && fstat(fd, &st) == 0 && st.st_size == end && ftruncate(fd, end - w) != 0) {
            /* (the short write is what is reported either way) */
        }
        close(fd);
        if (w < 0)
            GIDS_FAIL(GIDS_EIO, "append_file: cannot write %zu bytes to '%s': %s", n, path,
                      strerror(err));
        GIDS_FAIL(GIDS_EIO, "append_file: short write to '%s' (%zd of %zu bytes)", path, w, n);
    }
    if (sync && fsync(fd) != 0) {
        err = errno;
        close(fd);
        GIDS_FAIL(GIDS_EIO, "append_file: fsync '%s': %s", path, strerror(err));
    }
    GIDS_CHECK(close(fd) == 0, GIDS_EIO, "append_file: close '%s': %s", path, strerror(errno));
    return GIDS_OK;
}
