/* l_reduce.c -- reductions (sum mean prod amax amin logsumexp any all var std norm), max/min
 * with positions, argmax/argmin, softmax/log_softmax and cumsum/cumprod.
 *
 *   t:sum()                 all elements -> 0-d tensor
 *   t:sum(2)                over dim 2 (1-based; -1 is the last)
 *   t:sum({1, 2}, {keepdim = true})
 *   local values, indices = t:max(2)   -- indices are 0-based data, as in torch
 *
 * Everything but any/all and the positions (argmax/argmin, max/min's indices) records autograd
 * nodes (gids_ag_*).
 */
#include <math.h>
#include <string.h>

#include "binding.h"

/* Reads the dims at arg (nil: every dim; an integer; or a list of integers) as 0-based C dims,
 * rejecting repeats.  A table with no list part is not a dim list but the options: *opts_at
 * receives where the options table is, the last argument accepted. Returns the number of dims
 * (0 = all). */
static int checkdims(lua_State *L, int arg, const gids_tensor *t, int dims[GIDS_MAX_DIMS],
                     int *opts_at, const char *fname) {
    *opts_at = arg + 1;
    int type = lua_type(L, arg);
    if (type == LUA_TNONE || type == LUA_TNIL) return 0;
    if (type == LUA_TNUMBER) {
        dims[0] = l_checkdim(L, arg, t->ndim, 0, fname);
        return 1;
    }
    if (type != LUA_TTABLE)
        luaL_error(L, "%s: dim (argument #%d) must be an integer or a list of integers, got %s",
                   fname, arg, luaL_typename(L, arg));
    lua_Integer n = (lua_Integer)lua_rawlen(L, arg);
    if (n == 0) {
        *opts_at = arg;
        return 0;
    }
    if (n > GIDS_MAX_DIMS)
        luaL_error(L, "%s: %d dims listed, a tensor has at most %d", fname, (int)n, GIDS_MAX_DIMS);
    for (lua_Integer k = 1; k <= n; k++) {
        lua_rawgeti(L, arg, k);
        int isint = 0;
        lua_Integer d = lua_tointegerx(L, -1, &isint);
        if (!isint)
            luaL_error(L, "%s: dim list entry %d must be an integer, got %s", fname, (int)k,
                       luaL_typename(L, -1));
        dims[k - 1] = l_dim_to_c(L, d, t->ndim, 0, fname);
        for (lua_Integer j = 1; j < k; j++)
            if (dims[j - 1] == dims[k - 1] && t->ndim > 0)
                luaL_error(L, "%s: dim %d appears more than once in the dim list", fname, (int)d);
        lua_pop(L, 1);
    }
    return (int)n;
}

static const char *const keepdim_opts[] = {"keepdim", NULL};

/* graphids.<op>(t, dims?, {keepdim=false}) for the ops of gids_reduce. */
static int l_reduce(lua_State *L) {
    gids_redop op = (gids_redop)lua_tointeger(L, lua_upvalueindex(1));
    const char *fname = gids_redop_name(op);
    gids_tensor *a = l_checktensor(L, 1);
    int dims[GIDS_MAX_DIMS], opts;
    int nd = checkdims(L, 2, a, dims, &opts, fname);
    l_checkopts(L, opts, fname, keepdim_opts);
    l_checkend(L, opts, fname);
    bool keepdim = l_optbool(L, opts, "keepdim", 0);
    l_tensor *out = l_newtensor(L);
    /* any/all give bool: nothing to differentiate */
    if (op == GIDS_ANY || op == GIDS_ALL)
        l_check(L, gids_reduce(&out->t, op, a, nd, dims, keepdim));
    else
        l_check(L, gids_ag_reduce(&out->t, op, a, nd, dims, keepdim));
    return 1;
}

/* var/std(t, dims?, {correction=1, unbiased=, keepdim=false}); unbiased and correction exclude
 * each other */
