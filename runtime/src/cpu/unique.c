/* unique.c -- unique values (with inverse and counts) and bincount.
 *
 * unique sorts the flattened input with the stable key sort of sort.c and cuts the sorted run
 * into groups of equal keys.  NaNs are never equal to each other, so each NaN is its own group
 * (as torch.unique); -0.0 and +0.0 are one group.  bincount is a serial pass: it is memory
 * bound and a serial loop keeps the float sums in input order, hence reproducible; off the CPU
 * it is a segment sum.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "sort_impl.h"

/* unique of floats off the CPU (the backends' unique entries take integers), from public ops:
 * a stable sort of the flat input; a group starts where a value differs from the one before it
 * (NaN != NaN makes each NaN its own group and -0.0 == +0.0 one group, as on the CPU, whose
 * value is its first member in input order: the sort is stable); group numbers are the running
 * count of starts; the values are the starting elements, the counts a bincount of the group
 * numbers, the inverse the group numbers scattered back to the input positions. */
static gids_status unique_float_device(gids_tensor **values, gids_tensor **inverse,
                                       gids_tensor **counts, const gids_tensor *a) {
    gids_device dev = gids_tensor_device(a);
    int64_t n = gids_tensor_numel(a), flat_shape = -1, one = 1, zero = 0;
    enum { FLAT, SORTED, PERM, NEQ, HEAD, STARTS, WIDE, CUM, GROUP, VALS, INV, CNT, LO, HI, NT };
    gids_tensor *t[NT] = {NULL};
    gids_status st = GIDS_OK;
    if (n == 0) {
        st = gids_empty(&t[VALS], a->dtype, dev, 1, &zero);
        if (st == GIDS_OK) st = gids_empty(&t[INV], GIDS_I64, dev, a->ndim, a->shape);
        if (st == GIDS_OK) st = gids_empty(&t[CNT], GIDS_I64, dev, 1, &zero);
    } else {
        st = gids_reshape(&t[FLAT], a, 1, &flat_shape);
        if (st == GIDS_OK) st = gids_sort(&t[SORTED], &t[PERM], t[FLAT], 0, false, true);
        if (st == GIDS_OK) st = gids_full(&t[HEAD], GIDS_BOOL, dev, 1, &one, gids_scalar_i(1));
        if (st == GIDS_OK && n > 1) {
            st = gids_narrow(&t[HI], t[SORTED], 0, 1, n - 1);
            if (st == GIDS_OK) st = gids_narrow(&t[LO], t[SORTED], 0, 0, n - 1);
            if (st == GIDS_OK) st = gids_binary(&t[NEQ], GIDS_NE, t[HI], t[LO]);
            const gids_tensor *parts[2] = {t[HEAD], t[NEQ]};
            if (st == GIDS_OK) st = gids_cat(&t[STARTS], 2, parts, 0);
        } else if (st == GIDS_OK) {
            t[STARTS] = t[HEAD];
            gids_tensor_retain(t[HEAD]);
        }
        if (st == GIDS_OK) st = gids_to_dtype(&t[WIDE], t[STARTS], GIDS_I64);
        if (st == GIDS_OK) st = gids_cumsum(&t[CUM], t[WIDE], 0);
        if (st == GIDS_OK)
            st = gids_binary_scalar(&t[GROUP], GIDS_SUB, t[CUM], gids_scalar_i(1), false);
        if (st == GIDS_OK) st = gids_masked_select(&t[VALS], t[SORTED], t[STARTS]);
        if (st == GIDS_OK && counts) st = gids_bincount(&t[CNT], t[GROUP], NULL, t[VALS]->shape[0]);
        if (st == GIDS_OK && inverse) {
            gids_tensor *flat_inv = NULL;
            st = gids_zeros(&flat_inv, GIDS_I64, dev, 1, &n);
            if (st == GIDS_OK) st = gids_scatter_(flat_inv, 0, t[PERM], t[GROUP]);
            if (st == GIDS_OK) st = gids_reshape(&t[INV], flat_inv, a->ndim, a->shape);
            gids_tensor_release(flat_inv);
        }
    }
    if (st == GIDS_OK) {
        if (values) *values = t[VALS], t[VALS] = NULL;
        if (inverse) *inverse = t[INV], t[INV] = NULL;
        if (counts) *counts = t[CNT], t[CNT] = NULL;
    }
    for (int i = 0; i < NT; i++) gids_tensor_release(t[i]);
    return st;
}

