/* can_read.c -- the CAN log reader: maps a file, detects its format, runs the format's line
 * parser over every line into a frame table, checks time order against the tolerance, applies
 * the labelling rules, and either fails on the first malformed row (FILE:LINE:COLUMN) or, when
 * lenient, skips and counts it.  gids_can_read_many reads files in parallel. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/elide.h"
#include "../io/io_impl.h"
#include "gids/runtime.h"

#include "can_parse.h"

void gids_can_read_opts_init(gids_can_read_opts *o) {
    if (o == NULL) return; /* no options to set */
    memset(o, 0, sizeof *o);
    o->format = GIDS_CAN_FMT_AUTO;
    o->time_tolerance = GIDS_CAN_TIME_TOLERANCE;
}

static const char CANONICAL_HEADER[] = "timestamp,arbitration_id,data_field,attack";

/* One line of the buffer: [s, e) without "\n" or "\r\n"; returns the start of the next line. */
static const char *next_line(const char *p, const char *end, const char **e) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    *e = (le > p && le[-1] == '\r') ? le - 1 : le;
    return nl ? nl + 1 : end;
}

static int blank(const char *p, const char *e) {
    for (; p < e; p++)
        if (*p != ' ' && *p != '\t') return 0;
    return 1;
}

static int starts_with_ci(const char *p, const char *e, const char *lit) {
    size_t n = strlen(lit);
    return (size_t)(e - p) >= n && strncasecmp(p, lit, n) == 0;
}

static int is_canonical_header(const char *p, const char *e) {
    while (e > p && e[-1] == ' ') e--;
    return (size_t)(e - p) == sizeof CANONICAL_HEADER - 1 &&
           strncasecmp(p, CANONICAL_HEADER, sizeof CANONICAL_HEADER - 1) == 0;
}

/* Whether the first line [p, e) is a header to skip for an explicitly given format. */
static int is_header(gids_can_format f, const char *p, const char *e) {
    switch (f) {
    case GIDS_CAN_FMT_CSV: return is_canonical_header(p, e);
    case GIDS_CAN_FMT_HCRL_CSV: return starts_with_ci(p, e, "timestamp,");
    case GIDS_CAN_FMT_COLUMNS: return 1;
    default: return 0;
    }
}

/* The format of a file whose first non-blank line is [p, e); GIDS_CAN_FMT_AUTO when unknown. */
static gids_can_format detect(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t')) p++;
    if (p == e) return GIDS_CAN_FMT_AUTO;
    if (*p == '(')
        return memchr(p, '#', (size_t)(e - p)) ? GIDS_CAN_FMT_CANDUMP : GIDS_CAN_FMT_CANDUMP_TA;
    if (starts_with_ci(p, e, "timestamp:")) return GIDS_CAN_FMT_HCRL_TXT;
    if (is_canonical_header(p, e)) return GIDS_CAN_FMT_CSV;
    if (starts_with_ci(p, e, "timestamp,can id,")) return GIDS_CAN_FMT_HCRL_CSV;
    if (*p >= '0' && *p <= '9') {
        int nf = 1;
        const char *last = p;
        for (const char *q = p; q < e; q++)
            if (*q == ',') nf++, last = q + 1;
        if (nf >= 4 && e - last == 1 && (*last == 'R' || *last == 'T'))
            return GIDS_CAN_FMT_HCRL_CSV;
        return nf == 4 ? GIDS_CAN_FMT_CSV : GIDS_CAN_FMT_AUTO;
    }
    if (memchr(p, ',', (size_t)(e - p))) return GIDS_CAN_FMT_COLUMNS;
    return GIDS_CAN_FMT_AUTO;
}

static can_line_fn parser_of(gids_can_format f) {
    switch (f) {
    case GIDS_CAN_FMT_CSV: return can_line_csv;
    case GIDS_CAN_FMT_CANDUMP: return can_line_candump;
    case GIDS_CAN_FMT_CANDUMP_TA: return can_line_candump_ta;
    case GIDS_CAN_FMT_HCRL_CSV: return can_line_hcrl_csv;
    case GIDS_CAN_FMT_HCRL_TXT: return can_line_hcrl_txt;
    case GIDS_CAN_FMT_COLUMNS: return can_line_columns;
    default: return NULL;
    }
}

/* Newlines in [p, end), and in *nul whether a NUL byte is there: byte counters over 255-byte
 * blocks, which the compiler turns into 16-byte compares (a memchr per line costs a call per 45
 * bytes).  The NUL test rides along, so only a file that holds one looks for it line by line. */
