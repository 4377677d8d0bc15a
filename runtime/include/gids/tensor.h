/* gids/tensor.h -- tensors: refcounted views (shape, strides, offset) onto a storage.
 *
 *   int64_t shape[2] = {2, 3};
 *   gids_tensor *a = NULL, *t = NULL;
 *   GIDS_TRY(gids_full(&a, GIDS_F32, GIDS_DEVICE_CPU, 2, shape, gids_scalar_f(1.5)));
 *   GIDS_TRY(gids_transpose(&t, a, 0, 1));      // a view: shares a's storage
 *   printf("%lld\n", (long long)gids_tensor_numel(t));
 *   gids_tensor_release(t);
 *   gids_tensor_release(a);
 *
 * Dims are 0-based in C; a negative dim counts from the end (-1 is the last).  Strides and the
 * offset are in elements.  Fields of gids_tensor are public for reading; change them only
 * through these functions.  Ownership: NEW = the caller owns the result and releases it;
 * BORROW = valid while the argument lives; STEAL = the function takes the caller's reference.
 */
#ifndef GIDS_TENSOR_H
#define GIDS_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "gids/dtype.h"
#include "gids/memory.h"
#include "gids/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GIDS_MAX_DIMS 8

typedef struct gids_tensor {
    int64_t shape[GIDS_MAX_DIMS];
    int64_t stride[GIDS_MAX_DIMS];
    int64_t offset;
    int32_t ndim;
    gids_dtype dtype;
    int32_t refcount; /* atomic; use retain/release */
    gids_storage *storage;
    void *autograd; /* owned by the autograd engine; NULL for plain tensors */
} gids_tensor;

/* ---- lifetime ---- */
/* NEW: contiguous tensor, contents undefined.  Sizes must be >= 0 and their product must fit. */
gids_status gids_empty(gids_tensor **out, gids_dtype dt, gids_device dev, int ndim,
                       const int64_t *shape);
/* NEW: contiguous, same dtype/device/shape as t, contents undefined. */
gids_status gids_empty_like(gids_tensor **out, const gids_tensor *t);
/* NEW: a tensor over an existing storage (retained). Bounds are checked against the storage. */
gids_status gids_tensor_from_storage(gids_tensor **out, gids_storage *s, gids_dtype dt, int ndim,
                                     const int64_t *shape, const int64_t *stride, int64_t offset);
void gids_tensor_retain(gids_tensor *t);
void gids_tensor_release(gids_tensor *t); /* NULL is ignored */

/* ---- queries (all BORROW) ---- */
/* A NULL t gives 0 elements, not contiguous, data NULL and the CPU: queries have no status to
 * return. */
int64_t gids_tensor_numel(const gids_tensor *t);
bool gids_tensor_is_contiguous(const gids_tensor *t);
/* Address of element 0 (storage data + offset * element size). */
void *gids_tensor_data(const gids_tensor *t);
gids_device gids_tensor_device(const gids_tensor *t);
/* PyTorch's result type of a binary op on two tensors: a 0-d tensor only decides the dtype when
 * its category (bool < integer < float) is higher than the other operand's (u8[N] + i64 0-d ->
 * u8, i64[N] + f64 0-d -> f64).  A NULL operand counts as absent: the other's dtype (f32 when
 * both are NULL). */
gids_dtype gids_result_type(const gids_tensor *a, const gids_tensor *b);
/* Normalises dim (negative counts from the end) against ndim; "op: dim 5 out of range for a
 * tensor of 2 dims" on failure.  ndim 0 accepts dims 0 and -1 (as PyTorch).  Here and in
 * broadcast_shapes and shape_numel, op (the caller's name, which starts the messages) is
 * required: NULL is EINVAL. */
gids_status gids_normalize_dim(const char *op, int dim, int ndim, int *out);
/* Writes "[2,3]" into buf ("[NULL]" for a NULL shape of ndim > 0); returns buf. */
char *gids_shape_str(int ndim, const int64_t *shape, char *buf, size_t n);
/* NumPy broadcast of two shapes. ESHAPE naming both shapes when they do not broadcast. */
gids_status gids_broadcast_shapes(const char *op, int na, const int64_t *a, int nb,
                                  const int64_t *b, int *nout, int64_t *out);
/* Product of sizes with overflow check (EOVERFLOW). */
gids_status gids_shape_numel(const char *op, int ndim, const int64_t *shape, int64_t *out);

