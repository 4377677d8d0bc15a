/* test_nvml.c -- gids/nvml.h against the stand-in library spec/c/fake_nvml.c (FAKE_NVML_SO).
 *
 * NVML is opened once per process, so each way of opening it (the stand-in, a file that does
 * not load, one without NVML's functions, a driver that does not initialise) runs in a child
 * process of its own; the child's checks come back as its exit status.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* Runs fn in a child with GIDS_NVML_LIBRARY = lib and GIDS_FAKE_NVML_FAIL = fail (NULL:
 * unset); true when the child's checks all held. */
static bool in_child(const char *lib, const char *fail, void (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("GIDS_NVML_LIBRARY", lib, 1);
        unsetenv("GIDS_FAKE_NVML_COUNT");
        unsetenv("GIDS_FAKE_NVML_UTIL");
        if (fail != NULL)
            setenv("GIDS_FAKE_NVML_FAIL", fail, 1);
        else
            unsetenv("GIDS_FAKE_NVML_FAIL");
        fn();
        fflush(NULL);
        _exit(check_test_failed_ ? 1 : 0);
    }
    int st = 0;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void reads_the_fake(void) {
    int n = -1;
    CHECK_OK(gids_nvml_device_count(&n));
    CHECK(n == 2);
    gids_nvml_reading r;
    CHECK_OK(gids_nvml_read(1, &r));
    CHECK(r.has_memory && r.has_utilization && r.has_power);
    CHECK(r.memory_total == 80000000000ull && r.memory_used == 11000000000ull);
    CHECK(r.utilization == 40);
    CHECK(r.power_mw == 200000 && r.power_limit_mw == 700000);
    CHECK(r.missing[0] == '\0');
    CHECK_ERR(gids_nvml_read(2, &r), GIDS_EINDEX, "device 2 does not exist (NVML counts 2)");
    CHECK_ERR(gids_nvml_read(-1, &r), GIDS_EINDEX, "device -1");
    CHECK_ERR(gids_nvml_read(0, NULL), GIDS_EINVAL, "out is NULL");
    /* a reading the board refuses is left out and named; the others stay */
    setenv("GIDS_FAKE_NVML_FAIL", "utilization,limit", 1);
    CHECK_OK(gids_nvml_read(0, &r));
    CHECK(r.has_memory && !r.has_utilization && !r.has_power);
    CHECK(strcmp(r.missing, "utilization: Not Supported; power: Not Supported") == 0);
    setenv("GIDS_FAKE_NVML_FAIL", "handle", 1);
    CHECK_ERR(gids_nvml_read(0, &r), GIDS_EDEVICE, "device 0: Not Supported");
    setenv("GIDS_FAKE_NVML_FAIL", "count", 1);
    CHECK_ERR(gids_nvml_device_count(&n), GIDS_EDEVICE, "Not Supported");
    CHECK(n == 0);
}

TEST(reads_every_device_and_names_what_is_missing) {
    CHECK(in_child(FAKE_NVML_SO, NULL, reads_the_fake));
}

static void refuses_to_initialise(void) {
    int n = 5;
    CHECK_ERR(gids_nvml_device_count(&n), GIDS_EDEVICE, "does not initialise: Driver Not Loaded");
    CHECK(n == 0);
    gids_nvml_reading r;
    /* the first failure is kept: no second attempt, the same message */
    CHECK_ERR(gids_nvml_read(0, &r), GIDS_EDEVICE, "does not initialise: Driver Not Loaded");
}

TEST(a_driver_that_does_not_initialise_is_edevice) {
    CHECK(in_child(FAKE_NVML_SO, "init", refuses_to_initialise));
}

static void names_the_setting(void) {
    int n;
    CHECK_ERR(gids_nvml_device_count(&n), GIDS_EINVAL,
              "GIDS_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1 does not load");
}

TEST(a_library_setting_that_does_not_load_is_einval) {
    CHECK(in_child("/nonexistent/libnvidia-ml.so.1", NULL, names_the_setting));
}

/* A long setting is named twice (by the message and by the loader's own); the reason stays at
 * the end (once cut at 1 KiB). */
static void keeps_the_reason_after_a_long_setting(void) {
    int n;
    CHECK_ERR(gids_nvml_device_count(&n), GIDS_EINVAL, "GIDS_NVML_LIBRARY=/nonexistent/d");
    const char *m = gids_error_message(), *reason = "No such file or directory";
    CHECK(strlen(m) > strlen(reason) && strcmp(m + strlen(m) - strlen(reason), reason) == 0);
}

TEST(a_long_library_setting_keeps_the_reason) {
    char lib[4000] = "/nonexistent";
    for (int d = 0; d < 19; d++) {
        size_t k = strlen(lib);
        lib[k] = '/';
        memset(lib + k + 1, 'd', 200);
        lib[k + 201] = '\0';
    }
    strcat(lib, "/libnvidia-ml.so.1");
    CHECK(in_child(lib, NULL, keeps_the_reason_after_a_long_setting));
}

static void names_the_function(void) {
    int n;
    CHECK_ERR(gids_nvml_device_count(&n), GIDS_EINVAL, "has no function nvmlInit_v2");
}

TEST(a_library_that_is_not_nvml_is_einval) {
    /* libm loads but has no NVML function */
    CHECK(in_child("libm.so.6", NULL, names_the_function));
}

int main(void) {
    RUN(reads_every_device_and_names_what_is_missing);
    RUN(a_driver_that_does_not_initialise_is_edevice);
    RUN(a_library_setting_that_does_not_load_is_einval);
    RUN(a_long_library_setting_keeps_the_reason);
    RUN(a_library_that_is_not_nvml_is_einval);
    return check_summary("nvml");
}
