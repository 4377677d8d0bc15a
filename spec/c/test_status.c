/* test_status.c -- status names and the thread-local message: formatting, prefixes, and a
 * message too long for its buffer keeping its head and its reason with the middle marked. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

TEST(status_names_and_messages) {
    CHECK(strcmp(gids_status_name(GIDS_ESHAPE), "ESHAPE") == 0);
    gids_status s = gids_error_set(GIDS_EINVAL, "dir/file.c", 12, "op: bad %d", 7);
    CHECK(s == GIDS_EINVAL);
    CHECK(strcmp(gids_error_message(), "op: bad 7") == 0);
    CHECK(strcmp(gids_error_location(), "file.c:12") == 0);
    gids_error_prefix(GIDS_EINVAL, "model.%s", "convs.2");
    CHECK(strcmp(gids_error_message(), "model.convs.2: op: bad 7") == 0);
    /* a NaN with its sign bit prints as glibc's "-nan"; messages say "nan", paths keep theirs */
    double neg_nan = -fabs(NAN);
    gids_error_set(GIDS_EINVAL, "f.c", 1, "op: got %g, [%g] in '/d/-nan/x' (=%g)", neg_nan, neg_nan,
                   neg_nan);
    CHECK(strcmp(gids_error_message(), "op: got nan, [nan] in '/d/-nan/x' (=nan)") == 0);
    gids_error_clear();
    CHECK(strcmp(gids_error_message(), "") == 0 && strcmp(gids_error_location(), "") == 0);
}

/* "/data/" followed by multi-byte characters (2, 3 and 4 bytes, shifted by `shift`) up to n
 * bytes: wherever a cut falls, it would split a character unless it looks for boundaries. */
static char *long_path(size_t n, int shift) {
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e", "x"};
    char *p = malloc(n + 1);
    size_t k = (size_t)snprintf(p, n + 1, "/data/");
    for (int i = shift; k < n; i++) {
        const char *c = chars[i % 4];
        size_t cl = strlen(c);
        if (k + cl > n) break;
        memcpy(p + k, c, cl);
        k += cl;
    }
    p[k] = '\0';
    return p;
}

static bool ends_with(const char *s, const char *end) {
    size_t n = strlen(s), e = strlen(end);
    return n >= e && strcmp(s + n - e, end) == 0;
}

/* The number in the one "...[N bytes]..." mark of s, or -1 (none, or more than one). */
static long mark_count(const char *s) {
    const char *m = strstr(s, "...[");
    if (m == NULL || strstr(m + 1, "...[") != NULL) return -1;
    char *end = NULL;
    long n = strtol(m + 4, &end, 10);
    return strncmp(end, " bytes]...", 10) == 0 ? n : -1;
}

#define REASON "No such file or directory"

TEST(a_long_message_keeps_its_head_and_reason) {
    for (int shift = 0; shift < 4; shift++) {
        char *path = long_path(5000, shift);
        /* two paths: longer than the buffer (two PATH_MAX paths are) */
        gids_error_set(GIDS_EIO, "f.c", 1, "rename '%s' to '%s.tmp': %s", path, path, REASON);
        const char *m = gids_error_message();
        size_t full = strlen("rename '' to '.tmp': " REASON) + 2 * strlen(path);
        CHECK(strlen(m) < GIDS_ERROR_MAX && strlen(m) > GIDS_ERROR_MAX - 64);
        CHECK(strncmp(m, "rename '/data/", 14) == 0);
        CHECK(ends_with(m, ".tmp': " REASON));
        long gone = mark_count(m);
        CHECK(gone > 0);
        /* the mark counts exactly the bytes left out */
        size_t mark = (size_t)snprintf(NULL, 0, "...[%ld bytes]...", gone);
        CHECK(strlen(m) - mark + (size_t)gone == full);
        CHECK(utf8_whole(m));
        CHECK(strcmp(gids_error_location(), "f.c:1") == 0);

        /* a prefix naming the path again: the head becomes the prefix, the reason stays, and the
         * one mark widens */
        gids_error_prefix(GIDS_EIO, "safetensors save '%s'", path);
        m = gids_error_message();
        size_t prefixed = strlen("safetensors save '': ") + strlen(path) + full;
        CHECK(strlen(m) < GIDS_ERROR_MAX);
        CHECK(strncmp(m, "safetensors save '/data/", 24) == 0);
        CHECK(ends_with(m, ".tmp': " REASON));
        gone = mark_count(m);
        mark = (size_t)snprintf(NULL, 0, "...[%ld bytes]...", gone);
        CHECK(gone > 0 && strlen(m) - mark + (size_t)gone == prefixed);
        CHECK(utf8_whole(m));
        free(path);
    }
}

