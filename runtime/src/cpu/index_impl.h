/* index_impl.h -- internal helpers shared by index.c, scatter.c and masked.c: index tensors
 * read as int64 with range checks done before any write, and a row-major strided walk. */
#ifndef GIDS_INDEX_IMPL_H
#define GIDS_INDEX_IMPL_H

#include <stdint.h>
#include <string.h>

#include "../core/core_impl.h"
#include "gids/ops.h"

/* NEW in *out: a contiguous i64 tensor holding index's values (index itself, retained, when it
 * already is one).  Checks device and dtype (i64 or i32). */
gids_status gids_index_to_i64(const char *op, const char *arg, const gids_tensor *index,
                              gids_tensor **out);

/* EINDEX unless every v[i] is in [0, size): "op: index 7 out of range [0, 5) at position 3
 * (0-based)" (position as coordinates "[1,2]" when the index has more than one dim). */
gids_status gids_index_check_range(const char *op, const int64_t *v, int64_t n, int64_t size,
                                   int ndim, const int64_t *shape);

/* Coordinates of row-major position `flat` in shape. */
static inline void gids_unravel(int64_t flat, int ndim, const int64_t *shape, int64_t *coord) {
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t s = shape[d] > 0 ? shape[d] : 1;
        coord[d] = flat % s;
        flat /= s;
    }
}

/* Advances coord to the next row-major position and moves each operand's element offset
 * (off[k], in elements, strides stride[k][d]) with it. */
static inline void gids_coord_next(int ndim, const int64_t *shape, int64_t *coord, int nops,
                                   int64_t *off, const int64_t (*stride)[GIDS_MAX_DIMS]) {
    for (int d = ndim - 1; d >= 0; d--) {
        coord[d]++;
        for (int k = 0; k < nops; k++) off[k] += stride[k][d];
        if (coord[d] < shape[d]) return;
        for (int k = 0; k < nops; k++) off[k] -= stride[k][d] * shape[d];
        coord[d] = 0;
    }
}

static inline int64_t gids_offset_of(int ndim, const int64_t *coord, const int64_t *stride) {
    int64_t off = 0;
    for (int d = 0; d < ndim; d++) off += coord[d] * stride[d];
    return off;
}

/* Fixed chunk of work for parallel loops: the partition never depends on the thread count. */
#define GIDS_INDEX_CHUNK 4096

#endif
