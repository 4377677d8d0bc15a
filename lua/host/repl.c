/* repl.c -- the interactive loop of `graphids`: readline editing and history, multi-line
 * entries (an incomplete chunk continues on the next line, as in lua.c), values printed
 * automatically ("return <line>" is tried first), Tab completion of globals, fields and
 * methods, and Ctrl-C that cancels the line at the prompt or interrupts a running statement.
 *
 * How values are shown and what Tab offers come from the Lua module graphids.repl (so they
 * can be tested and changed in Lua); without it the loop still works with plain tostring and
 * no completion.  When stdin is not a terminal the loop reads plain lines and prints no
 * prompt, so it can be driven through a pipe.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "gids/runtime.h"
#include "host_impl.h"

#define PROMPT1 "> "
#define PROMPT2 ">> "
#define HISTORY_LINES 1000

/* Readline's callbacks carry no user pointer, so the loop's state lives here (one REPL per
 * process). */
static lua_State *repl_L;
static int helpers_ref = LUA_NOREF;
static volatile sig_atomic_t prompt_sigint;
static char *cb_line;
static int cb_done;
static const char *history_path; /* NULL: no history file */

/* ---------------------------------------------------------------- reading lines */

static void on_line(char *line) {
    cb_line = line;
    cb_done = 1;
    rl_callback_handler_remove();
}

static void on_prompt_sigint(int sig) {
    (void)sig;
    prompt_sigint = 1;
}

typedef enum { READ_LINE, READ_EOF, READ_CANCEL } read_result;

/* The callback interface lets a Ctrl-C at the prompt end select() with EINTR, so the line is
 * dropped and the loop goes on, instead of killing the program. */
static read_result read_tty(const char *prompt, char **out) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prompt_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    /* SIGINT stays blocked except inside pselect, so a Ctrl-C that lands while readline
     * handles a key is seen at the next wait instead of being lost. */
    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    sigdelset(&waitmask, SIGINT);
    prompt_sigint = 0;
    cb_done = 0;
    cb_line = NULL;
    read_result r = READ_LINE;
    rl_callback_handler_install(prompt, on_line);
    while (!cb_done) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fileno(rl_instream), &fds);
        int n = pselect(fileno(rl_instream) + 1, &fds, NULL, NULL, NULL, &waitmask);
        if (n < 0 && errno == EINTR) {
            if (!prompt_sigint) continue;
            rl_free_line_state();
            rl_callback_sigcleanup();
            rl_cleanup_after_signal();
            rl_callback_handler_remove();
            fputs("\n", stdout);
            r = READ_CANCEL;
            break;
        }
        if (n < 0) {
            rl_callback_handler_remove();
            break;
        }
        rl_callback_read_char();
    }
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    sigaction(SIGINT, &old, NULL);
    if (r == READ_CANCEL) return r;
    if (cb_line == NULL) {
        fputs("\n", stdout);
        return READ_EOF;
    }
    *out = cb_line;
    return READ_LINE;
}

static read_result read_pipe(char **out) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return READ_EOF;
    }
    if (n > 0 && line[n - 1] == '\n') line[n - 1] = '\0';
    *out = line;
    return READ_LINE;
}

static read_result read_line(int tty, const char *prompt, char **out) {
    fflush(stdout);
    return tty ? read_tty(prompt, out) : read_pipe(out);
}

/* ---------------------------------------------------------------- completion */

static char **matches;
static size_t nmatches, next_match;

static void clear_matches(void) {
    for (size_t i = next_match; i < nmatches; i++) free(matches[i]);
    free(matches);
    matches = NULL;
    nmatches = next_match = 0;
}

/* Asks graphids.repl.complete(text) for the candidates; errors just mean no candidates. */
static void collect_matches(const char *text) {
    clear_matches();
    lua_State *L = repl_L;
    if (helpers_ref == LUA_NOREF) return;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, helpers_ref);
    if (lua_getfield(L, -1, "complete") == LUA_TFUNCTION) {
        lua_pushstring(L, text);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TTABLE) {
            size_t n = (size_t)lua_rawlen(L, -1);
            matches = calloc(n > 0 ? n : 1, sizeof(char *));
            for (size_t i = 0; matches != NULL && i < n; i++) {
                lua_rawgeti(L, -1, (lua_Integer)i + 1);
                const char *s = lua_tostring(L, -1);
                if (s != NULL && (matches[nmatches] = strdup(s)) != NULL) nmatches++;
                lua_pop(L, 1);
            }
        }
    }
    lua_settop(L, top);
}

static char *generator(const char *text, int state) {
    if (state == 0) collect_matches(text);
    if (next_match < nmatches) return matches[next_match++];
    return NULL;
}

