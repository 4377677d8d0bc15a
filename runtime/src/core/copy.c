/* copy.c -- strided copies with dtype conversion; contiguous, clone, to_dtype, fill_.
 *
 * Conversion rules: bool <- x != 0; integer <- float truncates toward zero and saturates at the
 * integer's range (NaN -> 0), because a plain C cast of an out-of-range float is undefined;
 * everything else is a C conversion.
 */
#include <math.h>
#include <string.h>

#include "core_impl.h"
#include "dispatch_impl.h"
#include "iter_impl.h"

#define CV_PLAIN(DT, v) ((DT)(v))
#define CV_BOOL(DT, v) ((DT)((v) != 0))
#define CV_SAT(DT, v, lo, hi)                                                                      \
    ((DT)(isnan((double)(v)) ? 0                                                                   \
                             : ((double)(v) <= (lo) ? (lo) : ((double)(v) >= (hi) ? (hi) : (v)))))
#define CV_I64(DT, v) ((DT)gids_sat_i64((double)(v)))
#define CV_I32(DT, v) CV_SAT(DT, v, -2147483648.0, 2147483647.0)
#define CV_U8(DT, v) CV_SAT(DT, v, 0.0, 255.0)

/* One kernel per (destination, source) pair; the contiguous case is a plain loop the compiler
 * vectorises. */
#define CAST_KERNEL(NAME, DT, ST, CV)                                                              \
    GIDS_HOT static void NAME(void *ctx, int64_t n, char **p, const int64_t *s) {                  \
        if (s[0] == (int64_t)sizeof(DT) && s[1] == (int64_t)sizeof(ST)) {                          \
            DT *d = (DT *)p[0];                                                                    \
            const ST *x = (const ST *)p[1];                                                        \
            for (int64_t i = 0; i < n; i++) d[i] = CV(DT, x[i]);                                   \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++)                                                        \
                *(DT *)(p[0] + i * s[0]) = CV(DT, *(const ST *)(p[1] + i * s[1]));                 \
        }                                                                                          \
    }

/* destination f32 */
CAST_KERNEL(f32_f64, float, double, CV_PLAIN)
CAST_KERNEL(f32_i64, float, int64_t, CV_PLAIN)
CAST_KERNEL(f32_i32, float, int32_t, CV_PLAIN)
CAST_KERNEL(f32_u8, float, uint8_t, CV_PLAIN)
/* destination f64 */
CAST_KERNEL(f64_f32, double, float, CV_PLAIN)
CAST_KERNEL(f64_i64, double, int64_t, CV_PLAIN)
CAST_KERNEL(f64_i32, double, int32_t, CV_PLAIN)
CAST_KERNEL(f64_u8, double, uint8_t, CV_PLAIN)
/* destination i64 */
CAST_KERNEL(i64_f32, int64_t, float, CV_I64)
CAST_KERNEL(i64_f64, int64_t, double, CV_I64)
CAST_KERNEL(i64_i32, int64_t, int32_t, CV_PLAIN)
CAST_KERNEL(i64_u8, int64_t, uint8_t, CV_PLAIN)
/* destination i32 */
CAST_KERNEL(i32_f32, int32_t, float, CV_I32)
CAST_KERNEL(i32_f64, int32_t, double, CV_I32)
CAST_KERNEL(i32_i64, int32_t, int64_t, CV_PLAIN)
CAST_KERNEL(i32_u8, int32_t, uint8_t, CV_PLAIN)
/* destination u8 */
CAST_KERNEL(u8_f32, uint8_t, float, CV_U8)
CAST_KERNEL(u8_f64, uint8_t, double, CV_U8)
CAST_KERNEL(u8_i64, uint8_t, int64_t, CV_PLAIN)
CAST_KERNEL(u8_i32, uint8_t, int32_t, CV_PLAIN)
/* destination bool */
CAST_KERNEL(b_f32, uint8_t, float, CV_BOOL)
CAST_KERNEL(b_f64, uint8_t, double, CV_BOOL)
CAST_KERNEL(b_i64, uint8_t, int64_t, CV_BOOL)
CAST_KERNEL(b_i32, uint8_t, int32_t, CV_BOOL)
CAST_KERNEL(b_u8, uint8_t, uint8_t, CV_BOOL)

