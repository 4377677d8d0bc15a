/* test_can.c -- the CAN log readers (every format, from memory and from files), their error
 * messages (FILE:LINE:COLUMN for each malformed-row case; how they quote long fields and
 * paths: test_can_messages.c), lenient mode, the time tolerance,
 * labelling rules, the exact timestamp fast path against strtod, the CSV writer's round trip,
 * and the simulator's determinism and labels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "helpers.h"
#include "gids/can.h"
#include "can_helpers.h"

TEST(reads_the_canonical_csv_with_hex_ids_of_any_width) {
    const char *text = "timestamp,arbitration_id,data_field,attack\n"
                       "1513920254.785127,0316,D01C100900000000,0\n"
                       "1513920254.785861,316,7953,1\n"
                       "1513920254.786106,18FEDF00,,0\r\n"
                       "1513920254.786200,7FF,00,0\n"
                       "1513920254.786300,800,01,0\n";
    gids_can_frames f;
    gids_can_read_report r;
    CHECK_OK(rd(text, NULL, &f, &r));
    CHECK(f.n == 5 && r.frames == 5 && r.lines == 6 && r.format == GIDS_CAN_FMT_CSV);
    CHECK(f.id[0] == 0x316 && f.id[1] == 0x316 && f.flags[0] == 0 && f.flags[1] == 0);
    CHECK(f.id[2] == 0x18FEDF00 && f.flags[2] == GIDS_CAN_EXTENDED && f.dlc[2] == 0);
    CHECK(f.flags[3] == 0 && f.flags[4] == GIDS_CAN_EXTENDED); /* past 0x7FF: extended */
    CHECK(f.ts[0] == 1513920254.785127 && f.attack[0] == 0 && f.attack[1] == 1);
    CHECK(f.dlc[0] == 8 && f.data[0] == 0xD0 && f.data[7] == 0x00);
    CHECK(f.dlc[1] == 2 && f.data[8] == 0x79 && f.data[9] == 0x53 && f.data[10] == 0);
    gids_can_frames_free(&f);
}

TEST(each_malformed_row_names_file_line_and_column) {
    const char *h = "timestamp,arbitration_id,data_field,attack\n1.0,100,00,0\n";
    char buf[256];
#define ROW(row, needle)                                                                           \
    do {                                                                                           \
        snprintf(buf, sizeof buf, "%s%s\n", h, row);                                               \
        CHECK_BAD(buf, needle);                                                                    \
    } while (0)
    ROW("1.1,1G0,00,0", "t.csv:3:6: bad hex digit 'G' in CAN id");
    ROW("1.1,100,0Z,0", "t.csv:3:10: bad hex digit 'Z' in data_field");
    ROW("1.1,100,000000000000000000,0", "t.csv:3:25: data_field has 18 hex digits");
    ROW("1.1,100,000,0", "t.csv:3:11: data_field has an odd number of hex digits (3)");
    ROW("1.1,100,00", "t.csv:3:11: missing column 4 (attack)");
    ROW("1.1,100", "t.csv:3:8: missing column 3 (data_field)");
    ROW("1.1,100,00,0,7", "t.csv:3:14: unexpected column 5");
    ROW("1.1,100,00,2", "t.csv:3:12: attack must be 0 or 1, got '2'");
    ROW("1.x,100,00,0", "t.csv:3:3: bad character 'x' in timestamp");
    ROW("abc,100,00,0", "t.csv:3:1: bad timestamp");
    /* strtod's extras are not timestamps: hex floats, a leading blank or '+', inf */
    ROW("0x1p1,100,00,0", "t.csv:3:2: bad character 'x' in timestamp");
    ROW(" 1.5,100,00,0", "t.csv:3:1: bad timestamp: ' ' is not a number");
    ROW("+1.5,100,00,0", "t.csv:3:1: bad timestamp: '+' is not a number");
    ROW("inf,100,00,0", "t.csv:3:1: bad timestamp: 'i' is not a number");
    ROW("1.5e400,100,00,0", "t.csv:3:1: timestamp 1.5e400 must be a finite number >= 0");
    ROW("-1.5,100,00,0", "t.csv:3:1: timestamp -1.5 must be a finite number >= 0");
    /* finite but no capture time: the window features of such gaps overflow to inf/NaN */
    ROW("4e38,100,00,0", "t.csv:3:1: timestamp 4e38 is past 1e+12 s");
    ROW("1e160,100,00,0", "t.csv:3:1: timestamp 1e160 is past 1e+12 s");
    ROW("1000000000000.5,100,00,0", "t.csv:3:1: timestamp 1000000000000.5 is past 1e+12 s");
    ROW("1.1,,00,0", "t.csv:3:5: empty CAN id");
    ROW("1.1,123456789,00,0", "t.csv:3:5: CAN id '123456789' has 9 hex digits");
    ROW("1.1,3FFFFFFF,00,0", "exceeds 29 bits");
    ROW("0.5,100,00,0", "t.csv:3:1: time steps back 0.5 s");
#undef ROW
    /* a long path keeps the whole message (the report's kept copies are what is cut) */
    {
        char name[400];
        memset(name, 'd', sizeof name - 1);
        name[sizeof name - 1] = 0;
        gids_can_frames f;
        const char *text = "1.0,316,AA,0\n0.5,316,AA,0\n";
        CHECK(gids_can_read_buffer(text, (int64_t)strlen(text), name, NULL, &f, NULL) ==
              GIDS_EFORMAT);
        CHECK(strstr(gids_error_message(), "tolerance 0.001 s)") != NULL);
        gids_can_frames_free(&f);
    }
    /* timestamps as the file wrote them, not as their doubles print */
    CHECK_BAD(
        "1522004165.100000,316,AA,0\n1522004165.000000,316,AA,0\n",
        "t.csv:2:1: time steps back 0.1 s (timestamp 1522004165 after 1522004165.1 on line 1;");
}

