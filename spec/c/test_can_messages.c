/* test_can_messages.c -- how the CAN readers' messages quote what they name: an over-long field
 * shortened, a bad character before a bad length, cuts between UTF-8 characters, a 0x prefix,
 * and a long path's middle elided so that the reason at its end survives (a row's message, its
 * copies out of the parallel readers and the simulator, a lenient report's entries). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "helpers.h"
#include "gids/can.h"
#include "can_helpers.h"

/* An over-long field is quoted shortened ("..."), and a bad character is named before a bad
 * length: a whole field of 3000 'G' once filled the message and never said what was wrong. */
TEST(over_long_fields_are_quoted_short_and_a_bad_character_comes_first) {
    const char *q32 = "11111111111111111111111111111111...";
    char want[256];
    char *row = long_row("1.1,", 'G', 3000, ",01,0\n");
    check_message(row, "t.csv:1:5: bad hex digit 'G' in CAN id");
    free(row);
    row = long_row("1.1,", '1', 3000, ",01,0\n");
    snprintf(want, sizeof want, "t.csv:1:5: CAN id '%s' has 3000 hex digits; at most 8", q32);
    check_message(row, want);
    free(row);
    /* no format writes a 0x prefix: said as such, not as 10 digits or a bad 'x' */
    check_message("1.1,0x18FEDF00,01,0\n",
                  "t.csv:1:6: CAN id '0x18FEDF00' has a 0x prefix: ids are bare hex digits "
                  "(18FEDF00)");
    check_message("(1.0) can0 0X123#01\n",
                  "t.csv:1:13: CAN id '0X123' has a 0x prefix: ids are bare hex digits (123)");
    row = long_row("1.1,123,", 'Z', 100000, ",0\n");
    check_message(row, "t.csv:1:9: bad hex digit 'Z' in data_field");
    free(row);
    check_message("1.1,123, 0102,0\n", "t.csv:1:9: bad hex digit ' ' in data_field");
    check_message("1.1,123,0102Q,0\n", "t.csv:1:13: bad hex digit 'Q' in data_field");
    row = long_row("1.1,123,", 'A', 100001, ",0\n");
    check_message(row, "t.csv:1:25: data_field has 100001 hex digits; a payload holds at most 8 "
                       "bytes (16 digits)");
    free(row);
    row = long_row("", '1', 3000, ".5,123,01,0\n");
    snprintf(want, sizeof want, "t.csv:1:1: timestamp '%s' is too long (3002 characters)", q32);
    check_message(row, want);
    free(row);
    row = long_row("1.5,123,01,", '1', 500, "\n");
    snprintf(want, sizeof want, "t.csv:1:12: attack must be 0 or 1, got '%s'", q32);
    check_message(row, want);
    free(row);
    row = long_row(" (0.1)  can0  123   [", '1', 400, "]  01\n");
    snprintf(want, sizeof want, "t.csv:1:22: DLC %s exceeds 8", q32);
    check_message(row, want);
    free(row);
    row = long_row(" (0.1)  can0  123   [2]  01 ", '1', 300, "\n");
    snprintf(want, sizeof want, "t.csv:1:29: data byte '%s' has 300 hex digits; a byte has 1 or 2",
             q32);
    check_message(row, want);
    free(row);
    row = long_row(" (0.1)  can0  123   [2]  01 0", 'G', 300, "\n");
    check_message(row, "t.csv:1:30: bad hex digit 'G' in data byte");
    free(row);
    row = long_row("time,can_id,data\n1.0,", '1', 400, ",01\n");
    snprintf(want, sizeof want, "t.csv:2:5: CAN id %s exceeds 29 bits (max 536870911)", q32);
    check_message(row, want);
    free(row);
    row = long_row("time,can_id,data\n1.0,", '1', 400, "x,01\n");
    check_message(row, "t.csv:2:405: bad decimal digit 'x' in CAN id");
    free(row);
    row = long_row("(1.0) can0 123#R", '1', 300, "\n");
    snprintf(want, sizeof want,
             "t.csv:1:17: a remote request is ID#R or ID#R<DLC 0-8>, got 'R%.31s...'", q32);
    check_message(row, want);
    free(row);
}

/* A quoted field is cut before a UTF-8 character it would split, and so is a lenient read's kept
 * copy of a message: half a character made the message invalid UTF-8, and JSON (a trace's
 * stage_failed event) refused it.  A run of bytes that is no UTF-8 is cut at 32 all the same. */
