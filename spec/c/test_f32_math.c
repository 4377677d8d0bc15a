/* test_f32_math.c -- the CPU's own f32 math: the polynomial activations of fastmath_impl.h
 * (sigmoid, tanh, silu, softplus, expm1, elu, both GELUs) against libm at their edges, and the
 * correctly rounded exp, log, log1p, log2, sin, cos, tan and pow of vecmath_impl.h bit for bit
 * against libm's double functions, in place and strided; the f32 log's fast path and the log and
 * pow kernels that use it bit for bit against the functions with every input's selects. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/src/core/vecmath_impl.h"
#include "check.h"
#include "helpers.h"

/* f32 sigmoid, tanh, silu, softplus, expm1, elu, gelu_tanh and gelu take the polynomial exp,
 * log and erf (fastmath_impl.h) in vector loops: against libm in double over the clamps' edges, the
 * two tanh and expm1 branches, softplus's threshold, infinities and NaN, repeated so every element
 * goes through the vector body, not only the scalar tail.  Results under 1e-36 may be 0
 * (silu(-88.8) is -0, as PyTorch's vector silu; libm says -2.4e-37).  gelu_tanh is held to its
 * f32 formula with libm's tanhf (1 + tanh cancels for large negative x, in both); gelu's erf
 * is a rational approximation within about 3e-7 |x| of the exact value.  Signs are checked
 * too: -0 stays -0 (expm1, elu, tanh), GELU is never positive below 0 nor above x. */
TEST(f32_math_activations_match_libm_at_their_edges) {
    const float xs[] = {0.0f,    -0.0f,    0.3f,     -0.6249f,  0.6251f, -0.9f,  2.0f,
                        -9.5f,   -8.4285f, 19.99f,   20.0f,     20.01f,  -44.0f, 87.3f,
                        -87.4f,  88.0f,    88.5f,    88.72f,    88.8f,   -88.8f, 100.0f,
                        -100.0f, 1e30f,    -1e30f,   0.4999f,   0.5f,    -0.5f,  -0.5001f,
                        1e-20f,  -3e-8f,   INFINITY, -INFINITY, NAN};
    enum { K = sizeof xs / sizeof xs[0], N = 4 * K };
    float v[N];
    for (int i = 0; i < N; i++) v[i] = xs[i % K];
    gids_tensor *x = vec_f32(N, v), *o = NULL;
    const char *names[9] = {
        "sigmoid", "tanh",     "silu",      "softplus", "softplus(beta 2, threshold 30)",
        "expm1",   "elu(1.5)", "gelu_tanh", "gelu"};
    const gids_unop ops[9] = {GIDS_SIGMOID,  GIDS_TANH,      GIDS_SILU,
                              GIDS_SOFTPLUS, GIDS_SOFTPLUS,  GIDS_EXPM1,
                              GIDS_EXPM1,    GIDS_GELU_TANH, GIDS_GELU};
    for (int k = 0; k < 9; k++) {
        if (k == 4)
            CHECK_OK(gids_softplus(&o, x, 2, 30));
        else if (k == 6)
            CHECK_OK(gids_elu(&o, x, 1.5));
        else
            CHECK_OK(gids_unary(&o, ops[k], x));
        const float *y = gids_tensor_data(o);
        for (int i = 0; i < N; i++) {
            double a = v[i], w, tol = 0;
            float f = v[i];
            switch (k) {
            case 0: w = 1 / (1 + exp(-a)); break;
            case 1: w = tanh(a); break;
            case 2: w = a / (1 + exp(-a)); break;
            case 3: w = a > 20 ? a : a > 0 ? a + log1p(exp(-a)) : log1p(exp(a)); break;
            case 4:
                w = 2 * a > 30 ? a
                               : (2 * a > 0 ? 2 * a + log1p(exp(-2 * a)) : log1p(exp(2 * a))) / 2;
                break;
            case 5: w = expm1(a); break;
            case 6: w = a > 0 ? a : 1.5 * expm1(a); break;
            case 8:
                w = 0.5 * a * (1 + erf(a * 0.70710678118654752440));
                tol = 3e-7 * fabs(a) + 1e-36; /* 2.9e-7 |x| at most (a review's sweep) */
                break;
            default: /* 2 ulp of tanh's value, scaled by x / 2, and an ulp of the result */
                w = 0.5f * f * (1.0f + tanhf(0.79788456f * (f + 0.044715f * f * f * f)));
                tol = 1.2e-7 * fabs(a) + 1.2e-7 * fabs(w);
            }
            if (tol == 0) tol = 4e-7 * fabs(w) + 1e-36;
            bool ok = isnan(w)          ? isnan(y[i])
                      : isinf((float)w) ? y[i] == (float)w /* past f32's range: inf */
                                        : fabs(y[i] - w) <= tol;
            if (ok && w == 0 && !signbit(w) != !signbit(y[i])) ok = false; /* -0 against +0 */
            if (!ok)
                CHECK_FAIL_("%s(%g) = %.9g, libm %.9g", names[k], (double)v[i], (double)y[i], w);
        }
        gids_tensor_release(o);
    }
    gids_tensor_release(x);
    /* GELU's erf passed 1 near 4 before it was clamped: gelu(x) came out positive for x in
     * [-5.66, -5.12] and above x just past 5.12 */
    enum { M = 1 << 16 };
    static float gv[M];
    for (int i = 0; i < M; i++) gv[i] = (i % 2 ? 1.0f : -1.0f) * (5.0f + 0.75f * (float)i / M);
    gids_tensor *gx = vec_f32(M, gv);
    CHECK_OK(gids_unary(&o, GIDS_GELU, gx));
    const float *gy = gids_tensor_data(o);
    int64_t wrong = 0;
    for (int i = 0; i < M; i++) wrong += gv[i] < 0 ? gy[i] > 0 : gy[i] > gv[i];
    if (wrong) CHECK_FAIL_("gelu: %lld of %d values past 0 or x around +-5.4", (long long)wrong, M);
    gids_tensor_release(o), gids_tensor_release(gx);
}

