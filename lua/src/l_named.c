/* l_named.c -- the one way graphids raises an error from a lower-level call as the error of
 * the public function the caller called: "where: fname: message", where being the line that
 * called fname and message the inner error less its own position and op name, the callee's
 * words for its arguments replaced by the caller's (docs/development.md, "Errors").
 *   core._named(f, fname)               f as the public function fname: a closure, made once
 *                                       (graphids.tensor_checks wraps every composed tensor
 *                                       function with it)
 *   core._call_as(fname, names, f, ...) f(...) called from inside the public Lua function fname
 *                                       (graphids.metrics' runtime checks, focal_loss's
 *                                       cross_entropy): no closure per call
 *   core._at_caller(f, handler)         f whose error e is raised as handler(first argument,
 *                                       e, where), where the line that called it: nn.Module's
 *                                       __call (a library layer's error at the user's line)
 *   core._error_parts(msg)              msg's position, op name and rest, as the above split it
 * An error that is no string passes through as it is.
 */
#include <ctype.h>
#include <string.h>

#include "l_impl.h"

/* The length of a leading "chunkname:line: " position in msg, as luaL_where writes it, else 0.
 * The chunk name is a [string "..."] source or a path: no quote, colon or newline, and a space
 * only in a name ending in ".lua" (a stdlib installed under "/opt/my tools"), so that a message
 * opening with words ("bad value:12: ...") is not taken for one.  The position must open the
 * message: text quoted later ("unknown option 'bad:12: key'") is never taken for one. */
static size_t position_len(const char *msg) {
    const char *p = msg;
    if (strncmp(p, "[string \"", 9) == 0) {
        const char *end = strstr(p, "\"]:"), *nl = strchr(p, '\n');
        if (end == NULL || (nl != NULL && nl < end)) return 0;
        p = end + 2;
    } else {
        bool space = false;
        while (*p != '\0' && strchr(":\n'\"", *p) == NULL) {
            if (*p == ' ' || *p == '\t') space = true;
            p++;
        }
        if (p == msg || *msg == ' ') return 0;
        if (space && (p - msg < 4 || strncmp(p - 4, ".lua", 4) != 0)) return 0;
    }
    if (p[0] != ':' || !isdigit((unsigned char)p[1])) return 0;
    p++;
    while (isdigit((unsigned char)*p)) p++;
    if (p[0] != ':' || p[1] != ' ') return 0;
    return (size_t)(p + 2 - msg);
}

static bool is_word(char c) {
    return isalnum((unsigned char)c) || c == '_';
}

/* How much of msg a leading "file:line: " position and a leading "op: " name take ("?: " too:
 * the name a core function gives itself when called straight from C, as _call_as calls it; a
 * dotted name, "metrics.classification: ", when one public function calls another; a method's,
 * "GATConv:forward: ", as its option checks name it). */
static size_t bare_offset(const char *msg) {
    size_t off = position_len(msg);
    const char *m = msg + off, *q = m;
    if (*q == '?')
        q++;
    else
        /* (after ':' a letter: "model.lua:10: " is a second position, not a name) */
        while (is_word(*q) || (*q == '.' && q > m && is_word(q[1])) ||
               (*q == ':' && q > m && (isalpha((unsigned char)q[1]) || q[1] == '_')))
            q++;
    if (q > m && q[0] == ':' && q[1] == ' ') off += (size_t)(q + 2 - m);
    return off;
}

/* Pushes msg[0, len) with every whole word that is a key of the table at index names (0: none)
 * replaced by its value: the callee's names for its arguments, as the caller knows them
 * ({scores = "val_scores", score = "element of val_scores"}).  Text in single quotes is the
 * caller's own (an option name, a value) and stays as it is; a quote opens after a non-word
 * character and closes before one, so "the model's" opens nothing.  NUL bytes are kept. */
