/* l_tensor.c -- the graphids.Tensor handle: metatable, properties, queries, views, in-place
 * fills and copies, dtype/device conversion and export to Lua values.  Views, clone and
 * conversions record autograd nodes (gids_ag_*); the autograd fields themselves (requires_grad,
 * grad, grad_fn, is_leaf, retains_grad) are read and written by l_autograd.c.
 */
#include <string.h>

#include <stdio.h>

#include "l_impl.h"

/* ---------------------------------------------------------------- lifetime */

static void release_(l_tensor *u) {
    gids_tensor *t = u->t;
    u->t = NULL;
    gids_tensor_release(t);
}

/* __close and t:free() share it; a second call finds t == NULL and does nothing.  Lua passes
 * __close a second value (the error, or nil), so the argument count is checked only by
 * t:free().  Hooks registered through the handle that a graph still reaches keep their
 * functions (l_hook_keep.c). */
static int t_release(lua_State *L) {
    l_tensor *u = l_checkhandle(L, 1);
    if (u->t != NULL) {
        if (u->hooks) l_hook_handover(L, 1);
        release_(u);
    }
    return 0;
}

/* __gc: a handle holding hooks that a graph still reaches stays (with its tensor) until a
 * later collection finds the graph gone (l_hook_keep.c). */
static int t_gc(lua_State *L) {
    l_tensor *u = l_checkhandle(L, 1);
    if (u->t != NULL && !(u->hooks && l_hook_keep(L, 1))) release_(u);
    return 0;
}

static int t_free(lua_State *L) {
    l_checkend(L, 1, "free");
    return t_release(L);
}

/* ---------------------------------------------------------------- properties */

static void push_dims(lua_State *L, int n, const int64_t *v) {
    lua_createtable(L, n, 0);
    for (int d = 0; d < n; d++) {
        lua_pushinteger(L, (lua_Integer)v[d]);
        lua_rawseti(L, -2, d + 1);
    }
}

static void push_device(lua_State *L, const gids_tensor *t) {
    char buf[32];
    lua_pushstring(L, gids_device_str(gids_tensor_device(t), buf, sizeof buf));
}

/* Methods are looked up first (one raw get), so method calls stay cheap; the properties are
 * computed on demand.  Every other name reads as nil (so `t.foo == nil` can probe for a
 * method), but a number key is an error: t[1] reading nil would hide a slicing mistake. */
/* A tensor key: the Lua method `name` of the methods table (upvalue 1; graphids.tensor_extras'
 * _getitem / _setitem, PyTorch's advanced indexing) called with the nargs values from index 1;
 * returns its nres results. */
static int tensor_key(lua_State *L, const char *name, int nargs, int nres) {
    lua_pushstring(L, name);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TFUNCTION)
        return l_error(L, "indexing a Tensor with a tensor needs require \"graphids\" "
                          "(graphids.tensor_extras)");
    for (int i = 1; i <= nargs; i++) lua_pushvalue(L, i);
    lua_call(L, nargs, nres);
    return nres;
}

static int t_index(lua_State *L) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    if (luaL_testudata(L, 2, L_TENSOR_MT) != NULL) return tensor_key(L, "_getitem", 2, 1);
    if (lua_type(L, 2) == LUA_TNUMBER)
        return l_error(L,
                       "Tensor cannot be indexed with a number (t[%s]); use t:select(1, i) for "
                       "a slice, t:narrow(dim, start, length) for a range or t:totable()[i] "
                       "for a Lua value",
                       lua_tostring(L, 2));
    if (lua_type(L, 2) != LUA_TSTRING) /* t[{1, 2}] (Torch7's, PyTorch's x[1, 2]) is no field */
        return l_error(L,
                       "Tensor cannot be indexed with a %s key; use t:select(dim, i) or "
                       "t:narrow(dim, start, length) for a slice, a mask or index tensor "
                       "(t[mask]) for elements, or t:totable() for Lua values",
                       luaL_typename(L, 2));
    const char *k = lua_tostring(L, 2);
    l_tensor *u = lua_touserdata(L, 1);
    int prop = strcmp(k, "shape") == 0 || strcmp(k, "dtype") == 0 || strcmp(k, "ndim") == 0 ||
               strcmp(k, "device") == 0;
    bool version = strcmp(k, "_version") == 0;
    if (!prop && !version && strcmp(k, "requires_grad") != 0 && strcmp(k, "grad") != 0 &&
        strcmp(k, "grad_fn") != 0 && strcmp(k, "is_leaf") != 0 && strcmp(k, "retains_grad") != 0)
        return 1;
    if (u->t == NULL) return l_error(L, "attempt to use a freed tensor (reading '%s')", k);
    const gids_tensor *t = u->t;
    if (version) /* torch's t._version: the in-place writes to its memory so far */
        lua_pushinteger(L, (lua_Integer)__atomic_load_n(&t->storage->version, __ATOMIC_RELAXED));
    else if (!prop)
        l_autograd_getfield(L, u->t, k);
    else if (k[0] == 's')
        push_dims(L, t->ndim, t->shape);
    else if (k[0] == 'n')
        lua_pushinteger(L, t->ndim);
    else if (k[1] == 't')
        lua_pushstring(L, gids_dtype_name(t->dtype));
    else
        push_device(L, t);
    return 1;
}

