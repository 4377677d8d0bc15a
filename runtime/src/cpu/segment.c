/* segment.c -- reductions and softmax of src rows grouped by a segment index (graph layers:
 * messages of the edges scattered onto their target nodes).
 *
 * The index is checked and counted in one pass, then turned into CSR offsets and a stable
 * counting-sort permutation of the rows by segment (skipped when the index is already sorted).
 * Each segment is then reduced by one thread, in row order, so the result is bit-identical for
 * every thread count and needs no atomics.  Rows are read in column blocks converted to double
 * (f32 sums accumulate in f64) or int64 (integer src).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"

/* Columns handled per block: the accumulators live on the stack. */
#define SEG_BLOCK 256
/* Segments handed to a thread at a time (they vary in size, hence dynamic scheduling; which
 * thread reduces a segment does not change its result). */
#define SEG_CHUNK 64
/* Rows ahead to prefetch when the permutation makes the reads random: a segment's rows are
 * scattered over src, so without it every row is a cache miss paid in full. */
#define SEG_PREFETCH 16

/* ---------------------------------------------------------------- index -> CSR */

typedef struct seg_plan {
    int64_t *offsets; /* num_segments + 1: rows of segment s are positions [off[s], off[s+1]) */
    int64_t *perm;    /* row at each position; NULL when the index is sorted (identity) */
} seg_plan;

static inline int64_t index_at(const char *base, gids_dtype dt, int64_t stride, int64_t i) {
    return dt == GIDS_I64 ? ((const int64_t *)base)[i * stride]
                          : ((const int32_t *)base)[i * stride];
}

static void seg_plan_free(seg_plan *p) {
    free(p->offsets);
    free(p->perm);
    p->offsets = NULL;
    p->perm = NULL;
}

static gids_status plan_index_error(const char *op, seg_plan *p, int64_t v, int64_t ns,
                                    int64_t pos) {
    seg_plan_free(p);
    GIDS_FAIL(GIDS_EINDEX, "%s: index %lld out of range [0, %lld) at position %lld (0-based)", op,
              (long long)v, (long long)ns, (long long)pos);
}

static gids_status plan_nomem(const char *op, seg_plan *p, int64_t n) {
    seg_plan_free(p);
    GIDS_FAIL(GIDS_ENOMEM, "%s: cannot allocate the permutation of %lld rows", op, (long long)n);
}

/* One thread: range check and count in one pass, prefix sums, then the stable placement. */
static gids_status plan_serial(const char *op, seg_plan *p, const char *base, gids_dtype dt,
                               int64_t st, int64_t n, int64_t ns) {
    int64_t *off = p->offsets;
    bool sorted = true;
    int64_t prev = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = index_at(base, dt, st, i);
        if (v < 0 || v >= ns) return plan_index_error(op, p, v, ns, i);
        off[v + 1]++;
        sorted &= v >= prev;
        prev = v;
    }
    for (int64_t s = 0; s < ns; s++) off[s + 1] += off[s];
    if (sorted) return GIDS_OK;
    int64_t *cursor = malloc(((size_t)ns > 0 ? (size_t)ns : 1) * sizeof(int64_t));
    p->perm = malloc(((size_t)n > 0 ? (size_t)n : 1) * sizeof(int64_t));
    if (cursor == NULL || p->perm == NULL) {
        free(cursor);
        return plan_nomem(op, p, n);
    }
    memcpy(cursor, off, (size_t)ns * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) p->perm[cursor[index_at(base, dt, st, i)]++] = i;
    free(cursor);
    return GIDS_OK;
}

/* nb blocks of rows counted in parallel, each into its own row of cnt[nb][ns]; a block's
 * rows go after the previous blocks' rows of the same segment, so the permutation is the
 * serial (stable) one whatever nb is. */