TEST(empty_and_header_only_files_are_clear_errors) {
    gids_can_frames f;
    CHECK_ERR(gids_can_read_buffer("", 0, "e.csv", NULL, &f, NULL), GIDS_EFORMAT,
              "e.csv: empty file");
    gids_can_frames_free(&f);
    CHECK_BAD("\n  \n\n", "t.csv: empty file (3 blank lines");
    CHECK_BAD("timestamp,arbitration_id,data_field,attack\n", "t.csv: no CAN frames (1 lines, a "
                                                              "header only)");
    CHECK_BAD("hello world\n", "t.csv:1:1: cannot tell the log format from 'hello world'");
    /* found by fuzzing: CR-only line endings read as one header line ("a header only") */
    CHECK_BAD("timestamp,arbitration_id,data_field,attack\r1.0,110,D01C,0\r",
              "t.csv: lines end with CR alone; convert the line endings to LF or CRLF");
    /* a stray CR before a CRLF is named as one (it was called CR-only endings; read on, it hid
     * the label column and every frame read as normal) */
    CHECK_BAD("timestamp,arbitration_id,data_field,attack\r\r\n1.0,316,D01C,1\r\n",
              "t.csv:1:43: a stray CR (\\r) before the end of the first line");
}

/* A spreadsheet export starts with a UTF-8 byte-order mark: it is not part of the header. */
TEST(a_byte_order_mark_is_skipped) {
    gids_can_frames f;
    CHECK_OK(rd("\xEF\xBB\xBFtimestamp,arbitration_id,data_field,attack\n1.0,110,D01C,0\n", NULL,
                &f, NULL));
    CHECK(f.n == 1 && f.id[0] == 0x110);
    gids_can_frames_free(&f);
}

TEST(lenient_skips_counts_and_reports_malformed_rows) {
    const char *text = "timestamp,arbitration_id,data_field,attack\n"
                       "1.0,100,00,0\n"
                       "1.1,1G0,00,0\n"
                       "1.2,100,00\n"
                       "1.3,200,0102,1\n";
    gids_can_read_opts o;
    gids_can_read_opts_init(&o);
    o.lenient = 1;
    gids_can_frames f;
    gids_can_read_report r;
    CHECK_OK(rd(text, &o, &f, &r));
    CHECK(f.n == 2 && r.skipped == 2 && r.nerrors == 2 && r.labeled == 1);
    CHECK(strstr(r.errors[0], "t.csv:3:6:") && strstr(r.errors[1], "t.csv:4:11:"));
    CHECK(f.id[1] == 0x200 && f.ts[1] == 1.3);
    gids_can_frames_free(&f);
    /* Every row bad: still an error, saying so and quoting the first reason. */
    CHECK_ERR(rd("timestamp,arbitration_id,data_field,attack\n1,ZZZ,00,0\n2,316,0,0\n", &o, &f, &r),
              GIDS_EFORMAT,
              "t.csv: no CAN frames (3 lines, every row malformed and skipped; the first: "
              "t.csv:2:3: bad hex digit 'Z' in CAN id");
    gids_can_frames_free(&f);
}

/* n rows 1478198376 + i/100 s ("%.2f"), then the edits: rows[k] replaced by text. */
static char *timeline(int n, const int *at, const char *const *text, int nedits) {
    char *buf = malloc((size_t)n * 40 + 1), *q = buf;
    for (int i = 1; i <= n; i++) {
        const char *edit = NULL;
        for (int k = 0; k < nedits; k++)
            if (at[k] == i) edit = text[k];
        q += edit ? sprintf(q, "%s,316,00,0\n", edit)
                  : sprintf(q, "%.2f,316,00,0\n", 1478198376.0 + i / 100.0);
    }
    return buf;
}

/* Lenient time order: a corrupt far-future row was the running maximum, and every good row after
 * it "stepped back" (11 kept, 989 skipped); the rows after it now show it is the outlier. */
TEST(lenient_time_order_skips_the_outlier_not_the_rows_after_it) {
    gids_can_read_opts o;
    gids_can_read_opts_init(&o);
    o.lenient = 1;
    gids_can_frames f;
    gids_can_read_report r;
    {
        const int at[] = {11};
        const char *const tx[] = {"9478198376.01"};
        char *text = timeline(1000, at, tx, 1);
        CHECK_OK(rd(text, &o, &f, &r));
        CHECK(f.n == 999 && r.skipped == 1 && r.nerrors == 1 && r.backsteps == 0);
        CHECK(strstr(r.errors[0], "t.csv:11:1: timestamp 9478198376.01 runs ahead of the 2 rows "
                                  "after it (from 1478198376.12 on line 12; tolerance 0.001 s): "
                                  "skipped as an outlier"));
        CHECK(f.ts[9] == 1478198376.10 && f.ts[10] == 1478198376.12 && f.ts[998] == 1478198386.0);
        gids_can_frames_free(&f);
        /* strict mode is unchanged: the first row behind it fails the read */
        CHECK_ERR(rd(text, NULL, &f, &r), GIDS_EFORMAT,
                  "t.csv:12:1: time steps back 8e+09 s (timestamp 1478198376.12 after "
                  "9478198376.01 on line 11;");
        gids_can_frames_free(&f);
        free(text);
    }
    {
        /* two corrupt rows in a row, and a far-past one: each skipped, messages in line order */
        const int at[] = {300, 301, 20};
        const char *const tx[] = {"1478198999.5", "1478198999.6", "0478198376.2"};
        char *text = timeline(1000, at, tx, 3);
        CHECK_OK(rd(text, &o, &f, &r));
        CHECK(f.n == 997 && r.skipped == 3 && r.nerrors == 3);
        CHECK(strstr(r.errors[0], "t.csv:20:1: time steps back 1e+09 s"));
        CHECK(strstr(r.errors[1], "t.csv:300:1: timestamp 1478198999.5 runs ahead of the 3 rows"));
        CHECK(strstr(r.errors[2], "t.csv:301:1: timestamp 1478198999.6 runs ahead"));
        for (int64_t i = 1; i < f.n; i++) CHECK(f.ts[i] > f.ts[i - 1]);
        gids_can_frames_free(&f);
        free(text);
    }
    {
        /* a clock that jumps ahead and runs on is no outlier: nothing skipped */
        char *text = timeline(1000, NULL, NULL, 0);
        char *p = text;
        for (int line = 1; line <= 1000; line++, p = strchr(p, '\n') + 1)
            if (line > 500) p[0] = '2';
        CHECK_OK(rd(text, &o, &f, &r));
        CHECK(f.n == 1000 && r.skipped == 0);
        gids_can_frames_free(&f);
        /* a clock set back that runs on: the side with more rows stands.  Early (after 10 rows),
         * the 10 rows before are the outliers; late (after 500), the rows after it step back. */
        p = text;
        for (int line = 1; line <= 1000; line++, p = strchr(p, '\n') + 1)
            p[0] = line > 10 ? '0' : '1';
        CHECK_OK(rd(text, &o, &f, &r));
        CHECK(f.n == 990 && r.skipped == 10 && f.ts[0] == 478198376.11);
        CHECK(strstr(r.errors[0], "t.csv:1:1: timestamp 1478198376.01 runs ahead of the 11 rows"));
        gids_can_frames_free(&f);
        p = text;
        for (int line = 1; line <= 1000; line++, p = strchr(p, '\n') + 1)
            p[0] = line > 500 ? '0' : '1';
        CHECK_OK(rd(text, &o, &f, &r));
        CHECK(f.n == 500 && r.skipped == 500 && f.ts[499] == 1478198381.0);
        CHECK(strstr(r.errors[0], "t.csv:501:1: time steps back 1e+09 s"));
        gids_can_frames_free(&f);
        free(text);
    }
    /* the row that stepped back loses when the next row returns to the earlier times, and at the
     * end of the file; a row behind both sides is skipped */
    CHECK_OK(rd("1.0,1,,0\n2.0,1,,0\n1.5,1,,0\n2.1,1,,0\n3.0,1,,0\n2.5,1,,0\n", &o, &f, &r));
    CHECK(f.n == 4 && f.ts[2] == 2.1 && f.ts[3] == 3.0 && r.skipped == 2);
    CHECK(strstr(r.errors[0], "t.csv:3:1: time steps back 0.5 s (timestamp 1.5 after 2 on line 2"));
    CHECK(strstr(r.errors[1], "t.csv:6:1: time steps back 0.5 s"));
    gids_can_frames_free(&f);
    CHECK_OK(rd("1.0,1,,0\n9.0,1,,0\n1.1,1,,0\n0.5,1,,0\n1.2,1,,0\n", &o, &f, &r));
    CHECK(f.n == 3 && f.ts[1] == 1.1 && f.ts[2] == 1.2 && r.skipped == 2);
    CHECK(strstr(r.errors[0], "t.csv:2:1: timestamp 9 runs ahead"));
    CHECK(strstr(r.errors[1], "t.csv:4:1: time steps back 8.5 s"));
    gids_can_frames_free(&f);
}

