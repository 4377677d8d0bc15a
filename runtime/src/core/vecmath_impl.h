/* vecmath_impl.h -- internal: log, exp, sin and cos in branch-free double arithmetic, for loops
 * the compiler turns into vector code.  Two users: the normal draws' Box-Muller transform
 * (rng.c), and the f32 exp, log, log1p, log2, sin, cos, tan and pow kernels (cpu/unary.c,
 * cpu/binary.c), which compute in double and round once to f32.
 *
 * glibc's functions are scalar calls: a million f32 sines took 3.2 ms on two cores (PyTorch's
 * vectorised Sleef 0.53), log1pf 3.8 ms, and a million normals 12 ms.  These follow fdlibm's
 * algorithms (Sun Microsystems, 1993), which stay within 1 ulp of the correctly rounded double
 * result; the f32 kernels' results are then the correctly rounded f32 value in every case but
 * those within that ulp of an f32 rounding boundary: bench/ops/f32_math_accuracy.c counts them
 * over all 2^32 inputs (docs/architecture.md, "Math functions on the CPU", gives the counts).
 *
 * Every branch of the originals is a select here, and integer <-> double conversions use the
 * 2^52 trick, so that AVX2 (which has no int64 <-> double conversion) vectorises a whole loop.
 * Each function states the inputs it handles; the f32 wrappers at the end handle every input,
 * with the selects for zeros, infinities and NaN, except sin, cos and tan, whose reduction holds
 * below 1.6e6 (gids_vm_trig_ok), and pow, which leaves infinities, NaN and negative bases with
 * fraction exponents to libm (gids_vm_powf_ok): the kernels redo those lanes with libm's double
 * function.
 */
#ifndef GIDS_VECMATH_IMPL_H
#define GIDS_VECMATH_IMPL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

static inline double gids_vm_from_bits(uint64_t u) {
    union {
        uint64_t u;
        double d;
    } v = {u};
    return v.d;
}

static inline uint64_t gids_vm_bits(double d) {
    union {
        double d;
        uint64_t u;
    } v = {d};
    return v.u;
}

/* log(2^k (1 + f)) for 1 + f in [sqrt(2)/2, sqrt(2)): log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2))
 * with s = f / (2 + f) and R a degree-14 even polynomial (fdlibm's e_log.c coefficients), and
 * k ln 2 added in two parts.  mant, the high 20 bits of the mantissa before any halving, picks
 * fdlibm's form. */
static inline double gids_vm_log_parts_(double f, double dk, int64_t mant) {
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double L1 = 6.666666666666735130e-01, L2 = 3.999999999940941908e-01,
                 L3 = 2.857142874366239149e-01, L4 = 2.222219843214978396e-01,
                 L5 = 1.818357216161805012e-01, L6 = 1.531383769920937332e-01,
                 L7 = 1.479819860511658591e-01;
    double s = f / (2.0 + f), z = s * s, w = z * z;
    double R = z * (L1 + w * (L3 + w * (L5 + w * L7))) + w * (L2 + w * (L4 + w * L6));
    double hfsq = 0.5 * f * f;
    int64_t wide = (mant - 0x6147a) | (0x6b851 - mant);
    double a = dk * ln2_hi - ((hfsq - (s * (hfsq + R) + dk * ln2_lo)) - f);
    double b = dk * ln2_hi - ((s * (f - R) - dk * ln2_lo) - f);
    return wide > 0 ? a : b;
}

/* log x for a positive normal finite x: x = 2^k (1 + f) with 1 + f in [sqrt(2)/2, sqrt(2)). */
static inline double gids_vm_log(double x) {
    uint64_t bits = gids_vm_bits(x);
    /* (logical shifts only: x > 0, and AVX2 has no 64-bit arithmetic shift) */
    int64_t hi = (int64_t)(bits >> 32);
    int64_t mant = hi & 0x000fffff; /* the high 20 bits of the mantissa */
    /* a mantissa at or above sqrt(2) is halved (its exponent field 0x3fe instead of 0x3ff) */
    int64_t halve = (mant + 0x95f64) & 0x100000;
    int64_t k = (int64_t)((uint64_t)hi >> 20) - 1023 + (int64_t)((uint64_t)halve >> 20);
    double m =
        gids_vm_from_bits(((uint64_t)(mant | (halve ^ 0x3ff00000)) << 32) | (bits & 0xffffffffu));
    /* (double)k for |k| < 2^31 without a conversion instruction */
    double dk = gids_vm_from_bits(0x4330000000000000u + (uint64_t)(k + 2048)) - (0x1.0p52 + 2048.0);
    return gids_vm_log_parts_(m - 1.0, dk, mant);
}

