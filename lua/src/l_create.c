/* l_create.c -- creating tensors from Lua: graphids.tensor (nested tables), frombytes, zeros,
 * ones, full, empty, arange, linspace, eye, the *_like forms and is_tensor.
 */
#include <math.h>
#include <string.h>

#include "l_impl.h"

static const char *const create_opts[] = {"dtype", "device", "requires_grad", NULL};

/* Reads {dtype=, device=, requires_grad=} at idx; the device must be one this build serves.
 * When dev is not NULL, *dev holds the default device on entry and the device to create on at
 * return.  Without a dev the tensor is made on the CPU and l_finish_created moves it (so random
 * draws equal the CPU's); requires_grad is applied to the created tensor by l_finish_created. */
static gids_dtype creation_opts(lua_State *L, int idx, const char *fname, gids_dtype def,
                                gids_device *dev) {
    l_checkopts(L, idx, fname, create_opts);
    const char *name = l_optstr_named(L, idx, "device", NULL, fname);
    if (name != NULL) {
        gids_device d = l_check_device(L, name, fname);
        if (dev != NULL) *dev = d;
    }
    return l_optdtype_named(L, idx, "dtype", def, fname);
}

/* ---------------------------------------------------------------- graphids.tensor */

enum { K_BOOL = 1, K_INT = 2, K_FLOAT = 4 };

typedef struct nest {
    int ndim;
    int64_t shape[GIDS_MAX_DIMS];
    int64_t pos[GIDS_MAX_DIMS]; /* 1-based path to the element being visited, for messages */
    int kinds;
    gids_dtype dt;
    unsigned char *out;
    size_t esize;
} nest;

static const char *path_str(lua_State *L, const nest *n, int depth) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int d = 0; d < depth; d++) {
        lua_pushfstring(L, "[%I]", (lua_Integer)n->pos[d]);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* Validates the nesting of the table on top of the stack (at `depth`) and records which kinds
 * of values it holds. */
static void nest_scan(lua_State *L, nest *n, int depth) {
    int64_t len = (int64_t)lua_rawlen(L, -1);
    if (len != n->shape[depth])
        l_error(L, "tensor: ragged nesting at %s: expected %I elements, got %I",
                depth == 0 ? "the top level" : path_str(L, n, depth), (lua_Integer)n->shape[depth],
                (lua_Integer)len);
    /* Only the keys 1..len are read: any other ({[1]=1, [3]=3}, {x=1}) would be dropped. */
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > len) {
            const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                              : lua_isinteger(L, -1)
                                  ? lua_pushfstring(L, "%I", lua_tointeger(L, -1))
                                  : luaL_typename(L, -1);
            const char *where = depth == 0 ? "the top level" : path_str(L, n, depth);
            if (len == 0)
                l_error(L, "tensor: the table at %s has the key %s: a tensor is made from lists",
                        where, key);
            l_error(L,
                    "tensor: the table at %s has the key %s: a list of %I elements takes the "
                    "keys 1..%I only (a map, or a list with a hole?)",
                    where, key, (lua_Integer)len, (lua_Integer)len);
        }
    }
    for (int64_t i = 1; i <= len; i++) {
        n->pos[depth] = i;
        int t = lua_rawgeti(L, -1, (lua_Integer)i);
        if (depth + 1 < n->ndim) {
            if (t != LUA_TTABLE)
                l_error(L,
                        "tensor: ragged nesting at %s: expected a table of %I elements, got a %s",
                        path_str(L, n, depth + 1), (lua_Integer)n->shape[depth + 1],
                        lua_typename(L, t));
            nest_scan(L, n, depth + 1);
        } else if (t == LUA_TNUMBER) {
            n->kinds |= lua_isinteger(L, -1) ? K_INT : K_FLOAT;
        } else if (t == LUA_TBOOLEAN) {
            n->kinds |= K_BOOL;
        } else if (t == LUA_TTABLE) {
            l_error(L, "tensor: ragged nesting at %s: expected a number, got a table",
                    path_str(L, n, depth + 1));
        } else {
            l_error(L, "tensor: element at %s is a %s, expected a number or a boolean",
                    path_str(L, n, depth + 1), lua_typename(L, t));
        }
        lua_pop(L, 1);
    }
}

/* " at [2][1]" for an element inside a table; "" for a bare number (it has no position). */
static const char *where(lua_State *L, const nest *n, int depth) {
    return depth > 0 ? lua_pushfstring(L, " at %s", path_str(L, n, depth)) : "";
}

/* Stores the Lua value at the top of the stack into n->out, converting to n->dt.  Values an
 * integer dtype cannot hold are an error (as PyTorch), never a silent wrap. */
