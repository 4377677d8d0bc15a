/* env.c -- the environment switches graphids reads, checked in one place (gids_check_env). */
#include <stdlib.h>
#include <string.h>

#include "gids/runtime.h"

#include "core_impl.h"
#include "elide.h"

/* name, then the values it takes (NULL-ended); the readers are where the comment says. */
static const struct {
    const char *name;
    const char *values[3];
} SWITCHES[] = {
    {"GRAPHIDS_RNN_TF32", {"0", "1", NULL}},   /* core/autocast.c */
    {"GRAPHIDS_ALLOW_TF32", {"0", "1", NULL}}, /* cuda/device.cu */
    {"GRAPHIDS_GEMM_TUNE", {"0", "1", NULL}},  /* core/gemm_tuning.c */
    {"GRAPHIDS_CUDA_SYNC", {"0", "1", NULL}},  /* cuda/plugin.cu */
    {"GRAPHIDS_CUDA_SYNC_DEBUG", {"0", "warn", NULL}},
    {"GRAPHIDS_DETERMINISTIC", {"0", "1", NULL}},    /* cuda/index.cu */
    {"GRAPHIDS_CUDA_PINNED", {"0", "1", NULL}},      /* cuda/pinned.cu (on unless 0) */
    {"GRAPHIDS_ADAPTIVE_THREADS", {"0", "1", NULL}}, /* core/team.c (on unless 0) */
    {"GIDS_LOOPBACK_ALL", {"0", "1", NULL}},         /* loopback/plugin.c */
    {"GIDS_LOOPBACK_POISON", {"0", "1", NULL}},      /* loopback/allocator.c (on unless 0) */
    {"GIDS_LOOPBACK_TAG", {"0", "1", NULL}},
};

gids_status gids_check_env(void) {
    for (size_t i = 0; i < sizeof SWITCHES / sizeof SWITCHES[0]; i++) {
        const char *v = getenv(SWITCHES[i].name);
        if (v == NULL || v[0] == '\0') continue;
        int ok = 0;
        for (int k = 0; SWITCHES[i].values[k] != NULL; k++)
            ok |= strcmp(v, SWITCHES[i].values[k]) == 0;
        size_t n = strlen(v), shown = gids_utf8_fit(v, n, 40);
        if (!ok)
            GIDS_FAIL(GIDS_EINVAL,
                      "environment variable %s is '%.*s%s'; it takes %s or %s (or unset)",
                      SWITCHES[i].name, (int)shown, v, shown < n ? "..." : "",
                      SWITCHES[i].values[0], SWITCHES[i].values[1]);
    }
    return GIDS_OK;
}

bool gids_env_switch_get(gids_env_switch *s) {
    int v = __atomic_load_n(&s->value, __ATOMIC_ACQUIRE);
    if (v < 0) {
        const char *env = getenv(s->env);
        int want = env != NULL && strcmp(env, "1") == 0;
        /* a racing set wins over the environment */
        __atomic_compare_exchange_n(&s->value, &v, want, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
        v = __atomic_load_n(&s->value, __ATOMIC_ACQUIRE);
    }
    return v == 1;
}

bool gids_env_switch_set(gids_env_switch *s, bool on) {
    gids_env_switch_get(s); /* the environment's value first, so it is what a first set returns */
    return __atomic_exchange_n(&s->value, on ? 1 : 0, __ATOMIC_ACQ_REL) == 1;
}
