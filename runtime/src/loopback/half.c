/* half.c -- f16 and bf16 on the loopback device, which the CPU has no storage for: copies and
 * fill convert through f32 as the CUDA plugin does (runtime/src/cuda/copy.cu: every conversion
 * goes through f32, f32 -> f16/bf16 rounds to nearest even, a double is first rounded to f32),
 * and the matrix products run the CPU's f32 product on widened operands, then round the result
 * to the operands' dtype (cuBLAS's f32 accumulation with a half output). */
#include <math.h>
#include <string.h>

#include "loopback_impl.h"

static uint16_t f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) return sign | 0x7E00 | (uint16_t)((ax >> 13) & 0x3FF); /* NaN, quiet */
    if (ax >= 0x477FF000u) return sign | 0x7C00; /* 65520 and above (and inf) round to inf */
    if (ax < 0x38800000u) {                      /* below 2^-14: a subnormal half or zero */
        float a;
        memcpy(&a, &ax, 4);
        return sign | (uint16_t)rintf(a * 16777216.0f); /* exact scaling; rintf ties to even */
    }
    uint32_t h = ((ax >> 23) - 127 + 15) << 10 | ((ax >> 13) & 0x3FF);
    uint32_t rem = ax & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* a carry into the exponent is right */
    return sign | (uint16_t)h;
}

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF, x;
    if (e == 0) {
        float f = ldexpf((float)m, -24);
        return sign ? -f : f;
    }
    x = e == 31 ? sign | 0x7F800000u | m << 13 : sign | (e - 15 + 127) << 23 | m << 13;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static uint16_t f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)(x >> 16) | 0x40; /* NaN, quiet */
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1)) >> 16);
}

static float bf16_to_f32(uint16_t h) {
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* Element offset of row-major position i of t. */
static int64_t offset_of(const gids_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (i % t->shape[d]) * t->stride[d];
        i /= t->shape[d];
    }
    return off;
}

/* NEW: a contiguous CPU f32 copy of the half tensor t. */
static gids_status half_to_f32(gids_tensor **out, const gids_tensor *t) {
    GIDS_TRY(gids_empty(out, GIDS_F32, GIDS_DEVICE_CPU, t->ndim, t->shape));
    float *o = gids_tensor_data(*out);
    const uint16_t *p = lb_data(t);
    int64_t n = gids_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = p[offset_of(t, i)];
        o[i] = t->dtype == GIDS_F16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
    return GIDS_OK;
}

/* dst (half, any strides) <- src (contiguous f32 of dst's shape), rounded to nearest even. */
static void f32_to_half_into(gids_tensor *dst, const gids_tensor *src) {
    uint16_t *p = lb_data(dst);
    const float *s = gids_tensor_data(src);
    int64_t n = gids_tensor_numel(dst);
    for (int64_t i = 0; i < n; i++)
        p[offset_of(dst, i)] = dst->dtype == GIDS_F16 ? f32_to_f16(s[i]) : f32_to_bf16(s[i]);
}

/* NEW: t as a CPU f32 tensor: converted when half, else the CPU op's own conversion of an
 * alias (a double rounds to f32 first, as torch builds a half from a float). */
static gids_status as_f32(gids_tensor **out, const gids_tensor *t) {
    *out = NULL;
    if (t == NULL) return GIDS_OK;
    if (gids_dtype_is_half(t->dtype)) return half_to_f32(out, t);
    lb_args x;
    LB_IN(x, "to_dtype", t);
    gids_status st = gids_to_dtype(out, x.cpu[0], GIDS_F32);
    return LB_DONE_INPLACE(x, st);
}

gids_status lb_copy_half(gids_tensor *dst, const gids_tensor *src) {
    gids_tensor *s32 = NULL, *e = NULL, *c = NULL;
    gids_status st = as_f32(&s32, src);
    if (st == GIDS_OK && !gids_dtype_is_half(dst->dtype)) {
        lb_args x;
        st = lb_open(&x, "copy_", 1, (const gids_tensor *const[]){dst});
        if (st == GIDS_OK) st = LB_DONE_INPLACE(x, gids_copy_(x.cpu[0], s32));
    } else if (st == GIDS_OK) {
        st = gids_expand(&e, s32, dst->ndim, dst->shape); /* src broadcast to dst (checked) */
        if (st == GIDS_OK) st = gids_contiguous(&c, e);
        if (st == GIDS_OK) f32_to_half_into(dst, c);
    }
    gids_tensor_release(c);
    gids_tensor_release(e);
    gids_tensor_release(s32);
    return st;
}

gids_status lb_fill_half(gids_tensor *t, gids_scalar value) {
    float f = (float)(value.is_int ? (double)value.i : value.f);
    uint16_t h = t->dtype == GIDS_F16 ? f32_to_f16(f) : f32_to_bf16(f);
    uint16_t *p = lb_data(t);
    int64_t n = gids_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) p[offset_of(t, i)] = h;
    return GIDS_OK; /* the version: as lb_fill */
}

