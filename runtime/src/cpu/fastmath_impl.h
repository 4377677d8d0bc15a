/* fastmath_impl.h -- internal: f32 exp (clamped), sigmoid, tanh, softplus, expm1 and erf in
 * plain float arithmetic, so the loops around them vectorise (glibc's expf and tanhf are scalar
 * calls: tanhf alone cost 16 ns an element, 45 multiplies' worth).  Each says its accuracy;
 * docs/architecture.md, "Math functions on the CPU", says where they are used.
 *
 * The exponential is Cephes' expf: reduction by ln 2 split in two constants, a degree-6
 * polynomial, the power of two put straight into the exponent bits (about 1 ulp).  Its input
 * is clamped to [-87.3, 88.7]: a normal float up to 88.37, +inf (2^128) above, which is fine for
 * sigmoid and tanh, whose results out there are already 0, 1 or -1 to float precision, so it
 * is not offered as exp.
 * tanh: Cephes' odd polynomial below |x| 0.625, 1 - 2 / (e^2|x| + 1) above, where no
 * cancellation is left to lose digits.  Both stay within 2e-7 relative of libm and pass NaN
 * through.  Only selects, no branches (with -fno-trapping-math), so the compiler turns each
 * into straight vector code.
 */
#ifndef GIDS_FASTMATH_IMPL_H
#define GIDS_FASTMATH_IMPL_H

#include <stdint.h>

/* e^x for x in [-87.3, 88.7] (+inf from 88.37 up).  A NaN gives NaN (the
 * polynomial keeps it, and the power of two is made in unsigned arithmetic, so the garbage
 * exponent a NaN yields is defined behaviour); an x outside the range must be clamped first. */
static inline float gids_expf_in_range_(float x) {
    /* n = round(x / ln 2) without a float-to-int conversion (which also keeps loops scalar):
     * adding 1.5 * 2^23 rounds to an integer held in the low mantissa bits. */
    union {
        float f;
        uint32_t u;
    } t = {.f = x * 1.44269504088896341f + 12582912.0f};
    uint32_t n = t.u - 0x4B400000u; /* the bits of 12582912.0f */
    float nf = t.f - 12582912.0f;
    float r = x - nf * 0.693359375f;
    r = r - nf * -2.12194440e-4f;
    float y = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r +
                4.1665795894e-2f) *
                   r +
               1.6666665459e-1f) *
                  r +
              5.0000001201e-1f;
    y = y * (r * r) + r + 1.0f;
    /* n + 127 is in [1, 255]: a normal power of two, or +inf (255) at the very top. */
    union {
        uint32_t u;
        float f;
    } p2 = {.u = (n + 127u) << 23};
    return y * p2.f;
}

static inline float gids_clamped_expf_(float x) {
    /* Selects rather than fminf/fmaxf, whose NaN rules keep the loop scalar; a NaN fails both
     * comparisons and comes out NaN. */
    float xc = x < -87.33654f ? -87.33654f : x;
    xc = xc > 88.72283f ? 88.72283f : xc;
    return gids_expf_in_range_(xc);
}

static inline float gids_fast_sigmoidf(float x) {
    float r = 1.0f / (1.0f + gids_clamped_expf_(-x));
    return x == x ? r : x;
}

static inline float gids_fast_tanhf(float x) {
    float a = __builtin_fabsf(x), z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                    1.33314422036e-1f) *
                       z -
                   3.33332819422e-1f) *
                      z * x +
                  x;
    small = __builtin_copysignf(small, x); /* -0 stays -0 (-0 + +0 is +0); no other bit moves */
    float big = __builtin_copysignf(1.0f - 2.0f / (gids_clamped_expf_(2.0f * a) + 1.0f), x);
    float r = a < 0.625f ? small : big;
    return x == x ? r : x;
}

/* log u for u in [1, 2]: Cephes' logf (the mantissa taken into [sqrt(1/2), sqrt(2)), where
 * x = m - 1 is exact, and a degree-9 polynomial; about 1 ulp), without the general log's range
 * reduction. */
