/* gemm_tuning.c -- the GEMM tuning switch and the list of tuned shapes (gids/gemm_tuning.h).
 * The tuning itself is the CUDA plugin's (cuda/gemm_lt.cu); the core holds the process-wide
 * switch, as it does the fused LSTM's TF32 setting, so the Lua module and C programs set it
 * before any plugin is loaded. */
#include "gids/backend.h"
#include "gids/gemm_tuning.h"

#include "core_impl.h"

static gids_env_switch tuning_ = GIDS_ENV_SWITCH("GRAPHIDS_GEMM_TUNE");

bool gids_gemm_tuning(void) {
    return gids_env_switch_get(&tuning_);
}

bool gids_set_gemm_tuning(bool on) {
    return gids_env_switch_set(&tuning_, on);
}

gids_status gids_gemm_tuned_list(gids_gemm_tuned *out, int cap, int *n) {
    GIDS_CHECK(n != NULL, GIDS_EINVAL, "gemm_tuned_list: n is NULL");
    GIDS_CHECK(cap >= 0 && (out != NULL || cap == 0), GIDS_EINVAL,
               "gemm_tuned_list: cap is %d with out %s", cap, out == NULL ? "NULL" : "set");
    *n = 0;
    GIDS_TRY(gids_backend_load());
    const gids_backend *b = gids_backend_get(GIDS_CUDA);
    GIDS_CHECK(b != NULL && b->gemm_tuned != NULL, GIDS_EUNSUPPORTED,
               "gemm_tuned_list: the %s backend does not tune GEMMs", b != NULL ? b->name : "CUDA");
    return b->gemm_tuned(out, cap, n);
}
