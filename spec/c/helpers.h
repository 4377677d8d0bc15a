/* helpers.h -- tensor builders and value checks shared by the C specs (include after check.h).
 *
 *   int64_t n = 3;
 *   gids_tensor *t = from(GIDS_F32, 1, &n, (float[]){1, 2, 3});
 *   CHECK(same(t, 3, (double[]){1, 2, 3}));      // or check_values(t, 3, want) to list misses
 *
 * Element access goes through gids_tensor_get (flat, row-major over the view), so every check
 * reads strided and expanded views as their logical values.  Static inline: each test binary
 * takes only what it uses, without unused-function warnings.
 */
#ifndef GIDS_SPEC_HELPERS_H
#define GIDS_SPEC_HELPERS_H

#include <stdbool.h>

#include "check.h"

/* ---------------------------------------------------------------- builders */

/* A copy of `data` (of dtype dt, row-major) as a new tensor. */
static inline gids_tensor *from(gids_dtype dt, int ndim, const int64_t *shape, const void *data) {
    gids_tensor *t = NULL;
    CHECK_OK(gids_from_buffer(&t, dt, ndim, shape, data));
    return t;
}

static inline gids_tensor *vec_f32(int64_t n, const float *d) {
    return from(GIDS_F32, 1, &n, d);
}

static inline gids_tensor *vec_i64(int64_t n, const int64_t *d) {
    return from(GIDS_I64, 1, &n, d);
}

/* start, start + 1, ... of dtype dt viewed as shape. */
static inline gids_tensor *arange_view(gids_dtype dt, int64_t start, int nd, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    gids_tensor *a = NULL, *v = NULL;
    CHECK_OK(gids_arange(&a, dt, gids_scalar_i(start), gids_scalar_i(start + n), gids_scalar_i(1)));
    CHECK_OK(gids_view(&v, a, nd, shape));
    gids_tensor_release(a);
    return v;
}

static inline gids_tensor *arange_nd(gids_dtype dt, int nd, const int64_t *shape) {
    return arange_view(dt, 0, nd, shape);
}

static inline gids_tensor *arange2(gids_dtype dt, int64_t r, int64_t c) {
    int64_t s[2] = {r, c};
    return arange_view(dt, 0, 2, s);
}

/* ---------------------------------------------------------------- element access */

/* The element at a flat position; NaN (and a failed check) when it cannot be read. */
static inline double at(const gids_tensor *t, int64_t flat) {
    double v = NAN;
    CHECK_OK(gids_tensor_get(t, flat, &v));
    return v;
}

/* The same for integer data, exact past 2^53. */
static inline int64_t at_i(const gids_tensor *t, int64_t flat) {
    int64_t v = -12345;
    CHECK_OK(gids_tensor_get_i64(t, flat, &v));
    return v;
}

/* ---------------------------------------------------------------- comparisons */

/* Whether t holds exactly the n values of want (NaN matches NaN): for CHECK(same(...)). */
static inline int same(const gids_tensor *t, int64_t n, const double *want) {
    if (t == NULL || gids_tensor_numel(t) != n) return 0;
    for (int64_t i = 0; i < n; i++) {
        double v = at(t, i);
        if (!(v == want[i] || (isnan(v) && isnan(want[i])))) return 0;
    }
    return 1;
}

static inline int same_i(const gids_tensor *t, int64_t n, const int64_t *want) {
    if (t == NULL || gids_tensor_numel(t) != n) return 0;
    for (int64_t i = 0; i < n; i++)
        if (at_i(t, i) != want[i]) return 0;
    return 1;
}

/* Like same(), but fails with the first differing elements named: tol 0 is exact, otherwise
 * relative to the expected magnitude (absolute below 1). */
static inline void check_close(const gids_tensor *t, int n, const double *want, double tol) {
    CHECK(t != NULL && gids_tensor_numel(t) == n);
    if (t == NULL) return;
    for (int i = 0; i < n && i < gids_tensor_numel(t); i++) {
        double g = at(t, i);
        bool ok = isnan(want[i]) ? isnan(g)
                                 : (g == want[i] || fabs(g - want[i]) <= tol * (1 + fabs(want[i])));
        if (!ok) CHECK_FAIL_("element %d = %.12g, expected %.12g", i, g, want[i]);
    }
}

static inline void check_values(const gids_tensor *t, int n, const double *want) {
    check_close(t, n, want, 0.0);
}

static inline void check_shape(const gids_tensor *t, int nd, const int64_t *shape) {
    CHECK(t != NULL && t->ndim == nd);
    if (t == NULL || t->ndim != nd) return;
    for (int d = 0; d < nd; d++)
        if (t->shape[d] != shape[d])
            CHECK_FAIL_("dim %d has size %lld, expected %lld", d, (long long)t->shape[d],
                        (long long)shape[d]);
}

/* ---------------------------------------------------------------- messages */

/* True when s is whole UTF-8 characters: a message quoting a field or path cut short must not
 * end one in the middle. */
static inline bool utf8_whole(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        int more = *u < 0x80 ? 0 : (*u & 0xE0) == 0xC0 ? 1 : (*u & 0xF0) == 0xE0 ? 2 : 3;
        if ((*u & 0xC0) == 0x80) return false; /* a continuation byte with no lead */
        u++;
        for (int i = 0; i < more; i++, u++)
            if ((*u & 0xC0) != 0x80) return false;
    }
    return true;
}

#endif
