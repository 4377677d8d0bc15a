/* graph_attention.c -- fused GAT / GATv2 attention: scores, segment softmax over each target's
 * incoming edges and the weighted aggregation of source rows, forward and backward.
 *
 * Why fused: composed from plain ops, one GATv2 layer materialises five [E, H, C] tensors in
 * the forward (gathered xl and xr rows, their sum, leaky_relu, the product with att) and as many
 * again in the backward, and sorts the target index three times.  Here the forward reads each
 * source row twice from cache (score, then aggregation) and writes only out and alpha; the
 * backward writes one [E, H, C] buffer (the score gradient per edge, which is edge_proj's
 * gradient anyway) and [E, H] values.
 *
 * Determinism: edges are grouped by a stable counting sort (by target for the forward and the
 * first backward pass, by source for the second), each node is reduced by one thread in edge
 * order, and att's gradient is summed per fixed block of targets (ATT_PART, not per thread) and
 * the blocks added in order, so every thread count gives the same bits.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gids/graph.h"

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"

/* Targets (or sources) handed to a thread at a time: node degrees vary, hence dynamic. */
#define ATT_CHUNK 64
/* Targets per partial sum of att's gradient: fixed, so the sum order is the thread count's
 * business only through which thread computes a block, never how the blocks are added. */
#define ATT_PART 256

/* ---------------------------------------------------------------- edges grouped by node */

typedef struct att_plan {
    int64_t *off;  /* N + 1: edges of node v are perm[off[v] .. off[v+1]) */
    int64_t *perm; /* edge numbers, grouped by node, in edge order within a node */
    int64_t maxdeg;
} att_plan;

static void plan_free(att_plan *p) {
    free(p->off);
    free(p->perm);
    p->off = p->perm = NULL;
}

/* Stable counting sort of the edges by key[k] (checked in [0, N)). */
static gids_status plan_build(const char *op, att_plan *p, const int64_t *key, int64_t E, int64_t N,
                              const char *what) {
    p->off = calloc((size_t)N + 2, sizeof(int64_t));
    p->perm = malloc(((size_t)E > 0 ? (size_t)E : 1) * sizeof(int64_t));
    p->maxdeg = 0;
    if (p->off == NULL || p->perm == NULL) {
        plan_free(p);
        GIDS_FAIL(GIDS_ENOMEM, "%s: cannot allocate the edge grouping of %lld edges", op,
                  (long long)E);
    }
    for (int64_t k = 0; k < E; k++) {
        int64_t v = key[k];
        if (v < 0 || v >= N) {
            plan_free(p);
            GIDS_FAIL(GIDS_EINDEX,
                      "%s: edge_index %s %lld of edge %lld is out of range [0, %lld) (num_nodes)",
                      op, what, (long long)v, (long long)k, (long long)N);
        }
        p->off[v + 2]++;
    }
    /* off[v + 2] holds counts; after the prefix sum off[v + 1] is node v's start, used as its
     * cursor by the placement, which leaves off[v + 1] at node v's end = node v+1's start. */
    for (int64_t v = 0; v < N; v++) {
        if (p->off[v + 2] > p->maxdeg) p->maxdeg = p->off[v + 2];
        p->off[v + 2] += p->off[v + 1];
    }
    for (int64_t k = 0; k < E; k++) p->perm[p->off[key[k] + 1]++] = k;
    return GIDS_OK;
}

/* ---------------------------------------------------------------- the job */

typedef struct att_job {
    int v2; /* 1: GATv2 (x = xl, xr, ep, att); 0: GAT (x, asrc, adst, aedge) */
    int64_t N, E, H, C;
    const void *x, *xr, *ep, *att, *asrc, *adst, *aedge, *scale, *alpha_in;
    const int64_t *src, *dst;
    att_plan by_dst, by_src;
    double slope;
    /* forward results */
    void *out, *alpha;
    /* backward: gradients in, gradients out, scratch */
    const void *gout, *galpha;
    void *gx, *gxr, *gatt_part, *gadst, *gasrc;
    void *gs; /* GATv2: [E, H, C] score gradient per edge; GAT: [E, H] */
    void *scratch;
} att_job;

