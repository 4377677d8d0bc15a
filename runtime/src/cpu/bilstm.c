/* bilstm.c -- CPU kernels of the bidirectional sequence LSTM (gids/rnn.h: gids_bilstm).
 *
 * Layout, direction-major then time-major:
 *   act [2, T, N, 4H]  each direction's gates: its input projections first, activated in
 *                      place by the cells (and dG, their gradients, the same)
 *   c [2, T, N, H]     each direction's cell states
 *   out [T, N, 2H]     the forward direction's h in columns 0:H, the reverse's in H:2H
 * Step s runs the forward direction at t = s and the reverse at t = T-1-s.  A direction's first
 * step has a zero state: no recurrent GEMM, no forget-gate term.
 *
 * The nodes (rows n) of an LSTM are independent, so when a block of rows' gates fit in L2 (the
 * small hidden sizes of JumpingKnowledge) the forward and the per-step backward run block by
 * block, the blocks split among threads and each running its GEMMs single-threaded: the gates
 * stay in cache from the GEMM to the cell, and the steps need no thread synchronisation.  With
 * larger hidden sizes the whole row range is one block and BLAS threads each GEMM.  The weight
 * gradients are one GEMM each over all rows of all steps (K = T * N, or (T-1) * N for the
 * recurrent weights: with this layout those rows form one block with one leading dimension),
 * and the cells read each direction's gates as one contiguous run of rows.
 *
 * Thread-count independence: the blocks and the bias gradient's partial-sum chunks are fixed by
 * the shapes; every GEMM output element sums over K in one order whatever BLAS's thread count;
 * the cells compute each element on its own.
 */
#include <cblas.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gids/ops.h"
#include "gids/rnn.h"
#include "gids/runtime.h"

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "lstm_cell_impl.h"

/* The checked operands of one call. */
typedef struct {
    const char *op;
    gids_dtype dt;
    size_t es;
    int64_t T, N, C, H;
    const void *x;    /* [T * N, C] */
    const void *w[8]; /* contiguous weights; biases NULL when absent or not read */
    int64_t ob;       /* rows per block (a multiple of CHUNK_ROWS, or N: one block) */
    gids_tensor *held[16];
    int nheld;
} seq;

static void seq_release(seq *q) {
    for (int i = 0; i < q->nheld; i++) gids_tensor_release(q->held[i]);
    q->nheld = 0;
}

/* Rows per chunk of the cell loops, the unit of their thread split and of the bias gradient's
 * partial sums (each chunk's rows in order over the steps, then the chunks in order). */
#define CHUNK_ROWS 128
/* A block of rows runs on its own (see the top) when its gates, 2 * T * CHUNK_ROWS * 4H elements,
 * take at most this many bytes. */
#define BLOCK_BYTES (1 << 20)

static const char *const W_NAMES[8] = {"w_ih",   "w_hh",   "b_ih",   "b_hh",
                                       "w_ih_r", "w_hh_r", "b_ih_r", "b_hh_r"};

/* Checks t (not NULL) has the call's dtype and the given shape, on any device: the checks run
 * before an op is handed to a device backend, so every device gives these messages (the CUDA
 * entries trust them). */
static gids_status check_operand(const seq *q, const char *name, const gids_tensor *t, int ndim,
                                 const int64_t *shape) {
    char a[96], b[96];
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "%s: %s is NULL", q->op, name);
    GIDS_CHECK(t->dtype == q->dt, GIDS_EDTYPE, "%s: %s has dtype %s, expected %s", q->op, name,
               gids_dtype_name(t->dtype), gids_dtype_name(q->dt));
    bool same = t->ndim == ndim;
    for (int k = 0; same && k < ndim; k++) same = t->shape[k] == shape[k];
    GIDS_CHECK(same, GIDS_ESHAPE, "%s: %s has shape %s, expected %s", q->op, name,
               gids_shape_str(t->ndim, t->shape, a, sizeof a),
               gids_shape_str(ndim, shape, b, sizeof b));
    return GIDS_OK;
}

/* *data: t's elements, contiguous (a copy held by q when t is strided); t is a checked CPU
 * tensor. */
static gids_status take(seq *q, const gids_tensor *t, const void **data) {
    gids_tensor *cc = NULL;
    GIDS_TRY(gids_contiguous(&cc, t));
    q->held[q->nheld++] = cc;
    *data = gids_tensor_data(cc);
    return GIDS_OK;
}

/* x [T, N, C] and the weights: dtype, sizes and shapes, on any device (q gets them).  Biases
 * are checked when given (all four or none) unless `biases` is false (the backward never reads
 * them). */
