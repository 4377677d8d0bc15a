/* create.c -- tensors made from nothing: zeros, ones, full, arange, linspace, eye, from_buffer. */
#include <math.h>
#include <string.h>

#include "core_impl.h"
#include "gids/tensor.h"

/* Releases *t and returns s when s is an error (for two-step constructors). */
static gids_status settle_(gids_tensor **t, gids_status s) {
    if (s != GIDS_OK) {
        gids_tensor_release(*t);
        *t = NULL;
    }
    return s;
}

gids_status gids_zeros(gids_tensor **out, gids_dtype dt, gids_device dev, int ndim,
                       const int64_t *shape) {
    return gids_zeros_named("zeros", out, dt, dev, ndim, shape);
}

static gids_status full_named_(const char *op, gids_tensor **out, gids_dtype dt, gids_device dev,
                               int ndim, const int64_t *shape, gids_scalar value) {
    GIDS_TRY(gids_check_fits(op, dt, value));
    GIDS_TRY(gids_empty_named(op, out, dt, dev, ndim, shape));
    return settle_(out, gids_fill_(*out, value));
}

gids_status gids_full(gids_tensor **out, gids_dtype dt, gids_device dev, int ndim,
                      const int64_t *shape, gids_scalar value) {
    return full_named_("full", out, dt, dev, ndim, shape, value);
}

gids_status gids_ones(gids_tensor **out, gids_dtype dt, gids_device dev, int ndim,
                      const int64_t *shape) {
    return full_named_("ones", out, dt, dev, ndim, shape, gids_scalar_i(1));
}

static double sd_(gids_scalar s) {
    return s.is_int ? (double)s.i : s.f;
}

gids_status gids_arange(gids_tensor **out, gids_dtype dt, gids_scalar start, gids_scalar end,
                        gids_scalar step) {
    int64_t n;
    if (dt == GIDS_BOOL) GIDS_FAIL(GIDS_EDTYPE, "arange: dtype bool is not supported");
    if (start.is_int && end.is_int && step.is_int) {
        if (step.i == 0) GIDS_FAIL(GIDS_EINVAL, "arange: step must be non-zero");
        int64_t span;
        if (__builtin_sub_overflow(end.i, start.i, &span))
            GIDS_FAIL(GIDS_EOVERFLOW, "arange: range %lld..%lld overflows int64",
                      (long long)start.i, (long long)end.i);
        if ((span > 0) != (step.i > 0) && span != 0)
            GIDS_FAIL(GIDS_EINVAL, "arange: step %lld points away from end (start %lld, end %lld)",
                      (long long)step.i, (long long)start.i, (long long)end.i);
        /* magnitudes in unsigned: -INT64_MIN does not fit in int64 */
        uint64_t a = span < 0 ? 0 - (uint64_t)span : (uint64_t)span,
                 b = step.i < 0 ? 0 - (uint64_t)step.i : (uint64_t)step.i, m = a / b + (a % b != 0);
        if (m > (uint64_t)INT64_MAX)
            GIDS_FAIL(GIDS_EOVERFLOW, "arange: %llu elements (start %lld, end %lld, step %lld)",
                      (unsigned long long)m, (long long)start.i, (long long)end.i,
                      (long long)step.i);
        n = (int64_t)m;
    } else {
        double s = sd_(start), e = sd_(end), st = sd_(step);
        if (st == 0.0 || !isfinite(s) || !isfinite(e) || !isfinite(st))
            GIDS_FAIL(GIDS_EINVAL,
                      "arange: start %g, end %g and step %g must be finite, step non-zero", s, e,
                      st);
        double len = ceil((e - s) / st);
        if (len < 0)
            GIDS_FAIL(GIDS_EINVAL, "arange: step %g points away from end (start %g, end %g)", st, s,
                      e);
        if (len > 9.0e15) GIDS_FAIL(GIDS_EOVERFLOW, "arange: %g elements is too many", len);
        n = (int64_t)len;
    }
    GIDS_TRY(gids_empty_named("arange", out, dt, GIDS_DEVICE_CPU, 1, &n));
    void *d = (*out)->storage->data;
    if (start.is_int && end.is_int && step.is_int && !gids_dtype_is_float(dt)) {
        for (int64_t i = 0; i < n; i++) gids_store_i64(d, dt, i, start.i + i * step.i);
    } else {
        double s = sd_(start), st = sd_(step);
        for (int64_t i = 0; i < n; i++) gids_store_f64(d, dt, i, s + (double)i * st);
    }
    return GIDS_OK;
}

gids_status gids_linspace(gids_tensor **out, gids_dtype dt, double start, double end,
                          int64_t steps) {
    if (steps < 0)
        GIDS_FAIL(GIDS_EINVAL, "linspace: steps must be >= 0, got %lld", (long long)steps);
    if (dt == GIDS_BOOL) GIDS_FAIL(GIDS_EDTYPE, "linspace: dtype bool is not supported");
    GIDS_TRY(gids_empty_named("linspace", out, dt, GIDS_DEVICE_CPU, 1, &steps));
    void *d = (*out)->storage->data;
    double step = steps > 1 ? (end - start) / (double)(steps - 1) : 0.0;
    /* Fill the second half from the end (as PyTorch) so the last value is exactly `end`; one
     * step is `start` (torch's linspace(a, b, 1) is [a]). */
    int64_t half = steps == 1 ? 1 : steps / 2;
    for (int64_t i = 0; i < steps; i++) {
        double v = i < half ? start + step * (double)i : end - step * (double)(steps - 1 - i);
        gids_store_f64(d, dt, i, v);
    }
    return GIDS_OK;
}

gids_status gids_eye(gids_tensor **out, gids_dtype dt, int64_t n, int64_t m) {
    /* -1 alone stands for "m = n"; any other negative count is a mistake, not a square */
    GIDS_CHECK(m >= -1, GIDS_EINVAL, "eye: m = %lld columns must be >= 0 (or -1 for m = n)",
               (long long)m);
    int64_t shape[2] = {n, m < 0 ? n : m};
    GIDS_TRY(gids_zeros_named("eye", out, dt, GIDS_DEVICE_CPU, 2, shape));
    int64_t k = shape[0] < shape[1] ? shape[0] : shape[1];
    for (int64_t i = 0; i < k; i++) gids_store_i64((*out)->storage->data, dt, i * shape[1] + i, 1);
    return GIDS_OK;
}

gids_status gids_from_buffer(gids_tensor **out, gids_dtype dt, int ndim, const int64_t *shape,
                             const void *data) {
    GIDS_TRY(gids_empty_named("from_buffer", out, dt, GIDS_DEVICE_CPU, ndim, shape));
    size_t nbytes = (*out)->storage->nbytes;
    if (nbytes > 0 && data == NULL)
        return settle_(
            out, gids_error_set(GIDS_EINVAL, __FILE__, __LINE__, "from_buffer: data is NULL"));
    /* Every bool op reads a byte as 0 or not 0, but comparisons, sums and casts read its value:
     * a 2 was true to print and not, eq(true), sum() 2.  Such bytes are refused, as the
     * safetensors reader refuses them. */
    const unsigned char *b = data;
    for (size_t k = 0; dt == GIDS_BOOL && k < nbytes; k++)
        if (b[k] > 1)
            return settle_(out, gids_error_set(GIDS_EINVAL, __FILE__, __LINE__,
                                               "from_buffer: bool element %zu holds byte %u; bool "
                                               "bytes must be 0 or 1",
                                               k, (unsigned)b[k]));
    if (nbytes > 0) memcpy((*out)->storage->data, data, nbytes);
    return GIDS_OK;
}