/* The kernels, once per float type.  buf holds one value per edge of the current node. */
#define ATT_KERNELS(T, S, EXP)                                                                     \
    /* y += w * x over C values (restrict: rows never overlap; GCC then vectorises). */            \
    static inline void axpy_##S(int64_t C, T w, const T *restrict x, T *restrict y) {              \
        _Pragma("omp simd") for (int64_t c = 0; c < C; c++) y[c] += w * x[c];                      \
    }                                                                                              \
    /* y += w * x + z */                                                                           \
    static inline void axpyz_##S(int64_t C, T w, const T *restrict x, const T *restrict z,         \
                                 T *restrict y) {                                                  \
        _Pragma("omp simd") for (int64_t c = 0; c < C; c++) y[c] += w * x[c] + z[c];               \
    }                                                                                              \
                                                                                                   \
    static void fwd_##S(const att_job *j, int64_t i, T *buf) {                                     \
        const T *x = j->x, *sc = j->scale;                                                         \
        const int64_t *perm = j->by_dst.perm;                                                      \
        int64_t H = j->H, C = j->C, lo = j->by_dst.off[i], hi = j->by_dst.off[i + 1];              \
        T slope = (T)j->slope, *alpha = j->alpha;                                                  \
        for (int64_t h = 0; h < H; h++) {                                                          \
            T *o = (T *)j->out + (i * H + h) * C;                                                  \
            for (int64_t c = 0; c < C; c++) o[c] = 0;                                              \
            if (lo == hi) continue;                                                                \
            T m = -INFINITY;                                                                       \
            for (int64_t p = lo; p < hi; p++) {                                                    \
                int64_t k = perm[p];                                                               \
                T s = 0;                                                                           \
                if (j->v2) {                                                                       \
                    const T *xj = x + (j->src[k] * H + h) * C;                                     \
                    const T *r = (const T *)j->xr + (i * H + h) * C;                               \
                    const T *a = (const T *)j->att + h * C;                                        \
                    const T *pk = j->ep ? (const T *)j->ep + (k * H + h) * C : NULL;               \
                    if (pk) {                                                                      \
                        _Pragma("omp simd reduction(+ : s)") for (int64_t c = 0; c < C; c++) {     \
                            T v = xj[c] + r[c] + pk[c];                                            \
                            s += a[c] * (v > 0 ? v : v * slope);                                   \
                        }                                                                          \
                    } else {                                                                       \
                        _Pragma("omp simd reduction(+ : s)") for (int64_t c = 0; c < C; c++) {     \
                            T v = xj[c] + r[c];                                                    \
                            s += a[c] * (v > 0 ? v : v * slope);                                   \
                        }                                                                          \
                    }                                                                              \
                } else {                                                                           \
                    T v = ((const T *)j->asrc)[j->src[k] * H + h] +                                \
                          ((const T *)j->adst)[i * H + h] +                                        \
                          (j->aedge ? ((const T *)j->aedge)[k * H + h] : 0);                       \
                    s = v > 0 ? v : v * slope;                                                     \
                }                                                                                  \
                buf[p - lo] = s;                                                                   \
                m = s > m ? s : m;                                                                 \
            }                                                                                      \
            T z = 0;                                                                               \
            for (int64_t p = lo; p < hi; p++) {                                                    \
                buf[p - lo] = m == -INFINITY ? 0 : EXP(buf[p - lo] - m);                           \
                z += buf[p - lo];                                                                  \
            }                                                                                      \
            for (int64_t p = lo; p < hi; p++) {                                                    \
                int64_t k = perm[p];                                                               \
                T al = z > 0 ? buf[p - lo] / z : 0, w = sc ? al * sc[k * H + h] : al;              \
                const T *xj = x + (j->src[k] * H + h) * C;                                         \
                alpha[k * H + h] = al;                                                             \
                axpy_##S(C, w, xj, o);                                                             \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    /* One edge's score gradient: gs = de * att * leaky_relu'(v), added into the target's          \
     * gradient gr, and de * leaky_relu(v) into att's partial pa.  restrict: the rows never        \
     * overlap, and without it GCC does not vectorise the loop. */                                 \
    static inline void edge_grad_##S(                                                              \
        int64_t C, T de, T slope, const T *restrict xj, const T *restrict r, const T *restrict pk, \
        const T *restrict a, T *restrict gs, T *restrict gr, T *restrict pa) {                     \
        if (pk) {                                                                                  \
            _Pragma("omp simd") for (int64_t c = 0; c < C; c++) {                                  \
                T v = xj[c] + r[c] + pk[c], t = de * a[c];                                         \
                gs[c] = v > 0 ? t : t * slope;                                                     \
                gr[c] += gs[c];                                                                    \
                pa[c] += de * (v > 0 ? v : v * slope);                                             \
            }                                                                                      \
        } else {                                                                                   \
            _Pragma("omp simd") for (int64_t c = 0; c < C; c++) {                                  \
                T v = xj[c] + r[c], t = de * a[c];                                                 \
                gs[c] = v > 0 ? t : t * slope;                                                     \
                gr[c] += gs[c];                                                                    \
                pa[c] += de * (v > 0 ? v : v * slope);                                             \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    /* Pass 1, by target: the softmax and score gradients of i's edges, i's own gradient (xr or    \
     * a_dst), att's partial sum (pa, GATv2), and the per-edge score gradient gs. */               \
    static void bwd_dst_##S(const att_job *j, int64_t i, T *buf, T *pa) {                          \
        const T *x = j->x, *sc = j->scale, *alpha = j->alpha_in, *ga = j->galpha;                  \
        const int64_t *perm = j->by_dst.perm;                                                      \
        int64_t H = j->H, C = j->C, lo = j->by_dst.off[i], hi = j->by_dst.off[i + 1];              \
        T slope = (T)j->slope;                                                                     \
        for (int64_t h = 0; h < H; h++) {                                                          \
            T *gr = j->v2 ? (T *)j->gxr + (i * H + h) * C : (T *)j->gadst + i * H + h;             \
            int64_t w = j->v2 ? C : 1;                                                             \
            for (int64_t c = 0; c < w; c++) gr[c] = 0;                                             \
            if (lo == hi) continue;                                                                \
            const T *g = j->gout ? (const T *)j->gout + (i * H + h) * C : NULL;                    \
            T sum = 0;                                                                             \
            for (int64_t p = lo; p < hi; p++) {                                                    \
                int64_t k = perm[p];                                                               \
                T gw = 0;                                                                          \
                if (g) {                                                                           \
                    const T *xj = x + (j->src[k] * H + h) * C;                                     \
                    _Pragma("omp simd reduction(+ : gw)") for (int64_t c = 0; c < C; c++) gw +=    \
                        g[c] * xj[c];                                                              \
                }                                                                                  \
                T gak = (sc ? gw * sc[k * H + h] : gw) + (ga ? ga[k * H + h] : 0);                 \
                buf[p - lo] = gak;                                                                 \
                sum += alpha[k * H + h] * gak;                                                     \
            }                                                                                      \
            for (int64_t p = lo; p < hi; p++) {                                                    \
                int64_t k = perm[p];                                                               \
                T de = alpha[k * H + h] * (buf[p - lo] - sum);                                     \
                if (j->v2) {                                                                       \
                    edge_grad_##S(C, de, slope, x + (j->src[k] * H + h) * C,                       \
                                  (const T *)j->xr + (i * H + h) * C,                              \
                                  j->ep ? (const T *)j->ep + (k * H + h) * C : NULL,               \
                                  (const T *)j->att + h * C, (T *)j->gs + (k * H + h) * C, gr,     \
                                  pa + h * C);                                                     \
                } else {                                                                           \
                    T v = ((const T *)j->asrc)[j->src[k] * H + h] +                                \
                          ((const T *)j->adst)[i * H + h] +                                        \
                          (j->aedge ? ((const T *)j->aedge)[k * H + h] : 0);                       \
                    T gp = v > 0 ? de : de * slope;                                                \
                    ((T *)j->gs)[k * H + h] = gp;                                                  \
                    gr[0] += gp;                                                                   \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    /* Pass 2, by source: x's gradient (weighted target gradients plus, for GATv2, the score       \
     * gradients gs) and, for GAT, a_src's. */                                                     \
    static void bwd_src_##S(const att_job *j, int64_t v) {                                         \
        const T *sc = j->scale, *alpha = j->alpha_in, *gs = j->gs;                                 \
        const int64_t *perm = j->by_src.perm;                                                      \
        int64_t H = j->H, C = j->C, lo = j->by_src.off[v], hi = j->by_src.off[v + 1];              \
        for (int64_t h = 0; h < H; h++) {                                                          \
            T *gx = j->gx ? (T *)j->gx + (v * H + h) * C : NULL, as = 0;                           \
            if (gx)                                                                                \
                for (int64_t c = 0; c < C; c++) gx[c] = 0;                                         \
            for (int64_t p = lo; p < hi; p++) {                                                    \
                int64_t k = perm[p];                                                               \
                if (gx && j->gout) {                                                               \
                    T al = alpha[k * H + h], w = sc ? al * sc[k * H + h] : al;                     \
                    const T *g = (const T *)j->gout + (j->dst[k] * H + h) * C;                     \
                    if (j->v2)                                                                     \
                        axpyz_##S(C, w, g, gs + (k * H + h) * C, gx);                              \
                    else                                                                           \
                        axpy_##S(C, w, g, gx);                                                     \
                } else if (j->v2 && gx) {                                                          \
                    axpy_##S(C, 1, gs + (k * H + h) * C, gx);                                      \
                }                                                                                  \
                if (!j->v2) {                                                                      \
                    as += gs[k * H + h];                                                           \
                }                                                                                  \
            }                                                                                      \
            if (!j->v2 && j->gasrc) ((T *)j->gasrc)[v * H + h] = as;                               \
        }                                                                                          \
    }

ATT_KERNELS(float, f32, expf)
ATT_KERNELS(double, f64, exp)

/* ---------------------------------------------------------------- drivers */

/* One thread count for the scratch space and both loops. */
static int att_threads(const att_job *j) {
    return gids_threads_for(j->E * j->H * j->C * 4 + j->N * j->H * j->C);
}

/* Elements per thread of the scratch space: the largest in-degree, padded to 32 elements (128
 * bytes or more) so two threads never write the same cache line (unpadded, the few values a
 * node needs put both threads' buffers in one line, and the 2-thread forward of a 32-graph
 * batch ran slower than the 1-thread one). */
static int64_t scratch_stride(const att_job *j) {
    int64_t md = j->by_dst.maxdeg > 0 ? j->by_dst.maxdeg : 1;
    return (md + 31) / 32 * 32;
}

static void run_forward(att_job *j, gids_dtype dt) {
    int nt = att_threads(j);
    int64_t md = scratch_stride(j);
#pragma omp parallel for num_threads(nt) schedule(dynamic, ATT_CHUNK) if (nt > 1)
    for (int64_t i = 0; i < j->N; i++) {
        int t = omp_get_thread_num();
        if (dt == GIDS_F32)
            fwd_f32(j, i, (float *)j->scratch + t * md);
        else
            fwd_f64(j, i, (double *)j->scratch + t * md);
    }
}

static void run_backward(att_job *j, gids_dtype dt) {
    int nt = att_threads(j);
    int64_t md = scratch_stride(j), HC = j->H * j->C;
    int64_t nparts = (j->N + ATT_PART - 1) / ATT_PART;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int64_t b = 0; b < nparts; b++) {
        int t = omp_get_thread_num();
        int64_t hi = (b + 1) * ATT_PART < j->N ? (b + 1) * ATT_PART : j->N;
        for (int64_t i = b * ATT_PART; i < hi; i++) {
            if (dt == GIDS_F32)
                bwd_dst_f32(j, i, (float *)j->scratch + t * md,
                            j->gatt_part ? (float *)j->gatt_part + b * HC : NULL);
            else
                bwd_dst_f64(j, i, (double *)j->scratch + t * md,
                            j->gatt_part ? (double *)j->gatt_part + b * HC : NULL);
        }
    }
#pragma omp parallel for num_threads(nt) schedule(dynamic, ATT_CHUNK) if (nt > 1)
    for (int64_t v = 0; v < j->N; v++) {
        if (dt == GIDS_F32)
            bwd_src_f32(j, v);
        else
            bwd_src_f64(j, v);
    }
}

/* ---------------------------------------------------------------- argument checks */

typedef struct att_in {
    const char *op;
    gids_dtype dt;
    gids_tensor *held[12]; /* contiguous forms, released at the end */
    int nheld;
} att_in;

static void in_release(att_in *in) {
    for (int i = 0; i < in->nheld; i++) gids_tensor_release(in->held[i]);
    in->nheld = 0;
}

/* A contiguous form of t (NULL stays NULL) after checking device, dtype and shape (ndim dims;
 * want[d] < 0 matches any size).  *data receives its data. */
static gids_status in_take(att_in *in, const char *name, const gids_tensor *t, int ndim,
                           const int64_t *want, const void **data) {
    char a[96], b[96];
    *data = NULL;
    if (t == NULL) return GIDS_OK;
    if (!gids_is_cpu(t)) return gids_no_kernel(in->op, t);
    if (name[0] == 'e' && strcmp(name, "edge_index") == 0) {
        GIDS_CHECK(t->dtype == GIDS_I64, GIDS_EDTYPE, "%s: edge_index must be i64, got %s", in->op,
                   gids_dtype_name(t->dtype));
    } else {
        GIDS_CHECK(t->dtype == in->dt, GIDS_EDTYPE, "%s: %s has dtype %s, expected %s (x's dtype)",
                   in->op, name, gids_dtype_name(t->dtype), gids_dtype_name(in->dt));
    }
    bool ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = want[d] < 0 || t->shape[d] == want[d];
    GIDS_CHECK(ok, GIDS_ESHAPE, "%s: %s has shape %s, expected %s", in->op, name,
               gids_shape_str(t->ndim, t->shape, a, sizeof a),
               gids_shape_str(ndim, want, b, sizeof b));
    gids_tensor *c = NULL;
    GIDS_TRY(gids_contiguous(&c, t));
    in->held[in->nheld++] = c;
    *data = gids_tensor_data(c);
    return GIDS_OK;
}

/* The shared checks: x [N, H, C] float with N == num_nodes, edge_index [2, E] i64. */
static gids_status in_start(att_in *in, att_job *j, const gids_tensor *x,
                            const gids_tensor *edge_index, int64_t num_nodes) {
    char a[96];
    GIDS_CHECK(x != NULL && edge_index != NULL, GIDS_EINVAL, "%s: %s is NULL", in->op,
               x == NULL ? "x" : "edge_index");
    if (!gids_is_cpu(x)) return gids_no_kernel(in->op, x);
    GIDS_CHECK(x->dtype == GIDS_F32 || x->dtype == GIDS_F64, GIDS_EDTYPE,
               "%s: x must be f32 or f64, got %s", in->op, gids_dtype_name(x->dtype));
    GIDS_CHECK(x->ndim == 3, GIDS_ESHAPE, "%s: x must have shape [N, heads, channels], got %s",
               in->op, gids_shape_str(x->ndim, x->shape, a, sizeof a));
    GIDS_CHECK(x->shape[0] == num_nodes, GIDS_ESHAPE,
               "%s: x has %lld rows, expected num_nodes = %lld", in->op, (long long)x->shape[0],
               (long long)num_nodes);
    GIDS_CHECK(edge_index->ndim == 2 && edge_index->shape[0] == 2, GIDS_ESHAPE,
               "%s: edge_index must have shape [2, E], got %s", in->op,
               gids_shape_str(edge_index->ndim, edge_index->shape, a, sizeof a));
    in->dt = x->dtype;
    memset(j, 0, sizeof *j);
    j->N = num_nodes;
    j->H = x->shape[1];
    j->C = x->shape[2];
    j->E = edge_index->shape[1];
    const void *d = NULL;
    int64_t xs[3] = {j->N, j->H, j->C}, es[2] = {2, j->E};
    GIDS_TRY(in_take(in, "x", x, 3, xs, &j->x));
    GIDS_TRY(in_take(in, "edge_index", edge_index, 2, es, &d));
    j->src = d;
    j->dst = j->src + j->E;
    return GIDS_OK;
}

static gids_status check_v2(att_in *in, att_job *j, const gids_tensor *xl, const gids_tensor *xr,
                            const gids_tensor *ep, const gids_tensor *att,
                            const gids_tensor *edge_index, int64_t num_nodes,
                            const gids_tensor *scale) {
    GIDS_TRY(in_start(in, j, xl, edge_index, num_nodes));
    j->v2 = 1;
    int64_t xs[3] = {j->N, j->H, j->C}, es[3] = {j->E, j->H, j->C}, sc[2] = {j->E, j->H};
    GIDS_CHECK(xr != NULL && att != NULL, GIDS_EINVAL, "%s: %s is NULL", in->op,
               xr == NULL ? "xr" : "att");
    GIDS_TRY(in_take(in, "xr", xr, 3, xs, &j->xr));
    GIDS_TRY(in_take(in, "edge_proj", ep, 3, es, &j->ep));
    /* att: [H, C] or PyG's parameter shape [1, H, C] */
    int64_t a2[2] = {j->H, j->C}, a3[3] = {1, j->H, j->C};
    GIDS_TRY(in_take(in, "att", att, att->ndim == 3 ? 3 : 2, att->ndim == 3 ? a3 : a2, &j->att));
    GIDS_TRY(in_take(in, "dropout_scale", scale, 2, sc, &j->scale));
    return GIDS_OK;
}

static gids_status check_v1(att_in *in, att_job *j, const gids_tensor *x, const gids_tensor *as,
                            const gids_tensor *ad, const gids_tensor *ae,
                            const gids_tensor *edge_index, int64_t num_nodes,
                            const gids_tensor *scale) {
    GIDS_TRY(in_start(in, j, x, edge_index, num_nodes));
    int64_t ns[2] = {j->N, j->H}, es[2] = {j->E, j->H};
    GIDS_CHECK(as != NULL && ad != NULL, GIDS_EINVAL, "%s: %s is NULL", in->op,
               as == NULL ? "a_src" : "a_dst");
    GIDS_TRY(in_take(in, "a_src", as, 2, ns, &j->asrc));
    GIDS_TRY(in_take(in, "a_dst", ad, 2, ns, &j->adst));
    GIDS_TRY(in_take(in, "a_edge", ae, 2, es, &j->aedge));
    GIDS_TRY(in_take(in, "dropout_scale", scale, 2, es, &j->scale));
    return GIDS_OK;
}

static void job_free(att_job *j) {
    plan_free(&j->by_dst);
    plan_free(&j->by_src);
    free(j->scratch);
    free(j->gatt_part);
    j->scratch = j->gatt_part = NULL;
}

static gids_status alloc_scratch(const char *op, att_job *j, size_t esz) {
    int nt = att_threads(j);
    int64_t md = scratch_stride(j);
    /* every OpenMP thread number the loops can see: nt, or 1 when they run serially */
    j->scratch = malloc((size_t)(nt > 1 ? nt : 1) * (size_t)md * esz);
    GIDS_CHECK(j->scratch != NULL, GIDS_ENOMEM, "%s: cannot allocate scratch space", op);
    return GIDS_OK;
}

/* ---------------------------------------------------------------- forward */

static gids_status forward(att_in *in, att_job *j, gids_tensor **out, gids_tensor **alpha) {
    gids_tensor *o = NULL, *a = NULL;
    int64_t os[3] = {j->N, j->H, j->C}, as[2] = {j->E, j->H};
    gids_status s = plan_build(in->op, &j->by_dst, j->dst, j->E, j->N, "target");
    /* the sources are checked too, though only the backward groups by them */
    for (int64_t k = 0; s == GIDS_OK && k < j->E; k++)
        if (j->src[k] < 0 || j->src[k] >= j->N)
            s = gids_error_set(GIDS_EINDEX, __FILE__, __LINE__,
                               "%s: edge_index source %lld of edge %lld is out of range [0, %lld) "
                               "(num_nodes)",
                               in->op, (long long)j->src[k], (long long)k, (long long)j->N);
    if (s == GIDS_OK) s = alloc_scratch(in->op, j, gids_dtype_size(in->dt));
    if (s == GIDS_OK) s = gids_empty_named(in->op, &o, in->dt, GIDS_DEVICE_CPU, 3, os);
    if (s == GIDS_OK) s = gids_empty_named(in->op, &a, in->dt, GIDS_DEVICE_CPU, 2, as);
    if (s == GIDS_OK) {
        j->out = gids_tensor_data(o);
        j->alpha = gids_tensor_data(a);
        run_forward(j, in->dt);
        *out = o;
        o = NULL;
        if (alpha != NULL) {
            *alpha = a;
            a = NULL;
        }
    }
    gids_tensor_release(o);
    gids_tensor_release(a);
    job_free(j);
    in_release(in);
    return s;
}

gids_status gids_gatv2_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *xl,
                                 const gids_tensor *xr, const gids_tensor *edge_proj,
                                 const gids_tensor *att, const gids_tensor *edge_index,
                                 int64_t num_nodes, double negative_slope,
                                 const gids_tensor *dropout_scale) {
    GIDS_CHECK(out != NULL && alpha != NULL, GIDS_EINVAL,
               "gatv2_attention: out and alpha must not be NULL");
    GIDS_ON_DEVICE("gatv2_attention", gatv2_attention, xl, xr, edge_proj, att, edge_index,
                   dropout_scale)
    (out, alpha, xl, xr, edge_proj, att, edge_index, num_nodes, negative_slope, dropout_scale);
    att_in in = {.op = "gatv2_attention"};
    att_job j;
    gids_status s = check_v2(&in, &j, xl, xr, edge_proj, att, edge_index, num_nodes, dropout_scale);
    if (s != GIDS_OK) {
        in_release(&in);
        return s;
    }
    j.slope = negative_slope;
    return forward(&in, &j, out, alpha);
}

gids_status gids_gat_attention(gids_tensor **out, gids_tensor **alpha, const gids_tensor *x,
                               const gids_tensor *a_src, const gids_tensor *a_dst,
                               const gids_tensor *a_edge, const gids_tensor *edge_index,
                               int64_t num_nodes, double negative_slope,
                               const gids_tensor *dropout_scale) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "gat_attention: out is NULL"); /* alpha is optional */
    GIDS_ON_DEVICE("gat_attention", gat_attention, x, a_src, a_dst, a_edge, edge_index,
                   dropout_scale)
    (out, alpha, x, a_src, a_dst, a_edge, edge_index, num_nodes, negative_slope, dropout_scale);
    att_in in = {.op = "gat_attention"};
    att_job j;
    gids_status s =
        check_v1(&in, &j, x, a_src, a_dst, a_edge, edge_index, num_nodes, dropout_scale);
    if (s != GIDS_OK) {
        in_release(&in);
        return s;
    }
    j.slope = negative_slope;
    return forward(&in, &j, out, alpha);
}

