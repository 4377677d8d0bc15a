/* l_join.c -- graphids.cat(list, dim) and graphids.stack(list, dim) (module functions only, as
 * torch), split(t, size_or_sizes, dim) and chunk(t, n, dim) (also Tensor methods), which return
 * a Lua array of views.  All record autograd nodes. */
#include <stdint.h>

#include "binding.h"

/* The tensors of the list at arg, in a GC-owned scratch block pushed on the stack. */
static const gids_tensor **checklist(lua_State *L, int arg, int *n, const char *fname) {
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_Integer len = (lua_Integer)lua_rawlen(L, arg);
    if (len < 1)
        luaL_error(L, "%s: expected a non-empty list of tensors (argument #%d)", fname, arg);
    if (len > INT32_MAX / 2) luaL_error(L, "%s: too many tensors (%I)", fname, len);
    const gids_tensor **ts = lua_newuserdatauv(L, sizeof(*ts) * (size_t)len, 0);
    for (lua_Integer i = 0; i < len; i++) {
        lua_rawgeti(L, arg, i + 1);
        ts[i] = l_totensor(L, -1);
        if (ts[i] == NULL) {
            if (l_testtensor(L, -1) != NULL)
                luaL_error(L, "%s: element %I of the list is a freed tensor", fname, i + 1);
            luaL_error(L, "%s: element %I of the list must be a graphids.Tensor, got %s", fname,
                       i + 1, luaL_typename(L, -1));
        }
        lua_pop(L, 1);
    }
    *n = (int)len;
    return ts;
}

static int l_cat(lua_State *L) {
    l_checkend(L, 2, "cat");
    lua_settop(L, 2); /* the scratch block must not land where an absent dim would be */
    int n = 0;
    const gids_tensor **ts = checklist(L, 1, &n, "cat");
    /* dims count against the first tensor that is not an empty 1-D placeholder (as cat) */
    int ndim = ts[0]->ndim;
    for (int i = 0; i < n; i++)
        if (!(ts[i]->ndim == 1 && ts[i]->shape[0] == 0)) {
            ndim = ts[i]->ndim;
            break;
        }
    int dim = lua_isnoneornil(L, 2) ? 0 : l_checkdim(L, 2, ndim, 0, "cat");
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_cat(&out->t, n, ts, dim));
    return 1;
}

static int l_stack(lua_State *L) {
    l_checkend(L, 2, "stack");
    lua_settop(L, 2);
    int n = 0;
    const gids_tensor **ts = checklist(L, 1, &n, "stack");
    int dim = lua_isnoneornil(L, 2) ? 0 : l_checkdim(L, 2, ts[0]->ndim, 1, "stack");
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_stack(&out->t, n, ts, dim));
    return 1;
}

/* Splits t (arg 1) along dim into the n sizes given, returning a table of views.  The handles
 * exist before the views, so nothing leaks if an allocation raises. */
static int push_split(lua_State *L, const gids_tensor *t, int dim, int n, const int64_t *sizes) {
    gids_tensor **outs = lua_newuserdatauv(L, sizeof(*outs) * (size_t)n, 0);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        l_newtensor(L);
        lua_rawseti(L, -2, i + 1);
    }
    l_check(L, gids_ag_split(outs, n, t, sizes, dim));
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, -1, i + 1);
        l_tensor *h = lua_touserdata(L, -1);
        h->t = outs[i];
        lua_pop(L, 1);
    }
    return 1;
}

static int64_t checksize(lua_State *L, int arg, const char *what, const char *fname) {
    int isint = 0;
    lua_Integer v = lua_type(L, arg) == LUA_TNUMBER ? lua_tointegerx(L, arg, &isint) : 0;
    if (!isint)
        luaL_error(L, "%s: %s must be an integer, got %s", fname, what, luaL_typename(L, arg));
    return (int64_t)v;
}

/* ceil(a / b) for a >= 0, b > 0, without the overflow of (a + b - 1) / b (b near INT64_MAX). */
static int64_t ceil_div(int64_t a, int64_t b) {
    return a / b + (a % b != 0);
}

/* split(t, size) gives chunks of `size` (the last smaller); split(t, {s1, s2, ...}) the sizes
 * given, which must add up to the size of dim. */
