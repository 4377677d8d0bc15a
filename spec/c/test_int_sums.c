/* test_int_sums.c -- reductions of integer and bool inputs (reduce_core.c), which the engine
 * reads as they are and folds in i64: on each of its paths (whole runs, rows, columns, several
 * blocks, transposed, strided and expanded views, keepdim, empty dims), sum and prod give the
 * wrapping i64 sum and product of the widened elements, amax/amin keep the input's dtype and
 * any/all give bool, against a fold written out here; sums and products past the input dtype's
 * range (and past i64's) give torch's values, written out; and no i64 copy of the input is made.
 * test_sums.c covers the float sums. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static const gids_dtype dtypes_[4] = {GIDS_BOOL, GIDS_U8, GIDS_I32, GIDS_I64};
static const gids_redop ops_[6] = {GIDS_SUM, GIDS_PROD, GIDS_AMAX, GIDS_AMIN, GIDS_ANY, GIDS_ALL};

static uint64_t next_(uint64_t *r) {
    *r = *r * 6364136223846793005ull + 1442695040888963407ull;
    return *r >> 11;
}

/* n elements of dtype dt: a quarter the dtype's extremes, a quarter small (-2..2, so products
 * stay non-zero for a while), the rest anywhere in its range. */
static gids_tensor *values_(gids_dtype dt, int nd, const int64_t *shape, uint64_t seed) {
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    void *buf = malloc((size_t)(n > 0 ? n : 1) * gids_dtype_size(dt));
    uint64_t r = seed;
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = next_(&r) % 4, v = next_(&r) ^ (next_(&r) << 42);
        int64_t small = (int64_t)(v % 5) - 2;
        switch (dt) {
        case GIDS_BOOL: ((uint8_t *)buf)[i] = v & 1; break;
        case GIDS_U8:
            ((uint8_t *)buf)[i] = k == 0   ? 255 * (v & 1)
                                  : k == 1 ? (uint8_t)(small + 2)
                                           : (uint8_t)v;
            break;
        case GIDS_I32:
            ((int32_t *)buf)[i] = k == 0   ? (v & 1 ? INT32_MAX : INT32_MIN)
                                  : k == 1 ? (int32_t)small
                                           : (int32_t)(uint32_t)v;
            break;
        default:
            ((int64_t *)buf)[i] = k == 0   ? (v & 1 ? INT64_MAX : INT64_MIN)
                                  : k == 1 ? small
                                           : (int64_t)v;
            break;
        }
    }
    gids_tensor *t = from(dt, nd, shape, buf);
    free(buf);
    return t;
}

/* The reduction of x (any view) over the dims in mask, folded element by element in row-major
 * order with u64 arithmetic, into want[n_out] (row-major over the kept dims). */
static void reference_(const gids_tensor *x, gids_redop op, uint32_t mask, int64_t *want,
                       int64_t n_out) {
    int64_t id = op == GIDS_AMAX                    ? INT64_MIN
                 : op == GIDS_AMIN                  ? INT64_MAX
                 : op == GIDS_SUM || op == GIDS_ANY ? 0
                                                    : 1;
    for (int64_t o = 0; o < n_out; o++) want[o] = id;
    int64_t n = gids_tensor_numel(x);
    for (int64_t flat = 0; flat < n; flat++) {
        int64_t o = 0, scale = 1, rest = flat;
        for (int d = x->ndim - 1; d >= 0; d--) {
            int64_t idx = rest % x->shape[d];
            rest /= x->shape[d];
            if (!(mask & (1u << d))) o += idx * scale, scale *= x->shape[d];
        }
        int64_t v = at_i(x, flat), *w = &want[o];
        switch (op) {
        case GIDS_SUM: *w = (int64_t)((uint64_t)*w + (uint64_t)v); break;
        case GIDS_PROD: *w = (int64_t)((uint64_t)*w * (uint64_t)v); break;
        case GIDS_AMAX: *w = v > *w ? v : *w; break;
        case GIDS_AMIN: *w = v < *w ? v : *w; break;
        case GIDS_ANY: *w = *w || v != 0; break;
        default: *w = *w && v != 0; break;
        }
    }
}

