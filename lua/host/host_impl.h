/* host_impl.h -- internal to the `graphids` host program (lua/host/): the shared pieces of the
 * CLI (main.c), the Lua state set-up and protected calls (host.c), the REPL (repl.c) and
 * OpenMP's waiting (omp_env.c).
 */
#ifndef GIDS_HOST_IMPL_H
#define GIDS_HOST_IMPL_H

#include <lauxlib.h>
#include <lua.h>

/* Exit codes: a script error is 1 (as lua.c), a bad command line 2 (as getopt tools). */
#define HOST_EXIT_ERROR 1
#define HOST_EXIT_USAGE 2

/* A fresh state with the standard libraries, graphids.core in package.preload and
 * package.path / cpath pointing at the stdlib that belongs to this executable.  NULL when out
 * of memory. */
lua_State *host_newstate(void);

/* The directory holding the running executable (from /proc/self/exe), without a trailing
 * slash; "" when it cannot be found. */
const char *host_exe_dir(void);

/* NULL when the stdlib is found, else why not (in buf): $GRAPHIDS_STDLIB names a folder
 * without graphids/init.lua, or no default place has it. */
const char *host_stdlib_missing(char *buf, size_t n);

/* lua_pcall with a traceback message handler and Ctrl-C turned into an "interrupted!" error
 * for the duration of the call. */
int host_docall(lua_State *L, int narg, int nres);
/* Prints the error at the top of the stack (if status != LUA_OK) to stderr and pops it. */
int host_report(lua_State *L, int status);

/* Sets the global `graphids` to require("graphids"); reports and returns the status (an
 * error naming the stdlib when it is missing). */
int host_require_graphids(lua_State *L);

/* Writes the `graphids version` report to stdout. */
void host_print_version(lua_State *L);
/* `graphids gpu info`: the backend's report, or why there is no GPU (exit code). */
int host_gpu_info(void);

/* Unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set or valgrind runs the program, sets
 * GOMP_SPINCOUNT=10000 and executes the program again with argv (libgomp reads its environment only
 * when it is loaded; omp_env.c says why).  Returns only when nothing was to be done or the exec
 * failed. */
void host_tune_openmp(char **argv);

/* The interactive loop; returns the process exit code. */
int host_repl(lua_State *L);

#endif