/* A NUL byte in a line is named as such, and UTF-16 text (a Windows export) as UTF-16. */
TEST(nul_bytes_and_utf16_text_are_named) {
    gids_can_frames f;
    static const char row[] = "1.0,316,AABB,0\n1.1,316,A\0BB,0\n";
    CHECK_ERR(gids_can_read_buffer(row, sizeof row - 1, "t.csv", NULL, &f, NULL), GIDS_EFORMAT,
              "t.csv:2:10: the line contains a NUL byte (not a text file?)");
    gids_can_frames_free(&f);
    static const char head[] = "time,id,da\0ta\n1.0,316,AABB\n";
    CHECK_ERR(gids_can_read_buffer(head, sizeof head - 1, "t.csv", NULL, &f, NULL), GIDS_EFORMAT,
              "t.csv:1:11: the line contains a NUL byte");
    gids_can_frames_free(&f);
    static const char le[] = "\xFF\xFEt\0i\0m\0e\0";
    CHECK_ERR(gids_can_read_buffer(le, sizeof le - 1, "t.csv", NULL, &f, NULL), GIDS_EFORMAT,
              "t.csv: looks like UTF-16 text (a UTF-16 byte-order mark); convert it to UTF-8");
    gids_can_frames_free(&f);
    static const char be[] = "\0t\0i\0m\0e\0,";
    CHECK_ERR(gids_can_read_buffer(be, sizeof be - 1, "t.csv", NULL, &f, NULL), GIDS_EFORMAT,
              "looks like UTF-16 text (NUL bytes between the characters)");
    gids_can_frames_free(&f);
    /* lenient: the row is skipped like any malformed one */
    gids_can_read_opts o;
    gids_can_read_opts_init(&o);
    o.lenient = 1;
    gids_can_read_report r;
    CHECK_OK(gids_can_read_buffer(row, sizeof row - 1, "t.csv", &o, &f, &r));
    CHECK(f.n == 1 && r.skipped == 1 && strstr(r.errors[0], "t.csv:2:10: the line contains a NUL"));
    gids_can_frames_free(&f);
}

TEST(small_steps_back_in_time_are_tolerated_and_counted) {
    const char *text = "1.0000,100,00,0\n1.0010,100,00,0\n1.0008,100,00,0\n1.0005,100,00,0\n";
    gids_can_frames f;
    gids_can_read_report r;
    CHECK_OK(rd(text, NULL, &f, &r));
    CHECK(f.n == 4 && r.backsteps == 2 && fabs(r.max_backstep - 0.0005) < 1e-12);
    gids_can_frames_free(&f);
    gids_can_read_opts o;
    gids_can_read_opts_init(&o);
    o.time_tolerance = 0.0001;
    CHECK_ERR(rd(text, &o, &f, &r), GIDS_EFORMAT, "t.csv:3:1: time steps back");
    CHECK(strstr(gids_error_message(), "on line 2"));
    gids_can_frames_free(&f);
    o.time_tolerance = INFINITY;
    CHECK_OK(rd("5,100,00,0\n1,100,00,0\n", &o, &f, &r));
    CHECK(f.n == 2 && r.backsteps == 1);
    gids_can_frames_free(&f);
    o.time_tolerance = -1;
    CHECK_ERR(rd(text, &o, &f, &r), GIDS_EINVAL, "time_tolerance must be >= 0");
    gids_can_frames_free(&f);
}

