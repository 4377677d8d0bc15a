/* can_lines.c -- line parsers of the fixed-layout CAN log formats (see can_parse.h and
 * docs/data-formats.md): the canonical CSV, candump -l, candump -ta, and the two HCRL
 * Car-Hacking formats.  Each checks every field and names the first bad character. */
#include <stdbool.h>
#include <string.h>

#include "../core/elide.h"
#include "can_parse.h"

/* End of the CSV field starting at p (the next ',' or end).  A byte loop: fields are a few
 * characters long, where a memchr call costs more than it saves. */
static const char *field_end(const char *p, const char *end) {
    while (p < end && *p != ',') p++;
    return p;
}

static const char *skip_blanks(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    return p;
}

static const char *word_end(const char *p, const char *end) {
    while (p < end && *p != ' ' && *p != '\t') p++;
    return p;
}

/* The 0/1 (or R/T) label fields. */
static int scan_attack(const char *p, const char *end, uint8_t *attack, const char *what,
                       can_perr *e) {
    if (end - p == 1 && (*p == '0' || *p == '1')) {
        *attack = (uint8_t)(*p - '0');
        return CAN_ROW_OK;
    }
    return can_bad(e, p, "%s must be 0 or 1, got '%.*s%s'", what, CAN_QUOTED(p, end));
}

/* timestamp,arbitration_id,data_field,attack */
int can_line_csv(const can_columns *cols, const char *p, const char *end, can_row *row,
                 can_perr *e) {
    (void)cols;
    static const char *const names[4] = {"timestamp", "arbitration_id", "data_field", "attack"};
    const char *f[4], *fe[4];
    const char *q = p;
    for (int i = 0; i < 4; i++) {
        if (i > 0) {
            if (q == end)
                return can_bad(e, end, "missing column %d (%s): the row has %d of 4 columns", i + 1,
                               names[i], i);
            q++; /* the comma */
        }
        f[i] = q;
        fe[i] = q = field_end(q, end);
    }
    if (q != end) return can_bad(e, q + 1, "unexpected column 5: the row has more than 4 columns");
    if (can_scan_ts(f[0], fe[0], &row->ts, e)) return CAN_ROW_BAD;
    if (can_scan_id(f[1], fe[1], &row->id, &row->flags, e)) return CAN_ROW_BAD;
    if (f[2] < fe[2] && (*f[2] == 'R' || *f[2] == 'r')) {
        /* a remote request, as the writer writes one (R, R4) */
        if (can_scan_remote(f[2], fe[2], &row->dlc, "R or R<DLC 0-8> in data_field", e))
            return CAN_ROW_BAD;
        row->flags |= GIDS_CAN_REMOTE;
    } else if (can_scan_payload(f[2], fe[2], row->data, &row->dlc, "data_field", e)) {
        return CAN_ROW_BAD;
    }
    return scan_attack(f[3], fe[3], &row->attack, "attack", e);
}

/* "(timestamp) interface" -- how both candump formats open.  Sets *ts and *rest (just past the
 * interface name). */
static int scan_candump_prefix(const char *p, const char *end, double *ts, const char **rest,
                               can_perr *e) {
    p = skip_blanks(p, end);
    if (p == end || *p != '(') return can_bad(e, p, "expected '(' before the timestamp");
    const char *t = p + 1, *te = memchr(t, ')', (size_t)(end - t));
    if (te == NULL) return can_bad(e, end, "missing ')' after the timestamp");
    if (can_scan_ts(t, te, ts, e)) return CAN_ROW_BAD;
    const char *iface = skip_blanks(te + 1, end), *ie = word_end(iface, end);
    if (iface == ie || iface == te + 1) return can_bad(e, iface, "missing interface name");
    *rest = ie;
    return CAN_ROW_OK;
}

/* (1522004165.988068) can0 264#0003948C0C00FD83  -- a remote frame is ID#R or ID#R<requested
 * length> (no payload); CAN FD frames (ID##...) are refused. */