static int var_common(lua_State *L, bool take_sqrt) {
    const char *fname = take_sqrt ? "std" : "var";
    gids_tensor *a = l_checktensor(L, 1);
    int dims[GIDS_MAX_DIMS], opts;
    int nd = checkdims(L, 2, a, dims, &opts, fname);
    static const char *const allowed[] = {"correction", "unbiased", "keepdim", NULL};
    l_checkopts(L, opts, fname, allowed);
    l_checkend(L, opts, fname);
    if (lua_type(L, opts) == LUA_TTABLE) { /* torch refuses both too, even when they agree */
        bool has_unbiased = lua_getfield(L, opts, "unbiased") != LUA_TNIL;
        bool has_correction = lua_getfield(L, opts, "correction") != LUA_TNIL;
        lua_pop(L, 2);
        if (has_unbiased && has_correction)
            luaL_error(L,
                       "%s: give either option 'unbiased' or option 'correction', not both "
                       "(unbiased=true is correction=1, unbiased=false correction=0)",
                       fname);
    }
    int unbiased = l_optbool(L, opts, "unbiased", 1);
    lua_Integer correction = l_optint(L, opts, "correction", unbiased ? 1 : 0);
    bool keepdim = l_optbool(L, opts, "keepdim", 0);
    l_tensor *out = l_newtensor(L);
    if (take_sqrt)
        l_check(L, gids_ag_std(&out->t, a, nd, dims, (int64_t)correction, keepdim));
    else
        l_check(L, gids_ag_var(&out->t, a, nd, dims, (int64_t)correction, keepdim));
    return 1;
}

static int l_var(lua_State *L) {
    return var_common(L, false);
}
static int l_std(lua_State *L) {
    return var_common(L, true);
}

/* norm(t, p=2, dims?, {keepdim=false}); p may be a number (math.huge for the max norm) or
 * "fro" (2), "inf", "-inf". */
static int l_norm(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1);
    double p = 2;
    int ptype = lua_type(L, 2);
    if (ptype == LUA_TNUMBER) {
        p = (double)lua_tonumber(L, 2);
    } else if (ptype == LUA_TSTRING) {
        const char *s = lua_tostring(L, 2);
        if (strcmp(s, "fro") == 0)
            p = 2;
        else if (strcmp(s, "inf") == 0)
            p = INFINITY;
        else if (strcmp(s, "-inf") == 0)
            p = -INFINITY;
        else
            luaL_error(L, "norm: p must be a number, \"fro\", \"inf\" or \"-inf\", got \"%s\"", s);
    } else if (ptype != LUA_TNONE && ptype != LUA_TNIL) {
        luaL_error(L, "norm: p (argument #2) must be a number or a string, got %s",
                   luaL_typename(L, 2));
    }
    int dims[GIDS_MAX_DIMS], opts;
    int nd = checkdims(L, 3, a, dims, &opts, "norm");
    l_checkopts(L, opts, "norm", keepdim_opts);
    l_checkend(L, opts, "norm");
    bool keepdim = l_optbool(L, opts, "keepdim", 0);
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_norm(&out->t, a, p, nd, dims, keepdim));
    return 1;
}

/* max/min(t) -> 0-d; max/min(t, dim, {keepdim}) -> values, indices; max/min(a, b) with a tensor
 * b -> elementwise maximum/minimum, as torch. */
static int extreme_common(lua_State *L, bool is_max) {
    const char *fname = is_max ? "max" : "min";
    gids_tensor *a = l_checktensor(L, 1);
    if (l_testtensor(L, 2)) {
        gids_tensor *b = l_checktensor(L, 2);
        l_checkend(L, 2, fname);
        l_tensor *out = l_newtensor(L);
        l_check(L, gids_ag_binary(&out->t, is_max ? GIDS_MAXIMUM : GIDS_MINIMUM, a, b));
        return 1;
    }
    if (lua_isnoneornil(L, 2) || lua_type(L, 2) == LUA_TTABLE) {
        int dims[GIDS_MAX_DIMS], opts;
        if (checkdims(L, 2, a, dims, &opts, fname) > 0)
            luaL_error(L, "%s: dim must be one integer (use %s for a list of dims)", fname,
                       is_max ? "amax" : "amin");
        l_checkopts(L, opts, fname, keepdim_opts);
        l_checkend(L, opts, fname);
        bool keepdim = l_optbool(L, opts, "keepdim", 0);
        l_tensor *out = l_newtensor(L);
        l_check_status_as(L, gids_ag_extreme_all(&out->t, a, is_max, keepdim), fname,
                          is_max ? "amax" : "amin");
        return 1;
    }
    int dim = l_checkdim(L, 2, a->ndim, 0, fname);
    l_checkopts(L, 3, fname, keepdim_opts);
    l_checkend(L, 3, fname);
    bool keepdim = l_optbool(L, 3, "keepdim", 0);
    l_tensor *values = l_newtensor(L);
    l_tensor *indices = l_newtensor(L);
    if (is_max)
        l_check(L, gids_ag_max_dim(&values->t, &indices->t, a, dim, keepdim));
    else
        l_check(L, gids_ag_min_dim(&values->t, &indices->t, a, dim, keepdim));
    return 2;
}

