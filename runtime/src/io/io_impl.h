/* io_impl.h -- internals shared by the files of runtime/src/io (not a public header). */
#ifndef GIDS_IO_IMPL_H
#define GIDS_IO_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "gids/io.h"

/* A descriptor of path opened for reading that is safe to fstat and refuse before any read: a
 * FIFO opens at once instead of waiting for a writer (O_NONBLOCK), and the flag is cleared
 * after the open so reads of a regular file behave as usual; an open refused with EWOULDBLOCK
 * (a file under a lease) is retried without the flag when the path is a regular file.  -1 with
 * errno set on failure. */
int io_open_for_reading(const char *path);

/* One tensor entry of a safetensors header, as parsed (not yet checked against the file). */
typedef struct st_entry {
    char *name;
    gids_dtype dtype;
    int ndim;
    int64_t shape[GIDS_MAX_DIMS];
    uint64_t begin, end; /* data_offsets, relative to the start of the data buffer */
    size_t pos;          /* byte position of the entry's name in the header (for messages) */
} st_entry;

typedef struct st_header {
    st_entry *entries;
    int64_t n, cap;
    char **meta_keys, **meta_values;
    size_t *meta_pos; /* byte position of each key in the header (for messages) */
    int64_t nmeta, meta_cap;
    bool meta_seen;
} st_header;

/* Parses and validates header text (len bytes, not NUL-terminated) of the file `path` whose
 * data buffer holds data_len bytes: well-formed JSON, known dtypes, shapes, offsets contiguous
 * from 0 to data_len without gaps or overlaps, dtype x shape = bytes, no duplicate names.  On
 * success the entries are sorted by data offset.  EFORMAT naming the file, the line/column in
 * the header and the field.  *h is released on failure. */
gids_status st_header_parse(st_header *h, const char *path, const char *text, size_t len,
                            uint64_t data_len);
void st_header_free(st_header *h);

/* Length of the UTF-8 sequence at s (0 when invalid: overlong, surrogate, > U+10FFFF). */
size_t st_utf8_len(const unsigned char *s, const unsigned char *end);
/* The byte offset of the first invalid UTF-8 sequence of the C string s, or -1 when it is valid:
 * the writer refuses what the reader would (JSON strings are UTF-8). */
int64_t st_utf8_invalid_at(const char *s);

/* (gids_printable, gids/io.h, shows the names, keys and dtypes the messages quote: they are
 * decoded JSON, where "\u001b" or "\u009b" is a character that must not reach a terminal raw.) */

/* A header's name or key as a message quotes it: gids_printable, cut to ST_SHOWN_MAX bytes,
 * so that the reason after it always fits the message (a name of 250 escape characters, 1000
 * bytes shown, had pushed it out).  The buffer lives to the end of the enclosing block. */
#define ST_SHOWN_MAX 160
#define ST_SHOWN(s) gids_printable((s), (char[ST_SHOWN_MAX]){0}, ST_SHOWN_MAX)

/* The dtype of a safetensors name ("F32"); false for names this runtime has no dtype for. */
bool st_dtype_parse(const char *name, gids_dtype *out);

/* strdup that reports ENOMEM with what it was copying. */
gids_status io_strdup(char **out, const char *s, const char *what);

#endif
