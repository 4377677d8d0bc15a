/* test_sums.c -- the accuracy and the order of f32 sums (sum_impl.h, reduce_core.c): a sum or
 * mean of a million f32 values is the correctly rounded exact sum on each of the engine's
 * paths (whole tensor, rows, columns), short rows add in order, a row summed among others has
 * the bits of the same row summed alone, whole runs and rows add in the documented order (on
 * data whose sum shows any other), and column sums are each column's rows in order, for every
 * width the masked narrow loop handles. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "helpers.h"

/* The exact sum of n floats at stride st to well under an f32 rounding: Neumaier's compensated
 * sum in f64 (its error is about n * 2^-106 of the sum of magnitudes). */
static double exact_sum(const float *p, int64_t n, int64_t st) {
    double s = 0, c = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = (double)p[i * st], t = s + x;
        c += fabs(s) >= fabs(x) ? (s - t) + x : (x - t) + s;
        s = t;
    }
    return s + c;
}

/* got (an f32 result) is within half an ulp of want, plus the slack of an f64 sum's own
 * rounding: the correctly rounded value but for a tie within 1e-6 ulp. */
static int rounded_from(double got, double want) {
    double ulp = (double)nextafterf((float)fabs(got), INFINITY) - fabs((double)(float)got);
    return fabs(got - want) <= ulp * (0.5 + 1e-6);
}

static gids_tensor *randn_f32(uint64_t seed, int nd, const int64_t *shape) {
    gids_generator g;
    gids_generator_init(&g, seed);
    gids_tensor *t = NULL;
    CHECK_OK(gids_randn(&t, &g, GIDS_F32, nd, shape));
    return t;
}

/* A float summation in f32, even pairwise or blocked, misses these by several ulps: the sum of
 * a million standard normals is about 1000, whose ulp is 6e-5. */
TEST(a_million_f32_values_sum_to_the_rounded_exact_sum) {
    int64_t n = 1000000, rc[2] = {1000, 1000};
    gids_tensor *v = randn_f32(11, 1, &n), *x = NULL, *o = NULL;
    CHECK_OK(gids_view(&x, v, 2, rc));
    const float *p = gids_tensor_data(v);
    CHECK_OK(gids_reduce(&o, GIDS_SUM, v, 0, NULL, false));
    double want = exact_sum(p, n, 1);
    if (!rounded_from(at(o, 0), want)) CHECK_FAIL_("sum %.9g, exact %.12g", at(o, 0), want);
    gids_tensor_release(o);
    CHECK_OK(gids_reduce(&o, GIDS_MEAN, v, 0, NULL, false));
    if (!rounded_from(at(o, 0), want / (double)n))
        CHECK_FAIL_("mean %.9g, exact %.12g", at(o, 0), want / (double)n);
    gids_tensor_release(o);
    /* rows (dim 1) and columns (dim 0) of the [1000, 1000] view, ten times the values so every
     * output's ulp is small against its terms */
    gids_tensor *x10 = NULL;
    CHECK_OK(gids_binary_scalar(&x10, GIDS_MUL, x, gids_scalar_f(10), false));
    const float *q = gids_tensor_data(x10);
    for (int dim = 0; dim < 2; dim++) {
        int d[1] = {dim};
        CHECK_OK(gids_reduce(&o, GIDS_SUM, x10, 1, d, false));
        int64_t bad = 0;
        for (int64_t i = 0; i < 1000; i++) {
            double w = dim == 1 ? exact_sum(q + i * 1000, 1000, 1) : exact_sum(q + i, 1000, 1000);
            bad += !rounded_from(at(o, i), w);
        }
        if (bad)
            CHECK_FAIL_("sum over dim %d: %lld of 1000 outputs not rounded", dim, (long long)bad);
        gids_tensor_release(o);
    }
    gids_tensor_release(x10);
    gids_tensor_release(x);
    gids_tensor_release(v);
}

/* Rows of every length from 1 to 40, 21 of them (two groups of eight and a remainder): each
 * output has the bits of its row summed as a tensor of its own, and a row under sixteen
 * elements is the f64 sum of its elements in order. */
TEST(row_sums_have_each_rows_own_bits) {
    for (int64_t len = 1; len <= 40; len++) {
        int64_t rc[2] = {21, len};
        gids_tensor *x = randn_f32(100 + (uint64_t)len, 2, rc), *o = NULL;
        int d1[1] = {1};
        CHECK_OK(gids_reduce(&o, GIDS_SUM, x, 1, d1, false));
        const float *p = gids_tensor_data(x);
        for (int64_t r = 0; r < 21; r++) {
            gids_tensor *row = vec_f32(len, p + r * len), *s = NULL;
            CHECK_OK(gids_reduce(&s, GIDS_SUM, row, 0, NULL, false));
            if (at(o, r) != at(s, 0))
                CHECK_FAIL_("len %lld row %lld: %.9g among others, %.9g alone", (long long)len,
                            (long long)r, at(o, r), at(s, 0));
            double seq = 0;
            for (int64_t k = 0; k < len; k++) seq += (double)p[r * len + k];
            if (len < 16 && at(o, r) != (double)(float)seq)
                CHECK_FAIL_("len %lld row %lld: %.9g, in order %.9g", (long long)len, (long long)r,
                            at(o, r), (double)(float)seq);
            gids_tensor_release(s);
            gids_tensor_release(row);
        }
        gids_tensor_release(o);
        gids_tensor_release(x);
    }
}

