/* frames.c -- the growable CAN frame table of gids/can.h. */
#include <stdlib.h>
#include <string.h>

#include "gids/can.h"

void gids_can_frames_init(gids_can_frames *f) {
    if (f == NULL) return; /* no table to set up */
    memset(f, 0, sizeof *f);
}

void gids_can_frames_free(gids_can_frames *f) {
    if (f == NULL) return; /* as free(NULL) */
    free(f->ts);
    free(f->id);
    free(f->dlc);
    free(f->flags);
    free(f->data);
    free(f->attack);
    gids_can_frames_init(f);
}

/* Grows one column to `cap` rows of `width` bytes; the old block stays valid on failure. */
static int grow(void **col, int64_t cap, size_t width) {
    void *p = realloc(*col, (size_t)cap * width);
    if (p == NULL) return -1;
    *col = p;
    return 0;
}

gids_status gids_can_frames_reserve(gids_can_frames *f, int64_t cap) {
    GIDS_CHECK(f != NULL, GIDS_EINVAL, "can_frames_reserve: f is NULL");
    GIDS_CHECK(cap >= 0, GIDS_EINVAL, "gids_can_frames_reserve: cap %lld must be >= 0",
               (long long)cap);
    if (cap <= f->cap) return GIDS_OK;
    GIDS_CHECK(cap <= INT64_MAX / 16, GIDS_EOVERFLOW, "gids_can_frames_reserve: %lld frames",
               (long long)cap);
    /* Each column grows on its own; a failure part-way leaves some columns larger than cap,
     * which is harmless: cap only records what every column holds. */
    if (grow((void **)&f->ts, cap, sizeof *f->ts) || grow((void **)&f->id, cap, sizeof *f->id) ||
        grow((void **)&f->dlc, cap, 1) || grow((void **)&f->flags, cap, 1) ||
        grow((void **)&f->data, cap, GIDS_CAN_MAX_DLC) || grow((void **)&f->attack, cap, 1))
        GIDS_FAIL(GIDS_ENOMEM, "gids_can_frames_reserve: out of memory for %lld frames",
                  (long long)cap);
    f->cap = cap;
    return GIDS_OK;
}

gids_status gids_can_frames_push(gids_can_frames *f, double ts, uint32_t id, uint8_t flags,
                                 uint8_t dlc, const uint8_t *payload, uint8_t attack) {
    GIDS_CHECK(f != NULL, GIDS_EINVAL, "gids_can_frames_push: f is NULL");
    GIDS_CHECK(dlc <= GIDS_CAN_MAX_DLC, GIDS_EINVAL, "gids_can_frames_push: dlc %u must be <= 8",
               (unsigned)dlc);
    int remote = (flags & GIDS_CAN_REMOTE) != 0;
    GIDS_CHECK(dlc == 0 || remote || payload != NULL, GIDS_EINVAL,
               "gids_can_frames_push: payload is NULL with dlc %u", (unsigned)dlc);
    GIDS_CHECK(attack <= 1, GIDS_EINVAL, "gids_can_frames_push: attack %u must be 0 or 1",
               (unsigned)attack);
    if (f->n == f->cap) GIDS_TRY(gids_can_frames_reserve(f, f->cap < 1024 ? 1024 : f->cap * 2));
    int64_t i = f->n++;
    f->ts[i] = ts;
    f->id[i] = id;
    f->dlc[i] = dlc;
    f->flags[i] = flags;
    f->attack[i] = attack;
    uint8_t *row = f->data + i * GIDS_CAN_MAX_DLC;
    memset(row, 0, GIDS_CAN_MAX_DLC);
    if (dlc > 0 && !remote) memcpy(row, payload, dlc);
    return GIDS_OK;
}
