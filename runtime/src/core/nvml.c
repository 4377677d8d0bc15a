/* nvml.c -- gids/nvml.h: NVML opened with dlopen, its few functions declared here.
 *
 * NVML's ABI is stable across drivers for the functions below (the _v2 names are the ones
 * nvml.h has mapped nvmlInit, nvmlDeviceGetCount and nvmlDeviceGetHandleByIndex to since CUDA
 * 5.5); declaring them here keeps the build free of nvml.h, which the toolkit no longer ships.
 * Nothing is shut down: the library stays open and initialised for the process, as pynvml
 * leaves it for MLflow's monitor.
 */
#include "gids/nvml.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elide.h"

/* The list of missing readings is cut to its buffer; that is intended.  The open message keeps
 * its end, the reason (elide.h). */
#pragma GCC diagnostic ignored "-Wformat-truncation"

typedef int nvml_return;                    /* nvmlReturn_t: 0 is NVML_SUCCESS */
typedef struct nvml_device_st *nvml_device; /* nvmlDevice_t */
typedef struct {
    unsigned long long total, free, used;
} nvml_memory; /* nvmlMemory_t */
typedef struct {
    unsigned gpu, memory;
} nvml_utilization; /* nvmlUtilization_t */

static struct {
    nvml_return (*init)(void);
    nvml_return (*count)(unsigned *);
    nvml_return (*handle)(unsigned, nvml_device *);
    nvml_return (*memory)(nvml_device, nvml_memory *);
    nvml_return (*utilization)(nvml_device, nvml_utilization *);
    nvml_return (*power)(nvml_device, unsigned *);
    nvml_return (*power_limit)(nvml_device, unsigned *);
    const char *(*error_string)(nvml_return);
} fn_;

static pthread_once_t open_once_ = PTHREAD_ONCE_INIT;
static gids_status open_status_ = GIDS_OK;
static char open_msg_[GIDS_ERROR_MAX];

static const char *reason_(nvml_return r) {
    const char *s = fn_.error_string != NULL ? fn_.error_string(r) : NULL;
    return s != NULL ? s : "unknown NVML error";
}

static void open_(void) {
    const char *env = getenv("GIDS_NVML_LIBRARY");
    bool chosen = env != NULL && env[0] != '\0';
    const char *path = chosen ? env : "libnvidia-ml.so.1";
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        /* EINVAL for the user's own setting; no driver library is a machine without NVIDIA GPUs */
        open_status_ = chosen ? GIDS_EINVAL : GIDS_EDEVICE;
        if (chosen)
            gids_format_elided(open_msg_, sizeof open_msg_,
                               "GIDS_NVML_LIBRARY=%s does not load: %s", path, dlerror());
        else
            gids_format_elided(open_msg_, sizeof open_msg_,
                               "no NVML: the NVIDIA driver's %s does not load: %s", path,
                               dlerror());
        return;
    }
    struct {
        const char *name;
        void **slot;
    } syms[] = {
        {"nvmlInit_v2", (void **)&fn_.init},
        {"nvmlDeviceGetCount_v2", (void **)&fn_.count},
        {"nvmlDeviceGetHandleByIndex_v2", (void **)&fn_.handle},
        {"nvmlDeviceGetMemoryInfo", (void **)&fn_.memory},
        {"nvmlDeviceGetUtilizationRates", (void **)&fn_.utilization},
        {"nvmlDeviceGetPowerUsage", (void **)&fn_.power},
        {"nvmlDeviceGetEnforcedPowerLimit", (void **)&fn_.power_limit},
        {"nvmlErrorString", (void **)&fn_.error_string},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].slot = dlsym(h, syms[i].name);
        if (*syms[i].slot == NULL) {
            open_status_ = GIDS_EINVAL; /* not NVML, or one too old: a broken setup */
            gids_format_elided(open_msg_, sizeof open_msg_, "%s has no function %s", path,
                               syms[i].name);
            memset(&fn_, 0, sizeof fn_);
            dlclose(h);
            return;
        }
    }
    nvml_return r = fn_.init();
    if (r != 0) {
        open_status_ = GIDS_EDEVICE;
        gids_format_elided(open_msg_, sizeof open_msg_,
                           "NVML (%s) does not initialise: %s (code %d)", path, reason_(r), r);
        memset(&fn_, 0, sizeof fn_);
        return; /* (the library stays loaded: dlclose after a failed init is not safe to rely on) */
    }
    open_status_ = GIDS_OK;
}

static gids_status opened_(void) {
    pthread_once(&open_once_, open_);
    if (open_status_ != GIDS_OK) GIDS_FAIL(open_status_, "%s", open_msg_);
    return GIDS_OK;
}

gids_status gids_nvml_device_count(int *count) {
    GIDS_CHECK(count != NULL, GIDS_EINVAL, "nvml_device_count: count is NULL");
    *count = 0;
    GIDS_TRY(opened_());
    unsigned n = 0;
    nvml_return r = fn_.count(&n);
    GIDS_CHECK(r == 0, GIDS_EDEVICE, "nvml_device_count: %s (code %d)", reason_(r), r);
    GIDS_CHECK(n <= 1024, GIDS_EDEVICE, "nvml_device_count: NVML reports %u devices", n);
    *count = (int)n;
    return GIDS_OK;
}

/* Appends "<what>: <why>" to out->missing: NVML's reason for a failed call, or what was wrong
 * with a reading it gave. */
static void missing_(gids_nvml_reading *out, const char *what, nvml_return r, const char *why) {
    size_t n = strlen(out->missing);
    snprintf(out->missing + n, sizeof out->missing - n, "%s%s: %s", n > 0 ? "; " : "", what,
             r != 0 ? reason_(r) : why);
}

gids_status gids_nvml_read(int index, gids_nvml_reading *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "nvml_read: out is NULL");
    memset(out, 0, sizeof *out);
    int count;
    GIDS_TRY(gids_nvml_device_count(&count));
    GIDS_CHECK(index >= 0 && index < count, GIDS_EINDEX,
               "nvml_read: device %d does not exist (NVML counts %d)", index, count);
    nvml_device d = NULL;
    nvml_return r = fn_.handle((unsigned)index, &d);
    GIDS_CHECK(r == 0, GIDS_EDEVICE, "nvml_read: device %d: %s (code %d)", index, reason_(r), r);

    nvml_memory m = {0, 0, 0};
    r = fn_.memory(d, &m);
    if (r == 0 && m.total > 0) {
        out->has_memory = true;
        out->memory_used = m.used;
        out->memory_total = m.total;
    } else {
        missing_(out, "memory", r, "a total of 0 bytes");
    }
    nvml_utilization u = {0, 0};
    r = fn_.utilization(d, &u);
    if (r == 0) {
        out->has_utilization = true;
        out->utilization = u.gpu;
    } else {
        missing_(out, "utilization", r, "");
    }
    /* MLflow logs watts and their share of the limit together, or neither */
    unsigned mw = 0, limit = 0;
    r = fn_.power(d, &mw);
    if (r == 0) r = fn_.power_limit(d, &limit);
    if (r == 0 && limit > 0) {
        out->has_power = true;
        out->power_mw = mw;
        out->power_limit_mw = limit;
    } else {
        missing_(out, "power", r, "an enforced limit of 0 mW");
    }
    return GIDS_OK;
}
