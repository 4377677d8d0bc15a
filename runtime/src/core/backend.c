/* backend.c -- the device backend registry, the CUDA plugin loader and moves between devices.
 *
 * Loading happens once, on the first request for a CUDA device; its outcome (the plugin's path,
 * or why there is none) is kept for `graphids version` and later requests.
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_impl.h"
#include "elide.h"
#include "gids/backend.h"

/* Paths are cut to their buffers; the load message keeps its end, the reason (elide.h). */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static const gids_backend *backends_[2];
static pthread_once_t load_once_ = PTHREAD_ONCE_INIT;
static gids_status load_status_ = GIDS_OK;
static char load_msg_[GIDS_ERROR_MAX];

const gids_backend *gids_backend_get(gids_device_type t) {
    return (unsigned)t < 2 ? __atomic_load_n(&backends_[t], __ATOMIC_ACQUIRE) : NULL;
}

void gids_backend_register(gids_device_type t, const gids_backend *b) {
    if ((unsigned)t < 2) __atomic_store_n(&backends_[t], b, __ATOMIC_RELEASE);
}

/* Finds the loaded object whose segments hold addr: its name as the loader keeps it ("" for
 * the main program, which dladdr would report by its argv[0]: a bare "graphids" run from PATH,
 * or a symlink's path). */
typedef struct {
    uintptr_t addr;
    const char *name;
} own_object_;

static int find_object_(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    own_object_ *o = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = (uintptr_t)info->dlpi_addr + (uintptr_t)ph->p_vaddr;
        if (ph->p_type == PT_LOAD && o->addr >= start && o->addr - start < (uintptr_t)ph->p_memsz) {
            o->name = info->dlpi_name != NULL ? info->dlpi_name : "";
            return 1;
        }
    }
    return 0;
}

/* The directory of the file holding this function (libgraphids.so, core.so or the host), its
 * symbolic links resolved.  The main program is /proc/self/exe: never the current directory,
 * from which a planted graphids_cuda.so would be loaded. */
