/* blas.cu -- mm and addmm through cuBLAS (f32, f64, f16, bf16), f32 addmm through cuBLASLt.
 *
 * As on the CPU, a 2-D operand whose elements are row-major or column-major with a gap (a
 * transposed or narrowed view) is handed to cuBLAS as it is, with the transpose flag and the
 * other stride as leading dimension; other layouts are first packed contiguous.  cuBLAS is
 * column-major, so C = A @ B (row-major) is computed as C^T = B^T A^T.  TF32 tensor-core math
 * only with GRAPHIDS_ALLOW_TF32=1 (read when the device's handle is created).  f16 and bf16
 * operands go through cublasGemmEx with f32 accumulation (CUBLAS_COMPUTE_32F, the tensor cores;
 * as torch's default) and an output of the operands' dtype; alpha and beta are f32 then.
 */
#include <limits.h>

#include "cuda_impl.h"
#include "gc_index.h" /* gc_scratch */
#include "half_impl.h"

/* A 2-D strided matrix: element (i, j) at p + (i * rs + j * cs) elements. */
struct mat {
    void *p;
    int64_t rows, cols, rs, cs;
};

static mat mat_of(const gids_tensor *t) {
    return mat{gids_tensor_data(t), t->shape[0], t->shape[1], t->stride[0], t->stride[1]};
}

/* How cuBLAS reads x^T (cols x rows) in column-major: the memory of a row-major x is x^T with no
 * transpose; that of a column-major x is x, transposed.  Sizes of 1 make their stride moot. */
static bool blas_layout(mat x, cublasOperation_t *op, int *ld) {
    int64_t need_r = x.cols > 1 ? x.cols : 1, need_c = x.rows > 1 ? x.rows : 1;
    if (x.cols == 1 || x.cs == 1) {
        int64_t l = x.rows == 1 ? need_r : x.rs;
        if (l >= need_r && l <= INT_MAX) {
            *op = CUBLAS_OP_N;
            *ld = (int)l;
            return true;
        }
    }
    if (x.rows == 1 || x.rs == 1) {
        int64_t l = x.cols == 1 ? need_c : x.cs;
        if (l >= need_c && l <= INT_MAX) {
            *op = CUBLAS_OP_T;
            *ld = (int)l;
            return true;
        }
    }
    return false;
}

/* NEW: t itself when cuBLAS can read it in place, else a contiguous copy. */
static gids_status readable(const char *op, gids_tensor **out, const gids_tensor *t) {
    cublasOperation_t o;
    int ld;
    if (blas_layout(mat_of(t), &o, &ld)) {
        gids_tensor_retain((gids_tensor *)t);
        *out = (gids_tensor *)t;
        return GIDS_OK;
    }
    gc_ref c;
    GIDS_TRY(gids_empty(&c.t, t->dtype, gc_dev(t), t->ndim, t->shape));
    GIDS_TRY(gc_copy(c.t, t));
    *out = c.take();
    return GIDS_OK;
}

