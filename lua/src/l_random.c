/* l_random.c -- random numbers from Lua: graphids.manual_seed, graphids.Generator objects with
 * saveable state, rand / randn / randint / randperm and the in-place uniform_, normal_,
 * bernoulli_.  Every draw takes {generator=} to use a private stream instead of the default.
 *
 * A state is 16 bytes: seed then offset, each a little-endian uint64, so a state saved on one
 * machine restores on any other.
 */
#include <string.h>

#include "l_impl.h"

#define STATE_BYTES 16

static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void push_state(lua_State *L, const gids_generator *g) {
    unsigned char buf[STATE_BYTES];
    uint64_t seed, offset;
    gids_generator_get_state(g, &seed, &offset);
    put_u64(buf, seed);
    put_u64(buf + 8, offset);
    lua_pushlstring(L, (const char *)buf, STATE_BYTES);
}

/* Accepts the 16-byte string of get_state() or a table {seed, offset}. */
static void read_state(lua_State *L, int i, gids_generator *g, const char *fname) {
    if (lua_type(L, i) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, i, &len);
        if (len != STATE_BYTES)
            l_error(L, "%s: a generator state is %d bytes, got %I", fname, STATE_BYTES,
                    (lua_Integer)len);
        gids_generator_set_state(g, get_u64((const unsigned char *)s),
                                 get_u64((const unsigned char *)s + 8));
        return;
    }
    if (lua_type(L, i) == LUA_TTABLE) {
        int ok1 = 0, ok2 = 0;
        lua_rawgeti(L, i, 1);
        lua_rawgeti(L, i, 2);
        lua_Integer seed = lua_tointegerx(L, -2, &ok1), off = lua_tointegerx(L, -1, &ok2);
        lua_pop(L, 2);
        if (!ok1 || !ok2 || off < 0)
            l_error(L, "%s: a state table must be {seed, offset} with integers, offset >= 0",
                    fname);
        gids_generator_set_state(g, (uint64_t)seed, (uint64_t)off);
        return;
    }
    luaL_typeerror(L, i, "string (16 bytes) or table {seed, offset}");
}

/* Seeds are Lua integers; negative ones wrap to uint64 as PyTorch's manual_seed does. */
static uint64_t check_seed(lua_State *L, int i) {
    return (uint64_t)luaL_checkinteger(L, i);
}

/* ---------------------------------------------------------------- graphids.Generator */

static l_generator *check_gen(lua_State *L, int i) {
    return luaL_checkudata(L, i, L_GENERATOR_MT);
}

static int g_new(lua_State *L) {
    l_checkend(L, 1, "Generator");
    uint64_t seed = lua_isnoneornil(L, 1) ? 0 : check_seed(L, 1);
    l_generator *g = lua_newuserdatauv(L, sizeof(l_generator), 0);
    gids_generator_init(&g->g, seed);
    g->initial_seed = seed;
    luaL_setmetatable(L, L_GENERATOR_MT);
    return 1;
}

static int g_manual_seed(lua_State *L) {
    l_generator *g = check_gen(L, 1);
    l_checkend(L, 2, "manual_seed");
    g->initial_seed = check_seed(L, 2);
    gids_generator_init(&g->g, g->initial_seed);
    lua_settop(L, 1);
    return 1;
}

static int g_initial_seed(lua_State *L) {
    l_generator *g = check_gen(L, 1);
    l_checkend(L, 1, "initial_seed");
    lua_pushinteger(L, (lua_Integer)g->initial_seed);
    return 1;
}

static int g_get_state(lua_State *L) {
    l_generator *g = check_gen(L, 1);
    l_checkend(L, 1, "get_state");
    push_state(L, &g->g);
    return 1;
}

static int g_set_state(lua_State *L) {
    l_generator *g = check_gen(L, 1);
    l_checkend(L, 2, "set_state");
    read_state(L, 2, &g->g, "set_state");
    g->initial_seed = g->g.seed;
    lua_settop(L, 1);
    return 1;
}

static int g_tostring(lua_State *L) {
    l_generator *g = check_gen(L, 1);
    lua_pushfstring(L, "graphids.Generator(seed=%I, offset=%I)", (lua_Integer)g->g.seed,
                    (lua_Integer)g->g.offset);
    return 1;
}