static void store_value(lua_State *L, nest *n, int depth) {
    unsigned char *p = n->out;
    n->out += n->esize;
    int isbool = lua_type(L, -1) == LUA_TBOOLEAN;
    int isint = isbool || lua_isinteger(L, -1);
    lua_Integer iv = isbool ? lua_toboolean(L, -1) : (isint ? lua_tointeger(L, -1) : 0);
    double fv = isint ? (double)iv : (double)lua_tonumber(L, -1);
    switch (n->dt) {
    case GIDS_F32: {
        float x = isint ? (float)iv : (float)fv;
        memcpy(p, &x, sizeof x);
        return;
    }
    case GIDS_F64: memcpy(p, &fv, sizeof fv); return;
    case GIDS_BOOL: *p = isint ? iv != 0 : fv != 0.0; return;
    default: break;
    }
    if (!isint) {
        /* float -> integer truncates toward zero; out of range or NaN would be undefined. */
        if (!(fv > -9223372036854775808.0 && fv < 9223372036854775808.0))
            l_error(L, "tensor: value %f%s does not fit in %s", fv, where(L, n, depth),
                    gids_dtype_name(n->dt));
        iv = (lua_Integer)fv;
    }
    int64_t lo = n->dt == GIDS_U8 ? 0 : (n->dt == GIDS_I32 ? INT32_MIN : INT64_MIN);
    int64_t hi = n->dt == GIDS_U8 ? 255 : (n->dt == GIDS_I32 ? INT32_MAX : INT64_MAX);
    if (iv < lo || iv > hi)
        l_error(L, "tensor: value %I%s does not fit in %s", iv, where(L, n, depth),
                gids_dtype_name(n->dt));
    if (n->dt == GIDS_I64) {
        int64_t x = (int64_t)iv;
        memcpy(p, &x, sizeof x);
    } else if (n->dt == GIDS_I32) {
        int32_t x = (int32_t)iv;
        memcpy(p, &x, sizeof x);
    } else {
        *p = (uint8_t)iv;
    }
}

static void nest_fill(lua_State *L, nest *n, int depth) {
    for (int64_t i = 1; i <= n->shape[depth]; i++) {
        n->pos[depth] = i;
        lua_rawgeti(L, -1, (lua_Integer)i);
        if (depth + 1 < n->ndim)
            nest_fill(L, n, depth + 1);
        else
            store_value(L, n, depth + 1);
        lua_pop(L, 1);
    }
}

static gids_dtype infer_dtype(int kinds) {
    if (kinds & K_FLOAT) return GIDS_F32;
    if (kinds & K_INT) return GIDS_I64;
    if (kinds & K_BOOL) return GIDS_BOOL;
    return GIDS_F32; /* empty, as torch.tensor({}) */
}

/* The dtype a tensor of dtype dt is filled in on the CPU: f32 for a half dtype, which only a
 * device holds (converted there by l_finish_created_as); a half dtype for the CPU is refused
 * here, naming tensor rather than the empty it would fail in. */
static gids_dtype fill_dtype(lua_State *L, gids_dtype dt, gids_device dev) {
    if (!gids_dtype_is_half(dt)) return dt;
    if (dev.type == GIDS_CPU)
        l_error(L,
                "tensor: dtype %s is a GPU storage type: give device = 'cuda' (or make an f32 "
                "tensor on the CPU)",
                gids_dtype_name(dt));
    return GIDS_F32;
}

static int c_tensor(lua_State *L) {
    l_checkend(L, 2, "tensor"); /* first: the settop below would drop extra arguments */
    int t = lua_type(L, 1);
    gids_tensor *src = l_totensor(L, 1);
    gids_device dev = GIDS_DEVICE_CPU;
    if (src != NULL) {
        gids_dtype dt = creation_opts(L, 2, "tensor", src->dtype, &dev);
        l_tensor *u = l_newtensor(L);
        l_check(L, gids_to_dtype(&u->t, src, fill_dtype(L, dt, dev)));
        l_finish_created_as(L, 2, u, "tensor", dt);
        return 1;
    }
    if (t != LUA_TTABLE && t != LUA_TNUMBER && t != LUA_TBOOLEAN)
        return luaL_typeerror(L, 1, "table, number or boolean");
    nest n;
    memset(&n, 0, sizeof n);
    lua_settop(L, 2);
    lua_pushvalue(L, 1);
    /* The shape follows the first element at every level; nest_scan then checks the rest. */
    while (lua_type(L, -1) == LUA_TTABLE) {
        if (n.ndim == GIDS_MAX_DIMS)
            return l_error(L, "tensor: nesting deeper than %d levels", GIDS_MAX_DIMS);
        n.shape[n.ndim++] = (int64_t)lua_rawlen(L, -1);
        if (n.shape[n.ndim - 1] == 0) break;
        lua_rawgeti(L, -1, 1);
    }
    lua_settop(L, 3);
    if (n.ndim > 0)
        nest_scan(L, &n, 0);
    else
        n.kinds = t == LUA_TBOOLEAN ? K_BOOL : (lua_isinteger(L, 1) ? K_INT : K_FLOAT);
    gids_dtype want = creation_opts(L, 2, "tensor", infer_dtype(n.kinds), &dev);
    n.dt = fill_dtype(L, want, dev);
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_empty(&u->t, n.dt, GIDS_DEVICE_CPU, n.ndim, n.shape));
    n.out = gids_tensor_data(u->t);
    n.esize = gids_dtype_size(n.dt);
    lua_pushvalue(L, 3);
    if (n.ndim > 0)
        nest_fill(L, &n, 0);
    else
        store_value(L, &n, 0);
    lua_pop(L, 1);
    l_finish_created_as(L, 2, u, "tensor", want);
    return 1;
}

