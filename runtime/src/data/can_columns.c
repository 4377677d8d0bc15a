/* can_columns.c -- the column-mapped CSV format: a header names the columns, the reader picks
 * timestamp, id, payload and optionally DLC and label by name; any other column is ignored.
 * Fields may be quoted ("Engine Hours, Revolutions").  See docs/data-formats.md. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/elide.h"
#include "can_parse.h"

/* The next field at p: its text [*fs, *fe) (inside the quotes when quoted) and the position
 * after it (at the ',' or end).  Returns NULL with e filled for an unterminated quote. */
static const char *next_field(const char *p, const char *end, const char **fs, const char **fe,
                              can_perr *e) {
    if (p < end && *p == '"') {
        const char *q = p + 1;
        for (;;) {
            const char *c = memchr(q, '"', (size_t)(end - q));
            if (c == NULL) {
                can_bad(e, p, "unterminated quoted field");
                return NULL;
            }
            if (c + 1 < end && c[1] == '"') { /* "" is an escaped quote */
                q = c + 2;
                continue;
            }
            *fs = p + 1;
            *fe = c;
            if (c + 1 < end && c[1] != ',') {
                can_bad(e, c + 1, "text after a closing quote");
                return NULL;
            }
            return c + 1;
        }
    }
    const char *c = memchr(p, ',', (size_t)(end - p));
    *fs = p;
    *fe = c ? c : end;
    return *fe;
}

/* Names and labels compare without surrounding blanks: spaces and tabs alike (a tab-padded
 * export's " label\t" is the label column). */
static int same_name(const char *s, const char *e, const char *name) {
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    size_t n = strlen(name);
    return (size_t)(e - s) == n && strncasecmp(s, name, n) == 0;
}

/* Index of the header field named the first of `names` (NULL-terminated) that the header has,
 * or -1 when it has none; -2 with e filled when two fields carry that name, since the reader
 * could only guess which one is meant. */
static int find(const char *const *hs, const char *const *he, int n, const char *const *names,
                const char **found, can_perr *e) {
    for (const char *const *nm = names; *nm; nm++)
        for (int i = 0; i < n; i++)
            if (same_name(hs[i], he[i], *nm)) {
                for (int j = i + 1; j < n; j++)
                    if (same_name(hs[j], he[j], *nm)) {
                        can_bad(e, hs[j], "header has two columns named '%s' (%d and %d)", *nm,
                                i + 1, j + 1);
                        return -2;
                    }
                if (found) *found = *nm;
                return i;
            }
    return -1;
}

#define MAX_COLS 256

int can_columns_header(const gids_can_read_opts *o, const char *p, const char *end,
                       can_columns *cols, can_perr *e) {
    const char *hs[MAX_COLS], *he[MAX_COLS];
    int n = 0;
    const char *q = p;
    for (;;) {
        if (n == MAX_COLS) return can_bad(e, q, "header has more than %d columns", MAX_COLS);
        q = next_field(q, end, &hs[n], &he[n], e);
        if (q == NULL) return -1;
        n++;
        if (q == end) break;
        q++;
    }
    static const char *const d_ts[] = {"timestamp", "ts", "time", NULL};
    static const char *const d_id[] = {"arbitration_id", "can_id", "id", NULL};
    static const char *const d_data[] = {"data_field", "data", "payload", NULL};
    static const char *const d_dlc[] = {"dlc", NULL};
    static const char *const d_label[] = {"attack", "label", NULL};
    const char *n_ts[] = {o->col_ts, NULL}, *n_id[] = {o->col_id, NULL},
               *n_data[] = {o->col_data, NULL}, *n_dlc[] = {o->col_dlc, NULL},
               *n_label[] = {o->col_label, NULL};
    const char *idname = NULL;
    cols->ncols = n;
    if ((cols->ts = find(hs, he, n, o->col_ts ? n_ts : d_ts, NULL, e)) == -2 ||
        (cols->id = find(hs, he, n, o->col_id ? n_id : d_id, &idname, e)) == -2 ||
        (cols->data = find(hs, he, n, o->col_data ? n_data : d_data, NULL, e)) == -2 ||
        (cols->dlc = find(hs, he, n, o->col_dlc ? n_dlc : d_dlc, NULL, e)) == -2 ||
        (cols->label = find(hs, he, n, o->col_label ? n_label : d_label, NULL, e)) == -2)
        return -1;
    if (cols->ts < 0)
        return can_bad(e, p, "header has no timestamp column (looked for %s)",
                       o->col_ts ? o->col_ts : "timestamp, ts, time");
    if (cols->id < 0)
        return can_bad(e, p, "header has no id column (looked for %s)",
                       o->col_id ? o->col_id : "arbitration_id, can_id, id");
    if (cols->data < 0)
        return can_bad(e, p, "header has no payload column (looked for %s)",
                       o->col_data ? o->col_data : "data_field, data, payload");
    if (o->col_dlc && cols->dlc < 0)
        return can_bad(e, p, "header has no column named %s", o->col_dlc);
    if (o->col_label && cols->label < 0)
        return can_bad(e, p, "header has no column named %s", o->col_label);
    /* One column read as two roles: the row parser takes the first role that matches, so the
     * other would silently never be read (an explicit mapping such as {ts=t, label=t}). */
    const int role_col[5] = {cols->ts, cols->id, cols->data, cols->dlc, cols->label};
    static const char *const role[5] = {"ts", "id", "data", "dlc", "label"};
    for (int a = 0; a < 5; a++)
        for (int b = a + 1; b < 5; b++)
            if (role_col[a] >= 0 && role_col[a] == role_col[b]) {
                int c = role_col[a];
                return can_bad(e, hs[c], "column %d ('%.*s%s') is mapped to both %s and %s", c + 1,
                               CAN_QUOTED(hs[c], he[c]), role[a], role[b]);
            }
    /* the name as the header matched it, case aside: columns = {id = "CAN_ID"} reads the
     * column auto-detection reads as can_id */
    cols->id_base = o->id_base ? o->id_base : strcasecmp(idname, "can_id") == 0 ? 10 : 16;
    return 0;
}