static gids_status plan_blocks(const char *op, seg_plan *p, const char *base, gids_dtype dt,
                               int64_t st, int64_t n, int64_t ns, int nb) {
    int64_t *cnt = calloc((size_t)nb * (size_t)ns, sizeof(int64_t));
    int64_t *bad = malloc((size_t)nb * sizeof(int64_t));
    char *unsorted = calloc((size_t)nb, 1);
    p->perm = malloc(((size_t)n > 0 ? (size_t)n : 1) * sizeof(int64_t));
    if (cnt == NULL || bad == NULL || unsorted == NULL || p->perm == NULL) {
        free(cnt);
        free(bad);
        free(unsorted);
        return plan_nomem(op, p, n);
    }
    int64_t *off = p->offsets;
#pragma omp parallel for num_threads(nb) schedule(static)
    for (int b = 0; b < nb; b++) {
        int64_t lo = n * b / nb, hi = n * (b + 1) / nb, *c = cnt + (int64_t)b * ns;
        int64_t prev = lo > 0 ? index_at(base, dt, st, lo - 1) : 0;
        bad[b] = -1;
        for (int64_t i = lo; i < hi; i++) {
            int64_t v = index_at(base, dt, st, i);
            if (v < 0 || v >= ns) {
                bad[b] = i;
                break;
            }
            c[v]++;
            unsorted[b] |= v < prev;
            prev = v;
        }
    }
    bool sorted = true;
    for (int b = 0; b < nb; b++) {
        if (bad[b] >= 0) {
            /* the earlier blocks are clean: this is the first bad position overall */
            int64_t pos = bad[b], v = index_at(base, dt, st, pos);
            free(cnt);
            free(bad);
            free(unsorted);
            return plan_index_error(op, p, v, ns, pos);
        }
        sorted &= !unsorted[b];
    }
#pragma omp parallel for num_threads(nb) schedule(static)
    for (int64_t s = 0; s < ns; s++) {
        int64_t t = 0;
        for (int b = 0; b < nb; b++) t += cnt[(int64_t)b * ns + s];
        off[s + 1] = t;
    }
    for (int64_t s = 0; s < ns; s++) off[s + 1] += off[s];
    if (!sorted) {
#pragma omp parallel for num_threads(nb) schedule(static)
        for (int64_t s = 0; s < ns; s++) {
            int64_t c = off[s];
            for (int b = 0; b < nb; b++) {
                int64_t x = cnt[(int64_t)b * ns + s];
                cnt[(int64_t)b * ns + s] = c;
                c += x;
            }
        }
#pragma omp parallel for num_threads(nb) schedule(static)
        for (int b = 0; b < nb; b++) {
            int64_t lo = n * b / nb, hi = n * (b + 1) / nb, *c = cnt + (int64_t)b * ns;
            for (int64_t i = lo; i < hi; i++) p->perm[c[index_at(base, dt, st, i)]++] = i;
        }
    }
    free(cnt);
    free(bad);
    free(unsorted);
    if (sorted) {
        free(p->perm);
        p->perm = NULL;
    }
    return GIDS_OK;
}

/* CSR offsets and the stable permutation of the rows by segment, after checking every index
 * value (the first bad position is the one reported). */
static gids_status seg_plan_build(const char *op, seg_plan *p, const gids_tensor *index,
                                  int64_t ns) {
    const char *base = gids_tensor_data(index);
    int64_t n = index->shape[0];
    p->perm = NULL;
    p->offsets = calloc((size_t)ns + 1, sizeof(int64_t));
    GIDS_CHECK(p->offsets != NULL, GIDS_ENOMEM, "%s: cannot allocate offsets for %lld segments", op,
               (long long)ns);
    /* Blocks pay nb * ns counters: worth it only while that stays small next to n. */
    int nb = gids_threads_for(n);
    if (nb > 1 && ns <= 4 * (n / nb))
        return plan_blocks(op, p, base, index->dtype, index->stride[0], n, ns, nb);
    return plan_serial(op, p, base, index->dtype, index->stride[0], n, ns);
}

