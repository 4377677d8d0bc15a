/* l_io.c -- safetensors files, atomic writes, locks and the file-system helpers Lua lacks.
 *
 *   graphids.save_safetensors("m.safetensors", {weight = w, bias = b}, {format = "pt"})
 *   local tensors, meta = graphids.load_safetensors("m.safetensors", {mmap = true})
 *   assert(graphids.atomic_write("x.json", text))
 *   local lk <close> = assert(graphids.lock("dir/.lock", {exclusive = true, timeout = 5}))
 *   graphids.mkdir_p("a/b/c"); graphids.list_dir("a"); graphids.stat("a/b")
 *   graphids.disk_usage("/")  --> {total, used, free} bytes of the file system holding "/"
 *
 * Misuse (a non-tensor value, a non-string metadata value, an unknown option) raises.  Expected
 * failures -- a missing or corrupt file, a lock held elsewhere, a read-only directory -- return
 * nil, "<CODE>: <message>", "<CODE>" (STYLE: the caller decides whether that is fatal).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "binding.h"
#include "gids/io.h"

#define L_LOCK_MT "graphids.Lock"
#define L_STFILE_MT "graphids.SafetensorsFile"

/* nil, "CODE: message", "CODE". */
static int push_fail(lua_State *L, gids_status s) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", gids_status_name(s), gids_error_message());
    lua_pushstring(L, gids_status_name(s));
    return 3;
}

/* Expected failures of file operations return; others (ENOMEM, EINVAL, ...) raise. */
static int io_result(lua_State *L, gids_status s) {
    if (s == GIDS_EIO || s == GIDS_EFORMAT || s == GIDS_ESTATE) return push_fail(L, s);
    l_check_status(L, s);
    return 0;
}

static int cmp_cstr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A key as the messages quote it (gids_printable: control characters and broken UTF-8 as \xNN,
 * cut to fit), in a buffer that lives to the end of the enclosing block: a key is the caller's
 * data, and an ESC in it must not reach a terminal raw. */
#define SHOWN_MAX 160
#define SHOWN(s) gids_printable((s), (char[SHOWN_MAX]){0}, SHOWN_MAX)

/* The string at idx as a C string; raises when it holds a NUL byte, which the C side would read
 * as its end (a value cut short, silently).  key: the value's key, or NULL for a key itself. */
static const char *c_string(lua_State *L, int idx, const char *what, const char *key) {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (strlen(s) != len) {
        if (key == NULL)
            luaL_error(L, "save_safetensors: a %s key holds a NUL byte at %d", what,
                       (int)strlen(s));
        luaL_error(L, "save_safetensors: %s['%s'] holds a NUL byte at %d", what, SHOWN(key),
                   (int)strlen(s));
    }
    return s;
}

/* The string keys of the table at idx, sorted, in a GC-owned array pushed on the stack.  Keys
 * stay valid while the table lives (it holds them).  Raises on a non-string key. */
static const char **sorted_keys(lua_State *L, int idx, const char *what, int64_t *n_out) {
    int64_t n = 0;
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) n++;
    const char **keys = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *keys, 0);
    int64_t i = 0;
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "save_safetensors: %s keys must be strings, got a %s", what,
                       luaL_typename(L, -2));
        keys[i++] = c_string(L, -2, what, NULL);
    }
    qsort(keys, (size_t)n, sizeof *keys, cmp_cstr);
    *n_out = n;
    return keys;
}

