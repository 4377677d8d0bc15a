/* gids/sha256.h -- SHA-256 (FIPS 180-4), streaming and one-shot.
 *
 *   gids_sha256 h;
 *   gids_sha256_init(&h);
 *   gids_sha256_update(&h, "ab", 2);
 *   gids_sha256_update(&h, "c", 1);
 *   char hex[GIDS_SHA256_HEX_SIZE];
 *   gids_sha256_final_hex(&h, hex);   // "ba7816bf..."
 *
 * Used for content digests (vocabulary, checkpoints, cache files).  The state is a plain struct
 * on the caller's stack; nothing is allocated, so only the file helper can fail.  The streaming
 * and one-shot functions return no status: like memcpy, they take valid pointers (s, out, and
 * data when n > 0) and do not check them; gids_sha256_file_hex checks its arguments.
 */
#ifndef GIDS_SHA256_H
#define GIDS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "gids/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GIDS_SHA256_SIZE 32     /* digest bytes */
#define GIDS_SHA256_HEX_SIZE 65 /* 64 lowercase hex digits and a NUL */

typedef struct gids_sha256 {
    uint32_t h[8];     /* chaining state */
    uint64_t len;      /* message bytes hashed so far */
    uint8_t buf[64];   /* partial block */
    uint32_t buf_used; /* bytes held in buf, < 64 */
} gids_sha256;

void gids_sha256_init(gids_sha256 *s);
/* BORROW: data (n bytes; may be NULL when n is 0). */
void gids_sha256_update(gids_sha256 *s, const void *data, size_t n);
/* Writes the 32-byte digest; the state must be re-initialised before reuse. */
void gids_sha256_final(gids_sha256 *s, uint8_t out[GIDS_SHA256_SIZE]);
/* Same, as 64 lowercase hex digits and a terminating NUL. */
void gids_sha256_final_hex(gids_sha256 *s, char out[GIDS_SHA256_HEX_SIZE]);
/* One-shot: hex digest of n bytes. */
void gids_sha256_hex(char out[GIDS_SHA256_HEX_SIZE], const void *data, size_t n);
/* Hex digest of a file's bytes, read in blocks.  EIO names the path and the system's reason
 * when the file cannot be opened or read; out is untouched then. */
gids_status gids_sha256_file_hex(char out[GIDS_SHA256_HEX_SIZE], const char *path);

#ifdef __cplusplus
}
#endif

#endif
