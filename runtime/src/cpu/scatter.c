/* scatter.c -- scatter_, scatter_scalar_, scatter_add_, index_add_ and their out-of-place forms.
 *
 * Determinism: the iteration space is split as outer x K x inner around the indexed dim.  A
 * work item is one outer position and a fixed block of inner positions, and runs over K in
 * order.  Two different items never touch the same target element (they differ in a non-indexed
 * coordinate), and duplicates within an item are applied in index order, so scatter_ keeps the
 * last write and scatter_add_ sums in row order for every thread count.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index_impl.h"
#include "../core/dispatch_impl.h"

enum { SC_SET, SC_FILL, SC_ADD };
#define SC_BLOCK 256

typedef struct sc_plan {
    int kind;
    gids_dtype dt;
    int nd, dim;
    int64_t shape[GIDS_MAX_DIMS]; /* iteration shape: the index's (scatter) or src's (index_add) */
    int64_t st_self[GIDS_MAX_DIMS], st_src[GIDS_MAX_DIMS], st_idx[GIDS_MAX_DIMS]; /* elements */
    int64_t self_dim_stride;
    char *self;
    const char *src;
    const int64_t *idx;
    char value[8];  /* SC_FILL: the value in self's dtype */
    double alpha_f; /* SC_ADD */
    int64_t alpha_i;
} sc_plan;

/* One k step over an inner block: target[j] (op)= source[j]. */
static void apply(const sc_plan *p, int64_t n, int64_t sb, const int64_t *soff, const int64_t *pos,
                  int64_t rb, const int64_t *roff) {
    int64_t ds = p->self_dim_stride;
    switch (p->kind) {
    case SC_FILL: {
        size_t es = gids_dtype_size(p->dt);
        for (int64_t j = 0; j < n; j++)
            memcpy(p->self + (sb + soff[j] + pos[j] * ds) * (int64_t)es, p->value, es);
        return;
    }
    case SC_SET: {
        size_t es = gids_dtype_size(p->dt);
        for (int64_t j = 0; j < n; j++)
            memcpy(p->self + (sb + soff[j] + pos[j] * ds) * (int64_t)es,
                   p->src + (rb + roff[j]) * (int64_t)es, es);
        return;
    }
    default: break;
    }
    switch (p->dt) {
    case GIDS_F32: {
        float *s = (float *)(void *)p->self, a = (float)p->alpha_f;
        const float *r = (const float *)(const void *)p->src;
        for (int64_t j = 0; j < n; j++) s[sb + soff[j] + pos[j] * ds] += a * r[rb + roff[j]];
        return;
    }
    case GIDS_F64: {
        double *s = (double *)(void *)p->self, a = p->alpha_f;
        const double *r = (const double *)(const void *)p->src;
        for (int64_t j = 0; j < n; j++) s[sb + soff[j] + pos[j] * ds] += a * r[rb + roff[j]];
        return;
    }
    case GIDS_I64: {
        /* unsigned arithmetic: overflow wraps (as torch) instead of being undefined */
        uint64_t *s = (uint64_t *)(void *)p->self, a = (uint64_t)p->alpha_i;
        const uint64_t *r = (const uint64_t *)(const void *)p->src;
        for (int64_t j = 0; j < n; j++) s[sb + soff[j] + pos[j] * ds] += a * r[rb + roff[j]];
        return;
    }
    case GIDS_I32: {
        uint32_t *s = (uint32_t *)(void *)p->self, a = (uint32_t)p->alpha_i;
        const uint32_t *r = (const uint32_t *)(const void *)p->src;
        for (int64_t j = 0; j < n; j++)
            s[sb + soff[j] + pos[j] * ds] += (uint32_t)(a * r[rb + roff[j]]);
        return;
    }
    case GIDS_U8: {
        uint8_t *s = (uint8_t *)(void *)p->self, a = (uint8_t)p->alpha_i;
        const uint8_t *r = (const uint8_t *)(const void *)p->src;
        for (int64_t j = 0; j < n; j++)
            s[sb + soff[j] + pos[j] * ds] =
                (uint8_t)(s[sb + soff[j] + pos[j] * ds] + a * r[rb + roff[j]]);
        return;
    }
    default: { /* bool: adding is a logical or */
        bool *s = (bool *)(void *)p->self;
        const bool *r = (const bool *)(const void *)p->src;
        for (int64_t j = 0; j < n; j++)
            s[sb + soff[j] + pos[j] * ds] =
                s[sb + soff[j] + pos[j] * ds] || (p->alpha_i && r[rb + roff[j]]);
        return;
    }
    }
}

