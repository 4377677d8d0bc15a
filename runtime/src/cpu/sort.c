/* sort.c -- sort, argsort and topk along one dim of a strided tensor.
 *
 * Each lane (the elements along `dim` for one position of the other dims) is turned into
 * order-preserving keys, sorted with a stable LSD radix sort, and written out.  The sort is
 * always stable: it costs nothing extra and makes ties (and topk's "lower index first")
 * deterministic.  Lanes run in parallel; each lane is sorted by one thread from its own
 * scratch, so the result does not depend on the thread count.
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core_impl.h"
#include "../core/dispatch_impl.h"
#include "sort_impl.h"

/* ---------------------------------------------------------------- keys */

static inline uint64_t key_f64(double v) {
    if (v != v) return UINT64_MAX;
    if (v == 0.0) v = 0.0; /* -0.0 == +0.0: both get the key of +0.0 */
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return (b >> 63) ? ~b : b | (UINT64_C(1) << 63);
}

/* f32 keys use the low 32 bits only, so the radix sort skips the four constant high bytes. */
static inline uint64_t key_f32(float v) {
    if (v != v) return UINT32_MAX;
    if (v == 0.0f) v = 0.0f;
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return (b >> 31) ? (uint32_t)~b : b | (UINT32_C(1) << 31);
}

uint64_t gids_sort_nan_key(gids_dtype dt) {
    if (dt == GIDS_F64) return UINT64_MAX;
    if (dt == GIDS_F32) return UINT32_MAX;
    return 0;
}

void gids_sort_make_keys(const void *base, gids_dtype dt, int64_t n, int64_t step, bool descending,
                         uint64_t *keys) {
    switch (dt) {
    case GIDS_F32: {
        const float *p = base;
        for (int64_t i = 0; i < n; i++) keys[i] = key_f32(p[i * step]);
        break;
    }
    case GIDS_F64: {
        const double *p = base;
        for (int64_t i = 0; i < n; i++) keys[i] = key_f64(p[i * step]);
        break;
    }
    case GIDS_I64: {
        const int64_t *p = base;
        for (int64_t i = 0; i < n; i++) keys[i] = (uint64_t)p[i * step] ^ (UINT64_C(1) << 63);
        break;
    }
    case GIDS_I32: {
        const int32_t *p = base;
        for (int64_t i = 0; i < n; i++) keys[i] = (uint32_t)p[i * step] ^ (UINT32_C(1) << 31);
        break;
    }
    default: { /* u8 and bool: the byte is its own key */
        const uint8_t *p = base;
        for (int64_t i = 0; i < n; i++) keys[i] = p[i * step];
        break;
    }
    }
    if (descending) {
        /* Complementing reverses the order and keeps equal keys equal, so the sort stays
         * stable; for narrow dtypes it makes the high bytes constant 0xff, still skipped. */
        for (int64_t i = 0; i < n; i++) keys[i] = ~keys[i];
    }
}

/* ---------------------------------------------------------------- stable key sort */

/* Below this, insertion sort beats the radix sort's fixed cost (histograms and 256-bucket
 * prefix sums per pass); measured: radix already wins at 30 random keys. */
#define SORT_SMALL 16

static void insertion_sort(uint64_t *keys, int64_t *idx, int64_t n) {
    for (int64_t i = 1; i < n; i++) {
        uint64_t k = keys[i];
        int64_t v = idx[i], j = i - 1;
        while (j >= 0 && keys[j] > k) { /* strict: equal keys keep their order */
            keys[j + 1] = keys[j];
            idx[j + 1] = idx[j];
            j--;
        }
        keys[j + 1] = k;
        idx[j + 1] = v;
    }
}