/* Same-dtype copies only move bytes. */
CAST_KERNEL(same1, uint8_t, uint8_t, CV_PLAIN)
CAST_KERNEL(same4, uint32_t, uint32_t, CV_PLAIN)
CAST_KERNEL(same8, uint64_t, uint64_t, CV_PLAIN)

/* Indexed [destination][source] in gids_dtype order f32 f64 i64 i32 u8 bool. */
static const gids_iter_fn cast_table_[6][6] = {
    [GIDS_F32] = {same4, f32_f64, f32_i64, f32_i32, f32_u8, f32_u8},
    [GIDS_F64] = {f64_f32, same8, f64_i64, f64_i32, f64_u8, f64_u8},
    [GIDS_I64] = {i64_f32, i64_f64, same8, i64_i32, i64_u8, i64_u8},
    [GIDS_I32] = {i32_f32, i32_f64, i32_i64, same4, i32_u8, i32_u8},
    [GIDS_U8] = {u8_f32, u8_f64, u8_i64, u8_i32, same1, same1},
    [GIDS_BOOL] = {b_f32, b_f64, b_i64, b_i32, b_u8, same1},
};

gids_status gids_copy_(gids_tensor *dst, const gids_tensor *src) {
    GIDS_CHECK(dst != NULL && src != NULL, GIDS_EINVAL, "copy_: %s is NULL",
               dst == NULL ? "the destination" : "the source");
    GIDS_TRY(gids_check_writable("copy_", dst));
    if (!gids_is_cpu(dst) || !gids_is_cpu(src)) {
        /* Between the CPU and a device, or on one device: the device's backend moves it. */
        const gids_tensor *dev = gids_is_cpu(dst) ? src : dst;
        const gids_backend *be = gids_backend_get(gids_tensor_device(dev).type);
        if (be == NULL || be->copy == NULL) return gids_no_kernel("copy_", dev);
        /* Before the copy: the backend may note facts about the new contents at the version
         * they will have (the CUDA plugin keeps an i64 tensor's range for its index checks). */
        gids_tensor_bump_version(dst);
        return be->copy(dst, src);
    }
    if (gids_may_overlap(dst, src)) {
        /* dst would overwrite elements of src before they are read (t:copy_(t:t())). */
        gids_tensor *tmp = NULL;
        GIDS_TRY(gids_clone(&tmp, src));
        gids_status st = gids_copy_(dst, tmp);
        gids_tensor_release(tmp);
        return st;
    }
    const gids_tensor *ops[2] = {dst, src};
    gids_iter it;
    GIDS_TRY(gids_iter_init(&it, "copy_", 2, ops));
    gids_iter_run(&it, cast_table_[dst->dtype][src->dtype], NULL);
    gids_tensor_bump_version(dst);
    return GIDS_OK;
}

/* A dense copy of t; op names the caller in errors (an out-of-memory copy of a huge broadcast
 * view says "contiguous:", not the allocator's name). */
static gids_status clone_named_(const char *op, gids_tensor **out, const gids_tensor *t) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", op);
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "%s: the tensor is NULL", op);
    gids_tensor *r = NULL;
    if (gids_is_cpu(t)) GIDS_TRY(gids_check_cpu_dtype(op, "tensor", t));
    GIDS_TRY(gids_empty_named(op, &r, t->dtype, t->storage->device, t->ndim, t->shape));
    gids_status s = gids_copy_(r, t);
    if (s != GIDS_OK) {
        gids_tensor_release(r);
        return s;
    }
    *out = r;
    return GIDS_OK;
}

gids_status gids_clone(gids_tensor **out, const gids_tensor *t) {
    return clone_named_("clone", out, t);
}

gids_status gids_contiguous(gids_tensor **out, const gids_tensor *t) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "contiguous: out is NULL");
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "contiguous: the tensor is NULL");
    if (gids_tensor_is_contiguous(t)) {
        gids_tensor_retain((gids_tensor *)t);
        *out = (gids_tensor *)t;
        return GIDS_OK;
    }
    return clone_named_("contiguous", out, t);
}

