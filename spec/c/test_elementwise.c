/* test_elementwise.c -- binary, unary and parameterised elementwise ops: values against hand
 * computation and libm, dtype promotion, broadcasting, strided inputs, in-place aliasing and
 * every error path. */
#include <float.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "helpers.h"

/* ---------------------------------------------------------------- binary */
TEST(add_broadcasts_column_against_row) {
    int64_t s31[2] = {3, 1}, s4 = 4;
    float cv[3] = {10, 20, 30}, rv[4] = {1, 2, 3, 4};
    gids_tensor *c = from(GIDS_F32, 2, s31, cv), *r = from(GIDS_F32, 1, &s4, rv), *o = NULL;
    CHECK_OK(gids_binary(&o, GIDS_ADD, c, r));
    int64_t want_shape[2] = {3, 4};
    check_shape(o, 2, want_shape);
    double w[12] = {11, 12, 13, 14, 21, 22, 23, 24, 31, 32, 33, 34};
    check_values(o, 12, w);
    CHECK(o->dtype == GIDS_F32);
    gids_tensor_release(o);
    /* argument order only changes the operand roles */
    CHECK_OK(gids_binary(&o, GIDS_SUB, r, c));
    double ws[12] = {-9, -8, -7, -6, -19, -18, -17, -16, -29, -28, -27, -26};
    check_values(o, 12, ws);
    gids_tensor_release(o);
    gids_tensor_release(c);
    gids_tensor_release(r);
}

TEST(binary_reads_strided_inputs) {
    gids_tensor *a = arange2(GIDS_F64, 3, 4), *t = NULL, *n = NULL, *b = NULL, *o = NULL;
    int64_t s43[2] = {4, 3};
    /* a^T + a^T * 10 over a transposed view */
    CHECK_OK(gids_transpose(&t, a, 0, 1));
    CHECK_OK(gids_binary_scalar(&b, GIDS_MUL, t, gids_scalar_i(10), false));
    CHECK_OK(gids_binary(&o, GIDS_ADD, t, b));
    check_shape(o, 2, s43);
    double w[12] = {0, 44, 88, 11, 55, 99, 22, 66, 110, 33, 77, 121};
    check_values(o, 12, w);
    gids_tensor_release(o);
    /* narrowed columns 1..2 of a, times an expanded row */
    int64_t s1[2] = {1, 2}, e32[2] = {3, 2};
    double rv[2] = {2, -1};
    gids_tensor *row = from(GIDS_F64, 2, s1, rv), *ex = NULL;
    CHECK_OK(gids_expand(&ex, row, 2, e32));
    CHECK_OK(gids_narrow(&n, a, 1, 1, 2));
    CHECK_OK(gids_binary(&o, GIDS_MUL, n, ex));
    double w2[6] = {2, -2, 10, -6, 18, -10};
    check_values(o, 6, w2);
    gids_tensor_release(o);
    gids_tensor_release(ex);
    gids_tensor_release(row);
    gids_tensor_release(n);
    gids_tensor_release(b);
    gids_tensor_release(t);
    gids_tensor_release(a);
}

TEST(promotion_follows_torch) {
    int64_t s2 = 2;
    int64_t iv[2] = {3, -4};
    int32_t i32v[2] = {7, 8};
    float fv[2] = {0.5f, 1.5f};
    gids_tensor *i = from(GIDS_I64, 1, &s2, iv), *i32 = from(GIDS_I32, 1, &s2, i32v);
    gids_tensor *f = from(GIDS_F32, 1, &s2, fv), *o = NULL, *z = NULL;
    CHECK_OK(gids_binary(&o, GIDS_ADD, i, f));
    CHECK(o->dtype == GIDS_F32);
    double w[2] = {3.5, -2.5};
    check_values(o, 2, w);
    gids_tensor_release(o);
    /* integer division is true division */
    CHECK_OK(gids_binary(&o, GIDS_DIV, i, i32));
    CHECK(o->dtype == GIDS_F32);
    CHECK_NEAR(at(o, 0), 3.0 / 7.0, 1e-7);
    CHECK_NEAR(at(o, 1), -0.5, 1e-7);
    gids_tensor_release(o);
    /* a 0-d tensor of the same category does not widen a dimensioned one ... */
    CHECK_OK(gids_full(&z, GIDS_I64, GIDS_DEVICE_CPU, 0, &s2, gids_scalar_i(5)));
    CHECK_OK(gids_binary(&o, GIDS_ADD, i32, z));
    CHECK(o->dtype == GIDS_I32);
    CHECK(gids_result_type(i32, z) == GIDS_I32 && gids_result_type(z, i32) == GIDS_I32);
    CHECK(gids_result_type(i32, i) == GIDS_I64 && gids_result_type(i32, NULL) == GIDS_I32);
    gids_tensor_release(o);
    gids_tensor_release(z);
    /* ... but a higher category does */
    CHECK_OK(gids_full(&z, GIDS_F64, GIDS_DEVICE_CPU, 0, &s2, gids_scalar_f(0.25)));
    CHECK_OK(gids_binary(&o, GIDS_MUL, i, z));
    CHECK(o->dtype == GIDS_F64);
    CHECK(gids_result_type(i, z) == GIDS_F64 && gids_result_type(f, z) == GIDS_F32);
    double w2[2] = {0.75, -1};
    check_values(o, 2, w2);
    gids_tensor_release(o);
    CHECK_OK(gids_binary(&o, GIDS_MUL, f, z));
    CHECK(o->dtype == GIDS_F32);
    gids_tensor_release(o);
    gids_tensor_release(z);
    gids_dtype dt;
    CHECK_OK(gids_binop_result_dtype(GIDS_ADD, GIDS_I32, GIDS_F64, &dt));
    CHECK(dt == GIDS_F64);
    CHECK_OK(gids_binop_result_dtype(GIDS_LT, GIDS_I32, GIDS_F64, &dt));
    CHECK(dt == GIDS_BOOL);
    CHECK_OK(gids_binop_result_dtype(GIDS_ATAN2, GIDS_I64, GIDS_U8, &dt));
    CHECK(dt == GIDS_F32);
    CHECK_ERR(gids_binop_result_dtype(GIDS_SUB, GIDS_BOOL, GIDS_BOOL, &dt), GIDS_EDTYPE,
              "sub: subtraction of two bool tensors");
    gids_tensor_release(i);
    gids_tensor_release(i32);
    gids_tensor_release(f);
}