/* A 0-d target is run as a 1-D one of size 1 (its only valid index is 0). */
static void promote_0d(sc_plan *p) {
    if (p->nd > 0) return;
    p->nd = 1;
    p->dim = 0;
    p->shape[0] = 1;
    p->st_self[0] = p->st_src[0] = p->st_idx[0] = 0;
    p->self_dim_stride = 0;
}

static void run_plan(const sc_plan *p) {
    int nd = p->nd, dim = p->dim;
    int64_t outer = 1, inner = 1, K = nd > 0 ? p->shape[dim] : 1;
    for (int d = 0; d < dim; d++) outer *= p->shape[d];
    for (int d = dim + 1; d < nd; d++) inner *= p->shape[d];
    if (outer == 0 || inner == 0 || K == 0) return;
    int64_t nblk = (inner + SC_BLOCK - 1) / SC_BLOCK, items = outer * nblk;
    int nth = gids_threads_for(outer * inner * K);
#pragma omp parallel for num_threads(nth) schedule(static) if (nth > 1)
    for (int64_t it = 0; it < items; it++) {
        int64_t o = it / nblk, j0 = (it % nblk) * SC_BLOCK;
        int64_t n = inner - j0 < SC_BLOCK ? inner - j0 : SC_BLOCK;
        int64_t coord[GIDS_MAX_DIMS] = {0}, off[3] = {0, 0, 0};
        int64_t st[3][GIDS_MAX_DIMS];
        /* outer coordinates give the base offsets */
        gids_unravel(o, dim, p->shape, coord);
        int64_t sb = gids_offset_of(dim, coord, p->st_self);
        int64_t rb = gids_offset_of(dim, coord, p->st_src);
        int64_t ib = gids_offset_of(dim, coord, p->st_idx);
        /* inner offsets of the block, walked once and reused for every k */
        int ni = nd - dim - 1;
        memcpy(st[0], p->st_self + dim + 1, sizeof(int64_t) * (size_t)ni);
        memcpy(st[1], p->st_src + dim + 1, sizeof(int64_t) * (size_t)ni);
        memcpy(st[2], p->st_idx + dim + 1, sizeof(int64_t) * (size_t)ni);
        int64_t soff[SC_BLOCK], roff[SC_BLOCK], ioff[SC_BLOCK], pos[SC_BLOCK];
        gids_unravel(j0, ni, p->shape + dim + 1, coord);
        off[0] = gids_offset_of(ni, coord, st[0]);
        off[1] = gids_offset_of(ni, coord, st[1]);
        off[2] = gids_offset_of(ni, coord, st[2]);
        for (int64_t j = 0; j < n; j++) {
            soff[j] = off[0];
            roff[j] = off[1];
            ioff[j] = off[2];
            gids_coord_next(ni, p->shape + dim + 1, coord, 3, off, st);
        }
        int64_t kr = nd > 0 ? p->st_src[dim] : 0, ki = nd > 0 ? p->st_idx[dim] : 0;
        for (int64_t k = 0; k < K; k++) {
            for (int64_t j = 0; j < n; j++) pos[j] = p->idx[ib + k * ki + ioff[j]];
            apply(p, n, sb, soff, pos, rb + k * kr, roff);
        }
    }
}

/* ---------------------------------------------------------------- argument checks */

