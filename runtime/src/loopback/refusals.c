/* refusals.c -- what the CUDA plugin refuses inside the entries it has, refused here too: the
 * dtypes (and reductions) its kernels lack, with its error code and its message text, so a
 * device path that a GPU run would stop on stops on the loopback device as well (and a spec can
 * pin the message: spec/gpu/refusal_check.lua).  GIDS_LOOPBACK_ALL=1 lifts these refusals, as
 * it fills the entries the CUDA plugin lacks (plugin.c).
 *
 * The rules (each family's admitted dtypes and its message) are the CUDA plugin's own,
 * written once in backend_common.h (gids_dtype_rule, gids_refuse_dtype, gids_refuse_reduce).
 * The lb_refuse_* functions (one per entry or family) hold each entry's conditions, taken from
 * runtime/src/cuda/<file>.cu (named at each): whoever changes where a refusal is asked there
 * changes it here.
 *
 * Order: the CUDA plugin checks an entry's arguments before refusing a dtype.  Each function
 * below restates the cheap ones of those checks (NULL, dtype agreement, the index's dtype, the
 * ranks a product needs) and leaves the call to the CPU op when one fails, so the CPU's error
 * (the CUDA plugin's, which restates the CPU's) is what comes back.  Checks of sizes and shapes
 * are not restated: a call with a refused dtype AND a shape error reports the refusal here, the
 * shape error on a GPU.
 *
 * Not mirrored: refusals that depend on sizes (scan's 2^31 blocks, cuBLAS's INT_MAX sizes) or on
 * cuBLAS layouts (blas.cu), and those no dtype can reach (copy_'s and fill_'s, index_select's,
 * gather's, scatter_'s and masked_select's element sizes: every dtype is 1, 2, 4 or 8 bytes;
 * elementwise.cu's compute dtypes: its gids_*_result_dtype already refuses f16 and bf16, and
 * every other compute dtype has a kernel).  That EDTYPE of binary and unary ops on f16 / bf16 is
 * restated (lb_refuse_binary, lb_refuse_unary): the CPU op on an alias words it otherwise.
 */
#include "loopback_impl.h"

static bool on_ = true;

void lb_refusals_init(bool lifted) {
    on_ = !lifted;
}

gids_status lb_refuse(gids_dtype_rule rule, const char *op, gids_dtype dt) {
    return on_ ? gids_refuse_dtype(rule, op, dt) : GIDS_OK;
}

static bool is_index(const gids_tensor *t) {
    return t != NULL && (t->dtype == GIDS_I64 || t->dtype == GIDS_I32);
}

/* ---------------------------------------------------------------- elementwise.cu */
/* The dtype rules of elementwise.cu (the CPU's): a 0-d operand decides only when its category
 * (bool, integer, float) is higher. */
static int category(gids_dtype dt) {
    if (dt == GIDS_BOOL) return 0;
    return gids_dtype_is_float(dt) ? 2 : 1;
}

gids_status lb_refuse_binary(gids_binop op, const gids_tensor *a, const gids_tensor *b) {
    if (!on_ || a == NULL || b == NULL || (unsigned)op >= GIDS_NBINOPS) return GIDS_OK;
    gids_dtype p, r;
    if ((a->ndim == 0) == (b->ndim == 0)) {
        p = gids_promote(a->dtype, b->dtype);
    } else {
        const gids_tensor *dimmed = a->ndim == 0 ? b : a, *zero = a->ndim == 0 ? a : b;
        p = category(zero->dtype) > category(dimmed->dtype) ? zero->dtype : dimmed->dtype;
    }
    return gids_binop_result_dtype(op, p, p, &r);
}

gids_status lb_refuse_binary_scalar(gids_binop op, const gids_tensor *a, gids_scalar s) {
    if (!on_ || a == NULL || (unsigned)op >= GIDS_NBINOPS) return GIDS_OK;
    gids_dtype sd = gids_promote_scalar(a->dtype, s), p, r;
    if (a->ndim == 0)
        p = gids_promote(a->dtype, sd);
    else
        p = category(sd) > category(a->dtype) ? sd : a->dtype;
    return gids_binop_result_dtype(op, p, p, &r);
}

gids_status lb_refuse_unary(gids_unop op, const gids_tensor *a) {
    if (!on_ || a == NULL || (unsigned)op >= GIDS_NUNOPS) return GIDS_OK;
    gids_dtype r;
    return gids_unop_result_dtype(op, a->dtype, &r);
}

/* ---------------------------------------------------------------- activation.cu */
/* leaky_relu, elu, softplus: an integer input is computed in f32; f16 and bf16 are refused. */
gids_status lb_refuse_activation(const char *op, const gids_tensor *a) {
    if (a == NULL || !gids_dtype_is_float(a->dtype)) return GIDS_OK;
    return lb_refuse(GIDS_DR_FLOAT, op, a->dtype);
}