TEST(scalar_operands_are_wrapped_numbers) {
    int64_t s3 = 3;
    int64_t iv[3] = {1, 2, 3};
    bool bv[3] = {true, false, true};
    gids_tensor *i = from(GIDS_I64, 1, &s3, iv), *b = from(GIDS_BOOL, 1, &s3, bv), *o = NULL;
    CHECK_OK(gids_binary_scalar(&o, GIDS_ADD, i, gids_scalar_f(0.5), false));
    CHECK(o->dtype == GIDS_F32);
    double w[3] = {1.5, 2.5, 3.5};
    check_values(o, 3, w);
    gids_tensor_release(o);
    CHECK_OK(gids_binary_scalar(&o, GIDS_SUB, i, gids_scalar_i(2), true)); /* 2 - i */
    CHECK(o->dtype == GIDS_I64);
    double w2[3] = {1, 0, -1};
    check_values(o, 3, w2);
    gids_tensor_release(o);
    CHECK_OK(gids_binary_scalar(&o, GIDS_DIV, i, gids_scalar_i(2), true)); /* 2 / i */
    double w3[3] = {2, 1, 2.0f / 3.0f};
    check_values(o, 3, w3);
    gids_tensor_release(o);
    CHECK_OK(gids_binary_scalar(&o, GIDS_ADD, b, gids_scalar_i(1), false)); /* bool + 1 -> i64 */
    CHECK(o->dtype == GIDS_I64);
    double w4[3] = {2, 1, 2};
    check_values(o, 3, w4);
    gids_tensor_release(o);
    CHECK_OK(gids_binary_scalar(&o, GIDS_EQ, b, gids_scalar_i(2), false)); /* not 2 == true */
    double w5[3] = {0, 0, 0};
    check_values(o, 3, w5);
    CHECK(o->dtype == GIDS_BOOL);
    gids_tensor_release(o);
    /* a big integer scalar stays exact */
    CHECK_OK(gids_binary_scalar(&o, GIDS_ADD, i, gids_scalar_i((int64_t)1 << 62), false));
    CHECK(at_i(o, 2) == ((int64_t)1 << 62) + 3);
    gids_tensor_release(o);
    CHECK_OK(gids_binary_scalar(&o, GIDS_POW, i, gids_scalar_i(2), false));
    CHECK(o->dtype == GIDS_I64);
    double w6[3] = {1, 4, 9};
    check_values(o, 3, w6);
    gids_tensor_release(o);
    CHECK_OK(gids_binary_scalar(&o, GIDS_POW, i, gids_scalar_i(2), true)); /* 2 ** i */
    double w7[3] = {2, 4, 8};
    check_values(o, 3, w7);
    gids_tensor_release(o);
    gids_tensor_release(i);
    gids_tensor_release(b);
}

/* A number beyond an integer tensor's dtype, per op as torch 2.x: an op computing in that dtype
 * sees it wrapped (u8 + 300 adds 44), div and atan2, which compute in f32, see the number itself
 * (u8 / 256 is x / 256.0, not x / 0), pow refuses such an exponent and a divisor that wraps to 0
 * is a division by zero that names the number. */
