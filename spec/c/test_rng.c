/* test_rng.c -- the Philox generator: its known answer, reproducible and thread-count
 * independent draws, each element from its own counter, the normal and Bernoulli streams as
 * documented, and a generator shared by two threads while one reseeds it. */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

TEST(philox_known_answer) {
    /* Known-answer vectors of the Random123 distribution (kat_vectors, philox4x32 10 rounds). */
    uint32_t out[4];
    gids_philox4x32((uint32_t[]){0, 0, 0, 0}, (uint32_t[]){0, 0}, out);
    CHECK(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu &&
          out[3] == 0x9b00dbd8u);
    gids_philox4x32((uint32_t[]){0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                    (uint32_t[]){0xffffffffu, 0xffffffffu}, out);
    CHECK(out[0] == 0x408f276du && out[1] == 0x41c83b0eu && out[2] == 0xa20bc7c6u &&
          out[3] == 0x6d5451fdu);
}

TEST(rng_reproducible_and_thread_independent) {
    int64_t n = 200000;
    gids_generator g1, g2;
    gids_generator_init(&g1, 42);
    gids_generator_init(&g2, 42);
    gids_tensor *a = NULL, *b = NULL, *c = NULL;
    omp_set_num_threads(1);
    CHECK_OK(gids_randn(&a, &g1, GIDS_F32, 1, &n));
    omp_set_num_threads(4);
    CHECK_OK(gids_randn(&b, &g2, GIDS_F32, 1, &n));
    CHECK(memcmp(a->storage->data, b->storage->data, (size_t)n * 4) == 0);
    CHECK(g1.offset == (uint64_t)n);
    gids_generator saved = g1;
    CHECK_OK(gids_rand(&c, &g1, GIDS_F64, 1, &n));
    double sum = 0, sq = 0;
    const float *x = a->storage->data;
    for (int64_t i = 0; i < n; i++) sum += x[i], sq += (double)x[i] * x[i];
    CHECK(fabs(sum / n) < 0.01 && fabs(sq / n - 1.0) < 0.02);
    gids_tensor *d = NULL;
    g1 = saved; /* restoring the state replays the stream */
    CHECK_OK(gids_rand(&d, &g1, GIDS_F64, 1, &n));
    CHECK(memcmp(c->storage->data, d->storage->data, (size_t)n * 8) == 0);
    const double *u = d->storage->data;
    double lo = 1, hi = 0;
    for (int64_t i = 0; i < n; i++) lo = u[i] < lo ? u[i] : lo, hi = u[i] > hi ? u[i] : hi;
    CHECK(lo >= 0.0 && hi < 1.0 && lo < 1e-3 && hi > 0.999);
    gids_tensor_release(a), gids_tensor_release(b), gids_tensor_release(c), gids_tensor_release(d);
}

/* Element i of a draw is the stream-0 Philox block at counter offset + i, whatever the group
 * of blocks computed at once or the thread that computed it: checked against the scalar
 * gids_philox4x32 from an offset and a length that are not multiples of a group. */
TEST(rng_draws_element_i_from_its_own_counter) {
    gids_generator g;
    gids_generator_init(&g, 0x1234567890abcdefull);
    g.offset = 0xfffffffeull; /* across the counter's 32-bit word */
    int64_t n = 1003;
    gids_tensor *u = NULL, *k = NULL;
    CHECK_OK(gids_rand(&u, &g, GIDS_F64, 1, &n));
    CHECK_OK(gids_randint(&k, &g, GIDS_I64, -5, 1000003, 1, &n));
    const double *uv = u->storage->data;
    const int64_t *kv = k->storage->data;
    uint32_t key[2] = {(uint32_t)g.seed, (uint32_t)(g.seed >> 32)};
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t out[4];
        uint64_t c = 0xfffffffeull + (uint64_t)i;
        gids_philox4x32((uint32_t[]){(uint32_t)c, (uint32_t)(c >> 32), 0, 0}, key, out);
        double want = (double)(((uint64_t)out[0] << 21) ^ (out[1] >> 11)) * 0x1.0p-53;
        bad += uv[i] != want;
        c += (uint64_t)n; /* the randint draw follows the rand draw */
        gids_philox4x32((uint32_t[]){(uint32_t)c, (uint32_t)(c >> 32), 0, 0}, key, out);
        int64_t wk = -5 + (int64_t)((((uint64_t)out[0] << 32) | out[1]) % 1000008u);
        bad += kv[i] != wk;
    }
    CHECK(bad == 0);
    gids_tensor_release(u), gids_tensor_release(k);
}

