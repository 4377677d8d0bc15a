/* rnn.cu -- the fused LSTM cell (gids/rnn.h) on CUDA tensors, forward and backward, with the
 * CPU's formulas (runtime/src/cpu/rnn.c).
 *
 * One thread per (row n, channel k) of [N, H] in a grid-stride loop reads the four gate columns
 * k, H + k, 2H + k, 3H + k of row n and writes every result of that position, so no two threads
 * touch one element and the results do not depend on the launch shape.  Operands are made
 * contiguous first (a no-op for the usual contiguous ones).  sigmoid is 1 / (1 + exp(-x)) and
 * tanh CUDA's libm; the CPU's f32 path uses its own branch-free approximations (within 2e-7
 * relative), so f32 results differ from the CPU's in the last bits.
 */
#include <math.h>

#include "cuda_impl.h"

template <typename T> __device__ __forceinline__ T cell_sigmoid(T x);
template <> __device__ __forceinline__ float cell_sigmoid<float>(float x) {
    return 1.0f / (1.0f + expf(-x));
}
template <> __device__ __forceinline__ double cell_sigmoid<double>(double x) {
    return 1.0 / (1.0 + exp(-x));
}
template <typename T> __device__ __forceinline__ T cell_tanh(T x);
template <> __device__ __forceinline__ float cell_tanh<float>(float x) {
    return tanhf(x);
}
template <> __device__ __forceinline__ double cell_tanh<double>(double x) {
    return tanh(x);
}

/* cp NULL: a zero previous cell state. */
template <typename T>
__global__ void lstm_forward(T *h, T *c, T *act, const T *gates, const T *cp, int64_t N,
                             int64_t H) {
    const int64_t n4 = 4 * H, total = N * H;
    for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total;
         t += (int64_t)gridDim.x * blockDim.x) {
        const int64_t n = t / H, k = t - n * H;
        const T *g = gates + n * n4;
        T *a = act + n * n4;
        T i = cell_sigmoid<T>(g[k]), f = cell_sigmoid<T>(g[H + k]);
        T gg = cell_tanh<T>(g[2 * H + k]), o = cell_sigmoid<T>(g[3 * H + k]);
        a[k] = i;
        a[H + k] = f;
        a[2 * H + k] = gg;
        a[3 * H + k] = o;
        T cv = cp != nullptr ? f * cp[t] + i * gg : i * gg;
        c[t] = cv;
        h[t] = o * cell_tanh<T>(cv);
    }
}

/* gh, gc, cp NULL: zeros.  gcp NULL: not wanted. */
template <typename T>
__global__ void lstm_backward(T *ggates, T *gcp, const T *gh, const T *gc, const T *act,
                              const T *cp, const T *c, int64_t N, int64_t H) {
    const int64_t n4 = 4 * H, total = N * H;
    for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total;
         t += (int64_t)gridDim.x * blockDim.x) {
        const int64_t n = t / H, k = t - n * H;
        const T *a = act + n * n4;
        T *gg = ggates + n * n4;
        T i = a[k], f = a[H + k], g = a[2 * H + k], o = a[3 * H + k];
        T ghv = gh != nullptr ? gh[t] : (T)0, gcv = gc != nullptr ? gc[t] : (T)0;
        T cpv = cp != nullptr ? cp[t] : (T)0;
        T tc = cell_tanh<T>(c[t]);
        T dc = gcv + ghv * o * ((T)1 - tc * tc);
        gg[k] = dc * g * i * ((T)1 - i);
        gg[H + k] = dc * cpv * f * ((T)1 - f);
        gg[2 * H + k] = dc * i * ((T)1 - g * g);
        gg[3 * H + k] = ghv * tc * o * ((T)1 - o);
        if (gcp != nullptr) gcp[t] = dc * f;
    }
}

/* ---------------------------------------------------------------- arguments (the CPU's checks) */

struct cell_call {
    const char *op;
    gids_dtype dt;
    gids_device dev;
    gc_ref held[6];
    int nheld = 0;
};

/* The [N, 4H] operand (gates, or act in the backward): fixes the dtype, device, N and H. */
static gids_status take_gates(cell_call *in, const char *name, const gids_tensor *t, int64_t *N,
                              int64_t *H, const void **data) {
    char sa[96];
    GIDS_CHECK(t != nullptr, GIDS_EINVAL, "%s: %s is NULL", in->op, name);
    GIDS_TRY(gc_use_device(in->op, t));
    GIDS_CHECK(t->dtype == GIDS_F32 || t->dtype == GIDS_F64, GIDS_EDTYPE,
               "%s: %s must be f32 or f64, got %s", in->op, name, gids_dtype_name(t->dtype));
    GIDS_CHECK(t->ndim == 2 && t->shape[1] % 4 == 0, GIDS_ESHAPE,
               "%s: %s must have shape [N, 4 * hidden], got %s", in->op, name,
               gids_shape_str(t->ndim, t->shape, sa, sizeof sa));
    in->dt = t->dtype;
    in->dev = gc_dev(t);
    *N = t->shape[0];
    *H = t->shape[1] / 4;
    GIDS_TRY(gc_contiguous_as(in->op, &in->held[in->nheld].t, t, in->dt));
    *data = gids_tensor_data(in->held[in->nheld++].t);
    return GIDS_OK;
}

