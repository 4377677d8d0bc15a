/* index.c -- index_select and gather, int_range, plus the index helpers of index_impl.h.
 *
 * Every index value is checked against its range before anything is written, so a bad index
 * leaves no half-filled result and names the first offending position.  Copies are pure
 * gathers (each output element written once), so any parallel split gives the same result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_impl.h"
#include "../core/dispatch_impl.h"

gids_status gids_index_to_i64(const char *op, const char *arg, const gids_tensor *index,
                              gids_tensor **out) {
    *out = NULL;
    GIDS_TRY(gids_check_cpu(op, arg, index));
    GIDS_TRY(gids_check_index_dtype(op, arg, index));
    if (index->dtype == GIDS_I64 && gids_tensor_is_contiguous(index)) {
        gids_tensor_retain((gids_tensor *)index);
        *out = (gids_tensor *)index;
        return GIDS_OK;
    }
    if (index->dtype == GIDS_I64) return gids_contiguous(out, index);
    return gids_to_dtype(out, index, GIDS_I64);
}

gids_status gids_index_check_range(const char *op, const int64_t *v, int64_t n, int64_t size,
                                   int ndim, const int64_t *shape) {
    for (int64_t i = 0; i < n; i++) {
        if (v[i] >= 0 && v[i] < size) continue;
        char pos[160];
        if (ndim <= 1) {
            snprintf(pos, sizeof pos, "%lld", (long long)i);
        } else {
            int64_t coord[GIDS_MAX_DIMS];
            gids_unravel(i, ndim, shape, coord);
            gids_shape_str(ndim, coord, pos, sizeof pos);
        }
        GIDS_FAIL(GIDS_EINDEX, "%s: index %lld out of range [0, %lld) at position %s (0-based)", op,
                  (long long)v[i], (long long)size, pos);
    }
    return GIDS_OK;
}

gids_status gids_int_range(const gids_tensor *t, int64_t *lo, int64_t *hi) {
    const char *op = "int_range";
    GIDS_CHECK(t != NULL && lo != NULL && hi != NULL, GIDS_EINVAL,
               "int_range: t, lo and hi must not be NULL");
    *lo = 0;
    *hi = -1;
    GIDS_CHECK(t->dtype == GIDS_I64 || t->dtype == GIDS_I32, GIDS_EDTYPE,
               "int_range: input must be an i64 or i32 index tensor, got %s",
               gids_dtype_name(t->dtype));
    int64_t n = gids_tensor_numel(t);
    if (n == 0) return GIDS_OK;
    GIDS_ON_DEVICE(op, int_range, t)(t, lo, hi);
    gids_tensor *c = NULL;
    GIDS_TRY(gids_index_to_i64(op, "input", t, &c));
    const int64_t *v = gids_tensor_data(c);
    int64_t a = v[0], b = v[0];
    for (int64_t i = 1; i < n; i++) {
        a = v[i] < a ? v[i] : a;
        b = v[i] > b ? v[i] : b;
    }
    gids_tensor_release(c);
    *lo = a;
    *hi = b;
    return GIDS_OK;
}

static inline void copy_elem(char *dst, const char *src, size_t es) {
    switch (es) {
    case 1: *dst = *src; break;
    case 2: memcpy(dst, src, 2); break;
    case 4: memcpy(dst, src, 4); break;
    default: memcpy(dst, src, 8); break;
    }
}

static gids_status check_input(const char *op, const gids_tensor *a) {
    GIDS_TRY(gids_check_cpu(op, "input", a));
    return gids_check_cpu_dtype(op, "input", a);
}

/* ---------------------------------------------------------------- index_select */

/* One chunk of output rows [r0, r1) of a select over [outer, size, row bytes]: output row
 * r = o * nidx + l copies input row o * size + iv[l].  The chunk is walked one input block o at
 * a time, its indices l in a plain loop (a gather, with no division and no position to carry per
 * row), and rows of one element copy as their type, not through memcpy: selecting columns of a
 * matrix is a row of 4 bytes per index, where the loop that carried (o, l) row by row took 1.5x
 * as long ([1000, 1000], 1000 columns, one thread: 900 -> 590 us). */
