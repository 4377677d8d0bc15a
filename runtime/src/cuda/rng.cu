/* rng.cu -- bernoulli_ (dropout masks) on CUDA tensors, bit-identical to the CPU's draw
 * (runtime/src/core/rng.c): element i of a draw from generator (seed, offset) is word (c & 3)
 * of the Philox 4x32-10 block at counter c >> 2 of stream 1, c = offset + i, and is 1 when that
 * word is below p * 2^32.  So a model trained on the GPU drops the same units as on the CPU.
 * The caller (gids_bernoulli_) passes the generator's state and advances its offset by numel.
 *
 * One thread per Philox block writes its (up to) four elements; elements are in row-major
 * order of t (a strided t is drawn into a contiguous buffer, then copied).  f32 and f64.
 */
#include <math.h>

#include "gc_index.h"

extern "C" gids_status gids_check_writable(const char *op, const gids_tensor *t);

/* Philox 4x32-10 as gids_philox4x32 (the constants of Salmon et al.). */
__device__ __forceinline__ void philox4x32(uint32_t c[4], uint32_t k0, uint32_t k1) {
#pragma unroll
    for (int r = 0; r < 10; r++) {
        uint32_t hi0 = __umulhi(0xD2511F53u, c[0]), lo0 = 0xD2511F53u * c[0];
        uint32_t hi1 = __umulhi(0xCD9E8D57u, c[2]), lo1 = 0xCD9E8D57u * c[2];
        uint32_t n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0, c[1] = lo1, c[2] = n2, c[3] = lo0;
        k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
    }
}

template <typename T>
__global__ void bernoulli_kernel(T *dst, int64_t n, uint64_t first, int64_t nblocks, uint64_t seed,
                                 unsigned long long thr) {
    const uint64_t last = first + (uint64_t)n;
    for (int64_t b = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; b < nblocks;
         b += (int64_t)gridDim.x * blockDim.x) {
        uint64_t blk = (first >> 2) + (uint64_t)b;
        uint32_t r[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), 1u, 0u};
        philox4x32(r, (uint32_t)seed, (uint32_t)(seed >> 32));
#pragma unroll
        for (int lane = 0; lane < 4; lane++) {
            uint64_t c = (blk << 2) + (uint64_t)lane;
            if (c < first || c >= last) continue;
            dst[c - first] = (unsigned long long)r[lane] < thr ? (T)1 : (T)0;
        }
    }
}

gids_status gc_bernoulli_(gids_tensor *t, uint64_t seed, uint64_t offset, double p) {
    const char *op = "bernoulli_";
    GIDS_CHECK(t != nullptr, GIDS_EINVAL, "%s: tensor is NULL", op);
    GIDS_CHECK(p >= 0.0 && p <= 1.0, GIDS_EINVAL, "%s: p must be in [0, 1], got %g", op, p);
    GIDS_TRY(gids_refuse_dtype(GIDS_DR_FLOAT, op, t->dtype));
    GIDS_TRY(gids_check_writable(op, t));
    GIDS_TRY(gc_use_device(op, t));
    int64_t n = gids_tensor_numel(t);
    if (n == 0) return GIDS_OK;
    gc_ref tmp;
    gids_tensor *dst = t;
    if (!gids_tensor_is_contiguous(t)) {
        GIDS_TRY(gids_empty(&tmp.t, t->dtype, gc_dev(t), t->ndim, t->shape));
        dst = tmp.t;
    }
    /* the CPU's threshold: 2^32 for p = 1, else floor(p * 2^32) */
    unsigned long long thr = p >= 1.0 ? 1ull << 32 : (unsigned long long)ldexp(p, 32);
    uint64_t last = offset + (uint64_t)n;
    int64_t nblocks = (int64_t)(((last - 1) >> 2) - (offset >> 2) + 1);
    unsigned g = gc_blocks(nblocks);
    if (t->dtype == GIDS_F32)
        bernoulli_kernel<float><<<g, GC_THREADS, 0, gc_stream()>>>((float *)gids_tensor_data(dst),
                                                                   n, offset, nblocks, seed, thr);
    else
        bernoulli_kernel<double><<<g, GC_THREADS, 0, gc_stream()>>>((double *)gids_tensor_data(dst),
                                                                    n, offset, nblocks, seed, thr);
    GC_LAUNCHED(op);
    if (dst != t) GIDS_TRY(gc_copy(t, dst));
    gc_bump_version(t); /* written in place */
    return GIDS_OK;
}
