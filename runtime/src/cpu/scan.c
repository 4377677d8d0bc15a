/* scan.c -- inclusive prefix sums and products along one dim (cumsum, cumprod).
 *
 * Floats keep their dtype and accumulate in f64; integers and bool accumulate in i64 (wrapping)
 * and give i64, as torch.  Every element's running value is built in the scan's order, one
 * element after another, for any thread count and either layout below, so results are the same
 * bits as torch's sequential f64 loop.
 *
 * Two layouts of the contiguous [outer, size, inner] input:
 * - inner > 1: a task owns one outer index and a tile of up to SCAN_TILE columns and walks the
 *   scanned dim in order, so memory is read row by row and the tile's chains run side by side,
 *   in vector lanes (x and y never overlap: y is a new tensor).
 * - inner == 1 (the scan runs along contiguous memory): one chain per row is bound by the
 *   latency of its add (about 4 cycles), so a task interleaves SCAN_ROWS rows, whose chains are
 *   independent, and the core overlaps them.
 */
#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "elementwise_impl.h"

#define SCAN_TILE 256
#define SCAN_ROWS 8

/* A tile: rows k = 0..size-1 of the w columns starting at x / y (row stride `inner`). */
#define SCAN_TILE_TASK(fname, TY, ACC, OP, INIT)                                                   \
    static GIDS_HOT void fname(const TY *x, TY *y, int64_t size, int64_t inner, int64_t w) {       \
        ACC acc[SCAN_TILE];                                                                        \
        for (int64_t j = 0; j < w; j++) acc[j] = INIT;                                             \
        for (int64_t k = 0; k < size; k++) {                                                       \
            GIDS_EW_SIMD for (int64_t j = 0; j < w; j++) {                                         \
                acc[j] = acc[j] OP(ACC) x[k * inner + j];                                          \
                y[k * inner + j] = (TY)acc[j];                                                     \
            }                                                                                      \
        }                                                                                          \
    }

/* Rows r = 0..n-1 (n <= SCAN_ROWS) of `size` contiguous elements each, interleaved.  A full
 * group's row count is a constant so its accumulators live in registers. */
