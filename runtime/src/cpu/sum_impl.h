/* sum_impl.h -- internal: the f64 sum of n contiguous float elements as the reduction engine
 * (reduce_core.c) folds them: sixteen partial sums (lane j takes the elements at j mod 16),
 * combined in a fixed tree, then the tail in order.  A fused kernel that sums a row with it
 * (softmax's backward) gets the bits of the composed sum() it replaces, and layer_norm's
 * statistics are summed the same way.
 *
 * Accumulating in f64 keeps a sum of a million f32 values exact to f64 rounding (the f32
 * result is the correctly rounded sum for all but pathological inputs); the price is one
 * f32 -> f64 conversion an element.  On AMD Zen 4 the conversions and the adds share two
 * pipes, four lanes a cycle together.  An add can be issued as fma(x, 1, acc) instead, on the
 * multiply pipes: x * 1 is exact, so it rounds the same exact sum the same way (same bits,
 * -0 and infinities included) but waits four cycles where an add waits three.  Sixteen lanes
 * are four AVX2 registers, so the contiguous sum is a chain of adds per register: each register
 * takes one add in three on the fma pipes, which balances the two limits (0.068 -> 0.057 ns an
 * element); column sums have a chain per column and take all their adds there (32 columns:
 * 0.068 -> 0.040 ns an element in cache).  GCC vectorises the plain loops with an extract for
 * every other conversion (a 256-bit load split in two), 15% slower than one conversion from
 * memory per four lanes, so the AVX2 forms are written out; each adds the same lanes in the
 * same order as its C form, so they give the same bits.
 */
#ifndef GIDS_SUM_IMPL_H
#define GIDS_SUM_IMPL_H

#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define GIDS_SUM_AVX2 1
#endif

#ifdef GIDS_SUM_AVX2
/* acc + x, rounded as the add rounds it, on the multiply pipes (see above).  Only a NaN's sign
 * or payload can differ, where two NaNs meet: which of them an add returns was never fixed
 * either (GCC commutes an add's operands as it allocates registers). */
#define GIDS_ADD_ON_FMA(x, acc) _mm256_fmadd_pd((x), _mm256_set1_pd(1.0), (acc))
#endif

