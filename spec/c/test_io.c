/* test_io.c -- safetensors round trips (every dtype, mapped and read, strided and empty
 * tensors, metadata), the writer's exact byte layout, every malformed-header case the reader
 * must refuse, atomic writes, lock contention and the file-system helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "gids/io.h"
#include "helpers.h"

static char tmpdir[256];

static const char *tpath(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_raw(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f == NULL) return;
    CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}

/* A file with the given header text (length prefix computed) followed by ndata zero bytes. */
static void write_st(const char *path, const char *header, size_t ndata) {
    size_t hl = strlen(header), n = 8 + hl + ndata;
    unsigned char *b = calloc(1, n);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    write_raw(path, b, n);
    free(b);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static int64_t find(const gids_safetensors *f, const char *name) {
    for (int64_t i = 0; i < f->n; i++)
        if (strcmp(f->names[i], name) == 0) return i;
    return -1;
}

TEST(round_trips_every_dtype_mapped_and_read_with_metadata) {
    int64_t s23[2] = {2, 3}, s4 = 4, s0[2] = {0, 5};
    gids_tensor *a = from(GIDS_F32, 2, s23, (float[]){1.5f, -2, 3, 4, 5, 6});
    gids_tensor *b = from(GIDS_F64, 1, &s4, (double[]){1e-300, -0.0, 3.25, 1e300});
    gids_tensor *c = from(GIDS_I64, 1, &s4, (int64_t[]){INT64_MIN, -1, 0, INT64_MAX});
    gids_tensor *d = from(GIDS_I32, 1, &s4, (int32_t[]){-7, 0, 7, 2147483647});
    gids_tensor *e = from(GIDS_U8, 1, &s4, (uint8_t[]){0, 1, 128, 255});
    gids_tensor *f = from(GIDS_BOOL, 1, &s4, (bool[]){true, false, false, true});
    gids_tensor *g = NULL, *sc = NULL, *at = NULL;
    CHECK_OK(gids_empty(&g, GIDS_F32, GIDS_DEVICE_CPU, 2, s0));
    CHECK_OK(gids_full(&sc, GIDS_F64, GIDS_DEVICE_CPU, 0, NULL, gids_scalar_f(2.5)));
    CHECK_OK(gids_transpose(&at, a, 0, 1)); /* strided: written as its logical values */
    const char *names[] = {"a", "b", "c", "d", "e", "f", "empty", "scalar", "a_t"};
    const gids_tensor *ts[] = {a, b, c, d, e, f, g, sc, at};
    const char *mk[] = {"format", "note"}, *mv[] = {"pt", "quote \" and \\ and\nnewline é"};
    CHECK_OK(gids_safetensors_save(tpath("all.safetensors"), 9, names, ts, 2, mk, mv));
    for (int map = 0; map < 2; map++) {
        gids_safetensors r;
        CHECK_OK(gids_safetensors_load(&r, tpath("all.safetensors"), map));
        CHECK(r.n == 9 && r.nmeta == 2);
        for (int i = 0; i < 9; i++) {
            int64_t k = find(&r, names[i]);
            CHECK(k >= 0);
            if (k < 0) continue;
            gids_tensor *x = r.tensors[k];
            const gids_tensor *want = ts[i];
            CHECK(x->dtype == want->dtype && x->ndim == want->ndim);
            CHECK(gids_tensor_numel(x) == gids_tensor_numel(want));
            for (int64_t j = 0; j < gids_tensor_numel(x); j++) {
                double u, v;
                gids_tensor_get(x, j, &u);
                gids_tensor_get(want, j, &v);
                if (want->dtype == GIDS_I64) {
                    int64_t p, q;
                    gids_tensor_get_i64(x, j, &p);
                    gids_tensor_get_i64(want, j, &q);
                    CHECK(p == q);
                } else {
                    CHECK(memcmp(&u, &v, sizeof u) == 0);
                }
            }
        }
        CHECK(strcmp(r.meta_keys[0], "format") == 0 && strcmp(r.meta_values[0], "pt") == 0);
        CHECK(strcmp(r.meta_values[1], mv[1]) == 0);
        gids_safetensors_free(&r);
    }
    gids_tensor *all[] = {a, b, c, d, e, f, g, sc, at};
    for (int i = 0; i < 9; i++) gids_tensor_release(all[i]);
}

TEST(writes_the_layout_of_the_python_package) {
    int64_t n2 = 2;
    gids_tensor *w = from(GIDS_F32, 1, &n2, (float[]){1, 2});
    gids_tensor *i = from(GIDS_I64, 1, &n2, (int64_t[]){3, 4});
    gids_tensor *f = from(GIDS_F64, 1, &n2, (double[]){5, 6});
    gids_tensor *u = from(GIDS_U8, 1, &n2, (uint8_t[]){7, 8});
    const char *names[] = {"w", "u", "f", "i"};
    const gids_tensor *ts[] = {w, u, f, i};
    CHECK_OK(gids_safetensors_save(tpath("layout.safetensors"), 4, names, ts, 0, NULL, NULL));
    size_t n = 0;
    unsigned char *b = slurp(tpath("layout.safetensors"), &n);
    CHECK(b != NULL);
    if (b) {
        uint64_t hl = 0;
        for (int k = 7; k >= 0; k--) hl = (hl << 8) | b[k];
        CHECK(hl % 8 == 0);
        /* I64 sorts before F64 (the enum's order), U8 last; offsets back to back. */
        const char *want = "{\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                           "\"f\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[16,32]},"
                           "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[32,40]},"
                           "\"u\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[40,42]}}";
        CHECK(hl >= strlen(want) && memcmp(b + 8, want, strlen(want)) == 0);
        for (size_t k = 8 + strlen(want); k < 8 + hl; k++) CHECK(b[k] == ' ');
        CHECK(n == 8 + hl + 42);
        int64_t three;
        memcpy(&three, b + 8 + hl, 8);
        CHECK(three == 3);
    }
    free(b);
    /* an empty key array (Python's metadata={}) writes an empty "__metadata__"; NULL none */
    const char *no_keys[1] = {NULL};
    CHECK_OK(gids_safetensors_save(tpath("m0.safetensors"), 1, names, ts, 0, no_keys, no_keys));
    b = slurp(tpath("m0.safetensors"), &n);
    const char *want0 = "\x48\0\0\0\0\0\0\0{\"__metadata__\":{},"
                        "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    CHECK(b != NULL && n == 8 + 72 + 8 && memcmp(b, want0, 8 + strlen(want0 + 8)) == 0);
    free(b);
    gids_safetensors r;
    CHECK_OK(gids_safetensors_load(&r, tpath("m0.safetensors"), true));
    CHECK(r.n == 1 && r.nmeta == 0);
    gids_safetensors_free(&r);
    gids_tensor_release(w);
    gids_tensor_release(i);
    gids_tensor_release(f);
    gids_tensor_release(u);
}

TEST(mapped_tensors_outlive_the_struct_and_never_write_the_file) {
    int64_t n3 = 3;
    gids_tensor *w = from(GIDS_F32, 1, &n3, (float[]){1, 2, 3});
    const char *names[] = {"w"};
    const gids_tensor *ts[] = {w};
    CHECK_OK(gids_safetensors_save(tpath("map.safetensors"), 1, names, ts, 0, NULL, NULL));
    gids_safetensors r;
    CHECK_OK(gids_safetensors_load(&r, tpath("map.safetensors"), true));
    gids_tensor *keep = r.tensors[0];
    gids_tensor_retain(keep);
    gids_safetensors_free(&r);
    CHECK(same(keep, 3, (double[]){1, 2, 3}));
    CHECK_OK(gids_fill_(keep, gids_scalar_f(9)));
    CHECK(same(keep, 3, (double[]){9, 9, 9}));
    gids_tensor_release(keep); /* unmaps */
    CHECK_OK(gids_safetensors_load(&r, tpath("map.safetensors"), false));
    CHECK(same(r.tensors[0], 3, (double[]){1, 2, 3}));
    gids_safetensors_free(&r);
    gids_tensor_release(w);
}

TEST(copies_a_tensor_whose_offset_is_misaligned_for_its_dtype) {
    /* A foreign writer without padding: header of 7 bytes puts the data at file offset 15, and
     * a U8 before an F32 puts the F32 at an odd data offset. */
    const char *h = "{\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                    "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1,5]}}";
    size_t hl = strlen(h);
    unsigned char b[512] = {0};
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, h, hl);
    b[8 + hl] = 42;
    float v = 6.5f;
    memcpy(b + 8 + hl + 1, &v, 4);
    write_raw(tpath("odd.safetensors"), b, 8 + hl + 5);
    gids_safetensors r;
    CHECK_OK(gids_safetensors_load(&r, tpath("odd.safetensors"), true));
    if (r.n == 2) {
        CHECK(same(r.tensors[find(&r, "w")], 1, (double[]){6.5}));
        CHECK(same(r.tensors[find(&r, "u")], 1, (double[]){42}));
    }
    gids_safetensors_free(&r);
}

