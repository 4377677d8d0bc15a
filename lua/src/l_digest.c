/* l_digest.c -- graphids.sha256(string) and graphids.sha256_file(path): lowercase hex digests.
 * A file that cannot be read is an expected failure: nil, "EIO: ...", "EIO". */
#include "binding.h"
#include "gids/sha256.h"

static int l_sha256(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    l_checkend(L, 1, "sha256");
    char hex[GIDS_SHA256_HEX_SIZE];
    gids_sha256_hex(hex, s, n);
    lua_pushstring(L, hex);
    return 1;
}

static int l_sha256_file(lua_State *L) {
    const char *path = l_checkpath(L, 1);
    l_checkend(L, 1, "sha256_file");
    char hex[GIDS_SHA256_HEX_SIZE];
    gids_status s = gids_sha256_file_hex(hex, path);
    if (s != GIDS_OK) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: %s", gids_status_name(s), gids_error_message());
        lua_pushstring(L, gids_status_name(s));
        return 3;
    }
    lua_pushstring(L, hex);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"sha256", l_sha256}, {"sha256_file", l_sha256_file}, {NULL, NULL}};

void l_open_digest(lua_State *L, int module, int methods) {
    (void)methods; /* digests take strings, not tensors */
    l_setfuncs(L, module, funcs);
}
