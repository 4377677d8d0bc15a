/* red_extreme.c -- the max and min folds of the reduction engine (reduce_core.c) in vector lanes.
 *
 * The engine folds a max element by element: acc = v when v > acc or v is NaN (min: v < acc).
 * What that gives for a run of elements depends on their values only: the last NaN when there
 * is one, else the first element of the greatest value; equal values have the same bits but
 * for -0 and +0, where the first one's sign is kept.  So lanes may meet the elements in any
 * order: a run is scanned for its extreme ignoring NaNs (the max instruction's rule: the second
 * operand unless the first is greater) and for whether it holds a NaN; a run with a NaN then
 * looks for its last NaN, and one whose extreme is a zero for its first zero, element by
 * element.  The run's result r folds into the accumulator as the engine combines its blocks
 * (acc = r when r beats acc or is NaN), which equals folding the run's elements into acc one by
 * one.  The results are those of the sequential fold, bit for bit, at 8-16x its speed: its
 * branch on every element, and the conversion to double, are gone.
 */
#include <math.h>
#include <string.h>

#include "../core/core_impl.h"
#include "elementwise_impl.h"

#define COLS 32      /* lanes a group keeps in registers: 32 columns, or a run's 32 lanes */
#define ROW_CHUNK 64 /* rows a chunk: in L1 for the tile's next group of columns */
#define TILE 256     /* columns of a call at most (the engine's tiles) */

#define GT(a, b) ((a) > (b))
#define LT(a, b) ((a) < (b))

