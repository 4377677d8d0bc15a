/* l_graph.c -- graph sets, batches and the fused message-passing ops (graphids.nn.graph and
 * graphids.data.batch build on these; they are module functions, not Tensor methods).
 *
 *   local b = graphids.graph_collate(set, {0, 5, 2})     -- table of batch fields
 *   graphids.graph_set_validate(set)                     -- true, or raises naming the fault
 *   local out, alpha = graphids.graph_gatv2_attention(xl, xr, ep, att, ei, n, slope, scale)
 *   local out, alpha = graphids.graph_gat_attention(x, a_src, a_dst, a_edge, ei, n, slope, scale)
 *   local ei2, ea2 = graphids.graph_replace_self_loops(ei, ea, n)   -- fill "mean", ea may be nil
 * (the fused attention ops of gids/graph.h; graphids.nn.graph wraps them with option tables and
 * draws the dropout scale).
 *
 * A set is a plain table with the fields of gids_graph_set (tensors, nil for an absent optional
 * one) and num_graphs.  The tensors are borrowed from the table for the duration of the call.
 */
#include "binding.h"
#include "gids/graph.h"
#include "gids/graphset.h"

static const char *const set_fields[] = {
    "x", "edge_index",  "edge_attr",    "node_id",     "node_ptr", "edge_ptr",
    "y", "attack_type", "window_start", "source_file", NULL};

/* The tensor of field `name` of the table at idx, or NULL when absent.  BORROW: the table keeps
 * it alive while it stays on the stack. */
static gids_tensor *set_field(lua_State *L, int idx, const char *name, const char *fname) {
    lua_getfield(L, idx, name);
    gids_tensor *t = NULL;
    if (!lua_isnil(L, -1)) {
        t = l_totensor(L, -1);
        if (t == NULL)
            luaL_error(L, "%s: set.%s must be a tensor, got %s", fname, name, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return t;
}

static void check_set(lua_State *L, int idx, gids_graph_set *s, const char *fname) {
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "num_graphs");
    int isint = 0;
    lua_Integer g = lua_tointegerx(L, -1, &isint);
    if (!isint)
        luaL_error(L, "%s: set.num_graphs must be an integer, got %s", fname, luaL_typename(L, -1));
    lua_pop(L, 1);
    gids_tensor **slots[] = {
        &s->x,        &s->edge_index, &s->edge_attr,   &s->node_id,      &s->node_ptr,
        &s->edge_ptr, &s->y,          &s->attack_type, &s->window_start, &s->source_file};
    s->num_graphs = (int64_t)g;
    for (int i = 0; set_fields[i] != NULL; i++) *slots[i] = set_field(L, idx, set_fields[i], fname);
}

static int l_graph_set_validate(lua_State *L) {
    gids_graph_set s;
    l_checkend(L, 1, "graph_set_validate");
    check_set(L, 1, &s, "graph_set_validate");
    l_check(L, gids_graph_set_validate(&s));
    lua_pushboolean(L, 1);
    return 1;
}

/* Graph numbers from a Lua array of integers or a 1-D integer tensor, into a userdata buffer
 * (collected by the GC, so a raise in between leaks nothing).  Returns the count. */
static int64_t check_indices(lua_State *L, int idx, int64_t **out, const char *fname) {
    gids_tensor *t = l_totensor(L, idx);
    if (t != NULL) {
        if (t->ndim != 1 || (t->dtype != GIDS_I64 && t->dtype != GIDS_I32))
            luaL_error(L,
                       "%s: indices must be a 1-D i64 tensor or a Lua array, got a %d-D %s tensor",
                       fname, t->ndim, gids_dtype_name(t->dtype));
        int64_t n = t->shape[0];
        *out = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(int64_t), 0);
        for (int64_t i = 0; i < n; i++) l_check(L, gids_tensor_get_i64(t, i, &(*out)[i]));
        return n;
    }
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: indices must be a Lua array or an i64 tensor, got %s", fname,
                   luaL_typename(L, idx));
    int64_t n = (int64_t)l_checklen(L, idx, L_LIST_MAX, fname, "indices");
    *out = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(int64_t), 0);
    for (int64_t i = 0; i < n; i++) {
        lua_geti(L, idx, (lua_Integer)i + 1);
        int isint = 0;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint)
            luaL_error(L, "%s: indices[%d] must be an integer, got %s", fname, (int)i + 1,
                       luaL_typename(L, -1));
        (*out)[i] = (int64_t)v;
        lua_pop(L, 1);
    }
    return n;
}