#define SCAN_ROWS_TASK(fname, TY, ACC, OP, INIT)                                                   \
    static void fname##_n(const TY *x, TY *y, int64_t size, int n) {                               \
        for (int r = 0; r < n; r++) {                                                              \
            ACC acc = INIT;                                                                        \
            for (int64_t k = 0; k < size; k++) {                                                   \
                acc = acc OP(ACC) x[r * size + k];                                                 \
                y[r * size + k] = (TY)acc;                                                         \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static void fname(const TY *x, TY *y, int64_t size, int n) {                                   \
        if (n != SCAN_ROWS) {                                                                      \
            fname##_n(x, y, size, n);                                                              \
            return;                                                                                \
        }                                                                                          \
        ACC acc[SCAN_ROWS];                                                                        \
        for (int r = 0; r < SCAN_ROWS; r++) acc[r] = INIT;                                         \
        for (int64_t k = 0; k < size; k++) {                                                       \
            for (int r = 0; r < SCAN_ROWS; r++) {                                                  \
                acc[r] = acc[r] OP(ACC) x[r * size + k];                                           \
                y[r * size + k] = (TY)acc[r];                                                      \
            }                                                                                      \
        }                                                                                          \
    }

/* Integers wrap: their accumulator is u64 (well defined on overflow), stored back as i64. */
#define SCAN_KERNELS(sfx, TY, ACC)                                                                 \
    SCAN_TILE_TASK(tile_sum_##sfx, TY, ACC, +, 0)                                                  \
    SCAN_TILE_TASK(tile_prod_##sfx, TY, ACC, *, 1)                                                 \
    SCAN_ROWS_TASK(rows_sum_##sfx, TY, ACC, +, 0)                                                  \
    SCAN_ROWS_TASK(rows_prod_##sfx, TY, ACC, *, 1)
SCAN_KERNELS(f32, float, double)
SCAN_KERNELS(f64, double, double)
SCAN_KERNELS(i64, int64_t, uint64_t)

/* CALL(sfx, TY) for the kernels of dtype dt (f32, f64, else i64). */
#define BY_DTYPE(dt, CALL)                                                                         \
    do {                                                                                           \
        if ((dt) == GIDS_F32)                                                                      \
            CALL(f32, float);                                                                      \
        else if ((dt) == GIDS_F64)                                                                 \
            CALL(f64, double);                                                                     \
        else                                                                                       \
            CALL(i64, int64_t);                                                                    \
    } while (0)

typedef struct {
    gids_dtype dt;
    const void *x;
    void *y;
    int64_t size, inner;
    bool prod;
} scan_job;

/* Task number `task`: a tile of one outer index's columns when inner > 1, else a group of up to
 * SCAN_ROWS rows of `outer`. */
static void task_at(const scan_job *j, int64_t task, int64_t outer) {
    size_t es = gids_dtype_size(j->dt);
    if (j->inner == 1) {
        int64_t r0 = task * SCAN_ROWS;
        int n = outer - r0 < SCAN_ROWS ? (int)(outer - r0) : SCAN_ROWS;
        const char *x = (const char *)j->x + (size_t)(r0 * j->size) * es;
        char *y = (char *)j->y + (size_t)(r0 * j->size) * es;
#define ROWS_CALL(sfx, TY)                                                                         \
    (j->prod ? rows_prod_##sfx : rows_sum_##sfx)((const TY *)x, (TY *)y, j->size, n)
        BY_DTYPE(j->dt, ROWS_CALL);
#undef ROWS_CALL
        return;
    }
    int64_t ntiles = (j->inner + SCAN_TILE - 1) / SCAN_TILE;
    int64_t o = task / ntiles, j0 = (task % ntiles) * SCAN_TILE;
    int64_t w = j->inner - j0 < SCAN_TILE ? j->inner - j0 : SCAN_TILE;
    size_t at = (size_t)(o * j->size * j->inner + j0) * es;
    const char *x = (const char *)j->x + at;
    char *y = (char *)j->y + at;
#define TILE_CALL(sfx, TY)                                                                         \
    (j->prod ? tile_prod_##sfx : tile_sum_##sfx)((const TY *)x, (TY *)y, j->size, j->inner, w)
    BY_DTYPE(j->dt, TILE_CALL);
#undef TILE_CALL
}

static void scan_all(const scan_job *j, int64_t outer) {
    int64_t ntasks = j->inner == 1 ? (outer + SCAN_ROWS - 1) / SCAN_ROWS
                                   : outer * ((j->inner + SCAN_TILE - 1) / SCAN_TILE);
    int nt = gids_threads_for(outer * j->size * j->inner);
    if (nt <= 1 || ntasks == 1) {
        for (int64_t t = 0; t < ntasks; t++) task_at(j, t, outer);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t t = 0; t < ntasks; t++) task_at(j, t, outer);
}
static gids_status scan_run(gids_tensor **out, const char *op, const gids_tensor *a, int dim,
                            bool prod) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", op);
    GIDS_ON_DEVICE(op, scan, a)(out, a, dim, prod);
    GIDS_TRY(gids_ew_check_input(op, "arg 1", a));
    int d0;
    GIDS_TRY(gids_normalize_dim(op, dim, a->ndim, &d0));
    int64_t outer, size, inner;
    gids_ew_split_dim(a, d0, &outer, &size, &inner);
    gids_dtype dt = gids_dtype_is_float(a->dtype) ? a->dtype : GIDS_I64;
    gids_tensor *w = NULL, *c = NULL, *r = NULL;
    gids_status st = gids_ew_cast(&w, a, dt);
    if (st == GIDS_OK) st = gids_contiguous(&c, w);
    if (st == GIDS_OK) st = gids_empty(&r, dt, GIDS_DEVICE_CPU, a->ndim, a->shape);
    if (st == GIDS_OK && gids_tensor_numel(a) > 0)
        scan_all(&(scan_job){dt, gids_tensor_data(c), gids_tensor_data(r), size, inner, prod},
                 outer);
    gids_tensor_release(w);
    gids_tensor_release(c);
    if (st != GIDS_OK) {
        gids_tensor_release(r);
        return st;
    }
    *out = r;
    return GIDS_OK;
}

gids_status gids_cumsum(gids_tensor **out, const gids_tensor *a, int dim) {
    return scan_run(out, "cumsum", a, dim, false);
}

gids_status gids_cumprod(gids_tensor **out, const gids_tensor *a, int dim) {
    return scan_run(out, "cumprod", a, dim, true);
}
