/* reduce_core.c -- the reduction engine behind sum/mean/prod/amax/amin/any/all.
 *
 * Plan: the kept dims and the reduced dims of the input are each coalesced (size-1 dims
 * dropped, dims that are contiguous with their neighbour merged).  Every output element folds
 * its reduced elements in row-major order, cut into fixed blocks of RED_BLOCK elements; each
 * (output, block) pair is one task writing its own partial, and the partials of an output are
 * combined in block order.  Since neither the blocks nor the order depend on the number of
 * threads, results are bit-identical for any OMP_NUM_THREADS, while a full reduction of a big
 * tensor still has many tasks to spread.
 *
 * When the innermost kept dim has stride 1 and the reduced dims do not (a sum over rows of a
 * row-major matrix), a task takes a tile of RED_TILE neighbouring outputs and adds whole rows
 * into them: memory is read in order and the loop vectorises across outputs.  Tiles narrow
 * (down to 16 outputs) until there is a task a thread, so a sum over the rows of a tall matrix
 * with few columns ([8192, 128] over dim 0) has work for every thread; no further, since a wider
 * tile reads more of each row at a time (two tasks a thread had made that sum 52 us on two
 * threads, one 41, and 79 and 74 on one); a column's sum is
 * still its rows in order, whatever the width, so the width may follow the thread count.  A sum
 * keeps 64 (AVX-512), 32 or 16 columns' sums in registers over COL_CHUNK rows at a time
 * (sum_impl.h), rows which stay in cache for the tile's next columns.
 *
 * A sum (or max, or min; any kind of an integer or bool input) whose reduced elements are one
 * contiguous run of at most RED_BLOCK per output (a sum along the rows of a row-major matrix) takes
 * the row path: a task sums ROW_TASK_ELEMS elements' worth of whole rows and writes their outputs,
 * with the bits of the generic path (the same gids_sum_f32 per row); rows shorter than sixteen
 * elements are summed eight at a time, whose independent chains of adds overlap (one row at a time
 * waits on each add), longer f32 rows two at a time (gids_sum2_f32, for the same reason): a row of
 * the task's first half beside one of its second, two streams that the prefetcher follows
 * (neighbouring rows side by side ran slower than one at a time from L3, their lines taken in a
 * zigzag).  A longer contiguous f32 run (a whole tensor) takes the pair path: a task sums two
 * neighbouring blocks of it at once, each block's partial as the generic path computes it.
 *
 * With a single block an output's value is final where its task computes it and is stored
 * there; only several blocks go through partials (malloc'd past 64), combined afterwards.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core_impl.h"
#include "elementwise_impl.h"
#include "sum_impl.h"

#define RED_BLOCK 32768
#define RED_TILE 256
#define COL_CHUNK 64
#define ROW_TASK_ELEMS 16384
#define ROW_SHORT 16 /* below this a row's sum is its elements in order (sum_impl.h) */
#define ROW_LANES 8

typedef struct red_dims {
    int n;
    int64_t shape[GIDS_MAX_DIMS];
    int64_t stride[GIDS_MAX_DIMS]; /* elements */
} red_dims;

/* Drops size-1 dims and merges dim i into i+1 when stride[i] == stride[i+1] * shape[i+1]. */
static void coalesce(red_dims *d) {
    int m = 0;
    for (int i = 0; i < d->n; i++) {
        if (d->shape[i] == 1) continue;
        if (m > 0 && d->stride[m - 1] == d->stride[i] * d->shape[i]) {
            d->shape[m - 1] *= d->shape[i];
            d->stride[m - 1] = d->stride[i];
            continue;
        }
        d->shape[m] = d->shape[i];
        d->stride[m] = d->stride[i];
        m++;
    }
    d->n = m;
}

/* Element offset of row-major position `flat` over the first `n` dims of d. */
static int64_t offset_of(const red_dims *d, int n, int64_t flat) {
    int64_t off = 0;
    for (int i = n - 1; i >= 0; i--) {
        off += (flat % d->shape[i]) * d->stride[i];
        flat /= d->shape[i];
    }
    return off;
}

typedef struct red_job {
    gids_red_kind kind;
    gids_dtype dt; /* the input's: f32, f64, i64, i32, u8 or bool */
    bool ints;     /* an integer or bool input, folded in i64 (else in double) */
    const char *base;
    red_dims keep, red;
    int64_t n_out, n_in, nblocks;
    int64_t ncols, ntiles, tile; /* column path: outputs per group along the stride-1 kept dim,
                                  * tiles per group and outputs per tile */
    bool columns;
    int64_t row_group; /* row path (when > 0): outputs per task */
    bool pairs;        /* pair path: a task sums blocks 2t and 2t + 1 of an output */
    char *dst;         /* the output, of dtype out_dt; a mean divides the sums by n_in */
    gids_dtype out_dt;
    bool mean;
    void *partial; /* with several blocks: double or int64_t, [n_out][nblocks] */
} red_job;

/* ---------------------------------------------------------------- typed folds */
/* Folds n elements at stride st (elements) into acc.  Contiguous sums keep 16 partial sums so
 * the loop vectorises; their order of combination is fixed (sum_impl.h). */
