/* graph_attention.cu -- the fused GAT / GATv2 attention ops (gids/graph.h) on CUDA tensors:
 * scores, the softmax over each target's incoming edges and the weighted sum of source rows,
 * forward and backward, with the CPU's formulas (runtime/src/cpu/graph_attention.c).
 *
 * Edges are grouped by target (and, for the backward's second pass, by source) once per call
 * with the segment ops' CSR (gc_csr_build: a stable radix sort, so a node's edges stay in edge
 * order).  A group of G lanes of one warp (G = the power of two >= C, at most 32) owns one
 * (node, head) pair: the lanes split the C channels, a score is their sum through a fixed
 * xor-shuffle tree (every lane ends with the same bits), and the softmax and the weighted sum
 * walk the node's edges in edge order.  Nothing is reduced with atomics: att's gradient is a
 * per-target partial [N, H, C] folded by gc_reduce (fixed order, double accumulation), and the
 * source rows' gradients are a second pass over the edges grouped by source.  Results are the
 * same on every run; they differ from the CPU's in the last bits (the order of the channel sums
 * and FMA contraction).
 *
 * Scratch per call: the CSR plans (2 x (N + 1) + a few E-long i64 buffers); the backward also
 * writes [E, H] per-edge values and, for GATv2, an [N, H, C] partial of att's gradient.
 */
#include <math.h>
#include <string.h>

#include <mutex>

#include "gc_index.h"

/* ---------------------------------------------------------------- device helpers */

/* The lanes of this thread's group (G consecutive lanes of one warp). */
template <int G> __device__ __forceinline__ unsigned grp_mask() {
    if constexpr (G == 32)
        return 0xffffffffu;
    else
        return ((1u << G) - 1u) << ((threadIdx.x & 31u) & ~(unsigned)(G - 1));
}

/* The sum over the group by an xor butterfly: each step adds the same two partials on both
 * lanes, so every lane ends with identical bits. */
template <int G, typename T> __device__ __forceinline__ T grp_sum(unsigned mask, T v) {
#pragma unroll
    for (int o = G / 2; o > 0; o >>= 1) v += __shfl_xor_sync(mask, v, o, G);
    return v;
}

template <typename T> __device__ __forceinline__ T att_exp(T v);
template <> __device__ __forceinline__ float att_exp<float>(float v) {
    return expf(v);
}
template <> __device__ __forceinline__ double att_exp<double>(double v) {
    return exp(v);
}

template <typename T> __device__ __forceinline__ T lrelu(T v, T slope) {
    return v > 0 ? v : v * slope;
}

/* Lanes per (node, head): enough for C channels, at most a warp. */
static int group_size(int64_t C) {
    return C <= 4 ? 4 : C <= 8 ? 8 : C <= 16 ? 16 : 32;
}

/* Everything a kernel reads or writes (contiguous device memory; NULL where absent). */
template <typename T> struct att_args {
    int64_t N, E, H, C;
    T slope;
    const T *x, *xr, *ep, *att;   /* GATv2: xl [N,H,C], xr [N,H,C], edge_proj [E,H,C], att [H,C] */
    const T *asrc, *adst, *aedge; /* GAT: [N,H], [N,H], [E,H] */
    const T *scale;               /* dropout multipliers [E,H] */
    const int64_t *src, *dst;     /* edge_index rows */
    const int64_t *off, *perm;    /* edges by target */
    const int64_t *soff, *sperm;  /* edges by source (backward) */
    T *out, *alpha;               /* forward results */
    const T *gout, *galpha, *alpha_in; /* backward inputs */
    T *gx, *gt, *gs, *pa, *gasrc;      /* backward results and att's per-target partial */
    T *buf;                            /* [E, H] per-edge scratch */
};

/* Edge k's score for head h into target i: each lane's share of the channel sum, summed over
 * the group (GATv2); the same scalar on every lane (GAT). */
template <bool V2, int G, typename T>
__device__ __forceinline__ T edge_score(const att_args<T> &a, int64_t k, int64_t i, int64_t h,
                                        int lane, unsigned mask) {
    if constexpr (V2) {
        const int64_t H = a.H, C = a.C;
        const T *xj = a.x + (a.src[k] * H + h) * C, *r = a.xr + (i * H + h) * C;
        const T *at = a.att + h * C;
        T s = 0;
        if (a.ep != nullptr) {
            const T *pk = a.ep + (k * H + h) * C;
            for (int64_t c = lane; c < C; c += G) s += at[c] * lrelu(xj[c] + r[c] + pk[c], a.slope);
        } else {
            for (int64_t c = lane; c < C; c += G) s += at[c] * lrelu(xj[c] + r[c], a.slope);
        }
        return grp_sum<G>(mask, s);
    } else {
        const int64_t H = a.H;
        T v = a.asrc[a.src[k] * H + h] + a.adst[i * H + h] +
              (a.aedge != nullptr ? a.aedge[k * H + h] : (T)0);
        return lrelu(v, a.slope);
    }
}