/* ---------------------------------------------------------------- raw bytes */

static int c_frombytes(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    gids_dtype dt = l_checkdtype(L, 2);
    size_t esize = gids_dtype_size(dt);
    int64_t shape[GIDS_MAX_DIMS];
    int next, n = 1;
    if (lua_isnoneornil(L, 3)) {
        l_checkend(L, 3, "frombytes");
        if (len % esize != 0)
            return l_error(L,
                           "frombytes: %I bytes are not a whole number of %s elements (%d "
                           "bytes each)",
                           (lua_Integer)len, gids_dtype_name(dt), (int)esize);
        shape[0] = (int64_t)(len / esize);
    } else {
        n = l_checkshape(L, 3, shape, &next, "frombytes");
        l_check_sizes(L, n, shape, "frombytes");
        l_checkend(L, next - 1, "frombytes");
        int64_t numel = 0;
        l_check(L, gids_shape_numel("frombytes", n, shape, &numel));
        if (numel < 0 || (uint64_t)numel > (uint64_t)(len / esize) ||
            (size_t)numel * esize != len) {
            char buf[128];
            return l_error(L,
                           "frombytes: %I bytes do not make a %s tensor of shape %s (expected "
                           "%I bytes)",
                           (lua_Integer)len, gids_dtype_name(dt),
                           gids_shape_str(n, shape, buf, sizeof buf),
                           (lua_Integer)((uint64_t)numel * esize));
        }
    }
    l_tensor *u = l_newtensor(L);
    gids_status st = gids_from_buffer(&u->t, dt, n, shape, s);
    if (st == GIDS_ENOMEM) { /* as l_check: collect, then once more */
        l_collect(L);
        st = gids_from_buffer(&u->t, dt, n, shape, s);
    }
    l_check_status_as(L, st, "frombytes", "from_buffer");
    return 1;
}

/* ---------------------------------------------------------------- filled tensors */

/* zeros, ones, full and empty (and their _like forms) are made on their device directly: they
 * draw nothing, so there are no random values to keep equal to the CPU's; no host buffer is
 * filled and copied; and f16/bf16, which the CPU cannot hold, can be created on a CUDA device.
 * l_finish_created then finds the tensor on its device already and leaves it there. */
typedef enum { FILL_ZEROS, FILL_ONES, FILL_EMPTY } fill_kind;

static void make_filled(lua_State *L, l_tensor *u, fill_kind k, gids_dtype dt, gids_device dev,
                        int n, const int64_t *shape) {
    if (k == FILL_ZEROS)
        l_check(L, gids_zeros(&u->t, dt, dev, n, shape));
    else if (k == FILL_ONES)
        l_check(L, gids_ones(&u->t, dt, dev, n, shape));
    else
        l_check(L, gids_empty(&u->t, dt, dev, n, shape));
}

static int filled(lua_State *L, fill_kind k, const char *fname) {
    int64_t shape[GIDS_MAX_DIMS];
    int next;
    int n = l_checkshape(L, 1, shape, &next, fname);
    l_check_sizes(L, n, shape, fname);
    gids_device dev = GIDS_DEVICE_CPU;
    gids_dtype dt = creation_opts(L, next, fname, GIDS_F32, &dev);
    l_checkend(L, next, fname);
    l_tensor *u = l_newtensor(L);
    make_filled(L, u, k, dt, dev, n, shape);
    l_finish_created(L, next, u, fname);
    return 1;
}

static int c_zeros(lua_State *L) {
    return filled(L, FILL_ZEROS, "zeros");
}
static int c_ones(lua_State *L) {
    return filled(L, FILL_ONES, "ones");
}
static int c_empty(lua_State *L) {
    return filled(L, FILL_EMPTY, "empty");
}

/* The dtype PyTorch gives a tensor filled with a Python scalar of this kind. */
static gids_dtype scalar_dtype(lua_State *L, int i) {
    if (lua_type(L, i) == LUA_TBOOLEAN) return GIDS_BOOL;
    return lua_isinteger(L, i) ? GIDS_I64 : GIDS_F32;
}

