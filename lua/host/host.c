/* host.c -- the Lua state of the `graphids` program: standard libraries, graphids.core
 * preloaded, package paths that find the stdlib installed with (or built next to) this
 * executable, protected calls that Ctrl-C can interrupt, and the version report.
 */
#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lualib.h>

#include "gids/graphids.h"
#include "host_impl.h"

int luaopen_graphids_core(lua_State *L);

/* ---------------------------------------------------------------- paths */

static char exe_dir[PATH_MAX];

const char *host_exe_dir(void) {
    if (exe_dir[0] != '\0') return exe_dir;
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return exe_dir;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash == NULL) return exe_dir;
    *slash = '\0';
    snprintf(exe_dir, sizeof exe_dir, "%s", buf);
    return exe_dir;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Whether this program runs from the build directory it was linked in (the Makefile names it
 * in GIDS_BUILD_BIN): only that binary may fall back to the source tree it was built from.  An
 * installed copy (<prefix>/bin, its share/ removed) or a binary copied elsewhere would
 * otherwise load that checkout's stdlib, perhaps of another version than its own core. */
static int in_own_build_dir(void) {
#ifdef GIDS_BUILD_BIN
    char built[PATH_MAX];
    /* host_exe_dir comes from /proc/self/exe, which has its links resolved: resolve this too */
    return realpath(GIDS_BUILD_BIN, built) != NULL && strcmp(built, host_exe_dir()) == 0;
#else
    return 0;
#endif
}

/* The stdlib root (the directory holding graphids/init.lua): $GRAPHIDS_STDLIB, else the
 * install layout (<exe>/../share/lua/5.4 for <prefix>/bin/graphids), else the source tree of
 * a build (<exe>/../../stdlib for build/bin/graphids, or the tree the program was built from
 * when it runs from its build directory and that is elsewhere).  NULL when none has it (a
 * $GRAPHIDS_STDLIB without graphids/init.lua included: the user chose it, so the others are
 * not tried). */
static const char *stdlib_dir(char *out, size_t n) {
    char probe[PATH_MAX + 64];
    const char *env = getenv("GRAPHIDS_STDLIB");
    if (env != NULL && env[0] != '\0') {
        snprintf(out, n, "%s", env);
        snprintf(probe, sizeof probe, "%s/graphids/init.lua", out);
        return is_file(probe) ? out : NULL;
    }
    static const char *const rel[] = {"/../share/lua/5.4", "/../../stdlib"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(out, n, "%s%s", host_exe_dir(), rel[i]);
        snprintf(probe, sizeof probe, "%s/graphids/init.lua", out);
        if (is_file(probe)) return out;
    }
#ifdef GIDS_SOURCE_STDLIB
    if (in_own_build_dir()) {
        snprintf(out, n, "%s", GIDS_SOURCE_STDLIB);
        snprintf(probe, sizeof probe, "%s/graphids/init.lua", out);
        if (is_file(probe)) return out;
    }
#endif
    return NULL;
}

const char *host_stdlib_missing(char *buf, size_t n) {
    char dir[PATH_MAX];
    if (stdlib_dir(dir, sizeof dir) != NULL) return NULL;
    const char *env = getenv("GRAPHIDS_STDLIB");
    if (env != NULL && env[0] != '\0')
        snprintf(buf, n,
                 "the stdlib at $GRAPHIDS_STDLIB (%s) was not found: it has no "
                 "graphids/init.lua",
                 env);
    else
        snprintf(buf, n, "the graphids stdlib was not found beside %s (set GRAPHIDS_STDLIB)",
                 host_exe_dir());
    return buf;
}

/* Puts `first` in front of package[field] (LUA_PATH / LUA_CPATH entries stay, after it). */
static void prepend_path(lua_State *L, const char *field, const char *first) {
    lua_getglobal(L, "package");
    lua_getfield(L, -1, field);
    lua_pushfstring(L, "%s;%s", first, lua_tostring(L, -1));
    lua_setfield(L, -3, field);
    lua_pop(L, 2);
}

