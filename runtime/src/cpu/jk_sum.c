/* jk_sum.c -- CPU kernels of the jumping-knowledge weighted sum (gids/rnn.h: gids_jk_sum).
 *
 * out[n, c] = sum_t alpha[t, n] x[t, n, c].  Rows n are independent: the row loop is split among
 * threads and every sum runs in one order (t, or c in the backward) with an f64 accumulator, so
 * results are the same for every thread count and match the CUDA kernels' order.
 */
#include "gids/rnn.h"

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"

/* The checked operands: dtype, sizes and contiguous data (copies held when strided). */
typedef struct {
    const char *op;
    gids_dtype dt;
    int64_t T, N, C;
    const void *x, *a, *g;
    gids_tensor *held[3];
    int nheld;
} jk_in;

static void jk_release(jk_in *in) {
    for (int i = 0; i < in->nheld; i++) gids_tensor_release(in->held[i]);
    in->nheld = 0;
}

/* t (not NULL) has the call's dtype and the given shape, on any device: checked before a call
 * is handed to a device backend, so every device gives these messages (the CUDA entries trust
 * them). */
static gids_status check_operand(const jk_in *in, const char *name, const gids_tensor *t, int ndim,
                                 const int64_t *shape) {
    char a[96], b[96];
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "%s: %s is NULL", in->op, name);
    GIDS_CHECK(t->dtype == in->dt, GIDS_EDTYPE, "%s: %s has dtype %s, expected %s (that of x)",
               in->op, name, gids_dtype_name(t->dtype), gids_dtype_name(in->dt));
    bool same = t->ndim == ndim;
    for (int k = 0; same && k < ndim; k++) same = t->shape[k] == shape[k];
    GIDS_CHECK(same, GIDS_ESHAPE, "%s: %s has shape %s, expected %s", in->op, name,
               gids_shape_str(t->ndim, t->shape, a, sizeof a),
               gids_shape_str(ndim, shape, b, sizeof b));
    return GIDS_OK;
}

/* x [T, N, C] fixes the dtype and sizes; alpha [T, N]; g [N, C] when given. */
static gids_status check_args(jk_in *in, const gids_tensor *x, const gids_tensor *alpha,
                              const gids_tensor *g) {
    char a[96];
    GIDS_CHECK(x != NULL, GIDS_EINVAL, "%s: x is NULL", in->op);
    GIDS_CHECK(x->dtype == GIDS_F32 || x->dtype == GIDS_F64, GIDS_EDTYPE,
               "%s: x must be f32 or f64, got %s", in->op, gids_dtype_name(x->dtype));
    GIDS_CHECK(x->ndim == 3, GIDS_ESHAPE, "%s: x must have shape [T, N, C], got %s", in->op,
               gids_shape_str(x->ndim, x->shape, a, sizeof a));
    in->dt = x->dtype;
    in->T = x->shape[0];
    in->N = x->shape[1];
    in->C = x->shape[2];
    int64_t as[2] = {in->T, in->N}, gs[2] = {in->N, in->C};
    GIDS_TRY(check_operand(in, "alpha", alpha, 2, as));
    if (g != NULL) GIDS_TRY(check_operand(in, "g", g, 2, gs));
    return GIDS_OK;
}

/* The checked CPU operands' contiguous data (copies held when strided). */
static gids_status take(jk_in *in, const gids_tensor *t, const void **data) {
    gids_tensor *c = NULL;
    GIDS_TRY(gids_contiguous(&c, t));
    in->held[in->nheld++] = c;
    *data = gids_tensor_data(c);
    return GIDS_OK;
}

static gids_status prepare(jk_in *in, const gids_tensor *x, const gids_tensor *alpha,
                           const gids_tensor *g) {
    gids_status st = take(in, x, &in->x);
    if (st == GIDS_OK) st = take(in, alpha, &in->a);
    if (st == GIDS_OK && g != NULL) st = take(in, g, &in->g);
    if (st != GIDS_OK) jk_release(in);
    return st;
}

#define JK_FWD(TY, sfx)                                                                            \
    static void fwd_##sfx(const jk_in *in, TY *o) {                                                \
        const TY *x = in->x, *a = in->a;                                                           \
        int64_t T = in->T, N = in->N, C = in->C;                                                   \
        int nt = gids_threads_for(T * N * C);                                                      \
        _Pragma("omp parallel for num_threads(nt) schedule(static) if (nt > 1)") for (             \
            int64_t n = 0; n < N; n++) for (int64_t c = 0; c < C; c++) {                           \
            double acc = 0.0;                                                                      \
            for (int64_t t = 0; t < T; t++)                                                        \
                acc += (double)a[t * N + n] * (double)x[(t * N + n) * C + c];                      \
            o[n * C + c] = (TY)acc;                                                                \
        }                                                                                          \
    }
