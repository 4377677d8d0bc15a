/* l_util.c -- the helpers every binding file uses: tensor handles with heap tracking, status to
 * Lua error, dims, shapes, scalars, dtypes and option tables (binding.h, l_impl.h).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "edit_distance.h"
#include "l_impl.h"

/* ---------------------------------------------------------------- messages */

const char *l_fname(lua_State *L) {
    lua_Debug ar;
    if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name != NULL) return ar.name;
    return "?";
}

const char *l_checkpath(lua_State *L, int arg) {
    size_t n = 0;
    const char *s = luaL_checklstring(L, arg, &n);
    if (strlen(s) != n) {
        const char *f = l_fname(L);
        luaL_error(L, "%s%sargument #%d: the path holds a NUL byte at %d ('%s' would be used)",
                   strcmp(f, "?") != 0 ? f : "", strcmp(f, "?") != 0 ? ": " : "", arg,
                   (int)strlen(s), s);
    }
    return s;
}

int l_error(lua_State *L, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    luaL_where(L, 1);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    return lua_error(L);
}

void l_collect(lua_State *L) {
    lua_gc(L, LUA_GCCOLLECT);
    gids_memory_empty_cache(GIDS_DEVICE_CPU);
}

void l_checkend(lua_State *L, int last, const char *fname) {
    if (lua_gettop(L) > last)
        l_error(L, "%s: unexpected argument #%d (%s); options go in one trailing table", fname,
                last + 1, luaL_typename(L, last + 1));
}

int l_check_status(lua_State *L, gids_status s) {
    if (s == GIDS_OK) return 0;
    const char *msg = gids_error_message();
    if (msg == NULL || msg[0] == '\0') msg = gids_status_name(s);
    return l_error(L, "%s", msg);
}

int l_check_status_as(lua_State *L, gids_status s, const char *fname, const char *inner) {
    if (s == GIDS_OK) return 0;
    if (inner == NULL) return l_check_status(L, s);
    const char *msg = gids_error_message();
    size_t n = strlen(inner);
    if (msg != NULL && strncmp(msg, inner, n) == 0 && msg[n] == ':')
        return l_error(L, "%s%s", fname, msg + n);
    return l_check_status(L, s);
}

lua_Integer l_checklen(lua_State *L, int idx, lua_Integer max, const char *fname,
                       const char *what) {
    lua_Integer n = luaL_len(L, idx);
    if (n < 0 || n > max)
        luaL_error(L, "%s: %s has length %I, expected 0 to %I entries", fname, what, n, max);
    return n;
}

/* A short description of the value at i for messages: "2.5", "'abc'", "a table", "nothing"
 * (an argument not given). */
const char *l_describe(lua_State *L, int i) {
    switch (lua_type(L, i)) {
    case LUA_TNONE: return "nothing";
    case LUA_TNUMBER:
        if (lua_isinteger(L, i)) return lua_pushfstring(L, "%I", lua_tointeger(L, i));
        return lua_pushfstring(L, "%f", lua_tonumber(L, i));
    case LUA_TSTRING: return lua_pushfstring(L, "'%s' (a string)", lua_tostring(L, i));
    case LUA_TNIL: return "nil";
    default: return lua_pushfstring(L, "a %s", luaL_typename(L, i));
    }
}

/* ---------------------------------------------------------------- heap tracking */

/* The binding's Tensor userdata are tiny, so the Lua GC never sees the bytes they hold.  Past
 * a soft limit of tensor bytes a full collection runs; the next one waits until the garbage
 * reaches a quarter of what survived (at least the soft limit), so live data never triggers a
 * GC storm.  Torch7 waited for twice the survivors; with a training step that allocates
 * gigabytes, that let a whole step's garbage pile up until the next step's forward, and the
 * blocks came back too late to be reused: the large GAT's step at 1024 graphs took 12.7 s with
 * it and 9.8 s with a quarter (small GAT and the train bench unchanged or slightly faster). */