/* f32 exp, log, log1p, log2, sin, cos, tan and pow compute in double (vecmath_impl.h) and round
 * once: each result is the libm double function's, rounded to f32 (the correctly rounded value
 * but for boundary cases; bench/ops/f32_math_accuracy.c finds none in 2^32 inputs but for pow).
 * Checked bit for bit, signs of zeros included, on every 4099th f32 bit pattern (a million
 * inputs, every exponent, both signs, subnormals, infinities and NaNs) and at the edges: the
 * clamps of exp, log's and log1p's domains, the trig kernels' 1.6e6 limit past which lanes go
 * to libm, in place (the libm pass must read the input the vector loop overwrote) and strided. */
typedef struct {
    gids_unop op;
    double (*ref)(double);
} f32_ref_case;

static const f32_ref_case f32_ref_cases[] = {
    {GIDS_EXP, exp}, {GIDS_LOG, log}, {GIDS_LOG1P, log1p}, {GIDS_LOG2, log2},
    {GIDS_SIN, sin}, {GIDS_COS, cos}, {GIDS_TAN, tan},
};

static bool same_f32_(float got, float want) {
    return isnan(want) ? isnan(got) : got == want && !signbit(got) == !signbit(want);
}

/* Checks y[i] against the reference of x[i] for n elements read through gids_tensor_get. */
static void check_f32_ref_(const char *what, const f32_ref_case *c, const gids_tensor *x,
                           const gids_tensor *y, int64_t n) {
    int64_t wrong = 0;
    for (int64_t i = 0; i < n; i++) {
        float xi = (float)at(x, i), want = (float)c->ref(xi), got = (float)at(y, i);
        if (same_f32_(got, want)) continue;
        if (wrong++ < 3)
            CHECK_FAIL_("%s %s(%a) = %a, libm %a", what, gids_unop_name(c->op), (double)xi,
                        (double)got, (double)want);
    }
    if (wrong > 3) CHECK_FAIL_("%s %s: %lld wrong", what, gids_unop_name(c->op), (long long)wrong);
}