gids_status gids_to_dtype(gids_tensor **out, const gids_tensor *t, gids_dtype dt) {
    GIDS_CHECK_ARG(out, "to_dtype", "out");
    GIDS_CHECK_ARG(t, "to_dtype", "the tensor");
    gids_tensor *r = NULL;
    if (gids_is_cpu(t)) GIDS_TRY(gids_check_cpu_dtype("to_dtype", "tensor", t));
    GIDS_TRY(gids_empty_named("to_dtype", &r, dt, t->storage->device, t->ndim, t->shape));
    gids_status s = gids_copy_(r, t);
    if (s != GIDS_OK) {
        gids_tensor_release(r);
        return s;
    }
    *out = r;
    return GIDS_OK;
}

/* ---- fill ---- */
typedef struct {
    union {
        float f32;
        double f64;
        int64_t i64;
        int32_t i32;
        uint8_t u8;
    } v;
} fill_ctx;

#define FILL_KERNEL(NAME, T, FIELD)                                                                \
    GIDS_HOT static void NAME(void *ctx, int64_t n, char **p, const int64_t *s) {                  \
        T v = ((const fill_ctx *)ctx)->v.FIELD;                                                    \
        if (s[0] == (int64_t)sizeof(T)) {                                                          \
            T *d = (T *)p[0];                                                                      \
            for (int64_t i = 0; i < n; i++) d[i] = v;                                              \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) *(T *)(p[0] + i * s[0]) = v;                           \
        }                                                                                          \
    }
FILL_KERNEL(fill_f32, float, f32)
FILL_KERNEL(fill_f64, double, f64)
FILL_KERNEL(fill_i64, int64_t, i64)
FILL_KERNEL(fill_i32, int32_t, i32)
FILL_KERNEL(fill_u8, uint8_t, u8)

/* The device backend's fill of t (off the CPU); the caller bumps the version, which the
 * backends leave to the core as they do for copy. */
static gids_status fill_device(gids_tensor *t, gids_scalar value) {
    GIDS_ON_DEVICE("fill_", fill, t)(t, value);
    GIDS_FAIL(GIDS_EINVAL, "fill_: internal error: a CPU tensor reached the device path");
}

gids_status gids_fill_(gids_tensor *t, gids_scalar value) {
    GIDS_TRY(gids_check_writable("fill_", t));
    GIDS_TRY(gids_check_fits("fill_", t->dtype, value));
    if (!gids_is_cpu(t)) {
        /* autograd compares versions: a fill_ of a saved device tensor must show, as on the CPU */
        GIDS_TRY(fill_device(t, value));
        gids_tensor_bump_version(t);
        if (value.is_int) gids_range_note(t, value.i, value.i); /* ranges.c: after the bump */
        return GIDS_OK;
    }
    const gids_tensor *ops[1] = {t};
    gids_iter it;
    GIDS_TRY(gids_iter_init(&it, "fill_", 1, ops));
    fill_ctx c;
    gids_iter_fn fn = NULL;
    double f = value.is_int ? (double)value.i : value.f;
    switch (t->dtype) {
    case GIDS_F32: c.v.f32 = (float)f, fn = fill_f32; break;
    case GIDS_F64: c.v.f64 = f, fn = fill_f64; break;
    case GIDS_I64: c.v.i64 = value.is_int ? value.i : CV_I64(int64_t, f), fn = fill_i64; break;
    case GIDS_I32:
        c.v.i32 = value.is_int ? (int32_t)value.i : CV_I32(int32_t, f), fn = fill_i32;
        break;
    case GIDS_U8: c.v.u8 = value.is_int ? (uint8_t)value.i : CV_U8(uint8_t, f), fn = fill_u8; break;
    case GIDS_BOOL: c.v.u8 = value.is_int ? value.i != 0 : f != 0.0, fn = fill_u8; break;
    default:
        GIDS_FAIL(GIDS_EDTYPE, "fill_: dtype %s not supported on the CPU",
                  gids_dtype_name(t->dtype));
    }
    gids_iter_run(&it, fn, &c);
    gids_tensor_bump_version(t);
    return GIDS_OK;
}
