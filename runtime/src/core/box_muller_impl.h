/* box_muller_impl.h -- internal: the log and cos of the normal draws' Box-Muller transform
 * (rng.c) in branch-free double arithmetic, so that a group of draws becomes vector code.
 *
 * A normal is sqrt(-2 log u1) cos(2 pi u2) in double, rounded to the tensor's dtype.  With
 * glibc's scalar log and cos a million f32 normals took 12 ms on two cores (PyTorch's 2.5).
 * These follow fdlibm's algorithms (Sun Microsystems, 1993), which stay within 1 ulp of the
 * correctly rounded result; measured against glibc (ours, then a review's 3e8 inputs each): at
 * most 1 ulp.  A double normal so made differs from the libm form's by a few ulp of std sqrt(...)
 * at most; rounded to f32 that changes a value only when it lies that close to an f32 rounding
 * boundary, about one draw in 10^10, and rng.c makes such draws again with glibc's functions,
 * so f32 normals are the libm form's exactly.  f64 normals differ from it in the last bits in
 * about 6% of draws.
 *
 * Every branch of the originals is a select here, and the integer <-> double conversions are
 * made with the 2^52 trick, so that AVX2 (which has no int64 -> double conversion) vectorises
 * the whole loop.  Only the ranges a draw produces are handled: log of [2^-53, 1], cos of
 * [0, 2 pi).
 */
#ifndef GIDS_BOX_MULLER_IMPL_H
#define GIDS_BOX_MULLER_IMPL_H

#include <math.h>
#include <stdint.h>

static inline double bm_from_bits_(uint64_t u) {
    union {
        uint64_t u;
        double d;
    } v = {u};
    return v.d;
}

static inline uint64_t bm_bits_(double d) {
    union {
        double d;
        uint64_t u;
    } v = {d};
    return v.u;
}

/* log x for a normal x in (0, 1]: x = 2^k (1 + f) with 1 + f in [sqrt(2)/2, sqrt(2)), then
 * log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)) with s = f / (2 + f) and R a degree-14 even
 * polynomial (fdlibm's e_log.c coefficients), and k ln 2 added in two parts. */
static inline double gids_bm_log(double x) {
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double L1 = 6.666666666666735130e-01, L2 = 3.999999999940941908e-01,
                 L3 = 2.857142874366239149e-01, L4 = 2.222219843214978396e-01,
                 L5 = 1.818357216161805012e-01, L6 = 1.531383769920937332e-01,
                 L7 = 1.479819860511658591e-01;
    uint64_t bits = bm_bits_(x);
    /* (logical shifts only: x > 0, and AVX2 has no 64-bit arithmetic shift) */
    int64_t hi = (int64_t)(bits >> 32);
    int64_t mant = hi & 0x000fffff; /* the high 20 bits of the mantissa */
    /* a mantissa at or above sqrt(2) is halved (its exponent field 0x3fe instead of 0x3ff) */
    int64_t halve = (mant + 0x95f64) & 0x100000;
    int64_t k = (int64_t)((uint64_t)hi >> 20) - 1023 + (int64_t)((uint64_t)halve >> 20);
    double m =
        bm_from_bits_(((uint64_t)(mant | (halve ^ 0x3ff00000)) << 32) | (bits & 0xffffffffu));
    double f = m - 1.0;
    /* (double)k for |k| < 2^31 without a conversion instruction */
    double dk = bm_from_bits_(0x4330000000000000u + (uint64_t)(k + 2048)) - (0x1.0p52 + 2048.0);
    double s = f / (2.0 + f), z = s * s, w = z * z;
    double R = z * (L1 + w * (L3 + w * (L5 + w * L7))) + w * (L2 + w * (L4 + w * L6));
    double hfsq = 0.5 * f * f;
    /* fdlibm's choice between the two forms, by where the mantissa lies */
    int64_t wide = (mant - 0x6147a) | (0x6b851 - mant);
    double a = dk * ln2_hi - ((hfsq - (s * (hfsq + R) + dk * ln2_lo)) - f);
    double b = dk * ln2_hi - ((s * (f - R) - dk * ln2_lo) - f);
    return wide > 0 ? a : b;
}

/* cos x for x in [0, 2 pi): x = n pi/2 + y with y in [-pi/4, pi/4] (pi/2 in three parts, 119
 * bits, so a y near 0 keeps its digits), then fdlibm's cos or sin kernel of y (degree-12 and
 * degree-13 polynomials, k_cos.c and k_sin.c), signed by the quadrant n. */
static inline double gids_bm_cos(double x) {
    const double invpio2 = 6.36619772367581382433e-01, pio2_1 = 1.57079632673412561417e+00,
                 pio2_2 = 6.07710050630396597660e-11, pio2_2t = 2.02226624879595063154e-21;
    const double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
                 S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
                 S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
    const double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03,
                 C3 = 2.48015872894767294178e-05, C4 = -2.75573143513906633035e-07,
                 C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
    /* n = round(x / (pi/2)): adding 1.5 * 2^52 leaves it in the low mantissa bits */
    double t = x * invpio2 + 0x1.8p52;
    uint64_t n = bm_bits_(t) & 3;
    double fn = t - 0x1.8p52;
    /* y = x - fn pi/2 as y0 + y1; fn * pio2_1 and fn * pio2_2 are exact (33-bit parts) */
    double r0 = x - fn * pio2_1, w = fn * pio2_2;
    double r = r0 - w;
    w = fn * pio2_2t - ((r0 - r) - w);
    double y0 = r - w, y1 = (r - y0) - w;
    double z = y0 * y0;
    /* cos(y0 + y1) = (1 - q) - ((z/2 - q) - (z c(z) - y0 y1)), where q (0 below 0.3, |y0|/4
     * rounded down to 21 bits, 0.28125 above 0.78125) makes both subtractions exact */
    double c = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
    double ay = fabs(y0);
    double q = bm_from_bits_((bm_bits_(ay) - 0x0020000000000000u) & 0xffffffff00000000u);
    q = ay > 0.78125 ? 0.28125 : q;
    q = ay < 0.3 ? 0.0 : q;
    double kc = (1.0 - q) - ((0.5 * z - q) - (z * c - y0 * y1));
    /* sin(y0 + y1) = y0 - ((z (y1/2 - v p(z)) - y1) - v S1), v = y0^3 */
    double v = z * y0, p = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
    double ks = y0 - ((z * (0.5 * y1 - v * p) - y1) - v * S1);
    /* cos(y + n pi/2): cos y, -sin y, -cos y, sin y */
    double k = (n & 1) ? ks : kc;
    return (n == 1 || n == 2) ? -k : k;
}

#endif
