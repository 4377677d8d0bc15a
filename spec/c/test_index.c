/* test_index.c -- index_select, gather, scatter family, index_add, masked ops, nonzero and
 * int_range:
 * values against hand computation, strided inputs, determinism and every error path. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

TEST(index_select_picks_rows_and_columns) {
    gids_tensor *a = arange2(GIDS_F32, 3, 4), *r = NULL, *at_ = NULL;
    int64_t iv[3] = {2, 0, 2}, n3 = 3;
    gids_tensor *idx = from(GIDS_I64, 1, &n3, iv);
    CHECK_OK(gids_index_select(&r, a, 0, idx));
    double w0[12] = {8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11};
    check_values(r, 12, w0);
    gids_tensor_release(r);
    int32_t jv[2] = {3, 1};
    int64_t n2 = 2;
    gids_tensor *jdx = from(GIDS_I32, 1, &n2, jv);
    CHECK_OK(gids_index_select(&r, a, -1, jdx));
    double w1[6] = {3, 1, 7, 5, 11, 9};
    CHECK(r->shape[0] == 3 && r->shape[1] == 2);
    check_values(r, 6, w1);
    gids_tensor_release(r);
    /* a transposed input: rows of a^T are columns of a */
    CHECK_OK(gids_transpose(&at_, a, 0, 1));
    CHECK_OK(gids_index_select(&r, at_, 0, jdx));
    double w2[6] = {3, 7, 11, 1, 5, 9};
    check_values(r, 6, w2);
    gids_tensor_release(r);
    int64_t bad[3] = {0, 7, 1};
    gids_tensor *bidx = from(GIDS_I64, 1, &n3, bad);
    CHECK_ERR(gids_index_select(&r, a, 0, bidx), GIDS_EINDEX,
              "index_select: index 7 out of range [0, 3) at position 1");
    int64_t neg[3] = {0, 1, -1};
    gids_tensor *nidx = from(GIDS_I64, 1, &n3, neg);
    CHECK_ERR(gids_index_select(&r, a, 0, nidx), GIDS_EINDEX,
              "index -1 out of range [0, 3) at position 2");
    CHECK_ERR(gids_index_select(&r, a, 2, idx), GIDS_EINDEX, "dim 2 out of range");
    gids_tensor *fidx = NULL;
    CHECK_OK(gids_zeros(&fidx, GIDS_F32, GIDS_DEVICE_CPU, 1, &n3));
    CHECK_ERR(gids_index_select(&r, a, 0, fidx), GIDS_EDTYPE, "index");
    CHECK_ERR(gids_index_select(&r, a, 0, a), GIDS_ESHAPE, "index has shape [3,4], expected 1-D");
    CHECK(r == NULL);
    gids_tensor_release(fidx);
    gids_tensor_release(nidx);
    gids_tensor_release(bidx);
    gids_tensor_release(jdx);
    gids_tensor_release(idx);
    gids_tensor_release(at_);
    gids_tensor_release(a);
}

/* Few indices along the last dim of many rows, the shape of selecting a matrix's columns: the
 * chunk walks block after block of the input (a row of 1, 2, 4 and 8 bytes, the 2 as u8 pairs),
 * the first chunk edge (16385 output rows, 4096 * 4 bytes / row + 1, for the 4-byte rows) falls
 * inside a block's indices, an index repeats; one index; no index (an empty result); no rows. */
