/* atomic.c -- atomic file replacement: write a temp file in the target's directory (a rename
 * is atomic only within one file system), fsync it, rename it over the target, then fsync the
 * directory so the rename itself survives a crash.  Readers see the old file or the new one.
 * A replaced file keeps its permission bits (a chmod 600 checkpoint stays private), and a path
 * that is a symbolic link is written through: the temp file goes beside the file the link
 * leads to and is renamed onto it, so the link stays a link (as open(path, "wb") would). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_impl.h"

static atomic_uint_fast64_t tmp_counter;

/* NEW *dir: the directory part of path ("." when it has none). */
static gids_status dir_of(const char *path, char **dir) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL) return io_strdup(dir, ".", "a directory name");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    *dir = malloc(n + 1);
    if (*dir == NULL) GIDS_FAIL(GIDS_ENOMEM, "atomic write: out of memory");
    memcpy(*dir, path, n);
    (*dir)[n] = '\0';
    return GIDS_OK;
}

gids_status gids_fsync_dir(const char *dir) {
    GIDS_CHECK(dir != NULL, GIDS_EINVAL, "fsync: the directory is NULL");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) GIDS_FAIL(GIDS_EIO, "fsync: cannot open directory '%s': %s", dir, strerror(errno));
    int r = fsync(fd);
    int e = errno;
    close(fd);
    /* Some file systems cannot fsync a directory; the rename is as durable as they allow. */
    if (r != 0 && e != EINVAL && e != ENOTSUP)
        GIDS_FAIL(GIDS_EIO, "fsync: directory '%s': %s", dir, strerror(e));
    return GIDS_OK;
}

/* NEW *out: the file path leads to, following symbolic links (up to 40, as the kernel does);
 * a relative link target is taken from the link's directory.  The last link may dangle: the
 * write then creates the file it names.  path itself when it is no link. */
static gids_status resolve_links(const char *path, char **out) {
    char *cur = NULL;
    GIDS_TRY(io_strdup(&cur, path, "a path"));
    for (int hops = 0;; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) break;
        if (hops == 40) {
            free(cur);
            GIDS_FAIL(GIDS_EIO, "atomic write: '%s': too many levels of symbolic links", path);
        }
        size_t cap = (size_t)st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
        char *target = malloc(cap);
        ssize_t n = target ? readlink(cur, target, cap) : -1;
        if (target == NULL || n < 0 || (size_t)n >= cap) {
            int e = target == NULL ? ENOMEM : n < 0 ? errno : ENAMETOOLONG;
            free(target);
            free(cur);
            GIDS_FAIL(e == ENOMEM ? GIDS_ENOMEM : GIDS_EIO,
                      "atomic write: cannot read the symbolic link '%s': %s", path, strerror(e));
        }
        target[n] = '\0';
        const char *slash = strrchr(cur, '/');
        if (target[0] == '/' || slash == NULL) {
            free(cur);
            cur = target;
            continue;
        }
        size_t dn = (size_t)(slash - cur) + 1, tn = (size_t)n;
        char *next = malloc(dn + tn + 1);
        if (next == NULL) {
            free(target);
            free(cur);
            GIDS_FAIL(GIDS_ENOMEM, "atomic write: out of memory");
        }
        memcpy(next, cur, dn);
        memcpy(next + dn, target, tn + 1);
        free(target);
        free(cur);
        cur = next;
    }
    *out = cur;
    return GIDS_OK;
}

gids_status gids_atomic_open(gids_atomic_file *f, const char *path) {
    GIDS_CHECK(f != NULL, GIDS_EINVAL, "atomic write: the file is NULL");
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (path == NULL || path[0] == '\0') GIDS_FAIL(GIDS_EINVAL, "atomic write: empty path");
    const char *slash = strrchr(path, '/');
    if ((slash ? slash + 1 : path)[0] == '\0')
        GIDS_FAIL(GIDS_EINVAL, "atomic write: '%s' names a directory, not a file", path);
    GIDS_TRY(resolve_links(path, &f->path));
    const char *target = f->path; /* the file to replace: path, or where its links lead */
    slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    if (base[0] == '\0') {
        gids_atomic_abort(f);
        GIDS_FAIL(GIDS_EINVAL, "atomic write: '%s' is a link to a directory, not a file", path);
    }
    size_t dn = (size_t)(base - target);
    size_t cap = strlen(target) + 64;
    char *tmp = malloc(cap);
    if (tmp == NULL) {
        gids_atomic_abort(f);
        GIDS_FAIL(GIDS_ENOMEM, "atomic write: out of memory");
    }
    snprintf(tmp, cap, "%.*s.%s.tmp-%ld-%llu", (int)dn, target, base, (long)getpid(),
             (unsigned long long)atomic_fetch_add(&tmp_counter, 1));
    f->tmp_path = tmp;
    f->fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        int e = errno;
        /* the temp file goes where the target is: a link names that directory too */
        char *tdir = NULL;
        gids_status ds = strcmp(target, path) != 0 ? dir_of(target, &tdir) : GIDS_OK;
        gids_status s;
        if (ds != GIDS_OK)
            s = ds;
        else if (tdir != NULL)
            s = gids_error_set(GIDS_EIO, __FILE__, __LINE__,
                               "atomic write: cannot create a temp file in '%s' (the directory "
                               "of '%s', where the symbolic link '%s' leads): %s",
                               tdir, target, path, strerror(e));
        else
            s = gids_error_set(GIDS_EIO, __FILE__, __LINE__,
                               "atomic write: cannot create a temp file beside '%s': %s", path,
                               strerror(e));
        free(tdir);
        gids_atomic_abort(f);
        return s;
    }
    /* A file replaced keeps its permission bits; a new one gets 0644 less the umask. */
    struct stat st;
    if (stat(target, &st) == 0 && S_ISREG(st.st_mode) && fchmod(f->fd, st.st_mode & 07777) != 0) {
        int e = errno;
        gids_atomic_abort(f);
        GIDS_FAIL(GIDS_EIO, "atomic write: cannot give the temp file beside '%s' mode %o: %s", path,
                  (unsigned)(st.st_mode & 07777), strerror(e));
    }
    return GIDS_OK;
}

