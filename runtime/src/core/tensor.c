/* tensor.c -- tensor handles: lifetime, queries, shape helpers. Views live in view.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_impl.h"
#include "gids/backend.h"
#include "gids/tensor.h"

gids_status gids_shape_numel(const char *op, int ndim, const int64_t *shape, int64_t *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "shape_numel: out is NULL");
    GIDS_CHECK_OP_NAME(op, "shape_numel");
    /* span: the product of the sizes above 1, which the contiguous strides reach; it must fit
     * too, or a shape with a 0 among huge sizes (no elements) would overflow its strides */
    int64_t n = 1, span = 1;
    GIDS_CHECK(shape != NULL || ndim == 0, GIDS_EINVAL, "%s: shape is NULL for %d dims", op, ndim);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            char buf[160];
            GIDS_FAIL(GIDS_EINVAL, "%s: negative size %lld in shape %s", op, (long long)shape[i],
                      gids_shape_str(ndim, shape, buf, sizeof buf));
        }
        if (!gids_mul_ok(n, shape[i], &n) ||
            !gids_mul_ok(span, shape[i] > 1 ? shape[i] : 1, &span)) {
            char buf[160];
            GIDS_FAIL(GIDS_EOVERFLOW,
                      "%s: shape %s is too large: its elements or strides overflow int64", op,
                      gids_shape_str(ndim, shape, buf, sizeof buf));
        }
    }
    *out = n;
    return GIDS_OK;
}

static gids_status new_handle_(gids_tensor **out, gids_storage *s, gids_dtype dt, int ndim) {
    gids_tensor *t = calloc(1, sizeof *t);
    if (t == NULL) GIDS_FAIL(GIDS_ENOMEM, "tensor: out of memory for the tensor header");
    t->refcount = 1;
    t->dtype = dt;
    t->ndim = ndim;
    t->storage = s;
    gids_storage_retain(s);
    gids_mem_count_tensor(s->device, 1);
    *out = t;
    return GIDS_OK;
}

gids_status gids_empty_named(const char *op, gids_tensor **out, gids_dtype dt, gids_device dev,
                             int ndim, const int64_t *shape) {
    GIDS_CHECK_ARG(out, op, "out");
    if (ndim < 0 || ndim > GIDS_MAX_DIMS)
        GIDS_FAIL(GIDS_EINVAL, "%s: %d dims requested, at most %d supported", op, ndim,
                  GIDS_MAX_DIMS);
    if ((unsigned)dt >= GIDS_NDTYPES) GIDS_FAIL(GIDS_EDTYPE, "%s: invalid dtype %d", op, (int)dt);
    if (dev.type == GIDS_CPU && (dt == GIDS_F16 || dt == GIDS_BF16))
        GIDS_FAIL(GIDS_EDTYPE, "%s: dtype %s is a GPU storage type; use f32 on the CPU", op,
                  gids_dtype_name(dt));
    int64_t n, bytes;
    GIDS_TRY(gids_shape_numel(op, ndim, shape, &n));
    if (!gids_mul_ok(n, (int64_t)gids_dtype_size(dt), &bytes))
        GIDS_FAIL(GIDS_EOVERFLOW, "%s: %lld elements of %s overflow the byte count", op,
                  (long long)n, gids_dtype_name(dt));
    gids_storage *s = NULL;
    gids_status st = gids_storage_new(&s, dev, (size_t)bytes);
    if (st != GIDS_OK) {
        char sh[160];
        return gids_error_prefix(st, "%s: a %s %s tensor", op,
                                 gids_shape_str(ndim, shape, sh, sizeof sh), gids_dtype_name(dt));
    }
    st = new_handle_(out, s, dt, ndim);
    gids_storage_release(s);
    if (st != GIDS_OK) return st;
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        (*out)->shape[i] = shape[i];
        (*out)->stride[i] = stride;
        stride *= shape[i] > 1 ? shape[i] : 1;
    }
    return GIDS_OK;
}

gids_status gids_empty(gids_tensor **out, gids_dtype dt, gids_device dev, int ndim,
                       const int64_t *shape) {
    return gids_empty_named("empty", out, dt, dev, ndim, shape);
}

gids_status gids_zeros_named(const char *op, gids_tensor **out, gids_dtype dt, gids_device dev,
                             int ndim, const int64_t *shape) {
    GIDS_TRY(gids_empty_named(op, out, dt, dev, ndim, shape));
    if (dev.type != GIDS_CPU) {
        gids_status st = gids_fill_(*out, gids_scalar_i(0));
        if (st != GIDS_OK) {
            gids_tensor_release(*out);
            *out = NULL;
        }
        return st;
    }
    /* All-zero bytes are 0 in every CPU dtype. */
    memset((*out)->storage->data, 0, (*out)->storage->nbytes);
    return GIDS_OK;
}

