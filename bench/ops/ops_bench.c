/* ops_bench.c -- graphids CPU kernels against their hardware-side references.
 *
 *   matmul  gids_mm 1024^3 f32          vs cblas_sgemm called directly      (target >= 0.95)
 *   add     gids_binary ADD, 16M f32    vs memcpy moving the same bytes     (target >= 0.5)
 *   sum     gids_reduce SUM, 16M f32    vs memcpy moving the same bytes     (target >= 0.5)
 *   log_softmax over [2988, 2049] f32, and its backward, vs memcpy          (target >= 0.25)
 *
 * Each figure is the median of REPS timed runs after one warm-up; a kernel and its reference are
 * timed alternately inside one loop, so load from other processes hits both alike.  Bandwidth
 * counts the bytes a
 * kernel must move: add reads two arrays and writes one (12 bytes an element), sum reads one
 * (4 bytes), memcpy reads and writes its buffer (2 x its size).
 * Output: one line per row, "name value unit ratio target" (parsed by tools/run-bench.sh).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_clock.h"
#include "gids/graphids.h"

#define REPS 9

static double median_(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_);
    return v[n / 2];
}

#define OK(x)                                                                                      \
    do {                                                                                           \
        if ((x) != GIDS_OK) {                                                                      \
            fprintf(stderr, "ops_bench: %s: %s\n", #x, gids_error_message());                      \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* Times `ref` and `body` alternately REPS times after a warm-up of each; leaves the median
 * seconds of each in t_ref and t_body. */
#define TIME_PAIR(t_ref, ref, t_body, body)                                                        \
    do {                                                                                           \
        double r_[REPS], b_[REPS];                                                                 \
        ref;                                                                                       \
        body;                                                                                      \
        for (int i_ = 0; i_ < REPS; i_++) {                                                        \
            double t0_ = now_();                                                                   \
            ref;                                                                                   \
            double t1_ = now_();                                                                   \
            body;                                                                                  \
            r_[i_] = t1_ - t0_;                                                                    \
            b_[i_] = now_() - t1_;                                                                 \
        }                                                                                          \
        t_ref = median_(r_, REPS);                                                                 \
        t_body = median_(b_, REPS);                                                                \
    } while (0)

