/* matmul.c -- matmul / mm / bmm / addmm / mm_into on the CPU.
 *
 * Float products go to OpenBLAS.  A 2-D operand whose elements are row-major or column-major
 * with a gap (a transposed or narrowed view) is handed to BLAS as it is, with the trans flag and
 * the other stride as leading dimension; only layouts BLAS cannot describe (expanded, doubly
 * strided) are first packed into a scratch buffer.  The fast path writes straight into the
 * fresh output with beta = 0, so an mm costs exactly one sgemm call.  Integer dtypes use a
 * plain loop accumulating in int64 with wrap-around (as torch's integer matmul).
 */
#include <cblas.h>
#include <limits.h>
#include <omp.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "gids/ops.h"
#include "gids/runtime.h"

/* A 2-D strided matrix: element (i, j) at p + (i * rs + j * cs) * element size. */
typedef struct mat {
    char *p;
    int64_t rows, cols, rs, cs;
} mat;

static mat mat_t(mat x) {
    return (mat){x.p, x.cols, x.rows, x.cs, x.rs};
}

/* Can BLAS read x in place?  Row-major needs a unit column stride and a row stride of at least
 * the row length; column-major the mirror.  Sizes of 1 make their stride irrelevant. */
static bool blas_layout(mat x, CBLAS_TRANSPOSE *tr, int *ld) {
    int64_t need_r = x.cols > 1 ? x.cols : 1, need_c = x.rows > 1 ? x.rows : 1;
    if (x.cols == 1 || x.cs == 1) {
        int64_t l = x.rows == 1 ? need_r : x.rs;
        if (l >= need_r && l <= INT_MAX) {
            *tr = CblasNoTrans;
            *ld = (int)l;
            return true;
        }
    }
    if (x.rows == 1 || x.rs == 1) {
        int64_t l = x.cols == 1 ? need_c : x.cs;
        if (l >= need_c && l <= INT_MAX) {
            *tr = CblasTrans;
            *ld = (int)l;
            return true;
        }
    }
    return false;
}

static bool mats_overlap(mat a, mat b, size_t es) {
    char *a_lo = a.p, *a_hi = a.p + ((a.rows - 1) * a.rs + (a.cols - 1) * a.cs + 1) * (int64_t)es;
    char *b_lo = b.p, *b_hi = b.p + ((b.rows - 1) * b.rs + (b.cols - 1) * b.cs + 1) * (int64_t)es;
    return a_lo < b_hi && b_lo < a_hi;
}

/* Packs x into the row-major buffer buf (rows * cols elements). */
static void mat_pack(mat x, char *buf, size_t es) {
    for (int64_t i = 0; i < x.rows; i++)
        for (int64_t j = 0; j < x.cols; j++)
            memcpy(buf + (i * x.cols + j) * (int64_t)es, x.p + (i * x.rs + j * x.cs) * (int64_t)es,
                   es);
}

static void mat_unpack(mat x, const char *buf, size_t es) {
    for (int64_t i = 0; i < x.rows; i++)
        for (int64_t j = 0; j < x.cols; j++)
            memcpy(x.p + (i * x.rs + j * x.cs) * (int64_t)es, buf + (i * x.cols + j) * (int64_t)es,
                   es);
}

static mat mat_rowmajor(char *buf, int64_t rows, int64_t cols) {
    return (mat){buf, rows, cols, cols, 1};
}

/* Scratch buffers reused across the slices of a batched product. */
typedef struct scratch {
    char *buf[3];
    size_t cap[3];
} scratch;

static gids_status scratch_get(scratch *s, int slot, size_t nbytes, char **out) {
    if (s->cap[slot] < nbytes) {
        free(s->buf[slot]);
        s->buf[slot] = malloc(nbytes ? nbytes : 1);
        s->cap[slot] = s->buf[slot] ? nbytes : 0;
        GIDS_CHECK(s->buf[slot] != NULL, GIDS_ENOMEM,
                   "matmul: cannot allocate %zu bytes of scratch", nbytes);
    }
    *out = s->buf[slot];
    return GIDS_OK;
}

static void scratch_free(scratch *s) {
    for (int i = 0; i < 3; i++) free(s->buf[i]);
}