gids_status gids_atomic_append(gids_atomic_file *f, const void *data, size_t n) {
    GIDS_CHECK(f != NULL, GIDS_EINVAL, "atomic write: the file is NULL");
    GIDS_CHECK(data != NULL || n == 0, GIDS_EINVAL, "atomic write: data is NULL with %zu bytes", n);
    if (f->fd < 0) GIDS_FAIL(GIDS_ESTATE, "atomic write: the file is not open");
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) GIDS_FAIL(GIDS_EIO, "atomic write '%s': %s", f->path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return GIDS_OK;
}

void gids_atomic_abort(gids_atomic_file *f) {
    if (f == NULL) return; /* nothing to release */
    if (f->fd >= 0) close(f->fd);
    if (f->tmp_path) unlink(f->tmp_path);
    free(f->tmp_path);
    free(f->path);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

/* A failed commit step: f is aborted (the temp file removed, the target untouched) and the
 * message names the target, the step and errno e. */
static gids_status commit_failed(gids_atomic_file *f, const char *step, int e) {
    char *p = f->path;
    f->path = NULL; /* kept for the message; abort frees the rest */
    gids_atomic_abort(f);
    gids_status s = gids_error_set(GIDS_EIO, __FILE__, __LINE__, "atomic write '%s': %s: %s", p,
                                   step, strerror(e));
    free(p);
    return s;
}

gids_status gids_atomic_commit(gids_atomic_file *f) {
    GIDS_CHECK(f != NULL, GIDS_EINVAL, "atomic write: the file is NULL");
    if (f->fd < 0) GIDS_FAIL(GIDS_ESTATE, "atomic write: the file is not open");
    if (fsync(f->fd) != 0) return commit_failed(f, "fsync", errno);
    int r = close(f->fd);
    f->fd = -1;
    if (r != 0) return commit_failed(f, "close", errno);
    if (rename(f->tmp_path, f->path) != 0) return commit_failed(f, "rename", errno);
    char *dir = NULL;
    gids_status s = dir_of(f->path, &dir);
    if (s == GIDS_OK) s = gids_fsync_dir(dir);
    free(dir);
    free(f->tmp_path);
    f->tmp_path = NULL; /* renamed: nothing left to remove */
    gids_atomic_abort(f);
    return s;
}

gids_status gids_resolve_links(const char *path, char **out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "resolve_links: out is NULL");
    *out = NULL;
    if (path == NULL || path[0] == '\0') GIDS_FAIL(GIDS_EINVAL, "resolve_links: empty path");
    return resolve_links(path, out);
}

/* src is renamed onto dst (or where dst's links lead), which must be on the same file system:
 * a rename cannot cross one, and that is checked before anything changes.  src takes the
 * replaced file's permission bits first; when the rename fails all the same, src gets its own
 * mode back, so a failed replace leaves both files as they were. */
gids_status gids_replace_file(const char *src, const char *dst) {
    if (src == NULL || src[0] == '\0' || dst == NULL || dst[0] == '\0')
        GIDS_FAIL(GIDS_EINVAL, "replace_file: empty path");
    char *target = NULL, *dir = NULL;
    GIDS_TRY(resolve_links(dst, &target));
    struct stat st, sst, dst_dir;
    gids_status s = GIDS_OK;
    if (stat(src, &sst) != 0)
        s = gids_error_set(GIDS_EIO, __FILE__, __LINE__, "replace_file: cannot rename '%s': %s",
                           src, strerror(errno));
    if (s == GIDS_OK) s = dir_of(target, &dir);
    if (s == GIDS_OK && stat(dir, &dst_dir) == 0 && dst_dir.st_dev != sst.st_dev)
        s = gids_error_set(GIDS_EIO, __FILE__, __LINE__,
                           "replace_file: cannot rename '%s' over '%s': they are on different "
                           "file systems (%s); both paths must be on one",
                           src, target, strerror(EXDEV));
    bool chmodded = false;
    if (s == GIDS_OK && stat(target, &st) == 0 && S_ISREG(st.st_mode) &&
        (st.st_mode & 07777) != (sst.st_mode & 07777)) {
        if (chmod(src, st.st_mode & 07777) != 0)
            s = gids_error_set(GIDS_EIO, __FILE__, __LINE__,
                               "replace_file: cannot give '%s' the mode %o of '%s': %s", src,
                               (unsigned)(st.st_mode & 07777), dst, strerror(errno));
        else
            chmodded = true;
    }
    if (s == GIDS_OK && rename(src, target) != 0) {
        int e = errno;
        if (chmodded) (void)chmod(src, sst.st_mode & 07777); /* src as it was */
        s = gids_error_set(GIDS_EIO, __FILE__, __LINE__,
                           "replace_file: cannot rename '%s' over '%s': %s", src, target,
                           strerror(e));
    }
    if (s == GIDS_OK) s = gids_fsync_dir(dir);
    free(dir);
    free(target);
    return s;
}

gids_status gids_atomic_write(const char *path, const void *data, size_t n) {
    gids_atomic_file f;
    GIDS_TRY(gids_atomic_open(&f, path));
    gids_status s = gids_atomic_append(&f, data, n);
    if (s != GIDS_OK) {
        gids_atomic_abort(&f);
        return s;
    }
    return gids_atomic_commit(&f);
}