TEST(index_select_few_indices_along_many_rows) {
    const gids_dtype dts[4] = {GIDS_U8, GIDS_U8, GIDS_F32, GIDS_I64};
    const int64_t inners[4] = {1, 2, 1, 1};
    const int64_t picks[3] = {6, 0, 6};
    enum { O = 9000, S = 7 };
    for (int k = 0; k < 4; k++)
        for (int64_t n = 0; n <= 3; n += n == 1 ? 2 : 1) {
            int64_t shape[3] = {O, S, inners[k]}, nn = n;
            gids_tensor *a = NULL, *r = NULL, *idx = NULL;
            CHECK_OK(gids_empty(&a, dts[k], GIDS_DEVICE_CPU, 3, shape));
            CHECK_OK(gids_empty(&idx, GIDS_I64, GIDS_DEVICE_CPU, 1, &nn));
            if (n > 0) memcpy(gids_tensor_data(idx), picks, (size_t)n * sizeof(int64_t));
            size_t row = (size_t)inners[k] * gids_dtype_size(dts[k]);
            unsigned char *ap = gids_tensor_data(a);
            for (size_t b = 0; b < O * S * row; b++) ap[b] = (unsigned char)(b * 131 + b / 251);
            CHECK_OK(gids_index_select(&r, a, 1, idx));
            CHECK(r->ndim == 3 && r->shape[0] == O && r->shape[1] == n && r->shape[2] == inners[k]);
            const unsigned char *rp = gids_tensor_data(r);
            for (int64_t o = 0; o < O; o++)
                for (int64_t l = 0; l < n; l++)
                    if (memcmp(rp + ((size_t)(o * n + l)) * row,
                               ap + ((size_t)(o * S + picks[l])) * row, row) != 0) {
                        CHECK_FAIL_("%s, %lld bytes a row, %lld indices: output row (%lld, %lld) "
                                    "is not input row (%lld, %lld)",
                                    gids_dtype_name(dts[k]), (long long)row, (long long)n,
                                    (long long)o, (long long)l, (long long)o, (long long)picks[l]);
                        o = O;
                        break;
                    }
            gids_tensor_release(r), gids_tensor_release(a);
            /* and no rows: [0, S] gives [0, n] */
            int64_t none[2] = {0, S};
            CHECK_OK(gids_empty(&a, dts[k], GIDS_DEVICE_CPU, 2, none));
            CHECK_OK(gids_index_select(&r, a, 1, idx));
            CHECK(r->ndim == 2 && r->shape[0] == 0 && r->shape[1] == n);
            gids_tensor_release(r), gids_tensor_release(a), gids_tensor_release(idx);
        }
}

/* Every row width (one element of 1, 4 and 8 bytes; three f32s through memcpy) along the
 * middle dim of [3, 50, inner], with enough indices that the rows split into several chunks
 * whose edges fall inside an outer index: each output row is the input row its index names. */
TEST(index_select_rows_of_every_width_across_chunks) {
    const gids_dtype dts[4] = {GIDS_U8, GIDS_I32, GIDS_F64, GIDS_F32};
    const int64_t inners[4] = {1, 1, 1, 3};
    enum { O = 3, S = 50, N = 7001 };
    int64_t *iv = malloc(sizeof(int64_t) * N);
    for (int i = 0; i < N; i++) iv[i] = (i * 37 + i / 7) % S;
    int64_t n = N;
    gids_tensor *idx = from(GIDS_I64, 1, &n, iv);
    for (int k = 0; k < 4; k++) {
        int64_t shape[3] = {O, S, inners[k]};
        gids_tensor *a = NULL, *r = NULL;
        CHECK_OK(gids_empty(&a, dts[k], GIDS_DEVICE_CPU, 3, shape));
        size_t row = (size_t)inners[k] * gids_dtype_size(dts[k]);
        unsigned char *ap = gids_tensor_data(a);
        for (size_t b = 0; b < O * S * row; b++) ap[b] = (unsigned char)(b * 131 + b / 251);
        CHECK_OK(gids_index_select(&r, a, 1, idx));
        CHECK(r->shape[0] == O && r->shape[1] == N && r->shape[2] == inners[k]);
        const unsigned char *rp = gids_tensor_data(r);
        for (int o = 0; o < O; o++)
            for (int l = 0; l < N; l++)
                if (memcmp(rp + ((size_t)o * N + l) * row, ap + ((size_t)o * S + iv[l]) * row,
                           row) != 0) {
                    CHECK_FAIL_("%s inner %lld: output row (%d, %d) is not input row (%d, %lld)",
                                gids_dtype_name(dts[k]), (long long)inners[k], o, l, o,
                                (long long)iv[l]);
                    o = O;
                    break;
                }
        gids_tensor_release(r);
        gids_tensor_release(a);
    }
    gids_tensor_release(idx);
    free(iv);
}