/* Shared argument checks of the segment ops. */
static gids_status seg_check(const char *op, const gids_tensor *src, const gids_tensor *index,
                             int64_t ns) {
    char a[96], b[96];
    GIDS_TRY(gids_check_cpu(op, "src", src));
    GIDS_TRY(gids_check_cpu(op, "index", index));
    GIDS_TRY(gids_check_cpu_dtype(op, "src", src));
    GIDS_TRY(gids_check_index_dtype(op, "index", index));
    GIDS_CHECK(src->ndim >= 1, GIDS_ESHAPE,
               "%s: src must have at least 1 dim (its rows), got a 0-d tensor", op);
    GIDS_CHECK(index->ndim == 1 && index->shape[0] == src->shape[0], GIDS_ESHAPE,
               "%s: index has shape %s, expected [%lld] (one entry per row of src %s)", op,
               gids_shape_str(index->ndim, index->shape, a, sizeof a), (long long)src->shape[0],
               gids_shape_str(src->ndim, src->shape, b, sizeof b));
    GIDS_CHECK(ns >= 0, GIDS_EINVAL, "%s: num_segments must be >= 0, got %lld", op, (long long)ns);
    GIDS_CHECK((uint64_t)ns < SIZE_MAX / sizeof(int64_t), GIDS_EOVERFLOW,
               "%s: num_segments %lld is too large", op, (long long)ns);
    return GIDS_OK;
}

/* ---------------------------------------------------------------- row blocks */

static inline void load_f64(const void *p, gids_dtype dt, int64_t w, double *d) {
    switch (dt) {
    case GIDS_F32:
        for (int64_t c = 0; c < w; c++) d[c] = ((const float *)p)[c];
        break;
    case GIDS_F64: memcpy(d, p, (size_t)w * sizeof(double)); break;
    default:
        for (int64_t c = 0; c < w; c++) d[c] = gids_load_f64(p, dt, c);
        break;
    }
}

static inline void store_f64(void *p, gids_dtype dt, int64_t w, const double *d) {
    switch (dt) {
    case GIDS_F32:
        for (int64_t c = 0; c < w; c++) ((float *)p)[c] = (float)d[c];
        break;
    case GIDS_F64: memcpy(p, d, (size_t)w * sizeof(double)); break;
    default:
        for (int64_t c = 0; c < w; c++) gids_store_f64(p, dt, c, d[c]);
        break;
    }
}

static void load_i64(const void *p, gids_dtype dt, int64_t w, int64_t *d) {
    if (dt == GIDS_I64) {
        memcpy(d, p, (size_t)w * sizeof(int64_t));
        return;
    }
    for (int64_t c = 0; c < w; c++) d[c] = gids_load_i64(p, dt, c);
}

static void store_i64(void *p, gids_dtype dt, int64_t w, const int64_t *d) {
    if (dt == GIDS_I64) {
        memcpy(p, d, (size_t)w * sizeof(int64_t));
        return;
    }
    for (int64_t c = 0; c < w; c++) gids_store_i64(p, dt, c, d[c]);
}

/* ---------------------------------------------------------------- kernels */

typedef struct seg_job {
    gids_segop op;
    const char *src; /* contiguous [N, C] */
    gids_dtype dt;
    int64_t esz, C, n;
    const int64_t *off, *perm;
    char *out;    /* contiguous [num_segments, C] (segment_softmax: [N, C]) */
    int64_t *arg; /* NULL unless MAX/MIN with arg wanted */
} seg_job;

static inline int64_t row_at(const seg_job *j, int64_t k) {
    return j->perm ? j->perm[k] : k;
}
static inline const char *src_row(const seg_job *j, int64_t r, int64_t c0) {
    return j->src + (r * j->C + c0) * j->esz;
}
/* The row SEG_PREFETCH positions after k, to prefetch; positions run on into the next
 * segment, which the same thread usually reduces next.  (A void helper that only prefetched
 * would be judged side-effect free by GCC's IPA and its calls deleted, hence the pointer.) */
static inline const char *row_ahead(const seg_job *j, int64_t k, int64_t c0) {
    int64_t p = k + SEG_PREFETCH < j->n ? k + SEG_PREFETCH : j->n - 1;
    return src_row(j, j->perm ? j->perm[p] : p, c0);
}
/* The same for the rows of segment_softmax's output (laid out as src), to be written. */
static inline char *out_ahead(const seg_job *j, int64_t k, int64_t c0) {
    int64_t p = k + SEG_PREFETCH < j->n ? k + SEG_PREFETCH : j->n - 1;
    return j->out + ((j->perm ? j->perm[p] : p) * j->C + c0) * j->esz;
}