/* ---------------------------------------------------------------- default generator */

static int r_manual_seed(lua_State *L) {
    l_checkend(L, 1, "manual_seed");
    gids_manual_seed(check_seed(L, 1));
    return 0;
}

static int r_initial_seed(lua_State *L) {
    l_checkend(L, 0, "initial_seed");
    uint64_t seed, offset;
    gids_generator_get_state(gids_default_generator(), &seed, &offset);
    lua_pushinteger(L, (lua_Integer)seed);
    return 1;
}

static int r_get_rng_state(lua_State *L) {
    l_checkend(L, 0, "get_rng_state");
    push_state(L, gids_default_generator());
    return 1;
}

static int r_set_rng_state(lua_State *L) {
    l_checkend(L, 1, "set_rng_state");
    gids_generator g = {0, 0};
    read_state(L, 1, &g, "set_rng_state");
    gids_generator_set_state(gids_default_generator(), g.seed, g.offset);
    return 0;
}

/* ---------------------------------------------------------------- draws */

static const char *const draw_opts[] = {"dtype", "device", "generator", "requires_grad", NULL};

/* Reads {dtype=, device=, generator=, requires_grad=} at idx (requires_grad is applied to the
 * result by l_finish_created). */
static gids_generator *draw_options(lua_State *L, int idx, const char *fname, gids_dtype *dt) {
    l_checkopts(L, idx, fname, draw_opts);
    const char *dev = l_optstr_named(L, idx, "device", NULL, fname);
    if (dev != NULL) l_check_device(L, dev, fname);
    *dt = l_optdtype_named(L, idx, "dtype", *dt, fname);
    return l_optgenerator(L, idx);
}

static int draw(lua_State *L, int normal) {
    const char *fname = normal ? "randn" : "rand";
    int64_t shape[GIDS_MAX_DIMS];
    int next;
    int n = l_checkshape(L, 1, shape, &next, fname);
    l_check_sizes(L, n, shape, fname);
    gids_dtype dt = GIDS_F32;
    gids_generator *g = draw_options(L, next, fname, &dt);
    l_checkend(L, next, fname);
    l_tensor *u = l_newtensor(L);
    l_check(L, normal ? gids_randn(&u->t, g, dt, n, shape) : gids_rand(&u->t, g, dt, n, shape));
    l_finish_created(L, next, u, fname);
    return 1;
}

static int r_rand(lua_State *L) {
    return draw(L, 0);
}
static int r_randn(lua_State *L) {
    return draw(L, 1);
}

static int like(lua_State *L, int normal) {
    const char *fname = normal ? "randn_like" : "rand_like";
    gids_tensor *t = l_checktensor(L, 1);
    gids_dtype dt = t->dtype;
    gids_generator *g = draw_options(L, 2, fname, &dt);
    l_checkend(L, 2, fname);
    l_tensor *u = l_newtensor(L);
    l_check(L, normal ? gids_randn(&u->t, g, dt, t->ndim, t->shape)
                      : gids_rand(&u->t, g, dt, t->ndim, t->shape));
    l_finish_created(L, 2, u, fname);
    return 1;
}

static int r_rand_like(lua_State *L) {
    return like(L, 0);
}
static int r_randn_like(lua_State *L) {
    return like(L, 1);
}

/* randint(high, shape, opts) or randint(low, high, shape, opts), PyTorch's order. */
static int r_randint(lua_State *L) {
    lua_Integer low = 0, high;
    int shape_at;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        low = luaL_checkinteger(L, 1);
        high = luaL_checkinteger(L, 2);
        shape_at = 3;
    } else {
        high = luaL_checkinteger(L, 1);
        shape_at = 2;
    }
    if (lua_type(L, shape_at) != LUA_TTABLE)
        return l_error(L, "randint: shape (argument #%d) must be a table such as {2, 3}, got %s",
                       shape_at, l_describe(L, shape_at));
    int64_t shape[GIDS_MAX_DIMS];
    int n = l_checkshape(L, shape_at, shape, NULL, "randint");
    l_check_sizes(L, n, shape, "randint");
    gids_dtype dt = GIDS_I64;
    gids_generator *g = draw_options(L, shape_at + 1, "randint", &dt);
    l_checkend(L, shape_at + 1, "randint");
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_randint(&u->t, g, dt, (int64_t)low, (int64_t)high, n, shape));
    l_finish_created(L, shape_at + 1, u, "randint");
    return 1;
}

