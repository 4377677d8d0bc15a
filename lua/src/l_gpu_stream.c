/* l_gpu_stream.c -- graphids.gpu streams and events (gids_backend's ABI 6; docs/cuda.md
 * "Streams and events").
 *
 *   local s = graphids.gpu.Stream{device = 0, priority = 0, nonblocking = false}
 *   local e0, e1 = graphids.gpu.Event{timing = true}, graphids.gpu.Event{timing = true}
 *   e0:record(s)
 *   local y = graphids.gpu.with_stream(s, function() return x:matmul(x) end)
 *   e1:record(s); e1:synchronize(); print(e0:elapsed_time(e1))   -- milliseconds
 *   other:wait_event(e1)            -- work issued on `other` from now on waits for e1
 *   x:record_stream(s)              -- x's memory is in use on s too (see below)
 *   s:close()                       -- or leave it to the GC
 *
 *   Stream: :synchronize(), :query() (true when its work is done), :wait_event(e),
 *     :record_event(e?) (a new Event when e is nil; returns it), :close(); fields device,
 *     priority, nonblocking, is_default.
 *   Event: :record(stream?) (nil: the current stream of the event's device), :synchronize(),
 *     :query(), :elapsed_time(end_event) (ms; both made with timing, recorded and complete),
 *     :close(); field device.
 *   gpu.current_stream(device?), gpu.default_stream(device?), gpu.set_stream(s),
 *   gpu.with_stream(s, fn, ...) -> fn's results (the previous stream comes back even when fn
 *   raises; the error is raised again as it was; fn runs in a lua_pcall, so it must not yield).
 *   tensor:record_stream(s).
 *
 * Devices are CUDA ordinals (0-based), as gpu.memory's.  The current stream is the calling OS
 * thread's, per device; every op on that device is issued on it.  A stream set current is kept
 * alive by this state until another is set, so its GC cannot destroy a current stream; closing
 * the state (lua_close) destroys it, and a thread that still has it current (the state ran on
 * another OS thread) is back on the default stream at its next op (gids/backend.h's
 * stream_destroy).
 * :close() is idempotent; a closed handle used again is an error; the default stream's :close()
 * does nothing (it cannot be destroyed).  Without a GPU each call raises the loader's reason.
 */
#include <stdbool.h>
#include <string.h>

#include "l_impl.h"

#define STREAM_MT "graphids.gpu.Stream"
#define EVENT_MT "graphids.gpu.Event"
/* Registry key of this module's state: {streams = weak handle -> Stream, defaults = device ->
 * Stream, current = device -> Stream (keeps the current streams alive)}. */
#define STATE_KEY "graphids.gpu.stream_state"

typedef struct l_stream {
    gids_stream *s; /* NULL: the legacy default stream */
    int device, priority;
    bool nonblocking, owned, closed;
} l_stream;

typedef struct l_event {
    gids_event *e;
    int device;
    bool timing, closed;
} l_event;

/* The backend with streams, or a Lua error naming fname and why not.  Streams and events are
 * one group: every entry is called somewhere below, so a plugin missing any of them (backend.h:
 * NULL is EUNSUPPORTED) has no streams, rather than a call through NULL later. */
static const gids_backend *stream_backend(lua_State *L, const char *fname) {
    if (gids_backend_load() != GIDS_OK) l_error(L, "%s: %s", fname, gids_error_message());
    const gids_backend *b = gids_backend_get(GIDS_CUDA);
    const struct {
        const char *name;
        bool present;
    } need[] = {
        {"stream_create", b->stream_create != NULL},
        {"stream_destroy", b->stream_destroy != NULL},
        {"stream_set", b->stream_set != NULL},
        {"stream_get", b->stream_get != NULL},
        {"stream_synchronize", b->stream_synchronize != NULL},
        {"stream_query", b->stream_query != NULL},
        {"stream_wait_event", b->stream_wait_event != NULL},
        {"event_create", b->event_create != NULL},
        {"event_record", b->event_record != NULL},
        {"event_synchronize", b->event_synchronize != NULL},
        {"event_query", b->event_query != NULL},
        {"event_elapsed", b->event_elapsed != NULL},
        {"event_destroy", b->event_destroy != NULL},
        {"record_stream", b->record_stream != NULL},
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!need[i].present)
            l_error(L, "%s: the CUDA plugin (%s) has no streams (no %s entry)", fname,
                    gids_backend_status(), need[i].name);
    return b;
}