/* NaN wins (and then stays) as in max_dim; ties keep the earlier row. */
static inline bool better_f64(bool max, double x, double m) {
    /* Non-short-circuit operators: no branches, so the column loop becomes selects. */
    return (m == m) & ((x != x) | (max ? x > m : x < m));
}

static void reduce_float(const seg_job *j, int64_t s) {
    double acc[SEG_BLOCK], x[SEG_BLOCK];
    int64_t am[SEG_BLOCK];
    int64_t lo = j->off[s], hi = j->off[s + 1];
    for (int64_t c0 = 0; c0 < j->C; c0 += SEG_BLOCK) {
        int64_t w = j->C - c0 < SEG_BLOCK ? j->C - c0 : SEG_BLOCK;
        if (lo == hi) {
            for (int64_t c = 0; c < w; c++) acc[c] = 0.0, am[c] = -1;
        } else if (j->op == GIDS_SEG_SUM || j->op == GIDS_SEG_MEAN) {
            for (int64_t c = 0; c < w; c++) acc[c] = 0.0;
            for (int64_t k = lo; k < hi; k++) {
                __builtin_prefetch(row_ahead(j, k, c0));
                load_f64(src_row(j, row_at(j, k), c0), j->dt, w, x);
                for (int64_t c = 0; c < w; c++) acc[c] += x[c];
            }
            if (j->op == GIDS_SEG_MEAN)
                for (int64_t c = 0; c < w; c++) acc[c] /= (double)(hi - lo);
        } else {
            int64_t r = row_at(j, lo);
            bool mx = j->op == GIDS_SEG_MAX;
            __builtin_prefetch(row_ahead(j, lo, c0));
            load_f64(src_row(j, r, c0), j->dt, w, acc);
            for (int64_t c = 0; c < w; c++) am[c] = r;
            for (int64_t k = lo + 1; k < hi; k++) {
                __builtin_prefetch(row_ahead(j, k, c0));
                r = row_at(j, k);
                load_f64(src_row(j, r, c0), j->dt, w, x);
                for (int64_t c = 0; c < w; c++) {
                    bool t = better_f64(mx, x[c], acc[c]);
                    acc[c] = t ? x[c] : acc[c];
                    am[c] = t ? r : am[c];
                }
            }
        }
        store_f64(j->out + (s * j->C + c0) * j->esz, j->dt, w, acc);
        if (j->arg) memcpy(j->arg + s * j->C + c0, am, (size_t)w * sizeof(int64_t));
    }
}

static void reduce_int(const seg_job *j, int64_t s) {
    int64_t acc[SEG_BLOCK], x[SEG_BLOCK], am[SEG_BLOCK];
    int64_t lo = j->off[s], hi = j->off[s + 1];
    for (int64_t c0 = 0; c0 < j->C; c0 += SEG_BLOCK) {
        int64_t w = j->C - c0 < SEG_BLOCK ? j->C - c0 : SEG_BLOCK;
        if (lo == hi) {
            for (int64_t c = 0; c < w; c++) acc[c] = 0, am[c] = -1;
        } else if (j->op == GIDS_SEG_SUM) {
            /* Unsigned adds wrap like the dtype would instead of overflowing (undefined). */
            uint64_t u[SEG_BLOCK] = {0};
            for (int64_t k = lo; k < hi; k++) {
                load_i64(src_row(j, row_at(j, k), c0), j->dt, w, x);
                for (int64_t c = 0; c < w; c++) u[c] += (uint64_t)x[c];
            }
            for (int64_t c = 0; c < w; c++) acc[c] = (int64_t)u[c];
        } else {
            int64_t r = row_at(j, lo);
            bool mx = j->op == GIDS_SEG_MAX;
            load_i64(src_row(j, r, c0), j->dt, w, acc);
            for (int64_t c = 0; c < w; c++) am[c] = r;
            for (int64_t k = lo + 1; k < hi; k++) {
                r = row_at(j, k);
                load_i64(src_row(j, r, c0), j->dt, w, x);
                for (int64_t c = 0; c < w; c++)
                    if (mx ? x[c] > acc[c] : x[c] < acc[c]) acc[c] = x[c], am[c] = r;
            }
        }
        store_i64(j->out + (s * j->C + c0) * j->esz, j->dt, w, acc);
        if (j->arg) memcpy(j->arg + s * j->C + c0, am, (size_t)w * sizeof(int64_t));
    }
}