/* C (contiguous [m, n]) <- alpha * A @ B + beta * C, with k > 0. */
static gids_status gemm(const char *op, gids_tensor *C, const gids_tensor *A, const gids_tensor *B,
                        double alpha, double beta) {
    int device = gc_dev(C).index;
    cublasHandle_t h;
    GIDS_TRY(gc_cublas_handle(op, device, &h));
    GC_CUDA(op, cudaSetDevice(device));
    gc_ref ra, rb;
    GIDS_TRY(readable(op, &ra.t, A));
    GIDS_TRY(readable(op, &rb.t, B));
    mat a = mat_of(ra.t), b = mat_of(rb.t);
    cublasOperation_t opa = CUBLAS_OP_N, opb = CUBLAS_OP_N;
    int lda = 1, ldb = 1;
    /* A packed copy is row-major: a layout cuBLAS always reads. */
    GIDS_CHECK(blas_layout(a, &opa, &lda) && blas_layout(b, &opb, &ldb), GIDS_EUNSUPPORTED,
               "%s: operand layout not readable by cuBLAS after packing", op);
    int m = (int)C->shape[0], n = (int)C->shape[1], k = (int)A->shape[1];
    int ldc = n > 1 ? n : 1;
    if (gids_dtype_is_half(C->dtype)) {
        float al = (float)alpha, be = (float)beta;
        cudaDataType_t t = gc_cuda_type(C->dtype);
        GC_CUBLAS(op, cublasGemmEx(h, opb, opa, n, m, k, &al, b.p, t, ldb, a.p, t, lda, &be,
                                   gids_tensor_data(C), t, ldc, CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT));
    } else if (C->dtype == GIDS_F32) {
        float al = (float)alpha, be = (float)beta;
        if (gids_gemm_tuning()) { /* the algorithm timed fastest for the shape (gemm_lt.cu) */
            void *cp = gids_tensor_data(C);
            gc_gemm g = {opb, opa, n,  m,   k,  b.p, ldb,     a.p,  lda,
                         al,  be,  cp, ldc, cp, ldc, nullptr, false};
            bool done = false;
            GIDS_TRY(gc_gemm_lt(op, device, &g, &done));
            if (done) return GIDS_OK;
        }
        GC_CUBLAS(op, cublasSgemm(h, opb, opa, n, m, k, &al, (const float *)b.p, ldb,
                                  (const float *)a.p, lda, &be, (float *)gids_tensor_data(C), ldc));
    } else {
        GC_CUBLAS(op,
                  cublasDgemm(h, opb, opa, n, m, k, &alpha, (const double *)b.p, ldb,
                              (const double *)a.p, lda, &beta, (double *)gids_tensor_data(C), ldc));
    }
    if (gc_sync_each_op) GC_CUDA(op, gc_sync_current());
    return GIDS_OK;
}

/* ---------------------------------------------------------------- addmm through cuBLASLt */
/* addmm otherwise copies its bias into the output and runs the GEMM with beta = 1: for the JK
 * LSTM's projections ([137k, 1536] f32) the copy cost a third of the GEMM.  cuBLASLt adds a
 * bias vector in the GEMM's epilogue, and reads a bias matrix as its C operand while writing a
 * separate D, so neither needs the copy.  f32 only (the half path is cublasGemmEx's); other
 * cases, or no algorithm from the heuristic, fall back to the copy. */

/* D (new contiguous [m, n]) = alpha * A @ B + beta * bias; *done false when this path does not
 * apply (then nothing was written). */
