/* l_elementwise.c -- elementwise ops: arithmetic, comparisons, logical ops, math functions,
 * activations, clamp, where, equal/allclose, their in-place `_` forms and the Tensor
 * arithmetic and comparison metamethods.  The out-of-place forms record autograd nodes
 * (gids_ag_*); the in-place forms ask l_check_inplace first.
 *
 * Either operand of a binary op may be a Lua number (`2 - t` works as in PyTorch).  The ops of
 * the runtime's binop/unop tables are registered as closures whose upvalue is the op code, so
 * one C function serves every op of a kind.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "binding.h"

/* The operand at i: a live tensor (BORROW), or NULL with *s set for a number.  A boolean
 * becomes a 0-d bool tensor that replaces it on the stack (which keeps it alive): bool is the
 * lowest dtype, so it acts as a Python bool does in torch (bool + true stays bool, f32 * true
 * stays f32), where the integer scalar 1 would turn a bool tensor into i64.  It is made on
 * `dev`, the device of the other operand, as the tensors of one op share a device. */
static gids_tensor *operand(lua_State *L, int i, gids_scalar *s, gids_device dev,
                            const char *fname) {
    if (l_testtensor(L, i)) return l_checktensor(L, i);
    int t = lua_type(L, i);
    if (t == LUA_TBOOLEAN) {
        gids_scalar v = gids_scalar_i(lua_toboolean(L, i));
        l_tensor *z = l_newtensor(L);
        int64_t unused = 1;
        l_check(L, gids_full(&z->t, GIDS_BOOL, dev, 0, &unused, v));
        lua_replace(L, i);
        return z->t;
    }
    if (t != LUA_TNUMBER)
        luaL_error(L, "%s: argument #%d must be a tensor, a number or a boolean, got %s", fname, i,
                   luaL_typename(L, i));
    *s = l_checkscalar(L, i);
    return NULL;
}

/* The device of the tensor at i, else of the one at j, else the CPU. */
static gids_device device_of(lua_State *L, int i, int j) {
    gids_tensor *t = l_totensor(L, i);
    if (t == NULL) t = l_totensor(L, j);
    return t != NULL ? gids_tensor_device(t) : GIDS_DEVICE_CPU;
}

/* ---------------------------------------------------------------- binary */
static bool is_scalar(lua_State *L, int i) {
    int t = lua_type(L, i);
    return t == LUA_TNUMBER || t == LUA_TBOOLEAN;
}

/* Pushes x op y for the values at ix and iy (tensors, numbers or booleans); a refusal of the
 * runtime's that names op is reported as fname's when as_fname (an op composed of others). */
static void push_binary_as(lua_State *L, gids_binop op, int ix, int iy, const char *fname,
                           bool as_fname) {
    /* checked before operand() turns a boolean into a tensor */
    if (is_scalar(L, ix) && is_scalar(L, iy))
        luaL_error(L, "%s: at least one operand must be a tensor, got a %s and a %s", fname,
                   luaL_typename(L, ix), luaL_typename(L, iy));
    gids_scalar sx = gids_scalar_i(0), sy = gids_scalar_i(0);
    gids_device dev = device_of(L, ix, iy);
    gids_tensor *a = operand(L, ix, &sx, dev, fname), *b = operand(L, iy, &sy, dev, fname);
    l_tensor *out = l_newtensor(L);
    gids_status st;
    if (a && b)
        st = gids_ag_binary(&out->t, op, a, b);
    else if (a)
        st = gids_ag_binary_scalar(&out->t, op, a, sy, false);
    else
        st = gids_ag_binary_scalar(&out->t, op, b, sx, true);
    if (as_fname)
        l_check_status_as(L, st, fname, gids_binop_name(op));
    else
        l_check_status(L, st);
}

static void push_binary(lua_State *L, gids_binop op, int ix, int iy, const char *fname) {
    push_binary_as(L, op, ix, iy, fname, false);
}

/* Writes a op y into a (the tensor at 1); leaves a on the top of the stack. */
static void binary_inplace(lua_State *L, gids_binop op, int iy, const char *fname) {
    gids_tensor *a = l_checktensor(L, 1);
    gids_scalar sy = gids_scalar_i(0);
    gids_tensor *b = operand(L, iy, &sy, gids_tensor_device(a), fname);
    l_check_inplace(L, fname, a, 1, (const gids_tensor *const *)&b);
    /* (the runtime's message names its op, "div: ..."; the caller called div_) */
    if (b)
        l_check_as(L, gids_binary_into(a, op, a, b), fname, gids_binop_name(op));
    else
        l_check_as(L, gids_binary_scalar_into(a, op, a, sy, false), fname, gids_binop_name(op));
    lua_pushvalue(L, 1);
}

static const char *const no_opts[] = {NULL};

/* graphids.<op>(x, y) and x:<op>(y) for the ops without options. */
static int l_binop(lua_State *L) {
    gids_binop op = (gids_binop)lua_tointeger(L, lua_upvalueindex(1));
    const char *fname = gids_binop_name(op);
    l_checkopts(L, 3, fname, no_opts);
    l_checkend(L, 3, fname);
    push_binary(L, op, 1, 2, fname);
    return 1;
}