TEST(f32_transcendentals_round_libm_double_results) {
    enum { STEP = 4099 };
    int64_t n = ((int64_t)1 << 32) / STEP + 1;
    gids_tensor *x = NULL, *y = NULL;
    CHECK_OK(gids_empty(&x, GIDS_F32, GIDS_DEVICE_CPU, 1, &n));
    uint32_t *bits = gids_tensor_data(x);
    for (int64_t i = 0; i < n; i++) bits[i] = (uint32_t)(i * STEP);
    const float edges[] = {0.0f,
                           -0.0f,
                           INFINITY,
                           -INFINITY,
                           NAN,
                           -NAN,
                           88.72283f,
                           88.722839f,
                           88.72284f,
                           -87.33655f,
                           -103.9720f,
                           -103.97208f,
                           -103.98f,
                           -104.5f,
                           1e-45f,
                           -1e-45f,
                           1.1754942e-38f,
                           -1.0f,
                           -0.99999994f,
                           -1.0000001f,
                           1e-30f,
                           -3e-10f,
                           2e-9f,
                           1.0f,
                           2.0f,
                           0.5f,
                           1024.0f,
                           0x1p-126f,
                           1.5999999e6f,
                           1.6e6f,
                           1.6000001e6f,
                           -1.6e6f,
                           1e7f,
                           3.4e38f,
                           -3.4e38f,
                           1.5707964f,
                           -1.5707964f,
                           3.1415927f,
                           0x1.921fb6p+20f,
                           7.0e-39f};
    enum { E = sizeof edges / sizeof edges[0] };
    memcpy(gids_tensor_data(x), edges, sizeof edges); /* the first E patterns make way */
    for (size_t k = 0; k < sizeof f32_ref_cases / sizeof f32_ref_cases[0]; k++) {
        const f32_ref_case *c = &f32_ref_cases[k];
        CHECK_OK(gids_unary(&y, c->op, x));
        /* direct reads: a million gids_tensor_get calls would dominate the test */
        const float *xv = gids_tensor_data(x), *yv = gids_tensor_data(y);
        int64_t wrong = 0;
        for (int64_t i = 0; i < n; i++) {
            float want = (float)c->ref(xv[i]);
            if (same_f32_(yv[i], want)) continue;
            if (wrong++ < 3)
                CHECK_FAIL_("%s(%a) = %a, libm %a", gids_unop_name(c->op), (double)xv[i],
                            (double)yv[i], (double)want);
        }
        if (wrong > 3) CHECK_FAIL_("%s: %lld wrong", gids_unop_name(c->op), (long long)wrong);
        gids_tensor_release(y);
    }
    gids_tensor_release(x);

    /* in place and strided, with lanes past 1.6e6 among the vector lanes: a [2, 300] tensor
     * and its transpose (stride 300 elements), each element also through unary_into on itself */
    int64_t shape[2] = {2, 300};
    float v[600];
    for (int i = 0; i < 600; i++)
        v[i] = i % 7 == 3 ? 2e6f * (float)(i + 1) : edges[i % E] - 0.37f * (float)i;
    v[5] = INFINITY, v[301] = NAN, v[599] = -1e9f;
    for (size_t k = 0; k < sizeof f32_ref_cases / sizeof f32_ref_cases[0]; k++) {
        const f32_ref_case *c = &f32_ref_cases[k];
        gids_tensor *a = from(GIDS_F32, 2, shape, v), *keep = from(GIDS_F32, 2, shape, v);
        gids_tensor *t = NULL, *tk = NULL;
        CHECK_OK(gids_transpose(&t, a, 0, 1));
        CHECK_OK(gids_transpose(&tk, keep, 0, 1));
        CHECK_OK(gids_unary(&y, c->op, t));
        check_f32_ref_("strided", c, tk, y, 600);
        gids_tensor_release(y);
        CHECK_OK(gids_unary_into(a, c->op, a));
        check_f32_ref_("in place", c, keep, a, 600);
        gids_tensor_release(t), gids_tensor_release(tk), gids_tensor_release(a);
        gids_tensor_release(keep);
    }
}

/* f32 pow: e^(b log|a|) in double for finite a (negative with an integer b), exact squaring for
 * integer b up to 255, libm's double pow for the other lanes.  C's special cases (pow(x, 0) = 1
 * even for NaN, pow(1, y) = 1, signed zeros and infinities) hold on every path, and the exact
 * f32 ties round to even (2^-150 to 0, also from a power of two to a fraction).  Sampled pairs
 * match the rounded double pow but for boundary cases, so at most 1 ulp, rarely, same sign. */
static bool within_ulp_(float got, float want) {
    return isfinite(want) && isfinite(got) && !signbit(got) == !signbit(want) &&
           (got == want || nextafterf(want, INFINITY) == got || nextafterf(want, -INFINITY) == got);
}