static int c_full(lua_State *L) {
    if (lua_type(L, 1) != LUA_TTABLE)
        return l_error(L, "full: shape (argument #1) must be a table such as {2, 3}, got %s",
                       l_describe(L, 1));
    int64_t shape[GIDS_MAX_DIMS];
    int n = l_checkshape(L, 1, shape, NULL, "full");
    l_check_sizes(L, n, shape, "full");
    gids_scalar v = l_checkscalar(L, 2);
    gids_device dev = GIDS_DEVICE_CPU;
    gids_dtype dt = creation_opts(L, 3, "full", scalar_dtype(L, 2), &dev);
    l_checkend(L, 3, "full");
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_full(&u->t, dt, dev, n, shape, v));
    l_finish_created(L, 3, u, "full");
    return 1;
}

static int like(lua_State *L, fill_kind k, const char *fname) {
    gids_tensor *t = l_checktensor(L, 1);
    gids_device dev = gids_tensor_device(t);
    gids_dtype dt = creation_opts(L, 2, fname, t->dtype, &dev);
    l_checkend(L, 2, fname);
    l_tensor *u = l_newtensor(L);
    make_filled(L, u, k, dt, dev, t->ndim, t->shape);
    l_finish_created(L, 2, u, fname);
    return 1;
}

static int c_zeros_like(lua_State *L) {
    return like(L, FILL_ZEROS, "zeros_like");
}
static int c_ones_like(lua_State *L) {
    return like(L, FILL_ONES, "ones_like");
}
static int c_empty_like(lua_State *L) {
    return like(L, FILL_EMPTY, "empty_like");
}

static int c_full_like(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    gids_scalar v = l_checkscalar(L, 2);
    gids_device dev = gids_tensor_device(t);
    gids_dtype dt = creation_opts(L, 3, "full_like", t->dtype, &dev);
    l_checkend(L, 3, "full_like");
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_full(&u->t, dt, dev, t->ndim, t->shape, v));
    l_finish_created(L, 3, u, "full_like");
    return 1;
}

/* ---------------------------------------------------------------- ranges */

static int c_arange(lua_State *L) {
    int n = 0;
    while (n < 3 && lua_type(L, n + 1) == LUA_TNUMBER) n++;
    if (n == 0) return luaL_typeerror(L, 1, "number");
    int all_int = 1;
    for (int i = 1; i <= n; i++) all_int &= lua_isinteger(L, i);
    gids_scalar start = gids_scalar_i(0), end, step = gids_scalar_i(1);
    if (n == 1) {
        end = l_checkscalar(L, 1);
    } else {
        start = l_checkscalar(L, 1);
        end = l_checkscalar(L, 2);
        if (n == 3) step = l_checkscalar(L, 3);
    }
    gids_dtype dt = creation_opts(L, n + 1, "arange", all_int ? GIDS_I64 : GIDS_F32, NULL);
    l_checkend(L, n + 1, "arange");
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_arange(&u->t, dt, start, end, step));
    l_finish_created(L, n + 1, u, "arange");
    return 1;
}

static int c_linspace(lua_State *L) {
    double a = (double)luaL_checknumber(L, 1), b = (double)luaL_checknumber(L, 2);
    lua_Integer steps = luaL_checkinteger(L, 3);
    gids_dtype dt = creation_opts(L, 4, "linspace", GIDS_F32, NULL);
    l_checkend(L, 4, "linspace");
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_linspace(&u->t, dt, a, b, (int64_t)steps));
    l_finish_created(L, 4, u, "linspace");
    return 1;
}

static int c_eye(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1), m = n;
    int opts = 2;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        m = luaL_checkinteger(L, 2);
        opts = 3;
    }
    gids_dtype dt = creation_opts(L, opts, "eye", GIDS_F32, NULL);
    l_checkend(L, opts, "eye");
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_eye(&u->t, dt, (int64_t)n, (int64_t)m));
    l_finish_created(L, opts, u, "eye");
    return 1;
}

static int c_is_tensor(lua_State *L) {
    l_checkend(L, 1, "is_tensor");
    lua_pushboolean(L, l_testtensor(L, 1) != NULL);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"tensor", c_tensor},
    {"frombytes", c_frombytes},
    {"zeros", c_zeros},
    {"ones", c_ones},
    {"empty", c_empty},
    {"full", c_full},
    {"zeros_like", c_zeros_like},
    {"ones_like", c_ones_like},
    {"empty_like", c_empty_like},
    {"full_like", c_full_like},
    {"arange", c_arange},
    {"linspace", c_linspace},
    {"eye", c_eye},
    {"is_tensor", c_is_tensor},
    {NULL, NULL},
};

void l_open_create(lua_State *L, int module, int methods) {
    l_setfuncs(L, module, funcs);
    (void)methods;
}
