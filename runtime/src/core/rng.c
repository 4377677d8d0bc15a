/* rng.c -- Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
 *
 * Element i of a draw uses the block at counter (offset + i) under key (seed): the value of each
 * element is fixed by (seed, offset, i) alone, so any thread may compute any element and the
 * numbers are the same for every thread count.  One block (128 bits) per element is more than
 * an element needs, but it keeps the mapping trivial and lets a draw be split anywhere.
 * Bernoulli draws (dropout masks, the hot case) need one 32-bit word each, so they take the four
 * words of a block in turn from a separate stream: still a function of (seed, offset + i).
 */
#include <math.h>
#include <pthread.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "vecmath_impl.h"
#include "core_impl.h"
#include "gids/backend.h"
#include "gids/rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void gids_philox4x32(const uint32_t ctr_in[4], const uint32_t key_in[2], uint32_t out[4]) {
    uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
    uint32_t k0 = key_in[0], k1 = key_in[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0, c1 = (uint32_t)p1, c2 = n2, c3 = (uint32_t)p0;
        k0 += PHILOX_W0, k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

static gids_generator default_ = {0, 0};

/* One lock over every generator's (seed, offset) pair: a draw reads the seed and takes its
 * counters, and a set writes both, each as one step, so a draw from a generator another thread
 * reseeds gets the pair before or after the reseed, never the new seed with the old counters.
 * The critical sections are a few instructions (an uncontended lock takes tens of nanoseconds,
 * a draw at least a tensor's allocation), so one lock serves every generator and the public
 * struct keeps its two fields. */
static pthread_mutex_t state_lock_ = PTHREAD_MUTEX_INITIALIZER;

/* A NULL g is the default generator, as for the draws; a NULL seed or offset is not written. */
void gids_generator_get_state(const gids_generator *g, uint64_t *seed, uint64_t *offset) {
    if (g == NULL) g = &default_;
    pthread_mutex_lock(&state_lock_);
    if (seed != NULL) *seed = g->seed;
    if (offset != NULL) *offset = g->offset;
    pthread_mutex_unlock(&state_lock_);
}

void gids_generator_set_state(gids_generator *g, uint64_t seed, uint64_t offset) {
    if (g == NULL) g = &default_;
    pthread_mutex_lock(&state_lock_);
    g->seed = seed;
    g->offset = offset;
    pthread_mutex_unlock(&state_lock_);
}

void gids_generator_init(gids_generator *g, uint64_t seed) {
    gids_generator_set_state(g, seed, 0);
}
gids_generator *gids_default_generator(void) {
    return &default_;
}
void gids_manual_seed(uint64_t seed) {
    gids_generator_init(&default_, seed);
}

/* One draw's share of g: its seed and n counters [base, base + n), taken under the state lock,
 * so that draws from the default generator in several threads (two Lua states of one embedding
 * program) never share their numbers nor see half a reseed; which thread's draw or reseed comes
 * first is then theirs to order. */
typedef struct {
    uint64_t seed, base;
} reservation;

static reservation reserve_(gids_generator *g, uint64_t n) {
    pthread_mutex_lock(&state_lock_);
    reservation r = {g->seed, g->offset};
    g->offset += n;
    pthread_mutex_unlock(&state_lock_);
    return r;
}

/* The block at counter c under seed. */
static void block_(uint64_t seed, uint64_t c, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)c, (uint32_t)(c >> 32), 0, 0};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    gids_philox4x32(ctr, key, out);
}

/* Uniform in [0, 1) with 53 random bits, and in (0, 1] for the log of Box-Muller. */
static double u53_(uint32_t hi, uint32_t lo) {
    return (double)(((uint64_t)hi << 21) ^ (lo >> 11)) * 0x1.0p-53;
}

typedef enum { K_UNIFORM, K_NORMAL, K_INT, K_BERNOULLI } kind;
typedef struct {
    kind k;
    double a, b; /* uniform [a,b); normal mean a std b; bernoulli p = a */
    int64_t lo;  /* integers in [lo, lo + range) */
    uint64_t range;
} draw;

