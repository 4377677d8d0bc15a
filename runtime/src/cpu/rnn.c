/* rnn.c -- CPU kernels of the fused LSTM cell (gids/rnn.h).
 *
 * Rows are independent and every element is computed on its own, so the row loop is split
 * among threads freely: the results are the same for every thread count.  The per-row work is
 * a straight loop over the H channels that reads the four gate blocks side by side (the row
 * kernels of lstm_cell_impl.h, shared with bilstm.c).
 */
#include <math.h>
#include <string.h>

#include "gids/rnn.h"

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "lstm_cell_impl.h"

/* One [N, W] operand: its data and row stride in elements (the last dim has unit stride). */
typedef struct {
    const void *p;
    int64_t rs;
} rows_in;

/* The operands of one call: their dtype and the contiguous copies it had to make. */
typedef struct {
    const char *op;
    gids_dtype dt;
    gids_tensor *held[6];
    int nheld;
} cell_in;

static void release_held(cell_in *in) {
    for (int i = 0; i < in->nheld; i++) gids_tensor_release(in->held[i]);
    in->nheld = 0;
}

/* Checks t (NULL gives an empty operand) is a CPU tensor of the call's dtype with shape
 * [N, W], and gives its rows, copying it first when its last dim is strided. */
static gids_status take(cell_in *in, const char *name, const gids_tensor *t, int64_t N, int64_t W,
                        rows_in *r) {
    char a[96];
    r->p = NULL;
    r->rs = 0;
    if (t == NULL) return GIDS_OK;
    if (!gids_is_cpu(t)) return gids_no_kernel(in->op, t);
    GIDS_CHECK(t->dtype == in->dt, GIDS_EDTYPE, "%s: %s has dtype %s, expected %s", in->op, name,
               gids_dtype_name(t->dtype), gids_dtype_name(in->dt));
    GIDS_CHECK(t->ndim == 2 && t->shape[0] == N && t->shape[1] == W, GIDS_ESHAPE,
               "%s: %s has shape %s, expected [%lld,%lld]", in->op, name,
               gids_shape_str(t->ndim, t->shape, a, sizeof a), (long long)N, (long long)W);
    if (W > 1 && t->stride[1] != 1) {
        gids_tensor *c = NULL;
        GIDS_TRY(gids_contiguous(&c, t));
        in->held[in->nheld++] = c;
        t = c;
    }
    r->p = gids_tensor_data(t);
    r->rs = N > 1 ? t->stride[0] : W;
    return GIDS_OK;
}

/* The [N, 4H] operand (gates, or act in the backward), which fixes the dtype, N and H. */
static gids_status take_gates(cell_in *in, const char *name, const gids_tensor *gates, int64_t *N,
                              int64_t *H) {
    char a[96];
    GIDS_CHECK(gates != NULL, GIDS_EINVAL, "%s: %s is NULL", in->op, name);
    if (!gids_is_cpu(gates)) return gids_no_kernel(in->op, gates);
    GIDS_CHECK(gates->dtype == GIDS_F32 || gates->dtype == GIDS_F64, GIDS_EDTYPE,
               "%s: %s must be f32 or f64, got %s", in->op, name, gids_dtype_name(gates->dtype));
    GIDS_CHECK(gates->ndim == 2 && gates->shape[1] % 4 == 0, GIDS_ESHAPE,
               "%s: %s must have shape [N, 4 * hidden], got %s", in->op, name,
               gids_shape_str(gates->ndim, gates->shape, a, sizeof a));
    in->dt = gates->dtype;
    *N = gates->shape[0];
    *H = gates->shape[1] / 4;
    return GIDS_OK;
}

#define ROW(base, n, T) ((base).p != NULL ? (const T *)(base).p + (n) * (base).rs : NULL)

/* ---------------------------------------------------------------- forward */

gids_status gids_lstm_cell(gids_tensor **h, gids_tensor **c, gids_tensor **act,
                           const gids_tensor *gates, const gids_tensor *c_prev) {
    GIDS_ON_DEVICE("lstm_cell", lstm_cell, gates, c_prev)(h, c, act, gates, c_prev);
    cell_in in = {.op = "lstm_cell"};
    GIDS_CHECK(h != NULL && c != NULL, GIDS_EINVAL, "lstm_cell: h and c must not be NULL");
    *h = *c = NULL;
    if (act != NULL) *act = NULL;
    int64_t N = 0, H = 0;
    GIDS_TRY(take_gates(&in, "gates", gates, &N, &H));
    rows_in g, cp;
    gids_status st = take(&in, "gates", gates, N, 4 * H, &g);
    if (st == GIDS_OK) st = take(&in, "c_prev", c_prev, N, H, &cp);
    int64_t shape[2] = {N, H}, ashape[2] = {N, 4 * H};
    gids_device dev = gids_tensor_device(gates);
    /* the activated gates are written even when the caller does not keep them: the row loop
     * then runs as separate straight loops that vectorise */
    gids_tensor *a = NULL;
    if (st == GIDS_OK) st = gids_empty_named("lstm_cell", h, in.dt, dev, 2, shape);
    if (st == GIDS_OK) st = gids_empty_named("lstm_cell", c, in.dt, dev, 2, shape);
    if (st == GIDS_OK) st = gids_empty_named("lstm_cell", &a, in.dt, dev, 2, ashape);
    if (st != GIDS_OK) {
        release_held(&in);
        gids_tensor_release(*h);
        gids_tensor_release(*c);
        gids_tensor_release(a);
        *h = *c = NULL;
        return st;
    }
    void *hp = gids_tensor_data(*h), *cpo = gids_tensor_data(*c), *ap = gids_tensor_data(a);
    int nt = gids_threads_for(N * 4 * H);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t n = 0; n < N; n++) {
        if (in.dt == GIDS_F32)
            fwd_row_f32(H, ROW(g, n, float), ROW(cp, n, float), (float *)hp + n * H,
                        (float *)cpo + n * H, (float *)ap + n * 4 * H);
        else
            fwd_row_f64(H, ROW(g, n, double), ROW(cp, n, double), (double *)hp + n * H,
                        (double *)cpo + n * H, (double *)ap + n * 4 * H);
    }
    release_held(&in);
    if (act != NULL)
        *act = a;
    else
        gids_tensor_release(a);
    return GIDS_OK;
}