TEST(widens_f16_and_bf16_to_f32_exactly) {
    const char *h = "{\"h\":{\"dtype\":\"F16\",\"shape\":[7],\"data_offsets\":[0,14]},"
                    "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[14,18]}}";
    uint16_t halves[9] = {0x3C00, 0xB800, 0x7BFF, 0x0001, 0x7C00, 0x8000, 0x7E00, 0x3F80, 0xC000};
    size_t hl = strlen(h);
    unsigned char b[512] = {0};
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, h, hl);
    memcpy(b + 8 + hl, halves, sizeof halves); /* little-endian host */
    write_raw(tpath("half.safetensors"), b, 8 + hl + sizeof halves);
    for (int map = 0; map < 2; map++) {
        gids_safetensors r;
        CHECK_OK(gids_safetensors_load(&r, tpath("half.safetensors"), map));
        if (r.n != 2) continue;
        gids_tensor *f16 = r.tensors[find(&r, "h")], *bf = r.tensors[find(&r, "b")];
        CHECK(f16->dtype == GIDS_F32 && bf->dtype == GIDS_F32);
        const float *v = gids_tensor_data(f16);
        CHECK(v[0] == 1.0f && v[1] == -0.5f && v[2] == 65504.0f);
        CHECK(v[3] == 5.9604644775390625e-8f); /* the smallest subnormal, 2^-24 */
        CHECK(isinf(v[4]) && v[4] > 0 && v[5] == 0.0f && signbit(v[5]) && isnan(v[6]));
        CHECK(same(bf, 2, (double[]){1.0, -2.0}));
        gids_safetensors_free(&r);
    }
}