/* ---------------------------------------------------------------- forward */

/* One group per (target i, head h): scores into alpha (as scratch) and their max; exp(s - max)
 * and their sum z; out = sum of alpha * scale * x[src] in edge order, one lane per channel;
 * then alpha = e / z.  z > 0 and max > -inf guards are the CPU's (all -inf or NaN scores give
 * alpha 0). */
template <bool V2, int G, typename T> __global__ void att_forward(att_args<T> a) {
    const unsigned mask = grp_mask<G>();
    const int lane = (int)(threadIdx.x & (G - 1));
    const int64_t H = a.H, C = a.C, pairs = a.N * a.H;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x / G;
    for (int64_t t = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / G; t < pairs; t += stride) {
        const int64_t i = t / H, h = t - i * H, lo = a.off[i], hi = a.off[i + 1];
        T *o = a.out + t * C;
        if (lo == hi) {
            for (int64_t c = lane; c < C; c += G) o[c] = 0;
            continue;
        }
        T m = -INFINITY;
        for (int64_t p = lo; p < hi; p++) {
            const int64_t k = a.perm[p];
            T s = edge_score<V2, G, T>(a, k, i, h, lane, mask);
            if (lane == 0) a.alpha[k * H + h] = s;
            m = s > m ? s : m;
        }
        __syncwarp(mask);
        T z = 0;
        for (int64_t p = lo + lane; p < hi; p += G) {
            const int64_t e = a.perm[p] * H + h;
            T ex = m == (T)-INFINITY ? (T)0 : att_exp<T>(a.alpha[e] - m);
            a.alpha[e] = ex;
            z += ex;
        }
        z = grp_sum<G>(mask, z);
        __syncwarp(mask);
        for (int64_t c = lane; c < C; c += G) {
            T acc = 0;
            for (int64_t p = lo; p < hi; p++) {
                const int64_t k = a.perm[p];
                T al = z > 0 ? a.alpha[k * H + h] / z : (T)0;
                T w = a.scale != nullptr ? al * a.scale[k * H + h] : al;
                acc += w * a.x[(a.src[k] * H + h) * C + c];
            }
            o[c] = acc;
        }
        __syncwarp(mask); /* every lane has read the e values before they become alpha */
        for (int64_t p = lo + lane; p < hi; p += G) {
            const int64_t e = a.perm[p] * H + h;
            a.alpha[e] = z > 0 ? a.alpha[e] / z : (T)0;
        }
    }
}

/* The forward in one walk over each target's edges, for C <= G * R (R channels a lane): the
 * scores as above, and the weighted sum with a running maximum (each new maximum rescales the
 * sum so far), so each source row is read once and each edge's indices once, where
 * att_forward reads them again for the sum (on an H100 its three walks took 0.36 ms per layer
 * of the large GAT at 1024 graphs).  The same guards: all -inf scores, or a NaN or +inf one,
 * give alpha 0 and a zero row, as the CPU. */
template <bool V2, int G, int R, typename T> __global__ void att_forward_walk(att_args<T> a) {
    const unsigned mask = grp_mask<G>();
    const int lane = (int)(threadIdx.x & (G - 1));
    const int64_t H = a.H, C = a.C, pairs = a.N * a.H;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x / G;
    for (int64_t t = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / G; t < pairs; t += stride) {
        const int64_t i = t / H, h = t - i * H, lo = a.off[i], hi = a.off[i + 1];
        T *o = a.out + t * C;
        T m = -INFINITY, z = 0, acc[R];
#pragma unroll
        for (int r = 0; r < R; r++) acc[r] = 0;
        for (int64_t p = lo; p < hi; p++) {
            const int64_t k = a.perm[p], e = k * H + h;
            const T *xj = a.x + (a.src[k] * H + h) * C;
            T xv[R];
#pragma unroll
            for (int r = 0; r < R; r++) {
                const int64_t c = lane + (int64_t)r * G;
                xv[r] = c < C ? xj[c] : (T)0;
            }
            const T s = edge_score<V2, G, T>(a, k, i, h, lane, mask);
            if (lane == 0) a.alpha[e] = s;
            if (s > m) { /* a new maximum: what was summed so far is rescaled to it */
                const T f = m == (T)-INFINITY ? (T)0 : att_exp<T>(m - s);
                z *= f;
#pragma unroll
                for (int r = 0; r < R; r++) acc[r] *= f;
                m = s;
            }
            T ex = m == (T)-INFINITY ? (T)0 : att_exp<T>(s - m);
            if (s != s) ex = (T)NAN; /* a NaN score spoils the sum, as the CPU's: zeros */
            z += ex;
            const T w = a.scale != nullptr ? ex * a.scale[e] : ex;
#pragma unroll
            for (int r = 0; r < R; r++) acc[r] += w * xv[r];
        }
#pragma unroll
        for (int r = 0; r < R; r++) {
            const int64_t c = lane + (int64_t)r * G;
            if (c < C) o[c] = z > 0 ? acc[r] / z : (T)0;
        }
        __syncwarp(mask); /* lane 0's scores are written before any lane reads them */
        for (int64_t p = lo + lane; p < hi; p += G) {
            const int64_t e = a.perm[p] * H + h;
            a.alpha[e] = z > 0 && m != (T)-INFINITY ? att_exp<T>(a.alpha[e] - m) / z : (T)0;
        }
        __syncwarp(mask); /* every lane is done with this pair's alpha before the next */
    }
}

