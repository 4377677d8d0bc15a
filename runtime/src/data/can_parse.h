/* can_parse.h -- private to the CAN readers: one parsed row, the per-format line parsers and the
 * number scanners they share (hex ids and payloads, decimal timestamps).
 *
 * A line parser gets one line [p, end) without its newline (a trailing '\r' already removed)
 * and fills a can_row, or returns CAN_ROW_BAD with the offending position and a message, which
 * the driver (can_read.c) turns into "FILE:LINE:COLUMN: message".  Scanners never read past
 * `end`: the input is a memory-mapped file with no terminating NUL.
 */
#ifndef GIDS_CAN_PARSE_H
#define GIDS_CAN_PARSE_H

#include <stdint.h>

#include "gids/can.h"

typedef struct can_row {
    double ts;
    uint32_t id;
    uint8_t flags, dlc, attack;
    uint8_t data[GIDS_CAN_MAX_DLC]; /* zeroed by the driver before each row */
} can_row;

enum { CAN_ROW_OK = 0, CAN_ROW_SKIP = 1, CAN_ROW_BAD = -1 };

/* Where and why a row is malformed. */
typedef struct can_perr {
    const char *at; /* the offending character (column = at - line start + 1) */
    char msg[160];
} can_perr;

/* Column positions of a GIDS_CAN_FMT_COLUMNS file (0-based; -1 when absent). */
typedef struct can_columns {
    int ts, id, data, dlc, label, ncols;
    int id_base;
} can_columns;

typedef int (*can_line_fn)(const can_columns *cols, const char *p, const char *end, can_row *row,
                           can_perr *e);

/* The parser of each format (can_lines.c, can_columns.c). */
int can_line_csv(const can_columns *cols, const char *p, const char *end, can_row *row,
                 can_perr *e);
int can_line_candump(const can_columns *cols, const char *p, const char *end, can_row *row,
                     can_perr *e);
int can_line_candump_ta(const can_columns *cols, const char *p, const char *end, can_row *row,
                        can_perr *e);
int can_line_hcrl_csv(const can_columns *cols, const char *p, const char *end, can_row *row,
                      can_perr *e);
int can_line_hcrl_txt(const can_columns *cols, const char *p, const char *end, can_row *row,
                      can_perr *e);
int can_line_columns(const can_columns *cols, const char *p, const char *end, can_row *row,
                     can_perr *e);

/* Reads the header line of a COLUMNS file into *cols (names from o, or the defaults).  Returns
 * 0, or -1 with e filled. */
int can_columns_header(const gids_can_read_opts *o, const char *p, const char *end,
                       can_columns *cols, can_perr *e);

/* Where text p is cut to keep at most n bytes (p[n] must be readable): n, or earlier by up to 3
 * bytes so as not to split a UTF-8 character (half a character made the message invalid UTF-8,
 * which JSON cannot hold: a trace's stage_failed event).  A longer run of continuation bytes is
 * no UTF-8 and is cut at n. */
static inline int can_cut_at(const char *p, int n) {
    int m = n;
    while (m > n - 3 && m > 0 && ((unsigned char)p[m] & 0xC0) == 0x80) m--;
    return ((unsigned char)p[m] & 0xC0) == 0x80 ? n : m;
}

/* A field [p, end) quoted in a message: at most CAN_QUOTE_MAX of its bytes (can_cut_at), then
 * "..." when it is longer (a whole over-long field filled the message and cut off what was
 * wrong with it).  can_bad(e, p, "got '%.*s%s'", CAN_QUOTED(p, end)). */
#define CAN_QUOTE_MAX 32
static inline int can_quote_len(const char *p, const char *end) {
    return end - p > CAN_QUOTE_MAX ? can_cut_at(p, CAN_QUOTE_MAX) : (int)(end - p);
}
static inline const char *can_quote_more(const char *p, const char *end) {
    return end - p > CAN_QUOTE_MAX ? "..." : "";
}
#define CAN_QUOTED(p, end) can_quote_len((p), (end)), (p), can_quote_more((p), (end))