TEST(f32_pow_rounds_libm_double_pow) {
    const float sp[][3] = {
        {0, 0, 1},
        {0, -1, INFINITY},
        {-0.0f, -1, -INFINITY},
        {-0.0f, 3, -0.0f},
        {-0.0f, 2, 0},
        {0, 2.5f, 0},
        {-2, 3, -8},
        {-2, 2, 4},
        {-2, 0.5f, NAN},
        {NAN, 0, 1},
        {1, NAN, 1},
        {INFINITY, -1, 0},
        {-INFINITY, 3, -INFINITY},
        {-8, 1.0f / 3, NAN},
        {2, 128, INFINITY},
        {2, -150, 0},
        {2, -149, 1e-45f},
        {-1, INFINITY, 1},
        {0.5f, INFINITY, 0},
        {2, -INFINITY, 0},
        {-1, 16777218.0f, 1},
        {-2, -1, -0.5f},
        {-1.5f, 3, -3.375f},
        {10, -2, 0.01f},
        {4, 0.5f, 2},
        {-0.5f, 33554432.0f, 0},
        {1, -1e30f, 1},
        {NAN, 1, NAN},
        {-0.0f, 2.5f, 0},
        {-0.0f, -2.5f, INFINITY},
        {-0.0f, 0.5f, 0},
        {-0.0f, -4, INFINITY},
        {0x1p-100f, 1.5f, 0},
        {0x1p100f, -1.5f, 0},
        {0x1p-60f, 2.5f, 0},
        {0x1p-96f, 1.5625f, 0},
        {0x1p-98f, 1.5f, 0x1p-147f},
        {0x1p-120f, 1.25f, 0},
        {0x1p-2f, 0.5f, 0.5f},
    };
    enum { S = sizeof sp / sizeof sp[0], N = 1 << 16 };
    static float a[N + S], b[N + S];
    for (int i = 0; i < S; i++) a[i] = sp[i][0], b[i] = sp[i][1];
    uint64_t r = 0x243f6a8885a308d3u;
    for (int i = S; i < N + S; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        uint32_t ab = (uint32_t)(r >> 32);
        memcpy(&a[i], &ab, sizeof ab);
        b[i] = i % 3 ? ((float)((uint32_t)r >> 8) / 16777216.0f - 0.5f) * 60.0f
                     : (float)((int)((uint32_t)r % 61) - 30);
    }
    gids_tensor *ta = vec_f32(N + S, a), *tb = vec_f32(N + S, b), *y = NULL;
    CHECK_OK(gids_binary(&y, GIDS_POW, ta, tb));
    const float *yv = gids_tensor_data(y);
    for (int i = 0; i < S; i++)
        if (!same_f32_(yv[i], sp[i][2]))
            CHECK_FAIL_("pow(%g, %g) = %g, want %g", (double)a[i], (double)b[i], (double)yv[i],
                        (double)sp[i][2]);
    int off = 0;
    for (int i = S; i < N + S; i++) {
        float want = (float)pow(a[i], b[i]);
        if (same_f32_(yv[i], want)) continue;
        if (!within_ulp_(yv[i], want) || ++off > 2)
            CHECK_FAIL_("pow(%a, %a) = %a, libm %a", (double)a[i], (double)b[i], (double)yv[i],
                        (double)want);
    }
    /* in place (the libm pass reads the base the vector loop overwrote): the same values */
    CHECK_OK(gids_binary_into(ta, GIDS_POW, ta, tb));
    const float *iv = gids_tensor_data(ta);
    for (int i = 0; i < N + S; i++)
        if (!same_f32_(iv[i], yv[i]))
            CHECK_FAIL_("pow_ in place (%a, %a) = %a, out of place %a", (double)a[i], (double)b[i],
                        (double)iv[i], (double)yv[i]);
    gids_tensor_release(y);
    /* a scalar exponent (2 and 3 have their own loops) and a scalar base: stride-0 operands;
     * the bases include signed zeros, infinities and NaNs */
    gids_tensor *base = vec_f32(N + S, a);
    const double scalars[3] = {2.5, 2, 3};
    for (int k = 0; k < 3; k++) {
        CHECK_OK(gids_binary_scalar(&y, GIDS_POW, base, gids_scalar_f(scalars[k]), false));
        for (int i = 0; i < N + S; i++) {
            float want = (float)pow(a[i], scalars[k]), got = (float)at(y, i);
            if (!same_f32_(got, want) && !within_ulp_(got, want))
                CHECK_FAIL_("pow(%a, %g) = %a, libm %a", (double)a[i], scalars[k], (double)got,
                            (double)want);
        }
        gids_tensor_release(y);
    }
    CHECK_OK(gids_binary_scalar(&y, GIDS_POW, tb, gids_scalar_f(-3), true));
    for (int i = 0; i < N + S; i += 7) {
        float want = (float)pow(-3.0, b[i]), got = (float)at(y, i);
        if (!same_f32_(got, want) && !within_ulp_(got, want))
            CHECK_FAIL_("pow(-3, %a) = %a, libm %a", (double)b[i], (double)got, (double)want);
    }
    gids_tensor_release(y), gids_tensor_release(base);
    gids_tensor_release(ta), gids_tensor_release(tb);
}