/* ---------------------------------------------------------------- backward */

/* Pass 1, one group per (target i, head h): gak = d loss / d alpha (through out and g_alpha,
 * times the dropout scale) per edge into buf and sum = sum alpha * gak; then per edge the score
 * gradient de = alpha * (gak - sum), turned into the per-edge gradient gs (GATv2: [E,H,C], the
 * score's gradient w.r.t. the leaky_relu input; GAT: [E,H]), the target-side gradient gt (xr or
 * a_dst) and, for GATv2, att's per-target partial pa. */
template <bool V2, int G, typename T> __global__ void att_backward_dst(att_args<T> a) {
    const unsigned mask = grp_mask<G>();
    const int lane = (int)(threadIdx.x & (G - 1));
    const int64_t H = a.H, C = a.C, pairs = a.N * a.H;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x / G;
    for (int64_t t = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / G; t < pairs; t += stride) {
        const int64_t i = t / H, h = t - i * H, lo = a.off[i], hi = a.off[i + 1];
        if (lo == hi) {
            if constexpr (V2) {
                for (int64_t c = lane; c < C; c += G) a.gt[t * C + c] = a.pa[t * C + c] = 0;
            } else if (lane == 0) {
                a.gt[t] = 0;
            }
            continue;
        }
        const T *g = a.gout != nullptr ? a.gout + t * C : nullptr;
        T sum = 0;
        for (int64_t p = lo; p < hi; p++) {
            const int64_t k = a.perm[p], e = k * H + h;
            T gw = 0;
            if (g != nullptr) {
                const T *xj = a.x + (a.src[k] * H + h) * C;
                for (int64_t c = lane; c < C; c += G) gw += g[c] * xj[c];
                gw = grp_sum<G>(mask, gw);
            }
            T gak = (a.scale != nullptr ? gw * a.scale[e] : gw) +
                    (a.galpha != nullptr ? a.galpha[e] : (T)0);
            if (lane == 0) a.buf[e] = gak;
            sum += a.alpha_in[e] * gak;
        }
        __syncwarp(mask);
        if constexpr (V2) {
            const T *r = a.xr + t * C, *at = a.att + h * C;
            for (int64_t c = lane; c < C; c += G) {
                T gr = 0, pac = 0;
                for (int64_t p = lo; p < hi; p++) {
                    const int64_t k = a.perm[p], e = k * H + h;
                    T de = a.alpha_in[e] * (a.buf[e] - sum);
                    T v = a.x[(a.src[k] * H + h) * C + c] + r[c];
                    if (a.ep != nullptr) v += a.ep[e * C + c];
                    T tt = de * at[c], gsv = v > 0 ? tt : tt * a.slope;
                    a.gs[e * C + c] = gsv;
                    gr += gsv;
                    pac += de * lrelu(v, a.slope);
                }
                a.gt[t * C + c] = gr;
                a.pa[t * C + c] = pac;
            }
        } else if (lane == 0) {
            T gr = 0;
            for (int64_t p = lo; p < hi; p++) {
                const int64_t k = a.perm[p], e = k * H + h;
                T de = a.alpha_in[e] * (a.buf[e] - sum);
                T v =
                    a.asrc[a.src[k] * H + h] + a.adst[t] + (a.aedge != nullptr ? a.aedge[e] : (T)0);
                T gp = v > 0 ? de : de * a.slope;
                a.gs[e] = gp;
                gr += gp;
            }
            a.gt[t] = gr;
        }
    }
}

/* Pass 2, one thread per (source v, head h, channel c): x's gradient, the weighted target
 * gradients of v's outgoing edges (plus gs for GATv2), in edge order. */
template <bool V2, typename T> __global__ void att_backward_src(att_args<T> a) {
    const int64_t H = a.H, C = a.C, n = a.N * a.H * a.C;
    for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < n;
         t += (int64_t)gridDim.x * blockDim.x) {
        const int64_t vh = t / C, c = t - vh * C, v = vh / H, h = vh - v * H;
        T acc = 0;
        for (int64_t p = a.soff[v]; p < a.soff[v + 1]; p++) {
            const int64_t k = a.sperm[p], e = k * H + h;
            if (a.gout != nullptr) {
                T al = a.alpha_in[e], w = a.scale != nullptr ? al * a.scale[e] : al;
                T gg = a.gout[(a.dst[k] * H + h) * C + c];
                if constexpr (V2)
                    acc += w * gg + a.gs[e * C + c];
                else
                    acc += w * gg;
            } else if constexpr (V2) {
                acc += a.gs[e * C + c];
            }
        }
        a.gx[t] = acc;
    }
}