/* ---------------------------------------------------------------- backward */

/* A NEW uninitialised gradient buffer (every element gets written by the passes). */
static gids_status grad_buf(att_in *in, gids_tensor **t, int ndim, const int64_t *shape) {
    return gids_empty_named(in->op, t, in->dt, GIDS_DEVICE_CPU, ndim, shape);
}

/* The sum of the att partials of the blocks, in block order (f64 accumulation). */
static void sum_parts(const att_job *j, gids_dtype dt, void *dst) {
    int64_t HC = j->H * j->C, nparts = (j->N + ATT_PART - 1) / ATT_PART;
    for (int64_t c = 0; c < HC; c++) {
        double acc = 0;
        for (int64_t b = 0; b < nparts; b++)
            acc += dt == GIDS_F32 ? ((const float *)j->gatt_part)[b * HC + c]
                                  : ((const double *)j->gatt_part)[b * HC + c];
        if (dt == GIDS_F32)
            ((float *)dst)[c] = (float)acc;
        else
            ((double *)dst)[c] = acc;
    }
}

/* Runs both passes; g[0..3] are the four gradients in the order of the op's inputs (x-like,
 * target-side, edge-side, att/a_src).  want[i]: the caller's destination i is not NULL. */
static gids_status backward(att_in *in, att_job *j, const gids_tensor *g_out,
                            const gids_tensor *g_alpha, const gids_tensor *alpha,
                            const gids_tensor *att_like, gids_tensor **dst[4]) {
    int64_t HC = j->H * j->C, nparts = (j->N + ATT_PART - 1) / ATT_PART;
    int64_t xs[3] = {j->N, j->H, j->C}, es[3] = {j->E, j->H, j->C}, ns[2] = {j->N, j->H};
    int64_t e2[2] = {j->E, j->H};
    gids_tensor *gx = NULL, *gt = NULL, *gs = NULL, *ga = NULL;
    const void *d = NULL;
    gids_status s = in_take(in, "g_out", g_out, 3, xs, &j->gout);
    if (s == GIDS_OK) s = in_take(in, "g_alpha", g_alpha, 2, e2, &j->galpha);
    if (s == GIDS_OK) s = in_take(in, "alpha", alpha, 2, e2, &d);
    j->alpha_in = d;
    if (s == GIDS_OK && alpha == NULL)
        s = gids_error_set(GIDS_EINVAL, __FILE__, __LINE__, "%s: alpha (the forward's) is NULL",
                           in->op);
    if (s == GIDS_OK) s = plan_build(in->op, &j->by_dst, j->dst, j->E, j->N, "target");
    if (s == GIDS_OK) s = plan_build(in->op, &j->by_src, j->src, j->E, j->N, "source");
    if (s == GIDS_OK) s = alloc_scratch(in->op, j, gids_dtype_size(in->dt));
    /* every pass writes the target-side and per-edge buffers; x's only when wanted */
    if (s == GIDS_OK && dst[0] != NULL) s = grad_buf(in, &gx, 3, xs);
    if (s == GIDS_OK) s = grad_buf(in, &gt, j->v2 ? 3 : 2, j->v2 ? xs : ns);
    if (s == GIDS_OK) s = grad_buf(in, &gs, j->v2 ? 3 : 2, j->v2 ? es : e2);
    if (s == GIDS_OK && dst[3] != NULL)
        s = j->v2 ? gids_empty_named(in->op, &ga, in->dt, GIDS_DEVICE_CPU, att_like->ndim,
                                     att_like->shape)
                  : grad_buf(in, &ga, 2, ns);
    if (s == GIDS_OK && j->v2) {
        /* pass 1 always adds into att's per-block partials, wanted or not */
        j->gatt_part = calloc((size_t)(nparts * HC), gids_dtype_size(in->dt));
        if (j->gatt_part == NULL)
            s = gids_error_set(GIDS_ENOMEM, __FILE__, __LINE__,
                               "%s: cannot allocate att's partial sums", in->op);
    }
    if (s == GIDS_OK) {
        j->gx = gx ? gids_tensor_data(gx) : NULL;
        if (j->v2)
            j->gxr = gids_tensor_data(gt);
        else
            j->gadst = gids_tensor_data(gt);
        j->gs = gids_tensor_data(gs);
        if (!j->v2 && ga) j->gasrc = gids_tensor_data(ga);
    }
    if (s == GIDS_OK) {
        run_backward(j, in->dt);
        if (j->v2 && ga) sum_parts(j, in->dt, gids_tensor_data(ga));
        gids_tensor *res[4] = {gx, gt, gs, ga};
        for (int i = 0; i < 4; i++) {
            if (dst[i] != NULL) {
                *dst[i] = res[i];
                if (i == 0) gx = NULL;
                if (i == 1) gt = NULL;
                if (i == 2) gs = NULL;
                if (i == 3) ga = NULL;
            }
        }
    }
    gids_tensor_release(gx);
    gids_tensor_release(gt);
    gids_tensor_release(gs);
    gids_tensor_release(ga);
    job_free(j);
    in_release(in);
    return s;
}