/* C <- alpha * A @ B + beta * C for C row-major (unit column stride); A and B BLAS-readable. */
static void blas_block(gids_dtype dt, mat C, mat A, mat B, double alpha, double beta) {
    CBLAS_TRANSPOSE ta = CblasNoTrans, tb = CblasNoTrans;
    int lda = 0, ldb = 0;
    blas_layout(A, &ta, &lda);
    blas_layout(B, &tb, &ldb);
    int ldc = (int)(C.rows == 1 ? (C.cols > 1 ? C.cols : 1) : C.rs);
    gids_blas_enter();
    if (dt == GIDS_F32)
        cblas_sgemm(CblasRowMajor, ta, tb, (int)C.rows, (int)C.cols, (int)A.cols, (float)alpha,
                    (const void *)A.p, lda, (const void *)B.p, ldb, (float)beta, (void *)C.p, ldc);
    else
        cblas_dgemm(CblasRowMajor, ta, tb, (int)C.rows, (int)C.cols, (int)A.cols, alpha,
                    (const void *)A.p, lda, (const void *)B.p, ldb, beta, (void *)C.p, ldc);
    gids_blas_leave();
}

/* The products a row split serves better than OpenBLAS's own threads: below this many
 * multiply-adds the products of a GNN step (a Linear of a 2 000-node batch, 8 000 x 40 x 11 up
 * to 2 000 x 96 x 96) ran slower on two OpenBLAS threads than on one (91 against 81 us for the
 * first), and took 42 us in two row blocks of one single-threaded call each.  On hcrl_sa the
 * VGAE's training step went from 16.0 to 14.6 ms (2 threads, medians of 5 interleaved runs). */
#define SPLIT_WORK_MAX ((double)(1 << 25))
#define SPLIT_MIN_ROWS 128

/* blas_block over blocks of C's (and A's) rows on the runtime's threads when the product is
 * small (SPLIT_WORK_MAX), else in one call.  Each block is a single-threaded call (OpenBLAS
 * runs one thread inside a parallel region), so the blocks depend on the thread count, as
 * OpenBLAS's own partition did: a product rounds the same for one thread count every run. */
static void blas_call(gids_dtype dt, mat C, mat A, mat B, double alpha, double beta) {
    int nt = gids_get_num_threads();
    double work = (double)C.rows * (double)C.cols * (double)A.cols;
    if (nt < 2 || C.rows < SPLIT_MIN_ROWS || work > SPLIT_WORK_MAX || omp_in_parallel()) {
        blas_block(dt, C, A, B, alpha, beta);
        return;
    }
    size_t es = gids_dtype_size(dt);
    int64_t per = ((C.rows + nt - 1) / nt + 63) / 64 * 64; /* 64-row multiples: kernel tiles */
    int nb = (int)((C.rows + per - 1) / per);
    gids_team_blas_begin();
#pragma omp parallel for num_threads(nb) schedule(static)
    for (int b = 0; b < nb; b++) {
        int64_t r0 = (int64_t)b * per, r1 = r0 + per < C.rows ? r0 + per : C.rows;
        mat Cb = C, Ab = A;
        Cb.rows = Ab.rows = r1 - r0;
        Cb.p = C.p + r0 * C.rs * (int64_t)es;
        Ab.p = A.p + r0 * A.rs * (int64_t)es;
        blas_block(dt, Cb, Ab, B, alpha, beta);
    }
    gids_team_blas_end();
}

static gids_status gemm_float(gids_dtype dt, mat C, mat A, mat B, double alpha, double beta,
                              bool c_aliases, scratch *s) {
    size_t es = gids_dtype_size(dt);
    CBLAS_TRANSPOSE tr;
    int ld;
    if (!blas_layout(A, &tr, &ld)) {
        char *buf = NULL;
        GIDS_TRY(scratch_get(s, 0, (size_t)(A.rows * A.cols) * es, &buf));
        mat_pack(A, buf, es);
        A = mat_rowmajor(buf, A.rows, A.cols);
    }
    if (!blas_layout(B, &tr, &ld)) {
        char *buf = NULL;
        GIDS_TRY(scratch_get(s, 1, (size_t)(B.rows * B.cols) * es, &buf));
        mat_pack(B, buf, es);
        B = mat_rowmajor(buf, B.rows, B.cols);
    }
    bool row_major =
        (C.cols == 1 || C.cs == 1) && (C.rows == 1 || C.rs >= C.cols) && C.rs <= INT_MAX;
    bool col_major =
        (C.rows == 1 || C.rs == 1) && (C.cols == 1 || C.cs >= C.rows) && C.cs <= INT_MAX;
    if (!c_aliases && row_major) {
        blas_call(dt, C, A, B, alpha, beta);
    } else if (!c_aliases && col_major) {
        /* C^T = B^T A^T, and C^T is row-major. */
        blas_call(dt, mat_t(C), mat_t(B), mat_t(A), alpha, beta);
    } else {
        char *buf = NULL;
        GIDS_TRY(scratch_get(s, 2, (size_t)(C.rows * C.cols) * es, &buf));
        mat tmp = mat_rowmajor(buf, C.rows, C.cols);
        if (beta != 0.0) mat_pack(C, buf, es);
        blas_call(dt, tmp, A, B, alpha, beta);
        mat_unpack(C, buf, es);
    }
    return GIDS_OK;
}

