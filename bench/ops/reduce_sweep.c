/* reduce_sweep.c -- the CPU reductions, layer_norm, cumsum and argmax on 1M-element f32
 * inputs of several shapes, and the other ops the docs compare with PyTorch (exp, log, pow,
 * index_select), timed at the C level (no Lua garbage between calls): each row is the median
 * and the best of REPS calls after three warm-up calls, in microseconds.
 * bench/peer/reduce_sweep.py prints the same rows for PyTorch.
 *
 *   make build/bench/reduce_sweep && OMP_NUM_THREADS=2 build/bench/reduce_sweep [filter]
 *
 * A filter keeps the rows whose name contains it.  Run both sides with the same threads and
 * waiting policy (the graphids host sets GOMP_SPINCOUNT=10000 unless told otherwise), and
 * alternate them: the numbers of bench/results/cpu-2026-11-28-v.txt are medians over rounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_clock.h"
#include "gids/graphids.h"

#define REPS 41

static const char *filter_;

/* Times fn(arg) REPS times after three warm-up calls; prints name, best and median (us).
 * Returns 1 (and prints the error) when a call fails. */
static int time_row(const char *name, gids_status (*fn)(const void *), const void *arg) {
    if (filter_ != NULL && strstr(name, filter_) == NULL) return 0;
    double t[REPS];
    for (int i = -3; i < REPS; i++) {
        double t0 = now_();
        if (fn(arg) != GIDS_OK) {
            fprintf(stderr, "reduce_sweep: %s: %s\n", name, gids_error_message());
            return 1;
        }
        if (i >= 0) t[i] = now_() - t0;
    }
    qsort(t, REPS, sizeof *t, cmp_);
    printf("%-30s best %8.1f median %8.1f us\n", name, t[0] * 1e6, t[REPS / 2] * 1e6);
    return 0;
}

typedef struct {
    gids_redop op;
    const gids_tensor *x;
    int ndims, dim;
} red_arg;

static gids_status red_(const void *p) {
    const red_arg *a = p;
    gids_tensor *o = NULL;
    gids_status st = gids_reduce(&o, a->op, a->x, a->ndims, &a->dim, false);
    gids_tensor_release(o);
    return st;
}

typedef struct {
    const gids_tensor *x, *w, *b;
} ln_arg;

static gids_status ln_(const void *p) {
    const ln_arg *a = p;
    gids_tensor *o = NULL;
    gids_status st = gids_layer_norm(&o, NULL, NULL, a->x, 1, a->w, a->b, 1e-5);
    gids_tensor_release(o);
    return st;
}

typedef struct {
    const gids_tensor *x;
    int dim;
} dim_arg;

static gids_status cumsum_(const void *p) {
    const dim_arg *a = p;
    gids_tensor *o = NULL;
    gids_status st = gids_cumsum(&o, a->x, a->dim);
    gids_tensor_release(o);
    return st;
}

typedef struct {
    gids_unop op;
    const gids_tensor *x;
} un_arg;

static gids_status unary_(const void *p) {
    const un_arg *a = p;
    gids_tensor *o = NULL;
    gids_status st = gids_unary(&o, a->op, a->x);
    gids_tensor_release(o);
    return st;
}

static gids_status pow_(const void *p) {
    gids_tensor *o = NULL;
    gids_status st = gids_binary_scalar(&o, GIDS_POW, p, gids_scalar_f(2.5), false);
    gids_tensor_release(o);
    return st;
}

typedef struct {
    const gids_tensor *x, *index;
    int dim;
} sel_arg;

static gids_status select_(const void *p) {
    const sel_arg *a = p;
    gids_tensor *o = NULL;
    gids_status st = gids_index_select(&o, a->x, a->dim, a->index);
    gids_tensor_release(o);
    return st;
}

static gids_status argmax_(const void *p) {
    const dim_arg *a = p;
    gids_tensor *o = NULL;
    gids_status st = gids_argmax(&o, a->x, a->dim, false);
    gids_tensor_release(o);
    return st;
}

