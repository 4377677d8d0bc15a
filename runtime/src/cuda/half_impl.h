/* half_impl.h -- internal: the 16-bit float storage types (f16, bf16) in the CUDA plugin.
 *
 * The CPU has no half storage (gids/dtype.h); on the GPU f16 and bf16 tensors exist for the
 * tensor cores: conversions (copy.cu) and matrix products (blas.cu, matmul.cu), nothing else.
 */
#ifndef GIDS_CUDA_HALF_IMPL_H
#define GIDS_CUDA_HALF_IMPL_H

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <library_types.h>

#include "gids/dtype.h"

/* cuBLAS's name of a half dtype (only called with f16 or bf16). */
static inline cudaDataType_t gc_cuda_type(gids_dtype dt) {
    return dt == GIDS_F16 ? CUDA_R_16F : CUDA_R_16BF;
}

#endif
