/* matmul.cu -- matmul with batch dims or 1-D operands (and bmm, its 3-D case) on CUDA tensors,
 * with the CPU's semantics (runtime/src/cpu/matmul.c): a 1-D left operand is a row [1, k], a
 * 1-D right operand a column [k, 1] (their unit dim dropped from the result), batch dims
 * broadcast, two 2-D operands are plain mm (blas.cu).
 *
 * Each operand becomes contiguous [batch, rows, cols] memory with a batch stride: rows*cols
 * when it has every batch, 0 when it has none (or only size-1 batch dims: one matrix read by
 * every batch); an operand that broadcasts over some batch dims only is expanded into a packed
 * copy.  Then one cuBLAS strided-batched GEMM per 65535 batches (C^T = B^T A^T, as blas.cu), or
 * a single GEMM of batch*n rows when only the left operand is batched.  TF32, f16 and bf16 as
 * blas.cu (cublasGemmStridedBatchedEx, f32 accumulation, output in the operands' dtype).
 */
#include <limits.h>
#include <string.h>

#include "cuda_impl.h"
#include "half_impl.h"

#define MM_MAX_BATCH 65535 /* batches per cuBLAS call: well inside any grid limit */

/* One operand: contiguous data and the element stride between batches (0: shared). */
struct mm_operand {
    gc_ref t;
    int64_t bstride;
};

/* t (rows x cols per batch) as an mm_operand for the broadcast batch shape (nb, bshape). */
static gids_status operand(const char *op, const gids_tensor *t, int nb, const int64_t *bshape,
                           int64_t nbatch, int64_t rows, int64_t cols, mm_operand *o) {
    int64_t own = 1;
    for (int d = 0; d < t->ndim - 2; d++) own *= t->shape[d];
    if (own == nbatch || own == 1) {
        /* every batch in order (its dims equal bshape's but for leading 1s), or one matrix */
        GIDS_TRY(gc_contiguous_as(op, &o->t.t, t, t->dtype));
        o->bstride = own > 1 ? rows * cols : 0;
        return GIDS_OK;
    }
    int64_t shape[GIDS_MAX_DIMS];
    memcpy(shape, bshape, sizeof(int64_t) * (size_t)nb);
    shape[nb] = rows;
    shape[nb + 1] = cols;
    GIDS_TRY(gids_empty(&o->t.t, t->dtype, gc_dev(t), nb + 2, shape));
    GIDS_TRY(gc_copy(o->t.t, t)); /* broadcasts t over the batch dims it lacks */
    o->bstride = rows * cols;
    return GIDS_OK;
}

/* C[i] = A[i] @ B[i] for `count` batches of row-major contiguous matrices (n x k) @ (k x m). */
static gids_status gemm_batched(const char *op, int device, gids_dtype dt, void *C, const void *A,
                                int64_t sa, const void *B, int64_t sb, int64_t count, int n, int k,
                                int m) {
    cublasHandle_t h;
    GIDS_TRY(gc_cublas_handle(op, device, &h));
    GC_CUDA(op, cudaSetDevice(device));
    size_t es = gids_dtype_size(dt);
    long long sc = (long long)n * m;
    for (int64_t b0 = 0; b0 < count; b0 += MM_MAX_BATCH) {
        int nbt = (int)(count - b0 < MM_MAX_BATCH ? count - b0 : MM_MAX_BATCH);
        const char *a = (const char *)A + (size_t)(b0 * sa) * es;
        const char *b = (const char *)B + (size_t)(b0 * sb) * es;
        char *c = (char *)C + (size_t)(b0 * sc) * es;
        const float one = 1.0f, zero = 0.0f; /* f32 scales for f32, f16 and bf16 */
        if (gids_dtype_is_half(dt)) {
            cudaDataType_t t = gc_cuda_type(dt);
            GC_CUBLAS(op, cublasGemmStridedBatchedEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, b,
                                                     t, m, sb, a, t, k, sa, &zero, c, t, m, sc, nbt,
                                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        } else if (dt == GIDS_F32) {
            GC_CUBLAS(op, cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one,
                                                    (const float *)b, m, sb, (const float *)a, k,
                                                    sa, &zero, (float *)c, m, sc, nbt));
        } else {
            const double done = 1.0, dzero = 0.0;
            GC_CUBLAS(op, cublasDgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &done,
                                                    (const double *)b, m, sb, (const double *)a, k,
                                                    sa, &dzero, (double *)c, m, sc, nbt));
        }
    }
    if (gc_sync_each_op) GC_CUDA(op, gc_sync_current());
    return GIDS_OK;
}

