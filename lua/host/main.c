/* main.c -- the `graphids` command line: REPL, run FILE, -e CODE, version, help.
 *
 *   graphids                       interactive REPL (the globals `graphids` and `arg` preset)
 *   graphids run FILE.lua [args]   run a script; `arg` and `...` as with lua5.4
 *   graphids -e CODE [args]        run a chunk (the global `graphids` is preset)
 *   graphids version               versions, BLAS, threads, stdlib, CUDA plugin
 *   graphids gpu info              the CUDA devices, or why there are none
 *   graphids data|ckpt|track|fit|test|pipeline|runs|analyze ...
 *                                  commands written in Lua: graphids.cli.<command>.main(args)
 *   graphids help                  this summary
 *
 * Exit codes: 0 success, 1 a Lua error (its traceback goes to stderr), 2 a bad command line.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gids/runtime.h"
#include "../src/edit_distance.h"
#include "host_impl.h"

static const char usage[] =
    "usage: graphids [command] [args]\n"
    "\n"
    "  (no command)               interactive REPL; the global `graphids` is preset\n"
    "  run FILE.lua [args...]     run a Lua script (`-` reads it from stdin); the script gets\n"
    "                             the global `arg` (arg[0] = FILE, arg[1..] = args), `...`\n"
    "                             and the global `graphids`\n"
    "  -e CODE [args...]          run a Lua chunk; the global `graphids` is preset\n"
    "  version                    graphids, Lua and BLAS versions, threads, CUDA plugin\n"
    "  gpu info                   CUDA driver, runtime and library versions, the devices\n"
    "  fit|test --config R ...    train / evaluate one stage recipe\n"
    "  pipeline P.lua [--dry-run] run a pipeline of stages (skip, resume or run each)\n"
    "  runs list|show|compare     results of past runs\n"
    "  analyze --config R ...     analysis artifacts of a stage's checkpoint (embeddings,\n"
    "                             attention, CKA, loss landscape, fusion policy)\n"
    "  data SUBCOMMAND [args...]  CAN logs and datasets: convert, simulate, build, inspect,\n"
    "                             rebuild\n"
    "  ckpt inspect FILE [--json] what a checkpoint holds\n"
    "  track sync RUN_DIR...      deliver spooled tracking events\n"
    "  help                       this text\n"
    "\n"
    "Each command written in Lua takes --help.\n"
    "\n"
    "Environment: LUA_PATH / LUA_CPATH are honoured (the graphids stdlib comes first);\n"
    "GRAPHIDS_STDLIB overrides where the stdlib is found; GRAPHIDS_HISTORY names the REPL\n"
    "history file (default ~/.graphids_history); OMP_NUM_THREADS sets the CPU threads;\n"
    "GOMP_SPINCOUNT (10000 unless it or OMP_WAIT_POLICY is set) how long a waiting thread spins;\n"
    "GRAPHIDS_ADAPTIVE_THREADS=0 keeps every parallel region on all its threads (by default a\n"
    "region runs on one while its others would only be waited for, on a loaded machine).\n";

/* The commands and options, for "did you mean" (the Lua commands are those the usage lists). */
static const char *const commands[] = {"run",      "version", "gpu",  "help", "fit",   "test",
                                       "pipeline", "runs",    "data", "ckpt", "track", "analyze"};
static const char *const options[] = {"--version", "--help"};

/* The candidate nearest to word, or NULL: within the distance graphids.orchestrate.cliargs
 * .suggest allows (1 up to 4 letters, 2 up to 8, else 3; a prefix of 3 letters or more counts
 * 1), so both sides suggest alike. */
static const char *nearest(const char *word, const char *const *names, size_t n) {
    size_t len = strlen(word), limit = len <= 4 ? 1 : len <= 8 ? 2 : 3, best_d = (size_t)-1;
    const char *best = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t d = len > 2 && strncasecmp(names[i], word, len) == 0
                       ? 1
                       : l_edit_distance(word, names[i], true);
        if (d < best_d) best = names[i], best_d = d;
    }
    return best_d <= limit ? best : NULL;
}

static int usage_error(const char *fmt, const char *what) {
    fprintf(stderr, "graphids: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n%s", usage);
    return HOST_EXIT_USAGE;
}