void gids_sort_keys(uint64_t *keys, int64_t *idx, uint64_t *tmp_keys, int64_t *tmp_idx, int64_t n) {
    if (n <= SORT_SMALL) {
        insertion_sort(keys, idx, n);
        return;
    }
    /* Only the bytes that differ between keys need a pass (f32, i32 and u8 keys have
     * constant high bytes), and only those get a histogram, all filled in one read. */
    uint64_t all_or = 0, all_and = UINT64_MAX;
    for (int64_t i = 0; i < n; i++) all_or |= keys[i], all_and &= keys[i];
    uint64_t differ = all_or ^ all_and;
    int bytes[8] = {0}, nb = 0;
    for (int b = 0; b < 8; b++)
        if ((differ >> (8 * b)) & 0xff) bytes[nb++] = b;
    int64_t hist[8][256]; /* 16 KiB: fits any thread's stack */
    memset(hist, 0, (size_t)nb * sizeof hist[0]);
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = keys[i];
        for (int p = 0; p < nb; p++) hist[p][(k >> (8 * bytes[p])) & 0xff]++;
    }
    uint64_t *src_k = keys, *dst_k = tmp_keys;
    int64_t *src_i = idx, *dst_i = tmp_idx;
    for (int p = 0; p < nb; p++) {
        int64_t *h = hist[p];
        int shift = 8 * bytes[p];
        int64_t pos = 0;
        for (int d = 0; d < 256; d++) {
            int64_t c = h[d];
            h[d] = pos;
            pos += c;
        }
        for (int64_t i = 0; i < n; i++) {
            uint64_t k = src_k[i];
            int64_t q = h[(k >> shift) & 0xff]++;
            dst_k[q] = k;
            dst_i[q] = src_i[i];
        }
        uint64_t *tk = src_k;
        src_k = dst_k;
        dst_k = tk;
        int64_t *ti = src_i;
        src_i = dst_i;
        dst_i = ti;
    }
    if (src_k != keys) {
        memcpy(keys, src_k, (size_t)n * sizeof *keys);
        memcpy(idx, src_i, (size_t)n * sizeof *idx);
    }
}

/* ---------------------------------------------------------------- lanes */

/* How the lanes of the input map onto the (contiguous) outputs. */
typedef struct lane_map {
    int64_t n; /* lane length in the input */
    int64_t k; /* sorted elements kept per lane (n for sort) */
    int64_t lanes;
    int64_t in_step; /* element stride along dim in the input */
    int64_t out_step;
    int nother; /* the other dims, row-major */
    int64_t shape[GIDS_MAX_DIMS];
    int64_t in_stride[GIDS_MAX_DIMS];
    int64_t out_stride[GIDS_MAX_DIMS];
} lane_map;

static void lane_offsets(const lane_map *m, int64_t lane, int64_t *in_off, int64_t *out_off) {
    int64_t io = 0, oo = 0;
    for (int d = m->nother - 1; d >= 0; d--) {
        int64_t c = lane % m->shape[d];
        lane /= m->shape[d];
        io += c * m->in_stride[d];
        oo += c * m->out_stride[d];
    }
    *in_off = io;
    *out_off = oo;
}

/* Decodes a sorted (ascending) key back into the value's bits.  Returns false for the keys
 * that do not determine the bits (NaN payloads, the sign of zero): those are copied from the
 * input instead.  Decoding turns the copy-out into a sequential pass where gathering by index
 * would be a random read of the input for every element. */
static inline bool key_to_bits(gids_dtype dt, uint64_t key, uint64_t *bits) {
    switch (dt) {
    case GIDS_F32: {
        uint32_t k = (uint32_t)key;
        if (k == UINT32_MAX || k == (UINT32_C(1) << 31)) return false;
        *bits = (k >> 31) ? k ^ (UINT32_C(1) << 31) : (uint32_t)~k;
        return true;
    }
    case GIDS_F64:
        if (key == UINT64_MAX || key == (UINT64_C(1) << 63)) return false;
        *bits = (key >> 63) ? key ^ (UINT64_C(1) << 63) : ~key;
        return true;
    case GIDS_I64: *bits = key ^ (UINT64_C(1) << 63); return true;
    case GIDS_I32: *bits = (uint32_t)key ^ (UINT32_C(1) << 31); return true;
    default: *bits = key; return true;
    }
}