static int l_split(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 3, "split");
    int dim = lua_isnoneornil(L, 3) ? 0 : l_checkdim(L, 3, t->ndim, 0, "split");
    if (t->ndim == 0) return luaL_error(L, "split: cannot split a 0-d tensor");
    int64_t total = t->shape[dim];
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_Integer len = (lua_Integer)lua_rawlen(L, 2);
        if (len < 1 || len > INT32_MAX / 16)
            return luaL_error(L, "split: sizes table must hold 1 or more sizes, got %I", len);
        int64_t *sizes = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)len, 0);
        /* Checked here so the messages count positions and dims from 1, as the caller does. */
        int64_t sum = 0;
        for (lua_Integer i = 0; i < len; i++) {
            lua_rawgeti(L, 2, i + 1);
            sizes[i] = checksize(L, -1, "each size", "split");
            lua_pop(L, 1);
            if (sizes[i] < 0)
                return luaL_error(L, "split: size %I at position %I must be >= 0",
                                  (lua_Integer)sizes[i], i + 1);
            if (sizes[i] > total - sum)
                return luaL_error(L, "split: sizes add up to more than %I (the size of dim %d)",
                                  (lua_Integer)total, dim + 1);
            sum += sizes[i];
        }
        if (sum != total)
            return luaL_error(L, "split: sizes add up to %I, expected %I (the size of dim %d)",
                              (lua_Integer)sum, (lua_Integer)total, dim + 1);
        return push_split(L, t, dim, (int)len, sizes);
    }
    int64_t size = checksize(L, 2, "split size (argument #2)", "split");
    if (size < 0 || (size == 0 && total > 0))
        return luaL_error(L, "split: split size must be positive, got %I", (lua_Integer)size);
    int64_t n = size == 0 ? 1 : ceil_div(total, size);
    if (n < 1) n = 1;
    if (n > INT32_MAX / 16) return luaL_error(L, "split: %I pieces are too many", (lua_Integer)n);
    int64_t *sizes = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)n, 0);
    for (int64_t i = 0; i < n; i++) sizes[i] = size;
    sizes[n - 1] = total - size * (n - 1);
    return push_split(L, t, dim, (int)n, sizes);
}

/* chunk(t, n): pieces of ceil(size / n), the last smaller; fewer than n when the size does not
 * allow n non-empty pieces (torch.chunk), at most size of them for any n.  An empty dim gives n
 * empty pieces. */
static int l_chunk(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 3, "chunk");
    int64_t chunks = checksize(L, 2, "number of chunks (argument #2)", "chunk");
    int dim = lua_isnoneornil(L, 3) ? 0 : l_checkdim(L, 3, t->ndim, 0, "chunk");
    if (chunks < 1)
        return luaL_error(L, "chunk: number of chunks must be positive, got %I",
                          (lua_Integer)chunks);
    if (t->ndim == 0) return luaL_error(L, "chunk: cannot chunk a 0-d tensor");
    int64_t total = t->shape[dim];
    /* a non-empty dim gives at most one piece per element whatever n asks (torch's 5 for
     * ones(5):chunk(2^62)); only an empty dim gives n pieces, which must be countable */
    if (total > 0 && chunks > total) chunks = total;
    if (chunks > INT32_MAX / 16)
        return luaL_error(L, "chunk: %I chunks are too many", (lua_Integer)chunks);
    int64_t step = ceil_div(total, chunks);
    int64_t n = step == 0 ? chunks : ceil_div(total, step);
    int64_t *sizes = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)n, 0);
    for (int64_t i = 0; i < n; i++) sizes[i] = step;
    sizes[n - 1] = total - step * (n - 1);
    return push_split(L, t, dim, (int)n, sizes);
}

static const luaL_Reg module_funcs[] = {
    {"cat", l_cat}, {"stack", l_stack}, {"split", l_split}, {"chunk", l_chunk}, {NULL, NULL},
};

static const luaL_Reg method_funcs[] = {
    {"split", l_split},
    {"chunk", l_chunk},
    {NULL, NULL},
};

void l_open_join(lua_State *L, int module, int methods) {
    l_setfuncs(L, module, module_funcs);
    l_setfuncs(L, methods, method_funcs);
}