/* exp(x - max) / sum within the segment, per column.  A column whose maximum is -inf has no
 * mass at all (every entry masked out): it gets 0 rather than 0/0. */
static void softmax_segment(const seg_job *j, int64_t s) {
    double m[SEG_BLOCK], sum[SEG_BLOCK], x[SEG_BLOCK];
    int64_t lo = j->off[s], hi = j->off[s + 1];
    if (lo == hi) return;
    for (int64_t c0 = 0; c0 < j->C; c0 += SEG_BLOCK) {
        int64_t w = j->C - c0 < SEG_BLOCK ? j->C - c0 : SEG_BLOCK;
        /* The first pass fetches the segment's src and out rows; the next two find them in
         * cache. */
        __builtin_prefetch(row_ahead(j, lo, c0));
        __builtin_prefetch(out_ahead(j, lo, c0), 1);
        load_f64(src_row(j, row_at(j, lo), c0), j->dt, w, m);
        for (int64_t k = lo + 1; k < hi; k++) {
            __builtin_prefetch(row_ahead(j, k, c0));
            __builtin_prefetch(out_ahead(j, k, c0), 1);
            load_f64(src_row(j, row_at(j, k), c0), j->dt, w, x);
            for (int64_t c = 0; c < w; c++) m[c] = better_f64(true, x[c], m[c]) ? x[c] : m[c];
        }
        for (int64_t c = 0; c < w; c++) sum[c] = 0.0;
        for (int64_t k = lo; k < hi; k++) {
            int64_t r = row_at(j, k);
            load_f64(src_row(j, r, c0), j->dt, w, x);
            /* expf is exact enough for an f32 result and about twice as fast as exp. */
            if (j->dt == GIDS_F32) {
                for (int64_t c = 0; c < w; c++) {
                    x[c] = m[c] == -INFINITY ? 0.0 : (double)expf((float)(x[c] - m[c]));
                    sum[c] += x[c];
                }
            } else {
                for (int64_t c = 0; c < w; c++) {
                    x[c] = m[c] == -INFINITY ? 0.0 : exp(x[c] - m[c]);
                    sum[c] += x[c];
                }
            }
            store_f64(j->out + (r * j->C + c0) * j->esz, j->dt, w, x);
        }
        for (int64_t k = lo; k < hi; k++) {
            char *o = j->out + (row_at(j, k) * j->C + c0) * j->esz;
            load_f64(o, j->dt, w, x);
            for (int64_t c = 0; c < w; c++) x[c] = m[c] == -INFINITY ? 0.0 : x[c] / sum[c];
            store_f64(o, j->dt, w, x);
        }
    }
}

typedef void (*seg_kernel)(const seg_job *j, int64_t s);

static void run_segments(const seg_job *j, seg_kernel fn, int64_t ns, int64_t work) {
    int nt = gids_threads_for(work);
#pragma omp parallel for num_threads(nt) schedule(dynamic, SEG_CHUNK) if (nt > 1)
    for (int64_t s = 0; s < ns; s++) fn(j, s);
}

/* ---------------------------------------------------------------- public */

static const char *const seg_op_names[] = {"segment_sum", "segment_mean", "segment_max",
                                           "segment_min"};

