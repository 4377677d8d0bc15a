/* test_red_extreme.c -- amax and amin of the reduction engine (reduce_core.c, red_extreme.c):
 * along contiguous rows, over the rows of columns and over whole tensors, each of any length
 * around the vector lanes' and chunks' sizes, they give the bits of the element-by-element
 * fold: the last NaN where there is one (NaNs of either sign and of several payloads), else
 * the first element of the extreme value (-0 or +0, whichever comes first). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static uint64_t rng_ = 1;

static uint32_t next_(void) {
    rng_ = rng_ * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_ >> 33);
}

/* A value of kind k: 0 small numbers; 1 non-positive numbers and zeros of both signs (the max
 * is a zero: its first one's sign counts); 2 as 1 with NaNs of both signs and two payloads and
 * infinities; 3 infinities and zeros only. */
static float value_(int k) {
    uint32_t r = next_() % 100;
    float small = (float)((int)(next_() % 2001) - 1000) / 16;
    switch (k) {
    case 0: return small;
    case 1: return r < 30 ? (r & 1 ? -0.0f : 0.0f) : -fabsf(small) - 1;
    case 2:
        if (r < 4) {
            uint32_t u = (r & 1 ? 0xffc00000u : 0x7fc00000u) | (r & 2 ? 5u : 0u);
            float f;
            memcpy(&f, &u, 4);
            return f;
        }
        if (r < 6) return r & 1 ? -INFINITY : INFINITY;
        return r < 30 ? (r & 1 ? -0.0f : 0.0f) : -fabsf(small) - 1;
    default: return r < 50 ? (r & 1 ? -INFINITY : INFINITY) : (r & 1 ? -0.0f : 0.0f);
    }
}

/* The engine's definition: acc = v when v beats acc or is NaN, from the identity. */
static double naive_(const float *p, int64_t n, int64_t st, bool mx) {
    double acc = mx ? -INFINITY : INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double v = (double)p[i * st];
        if ((mx ? v > acc : v < acc) || v != v) acc = v;
    }
    return acc;
}

static uint64_t bits64_(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* Output o of r (f32 or f64) against the naive fold want, bit for bit. */
static int same_bits_(const gids_tensor *r, int64_t o, double want) {
    if (r->dtype == GIDS_F32) {
        float got = ((const float *)gids_tensor_data(r))[o], w = (float)want;
        return memcmp(&got, &w, 4) == 0;
    }
    return bits64_(((const double *)gids_tensor_data(r))[o]) == bits64_(want);
}

/* rows x cols of kind k reduced over dim (0, 1, or -1 for all) by amax and amin, as f32 and
 * as f64; counts the outputs whose bits differ from the naive fold's. */
static int64_t misses_(int64_t rows, int64_t cols, int k, int dim) {
    int64_t shape[2] = {rows, cols}, n = rows * cols, bad = 0;
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = value_(k);
    gids_tensor *x32 = from(GIDS_F32, 2, shape, p), *x64 = NULL;
    CHECK_OK(gids_to_dtype(&x64, x32, GIDS_F64));
    for (int mx = 0; mx < 2; mx++)
        for (int wide = 0; wide < 2; wide++) {
            gids_tensor *o = NULL;
            CHECK_OK(gids_reduce(&o, mx ? GIDS_AMAX : GIDS_AMIN, wide ? x64 : x32, dim < 0 ? 0 : 1,
                                 &dim, false));
            if (dim < 0)
                bad += !same_bits_(o, 0, naive_(p, n, 1, mx));
            else if (dim == 1)
                for (int64_t r = 0; r < rows; r++)
                    bad += !same_bits_(o, r, naive_(p + r * cols, cols, 1, mx));
            else
                for (int64_t c = 0; c < cols; c++)
                    bad += !same_bits_(o, c, naive_(p + c, rows, cols, mx));
            gids_tensor_release(o);
        }
    gids_tensor_release(x64);
    gids_tensor_release(x32);
    free(p);
    return bad;
}

/* Rows of 1 to 100 elements (the lanes take 32, the rest goes one by one). */
TEST(along_rows_the_bits_of_the_sequential_fold) {
    for (int k = 0; k < 4; k++)
        for (int64_t len = 1; len <= 100; len++) {
            int64_t bad = misses_(9, len, k, 1);
            if (bad)
                CHECK_FAIL_("kind %d rows of %lld: %lld misses", k, (long long)len, (long long)bad);
        }
}

/* Columns of 1 to 70 wide (32 in registers, the rest one by one) over 1 to 150 rows (chunks of
 * 64), and a tile beyond 256 columns. */
TEST(over_columns_the_bits_of_the_sequential_fold) {
    static const int64_t heights[] = {1, 2, 5, 63, 64, 65, 150};
    for (int k = 0; k < 4; k++)
        for (size_t h = 0; h < sizeof heights / sizeof *heights; h++)
            for (int64_t w = 2; w <= 70; w++) {
                int64_t bad = misses_(heights[h], w, k, 0);
                if (bad)
                    CHECK_FAIL_("kind %d [%lld, %lld] over dim 0: %lld misses", k,
                                (long long)heights[h], (long long)w, (long long)bad);
            }
    for (int k = 0; k < 4; k++) CHECK(misses_(40, 300, k, 0) == 0);
}

/* Whole tensors, past the engine's blocks of 32768 elements (combined in order). */
TEST(whole_tensors_the_bits_of_the_sequential_fold) {
    for (int k = 0; k < 4; k++) {
        CHECK(misses_(1, 70001, k, -1) == 0);
        CHECK(misses_(333, 3, k, -1) == 0);
    }
}

int main(void) {
    RUN(along_rows_the_bits_of_the_sequential_fold);
    RUN(over_columns_the_bits_of_the_sequential_fold);
    RUN(whole_tensors_the_bits_of_the_sequential_fold);
    return check_summary("red_extreme");
}
