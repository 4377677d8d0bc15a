/* autocast.c -- the per-thread autocast state (gids/amp.h).
 *
 * Thread-local like grad mode: a training loop on one thread never changes the products another
 * thread computes.  Zero-initialised storage is GIDS_F32, i.e. off.
 */
#include "gids/amp.h"

static _Thread_local gids_dtype autocast_ = GIDS_F32;

gids_dtype gids_autocast_dtype(void) {
    return autocast_;
}

bool gids_autocast_enabled(void) {
    return autocast_ != GIDS_F32;
}

gids_status gids_set_autocast(gids_dtype dt) {
    GIDS_CHECK(dt == GIDS_F16 || dt == GIDS_BF16 || dt == GIDS_F32, GIDS_EINVAL,
               "autocast: dtype %s, expected f16 or bf16 (on) or f32 (off)", gids_dtype_name(dt));
    autocast_ = dt;
    return GIDS_OK;
}
