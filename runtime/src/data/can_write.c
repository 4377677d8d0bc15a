/* can_write.c -- the canonical CSV writer (timestamp,arbitration_id,data_field,attack).
 *
 * Timestamps get the fewest decimals from 6 to 9 that read back to the same double, so a
 * write -> read round trip is exact and the usual 6-decimal captures keep their look.  The exact
 * check mirrors the reader's fast path (mantissa / 10^k); past 2^53 it formats and reads back. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gids/can.h"

static const double POW10[10] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
static const char HEX[] = "0123456789ABCDEF";

/* Writes the unsigned m with a point `k` digits from the right; returns the length. */
static int put_fixed(char *o, uint64_t m, int k) {
    char tmp[32];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + m % 10);
        m /= 10;
    } while (m || n <= k); /* at least one digit before the point */
    int len = 0;
    for (int i = n - 1; i >= 0; i--) {
        o[len++] = tmp[i];
        if (i == k && k > 0) o[len++] = '.';
    }
    return len;
}

static int put_ts(char *o, double ts) {
    for (int k = 6; k <= 9; k++) {
        double scaled = ts * POW10[k];
        if (scaled >= 9007199254740992.0) break;
        uint64_t m = (uint64_t)llround(scaled);
        if ((double)m / POW10[k] == ts) return put_fixed(o, m, k);
    }
    /* ts is in [0, GIDS_CAN_TS_MAX] (checked by the caller), so these fit in the 40 bytes; a
     * truncated result (len >= 40) would leave the row's length wrong, so it is never kept. */
    for (int k = 6; k <= 9; k++) {
        int len = snprintf(o, 40, "%.*f", k, ts);
        if (len > 0 && len < 40 && strtod(o, NULL) == ts) return len;
    }
    return snprintf(o, 40, "%.17g", ts); /* at most 24 characters */
}

static int put_row(char *o, const gids_can_frames *f, int64_t i) {
    int len = put_ts(o, f->ts[i]);
    o[len++] = ',';
    int digits = (f->flags[i] & GIDS_CAN_EXTENDED) ? 8 : 3;
    for (int d = digits - 1; d >= 0; d--) o[len++] = HEX[(f->id[i] >> (4 * d)) & 0xF];
    o[len++] = ',';
    const uint8_t *b = f->data + i * GIDS_CAN_MAX_DLC;
    if (f->flags[i] & GIDS_CAN_REMOTE) {
        /* no payload: R, with the requested length when there is one (candump's R4) */
        o[len++] = 'R';
        if (f->dlc[i] > 0) o[len++] = (char)('0' + f->dlc[i]);
    } else {
        for (int j = 0; j < f->dlc[i]; j++) {
            o[len++] = HEX[b[j] >> 4];
            o[len++] = HEX[b[j] & 0xF];
        }
    }
    o[len++] = ',';
    o[len++] = (char)('0' + f->attack[i]);
    o[len++] = '\n';
    return len;
}

gids_status gids_can_write_csv(const char *path, const gids_can_frames *f, int64_t from,
                               int64_t to) {
    GIDS_CHECK(path != NULL && f != NULL, GIDS_EINVAL, "write_csv: path and frames are required");
    GIDS_CHECK(0 <= from && from <= to && to <= f->n, GIDS_EINDEX,
               "write_csv: rows [%lld, %lld) out of range for %lld frames", (long long)from,
               (long long)to, (long long)f->n);
    /* A header-only file is no capture to the readers ("no CAN frames"): written, it would not
     * read back. */
    GIDS_CHECK(to > from, GIDS_EINVAL,
               "write_csv: no frames to write (rows [%lld, %lld) of %lld): a CAN log holds at "
               "least one frame, and the readers refuse a header-only file",
               (long long)from, (long long)to, (long long)f->n);
    for (int64_t i = from; i < to; i++) {
        GIDS_CHECK(f->dlc[i] <= GIDS_CAN_MAX_DLC && f->attack[i] <= 1, GIDS_EINVAL,
                   "write_csv: frame %lld has dlc %u, attack %u", (long long)i, f->dlc[i],
                   f->attack[i]);
        /* the range the readers accept, so every file written reads back */
        GIDS_CHECK(f->ts[i] >= 0 && f->ts[i] <= GIDS_CAN_TS_MAX, GIDS_EINVAL,
                   "write_csv: frame %lld has timestamp %g, outside [0, %.0e] s", (long long)i,
                   f->ts[i], GIDS_CAN_TS_MAX);
        GIDS_CHECK((f->flags[i] & GIDS_CAN_EXTENDED) ? f->id[i] <= 0x1FFFFFFFu : f->id[i] <= 0x7FFu,
                   GIDS_EINVAL, "write_csv: frame %lld: id 0x%X does not fit its %s id",
                   (long long)i, (unsigned)f->id[i],
                   (f->flags[i] & GIDS_CAN_EXTENDED) ? "29-bit" : "11-bit");
    }
    /* Write beside the target and rename: a reader never sees half a file. */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    GIDS_CHECK(tmp != NULL, GIDS_ENOMEM, "write_csv: out of memory");
    snprintf(tmp, plen + 8, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (fp == NULL) {
        int err = errno;
        free(tmp);
        GIDS_FAIL(GIDS_EIO, "write_csv: cannot create %s: %s", path, strerror(err));
    }
    enum { CHUNK = 1 << 16, ROW_MAX = 96 };
    char *buf = malloc(CHUNK + ROW_MAX);
    int ok = buf != NULL;
    size_t len =
        ok ? (size_t)snprintf(buf, CHUNK, "timestamp,arbitration_id,data_field,attack\n") : 0;
    for (int64_t i = from; ok && i < to; i++) {
        len += (size_t)put_row(buf + len, f, i);
        if (len >= CHUNK) {
            ok = fwrite(buf, 1, len, fp) == len;
            len = 0;
        }
    }
    if (ok && len) ok = fwrite(buf, 1, len, fp) == len;
    int err = ok ? 0 : (buf ? errno : ENOMEM);
    if (fclose(fp) != 0 && ok) ok = 0, err = errno;
    free(buf);
    if (ok && rename(tmp, path) != 0) ok = 0, err = errno;
    if (!ok) {
        remove(tmp);
        free(tmp);
        GIDS_FAIL(GIDS_EIO, "write_csv: cannot write %s: %s", path, strerror(err));
    }
    free(tmp);
    return GIDS_OK;
}