/* GAT: a_src's gradient, the sum of gs over each source's edges in edge order. */
template <typename T> __global__ void att_backward_asrc(att_args<T> a) {
    const int64_t H = a.H, n = a.N * a.H;
    for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < n;
         t += (int64_t)gridDim.x * blockDim.x) {
        const int64_t v = t / H, h = t - v * H;
        T as = 0;
        for (int64_t p = a.soff[v]; p < a.soff[v + 1]; p++) as += a.gs[a.sperm[p] * H + h];
        a.gasrc[t] = as;
    }
}

/* ---------------------------------------------------------------- launches */

template <bool V2, int G, typename T> static void launch_group(bool fwd, const att_args<T> &a) {
    unsigned blocks = gc_blocks(a.N * a.H * G);
    if (!fwd)
        att_backward_dst<V2, G, T><<<blocks, GC_THREADS, 0, gc_stream()>>>(a);
    else if (a.C <= G)
        att_forward_walk<V2, G, 1, T><<<blocks, GC_THREADS, 0, gc_stream()>>>(a);
    else if (a.C <= 2 * G)
        att_forward_walk<V2, G, 2, T><<<blocks, GC_THREADS, 0, gc_stream()>>>(a);
    else if (a.C <= 4 * G)
        att_forward_walk<V2, G, 4, T><<<blocks, GC_THREADS, 0, gc_stream()>>>(a);
    else
        att_forward<V2, G, T><<<blocks, GC_THREADS, 0, gc_stream()>>>(a);
}

template <bool V2, typename T> static void launch_pairs(bool fwd, const att_args<T> &a) {
    switch (group_size(a.C)) {
    case 4: launch_group<V2, 4, T>(fwd, a); break;
    case 8: launch_group<V2, 8, T>(fwd, a); break;
    case 16: launch_group<V2, 16, T>(fwd, a); break;
    default: launch_group<V2, 32, T>(fwd, a); break;
    }
}

/* ---------------------------------------------------------------- arguments */

/* The call's operands: contiguous forms (held until the call returns) and shapes. */
struct att_call {
    const char *op;
    bool v2;
    gids_dtype dt;
    int64_t N, E, H, C;
    gc_ref held[12];
    int nheld = 0;
    const void *x = nullptr, *xr = nullptr, *ep = nullptr, *att = nullptr;
    const void *asrc = nullptr, *adst = nullptr, *aedge = nullptr, *scale = nullptr;
    const void *gout = nullptr, *galpha = nullptr, *alpha = nullptr;
    const int64_t *src = nullptr, *dst = nullptr;
    gc_ref ei;
    bool ei_given; /* ei is the caller's edge_index itself (not an i64 or contiguous copy) */
    gc_csr by_dst, by_src;
};

/* Checks t (NULL stays NULL) as the CPU does -- dtype, then shape (want[d] < 0: any) -- and
 * takes a contiguous form of it. */
static gids_status take(att_call *in, const char *name, const gids_tensor *t, int ndim,
                        const int64_t *want, const void **data) {
    char sa[96], sb[96];
    *data = nullptr;
    if (t == nullptr) return GIDS_OK;
    GIDS_CHECK(gc_is_cuda(t) && gc_dev(t).index == gc_dev(in->held[0].t).index, GIDS_EDEVICE,
               "%s: %s is not on the device of x", in->op, name);
    GIDS_CHECK(t->dtype == in->dt, GIDS_EDTYPE, "%s: %s has dtype %s, expected %s (x's dtype)",
               in->op, name, gids_dtype_name(t->dtype), gids_dtype_name(in->dt));
    bool ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = want[d] < 0 || t->shape[d] == want[d];
    GIDS_CHECK(ok, GIDS_ESHAPE, "%s: %s has shape %s, expected %s", in->op, name,
               gids_shape_str(t->ndim, t->shape, sa, sizeof sa),
               gids_shape_str(ndim, want, sb, sizeof sb));
    GIDS_CHECK(in->nheld < 12, GIDS_EINVAL, "%s: too many operands", in->op);
    gc_ref &h = in->held[in->nheld++];
    GIDS_TRY(gc_contiguous_as(in->op, &h.t, t, in->dt));
    *data = gids_tensor_data(h.t);
    return GIDS_OK;
}

