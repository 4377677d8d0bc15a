/* l_function.c -- custom autograd Functions written in Lua (graphids.autograd.Function).
 *
 *   local Exp = graphids.autograd.Function {
 *     name = "MyExp",
 *     forward = function(ctx, x) local y = x:exp(); ctx:save_for_backward(y); return y end,
 *     backward = function(ctx, g) local y = table.unpack(ctx.saved_tensors); return g * y end,
 *   }
 *   local y = Exp(x)            -- y.grad_fn == "MyExpBackward"
 *
 * A call that records gets one node whose C backward (fn_backward) calls the Lua backward on
 * the Lua thread running the backward (l_current_backward).  The node keeps the call's Lua
 * values alive through one registry reference, dropped when the node dies.
 */
#include <stdarg.h>
#include <string.h>

#include "l_impl.h"

/* Each call of a Function that records gets a state table S (an array; the registry reference
 * of the node holds it): */
enum {
    S_FUNCTION = 1, /* the Function table (its name and backward) */
    S_CTX,          /* the ctx passed to forward and backward */
    S_NODE_NAME,    /* "<name>Backward": the node's name points into this string */
    S_NODE,         /* the node (light userdata) once recorded; false once it died */
    S_NSAVED,       /* how many values save_for_backward got */
    S_SAVED,        /* S_SAVED + i: saved value i before recording; then whether it was a tensor */
    S_SIZE = S_SAVED + 8
};

/* ctx -> S, with weak keys: S lives while its ctx does (or its node holds it). */
static const char states_key = 's';
static const char ctx_mt_key = 'c';

typedef struct out_info {
    int32_t ndim; /* -1: not a differentiable output (not a float tensor) */
    gids_dtype dtype;
    gids_device device; /* where a zero gradient for it is made */
    int64_t shape[GIDS_MAX_DIMS];
} out_info;

/* The node's context: out_info[nout] and is_tensor[nin] follow it. */
typedef struct fn_ctx {
    lua_State *main; /* to drop the registry reference when the node dies */
    int state_ref;
    int nin, nout;
} fn_ctx;

static out_info *fn_outs(fn_ctx *c) {
    return (out_info *)(c + 1);
}
static bool *fn_is_tensor(fn_ctx *c) {
    return (bool *)(fn_outs(c) + c->nout);
}

/* Runs when the node dies, possibly inside a __gc: only calls that cannot raise (slots that
 * exist already), on the main thread of the state that recorded it. */
static void fn_ctx_free(void *p) {
    fn_ctx *c = p;
    if (c->main == NULL || !lua_checkstack(c->main, 2)) return;
    lua_State *L = c->main;
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->state_ref);
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_pushboolean(L, 0);
        lua_rawseti(L, -2, S_NODE);
    }
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, c->state_ref);
}

/* Pushes S of the ctx at idx (a ctx of a Function call) or raises. */
static void push_state(lua_State *L, int idx, const char *fname) {
    idx = lua_absindex(L, idx);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &states_key);
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) != LUA_TTABLE)
        l_error(L, "%s: expected the ctx of a Function call, got %s", fname, luaL_typename(L, idx));
    lua_remove(L, -2);
}

/* ctx:save_for_backward(t1, ...): tensors (or nil) for backward, at most 8. */
static int ctx_save_for_backward(lua_State *L) {
    int n = lua_gettop(L) - 1;
    push_state(L, 1, "save_for_backward");
    int s = lua_gettop(L);
    if (lua_rawgeti(L, s, S_NODE) != LUA_TNIL)
        return l_error(L, "save_for_backward: call it in forward, not after");
    lua_pop(L, 1);
    if (n > S_SIZE - S_SAVED)
        return l_error(L, "save_for_backward: at most %d tensors, got %d", S_SIZE - S_SAVED, n);
    for (int i = 0; i < S_SIZE - S_SAVED; i++) {
        if (i < n && !lua_isnil(L, i + 2) && l_totensor(L, i + 2) == NULL)
            return l_error(L, "save_for_backward: argument #%d must be a Tensor or nil, got %s",
                           i + 2,
                           l_testtensor(L, i + 2) ? "a freed tensor" : luaL_typename(L, i + 2));
        if (i < n)
            lua_pushvalue(L, i + 2);
        else
            lua_pushnil(L);
        lua_rawseti(L, s, S_SAVED + i);
    }
    lua_pushinteger(L, n);
    lua_rawseti(L, s, S_NSAVED);
    return 0;
}