static int is_help(const char *arg) {
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* The global `arg` as lua.c builds it: arg[0] is the script, arg[1..] its arguments, negative
 * indices the words before it.  Pushes the arguments for `...` and returns their count. */
static int push_args(lua_State *L, char **argv, int argc, int script) {
    lua_createtable(L, argc - script - 1, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
    int n = argc - script - 1;
    luaL_checkstack(L, n + 3, "too many arguments");
    for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
    return n;
}

static int run_file(lua_State *L, char **argv, int argc) {
    const char *file = argv[2];
    if (host_require_graphids(L) != LUA_OK) return HOST_EXIT_ERROR;
    int status = luaL_loadfile(L, strcmp(file, "-") == 0 ? NULL : file);
    if (status != LUA_OK) {
        host_report(L, status);
        return HOST_EXIT_ERROR;
    }
    int n = push_args(L, argv, argc, 2);
    status = host_docall(L, n, 0);
    return host_report(L, status) == LUA_OK ? 0 : HOST_EXIT_ERROR;
}

static int run_code(lua_State *L, char **argv, int argc) {
    if (host_require_graphids(L) != LUA_OK) return HOST_EXIT_ERROR;
    int status = luaL_loadbuffer(L, argv[2], strlen(argv[2]), "=(command line)");
    if (status != LUA_OK) {
        host_report(L, status);
        return HOST_EXIT_ERROR;
    }
    int n = push_args(L, argv, argc, 2);
    status = host_docall(L, n, 0);
    return host_report(L, status) == LUA_OK ? 0 : HOST_EXIT_ERROR;
}

/* A command written in Lua lives in stdlib/graphids/cli/<cmd>.lua (or cli/<cmd>/init.lua):
 * its main(args) gets the words after the command and returns the exit code (nil means 0).
 * Returns -1 when there is no such module, so the caller can report an unknown command. */
static int run_lua_command(lua_State *L, const char *cmd, char **argv, int argc) {
    for (const char *c = cmd; *c; c++)
        if ((*c < 'a' || *c > 'z') && *c != '_') return -1;
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchpath");
    lua_pushfstring(L, "graphids.cli.%s", cmd);
    lua_getfield(L, -3, "path");
    lua_call(L, 2, 1);
    int found = !lua_isnil(L, -1);
    lua_pop(L, 2);
    char why[PATH_MAX + 128];
    if (!found && host_stdlib_missing(why, sizeof why) != NULL) {
        /* not an unknown command: no command written in Lua can be found */
        fprintf(stderr, "graphids: %s: %s\n", cmd, why);
        return HOST_EXIT_ERROR;
    }
    if (!found) return -1;
    if (host_require_graphids(L) != LUA_OK) return HOST_EXIT_ERROR;
    lua_getglobal(L, "require");
    lua_pushfstring(L, "graphids.cli.%s", cmd);
    int status = host_docall(L, 1, 1);
    if (status != LUA_OK) return host_report(L, status), HOST_EXIT_ERROR;
    lua_getfield(L, -1, "main");
    lua_createtable(L, argc - 2, 0);
    for (int i = 2; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    status = host_docall(L, 1, 1);
    if (status != LUA_OK) return host_report(L, status), HOST_EXIT_ERROR;
    int code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
    lua_pop(L, 2);
    return code;
}

static int dispatch(lua_State *L, int argc, char **argv) {
    if (argc < 2) {
        /* as in lua5.4 without a script: arg[0] is the program as it was called */
        push_args(L, argv, argc, 0);
        return host_repl(L);
    }
    const char *cmd = argv[1];
    /* `run --help`, `version --help`, `gpu --help`: the usage (a script named --help would
     * have to be run as ./--help) */
    if (argc == 3 && is_help(argv[2]) &&
        (strcmp(cmd, "run") == 0 || strcmp(cmd, "version") == 0 || strcmp(cmd, "gpu") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0) {
        if (argc < 3) return usage_error("%s: missing FILE.lua", "run");
        return run_file(L, argv, argc);
    }
    if (strcmp(cmd, "-e") == 0) {
        if (argc < 3) return usage_error("%s: missing CODE", "-e");
        return run_code(L, argv, argc);
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "-v") == 0) {
        if (argc > 2) return usage_error("version takes no arguments, got '%s'", argv[2]);
        host_print_version(L);
        return 0;
    }
    if (strcmp(cmd, "gpu") == 0) {
        if (argc < 3) return usage_error("%s: missing subcommand (expected 'gpu info')", "gpu");
        if (strcmp(argv[2], "info") != 0)
            return usage_error("gpu: unknown subcommand '%s' (expected 'gpu info')", argv[2]);
        if (argc == 4 && is_help(argv[3])) {
            fputs(usage, stdout);
            return 0;
        }
        if (argc > 3) return usage_error("gpu info takes no arguments, got '%s'", argv[3]);
        return host_gpu_info();
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    const char *kind = "command", *near;
    if (cmd[0] == '-') {
        kind = "option";
        near = nearest(cmd, options, sizeof options / sizeof options[0]);
    } else {
        int code = run_lua_command(L, cmd, argv, argc);
        if (code >= 0) return code;
        near = nearest(cmd, commands, sizeof commands / sizeof commands[0]);
    }
    if (near != NULL)
        fprintf(stderr, "graphids: unknown %s '%s' (did you mean '%s'?)\n%s", kind, cmd, near,
                usage);
    else
        fprintf(stderr, "graphids: unknown %s '%s'\n%s", kind, cmd, usage);
    return HOST_EXIT_USAGE;
}

int main(int argc, char **argv) {
    /* a switch with a value it does not take is a usage error, said before anything runs (the
     * module refuses it too, for other Lua programs) */
    if (gids_check_env() != GIDS_OK) {
        fprintf(stderr, "graphids: %s\n", gids_error_message());
        return HOST_EXIT_USAGE;
    }
    host_tune_openmp(argv);
    lua_State *L = host_newstate();
    if (L == NULL) {
        fprintf(stderr, "graphids: cannot create a Lua state (out of memory)\n");
        return HOST_EXIT_ERROR;
    }
    int code = dispatch(L, argc, argv);
    fflush(stdout);
    lua_close(L);
    return code;
}