static inline void store_bits(char *dst, size_t esz, uint64_t bits) {
    switch (esz) {
    case 8: memcpy(dst, &bits, 8); break;
    case 4: {
        uint32_t b = (uint32_t)bits;
        memcpy(dst, &b, 4);
        break;
    }
    default: *(uint8_t *)dst = (uint8_t)bits; break;
    }
}

typedef struct sort_job {
    const lane_map *m;
    const char *in; /* element 0 of the input */
    gids_dtype dt;
    size_t esz;
    bool descending;
    char *vals;    /* NULL when values are not wanted */
    int64_t *inds; /* NULL when indices are not wanted */
} sort_job;

/* Sorts one lane with scratch of 4 * n words and writes its first k results. */
static void sort_one_lane(const sort_job *j, int64_t lane, uint64_t *scratch) {
    const lane_map *m = j->m;
    int64_t n = m->n, in_off, out_off;
    uint64_t *keys = scratch, *tkeys = scratch + n;
    int64_t *idx = (int64_t *)(scratch + 2 * n), *tidx = (int64_t *)(scratch + 3 * n);
    lane_offsets(m, lane, &in_off, &out_off);
    const char *lane_in = j->in + in_off * (int64_t)j->esz;
    gids_sort_make_keys(lane_in, j->dt, n, m->in_step, j->descending, keys);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    gids_sort_keys(keys, idx, tkeys, tidx, n);
    int64_t esz = (int64_t)j->esz;
    for (int64_t i = 0; i < m->k; i++) {
        int64_t o = out_off + i * m->out_step;
        if (j->vals) {
            uint64_t bits;
            if (key_to_bits(j->dt, j->descending ? ~keys[i] : keys[i], &bits))
                store_bits(j->vals + o * esz, j->esz, bits);
            else
                memcpy(j->vals + o * esz, lane_in + idx[i] * m->in_step * esz, j->esz);
        }
        if (j->inds) j->inds[o] = idx[i];
    }
}

/* Sorts every lane of a along dim and keeps the first k of each: the engine of sort,
 * argsort and topk.  Either output may be NULL. */