/* The order sum_impl.h documents for a contiguous run: lane j of sixteen takes the elements j,
 * j + 16, ... of the whole groups of sixteen, the lanes combine in a fixed tree, then the tail
 * in order.  The engine sums a run per output in blocks of 32768, each block's partial 0 plus
 * that sum, the partials added in block order. */
static double documented_sum_(const float *p, int64_t n) {
    double acc = 0;
    for (int64_t b0 = 0; b0 < n; b0 += 32768) {
        int64_t m = n - b0 < 32768 ? n - b0 : 32768, i = 0;
        const float *q = p + b0;
        double l[16] = {0}, v[4];
        for (; i + 16 <= m; i += 16)
            for (int j = 0; j < 16; j++) l[j] += (double)q[i + j];
        for (int k = 0; k < 4; k++) v[k] = (l[k] + l[4 + k]) + (l[8 + k] + l[12 + k]);
        double s = (v[0] + v[2]) + (v[1] + v[3]);
        for (; i < m; i++) s += (double)q[i];
        acc = b0 == 0 ? 0.0 + s : acc + (0.0 + s);
    }
    return acc;
}

/* n values: small integers, and about n / 256 pairs of +2^54 and -2^54 at random places.  A small
 * value added to a running 2^54 is lost (f64 keeps multiples of 4 there), so which small values
 * survive, and the (exact, small) result, depend on the order of the additions. */
static float *order_sensitive_(int64_t n, uint64_t seed) {
    float *p = malloc((size_t)n * sizeof *p);
    uint64_t r = seed;
    for (int64_t i = 0; i < n; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((int)(r >> 60) - 7);
    }
    for (int64_t k = 0; k <= n / 256; k++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        int64_t a = (int64_t)((r >> 20) % (uint64_t)n), b = (int64_t)((r >> 42) % (uint64_t)n);
        if (a != b) p[a] = 0x1p54f, p[b] = -0x1p54f;
    }
    return p;
}

/* Column sums and means over 300 rows for widths 1 to 40 (sixteen at a time in registers, the
 * rest masked) and 64 to 67 and 130 (64 or 32 at a time), on data whose sums show their order,
 * and of a strided view: each column's rows added in order. */
TEST(column_sums_add_each_columns_rows_in_order) {
    for (int64_t w = 1; w <= 130; w = w == 40 ? 64 : w == 67 ? 130 : w + 1) {
        int64_t rc[2] = {300, w};
        float *p = order_sensitive_(300 * w, 200 + (uint64_t)w);
        gids_tensor *x = from(GIDS_F32, 2, rc, p), *o = NULL, *m = NULL;
        int d0[1] = {0};
        CHECK_OK(gids_reduce(&o, GIDS_SUM, x, 1, d0, false));
        CHECK_OK(gids_reduce(&m, GIDS_MEAN, x, 1, d0, true));
        for (int64_t c = 0; c < w; c++) {
            double seq = 0; /* one column is a contiguous run, in the runs' order */
            for (int64_t r = 0; r < 300; r++) seq += (double)p[r * w + c];
            if (w == 1) seq = documented_sum_(p, 300);
            if (at(o, c) != (double)(float)seq || at(m, c) != (double)(float)(seq / 300))
                CHECK_FAIL_("width %lld column %lld: %.9g (mean %.9g), in order %.9g", (long long)w,
                            (long long)c, at(o, c), at(m, c), (double)(float)seq);
        }
        gids_tensor_release(m);
        gids_tensor_release(o);
        gids_tensor_release(x);
        free(p);
    }
    /* every other column of [300, 70]: 35 outputs at stride 2 take the generic path */
    int64_t rc[2] = {300, 70};
    int64_t vs[2] = {300, 35}, vst[2] = {70, 2};
    gids_tensor *x = randn_f32(7, 2, rc), *v = NULL, *o = NULL;
    CHECK_OK(gids_as_strided(&v, x, 2, vs, vst, 0));
    int d0[1] = {0};
    CHECK_OK(gids_reduce(&o, GIDS_SUM, v, 1, d0, false));
    const float *p = gids_tensor_data(x);
    for (int64_t c = 0; c < 35; c++) {
        double seq = 0;
        for (int64_t r = 0; r < 300; r++) seq += (double)p[r * 70 + 2 * c];
        CHECK(at(o, c) == (double)(float)seq);
    }
    gids_tensor_release(o);
    gids_tensor_release(v);
    gids_tensor_release(x);
}