gids_status gids_segment_reduce(gids_tensor **out, gids_tensor **arg, gids_segop op,
                                const gids_tensor *src, const gids_tensor *index,
                                int64_t num_segments) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "segment_reduce: out is NULL");
    GIDS_ON_DEVICE("segment_reduce", segment_reduce, src, index)
    (out, arg, op, src, index, num_segments);
    GIDS_CHECK(op >= GIDS_SEG_SUM && op <= GIDS_SEG_MIN, GIDS_EINVAL,
               "segment_reduce: op %d is not one of sum, mean, max, min (0..3)", (int)op);
    const char *name = seg_op_names[op];
    GIDS_TRY(seg_check(name, src, index, num_segments));
    GIDS_CHECK(src->dtype != GIDS_BOOL, GIDS_EDTYPE, "%s: src must be a number tensor, got bool",
               name);
    bool floating = gids_dtype_is_float(src->dtype);
    GIDS_CHECK(floating || op != GIDS_SEG_MEAN, GIDS_EDTYPE,
               "%s: src must be a float tensor (f32 or f64), got %s", name,
               gids_dtype_name(src->dtype));
    bool want_arg = arg != NULL && (op == GIDS_SEG_MAX || op == GIDS_SEG_MIN);

    int64_t shape[GIDS_MAX_DIMS], C = 1;
    for (int d = 1; d < src->ndim; d++) C *= src->shape[d]; /* <= numel(src): no overflow */
    memcpy(shape, src->shape, sizeof shape);
    shape[0] = num_segments;

    seg_plan plan = {NULL, NULL};
    gids_tensor *c = NULL, *o = NULL, *a = NULL;
    gids_status s = gids_empty(&o, src->dtype, GIDS_DEVICE_CPU, src->ndim, shape);
    if (s == GIDS_OK && want_arg) s = gids_empty(&a, GIDS_I64, GIDS_DEVICE_CPU, src->ndim, shape);
    if (s == GIDS_OK) s = seg_plan_build(name, &plan, index, num_segments);
    if (s == GIDS_OK) s = gids_contiguous(&c, src);
    if (s != GIDS_OK) goto done;

    seg_job job = {op,
                   gids_tensor_data(c),
                   src->dtype,
                   (int64_t)gids_dtype_size(src->dtype),
                   C,
                   src->shape[0],
                   plan.offsets,
                   plan.perm,
                   gids_tensor_data(o),
                   a ? gids_tensor_data(a) : NULL};
    run_segments(&job, floating ? reduce_float : reduce_int, num_segments,
                 gids_tensor_numel(src) + num_segments * C);
    *out = o;
    o = NULL;
    if (arg) {
        *arg = a; /* NULL for sum and mean: they have no chosen row */
        a = NULL;
    }
done:
    seg_plan_free(&plan);
    gids_tensor_release(c);
    gids_tensor_release(o);
    gids_tensor_release(a);
    return s;
}

gids_status gids_segment_softmax(gids_tensor **out, const gids_tensor *src,
                                 const gids_tensor *index, int64_t num_segments) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "segment_softmax: out is NULL");
    const char *name = "segment_softmax";
    GIDS_ON_DEVICE(name, segment_softmax, src, index)(out, src, index, num_segments);
    GIDS_TRY(seg_check(name, src, index, num_segments));
    GIDS_CHECK(gids_dtype_is_float(src->dtype), GIDS_EDTYPE,
               "%s: src must be a float tensor (f32 or f64), got %s", name,
               gids_dtype_name(src->dtype));
    int64_t C = 1;
    for (int d = 1; d < src->ndim; d++) C *= src->shape[d];

    seg_plan plan = {NULL, NULL};
    gids_tensor *c = NULL, *o = NULL;
    gids_status s = gids_empty(&o, src->dtype, GIDS_DEVICE_CPU, src->ndim, src->shape);
    if (s == GIDS_OK) s = seg_plan_build(name, &plan, index, num_segments);
    if (s == GIDS_OK) s = gids_contiguous(&c, src);
    if (s != GIDS_OK) goto done;

    seg_job job = {GIDS_SEG_MAX,
                   gids_tensor_data(c),
                   src->dtype,
                   (int64_t)gids_dtype_size(src->dtype),
                   C,
                   src->shape[0],
                   plan.offsets,
                   plan.perm,
                   gids_tensor_data(o),
                   NULL};
    run_segments(&job, softmax_segment, num_segments, 3 * gids_tensor_numel(src));
    *out = o;
    o = NULL;
done:
    seg_plan_free(&plan);
    gids_tensor_release(c);
    gids_tensor_release(o);
    return s;
}