/* x:<op>_(y): in place, returns x. */
static int l_binop_(lua_State *L) {
    gids_binop op = (gids_binop)lua_tointeger(L, lua_upvalueindex(1));
    const char *fname = lua_tostring(L, lua_upvalueindex(2));
    l_checkopts(L, 3, fname, no_opts);
    l_checkend(L, 3, fname);
    binary_inplace(L, op, 2, fname);
    return 1;
}

/* Whether the value at i is a bool tensor or a Lua boolean / a float tensor or a Lua float. */
static bool is_bool_operand(lua_State *L, int i) {
    gids_tensor *t = l_totensor(L, i);
    return t != NULL ? t->dtype == GIDS_BOOL : lua_type(L, i) == LUA_TBOOLEAN;
}

static bool is_float_operand(lua_State *L, int i) {
    gids_tensor *t = l_totensor(L, i);
    if (t != NULL) return gids_dtype_is_float(t->dtype);
    return lua_type(L, i) == LUA_TNUMBER && !lua_isinteger(L, i);
}

/* sub refuses a bool operand, as torch does: the runtime refuses two (a bool result), and one
 * would silently count true as 1. */
static void check_sub(lua_State *L, int ix, int iy, const char *fname) {
    bool bx = is_bool_operand(L, ix), by = is_bool_operand(L, iy);
    if (bx && by)
        luaL_error(L, "%s: subtraction of two bool tensors is not supported; use logical_xor",
                   fname);
    if (bx || by)
        luaL_error(L,
                   "%s: subtraction with a bool operand (argument #%d) is not supported; to "
                   "invert a mask use logical_not",
                   fname, bx ? ix : iy);
}

/* add/sub(x, y, {alpha=}) = x +/- alpha * y, as torch.add. */
static const char *const alpha_opts[] = {"alpha", NULL};

/* torch.result_type of two operands as operand() gives them (a tensor, else a number s; not
 * both numbers): a 0-d operand promotes only across kinds, a number as a wrapped number (an
 * integer takes an integer tensor's dtype, a float beside an integer or bool tensor gives
 * f32), the rule the binary ops follow (binary.c, scalar_promoted). */
static gids_dtype pair_dtype(const gids_tensor *a, gids_scalar sa, const gids_tensor *b,
                             gids_scalar sb) {
    if (a != NULL && b != NULL) return gids_result_type(a, b);
    return a != NULL ? gids_promote_scalar(a->dtype, sb) : gids_promote_scalar(b->dtype, sa);
}

/* The dtype of x + y for the operand at 1 and y (the tensor b, or the scalar sy when b is NULL). */
static gids_dtype result_dtype(lua_State *L, const gids_tensor *b, gids_scalar sy) {
    gids_tensor *a = l_totensor(L, 1);
    if (a == NULL && b == NULL) return GIDS_F64;
    if (a == NULL && lua_type(L, 1) != LUA_TNUMBER) return b->dtype;
    return pair_dtype(a, a != NULL ? gids_scalar_i(0) : l_checkscalar(L, 1), b, sy);
}

/* result_type(x, y): the dtype name torch.result_type gives for two operands, tensors, numbers
 * or booleans, one at least a tensor: the dtype a binary op such as add computes in (div and
 * atan2 then take f32 for an integer one).  Composed functions take their dtype from it. */
static int l_result_type(lua_State *L) {
    l_checkend(L, 2, "result_type");
    if (is_scalar(L, 1) && is_scalar(L, 2))
        luaL_error(L, "result_type: at least one operand must be a tensor, got a %s and a %s",
                   luaL_typename(L, 1), luaL_typename(L, 2));
    gids_scalar sx = gids_scalar_i(0), sy = gids_scalar_i(0);
    gids_device dev = device_of(L, 1, 2);
    gids_tensor *a = operand(L, 1, &sx, dev, "result_type");
    gids_tensor *b = operand(L, 2, &sy, dev, "result_type");
    lua_pushstring(L, gids_dtype_name(pair_dtype(a, sx, b, sy)));
    return 1;
}

/* An integer alpha the integer result cannot hold is an error, as torch's ("value cannot be
 * converted to type uint8_t without overflow"), not a silent wrap of alpha * y.  torch's check
 * lets an unsigned type wrap a negative value down to -max, so u8 takes -255..255. */
static void check_alpha_fits(lua_State *L, const char *fname, gids_scalar alpha, gids_dtype dt) {
    /* (and a float alpha past f32's range, as torch's "cannot be converted to type float";
     * an infinite or NaN alpha passes there too) */
    if (!alpha.is_int && dt == GIDS_F32 && isfinite(alpha.f) && fabs(alpha.f) > FLT_MAX)
        luaL_error(L, "%s: option 'alpha' (%f) does not fit in the result's dtype f32", fname,
                   alpha.f);
    if (!alpha.is_int || (dt != GIDS_U8 && dt != GIDS_I32)) return;
    int64_t lo = dt == GIDS_U8 ? -255 : INT32_MIN, hi = dt == GIDS_U8 ? 255 : INT32_MAX;
    if (alpha.i < lo || alpha.i > hi)
        luaL_error(
            L, "%s: option 'alpha' (%I) does not fit in the result's dtype %s (valid: %I..%I)",
            fname, (lua_Integer)alpha.i, gids_dtype_name(dt), (lua_Integer)lo, (lua_Integer)hi);
}