/* x [N, H, C] float with N == num_nodes (held[0]), edge_index [2, E] i64 on its device. */
static gids_status start(att_call *in, const gids_tensor *x, const gids_tensor *edge_index,
                         int64_t num_nodes) {
    char sa[96];
    GIDS_CHECK(x != nullptr && edge_index != nullptr, GIDS_EINVAL, "%s: %s is NULL", in->op,
               x == nullptr ? "x" : "edge_index");
    GIDS_TRY(gc_use_device(in->op, x));
    GIDS_CHECK(x->dtype == GIDS_F32 || x->dtype == GIDS_F64, GIDS_EDTYPE,
               "%s: x must be f32 or f64, got %s", in->op, gids_dtype_name(x->dtype));
    GIDS_CHECK(x->ndim == 3, GIDS_ESHAPE, "%s: x must have shape [N, heads, channels], got %s",
               in->op, gids_shape_str(x->ndim, x->shape, sa, sizeof sa));
    GIDS_CHECK(x->shape[0] == num_nodes, GIDS_ESHAPE,
               "%s: x has %lld rows, expected num_nodes = %lld", in->op, (long long)x->shape[0],
               (long long)num_nodes);
    GIDS_CHECK(edge_index->ndim == 2 && edge_index->shape[0] == 2, GIDS_ESHAPE,
               "%s: edge_index must have shape [2, E], got %s", in->op,
               gids_shape_str(edge_index->ndim, edge_index->shape, sa, sizeof sa));
    GIDS_CHECK(edge_index->dtype == GIDS_I64, GIDS_EDTYPE, "%s: edge_index must be i64, got %s",
               in->op, gids_dtype_name(edge_index->dtype));
    GIDS_CHECK(gc_is_cuda(edge_index) && gc_dev(edge_index).index == gc_dev(x).index, GIDS_EDEVICE,
               "%s: edge_index is not on the device of x", in->op);
    in->dt = x->dtype;
    in->N = num_nodes;
    in->H = x->shape[1];
    in->C = x->shape[2];
    in->E = edge_index->shape[1];
    GIDS_TRY(gc_contiguous_as(in->op, &in->held[0].t, x, in->dt));
    in->nheld = 1;
    in->x = gids_tensor_data(in->held[0].t);
    GIDS_TRY(gc_contiguous_as(in->op, &in->ei.t, edge_index, GIDS_I64));
    in->ei_given = in->ei.t == edge_index; /* else a copy: its range is not kept */
    in->src = (const int64_t *)gids_tensor_data(in->ei.t);
    in->dst = in->src + in->E;
    return GIDS_OK;
}

static gids_status check_v2(att_call *in, const gids_tensor *xl, const gids_tensor *xr,
                            const gids_tensor *ep, const gids_tensor *att,
                            const gids_tensor *edge_index, int64_t num_nodes,
                            const gids_tensor *scale) {
    in->v2 = true;
    GIDS_TRY(start(in, xl, edge_index, num_nodes));
    int64_t xs[3] = {in->N, in->H, in->C}, es[3] = {in->E, in->H, in->C}, sc[2] = {in->E, in->H};
    GIDS_CHECK(xr != nullptr && att != nullptr, GIDS_EINVAL, "%s: %s is NULL", in->op,
               xr == nullptr ? "xr" : "att");
    GIDS_TRY(take(in, "xr", xr, 3, xs, &in->xr));
    GIDS_TRY(take(in, "edge_proj", ep, 3, es, &in->ep));
    /* att: [H, C] or PyG's parameter shape [1, H, C] */
    int64_t a2[2] = {in->H, in->C}, a3[3] = {1, in->H, in->C};
    GIDS_TRY(take(in, "att", att, att->ndim == 3 ? 3 : 2, att->ndim == 3 ? a3 : a2, &in->att));
    GIDS_TRY(take(in, "dropout_scale", scale, 2, sc, &in->scale));
    return GIDS_OK;
}

static gids_status check_v1(att_call *in, const gids_tensor *x, const gids_tensor *as,
                            const gids_tensor *ad, const gids_tensor *ae,
                            const gids_tensor *edge_index, int64_t num_nodes,
                            const gids_tensor *scale) {
    in->v2 = false;
    GIDS_TRY(start(in, x, edge_index, num_nodes));
    int64_t ns[2] = {in->N, in->H}, es[2] = {in->E, in->H};
    GIDS_CHECK(as != nullptr && ad != nullptr, GIDS_EINVAL, "%s: %s is NULL", in->op,
               as == nullptr ? "a_src" : "a_dst");
    GIDS_TRY(take(in, "a_src", as, 2, ns, &in->asrc));
    GIDS_TRY(take(in, "a_dst", ad, 2, ns, &in->adst));
    GIDS_TRY(take(in, "a_edge", ae, 2, es, &in->aedge));
    GIDS_TRY(take(in, "dropout_scale", scale, 2, es, &in->scale));
    return GIDS_OK;
}

/* Range-checks one row of edge_index (targets first, as the CPU) with the CPU's message. */
static gids_status check_row(att_call *in, const int64_t *row, const char *what) {
    int64_t pos = -1, bad = 0;
    GIDS_TRY(gc_index_find(in->op, in->ei.t, row, in->E, in->N, in->ei_given, &pos, &bad));
    GIDS_CHECK(pos < 0, GIDS_EINDEX,
               "%s: edge_index %s %lld of edge %lld is out of range [0, %lld) (num_nodes)", in->op,
               what, (long long)bad, (long long)pos, (long long)in->N);
    return GIDS_OK;
}