JK_FWD(float, f32)
JK_FWD(double, f64)

#define JK_BWD(TY, sfx)                                                                            \
    static void bwd_##sfx(const jk_in *in, TY *gx, TY *ga) {                                       \
        const TY *x = in->x, *a = in->a, *g = in->g;                                               \
        int64_t T = in->T, N = in->N, C = in->C;                                                   \
        int nt = gids_threads_for(T * N * C);                                                      \
        _Pragma("omp parallel for num_threads(nt) schedule(static) if (nt > 1)") for (             \
            int64_t n = 0; n < N; n++) for (int64_t t = 0; t < T; t++) {                           \
            const TY *gr = g + n * C, *xr = x + (t * N + n) * C;                                   \
            if (ga != NULL) {                                                                      \
                double acc = 0.0;                                                                  \
                for (int64_t c = 0; c < C; c++) acc += (double)gr[c] * (double)xr[c];              \
                ga[t * N + n] = (TY)acc;                                                           \
            }                                                                                      \
            if (gx != NULL) {                                                                      \
                TY w = a[t * N + n], *o = gx + (t * N + n) * C;                                    \
                for (int64_t c = 0; c < C; c++) o[c] = w * gr[c];                                  \
            }                                                                                      \
        }                                                                                          \
    }
JK_BWD(float, f32)
JK_BWD(double, f64)

gids_status gids_jk_sum(gids_tensor **out, const gids_tensor *x, const gids_tensor *alpha) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "jk_sum: out is NULL");
    *out = NULL;
    jk_in in = {.op = "jk_sum"};
    GIDS_TRY(check_args(&in, x, alpha, NULL));
    GIDS_ON_DEVICE("jk_sum", jk_sum, x, alpha)(out, x, alpha);
    GIDS_TRY(prepare(&in, x, alpha, NULL));
    int64_t os[2] = {in.N, in.C};
    gids_status st = gids_empty_named(in.op, out, in.dt, GIDS_DEVICE_CPU, 2, os);
    if (st == GIDS_OK) {
        if (in.dt == GIDS_F32)
            fwd_f32(&in, gids_tensor_data(*out));
        else
            fwd_f64(&in, gids_tensor_data(*out));
    }
    jk_release(&in);
    return st;
}

gids_status gids_jk_sum_backward(gids_tensor **g_x, gids_tensor **g_alpha, const gids_tensor *g,
                                 const gids_tensor *x, const gids_tensor *alpha) {
    if (g_x != NULL) *g_x = NULL;
    if (g_alpha != NULL) *g_alpha = NULL;
    GIDS_CHECK(g != NULL, GIDS_EINVAL, "jk_sum_backward: g is NULL");
    jk_in in = {.op = "jk_sum_backward"};
    GIDS_TRY(check_args(&in, x, alpha, g));
    GIDS_ON_DEVICE("jk_sum_backward", jk_sum_backward, g, x, alpha)(g_x, g_alpha, g, x, alpha);
    GIDS_TRY(prepare(&in, x, alpha, g));
    int64_t xs[3] = {in.T, in.N, in.C}, as[2] = {in.T, in.N};
    gids_status st = GIDS_OK;
    if (g_x != NULL) st = gids_empty_named(in.op, g_x, in.dt, GIDS_DEVICE_CPU, 3, xs);
    if (st == GIDS_OK && g_alpha != NULL)
        st = gids_empty_named(in.op, g_alpha, in.dt, GIDS_DEVICE_CPU, 2, as);
    if (st == GIDS_OK) {
        void *gx = g_x != NULL ? gids_tensor_data(*g_x) : NULL;
        void *ga = g_alpha != NULL ? gids_tensor_data(*g_alpha) : NULL;
        if (in.dt == GIDS_F32)
            bwd_f32(&in, gx, ga);
        else
            bwd_f64(&in, gx, ga);
    } else {
        if (g_x != NULL) {
            gids_tensor_release(*g_x);
            *g_x = NULL;
        }
    }
    jk_release(&in);
    return st;
}