/* Every op of ops_ over dims (ndims of them; 0: all), with and without keepdim, against
 * reference_: values, dtype and element count.  amax/amin over an empty dim must fail. */
static void check_all_ops_(const gids_tensor *x, int ndims, const int *dims, const char *what) {
    uint32_t mask = 0;
    int64_t n_out = 1, n_red = 1;
    for (int d = 0; d < x->ndim; d++) {
        bool red = ndims == 0;
        for (int k = 0; k < ndims; k++) red |= dims[k] == d;
        if (red)
            mask |= 1u << d, n_red *= x->shape[d];
        else
            n_out *= x->shape[d];
    }
    int64_t *want = malloc((size_t)(n_out > 0 ? n_out : 1) * sizeof *want);
    for (int k = 0; k < 6; k++) {
        gids_redop op = ops_[k];
        bool extreme = op == GIDS_AMAX || op == GIDS_AMIN;
        gids_dtype dt = extreme                            ? x->dtype
                        : op == GIDS_ANY || op == GIDS_ALL ? GIDS_BOOL
                                                           : GIDS_I64;
        reference_(x, op, mask, want, n_out);
        for (int keep = 0; keep < 2; keep++) {
            gids_tensor *o = NULL;
            gids_status st = gids_reduce(&o, op, x, ndims, dims, keep);
            if (extreme && n_red == 0 && n_out > 0) {
                CHECK(st == GIDS_EINVAL && o == NULL);
                continue;
            }
            if (st != GIDS_OK || o->dtype != dt || gids_tensor_numel(o) != n_out ||
                (keep && o->ndim != x->ndim)) {
                CHECK_FAIL_("%s %s op %d keepdim %d: status %s, dtype %s", what,
                            gids_dtype_name(x->dtype), (int)op, keep, gids_status_name(st),
                            o ? gids_dtype_name(o->dtype) : "-");
                gids_tensor_release(o);
                continue;
            }
            int64_t bad = 0, first = -1;
            for (int64_t i = 0; i < n_out; i++)
                if (at_i(o, i) != want[i] && bad++ == 0) first = i;
            if (bad)
                CHECK_FAIL_("%s %s op %d keepdim %d: %lld of %lld outputs differ, first %lld: "
                            "%lld, want %lld",
                            what, gids_dtype_name(x->dtype), (int)op, keep, (long long)bad,
                            (long long)n_out, (long long)first, (long long)at_i(o, first),
                            (long long)want[first]);
            gids_tensor_release(o);
        }
    }
    free(want);
}

/* Whole runs: lengths around the sixteen lanes, and past one block (32768) and two. */
TEST(whole_runs_fold_as_the_sequential_fold) {
    static const int64_t lens[] = {0, 1, 15, 16, 17, 33, 1003, 70001};
    for (int t = 0; t < 4; t++)
        for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
            gids_tensor *x = values_(dtypes_[t], 1, &lens[k], 10 + k);
            check_all_ops_(x, 0, NULL, "run");
            gids_tensor_release(x);
        }
}

/* Rows (dim 1: the row path, whole rows a task) and columns (dim 0: the column path, tiles of up
 * to 256 outputs) of [37, w], both dims, and [70000, 3] / [3, 70000], whose columns and rows
 * take several blocks each. */
TEST(rows_and_columns_fold_as_the_sequential_fold) {
    int d0[1] = {0}, d1[1] = {1}, both[2] = {0, 1};
    for (int t = 0; t < 4; t++) {
        for (int k = 0; k < 23; k++) { /* widths 1..20, 33, 257, 300 */
            int64_t w = k < 20 ? k + 1 : k == 20 ? 33 : k == 21 ? 257 : 300, s[2] = {37, w};
            gids_tensor *x = values_(dtypes_[t], 2, s, 100 + (uint64_t)w);
            check_all_ops_(x, 1, d0, "[37, w] dim 0");
            check_all_ops_(x, 1, d1, "[37, w] dim 1");
            if (w == 33) check_all_ops_(x, 2, both, "[37, 33] dims 0, 1");
            gids_tensor_release(x);
        }
        int64_t tall[2] = {70000, 3}, wide[2] = {3, 70000};
        gids_tensor *x = values_(dtypes_[t], 2, tall, 7), *y = values_(dtypes_[t], 2, wide, 8);
        check_all_ops_(x, 1, d0, "[70000, 3] dim 0");
        check_all_ops_(y, 1, d1, "[3, 70000] dim 1");
        gids_tensor_release(y);
        gids_tensor_release(x);
    }
}

