/* l_index.c -- index_select, gather, scatter(_), scatter_add(_), index_add(_), masked_fill(_),
 * masked_select, nonzero and int_range.  Dims are 1-based; index tensors hold 0-based positions.
 * The out-of-place forms record autograd nodes (index tensors are never differentiated; a fill
 * value given as a tensor is read as a number, so it gets no gradient). */
#include "binding.h"

/* The Lua dim at arg for tensor t (1-based, negative from the end) as a C dim. */
static int checkdim(lua_State *L, int arg, const gids_tensor *t, const char *fname) {
    return l_checkdim(L, arg, t->ndim, 0, fname);
}

/* A fill value: a Lua number or boolean, or a one-element tensor (as torch takes a 0-d one). */
static gids_scalar checkvalue(lua_State *L, int arg, const char *fname) {
    /* l_checktensor raises the freed-tensor error for a released handle */
    gids_tensor *v = l_testtensor(L, arg) ? l_checktensor(L, arg) : NULL;
    if (v == NULL) {
        if (lua_type(L, arg) != LUA_TNUMBER && lua_type(L, arg) != LUA_TBOOLEAN)
            luaL_error(L,
                       "%s: value (argument #%d) must be a number or a one-element tensor, got %s",
                       fname, arg, luaL_typename(L, arg));
        return l_checkscalar(L, arg);
    }
    if (gids_tensor_numel(v) != 1)
        luaL_error(L, "%s: value tensor (argument #%d) must have one element, got %d", fname, arg,
                   (int)gids_tensor_numel(v));
    if (gids_dtype_is_float(v->dtype)) {
        double f = 0;
        l_check(L, gids_tensor_get(v, 0, &f));
        return gids_scalar_f(f);
    }
    int64_t i = 0;
    l_check(L, gids_tensor_get_i64(v, 0, &i));
    return gids_scalar_i(i);
}

static int l_index_select(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1);
    l_checkend(L, 3, "index_select");
    int dim = checkdim(L, 2, a, "index_select");
    gids_tensor *idx = l_checktensor(L, 3);
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_index_select(&out->t, a, dim, idx));
    return 1;
}

static int l_gather(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1);
    l_checkend(L, 3, "gather");
    int dim = checkdim(L, 2, a, "gather");
    gids_tensor *idx = l_checktensor(L, 3);
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_gather(&out->t, a, dim, idx));
    return 1;
}

/* scatter(t, dim, index, src_or_value) and its in-place form. */
static int scatter_common(lua_State *L, bool inplace, const char *fname) {
    gids_tensor *self = l_checktensor(L, 1);
    l_checkend(L, 4, fname);
    int dim = checkdim(L, 2, self, fname);
    gids_tensor *idx = l_checktensor(L, 3);
    gids_tensor *src = l_testtensor(L, 4) ? l_checktensor(L, 4) : NULL;
    gids_scalar value = gids_scalar_i(0);
    if (src == NULL) value = checkvalue(L, 4, fname);
    if (inplace) {
        l_check_inplace(L, fname, self, 1, (const gids_tensor *const *)&src);
        if (src)
            l_check(L, gids_scatter_(self, dim, idx, src));
        else
            l_check(L, gids_scatter_scalar_(self, dim, idx, value));
        lua_settop(L, 1);
        return 1;
    }
    if (src == NULL && gids_ag_should_record(1, (const gids_tensor *const *)&self)) {
        /* A src filled with the value gives the differentiable form (the scattered positions
         * get no gradient), as the scalar overload does in torch. */
        l_tensor *filled = l_newtensor(L);
        l_check(L, gids_full(&filled->t, self->dtype, gids_tensor_device(self), idx->ndim,
                             idx->shape, value));
        src = filled->t;
    }
    l_tensor *out = l_newtensor(L);
    if (src) {
        l_check(L, gids_ag_scatter(&out->t, self, dim, idx, src));
    } else {
        l_check(L, gids_clone(&out->t, self));
        /* the runtime names its in-place op; the caller called scatter */
        l_check_status_as(L, gids_scatter_scalar_(out->t, dim, idx, value), fname, "scatter_");
    }
    return 1;
}

static int l_scatter(lua_State *L) {
    return scatter_common(L, false, "scatter");
}
static int l_scatter_(lua_State *L) {
    return scatter_common(L, true, "scatter_");
}