gids_status lb_product_half(const char *op, gids_tensor **out, const gids_tensor *bias,
                            const gids_tensor *a, const gids_tensor *b, double beta, double alpha) {
    const gids_tensor *ts[3] = {bias, a, b};
    for (int k = 0; k < 3; k++)
        GIDS_CHECK(ts[k] == NULL || ts[k]->dtype == a->dtype, GIDS_EDTYPE,
                   "%s: operands of dtypes %s and %s; a half product needs one dtype", op,
                   gids_dtype_name(a->dtype), gids_dtype_name(ts[k]->dtype));
    gids_tensor *w[3] = {NULL, NULL, NULL}, *r = NULL;
    gids_status st = GIDS_OK;
    for (int k = 0; k < 3 && st == GIDS_OK; k++) st = as_f32(&w[k], ts[k]);
    if (st == GIDS_OK) {
        if (strcmp(op, "addmm") == 0)
            st = gids_addmm(&r, w[0], w[1], w[2], beta, alpha);
        else if (strcmp(op, "mm") == 0)
            st = gids_mm(&r, w[1], w[2]);
        else
            st = gids_matmul(&r, w[1], w[2]);
    }
    if (st == GIDS_OK) st = gids_empty(out, a->dtype, LB_DEVICE, r->ndim, r->shape);
    if (st == GIDS_OK) f32_to_half_into(*out, r);
    gids_tensor_release(r);
    for (int k = 0; k < 3; k++) gids_tensor_release(w[k]);
    return st;
}

/* ---- elements moved, not computed: what the CUDA plugin does by element size for any dtype,
 * half included, done here on the values widened to f32 and narrowed back (both exact) */

static const char *const move_names_[] = {
    [LB_MOVE_INDEX_SELECT] = "index_select",
    [LB_MOVE_GATHER] = "gather",
    [LB_MOVE_MASKED_SELECT] = "masked_select",
    [LB_MOVE_WHERE] = "where",
};

gids_status lb_half_move(lb_move_op op, gids_tensor **out, const gids_tensor *a,
                         const gids_tensor *b, const gids_tensor *aux, int dim) {
    gids_dtype dt = b == NULL ? a->dtype : gids_promote(a->dtype, b->dtype); /* the result's */
    GIDS_CHECK(gids_dtype_is_half(dt), GIDS_EINVAL, "%s: no half operand to move (loopback)",
               move_names_[op]);
    gids_tensor *wa = NULL, *wb = NULL, *r = NULL;
    gids_status st = as_f32(&wa, a);
    if (st == GIDS_OK) st = as_f32(&wb, b);
    lb_args x;
    bool open = false;
    if (st == GIDS_OK) {
        st = lb_open(&x, move_names_[op], 1, (const gids_tensor *const[]){aux});
        open = st == GIDS_OK;
    }
    if (st == GIDS_OK) {
        switch (op) {
        case LB_MOVE_INDEX_SELECT: st = gids_index_select(&r, wa, dim, x.cpu[0]); break;
        case LB_MOVE_GATHER: st = gids_gather(&r, wa, dim, x.cpu[0]); break;
        case LB_MOVE_MASKED_SELECT: st = gids_masked_select(&r, wa, x.cpu[0]); break;
        case LB_MOVE_WHERE: st = gids_where(&r, x.cpu[0], wa, wb); break;
        }
    }
    if (open) st = lb_finish(&x, st, 0, NULL);
    if (st == GIDS_OK) st = gids_empty(out, dt, LB_DEVICE, r->ndim, r->shape);
    if (st == GIDS_OK) f32_to_half_into(*out, r);
    gids_tensor_release(r);
    gids_tensor_release(wb);
    gids_tensor_release(wa);
    return st;
}

gids_status lb_half_scatter_(gids_tensor *self, int dim, const gids_tensor *index,
                             const gids_tensor *src) {
    GIDS_CHECK(src->dtype == self->dtype, GIDS_EDTYPE,
               "scatter_: self has dtype %s, src %s; half operands need one dtype",
               gids_dtype_name(self->dtype), gids_dtype_name(src->dtype));
    gids_tensor *ws = NULL, *wsrc = NULL;
    gids_status st = as_f32(&ws, self);
    if (st == GIDS_OK) st = as_f32(&wsrc, src);
    lb_args x;
    bool open = false;
    if (st == GIDS_OK) {
        st = lb_open(&x, "scatter_", 1, (const gids_tensor *const[]){index});
        open = st == GIDS_OK;
    }
    if (st == GIDS_OK) st = gids_scatter_(ws, dim, x.cpu[0], wsrc);
    if (open) st = lb_finish(&x, st, 0, NULL);
    if (st == GIDS_OK) {
        f32_to_half_into(self, ws);
        /* an in-place write: its version bump, as lb_finish carries the CPU op's over */
        __atomic_add_fetch(&self->storage->version, 1, __ATOMIC_RELAXED);
    }
    gids_tensor_release(wsrc);
    gids_tensor_release(ws);
    return st;
}