/* Only the autograd fields requires_grad and grad can be set (and values through a tensor key,
 * t[mask] = v): the other properties are computed, and a Lua field on the handle would not
 * follow the tensor through views and copies. */
static int t_newindex(lua_State *L) {
    if (luaL_testudata(L, 2, L_TENSOR_MT) != NULL) return tensor_key(L, "_setitem", 3, 0);
    if (lua_type(L, 2) == LUA_TSTRING) {
        l_tensor *u = lua_touserdata(L, 1);
        const char *key = lua_tostring(L, 2);
        if (u->t == NULL && (strcmp(key, "requires_grad") == 0 || strcmp(key, "grad") == 0))
            return l_error(L, "attempt to use a freed tensor (setting '%s')", key);
        if (u->t != NULL && l_autograd_setfield(L, u->t, key)) return 0;
    }
    const char *k;
    if (lua_type(L, 2) == LUA_TSTRING)
        k = lua_pushfstring(L, "'%s'", lua_tostring(L, 2));
    else if (lua_type(L, 2) == LUA_TNUMBER)
        k = lua_pushfstring(L, "[%s]", lua_tostring(L, 2));
    else
        k = lua_pushfstring(L, "a %s key", luaL_typename(L, 2));
    return l_error(L,
                   "cannot set %s: Tensor fields are read-only (shape, dtype, ndim, device); use "
                   "t:fill_, t:copy_ or t:select(...) to change values (of the autograd fields, "
                   "requires_grad and grad can be set; grad_fn, is_leaf and retains_grad cannot)",
                   k);
}

/* Lua passes the operand twice to __len. */
static int t_len(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    if (t->ndim == 0) return l_error(L, "len: a 0-d tensor has no length (use t:item())");
    lua_pushinteger(L, (lua_Integer)t->shape[0]);
    return 1;
}

/* ---------------------------------------------------------------- queries */

static int t_numel(lua_State *L) {
    l_checkend(L, 1, "numel");
    lua_pushinteger(L, (lua_Integer)gids_tensor_numel(l_checktensor(L, 1)));
    return 1;
}

static int t_dim(lua_State *L) {
    l_checkend(L, 1, "dim");
    lua_pushinteger(L, l_checktensor(L, 1)->ndim);
    return 1;
}

static int size_or_stride(lua_State *L, int strides) {
    const char *fname = strides ? "stride" : "size";
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 2, fname);
    const int64_t *v = strides ? t->stride : t->shape;
    if (lua_isnoneornil(L, 2)) {
        push_dims(L, t->ndim, v);
        return 1;
    }
    if (t->ndim == 0) return l_error(L, "%s: a 0-d tensor has no dims", fname);
    int d = l_checkdim(L, 2, t->ndim, 0, fname);
    lua_pushinteger(L, (lua_Integer)v[d]);
    return 1;
}

static int t_size(lua_State *L) {
    return size_or_stride(L, 0);
}
static int t_stride(lua_State *L) {
    return size_or_stride(L, 1);
}

static int t_is_contiguous(lua_State *L) {
    l_checkend(L, 1, "is_contiguous");
    lua_pushboolean(L, gids_tensor_is_contiguous(l_checktensor(L, 1)));
    return 1;
}

/* t itself on the CPU, else a CPU copy held by a handle pushed on the stack (reading values
 * of a device tensor brings them over, as torch's item() and tolist() do). */
