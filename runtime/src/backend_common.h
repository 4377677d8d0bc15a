/* backend_common.h -- internal: what the CUDA plugin (runtime/src/cuda/) and the loopback device
 * (runtime/src/loopback/) must agree on, written once: the argument checks the two restate
 * (devices, the info buffer, copy_'s and backend ABI 6's stream and event entries), with their
 * messages (specs match them, on the loopback and on a GPU), the dtypes each family of CUDA
 * kernels has and the message refusing the others, the caching allocator's size
 * classes (the loopback's statistics move as a GPU's) and the largest upload that does not wait
 * (the loopback's count of waits moves as a GPU's).
 *
 * Each backend defines its own gids_stream and gids_event, so the checks take the fields they
 * read (a device, whether an event was made with timing or recorded), never the handles.  Static
 * inline, in C11 and C++17 alike; both plugins resolve gids_error_set from the process.
 */
#ifndef GIDS_BACKEND_COMMON_H
#define GIDS_BACKEND_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gids/backend.h"
#include "gids/status.h"
#include "gids/tensor.h"

/* ---------------------------------------------------------------- allocator size classes */
/* Blocks up to SMALL_MAX are "small" (their own free list), rounded to 512 B; larger ones are
 * rounded to 2 MiB. */
#define GIDS_ALLOC_SMALL_MAX ((size_t)1 << 20)
#define GIDS_ALLOC_SMALL_GRAIN ((size_t)512)
#define GIDS_ALLOC_LARGE_GRAIN ((size_t)2 << 20)

/* The block size of an n-byte request, or 0 when rounding overflows size_t. */
static inline size_t gids_alloc_rounded(size_t n) {
    size_t g = n <= GIDS_ALLOC_SMALL_MAX ? GIDS_ALLOC_SMALL_GRAIN : GIDS_ALLOC_LARGE_GRAIN;
    if (n == 0) return GIDS_ALLOC_SMALL_GRAIN; /* a zero-byte request still gets a unique pointer */
    if (n > SIZE_MAX - g) return 0;
    return (n + g - 1) / g * g;
}

/* ---------------------------------------------------------------- uploads */
/* Uploads of up to PINNED_MAX_COPY bytes go through page-locked staging and do not wait for the
 * device (runtime/src/cuda/pinned.cu; the loopback counts larger ones as waits); the staging
 * blocks of a process hold at most PINNED_POOL_MAX bytes. */
#define GIDS_PINNED_MAX_COPY ((size_t)16 << 20)
#define GIDS_PINNED_POOL_MAX ((size_t)256 << 20)

/* ---------------------------------------------------------------- dtype refusals */
/* The dtypes each family of the CUDA plugin's kernels has, and the message that refuses the
 * others: "<op>: dtype <d> is not supported on CUDA yet<tail>".  The CUDA plugin refuses with
 * these; the loopback device refuses the same calls with them (runtime/src/loopback/
 * refusals.c), so a device path a GPU run would stop on stops on the CPU too, with the same
 * text (spec/gpu/refusal_check.lua pins it on both). */
typedef enum gids_dtype_rule {
    GIDS_DR_FLOAT,          /* f32, f64: activations, softmax, segment ops, bernoulli_ */
    GIDS_DR_CLAMP,          /* f32, f64, i64, i32, u8 */
    GIDS_DR_PRODUCT,        /* f32, f64, f16, bf16: mm, addmm, matmul, bmm */
    GIDS_DR_ADD,            /* f32, f64, i64, i32: scatter_add_, index_add_ */
    GIDS_DR_REDUCE_SUM,     /* f32, f64, i64, i32, u8, bool */
    GIDS_DR_REDUCE_EXTREME, /* f32, f64, i64, i32: amax, amin */
    GIDS_DR_REDUCE_FLOAT,   /* f32, f64: mean */
    GIDS_DR_EXTREME_DIM,    /* f32, f64, i64, i32: max, min along a dim */
    GIDS_DR_SIX,            /* f32, f64, i64, i32, u8, bool: sort, argsort, topk, cumsum, cumprod */
    GIDS_DR_NONZERO,        /* as GIDS_DR_SIX, with no list in the message */
    GIDS_DR_UNIQUE,         /* i64, i32, u8, bool */
} gids_dtype_rule;