typedef struct l_heap {
    int64_t soft_limit;
    int64_t trigger;
    int64_t young_trigger;  /* CPU bytes that start a young collection */
    int64_t budget;         /* CPU bytes allocated after a full collection that start the next */
    int64_t grown, seen;    /* CPU bytes allocated since the last full collection; bytes held */
    int64_t device_trigger; /* device bytes (all GPUs together) that start the next collection */
    int64_t step_live, device_step_live; /* bytes live between steps (l_heap_after_backward) */
} l_heap;

/* 64 MiB: garbage that waits for a collection cannot give its blocks back, so a training step
 * that allocates its activations afresh runs on cold, page-faulting memory instead of the warm
 * blocks of the previous step.  On the MLP step of make bench (35-256-256-2, batch 4096) 256 MiB
 * cost 28 ms a step and 64 MiB 16 ms; the collections themselves are cheap (few, small objects). */
#define L_HEAP_DEFAULT_LIMIT ((int64_t)64 << 20)

/* Device memory is paced separately and more tightly: PyTorch frees a GPU tensor when its last
 * reference goes, so its peak is the live bytes, and a doubling rule would let ours reach twice
 * that.  A collection runs once the device bytes exceed what survived the last one by a quarter
 * (at least 64 MiB).  It is cheap: the Lua heap of a training loop is small (a full collection
 * of the large GAT's took 0.12 ms), and a step allocating a few GiB runs a handful. */
#define L_HEAP_DEVICE_SLACK ((int64_t)64 << 20)

/* Between full collections, young ones every 8 MiB of tensor bytes.  A loop of ops on large
 * tensors (x:relu() over 4 MB, a chain of elementwise ops) made garbage that waited for the
 * 64 MiB full collection, so it cycled through 16 fresh blocks beyond the L3 cache where
 * PyTorch frees each result at once and reuses one hot block.  A young collection (the
 * generational mode of the host and of lua.c) frees the handles made since the last one that
 * are dead already and looks at nothing older, so it costs little however large the Lua heap
 * (a dataset's tables, a test's predictions), which is what made a lower full-collection limit
 * slower on hcrl_sa's test phase.  In incremental mode the step is an incremental step, and
 * the full collections above still bound the garbage. */
#define L_HEAP_YOUNG_SLACK ((int64_t)8 << 20)

/* Above this soft limit no young collections run.  A tensor that outlives two of them is old,
 * and once dead only a full collection (or a major one of Lua's own) frees it; under a soft
 * limit the user set out of reach (gc_soft_limit(1 << 40)), none would come, and a loop holding
 * each 1 MB tensor for 24 iterations held 2 GB after 2 000 of them.  Up to this limit the
 * garbage that waits is bounded by the limit, as it was. */
#define L_HEAP_YOUNG_MAX_LIMIT ((int64_t)1 << 30)

/* The next young collection's trigger: the slack above `now` (the soft limit when smaller),
 * or never above L_HEAP_YOUNG_MAX_LIMIT. */
static int64_t young_after_(const l_heap *h, int64_t now) {
    if (h->soft_limit > L_HEAP_YOUNG_MAX_LIMIT) return INT64_MAX;
    return now + (h->soft_limit < L_HEAP_YOUNG_SLACK ? h->soft_limit : L_HEAP_YOUNG_SLACK);
}

static const char heap_key = 'h';

static l_heap *heap_get(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &heap_key) == LUA_TUSERDATA) {
        l_heap *h = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return h;
    }
    lua_pop(L, 1);
    l_heap *h = lua_newuserdatauv(L, sizeof(l_heap), 0);
    h->soft_limit = L_HEAP_DEFAULT_LIMIT;
    h->trigger = L_HEAP_DEFAULT_LIMIT;
    h->young_trigger = L_HEAP_YOUNG_SLACK;
    h->budget = L_HEAP_DEFAULT_LIMIT;
    h->grown = h->seen = 0;
    h->device_trigger = L_HEAP_DEVICE_SLACK;
    h->step_live = h->device_step_live = 0;
    lua_rawsetp(L, LUA_REGISTRYINDEX, &heap_key);
    return h;
}

