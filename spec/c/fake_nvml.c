/* fake_nvml.c -- a stand-in for the driver's libnvidia-ml.so.1, for the specs of gids/nvml.h
 * and of the GPU system metrics on machines without a GPU (GIDS_NVML_LIBRARY points at it).
 *
 * It exports the NVML functions graphids calls, with the same signatures, and answers from
 * fixed figures: GIDS_FAKE_NVML_COUNT devices (default 2); device i has 80e9 bytes of memory
 * of which (10 + i) * 1e9 are used, is (30 + 10 i) % busy, and draws (150 + 50 i) W of an
 * enforced 700 W.  GIDS_FAKE_NVML_FAIL, read at every call, lists calls that fail (comma
 * separated: init, count, handle, memory, utilization, power, limit): init with "Driver Not
 * Loaded", the others with "Not Supported", as boards without a sensor answer.
 * GIDS_FAKE_NVML_UTIL overrides device 0's utilisation (a spec averaging samples changes it).
 */
#include <stdlib.h>
#include <string.h>

#define NVML_SUCCESS 0
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_DRIVER_NOT_LOADED 9

typedef struct {
    unsigned long long total, free, used;
} fake_memory;
typedef struct {
    unsigned gpu, memory;
} fake_utilization;

/* Whether GIDS_FAKE_NVML_FAIL lists `call` as a whole item. */
static int fails(const char *call) {
    const char *list = getenv("GIDS_FAKE_NVML_FAIL");
    size_t n = strlen(call);
    for (const char *p = list; p != NULL && *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, call, n) == 0) return 1;
        p = end != NULL ? end + 1 : NULL;
    }
    return 0;
}

static unsigned count(void) {
    const char *c = getenv("GIDS_FAKE_NVML_COUNT");
    return c != NULL && c[0] != '\0' ? (unsigned)atoi(c) : 2u;
}

/* A device handle is its index + 1 (never NULL), as an opaque pointer. */
static unsigned index_of(void *d) {
    return (unsigned)((unsigned long)d - 1);
}

int nvmlInit_v2(void) {
    return fails("init") ? NVML_ERROR_DRIVER_NOT_LOADED : NVML_SUCCESS;
}

int nvmlDeviceGetCount_v2(unsigned *n) {
    if (fails("count")) return NVML_ERROR_NOT_SUPPORTED;
    *n = count();
    return NVML_SUCCESS;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned i, void **d) {
    if (fails("handle") || i >= count()) return NVML_ERROR_NOT_SUPPORTED;
    *d = (void *)(unsigned long)(i + 1);
    return NVML_SUCCESS;
}

int nvmlDeviceGetMemoryInfo(void *d, fake_memory *m) {
    if (fails("memory")) return NVML_ERROR_NOT_SUPPORTED;
    m->total = 80000000000ull;
    m->used = (10ull + index_of(d)) * 1000000000ull;
    m->free = m->total - m->used;
    return NVML_SUCCESS;
}

int nvmlDeviceGetUtilizationRates(void *d, fake_utilization *u) {
    if (fails("utilization")) return NVML_ERROR_NOT_SUPPORTED;
    const char *o = getenv("GIDS_FAKE_NVML_UTIL");
    u->gpu = index_of(d) == 0 && o != NULL ? (unsigned)atoi(o) : 30u + 10u * index_of(d);
    u->memory = 5;
    return NVML_SUCCESS;
}

int nvmlDeviceGetPowerUsage(void *d, unsigned *mw) {
    if (fails("power")) return NVML_ERROR_NOT_SUPPORTED;
    *mw = 150000u + 50000u * index_of(d);
    return NVML_SUCCESS;
}

int nvmlDeviceGetEnforcedPowerLimit(void *d, unsigned *mw) {
    (void)d;
    if (fails("limit")) return NVML_ERROR_NOT_SUPPORTED;
    *mw = 700000u;
    return NVML_SUCCESS;
}

const char *nvmlErrorString(int r) {
    switch (r) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    default: return "Unknown Error";
    }
}