/* Replaces the operand at 2 by alpha * y when opts.alpha is given (and not 1), a tensor y
 * converted to the result's dtype before it is scaled.  As torch: a
 * float alpha needs a float result (one operand a float tensor or a Lua float), and when both
 * operands are bool (a bool result) alpha counts as a bool, true unless 0. */
static void apply_alpha(lua_State *L, const char *fname) {
    l_checkopts(L, 3, fname, alpha_opts);
    l_checkend(L, 3, fname);
    if (lua_type(L, 3) != LUA_TTABLE) return;
    lua_getfield(L, 3, "alpha");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "%s: option 'alpha' must be a number, got %s", fname, luaL_typename(L, -1));
    int alpha_at = lua_gettop(L);
    gids_scalar alpha = l_checkscalar(L, alpha_at);
    if (!alpha.is_int && !is_float_operand(L, 1) && !is_float_operand(L, 2))
        luaL_error(L,
                   "%s: option 'alpha' is a float (%f), which an integer or bool result cannot "
                   "take; give an integer, or convert to a float dtype first",
                   fname, lua_tonumber(L, alpha_at));
    if (alpha.is_int && alpha.i != 0 && is_bool_operand(L, 1) && is_bool_operand(L, 2))
        alpha.i = 1; /* a bool result: y counts as it is */
    if (alpha.is_int && alpha.i == 1) {
        lua_pop(L, 1);
        return;
    }
    if (alpha.is_int && alpha.i == 0 && is_bool_operand(L, 1) && is_bool_operand(L, 2)) {
        /* y and false: x's values in the broadcast shape, still bool */
        lua_pushboolean(L, 0);
        if (l_totensor(L, 2) != NULL) push_binary(L, GIDS_MUL, 2, lua_gettop(L), fname);
        lua_replace(L, 2);
        lua_settop(L, alpha_at - 1);
        return;
    }
    gids_scalar sy = gids_scalar_i(0);
    gids_tensor *b = operand(L, 2, &sy, device_of(L, 1, 2), fname);
    check_alpha_fits(L, fname, alpha, result_dtype(L, b, sy));
    if (b) {
        /* y in the result's dtype first, as torch computes alpha * y (a u8 y of 200 with
         * alpha 2 beside an f32 x is 400, not 144; an i64 y beside an f64 x stays exact) */
        gids_dtype want = result_dtype(L, b, sy);
        if (gids_dtype_is_half(want)) { /* the sum refuses it, by its own name */
            lua_settop(L, alpha_at - 1);
            return;
        }
        if (want != b->dtype) {
            l_tensor *c = l_newtensor(L);
            l_check(L, gids_ag_to_dtype(&c->t, b, want));
            b = c->t;
        }
        l_tensor *scaled = l_newtensor(L);
        l_check(L, gids_ag_binary_scalar(&scaled->t, GIDS_MUL, b, alpha, false));
    } else if (sy.is_int && alpha.is_int) {
        lua_pushinteger(L, (lua_Integer)((uint64_t)sy.i * (uint64_t)alpha.i));
    } else {
        double y = sy.is_int ? (double)sy.i : sy.f, k = alpha.is_int ? (double)alpha.i : alpha.f;
        lua_pushnumber(L, y * k);
    }
    lua_replace(L, 2);
    lua_settop(L, alpha_at - 1);
}

static int l_add(lua_State *L) {
    apply_alpha(L, "add");
    push_binary(L, GIDS_ADD, 1, 2, "add");
    return 1;
}

static int l_sub(lua_State *L) {
    check_sub(L, 1, 2, "sub");
    apply_alpha(L, "sub");
    push_binary(L, GIDS_SUB, 1, 2, "sub");
    return 1;
}

static int l_add_(lua_State *L) {
    apply_alpha(L, "add_");
    binary_inplace(L, GIDS_ADD, 2, "add_");
    return 1;
}

static int l_sub_(lua_State *L) {
    check_sub(L, 1, 2, "sub_");
    apply_alpha(L, "sub_");
    binary_inplace(L, GIDS_SUB, 2, "sub_");
    return 1;
}

/* div(x, y, {rounding_mode = "trunc" | "floor"}), as torch.div: true division without it
 * (integers give f32); "floor" is floor_divide; "trunc" rounds toward zero, for floats
 * trunc(x / y) (no gradient through trunc, as torch's zeros), for integers (x - fmod(x, y)) //
 * y, which is exact and stays in the integers. */
static const char *const div_opts[] = {"rounding_mode", NULL};

/* Whether the operand at i is an integer (or bool) tensor, an integer or a boolean. */
static bool integral(lua_State *L, int i) {
    gids_tensor *t = l_totensor(L, i);
    if (t != NULL) return !gids_dtype_is_float(t->dtype);
    return lua_type(L, i) == LUA_TBOOLEAN || lua_isinteger(L, i);
}