/* The AVX2 forms need FMA too: every CPU with AVX2 that GCC knows has it, but ask. */
static inline int gids_sum_simd(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* The lanes' combination: lane q of v is (l[q] + l[4 + q]) + (l[8 + q] + l[12 + q]); the sum is
 * (v[0] + v[2]) + (v[1] + v[3]), the order a 256-bit register folds in halves. */
#define GIDS_SUM16_COMBINE(l, s)                                                                   \
    do {                                                                                           \
        double v_[4];                                                                              \
        for (int q_ = 0; q_ < 4; q_++)                                                             \
            v_[q_] = ((l)[q_] + (l)[4 + q_]) + ((l)[8 + q_] + (l)[12 + q_]);                       \
        (s) = (v_[0] + v_[2]) + (v_[1] + v_[3]);                                                   \
    } while (0)

#define GIDS_SUM16(fname, TY)                                                                      \
    static inline double fname(const TY *p, int64_t n) {                                           \
        double l[16] = {0}, s;                                                                     \
        int64_t i = 0;                                                                             \
        for (; i + 16 <= n; i += 16)                                                               \
            for (int j = 0; j < 16; j++) l[j] += (double)p[i + j];                                 \
        GIDS_SUM16_COMBINE(l, s);                                                                  \
        for (; i < n; i++) s += (double)p[i];                                                      \
        return s;                                                                                  \
    }
GIDS_SUM16(gids_sum16_f32_c, float)
GIDS_SUM16(gids_sum_f64, double)
#undef GIDS_SUM16

#ifdef GIDS_SUM_AVX2
__attribute__((target("avx2,fma"))) static inline double gids_sum16_f32_avx2(const float *p,
                                                                             int64_t n) {
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
#define GIDS_CV(k) _mm256_cvtps_pd(_mm_loadu_ps(p + i + 4 * (k)))
#define GIDS_ADD(a, k) a = _mm256_add_pd(a, GIDS_CV(k))
#define GIDS_FMA(a, k) a = GIDS_ADD_ON_FMA(GIDS_CV(k), a)
    for (; i + 48 <= n; i += 48) { /* three rows of sixteen: one add in three on the fma pipes */
        GIDS_ADD(a0, 0), GIDS_ADD(a1, 1), GIDS_FMA(a2, 2), GIDS_ADD(a3, 3);
        GIDS_ADD(a0, 4), GIDS_FMA(a1, 5), GIDS_ADD(a2, 6), GIDS_ADD(a3, 7);
        GIDS_FMA(a0, 8), GIDS_ADD(a1, 9), GIDS_ADD(a2, 10), GIDS_FMA(a3, 11);
    }
    for (; i + 16 <= n; i += 16) GIDS_ADD(a0, 0), GIDS_ADD(a1, 1), GIDS_ADD(a2, 2), GIDS_ADD(a3, 3);
#undef GIDS_CV
#undef GIDS_ADD
#undef GIDS_FMA
    __m256d v = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    double s = _mm_cvtsd_f64(h) + _mm_cvtsd_f64(_mm_unpackhi_pd(h, h));
    for (; i < n; i++) s += (double)p[i];
    return s;
}
#endif

static inline double gids_sum_f32(const float *p, int64_t n) {
#ifdef GIDS_SUM_AVX2
    if (gids_sum_simd()) return gids_sum16_f32_avx2(p, n);
#endif
    return gids_sum16_f32_c(p, n);
}

/* Two sums at once, s[0] of p[0..n0) and s[1] of q[0..n1), each with the bits gids_sum_f32
 * gives it alone: eight chains of adds between them, so all of them can go to the fma pipes
 * (0.057 -> 0.041 ns an element on Zen 4, about what memory gives one core).  Rows in pairs and
 * a long sum's blocks in pairs take it. */
#ifdef GIDS_SUM_AVX2
/* The four registers' lanes combined as GIDS_SUM16_COMBINE combines sixteen. */
__attribute__((target("avx2"))) static inline double gids_sum16_fold(__m256d a0, __m256d a1,
                                                                     __m256d a2, __m256d a3) {
    __m256d v = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(h) + _mm_cvtsd_f64(_mm_unpackhi_pd(h, h));
}

__attribute__((target("avx2,fma"))) static inline void
gids_sum16x2_f32_avx2(const float *p, int64_t n0, const float *q, int64_t n1, double *s) {
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int64_t i0 = 0, i1 = 0, nmin = n0 < n1 ? n0 : n1;
#define GIDS_CV(x, i, k) _mm256_cvtps_pd(_mm_loadu_ps((x) + (i) + 4 * (k)))
#define GIDS_FOUR(a0, a1, a2, a3, OP, x, i)                                                        \
    a0 = OP(GIDS_CV(x, i, 0), a0), a1 = OP(GIDS_CV(x, i, 1), a1), a2 = OP(GIDS_CV(x, i, 2), a2),   \
    a3 = OP(GIDS_CV(x, i, 3), a3)
#define GIDS_ADD_PD(x, acc) _mm256_add_pd((acc), (x))
    for (; i0 + 16 <= nmin; i0 += 16, i1 += 16) {
        GIDS_FOUR(a0, a1, a2, a3, GIDS_ADD_ON_FMA, p, i0);
        GIDS_FOUR(b0, b1, b2, b3, GIDS_ADD_ON_FMA, q, i1);
    }
    for (; i0 + 16 <= n0; i0 += 16) GIDS_FOUR(a0, a1, a2, a3, GIDS_ADD_PD, p, i0); /* the longer */
    for (; i1 + 16 <= n1; i1 += 16) GIDS_FOUR(b0, b1, b2, b3, GIDS_ADD_PD, q, i1); /* one alone */
#undef GIDS_CV
#undef GIDS_FOUR
#undef GIDS_ADD_PD
    s[0] = gids_sum16_fold(a0, a1, a2, a3), s[1] = gids_sum16_fold(b0, b1, b2, b3);
    for (; i0 < n0; i0++) s[0] += (double)p[i0];
    for (; i1 < n1; i1++) s[1] += (double)q[i1];
}
#endif

static inline void gids_sum2_f32(const float *p, int64_t n0, const float *q, int64_t n1,
                                 double *s) {
#ifdef GIDS_SUM_AVX2
    if (gids_sum_simd()) {
        gids_sum16x2_f32_avx2(p, n0, q, n1, s);
        return;
    }
#endif
    s[0] = gids_sum16_f32_c(p, n0), s[1] = gids_sum16_f32_c(q, n1);
}

/* Column sums: acc[j] += p[i st + j] for j < W (32 or 16), rows i = 0..n-1 in order, so each
 * column is its own sequential f64 sum whatever W.  The W sums stay in registers over the rows
 * (reading and writing them through memory for every row halved the speed); 32 of them read
 * two cache lines a row, 10% faster than 16 on [8192, 128] over dim 0. */
#define GIDS_COLSUM(fname, TY, W)                                                                  \
    static inline void fname(double *restrict acc, const TY *p, int64_t n, int64_t st) {           \
        double l[W];                                                                               \
        for (int j = 0; j < W; j++) l[j] = acc[j];                                                 \
        for (int64_t i = 0; i < n; i++, p += st)                                                   \
            for (int j = 0; j < W; j++) l[j] += (double)p[j];                                      \
        for (int j = 0; j < W; j++) acc[j] = l[j];                                                 \
    }
GIDS_COLSUM(gids_colsum16_f32_c, float, 16)
GIDS_COLSUM(gids_colsum32_f32_c, float, 32)
GIDS_COLSUM(gids_colsum16_f64_c, double, 16)
#undef GIDS_COLSUM

#ifdef GIDS_SUM_AVX2
/* 32 columns: eight chains of adds, all on the fma pipes (the conversions keep the other two) */
__attribute__((target("avx2,fma"))) static inline void
gids_colsum32_f32_avx2(double *restrict acc, const float *p, int64_t n, int64_t st) {
#define GIDS_LD(k) _mm256_loadu_pd(acc + 4 * (k))
#define GIDS_ADD(a, k) a = GIDS_ADD_ON_FMA(_mm256_cvtps_pd(_mm_loadu_ps(p + 4 * (k))), a)
    __m256d a0 = GIDS_LD(0), a1 = GIDS_LD(1), a2 = GIDS_LD(2), a3 = GIDS_LD(3), a4 = GIDS_LD(4),
            a5 = GIDS_LD(5), a6 = GIDS_LD(6), a7 = GIDS_LD(7);
    for (int64_t i = 0; i < n; i++, p += st) {
        GIDS_ADD(a0, 0), GIDS_ADD(a1, 1), GIDS_ADD(a2, 2), GIDS_ADD(a3, 3);
        GIDS_ADD(a4, 4), GIDS_ADD(a5, 5), GIDS_ADD(a6, 6), GIDS_ADD(a7, 7);
    }
    _mm256_storeu_pd(acc, a0), _mm256_storeu_pd(acc + 4, a1), _mm256_storeu_pd(acc + 8, a2);
    _mm256_storeu_pd(acc + 12, a3), _mm256_storeu_pd(acc + 16, a4), _mm256_storeu_pd(acc + 20, a5);
    _mm256_storeu_pd(acc + 24, a6), _mm256_storeu_pd(acc + 28, a7);
#undef GIDS_LD
#undef GIDS_ADD
}

/* 16 columns: four chains, so, as the contiguous sum, one add in three on the fma pipes */
__attribute__((target("avx2,fma"))) static inline void
gids_colsum16_f32_avx2(double *restrict acc, const float *p, int64_t n, int64_t st) {
    __m256d a0 = _mm256_loadu_pd(acc), a1 = _mm256_loadu_pd(acc + 4), a2 = _mm256_loadu_pd(acc + 8),
            a3 = _mm256_loadu_pd(acc + 12);
#define GIDS_CV(r, k) _mm256_cvtps_pd(_mm_loadu_ps(p + (r)*st + 4 * (k)))
#define GIDS_ADD(a, r, k) a = _mm256_add_pd(a, GIDS_CV(r, k))
#define GIDS_FMA(a, r, k) a = GIDS_ADD_ON_FMA(GIDS_CV(r, k), a)
    int64_t i = 0;
    for (; i + 3 <= n; i += 3, p += 3 * st) {
        GIDS_ADD(a0, 0, 0), GIDS_ADD(a1, 0, 1), GIDS_FMA(a2, 0, 2), GIDS_ADD(a3, 0, 3);
        GIDS_ADD(a0, 1, 0), GIDS_FMA(a1, 1, 1), GIDS_ADD(a2, 1, 2), GIDS_ADD(a3, 1, 3);
        GIDS_FMA(a0, 2, 0), GIDS_ADD(a1, 2, 1), GIDS_ADD(a2, 2, 2), GIDS_FMA(a3, 2, 3);
    }
    for (; i < n; i++, p += st)
        GIDS_ADD(a0, 0, 0), GIDS_ADD(a1, 0, 1), GIDS_ADD(a2, 0, 2), GIDS_ADD(a3, 0, 3);
#undef GIDS_CV
#undef GIDS_ADD
#undef GIDS_FMA
    _mm256_storeu_pd(acc, a0), _mm256_storeu_pd(acc + 4, a1);
    _mm256_storeu_pd(acc + 8, a2), _mm256_storeu_pd(acc + 12, a3);
}

/* f64 columns, 16 at a time: no conversions, and memory rather than the adds bounds it (GCC's
 * loop in the portable build had used two-lane SSE2 registers) */
__attribute__((target("avx2"))) static inline void
gids_colsum16_f64_avx2(double *restrict acc, const double *p, int64_t n, int64_t st) {
    __m256d a0 = _mm256_loadu_pd(acc), a1 = _mm256_loadu_pd(acc + 4), a2 = _mm256_loadu_pd(acc + 8),
            a3 = _mm256_loadu_pd(acc + 12);
    for (int64_t i = 0; i < n; i++, p += st) {
        a0 = _mm256_add_pd(a0, _mm256_loadu_pd(p));
        a1 = _mm256_add_pd(a1, _mm256_loadu_pd(p + 4));
        a2 = _mm256_add_pd(a2, _mm256_loadu_pd(p + 8));
        a3 = _mm256_add_pd(a3, _mm256_loadu_pd(p + 12));
    }
    _mm256_storeu_pd(acc, a0), _mm256_storeu_pd(acc + 4, a1);
    _mm256_storeu_pd(acc + 8, a2), _mm256_storeu_pd(acc + 12, a3);
}
#endif

/* The same for the first w < 16 columns: a narrow matrix ([100000, 10] summed over its rows)
 * has no sixteen columns to take.  The last register's masked load reads no element past the w
 * columns; the others load plainly (a masked load in every register had cost 1.3 ns a row of
 * ten columns on AMD Zen 4, plain ones 0.85, the adds' latency). */
static inline void gids_colsum_narrow_f32_c(double *restrict acc, const float *p, int64_t n,
                                            int64_t st, int w) {
    for (int64_t i = 0; i < n; i++, p += st)
        for (int j = 0; j < w; j++) acc[j] += (double)p[j];
}

#ifdef GIDS_SUM_AVX2
/* nv four-lane registers, the last one masked by m when ml (else every lane is a column) */
#define GIDS_COLSUM_NARROW(nv, ml)                                                                 \
    do {                                                                                           \
        __m256d a_[nv];                                                                            \
        for (int k_ = 0; k_ < nv; k_++)                                                            \
            a_[k_] = _mm256_maskload_pd(acc + 4 * k_, k_ < nv - 1 ? all64 : m64);                  \
        for (int64_t i_ = 0; i_ < n; i_++, p += st)                                                \
            for (int k_ = 0; k_ < nv; k_++)                                                        \
                a_[k_] =                                                                           \
                    _mm256_add_pd(a_[k_], _mm256_cvtps_pd(k_ < nv - 1 || !(ml)                     \
                                                              ? _mm_loadu_ps(p + 4 * k_)           \
                                                              : _mm_maskload_ps(p + 4 * k_, m)));  \
        for (int k_ = 0; k_ < nv; k_++)                                                            \
            _mm256_maskstore_pd(acc + 4 * k_, k_ < nv - 1 ? all64 : m64, a_[k_]);                  \
    } while (0)

__attribute__((target("avx2"))) static inline void
gids_colsum_narrow_f32_avx2(double *restrict acc, const float *p, int64_t n, int64_t st, int w) {
    int nv = (w + 3) / 4, last = w - 4 * (nv - 1); /* lanes of the last register, 1..4 */
    __m128i m = _mm_cmpgt_epi32(_mm_set1_epi32(last), _mm_setr_epi32(0, 1, 2, 3));
    __m256i all64 = _mm256_set1_epi64x(-1), m64 = _mm256_cvtepi32_epi64(m);
    switch (2 * nv + (last < 4)) {
    case 2: GIDS_COLSUM_NARROW(1, 0); break;
    case 3: GIDS_COLSUM_NARROW(1, 1); break;
    case 4: GIDS_COLSUM_NARROW(2, 0); break;
    case 5: GIDS_COLSUM_NARROW(2, 1); break;
    case 6: GIDS_COLSUM_NARROW(3, 0); break;
    case 7: GIDS_COLSUM_NARROW(3, 1); break;
    case 8: GIDS_COLSUM_NARROW(4, 0); break;
    default: GIDS_COLSUM_NARROW(4, 1); break;
    }
}
#undef GIDS_COLSUM_NARROW
#endif

#ifdef GIDS_SUM_AVX2
/* 64 columns in eight AVX-512 registers, all adds on the fma pipes: 256 bytes a row, where the
 * 32-column loop reads 128 and comes back for the rest (AVX2's sixteen registers cannot hold 64
 * sums and a conversion).  On [1024, 1024] over dim 0, each row in its own 4 KB page, 0.088 ->
 * 0.068 ns an element; it needs rows to pay for its registers' loads and stores (on 10 rows it
 * ran at 0.069 against the 32-column loop's 0.050), so it takes chunks of 32 rows or more. */
__attribute__((target("avx512f"))) static inline void
gids_colsum64_f32_avx512(double *restrict acc, const float *p, int64_t n, int64_t st) {
    __m512d a[8], one = _mm512_set1_pd(1.0);
    for (int k = 0; k < 8; k++) a[k] = _mm512_loadu_pd(acc + 8 * k);
    for (int64_t i = 0; i < n; i++, p += st)
        for (int k = 0; k < 8; k++)
            a[k] = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_loadu_ps(p + 8 * k)), one, a[k]);
    for (int k = 0; k < 8; k++) _mm512_storeu_pd(acc + 8 * k, a[k]);
}
#endif