static int64_t load_int(const char *p, gids_dtype dt) {
    switch (dt) {
    case GIDS_I64: return *(const int64_t *)p;
    case GIDS_I32: return *(const int32_t *)p;
    default: return *(const uint8_t *)p; /* u8 */
    }
}

static void store_int(char *p, gids_dtype dt, uint64_t v) {
    switch (dt) {
    case GIDS_I64: memcpy(p, &v, 8); break;
    case GIDS_I32: {
        uint32_t w = (uint32_t)v;
        memcpy(p, &w, 4);
        break;
    }
    default: *(uint8_t *)p = (uint8_t)v; break;
    }
}

/* Integer product: operands widened to contiguous uint64 (wrap-around is then defined
 * behaviour and matches the modular result of the narrow type), i-k-j loop parallel over rows. */
static gids_status gemm_int(gids_dtype dt, mat C, mat A, mat B, int64_t alpha, int64_t beta) {
    int64_t n = C.rows, m = C.cols, k = A.cols;
    int64_t es = (int64_t)gids_dtype_size(dt);
    uint64_t *a = malloc((size_t)(n * k + k * m + n * m + 1) * sizeof(uint64_t));
    GIDS_CHECK(a != NULL, GIDS_ENOMEM, "matmul: cannot allocate integer scratch for [%lld,%lld]",
               (long long)n, (long long)m);
    uint64_t *b = a + n * k, *c = b + k * m;
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < k; p++)
            a[i * k + p] = (uint64_t)load_int(A.p + (i * A.rs + p * A.cs) * es, dt);
    for (int64_t p = 0; p < k; p++)
        for (int64_t j = 0; j < m; j++)
            b[p * m + j] = (uint64_t)load_int(B.p + (p * B.rs + j * B.cs) * es, dt);
    const int64_t jb = 256; /* keeps a slice of the C row and of a B row in L1 */
    int nth = gids_threads_for(n * m * (k > 0 ? k : 1));
#pragma omp parallel for num_threads(nth) schedule(static) if (nth > 1)
    for (int64_t i = 0; i < n; i++) {
        uint64_t *crow = c + i * m;
        for (int64_t j0 = 0; j0 < m; j0 += jb) {
            int64_t j1 = j0 + jb < m ? j0 + jb : m;
            for (int64_t j = j0; j < j1; j++) crow[j] = 0;
            for (int64_t p = 0; p < k; p++) {
                uint64_t av = a[i * k + p];
                const uint64_t *brow = b + p * m;
                for (int64_t j = j0; j < j1; j++) crow[j] += av * brow[j];
            }
        }
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) {
            char *cp = C.p + (i * C.rs + j * C.cs) * es;
            uint64_t v = (uint64_t)alpha * c[i * m + j];
            if (beta != 0) v += (uint64_t)beta * (uint64_t)load_int(cp, dt);
            store_int(cp, dt, v);
        }
    free(a);
    return GIDS_OK;
}

/* C <- alpha * A @ B + beta * C for any layouts.  c_aliases: C may share memory with A or B. */
static gids_status gemm(gids_dtype dt, mat C, mat A, mat B, double alpha, double beta,
                        bool c_aliases, scratch *s) {
    if (C.rows == 0 || C.cols == 0) return GIDS_OK;
    if (gids_dtype_is_int(dt)) return gemm_int(dt, C, A, B, (int64_t)alpha, (int64_t)beta);
    if (A.cols == 0) { /* empty inner dim: BLAS implementations disagree on beta handling */
        size_t es = gids_dtype_size(dt);
        for (int64_t i = 0; i < C.rows; i++)
            for (int64_t j = 0; j < C.cols; j++) {
                char *p = C.p + (i * C.rs + j * C.cs) * (int64_t)es;
                double v = beta == 0.0 ? 0.0 : beta * gids_load_f64(p, dt, 0);
                gids_store_f64(p, dt, 0, v);
            }
        return GIDS_OK;
    }
    return gemm_float(dt, C, A, B, alpha, beta, c_aliases, s);
}

