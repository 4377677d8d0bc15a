/* l_segment.c -- segment reductions of src rows by a 0-based segment index (message passing:
 * the edges' messages gathered onto their target nodes).  Module functions and src methods;
 * they record autograd nodes for src (the index is never differentiated).
 *
 *   local agg = g.segment_sum(msg, dst, num_nodes)        -- [num_nodes, ...]
 *   local mx, arg = msg:segment_max(dst)                  -- num_segments = max(dst) + 1
 *   local alpha = g.segment_softmax(scores, dst, num_nodes)
 */
#include "binding.h"

/* num_segments at arg 3, or max(index) + 1 when absent (0 for an empty index).  An index that
 * the op will reject anyway (wrong dtype or shape) gets 0 here and the op's message. */
static int64_t num_segments(lua_State *L, const gids_tensor *index, const char *fname) {
    if (!lua_isnoneornil(L, 3)) {
        int isint = 0;
        lua_Integer n = lua_tointegerx(L, 3, &isint);
        if (!isint)
            luaL_error(L, "%s: num_segments (argument #3) must be an integer, got %s", fname,
                       luaL_typename(L, 3));
        return (int64_t)n;
    }
    if ((index->dtype != GIDS_I64 && index->dtype != GIDS_I32) || index->ndim != 1 ||
        gids_tensor_numel(index) == 0)
        return 0;
    gids_tensor *mx = NULL;
    int64_t m = -1;
    gids_status s = gids_reduce(&mx, GIDS_AMAX, index, 0, NULL, false);
    if (s == GIDS_OK) s = gids_tensor_get_i64(mx, 0, &m);
    gids_tensor_release(mx);
    l_check(L, s);
    return m >= 0 ? m + 1 : 0;
}

static int reduce(lua_State *L, gids_segop op, const char *fname) {
    gids_tensor *src = l_checktensor(L, 1), *index = l_checktensor(L, 2);
    l_checkend(L, 3, fname);
    int64_t n = num_segments(L, index, fname);
    bool with_arg = op == GIDS_SEG_MAX || op == GIDS_SEG_MIN;
    l_tensor *out = l_newtensor(L);
    l_tensor *arg = with_arg ? l_newtensor(L) : NULL;
    l_check(L, gids_ag_segment_reduce(&out->t, arg ? &arg->t : NULL, op, src, index, n));
    return with_arg ? 2 : 1;
}

static int l_segment_sum(lua_State *L) {
    return reduce(L, GIDS_SEG_SUM, "segment_sum");
}
static int l_segment_mean(lua_State *L) {
    return reduce(L, GIDS_SEG_MEAN, "segment_mean");
}
/* Values and the 0-based row of each chosen element (-1 in empty segments). */
static int l_segment_max(lua_State *L) {
    return reduce(L, GIDS_SEG_MAX, "segment_max");
}
static int l_segment_min(lua_State *L) {
    return reduce(L, GIDS_SEG_MIN, "segment_min");
}

static int l_segment_softmax(lua_State *L) {
    gids_tensor *src = l_checktensor(L, 1), *index = l_checktensor(L, 2);
    l_checkend(L, 3, "segment_softmax");
    int64_t n = num_segments(L, index, "segment_softmax");
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_segment_softmax(&out->t, src, index, n));
    return 1;
}

static const luaL_Reg funcs[] = {
    {"segment_sum", l_segment_sum},         {"segment_mean", l_segment_mean},
    {"segment_max", l_segment_max},         {"segment_min", l_segment_min},
    {"segment_softmax", l_segment_softmax}, {NULL, NULL},
};

void l_open_segment(lua_State *L, int module, int methods) {
    l_setfuncs(L, module, funcs);
    l_setfuncs(L, methods, funcs);
}