TEST(reads_candump_logs_and_labels_them_by_rule) {
    gids_can_rule bad_rule;
    const char *text = "(1522004165.988068) can0 264#0003948C0C00FD83\n"
                       "(1522004165.988300) can0 115#4E0002000000FFFF\n"
                       "(1522004165.988400) can0 115#4E0002000000FFFE\n"
                       "(1522004165.988500) vcan1 1A2B3C4D#R\n"
                       "(1522004165.988600) can0 7DF#02 T\n";
    gids_can_rule rules[2];
    CHECK_OK(gids_can_rule_parse("115#4E0002000000FFFF", &rules[0]));
    CHECK_OK(gids_can_rule_parse("7DF", &rules[1]));
    gids_can_read_opts o;
    gids_can_read_opts_init(&o);
    o.rules = rules;
    o.nrules = 2;
    gids_can_frames f;
    gids_can_read_report r;
    CHECK_OK(rd(text, &o, &f, &r));
    CHECK(r.format == GIDS_CAN_FMT_CANDUMP && f.n == 5 && r.labeled == 2);
    CHECK(f.attack[0] == 0 && f.attack[1] == 1 && f.attack[2] == 0 && f.attack[4] == 1);
    CHECK(f.id[3] == 0x1A2B3C4D && f.flags[3] == (GIDS_CAN_EXTENDED | GIDS_CAN_REMOTE) &&
          f.dlc[3] == 0);
    CHECK(f.ts[0] == 1522004165.988068 && f.data[7] == 0x83 && f.flags[0] == 0);
    gids_can_frames_free(&f);
    CHECK_BAD("(1.0) can0 123##1AA\n", "t.csv:1:16: CAN FD frames");
    CHECK_BAD("(1.0) can0 123#00\n(1.1) can0 123\n", "t.csv:2:15: missing '#'");
    CHECK_BAD("(1.0 can0 123#00\n", "t.csv:1:17: missing ')'");
    /* a remote request may name its length, nothing else: kept as requested, with no bytes */
    CHECK_OK(rd("(1.0) can0 123#R4\n(1.1) can0 123#r\n", &o, &f, &r));
    CHECK(f.n == 2 && f.dlc[0] == 4 && f.dlc[1] == 0);
    CHECK(f.flags[0] == GIDS_CAN_REMOTE && f.flags[1] == GIDS_CAN_REMOTE);
    CHECK(f.data[0] == 0 && f.data[3] == 0);
    gids_can_frames_free(&f);
    CHECK_BAD("(1.0) can0 123#R9\n",
              "t.csv:1:17: a remote request is ID#R or ID#R<DLC 0-8>, got 'R9'");
    CHECK_BAD("(1.0) can0 123#RTR\n",
              "t.csv:1:17: a remote request is ID#R or ID#R<DLC 0-8>, got 'RTR'");
    /* "115#" is a data frame with an empty payload, never a remote request: those are
     * "115#R" (requesting 0 bytes) and "115#R4"; the id rule "115" matches every frame */
    const char *rtr = "(1.0) can0 115#\n(1.1) can0 115#R\n(1.2) can0 115#R4\n(1.3) can0 116#R\n";
    const char *want[4] = {"115#", "115#R", "115#r4", "115"};
    const uint8_t marked[4][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {1, 1, 1, 0}};
    o.nrules = 1;
    for (int k = 0; k < 4; k++) {
        CHECK_OK(gids_can_rule_parse(want[k], &rules[0]));
        CHECK_OK(rd(rtr, &o, &f, &r));
        CHECK(f.n == 4);
        for (int i = 0; i < 4 && f.n == 4; i++)
            if (f.attack[i] != marked[k][i])
                CHECK_FAIL_("rule %s: frame %d attack %u", want[k], i, f.attack[i]);
        gids_can_frames_free(&f);
    }
    CHECK_ERR(gids_can_rule_parse("115#R9", &bad_rule), GIDS_EINVAL,
              "attack rule '115#R9' (character 6): a remote request is ID#R or ID#R<DLC 0-8>, got "
              "'R9'");
    /* Ids match on value and width: 00000000 is the extended id 0, not the 11-bit 0. */
    CHECK_OK(gids_can_rule_parse("00000000", &rules[0]));
    o.nrules = 1;
    CHECK_OK(rd("(1.0) can0 000#00\n(1.1) can0 00000000#00\n", &o, &f, &r));
    CHECK(f.n == 2 && f.attack[0] == 0 && f.attack[1] == 1 && r.labeled == 1);
    gids_can_frames_free(&f);
    gids_can_rule bad;
    CHECK_ERR(gids_can_rule_parse("115#4E0", &bad), GIDS_EINVAL,
              "attack rule '115#4E0' (character 7): the payload has an odd number of hex digits");
    CHECK_ERR(gids_can_rule_parse("X15", &bad), GIDS_EINVAL, "attack rule 'X15' (character 1)");
}

TEST(reads_candump_ta_logs_with_29_bit_ids) {
    const char *text = " (000.000000)  can0  18FCF200   [8]  E1 FF FF FF FF FF FF FF\n"
                       " (000.005001)  can0  00000000   [3]  8A A0 28\n"
                       " (000.006001)  can0  123   [0]  remote request\n";
    gids_can_frames f;
    gids_can_read_report r;
    CHECK_OK(rd(text, NULL, &f, &r));
    CHECK(r.format == GIDS_CAN_FMT_CANDUMP_TA && f.n == 3);
    CHECK(f.id[0] == 0x18FCF200 && f.flags[0] == GIDS_CAN_EXTENDED && f.data[0] == 0xE1);
    CHECK(f.id[1] == 0 && f.flags[1] == GIDS_CAN_EXTENDED && f.dlc[1] == 3 &&
          f.data[8 + 2] == 0x28);
    CHECK(f.ts[1] == 0.005001 && f.dlc[2] == 0 && f.flags[2] == GIDS_CAN_REMOTE);
    CHECK(f.flags[1] == GIDS_CAN_EXTENDED);
    gids_can_frames_free(&f);
    /* the length a remote request asks for is its [DLC] */
    CHECK_OK(rd(" (0.1)  can0  18FEDF00   [4]  remote request\n", NULL, &f, &r));
    CHECK(f.n == 1 && f.dlc[0] == 4 && f.flags[0] == (GIDS_CAN_EXTENDED | GIDS_CAN_REMOTE));
    gids_can_frames_free(&f);
    CHECK_BAD(" (0.1)  can0  123   [3]  01 02\n", "t.csv:1:31: DLC says 3 bytes but the row has 2");
    CHECK_BAD(" (0.1)  can0  123   [2]  01 02 03\n", "t.csv:1:32: DLC says 2 bytes but the row has "
                                                     "more");
    CHECK_BAD(" (0.1)  can0  123   [9]  01\n", "t.csv:1:22: DLC 9 exceeds 8");
}