static inline uint32_t gids_vm_bits_f32(float f) {
    union {
        float f;
        uint32_t u;
    } v = {f};
    return v.u;
}

static inline float gids_vm_from_bits_f32(uint32_t u) {
    union {
        uint32_t u;
        float f;
    } v = {u};
    return v.f;
}

/* Whether an f32 is positive, normal and finite: the inputs gids_vm_log_pos_f32 takes. */
static inline bool gids_vm_pos_normal_f32(float x) {
    return gids_vm_bits_f32(x) - 0x00800000u < 0x7f000000u;
}

/* gids_vm_log((double)x) for a positive normal finite f32 x, to the same bits, but split into
 * exponent and mantissa on the f32's bits, in 32-bit lanes (twice as many a vector as the
 * double's 64-bit ones), and without the selects for other inputs, which the callers leave to
 * the full functions (gids_vm_pos_normal_f32).  The split point is gids_vm_log's: a mantissa
 * whose high 20 bits reach 0x6a09c is halved, and 0x3f3504e0 is the f32 0.5 (1 + 0x6a09c 2^-20),
 * so x = 2^k z with z exactly gids_vm_log's m, and k its k; from there the arithmetic is the
 * same, operation for operation (spec/c/test_vecmath.c compares every positive normal f32).
 * On 1M f32 logs from C, one thread, AMD Zen 4: 1.7 -> 1.2 ms. */
static inline double gids_vm_log_pos_f32(float x) {
    uint32_t ix = gids_vm_bits_f32(x);
    /* k = floor(log2(x / 0x3f3504e0's value)), with the bias of 2^30 keeping the shifted value
     * unsigned (a logical shift, no implementation-defined one of a negative int) */
    int32_t k = (int32_t)((ix - 0x3f3504e0u + 0x40000000u) >> 23) - 128;
    double m = gids_vm_from_bits_f32(ix - ((uint32_t)k << 23));
    /* gids_vm_log's mant: the high 20 bits of x's mantissa, before halving */
    return gids_vm_log_parts_(m - 1.0, (double)k, (int64_t)((ix >> 3) & 0xfffff));
}

/* e^x for x in [-708, 709] (a NaN gives NaN): x = k ln 2 + r with |r| <= ln 2 / 2 (ln 2 in two
 * parts, the first with 32 bits so that k ln2_hi is exact), e^r from fdlibm's e_exp.c rational
 * form 1 + r + r c / (2 - c) with c a degree-10 even polynomial in r, then 2^k put into the
 * exponent bits.  fdlibm returns 1 + x below 2^-28; here that is left to the same formula,
 * which gives it too. */
static inline double gids_vm_exp(double x) {
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10,
                 inv_ln2 = 1.44269504088896338700e+00;
    const double P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03,
                 P3 = 6.61375632143793436117e-05, P4 = -1.65339022054652515390e-06,
                 P5 = 4.13813679705723846039e-08;
    /* k = round(x / ln 2): adding 1.5 * 2^52 leaves it in the low mantissa bits */
    double t = x * inv_ln2 + 0x1.8p52;
    double dk = t - 0x1.8p52;
    double hi = x - dk * ln2_hi, lo = dk * ln2_lo;
    double r = hi - lo, r2 = r * r;
    double c = r - r2 * (P1 + r2 * (P2 + r2 * (P3 + r2 * (P4 + r2 * P5))));
    double y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    /* 2^k: the low bits of t hold k, so t's bits less those of 1.5 * 2^52 are k, two's
     * complement, and k + 1023 in [1, 2046] is the exponent field of a normal double (unsigned
     * arithmetic: a NaN's garbage k is defined behaviour, and NaN * anything is NaN) */
    uint64_t e = gids_vm_bits(t) - 0x4338000000000000u + 1023u;
    return y * gids_vm_from_bits(e << 52);
}