/* Label text, case aside: a number (0 and 0.0 normal, any other attack), normal, benign, R and
 * false are normal traffic; any other non-empty text (T, true, attack, high_torque_command, ...)
 * marks an attack, as labelling tools write attack names.  (A pandas or bool export writes 0.0
 * or False for normal frames: read as attacks they would label a whole capture an attack.) */
/* The label between its blanks: a number (0 normal, else attack), or a word (normal, benign, R
 * and false are normal, any other an attack).  A blank label is as empty as an empty one (read as
 * a number it was 0: strtod converted nothing and the blanks after that were skipped), and a
 * number must fill the field.  (A line holding a NUL byte never gets here: the reader refuses
 * it whole, can_read.c.) */
static int scan_label(const char *p, const char *end, uint8_t *attack, can_perr *e) {
    const char *b = p, *f = end;
    while (b < f && (*b == ' ' || *b == '\t')) b++;
    while (f > b && (f[-1] == ' ' || f[-1] == '\t')) f--;
    if (b == f) return can_bad(e, p, "empty label");
    char num[64];
    size_t n = (size_t)(f - b);
    if (n < sizeof num) {
        memcpy(num, b, n);
        num[n] = 0;
        char *stop;
        double v = strtod(num, &stop);
        if (stop == num + n) {
            /* pandas writes a missing label as NaN */
            if (!isfinite(v))
                return can_bad(e, p, "label '%s' is not a label (a missing value?)", num);
            *attack = v != 0.0;
            return CAN_ROW_OK;
        }
    }
    *attack = !(same_name(b, f, "normal") || same_name(b, f, "benign") || same_name(b, f, "R") ||
                same_name(b, f, "false"));
    return CAN_ROW_OK;
}

int can_line_columns(const can_columns *cols, const char *p, const char *end, can_row *row,
                     can_perr *e) {
    const char *q = p;
    int dlc_given = -1;
    /* the id column sets the flags, in whatever order the columns come: the RTR bit waits */
    bool remote = false, remote_len = false;
    row->attack = 0;
    for (int i = 0;; i++) {
        const char *fs, *fe;
        if (i == cols->ncols)
            return can_bad(e, q, "unexpected column %d: the header has %d", i + 1, cols->ncols);
        q = next_field(q, end, &fs, &fe, e);
        if (q == NULL) return CAN_ROW_BAD;
        int rc = CAN_ROW_OK;
        if (i == cols->ts) {
            rc = can_scan_ts(fs, fe, &row->ts, e);
        } else if (i == cols->id) {
            rc = cols->id_base == 10 ? can_scan_id_dec(fs, fe, &row->id, &row->flags, e)
                                     : can_scan_id(fs, fe, &row->id, &row->flags, e);
        } else if (i == cols->data) {
            remote = fs < fe && (*fs == 'R' || *fs == 'r');
            if (remote) {
                /* as the canonical csv writes one: R (its length from the dlc column, else 0)
                 * or R<DLC 0-8> */
                rc = can_scan_remote(fs, fe, &row->dlc, "R or R<DLC 0-8> in the data column", e);
                remote_len = fe - fs == 2;
                if (rc == CAN_ROW_OK && dlc_given >= 0 && !remote_len)
                    row->dlc = (uint8_t)dlc_given;
                if (rc == CAN_ROW_OK && dlc_given >= 0 && dlc_given != row->dlc)
                    return can_bad(e, fs, "data requests %u bytes but dlc says %d", row->dlc,
                                   dlc_given);
            } else {
                rc = can_scan_payload(fs, fe, row->data, &row->dlc, "data", e);
                if (rc == CAN_ROW_OK && dlc_given >= 0 && dlc_given != row->dlc)
                    return can_bad(e, fs, "data has %u bytes but dlc says %d", row->dlc, dlc_given);
            }
        } else if (i == cols->dlc) {
            unsigned d = 0;
            rc = can_scan_uint(fs, fe, GIDS_CAN_MAX_DLC, &d, "dlc", e);
            dlc_given = (int)d;
            /* The payload may come before the DLC column; a bare R takes its length from it. */
            if (rc == CAN_ROW_OK && cols->data < i && remote && !remote_len) row->dlc = (uint8_t)d;
            if (rc == CAN_ROW_OK && cols->data < i && row->dlc != d)
                return can_bad(e, fs,
                               remote ? "dlc says %u but data requests %u bytes"
                                      : "dlc says %u but data has %u bytes",
                               d, row->dlc);
        } else if (i == cols->label) {
            rc = scan_label(fs, fe, &row->attack, e);
        }
        if (rc != CAN_ROW_OK) return CAN_ROW_BAD;
        if (q == end) {
            if (i + 1 < cols->ncols)
                return can_bad(e, end, "missing column %d: the row has %d of the header's %d",
                               i + 2, i + 1, cols->ncols);
            break;
        }
        q++;
    }
    if (remote) row->flags |= GIDS_CAN_REMOTE;
    return CAN_ROW_OK;
}
