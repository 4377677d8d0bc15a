/* iter_impl.h -- internal: the strided, broadcasting N-d loop behind every elementwise kernel.
 *
 *   gids_tensor *ops[3] = {dst, a, b};          // operand 0 defines the iteration shape
 *   gids_iter it;
 *   GIDS_TRY(gids_iter_init(&it, "add", 3, ops));
 *   gids_iter_run(&it, add_f32_kernel, NULL);
 *
 * Inputs are broadcast to operand 0's shape (a size-1 or missing dim gets stride 0); dims that
 * are contiguous for every operand are merged so the inner loop is as long as possible.  The
 * kernel sees a 1-D run: n elements, one base pointer and one byte stride per operand.  Work
 * is split into fixed chunks of the flat index space, so results never depend on the thread
 * count.
 */
#ifndef GIDS_ITER_IMPL_H
#define GIDS_ITER_IMPL_H

#include "gids/tensor.h"

#define GIDS_ITER_MAX_OPS 4
/* Below this many elements a loop runs on one thread. */
#define GIDS_PARALLEL_GRAIN 32768

typedef struct gids_iter {
    int ndim; /* >= 1 after coalescing */
    int nops;
    int64_t numel;
    int64_t shape[GIDS_MAX_DIMS];                     /* last dim innermost */
    int64_t stride[GIDS_ITER_MAX_OPS][GIDS_MAX_DIMS]; /* bytes */
    char *data[GIDS_ITER_MAX_OPS];
} gids_iter;

/* Kernel over one run: ptrs[k] is operand k's first element, strides[k] its byte step. */
typedef void (*gids_iter_fn)(void *ctx, int64_t n, char **ptrs, const int64_t *strides);

/* Operands must all live on the CPU; inputs (1..nops-1) must broadcast to ops[0]'s shape
 * (ESHAPE naming `op` and both shapes otherwise). */
gids_status gids_iter_init(gids_iter *it, const char *op, int nops, const gids_tensor *const *ops);
/* Runs fn over every element; parallel (OpenMP) above GIDS_PARALLEL_GRAIN elements. */
void gids_iter_run(const gids_iter *it, gids_iter_fn fn, void *ctx);
/* Same, but always on the calling thread (for kernels with ordered side effects). */
void gids_iter_run_serial(const gids_iter *it, gids_iter_fn fn, void *ctx);

#endif