static void value_(const draw *d, const uint32_t r[4], double *f, int64_t *i) {
    switch (d->k) {
    case K_UNIFORM: *f = d->a + (d->b - d->a) * u53_(r[0], r[1]); break;
    case K_NORMAL: break; /* drawn PB at a time by normal_group_ */
    case K_INT: /* unsigned sum: lo + offset may pass INT64_MAX in between (full i64 range) */
        *i = (int64_t)((uint64_t)d->lo + ((((uint64_t)r[0] << 32) | r[1]) % d->range));
        break;
    case K_BERNOULLI: break; /* drawn four to a block by bernoulli_generate_ */
    }
}

/* PB consecutive Philox blocks of a stream (ctr[2]; 0 for one block per element, 1 for the
 * Bernoulli masks) at once: the rounds run across the blocks, lane by lane, so the compiler
 * turns each round into a few vector multiplies (32 x 32 -> 64 bits) instead of PB dependent
 * scalar chains.  Bit-identical to gids_philox4x32 per block. */
#define PB 16
GIDS_HOT static void philox_blocks_scalar(uint64_t blk0, const uint32_t key[2], uint32_t stream,
                                          uint32_t out[4][PB]) {
    uint32_t c0[PB], c1[PB], c2[PB], c3[PB];
    for (int j = 0; j < PB; j++) {
        uint64_t blk = blk0 + (uint64_t)j;
        c0[j] = (uint32_t)blk, c1[j] = (uint32_t)(blk >> 32), c2[j] = stream, c3[j] = 0;
    }
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        for (int j = 0; j < PB; j++) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * c0[j], p1 = (uint64_t)PHILOX_M1 * c2[j];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[j] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3[j] ^ k1;
            c0[j] = n0, c1[j] = (uint32_t)p1, c2[j] = n2, c3[j] = (uint32_t)p0;
        }
        k0 += PHILOX_W0, k1 += PHILOX_W1;
    }
    for (int j = 0; j < PB; j++)
        out[0][j] = c0[j], out[1][j] = c1[j], out[2][j] = c2[j], out[3][j] = c3[j];
}

#if defined(__x86_64__)
/* The same PB blocks with AVX2: four blocks per register, each 32-bit state word zero-extended
 * in a 64-bit lane, so one _mm256_mul_epu32 is four of Philox's 32 x 32 -> 64 products (the
 * compiler does not find this form on its own). */
__attribute__((target("avx2"))) static void
philox_blocks_avx2(uint64_t blk0, const uint32_t key[2], uint32_t stream, uint32_t out[4][PB]) {
    enum { R = PB / 4 };
    const __m256i m0 = _mm256_set1_epi64x(PHILOX_M0), m1 = _mm256_set1_epi64x(PHILOX_M1);
    const __m256i lo = _mm256_set1_epi64x(0xFFFFFFFFll);
    __m256i c0[R], c1[R], c2[R], c3[R];
    for (int q = 0; q < R; q++) {
        uint64_t b = blk0 + 4 * (uint64_t)q;
        c0[q] = _mm256_set_epi64x((long long)(uint32_t)(b + 3), (long long)(uint32_t)(b + 2),
                                  (long long)(uint32_t)(b + 1), (long long)(uint32_t)b);
        c1[q] = _mm256_set_epi64x((long long)((b + 3) >> 32), (long long)((b + 2) >> 32),
                                  (long long)((b + 1) >> 32), (long long)(b >> 32));
        c2[q] = _mm256_set1_epi64x(stream);
        c3[q] = _mm256_setzero_si256();
    }
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        const __m256i vk0 = _mm256_set1_epi64x(k0), vk1 = _mm256_set1_epi64x(k1);
        for (int q = 0; q < R; q++) {
            __m256i p0 = _mm256_mul_epu32(c0[q], m0), p1 = _mm256_mul_epu32(c2[q], m1);
            __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1[q]), vk0);
            __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3[q]), vk1);
            c0[q] = n0, c1[q] = _mm256_and_si256(p1, lo), c2[q] = n2;
            c3[q] = _mm256_and_si256(p0, lo);
        }
        k0 += PHILOX_W0, k1 += PHILOX_W1;
    }
    for (int q = 0; q < R; q++) {
        uint64_t w[4][4];
        _mm256_storeu_si256((__m256i *)w[0], c0[q]);
        _mm256_storeu_si256((__m256i *)w[1], c1[q]);
        _mm256_storeu_si256((__m256i *)w[2], c2[q]);
        _mm256_storeu_si256((__m256i *)w[3], c3[q]);
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 4; l++) out[k][4 * q + l] = (uint32_t)w[k][l];
    }
}