/* The row path (reduce_core.c's row_ints_*): rows of 1, 2, 3, 15, 16 and 17 elements (under
 * sixteen a loop of the op's kind, from sixteen the folds), 20003 of them (several tasks of whole
 * rows, the last one short), contiguous, every other row of a taller matrix with gaps
 * after each row (an outer stride of w + 3), and [3, 5001, w] with gaps between its planes too (two
 * kept dims that do not merge). */
TEST(short_rows_fold_as_the_sequential_fold) {
    static const int64_t ws[] = {1, 2, 3, 15, 16, 17};
    int d1[1] = {1}, d2[1] = {2};
    for (int t = 0; t < 4; t++)
        for (size_t k = 0; k < sizeof ws / sizeof *ws; k++) {
            int64_t w = ws[k], s[2] = {20003, w}, big[2] = {40006, w + 3}, vs[2] = {20003, w},
                    vst[2] = {2 * (w + 3), 1}, s3[3] = {3, 5001, w},
                    st3[3] = {5001 * (w + 3) + 7, w + 3, 1};
            gids_tensor *x = values_(dtypes_[t], 2, s, 300 + k),
                        *b = values_(dtypes_[t], 2, big, 400 + k), *sv = NULL, *v3 = NULL;
            CHECK_OK(gids_as_strided(&sv, b, 2, vs, vst, 1));
            CHECK_OK(gids_as_strided(&v3, b, 3, s3, st3, 0));
            check_all_ops_(x, 1, d1, "[20003, w] dim 1");
            check_all_ops_(sv, 1, d1, "strided rows dim 1");
            check_all_ops_(v3, 1, d2, "[3, 5001, w] strided dim 2");
            gids_tensor_release(v3);
            gids_tensor_release(sv);
            gids_tensor_release(b);
            gids_tensor_release(x);
        }
}

/* Short rows past the input dtype's range and past i64's, nine of each, on the row path: torch's
 * values. */
static void rows_of_(gids_dtype dt, int64_t w, const void *row, gids_redop op, int64_t want) {
    size_t z = gids_dtype_size(dt);
    char *buf = malloc((size_t)(9 * w) * z);
    for (int r = 0; r < 9; r++) memcpy(buf + (size_t)(r * w) * z, row, (size_t)w * z);
    int64_t s[2] = {9, w};
    int d1[1] = {1};
    gids_tensor *x = from(dt, 2, s, buf), *o = NULL;
    free(buf);
    CHECK_OK(gids_reduce(&o, op, x, 1, d1, false));
    for (int r = 0; o != NULL && r < 9; r++)
        if (at_i(o, r) != want)
            CHECK_FAIL_("%s op %d row %d of %lld: %lld, want %lld", gids_dtype_name(dt), (int)op, r,
                        (long long)w, (long long)at_i(o, r), (long long)want);
    gids_tensor_release(o);
    gids_tensor_release(x);
}