/* graph_collate(set, indices) -> table of the batch's fields (tensors) and num_graphs. */
static int l_graph_collate(lua_State *L) {
    static const char *const names[] = {"x",           "edge_index",   "edge_attr",  "node_id",
                                        "batch",       "ptr",          "edge_ptr",   "y",
                                        "attack_type", "window_start", "source_file"};
    enum { NF = sizeof names / sizeof names[0] };
    gids_graph_set s;
    l_checkend(L, 2, "graph_collate");
    check_set(L, 1, &s, "graph_collate");
    int64_t *idx = NULL;
    int64_t n = check_indices(L, 2, &idx, "graph_collate");
    /* The owners exist before the tensors, so no raise can leave a tensor unowned. */
    lua_createtable(L, 0, NF + 1);
    int tbl = lua_gettop(L);
    l_tensor *h[NF];
    for (int i = 0; i < NF; i++) h[i] = l_newtensor(L);
    gids_graph_batch b;
    l_check(L, gids_graph_batch_collate(&b, &s, idx, n));
    gids_tensor *got[NF] = {b.x,           b.edge_index,   b.edge_attr,  b.node_id,
                            b.batch,       b.ptr,          b.edge_ptr,   b.y,
                            b.attack_type, b.window_start, b.source_file};
    for (int i = 0; i < NF; i++) h[i]->t = got[i];
    for (int i = NF - 1; i >= 0; i--) {
        if (h[i]->t != NULL) {
            lua_pushvalue(L, tbl + 1 + i);
            lua_setfield(L, tbl, names[i]);
        }
    }
    lua_pushinteger(L, (lua_Integer)b.num_graphs);
    lua_setfield(L, tbl, "num_graphs");
    lua_settop(L, tbl);
    return 1;
}

/* A tensor or nil at i. BORROW. */
static gids_tensor *opt_tensor(lua_State *L, int i) {
    return lua_isnoneornil(L, i) ? NULL : l_checktensor(L, i);
}

static int64_t check_nodes(lua_State *L, int i, const char *fname) {
    int isint = 0;
    lua_Integer n = lua_tointegerx(L, i, &isint);
    if (!isint || n < 0)
        luaL_error(L, "%s: num_nodes (argument #%d) must be a non-negative integer, got %s", fname,
                   i, lua_isnumber(L, i) ? lua_tostring(L, i) : luaL_typename(L, i));
    return (int64_t)n;
}

/* (a, b, c|nil, d|nil, edge_index, num_nodes, negative_slope, scale|nil) -> out, alpha */
static int attention(lua_State *L, bool v2) {
    const char *fname = v2 ? "gatv2_attention" : "gat_attention";
    l_checkend(L, 8, v2 ? "graph_gatv2_attention" : "graph_gat_attention");
    gids_tensor *a = l_checktensor(L, 1), *b = l_checktensor(L, 2);
    gids_tensor *c = opt_tensor(L, 3), *d = v2 ? l_checktensor(L, 4) : opt_tensor(L, 4);
    gids_tensor *ei = l_checktensor(L, 5);
    int64_t n = check_nodes(L, 6, fname);
    double slope = luaL_checknumber(L, 7);
    gids_tensor *scale = opt_tensor(L, 8);
    l_tensor *out = l_newtensor(L), *alpha = l_newtensor(L);
    if (v2)
        l_check(L, gids_ag_gatv2_attention(&out->t, &alpha->t, a, b, c, d, ei, n, slope, scale));
    else
        l_check(L, gids_ag_gat_attention(&out->t, &alpha->t, a, b, c, d, ei, n, slope, scale));
    return 2;
}

static int l_graph_gatv2_attention(lua_State *L) {
    return attention(L, true);
}

static int l_graph_gat_attention(lua_State *L) {
    return attention(L, false);
}

/* (edge_index, edge_attr|nil, num_nodes) -> edge_index, edge_attr|nil with the self-loops
 * replaced (fill "mean"); not differentiable. */
static int l_graph_replace_self_loops(lua_State *L) {
    l_checkend(L, 3, "graph_replace_self_loops");
    gids_tensor *ei = l_checktensor(L, 1), *ea = opt_tensor(L, 2);
    int64_t n = check_nodes(L, 3, "replace_self_loops");
    l_tensor *oi = l_newtensor(L), *oa = l_newtensor(L);
    l_check(L, gids_replace_self_loops_mean(&oi->t, &oa->t, ei, ea, n));
    if (oa->t == NULL) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
    return 2;
}

static const luaL_Reg funcs[] = {
    {"graph_replace_self_loops", l_graph_replace_self_loops},
    {"graph_gatv2_attention", l_graph_gatv2_attention},
    {"graph_gat_attention", l_graph_gat_attention},
    {"graph_collate", l_graph_collate},
    {"graph_set_validate", l_graph_set_validate},
    {NULL, NULL},
};

void l_open_graph(lua_State *L, int module, int methods) {
    (void)methods;
    l_setfuncs(L, module, funcs);
}