static int l_save_safetensors(lua_State *L) {
    const char *path = l_checkpath(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    l_checkend(L, 3, "save_safetensors");
    lua_settop(L, 3); /* slot 3 is the metadata (or nil) before temporaries go above it */
    int64_t n = 0, nmeta = 0;
    const char **names = sorted_keys(L, 2, "tensor", &n);
    const gids_tensor **ts = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *ts, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_getfield(L, 2, names[i]);
        ts[i] = l_totensor(L, -1);
        if (ts[i] == NULL)
            luaL_error(L, "save_safetensors: tensors['%s'] is a %s, expected a live Tensor",
                       SHOWN(names[i]), luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    /* a metadata table, even an empty one, gives non-NULL keys: an empty "__metadata__" */
    const char **mk = NULL, **mv = NULL;
    if (!lua_isnoneornil(L, 3)) {
        mk = sorted_keys(L, 3, "metadata", &nmeta);
        mv = lua_newuserdatauv(L, (size_t)(nmeta ? nmeta : 1) * sizeof *mv, 0);
        for (int64_t i = 0; i < nmeta; i++) {
            lua_getfield(L, 3, mk[i]);
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L,
                           "save_safetensors: metadata['%s'] is a %s; safetensors metadata "
                           "values are strings (encode structured values as JSON)",
                           SHOWN(mk[i]), luaL_typename(L, -1));
            mv[i] = c_string(L, -1, "metadata", mk[i]);
            lua_pop(L, 1); /* the metadata table still holds the string */
        }
    }
    gids_status s = gids_safetensors_save(path, n, names, ts, nmeta, mk, mv);
    if (s != GIDS_OK) return io_result(L, s);
    lua_pushboolean(L, 1);
    return 1;
}

static int stfile_gc(lua_State *L) {
    gids_safetensors_free(luaL_checkudata(L, 1, L_STFILE_MT));
    return 0;
}

static int l_load_safetensors(lua_State *L) {
    static const char *const opts[] = {"mmap", NULL};
    const char *path = l_checkpath(L, 1);
    l_checkopts(L, 2, "load_safetensors", opts);
    bool map = l_optbool(L, 2, "mmap", 1);
    l_checkend(L, 2, "load_safetensors");
    /* The owner exists before the resource: a Lua error below frees what was loaded. */
    gids_safetensors *f = lua_newuserdatauv(L, sizeof *f, 0);
    memset(f, 0, sizeof *f);
    luaL_setmetatable(L, L_STFILE_MT);
    gids_status s = gids_safetensors_load(f, path, map);
    if (s != GIDS_OK) return io_result(L, s);
    lua_createtable(L, 0, (int)f->n);
    for (int64_t i = 0; i < f->n; i++) {
        lua_pushstring(L, f->names[i]);
        l_pushtensor(L, f->tensors[i]);
        f->tensors[i] = NULL; /* stolen by the handle */
        lua_rawset(L, -3);
    }
    lua_createtable(L, 0, (int)f->nmeta);
    for (int64_t i = 0; i < f->nmeta; i++) {
        lua_pushstring(L, f->meta_values[i]);
        lua_setfield(L, -2, f->meta_keys[i]);
    }
    gids_safetensors_free(f);
    return 2;
}

static int l_atomic_write(lua_State *L) {
    const char *path = l_checkpath(L, 1);
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    l_checkend(L, 2, "atomic_write");
    gids_status s = gids_atomic_write(path, data, n);
    if (s != GIDS_OK) return io_result(L, s);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_resolve_links(lua_State *L) {
    const char *path = l_checkpath(L, 1);
    l_checkend(L, 1, "resolve_links");
    char *out = NULL;
    gids_status s = gids_resolve_links(path, &out);
    if (s != GIDS_OK) return io_result(L, s);
    lua_pushstring(L, out);
    free(out);
    return 1;
}

static int l_replace_file(lua_State *L) {
    const char *src = l_checkpath(L, 1), *dst = l_checkpath(L, 2);
    l_checkend(L, 2, "replace_file");
    gids_status s = gids_replace_file(src, dst);
    if (s != GIDS_OK) return io_result(L, s);
    lua_pushboolean(L, 1);
    return 1;
}

/* ---------------------------------------------------------------- locks */

typedef struct l_lock {
    int fd; /* -1 once released */
} l_lock;

static int lock_release(lua_State *L) {
    l_lock *k = luaL_checkudata(L, 1, L_LOCK_MT);
    gids_lock_release(k->fd);
    k->fd = -1;
    return 0;
}

static int lock_held(lua_State *L) {
    l_lock *k = luaL_checkudata(L, 1, L_LOCK_MT);
    lua_pushboolean(L, k->fd >= 0);
    return 1;
}

static int lock_tostring(lua_State *L) {
    l_lock *k = luaL_checkudata(L, 1, L_LOCK_MT);
    lua_pushstring(L, k->fd >= 0 ? "graphids.Lock (held)" : "graphids.Lock (released)");
    return 1;
}

static int l_lock_new(lua_State *L) {
    static const char *const opts[] = {"exclusive", "timeout", NULL};
    const char *path = l_checkpath(L, 1);
    l_checkopts(L, 2, "lock", opts);
    bool exclusive = l_optbool(L, 2, "exclusive", 1);
    double timeout = l_optnum(L, 2, "timeout", -1);
    l_checkend(L, 2, "lock");
    l_lock *k = lua_newuserdatauv(L, sizeof *k, 0);
    k->fd = -1;
    luaL_setmetatable(L, L_LOCK_MT);
    gids_status s = gids_lock_acquire(&k->fd, path, exclusive, timeout);
    if (s != GIDS_OK) return io_result(L, s);
    return 1;
}

/* ---------------------------------------------------------------- file system */

static int l_mkdir_p(lua_State *L) {
    const char *path = l_checkpath(L, 1);
    l_checkend(L, 1, "mkdir_p");
    gids_status s = gids_mkdir_p(path);
    if (s != GIDS_OK) return io_result(L, s);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_remove_tree(lua_State *L) {
    const char *path = l_checkpath(L, 1);
    l_checkend(L, 1, "remove_tree");
    gids_status s = gids_remove_tree(path);
    if (s != GIDS_OK) return io_result(L, s);
    lua_pushboolean(L, 1);
    return 1;
}

typedef struct l_names {
    char **names;
    int64_t n;
} l_names;

static int names_gc(lua_State *L) {
    l_names *u = lua_touserdata(L, 1);
    gids_list_dir_free(u->names, u->n);
    u->names = NULL;
    u->n = 0;
    return 0;
}

static int l_list_dir(lua_State *L) {
    const char *path = l_checkpath(L, 1);
    l_checkend(L, 1, "list_dir");
    l_names *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->names = NULL;
    u->n = 0;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, names_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    gids_status s = gids_list_dir(path, &u->names, &u->n);
    if (s != GIDS_OK) return io_result(L, s);
    lua_createtable(L, (int)u->n, 0);
    for (int64_t i = 0; i < u->n; i++) {
        lua_pushstring(L, u->names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* {type = "file" | "dir" | "other", size = bytes, mtime = seconds, inode, device}, or nil when
 * missing (inode: the file's number on its device, as an integer to compare; a file replaced by
 * rename has another; the pair names one file, so a folder reached again through a link is
 * known). */
static int l_stat(lua_State *L) {
    const char *path = l_checkpath(L, 1);
    l_checkend(L, 1, "stat");
    gids_file_info st;
    gids_status s = gids_file_stat(path, &st);
    if (s != GIDS_OK) return io_result(L, s);
    if (st.type == GIDS_FILE_NONE) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 5);
    lua_pushstring(L, st.type == GIDS_FILE_REGULAR ? "file"
                      : st.type == GIDS_FILE_DIR   ? "dir"
                                                   : "other");
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)st.size);
    lua_setfield(L, -2, "size");
    lua_pushnumber(L, st.mtime);
    lua_setfield(L, -2, "mtime");
    lua_pushinteger(L, (lua_Integer)st.inode);
    lua_setfield(L, -2, "inode");
    lua_pushinteger(L, (lua_Integer)st.device);
    lua_setfield(L, -2, "device");
    return 1;
}

/* {total, used, free} in bytes of the file system holding path (statvfs; free is what an
 * unprivileged user may still write), or nil, "EIO: ...", "EIO". */
static int l_disk_usage(lua_State *L) {
    const char *path = l_checkpath(L, 1);
    l_checkend(L, 1, "disk_usage");
    gids_disk_usage_info du;
    gids_status s = gids_disk_usage(path, &du);
    if (s != GIDS_OK) return io_result(L, s);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)du.total);
    lua_setfield(L, -2, "total");
    lua_pushinteger(L, (lua_Integer)du.used);
    lua_setfield(L, -2, "used");
    lua_pushinteger(L, (lua_Integer)du.free);
    lua_setfield(L, -2, "free");
    return 1;
}

/* The process's working folder as the kernel has it: $PWD is what a shell last set, and a
 * program started with another folder (subprocess.run(cwd=...)) inherits the parent's. */
static int l_getcwd(lua_State *L) {
    l_checkend(L, 0, "getcwd");
    char buf[PATH_MAX];
    if (getcwd(buf, sizeof buf) == NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "getcwd: %s", strerror(errno));
        return 2;
    }
    lua_pushstring(L, buf);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"getcwd", l_getcwd},
    {"save_safetensors", l_save_safetensors},
    {"load_safetensors", l_load_safetensors},
    {"atomic_write", l_atomic_write},
    {"resolve_links", l_resolve_links},
    {"replace_file", l_replace_file},
    {"lock", l_lock_new},
    {"mkdir_p", l_mkdir_p},
    {"remove_tree", l_remove_tree},
    {"list_dir", l_list_dir},
    {"stat", l_stat},
    {"disk_usage", l_disk_usage},
    {NULL, NULL},
};

static const luaL_Reg lock_methods[] = {
    {"unlock", lock_release},
    {"held", lock_held},
    {NULL, NULL},
};

void l_open_io(lua_State *L, int module, int methods) {
    (void)methods; /* file functions take paths, not tensors */
    static const luaL_Reg lock_meta[] = {
        {"__gc", lock_release},
        {"__close", lock_release},
        {"__tostring", lock_tostring},
        {NULL, NULL},
    };
    l_newclass(L, L_LOCK_MT, NULL, lock_meta, lock_methods);
    if (luaL_newmetatable(L, L_STFILE_MT)) {
        lua_pushcfunction(L, stfile_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    l_setfuncs(L, module, funcs);
}