static gids_tensor *host_view(lua_State *L, gids_tensor *t) {
    if (gids_tensor_device(t).type == GIDS_CPU) return t;
    l_tensor *h = l_newtensor(L);
    l_check(L, gids_to_device(&h->t, t, GIDS_DEVICE_CPU));
    return h->t;
}

static int t_item(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 1, "item");
    int64_t n = gids_tensor_numel(t);
    if (n != 1)
        return l_error(L,
                       "item: a tensor with %I elements cannot be converted to a number "
                       "(expected exactly 1)",
                       (lua_Integer)n);
    t = host_view(L, t);
    l_push_elem(L, t->dtype, gids_tensor_data(t));
    return 1;
}

static void totable_rec(lua_State *L, const gids_tensor *t, int dim, int64_t *idx) {
    int64_t n = t->shape[dim];
    lua_createtable(L, n > 1 << 24 ? 0 : (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        idx[dim] = i;
        if (dim + 1 == t->ndim)
            l_push_elem(L, t->dtype, l_elem_ptr(t, idx));
        else
            totable_rec(L, t, dim + 1, idx);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static int t_totable(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 1, "totable");
    t = host_view(L, t);
    if (t->ndim == 0) {
        l_push_elem(L, t->dtype, gids_tensor_data(t));
        return 1;
    }
    int64_t idx[GIDS_MAX_DIMS] = {0};
    luaL_checkstack(L, t->ndim + 4, "totable");
    totable_rec(L, t, 0, idx);
    return 1;
}

static int t_tobytes(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 1, "tobytes");
    t = host_view(L, t);
    /* The contiguous copy lives in a handle, so it is released even if pushing the string
     * raises a memory error. */
    l_tensor *c = l_newtensor(L);
    l_check(L, gids_contiguous(&c->t, t));
    size_t nbytes = (size_t)gids_tensor_numel(c->t) * gids_dtype_size(c->t->dtype);
    lua_pushlstring(L, (const char *)gids_tensor_data(c->t), nbytes);
    return 1;
}

/* ---------------------------------------------------------------- copies */

static int t_clone(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 1, "clone");
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_ag_clone(&u->t, t));
    return 1;
}

static int t_contiguous(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 1, "contiguous");
    if (gids_tensor_is_contiguous(t)) {
        lua_settop(L, 1);
        return 1;
    }
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_ag_contiguous(&u->t, t));
    return 1;
}

/* ---------------------------------------------------------------- views */

static int view_or_reshape(lua_State *L, int reshape) {
    const char *fname = reshape ? "reshape" : "view";
    gids_tensor *t = l_checktensor(L, 1);
    int64_t shape[GIDS_MAX_DIMS];
    int next;
    int n = l_checkshape(L, 2, shape, &next, fname);
    if (lua_type(L, 2) == LUA_TTABLE) l_checkend(L, 2, fname);
    if (!lua_isnone(L, next))
        return l_error(L, "%s: sizes must be integers or one table, got %s at argument #%d", fname,
                       luaL_typename(L, next), next);
    l_tensor *u = l_newtensor(L);
    l_check(L, reshape ? gids_ag_reshape(&u->t, t, n, shape) : gids_ag_view(&u->t, t, n, shape));
    return 1;
}

static int t_view(lua_State *L) {
    return view_or_reshape(L, 0);
}
static int t_reshape(lua_State *L) {
    return view_or_reshape(L, 1);
}

static int t_permute(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    int perm[GIDS_MAX_DIMS], n = 0, seen[GIDS_MAX_DIMS] = {0};
    int tbl = lua_type(L, 2) == LUA_TTABLE;
    if (tbl) l_checkend(L, 2, "permute");
    int count = tbl ? (int)lua_rawlen(L, 2) : lua_gettop(L) - 1;
    if (count != t->ndim)
        return l_error(L, "permute: expected %d dims for a tensor of %d dims, got %d", t->ndim,
                       t->ndim, count);
    for (n = 0; n < count; n++) {
        int arg = n + 2;
        if (tbl) {
            lua_rawgeti(L, 2, n + 1);
            arg = lua_gettop(L);
        }
        perm[n] = l_checkdim(L, arg, t->ndim, 0, "permute");
        if (tbl) lua_pop(L, 1);
        if (seen[perm[n]]++) return l_error(L, "permute: dim %d appears twice", perm[n] + 1);
    }
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_ag_permute(&u->t, t, perm));
    return 1;
}