TEST(gather_follows_torch) {
    /* torch.gather([[1,2],[3,4]], 1, [[0,0],[1,0]]) = [[1,1],[4,3]] */
    float av[4] = {1, 2, 3, 4};
    int64_t s22[2] = {2, 2}, iv[4] = {0, 0, 1, 0};
    gids_tensor *a = from(GIDS_F32, 2, s22, av), *idx = from(GIDS_I64, 2, s22, iv), *r = NULL;
    CHECK_OK(gids_gather(&r, a, 1, idx));
    double w[4] = {1, 1, 4, 3};
    check_values(r, 4, w);
    gids_tensor_release(r);
    /* dim 0, smaller index than input: out[i][j] = a[idx[i][j]][j] */
    gids_tensor *b = arange2(GIDS_I64, 3, 3), *bt = NULL;
    int64_t s12[2] = {1, 2}, jv[2] = {2, 1};
    gids_tensor *jdx = from(GIDS_I64, 2, s12, jv);
    CHECK_OK(gids_gather(&r, b, 0, jdx));
    double w2[2] = {6, 4};
    check_values(r, 2, w2);
    gids_tensor_release(r);
    CHECK_OK(gids_transpose(&bt, b, 0, 1)); /* bt[i][j] = b[j][i] */
    CHECK_OK(gids_gather(&r, bt, 0, jdx));
    double w3[2] = {2, 4};
    check_values(r, 2, w3);
    gids_tensor_release(r);
    int64_t bad[4] = {0, 2, 1, 0};
    gids_tensor *bidx = from(GIDS_I64, 2, s22, bad);
    CHECK_ERR(gids_gather(&r, a, 1, bidx), GIDS_EINDEX,
              "gather: index 2 out of range [0, 2) at position [0,1]");
    int64_t s3 = 3;
    gids_tensor *v = from(GIDS_I64, 1, &s3, bad);
    CHECK_ERR(gids_gather(&r, a, 0, v), GIDS_ESHAPE, "expected 2 dims");
    int64_t s23[2] = {2, 3}, z6[6] = {0};
    gids_tensor *wide = from(GIDS_I64, 2, s23, z6);
    CHECK_ERR(gids_gather(&r, a, 0, wide), GIDS_ESHAPE,
              "index has shape [2,3], larger than the input [2,2] outside the gather dim");
    CHECK(r == NULL);
    gids_tensor_release(wide);
    gids_tensor_release(v);
    gids_tensor_release(bidx);
    gids_tensor_release(bt);
    gids_tensor_release(jdx);
    gids_tensor_release(b);
    gids_tensor_release(idx);
    gids_tensor_release(a);
}