static gids_status check_seq(seq *q, const gids_tensor *x, const gids_tensor *const w[8],
                             bool biases) {
    char a[96];
    GIDS_CHECK(x != NULL, GIDS_EINVAL, "%s: x is NULL", q->op);
    GIDS_CHECK(w != NULL, GIDS_EINVAL, "%s: w is NULL", q->op);
    GIDS_CHECK(x->dtype == GIDS_F32 || x->dtype == GIDS_F64, GIDS_EDTYPE,
               "%s: x must be f32 or f64, got %s", q->op, gids_dtype_name(x->dtype));
    GIDS_CHECK(x->ndim == 3 && x->shape[0] >= 1, GIDS_ESHAPE,
               "%s: x must have shape [T >= 1, N, C], got %s", q->op,
               gids_shape_str(x->ndim, x->shape, a, sizeof a));
    GIDS_CHECK(w[0] != NULL, GIDS_EINVAL, "%s: w_ih is NULL", q->op);
    GIDS_CHECK(w[0]->ndim == 2 && w[0]->shape[0] >= 4 && w[0]->shape[0] % 4 == 0, GIDS_ESHAPE,
               "%s: w_ih must have shape [4 * hidden, C], got %s", q->op,
               gids_shape_str(w[0]->ndim, w[0]->shape, a, sizeof a));
    q->dt = x->dtype;
    q->es = gids_dtype_size(x->dtype);
    q->T = x->shape[0];
    q->N = x->shape[1];
    q->C = x->shape[2];
    q->H = w[0]->shape[0] / 4;
    int64_t rows = 0;
    /* H <= INT_MAX / 8 first: 8 * H itself overflows for a huge w_ih */
    GIDS_CHECK(gids_mul_ok(q->T, q->N, &rows) && rows <= INT_MAX && q->C <= INT_MAX &&
                   q->H <= INT_MAX / 8,
               GIDS_ESHAPE, "%s: x %s or hidden %lld too large for BLAS", q->op,
               gids_shape_str(x->ndim, x->shape, a, sizeof a), (long long)q->H);
    bool has_b = w[2] != NULL || w[3] != NULL || w[6] != NULL || w[7] != NULL;
    for (int k = 0; k < 8; k++) {
        bool is_bias = k % 4 >= 2;
        if (is_bias && !(biases && has_b)) continue;
        int64_t shape[2] = {4 * q->H, k % 4 == 1 ? q->H : q->C};
        GIDS_CHECK(w[k] != NULL, GIDS_EINVAL,
                   "%s: %s is NULL (the biases are all given or all NULL)", q->op, W_NAMES[k]);
        GIDS_TRY(check_operand(q, W_NAMES[k], w[k], is_bias ? 1 : 2, shape));
    }
    return GIDS_OK;
}

/* The backward's further operands: act, out, c and g_out (NULL: none), after check_seq. */
static gids_status check_saved(const seq *q, const gids_tensor *g_out, const gids_tensor *out,
                               const gids_tensor *act, const gids_tensor *c) {
    int64_t as[4] = {2, q->T, q->N, 4 * q->H}, cs[4] = {2, q->T, q->N, q->H},
            os[3] = {q->T, q->N, 2 * q->H};
    GIDS_TRY(check_operand(q, "act", act, 4, as));
    GIDS_TRY(check_operand(q, "out", out, 3, os));
    GIDS_TRY(check_operand(q, "c", c, 4, cs));
    if (g_out != NULL) GIDS_TRY(check_operand(q, "g_out", g_out, 3, os));
    return GIDS_OK;
}

/* The checked operands' CPU data (q->w[k] NULL for the biases not read). */
static gids_status prepare_(seq *q, const gids_tensor *x, const gids_tensor *const w[8],
                            bool biases) {
    GIDS_TRY(check_seq(q, x, w, biases));
    GIDS_TRY(take(q, x, &q->x));
    bool has_b = w[2] != NULL || w[3] != NULL || w[6] != NULL || w[7] != NULL;
    for (int k = 0; k < 8; k++) {
        q->w[k] = NULL;
        if (k % 4 >= 2 && !(biases && has_b)) continue;
        GIDS_TRY(take(q, w[k], &q->w[k]));
    }
    bool small = q->T * CHUNK_ROWS * 8 * q->H * (int64_t)q->es <= BLOCK_BYTES;
    q->ob = small && q->N > CHUNK_ROWS ? CHUNK_ROWS : q->N;
    return GIDS_OK;
}

static gids_status prepare(seq *q, const gids_tensor *x, const gids_tensor *const w[8],
                           bool biases) {
    gids_status st = prepare_(q, x, w, biases);
    if (st != GIDS_OK) seq_release(q);
    return st;
}

/* Element `off` of the buffer p. */
#define AT(q, p, off) ((char *)(p) + (int64_t)(off) * (int64_t)(q)->es)

/* Element offsets of row (direction d, step t, node n): in act / dG [2, T, N, 4H], in c
 * [2, T, N, H], and in out [T, N, 2H] (its direction's half). */
static inline int64_t GR(const seq *q, int d, int64_t t, int64_t n) {
    return ((d * q->T + t) * q->N + n) * 4 * q->H;
}
static inline int64_t SR(const seq *q, int d, int64_t t, int64_t n) {
    return ((d * q->T + t) * q->N + n) * q->H;
}
static inline int64_t OR(const seq *q, int d, int64_t t, int64_t n) {
    return (t * q->N + n) * 2 * q->H + d * q->H;
}

/* Cm[M, Nc] (row stride ldc) <- op(A) op(B) + beta Cm, every operand row-major; op transposes
 * when ta / tb.  K = 0 with beta 0 zeroes Cm (BLAS may leave it untouched). */