static int t_transpose(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 3, "transpose");
    int d0 = l_checkdim(L, 2, t->ndim, 0, "transpose");
    int d1 = l_checkdim(L, 3, t->ndim, 0, "transpose");
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_ag_transpose(&u->t, t, d0, d1));
    return 1;
}

static int t_t(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 1, "t");
    if (t->ndim > 2)
        return l_error(L, "t: expects a tensor with at most 2 dims, got %d (use transpose)",
                       t->ndim);
    if (t->ndim < 2) {
        lua_settop(L, 1);
        return 1;
    }
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_ag_transpose(&u->t, t, 0, 1));
    return 1;
}

/* A 1-based Lua position along a dim of `size` (negative from the end) -> 0-based.  `extra`
 * admits size + 1 (an empty narrow at the end). */
static int64_t check_pos(lua_State *L, int arg, int64_t size, int extra, const char *fname,
                         const char *what) {
    int isint = 0;
    lua_Integer p = lua_type(L, arg) == LUA_TNUMBER ? lua_tointegerx(L, arg, &isint) : 0;
    if (!isint) return l_error(L, "%s: %s (argument #%d) must be an integer", fname, what, arg);
    int64_t hi = size + (extra ? 1 : 0);
    if (p >= 1 && p <= hi) return (int64_t)p - 1;
    if (p <= -1 && p >= -size) return size + (int64_t)p;
    return l_error(L, "%s: %s %I out of range for a dim of size %I (valid: 1..%I or -%I..-1)",
                   fname, what, p, (lua_Integer)size, (lua_Integer)hi, (lua_Integer)size);
}

static int t_narrow(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 4, "narrow");
    if (t->ndim == 0) return l_error(L, "narrow: cannot narrow a 0-d tensor");
    int d = l_checkdim(L, 2, t->ndim, 0, "narrow");
    int64_t start = check_pos(L, 3, t->shape[d], 1, "narrow", "start");
    lua_Integer len = luaL_checkinteger(L, 4);
    /* Checked here so the message speaks in the caller's 1-based terms. */
    if (len < 0 || len > t->shape[d] - start)
        return l_error(L,
                       "narrow: length %I from start %I does not fit dim %d of size %I "
                       "(at most %I)",
                       len, (lua_Integer)start + 1, d + 1, (lua_Integer)t->shape[d],
                       (lua_Integer)(t->shape[d] - start));
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_ag_narrow(&u->t, t, d, start, (int64_t)len));
    return 1;
}

static int t_select(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 3, "select");
    if (t->ndim == 0) return l_error(L, "select: cannot select from a 0-d tensor");
    int d = l_checkdim(L, 2, t->ndim, 0, "select");
    int64_t i = check_pos(L, 3, t->shape[d], 0, "select", "index");
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_ag_select(&u->t, t, d, i));
    return 1;
}

static int t_expand(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    int64_t shape[GIDS_MAX_DIMS];
    int next;
    int n = l_checkshape(L, 2, shape, &next, "expand");
    if (lua_type(L, 2) == LUA_TTABLE) l_checkend(L, 2, "expand");
    if (!lua_isnone(L, next))
        return l_error(L, "expand: sizes must be integers or one table, got %s at argument #%d",
                       luaL_typename(L, next), next);
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_ag_expand(&u->t, t, n, shape));
    return 1;
}

static int t_expand_as(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1), *other = l_checktensor(L, 2);
    l_checkend(L, 2, "expand_as");
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_ag_expand(&u->t, t, other->ndim, other->shape));
    return 1;
}

static int t_squeeze(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 2, "squeeze");
    int d = l_optdim(L, 2, t->ndim, GIDS_ALL_DIMS, "squeeze");
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_ag_squeeze(&u->t, t, d));
    return 1;
}

static int t_unsqueeze(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 2, "unsqueeze");
    int d = l_checkdim(L, 2, t->ndim, 1, "unsqueeze");
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_ag_unsqueeze(&u->t, t, d));
    return 1;
}