#endif

typedef void (*philox_blocks_fn)(uint64_t blk0, const uint32_t key[2], uint32_t stream,
                                 uint32_t out[4][PB]);

/* u53_ without an integer -> double conversion, which AVX2 lacks for 64-bit lanes (a loop
 * holding one stays scalar): the two parts, each under 2^52, as doubles by the 2^52 trick, then
 * hi 2^-32 + (lo >> 11) 2^-53, both exact, and so is their sum (53 bits).  The same value. */
static inline double u53_vec_(uint32_t hi, uint32_t lo) {
    double h = gids_vm_from_bits(0x4330000000000000u | hi) - 0x1.0p52;
    double l = gids_vm_from_bits(0x4330000000000000u | (lo >> 11)) - 0x1.0p52;
    return h * 0x1.0p-32 + l * 0x1.0p-53;
}

/* The uniforms of a normal's block: u1 = 1 - u53 of words 0-1 (in (0, 1]), u2 = u53 of
 * words 2-3. */
static inline void normal_uniforms_(const uint32_t r[4][PB], int j, double *u1, double *u2) {
    *u1 = 1.0 - u53_vec_(r[0][j], r[1][j]);
    *u2 = u53_vec_(r[2][j], r[3][j]);
}

/* The PB normals mean + std sqrt(-2 log u1) cos(2 pi u2) of PB blocks, in double, as one vector
 * loop (vecmath_impl.h; `omp simd`, since GCC's cost model otherwise keeps the AVX2 clones
 * scalar).  For an f32 tensor (want_f32) each value must round as that formula with glibc's log
 * and cos rounds: vecmath_impl.h's are within 1 ulp of them, so a double value can differ by
 * a few ulp of std sqrt(...) (more than that of the sum, where the mean cancels it), and about
 * one draw in 10^10 lands within that of an f32 rounding boundary (a review found them).  Those
 * lanes -- any whose f32 rounding the bound could change -- are made again with libm. */
GIDS_HOT_MATH static void normal_group_(const uint32_t r[4][PB], double mean, double std,
                                        bool want_f32, double out[PB]) {
    double mag[PB];
#pragma omp simd
    for (int j = 0; j < PB; j++) {
        double u1, u2;
        normal_uniforms_(r, j, &u1, &u2);
        double s = std * sqrt(-2.0 * gids_vm_log(u1));
        mag[j] = fabs(s);
        out[j] = mean + s * gids_vm_cos(2.0 * M_PI * u2);
    }
    if (!want_f32) return;
    int near[PB], any = 0;
#pragma omp simd reduction(| : any)
    for (int j = 0; j < PB; j++) {
        double err = 0x1.0p-48 * (mag[j] + fabs(out[j])); /* 32 ulp of each, generously */
        near[j] = (float)(out[j] - err) != (float)(out[j] + err);
        any |= near[j];
    }
    if (!any) return;
    for (int j = 0; j < PB; j++) {
        if (!near[j]) continue;
        double u1, u2;
        normal_uniforms_(r, j, &u1, &u2);
        out[j] = mean + std * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
    }
}

/* The block generator for this CPU, chosen once per draw outside its parallel loop. */
static philox_blocks_fn philox_blocks(void) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) return philox_blocks_avx2;
#endif
    return philox_blocks_scalar;
}