static void gemm(const seq *q, bool ta, bool tb, int64_t M, int64_t Nc, int64_t K, const void *A,
                 int64_t lda, const void *B, int64_t ldb, double beta, void *Cm, int64_t ldc) {
    if (M == 0 || Nc == 0) return;
    if (K == 0) {
        if (beta == 0)
            for (int64_t i = 0; i < M; i++) memset(AT(q, Cm, i * ldc), 0, (size_t)Nc * q->es);
        return;
    }
    CBLAS_TRANSPOSE a = ta ? CblasTrans : CblasNoTrans, b = tb ? CblasTrans : CblasNoTrans;
    gids_blas_enter();
    if (q->dt == GIDS_F32)
        cblas_sgemm(CblasRowMajor, a, b, (int)M, (int)Nc, (int)K, 1.0f, A, (int)lda, B, (int)ldb,
                    (float)beta, Cm, (int)ldc);
    else
        cblas_dgemm(CblasRowMajor, a, b, (int)M, (int)Nc, (int)K, 1.0, A, (int)lda, B, (int)ldb,
                    beta, Cm, (int)ldc);
    gids_blas_leave();
}

/* The backward's products over every row (gemm_rows): at most ROW_BLOCKS blocks of rows, each
 * of at least ROW_BLOCK_MIN rows and a multiple of 64. */
#define ROW_BLOCKS 16
#define ROW_BLOCK_MIN 512

/* gemm with A and Cm not transposed (B transposed when tb), over many rows.  With par (the
 * one-block path, where BLAS would thread the product) the rows run in blocks fixed by M alone,
 * each one single-threaded GEMM inside an active parallel region: OpenBLAS's threaded GEMMs
 * split the rows where the thread count said, and rows on either side of a split rounded
 * differently (every f64 gradient differed between 1 and 4 threads in the last bits; with
 * OpenBLAS's Haswell kernels, OPENBLAS_CORETYPE=Haswell, the f32 forward's products too).  Few,
 * tall blocks: each one packs the whole right operand again. */
static void gemm_rows(const seq *q, bool par, bool tb, int64_t M, int64_t Nc, int64_t K,
                      const void *A, int64_t lda, const void *B, int64_t ldb, double beta, void *Cm,
                      int64_t ldc) {
    if (!par) {
        gemm(q, false, tb, M, Nc, K, A, lda, B, ldb, beta, Cm, ldc);
        return;
    }
    int64_t nblk = M / ROW_BLOCK_MIN;
    nblk = nblk < 1 ? 1 : nblk > ROW_BLOCKS ? ROW_BLOCKS : nblk;
    int64_t rows = ((M + nblk - 1) / nblk + 63) / 64 * 64;
    nblk = (M + rows - 1) / rows;
    int nt = gids_get_num_threads();
    gids_team_blas_begin();
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int64_t b = 0; b < nblk; b++) {
        int64_t r0 = b * rows, m = M - r0 < rows ? M - r0 : rows;
        gemm(q, false, tb, m, Nc, K, AT(q, A, r0 * lda), lda, B, ldb, beta, AT(q, Cm, r0 * ldc),
             ldc);
    }
    gids_team_blas_end();
}

/* Output rows per block of a weight gradient's GEMM (see gemm_wgrads).  Every block's GEMM packs
 * the whole K x Nc right operand again, so few tall blocks: with 64 rows, the large GAT's JK at
 * 1024 graphs (4H = 1536, K = 115 500 rows) packed its inputs 24 times per product and the
 * backward took 4.63 s; with 384 rows (4 blocks per product, 16 in all: still one per thread on
 * 16 cores) 3.98 s (2 threads). */
#define WGRAD_ROWS 384

/* One weight gradient's product Cm[M, Nc] <- A^T B (small M x Nc, K = all rows). */
typedef struct {
    int64_t M, Nc, K, lda, ldb;
    const void *A, *B;
    void *Cm;
} wgrad_job;

/* The products of jobs, their output rows split into fixed blocks, each block one
 * single-threaded GEMM, all blocks of all products in one parallel loop.  OpenBLAS's own
 * threading splits such a product in thread-dependent pieces whose kernels round differently
 * (measured: a [32, 3000] x [3000, 16] product differs between 1 and 4 threads); fixed blocks,
 * run inside an active parallel region (where OpenBLAS stays on one thread) or with BLAS on one
 * thread, keep the result independent of the thread count. */
static void gemm_wgrads(const seq *q, const wgrad_job *jobs, int njobs) {
    int64_t first[5] = {0}; /* first block of each job */
    for (int i = 0; i < njobs; i++)
        first[i + 1] = first[i] + (jobs[i].M + WGRAD_ROWS - 1) / WGRAD_ROWS;
    int nt = gids_get_num_threads();
    gids_team_blas_begin();
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int64_t b = 0; b < first[njobs]; b++) {
        int i = 0;
        while (b >= first[i + 1]) i++;
        const wgrad_job *j = &jobs[i];
        int64_t r0 = (b - first[i]) * WGRAD_ROWS;
        int64_t m = j->M - r0 < WGRAD_ROWS ? j->M - r0 : WGRAD_ROWS;
        gemm(q, true, false, m, j->Nc, j->K, AT(q, j->A, r0), j->lda, j->B, j->ldb, 0.0,
             AT(q, j->Cm, r0 * j->Nc), j->Nc);
    }
    gids_team_blas_end();
}

/* ---------------------------------------------------------------- forward */

/* The cells of step s of both directions over rows [n0, n1): the bias added, gates activated in
 * place, h and c written.  Direction by direction, so each reads one contiguous run of rows. */
