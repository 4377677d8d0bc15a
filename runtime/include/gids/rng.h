/* gids/rng.h -- counter-based random numbers (Philox 4x32-10).
 *
 *   gids_generator g;
 *   gids_generator_init(&g, 42);
 *   gids_tensor *x = NULL;
 *   int64_t shape[1] = {5};
 *   GIDS_TRY(gids_randn(&x, &g, GIDS_F32, 1, shape));
 *
 * A generator is (seed, offset).  Element i of a draw is a pure function of (seed, offset + i),
 * so results do not depend on the number of threads; each draw advances offset by the number
 * of counters it used.  Saving the two words and restoring them reproduces the stream.
 */
#ifndef GIDS_RNG_H
#define GIDS_RNG_H

#include <stdint.h>

#include "gids/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gids_generator {
    uint64_t seed;
    uint64_t offset; /* Philox counters consumed so far */
} gids_generator;

void gids_generator_init(gids_generator *g, uint64_t seed);
/* The state as a pair, read and set under the lock every draw takes its seed and counters
 * under: a generator shared by threads (the default one, between the Lua states of an
 * embedding program) is free of data races, and a draw sees a reseed wholly or not at all.
 * Which thread's reseed or draw comes first is the threads' to order.  As for the draws, a NULL
 * g is the default generator (so gids_generator_init(NULL, s) is gids_manual_seed(s)); a NULL
 * seed or offset is not written. */
void gids_generator_get_state(const gids_generator *g, uint64_t *seed, uint64_t *offset);
void gids_generator_set_state(gids_generator *g, uint64_t seed, uint64_t offset);
/* BORROW: the process-wide default generator (seed 0 until gids_manual_seed).  Threads may
 * draw from it concurrently and each draw gets its own counters, but in an order the threads
 * decide: give each thread its own generator for results that repeat. */
gids_generator *gids_default_generator(void);
void gids_manual_seed(uint64_t seed);

/* One Philox 4x32-10 block: counter (4 words) under key (2 words).  A primitive with no status:
 * the three arrays must be valid (they are not checked). */
void gids_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* NEW tensors (float dtypes for rand/randn; integer or float for randint).  g NULL: the default
 * generator. */
gids_status gids_rand(gids_tensor **out, gids_generator *g, gids_dtype dt, int ndim,
                      const int64_t *shape);
gids_status gids_randn(gids_tensor **out, gids_generator *g, gids_dtype dt, int ndim,
                       const int64_t *shape);
/* Integers uniform in [low, high). */
gids_status gids_randint(gids_tensor **out, gids_generator *g, gids_dtype dt, int64_t low,
                         int64_t high, int ndim, const int64_t *shape);
/* A random permutation of 0..n-1 in dt (i64 as PyTorch's default).  Refused where dt cannot hold
 * n distinct values: bool, or n - 1 past what dt holds exactly (u8: n <= 256, i32: n <= 2^31,
 * f32: n <= 2^24 + 1, f64: n <= 2^53 + 1; f16/bf16 are GPU storage types). */
gids_status gids_randperm(gids_tensor **out, gids_generator *g, gids_dtype dt, int64_t n);

/* In place (t may be strided). */
gids_status gids_uniform_(gids_tensor *t, gids_generator *g, double low, double high);
gids_status gids_normal_(gids_tensor *t, gids_generator *g, double mean, double std);
/* 1 with probability p, else 0. */
gids_status gids_bernoulli_(gids_tensor *t, gids_generator *g, double p);

#ifdef __cplusplus
}
#endif
#endif
