/* core_impl.h -- internal helpers shared by the runtime's source files. */
#ifndef GIDS_CORE_IMPL_H
#define GIDS_CORE_IMPL_H

#include <stdint.h>

#include "../backend_common.h"
#include "gids/ops.h"
#include "gids/tensor.h"

/* EINVAL "op: what is NULL" unless p is set: the entry check for a pointer argument, so a NULL
 * operand is a status naming it rather than a crash (the plugins' gids_check_given). */
#define GIDS_CHECK_ARG(p, op, what) GIDS_TRY(gids_check_given((op), (p) != NULL, (what)))
/* EINVAL "fname: op (the caller's name for messages) is NULL" unless op is set: the entry check
 * of a public helper that starts its messages with its caller's name (gids_normalize_dim,
 * gids_broadcast_shapes, ...), so a NULL name is never printed (undefined in printf). */
#define GIDS_CHECK_OP_NAME(op, fname)                                                              \
    GIDS_TRY(gids_check_given((fname), (op) != NULL, "op (the caller's name for messages)"))

/* Marks t's storage as written in place (autograd checks saved tensors against it). */
static inline void gids_tensor_bump_version(gids_tensor *t) {
    __atomic_add_fetch(&t->storage->version, 1, __ATOMIC_RELAXED);
}

/* A process-wide on/off setting whose first value comes from an environment variable ("1":
 * on) the first time it is read or set; later sets win over it (env.c). */
typedef struct gids_env_switch {
    const char *env;
    int value; /* -1 until first read or set; accessed atomically */
} gids_env_switch;
#define GIDS_ENV_SWITCH(name)                                                                      \
    { (name), -1 }
bool gids_env_switch_get(gids_env_switch *s);
/* Returns the previous setting. */
bool gids_env_switch_set(gids_env_switch *s, bool on);

/* EDEVICE unless t is on the CPU; `op` and `arg` name the caller in the message. */
gids_status gids_check_cpu(const char *op, const char *arg, const gids_tensor *t);
/* EDTYPE unless t's dtype is one of the CPU dtypes (f16/bf16 are GPU only). */
gids_status gids_check_cpu_dtype(const char *op, const char *arg, const gids_tensor *t);
/* EDTYPE unless t is an i64 or i32 index tensor. */
gids_status gids_check_index_dtype(const char *op, const char *arg, const gids_tensor *t);

/* EINVAL when an in-place target has overlapping elements (stride 0 over a dim of size > 1,
 * as an expanded tensor): writes to it would race and lose updates. */
gids_status gids_check_writable(const char *op, const gids_tensor *t);
/* True unless dst and in are the same view or use different storage: conservative (two
 * disjoint narrows of one storage count as overlapping), so callers that write dst while
 * reading in go through a temporary whenever this is true. */
bool gids_may_overlap(const gids_tensor *dst, const gids_tensor *in);

/* EINVAL unless v is representable in the integer dtype dt ("full: value 300 does not fit in
 * u8 [0, 255]"); floats are checked after truncation toward zero.  Float and bool dtypes take
 * any value. */
gids_status gids_check_fits(const char *op, gids_dtype dt, gids_scalar v);

/* gids_normalize_dim for the position of a dim inserted into a tensor of ndim dims (unsqueeze,
 * stack): valid -(ndim + 1)..ndim, and the message names the tensor's own dim count. */
gids_status gids_normalize_new_dim(const char *op, int dim, int ndim, int *out);

/* Reads element i of a contiguous buffer of dtype dt as double / int64 (for slow paths). */
double gids_load_f64(const void *base, gids_dtype dt, int64_t i);
int64_t gids_load_i64(const void *base, gids_dtype dt, int64_t i);
/* Stores v into element i of a buffer of dtype dt (bool: v != 0). */
void gids_store_f64(void *base, gids_dtype dt, int64_t i, double v);
void gids_store_i64(void *base, gids_dtype dt, int64_t i, int64_t v);

/* A double as i64, saturating at both ends (2^63 and above give INT64_MAX: the largest double
 * below 2^63 is 1024 short of it), NaN as 0; a plain C cast of an out-of-range value is
 * undefined. */
static inline int64_t gids_sat_i64(double v) {
    return v != v                        ? 0
           : v >= 9223372036854775808.0  ? INT64_MAX
           : v <= -9223372036854775808.0 ? INT64_MIN
                                         : (int64_t)v;
}