static int64_t count_lines(const char *p, const char *end, int *nul) {
    int64_t n = 0;
    uint8_t z = 0;
    for (; end - p >= 255; p += 255) {
        uint8_t c = 0;
        for (int i = 0; i < 255; i++) {
            c = (uint8_t)(c + (p[i] == '\n'));
            z |= p[i] == 0;
        }
        n += c;
    }
    for (; p < end; p++) n += *p == '\n', z |= *p == 0;
    *nul = z;
    return n;
}

static const char NUL_MSG[] = "the line contains a NUL byte (not a text file?)";

/* An id rule matches every frame of its id; a frame rule a data frame of its payload ("115#":
 * the empty one, never a remote request) or a remote request of its requested length
 * ("115#R4"; a remote request's data bytes are all 0). */
static int matches(const gids_can_rule *r, const can_row *row) {
    if (r->id != row->id || (r->flags & GIDS_CAN_EXTENDED) != (row->flags & GIDS_CAN_EXTENDED))
        return 0;
    if (!r->match_data) return 1;
    return (r->flags & GIDS_CAN_REMOTE) == (row->flags & GIDS_CAN_REMOTE) && r->dlc == row->dlc &&
           memcmp(r->data, row->data, r->dlc) == 0;
}

static gids_status check_opts(const gids_can_read_opts *o) {
    GIDS_CHECK(o->format >= 0 && o->format < GIDS_CAN_FMT_COUNT_, GIDS_EINVAL,
               "read_can: format %d out of range", (int)o->format);
    GIDS_CHECK(o->time_tolerance >= 0, GIDS_EINVAL,
               "read_can: time_tolerance must be >= 0 seconds, got %g", o->time_tolerance);
    GIDS_CHECK(o->id_base == 0 || o->id_base == 10 || o->id_base == 16, GIDS_EINVAL,
               "read_can: id_base must be 10 or 16, got %d", o->id_base);
    GIDS_CHECK(o->nrules >= 0 && (o->nrules == 0 || o->rules != NULL), GIDS_EINVAL,
               "read_can: %d rules but no rule array", o->nrules);
    return GIDS_OK;
}