#define GIDS_DR_BIT(dt) (1u << (unsigned)(dt))
#define GIDS_DR_FLOATS (GIDS_DR_BIT(GIDS_F32) | GIDS_DR_BIT(GIDS_F64))
#define GIDS_DR_INTS (GIDS_DR_BIT(GIDS_I64) | GIDS_DR_BIT(GIDS_I32))
#define GIDS_DR_SIX_DTYPES                                                                         \
    (GIDS_DR_FLOATS | GIDS_DR_INTS | GIDS_DR_BIT(GIDS_U8) | GIDS_DR_BIT(GIDS_BOOL))

/* The dtypes rule r admits (bit dt set: dtype dt has a kernel). */
static inline unsigned gids_dtype_rule_admitted(gids_dtype_rule r) {
    switch (r) {
    case GIDS_DR_CLAMP: return GIDS_DR_FLOATS | GIDS_DR_INTS | GIDS_DR_BIT(GIDS_U8);
    case GIDS_DR_PRODUCT: return GIDS_DR_FLOATS | GIDS_DR_BIT(GIDS_F16) | GIDS_DR_BIT(GIDS_BF16);
    case GIDS_DR_ADD:
    case GIDS_DR_REDUCE_EXTREME:
    case GIDS_DR_EXTREME_DIM: return GIDS_DR_FLOATS | GIDS_DR_INTS;
    case GIDS_DR_REDUCE_SUM:
    case GIDS_DR_SIX:
    case GIDS_DR_NONZERO: return GIDS_DR_SIX_DTYPES;
    case GIDS_DR_UNIQUE: return GIDS_DR_INTS | GIDS_DR_BIT(GIDS_U8) | GIDS_DR_BIT(GIDS_BOOL);
    case GIDS_DR_FLOAT:
    case GIDS_DR_REDUCE_FLOAT: break;
    }
    return GIDS_DR_FLOATS;
}

/* The end of rule r's message: the dtypes that have a kernel. */
static inline const char *gids_dtype_rule_tail(gids_dtype_rule r) {
    switch (r) {
    case GIDS_DR_CLAMP: return " (f32, f64, i64, i32 and u8 only)";
    case GIDS_DR_PRODUCT: return " (f32, f64, f16 and bf16 only)";
    case GIDS_DR_ADD: return " (f32, f64, i64 and i32 only)";
    case GIDS_DR_REDUCE_SUM:
    case GIDS_DR_REDUCE_EXTREME:
    case GIDS_DR_REDUCE_FLOAT:
        return " (f32 and f64; amax and amin also i64 and i32; sum also i64, i32, u8 and bool)";
    case GIDS_DR_EXTREME_DIM: return " (f32, f64, i64 and i32)";
    case GIDS_DR_SIX: return " (f32, f64, i64, i32, u8 and bool)";
    case GIDS_DR_NONZERO: return "";
    case GIDS_DR_UNIQUE: return " (i64, i32, u8 and bool)";
    case GIDS_DR_FLOAT: break;
    }
    return " (f32 and f64 only)";
}

/* EUNSUPPORTED naming op and dt unless rule r admits dt. */
static inline gids_status gids_refuse_dtype(gids_dtype_rule r, const char *op, gids_dtype dt) {
    GIDS_CHECK((unsigned)dt < 32 && (gids_dtype_rule_admitted(r) & GIDS_DR_BIT(dt)),
               GIDS_EUNSUPPORTED, "%s: dtype %s is not supported on CUDA yet%s", op,
               gids_dtype_name(dt), gids_dtype_rule_tail(r));
    return GIDS_OK;
}

/* A reduction: sum, mean, amax and amin have kernels (a mean of integers is the caller's EDTYPE,
 * checked before this), each in its rule's dtypes. */
static inline gids_status gids_refuse_reduce(gids_redop op, const char *name, gids_dtype dt) {
    GIDS_CHECK(op == GIDS_SUM || op == GIDS_MEAN || op == GIDS_AMAX || op == GIDS_AMIN,
               GIDS_EUNSUPPORTED, "%s: has no CUDA kernel in this build (sum, mean, amax, amin do)",
               name);
    return gids_refuse_dtype(op == GIDS_SUM    ? GIDS_DR_REDUCE_SUM
                             : op == GIDS_MEAN ? GIDS_DR_REDUCE_FLOAT
                                               : GIDS_DR_REDUCE_EXTREME,
                             name, dt);
}