gids_status gids_empty_like(gids_tensor **out, const gids_tensor *t) {
    GIDS_CHECK_ARG(t, "empty_like", "the tensor");
    return gids_empty(out, t->dtype, t->storage->device, t->ndim, t->shape);
}

gids_status gids_from_storage_named(const char *op, gids_tensor **out, gids_storage *s,
                                    gids_dtype dt, int ndim, const int64_t *shape,
                                    const int64_t *stride, int64_t offset) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", op);
    GIDS_CHECK(s != NULL, GIDS_EINVAL, "%s: the storage is NULL", op);
    GIDS_CHECK(shape != NULL || ndim == 0, GIDS_EINVAL, "%s: shape is NULL", op);
    if (ndim < 0 || ndim > GIDS_MAX_DIMS)
        GIDS_FAIL(GIDS_EINVAL, "%s: %d dims, at most %d supported", op, ndim, GIDS_MAX_DIMS);
    if ((unsigned)dt >= GIDS_NDTYPES) GIDS_FAIL(GIDS_EDTYPE, "%s: invalid dtype %d", op, (int)dt);
    if (offset < 0) GIDS_FAIL(GIDS_EINVAL, "%s: negative offset %lld", op, (long long)offset);
    int64_t n;
    GIDS_TRY(gids_shape_numel(op, ndim, shape, &n));
    /* Highest element reached must lie inside the storage (negative strides are not allowed).
     * Signs and overflow are checked for empty views too: kernels still scale their strides and
     * offset to bytes (an empty view with stride INT64_MAX overflowed in clone). */
    int64_t last = offset, es = (int64_t)gids_dtype_size(dt), bytes;
    GIDS_CHECK(ndim == 0 || stride != NULL, GIDS_EINVAL, "%s: stride is NULL with %d dims", op,
               ndim);
    for (int i = 0; i < ndim; i++) {
        int64_t step;
        if (stride[i] < 0)
            GIDS_FAIL(GIDS_EINVAL, "%s: negative stride %lld at dim %d", op, (long long)stride[i],
                      i);
        if (!gids_mul_ok(shape[i] > 0 ? shape[i] - 1 : 0, stride[i], &step) ||
            !gids_add_ok(last, step, &last) || !gids_mul_ok(stride[i], es, &bytes))
            GIDS_FAIL(GIDS_EOVERFLOW,
                      "%s: extent overflows int64 (stride %lld over size %lld at dim %d)", op,
                      (long long)stride[i], (long long)shape[i], i);
    }
    int64_t end; /* one past the last element: last may be INT64_MAX itself */
    if (!gids_add_ok(last, 1, &end) || !gids_mul_ok(end, es, &bytes))
        GIDS_FAIL(GIDS_EOVERFLOW, "%s: offset %lld overflows int64 in bytes", op,
                  (long long)offset);
    if (n > 0 && (uint64_t)bytes > s->nbytes)
        GIDS_FAIL(GIDS_EINDEX,
                  "%s: the view needs %lld elements (it reaches element %lld, counting from 0) but "
                  "the storage holds %lld %s elements (%zu bytes)",
                  op, (long long)end, (long long)last, (long long)(s->nbytes / (size_t)es),
                  gids_dtype_name(dt), s->nbytes);
    GIDS_TRY(new_handle_(out, s, dt, ndim));
    for (int i = 0; i < ndim; i++) {
        (*out)->shape[i] = shape[i];
        (*out)->stride[i] = stride[i];
    }
    (*out)->offset = offset;
    return GIDS_OK;
}

gids_status gids_tensor_from_storage(gids_tensor **out, gids_storage *s, gids_dtype dt, int ndim,
                                     const int64_t *shape, const int64_t *stride, int64_t offset) {
    return gids_from_storage_named("from_storage", out, s, dt, ndim, shape, stride, offset);
}

void gids_tensor_retain(gids_tensor *t) {
    if (t == NULL) return; /* as release: NULL is ignored */
    __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
}