TEST(randint_randperm_bernoulli) {
    gids_generator g;
    gids_generator_init(&g, 1);
    gids_tensor *t = NULL;
    int64_t n = 1000;
    CHECK_OK(gids_randint(&t, &g, GIDS_I64, -3, 4, 1, &n));
    const int64_t *v = t->storage->data;
    int seen[7] = {0};
    for (int64_t i = 0; i < n; i++) {
        CHECK(v[i] >= -3 && v[i] < 4);
        if (v[i] >= -3 && v[i] < 4) seen[v[i] + 3] = 1;
    }
    for (int i = 0; i < 7; i++) CHECK(seen[i]);
    gids_tensor_release(t);
    CHECK_ERR(gids_randint(&t, &g, GIDS_I64, 4, 4, 1, &n), GIDS_EINVAL, "high (4) must be greater");
    CHECK_OK(gids_randperm(&t, &g, GIDS_I64, 500));
    char hit[500] = {0};
    const int64_t *p = t->storage->data;
    int ok = 1;
    for (int i = 0; i < 500; i++) ok &= p[i] >= 0 && p[i] < 500 && !hit[p[i]]++;
    CHECK(ok);
    gids_tensor_release(t);
    CHECK_OK(gids_zeros(&t, GIDS_F32, GIDS_DEVICE_CPU, 1, &n));
    CHECK_OK(gids_bernoulli_(t, &g, 0.25));
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += ((float *)t->storage->data)[i];
    CHECK(s > 200 && s < 300);
    CHECK_ERR(gids_bernoulli_(t, &g, 1.5), GIDS_EINVAL, "p must be in [0, 1]");
    gids_tensor_release(t);
}

/* randperm's values are distinct in its dtype or the call is refused (PyTorch's limits): before,
 * randperm(300) as u8 wrapped into repeats and bool gave trues. */
TEST(randperm_refuses_a_dtype_that_cannot_hold_n_values) {
    gids_generator g;
    gids_generator_init(&g, 3);
    gids_tensor *t = NULL;
    CHECK_OK(gids_randperm(&t, &g, GIDS_U8, 256));
    char hit[256] = {0};
    int ok = t->dtype == GIDS_U8;
    for (int i = 0; i < 256; i++) ok &= !hit[((const uint8_t *)t->storage->data)[i]]++;
    CHECK(ok);
    gids_tensor_release(t);
    t = NULL;
    uint64_t seed, offset, after;
    gids_generator_get_state(&g, &seed, &offset);
    CHECK_ERR(gids_randperm(&t, &g, GIDS_U8, 257), GIDS_EINVAL,
              "randperm: n = 257 is too large for dtype u8: the values 0..n-1 are distinct in u8 "
              "only for n <= 256");
    CHECK_ERR(gids_randperm(&t, &g, GIDS_I32, ((int64_t)1 << 31) + 1), GIDS_EINVAL,
              "n = 2147483649 is too large for dtype i32");
    CHECK_ERR(gids_randperm(&t, &g, GIDS_F32, ((int64_t)1 << 24) + 2), GIDS_EINVAL,
              "n = 16777218 is too large for dtype f32: the values 0..n-1 are distinct in f32 "
              "only for n <= 16777217");
    CHECK_ERR(gids_randperm(&t, &g, GIDS_F64, ((int64_t)1 << 53) + 2), GIDS_EINVAL,
              "only for n <= 9007199254740993");
    CHECK_ERR(gids_randperm(&t, &g, GIDS_F16, 2050), GIDS_EINVAL, "only for n <= 2049");
    CHECK_ERR(gids_randperm(&t, &g, GIDS_BF16, 258), GIDS_EINVAL, "only for n <= 257");
    CHECK_ERR(gids_randperm(&t, &g, GIDS_F16, 5), GIDS_EDTYPE, "dtype f16 is a GPU storage type");
    CHECK_ERR(gids_randperm(&t, &g, GIDS_BOOL, 0), GIDS_EDTYPE,
              "randperm: dtype bool is not supported");
    CHECK(t == NULL);
    gids_generator_get_state(&g, &seed, &after);
    CHECK(after == offset); /* a refusal draws nothing */
    CHECK_OK(gids_randperm(&t, &g, GIDS_F64, 1000));
    ok = t->dtype == GIDS_F64;
    char seen[1000] = {0};
    for (int i = 0; i < 1000; i++) {
        double v = ((const double *)t->storage->data)[i];
        ok &= v >= 0 && v < 1000 && v == (int)v && !seen[(int)v]++;
    }
    CHECK(ok);
    gids_tensor_release(t);
}