/* ---------------------------------------------------------------- argument checks */

static gids_status check_operand(const char *op, const char *arg, const gids_tensor *t) {
    GIDS_TRY(gids_check_cpu(op, arg, t));
    GIDS_TRY(gids_check_cpu_dtype(op, arg, t));
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
    return GIDS_OK;
}

static gids_status check_ndim(const char *op, const char *arg, const gids_tensor *t, int want) {
    char sh[128];
    GIDS_CHECK(t->ndim == want, GIDS_ESHAPE, "%s: %s has shape %s, expected a %d-D tensor", op, arg,
               gids_shape_str(t->ndim, t->shape, sh, sizeof sh), want);
    return GIDS_OK;
}

static gids_status inner_mismatch(const char *op, const gids_tensor *a, const gids_tensor *b,
                                  int64_t ka, int64_t kb) {
    char sa[128], sb[128];
    GIDS_FAIL(GIDS_ESHAPE,
              "%s: arg 2 has shape %s, incompatible with arg 1 %s (inner dims %lld vs %lld)", op,
              gids_shape_str(b->ndim, b->shape, sb, sizeof sb),
              gids_shape_str(a->ndim, a->shape, sa, sizeof sa), (long long)ka, (long long)kb);
}

/* BLAS takes int sizes. */
static gids_status check_blas_sizes(const char *op, int64_t n, int64_t k, int64_t m) {
    GIDS_CHECK(n <= INT_MAX && k <= INT_MAX && m <= INT_MAX, GIDS_EOVERFLOW,
               "%s: sizes n=%lld k=%lld m=%lld exceed the BLAS limit %d", op, (long long)n,
               (long long)k, (long long)m, INT_MAX);
    return GIDS_OK;
}

static mat mat_of(const gids_tensor *t) {
    char *p = gids_tensor_data(t);
    return (mat){p, t->shape[0], t->shape[1], t->stride[0], t->stride[1]};
}

static bool same_memory(const gids_tensor *x, const gids_tensor *y) {
    return x->storage == y->storage;
}

/* ---------------------------------------------------------------- public API */

gids_status gids_mm_into(gids_tensor *dst, const gids_tensor *a, const gids_tensor *b) {
    GIDS_TRY(check_pair("mm", a, b));
    GIDS_TRY(check_ndim("mm", "arg 1", a, 2));
    GIDS_TRY(check_ndim("mm", "arg 2", b, 2));
    if (a->shape[1] != b->shape[0]) return inner_mismatch("mm", a, b, a->shape[1], b->shape[0]);
    GIDS_TRY(gids_check_cpu("mm", "dst", dst));
    GIDS_CHECK(dst->dtype == a->dtype, GIDS_EDTYPE, "mm: dst has dtype %s, expected %s",
               gids_dtype_name(dst->dtype), gids_dtype_name(a->dtype));
    char sd[128];
    GIDS_CHECK(dst->ndim == 2 && dst->shape[0] == a->shape[0] && dst->shape[1] == b->shape[1],
               GIDS_ESHAPE, "mm: dst has shape %s, expected [%lld,%lld]",
               gids_shape_str(dst->ndim, dst->shape, sd, sizeof sd), (long long)a->shape[0],
               (long long)b->shape[1]);
    GIDS_TRY(check_blas_sizes("mm", a->shape[0], a->shape[1], b->shape[1]));
    mat C = mat_of(dst), A = mat_of(a), B = mat_of(b);
    size_t es = gids_dtype_size(dst->dtype);
    bool alias = gids_tensor_numel(dst) > 0 &&
                 ((same_memory(dst, a) && gids_tensor_numel(a) > 0 && mats_overlap(C, A, es)) ||
                  (same_memory(dst, b) && gids_tensor_numel(b) > 0 && mats_overlap(C, B, es)));
    for (int d = 0; d < 2; d++)
        GIDS_CHECK(dst->stride[d] != 0 || dst->shape[d] <= 1, GIDS_EINVAL,
                   "mm: dst has stride 0 in dim %d (an expanded tensor); its elements overlap", d);
    scratch s = {0};
    gids_status st = gemm(dst->dtype, C, A, B, 1.0, 0.0, alias, &s);
    scratch_free(&s);
    if (st == GIDS_OK) gids_tensor_bump_version(dst);
    return st;
}