int can_line_candump(const can_columns *cols, const char *p, const char *end, can_row *row,
                     can_perr *e) {
    (void)cols;
    if (scan_candump_prefix(p, end, &row->ts, &p, e)) return CAN_ROW_BAD;
    const char *w = skip_blanks(p, end), *we = word_end(w, end);
    if (w == we) return can_bad(e, w, "missing ID#DATA");
    const char *hash = memchr(w, '#', (size_t)(we - w));
    if (hash == NULL) return can_bad(e, we, "missing '#' between id and data");
    if (can_scan_id(w, hash, &row->id, &row->flags, e)) return CAN_ROW_BAD;
    const char *d = hash + 1;
    if (d < we && *d == '#') return can_bad(e, d, "CAN FD frames (ID##...) are not supported");
    if (d < we && (*d == 'R' || *d == 'r')) {
        /* remote request: no payload on the wire; candump prints the requested length as one
         * digit after the R when it is not 0 (123#R4) */
        if (can_scan_remote(d, we, &row->dlc, "ID#R or ID#R<DLC 0-8>", e)) return CAN_ROW_BAD;
        row->flags |= GIDS_CAN_REMOTE;
    } else if (can_scan_payload(d, we, row->data, &row->dlc, "data", e)) {
        return CAN_ROW_BAD;
    }
    /* Newer candump -l appends a direction flag (" T"/" R"); anything else is an error. */
    const char *x = skip_blanks(we, end);
    if (x < end && !(end - x == 1 && (*x == 'T' || *x == 'R')))
        return can_bad(e, x, "unexpected text after ID#DATA");
    row->attack = 0;
    return CAN_ROW_OK;
}

/* Space-separated bytes [p, end): exactly `n` of them. */
static int scan_byte_list(const char *p, const char *end, unsigned n, uint8_t *data, can_perr *e) {
    for (unsigned i = 0; i < n; i++) {
        p = skip_blanks(p, end);
        if (p == end) return can_bad(e, p, "DLC says %u bytes but the row has %u", n, i);
        const char *be = word_end(p, end);
        if (can_scan_byte(p, be, &data[i], e)) return CAN_ROW_BAD;
        p = be;
    }
    p = skip_blanks(p, end);
    if (p != end) return can_bad(e, p, "DLC says %u bytes but the row has more", n);
    return CAN_ROW_OK;
}

/*  (000.005001)  can0  18FEDF00   [8]  8A A0 28 7D 7D FF FF F5 */
int can_line_candump_ta(const can_columns *cols, const char *p, const char *end, can_row *row,
                        can_perr *e) {
    (void)cols;
    if (scan_candump_prefix(p, end, &row->ts, &p, e)) return CAN_ROW_BAD;
    const char *w = skip_blanks(p, end), *we = word_end(w, end);
    if (w == we) return can_bad(e, w, "missing CAN id");
    if (can_scan_id(w, we, &row->id, &row->flags, e)) return CAN_ROW_BAD;
    const char *b = skip_blanks(we, end);
    if (b == end || *b != '[') return can_bad(e, b, "expected '[DLC]' after the id");
    const char *be = memchr(b, ']', (size_t)(end - b));
    if (be == NULL) return can_bad(e, end, "missing ']' after the DLC");
    unsigned dlc = 0;
    if (can_scan_uint(b + 1, be, GIDS_CAN_MAX_DLC, &dlc, "DLC", e)) return CAN_ROW_BAD;
    row->dlc = (uint8_t)dlc;
    row->attack = 0;
    const char *rest = skip_blanks(be + 1, end);
    /* candump prints "remote request" instead of bytes for an RTR frame; [DLC] is the length
     * it requests. */
    if (end - rest == 14 && memcmp(rest, "remote request", 14) == 0) {
        row->flags |= GIDS_CAN_REMOTE;
        return CAN_ROW_OK;
    }
    return scan_byte_list(be + 1, end, dlc, row->data, e);
}

/* Timestamp,CAN ID,DLC,DATA0,...,DATA(DLC-1),Flag  -- R (regular) is 0, T (injected) is 1.  Rows
 * with DLC < 8 are short: the flag follows the last byte. */
