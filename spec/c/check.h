/* check.h -- a minimal test harness for the C specs (built with ASan + UBSan).
 *
 *   TEST(adds_two_tensors) { ... CHECK(x == 3); CHECK_OK(gids_zeros(&t, ...)); }
 *   int main(void) { RUN(adds_two_tensors); return check_summary("tensor"); }
 *
 * A test passes when every CHECK in it holds.  check_summary prints
 * "<suite>: N passed, N failed" (tools/run-tests.sh adds these up) and returns the exit code.
 */
#ifndef GIDS_CHECK_H
#define GIDS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gids/graphids.h"

static int check_passed_, check_failed_, check_test_failed_;
static const char *check_current_;

#define TEST(name) static void name(void)
#define RUN(name)                                                                                  \
    do {                                                                                           \
        check_current_ = #name;                                                                    \
        check_test_failed_ = 0;                                                                    \
        name();                                                                                    \
        if (check_test_failed_)                                                                    \
            check_failed_++;                                                                       \
        else                                                                                       \
            check_passed_++;                                                                       \
    } while (0)

#define CHECK_FAIL_(...)                                                                           \
    do {                                                                                           \
        check_test_failed_ = 1;                                                                    \
        fprintf(stderr, "FAIL %s (%s:%d): ", check_current_, __FILE__, __LINE__);                  \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) CHECK_FAIL_("%s", #cond);                                                     \
    } while (0)
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        gids_status s_ = (expr);                                                                   \
        if (s_ != GIDS_OK)                                                                         \
            CHECK_FAIL_("%s -> %s: %s", #expr, gids_status_name(s_), gids_error_message());        \
    } while (0)
/* Expects the status `code` and a message containing `needle`. */
#define CHECK_ERR(expr, code, needle)                                                              \
    do {                                                                                           \
        gids_status s_ = (expr);                                                                   \
        if (s_ != (code))                                                                          \
            CHECK_FAIL_("%s -> %s, expected %s", #expr, gids_status_name(s_),                      \
                        gids_status_name(code));                                                   \
        else if (!strstr(gids_error_message(), (needle)))                                          \
            CHECK_FAIL_("%s: message '%s' lacks '%s'", #expr, gids_error_message(), (needle));     \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        if (!(fabs(a_ - b_) <= (tol) * (1.0 + fabs(b_))))                                          \
            CHECK_FAIL_("%s = %.9g, expected %.9g (tol %g)", #a, a_, b_, (double)(tol));           \
    } while (0)

static inline int check_summary(const char *suite) {
    printf("%s: %d passed, %d failed\n", suite, check_passed_, check_failed_);
    return check_failed_ ? 1 : 0;
}

#endif