/* A [N, W] operand of the call's dtype and device (NULL stays NULL), contiguous. */
static gids_status take(cell_call *in, const char *name, const gids_tensor *t, int64_t N, int64_t W,
                        const void **data) {
    char sa[96];
    *data = nullptr;
    if (t == nullptr) return GIDS_OK;
    GIDS_CHECK(gc_is_cuda(t) && gc_dev(t).index == in->dev.index, GIDS_EDEVICE,
               "%s: %s is not on cuda:%d with the gates", in->op, name, in->dev.index);
    GIDS_CHECK(t->dtype == in->dt, GIDS_EDTYPE, "%s: %s has dtype %s, expected %s", in->op, name,
               gids_dtype_name(t->dtype), gids_dtype_name(in->dt));
    GIDS_CHECK(t->ndim == 2 && t->shape[0] == N && t->shape[1] == W, GIDS_ESHAPE,
               "%s: %s has shape %s, expected [%lld,%lld]", in->op, name,
               gids_shape_str(t->ndim, t->shape, sa, sizeof sa), (long long)N, (long long)W);
    GIDS_CHECK(in->nheld < 6, GIDS_EINVAL, "%s: too many operands", in->op);
    GIDS_TRY(gc_contiguous_as(in->op, &in->held[in->nheld].t, t, in->dt));
    *data = gids_tensor_data(in->held[in->nheld++].t);
    return GIDS_OK;
}

/* ---------------------------------------------------------------- entries */

gids_status gc_lstm_cell(gids_tensor **h, gids_tensor **c, gids_tensor **act,
                         const gids_tensor *gates, const gids_tensor *c_prev) {
    cell_call in;
    in.op = "lstm_cell";
    GIDS_CHECK(h != nullptr && c != nullptr, GIDS_EINVAL, "lstm_cell: h and c must not be NULL");
    *h = *c = nullptr;
    if (act != nullptr) *act = nullptr;
    int64_t N = 0, H = 0;
    const void *g = nullptr, *cp = nullptr;
    GIDS_TRY(take_gates(&in, "gates", gates, &N, &H, &g));
    GIDS_TRY(take(&in, "c_prev", c_prev, N, H, &cp));
    int64_t shape[2] = {N, H}, ashape[2] = {N, 4 * H};
    gc_ref ho, co, ao;
    GIDS_TRY(gids_empty(&ho.t, in.dt, in.dev, 2, shape));
    GIDS_TRY(gids_empty(&co.t, in.dt, in.dev, 2, shape));
    GIDS_TRY(gids_empty(&ao.t, in.dt, in.dev, 2, ashape));
    if (N * H > 0) {
        unsigned blocks = gc_blocks(N * H);
        if (in.dt == GIDS_F32)
            lstm_forward<float><<<blocks, GC_THREADS, 0, gc_stream()>>>(
                (float *)gids_tensor_data(ho.t), (float *)gids_tensor_data(co.t),
                (float *)gids_tensor_data(ao.t), (const float *)g, (const float *)cp, N, H);
        else
            lstm_forward<double><<<blocks, GC_THREADS, 0, gc_stream()>>>(
                (double *)gids_tensor_data(ho.t), (double *)gids_tensor_data(co.t),
                (double *)gids_tensor_data(ao.t), (const double *)g, (const double *)cp, N, H);
        GC_LAUNCHED(in.op);
    }
    *h = ho.take();
    *c = co.take();
    if (act != nullptr) *act = ao.take();
    return GIDS_OK;
}

gids_status gc_lstm_cell_backward(gids_tensor **g_gates, gids_tensor **g_c_prev,
                                  const gids_tensor *g_h, const gids_tensor *g_c,
                                  const gids_tensor *act, const gids_tensor *c_prev,
                                  const gids_tensor *c) {
    cell_call in;
    in.op = "lstm_cell_backward";
    if (g_gates != nullptr) *g_gates = nullptr;
    if (g_c_prev != nullptr) *g_c_prev = nullptr;
    int64_t N = 0, H = 0;
    const void *a = nullptr, *cv = nullptr, *gh = nullptr, *gc = nullptr, *cp = nullptr;
    GIDS_TRY(take_gates(&in, "act", act, &N, &H, &a));
    GIDS_CHECK(c != nullptr, GIDS_EINVAL, "lstm_cell_backward: c is NULL");
    GIDS_TRY(take(&in, "c", c, N, H, &cv));
    GIDS_TRY(take(&in, "g_h", g_h, N, H, &gh));
    GIDS_TRY(take(&in, "g_c", g_c, N, H, &gc));
    GIDS_TRY(take(&in, "c_prev", c_prev, N, H, &cp));
    int64_t shape[2] = {N, H}, gshape[2] = {N, 4 * H};
    /* g_gates is always computed (the kernel writes it); g_c_prev only when it has a meaning */
    bool want_cp = g_c_prev != nullptr && c_prev != nullptr;
    gc_ref gg, gcp;
    GIDS_TRY(gids_empty(&gg.t, in.dt, in.dev, 2, gshape));
    if (want_cp) GIDS_TRY(gids_empty(&gcp.t, in.dt, in.dev, 2, shape));
    if (N * H > 0) {
        unsigned blocks = gc_blocks(N * H);
        if (in.dt == GIDS_F32)
            lstm_backward<float><<<blocks, GC_THREADS, 0, gc_stream()>>>(
                (float *)gids_tensor_data(gg.t),
                want_cp ? (float *)gids_tensor_data(gcp.t) : nullptr, (const float *)gh,
                (const float *)gc, (const float *)a, (const float *)cp, (const float *)cv, N, H);
        else
            lstm_backward<double><<<blocks, GC_THREADS, 0, gc_stream()>>>(
                (double *)gids_tensor_data(gg.t),
                want_cp ? (double *)gids_tensor_data(gcp.t) : nullptr, (const double *)gh,
                (const double *)gc, (const double *)a, (const double *)cp, (const double *)cv, N,
                H);
        GC_LAUNCHED(in.op);
    }
    if (g_gates != nullptr) *g_gates = gg.take();
    if (want_cp) *g_c_prev = gcp.take();
    return GIDS_OK;
}
