/* gc_index.h -- internal: index tensors on the device, shared by index.cu and segment.cu.
 *
 * An index is read as a contiguous i64 tensor on its device (converted from i32 there); its
 * values are range-checked by a kernel that records the first offending position with
 * atomicMin, which the host then reads back with the offending value, so the EINDEX message is
 * the CPU's ("op: index 7 out of range [0, 5) at position 3 (0-based)", coordinates for a
 * multi-dim index) and names the same (first) position.
 */
#ifndef GIDS_CUDA_GC_INDEX_H
#define GIDS_CUDA_GC_INDEX_H

#include "cuda_impl.h"

/* EDTYPE unless index is i64 or i32 (the CPU's message). */
gids_status gc_index_dtype(const char *op, const char *arg, const gids_tensor *index);

/* NEW in *out: a contiguous i64 copy of index on its device (index itself, retained, when it
 * already is one and `fresh` is false; fresh forces a private copy, for an index that shares
 * memory with a tensor the op writes). */
gids_status gc_index_i64(const char *op, const char *arg, const gids_tensor *index, bool fresh,
                         gids_tensor **out);

/* EINDEX unless every value of idx (contiguous i64 on the device, n values, laid out in the
 * row-major shape (ndim, shape)) is in [0, size).  Synchronises with the device. */
gids_status gc_index_check(const char *op, const gids_tensor *idx, int64_t size, int ndim,
                           const int64_t *shape);

/* NEW in *out: a device scratch buffer of at least nbytes bytes (a u8 tensor) on t's device. */
gids_status gc_scratch(const gids_tensor *t, size_t nbytes, gids_tensor **out);

/* Bits that hold every value in [0, n): the end_bit of a radix sort of such keys (>= 1). */
static inline int gc_key_bits(uint64_t n) {
    int b = 1;
    while (b < 64 && (n - 1) >> b) b++;
    return b;
}

/* Marks t's storage as written in place (autograd checks saved tensors against it). */
static inline void gc_bump_version(gids_tensor *t) {
    __atomic_add_fetch(&t->storage->version, 1, __ATOMIC_RELAXED);
}

#endif
