/* gc_index.h -- internal: index tensors on the device, shared by index.cu and segment.cu.
 *
 * An index is read as a contiguous i64 tensor on its device (converted from i32 there); its
 * values are range-checked on the device (index_range.cu): their least and greatest value, read
 * back and kept for the next check of the same values, and when one is out of range a kernel
 * that records the first offending position with atomicMin, which the host then reads back with
 * the offending value, so the EINDEX message is the CPU's ("op: index 7 out of range [0, 5) at
 * position 3 (0-based)", coordinates for a multi-dim index) and names the same (first)
 * position.
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
 * row-major shape (ndim, shape)) is in [0, size).  Synchronises with the device unless the
 * range of these values is kept (index_range.cu).  given: the caller's index that idx was made
 * from (gc_index_i64): a range read back is kept only when idx is that tensor itself, not a
 * temporary copy no later op will look up (it would only take a slot and hold its memory). */
gids_status gc_index_check(const char *op, const gids_tensor *idx, const gids_tensor *given,
                           int64_t size, int ndim, const int64_t *shape);

/* *pos: the first position i in [0, n) whose value v[i] (device memory, i64) is outside
 * [0, size), and *bad that value; *pos = -1 when every value is in range.  like: the tensor v
 * points into (its storage and version identify the values for the kept range).  Synchronises
 * with the device unless the range of these values is kept (index_range.cu). */
gids_status gc_index_find(const char *op, const gids_tensor *like, const int64_t *v, int64_t n,
                          int64_t size, bool keep, int64_t *pos, int64_t *bad);
/* gids_int_range on a CUDA tensor (i64 or i32, at least one element): from a kept range, else
 * read back (a wait) and kept when t is a contiguous i64 tensor. */
gids_status gc_int_range(const gids_tensor *t, int64_t *lo, int64_t *hi);
/* backend ABI 10's range_known and range_note (gids/backend.h), from the kept ranges. */
bool gc_range_known(const gids_tensor *t, int64_t *lo, int64_t *hi);
void gc_range_note(const gids_tensor *t, int64_t lo, int64_t hi);
/* Keeps the range of the n i64 values at host, just copied into the whole of t (contiguous,
 * on a CUDA device, its version already bumped for the copy): copy.cu's host-to-device path. */
void gc_index_range_note(const gids_tensor *t, const int64_t *host, int64_t n);
/* Forgets the ranges kept for device (gpu.reset()). */
void gc_index_ranges_drop(int device);

/* Rows grouped by an index (CSR): rows perm[off[s] .. off[s + 1]) have index value s, in row
 * order within a segment (a stable radix sort), for n values in [0, ns) already range-checked.
 * Shared by the segment ops (segment.cu) and the fused graph attention (graph_attention.cu). */
struct gc_csr {
    gc_ref off;  /* i64 [ns + 1] */
    gc_ref perm; /* i64 [n]: the row at each CSR position */
    gc_ref keys_sorted, rows, tmp;
};
/* Fills p from the n values at keys (device memory, i64, each in [0, ns)); like: any tensor on
 * their device. */
gids_status gc_csr_build(const char *op, gc_csr *p, const gids_tensor *like, const int64_t *keys,
                         int64_t n, int64_t ns);

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