static int l_scatter_add(lua_State *L) {
    gids_tensor *self = l_checktensor(L, 1);
    l_checkend(L, 4, "scatter_add");
    int dim = checkdim(L, 2, self, "scatter_add");
    gids_tensor *idx = l_checktensor(L, 3), *src = l_checktensor(L, 4);
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_scatter_add(&out->t, self, dim, idx, src));
    return 1;
}

static int l_scatter_add_(lua_State *L) {
    gids_tensor *self = l_checktensor(L, 1);
    l_checkend(L, 4, "scatter_add_");
    int dim = checkdim(L, 2, self, "scatter_add_");
    gids_tensor *idx = l_checktensor(L, 3), *src = l_checktensor(L, 4);
    l_check_inplace(L, "scatter_add_", self, 1, (const gids_tensor *const *)&src);
    l_check(L, gids_scatter_add_(self, dim, idx, src));
    lua_settop(L, 1);
    return 1;
}

/* index_add(t, dim, index, src, {alpha=1}) and its in-place form. */
static int index_add_common(lua_State *L, bool inplace, const char *fname) {
    gids_tensor *self = l_checktensor(L, 1);
    int dim = checkdim(L, 2, self, fname);
    gids_tensor *idx = l_checktensor(L, 3), *src = l_checktensor(L, 4);
    static const char *const allowed[] = {"alpha", NULL};
    l_checkopts(L, 5, fname, allowed);
    l_checkend(L, 5, fname);
    double alpha = l_optnum(L, 5, "alpha", 1.0);
    if (inplace) {
        l_check_inplace(L, fname, self, 1, (const gids_tensor *const *)&src);
        l_check(L, gids_index_add_(self, dim, idx, src, alpha));
        lua_settop(L, 1);
        return 1;
    }
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_index_add(&out->t, self, dim, idx, src, alpha));
    return 1;
}

static int l_index_add(lua_State *L) {
    return index_add_common(L, false, "index_add");
}
static int l_index_add_(lua_State *L) {
    return index_add_common(L, true, "index_add_");
}

static int l_masked_fill(lua_State *L) {
    gids_tensor *self = l_checktensor(L, 1), *mask = l_checktensor(L, 2);
    l_checkend(L, 3, "masked_fill");
    gids_scalar value = checkvalue(L, 3, "masked_fill");
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_masked_fill(&out->t, self, mask, value));
    return 1;
}

static int l_masked_fill_(lua_State *L) {
    gids_tensor *self = l_checktensor(L, 1), *mask = l_checktensor(L, 2);
    l_checkend(L, 3, "masked_fill_");
    gids_scalar value = checkvalue(L, 3, "masked_fill_");
    l_check_inplace(L, "masked_fill_", self, 0, NULL);
    l_check(L, gids_masked_fill_(self, mask, value));
    lua_settop(L, 1);
    return 1;
}

static int l_masked_select(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1), *mask = l_checktensor(L, 2);
    l_checkend(L, 2, "masked_select");
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_masked_select(&out->t, a, mask));
    return 1;
}

static int l_nonzero(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1);
    l_checkend(L, 1, "nonzero");
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_nonzero(&out->t, a));
    return 1;
}

/* t:int_range() -> lo, hi: the least and greatest value of an i64 or i32 tensor as Lua
 * integers (0, -1 for an empty one), for range checks before an index is used.  On a GPU it
 * waits for the device only when the device does not keep these values' range (gids/ops.h). */
static int l_int_range(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 1, "int_range");
    int64_t lo = 0, hi = -1;
    l_check(L, gids_int_range(t, &lo, &hi));
    lua_pushinteger(L, (lua_Integer)lo);
    lua_pushinteger(L, (lua_Integer)hi);
    return 2;
}

static const luaL_Reg funcs[] = {
    {"index_select", l_index_select},
    {"gather", l_gather},
    {"scatter", l_scatter},
    {"scatter_", l_scatter_},
    {"scatter_add", l_scatter_add},
    {"scatter_add_", l_scatter_add_},
    {"index_add", l_index_add},
    {"index_add_", l_index_add_},
    {"masked_fill", l_masked_fill},
    {"masked_fill_", l_masked_fill_},
    {"masked_select", l_masked_select},
    {"nonzero", l_nonzero},
    {"int_range", l_int_range},
    {NULL, NULL},
};

void l_open_index(lua_State *L, int module, int methods) {
    l_setfuncs(L, module, funcs);
    l_setfuncs(L, methods, funcs);
}
