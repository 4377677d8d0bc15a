/* l_gpu.c -- graphids.gpu: the CUDA devices as the runtime sees them.
 *
 *   graphids.gpu.is_available()        true when the plugin loads and finds a device
 *   graphids.gpu.check_device(name [, what])  name if usable, else raises why ("what: ...")
 *   graphids.gpu.status()              where the plugin was loaded from, or why not
 *   graphids.gpu.device_count()
 *   graphids.gpu.info()                driver, runtime and library versions; one line per device
 *   graphids.gpu.memory(device?)       {allocated, reserved, peak, free, total} in bytes
 *   graphids.gpu.nvml()                every GPU of the machine as its driver reports it (NVML,
 *                                      gids/nvml.h; no CUDA plugin needed): a list of {index,
 *                                      memory_used, memory_total (bytes), utilization (%),
 *                                      power_mw, power_limit_mw, missing}, a reading the driver
 *                                      refuses left out and named in `missing`; nil and why
 *                                      when NVML cannot be opened (no driver)
 *   graphids.gpu.reset(device?)        full Lua GC, then the backend's reset (DESIGN §3)
 *   graphids.gpu.synchronize(device?)  waits for every stream of the device
 *   graphids.gpu.waits()               how many times the host has waited for a device so far
 *                                      (read values back, synchronised): a step that reads
 *                                      nothing back keeps the GPU's queue full
 *   graphids.gpu.rnn_tf32()            whether the fused LSTM (the JK LSTM's bilstm) runs its f32
 *   graphids.gpu.set_rnn_tf32(b)       device products in TF32 (torch's cudnn.rnn.fp32_precision
 *                                      "tf32", PyTorch's default); off unless GRAPHIDS_RNN_TF32=1;
 *                                      the setter returns the previous setting (gids/amp.h)
 *   graphids.gpu.gemm_tuning()         whether each f32 device product's algorithm is chosen by
 *   graphids.gpu.set_gemm_tuning(b)    timing, once per shape (torch.backends.cudnn.benchmark,
 *                                      for GEMMs); off unless GRAPHIDS_GEMM_TUNE=1; the setter
 *                                      returns the previous setting (gids/gemm_tuning.h)
 *   graphids.gpu.tuned_gemms()         the shapes tuned so far: {device, trans, tf32, m, n, k,
 *                                      candidates, chosen, first_ms, best_ms} each, in order
 *   streams and events: l_gpu_stream.c (Stream, Event, current_stream, set_stream, ...)
 *
 * Without a GPU, is_available() is false and reset() is a cheap no-op that returns false and
 * the reason; the other functions raise that reason.
 */
#include "gids/amp.h"
#include "gids/gemm_tuning.h"
#include "gids/nvml.h"
#include "l_impl.h"

/* The backend, or a Lua error with the loader's reason. */
static const gids_backend *backend(lua_State *L, const char *fname) {
    if (gids_backend_load() != GIDS_OK) l_error(L, "gpu.%s: %s", fname, gids_error_message());
    return gids_backend_get(GIDS_CUDA);
}

static int opt_device(lua_State *L, int i, const gids_backend *b, const char *fname) {
    lua_Integer d = luaL_optinteger(L, i, 0);
    int n = b->device_count();
    if (d < 0 || d >= n)
        l_error(L, "gpu.%s: device %I does not exist (%d CUDA device%s)", fname, d, n,
                n == 1 ? "" : "s");
    return (int)d;
}

static int g_is_available(lua_State *L) {
    l_checkend(L, 0, "gpu.is_available");
    lua_pushboolean(L, gids_backend_load() == GIDS_OK);
    gids_error_clear();
    return 1;
}

/* gpu.check_device(name [, what]): name ("cpu", "cuda", "cuda:N") if that device can be used,
 * else raises why, prefixed with `what` (default "device"): a configuration names its key. */
static int g_check_device(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    const char *what = luaL_optstring(L, 2, "device");
    l_checkend(L, 2, "gpu.check_device");
    l_check_device(L, name, what);
    lua_settop(L, 1);
    return 1;
}

static int g_status(lua_State *L) {
    l_checkend(L, 0, "gpu.status");
    gids_backend_load();
    gids_error_clear();
    lua_pushstring(L, gids_backend_status());
    return 1;
}

static int g_device_count(lua_State *L) {
    l_checkend(L, 0, "gpu.device_count");
    if (gids_backend_load() != GIDS_OK) {
        gids_error_clear();
        lua_pushinteger(L, 0);
        return 1;
    }
    lua_pushinteger(L, gids_backend_get(GIDS_CUDA)->device_count());
    return 1;
}

static int g_info(lua_State *L) {
    l_checkend(L, 0, "gpu.info");
    const gids_backend *b = backend(L, "info");
    char buf[4096];
    l_check(L, b->info(buf, sizeof buf));
    lua_pushstring(L, buf);
    return 1;
}