void gids_tensor_release(gids_tensor *t) {
    if (t == NULL) return;
    if (__atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    gids_mem_count_tensor(t->storage->device, -1);
    if (t->autograd != NULL) gids_ag_meta_free(t->autograd, t->storage);
    gids_storage_release(t->storage);
    free(t);
}

int64_t gids_tensor_numel(const gids_tensor *t) {
    if (t == NULL) return 0; /* no status to return: NULL holds no elements */
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

bool gids_tensor_is_contiguous(const gids_tensor *t) {
    if (t == NULL) return false; /* as numel: a query has no status, and NULL holds no layout */
    int64_t expected = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] == 1) continue; /* the stride of a size-1 dim is never used */
        if (t->shape[i] == 0) return true;
        if (t->stride[i] != expected) return false;
        expected *= t->shape[i];
    }
    return true;
}

void *gids_tensor_data(const gids_tensor *t) {
    if (t == NULL) return NULL;
    return (char *)t->storage->data + t->offset * (int64_t)gids_dtype_size(t->dtype);
}

gids_device gids_tensor_device(const gids_tensor *t) {
    return t != NULL ? t->storage->device : GIDS_DEVICE_CPU; /* as the node input queries */
}

gids_status gids_normalize_dim(const char *op, int dim, int ndim, int *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "normalize_dim: out is NULL");
    GIDS_CHECK_OP_NAME(op, "normalize_dim");
    int n = ndim > 0 ? ndim : 1;
    int d = dim < 0 ? dim + n : dim;
    if (d < 0 || d >= n)
        GIDS_FAIL(GIDS_EINDEX, "%s: dim %d out of range for a tensor of %d dims (valid %d..%d)", op,
                  dim, ndim, -n, n - 1);
    *out = d;
    return GIDS_OK;
}

gids_status gids_normalize_new_dim(const char *op, int dim, int ndim, int *out) {
    GIDS_CHECK_OP_NAME(op, "normalize_new_dim");
    int n = ndim + 1, d = dim < 0 ? dim + n : dim;
    if (d < 0 || d >= n)
        GIDS_FAIL(GIDS_EINDEX,
                  "%s: dim %d out of range for inserting a dim into a tensor of %d dims (valid "
                  "%d..%d)",
                  op, dim, ndim, -n, n - 1);
    *out = d;
    return GIDS_OK;
}

char *gids_shape_str(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t k = 0;
    if (n == 0 || buf == NULL) return buf;
    buf[0] = '\0';
    k += (size_t)snprintf(buf + k, n - k, "[");
    if (shape == NULL && ndim > 0) k += (size_t)snprintf(buf + k, n - k, "NULL"); /* a message */
    for (int i = 0; shape != NULL && i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

gids_status gids_broadcast_shapes(const char *op, int na, const int64_t *a, int nb,
                                  const int64_t *b, int *nout, int64_t *out) {
    GIDS_CHECK_OP_NAME(op, "broadcast_shapes");
    GIDS_CHECK(nout != NULL && out != NULL, GIDS_EINVAL, "%s: the output shape is NULL", op);
    GIDS_CHECK(na >= 0 && na <= GIDS_MAX_DIMS && nb >= 0 && nb <= GIDS_MAX_DIMS, GIDS_EINVAL,
               "%s: shapes of %d and %d dims, each 0..%d", op, na, nb, GIDS_MAX_DIMS);
    GIDS_CHECK((na == 0 || a != NULL) && (nb == 0 || b != NULL), GIDS_EINVAL,
               "%s: shape %s is NULL for %d dims", op, na > 0 && a == NULL ? "a" : "b",
               na > 0 && a == NULL ? na : nb);
    int n = na > nb ? na : nb;
    int64_t tmp[GIDS_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        int ia = na - n + i, ib = nb - n + i;
        int64_t sa = ia >= 0 ? a[ia] : 1, sb = ib >= 0 ? b[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char ba[160], bb[160];
            /* No dim number: C counts from 0 and Lua from 1; the sizes identify the pair. */
            GIDS_FAIL(GIDS_ESHAPE,
                      "%s: shapes %s and %s do not broadcast (sizes %lld and %lld meet when the "
                      "shapes are aligned from the right; each pair must be equal or hold a 1)",
                      op, gids_shape_str(na, a, ba, sizeof ba),
                      gids_shape_str(nb, b, bb, sizeof bb), (long long)sa, (long long)sb);
        }
        tmp[i] = sa == 1 ? sb : sa;
    }
    for (int i = 0; i < n; i++) out[i] = tmp[i];
    *nout = n;
    return GIDS_OK;
}

/* ---- checks shared by the kernels ---- */
gids_status gids_check_cpu(const char *op, const char *arg, const gids_tensor *t) {
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "%s: %s is NULL", op, arg);
    if (t->storage->device.type != GIDS_CPU) {
        char buf[16];
        GIDS_FAIL(GIDS_EDEVICE, "%s: %s is on %s, expected cpu (move it with :to(\"cpu\"))", op,
                  arg, gids_device_str(t->storage->device, buf, sizeof buf));
    }
    return GIDS_OK;
}

gids_status gids_check_cpu_dtype(const char *op, const char *arg, const gids_tensor *t) {
    GIDS_TRY(gids_check_cpu(op, arg, t));
    if (t->dtype == GIDS_F16 || t->dtype == GIDS_BF16)
        GIDS_FAIL(GIDS_EDTYPE, "%s: %s has dtype %s, which the CPU does not compute with", op, arg,
                  gids_dtype_name(t->dtype));
    return GIDS_OK;
}

gids_status gids_check_index_dtype(const char *op, const char *arg, const gids_tensor *t) {
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "%s: %s is NULL", op, arg);
    if (t->dtype != GIDS_I64 && t->dtype != GIDS_I32)
        GIDS_FAIL(GIDS_EDTYPE, "%s: %s must be an i64 or i32 index tensor, got %s", op, arg,
                  gids_dtype_name(t->dtype));
    return gids_check_cpu(op, arg, t);
}

