/* win_scaler.c -- per-column mean and standard deviation of the rows of chosen graphs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core_impl.h"
#include "gids/runtime.h"
#include "gids/tensor.h"
#include "gids/windows.h"

/* Graphs per chunk: chunk sums are combined in chunk order, so the thread count never changes
 * the result. */
#define CHUNK 256

static void sum_rows(double *acc, const float *t, int64_t f, const int64_t *ptr,
                     const int64_t *graphs, int64_t lo, int64_t hi, const double *mean) {
    for (int64_t k = lo; k < hi; k++)
        for (int64_t r = ptr[graphs[k]]; r < ptr[graphs[k] + 1]; r++) {
            const float *row = t + r * f;
            if (mean == NULL)
                for (int64_t c = 0; c < f; c++) acc[c] += row[c];
            else
                for (int64_t c = 0; c < f; c++) {
                    double d = row[c] - mean[c];
                    acc[c] += d * d;
                }
        }
}

/* out[c] = sum over every chunk (in order) of the chunk's sums. */
static gids_status chunked(double *out, const float *t, int64_t f, const int64_t *ptr,
                           const int64_t *graphs, int64_t n, const double *mean) {
    int64_t nchunks = (n + CHUNK - 1) / CHUNK;
    double *part = calloc((size_t)(nchunks > 0 ? nchunks : 1) * (size_t)f, sizeof *part);
    if (part == NULL) GIDS_FAIL(GIDS_ENOMEM, "scaler_fit: out of memory");
#pragma omp parallel for num_threads(gids_get_num_threads()) schedule(static) if (nchunks >= 8)
    for (int64_t ch = 0; ch < nchunks; ch++)
        sum_rows(part + ch * f, t, f, ptr, graphs, ch * CHUNK,
                 (ch + 1) * CHUNK < n ? (ch + 1) * CHUNK : n, mean);
    memset(out, 0, (size_t)f * sizeof *out);
    for (int64_t ch = 0; ch < nchunks; ch++)
        for (int64_t c = 0; c < f; c++) out[c] += part[ch * f + c];
    free(part);
    return GIDS_OK;
}

