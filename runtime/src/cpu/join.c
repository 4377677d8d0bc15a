/* join.c -- cat, stack and split.
 *
 * cat promotes dtypes across its inputs (as torch) and skips 1-D empty tensors, the legacy
 * placeholder torch still accepts in any position.  Each input is copied into its slice of the
 * result through gids_copy_, which handles strides and dtype conversion on any device, so cat
 * needs no device kernel of its own.  split returns views.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "gids/ops.h"

static bool skipped(const gids_tensor *t) {
    return t->ndim == 1 && t->shape[0] == 0;
}

/* The list is non-empty and has no NULL entry; on_cpu adds the CPU checks (a list on a device
 * goes to its backend, which checks the rest). */
static gids_status check_list(const char *op, int n, const gids_tensor *const *ts, bool on_cpu) {
    GIDS_CHECK(n > 0, GIDS_EINVAL, "%s: expected a non-empty list of tensors, got %d", op, n);
    for (int i = 0; i < n; i++) {
        GIDS_CHECK(ts[i] != NULL, GIDS_EINVAL, "%s: list entry %d (0-based) is NULL", op, i);
        if (!on_cpu) continue;
        GIDS_TRY(gids_check_cpu(op, "tensor", ts[i]));
        GIDS_TRY(gids_check_cpu_dtype(op, "tensor", ts[i]));
    }
    return GIDS_OK;
}

gids_status gids_cat(gids_tensor **out, int n, const gids_tensor *const *ts, int dim) {
    const char *op = "cat";
    GIDS_CHECK_ARG(out, op, "out");
    *out = NULL;
    GIDS_CHECK(n <= 0 || ts != NULL, GIDS_EINVAL, "cat: the list is NULL with %d tensors", n);
    /* Any device: the result is filled through gids_copy_, which hands device copies (with
     * strides and dtype conversion) to the device's backend; only the device must be shared. */
    bool on_device = gids_any_device(n, ts);
    GIDS_TRY(check_list(op, n, ts, !on_device));
    gids_device dev = gids_tensor_device(ts[0]);
    if (on_device) {
        const gids_backend *be = NULL;
        GIDS_TRY(gids_dispatch_backend(op, n, ts, &be)); /* one device, or EDEVICE */
    }
    gids_dtype dt = ts[0]->dtype;
    for (int i = 1; i < n; i++) dt = gids_promote(dt, ts[i]->dtype);
    int first = -1;
    for (int i = 0; i < n && first < 0; i++)
        if (!skipped(ts[i])) first = i;
    if (first < 0) { /* only empty placeholders: an empty 1-D result */
        int64_t zero = 0;
        return gids_empty(out, dt, dev, 1, &zero);
    }
    const gids_tensor *ref = ts[first];
    char sa[128], sb[128];
    GIDS_CHECK(ref->ndim > 0, GIDS_ESHAPE,
               "cat: zero-dimensional tensors cannot be concatenated (use stack)");
    int d = 0;
    GIDS_TRY(gids_normalize_dim(op, dim, ref->ndim, &d));
    int64_t shape[GIDS_MAX_DIMS];
    memcpy(shape, ref->shape, sizeof(int64_t) * (size_t)ref->ndim);
    shape[d] = 0;
    for (int i = first; i < n; i++) {
        const gids_tensor *t = ts[i];
        if (skipped(t)) continue;
        bool ok = t->ndim == ref->ndim;
        for (int k = 0; ok && k < t->ndim; k++) ok = k == d || t->shape[k] == ref->shape[k];
        GIDS_CHECK(ok, GIDS_ESHAPE,
                   "cat: shapes %s and %s differ outside the cat dim (the sizes of every other "
                   "dim must match)",
                   gids_shape_str(ref->ndim, ref->shape, sb, sizeof sb),
                   gids_shape_str(t->ndim, t->shape, sa, sizeof sa));
        GIDS_CHECK(gids_add_ok(shape[d], t->shape[d], &shape[d]), GIDS_EOVERFLOW,
                   "cat: the size along the cat dim overflows int64");
    }
    gids_tensor *r = NULL;
    GIDS_TRY(gids_empty(&r, dt, dev, ref->ndim, shape));
    int64_t at = 0;
    gids_status st = GIDS_OK;
    for (int i = first; i < n && st == GIDS_OK; i++) {
        const gids_tensor *t = ts[i];
        if (skipped(t) || t->shape[d] == 0) continue;
        gids_tensor *slice = NULL;
        st = gids_narrow(&slice, r, d, at, t->shape[d]);
        if (st == GIDS_OK) st = gids_copy_(slice, t);
        gids_tensor_release(slice);
        at += t->shape[d];
    }
    if (st != GIDS_OK) {
        gids_tensor_release(r);
        return st;
    }
    if (on_device) gids_range_follow(r, n, ts); /* the inputs' values (core/ranges.c) */
    *out = r;
    return GIDS_OK;
}