gids_status gids_can_read_buffer(const char *text, int64_t len, const char *name,
                                 const gids_can_read_opts *opts, gids_can_frames *out,
                                 gids_can_read_report *report) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "read_can_buffer: out is NULL");
    gids_can_frames_init(out);
    GIDS_CHECK(name != NULL, GIDS_EINVAL, "read_can_buffer: name is NULL");
    GIDS_CHECK(len >= 0, GIDS_EINVAL, "%s: negative length %lld", name, (long long)len);
    GIDS_CHECK(text != NULL || len == 0, GIDS_EINVAL, "%s: text is NULL with length %lld", name,
               (long long)len);
    gids_can_read_report local = {0};
    gids_can_read_report *r = report ? report : &local;
    memset(r, 0, sizeof *r);
    gids_can_read_opts defaults;
    if (opts == NULL) gids_can_read_opts_init(&defaults);
    const gids_can_read_opts *o = opts ? opts : &defaults;
    GIDS_TRY(check_opts(o));
    GIDS_CHECK(len > 0, GIDS_EFORMAT, "%s: empty file (0 bytes, no CAN frames)", name);
    const char *p = text, *end = text + len;
    /* UTF-16 text (a Windows export) reads as NUL bytes between the characters. */
    const uint8_t *u = (const uint8_t *)text;
    int bom16 = len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF));
    int pairs16 =
        len >= 4 && ((u[0] && !u[1] && u[2] && !u[3]) || (!u[0] && u[1] && !u[2] && u[3]));
    GIDS_CHECK(!bom16 && !pairs16, GIDS_EFORMAT,
               "%s: looks like UTF-16 text (%s); convert it to UTF-8 (e.g. iconv -f UTF-16 -t "
               "UTF-8)",
               name, bom16 ? "a UTF-16 byte-order mark" : "NUL bytes between the characters");
    /* A UTF-8 byte-order mark (spreadsheet exports write one) is no part of the first field. */
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
    /* Lines ended by CR alone (classic Mac) would read as one long header line: say so.  A CR
     * before another CR ("\r\r\n") is a stray one, which glued itself to the last column's
     * name: "attack\r" named no label column, and every frame read as normal traffic. */
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *cr =
        memchr(p, '\r', (size_t)((nl != NULL ? nl : end) - p)); /* the first line only */
    GIDS_CHECK(!(cr != NULL && cr + 1 < end && cr[1] == '\r'), GIDS_EFORMAT,
               "%s:1:%lld: a stray CR (\\r) before the end of the first line (\\r\\r\\n?); remove "
               "it (e.g. tr -d '\\r')",
               name, (long long)(cr - p + 1));
    GIDS_CHECK(!(cr != NULL && cr + 1 < end && cr[1] != '\n'), GIDS_EFORMAT,
               "%s: lines end with CR alone; convert the line endings to LF or CRLF (e.g. "
               "tr '\\r' '\\n')",
               name);

    /* The first non-blank line decides the format and whether there is a header. */
    int64_t lineno = 0;
    const char *ls = p, *le = p;
    while (p < end) {
        ls = p;
        p = next_line(p, end, &le);
        lineno++;
        if (!blank(ls, le)) break;
    }
    GIDS_CHECK(!blank(ls, le), GIDS_EFORMAT, "%s: empty file (%lld blank lines, no CAN frames)",
               name, (long long)lineno);
    const char *z = memchr(ls, 0, (size_t)(le - ls));
    GIDS_CHECK(z == NULL, GIDS_EFORMAT, "%s:%lld:%lld: %s", name, (long long)lineno,
               (long long)(z - ls + 1), NUL_MSG);
    gids_can_format fmt = o->format;
    if (fmt == GIDS_CAN_FMT_AUTO) {
        fmt = detect(ls, le);
        GIDS_CHECK(fmt != GIDS_CAN_FMT_AUTO, GIDS_EFORMAT,
                   "%s:%lld:1: cannot tell the log format from '%.*s' (give the format: csv, "
                   "candump, candump-ta, hcrl-csv, hcrl-txt or columns)",
                   name, (long long)lineno, (int)gids_utf8_fit(ls, (size_t)(le - ls), 60), ls);
    }
    r->format = fmt;
    /* an id base for a format whose ids have a fixed base would be silently ignored */
    GIDS_CHECK(o->id_base == 0 || fmt == GIDS_CAN_FMT_COLUMNS, GIDS_EINVAL,
               "%s: id_base applies to the columns format, and this file reads as %s", name,
               gids_can_format_name(fmt));
    /* so would column names (columns = {...} with format = "csv" read the csv columns) */
    int named = o->col_ts || o->col_id || o->col_data || o->col_dlc || o->col_label;
    GIDS_CHECK(!named || fmt == GIDS_CAN_FMT_COLUMNS, GIDS_EINVAL,
               "%s: column names apply to the columns format, and this file reads as %s", name,
               gids_can_format_name(fmt));
    can_columns cols = {-1, -1, -1, -1, -1, 0, 16};
    can_perr e = {NULL, ""};
    if (fmt == GIDS_CAN_FMT_COLUMNS && can_columns_header(o, ls, le, &cols, &e) != 0)
        GIDS_FAIL(GIDS_EFORMAT, "%s:%lld:%lld: %s", name, (long long)lineno,
                  (long long)(e.at - ls + 1), e.msg);
    r->has_labels = fmt == GIDS_CAN_FMT_CSV || fmt == GIDS_CAN_FMT_HCRL_CSV ||
                    (fmt == GIDS_CAN_FMT_COLUMNS && cols.label >= 0) || o->nrules > 0;
    if (!is_header(fmt, ls, le)) { /* the first line is a row: parse it in the loop */
        p = ls;
        lineno--;
    }

    /* One frame per remaining line at most. */
    int nul = 0;
    int64_t nlines = count_lines(p, end, &nul) + (end > p && end[-1] != '\n');
    GIDS_TRY(gids_can_frames_reserve(out, nlines));

    can_line_fn parse = parser_of(fmt);
    can_order keep;
    can_order_init(&keep, name, o, out, r);
    while (p < end) {
        ls = p;
        p = next_line(p, end, &le);
        lineno++;
        if (ls == le || blank(ls, le)) continue;
        can_row row;
        memset(&row, 0, sizeof row);
        const char *zb = nul ? memchr(ls, 0, (size_t)(le - ls)) : NULL;
        if (zb != NULL) {
            e.at = zb;
            snprintf(e.msg, sizeof e.msg, "%s", NUL_MSG);
        }
        if (zb != NULL || parse(&cols, ls, le, &row, &e) == CAN_ROW_BAD) {
            /* a long name loses its middle, not the reason (the report's shorter copy too) */
            char msg[GIDS_ERROR_MAX];
            gids_format_elided(msg, sizeof msg, "%s:%lld:%lld: %s", name, (long long)lineno,
                               (long long)(e.at - ls + 1), e.msg);
            if (!o->lenient) GIDS_FAIL(GIDS_EFORMAT, "%s", msg);
            can_order_skip(&keep, lineno, msg);
            continue;
        }
        for (int k = 0; k < o->nrules && !row.attack; k++)
            row.attack = (uint8_t)matches(&o->rules[k], &row);
        GIDS_TRY(can_order_row(&keep, &row, lineno));
    }
    can_order_end(&keep);
    int64_t n = out->n;
    r->lines = lineno;
    r->frames = n;
    /* every row skipped: the first reason, not only the count */
    GIDS_CHECK(n > 0, GIDS_EFORMAT, "%s: no CAN frames (%lld lines, %s%s)", name, (long long)lineno,
               r->nerrors ? "every row malformed and skipped; the first: " : "a header only",
               r->nerrors ? r->errors[0] : "");
    /* the rows kept behind the latest time before them (within the tolerance), and labels */
    double maxts = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        r->labeled += out->attack[i];
        if (out->ts[i] >= maxts) {
            maxts = out->ts[i];
        } else {
            r->backsteps++;
            if (maxts - out->ts[i] > r->max_backstep) r->max_backstep = maxts - out->ts[i];
        }
    }
    return GIDS_OK;
}

