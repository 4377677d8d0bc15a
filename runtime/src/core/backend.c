/* backend.c -- the device backend registry, the CUDA plugin loader and moves between devices.
 *
 * Loading happens once, on the first request for a CUDA device; its outcome (the plugin's path,
 * or why there is none) is kept for `graphids version` and later requests.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_impl.h"
#include "elide.h"
#include "gids/backend.h"

/* A path too long for the load message loses its middle, marked, never the reason at its end
 * (elide.h). */

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
 * symbolic links resolved, in a heap string of its own length (NULL when the file is not found).
 * The main program is /proc/self/exe: never the current directory, from which a planted
 * graphids_cuda.so would be loaded. */
static char *own_dir_(void) {
    own_object_ o = {(uintptr_t)(void *)own_dir_, NULL};
    dl_iterate_phdr(find_object_, &o);
    if (o.name == NULL) return NULL;
    char *real = realpath(o.name[0] == '\0' ? "/proc/self/exe" : o.name, NULL);
    if (real == NULL) return NULL;
    char *slash = strrchr(real, '/');
    if (slash == NULL) {
        free(real);
        return NULL;
    }
    *slash = '\0';
    return real;
}

/* How the search ended (a path, or why there is none), kept for gids_backend_load and version. */
static void load_end_(gids_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void load_end_(gids_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    load_status_ = st;
    gids_vformat_elided(load_msg_, sizeof load_msg_, fmt, ap);
    va_end(ap);
}

/* Candidates, in order: $GIDS_CUDA_PLUGIN; beside the runtime's object and in ../lib from it
 * (build/lua/graphids/core.so -> build/lib, build/bin/graphids -> build/lib, PREFIX/lib/lua/5.4/
 * graphids/core.so -> PREFIX/lib); the loader's own search path.  Every path is a heap string of
 * its full length: one cut to a buffer would be looked for in another folder. */
static void load_(void) {
    static const char *const rel[] = {"/graphids_cuda.so", "/../lib/graphids_cuda.so",
                                      "/../../lib/graphids_cuda.so",
                                      "/../../../../lib/graphids_cuda.so"};
    const char *env = getenv("GIDS_CUDA_PLUGIN");
    char *dir = NULL, *path = NULL; /* path: the plugin as it is named in messages */
    void *h = NULL;
    if (env != NULL && env[0] != '\0') {
        h = dlopen(env, RTLD_NOW | RTLD_GLOBAL);
        if (h == NULL) {
            /* EINVAL, not EDEVICE: a setting of the user's that is wrong, not a machine without
             * a GPU (graphids gpu info exits 1 for it) */
            load_end_(GIDS_EINVAL, "GIDS_CUDA_PLUGIN=%s does not load: %s", env, dlerror());
            return;
        }
        path = strdup(env);
        if (path == NULL) goto no_memory;
    }
    if (h == NULL) dir = own_dir_();
    for (size_t i = 0; h == NULL && dir != NULL && i < sizeof rel / sizeof rel[0]; i++) {
        char *cand = NULL;
        if (asprintf(&cand, "%s%s", dir, rel[i]) < 0) goto no_memory;
        path = realpath(cand, NULL);
        if (path == NULL && errno == ENAMETOOLONG) {
            /* the system's limit, not a missing file: said, not skipped */
            load_end_(GIDS_EDEVICE,
                      "the CUDA plugin's place %s is longer than the system's path limit "
                      "(PATH_MAX, %d bytes)",
                      cand, PATH_MAX);
            free(cand);
            goto done;
        }
        free(cand);
        if (path == NULL) continue;
        h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
        if (h == NULL) {
            load_end_(GIDS_EDEVICE, "the CUDA plugin %s does not load: %s", path, dlerror());
            goto done;
        }
    }
    if (h == NULL) {
        h = dlopen("graphids_cuda.so", RTLD_NOW | RTLD_GLOBAL);
        path = strdup("graphids_cuda.so (loader search path)");
        if (path == NULL) goto no_memory;
    }
    if (h == NULL) {
        load_end_(GIDS_EDEVICE,
                  "no CUDA plugin: graphids_cuda.so is not beside %s and ../lib nor on the "
                  "loader's path (built only where nvcc is found; set GIDS_CUDA_PLUGIN to point "
                  "at it)",
                  dir != NULL ? dir : "the runtime (its file not found)");
        goto done;
    }
    gids_plugin_init_fn init = (gids_plugin_init_fn)dlsym(h, GIDS_CUDA_PLUGIN_INIT);
    if (init == NULL) {
        /* not a plugin: a broken setup */
        load_end_(GIDS_EINVAL, "%s has no entry point %s", path, GIDS_CUDA_PLUGIN_INIT);
        goto done;
    }
    gids_status st = init();
    if (st != GIDS_OK) {
        load_end_(st, "the CUDA plugin %s found no usable GPU: %s", path, gids_error_message());
        goto done;
    }
    const gids_backend *b = gids_backend_get(GIDS_CUDA);
    if (b == NULL || b->abi != GIDS_BACKEND_ABI) {
        /* a plugin of another build: a broken setup */
        if (b == NULL)
            load_end_(GIDS_EINVAL, "%s registered no backend (this runtime needs ABI %d)", path,
                      GIDS_BACKEND_ABI);
        else
            load_end_(GIDS_EINVAL,
                      "%s registered a backend of ABI %d; this runtime needs ABI %d (rebuild the "
                      "plugin)",
                      path, b->abi, GIDS_BACKEND_ABI);
        /* a table of another ABI must not stay reachable through gids_backend_get */
        gids_backend_register(GIDS_CUDA, NULL);
        goto done;
    }
    load_end_(GIDS_OK, "%s", path);
    goto done;
no_memory:
    load_end_(GIDS_ENOMEM, "the CUDA plugin's search: out of memory");
done:
    free(path);
    free(dir);
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