static gids_status check_self(const char *op, const gids_tensor *self, int dim, int *d) {
    GIDS_TRY(gids_check_cpu(op, "self", self));
    GIDS_TRY(gids_check_cpu_dtype(op, "self", self));
    GIDS_TRY(gids_check_writable(op, self));
    return gids_normalize_dim(op, dim, self->ndim, d);
}

static gids_status check_src(const char *op, const gids_tensor *self, const gids_tensor *src) {
    GIDS_TRY(gids_check_cpu(op, "src", src));
    GIDS_CHECK(src->dtype == self->dtype, GIDS_EDTYPE,
               "%s: src has dtype %s, expected the dtype of self (%s)", op,
               gids_dtype_name(src->dtype), gids_dtype_name(self->dtype));
    return GIDS_OK;
}

/* torch's rules: index has self's ndim, index.size(d) <= src.size(d) for every d and
 * <= self.size(d) for d != dim. */
static gids_status check_scatter_shapes(const char *op, const gids_tensor *self, int d,
                                        const gids_tensor *index, const gids_tensor *src) {
    char si[128], so[128];
    GIDS_CHECK(index->ndim == self->ndim, GIDS_ESHAPE,
               "%s: index has shape %s, expected %d dims like self %s", op,
               gids_shape_str(index->ndim, index->shape, si, sizeof si), self->ndim,
               gids_shape_str(self->ndim, self->shape, so, sizeof so));
    for (int k = 0; k < self->ndim; k++)
        GIDS_CHECK(k == d || index->shape[k] <= self->shape[k], GIDS_ESHAPE,
                   "%s: index has shape %s, larger than self %s outside the scatter dim", op,
                   gids_shape_str(index->ndim, index->shape, si, sizeof si),
                   gids_shape_str(self->ndim, self->shape, so, sizeof so));
    if (src == NULL) return GIDS_OK;
    GIDS_CHECK(src->ndim == self->ndim, GIDS_ESHAPE,
               "%s: src has shape %s, expected %d dims like self %s", op,
               gids_shape_str(src->ndim, src->shape, si, sizeof si), self->ndim,
               gids_shape_str(self->ndim, self->shape, so, sizeof so));
    for (int k = 0; k < self->ndim; k++)
        GIDS_CHECK(index->shape[k] <= src->shape[k], GIDS_ESHAPE,
                   "%s: index has shape %s, larger than src %s", op,
                   gids_shape_str(index->ndim, index->shape, si, sizeof si),
                   gids_shape_str(src->ndim, src->shape, so, sizeof so));
    return GIDS_OK;
}

static gids_status check_alpha(const char *op, gids_dtype dt, double alpha, sc_plan *p) {
    p->alpha_f = alpha;
    p->alpha_i = 0;
    /* as torch's "cannot be converted to type float": a finite alpha past f32's range */
    GIDS_CHECK(dt != GIDS_F32 || !isfinite(alpha) || fabs(alpha) <= FLT_MAX, GIDS_EINVAL,
               "%s: alpha = %g does not fit in f32", op, alpha);
    if (gids_dtype_is_float(dt)) return GIDS_OK;
    GIDS_CHECK(alpha == trunc(alpha) && fabs(alpha) < 9.2e18, GIDS_EINVAL,
               "%s: alpha = %g must be an integer for %s tensors", op, alpha, gids_dtype_name(dt));
    /* As torch: an alpha the dtype cannot hold is refused, not wrapped (its check lets an
     * unsigned type take a negative value down to -max, so u8 takes -255..255). */
    double lo = dt == GIDS_U8 ? -255.0 : (dt == GIDS_I32 ? (double)INT32_MIN : -9.2e18);
    double hi = dt == GIDS_U8 ? 255.0 : (dt == GIDS_I32 ? (double)INT32_MAX : 9.2e18);
    GIDS_CHECK(dt == GIDS_BOOL || (alpha >= lo && alpha <= hi), GIDS_EINVAL,
               "%s: alpha = %.0f does not fit in %s (valid: %.0f..%.0f)", op, alpha,
               gids_dtype_name(dt), lo, hi);
    p->alpha_i = (int64_t)alpha;
    return GIDS_OK;
}

