/* ranges.c -- bounds of the values of index tensors on a device, carried through the ops that
 * make indexes from other indexes.
 *
 * A device checks an index's range before an op uses it, and learning an unknown range means
 * reading it back: a wait for the device, which leaves the GPU idle while the host queues what
 * follows.  The backend keeps the ranges it has read and those of tensors uploaded from the
 * host (runtime/src/kept_ranges.h); here the runtime adds what it knows of an op's result from
 * how it was made, as bounds (never as the least and greatest value gids_int_range gives):
 *   fill / full with v            [v, v]
 *   index_select, gather          within the source's bounds (they pick some of its values)
 *   where(c, a, b), cat(...)      within the union of the inputs' bounds
 *   nonzero(a)                    within [0, largest dim of a - 1]
 *   masked_select(a, m)           within a's bounds
 *   a + b, a - b, a * b           interval arithmetic on the bounds (none when it could
 *                                 overflow: the device's i64 arithmetic wraps)
 *   remainder(a, d), d >= 1       within [0, d_hi - 1]; fmod too when a >= 0
 * An attention layer's edges with their self-loops replaced (the kept edges picked by nonzero,
 * then the node numbers appended), built at every new batch, and the VGAE's (node, id) keys
 * (node * num_ids + id) are then checked without a wait.
 * Only for contiguous i64 results, and only where every input's bounds are known.
 */
#include "core_impl.h"
#include "dispatch_impl.h"

/* The backend of a device tensor t with the range entries, or NULL. */
static const gids_backend *range_backend(const gids_tensor *t) {
    if (t == NULL || gids_is_cpu(t) || t->dtype != GIDS_I64) return NULL;
    const gids_backend *be = gids_backend_get(t->storage->device.type);
    return be != NULL && be->range_known != NULL && be->range_note != NULL ? be : NULL;
}

static bool has_values(const gids_tensor *t) {
    return gids_tensor_numel(t) > 0 && gids_tensor_is_contiguous(t);
}

void gids_range_note(const gids_tensor *t, int64_t lo, int64_t hi) {
    const gids_backend *be = range_backend(t);
    if (be != NULL && has_values(t) && lo <= hi) be->range_note(t, lo, hi);
}

void gids_range_follow(const gids_tensor *out, int n, const gids_tensor *const *ins) {
    const gids_backend *be = range_backend(out);
    if (be == NULL || !has_values(out)) return;
    bool any = false;
    int64_t lo = 0, hi = 0;
    for (int i = 0; i < n; i++) {
        const gids_tensor *t = ins[i];
        if (t == NULL || gids_tensor_numel(t) == 0) continue; /* contributes no value */
        int64_t a = 0, b = 0;
        if (range_backend(t) != be || !gids_tensor_is_contiguous(t) || !be->range_known(t, &a, &b))
            return;
        lo = any && lo < a ? lo : a;
        hi = any && hi > b ? hi : b;
        any = true;
    }
    if (any) be->range_note(out, lo, hi);
}

/* The bounds of a tensor operand (range_known) or of an integer number (b == NULL). */
static bool operand(const gids_backend *be, const gids_tensor *t, gids_scalar s, int64_t *lo,
                    int64_t *hi) {
    if (t == NULL) {
        *lo = *hi = s.i;
        return s.is_int;
    }
    return range_backend(t) == be && gids_tensor_numel(t) > 0 && gids_tensor_is_contiguous(t) &&
           be->range_known(t, lo, hi);
}

void gids_range_binary(const gids_tensor *out, gids_binop op, const gids_tensor *a,
                       const gids_tensor *b, gids_scalar s, bool reversed) {
    const gids_backend *be = range_backend(out);
    if (be == NULL || !has_values(out)) return;
    int64_t xl, xh, yl, yh, lo = 0, hi = -1; /* (set by every case that notes a range) */
    /* x op y, in the op's order */
    const gids_tensor *x = reversed ? b : a, *y = reversed ? a : b;
    if (!operand(be, x, s, &xl, &xh) || !operand(be, y, s, &yl, &yh)) return;
    bool over = false;
    switch (op) {
    case GIDS_ADD:
        over = __builtin_add_overflow(xl, yl, &lo) || __builtin_add_overflow(xh, yh, &hi);
        break;
    case GIDS_SUB:
        over = __builtin_sub_overflow(xl, yh, &lo) || __builtin_sub_overflow(xh, yl, &hi);
        break;
    case GIDS_MUL: {
        int64_t c[4];
        over = __builtin_mul_overflow(xl, yl, &c[0]) || __builtin_mul_overflow(xl, yh, &c[1]) ||
               __builtin_mul_overflow(xh, yl, &c[2]) || __builtin_mul_overflow(xh, yh, &c[3]);
        lo = hi = c[0];
        for (int i = 1; i < 4; i++) {
            lo = c[i] < lo ? c[i] : lo;
            hi = c[i] > hi ? c[i] : hi;
        }
        break;
    }
    case GIDS_REMAINDER: /* takes the divisor's sign */
    case GIDS_FMOD:      /* takes the dividend's */
        if (yl < 1 || (op == GIDS_FMOD && xl < 0)) return;
        lo = 0;
        hi = yh - 1;
        break;
    default: return;
    }
    if (!over) be->range_note(out, lo, hi);
}