int64_t l_heap_soft_limit(lua_State *L) {
    return heap_get(L)->soft_limit;
}

void l_heap_set_soft_limit(lua_State *L, int64_t bytes) {
    l_heap *h = heap_get(L);
    h->soft_limit = bytes;
    h->trigger = bytes;
    h->budget = bytes;
    h->young_trigger = young_after_(h, 0);
}

/* A full collection, then the next triggers from what survived it.  Less live than the
 * between-steps mark lowers the mark (a model was dropped). */
static void heap_collect(lua_State *L, l_heap *h) {
    lua_gc(L, LUA_GCCOLLECT);
    int64_t after = gids_memory_cpu_bytes(), dev = gids_memory_device_bytes();
    if (after < h->step_live) h->step_live = after;
    if (dev < h->device_step_live) h->device_step_live = dev;
    h->trigger = after + (after / 4 > h->soft_limit ? after / 4 : h->soft_limit);
    h->budget = h->trigger - after;
    h->grown = 0;
    h->seen = after;
    h->young_trigger = young_after_(h, after);
    h->device_trigger = dev + (dev / 4 > L_HEAP_DEVICE_SLACK ? dev / 4 : L_HEAP_DEVICE_SLACK);
}

static void heap_track(lua_State *L) {
    l_heap *h = heap_get(L);
    int64_t cpu = gids_memory_cpu_bytes();
    /* what was allocated since the last look (frees in between hide some: a lower bound) */
    if (cpu > h->seen) h->grown += cpu - h->seen;
    h->seen = cpu;
    /* (the budget too: above L_HEAP_YOUNG_MAX_LIMIT the young trigger never comes) */
    if (cpu <= h->young_trigger && h->grown <= h->budget &&
        gids_memory_device_bytes() <= h->device_trigger)
        return;
    /* The full collections keep their pace: by what was allocated since the last one, not by
     * what is held, which the young collections keep low while garbage old enough to have
     * been promoted (a step's activations) piles up. */
    if (h->grown > h->budget || gids_memory_device_bytes() > h->device_trigger) {
        heap_collect(L, h);
        return;
    }
    /* A young collection in generational mode.  Not lua_gc(L, LUA_GCSTEP, 0): that zeroes the
     * GC debt first, and Lua starts a major collection of its own only with the debt positive,
     * so old garbage waited for our full collections, which a large gc_soft_limit never runs
     * (2 GB held where 1 GB was before).  Adding a quarter of the heap as debt puts it above 0
     * (a minor collection leaves it at minus a fifth of the heap) and keeps Lua's own pacing. */
    lua_gc(L, LUA_GCSTEP, lua_gc(L, LUA_GCCOUNT) / 4 + 1);
    h->seen = gids_memory_cpu_bytes();
    h->young_trigger = young_after_(h, h->seen);
}

/* The triggers above are relative to what survived the last collection, and that collection
 * often falls mid-forward, with the activations live: the next then waits for as much garbage
 * again, so every other step of the large GAT at 1024 graphs carried the previous step's 2 GB
 * (CPU peaks alternating 5.9 and 7.3 GB, against 5.0 with this) on fresh, page-faulting memory.
 * The end of a backward is where a step's garbage is complete (PyTorch frees it there by
 * reference count): collect there whenever the bytes grew by the slack since what was live
 * after the last such collection, so a step that allocates little (a small MLP) is not
 * collected every time.  Not relative to the mid-forward collections: the backward frees the
 * tensors only the graph held, so its end can find fewer bytes than one of those left. */
void l_heap_after_backward(lua_State *L) {
    l_heap *h = heap_get(L);
    if (gids_memory_cpu_bytes() - h->step_live <= h->soft_limit &&
        gids_memory_device_bytes() - h->device_step_live <= L_HEAP_DEVICE_SLACK)
        return;
    heap_collect(L, h);
    h->step_live = gids_memory_cpu_bytes();
    h->device_step_live = gids_memory_device_bytes();
}