/* Shared body of scatter_, scatter_scalar_ and scatter_add_ (src NULL for the scalar form). */
static gids_status scatter_impl(const char *op, int kind, gids_tensor *self, int dim,
                                const gids_tensor *index, const gids_tensor *src,
                                gids_scalar value) {
    int d = 0;
    GIDS_TRY(check_self(op, self, dim, &d));
    GIDS_TRY(gids_check_cpu(op, "index", index));
    if (kind != SC_FILL) GIDS_TRY(check_src(op, self, src)); /* NULL src: EINVAL */
    /* as fill_: a value outside an integer dtype's range would be a wrapped or undefined cast */
    if (kind == SC_FILL) GIDS_TRY(gids_check_fits(op, self->dtype, value));
    GIDS_TRY(check_scatter_shapes(op, self, d, index, src));
    gids_tensor *idx = NULL;
    GIDS_TRY(gids_index_to_i64(op, "index", index, &idx));
    sc_plan p = {0};
    p.kind = kind;
    p.dt = self->dtype;
    p.nd = self->ndim;
    p.dim = d;
    p.idx = gids_tensor_data(idx);
    int64_t size = self->ndim > 0 ? self->shape[d] : 1;
    gids_status st =
        gids_index_check_range(op, p.idx, gids_tensor_numel(idx), size, idx->ndim, idx->shape);
    if (st == GIDS_OK && kind == SC_ADD) st = check_alpha(op, self->dtype, 1.0, &p);
    if (st != GIDS_OK) {
        gids_tensor_release(idx);
        return st;
    }
    int64_t istride = 1;
    for (int k = p.nd - 1; k >= 0; k--) {
        p.shape[k] = idx->shape[k];
        p.st_self[k] = k == d ? 0 : self->stride[k];
        p.st_src[k] = src ? src->stride[k] : 0;
        p.st_idx[k] = istride;
        istride *= idx->shape[k];
    }
    p.self_dim_stride = p.nd > 0 ? self->stride[d] : 0;
    p.self = gids_tensor_data(self);
    p.src = src ? gids_tensor_data(src) : NULL;
    if (kind == SC_FILL) {
        if (value.is_int)
            gids_store_i64(p.value, self->dtype, 0, value.i);
        else
            gids_store_f64(p.value, self->dtype, 0, value.f);
    }
    promote_0d(&p);
    run_plan(&p);
    gids_tensor_release(idx);
    gids_tensor_bump_version(self);
    return GIDS_OK;
}

/* ---------------------------------------------------------------- public API */

/* An index or src sharing memory with self would be read after some of self's elements were
 * written (the kernels go in parallel, on every device): a write could change an index after its
 * range was checked and send a later write out of bounds.  Such an operand is read from a copy,
 * so the result is as if it had been read whole first (numpy.add.at semantics).  The copies (NULL
 * when an operand is used as it is) are released by the caller. */
static gids_status unalias(const gids_tensor *self, const gids_tensor **index,
                           const gids_tensor **src, gids_tensor *copies[2]) {
    const gids_tensor **ops[2] = {index, src};
    copies[0] = copies[1] = NULL;
    for (int i = 0; i < 2; i++) {
        if (self == NULL || *ops[i] == NULL || (*ops[i])->storage != self->storage) continue;
        GIDS_TRY(gids_clone(&copies[i], *ops[i]));
        *ops[i] = copies[i];
    }
    return GIDS_OK;
}

static gids_status scatter_on(gids_tensor *self, int dim, const gids_tensor *index,
                              const gids_tensor *src) {
    GIDS_ON_DEVICE("scatter_", scatter_, self, index, src)(self, dim, index, src);
    return scatter_impl("scatter_", SC_SET, self, dim, index, src, gids_scalar_i(0));
}

