/* test_ag_linalg.c -- formulas of matmul (every torch.matmul case), mm, bmm and addmm, checked
 * by finite differences, with transposed operands and broadcast batch dims. */
#include <stdlib.h>

#include "check.h"
#include "gradcheck.h"
#include "helpers.h"

static gids_tensor *leaf(int nd, const int64_t *shape, int salt, bool rg) {
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = sin(0.9 * (double)i + salt) + 0.01 * (double)i;
    gids_tensor *t = from(GIDS_F64, nd, shape, v);
    free(v);
    if (rg) CHECK_OK(gids_set_requires_grad(t, true));
    return t;
}

/* Operands transposed (last two dims) before the product when ta / tb. */
typedef struct {
    bool ta, tb;
} mm_case;

static gids_status maybe_t_(gids_tensor **out, gids_tensor *x, bool t) {
    if (t) return gids_ag_transpose(out, x, -1, -2);
    gids_tensor_retain(x);
    *out = x;
    return GIDS_OK;
}

typedef gids_status (*product_fn)(gids_tensor **, const gids_tensor *, const gids_tensor *);

static gids_status f_product_(gids_tensor **out, gids_tensor *const *in, const mm_case *c,
                              product_fn fn) {
    gids_tensor *a = NULL, *b = NULL;
    GIDS_TRY(maybe_t_(&a, in[0], c != NULL && c->ta));
    gids_status st = maybe_t_(&b, in[1], c != NULL && c->tb);
    if (st == GIDS_OK) st = fn(out, a, b);
    gids_tensor_release(a), gids_tensor_release(b);
    return st;
}

static gids_status f_matmul(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    return f_product_(out, in, ctx, gids_ag_matmul);
}
static gids_status f_mm(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    return f_product_(out, in, ctx, gids_ag_mm);
}
static gids_status f_bmm(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    return f_product_(out, in, ctx, gids_ag_bmm);
}

/* Runs GRADCHECK(f_matmul) on operands of the two shapes (both requiring grad, then each
 * alone). */
static void check_matmul(int na, const int64_t *sa, int nb, const int64_t *sb, mm_case c) {
    for (int which = 0; which < 3; which++) {
        gids_tensor *a = leaf(na, sa, 1, which != 2), *b = leaf(nb, sb, 2, which != 1);
        gids_tensor *in[2] = {a, b};
        GRADCHECK(f_matmul, 2, in, &c);
        gids_tensor_release(a), gids_tensor_release(b);
    }
}

TEST(matmul_covers_every_rank_combination) {
    mm_case plain = {false, false};
    check_matmul(1, (int64_t[]){4}, 1, (int64_t[]){4}, plain);          /* dot */
    check_matmul(1, (int64_t[]){3}, 2, (int64_t[]){3, 4}, plain);       /* vec @ mat */
    check_matmul(2, (int64_t[]){2, 3}, 1, (int64_t[]){3}, plain);       /* mat @ vec */
    check_matmul(2, (int64_t[]){2, 3}, 2, (int64_t[]){3, 4}, plain);    /* mm */
    check_matmul(1, (int64_t[]){4}, 3, (int64_t[]){2, 4, 3}, plain);    /* vec @ batch */
    check_matmul(3, (int64_t[]){2, 3, 4}, 1, (int64_t[]){4}, plain);    /* batch @ vec */
    check_matmul(3, (int64_t[]){2, 3, 4}, 2, (int64_t[]){4, 5}, plain); /* folded rows */
    check_matmul(2, (int64_t[]){3, 4}, 3, (int64_t[]){2, 4, 5}, plain); /* mat @ batch */
}

TEST(matmul_sums_gradients_over_broadcast_batch_dims) {
    mm_case plain = {false, false};
    check_matmul(4, (int64_t[]){2, 1, 3, 4}, 3, (int64_t[]){3, 4, 2}, plain); /* -> [2,3,3,2] */
    check_matmul(3, (int64_t[]){1, 2, 3}, 4, (int64_t[]){2, 2, 3, 2}, plain);
    gids_tensor *a = leaf(3, (int64_t[]){1, 2, 3}, 1, true),
                *b = leaf(3, (int64_t[]){4, 3, 2}, 2, true);
    gids_tensor *y = NULL, *w = NULL;
    CHECK_OK(gids_ag_matmul(&y, a, b));
    CHECK_OK(gids_ones(&w, GIDS_F64, GIDS_DEVICE_CPU, y->ndim, y->shape));
    CHECK_OK(gids_backward(y, w, false));
    check_shape(gids_grad(a), 3, (int64_t[]){1, 2, 3});
    check_shape(gids_grad(b), 3, (int64_t[]){4, 3, 2});
    gids_tensor_release(w), gids_tensor_release(y), gids_tensor_release(a), gids_tensor_release(b);
}

