/* scan.c -- inclusive prefix sums and products along one dim (cumsum, cumprod).
 *
 * Floats keep their dtype and accumulate in f64; integers and bool accumulate in i64 (wrapping)
 * and give i64, as torch.  A task owns one outer index and a tile of up to SCAN_TILE positions
 * of the dims after the scanned one, and walks the scanned dim in order, so memory is read
 * row by row and every element's running value is built in the same order for any thread count.
 */
#include "../core/core_impl.h"
#include "elementwise_impl.h"

#define SCAN_TILE 256

#define SCAN_KERNEL(fname, TY, ACC, OP)                                                            \
    static void fname(const TY *x, TY *y, int64_t outer, int64_t size, int64_t inner, bool prod) { \
        int64_t ntiles = (inner + SCAN_TILE - 1) / SCAN_TILE;                                      \
        int nt = gids_threads_for(outer * size * inner);                                           \
        _Pragma("omp parallel for schedule(static) num_threads(nt) if (nt > 1)")                   \
        for (int64_t task = 0; task < outer * ntiles; task++) {                                    \
            int64_t o = task / ntiles, j0 = (task % ntiles) * SCAN_TILE;                           \
            int64_t w = inner - j0 < SCAN_TILE ? inner - j0 : SCAN_TILE;                           \
            ACC acc[SCAN_TILE];                                                                    \
            for (int64_t j = 0; j < w; j++) acc[j] = prod ? 1 : 0;                                 \
            for (int64_t k = 0; k < size; k++) {                                                   \
                int64_t at = (o * size + k) * inner + j0;                                          \
                for (int64_t j = 0; j < w; j++) {                                                  \
                    acc[j] = OP(acc[j], x[at + j], prod);                                          \
                    y[at + j] = (TY)acc[j];                                                        \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

#define FLOAT_STEP(a, v, prod) ((prod) ? (a) * (double)(v) : (a) + (double)(v))
#define INT_STEP(a, v, prod) ((prod) ? (a) * (uint64_t)(v) : (a) + (uint64_t)(v))
SCAN_KERNEL(scan_f32, float, double, FLOAT_STEP)
SCAN_KERNEL(scan_f64, double, double, FLOAT_STEP)
SCAN_KERNEL(scan_i64, int64_t, uint64_t, INT_STEP)

static gids_status scan_run(gids_tensor **out, const char *op, const gids_tensor *a, int dim,
                            bool prod) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", op);
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
    if (st == GIDS_OK && gids_tensor_numel(a) > 0) {
        const void *x = gids_tensor_data(c);
        void *y = gids_tensor_data(r);
        if (dt == GIDS_F32) scan_f32(x, y, outer, size, inner, prod);
        else if (dt == GIDS_F64) scan_f64(x, y, outer, size, inner, prod);
        else scan_i64(x, y, outer, size, inner, prod);
    }
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