static int open_state(lua_State *L) {
    /* As lua.c: generational mode suits the many short-lived Tensor handles of a script. */
    lua_gc(L, LUA_GCGEN, 0, 0);
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_graphids_core);
    lua_setfield(L, -2, "graphids.core");
    lua_pop(L, 1);
    char dir[PATH_MAX];
    char *real = stdlib_dir(dir, sizeof dir) != NULL ? realpath(dir, NULL) : NULL;
    if (real != NULL) {
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", real, real);
        free(real);
        prepend_path(L, "path", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    /* C submodules: build/lua/ in a build tree, <prefix>/lib/lua/5.4 when installed. */
    const char *exe = host_exe_dir();
    lua_pushfstring(L, "%s/../lua/?.so;%s/../lib/lua/5.4/?.so", exe, exe);
    prepend_path(L, "cpath", lua_tostring(L, -1));
    lua_pop(L, 1);
    return 0;
}

lua_State *host_newstate(void) {
    lua_State *L = luaL_newstate();
    if (L == NULL) return NULL;
    lua_pushcfunction(L, open_state);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        fprintf(stderr, "graphids: cannot set up Lua: %s\n", lua_tostring(L, -1));
        lua_close(L);
        return NULL;
    }
    return L;
}

/* ---------------------------------------------------------------- protected calls */

/* The state a SIGINT handler may touch (only through lua_sethook, which is signal-safe). */
static lua_State *running_L;

/* Ctrl-C presses during the current call. */
static volatile sig_atomic_t sigint_count;
/* An interrupt is armed and has not been raised yet. */
static volatile sig_atomic_t pending;

/* Seconds code that catches "interrupted!" gets to clean up (close a tracking run, remove a
 * temp file) before it is raised again: the stdlib guards many calls with pcall (tracking turns
 * any error into a warning and goes on), and an interrupt caught by one of them was lost, a fit
 * running on to the end after Ctrl-C. */
#define REPEAT_AFTER_S 2.0
static double raised_at;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* After an interrupt was raised: raises it again once the grace period is over, for as long as
 * the call goes on (host_docall removes the hook when it returns). */
static void repeat_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    if (now_s() - raised_at < REPEAT_AFTER_S) return;
    raised_at = now_s();
    luaL_error(L, "interrupted!");
}

static void stop_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    pending = 0;
    raised_at = now_s();
    lua_sethook(L, repeat_hook, LUA_MASKCOUNT, 10000);
    luaL_error(L, "interrupted!");
}

/* As lua.c, a Ctrl-C sets a hook that raises "interrupted!" at the next Lua instruction (and
 * again every REPEAT_AFTER_S while the call goes on).  A long C kernel (a big matmul) cannot be
 * stopped half-way, so a second press while the interrupt is still pending only says so: it
 * often comes right after the first, before anything could be seen, and killing the process
 * then would lose a REPL session (its variables, its loaded data) to impatience.  A press after
 * the interrupt was raised (and caught by the code running) arms a new one.  The fourth press
 * in one call takes the default action, for a C call that never returns or code that catches
 * every interrupt; the second press's message says so (docs/lua-api.md, "The REPL"). */