static void own_dir_(char *buf, size_t n) {
    own_object_ o = {(uintptr_t)(void *)own_dir_, NULL};
    buf[0] = '\0';
    dl_iterate_phdr(find_object_, &o);
    if (o.name == NULL) return;
    char *real = realpath(o.name[0] == '\0' ? "/proc/self/exe" : o.name, NULL);
    if (real == NULL) return;
    snprintf(buf, n, "%s", real);
    free(real);
    char *slash = strrchr(buf, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        buf[0] = '\0';
}

/* Candidates, in order: $GIDS_CUDA_PLUGIN; beside the runtime's object and in ../lib from it
 * (build/lua/graphids/core.so -> build/lib, build/bin/graphids -> build/lib, PREFIX/lib/lua/5.4/
 * graphids/core.so -> PREFIX/lib); the loader's own search path. */
static void load_(void) {
    char dir[2048], path[4096];
    const char *env = getenv("GIDS_CUDA_PLUGIN");
    const char *rel[] = {"/graphids_cuda.so", "/../lib/graphids_cuda.so",
                         "/../../lib/graphids_cuda.so", "/../../../../lib/graphids_cuda.so"};
    void *h = NULL;
    char tried[1024] = "";
    size_t k = 0;
    if (env != NULL && env[0] != '\0') {
        h = dlopen(env, RTLD_NOW | RTLD_GLOBAL);
        if (h == NULL) {
            /* EINVAL, not EDEVICE: a setting of the user's that is wrong, not a machine without
             * a GPU (graphids gpu info exits 1 for it) */
            load_status_ = GIDS_EINVAL;
            gids_format_elided(load_msg_, sizeof load_msg_, "GIDS_CUDA_PLUGIN=%s does not load: %s",
                               env, dlerror());
            return;
        }
        snprintf(path, sizeof path, "%s", env);
    }
    own_dir_(dir, sizeof dir);
    for (size_t i = 0; h == NULL && dir[0] != '\0' && i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(path, sizeof path, "%s%s", dir, rel[i]);
        char *real = realpath(path, NULL);
        if (real == NULL) continue;
        snprintf(path, sizeof path, "%s", real);
        free(real);
        h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
        if (h == NULL) {
            load_status_ = GIDS_EDEVICE;
            gids_format_elided(load_msg_, sizeof load_msg_, "the CUDA plugin %s does not load: %s",
                               path, dlerror());
            return;
        }
    }
    if (h == NULL) {
        h = dlopen("graphids_cuda.so", RTLD_NOW | RTLD_GLOBAL);
        snprintf(path, sizeof path, "graphids_cuda.so (loader search path)");
    }
    if (h == NULL) {
        k += (size_t)snprintf(tried + k, sizeof tried - k, "%s and ../lib",
                              dir[0] != '\0' ? dir : "the runtime (its file not found)");
        load_status_ = GIDS_EDEVICE;
        gids_format_elided(
            load_msg_, sizeof load_msg_,
            "no CUDA plugin: graphids_cuda.so is not beside %s nor on the loader's path "
            "(built only where nvcc is found; set GIDS_CUDA_PLUGIN to point at it)",
            tried);
        return;
    }
    gids_plugin_init_fn init = (gids_plugin_init_fn)dlsym(h, GIDS_CUDA_PLUGIN_INIT);
    if (init == NULL) {
        load_status_ = GIDS_EINVAL; /* not a plugin: a broken setup */
        gids_format_elided(load_msg_, sizeof load_msg_, "%s has no entry point %s", path,
                           GIDS_CUDA_PLUGIN_INIT);
        return;
    }
    gids_status st = init();
    if (st != GIDS_OK) {
        load_status_ = st;
        gids_format_elided(load_msg_, sizeof load_msg_,
                           "the CUDA plugin %s found no usable GPU: %s", path,
                           gids_error_message());
        return;
    }
    const gids_backend *b = gids_backend_get(GIDS_CUDA);
    if (b == NULL || b->abi != GIDS_BACKEND_ABI) {
        load_status_ = GIDS_EINVAL; /* a plugin of another build: a broken setup */
        if (b == NULL)
            gids_format_elided(load_msg_, sizeof load_msg_,
                               "%s registered no backend (this runtime needs ABI %d)", path,
                               GIDS_BACKEND_ABI);
        else
            gids_format_elided(
                load_msg_, sizeof load_msg_,
                "%s registered a backend of ABI %d; this runtime needs ABI %d (rebuild the plugin)",
                path, b->abi, GIDS_BACKEND_ABI);
        /* a table of another ABI must not stay reachable through gids_backend_get */
        gids_backend_register(GIDS_CUDA, NULL);
        return;
    }
    load_status_ = GIDS_OK;
    gids_format_elided(load_msg_, sizeof load_msg_, "%s", path);
}

gids_status gids_backend_load(void) {
    pthread_once(&load_once_, load_);
    if (load_status_ != GIDS_OK) GIDS_FAIL(load_status_, "%s", load_msg_);
    return GIDS_OK;
}

const char *gids_backend_status(void) {
    return load_msg_;
}

gids_status gids_device_check(const char *op, gids_device dev) {
    char buf[32];
    GIDS_CHECK_OP_NAME(op, "device_check");
    if (dev.type == GIDS_CPU) {
        GIDS_CHECK(dev.index == 0, GIDS_EDEVICE,
                   "%s: device cpu:%d does not exist (the CPU is "
                   "device 0)",
                   op, dev.index);
        return GIDS_OK;
    }
    GIDS_CHECK(dev.type == GIDS_CUDA, GIDS_EDEVICE, "%s: no such device (%s)", op,
               gids_device_str(dev, buf, sizeof buf));
    GIDS_TRY(gids_backend_load());
    int n = gids_backend_get(dev.type)->device_count();
    GIDS_CHECK(dev.index >= 0 && dev.index < n, GIDS_EDEVICE,
               "%s: device cuda:%d does not exist (%d CUDA device%s)", op, dev.index, n,
               n == 1 ? "" : "s");
    return GIDS_OK;
}

gids_status gids_to_device(gids_tensor **out, const gids_tensor *t, gids_device dev) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "to: out is NULL");
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "to: the tensor is NULL");
    GIDS_TRY(gids_device_check("to", dev));
    if (gids_device_eq(gids_tensor_device(t), dev)) {
        gids_tensor_retain((gids_tensor *)t);
        *out = (gids_tensor *)t;
        return GIDS_OK;
    }
    GIDS_TRY(gids_empty_named("to", out, t->dtype, dev, t->ndim, t->shape));
    gids_status st = gids_copy_(*out, t);
    if (st != GIDS_OK) {
        gids_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

/* ---- dispatch of plain ops to the backend of their device ---- */
gids_status gids_dispatch_backend(const char *op, int n, const gids_tensor *const *ts,
                                  const gids_backend **out) {
    gids_device dev = GIDS_DEVICE_CPU;
    bool have = false;
    for (int i = 0; i < n; i++) {
        if (ts[i] == NULL) continue;
        gids_device d = gids_tensor_device(ts[i]);
        if (!have) {
            dev = d, have = true;
        } else if (!gids_device_eq(d, dev)) {
            char a[16], b[16];
            GIDS_FAIL(GIDS_EDEVICE,
                      "%s: tensors on different devices (%s and %s); move them with :to(...)", op,
                      gids_device_str(dev, a, sizeof a), gids_device_str(d, b, sizeof b));
        }
    }
    const gids_backend *b = gids_backend_get(dev.type);
    if (b == NULL) {
        char a[16];
        GIDS_FAIL(GIDS_EDEVICE, "%s: no backend for %s", op, gids_device_str(dev, a, sizeof a));
    }
    *out = b;
    return GIDS_OK;
}

gids_status gids_no_kernel(const char *op, const gids_tensor *t) {
    char a[16];
    GIDS_FAIL(GIDS_EUNSUPPORTED,
              "%s: not available on %s in this build (the CUDA backend does not implement it "
              "yet); move the tensor with :to(\"cpu\")",
              op, gids_device_str(gids_tensor_device(t), a, sizeof a));
}