gids_status gids_unique(gids_tensor **values, gids_tensor **inverse, gids_tensor **counts,
                        const gids_tensor *a) {
    GIDS_CHECK(a != NULL, GIDS_EINVAL, "unique: input is NULL");
    if (!gids_is_cpu(a) && gids_dtype_is_float(a->dtype))
        return unique_float_device(values, inverse, counts, a);
    GIDS_ON_DEVICE("unique", unique, a)(values, inverse, counts, a);
    GIDS_TRY(gids_check_cpu("unique", "input", a));
    GIDS_TRY(gids_check_cpu_dtype("unique", "input", a));
    int64_t n = gids_tensor_numel(a);
    int64_t words;
    GIDS_CHECK(gids_mul_ok(n, 4, &words) && (uint64_t)words <= SIZE_MAX / sizeof(uint64_t),
               GIDS_EOVERFLOW, "unique: scratch for %lld elements overflows", (long long)n);

    gids_tensor *c = NULL, *v = NULL, *inv = NULL, *cnt = NULL;
    uint64_t *scratch = NULL;
    gids_status s = gids_contiguous(&c, a);
    if (s != GIDS_OK) goto done;
    scratch = malloc((size_t)(words > 0 ? words : 1) * sizeof(uint64_t));
    if (scratch == NULL) {
        s = gids_error_set(GIDS_ENOMEM, __FILE__, __LINE__,
                           "unique: cannot allocate %lld bytes of sort scratch",
                           (long long)words * 8);
        goto done;
    }
    uint64_t *keys = scratch, *tkeys = scratch + n;
    int64_t *idx = (int64_t *)(scratch + 2 * n), *tidx = (int64_t *)(scratch + 3 * n);
    const char *data = gids_tensor_data(c);
    gids_dtype dt = a->dtype;
    size_t esz = gids_dtype_size(dt);
    gids_sort_make_keys(data, dt, n, 1, false, keys);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    gids_sort_keys(keys, idx, tkeys, tidx, n);

    bool floating = gids_dtype_is_float(dt);
    uint64_t nan_key = gids_sort_nan_key(dt);
    /* group[i] = number of the group that sorted position i falls in; kept in tkeys. */
    int64_t ngroups = 0;
    for (int64_t i = 0; i < n; i++) {
        bool starts = i == 0 || keys[i] != keys[i - 1] || (floating && keys[i] == nan_key);
        if (starts) ngroups++;
        tkeys[i] = (uint64_t)(ngroups - 1);
    }

    s = gids_empty(&v, dt, GIDS_DEVICE_CPU, 1, &ngroups);
    if (s == GIDS_OK && inverse) s = gids_empty(&inv, GIDS_I64, GIDS_DEVICE_CPU, a->ndim, a->shape);
    if (s == GIDS_OK && counts)
        s = gids_zeros_named("unique", &cnt, GIDS_I64, GIDS_DEVICE_CPU, 1, &ngroups);
    if (s != GIDS_OK) goto done;

    char *vout = gids_tensor_data(v);
    int64_t *iout = inv ? gids_tensor_data(inv) : NULL;
    int64_t *cout = cnt ? gids_tensor_data(cnt) : NULL;
    for (int64_t i = 0; i < n; i++) {
        int64_t g = (int64_t)tkeys[i];
        /* The first member of a group (lowest input position: the sort is stable) gives the
         * value, so -0.0 vs +0.0 resolves to whichever came first. */
        if (i == 0 || tkeys[i - 1] != tkeys[i]) memcpy(vout + g * esz, data + idx[i] * esz, esz);
        if (iout) iout[idx[i]] = g;
        if (cout) cout[g]++;
    }
    if (values) {
        *values = v;
        v = NULL;
    }
    if (inverse) {
        *inverse = inv;
        inv = NULL;
    }
    if (counts) {
        *counts = cnt;
        cnt = NULL;
    }
done:
    free(scratch);
    gids_tensor_release(c);
    gids_tensor_release(v);
    gids_tensor_release(inv);
    gids_tensor_release(cnt);
    return s;
}