static gids_status addmm_lt(gids_tensor *D, const gids_tensor *bias, const gids_tensor *A,
                            const gids_tensor *B, double alpha, double beta, bool *done) {
    const char *op = "addmm";
    *done = false;
    int64_t m = D->shape[0], n = D->shape[1], k = A->shape[1];
    if (D->dtype != GIDS_F32 || m <= 0 || n <= 0 || k <= 0 || beta == 0.0) return GIDS_OK;
    /* A bias vector (1-D [n], or [1, n]) goes to the epilogue, which adds it unscaled; a full
     * [m, n] bias with unit column stride is C; a 0-d one takes the copy path.  The heuristic is
     * told the operands' alignments but has no setting for the bias pointer's, which an
     * epilogue may read in 16-byte vectors (an H200 read a bias at an odd offset right, which
     * other architectures need not), so a bias vector not aligned to 16 bytes takes the copy
     * path too. */
    bool vec = beta == 1.0 && bias->ndim >= 1 && bias->shape[bias->ndim - 1] == n &&
               (bias->ndim == 1 || bias->shape[0] == 1) &&
               (n == 1 || bias->stride[bias->ndim - 1] == 1) &&
               gc_alignment_of(gids_tensor_data(bias)) >= 16;
    int64_t ldc = 0;
    if (!vec) {
        if (bias->ndim != 2 || bias->shape[0] != m || bias->shape[1] != n) return GIDS_OK;
        if (n > 1 && bias->stride[1] != 1) return GIDS_OK;
        ldc = m == 1 ? n : bias->stride[0];
        if (ldc < n || ldc > INT_MAX) return GIDS_OK;
    }
    gc_ref ra, rb;
    GIDS_TRY(readable(op, &ra.t, A));
    GIDS_TRY(readable(op, &rb.t, B));
    mat a = mat_of(ra.t), b = mat_of(rb.t);
    cublasOperation_t opa = CUBLAS_OP_N, opb = CUBLAS_OP_N;
    int lda = 1, ldb = 1;
    if (!blas_layout(a, &opa, &lda) || !blas_layout(b, &opb, &ldb)) return GIDS_OK;
    /* Column-major, as the cuBLAS path: D^T [n, m] = B^T [n, k] A^T [k, m] (+ bias per row). */
    void *dp = gids_tensor_data(D);
    const void *bias_p = gids_tensor_data(bias);
    gc_gemm g = {opb,
                 opa,
                 (int)n,
                 (int)m,
                 (int)k,
                 b.p,
                 ldb,
                 a.p,
                 lda,
                 (float)alpha,
                 vec ? 0.0f : (float)beta,
                 vec ? dp : bias_p,
                 vec ? (int)n : (int)ldc,
                 dp,
                 (int)n,
                 vec ? bias_p : nullptr,
                 false};
    return gc_gemm_lt(op, gc_dev(D).index, &g, done);
}

/* ---------------------------------------------------------------- argument checks (as the CPU) */
static gids_status check_operand(const char *op, const char *arg, const gids_tensor *t) {
    GIDS_CHECK(t != nullptr, GIDS_EINVAL, "%s: %s is NULL", op, arg);
    GIDS_CHECK(t->dtype != GIDS_BOOL, GIDS_EDTYPE,
               "%s: %s has dtype bool, expected a float or integer dtype", op, arg);
    return GIDS_OK;
}

static gids_status check_pair(const char *op, const gids_tensor *a, const gids_tensor *b) {
    GIDS_TRY(check_operand(op, "arg 1", a));
    GIDS_TRY(check_operand(op, "arg 2", b));
    GIDS_CHECK(a->dtype == b->dtype, GIDS_EDTYPE,
               "%s: arg 2 has dtype %s, expected the dtype of arg 1 (%s)", op,
               gids_dtype_name(b->dtype), gids_dtype_name(a->dtype));
    char sh[128];
    GIDS_CHECK(a->ndim == 2, GIDS_ESHAPE, "%s: arg 1 has shape %s, expected a 2-D tensor", op,
               gids_shape_str(a->ndim, a->shape, sh, sizeof sh));
    GIDS_CHECK(b->ndim == 2, GIDS_ESHAPE, "%s: arg 2 has shape %s, expected a 2-D tensor", op,
               gids_shape_str(b->ndim, b->shape, sh, sizeof sh));
    if (a->shape[1] != b->shape[0]) {
        char sa[128], sb[128];
        GIDS_FAIL(GIDS_ESHAPE,
                  "%s: arg 2 has shape %s, incompatible with arg 1 %s (inner dims %lld vs %lld)",
                  op, gids_shape_str(b->ndim, b->shape, sb, sizeof sb),
                  gids_shape_str(a->ndim, a->shape, sa, sizeof sa), (long long)a->shape[1],
                  (long long)b->shape[0]);
    }
    GIDS_TRY(gids_refuse_dtype(GIDS_DR_PRODUCT, op, a->dtype));
    int64_t n = a->shape[0], k = a->shape[1], m = b->shape[1];
    GIDS_CHECK(n <= INT_MAX && k <= INT_MAX && m <= INT_MAX, GIDS_EOVERFLOW,
               "%s: sizes n=%lld k=%lld m=%lld exceed the cuBLAS limit %d", op, (long long)n,
               (long long)k, (long long)m, INT_MAX);
    return GIDS_OK;
}