TEST(reads_both_hcrl_car_hacking_formats) {
    const char *csv = "1478198376.389427,0316,8,05,21,68,09,21,21,00,6f,R\n"
                      "1478198376.389636,02b0,5,ff,7f,00,05,49,T\n"
                      "1478198376.389864,0545,0,R\n";
    gids_can_frames f;
    gids_can_read_report r;
    CHECK_OK(rd(csv, NULL, &f, &r));
    CHECK(r.format == GIDS_CAN_FMT_HCRL_CSV && f.n == 3 && r.labeled == 1);
    CHECK(f.id[0] == 0x316 && f.flags[0] == 0 && f.dlc[0] == 8 && f.data[7] == 0x6F);
    CHECK(f.dlc[1] == 5 && f.data[8 + 4] == 0x49 && f.data[8 + 5] == 0 && f.attack[1] == 1);
    CHECK(f.dlc[2] == 0 && f.attack[2] == 0);
    gids_can_frames_free(&f);
    CHECK_BAD("1.0,0316,3,01,02,R\n", "t.csv:1:18: DLC 3 needs 3 byte columns, got 2");
    CHECK_BAD("1.0,0316,0,R\n1.0,0316,2,01,02,X\n", "t.csv:2:18: Flag must be R or T, got 'X'");
    CHECK_BAD("1.0,0316,1,01,02,R\n", "t.csv:1:18: unexpected column 6: DLC 1 rows have 5");

    const char *txt = "Timestamp: 1479121434.850202        ID: 0350    000    DLC: 8    05 28 84 "
                      "66 6d 00 00 a2\n"
                      "Timestamp: 1479121434.850423        ID: 02c0    000    DLC: 2    14 00\n";
    CHECK_OK(rd(txt, NULL, &f, &r));
    CHECK(r.format == GIDS_CAN_FMT_HCRL_TXT && f.n == 2);
    CHECK(f.id[0] == 0x350 && f.dlc[0] == 8 && f.data[4] == 0x6D && f.ts[1] == 1479121434.850423);
    CHECK(f.id[1] == 0x2C0 && f.dlc[1] == 2 && f.data[8] == 0x14);
    gids_can_frames_free(&f);
    CHECK_BAD("Timestamp: 1.0   ID: 0350  000  DLX: 1  00\n", "t.csv:1:33: expected 'DLC:'");
    /* A remote request (RTR 100) carries no bytes: its DLC is the length it requests. */
    CHECK_OK(rd("Timestamp: 1.0   ID: 0350  100  DLC: 8\n", NULL, &f, &r));
    CHECK(f.n == 1 && f.id[0] == 0x350 && f.dlc[0] == 8 && f.flags[0] == GIDS_CAN_REMOTE);
    CHECK(f.data[0] == 0 && f.data[7] == 0);
    gids_can_frames_free(&f);
    /* the remote request's DLC ends the row; the RTR field is text, not a number */
    CHECK_BAD("Timestamp: 1.0   ID: 0350  100  DLC: 2  00 11\n",
              "t.csv:1:41: a remote request (RTR 100) has no bytes after its DLC");
    CHECK_BAD("Timestamp: 1.0   ID: 0350  0  DLC: 1  00\n",
              "t.csv:1:28: RTR field must be 000 (data frame) or 100 (remote request), got '0'");
    CHECK_BAD("Timestamp: 1.0   ID: 0350  0100  DLC: 1  00\n", "got '0100'");
    CHECK_BAD("Timestamp: 1.0   ID: 0350  010  DLC: 1  00\n",
              "t.csv:1:28: RTR field must be 000 (data frame) or 100 (remote request), got '010'");
}

TEST(reads_a_column_mapped_csv_with_quotes_and_decimal_ids) {
    const char *text =
        "timestamp,iface,can_id,dlc,data,pgn_label,label\n"
        "0.0,can0,217058307,8,1804FA2BFFFFFFFF,\"Engine Hours, Revolutions\",normal\n"
        "0.000536,can0,419356416,2,90A0,x,high_torque_command\n";
    gids_can_frames f;
    gids_can_read_report r;
    CHECK_OK(rd(text, NULL, &f, &r));
    CHECK(r.format == GIDS_CAN_FMT_COLUMNS && f.n == 2 && r.labeled == 1);
    CHECK(f.id[0] == 217058307u && f.flags[0] == GIDS_CAN_EXTENDED && f.data[0] == 0x18);
    CHECK(f.attack[0] == 0 && f.attack[1] == 1 && f.dlc[1] == 2);
    gids_can_frames_free(&f);
    CHECK_BAD("timestamp,can_id,dlc,data,label\n0.1,12,3,0102,normal\n",
              "t.csv:2:10: data has 2 bytes but dlc says 3");
    CHECK_BAD("timestamp,can_id,data,label\n0.1,1A,0102,normal\n",
              "t.csv:2:6: bad decimal digit 'A' in CAN id");
    CHECK_BAD("timestamp,can_id,data,label\n0.1,12,0102\n", "t.csv:2:12: missing column 4");
    CHECK_BAD("time_s,ident,bytes\n0.1,12,0102\n", "t.csv:1:1: header has no timestamp column");
    /* numbers are labels by value, names case aside; a missing value is malformed */
    CHECK_OK(rd("time,id,data,label\n1.0,316,AABB,0.0\n1.1,316,AABB,False\n1.2,316,AABB,-0\n"
                "1.3,316,AABB,1.0\n1.4,316,AABB,TRUE\n1.5,316,AABB,r\n1.6,316,AABB,2\n",
                NULL, &f, &r));
    CHECK(f.n == 7 && r.labeled == 3 && r.has_labels == 1);
    CHECK(!f.attack[0] && !f.attack[1] && !f.attack[2] && f.attack[3] && f.attack[4]);
    CHECK(!f.attack[5] && f.attack[6]);
    gids_can_frames_free(&f);
    CHECK_BAD("time,id,data,label\n1.0,316,AABB,NaN\n",
              "t.csv:2:14: label 'NaN' is not a label (a missing value?)");
    /* a control character quoted from the file is an escape in the message (a CR hid itself) */
    CHECK_BAD("timestamp,arbitration_id,data_field,attack\n1.0,316,D01C,0\r\r\n",
              "attack must be 0 or 1, got '0\\r'");
    /* a blank label is as missing as an empty one (it read as 0), and a number fills its field */
    CHECK_BAD("time,id,data,label\n1.0,316,AABB, \n", "t.csv:2:14: empty label");
    CHECK_BAD("time,id,data,label\n1.0,316,AABB,\t \n", "t.csv:2:14: empty label");
    CHECK_BAD("time,id,data,label\n1.0,316,AABB,\" \"\n", "empty label");
    {
        static const char nul[] = "time,id,data,label\n1.0,316,AABB,0\0junk\n";
        gids_can_frames g;
        CHECK_ERR(gids_can_read_buffer(nul, sizeof nul - 1, "t.csv", NULL, &g, NULL), GIDS_EFORMAT,
                  "t.csv:2:15: the line contains a NUL byte (not a text file?)");
        gids_can_frames_free(&g);
    }
    /* without a label column every frame is normal traffic, and the report says so */
    CHECK_OK(rd("time,id,data\n1.0,316,AABB\n", NULL, &f, &r));
    CHECK(f.n == 1 && r.labeled == 0 && r.has_labels == 0);
    gids_can_frames_free(&f);
    /* tabs around names and labels are trimmed like spaces */
    CHECK_OK(rd("timestamp,\tcan_id\t,data, label\t\n0.1,12,0102,\tnormal\t\n0.2,12,0102,x\n", NULL,
                &f, &r));
    CHECK(f.n == 2 && f.id[0] == 12 && f.attack[0] == 0 && f.attack[1] == 1);
    gids_can_frames_free(&f);
    /* two columns of the picked name: which one is meant cannot be told */
    CHECK_BAD("timestamp,can_id,data,label,data\n0.1,12,0102,normal,0304\n",
              "t.csv:1:29: header has two columns named 'data' (3 and 5)");
    /* Names given explicitly, hex ids. */
    gids_can_read_opts o;
    gids_can_read_opts_init(&o);
    o.format = GIDS_CAN_FMT_COLUMNS;
    o.col_ts = "time_s";
    o.col_id = "ident";
    o.col_data = "bytes";
    CHECK_OK(rd("time_s,ident,bytes\n0.1,12,0102\n", &o, &f, &r));
    CHECK(f.n == 1 && f.id[0] == 0x12 && f.dlc[0] == 2);
    gids_can_frames_free(&f);
    /* two roles on one column: one of them would never be read */
    o.col_label = "time_s";
    CHECK_ERR(rd("time_s,ident,bytes\n0.1,12,0102\n", &o, &f, &r), GIDS_EFORMAT,
              "t.csv:1:1: column 1 ('time_s') is mapped to both ts and label");
    gids_can_frames_free(&f);
    o.col_label = NULL;
    o.col_dlc = "bytes";
    CHECK_ERR(rd("time_s,ident,bytes\n0.1,12,0102\n", &o, &f, &r), GIDS_EFORMAT,
              "t.csv:1:14: column 3 ('bytes') is mapped to both data and dlc");
    gids_can_frames_free(&f);
    /* the mapping names a column as the header does, case aside: CAN_ID is the decimal can_id
     * column auto-detection reads (read as hex, 217058307 was 0x217058307: too wide) */
    gids_can_read_opts_init(&o);
    o.col_id = "CAN_ID";
    CHECK_OK(rd("timestamp,can_id,data\n0.1,217058307,0102\n0.2,12,0102\n", &o, &f, &r));
    CHECK(f.n == 2 && f.id[0] == 217058307u && f.id[1] == 12);
    gids_can_frames_free(&f);
    /* column names are for this format only: with another they would be ignored */
    o.format = GIDS_CAN_FMT_CSV;
    CHECK_ERR(rd("timestamp,arbitration_id,data_field,attack\n1.0,0C1,0011,0\n", &o, &f, &r),
              GIDS_EINVAL,
              "t.csv: column names apply to the columns format, and this file reads as csv");
    gids_can_frames_free(&f);
    /* an id base is for this format only: elsewhere it would be ignored without a word */
    gids_can_read_opts_init(&o);
    o.id_base = 10;
    CHECK_ERR(rd("timestamp,arbitration_id,data_field,attack\n1.0,0C1,0011,0\n", &o, &f, &r),
              GIDS_EINVAL,
              "t.csv: id_base applies to the columns format, and this file reads as csv");
}