TEST(scatter_writes_and_adds_in_index_order) {
    /* torch: zeros(3,4).scatter_(0, [[0,1,2,0]], [[1,2,3,4]]) */
    int64_t s34[2] = {3, 4}, s14[2] = {1, 4}, iv[4] = {0, 1, 2, 0};
    float sv[4] = {1, 2, 3, 4};
    gids_tensor *self = NULL, *idx = from(GIDS_I64, 2, s14, iv), *src = from(GIDS_F32, 2, s14, sv);
    CHECK_OK(gids_zeros(&self, GIDS_F32, GIDS_DEVICE_CPU, 2, s34));
    uint64_t v0 = self->storage->version;
    CHECK_OK(gids_scatter_(self, 0, idx, src));
    CHECK(self->storage->version > v0);
    double w[12] = {1, 0, 0, 4, 0, 2, 0, 0, 0, 0, 3, 0};
    check_values(self, 12, w);
    CHECK_OK(gids_scatter_scalar_(self, 0, idx, gids_scalar_f(-1.5)));
    double w2[12] = {-1.5, 0, 0, -1.5, 0, -1.5, 0, 0, 0, 0, -1.5, 0};
    check_values(self, 12, w2);
    /* duplicates: scatter_add sums, scatter keeps the last */
    int64_t s5 = 5, dv[5] = {1, 1, 0, 1, 3}, s4 = 4;
    float ev[5] = {1, 2, 3, 4, 5};
    gids_tensor *d = from(GIDS_I64, 1, &s5, dv), *e = from(GIDS_F32, 1, &s5, ev), *z = NULL,
                *r = NULL;
    CHECK_OK(gids_zeros(&z, GIDS_F32, GIDS_DEVICE_CPU, 1, &s4));
    CHECK_OK(gids_scatter_add(&r, z, 0, d, e));
    double w3[4] = {3, 7, 0, 5};
    check_values(r, 4, w3);
    check_values(z, 4, (double[4]){0, 0, 0, 0}); /* out-of-place leaves self alone */
    gids_tensor_release(r);
    CHECK_OK(gids_scatter(&r, z, 0, d, e));
    double w4[4] = {3, 4, 0, 5};
    check_values(r, 4, w4);
    gids_tensor_release(r);
    /* a transposed (strided) target */
    gids_tensor *base = NULL, *tt = NULL;
    int64_t s43[2] = {4, 3};
    CHECK_OK(gids_zeros(&base, GIDS_F32, GIDS_DEVICE_CPU, 2, s43));
    CHECK_OK(gids_transpose(&tt, base, 0, 1)); /* [3,4] view */
    CHECK_OK(gids_scatter_add_(tt, 0, idx, src));
    CHECK_OK(gids_scatter_add_(tt, 0, idx, src));
    /* tt[0][0] = 2, tt[1][1] = 4, tt[2][2] = 6, tt[0][3] = 8; base is tt^T */
    CHECK(at(base, 0) == 2 && at(base, 4) == 4 && at(base, 8) == 6 && at(base, 9) == 8);
    /* integer scatter_add */
    int64_t ones5[5] = {1, 1, 1, 1, 1};
    gids_tensor *o = from(GIDS_I64, 1, &s5, ones5), *cnt = NULL;
    CHECK_OK(gids_zeros(&cnt, GIDS_I64, GIDS_DEVICE_CPU, 1, &s4));
    CHECK_OK(gids_scatter_add_(cnt, 0, d, o));
    check_values(cnt, 4, (double[4]){1, 3, 0, 1});
    gids_tensor_release(cnt);
    gids_tensor_release(o);
    gids_tensor_release(tt);
    gids_tensor_release(base);
    gids_tensor_release(z);
    gids_tensor_release(e);
    gids_tensor_release(d);
    gids_tensor_release(src);
    gids_tensor_release(idx);
    gids_tensor_release(self);
}