TEST(short_rows_wrap_as_torch) {
    int32_t a[3] = {INT32_MAX, 1, INT32_MAX}, c[15];
    for (int i = 0; i < 15; i++) c[i] = INT32_MIN + 1;
    uint8_t u[17];
    memset(u, 255, sizeof u);
    int64_t big[5] = {1ll << 62, 1ll << 62, 1ll << 62, 1ll << 62, 5}, m[2] = {INT64_MIN, -1};
    rows_of_(GIDS_I32, 3, a, GIDS_SUM, 4294967295ll);
    rows_of_(GIDS_U8, 17, u, GIDS_SUM, 4335);
    rows_of_(GIDS_U8, 9, u, GIDS_PROD, 2570567486027860223ll);
    rows_of_(GIDS_I64, 5, big, GIDS_SUM, 5);
    rows_of_(GIDS_I64, 2, m, GIDS_SUM, INT64_MAX);
    rows_of_(GIDS_I64, 2, m, GIDS_PROD, INT64_MIN);
    rows_of_(GIDS_I32, 15, c, GIDS_AMIN, INT32_MIN + 1);
}

/* Views the engine reads through their strides: a transposed [40, 70], every other column of
 * [30, 70], a stride-0 expansion of [5] to [4, 5], and the middle dim of [4, 5, 6]. */
TEST(views_fold_as_the_sequential_fold) {
    int d0[1] = {0}, d1[1] = {1}, d02[2] = {0, 2};
    for (int t = 0; t < 4; t++) {
        int64_t s[2] = {40, 70}, vs[2] = {30, 35}, vst[2] = {70, 2}, five = 5, ex[2] = {4, 5},
                s3[3] = {4, 5, 6};
        gids_tensor *x = values_(dtypes_[t], 2, s, 21), *tr = NULL, *sv = NULL, *v5 = NULL,
                    *e = NULL, *c = values_(dtypes_[t], 3, s3, 23);
        CHECK_OK(gids_transpose(&tr, x, 0, 1));
        CHECK_OK(gids_as_strided(&sv, x, 2, vs, vst, 0));
        v5 = values_(dtypes_[t], 1, &five, 22);
        CHECK_OK(gids_expand(&e, v5, 2, ex));
        for (int k = 0; k < 2; k++) {
            const int *d = k == 0 ? d0 : d1;
            check_all_ops_(tr, 1, d, "transposed");
            check_all_ops_(sv, 1, d, "strided");
            check_all_ops_(e, 1, d, "expanded");
        }
        check_all_ops_(tr, 0, NULL, "transposed, all dims");
        check_all_ops_(c, 1, d1, "[4, 5, 6] dim 1");
        check_all_ops_(c, 2, d02, "[4, 5, 6] dims 0, 2");
        gids_tensor *all[] = {x, tr, sv, v5, e, c};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) gids_tensor_release(all[i]);
    }
}

/* Empty dims: a reduction over one gives the identity (amax/amin fail), over a kept one an empty
 * output. */
TEST(empty_dims_give_the_identity_or_nothing) {
    int d0[1] = {0}, d1[1] = {1};
    for (int t = 0; t < 4; t++) {
        int64_t a[2] = {5, 0}, b[2] = {0, 5};
        gids_tensor *x = values_(dtypes_[t], 2, a, 1), *y = values_(dtypes_[t], 2, b, 2);
        check_all_ops_(x, 1, d1, "[5, 0] dim 1");
        check_all_ops_(x, 1, d0, "[5, 0] dim 0");
        check_all_ops_(y, 1, d0, "[0, 5] dim 0");
        check_all_ops_(y, 0, NULL, "[0, 5] all");
        gids_tensor_release(y);
        gids_tensor_release(x);
    }
}

/* torch's values (2.15) where a sum or product leaves the input dtype's range: i32 and u8 sums
 * are not cut to 32 or 8 bits (nor u8 ones to the engine's u32 lanes: 70000 values of 255 over
 * three blocks), products wrap modulo 2^64 as i64 does. */
static int64_t one_(gids_redop op, gids_dtype dt, int64_t n, const void *data, int dim) {
    gids_tensor *x = from(dt, 1, &n, data), *o = NULL;
    CHECK_OK(gids_reduce(&o, op, x, dim < 0 ? 0 : 1, &dim, false));
    int64_t v = o != NULL && o->dtype == GIDS_I64 ? at_i(o, 0) : -12345;
    gids_tensor_release(o);
    gids_tensor_release(x);
    return v;
}