static void push_renamed(lua_State *L, const char *msg, size_t len, int names) {
    if (names == 0) {
        lua_pushlstring(L, msg, len);
        return;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const char *end = msg + len;
    bool quoted = false;
    for (const char *p = msg; p < end;) {
        if (*p == '\'') {
            if (!quoted && (p == msg || !is_word(p[-1])))
                quoted = true;
            else if (quoted && (p + 1 == end || !is_word(p[1])))
                quoted = false;
            luaL_addchar(&b, *p++);
            continue;
        }
        if (!is_word(*p)) {
            luaL_addchar(&b, *p++);
            continue;
        }
        const char *q = p;
        while (q < end && is_word(*q)) q++;
        if (!quoted) {
            lua_pushlstring(L, p, (size_t)(q - p));
            if (lua_rawget(L, names) == LUA_TSTRING) {
                luaL_addvalue(&b);
                p = q;
                continue;
            }
            lua_pop(L, 1);
        }
        luaL_addlstring(&b, p, (size_t)(q - p));
        p = q;
    }
    luaL_pushresult(&b);
}

/* Raises the error at the top of the stack again as "where: fname: message" (fname the string
 * at index fname, names as push_renamed's), where = luaL_where(L, level): 1 is the line that
 * called the running C function, 2 the line that called the Lua function that called it. */
static int raise_as(lua_State *L, int level, int fname, int names) {
    if (lua_type(L, -1) != LUA_TSTRING) return lua_error(L);
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    size_t off = bare_offset(msg);
    luaL_where(L, level);
    lua_pushvalue(L, fname);
    lua_pushliteral(L, ": ");
    push_renamed(L, msg + off, len - off, names);
    lua_concat(L, 4);
    return lua_error(L);
}

/* The closure _named makes: calls upvalue 1 with its arguments; an error is raised again under
 * the name upvalue 2.  Being a C function, it keeps its caller's frame even when tail-called,
 * so `where` is the line that called it, as for the core's own functions (a Lua wrapper called
 * in a tail call would have lost it).  No work beyond the protected call unless f fails. */
static int named_call(lua_State *L) {
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    if (lua_pcall(L, n, LUA_MULTRET, 0) == LUA_OK) return lua_gettop(L);
    return raise_as(L, 1, lua_upvalueindex(2), 0);
}

/* _named(f, fname): f as the public function fname, so that any error raised inside f -- its
 * own checks at whatever level, or an op it is built of -- names fname at the caller's line. */
static int r_named(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_checkstring(L, 2);
    l_checkend(L, 2, "_named");
    lua_pushcclosure(L, named_call, 2);
    return 1;
}

/* _call_as(fname, names, f, ...): f(...)'s results; an error is raised again under fname at
 * the line that called the Lua function calling _call_as (as error(msg, 2) from there), with
 * names (a table, or nil) renaming the callee's words for its arguments.  Every argument after
 * f goes to f. */
static int r_call_as(lua_State *L) {
    luaL_checkstring(L, 1);
    if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    if (lua_pcall(L, lua_gettop(L) - 3, LUA_MULTRET, 0) == LUA_OK) return lua_gettop(L) - 2;
    return raise_as(L, 2, 1, lua_isnil(L, 2) ? 0 : 2);
}

/* The closure _at_caller makes: f(...)'s results; on an error e, handler(first argument, e,
 * where)'s result is raised instead, where being the line that called the closure ("" from C).
 * As named_call, being a C function it keeps that line when tail-called ("return self.fc(x)"
 * calls nn.Module's __call so); handler is called only on an error.  f may yield (a forward
 * inside a coroutine, as with a Lua __call): the call is a lua_pcallk, and at_caller_done is
 * its continuation, with the stack [first argument, results...] or [first argument, error]. */
static int at_caller_done(lua_State *L, int status, lua_KContext ctx) {
    (void)ctx;
    if (status == LUA_OK || status == LUA_YIELD) return lua_gettop(L) - 1;
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_insert(L, 1); /* handler, first argument, error */
    luaL_where(L, 1);
    lua_call(L, 3, 1);
    return lua_error(L);
}

static int at_caller_call(lua_State *L) {
    int n = lua_gettop(L);
    if (n == 0)
        lua_pushnil(L);
    else
        lua_pushvalue(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_rotate(L, 1, 2); /* first argument, f, arguments */
    return at_caller_done(L, lua_pcallk(L, n, LUA_MULTRET, 0, 0, at_caller_done), 0);
}

/* _at_caller(f, handler): f as a function whose errors handler words, knowing the line that
 * called it: nn.Module's __call, which raises a library layer's error at the user's line. */
static int r_at_caller(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    l_checkend(L, 2, "_at_caller");
    lua_pushcclosure(L, at_caller_call, 2);
    return 1;
}

/* _error_parts(msg): the leading "file:line: " position, the leading "op: " name after it (as
 * _named drops them; "" when absent) and the rest, which make msg again in that order. */
static int r_error_parts(lua_State *L) {
    size_t len;
    const char *msg = luaL_checklstring(L, 1, &len);
    l_checkend(L, 1, "_error_parts");
    size_t pos = position_len(msg), bare = bare_offset(msg);
    lua_pushlstring(L, msg, pos);
    lua_pushlstring(L, msg + pos, bare - pos);
    lua_pushlstring(L, msg + bare, len - bare);
    return 3;
}

static const luaL_Reg funcs[] = {
    {"_named", r_named},
    {"_call_as", r_call_as},
    {"_at_caller", r_at_caller},
    {"_error_parts", r_error_parts},
    {NULL, NULL},
};

void l_open_named(lua_State *L, int module, int methods) {
    (void)methods;
    l_setfuncs(L, module, funcs);
}