/* What one drawn element costs against one element of the grain (gids_threads_for, which
 * counts cheap element-wise work): a Philox block per element (and a log and cos for a normal),
 * or a quarter of a vectorised block for a Bernoulli mask.  Without it a 50k-element draw
 * stayed on one thread. */
#define DRAW_COST 32
#define BERNOULLI_COST 8

/* n elements of cost `cost` each, as the grain counts them. */
static int64_t weighted_(int64_t n, int64_t cost) {
    return n < INT64_MAX / cost ? n * cost : INT64_MAX;
}

/* Element i of a Bernoulli draw is word (c & 3) of the block at counter c >> 2 of stream 1
 * (ctr[2] = 1, so it never shares a block with the one-block-per-element stream 0), where
 * c = offset + i; it is 1 when that word is below p * 2^32.  32 bits resolve p to 2.3e-10.
 * Blocks go in groups of PB (group g = blocks first_block + g PB ...); the groups are split over
 * the threads, and each element depends only on its counter, so any split gives the same bits. */
static void bernoulli_generate_(void *dst, gids_dtype dt, int64_t n, gids_generator *g, double p) {
    uint64_t thr = p >= 1.0 ? (uint64_t)1 << 32 : (uint64_t)ldexp(p, 32);
    reservation rv = reserve_(g, (uint64_t)n);
    uint64_t first = rv.base, last = first + (uint64_t)n; /* counters [first, last) */
    int64_t nblocks = n == 0 ? 0 : (int64_t)(((last - 1) >> 2) - (first >> 2) + 1);
    int64_t ngroups = (nblocks + PB - 1) / PB;
    uint32_t key[2] = {(uint32_t)rv.seed, (uint32_t)(rv.seed >> 32)};
    philox_blocks_fn blocks = philox_blocks();
    int nt = gids_threads_for(weighted_(n, BERNOULLI_COST));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t gi = 0; gi < ngroups; gi++) {
        uint64_t blk0 = (first >> 2) + (uint64_t)gi * PB;
        uint32_t r[4][PB];
        blocks(blk0, key, 1, r);
        uint64_t c0 = blk0 << 2, c1 = c0 + 4 * PB; /* this group's counters [c0, c1) */
        if (dt == GIDS_F32 && c0 >= first && c1 <= last) {
            float *o = (float *)dst + (c0 - first); /* a whole group inside the draw */
            for (int j = 0; j < PB; j++)
                for (int lane = 0; lane < 4; lane++)
                    o[4 * j + lane] = (uint64_t)r[lane][j] < thr ? 1.0f : 0.0f;
            continue;
        }
        for (int j = 0; j < PB; j++)
            for (int lane = 0; lane < 4; lane++) {
                uint64_t c = c0 + 4 * (uint64_t)j + (uint64_t)lane;
                if (c < first || c >= last) continue;
                int64_t i = (int64_t)(c - first);
                int on = (uint64_t)r[lane][j] < thr;
                if (dt == GIDS_F32)
                    ((float *)dst)[i] = on ? 1.0f : 0.0f;
                else
                    gids_store_f64(dst, dt, i, on ? 1.0 : 0.0);
            }
    }
}

