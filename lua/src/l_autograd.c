/* l_autograd.c -- the Lua side of autograd: the Tensor fields requires_grad, grad, grad_fn and
 * is_leaf; t:requires_grad_(), t:backward(), t:detach(); grad and anomaly modes and
 * graphids.autograd.backward.  Custom Functions are in l_function.c.
 *
 *   local x = graphids.randn(3, {requires_grad = true})
 *   (x * x):sum():backward()                       -- x.grad is 2x
 *   graphids.no_grad(function() x:sub_(x.grad * 0.1) end)
 *
 * The backward of a custom Function calls into Lua.  The engine gives that C function no user
 * pointer, so every backward started from Lua publishes the Lua thread it runs on (l_bwd_call)
 * for the duration of the call only.
 */
#include <string.h>

#include "l_impl.h"

/* ---------------------------------------------------------------- backward calls */

/* The backward running on this OS thread; a Lua backward may itself run a backward, so each
 * call restores the one it found. */
static _Thread_local l_bwd_call *current_call;

l_bwd_call *l_current_backward(void) {
    return current_call;
}

lua_State *l_main_thread(lua_State *L) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    lua_State *m = lua_tothread(L, -1);
    lua_pop(L, 1);
    return m;
}

/* A walk of the graph from Lua: backward, or autograd.grad when `inputs` is set. */
typedef struct graph_call {
    int n;
    gids_tensor *const *roots;
    const gids_tensor *const *grads;
    bool retain_graph;
    int ninputs;
    gids_tensor *const *inputs;
    gids_tensor **out;
    bool allow_unused;
} graph_call;

/* Runs the walk; a Lua Function's error is raised as it came, every other failure with the
 * runtime's message.  No retry on ENOMEM: leaves may already hold part of the gradients, and
 * a second run would add them twice. */
static int run_graph(lua_State *L, const graph_call *g) {
    l_bwd_call call = {L, l_main_thread(L), 0};
    l_bwd_call *prev = current_call;
    current_call = &call;
    gids_status s = g->inputs == NULL
                        ? gids_backward_multi(g->n, g->roots, g->grads, g->retain_graph)
                        : gids_autograd_grad(g->n, g->roots, g->grads, g->ninputs, g->inputs,
                                             g->out, g->retain_graph, g->allow_unused);
    current_call = prev;
    if (s == GIDS_OK) l_heap_after_backward(L);
    if (s != GIDS_OK && call.err_at != 0) {
        luaL_where(L, 1);
        lua_pushvalue(L, call.err_at);
        lua_concat(L, 2);
        return lua_error(L);
    }
    return l_check_status(L, s);
}

static int run_backward(lua_State *L, int n, gids_tensor *const *roots,
                        const gids_tensor *const *grads, bool retain_graph) {
    graph_call g = {n, roots, grads, retain_graph, 0, NULL, NULL, false};
    return run_graph(L, &g);
}

static const char *const backward_opts[] = {"retain_graph", NULL};

/* t:backward(grad?, {retain_graph = false}) */
static int t_backward(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    int opts = 3;
    gids_tensor *grad = NULL;
    if (lua_type(L, 2) == LUA_TTABLE && l_testtensor(L, 2) == NULL)
        opts = 2;
    else if (!lua_isnoneornil(L, 2))
        grad = l_checktensor(L, 2);
    l_checkopts(L, opts, "backward", backward_opts);
    l_checkend(L, opts, "backward");
    bool retain = l_optbool(L, opts, "retain_graph", 0);
    const gids_tensor *grads[1] = {grad};
    return run_backward(L, 1, &t, grads, retain);
}

/* t:retain_grad(): a non-leaf keeps its gradient in t.grad from the next backward on. */
static int t_retain_grad(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 1, "retain_grad");
    l_check(L, gids_retain_grad(t));
    return 0;
}

/* The tensors at arg (`what` of fname): one Tensor or a list of 1 to max.  Fills ts (BORROW)
 * and returns their number. */
