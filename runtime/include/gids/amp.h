/* gids/amp.h -- automatic mixed precision: the per-thread autocast state.
 *
 *   gids_dtype prev = gids_autocast_dtype();
 *   GIDS_TRY(gids_set_autocast(GIDS_BF16));     // products of f32 CUDA tensors now run in bf16
 *   GIDS_TRY(gids_ag_mm(&y, x, w));             // y is f32; x and w were multiplied as bf16
 *   gids_set_autocast(prev);                    // always restore (the Lua binding does)
 *
 * While autocast is on, the autograd forms of the matrix products (gids_ag_mm, gids_ag_addmm,
 * gids_ag_matmul, gids_ag_bmm) whose operands are all f32 tensors on a CUDA device cast the
 * operands to the autocast dtype, multiply them on the tensor cores (f32 accumulation) and
 * return the product cast back to f32; their backward does the same with the gradient.  Every
 * other op, every other dtype and the CPU are unaffected (on the CPU autocast is a no-op: it has
 * no half storage).  docs/amp.md says why the results are f32 rather than torch's half.
 * The plain ops of ops.h never consult the state.
 */
#ifndef GIDS_AMP_H
#define GIDS_AMP_H

#include <stdbool.h>

#include "gids/dtype.h"
#include "gids/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The calling thread's autocast dtype: GIDS_F16 or GIDS_BF16 when on, GIDS_F32 when off. */
gids_dtype gids_autocast_dtype(void);
bool gids_autocast_enabled(void);
/* GIDS_F16 or GIDS_BF16 turns autocast on for the calling thread, GIDS_F32 turns it off; any
 * other dtype is EINVAL and leaves the state as it was. */
gids_status gids_set_autocast(gids_dtype dt);

#ifdef __cplusplus
}
#endif
#endif