/* Each malformed header is EFORMAT with a message naming the file and the problem. */
TEST(refuses_every_malformed_header_with_a_precise_message) {
    static const struct {
        const char *header;
        size_t ndata;
        const char *needle;
    } cases[] = {
        {"[]", 0, "must be a JSON object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4,
         "column 55: expected a string as a tensor name"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4,
         "unexpected text after"},
        {"{\"a\":{\"dtype\":\"Q8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
         "tensor 'a' has dtype \"Q8\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 12,
         "hold 12 bytes but dtype F32 x shape [2,2] needs 16"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
         "begin at 4, expected 0"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}",
         6, "tensor 'b': data_offsets begin at 2, expected 4"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 6, "trailing bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 2, "file truncated"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "tensor name 'a' appears twice"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ value of a key must be a string"},
        {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "__metadata__ key 'k' appears twice"},
        /* the later of two keys apart is named, at its own place */
        {"{\"__metadata__\":{\"k\":\"1\",\"j\":\"0\",\"k\":\"2\"}}", 0,
         "column 34: __metadata__ key 'k' appears twice"},
        {"{\"a\xff\":{}}", 0, "invalid UTF-8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, "tensor 'a' has no data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
         "expected a non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4,
         "found a fraction or exponent"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "end before begin"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
         "unknown key \"x\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999,99999999999,99999999999],"
         "\"data_offsets\":[0,4]}}",
         4, "shape overflows"},
        {"{\n\"a\":{\"dtype\":\"F32\",\n\"shape\":[1],\"data_offsets\":[0,4]}", 4,
         "header line 3, column"},
        {"{\"a\\q\":{}}", 0, "unknown escape"},
        {"{\"\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "empty tensor name"},
        /* no elements, but strides past int64 (found by fuzzing: a signed overflow) */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[0,1099511627776,1099511627776],"
         "\"data_offsets\":[0,0]}}",
         0, "shape overflows"},
        /* the shape's own words for too many dims, counting them all */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
         "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
         4, "column 29: tensor 'a' has a shape of 40 dims; graphids supports at most 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
         "tensor 'a': data_offsets must be [begin, end], got 3 values"},
        /* 64 bits hold UINT64_MAX itself (the shape check names it); one more overflows */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[18446744073709551615],\"data_offsets\":[0,4]}}", 4,
         "tensor 'a' has size 18446744073709551615 in its shape (at most 9223372036854775807)"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[18446744073709551610],\"data_offsets\":[0,4]}}", 4,
         "tensor 'a' has size 18446744073709551610 in its shape (at most 9223372036854775807)"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,4]}}", 4,
         "column 30: integer in tensor 'a' overflows 64 bits"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[184467440737095516150],\"data_offsets\":[0,4]}}", 4,
         "overflows 64 bits"},
        /* what stands at the error is shown escaped, never as the raw byte */
        {"\xEF\xBB\xBF{}", 0,
         "column 1: the header must be a JSON object starting with '{', found a UTF-8 byte-order "
         "mark"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}\f}", 4,
         "expected ',' or '}' in the header object, found '\\x0C'"},
        {"{\"a\"\xC3\xA9}", 0, "expected ':' after a tensor name, found '\\xC3'"},
        {"{\"a\":{\"dtype\":\"F32\"x}}", 0, "expected ',' or '}' in tensor 'a', found 'x'"},
        {"{\"__metadata__\":nul}", 0, "expected '{' to open __metadata__, found 'n'"},
        /* a name's control characters (JSON escapes) are shown escaped too */
        {"{\"a\\u001b[31m\\n\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0,
         "tensor 'a\\x1B[31m\\x0A' has no data_offsets"},
        /* and its C1 controls (U+009B acts as ESC [ on some terminals), as Python's repr */
        {"{\"a\\u009b31m\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
         "tensor 'a\\xC2\\x9B31m': data_offsets [0,4] hold 4 bytes but dtype F32 x shape [2] needs "
         "8"},
        {"{\"__metadata__\":{\"\xC2\x85\":\"1\",\"\\u0085\":\"2\"}}", 0,
         "__metadata__ key '\\xC2\\x85' appears twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_st(tpath("bad.safetensors"), cases[i].header, cases[i].ndata);
        gids_safetensors r;
        gids_status s = gids_safetensors_load(&r, tpath("bad.safetensors"), i % 2 == 0);
        if (s != GIDS_EFORMAT || !strstr(gids_error_message(), cases[i].needle) ||
            !strstr(gids_error_message(), "bad.safetensors"))
            CHECK_FAIL_("case %zu: %s: '%s' lacks '%s'", i, gids_status_name(s),
                        gids_error_message(), cases[i].needle);
        CHECK(r.n == 0 && r.names == NULL);
    }
}

/* The element count is taken before the bytes, as the reference reader does: a shape with a 0
 * holds no bytes wherever the 0 stands (the bytes counted dim by dim overflowed on [2^62, 0]
 * and not on [0, 2^62]). */
/* "__metadata__": null is no metadata, as the reference reader (an Option) and Python's
 * safetensors 0.8.0 (metadata() is None) have it. */
TEST(null_metadata_is_none) {
    static const char *const headers[] = {
        "{\"__metadata__\": null ,\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"__metadata__\":null}",
        "{\"__metadata__\":null}",
    };
    for (int i = 0; i < 3; i++) {
        write_st(tpath("null.safetensors"), headers[i], i < 2 ? 4 : 0);
        gids_safetensors r;
        CHECK_OK(gids_safetensors_load(&r, tpath("null.safetensors"), i == 0));
        CHECK(r.n == (i < 2 ? 1 : 0) && r.nmeta == 0);
        gids_safetensors_free(&r);
    }
    gids_safetensors r;
    write_st(tpath("null.safetensors"), "{\"__metadata__\":null,\"__metadata__\":{}}", 0);
    CHECK_ERR(gids_safetensors_load(&r, tpath("null.safetensors"), true), GIDS_EFORMAT,
              "\"__metadata__\" appears twice");
}

TEST(zero_element_shapes_load_wherever_the_zero_stands) {
    static const char *const headers[] = {
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,0],\"data_offsets\":[0,0]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,4611686018427387904],\"data_offsets\":[0,0]}}",
    };
    for (int i = 0; i < 2; i++) {
        write_st(tpath("zero.safetensors"), headers[i], 0);
        gids_safetensors r;
        CHECK_OK(gids_safetensors_load(&r, tpath("zero.safetensors"), i == 0));
        CHECK(r.n == 1 && gids_tensor_numel(r.tensors[0]) == 0);
        gids_safetensors_free(&r);
    }
}

TEST(refuses_bad_length_prefixes_and_missing_files) {
    gids_safetensors r;
    write_raw(tpath("short.safetensors"), "abc", 3);
    CHECK_ERR(gids_safetensors_load(&r, tpath("short.safetensors"), true), GIDS_EFORMAT,
              "too short for the 8-byte header length");
    unsigned char big[16] = {0};
    big[3] = 0x10; /* 268 435 456 > 100 000 000 */
    write_raw(tpath("big.safetensors"), big, 16);
    CHECK_ERR(gids_safetensors_load(&r, tpath("big.safetensors"), true), GIDS_EFORMAT,
              "exceeds the limit of 100000000");
    unsigned char past[12] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
    write_raw(tpath("past.safetensors"), past, 12);
    CHECK_ERR(gids_safetensors_load(&r, tpath("past.safetensors"), false), GIDS_EFORMAT,
              "header length 100 runs past the end of the file (12 bytes)");
    CHECK_ERR(gids_safetensors_load(&r, tpath("none.safetensors"), true), GIDS_EIO, "cannot open");
    CHECK_ERR(gids_safetensors_load(&r, tmpdir, true), GIDS_EIO, "not a regular file");
    /* a FIFO is refused at once (opening one for reading used to wait for a writer) */
    CHECK(mkfifo(tpath("fifo.safetensors"), 0600) == 0);
    CHECK_ERR(gids_safetensors_load(&r, tpath("fifo.safetensors"), false), GIDS_EIO,
              "not a regular file");
    write_st(tpath("empty.safetensors"), "{}", 0);
    CHECK_OK(gids_safetensors_load(&r, tpath("empty.safetensors"), true));
    CHECK(r.n == 0 && r.nmeta == 0);
    gids_safetensors_free(&r);
}