static inline float gids_log_1_2_(float u) {
    float half = u > 1.41421356f ? 1.0f : 0.0f;
    float x = (half != 0.0f ? u * 0.5f : u) - 1.0f;
    float z = x * x;
    float y = ((((((((7.0376836292e-2f * x - 1.1514610310e-1f) * x + 1.1676998740e-1f) * x -
                    1.2420140846e-1f) *
                       x +
                   1.4249322787e-1f) *
                      x -
                  1.6668057665e-1f) *
                     x +
                 2.0000714765e-1f) *
                    x -
                2.4999993993e-1f) *
                   x +
               3.3333331174e-1f) *
              x * z;
    y = y + half * -2.12194440e-4f - 0.5f * z;
    return x + y + half * 0.693359375f;
}

/* log(1 + e^v), the f32 softplus, as max(v, 0) + log1p(e^-|v|), which neither overflows nor
 * loses the small terms.  log1p(t) for t in [0, 1] is log(1 + t) * t / ((1 + t) - 1), which
 * cancels the rounding of 1 + t (Goldberg's formula); a t under half an ulp of 1 is its own
 * log1p.  About 2 ulp against libm; glibc's scalar log1pf and expf had made softplus 33x slower
 * than sigmoid.  Below -87.3 the result (e^v, subnormal) is 0; NaN stays NaN. */
static inline float gids_fast_softplusf(float v) {
    float a = __builtin_fabsf(v);
    float t = gids_expf_in_range_(-a < -87.33654f ? -87.33654f : -a);
    t = -a < -87.33654f ? 0.0f : t;
    float u = 1.0f + t;
    float l = gids_log_1_2_(u) * (t / (u - 1.0f));
    l = u == 1.0f ? t : l;
    return (v > 0.0f ? v : 0.0f) + l;
}

/* e^x - 1: below 0.5 in magnitude the Taylor series to x^8 (its first neglected term is under
 * 1.4e-8 of the result), where e^x - 1 would cancel; beyond, the polynomial exp less 1, which
 * does not cancel there.  Above 88, where the exp core would overflow early (its 2^128),
 * e^(x - 88) e^88 (x - 88 is exact there).  About 2 ulp against libm; +inf from 88.73, -1
 * below -87.3, NaN stays NaN.  glibc's scalar expm1f had made ELU 10x slower than PyTorch's. */
static inline float gids_fast_expm1f(float x) {
    float p =
        ((((((2.4801587e-5f * x + 1.9841270e-4f) * x + 1.3888889e-3f) * x + 8.3333333e-3f) * x +
           4.1666667e-2f) *
              x +
          1.6666667e-1f) *
             x +
         0.5f);
    float small = __builtin_copysignf(x + x * x * p, x); /* expm1(-0) is -0 */
    float top = x > 88.0f ? 1.6516363e38f : 1.0f;        /* e^88, rounded */
    float big = gids_clamped_expf_(x > 88.0f ? x - 88.0f : x) * top - 1.0f;
    return __builtin_fabsf(x) < 0.5f ? small : big;
}

/* erf x as an odd rational function of x on [-4, 4] (the f32 approximation of Eigen, also in
 * XLA and TVM: a degree-13 numerator over a degree-8 denominator in x), +-1 beyond, within
 * 4.7e-7 of libm (at 3.27; a review's sweep of every float), and clamped to [-1, 1], which the
 * rational function passes by up to 3.6e-7 near 4 (GELU then changed sign below -5.1 and
 * exceeded x above 5.1); it serves the exact GELU, where glibc's scalar erff made it 30x slower
 * than PyTorch's.  NaN stays NaN (the selects of the clamp keep it). */
static inline float gids_fast_erff(float x) {
    float c = x < -4.0f ? -4.0f : x;
    c = c > 4.0f ? 4.0f : c;
    float z = c * c;
    float p =
        ((((((-2.72614225801306e-10f * z + 2.77068142495902e-08f) * z - 2.10102402082508e-06f) * z -
            5.69250639462346e-05f) *
               z -
           7.34990630326855e-04f) *
              z -
          2.95459980854025e-03f) *
             z -
         1.60960333262415e-02f);
    float q =
        ((((-1.45660718464996e-05f * z - 2.13374055278905e-04f) * z - 1.68282697438203e-03f) * z -
          7.37332916720468e-03f) *
             z -
         1.42647390514189e-02f);
    float r = c * p / q;
    r = r > 1.0f ? 1.0f : r;
    return r < -1.0f ? -1.0f : r;
}

#endif