#define ROWS_FWD(TY, sfx)                                                                          \
    static void rows_fwd_##sfx(const seq *q, TY *act, TY *out, TY *c, int64_t s, int64_t n0,       \
                               int64_t n1, const TY *const rec[2], int64_t rec_rs, int64_t r0) {   \
        int64_t TT = q->T, H = q->H;                                                               \
        int64_t t[2] = {s, TT - 1 - s}, tp[2] = {s - 1, TT - s}; /* this and the previous step */  \
        for (int d = 0; d < 2; d++)                                                                \
            for (int64_t n = n0; n < n1; n++) {                                                    \
                TY *a = act + GR(q, d, t[d], n);                                                   \
                if (rec[d] != NULL) {                                                              \
                    const TY *r = rec[d] + (n - r0) * rec_rs;                                      \
                    for (int64_t k = 0; k < 4 * H; k++) a[k] += r[k];                              \
                }                                                                                  \
                fwd_row_inplace_##sfx(H, a, s > 0 ? c + SR(q, d, tp[d], n) : NULL,                 \
                                      out + OR(q, d, t[d], n), c + SR(q, d, t[d], n));             \
            }                                                                                      \
    }
ROWS_FWD(float, f32)
ROWS_FWD(double, f64)

/* rec[d]: what direction d's gates add, row n at rec[d] + (n - r0) * rec_rs (rec_rs 0: one
 * row for all, the bias of a zero-state step), or NULL. */
static void cells_forward(const seq *q, void *act, void *out, void *c, int64_t s, int64_t n0,
                          int64_t n1, bool par, const void *const rec[2], int64_t rec_rs) {
    int64_t H = q->H, nchunks = (n1 - n0 + CHUNK_ROWS - 1) / CHUNK_ROWS;
    int nt = par ? gids_threads_for((n1 - n0) * 8 * H) : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t b = 0; b < nchunks; b++) {
        int64_t r0 = n0 + b * CHUNK_ROWS, r1 = r0 + CHUNK_ROWS < n1 ? r0 + CHUNK_ROWS : n1;
        if (q->dt == GIDS_F32)
            rows_fwd_f32(q, act, out, c, s, r0, r1, (const float *const *)rec, rec_rs, n0);
        else
            rows_fwd_f64(q, act, out, c, s, r0, r1, (const double *const *)rec, rec_rs, n0);
    }
}

/* Rows [0, nb) of the [nb, 4H] buffer p (row stride ld) <- the bias b (NULL: zeros). */
static void fill_rows(const seq *q, void *p, int64_t nb, int64_t ld, const void *b) {
    size_t bytes = (size_t)(4 * q->H) * q->es;
    for (int64_t n = 0; n < nb; n++) {
        if (b != NULL)
            memcpy(AT(q, p, n * ld), b, bytes);
        else
            memset(AT(q, p, n * ld), 0, bytes);
    }
}

/* NEW: a 1-D scratch tensor of n elements of the call's dtype, from the tensor allocator (whose
 * block cache hands the same memory back every step: the large LSTMs' scratch runs to hundreds
 * of MB, which malloc would map and page-fault afresh at each call); NULL when out of memory. */
static gids_tensor *scratch_tensor(const seq *q, int64_t n) {
    gids_tensor *t = NULL;
    int64_t len = n > 0 ? n : 1;
    if (gids_empty_named(q->op, &t, q->dt, GIDS_DEVICE_CPU, 1, &len) != GIDS_OK) return NULL;
    return t;
}

/* The whole forward of rows [n0, n1), in torch's order of the terms: gates = (x W_ih^T + b_ih)
 * + (h W_hh^T + b_hh), so the rounding follows PyTorch's: the input projections with b_ih (one
 * GEMM per direction over all steps when the block is every row, else one per direction and
 * step), then step by step the recurrent products with b_hh (rec, a scratch of the block's
 * rows; b_hh alone at a direction's zero-state first step) and the cells.  *ok false: no
 * memory for rec. */
static void forward_rows(const seq *q, void *A, void *O, void *Cs, int64_t n0, int64_t n1, bool par,
                         bool *ok) {
    int64_t T = q->T, N = q->N, C = q->C, H = q->H, nb = n1 - n0;
    bool bias = q->w[2] != NULL;
    gids_tensor *rec_t = scratch_tensor(q, 2 * nb * 4 * H);
    if (rec_t == NULL) {
        *ok = false;
        return;
    }
    void *rec = gids_tensor_data(rec_t);
    for (int d = 0; d < 2; d++) {
        const void *b_ih = q->w[4 * d + 2];
        for (int64_t t = 0; t < T && bias; t++)
            fill_rows(q, AT(q, A, GR(q, d, t, n0)), nb, 4 * H, b_ih);
        if (nb == N)
            gemm_rows(q, par, true, T * N, 4 * H, C, q->x, C, q->w[4 * d], C, bias ? 1.0 : 0.0,
                      AT(q, A, GR(q, d, 0, 0)), 4 * H);
        else
            for (int64_t t = 0; t < T; t++)
                gemm(q, false, true, nb, 4 * H, C, AT(q, q->x, (t * N + n0) * C), C, q->w[4 * d], C,
                     bias ? 1.0 : 0.0, AT(q, A, GR(q, d, t, n0)), 4 * H);
    }
    for (int64_t s = 0; s < T; s++) {
        const void *add[2] = {NULL, NULL};
        int64_t rs = 0;
        if (s > 0) {
            int64_t tp[2] = {s - 1, T - s};
            for (int d = 0; d < 2; d++) {
                void *r = AT(q, rec, d * nb * 4 * H);
                if (bias) fill_rows(q, r, nb, 4 * H, q->w[4 * d + 3]);
                gemm_rows(q, par, true, nb, 4 * H, H, AT(q, O, OR(q, d, tp[d], n0)), 2 * H,
                          q->w[4 * d + 1], H, bias ? 1.0 : 0.0, r, 4 * H);
                add[d] = r;
            }
            rs = 4 * H;
        } else if (bias) {
            add[0] = q->w[3];
            add[1] = q->w[7];
        }
        cells_forward(q, A, O, Cs, s, n0, n1, par, add, rs);
    }
    gids_tensor_release(rec_t);
}