/* A long name (of characters shown four bytes each) is cut with "..." so that the reason after it
 * always fits the message; it had pushed the reason out and ended the message inside an escape. */
TEST(a_long_name_leaves_room_for_the_reason) {
    char header[4096];
    size_t o = (size_t)snprintf(header, sizeof header, "{\"");
    for (int i = 0; i < 250; i++) o += (size_t)snprintf(header + o, sizeof header - o, "\\u001b");
    snprintf(header + o, sizeof header - o,
             "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}");
    write_st(tpath("long.safetensors"), header, 8);
    gids_safetensors r;
    CHECK_ERR(gids_safetensors_load(&r, tpath("long.safetensors"), true), GIDS_EFORMAT,
              "\\x1B...': data_offsets must be [begin, end], got 3 values");
    /* cut on a whole escape: the shown name is \x1B repeated, then "..." */
    const char *m = strstr(gids_error_message(), "tensor '");
    CHECK(m != NULL);
    const char *cut = m ? strstr(m, "...") : NULL;
    CHECK(cut != NULL && (cut - (m + 8)) % 4 == 0);
}

/* gids_printable(s, buf, cap) into a buffer of exactly cap bytes (so that ASan sees a write past
 * it), compared with want. */
#define CHECK_SHOWN(s, cap, want)                                                                  \
    do {                                                                                           \
        char *b_ = malloc(cap);                                                                    \
        CHECK(b_ != NULL);                                                                         \
        if (b_ == NULL) break;                                                                     \
        memset(b_, '#', cap);                                                                      \
        const char *r_ = gids_printable((s), b_, (cap));                                           \
        if (r_ != b_ || strcmp(r_, (want)) != 0)                                                   \
            CHECK_FAIL_("gids_printable(%s, cap %d) gave \"%s\", expected \"%s\"", #s, (int)(cap), \
                        r_, (want));                                                               \
        free(b_);                                                                                  \
    } while (0)

/* A string cut only when it does not fit: one that fits exactly (cap - 1 bytes shown) had been
 * cut to make room for a "..." it did not need.  A cut keeps "..." and the NUL within cap and
 * never splits an escape or a UTF-8 sequence. */
TEST(printable_cuts_only_what_does_not_fit) {
    /* exact fit, and every length from cap - 4 (the old limit) to cap - 1 */
    CHECK_SHOWN("abcdefghijklmno", 16, "abcdefghijklmno");
    CHECK_SHOWN("abcdefghijklmn", 16, "abcdefghijklmn");
    CHECK_SHOWN("abcdefghijklm", 16, "abcdefghijklm");
    CHECK_SHOWN("abcdefghijkl", 16, "abcdefghijkl");
    CHECK_SHOWN("ab", 4, "ab");
    CHECK_SHOWN("abc", 4, "abc");
    /* one over: cut, with the dots */
    CHECK_SHOWN("abcdefghijklmnop", 16, "abcdefghijkl...");
    CHECK_SHOWN("abcd", 4, "...");
    /* escapes at the boundary: \x1B (4 bytes shown), a C1 control's two bytes (8), a broken byte */
    CHECK_SHOWN("\x1B", 5, "\\x1B");
    CHECK_SHOWN("\x1B", 4, "...");
    CHECK_SHOWN("a\x1B", 6, "a\\x1B");
    CHECK_SHOWN("a\x1B", 5, "a...");
    CHECK_SHOWN("ab\x1B"
                "c",
                8, "ab\\x1Bc");
    CHECK_SHOWN("ab\x1B"
                "c",
                7, "ab...");
    CHECK_SHOWN("abcde\x1B", 9, "abcde...");
    CHECK_SHOWN("a\x1B"
                "bcde",
                9, "a\\x1B...");
    CHECK_SHOWN("ab\x1B"
                "cde",
                9, "ab...");
    CHECK_SHOWN("\xC2\x85", 9, "\\xC2\\x85");
    CHECK_SHOWN("x\xC2\x85", 9, "x...");
    CHECK_SHOWN("x\xC2\x85", 10, "x\\xC2\\x85");
    CHECK_SHOWN("\xFF"
                "ab",
                7, "\\xFFab");
    CHECK_SHOWN("\xFF"
                "ab",
                6, "..."); /* (room for 2 shown bytes: not half of \xFF) */
    /* a UTF-8 sequence at the boundary is kept whole or left out */
    CHECK_SHOWN("a\xC3\xA9", 4, "a\xC3\xA9");
    CHECK_SHOWN("a\xC3\xA9xyz", 7, "a\xC3\xA9xyz");
    CHECK_SHOWN("a\xC3\xA9xyz", 6, "a...");
    CHECK_SHOWN("ab\xF0\x9F\x98\x80zz", 9, "ab\xF0\x9F\x98\x80zz");
    CHECK_SHOWN("ab\xF0\x9F\x98\x80zz", 8, "ab...");
    /* cap 1 to 5: below 4 only the dots that fit */
    CHECK_SHOWN("abcdef", 1, "");
    CHECK_SHOWN("abcdef", 2, ".");
    CHECK_SHOWN("abcdef", 3, "..");
    CHECK_SHOWN("abcdef", 4, "...");
    CHECK_SHOWN("abcdef", 5, "a...");
    CHECK_SHOWN("ab", 1, "");
    CHECK_SHOWN("ab", 2, ".");
    CHECK_SHOWN("ab", 3, "ab");
    CHECK_SHOWN("ab", 5, "ab");
    CHECK_SHOWN("", 1, "");
    CHECK_SHOWN("\x1B", 1, "");
    CHECK_SHOWN("\x1B", 3, "..");
    /* cap 0: nothing written */
    char one = '#';
    CHECK(strcmp(gids_printable("abc", &one, 0), "") == 0 && one == '#');
}