/* The data column takes a remote request as the canonical csv writes it (R, R4): no bytes, the
 * RTR bit whatever the column order (the id column sets the flags), and a bare R's length from
 * the dlc column when there is one. */
TEST(the_columns_format_reads_remote_requests) {
    gids_can_frames f;
    gids_can_read_report r;
    CHECK_OK(
        rd("data,time,id,label\nR,1.0,316,0\nr4,1.1,18FEDF00,1\nAABB,1.2,316,0\n", NULL, &f, &r));
    CHECK(r.format == GIDS_CAN_FMT_COLUMNS && f.n == 3);
    CHECK(f.flags[0] == GIDS_CAN_REMOTE && f.dlc[0] == 0 && f.id[0] == 0x316);
    CHECK(f.flags[1] == (GIDS_CAN_EXTENDED | GIDS_CAN_REMOTE) && f.dlc[1] == 4);
    CHECK(f.data[8] == 0 && f.data[11] == 0 && f.attack[1] == 1);
    CHECK(f.flags[2] == 0 && f.dlc[2] == 2 && f.data[16] == 0xAA);
    gids_can_frames_free(&f);
    /* the dlc column, before or after the data, gives a bare R its length and must agree with
     * an R<DLC> */
    CHECK_OK(rd("time,id,dlc,data\n1.0,316,3,R\n1.1,316,2,R2\n", NULL, &f, &r));
    CHECK(f.n == 2 && f.dlc[0] == 3 && f.dlc[1] == 2 && f.flags[0] == GIDS_CAN_REMOTE);
    gids_can_frames_free(&f);
    CHECK_OK(rd("time,id,data,dlc\n1.0,316,R,5\n", NULL, &f, &r));
    CHECK(f.n == 1 && f.dlc[0] == 5 && f.flags[0] == GIDS_CAN_REMOTE);
    gids_can_frames_free(&f);
    CHECK_BAD("time,id,dlc,data\n1.0,316,3,R2\n",
              "t.csv:2:11: data requests 2 bytes but dlc says 3");
    CHECK_BAD("time,id,data,dlc\n1.0,316,R2,3\n",
              "t.csv:2:12: dlc says 3 but data requests 2 bytes");
    CHECK_BAD("time,id,data\n1.0,316,R9\n",
              "t.csv:2:10: a remote request is R or R<DLC 0-8> in the data column, got 'R9'");
    CHECK_BAD("time,id,data\n1.0,316,RTR\n", "got 'RTR'");
    /* quoted, as any field may be */
    CHECK_OK(rd("time,id,data\n1.0,316,\"R4\"\n", NULL, &f, &r));
    CHECK(f.n == 1 && f.dlc[0] == 4 && f.flags[0] == GIDS_CAN_REMOTE);
    gids_can_frames_free(&f);
}

