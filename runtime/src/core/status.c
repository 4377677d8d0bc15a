/* status.c -- the thread-local error message behind every gids_status. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "elide.h"
#include "gids/status.h"

static _Thread_local char msg_[GIDS_ERROR_MAX];
static _Thread_local char where_[128];
/* msg_'s length and its mark of elided bytes, if any: a prefix widens that mark rather than
 * cutting the message again elsewhere (so one mark counts every byte gone). */
static _Thread_local gids_elided cut_;

/* glibc prints a NaN whose sign bit is set (0/0 on x86, so Lua's 0/0 too) as "-nan"; a message
 * says "nan".  Only a number on its own is rewritten (after a space, '(', '[', ',' or '=', before
 * the end, a space, ',', ')', ']' or ';'), so a path or quoted name holding "-nan" stays. */
static void unsign_nans_(char *m) {
    for (char *p = strstr(m, "-nan"); p != NULL; p = strstr(p + 1, "-nan")) {
        bool before = p == m || strchr(" ([,=", p[-1]) != NULL;
        bool after = p[4] == '\0' || strchr(" ,)];", p[4]) != NULL;
        if (before && after) memmove(p, p + 1, strlen(p + 1) + 1);
    }
}

gids_status gids_error_set(gids_status code, const char *file, int line, const char *fmt, ...) {
    /* Formatted apart from msg_ (an argument may be the current message), whole: the cut to
     * msg_'s size keeps the end. */
    char buf[GIDS_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    gids_text t = gids_text_vformat(buf, sizeof buf, fmt, ap);
    va_end(ap);
    unsign_nans_(t.s);
    gids_span whole = {t.s, strlen(t.s)};
    cut_ = gids_elide(msg_, sizeof msg_, &whole, 1, whole.n, t.lost);
    gids_text_free(&t);
    const char *base = file ? strrchr(file, '/') : NULL;
    snprintf(where_, sizeof where_, "%s:%d", base ? base + 1 : (file ? file : "?"), line);
    return code;
}

gids_status gids_error_prefix(gids_status code, const char *fmt, ...) {
    char buf[512], old[GIDS_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    gids_text p = gids_text_vformat(buf, sizeof buf, fmt, ap);
    va_end(ap);
    gids_elided c = cut_;
    memcpy(old, msg_, c.len + 1);
    gids_span parts[4] = {{p.s, p.n}, {": ", 2}, {old, c.mark_at}, {NULL, 0}};
    if (p.lost > 0) {
        /* The prefix itself is cut short (no memory for all of it): the new mark goes there, and
         * the old message follows whole, any mark of its own kept as text. */
        parts[2].n = c.len;
        cut_ = gids_elide(msg_, sizeof msg_, parts, 3, p.n, p.lost);
    } else {
        parts[3] = (gids_span){old + c.mark_at + c.mark_len, c.len - c.mark_at - c.mark_len};
        cut_ = gids_elide(msg_, sizeof msg_, parts, 4, p.n + 2 + c.mark_at, c.gone);
    }
    gids_text_free(&p);
    return code;
}

const char *gids_error_message(void) {
    return msg_;
}
const char *gids_error_location(void) {
    return where_;
}

void gids_error_clear(void) {
    msg_[0] = '\0';
    where_[0] = '\0';
    cut_ = (gids_elided){0, 0, 0, 0};
}

const char *gids_status_name(gids_status s) {
    switch (s) {
    case GIDS_OK: return "OK";
    case GIDS_EINVAL: return "EINVAL";
    case GIDS_ESHAPE: return "ESHAPE";
    case GIDS_EDTYPE: return "EDTYPE";
    case GIDS_EINDEX: return "EINDEX";
    case GIDS_ENOMEM: return "ENOMEM";
    case GIDS_EOVERFLOW: return "EOVERFLOW";
    case GIDS_EIO: return "EIO";
    case GIDS_EFORMAT: return "EFORMAT";
    case GIDS_EDEVICE: return "EDEVICE";
    case GIDS_ESTATE: return "ESTATE";
    case GIDS_EUNSUPPORTED: return "EUNSUPPORTED";
    }
    return "EUNKNOWN";
}