gids_status gids_scaler_fit(gids_tensor **mean, gids_tensor **std, const gids_tensor *table,
                            const gids_tensor *ptr, const int64_t *graphs, int64_t n,
                            double min_std) {
    GIDS_CHECK(table != NULL && ptr != NULL && mean != NULL && std != NULL, GIDS_EINVAL,
               "scaler_fit: NULL argument");
    GIDS_CHECK(table->dtype == GIDS_F32 && table->ndim == 2 && gids_tensor_is_contiguous(table),
               GIDS_EDTYPE, "scaler_fit: table must be a contiguous 2-D f32 tensor");
    GIDS_CHECK(ptr->dtype == GIDS_I64 && ptr->ndim == 1 && ptr->shape[0] >= 1 &&
                   gids_tensor_is_contiguous(ptr),
               GIDS_EDTYPE, "scaler_fit: ptr must be a contiguous 1-D i64 tensor of G + 1 offsets");
    GIDS_CHECK(n >= 0 && (n == 0 || graphs != NULL), GIDS_EINVAL, "scaler_fit: %lld graphs",
               (long long)n);
    GIDS_CHECK(min_std >= 0, GIDS_EINVAL, "scaler_fit: min_std %g must be >= 0", min_std);
    const int64_t g = ptr->shape[0] - 1, f = table->shape[1], rows = table->shape[0];
    const int64_t *p = gids_tensor_data(ptr);
    GIDS_CHECK(p[0] == 0 && p[g] == rows, GIDS_ESHAPE,
               "scaler_fit: ptr runs %lld..%lld, expected 0..%lld (rows of table)", (long long)p[0],
               (long long)p[g], (long long)rows);
    int64_t count = 0;
    for (int64_t k = 0; k < n; k++) {
        GIDS_CHECK(graphs[k] >= 0 && graphs[k] < g, GIDS_EINDEX,
                   "scaler_fit: graph index %lld at position %lld is out of range 0..%lld",
                   (long long)graphs[k], (long long)k + 1, (long long)g - 1);
        GIDS_CHECK(p[graphs[k]] <= p[graphs[k] + 1], GIDS_EINVAL,
                   "scaler_fit: ptr decreases at graph %lld", (long long)graphs[k]);
        count += p[graphs[k] + 1] - p[graphs[k]];
    }
    double *sum = malloc((size_t)(f > 0 ? f : 1) * 2 * sizeof *sum);
    if (sum == NULL) GIDS_FAIL(GIDS_ENOMEM, "scaler_fit: out of memory");
    double *sq = sum + f;
    const float *t = gids_tensor_data(table);
    gids_status st = chunked(sum, t, f, p, graphs, n, NULL);
    for (int64_t c = 0; c < f && st == GIDS_OK; c++) sum[c] = count > 0 ? sum[c] / count : 0.0;
    if (st == GIDS_OK) st = chunked(sq, t, f, p, graphs, n, sum);
    gids_tensor *m = NULL, *s = NULL;
    int64_t shape[1] = {f};
    if (st == GIDS_OK && (st = gids_empty(&m, GIDS_F32, GIDS_DEVICE_CPU, 1, shape)) == GIDS_OK &&
        (st = gids_empty(&s, GIDS_F32, GIDS_DEVICE_CPU, 1, shape)) == GIDS_OK) {
        float *mp = gids_tensor_data(m), *sp = gids_tensor_data(s);
        for (int64_t c = 0; c < f; c++) {
            double sd = count >= 2 ? sqrt(sq[c] / (double)(count - 1)) : 0.0;
            mp[c] = (float)sum[c];
            sp[c] = (float)(sd > min_std ? sd : min_std);
        }
        *mean = m;
        *std = s;
        m = s = NULL;
    }
    gids_tensor_release(m);
    gids_tensor_release(s);
    free(sum);
    return st;
}

static gids_status check_vector(const char *arg, const gids_tensor *v, int64_t f) {
    GIDS_CHECK(v != NULL, GIDS_EINVAL, "scaler_apply_: %s is NULL", arg);
    GIDS_TRY(gids_check_cpu("scaler_apply_", arg, v));
    GIDS_CHECK(
        v->dtype == GIDS_F32 && v->ndim == 1 && v->shape[0] == f && gids_tensor_is_contiguous(v),
        GIDS_ESHAPE, "scaler_apply_: %s must be a contiguous f32 vector of %lld, got a %d-D %s one",
        arg, (long long)f, v->ndim, gids_dtype_name(v->dtype));
    return GIDS_OK;
}

gids_status gids_scaler_apply_(gids_tensor *table, const gids_tensor *mean,
                               const gids_tensor *std) {
    GIDS_CHECK(table != NULL, GIDS_EINVAL, "scaler_apply_: table is NULL");
    GIDS_TRY(gids_check_cpu("scaler_apply_", "table", table));
    GIDS_CHECK(table->dtype == GIDS_F32 && table->ndim == 2 && gids_tensor_is_contiguous(table),
               GIDS_EDTYPE, "scaler_apply_: table must be a contiguous 2-D f32 tensor");
    const int64_t rows = table->shape[0], f = table->shape[1];
    GIDS_TRY(check_vector("mean", mean, f));
    GIDS_TRY(check_vector("std", std, f));
    float *t = gids_tensor_data(table);
    const float *m = gids_tensor_data(mean), *s = gids_tensor_data(std);
#pragma omp parallel for num_threads(gids_get_num_threads())                                       \
    schedule(static) if (rows * f >= (1 << 18))
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < f; c++) t[r * f + c] = (t[r * f + c] - m[c]) / s[c];
    gids_tensor_bump_version(table);
    return GIDS_OK;
}