static int tensor_list(lua_State *L, int arg, gids_tensor **ts, int max, const char *fname,
                       const char *what) {
    if (l_testtensor(L, arg)) {
        ts[0] = l_checktensor(L, arg);
        return 1;
    }
    if (lua_type(L, arg) != LUA_TTABLE)
        return l_error(L, "%s: %s (argument #%d) must be a Tensor or a list of Tensors, got %s",
                       fname, what, arg, luaL_typename(L, arg));
    lua_Integer n = (lua_Integer)lua_rawlen(L, arg);
    if (n < 1 || n > max)
        return l_error(L, "%s: %s: 1 to %d tensors, got %d", fname, what, max, (int)n);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, arg, i);
        ts[i - 1] = l_totensor(L, -1);
        if (ts[i - 1] == NULL)
            return l_error(L, "%s: %s[%d] must be a live Tensor, got %s", fname, what, (int)i,
                           l_testtensor(L, -1) ? "a freed tensor" : luaL_typename(L, -1));
        lua_pop(L, 1); /* the list keeps it alive */
    }
    return (int)n;
}

/* The gradients at arg for n roots: one Tensor (n == 1) or a list read at 1..n, nil where the
 * root's gradient is implied. */
static void grad_list(lua_State *L, int arg, int n, gids_tensor **gs, const char *fname) {
    if (l_testtensor(L, arg) && n == 1) {
        gs[0] = l_checktensor(L, arg);
        return;
    }
    if (lua_type(L, arg) != LUA_TTABLE || l_testtensor(L, arg))
        l_error(L, "%s: grads (argument #%d) must be a list of %d Tensors (nil allowed), got %s",
                fname, arg, n, l_testtensor(L, arg) ? "one Tensor" : luaL_typename(L, arg));
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, arg, i);
        gs[i - 1] = l_totensor(L, -1);
        if (gs[i - 1] == NULL && !lua_isnil(L, -1))
            l_error(L, "%s: grads[%d] must be a live Tensor or nil, got %s", fname, i,
                    l_testtensor(L, -1) ? "a freed tensor" : luaL_typename(L, -1));
        lua_pop(L, 1);
    }
}

/* graphids.autograd.backward(tensors, grads?, {retain_graph = false}): several roots at once.
 * A table without a list part at 2 is the options: backward({a, b}, {retain_graph = true}). */
static int a_backward(lua_State *L) {
    gids_tensor *roots[64], *grads[64] = {NULL};
    int n = tensor_list(L, 1, roots, 64, "backward", "tensors");
    int opts = 3;
    if (lua_type(L, 2) == LUA_TTABLE && lua_rawlen(L, 2) == 0)
        opts = 2; /* (a list of nothing but nils implies every gradient, as the options do) */
    else if (!lua_isnoneornil(L, 2))
        grad_list(L, 2, n, grads, "backward");
    l_checkopts(L, opts, "backward", backward_opts);
    l_checkend(L, opts, "backward");
    bool retain = l_optbool(L, opts, "retain_graph", 0);
    return run_backward(L, n, roots, (const gids_tensor *const *)grads, retain);
}

#define GRAD_MAX_INPUTS 4096

static const char *const grad_opts[] = {"retain_graph", "allow_unused", NULL};

/* graphids.autograd.grad(outputs, inputs, grad_outputs?, {retain_graph=false,
 * allow_unused=false}): the gradients of the outputs with respect to the inputs, touching no
 * .grad.  inputs a Tensor: one Tensor (or nil) back; a list: a list with nil for unused. */