#define FOLD_FLOAT(fname, TY, SUMF, EXTREMEF)                                                      \
    GIDS_HOT_MATH static double fname(gids_red_kind k, double acc, const TY *p, int64_t n,         \
                                      int64_t st) {                                                \
        switch (k) {                                                                               \
        case GIDS_RED_SUM:                                                                         \
            if (st == 1) return acc + SUMF(p, n);                                                  \
            for (int64_t i = 0; i < n; i++) acc += (double)p[i * st];                              \
            return acc;                                                                            \
        case GIDS_RED_PROD:                                                                        \
            for (int64_t i = 0; i < n; i++) acc *= (double)p[i * st];                              \
            return acc;                                                                            \
        case GIDS_RED_MAX:                                                                         \
            if (st == 1) return EXTREMEF(true, acc, p, n);                                         \
            for (int64_t i = 0; i < n; i++) {                                                      \
                double v = (double)p[i * st];                                                      \
                if (v > acc || v != v) acc = v;                                                    \
            }                                                                                      \
            return acc;                                                                            \
        case GIDS_RED_MIN:                                                                         \
            if (st == 1) return EXTREMEF(false, acc, p, n);                                        \
            for (int64_t i = 0; i < n; i++) {                                                      \
                double v = (double)p[i * st];                                                      \
                if (v < acc || v != v) acc = v;                                                    \
            }                                                                                      \
            return acc;                                                                            \
        case GIDS_RED_ANY:                                                                         \
            for (int64_t i = 0; i < n; i++)                                                        \
                if (p[i * st] != 0) return 1;                                                      \
            return acc;                                                                            \
        case GIDS_RED_ALL:                                                                         \
            for (int64_t i = 0; i < n; i++)                                                        \
                if (p[i * st] == 0) return 0;                                                      \
            return acc;                                                                            \
        }                                                                                          \
        return acc;                                                                                \
    }
FOLD_FLOAT(fold_f32, float, gids_sum_f32, gids_red_extreme_run_f32)
FOLD_FLOAT(fold_f64, double, gids_sum_f64, gids_red_extreme_run_f64)

/* Integer inputs (i64, i32, u8, and bool, whose bytes are read as u8, as gids_to_dtype reads
 * them) fold into an i64 accumulator with wrapping arithmetic, as torch: each element is widened
 * as it is read (u64 arithmetic is the i64 sum of the sign- or zero-extended values, modulo
 * 2^64), so no i64 copy of the input is made (a bool [1e7] summed in 7.2 ms with its copy's
 * 80 MB written and read back, 0.4 ms without, on one thread of AMD Zen 4).
 *
 * A contiguous sum takes sixteen lanes, since integer adds give the same result in any order: of
 * u32 for bytes (a run is at most RED_BLOCK elements, 2048 a lane: 2048 * 255 < 2^32), else of
 * u64.  The one-accumulator loop this replaced ran at 0.14 or 0.24 ns an i64 depending
 * only on where the linker put its four instructions. */
_Static_assert(RED_BLOCK / 16 * 255 <= UINT32_MAX, "u8 sums in u32 lanes");
#define SUM_INT(fname, TY, LANE)                                                                   \
    GIDS_HOT static uint64_t fname(const TY *p, int64_t n) {                                       \
        LANE l[16] = {0};                                                                          \
        uint64_t u = 0;                                                                            \
        int64_t i = 0;                                                                             \
        for (; i + 16 <= n; i += 16)                                                               \
            for (int j = 0; j < 16; j++) l[j] += (LANE)p[i + j];                                   \
        for (int j = 0; j < 16; j++) u += (uint64_t)l[j];                                          \
        for (; i < n; i++) u += (uint64_t)p[i];                                                    \
        return u;                                                                                  \
    }

#define FOLD_INT(fname, TY, SUMF, LANE)                                                            \
    SUM_INT(SUMF, TY, LANE)                                                                        \
    static int64_t fname(gids_red_kind k, int64_t acc, const TY *p, int64_t n, int64_t st) {       \
        uint64_t u = (uint64_t)acc;                                                                \
        switch (k) {                                                                               \
        case GIDS_RED_SUM:                                                                         \
            if (st == 1) return (int64_t)(u + SUMF(p, n));                                         \
            for (int64_t i = 0; i < n; i++) u += (uint64_t)p[i * st];                              \
            return (int64_t)u;                                                                     \
        case GIDS_RED_PROD:                                                                        \
            for (int64_t i = 0; i < n; i++) u *= (uint64_t)p[i * st];                              \
            return (int64_t)u;                                                                     \
        case GIDS_RED_MAX:                                                                         \
            for (int64_t i = 0; i < n; i++) acc = p[i * st] > acc ? p[i * st] : acc;               \
            return acc;                                                                            \
        case GIDS_RED_MIN:                                                                         \
            for (int64_t i = 0; i < n; i++) acc = p[i * st] < acc ? p[i * st] : acc;               \
            return acc;                                                                            \
        case GIDS_RED_ANY:                                                                         \
            for (int64_t i = 0; i < n; i++)                                                        \
                if (p[i * st] != 0) return 1;                                                      \
            return acc;                                                                            \
        case GIDS_RED_ALL:                                                                         \
            for (int64_t i = 0; i < n; i++)                                                        \
                if (p[i * st] == 0) return 0;                                                      \
            return acc;                                                                            \
        }                                                                                          \
        return acc;                                                                                \
    }