gids_status gids_mm(gids_tensor **out, const gids_tensor *a, const gids_tensor *b) {
    GIDS_CHECK_ARG(out, "mm", "out");
    *out = NULL;
    GIDS_ON_DEVICE("mm", mm, a, b)(out, a, b);
    GIDS_TRY(check_pair("mm", a, b));
    GIDS_TRY(check_ndim("mm", "arg 1", a, 2));
    GIDS_TRY(check_ndim("mm", "arg 2", b, 2));
    if (a->shape[1] != b->shape[0]) return inner_mismatch("mm", a, b, a->shape[1], b->shape[0]);
    GIDS_TRY(check_blas_sizes("mm", a->shape[0], a->shape[1], b->shape[1]));
    int64_t shape[2] = {a->shape[0], b->shape[1]};
    gids_tensor *c = NULL;
    GIDS_TRY(gids_empty(&c, a->dtype, GIDS_DEVICE_CPU, 2, shape));
    scratch s = {0};
    gids_status st = gemm(a->dtype, mat_of(c), mat_of(a), mat_of(b), 1.0, 0.0, false, &s);
    scratch_free(&s);
    if (st != GIDS_OK) {
        gids_tensor_release(c);
        return st;
    }
    *out = c;
    return GIDS_OK;
}

static gids_status check_int_coef(const char *op, gids_dtype dt, const char *name, double v) {
    GIDS_CHECK(!gids_dtype_is_int(dt) || (v == trunc(v) && fabs(v) < 9.2e18), GIDS_EINVAL,
               "%s: %s = %g must be an integer for %s tensors", op, name, v, gids_dtype_name(dt));
    return GIDS_OK;
}

gids_status gids_addmm(gids_tensor **out, const gids_tensor *bias, const gids_tensor *a,
                       const gids_tensor *b, double beta, double alpha) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "addmm: out is NULL");
    *out = NULL;
    GIDS_ON_DEVICE("addmm", addmm, bias, a, b)(out, bias, a, b, beta, alpha);
    GIDS_TRY(check_pair("addmm", a, b));
    GIDS_TRY(check_operand("addmm", "bias", bias));
    GIDS_CHECK(bias->dtype == a->dtype, GIDS_EDTYPE,
               "addmm: bias has dtype %s, expected the dtype of arg 1 (%s)",
               gids_dtype_name(bias->dtype), gids_dtype_name(a->dtype));
    GIDS_TRY(check_ndim("addmm", "arg 1", a, 2));
    GIDS_TRY(check_ndim("addmm", "arg 2", b, 2));
    if (a->shape[1] != b->shape[0]) return inner_mismatch("addmm", a, b, a->shape[1], b->shape[0]);
    GIDS_TRY(check_blas_sizes("addmm", a->shape[0], a->shape[1], b->shape[1]));
    GIDS_TRY(check_int_coef("addmm", a->dtype, "alpha", alpha));
    GIDS_TRY(check_int_coef("addmm", a->dtype, "beta", beta));
    int64_t shape[2] = {a->shape[0], b->shape[1]};
    int nb = 0;
    int64_t bshape[GIDS_MAX_DIMS];
    char sb[128];
    gids_status st = gids_broadcast_shapes("addmm", bias->ndim, bias->shape, 2, shape, &nb, bshape);
    if (st != GIDS_OK || nb != 2 || bshape[0] != shape[0] || bshape[1] != shape[1])
        GIDS_FAIL(GIDS_ESHAPE, "addmm: bias has shape %s, which does not broadcast to [%lld,%lld]",
                  gids_shape_str(bias->ndim, bias->shape, sb, sizeof sb), (long long)shape[0],
                  (long long)shape[1]);
    gids_tensor *c = NULL;
    GIDS_TRY(gids_empty(&c, a->dtype, GIDS_DEVICE_CPU, 2, shape));
    /* The product goes into a fresh C with beta 0, then the bias is added in one pass: copying a
     * broadcast bias into C first and letting gemm read it back (beta 1) measured 2-3x the time
     * of the product alone on 2 threads (4096x256x256 f32), this way costs one extra pass.
     * beta == 0 ignores bias entirely, so NaN in it does not leak through (as torch). */
    scratch s = {0};
    st = gemm(a->dtype, mat_of(c), mat_of(a), mat_of(b), alpha, 0.0, false, &s);
    scratch_free(&s);
    if (st == GIDS_OK && beta == 1.0) {
        st = gids_binary_into(c, GIDS_ADD, c, bias);
    } else if (st == GIDS_OK && beta != 0.0) {
        gids_tensor *scaled = NULL;
        /* an integer beta stays an integer (check_int_coef made sure it is one) */
        gids_scalar coef =
            gids_dtype_is_float(bias->dtype) ? gids_scalar_f(beta) : gids_scalar_i((int64_t)beta);
        st = gids_binary_scalar(&scaled, GIDS_MUL, bias, coef, false);
        if (st == GIDS_OK) st = gids_binary_into(c, GIDS_ADD, c, scaled);
        gids_tensor_release(scaled);
    }
    if (st != GIDS_OK) {
        gids_tensor_release(c);
        return st;
    }
    *out = c;
    return GIDS_OK;
}