/* The fast path must give exactly strtod's double for every timestamp shape it accepts. */
TEST(timestamp_fast_path_matches_strtod) {
    gids_generator g;
    gids_generator_init(&g, 5);
    uint32_t ctr[4] = {0, 0, 0, 0}, key[2] = {1, 2}, out[4];
    char text[64], row[96];
    int bad = 0;
    for (int i = 0; i < 3000; i++) {
        ctr[0] = (uint32_t)i;
        gids_philox4x32(ctr, key, out);
        int frac = (int)(out[0] % 10);
        uint64_t ip = (uint64_t)out[1] % 4000000000ull, fp = (uint64_t)out[2] * out[3];
        char fracs[32];
        snprintf(fracs, sizeof fracs, "%020llu", (unsigned long long)fp);
        snprintf(text, sizeof text, "%llu.%.*s", (unsigned long long)ip, frac, fracs);
        snprintf(row, sizeof row, "%s,100,00,0\n", text);
        gids_can_frames f;
        if (rd(row, NULL, &f, NULL) != GIDS_OK || f.ts[0] != strtod(text, NULL)) bad++;
        gids_can_frames_free(&f);
    }
    CHECK(bad == 0);
    /* Past the fast path: more than 19 digits and exponents go through strtod. */
    gids_can_frames f;
    CHECK_OK(rd("1672531200.00002300000001,100,00,0\n2e9,100,00,0\n", NULL, &f, NULL));
    CHECK(f.ts[0] == strtod("1672531200.00002300000001", NULL) && f.ts[1] == 2e9);
    gids_can_frames_free(&f);
}

TEST(write_then_read_gives_identical_frames) {
    gids_can_frames f, g;
    gids_can_frames_init(&f);
    uint8_t d[8] = {0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04};
    CHECK_OK(gids_can_frames_push(&f, 1513920254.785127, 0x316, 0, 8, d, 0));
    CHECK_OK(gids_can_frames_push(&f, 1672531200.0000230, 0x1E5, 0, 3, d, 1));
    CHECK_OK(
        gids_can_frames_push(&f, 1672531200.000023123, 0x18FEDF00, GIDS_CAN_EXTENDED, 0, NULL, 0));
    CHECK_OK(gids_can_frames_push(&f, 1672531200.5, 0x00000000, GIDS_CAN_EXTENDED, 1, d, 1));
    CHECK_OK(gids_can_frames_push(&f, 1672531201.0 + 1.0 / 3.0, 0x7FF, 0, 8, d, 0));
    char path[] = "/tmp/gids_can_rtXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_OK(gids_can_write_csv(path, &f, 0, f.n));
    CHECK_OK(gids_can_read(path, NULL, &g, NULL));
    CHECK(same_frames(&g, &f));
    gids_can_frames_free(&g);
    /* The text: 6 decimals when they suffice, 3 or 8 uppercase id digits. */
    FILE *fp = fopen(path, "r");
    char line[128] = "";
    CHECK(fp && fgets(line, sizeof line, fp) && fgets(line, sizeof line, fp));
    CHECK(strcmp(line, "1513920254.785127,316,DEADBEEF01020304,0\n") == 0);
    CHECK(fgets(line, sizeof line, fp) && strcmp(line, "1672531200.000023,1E5,DEADBE,1\n") == 0);
    CHECK(fgets(line, sizeof line, fp) && strncmp(line, "1672531200.000023", 17) == 0 &&
          strstr(line, ",18FEDF00,,0\n"));
    if (fp) fclose(fp);
    /* An 11-bit frame whose id does not fit, and a bad range, are refused. */
    f.id[0] = 0x800;
    CHECK_ERR(gids_can_write_csv(path, &f, 0, 1), GIDS_EINVAL, "does not fit its 11-bit id");
    CHECK_ERR(gids_can_write_csv(path, &f, 2, 9), GIDS_EINDEX, "rows [2, 9) out of range");
    /* no frames: a header-only file, which the readers refuse, is not written */
    CHECK_ERR(
        gids_can_write_csv(path, &f, 2, 2), GIDS_EINVAL,
        "write_csv: no frames to write (rows [2, 2) of 5): a CAN log holds at least one frame");
    CHECK_ERR(gids_can_write_csv("/nonexistent/dir/x.csv", &f, 1, 2), GIDS_EIO, "cannot create");
    /* Timestamps the readers refuse are not written (1e32 overran the 40-byte field, writing a
     * NUL into the file); the largest accepted one round-trips. */
    f.id[0] = 0x316;
    f.ts[0] = 1e32;
    CHECK_ERR(gids_can_write_csv(path, &f, 0, 1), GIDS_EINVAL,
              "write_csv: frame 0 has timestamp 1e+32, outside [0, 1e+12] s");
    f.ts[0] = -1.0;
    CHECK_ERR(gids_can_write_csv(path, &f, 0, 1), GIDS_EINVAL, "frame 0 has timestamp -1");
    f.ts[0] = GIDS_CAN_TS_MAX;
    CHECK_OK(gids_can_write_csv(path, &f, 0, 1));
    CHECK_OK(gids_can_read(path, NULL, &g, NULL));
    CHECK(g.n == 1 && g.ts[0] == GIDS_CAN_TS_MAX);
    gids_can_frames_free(&g);
    /* Remote requests are written R, or R<requested length>, and read back as they were; a
     * data frame with no payload stays one (its payload is empty). */
    gids_can_frames_free(&f);
    CHECK_OK(gids_can_frames_push(&f, 1.0, 0x115, GIDS_CAN_REMOTE, 4, d, 0)); /* (d ignored) */
    CHECK_OK(
        gids_can_frames_push(&f, 1.5, 0x18FEDF00, GIDS_CAN_EXTENDED | GIDS_CAN_REMOTE, 0, NULL, 1));
    CHECK_OK(gids_can_frames_push(&f, 2.0, 0x115, 0, 0, NULL, 0));
    CHECK_OK(gids_can_frames_push(&f, 2.5, 0x115, GIDS_CAN_REMOTE, 8, NULL, 0));
    CHECK(f.data[0] == 0 && f.data[3] == 0);
    CHECK_OK(gids_can_write_csv(path, &f, 0, f.n));
    fp = fopen(path, "r");
    CHECK(fp && fgets(line, sizeof line, fp) && fgets(line, sizeof line, fp));
    CHECK(strcmp(line, "1.000000,115,R4,0\n") == 0);
    CHECK(fgets(line, sizeof line, fp) && strcmp(line, "1.500000,18FEDF00,R,1\n") == 0);
    CHECK(fgets(line, sizeof line, fp) && strcmp(line, "2.000000,115,,0\n") == 0);
    if (fp) fclose(fp);
    CHECK_OK(gids_can_read(path, NULL, &g, NULL));
    CHECK(same_frames(&g, &f));
    gids_can_frames_free(&g);
    CHECK_BAD("1.0,115,R9,0\n",
              "t.csv:1:10: a remote request is R or R<DLC 0-8> in data_field, got 'R9'");
    remove(path);
    gids_can_frames_free(&f);
}