FOLD_INT(fold_i64, int64_t, sum_i64, uint64_t)
FOLD_INT(fold_i32, int32_t, sum_i32, uint64_t)
FOLD_INT(fold_u8, uint8_t, sum_u8, uint32_t)

/* fold_<dtype> of j's integer input at p */
static int64_t fold_int(const red_job *j, int64_t acc, const char *p, int64_t n, int64_t st) {
    switch (j->dt) {
    case GIDS_I64: return fold_i64(j->kind, acc, (const int64_t *)p, n, st);
    case GIDS_I32: return fold_i32(j->kind, acc, (const int32_t *)p, n, st);
    default: return fold_u8(j->kind, acc, (const uint8_t *)p, n, st);
    }
}

/* Column path: folds one row of nc neighbouring outputs into acc[0..nc). */
#define FOLD_COLS_FLOAT(fname, TY)                                                                 \
    static void fname(gids_red_kind k, double *acc, const TY *row, int64_t nc) {                   \
        switch (k) {                                                                               \
        case GIDS_RED_SUM:                                                                         \
            for (int64_t j = 0; j < nc; j++) acc[j] += (double)row[j];                             \
            break;                                                                                 \
        case GIDS_RED_PROD:                                                                        \
            for (int64_t j = 0; j < nc; j++) acc[j] *= (double)row[j];                             \
            break;                                                                                 \
        case GIDS_RED_MAX:                                                                         \
            for (int64_t j = 0; j < nc; j++) {                                                     \
                double v = (double)row[j];                                                         \
                if (v > acc[j] || v != v) acc[j] = v;                                              \
            }                                                                                      \
            break;                                                                                 \
        case GIDS_RED_MIN:                                                                         \
            for (int64_t j = 0; j < nc; j++) {                                                     \
                double v = (double)row[j];                                                         \
                if (v < acc[j] || v != v) acc[j] = v;                                              \
            }                                                                                      \
            break;                                                                                 \
        case GIDS_RED_ANY:                                                                         \
            for (int64_t j = 0; j < nc; j++) acc[j] = (acc[j] != 0 || row[j] != 0) ? 1 : 0;        \
            break;                                                                                 \
        case GIDS_RED_ALL:                                                                         \
            for (int64_t j = 0; j < nc; j++) acc[j] = (acc[j] != 0 && row[j] != 0) ? 1 : 0;        \
            break;                                                                                 \
        }                                                                                          \
    }
FOLD_COLS_FLOAT(fold_cols_f32, float)
FOLD_COLS_FLOAT(fold_cols_f64, double)

/* i64 and i32 sums add a row's widened elements in vector lanes (the accumulators, 2 KB, stay
 * in L1; u8 and bool ones take colsum_u8 below); the other kinds fold element by element. */
#define FOLD_COLS_INT(fname, TY, FOLD)                                                             \
    GIDS_HOT static void fname(gids_red_kind k, int64_t *acc, const TY *row, int64_t nc) {         \
        if (k == GIDS_RED_SUM) {                                                                   \
            uint64_t *u = (uint64_t *)acc; /* wrapping */                                          \
            for (int64_t j = 0; j < nc; j++) u[j] += (uint64_t)row[j];                             \
            return;                                                                                \
        }                                                                                          \
        for (int64_t j = 0; j < nc; j++) acc[j] = FOLD(k, acc[j], row + j, 1, 1);                  \
    }
FOLD_COLS_INT(fold_cols_i64, int64_t, fold_i64)
FOLD_COLS_INT(fold_cols_i32, int32_t, fold_i32)
FOLD_COLS_INT(fold_cols_u8, uint8_t, fold_u8)

static double identity_f(gids_red_kind k) {
    switch (k) {
    case GIDS_RED_PROD:
    case GIDS_RED_ALL: return 1;
    case GIDS_RED_MAX: return -INFINITY;
    case GIDS_RED_MIN: return INFINITY;
    default: return 0;
    }
}

static int64_t identity_i(gids_red_kind k) {
    switch (k) {
    case GIDS_RED_PROD:
    case GIDS_RED_ALL: return 1;
    case GIDS_RED_MAX: return INT64_MIN;
    case GIDS_RED_MIN: return INT64_MAX;
    default: return 0;
    }
}

/* ---------------------------------------------------------------- outputs */
/* Output o from its folded value acc (a mean divides it by the count). */
static void store_f(const red_job *j, int64_t o, double acc) {
    if (j->mean) acc /= (double)j->n_in;
    switch (j->out_dt) {
    case GIDS_F32: ((float *)j->dst)[o] = (float)acc; break;
    case GIDS_F64: ((double *)j->dst)[o] = acc; break;
    default: ((bool *)j->dst)[o] = acc != 0; break;
    }
}

