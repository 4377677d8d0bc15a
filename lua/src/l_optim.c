/* l_optim.c -- the fused optimizer updates for stdlib/graphids/optim (graphids._adam_step and
 * graphids._sgd_step).  They are internal: the optimizers in Lua call them once per parameter
 * with their state tensors; users call opt:step().
 *
 *   graphids._adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq_or_nil,
 *       {lr=, beta1=, beta2=, eps=, weight_decay=, step=, decoupled=, amsgrad=, maximize=})
 *   graphids._adam_steps(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs_or_nil, steps,
 *       {lr=, beta1=, ...})                          -- lists: one call for many parameters
 *   graphids._sgd_step(param, grad, momentum_buf_or_nil,
 *       {lr=, momentum=, dampening=, weight_decay=, nesterov=, maximize=, first=})
 *   graphids.count_nonfinite({g1, g2, ...})     -- 0-d f64 on their device: the inf/NaN elements
 */
#include "binding.h"
#include "gids/optim.h"

static gids_tensor *opt_tensor(lua_State *L, int i) {
    return lua_isnil(L, i) ? NULL : l_checktensor(L, i);
}

static const char *const adam_opts[] = {"lr",   "beta1",     "beta2",   "eps",      "weight_decay",
                                        "step", "decoupled", "amsgrad", "maximize", NULL};

/* The Adam options table at arg, the last argument of fname (`step` defaults to 1). */
static gids_adam_cfg adam_cfg(lua_State *L, int arg, const char *fname) {
    luaL_checktype(L, arg, LUA_TTABLE);
    l_checkopts(L, arg, fname, adam_opts);
    l_checkend(L, arg, fname);
    return (gids_adam_cfg){
        .lr = l_optnum(L, arg, "lr", 1e-3),
        .beta1 = l_optnum(L, arg, "beta1", 0.9),
        .beta2 = l_optnum(L, arg, "beta2", 0.999),
        .eps = l_optnum(L, arg, "eps", 1e-8),
        .weight_decay = l_optnum(L, arg, "weight_decay", 0.0),
        .step = l_optint(L, arg, "step", 1),
        .decoupled = l_optbool(L, arg, "decoupled", 0),
        .amsgrad = l_optbool(L, arg, "amsgrad", 0),
        .maximize = l_optbool(L, arg, "maximize", 0),
    };
}

static int l_adam_step(lua_State *L) {
    const char *fname = "_adam_step";
    gids_tensor *p = l_checktensor(L, 1), *g = l_checktensor(L, 2), *m = l_checktensor(L, 3);
    gids_tensor *v = l_checktensor(L, 4), *vmax = opt_tensor(L, 5);
    gids_adam_cfg cfg = adam_cfg(L, 6, fname);
    /* an update in place: the optimizers run it under no_grad */
    l_check_inplace(L, fname, p, 1, (const gids_tensor *const *)&g);
    l_check(L, gids_adam_step_(p, g, m, v, vmax, &cfg));
    return 0;
}

/* The tensors of list `arg` (a sequence of n tensors) into out[0..n), each checked. */
static void tensor_list(lua_State *L, int arg, int n, gids_tensor **out, const char *fname,
                        const char *what) {
    luaL_checktype(L, arg, LUA_TTABLE);
    if ((int)lua_rawlen(L, arg) != n)
        luaL_error(L, "%s: %s holds %d entries, expected %d (one per parameter)", fname, what,
                   (int)lua_rawlen(L, arg), n);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, arg, i + 1);
        out[i] = l_checktensor(L, -1);
        lua_pop(L, 1);
    }
}

/* graphids._adam_steps(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs_or_nil, steps, cfg):
 * gids_adam_steps_ over lists (cfg as _adam_step's, its step unused; steps: one per parameter). */