static int check_device_index(lua_State *L, const gids_backend *b, lua_Integer d,
                              const char *fname) {
    int n = b->device_count();
    if (d < 0 || d >= n)
        l_error(L, "%s: device %I does not exist (%d CUDA device%s)", fname, d, n,
                n == 1 ? "" : "s");
    return (int)d;
}

/* Pushes the state subtable `name`. */
static void push_state(lua_State *L, const char *name) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 3);
        lua_newtable(L); /* streams: weak values, so a handle's entry never keeps it alive */
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "v");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_setfield(L, -2, "streams");
        lua_newtable(L);
        lua_setfield(L, -2, "defaults");
        lua_newtable(L);
        lua_setfield(L, -2, "current");
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
    }
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
}

static l_stream *new_stream(lua_State *L) {
    l_stream *u = lua_newuserdatauv(L, sizeof *u, 0);
    *u = (l_stream){NULL, 0, 0, false, false, false};
    luaL_setmetatable(L, STREAM_MT);
    return u;
}

/* Pushes the Stream object of (device, handle): the default stream's (one per device), the
 * Stream that owns the handle, or a borrowed wrapper for a handle set by C code. */
static void push_stream_of(lua_State *L, int device, gids_stream *h) {
    if (h == NULL) {
        push_state(L, "defaults");
        if (lua_rawgeti(L, -1, device) == LUA_TNIL) {
            lua_pop(L, 1);
            l_stream *u = new_stream(L);
            u->device = device;
            lua_pushvalue(L, -1);
            lua_rawseti(L, -3, device);
        }
        lua_remove(L, -2);
        return;
    }
    push_state(L, "streams");
    if (lua_rawgetp(L, -1, h) == LUA_TNIL) {
        lua_pop(L, 1);
        l_stream *u = new_stream(L);
        u->s = h;
        u->device = device;
    }
    lua_remove(L, -2);
}

/* The value's class name (__name) or its type's, for messages. */
static const char *type_name(lua_State *L, int i) {
    int t = luaL_getmetafield(L, i, "__name");
    if (t == LUA_TSTRING) return lua_tostring(L, -1); /* stays on the stack: an error follows */
    if (t != LUA_TNIL) lua_pop(L, 1);
    return luaL_typename(L, i);
}

static l_stream *check_stream(lua_State *L, int i, const char *fname) {
    l_stream *u = luaL_testudata(L, i, STREAM_MT);
    if (u == NULL)
        l_error(L, "%s: argument #%d must be a graphids.gpu.Stream, got %s", fname, i,
                type_name(L, i));
    else if (u->closed)
        l_error(L, "%s: the stream is closed", fname);
    return u;
}

static l_event *check_event(lua_State *L, int i, const char *fname) {
    l_event *u = luaL_testudata(L, i, EVENT_MT);
    if (u == NULL)
        l_error(L, "%s: argument #%d must be a graphids.gpu.Event, got %s", fname, i,
                type_name(L, i));
    else if (u->closed)
        l_error(L, "%s: the event is closed", fname);
    return u;
}

/* Makes the Stream at index i (open) current on its device, and keeps it alive while it is. */
static void set_current(lua_State *L, const gids_backend *b, int i) {
    i = lua_absindex(L, i);
    l_stream *u = lua_touserdata(L, i);
    l_check(L, b->stream_set(u->device, u->s));
    push_state(L, "current");
    lua_pushvalue(L, i);
    lua_rawseti(L, -2, u->device);
    lua_pop(L, 1);
}

/* ---------------------------------------------------------------- Stream */
static int g_stream(lua_State *L) {
    const char *fname = "gpu.Stream";
    l_checkend(L, 1, fname);
    static const char *const allowed[] = {"device", "priority", "nonblocking", NULL};
    l_checkopts(L, 1, fname, allowed);
    const gids_backend *b = stream_backend(L, fname);
    int device = check_device_index(L, b, l_optint(L, 1, "device", 0), fname);
    lua_Integer prio = l_optint(L, 1, "priority", 0);
    if (prio < -1000 || prio > 1000) l_error(L, "%s: priority %I is out of range", fname, prio);
    bool nonblocking = l_optbool(L, 1, "nonblocking", 0);
    l_stream *u = new_stream(L); /* the owner exists before the handle: no leak on error */
    l_check(L,
            b->stream_create(&u->s, device, (int)prio, nonblocking ? GIDS_STREAM_NONBLOCKING : 0u));
    u->device = device;
    u->priority = (int)prio;
    u->nonblocking = nonblocking;
    u->owned = true;
    push_state(L, "streams");
    lua_pushvalue(L, -2);
    lua_rawsetp(L, -2, u->s);
    lua_pop(L, 1);
    return 1;
}