TEST(overflow_matches_torch) {
    int32_t a[3] = {INT32_MAX, 1, INT32_MAX}, b[3] = {INT32_MIN, -1, INT32_MIN}, c[40];
    for (int i = 0; i < 40; i++) c[i] = INT32_MIN + 1;
    uint8_t u[9];
    memset(u, 255, sizeof u);
    CHECK(one_(GIDS_SUM, GIDS_I32, 3, a, -1) == 4294967295ll);
    CHECK(one_(GIDS_SUM, GIDS_I32, 3, b, 0) == -4294967297ll);
    CHECK(one_(GIDS_PROD, GIDS_I32, 40, c, -1) == -85899345919ll);
    CHECK(one_(GIDS_PROD, GIDS_U8, 9, u, -1) == 2570567486027860223ll);
    CHECK(one_(GIDS_SUM, GIDS_U8, 9, u, 0) == 2295);
    int64_t big[5] = {1ll << 62, 1ll << 62, 1ll << 62, 1ll << 62, 5};
    CHECK(one_(GIDS_SUM, GIDS_I64, 5, big, -1) == 5);
    uint8_t *m = malloc(70000);
    memset(m, 255, 70000);
    CHECK(one_(GIDS_SUM, GIDS_U8, 70000, m, -1) == 17850000);
    int64_t s2[2] = {35000, 2};
    gids_tensor *x = from(GIDS_U8, 2, s2, m), *o = NULL;
    int d0[1] = {0};
    CHECK_OK(gids_reduce(&o, GIDS_SUM, x, 1, d0, true));
    CHECK(o->dtype == GIDS_I64 && at_i(o, 0) == 8925000 && at_i(o, 1) == 8925000);
    gids_tensor_release(o);
    gids_tensor_release(x);
    free(m);
    int32_t q[12];
    for (int i = 0; i < 12; i++) q[i] = INT32_MAX;
    int64_t s34[2] = {3, 4};
    x = from(GIDS_I32, 2, s34, q);
    CHECK_OK(gids_reduce(&o, GIDS_PROD, x, 1, d0, false));
    for (int i = 0; i < 4; i++) CHECK(at_i(o, i) == 4611686024869838847ll);
    gids_tensor_release(o);
    gids_tensor_release(x);
}

/* The engine reads narrow inputs in place: a sum's only new storage is its output (widening a
 * bool [2^20] or an i32 [1024, 1024] to i64 first had taken 8 bytes an element). */
TEST(no_i64_copy_of_the_input) {
    int64_t n = 1 << 20, s[2] = {1024, 1024};
    gids_tensor *b = values_(GIDS_BOOL, 1, &n, 5), *i = values_(GIDS_I32, 2, s, 6);
    int d0[1] = {0};
    for (int k = 0; k < 2; k++) {
        gids_mem_stats before, after;
        gids_tensor *o = NULL;
        CHECK_OK(gids_memory_stats(GIDS_DEVICE_CPU, &before));
        gids_memory_reset_peak(GIDS_DEVICE_CPU);
        CHECK_OK(gids_reduce(&o, GIDS_SUM, k == 0 ? b : i, k, d0, false));
        CHECK_OK(gids_memory_stats(GIDS_DEVICE_CPU, &after));
        int64_t extra = after.peak_bytes - before.current_bytes;
        if (extra > 8 * 1024) CHECK_FAIL_("sum %d took %lld bytes", k, (long long)extra);
        gids_tensor_release(o);
    }
    gids_tensor_release(i);
    gids_tensor_release(b);
}

int main(void) {
    RUN(whole_runs_fold_as_the_sequential_fold);
    RUN(rows_and_columns_fold_as_the_sequential_fold);
    RUN(short_rows_fold_as_the_sequential_fold);
    RUN(short_rows_wrap_as_torch);
    RUN(views_fold_as_the_sequential_fold);
    RUN(empty_dims_give_the_identity_or_nothing);
    RUN(overflow_matches_torch);
    RUN(no_i64_copy_of_the_input);
    return check_summary("int_sums");
}