/* ---------------------------------------------------------------- tensor handles */

/* The metatable is also kept under a light-userdata key: every op checks its arguments' type,
 * and a pointer-keyed registry lookup costs far less than luaL_testudata's lookup by name. */
static const char tensor_mt_key = 'T';

void l_tensor_mt_init(lua_State *L) {
    luaL_newmetatable(L, L_TENSOR_MT);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &tensor_mt_key);
}

l_tensor *l_testtensor(lua_State *L, int i) {
    l_tensor *u = lua_touserdata(L, i);
    if (u == NULL || !lua_getmetatable(L, i)) return NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &tensor_mt_key);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? u : NULL;
}

l_tensor *l_checkhandle(lua_State *L, int i) {
    l_tensor *u = l_testtensor(L, i);
    if (u == NULL) luaL_typeerror(L, i, L_TENSOR_MT);
    return u;
}

gids_tensor *l_totensor(lua_State *L, int i) {
    l_tensor *u = l_testtensor(L, i);
    return u != NULL ? u->t : NULL;
}

gids_tensor *l_checktensor(lua_State *L, int i) {
    l_tensor *u = l_checkhandle(L, i);
    if (u->t == NULL) luaL_argerror(L, i, "attempt to use a freed tensor");
    return u->t;
}

l_tensor *l_newtensor(lua_State *L) {
    heap_track(L);
    l_tensor *u = lua_newuserdatauv(L, sizeof(l_tensor), 0);
    u->t = NULL;
    u->hooks = false;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &tensor_mt_key);
    lua_setmetatable(L, -2);
    return u;
}

void l_pushtensor(lua_State *L, gids_tensor *t) {
    /* The handle must exist before it owns t; if the userdata allocation raises, t leaks
     * rather than being released twice.  Callers that can, use l_newtensor first. */
    l_tensor *u = l_newtensor(L);
    u->t = t;
}

/* ---------------------------------------------------------------- dims and shapes */

int l_dim_to_c(lua_State *L, lua_Integer d, int ndim, int extra, const char *fname) {
    /* A 0-d tensor accepts dim 1 / -1, as PyTorch accepts 0 / -1. */
    int n = ndim + (extra ? 1 : 0);
    if (n == 0) n = 1;
    if (d >= 1 && d <= n) return (int)(d - 1);
    if (d <= -1 && d >= -n) return (int)(n + d);
    return l_error(L, "%s: dim %I out of range for a tensor of %d dims (valid: 1..%d or -%d..-1)",
                   fname, d, ndim, n, n);
}

int l_checkdim(lua_State *L, int arg, int ndim, int extra, const char *fname) {
    int isint = 0;
    lua_Integer d = lua_type(L, arg) == LUA_TNUMBER ? lua_tointegerx(L, arg, &isint) : 0;
    if (!isint)
        return l_error(L, "%s: dim (argument #%d) must be an integer, got %s", fname, arg,
                       l_describe(L, arg));
    return l_dim_to_c(L, d, ndim, extra, fname);
}

int l_optdim(lua_State *L, int arg, int ndim, int def, const char *fname) {
    if (lua_isnoneornil(L, arg)) return def;
    return l_checkdim(L, arg, ndim, 0, fname);
}

static int64_t shape_entry(lua_State *L, int i, int pos, const char *fname) {
    int isint = 0;
    lua_Integer v = lua_type(L, i) == LUA_TNUMBER ? lua_tointegerx(L, i, &isint) : 0;
    if (!isint)
        return l_error(L, "%s: size at position %d must be an integer, got %s", fname, pos,
                       l_describe(L, i));
    return (int64_t)v;
}