/* x = n pi/2 + (y0 + y1) with |y0 + y1| <= pi/4 and n taken mod 4, for |x| < 1.6e6
 * (gids_vm_trig_ok): pi/2 in three parts, 119 bits, of which the first two have 33 bits so that
 * their products with n < 2^20 are exact, so that a y near 0 keeps its digits (fdlibm's
 * medium-size reduction, its second iteration always taken). */
typedef struct {
    double y0, y1;
    uint64_t n;
} gids_vm_quadrant;

static inline gids_vm_quadrant gids_vm_reduce_pio2(double x) {
    const double invpio2 = 6.36619772367581382433e-01, pio2_1 = 1.57079632673412561417e+00,
                 pio2_2 = 6.07710050630396597660e-11, pio2_2t = 2.02226624879595063154e-21;
    /* n = round(x / (pi/2)): adding 1.5 * 2^52 leaves it in the low mantissa bits (mod 4 is
     * right for a negative n too: the bits are those of 2^51 + n) */
    double t = x * invpio2 + 0x1.8p52;
    double fn = t - 0x1.8p52;
    double r0 = x - fn * pio2_1, w = fn * pio2_2;
    double r = r0 - w;
    w = fn * pio2_2t - ((r0 - r) - w);
    gids_vm_quadrant q;
    q.y0 = r - w;
    q.y1 = (r - q.y0) - w;
    q.n = gids_vm_bits(t) & 3;
    return q;
}

/* Whether gids_vm_reduce_pio2 holds for x: |x| < 1.6e6, so |n| < 2^20 (false for NaN). */
static inline bool gids_vm_trig_ok(double x) {
    return fabs(x) < 1.6e6;
}

/* sin(y0 + y1) for |y0 + y1| <= pi/4: fdlibm's k_sin.c, a degree-13 odd polynomial,
 * y0 - ((z (y1/2 - v p(z)) - y1) - v S1) with z = y0^2, v = y0^3.  -0 stays -0. */
static inline double gids_vm_ksin(double y0, double y1) {
    const double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
                 S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
                 S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
    double z = y0 * y0, v = z * y0, p = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
    return y0 - ((z * (0.5 * y1 - v * p) - y1) - v * S1);
}

/* cos(y0 + y1) for |y0 + y1| <= pi/4: fdlibm's k_cos.c, a degree-14 even polynomial,
 * (1 - q) - ((z/2 - q) - (z c(z) - y0 y1)), where q (0 below 0.3, |y0|/4 rounded down to 21
 * bits, 0.28125 above 0.78125) makes both subtractions exact. */
static inline double gids_vm_kcos(double y0, double y1) {
    const double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03,
                 C3 = 2.48015872894767294178e-05, C4 = -2.75573143513906633035e-07,
                 C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
    double z = y0 * y0;
    double c = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
    double ay = fabs(y0);
    double q = gids_vm_from_bits((gids_vm_bits(ay) - 0x0020000000000000u) & 0xffffffff00000000u);
    q = ay > 0.78125 ? 0.28125 : q;
    q = ay < 0.3 ? 0.0 : q;
    return (1.0 - q) - ((0.5 * z - q) - (z * c - y0 * y1));
}

/* sin and cos of |x| < 1.6e6 by quadrant: sin(y + n pi/2) is sin y, cos y, -sin y, -cos y;
 * cos(y + n pi/2) is cos y, -sin y, -cos y, sin y. */
static inline double gids_vm_sin(double x) {
    gids_vm_quadrant q = gids_vm_reduce_pio2(x);
    double ks = gids_vm_ksin(q.y0, q.y1), kc = gids_vm_kcos(q.y0, q.y1);
    double k = (q.n & 1) ? kc : ks;
    return q.n >= 2 ? -k : k;
}

static inline double gids_vm_cos(double x) {
    gids_vm_quadrant q = gids_vm_reduce_pio2(x);
    double ks = gids_vm_ksin(q.y0, q.y1), kc = gids_vm_kcos(q.y0, q.y1);
    double k = (q.n & 1) ? ks : kc;
    return (q.n == 1 || q.n == 2) ? -k : k;
}

