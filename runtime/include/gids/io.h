/* gids/io.h -- safetensors files, atomic writes, advisory locks and small file-system helpers.
 *
 *   const char *names[2] = {"weight", "bias"};
 *   const gids_tensor *ts[2] = {w, b};
 *   const char *mk[1] = {"format"}, *mv[1] = {"pt"};
 *   GIDS_TRY(gids_safetensors_save("model.safetensors", 2, names, ts, 1, mk, mv));
 *
 *   gids_safetensors f;
 *   GIDS_TRY(gids_safetensors_load(&f, "model.safetensors", true));   // memory-mapped views
 *   ... f.names[i], f.tensors[i], f.meta_keys[j] / f.meta_values[j] ...
 *   gids_safetensors_free(&f);        // the mapping goes when the last tensor view goes
 *
 * safetensors is the Hugging Face container: an 8-byte little-endian header length N, N bytes of
 * JSON ({name: {dtype, shape, data_offsets}} plus an optional "__metadata__" string map), then
 * the tensor bytes.  Files written here are byte-compatible with the Python package's writer
 * (tensors ordered by descending alignment then name, header padded with spaces to a multiple of
 * 8), and every file read is validated in full before any tensor is made.  All writes are
 * atomic: a temp file in the same directory, fsync, rename, fsync of the directory, so a crash
 * leaves either the old file or the new one, never a torn one.  Messages name the file and,
 * for a bad header, the field and its line/column in the header text.
 */
#ifndef GIDS_IO_H
#define GIDS_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gids/status.h"
#include "gids/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The reference reader's cap on the header length (safetensors MAX_HEADER_SIZE). */
#define GIDS_SAFETENSORS_MAX_HEADER 100000000

/* ---------------------------------------------------------------- safetensors */

/* buf (cap bytes) <- s as the safetensors messages quote a name or key: each control character
 * (< 0x20, 0x7F), each C1 control (U+0080..U+009F, which some terminals take as ESC: its two
 * bytes) and each byte of no valid UTF-8 sequence as \xNN; returns buf.  When the whole of it
 * does not fit in cap - 1 bytes it is cut at a character's boundary (never inside a UTF-8
 * sequence or an escape) and "..." follows, all within cap with the NUL; below cap 4, only the
 * dots that fit ("" at cap 1, "." at 2).  cap 0 writes nothing and returns "".  For any message
 * that quotes a caller's text (the Lua binding's too), so that none of it reaches a terminal raw.
 */
const char *gids_printable(const char *s, char *buf, size_t cap);

/* Writes n tensors (any strides: non-contiguous ones are copied; a device tensor's bytes are
 * copied to the host, so f16/bf16 ones are written as F16/BF16) under the given names and
 * nmeta metadata pairs (strings) atomically to path.  Names must be unique, non-empty and not
 * "__metadata__"; so must the metadata keys.  meta_keys == NULL (nmeta 0) writes no
 * "__metadata__"; a non-NULL meta_keys with nmeta 0 writes an empty one ("__metadata__":{}, as
 * Python's save_file(metadata={}) does).  BORROW: every argument. */
gids_status gids_safetensors_save(const char *path, int64_t n, const char *const *names,
                                  const gids_tensor *const *tensors, int64_t nmeta,
                                  const char *const *meta_keys, const char *const *meta_values);

/* A loaded file.  Tensors come in the order of their data offsets (the file's order). */
typedef struct gids_safetensors {
    int64_t n;
    char **names;          /* n owned strings */
    gids_tensor **tensors; /* n owned (NEW) references */
    int64_t nmeta;
    char **meta_keys; /* nmeta owned strings, in file order */
    char **meta_values;
} gids_safetensors;

/* NEW: reads and validates path.  With map = true the tensors are views on one read-only,
 * copy-on-write mapping of the file (a write to a tensor never reaches the file); the mapping is
 * unmapped when the last view is released.  A tensor whose offset is not a multiple of its
 * element size (a foreign writer without padding) is copied instead.  With map = false each
 * tensor is read into its own storage.  F16 and BF16 tensors are widened to f32 (copies: the CPU
 * holds no half types; every half value is exact in f32).  EIO for a file that cannot be opened or
 * read, EFORMAT for a malformed one ("safetensors: 'f.safetensors': header line 1, column 40:
 * tensor 'w': data_offsets [0,12] hold 12 bytes but dtype F32 x shape [2,2] needs 16"). *out is
 * zeroed on failure. */
gids_status gids_safetensors_load(gids_safetensors *out, const char *path, bool map);
/* Releases every tensor reference and string; zeroes f.  A zeroed struct is accepted. */
void gids_safetensors_free(gids_safetensors *f);

/* BORROW: "F32", "I64", ... for a dtype; NULL for one safetensors cannot name. */
const char *gids_safetensors_dtype_name(gids_dtype dt);

/* ---------------------------------------------------------------- atomic files */

/* An open atomic write: bytes go to a temp file beside path; commit renames it into place. */
typedef struct gids_atomic_file {
    int fd;
    char *path;
    char *tmp_path;
} gids_atomic_file;