gids_status gids_gatv2_attention_backward(gids_tensor **g_xl, gids_tensor **g_xr,
                                          gids_tensor **g_edge_proj, gids_tensor **g_att,
                                          const gids_tensor *g_out, const gids_tensor *g_alpha,
                                          const gids_tensor *xl, const gids_tensor *xr,
                                          const gids_tensor *edge_proj, const gids_tensor *att,
                                          const gids_tensor *edge_index, int64_t num_nodes,
                                          double negative_slope, const gids_tensor *dropout_scale,
                                          const gids_tensor *alpha) {
    GIDS_ON_DEVICE("gatv2_attention_backward", gatv2_attention_backward, xl, xr, edge_proj, att,
                   edge_index, g_out, g_alpha, dropout_scale, alpha)
    (g_xl, g_xr, g_edge_proj, g_att, g_out, g_alpha, xl, xr, edge_proj, att, edge_index, num_nodes,
     negative_slope, dropout_scale, alpha);
    att_in in = {.op = "gatv2_attention_backward"};
    att_job j;
    gids_status s = check_v2(&in, &j, xl, xr, edge_proj, att, edge_index, num_nodes, dropout_scale);
    if (s == GIDS_OK && edge_proj == NULL && g_edge_proj != NULL)
        s = gids_error_set(GIDS_EINVAL, __FILE__, __LINE__,
                           "%s: g_edge_proj asked for without edge_proj", in.op);
    if (s != GIDS_OK) {
        in_release(&in);
        return s;
    }
    j.slope = negative_slope;
    gids_tensor **dst[4] = {g_xl, g_xr, g_edge_proj, g_att};
    return backward(&in, &j, g_out, g_alpha, alpha, att, dst);
}