/* A BOOL byte other than 0 or 1 would read as true in one kernel and as itself in another. */
TEST(refuses_bool_bytes_other_than_0_and_1) {
    /* (the name's escape character is shown as \x1B, not sent to the terminal) */
    const char *header = "{\"a\\u001b\":{\"dtype\":\"BOOL\",\"shape\":[4],\"data_offsets\":[0,4]}}";
    size_t hl = strlen(header);
    unsigned char b[128] = {0};
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    const unsigned char good[4] = {0, 1, 1, 0}, bad[4] = {0, 1, 2, 255};
    gids_safetensors r;
    memcpy(b + 8 + hl, good, 4);
    write_raw(tpath("bool.safetensors"), b, 8 + hl + 4);
    CHECK_OK(gids_safetensors_load(&r, tpath("bool.safetensors"), true));
    gids_safetensors_free(&r);
    memcpy(b + 8 + hl, bad, 4);
    write_raw(tpath("bool.safetensors"), b, 8 + hl + 4);
    for (int map = 0; map < 2; map++)
        CHECK_ERR(gids_safetensors_load(&r, tpath("bool.safetensors"), map), GIDS_EFORMAT,
                  "tensor 'a\\x1B' (BOOL) holds byte 2 at element 2; BOOL bytes must be 0 or 1");
}

TEST(save_refuses_bad_names_duplicates_and_leaves_the_old_file) {
    int64_t n1 = 1;
    gids_tensor *w = from(GIDS_F32, 1, &n1, (float[]){1});
    const char *dup[] = {"w", "w"};
    const gids_tensor *ts[] = {w, w};
    write_raw(tpath("keep.safetensors"), "old", 3);
    CHECK_ERR(gids_safetensors_save(tpath("keep.safetensors"), 2, dup, ts, 0, NULL, NULL),
              GIDS_EINVAL, "tensor name 'w' given twice");
    const char *meta[] = {"__metadata__"};
    CHECK_ERR(gids_safetensors_save(tpath("keep.safetensors"), 1, meta, ts, 0, NULL, NULL),
              GIDS_EINVAL, "tensor name '__metadata__' is invalid");
    const char *one[] = {"w"}, *mk[] = {"k", "k"}, *mv[] = {"1", "2"};
    CHECK_ERR(gids_safetensors_save(tpath("keep.safetensors"), 1, one, ts, 2, mk, mv), GIDS_EINVAL,
              "metadata key 'k' given twice");
    /* a duplicate far apart among many names, in either list (found by sorting) */
    enum { MANY = 5000 };
    static char many_buf[MANY][16];
    static const char *many[MANY], *many_v[MANY];
    static const gids_tensor *many_t[MANY];
    for (int i = 0; i < MANY; i++) {
        snprintf(many_buf[i], sizeof many_buf[i], "t%04d", i == MANY - 1 ? 7 : i);
        many[i] = many_buf[i], many_v[i] = "v", many_t[i] = w;
    }
    CHECK_ERR(gids_safetensors_save(tpath("keep.safetensors"), MANY, many, many_t, 0, NULL, NULL),
              GIDS_EINVAL, "tensor name 't0007' given twice");
    CHECK_ERR(gids_safetensors_save(tpath("keep.safetensors"), 1, one, ts, MANY, many, many_v),
              GIDS_EINVAL, "metadata key 't0007' given twice");
    CHECK_ERR(gids_safetensors_save(tpath("nodir/x.safetensors"), 1, one, ts, 0, NULL, NULL),
              GIDS_EIO, "cannot create a temp file beside");
    /* what the reader would refuse is not written: invalid UTF-8, a header over the limit */
    const char *bad_name[] = {"w\xff"}, *bk[] = {"k\xc0\x80"}, *bv[] = {"ok\xed\xa0\x80"};
    CHECK_ERR(gids_safetensors_save(tpath("keep.safetensors"), 1, bad_name, ts, 0, NULL, NULL),
              GIDS_EINVAL, "tensor name 'w\\xff' is not valid UTF-8 (byte 1)");
    CHECK_ERR(gids_safetensors_save(tpath("keep.safetensors"), 1, one, ts, 1, bk, mv), GIDS_EINVAL,
              "metadata key 'k\\xc0\\x80' is not valid UTF-8 (byte 1)");
    CHECK_ERR(gids_safetensors_save(tpath("keep.safetensors"), 1, one, ts, 1, mk, bv), GIDS_EINVAL,
              "metadata value of 'k' is not valid UTF-8 (byte 2)");
    char *huge = malloc(GIDS_SAFETENSORS_MAX_HEADER + 1);
    memset(huge, 'x', GIDS_SAFETENSORS_MAX_HEADER);
    huge[GIDS_SAFETENSORS_MAX_HEADER] = '\0';
    const char *hv[] = {huge};
    char want[600];
    snprintf(want, sizeof want, "safetensors save '%s': the header would be",
             tpath("keep.safetensors"));
    CHECK_ERR(gids_safetensors_save(tpath("keep.safetensors"), 1, one, ts, 1, mk, hv), GIDS_EINVAL,
              want);
    CHECK_ERR(gids_safetensors_save(tpath("keep.safetensors"), 1, one, ts, 1, mk, hv), GIDS_EINVAL,
              "over the format's limit of 100000000");
    free(huge);
    /* a name or key a message quotes shows its control characters escaped, never raw */
    const char *esc_k[] = {"k\x1b[2J"}, *esc_dup[] = {"w\n", "w\n"};
    CHECK_ERR(gids_safetensors_save(tpath("keep.safetensors"), 1, one, ts, 1, esc_k, bv),
              GIDS_EINVAL, "metadata value of 'k\\x1B[2J' is not valid UTF-8");
    CHECK_ERR(gids_safetensors_save(tpath("keep.safetensors"), 2, esc_dup, ts, 0, NULL, NULL),
              GIDS_EINVAL, "tensor name 'w\\x0A' given twice");
    size_t n = 0;
    unsigned char *b = slurp(tpath("keep.safetensors"), &n);
    CHECK(n == 3 && b && memcmp(b, "old", 3) == 0);
    free(b);
    gids_tensor_release(w);
}