static int l_adam_steps(lua_State *L) {
    const char *fname = "_adam_steps";
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)lua_rawlen(L, 1);
    gids_adam_cfg cfg = adam_cfg(L, 7, fname); /* its step is steps[i] for parameter i */
    /* five tensor lists and the steps in one userdata block, freed by the GC on any error */
    size_t bytes = (size_t)(n > 0 ? n : 1) * (5 * sizeof(gids_tensor *) + sizeof(int64_t));
    gids_tensor **t = lua_newuserdatauv(L, bytes, 0);
    gids_tensor **p = t, **g = t + n, **m = t + 2 * n, **v = t + 3 * n, **vmax = t + 4 * n;
    int64_t *steps = (int64_t *)(t + 5 * n);
    tensor_list(L, 1, n, p, fname, "params");
    tensor_list(L, 2, n, g, fname, "grads");
    tensor_list(L, 3, n, m, fname, "exp_avgs");
    tensor_list(L, 4, n, v, fname, "exp_avg_sqs");
    if (!lua_isnil(L, 5)) tensor_list(L, 5, n, vmax, fname, "max_exp_avg_sqs");
    luaL_checktype(L, 6, LUA_TTABLE);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 6, i + 1);
        int ok = 0;
        steps[i] = (int64_t)lua_tointegerx(L, -1, &ok);
        if (!ok) luaL_error(L, "%s: steps[%d] must be an integer", fname, i + 1);
        lua_pop(L, 1);
    }
    /* updates in place: the optimizers run them under no_grad */
    for (int i = 0; i < n; i++)
        l_check_inplace(L, fname, p[i], 1, (const gids_tensor *const *)&g[i]);
    l_check(L, gids_adam_steps_(n, p, (const gids_tensor *const *)g, m, v,
                                lua_isnil(L, 5) ? NULL : vmax, steps, &cfg));
    return 0;
}

static const char *const sgd_opts[] = {"lr",       "momentum", "dampening", "weight_decay",
                                       "nesterov", "maximize", "first",     NULL};

static int l_sgd_step(lua_State *L) {
    const char *fname = "_sgd_step";
    gids_tensor *p = l_checktensor(L, 1), *g = l_checktensor(L, 2), *buf = opt_tensor(L, 3);
    luaL_checktype(L, 4, LUA_TTABLE);
    l_checkopts(L, 4, fname, sgd_opts);
    l_checkend(L, 4, fname);
    gids_sgd_cfg cfg = {
        .lr = l_optnum(L, 4, "lr", 1e-3),
        .momentum = l_optnum(L, 4, "momentum", 0.0),
        .dampening = l_optnum(L, 4, "dampening", 0.0),
        .weight_decay = l_optnum(L, 4, "weight_decay", 0.0),
        .nesterov = l_optbool(L, 4, "nesterov", 0),
        .maximize = l_optbool(L, 4, "maximize", 0),
        .first = l_optbool(L, 4, "first", 0),
    };
    l_check_inplace(L, fname, p, 1, (const gids_tensor *const *)&g);
    l_check(L, gids_sgd_step_(p, g, buf, &cfg));
    return 0;
}

/* graphids.count_nonfinite(tensors): gids_count_nonfinite over a list of tensors (public: the
 * trainer's gradient check, and any loop that wants the same without a wait). */
static int l_count_nonfinite(lua_State *L) {
    const char *fname = "count_nonfinite";
    luaL_checktype(L, 1, LUA_TTABLE);
    l_checkend(L, 1, fname);
    lua_Unsigned len = lua_rawlen(L, 1);
    if (len > INT32_MAX)
        return luaL_error(L, "%s: a list of %llu tensors is too long", fname,
                          (unsigned long long)len);
    int n = (int)len;
    gids_tensor **ts = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *ts, 0);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 1, i + 1);
        ts[i] = l_totensor(L, -1);
        if (ts[i] == NULL)
            return luaL_error(L, "%s: entry %d of the list is not a live tensor (%s)", fname, i + 1,
                              l_testtensor(L, -1) ? "freed" : luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    gids_tensor *out = NULL;
    l_check(L, gids_count_nonfinite(&out, n, (const gids_tensor *const *)ts));
    l_pushtensor(L, out);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"_adam_step", l_adam_step},
    {"_adam_steps", l_adam_steps},
    {"_sgd_step", l_sgd_step},
    {"count_nonfinite", l_count_nonfinite},
    {NULL, NULL},
};

void l_open_optim(lua_State *L, int module, int methods) {
    (void)methods;
    l_setfuncs(L, module, funcs);
}