TEST(integer_numbers_wrap_only_where_the_op_computes_in_the_tensor_dtype) {
    int64_t s2 = 2, s1 = 1;
    gids_tensor *u = from(GIDS_U8, 1, &s2, (uint8_t[]){128, 255});
    gids_tensor *i = from(GIDS_I32, 1, &s1, (int32_t[]){1000});
    gids_tensor *o = NULL;
    CHECK_OK(gids_binary_scalar(&o, GIDS_DIV, u, gids_scalar_i(256), false));
    CHECK(o->dtype == GIDS_F32 && at(o, 0) == 0.5 && at(o, 1) == 255.0f / 256.0f);
    gids_tensor_release(o);
    CHECK_OK(gids_binary_scalar(&o, GIDS_DIV, u, gids_scalar_i(-2), false));
    CHECK(at(o, 0) == -64.0 && at(o, 1) == -127.5);
    gids_tensor_release(o);
    CHECK_OK(gids_binary_scalar(&o, GIDS_DIV, u, gids_scalar_i(-2), true)); /* -2 / u */
    CHECK(at(o, 0) == -2.0f / 128.0f);
    gids_tensor_release(o);
    CHECK_OK(gids_binary_scalar(&o, GIDS_DIV, i, gids_scalar_i(4294967296), false));
    CHECK(o->dtype == GIDS_F32 && at(o, 0) == (float)(1000.0 / 4294967296.0));
    gids_tensor_release(o);
    CHECK_OK(gids_binary_scalar(&o, GIDS_ATAN2, u, gids_scalar_i(-3), true)); /* atan2(-3, u) */
    CHECK(o->dtype == GIDS_F32 && at(o, 0) == atan2f(-3.0f, 128.0f));
    gids_tensor_release(o);
    CHECK_OK(gids_binary_scalar(&o, GIDS_ADD, u, gids_scalar_i(300), false)); /* wraps: + 44 */
    CHECK(o->dtype == GIDS_U8 && at_i(o, 0) == 172 && at_i(o, 1) == 43);
    gids_tensor_release(o);
    CHECK_OK(gids_binary_scalar(&o, GIDS_LT, u, gids_scalar_i(300), false)); /* u < 44 */
    CHECK(o->dtype == GIDS_BOOL && at_i(o, 0) == 0 && at_i(o, 1) == 0);
    gids_tensor_release(o);
    CHECK_OK(gids_binary_scalar(&o, GIDS_FMOD, u, gids_scalar_i(-2), false)); /* u % 254 */
    CHECK(at_i(o, 0) == 128 && at_i(o, 1) == 1);
    gids_tensor_release(o);
    CHECK_OK(gids_binary_scalar(&o, GIDS_POW, u, gids_scalar_i(256), true)); /* 256 ** u: 0 */
    CHECK(o->dtype == GIDS_U8 && at_i(o, 0) == 0);
    gids_tensor_release(o);
    o = NULL;
    CHECK_ERR(gids_binary_scalar(&o, GIDS_POW, u, gids_scalar_i(256), false), GIDS_EINVAL,
              "pow: the exponent 256 does not fit the tensor's dtype u8");
    CHECK_ERR(gids_binary_scalar(&o, GIDS_POW, i, gids_scalar_i(4294967296), false), GIDS_EINVAL,
              "exponent 4294967296 does not fit the tensor's dtype i32");
    CHECK_ERR(gids_binary_scalar(&o, GIDS_FLOOR_DIVIDE, u, gids_scalar_i(256), false), GIDS_EINVAL,
              "floor_divide: integer division by zero: the divisor 256 wraps to 0");
    CHECK_ERR(gids_binary_scalar_into(u, GIDS_REMAINDER, u, gids_scalar_i(512), false), GIDS_EINVAL,
              "the divisor 512 wraps to 0 in the tensor's dtype u8");
    CHECK(o == NULL && at_i(u, 0) == 128);
    CHECK_OK(gids_binary_scalar(&o, GIDS_POW, i, gids_scalar_i(256), false)); /* fits i32 */
    CHECK(o->dtype == GIDS_I32 && at_i(o, 0) == 0);
    gids_tensor_release(o);
    gids_tensor_release(u);
    gids_tensor_release(i);
}

