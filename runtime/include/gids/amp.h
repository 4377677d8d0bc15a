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
 *
 * The cast cache (torch's autocast weight cache): while autocast is on, those products cast an
 * operand whose storage is a parameter's (a leaf that requires grad, or any view of one, such as
 * the w:t() of a Linear, made with or without grad mode: gids_storage.grad_leaves) through a
 * per-thread cache, so a weight used by several
 * products of one forward is cast once.  An entry holds the cast and a reference to the source's
 * storage; it is keyed by the storage, its version counter, the view (dtype, offset, shape,
 * strides) and the target dtype, so an in-place write to the weight inside the region (an
 * optimizer step) makes the next use cast afresh.  Activations are never cached.  The cache is
 * emptied when autocast is turned off (gids_set_autocast(GIDS_F32), which the Lua binding does
 * when the outermost region ends, and also on entering an autocast("f32") region inside one) and
 * by gids_set_autocast_cache_enabled(false).  It is per thread: a thread must turn autocast off
 * before it ends, or its entries leak.  Results are bitwise those without the cache.
 */
#ifndef GIDS_AMP_H
#define GIDS_AMP_H

#include <stdbool.h>
#include <stddef.h>

#include "gids/dtype.h"
#include "gids/status.h"
#include "gids/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The calling thread's autocast dtype: GIDS_F16 or GIDS_BF16 when on, GIDS_F32 when off. */
gids_dtype gids_autocast_dtype(void);
bool gids_autocast_enabled(void);
/* GIDS_F16 or GIDS_BF16 turns autocast on for the calling thread, GIDS_F32 turns it off; any
 * other dtype is EINVAL and leaves the state as it was. */
gids_status gids_set_autocast(gids_dtype dt);

/* TF32 products for an op that has no f16/bf16 kernel (the CUDA bilstm): while set on the
 * calling thread, such an op may run its f32 GEMMs on the tensor cores in TF32 (10 mantissa
 * bits, more than bf16's 7), as if GRAPHIDS_ALLOW_TF32=1 were set for it alone.  gids_ag_bilstm
 * sets it for its forward while autocast is on and records it for its backward, which runs
 * outside the autocast region.  Off by default; returns the previous setting. */
bool gids_set_tf32_products(bool on);
bool gids_tf32_products(void);

/* The fused bidirectional LSTM's f32 precision outside autocast (torch's
 * torch.backends.cudnn.rnn.fp32_precision, for the op that takes cuDNN's RNN's place): when on,
 * gids_ag_bilstm runs its f32 device GEMMs in TF32 as under autocast; off (IEEE f32), they stay
 * f32 unless GRAPHIDS_ALLOW_TF32=1.  Process-wide; off unless GRAPHIDS_RNN_TF32=1 is set when it
 * is first read, since TF32 is the user's choice here (PyTorch's default is on, so
 * `set_rnn_tf32(true)` gives a PyTorch program's precision).  Returns the previous setting. */
bool gids_set_rnn_tf32(bool on);
bool gids_rnn_tf32(void);

/* NEW in *out: t cast to dt (gids_to_dtype), through the calling thread's cast cache while
 * autocast is on and the cache enabled: a second call for the same view of an unchanged storage
 * returns the same tensor.  Any tensor gives the right result; pass only parameters (as
 * ag_linalg.c does), since every entry lives until autocast is turned off.  The result is shared
 * with the cache: never write to it. */
gids_status gids_autocast_cast(gids_tensor **out, const gids_tensor *t, gids_dtype dt);
/* The number of casts the calling thread's cache holds. */
size_t gids_autocast_cache_size(void);
/* Drops every entry of the calling thread's cache. */
void gids_autocast_cache_clear(void);
/* On by default (torch.is_autocast_cache_enabled); turning it off also clears it.  Returns the
 * previous setting. */
bool gids_set_autocast_cache_enabled(bool on);
bool gids_autocast_cache_enabled(void);

#ifdef __cplusplus
}
#endif
#endif