#define SELECT_CHUNK(T)                                                                            \
    for (int64_t r = r0; r < r1; o++, l = 0) {                                                     \
        int64_t k = nidx - l < r1 - r ? nidx - l : r1 - r;                                         \
        const T *src = (const T *)sp + o * size;                                                   \
        T *dst = (T *)dp + r;                                                                      \
        const int64_t *ix = iv + l;                                                                \
        for (int64_t j = 0; j < k; j++) dst[j] = src[ix[j]];                                       \
        r += k;                                                                                    \
    }
static void select_chunk(char *dp, const char *sp, const int64_t *iv, int64_t r0, int64_t r1,
                         int64_t nidx, int64_t size, size_t row) {
    int64_t o = r0 / nidx, l = r0 % nidx;
    switch (row) {
    case 1: SELECT_CHUNK(uint8_t); return;
    case 2: SELECT_CHUNK(uint16_t); return;
    case 4: SELECT_CHUNK(uint32_t); return;
    case 8: SELECT_CHUNK(uint64_t); return;
    default: break;
    }
    for (int64_t r = r0; r < r1; r++) {
        memcpy(dp + (size_t)r * row, sp + (size_t)(o * size + iv[l]) * row, row);
        if (++l == nidx) l = 0, o++;
    }
}
#undef SELECT_CHUNK

/* Chunks hold about GIDS_INDEX_CHUNK elements' bytes, so short rows do not make a task each. */
static void select_rows(char *dp, const char *sp, const int64_t *iv, int64_t outer, int64_t nidx,
                        int64_t size, size_t row) {
    int64_t rows = outer * nidx;
    if (rows == 0 || row == 0) return;
    int64_t per = (int64_t)(GIDS_INDEX_CHUNK * 4 / row) + 1;
    int64_t nchunks = (rows + per - 1) / per;
    int nth = gids_threads_for(rows * (int64_t)row / 4);
#pragma omp parallel for num_threads(nth) schedule(static) if (nth > 1)
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t r0 = c * per, r1 = r0 + per < rows ? r0 + per : rows;
        select_chunk(dp, sp, iv, r0, r1, nidx, size, row);
    }
}

gids_status gids_index_select(gids_tensor **out, const gids_tensor *a, int dim,
                              const gids_tensor *index) {
    const char *op = "index_select";
    GIDS_CHECK_ARG(out, op, "out");
    *out = NULL;
    GIDS_DEVICE_BACKEND(op, index_select, a, index);
    if (gids_be_ != NULL) {
        GIDS_TRY(gids_be_->index_select(out, a, dim, index));
        gids_range_follow(*out, 1, &a); /* some of a's values (ranges.c) */
        return GIDS_OK;
    }
    GIDS_TRY(check_input(op, a));
    GIDS_CHECK(index != NULL, GIDS_EINVAL, "index_select: index is NULL");
    int d = 0;
    GIDS_TRY(gids_normalize_dim(op, dim, a->ndim, &d));
    char sh[128];
    GIDS_CHECK(index->ndim <= 1, GIDS_ESHAPE, "index_select: index has shape %s, expected 1-D",
               gids_shape_str(index->ndim, index->shape, sh, sizeof sh));
    int64_t nidx = gids_tensor_numel(index);
    GIDS_CHECK(a->ndim > 0 || nidx == 1, GIDS_ESHAPE,
               "index_select: indexing a 0-d tensor takes exactly 1 index, got %lld",
               (long long)nidx);
    gids_tensor *idx = NULL, *src = NULL, *res = NULL;
    GIDS_TRY(gids_index_to_i64(op, "index", index, &idx));
    const int64_t *iv = gids_tensor_data(idx);
    int64_t size = a->ndim > 0 ? a->shape[d] : 1;
    gids_status st = gids_index_check_range(op, iv, nidx, size, 1, NULL);
    int64_t shape[GIDS_MAX_DIMS];
    memcpy(shape, a->shape, sizeof(int64_t) * (size_t)a->ndim);
    if (a->ndim > 0) shape[d] = nidx;
    if (st == GIDS_OK) st = gids_empty(&res, a->dtype, GIDS_DEVICE_CPU, a->ndim, shape);
    if (st == GIDS_OK) st = gids_contiguous(&src, a);
    if (st == GIDS_OK) {
        int64_t outer = 1, inner = 1;
        for (int k = 0; k < d; k++) outer *= a->shape[k];
        for (int k = d + 1; k < a->ndim; k++) inner *= a->shape[k];
        select_rows(gids_tensor_data(res), gids_tensor_data(src), iv, outer, nidx, size,
                    (size_t)inner * gids_dtype_size(a->dtype));
    }
    gids_tensor_release(src);
    gids_tensor_release(idx);
    if (st != GIDS_OK) {
        gids_tensor_release(res);
        return st;
    }
    *out = res;
    return GIDS_OK;
}