static int l_div(lua_State *L) {
    l_checkopts(L, 3, "div", div_opts);
    l_checkend(L, 3, "div");
    const char *mode = lua_type(L, 3) == LUA_TTABLE ? l_optstr(L, 3, "rounding_mode", NULL) : NULL;
    if (mode == NULL) {
        push_binary(L, GIDS_DIV, 1, 2, "div");
    } else if (strcmp(mode, "floor") == 0) {
        push_binary_as(L, GIDS_FLOOR_DIVIDE, 1, 2, "div", true);
    } else if (strcmp(mode, "trunc") != 0) {
        return luaL_error(L, "div: rounding_mode must be 'trunc' or 'floor', got '%s'", mode);
    } else if (integral(L, 1) && integral(L, 2)) {
        lua_settop(L, 2);
        push_binary_as(L, GIDS_FMOD, 1, 2, "div", true); /* 3 */
        push_binary_as(L, GIDS_SUB, 1, 3, "div", true);  /* 4 */
        push_binary_as(L, GIDS_FLOOR_DIVIDE, 4, 2, "div", true);
    } else {
        lua_settop(L, 2);
        push_binary(L, GIDS_DIV, 1, 2, "div");
        gids_tensor *q = l_checktensor(L, 3);
        l_tensor *out = l_newtensor(L);
        l_check(L, gids_ag_unary(&out->t, GIDS_TRUNC, q));
    }
    return 1;
}

/* x:div_(y, {rounding_mode=}): div's rounding in place (x's dtype must hold the result, as in
 * torch: an integer tensor takes a rounding mode, not a true division). */
static int l_div_(lua_State *L) {
    l_checkopts(L, 3, "div_", div_opts);
    l_checkend(L, 3, "div_");
    const char *mode = lua_type(L, 3) == LUA_TTABLE ? l_optstr(L, 3, "rounding_mode", NULL) : NULL;
    gids_tensor *a = l_checktensor(L, 1);
    lua_settop(L, 2);
    if (mode == NULL) {
        binary_inplace(L, GIDS_DIV, 2, "div_");
    } else if (strcmp(mode, "floor") == 0) {
        binary_inplace(L, GIDS_FLOOR_DIVIDE, 2, "div_");
    } else if (strcmp(mode, "trunc") != 0) {
        return luaL_error(L, "div_: rounding_mode must be 'trunc' or 'floor', got '%s'", mode);
    } else if (integral(L, 1) && integral(L, 2)) {
        push_binary_as(L, GIDS_FMOD, 1, 2, "div_", true); /* 3: the remainder, then x -= it */
        binary_inplace(L, GIDS_SUB, 3, "div_");
        lua_settop(L, 2);
        binary_inplace(L, GIDS_FLOOR_DIVIDE, 2, "div_"); /* exact */
    } else {
        binary_inplace(L, GIDS_DIV, 2, "div_");
        l_check(L, gids_unary_into(a, GIDS_TRUNC, a));
    }
    return 1;
}

/* floor_divide(x, y) = floor(x / y), as torch.floor_divide and Lua's //. */
static int l_floor_divide(lua_State *L) {
    l_checkopts(L, 3, "floor_divide", no_opts);
    l_checkend(L, 3, "floor_divide");
    push_binary(L, GIDS_FLOOR_DIVIDE, 1, 2, "floor_divide");
    return 1;
}

/* ---------------------------------------------------------------- unary */
/* The ops with a bool result: they have no gradient, so they skip autograd altogether. */
static bool bool_result(gids_unop op) {
    return op == GIDS_LOGICAL_NOT || op == GIDS_ISNAN || op == GIDS_ISINF || op == GIDS_ISFINITE;
}

static int l_unop(lua_State *L) {
    gids_unop op = (gids_unop)lua_tointeger(L, lua_upvalueindex(1));
    gids_tensor *a = l_checktensor(L, 1);
    l_checkopts(L, 2, gids_unop_name(op), no_opts);
    l_checkend(L, 2, gids_unop_name(op));
    l_tensor *out = l_newtensor(L);
    if (bool_result(op))
        l_check(L, gids_unary(&out->t, op, a));
    else
        l_check(L, gids_ag_unary(&out->t, op, a));
    return 1;
}

static int l_unop_(lua_State *L) {
    gids_unop op = (gids_unop)lua_tointeger(L, lua_upvalueindex(1));
    gids_tensor *a = l_checktensor(L, 1);
    const char *fname = lua_tostring(L, lua_upvalueindex(2));
    l_checkopts(L, 2, fname, no_opts);
    l_checkend(L, 2, fname);
    l_check_inplace(L, fname, a, 0, NULL);
    l_check_as(L, gids_unary_into(a, op, a), fname, gids_unop_name(op));
    lua_settop(L, 1);
    return 1;
}

/* gelu(x, {approximate="none"|"tanh"}) */
static int gelu_common(lua_State *L, bool inplace) {
    const char *fname = inplace ? "gelu_" : "gelu";
    gids_tensor *a = l_checktensor(L, 1);
    static const char *const allowed[] = {"approximate", NULL};
    l_checkopts(L, 2, fname, allowed);
    l_checkend(L, 2, fname);
    const char *approx = l_optstr(L, 2, "approximate", "none");
    gids_unop op = GIDS_GELU;
    if (strcmp(approx, "tanh") == 0)
        op = GIDS_GELU_TANH;
    else if (strcmp(approx, "none") != 0)
        luaL_error(L, "%s: option 'approximate' must be \"none\" or \"tanh\", got \"%s\"", fname,
                   approx);
    if (inplace) {
        l_check_inplace(L, fname, a, 0, NULL);
        l_check_as(L, gids_unary_into(a, op, a), fname, gids_unop_name(op));
        lua_settop(L, 1);
        return 1;
    }
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_unary(&out->t, op, a));
    return 1;
}

