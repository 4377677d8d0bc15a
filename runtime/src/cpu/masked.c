/* masked.c -- masked_fill(_), masked_select and nonzero.
 *
 * masked_select and nonzero produce data-dependent sizes: a first pass counts per fixed chunk
 * of the row-major order, a prefix sum turns the counts into output offsets, and a second pass
 * writes each chunk at its offset.  The chunks are fixed, so the order of the output (row-major)
 * never depends on the thread count.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/dispatch_impl.h"
#include "../core/iter_impl.h"
#include "index_impl.h"

static gids_status check_mask(const char *op, const gids_tensor *mask) {
    GIDS_TRY(gids_check_cpu(op, "mask", mask));
    GIDS_CHECK(mask->dtype == GIDS_BOOL || mask->dtype == GIDS_U8, GIDS_EDTYPE,
               "%s: mask has dtype %s, expected bool (or u8)", op, gids_dtype_name(mask->dtype));
    return GIDS_OK;
}

static gids_status check_input(const char *op, const char *arg, const gids_tensor *a) {
    GIDS_TRY(gids_check_cpu(op, arg, a));
    return gids_check_cpu_dtype(op, arg, a);
}

/* ---------------------------------------------------------------- masked_fill */

typedef struct fill_ctx {
    char value[8];
    size_t es;
} fill_ctx;

static void fill_kernel(void *ctx, int64_t n, char **ptrs, const int64_t *strides) {
    const fill_ctx *c = ctx;
    char *d = ptrs[0];
    const uint8_t *m = (const uint8_t *)ptrs[1];
    /* Contiguous 4- and 8-byte elements: a select, not a branch, which a random mask (dropout's,
     * the VGAE's feature mask) mispredicts half the time (6x slower); the compiler makes it a
     * vector blend.  Same bits either way. */
    if (strides[1] == 1 && strides[0] == (int64_t)c->es && (c->es == 4 || c->es == 8)) {
        if (c->es == 4) {
            uint32_t v, *d4 = (uint32_t *)(void *)d;
            memcpy(&v, c->value, 4);
            for (int64_t i = 0; i < n; i++) d4[i] = m[i] ? v : d4[i];
        } else {
            uint64_t v, *d8 = (uint64_t *)(void *)d;
            memcpy(&v, c->value, 8);
            for (int64_t i = 0; i < n; i++) d8[i] = m[i] ? v : d8[i];
        }
        return;
    }
    for (int64_t i = 0; i < n; i++, d += strides[0], m += strides[1])
        if (*m) memcpy(d, c->value, c->es);
}

static gids_status masked_fill_impl(const char *op, gids_tensor *self, const gids_tensor *mask,
                                    gids_scalar value) {
    GIDS_TRY(check_input(op, "self", self));
    GIDS_TRY(check_mask(op, mask));
    GIDS_TRY(gids_check_writable(op, self));
    int nb = 0;
    int64_t bshape[GIDS_MAX_DIMS];
    char sm[128], ss[128];
    gids_status st =
        gids_broadcast_shapes(op, self->ndim, self->shape, mask->ndim, mask->shape, &nb, bshape);
    bool same = st == GIDS_OK && nb == self->ndim &&
                memcmp(bshape, self->shape, sizeof(int64_t) * (size_t)nb) == 0;
    if (!same)
        GIDS_FAIL(GIDS_ESHAPE, "%s: mask of shape %s does not broadcast to self %s", op,
                  gids_shape_str(mask->ndim, mask->shape, sm, sizeof sm),
                  gids_shape_str(self->ndim, self->shape, ss, sizeof ss));
    /* as fill_: a value outside an integer dtype's range would wrap (300 -> 44 in u8) */
    GIDS_TRY(gids_check_fits(op, self->dtype, value));
    fill_ctx c = {{0}, gids_dtype_size(self->dtype)};
    if (value.is_int)
        gids_store_i64(c.value, self->dtype, 0, value.i);
    else
        gids_store_f64(c.value, self->dtype, 0, value.f);
    /* A mask sharing self's memory in another layout (a broadcast narrow of self) would be read
     * after some of its elements were filled: read it from a copy, as binary_into does. */
    gids_tensor *mcopy = NULL;
    if (gids_may_overlap(self, mask)) GIDS_TRY(gids_clone(&mcopy, mask));
    const gids_tensor *ops[2] = {self, mcopy != NULL ? mcopy : mask};
    gids_iter it;
    st = gids_iter_init(&it, op, 2, ops);
    if (st == GIDS_OK) {
        gids_iter_run(&it, fill_kernel, &c);
        gids_tensor_bump_version(self);
    }
    gids_tensor_release(mcopy);
    return st;
}

