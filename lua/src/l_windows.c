/* l_windows.c -- window graphs, the CAN id vocabulary and the scaler fit (graphids.core).
 *
 *   local ids = core.can_vocab_ids({f1, f2})           -- {"0A0", "0C1", ...}: sorted, index 1..
 *   local ids = core.can_vocab_ids({f1, f2}, true)     -- the ids of frames labelled 0 only
 *   local set = core.build_windows({f1, f2}, {vocab = ids, window = 100, stride = 100,
 *                                             attack_types = {0, 1}, aligned_edges = false,
 *                                             node_by_id = false})
 *   local mean, std = core.scaler_fit(set.x, set.node_ptr, train_idx, 1e-6)
 *   core.scaler_apply_(set.x, mean, std)                -- (x - mean) / std in place
 *
 * The frames are CanFrames userdata (l_checkframes); a vocabulary is the array of canonical id
 * texts in index order (graphids.data.Vocabulary keeps it); a set is a plain table with the
 * fields of gids_graph_set and num_graphs, as graphids.graph_collate reads it.
 */
#include <string.h>

#include "binding.h"
#include "gids/windows.h"

/* The CanFrames of the Lua array `files` at idx, in a GC-owned buffer pushed on the stack, which
 * also keeps them alive (its user value holds them: a list whose __index makes its elements
 * keeps none of them itself).  A bad element is named by its position (the Lua wrappers rename
 * `files` to their own argument's name). */
static const gids_can_frames **check_frames_list(lua_State *L, int idx, int64_t *n,
                                                 const char *fname) {
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: files must be a list of CanFrames, got %s", fname,
                   luaL_typename(L, idx));
    *n = (int64_t)l_checklen(L, idx, L_LIST_MAX, fname, "files");
    lua_createtable(L, (int)*n, 0);
    int anchor = lua_gettop(L);
    const gids_can_frames **files =
        lua_newuserdatauv(L, sizeof *files * (size_t)(*n > 0 ? *n : 1), 1);
    lua_pushvalue(L, anchor);
    lua_setiuservalue(L, -2, 1);
    for (int64_t i = 0; i < *n; i++) {
        lua_geti(L, idx, (lua_Integer)i + 1);
        int freed;
        const gids_can_frames *f = l_testframes(L, -1, &freed);
        if (f == NULL)
            luaL_error(L, "%s: files[%d] must be a CanFrames (from data.read_can), got %s", fname,
                       (int)i + 1, freed ? "a freed CanFrames" : luaL_typename(L, -1));
        files[i] = f;
        lua_rawseti(L, anchor, (lua_Integer)i + 1); /* (pops it, held by the buffer) */
    }
    lua_remove(L, anchor);
    return files;
}

#define L_VOCAB_MT "graphids.CanVocab"

/* A vocabulary owned by a userdata (freed by __gc), so a raise never leaks one. */
static gids_can_vocab *new_vocab(lua_State *L) {
    gids_can_vocab *v = lua_newuserdatauv(L, sizeof *v, 0);
    memset(v, 0, sizeof *v);
    luaL_setmetatable(L, L_VOCAB_MT);
    return v;
}

static int vocab_gc(lua_State *L) {
    gids_can_vocab_free(luaL_checkudata(L, 1, L_VOCAB_MT));
    return 0;
}

/* can_vocab_ids(list [, benign_only]) -> array of the distinct ids' canonical texts, sorted
 * (of the frames labelled 0 only, when benign_only). */
static int l_can_vocab_ids(lua_State *L) {
    l_checkend(L, 2, "can_vocab_ids");
    int benign_only = 0; /* read first: the frames list below pushes its buffer */
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TBOOLEAN);
        benign_only = lua_toboolean(L, 2);
    }
    int64_t n;
    const gids_can_frames **files = check_frames_list(L, 1, &n, "can_vocab_ids");
    gids_can_vocab *v = new_vocab(L);
    l_check(L, gids_can_vocab_from_frames(v, files, n, benign_only));
    lua_createtable(L, (int)v->n, 0);
    char text[GIDS_CAN_ID_TEXT_SIZE];
    for (int64_t k = 0; k < v->n; k++) {
        gids_can_id_text(text, v->id[k], v->ext[k]);
        lua_pushstring(L, text);
        lua_seti(L, -2, (lua_Integer)k + 1);
    }
    return 1;
}

/* opts.vocab (array of canonical texts) parsed into GC-owned id/ext buffers. */
static int64_t check_vocab(lua_State *L, int opts, uint32_t **id, uint8_t **ext) {
    if (lua_getfield(L, opts, "vocab") != LUA_TTABLE)
        luaL_error(L, "build_windows: option vocab must be a list of id texts, got %s",
                   luaL_typename(L, -1));
    int vt = lua_gettop(L);
    int64_t n = (int64_t)l_checklen(L, vt, L_LIST_MAX, "build_windows", "option vocab");
    *id = lua_newuserdatauv(L, sizeof **id * (size_t)(n > 0 ? n : 1), 0);
    *ext = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1), 0);
    for (int64_t k = 0; k < n; k++) {
        lua_geti(L, vt, (lua_Integer)k + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "build_windows: vocab[%d] must be a string, got %s", (int)k + 1,
                       luaL_typename(L, -1));
        int e = 0;
        gids_status s = gids_can_id_parse(lua_tostring(L, -1), &(*id)[k], &e);
        if (s != GIDS_OK) gids_error_prefix(s, "build_windows: vocab[%d]", (int)k + 1);
        l_check_status(L, s);
        (*ext)[k] = (uint8_t)e;
        lua_pop(L, 1);
    }
    return n;
}