/* Overflow-checked int64 multiply/add: false on overflow. */
static inline bool gids_mul_ok(int64_t a, int64_t b, int64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool gids_add_ok(int64_t a, int64_t b, int64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* gids_empty with `op` naming the caller in its messages. */
/* gids_tensor_from_storage with op naming the caller in its errors (as_strided). */
gids_status gids_from_storage_named(const char *op, gids_tensor **out, gids_storage *s,
                                    gids_dtype dt, int ndim, const int64_t *shape,
                                    const int64_t *stride, int64_t offset);
gids_status gids_empty_named(const char *op, gids_tensor **out, gids_dtype dt, gids_device dev,
                             int ndim, const int64_t *shape);

/* gids_zeros with `op` naming the caller in its messages. */
gids_status gids_zeros_named(const char *op, gids_tensor **out, gids_dtype dt, gids_device dev,
                             int ndim, const int64_t *shape);

/* True when t lives on the CPU (the plain ops hand everything else to a backend). */
static inline bool gids_is_cpu(const gids_tensor *t) {
    return t->storage->device.type == GIDS_CPU;
}
struct gids_backend;
/* The backend that serves the device of the n tensors (NULL entries skipped); EDEVICE when they
 * are on different devices or the device has no backend. */
gids_status gids_dispatch_backend(const char *op, int n, const gids_tensor *const *ts,
                                  const struct gids_backend **out);
/* EUNSUPPORTED: `op` has no kernel on the device of t. */
gids_status gids_no_kernel(const char *op, const gids_tensor *t);

/* Bounds of device index values carried through ops (ranges.c): every value of t lies in
 * [lo, hi]; out's values are some of the n inputs' values.  Both do nothing off a device, for
 * tensors other than contiguous i64 ones, and where an input's bounds are unknown. */
void gids_range_note(const gids_tensor *t, int64_t lo, int64_t hi);
void gids_range_follow(const gids_tensor *out, int n, const gids_tensor *const *ins);
/* out = a op b, or a op s when b is NULL (s op a when reversed): interval arithmetic for add,
 * sub, mul, and the range of a remainder by a positive divisor. */
void gids_range_binary(const gids_tensor *out, gids_binop op, const gids_tensor *a,
                       const gids_tensor *b, gids_scalar s, bool reversed);

/* Frees a tensor's autograd state (autograd/meta.c), on its last release. */
void gids_ag_meta_free(void *meta, gids_storage *s);

/* Live-tensor counter of a device (tensor.c). */
void gids_mem_count_tensor(gids_device dev, int delta);

/* Hot contiguous loops are compiled twice, for AVX2 and for baseline x86-64, and the loader picks
 * one on the machine it runs on (GCC function multiversioning through ifunc): the portable
 * build gets the wide vectors where they exist -- about 2x on a 16M-element sum. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(GIDS_NO_CLONES)
#define GIDS_HOT __attribute__((target_clones("avx2", "default")))
#else
#define GIDS_HOT
#endif

/* Loops that are mostly float arithmetic (the polynomial exp, sigmoid and tanh of
 * fastmath_impl.h: about 25 operations an element) are also cloned for x86-64-v3 (AVX2 with
 * FMA) and v4 (AVX-512), which the loader picks where the machine has them; so are the loops
 * that call cpu/sum_impl.h's AVX2+FMA sums, which only such a clone can inline (a call per
 * short row costs as much as its sum).  ISO C's default -ffp-contract=off keeps every clone's
 * results the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(GIDS_NO_CLONES)
#define GIDS_HOT_MATH                                                                              \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "avx2", "default")))
#else
#define GIDS_HOT_MATH GIDS_HOT
#endif

/* Number of OpenMP threads to use for a loop of n elements (1 below the grain). */
int gids_threads_for(int64_t n);

/* Around every BLAS call: held shared, so gids_set_num_threads never changes OpenBLAS's
 * thread count under a running GEMM (runtime.c). */
void gids_blas_enter(void);
void gids_blas_leave(void);

/* Around a parallel region whose threads call BLAS.  team.c runs a region on one thread while a
 * second would only be waited for; such a region's GEMMs then run with OpenBLAS set to one
 * thread (gids_blas_alone_begin), as they do inside a region of several threads: OpenBLAS's own
 * threads could round them differently. */
void gids_team_blas_begin(void);
void gids_team_blas_end(void);

/* This thread alone uses BLAS, with OpenBLAS on one thread, until gids_blas_alone_end (which
 * restores OpenBLAS's and this thread's OpenMP thread counts); gids_blas_enter/leave do nothing
 * in between on this thread. */
void gids_blas_alone_begin(void);
void gids_blas_alone_end(void);

#endif
