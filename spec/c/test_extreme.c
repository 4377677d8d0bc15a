/* test_extreme.c -- max/min along a dim with positions, against a naive first-extreme walk, for
 * every kernel extreme.c chooses: long contiguous rows over several blocks, tiles of columns
 * with a short last tile, strided tiles of short rows, and the lone output's walk; with repeated
 * extremes across blocks, NaNs (the first one wins), -0 beside +0 (the earlier one wins, sign
 * kept), integers, and thread counts 1 and 2. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

/* The expected first extreme of x[0], x[step], ..., as a plain walk. */
static int64_t naive_first(const double *x, int64_t n, int64_t step, bool is_max) {
    int64_t bi = 0;
    for (int64_t k = 1; k < n && x[bi * step] == x[bi * step]; k++) {
        double v = x[k * step], b = x[bi * step];
        if (v != v || (is_max ? v > b : v < b)) bi = k;
    }
    return bi;
}

/* Values with many ties: a few levels, so the extreme recurs in several blocks. */
static void fill(double *x, int64_t n, unsigned seed) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (double)((seed >> 16) % 7) - 3.0;
    }
}

/* Checks max/min (values and positions) of `a` along `dim` against the naive walk over the
 * f64 copy `ref` laid out [outer, size, inner] for that dim. */
static void check_against_naive(gids_tensor *a, int dim, const double *ref, int64_t outer,
                                int64_t size, int64_t inner, const char *what) {
    for (int mx = 0; mx < 2; mx++) {
        gids_tensor *v = NULL, *ix = NULL;
        CHECK_OK(mx ? gids_max_dim(&v, &ix, a, dim, false) : gids_min_dim(&v, &ix, a, dim, false));
        const int64_t *iv = gids_tensor_data(ix);
        int bad = 0;
        for (int64_t o = 0; o < outer && bad < 3; o++)
            for (int64_t c = 0; c < inner && bad < 3; c++) {
                const double *x = ref + o * size * inner + c;
                int64_t want = naive_first(x, size, inner, mx);
                int64_t out = o * inner + c;
                double got = at(v, out), w = x[want * inner];
                bool same_val = (got != got && w != w) || (got == w && signbit(got) == signbit(w));
                if (iv[out] != want || !same_val) {
                    CHECK_FAIL_("%s %s output %lld: position %lld value %g, want %lld %g", what,
                                mx ? "max" : "min", (long long)out, (long long)iv[out], got,
                                (long long)want, w);
                    bad++;
                }
            }
        gids_tensor_release(v);
        gids_tensor_release(ix);
    }
}

static gids_tensor *tensor_of(gids_dtype dt, int nd, const int64_t *shape, const double *x) {
    gids_tensor *t = NULL, *d = from(GIDS_F64, nd, shape, x);
    CHECK_OK(gids_to_dtype(&t, d, dt));
    gids_tensor_release(d);
    return t;
}

TEST(rows_of_several_blocks) {
    enum { R = 6, C = 3000 };
    static double x[R * C];
    fill(x, R * C, 1);
    x[0 * C + 2500] = 9; /* row 0: a unique max in the third block */
    x[1 * C + 10] = 9;   /* row 1: the max in block 0 and again in block 2 */
    x[1 * C + 2100] = 9;
    x[2 * C + 1500] = NAN; /* row 2: a NaN after the max */
    x[2 * C + 5] = 9;
    x[2 * C + 2999] = NAN;
    x[3 * C + 1024] = -9; /* row 3: min at a block edge, max past the last block's 16-lane steps */
    x[3 * C + 2998] = 9;
    for (int k = 0; k < C; k++) x[4 * C + k] = k < 2000 ? 0.0 : -0.0; /* row 4: zeros */
    x[4 * C + 1500] = -0.0;
    for (int k = 0; k < C; k++) x[5 * C + k] = k % 2 ? -0.0 : 0.0;
    int64_t s[2] = {R, C};
    const gids_dtype dts[3] = {GIDS_F32, GIDS_F64, GIDS_I64};
    for (int d = 0; d < 3; d++) {
        if (dts[d] == GIDS_I64) x[2 * C + 1500] = x[2 * C + 2999] = 1; /* no NaN in integers */
        gids_tensor *a = tensor_of(dts[d], 2, s, x);
        check_against_naive(a, 1, x, R, C, 1, gids_dtype_name(dts[d]));
        gids_tensor_release(a);
    }
}