/* opts.attack_types: nil or one integer per file. */
static int64_t *check_codes(lua_State *L, int opts, int64_t nfiles) {
    int t = lua_getfield(L, opts, "attack_types");
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    if (t != LUA_TTABLE || luaL_len(L, -1) != nfiles)
        luaL_error(L,
                   "build_windows: option attack_types must be a list of %d integers (one per "
                   "file), got %s",
                   (int)nfiles,
                   t == LUA_TTABLE ? "a list of another length" : luaL_typename(L, -1));
    int at = lua_gettop(L);
    int64_t *codes = lua_newuserdatauv(L, sizeof *codes * (size_t)(nfiles > 0 ? nfiles : 1), 0);
    for (int64_t f = 0; f < nfiles; f++) {
        lua_geti(L, at, (lua_Integer)f + 1);
        int isint = 0;
        codes[f] = (int64_t)lua_tointegerx(L, -1, &isint);
        if (!isint)
            luaL_error(L, "build_windows: attack_types[%d] must be an integer, got %s", (int)f + 1,
                       luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    return codes;
}

static const char *const window_opts[] = {"vocab",        "window",     "stride", "aligned_edges",
                                          "attack_types", "node_by_id", NULL};

/* build_windows(list, opts) -> graph-set table. */
static int l_build_windows(lua_State *L) {
    static const char *const names[] = {
        "x",        "edge_index", "edge_attr",   "node_id",      "node_ptr",
        "edge_ptr", "y",          "attack_type", "window_start", "source_file"};
    enum { NF = sizeof names / sizeof names[0] };
    l_checkend(L, 2, "build_windows");
    luaL_checktype(L, 2, LUA_TTABLE);
    l_checkopts(L, 2, "build_windows", window_opts);
    int64_t nfiles;
    const gids_can_frames **files = check_frames_list(L, 1, &nfiles, "build_windows");
    gids_window_opts o = gids_window_opts_default();
    o.window = (int64_t)l_optint(L, 2, "window", o.window);
    o.stride = (int64_t)l_optint(L, 2, "stride", o.stride);
    o.aligned_edges = l_optbool(L, 2, "aligned_edges", 0);
    o.node_by_id = l_optbool(L, 2, "node_by_id", 0);
    uint32_t *ids;
    uint8_t *ext;
    int64_t nv = check_vocab(L, 2, &ids, &ext);
    int64_t *codes = check_codes(L, 2, nfiles);
    /* the owners exist before the tensors, so no raise can leave a tensor unowned */
    lua_createtable(L, 0, NF + 1);
    int tbl = lua_gettop(L);
    l_tensor *h[NF];
    for (int i = 0; i < NF; i++) h[i] = l_newtensor(L);
    gids_can_vocab *v = new_vocab(L);
    l_check(L, gids_can_vocab_from_ids(v, ids, ext, nv));
    gids_graph_set s;
    l_check(L, gids_build_windows(&s, files, codes, nfiles, v, &o));
    gids_tensor *got[NF] = {s.x,        s.edge_index, s.edge_attr,   s.node_id,      s.node_ptr,
                            s.edge_ptr, s.y,          s.attack_type, s.window_start, s.source_file};
    for (int i = 0; i < NF; i++) {
        h[i]->t = got[i];
        lua_pushvalue(L, tbl + 1 + i);
        lua_setfield(L, tbl, names[i]);
    }
    lua_pushinteger(L, (lua_Integer)s.num_graphs);
    lua_setfield(L, tbl, "num_graphs");
    lua_settop(L, tbl);
    return 1;
}

/* scaler_fit(table, ptr, graphs, min_std) -> mean, std (f32 [F]); graphs: 1-D i64 tensor. */
static int l_scaler_fit(lua_State *L) {
    l_checkend(L, 4, "scaler_fit");
    gids_tensor *t = l_checktensor(L, 1), *ptr = l_checktensor(L, 2), *g = l_checktensor(L, 3);
    double min_std = luaL_checknumber(L, 4);
    if (g->ndim != 1 || g->dtype != GIDS_I64 || !gids_tensor_is_contiguous(g))
        luaL_error(L, "scaler_fit: graphs must be a contiguous 1-D i64 tensor, got a %d-D %s one",
                   g->ndim, gids_dtype_name(g->dtype));
    l_tensor *m = l_newtensor(L), *s = l_newtensor(L);
    l_check(L, gids_scaler_fit(&m->t, &s->t, t, ptr, gids_tensor_data(g), g->shape[0], min_std));
    return 2;
}

/* scaler_apply_(table, mean, std) -> table, z-scored in place. */
static int l_scaler_apply_(lua_State *L) {
    l_checkend(L, 3, "scaler_apply_");
    gids_tensor *t = l_checktensor(L, 1), *m = l_checktensor(L, 2), *s = l_checktensor(L, 3);
    const gids_tensor *in[2] = {m, s};
    l_check_inplace(L, "scaler_apply_", t, 2, in);
    l_check(L, gids_scaler_apply_(t, m, s));
    lua_settop(L, 1);
    return 1;
}

static const luaL_Reg funcs[] = {{"can_vocab_ids", l_can_vocab_ids},
                                 {"build_windows", l_build_windows},
                                 {"scaler_fit", l_scaler_fit},
                                 {"scaler_apply_", l_scaler_apply_},
                                 {NULL, NULL}};

void l_open_windows(lua_State *L, int module, int methods) {
    (void)methods; /* module functions only: none takes a tensor as its receiver */
    luaL_newmetatable(L, L_VOCAB_MT);
    lua_pushcfunction(L, vocab_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    l_setfuncs(L, module, funcs);
}
