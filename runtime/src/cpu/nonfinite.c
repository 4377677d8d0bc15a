/* nonfinite.c -- gids_count_nonfinite (gids/optim.h): how many elements of a list of tensors
 * are inf or NaN, as one 0-d f64 tensor on their device.
 *
 * The trainer asks this of every step's gradients: a finite loss can still come with a NaN
 * gradient (a square root's at 0, a division by a zero norm), and the optimizer step would
 * write it into every weight.  The count stays on the device, so the trainer reads it in the
 * same copy as the step's logged values and the check costs no extra wait.
 *
 * The test is on the bits (every exponent bit set), not on x != x, so that no compiler flag
 * about finite math can fold it away, and the same loop serves f16 and bf16 bytes. */
#include <stdint.h>

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "gids/backend.h"
#include "gids/ops.h"
#include "gids/optim.h"
#include "index_impl.h"

/* Elements with every exponent bit set among n of element type U (one lane each: the loop
 * vectorises to a compare and a subtract). */
#define COUNT_EXP_ALL_SET(U, MASK)                                                                 \
    do {                                                                                           \
        const U *u = data;                                                                         \
        for (int64_t i = 0; i < n; i++) c += (u[i] & (U)(MASK)) == (U)(MASK);                      \
    } while (0)

static int64_t count_run(const void *data, int64_t n, gids_dtype dt) {
    int64_t c = 0;
    switch (dt) {
    case GIDS_F32: COUNT_EXP_ALL_SET(uint32_t, 0x7f800000u); break;
    case GIDS_F64: COUNT_EXP_ALL_SET(uint64_t, 0x7ff0000000000000ull); break;
    case GIDS_F16: COUNT_EXP_ALL_SET(uint16_t, 0x7c00u); break;
    case GIDS_BF16: COUNT_EXP_ALL_SET(uint16_t, 0x7f80u); break;
    default: break; /* integers and bool hold no inf or NaN */
    }
    return c;
}

/* The count of one CPU tensor: contiguous in one run, else one run per innermost row. */
static int64_t count_tensor(const gids_tensor *t) {
    int64_t n = gids_tensor_numel(t);
    if (n == 0 || !gids_dtype_is_float(t->dtype)) return 0;
    const char *base = gids_tensor_data(t);
    if (gids_tensor_is_contiguous(t)) return count_run(base, n, t->dtype);
    size_t es = gids_dtype_size(t->dtype);
    int nd = t->ndim;
    int64_t inner = t->shape[nd - 1], coord[GIDS_MAX_DIMS] = {0};
    int64_t c = 0;
    for (int64_t row = 0; row < n / inner; row++) {
        gids_unravel(row * inner, nd, t->shape, coord);
        const char *p = base + (size_t)gids_offset_of(nd, coord, t->stride) * es;
        if (t->stride[nd - 1] == 1) {
            c += count_run(p, inner, t->dtype);
        } else {
            for (int64_t j = 0; j < inner; j++)
                c += count_run(p + (size_t)(j * t->stride[nd - 1]) * es, 1, t->dtype);
        }
    }
    return c;
}

/* A backend without the entry: non-finite = elements - sum(isfinite), composed from its ops
 * (a few launches per tensor, no wait; f16 and bf16, which isfinite refuses, widened to f32
 * first, which keeps every inf and NaN). */
static gids_status count_composed(gids_tensor **out, int n, const gids_tensor *const *ts) {
    gids_status st = GIDS_OK;
    gids_tensor *finite = NULL, *wide = NULL, *f = NULL, *s = NULL, *sum = NULL, *left = NULL;
    int64_t total = 0;
    for (int i = 0; i < n && st == GIDS_OK; i++) {
        if (!gids_dtype_is_float(ts[i]->dtype) || gids_tensor_numel(ts[i]) == 0) continue;
        total += gids_tensor_numel(ts[i]);
        if (gids_dtype_is_half(ts[i]->dtype)) {
            st = gids_to_dtype(&wide, ts[i], GIDS_F32);
            if (st == GIDS_OK) st = gids_unary(&f, GIDS_ISFINITE, wide);
            gids_tensor_release(wide);
            wide = NULL;
        } else {
            st = gids_unary(&f, GIDS_ISFINITE, ts[i]);
        }
        if (st == GIDS_OK) st = gids_reduce(&s, GIDS_SUM, f, 0, NULL, false);
        gids_tensor_release(f);
        f = NULL;
        if (st != GIDS_OK) break;
        if (finite == NULL) {
            finite = s;
        } else {
            st = gids_binary(&sum, GIDS_ADD, finite, s);
            gids_tensor_release(s);
            gids_tensor_release(finite);
            finite = sum;
            sum = NULL;
        }
        s = NULL;
    }
    if (st == GIDS_OK && finite == NULL) /* nothing that can hold an inf */
        return gids_zeros_named("count_nonfinite", out, GIDS_F64, gids_tensor_device(ts[0]), 0,
                                NULL);
    if (st == GIDS_OK) st = gids_binary_scalar(&left, GIDS_SUB, finite, gids_scalar_i(total), true);
    if (st == GIDS_OK) st = gids_to_dtype(out, left, GIDS_F64);
    gids_tensor_release(left);
    gids_tensor_release(finite);
    return st;
}

gids_status gids_count_nonfinite(gids_tensor **out, int n, const gids_tensor *const *ts) {
    const char *op = "count_nonfinite";
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", op);
    GIDS_CHECK(n >= 0, GIDS_EINVAL, "%s: n must be >= 0, got %d", op, n);
    GIDS_CHECK(n == 0 || ts != NULL, GIDS_EINVAL, "%s: the list is NULL", op);
    for (int i = 0; i < n; i++)
        GIDS_CHECK(ts[i] != NULL, GIDS_EINVAL, "%s: tensor %d is NULL", op, i + 1);
    if (n == 0) return gids_zeros_named(op, out, GIDS_F64, GIDS_DEVICE_CPU, 0, NULL);
    gids_device dev = gids_tensor_device(ts[0]);
    for (int i = 1; i < n; i++) {
        if (gids_device_eq(gids_tensor_device(ts[i]), dev)) continue;
        char a[32], b[32];
        GIDS_FAIL(GIDS_EDEVICE, "%s: tensor %d is on %s, tensor 1 on %s (one device per call)", op,
                  i + 1, gids_device_str(gids_tensor_device(ts[i]), a, sizeof a),
                  gids_device_str(dev, b, sizeof b));
    }
    if (dev.type != GIDS_CPU) {
        const gids_backend *be = NULL;
        GIDS_TRY(gids_dispatch_backend(op, 1, ts, &be));
        if (be->count_nonfinite != NULL) return be->count_nonfinite(out, n, ts);
        return count_composed(out, n, ts);
    }
    int64_t c = 0;
    for (int i = 0; i < n; i++) c += count_tensor(ts[i]);
    return gids_full(out, GIDS_F64, GIDS_DEVICE_CPU, 0, NULL, gids_scalar_f((double)c));
}
