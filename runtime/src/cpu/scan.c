/* scan.c -- inclusive prefix sums and products along one dim (cumsum, cumprod).
 *
 * Floats keep their dtype and accumulate in f64; integers and bool accumulate in i64 (wrapping)
 * and give i64, as torch.  A task owns one outer index and a tile of up to SCAN_TILE positions
 * of the dims after the scanned one, and walks the scanned dim in order, so memory is read
 * row by row and every element's running value is built in the same order for any thread count.
 */
#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "elementwise_impl.h"

#define SCAN_TILE 256

/* One task: rows k = 0..size-1 of the w columns starting at x / y (row stride `inner`). */
#define SCAN_TASK(fname, TY, ACC, OP)                                                              \
    static void fname(const TY *x, TY *y, int64_t size, int64_t inner, int64_t w, bool prod) {     \
        ACC acc[SCAN_TILE];                                                                        \
        for (int64_t j = 0; j < w; j++) acc[j] = prod ? 1 : 0;                                     \
        for (int64_t k = 0; k < size; k++) {                                                       \
            for (int64_t j = 0; j < w; j++) {                                                      \
                acc[j] = OP(acc[j], x[k * inner + j], prod);                                       \
                y[k * inner + j] = (TY)acc[j];                                                     \
            }                                                                                      \
        }                                                                                          \
    }

#define FLOAT_STEP(a, v, prod) ((prod) ? (a) * (double)(v) : (a) + (double)(v))
#define INT_STEP(a, v, prod) ((prod) ? (a) * (uint64_t)(v) : (a) + (uint64_t)(v))
SCAN_TASK(task_f32, float, double, FLOAT_STEP)
SCAN_TASK(task_f64, double, double, FLOAT_STEP)
SCAN_TASK(task_i64, int64_t, uint64_t, INT_STEP)

/* Task number `task` over x and y, contiguous [outer, size, inner] of dtype dt (f32, f64 or
 * i64) cut into tiles of SCAN_TILE columns. */
static void task_at(gids_dtype dt, const void *x, void *y, int64_t task, int64_t size,
                    int64_t inner, bool prod) {
    int64_t ntiles = (inner + SCAN_TILE - 1) / SCAN_TILE;
    int64_t o = task / ntiles, j0 = (task % ntiles) * SCAN_TILE;
    int64_t w = inner - j0 < SCAN_TILE ? inner - j0 : SCAN_TILE;
    int64_t at = o * size * inner + j0;
    if (dt == GIDS_F32)
        task_f32((const float *)x + at, (float *)y + at, size, inner, w, prod);
    else if (dt == GIDS_F64)
        task_f64((const double *)x + at, (double *)y + at, size, inner, w, prod);
    else
        task_i64((const int64_t *)x + at, (int64_t *)y + at, size, inner, w, prod);
}

static void scan_all(gids_dtype dt, const void *x, void *y, int64_t outer, int64_t size,
                     int64_t inner, bool prod) {
    int64_t ntasks = outer * ((inner + SCAN_TILE - 1) / SCAN_TILE);
    int nt = gids_threads_for(outer * size * inner);
    if (nt <= 1) {
        for (int64_t t = 0; t < ntasks; t++) task_at(dt, x, y, t, size, inner, prod);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t t = 0; t < ntasks; t++) task_at(dt, x, y, t, size, inner, prod);
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
        scan_all(dt, gids_tensor_data(c), gids_tensor_data(r), outer, size, inner, prod);
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