/* Writes n values into a contiguous buffer of dtype dt, then advances the generator. */
static void generate_(void *dst, gids_dtype dt, int64_t n, gids_generator *g, const draw *d) {
    if (d->k == K_BERNOULLI) {
        bernoulli_generate_(dst, dt, n, g, d->a);
        return;
    }
    reservation rv = reserve_(g, (uint64_t)n);
    uint64_t base = rv.base;
    /* (each element depends only on its counter: the thread count never changes the values) */
    int nt = gids_threads_for(weighted_(n, DRAW_COST));
    int64_t ngroups = (n + PB - 1) / PB;
    uint32_t key[2] = {(uint32_t)rv.seed, (uint32_t)(rv.seed >> 32)};
    philox_blocks_fn blocks = philox_blocks();
    /* Element i takes the stream-0 block at counter base + i; PB of them come from one call. */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t gi = 0; gi < ngroups; gi++) {
        uint32_t rb[4][PB];
        int64_t i0 = gi * PB, m = n - i0 < PB ? n - i0 : PB;
        blocks(base + (uint64_t)i0, key, 0, rb);
        if (d->k == K_NORMAL) {
            double f[PB];
            normal_group_(rb, d->a, d->b, dt == GIDS_F32, f);
            for (int64_t j = 0; j < m; j++) {
                if (dt == GIDS_F32)
                    ((float *)dst)[i0 + j] = (float)f[j];
                else
                    gids_store_f64(dst, dt, i0 + j, f[j]);
            }
            continue;
        }
        for (int64_t j = 0; j < m; j++) {
            uint32_t r[4] = {rb[0][j], rb[1][j], rb[2][j], rb[3][j]};
            double f = 0.0;
            int64_t v = 0;
            int64_t i = i0 + j;
            value_(d, r, &f, &v);
            if (d->k == K_INT)
                gids_store_i64(dst, dt, i, v);
            else if (dt == GIDS_F32)
                ((float *)dst)[i] = (float)f;
            else
                gids_store_f64(dst, dt, i, f);
        }
    }
}

/* Fills t (any layout): straight into its memory when contiguous, else through a temporary. */
static gids_status fill_(gids_tensor *t, gids_generator *g, const draw *d, const char *op) {
    GIDS_TRY(gids_check_cpu_dtype(op, "tensor", t));
    GIDS_TRY(gids_check_writable(op, t));
    if (g == NULL) g = gids_default_generator();
    int64_t n = gids_tensor_numel(t);
    if (gids_tensor_is_contiguous(t)) {
        generate_(gids_tensor_data(t), t->dtype, n, g, d);
        gids_tensor_bump_version(t);
        return GIDS_OK;
    }
    gids_tensor *tmp = NULL;
    GIDS_TRY(gids_empty_like(&tmp, t));
    generate_(tmp->storage->data, t->dtype, n, g, d);
    gids_status s = gids_copy_(t, tmp);
    gids_tensor_release(tmp);
    return s;
}

static gids_status need_float_(const char *op, gids_dtype dt) {
    if (dt != GIDS_F32 && dt != GIDS_F64)
        GIDS_FAIL(GIDS_EDTYPE, "%s: dtype must be f32 or f64, got %s", op, gids_dtype_name(dt));
    return GIDS_OK;
}