static gids_status scatter_scalar_on(gids_tensor *self, int dim, const gids_tensor *index,
                                     gids_scalar value) {
    GIDS_ON_DEVICE("scatter_", scatter_scalar_, self, index)(self, dim, index, value);
    return scatter_impl("scatter_", SC_FILL, self, dim, index, NULL, value);
}

static gids_status scatter_add_on(gids_tensor *self, int dim, const gids_tensor *index,
                                  const gids_tensor *src) {
    GIDS_ON_DEVICE("scatter_add_", scatter_add_, self, index, src)(self, dim, index, src);
    return scatter_impl("scatter_add_", SC_ADD, self, dim, index, src, gids_scalar_i(0));
}

gids_status gids_scatter_(gids_tensor *self, int dim, const gids_tensor *index,
                          const gids_tensor *src) {
    gids_tensor *copies[2];
    GIDS_TRY(unalias(self, &index, &src, copies));
    gids_status st = scatter_on(self, dim, index, src);
    gids_tensor_release(copies[0]), gids_tensor_release(copies[1]);
    return st;
}

gids_status gids_scatter_scalar_(gids_tensor *self, int dim, const gids_tensor *index,
                                 gids_scalar value) {
    const gids_tensor *none = NULL;
    gids_tensor *copies[2];
    GIDS_TRY(unalias(self, &index, &none, copies));
    gids_status st = scatter_scalar_on(self, dim, index, value);
    gids_tensor_release(copies[0]);
    return st;
}

gids_status gids_scatter_add_(gids_tensor *self, int dim, const gids_tensor *index,
                              const gids_tensor *src) {
    gids_tensor *copies[2];
    GIDS_TRY(unalias(self, &index, &src, copies));
    gids_status st = scatter_add_on(self, dim, index, src);
    gids_tensor_release(copies[0]), gids_tensor_release(copies[1]);
    return st;
}

static gids_status index_add_impl(const char *op, gids_tensor *self, int dim,
                                  const gids_tensor *index, const gids_tensor *src, double alpha) {
    int d = 0;
    GIDS_TRY(check_self(op, self, dim, &d));
    GIDS_TRY(check_src(op, self, src));
    GIDS_TRY(gids_check_cpu(op, "index", index));
    char si[128], so[128];
    GIDS_CHECK(index->ndim <= 1, GIDS_ESHAPE, "%s: index has shape %s, expected 1-D", op,
               gids_shape_str(index->ndim, index->shape, si, sizeof si));
    int64_t n = gids_tensor_numel(index);
    GIDS_CHECK(src->ndim == self->ndim, GIDS_ESHAPE,
               "%s: src has shape %s, expected %d dims like self %s", op,
               gids_shape_str(src->ndim, src->shape, si, sizeof si), self->ndim,
               gids_shape_str(self->ndim, self->shape, so, sizeof so));
    int64_t want[GIDS_MAX_DIMS];
    bool same = true;
    for (int k = 0; k < self->ndim; k++) {
        want[k] = k == d ? n : self->shape[k];
        same = same && src->shape[k] == want[k];
    }
    char sw[128];
    GIDS_CHECK(same, GIDS_ESHAPE, "%s: src has shape %s, expected %s (self %s with %lld indices)",
               op, gids_shape_str(src->ndim, src->shape, si, sizeof si),
               gids_shape_str(self->ndim, want, sw, sizeof sw),
               gids_shape_str(self->ndim, self->shape, so, sizeof so), (long long)n);
    GIDS_CHECK(self->ndim > 0 || n == 1, GIDS_ESHAPE,
               "%s: a 0-d self takes exactly 1 index, got %lld", op, (long long)n);
    gids_tensor *idx = NULL;
    GIDS_TRY(gids_index_to_i64(op, "index", index, &idx));
    sc_plan p = {0};
    p.kind = SC_ADD;
    p.dt = self->dtype;
    p.nd = self->ndim;
    p.dim = d;
    p.idx = gids_tensor_data(idx);
    int64_t size = self->ndim > 0 ? self->shape[d] : 1;
    gids_status st = gids_index_check_range(op, p.idx, n, size, 1, NULL);
    if (st == GIDS_OK) st = check_alpha(op, self->dtype, alpha, &p);
    if (st != GIDS_OK) {
        gids_tensor_release(idx);
        return st;
    }
    for (int k = 0; k < p.nd; k++) {
        p.shape[k] = src->shape[k];
        p.st_self[k] = k == d ? 0 : self->stride[k];
        p.st_src[k] = src->stride[k];
        p.st_idx[k] = k == d ? 1 : 0; /* one index per position along dim */
    }
    p.self_dim_stride = p.nd > 0 ? self->stride[d] : 0;
    p.self = gids_tensor_data(self);
    p.src = gids_tensor_data(src);
    promote_0d(&p);
    run_plan(&p);
    gids_tensor_release(idx);
    gids_tensor_bump_version(self);
    return GIDS_OK;
}