/* tan(y + n pi/2) is tan y for even n, -cot y for odd n; the quotient of two results within
 * 1 ulp is within 3, far inside an f32 ulp. */
static inline double gids_vm_tan(double x) {
    gids_vm_quadrant q = gids_vm_reduce_pio2(x);
    double ks = gids_vm_ksin(q.y0, q.y1), kc = gids_vm_kcos(q.y0, q.y1);
    return (q.n & 1) ? -kc / ks : ks / kc;
}

/* ---- f32 functions, computed in double and rounded once ---- */

/* e^x: x clamped to [-104, 89] first, where the f32 result is already 0 (below e^-103.97, half
 * the smallest subnormal) or +inf (above ln FLT_MAX = 88.72); a subnormal result is rounded once,
 * from the double, which holds it as a normal number.  NaN passes both clamps. */
static inline float gids_vm_expf(float x) {
    double d = x;
    d = d < -104.0 ? -104.0 : d;
    d = d > 89.0 ? 89.0 : d;
    return (float)gids_vm_exp(d);
}

/* log of an f32 held in a double (f32 subnormals are normal doubles): -inf at +-0, NaN below
 * 0 and for NaN, +inf at +inf. */
static inline double gids_vm_log_of_f32_(double d) {
    double r = gids_vm_log((d > 0) & (d < INFINITY) ? d : 1.0);
    r = d == 0 ? -INFINITY : r;
    r = d == INFINITY ? d : r;
    return (d < 0) | (d != d) ? NAN : r;
}

static inline float gids_vm_logf(float x) {
    return (float)gids_vm_log_of_f32_(x);
}

/* log2 x = log x / ln 2: the product's error, a few ulp of a double, leaves f32 rounding as
 * it was, and a power of two gives its exponent exactly. */
#define GIDS_VM_INV_LN2 1.44269504088896340736
static inline float gids_vm_log2f(float x) {
    return (float)(gids_vm_log_of_f32_(x) * GIDS_VM_INV_LN2);
}

/* log(1 + x): 1 + x is exact in double for |x| >= 2^-29 (an f32 has 24 bits; the sum spans at
 * most 53) and rounds by 2^-53 relative beyond 2^29, where log is flat; below 2^-29, x - x^2/2
 * is within x^3/3, 2^-58 relative.  x = -1 gives -inf, x < -1 NaN, -0 stays -0. */
static inline float gids_vm_log1pf(float x) {
    double d = x, u = 1.0 + d;
    double r = gids_vm_log_of_f32_(u);
    return (float)(fabs(d) < 0x1.0p-29 ? d - 0.5 * d * d : r);
}

/* a^b in double, rounded once, for the lanes gids_vm_powf_ok accepts; the rest (an infinity or
 * a NaN on either side, a negative a with a fraction b) are for libm.
 * An integer b up to 255 in magnitude multiplies |a| out by squaring (|a|^-n as 1 / |a|^n):
 * wherever the exact result is an f32 tie (25 bits, as (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24, or
 * 2^-150, half the smallest subnormal), every product on the way has at most 25 bits too and is
 * exact, so the tie rounds to even as it should; otherwise 17 roundings at most leave it within
 * 2^-48.  (Beyond 255 only a power of two has an exact f32 result, and none of them is a tie.)  Any
 * other b takes e^(b log|a|): log|a| within an ulp, b log|a| within one more, and e^y turns that
 * absolute error of |y| 2^-52 (|y| < 104 where the result is neither 0 nor inf) into a relative one
 * under 2^-45; an exact tie there ((1 + 2^-8)^2 to the 1.5) may round either way.  The sign is
 * negative for a < 0 and an odd integer b; an f32 b of 2^24 or more is an even integer. */
static inline int gids_vm_powf_ok(float a, float b) {
    double da = a, db = b;
    /* (& and | rather than && and ||, whose short circuits GCC will not vectorise here) */
    int integer = (fabs(db) >= 0x1.0p24) | ((db + 0x1.8p52) - 0x1.8p52 == db);
    return (fabs(da) < INFINITY) & (fabs(db) < INFINITY) & ((da >= 0) | integer);
}

/* Whether b is an integer of at most 255 in magnitude: the multiplied-out path. */
static inline int gids_vm_pow_small(float b) {
    double ab = fabs((double)b);
    return (ab <= 255.0) & ((ab + 0x1.8p52) - 0x1.8p52 == ab);
}