TEST(integer_arithmetic_wraps_and_divides_safely) {
    int64_t s4 = 4;
    int64_t av[4] = {INT64_MAX, INT64_MIN, 7, -7}, bv[4] = {1, -1, -2, 2};
    gids_tensor *a = from(GIDS_I64, 1, &s4, av), *b = from(GIDS_I64, 1, &s4, bv), *o = NULL;
    CHECK_OK(gids_binary(&o, GIDS_ADD, a, b));
    CHECK(at_i(o, 0) == INT64_MIN && at_i(o, 1) == INT64_MAX);
    gids_tensor_release(o);
    CHECK_OK(gids_binary(&o, GIDS_MUL, a, b));
    CHECK(at_i(o, 1) == INT64_MIN); /* INT64_MIN * -1 wraps */
    gids_tensor_release(o);
    /* fmod takes the sign of the dividend, remainder the sign of the divisor (Python) */
    CHECK_OK(gids_binary(&o, GIDS_FMOD, a, b));
    CHECK(at_i(o, 1) == 0 && at_i(o, 2) == 1 && at_i(o, 3) == -1);
    gids_tensor_release(o);
    CHECK_OK(gids_binary(&o, GIDS_REMAINDER, a, b));
    CHECK(at_i(o, 1) == 0 && at_i(o, 2) == -1 && at_i(o, 3) == 1);
    gids_tensor_release(o);
    int64_t zv[4] = {1, 0, 1, 1};
    gids_tensor *z = from(GIDS_I64, 1, &s4, zv);
    o = NULL;
    CHECK_ERR(gids_binary(&o, GIDS_REMAINDER, a, z), GIDS_EINVAL,
              "remainder: integer division by zero");
    CHECK_ERR(gids_binary(&o, GIDS_FMOD, a, z), GIDS_EINVAL, "fmod: integer division by zero");
    CHECK(o == NULL);
    /* the failed in-place op left its destination untouched */
    CHECK_ERR(gids_binary_into(a, GIDS_FMOD, a, z), GIDS_EINVAL, "division by zero");
    CHECK(at_i(a, 0) == INT64_MAX && at_i(a, 2) == 7);
    CHECK_OK(gids_binary_scalar(&o, GIDS_POW, b, gids_scalar_i(-1), true)); /* (-1) ** b */
    CHECK(at_i(o, 0) == -1 && at_i(o, 1) == -1 && at_i(o, 2) == 1);
    gids_tensor_release(o);
    /* b ** -1 has no integer result (2 ** -1 is 0.5): refused, as torch and numpy refuse it */
    o = NULL;
    CHECK_ERR(gids_binary_scalar(&o, GIDS_POW, b, gids_scalar_i(-1), false), GIDS_EINVAL,
              "pow: an integer tensor (i64) to a negative integer power (-1) is not an integer");
    CHECK(o == NULL);
    CHECK_ERR(gids_binary_scalar_into(b, GIDS_POW, b, gids_scalar_i(-2), false), GIDS_EINVAL,
              "negative integer power (-2)");
    bool tf[2] = {true, false};
    int64_t s2_ = 2;
    gids_tensor *bt = from(GIDS_BOOL, 1, &s2_, tf); /* computed in i64: refused as torch */
    CHECK_ERR(gids_binary_scalar(&o, GIDS_POW, bt, gids_scalar_i(-2), false), GIDS_EINVAL,
              "pow: an integer tensor (bool) to a negative integer power (-2)");
    gids_tensor_release(bt);
    CHECK_OK(gids_binary_scalar(&o, GIDS_POW, b, gids_scalar_f(-1.0), false)); /* a float result */
    CHECK(gids_dtype_is_float(o->dtype) && at(o, 0) == 1.0 && at(o, 1) == -1.0 &&
          at(o, 2) == -0.5 && at(o, 3) == 0.5);
    gids_tensor_release(o);
    /* u8 wraps modulo 256 */
    uint8_t uv[2] = {250, 3};
    int64_t s2 = 2;
    gids_tensor *u = from(GIDS_U8, 1, &s2, uv);
    CHECK_OK(gids_binary_scalar(&o, GIDS_ADD, u, gids_scalar_i(10), false));
    CHECK(o->dtype == GIDS_U8 && at_i(o, 0) == 4 && at_i(o, 1) == 13);
    gids_tensor_release(o);
    gids_tensor_release(u);
    gids_tensor_release(z);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

TEST(floor_divide_rounds_toward_minus_infinity) {
    int64_t n = 5;
    gids_tensor *a = from(GIDS_I64, 1, &n, (int64_t[]){7, -7, 7, -7, INT64_MIN});
    gids_tensor *b = from(GIDS_I64, 1, &n, (int64_t[]){2, 2, -2, -2, -1});
    gids_tensor *q = NULL, *f = NULL, *z = NULL;
    CHECK_OK(gids_binary(&q, GIDS_FLOOR_DIVIDE, a, b));
    CHECK(q->dtype == GIDS_I64);
    int64_t expect[5] = {3, -4, -4, 3, INT64_MIN}; /* INT64_MIN / -1 wraps as torch */
    for (int i = 0; i < 5; i++) CHECK(at_i(q, i) == expect[i]);
    gids_tensor *x = vec_f32(2, (float[]){7.5f, -7.5f});
    CHECK_OK(gids_binary_scalar(&f, GIDS_FLOOR_DIVIDE, x, gids_scalar_i(2), false));
    CHECK(f->dtype == GIDS_F32 && at(f, 0) == 3.0 && at(f, 1) == -4.0);
    CHECK_ERR(gids_binary_scalar(&z, GIDS_FLOOR_DIVIDE, a, gids_scalar_i(0), false), GIDS_EINVAL,
              "floor_divide: integer division by zero");
    CHECK(z == NULL);
    gids_tensor_release(a), gids_tensor_release(b), gids_tensor_release(q);
    gids_tensor_release(x), gids_tensor_release(f);
}

TEST(float_remainder_fmod_and_nan_propagation) {
    float av[4] = {5.5f, -5.5f, NAN, 1}, bv[4] = {2, 2, 1, NAN};
    gids_tensor *a = vec_f32(4, av), *b = vec_f32(4, bv), *o = NULL;
    CHECK_OK(gids_binary(&o, GIDS_FMOD, a, b));
    double w[4] = {1.5, -1.5, NAN, NAN};
    check_values(o, 4, w);
    gids_tensor_release(o);
    CHECK_OK(gids_binary(&o, GIDS_REMAINDER, a, b));
    double w2[4] = {1.5, 0.5, NAN, NAN};
    check_values(o, 4, w2);
    gids_tensor_release(o);
    CHECK_OK(gids_binary(&o, GIDS_MAXIMUM, a, b));
    double w3[4] = {5.5, 2, NAN, NAN};
    check_values(o, 4, w3);
    gids_tensor_release(o);
    CHECK_OK(gids_binary(&o, GIDS_MINIMUM, a, b));
    double w4[4] = {2, -5.5, NAN, NAN};
    check_values(o, 4, w4);
    gids_tensor_release(o);
    CHECK_OK(gids_binary(&o, GIDS_ATAN2, a, b));
    CHECK_NEAR(at(o, 0), atan2(5.5, 2.0), 1e-6);
    gids_tensor_release(o);
    CHECK_OK(gids_binary(&o, GIDS_POW, b, a));
    CHECK_NEAR(at(o, 0), pow(2.0, 5.5), 1e-6);
    gids_tensor_release(o);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

TEST(comparisons_and_logical_ops_give_bool) {
    float av[4] = {1, 2, NAN, 0}, bv[4] = {1, 3, NAN, -1};
    gids_tensor *a = vec_f32(4, av), *b = vec_f32(4, bv), *o = NULL;
    struct {
        gids_binop op;
        double w[4];
    } cases[] = {
        {GIDS_EQ, {1, 0, 0, 0}},          {GIDS_NE, {0, 1, 1, 1}},
        {GIDS_LT, {0, 1, 0, 0}},          {GIDS_LE, {1, 1, 0, 0}},
        {GIDS_GT, {0, 0, 0, 1}},          {GIDS_GE, {1, 0, 0, 1}},
        {GIDS_LOGICAL_AND, {1, 1, 1, 0}}, {GIDS_LOGICAL_OR, {1, 1, 1, 1}},
        {GIDS_LOGICAL_XOR, {0, 0, 0, 1}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        CHECK_OK(gids_binary(&o, cases[k].op, a, b));
        CHECK(o->dtype == GIDS_BOOL);
        check_values(o, 4, cases[k].w);
        gids_tensor_release(o);
        o = NULL;
    }
    /* an integer tensor against a float scalar compares in float */
    int64_t iv[3] = {1, 2, 3}, s3 = 3;
    gids_tensor *i = from(GIDS_I64, 1, &s3, iv);
    CHECK_OK(gids_binary_scalar(&o, GIDS_LT, i, gids_scalar_f(2.5), false));
    double w[3] = {1, 1, 0};
    check_values(o, 3, w);
    gids_tensor_release(o);
    gids_tensor_release(i);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

TEST(bool_arithmetic_stays_bool) {
    bool av[4] = {0, 0, 1, 1}, bv[4] = {0, 1, 0, 1};
    int64_t s4 = 4;
    gids_tensor *a = from(GIDS_BOOL, 1, &s4, av), *b = from(GIDS_BOOL, 1, &s4, bv), *o = NULL;
    CHECK_OK(gids_binary(&o, GIDS_ADD, a, b));
    double w[4] = {0, 1, 1, 1};
    CHECK(o->dtype == GIDS_BOOL);
    check_values(o, 4, w);
    gids_tensor_release(o);
    CHECK_OK(gids_binary(&o, GIDS_MUL, a, b));
    double w2[4] = {0, 0, 0, 1};
    check_values(o, 4, w2);
    gids_tensor_release(o);
    CHECK_ERR(gids_binary(&o, GIDS_SUB, a, b), GIDS_EDTYPE, "use logical_xor");
    CHECK_ERR(gids_binary(&o, GIDS_REMAINDER, a, b), GIDS_EDTYPE, "remainder: bool");
    CHECK_OK(gids_binary(&o, GIDS_DIV, a, b));
    CHECK(o->dtype == GIDS_F32);
    gids_tensor_release(o);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

TEST(binary_errors_name_op_and_shapes) {
    int64_t s23[2] = {2, 3}, s4 = 4;
    gids_tensor *a = NULL, *b = NULL, *o = NULL;
    CHECK_OK(gids_zeros(&a, GIDS_F32, GIDS_DEVICE_CPU, 2, s23));
    CHECK_OK(gids_zeros(&b, GIDS_F32, GIDS_DEVICE_CPU, 1, &s4));
    CHECK_ERR(gids_binary(&o, GIDS_ADD, a, b), GIDS_ESHAPE, "add:");
    CHECK_ERR(gids_binary(&o, GIDS_ADD, a, b), GIDS_ESHAPE, "[2,3]");
    CHECK_ERR(gids_binary(&o, GIDS_MUL, a, NULL), GIDS_EINVAL, "mul: arg 2 is NULL");
    CHECK_ERR(gids_binary(&o, (gids_binop)99, a, a), GIDS_EINVAL, "unknown op 99");
    CHECK(o == NULL);
    CHECK(strcmp(gids_binop_name(GIDS_LOGICAL_XOR), "logical_xor") == 0);
    CHECK(strcmp(gids_binop_name(GIDS_REMAINDER), "remainder") == 0);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

TEST(binary_into_writes_in_place_and_checks_dst) {
    gids_tensor *a = arange2(GIDS_F32, 2, 2), *t = NULL, *o = NULL;
    uint64_t v0 = a->storage->version;
    /* a += a^T: the transposed input shares a's storage, so the op goes through a temporary */
    CHECK_OK(gids_transpose(&t, a, 0, 1));
    CHECK_OK(gids_binary_into(a, GIDS_ADD, a, t));
    double w[4] = {0, 3, 3, 6};
    check_values(a, 4, w);
    CHECK(a->storage->version > v0);
    /* a *= 2 in place through the scalar form */
    CHECK_OK(gids_binary_scalar_into(a, GIDS_MUL, a, gids_scalar_i(2), false));
    double w2[4] = {0, 6, 6, 12};
    check_values(a, 4, w2);
    /* an i64 result may land in an f32 output, a float one not in an integer output */
    int64_t s22[2] = {2, 2};
    gids_tensor *i = NULL;
    CHECK_OK(gids_ones(&i, GIDS_I64, GIDS_DEVICE_CPU, 2, s22));
    CHECK_OK(gids_binary_into(a, GIDS_ADD, i, i));
    double w3[4] = {2, 2, 2, 2};
    check_values(a, 4, w3);
    CHECK_ERR(gids_binary_into(i, GIDS_ADD, i, a), GIDS_EDTYPE,
              "add: result dtype f32 cannot be written into an output of dtype i64");
    CHECK_ERR(gids_binary_scalar_into(i, GIDS_MUL, i, gids_scalar_f(0.5), false), GIDS_EDTYPE,
              "mul: result dtype f32");
    /* the output must already have the broadcast shape */
    int64_t s21[2] = {2, 1};
    CHECK_OK(gids_zeros(&o, GIDS_F32, GIDS_DEVICE_CPU, 2, s21));
    CHECK_ERR(gids_binary_into(o, GIDS_ADD, o, a), GIDS_ESHAPE,
              "add: output has shape [2,1], expected the broadcast shape [2,2]");
    /* into a strided (transposed) destination */
    gids_tensor *d = NULL, *dt = NULL, *b = arange2(GIDS_F32, 2, 2);
    CHECK_OK(gids_zeros(&d, GIDS_F32, GIDS_DEVICE_CPU, 2, s22));
    CHECK_OK(gids_transpose(&dt, d, 0, 1));
    CHECK_OK(gids_binary_into(dt, GIDS_SUB, b, a));
    double w4[4] = {-2, 0, -1, 1}; /* d = (b - a)^T */
    check_values(d, 4, w4);
    gids_tensor_release(d);
    gids_tensor_release(dt);
    gids_tensor_release(b);
    gids_tensor_release(o);
    gids_tensor_release(i);
    gids_tensor_release(t);
    gids_tensor_release(a);
}

TEST(large_add_is_the_same_for_any_thread_count) {
    int64_t n = 1 << 20;
    gids_tensor *a = NULL, *b = NULL, *o1 = NULL, *o2 = NULL;
    CHECK_OK(gids_arange(&a, GIDS_F32, gids_scalar_i(0), gids_scalar_i(n), gids_scalar_i(1)));
    CHECK_OK(gids_binary_scalar(&b, GIDS_MUL, a, gids_scalar_f(0.25), false));
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK_OK(gids_binary(&o1, GIDS_ADD, a, b));
    omp_set_num_threads(saved > 1 ? saved : 2);
    CHECK_OK(gids_binary(&o2, GIDS_ADD, a, b));
    omp_set_num_threads(saved);
    CHECK(memcmp(gids_tensor_data(o1), gids_tensor_data(o2), (size_t)n * 4) == 0);
    CHECK(at(o1, n - 1) == (double)(float)((n - 1) * 1.25));
    gids_tensor_release(a);
    gids_tensor_release(b);
    gids_tensor_release(o1);
    gids_tensor_release(o2);
}

/* ---------------------------------------------------------------- unary */
TEST(unary_float_ops_match_libm) {
    float xv[5] = {-2.5f, -0.5f, 0.0f, 0.75f, 3.0f};
    gids_tensor *x = vec_f32(5, xv), *o = NULL;
    struct {
        gids_unop op;
        double (*f)(double);
    } cases[] = {
        {GIDS_EXP, exp},     {GIDS_EXPM1, expm1}, {GIDS_SIN, sin},     {GIDS_COS, cos},
        {GIDS_TAN, tan},     {GIDS_TANH, tanh},   {GIDS_FLOOR, floor}, {GIDS_CEIL, ceil},
        {GIDS_TRUNC, trunc}, {GIDS_ABS, fabs},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        CHECK_OK(gids_unary(&o, cases[k].op, x));
        CHECK(o->dtype == GIDS_F32);
        for (int i = 0; i < 5; i++) CHECK_NEAR(at(o, i), cases[k].f(xv[i]), 1e-6);
        gids_tensor_release(o);
    }
    float pv[4] = {0.25f, 1, 4, 9};
    gids_tensor *p = vec_f32(4, pv);
    CHECK_OK(gids_unary(&o, GIDS_SQRT, p));
    double w[4] = {0.5, 1, 2, 3};
    check_values(o, 4, w);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_RSQRT, p));
    double w2[4] = {2, 1, 0.5, 1.0f / 3.0f};
    for (int i = 0; i < 4; i++) CHECK_NEAR(at(o, i), w2[i], 1e-6);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_LOG, p));
    for (int i = 0; i < 4; i++) CHECK_NEAR(at(o, i), log(pv[i]), 1e-6);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_LOG2, p));
    double w3[4] = {-2, 0, 2, log2(9.0)};
    for (int i = 0; i < 4; i++) CHECK_NEAR(at(o, i), w3[i], 1e-6);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_LOG1P, p));
    CHECK_NEAR(at(o, 0), log1p(0.25), 1e-6);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_RECIPROCAL, p));
    double w4[4] = {4, 1, 0.25, 1.0f / 9.0f};
    for (int i = 0; i < 4; i++) CHECK_NEAR(at(o, i), w4[i], 1e-6);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_SQUARE, x));
    double w5[5] = {6.25, 0.25, 0, 0.5625, 9};
    check_values(o, 5, w5);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_NEG, x));
    double w6[5] = {2.5, 0.5, 0, -0.75, -3};
    check_values(o, 5, w6);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_SIGN, x));
    double w7[5] = {-1, -1, 0, 1, 1};
    check_values(o, 5, w7);
    gids_tensor_release(o);
    gids_tensor_release(p);
    gids_tensor_release(x);
}