/* Off the CPU: where(mask, value, self), with value a 0-d tensor of self's dtype on self's
 * device (the backends' where broadcasts the three); a u8 mask is read as bool. */
static gids_status masked_fill_device(gids_tensor **out, const char *op, const gids_tensor *self,
                                      const gids_tensor *mask, gids_scalar value) {
    GIDS_CHECK(self != NULL && mask != NULL, GIDS_EINVAL, "%s: %s is NULL", op,
               self == NULL ? "self" : "mask");
    GIDS_CHECK(mask->dtype == GIDS_BOOL || mask->dtype == GIDS_U8, GIDS_EDTYPE,
               "%s: mask has dtype %s, expected bool (or u8)", op, gids_dtype_name(mask->dtype));
    enum { COND, V, NT };
    gids_tensor *t[NT] = {NULL};
    gids_status st = gids_to_dtype(&t[COND], mask, GIDS_BOOL);
    if (st == GIDS_OK) st = gids_full(&t[V], self->dtype, gids_tensor_device(self), 0, NULL, value);
    if (st == GIDS_OK) st = gids_where(out, t[COND], t[V], self);
    for (int i = 0; i < NT; i++) gids_tensor_release(t[i]);
    return st;
}

gids_status gids_masked_fill_(gids_tensor *self, const gids_tensor *mask, gids_scalar value) {
    const char *op = "masked_fill_";
    GIDS_CHECK(self != NULL, GIDS_EINVAL, "%s: self is NULL", op);
    if (gids_any_device(2, (const gids_tensor *const[]){self, mask})) {
        gids_tensor *r = NULL;
        GIDS_TRY(gids_check_writable(op, self));
        GIDS_TRY(masked_fill_device(&r, op, self, mask, value));
        bool same = r->ndim == self->ndim &&
                    memcmp(r->shape, self->shape, sizeof(int64_t) * (size_t)r->ndim) == 0;
        gids_status st = GIDS_OK;
        if (!same) {
            char sm[128], ss[128];
            st = GIDS_ESHAPE;
            gids_error_set(st, __FILE__, __LINE__,
                           "%s: mask of shape %s does not broadcast to self %s", op,
                           gids_shape_str(mask->ndim, mask->shape, sm, sizeof sm),
                           gids_shape_str(self->ndim, self->shape, ss, sizeof ss));
        }
        if (st == GIDS_OK) st = gids_copy_(self, r);
        gids_tensor_release(r);
        return st;
    }
    return masked_fill_impl(op, self, mask, value);
}

/* Out of place the result takes the broadcast shape of self and mask (as torch). */
gids_status gids_masked_fill(gids_tensor **out, const gids_tensor *self, const gids_tensor *mask,
                             gids_scalar value) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "masked_fill: out is NULL");
    *out = NULL;
    const char *op = "masked_fill";
    if (gids_any_device(2, (const gids_tensor *const[]){self, mask}))
        return masked_fill_device(out, op, self, mask, value);
    GIDS_TRY(check_input(op, "self", self));
    GIDS_TRY(check_mask(op, mask));
    int nb = 0;
    int64_t bshape[GIDS_MAX_DIMS];
    GIDS_TRY(
        gids_broadcast_shapes(op, self->ndim, self->shape, mask->ndim, mask->shape, &nb, bshape));
    gids_tensor *r = NULL;
    GIDS_TRY(gids_empty(&r, self->dtype, GIDS_DEVICE_CPU, nb, bshape));
    gids_status st = gids_copy_(r, self);
    if (st == GIDS_OK) st = masked_fill_impl(op, r, mask, value);
    if (st != GIDS_OK) {
        gids_tensor_release(r);
        return st;
    }
    *out = r;
    return GIDS_OK;
}