/* Duplicate metadata keys are found by sorting: 200k keys take well under a second (comparing
 * each with every earlier one took 37 s). */
TEST(many_metadata_keys_load_quickly) {
    enum { K = 200000 };
    size_t cap = (size_t)K * 16 + 64, n = 0;
    char *h = malloc(cap);
    n += (size_t)snprintf(h + n, cap - n, "{\"__metadata__\":{");
    for (int i = 0; i < K; i++)
        n += (size_t)snprintf(h + n, cap - n, "%s\"k%d\":\"\"", i ? "," : "", i);
    n += (size_t)snprintf(h + n, cap - n, "}}");
    write_st(tpath("keys.safetensors"), h, 0);
    free(h);
    double t0 = now_s();
    gids_safetensors r;
    CHECK_OK(gids_safetensors_load(&r, tpath("keys.safetensors"), true));
    CHECK(r.nmeta == K);
    CHECK(now_s() - t0 < 5.0);
    gids_safetensors_free(&r);
}

/* Random byte edits of a valid file (header and data) must either load or fail with EFORMAT:
 * never crash, read out of bounds (ASan) or leak.  Deterministic (fixed LCG seed). */
TEST(survives_random_corruption_of_a_valid_file) {
    int64_t s23[2] = {2, 3}, n2 = 2;
    gids_tensor *a = from(GIDS_F32, 2, s23, (float[]){1, 2, 3, 4, 5, 6});
    gids_tensor *b = from(GIDS_I64, 1, &n2, (int64_t[]){7, 8});
    const char *names[] = {"alpha", "b"}, *mk[] = {"format"}, *mv[] = {"pt"};
    const gids_tensor *ts[] = {a, b};
    CHECK_OK(gids_safetensors_save(tpath("fuzz0.safetensors"), 2, names, ts, 1, mk, mv));
    size_t n = 0;
    unsigned char *orig = slurp(tpath("fuzz0.safetensors"), &n);
    unsigned char *buf = malloc(n + 16);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int loaded = 0, refused = 0;
    for (int iter = 0; iter < 800 && orig && buf; iter++) {
        memcpy(buf, orig, n);
        size_t len = n;
        int edits = 1 + iter % 3;
        for (int k = 0; k < edits; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(rng >> 33) % len;
            unsigned char val = (unsigned char)(rng >> 17);
            switch ((rng >> 60) % 4) {
            case 0: buf[pos] = val; break;                               /* overwrite */
            case 1: buf[pos] ^= (unsigned char)(1u << (val % 8)); break; /* flip a bit */
            case 2: len = pos + 1; break;                                /* truncate */
            default: buf[pos] = "{}[],:\"0123456789 -.e\\u"[val % 24];   /* JSON-ish */
            }
        }
        write_raw(tpath("fuzz.safetensors"), buf, len);
        gids_safetensors r;
        gids_status st = gids_safetensors_load(&r, tpath("fuzz.safetensors"), iter % 2 == 0);
        if (st == GIDS_OK) {
            loaded++;
            gids_safetensors_free(&r);
        } else if (st == GIDS_EFORMAT) {
            refused++;
        } else {
            CHECK_FAIL_("iter %d: %s: %s", iter, gids_status_name(st), gids_error_message());
        }
    }
    CHECK(refused > 300 && loaded > 0); /* data-only edits still load */
    free(buf);
    free(orig);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

static int count_entries(const char *dir) {
    char **names = NULL;
    int64_t n = 0;
    CHECK_OK(gids_list_dir(dir, &names, &n));
    gids_list_dir_free(names, n);
    return (int)n;
}

TEST(atomic_write_replaces_the_file_and_leaves_no_temp_file) {
    CHECK_OK(gids_mkdir_p(tpath("aw")));
    CHECK_OK(gids_atomic_write(tpath("aw/f.txt"), "first", 5));
    CHECK_OK(gids_atomic_write(tpath("aw/f.txt"), "second!", 7));
    size_t n = 0;
    unsigned char *b = slurp(tpath("aw/f.txt"), &n);
    CHECK(n == 7 && b && memcmp(b, "second!", 7) == 0);
    free(b);
    CHECK(count_entries(tpath("aw")) == 1);
    gids_atomic_file f;
    CHECK_OK(gids_atomic_open(&f, tpath("aw/g.txt")));
    CHECK_OK(gids_atomic_append(&f, "x", 1));
    CHECK(count_entries(tpath("aw")) == 2); /* the temp file */
    gids_atomic_abort(&f);
    CHECK(count_entries(tpath("aw")) == 1);
    gids_file_info st;
    CHECK_OK(gids_file_stat(tpath("aw/g.txt"), &st));
    CHECK(st.type == GIDS_FILE_NONE);
    CHECK_ERR(gids_atomic_write(tpath("aw/"), "x", 1), GIDS_EINVAL, "names a directory");
    /* A rename over a non-empty directory fails: the temp file goes, the directory stays. */
    CHECK_OK(gids_mkdir_p(tpath("aw/d/sub")));
    CHECK_ERR(gids_atomic_write(tpath("aw/d"), "x", 1), GIDS_EIO, "rename");
    CHECK(count_entries(tpath("aw")) == 2);
    CHECK_OK(gids_file_stat(tpath("aw/d/sub"), &st));
    CHECK(st.type == GIDS_FILE_DIR);
}

static bool file_is(const char *path, const char *text) {
    size_t n = 0;
    unsigned char *b = slurp(path, &n);
    bool ok = b != NULL && n == strlen(text) && memcmp(b, text, n) == 0;
    free(b);
    return ok;
}

TEST(atomic_write_keeps_the_mode_and_writes_through_a_symbolic_link) {
    CHECK_OK(gids_mkdir_p(tpath("am/real")));
    struct stat st;
    /* a private file stays private (and an executable one executable) */
    CHECK_OK(gids_atomic_write(tpath("am/private"), "a", 1));
    CHECK(chmod(tpath("am/private"), 0600) == 0);
    CHECK_OK(gids_atomic_write(tpath("am/private"), "bb", 2));
    CHECK(stat(tpath("am/private"), &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK(file_is(tpath("am/private"), "bb"));
    CHECK(chmod(tpath("am/private"), 0751) == 0);
    CHECK_OK(gids_atomic_write(tpath("am/private"), "c", 1));
    CHECK(stat(tpath("am/private"), &st) == 0 && (st.st_mode & 07777) == 0751);
    /* a new file honors the umask */
    mode_t old = umask(077);
    CHECK_OK(gids_atomic_write(tpath("am/fresh"), "x", 1));
    umask(old);
    CHECK(stat(tpath("am/fresh"), &st) == 0 && (st.st_mode & 07777) == 0600);
    /* a relative link (two hops) is written through: the link stays, the file it leads to
     * changes and keeps its mode, and no temp file is left in either directory */
    CHECK_OK(gids_atomic_write(tpath("am/real/ckpt"), "old", 3));
    CHECK(chmod(tpath("am/real/ckpt"), 0640) == 0);
    CHECK(symlink("real/ckpt", tpath("am/hop")) == 0);
    CHECK(symlink("hop", tpath("am/link")) == 0);
    CHECK_OK(gids_atomic_write(tpath("am/link"), "new!", 4));
    CHECK(lstat(tpath("am/link"), &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(lstat(tpath("am/hop"), &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(file_is(tpath("am/real/ckpt"), "new!"));
    CHECK(stat(tpath("am/real/ckpt"), &st) == 0 && (st.st_mode & 07777) == 0640);
    CHECK(count_entries(tpath("am/real")) == 1);
    CHECK(count_entries(tpath("am")) == 5); /* private fresh real hop link */
    /* an absolute link to a file not there yet creates it */
    CHECK(symlink(tpath("am/real/later"), tpath("am/dangling")) == 0);
    CHECK_OK(gids_atomic_write(tpath("am/dangling"), "z", 1));
    CHECK(lstat(tpath("am/dangling"), &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(file_is(tpath("am/real/later"), "z"));
    /* a failed write through a link leaves the file it leads to as it was */
    gids_atomic_file f;
    CHECK_OK(gids_atomic_open(&f, tpath("am/link")));
    CHECK_OK(gids_atomic_append(&f, "partial", 7));
    gids_atomic_abort(&f);
    CHECK(file_is(tpath("am/real/ckpt"), "new!"));
    CHECK(count_entries(tpath("am/real")) == 2);
    /* what ckpt.save's last step uses: resolve, then rename a finished file onto the target,
     * which keeps its mode */
    char *resolved = NULL;
    CHECK_OK(gids_resolve_links(tpath("am/link"), &resolved));
    CHECK(resolved != NULL && strcmp(resolved, tpath("am/real/ckpt")) == 0);
    free(resolved);
    write_raw(tpath("am/real/.pending"), "via replace", 11);
    CHECK_OK(gids_replace_file(tpath("am/real/.pending"), tpath("am/link")));
    CHECK(file_is(tpath("am/real/ckpt"), "via replace"));
    CHECK(stat(tpath("am/real/ckpt"), &st) == 0 && (st.st_mode & 07777) == 0640);
    CHECK(lstat(tpath("am/link"), &st) == 0 && S_ISLNK(st.st_mode));
    CHECK_ERR(gids_replace_file(tpath("am/real/.gone"), tpath("am/link")), GIDS_EIO,
              "No such file");
    /* the temp file of a write through a link goes in the target's directory: a failure to
     * make it names that directory and the link */
    CHECK(symlink("lost/ckpt", tpath("am/tolost")) == 0);
    char want[1200];
    snprintf(want, sizeof want,
             "cannot create a temp file in '%s' (the directory of '%s', where "
             "the symbolic link '%s' leads)",
             tpath("am/lost"), tpath("am/lost/ckpt"), tpath("am/tolost"));
    CHECK_ERR(gids_atomic_write(tpath("am/tolost"), "x", 1), GIDS_EIO, want);
    CHECK_ERR(gids_atomic_write(tpath("am/lost2/ckpt"), "x", 1), GIDS_EIO,
              "cannot create a temp file beside");
    /* a replace across file systems (when /dev/shm is another one) is refused before src
     * changes: its mode stays its own */
    struct stat shm;
    char shm_src[64];
    snprintf(shm_src, sizeof shm_src, "/dev/shm/gids_test_io_%ld", (long)getpid());
    if (stat("/dev/shm", &shm) == 0 && stat(tpath("am/real"), &st) == 0 &&
        shm.st_dev != st.st_dev) {
        write_raw(shm_src, "far", 3);
        CHECK(chmod(shm_src, 0604) == 0);
        CHECK_ERR(gids_replace_file(shm_src, tpath("am/link")), GIDS_EIO, "different file systems");
        CHECK(stat(shm_src, &st) == 0 && (st.st_mode & 07777) == 0604);
        CHECK(file_is(tpath("am/real/ckpt"), "via replace"));
        unlink(shm_src);
    }
    /* a loop of links is refused */
    CHECK(symlink("loop2", tpath("am/loop1")) == 0 && symlink("loop1", tpath("am/loop2")) == 0);
    CHECK_ERR(gids_atomic_write(tpath("am/loop1"), "x", 1), GIDS_EIO, "too many levels");
    CHECK_ERR(gids_resolve_links(tpath("am/loop1"), &resolved), GIDS_EIO, "too many levels");
}

TEST(a_second_exclusive_lock_times_out_with_a_clear_error) {
    int a = -1, b = -1, c = -1;
    CHECK_OK(gids_lock_acquire(&a, tpath(".lock"), true, 0));
    CHECK_ERR(gids_lock_acquire(&b, tpath(".lock"), true, 0.05), GIDS_ESTATE,
              "is held by another process (exclusive lock not acquired within 0.05 s)");
    CHECK(b == -1);
    CHECK_ERR(gids_lock_acquire(&b, tpath(".lock"), false, 0), GIDS_ESTATE, "shared lock");
    gids_lock_release(a);
    CHECK_OK(gids_lock_acquire(&b, tpath(".lock"), false, 0));
    CHECK_OK(gids_lock_acquire(&c, tpath(".lock"), false, 0)); /* shared locks coexist */
    CHECK_ERR(gids_lock_acquire(&a, tpath(".lock"), true, 0), GIDS_ESTATE, "held");
    gids_lock_release(b);
    gids_lock_release(c);
    CHECK_OK(gids_lock_acquire(&a, tpath(".lock"), true, 1));
    gids_lock_release(a);
    gids_lock_release(-1);
    CHECK_ERR(gids_lock_acquire(&a, tpath("nodir/.lock"), true, 0), GIDS_EIO, "cannot open");
}

/* In a child that cannot write the lock file (root drops to nobody, anyone else makes it
 * read-only): 0 when a shared lock is taken, 1 when an exclusive one is refused, else 2. */
static int lock_read_only_child(const char *path) {
    if (geteuid() != 0) {
        if (chmod(path, 0444) != 0) return 4;
    } else if (setgid(65534) != 0 || setuid(65534) != 0) {
        return 3;
    }
    int fd = -1;
    if (gids_lock_acquire(&fd, path, false, 0) != GIDS_OK || fd < 0) return 2;
    gids_lock_release(fd);
    if (gids_lock_acquire(&fd, path, true, 0) != GIDS_EIO) return 1;
    return 0;
}

TEST(a_shared_lock_needs_no_write_access_to_the_lock_file) {
    /* a read-only lake (published, or another user's) must still load */
    CHECK_OK(gids_mkdir_p(tpath("ro")));
    int fd = -1;
    CHECK_OK(gids_lock_acquire(&fd, tpath("ro/.lock"), true, 0));
    gids_lock_release(fd);
    CHECK(chmod(tmpdir, 0755) == 0 && chmod(tpath("ro"), 0755) == 0);
    const char *path = tpath("ro/.lock");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(lock_read_only_child(path));
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    chmod(path, 0644);
    CHECK_ERR(gids_lock_acquire(NULL, path, false, 0), GIDS_EINVAL, "fd_out is NULL");
}

TEST(mkdir_p_list_dir_stat_and_remove_tree) {
    CHECK_OK(gids_mkdir_p(tpath("t/a/b/c/")));
    CHECK_OK(gids_mkdir_p(tpath("t/a/b/c")));
    CHECK_OK(gids_atomic_write(tpath("t/zeta"), "z", 1));
    CHECK_OK(gids_atomic_write(tpath("t/Alpha"), "aa", 2));
    CHECK_ERR(gids_mkdir_p(tpath("t/zeta/x")), GIDS_EIO, "zeta");
    char **names = NULL;
    int64_t n = 0;
    CHECK_OK(gids_list_dir(tpath("t"), &names, &n));
    CHECK(n == 3 && strcmp(names[0], "Alpha") == 0 && strcmp(names[1], "a") == 0 &&
          strcmp(names[2], "zeta") == 0);
    gids_list_dir_free(names, n);
    CHECK_ERR(gids_list_dir(tpath("missing"), &names, &n), GIDS_EIO, "missing");
    gids_file_info st;
    CHECK_OK(gids_file_stat(tpath("t/Alpha"), &st));
    CHECK(st.type == GIDS_FILE_REGULAR && st.size == 2 && st.mtime > 1e9);
    CHECK_OK(gids_file_stat(tpath("t/a"), &st));
    CHECK(st.type == GIDS_FILE_DIR);
    /* the file system's usage: consistent sizes, and a path that cannot be read named */
    gids_disk_usage_info du;
    CHECK_OK(gids_disk_usage(tpath("t"), &du));
    CHECK(du.total > 0 && du.used >= 0 && du.used <= du.total && du.free >= 0 &&
          du.free <= du.total);
    CHECK_ERR(gids_disk_usage(tpath("t/missing"), &du), GIDS_EIO, "t/missing");
    /* a link to nothing is there and names nothing: not "absent" */
    CHECK(symlink(tpath("t/nowhere"), tpath("t/dangling")) == 0);
    CHECK_ERR(gids_file_stat(tpath("t/dangling"), &st), GIDS_EIO, "is a symbolic link to nothing");
    CHECK_OK(gids_remove_tree(tpath("t")));
    CHECK_OK(gids_file_stat(tpath("t"), &st));
    CHECK(st.type == GIDS_FILE_NONE);
    CHECK_OK(gids_remove_tree(tpath("t")));
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gids_test_io_XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(round_trips_every_dtype_mapped_and_read_with_metadata);
    RUN(writes_the_layout_of_the_python_package);
    RUN(mapped_tensors_outlive_the_struct_and_never_write_the_file);
    RUN(copies_a_tensor_whose_offset_is_misaligned_for_its_dtype);
    RUN(widens_f16_and_bf16_to_f32_exactly);
    RUN(refuses_every_malformed_header_with_a_precise_message);
    RUN(null_metadata_is_none);
    RUN(zero_element_shapes_load_wherever_the_zero_stands);
    RUN(refuses_bad_length_prefixes_and_missing_files);
    RUN(many_metadata_keys_load_quickly);
    RUN(survives_random_corruption_of_a_valid_file);
    RUN(a_long_name_leaves_room_for_the_reason);
    RUN(printable_cuts_only_what_does_not_fit);
    RUN(refuses_bool_bytes_other_than_0_and_1);
    RUN(save_refuses_bad_names_duplicates_and_leaves_the_old_file);
    RUN(atomic_write_replaces_the_file_and_leaves_no_temp_file);
    RUN(atomic_write_keeps_the_mode_and_writes_through_a_symbolic_link);
    RUN(a_second_exclusive_lock_times_out_with_a_clear_error);
    RUN(a_shared_lock_needs_no_write_access_to_the_lock_file);
    RUN(mkdir_p_list_dir_stat_and_remove_tree);
    gids_remove_tree(tmpdir);
    return check_summary("io");
}