TEST(activations_match_their_formulas) {
    double xv[6] = {-30, -1, 0, 0.5, 2, 30};
    int64_t s6 = 6;
    gids_tensor *x = from(GIDS_F64, 1, &s6, xv), *o = NULL;
    CHECK_OK(gids_unary(&o, GIDS_SIGMOID, x));
    for (int i = 0; i < 6; i++) CHECK_NEAR(at(o, i), 1 / (1 + exp(-xv[i])), 1e-14);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_RELU, x));
    double w[6] = {0, 0, 0, 0.5, 2, 30};
    check_values(o, 6, w);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_GELU, x));
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(at(o, i), 0.5 * xv[i] * (1 + erf(xv[i] / sqrt(2.0))), 1e-14);
    CHECK_NEAR(at(o, 3), 0.34573123063700656, 1e-14); /* torch.nn.functional.gelu(0.5) */
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_GELU_TANH, x));
    for (int i = 0; i < 6; i++) {
        double v = xv[i];
        CHECK_NEAR(at(o, i), 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))),
                   1e-14);
    }
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_SILU, x));
    for (int i = 0; i < 6; i++) CHECK_NEAR(at(o, i), xv[i] / (1 + exp(-xv[i])), 1e-14);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_SOFTPLUS, x));
    CHECK_NEAR(at(o, 1), log1p(exp(-1.0)), 1e-14);
    CHECK(at(o, 5) == 30); /* linear above the threshold 20 */
    gids_tensor_release(o);
    CHECK_OK(gids_softplus(&o, x, 2, 1));
    CHECK_NEAR(at(o, 3), log1p(exp(1.0)) / 2, 1e-14); /* beta*x = 1 is not above 1 */
    CHECK(at(o, 4) == 2);
    gids_tensor_release(o);
    CHECK_ERR(gids_softplus(&o, x, 0, 20), GIDS_EINVAL, "softplus: beta must be non-zero");
    CHECK_OK(gids_leaky_relu(&o, x, 0.1));
    double w2[6] = {-3, -0.1, 0, 0.5, 2, 30};
    for (int i = 0; i < 6; i++) CHECK_NEAR(at(o, i), w2[i], 1e-15);
    gids_tensor_release(o);
    CHECK_OK(gids_elu(&o, x, 2));
    CHECK_NEAR(at(o, 1), 2 * expm1(-1.0), 1e-15);
    CHECK(at(o, 4) == 2);
    gids_tensor_release(o);
    gids_tensor_release(x);
}