static int l_gelu(lua_State *L) {
    return gelu_common(L, false);
}
static int l_gelu_(lua_State *L) {
    return gelu_common(L, true);
}

/* The result r of a parameterised op on the tensor at 1 is copied back into it (r must keep
 * its dtype: an integer tensor cannot hold a float activation in place). */
static int finish_inplace(lua_State *L, const char *fname) {
    gids_tensor *a = l_checktensor(L, 1), *r = l_checktensor(L, -1);
    if (r->dtype != a->dtype)
        luaL_error(L,
                   "%s: the result has dtype %s and cannot be written in place into a tensor of "
                   "dtype %s",
                   fname, gids_dtype_name(r->dtype), gids_dtype_name(a->dtype));
    l_check_status_as(L, gids_copy_(a, r), fname, "copy_");
    lua_pushvalue(L, 1);
    return 1;
}

static double optnumber_arg(lua_State *L, int i, double def, const char *fname, const char *what) {
    if (lua_isnoneornil(L, i)) return def;
    if (lua_type(L, i) != LUA_TNUMBER)
        luaL_error(L, "%s: %s (argument #%d) must be a number, got %s", fname, what, i,
                   luaL_typename(L, i));
    return (double)lua_tonumber(L, i);
}

/* leaky_relu(x, negative_slope=0.01) */
static int leaky_common(lua_State *L, bool inplace) {
    const char *fname = inplace ? "leaky_relu_" : "leaky_relu";
    gids_tensor *a = l_checktensor(L, 1);
    l_checkend(L, 2, fname);
    double slope = optnumber_arg(L, 2, 0.01, fname, "negative_slope");
    if (inplace) l_check_inplace(L, fname, a, 0, NULL);
    l_tensor *out = l_newtensor(L);
    l_check_as(L, gids_ag_leaky_relu(&out->t, a, slope), fname, "leaky_relu");
    return inplace ? finish_inplace(L, fname) : 1;
}

static int l_leaky_relu(lua_State *L) {
    return leaky_common(L, false);
}
static int l_leaky_relu_(lua_State *L) {
    return leaky_common(L, true);
}

/* elu(x, alpha=1) */
static int elu_common(lua_State *L, bool inplace) {
    const char *fname = inplace ? "elu_" : "elu";
    gids_tensor *a = l_checktensor(L, 1);
    l_checkend(L, 2, fname);
    double alpha = optnumber_arg(L, 2, 1.0, fname, "alpha");
    if (inplace) l_check_inplace(L, fname, a, 0, NULL);
    l_tensor *out = l_newtensor(L);
    l_check_as(L, gids_ag_elu(&out->t, a, alpha), fname, "elu");
    return inplace ? finish_inplace(L, fname) : 1;
}

static int l_elu(lua_State *L) {
    return elu_common(L, false);
}
static int l_elu_(lua_State *L) {
    return elu_common(L, true);
}

/* softplus(x, {beta=1, threshold=20}) */
static int l_softplus(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1);
    static const char *const allowed[] = {"beta", "threshold", NULL};
    l_checkopts(L, 2, "softplus", allowed);
    l_checkend(L, 2, "softplus");
    double beta = l_optnum(L, 2, "beta", 1.0), threshold = l_optnum(L, 2, "threshold", 20.0);
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_softplus(&out->t, a, beta, threshold));
    return 1;
}

/* layer_norm(x, ndims, weight, bias, eps): over the last ndims dims; weight and bias may be
 * nil, eps defaults to 1e-5 (nn.functional.layer_norm checks the shapes by name first). */
static int l_layer_norm(lua_State *L) {
    gids_tensor *x = l_checktensor(L, 1);
    lua_Integer ndims = luaL_checkinteger(L, 2);
    gids_tensor *w = lua_isnoneornil(L, 3) ? NULL : l_checktensor(L, 3);
    gids_tensor *b = lua_isnoneornil(L, 4) ? NULL : l_checktensor(L, 4);
    double eps = luaL_optnumber(L, 5, 1e-5);
    l_checkend(L, 5, "layer_norm");
    if (ndims < 1 || ndims > GIDS_MAX_DIMS)
        luaL_error(L, "layer_norm: ndims (argument #2) must be in 1..%d, got %I", GIDS_MAX_DIMS,
                   ndims);
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_layer_norm(&out->t, x, (int)ndims, w, b, eps));
    return 1;
}

/* clamp(x, min, max): a nil bound is absent. */
static int clamp_common(lua_State *L, bool inplace) {
    const char *fname = inplace ? "clamp_" : "clamp";
    gids_tensor *a = l_checktensor(L, 1);
    l_checkend(L, 3, fname);
    gids_scalar lo, hi;
    const gids_scalar *plo = NULL, *phi = NULL;
    for (int i = 2; i <= 3; i++) {
        if (lua_isnoneornil(L, i)) continue;
        if (lua_type(L, i) != LUA_TNUMBER)
            luaL_error(L, "%s: %s (argument #%d) must be a number or nil, got %s", fname,
                       i == 2 ? "min" : "max", i, luaL_typename(L, i));
        if (i == 2)
            plo = (lo = l_checkscalar(L, i), &lo);
        else
            phi = (hi = l_checkscalar(L, i), &hi);
    }
    if (inplace) l_check_inplace(L, fname, a, 0, NULL);
    l_tensor *out = l_newtensor(L);
    l_check_as(L, gids_ag_clamp(&out->t, a, plo, phi), fname, "clamp");
    return inplace ? finish_inplace(L, fname) : 1;
}