/* Whole runs of one to two and a half blocks (the last one shorter, alone or beside a full
 * one), and rows of 1 to 70 and 1000 elements (eight short rows at a time, longer ones two at
 * a time), on data whose sum depends on the order: each output has the documented order's
 * bits. */
TEST(sums_add_in_the_documented_order) {
    static const int64_t runs[] = {32768, 32769, 65536, 65541, 98404, 131073, 250000};
    for (size_t k = 0; k < sizeof runs / sizeof *runs; k++) {
        int64_t n = runs[k];
        float *p = order_sensitive_(n, 40 + k);
        gids_tensor *v = vec_f32(n, p), *o = NULL;
        CHECK_OK(gids_reduce(&o, GIDS_SUM, v, 0, NULL, false));
        double want = documented_sum_(p, n);
        if (at(o, 0) != (double)(float)want)
            CHECK_FAIL_("run of %lld: %.9g, in the documented order %.9g", (long long)n, at(o, 0),
                        want);
        gids_tensor_release(o);
        gids_tensor_release(v);
        free(p);
    }
    for (int64_t len = 1; len <= 1000; len = len < 70 ? len + 1 : 1000) {
        int64_t rc[2] = {37, len};
        float *p = order_sensitive_(rc[0] * len, 500 + (uint64_t)len);
        gids_tensor *x = from(GIDS_F32, 2, rc, p), *o = NULL;
        int d1[1] = {1};
        CHECK_OK(gids_reduce(&o, GIDS_SUM, x, 1, d1, false));
        int64_t bad = 0;
        for (int64_t r = 0; r < rc[0]; r++)
            bad += at(o, r) != (double)(float)documented_sum_(p + r * len, len);
        if (bad)
            CHECK_FAIL_("rows of %lld: %lld of 37 not in the documented order", (long long)len,
                        (long long)bad);
        gids_tensor_release(o);
        gids_tensor_release(x);
        free(p);
        if (len == 1000) break;
    }
}

/* A long run's blocks whose partials are 2^54, 1, -2^54, 1 and 3: the blocks' order (two of
 * them summed side by side) gives 4 (2^54 + 1 rounds back to 2^54, the later 1 and 3 stay);
 * any other pairing gives another sum. */
TEST(long_sums_add_their_blocks_in_order) {
    int64_t n = 5 * 32768 - 7;
    float *p = calloc((size_t)n, sizeof *p);
    p[5] = 0x1p54f, p[32768 + 100] = 1, p[2 * 32768 + 7] = -0x1p54f, p[3 * 32768 + 3000] = 1;
    p[4 * 32768 + 9] = 3;
    gids_tensor *v = vec_f32(n, p), *o = NULL;
    CHECK_OK(gids_reduce(&o, GIDS_SUM, v, 0, NULL, false));
    CHECK(at(o, 0) == 4 && documented_sum_(p, n) == 4);
    gids_tensor_release(o);
    gids_tensor_release(v);
    free(p);
}

/* Above the parallel grain, every path gives the same bits on one thread and on several. */
/* (The adaptive team is off here: on a loaded machine it would run both counts on one thread,
 * while the column tiles' width follows the thread count.) */
TEST(sums_are_thread_independent) {
    int64_t shapes[4][2] = {{1000, 1000}, {100000, 10}, {10, 100000}, {8192, 128}};
    gids_redop ops[3] = {GIDS_MEAN, GIDS_SUM, GIDS_AMAX};
    int saved = omp_get_max_threads();
    bool adaptive = gids_set_adaptive_threads(false);
    for (int s = 0; s < 4; s++) {
        gids_tensor *x = randn_f32(300 + (uint64_t)s, 2, shapes[s]);
        for (int op = 0; op < 3; op++)
            for (int dim = 0; dim < 2; dim++) {
                int d[1] = {dim};
                gids_tensor *o[2] = {NULL, NULL};
                for (int k = 0; k < 2; k++) {
                    omp_set_num_threads(k == 0 ? 1 : (saved > 1 ? saved : 2));
                    CHECK_OK(gids_reduce(&o[k], ops[op], x, 1, d, false));
                }
                int64_t n = gids_tensor_numel(o[0]);
                if (memcmp(gids_tensor_data(o[0]), gids_tensor_data(o[1]), (size_t)n * 4) != 0)
                    CHECK_FAIL_("op %d of [%lld, %lld] over dim %d differs between thread counts",
                                op, (long long)shapes[s][0], (long long)shapes[s][1], dim);
                gids_tensor_release(o[0]);
                gids_tensor_release(o[1]);
            }
        gids_tensor_release(x);
    }
    gids_set_adaptive_threads(adaptive);
    omp_set_num_threads(saved);
}

int main(void) {
    RUN(a_million_f32_values_sum_to_the_rounded_exact_sum);
    RUN(row_sums_have_each_rows_own_bits);
    RUN(column_sums_add_each_columns_rows_in_order);
    RUN(sums_add_in_the_documented_order);
    RUN(long_sums_add_their_blocks_in_order);
    RUN(sums_are_thread_independent);
    return check_summary("sums");
}