static gids_status make_(gids_tensor **out, gids_generator *g, gids_dtype dt, int ndim,
                         const int64_t *shape, const draw *d, const char *op) {
    GIDS_TRY(gids_empty_named(op, out, dt, GIDS_DEVICE_CPU, ndim, shape));
    gids_status s = fill_(*out, g, d, op);
    if (s != GIDS_OK) {
        gids_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

gids_status gids_rand(gids_tensor **out, gids_generator *g, gids_dtype dt, int ndim,
                      const int64_t *shape) {
    GIDS_TRY(need_float_("rand", dt));
    draw d = {K_UNIFORM, 0.0, 1.0, 0, 0};
    return make_(out, g, dt, ndim, shape, &d, "rand");
}

gids_status gids_randn(gids_tensor **out, gids_generator *g, gids_dtype dt, int ndim,
                       const int64_t *shape) {
    GIDS_TRY(need_float_("randn", dt));
    draw d = {K_NORMAL, 0.0, 1.0, 0, 0};
    return make_(out, g, dt, ndim, shape, &d, "randn");
}

/* v rounded to the float dtype dt, back as an integer (saturating: 2^63 is INT64_MAX). */
static int64_t rounded_(gids_dtype dt, int64_t v) {
    return gids_sat_i64(dt == GIDS_F32 ? (double)(float)v : (double)v);
}

/* The step between neighbouring values of dt at the size of v: 2^(floor(log2|v|) - digits + 1),
 * for a |v| that rounds to another integer (so at least 2^digits). */
static int64_t step_(gids_dtype dt, int64_t v) {
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    int n = 63 - __builtin_clzll(m), digits = dt == GIDS_F32 ? 24 : 53;
    return (int64_t)1 << (n - digits + 1);
}

/* randint's bounds on a float dtype, PyTorch's rule (aten DistributionTemplates.h, update_from and
 * update_to): a draw low + k is rounded to dt, so where high - 1 rounds up to high or past it,
 * high moves down to one step below that rounding, and where low + 1 rounds below low, low moves
 * up to one step above it; every value then drawn rounds to less than high.  PyTorch casts 2^63
 * to int64 as the hardware does (to INT64_MIN) and so leaves a high near 2^63 unmoved; here it
 * saturates and moves. */
static int64_t float_low_(gids_dtype dt, int64_t low) {
    int64_t r = rounded_(dt, low + 1);
    return r < low ? r + step_(dt, low + 1) : low;
}
static int64_t float_high_(gids_dtype dt, int64_t high) {
    int64_t r = rounded_(dt, high - 1);
    return r >= high ? r - step_(dt, high - 1) : high;
}

gids_status gids_randint(gids_tensor **out, gids_generator *g, gids_dtype dt, int64_t low,
                         int64_t high, int ndim, const int64_t *shape) {
    if (high <= low)
        GIDS_FAIL(GIDS_EINVAL, "randint: high (%lld) must be greater than low (%lld)",
                  (long long)high, (long long)low);
    if (dt == GIDS_BOOL) GIDS_FAIL(GIDS_EDTYPE, "randint: dtype bool is not supported");
    if (dt == GIDS_F32 || dt == GIDS_F64) {
        int64_t l = float_low_(dt, low), h = float_high_(dt, high);
        if (l >= h)
            GIDS_FAIL(GIDS_EINVAL,
                      "randint: low (%lld) must stay less than high (%lld) once both are rounded "
                      "to %s, got low %lld >= high %lld",
                      (long long)low, (long long)high, gids_dtype_name(dt), (long long)l,
                      (long long)h);
        low = l, high = h;
    }
    GIDS_TRY(gids_check_fits("randint (low)", dt, gids_scalar_i(low)));
    GIDS_TRY(gids_check_fits("randint (high - 1)", dt, gids_scalar_i(high - 1)));
    draw d = {K_INT, 0, 0, low, (uint64_t)high - (uint64_t)low};
    return make_(out, g, dt, ndim, shape, &d, "randint");
}

/* The values 0..n-1 stay distinct in dt only while n - 1 is exact there: an integer dtype must
 * hold it, a float one must have the bits (every integer up to 2^(mantissa + 1) is exact).
 * These are PyTorch's limits (bf16, which PyTorch takes without a check and so repeats values
 * past 257, included); bool holds two values and is refused as PyTorch refuses it. */
static gids_status randperm_fits_(gids_dtype dt, int64_t n) {
    int64_t limit;
    switch (dt) {
    case GIDS_I64: return GIDS_OK;
    case GIDS_I32: limit = (int64_t)INT32_MAX + 1; break;
    case GIDS_U8: limit = 256; break;
    case GIDS_F64: limit = ((int64_t)1 << 53) + 1; break;
    case GIDS_F32: limit = ((int64_t)1 << 24) + 1; break;
    case GIDS_F16: limit = ((int64_t)1 << 11) + 1; break;
    case GIDS_BF16: limit = ((int64_t)1 << 8) + 1; break;
    case GIDS_BOOL:
        GIDS_FAIL(GIDS_EDTYPE, "randperm: dtype bool is not supported (it cannot hold n distinct "
                               "values)");
    default: GIDS_FAIL(GIDS_EDTYPE, "randperm: invalid dtype %d", (int)dt);
    }
    if (n > limit)
        GIDS_FAIL(GIDS_EINVAL,
                  "randperm: n = %lld is too large for dtype %s: the values 0..n-1 are distinct "
                  "in %s only for n <= %lld",
                  (long long)n, gids_dtype_name(dt), gids_dtype_name(dt), (long long)limit);
    return GIDS_OK;
}

gids_status gids_randperm(gids_tensor **out, gids_generator *g, gids_dtype dt, int64_t n) {
    GIDS_CHECK_ARG(out, "randperm", "out");
    if (n < 0) GIDS_FAIL(GIDS_EINVAL, "randperm: n must be >= 0, got %lld", (long long)n);
    GIDS_TRY(randperm_fits_(dt, n));
    if (gids_dtype_is_half(dt))
        GIDS_FAIL(GIDS_EDTYPE, "randperm: dtype %s is a GPU storage type; use f32 on the CPU",
                  gids_dtype_name(dt));
    if (g == NULL) g = gids_default_generator();
    gids_tensor *perm = NULL;
    GIDS_TRY(gids_empty_named("randperm", &perm, GIDS_I64, GIDS_DEVICE_CPU, 1, &n));
    int64_t *p = perm->storage->data;
    for (int64_t i = 0; i < n; i++) p[i] = i;
    /* Fisher-Yates; swap i uses block i so the permutation is a function of (seed, offset). */
    reservation rv = reserve_(g, (uint64_t)n);
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t r[4];
        block_(rv.seed, rv.base + (uint64_t)i, r);
        int64_t j = (int64_t)((((uint64_t)r[0] << 32) | r[1]) % (uint64_t)(i + 1));
        int64_t tmp = p[i];
        p[i] = p[j], p[j] = tmp;
    }
    if (dt == GIDS_I64) {
        *out = perm;
        return GIDS_OK;
    }
    gids_status s = gids_to_dtype(out, perm, dt);
    gids_tensor_release(perm);
    return s;
}

gids_status gids_uniform_(gids_tensor *t, gids_generator *g, double low, double high) {
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "uniform_: tensor is NULL");
    GIDS_TRY(need_float_("uniform_", t->dtype));
    if (!(low <= high))
        GIDS_FAIL(GIDS_EINVAL, "uniform_: low %g must not exceed high %g", low, high);
    /* low + (high - low) * u: an infinite bound or width gives inf * 0 = NaN */
    if (!isfinite(low) || !isfinite(high))
        GIDS_FAIL(GIDS_EINVAL, "uniform_: low %g and high %g must be finite", low, high);
    if (!isfinite(high - low))
        GIDS_FAIL(GIDS_EINVAL, "uniform_: the width high - low (%g - %g) overflows a double", high,
                  low);
    draw d = {K_UNIFORM, low, high, 0, 0};
    return fill_(t, g, &d, "uniform_");
}

