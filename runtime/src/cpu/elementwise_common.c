/* elementwise_common.c -- dtype promotion, argument checks and output handling shared by the
 * elementwise and reduction kernels (see elementwise_impl.h). */
#include <string.h>

#include "../core/core_impl.h"
#include "elementwise_impl.h"

gids_dtype gids_result_type(const gids_tensor *a, const gids_tensor *b) {
    if (a == NULL || b == NULL) return a != NULL ? a->dtype : (b != NULL ? b->dtype : GIDS_F32);
    bool za = a->ndim == 0, zb = b->ndim == 0;
    if (za == zb) return gids_promote(a->dtype, b->dtype);
    const gids_tensor *dimmed = za ? b : a, *zero = za ? a : b;
    if (gids_ew_category(zero->dtype) > gids_ew_category(dimmed->dtype)) return zero->dtype;
    return dimmed->dtype;
}

gids_dtype gids_ew_scalar_dtype(gids_dtype t, gids_scalar s) {
    if (!s.is_int && !gids_dtype_is_float(t)) return GIDS_F32;
    if (s.is_int && t == GIDS_BOOL) return GIDS_I64;
    return t;
}

/* Not gids_full, which refuses a value that does not fit dt: here an integer wraps into a
 * narrower integer dt (callers that must keep the number pass i64 or f64). */
gids_status gids_ew_scalar_tensor(gids_tensor **out, gids_dtype dt, gids_scalar s) {
    int64_t unused_shape[1] = {1};
    GIDS_TRY(gids_empty(out, dt, GIDS_DEVICE_CPU, 0, unused_shape));
    void *p = (*out)->storage->data;
    if (s.is_int)
        gids_store_i64(p, dt, 0, s.i);
    else
        gids_store_f64(p, dt, 0, s.f);
    return GIDS_OK;
}

bool gids_ew_can_cast(gids_dtype from, gids_dtype to) {
    if (gids_dtype_is_float(from) && !gids_dtype_is_float(to)) return false;
    if (from != GIDS_BOOL && to == GIDS_BOOL) return false;
    return true;
}

gids_status gids_ew_cast(gids_tensor **out, const gids_tensor *t, gids_dtype dt) {
    if (t->dtype == dt) {
        gids_tensor_retain((gids_tensor *)t);
        *out = (gids_tensor *)t;
        return GIDS_OK;
    }
    return gids_to_dtype(out, t, dt);
}

gids_status gids_ew_check_dst(const char *op, const gids_tensor *dst, gids_dtype result, int nd,
                              const int64_t *shape) {
    GIDS_TRY(gids_ew_check_input(op, "output", dst));
    GIDS_TRY(gids_check_writable(op, dst));
    bool same = dst->ndim == nd;
    for (int d = 0; same && d < nd; d++) same = dst->shape[d] == shape[d];
    if (!same) {
        char want[160], got[160];
        gids_shape_str(nd, shape, want, sizeof want);
        gids_shape_str(dst->ndim, dst->shape, got, sizeof got);
        GIDS_FAIL(GIDS_ESHAPE, "%s: output has shape %s, expected the broadcast shape %s", op, got,
                  want);
    }
    GIDS_CHECK(gids_ew_can_cast(result, dst->dtype), GIDS_EDTYPE,
               "%s: result dtype %s cannot be written into an output of dtype %s", op,
               gids_dtype_name(result), gids_dtype_name(dst->dtype));
    return GIDS_OK;
}

static gids_status into_device_check(const char *op, const gids_tensor *dst, const gids_tensor *r) {
    GIDS_CHECK(dst != NULL, GIDS_EINVAL, "%s: output is NULL", op);
    GIDS_TRY(gids_check_writable(op, dst));
    if (!gids_device_eq(gids_tensor_device(dst), gids_tensor_device(r))) {
        char a[16], b[16];
        GIDS_FAIL(GIDS_EDEVICE, "%s: output is on %s, the operands on %s; move them with :to(...)",
                  op, gids_device_str(gids_tensor_device(dst), a, sizeof a),
                  gids_device_str(gids_tensor_device(r), b, sizeof b));
    }
    bool same = dst->ndim == r->ndim;
    for (int d = 0; same && d < r->ndim; d++) same = dst->shape[d] == r->shape[d];
    if (!same) {
        char want[160], got[160];
        gids_shape_str(r->ndim, r->shape, want, sizeof want);
        gids_shape_str(dst->ndim, dst->shape, got, sizeof got);
        GIDS_FAIL(GIDS_ESHAPE, "%s: output has shape %s, expected the broadcast shape %s", op, got,
                  want);
    }
    GIDS_CHECK(gids_ew_can_cast(r->dtype, dst->dtype), GIDS_EDTYPE,
               "%s: result dtype %s cannot be written into an output of dtype %s", op,
               gids_dtype_name(r->dtype), gids_dtype_name(dst->dtype));
    return GIDS_OK;
}

gids_status gids_ew_into_device(const char *op, gids_tensor *dst, gids_tensor *r) {
    gids_status st = into_device_check(op, dst, r);
    if (st == GIDS_OK) st = gids_copy_(dst, r);
    gids_tensor_release(r);
    return st;
}

gids_status gids_ew_check_input(const char *op, const char *arg, const gids_tensor *t) {
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "%s: %s is NULL", op, arg);
    GIDS_TRY(gids_check_cpu(op, arg, t));
    return gids_check_cpu_dtype(op, arg, t);
}

gids_status gids_red_dim_mask(const char *op, int ndim, int ndims, const int *dims,
                              uint32_t *mask) {
    uint32_t m = 0;
    if (ndims == 0) {
        *mask = ndim == 0 ? 0 : (uint32_t)((1u << ndim) - 1u);
        return GIDS_OK;
    }
    GIDS_CHECK(ndims > 0 && dims != NULL, GIDS_EINVAL, "%s: dim list of length %d is invalid", op,
               ndims);
    for (int i = 0; i < ndims; i++) {
        int d;
        GIDS_TRY(gids_normalize_dim(op, dims[i], ndim, &d));
        if (ndim == 0) continue; /* a 0-d tensor accepts dim 0 / -1 and reduces nothing */
        GIDS_CHECK(!(m & (1u << d)), GIDS_EINVAL,
                   "%s: dim %d appears more than once in the dim list", op, dims[i]);
        m |= 1u << d;
    }
    *mask = m;
    return GIDS_OK;
}

int gids_red_out_shape(const gids_tensor *a, uint32_t mask, bool keepdim, int64_t *shape) {
    int nd = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (mask & (1u << d)) {
            if (keepdim) shape[nd++] = 1;
        } else {
            shape[nd++] = a->shape[d];
        }
    }
    return nd;
}

void gids_ew_split_dim(const gids_tensor *a, int dim, int64_t *outer, int64_t *size,
                       int64_t *inner) {
    int64_t o = 1, n = 1;
    for (int d = 0; d < dim; d++) o *= a->shape[d];
    for (int d = dim + 1; d < a->ndim; d++) n *= a->shape[d];
    *outer = o;
    *size = a->ndim == 0 ? 1 : a->shape[dim];
    *inner = n;
}
