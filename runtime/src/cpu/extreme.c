/* extreme.c -- max/min along one dim with positions (max_dim, min_dim) and argmax/argmin.
 *
 * Semantics (torch's): the first position of the extreme along the dim, or of the first NaN
 * when there is one; -0 and +0 compare equal, so the earlier one wins and its sign is kept.
 * Three kernels give exactly those answers, chosen by layout:
 * - rows: the dim is contiguous.  A block of a row is scanned in vector lanes for its extreme
 *   and for NaNs; the first block whose extreme beats every earlier block's holds the first
 *   occurrence, which a second look at that block finds by equality.
 * - tiles: the dim is strided and the outputs' last dim is contiguous (max over dim 1 of a
 *   matrix).  A tile of neighbouring outputs walks the dim together, one vector lane each.
 * - one: any other layout (and short dims), one output at a time, scalar.
 * Outputs are independent, so the split over threads cannot change a result.
 */
#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "elementwise_impl.h"
#include "index_impl.h"

#define LANES 16
#define BLOCK 1024
#define TILE 64
#define ROW_MIN 256 /* shorter rows go in strided tiles: a row's blocks cost more to set up */

typedef struct extreme_job {
    const char *base; /* element 0 of the input (f32, f64 or i64) */
    int nk;           /* kept dims */
    int64_t kshape[GIDS_MAX_DIMS], kstride[GIDS_MAX_DIMS];
    int64_t n_out, size, step; /* outputs; length and stride of the reduced dim */
    bool is_max;
    void *vals; /* may be NULL */
    int64_t *idxs;
} extreme_job;

#define GT(a, b) ((a) > (b))
#define LT(a, b) ((a) < (b))

/* Offset (in elements) of output o's first input element (once per output, row or tile). */
static int64_t out_offset(const extreme_job *j, int64_t o) {
    int64_t coord[GIDS_MAX_DIMS];
    gids_unravel(o, j->nk, j->kshape, coord);
    return gids_offset_of(j->nk, coord, j->kstride);
}

/* Outputs o0..o0+w-1 (w <= TILE) of one run of the outputs' last dim, whose first elements lie
 * LS apart: 1 for the columns of a matrix (contiguous vector loads), the row length for short
 * rows (strided loads, gathers): one vector lane an output, no branch on the data. */
#define TILE_KERNEL(fname, TY, BETTER, LS)                                                         \
    static GIDS_HOT void fname(const extreme_job *j, int64_t o0, int64_t w) {                      \
        const TY *x = (const TY *)j->base + out_offset(j, o0);                                     \
        const int64_t ls = LS, size = j->size, step = j->step;                                     \
        TY best[TILE];                                                                             \
        int64_t bi[TILE];                                                                          \
        for (int64_t c = 0; c < w; c++) best[c] = x[c * ls], bi[c] = 0;                            \
        for (int64_t k = 1; k < size; k++) {                                                       \
            const TY *p = x + k * step;                                                            \
            GIDS_EW_SIMD for (int64_t c = 0; c < w; c++) {                                         \
                TY v = p[c * ls], b = best[c];                                                     \
                int take = (b == b) & ((v != v) | BETTER(v, b));                                   \
                best[c] = take ? v : b;                                                            \
                bi[c] = take ? k : bi[c];                                                          \
            }                                                                                      \
        }                                                                                          \
        if (j->vals) memcpy((TY *)j->vals + o0, best, sizeof(TY) * (size_t)w);                     \
        memcpy(j->idxs + o0, bi, sizeof(int64_t) * (size_t)w);                                     \
    }

