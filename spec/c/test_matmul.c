/* test_matmul.c -- mm / matmul / bmm / addmm / mm_into against a naive triple loop, on
 * contiguous, transposed, narrowed and expanded operands, plus every error path. */
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "helpers.h"

static gids_tensor *randn(gids_dtype dt, int ndim, const int64_t *shape) {
    gids_tensor *t = NULL;
    CHECK_OK(gids_randn(&t, NULL, dt, ndim, shape));
    return t;
}

/* c (2-D) == alpha * a @ b + beta * bias (bias may be NULL), element by element in double. */
static void check_mm_ref(const gids_tensor *c, const gids_tensor *a, const gids_tensor *b,
                         double tol) {
    int64_t n = a->shape[0], k = a->shape[1], m = b->shape[1];
    CHECK(c->ndim == 2 && c->shape[0] == n && c->shape[1] == m);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++) s += at(a, i * k + p) * at(b, p * m + j);
            CHECK_NEAR(at(c, i * m + j), s, tol);
        }
}

TEST(mm_matches_hand_computation) {
    int64_t sa[2] = {2, 3}, sb[2] = {3, 2};
    float av[6] = {1, 2, 3, 4, 5, 6}, bv[6] = {7, 8, 9, 10, 11, 12};
    gids_tensor *a = from(GIDS_F32, 2, sa, av), *b = from(GIDS_F32, 2, sb, bv), *c = NULL;
    CHECK_OK(gids_mm(&c, a, b));
    /* [1 2 3; 4 5 6] @ [7 8; 9 10; 11 12] = [58 64; 139 154] */
    CHECK(c->shape[0] == 2 && c->shape[1] == 2 && c->dtype == GIDS_F32);
    CHECK(at(c, 0) == 58 && at(c, 1) == 64 && at(c, 2) == 139 && at(c, 3) == 154);
    gids_tensor_release(c);
    CHECK_OK(gids_matmul(&c, a, b));
    CHECK(at(c, 3) == 154);
    gids_tensor_release(c);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

TEST(mm_takes_transposed_narrowed_and_expanded_views) {
    for (int dti = 0; dti < 2; dti++) {
        gids_dtype dt = dti ? GIDS_F64 : GIDS_F32;
        double tol = dti ? 1e-12 : 1e-5;
        int64_t s1[2] = {7, 5}, s2[2] = {7, 6}, s3[2] = {9, 9};
        gids_tensor *a0 = randn(dt, 2, s1), *b0 = randn(dt, 2, s2), *w = randn(dt, 2, s3);
        gids_tensor *at_ = NULL, *c = NULL, *nar = NULL, *nb = NULL;
        /* a0^T [5,7] is column-major: BLAS reads it with the trans flag */
        CHECK_OK(gids_transpose(&at_, a0, 0, 1));
        CHECK_OK(gids_mm(&c, at_, b0));
        check_mm_ref(c, at_, b0, tol);
        gids_tensor_release(c);
        /* narrowed columns of a 9x9: row stride 9 > row length 4 */
        CHECK_OK(gids_narrow(&nar, w, 1, 2, 4));
        CHECK_OK(gids_narrow(&nb, b0, 0, 3, 4)); /* [4,6] rows 3..6 */
        CHECK_OK(gids_mm(&c, nar, nb));
        check_mm_ref(c, nar, nb, tol);
        gids_tensor_release(c);
        /* b0^T narrowed: transposed and offset */
        gids_tensor *bt = NULL, *btn = NULL;
        CHECK_OK(gids_transpose(&bt, b0, 0, 1));  /* [6,7] */
        CHECK_OK(gids_narrow(&btn, bt, 0, 1, 5)); /* [5,7] */
        CHECK_OK(gids_mm(&c, btn, a0));           /* [5,7] @ [7,5] */
        check_mm_ref(c, btn, a0, tol);
        gids_tensor_release(c);
        /* an expanded operand (stride 0) cannot go to BLAS as is and is packed */
        int64_t s4[2] = {1, 7}, e[2] = {4, 7};
        gids_tensor *row = randn(dt, 2, s4), *ex = NULL;
        CHECK_OK(gids_expand(&ex, row, 2, e));
        CHECK_OK(gids_mm(&c, ex, b0));
        check_mm_ref(c, ex, b0, tol);
        for (int j = 0; j < 6; j++) CHECK(at(c, j) == at(c, 3 * 6 + j));
        gids_tensor_release(c);
        gids_tensor *bt2 = NULL; /* a doubly strided view: every other row and column */
        int64_t shp[2] = {4, 3}, str[2] = {18, 2};
        CHECK_OK(gids_as_strided(&bt2, w, 2, shp, str, 1));
        gids_tensor *y = NULL;
        int64_t s5[2] = {3, 2};
        gids_tensor *r = randn(dt, 2, s5);
        CHECK_OK(gids_mm(&y, bt2, r));
        check_mm_ref(y, bt2, r, tol);
        gids_tensor_release(y);
        gids_tensor_release(r);
        gids_tensor_release(bt2);
        gids_tensor_release(ex);
        gids_tensor_release(row);
        gids_tensor_release(btn);
        gids_tensor_release(bt);
        gids_tensor_release(nb);
        gids_tensor_release(nar);
        gids_tensor_release(at_);
        gids_tensor_release(w);
        gids_tensor_release(b0);
        gids_tensor_release(a0);
    }
}

TEST(integer_mm_is_exact_and_wraps_like_torch) {
    int64_t sa[2] = {2, 2}, sb[2] = {2, 3};
    int64_t av[4] = {1, -2, 3, 4}, bv[6] = {5, 6, 7, 8, 9, 10};
    gids_tensor *a = from(GIDS_I64, 2, sa, av), *b = from(GIDS_I64, 2, sb, bv), *c = NULL;
    CHECK_OK(gids_matmul(&c, a, b));
    CHECK(c->dtype == GIDS_I64);
    /* [1 -2; 3 4] @ [5 6 7; 8 9 10] = [-11 -12 -13; 47 54 61] */
    int64_t want[6] = {-11, -12, -13, 47, 54, 61};
    for (int i = 0; i < 6; i++) {
        int64_t v = 0;
        CHECK_OK(gids_tensor_get_i64(c, i, &v));
        CHECK(v == want[i]);
    }
    gids_tensor_release(c);
    gids_tensor *at_ = NULL; /* a transposed integer operand */
    CHECK_OK(gids_transpose(&at_, a, 0, 1));
    CHECK_OK(gids_mm(&c, at_, b));
    check_mm_ref(c, at_, b, 0);
    gids_tensor_release(c);
    gids_tensor_release(at_);
    gids_tensor_release(a);
    gids_tensor_release(b);
    /* u8: 200 * 2 + 100 * 1 = 500 = 244 (mod 256) */
    uint8_t u[2] = {200, 100}, w[2] = {2, 1};
    int64_t s1[2] = {1, 2}, s2[2] = {2, 1};
    a = from(GIDS_U8, 2, s1, u);
    b = from(GIDS_U8, 2, s2, w);
    CHECK_OK(gids_mm(&c, a, b));
    CHECK(c->dtype == GIDS_U8 && at(c, 0) == 244);
    gids_tensor_release(c);
    gids_tensor_release(a);
    gids_tensor_release(b);
    int32_t iv[4] = {100000, 3, 100000, 5};
    int64_t s4[2] = {2, 2};
    a = from(GIDS_I32, 2, s4, iv);
    CHECK_OK(gids_mm(&c, a, a));
    /* 100000*100000 + 3*100000 = 10000300000 -> int32 wraps to 1410365408 */
    int64_t v = 0;
    CHECK_OK(gids_tensor_get_i64(c, 0, &v));
    CHECK(c->dtype == GIDS_I32 && v == (int32_t)(uint32_t)10000300000ULL);
    gids_tensor_release(c);
    gids_tensor_release(a);
}

TEST(matmul_vector_cases_follow_torch) {
    float x[3] = {1, 2, 3}, y[3] = {4, 5, 6}, m[6] = {1, 0, 2, 0, 1, 1};
    int64_t s3 = 3, sm[2] = {2, 3}, smt[2] = {3, 2};
    gids_tensor *a = from(GIDS_F32, 1, &s3, x), *b = from(GIDS_F32, 1, &s3, y), *c = NULL;
    CHECK_OK(gids_matmul(&c, a, b)); /* dot: 0-d */
    CHECK(c->ndim == 0 && at(c, 0) == 32);
    gids_tensor_release(c);
    gids_tensor *M = from(GIDS_F32, 2, sm, m), *Mt = from(GIDS_F32, 2, smt, m);
    CHECK_OK(gids_matmul(&c, M, a)); /* [2,3] @ [3] = [7, 5] */
    CHECK(c->ndim == 1 && c->shape[0] == 2 && at(c, 0) == 7 && at(c, 1) == 5);
    gids_tensor_release(c);
    CHECK_OK(gids_matmul(&c, a, Mt)); /* [3] @ [3,2]: [1 0; 2 0; 1 1] -> [1*1+2*2+3*1, 3] */
    CHECK(c->ndim == 1 && c->shape[0] == 2 && at(c, 0) == 8 && at(c, 1) == 3);
    gids_tensor_release(c);
    /* a strided (every other element) and an expanded vector */
    float z[6] = {1, -1, 2, -1, 3, -1};
    int64_t s6 = 6, one = 1;
    gids_tensor *zz = from(GIDS_F32, 1, &s6, z), *ev = NULL, *sv = NULL, *e1 = NULL;
    int64_t st = 2;
    CHECK_OK(gids_as_strided(&sv, zz, 1, &s3, &st, 0)); /* [1, 2, 3] */
    CHECK_OK(gids_matmul(&c, sv, b));
    CHECK(at(c, 0) == 32);
    gids_tensor_release(c);
    float two = 2;
    e1 = from(GIDS_F32, 1, &one, &two);
    CHECK_OK(gids_expand(&ev, e1, 1, &s3)); /* [2, 2, 2] */
    CHECK_OK(gids_matmul(&c, M, ev));
    CHECK(at(c, 0) == 6 && at(c, 1) == 4);
    gids_tensor_release(c);
    gids_tensor_release(ev);
    gids_tensor_release(e1);
    gids_tensor_release(sv);
    gids_tensor_release(zz);
    gids_tensor_release(M);
    gids_tensor_release(Mt);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

/* c[bi] == a[bi'] @ b[bi''] where the batch indices broadcast. */
static void check_batched(const gids_tensor *c, const gids_tensor *a, const gids_tensor *b,
                          int64_t nb, const int64_t *amap, const int64_t *bmap) {
    int64_t n = a->shape[a->ndim - 2], k = a->shape[a->ndim - 1], m = b->shape[b->ndim - 1];
    for (int64_t q = 0; q < nb; q++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) {
                double s = 0;
                for (int64_t p = 0; p < k; p++)
                    s += at(a, amap[q] * n * k + i * k + p) * at(b, bmap[q] * k * m + p * m + j);
                CHECK_NEAR(at(c, q * n * m + i * m + j), s, 1e-5);
            }
}

TEST(batched_matmul_broadcasts_batch_dims) {
    int64_t sa[4] = {2, 1, 3, 4}, sb[3] = {3, 4, 2};
    gids_tensor *a = randn(GIDS_F32, 4, sa), *b = randn(GIDS_F32, 3, sb), *c = NULL;
    CHECK_OK(gids_matmul(&c, a, b));
    CHECK(c->ndim == 4 && c->shape[0] == 2 && c->shape[1] == 3 && c->shape[2] == 3 &&
          c->shape[3] == 2);
    int64_t amap[6] = {0, 0, 0, 1, 1, 1}, bmap[6] = {0, 1, 2, 0, 1, 2};
    check_batched(c, a, b, 6, amap, bmap);
    gids_tensor_release(c);
    /* 3-D @ 2-D folds into one product; a transposed batch cannot fold and loops */
    int64_t s3[3] = {4, 3, 5}, s2[2] = {5, 2};
    gids_tensor *x = randn(GIDS_F32, 3, s3), *w = randn(GIDS_F32, 2, s2), *xp = NULL;
    CHECK_OK(gids_matmul(&c, x, w));
    int64_t zero4[4] = {0, 0, 0, 0}, id4[4] = {0, 1, 2, 3};
    check_batched(c, x, w, 4, id4, zero4);
    gids_tensor_release(c);
    int perm[3] = {1, 0, 2};
    CHECK_OK(gids_permute(&xp, x, perm)); /* [3,4,5] with batch stride 5 */
    CHECK_OK(gids_matmul(&c, xp, w));
    gids_tensor *xpc = NULL;
    CHECK_OK(gids_contiguous(&xpc, xp));
    int64_t id3[3] = {0, 1, 2};
    check_batched(c, xpc, w, 3, id3, zero4);
    gids_tensor_release(c);
    /* 1-D on the left of a batch: [5] @ [4,5,2] -> [4,2] */
    int64_t s5 = 5, sbb[3] = {4, 5, 2};
    gids_tensor *v = randn(GIDS_F32, 1, &s5), *bb = randn(GIDS_F32, 3, sbb);
    CHECK_OK(gids_matmul(&c, v, bb));
    CHECK(c->ndim == 2 && c->shape[0] == 4 && c->shape[1] == 2);
    for (int q = 0; q < 4; q++)
        for (int j = 0; j < 2; j++) {
            double s = 0;
            for (int p = 0; p < 5; p++) s += at(v, p) * at(bb, q * 10 + p * 2 + j);
            CHECK_NEAR(at(c, q * 2 + j), s, 1e-5);
        }
    gids_tensor_release(c);
    CHECK_ERR(gids_bmm(&c, xp, xp), GIDS_ESHAPE, "inner dims 5 vs 4");
    gids_tensor *xt = NULL;
    CHECK_OK(gids_transpose(&xt, xp, 1, 2)); /* [3,5,4] */
    CHECK_OK(gids_bmm(&c, xp, xt));
    CHECK(c->shape[0] == 3 && c->shape[1] == 4 && c->shape[2] == 4);
    gids_tensor *xtc = NULL;
    CHECK_OK(gids_contiguous(&xtc, xt));
    check_batched(c, xpc, xtc, 3, id3, id3);
    gids_tensor_release(c);
    gids_tensor_release(xtc);
    gids_tensor_release(xt);
    gids_tensor_release(bb);
    gids_tensor_release(v);
    gids_tensor_release(xpc);
    gids_tensor_release(xp);
    gids_tensor_release(x);
    gids_tensor_release(w);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

TEST(addmm_scales_and_broadcasts_bias) {
    int64_t sa[2] = {2, 2}, sbias = 2;
    float av[4] = {1, 2, 3, 4}, bv[4] = {1, 0, 0, 1}, biasv[2] = {10, 20};
    gids_tensor *a = from(GIDS_F32, 2, sa, av), *b = from(GIDS_F32, 2, sa, bv);
    gids_tensor *bias = from(GIDS_F32, 1, &sbias, biasv), *c = NULL;
    CHECK_OK(gids_addmm(&c, bias, a, b, 0.5, 2.0));
    /* 0.5 * [10 20] + 2 * a */
    CHECK(at(c, 0) == 7 && at(c, 1) == 14 && at(c, 2) == 11 && at(c, 3) == 18);
    gids_tensor_release(c);
    /* beta = 0 ignores the bias, NaN included */
    float nanv[2] = {NAN, NAN};
    gids_tensor *nb = from(GIDS_F32, 1, &sbias, nanv);
    CHECK_OK(gids_addmm(&c, nb, a, b, 0.0, 1.0));
    CHECK(at(c, 0) == 1 && at(c, 3) == 4);
    gids_tensor_release(c);
    /* integer addmm needs integral coefficients */
    int64_t iv[4] = {1, 2, 3, 4}, ib[2] = {1, 1};
    gids_tensor *ia = from(GIDS_I64, 2, sa, iv), *ibias = from(GIDS_I64, 1, &sbias, ib);
    CHECK_OK(gids_addmm(&c, ibias, ia, ia, 3, 1));
    /* a @ a = [7 10; 15 22] */
    CHECK(at(c, 0) == 10 && at(c, 1) == 13 && at(c, 2) == 18 && at(c, 3) == 25);
    gids_tensor_release(c);
    CHECK_ERR(gids_addmm(&c, ibias, ia, ia, 0.5, 1), GIDS_EINVAL, "beta = 0.5 must be an integer");
    int64_t s3 = 3;
    float b3[3] = {1, 2, 3};
    gids_tensor *bad = from(GIDS_F32, 1, &s3, b3);
    CHECK_ERR(gids_addmm(&c, bad, a, b, 1, 1), GIDS_ESHAPE,
              "bias has shape [3], which does not broadcast to [2,2]");
    CHECK_ERR(gids_addmm(&c, ibias, a, b, 1, 1), GIDS_EDTYPE, "bias has dtype i64");
    CHECK(c == NULL);
    gids_tensor_release(bad);
    gids_tensor_release(ibias);
    gids_tensor_release(ia);
    gids_tensor_release(nb);
    gids_tensor_release(bias);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

TEST(empty_inner_dim_gives_zeros_or_scaled_bias) {
    int64_t sa[2] = {2, 0}, sb[2] = {0, 3}, sbias = 3;
    gids_tensor *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(gids_empty(&a, GIDS_F32, GIDS_DEVICE_CPU, 2, sa));
    CHECK_OK(gids_empty(&b, GIDS_F32, GIDS_DEVICE_CPU, 2, sb));
    CHECK_OK(gids_mm(&c, a, b));
    CHECK(c->shape[0] == 2 && c->shape[1] == 3);
    for (int i = 0; i < 6; i++) CHECK(at(c, i) == 0);
    gids_tensor_release(c);
    float bv[3] = {1, 2, 3};
    gids_tensor *bias = from(GIDS_F32, 1, &sbias, bv);
    CHECK_OK(gids_addmm(&c, bias, a, b, 2, 1));
    CHECK(at(c, 0) == 2 && at(c, 5) == 6);
    gids_tensor_release(c);
    int64_t s00[2] = {0, 4}, s04[2] = {4, 3};
    gids_tensor *e = NULL, *f = NULL;
    CHECK_OK(gids_empty(&e, GIDS_F32, GIDS_DEVICE_CPU, 2, s00));
    CHECK_OK(gids_empty(&f, GIDS_F32, GIDS_DEVICE_CPU, 2, s04));
    CHECK_OK(gids_mm(&c, e, f));
    CHECK(c->shape[0] == 0 && c->shape[1] == 3);
    gids_tensor_release(c);
    gids_tensor_release(e);
    gids_tensor_release(f);
    gids_tensor_release(bias);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

TEST(mm_into_writes_any_destination_layout) {
    int64_t sa[2] = {3, 4}, sb[2] = {4, 5}, sd[2] = {5, 3}, sw[2] = {3, 8};
    gids_tensor *a = randn(GIDS_F64, 2, sa), *b = randn(GIDS_F64, 2, sb);
    gids_tensor *dt = NULL, *d = NULL, *wide = NULL, *dn = NULL;
    /* column-major destination: the transpose of a contiguous [5,3] */
    CHECK_OK(gids_zeros(&dt, GIDS_F64, GIDS_DEVICE_CPU, 2, sd));
    CHECK_OK(gids_transpose(&d, dt, 0, 1));
    uint64_t v0 = d->storage->version;
    CHECK_OK(gids_mm_into(d, a, b));
    check_mm_ref(d, a, b, 1e-12);
    CHECK(d->storage->version > v0);
    /* a narrowed destination must leave its neighbours alone */
    CHECK_OK(gids_zeros(&wide, GIDS_F64, GIDS_DEVICE_CPU, 2, sw));
    CHECK_OK(gids_narrow(&dn, wide, 1, 2, 5));
    CHECK_OK(gids_mm_into(dn, a, b));
    check_mm_ref(dn, a, b, 1e-12);
    for (int i = 0; i < 3; i++) {
        CHECK(at(wide, i * 8 + 0) == 0 && at(wide, i * 8 + 1) == 0 && at(wide, i * 8 + 7) == 0);
    }
    /* destination aliasing an operand: computed into scratch first */
    int64_t sq[2] = {4, 4};
    gids_tensor *q = randn(GIDS_F64, 2, sq), *q0 = NULL, *qq = NULL;
    CHECK_OK(gids_clone(&q0, q));
    CHECK_OK(gids_mm(&qq, q0, q0));
    CHECK_OK(gids_mm_into(q, q, q));
    for (int i = 0; i < 16; i++) CHECK_NEAR(at(q, i), at(qq, i), 1e-12);
    int64_t bad[2] = {3, 4};
    gids_tensor *wrong = NULL, *wrongdt = NULL, *ex = NULL, *r1 = NULL;
    CHECK_OK(gids_zeros(&wrong, GIDS_F64, GIDS_DEVICE_CPU, 2, bad));
    CHECK_ERR(gids_mm_into(wrong, a, b), GIDS_ESHAPE, "dst has shape [3,4], expected [3,5]");
    CHECK_OK(gids_zeros(&wrongdt, GIDS_F32, GIDS_DEVICE_CPU, 2, bad));
    CHECK_ERR(gids_mm_into(wrongdt, a, b), GIDS_EDTYPE, "dst has dtype f32, expected f64");
    int64_t s15[2] = {1, 5}, s35[2] = {3, 5};
    CHECK_OK(gids_zeros(&r1, GIDS_F64, GIDS_DEVICE_CPU, 2, s15));
    CHECK_OK(gids_expand(&ex, r1, 2, s35));
    CHECK_ERR(gids_mm_into(ex, a, b), GIDS_EINVAL, "stride 0 in dim 0");
    gids_tensor_release(ex);
    gids_tensor_release(r1);
    gids_tensor_release(wrongdt);
    gids_tensor_release(wrong);
    gids_tensor_release(qq);
    gids_tensor_release(q0);
    gids_tensor_release(q);
    gids_tensor_release(dn);
    gids_tensor_release(wide);
    gids_tensor_release(d);
    gids_tensor_release(dt);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

TEST(errors_name_shapes_and_dtypes) {
    int64_t s25[2] = {2, 5}, s43[2] = {4, 3}, s3 = 3, s4 = 4;
    gids_tensor *a = randn(GIDS_F32, 2, s25), *b = randn(GIDS_F32, 2, s43), *c = NULL;
    CHECK_ERR(gids_matmul(&c, a, b), GIDS_ESHAPE,
              "matmul: arg 2 has shape [4,3], incompatible with arg 1 [2,5] (inner dims 5 vs 4)");
    CHECK_ERR(gids_mm(&c, a, b), GIDS_ESHAPE, "mm: arg 2 has shape [4,3]");
    gids_tensor *d = randn(GIDS_F64, 2, s43);
    CHECK_ERR(gids_mm(&c, b, d), GIDS_EDTYPE,
              "mm: arg 2 has dtype f64, expected the dtype of arg 1 (f32)");
    gids_tensor *v3 = randn(GIDS_F32, 1, &s3), *v4 = randn(GIDS_F32, 1, &s4);
    CHECK_ERR(gids_matmul(&c, v3, v4), GIDS_ESHAPE, "inner dims 3 vs 4");
    CHECK_ERR(gids_mm(&c, v3, b), GIDS_ESHAPE, "mm: arg 1 has shape [3], expected a 2-D tensor");
    gids_tensor *s = NULL, *bl = NULL;
    CHECK_OK(gids_full(&s, GIDS_F32, GIDS_DEVICE_CPU, 0, NULL, gids_scalar_f(1)));
    CHECK_ERR(gids_matmul(&c, s, b), GIDS_ESHAPE, "need at least 1 dim");
    CHECK_OK(gids_zeros(&bl, GIDS_BOOL, GIDS_DEVICE_CPU, 2, s43));
    CHECK_ERR(gids_matmul(&c, bl, bl), GIDS_EDTYPE, "arg 1 has dtype bool");
    int64_t b1[3] = {2, 3, 4}, b2[3] = {3, 4, 2};
    gids_tensor *x = randn(GIDS_F32, 3, b1), *y = randn(GIDS_F32, 3, b2);
    CHECK_ERR(gids_bmm(&c, x, y), GIDS_ESHAPE, "batch sizes 2 vs 3");
    CHECK_ERR(gids_matmul(&c, x, y), GIDS_ESHAPE, "batch dims of arg 1 [2,3,4] and arg 2 [3,4,2]");
    CHECK_ERR(gids_bmm(&c, a, a), GIDS_ESHAPE, "bmm: arg 1 has shape [2,5], expected a 3-D tensor");
    CHECK(c == NULL);
    gids_tensor_release(x);
    gids_tensor_release(y);
    gids_tensor_release(bl);
    gids_tensor_release(s);
    gids_tensor_release(v3);
    gids_tensor_release(v4);
    gids_tensor_release(d);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

/* With 1 and with 2 threads the product matches the reference, and two runs at one thread count
 * give the same bits.  Not the same bits across thread counts: OpenBLAS's threading rounds some
 * shapes per thread count, which docs/architecture.md ("Determinism") names as the exception;
 * this shape agreed with OpenBLAS's AVX-512 kernels and differed with its Haswell ones
 * (OPENBLAS_CORETYPE=Haswell, as one test machine's environment set). */
TEST(large_mm_matches_reference_and_is_reproducible_per_thread_count) {
    int64_t sa[2] = {130, 70}, sb[2] = {70, 90};
    gids_tensor *a = randn(GIDS_F32, 2, sa), *b = randn(GIDS_F32, 2, sb);
    int old = gids_get_num_threads();
    for (int nt = 1; nt <= 2; nt++) {
        gids_tensor *c1 = NULL, *c2 = NULL;
        gids_set_num_threads(nt);
        CHECK_OK(gids_mm(&c1, a, b));
        CHECK_OK(gids_mm(&c2, a, b));
        CHECK(memcmp(gids_tensor_data(c1), gids_tensor_data(c2), 130 * 90 * 4) == 0);
        check_mm_ref(c1, a, b, 1e-4);
        gids_tensor_release(c1);
        gids_tensor_release(c2);
    }
    gids_set_num_threads(old);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

/* A product small enough to run in row blocks on the runtime's threads (matmul.c's split),
 * with a transposed and narrowed A and a row count that is no multiple of the blocks: every
 * element as the naive sum, at 1 and 2 threads. */
TEST(row_blocks_of_a_small_product_match_the_reference) {
    int64_t sa[2] = {60, 301}, sb[2] = {60, 33};
    gids_tensor *full_a = randn(GIDS_F32, 2, sa), *b = randn(GIDS_F32, 2, sb), *at = NULL,
                *a = NULL;
    CHECK_OK(gids_transpose(&at, full_a, 0, 1)); /* [301, 60], column-major */
    CHECK_OK(gids_narrow(&a, at, 0, 3, 290));    /* rows 3..292 */
    int old = gids_get_num_threads();
    for (int nt = 1; nt <= 2; nt++) {
        gids_tensor *c = NULL, *ac = NULL;
        gids_set_num_threads(nt);
        CHECK_OK(gids_mm(&c, a, b));
        CHECK_OK(gids_contiguous(&ac, a));
        check_mm_ref(c, ac, b, 1e-4);
        gids_tensor_release(c);
        gids_tensor_release(ac);
    }
    gids_set_num_threads(old);
    gids_tensor_release(a), gids_tensor_release(at), gids_tensor_release(full_a);
    gids_tensor_release(b);
}

/* Threads that change the thread count while others multiply (the Lua states of an embedding
 * program): OpenBLAS's count is process state a GEMM reads as it runs, and each GEMM of its
 * OpenMP build resets it to the calling thread's setting; unguarded, about one product in ten
 * came out wrong, and some runs hung. */
enum { MT_THREADS = 4, MT_ROUNDS = 60 };
static gids_tensor *mt_a, *mt_b, *mt_ref;

static void *mt_worker(void *p) {
    long id = *(long *)p, bad = 0;
    for (int i = 0; i < MT_ROUNDS; i++) {
        gids_set_num_threads((int)((id + i) % 4) + 1);
        gids_tensor *c = NULL, *d = NULL, *mx = NULL;
        double v = 1;
        if (gids_matmul(&c, mt_a, mt_b) == GIDS_OK &&
            gids_binary(&d, GIDS_SUB, c, mt_ref) == GIDS_OK &&
            gids_unary_into(d, GIDS_ABS, d) == GIDS_OK &&
            gids_reduce(&mx, GIDS_AMAX, d, 0, NULL, false) == GIDS_OK)
            gids_tensor_get(mx, 0, &v);
        bad += v > 1e-9;
        gids_tensor_release(c);
        gids_tensor_release(d);
        gids_tensor_release(mx);
    }
    *(long *)p = bad;
    return NULL;
}

TEST(changing_thread_counts_never_disturb_other_threads_products) {
    int64_t sa[2] = {300, 200}, sb[2] = {200, 250};
    mt_a = randn(GIDS_F64, 2, sa), mt_b = randn(GIDS_F64, 2, sb);
    int old = gids_get_num_threads();
    gids_set_num_threads(1);
    CHECK_OK(gids_matmul(&mt_ref, mt_a, mt_b));
    pthread_t w[MT_THREADS];
    long arg[MT_THREADS];
    for (int i = 0; i < MT_THREADS; i++) {
        arg[i] = i;
        CHECK(pthread_create(&w[i], NULL, mt_worker, &arg[i]) == 0);
    }
    for (int i = 0; i < MT_THREADS; i++) {
        pthread_join(w[i], NULL);
        CHECK(arg[i] == 0); /* wrong products of thread i */
    }
    gids_set_num_threads(old);
    gids_tensor_release(mt_a);
    gids_tensor_release(mt_b);
    gids_tensor_release(mt_ref);
}

int main(void) {
    RUN(mm_matches_hand_computation);
    RUN(mm_takes_transposed_narrowed_and_expanded_views);
    RUN(integer_mm_is_exact_and_wraps_like_torch);
    RUN(matmul_vector_cases_follow_torch);
    RUN(batched_matmul_broadcasts_batch_dims);
    RUN(addmm_scales_and_broadcasts_bias);
    RUN(empty_inner_dim_gives_zeros_or_scaled_bias);
    RUN(mm_into_writes_any_destination_layout);
    RUN(errors_name_shapes_and_dtypes);
    RUN(large_mm_matches_reference_and_is_reproducible_per_thread_count);
    RUN(row_blocks_of_a_small_product_match_the_reference);
    RUN(changing_thread_counts_never_disturb_other_threads_products);
    return check_summary("matmul");
}