/* An integer output is i64 (sums, products) or, for a max or min, the input's own dtype, which
 * its value always fits: amax/amin write i32 and u8 here instead of narrowing an i64 copy. */
static void store_i(const red_job *j, int64_t o, int64_t acc) {
    switch (j->out_dt) {
    case GIDS_BOOL: ((bool *)j->dst)[o] = acc != 0; break;
    case GIDS_I32: ((int32_t *)j->dst)[o] = (int32_t)acc; break;
    case GIDS_U8: ((uint8_t *)j->dst)[o] = (uint8_t)acc; break;
    default: ((int64_t *)j->dst)[o] = acc; break;
    }
}

/* Block b's value of output o: its partial, or with one block the output itself (no partials
 * to allocate, touch and read back). */
static void put_f(const red_job *j, int64_t o, int64_t b, double acc) {
    if (j->nblocks == 1)
        store_f(j, o, acc);
    else
        ((double *)j->partial)[o * j->nblocks + b] = acc;
}

static void put_i(const red_job *j, int64_t o, int64_t b, int64_t acc) {
    if (j->nblocks == 1)
        store_i(j, o, acc);
    else
        ((int64_t *)j->partial)[o * j->nblocks + b] = acc;
}

/* ---------------------------------------------------------------- tasks */
/* Calls visit(job, ptr, n, stride) for the runs of reduced positions [r0, r1) of the output whose
 * first element is at element offset `ob`; a run follows the innermost reduced dim. */
typedef void (*run_fn)(const red_job *j, const char *ptr, int64_t n, int64_t st, void *acc);

static void for_runs(const red_job *j, int64_t ob, int64_t r0, int64_t r1, run_fn visit,
                     void *acc) {
    size_t z = gids_dtype_size(j->dt);
    const red_dims *d = &j->red;
    if (d->n == 0) { /* one reduced element */
        if (r0 < r1) visit(j, j->base + ob * (int64_t)z, 1, 1, acc);
        return;
    }
    int last = d->n - 1;
    int64_t idx[GIDS_MAX_DIMS], flat = r0;
    for (int i = last; i >= 0; i--) {
        idx[i] = flat % d->shape[i];
        flat /= d->shape[i];
    }
    int64_t r = r0;
    while (r < r1) {
        int64_t off = ob;
        for (int i = 0; i <= last; i++) off += idx[i] * d->stride[i];
        int64_t len = d->shape[last] - idx[last];
        if (len > r1 - r) len = r1 - r;
        visit(j, j->base + off * (int64_t)z, len, d->stride[last], acc);
        r += len;
        idx[last] += len;
        for (int i = last; i > 0 && idx[i] == d->shape[i]; i--) {
            idx[i] = 0;
            idx[i - 1]++;
        }
    }
}

static void visit_scalar(const red_job *j, const char *ptr, int64_t n, int64_t st, void *acc) {
    switch (j->dt) {
    case GIDS_F32:
        *(double *)acc = fold_f32(j->kind, *(double *)acc, (const float *)ptr, n, st);
        break;
    case GIDS_F64:
        *(double *)acc = fold_f64(j->kind, *(double *)acc, (const double *)ptr, n, st);
        break;
    default: *(int64_t *)acc = fold_int(j, *(int64_t *)acc, ptr, n, st); break;
    }
}

/* acc points at a red_tile: the accumulators of the tile and its width. */
typedef struct red_tile {
    void *acc;
    int64_t width;
} red_tile;

/* A sum over n rows at stride st (elements): 32 or 16 columns at a time, their sums in
 * registers, then the rest of the tile with masked loads; every column is summed in row order. */
static void visit_cols_sum(const red_job *j, const char *ptr, int64_t n, int64_t st, red_tile *t) {
    double *acc = t->acc;
    int64_t w = t->width;
    for (int64_t i0 = 0; i0 < n; i0 += COL_CHUNK) {
        int64_t m = n - i0 < COL_CHUNK ? n - i0 : COL_CHUNK, c = 0;
        if (j->dt == GIDS_F32) {
            const float *p = (const float *)ptr + i0 * st;
            if (m >= 32 && gids_colsum64_wide())
                for (; c + 64 <= w; c += 64) gids_colsum64_f32(acc + c, p + c, m, st);
            for (; c + 32 <= w; c += 32) gids_colsum32_f32(acc + c, p + c, m, st);
            for (; c + 16 <= w; c += 16) gids_colsum16_f32(acc + c, p + c, m, st);
            if (c < w) gids_colsum_narrow_f32(acc + c, p + c, m, st, (int)(w - c));
        } else {
            const double *p = (const double *)ptr + i0 * st;
            for (; c + 16 <= w; c += 16) gids_colsum16_f64(acc + c, p + c, m, st);
            for (int64_t i = 0; c < w && i < m; i++)
                fold_cols_f64(GIDS_RED_SUM, acc + c, p + i * st + c, w - c);
        }
    }
}

