/* can_order.c -- the rows a CAN reader keeps: time order against the tolerance, and the skipped
 * rows' messages in line order.
 *
 * Strict, the first row that steps back further than the tolerance behind the latest time kept
 * fails the read.  Lenient, it is skipped, unless the rows after it show that the rows it steps
 * back from are the ones out of order: a damaged logger writes single corrupt timestamps (one
 * far-future row made every later row "step back", and all of them were skipped), and a clock
 * that jumps back and runs on.  So a row that steps back opens a dispute between two timelines:
 * the latest kept rows ahead of it (at most CAN_ORDER_OUTLIERS) and itself.  The next row in
 * order with the earlier timeline ends it for that one: the rows of the other side are skipped
 * as stepping back.  Once more rows have followed the row that stepped back, in order, than it
 * has rows ahead of it, those rows are the outliers: they are skipped and the others kept.  A
 * row behind both sides is skipped; the end of the file keeps the earlier timeline. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/elide.h"
#include "can_parse.h"

void can_order_init(can_order *k, const char *name, const gids_can_read_opts *o,
                    gids_can_frames *out, gids_can_read_report *r) {
    memset(k, 0, sizeof *k);
    k->name = name;
    k->o = o;
    k->out = out;
    k->r = r;
    k->maxts = -INFINITY;
}

/* A timestamp for messages as the file most likely wrote it: the fewest decimals (up to 9) that
 * read back to the same double ("1522004165.1", not the double's "1522004165.099999905"). */
static const char *seconds(char buf[40], double t) {
    for (int d = 0; d <= 9; d++) {
        snprintf(buf, 40, "%.*f", d, t);
        if (strtod(buf, NULL) == t) return buf;
    }
    return buf;
}

void can_order_skip(can_order *k, int64_t lineno, const char *msg) {
    gids_can_read_report *r = k->r;
    r->skipped++;
    /* The first messages by line: a dispute settles its rows after later lines were read. */
    int n = r->nerrors;
    if (n == GIDS_CAN_REPORT_ERRORS) {
        if (lineno >= k->errline[n - 1]) return;
        n--; /* the last one makes room */
    }
    int at = n;
    while (at > 0 && k->errline[at - 1] > lineno) at--;
    memmove(r->errors[at + 1], r->errors[at], sizeof r->errors[0] * (size_t)(n - at));
    memmove(&k->errline[at + 1], &k->errline[at], sizeof k->errline[0] * (size_t)(n - at));
    gids_format_elided(r->errors[at], sizeof r->errors[0], "%s", msg); /* its reason kept */
    k->errline[at] = lineno;
    r->nerrors = n + 1;
}

/* The message of a row at ts that steps back behind the latest kept time.  (A long path's middle
 * is elided, never the reason at its end: gids_format_elided.) */
static void backstep_msg(const can_order *k, char *msg, size_t size, int64_t lineno, double ts) {
    char a[40], b[40];
    /* the step is a difference of doubles: three digits say it */
    gids_format_elided(
        msg, size,
        "%s:%lld:1: time steps back %.3g s (timestamp %s after %s on line %lld; tolerance "
        "%g s)",
        k->name, (long long)lineno, k->maxts - ts, seconds(a, ts), seconds(b, k->maxts),
        (long long)k->maxline, k->o->time_tolerance);
}

static void copy_row(gids_can_frames *f, int64_t to, int64_t from) {
    f->ts[to] = f->ts[from];
    f->id[to] = f->id[from];
    f->dlc[to] = f->dlc[from];
    f->flags[to] = f->flags[from];
    f->attack[to] = f->attack[from];
    memcpy(f->data + to * GIDS_CAN_MAX_DLC, f->data + from * GIDS_CAN_MAX_DLC, GIDS_CAN_MAX_DLC);
}

static void put_row(gids_can_frames *f, int64_t i, const can_row *row) {
    f->ts[i] = row->ts;
    f->id[i] = row->id;
    f->dlc[i] = row->dlc;
    f->flags[i] = row->flags;
    f->attack[i] = row->attack;
    memcpy(f->data + i * GIDS_CAN_MAX_DLC, row->data, GIDS_CAN_MAX_DLC);
}

/* Keeps the row now at out[out->n] (line lineno) after the rows kept. */
static void commit(can_order *k, int64_t lineno) {
    int64_t n = k->out->n;
    if (k->o->lenient) /* (only a dispute looks back) */
        k->ring[n % CAN_ORDER_RING] = (struct can_kept){k->maxts, k->maxline, lineno};
    if (k->out->ts[n] >= k->maxts) {
        k->maxts = k->out->ts[n];
        k->maxline = lineno;
    }
    k->out->n = n + 1;
}

/* The earlier timeline stands: the waiting rows are skipped as stepping back. */
static void settle_for_earlier(can_order *k) {
    char msg[GIDS_ERROR_MAX]; /* a whole path fits, as in the error it becomes */
    for (int64_t i = 0; i < k->npend; i++) {
        backstep_msg(k, msg, sizeof msg, k->pend_line[i], k->out->ts[k->out->n + i]);
        can_order_skip(k, k->pend_line[i], msg);
    }
    k->open = 0;
}

