/* l_can.c -- CAN log readers, the canonical CSV writer and the traffic simulator.
 *
 *   local frames, report = core.read_can("DoS-kia.csv", {lenient = true})
 *   print(#frames, report.format, report.skipped)
 *   local ids = frames:column("id")                 -- i64 [n] (a copy)
 *   frames:write_csv("out.csv")
 *   local list, reports = core.read_can_many({"a.csv", "b.log"})   -- files in parallel
 *   local sim = core.can_simulate{attack = "DoS", seed = 1, frames = 5000}
 *   core.can_simulate_dataset("data/sim", {seed = 1})
 *
 * A CanFrames userdata owns one gids_can_frames table (one capture file, in file order).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "gids/can.h"

#define L_FRAMES_MT "graphids.CanFrames"

typedef struct l_frames {
    gids_can_frames f;
    int live; /* 0 after :free() */
} l_frames;

static l_frames *new_frames(lua_State *L) {
    l_frames *u = lua_newuserdatauv(L, sizeof *u, 0);
    gids_can_frames_init(&u->f);
    u->live = 1;
    luaL_setmetatable(L, L_FRAMES_MT);
    return u;
}

static l_frames *check_handle(lua_State *L, int idx) {
    l_frames *u = luaL_checkudata(L, idx, L_FRAMES_MT);
    if (!u->live) luaL_error(L, "attempt to use freed CanFrames");
    return u;
}

struct gids_can_frames *l_checkframes(lua_State *L, int idx) {
    return &check_handle(L, idx)->f;
}

struct gids_can_frames *l_testframes(lua_State *L, int idx, int *freed) {
    l_frames *u = luaL_testudata(L, idx, L_FRAMES_MT);
    *freed = u != NULL && !u->live;
    return u != NULL && u->live ? &u->f : NULL;
}

/* Frees the frames and raises the runtime's message when s failed. */
static void check_frames(lua_State *L, l_frames *u, gids_status s) {
    if (s == GIDS_OK) return;
    gids_can_frames_free(&u->f);
    l_check_status(L, s);
}

/* ------------------------------------------------------------------ reading */

static const char *const read_opts[] = {"format",  "lenient",       "time_tolerance", "columns",
                                        "id_base", "attack_frames", "attack_ids",     NULL};
static const char *const column_keys[] = {"ts", "id", "data", "dlc", "label", NULL};

/* The rules of opts.attack_frames ("ID#DATA", "ID#R4") and opts.attack_ids ("ID"), in a userdata
 * pushed on the stack (the GC frees it, also after an error). */
