/* l_net.c -- graphids.core.http_request (libcurl, for tracking) and graphids.core.append_file
 * (whole-record appends for traces and spools).
 *
 *   local status, body, headers = core.http_request{method = "POST", url = u,
 *     headers = {["Content-Type"] = "application/json"}, body = "{}", timeout = 10}
 *   -- or nil, "EIO: http: POST http://...: Couldn't connect to server (...)", "EIO"
 *   assert(core.append_file(path, line, {sync = true}))
 *   core.wall_time() --> 1764136800.123456 (seconds, microsecond resolution);
 *   core.sleep(0.5) --> true (or false, seconds left: a signal cut it short);
 *   core.hostname()
 *   core.user_name() --> the password database's name of the real user id (getpwuid), or nil
 *
 * Any HTTP status is a result; only an exchange without a response is a failure (nil, message,
 * code).  `headers` of the answer is a table of lower-cased names of the final response (after
 * redirects); a repeated header's values are joined with ", ". */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "binding.h"
#include "gids/net.h"

#define RESPONSE_MT "graphids.HttpResponse"

static int response_gc(lua_State *L) {
    gids_http_response_free(luaL_checkudata(L, 1, RESPONSE_MT));
    return 0;
}

static int push_fail(lua_State *L, gids_status s) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", gids_status_name(s), gids_error_message());
    lua_pushstring(L, gids_status_name(s));
    return 3;
}

/* Pushes a table of the header lines of the last response in the raw block (earlier blocks are
 * redirects or 100-continue). */
static void push_headers(lua_State *L, const char *raw) {
    const char *last = raw, *p = raw;
    while ((p = strstr(p, "HTTP/")) != NULL) {
        if (p == raw || p[-1] == '\n') last = p;
        p += 5;
    }
    lua_newtable(L);
    int t = lua_gettop(L);
    const char *line = strchr(last, '\n'); /* skip the status line */
    while (line != NULL && *++line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *colon = memchr(line, ':', len);
        if (colon != NULL) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (const char *q = line; q < colon; q++)
                luaL_addchar(&b, (char)tolower((unsigned char)*q));
            luaL_pushresult(&b);
            const char *v = colon + 1, *ve = line + len;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            lua_pushvalue(L, -1);
            if (lua_rawget(L, t) == LUA_TSTRING) {
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(ve - v));
                lua_concat(L, 3);
            } else {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(ve - v));
            }
            lua_rawset(L, t);
        }
        line = end;
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Header lines "Name: value" from opts.headers (a table name -> value), sorted by name so the
 * request is the same on every run.  The strings live in a Lua table at the returned index. */
static int collect_headers(lua_State *L, int opts, const char ***out) {
    lua_newtable(L); /* keeps the formatted lines alive */
    int keep = lua_gettop(L);
    int n = 0;
    if (lua_getfield(L, opts, "headers") != LUA_TNIL) {
        luaL_argexpected(L, lua_istable(L, -1), 1, "table for 'headers'");
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "http_request: headers must map names to strings (got %s = %s)",
                           luaL_typename(L, -2), luaL_typename(L, -1));
            lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
            lua_rawseti(L, keep, ++n);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    const char **lines = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n ? n : 1), 0);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, keep, i + 1);
        lines[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    qsort(lines, (size_t)n, sizeof *lines, cmp_str);
    *out = lines;
    return n;
}

static int l_http_request(lua_State *L) {
    static const char *const allowed[] = {"method",  "url",         "headers",
                                          "body",    "timeout",     "insecure_tls",
                                          "ca_file", "client_cert", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    l_checkend(L, 1, "http_request");
    l_checkopts(L, 1, "http_request", allowed);
    gids_http_request rq = {0};
    rq.method = l_optstr(L, 1, "method", "GET");
    rq.url = l_optstr(L, 1, "url", NULL);
    if (rq.url == NULL) luaL_error(L, "http_request: 'url' is required");
    if (lua_getfield(L, 1, "body") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "http_request: 'body' must be a string, got %s", luaL_typename(L, -1));
        rq.body = lua_tolstring(L, -1, &rq.body_len);
    }
    /* the body string stays on the stack (referenced by opts anyway) */
    rq.timeout_s = l_optnum(L, 1, "timeout", 120.0);
    if (!(rq.timeout_s > 0)) luaL_error(L, "http_request: 'timeout' must be > 0 seconds");
    rq.insecure_tls = l_optbool(L, 1, "insecure_tls", 0);
    rq.ca_file = l_optstr(L, 1, "ca_file", NULL);
    rq.client_cert = l_optstr(L, 1, "client_cert", NULL);
    const char **lines;
    rq.n_headers = collect_headers(L, 1, &lines);
    rq.headers = lines;

    /* The response lives in a userdata whose __gc frees it, so a Lua error while it is copied
     * (out of memory) cannot leak it. */
    gids_http_response *rs = lua_newuserdatauv(L, sizeof *rs, 0);
    memset(rs, 0, sizeof *rs);
    luaL_setmetatable(L, RESPONSE_MT);
    gids_status s = gids_http_perform(&rq, rs);
    if (s != GIDS_OK) return push_fail(L, s);
    lua_pushinteger(L, rs->status);
    lua_pushlstring(L, rs->body, rs->body_len);
    push_headers(L, rs->headers);
    gids_http_response_free(rs);
    return 3;
}