TEST(rounding_is_half_to_even_and_nan_passes_relu) {
    float xv[6] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, NAN};
    gids_tensor *x = vec_f32(6, xv), *o = NULL;
    CHECK_OK(gids_unary(&o, GIDS_ROUND, x));
    double w[6] = {0, 2, 2, -0.0, -2, NAN};
    check_values(o, 6, w);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_RELU, x));
    double w2[6] = {0.5, 1.5, 2.5, 0, 0, NAN};
    check_values(o, 6, w2);
    gids_tensor_release(o);
    gids_tensor_release(x);
}

TEST(unary_dtype_rules) {
    int64_t s3 = 3;
    int64_t iv[3] = {-2, 0, INT64_MIN};
    gids_tensor *i = from(GIDS_I64, 1, &s3, iv), *o = NULL;
    CHECK_OK(gids_unary(&o, GIDS_EXP, i)); /* math of integers gives f32 */
    CHECK(o->dtype == GIDS_F32);
    CHECK_NEAR(at(o, 0), exp(-2.0), 1e-6);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_ABS, i)); /* keeps i64; |INT64_MIN| wraps as torch */
    CHECK(o->dtype == GIDS_I64 && at_i(o, 0) == 2 && at_i(o, 2) == INT64_MIN);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_NEG, i));
    CHECK(at_i(o, 0) == 2 && at_i(o, 2) == INT64_MIN);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_SQUARE, i));
    CHECK(o->dtype == GIDS_I64 && at_i(o, 0) == 4);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_SIGN, i));
    CHECK(at_i(o, 0) == -1 && at_i(o, 1) == 0);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_RELU, i));
    CHECK(o->dtype == GIDS_I64 && at_i(o, 0) == 0);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_FLOOR, i)); /* a copy for integers */
    CHECK(o->dtype == GIDS_I64 && at_i(o, 0) == -2);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_ISNAN, i));
    double f3[3] = {0, 0, 0}, t3[3] = {1, 1, 1};
    CHECK(o->dtype == GIDS_BOOL);
    check_values(o, 3, f3);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_ISFINITE, i));
    check_values(o, 3, t3);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_LOGICAL_NOT, i));
    double w[3] = {0, 1, 0};
    check_values(o, 3, w);
    gids_tensor_release(o);
    uint8_t uv[3] = {0, 3, 255};
    gids_tensor *u = from(GIDS_U8, 1, &s3, uv);
    CHECK_OK(gids_unary(&o, GIDS_NEG, u)); /* wraps modulo 256 */
    double w2[3] = {0, 253, 1};
    check_values(o, 3, w2);
    gids_tensor_release(o);
    bool bv[3] = {true, false, true};
    gids_tensor *b = from(GIDS_BOOL, 1, &s3, bv);
    CHECK_ERR(gids_unary(&o, GIDS_NEG, b), GIDS_EDTYPE, "neg: bool tensors are not supported");
    CHECK_OK(gids_unary(&o, GIDS_SQUARE, b));
    CHECK(o->dtype == GIDS_I64 && at_i(o, 0) == 1);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_ABS, b));
    CHECK(o->dtype == GIDS_BOOL);
    gids_tensor_release(o);
    gids_dtype dt;
    CHECK_OK(gids_unop_result_dtype(GIDS_SQRT, GIDS_I32, &dt));
    CHECK(dt == GIDS_F32);
    CHECK_OK(gids_unop_result_dtype(GIDS_ISINF, GIDS_F64, &dt));
    CHECK(dt == GIDS_BOOL);
    CHECK(strcmp(gids_unop_name(GIDS_GELU_TANH), "gelu_tanh") == 0);
    float fv[4] = {INFINITY, -INFINITY, NAN, 1};
    gids_tensor *f = vec_f32(4, fv);
    CHECK_OK(gids_unary(&o, GIDS_ISINF, f));
    double w3[4] = {1, 1, 0, 0};
    check_values(o, 4, w3);
    gids_tensor_release(o);
    CHECK_OK(gids_unary(&o, GIDS_ISFINITE, f));
    double w4[4] = {0, 0, 0, 1};
    check_values(o, 4, w4);
    gids_tensor_release(o);
    gids_tensor_release(f);
    gids_tensor_release(b);
    gids_tensor_release(u);
    gids_tensor_release(i);
}