/* ---------------------------------------------------------------- gather */

gids_status gids_gather(gids_tensor **out, const gids_tensor *a, int dim,
                        const gids_tensor *index) {
    const char *op = "gather";
    GIDS_CHECK_ARG(out, op, "out");
    *out = NULL;
    GIDS_DEVICE_BACKEND(op, gather, a, index);
    if (gids_be_ != NULL) {
        GIDS_TRY(gids_be_->gather(out, a, dim, index));
        gids_range_follow(*out, 1, &a); /* some of a's values (ranges.c) */
        return GIDS_OK;
    }
    GIDS_TRY(check_input(op, a));
    GIDS_CHECK_ARG(index, op, "index");
    int d = 0;
    GIDS_TRY(gids_normalize_dim(op, dim, a->ndim, &d));
    char si[128], sa[128];
    GIDS_CHECK(index->ndim == a->ndim, GIDS_ESHAPE,
               "gather: index has shape %s, expected %d dims like the input %s",
               gids_shape_str(index->ndim, index->shape, si, sizeof si), a->ndim,
               gids_shape_str(a->ndim, a->shape, sa, sizeof sa));
    for (int k = 0; k < a->ndim; k++)
        GIDS_CHECK(k == d || index->shape[k] <= a->shape[k], GIDS_ESHAPE,
                   "gather: index has shape %s, larger than the input %s outside the gather dim",
                   gids_shape_str(index->ndim, index->shape, si, sizeof si),
                   gids_shape_str(a->ndim, a->shape, sa, sizeof sa));
    gids_tensor *idx = NULL, *res = NULL;
    GIDS_TRY(gids_index_to_i64(op, "index", index, &idx));
    const int64_t *iv = gids_tensor_data(idx);
    int64_t n = gids_tensor_numel(idx);
    int64_t size = a->ndim > 0 ? a->shape[d] : 1;
    gids_status st = gids_index_check_range(op, iv, n, size, idx->ndim, idx->shape);
    if (st == GIDS_OK) st = gids_empty(&res, a->dtype, GIDS_DEVICE_CPU, idx->ndim, idx->shape);
    if (st == GIDS_OK && n > 0) {
        int nd = a->ndim;
        int64_t astride[1][GIDS_MAX_DIMS];
        memcpy(astride[0], a->stride, sizeof(int64_t) * (size_t)nd);
        int64_t dstride = nd > 0 ? a->stride[d] : 0;
        if (nd > 0) astride[0][d] = 0; /* the dim coordinate comes from the index instead */
        size_t es = gids_dtype_size(a->dtype);
        const char *ap = gids_tensor_data(a);
        char *rp = gids_tensor_data(res);
        int64_t nchunks = (n + GIDS_INDEX_CHUNK - 1) / GIDS_INDEX_CHUNK;
        int nth = gids_threads_for(n);
#pragma omp parallel for num_threads(nth) schedule(static) if (nth > 1)
        for (int64_t c = 0; c < nchunks; c++) {
            int64_t f0 = c * GIDS_INDEX_CHUNK,
                    f1 = f0 + GIDS_INDEX_CHUNK < n ? f0 + GIDS_INDEX_CHUNK : n;
            int64_t coord[GIDS_MAX_DIMS], off[1];
            gids_unravel(f0, nd, idx->shape, coord);
            off[0] = gids_offset_of(nd, coord, astride[0]);
            for (int64_t f = f0; f < f1; f++) {
                copy_elem(rp + f * (int64_t)es, ap + (off[0] + iv[f] * dstride) * (int64_t)es, es);
                gids_coord_next(nd, idx->shape, coord, 1, off, astride);
            }
        }
    }
    gids_tensor_release(idx);
    if (st != GIDS_OK) {
        gids_tensor_release(res);
        return st;
    }
    *out = res;
    return GIDS_OK;
}
