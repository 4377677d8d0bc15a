/* gids/status.h -- status codes and the thread-local error message.
 *
 *   gids_tensor *t = NULL;
 *   gids_status s = gids_matmul(&t, a, b);
 *   if (s != GIDS_OK)
 *       fprintf(stderr, "%s: %s\n", gids_status_name(s), gids_error_message());
 *
 * Every runtime function that can fail returns a gids_status.  On failure it has also stored a
 * message on the calling thread naming the function, the argument, the expected and the actual
 * value ("matmul: arg 2 has shape [4,3], incompatible with arg 1 [2,5] (inner dims 5 vs 4)").
 * The runtime never exits, aborts or longjmps.
 */
#ifndef GIDS_STATUS_H
#define GIDS_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gids_status {
    GIDS_OK = 0,
    GIDS_EINVAL,      /* bad argument value (negative size, unknown option, ...) */
    GIDS_ESHAPE,      /* shapes that do not match or broadcast */
    GIDS_EDTYPE,      /* dtype not supported by the op, or mixed where it must agree */
    GIDS_EINDEX,      /* an index or dim out of range */
    GIDS_ENOMEM,      /* allocation failed */
    GIDS_EOVERFLOW,   /* a size computation overflowed int64 */
    GIDS_EIO,         /* file system or stream error */
    GIDS_EFORMAT,     /* malformed file or data */
    GIDS_EDEVICE,     /* wrong or unavailable device */
    GIDS_ESTATE,      /* object in the wrong state (freed, busy, ...) */
    GIDS_EUNSUPPORTED /* valid request this build cannot serve */
} gids_status;

/* The longest message, its NUL included: two PATH_MAX paths and the words around them. */
#define GIDS_ERROR_MAX 8192

/* Store a printf-style message for the calling thread and return `code` (so a failing function
 * can `return gids_error_set(...)`).  BORROW: fmt.  A message longer than GIDS_ERROR_MAX - 1
 * bytes keeps its beginning and its end (where the reason usually is); its middle is replaced by
 * "...[N bytes]...", N the bytes left out, and no UTF-8 character is cut in two. */
gids_status gids_error_set(gids_status code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefix the current message with "prefix: " (used by callers that add context, such as a
 * module path).  Returns `code` unchanged.  Too long, the result loses bytes from its middle as
 * above: a message already cut loses more at the same place, under one mark. */
gids_status gids_error_prefix(gids_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* BORROW: the last message set on this thread ("" when none). Valid until the next error. */
const char *gids_error_message(void);
/* BORROW: "file.c:123" of the last error on this thread ("" when none). */
const char *gids_error_location(void);
void gids_error_clear(void);

/* BORROW: static name such as "EINVAL". */
const char *gids_status_name(gids_status s);

#define GIDS_TRY(x)                                                                                \
    do {                                                                                           \
        gids_status s_ = (x);                                                                      \
        if (s_ != GIDS_OK) return s_;                                                              \
    } while (0)
#define GIDS_FAIL(code, ...) return gids_error_set((code), __FILE__, __LINE__, __VA_ARGS__)
#define GIDS_CHECK(cond, code, ...)                                                                \
    do {                                                                                           \
        if (!(cond)) GIDS_FAIL((code), __VA_ARGS__);                                               \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