TEST(unary_into_in_place_and_strided) {
    gids_tensor *a = arange2(GIDS_F32, 2, 3), *t = NULL, *i = NULL;
    CHECK_OK(gids_unary_into(a, GIDS_NEG, a));
    double w[6] = {0, -1, -2, -3, -4, -5};
    check_values(a, 6, w);
    /* a transposed view written through itself */
    CHECK_OK(gids_transpose(&t, a, 0, 1));
    CHECK_OK(gids_unary_into(t, GIDS_SQUARE, t));
    double w2[6] = {0, 1, 4, 9, 16, 25};
    check_values(a, 6, w2);
    int64_t s23[2] = {2, 3};
    CHECK_OK(gids_zeros(&i, GIDS_I64, GIDS_DEVICE_CPU, 2, s23));
    CHECK_ERR(gids_unary_into(i, GIDS_EXP, i), GIDS_EDTYPE,
              "exp: result dtype f32 cannot be written into an output of dtype i64");
    CHECK_ERR(gids_unary_into(a, GIDS_EXP, t), GIDS_ESHAPE, "exp: output has shape [2,3]");
    gids_tensor_release(i);
    gids_tensor_release(t);
    gids_tensor_release(a);
}

/* ---------------------------------------------------------------- clamp, where */
TEST(clamp_follows_torch) {
    float xv[5] = {-3, -1, 0.5f, 2, NAN};
    gids_tensor *x = vec_f32(5, xv), *o = NULL;
    gids_scalar lo = gids_scalar_i(-1), hi = gids_scalar_f(1.0);
    CHECK_OK(gids_clamp(&o, x, &lo, &hi));
    double w[5] = {-1, -1, 0.5, 1, NAN};
    check_values(o, 5, w);
    gids_tensor_release(o);
    CHECK_OK(gids_clamp(&o, x, NULL, &hi));
    double w2[5] = {-3, -1, 0.5, 1, NAN};
    check_values(o, 5, w2);
    gids_tensor_release(o);
    gids_scalar big = gids_scalar_i(5);
    CHECK_OK(gids_clamp(&o, x, &big, &hi)); /* min > max: everything becomes max */
    double w3[5] = {1, 1, 1, 1, NAN};
    check_values(o, 5, w3);
    gids_tensor_release(o);
    CHECK_ERR(gids_clamp(&o, x, NULL, NULL), GIDS_EINVAL, "clamp: at least one of min and max");
    int64_t s4 = 4;
    int64_t iv[4] = {-5, 0, 5, 10};
    gids_tensor *i = from(GIDS_I64, 1, &s4, iv);
    gids_scalar ilo = gids_scalar_i(0), ihi = gids_scalar_i(6);
    CHECK_OK(gids_clamp(&o, i, &ilo, &ihi));
    CHECK(o->dtype == GIDS_I64);
    double w4[4] = {0, 0, 5, 6};
    check_values(o, 4, w4);
    gids_tensor_release(o);
    gids_scalar flo = gids_scalar_f(0.5);
    CHECK_OK(gids_clamp(&o, i, &flo, NULL)); /* a float bound makes the result f32 */
    CHECK(o->dtype == GIDS_F32);
    double w5[4] = {0.5, 0.5, 5, 10};
    check_values(o, 4, w5);
    gids_tensor_release(o);
    uint8_t uv[3] = {0, 100, 255};
    int64_t s3 = 3;
    gids_tensor *u = from(GIDS_U8, 1, &s3, uv);
    gids_scalar neg = gids_scalar_i(-5), h = gids_scalar_i(300);
    CHECK_OK(gids_clamp(&o, u, &neg, &h)); /* bounds outside u8 are limited to [0, 255] */
    double w6[3] = {0, 100, 255};
    check_values(o, 3, w6);
    gids_tensor_release(o);
    gids_tensor_release(u);
    gids_tensor_release(i);
    gids_tensor_release(x);
}