/* Checks the values of bincount's input and finds the largest. */
static gids_status bincount_scan(const gids_tensor *a, int64_t *max_out) {
    const char *base = gids_tensor_data(a);
    int64_t n = a->shape[0], st = a->stride[0], mx = -1;
    for (int64_t i = 0; i < n; i++) {
        int64_t x = gids_load_i64(base, a->dtype, i * st);
        GIDS_CHECK(
            x >= 0, GIDS_EINVAL,
            "bincount: value %lld at position %lld (0-based) is negative (values must be >= 0)",
            (long long)x, (long long)i);
        if (x > mx) mx = x;
    }
    *max_out = mx;
    return GIDS_OK;
}

/* bincount off the CPU: a segment sum of ones (or of the weights), in f64 so that counts up to
 * 2^53 are exact; the range comes first (a negative value is an error, as on the CPU), from
 * gids_int_range, which need not wait for the device (a mean's backward counts the rows of
 * each segment of the same batch vector at every step). */
static gids_status bincount_device(gids_tensor **out, const gids_tensor *a,
                                   const gids_tensor *weights, int64_t minlength) {
    gids_device dev = gids_tensor_device(a);
    int64_t n = a->shape[0], lo = 0, hi = -1;
    if (a->dtype == GIDS_U8) {
        gids_tensor *w = NULL;
        GIDS_TRY(gids_to_dtype(&w, a, GIDS_I64));
        gids_status st = gids_int_range(w, &lo, &hi);
        gids_tensor_release(w);
        GIDS_TRY(st);
    } else {
        GIDS_TRY(gids_int_range(a, &lo, &hi));
    }
    GIDS_CHECK(lo >= 0, GIDS_EINVAL, "bincount: input has a negative value %lld", (long long)lo);
    GIDS_CHECK(hi < INT64_MAX, GIDS_EOVERFLOW,
               "bincount: value %lld gives a result length that overflows int64", (long long)hi);
    int64_t len = hi + 1 > minlength ? hi + 1 : minlength;
    gids_dtype result = weights == NULL              ? GIDS_I64
                        : weights->dtype == GIDS_F32 ? GIDS_F32
                                                     : GIDS_F64;
    enum { IDX, SRC, SUM, NT };
    gids_tensor *t[NT] = {NULL};
    /* the index as it is (its kept range serves the segment sum's check too), u8 widened */
    gids_status st = GIDS_OK;
    if (a->dtype == GIDS_U8) {
        st = gids_to_dtype(&t[IDX], a, GIDS_I64);
    } else {
        gids_tensor_retain((gids_tensor *)a);
        t[IDX] = (gids_tensor *)a;
    }
    if (st == GIDS_OK)
        st = weights == NULL ? gids_full(&t[SRC], GIDS_F64, dev, 1, &n, gids_scalar_f(1.0))
                             : gids_to_dtype(&t[SRC], weights, GIDS_F64);
    if (st == GIDS_OK) st = gids_segment_reduce(&t[SUM], NULL, GIDS_SEG_SUM, t[SRC], t[IDX], len);
    if (st == GIDS_OK) st = gids_to_dtype(out, t[SUM], result);
    for (int i = 0; i < NT; i++) gids_tensor_release(t[i]);
    return st;
}