/* NEW (finish with commit or abort): creates "<dir>/.<name>.tmp-<pid>-<n>" (mode 0644 less the
 * umask, or the mode of the file it will replace).  A path that is a symbolic link is followed:
 * the temp file goes beside the file the links lead to, and commit replaces that file (f->path
 * is it), so the link stays a link. */
gids_status gids_atomic_open(gids_atomic_file *f, const char *path);
gids_status gids_atomic_append(gids_atomic_file *f, const void *data, size_t n);
/* fsync, close, rename over path, fsync the directory.  Releases f in every case (on failure
 * the temp file is removed and the old file, if any, is untouched). */
gids_status gids_atomic_commit(gids_atomic_file *f);
/* Removes the temp file and releases f; safe on a NULL, zeroed or already finished f. */
void gids_atomic_abort(gids_atomic_file *f);
/* The whole sequence for one buffer.  BORROW: path, data. */
gids_status gids_atomic_write(const char *path, const void *data, size_t n);
/* NEW *out: the file path leads to through symbolic links (path itself when it is no link; a
 * dangling last link gives the file it names), where the atomic writes above put the data. */
gids_status gids_resolve_links(const char *path, char **out);
/* Renames the finished file src onto dst the way a commit does: dst's links are followed, an
 * existing dst's permission bits are given to src first, and the directory is fsynced.  src
 * must lie in the directory of the file dst leads to (gids_resolve_links) for the rename to be
 * atomic.  EIO names the step; src is left in place on failure.  BORROW: src, dst. */
gids_status gids_replace_file(const char *src, const char *dst);

/* Appends n bytes to path (created with mode 0644 when absent) with ONE write(2) on an
 * O_APPEND descriptor, so concurrent writers and a crash never interleave or split a record
 * (trace and spool lines); fsyncs the file when `sync`.  EIO names the path and the errno text.
 * BORROW: path, data. */
gids_status gids_append_file(const char *path, const void *data, size_t n, bool sync);
/* fsync of a directory, so a rename or a new entry in it survives a crash. */
gids_status gids_fsync_dir(const char *dir);

/* ---------------------------------------------------------------- locks */

/* Advisory flock(2) on path (created when missing, never removed: removing a lock file races
 * with another process opening it).  timeout_s < 0 waits forever, 0 tries once.  On success
 * *fd_out holds the descriptor to pass to gids_lock_release.  ESTATE when the lock is still held
 * elsewhere at the timeout: "lock: 'x/.lock' is held by another process (exclusive lock not
 * acquired within 0.20 s)".  flock locks belong to the open file, so two opens of the same path
 * in one process also exclude each other. */
gids_status gids_lock_acquire(int *fd_out, const char *path, bool exclusive, double timeout_s);
/* Unlocks and closes; fd < 0 is ignored. */
void gids_lock_release(int fd);

/* ---------------------------------------------------------------- file system */

/* Creates path and its missing parents (mode 0755); an existing directory is fine, an existing
 * non-directory is EIO naming it. */
gids_status gids_mkdir_p(const char *path);

/* NEW: the entries of a directory except "." and "..", sorted bytewise; free with
 * gids_list_dir_free.  EIO naming the path when it cannot be read. */
gids_status gids_list_dir(const char *path, char ***names_out, int64_t *n_out);
void gids_list_dir_free(char **names, int64_t n);

typedef enum gids_file_type {
    GIDS_FILE_NONE = 0, /* does not exist */
    GIDS_FILE_REGULAR,
    GIDS_FILE_DIR,
    GIDS_FILE_OTHER
} gids_file_type;

typedef struct gids_file_info {
    gids_file_type type;
    int64_t size;    /* bytes */
    double mtime;    /* seconds since the epoch */
    uint64_t inode;  /* the file's identity on its device: a file replaced by rename has another */
    uint64_t device; /* the device holding it: (device, inode) names one file on the machine */
} gids_file_info;

/* Follows symbolic links.  A missing path is GIDS_OK with type GIDS_FILE_NONE; a symbolic link
 * to nothing is EIO (it is there, and what it names is not). */
gids_status gids_file_stat(const char *path, gids_file_info *out);

typedef struct gids_disk_usage_info {
    int64_t total; /* bytes of the file system holding path */
    int64_t used;  /* total less the free blocks (root's reserve counts as free) */
    int64_t free;  /* bytes an unprivileged user may still write */
} gids_disk_usage_info;

/* statvfs(2) of the file system holding path, as psutil.disk_usage reports it (MLflow's system
 * metrics: graphids.track.sysmetrics).  A path that cannot be read is EIO naming it. */
gids_status gids_disk_usage(const char *path, gids_disk_usage_info *out);

/* Removes path and, for a directory, everything under it (symbolic links are removed, never
 * followed).  A missing path is fine. */
gids_status gids_remove_tree(const char *path);

#ifdef __cplusplus
}
#endif
#endif