int main(void) {
    gids_generator g;
    gids_generator_init(&g, 1);
    printf("threads %d\n", gids_get_num_threads());

    /* ---- matmul ---- */
    int64_t n = 1024, sq[2] = {n, n};
    gids_tensor *a = NULL, *b = NULL, *c = NULL, *ref = NULL;
    OK(gids_randn(&a, &g, GIDS_F32, 2, sq));
    OK(gids_randn(&b, &g, GIDS_F32, 2, sq));
    OK(gids_empty(&ref, GIDS_F32, GIDS_DEVICE_CPU, 2, sq));
    double t_gids, t_blas, flops = 2.0 * (double)n * n * n;
    TIME_PAIR(t_blas,
              cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f,
                          gids_tensor_data(a), (int)n, gids_tensor_data(b), (int)n, 0.0f,
                          gids_tensor_data(ref), (int)n),
              t_gids, {
                  gids_tensor_release(c);
                  c = NULL;
                  OK(gids_mm(&c, a, b));
              });
    printf("matmul_1024_gflops %.2f GFLOP/s %.3f 0.95 (openblas direct %.2f GFLOP/s)\n",
           flops / t_gids * 1e-9, t_blas / t_gids, flops / t_blas * 1e-9);

    /* ---- elementwise add and sum vs memcpy ---- */
    int64_t m = 16 * 1024 * 1024;
    gids_tensor *x = NULL, *y = NULL, *z = NULL, *s = NULL;
    OK(gids_randn(&x, &g, GIDS_F32, 1, &m));
    OK(gids_randn(&y, &g, GIDS_F32, 1, &m));
    size_t bytes = (size_t)m * 4 * 3;
    char *src = malloc(bytes), *dst = malloc(bytes);
    if (!src || !dst) return 1;
    memset(src, 1, bytes);
    memset(dst, 0, bytes);
    double t_copy, t_add, t_copy2, t_sum;
    /* A new output tensor per call, as user code makes them. */
    TIME_PAIR(t_copy, memcpy(dst, src, bytes), t_add, {
        gids_tensor_release(z);
        z = NULL;
        OK(gids_binary(&z, GIDS_ADD, x, y));
    });
    double copy_gbs = 2.0 * (double)bytes / t_copy * 1e-9;
    double add_gbs = 12.0 * (double)m / t_add * 1e-9;
    printf("add_16M_gbs %.2f GB/s %.3f 0.5 (memcpy %.2f GB/s)\n", add_gbs, add_gbs / copy_gbs,
           copy_gbs);
    TIME_PAIR(t_copy2, memcpy(dst, src, bytes), t_sum, {
        gids_tensor_release(s);
        s = NULL;
        OK(gids_reduce(&s, GIDS_SUM, x, 0, NULL, false));
    });
    double copy2_gbs = 2.0 * (double)bytes / t_copy2 * 1e-9;
    double sum_gbs = 4.0 * (double)m / t_sum * 1e-9;
    printf("sum_16M_gbs %.2f GB/s %.3f 0.5 (memcpy %.2f GB/s)\n", sum_gbs, sum_gbs / copy2_gbs,
           copy2_gbs);

    /* ---- log_softmax over rows of 2049 (a classifier over 2048 CAN ids and UNK) and its
     * backward, vs memcpy of the bytes each must move: the forward reads the logits and writes
     * the result (8 bytes an element), the backward reads the gradient and the result and
     * writes the input's gradient (12). */
    int64_t ls_shape[2] = {2988, 2049}, ls_n = 2988 * 2049;
    gids_tensor *lx = NULL, *lg = NULL, *ly = NULL, *lr = NULL;
    OK(gids_randn(&lx, &g, GIDS_F32, 2, ls_shape));
    OK(gids_randn(&lg, &g, GIDS_F32, 2, ls_shape));
    size_t ls_bytes = (size_t)ls_n * 4;
    double t_copy3, t_ls, t_copy4, t_lsb;
    TIME_PAIR(t_copy3, memcpy(dst, src, 2 * ls_bytes), t_ls, {
        gids_tensor_release(ly);
        ly = NULL;
        OK(gids_log_softmax(&ly, lx, 1));
    });
    double copy3_gbs = 4.0 * (double)ls_bytes / t_copy3 * 1e-9;
    double ls_gbs = 8.0 * (double)ls_n / t_ls * 1e-9;
    printf("log_softmax_rows2049_gbs %.2f GB/s %.3f 0.25 (memcpy %.2f GB/s)\n", ls_gbs,
           ls_gbs / copy3_gbs, copy3_gbs);
    TIME_PAIR(t_copy4, memcpy(dst, src, 3 * ls_bytes), t_lsb, {
        gids_tensor_release(lr);
        lr = NULL;
        OK(gids_softmax_backward(&lr, lg, ly, 1, true));
    });
    double copy4_gbs = 6.0 * (double)ls_bytes / t_copy4 * 1e-9;
    double lsb_gbs = 12.0 * (double)ls_n / t_lsb * 1e-9;
    printf("log_softmax_backward_rows2049_gbs %.2f GB/s %.3f 0.25 (memcpy %.2f GB/s)\n", lsb_gbs,
           lsb_gbs / copy4_gbs, copy4_gbs);
    gids_tensor_release(lx), gids_tensor_release(lg), gids_tensor_release(ly),
        gids_tensor_release(lr);

    free(src), free(dst);
    gids_tensor_release(a), gids_tensor_release(b), gids_tensor_release(c),
        gids_tensor_release(ref);
    gids_tensor_release(x), gids_tensor_release(y), gids_tensor_release(z), gids_tensor_release(s);
    return 0;
}
