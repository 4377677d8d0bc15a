/* test_sha256.c -- SHA-256 against the FIPS 180-2 / NIST example vectors (empty, "abc", the
 * 448- and 896-bit messages, one million 'a'), streaming in every split against one-shot, lengths
 * around the 55/56/64-byte padding edges against a reference computed by Python's hashlib, and
 * the file helper (content and the EIO message). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gids/sha256.h"

static int hex_is(const void *msg, size_t n, const char *want) {
    char got[GIDS_SHA256_HEX_SIZE];
    gids_sha256_hex(got, msg, n);
    if (strcmp(got, want) != 0) fprintf(stderr, "  got %s\n  want %s\n", got, want);
    return strcmp(got, want) == 0;
}

TEST(matches_the_nist_short_vectors) {
    CHECK(hex_is("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    CHECK(hex_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK(hex_is(m448, strlen(m448),
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnop"
                       "jklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    CHECK(hex_is(m896, strlen(m896),
                 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"));
}

TEST(hashes_one_million_a_streamed_in_uneven_pieces) {
    char *a = malloc(1000000);
    CHECK(a != NULL);
    if (a == NULL) return;
    memset(a, 'a', 1000000);
    CHECK(hex_is(a, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    gids_sha256 s;
    gids_sha256_init(&s);
    size_t done = 0, step = 1;
    while (done < 1000000) { /* piece sizes 1, 2, ... 127 cross every buffer offset */
        size_t take = step < 1000000 - done ? step : 1000000 - done;
        gids_sha256_update(&s, a + done, take);
        done += take;
        step = step % 127 + 1;
    }
    char hex[GIDS_SHA256_HEX_SIZE];
    gids_sha256_final_hex(&s, hex);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
    free(a);
}

TEST(pads_correctly_around_the_block_edges) {
    /* hashlib.sha256(bytes(range(n))) for n = 55, 56, 63, 64, 65, 119, 120 */
    static const struct {
        size_t n;
        const char *hex;
    } v[] = {
        {55, "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59"},
        {56, "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562"},
        {63, "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488"},
        {64, "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108"},
        {65, "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781"},
        {119, "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6"},
        {120, "f52b23db1fbb6ded89ef42a23ce0c8922c45f25c50b568a93bf1c075420bbb7c"},
    };
    uint8_t bytes[128];
    for (int i = 0; i < 128; i++) bytes[i] = (uint8_t)i;
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) CHECK(hex_is(bytes, v[k].n, v[k].hex));
    /* every split point of a 130-byte message gives the one-shot digest */
    uint8_t msg[130];
    for (int i = 0; i < 130; i++) msg[i] = (uint8_t)(i * 7 + 3);
    char one[GIDS_SHA256_HEX_SIZE], two[GIDS_SHA256_HEX_SIZE];
    gids_sha256_hex(one, msg, sizeof msg);
    int all_same = 1;
    for (size_t cut = 0; cut <= sizeof msg; cut++) {
        gids_sha256 s;
        gids_sha256_init(&s);
        gids_sha256_update(&s, msg, cut);
        gids_sha256_update(&s, msg + cut, sizeof msg - cut);
        gids_sha256_final_hex(&s, two);
        all_same &= strcmp(one, two) == 0;
    }
    CHECK(all_same);
}

TEST(hashes_a_file_and_names_a_missing_one) {
    char path[] = "/tmp/gids_sha256_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    FILE *f = fdopen(fd, "wb");
    fputs("abc", f);
    fclose(f);
    char hex[GIDS_SHA256_HEX_SIZE];
    CHECK_OK(gids_sha256_file_hex(hex, path));
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    remove(path);
    CHECK_ERR(gids_sha256_file_hex(hex, path), GIDS_EIO, "cannot open '/tmp/gids_sha256_");
    CHECK_ERR(gids_sha256_file_hex(hex, "/tmp"), GIDS_EIO, "cannot read '/tmp'");
}

int main(void) {
    RUN(matches_the_nist_short_vectors);
    RUN(hashes_one_million_a_streamed_in_uneven_pieces);
    RUN(pads_correctly_around_the_block_edges);
    RUN(hashes_a_file_and_names_a_missing_one);
    return check_summary("sha256");
}
