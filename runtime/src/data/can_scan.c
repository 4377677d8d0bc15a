/* can_scan.c -- number scanners shared by the CAN line parsers (see can_parse.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/elide.h"
#include "can_parse.h"

#define X 0xFF
/* clang-format off */
const uint8_t can_hexval[256] = {
    X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X, X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,
    X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X, 0,1,2,3,4,5,6,7,8,9,X,X,X,X,X,X,
    X,10,11,12,13,14,15,X,X,X,X,X,X,X,X,X, X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,
    X,10,11,12,13,14,15,X,X,X,X,X,X,X,X,X, X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,
    X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X, X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,
    X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X, X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,
    X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X, X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,
    X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X, X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,
};
/* clang-format on */
#undef X

int can_bad(can_perr *e, const char *at, const char *fmt, ...) {
    e->at = at;
    /* A long field quoted whole loses its middle, not the words after it (elide.h). */
    char raw[sizeof e->msg], esc[4 * sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    gids_vformat_elided(raw, sizeof raw, fmt, ap);
    va_end(ap);
    /* A field quoted from the file may hold control characters: a CR printed as it is made
     * "got '0\r'" read "got '0'" on a terminal.  They are written as escapes. */
    size_t o = 0;
    for (const char *c = raw; *c != 0; c++) {
        unsigned char u = (unsigned char)*c;
        if (u == '\r' || u == '\n' || u == '\t')
            o += (size_t)snprintf(esc + o, sizeof esc - o, "\\%c",
                                  u == '\r'   ? 'r'
                                  : u == '\n' ? 'n'
                                              : 't');
        else if (u < 0x20 || u == 0x7F)
            o += (size_t)snprintf(esc + o, sizeof esc - o, "\\x%02X", u);
        else
            esc[o++] = (char)u;
    }
    esc[o] = 0;
    gids_format_elided(e->msg, sizeof e->msg, "%s", esc);
    return CAN_ROW_BAD;
}

/* A printable rendering of one character for messages ('G', '\x01'). */
static const char *show(char c, char buf[8]) {
    unsigned char u = (unsigned char)c;
    if (u >= 0x20 && u < 0x7F)
        snprintf(buf, 8, "'%c'", c);
    else
        snprintf(buf, 8, "0x%02X", u);
    return buf;
}

/* The first character of [p, end) that is no hex digit, or end. */
static const char *first_non_hex(const char *p, const char *end) {
    while (p < end && can_hexval[(unsigned char)*p] != 0xFF) p++;
    return p;
}

int can_scan_id(const char *p, const char *end, uint32_t *id, uint8_t *flags, can_perr *e) {
    if (p == end) return can_bad(e, p, "empty CAN id");
    /* No supported format writes a 0x prefix (candump, candump -ta, the HCRL and the canonical
     * files write bare hex), so one is said as such, not as a bad digit 'x' or a length. */
    if (end - p >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        /* the id without it is suggested only when it is one (1 to 8 hex digits, 29 bits) */
        const char *r = p + 2;
        uint32_t v = 0;
        int ok = r < end && end - r <= 8 && first_non_hex(r, end) == end;
        for (const char *q = r; ok && q < end; q++) v = v << 4 | can_hexval[(unsigned char)*q];
        if (ok && v <= 0x1FFFFFFFu)
            return can_bad(e, p + 1,
                           "CAN id '%.*s' has a 0x prefix: ids are bare hex digits (%.*s)",
                           (int)(end - p), p, (int)(end - r), r);
        return can_bad(e, p + 1, "CAN id '%.*s%s' has a 0x prefix: ids are bare hex digits",
                       CAN_QUOTED(p, end));
    }
    /* what is wrong first, then how long it is (a field of 3000 'G' is no id of 3000 digits;
     * v of a field past 8 digits is never used) */
    uint32_t v = 0;
    const char *q = p;
    for (; q < end; q++) {
        uint8_t h = can_hexval[(unsigned char)*q];
        if (h == 0xFF) break;
        v = v << 4 | h;
    }
    char b[8];
    if (q < end) return can_bad(e, q, "bad hex digit %s in CAN id", show(*q, b));
    if (end - p > 8)
        return can_bad(e, p, "CAN id '%.*s%s' has %lld hex digits; at most 8", CAN_QUOTED(p, end),
                       (long long)(end - p));
    if (v > 0x1FFFFFFFu)
        return can_bad(e, p, "CAN id 0x%X exceeds 29 bits (max 0x1FFFFFFF)", (unsigned)v);
    *id = v;
    *flags = (end - p >= 5 || v > 0x7FFu) ? GIDS_CAN_EXTENDED : 0;
    return CAN_ROW_OK;
}

int can_scan_id_dec(const char *p, const char *end, uint32_t *id, uint8_t *flags, can_perr *e) {
    if (p == end) return can_bad(e, p, "empty CAN id");
    uint64_t v = 0;
    for (const char *q = p; q < end; q++) {
        char b[8];
        if (*q < '0' || *q > '9')
            return can_bad(e, q, "bad decimal digit %s in CAN id", show(*q, b));
        if (v <= 0x1FFFFFFFu) v = v * 10 + (uint64_t)(*q - '0'); /* (stays past the max) */
    }
    if (v > 0x1FFFFFFFu)
        return can_bad(e, p, "CAN id %.*s%s exceeds 29 bits (max 536870911)", CAN_QUOTED(p, end));
    *id = (uint32_t)v;
    *flags = v > 0x7FFu ? GIDS_CAN_EXTENDED : 0;
    return CAN_ROW_OK;
}

int can_scan_payload(const char *p, const char *end, uint8_t *data, uint8_t *dlc, const char *what,
                     can_perr *e) {
    int64_t n = end - p;
    if (n > 2 * GIDS_CAN_MAX_DLC || (n & 1)) {
        /* what is wrong first: a bad character, then the length */
        const char *bad = first_non_hex(p, end);
        char b[8];
        if (bad < end) return can_bad(e, bad, "bad hex digit %s in %s", show(*bad, b), what);
        if (n & 1 && n < 2 * GIDS_CAN_MAX_DLC)
            return can_bad(e, end - 1, "%s has an odd number of hex digits (%lld)", what,
                           (long long)n);
        return can_bad(e, p + 2 * GIDS_CAN_MAX_DLC,
                       "%s has %lld hex digits; a payload holds at most 8 bytes (16 digits)", what,
                       (long long)n);
    }
    for (int64_t i = 0; i < n; i += 2) {
        uint8_t hi = can_hexval[(unsigned char)p[i]], lo = can_hexval[(unsigned char)p[i + 1]];
        if ((hi | lo) == 0xFF) {
            const char *q = hi == 0xFF ? p + i : p + i + 1;
            char b[8];
            return can_bad(e, q, "bad hex digit %s in %s", show(*q, b), what);
        }
        data[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *dlc = (uint8_t)(n / 2);
    return CAN_ROW_OK;
}

int can_scan_remote(const char *p, const char *end, uint8_t *dlc, const char *form, can_perr *e) {
    if (end - p > 2 || (end - p == 2 && !(p[1] >= '0' && p[1] <= '8')))
        return can_bad(e, p + 1, "a remote request is %s, got '%.*s%s'", form, CAN_QUOTED(p, end));
    *dlc = end - p == 2 ? (uint8_t)(p[1] - '0') : 0;
    return CAN_ROW_OK;
}

int can_scan_byte(const char *p, const char *end, uint8_t *out, can_perr *e) {
    if (p == end) return can_bad(e, p, "empty data byte");
    const char *bad = first_non_hex(p, end);
    char b[8];
    if (bad < end) return can_bad(e, bad, "bad hex digit %s in data byte", show(*bad, b));
    if (end - p > 2)
        return can_bad(e, p, "data byte '%.*s%s' has %lld hex digits; a byte has 1 or 2",
                       CAN_QUOTED(p, end), (long long)(end - p));
    uint8_t v = 0;
    for (const char *q = p; q < end; q++) v = (uint8_t)(v << 4 | can_hexval[(unsigned char)*q]);
    *out = v;
    return CAN_ROW_OK;
}

/* Exact powers of ten: every 10^k with k <= 22 is a double. */
static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int ts_too_large(const char *p, const char *end, can_perr *e) {
    return can_bad(e, p, "timestamp %.*s%s is past %g s (about 31,700 years): not a capture time",
                   CAN_QUOTED(p, end), GIDS_CAN_TS_MAX);
}

int can_scan_ts(const char *p, const char *end, double *ts, can_perr *e) {
    if (p == end) return can_bad(e, p, "empty timestamp");
    /* Integer digits, then fraction digits: two tight loops.  Past 19 digits m wraps (unsigned,
     * defined) and the count sends the field to strtod. */
    const char *q = p;
    uint64_t m = 0;
    while (q < end && (unsigned)(*q - '0') < 10) m = m * 10 + (unsigned)(*q++ - '0');
    int64_t ndig = q - p, frac = 0;
    if (q < end && *q == '.') {
        const char *f = ++q;
        while (q < end && (unsigned)(*q - '0') < 10) m = m * 10 + (unsigned)(*q++ - '0');
        frac = q - f;
        ndig += frac;
    }
    if (q == end && ndig > 0 && ndig <= 19 && m <= (1ull << 53) && frac <= 22) {
        double v = frac > 0 ? (double)m / POW10[frac] : (double)m;
        if (v > GIDS_CAN_TS_MAX) return ts_too_large(p, end, e);
        *ts = v;
        return CAN_ROW_OK;
    }
    /* The slow path: strtod on a NUL-terminated copy, which must consume the whole field.
     * strtod also takes leading blanks, '+', hex floats, "inf" and "nan"; none is a timestamp,
     * so only digits, '.', an exponent and a sign (a negative value is refused below) pass. */
    char buf[64], b[8];
    for (const char *c = p; c < end; c++) {
        if (*c != '\0' && strchr("0123456789.eE-+", *c) != NULL && (c > p || *c != '+')) continue;
        if (c == p) return can_bad(e, p, "bad timestamp: %s is not a number", show(*p, b));
        return can_bad(e, c, "bad character %s in timestamp", show(*c, b));
    }
    if (end - p >= (int64_t)sizeof buf)
        return can_bad(e, p, "timestamp '%.*s%s' is too long (%lld characters)", CAN_QUOTED(p, end),
                       (long long)(end - p));
    memcpy(buf, p, (size_t)(end - p));
    buf[end - p] = 0;
    char *stop = NULL;
    double v = strtod(buf, &stop);
    if (stop == buf) return can_bad(e, p, "bad timestamp: %s is not a number", show(*p, b));
    if (*stop) return can_bad(e, p + (stop - buf), "bad character %s in timestamp", show(*stop, b));
    if (!isfinite(v) || v < 0)
        return can_bad(e, p, "timestamp %.*s%s must be a finite number >= 0", CAN_QUOTED(p, end));
    if (v > GIDS_CAN_TS_MAX) return ts_too_large(p, end, e);
    *ts = v;
    return CAN_ROW_OK;
}

int can_scan_uint(const char *p, const char *end, unsigned max, unsigned *out, const char *what,
                  can_perr *e) {
    if (p == end) return can_bad(e, p, "empty %s", what);
    unsigned v = 0;
    for (const char *q = p; q < end; q++) {
        char b[8];
        if (*q < '0' || *q > '9') return can_bad(e, q, "bad digit %s in %s", show(*q, b), what);
        if (v <= max) v = v * 10 + (unsigned)(*q - '0'); /* (stays past the max, never wraps) */
    }
    if (v > max) return can_bad(e, p, "%s %.*s%s exceeds %u", what, CAN_QUOTED(p, end), max);
    *out = v;
    return CAN_ROW_OK;
}
