/* bilstm.cu -- the bidirectional sequence LSTM (gids/rnn.h: gids_bilstm) on CUDA tensors, in the
 * CPU's layout (runtime/src/cpu/bilstm.c):
 *   act [2, T, N, 4H]  each direction's gates, activated in place by the cells (and, in the
 *                      backward, their gradients dG, in place when consumed)
 *   c [2, T, N, H]     each direction's cell states
 *   out [T, N, 2H]     the forward direction's h in columns 0:H, the reverse's in H:2H
 * Step s runs the forward direction at t = s and the reverse at t = T-1-s.
 *
 * Why one op instead of nn.LSTM's per-step ops (the large GAT's jumping knowledge at 1024 graphs
 * on an H100, TF32): the per-step ops stacked each direction's outputs and concatenated the two
 * (five copies of [T, N, H..2H]), summed the input gradients of the two directions and of each
 * step's two products in separate kernels (six passes over [N, 2H]), and ran the weight
 * gradients as one product per step.  Here:
 *   - one input-projection GEMM per direction over all T * N rows, the recurrent products
 *     accumulated into the gate rows by the GEMM itself (beta = 1), h written by the cell
 *     straight into its half of out (no copies);
 *   - in the backward, one cell launch per step for both directions that reads g_out and the
 *     recurrent gradient in place, the input gradient as two GEMMs over all rows (the second
 *     accumulating), the weight gradients one GEMM each over all steps, and the bias gradient
 *     summed by the cells as they write dG (a separate column sum re-read the [2, T, N, 4H]
 *     gradients: 0.57 ms of the large GAT's step at 1024 graphs).
 * The gates add their biases in the cell (b_ih + b_hh on top of x W_ih^T + h W_hh^T), so the
 * rounding differs from the CPU's (x W_ih^T + b_ih) + (h W_hh^T + b_hh) in the last bits.
 * Every element of a cell is computed by one thread, the bias partials are fixed by the shapes
 * and every GEMM is cuBLAS's deterministic one, so results repeat exactly from run to run.
 * Under autocast (gids_tf32_products, set by gids_ag_bilstm for both passes) the f32 GEMMs run
 * in TF32: the op has no half kernel, and TF32 keeps more mantissa than the bf16 autocast
 * gives the other products.  With GEMM tuning on (gids/gemm_tuning.h) the f32 GEMMs go through
 * cuBLASLt with the algorithm timed fastest for each shape (gemm_lt.cu).
 */

#include "gids/amp.h"

#include "cuda_impl.h"