/* ---------------------------------------------------------------- backward */

/* A zero [N, W] operand standing for an absent one (one allocation; the absent cases are the
 * rare ones: an output without gradient, the first step's zero state). */
static gids_status zeros_rows(cell_in *in, const gids_tensor *like, int64_t N, int64_t W,
                              rows_in *r) {
    int64_t shape[2] = {N, W};
    gids_tensor *z = NULL;
    GIDS_TRY(gids_zeros_named(in->op, &z, in->dt, gids_tensor_device(like), 2, shape));
    in->held[in->nheld++] = z;
    r->p = gids_tensor_data(z);
    r->rs = W;
    return GIDS_OK;
}

gids_status gids_lstm_cell_backward(gids_tensor **g_gates, gids_tensor **g_c_prev,
                                    const gids_tensor *g_h, const gids_tensor *g_c,
                                    const gids_tensor *act, const gids_tensor *c_prev,
                                    const gids_tensor *c) {
    GIDS_ON_DEVICE("lstm_cell_backward", lstm_cell_backward, act, c, g_h, g_c, c_prev)
    (g_gates, g_c_prev, g_h, g_c, act, c_prev, c);
    cell_in in = {.op = "lstm_cell_backward"};
    if (g_gates != NULL) *g_gates = NULL;
    if (g_c_prev != NULL) *g_c_prev = NULL;
    int64_t N = 0, H = 0;
    GIDS_TRY(take_gates(&in, "act", act, &N, &H));
    GIDS_CHECK(c != NULL, GIDS_EINVAL, "lstm_cell_backward: c is NULL");
    rows_in a, gh, gc, cp, cv;
    gids_status st = take(&in, "act", act, N, 4 * H, &a);
    if (st == GIDS_OK) st = take(&in, "c", c, N, H, &cv);
    if (st == GIDS_OK) st = take(&in, "g_h", g_h, N, H, &gh);
    if (st == GIDS_OK) st = take(&in, "g_c", g_c, N, H, &gc);
    if (st == GIDS_OK) st = take(&in, "c_prev", c_prev, N, H, &cp);
    /* one zero block serves every absent operand: they are only read */
    rows_in zero = {NULL, 0};
    if (st == GIDS_OK && (g_h == NULL || g_c == NULL || c_prev == NULL))
        st = zeros_rows(&in, act, N, H, &zero);
    if (g_h == NULL) gh = zero;
    if (g_c == NULL) gc = zero;
    if (c_prev == NULL) cp = zero;
    int64_t shape[2] = {N, H}, gshape[2] = {N, 4 * H};
    gids_device dev = gids_tensor_device(act);
    /* both results are computed (the loop stays branch-free); an unwanted one is dropped */
    gids_tensor *gg = NULL, *gcp = NULL;
    if (st == GIDS_OK) st = gids_empty_named(in.op, &gg, in.dt, dev, 2, gshape);
    if (st == GIDS_OK) st = gids_empty_named(in.op, &gcp, in.dt, dev, 2, shape);
    if (st != GIDS_OK) {
        release_held(&in);
        gids_tensor_release(gg);
        gids_tensor_release(gcp);
        return st;
    }
    void *ggp = gids_tensor_data(gg), *gcpp = gids_tensor_data(gcp);
    int nt = gids_threads_for(N * 4 * H);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t n = 0; n < N; n++) {
        if (in.dt == GIDS_F32)
            bwd_row_f32(H, ROW(gh, n, float), ROW(gc, n, float), ROW(a, n, float),
                        ROW(cp, n, float), ROW(cv, n, float), (float *)ggp + n * 4 * H,
                        (float *)gcpp + n * H);
        else
            bwd_row_f64(H, ROW(gh, n, double), ROW(gc, n, double), ROW(a, n, double),
                        ROW(cp, n, double), ROW(cv, n, double), (double *)ggp + n * 4 * H,
                        (double *)gcpp + n * H);
    }
    release_held(&in);
    if (g_gates != NULL)
        *g_gates = gg;
    else
        gids_tensor_release(gg);
    if (g_c_prev != NULL && c_prev != NULL)
        *g_c_prev = gcp;
    else
        gids_tensor_release(gcp);
    return GIDS_OK;
}
