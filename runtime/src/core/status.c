/* status.c -- the thread-local error message behind every gids_status. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gids/status.h"

#define GIDS_MSG_MAX 1024

static _Thread_local char msg_[GIDS_MSG_MAX];
static _Thread_local char where_[128];

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
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg_, sizeof msg_, fmt, ap);
    va_end(ap);
    unsign_nans_(msg_);
    const char *base = file ? strrchr(file, '/') : NULL;
    snprintf(where_, sizeof where_, "%s:%d", base ? base + 1 : (file ? file : "?"), line);
    return code;
}

gids_status gids_error_prefix(gids_status code, const char *fmt, ...) {
    char prefix[256], old[GIDS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, msg_, sizeof old);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-truncation" /* cutting an over-long message is intended   \
                                                      */
    snprintf(msg_, sizeof msg_, "%s: %s", prefix, old);
#pragma GCC diagnostic pop
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