/* Runs fn over the blocks of rows: one call with par when the block is every row, else the
 * blocks split among threads. */
#define FOR_BLOCKS(q, call_rows)                                                                   \
    do {                                                                                           \
        if ((q)->ob >= (q)->N) {                                                                   \
            int64_t n0 = 0, n1 = (q)->N;                                                           \
            bool par = true;                                                                       \
            call_rows;                                                                             \
        } else {                                                                                   \
            int64_t nblk = ((q)->N + (q)->ob - 1) / (q)->ob;                                       \
            int nt = gids_threads_for((q)->T * (q)->N * 8 * (q)->H);                               \
            gids_team_blas_begin();                                                                \
            _Pragma("omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)") for (     \
                int64_t b = 0; b < nblk; b++) {                                                    \
                int64_t n0 = b * (q)->ob;                                                          \
                int64_t n1 = n0 + (q)->ob < (q)->N ? n0 + (q)->ob : (q)->N;                        \
                bool par = false;                                                                  \
                call_rows;                                                                         \
            }                                                                                      \
            gids_team_blas_end();                                                                  \
        }                                                                                          \
    } while (0)

/* No rows (N = 0: a batch of node-less graphs) or no steps: empty results on x's device, on
 * every device, without a kernel (the row blocking divided by zero; a GPU launch of 0 blocks is
 * an invalid configuration).  The weight gradients wanted are zeros. */
static gids_status forward_empty(const seq *q, const gids_tensor *x, gids_tensor **out,
                                 gids_tensor **act, gids_tensor **c) {
    int64_t as[4] = {2, q->T, q->N, 4 * q->H}, cs[4] = {2, q->T, q->N, q->H},
            os[3] = {q->T, q->N, 2 * q->H};
    gids_device dev = gids_tensor_device(x);
    gids_status st = gids_empty_named(q->op, act, q->dt, dev, 4, as);
    if (st == GIDS_OK) st = gids_empty_named(q->op, out, q->dt, dev, 3, os);
    if (st == GIDS_OK) st = gids_empty_named(q->op, c, q->dt, dev, 4, cs);
    if (st != GIDS_OK) {
        gids_tensor_release(*act), gids_tensor_release(*out), gids_tensor_release(*c);
        *out = *act = *c = NULL;
    }
    return st;
}

static gids_status backward_empty(const seq *q, const gids_tensor *x, const gids_tensor *const w[8],
                                  const bool want_w[8], gids_tensor **g_x, gids_tensor *g_w[8]) {
    int64_t xs[3] = {q->T, q->N, q->C};
    gids_device dev = gids_tensor_device(x);
    gids_status st = GIDS_OK;
    if (g_x != NULL) st = gids_empty_named(q->op, g_x, q->dt, dev, 3, xs);
    for (int k = 0; k < 8 && st == GIDS_OK; k++) {
        if (!want_w[k]) continue;
        /* (the backward is handed no bias, which it never reads: [4H]) */
        int64_t shape[2] = {4 * q->H, k % 4 == 1 ? q->H : q->C};
        st = gids_zeros(&g_w[k], q->dt, dev, k % 4 < 2 ? 2 : 1, shape);
    }
    if (st != GIDS_OK) {
        if (g_x != NULL) gids_tensor_release(*g_x), *g_x = NULL;
        for (int k = 0; k < 8; k++) gids_tensor_release(g_w[k]), g_w[k] = NULL;
    }
    return st;
}

gids_status gids_bilstm(gids_tensor **out, gids_tensor **act, gids_tensor **c, const gids_tensor *x,
                        const gids_tensor *const w[8]) {
    GIDS_CHECK(out != NULL && act != NULL && c != NULL, GIDS_EINVAL,
               "bilstm: out, act and c must not be NULL");
    *out = *act = *c = NULL;
    seq q = {.op = "bilstm"};
    GIDS_TRY(check_seq(&q, x, w, true));
    if (q.T * q.N == 0) return forward_empty(&q, x, out, act, c);
    GIDS_ON_DEVICE("bilstm", bilstm, x, w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7])
    (out, act, c, x, w);
    GIDS_TRY(prepare(&q, x, w, true));
    int64_t T = q.T, N = q.N, H = q.H;
    int64_t as[4] = {2, T, N, 4 * H}, cs[4] = {2, T, N, H}, os[3] = {T, N, 2 * H};
    gids_device dev = gids_tensor_device(x);
    gids_status st = gids_empty_named(q.op, act, q.dt, dev, 4, as);
    if (st == GIDS_OK) st = gids_empty_named(q.op, out, q.dt, dev, 3, os);
    if (st == GIDS_OK) st = gids_empty_named(q.op, c, q.dt, dev, 4, cs);
    if (st != GIDS_OK) {
        seq_release(&q);
        gids_tensor_release(*act);
        gids_tensor_release(*out);
        gids_tensor_release(*c);
        *out = *act = *c = NULL;
        return st;
    }
    void *A = gids_tensor_data(*act), *O = gids_tensor_data(*out), *Cs = gids_tensor_data(*c);
    bool ok = true;
    FOR_BLOCKS(&q, forward_rows(&q, A, O, Cs, n0, n1, par, &ok));
    seq_release(&q);
    if (!ok) {
        gids_tensor_release(*act);
        gids_tensor_release(*out);
        gids_tensor_release(*c);
        *out = *act = *c = NULL;
        GIDS_FAIL(GIDS_ENOMEM, "bilstm: cannot allocate the recurrent products' scratch");
    }
    return GIDS_OK;
}