TEST(tiles_of_strided_columns) {
    enum { R = 300, C = 130 }; /* columns: two full tiles of 64 and one of 2 */
    static double x[R * C];
    fill(x, R * C, 2);
    x[17 * C + 3] = NAN; /* and a second NaN below it: the first one stays */
    x[200 * C + 3] = NAN;
    x[250 * C + 3] = 9;
    x[5 * C + 64] = 9;
    x[6 * C + 64] = 9;
    x[0 * C + 129] = NAN;
    for (int r = 0; r < R; r++) x[r * C + 128] = r % 3 ? 0.0 : -0.0;
    int64_t s[2] = {R, C};
    gids_tensor *a = tensor_of(GIDS_F32, 2, s, x);
    check_against_naive(a, 0, x, 1, R, C, "f32 columns");
    gids_tensor_release(a);
    a = tensor_of(GIDS_F64, 2, s, x);
    check_against_naive(a, 0, x, 1, R, C, "f64 columns");
    gids_tensor_release(a);
    for (int i = 0; i < R * C; i++)
        x[i] = x[i] != x[i] ? 4 : x[i] + 0.0; /* integers: no NaN, no -0 */
    a = tensor_of(GIDS_I32, 2, s, x);         /* widened to i64 */
    check_against_naive(a, 0, x, 1, R, C, "i32 columns");
    gids_tensor_release(a);
}

/* A transposed view reduced along its (strided) last dim, and a [3, 100, 5] along the middle
 * dim (tiles of 5 in each of 3 outer blocks), each with 1 and 2 threads. */
TEST(other_layouts_and_thread_counts) {
    enum { R = 200, C = 70 };
    static double x[R * C], xt[C * R];
    fill(x, R * C, 3);
    x[33 * C + 7] = NAN;
    int64_t s[2] = {R, C};
    gids_tensor *a = tensor_of(GIDS_F32, 2, s, x), *t = NULL;
    CHECK_OK(gids_transpose(&t, a, 0, 1)); /* [C, R], reduce along R: stride C */
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) xt[j * R + i] = x[i * C + j];
    int saved = omp_get_max_threads();
    for (int th = 1; th <= 2; th++) {
        omp_set_num_threads(th);
        check_against_naive(t, 1, xt, C, R, 1, "transposed");
        int64_t s3[3] = {3, 100, 5};
        gids_tensor *b = tensor_of(GIDS_F64, 3, s3, x);
        check_against_naive(b, 1, x, 3, 100, 5, "middle dim");
        gids_tensor_release(b);
    }
    omp_set_num_threads(saved);
    gids_tensor_release(t);
    gids_tensor_release(a);
}

/* Short contiguous rows go in strided tiles (a lane per row); a kept dim of size 1 is dropped
 * from the walk; a lone 1-D output of a short or strided dim walks it alone. */
TEST(short_rows_and_lone_outputs) {
    enum { R = 150, C = 10 };
    static double x[R * C];
    fill(x, R * C, 4);
    x[7 * C + 2] = NAN;
    x[7 * C + 8] = NAN;
    x[9 * C + 0] = 9;
    x[9 * C + 9] = 9;
    for (int k = 0; k < C; k++) x[11 * C + k] = k % 3 ? -0.0 : 0.0;
    int64_t s[2] = {R, C}, s3[3] = {R, 1, C};
    gids_tensor *a = tensor_of(GIDS_F32, 2, s, x);
    check_against_naive(a, 1, x, R, C, 1, "short rows");
    gids_tensor_release(a);
    a = tensor_of(GIDS_F64, 3, s3, x);
    check_against_naive(a, 2, x, R, C, 1, "short rows, a kept dim of 1");
    gids_tensor_release(a);
    int64_t n = 50;
    a = tensor_of(GIDS_F32, 1, &n, x + 60); /* x[70..79]: 1-D with a NaN at 12 */
    check_against_naive(a, 0, x + 60, 1, 50, 1, "1-D");
    gids_tensor *m = tensor_of(GIDS_F64, 2, s, x), *col = NULL;
    CHECK_OK(gids_select(&col, m, 1, 2)); /* column 2: stride C */
    static double colx[R];
    for (int i = 0; i < R; i++) colx[i] = x[i * C + 2];
    check_against_naive(col, 0, colx, 1, R, 1, "a column view");
    gids_tensor_release(col);
    gids_tensor_release(m);
    gids_tensor_release(a);
}

int main(void) {
    RUN(rows_of_several_blocks);
    RUN(tiles_of_strided_columns);
    RUN(other_layouts_and_thread_counts);
    RUN(short_rows_and_lone_outputs);
    return check_summary("extreme");
}
