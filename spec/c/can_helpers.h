/* can_helpers.h -- what the CAN reader specs share (test_can.c, test_can_messages.c): a read
 * from memory and its expected failures, frame comparison, long rows and deep paths.  Include
 * after check.h. */
#ifndef GIDS_SPEC_CAN_HELPERS_H
#define GIDS_SPEC_CAN_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gids/can.h"

static inline gids_status rd(const char *text, const gids_can_read_opts *o, gids_can_frames *f,
                             gids_can_read_report *r) {
    return gids_can_read_buffer(text, (int64_t)strlen(text), "t.csv", o, f, r);
}

/* Expects the read of `text` to fail with EFORMAT and a message containing `needle`. */
#define CHECK_BAD(text, needle)                                                                    \
    do {                                                                                           \
        gids_can_frames f_;                                                                        \
        CHECK_ERR(rd((text), NULL, &f_, NULL), GIDS_EFORMAT, (needle));                            \
        gids_can_frames_free(&f_);                                                                 \
    } while (0)

/* Whether two frame sets hold the same frames, every field (flags too). */
static inline int same_frames(const gids_can_frames *a, const gids_can_frames *b) {
    size_t n = (size_t)a->n;
    return a->n == b->n && !memcmp(a->ts, b->ts, 8 * n) && !memcmp(a->id, b->id, 4 * n) &&
           !memcmp(a->flags, b->flags, sizeof *a->flags * n) && !memcmp(a->dlc, b->dlc, n) &&
           !memcmp(a->data, b->data, 8 * n) && !memcmp(a->attack, b->attack, n);
}

/* Expects the read of `text` to fail with EFORMAT and exactly the message `want`. */
static inline void check_message(const char *text, const char *want) {
    gids_can_frames f;
    CHECK(rd(text, NULL, &f, NULL) == GIDS_EFORMAT);
    if (strcmp(gids_error_message(), want) != 0)
        CHECK_FAIL_("message '%s', expected '%s'", gids_error_message(), want);
    gids_can_frames_free(&f);
}

/* `head`, then `c` n times, then `tail`: a row with an over-long field (free it). */
static inline char *long_row(const char *head, char c, int n, const char *tail) {
    size_t h = strlen(head), t = strlen(tail);
    char *s = malloc(h + (size_t)n + t + 1);
    memcpy(s, head, h);
    memset(s + h, c, (size_t)n);
    memcpy(s + h + (size_t)n, tail, t + 1);
    return s;
}

/* A path of `depth` directories of 100 "é" (200 bytes, under NAME_MAX) below base. */
static inline char *deep_path(const char *base, int depth) {
    size_t n = strlen(base) + (size_t)depth * 201 + 1;
    char *p = malloc(n), *q = p + snprintf(p, n, "%s", base);
    for (int d = 0; d < depth; d++) {
        *q++ = '/';
        for (int k = 0; k < 100; k++, q += 2) memcpy(q, "\xc3\xa9", 2);
    }
    *q = '\0';
    return p;
}

static inline int ends_with(const char *s, const char *end) {
    size_t n = strlen(s), e = strlen(end);
    return n >= e && strcmp(s + n - e, end) == 0;
}

#endif