int can_line_hcrl_csv(const can_columns *cols, const char *p, const char *end, can_row *row,
                      can_perr *e) {
    (void)cols;
    const char *fe = field_end(p, end);
    if (can_scan_ts(p, fe, &row->ts, e)) return CAN_ROW_BAD;
    if (fe == end) return can_bad(e, end, "missing column 2 (CAN ID)");
    p = fe + 1;
    fe = field_end(p, end);
    if (can_scan_id(p, fe, &row->id, &row->flags, e)) return CAN_ROW_BAD;
    if (fe == end) return can_bad(e, end, "missing column 3 (DLC)");
    p = fe + 1;
    fe = field_end(p, end);
    unsigned dlc = 0;
    if (can_scan_uint(p, fe, GIDS_CAN_MAX_DLC, &dlc, "DLC", e)) return CAN_ROW_BAD;
    row->dlc = (uint8_t)dlc;
    for (unsigned i = 0; i < dlc; i++) {
        if (fe == end)
            return can_bad(e, end, "missing column %u (DATA%u): DLC %u needs %u byte columns",
                           4 + i, i, dlc, dlc);
        p = fe + 1;
        fe = field_end(p, end);
        if (fe == end && fe - p == 1 && (*p == 'R' || *p == 'T')) /* the flag came early */
            return can_bad(e, p, "DLC %u needs %u byte columns, got %u", dlc, dlc, i);
        if (can_scan_byte(p, fe, &row->data[i], e)) return CAN_ROW_BAD;
    }
    if (fe == end) return can_bad(e, end, "missing column %u (Flag)", 4 + dlc);
    p = fe + 1;
    fe = field_end(p, end);
    if (fe != end)
        return can_bad(e, fe + 1, "unexpected column %u: DLC %u rows have %u columns", 5 + dlc, dlc,
                       4 + dlc);
    if (fe - p == 1 && (*p == 'R' || *p == 'T')) {
        row->attack = *p == 'T';
        return CAN_ROW_OK;
    }
    return can_bad(e, p, "Flag must be R or T, got '%.*s%s'", CAN_QUOTED(p, fe));
}

/* Expects the literal `lit` at p (after blanks); returns the position after it or NULL. */
static const char *expect(const char *p, const char *end, const char *lit) {
    size_t n = strlen(lit);
    p = skip_blanks(p, end);
    if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0) return NULL;
    return p + n;
}

/* Timestamp: 1479121434.850202        ID: 0350    000    DLC: 8    05 28 84 66 6d 00 00 a2
 * The word after the id is the RTR bit field (000 data frame, 100 remote request). */
int can_line_hcrl_txt(const can_columns *cols, const char *p, const char *end, can_row *row,
                      can_perr *e) {
    (void)cols;
    const char *q = expect(p, end, "Timestamp:");
    if (q == NULL) return can_bad(e, skip_blanks(p, end), "expected 'Timestamp:'");
    const char *t = skip_blanks(q, end), *te = word_end(t, end);
    if (can_scan_ts(t, te, &row->ts, e)) return CAN_ROW_BAD;
    q = expect(te, end, "ID:");
    if (q == NULL) return can_bad(e, skip_blanks(te, end), "expected 'ID:'");
    const char *w = skip_blanks(q, end), *we = word_end(w, end);
    if (can_scan_id(w, we, &row->id, &row->flags, e)) return CAN_ROW_BAD;
    const char *r = skip_blanks(we, end), *re = word_end(r, end);
    /* The field is a bit pattern with only these two spellings in the captures; anything else
     * ("0", "0100", "00a") is a damaged row, not a data frame: compared as text, not as a
     * number. */
    bool is_data = re - r == 3 && memcmp(r, "000", 3) == 0;
    bool is_remote = re - r == 3 && memcmp(r, "100", 3) == 0;
    if (!is_data && !is_remote)
        return can_bad(e, r,
                       "RTR field must be 000 (data frame) or 100 (remote request), got '%.*s%s'",
                       CAN_QUOTED(r, re));
    q = expect(re, end, "DLC:");
    if (q == NULL) return can_bad(e, skip_blanks(re, end), "expected 'DLC:'");
    const char *d = skip_blanks(q, end), *de = word_end(d, end);
    unsigned dlc = 0;
    if (can_scan_uint(d, de, GIDS_CAN_MAX_DLC, &dlc, "DLC", e)) return CAN_ROW_BAD;
    row->attack = 0;
    if (is_remote) { /* a remote request carries no bytes: its DLC is the length it requests */
        const char *x = skip_blanks(de, end);
        if (x != end) return can_bad(e, x, "a remote request (RTR 100) has no bytes after its DLC");
        row->dlc = (uint8_t)dlc;
        row->flags |= GIDS_CAN_REMOTE;
        return CAN_ROW_OK;
    }
    row->dlc = (uint8_t)dlc;
    return scan_byte_list(de, end, dlc, row->data, e);
}