gids_status gids_can_read(const char *path, const gids_can_read_opts *opts, gids_can_frames *out,
                          gids_can_read_report *report) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "read_can: out is NULL");
    gids_can_frames_init(out);
    GIDS_CHECK(path != NULL, GIDS_EINVAL, "read_can: path is NULL");
    /* a FIFO opens at once and is refused below as no regular file (io_impl.h) */
    int fd = io_open_for_reading(path);
    GIDS_CHECK(fd >= 0, GIDS_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        GIDS_FAIL(GIDS_EIO, "%s: cannot stat: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        GIDS_FAIL(GIDS_EIO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return gids_can_read_buffer("", 0, path, opts, out, report);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    GIDS_CHECK(map != MAP_FAILED, GIDS_EIO, "%s: cannot map: %s", path, strerror(err));
    madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
    gids_status s = gids_can_read_buffer(map, st.st_size, path, opts, out, report);
    munmap(map, (size_t)st.st_size);
    return s;
}

/* Largest file first, so the last task to start is a short one. */
typedef struct by_size {
    int64_t size;
    int index;
} by_size;

static int larger_first(const void *a, const void *b) {
    const by_size *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    return x->index - y->index;
}

gids_status gids_can_read_many(const char *const *paths, int n, const gids_can_read_opts *opts,
                               gids_can_frames *out, gids_can_read_report *reports) {
    GIDS_CHECK(n >= 0, GIDS_EINVAL, "read_can_many: n %d must be >= 0", n);
    GIDS_CHECK(n == 0 || out != NULL, GIDS_EINVAL, "read_can_many: out is NULL with %d files", n);
    GIDS_CHECK(n == 0 || paths != NULL, GIDS_EINVAL, "read_can_many: paths is NULL with %d files",
               n);
    for (int i = 0; i < n; i++) gids_can_frames_init(&out[i]);
    if (n == 0) return GIDS_OK;
    by_size *order = malloc(sizeof *order * (size_t)n);
    gids_status *st = malloc(sizeof *st * (size_t)n);
    char(*msg)[GIDS_ERROR_MAX] = malloc(sizeof *msg * (size_t)n);
    if (!order || !st || !msg) {
        free(order);
        free(st);
        free(msg);
        GIDS_FAIL(GIDS_ENOMEM, "read_can_many: out of memory for %d files", n);
    }
    for (int i = 0; i < n; i++) {
        struct stat sb;
        order[i].size = (paths[i] && stat(paths[i], &sb) == 0) ? (int64_t)sb.st_size : 0;
        order[i].index = i;
    }
    qsort(order, (size_t)n, sizeof *order, larger_first);
    /* The error message is thread-local: each task copies its own for the caller. */
#pragma omp parallel for num_threads(gids_get_num_threads()) schedule(dynamic, 1)
    for (int k = 0; k < n; k++) {
        int i = order[k].index;
        st[i] = gids_can_read(paths[i], opts, &out[i], reports ? &reports[i] : NULL);
        if (st[i] != GIDS_OK) snprintf(msg[i], sizeof msg[i], "%s", gids_error_message());
    }
    gids_status s = GIDS_OK;
    for (int i = 0; i < n && s == GIDS_OK; i++)
        if (st[i] != GIDS_OK) s = gids_error_set(st[i], __FILE__, __LINE__, "%s", msg[i]);
    free(order);
    free(st);
    free(msg);
    return s;
}