static int l_clamp(lua_State *L) {
    return clamp_common(L, false);
}
static int l_clamp_(lua_State *L) {
    return clamp_common(L, true);
}

/* The value at i as a tensor (BORROW): a tensor as is, a number as a 0-d tensor of the dtype a
 * Python scalar would take next to `other` (NULL: i64 for integers, f32 for floats). */
static gids_tensor *tensor_or_number(lua_State *L, int i, const gids_tensor *other, gids_device dev,
                                     const char *fname) {
    gids_scalar s = gids_scalar_i(0);
    gids_tensor *t = operand(L, i, &s, dev, fname);
    if (t) return t;
    gids_dtype dt = s.is_int ? GIDS_I64 : GIDS_F32;
    if (other) {
        dt = other->dtype;
        if (!s.is_int && !gids_dtype_is_float(dt)) dt = GIDS_F32;
        if (s.is_int && dt == GIDS_BOOL) dt = GIDS_I64;
    }
    l_tensor *z = l_newtensor(L);
    int64_t unused = 1; /* a number that does not fit the other's integer dtype names fname */
    l_check_status_as(L, gids_full(&z->t, dt, dev, 0, &unused, s), fname, "full");
    lua_replace(L, i);
    return z->t;
}

/* where(cond, x, y): x and y may be numbers. */
static int l_where(lua_State *L) {
    gids_tensor *cond = l_checktensor(L, 1);
    l_checkend(L, 3, "where");
    gids_tensor *a = l_testtensor(L, 2) ? l_checktensor(L, 2) : NULL;
    gids_tensor *b = l_testtensor(L, 3) ? l_checktensor(L, 3) : NULL;
    gids_device dev = gids_tensor_device(cond); /* numbers join the condition's device */
    if (!a) a = tensor_or_number(L, 2, b, dev, "where");
    if (!b) b = tensor_or_number(L, 3, a, dev, "where");
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_where(&out->t, cond, a, b));
    return 1;
}

/* ---------------------------------------------------------------- equal, allclose */
/* Element 0 of t as a double (gids_tensor_get reads a device tensor through the CPU). */
static double first_value(lua_State *L, gids_tensor *t) {
    double v = 0;
    l_check(L, gids_tensor_get(t, 0, &v));
    return v;
}

/* Whether the 0-d bool at the top of the stack is true; pops it. */
static bool pop_truth(lua_State *L) {
    bool r = first_value(L, l_checktensor(L, -1)) != 0;
    lua_pop(L, 1);
    return r;
}

static bool tensors_equal(lua_State *L, gids_tensor *a, gids_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    l_tensor *eq = l_newtensor(L);
    l_check(L, gids_binary(&eq->t, GIDS_EQ, a, b));
    l_tensor *all = l_newtensor(L);
    l_check(L, gids_reduce(&all->t, GIDS_ALL, eq->t, 0, NULL, false));
    bool r = pop_truth(L);
    lua_pop(L, 1);
    return r;
}

/* Two tensors compared by fname are on one device (else the inner op's message would name it). */
static void same_device(lua_State *L, const gids_tensor *a, const gids_tensor *b,
                        const char *fname) {
    gids_device da = a->storage->device, db = b->storage->device;
    if (da.type != db.type || da.index != db.index) {
        char x[32], y[32];
        luaL_error(L, "%s: tensors on different devices (%s and %s)", fname,
                   gids_device_str(da, x, sizeof x), gids_device_str(db, y, sizeof y));
    }
}

/* equal(a, b): same shape and every element equal (NaN is never equal). */
static int l_equal(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1), *b = l_checktensor(L, 2);
    l_checkend(L, 2, "equal");
    same_device(L, a, b, "equal");
    lua_pushboolean(L, tensors_equal(L, a, b));
    return 1;
}

/* allclose(a, b, {rtol=1e-5, atol=1e-8, equal_nan=false}): |a - b| <= atol + rtol * |b|
 * elementwise (broadcasting), with equal infinities close, as torch.allclose. */