/* Destroys an owned handle; never raises (used by __gc too).  Returns the status. */
static gids_status close_stream(lua_State *L, l_stream *u) {
    if (u->closed || !u->owned || u->s == NULL) {
        if (u->owned) u->closed = true;
        return GIDS_OK;
    }
    const gids_backend *b = gids_backend_get(GIDS_CUDA);
    gids_stream *h = u->s;
    u->closed = true;
    u->s = NULL;
    push_state(L, "streams");
    lua_pushnil(L);
    lua_rawsetp(L, -2, h);
    lua_pop(L, 1);
    /* The backend makes the default stream current where h was; so does the anchor. */
    push_state(L, "current");
    if (lua_rawgeti(L, -1, u->device) == LUA_TUSERDATA && lua_touserdata(L, -1) == u) {
        lua_pushnil(L);
        lua_rawseti(L, -3, u->device);
    }
    lua_pop(L, 2);
    return b != NULL && b->stream_destroy != NULL ? b->stream_destroy(h) : GIDS_OK;
}

static int s_close(lua_State *L) {
    l_stream *u = luaL_checkudata(L, 1, STREAM_MT);
    l_check_status(L, close_stream(L, u));
    return 0;
}

static int s_gc(lua_State *L) {
    l_stream *u = luaL_checkudata(L, 1, STREAM_MT);
    if (close_stream(L, u) != GIDS_OK) gids_error_clear(); /* nowhere to raise it */
    return 0;
}

static int s_synchronize(lua_State *L) {
    const char *fname = "Stream:synchronize";
    l_checkend(L, 1, fname);
    l_stream *u = check_stream(L, 1, fname);
    l_check(L, stream_backend(L, fname)->stream_synchronize(u->device, u->s));
    return 0;
}

static int s_query(lua_State *L) {
    const char *fname = "Stream:query";
    l_checkend(L, 1, fname);
    l_stream *u = check_stream(L, 1, fname);
    bool done = false;
    l_check(L, stream_backend(L, fname)->stream_query(u->device, u->s, &done));
    lua_pushboolean(L, done);
    return 1;
}

static int s_wait_event(lua_State *L) {
    const char *fname = "Stream:wait_event";
    l_checkend(L, 2, fname);
    l_stream *u = check_stream(L, 1, fname);
    l_event *e = check_event(L, 2, fname);
    l_check(L, stream_backend(L, fname)->stream_wait_event(u->device, u->s, e->e));
    return 0;
}

static l_event *new_event(lua_State *L, const gids_backend *b, int device, bool timing) {
    l_event *e = lua_newuserdatauv(L, sizeof *e, 0);
    *e = (l_event){NULL, device, timing, false};
    luaL_setmetatable(L, EVENT_MT);
    l_check(L, b->event_create(&e->e, device, timing));
    return e;
}

static int s_record_event(lua_State *L) {
    const char *fname = "Stream:record_event";
    l_checkend(L, 2, fname);
    l_stream *u = check_stream(L, 1, fname);
    const gids_backend *b = stream_backend(L, fname);
    l_event *e;
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        e = new_event(L, b, u->device, false);
    } else {
        e = check_event(L, 2, fname);
        lua_settop(L, 2);
    }
    l_check(L, b->event_record(e->e, u->device, u->s));
    return 1;
}

static int s_index(lua_State *L) {
    l_stream *u = luaL_checkudata(L, 1, STREAM_MT);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "device") == 0) {
        lua_pushinteger(L, u->device);
    } else if (strcmp(k, "priority") == 0) {
        lua_pushinteger(L, u->priority);
    } else if (strcmp(k, "nonblocking") == 0) {
        lua_pushboolean(L, u->nonblocking);
    } else if (strcmp(k, "is_default") == 0) {
        lua_pushboolean(L, u->s == NULL && !u->owned);
    } else {
        luaL_getmetatable(L, STREAM_MT);
        lua_getfield(L, -1, "methods");
        lua_getfield(L, -1, k);
    }
    return 1;
}