static char **complete(const char *text, int start, int end) {
    (void)start;
    (void)end;
    rl_attempted_completion_over = 1;      /* never fall back to file names */
    rl_completion_append_character = '\0'; /* readline resets it to ' ' before each call */
    return rl_completion_matches(text, generator);
}

/* ---------------------------------------------------------------- history */

/* Whether joining entry's lines by spaces could change what it means: a comment ends at the
 * newline, a long string holds it, and a backslash at the end of a line inside a short string
 * ("a\<newline>b") stands for it, where "a\ b" does not even load. */
static int newline_matters(const char *entry) {
    if (strstr(entry, "--") != NULL || strstr(entry, "[[") != NULL || strstr(entry, "[=") != NULL)
        return 1;
    for (const char *nl = strchr(entry, '\n'); nl != NULL; nl = strchr(nl + 1, '\n'))
        if (nl > entry && nl[-1] == '\\') return 1;
    return 0;
}

/* Each entry is appended at once, so the history survives os.exit() and crashes.  The history
 * file holds one entry per line, so a multi-line entry is stored joined by spaces, which Lua
 * reads the same way -- unless a newline in it matters, when it keeps its lines (and they come
 * back as separate entries). */
static void remember(const char *entry) {
    char *joined = NULL;
    if (strchr(entry, '\n') != NULL && !newline_matters(entry) &&
        (joined = strdup(entry)) != NULL) {
        for (char *c = joined; *c != '\0'; c++)
            if (*c == '\n') *c = ' ';
        entry = joined;
    }
    add_history(entry);
    if (history_path != NULL) append_history(1, history_path);
    free(joined);
}

/* ---------------------------------------------------------------- evaluating */

/* lua.c's test: a syntax error at <eof> means the chunk is not finished yet. */
static int incomplete(lua_State *L, int status) {
    if (status != LUA_ERRSYNTAX) return 0;
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    static const char eof[] = "<eof>";
    size_t k = sizeof eof - 1;
    return len >= k && strcmp(msg + len - k, eof) == 0;
}

/* Writes s with its length: a Lua string may hold NUL bytes ("a\0b"), which %s would cut. */
static void write_string(lua_State *L, int idx) {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (s != NULL) fwrite(s, 1, len, stdout);
}

static int tolstring_one(lua_State *L) {
    luaL_tolstring(L, 1, NULL);
    return 1;
}

/* The display without graphids.repl (a stdlib without it): the values' tostring, tab-separated,
 * as the stand-alone lua shows them; nil and a message when a __tostring raises. */
static int show_plain(lua_State *L) {
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) luaL_addchar(&b, '\t');
        lua_pushcfunction(L, tolstring_one);
        lua_pushvalue(L, i);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
            const char *why = lua_tostring(L, -1);
            lua_pushnil(L);
            if (why != NULL)
                lua_pushfstring(L, "error showing the value (%s)", why);
            else
                lua_pushfstring(L, "error showing the value (error object is a %s value)",
                                luaL_typename(L, -2));
            return 2;
        }
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return 1;
}

/* Prints the values above base; returns LUA_OK, or LUA_ERRRUN when one could not be shown (its
 * __tostring raised: the show function returns nil and a message), which is reported -- without
 * a traceback into the display's own code -- and counts as a failed entry. */
static int print_results(lua_State *L, int base) {
    int n = lua_gettop(L) - base;
    if (n <= 0) return LUA_OK;
    if (helpers_ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, helpers_ref);
        lua_getfield(L, -1, "show");
        lua_remove(L, -2);
    } else {
        lua_pushcfunction(L, show_plain);
    }
    lua_insert(L, base + 1);
    int status = host_docall(L, n, 2);
    if (status == LUA_OK && lua_type(L, -2) == LUA_TSTRING) {
        write_string(L, -2);
        fputc('\n', stdout);
    } else if (status == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
        status = LUA_ERRRUN;
        host_report(L, status);
    } else if (status != LUA_OK) {
        host_report(L, status);
    }
    lua_settop(L, base);
    return status;
}

/* Reads a continuation line and appends it to the entry at the top of the stack (which is
 * dropped when the input ends or Ctrl-C cancels it). */
static read_result append_line(lua_State *L, int tty) {
    char *line = NULL;
    read_result r = read_line(tty, PROMPT2, &line);
    if (r != READ_LINE) {
        lua_pop(L, 1);
        return r;
    }
    lua_pushliteral(L, "\n");
    lua_pushstring(L, line);
    free(line);
    lua_concat(L, 3);
    return READ_LINE;
}