/* A generator shared by threads: one reseeds it over and over, to (seed 1, offset 0) and
 * (seed 2, offset 2^40), while another draws permutations from it.  Every permutation must be
 * that of one of those states at some later offset: before, randperm re-read the seed for every
 * swap (mixing two seeds), and a draw could take the new seed with the old offset (seed 2 near
 * offset 0, or seed 1 past 2^40).  Only a machine running both threads at once can show it. */
enum { RESEED_N = 256, RESEED_DRAWS = 400 };
#define RESEED_FAR ((uint64_t)1 << 40)

typedef struct {
    gids_generator *g;
    int started, stop; /* (atomic) */
} reseeder;

static void *reseed_loop(void *arg) {
    reseeder *r = arg;
    __atomic_store_n(&r->started, 1, __ATOMIC_RELEASE);
    for (uint64_t k = 0; !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE); k++)
        gids_generator_set_state(r->g, 1 + (k & 1), k & 1 ? RESEED_FAR : 0);
    return NULL;
}

/* Whether p is randperm(RESEED_N) of seed 1 from offset 0, or seed 2 from 2^40, at most
 * RESEED_DRAWS draws on. */
static bool is_one_states_perm(const int64_t *p) {
    for (uint64_t seed = 1; seed <= 2; seed++)
        for (uint64_t k = 0; k < RESEED_DRAWS; k++) {
            gids_generator h = {0, 0};
            gids_generator_set_state(&h, seed, (seed == 2 ? RESEED_FAR : 0) + k * RESEED_N);
            gids_tensor *t = NULL;
            CHECK_OK(gids_randperm(&t, &h, GIDS_I64, RESEED_N));
            bool same = memcmp(t->storage->data, p, RESEED_N * sizeof *p) == 0;
            gids_tensor_release(t);
            if (same) return true;
        }
    return false;
}

TEST(reseeding_while_another_thread_draws) {
    gids_generator g;
    gids_generator_init(&g, 1);
    reseeder r = {&g, 0, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, reseed_loop, &r) == 0);
    while (!__atomic_load_n(&r.started, __ATOMIC_ACQUIRE)) sched_yield();
    static int64_t perms[RESEED_DRAWS][RESEED_N];
    for (int d = 0; d < RESEED_DRAWS; d++) {
        gids_tensor *t = NULL;
        CHECK_OK(gids_randperm(&t, &g, GIDS_I64, RESEED_N));
        memcpy(perms[d], t->storage->data, sizeof perms[d]);
        gids_tensor_release(t);
    }
    __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
    CHECK(pthread_join(th, NULL) == 0);
    int mixed = 0;
    for (int d = 0; d < RESEED_DRAWS; d++) mixed += !is_one_states_perm(perms[d]);
    if (mixed) CHECK_FAIL_("%d of %d permutations mix two states", mixed, RESEED_DRAWS);
    uint64_t seed, off;
    gids_generator_get_state(&g, &seed, &off);
    CHECK((seed == 1 || seed == 2) && off % RESEED_N == 0);
}

