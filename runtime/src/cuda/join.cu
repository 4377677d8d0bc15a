/* join.cu -- cat on CUDA tensors.
 *
 * As the CPU (cpu/join.c): the dtype is promoted across the inputs, 1-D empty tensors (torch's
 * legacy placeholder) are skipped in any position, and every other input must match the first
 * kept one outside the cat dim.  Each input is copied into a narrow view of the result by the
 * backend's copy (gc_copy: strides, dtype conversion, device to device), so the dtypes covered
 * are those of the copy (f32, f64, i64, i32, u8, bool).
 */
#include <string.h>

#include "cuda_impl.h"

static bool skipped(const gids_tensor *t) {
    return t->ndim == 1 && t->shape[0] == 0;
}

gids_status gc_cat(gids_tensor **out, int n, const gids_tensor *const *ts, int dim) {
    const char *op = "cat";
    GIDS_CHECK(out != nullptr, GIDS_EINVAL, "%s: out is NULL", op);
    *out = nullptr;
    GIDS_CHECK(n > 0 && ts != nullptr, GIDS_EINVAL,
               "%s: expected a non-empty list of tensors, got %d", op, n);
    for (int i = 0; i < n; i++)
        GIDS_CHECK(ts[i] != nullptr, GIDS_EINVAL, "%s: list entry %d (0-based) is NULL", op, i);
    /* The runtime checked that every input lives on one device. */
    const gids_device dev = gc_dev(ts[0]);
    gids_dtype dt = ts[0]->dtype;
    for (int i = 1; i < n; i++) dt = gids_promote(dt, ts[i]->dtype);
    GIDS_TRY(gc_use_device(op, ts[0]));
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
        GIDS_CHECK(!__builtin_add_overflow(shape[d], t->shape[d], &shape[d]), GIDS_EOVERFLOW,
                   "cat: the size along the cat dim overflows int64");
    }
    gc_ref r;
    GIDS_TRY(gids_empty(&r.t, dt, dev, ref->ndim, shape));
    int64_t at = 0;
    for (int i = first; i < n; i++) {
        const gids_tensor *t = ts[i];
        if (skipped(t) || t->shape[d] == 0) continue;
        gc_ref slice;
        GIDS_TRY(gids_narrow(&slice.t, r.t, d, at, t->shape[d]));
        GIDS_TRY(gc_copy(slice.t, t));
        at += t->shape[d];
    }
    *out = r.take();
    return GIDS_OK;
}