int l_checkshape(lua_State *L, int first, int64_t shape[GIDS_MAX_DIMS], int *next,
                 const char *fname) {
    int n = 0;
    if (lua_type(L, first) == LUA_TTABLE) {
        lua_Unsigned len = lua_rawlen(L, first);
        if (len > GIDS_MAX_DIMS)
            return l_error(L, "%s: shape has %d dims, at most %d are supported", fname, (int)len,
                           GIDS_MAX_DIMS);
        for (n = 0; n < (int)len; n++) {
            lua_rawgeti(L, first, n + 1);
            shape[n] = shape_entry(L, -1, n + 1, fname);
            lua_pop(L, 1);
        }
        if (next != NULL) *next = first + 1;
        return n;
    }
    int i = first;
    while (lua_type(L, i) == LUA_TNUMBER) {
        if (n == GIDS_MAX_DIMS)
            return l_error(L, "%s: shape has more than %d dims", fname, GIDS_MAX_DIMS);
        shape[n] = shape_entry(L, i, n + 1, fname);
        n++;
        i++;
    }
    if (next != NULL) *next = i;
    return n;
}

void l_check_sizes(lua_State *L, int n, const int64_t *shape, const char *fname) {
    for (int d = 0; d < n; d++)
        if (shape[d] < 0)
            l_error(L, "%s: size %I at position %d must be >= 0", fname, (lua_Integer)shape[d],
                    d + 1);
}

/* ---------------------------------------------------------------- scalars and dtypes */

gids_scalar l_checkscalar(lua_State *L, int i) {
    switch (lua_type(L, i)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, i)) return gids_scalar_i((int64_t)lua_tointeger(L, i));
        return gids_scalar_f((double)lua_tonumber(L, i));
    case LUA_TBOOLEAN: return gids_scalar_i(lua_toboolean(L, i) ? 1 : 0);
    default: luaL_typeerror(L, i, "number"); return gids_scalar_i(0);
    }
}

static const char dtype_list[] = "f32, f64, i64, i32, u8, bool; f16, bf16 on a CUDA device";

gids_dtype l_checkdtype(lua_State *L, int i) {
    const char *name = luaL_checkstring(L, i);
    gids_dtype dt;
    if (gids_dtype_parse(name, &dt) != GIDS_OK) {
        gids_error_clear();
        luaL_argerror(
            L, i, lua_pushfstring(L, "unknown dtype '%s' (expected one of %s)", name, dtype_list));
    }
    return dt;
}

gids_device l_check_device(lua_State *L, const char *name, const char *fname) {
    gids_device dev;
    if (gids_device_parse(name, &dev) != GIDS_OK) {
        gids_error_clear();
        l_error(L, "%s: unknown device '%s' (expected 'cpu', 'cuda' or 'cuda:N')", fname, name);
    }
    if (dev.type != GIDS_CPU && gids_backend_load() != GIDS_OK)
        l_error(L, "%s: device '%s' is not available: %s", fname, name, gids_error_message());
    l_check(L, gids_device_check(fname, dev));
    return dev;
}

/* ---------------------------------------------------------------- option tables */

static int is_allowed(const char *key, const char *const allowed[]) {
    for (int k = 0; allowed[k] != NULL; k++)
        if (strcmp(key, allowed[k]) == 0) return 1;
    return 0;
}

/* Raises for `key` (at the top of the stack) with a suggestion or the list of allowed keys. */
static int unknown_option(lua_State *L, const char *fname, const char *key,
                          const char *const allowed[]) {
    const char *best = NULL;
    size_t best_d = SIZE_MAX, klen = strlen(key);
    for (int k = 0; allowed[k] != NULL; k++) {
        /* an abbreviation ("gen" for "generator") counts as a near miss; keys are matched with
         * their case, as Lua's tables do */
        size_t d = klen >= 2 && strncmp(key, allowed[k], klen) == 0
                       ? 1
                       : l_edit_distance(key, allowed[k], false);
        if (d < best_d) best_d = d, best = allowed[k];
    }
    size_t limit = klen <= 4 ? 1 : (klen <= 8 ? 2 : 3);
    if (best != NULL && best_d <= limit)
        return l_error(L, "%s: unknown option '%s' (did you mean '%s'?)", fname, key, best);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int k = 0; allowed[k] != NULL; k++) {
        if (k > 0) luaL_addstring(&b, ", ");
        luaL_addstring(&b, allowed[k]);
    }
    if (allowed[0] == NULL) luaL_addstring(&b, "none");
    luaL_pushresult(&b);
    return l_error(L, "%s: unknown option '%s' (allowed: %s)", fname, key, lua_tostring(L, -1));
}