/* |a|^b for a small integer b (gids_vm_pow_small), unsigned */
static inline double gids_vm_pow_mul_(double da, double db) {
    uint64_t n = gids_vm_bits(fabs(db) + 0x1.8p52); /* |b| in the low bits */
    double p = 1.0, sq = da;
    for (int k = 0; k < 8; k++) {
        p = (n >> k) & 1 ? p * sq : p;
        sq = sq * sq;
    }
    return db < 0 ? 1.0 / p : p;
}

/* |a|^b as e^y, y = b log|a| (the caller's log), unsigned; a power of two to a b that makes k b
 * an integer (2^-100 to the 1.5) is 2^(k b) exactly, since that family holds an exact f32 tie,
 * 2^-150, which must round to 0 and which e^(b log|a|) would leave to chance. */
static inline double gids_vm_pow_exp_y_(double da, double db, double y) {
    y = y < -104.0 ? -104.0 : y;
    y = y > 89.0 ? 89.0 : y;
    uint64_t bits = gids_vm_bits(da);
    /* k, the exponent of da (a normal double: f32 subnormals are normal here) */
    double k = gids_vm_from_bits(0x4330000000000000u | (bits >> 52)) - (0x1.0p52 + 1023.0);
    double kb = k * db; /* exact: |k| < 150 has 8 bits, db 24 */
    int two = ((bits << 12) == 0) & (fabs(kb) <= 1000.0) & ((kb + 0x1.8p52) - 0x1.8p52 == kb);
    kb = kb < -1022.0 ? -1022.0 : kb; /* 2^-1022 and 2^1000 are as good as 0 and inf in f32 */
    double p2 = gids_vm_from_bits((gids_vm_bits(kb + 0x1.8p52) + 1023u) << 52);
    return two ? p2 : gids_vm_exp(y);
}

static inline double gids_vm_pow_exp_(double da, double db) {
    return gids_vm_pow_exp_y_(da, db, db * gids_vm_log((da > 0) & (da < INFINITY) ? da : 1.0));
}

/* a^b from |a|^b: a zero a gives 0, inf or 1 (C's pow), and the sign is negative for a
 * negative a (-0 included) and an odd integer b. */
static inline float gids_vm_pow_sign_(float a, float b, double r) {
    double db = b, h = 0.5 * db;
    /* an integer b whose half is not one (comparisons only: GCC will not vectorise a bit of an
     * integer turned into a condition) */
    int odd = (fabs(db) < 0x1.0p24) & ((db + 0x1.8p52) - 0x1.8p52 == db) &
              ((h + 0x1.8p52) - 0x1.8p52 != h);
    int neg = (int64_t)gids_vm_bits((double)a) < 0;
    r = a == 0 ? (db > 0 ? 0.0 : db < 0 ? INFINITY : 1.0) : r;
    return (float)(neg & odd ? -r : r);
}

/* a^b by each path: multiplied out (every b in the block small), through exp (none), or
 * either per lane (both computed, as vector code computes both sides of a select). */
static inline float gids_vm_powf_mul(float a, float b) {
    return gids_vm_pow_sign_(a, b, gids_vm_pow_mul_(fabs((double)a), b));
}

static inline float gids_vm_powf_exp(float a, float b) {
    return gids_vm_pow_sign_(a, b, gids_vm_pow_exp_(fabs((double)a), b));
}

/* a^b for a positive normal finite a and a finite b that is not small (gids_vm_pow_small): the
 * lanes where gids_vm_powf_exp reduces to |a|^b, through gids_vm_log_pos_f32 (the same log to
 * the bit, so the same result); the callers leave the rest to gids_vm_powf_exp and libm. */
static inline float gids_vm_powf_pos(float a, float b) {
    double db = b;
    return (float)gids_vm_pow_exp_y_(a, db, db * gids_vm_log_pos_f32(a));
}

static inline float gids_vm_powf(float a, float b) {
    double m = gids_vm_pow_mul_(fabs((double)a), b), e = gids_vm_pow_exp_(fabs((double)a), b);
    return gids_vm_pow_sign_(a, b, gids_vm_pow_small(b) ? m : e);
}

#endif