/* u8 and bool column sums: U8_ROWS rows at a time in u16 lanes (256 * 255 < 2^16), then into
 * the i64 accumulators: a vector holds four times the lanes it holds of i64, so a row takes a
 * quarter of the work ([4096, 4096] over dim 0: 4.3 -> 1.8 ms on one thread). */
#define U8_ROWS 256
_Static_assert(U8_ROWS * 255 <= UINT16_MAX, "u8 column sums in u16 lanes");
GIDS_HOT static void colsum_u8(int64_t *acc, const uint8_t *p, int64_t n, int64_t st, int64_t w) {
    uint16_t l[RED_TILE];
    for (int64_t i0 = 0; i0 < n; i0 += U8_ROWS) {
        memset(l, 0, (size_t)w * sizeof *l);
        for (int64_t i = i0; i < n && i < i0 + U8_ROWS; i++, p += st)
            for (int64_t c = 0; c < w; c++) l[c] += p[c];
        for (int64_t c = 0; c < w; c++) acc[c] = (int64_t)((uint64_t)acc[c] + l[c]);
    }
}

static void visit_cols(const red_job *j, const char *ptr, int64_t n, int64_t st, void *arg) {
    red_tile *t = arg;
    if (j->kind == GIDS_RED_SUM && (j->dt == GIDS_U8 || j->dt == GIDS_BOOL)) {
        colsum_u8(t->acc, (const uint8_t *)ptr, n, st, t->width);
        return;
    }
    if (j->kind == GIDS_RED_SUM && !j->ints) {
        visit_cols_sum(j, ptr, n, st, t);
        return;
    }
    if ((j->kind == GIDS_RED_MAX || j->kind == GIDS_RED_MIN) && !j->ints) {
        bool mx = j->kind == GIDS_RED_MAX;
        if (j->dt == GIDS_F32)
            gids_red_extreme_cols_f32(mx, t->acc, (const float *)ptr, n, st, t->width);
        else
            gids_red_extreme_cols_f64(mx, t->acc, (const double *)ptr, n, st, t->width);
        return;
    }
    int64_t step = st * (int64_t)gids_dtype_size(j->dt);
    for (int64_t i = 0; i < n; i++, ptr += step) {
        switch (j->dt) {
        case GIDS_F32: fold_cols_f32(j->kind, t->acc, (const float *)ptr, t->width); break;
        case GIDS_F64: fold_cols_f64(j->kind, t->acc, (const double *)ptr, t->width); break;
        case GIDS_I64: fold_cols_i64(j->kind, t->acc, (const int64_t *)ptr, t->width); break;
        case GIDS_I32: fold_cols_i32(j->kind, t->acc, (const int32_t *)ptr, t->width); break;
        default: fold_cols_u8(j->kind, t->acc, (const uint8_t *)ptr, t->width); break;
        }
    }
}

static void block_range(const red_job *j, int64_t b, int64_t *r0, int64_t *r1) {
    *r0 = b * RED_BLOCK;
    *r1 = *r0 + RED_BLOCK < j->n_in ? *r0 + RED_BLOCK : j->n_in;
}

static void run_generic_task(const red_job *j, int64_t task) {
    int64_t o = task / j->nblocks, b = task % j->nblocks, r0, r1;
    block_range(j, b, &r0, &r1);
    int64_t ob = offset_of(&j->keep, j->keep.n, o);
    if (j->ints) {
        int64_t acc = identity_i(j->kind);
        for_runs(j, ob, r0, r1, visit_scalar, &acc);
        put_i(j, o, b, acc);
    } else {
        double acc = identity_f(j->kind);
        for_runs(j, ob, r0, r1, visit_scalar, &acc);
        put_f(j, o, b, acc);
    }
}

static void run_column_task(const red_job *j, int64_t task) {
    int64_t b = task % j->nblocks, rest = task / j->nblocks;
    int64_t t = rest % j->ntiles, g = rest / j->ntiles, r0, r1;
    block_range(j, b, &r0, &r1);
    int64_t c0 = t * j->tile, width = j->ncols - c0 < j->tile ? j->ncols - c0 : j->tile;
    int64_t ob = offset_of(&j->keep, j->keep.n - 1, g) + c0;
    union {
        double f[RED_TILE];
        int64_t i[RED_TILE];
    } acc;
    for (int64_t c = 0; c < width; c++) {
        if (j->ints)
            acc.i[c] = identity_i(j->kind);
        else
            acc.f[c] = identity_f(j->kind);
    }
    red_tile tile = {&acc, width};
    for_runs(j, ob, r0, r1, visit_cols, &tile);
    int64_t o0 = g * j->ncols + c0;
    if (j->nblocks == 1 && !j->ints && j->out_dt == j->dt) {
        /* the common case without a branch an output (store_f's made a sum of [10, 100000]
         * over dim 0 spend more time storing than summing) */
        if (j->mean)
            for (int64_t c = 0; c < width; c++) acc.f[c] /= (double)j->n_in;
        if (j->dt == GIDS_F32)
            for (int64_t c = 0; c < width; c++) ((float *)j->dst)[o0 + c] = (float)acc.f[c];
        else
            memcpy((double *)j->dst + o0, acc.f, (size_t)width * sizeof(double));
        return;
    }
    for (int64_t c = 0; c < width; c++) {
        if (j->ints)
            put_i(j, o0 + c, b, acc.i[c]);
        else
            put_f(j, o0 + c, b, acc.f[c]);
    }
}