/* The libm form of the normal at counter c of seed (a 32-bit seed): its block's u1 and u2, and
 * sqrt(-2 log u1) * std (*prod) before the cosine and the mean. */
static double libm_normal(uint32_t seed, uint64_t c, double mean, double std, double *prod) {
    uint32_t r[4];
    gids_philox4x32((uint32_t[]){(uint32_t)c, (uint32_t)(c >> 32), 0, 0}, (uint32_t[]){seed, 0}, r);
    double u1 = 1.0 - (double)(((uint64_t)r[0] << 21) ^ (r[1] >> 11)) * 0x1.0p-53;
    double u2 = (double)(((uint64_t)r[2] << 21) ^ (r[3] >> 11)) * 0x1.0p-53;
    *prod = std * sqrt(-2.0 * log(u1));
    return mean + std * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* A normal draw is mean + std sqrt(-2 log u1) cos(2 pi u2) of its element's block (u1 = 1 -
 * u53 of words 0-1, u2 = u53 of words 2-3), made by rng.c in vector code (vecmath_impl.h):
 * against that formula with glibc's log and cos, from an offset and a length that are not
 * multiples of a group, on one thread and on four: every f32 value equal (rng.c makes again
 * with libm any value its bound could round the other way), every f64 value within a few ulp
 * of the product before the mean is added; and the draw a review found on an f32 rounding
 * boundary. */
TEST(normal_draws_follow_their_box_muller_definition) {
    int64_t n = 100003;
    for (int dt = 0; dt < 2; dt++)
        for (int th = 1; th <= 4; th += 3) {
            gids_set_num_threads(th);
            gids_generator g;
            gids_generator_init(&g, 0xfeedbeefull);
            g.offset = 11;
            gids_tensor *t = NULL;
            CHECK_OK(gids_empty(&t, dt ? GIDS_F64 : GIDS_F32, GIDS_DEVICE_CPU, 1, &n));
            CHECK_OK(gids_normal_(t, &g, 0.5, 3.0));
            int64_t bad = 0;
            for (int64_t i = 0; i < n; i++) {
                double prod, want = libm_normal(0xfeedbeefu, 11 + (uint64_t)i, 0.5, 3.0, &prod);
                if (dt == 0) {
                    bad += ((const float *)t->storage->data)[i] != (float)want;
                } else {
                    /* 4 ulp of std * sqrt(-2 log u1) (each side's log, cos and two products
                     * round; the mean's addition may cancel most of the value) and an ulp of
                     * the sum */
                    double got = ((const double *)t->storage->data)[i];
                    double tol = 4 * (nextafter(prod, INFINITY) - prod) +
                                 (nextafter(fabs(want), INFINITY) - fabs(want));
                    bad += fabs(got - want) > tol;
                }
            }
            if (bad)
                CHECK_FAIL_("%s, %d threads: %lld of %lld draws off", dt ? "f64" : "f32", th,
                            (long long)bad, (long long)n);
            gids_tensor_release(t);
        }
    gids_set_num_threads(2);
    /* counter 3959700102 of seed 0xfeedbeef: 1 ulp off in the log puts the double value on an
     * f32 halfway point, so the vector value alone would round up where libm's rounds down */
    gids_generator g;
    gids_generator_init(&g, 0xfeedbeefull);
    g.offset = 3959700102ull - 21;
    int64_t m = 40;
    gids_tensor *t = NULL;
    CHECK_OK(gids_randn(&t, &g, GIDS_F32, 1, &m));
    double prod;
    CHECK(((const float *)t->storage->data)[21] ==
          (float)libm_normal(0xfeedbeefu, 3959700102ull, 0.0, 1.0, &prod));
    gids_tensor_release(t);
}

/* The Bernoulli stream as documented: element i is word (c & 3) of the Philox block of counter
 * c >> 2 with ctr[2] = 1, below p 2^32, c = offset + i.  Checked against gids_philox4x32 for f32
 * and f64, 1 and 4 threads, a draw starting mid-block and ending mid-group. */
