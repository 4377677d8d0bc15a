/* gids/dtype.h -- element types, devices and scalars.
 *
 *   gids_dtype dt;
 *   if (gids_dtype_parse("f32", &dt) != GIDS_OK) ...;
 *   size_t bytes = gids_dtype_size(dt) * n;
 *   gids_dtype r = gids_promote(GIDS_I64, GIDS_F32);   -> GIDS_F32
 *
 * Promotion follows PyTorch's lattice: bool < u8 < i32 < i64 < f32 < f64 (f16/bf16 are GPU
 * storage types and promote to f32 with each other).
 */
#ifndef GIDS_DTYPE_H
#define GIDS_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gids/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gids_dtype {
    GIDS_F32 = 0,
    GIDS_F64,
    GIDS_I64,
    GIDS_I32,
    GIDS_U8,
    GIDS_BOOL,
    GIDS_F16,  /* GPU storage only */
    GIDS_BF16, /* GPU storage only */
    GIDS_NDTYPES
} gids_dtype;

size_t gids_dtype_size(gids_dtype dt);
/* BORROW: "f32", "f64", "i64", "i32", "u8", "bool", "f16", "bf16". */
const char *gids_dtype_name(gids_dtype dt);
/* Accepts the names above and the PyTorch spellings ("float32", "float", "int64", "long", ...). */
gids_status gids_dtype_parse(const char *name, gids_dtype *out);
bool gids_dtype_is_float(gids_dtype dt);
/* f16 or bf16: GPU storage dtypes without arithmetic of their own (docs/amp.md). */
bool gids_dtype_is_half(gids_dtype dt);
bool gids_dtype_is_int(gids_dtype dt); /* i64 i32 u8 (not bool) */
gids_dtype gids_promote(gids_dtype a, gids_dtype b);

typedef enum gids_device_type { GIDS_CPU = 0, GIDS_CUDA = 1 } gids_device_type;
typedef struct gids_device {
    gids_device_type type;
    int index;
} gids_device;

/* (C++ has no compound literals: the headers serve C++ programs too, warning-free.) */
#ifdef __cplusplus
#define GIDS_DEVICE_CPU (gids_device{GIDS_CPU, 0})
#else
#define GIDS_DEVICE_CPU ((gids_device){GIDS_CPU, 0})
#endif
bool gids_device_eq(gids_device a, gids_device b);
/* Parses "cpu", "cuda", "cuda:N". */
gids_status gids_device_parse(const char *s, gids_device *out);
/* Writes "cpu", "cuda:N" or, for a type that is neither, "device type T" into buf (16 bytes
 * hold any real device; longer text is cut to fit); returns buf (NULL, writing nothing, for a
 * NULL buf). */
char *gids_device_str(gids_device d, char *buf, size_t n);

/* A number given by a caller: integers are kept exact (an i64 fill of 2^62 must not round). */
typedef struct gids_scalar {
    bool is_int;
    int64_t i;
    double f;
} gids_scalar;

static inline gids_scalar gids_scalar_i(int64_t v) {
    gids_scalar s = {true, v, (double)v};
    return s;
}
static inline gids_scalar gids_scalar_f(double v) {
    gids_scalar s = {false, (int64_t)0, v};
    return s;
}
/* The dtype a tensor of dtype `t` gets when combined with scalar `s` (PyTorch rules: an integer
 * tensor with a float scalar becomes f32; otherwise the tensor's dtype wins). */
gids_dtype gids_promote_scalar(gids_dtype t, gids_scalar s);

#ifdef __cplusplus
}
#endif
#endif