static int r_randperm(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    gids_dtype dt = GIDS_I64;
    gids_generator *g = draw_options(L, 2, "randperm", &dt);
    l_checkend(L, 2, "randperm");
    l_tensor *u = l_newtensor(L);
    l_check(L, gids_randperm(&u->t, g, dt, (int64_t)n));
    l_finish_created(L, 2, u, "randperm");
    return 1;
}

/* ---------------------------------------------------------------- in place */

static const char *const inplace_opts[] = {"generator", NULL};

static gids_generator *inplace_gen(lua_State *L, int idx, const char *fname) {
    l_checkopts(L, idx, fname, inplace_opts);
    gids_generator *g = l_optgenerator(L, idx);
    l_checkend(L, idx, fname);
    return g;
}

/* Optional number at i (default def); an options table may take its place. */
static double optnum(lua_State *L, int i, double def) {
    if (lua_type(L, i) == LUA_TTABLE || lua_isnoneornil(L, i)) return def;
    return (double)luaL_checknumber(L, i);
}

static int opts_at(lua_State *L, int first, int count) {
    for (int i = first; i < first + count; i++)
        if (lua_type(L, i) == LUA_TTABLE) return i;
    return first + count;
}

static int r_uniform_(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    double lo = optnum(L, 2, 0.0), hi = optnum(L, 3, 1.0);
    gids_generator *g = inplace_gen(L, opts_at(L, 2, 2), "uniform_");
    l_check_inplace(L, "uniform_", t, 0, NULL);
    l_check(L, gids_uniform_(t, g, lo, hi));
    lua_settop(L, 1);
    return 1;
}

static int r_normal_(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    double mean = optnum(L, 2, 0.0), std = optnum(L, 3, 1.0);
    gids_generator *g = inplace_gen(L, opts_at(L, 2, 2), "normal_");
    l_check_inplace(L, "normal_", t, 0, NULL);
    l_check(L, gids_normal_(t, g, mean, std));
    lua_settop(L, 1);
    return 1;
}

static int r_bernoulli_(lua_State *L) {
    gids_tensor *t = l_checktensor(L, 1);
    double p = optnum(L, 2, 0.5);
    gids_generator *g = inplace_gen(L, opts_at(L, 2, 1), "bernoulli_");
    l_check_inplace(L, "bernoulli_", t, 0, NULL);
    l_check(L, gids_bernoulli_(t, g, p));
    lua_settop(L, 1);
    return 1;
}

/* ---------------------------------------------------------------- registration */

static const luaL_Reg gen_methods[] = {
    {"manual_seed", g_manual_seed},
    {"initial_seed", g_initial_seed},
    {"get_state", g_get_state},
    {"set_state", g_set_state},
    {NULL, NULL},
};

static const luaL_Reg module_funcs[] = {
    {"Generator", g_new},
    {"manual_seed", r_manual_seed},
    {"initial_seed", r_initial_seed},
    {"get_rng_state", r_get_rng_state},
    {"set_rng_state", r_set_rng_state},
    {"rand", r_rand},
    {"randn", r_randn},
    {"rand_like", r_rand_like},
    {"randn_like", r_randn_like},
    {"randint", r_randint},
    {"randperm", r_randperm},
    {"uniform_", r_uniform_},
    {"normal_", r_normal_},
    {"bernoulli_", r_bernoulli_},
    {NULL, NULL},
};

static const luaL_Reg tensor_methods[] = {
    {"uniform_", r_uniform_},
    {"normal_", r_normal_},
    {"bernoulli_", r_bernoulli_},
    {NULL, NULL},
};

void l_open_random(lua_State *L, int module, int methods) {
    static const luaL_Reg gen_meta[] = {{"__tostring", g_tostring}, {NULL, NULL}};
    l_newclass(L, L_GENERATOR_MT, NULL, gen_meta, gen_methods);
    l_setfuncs(L, module, module_funcs);
    l_setfuncs(L, methods, tensor_methods);
    /* what get_state returns and set_state takes, for readers of saved states (ckpt.lua) */
    lua_pushinteger(L, STATE_BYTES);
    lua_setfield(L, module, "GENERATOR_STATE_BYTES");
}