static gids_status check_args(const char *op, const gids_tensor *a, const gids_tensor *b) {
    char sa[128], sb[128];
    GIDS_CHECK(a != nullptr && b != nullptr, GIDS_EINVAL, "%s: arg %d is NULL", op,
               a == nullptr ? 1 : 2);
    GIDS_CHECK(a->dtype != GIDS_BOOL && b->dtype != GIDS_BOOL, GIDS_EDTYPE,
               "%s: arg %d has dtype bool, expected a float or integer dtype", op,
               a->dtype == GIDS_BOOL ? 1 : 2);
    GIDS_CHECK(a->dtype == b->dtype, GIDS_EDTYPE,
               "%s: arg 2 has dtype %s, expected the dtype of arg 1 (%s)", op,
               gids_dtype_name(b->dtype), gids_dtype_name(a->dtype));
    GIDS_CHECK(a->ndim >= 1 && b->ndim >= 1, GIDS_ESHAPE,
               "%s: both arguments need at least 1 dim, got arg 1 %s and arg 2 %s", op,
               gids_shape_str(a->ndim, a->shape, sa, sizeof sa),
               gids_shape_str(b->ndim, b->shape, sb, sizeof sb));
    return gids_refuse_dtype(GIDS_DR_PRODUCT, op, a->dtype);
}

gids_status gc_matmul(gids_tensor **out, const gids_tensor *a, const gids_tensor *b) {
    const char *op = "matmul";
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", op);
    *out = nullptr;
    GIDS_TRY(check_args(op, a, b));
    if (a->ndim == 2 && b->ndim == 2) return gc_mm(out, a, b);
    GIDS_TRY(gc_use_device(op, a));
    char sa[128], sb[128];
    /* rows and cols per batch; a 1-D left operand is [1, k], a 1-D right one [k, 1] */
    int64_t n = a->ndim > 1 ? a->shape[a->ndim - 2] : 1, k = a->shape[a->ndim - 1];
    int64_t kb = b->ndim > 1 ? b->shape[b->ndim - 2] : b->shape[0];
    int64_t m = b->ndim > 1 ? b->shape[b->ndim - 1] : 1;
    GIDS_CHECK(k == kb, GIDS_ESHAPE,
               "%s: arg 2 has shape %s, incompatible with arg 1 %s (inner dims %lld vs %lld)", op,
               gids_shape_str(b->ndim, b->shape, sb, sizeof sb),
               gids_shape_str(a->ndim, a->shape, sa, sizeof sa), (long long)k, (long long)kb);
    int na = a->ndim > 2 ? a->ndim - 2 : 0, nbb = b->ndim > 2 ? b->ndim - 2 : 0, nb = 0;
    int64_t bshape[GIDS_MAX_DIMS];
    if (gids_broadcast_shapes(op, na, a->shape, nbb, b->shape, &nb, bshape) != GIDS_OK)
        GIDS_FAIL(GIDS_ESHAPE, "%s: batch dims of arg 1 %s and arg 2 %s do not broadcast", op,
                  gids_shape_str(a->ndim, a->shape, sa, sizeof sa),
                  gids_shape_str(b->ndim, b->shape, sb, sizeof sb));
    int64_t oshape[GIDS_MAX_DIMS + 2];
    int ond = nb;
    memcpy(oshape, bshape, sizeof(int64_t) * (size_t)nb);
    if (a->ndim > 1) oshape[ond++] = n;
    if (b->ndim > 1) oshape[ond++] = m;
    GIDS_CHECK(ond <= GIDS_MAX_DIMS, GIDS_ESHAPE, "%s: result would have %d dims, max %d", op, ond,
               GIDS_MAX_DIMS);
    int64_t nbatch = 1;
    GIDS_TRY(gids_shape_numel(op, nb, bshape, &nbatch));
    GIDS_CHECK(n <= INT_MAX && k <= INT_MAX && m <= INT_MAX, GIDS_EOVERFLOW,
               "%s: sizes n=%lld k=%lld m=%lld exceed the cuBLAS limit %d", op, (long long)n,
               (long long)k, (long long)m, INT_MAX);
    gc_ref c;
    GIDS_TRY(gids_empty(&c.t, a->dtype, gc_dev(a), ond, oshape));
    if (nbatch * n * m == 0) {
        *out = c.take();
        return GIDS_OK;
    }
    if (k == 0) { /* a sum of nothing */
        GIDS_TRY(gc_fill(c.t, gids_scalar_f(0.0)));
        *out = c.take();
        return GIDS_OK;
    }
    mm_operand oa, ob;
    GIDS_TRY(operand(op, a, nb, bshape, nbatch, n, k, &oa));
    GIDS_TRY(operand(op, b, nb, bshape, nbatch, k, m, &ob));
    const void *ap = gids_tensor_data(oa.t.t), *bp = gids_tensor_data(ob.t.t);
    int device = gc_dev(a).index;
    if (ob.bstride == 0 && oa.bstride != 0 && nbatch * n <= INT_MAX) {
        /* [batch, n, k] @ [k, m] is one [batch * n, k] @ [k, m] product (nn.Linear on 3-D) */
        GIDS_TRY(gemm_batched(op, device, a->dtype, gids_tensor_data(c.t), ap, 0, bp, 0, 1,
                              (int)(nbatch * n), (int)k, (int)m));
    } else {
        GIDS_TRY(gemm_batched(op, device, a->dtype, gids_tensor_data(c.t), ap, oa.bstride, bp,
                              ob.bstride, nbatch, (int)n, (int)k, (int)m));
    }
    *out = c.take();
    return GIDS_OK;
}
