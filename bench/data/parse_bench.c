/* parse_bench.c -- parse-only throughput of the CAN readers: every CSV under a dataset folder
 * (default ../shared/data/can/hcrl_sa) read with gids_can_read_many (files in parallel), the
 * median of several runs, in frames/s.
 *
 *   build/bench/parse_bench [DIR] [RUNS]
 *
 * Prints one line per run on stderr, then one row for tools/run-bench.sh's table:
 *   can_parse_mfps <Mframes/s> Mframe/s <ratio to the 10 M/s target> 1.0 (<detail>) */
#include <dirent.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gids/can.h"

enum { MAX_FILES = 1024 };

static char *paths[MAX_FILES];
static int npaths;

/* Collects the *.csv / *.log files under dir, recursively, in name order. */
static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect(const char *dir) {
    struct dirent **list = NULL;
    int n = scandir(dir, &list, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *nm = list[i]->d_name;
        if (nm[0] != '.' && npaths < MAX_FILES) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, nm);
            struct stat st;
            size_t len = strlen(nm);
            if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
                collect(path);
            else if (len > 4 && (!strcmp(nm + len - 4, ".csv") || !strcmp(nm + len - 4, ".log")))
                paths[npaths++] = strdup(path);
        }
        free(list[i]);
    }
    free(list);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "../shared/data/can/hcrl_sa";
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    if (runs < 1 || runs > 100) runs = 7;
    collect(dir);
    if (npaths == 0) {
        fprintf(stderr, "skipped: no .csv/.log files under %s\n", dir);
        return 0;
    }
    qsort(paths, (size_t)npaths, sizeof *paths, by_name);
    gids_can_frames *f = calloc((size_t)npaths, sizeof *f);
    double times[100] = {0};
    int64_t frames = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        gids_status s = gids_can_read_many((const char *const *)paths, npaths, NULL, f, NULL);
        times[r] = now() - t0;
        if (s != GIDS_OK) {
            fprintf(stderr, "parse_bench: %s\n", gids_error_message());
            return 1;
        }
        frames = 0;
        for (int i = 0; i < npaths; i++) {
            frames += f[i].n;
            gids_can_frames_free(&f[i]);
        }
        fprintf(stderr, "run %d: %.1f ms\n", r + 1, 1e3 * times[r]);
    }
    qsort(times, (size_t)runs, sizeof *times, cmp_double);
    double med = times[runs / 2];
    double mfps = 1e-6 * (double)frames / med;
    printf("can_parse_mfps %.1f Mframe/s %.2f 1.0 (%d files, %lld frames, %d threads, median %.1f "
           "ms of %d runs; target 10 Mframe/s)\n",
           mfps, mfps / 10.0, npaths, (long long)frames, omp_get_max_threads(), 1e3 * med, runs);
    for (int i = 0; i < npaths; i++) free(paths[i]);
    free(f);
    return 0;
}