gids_status gids_normal_(gids_tensor *t, gids_generator *g, double mean, double std) {
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "normal_: tensor is NULL");
    GIDS_TRY(need_float_("normal_", t->dtype));
    if (!(std >= 0.0 && std < INFINITY))
        GIDS_FAIL(GIDS_EINVAL, "normal_: std must be a finite number >= 0, got %g", std);
    if (!isfinite(mean)) GIDS_FAIL(GIDS_EINVAL, "normal_: mean must be finite, got %g", mean);
    draw d = {K_NORMAL, mean, std, 0, 0};
    return fill_(t, g, &d, "normal_");
}

gids_status gids_bernoulli_(gids_tensor *t, gids_generator *g, double p) {
    if (!(p >= 0.0 && p <= 1.0))
        GIDS_FAIL(GIDS_EINVAL, "bernoulli_: p must be in [0, 1], got %g", p);
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "bernoulli_: tensor is NULL");
    if (!gids_is_cpu(t)) {
        /* the device draws the CPU's numbers from the generator's state, then it advances */
        const gids_tensor *ts[1] = {t};
        const gids_backend *be = NULL;
        GIDS_TRY(gids_dispatch_backend("bernoulli_", 1, ts, &be));
        if (be->bernoulli_ == NULL) return gids_no_kernel("bernoulli_", t);
        if (g == NULL) g = gids_default_generator();
        reservation rv = reserve_(g, (uint64_t)gids_tensor_numel(t));
        return be->bernoulli_(t, rv.seed, rv.base, p);
    }
    draw d = {K_BERNOULLI, p, 0, 0, 0};
    return fill_(t, g, &d, "bernoulli_");
}
