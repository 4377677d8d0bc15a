/* l_sort.c -- sort, argsort, topk, unique and bincount.  Dims are 1-based (default -1, the
 * last); returned indices, unique's inverse and bincount's input are 0-based index data.
 * sort and topk record autograd nodes for their values (the indices are never differentiable).
 *
 *   local v, i = x:sort(1, {descending = true})
 *   local v, i = x:topk(3)                         -- largest 3 along the last dim
 *   local u, inv, cnt = g.unique(ids, {return_inverse = true, return_counts = true})
 */
#include <stdbool.h>

#include "binding.h"
#include "l_impl.h"

/* `[dim][, opts]` from arg on: a table at arg is the options (dim takes its default), nil or
 * none is the default dim.  Returns the C dim and sets *opts to the options' index. */
static int dim_then_opts(lua_State *L, int arg, const gids_tensor *a, const char *fname,
                         int *opts) {
    int last = a->ndim > 0 ? a->ndim - 1 : 0;
    if (lua_type(L, arg) == LUA_TTABLE) {
        *opts = arg;
        return last;
    }
    *opts = arg + 1;
    if (lua_isnoneornil(L, arg)) return last;
    return l_checkdim(L, arg, a->ndim, 0, fname);
}

static const char *const sort_opts[] = {"descending", "stable", NULL};

static int l_sort(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1);
    int o, dim = dim_then_opts(L, 2, a, "sort", &o);
    l_checkopts(L, o, "sort", sort_opts);
    l_checkend(L, o, "sort");
    bool desc = l_optbool(L, o, "descending", 0), stable = l_optbool(L, o, "stable", 0);
    l_tensor *v = l_newtensor(L), *ix = l_newtensor(L);
    l_check(L, gids_ag_sort(&v->t, &ix->t, a, dim, desc, stable));
    return 2;
}

static int l_argsort(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1);
    int o, dim = dim_then_opts(L, 2, a, "argsort", &o);
    l_checkopts(L, o, "argsort", sort_opts);
    l_checkend(L, o, "argsort");
    bool desc = l_optbool(L, o, "descending", 0), stable = l_optbool(L, o, "stable", 0);
    l_tensor *ix = l_newtensor(L);
    l_check(L, gids_argsort(&ix->t, a, dim, desc, stable));
    return 1;
}

static const char *const topk_opts[] = {"largest", "sorted", NULL};

static int l_topk(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1);
    int isint = 0;
    lua_Integer k = lua_tointegerx(L, 2, &isint);
    if (!isint)
        return luaL_error(L, "topk: k (argument #2) must be an integer, got %s",
                          luaL_typename(L, 2));
    int o, dim = dim_then_opts(L, 3, a, "topk", &o);
    l_checkopts(L, o, "topk", topk_opts);
    l_checkend(L, o, "topk");
    bool largest = l_optbool(L, o, "largest", 1), sorted = l_optbool(L, o, "sorted", 1);
    /* Checked here so the message names the Lua (1-based) dim. */
    int64_t n = a->ndim > 0 ? a->shape[dim] : 1;
    if (k < 0 || k > n)
        return luaL_error(L, "topk: k %I out of range for dim %d of size %I (valid: 0..%I)", k,
                          dim + 1, (lua_Integer)n, (lua_Integer)n);
    l_tensor *v = l_newtensor(L), *ix = l_newtensor(L);
    l_check(L, gids_ag_topk(&v->t, &ix->t, a, (int64_t)k, dim, largest, sorted));
    return 2;
}

static const char *const unique_opts[] = {"sorted", "return_inverse", "return_counts", "dim", NULL};

/* unique(t, {dim = d}): the distinct slices along d, composed in Lua (graphids.unique_dim) from
 * stable sorts; dim is checked here so that the message names the caller's line. */
static int unique_dim(lua_State *L, gids_tensor *a, bool inv, bool cnt) {
    lua_getfield(L, 2, "dim");
    if (!lua_isinteger(L, -1))
        return luaL_error(L, "unique: option 'dim' must be an integer, got %s", l_describe(L, -1));
    if (a->ndim == 0) /* dim 1 names a 0-d tensor's element elsewhere, but it has no slices */
        return luaL_error(L,
                          "unique: a 0-d tensor has no dim to take slices along (got dim %I); "
                          "call unique without dim",
                          lua_tointeger(L, -1));
    int dim = l_dim_to_c(L, lua_tointeger(L, -1), a->ndim, 0, "unique");
    for (int d = 0; d < a->ndim; d++)
        if (d != dim && a->shape[d] == 0 && a->shape[dim] != 0)
            return luaL_error(L,
                              "unique: dim %d has size 0 and is not the one selected (%d), so "
                              "there are no slices to compare (torch refuses it too)",
                              d + 1, dim + 1);
    lua_getglobal(L, "require");
    lua_pushstring(L, "graphids.unique_dim");
    lua_call(L, 1, 1);
    lua_pushvalue(L, 1);
    lua_pushinteger(L, dim + 1);
    lua_pushboolean(L, inv);
    lua_pushboolean(L, cnt);
    lua_call(L, 4, 3);
    /* values, inverse, counts on the top: keep those asked for, in torch's order */
    if (!cnt) lua_pop(L, 1);
    if (!inv) lua_remove(L, cnt ? -2 : -1);
    return 1 + inv + cnt;
}

/* Results in torch's order: values, then inverse and counts when asked for. */
static int l_unique(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1);
    l_checkopts(L, 2, "unique", unique_opts);
    l_checkend(L, 2, "unique");
    /* `sorted = false` allows any order; the values always come sorted. */
    (void)l_optbool(L, 2, "sorted", 1);
    bool inv = l_optbool(L, 2, "return_inverse", 0), cnt = l_optbool(L, 2, "return_counts", 0);
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_getfield(L, 2, "dim");
        bool has_dim = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (has_dim) return unique_dim(L, a, inv, cnt);
    }
    l_tensor *v = l_newtensor(L);
    l_tensor *iv = inv ? l_newtensor(L) : NULL;
    l_tensor *c = cnt ? l_newtensor(L) : NULL;
    l_check(L, gids_unique(&v->t, iv ? &iv->t : NULL, c ? &c->t : NULL, a));
    return 1 + inv + cnt;
}

static const char *const bincount_opts[] = {"weights", "minlength", NULL};

static int l_bincount(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1);
    l_checkopts(L, 2, "bincount", bincount_opts);
    l_checkend(L, 2, "bincount");
    gids_tensor *w = NULL;
    if (lua_type(L, 2) == LUA_TTABLE && lua_getfield(L, 2, "weights") != LUA_TNIL) {
        w = l_totensor(L, -1);
        if (w == NULL)
            return luaL_error(L,
                              "bincount: option 'weights' must be a live graphids.Tensor, got %s",
                              luaL_typename(L, -1));
    }
    /* the weights stay referenced by the options table */
    lua_settop(L, 2);
    lua_Integer minlength = l_optint(L, 2, "minlength", 0);
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_bincount(&out->t, a, w, (int64_t)minlength));
    return 1;
}

static const luaL_Reg funcs[] = {
    {"sort", l_sort},     {"argsort", l_argsort},   {"topk", l_topk},
    {"unique", l_unique}, {"bincount", l_bincount}, {NULL, NULL},
};

void l_open_sort(lua_State *L, int module, int methods) {
    l_setfuncs(L, module, funcs);
    l_setfuncs(L, methods, funcs);
}