/* ---- views (NEW; share the storage of t) ---- */
/* shape may hold one -1 that is inferred. Fails (ESHAPE) when t's strides cannot express it. */
gids_status gids_view(gids_tensor **out, const gids_tensor *t, int ndim, const int64_t *shape);
/* As view when possible, else a contiguous copy. */
gids_status gids_reshape(gids_tensor **out, const gids_tensor *t, int ndim, const int64_t *shape);
gids_status gids_permute(gids_tensor **out, const gids_tensor *t, const int *perm);
gids_status gids_transpose(gids_tensor **out, const gids_tensor *t, int d0, int d1);
gids_status gids_narrow(gids_tensor **out, const gids_tensor *t, int dim, int64_t start,
                        int64_t length);
/* Removes dim. index may be negative (counts from the end). */
gids_status gids_select(gids_tensor **out, const gids_tensor *t, int dim, int64_t index);
/* shape entries of -1 keep t's size; new leading dims are allowed (stride 0). */
gids_status gids_expand(gids_tensor **out, const gids_tensor *t, int ndim, const int64_t *shape);
/* dim = GIDS_ALL_DIMS squeezes every size-1 dim; otherwise only that dim, if its size is 1. */
#define GIDS_ALL_DIMS (-1000)
gids_status gids_squeeze(gids_tensor **out, const gids_tensor *t, int dim);
/* dim in [-(ndim+1), ndim]. */
gids_status gids_unsqueeze(gids_tensor **out, const gids_tensor *t, int dim);
gids_status gids_flatten(gids_tensor **out, const gids_tensor *t, int start_dim, int end_dim);
gids_status gids_as_strided(gids_tensor **out, const gids_tensor *t, int ndim, const int64_t *shape,
                            const int64_t *stride, int64_t offset);

/* ---- copies (NEW) ---- */
/* Returns t itself (retained) when already contiguous. */
gids_status gids_contiguous(gids_tensor **out, const gids_tensor *t);
gids_status gids_clone(gids_tensor **out, const gids_tensor *t);
/* Converts dtype (float->int truncates toward zero, as C and PyTorch). Same dtype = clone. */
gids_status gids_to_dtype(gids_tensor **out, const gids_tensor *t, gids_dtype dt);
/* dst <- src with broadcasting of src to dst's shape and dtype conversion. dst may be strided. */
gids_status gids_copy_(gids_tensor *dst, const gids_tensor *src);

/* ---- creation (NEW, contiguous) ---- */
gids_status gids_zeros(gids_tensor **out, gids_dtype dt, gids_device dev, int ndim,
                       const int64_t *shape);
gids_status gids_ones(gids_tensor **out, gids_dtype dt, gids_device dev, int ndim,
                      const int64_t *shape);
gids_status gids_full(gids_tensor **out, gids_dtype dt, gids_device dev, int ndim,
                      const int64_t *shape, gids_scalar value);
/* [start, end) by step (step != 0); length ceil((end-start)/step).  An integer dt with a
 * non-integer argument stores start + i*step converted as floats convert (toward zero, held at
 * the dtype's range), where PyTorch casts the step to dt first (docs/lua-api.md, arange). */
gids_status gids_arange(gids_tensor **out, gids_dtype dt, gids_scalar start, gids_scalar end,
                        gids_scalar step);
gids_status gids_linspace(gids_tensor **out, gids_dtype dt, double start, double end,
                          int64_t steps);
/* n x m identity; m = -1 means m = n (any other negative m is EINVAL). */
gids_status gids_eye(gids_tensor **out, gids_dtype dt, int64_t n, int64_t m);
/* Copies numel(shape) elements of dtype dt from data (CPU memory); bool bytes must be 0 or 1
 * (EINVAL names the first other one). */
gids_status gids_from_buffer(gids_tensor **out, gids_dtype dt, int ndim, const int64_t *shape,
                             const void *data);
/* Fills every element (t may be strided). */
gids_status gids_fill_(gids_tensor *t, gids_scalar value);

/* Reads element `flat` (row-major position in t's logical shape) as a double / int64; on a
 * device, through a one-element copy to the CPU (which waits for the device). */
gids_status gids_tensor_get(const gids_tensor *t, int64_t flat, double *out);
gids_status gids_tensor_get_i64(const gids_tensor *t, int64_t flat, int64_t *out);

#ifdef __cplusplus
}
#endif
#endif