static void on_sigint(int sig) {
    static const char wait_msg[] = "\ngraphids: stopping when the running C operation returns "
                                   "(Ctrl-C twice more quits)\n";
    static const char again_msg[] = "\ngraphids: interrupting again (Ctrl-C twice more quits)\n";
    sigint_count++;
    if (sigint_count >= 4) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    if (sigint_count == 2) {
        ssize_t w = pending ? write(STDERR_FILENO, wait_msg, sizeof wait_msg - 1)
                            : write(STDERR_FILENO, again_msg, sizeof again_msg - 1);
        (void)w;
    }
    if (!pending) {
        pending = 1;
        lua_sethook(running_L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    }
}

static int msghandler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int host_docall(lua_State *L, int narg, int nres) {
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    running_L = L;
    sigint_count = 0;
    pending = 0;
    void (*old)(int) = signal(SIGINT, on_sigint);
    int status = lua_pcall(L, narg, nres, base);
    signal(SIGINT, old == SIG_ERR ? SIG_DFL : old);
    lua_sethook(L, NULL, 0, 0);
    pending = 0;
    lua_remove(L, base);
    return status;
}

int host_report(lua_State *L, int status) {
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "graphids: %s\n", msg != NULL ? msg : "(error object is not a string)");
        fflush(stderr);
        lua_pop(L, 1);
    }
    return status;
}

int host_require_graphids(lua_State *L) {
    lua_getglobal(L, "require");
    lua_pushliteral(L, "graphids");
    int status = host_docall(L, 1, 1);
    if (status == LUA_OK) lua_setglobal(L, "graphids");
    char why[PATH_MAX + 128];
    if (status != LUA_OK && host_stdlib_missing(why, sizeof why) != NULL) {
        /* require's message lists a dozen paths and does not say which one was meant */
        fprintf(stderr, "graphids: %s\n", why);
        lua_pop(L, 1);
        return status;
    }
    return host_report(L, status);
}

/* ---------------------------------------------------------------- version */

/* Tries to load the CUDA plugin and says what came of it (its path, or the reason). */
static void print_cuda_plugin(void) {
    if (gids_backend_load() == GIDS_OK)
        printf("CUDA plugin: %s (%d device%s)\n", gids_backend_status(),
               gids_backend_get(GIDS_CUDA)->device_count(),
               gids_backend_get(GIDS_CUDA)->device_count() == 1 ? "" : "s");
    else
        printf("CUDA plugin: not available: %s\n", gids_error_message());
    gids_error_clear();
}

int host_gpu_info(void) {
    gids_status st = gids_backend_load();
    if (st == GIDS_EINVAL) { /* a plugin named or found that is broken: not "no GPU" */
        fprintf(stderr, "graphids: gpu info: %s\n", gids_error_message());
        return HOST_EXIT_ERROR;
    }
    if (st != GIDS_OK) {
        printf("no GPU: %s\n", gids_error_message());
        return 0;
    }
    char buf[4096];
    if (gids_backend_get(GIDS_CUDA)->info(buf, sizeof buf) != GIDS_OK) {
        fprintf(stderr, "graphids: gpu info: %s\n", gids_error_message());
        return HOST_EXIT_ERROR;
    }
    printf("CUDA plugin: %s\n%s", gids_backend_status(), buf);
    return 0;
}

void host_print_version(lua_State *L) {
    printf("graphids %s\n", gids_version());
    lua_getglobal(L, "_VERSION");
    printf("Lua: %s (%s)\n", lua_tostring(L, -1), LUA_RELEASE);
    lua_pop(L, 1);
    printf("BLAS: %s\n", gids_blas_info());
    printf("threads: %d (OpenMP; OMP_NUM_THREADS or graphids.set_num_threads to change)\n",
           gids_get_num_threads());
    /* what libgomp was loaded with (omp_env.c sets the spin count when neither is set) */
    const char *policy = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    printf("waiting threads: OMP_WAIT_POLICY=%s GOMP_SPINCOUNT=%s\n", policy ? policy : "(unset)",
           spin ? spin : "(unset)");
    char dir[PATH_MAX], why[PATH_MAX + 128];
    const char *sd = stdlib_dir(dir, sizeof dir);
    char *real = sd != NULL ? realpath(sd, NULL) : NULL;
    printf("stdlib: %s\n", real != NULL ? real
                           : sd != NULL ? sd
                                        : host_stdlib_missing(why, sizeof why));
    free(real);
    print_cuda_plugin();
}
