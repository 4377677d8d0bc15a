/* fs.c -- the few file-system operations Lua lacks: mkdir -p, sorted directory listings, stat,
 * recursive removal (cache rebuilds) and a file system's usage (system metrics). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "io_impl.h"

gids_status gids_mkdir_p(const char *path) {
    if (path == NULL || path[0] == '\0') GIDS_FAIL(GIDS_EINVAL, "mkdir_p: empty path");
    char *buf = NULL;
    GIDS_TRY(io_strdup(&buf, path, "a path"));
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
    /* Each prefix ending before a '/', then the whole path. */
    for (char *p = buf + 1;; p++) {
        bool last = *p == '\0';
        if (*p != '/' && !last) continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            gids_status s = gids_error_set(GIDS_EIO, __FILE__, __LINE__,
                                           "mkdir_p: cannot create '%s': %s", buf, strerror(e));
            free(buf);
            return s;
        }
        struct stat sb;
        if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            gids_status s = gids_error_set(GIDS_EIO, __FILE__, __LINE__,
                                           "mkdir_p: '%s' exists and is not a directory", buf);
            free(buf);
            return s;
        }
        *p = saved;
        if (last) break;
    }
    free(buf);
    return GIDS_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void gids_list_dir_free(char **names, int64_t n) {
    if (names == NULL) return;
    for (int64_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

gids_status gids_list_dir(const char *path, char ***names_out, int64_t *n_out) {
    GIDS_CHECK(names_out != NULL, GIDS_EINVAL, "list_dir: names_out is NULL");
    GIDS_CHECK(n_out != NULL, GIDS_EINVAL, "list_dir: n_out is NULL");
    *names_out = NULL;
    *n_out = 0;
    GIDS_CHECK(path != NULL && path[0] != '\0', GIDS_EINVAL, "list_dir: empty path");
    DIR *d = opendir(path);
    if (d == NULL) GIDS_FAIL(GIDS_EIO, "list_dir: cannot open '%s': %s", path, strerror(errno));
    char **names = NULL;
    int64_t n = 0, cap = 0;
    for (;;) {
        /* readdir returns NULL both at the end and on an error; only errno tells them apart,
         * so it is cleared before each call (a partial listing must not pass as complete). */
        errno = 0;
        struct dirent *ent = readdir(d);
        if (ent == NULL) {
            int e = errno;
            if (e == 0) break;
            closedir(d);
            gids_list_dir_free(names, n);
            GIDS_FAIL(GIDS_EIO, "list_dir: reading '%s': %s", path, strerror(e));
        }
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **g = realloc(names, (size_t)cap * sizeof *g);
            if (g == NULL) goto oom;
            names = g;
        }
        names[n] = strdup(ent->d_name);
        if (names[n] == NULL) goto oom;
        n++;
    }
    closedir(d);
    if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str);
    *names_out = names;
    *n_out = n;
    return GIDS_OK;
oom:
    closedir(d);
    gids_list_dir_free(names, n);
    GIDS_FAIL(GIDS_ENOMEM, "list_dir: out of memory listing '%s'", path);
}

gids_status gids_file_stat(const char *path, gids_file_info *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "stat: out is NULL");
    memset(out, 0, sizeof *out);
    GIDS_CHECK(path != NULL && path[0] != '\0', GIDS_EINVAL, "stat: empty path");
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int err = errno;
        /* a name that is there as a link to nothing is not "absent": a checkpoint's sidecar
         * taken for missing loaded the checkpoint unverified */
        if (err == ENOENT && lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
            GIDS_FAIL(GIDS_EIO, "stat: '%s' is a symbolic link to nothing", path);
        if (err == ENOENT || err == ENOTDIR) return GIDS_OK;
        GIDS_FAIL(GIDS_EIO, "stat: '%s': %s", path, strerror(err));
    }
    out->type = S_ISREG(sb.st_mode)   ? GIDS_FILE_REGULAR
                : S_ISDIR(sb.st_mode) ? GIDS_FILE_DIR
                                      : GIDS_FILE_OTHER;
    out->size = (int64_t)sb.st_size;
    out->mtime = (double)sb.st_mtim.tv_sec + sb.st_mtim.tv_nsec * 1e-9;
    out->inode = (uint64_t)sb.st_ino;
    out->device = (uint64_t)sb.st_dev;
    return GIDS_OK;
}

gids_status gids_disk_usage(const char *path, gids_disk_usage_info *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "disk_usage: out is NULL");
    memset(out, 0, sizeof *out);
    GIDS_CHECK(path != NULL && path[0] != '\0', GIDS_EINVAL, "disk_usage: empty path");
    struct statvfs sv;
    if (statvfs(path, &sv) != 0) GIDS_FAIL(GIDS_EIO, "disk_usage: '%s': %s", path, strerror(errno));
    int64_t unit = (int64_t)sv.f_frsize;
    out->total = (int64_t)sv.f_blocks * unit;
    out->used = out->total - (int64_t)sv.f_bfree * unit;
    out->free = (int64_t)sv.f_bavail * unit;
    return GIDS_OK;
}

gids_status gids_remove_tree(const char *path) {
    GIDS_CHECK(path != NULL && path[0] != '\0', GIDS_EINVAL, "remove_tree: empty path");
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno == ENOENT) return GIDS_OK;
        GIDS_FAIL(GIDS_EIO, "remove_tree: '%s': %s", path, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode)) {
        char **names = NULL;
        int64_t n = 0;
        GIDS_TRY(gids_list_dir(path, &names, &n));
        gids_status s = GIDS_OK;
        for (int64_t i = 0; i < n && s == GIDS_OK; i++) {
            size_t len = strlen(path) + strlen(names[i]) + 2;
            char *child = malloc(len);
            if (child == NULL) {
                s = gids_error_set(GIDS_ENOMEM, __FILE__, __LINE__, "remove_tree: out of memory");
                break;
            }
            snprintf(child, len, "%s/%s", path, names[i]);
            s = gids_remove_tree(child);
            free(child);
        }
        gids_list_dir_free(names, n);
        GIDS_TRY(s);
        if (rmdir(path) != 0)
            GIDS_FAIL(GIDS_EIO, "remove_tree: cannot remove '%s': %s", path, strerror(errno));
        return GIDS_OK;
    }
    if (unlink(path) != 0)
        GIDS_FAIL(GIDS_EIO, "remove_tree: cannot remove '%s': %s", path, strerror(errno));
    return GIDS_OK;
}

int io_open_for_reading(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && (errno == EWOULDBLOCK || errno == EAGAIN)) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd >= 0) {
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0) (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    }
    return fd;
}
