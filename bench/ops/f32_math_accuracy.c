/* f32_math_accuracy.c -- the f32 exp, log, log1p, log2, sin, cos, tan and pow kernels against
 * the correctly rounded result, over every f32 input (pow: sampled pairs).
 *
 * The reference is glibc's double function of the input, rounded to f32: within an ulp of a
 * double, so it is the correctly rounded f32 value except where the exact result lies within
 * 2^-52 relative of an f32 rounding boundary (a few inputs in 2^32, if any).  For each function
 * the tool counts the inputs where graphids' kernel (gids_unary / gids_binary, the code the Lua
 * ops run) differs from the reference, and where glibc's own f32 function does, with the largest
 * difference of each in f32 ulps.  NaN results match any NaN.
 *
 *   f32_math_accuracy [step]   every step-th bit pattern (default 1: all 2^32; 257 takes a
 *                              second or two a function)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gids/graphids.h"

#define CHUNK (1 << 22)

static float from_bits_(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Distance in f32 ulps between two non-NaN floats (the bit patterns on one number line). */
static int64_t ulps_(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    int64_t la = ia < 0 ? (int64_t)INT32_MIN - ia : ia, lb = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return la > lb ? la - lb : lb - la;
}

/* Differences, and those of them at |x| < 1.6e6, below which the trig kernels reduce the input
 * themselves (beyond, they hand it to libm's double function, the reference's). */
typedef struct {
    int64_t wrong, wrong_below, worst;
    float at;
} tally;

static void count_(tally *t, float x, float got, float want) {
    if (isnan(want) && isnan(got)) return;
    bool same = isnan(want) || isnan(got) ? false : got == want && !signbit(got) == !signbit(want);
    if (same) return;
    int64_t d = isnan(want) || isnan(got) ? INT32_MAX : ulps_(got, want);
    t->wrong++;
    t->wrong_below += fabsf(x) < 1.6e6f;
    if (d > t->worst) t->worst = d, t->at = x;
}

typedef struct {
    const char *name;
    gids_unop op;
    double (*ref)(double);
    float (*libm)(float);
} unary_case;

static void report_(const char *name, int64_t n, tally ours, tally libm) {
    printf("%-6s %10lld inputs  graphids: %8lld differ (%8lld at |x| < 1.6e6), at most %lld ulp "
           "(x = %a)  glibc f32: %8lld differ (%8lld), at most %lld ulp\n",
           name, (long long)n, (long long)ours.wrong, (long long)ours.wrong_below,
           (long long)ours.worst, (double)ours.at, (long long)libm.wrong,
           (long long)libm.wrong_below, (long long)libm.worst);
    fflush(stdout);
}

static int run_unary_(const unary_case *c, uint32_t step) {
    int64_t shape = CHUNK;
    gids_tensor *x = NULL, *y = NULL;
    if (gids_empty(&x, GIDS_F32, GIDS_DEVICE_CPU, 1, &shape) != GIDS_OK) return 1;
    float *xv = gids_tensor_data(x);
    tally ours = {0, 0, 0, 0}, libm = {0, 0, 0, 0};
    int64_t total = 0;
    uint64_t next = 0;
    while (next <= UINT32_MAX) {
        int64_t m = 0;
        for (; m < CHUNK && next <= UINT32_MAX; m++, next += step)
            xv[m] = from_bits_((uint32_t)next);
        if (m < CHUNK) memset(xv + m, 0, (size_t)(CHUNK - m) * sizeof *xv);
        if (gids_unary(&y, c->op, x) != GIDS_OK) {
            fprintf(stderr, "%s: %s\n", c->name, gids_error_message());
            return 1;
        }
        const float *yv = gids_tensor_data(y);
        for (int64_t i = 0; i < m; i++) {
            float want = (float)c->ref(xv[i]);
            count_(&ours, xv[i], yv[i], want);
            count_(&libm, xv[i], c->libm(xv[i]), want);
        }
        total += m;
        gids_tensor_release(y);
    }
    gids_tensor_release(x);
    report_(c->name, total, ours, libm);
    return 0;
}

/* pow over sampled pairs: a with every exponent and a random mantissa, both signs, b from a
 * mix of integers, halves and random values in [-40, 40]; the reference is pow in double. */
static int run_pow_(int64_t pairs) {
    int64_t shape = CHUNK;
    gids_tensor *a = NULL, *b = NULL, *y = NULL;
    if (gids_empty(&a, GIDS_F32, GIDS_DEVICE_CPU, 1, &shape) != GIDS_OK ||
        gids_empty(&b, GIDS_F32, GIDS_DEVICE_CPU, 1, &shape) != GIDS_OK)
        return 1;
    float *av = gids_tensor_data(a), *bv = gids_tensor_data(b);
    tally ours = {0, 0, 0, 0}, libm = {0, 0, 0, 0};
    uint64_t s = 0x9e3779b97f4a7c15u;
    int64_t done = 0;
    while (done < pairs) {
        for (int64_t i = 0; i < CHUNK; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            av[i] = from_bits_((uint32_t)(s >> 32) & 0xffffffffu);
            uint32_t r = (uint32_t)s;
            switch (r % 4) {
            case 0: bv[i] = (float)((int)(r >> 8) % 81 - 40); break;
            case 1: bv[i] = (float)((int)(r >> 8) % 161 - 80) * 0.5f; break;
            default: bv[i] = ((float)(r >> 8) / 16777216.0f - 0.5f) * 80.0f;
            }
        }
        if (gids_binary(&y, GIDS_POW, a, b) != GIDS_OK) {
            fprintf(stderr, "pow: %s\n", gids_error_message());
            return 1;
        }
        const float *yv = gids_tensor_data(y);
        for (int64_t i = 0; i < CHUNK; i++) {
            float want = (float)pow(av[i], bv[i]);
            count_(&ours, av[i], yv[i], want);
            count_(&libm, av[i], powf(av[i], bv[i]), want);
        }
        gids_tensor_release(y);
        done += CHUNK;
    }
    gids_tensor_release(a), gids_tensor_release(b);
    report_("pow", done, ours, libm);
    return 0;
}

int main(int argc, char **argv) {
    uint32_t step = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1;
    if (step == 0) step = 1;
    const unary_case cases[] = {
        {"exp", GIDS_EXP, exp, expf},         {"log", GIDS_LOG, log, logf},
        {"log1p", GIDS_LOG1P, log1p, log1pf}, {"log2", GIDS_LOG2, log2, log2f},
        {"sin", GIDS_SIN, sin, sinf},         {"cos", GIDS_COS, cos, cosf},
        {"tan", GIDS_TAN, tan, tanf},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        if (run_unary_(&cases[k], step)) return 1;
    return run_pow_(((int64_t)1 << 32) / step);
}