static void opt_rules(lua_State *L, int idx, gids_can_read_opts *o, const char *fname) {
    int total = 0, lens[2] = {0, 0};
    static const char *const keys[2] = {"attack_frames", "attack_ids"};
    for (int k = 0; k < 2; k++) {
        int t = lua_getfield(L, idx, keys[k]);
        if (t != LUA_TNIL && t != LUA_TTABLE)
            luaL_error(L, "%s: option %s must be a list of strings, got %s", fname, keys[k],
                       luaL_typename(L, -1));
        /* (measured once: the buffer and the loop below take this length, whatever a __len
         * would say a second time) */
        if (t == LUA_TTABLE) total += lens[k] = (int)l_checklen(L, -1, L_LIST_MAX, fname, keys[k]);
        lua_pop(L, 1);
    }
    gids_can_rule *rules = lua_newuserdatauv(L, sizeof *rules * (size_t)(total ? total : 1), 0);
    int n = 0;
    for (int k = 0; k < 2; k++) {
        if (lua_getfield(L, idx, keys[k]) == LUA_TTABLE) {
            int len = lens[k];
            for (int i = 1; i <= len; i++) {
                if (lua_geti(L, -1, i) != LUA_TSTRING)
                    luaL_error(L, "%s: %s[%d] must be a string, got %s", fname, keys[k], i,
                               luaL_typename(L, -1));
                const char *text = lua_tostring(L, -1);
                if (k == 0 && strchr(text, '#') == NULL)
                    luaL_error(L, "%s: attack_frames[%d] '%s' must be ID#DATA", fname, i, text);
                if (k == 1 && strchr(text, '#') != NULL)
                    luaL_error(L, "%s: attack_ids[%d] '%s' must be an id without '#'", fname, i,
                               text);
                l_check_status(L, gids_can_rule_parse(text, &rules[n++]));
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    o->rules = rules;
    o->nrules = n;
}

/* Reads the options table at idx into *o; pushes the rule userdata (keep it until the read is
 * done).  The option strings stay alive in the options table. */
static void read_options(lua_State *L, int idx, gids_can_read_opts *o, const char *fname) {
    gids_can_read_opts_init(o);
    l_checkopts(L, idx, fname, read_opts);
    if (lua_isnoneornil(L, idx)) {
        lua_pushnil(L);
        return;
    }
    idx = lua_absindex(L, idx);
    const char *fmt = l_optstr(L, idx, "format", NULL);
    if (fmt) l_check_status(L, gids_can_format_parse(fmt, &o->format));
    o->lenient = l_optbool(L, idx, "lenient", 0);
    o->time_tolerance = l_optnum(L, idx, "time_tolerance", GIDS_CAN_TIME_TOLERANCE);
    if (o->time_tolerance < 0 || isnan(o->time_tolerance))
        luaL_error(L, "%s: time_tolerance must be >= 0 seconds (math.huge disables), got %f", fname,
                   o->time_tolerance);
    o->id_base = (int)l_optint(L, idx, "id_base", 0);
    if (o->id_base != 0 && o->id_base != 10 && o->id_base != 16)
        luaL_error(L, "%s: id_base must be 10 or 16, got %d", fname, o->id_base);
    int t = lua_getfield(L, idx, "columns");
    if (t == LUA_TTABLE) {
        int c = lua_gettop(L);
        l_checkopts(L, c, fname, column_keys);
        o->col_ts = l_optstr(L, c, "ts", NULL);
        o->col_id = l_optstr(L, c, "id", NULL);
        o->col_data = l_optstr(L, c, "data", NULL);
        o->col_dlc = l_optstr(L, c, "dlc", NULL);
        o->col_label = l_optstr(L, c, "label", NULL);
        if (fmt == NULL) o->format = GIDS_CAN_FMT_COLUMNS;
    } else if (t != LUA_TNIL) {
        luaL_error(L, "%s: option columns must be a table {ts=, id=, data=, dlc=, label=}, got %s",
                   fname, luaL_typename(L, -1));
    }
    lua_pop(L, 1); /* the columns table: its strings stay referenced by the options table */
    opt_rules(L, idx, o, fname);
}

static void push_report(lua_State *L, const gids_can_read_report *r) {
    lua_createtable(L, 0, 10);
    lua_pushstring(L, gids_can_format_name(r->format));
    lua_setfield(L, -2, "format");
    lua_pushinteger(L, r->lines);
    lua_setfield(L, -2, "lines");
    lua_pushinteger(L, r->frames);
    lua_setfield(L, -2, "frames");
    lua_pushinteger(L, r->skipped);
    lua_setfield(L, -2, "skipped");
    lua_pushinteger(L, r->backsteps);
    lua_setfield(L, -2, "backsteps");
    lua_pushnumber(L, r->max_backstep);
    lua_setfield(L, -2, "max_backstep");
    lua_pushinteger(L, r->labeled);
    lua_setfield(L, -2, "labeled");
    lua_pushboolean(L, r->has_labels);
    lua_setfield(L, -2, "has_labels");
    lua_createtable(L, r->nerrors, 0);
    for (int i = 0; i < r->nerrors; i++) {
        lua_pushstring(L, r->errors[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "errors");
}

/* read_can(path [, opts]) -> frames, report */
static int l_read_can(lua_State *L) {
    const char *path = l_checkpath(L, 1);
    l_checkend(L, 2, "read_can");
    gids_can_read_opts o;
    read_options(L, 2, &o, "read_can");
    l_frames *u = new_frames(L);
    gids_can_read_report r;
    check_frames(L, u, gids_can_read(path, &o, &u->f, &r));
    push_report(L, &r);
    return 2;
}

/* read_can_many(paths [, opts]) -> {frames...}, {report...}: the files are read in parallel. */
static int l_read_can_many(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    l_checkend(L, 2, "read_can_many");
    int n = (int)l_checklen(L, 1, L_LIST_MAX, "read_can_many", "paths");
    gids_can_read_opts o;
    read_options(L, 2, &o, "read_can_many");
    /* (the strings are kept in a table the buffer holds: a list whose __index makes them keeps
     * none of them itself) */
    lua_createtable(L, n, 0);
    int held = lua_gettop(L);
    const char **paths = lua_newuserdatauv(L, sizeof *paths * (size_t)(n ? n : 1), 1);
    lua_pushvalue(L, held);
    lua_setiuservalue(L, -2, 1);
    for (int i = 0; i < n; i++) {
        if (lua_geti(L, 1, i + 1) != LUA_TSTRING)
            luaL_error(L, "read_can_many: paths[%d] must be a string, got %s", i + 1,
                       luaL_typename(L, -1));
        size_t len = 0;
        paths[i] = lua_tolstring(L, -1, &len);
        if (strlen(paths[i]) != len)
            luaL_error(L, "read_can_many: paths[%d] holds a NUL byte at %d ('%s' would be used)",
                       i + 1, (int)strlen(paths[i]), paths[i]);
        lua_rawseti(L, held, i + 1); /* (pops it) */
    }
    lua_remove(L, held); /* (the buffer holds it) */
    gids_can_read_report *reps = lua_newuserdatauv(L, sizeof *reps * (size_t)(n ? n : 1), 0);
    /* Owners first: a table of n empty CanFrames, filled by the parallel read. */
    lua_createtable(L, n, 0);
    int list = lua_gettop(L);
    gids_can_frames *tmp = lua_newuserdatauv(L, sizeof *tmp * (size_t)(n ? n : 1), 0);
    gids_status s = gids_can_read_many(paths, n, &o, tmp, reps);
    for (int i = 0; i < n; i++) {
        l_frames *u = new_frames(L);
        u->f = tmp[i]; /* the userdata owns the table from here, also when s failed */
        lua_rawseti(L, list, i + 1);
    }
    l_check_status(L, s);
    lua_pushvalue(L, list);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        push_report(L, &reps[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 2;
}

/* ------------------------------------------------------------------ CanFrames methods */

static int f_len(lua_State *L) {
    lua_pushinteger(L, check_handle(L, 1)->f.n);
    return 1;
}

static int f_gc(lua_State *L) {
    l_frames *u = luaL_checkudata(L, 1, L_FRAMES_MT);
    if (u->live) gids_can_frames_free(&u->f);
    u->live = 0;
    return 0;
}

static int f_tostring(lua_State *L) {
    l_frames *u = luaL_checkudata(L, 1, L_FRAMES_MT);
    if (!u->live) {
        lua_pushstring(L, "CanFrames (freed)");
        return 1;
    }
    int64_t atk = 0;
    for (int64_t i = 0; i < u->f.n; i++) atk += u->f.attack[i];
    lua_pushfstring(L, "CanFrames (%d frames, %d attack)", (int)u->f.n, (int)atk);
    return 1;
}

/* frames:column(name) -> a new CPU tensor: ts f64 [n]; id, dlc, flags, attack i64 [n]; data
 * u8 [n, 8]. */
static int f_column(lua_State *L) {
    gids_can_frames *f = &check_handle(L, 1)->f;
    const char *name = luaL_checkstring(L, 2);
    l_checkend(L, 2, "column");
    int64_t shape[2] = {f->n, GIDS_CAN_MAX_DLC};
    l_tensor *out = l_newtensor(L);
    if (strcmp(name, "ts") == 0) {
        l_check(L, gids_empty(&out->t, GIDS_F64, GIDS_DEVICE_CPU, 1, shape));
        if (f->n) memcpy(gids_tensor_data(out->t), f->ts, sizeof(double) * (size_t)f->n);
    } else if (strcmp(name, "data") == 0) {
        l_check(L, gids_empty(&out->t, GIDS_U8, GIDS_DEVICE_CPU, 2, shape));
        if (f->n) memcpy(gids_tensor_data(out->t), f->data, GIDS_CAN_MAX_DLC * (size_t)f->n);
    } else if (!strcmp(name, "id") || !strcmp(name, "dlc") || !strcmp(name, "flags") ||
               !strcmp(name, "attack")) {
        l_check(L, gids_empty(&out->t, GIDS_I64, GIDS_DEVICE_CPU, 1, shape));
        int64_t *d = gids_tensor_data(out->t);
        for (int64_t i = 0; i < f->n; i++)
            d[i] = name[0] == 'i'   ? (int64_t)f->id[i]
                   : name[0] == 'd' ? (int64_t)f->dlc[i]
                   : name[0] == 'f' ? (int64_t)f->flags[i]
                                    : (int64_t)f->attack[i];
    } else {
        return luaL_error(L,
                          "column: unknown column '%s' (expected ts, id, dlc, flags, data or "
                          "attack)",
                          name);
    }
    return 1;
}

/* Lua range [i, j] (1-based, inclusive, negative from the end, as string.sub) -> [from, to). */
static void check_range(lua_State *L, int arg, int64_t n, int64_t *from, int64_t *to,
                        const char *fname) {
    lua_Integer i = luaL_optinteger(L, arg, 1), j = luaL_optinteger(L, arg + 1, n);
    if (i < 0) i += n + 1;
    if (j < 0) j += n + 1;
    if (i < 1 || j > n || i > j + 1)
        luaL_error(L, "%s: range [%d, %d] out of bounds for %d frames", fname, (int)i, (int)j,
                   (int)n);
    *from = i - 1;
    *to = j;
}

/* frames:write_csv(path [, i, j]) writes the canonical CSV. */
static int f_write_csv(lua_State *L) {
    gids_can_frames *f = &check_handle(L, 1)->f;
    const char *path = l_checkpath(L, 2);
    int64_t from, to;
    check_range(L, 3, f->n, &from, &to, "write_csv");
    l_check(L, gids_can_write_csv(path, f, from, to));
    return 0;
}

/* frames:slice(i, j) -> a new CanFrames with frames i..j (a copy). */
static int f_slice(lua_State *L) {
    gids_can_frames *f = &check_handle(L, 1)->f;
    int64_t from, to;
    check_range(L, 2, f->n, &from, &to, "slice");
    l_frames *u = new_frames(L);
    check_frames(L, u, gids_can_frames_reserve(&u->f, to - from));
    for (int64_t i = from; i < to; i++)
        check_frames(L, u,
                     gids_can_frames_push(&u->f, f->ts[i], f->id[i], f->flags[i], f->dlc[i],
                                          f->data + i * GIDS_CAN_MAX_DLC, f->attack[i]));
    return 1;
}

static int f_free(lua_State *L) {
    return f_gc(L);
}

/* ------------------------------------------------------------------ simulator */

static const char *const sim_opts[] = {"attack", "seed", "frames", "vehicle", "capture", NULL};
static const char *const simset_opts[] = {"seed", "frames", NULL};

static void sim_common(lua_State *L, int idx, gids_can_sim_opts *o, const char *fname) {
    gids_can_sim_opts_init(o);
    if (lua_isnoneornil(L, idx)) return;
    lua_Integer seed = l_optint(L, idx, "seed", 0);
    o->seed = (uint64_t)seed;
    o->frames = l_optint(L, idx, "frames", o->frames);
    if (o->frames < 1) luaL_error(L, "%s: frames must be >= 1, got %d", fname, (int)o->frames);
}

/* can_simulate{attack=, seed=, frames=, vehicle=, capture=} -> frames of one capture. */
static int l_can_simulate(lua_State *L) {
    l_checkend(L, 1, "can_simulate");
    l_checkopts(L, 1, "can_simulate", sim_opts);
    gids_can_sim_opts o;
    sim_common(L, 1, &o, "can_simulate");
    gids_can_attack atk = GIDS_CAN_ATK_NONE;
    if (!lua_isnoneornil(L, 1)) {
        const char *name = l_optstr(L, 1, "attack", "normal");
        int found = 0;
        for (int a = 0; a < GIDS_CAN_ATK_COUNT_ && !found; a++)
            if (strcmp(name, gids_can_attack_name((gids_can_attack)a)) == 0)
                atk = (gids_can_attack)a, found = 1;
        if (!found)
            luaL_error(L,
                       "can_simulate: unknown attack '%s' (expected normal, DoS, fuzzing, gear, "
                       "rpm, replay or suspension)",
                       name);
        o.vehicle = (int)l_optint(L, 1, "vehicle", 0);
        o.capture = (int)l_optint(L, 1, "capture", 0);
    }
    l_frames *u = new_frames(L);
    check_frames(L, u, gids_can_simulate(&o, atk, &u->f));
    return 1;
}

/* can_simulate_dataset(dir, {seed=, frames=}) -> {files=, frames=, attack_frames=} */
static int l_can_simulate_dataset(lua_State *L) {
    const char *dir = l_checkpath(L, 1);
    l_checkend(L, 2, "can_simulate_dataset");
    l_checkopts(L, 2, "can_simulate_dataset", simset_opts);
    gids_can_sim_opts o;
    sim_common(L, 2, &o, "can_simulate_dataset");
    gids_can_sim_report r;
    l_check(L, gids_can_simulate_dataset(dir, &o, &r));
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, r.files);
    lua_setfield(L, -2, "files");
    lua_pushinteger(L, r.frames);
    lua_setfield(L, -2, "frames");
    lua_pushinteger(L, r.attack_frames);
    lua_setfield(L, -2, "attack_frames");
    return 1;
}

/* can_formats() -> the reader's format names, "auto" first. */
static int l_can_formats(lua_State *L) {
    l_checkend(L, 0, "can_formats");
    lua_createtable(L, GIDS_CAN_FMT_COUNT_, 0);
    for (int i = 0; i < GIDS_CAN_FMT_COUNT_; i++) {
        lua_pushstring(L, gids_can_format_name((gids_can_format)i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static const luaL_Reg frame_methods[] = {
    {"column", f_column}, {"write_csv", f_write_csv}, {"slice", f_slice}, {"free", f_free},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"read_can", l_read_can},         {"read_can_many", l_read_can_many},
    {"can_simulate", l_can_simulate}, {"can_simulate_dataset", l_can_simulate_dataset},
    {"can_formats", l_can_formats},   {NULL, NULL},
};

static const luaL_Reg frame_meta[] = {
    {"__len", f_len}, {"__gc", f_gc}, {"__close", f_gc}, {"__tostring", f_tostring}, {NULL, NULL},
};

void l_open_can(lua_State *L, int module, int methods) {
    (void)methods;
    l_newclass(L, L_FRAMES_MT, "CanFrames", frame_meta, frame_methods);
    l_setfuncs(L, module, funcs);
}