gids_status gids_bincount(gids_tensor **out, const gids_tensor *a, const gids_tensor *weights,
                          int64_t minlength) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "bincount: out is NULL");
    char sa[96], sw[96];
    GIDS_CHECK(a != NULL, GIDS_EINVAL, "bincount: input is NULL");
    bool on_device = gids_any_device(2, (const gids_tensor *const[]){a, weights});
    if (!on_device) GIDS_TRY(gids_check_cpu("bincount", "input", a));
    GIDS_CHECK(a->ndim == 1, GIDS_ESHAPE, "bincount: input must be 1-D, got shape %s",
               gids_shape_str(a->ndim, a->shape, sa, sizeof sa));
    GIDS_CHECK(gids_dtype_is_int(a->dtype), GIDS_EDTYPE,
               "bincount: input must be an integer tensor (i64, i32 or u8), got %s",
               gids_dtype_name(a->dtype));
    GIDS_CHECK(minlength >= 0, GIDS_EINVAL, "bincount: minlength must be >= 0, got %lld",
               (long long)minlength);
    if (weights) {
        if (!on_device) GIDS_TRY(gids_check_cpu("bincount", "weights", weights));
        if (!on_device) GIDS_TRY(gids_check_cpu_dtype("bincount", "weights", weights));
        GIDS_CHECK(weights->ndim == 1 && weights->shape[0] == a->shape[0], GIDS_ESHAPE,
                   "bincount: weights has shape %s, expected %s (the input's shape)",
                   gids_shape_str(weights->ndim, weights->shape, sw, sizeof sw),
                   gids_shape_str(a->ndim, a->shape, sa, sizeof sa));
    }
    if (on_device) {
        const gids_backend *be = NULL; /* one device for both, or EDEVICE naming them */
        GIDS_TRY(
            gids_dispatch_backend("bincount", 2, (const gids_tensor *const[]){a, weights}, &be));
        return bincount_device(out, a, weights, minlength);
    }
    int64_t mx = -1, len;
    GIDS_TRY(bincount_scan(a, &mx));
    GIDS_CHECK(mx < INT64_MAX, GIDS_EOVERFLOW,
               "bincount: value %lld gives a result length that overflows int64", (long long)mx);
    len = mx + 1 > minlength ? mx + 1 : minlength;

    const char *base = gids_tensor_data(a);
    int64_t n = a->shape[0], st = a->stride[0];
    gids_tensor *r = NULL;
    if (weights == NULL) {
        GIDS_TRY(gids_zeros_named("bincount", &r, GIDS_I64, GIDS_DEVICE_CPU, 1, &len));
        int64_t *cnt = gids_tensor_data(r);
        for (int64_t i = 0; i < n; i++) cnt[gids_load_i64(base, a->dtype, i * st)]++;
        *out = r;
        return GIDS_OK;
    }
    /* Weighted: sums in f64 whatever the weights' dtype, then f32 weights give f32 (torch
     * gives the float weights' dtype, and f64 for integer or bool weights). */
    GIDS_TRY(gids_zeros_named("bincount", &r, GIDS_F64, GIDS_DEVICE_CPU, 1, &len));
    double *acc = gids_tensor_data(r);
    const char *wbase = gids_tensor_data(weights);
    int64_t wst = weights->stride[0];
    for (int64_t i = 0; i < n; i++)
        acc[gids_load_i64(base, a->dtype, i * st)] += gids_load_f64(wbase, weights->dtype, i * wst);
    if (weights->dtype != GIDS_F32) {
        *out = r;
        return GIDS_OK;
    }
    gids_tensor *r32 = NULL;
    gids_status s = gids_to_dtype(&r32, r, GIDS_F32);
    gids_tensor_release(r);
    if (s == GIDS_OK) *out = r32;
    return s;
}
