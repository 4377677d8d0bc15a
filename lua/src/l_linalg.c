/* l_linalg.c -- matmul, mm, bmm and addmm (module functions and Tensor methods), recording
 * autograd nodes. */
#include "binding.h"

static int l_matmul(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1), *b = l_checktensor(L, 2);
    l_checkend(L, 2, "matmul");
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_matmul(&out->t, a, b));
    return 1;
}

static int l_mm(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1), *b = l_checktensor(L, 2);
    l_checkend(L, 2, "mm");
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_mm(&out->t, a, b));
    return 1;
}

static int l_bmm(lua_State *L) {
    gids_tensor *a = l_checktensor(L, 1), *b = l_checktensor(L, 2);
    l_checkend(L, 2, "bmm");
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_bmm(&out->t, a, b));
    return 1;
}

/* addmm(bias, a, b, {beta=1, alpha=1}) = beta * bias + alpha * (a @ b), as torch.addmm. */
static int l_addmm(lua_State *L) {
    gids_tensor *bias = l_checktensor(L, 1), *a = l_checktensor(L, 2), *b = l_checktensor(L, 3);
    static const char *const allowed[] = {"beta", "alpha", NULL};
    l_checkopts(L, 4, "addmm", allowed);
    l_checkend(L, 4, "addmm");
    double beta = l_optnum(L, 4, "beta", 1.0), alpha = l_optnum(L, 4, "alpha", 1.0);
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_ag_addmm(&out->t, bias, a, b, beta, alpha));
    return 1;
}

static const luaL_Reg funcs[] = {
    {"matmul", l_matmul}, {"mm", l_mm}, {"bmm", l_bmm}, {"addmm", l_addmm}, {NULL, NULL},
};

void l_open_linalg(lua_State *L, int module, int methods) {
    l_setfuncs(L, module, funcs);
    l_setfuncs(L, methods, funcs);
}