static int t_flatten(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 3, "flatten");
    int s = l_optdim(L, 2, t->ndim, 0, "flatten");
    int e = lua_isnoneornil(L, 3) ? (t->ndim > 0 ? t->ndim - 1 : 0)
                                  : l_checkdim(L, 3, t->ndim, 0, "flatten");
    /* Checked here: the runtime would name the dims 0-based. */
    if (s > e) return l_error(L, "flatten: start dim %d comes after end dim %d", s + 1, e + 1);
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_ag_flatten(&u->t, t, s, e));
    return 1;
}

/* ---------------------------------------------------------------- in place */

static int t_fill_(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 2, "fill_");
    gids_scalar v = l_checkscalar(L, 2);
    l_check_inplace(L, "fill_", t, 0, NULL);
    l_check(L, gids_fill_(t, v));
    lua_settop(L, 1);
    return 1;
}

static int t_zero_(lua_State *L) {
    l_checkend(L, 1, "zero_");
    gids_tensor *t = l_checktensor(L, 1);
    l_check_inplace(L, "zero_", t, 0, NULL);
    l_check(L, gids_fill_(t, gids_scalar_i(0)));
    lua_settop(L, 1);
    return 1;
}

static int t_copy_(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1), *src = l_checktensor(L, 2);
    l_checkend(L, 2, "copy_");
    l_check_inplace(L, "copy_", t, 1, (const gids_tensor *const *)&src);
    l_check(L, gids_copy_(t, src));
    lua_settop(L, 1);
    return 1;
}

/* ---------------------------------------------------------------- conversion */

/* Returns self when no conversion is needed, as PyTorch's .to() / .float() do. */
static int convert(lua_State *L, gids_tensor *t, gids_dtype dt) {
    if (t->dtype == dt) {
        lua_pushvalue(L, 1);
        return 1;
    }
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_ag_to_dtype(&u->t, t, dt));
    return 1;
}

/* Moves the tensor at 1 to dev (itself when already there); recorded by autograd, so the
 * gradient flows back to the source device (as torch's .to()). */
static int move(lua_State *L, gids_tensor *t, gids_device dev) {
    if (gids_device_eq(gids_tensor_device(t), dev)) {
        lua_settop(L, 1);
        return 1;
    }
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_ag_to_device(&u->t, t, dev));
    return 1;
}

static int t_to(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 2, "to");
    gids_dtype dt = t->dtype;
    if (lua_type(L, 2) == LUA_TTABLE) {
        static const char *const allowed[] = {"dtype", "device", NULL};
        l_checkopts(L, 2, "to", allowed);
        dt = l_optdtype_named(L, 2, "dtype", t->dtype, "to");
        const char *dev = l_optstr_named(L, 2, "device", NULL, "to");
        if (dev != NULL) {
            gids_device d = l_check_device(L, dev, "to");
            if (!gids_device_eq(gids_tensor_device(t), d)) {
                lua_settop(L, 1);
                move(L, t, d);
                lua_replace(L, 1);
                t = l_checktensor(L, 1);
            }
        }
        return convert(L, t, dt);
    }
    const char *s = luaL_checkstring(L, 2);
    if (gids_dtype_parse(s, &dt) == GIDS_OK) return convert(L, t, dt);
    gids_error_clear();
    gids_device dev;
    if (gids_device_parse(s, &dev) != GIDS_OK) {
        gids_error_clear();
        return l_error(L,
                       "to: '%s' is neither a dtype (f32, f64, i64, i32, u8, bool; f16, bf16 "
                       "on a CUDA device) nor a device (cpu, cuda, cuda:N)",
                       s);
    }
    gids_device d = l_check_device(L, s, "to");
    lua_settop(L, 1);
    return move(L, t, d);
}

/* t:cuda(index?) and t:cpu(), as torch. */
static int t_cuda(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 2, "cuda");
    char name[32];
    snprintf(name, sizeof name, "cuda:%d", (int)luaL_optinteger(L, 2, 0));
    gids_device d = l_check_device(L, name, "cuda");
    lua_settop(L, 1);
    return move(L, t, d);
}

static int t_cpu(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 1, "cpu");
    return move(L, t, GIDS_DEVICE_CPU);
}

/* t:float() and the other fixed conversions take no argument. */
static int convert_named(lua_State *L, gids_dtype dt, const char *fname) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 1, fname);
    return convert(L, t, dt);
}