void l_checkopts(lua_State *L, int idx, const char *fname, const char *const allowed[]) {
    if (lua_isnoneornil(L, idx)) return;
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE)
        l_error(L, "%s: options (argument #%d) must be a table, got %s", fname, idx,
                l_describe(L, idx));
    /* pairs() order varies between runs; report the smallest unknown key so the message is
     * the same every time.  The slot `w` keeps that key alive during the traversal. */
    const char *worst = NULL;
    lua_pushnil(L);
    int w = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            l_error(L, "%s: option keys must be strings, got %s", fname, l_describe(L, -1));
        const char *key = lua_tostring(L, -1);
        if (!is_allowed(key, allowed) && (worst == NULL || strcmp(key, worst) < 0)) {
            lua_pushvalue(L, -1);
            lua_replace(L, w);
            worst = lua_tostring(L, w);
        }
    }
    if (worst != NULL) unknown_option(L, fname, worst, allowed);
    lua_pop(L, 1);
}

/* Pushes opts[key] (nil when opts is absent) and returns its type. */
static int getopt_field(lua_State *L, int idx, const char *key) {
    if (lua_type(L, idx) != LUA_TTABLE) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    return lua_getfield(L, idx, key);
}

static int bad_option(lua_State *L, const char *fname, const char *key, const char *expected) {
    return l_error(L, "%s: option '%s' must be %s, got %s", fname, key, expected,
                   l_describe(L, -1));
}

lua_Integer l_optint(lua_State *L, int idx, const char *key, lua_Integer def) {
    idx = lua_absindex(L, idx);
    if (getopt_field(L, idx, key) == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint) bad_option(L, l_fname(L), key, "an integer");
    lua_pop(L, 1);
    return v;
}