/* ---------------------------------------------------------------- counting passes */

static inline bool is_nonzero(const void *p, gids_dtype dt) {
    switch (dt) {
    case GIDS_F32: return *(const float *)p != 0.0f; /* NaN counts as non-zero */
    case GIDS_F64: return *(const double *)p != 0.0;
    case GIDS_I64: return *(const int64_t *)p != 0;
    case GIDS_I32: return *(const int32_t *)p != 0;
    default: return *(const uint8_t *)p != 0; /* u8, bool */
    }
}

/* A row-major walk of `shape` with operands at `base` (element strides `stride`), split into
 * fixed chunks.  Operand 0 is tested for non-zero. */
typedef struct walk {
    int nd, nops;
    int64_t shape[GIDS_MAX_DIMS], n, nchunks;
    int64_t stride[2][GIDS_MAX_DIMS];
    const char *base[2];
    gids_dtype dt[2];
    int64_t *offsets; /* nchunks + 1: output position where each chunk starts */
} walk;

static void walk_count(walk *w) {
    int64_t es = (int64_t)gids_dtype_size(w->dt[0]);
    int nth = gids_threads_for(w->n);
#pragma omp parallel for num_threads(nth) schedule(static) if (nth > 1)
    for (int64_t c = 0; c < w->nchunks; c++) {
        int64_t f0 = c * GIDS_INDEX_CHUNK;
        int64_t f1 = f0 + GIDS_INDEX_CHUNK < w->n ? f0 + GIDS_INDEX_CHUNK : w->n;
        int64_t coord[GIDS_MAX_DIMS], off[1], cnt = 0;
        gids_unravel(f0, w->nd, w->shape, coord);
        off[0] = gids_offset_of(w->nd, coord, w->stride[0]);
        for (int64_t f = f0; f < f1; f++) {
            cnt += is_nonzero(w->base[0] + off[0] * es, w->dt[0]);
            gids_coord_next(w->nd, w->shape, coord, 1, off, w->stride);
        }
        w->offsets[c + 1] = cnt;
    }
    w->offsets[0] = 0;
    for (int64_t c = 0; c < w->nchunks; c++) w->offsets[c + 1] += w->offsets[c];
}

static gids_status walk_init(walk *w, const char *op, int nd, const int64_t *shape) {
    memset(w, 0, sizeof *w);
    w->nd = nd;
    memcpy(w->shape, shape, sizeof(int64_t) * (size_t)nd);
    GIDS_TRY(gids_shape_numel(op, nd, shape, &w->n));
    w->nchunks = (w->n + GIDS_INDEX_CHUNK - 1) / GIDS_INDEX_CHUNK;
    w->offsets = malloc(sizeof(int64_t) * (size_t)(w->nchunks + 1));
    GIDS_CHECK(w->offsets != NULL, GIDS_ENOMEM, "%s: cannot allocate %lld chunk counters", op,
               (long long)w->nchunks + 1);
    return GIDS_OK;
}

/* Operand k's element strides within the broadcast shape (0 over broadcast dims). */
static void walk_operand(walk *w, int k, const gids_tensor *t) {
    int lead = w->nd - t->ndim;
    for (int d = 0; d < w->nd; d++) {
        int j = d - lead;
        w->stride[k][d] = (j < 0 || t->shape[j] == 1) ? 0 : t->stride[j];
    }
    w->base[k] = gids_tensor_data(t);
    w->dt[k] = t->dtype;
    w->nops = k + 1;
}

/* ---------------------------------------------------------------- masked_select */