/* ---------------------------------------------------------------- backward */

/* The backward's buffers: dh [N, 2H] (gradient reaching a step's h), dc [2][N, 2H] (gradient of
 * c from the later step, to the earlier one: they swap each step), one zero row [H] standing
 * for an absent operand (only read), and the bias gradient's partial sums [chunks, 8H] (NULL
 * when no bias gradient is wanted).  Blocks touch only their own rows. */
typedef struct {
    void *dh, *dc[2], *zero, *bpart;
    int64_t nchunks;
    void *block;
} scratch;

/* The cells' backward of step s over rows [n0, n1) (one chunk), both directions: dG rows of the
 * step, the c gradient for the earlier step, and the chunk's bias partial sums. */
#define ROWS_BWD(TY, sfx)                                                                          \
    static void rows_bwd_##sfx(const seq *q, const scratch *w, int cur, const TY *act,             \
                               const TY *c, TY *dG, int64_t s, int64_t n0, int64_t n1,             \
                               TY *bpart) {                                                        \
        int64_t TT = q->T, H = q->H;                                                               \
        int64_t t[2] = {s, TT - 1 - s}, tp[2] = {s - 1, TT - s};                                   \
        bool later = s<TT - 1, earlier = s> 0;                                                     \
        const TY *zero = (const TY *)w->zero, *dc_in = (const TY *)w->dc[cur];                     \
        TY *dc_out = (TY *)w->dc[1 - cur];                                                         \
        for (int d = 0; d < 2; d++)                                                                \
            for (int64_t n = n0; n < n1; n++) {                                                    \
                int64_t st = n * 2 * H + d * H; /* scratch rows */                                 \
                int64_t g = GR(q, d, t[d], n);                                                     \
                const TY *gh = (const TY *)w->dh + st, *gc = later ? dc_in + st : zero;            \
                const TY *cp = earlier ? c + SR(q, d, tp[d], n) : zero,                            \
                         *cn = c + SR(q, d, t[d], n);                                              \
                if (act == dG) /* the gate gradients overwrite the gates */                        \
                    bwd_row_inplace_##sfx(H, gh, gc, dG + g, cp, cn, dc_out + st);                 \
                else                                                                               \
                    bwd_row_##sfx(H, gh, gc, act + g, cp, cn, dG + g, dc_out + st);                \
                if (bpart != NULL)                                                                 \
                    for (int64_t k = 0; k < 4 * H; k++) bpart[d * 4 * H + k] += dG[g + k];         \
            }                                                                                      \
    }
ROWS_BWD(float, f32)
ROWS_BWD(double, f64)

static void cells_backward(const seq *q, const scratch *w, int cur, const void *act, const void *c,
                           void *dG, int64_t s, int64_t n0, int64_t n1, bool par) {
    int64_t H = q->H, c0 = n0 / CHUNK_ROWS, c1 = (n1 + CHUNK_ROWS - 1) / CHUNK_ROWS;
    int nt = par ? gids_threads_for((n1 - n0) * 8 * H) : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t b = c0; b < c1; b++) {
        int64_t r0 = b * CHUNK_ROWS, r1 = r0 + CHUNK_ROWS < n1 ? r0 + CHUNK_ROWS : n1;
        void *bp = w->bpart != NULL ? AT(q, w->bpart, b * 8 * H) : NULL;
        if (q->dt == GIDS_F32)
            rows_bwd_f32(q, w, cur, act, c, dG, s, r0, r1, bp);
        else
            rows_bwd_f64(q, w, cur, act, c, dG, s, r0, r1, bp);
    }
}

/* dh rows [n0, n1) <- g_out rows of step s (zeros without g_out) + the recurrent gradient of
 * the later step of each direction (dG_later W_hh). */
static void step_dh(const seq *q, const scratch *w, const void *g_out, const void *dG, int64_t s,
                    int64_t n0, int64_t n1, bool par) {
    int64_t T = q->T, H = q->H, nb = n1 - n0;
    int64_t tf = s, tr = T - 1 - s;
    bool later = s < T - 1;
    double beta = 1.0;
    void *dh = AT(q, w->dh, n0 * 2 * H);
    if (g_out != NULL) {
        size_t bytes = (size_t)H * q->es;
        for (int64_t n = n0; n < n1; n++) {
            memcpy(AT(q, w->dh, n * 2 * H), AT(q, g_out, OR(q, 0, tf, n)), bytes);
            memcpy(AT(q, w->dh, n * 2 * H + H), AT(q, g_out, OR(q, 1, tr, n)), bytes);
        }
    } else if (later) {
        beta = 0.0;
    } else {
        memset(dh, 0, (size_t)(nb * 2 * H) * q->es);
    }
    if (!later) return;
    gemm_rows(q, par, false, nb, H, 4 * H, AT(q, dG, GR(q, 0, tf + 1, n0)), 4 * H, q->w[1], H, beta,
              dh, 2 * H);
    gemm_rows(q, par, false, nb, H, 4 * H, AT(q, dG, GR(q, 1, tr - 1, n0)), 4 * H, q->w[5], H, beta,
              AT(q, dh, H), 2 * H);
}

