/* sha256.c -- SHA-256 as FIPS 180-4 §6.2 defines it: 64-byte blocks, big-endian words. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gids/sha256.h"

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static inline uint32_t rotr(uint32_t x, int n) {
    return (x >> n) | (x << (32 - n));
}

static void compress(uint32_t h[8], const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

void gids_sha256_init(gids_sha256 *s) {
    static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, H0, sizeof H0);
    s->len = 0;
    s->buf_used = 0;
}

void gids_sha256_update(gids_sha256 *s, const void *data, size_t n) {
    const uint8_t *p = data;
    s->len += n;
    if (s->buf_used > 0) {
        size_t take = 64 - s->buf_used < n ? 64 - s->buf_used : n;
        memcpy(s->buf + s->buf_used, p, take);
        s->buf_used += (uint32_t)take;
        p += take;
        n -= take;
        if (s->buf_used < 64) return;
        compress(s->h, s->buf);
        s->buf_used = 0;
    }
    /* Whole blocks straight from the caller's memory: no copy through buf. */
    for (; n >= 64; p += 64, n -= 64) compress(s->h, p);
    if (n > 0) memcpy(s->buf, p, n);
    s->buf_used = (uint32_t)n;
}

void gids_sha256_final(gids_sha256 *s, uint8_t out[GIDS_SHA256_SIZE]) {
    uint64_t bits = s->len * 8;
    /* Padding: 0x80, zeros up to 56 mod 64, then the bit length big-endian. */
    uint8_t pad[72] = {0x80};
    size_t npad = (s->buf_used < 56 ? 56 : 120) - s->buf_used;
    for (int i = 0; i < 8; i++) pad[npad + i] = (uint8_t)(bits >> (56 - 8 * i));
    uint64_t len = s->len;
    gids_sha256_update(s, pad, npad + 8);
    s->len = len;
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

void gids_sha256_final_hex(gids_sha256 *s, char out[GIDS_SHA256_HEX_SIZE]) {
    static const char digits[] = "0123456789abcdef";
    uint8_t d[GIDS_SHA256_SIZE];
    gids_sha256_final(s, d);
    for (int i = 0; i < GIDS_SHA256_SIZE; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * GIDS_SHA256_SIZE] = '\0';
}

void gids_sha256_hex(char out[GIDS_SHA256_HEX_SIZE], const void *data, size_t n) {
    gids_sha256 s;
    gids_sha256_init(&s);
    gids_sha256_update(&s, data, n);
    gids_sha256_final_hex(&s, out);
}

gids_status gids_sha256_file_hex(char out[GIDS_SHA256_HEX_SIZE], const char *path) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "sha256_file: out is NULL");
    GIDS_CHECK(path != NULL, GIDS_EINVAL, "sha256_file: path is NULL");
    FILE *f = fopen(path, "rb");
    if (f == NULL) GIDS_FAIL(GIDS_EIO, "sha256_file: cannot open '%s': %s", path, strerror(errno));
    gids_sha256 s;
    gids_sha256_init(&s);
    uint8_t block[1 << 16];
    size_t got;
    while ((got = fread(block, 1, sizeof block, f)) > 0) gids_sha256_update(&s, block, got);
    int bad = ferror(f);
    int err = errno;
    fclose(f);
    if (bad) GIDS_FAIL(GIDS_EIO, "sha256_file: cannot read '%s': %s", path, strerror(err));
    gids_sha256_final_hex(&s, out);
    return GIDS_OK;
}