/* The input ended inside an entry ("for i = 1, 3 do" and no end): a syntax error, reported
 * like any other, so a piped script cut short does not pass for a complete one. */
static int unfinished(lua_State *L, read_result r) {
    if (r != READ_EOF) return -2;
    lua_pushliteral(L, "stdin: the input ended inside an unfinished entry");
    return LUA_ERRSYNTAX;
}

/* Reads one entry (possibly several lines) and loads it; leaves the chunk or an error on the
 * stack.  Returns the load status, or -1 at end of input, or -2 when Ctrl-C dropped it. */
static int read_entry(lua_State *L, int tty) {
    char *line = NULL;
    read_result r = read_line(tty, PROMPT1, &line);
    if (r == READ_EOF) return -1;
    if (r == READ_CANCEL) return -2;
    /* "=expr" is "return expr", as in lua.c (Lua 5.1's habit, still typed) */
    lua_pushstring(L, line[0] == '=' ? line + 1 : line);
    free(line);
    int status;
    /* An expression prints its value: try the entry as `return <entry>` first, and keep
     * reading while that is merely unfinished ("f(1," or "{1,"). */
    for (;;) {
        const char *ret = lua_pushfstring(L, "return %s", lua_tostring(L, -1));
        status = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");
        lua_remove(L, -2); /* the `return` text */
        if (!incomplete(L, status)) break;
        lua_pop(L, 1);
        if ((r = append_line(L, tty)) != READ_LINE) return unfinished(L, r);
    }
    if (status != LUA_OK) {
        lua_pop(L, 1);
        for (;;) {
            size_t len;
            const char *code = lua_tolstring(L, -1, &len);
            status = luaL_loadbuffer(L, code, len, "=stdin");
            if (!incomplete(L, status)) break;
            lua_pop(L, 1);
            if ((r = append_line(L, tty)) != READ_LINE) return unfinished(L, r);
        }
    }
    if (tty && lua_rawlen(L, -2) > 0) remember(lua_tostring(L, -2));
    lua_remove(L, -2);
    return status;
}

/* ---------------------------------------------------------------- the loop */

static const char *history_file(char *buf, size_t n) {
    const char *env = getenv("GRAPHIDS_HISTORY");
    if (env != NULL) return env[0] != '\0' ? env : NULL;
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0') return NULL;
    snprintf(buf, n, "%s/.graphids_history", home);
    return buf;
}

static void load_helpers(lua_State *L) {
    lua_getglobal(L, "require");
    lua_pushliteral(L, "graphids.repl");
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TTABLE) {
        helpers_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return;
    }
    fprintf(stderr, "graphids: REPL helpers unavailable (%s); values print with tostring\n",
            lua_tostring(L, -1) != NULL ? lua_tostring(L, -1) : "?");
    lua_pop(L, 1);
}

int host_repl(lua_State *L) {
    int tty = isatty(STDIN_FILENO);
    repl_L = L;
    /* without graphids a session is of no use, and a piped one must not pass for run: exit 1
     * as run and -e do (the reason is said: a stdlib not found, or the error loading it) */
    if (host_require_graphids(L) != LUA_OK) return HOST_EXIT_ERROR;
    load_helpers(L);
    char hbuf[PATH_MAX];
    const char *hist = NULL;
    if (tty) {
        rl_readline_name = "graphids";
        rl_catch_signals = 0;
        rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(+-*/%^~#,[";
        rl_attempted_completion_function = complete;
        hist = history_file(hbuf, sizeof hbuf);
        stifle_history(HISTORY_LINES);
        /* append_history needs the file to exist */
        if (hist != NULL && read_history(hist) != 0 && write_history(hist) != 0) hist = NULL;
        history_path = hist;
        printf("graphids %s (%s) -- Ctrl-D exits\n", gids_version(), LUA_VERSION);
    }
    int failed = 0;
    for (;;) {
        int base = lua_gettop(L);
        int status = read_entry(L, tty);
        if (status == -1) break;
        if (status == -2) continue;
        if (status == LUA_OK) status = host_docall(L, 0, LUA_MULTRET);
        if (status == LUA_OK) {
            if (print_results(L, base) != LUA_OK) failed = 1;
        } else {
            host_report(L, status);
            failed = 1;
        }
        lua_settop(L, base);
        fflush(stdout);
    }
    if (hist != NULL) history_truncate_file(hist, HISTORY_LINES);
    clear_matches();
    /* Piped input (graphids < session.lua) runs entry by entry like a typed session, but a
     * script's caller must see that an entry failed; an interactive session always ends 0. */
    return !tty && failed ? 1 : 0;
}