TEST(prefixes_on_a_cut_message_keep_one_mark) {
    char *path = long_path(4100, 1);
    gids_error_set(GIDS_EIO, "f.c", 1, "open '%s/%s': %s", path, path, REASON);
    long gone0 = mark_count(gids_error_message());
    CHECK(gone0 > 0);
    size_t total = strlen(gids_error_message()) + (size_t)gone0 -
                   (size_t)snprintf(NULL, 0, "...[%ld bytes]...", gone0);
    for (int i = 0; i < 20; i++) {
        gids_error_prefix(GIDS_EIO, "layer %d", i);
        total += strlen("layer 0: ") + (i >= 10);
    }
    const char *m = gids_error_message();
    CHECK(strncmp(m, "layer 19: layer 18: ", 20) == 0);
    CHECK(ends_with(m, "': " REASON));
    long gone = mark_count(m);
    CHECK(gone > gone0);
    CHECK(strlen(m) - (size_t)snprintf(NULL, 0, "...[%ld bytes]...", gone) + (size_t)gone == total);
    CHECK(strlen(m) < GIDS_ERROR_MAX && utf8_whole(m));
    free(path);
}

TEST(a_long_prefix_on_a_short_message_stays_whole) {
    char *path = long_path(5000, 2);
    gids_error_set(GIDS_EIO, "f.c", 1, "cannot open: %s", REASON);
    gids_error_prefix(GIDS_EIO, "save '%s'", path);
    const char *m = gids_error_message();
    CHECK(strncmp(m, "save '", 6) == 0 && strncmp(m + 6, path, strlen(path)) == 0);
    CHECK(strcmp(m + 6 + strlen(path), "': cannot open: " REASON) == 0);
    CHECK(mark_count(m) == -1);
    free(path);
}

TEST(a_message_may_quote_the_current_one) {
    gids_error_set(GIDS_EIO, "f.c", 1, "inner: %s", REASON);
    gids_error_set(GIDS_EIO, "g.c", 2, "outer (%s)", gids_error_message());
    CHECK(strcmp(gids_error_message(), "outer (inner: " REASON ")") == 0);
    char *path = long_path(6000, 3);
    gids_error_set(GIDS_EIO, "f.c", 1, "'%s': %s", path, REASON);
    gids_error_set(GIDS_EIO, "g.c", 2, "read '%s' failed: %s", path, gids_error_message());
    const char *m = gids_error_message();
    CHECK(strncmp(m, "read '/data/", 12) == 0 && ends_with(m, REASON));
    CHECK(utf8_whole(m));
    free(path);
}

/* Allocations over 1 MiB fail here (NULL, not an abort): the message of a text longer than that
 * cannot be formatted whole.  The environment's ASAN_OPTIONS add to these. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "max_allocation_size_mb=1:allocator_may_return_null=1";
}

TEST(without_memory_for_the_whole_the_head_stays_and_the_mark_counts_the_rest) {
    for (int shift = 0; shift < 4; shift++) {
        char *path = long_path(9000, shift);
        gids_error_set(GIDS_EIO, "f.c", 1, "'%s'%*s", path, 2 << 20, "end");
        const char *m = gids_error_message();
        size_t full = 2 + strlen(path) + (2 << 20);
        CHECK(strncmp(m, "'/data/", 7) == 0 && ends_with(m, " bytes]..."));
        long gone = mark_count(m);
        CHECK(gone > 0 &&
              strlen(m) - (size_t)snprintf(NULL, 0, "...[%ld bytes]...", gone) + (size_t)gone ==
                  full);
        CHECK(strlen(m) < GIDS_ERROR_MAX && utf8_whole(m));

        /* a prefix too long for its first buffer and the memory: cut short (at a character), the
         * message after it whole */
        gids_error_set(GIDS_EIO, "f.c", 1, "cannot open: %s", REASON);
        gids_error_prefix(GIDS_EIO, "'%s'%*s", path, 2 << 20, "end");
        m = gids_error_message();
        CHECK(strncmp(m, "'/data/", 7) == 0 && ends_with(m, " bytes]...: cannot open: " REASON));
        gone = mark_count(m);
        CHECK(gone > 0 &&
              strlen(m) - (size_t)snprintf(NULL, 0, "...[%ld bytes]...", gone) + (size_t)gone ==
                  full + strlen(": cannot open: " REASON));
        CHECK(utf8_whole(m));
        free(path);
    }
}

/* The message is per thread: a long one on one thread leaves another's alone. */
static void *other_thread(void *arg) {
    (void)arg;
    gids_error_set(GIDS_EINVAL, "t.c", 3, "other: short");
    return NULL;
}

TEST(messages_are_per_thread) {
    char *path = long_path(9000, 0);
    gids_error_set(GIDS_EIO, "f.c", 1, "'%s': %s", path, REASON);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, other_thread, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(ends_with(gids_error_message(), REASON) && mark_count(gids_error_message()) > 0);
    gids_error_prefix(GIDS_EIO, "p");
    CHECK(strncmp(gids_error_message(), "p: '/data/", 10) == 0);
    free(path);
}

int main(void) {
    RUN(status_names_and_messages);
    RUN(a_long_message_keeps_its_head_and_reason);
    RUN(prefixes_on_a_cut_message_keep_one_mark);
    RUN(a_long_prefix_on_a_short_message_stays_whole);
    RUN(a_message_may_quote_the_current_one);
    RUN(messages_are_per_thread);
    RUN(without_memory_for_the_whole_the_head_stays_and_the_mark_counts_the_rest);
    return check_summary("status");
}