TEST(scatter_errors_leave_the_target_untouched) {
    int64_t s23[2] = {2, 3}, s13[2] = {1, 3}, bad[3] = {0, 5, 1};
    float sv[3] = {1, 2, 3};
    gids_tensor *self = NULL, *idx = from(GIDS_I64, 2, s13, bad), *src = from(GIDS_F32, 2, s13, sv);
    CHECK_OK(gids_zeros(&self, GIDS_F32, GIDS_DEVICE_CPU, 2, s23));
    CHECK_ERR(gids_scatter_(self, 0, idx, src), GIDS_EINDEX,
              "scatter_: index 5 out of range [0, 2) at position [0,1]");
    CHECK_ERR(gids_scatter_add_(self, 0, idx, src), GIDS_EINDEX, "scatter_add_: index 5");
    for (int i = 0; i < 6; i++) CHECK(at(self, i) == 0);
    int64_t ok[3] = {0, 1, 1};
    gids_tensor *good = from(GIDS_I64, 2, s13, ok), *srcd = NULL, *ex = NULL, *one = NULL;
    CHECK_OK(gids_zeros(&srcd, GIDS_F64, GIDS_DEVICE_CPU, 2, s13));
    CHECK_ERR(gids_scatter_(self, 0, good, srcd), GIDS_EDTYPE,
              "scatter_: src has dtype f64, expected the dtype of self (f32)");
    int64_t s3 = 3;
    gids_tensor *flat = from(GIDS_I64, 1, &s3, ok);
    CHECK_ERR(gids_scatter_(self, 0, flat, src), GIDS_ESHAPE,
              "index has shape [3], expected 2 dims");
    int64_t s14[2] = {1, 4}, i4[4] = {0, 0, 0, 0};
    gids_tensor *wide = from(GIDS_I64, 2, s14, i4);
    CHECK_ERR(gids_scatter_(self, 0, wide, src), GIDS_ESHAPE,
              "index has shape [1,4], larger than self [2,3] outside the scatter dim");
    int64_t s12[2] = {1, 2};
    gids_tensor *small = NULL;
    CHECK_OK(gids_zeros(&small, GIDS_F32, GIDS_DEVICE_CPU, 2, s12));
    CHECK_ERR(gids_scatter_(self, 0, good, small), GIDS_ESHAPE,
              "index has shape [1,3], larger than src [1,2]");
    CHECK_OK(gids_zeros(&one, GIDS_F32, GIDS_DEVICE_CPU, 2, s13));
    CHECK_OK(gids_expand(&ex, one, 2, s23));
    CHECK_ERR(gids_scatter_add_(ex, 0, good, src), GIDS_EINVAL,
              "the target of shape [2,3] is expanded (stride 0 over a dim of size 2)");
    gids_tensor_release(ex);
    gids_tensor_release(one);
    gids_tensor_release(small);
    gids_tensor_release(wide);
    gids_tensor_release(flat);
    gids_tensor_release(srcd);
    gids_tensor_release(good);
    gids_tensor_release(src);
    gids_tensor_release(idx);
    gids_tensor_release(self);
}

TEST(index_add_accumulates_rows_with_alpha) {
    /* zeros(3,2).index_add_(0, [0,2,0], [[1,2],[3,4],[5,6]], alpha=2) = [[12,16],[0,0],[6,8]] */
    int64_t s32[2] = {3, 2}, s3 = 3, iv[3] = {0, 2, 0};
    float sv[6] = {1, 2, 3, 4, 5, 6};
    gids_tensor *self = NULL, *idx = from(GIDS_I64, 1, &s3, iv), *src = from(GIDS_F32, 2, s32, sv);
    CHECK_OK(gids_zeros(&self, GIDS_F32, GIDS_DEVICE_CPU, 2, s32));
    CHECK_OK(gids_index_add_(self, 0, idx, src, 2.0));
    check_values(self, 6, (double[6]){12, 16, 0, 0, 6, 8});
    /* along dim 1 with a transposed src: self [2,3] += src^T columns */
    gids_tensor *srct = NULL, *r = NULL, *z = NULL;
    int64_t s23[2] = {2, 3};
    CHECK_OK(gids_transpose(&srct, src, 0, 1)); /* [[1,3,5],[2,4,6]] */
    CHECK_OK(gids_zeros(&z, GIDS_F32, GIDS_DEVICE_CPU, 2, s23));
    int64_t jv[3] = {2, 2, 1};
    gids_tensor *jdx = from(GIDS_I64, 1, &s3, jv);
    CHECK_OK(gids_index_add(&r, z, 1, jdx, srct, 1.0));
    check_values(r, 6, (double[6]){0, 5, 4, 0, 6, 6});
    gids_tensor_release(r);
    int64_t bad[3] = {0, 3, 0};
    gids_tensor *bidx = from(GIDS_I64, 1, &s3, bad);
    CHECK_ERR(gids_index_add_(self, 0, bidx, src, 1), GIDS_EINDEX,
              "index_add_: index 3 out of range [0, 3) at position 1");
    CHECK_ERR(gids_index_add_(self, 1, idx, src, 1), GIDS_ESHAPE,
              "src has shape [3,2], expected [3,3] (self [3,2] with 3 indices)");
    gids_tensor *iself = NULL, *isrc = NULL;
    CHECK_OK(gids_zeros(&iself, GIDS_I64, GIDS_DEVICE_CPU, 2, s32));
    CHECK_OK(gids_ones(&isrc, GIDS_I64, GIDS_DEVICE_CPU, 2, s32));
    CHECK_ERR(gids_index_add_(iself, 0, idx, isrc, 0.5), GIDS_EINVAL,
              "alpha = 0.5 must be an integer");
    CHECK_OK(gids_index_add_(iself, 0, idx, isrc, 3));
    check_values(iself, 6, (double[6]){6, 6, 0, 0, 3, 3});
    CHECK_ERR(gids_index_add_(self, 0, idx, isrc, 1), GIDS_EDTYPE, "src has dtype i64");
    gids_tensor_release(isrc);
    gids_tensor_release(iself);
    gids_tensor_release(bidx);
    gids_tensor_release(jdx);
    gids_tensor_release(z);
    gids_tensor_release(srct);
    gids_tensor_release(src);
    gids_tensor_release(idx);
    gids_tensor_release(self);
}

