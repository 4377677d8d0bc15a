/* gids/can.h -- CAN frames in memory: a growable table with one array per column.
 *
 *   gids_can_frames f;
 *   gids_can_frames_init(&f);
 *   uint8_t payload[8] = {0xD0, 0x1C};
 *   GIDS_TRY(gids_can_frames_push(&f, 1513920254.785127, 0x110, 0, 2, payload, 0));
 *   printf("%lld frames\n", (long long)f.n);
 *   gids_can_frames_free(&f);
 *
 * This table is the contract between the log readers (which fill it), the traffic simulator
 * (which fills it) and the window-graph builder (which reads it).  A table holds the frames of
 * one capture file in file order; windows never straddle tables.  Payload bytes past `dlc` are 0,
 * so a short payload reads as zero-padded (what the reference's "invalid byte -> 0" gives).
 */
#ifndef GIDS_CAN_H
#define GIDS_CAN_H

#include <stdint.h>

#include "gids/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GIDS_CAN_MAX_DLC 8
/* flags bit: the id is a 29-bit (extended) id; written with 8 hex digits, else 3. */
#define GIDS_CAN_EXTENDED 0x1u
/* flags bit: a remote request (RTR): it carries no payload, its dlc is the length it requests
 * (0 when the log does not say) and its data bytes are all 0.  The window graphs read it as a
 * message of its id with no bytes (docs/windows.md). */
#define GIDS_CAN_REMOTE 0x2u
/* Largest timestamp the readers accept and the writer writes, in seconds: about 31,700 years,
 * far past any epoch time (~1.7e9) or uptime counter.  Larger finite values are corrupt fields,
 * and their gaps and squared gaps overflow the window features to inf/NaN. */
#define GIDS_CAN_TS_MAX 1e12

typedef struct gids_can_frames {
    int64_t n;       /* frames held */
    int64_t cap;     /* frames allocated */
    double *ts;      /* [n] seconds */
    uint32_t *id;    /* [n] arbitration id */
    uint8_t *dlc;    /* [n] payload length in bytes, 0..8 (a remote request's: requested) */
    uint8_t *flags;  /* [n] GIDS_CAN_EXTENDED | GIDS_CAN_REMOTE */
    uint8_t *data;   /* [n * 8] payloads, row-major; bytes at and past dlc are 0 (all of a
                      * remote request's) */
    uint8_t *attack; /* [n] label: 0 normal, 1 attack */
} gids_can_frames;

/* An empty table (no allocation).  Init, free and the options' inits ignore a NULL pointer; the
 * calls with a status return EINVAL for a NULL table or output. */
void gids_can_frames_init(gids_can_frames *f);
/* Frees every column and leaves an empty table; an initialised empty table is fine. */
void gids_can_frames_free(gids_can_frames *f);
/* Makes room for at least `cap` frames (ENOMEM on failure; the table is unchanged then). */
gids_status gids_can_frames_reserve(gids_can_frames *f, int64_t cap);
/* Appends one frame (grows geometrically).  dlc must be <= 8 and payload may be NULL when dlc
 * is 0 or flags holds GIDS_CAN_REMOTE (a remote request's payload is ignored: it has none);
 * attack must be 0 or 1. */
gids_status gids_can_frames_push(gids_can_frames *f, double ts, uint32_t id, uint8_t flags,
                                 uint8_t dlc, const uint8_t *payload, uint8_t attack);

/* ------------------------------------------------------------------ log readers (can_read.c)
 *
 *   gids_can_read_opts o;
 *   gids_can_read_opts_init(&o);              // auto-detect the format, strict, 1 ms tolerance
 *   gids_can_read_report r;
 *   gids_can_frames f;
 *   GIDS_TRY(gids_can_read("DoS-kia.csv", &o, &f, &r));   // f is initialised by the call
 *
 * Files are memory-mapped and parsed by hand in one pass.  A malformed row fails the read with
 * "FILE:LINE:COLUMN: what" (EFORMAT) unless opts.lenient, which skips the row, counts it in the
 * report and keeps the first messages.  Formats are listed in docs/data-formats.md. */