/* The last plan made on each device, for the next call on the same edge_index: every attention
 * layer of a model and each one's backward get the same edge_index, and a plan costs two range
 * checks that wait for the device and one or two radix sorts (about 30 launches; on an H100 the
 * large GAT's step at 1024 graphs made 12 checks and 9 sorts).  It is used again only for the
 * same memory (the entry holds a reference to the edge_index, so its memory cannot be freed
 * and reused meanwhile) at the same version (no in-place write since), offset, edge count,
 * node count and stream.  Raw references, released by hand: a static gc_ref would release
 * them after the CUDA context is gone at exit.  gpu.reset() drops the entries. */
struct plan_memo {
    gids_tensor *ei = nullptr; /* the contiguous i64 edge_index the plan was made for */
    uint64_t version = 0;
    int64_t N = 0;
    uint64_t stream = 0; /* the stream's id (0: legacy): a cudaStream_t value can be reused */
    gids_tensor *dst_off = nullptr, *dst_perm = nullptr, *src_off = nullptr, *src_perm = nullptr;
};
static plan_memo memos[GC_MAX_DEVICES];
static std::mutex memo_lock;

static void memo_clear(plan_memo *m) {
    gids_tensor *ts[5] = {m->ei, m->dst_off, m->dst_perm, m->src_off, m->src_perm};
    for (gids_tensor *t : ts) gids_tensor_release(t);
    *m = plan_memo();
}

void gc_attention_plans_drop(int device) {
    std::lock_guard<std::mutex> lk(memo_lock);
    if (device >= 0 && device < GC_MAX_DEVICES) memo_clear(&memos[device]);
}

/* The id of the current stream of the current device (0: the legacy default stream). */
static uint64_t stream_id() {
    int d = 0;
    if (cudaGetDevice(&d) != cudaSuccess) {
        cudaGetLastError();
        return UINT64_MAX; /* fits no memo; the op's next CUDA call reports the failure */
    }
    const gids_stream *s = gc_current(d);
    return s != nullptr ? s->id : 0;
}

static bool memo_fits(const plan_memo *m, const att_call *in) {
    const gids_tensor *t = in->ei.t;
    return m->ei != nullptr && m->ei->storage == t->storage && m->ei->offset == t->offset &&
           m->ei->shape[1] == t->shape[1] && m->version == t->storage->version && m->N == in->N &&
           m->stream == stream_id();
}

static gids_tensor *retained(gids_tensor *t) {
    gids_tensor_retain(t);
    return t;
}

/* Both rows checked; the edges grouped by target, and by source when `by_source` (from the
 * device's last plan when it fits). */
static gids_status plan(att_call *in, bool by_source) {
    int dev = gc_dev(in->ei.t).index;
    std::lock_guard<std::mutex> lk(memo_lock);
    plan_memo *m = dev < GC_MAX_DEVICES ? &memos[dev] : nullptr;
    bool fits = m != nullptr && memo_fits(m, in);
    if (fits) {
        in->by_dst.off.t = retained(m->dst_off);
        in->by_dst.perm.t = retained(m->dst_perm);
    } else {
        GIDS_TRY(check_row(in, in->dst, "target"));
        GIDS_TRY(check_row(in, in->src, "source"));
        GIDS_TRY(gc_csr_build(in->op, &in->by_dst, in->ei.t, in->dst, in->E, in->N));
    }
    bool have_src = fits && m->src_off != nullptr;
    if (by_source && have_src) {
        in->by_src.off.t = retained(m->src_off);
        in->by_src.perm.t = retained(m->src_perm);
    } else if (by_source) {
        GIDS_TRY(gc_csr_build(in->op, &in->by_src, in->ei.t, in->src, in->E, in->N));
    }
    if (m == nullptr || (fits && (have_src || !by_source))) return GIDS_OK;
    if (!fits) {
        memo_clear(m);
        m->ei = retained(in->ei.t);
        m->version = in->ei.t->storage->version;
        m->N = in->N;
        m->stream = stream_id();
        m->dst_off = retained(in->by_dst.off.t);
        m->dst_perm = retained(in->by_dst.perm.t);
    }
    if (by_source) {
        m->src_off = retained(in->by_src.off.t);
        m->src_perm = retained(in->by_src.perm.t);
    }
    return GIDS_OK;
}

template <typename T> static att_args<T> args_of(const att_call *in, double slope) {
    att_args<T> a;
    memset(&a, 0, sizeof a);
    a.N = in->N;
    a.E = in->E;
    a.H = in->H;
    a.C = in->C;
    a.slope = (T)slope;
    a.x = (const T *)in->x;
    a.xr = (const T *)in->xr;
    a.ep = (const T *)in->ep;
    a.att = (const T *)in->att;
    a.asrc = (const T *)in->asrc;
    a.adst = (const T *)in->adst;
    a.aedge = (const T *)in->aedge;
    a.scale = (const T *)in->scale;
    a.src = in->src;
    a.dst = in->dst;
    a.off = (const int64_t *)gids_tensor_data(in->by_dst.off.t);
    a.perm = (const int64_t *)gids_tensor_data(in->by_dst.perm.t);
    if (in->by_src.off.t != nullptr) {
        a.soff = (const int64_t *)gids_tensor_data(in->by_src.off.t);
        a.sperm = (const int64_t *)gids_tensor_data(in->by_src.perm.t);
    }
    a.gout = (const T *)in->gout;
    a.galpha = (const T *)in->galpha;
    a.alpha_in = (const T *)in->alpha;
    return a;
}

