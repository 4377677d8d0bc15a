/* test_team.c -- parallel regions on one thread while their second thread is only waited for
 * (runtime/src/core/team.c): when, and that nothing rounds differently. */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "gids/rnn.h"
#include "helpers.h"

extern int openblas_get_num_threads(void);

static gids_tensor *randn(gids_dtype dt, int ndim, const int64_t *shape) {
    gids_tensor *t = NULL;
    CHECK_OK(gids_randn(&t, NULL, dt, ndim, shape));
    return t;
}

static int64_t now_ns(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Runs until this thread's CPU clock has advanced by ns. */
static void burn(int64_t ns) {
    int64_t end = now_ns(CLOCK_THREAD_CPUTIME_ID) + ns;
    while (now_ns(CLOCK_THREAD_CPUTIME_ID) < end) {
    }
}

/* One region of 2 threads in which thread 1 sleeps for sleep_us and each thread burns burn_ns
 * of CPU; returns the team it got. */
static int region(int sleep_us, int64_t burn_ns) {
    int team = 0;
#pragma omp parallel num_threads(2)
    {
        if (omp_get_thread_num() == 0) team = omp_get_num_threads();
        if (omp_get_thread_num() == 1 && sleep_us > 0) usleep((useconds_t)sleep_us);
        if (burn_ns > 0) burn(burn_ns);
    }
    return team;
}

/* Regions whose second thread starts 2 ms late and has nothing to do (what a core taken by
 * another process looks like) until one runs on one thread; the regions it took, or -1. */
static int regions_until_alone(void) {
    for (int i = 1; i <= 400; i++)
        if (region(2000, 0) == 1) return i;
    return -1;
}

/* Alone for the longest stretch (1.6 s): every stretch ends with a window of timed regions, and
 * each that does not pay doubles the next stretch (50, 100, ... ms). */
static void alone_for_long(void) {
    for (int k = 0; k < 6; k++) {
        while (region(0, 0) == 1) usleep(5000);
        CHECK(regions_until_alone() > 0);
    }
}

TEST(a_region_whose_second_thread_is_only_waited_for_goes_to_one_thread) {
    int old = gids_get_num_threads();
    gids_set_num_threads(2);
    int n = regions_until_alone();
    CHECK(n > 0);
    /* a window is 8 timed regions, one in 4 timed */
    CHECK(n <= 40);
    /* and stays there meanwhile, whatever the regions do */
    CHECK(region(0, 1000000) == 1);
    gids_set_num_threads(old);
}

TEST(the_team_comes_back_once_it_pays) {
    int old = gids_get_num_threads();
    gids_set_num_threads(2);
    CHECK(regions_until_alone() > 0);
    /* regions of 3 ms of CPU on each thread: two threads take about half the time of one; the
     * first window after the 50 ms stretch (longer on a loaded machine: up to 1.6 s) says so */
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    int back = 0;
    while (!back && now_ns(CLOCK_MONOTONIC) - t0 < 8000000000LL) back = region(0, 3000000) == 2;
    CHECK(back);
    gids_set_num_threads(old);
}

TEST(off_every_region_gets_its_team) {
    int old = gids_get_num_threads();
    gids_set_num_threads(2);
    CHECK(gids_set_adaptive_threads(false) == true);
    CHECK(!gids_adaptive_threads());
    int alone = 0;
    for (int i = 0; i < 60; i++) alone += region(2000, 0) == 1;
    CHECK(alone == 0);
    CHECK(gids_set_adaptive_threads(true) == false);
    gids_set_num_threads(old);
}

/* c <- a @ b (f64 and f32) and a bidirectional LSTM's forward and backward, with or without
 * the regions on one thread; each result's bytes appended to buf. */
typedef struct {
    char *p;
    size_t n;
} bytes;

static void put(bytes *b, gids_tensor *t) {
    if (t == NULL) return;
    size_t k = (size_t)gids_tensor_numel(t) * gids_dtype_size(t->dtype);
    b->p = realloc(b->p, b->n + k);
    memcpy(b->p + b->n, gids_tensor_data(t), k);
    b->n += k;
    gids_tensor_release(t);
}

static bytes products(void) {
    bytes b = {NULL, 0};
    gids_manual_seed(7);
    /* [256, 3000] x [3000, 16]: matmul.c's two row blocks of 128 rows, each a product OpenBLAS
     * threads when it is not inside an active region */
    int64_t sa[2] = {256, 3000}, sb[2] = {3000, 16};
    for (int k = 0; k < 2; k++) {
        gids_dtype dt = k == 0 ? GIDS_F64 : GIDS_F32;
        gids_tensor *a = randn(dt, 2, sa), *w = randn(dt, 2, sb), *c = NULL;
        CHECK_OK(gids_mm(&c, a, w));
        put(&b, c);
        gids_tensor_release(a), gids_tensor_release(w);
    }
    /* the JK LSTM's shape at 2 048 nodes: T 2, C = H = 96 */
    int64_t T = 2, N = 2048, C = 96, H = 96;
    int64_t xs[3] = {T, N, C}, ih[2] = {4 * H, C}, hh[2] = {4 * H, H}, bs[1] = {4 * H};
    gids_tensor *x = randn(GIDS_F32, 3, xs), *w[8];
    for (int d = 0; d < 2; d++) {
        w[4 * d] = randn(GIDS_F32, 2, ih);
        w[4 * d + 1] = randn(GIDS_F32, 2, hh);
        w[4 * d + 2] = randn(GIDS_F32, 1, bs);
        w[4 * d + 3] = randn(GIDS_F32, 1, bs);
    }
    gids_tensor *out = NULL, *act = NULL, *c = NULL, *g_x = NULL, *g_w[8] = {NULL};
    bool want[8] = {true, true, true, true, true, true, true, true};
    CHECK_OK(gids_bilstm(&out, &act, &c, x, (const gids_tensor *const *)w));
    if (out != NULL) {
        CHECK_OK(gids_bilstm_backward(&g_x, g_w, want, out, x, (const gids_tensor *const *)w, out,
                                      act, c));
    }
    put(&b, g_x);
    for (int k = 0; k < 8; k++) put(&b, g_w[k]);
    put(&b, out), put(&b, act), put(&b, c);
    gids_tensor_release(x);
    for (int k = 0; k < 8; k++) gids_tensor_release(w[k]);
    return b;
}

TEST(products_on_one_thread_round_as_on_two) {
    int old = gids_get_num_threads();
    gids_set_num_threads(2);
    int blas = openblas_get_num_threads(), omp = omp_get_max_threads();
    gids_set_adaptive_threads(false);
    bytes two = products();
    gids_set_adaptive_threads(true);
    alone_for_long();
    bytes one = products();
    CHECK(region(0, 0) == 1); /* still alone: the products ran on one thread */
    CHECK(two.n > 0 && two.n == one.n);
    CHECK(two.n == one.n && memcmp(two.p, one.p, two.n) == 0);
    /* OpenBLAS's thread count and this thread's OpenMP count as they were */
    CHECK(openblas_get_num_threads() == blas);
    CHECK(omp_get_max_threads() == omp);
    free(two.p), free(one.p);
    gids_set_num_threads(old);
}

int main(void) {
    RUN(a_region_whose_second_thread_is_only_waited_for_goes_to_one_thread);
    RUN(the_team_comes_back_once_it_pays);
    RUN(off_every_region_gets_its_team);
    RUN(products_on_one_thread_round_as_on_two);
    return check_summary("team");
}