static int l_max(lua_State *L) {
    return extreme_common(L, true);
}
static int l_min(lua_State *L) {
    return extreme_common(L, false);
}

/* argmax/argmin(t, dim?, {keepdim}): without dim, the position in the flattened tensor. */
static int arg_common(lua_State *L, bool is_max) {
    const char *fname = is_max ? "argmax" : "argmin";
    gids_tensor *a = l_checktensor(L, 1);
    int dim = GIDS_ALL_DIMS, opts = 3;
    if (lua_type(L, 2) == LUA_TTABLE && lua_rawlen(L, 2) > 0) /* {1} reads as options otherwise */
        return luaL_error(L,
                          "%s: dim must be one integer, got a list (%s takes one dim, or all "
                          "of them without one)",
                          fname, fname);
    if (lua_type(L, 2) == LUA_TTABLE)
        opts = 2;
    else if (!lua_isnoneornil(L, 2))
        dim = l_checkdim(L, 2, a->ndim, 0, fname);
    l_checkopts(L, opts, fname, keepdim_opts);
    l_checkend(L, opts, fname);
    bool keepdim = l_optbool(L, opts, "keepdim", 0);
    l_tensor *out = l_newtensor(L);
    if (is_max)
        l_check(L, gids_argmax(&out->t, a, dim, keepdim));
    else
        l_check(L, gids_argmin(&out->t, a, dim, keepdim));
    return 1;
}

static int l_argmax(lua_State *L) {
    return arg_common(L, true);
}
static int l_argmin(lua_State *L) {
    return arg_common(L, false);
}

/* softmax/log_softmax/cumsum/cumprod(t, dim): the upvalue indexes this table. */
static const struct {
    const char *name;
    gids_status (*fn)(gids_tensor **, const gids_tensor *, int);
} along[] = {
    {"softmax", gids_ag_softmax},
    {"log_softmax", gids_ag_log_softmax},
    {"cumsum", gids_ag_cumsum},
    {"cumprod", gids_ag_cumprod},
};

static int l_along(lua_State *L) {
    lua_Integer which = lua_tointeger(L, lua_upvalueindex(1));
    const char *fname = along[which].name;
    gids_tensor *a = l_checktensor(L, 1);
    if (lua_isnoneornil(L, 2)) luaL_error(L, "%s: dim (argument #2) is required", fname);
    int dim = l_checkdim(L, 2, a->ndim, 0, fname);
    static const char *const none[] = {NULL};
    l_checkopts(L, 3, fname, none);
    l_checkend(L, 3, fname);
    l_tensor *out = l_newtensor(L);
    l_check(L, along[which].fn(&out->t, a, dim));
    return 1;
}

static const luaL_Reg funcs[] = {
    {"var", l_var}, {"std", l_std},       {"norm", l_norm},     {"max", l_max},
    {"min", l_min}, {"argmax", l_argmax}, {"argmin", l_argmin}, {NULL, NULL},
};

void l_open_reduce(lua_State *L, int module, int methods) {
    static const gids_redop ops[] = {GIDS_SUM,  GIDS_MEAN,      GIDS_PROD, GIDS_AMAX,
                                     GIDS_AMIN, GIDS_LOGSUMEXP, GIDS_ANY,  GIDS_ALL};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        lua_pushinteger(L, ops[i]);
        lua_pushcclosure(L, l_reduce, 1);
        lua_pushvalue(L, -1);
        lua_setfield(L, module, gids_redop_name(ops[i]));
        lua_setfield(L, methods, gids_redop_name(ops[i]));
    }
    for (size_t i = 0; i < sizeof along / sizeof along[0]; i++) {
        lua_pushinteger(L, (lua_Integer)i);
        lua_pushcclosure(L, l_along, 1);
        lua_pushvalue(L, -1);
        lua_setfield(L, module, along[i].name);
        lua_setfield(L, methods, along[i].name);
    }
    l_setfuncs(L, module, funcs);
    l_setfuncs(L, methods, funcs);
}