static int a_grad(lua_State *L) {
    gids_tensor *roots[64], *grads[64] = {NULL};
    int n = tensor_list(L, 1, roots, 64, "autograd.grad", "outputs");
    bool one = l_testtensor(L, 2) != NULL;
    size_t ninputs = one ? 1 : lua_type(L, 2) == LUA_TTABLE ? lua_rawlen(L, 2) : 0;
    if (ninputs > GRAD_MAX_INPUTS) ninputs = 0; /* (tensor_list below says what is wrong) */
    int opts = 4;
    if (lua_type(L, 3) == LUA_TTABLE && l_testtensor(L, 3) == NULL && lua_rawlen(L, 3) == 0 &&
        lua_isnone(L, 4))
        opts = 3; /* grad(y, x, {retain_graph = true}) */
    else if (!lua_isnoneornil(L, 3))
        grad_list(L, 3, n, grads, "autograd.grad");
    l_checkopts(L, opts, "autograd.grad", grad_opts);
    l_checkend(L, opts, "autograd.grad");
    bool retain = l_optbool_named(L, opts, "retain_graph", 0, "autograd.grad");
    bool allow_unused = l_optbool_named(L, opts, "allow_unused", 0, "autograd.grad");
    /* the inputs and results, in a userdata that lives on the stack until the call returns */
    gids_tensor **inputs =
        lua_newuserdatauv(L, (ninputs > 0 ? ninputs : 1) * 2 * sizeof *inputs, 0);
    gids_tensor **out = inputs + (ninputs > 0 ? ninputs : 1);
    int got = tensor_list(L, 2, inputs, ninputs > 0 ? (int)ninputs : GRAD_MAX_INPUTS,
                          "autograd.grad", "inputs");
    graph_call g = {n,   roots,       (const gids_tensor *const *)grads, retain, got, inputs,
                    out, allow_unused};
    run_graph(L, &g);
    if (one) {
        if (out[0] == NULL) {
            lua_pushnil(L);
        } else {
            l_tensor *u = l_newtensor(L);
            u->t = out[0];
        }
        return 1;
    }
    lua_createtable(L, got, 0);
    for (int i = 0; i < got; i++) {
        if (out[i] == NULL) continue;
        l_tensor *u = l_newtensor(L);
        u->t = out[i];
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* ---------------------------------------------------------------- tensor fields */

int l_autograd_getfield(lua_State *L, gids_tensor *t, const char *k) {
    if (strcmp(k, "requires_grad") == 0) {
        lua_pushboolean(L, gids_requires_grad(t));
    } else if (strcmp(k, "retains_grad") == 0) {
        lua_pushboolean(L, gids_retains_grad(t));
    } else if (strcmp(k, "is_leaf") == 0) {
        lua_pushboolean(L, gids_is_leaf(t));
    } else if (strcmp(k, "grad_fn") == 0) {
        const char *name = gids_grad_fn_name(t);
        if (name != NULL)
            lua_pushstring(L, name);
        else
            lua_pushnil(L);
    } else if (strcmp(k, "grad") == 0) {
        /* A handle on the gradient itself: writing into it changes t.grad. */
        gids_tensor *g = gids_grad(t);
        if (g == NULL) {
            lua_pushnil(L);
        } else {
            l_tensor *u = l_newtensor(L);
            gids_tensor_retain(g);
            u->t = g;
        }
    } else {
        return 0;
    }
    return 1;
}

int l_autograd_setfield(lua_State *L, gids_tensor *t, const char *k) {
    if (strcmp(k, "requires_grad") == 0) {
        if (lua_type(L, 3) != LUA_TBOOLEAN)
            return l_error(L, "cannot set 'requires_grad': expected a boolean, got %s",
                           luaL_typename(L, 3));
        l_check(L, gids_set_requires_grad(t, lua_toboolean(L, 3)));
        return 1;
    }
    if (strcmp(k, "grad") == 0) {
        gids_tensor *g = NULL;
        if (!lua_isnil(L, 3)) {
            g = l_totensor(L, 3);
            if (g == NULL)
                return l_error(L, "cannot set 'grad': expected a Tensor or nil, got %s",
                               l_testtensor(L, 3) ? "a freed tensor" : luaL_typename(L, 3));
        }
        l_check(L, gids_set_grad(t, g));
        return 1;
    }
    return 0;
}

/* t:requires_grad_(on = true) -> t */
static int t_requires_grad_(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 2, "requires_grad_");
    int on = 1;
    if (!lua_isnoneornil(L, 2)) {
        if (lua_type(L, 2) != LUA_TBOOLEAN)
            return l_error(L, "requires_grad_: argument #2 must be a boolean, got %s",
                           luaL_typename(L, 2));
        on = lua_toboolean(L, 2);
    }
    l_check(L, gids_set_requires_grad(t, on));
    lua_settop(L, 1);
    return 1;
}

/* t:detach(): the same storage, a leaf that does not require grad. */
static int t_detach(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    l_checkend(L, 1, "detach");
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_detach(&u->t, t));
    return 1;
}