/* Large scatter_add / index_add with many duplicates: bit-identical for 1 and 2 threads. */
TEST(accumulation_is_deterministic_across_thread_counts) {
    int64_t n = 200000, f = 3, segs = 17;
    int64_t sh[2] = {n, f};
    gids_tensor *src = NULL, *idx1 = NULL, *idx = NULL, *idxe = NULL;
    CHECK_OK(gids_randn(&src, NULL, GIDS_F32, 2, sh));
    CHECK_OK(gids_randint(&idx1, NULL, GIDS_I64, 0, segs, 1, &n));
    int64_t col[2] = {n, 1};
    CHECK_OK(gids_view(&idx, idx1, 2, col));
    CHECK_OK(gids_expand(&idxe, idx, 2, sh));
    gids_tensor *out[2] = {NULL, NULL}, *out2[2] = {NULL, NULL};
    int64_t osh[2] = {segs, f};
    for (int k = 0; k < 2; k++) {
        gids_set_num_threads(k + 1);
        CHECK_OK(gids_zeros(&out[k], GIDS_F32, GIDS_DEVICE_CPU, 2, osh));
        CHECK_OK(gids_scatter_add_(out[k], 0, idxe, src));
        CHECK_OK(gids_zeros(&out2[k], GIDS_F32, GIDS_DEVICE_CPU, 2, osh));
        CHECK_OK(gids_index_add_(out2[k], 0, idx1, src, 1.0));
    }
    CHECK(memcmp(gids_tensor_data(out[0]), gids_tensor_data(out[1]), (size_t)(segs * f * 4)) == 0);
    CHECK(memcmp(gids_tensor_data(out[0]), gids_tensor_data(out2[1]), (size_t)(segs * f * 4)) == 0);
    /* against a double-precision sum */
    double ref[17 * 3] = {0};
    for (int64_t i = 0; i < n; i++) {
        int64_t s = 0;
        CHECK_OK(gids_tensor_get_i64(idx1, i, &s));
        for (int64_t j = 0; j < f; j++) ref[s * f + j] += at(src, i * f + j);
    }
    for (int i = 0; i < segs * f; i++) CHECK_NEAR(at(out[0], i), ref[i], 1e-3);
    for (int k = 0; k < 2; k++) {
        gids_tensor_release(out[k]);
        gids_tensor_release(out2[k]);
    }
    gids_tensor_release(idxe);
    gids_tensor_release(idx);
    gids_tensor_release(idx1);
    gids_tensor_release(src);
}