static int t_float(lua_State *L) {
    return convert_named(L, GIDS_F32, "float");
}
static int t_double(lua_State *L) {
    return convert_named(L, GIDS_F64, "double");
}
static int t_long(lua_State *L) {
    return convert_named(L, GIDS_I64, "long");
}
static int t_int(lua_State *L) {
    return convert_named(L, GIDS_I32, "int");
}
static int t_byte(lua_State *L) {
    return convert_named(L, GIDS_U8, "byte");
}
static int t_bool(lua_State *L) {
    return convert_named(L, GIDS_BOOL, "bool");
}

/* Torch7 / PyTorch type names, accepted by t:type(name) besides the dtype names. */
static const char *const type_names[GIDS_NDTYPES] = {
    [GIDS_F32] = "graphids.FloatTensor", [GIDS_F64] = "graphids.DoubleTensor",
    [GIDS_I64] = "graphids.LongTensor",  [GIDS_I32] = "graphids.IntTensor",
    [GIDS_U8] = "graphids.ByteTensor",   [GIDS_BOOL] = "graphids.BoolTensor",
    [GIDS_F16] = "graphids.HalfTensor",  [GIDS_BF16] = "graphids.BFloat16Tensor",
};

static int t_type(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 2, "type");
    if (lua_isnoneornil(L, 2)) {
        lua_pushstring(L, type_names[t->dtype]);
        return 1;
    }
    const char *s = luaL_checkstring(L, 2);
    for (int d = 0; d < GIDS_NDTYPES; d++)
        if (strcmp(s, type_names[d]) == 0) return convert(L, t, (gids_dtype)d);
    return convert(L, t, l_checkdtype(L, 2));
}

/* ---------------------------------------------------------------- registration */

static const luaL_Reg methods[] = {
    {"free", t_free},
    {"numel", t_numel},
    {"dim", t_dim},
    {"size", t_size},
    {"stride", t_stride},
    {"is_contiguous", t_is_contiguous},
    {"item", t_item},
    {"totable", t_totable},
    {"tobytes", t_tobytes},
    {"clone", t_clone},
    {"contiguous", t_contiguous},
    {"view", t_view},
    {"reshape", t_reshape},
    {"permute", t_permute},
    {"transpose", t_transpose},
    {"t", t_t},
    {"narrow", t_narrow},
    {"select", t_select},
    {"expand", t_expand},
    {"expand_as", t_expand_as},
    {"squeeze", t_squeeze},
    {"unsqueeze", t_unsqueeze},
    {"flatten", t_flatten},
    {"fill_", t_fill_},
    {"zero_", t_zero_},
    {"copy_", t_copy_},
    {"cuda", t_cuda},
    {"cpu", t_cpu},
    {"to", t_to},
    {"float", t_float},
    {"double", t_double},
    {"long", t_long},
    {"int", t_int},
    {"byte", t_byte},
    {"bool", t_bool},
    {"type", t_type},
    {NULL, NULL},
};

/* Functions that PyTorch also offers at module level (torch.reshape(t, ...), ...). */
static const luaL_Reg module_funcs[] = {
    {"numel", t_numel},         {"clone", t_clone},         {"reshape", t_reshape},
    {"permute", t_permute},     {"transpose", t_transpose}, {"t", t_t},
    {"narrow", t_narrow},       {"select", t_select},       {"squeeze", t_squeeze},
    {"unsqueeze", t_unsqueeze}, {"flatten", t_flatten},     {NULL, NULL},
};

void l_open_tensor(lua_State *L, int module, int methods_tbl) {
    l_setfuncs(L, methods_tbl, methods);
    l_setfuncs(L, module, module_funcs);

    luaL_getmetatable(L, L_TENSOR_MT);
    int mt = lua_gettop(L);
    lua_pushvalue(L, methods_tbl);
    lua_pushcclosure(L, t_index, 1);
    lua_setfield(L, mt, "__index");
    lua_pushcfunction(L, t_gc);
    lua_setfield(L, mt, "__gc");
    lua_pushcfunction(L, t_release);
    lua_setfield(L, mt, "__close");
    lua_pushvalue(L, methods_tbl);
    lua_pushcclosure(L, t_newindex, 1);
    lua_setfield(L, mt, "__newindex");
    lua_pushcfunction(L, t_len);
    lua_setfield(L, mt, "__len");
    l_open_format(L, module, mt);
    lua_pop(L, 1);

    l_open_create(L, module, methods_tbl);
}