/* ---------------------------------------------------------------- arguments */
/* "op: what is NULL" when !present (what: "out", "event", "event or done", ...). */
static inline gids_status gids_check_given(const char *op, bool present, const char *what) {
    GIDS_CHECK(present, GIDS_EINVAL, "%s: %s is NULL", op, what);
    return GIDS_OK;
}

/* A CUDA ordinal of the backend's count devices; note follows the count in the message (the
 * loopback: ": the loopback device"; the CUDA plugin: ""). */
static inline gids_status gids_check_device_in(const char *op, int device, int count,
                                               const char *note) {
    GIDS_CHECK(device >= 0 && device < count, GIDS_EDEVICE,
               "%s: device cuda:%d does not exist (%d CUDA device%s found%s)", op, device, count,
               count == 1 ? "" : "s", note);
    return GIDS_OK;
}

/* info's buffer. */
static inline gids_status gids_check_info_buffer(const char *buf, size_t n) {
    GIDS_CHECK(buf != NULL && n > 0, GIDS_EINVAL, "gpu info: buffer is NULL or empty");
    return GIDS_OK;
}

/* ---------------------------------------------------------------- stream and event checks */
/* stream_create's flags and priority, against the device's range (CUDA's numbers: highest is
 * the lowest number). */
static inline gids_status gids_check_stream_flags(const char *op, unsigned flags) {
    GIDS_CHECK((flags & ~GIDS_STREAM_NONBLOCKING) == 0, GIDS_EINVAL,
               "%s: unknown flags 0x%x (expected 0 or GIDS_STREAM_NONBLOCKING)", op, flags);
    return GIDS_OK;
}

static inline gids_status gids_check_stream_priority(const char *op, int device, int priority,
                                                     int highest, int lowest) {
    GIDS_CHECK(priority <= lowest && priority >= highest, GIDS_EINVAL,
               "%s: priority %d is outside cuda:%d's range %d (highest) to %d (lowest)", op,
               priority, device, highest, lowest);
    return GIDS_OK;
}

/* A (device, stream) pair: has_stream false is the device's default stream; otherwise the
 * stream, made for stream_device, must be device's.  The device itself is checked first, by
 * the backend (its message names how many devices it has). */
static inline gids_status gids_check_stream_of(const char *op, int device, bool has_stream,
                                               int stream_device) {
    GIDS_CHECK(!has_stream || stream_device == device, GIDS_EINVAL,
               "%s: the stream belongs to cuda:%d, not to cuda:%d", op, stream_device, device);
    return GIDS_OK;
}

/* event_record: the event is of the stream's device. */
static inline gids_status gids_check_event_of(const char *op, int event_device, int device) {
    GIDS_CHECK(event_device == device, GIDS_EINVAL,
               "%s: the event belongs to cuda:%d, the stream to cuda:%d", op, event_device, device);
    return GIDS_OK;
}

/* The facts event_elapsed reads of an event (both backends' handles carry them). */
typedef struct gids_event_facts {
    int device;
    bool timing, recorded;
} gids_event_facts;

/* event_elapsed's events (given: gids_check_given first): both made with timing, recorded and
 * of one device. */
static inline gids_status gids_check_elapsed(const char *op, gids_event_facts start,
                                             gids_event_facts end) {
    GIDS_CHECK(start.timing && end.timing, GIDS_EINVAL,
               "%s: the %s event was created without timing (Event{timing = true})", op,
               start.timing ? "end" : "start");
    GIDS_CHECK(start.recorded && end.recorded, GIDS_EINVAL, "%s: the %s event was never recorded",
               op, start.recorded ? "end" : "start");
    GIDS_CHECK(start.device == end.device, GIDS_EINVAL,
               "%s: the events belong to cuda:%d and cuda:%d, not one device", op, start.device,
               end.device);
    return GIDS_OK;
}

/* record_stream's tensor: given, and a CUDA tensor. */
static inline gids_status gids_check_record_stream_tensor(const char *op, const gids_tensor *t) {
    GIDS_TRY(gids_check_given(op, t != NULL, "tensor"));
    if (t->storage->device.type != GIDS_CUDA) {
        char buf[16];
        GIDS_FAIL(GIDS_EDEVICE, "%s: expected a CUDA tensor, got one on %s", op,
                  gids_device_str(t->storage->device, buf, sizeof buf));
    }
    return GIDS_OK;
}

#endif
