/* binding.h -- internal helpers shared by the files of the graphids.core Lua module.
 *
 * Only files under lua/ include lua.h.  Each area of the API lives in its own l_<area>.c and
 * exports one `l_open_<area>(L, module, methods)` that registers its functions in the module
 * table and, for those that are also Tensor methods, in the methods table (both absolute stack
 * indices).  The same C function serves `graphids.add(a, b)` and `a:add(b)`.
 *
 * Conventions (DESIGN.md §2): dims are 1-based in Lua (negative counts from the end, -1 is the
 * last) and converted with l_checkdim; index *data* stays 0-based.  Options come as a trailing
 * table whose unknown keys are an error.  A failing runtime call becomes a Lua error carrying the
 * runtime's message (raised only after the binding released its temporaries).
 *
 * Autograd: every differentiable op calls its gids_ag_* form (autograd.h), which runs the plain
 * op and records a node only when grad mode is on and an input requires grad; ops whose results
 * are not differentiable (comparisons, argmax, sort indices, nonzero) call the plain op.  Every
 * in-place method calls l_check_inplace first.
 */
#ifndef GIDS_BINDING_H
#define GIDS_BINDING_H

#include <lauxlib.h>
#include <lua.h>

#include "gids/graphids.h"

#define L_TENSOR_MT "graphids.Tensor"

typedef struct l_tensor {
    gids_tensor *t; /* NULL after t:free() / __close / __gc */
    bool hooks;     /* gradient hooks were registered through this handle (l_hook.c) */
} l_tensor;

/* Raises "bad argument #i to 'f' (graphids.Tensor expected, got X)" or "attempt to use a
 * freed tensor". BORROW. */
gids_tensor *l_checktensor(lua_State *L, int i);
/* The handle at i, or NULL when the value is not a Tensor (freed handles are returned). */
l_tensor *l_testtensor(lua_State *L, int i);
/* The handle at i (possibly freed); raises a type error when the value is not a Tensor. */
l_tensor *l_checkhandle(lua_State *L, int i);
/* Creates the Tensor metatable (module opening, before any area). */
void l_tensor_mt_init(lua_State *L);
/* NULL when the value at i is not a live tensor. BORROW. */
gids_tensor *l_totensor(lua_State *L, int i);
/* Pushes a new Tensor handle that takes ownership of t (STEAL); steps the Lua GC when tensor
 * bytes grew past the soft limit (heap tracking). */
void l_pushtensor(lua_State *L, gids_tensor *t);
/* Pushes an empty handle (t == NULL) to fill later: create the owner before the resource. */
l_tensor *l_newtensor(lua_State *L);

/* Raises the runtime's message as a Lua error when s != GIDS_OK; returns 0 otherwise. Release
 * every temporary before calling it with a failing status. */
int l_check_status(lua_State *L, gids_status s);
/* As l_check_status, naming fname where the runtime's message names `inner`, the call fname
 * made ("copy_: ..." of clamp_ becomes "clamp_: ..."). */
int l_check_status_as(lua_State *L, gids_status s, const char *fname, const char *inner);
/* Runs a full collection and gives the allocator's cached blocks back (memory pressure). */
void l_collect(lua_State *L);
/* l_check(L, runtime_call(...)): runs the call; when it fails for lack of memory, runs a full
 * Lua GC (tensors only the GC knew to be dead give their bytes back), empties the allocator's
 * cache and runs the call once more (DESIGN §3), then raises on failure.  Runtime calls that
 * fail leave their outputs untouched, so the second run starts from the same state. */
#define l_check(L, call) l_check_as(L, call, NULL, NULL)

/* l_check, with the runtime's message renamed from inner's to fname's (l_check_status_as; NULL:
 * as it is): an in-place method ("div_") whose runtime op names itself ("div: ..."). */
#define l_check_as(L, call, fname, inner)                                                          \
    do {                                                                                           \
        gids_status l_s_ = (call);                                                                 \
        if (l_s_ == GIDS_ENOMEM) {                                                                 \
            l_collect(L);                                                                          \
            l_s_ = (call);                                                                         \
        }                                                                                          \
        l_check_status_as((L), l_s_, (fname), (inner));                                            \
    } while (0)

/* Before an in-place op on `target` with the tensors `inputs` (NULL entries allowed): raises
 * "add_: a tensor that requires grad cannot be modified in place ..." when autograd refuses it
 * (gids_ag_check_inplace).  Inline: it sits on the path of every small in-place op. */
static inline void l_check_inplace(lua_State *L, const char *op, const gids_tensor *target, int n,
                                   const gids_tensor *const *inputs) {
    gids_status s = gids_ag_check_inplace(op, target, n, inputs);
    if (s != GIDS_OK) l_check_status(L, s);
}

/* Raises "f: unexpected argument #3 (number); options go in one trailing table" when the stack
 * holds more than `last` values. */
void l_checkend(lua_State *L, int last, const char *fname);
/* The length (luaL_len, so a __len counts) of the list at idx, raising "<fname>: <what> has
 * length N, expected 0 to <max> entries" outside [0, max]: a buffer is sized by it, and a
 * made-up __len must not overflow that size. */
lua_Integer l_checklen(lua_State *L, int idx, lua_Integer max, const char *fname, const char *what);
/* The longest list a binding sizes a buffer by (it fits an int, and 8-byte entries a size_t). */
#define L_LIST_MAX ((lua_Integer)1 << 30)

/* Lua dim at arg (1-based, negative from the end) -> 0-based C dim for a tensor of ndim dims.
 * `extra` allows one position past the end (unsqueeze, stack). Raises
 * "f: dim 4 out of range for a tensor of 2 dims (valid: 1..2 or -2..-1)". */