double l_optnum(lua_State *L, int idx, const char *key, double def) {
    idx = lua_absindex(L, idx);
    if (getopt_field(L, idx, key) == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    if (lua_type(L, -1) != LUA_TNUMBER) bad_option(L, l_fname(L), key, "a number");
    double v = (double)lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

int l_optbool(lua_State *L, int idx, const char *key, int def) {
    return l_optbool_named(L, idx, key, def, NULL);
}

int l_optbool_named(lua_State *L, int idx, const char *key, int def, const char *fname) {
    idx = lua_absindex(L, idx);
    int t = getopt_field(L, idx, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    if (t != LUA_TBOOLEAN) bad_option(L, fname != NULL ? fname : l_fname(L), key, "a boolean");
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

const char *l_optstr_named(lua_State *L, int idx, const char *key, const char *def,
                           const char *fname) {
    idx = lua_absindex(L, idx);
    int t = getopt_field(L, idx, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    if (t != LUA_TSTRING) bad_option(L, fname, key, "a string");
    /* The string stays alive: the options table on the stack still refers to it. */
    const char *v = lua_tostring(L, -1);
    lua_pop(L, 1);
    return v;
}

const char *l_optstr(lua_State *L, int idx, const char *key, const char *def) {
    return l_optstr_named(L, idx, key, def, l_fname(L));
}

gids_dtype l_optdtype_named(lua_State *L, int idx, const char *key, gids_dtype def,
                            const char *fname) {
    const char *name = l_optstr_named(L, idx, key, NULL, fname);
    if (name == NULL) return def;
    gids_dtype dt;
    if (gids_dtype_parse(name, &dt) != GIDS_OK) {
        gids_error_clear();
        l_error(L, "%s: option '%s': unknown dtype '%s' (expected one of %s)", fname, key, name,
                dtype_list);
    }
    return dt;
}

gids_dtype l_optdtype(lua_State *L, int idx, const char *key, gids_dtype def) {
    return l_optdtype_named(L, idx, key, def, l_fname(L));
}

void l_finish_created(lua_State *L, int idx, l_tensor *u, const char *fname) {
    l_finish_created_as(L, idx, u, fname, u->t->dtype);
}

void l_finish_created_as(lua_State *L, int idx, l_tensor *u, const char *fname, gids_dtype dt) {
    idx = lua_absindex(L, idx);
    /* {device=...}: made on the CPU (so random draws equal the CPU's), then moved. */
    const char *dev_name = lua_type(L, idx) == LUA_TTABLE ? l_optstr(L, idx, "device", NULL) : NULL;
    if (dev_name != NULL) {
        gids_device dev = l_check_device(L, dev_name, fname);
        gids_tensor *moved = NULL;
        l_check(L, gids_to_device(&moved, u->t, dev));
        gids_tensor_release(u->t);
        u->t = moved;
    }
    if (u->t->dtype != dt) {
        gids_tensor *converted = NULL;
        l_check(L, gids_to_dtype(&converted, u->t, dt));
        gids_tensor_release(u->t);
        u->t = converted;
    }
    gids_tensor *t = u->t;
    int t_type = getopt_field(L, idx, "requires_grad");
    if (t_type == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (t_type != LUA_TBOOLEAN) bad_option(L, fname, "requires_grad", "a boolean");
    int on = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!on) return;
    /* Checked here so the message names the creating function and the way out. */
    if (!gids_dtype_is_float(t->dtype))
        l_error(L,
                "%s: requires_grad=true needs a float dtype, got %s (only float tensors can "
                "require grad; pass {dtype = 'f32'})",
                fname, gids_dtype_name(t->dtype));
    l_check(L, gids_set_requires_grad(t, true));
}

gids_generator *l_optgenerator(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (getopt_field(L, idx, "generator") == LUA_TNIL) {
        lua_pop(L, 1);
        return gids_default_generator();
    }
    l_generator *g = luaL_testudata(L, -1, L_GENERATOR_MT);
    if (g == NULL) bad_option(L, l_fname(L), "generator", "a graphids.Generator");
    lua_pop(L, 1); /* still referenced by the options table */
    return &g->g;
}

void l_setfuncs(lua_State *L, int tbl, const luaL_Reg *funcs) {
    tbl = lua_absindex(L, tbl);
    for (; funcs->name != NULL; funcs++) {
        lua_pushcfunction(L, funcs->func);
        lua_setfield(L, tbl, funcs->name);
    }
}

void l_newclass(lua_State *L, const char *mt, const char *display, const luaL_Reg *meta,
                const luaL_Reg *methods) {
    if (luaL_newmetatable(L, mt)) {
        l_setfuncs(L, -1, meta);
        if (methods != NULL) {
            lua_newtable(L);
            l_setfuncs(L, -1, methods);
            lua_setfield(L, -2, "__index");
        }
        if (display != NULL) {
            lua_pushstring(L, display);
            lua_setfield(L, -2, "__name");
        }
    }
    lua_pop(L, 1);
}

/* ---------------------------------------------------------------- elements */

void *l_elem_ptr(const gids_tensor *t, const int64_t *idx) {
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
    return (char *)gids_tensor_data(t) + off * (int64_t)gids_dtype_size(t->dtype);
}

void l_push_elem(lua_State *L, gids_dtype dt, const void *p) {
    switch (dt) {
    case GIDS_F32: lua_pushnumber(L, (lua_Number) * (const float *)p); break;
    case GIDS_F64: lua_pushnumber(L, (lua_Number) * (const double *)p); break;
    case GIDS_I64: lua_pushinteger(L, (lua_Integer) * (const int64_t *)p); break;
    case GIDS_I32: lua_pushinteger(L, (lua_Integer) * (const int32_t *)p); break;
    case GIDS_U8: lua_pushinteger(L, (lua_Integer) * (const uint8_t *)p); break;
    case GIDS_BOOL: lua_pushboolean(L, *(const uint8_t *)p != 0); break;
    default: lua_pushnil(L); break;
    }
}