/* ctx.saved_tensors: a list of what save_for_backward got; once the node is recorded they come
 * from the node, checked against in-place changes since they were saved. */
static void push_saved(lua_State *L, int s) {
    lua_rawgeti(L, s, S_NSAVED);
    int n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    int node_type = lua_rawgeti(L, s, S_NODE);
    gids_node *node = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (node_type == LUA_TBOOLEAN)
        l_error(L, "saved_tensors: the graph of this Function call was released");
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, s, S_SAVED + i);
        if (node != NULL) {
            bool saved = lua_toboolean(L, -1);
            lua_pop(L, 1);
            if (!saved) {
                lua_pushnil(L);
                lua_rawseti(L, -2, i + 1);
                continue;
            }
            const gids_tensor *t = NULL;
            l_check_status(L, gids_node_saved(node, i, &t));
            l_tensor *u = l_newtensor(L);
            gids_tensor_retain((gids_tensor *)t);
            u->t = (gids_tensor *)t;
        }
        lua_rawseti(L, -2, i + 1);
    }
}

static int ctx_index(lua_State *L) {
    const char *k = lua_tostring(L, 2);
    if (k != NULL && strcmp(k, "saved_tensors") == 0) {
        push_state(L, 1, "saved_tensors");
        push_saved(L, lua_gettop(L));
        return 1;
    }
    if (k != NULL && strcmp(k, "save_for_backward") == 0) {
        lua_pushcfunction(L, ctx_save_for_backward);
        return 1;
    }
    return 0;
}

/* ---- backward of a Function: the engine calls fn_backward, which runs pbackward protected */
typedef struct bwd_args {
    gids_node *node;
    fn_ctx *c;
    gids_tensor *const *grad_out;
    gids_tensor **grad_in;
} bwd_args;

/* Raises "<name>.backward: <message>". */
static int backward_error(lua_State *L, const char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lua_pushfstring(L, "%s.backward: ", name);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    return lua_error(L);
}

/* Checks gradient j (at idx) of a Lua backward; returns it, or NULL where it adds nothing. */
static gids_tensor *check_grad(lua_State *L, bwd_args *a, int j, int idx, const char *name) {
    if (lua_isnil(L, idx)) return NULL;
    gids_tensor *g = l_totensor(L, idx);
    if (g == NULL)
        backward_error(L, name, "gradient %d must be a Tensor or nil, got %s", j + 1,
                       l_testtensor(L, idx) ? "a freed tensor" : luaL_typename(L, idx));
    if (!fn_is_tensor(a->c)[j])
        backward_error(L, name, "gradient %d must be nil: argument %d of forward is not a tensor",
                       j + 1, j + 1);
    if (!gids_node_needs_grad(a->node, j)) return NULL;
    gids_device on = gids_node_input_device(a->node, j);
    if (!gids_device_eq(gids_tensor_device(g), on)) {
        char got[32], exp[32];
        backward_error(L, name, "gradient %d is on %s, expected %s (argument %d's device)", j + 1,
                       gids_device_str(gids_tensor_device(g), got, sizeof got),
                       gids_device_str(on, exp, sizeof exp), j + 1);
    }
    int ndim;
    const int64_t *shape;
    gids_node_input_shape(a->node, j, &ndim, &shape);
    bool same = g->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = g->shape[d] == shape[d];
    if (!same) {
        char got[160], want[160];
        backward_error(L, name, "gradient %d has shape %s, expected %s (argument %d's)", j + 1,
                       gids_shape_str(g->ndim, g->shape, got, sizeof got),
                       gids_shape_str(ndim, shape, want, sizeof want), j + 1);
    }
    return g;
}