/* Whether gids_colsum64_f32 has its AVX-512 form (otherwise it is two 32-column sums). */
static inline int gids_colsum64_wide(void) {
#ifdef GIDS_SUM_AVX2
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

static inline void gids_colsum32_f32(double *restrict acc, const float *p, int64_t n, int64_t st) {
#ifdef GIDS_SUM_AVX2
    if (gids_sum_simd()) {
        gids_colsum32_f32_avx2(acc, p, n, st);
        return;
    }
#endif
    gids_colsum32_f32_c(acc, p, n, st);
}

static inline void gids_colsum64_f32(double *restrict acc, const float *p, int64_t n, int64_t st) {
#ifdef GIDS_SUM_AVX2
    if (gids_colsum64_wide()) {
        gids_colsum64_f32_avx512(acc, p, n, st);
        return;
    }
#endif
    gids_colsum32_f32(acc, p, n, st);
    gids_colsum32_f32(acc + 32, p + 32, n, st);
}

static inline void gids_colsum16_f32(double *restrict acc, const float *p, int64_t n, int64_t st) {
#ifdef GIDS_SUM_AVX2
    if (gids_sum_simd()) {
        gids_colsum16_f32_avx2(acc, p, n, st);
        return;
    }
#endif
    gids_colsum16_f32_c(acc, p, n, st);
}

static inline void gids_colsum_narrow_f32(double *restrict acc, const float *p, int64_t n,
                                          int64_t st, int w) {
#ifdef GIDS_SUM_AVX2
    if (__builtin_cpu_supports("avx2")) {
        gids_colsum_narrow_f32_avx2(acc, p, n, st, w);
        return;
    }
#endif
    gids_colsum_narrow_f32_c(acc, p, n, st, w);
}

static inline void gids_colsum16_f64(double *restrict acc, const double *p, int64_t n, int64_t st) {
#ifdef GIDS_SUM_AVX2
    if (__builtin_cpu_supports("avx2")) {
        gids_colsum16_f64_avx2(acc, p, n, st);
        return;
    }
#endif
    gids_colsum16_f64_c(acc, p, n, st);
}

#endif