static int l_append_file(lua_State *L) {
    static const char *const allowed[] = {"sync", NULL};
    const char *path = l_checkpath(L, 1);
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    l_checkend(L, 3, "append_file");
    l_checkopts(L, 3, "append_file", allowed);
    int sync = lua_istable(L, 3) ? l_optbool(L, 3, "sync", 0) : 0;
    gids_status s = gids_append_file(path, data, n, sync != 0);
    if (s != GIDS_OK) return push_fail(L, s);
    lua_pushboolean(L, 1);
    return 1;
}

/* Seconds since the Unix epoch as a float with microsecond resolution: the wall clock that
 * trace timestamps and MLflow's millisecond times need (os.time has whole seconds only). */
static int l_wall_time(lua_State *L) {
    l_checkend(L, 0, "wall_time");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + (double)(ts.tv_nsec / 1000) * 1e-6);
    return 1;
}

/* Sleeps for the given seconds (retry backoff): true, or false and the seconds left when a
 * signal cut the sleep short.  An interrupted sleep is not resumed: a Ctrl-C lands during the
 * retry waits of a tracking store (up to 120 s each), and the host's interrupt hook can only
 * raise "interrupted!" once this returns to Lua. */
static int l_sleep(lua_State *L) {
    double s = luaL_checknumber(L, 1);
    l_checkend(L, 1, "sleep");
    luaL_argcheck(L, s >= 0 && s <= 86400, 1, "seconds must be in [0, 86400]");
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)}, rem = {0, 0};
    if (nanosleep(&ts, &rem) != 0 && errno == EINTR) {
        lua_pushboolean(L, 0);
        lua_pushnumber(L, (double)rem.tv_sec + 1e-9 * (double)rem.tv_nsec);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_hostname(lua_State *L) {
    l_checkend(L, 0, "hostname");
    char name[256];
    if (gethostname(name, sizeof name) != 0) return luaL_pushfail(L), 1;
    name[sizeof name - 1] = '\0';
    lua_pushstring(L, name);
    return 1;
}

/* The name of the real user id in the password database (NSS included), as Python's
 * pwd.getpwuid(os.getuid()) gives it to getpass.getuser() when no variable names the user;
 * nil when the id has no entry. */
static int l_user_name(lua_State *L) {
    l_checkend(L, 0, "user_name");
    long cap = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t n = cap > 0 ? (size_t)cap : 16384;
    for (int tries = 0; tries < 6; tries++, n *= 4) {
        char *buf = malloc(n);
        if (buf == NULL) return luaL_pushfail(L), 1;
        struct passwd pw, *found = NULL;
        int r = getpwuid_r(getuid(), &pw, buf, n, &found);
        if (r == ERANGE) {
            free(buf);
            continue;
        }
        if (r != 0 || found == NULL || found->pw_name == NULL) {
            free(buf);
            return luaL_pushfail(L), 1;
        }
        lua_pushstring(L, found->pw_name);
        free(buf);
        return 1;
    }
    return luaL_pushfail(L), 1;
}

static const luaL_Reg funcs[] = {{"http_request", l_http_request},
                                 {"append_file", l_append_file},
                                 {"wall_time", l_wall_time},
                                 {"sleep", l_sleep},
                                 {"hostname", l_hostname},
                                 {"user_name", l_user_name},
                                 {NULL, NULL}};

void l_open_net(lua_State *L, int module, int methods) {
    (void)methods; /* nothing here takes a tensor */
    luaL_newmetatable(L, RESPONSE_MT);
    lua_pushcfunction(L, response_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    l_setfuncs(L, module, funcs);
}