static int l_allclose(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1), *b = l_checktensor(L, 2);
    static const char *const allowed[] = {"rtol", "atol", "equal_nan", NULL};
    l_checkopts(L, 3, "allclose", allowed);
    l_checkend(L, 3, "allclose");
    same_device(L, a, b, "allclose");
    double rtol = l_optnum(L, 3, "rtol", 1e-5), atol = l_optnum(L, 3, "atol", 1e-8);
    int equal_nan = l_optbool(L, 3, "equal_nan", 0);
    lua_settop(L, 3);
    /* Compare in f64 so integer and bool inputs need no special case. */
    l_tensor *x = l_newtensor(L), *y = l_newtensor(L);
    l_check(L, gids_to_dtype(&x->t, a, GIDS_F64));
    l_check(L, gids_to_dtype(&y->t, b, GIDS_F64));
    l_tensor *diff = l_newtensor(L);
    gids_status st = gids_binary(&diff->t, GIDS_SUB, x->t, y->t);
    if (st == GIDS_ENOMEM) {
        l_collect(L);
        st = gids_binary(&diff->t, GIDS_SUB, x->t, y->t);
    }
    l_check_status_as(L, st, "allclose", "sub"); /* shapes that do not broadcast: allclose's */
    l_check(L, gids_unary_into(diff->t, GIDS_ABS, diff->t));
    l_tensor *tol = l_newtensor(L);
    l_check(L, gids_unary(&tol->t, GIDS_ABS, y->t));
    l_check(L, gids_binary_scalar_into(tol->t, GIDS_MUL, tol->t, gids_scalar_f(rtol), false));
    l_check(L, gids_binary_scalar_into(tol->t, GIDS_ADD, tol->t, gids_scalar_f(atol), false));
    l_tensor *close = l_newtensor(L);
    l_check(L, gids_binary(&close->t, GIDS_LE, diff->t, tol->t));
    l_tensor *same = l_newtensor(L);
    l_check(L, gids_binary(&same->t, GIDS_EQ, x->t, y->t));
    l_tensor *ok = l_newtensor(L);
    l_check(L, gids_binary(&ok->t, GIDS_LOGICAL_OR, close->t, same->t));
    if (equal_nan) {
        l_tensor *nx = l_newtensor(L), *ny = l_newtensor(L);
        l_check(L, gids_unary(&nx->t, GIDS_ISNAN, x->t));
        l_check(L, gids_unary(&ny->t, GIDS_ISNAN, y->t));
        l_check(L, gids_binary_into(nx->t, GIDS_LOGICAL_AND, nx->t, ny->t));
        l_check(L, gids_binary_into(ok->t, GIDS_LOGICAL_OR, ok->t, nx->t));
    }
    l_tensor *all = l_newtensor(L);
    l_check(L, gids_reduce(&all->t, GIDS_ALL, ok->t, 0, NULL, false));
    lua_pushboolean(L, pop_truth(L));
    return 1;
}

/* ---------------------------------------------------------------- metamethods */
static int mm_binop(lua_State *L) {
    gids_binop op = (gids_binop)lua_tointeger(L, lua_upvalueindex(1));
    if (op == GIDS_SUB) check_sub(L, 1, 2, "sub");
    push_binary(L, op, 1, 2, gids_binop_name(op));
    return 1;
}

static int mm_idiv(lua_State *L) {
    lua_settop(L, 2);
    return l_floor_divide(L);
}

/* Lua passes the operand twice to __unm. */
static int mm_unm(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1);
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_unary(&out->t, GIDS_NEG, a));
    return 1;
}