TEST(matmul_of_transposed_operands) {
    mm_case cases[3] = {{true, false}, {false, true}, {true, true}};
    for (int i = 0; i < 3; i++) {
        /* shapes before the transposes: the products are [2,3] @ [3,4] and [2,2,3] @ [2,3,4] */
        int64_t sa[2] = {cases[i].ta ? 3 : 2, cases[i].ta ? 2 : 3};
        int64_t sb[2] = {cases[i].tb ? 4 : 3, cases[i].tb ? 3 : 4};
        check_matmul(2, sa, 2, sb, cases[i]);
        int64_t ba[3] = {2, sa[0], sa[1]}, bb[3] = {2, sb[0], sb[1]};
        check_matmul(3, ba, 3, bb, cases[i]);
    }
}

TEST(mm_and_bmm_match_finite_differences) {
    mm_case cases[2] = {{false, false}, {true, true}};
    for (int i = 0; i < 2; i++) {
        gids_tensor *a = leaf(2, (int64_t[]){3, 3}, 1, true),
                    *b = leaf(2, (int64_t[]){3, 2}, 2, true);
        if (cases[i].tb) {
            gids_tensor_release(b);
            b = leaf(2, (int64_t[]){2, 3}, 2, true);
        }
        gids_tensor *in[2] = {a, b};
        GRADCHECK(f_mm, 2, in, &cases[i]);
        gids_tensor_release(a), gids_tensor_release(b);
        a = leaf(3, (int64_t[]){2, 3, 3}, 3, true), b = leaf(3, (int64_t[]){2, 3, 3}, 4, true);
        gids_tensor *inb[2] = {a, b};
        GRADCHECK(f_bmm, 2, inb, &cases[i]);
        gids_tensor_release(a), gids_tensor_release(b);
    }
}

typedef struct {
    double beta, alpha;
    bool ta;
} addmm_case;

static gids_status f_addmm(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const addmm_case *c = ctx;
    gids_tensor *a = NULL;
    GIDS_TRY(maybe_t_(&a, in[1], c->ta));
    gids_status st = gids_ag_addmm(out, in[0], a, in[2], c->beta, c->alpha);
    gids_tensor_release(a);
    return st;
}

TEST(addmm_scales_and_broadcasts_the_bias) {
    const int64_t bias_shapes[4][2] = {{4, 0}, {1, 4}, {2, 1}, {2, 4}};
    const int bias_nd[4] = {1, 2, 2, 2};
    const addmm_case cases[3] = {{1.0, 1.0, false}, {0.5, -2.0, true}, {0.0, 3.0, false}};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++) {
            gids_tensor *bias = leaf(bias_nd[i], bias_shapes[i], 1, true);
            gids_tensor *a = cases[k].ta ? leaf(2, (int64_t[]){3, 2}, 2, true)
                                         : leaf(2, (int64_t[]){2, 3}, 2, true);
            gids_tensor *b = leaf(2, (int64_t[]){3, 4}, 3, true);
            gids_tensor *in[3] = {bias, a, b};
            GRADCHECK(f_addmm, 3, in, (void *)&cases[k]);
            gids_tensor_release(bias), gids_tensor_release(a), gids_tensor_release(b);
        }
}

TEST(products_record_their_nodes_and_keep_f32) {
    gids_tensor *a = NULL, *b = NULL, *y = NULL, *w = NULL;
    CHECK_OK(gids_ones(&a, GIDS_F32, GIDS_DEVICE_CPU, 2, (int64_t[]){2, 3}));
    CHECK_OK(gids_ones(&b, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){3}));
    CHECK_OK(gids_set_requires_grad(a, true));
    CHECK_OK(gids_ag_matmul(&y, a, b));
    CHECK(strcmp(gids_grad_fn_name(y), "MatmulBackward") == 0);
    CHECK_OK(gids_ones(&w, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){2}));
    CHECK_OK(gids_backward(y, w, false));
    CHECK(gids_grad(a)->dtype == GIDS_F32 && gids_grad(b) == NULL);
    check_values(gids_grad(a), 6, (double[]){1, 1, 1, 1, 1, 1});
    gids_tensor_release(y);
    y = NULL;
    CHECK_ERR(gids_ag_mm(&y, a, a), GIDS_ESHAPE,
              "mm: arg 2 has shape [2,3]"); /* nothing recorded */
    CHECK(y == NULL);
    gids_tensor_release(w), gids_tensor_release(a), gids_tensor_release(b);
}

int main(void) {
    RUN(matmul_covers_every_rank_combination);
    RUN(matmul_sums_gradients_over_broadcast_batch_dims);
    RUN(matmul_of_transposed_operands);
    RUN(mm_and_bmm_match_finite_differences);
    RUN(addmm_scales_and_broadcasts_the_bias);
    RUN(products_record_their_nodes_and_keep_f32);
    return check_summary("ag_linalg");
}
