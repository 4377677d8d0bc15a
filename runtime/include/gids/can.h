/* gids/can.h -- CAN frames in memory: a growable table with one array per column.
 *
 *   gids_can_frames f;
 *   gids_can_frames_init(&f);
 *   uint8_t payload[8] = {0xD0, 0x1C};
 *   GIDS_TRY(gids_can_frames_push(&f, 1513920254.785127, 0x110, 0, 2, payload, 0));
 *   printf("%lld frames\n", (long long)f.n);
 *   gids_can_frames_free(&f);
 *
 * This table is the contract between the log readers (which fill it), the traffic simulator
 * (which fills it) and the window-graph builder (which reads it).  A table holds the frames of
 * one capture file in file order; windows never straddle tables.  Payload bytes past `dlc` are 0,
 * so a short payload reads as zero-padded (what the reference's "invalid byte -> 0" gives).
 */
#ifndef GIDS_CAN_H
#define GIDS_CAN_H

#include <stdint.h>

#include "gids/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GIDS_CAN_MAX_DLC 8
/* flags bit: the id is a 29-bit (extended) id; written with 8 hex digits, else 3. */
#define GIDS_CAN_EXTENDED 0x1u

typedef struct gids_can_frames {
    int64_t n;       /* frames held */
    int64_t cap;     /* frames allocated */
    double *ts;      /* [n] seconds */
    uint32_t *id;    /* [n] arbitration id */
    uint8_t *dlc;    /* [n] payload length in bytes, 0..8 */
    uint8_t *flags;  /* [n] GIDS_CAN_EXTENDED, ... */
    uint8_t *data;   /* [n * 8] payloads, row-major; bytes at and past dlc are 0 */
    uint8_t *attack; /* [n] label: 0 normal, 1 attack */
} gids_can_frames;

/* An empty table (no allocation). */
void gids_can_frames_init(gids_can_frames *f);
/* Frees every column and leaves an empty table; an initialised empty table is fine. */
void gids_can_frames_free(gids_can_frames *f);
/* Makes room for at least `cap` frames (ENOMEM on failure; the table is unchanged then). */
gids_status gids_can_frames_reserve(gids_can_frames *f, int64_t cap);
/* Appends one frame (grows geometrically).  dlc must be <= 8 and payload may be NULL when dlc
 * is 0; attack must be 0 or 1. */
gids_status gids_can_frames_push(gids_can_frames *f, double ts, uint32_t id, uint8_t flags,
                                 uint8_t dlc, const uint8_t *payload, uint8_t attack);

#ifdef __cplusplus
}
#endif

#endif