/* Sets e (at, printf message) and returns CAN_ROW_BAD. */
int can_bad(can_perr *e, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------ kept rows (can_order.c)
 *
 * The rows a reader keeps, in time order, and the messages of those it skips.  Strict: the first
 * row that steps back past the tolerance fails the read.  Lenient: such a row opens a dispute
 * between the latest kept rows ahead of it (at most CAN_ORDER_OUTLIERS of them) and itself, and
 * the rows after it decide which side is out of order (docs/data-formats.md, "Time order"). */

/* The most kept rows a row that steps back can show to be outliers: one that steps back behind
 * more is skipped at once (the earlier timeline stands: a clock reset). */
#define CAN_ORDER_OUTLIERS 64
#define CAN_ORDER_RING (2 * CAN_ORDER_OUTLIERS + 2)

typedef struct can_order {
    const char *name; /* the file, in messages */
    const gids_can_read_opts *o;
    gids_can_frames *out;    /* rows out->ts[0, n) are kept; a dispute's rows follow them */
    gids_can_read_report *r; /* skipped and errors */
    double maxts;            /* the latest time kept so far */
    int64_t maxline;         /* and its line */
    int64_t errline[GIDS_CAN_REPORT_ERRORS]; /* the line of each message kept in r->errors */
    /* the latest kept rows: the time before each (the running maximum) and its line, and the
     * row's own line (index: row number % CAN_ORDER_RING) */
    struct can_kept {
        double before;
        int64_t before_line, line;
    } ring[CAN_ORDER_RING];
    /* a dispute (lenient): the kept rows [first, out->n) are ahead of the row that opened it
     * (`ahead` of them by more than the tolerance: the outliers if it wins), and its side's
     * rows wait at out->n + [0, npend), lines in pend_line */
    int open;
    int64_t first, ahead, npend;
    double thr;    /* the opening row's time + the tolerance: rows past it are outliers */
    double altmax; /* the latest time of its side (the rows before first included) */
    int64_t altline;
    int64_t pend_line[CAN_ORDER_OUTLIERS + 1];
} can_order;

void can_order_init(can_order *k, const char *name, const gids_can_read_opts *o,
                    gids_can_frames *out, gids_can_read_report *r);
/* Offers the parsed row of line `lineno` (its labels applied).  GIDS_OK, or EFORMAT naming the
 * row when it steps back and the reader is strict. */
gids_status can_order_row(can_order *k, const can_row *row, int64_t lineno);
/* A row skipped as malformed: counted, and its message kept when among the first by line. */
void can_order_skip(can_order *k, int64_t lineno, const char *msg);
/* The end of the file: a dispute still open keeps the earlier timeline. */
void can_order_end(can_order *k);

/* ------------------------------------------------------------------ scanners (can_scan.c) */

/* 0..15 for a hex digit, 0xFF for anything else (a table lookup: the hot loop of every reader). */
extern const uint8_t can_hexval[256];

/* Hex id in [p, end): 1 to 8 digits.  Extended (29-bit) when it has 5 or more digits or a value
 * past 0x7FF, so "0316" and "316" are both the 11-bit 0x316.  Returns CAN_ROW_OK or fills e.
 * A bad character is named before a bad length; a 0x prefix is named as such (no format has
 * one). */
int can_scan_id(const char *p, const char *end, uint32_t *id, uint8_t *flags, can_perr *e);
/* Decimal id (the J1939 labelling tool's CSV): up to 0x1FFFFFFF, extended past 0x7FF. */
int can_scan_id_dec(const char *p, const char *end, uint32_t *id, uint8_t *flags, can_perr *e);
/* Packed payload hex in [p, end): an even number of digits, at most 16.  `what` names the field
 * in messages. */
int can_scan_payload(const char *p, const char *end, uint8_t *data, uint8_t *dlc, const char *what,
                     can_perr *e);
/* A remote request as candump writes it after the '#', and the canonical CSV in data_field: p
 * at the 'R' (or 'r'), then nothing (0 bytes requested) or one digit 0-8 (the requested length)
 * up to end.  Sets *dlc.  `form` says what is expected in the message ("ID#R or ID#R<DLC 0-8>"). */
int can_scan_remote(const char *p, const char *end, uint8_t *dlc, const char *form, can_perr *e);
/* One byte written as 1 or 2 hex digits (the HCRL byte columns and the candump -ta bytes). */
int can_scan_byte(const char *p, const char *end, uint8_t *out, can_perr *e);
/* Timestamp in [p, end): decimal seconds.  Exact fast path: when the digits fit in 2^53 and at
 * most 22 of them follow the point, mantissa / 10^k is one correctly rounded IEEE division, the
 * same double strtod gives; anything else (exponents, more digits) goes through strtod.
 * Must be finite, >= 0 and <= GIDS_CAN_TS_MAX. */
int can_scan_ts(const char *p, const char *end, double *ts, can_perr *e);
/* A small decimal integer (DLC, RTR columns) in [p, end), at most `max` (< UINT_MAX / 10). */
int can_scan_uint(const char *p, const char *end, unsigned max, unsigned *out, const char *what,
                  can_perr *e);

#endif