TEST(bernoulli_follows_its_philox_definition) {
    int64_t n = 20011;
    double p = 0.3;
    uint64_t thr = (uint64_t)ldexp(p, 32);
    for (int dt = 0; dt < 2; dt++)
        for (int th = 1; th <= 4; th += 3) {
            gids_set_num_threads(th);
            gids_generator g;
            gids_generator_init(&g, 0x123456789ABCull);
            g.offset = 7;
            gids_tensor *t = NULL;
            CHECK_OK(gids_zeros(&t, dt ? GIDS_F64 : GIDS_F32, GIDS_DEVICE_CPU, 1, &n));
            CHECK_OK(gids_bernoulli_(t, &g, p));
            uint32_t key[2] = {0x56789ABCu, 0x1234u};
            int64_t bad = 0;
            for (int64_t i = 0; i < n; i++) {
                uint64_t c = 7 + (uint64_t)i, blk = c >> 2;
                uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), 1, 0}, r[4];
                gids_philox4x32(ctr, key, r);
                double want = (uint64_t)r[c & 3] < thr ? 1.0 : 0.0;
                double got = dt ? ((const double *)t->storage->data)[i]
                                : ((const float *)t->storage->data)[i];
                bad += got != want;
            }
            CHECK(bad == 0);
            gids_tensor_release(t);
        }
    gids_set_num_threads(2);
}

/* Bernoulli draws share blocks four to one, yet element i is still a function of (seed,
 * offset + i): draws of 3, 6 and 50 000 elements in a row (splitting blocks anywhere, the last
 * one in parallel) equal one draw of the total; p = 0 and p = 1 are exact. */
TEST(bernoulli_is_split_invariant) {
    int64_t sizes[3] = {3, 6, 50000}, total = 50009;
    gids_generator whole, parts;
    gids_generator_init(&whole, 99);
    gids_generator_init(&parts, 99);
    whole.offset = parts.offset = 5; /* start mid-block */
    gids_tensor *all = NULL;
    CHECK_OK(gids_zeros(&all, GIDS_F64, GIDS_DEVICE_CPU, 1, &total));
    CHECK_OK(gids_bernoulli_(all, &whole, 0.5));
    CHECK(whole.offset == 5 + (uint64_t)total);
    const double *a = all->storage->data;
    int64_t at = 0, same = 1, ones = 0;
    for (int k = 0; k < 3; k++) {
        gids_tensor *t = NULL;
        CHECK_OK(gids_zeros(&t, GIDS_F64, GIDS_DEVICE_CPU, 1, &sizes[k]));
        CHECK_OK(gids_bernoulli_(t, &parts, 0.5));
        const double *v = t->storage->data;
        for (int64_t i = 0; i < sizes[k]; i++) same &= v[i] == a[at + i];
        at += sizes[k];
        gids_tensor_release(t);
    }
    CHECK(same);
    for (int64_t i = 0; i < total; i++) ones += a[i] == 1.0;
    CHECK(ones > 24500 && ones < 25500);
    CHECK_OK(gids_bernoulli_(all, &whole, 0.0));
    double s = 0;
    for (int64_t i = 0; i < total; i++) s += a[i];
    CHECK(s == 0);
    CHECK_OK(gids_bernoulli_(all, &whole, 1.0));
    s = 0;
    for (int64_t i = 0; i < total; i++) s += a[i];
    CHECK(s == (double)total);
    gids_tensor_release(all);
}

int main(void) {
    RUN(philox_known_answer);
    RUN(rng_reproducible_and_thread_independent);
    RUN(rng_draws_element_i_from_its_own_counter);
    RUN(randint_randperm_bernoulli);
    RUN(randperm_refuses_a_dtype_that_cannot_hold_n_values);
    RUN(reseeding_while_another_thread_draws);
    RUN(normal_draws_follow_their_box_muller_definition);
    RUN(bernoulli_follows_its_philox_definition);
    RUN(bernoulli_is_split_invariant);
    return check_summary("rng");
}
