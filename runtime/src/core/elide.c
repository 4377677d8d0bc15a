/* elide.c -- a long message fitted into a fixed buffer: its head and tail kept, the middle
 * replaced by a mark naming how many bytes went (elide.h). */
#include "elide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool continuation_(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

size_t gids_utf8_fit(const char *s, size_t n, size_t max) {
    if (n <= max) return n;
    size_t k = max;
    for (int i = 0; i < 3 && k > 0 && continuation_((unsigned char)s[k]); i++) k--;
    return k;
}

/* The byte at offset off (< the text's length) of the text made of parts. */
static unsigned char byte_at_(const gids_span *parts, int n, size_t off) {
    for (int i = 0; i < n; i++) {
        if (off < parts[i].n) return (unsigned char)parts[i].s[off];
        off -= parts[i].n;
    }
    return 0;
}

/* Copies bytes [from, to) of the text made of parts to dst (memmove: the in-place cut). */
static void copy_range_(char *dst, const gids_span *parts, int n, size_t from, size_t to) {
    size_t base = 0;
    for (int i = 0; i < n && from < to; i++) {
        size_t end = base + parts[i].n;
        if (from < end) {
            size_t k = (to < end ? to : end) - from;
            memmove(dst, parts[i].s + (from - base), k);
            dst += k;
            from += k;
        }
        base = end;
    }
}

static size_t min_(size_t a, size_t b) {
    return a < b ? a : b;
}

gids_elided gids_elide(char *dst, size_t cap, const gids_span *parts, int n, size_t at,
                       size_t gone) {
    size_t len = 0, max = cap - 1;
    for (int i = 0; i < n; i++) len += parts[i].n;
    if (gone == 0 && len <= max) {
        copy_range_(dst, parts, n, 0, len);
        dst[len] = '\0';
        return (gids_elided){len, len, 0, 0};
    }
    if (gone == 0) at = len / 2; /* a whole text is cut in its middle */
    size_t h = at, t = len - at, kh = h, kt = t;
    char mark[GIDS_ELIDE_MARK_MAX + 1];
    size_t m = (size_t)snprintf(mark, sizeof mark, "...[%zu bytes]...", gone);
    if (h + m + t > max) {
        size_t room = max > GIDS_ELIDE_MARK_MAX ? max - GIDS_ELIDE_MARK_MAX : 0;
        kh = min_(h, room / 2);
        kt = min_(t, room - kh);
        kh = min_(h, room - kt);
        /* Each cut falls before a character's first byte (a UTF-8 character has at most three
         * continuation bytes; bytes that are not UTF-8 are cut where they fall). */
        for (int s = 0; s < 3 && kh < h && kh > 0 && continuation_(byte_at_(parts, n, kh)); s++)
            kh--;
        for (int s = 0; s < 3 && kt < t && kt > 0 && continuation_(byte_at_(parts, n, len - kt));
             s++)
            kt--;
        gone += (h - kh) + (t - kt);
        m = (size_t)snprintf(mark, sizeof mark, "...[%zu bytes]...", gone);
    }
    if (kh + m + kt > max) m = max - kh - kt; /* a buffer too small for even the mark */
    copy_range_(dst, parts, n, 0, kh);
    memcpy(dst + kh, mark, m);
    copy_range_(dst + kh + m, parts, n, len - kt, len);
    dst[kh + m + kt] = '\0';
    return (gids_elided){kh + m + kt, kh, m, gone};
}

/* The length of s[0..n) without a last UTF-8 character that the cut at n left incomplete. */
static size_t whole_chars_(const char *s, size_t n) {
    size_t i = n;
    while (i > 0 && n - i < 3 && continuation_((unsigned char)s[i - 1])) i--;
    if (i == 0) return n;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return (i - 1) + need > n ? i - 1 : n;
}

gids_text gids_text_vformat(char *buf, size_t cap, const char *fmt, va_list ap) {
    gids_text t = {buf, 0, 0, false};
    va_list again;
    va_copy(again, ap);
    int r = vsnprintf(buf, cap, fmt, ap);
    if (r < 0) {
        buf[0] = '\0'; /* an encoding error (a %ls): nothing to show */
    } else if ((size_t)r < cap) {
        t.n = (size_t)r;
    } else {
        char *full = malloc((size_t)r + 1);
        if (full != NULL && vsnprintf(full, (size_t)r + 1, fmt, again) == r) {
            t = (gids_text){full, (size_t)r, 0, true};
        } else {
            /* no memory for the whole: the head that fits, and how much is missing */
            free(full);
            t.n = whole_chars_(buf, cap - 1);
            buf[t.n] = '\0';
            t.lost = (size_t)r - t.n;
        }
        /* (full is the caller's now, in t.s: gids_text_free) */
        // cppcheck-suppress memleak
    }
    va_end(again);
    return t;
}

void gids_text_free(gids_text *t) {
    if (t->heap) free(t->s);
    t->heap = false;
}

gids_elided gids_format_elided(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    gids_elided e = gids_vformat_elided(dst, cap, fmt, ap);
    va_end(ap);
    return e;
}

gids_elided gids_vformat_elided(char *dst, size_t cap, const char *fmt, va_list ap) {
    gids_text t = gids_text_vformat(dst, cap, fmt, ap);
    gids_span whole = {t.s, t.n};
    gids_elided e = {t.n, t.n, 0, 0};
    if (t.heap || t.lost > 0) e = gids_elide(dst, cap, &whole, 1, t.n, t.lost);
    gids_text_free(&t);
    return e;
}
