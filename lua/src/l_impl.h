/* l_impl.h -- internal helpers of the binding core (l_util, l_tensor, l_create, l_format,
 * l_random, l_runtime).  binding.h is the contract shared with the other area files; what is
 * here is private to these files and may change with them.
 */
#ifndef GIDS_L_IMPL_H
#define GIDS_L_IMPL_H

#include "binding.h"

#define L_GENERATOR_MT "graphids.Generator"

/* The Generator userdata holds its state by value: the stream is (seed, offset). */
typedef struct l_generator {
    gids_generator g;
    uint64_t initial_seed;
} l_generator;

/* Name of the running C function as Lua called it ("zeros", "view"), "?" when unknown. */
const char *l_fname(lua_State *L);

/* Raises "<fname>: <message>" at the Lua caller's position (as error(msg, 2) would). */
int l_error(lua_State *L, const char *fmt, ...);
/* The value at i as a message shows it: "2.5", "'abc' (a string)", "nil", "a table", "nothing". */
const char *l_describe(lua_State *L, int i);

/* l_optstr / l_optdtype naming the function explicitly (the binding.h forms use the name Lua
 * called the function by, which is a local's name when called through one). */
/* l_optbool naming fname in its error (a function whose Lua name is not its documented one). */
int l_optbool_named(lua_State *L, int idx, const char *key, int def, const char *fname);
const char *l_optstr_named(lua_State *L, int idx, const char *key, const char *def,
                           const char *fname);
gids_dtype l_optdtype_named(lua_State *L, int idx, const char *key, gids_dtype def,
                            const char *fname);

/* Raises "<fname>: size -1 at position 2 must be >= 0" for a shape of a new tensor. */
void l_check_sizes(lua_State *L, int n, const int64_t *shape, const char *fname);

/* Heap tracking (l_util.c): the soft limit in bytes, per Lua state. */
int64_t l_heap_soft_limit(lua_State *L);
void l_heap_set_soft_limit(lua_State *L, int64_t bytes);
/* After a backward: a full collection when the bytes grew by the slack since the last one. */
void l_heap_after_backward(lua_State *L);

/* Address of the element at the (0-based) coordinates idx of a CPU tensor. */
void *l_elem_ptr(const gids_tensor *t, const int64_t *idx);
/* Pushes the element at p as a Lua value: integer for integer dtypes, float for float dtypes,
 * boolean for bool. */
void l_push_elem(lua_State *L, gids_dtype dt, const void *p);

/* The message and failure of a device the build cannot serve ("cuda" without the plugin):
 * raises unless `name` is "cpu".  Returns the parsed device. */
gids_device l_check_device(lua_State *L, const char *name, const char *fname);

/* The autograd fields of a Tensor (l_autograd.c), for __index / __newindex of l_tensor.c:
 * requires_grad, grad, grad_fn and is_leaf.  l_autograd_getfield pushes the value of key k and
 * returns 1, or returns 0 (nothing pushed) when k is not one of them; l_autograd_setfield sets
 * requires_grad or grad from the value at index 3 and returns 1, or returns 0 for other keys. */
int l_autograd_getfield(lua_State *L, gids_tensor *t, const char *k);
int l_autograd_setfield(lua_State *L, gids_tensor *t, const char *k);

/* The backward started from Lua that runs on this OS thread (l_autograd.c), NULL when none: the
 * backward of a custom Function (l_function.c) calls into Lua on its thread, and leaves the
 * error it raised at err_at for the backward call to raise. */
typedef struct l_bwd_call {
    lua_State *L;    /* the thread running backward: Lua backwards run on it */
    lua_State *main; /* its state's main thread: identifies the state */
    int err_at;      /* stack index of the error a Lua backward raised (0: none) */
} l_bwd_call;
l_bwd_call *l_current_backward(void);
lua_State *l_main_thread(lua_State *L);
/* Adds Function to the graphids.autograd table at index `autograd` (l_function.c). */
void l_open_function(lua_State *L, int autograd);
/* Adds register_hook to the Tensor methods at index `methods` (l_hook.c). */
void l_open_hook(lua_State *L, int methods);
/* For the __gc of a handle (at idx, live, with hooks registered through it): when a graph still
 * reaches the hooks, keeps the handle (and its tensor, which it must not release) for a later
 * collection and returns 1; returns 0 when the handle may release its tensor.  Raises nothing.
 * (l_hook_keep.c) */
int l_hook_keep(lua_State *L, int idx);
/* Before a handle (at idx, live, with hooks registered through it) releases its tensor by hand
 * (t:free(), __close): hands the hooks' functions over to the registry when a graph still
 * reaches them.  Raises nothing.  (l_hook_keep.c) */
void l_hook_handover(lua_State *L, int idx);

/* Creation functions (l_create.c) and printing (l_format.c), opened by l_open_tensor. */
void l_open_create(lua_State *L, int module, int methods);
void l_open_format(lua_State *L, int module, int metatable);

#endif