/* gids_vm_log_pos_f32 splits a positive normal f32 on its own bits; it must give gids_vm_log's
 * double to the bit: on every 127th pattern (16.9M inputs) and, in every binade, around its
 * split point (the mantissa 0x3504e0), fdlibm's two forms' boundaries (the high 20 bits 0x6147a
 * and 0x6b851) and the binade's ends.  (A split at sqrt(2)/2 rounded to f32, 0x3504f3, gives
 * other low bits for 4 of the mantissas in between.) */
TEST(f32_log_fast_path_is_the_full_log_bit_for_bit) {
    int64_t wrong = 0;
    const uint32_t marks[] = {0x3504e0u, 0x6147au << 3, 0x6b851u << 3, 0x000000u, 0x7fffc0u};
    enum { M = sizeof marks / sizeof marks[0], W = 128 };
    const int64_t sampled = (int64_t)0x7f000000 / 127 + 1;
    for (int64_t i = 0; i < sampled + 254 * M * W; i++) {
        int64_t j = i - sampled;
        uint32_t u = i < sampled ? 0x00800000u + (uint32_t)(i * 127)
                                 : ((uint32_t)(j / (M * W) + 1) << 23) +
                                       ((marks[j / W % M] + (uint32_t)(j % W) - W / 2) & 0x7fffffu);
        float x;
        memcpy(&x, &u, sizeof x);
        if (!gids_vm_pos_normal_f32(x)) continue;
        double want = gids_vm_log((double)x), got = gids_vm_log_pos_f32(x);
        if (memcmp(&want, &got, sizeof want) == 0) continue;
        if (wrong++ < 3) CHECK_FAIL_("log(%a): fast %a, full %a", (double)x, got, want);
    }
    if (wrong > 3) CHECK_FAIL_("%lld inputs differ", (long long)wrong);
    CHECK(!gids_vm_pos_normal_f32(0.0f) && !gids_vm_pos_normal_f32(-0.0f));
    CHECK(!gids_vm_pos_normal_f32(0x1p-127f) && !gids_vm_pos_normal_f32(-1.0f));
    CHECK(!gids_vm_pos_normal_f32(INFINITY) && !gids_vm_pos_normal_f32(NAN));
    CHECK(gids_vm_pos_normal_f32(0x1p-126f) && gids_vm_pos_normal_f32(FLT_MAX));
}

/* The f32 log, log2 and pow kernels take every lane of a 256-lane block through the fast path
 * and make the others again (zeros, negatives, subnormals, infinities, NaN, and for pow the
 * lanes libm takes): one by one when a block has at most 16, else the whole block.  Blocks of
 * 1000 positive values with 1, 16 and 17 such lanes (at a block's first and last lane too),
 * and a short last block with 2: every element as the all-lane functions give it (pow: as the
 * kernel gave it before, gids_vm_powf or libm where gids_vm_powf_ok says so), contiguous,
 * strided and in place. */
static float pow_before_(float a, float b) {
    return gids_vm_powf_ok(a, b) ? gids_vm_powf(a, b) : (float)pow((double)a, (double)b);
}