/* The dtype clamp computes in: the input's promoted with each bound's, bool as i64. */
gids_status lb_refuse_clamp(const gids_tensor *a, const gids_scalar *min, const gids_scalar *max) {
    if (a == NULL || (min == NULL && max == NULL)) return GIDS_OK;
    gids_dtype dt = a->dtype;
    if (min) dt = gids_promote(dt, gids_promote_scalar(a->dtype, *min));
    if (max) dt = gids_promote(dt, gids_promote_scalar(a->dtype, *max));
    if (dt == GIDS_BOOL) dt = GIDS_I64;
    return lb_refuse(GIDS_DR_CLAMP, "clamp", dt);
}

/* ---------------------------------------------------------------- reduce.cu */
gids_status lb_refuse_reduce(gids_redop op, const gids_tensor *a) {
    const char *name = gids_redop_name(op);
    if (!on_ || a == NULL) return GIDS_OK;
    if (op == GIDS_MEAN && !gids_dtype_is_float(a->dtype)) return GIDS_OK; /* the CPU's EDTYPE */
    return gids_refuse_reduce(op, name, a->dtype);
}

gids_status lb_refuse_extreme_dim(bool is_max, const gids_tensor *a) {
    if (a == NULL) return GIDS_OK;
    return lb_refuse(GIDS_DR_EXTREME_DIM, is_max ? "max" : "min", a->dtype);
}

/* ---------------------------------------------------------------- softmax.cu */
/* softmax, log_softmax (a non-float input is the CPU's EDTYPE first) and their backward (the
 * runtime has checked that grad and result are floats of one dtype): f32 and f64. */
gids_status lb_refuse_softmax(const char *op, const gids_tensor *t) {
    if (t == NULL || !gids_dtype_is_float(t->dtype)) return GIDS_OK;
    return lb_refuse(GIDS_DR_FLOAT, op, t->dtype);
}

/* ---------------------------------------------------------------- blas.cu, matmul.cu */
/* mm and addmm (blas.cu's check_pair): after the NULL, bool, dtype agreement and 2-D checks. */
gids_status lb_refuse_mm(const char *op, const gids_tensor *a, const gids_tensor *b) {
    if (a == NULL || b == NULL || a->dtype == GIDS_BOOL || a->dtype != b->dtype || a->ndim != 2 ||
        b->ndim != 2 || a->shape[1] != b->shape[0])
        return GIDS_OK;
    return lb_refuse(GIDS_DR_PRODUCT, op, a->dtype);
}

/* matmul and bmm (matmul.cu's check_args, which names the op matmul for both). */
gids_status lb_refuse_matmul(const gids_tensor *a, const gids_tensor *b) {
    if (a == NULL || b == NULL || a->dtype == GIDS_BOOL || a->dtype != b->dtype || a->ndim < 1 ||
        b->ndim < 1)
        return GIDS_OK;
    return lb_refuse(GIDS_DR_PRODUCT, "matmul", a->dtype);
}

/* ---------------------------------------------------------------- index.cu */
/* scatter_add_ and index_add_: after self's, src's and index's checks (shapes not restated). */
gids_status lb_refuse_add(const char *op, const gids_tensor *self, const gids_tensor *index,
                          const gids_tensor *src) {
    if (self == NULL || src == NULL || src->dtype != self->dtype || !is_index(index))
        return GIDS_OK;
    return lb_refuse(GIDS_DR_ADD, op, self->dtype);
}

/* ---------------------------------------------------------------- segment.cu */
/* segment_reduce (op as gids_segop) and segment_softmax (op -1): after seg_check and the CPU's
 * dtype checks (bool src, a non-float src of a mean or a softmax). */
gids_status lb_refuse_segment(int op, const gids_tensor *src, const gids_tensor *index,
                              int64_t num_segments) {
    static const char *const names[] = {"segment_sum", "segment_mean", "segment_max",
                                        "segment_min"};
    if (op < -1 || op > GIDS_SEG_MIN || src == NULL || !is_index(index) || src->ndim < 1 ||
        index->ndim != 1 || index->shape[0] != src->shape[0] || num_segments < 0 ||
        src->dtype == GIDS_BOOL)
        return GIDS_OK;
    if ((op == -1 || op == GIDS_SEG_MEAN) && !gids_dtype_is_float(src->dtype)) return GIDS_OK;
    return lb_refuse(GIDS_DR_FLOAT, op == -1 ? "segment_softmax" : names[op], src->dtype);
}

/* ---------------------------------------------------------------- rng.cu, select.cu, unique.cu,
 * sort.cu, scan.cu */
gids_status lb_refuse_bernoulli(const gids_tensor *t, double p) {
    if (t == NULL || !(p >= 0.0 && p <= 1.0)) return GIDS_OK;
    return lb_refuse(GIDS_DR_FLOAT, "bernoulli_", t->dtype);
}

gids_status lb_refuse_one(gids_dtype_rule rule, const char *op, const gids_tensor *a) {
    if (a == NULL) return GIDS_OK;
    return lb_refuse(rule, op, a->dtype);
}