TEST(read_many_reads_in_parallel_and_reports_the_first_failure_in_order) {
    char a[] = "/tmp/gids_can_aXXXXXX", b[] = "/tmp/gids_can_bXXXXXX";
    int fa = mkstemp(a), fb = mkstemp(b);
    CHECK(fa >= 0 && fb >= 0);
    CHECK(write(fa, "1.0,100,00,0\n2.0,200,11,1\n", 26) == 26);
    CHECK(write(fb, "(1.5) can0 123#AB\n", 18) == 18);
    close(fa);
    close(fb);
    const char *paths[3] = {a, b, "/nonexistent.csv"};
    gids_can_frames f[3];
    gids_can_read_report r[3];
    CHECK_OK(gids_can_read_many(paths, 2, NULL, f, r));
    CHECK(f[0].n == 2 && f[1].n == 1 && r[1].format == GIDS_CAN_FMT_CANDUMP &&
          f[1].data[0] == 0xAB);
    for (int i = 0; i < 2; i++) gids_can_frames_free(&f[i]);
    CHECK_ERR(gids_can_read_many(paths, 3, NULL, f, NULL), GIDS_EIO,
              "/nonexistent.csv: cannot open");
    for (int i = 0; i < 3; i++) gids_can_frames_free(&f[i]);
    CHECK_ERR(gids_can_read("/tmp", NULL, f, NULL), GIDS_EIO, "not a regular file");
    gids_can_frames_free(&f[0]);
    remove(a);
    remove(b);
}

TEST(the_simulator_is_deterministic_and_labels_its_attacks) {
    gids_can_sim_opts o;
    gids_can_sim_opts_init(&o);
    o.seed = 11;
    o.frames = 4000;
    for (int a = 0; a < GIDS_CAN_ATK_COUNT_; a++) {
        gids_can_frames x, y;
        CHECK_OK(gids_can_simulate(&o, (gids_can_attack)a, &x));
        CHECK_OK(gids_can_simulate(&o, (gids_can_attack)a, &y));
        CHECK(x.n == 4000 && same_frames(&x, &y));
        int64_t atk = 0, back = 0, zero_id = 0;
        for (int64_t i = 0; i < x.n; i++) {
            atk += x.attack[i];
            back += i > 0 && x.ts[i] < x.ts[i - 1];
            zero_id += x.attack[i] && x.id[i] == 0;
        }
        CHECK(back == 0);                                   /* one bus: time only moves forward */
        CHECK(a == 0 ? atk == 0 : atk > 100 && atk < 3000); /* bursts, not the whole capture */
        if (a == GIDS_CAN_ATK_DOS) CHECK(zero_id == atk);
        gids_can_frames_free(&x);
        gids_can_frames_free(&y);
    }
    /* Another seed gives other traffic; so does another vehicle. */
    gids_can_frames x, y;
    CHECK_OK(gids_can_simulate(&o, GIDS_CAN_ATK_NONE, &x));
    o.seed = 12;
    CHECK_OK(gids_can_simulate(&o, GIDS_CAN_ATK_NONE, &y));
    CHECK(!same_frames(&x, &y));
    gids_can_frames_free(&y);
    o.seed = 11;
    o.vehicle = 1;
    CHECK_OK(gids_can_simulate(&o, GIDS_CAN_ATK_NONE, &y));
    CHECK(!same_frames(&x, &y));
    gids_can_frames_free(&x);
    gids_can_frames_free(&y);
    o.frames = 0;
    CHECK_ERR(gids_can_simulate(&o, GIDS_CAN_ATK_NONE, &x), GIDS_EINVAL, "frames must be in");
    gids_can_frames_free(&x);
}

TEST(simulated_payloads_carry_counters_and_checksums) {
    gids_can_sim_opts o;
    gids_can_sim_opts_init(&o);
    o.frames = 3000;
    gids_can_frames x;
    CHECK_OK(gids_can_simulate(&o, GIDS_CAN_ATK_NONE, &x));
    /* Some id's last byte is the XOR of the others in every frame, and its second-to-last low
     * nibble steps by one. */
    int found = 0;
    for (int64_t i = 0; i < x.n && !found; i++) {
        uint32_t id = x.id[i];
        int ok = 1, seen = 0, prev = -1;
        for (int64_t k = 0; k < x.n && ok; k++) {
            if (x.id[k] != id) continue;
            const uint8_t *d = x.data + 8 * k;
            int n = x.dlc[k];
            uint8_t s = 0;
            for (int b = 0; b < n - 1; b++) s ^= d[b];
            ok = n >= 3 && d[n - 1] == s && (prev < 0 || (d[n - 2] & 15) == ((prev + 1) & 15));
            prev = d[n - 2] & 15;
            seen++;
        }
        found = ok && seen > 20;
    }
    CHECK(found);
    gids_can_frames_free(&x);
}

int main(void) {
    RUN(reads_the_canonical_csv_with_hex_ids_of_any_width);
    RUN(each_malformed_row_names_file_line_and_column);
    RUN(empty_and_header_only_files_are_clear_errors);
    RUN(a_byte_order_mark_is_skipped);
    RUN(lenient_skips_counts_and_reports_malformed_rows);
    RUN(lenient_time_order_skips_the_outlier_not_the_rows_after_it);
    RUN(nul_bytes_and_utf16_text_are_named);
    RUN(small_steps_back_in_time_are_tolerated_and_counted);
    RUN(reads_candump_logs_and_labels_them_by_rule);
    RUN(reads_candump_ta_logs_with_29_bit_ids);
    RUN(reads_both_hcrl_car_hacking_formats);
    RUN(reads_a_column_mapped_csv_with_quotes_and_decimal_ids);
    RUN(the_columns_format_reads_remote_requests);
    RUN(timestamp_fast_path_matches_strtod);
    RUN(write_then_read_gives_identical_frames);
    RUN(read_many_reads_in_parallel_and_reports_the_first_failure_in_order);
    RUN(the_simulator_is_deterministic_and_labels_its_attacks);
    RUN(simulated_payloads_carry_counters_and_checksums);
    return check_summary("can");
}
