/* elide.h -- internal: fitting a message into a fixed buffer without losing its end.
 *
 * A message naming a long path says why last ("safetensors save '/a 4 KB path/m.safetensors':
 * cannot open: No such file or directory"): cut at its buffer's size it would lose the reason.
 * A text too long for its buffer keeps its beginning and its end; the middle gives way to a mark
 * "...[N bytes]..." saying how many bytes are gone.  Cuts fall between UTF-8 characters, so a
 * path or field quoted in the message is never left with half a character.
 */
#ifndef GIDS_ELIDE_H
#define GIDS_ELIDE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* The longest mark, "...[<20 digits> bytes]...": the room a cut text keeps for it. */
#define GIDS_ELIDE_MARK_MAX 34

typedef struct gids_span {
    const char *s;
    size_t n;
} gids_span;

typedef struct gids_elided {
    size_t len;      /* bytes written, the NUL aside */
    size_t mark_at;  /* offset of the mark in the result; len when it has none */
    size_t mark_len; /* 0 when it has none */
    size_t gone;     /* bytes the mark stands for */
} gids_elided;

/* Writes the text made of parts[0..n) into dst (cap bytes, cap >= 1, NUL-terminated).  Where
 * `gone` > 0, that many bytes of the text were already elided at offset `at` of it: the result
 * marks them there, with any further cut widening that one mark.  A text that does not fit keeps
 * its head and its tail, the room split evenly where both are long.  dst may be the buffer of
 * parts[0] only when n == 1, gone > 0 and at == parts[0].n (a text cut short in place). */
gids_elided gids_elide(char *dst, size_t cap, const gids_span *parts, int n, size_t at,
                       size_t gone);

/* How much of s[0..n) to quote in at most max bytes: n, or max moved back to the start of the
 * UTF-8 character it would split (a field from a file shown as '%.*s' then "..."). */
size_t gids_utf8_fit(const char *s, size_t n, size_t max);

/* A formatted text: in the caller's buffer when it fits, else in a heap copy of its full size.
 * Where that copy cannot be had, s is the caller's buffer with the text's first bytes and `lost`
 * says how many bytes followed them. */
typedef struct gids_text {
    char *s;
    size_t n;
    size_t lost;
    bool heap;
} gids_text;

/* vsnprintf into buf (cap bytes) or the heap, as above; ap is left unused after (va_copy it to
 * use it again).  Release with gids_text_free. */
gids_text gids_text_vformat(char *buf, size_t cap, const char *fmt, va_list ap);
void gids_text_free(gids_text *t);

/* snprintf into dst (cap bytes) keeping the text's end: too long, its middle is elided as
 * above.  Returns the elision (len: the bytes written). */
gids_elided gids_format_elided(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
gids_elided gids_vformat_elided(char *dst, size_t cap, const char *fmt, va_list ap);

#endif