/* ---------------------------------------------------------------- modes */

static int m_is_grad_enabled(lua_State *L) {
    l_checkend(L, 0, "is_grad_enabled");
    lua_pushboolean(L, gids_grad_enabled());
    return 1;
}

static int checkbool(lua_State *L, int arg, const char *fname) {
    if (lua_type(L, arg) != LUA_TBOOLEAN)
        l_error(L, "%s: argument #%d must be a boolean, got %s", fname, arg, luaL_typename(L, arg));
    return lua_toboolean(L, arg);
}

/* set_grad_enabled(on) -> the previous setting */
static int m_set_grad_enabled(lua_State *L) {
    l_checkend(L, 1, "set_grad_enabled");
    lua_pushboolean(L, gids_set_grad_enabled(checkbool(L, 1, "set_grad_enabled")));
    return 1;
}

/* Calls the function at 1 with the arguments after it in grad mode `on`, restoring the mode
 * afterwards even when it raises (the error is re-raised as it came). */
static int with_grad_mode(lua_State *L, bool on, const char *fname) {
    if (lua_type(L, 1) != LUA_TFUNCTION) {
        if (luaL_getmetafield(L, 1, "__call") == LUA_TNIL)
            return l_error(L, "%s: argument #1 must be a function, got %s", fname,
                           luaL_typename(L, 1));
        lua_pop(L, 1);
    }
    bool prev = gids_set_grad_enabled(on);
    int rc = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    gids_set_grad_enabled(prev);
    if (rc != LUA_OK) return lua_error(L);
    return lua_gettop(L);
}

static int m_no_grad(lua_State *L) {
    return with_grad_mode(L, false, "no_grad");
}
static int m_enable_grad(lua_State *L) {
    return with_grad_mode(L, true, "enable_grad");
}

/* detect_anomaly(on) -> the previous setting */
static int a_detect_anomaly(lua_State *L) {
    l_checkend(L, 1, "detect_anomaly");
    lua_pushboolean(L, gids_set_anomaly_enabled(checkbool(L, 1, "detect_anomaly")));
    return 1;
}

static int a_is_anomaly_enabled(lua_State *L) {
    l_checkend(L, 0, "is_anomaly_enabled");
    lua_pushboolean(L, gids_anomaly_enabled());
    return 1;
}

/* ---------------------------------------------------------------- registration */

static const luaL_Reg tensor_methods[] = {
    {"requires_grad_", t_requires_grad_},
    {"backward", t_backward},
    {"retain_grad", t_retain_grad},
    {"detach", t_detach},
    {NULL, NULL},
};

static const luaL_Reg module_funcs[] = {
    {"is_grad_enabled", m_is_grad_enabled},
    {"set_grad_enabled", m_set_grad_enabled},
    {"no_grad", m_no_grad},
    {"enable_grad", m_enable_grad},
    {NULL, NULL},
};

static const luaL_Reg autograd_funcs[] = {
    {"backward", a_backward},
    {"grad", a_grad},
    {"detect_anomaly", a_detect_anomaly},
    {"is_anomaly_enabled", a_is_anomaly_enabled},
    {NULL, NULL},
};

void l_open_autograd(lua_State *L, int module, int methods) {
    l_setfuncs(L, methods, tensor_methods);
    l_open_hook(L, methods);
    l_setfuncs(L, module, module_funcs);
    lua_newtable(L);
    l_setfuncs(L, -1, autograd_funcs);
    l_open_function(L, lua_gettop(L));
    lua_setfield(L, module, "autograd");
}