/* The backward of rows [n0, n1): the steps in reverse (dG, the c gradients, the bias partial
 * sums), then their input gradient g_x = dG w_ih + dG_r w_ih_r (NULL: not wanted). */
static void backward_rows(const seq *q, const scratch *w, const void *g_out, const void *act,
                          const void *c, void *dG, void *gx, int64_t n0, int64_t n1, bool par) {
    int64_t T = q->T, N = q->N, C = q->C, H = q->H, nb = n1 - n0;
    int cur = 0;
    for (int64_t s = T - 1; s >= 0; s--) {
        step_dh(q, w, g_out, dG, s, n0, n1, par);
        cells_backward(q, w, cur, act, c, dG, s, n0, n1, par);
        cur = 1 - cur;
    }
    if (gx == NULL) return;
    for (int d = 0; d < 2; d++) {
        if (nb == N)
            gemm_rows(q, par, false, T * N, C, 4 * H, AT(q, dG, GR(q, d, 0, 0)), 4 * H, q->w[4 * d],
                      C, d == 0 ? 0.0 : 1.0, gx, C);
        else
            for (int64_t t = 0; t < T; t++)
                gemm(q, false, false, nb, C, 4 * H, AT(q, dG, GR(q, d, t, n0)), 4 * H, q->w[4 * d],
                     C, d == 0 ? 0.0 : 1.0, AT(q, gx, (t * N + n0) * C), C);
    }
}

/* NEW [4H]: direction d's bias gradient, the chunks' partial sums added in chunk order. */
static gids_status bias_grad(const seq *q, const scratch *w, int d, gids_tensor **out) {
    int64_t H4 = 4 * q->H;
    GIDS_TRY(gids_zeros_named(q->op, out, q->dt, GIDS_DEVICE_CPU, 1, &H4));
    void *o = gids_tensor_data(*out);
    for (int64_t b = 0; b < w->nchunks; b++)
        for (int64_t k = 0; k < H4; k++) {
            int64_t i = b * 2 * H4 + d * H4 + k;
            if (q->dt == GIDS_F32)
                ((float *)o)[k] += ((const float *)w->bpart)[i];
            else
                ((double *)o)[k] += ((const double *)w->bpart)[i];
        }
    return GIDS_OK;
}

/* The weight gradients from the gate gradients dG: one product each over all rows. */
static gids_status weight_grads(const seq *q, const scratch *w, const void *G, const void *O,
                                gids_tensor *g_w[8], const bool want_w[8]) {
    int64_t T = q->T, N = q->N, C = q->C, H = q->H;
    wgrad_job jobs[4];
    int n = 0;
    for (int d = 0; d < 2; d++) {
        if (want_w[4 * d]) {
            int64_t s[2] = {4 * H, C};
            GIDS_TRY(gids_empty_named(q->op, &g_w[4 * d], q->dt, GIDS_DEVICE_CPU, 2, s));
            jobs[n++] = (wgrad_job){4 * H, C,
                                    T * N, 4 * H,
                                    C,     AT(q, G, GR(q, d, 0, 0)),
                                    q->x,  gids_tensor_data(g_w[4 * d])};
        }
        if (want_w[4 * d + 1]) {
            /* the steps with a previous state: dG rows of steps 1..T-1 (forward) or 0..T-2
             * (reverse) against h of steps 0..T-2 or 1..T-1 */
            int64_t s[2] = {4 * H, H};
            GIDS_TRY(gids_empty_named(q->op, &g_w[4 * d + 1], q->dt, GIDS_DEVICE_CPU, 2, s));
            jobs[n++] = (wgrad_job){4 * H,
                                    H,
                                    (T - 1) * N,
                                    4 * H,
                                    2 * H,
                                    AT(q, G, GR(q, d, d == 0 ? 1 : 0, 0)),
                                    AT(q, O, OR(q, d, d == 0 ? 0 : 1, 0)),
                                    gids_tensor_data(g_w[4 * d + 1])};
        }
        /* b_ih and b_hh enter the gates as one sum: the same gradient */
        for (int k = 2; k < 4; k++)
            if (want_w[4 * d + k]) GIDS_TRY(bias_grad(q, w, d, &g_w[4 * d + k]));
    }
    gemm_wgrads(q, jobs, n);
    return GIDS_OK;
}

/* The backward; with consume, the gate gradients are written over act's elements (or over the
 * contiguous copy take() made of them) instead of a new buffer of their size. */