static int s_tostring(lua_State *L) {
    l_stream *u = luaL_checkudata(L, 1, STREAM_MT);
    if (u->closed)
        lua_pushfstring(L, "graphids.gpu.Stream(cuda:%d, closed)", u->device);
    else if (u->s == NULL && !u->owned)
        lua_pushfstring(L, "graphids.gpu.Stream(cuda:%d, default)", u->device);
    else
        lua_pushfstring(L, "graphids.gpu.Stream(cuda:%d, priority %d%s)", u->device, u->priority,
                        u->nonblocking ? ", nonblocking" : "");
    return 1;
}

/* ---------------------------------------------------------------- Event */
static int g_event(lua_State *L) {
    const char *fname = "gpu.Event";
    l_checkend(L, 1, fname);
    static const char *const allowed[] = {"device", "timing", NULL};
    l_checkopts(L, 1, fname, allowed);
    const gids_backend *b = stream_backend(L, fname);
    int device = check_device_index(L, b, l_optint(L, 1, "device", 0), fname);
    new_event(L, b, device, l_optbool(L, 1, "timing", 0));
    return 1;
}

static gids_status close_event(l_event *e) {
    if (e->closed) return GIDS_OK;
    e->closed = true;
    gids_event *h = e->e;
    e->e = NULL;
    const gids_backend *b = gids_backend_get(GIDS_CUDA);
    return h != NULL && b != NULL && b->event_destroy != NULL ? b->event_destroy(h) : GIDS_OK;
}

static int e_close(lua_State *L) {
    l_check_status(L, close_event(luaL_checkudata(L, 1, EVENT_MT)));
    return 0;
}

static int e_gc(lua_State *L) {
    if (close_event(luaL_checkudata(L, 1, EVENT_MT)) != GIDS_OK) gids_error_clear();
    return 0;
}

static int e_record(lua_State *L) {
    const char *fname = "Event:record";
    l_checkend(L, 2, fname);
    l_event *e = check_event(L, 1, fname);
    const gids_backend *b = stream_backend(L, fname);
    gids_stream *h = NULL;
    int device = e->device;
    if (lua_isnoneornil(L, 2)) {
        l_check(L, b->stream_get(device, &h));
    } else {
        l_stream *u = check_stream(L, 2, fname);
        h = u->s;
        device = u->device;
    }
    l_check(L, b->event_record(e->e, device, h));
    lua_settop(L, 1);
    return 1;
}

static int e_synchronize(lua_State *L) {
    const char *fname = "Event:synchronize";
    l_checkend(L, 1, fname);
    l_event *e = check_event(L, 1, fname);
    l_check(L, stream_backend(L, fname)->event_synchronize(e->e));
    return 0;
}

static int e_query(lua_State *L) {
    const char *fname = "Event:query";
    l_checkend(L, 1, fname);
    l_event *e = check_event(L, 1, fname);
    bool done = false;
    l_check(L, stream_backend(L, fname)->event_query(e->e, &done));
    lua_pushboolean(L, done);
    return 1;
}

static int e_elapsed_time(lua_State *L) {
    const char *fname = "Event:elapsed_time";
    l_checkend(L, 2, fname);
    l_event *a = check_event(L, 1, fname);
    l_event *z = check_event(L, 2, fname);
    double ms = 0;
    l_check(L, stream_backend(L, fname)->event_elapsed(a->e, z->e, &ms));
    lua_pushnumber(L, ms);
    return 1;
}

static int e_index(lua_State *L) {
    l_event *e = luaL_checkudata(L, 1, EVENT_MT);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "device") == 0) {
        lua_pushinteger(L, e->device);
    } else if (strcmp(k, "timing") == 0) {
        lua_pushboolean(L, e->timing);
    } else {
        luaL_getmetatable(L, EVENT_MT);
        lua_getfield(L, -1, "methods");
        lua_getfield(L, -1, k);
    }
    return 1;
}

static int e_tostring(lua_State *L) {
    l_event *e = luaL_checkudata(L, 1, EVENT_MT);
    lua_pushfstring(L, "graphids.gpu.Event(cuda:%d%s%s)", e->device, e->timing ? ", timing" : "",
                    e->closed ? ", closed" : "");
    return 1;
}