#define EXTREME_KERNELS(name, TY, BETTER)                                                          \
    /* Output o, walking the dim one element at a time (a single output of a strided or short      \
     * dim). */                                                                                    \
    static void one_##name(const extreme_job *j, int64_t o) {                                      \
        const TY *x = (const TY *)j->base + out_offset(j, o);                                      \
        TY best = x[0];                                                                            \
        int64_t bi = 0;                                                                            \
        for (int64_t k = 1; k < j->size && best == best; k++) {                                    \
            TY v = x[k * j->step];                                                                 \
            if (v != v || BETTER(v, best)) {                                                       \
                best = v;                                                                          \
                bi = k;                                                                            \
            }                                                                                      \
        }                                                                                          \
        if (j->vals) ((TY *)j->vals)[o] = best;                                                    \
        j->idxs[o] = bi;                                                                           \
    }                                                                                              \
    /* The extreme of p[0..n-1] and whether any is NaN, in LANES lanes. */                         \
    static GIDS_HOT TY block_##name(const TY *p, int64_t n, int *nan) {                            \
        TY acc[LANES];                                                                             \
        int isnan_[LANES];                                                                         \
        for (int l = 0; l < LANES; l++) acc[l] = p[0], isnan_[l] = 0;                              \
        int64_t k = 0;                                                                             \
        for (; k + LANES <= n; k += LANES) {                                                       \
            GIDS_EW_SIMD for (int l = 0; l < LANES; l++) {                                         \
                TY v = p[k + l];                                                                   \
                isnan_[l] |= v != v;                                                               \
                acc[l] = BETTER(v, acc[l]) ? v : acc[l];                                           \
            }                                                                                      \
        }                                                                                          \
        TY m = acc[0];                                                                             \
        int any = 0;                                                                               \
        for (int l = 0; l < LANES; l++) {                                                          \
            any |= isnan_[l];                                                                      \
            m = BETTER(acc[l], m) ? acc[l] : m;                                                    \
        }                                                                                          \
        for (; k < n; k++) {                                                                       \
            any |= p[k] != p[k];                                                                   \
            m = BETTER(p[k], m) ? p[k] : m;                                                        \
        }                                                                                          \
        *nan = any;                                                                                \
        return m;                                                                                  \
    }                                                                                              \
    /* The first k with p[k] == v, v among p[0..n-1]: LANES comparisons at a time (a scalar search \
     * had taken three quarters of an argmax over [1000, 1000]). */                                \
    static GIDS_HOT int64_t first_##name(const TY *p, int64_t n, TY v) {                           \
        int64_t k = 0;                                                                             \
        for (; k + LANES <= n; k += LANES) {                                                       \
            int hit = 0;                                                                           \
            GIDS_EW_SIMD for (int l = 0; l < LANES; l++) hit |= p[k + l] == v;                     \
            if (hit) break;                                                                        \
        }                                                                                          \
        while (p[k] != v) k++;                                                                     \
        return k;                                                                                  \
    }                                                                                              \
    /* Output o of a contiguous dim. */                                                            \
    static void row_##name(const extreme_job *j, int64_t o) {                                      \
        const TY *x = (const TY *)j->base + out_offset(j, o);                                      \
        int64_t size = j->size, at = -1, bb = 0;                                                   \
        TY best = x[0];                                                                            \
        for (int64_t b0 = 0; b0 < size && at < 0; b0 += BLOCK) {                                   \
            int64_t n = size - b0 < BLOCK ? size - b0 : BLOCK;                                     \
            int nan = 0;                                                                           \
            TY m = block_##name(x + b0, n, &nan);                                                  \
            if (nan) {                                                                             \
                for (int64_t k = 0; at < 0; k++)                                                   \
                    if (x[b0 + k] != x[b0 + k]) at = b0 + k;                                       \
            } else if (BETTER(m, best)) {                                                          \
                best = m;                                                                          \
                bb = b0;                                                                           \
            }                                                                                      \
        }                                                                                          \
        if (at < 0) at = bb + first_##name(x + bb, size - bb, best);                               \
        if (j->vals) ((TY *)j->vals)[o] = x[at];                                                   \
        j->idxs[o] = at;                                                                           \
    }                                                                                              \
    TILE_KERNEL(tile_##name, TY, BETTER, 1)                                                        \
    TILE_KERNEL(stile_##name, TY, BETTER, j->kstride[j->nk - 1])
EXTREME_KERNELS(max_f32, float, GT)
EXTREME_KERNELS(min_f32, float, LT)
EXTREME_KERNELS(max_f64, double, GT)
EXTREME_KERNELS(min_f64, double, LT)
EXTREME_KERNELS(max_i64, int64_t, GT)
EXTREME_KERNELS(min_i64, int64_t, LT)

typedef enum { K_ONE, K_ROW, K_TILE, K_STILE } kernel_kind;

typedef struct {
    void (*one)(const extreme_job *, int64_t);
    void (*row)(const extreme_job *, int64_t);
    void (*tile)(const extreme_job *, int64_t, int64_t);
    void (*stile)(const extreme_job *, int64_t, int64_t);
} kernel_set;

static kernel_set kernels_for(gids_dtype dt, bool is_max) {
#define SET(name)                                                                                  \
    (kernel_set) {                                                                                 \
        one_##name, row_##name, tile_##name, stile_##name                                          \
    }
    if (dt == GIDS_F32) return is_max ? SET(max_f32) : SET(min_f32);
    if (dt == GIDS_F64) return is_max ? SET(max_f64) : SET(min_f64);
    return is_max ? SET(max_i64) : SET(min_i64);
#undef SET
}

/* Task t: output t (one, row) or the t-th tile of the runs of the outputs' last dim. */
static void run_task(const extreme_job *j, const kernel_set *ks, kernel_kind kind, int64_t t) {
    if (kind == K_ONE || kind == K_ROW) {
        (kind == K_ONE ? ks->one : ks->row)(j, t);
        return;
    }
    int64_t last = j->kshape[j->nk - 1], per = (last + TILE - 1) / TILE;
    int64_t c0 = (t % per) * TILE, w = last - c0 < TILE ? last - c0 : TILE;
    (kind == K_TILE ? ks->tile : ks->stile)(j, (t / per) * last + c0, w);
}

/* Long contiguous rows take the row kernel; otherwise neighbouring outputs go in tiles (the job
 * holds no kept dim of size 1, so a kept dim means runs of two or more); a lone output of a
 * strided or short dim walks it alone. */
static void extreme_all(const extreme_job *j, gids_dtype dt) {
    kernel_set ks = kernels_for(dt, j->is_max);
    kernel_kind kind = K_ONE;
    int64_t ntasks = j->n_out;
    if (j->step == 1 && j->size >= ROW_MIN) {
        kind = K_ROW;
    } else if (j->nk > 0) {
        int64_t last = j->kshape[j->nk - 1];
        kind = j->kstride[j->nk - 1] == 1 ? K_TILE : K_STILE;
        ntasks = j->n_out / last * ((last + TILE - 1) / TILE);
    }
    int nt = gids_threads_for(j->n_out * j->size);
    if (nt <= 1 || ntasks == 1) {
        for (int64_t t = 0; t < ntasks; t++) run_task(j, &ks, kind, t);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t t = 0; t < ntasks; t++) run_task(j, &ks, kind, t);
}

static gids_status extreme_dim(gids_tensor **values, gids_tensor **indices, const char *op,
                               const gids_tensor *a, int dim, bool keepdim, bool is_max) {
    GIDS_CHECK(values || indices, GIDS_EINVAL, "%s: both outputs are NULL", op);
    GIDS_ON_DEVICE(op, extreme_dim, a)(values, indices, a, dim, keepdim, is_max);
    GIDS_TRY(gids_ew_check_input(op, "arg 1", a));
    int d0;
    GIDS_TRY(gids_normalize_dim(op, dim, a->ndim, &d0));
    int64_t shape[GIDS_MAX_DIMS];
    uint32_t mask = a->ndim == 0 ? 0 : 1u << d0;
    int nd = gids_red_out_shape(a, mask, keepdim, shape);
    int64_t size = a->ndim == 0 ? 1 : a->shape[d0], n_out = 1;
    for (int d = 0; d < a->ndim; d++)
        if (d != d0) n_out *= a->shape[d];
    if (size == 0 && n_out > 0) return gids_red_empty_error(op, a);

    /* Integer inputs are widened first; the strides are read from the widened copy. */
    gids_dtype wide = gids_dtype_is_float(a->dtype) ? a->dtype : GIDS_I64;
    gids_tensor *in = NULL, *v = NULL, *ix = NULL;
    gids_status st = gids_ew_cast(&in, a, wide);
    if (st == GIDS_OK && values) st = gids_empty(&v, wide, GIDS_DEVICE_CPU, nd, shape);
    if (st == GIDS_OK) st = gids_empty(&ix, GIDS_I64, GIDS_DEVICE_CPU, nd, shape);
    if (st == GIDS_OK && n_out > 0) {
        extreme_job j = {.is_max = is_max, .n_out = n_out, .size = size, .step = 0};
        for (int d = 0; d < in->ndim; d++) {
            if (d == d0) {
                j.step = in->stride[d];
                continue;
            }
            if (in->shape[d] == 1) continue; /* no offset: the outputs' numbering is the same */
            j.kshape[j.nk] = in->shape[d];
            j.kstride[j.nk++] = in->stride[d];
        }
        j.base = gids_tensor_data(in);
        j.vals = v ? gids_tensor_data(v) : NULL;
        j.idxs = gids_tensor_data(ix);
        extreme_all(&j, wide);
    }
    if (st == GIDS_OK && v && v->dtype != a->dtype) {
        gids_tensor *conv = NULL;
        st = gids_to_dtype(&conv, v, a->dtype);
        gids_tensor_release(v);
        v = conv;
    }
    gids_tensor_release(in);
    if (st != GIDS_OK) {
        gids_tensor_release(v);
        gids_tensor_release(ix);
        return st;
    }
    if (values) *values = v;
    if (indices)
        *indices = ix;
    else
        gids_tensor_release(ix);
    return GIDS_OK;
}

gids_status gids_max_dim(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int dim,
                         bool keepdim) {
    return extreme_dim(values, indices, "max", a, dim, keepdim, true);
}

gids_status gids_min_dim(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int dim,
                         bool keepdim) {
    return extreme_dim(values, indices, "min", a, dim, keepdim, false);
}

/* dim == GIDS_ALL_DIMS: the position in the flattened tensor. */
static gids_status arg_extreme(gids_tensor **out, const char *op, const gids_tensor *a, int dim,
                               bool keepdim, bool is_max) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", op);
    if (dim != GIDS_ALL_DIMS) return extreme_dim(NULL, out, op, a, dim, keepdim, is_max);
    /* Over all dims: along the one dim of a flat view (extreme_dim checks and dispatches). */
    GIDS_CHECK(a != NULL, GIDS_EINVAL, "%s: arg 1 is NULL", op);
    /* (named with the caller's shape, not the flat view's) */
    if (gids_tensor_numel(a) == 0) return gids_red_empty_error(op, a);
    int64_t flat_shape[1] = {-1}, ones[GIDS_MAX_DIMS];
    gids_tensor *flat = NULL, *ix = NULL;
    GIDS_TRY(gids_reshape(&flat, a, 1, flat_shape));
    gids_status st = extreme_dim(NULL, &ix, op, flat, 0, false, is_max);
    gids_tensor_release(flat);
    if (st != GIDS_OK) return st;
    if (!keepdim) {
        *out = ix;
        return GIDS_OK;
    }
    for (int d = 0; d < a->ndim; d++) ones[d] = 1;
    st = gids_view(out, ix, a->ndim, ones);
    gids_tensor_release(ix);
    return st;
}

gids_status gids_argmax(gids_tensor **out, const gids_tensor *a, int dim, bool keepdim) {
    return arg_extreme(out, "argmax", a, dim, keepdim, true);
}

gids_status gids_argmin(gids_tensor **out, const gids_tensor *a, int dim, bool keepdim) {
    return arg_extreme(out, "argmin", a, dim, keepdim, false);
}