TEST(f32_log_and_pow_blocks_redo_their_other_lanes) {
    enum { N = 1000 };
    const float odd[] = {0.0f, -0.0f, -1.0f, INFINITY, -INFINITY, NAN, 1e-40f, -3e-39f, -2.5f};
    enum { K = sizeof odd / sizeof odd[0] };
    float v[N], e[N];
    uint64_t r = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < N; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        v[i] = 0.01f + (float)(r >> 40) / 65536.0f;          /* (0.01, 256) */
        e[i] = (float)((r >> 8) & 0xffff) / 4096.0f - 8.25f; /* never a small integer */
    }
    /* block 0: one other lane (its first); block 1: 16, its last among them; block 2: 17;
     * the last block (232 lanes): 2 */
    v[0] = odd[0];
    for (int j = 0; j < 16; j++) v[511 - 15 * j] = odd[j % K];
    for (int j = 0; j < 17; j++) v[512 + 15 * j] = odd[(j + 3) % K];
    v[800] = NAN, v[999] = -INFINITY;
    v[300] = FLT_MIN, v[301] = FLT_MAX; /* normal: the fast path's ends */
    int64_t shape[2] = {N / 8, 8};
    for (int op = 0; op < 5; op++) {
        /* log, log2, pow with a scalar exponent of 2.5 and of -1.25 (-0.5 is rsqrt), pow with a
         * tensor one */
        gids_tensor *x = from(GIDS_F32, 2, shape, v), *ex = from(GIDS_F32, 2, shape, e), *xt = NULL,
                    *y = NULL;
        const char *what[5] = {"log", "log2", "pow 2.5", "pow -1.25", "pow(x, e)"};
        CHECK_OK(gids_transpose(&xt, x, 0, 1));
        for (int layout = 0; layout < 3; layout++) {
            gids_tensor *in = layout == 1 ? xt : x, **out = layout == 2 ? &x : &y;
            gids_tensor *ein = ex;
            if (layout == 1) CHECK_OK(gids_transpose(&ein, ex, 0, 1));
            if (layout == 2) {
                gids_status st =
                    op == 0   ? gids_unary_into(x, GIDS_LOG, x)
                    : op == 1 ? gids_unary_into(x, GIDS_LOG2, x)
                    : op == 4 ? gids_binary_into(x, GIDS_POW, x, ex)
                              : gids_binary_scalar_into(
                                    x, GIDS_POW, x, gids_scalar_f(op == 2 ? 2.5 : -1.25), false);
                CHECK_OK(st);
            } else {
                gids_status st =
                    op == 0   ? gids_unary(out, GIDS_LOG, in)
                    : op == 1 ? gids_unary(out, GIDS_LOG2, in)
                    : op == 4 ? gids_binary(out, GIDS_POW, in, ein)
                              : gids_binary_scalar(out, GIDS_POW, in,
                                                   gids_scalar_f(op == 2 ? 2.5 : -1.25), false);
                CHECK_OK(st);
            }
            int64_t wrong = 0;
            for (int i = 0; i < N; i++) {
                /* element i of the input sits at (i / 8, i % 8); the transposed result at
                 * (i % 8, i / 8) */
                float a = v[i];
                float want = op == 0   ? gids_vm_logf(a)
                             : op == 1 ? gids_vm_log2f(a)
                             : op == 4 ? pow_before_(a, e[i])
                                       : pow_before_(a, op == 2 ? 2.5f : -1.25f);
                int64_t at_i = layout == 1 ? (i % 8) * (N / 8) + i / 8 : i;
                float got = (float)at(*out, at_i);
                if (same_f32_(got, want)) continue;
                if (wrong++ < 3)
                    CHECK_FAIL_("%s (layout %d) at %d: f(%a) = %a, want %a", what[op], layout, i,
                                (double)a, (double)got, (double)want);
            }
            if (layout == 1) gids_tensor_release(ein);
            if (layout != 2) gids_tensor_release(y), y = NULL;
        }
        gids_tensor_release(x), gids_tensor_release(xt), gids_tensor_release(ex);
    }
}

/* A threshold the input does not reach leaves softplus to compute log(1 + e^x) where e^x
 * overflows: the stable form gives x (torch's log1p(exp(x)) gives inf), in both float dtypes. */
TEST(softplus_beyond_exp_range_stays_finite) {
    double dv[3] = {800, -800, NAN};
    float fv[3] = {95, -95, NAN};
    int64_t s3 = 3;
    gids_tensor *d = from(GIDS_F64, 1, &s3, dv), *f = vec_f32(3, fv), *o = NULL;
    CHECK_OK(gids_softplus(&o, d, 1, 1e4));
    CHECK(at(o, 0) == 800 && at(o, 1) == 0 && isnan(at(o, 2)));
    gids_tensor_release(o);
    CHECK_OK(gids_softplus(&o, f, 1, 1e4));
    CHECK(at(o, 0) == 95 && at(o, 1) == 0 && isnan(at(o, 2)));
    gids_tensor_release(o);
    gids_tensor_release(d), gids_tensor_release(f);
}

int main(void) {
    RUN(f32_math_activations_match_libm_at_their_edges);
    RUN(f32_transcendentals_round_libm_double_results);
    RUN(f32_pow_rounds_libm_double_pow);
    RUN(f32_log_fast_path_is_the_full_log_bit_for_bit);
    RUN(f32_log_and_pow_blocks_redo_their_other_lanes);
    RUN(softplus_beyond_exp_range_stays_finite);
    return check_summary("f32_math");
}