static int pbackward(lua_State *L) {
    bwd_args *a = lua_touserdata(L, 1);
    fn_ctx *c = a->c;
    luaL_checkstack(L, c->nout + c->nin + 8, "Function backward");
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->state_ref);
    int s = lua_gettop(L);
    lua_rawgeti(L, s, S_FUNCTION);
    lua_getfield(L, -1, "name");
    const char *name = lua_tostring(L, -1); /* kept alive on the stack */
    if (name == NULL) name = "Function";
    lua_getfield(L, s + 1, "backward");
    int base = lua_gettop(L); /* the Lua backward */
    lua_rawgeti(L, s, S_CTX);
    const out_info *outs = fn_outs(c);
    for (int k = 0; k < c->nout; k++) {
        if (outs[k].ndim < 0) {
            lua_pushnil(L);
            continue;
        }
        l_tensor *u = l_newtensor(L);
        if (a->grad_out[k] != NULL) {
            gids_tensor_retain(a->grad_out[k]);
            u->t = a->grad_out[k];
        } else { /* no path from the root reached output k: its gradient is zero */
            l_check(L,
                    gids_zeros(&u->t, outs[k].dtype, outs[k].device, outs[k].ndim, outs[k].shape));
        }
    }
    if (lua_pcall(L, c->nout + 1, LUA_MULTRET, 0) != LUA_OK)
        return backward_error(L, name, "%s", luaL_tolstring(L, -1, NULL));
    int got = lua_gettop(L) - base + 1;
    if (got != c->nin)
        return backward_error(L, name,
                              "returned %d gradient(s), expected %d (one per argument of "
                              "forward; nil where none)",
                              got, c->nin);
    for (int j = 0; j < c->nin; j++) check_grad(L, a, j, base + j, name);
    /* Only now hand the gradients over: nothing below raises a Lua error. */
    gids_status st = GIDS_OK;
    for (int j = 0; j < c->nin && st == GIDS_OK; j++) {
        gids_tensor *g = check_grad(L, a, j, base + j, name);
        if (g == NULL) continue;
        gids_dtype want = gids_node_input_dtype(a->node, j);
        if (g->dtype == want) {
            gids_tensor_retain(g);
            a->grad_in[j] = g;
        } else {
            st = gids_to_dtype(&a->grad_in[j], g, want);
        }
    }
    if (st != GIDS_OK) return backward_error(L, name, "%s", gids_error_message());
    return 0;
}

static gids_status fn_backward(gids_node *node, gids_tensor *const *grad_out,
                               gids_tensor **grad_in) {
    fn_ctx *c = gids_node_ctx(node);
    l_bwd_call *call = l_current_backward();
    if (call == NULL || call->main != c->main)
        GIDS_FAIL(GIDS_ESTATE,
                  "%s: the backward of a Lua Function runs only from the Lua state that "
                  "recorded it (t:backward(), graphids.autograd.backward or "
                  "graphids.autograd.grad)",
                  gids_node_name(node));
    lua_State *L = call->L;
    if (!lua_checkstack(L, 4))
        GIDS_FAIL(GIDS_ENOMEM, "%s: no room on the Lua stack", gids_node_name(node));
    bwd_args a = {node, c, grad_out, grad_in};
    lua_pushcfunction(L, pbackward);
    lua_pushlightuserdata(L, &a);
    /* Formulas run the plain ops; a Lua backward must not record either. */
    bool prev = gids_set_grad_enabled(false);
    int rc = lua_pcall(L, 1, 0, 0);
    gids_set_grad_enabled(prev);
    if (rc == LUA_OK) return GIDS_OK;
    call->err_at = lua_gettop(L); /* stays there until run_backward raises it */
    const char *msg = lua_tostring(L, -1);
    GIDS_FAIL(GIDS_ESTATE, "%s", msg != NULL ? msg : "a Function's backward failed");
}

/* ---- apply */