int l_checkdim(lua_State *L, int arg, int ndim, int extra, const char *fname);
int l_optdim(lua_State *L, int arg, int ndim, int def, const char *fname);
/* Converts a Lua dim value (already read) the same way. */
int l_dim_to_c(lua_State *L, lua_Integer d, int ndim, int extra, const char *fname);

/* Shape from either varargs integers starting at `first` (stops at the first non-number) or a
 * table {2, 3} at `first`. Returns ndim; *next receives the stack index after the shape. */
int l_checkshape(lua_State *L, int first, int64_t shape[GIDS_MAX_DIMS], int *next,
                 const char *fname);

/* A Lua number as a scalar (integers stay exact). */
gids_scalar l_checkscalar(lua_State *L, int i);
gids_dtype l_checkdtype(lua_State *L, int i);

/* Options table at idx (absent/nil allowed). l_checkopts raises on a key not in `allowed`
 * (NULL-terminated), naming the function and suggesting the nearest allowed key. */
void l_checkopts(lua_State *L, int idx, const char *fname, const char *const allowed[]);
lua_Integer l_optint(lua_State *L, int idx, const char *key, lua_Integer def);
double l_optnum(lua_State *L, int idx, const char *key, double def);
int l_optbool(lua_State *L, int idx, const char *key, int def);
const char *l_optstr(lua_State *L, int idx, const char *key, const char *def);
/* The path string at arg; one holding a NUL byte raises (C would silently use what precedes
 * it, another file). */
const char *l_checkpath(lua_State *L, int arg);
gids_dtype l_optdtype(lua_State *L, int idx, const char *key, gids_dtype def);
/* opts.requires_grad at idx (absent: false).  When true, makes t -- a tensor just created, so a
 * leaf -- require grad; a non-float t raises "zeros: requires_grad=true needs a float dtype ...".
 */
void l_finish_created(lua_State *L, int idx, l_tensor *u, const char *fname);
/* l_finish_created, with the tensor converted to dt after its move (before requires_grad): how
 * a half tensor is made, filled in f32 on the CPU and converted on its device. */
void l_finish_created_as(lua_State *L, int idx, l_tensor *u, const char *fname, gids_dtype dt);
/* Generator from opts.generator (a graphids.Generator) or the default one. */
gids_generator *l_optgenerator(lua_State *L, int idx);

/* Registers funcs into the table at `tbl` (absolute index). */
void l_setfuncs(lua_State *L, int tbl, const luaL_Reg *funcs);
/* Registers the metatable `mt` of a userdata class (once): the metamethods in meta (__gc,
 * __close, __tostring, ...), methods (may be NULL) as its __index table, and display (may be
 * NULL: mt itself) as the __name messages show. */
void l_newclass(lua_State *L, const char *mt, const char *display, const luaL_Reg *meta,
                const luaL_Reg *methods);

/* Area openers (one per l_<area>.c). */
void l_open_tensor(lua_State *L, int module, int methods); /* l_tensor.c: handle, views, creation */
void l_open_random(lua_State *L, int module, int methods); /* l_random.c */
void l_open_elementwise(lua_State *L, int module, int methods); /* l_elementwise.c */
void l_open_reduce(lua_State *L, int module, int methods);      /* l_reduce.c */
void l_open_linalg(lua_State *L, int module, int methods);      /* l_linalg.c */
void l_open_index(lua_State *L, int module, int methods);       /* l_index.c */
void l_open_sort(lua_State *L, int module, int methods);        /* l_sort.c */
void l_open_join(lua_State *L, int module, int methods);        /* l_join.c */
void l_open_segment(lua_State *L, int module, int methods);     /* l_segment.c */
void l_open_runtime(lua_State *L, int module,
                    int methods); /* l_runtime.c: memory, version, threads */
void l_open_named(lua_State *L, int module, int methods); /* l_named.c: errors as the caller's */
void l_open_autograd(lua_State *L, int module,
                     int methods); /* l_autograd.c, l_function.c: grad modes, backward, Function */
void l_open_optim(lua_State *L, int module, int methods); /* l_optim.c: fused optimizer steps */
void l_open_gpu(lua_State *L, int module, int methods);   /* l_gpu.c: graphids.gpu */
void l_open_can(lua_State *L, int module, int methods);   /* l_can.c: CAN log readers, simulator */
void l_open_windows(lua_State *L, int module, int methods); /* l_windows.c: window graphs */
void l_open_io(lua_State *L, int module, int methods);      /* l_io.c: safetensors, files, locks */
void l_open_graph(lua_State *L, int module, int methods);  /* l_graph.c: batches, message passing */
void l_open_digest(lua_State *L, int module, int methods); /* l_digest.c: graphids.sha256 */
void l_open_metrics(lua_State *L, int module, int methods); /* l_metrics.c: metric hot loops */
void l_open_net(lua_State *L, int module, int methods);     /* l_net.c: HTTP client (tracking) */
void l_open_rnn(lua_State *L, int module, int methods);     /* l_rnn.c: fused LSTM cell */

/* l_can.c: the CAN frame table of the CanFrames userdata at idx (raises when idx is not one).
 * BORROW: valid while the userdata lives. */
struct gids_can_frames;
struct gids_can_frames *l_checkframes(lua_State *L, int idx);
/* The same, or NULL when idx holds no live CanFrames (*freed = 1: one that was freed), for a
 * caller that names the value in its own words (an element of a list). */
struct gids_can_frames *l_testframes(lua_State *L, int idx, int *freed);

int luaopen_graphids_core(lua_State *L);

#endif