TEST(masked_fill_and_select_broadcast_the_mask) {
    gids_tensor *a = arange2(GIDS_F32, 2, 3), *m = NULL, *r = NULL;
    int64_t s3 = 3;
    bool mv[3] = {true, false, true};
    m = from(GIDS_BOOL, 1, &s3, mv);
    CHECK_OK(gids_masked_fill(&r, a, m, gids_scalar_f(-1)));
    check_values(r, 6, (double[6]){-1, 1, -1, -1, 4, -1});
    gids_tensor_release(r);
    CHECK_OK(gids_masked_select(&r, a, m));
    check_values(r, 4, (double[4]){0, 2, 3, 5});
    gids_tensor_release(r);
    /* transposed input: a^T is [3,2]; a column mask [3,1] selects whole rows of a^T */
    gids_tensor *at_ = NULL, *mc = NULL;
    int64_t s31[2] = {3, 1};
    CHECK_OK(gids_view(&mc, m, 2, s31));
    CHECK_OK(gids_transpose(&at_, a, 0, 1));
    CHECK_OK(gids_masked_select(&r, at_, mc));
    check_values(r, 4, (double[4]){0, 3, 2, 5});
    gids_tensor_release(r);
    /* the out-of-place fill takes the broadcast shape */
    int64_t s1 = 1;
    float one = 7;
    gids_tensor *sc = from(GIDS_F32, 1, &s1, &one);
    CHECK_OK(gids_masked_fill(&r, sc, m, gids_scalar_i(0)));
    check_values(r, 3, (double[3]){0, 7, 0});
    gids_tensor_release(r);
    /* in place on an integer tensor with an exact i64 value, u8 mask */
    int64_t s2 = 2;
    int64_t iv[2] = {1, 2};
    uint8_t um[2] = {0, 3};
    gids_tensor *it = from(GIDS_I64, 1, &s2, iv), *u = from(GIDS_U8, 1, &s2, um);
    CHECK_OK(gids_masked_fill_(it, u, gids_scalar_i(INT64_C(4611686018427387905))));
    int64_t got = 0;
    CHECK_OK(gids_tensor_get_i64(it, 1, &got));
    CHECK(got == INT64_C(4611686018427387905) && at(it, 0) == 1);
    int64_t s4 = 4;
    gids_tensor *m4 = NULL, *fm = NULL;
    CHECK_OK(gids_zeros(&m4, GIDS_BOOL, GIDS_DEVICE_CPU, 1, &s4));
    CHECK_ERR(gids_masked_fill_(a, m4, gids_scalar_f(0)), GIDS_ESHAPE,
              "masked_fill_: mask of shape [4] does not broadcast to self [2,3]");
    gids_tensor *m23 = NULL;
    int64_t s23[2] = {2, 3};
    CHECK_OK(gids_zeros(&m23, GIDS_BOOL, GIDS_DEVICE_CPU, 2, s23));
    CHECK_ERR(gids_masked_fill_(sc, m23, gids_scalar_f(0)), GIDS_ESHAPE,
              "does not broadcast to self [1]");
    CHECK_OK(gids_zeros(&fm, GIDS_F32, GIDS_DEVICE_CPU, 1, &s3));
    CHECK_ERR(gids_masked_select(&r, a, fm), GIDS_EDTYPE, "mask has dtype f32, expected bool");
    CHECK_ERR(gids_masked_select(&r, a, m4), GIDS_ESHAPE, "masked_select");
    CHECK(r == NULL);
    gids_tensor_release(m23);
    gids_tensor_release(fm);
    gids_tensor_release(m4);
    gids_tensor_release(u);
    gids_tensor_release(it);
    gids_tensor_release(sc);
    gids_tensor_release(at_);
    gids_tensor_release(mc);
    gids_tensor_release(m);
    gids_tensor_release(a);
}

TEST(int_range_gives_the_least_and_greatest_value) {
    int64_t v[6] = {4, -7, 9, 0, 9, 2}, s23[2] = {2, 3}, lo = 1, hi = 1;
    gids_tensor *a = from(GIDS_I64, 2, s23, v), *t = NULL, *c = NULL, *e = NULL, *f = NULL;
    CHECK_OK(gids_int_range(a, &lo, &hi));
    CHECK(lo == -7 && hi == 9);
    CHECK_OK(gids_transpose(&t, a, 0, 1)); /* strided */
    CHECK_OK(gids_int_range(t, &lo, &hi));
    CHECK(lo == -7 && hi == 9);
    CHECK_OK(gids_to_dtype(&c, a, GIDS_I32));
    CHECK_OK(gids_int_range(c, &lo, &hi));
    CHECK(lo == -7 && hi == 9);
    int64_t zero = 0;
    CHECK_OK(gids_empty(&e, GIDS_I64, GIDS_DEVICE_CPU, 1, &zero));
    CHECK_OK(gids_int_range(e, &lo, &hi));
    CHECK(lo == 0 && hi == -1); /* an empty range */
    CHECK_OK(gids_to_dtype(&f, a, GIDS_F32));
    CHECK_ERR(gids_int_range(f, &lo, &hi), GIDS_EDTYPE,
              "int_range: input must be an i64 or i32 index tensor, got f32");
    CHECK_ERR(gids_int_range(a, NULL, &hi), GIDS_EINVAL, "must not be NULL");
    gids_tensor_release(f);
    gids_tensor_release(e);
    gids_tensor_release(c);
    gids_tensor_release(t);
    gids_tensor_release(a);
}