/* The row that stepped back wins: the outliers among [first, n) are skipped, the other rows of
 * that range and the waiting rows are kept, in file order. */
static void settle_for_later(can_order *k) {
    gids_can_frames *f = k->out;
    int64_t n = f->n, w = k->first;
    char msg[GIDS_ERROR_MAX], a[40], b[40];
    for (int64_t i = k->first; i < n; i++) {
        int64_t line = k->ring[i % CAN_ORDER_RING].line;
        if (f->ts[i] > k->thr) {
            gids_format_elided(
                msg, sizeof msg,
                "%s:%lld:1: timestamp %s runs ahead of the %lld rows after it (from %s on "
                "line %lld; tolerance %g s): skipped as an outlier",
                k->name, (long long)line, seconds(a, f->ts[i]), (long long)k->npend,
                seconds(b, f->ts[n]), (long long)k->pend_line[0], k->o->time_tolerance);
            can_order_skip(k, line, msg);
            continue;
        }
        copy_row(f, w, i);
        k->ring[w++ % CAN_ORDER_RING].line = line;
    }
    for (int64_t i = 0; i < k->npend; i++) {
        copy_row(f, w, n + i);
        k->ring[w++ % CAN_ORDER_RING].line = k->pend_line[i];
    }
    /* the running maximum again from the first row moved */
    struct can_kept *start = &k->ring[k->first % CAN_ORDER_RING];
    k->maxts = start->before;
    k->maxline = start->before_line;
    for (int64_t i = k->first; i < w; i++) {
        struct can_kept *e = &k->ring[i % CAN_ORDER_RING];
        e->before = k->maxts;
        e->before_line = k->maxline;
        if (f->ts[i] >= k->maxts) k->maxts = f->ts[i], k->maxline = e->line;
    }
    f->n = w;
    k->open = 0;
}

/* Row `row` (line lineno) steps back: opens a dispute when at most CAN_ORDER_OUTLIERS kept rows
 * are ahead of it; returns 0 when more are (the row is skipped). */
static int open_dispute(can_order *k, const can_row *row, int64_t lineno) {
    gids_can_frames *f = k->out;
    int64_t n = f->n;
    double thr = row->ts + k->o->time_tolerance;
    /* the longest run of latest rows whose removal leaves the row in order */
    int64_t first = n - 1;
    while (first >= 0 && first >= n - CAN_ORDER_OUTLIERS &&
           k->ring[first % CAN_ORDER_RING].before > thr)
        first--;
    if (first < 0 || first < n - CAN_ORDER_OUTLIERS) return 0;
    k->open = 1;
    k->first = first;
    k->thr = thr;
    k->ahead = 0;
    k->altmax = k->ring[first % CAN_ORDER_RING].before;
    k->altline = k->ring[first % CAN_ORDER_RING].before_line;
    for (int64_t i = first; i < n; i++) {
        if (f->ts[i] > thr) {
            k->ahead++;
        } else if (f->ts[i] >= k->altmax) {
            k->altmax = f->ts[i];
            k->altline = k->ring[i % CAN_ORDER_RING].line;
        }
    }
    k->npend = 0;
    return 1;
}

/* Adds the row to the waiting side; settles when it outnumbers the rows ahead. */
static void wait_row(can_order *k, const can_row *row, int64_t lineno) {
    put_row(k->out, k->out->n + k->npend, row);
    k->pend_line[k->npend++] = lineno;
    if (row->ts >= k->altmax) k->altmax = row->ts, k->altline = lineno;
    if (k->npend > k->ahead) settle_for_later(k);
}

gids_status can_order_row(can_order *k, const can_row *row, int64_t lineno) {
    double tol = k->o->time_tolerance;
    char msg[GIDS_ERROR_MAX]; /* a whole path fits, as in the error it becomes */
    if (k->open) {
        if (row->ts >= k->maxts - tol) {
            settle_for_earlier(k); /* and keep this row below */
        } else if (row->ts >= k->altmax - tol) {
            wait_row(k, row, lineno);
            return GIDS_OK;
        } else {
            backstep_msg(k, msg, sizeof msg, lineno, row->ts);
            can_order_skip(k, lineno, msg);
            return GIDS_OK;
        }
    } else if (row->ts < k->maxts - tol) {
        if (!k->o->lenient) {
            backstep_msg(k, msg, sizeof msg, lineno, row->ts);
            GIDS_FAIL(GIDS_EFORMAT, "%s", msg);
        }
        if (open_dispute(k, row, lineno)) {
            wait_row(k, row, lineno);
        } else {
            backstep_msg(k, msg, sizeof msg, lineno, row->ts);
            can_order_skip(k, lineno, msg);
        }
        return GIDS_OK;
    }
    put_row(k->out, k->out->n, row);
    commit(k, lineno);
    return GIDS_OK;
}

void can_order_end(can_order *k) {
    if (k->open) settle_for_earlier(k);
}