/* FL: an integer of TY's width, so that a flag lane sits beside its value lane. */
#define EXTREME_FOLDS(SFX, TY, FL)                                                                 \
    /* A run's result from its extreme ignoring NaNs (m) and whether it has a NaN: the last NaN,   \
     * the first zero when m is one, else m. */                                                    \
    static double run_result_##SFX(const TY *p, int64_t n, int64_t st, TY m, bool nan) {           \
        if (nan)                                                                                   \
            for (int64_t i = n - 1; i >= 0; i--)                                                   \
                if (p[i * st] != p[i * st]) return (double)p[i * st];                              \
        if (m == 0)                                                                                \
            for (int64_t i = 0; i < n; i++)                                                        \
                if (p[i * st] == 0) return (double)p[i * st];                                      \
        return (double)m;                                                                          \
    }                                                                                              \
    EXTREME_KIND(max_##SFX, SFX, TY, FL, GT, -INFINITY)                                            \
    EXTREME_KIND(min_##SFX, SFX, TY, FL, LT, INFINITY)

#define EXTREME_KIND(NAME, SFX, TY, FL, BETTER, IDENT)                                             \
    /* m[k], nan[k] for k < COLS folded, NaNs aside, with `rows` rows of COLS elements at p, st    \
     * elements apart: the lanes stay in registers. */                                             \
    static inline void group_##NAME(TY *restrict m, FL *restrict nan, const TY *p, int64_t rows,   \
                                    int64_t st) {                                                  \
        TY lm[COLS];                                                                               \
        FL ln[COLS];                                                                               \
        memcpy(lm, m, sizeof lm), memcpy(ln, nan, sizeof ln);                                      \
        for (int64_t i = 0; i < rows; i++, p += st)                                                \
            for (int k = 0; k < COLS; k++) {                                                       \
                lm[k] = BETTER(p[k], lm[k]) ? p[k] : lm[k];                                        \
                ln[k] |= -(FL)(p[k] != p[k]);                                                      \
            }                                                                                      \
        memcpy(m, lm, sizeof lm), memcpy(nan, ln, sizeof ln);                                      \
    }                                                                                              \
    /* acc folded with n contiguous elements: COLS lanes (when there are that many), then the      \
     * tail */                                                                                     \
    GIDS_HOT static double run_##NAME(double acc, const TY *p, int64_t n) {                        \
        TY best = (TY)IDENT;                                                                       \
        FL any = 0;                                                                                \
        int64_t i = 0;                                                                             \
        if (n >= COLS) {                                                                           \
            TY m[COLS];                                                                            \
            FL nan[COLS];                                                                          \
            for (int k = 0; k < COLS; k++) m[k] = (TY)IDENT, nan[k] = 0;                           \
            group_##NAME(m, nan, p, n / COLS, COLS);                                               \
            for (int k = 0; k < COLS; k++) {                                                       \
                best = BETTER(m[k], best) ? m[k] : best;                                           \
                any |= nan[k];                                                                     \
            }                                                                                      \
            i = n / COLS * COLS;                                                                   \
        }                                                                                          \
        for (; i < n; i++) {                                                                       \
            best = BETTER(p[i], best) ? p[i] : best;                                               \
            any |= (FL)(p[i] != p[i]);                                                             \
        }                                                                                          \
        double r = run_result_##SFX(p, n, 1, best, any != 0);                                      \
        return (BETTER(r, acc) || r != r) ? r : acc;                                               \
    }                                                                                              \
    /* acc[c] (c < w <= TILE) folded with rows 0..n-1 (st elements apart) of w neighbouring        \
     * columns: COLS of them at a time over ROW_CHUNK rows, then the rest of the chunk. */         \
    GIDS_HOT static void cols_##NAME(double *acc, const TY *p, int64_t n, int64_t st, int64_t w) { \
        TY m[TILE];                                                                                \
        FL nan[TILE];                                                                              \
        for (int64_t c = 0; c < w; c++) m[c] = (TY)IDENT, nan[c] = 0;                              \
        for (int64_t i0 = 0; i0 < n; i0 += ROW_CHUNK) {                                            \
            int64_t rows = n - i0 < ROW_CHUNK ? n - i0 : ROW_CHUNK, c = 0;                         \
            for (; c + COLS <= w; c += COLS)                                                       \
                group_##NAME(m + c, nan + c, p + i0 * st + c, rows, st);                           \
            for (int64_t i = 0; i < rows && c < w; i++) {                                          \
                const TY *r = p + (i0 + i) * st;                                                   \
                for (int64_t k = c; k < w; k++) {                                                  \
                    m[k] = BETTER(r[k], m[k]) ? r[k] : m[k];                                       \
                    nan[k] |= -(FL)(r[k] != r[k]);                                                 \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        for (int64_t c = 0; c < w; c++) {                                                          \
            double r = run_result_##SFX(p + c, n, st, m[c], nan[c] != 0);                          \
            if (BETTER(r, acc[c]) || r != r) acc[c] = r;                                           \
        }                                                                                          \
    }

EXTREME_FOLDS(f32, float, int32_t)
EXTREME_FOLDS(f64, double, int64_t)

double gids_red_extreme_run_f32(bool is_max, double acc, const float *p, int64_t n) {
    return is_max ? run_max_f32(acc, p, n) : run_min_f32(acc, p, n);
}

double gids_red_extreme_run_f64(bool is_max, double acc, const double *p, int64_t n) {
    return is_max ? run_max_f64(acc, p, n) : run_min_f64(acc, p, n);
}

void gids_red_extreme_cols_f32(bool is_max, double *acc, const float *p, int64_t n, int64_t st,
                               int64_t w) {
    for (int64_t c = 0; c < w; c += TILE) {
        int64_t cw = w - c < TILE ? w - c : TILE;
        if (is_max)
            cols_max_f32(acc + c, p + c, n, st, cw);
        else
            cols_min_f32(acc + c, p + c, n, st, cw);
    }
}

void gids_red_extreme_cols_f64(bool is_max, double *acc, const double *p, int64_t n, int64_t st,
                               int64_t w) {
    for (int64_t c = 0; c < w; c += TILE) {
        int64_t cw = w - c < TILE ? w - c : TILE;
        if (is_max)
            cols_max_f64(acc + c, p + c, n, st, cw);
        else
            cols_min_f64(acc + c, p + c, n, st, cw);
    }
}