/* Batched product over broadcast batch dims.  a3/b3 describe each operand as
 * (batch dims, rows, cols, strides) with 1-D operands already given their unit dim. */
typedef struct operand {
    int nbatch;
    int64_t bshape[GIDS_MAX_DIMS], bstride[GIDS_MAX_DIMS];
    mat m; /* the slice at batch index 0 */
} operand;

static operand operand_of(const gids_tensor *t, bool is_left) {
    operand o = {0};
    char *p = gids_tensor_data(t);
    if (t->ndim == 1) {
        /* a 1-D left operand is a row [1,k]; a 1-D right operand a column [k,1] */
        o.m = is_left ? (mat){p, 1, t->shape[0], 0, t->stride[0]}
                      : (mat){p, t->shape[0], 1, t->stride[0], 0};
        return o;
    }
    int nd = t->ndim;
    o.nbatch = nd - 2;
    for (int d = 0; d < nd - 2; d++) {
        o.bshape[d] = t->shape[d];
        o.bstride[d] = t->stride[d];
    }
    o.m = (mat){p, t->shape[nd - 2], t->shape[nd - 1], t->stride[nd - 2], t->stride[nd - 1]};
    return o;
}

/* Element offset of batch position `flat` of o within the broadcast batch shape. */
static int64_t batch_offset(const operand *o, int nb, const int64_t *bshape, int64_t flat) {
    int64_t off = 0;
    for (int d = nb - 1; d >= 0; d--) {
        int64_t c = flat % bshape[d];
        flat /= bshape[d];
        int od = d - (nb - o->nbatch);
        if (od >= 0 && o->bshape[od] != 1) off += c * o->bstride[od];
    }
    return off;
}

/* Left operand [batch..., n, k] whose batch and row dims fold into one row dim of stride rs. */
static bool rows_fold(const gids_tensor *a) {
    int nd = a->ndim;
    int64_t expect = a->stride[nd - 2] * a->shape[nd - 2];
    for (int d = nd - 3; d >= 0; d--) {
        if (a->shape[d] == 1) continue;
        if (a->stride[d] != expect) return false;
        expect *= a->shape[d];
    }
    return true;
}