/* ---------------------------------------------------------------- forward entries */

template <typename T>
static void run_forward(const att_call *in, double slope, gids_tensor *o, gids_tensor *al) {
    att_args<T> a = args_of<T>(in, slope);
    a.out = (T *)gids_tensor_data(o);
    a.alpha = (T *)gids_tensor_data(al);
    if (in->v2)
        launch_pairs<true, T>(true, a);
    else
        launch_pairs<false, T>(true, a);
}

static gids_status forward(att_call *in, double slope, gids_tensor **out, gids_tensor **alpha) {
    GIDS_TRY(plan(in, false));
    int64_t os[3] = {in->N, in->H, in->C}, as[2] = {in->E, in->H};
    gids_device dev = gc_dev(in->held[0].t);
    gc_ref o, al;
    GIDS_TRY(gids_empty(&o.t, in->dt, dev, 3, os));
    GIDS_TRY(gids_empty(&al.t, in->dt, dev, 2, as));
    if (in->N * in->H > 0) {
        if (in->dt == GIDS_F32)
            run_forward<float>(in, slope, o.t, al.t);
        else
            run_forward<double>(in, slope, o.t, al.t);
        GC_LAUNCHED(in->op);
    }
    *out = o.take();
    if (alpha != nullptr) *alpha = al.take();
    return GIDS_OK;
}

gids_status gc_gatv2_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *xl,
                               const gids_tensor *xr, const gids_tensor *edge_proj,
                               const gids_tensor *att, const gids_tensor *edge_index,
                               int64_t num_nodes, double negative_slope,
                               const gids_tensor *dropout_scale) {
    att_call in;
    in.op = "gatv2_attention";
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", in.op);
    *out = nullptr;
    if (alpha != nullptr) *alpha = nullptr;
    GIDS_TRY(check_v2(&in, xl, xr, edge_proj, att, edge_index, num_nodes, dropout_scale));
    return forward(&in, negative_slope, out, alpha);
}

gids_status gc_gat_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *x,
                             const gids_tensor *a_src, const gids_tensor *a_dst,
                             const gids_tensor *a_edge, const gids_tensor *edge_index,
                             int64_t num_nodes, double negative_slope,
                             const gids_tensor *dropout_scale) {
    att_call in;
    in.op = "gat_attention";
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", in.op);
    *out = nullptr;
    if (alpha != nullptr) *alpha = nullptr;
    GIDS_TRY(check_v1(&in, x, a_src, a_dst, a_edge, edge_index, num_nodes, dropout_scale));
    return forward(&in, negative_slope, out, alpha);
}

/* ---------------------------------------------------------------- backward entries */

/* The backward's buffers: gradients (NULL where not wanted) and scratch. */
struct att_grads {
    gc_ref gx, gt, gs, ga, pa, buf;
};

template <typename T>
static void run_backward(const att_call *in, double slope, att_grads *g, bool want_asrc) {
    att_args<T> a = args_of<T>(in, slope);
    a.gx = g->gx.t ? (T *)gids_tensor_data(g->gx.t) : nullptr;
    a.gt = (T *)gids_tensor_data(g->gt.t);
    a.gs = (T *)gids_tensor_data(g->gs.t);
    a.buf = (T *)gids_tensor_data(g->buf.t);
    a.pa = g->pa.t ? (T *)gids_tensor_data(g->pa.t) : nullptr;
    a.gasrc = want_asrc ? (T *)gids_tensor_data(g->ga.t) : nullptr;
    if (in->v2)
        launch_pairs<true, T>(false, a);
    else
        launch_pairs<false, T>(false, a);
    if (a.gx != nullptr && a.C > 0) {
        unsigned blocks = gc_blocks(a.N * a.H * a.C);
        if (in->v2)
            att_backward_src<true, T><<<blocks, GC_THREADS, 0, gc_stream()>>>(a);
        else
            att_backward_src<false, T><<<blocks, GC_THREADS, 0, gc_stream()>>>(a);
    }
    if (a.gasrc != nullptr)
        att_backward_asrc<T><<<gc_blocks(a.N * a.H), GC_THREADS, 0, gc_stream()>>>(a);
}