namespace {

/* The gate functions.  f32 uses the hardware exponential and a fast division (sigmoid within a
 * few 1e-7 relative for gates in the usual range, tanh(x) = 2 sigmoid(2x) - 1 within about 1e-7
 * absolute): with libm's expf, IEEE division and tanhf the forward cells were bound by their
 * arithmetic (0.67 ms a step on an H100 and on an H200 alike, where the backward, with more
 * bytes and one tanhf, took 0.49 ms on the H200).  The CPU's f32 functions are approximations
 * too (within 2e-7); f64 stays libm's. */
template <typename T> __device__ __forceinline__ T sig(T x);
template <> __device__ __forceinline__ float sig<float>(float x) {
    return __fdividef(1.0f, 1.0f + __expf(-x));
}
template <> __device__ __forceinline__ double sig<double>(double x) {
    return 1.0 / (1.0 + exp(-x));
}
template <typename T> __device__ __forceinline__ T th(T x);
template <> __device__ __forceinline__ float th<float>(float x) {
    return 2.0f * sig<float>(2.0f * x) - 1.0f;
}
template <> __device__ __forceinline__ double th<double>(double x) {
    return tanh(x);
}

/* Shapes a cell launch needs, by value. */
struct dims {
    int64_t T, N, H;
};

/* The cell kernels' geometry: blockIdx.y is the direction, blockIdx.x one of gridDim.x sets of
 * rows (nodes n = blockIdx.x, blockIdx.x + gridDim.x, ...), and a block's threads walk the
 * columns k, so each row's gate blocks are read coalesced and no index is divided.  The
 * backward's bias partials are per (direction, row set, column): fixed by the shapes, so the
 * bias gradient is the same on every run. */
#define CELL_THREADS 128

/* The cells of step s: gates (in act, with the recurrent product already added) plus the biases
 * (b_ih + b_hh of the direction, NULL: none), activated in place; c and h (into out) written. */
template <typename T>
__global__ void cells_fwd(T *act, T *out, T *c, const T *b_ih0, const T *b_hh0, const T *b_ih1,
                          const T *b_hh1, int64_t s, dims z) {
    const int d = blockIdx.y;
    const int64_t H = z.H, t = d == 0 ? s : z.T - 1 - s, tp = d == 0 ? s - 1 : z.T - s;
    const T *bi = d == 0 ? b_ih0 : b_ih1, *bh = d == 0 ? b_hh0 : b_hh1;
    for (int64_t k = threadIdx.x; k < H; k += blockDim.x) {
        T b[4] = {0, 0, 0, 0};
        if (bi != nullptr)
            for (int q = 0; q < 4; q++) b[q] = bi[q * H + k] + bh[q * H + k];
        for (int64_t n = blockIdx.x; n < z.N; n += gridDim.x) {
            const int64_t row = (d * z.T + t) * z.N + n;
            T *a = act + row * 4 * H;
            const T iv = sig<T>(a[k] + b[0]), fv = sig<T>(a[H + k] + b[1]);
            const T gv = th<T>(a[2 * H + k] + b[2]), ov = sig<T>(a[3 * H + k] + b[3]);
            a[k] = iv;
            a[H + k] = fv;
            a[2 * H + k] = gv;
            a[3 * H + k] = ov;
            const T cv = s > 0 ? fv * c[((d * z.T + tp) * z.N + n) * H + k] + iv * gv : iv * gv;
            c[row * H + k] = cv;
            out[(t * z.N + n) * 2 * H + d * H + k] = ov * th<T>(cv);
        }
    }
}

/* The cells' backward of step s.  The gradient reaching h is g_out's (NULL: none) plus, below
 * the last step, the recurrent one in dh [N, 2H]; dc_in [N, 2H] holds the c gradient from the
 * later step (read below the last step), dc_out receives the earlier step's.  The gate
 * gradients go to dG (which may be act itself: each thread reads its four gates before writing
 * their gradients); with part (NULL: no bias gradient wanted) their column sums over this
 * block's rows are added to part[d][blockIdx.x][4H]. */
template <typename T>
__global__ void cells_bwd(T *dG, T *dc_out, T *part, const T *act, const T *c, const T *g_out,
                          const T *dh, const T *dc_in, int64_t s, dims z) {
    const int d = blockIdx.y;
    const int64_t H = z.H, t = d == 0 ? s : z.T - 1 - s, tp = d == 0 ? s - 1 : z.T - s;
    const bool later = s < z.T - 1;
    const bool earlier = s > 0;
    for (int64_t k = threadIdx.x; k < H; k += blockDim.x) {
        T acc[4] = {0, 0, 0, 0};
        for (int64_t n = blockIdx.x; n < z.N; n += gridDim.x) {
            const int64_t row = (d * z.T + t) * z.N + n, sc = n * 2 * H + d * H + k;
            const T *a = act + row * 4 * H;
            T *g = dG + row * 4 * H;
            const T iv = a[k], fv = a[H + k], gv = a[2 * H + k], ov = a[3 * H + k];
            T gh = g_out != nullptr ? g_out[(t * z.N + n) * 2 * H + d * H + k] : (T)0;
            if (later) gh += dh[sc];
            const T gc = later ? dc_in[sc] : (T)0;
            const T cp = earlier ? c[((d * z.T + tp) * z.N + n) * H + k] : (T)0;
            const T tc = th<T>(c[row * H + k]);
            const T dc = gc + gh * ov * ((T)1 - tc * tc);
            const T gi = dc * gv * iv * ((T)1 - iv), gf = dc * cp * fv * ((T)1 - fv);
            const T gg = dc * iv * ((T)1 - gv * gv), go = gh * tc * ov * ((T)1 - ov);
            g[k] = gi;
            g[H + k] = gf;
            g[2 * H + k] = gg;
            g[3 * H + k] = go;
            dc_out[sc] = dc * fv;
            acc[0] += gi;
            acc[1] += gf;
            acc[2] += gg;
            acc[3] += go;
        }
        if (part != nullptr) {
            T *p = part + ((int64_t)d * gridDim.x + blockIdx.x) * 4 * H;
            for (int q = 0; q < 4; q++) p[q * H + k] += acc[q];
        }
    }
}

/* The operands of one call.  gids_bilstm and gids_bilstm_backward (runtime/src/cpu/bilstm.c)
 * check every dtype, shape and NULL before handing the call here, and the dispatch that every
 * tensor is on this device: what is left is their contiguous data. */
struct seq {
    const char *op;
    gids_dtype dt;
    gids_device dev;
    size_t es;
    int64_t T, N, C, H;
    const void *x;
    const void *w[8]; /* biases NULL when absent or not read */
    gc_ref held[16];
    int nheld = 0;
    cublasHandle_t blas = nullptr;
    bool tf32 = false; /* f32 GEMMs in TF32: gids_tf32_products (autocast, gids/amp.h) */
};

/* *data: t's elements, contiguous (a copy held by q when t is strided); *held (when not NULL)
 * the contiguous tensor. */
gids_status take(seq *q, const gids_tensor *t, const void **data, gids_tensor **held = nullptr) {
    gc_ref &r = q->held[q->nheld++];
    GIDS_TRY(gc_contiguous_as(q->op, &r.t, t, q->dt));
    *data = gids_tensor_data(r.t);
    if (held != nullptr) *held = r.t;
    return GIDS_OK;
}

gids_status prepare(seq *q, const gids_tensor *x, const gids_tensor *const w[8], bool biases) {
    GIDS_TRY(gc_use_device(q->op, x));
    q->dt = x->dtype;
    q->dev = gc_dev(x);
    q->es = gids_dtype_size(x->dtype);
    q->T = x->shape[0];
    q->N = x->shape[1];
    q->C = x->shape[2];
    q->H = w[0]->shape[0] / 4;
    /* cuBLAS takes int sizes and leading dimensions: T * N rows (the input products, the input
     * gradient, the weight gradients' inner size), C, and 8 * H (both directions' gates) must
     * fit, as the CPU path checks; a wrapped size would compute part of a product silently. */
    int64_t rows = 0;
    char sh[96];
    GIDS_CHECK(!__builtin_mul_overflow(q->T, q->N, &rows) && rows <= INT_MAX && q->C <= INT_MAX &&
                   q->H <= INT_MAX / 8,
               GIDS_EOVERFLOW, "%s: x %s or hidden %lld too large for cuBLAS (int sizes)", q->op,
               gids_shape_str(x->ndim, x->shape, sh, sizeof sh), (long long)q->H);
    GIDS_TRY(take(q, x, &q->x));
    bool has_b = w[2] != nullptr;
    for (int k = 0; k < 8; k++) {
        q->w[k] = nullptr;
        if (k % 4 >= 2 && !(biases && has_b)) continue;
        GIDS_TRY(take(q, w[k], &q->w[k]));
    }
    q->tf32 = q->dt == GIDS_F32 && gids_tf32_products();
    return gc_cublas_handle(q->op, q->dev.index, &q->blas);
}

/* Element `off` of the buffer p. */
inline void *at(const seq *q, const void *p, int64_t off) {
    return (char *)p + off * (int64_t)q->es;
}
/* Element offsets of (direction d, step t, node n) in act / dG and in c. */
inline int64_t GR(const seq *q, int d, int64_t t, int64_t n) {
    return ((d * q->T + t) * q->N + n) * 4 * q->H;
}

/* Cm[M, Nc] (row stride ldc) <- op(A) op(B) + beta Cm, every operand row-major (op transposes
 * when ta / tb).  cuBLAS is column-major: Cm^T = op(B)^T op(A)^T, a row-major matrix's memory
 * being its transpose's.  K = 0 with beta 0 zeroes Cm. */
gids_status gemm(const seq *q, bool ta, bool tb, int64_t M, int64_t Nc, int64_t K, const void *A,
                 int64_t lda, const void *B, int64_t ldb, double beta, void *Cm, int64_t ldc) {
    if (M == 0 || Nc == 0) return GIDS_OK;
    if (K == 0) {
        if (beta == 0.0)
            GC_CUDA(q->op, cudaMemset2DAsync(Cm, (size_t)ldc * q->es, 0, (size_t)Nc * q->es,
                                             (size_t)M, gc_stream()));
        return GIDS_OK;
    }
    cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (q->dt == GIDS_F32 && gids_gemm_tuning()) { /* the algorithm timed fastest (gemm_lt.cu) */
        gc_gemm g = {ob,       oa, (int)Nc,  (int)M,  (int)K,      B,
                     (int)ldb, A,  (int)lda, 1.0f,    (float)beta, Cm,
                     (int)ldc, Cm, (int)ldc, nullptr, q->tf32};
        bool done = false;
        GIDS_TRY(gc_gemm_lt(q->op, q->dev.index, &g, &done));
        if (done) return GIDS_OK;
    }
    if (q->dt == GIDS_F32 && q->tf32) {
        /* under autocast (the op has no half kernel): TF32 for this call whatever the handle's
         * math mode (GRAPHIDS_ALLOW_TF32), without touching the shared handle */
        float one = 1.0f, be = (float)beta;
        GC_CUBLAS(q->op, cublasGemmEx(q->blas, ob, oa, (int)Nc, (int)M, (int)K, &one, B, CUDA_R_32F,
                                      (int)ldb, A, CUDA_R_32F, (int)lda, &be, Cm, CUDA_R_32F,
                                      (int)ldc, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
    } else if (q->dt == GIDS_F32) {
        float one = 1.0f, be = (float)beta;
        GC_CUBLAS(q->op,
                  cublasSgemm(q->blas, ob, oa, (int)Nc, (int)M, (int)K, &one, (const float *)B,
                              (int)ldb, (const float *)A, (int)lda, &be, (float *)Cm, (int)ldc));
    } else {
        double one = 1.0;
        GC_CUBLAS(q->op, cublasDgemm(q->blas, ob, oa, (int)Nc, (int)M, (int)K, &one,
                                     (const double *)B, (int)ldb, (const double *)A, (int)lda,
                                     &beta, (double *)Cm, (int)ldc));
    }
    if (gc_sync_each_op) GC_CUDA(q->op, gc_sync_current());
    return GIDS_OK;
}

/* A new contiguous tensor of the call's dtype and device. */
gids_status make(const seq *q, gids_tensor **out, int ndim, const int64_t *shape) {
    return gids_empty(out, q->dt, q->dev, ndim, shape);
}

/* Row sets per direction of a cell launch (see CELL_THREADS). */
unsigned cell_sets(const seq *q) {
    int64_t b = q->N < (int64_t)gc_grid_cap ? q->N : (int64_t)gc_grid_cap;
    return (unsigned)(b > 0 ? b : 1);
}

gids_status launch_fwd(const seq *q, void *A, void *O, void *Cs, int64_t s) {
    dims z = {q->T, q->N, q->H};
    dim3 grid(cell_sets(q), 2);
    if (q->dt == GIDS_F32) {
        const float *const *b = (const float *const *)q->w;
        cells_fwd<float><<<grid, CELL_THREADS, 0, gc_stream()>>>(
            (float *)A, (float *)O, (float *)Cs, b[2], b[3], b[6], b[7], s, z);
    } else {
        const double *const *b = (const double *const *)q->w;
        cells_fwd<double><<<grid, CELL_THREADS, 0, gc_stream()>>>(
            (double *)A, (double *)O, (double *)Cs, b[2], b[3], b[6], b[7], s, z);
    }
    GC_LAUNCHED(q->op);
    return GIDS_OK;
}

gids_status forward(const seq *q, void *A, void *O, void *Cs) {
    int64_t T = q->T, N = q->N, C = q->C, H = q->H;
    /* the input projections of every step: [T * N, C] x W_ih^T -> act[d] */
    for (int d = 0; d < 2; d++)
        GIDS_TRY(gemm(q, false, true, T * N, 4 * H, C, q->x, C, q->w[4 * d], C, 0.0,
                      at(q, A, GR(q, d, 0, 0)), 4 * H));
    for (int64_t s = 0; s < T; s++) {
        if (s > 0) {
            /* + h_prev W_hh^T, h_prev read in place from its half of out (row stride 2H) */
            int64_t tp[2] = {s - 1, T - s}, t[2] = {s, T - 1 - s};
            for (int d = 0; d < 2; d++)
                GIDS_TRY(gemm(q, false, true, N, 4 * H, H, at(q, O, (tp[d] * N) * 2 * H + d * H),
                              2 * H, q->w[4 * d + 1], H, 1.0, at(q, A, GR(q, d, t[d], 0)), 4 * H));
        }
        GIDS_TRY(launch_fwd(q, A, O, Cs, s));
    }
    return GIDS_OK;
}

gids_status launch_bwd(const seq *q, void *G, void *dc_out, void *part, const void *A,
                       const void *Cs, const void *GO, const void *dh, const void *dc_in,
                       int64_t s) {
    dims z = {q->T, q->N, q->H};
    dim3 grid(cell_sets(q), 2);
    if (q->dt == GIDS_F32)
        cells_bwd<float><<<grid, CELL_THREADS, 0, gc_stream()>>>(
            (float *)G, (float *)dc_out, (float *)part, (const float *)A, (const float *)Cs,
            (const float *)GO, (const float *)dh, (const float *)dc_in, s, z);
    else
        cells_bwd<double><<<grid, CELL_THREADS, 0, gc_stream()>>>(
            (double *)G, (double *)dc_out, (double *)part, (const double *)A, (const double *)Cs,
            (const double *)GO, (const double *)dh, (const double *)dc_in, s, z);
    GC_LAUNCHED(q->op);
    return GIDS_OK;
}

/* NEW [4H]: direction d's bias gradient, the sum of its row sets' partials (part [2, B, 4H]). */
gids_status bias_grad(gids_tensor *part, int d, gids_tensor **out) {
    gc_ref sel;
    GIDS_TRY(gids_select(&sel.t, part, 0, d));
    int dim0 = 0;
    return gc_reduce(out, GIDS_SUM, sel.t, 1, &dim0, false);
}

} // namespace

gids_status gc_bilstm(gids_tensor **out, gids_tensor **act, gids_tensor **c, const gids_tensor *x,
                      const gids_tensor *const w[8]) {
    GIDS_CHECK(out != nullptr && act != nullptr && c != nullptr, GIDS_EINVAL,
               "bilstm: out, act and c must not be NULL");
    *out = *act = *c = nullptr;
    seq q;
    q.op = "bilstm";
    GIDS_TRY(prepare(&q, x, w, true));
    int64_t T = q.T, N = q.N, H = q.H;
    int64_t as[4] = {2, T, N, 4 * H}, cs[4] = {2, T, N, H}, os[3] = {T, N, 2 * H};
    gc_ref A, O, Cs;
    GIDS_TRY(make(&q, &A.t, 4, as));
    GIDS_TRY(make(&q, &O.t, 3, os));
    GIDS_TRY(make(&q, &Cs.t, 4, cs));
    if (N > 0 && H > 0)
        GIDS_TRY(forward(&q, gids_tensor_data(A.t), gids_tensor_data(O.t), gids_tensor_data(Cs.t)));
    *out = O.take();
    *act = A.take();
    *c = Cs.take();
    return GIDS_OK;
}

gids_status gc_bilstm_backward(gids_tensor **g_x, gids_tensor *g_w[8], const bool want_w[8],
                               const gids_tensor *g_out, const gids_tensor *x,
                               const gids_tensor *const w[8], const gids_tensor *out,
                               gids_tensor *act, const gids_tensor *c, bool consume) {
    GIDS_CHECK(g_w != nullptr && want_w != nullptr, GIDS_EINVAL,
               "bilstm_backward: g_w and want_w must not be NULL");
    if (g_x != nullptr) *g_x = nullptr;
    for (int k = 0; k < 8; k++) g_w[k] = nullptr;
    seq q;
    q.op = "bilstm_backward";
    GIDS_TRY(prepare(&q, x, w, false));
    int64_t T = q.T, N = q.N, C = q.C, H = q.H;
    int64_t as[4] = {2, T, N, 4 * H}, xs[3] = {T, N, C};
    const void *A = nullptr, *O = nullptr, *Cs = nullptr, *GO = nullptr;
    gids_tensor *act_c = nullptr; /* act, contiguous (itself, or a copy q holds) */
    GIDS_TRY(take(&q, act, &A, &act_c));
    GIDS_TRY(take(&q, out, &O));
    GIDS_TRY(take(&q, c, &Cs));
    if (g_out != nullptr) GIDS_TRY(take(&q, g_out, &GO));
    /* the gate gradients: over act's elements when consumed, else a buffer of their own */
    gc_ref dG, gx, scratch;
    if (consume) {
        gids_tensor_retain(act_c);
        dG.t = act_c;
    } else {
        GIDS_TRY(make(&q, &dG.t, 4, as));
    }
    if (g_x != nullptr) GIDS_TRY(make(&q, &gx.t, 3, xs));
    /* dh [N, 2H] (the recurrent gradient reaching each step's h), dc [2][N, 2H] (the c
     * gradient from the later step to the earlier one: they swap each step) */
    int64_t ss = 3 * N * 2 * H > 0 ? 3 * N * 2 * H : 1;
    GIDS_TRY(make(&q, &scratch.t, 1, &ss));
    void *G = gids_tensor_data(dG.t), *dh = gids_tensor_data(scratch.t);
    void *dc[2] = {at(&q, dh, N * 2 * H), at(&q, dh, 2 * N * 2 * H)};
    /* the bias gradient's partial sums, folded by the cells as they go */
    bool want_b = want_w[2] || want_w[3] || want_w[6] || want_w[7];
    gc_ref part;
    if (want_b) {
        int64_t ps[3] = {2, (int64_t)cell_sets(&q), 4 * H};
        GIDS_TRY(make(&q, &part.t, 3, ps));
        GIDS_TRY(gc_fill(part.t, gids_scalar_f(0.0)));
    }
    void *P = want_b ? gids_tensor_data(part.t) : nullptr;
    gc_ref gw[8];
    if (N > 0 && H > 0) {
        int cur = 0;
        for (int64_t s = T - 1; s >= 0; s--) {
            if (s < T - 1) {
                /* dh = dG of the later step (t + 1 forward, t - 1 reverse) W_hh */
                GIDS_TRY(gemm(&q, false, false, N, H, 4 * H, at(&q, G, GR(&q, 0, s + 1, 0)), 4 * H,
                              q.w[1], H, 0.0, dh, 2 * H));
                GIDS_TRY(gemm(&q, false, false, N, H, 4 * H, at(&q, G, GR(&q, 1, T - 2 - s, 0)),
                              4 * H, q.w[5], H, 0.0, at(&q, dh, H), 2 * H));
            }
            GIDS_TRY(launch_bwd(&q, G, dc[1 - cur], P, A, Cs, GO, dh, dc[cur], s));
            cur = 1 - cur;
        }
    }
    if (g_x != nullptr) {
        /* g_x = dG W_ih + dG_r W_ih_r over every row of every step */
        for (int d = 0; d < 2; d++)
            GIDS_TRY(gemm(&q, false, false, T * N, C, 4 * H, at(&q, G, GR(&q, d, 0, 0)), 4 * H,
                          q.w[4 * d], C, d == 0 ? 0.0 : 1.0, gids_tensor_data(gx.t), C));
    }
    for (int d = 0; d < 2; d++) {
        if (want_w[4 * d]) {
            int64_t s2[2] = {4 * H, C};
            GIDS_TRY(make(&q, &gw[4 * d].t, 2, s2));
            GIDS_TRY(gemm(&q, true, false, 4 * H, C, T * N, at(&q, G, GR(&q, d, 0, 0)), 4 * H, q.x,
                          C, 0.0, gids_tensor_data(gw[4 * d].t), C));
        }
        if (want_w[4 * d + 1]) {
            /* the steps with a previous state: dG of steps 1..T-1 (forward) or 0..T-2 (reverse)
             * against h of steps 0..T-2 or 1..T-1, read from out's half (row stride 2H) */
            int64_t s2[2] = {4 * H, H};
            GIDS_TRY(make(&q, &gw[4 * d + 1].t, 2, s2));
            GIDS_TRY(gemm(&q, true, false, 4 * H, H, (T - 1) * N,
                          at(&q, G, GR(&q, d, d == 0 ? 1 : 0, 0)), 4 * H,
                          at(&q, O, (d == 0 ? 0 : N * 2 * H) + d * H), 2 * H, 0.0,
                          gids_tensor_data(gw[4 * d + 1].t), H));
        }
        /* b_ih and b_hh enter the gates as one sum: the same gradient */
        if (want_w[4 * d + 2] || want_w[4 * d + 3]) {
            gc_ref b;
            GIDS_TRY(bias_grad(part.t, d, &b.t));
            int64_t n4 = 4 * H;
            for (int k = 2; k < 4; k++) {
                if (!want_w[4 * d + k]) continue;
                GIDS_TRY(make(&q, &gw[4 * d + k].t, 1, &n4));
                GIDS_TRY(gc_copy(gw[4 * d + k].t, b.t));
            }
        }
    }
    if (g_x != nullptr) *g_x = gx.take();
    for (int k = 0; k < 8; k++) g_w[k] = gw[k].take();
    return GIDS_OK;
}