typedef enum gids_can_format {
    GIDS_CAN_FMT_AUTO = 0,   /* detect from the first non-empty line */
    GIDS_CAN_FMT_CSV,        /* canonical: timestamp,arbitration_id,data_field,attack */
    GIDS_CAN_FMT_CANDUMP,    /* candump -l: (1522004165.988068) can0 264#0003948C0C00FD83 */
    GIDS_CAN_FMT_CANDUMP_TA, /* candump -ta: (000.005001)  can0  18FEDF00   [8]  8A A0 ... */
    GIDS_CAN_FMT_HCRL_CSV,   /* Car-Hacking: Timestamp,CAN ID,DLC,DATA[0..7],Flag (R/T) */
    GIDS_CAN_FMT_HCRL_TXT,   /* Car-Hacking text: Timestamp: ... ID: 0350 000 DLC: 8 05 28 .. */
    GIDS_CAN_FMT_COLUMNS,    /* CSV with a header; columns picked by name (opts.col_*) */
    GIDS_CAN_FMT_COUNT_
} gids_can_format;

/* BORROW: static name ("csv", "candump", "candump-ta", "hcrl-csv", "hcrl-txt", "columns",
 * "auto"); NULL for an out-of-range value. */
const char *gids_can_format_name(gids_can_format f);
/* The format named `name` (the names above); EINVAL naming the valid ones otherwise. */
gids_status gids_can_format_parse(const char *name, gids_can_format *out);

/* A labelling rule for unlabeled logs: frames with this id (and, when match_data, this exact
 * payload of a data frame, or a remote request of this requested length when flags holds
 * GIDS_CAN_REMOTE) are attacks.  Ids match on value and on the extended flag. */
typedef struct gids_can_rule {
    uint32_t id;
    uint8_t flags; /* GIDS_CAN_EXTENDED, and GIDS_CAN_REMOTE for an ID#R rule */
    uint8_t match_data;
    uint8_t dlc;
    uint8_t data[GIDS_CAN_MAX_DLC];
} gids_can_rule;

/* Parses "115#4E0002000000FFFF" (a data frame of exact id and payload; "115#" is a data frame
 * with an empty payload, never a remote request), "115#R" / "115#R4" (a remote request of that
 * id requesting 0 / 4 bytes, as candump writes them) or "00000000" (any frame with that id,
 * remote requests included); ids as the readers read them (hex, 8 digits = extended).
 * BORROW: text.  EINVAL naming the text and the offending character. */
gids_status gids_can_rule_parse(const char *text, gids_can_rule *out);

/* The default time tolerance in seconds: a row may step back this far behind the latest time
 * seen so far.  The largest step back in the shipped data is 0.107 ms (set_02), so 1 ms. */
#define GIDS_CAN_TIME_TOLERANCE 1e-3

typedef struct gids_can_read_opts {
    gids_can_format format; /* GIDS_CAN_FMT_AUTO by default */
    int lenient;            /* skip and count malformed rows instead of failing */
    double time_tolerance;  /* seconds; INFINITY disables the check */
    /* GIDS_CAN_FMT_COLUMNS: header names of the columns (NULL: the defaults "timestamp",
     * "arbitration_id"/"can_id"/"id", "data_field"/"data", "dlc" (optional), "attack"/"label"
     * (optional)) and the base of the id column: 16, 10, or 0 = 10 for a column named "can_id"
     * (the J1939 labelling tool writes decimal) and 16 for any other. */
    const char *col_ts, *col_id, *col_data, *col_dlc, *col_label;
    int id_base;
    /* Rules that mark frames as attacks (ORed with a label column). BORROW. */
    const gids_can_rule *rules;
    int nrules;
} gids_can_read_opts;

void gids_can_read_opts_init(gids_can_read_opts *o);

#define GIDS_CAN_REPORT_ERRORS 8
typedef struct gids_can_read_report {
    gids_can_format format; /* the format read (detected or given) */
    int64_t lines;          /* lines in the file, header and blank lines included */
    int64_t frames;         /* frames read */
    int64_t skipped;        /* malformed rows skipped (lenient) */
    int64_t backsteps;      /* rows earlier than a previous row, within the tolerance */
    double max_backstep;    /* seconds, the largest of those steps */
    int64_t labeled;        /* frames marked as attacks */
    int has_labels;         /* 1 when the frames carry labels: a label column (csv, hcrl-csv,
                             * columns with one) or rules; 0 when every frame reads as normal */
    int nerrors;            /* messages kept in errors[] (the first GIDS_CAN_REPORT_ERRORS) */
    char errors[GIDS_CAN_REPORT_ERRORS][192];
} gids_can_read_report;

/* Reads one capture file into *out (which the call initialises; NEW: free it with
 * gids_can_frames_free, also after a failure).  opts may be NULL (defaults); report may be
 * NULL.  BORROW: path, opts. */