/* ---------------------------------------------------------------- current stream */
static int opt_device_arg(lua_State *L, int i, const gids_backend *b, const char *fname) {
    if (lua_isnoneornil(L, i)) return 0;
    if (!lua_isinteger(L, i))
        l_error(L, "%s: device (argument #%d) must be an integer, got %s", fname, i,
                luaL_typename(L, i));
    return check_device_index(L, b, lua_tointeger(L, i), fname);
}

static int g_current_stream(lua_State *L) {
    const char *fname = "gpu.current_stream";
    l_checkend(L, 1, fname);
    const gids_backend *b = stream_backend(L, fname);
    int device = opt_device_arg(L, 1, b, fname);
    gids_stream *h = NULL;
    l_check(L, b->stream_get(device, &h));
    push_stream_of(L, device, h);
    return 1;
}

static int g_default_stream(lua_State *L) {
    const char *fname = "gpu.default_stream";
    l_checkend(L, 1, fname);
    const gids_backend *b = stream_backend(L, fname);
    push_stream_of(L, opt_device_arg(L, 1, b, fname), NULL);
    return 1;
}

static int g_set_stream(lua_State *L) {
    const char *fname = "gpu.set_stream";
    l_checkend(L, 1, fname);
    check_stream(L, 1, fname);
    set_current(L, stream_backend(L, fname), 1);
    return 0;
}

static int g_with_stream(lua_State *L) {
    const char *fname = "gpu.with_stream";
    l_stream *u = check_stream(L, 1, fname);
    if (lua_type(L, 2) != LUA_TFUNCTION)
        l_error(L, "%s: argument #2 must be a function, got %s", fname, luaL_typename(L, 2));
    const gids_backend *b = stream_backend(L, fname);
    int nargs = lua_gettop(L) - 2;
    gids_stream *h = NULL;
    l_check(L, b->stream_get(u->device, &h));
    push_stream_of(L, u->device, h); /* the previous stream, held here until it is restored */
    lua_insert(L, 1);
    set_current(L, b, 2);
    int status = lua_pcall(L, nargs, LUA_MULTRET, 0); /* fn and its arguments, at 3.. */
    /* The previous stream may have been closed inside fn: the default stream then. */
    l_stream *prev = lua_touserdata(L, 1);
    if (prev->closed) {
        push_stream_of(L, u->device, NULL);
        lua_replace(L, 1);
    }
    set_current(L, b, 1);
    if (status != LUA_OK) return lua_error(L); /* the error object, as fn raised it */
    return lua_gettop(L) - 2;
}

/* ---------------------------------------------------------------- tensors */
static int t_record_stream(lua_State *L) {
    const char *fname = "record_stream";
    l_checkend(L, 2, fname);
    gids_tensor *t = l_checktensor(L, 1);
    l_stream *u = check_stream(L, 2, fname);
    l_check(L, stream_backend(L, fname)->record_stream(t, u->s));
    return 0;
}

static const luaL_Reg stream_methods[] = {
    {"synchronize", s_synchronize},   {"query", s_query}, {"wait_event", s_wait_event},
    {"record_event", s_record_event}, {"close", s_close}, {NULL, NULL},
};

static const luaL_Reg event_methods[] = {
    {"record", e_record}, {"synchronize", e_synchronize},
    {"query", e_query},   {"elapsed_time", e_elapsed_time},
    {"close", e_close},   {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"Stream", g_stream},
    {"Event", g_event},
    {"current_stream", g_current_stream},
    {"default_stream", g_default_stream},
    {"set_stream", g_set_stream},
    {"with_stream", g_with_stream},
    {NULL, NULL},
};

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction index,
                      lua_CFunction gc, lua_CFunction tostring) {
    luaL_newmetatable(L, name);
    lua_newtable(L);
    l_setfuncs(L, lua_gettop(L), methods);
    lua_setfield(L, -2, "methods");
    lua_pushcfunction(L, index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, gc); /* `local s <close> = gpu.Stream()` */
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

void l_open_gpu_stream(lua_State *L, int gpu, int methods) {
    new_class(L, STREAM_MT, stream_methods, s_index, s_gc, s_tostring);
    new_class(L, EVENT_MT, event_methods, e_index, e_gc, e_tostring);
    l_setfuncs(L, gpu, funcs);
    lua_pushcfunction(L, t_record_stream);
    lua_setfield(L, methods, "record_stream");
}