TEST(where_selects_with_broadcasting) {
    int64_t s31[2] = {3, 1}, s4 = 4;
    bool cv[3] = {true, false, true};
    float av[4] = {1, 2, 3, 4};
    gids_tensor *c = from(GIDS_BOOL, 2, s31, cv), *a = from(GIDS_F32, 1, &s4, av);
    gids_tensor *z = NULL, *o = NULL;
    int64_t s0 = 1;
    CHECK_OK(gids_full(&z, GIDS_I64, GIDS_DEVICE_CPU, 0, &s0, gids_scalar_i(-1)));
    CHECK_OK(gids_where(&o, c, a, z));
    CHECK(o->dtype == GIDS_F32);
    double w[12] = {1, 2, 3, 4, -1, -1, -1, -1, 1, 2, 3, 4};
    check_values(o, 12, w);
    gids_tensor_release(o);
    gids_tensor *i = arange2(GIDS_I64, 3, 4);
    CHECK_OK(gids_where(&o, c, i, a)); /* i64 with f32 -> f32 */
    CHECK(o->dtype == GIDS_F32);
    double w2[12] = {0, 1, 2, 3, 1, 2, 3, 4, 8, 9, 10, 11};
    check_values(o, 12, w2);
    gids_tensor_release(o);
    o = NULL;
    CHECK_ERR(gids_where(&o, a, a, a), GIDS_EDTYPE,
              "where: condition must be bool (or u8), got f32");
    int64_t s2 = 2;
    gids_tensor *bad = NULL;
    CHECK_OK(gids_zeros(&bad, GIDS_F32, GIDS_DEVICE_CPU, 1, &s2));
    CHECK_ERR(gids_where(&o, c, a, bad), GIDS_ESHAPE, "where:");
    CHECK(o == NULL);
    gids_tensor_release(bad);
    gids_tensor_release(i);
    gids_tensor_release(z);
    gids_tensor_release(a);
    gids_tensor_release(c);
}

int main(void) {
    RUN(add_broadcasts_column_against_row);
    RUN(binary_reads_strided_inputs);
    RUN(promotion_follows_torch);
    RUN(scalar_operands_are_wrapped_numbers);
    RUN(integer_numbers_wrap_only_where_the_op_computes_in_the_tensor_dtype);
    RUN(integer_arithmetic_wraps_and_divides_safely);
    RUN(floor_divide_rounds_toward_minus_infinity);
    RUN(float_remainder_fmod_and_nan_propagation);
    RUN(comparisons_and_logical_ops_give_bool);
    RUN(bool_arithmetic_stays_bool);
    RUN(binary_errors_name_op_and_shapes);
    RUN(binary_into_writes_in_place_and_checks_dst);
    RUN(large_add_is_the_same_for_any_thread_count);
    RUN(unary_float_ops_match_libm);
    RUN(activations_match_their_formulas);
    RUN(rounding_is_half_to_even_and_nan_passes_relu);
    RUN(unary_dtype_rules);
    RUN(unary_into_in_place_and_strided);
    RUN(clamp_follows_torch);
    RUN(where_selects_with_broadcasting);
    return check_summary("elementwise");
}
