/* jk_sum.cu -- the jumping-knowledge weighted sum (gids/rnn.h: gids_jk_sum) on CUDA tensors, with
 * the CPU's sums (runtime/src/cpu/jk_sum.c): f64 accumulators, t (forward) and c (backward) in
 * order, so results do not depend on the launch shape.
 *
 * Forward: one thread per out[n, c], reading x[t, n, c] for each t (coalesced along c) and
 * alpha[t, n] (one value a warp mostly, from cache).  Backward: one warp per node n: its lanes
 * walk the channels, write g_x[t, n, :] = alpha[t, n] g[n, :] and fold the dot product
 * g[n, :] . x[t, n, :] for g_alpha[t, n] (lane partials in channel order, then a fixed
 * butterfly).  Each reads x once: where the composed broadcast multiply, sum and their
 * backward passed over [T, N, C] five times.
 */
#include "cuda_impl.h"

namespace {

template <typename T>
__global__ void jk_fwd(T *out, const T *x, const T *a, int64_t Tn, int64_t N, int64_t C) {
    const int64_t total = N * C, NC = N * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t n = i / C;
        double acc = 0.0;
        for (int64_t t = 0; t < Tn; t++) acc += (double)a[t * N + n] * (double)x[t * NC + i];
        out[i] = (T)acc;
    }
}

#define JK_WARPS 8 /* warps (nodes in flight) per block */

template <typename T>
__global__ void jk_bwd(T *gx, T *ga, const T *g, const T *x, const T *a, int64_t Tn, int64_t N,
                       int64_t C) {
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * JK_WARPS;
    for (int64_t n = blockIdx.x * (int64_t)JK_WARPS + (threadIdx.x >> 5); n < N; n += warps) {
        const T *gr = g + n * C;
        for (int64_t t = 0; t < Tn; t++) {
            const int64_t row = (t * N + n) * C;
            const T w = a[t * N + n];
            double acc = 0.0;
            for (int64_t c = lane; c < C; c += 32) {
                const T gv = gr[c];
                if (ga != nullptr) acc += (double)gv * (double)x[row + c];
                if (gx != nullptr) gx[row + c] = w * gv;
            }
            if (ga != nullptr) {
                for (int off = 16; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
                if (lane == 0) ga[t * N + n] = (T)acc;
            }
        }
    }
}

/* The operands of one call.  gids_jk_sum and gids_jk_sum_backward (runtime/src/cpu/jk_sum.c)
 * check every dtype, shape and NULL before handing the call here, and the dispatch that every
 * tensor is on this device: what is left is their contiguous data. */
struct jk_call {
    const char *op;
    gids_dtype dt;
    gids_device dev;
    int64_t T, N, C;
    gc_ref held[3];
    int nheld = 0;
};

gids_status take(jk_call *in, const gids_tensor *t, const void **data) {
    gc_ref &r = in->held[in->nheld++];
    GIDS_TRY(gc_contiguous_as(in->op, &r.t, t, in->dt));
    *data = gids_tensor_data(r.t);
    return GIDS_OK;
}

gids_status prepare(jk_call *in, const gids_tensor *x, const gids_tensor *alpha,
                    const gids_tensor *g, const void **xp, const void **ap, const void **gp) {
    GIDS_TRY(gc_use_device(in->op, x));
    in->dt = x->dtype;
    in->dev = gc_dev(x);
    in->T = x->shape[0];
    in->N = x->shape[1];
    in->C = x->shape[2];
    GIDS_TRY(take(in, x, xp));
    GIDS_TRY(take(in, alpha, ap));
    if (g != nullptr) GIDS_TRY(take(in, g, gp));
    return GIDS_OK;
}

} // namespace

gids_status gc_jk_sum(gids_tensor **out, const gids_tensor *x, const gids_tensor *alpha) {
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "jk_sum: out is NULL");
    *out = nullptr;
    jk_call in;
    in.op = "jk_sum";
    const void *xp = nullptr, *ap = nullptr;
    GIDS_TRY(prepare(&in, x, alpha, nullptr, &xp, &ap, nullptr));
    int64_t os[2] = {in.N, in.C};
    gc_ref o;
    GIDS_TRY(gids_empty(&o.t, in.dt, in.dev, 2, os));
    if (in.N * in.C > 0) {
        unsigned blocks = gc_blocks(in.N * in.C);
        if (in.dt == GIDS_F32)
            jk_fwd<float><<<blocks, GC_THREADS, 0, gc_stream()>>>(
                (float *)gids_tensor_data(o.t), (const float *)xp, (const float *)ap, in.T, in.N,
                in.C);
        else
            jk_fwd<double><<<blocks, GC_THREADS, 0, gc_stream()>>>(
                (double *)gids_tensor_data(o.t), (const double *)xp, (const double *)ap, in.T, in.N,
                in.C);
        GC_LAUNCHED(in.op);
    }
    *out = o.take();
    return GIDS_OK;
}

gids_status gc_jk_sum_backward(gids_tensor **g_x, gids_tensor **g_alpha, const gids_tensor *g,
                               const gids_tensor *x, const gids_tensor *alpha) {
    if (g_x != nullptr) *g_x = nullptr;
    if (g_alpha != nullptr) *g_alpha = nullptr;
    jk_call in;
    in.op = "jk_sum_backward";
    const void *xp = nullptr, *ap = nullptr, *gp = nullptr;
    GIDS_TRY(prepare(&in, x, alpha, g, &xp, &ap, &gp));
    int64_t xs[3] = {in.T, in.N, in.C}, as[2] = {in.T, in.N};
    gc_ref gx, ga;
    if (g_x != nullptr) GIDS_TRY(gids_empty(&gx.t, in.dt, in.dev, 3, xs));
    if (g_alpha != nullptr) GIDS_TRY(gids_empty(&ga.t, in.dt, in.dev, 2, as));
    if (in.T * in.N > 0 && (gx.t != nullptr || ga.t != nullptr)) {
        if (in.C == 0 && ga.t != nullptr) GIDS_TRY(gc_fill(ga.t, gids_scalar_f(0.0)));
        int64_t nb = (in.N + JK_WARPS - 1) / JK_WARPS;
        unsigned blocks = (unsigned)(nb < (int64_t)gc_grid_cap ? nb : gc_grid_cap);
        void *gxp = gx.t != nullptr ? gids_tensor_data(gx.t) : nullptr;
        void *gap = ga.t != nullptr && in.C > 0 ? gids_tensor_data(ga.t) : nullptr;
        if (in.dt == GIDS_F32)
            jk_bwd<float><<<blocks, 32 * JK_WARPS, 0, gc_stream()>>>(
                (float *)gxp, (float *)gap, (const float *)gp, (const float *)xp, (const float *)ap,
                in.T, in.N, in.C);
        else
            jk_bwd<double><<<blocks, 32 * JK_WARPS, 0, gc_stream()>>>(
                (double *)gxp, (double *)gap, (const double *)gp, (const double *)xp,
                (const double *)ap, in.T, in.N, in.C);
        GC_LAUNCHED(in.op);
    }
    if (g_x != nullptr) *g_x = gx.take();
    if (g_alpha != nullptr) *g_alpha = ga.take();
    return GIDS_OK;
}
