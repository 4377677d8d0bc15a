/* sort_impl.h -- internal: order-preserving integer keys and the stable key sort shared by
 * sort.c (sort, argsort, topk) and unique.c.
 *
 *   gids_sort_make_keys(base, GIDS_F32, n, step, false, keys);
 *   for (int64_t i = 0; i < n; i++) idx[i] = i;
 *   gids_sort_keys(keys, idx, tmp_keys, tmp_idx, n);     // keys/idx now ascending, stable
 *
 * Every dtype is mapped to an unsigned key whose integer order is the value order, so one
 * stable LSD radix sort serves all dtypes and both directions (descending complements the key,
 * which keeps ties in input order).  NaN maps to the largest key (torch puts NaN last when
 * ascending, first when descending) and -0.0 to the key of +0.0 (they compare equal).
 */
#ifndef GIDS_SORT_IMPL_H
#define GIDS_SORT_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "gids/dtype.h"

/* Writes the keys of n elements of dtype dt at base, base + step, ... (step in elements). */
void gids_sort_make_keys(const void *base, gids_dtype dt, int64_t n, int64_t step, bool descending,
                         uint64_t *keys);
/* Ascending key shared by every NaN of a float dtype (0 for other dtypes: never a NaN). */
uint64_t gids_sort_nan_key(gids_dtype dt);
/* Stable ascending sort of keys[0..n), carrying idx along; tmp_keys/tmp_idx are scratch of n
 * entries each.  The result is in keys/idx. */
void gids_sort_keys(uint64_t *keys, int64_t *idx, uint64_t *tmp_keys, int64_t *tmp_idx, int64_t n);

#endif