TEST(nonzero_lists_coordinates_in_row_major_order) {
    float v[6] = {0, 1.5f, 0, NAN, -2, 0};
    int64_t s23[2] = {2, 3};
    gids_tensor *a = from(GIDS_F32, 2, s23, v), *r = NULL, *t = NULL;
    CHECK_OK(gids_nonzero(&r, a));
    CHECK(r->dtype == GIDS_I64 && r->shape[0] == 3 && r->shape[1] == 2);
    check_values(r, 6, (double[6]){0, 1, 1, 0, 1, 1});
    gids_tensor_release(r);
    CHECK_OK(gids_transpose(&t, a, 0, 1)); /* [[0,nan],[1.5,-2],[0,0]] */
    CHECK_OK(gids_nonzero(&r, t));
    check_values(r, 6, (double[6]){0, 1, 1, 0, 1, 1});
    gids_tensor_release(r);
    gids_tensor *z = NULL;
    CHECK_OK(gids_zeros(&z, GIDS_I32, GIDS_DEVICE_CPU, 2, s23));
    CHECK_OK(gids_nonzero(&r, z));
    CHECK(r->shape[0] == 0 && r->shape[1] == 2);
    gids_tensor_release(r);
    /* a long input crosses many chunks; counts must still line up */
    int64_t n = 100003;
    gids_tensor *big = NULL, *m = NULL, *ms = NULL;
    CHECK_OK(gids_arange(&big, GIDS_I64, gids_scalar_i(0), gids_scalar_i(n), gids_scalar_i(1)));
    CHECK_OK(gids_binary_scalar(&m, GIDS_FMOD, big, gids_scalar_i(7), false));
    CHECK_OK(gids_nonzero(&r, m));
    int64_t want = n - (n + 6) / 7;
    CHECK(r->shape[0] == want);
    int64_t last = 0;
    CHECK_OK(gids_tensor_get_i64(r, want - 1, &last));
    CHECK(last == 100001); /* 100002 = 7 * 14286 */
    CHECK_OK(gids_binary_scalar(&ms, GIDS_EQ, m, gids_scalar_i(0), false));
    gids_tensor *sel = NULL;
    CHECK_OK(gids_masked_select(&sel, big, ms));
    CHECK(sel->shape[0] == (n + 6) / 7);
    CHECK(at(sel, 1) == 7 && at(sel, sel->shape[0] - 1) == 100002 - 100002 % 7);
    gids_tensor_release(sel);
    gids_tensor_release(ms);
    gids_tensor_release(r);
    gids_tensor_release(m);
    gids_tensor_release(big);
    gids_tensor_release(z);
    gids_tensor_release(t);
    gids_tensor_release(a);
}

int main(void) {
    RUN(index_select_picks_rows_and_columns);
    RUN(index_select_rows_of_every_width_across_chunks);
    RUN(index_select_few_indices_along_many_rows);
    RUN(gather_follows_torch);
    RUN(scatter_writes_and_adds_in_index_order);
    RUN(scatter_errors_leave_the_target_untouched);
    RUN(index_add_accumulates_rows_with_alpha);
    RUN(accumulation_is_deterministic_across_thread_counts);
    RUN(masked_fill_and_select_broadcast_the_mask);
    RUN(nonzero_lists_coordinates_in_row_major_order);
    RUN(int_range_gives_the_least_and_greatest_value);
    return check_summary("index");
}