gids_status gids_check_writable(const char *op, const gids_tensor *t) {
    GIDS_CHECK_ARG(t, op, "the target");
    char sh[128];
    for (int d = 0; d < t->ndim; d++)
        GIDS_CHECK(t->stride[d] != 0 || t->shape[d] <= 1, GIDS_EINVAL,
                   "%s: the target of shape %s is expanded (stride 0 over a dim of size %lld), so "
                   "several of its elements share memory; clone it first",
                   op, gids_shape_str(t->ndim, t->shape, sh, sizeof sh), (long long)t->shape[d]);
    return GIDS_OK;
}

bool gids_may_overlap(const gids_tensor *dst, const gids_tensor *in) {
    if (dst->storage != in->storage) return false;
    if (dst->offset != in->offset || dst->ndim != in->ndim || dst->dtype != in->dtype) return true;
    for (int d = 0; d < dst->ndim; d++) {
        if (dst->shape[d] != in->shape[d]) return true;
        if (dst->shape[d] > 1 && dst->stride[d] != in->stride[d]) return true;
    }
    return false;
}

gids_status gids_check_fits(const char *op, gids_dtype dt, gids_scalar v) {
    int64_t lo, hi; /* (the bounds print as integers: INT64_MAX as a double reads ...808) */
    switch (dt) {
    case GIDS_I64: lo = INT64_MIN, hi = INT64_MAX; break;
    case GIDS_I32: lo = INT32_MIN, hi = INT32_MAX; break;
    case GIDS_U8: lo = 0, hi = 255; break;
    default: return GIDS_OK;
    }
    if (v.is_int) {
        if (dt == GIDS_I64 || (v.i >= lo && v.i <= hi)) return GIDS_OK;
        GIDS_FAIL(GIDS_EINVAL, "%s: value %lld does not fit in %s [%lld, %lld]", op, (long long)v.i,
                  gids_dtype_name(dt), (long long)lo, (long long)hi);
    }
    double t = trunc(v.f);
    /* hi + 1 is exact for every bound here (2^63, 2^31, 256), so t < hi + 1 accepts exactly the
     * values <= hi. */
    if (isfinite(t) && t >= (double)lo && t < (double)hi + 1.0) return GIDS_OK;
    GIDS_FAIL(GIDS_EINVAL, "%s: value %g does not fit in %s [%lld, %lld]", op, v.f,
              gids_dtype_name(dt), (long long)lo, (long long)hi);
}

/* ---- scalar access for slow paths ---- */

/* Float -> integer as copy.c converts: truncation, saturation at [lo, hi], NaN -> 0 (a plain C
 * cast of an out-of-range float is undefined); i64 through gids_sat_i64. */
static int64_t sat_(double v, double lo, double hi) {
    return isnan(v) ? 0 : v <= lo ? (int64_t)lo : v >= hi ? (int64_t)hi : (int64_t)v;
}
#define SAT_I64(v) gids_sat_i64(v)

double gids_load_f64(const void *base, gids_dtype dt, int64_t i) {
    switch (dt) {
    case GIDS_F32: return ((const float *)base)[i];
    case GIDS_F64: return ((const double *)base)[i];
    case GIDS_I64: return (double)((const int64_t *)base)[i];
    case GIDS_I32: return ((const int32_t *)base)[i];
    case GIDS_U8: return ((const uint8_t *)base)[i];
    case GIDS_BOOL: return ((const uint8_t *)base)[i] != 0;
    default: return 0.0;
    }
}