static gids_status index_add_on(gids_tensor *self, int dim, const gids_tensor *index,
                                const gids_tensor *src, double alpha) {
    GIDS_ON_DEVICE("index_add_", index_add_, self, index, src)(self, dim, index, src, alpha);
    return index_add_impl("index_add_", self, dim, index, src, alpha);
}

gids_status gids_index_add_(gids_tensor *self, int dim, const gids_tensor *index,
                            const gids_tensor *src, double alpha) {
    sc_plan alpha_only = {0}; /* before the device dispatch, so both devices refuse the same */
    if (self != NULL) GIDS_TRY(check_alpha("index_add_", self->dtype, alpha, &alpha_only));
    gids_tensor *copies[2];
    GIDS_TRY(unalias(self, &index, &src, copies));
    gids_status st = index_add_on(self, dim, index, src, alpha);
    gids_tensor_release(copies[0]), gids_tensor_release(copies[1]);
    return st;
}

/* Out-of-place forms: clone, then the in-place op on the clone. */
static gids_status finish(gids_tensor **out, gids_tensor *c, gids_status st) {
    if (st != GIDS_OK) {
        gids_tensor_release(c);
        return st;
    }
    *out = c;
    return GIDS_OK;
}

/* The out-of-place forms scatter into a clone of self; off the CPU through the in-place public
 * ops, which hand the clone to the device's backend. */
static bool on_device3(const gids_tensor *a, const gids_tensor *b, const gids_tensor *c) {
    return gids_any_device(3, (const gids_tensor *const[]){a, b, c});
}

gids_status gids_scatter(gids_tensor **out, const gids_tensor *self, int dim,
                         const gids_tensor *index, const gids_tensor *src) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "scatter: out is NULL");
    *out = NULL;
    gids_tensor *c = NULL;
    GIDS_TRY(gids_clone(&c, self));
    if (on_device3(self, index, src)) return finish(out, c, gids_scatter_(c, dim, index, src));
    return finish(out, c, scatter_impl("scatter", SC_SET, c, dim, index, src, gids_scalar_i(0)));
}

gids_status gids_scatter_add(gids_tensor **out, const gids_tensor *self, int dim,
                             const gids_tensor *index, const gids_tensor *src) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "scatter_add: out is NULL");
    *out = NULL;
    gids_tensor *c = NULL;
    GIDS_TRY(gids_clone(&c, self));
    if (on_device3(self, index, src)) return finish(out, c, gids_scatter_add_(c, dim, index, src));
    return finish(out, c,
                  scatter_impl("scatter_add", SC_ADD, c, dim, index, src, gids_scalar_i(0)));
}

gids_status gids_index_add(gids_tensor **out, const gids_tensor *self, int dim,
                           const gids_tensor *index, const gids_tensor *src, double alpha) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "index_add: out is NULL");
    *out = NULL;
    gids_tensor *c = NULL;
    GIDS_TRY(gids_clone(&c, self));
    if (on_device3(self, index, src))
        return finish(out, c, gids_index_add_(c, dim, index, src, alpha));
    return finish(out, c, index_add_impl("index_add", c, dim, index, src, alpha));
}
