/* dtype.c -- element type facts, promotion, device names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gids/dtype.h"

static const struct {
    const char *name;
    size_t size;
} dtypes_[GIDS_NDTYPES] = {
    [GIDS_F32] = {"f32", 4}, [GIDS_F64] = {"f64", 8},   [GIDS_I64] = {"i64", 8},
    [GIDS_I32] = {"i32", 4}, [GIDS_U8] = {"u8", 1},     [GIDS_BOOL] = {"bool", 1},
    [GIDS_F16] = {"f16", 2}, [GIDS_BF16] = {"bf16", 2},
};

size_t gids_dtype_size(gids_dtype dt) {
    return (unsigned)dt < GIDS_NDTYPES ? dtypes_[dt].size : 0;
}

const char *gids_dtype_name(gids_dtype dt) {
    return (unsigned)dt < GIDS_NDTYPES ? dtypes_[dt].name : "invalid";
}

gids_status gids_dtype_parse(const char *name, gids_dtype *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "dtype_parse: out is NULL");
    static const struct {
        const char *alias;
        gids_dtype dt;
    } aliases[] = {
        {"float32", GIDS_F32},   {"float", GIDS_F32}, {"float64", GIDS_F64}, {"double", GIDS_F64},
        {"int64", GIDS_I64},     {"long", GIDS_I64},  {"int32", GIDS_I32},   {"int", GIDS_I32},
        {"uint8", GIDS_U8},      {"byte", GIDS_U8},   {"float16", GIDS_F16}, {"half", GIDS_F16},
        {"bfloat16", GIDS_BF16},
    };
    if (name == NULL) GIDS_FAIL(GIDS_EINVAL, "dtype: expected a name, got NULL");
    for (int i = 0; i < GIDS_NDTYPES; i++)
        if (strcmp(name, dtypes_[i].name) == 0) {
            *out = (gids_dtype)i;
            return GIDS_OK;
        }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(name, aliases[i].alias) == 0) {
            *out = aliases[i].dt;
            return GIDS_OK;
        }
    GIDS_FAIL(GIDS_EINVAL,
              "dtype: unknown dtype '%s' (expected f32, f64, i64, i32, u8, bool, f16, bf16)", name);
}

bool gids_dtype_is_float(gids_dtype dt) {
    return dt == GIDS_F32 || dt == GIDS_F64 || dt == GIDS_F16 || dt == GIDS_BF16;
}

bool gids_dtype_is_half(gids_dtype dt) {
    return dt == GIDS_F16 || dt == GIDS_BF16;
}

bool gids_dtype_is_int(gids_dtype dt) {
    return dt == GIDS_I64 || dt == GIDS_I32 || dt == GIDS_U8;
}

/* Position in the promotion lattice bool < u8 < i32 < i64 < f16/bf16 < f32 < f64. */
static int rank_(gids_dtype dt) {
    switch (dt) {
    case GIDS_BOOL: return 0;
    case GIDS_U8: return 1;
    case GIDS_I32: return 2;
    case GIDS_I64: return 3;
    case GIDS_F16: return 4;
    case GIDS_BF16: return 4;
    case GIDS_F32: return 5;
    case GIDS_F64: return 6;
    default: return -1;
    }
}

gids_dtype gids_promote(gids_dtype a, gids_dtype b) {
    if (a == b) return a;
    /* f16 and bf16 have no common 16-bit type: PyTorch promotes the pair to f32. */
    if ((a == GIDS_F16 && b == GIDS_BF16) || (a == GIDS_BF16 && b == GIDS_F16)) return GIDS_F32;
    return rank_(a) >= rank_(b) ? a : b;
}

gids_dtype gids_promote_scalar(gids_dtype t, gids_scalar s) {
    if (!s.is_int && !gids_dtype_is_float(t)) return GIDS_F32;
    if (s.is_int && t == GIDS_BOOL) return GIDS_I64;
    return t;
}

bool gids_device_eq(gids_device a, gids_device b) {
    return a.type == b.type && (a.type == GIDS_CPU || a.index == b.index);
}

gids_status gids_device_parse(const char *s, gids_device *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "device_parse: out is NULL");
    GIDS_CHECK(s != NULL, GIDS_EINVAL, "device: expected a name, got NULL");
    if (strcmp(s, "cpu") == 0) {
        *out = GIDS_DEVICE_CPU;
        return GIDS_OK;
    }
    if (strncmp(s, "cuda", 4) == 0) {
        if (s[4] == '\0') {
            *out = (gids_device){GIDS_CUDA, 0};
            return GIDS_OK;
        }
        if (s[4] == ':' && s[5] >= '0' && s[5] <= '9') {
            char *end = NULL;
            long idx = strtol(s + 5, &end, 10);
            if (*end == '\0' && idx < 1024) {
                *out = (gids_device){GIDS_CUDA, (int)idx};
                return GIDS_OK;
            }
        }
    }
    GIDS_FAIL(GIDS_EINVAL, "device: unknown device '%s' (expected \"cpu\", \"cuda\" or \"cuda:N\")",
              s);
}

char *gids_device_str(gids_device d, char *buf, size_t n) {
    if (buf == NULL) return NULL; /* nowhere to write (snprintf takes NULL with n = 0 only) */
    if (d.type == GIDS_CPU)
        snprintf(buf, n, "cpu");
    else if (d.type == GIDS_CUDA)
        snprintf(buf, n, "cuda:%d", d.index);
    else
        snprintf(buf, n, "device type %d", (int)d.type);
    return buf;
}