int64_t gids_load_i64(const void *base, gids_dtype dt, int64_t i) {
    switch (dt) {
    case GIDS_F32: return SAT_I64(((const float *)base)[i]);
    case GIDS_F64: return SAT_I64(((const double *)base)[i]);
    case GIDS_I64: return ((const int64_t *)base)[i];
    case GIDS_I32: return ((const int32_t *)base)[i];
    case GIDS_U8: return ((const uint8_t *)base)[i];
    case GIDS_BOOL: return ((const uint8_t *)base)[i] != 0;
    default: return 0;
    }
}

void gids_store_f64(void *base, gids_dtype dt, int64_t i, double v) {
    switch (dt) {
    case GIDS_F32: ((float *)base)[i] = (float)v; break;
    case GIDS_F64: ((double *)base)[i] = v; break;
    case GIDS_I64: ((int64_t *)base)[i] = SAT_I64(v); break;
    case GIDS_I32: ((int32_t *)base)[i] = (int32_t)sat_(v, -2147483648.0, 2147483647.0); break;
    case GIDS_U8: ((uint8_t *)base)[i] = (uint8_t)sat_(v, 0.0, 255.0); break;
    case GIDS_BOOL: ((uint8_t *)base)[i] = v != 0.0; break;
    default: break;
    }
}

void gids_store_i64(void *base, gids_dtype dt, int64_t i, int64_t v) {
    switch (dt) {
    case GIDS_F32: ((float *)base)[i] = (float)v; break;
    case GIDS_F64: ((double *)base)[i] = (double)v; break;
    case GIDS_I64: ((int64_t *)base)[i] = v; break;
    case GIDS_I32: ((int32_t *)base)[i] = (int32_t)v; break;
    case GIDS_U8: ((uint8_t *)base)[i] = (uint8_t)v; break;
    case GIDS_BOOL: ((uint8_t *)base)[i] = v != 0; break;
    default: break;
    }
}

/* Offset (elements) of the row-major position `flat` in t's logical shape. */
static int64_t flat_offset_(const gids_tensor *t, int64_t flat) {
    int64_t off = t->offset;
    for (int i = t->ndim - 1; i >= 0; i--) {
        off += (flat % t->shape[i]) * t->stride[i];
        flat /= t->shape[i];
    }
    return off;
}

/* The element's storage and offset to read it at: t's own on the CPU; off the CPU a one-element
 * CPU copy (NEW in *host) made through the device's copy of a 0-d view of the element, so a
 * read moves one element, not the tensor (host code cannot dereference device memory). */
static gids_status locate_(const gids_tensor *t, int64_t flat, gids_tensor **host,
                           const char **data, int64_t *off) {
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "get: tensor is NULL");
    int64_t n = gids_tensor_numel(t);
    if (flat < 0 || flat >= n)
        GIDS_FAIL(GIDS_EINDEX, "get: element %lld out of range for a tensor of %lld elements",
                  (long long)flat, (long long)n);
    *host = NULL;
    if (gids_is_cpu(t)) {
        GIDS_TRY(gids_check_cpu_dtype("get", "tensor", t));
        *data = t->storage->data;
        *off = flat_offset_(t, flat);
        return GIDS_OK;
    }
    gids_tensor elem = {.offset = flat_offset_(t, flat),
                        .ndim = 0,
                        .dtype = t->dtype,
                        .refcount = 1,
                        .storage = t->storage};
    GIDS_TRY(gids_to_device(host, &elem, GIDS_DEVICE_CPU));
    *data = (*host)->storage->data;
    *off = (*host)->offset;
    return GIDS_OK;
}

gids_status gids_tensor_get(const gids_tensor *t, int64_t flat, double *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "tensor_get: out is NULL");
    gids_tensor *host = NULL;
    const char *data = NULL;
    int64_t off = 0;
    GIDS_TRY(locate_(t, flat, &host, &data, &off));
    *out = gids_load_f64(data, t->dtype, off);
    gids_tensor_release(host);
    return GIDS_OK;
}

gids_status gids_tensor_get_i64(const gids_tensor *t, int64_t flat, int64_t *out) {
    GIDS_CHECK_ARG(out, "get", "out");
    gids_tensor *host = NULL;
    const char *data = NULL;
    int64_t off = 0;
    GIDS_TRY(locate_(t, flat, &host, &data, &off));
    *out = gids_load_i64(data, t->dtype, off);
    gids_tensor_release(host);
    return GIDS_OK;
}