static gids_status backward_(gids_tensor **g_x, gids_tensor *g_w[8], const bool want_w[8],
                             const gids_tensor *g_out, const gids_tensor *x,
                             const gids_tensor *const w[8], const gids_tensor *out,
                             gids_tensor *act, const gids_tensor *c, bool consume) {
    GIDS_CHECK(g_w != NULL && want_w != NULL, GIDS_EINVAL,
               "bilstm_backward: g_w and want_w must not be NULL");
    if (g_x != NULL) *g_x = NULL;
    for (int k = 0; k < 8; k++) g_w[k] = NULL;
    seq q = {.op = "bilstm_backward"};
    GIDS_TRY(check_seq(&q, x, w, false));
    GIDS_TRY(check_saved(&q, g_out, out, act, c));
    if (q.T * q.N == 0) return backward_empty(&q, x, w, want_w, g_x, g_w);
    if (consume) gids_tensor_bump_version(act); /* its gates are about to go */
    GIDS_ON_DEVICE("bilstm_backward", bilstm_backward, x, w[0], w[1], w[2], w[3], w[4], w[5], w[6],
                   w[7], g_out, out, act, c)
    (g_x, g_w, want_w, g_out, x, w, out, act, c, consume);
    GIDS_TRY(prepare(&q, x, w, false));
    int64_t T = q.T, N = q.N, C = q.C, H = q.H;
    int64_t as[4] = {2, T, N, 4 * H}, xs[3] = {T, N, C};
    const void *A = NULL, *O = NULL, *Cs = NULL, *GO = NULL;
    gids_status st = take(&q, act, &A);
    if (st == GIDS_OK) st = take(&q, out, &O);
    if (st == GIDS_OK) st = take(&q, c, &Cs);
    if (st == GIDS_OK && g_out != NULL) st = take(&q, g_out, &GO);
    gids_tensor *dG = NULL;
    if (st == GIDS_OK && !consume) st = gids_empty_named(q.op, &dG, q.dt, GIDS_DEVICE_CPU, 4, as);
    if (st == GIDS_OK && g_x != NULL)
        st = gids_empty_named(q.op, g_x, q.dt, GIDS_DEVICE_CPU, 3, xs);
    bool want_b = want_w[2] || want_w[3] || want_w[6] || want_w[7];
    scratch sc = {.nchunks = (N + CHUNK_ROWS - 1) / CHUNK_ROWS};
    gids_tensor *block = NULL;
    if (st == GIDS_OK) {
        /* dh and the dc pair are written before they are read; the zero row and the bias
         * partial sums start at zero */
        int64_t n = 3 * N * 2 * H + H + (want_b ? sc.nchunks * 8 * H : 0);
        block = scratch_tensor(&q, n);
        if (block == NULL) st = GIDS_ENOMEM;
    }
    if (st == GIDS_OK) {
        sc.block = gids_tensor_data(block);
        memset(AT(&q, sc.block, 3 * N * 2 * H), 0,
               (size_t)(H + (want_b ? sc.nchunks * 8 * H : 0)) * q.es);
        sc.dh = sc.block;
        sc.dc[0] = AT(&q, sc.block, N * 2 * H);
        sc.dc[1] = AT(&q, sc.block, 2 * N * 2 * H);
        sc.zero = AT(&q, sc.block, 3 * N * 2 * H);
        sc.bpart = want_b ? AT(&q, sc.block, 3 * N * 2 * H + H) : NULL;
    }
    if (st == GIDS_OK) {
        void *G = consume ? (void *)A : gids_tensor_data(dG);
        void *gx = g_x != NULL ? gids_tensor_data(*g_x) : NULL;
        FOR_BLOCKS(&q, backward_rows(&q, &sc, GO, A, Cs, G, gx, n0, n1, par));
        st = weight_grads(&q, &sc, G, O, g_w, want_w);
    }
    gids_tensor_release(block);
    gids_tensor_release(dG);
    seq_release(&q);
    if (st != GIDS_OK) {
        if (g_x != NULL) {
            gids_tensor_release(*g_x);
            *g_x = NULL;
        }
        for (int k = 0; k < 8; k++) {
            gids_tensor_release(g_w[k]);
            g_w[k] = NULL;
        }
    }
    return st;
}

gids_status gids_bilstm_backward(gids_tensor **g_x, gids_tensor *g_w[8], const bool want_w[8],
                                 const gids_tensor *g_out, const gids_tensor *x,
                                 const gids_tensor *const w[8], const gids_tensor *out,
                                 const gids_tensor *act, const gids_tensor *c) {
    /* act is only read when not consumed */
    return backward_(g_x, g_w, want_w, g_out, x, w, out, (gids_tensor *)act, c, false);
}

gids_status gids_bilstm_backward_consume(gids_tensor **g_x, gids_tensor *g_w[8],
                                         const bool want_w[8], const gids_tensor *g_out,
                                         const gids_tensor *x, const gids_tensor *const w[8],
                                         const gids_tensor *out, gids_tensor *act,
                                         const gids_tensor *c) {
    /* the gate gradients go over act's memory: no operand still to be read may share it */
    const gids_tensor *ops[12] = {g_out, x, out, c};
    for (int k = 0; w != NULL && k < 8; k++) ops[4 + k] = w[k];
    static const char *const names[12] = {"g_out", "x",    "out",    "c",      "w_ih",   "w_hh",
                                          "b_ih",  "b_hh", "w_ih_r", "w_hh_r", "b_ih_r", "b_hh_r"};
    for (int k = 0; act != NULL && k < 12; k++)
        GIDS_CHECK(ops[k] == NULL || ops[k]->storage != act->storage, GIDS_EINVAL,
                   "bilstm_backward_consume: act shares its memory with %s, which the gate "
                   "gradients written over act would overwrite",
                   names[k]);
    return backward_(g_x, g_w, want_w, g_out, x, w, out, act, c, true);
}