gids_status gids_can_read(const char *path, const gids_can_read_opts *opts, gids_can_frames *out,
                          gids_can_read_report *report);
/* Reads from memory (the same parsers; `name` stands for the file in messages; len >= 0 bytes,
 * text may be NULL only when len is 0).  BORROW. */
gids_status gids_can_read_buffer(const char *text, int64_t len, const char *name,
                                 const gids_can_read_opts *opts, gids_can_frames *out,
                                 gids_can_read_report *report);
/* Reads n files in parallel (OpenMP, one file per task): out[i] and reports[i] (reports may be
 * NULL) for paths[i].  Every table is initialised; on failure the message is the one of the
 * first failing file in path order, and all tables must still be freed. */
gids_status gids_can_read_many(const char *const *paths, int n, const gids_can_read_opts *opts,
                               gids_can_frames *out, gids_can_read_report *reports);

/* ------------------------------------------------------------------ writer (can_write.c)
 * The canonical CSV: header "timestamp,arbitration_id,data_field,attack"; ids as 3 uppercase hex
 * digits (8 when extended); payload as 2*dlc uppercase hex digits, a remote request's as R, or
 * R<dlc> when it requests bytes (candump's notation, which the csv reader reads back); timestamps
 * with the fewest decimals from 6 to 9 that read back to the same double (%.17g when none does);
 * attack 0/1. Rows [from, to) of f.  EINVAL for an empty range or a timestamp outside [0,
 * GIDS_CAN_TS_MAX] (the readers would refuse either file).  BORROW. */
gids_status gids_can_write_csv(const char *path, const gids_can_frames *f, int64_t from,
                               int64_t to);

/* ------------------------------------------------------------------ simulator (simulate.c)
 * Periodic ECUs (per-id period and jitter, rolling counters and checksums in the payloads, a
 * realistic id and DLC mix) on a 500 kbit/s bus with priority arbitration, and attacks injected
 * in bursts.  Deterministic: the same options give the same frames on any thread count. */

typedef enum gids_can_attack {
    GIDS_CAN_ATK_NONE = 0,
    GIDS_CAN_ATK_DOS,        /* flood of id 0x000 */
    GIDS_CAN_ATK_FUZZING,    /* random ids and payloads */
    GIDS_CAN_ATK_GEAR,       /* spoofing: a fixed payload on the gear id */
    GIDS_CAN_ATK_RPM,        /* spoofing: a fixed payload on the RPM id */
    GIDS_CAN_ATK_REPLAY,     /* earlier traffic sent again */
    GIDS_CAN_ATK_SUSPENSION, /* one ECU falls silent */
    GIDS_CAN_ATK_COUNT_
} gids_can_attack;

/* BORROW: "normal", "DoS", "fuzzing", "gear", "rpm", "replay", "suspension"; NULL when out of
 * range. */
const char *gids_can_attack_name(gids_can_attack a);

typedef struct gids_can_sim_opts {
    uint64_t seed;
    int64_t frames; /* frames per capture (default 25000) */
    int vehicle;    /* which simulated vehicle (its ECU set derives from seed and vehicle) */
    int capture;    /* capture number: a different stream for the same vehicle and attack */
} gids_can_sim_opts;

void gids_can_sim_opts_init(gids_can_sim_opts *o);

/* One simulated capture of `frames` frames into *out (initialised by the call; NEW).  Attack
 * frames are labelled 1; for a suspension, every frame sent while the ECU is silent is 1 (the
 * windows that miss its frames are the attack windows).  BORROW: o. */
gids_status gids_can_simulate(const gids_can_sim_opts *o, gids_can_attack attack,
                              gids_can_frames *out);

typedef struct gids_can_sim_report {
    int files;
    int64_t frames;
    int64_t attack_frames;
} gids_can_sim_report;

/* Writes a dataset in the hcrl_sa layout under dir (created as needed):
 * train_01_attack_free, train_02_with_attacks and test_01..test_04 folders of canonical CSVs
 * whose names carry the attack type (docs/data-formats.md lists them).  o->frames is per file;
 * o->vehicle and o->capture are ignored.  Files are simulated in parallel.  BORROW. */
gids_status gids_can_simulate_dataset(const char *dir, const gids_can_sim_opts *o,
                                      gids_can_sim_report *report);

#ifdef __cplusplus
}
#endif

#endif