int main(int argc, char **argv) {
    filter_ = argc > 1 ? argv[1] : NULL;
    gids_generator g;
    gids_generator_init(&g, 1);
    int64_t s1[1] = {1000000}, sq[2] = {1000, 1000}, sh[2] = {8192, 128}, sz[2] = {100000, 10},
            sw[2] = {10, 100000}, sc[3] = {100, 100, 100}, sn[3] = {1000, 100, 10}, d1000 = 1000,
            d128 = 128;
    gids_tensor *v = NULL, *x = NULL, *h = NULL, *z = NULL, *q = NULL, *w = NULL, *b = NULL,
                *w2 = NULL, *b2 = NULL, *c = NULL, *n = NULL, *v64 = NULL, *h64 = NULL, *vb = NULL,
                *va = NULL, *vp = NULL, *ix = NULL;
    if (gids_randn(&v, &g, GIDS_F32, 1, s1) != GIDS_OK ||
        gids_randn(&x, &g, GIDS_F32, 2, sq) != GIDS_OK ||
        gids_randn(&h, &g, GIDS_F32, 2, sh) != GIDS_OK ||
        gids_randn(&z, &g, GIDS_F32, 2, sz) != GIDS_OK ||
        gids_randn(&q, &g, GIDS_F32, 2, sw) != GIDS_OK ||
        gids_randn(&w, &g, GIDS_F32, 1, &d1000) != GIDS_OK ||
        gids_randn(&b, &g, GIDS_F32, 1, &d1000) != GIDS_OK ||
        gids_randn(&w2, &g, GIDS_F32, 1, &d128) != GIDS_OK ||
        gids_randn(&b2, &g, GIDS_F32, 1, &d128) != GIDS_OK ||
        gids_randn(&c, &g, GIDS_F32, 3, sc) != GIDS_OK ||
        gids_randn(&n, &g, GIDS_F32, 3, sn) != GIDS_OK ||
        gids_to_dtype(&v64, v, GIDS_F64) != GIDS_OK ||
        gids_to_dtype(&h64, h, GIDS_F64) != GIDS_OK ||
        gids_binary_scalar(&vb, GIDS_GT, v, gids_scalar_f(0), false) != GIDS_OK ||
        gids_unary(&va, GIDS_ABS, v) != GIDS_OK ||
        gids_binary_scalar(&vp, GIDS_ADD, va, gids_scalar_f(0.01), false) != GIDS_OK ||
        gids_empty(&ix, GIDS_I64, GIDS_DEVICE_CPU, 1, &d1000) != GIDS_OK) {
        fprintf(stderr, "reduce_sweep: inputs: %s\n", gids_error_message());
        return 1;
    }
    /* a fixed permutation of 0..999 (7919 is prime to 1000), the same in the PyTorch peer */
    int64_t *ixp = gids_tensor_data(ix);
    for (int64_t i = 0; i < 1000; i++) ixp[i] = i * 7919 % 1000;
    /* integer and bool sums (bench/results/cpu-2026-11-29-int-sums.txt) */
    int64_t s7 = 10000000, s4k[2] = {4096, 4096}, s3[2] = {1000000, 3};
    gids_tensor *b7 = NULL, *u7 = NULL, *i32 = NULL, *u8 = NULL, *i32t = NULL, *i64 = NULL,
                *u83 = NULL, *i643 = NULL, *i323 = NULL;
    if (gids_rand(&u7, &g, GIDS_F32, 1, &s7) != GIDS_OK ||
        gids_binary_scalar(&b7, GIDS_GT, u7, gids_scalar_f(0.5), false) != GIDS_OK ||
        gids_randint(&i32, &g, GIDS_I32, -1000000, 1000000, 2, sq) != GIDS_OK ||
        gids_randint(&u8, &g, GIDS_U8, 0, 256, 2, s4k) != GIDS_OK ||
        gids_transpose(&i32t, i32, 0, 1) != GIDS_OK ||
        gids_randint(&i64, &g, GIDS_I64, -1000000, 1000000, 1, s1) != GIDS_OK ||
        gids_randint(&u83, &g, GIDS_U8, 0, 256, 2, s3) != GIDS_OK ||
        gids_randint(&i643, &g, GIDS_I64, -1000000, 1000000, 2, s3) != GIDS_OK ||
        gids_randint(&i323, &g, GIDS_I32, -1000000, 1000000, 2, s3) != GIDS_OK) {
        fprintf(stderr, "reduce_sweep: integer inputs: %s\n", gids_error_message());
        return 1;
    }
    int bad = 0;
    bad |= time_row("sum 1M", red_, &(red_arg){GIDS_SUM, v, 0, 0});
    bad |= time_row("sum [1000,1000] dim1", red_, &(red_arg){GIDS_SUM, x, 1, 1});
    bad |= time_row("mean [1000,1000] dim1", red_, &(red_arg){GIDS_MEAN, x, 1, 1});
    bad |= time_row("mean [1000,1000] dim0", red_, &(red_arg){GIDS_MEAN, x, 1, 0});
    bad |= time_row("sum [8192,128] dim0", red_, &(red_arg){GIDS_SUM, h, 1, 0});
    bad |= time_row("mean [8192,128] dim1", red_, &(red_arg){GIDS_MEAN, h, 1, 1});
    bad |= time_row("sum [1e5,10] dim1", red_, &(red_arg){GIDS_SUM, z, 1, 1});
    bad |= time_row("sum [1e5,10] dim0", red_, &(red_arg){GIDS_SUM, z, 1, 0});
    bad |= time_row("sum [10,1e5] dim1", red_, &(red_arg){GIDS_SUM, q, 1, 1});
    bad |= time_row("sum [10,1e5] dim0", red_, &(red_arg){GIDS_SUM, q, 1, 0});
    bad |= time_row("sum [100,100,100] dim1", red_, &(red_arg){GIDS_SUM, c, 1, 1});
    bad |= time_row("sum [1000,100,10] dim1", red_, &(red_arg){GIDS_SUM, n, 1, 1});
    bad |= time_row("sum 1M f64", red_, &(red_arg){GIDS_SUM, v64, 0, 0});
    bad |= time_row("sum [8192,128] dim0 f64", red_, &(red_arg){GIDS_SUM, h64, 1, 0});
    bad |= time_row("sum [8192,128] dim1 f64", red_, &(red_arg){GIDS_SUM, h64, 1, 1});
    bad |= time_row("sum 1M bool", red_, &(red_arg){GIDS_SUM, vb, 0, 0});
    bad |= time_row("isum 1e7 bool", red_, &(red_arg){GIDS_SUM, b7, 0, 0});
    bad |= time_row("isum [1000,1000] i32 dim0", red_, &(red_arg){GIDS_SUM, i32, 1, 0});
    bad |= time_row("isum [1000,1000] i32 dim1", red_, &(red_arg){GIDS_SUM, i32, 1, 1});
    bad |= time_row("isum [1000,1000] i32 T dim1", red_, &(red_arg){GIDS_SUM, i32t, 1, 1});
    bad |= time_row("isum [4096,4096] u8", red_, &(red_arg){GIDS_SUM, u8, 0, 0});
    bad |= time_row("isum [4096,4096] u8 dim0", red_, &(red_arg){GIDS_SUM, u8, 1, 0});
    bad |= time_row("isum [4096,4096] u8 dim1", red_, &(red_arg){GIDS_SUM, u8, 1, 1});
    bad |= time_row("isum 1M i64", red_, &(red_arg){GIDS_SUM, i64, 0, 0});
    bad |= time_row("isum [1e6,3] u8 dim1", red_, &(red_arg){GIDS_SUM, u83, 1, 1});
    bad |= time_row("isum [1e6,3] i64 dim1", red_, &(red_arg){GIDS_SUM, i643, 1, 1});
    bad |= time_row("iamax [1e6,3] i32 dim1", red_, &(red_arg){GIDS_AMAX, i323, 1, 1});
    bad |= time_row("iprod [1000,1000] i32 dim1", red_, &(red_arg){GIDS_PROD, i32, 1, 1});
    bad |= time_row("icumsum [1000,1000] i32 dim1", cumsum_, &(dim_arg){i32, 1});
    bad |= time_row("amax [1000,1000] dim1", red_, &(red_arg){GIDS_AMAX, x, 1, 1});
    bad |= time_row("amax [8192,128] dim0", red_, &(red_arg){GIDS_AMAX, h, 1, 0});
    bad |= time_row("layer_norm [1000,1000]", ln_, &(ln_arg){x, w, b});
    bad |= time_row("layer_norm [8192,128]", ln_, &(ln_arg){h, w2, b2});
    bad |= time_row("cumsum 1M", cumsum_, &(dim_arg){v, 0});
    bad |= time_row("cumsum [1000,1000] dim1", cumsum_, &(dim_arg){x, 1});
    bad |= time_row("argmax [1000,1000] dim1", argmax_, &(dim_arg){x, 1});
    bad |= time_row("exp 1M", unary_, &(un_arg){GIDS_EXP, v});
    bad |= time_row("log 1M", unary_, &(un_arg){GIDS_LOG, vp});
    bad |= time_row("pow 2.5 1M", pow_, vp);
    bad |= time_row("index_select [1000,1000] dim0", select_, &(sel_arg){x, ix, 0});
    bad |= time_row("index_select [1000,1000] dim1", select_, &(sel_arg){x, ix, 1});
    gids_tensor *all[] = {v,  x,  h,  z,  q,  w,  b,   w2, b2,   c,   n,   v64,  h64,
                          vb, va, vp, ix, b7, u7, i32, u8, i32t, i64, u83, i643, i323};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) gids_tensor_release(all[i]);
    return bad;
}