static gids_status batched(gids_tensor **out, const char *op, const gids_tensor *a,
                           const gids_tensor *b) {
    operand oa = operand_of(a, true), ob = operand_of(b, false);
    int64_t k = oa.m.cols;
    if (k != ob.m.rows) {
        char sa[128], sb[128];
        GIDS_FAIL(GIDS_ESHAPE,
                  "%s: arg 2 has shape %s, incompatible with arg 1 %s (inner dims %lld vs %lld)",
                  op, gids_shape_str(b->ndim, b->shape, sb, sizeof sb),
                  gids_shape_str(a->ndim, a->shape, sa, sizeof sa), (long long)k,
                  (long long)ob.m.rows);
    }
    int nb = 0;
    int64_t bshape[GIDS_MAX_DIMS];
    if (gids_broadcast_shapes(op, oa.nbatch, oa.bshape, ob.nbatch, ob.bshape, &nb, bshape) !=
        GIDS_OK) {
        char sa[128], sb[128];
        GIDS_FAIL(GIDS_ESHAPE, "%s: batch dims of arg 1 %s and arg 2 %s do not broadcast", op,
                  gids_shape_str(a->ndim, a->shape, sa, sizeof sa),
                  gids_shape_str(b->ndim, b->shape, sb, sizeof sb));
    }
    int64_t n = oa.m.rows, m = ob.m.cols;
    GIDS_TRY(check_blas_sizes(op, n, k, m));
    int64_t oshape[GIDS_MAX_DIMS];
    int ond = nb;
    memcpy(oshape, bshape, sizeof(int64_t) * (size_t)nb);
    if (a->ndim > 1) oshape[ond++] = n;
    if (b->ndim > 1) oshape[ond++] = m;
    GIDS_CHECK(ond <= GIDS_MAX_DIMS, GIDS_ESHAPE, "%s: result would have %d dims, max %d", op, ond,
               GIDS_MAX_DIMS);
    int64_t nbatch = 1;
    GIDS_TRY(gids_shape_numel(op, nb, bshape, &nbatch));
    gids_tensor *c = NULL;
    GIDS_TRY(gids_empty(&c, a->dtype, GIDS_DEVICE_CPU, ond, oshape));
    char *cp = gids_tensor_data(c);
    int64_t es = (int64_t)gids_dtype_size(a->dtype);
    scratch s = {0};
    gids_status st = GIDS_OK;
    if (ob.nbatch == 0 && oa.nbatch > 0 && rows_fold(a) && nbatch * n <= INT_MAX) {
        /* [batch..., n, k] @ [k, m] is one [batch*n, k] @ [k, m] product (nn.Linear on 3-D). */
        mat A = {oa.m.p, nbatch * n, k, oa.m.rs, oa.m.cs};
        st = gemm(a->dtype, mat_rowmajor(cp, nbatch * n, m), A, ob.m, 1.0, 0.0, false, &s);
    } else {
        for (int64_t i = 0; i < nbatch && st == GIDS_OK; i++) {
            mat A = oa.m, B = ob.m;
            A.p += batch_offset(&oa, nb, bshape, i) * es;
            B.p += batch_offset(&ob, nb, bshape, i) * es;
            st = gemm(a->dtype, mat_rowmajor(cp + i * n * m * es, n, m), A, B, 1.0, 0.0, false, &s);
        }
    }
    scratch_free(&s);
    if (st != GIDS_OK) {
        gids_tensor_release(c);
        return st;
    }
    *out = c;
    return GIDS_OK;
}

gids_status gids_bmm(gids_tensor **out, const gids_tensor *a, const gids_tensor *b) {
    GIDS_CHECK_ARG(out, "bmm", "out");
    *out = NULL;
    /* The shape checks hold on every device; the CPU's own (check_pair) only after the device
     * dispatch, which would otherwise refuse a CUDA operand as "expected cpu". */
    GIDS_CHECK(a != NULL && b != NULL, GIDS_EINVAL, "bmm: arg %d is NULL", a == NULL ? 1 : 2);
    GIDS_TRY(check_ndim("bmm", "arg 1", a, 3));
    GIDS_TRY(check_ndim("bmm", "arg 2", b, 3));
    char sa[128], sb[128];
    GIDS_CHECK(a->shape[0] == b->shape[0], GIDS_ESHAPE,
               "bmm: arg 2 has shape %s, incompatible with arg 1 %s (batch sizes %lld vs %lld)",
               gids_shape_str(b->ndim, b->shape, sb, sizeof sb),
               gids_shape_str(a->ndim, a->shape, sa, sizeof sa), (long long)a->shape[0],
               (long long)b->shape[0]);
    GIDS_ON_DEVICE("bmm", matmul, a, b)(out, a, b);
    GIDS_TRY(check_pair("bmm", a, b));
    return batched(out, "bmm", a, b);
}

gids_status gids_matmul(gids_tensor **out, const gids_tensor *a, const gids_tensor *b) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "matmul: out is NULL");
    *out = NULL;
    GIDS_ON_DEVICE("matmul", matmul, a, b)(out, a, b);
    GIDS_TRY(check_pair("matmul", a, b));
    char sa[128], sb[128];
    GIDS_CHECK(a->ndim >= 1 && b->ndim >= 1, GIDS_ESHAPE,
               "matmul: both arguments need at least 1 dim, got arg 1 %s and arg 2 %s",
               gids_shape_str(a->ndim, a->shape, sa, sizeof sa),
               gids_shape_str(b->ndim, b->shape, sb, sizeof sb));
    return batched(out, "matmul", a, b);
}