TEST(messages_are_cut_between_utf8_characters) {
    /* 'Ü' + 29 ASCII = 31 bytes, then 'é' at bytes 31-32: cut before it */
    check_message("1.0,123,00,\xC3\x9C"
                  "bertragung-fehlerhaft-wahrend\xC3\xA9\xC3\xA9\n",
                  "t.csv:1:12: attack must be 0 or 1, got '\xC3\x9C"
                  "bertragung-fehlerhaft-"
                  "wahrend...'");
    /* a 4-byte character at bytes 30-33: cut at 30 */
    char *row = long_row("1.0,123,00,", 'a', 30, "\xF0\x9F\x98\x80tail\n");
    check_message(row, "t.csv:1:12: attack must be 0 or 1, got "
                       "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
    free(row);
    /* continuation bytes from 28 on: no UTF-8, cut at 32 */
    row = long_row("1.0,123,00,", 'a', 28, "\x80\x80\x80\x80\x80\x80\x80\n");
    check_message(row, "t.csv:1:12: attack must be 0 or 1, got "
                       "'aaaaaaaaaaaaaaaaaaaaaaaaaaaa\x80\x80\x80\x80...'");
    free(row);
    /* a kept message (192 bytes) of a file whose long name has 'é' across bytes 190-191 */
    char name[256];
    memset(name, 'd', 190);
    strcpy(name + 190, "\xC3\xA9\xC3\xA9.csv");
    gids_can_read_opts o;
    gids_can_read_opts_init(&o);
    o.lenient = 1;
    const char *text = "1.0,100,00,0\n1.1,1G0,00,0\n";
    gids_can_frames f;
    gids_can_read_report r;
    CHECK_OK(gids_can_read_buffer(text, (int64_t)strlen(text), name, &o, &f, &r));
    /* (the kept copy elides its middle, as errors do: its start, its reason, whole characters) */
    CHECK(r.nerrors == 1 && strlen(r.errors[0]) <= 191 && strncmp(r.errors[0], name, 20) == 0);
    CHECK(strstr(r.errors[0], "bad hex digit 'G'") != NULL && utf8_whole(r.errors[0]));
    gids_can_frames_free(&f);
}

/* A 0x prefix suggests the id without it only when that is an id: not "()" for a bare 0x, nor
 * a remainder too long, too large or not hex. */
TEST(a_0x_prefix_suggests_only_a_valid_id) {
    check_message("1.1,0x1FFFFFFF,01,0\n",
                  "t.csv:1:6: CAN id '0x1FFFFFFF' has a 0x prefix: ids are "
                  "bare hex digits (1FFFFFFF)");
    check_message("1.1,0x,01,0\n",
                  "t.csv:1:6: CAN id '0x' has a 0x prefix: ids are bare hex digits");
    check_message("1.1,0x123456789,01,0\n",
                  "t.csv:1:6: CAN id '0x123456789' has a 0x prefix: ids are bare hex digits");
    check_message("1.1,0x20000000,01,0\n",
                  "t.csv:1:6: CAN id '0x20000000' has a 0x prefix: ids are bare hex digits");
    check_message("1.1,0x12G,01,0\n", "t.csv:1:6: CAN id '0x12G' has a 0x prefix: ids are bare "
                                      "hex digits");
}

/* A message naming a long path keeps the reason at its end, where it is carried out of the
 * parallel region and in a lenient read's report (once cut at 1 KiB or 192 bytes). */
TEST(long_paths_keep_the_reason_in_copied_messages) {
    char *dir = deep_path("/nonexistent", 19), path[4096];
    snprintf(path, sizeof path, "%s/x.csv", dir);
    const char *paths[2] = {"/nonexistent.csv", path};
    gids_can_frames f[2];
    CHECK_ERR(gids_can_read_many(paths + 1, 1, NULL, f, NULL), GIDS_EIO, path);
    CHECK(ends_with(gids_error_message(), "/x.csv: cannot open: No such file or directory"));
    gids_can_frames_free(&f[0]);

    const char *text = "timestamp,arbitration_id,data_field,attack\n"
                       "1.0,100,00,0\n"
                       "1.1,1G0,00,0\n";
    gids_can_read_opts o;
    gids_can_read_opts_init(&o);
    gids_can_read_report r;
    CHECK_ERR(gids_can_read_buffer(text, (int64_t)strlen(text), path, &o, f, &r), GIDS_EFORMAT,
              path);
    CHECK(ends_with(gids_error_message(), "/x.csv:3:6: bad hex digit 'G' in CAN id"));
    gids_can_frames_free(&f[0]);
    o.lenient = 1;
    CHECK_OK(gids_can_read_buffer(text, (int64_t)strlen(text), path, &o, f, &r));
    CHECK(r.nerrors == 1 && strncmp(r.errors[0], "/nonexistent/\xc3\xa9", 15) == 0);
    CHECK(ends_with(r.errors[0], "/x.csv:3:6: bad hex digit 'G' in CAN id"));
    CHECK(strstr(r.errors[0], " bytes]...") != NULL);
    gids_can_frames_free(&f[0]);
    /* a row stepping back in time: strict, and in a lenient report */
    const char *back = "timestamp,arbitration_id,data_field,attack\n"
                       "2.0,100,00,0\n"
                       "3.0,100,00,0\n"
                       "1.0,100,00,0\n";
    o.lenient = 0;
    CHECK_ERR(gids_can_read_buffer(back, (int64_t)strlen(back), path, &o, f, &r), GIDS_EFORMAT,
              path);
    CHECK(strstr(gids_error_message(), "/x.csv:4:1: time steps back 2 s") != NULL);
    CHECK(ends_with(gids_error_message(), " s)") && utf8_whole(gids_error_message()));
    gids_can_frames_free(&f[0]);
    o.lenient = 1;
    CHECK_OK(gids_can_read_buffer(back, (int64_t)strlen(back), path, &o, f, &r));
    CHECK(r.nerrors == 1 && strstr(r.errors[0], "time steps back") != NULL);
    CHECK(ends_with(r.errors[0], " s)") && utf8_whole(r.errors[0]));
    gids_can_frames_free(&f[0]);
    free(dir);
}

/* A field from the file shown cut to a few bytes ends before a UTF-8 character it would split
 * ("...x\xc3" once), and a field quoted whole loses its middle, not the words after it. */
TEST(fields_quoted_in_messages_are_cut_between_characters) {
    char line[512], name[80] = "x"; /* then 2-byte characters: bytes 20, 40 and 60 split one */
    for (int k = 0; k < 30; k++) strcat(name, "\xc3\xa9");
    gids_can_read_opts o;
    gids_can_read_opts_init(&o);
    o.format = GIDS_CAN_FMT_COLUMNS;
    o.col_ts = name;
    o.col_id = "ident";
    o.col_data = "bytes";
    o.col_label = name;
    snprintf(line, sizeof line, "%s,ident,bytes\n0.1,12,0102\n", name);
    gids_can_frames f;
    CHECK_ERR(rd(line, &o, &f, NULL), GIDS_EFORMAT, "column 1 ('x\xc3\xa9");
    CHECK(strstr(gids_error_message(), "\xc3\xa9...') is mapped to both ts and label"));
    CHECK(utf8_whole(gids_error_message()));
    gids_can_frames_free(&f);
    /* the first line of a file of no known format: 60 bytes of it */
    snprintf(line, sizeof line, "%s%s\n", name, name);
    CHECK_ERR(rd(line, NULL, &f, NULL), GIDS_EFORMAT, "cannot tell the log format from 'x\xc3\xa9");
    CHECK(utf8_whole(gids_error_message()));
    gids_can_frames_free(&f);
    /* an RTR field: 20 bytes of it */
    snprintf(line, sizeof line, "Timestamp: 1.0   ID: 0350  %s  DLC: 1  00\n", name);
    CHECK_ERR(rd(line, NULL, &f, NULL), GIDS_EFORMAT, "got 'x\xc3\xa9");
    CHECK(strstr(gids_error_message(), "\xc3\xa9...'") && utf8_whole(gids_error_message()));
    gids_can_frames_free(&f);
    /* a label longer than a row message's 160 bytes: quoted by its first characters */
    char label[400] = "x";
    for (int k = 0; k < 150; k++) strcat(label, "\xc3\xa9");
    snprintf(line, sizeof line, "timestamp,arbitration_id,data_field,attack\n1.0,100,00,%s\n",
             label);
    CHECK_ERR(rd(line, NULL, &f, NULL), GIDS_EFORMAT, "t.csv:2:12: attack must be 0 or 1, got 'x");
    const char *m = gids_error_message();
    CHECK(strstr(m, "\xc3\xa9...'") && m[strlen(m) - 1] == '\'' && utf8_whole(m));
    gids_can_frames_free(&f);
}

/* The dataset simulator's files are written in parallel: the failing one's message, path and
 * reason, comes out whole (once cut at 512 bytes). */
TEST(simulate_dataset_names_the_file_it_cannot_write) {
    char base[] = "/tmp/gids_sim_XXXXXX";
    CHECK(mkdtemp(base) != NULL);
    char *dir = deep_path(base, 18);
    for (char *slash = dir + strlen(base); slash != NULL; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        CHECK(mkdir(dir, 0700) == 0 || slash == dir + strlen(base));
        *slash = '/';
    }
    CHECK(mkdir(dir, 0700) == 0);
    char blocked[4096];
    snprintf(blocked, sizeof blocked, "%s/train_01_attack_free", dir);
    CHECK(mkdir(blocked, 0700) == 0);
    snprintf(blocked, sizeof blocked, "%s/train_01_attack_free/attack-free-v1.csv", dir);
    CHECK(mkdir(blocked, 0700) == 0); /* a directory where the file goes */
    gids_can_sim_opts o;
    gids_can_sim_opts_init(&o);
    o.frames = 200;
    CHECK_ERR(gids_can_simulate_dataset(dir, &o, NULL), GIDS_EIO, blocked);
    CHECK(ends_with(gids_error_message(), "attack-free-v1.csv: Is a directory"));
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    CHECK(system(cmd) == 0);
    free(dir);
}

int main(void) {
    RUN(over_long_fields_are_quoted_short_and_a_bad_character_comes_first);
    RUN(messages_are_cut_between_utf8_characters);
    RUN(a_0x_prefix_suggests_only_a_valid_id);
    RUN(long_paths_keep_the_reason_in_copied_messages);
    RUN(fields_quoted_in_messages_are_cut_between_characters);
    RUN(simulate_dataset_names_the_file_it_cannot_write);
    return check_summary("can_messages");
}