gids_status gids_masked_select(gids_tensor **out, const gids_tensor *a, const gids_tensor *mask) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "masked_select: out is NULL");
    *out = NULL;
    const char *op = "masked_select";
    GIDS_DEVICE_BACKEND(op, masked_select, a, mask);
    if (gids_be_ != NULL) {
        GIDS_TRY(gids_be_->masked_select(out, a, mask));
        gids_range_follow(*out, 1, &a); /* some of a's values (core/ranges.c) */
        return GIDS_OK;
    }
    GIDS_TRY(check_input(op, "input", a));
    GIDS_TRY(check_mask(op, mask));
    int nb = 0;
    int64_t bshape[GIDS_MAX_DIMS];
    GIDS_TRY(gids_broadcast_shapes(op, a->ndim, a->shape, mask->ndim, mask->shape, &nb, bshape));
    walk w;
    GIDS_TRY(walk_init(&w, op, nb, bshape));
    walk_operand(&w, 0, mask);
    walk_operand(&w, 1, a);
    walk_count(&w);
    int64_t count = w.offsets[w.nchunks];
    gids_tensor *r = NULL;
    gids_status st = gids_empty(&r, a->dtype, GIDS_DEVICE_CPU, 1, &count);
    if (st != GIDS_OK) {
        free(w.offsets);
        return st;
    }
    char *rp = gids_tensor_data(r);
    int64_t es = (int64_t)gids_dtype_size(a->dtype);
    int nth = gids_threads_for(w.n);
#pragma omp parallel for num_threads(nth) schedule(static) if (nth > 1)
    for (int64_t c = 0; c < w.nchunks; c++) {
        int64_t f0 = c * GIDS_INDEX_CHUNK,
                f1 = f0 + GIDS_INDEX_CHUNK < w.n ? f0 + GIDS_INDEX_CHUNK : w.n;
        int64_t coord[GIDS_MAX_DIMS], off[2], pos = w.offsets[c];
        gids_unravel(f0, nb, bshape, coord);
        off[0] = gids_offset_of(nb, coord, w.stride[0]);
        off[1] = gids_offset_of(nb, coord, w.stride[1]);
        for (int64_t f = f0; f < f1; f++) {
            if (w.base[0][off[0]]) memcpy(rp + (pos++) * es, w.base[1] + off[1] * es, (size_t)es);
            gids_coord_next(nb, bshape, coord, 2, off, w.stride);
        }
    }
    free(w.offsets);
    *out = r;
    return GIDS_OK;
}

/* ---------------------------------------------------------------- nonzero */

gids_status gids_nonzero(gids_tensor **out, const gids_tensor *a) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "nonzero: out is NULL");
    *out = NULL;
    const char *op = "nonzero";
    GIDS_DEVICE_BACKEND(op, nonzero, a);
    if (gids_be_ != NULL) {
        GIDS_TRY(gids_be_->nonzero(out, a));
        int64_t most = 0; /* coordinates: each below its dim's size (ranges.c) */
        for (int d = 0; d < a->ndim; d++) most = a->shape[d] > most ? a->shape[d] : most;
        gids_range_note(*out, 0, most - 1);
        return GIDS_OK;
    }
    GIDS_TRY(check_input(op, "input", a));
    walk w;
    GIDS_TRY(walk_init(&w, op, a->ndim, a->shape));
    walk_operand(&w, 0, a);
    walk_count(&w);
    int nd = a->ndim;
    int64_t shape[2] = {w.offsets[w.nchunks], nd};
    gids_tensor *r = NULL;
    gids_status st = gids_empty(&r, GIDS_I64, GIDS_DEVICE_CPU, 2, shape);
    if (st != GIDS_OK) {
        free(w.offsets);
        return st;
    }
    int64_t *rp = gids_tensor_data(r);
    int64_t es = (int64_t)gids_dtype_size(a->dtype);
    int nth = gids_threads_for(w.n);
#pragma omp parallel for num_threads(nth) schedule(static) if (nth > 1)
    for (int64_t c = 0; c < w.nchunks; c++) {
        int64_t f0 = c * GIDS_INDEX_CHUNK,
                f1 = f0 + GIDS_INDEX_CHUNK < w.n ? f0 + GIDS_INDEX_CHUNK : w.n;
        int64_t coord[GIDS_MAX_DIMS], off[1], pos = w.offsets[c];
        gids_unravel(f0, nd, a->shape, coord);
        off[0] = gids_offset_of(nd, coord, w.stride[0]);
        for (int64_t f = f0; f < f1; f++) {
            if (is_nonzero(w.base[0] + off[0] * es, w.dt[0])) {
                memcpy(rp + pos * nd, coord, sizeof(int64_t) * (size_t)nd);
                pos++;
            }
            gids_coord_next(nd, a->shape, coord, 1, off, w.stride);
        }
    }
    free(w.offsets);
    *out = r;
    return GIDS_OK;
}