gids_status gids_stack(gids_tensor **out, int n, const gids_tensor *const *ts, int dim) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "stack: out is NULL");
    *out = NULL;
    const char *op = "stack";
    GIDS_CHECK(n <= 0 || ts != NULL, GIDS_EINVAL, "stack: the list is NULL with %d tensors", n);
    /* Views and cat: a list on a device goes through cat's device path. */
    GIDS_TRY(check_list(op, n, ts, n <= 0 || !gids_any_device(n, ts)));
    const gids_tensor *ref = ts[0];
    char sa[128], sb[128];
    for (int i = 1; i < n; i++) {
        const gids_tensor *t = ts[i];
        bool ok = t->ndim == ref->ndim &&
                  memcmp(t->shape, ref->shape, sizeof(int64_t) * (size_t)t->ndim) == 0;
        GIDS_CHECK(ok, GIDS_ESHAPE, "stack: shapes %s and %s differ; stack needs equal shapes",
                   gids_shape_str(ref->ndim, ref->shape, sb, sizeof sb),
                   gids_shape_str(t->ndim, t->shape, sa, sizeof sa));
    }
    int d = 0;
    /* the new dim may sit after the last one */
    GIDS_TRY(gids_normalize_new_dim(op, dim, ref->ndim, &d));
    GIDS_CHECK(ref->ndim + 1 <= GIDS_MAX_DIMS, GIDS_ESHAPE,
               "stack: result would have %d dims, max %d", ref->ndim + 1, GIDS_MAX_DIMS);
    gids_tensor **views = calloc((size_t)n, sizeof *views);
    GIDS_CHECK(views != NULL, GIDS_ENOMEM, "stack: cannot allocate %d views", n);
    gids_status st = GIDS_OK;
    for (int i = 0; i < n && st == GIDS_OK; i++) st = gids_unsqueeze(&views[i], ts[i], d);
    if (st == GIDS_OK) st = gids_cat(out, n, (const gids_tensor *const *)views, d);
    for (int i = 0; i < n; i++) gids_tensor_release(views[i]);
    free(views);
    return st;
}

gids_status gids_split(gids_tensor **outs, int n, const gids_tensor *t, const int64_t *sizes,
                       int dim) {
    const char *op = "split";
    GIDS_CHECK(n <= 0 || (outs != NULL && sizes != NULL), GIDS_EINVAL,
               "split: outs or sizes is NULL with %d parts", n);
    for (int i = 0; i < n; i++) outs[i] = NULL;
    GIDS_CHECK(n > 0, GIDS_EINVAL, "split: expected at least 1 size, got %d", n);
    GIDS_CHECK_ARG(t, op, "the tensor");
    int d = 0;
    GIDS_TRY(gids_normalize_dim(op, dim, t->ndim, &d));
    GIDS_CHECK(t->ndim > 0, GIDS_ESHAPE, "split: cannot split a 0-d tensor");
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        GIDS_CHECK(sizes[i] >= 0, GIDS_EINVAL,
                   "split: size %lld at position %d (0-based), expected >= 0", (long long)sizes[i],
                   i);
        GIDS_CHECK(gids_add_ok(total, sizes[i], &total), GIDS_EOVERFLOW,
                   "split: the sizes overflow int64");
    }
    GIDS_CHECK(total == t->shape[d], GIDS_ESHAPE,
               "split: sizes add up to %lld, expected %lld (the size of the split dim)",
               (long long)total, (long long)t->shape[d]);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        gids_status st = gids_narrow(&outs[i], t, d, at, sizes[i]);
        if (st != GIDS_OK) {
            for (int j = 0; j < i; j++) {
                gids_tensor_release(outs[j]);
                outs[j] = NULL;
            }
            return st;
        }
        at += sizes[i];
    }
    return GIDS_OK;
}