/* ---------------------------------------------------------------- row path */
/* Element offset of output o's run. */
static int64_t row_offset(const red_job *j, int64_t o) {
    if (j->keep.n == 0) return 0;
    if (j->keep.n == 1) return o * j->keep.stride[0];
    return offset_of(&j->keep, j->keep.n, o);
}

/* Task `task`: outputs [o0, o1), each the sum of its n_in contiguous elements, stored as the
 * generic path stores a one-block sum (the identity 0 plus the sum).  A short row's sum (under
 * ROW_SHORT elements) is its elements added in order, as SUMF would add them, so ROW_LANES
 * such rows run side by side with the same bits. */
/* f32 rows of ROW_SHORT or more elements, a row of the first half of [o, o1) beside one of the
 * second (gids_sum2_f32); o moves past them.  f64 sums are bound by memory, not by their adds,
 * and ran 9% slower paired. */
#define ROW_PAIRS_F32(j, base, n, o, o1)                                                           \
    if (n >= ROW_SHORT) {                                                                          \
        int64_t half = (o1 - o) / 2;                                                               \
        for (int64_t i = 0; i < half; i++) {                                                       \
            double s[2];                                                                           \
            gids_sum2_f32(base + row_offset(j, o + i), n, base + row_offset(j, o + half + i), n,   \
                          s);                                                                      \
            store_f(j, o + i, 0.0 + s[0]), store_f(j, o + half + i, 0.0 + s[1]);                   \
        }                                                                                          \
        o += 2 * half;                                                                             \
    }
#define ROW_PAIRS_NONE(j, base, n, o, o1)

#define ROW_SUMS(fname, TY, SUMF, PAIRS)                                                           \
    GIDS_HOT_MATH static void fname(const red_job *j, int64_t task) {                              \
        int64_t o = task * j->row_group, n = j->n_in;                                              \
        int64_t o1 = o + j->row_group < j->n_out ? o + j->row_group : j->n_out;                    \
        const TY *base = (const TY *)j->base;                                                      \
        if (n < ROW_SHORT)                                                                         \
            for (; o + ROW_LANES <= o1; o += ROW_LANES) {                                          \
                const TY *r[ROW_LANES];                                                            \
                double s[ROW_LANES];                                                               \
                for (int q = 0; q < ROW_LANES; q++) r[q] = base + row_offset(j, o + q), s[q] = 0;  \
                for (int64_t k = 0; k < n; k++)                                                    \
                    for (int q = 0; q < ROW_LANES; q++) s[q] += (double)r[q][k];                   \
                for (int q = 0; q < ROW_LANES; q++) store_f(j, o + q, 0.0 + s[q]);                 \
            }                                                                                      \
        PAIRS(j, base, n, o, o1)                                                                   \
        for (; o < o1; o++) store_f(j, o, 0.0 + SUMF(base + row_offset(j, o), n));                 \
    }
ROW_SUMS(row_sums_f32, float, gids_sum_f32, ROW_PAIRS_F32)
ROW_SUMS(row_sums_f64, double, gids_sum_f64, ROW_PAIRS_NONE)

/* Task `task` for max/min: outputs [o0, o1), each its row folded from the identity
 * (red_extreme.c) and stored, as a generic task folds and stores a one-block row, without its
 * per-output index arithmetic (amax over the rows of [8192, 128]: 336 -> 100 us). */
static void row_extremes(const red_job *j, int64_t task) {
    int64_t o = task * j->row_group, n = j->n_in;
    int64_t o1 = o + j->row_group < j->n_out ? o + j->row_group : j->n_out;
    bool mx = j->kind == GIDS_RED_MAX;
    double id = identity_f(j->kind);
    for (; o < o1; o++) {
        int64_t off = row_offset(j, o);
        if (j->dt == GIDS_F32)
            store_f(j, o, gids_red_extreme_run_f32(mx, id, (const float *)j->base + off, n));
        else
            store_f(j, o, gids_red_extreme_run_f64(mx, id, (const double *)j->base + off, n));
    }
}

/* Task `task` for integer and bool inputs, every kind: outputs [o0, o1), each its row folded
 * from the identity and stored, as a generic task folds and stores a one-block row, without its
 * per-output index arithmetic and dispatch ([1e6, 3] u8 summed over dim 1: 20.4 -> 1.7 ms on one
 * thread).  A short row (under ROW_SHORT elements) folds in a loop of the task's kind, any/all as
 * or/and of the elements' truth (the values fold_<dtype> gives); eight such rows side by side,
 * as f32 sums take them, had run at half the speed (3.3 ms), their loads gathered across rows. */