gids_status gc_mm(gids_tensor **out, const gids_tensor *a, const gids_tensor *b) {
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "mm: out is NULL");
    GIDS_TRY(check_pair("mm", a, b));
    GIDS_TRY(gc_use_device("mm", a));
    int64_t shape[2] = {a->shape[0], b->shape[1]};
    gc_ref c;
    GIDS_TRY(gids_empty(&c.t, a->dtype, gc_dev(a), 2, shape));
    if (shape[0] > 0 && shape[1] > 0) {
        if (a->shape[1] == 0) /* empty inner dim: a sum of nothing */
            GIDS_TRY(gc_fill(c.t, gids_scalar_f(0.0)));
        else
            GIDS_TRY(gemm("mm", c.t, a, b, 1.0, 0.0));
    }
    *out = c.take();
    return GIDS_OK;
}

gids_status gc_addmm(gids_tensor **out, const gids_tensor *bias, const gids_tensor *a,
                     const gids_tensor *b, double beta, double alpha) {
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "addmm: out is NULL");
    GIDS_TRY(check_pair("addmm", a, b));
    GIDS_TRY(check_operand("addmm", "bias", bias));
    GIDS_CHECK(bias->dtype == a->dtype, GIDS_EDTYPE,
               "addmm: bias has dtype %s, expected the dtype of arg 1 (%s)",
               gids_dtype_name(bias->dtype), gids_dtype_name(a->dtype));
    int64_t shape[2] = {a->shape[0], b->shape[1]};
    int nb = 0;
    int64_t bshape[GIDS_MAX_DIMS];
    char sb[128];
    gids_status st = gids_broadcast_shapes("addmm", bias->ndim, bias->shape, 2, shape, &nb, bshape);
    if (st != GIDS_OK || nb != 2 || bshape[0] != shape[0] || bshape[1] != shape[1])
        GIDS_FAIL(GIDS_ESHAPE, "addmm: bias has shape %s, which does not broadcast to [%lld,%lld]",
                  gids_shape_str(bias->ndim, bias->shape, sb, sizeof sb), (long long)shape[0],
                  (long long)shape[1]);
    GIDS_TRY(gc_use_device("addmm", a));
    gc_ref c;
    GIDS_TRY(gids_empty(&c.t, a->dtype, gc_dev(a), 2, shape));
    bool done = false;
    GIDS_TRY(addmm_lt(c.t, bias, a, b, alpha, beta, &done));
    if (!done && shape[0] > 0 && shape[1] > 0) {
        /* beta == 0 ignores bias entirely, so NaN in it does not leak through (as torch). */
        if (beta != 0.0) GIDS_TRY(gc_copy(c.t, bias));
        if (a->shape[1] > 0) {
            GIDS_TRY(gemm("addmm", c.t, a, b, alpha, beta));
        } else if (beta == 0.0) {
            GIDS_TRY(gc_fill(c.t, gids_scalar_f(0.0)));
        } else if (beta != 1.0) {
            /* beta * bias.  f16 and bf16 have no arithmetic kernel (storage only): in f32,
             * rounded once on the way back, as cuBLAS would scale C with its f32 compute. */
            gc_ref wide, scaled;
            const gids_tensor *src = c.t;
            if (gids_dtype_is_half(c.t->dtype)) {
                GIDS_TRY(gids_empty(&wide.t, GIDS_F32, gc_dev(a), 2, shape));
                GIDS_TRY(gc_copy(wide.t, c.t));
                src = wide.t;
            }
            GIDS_TRY(gc_binary_scalar(&scaled.t, GIDS_MUL, src, gids_scalar_f(beta), false));
            if (src == c.t) {
                *out = scaled.take();
                return GIDS_OK;
            }
            GIDS_TRY(gc_copy(c.t, scaled.t));
        }
    }
    *out = c.take();
    return GIDS_OK;
}