/* Records the node of a call whose forward left its nout results from `first` on: float
 * tensors among them become the node's outputs, each replaced by a fresh alias so that an
 * input returned as it is does not turn into a non-leaf. */
static void record(lua_State *L, int s, int nin, const gids_tensor *const *ins, int first,
                   int nout) {
    gids_tensor **outs = lua_newuserdatauv(L, sizeof(*outs) * (size_t)(nout > 0 ? nout : 1), 0);
    for (int k = 0; k < nout; k++) {
        gids_tensor *t = l_totensor(L, first + k);
        outs[k] = NULL;
        if (t == NULL || !gids_dtype_is_float(t->dtype)) continue;
        l_tensor *u = l_newtensor(L);
        l_check(L, gids_detach(&u->t, t));
        lua_replace(L, first + k);
        outs[k] = u->t;
    }
    lua_rawgeti(L, s, S_NODE_NAME);
    const char *node_name = lua_tostring(L, -1); /* S keeps it alive, S outlives the node */
    lua_pop(L, 1);
    lua_pushvalue(L, s);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    size_t size = sizeof(fn_ctx) + sizeof(out_info) * (size_t)nout + sizeof(bool) * (size_t)nin;
    gids_node *node = NULL;
    gids_status st =
        gids_node_record(&node, node_name, fn_backward, nin, ins, nout, outs, size, fn_ctx_free);
    if (st != GIDS_OK) {
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        l_check_status(L, st);
    }
    fn_ctx *c = gids_node_ctx(node);
    c->main = l_main_thread(L);
    c->state_ref = ref;
    c->nin = nin;
    c->nout = nout;
    for (int k = 0; k < nout; k++) {
        out_info *o = &fn_outs(c)[k];
        o->ndim = outs[k] != NULL ? outs[k]->ndim : -1;
        if (outs[k] == NULL) continue;
        o->dtype = outs[k]->dtype;
        o->device = gids_tensor_device(outs[k]);
        memcpy(o->shape, outs[k]->shape, sizeof o->shape);
    }
    for (int j = 0; j < nin; j++) fn_is_tensor(c)[j] = ins[j] != NULL;
    /* The saved values move into the node, which checks their versions at backward. */
    lua_rawgeti(L, s, S_NSAVED);
    int nsaved = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    for (int i = 0; i < nsaved && st == GIDS_OK; i++) {
        lua_rawgeti(L, s, S_SAVED + i);
        gids_tensor *t = l_totensor(L, -1);
        lua_pop(L, 1);
        if (t != NULL) st = gids_node_save(node, i, t);
        lua_pushboolean(L, t != NULL);
        lua_rawseti(L, s, S_SAVED + i);
    }
    lua_pushlightuserdata(L, node);
    lua_rawseti(L, s, S_NODE);
    gids_node_release(node);
    lua_pop(L, 1); /* outs */
    l_check_status(L, st);
}