#define ROW_INT_EACH(TY, STEP)                                                                     \
    for (; o < o1; o++) {                                                                          \
        const TY *r = base + row_offset(j, o);                                                     \
        int64_t a = id;                                                                            \
        for (int64_t e = 0; e < n; e++) {                                                          \
            int64_t v = r[e];                                                                      \
            STEP;                                                                                  \
        }                                                                                          \
        store_i(j, o, a);                                                                          \
    }

#define ROW_INTS(fname, TY, FOLD)                                                                  \
    GIDS_HOT static void fname(const red_job *j, int64_t task) {                                   \
        int64_t o = task * j->row_group, n = j->n_in;                                              \
        int64_t o1 = o + j->row_group < j->n_out ? o + j->row_group : j->n_out;                    \
        const TY *base = (const TY *)j->base;                                                      \
        int64_t id = identity_i(j->kind);                                                          \
        if (n < ROW_SHORT) {                                                                       \
            switch (j->kind) {                                                                     \
            case GIDS_RED_SUM: ROW_INT_EACH(TY, a = (int64_t)((uint64_t)a + (uint64_t)v)); break;  \
            case GIDS_RED_PROD: ROW_INT_EACH(TY, a = (int64_t)((uint64_t)a * (uint64_t)v)); break; \
            case GIDS_RED_MAX: ROW_INT_EACH(TY, a = v > a ? v : a); break;                         \
            case GIDS_RED_MIN: ROW_INT_EACH(TY, a = v < a ? v : a); break;                         \
            case GIDS_RED_ANY: ROW_INT_EACH(TY, a |= v != 0); break;                               \
            case GIDS_RED_ALL: ROW_INT_EACH(TY, a &= v != 0); break;                               \
            }                                                                                      \
        }                                                                                          \
        for (; o < o1; o++) store_i(j, o, FOLD(j->kind, id, base + row_offset(j, o), n, 1));       \
    }
ROW_INTS(row_ints_i64, int64_t, fold_i64)
ROW_INTS(row_ints_i32, int32_t, fold_i32)
ROW_INTS(row_ints_u8, uint8_t, fold_u8)

/* ---------------------------------------------------------------- pair path */
/* Task `task`: blocks 2b and 2b + 1 of output o (or the last block alone), each block's partial
 * the identity 0 plus its sum, as a generic task folds a one-run block. */
GIDS_HOT_MATH static void run_pair_task(const red_job *j, int64_t task) {
    int64_t np = (j->nblocks + 1) / 2, o = task / np, b = 2 * (task % np), r0, r1, q0, q1;
    const float *x = (const float *)j->base + row_offset(j, o);
    block_range(j, b, &r0, &r1);
    if (b + 1 == j->nblocks) {
        put_f(j, o, b, 0.0 + gids_sum_f32(x + r0, r1 - r0));
        return;
    }
    double s[2];
    block_range(j, b + 1, &q0, &q1);
    gids_sum2_f32(x + r0, r1 - r0, x + q0, q1 - q0, s);
    put_f(j, o, b, 0.0 + s[0]);
    put_f(j, o, b + 1, 0.0 + s[1]);
}

/* ---------------------------------------------------------------- combine and store */
static double combine_f(gids_red_kind k, double a, double b) {
    switch (k) {
    case GIDS_RED_SUM: return a + b;
    case GIDS_RED_PROD: return a * b;
    case GIDS_RED_MAX: return (b > a || b != b) ? b : a;
    case GIDS_RED_MIN: return (b < a || b != b) ? b : a;
    case GIDS_RED_ANY: return (a != 0 || b != 0) ? 1 : 0;
    case GIDS_RED_ALL: return (a != 0 && b != 0) ? 1 : 0;
    }
    return a;
}

static int64_t combine_i(gids_red_kind k, int64_t a, int64_t b) {
    return fold_i64(k, a, &b, 1, 1);
}

/* Output o from its blocks' partials, combined in block order. */
static void store_one(const red_job *j, int64_t o) {
    int64_t nb = j->nblocks;
    if (j->ints) {
        const int64_t *pp = (const int64_t *)j->partial + o * nb;
        int64_t acc = pp[0];
        for (int64_t b = 1; b < nb; b++) acc = combine_i(j->kind, acc, pp[b]);
        store_i(j, o, acc);
        return;
    }
    const double *pp = (const double *)j->partial + o * nb;
    double acc = pp[0];
    for (int64_t b = 1; b < nb; b++) acc = combine_f(j->kind, acc, pp[b]);
    store_f(j, o, acc);
}

/* Small reductions stay out of OpenMP altogether: entering even a one-thread parallel region
 * costs more than summing a few elements. */
static void store_output(const red_job *j) {
    int nt = gids_threads_for(j->n_out * j->nblocks);
    if (nt <= 1) {
        for (int64_t o = 0; o < j->n_out; o++) store_one(j, o);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t o = 0; o < j->n_out; o++) store_one(j, o);
}