/* dst[0..3]: the caller's destinations in the order x-like, target side, per edge, att/a_src. */
static gids_status backward(att_call *in, double slope, const gids_tensor *g_out,
                            const gids_tensor *g_alpha, const gids_tensor *alpha,
                            const gids_tensor *att_like, gids_tensor **dst[4]) {
    for (int i = 0; i < 4; i++)
        if (dst[i] != nullptr) *dst[i] = nullptr;
    int64_t xs[3] = {in->N, in->H, in->C}, es[3] = {in->E, in->H, in->C};
    int64_t ns[2] = {in->N, in->H}, e2[2] = {in->E, in->H};
    GIDS_TRY(take(in, "g_out", g_out, 3, xs, &in->gout));
    GIDS_TRY(take(in, "g_alpha", g_alpha, 2, e2, &in->galpha));
    GIDS_TRY(take(in, "alpha", alpha, 2, e2, &in->alpha));
    GIDS_CHECK(alpha != nullptr, GIDS_EINVAL, "%s: alpha (the forward's) is NULL", in->op);
    GIDS_TRY(plan(in, true));
    gids_device dev = gc_dev(in->held[0].t);
    att_grads g;
    if (dst[0] != nullptr) GIDS_TRY(gids_empty(&g.gx.t, in->dt, dev, 3, xs));
    GIDS_TRY(gids_empty(&g.gt.t, in->dt, dev, in->v2 ? 3 : 2, in->v2 ? xs : ns));
    GIDS_TRY(gids_empty(&g.gs.t, in->dt, dev, in->v2 ? 3 : 2, in->v2 ? es : e2));
    GIDS_TRY(gids_empty(&g.buf.t, in->dt, dev, 2, e2));
    if (in->v2) GIDS_TRY(gids_empty(&g.pa.t, in->dt, dev, 3, xs));
    if (dst[3] != nullptr)
        GIDS_TRY(gids_empty(&g.ga.t, in->dt, dev, in->v2 ? att_like->ndim : 2,
                            in->v2 ? att_like->shape : ns));
    if (in->N * in->H > 0) {
        bool want_asrc = !in->v2 && dst[3] != nullptr;
        if (in->dt == GIDS_F32)
            run_backward<float>(in, slope, &g, want_asrc);
        else
            run_backward<double>(in, slope, &g, want_asrc);
        GC_LAUNCHED(in->op);
    }
    if (in->v2 && dst[3] != nullptr) {
        /* att's gradient: the per-target partials folded over the nodes (fixed order) */
        if (in->N > 0) {
            gc_ref sum;
            int dim0 = 0;
            GIDS_TRY(gc_reduce(&sum.t, GIDS_SUM, g.pa.t, 1, &dim0, false));
            GIDS_TRY(gc_copy(g.ga.t, sum.t));
        } else {
            GIDS_TRY(gc_fill(g.ga.t, gids_scalar_f(0.0)));
        }
    }
    gc_ref *res[4] = {&g.gx, &g.gt, &g.gs, &g.ga};
    for (int i = 0; i < 4; i++)
        if (dst[i] != nullptr) *dst[i] = res[i]->take();
    return GIDS_OK;
}

gids_status gc_gatv2_attention_backward(gids_tensor **g_xl, gids_tensor **g_xr,
                                        gids_tensor **g_edge_proj, gids_tensor **g_att,
                                        const gids_tensor *g_out, const gids_tensor *g_alpha,
                                        const gids_tensor *xl, const gids_tensor *xr,
                                        const gids_tensor *edge_proj, const gids_tensor *att,
                                        const gids_tensor *edge_index, int64_t num_nodes,
                                        double negative_slope, const gids_tensor *dropout_scale,
                                        const gids_tensor *alpha) {
    att_call in;
    in.op = "gatv2_attention_backward";
    GIDS_TRY(check_v2(&in, xl, xr, edge_proj, att, edge_index, num_nodes, dropout_scale));
    GIDS_CHECK(edge_proj != nullptr || g_edge_proj == nullptr, GIDS_EINVAL,
               "%s: g_edge_proj asked for without edge_proj", in.op);
    gids_tensor **dst[4] = {g_xl, g_xr, g_edge_proj, g_att};
    return backward(&in, negative_slope, g_out, g_alpha, alpha, att, dst);
}

gids_status gc_gat_attention_backward(gids_tensor **g_x, gids_tensor **g_a_src,
                                      gids_tensor **g_a_dst, gids_tensor **g_a_edge,
                                      const gids_tensor *g_out, const gids_tensor *g_alpha,
                                      const gids_tensor *x, const gids_tensor *a_src,
                                      const gids_tensor *a_dst, const gids_tensor *a_edge,
                                      const gids_tensor *edge_index, int64_t num_nodes,
                                      double negative_slope, const gids_tensor *dropout_scale,
                                      const gids_tensor *alpha) {
    att_call in;
    in.op = "gat_attention_backward";
    GIDS_TRY(check_v1(&in, x, a_src, a_dst, a_edge, edge_index, num_nodes, dropout_scale));
    GIDS_CHECK(a_edge != nullptr || g_a_edge == nullptr, GIDS_EINVAL,
               "%s: g_a_edge asked for without a_edge", in.op);
    /* the order of backward()'s slots: x, target side (a_dst), per edge (a_edge), a_src */
    gids_tensor **dst[4] = {g_x, g_a_dst, g_a_edge, g_a_src};
    return backward(&in, negative_slope, g_out, g_alpha, alpha, a_src, dst);
}