/* F(...) / F.apply(...): upvalue 1 is F, 2 its node name.  The arguments start at `first`. */
static int apply(lua_State *L, int first) {
    int nin = lua_gettop(L) - first + 1;
    luaL_checkstack(L, nin + 24, "Function");
    const gids_tensor **ins = lua_newuserdatauv(L, sizeof(*ins) * (size_t)(nin > 0 ? nin : 1), 0);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_getfield(L, -1, "name");
    const char *name = lua_tostring(L, -1);
    lua_pop(L, 2);
    for (int j = 0; j < nin; j++) {
        ins[j] = l_totensor(L, first + j);
        if (ins[j] == NULL && l_testtensor(L, first + j))
            return l_error(L, "%s: argument #%d is a freed tensor", name, j + 1);
    }
    bool rec = gids_ag_should_record(nin, ins);
    lua_createtable(L, 0, 2); /* ctx */
    int ctx = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_mt_key);
    lua_setmetatable(L, ctx);
    lua_createtable(L, nin, 0);
    for (int j = 0; j < nin; j++) {
        lua_pushboolean(L, rec && ins[j] != NULL && gids_requires_grad(ins[j]));
        lua_rawseti(L, -2, j + 1);
    }
    lua_setfield(L, ctx, "needs_input_grad");
    lua_createtable(L, S_SIZE, 0); /* S: its array part holds every slot, so writes into it
                                      never allocate (fn_ctx_free relies on it) */
    int s = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_rawseti(L, s, S_FUNCTION);
    lua_pushvalue(L, ctx);
    lua_rawseti(L, s, S_CTX);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_rawseti(L, s, S_NODE_NAME);
    lua_pushinteger(L, 0);
    lua_rawseti(L, s, S_NSAVED);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &states_key);
    lua_pushvalue(L, ctx);
    lua_pushvalue(L, s);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    /* forward(ctx, ...) without recording; the mode comes back even when it raises */
    lua_getfield(L, lua_upvalueindex(1), "forward");
    int fwd = lua_gettop(L);
    lua_pushvalue(L, ctx);
    for (int j = 0; j < nin; j++) lua_pushvalue(L, first + j);
    bool prev = gids_set_grad_enabled(false);
    int rc = lua_pcall(L, nin + 1, LUA_MULTRET, 0);
    gids_set_grad_enabled(prev);
    if (rc != LUA_OK) return lua_error(L);
    int nout = lua_gettop(L) - fwd + 1;
    if (rec) record(L, s, nin, ins, fwd, nout);
    return nout;
}

static int fn_apply(lua_State *L) {
    return apply(L, 1);
}
/* __call(F, ...) */
static int fn_call(lua_State *L) {
    return apply(L, 2);
}

static int fn_tostring(lua_State *L) {
    lua_getfield(L, 1, "name");
    lua_pushfstring(L, "graphids.autograd.Function(%s)", lua_tostring(L, -1));
    return 1;
}

/* graphids.autograd.Function{forward = fn(ctx, ...), backward = fn(ctx, grad_out...), name =}
 * -> F, callable; F.apply is the same call. */
static int a_function(lua_State *L) {
    l_checkend(L, 1, "Function");
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const allowed[] = {"forward", "backward", "name", NULL};
    l_checkopts(L, 1, "Function", allowed);
    static const char *const fns[] = {"forward", "backward"};
    for (int i = 0; i < 2; i++)
        if (lua_getfield(L, 1, fns[i]) != LUA_TFUNCTION)
            return l_error(L, "Function: field '%s' must be a function, got %s", fns[i],
                           luaL_typename(L, -1));
    const char *name = l_optstr_named(L, 1, "name", "Function", "Function");
    lua_settop(L, 1);
    lua_createtable(L, 0, 4);
    int f = lua_gettop(L);
    lua_getfield(L, 1, "forward");
    lua_setfield(L, f, "forward");
    lua_getfield(L, 1, "backward");
    lua_setfield(L, f, "backward");
    lua_pushstring(L, name);
    lua_setfield(L, f, "name");
    lua_pushfstring(L, "%sBackward", name);
    int node_name = lua_gettop(L);
    lua_pushvalue(L, f);
    lua_pushvalue(L, node_name);
    lua_pushcclosure(L, fn_apply, 2);
    lua_setfield(L, f, "apply");
    lua_createtable(L, 0, 3); /* F's own metatable: __call needs F and the node name */
    lua_pushvalue(L, f);
    lua_pushvalue(L, node_name);
    lua_pushcclosure(L, fn_call, 2);
    lua_setfield(L, -2, "__call");
    lua_pushcfunction(L, fn_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "graphids.autograd.Function");
    lua_setfield(L, -2, "__name");
    lua_setmetatable(L, f);
    lua_settop(L, f);
    return 1;
}

/* ---------------------------------------------------------------- registration */

void l_open_function(lua_State *L, int autograd) {
    lua_pushcfunction(L, a_function);
    lua_setfield(L, autograd, "Function");

    lua_newtable(L); /* ctx -> S, weak keys */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &states_key);

    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, ctx_index);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "graphids.autograd.Context");
    lua_setfield(L, -2, "__name");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ctx_mt_key);
}
