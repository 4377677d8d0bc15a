/* test_kept_ranges.c -- the table of kept index ranges both device backends share
 * (runtime/src/kept_ranges.h), on CPU tensors (it only compares memory, counts and versions):
 * exact and enclosing look-ups, stale versions, least-recently-used replacement, the cap on the
 * memory entries pin, and that every reference taken is given back. */
#include "check.h"

#include "../../runtime/src/kept_ranges.h"

static gids_tensor *longs(int64_t n) {
    gids_tensor *t = NULL;
    CHECK_OK(gids_zeros(&t, GIDS_I64, GIDS_DEVICE_CPU, 1, &n));
    return t;
}

static const int64_t *values(const gids_tensor *t) {
    return (const int64_t *)gids_tensor_data(t);
}

TEST(finds_exact_ranges_and_bounds_around_parts) {
    gids_kept_ranges k = {0};
    gids_tensor *t = longs(10);
    int64_t lo = 0, hi = 0;
    gids_kept_put(&k, t, values(t), 10, gids_kept_version(t), -2, 7, true);
    CHECK(t->refcount == 2); /* the entry holds t: its memory cannot go to another tensor */
    CHECK(gids_kept_find(&k, t, values(t), 10, true, &lo, &hi) && lo == -2 && hi == 7);
    /* a part: bounds from around it, never its exact range */
    CHECK(gids_kept_find(&k, t, values(t) + 3, 4, false, &lo, &hi) && lo == -2 && hi == 7);
    CHECK(!gids_kept_find(&k, t, values(t) + 3, 4, true, &lo, &hi));
    /* past the end: not covered */
    CHECK(!gids_kept_find(&k, t, values(t) + 3, 8, false, &lo, &hi));
    /* bounds noted for how values were made answer checks, not exact questions */
    gids_tensor *u = longs(5);
    gids_kept_put(&k, u, values(u), 5, gids_kept_version(u), 0, 99, false);
    CHECK(gids_kept_find(&k, u, values(u), 5, false, &lo, &hi) && hi == 99);
    CHECK(!gids_kept_find(&k, u, values(u), 5, true, &lo, &hi));
    gids_kept_clear(&k);
    CHECK(t->refcount == 1 && u->refcount == 1);
    gids_tensor_release(u);
    gids_tensor_release(t);
}

TEST(a_write_makes_the_entry_stale) {
    gids_kept_ranges k = {0};
    gids_tensor *t = longs(4);
    int64_t lo = 0, hi = 0;
    gids_kept_put(&k, t, values(t), 4, gids_kept_version(t), 0, 3, true);
    CHECK_OK(gids_fill_(t, gids_scalar_i(9))); /* bumps the storage version */
    CHECK(!gids_kept_find(&k, t, values(t), 4, false, &lo, &hi));
    gids_kept_clear(&k);
    gids_tensor_release(t);
}

TEST(the_least_recently_used_entry_gives_way) {
    gids_kept_ranges k = {0};
    gids_tensor *ts[GIDS_KEPT_SLOTS + 1];
    int64_t lo = 0, hi = 0;
    for (int i = 0; i <= GIDS_KEPT_SLOTS; i++) {
        ts[i] = longs(2);
        if (i == GIDS_KEPT_SLOTS) /* use the first again: the second is now the oldest */
            CHECK(gids_kept_find(&k, ts[0], values(ts[0]), 2, true, &lo, &hi));
        gids_kept_put(&k, ts[i], values(ts[i]), 2, gids_kept_version(ts[i]), i, i, true);
    }
    CHECK(gids_kept_find(&k, ts[0], values(ts[0]), 2, true, &lo, &hi) && lo == 0);
    CHECK(!gids_kept_find(&k, ts[1], values(ts[1]), 2, true, &lo, &hi));
    CHECK(ts[1]->refcount == 1); /* its reference given back */
    CHECK(gids_kept_find(&k, ts[GIDS_KEPT_SLOTS], values(ts[GIDS_KEPT_SLOTS]), 2, true, &lo, &hi));
    gids_kept_clear(&k);
    CHECK(k.bytes == 0);
    for (int i = 0; i <= GIDS_KEPT_SLOTS; i++) {
        CHECK(ts[i]->refcount == 1);
        gids_tensor_release(ts[i]);
    }
}

TEST(the_memory_entries_pin_stays_under_the_cap) {
    gids_kept_ranges k = {0};
    const int64_t n = GIDS_KEPT_MAX; /* 32 MiB of values each */
    const int many = (int)(GIDS_KEPT_BYTES / (n * 8)) + 1;
    gids_tensor *ts[16];
    int64_t lo = 0, hi = 0;
    CHECK(many <= 16);
    for (int i = 0; i < many; i++) {
        ts[i] = longs(n);
        gids_kept_put(&k, ts[i], values(ts[i]), n, gids_kept_version(ts[i]), 0, i, true);
        CHECK(k.bytes <= GIDS_KEPT_BYTES);
    }
    CHECK(!gids_kept_find(&k, ts[0], values(ts[0]), n, true, &lo, &hi)); /* the oldest went */
    CHECK(gids_kept_find(&k, ts[many - 1], values(ts[many - 1]), n, true, &lo, &hi));
    /* more values than an entry may stand for are not kept */
    gids_tensor *big = longs(n + 1);
    gids_kept_put(&k, big, values(big), n + 1, gids_kept_version(big), 0, 0, true);
    CHECK(!gids_kept_find(&k, big, values(big), n + 1, true, &lo, &hi));
    CHECK(big->refcount == 1);
    gids_kept_clear(&k);
    gids_tensor_release(big);
    for (int i = 0; i < many; i++) gids_tensor_release(ts[i]);
}

TEST(a_note_from_the_host_keeps_the_least_and_greatest) {
    gids_kept_ranges k = {0};
    gids_tensor *t = longs(5);
    int64_t host[5] = {4, -1, 12, 0, 3}, lo = 0, hi = 0;
    gids_kept_note(&k, t, host, 5);
    CHECK(gids_kept_find(&k, t, values(t), 5, true, &lo, &hi) && lo == -1 && hi == 12);
    gids_kept_clear(&k);
    gids_tensor_release(t);
}

int main(void) {
    RUN(finds_exact_ranges_and_bounds_around_parts);
    RUN(a_write_makes_the_entry_stale);
    RUN(the_least_recently_used_entry_gives_way);
    RUN(the_memory_entries_pin_stays_under_the_cap);
    RUN(a_note_from_the_host_keeps_the_least_and_greatest);
    return check_summary("kept_ranges");
}