static void run_task(const red_job *j, int64_t task) {
    if (j->pairs)
        run_pair_task(j, task);
    else if (j->row_group > 0) {
        if (j->dt == GIDS_I64)
            row_ints_i64(j, task);
        else if (j->dt == GIDS_I32)
            row_ints_i32(j, task);
        else if (j->ints)
            row_ints_u8(j, task);
        else if (j->kind != GIDS_RED_SUM)
            row_extremes(j, task);
        else if (j->dt == GIDS_F32)
            row_sums_f32(j, task);
        else
            row_sums_f64(j, task);
    } else if (j->columns)
        run_column_task(j, task);
    else
        run_generic_task(j, task);
}

/* Runs tasks [0, ntasks) over the threads the job's size calls for. */
static void run_tasks(const red_job *j, int64_t ntasks) {
    int nt = ntasks > 1 ? gids_threads_for(j->n_out * j->n_in) : 1;
    if (nt > ntasks) nt = (int)ntasks;
    if (nt <= 1) {
        for (int64_t task = 0; task < ntasks; task++) run_task(j, task);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t task = 0; task < ntasks; task++) run_task(j, task);
}

gids_status gids_red_exec(const char *op, gids_red_kind kind, const gids_tensor *a, uint32_t mask,
                          gids_tensor *out, bool mean) {
    GIDS_CHECK(!gids_dtype_is_half(a->dtype), GIDS_EDTYPE, "%s: internal reduction of dtype %s", op,
               gids_dtype_name(a->dtype));
    red_job j;
    memset(&j, 0, sizeof j);
    j.kind = kind;
    j.dt = a->dtype;
    j.ints = !gids_dtype_is_float(a->dtype);
    j.base = gids_tensor_data(a);
    j.n_out = j.n_in = 1;
    for (int d = 0; d < a->ndim; d++) {
        red_dims *dims = (mask & (1u << d)) ? &j.red : &j.keep;
        dims->shape[dims->n] = a->shape[d];
        dims->stride[dims->n] = a->stride[d];
        dims->n++;
        if (mask & (1u << d))
            j.n_in *= a->shape[d];
        else
            j.n_out *= a->shape[d];
    }
    GIDS_CHECK(gids_tensor_numel(out) == j.n_out, GIDS_EINVAL,
               "%s: internal reduction output has %lld elements, expected %lld", op,
               (long long)gids_tensor_numel(out), (long long)j.n_out);
    if (j.n_out == 0) return GIDS_OK;
    coalesce(&j.keep);
    coalesce(&j.red);
    int64_t kl = j.keep.n - 1;
    j.columns = j.keep.n > 0 && j.keep.stride[kl] == 1 && j.keep.shape[kl] >= 2 && j.red.n > 0 &&
                j.red.stride[j.red.n - 1] != 1;
    j.nblocks = j.n_in <= RED_BLOCK ? 1 : (j.n_in + RED_BLOCK - 1) / RED_BLOCK;
    int64_t ntasks = j.n_out * j.nblocks;
    if (j.columns) {
        j.ncols = j.keep.shape[kl];
        int64_t want = gids_threads_for(j.n_out * j.n_in);
        j.tile = RED_TILE;
        while (j.tile > 16 &&
               (j.n_out / j.ncols) * ((j.ncols + j.tile - 1) / j.tile) * j.nblocks < want)
            j.tile /= 2;
        j.ntiles = (j.ncols + j.tile - 1) / j.tile;
        ntasks = (j.n_out / j.ncols) * j.ntiles * j.nblocks;
    }
    j.dst = gids_tensor_data(out);
    j.out_dt = out->dtype;
    j.mean = mean;
    if (j.n_in == 0) { /* every output is the identity */
        for (int64_t o = 0; o < j.n_out; o++) {
            if (j.ints)
                store_i(&j, o, identity_i(kind));
            else
                store_f(&j, o, identity_f(kind));
        }
        return GIDS_OK;
    }
    bool row_kind = kind == GIDS_RED_SUM || kind == GIDS_RED_MAX || kind == GIDS_RED_MIN;
    if ((row_kind || j.ints) && j.red.n == 1 && j.red.stride[0] == 1 && j.n_in <= RED_BLOCK) {
        j.row_group = ROW_TASK_ELEMS / j.n_in > 1 ? ROW_TASK_ELEMS / j.n_in : 1;
        run_tasks(&j, (j.n_out + j.row_group - 1) / j.row_group);
        return GIDS_OK;
    }
    if (kind == GIDS_RED_SUM && j.dt == GIDS_F32 && j.red.n == 1 && j.red.stride[0] == 1) {
        j.pairs = true; /* several blocks, since the row path took one */
        ntasks = j.n_out * ((j.nblocks + 1) / 2);
    }
    if (j.nblocks == 1) { /* every task stores its outputs */
        run_tasks(&j, ntasks);
        return GIDS_OK;
    }
    uint64_t small[64]; /* partials of small reductions: no malloc */
    int64_t npart = j.n_out * j.nblocks;
    j.partial = npart <= 64 ? (void *)small : malloc((size_t)npart * 8);
    GIDS_CHECK(j.partial != NULL, GIDS_ENOMEM, "%s: cannot allocate %lld reduction partials", op,
               (long long)npart);
    run_tasks(&j, ntasks);
    store_output(&j);
    if (j.partial != (void *)small) free(j.partial);
    return GIDS_OK;
}