static gids_status sort_lanes(const char *op, gids_tensor **values, gids_tensor **indices,
                              const gids_tensor *a, int dim, int64_t k, bool descending) {
    lane_map m;
    int nd = a->ndim;
    int64_t out_shape[GIDS_MAX_DIMS] = {0};
    memset(&m, 0, sizeof m);
    if (nd == 0) {
        m.n = 1; /* a 0-d tensor is one lane of one element */
        m.lanes = 1;
    } else {
        m.n = a->shape[dim];
        m.in_step = a->stride[dim];
        m.lanes = 1;
        int64_t acc = 1;
        for (int d = nd - 1; d >= 0; d--) {
            out_shape[d] = d == dim ? k : a->shape[d];
        }
        int64_t out_stride[GIDS_MAX_DIMS] = {0};
        for (int d = nd - 1; d >= 0; d--) {
            out_stride[d] = acc;
            acc *= out_shape[d]; /* bounded by numel(a): k <= n */
        }
        m.out_step = out_stride[dim];
        for (int d = 0; d < nd; d++) {
            if (d == dim) continue;
            m.shape[m.nother] = a->shape[d];
            m.in_stride[m.nother] = a->stride[d];
            m.out_stride[m.nother] = out_stride[d];
            m.nother++;
            m.lanes *= a->shape[d];
        }
    }
    m.k = k;

    gids_tensor *v = NULL, *ix = NULL;
    gids_status s = GIDS_OK;
    if (values) s = gids_empty(&v, a->dtype, GIDS_DEVICE_CPU, nd, out_shape);
    if (s == GIDS_OK && indices) s = gids_empty(&ix, GIDS_I64, GIDS_DEVICE_CPU, nd, out_shape);
    if (s != GIDS_OK) goto fail;

    if (m.lanes > 0 && m.n > 0) {
        int64_t numel = m.lanes * m.n;
        int nt = gids_threads_for(numel);
        if (nt > m.lanes) nt = (int)m.lanes;
        if (nt < 1) nt = 1;
        int64_t words;
        if (!gids_mul_ok(m.n, 4 * (int64_t)nt, &words) ||
            (uint64_t)words > SIZE_MAX / sizeof(uint64_t)) {
            s = gids_error_set(GIDS_EOVERFLOW, __FILE__, __LINE__,
                               "%s: scratch for lanes of %lld elements on %d threads overflows", op,
                               (long long)m.n, nt);
            goto fail;
        }
        uint64_t *scratch = malloc((size_t)words * sizeof(uint64_t));
        if (scratch == NULL) {
            s = gids_error_set(GIDS_ENOMEM, __FILE__, __LINE__,
                               "%s: cannot allocate %lld bytes of sort scratch", op,
                               (long long)words * 8);
            goto fail;
        }
        sort_job job = {&m,
                        gids_tensor_data(a),
                        a->dtype,
                        gids_dtype_size(a->dtype),
                        descending,
                        v ? gids_tensor_data(v) : NULL,
                        ix ? gids_tensor_data(ix) : NULL};
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            uint64_t *mine = scratch + (int64_t)omp_get_thread_num() * 4 * m.n;
#pragma omp for schedule(static)
            for (int64_t lane = 0; lane < m.lanes; lane++) sort_one_lane(&job, lane, mine);
        }
        free(scratch);
    }
    if (values) *values = v;
    if (indices) *indices = ix;
    return GIDS_OK;
fail:
    gids_tensor_release(v);
    gids_tensor_release(ix);
    return s;
}

static gids_status check_input(const char *op, const gids_tensor *a, int dim, int *cdim) {
    GIDS_TRY(gids_check_cpu(op, "input", a));
    GIDS_TRY(gids_check_cpu_dtype(op, "input", a));
    return gids_normalize_dim(op, dim, a->ndim, cdim);
}

/* ---------------------------------------------------------------- public */

gids_status gids_sort(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int dim,
                      bool descending, bool stable) {
    (void)stable; /* every sort here is stable, on a device too */
    GIDS_ON_DEVICE("sort", sort, a)(values, indices, a, dim, descending);
    int d;
    GIDS_TRY(check_input("sort", a, dim, &d));
    int64_t n = a->ndim == 0 ? 1 : a->shape[d];
    return sort_lanes("sort", values, indices, a, d, n, descending);
}

gids_status gids_argsort(gids_tensor **out, const gids_tensor *a, int dim, bool descending,
                         bool stable) {
    (void)stable;
    GIDS_ON_DEVICE("argsort", sort, a)(NULL, out, a, dim, descending);
    int d;
    GIDS_TRY(check_input("argsort", a, dim, &d));
    int64_t n = a->ndim == 0 ? 1 : a->shape[d];
    return sort_lanes("argsort", NULL, out, a, d, n, descending);
}

gids_status gids_topk(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int64_t k,
                      int dim, bool largest, bool sorted) {
    (void)sorted; /* the k results always come sorted, which `sorted == false` permits */
    GIDS_ON_DEVICE("topk", topk, a)(values, indices, a, k, dim, largest);
    int d;
    GIDS_TRY(check_input("topk", a, dim, &d));
    int64_t n = a->ndim == 0 ? 1 : a->shape[d];
    GIDS_CHECK(k >= 0 && k <= n, GIDS_EINDEX,
               "topk: k %lld out of range for dim %d of size %lld (valid: 0..%lld)", (long long)k,
               d, (long long)n, (long long)n);
    return sort_lanes("topk", values, indices, a, d, k, largest);
}