/* __eq: Lua calls it only for two userdata; a non-tensor userdata is never equal. */
static int mm_eq(lua_State *L) {
    if (!l_testtensor(L, 1) || !l_testtensor(L, 2)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_pushboolean(L, tensors_equal(L, l_checktensor(L, 1), l_checktensor(L, 2)));
    return 1;
}

/* The value of a number or a one-element tensor for < and <=. */
static double order_value(lua_State *L, int i, const char *sym) {
    if (lua_type(L, i) == LUA_TNUMBER) return (double)lua_tonumber(L, i);
    gids_tensor *t = l_testtensor(L, i) ? l_checktensor(L, i) : NULL;
    if (!t) {
        luaL_error(L, "Tensor %s: cannot compare a tensor with %s", sym, luaL_typename(L, i));
        return 0; /* not reached: luaL_error raises */
    }
    if (gids_tensor_numel(t) != 1) {
        char buf[160];
        gids_shape_str(t->ndim, t->shape, buf, sizeof buf);
        luaL_error(L,
                   "Tensor %s: only single-element tensors can be ordered, got shape %s; use "
                   "a:%s(b) for an elementwise comparison",
                   sym, buf, sym[1] == '=' ? "le" : "lt");
    }
    return first_value(L, t);
}

static int mm_lt(lua_State *L) {
    double a = order_value(L, 1, "<"), b = order_value(L, 2, "<");
    lua_pushboolean(L, a < b);
    return 1;
}

static int mm_le(lua_State *L) {
    double a = order_value(L, 1, "<="), b = order_value(L, 2, "<=");
    lua_pushboolean(L, a <= b);
    return 1;
}

/* ---------------------------------------------------------------- registration */
/* Sets fn (on the top of the stack) as field `name` of module and methods; pops it. */
static void set_both(lua_State *L, int module, int methods, const char *name) {
    lua_pushvalue(L, -1);
    lua_setfield(L, module, name);
    lua_setfield(L, methods, name);
}

static const gids_binop binops[] = {
    GIDS_MUL,   GIDS_POW,         GIDS_MAXIMUM,    GIDS_MINIMUM,     GIDS_FMOD, GIDS_REMAINDER,
    GIDS_ATAN2, GIDS_EQ,          GIDS_NE,         GIDS_LT,          GIDS_LE,   GIDS_GT,
    GIDS_GE,    GIDS_LOGICAL_AND, GIDS_LOGICAL_OR, GIDS_LOGICAL_XOR,
};
/* In-place forms (methods only). */
static const gids_binop binops_[] = {
    GIDS_MUL, GIDS_POW, GIDS_FMOD, GIDS_REMAINDER, GIDS_ATAN2,
};

static const gids_unop unops[] = {
    GIDS_NEG,   GIDS_ABS,   GIDS_SIGN,     GIDS_EXP,   GIDS_EXPM1,   GIDS_LOG,
    GIDS_LOG1P, GIDS_LOG2,  GIDS_SQRT,     GIDS_RSQRT, GIDS_SQUARE,  GIDS_RECIPROCAL,
    GIDS_SIN,   GIDS_COS,   GIDS_TAN,      GIDS_TANH,  GIDS_SIGMOID, GIDS_RELU,
    GIDS_SILU,  GIDS_FLOOR, GIDS_CEIL,     GIDS_ROUND, GIDS_TRUNC,   GIDS_LOGICAL_NOT,
    GIDS_ISNAN, GIDS_ISINF, GIDS_ISFINITE,
};
static const gids_unop unops_[] = {
    GIDS_NEG,   GIDS_ABS,   GIDS_SIGN, GIDS_EXP,   GIDS_EXPM1,   GIDS_LOG,
    GIDS_LOG1P, GIDS_LOG2,  GIDS_SQRT, GIDS_RSQRT, GIDS_SQUARE,  GIDS_RECIPROCAL,
    GIDS_SIN,   GIDS_COS,   GIDS_TAN,  GIDS_TANH,  GIDS_SIGMOID, GIDS_RELU,
    GIDS_SILU,  GIDS_FLOOR, GIDS_CEIL, GIDS_ROUND, GIDS_TRUNC,
};

static const luaL_Reg funcs[] = {
    {"add", l_add},
    {"sub", l_sub},
    {"div", l_div},
    {"floor_divide", l_floor_divide},
    {"gelu", l_gelu},
    {"leaky_relu", l_leaky_relu},
    {"elu", l_elu},
    {"softplus", l_softplus},
    {"clamp", l_clamp},
    {"where", l_where},
    {"layer_norm", l_layer_norm},
    {"equal", l_equal},
    {"allclose", l_allclose},
    {"result_type", l_result_type},
    {NULL, NULL},
};

static const luaL_Reg inplace_methods[] = {
    {"add_", l_add_},
    {"sub_", l_sub_},
    {"div_", l_div_},
    {"gelu_", l_gelu_},
    {"leaky_relu_", l_leaky_relu_},
    {"elu_", l_elu_},
    {"clamp_", l_clamp_},
    {NULL, NULL},
};

static const struct {
    const char *name;
    gids_binop op;
} meta_binops[] = {
    {"__add", GIDS_ADD}, {"__sub", GIDS_SUB},       {"__mul", GIDS_MUL},
    {"__div", GIDS_DIV}, {"__mod", GIDS_REMAINDER}, {"__pow", GIDS_POW},
};

void l_open_elementwise(lua_State *L, int module, int methods) {
    char name[64];
    for (size_t i = 0; i < sizeof binops / sizeof binops[0]; i++) {
        lua_pushinteger(L, binops[i]);
        lua_pushcclosure(L, l_binop, 1);
        set_both(L, module, methods, gids_binop_name(binops[i]));
    }
    for (size_t i = 0; i < sizeof binops_ / sizeof binops_[0]; i++) {
        snprintf(name, sizeof name, "%s_", gids_binop_name(binops_[i]));
        lua_pushinteger(L, binops_[i]);
        lua_pushstring(L, name);
        lua_pushcclosure(L, l_binop_, 2);
        lua_setfield(L, methods, name);
    }
    for (size_t i = 0; i < sizeof unops / sizeof unops[0]; i++) {
        lua_pushinteger(L, unops[i]);
        lua_pushcclosure(L, l_unop, 1);
        set_both(L, module, methods, gids_unop_name(unops[i]));
    }
    for (size_t i = 0; i < sizeof unops_ / sizeof unops_[0]; i++) {
        snprintf(name, sizeof name, "%s_", gids_unop_name(unops_[i]));
        lua_pushinteger(L, unops_[i]);
        lua_pushstring(L, name);
        lua_pushcclosure(L, l_unop_, 2);
        lua_setfield(L, methods, name);
    }
    l_setfuncs(L, module, funcs);
    l_setfuncs(L, methods, funcs);
    l_setfuncs(L, methods, inplace_methods);

    luaL_getmetatable(L, L_TENSOR_MT);
    int mt = lua_gettop(L);
    for (size_t i = 0; i < sizeof meta_binops / sizeof meta_binops[0]; i++) {
        lua_pushinteger(L, meta_binops[i].op);
        lua_pushcclosure(L, mm_binop, 1);
        lua_setfield(L, mt, meta_binops[i].name);
    }
    static const luaL_Reg meta[] = {
        {"__idiv", mm_idiv}, {"__unm", mm_unm}, {"__eq", mm_eq},
        {"__lt", mm_lt},     {"__le", mm_le},   {NULL, NULL},
    };
    l_setfuncs(L, mt, meta);
    lua_pop(L, 1);
}