static void set_int(lua_State *L, const char *k, int64_t v) {
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

static int g_memory(lua_State *L) {
    l_checkend(L, 1, "gpu.memory");
    const gids_backend *b = backend(L, "memory");
    gids_gpu_memory m;
    l_check(L, b->memory(opt_device(L, 1, b, "memory"), &m));
    lua_createtable(L, 0, 5);
    set_int(L, "allocated", m.allocated);
    set_int(L, "reserved", m.reserved);
    set_int(L, "peak", m.peak);
    set_int(L, "free", m.free);
    set_int(L, "total", m.total);
    return 1;
}

/* NVML's devices.  Nothing here raises for the machine: a missing driver, a device that cannot
 * be opened or a reading it refuses is a value to report (graphids.track.sysmetrics samples
 * from the trainer's hooks and must not fail a fit). */
static int g_nvml(lua_State *L) {
    l_checkend(L, 0, "gpu.nvml");
    int n = 0;
    if (gids_nvml_device_count(&n) != GIDS_OK) {
        lua_pushnil(L);
        lua_pushstring(L, gids_error_message());
        gids_error_clear();
        return 2;
    }
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        gids_nvml_reading r;
        lua_createtable(L, 0, 7);
        set_int(L, "index", i);
        if (gids_nvml_read(i, &r) != GIDS_OK) {
            lua_pushstring(L, gids_error_message());
            gids_error_clear();
            lua_setfield(L, -2, "missing");
        } else {
            if (r.has_memory) {
                set_int(L, "memory_used", (int64_t)r.memory_used);
                set_int(L, "memory_total", (int64_t)r.memory_total);
            }
            if (r.has_utilization) set_int(L, "utilization", r.utilization);
            if (r.has_power) {
                set_int(L, "power_mw", r.power_mw);
                set_int(L, "power_limit_mw", r.power_limit_mw);
            }
            if (r.missing[0] != '\0') {
                lua_pushstring(L, r.missing);
                lua_setfield(L, -2, "missing");
            }
        }
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int g_reset(lua_State *L) {
    l_checkend(L, 1, "gpu.reset");
    if (gids_backend_load() != GIDS_OK) {
        lua_pushboolean(L, 0);
        lua_pushstring(L, gids_error_message());
        gids_error_clear();
        return 2;
    }
    const gids_backend *b = gids_backend_get(GIDS_CUDA);
    int d = opt_device(L, 1, b, "reset");
    /* Tensors only the GC knows to be dead hold device blocks: collect them first. */
    l_collect(L);
    l_check(L, b->reset(d));
    lua_pushboolean(L, 1);
    return 1;
}

static int g_synchronize(lua_State *L) {
    l_checkend(L, 1, "gpu.synchronize");
    const gids_backend *b = backend(L, "synchronize");
    l_check(L, b->synchronize(opt_device(L, 1, b, "synchronize")));
    return 0;
}

static int g_waits(lua_State *L) {
    l_checkend(L, 0, "gpu.waits");
    const gids_backend *b = backend(L, "waits");
    if (b->waits == NULL)
        return l_error(L, "gpu.waits: the %s plugin does not count waits", b->name);
    int64_t n = 0;
    l_check(L, b->waits(&n));
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

static int g_rnn_tf32(lua_State *L) {
    l_checkend(L, 0, "gpu.rnn_tf32");
    lua_pushboolean(L, gids_rnn_tf32());
    return 1;
}

static int g_set_rnn_tf32(lua_State *L) {
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    l_checkend(L, 1, "gpu.set_rnn_tf32");
    lua_pushboolean(L, gids_set_rnn_tf32(lua_toboolean(L, 1)));
    return 1;
}

static int g_gemm_tuning(lua_State *L) {
    l_checkend(L, 0, "gpu.gemm_tuning");
    lua_pushboolean(L, gids_gemm_tuning());
    return 1;
}

static int g_set_gemm_tuning(lua_State *L) {
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    l_checkend(L, 1, "gpu.set_gemm_tuning");
    lua_pushboolean(L, gids_set_gemm_tuning(lua_toboolean(L, 1)));
    return 1;
}

static int g_tuned_gemms(lua_State *L) {
    l_checkend(L, 0, "gpu.tuned_gemms");
    backend(L, "tuned_gemms"); /* the loader's reason, named as the other functions name it */
    int n = 0;
    l_check(L, gids_gemm_tuned_list(NULL, 0, &n));
    gids_gemm_tuned *recs = lua_newuserdatauv(L, sizeof *recs * (size_t)(n > 0 ? n : 1), 0);
    int got = 0;
    l_check(L, gids_gemm_tuned_list(recs, n, &got)); /* shapes tuned since hold past n: cut */
    lua_createtable(L, n, 0);
    for (int i = 0; i < n && i < got; i++) {
        const gids_gemm_tuned *r = &recs[i];
        lua_createtable(L, 0, 10);
        set_int(L, "device", r->device);
        lua_pushlstring(L, r->trans, 2);
        lua_setfield(L, -2, "trans");
        lua_pushboolean(L, r->tf32);
        lua_setfield(L, -2, "tf32");
        set_int(L, "m", r->m);
        set_int(L, "n", r->n);
        set_int(L, "k", r->k);
        set_int(L, "candidates", r->candidates);
        set_int(L, "chosen", r->chosen);
        lua_pushnumber(L, r->first_ms);
        lua_setfield(L, -2, "first_ms");
        lua_pushnumber(L, r->best_ms);
        lua_setfield(L, -2, "best_ms");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static const luaL_Reg funcs[] = {
    {"is_available", g_is_available},
    {"check_device", g_check_device},
    {"status", g_status},
    {"device_count", g_device_count},
    {"info", g_info},
    {"memory", g_memory},
    {"nvml", g_nvml},
    {"reset", g_reset},
    {"synchronize", g_synchronize},
    {"waits", g_waits},
    {"rnn_tf32", g_rnn_tf32},
    {"set_rnn_tf32", g_set_rnn_tf32},
    {"gemm_tuning", g_gemm_tuning},
    {"set_gemm_tuning", g_set_gemm_tuning},
    {"tuned_gemms", g_tuned_gemms},
    {NULL, NULL},
};

/* l_gpu_stream.c: adds its functions to the gpu table and record_stream to the Tensor methods. */
void l_open_gpu_stream(lua_State *L, int gpu, int methods);

void l_open_gpu(lua_State *L, int module, int methods) {
    lua_newtable(L);
    l_setfuncs(L, lua_gettop(L), funcs);
    l_open_gpu_stream(L, lua_gettop(L), methods);
    lua_setfield(L, module, "gpu");
}