gids_status gids_gat_attention_backward(gids_tensor **g_x, gids_tensor **g_a_src,
                                        gids_tensor **g_a_dst, gids_tensor **g_a_edge,
                                        const gids_tensor *g_out, const gids_tensor *g_alpha,
                                        const gids_tensor *x, const gids_tensor *a_src,
                                        const gids_tensor *a_dst, const gids_tensor *a_edge,
                                        const gids_tensor *edge_index, int64_t num_nodes,
                                        double negative_slope, const gids_tensor *dropout_scale,
                                        const gids_tensor *alpha) {
    GIDS_ON_DEVICE("gat_attention_backward", gat_attention_backward, x, a_src, a_dst, a_edge,
                   edge_index, g_out, g_alpha, dropout_scale, alpha)
    (g_x, g_a_src, g_a_dst, g_a_edge, g_out, g_alpha, x, a_src, a_dst, a_edge, edge_index,
     num_nodes, negative_slope, dropout_scale, alpha);
    att_in in = {.op = "gat_attention_backward"};
    att_job j;
    gids_status s =
        check_v1(&in, &j, x, a_src, a_dst, a_edge, edge_index, num_nodes, dropout_scale);
    if (s == GIDS_OK && a_edge == NULL && g_a_edge != NULL)
        s = gids_error_set(GIDS_EINVAL, __FILE__, __LINE__, "%s: g_a_edge asked for without a_edge",
                           in.op);
    if (s != GIDS_OK) {
        in_release(&in);
        return s;
    }
    j.slope = negative_slope;
    /* order of backward()'s slots: x, target side (a_dst), per edge (a_edge), a_src */
    gids_tensor **dst[4] = {g_x, g_a_dst, g_a_edge, g_a_src};
    return backward(&in, &j, g_out, g_alpha, alpha, a_src, dst);
}
