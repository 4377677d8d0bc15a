/* l_format.c -- tostring(t): values laid out as PyTorch's repr lays them out, character for
 * character inside its "tensor(...)" (one format for every element shown, the width of the
 * widest non-zero finite one, big tensors summarised with "..."), then a Torch7-style line
 * naming the class, dtype and shape: "[graphids.Tensor f32 2x3]" (and "grad_fn=MulBackward" or
 * "requires_grad" for a tensor that takes part in autograd).
 *
 * graphids.printoptions{precision=, threshold=, edgeitems=, linewidth=} tunes it per Lua
 * state; the options live in the registry.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "l_impl.h"

typedef struct l_printopts {
    int precision;     /* digits after the point */
    int64_t threshold; /* more elements than this are summarised */
    int edgeitems;     /* elements kept at each end of a summarised dim */
    int linewidth;     /* rows wrap past this many characters */
} l_printopts;

static const char opts_key = 'p';

static l_printopts *printopts(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &opts_key) == LUA_TUSERDATA) {
        l_printopts *p = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return p;
    }
    lua_pop(L, 1);
    l_printopts *p = lua_newuserdatauv(L, sizeof(l_printopts), 0);
    *p = (l_printopts){4, 1000, 3, 80};
    lua_rawsetp(L, LUA_REGISTRYINDEX, &opts_key);
    return p;
}

/* ---------------------------------------------------------------- element formatting */

typedef enum { F_INT, F_BOOL, F_FLOAT_INT, F_FIXED, F_SCI } fmt_mode;

typedef struct fmt {
    const gids_tensor *t;
    const l_printopts *o;
    int summarize;
    fmt_mode mode;
    int width;
    /* statistics of the non-zero finite float values shown: PyTorch's _Formatter judges the
     * format, and the width, by those alone (a zero, -0.0, NaN or infinity may be wider than the
     * others and then goes unpadded, as in PyTorch) */
    int any_nonzero, all_integral;
    double max_abs, min_abs;
} fmt;

static double elem_f64(const gids_tensor *t, const void *p) {
    switch (t->dtype) {
    case GIDS_F32: return *(const float *)p;
    case GIDS_F64: return *(const double *)p;
    default: return 0.0;
    }
}

static int64_t elem_i64(const gids_tensor *t, const void *p) {
    switch (t->dtype) {
    case GIDS_I64: return *(const int64_t *)p;
    case GIDS_I32: return *(const int32_t *)p;
    case GIDS_U8:
    case GIDS_BOOL: return *(const uint8_t *)p;
    default: return 0;
    }
}

static int format_elem(const fmt *f, const void *p, char *buf, size_t n) {
    if (f->mode == F_INT) return snprintf(buf, n, "%lld", (long long)elem_i64(f->t, p));
    if (f->mode == F_BOOL) return snprintf(buf, n, "%s", elem_i64(f->t, p) ? "true" : "false");
    double v = elem_f64(f->t, p);
    if (isnan(v)) return snprintf(buf, n, "nan");
    if (isinf(v)) return snprintf(buf, n, v > 0 ? "inf" : "-inf");
    if (f->mode == F_FLOAT_INT) return snprintf(buf, n, "%.0f.", v);
    if (f->mode == F_FIXED) return snprintf(buf, n, "%.*f", f->o->precision, v);
    return snprintf(buf, n, "%.*e", f->o->precision, v);
}

/* Visits the elements shown (all of them, or the edge items of each dim when summarising). */
typedef void (*visit_fn)(fmt *f, const void *p);

static int64_t shown_next(const fmt *f, int64_t size, int64_t i) {
    int64_t e = f->o->edgeitems;
    if (f->summarize && size > 2 * e && i == e - 1) return size - e;
    return i + 1;
}

static void walk(fmt *f, int dim, int64_t *idx, visit_fn fn) {
    const gids_tensor *t = f->t;
    if (dim == t->ndim) {
        fn(f, l_elem_ptr(t, idx));
        return;
    }
    for (int64_t i = 0; i < t->shape[dim]; i = shown_next(f, t->shape[dim], i)) {
        idx[dim] = i;
        walk(f, dim + 1, idx, fn);
    }
}

/* Whether a float element counts in the statistics and the width (see fmt). */
static int counted(const fmt *f, const void *p) {
    double v = elem_f64(f->t, p);
    return isfinite(v) && v != 0;
}

static void gather_stats(fmt *f, const void *p) {
    if (!counted(f, p)) return;
    double v = elem_f64(f->t, p), a = fabs(v);
    if (!f->any_nonzero) f->max_abs = f->min_abs = a;
    f->any_nonzero = 1;
    if (v != ceil(v)) f->all_integral = 0;
    if (a > f->max_abs) f->max_abs = a;
    if (a < f->min_abs) f->min_abs = a;
}

static void gather_width(fmt *f, const void *p) {
    if (gids_dtype_is_float(f->t->dtype) && !counted(f, p)) return;
    char buf[64];
    int w = format_elem(f, p, buf, sizeof buf);
    if (w > f->width) f->width = w;
}

/* PyTorch's _Formatter: whole numbers print as "3." and the rest with `precision` digits, both
 * switching to scientific notation when the values shown span more than 1000x, pass 1e8 or
 * fall under 1e-4. */
static void choose_mode(fmt *f) {
    gids_dtype dt = f->t->dtype;
    if (dt == GIDS_BOOL)
        f->mode = F_BOOL;
    else if (!gids_dtype_is_float(dt))
        f->mode = F_INT;
    else {
        int64_t idx[GIDS_MAX_DIMS] = {0};
        f->all_integral = 1;
        walk(f, 0, idx, gather_stats);
        int sci = f->any_nonzero &&
                  (f->max_abs / f->min_abs > 1000.0 || f->max_abs > 1.0e8 || f->min_abs < 1.0e-4);
        f->mode = sci ? F_SCI : f->all_integral ? F_FLOAT_INT : F_FIXED;
    }
    f->width = 1;
    int64_t idx[GIDS_MAX_DIMS] = {0};
    walk(f, 0, idx, gather_width);
}

/* ---------------------------------------------------------------- layout */

static void add_spaces(luaL_Buffer *b, int n) {
    for (int i = 0; i < n; i++) luaL_addchar(b, ' ');
}

static void add_elem(luaL_Buffer *b, const fmt *f, const void *p) {
    char buf[64];
    int w = format_elem(f, p, buf, sizeof buf);
    add_spaces(b, f->width - w);
    luaL_addlstring(b, buf, (size_t)w);
}

/* The last dim as PyTorch lays it out: the elements shown, with " ..." standing for those left
 * out as one more element, joined by ", ", so many to a line, further lines under the bracket.
 * The count per line is PyTorch's, whose indent counts its "tensor(" prefix too: a row breaks
 * where torch's breaks. */
#define TORCH_PREFIX 7

static void emit_row(luaL_Buffer *b, const fmt *f, int64_t *idx, int indent) {
    const gids_tensor *t = f->t;
    int d = t->ndim - 1;
    int64_t size = t->shape[d];
    int per_line = (f->o->linewidth - TORCH_PREFIX - indent) / (f->width + 2);
    if (per_line < 1) per_line = 1;
    int on_line = 0;
    luaL_addchar(b, '[');
    for (int64_t i = 0; i < size; i = shown_next(f, size, i)) {
        int skipped = shown_next(f, size, i) != i + 1;
        for (int part = 0; part <= skipped; part++) {
            if (on_line == per_line) {
                luaL_addstring(b, ",\n");
                add_spaces(b, indent + 1);
                on_line = 0;
            } else if (i > 0 || part > 0) {
                luaL_addstring(b, ", ");
            }
            if (part == 0) {
                idx[d] = i;
                add_elem(b, f, l_elem_ptr(t, idx));
            } else {
                luaL_addstring(b, " ...");
            }
            on_line++;
        }
    }
    luaL_addchar(b, ']');
}

static void emit(luaL_Buffer *b, const fmt *f, int dim, int64_t *idx) {
    const gids_tensor *t = f->t;
    if (dim == t->ndim - 1) {
        emit_row(b, f, idx, dim);
        return;
    }
    int64_t size = t->shape[dim];
    int blank = t->ndim - dim - 2; /* blank lines between blocks of 3-d and higher */
    luaL_addchar(b, '[');
    for (int64_t i = 0; i < size; i = shown_next(f, size, i)) {
        if (i > 0) {
            luaL_addchar(b, ',');
            for (int k = 0; k <= blank; k++) luaL_addchar(b, '\n');
            add_spaces(b, dim + 1);
        }
        idx[dim] = i;
        emit(b, f, dim + 1, idx);
        if (shown_next(f, size, i) != i + 1) {
            luaL_addchar(b, ',');
            for (int k = 0; k <= blank; k++) luaL_addchar(b, '\n');
            add_spaces(b, dim + 1);
            luaL_addstring(b, "...");
        }
    }
    luaL_addchar(b, ']');
}

static void add_trailer(luaL_Buffer *b, lua_State *L, const gids_tensor *t) {
    luaL_addstring(b, "[graphids.Tensor ");
    luaL_addstring(b, gids_dtype_name(t->dtype));
    luaL_addchar(b, ' ');
    if (t->ndim == 0) luaL_addstring(b, "0-d");
    for (int d = 0; d < t->ndim; d++) {
        if (d > 0) luaL_addchar(b, 'x');
        lua_pushinteger(L, (lua_Integer)t->shape[d]);
        luaL_addvalue(b);
    }
    gids_device dev = gids_tensor_device(t);
    if (dev.type != GIDS_CPU) {
        char buf[32];
        luaL_addchar(b, ' ');
        luaL_addstring(b, gids_device_str(dev, buf, sizeof buf));
    }
    /* as torch's repr: where the tensor sits in a graph */
    const char *grad_fn = gids_grad_fn_name(t);
    if (grad_fn != NULL) {
        luaL_addstring(b, " grad_fn=");
        luaL_addstring(b, grad_fn);
    } else if (gids_requires_grad(t)) {
        luaL_addstring(b, " requires_grad");
    }
    luaL_addchar(b, ']');
}

static int t_tostring(lua_State *L) {
    l_tensor *u = l_checkhandle(L, 1);
    if (u->t == NULL) {
        lua_pushliteral(L, "[graphids.Tensor (freed)]");
        return 1;
    }
    const gids_tensor *t = u->t;
    /* The values of a device tensor are printed from a CPU copy (held on the stack). */
    const gids_tensor *shown = t;
    if (gids_tensor_device(t).type != GIDS_CPU) {
        l_tensor *h = l_newtensor(L);
        l_check(L, gids_to_device(&h->t, t, GIDS_DEVICE_CPU));
        shown = h->t;
    }
    fmt f;
    memset(&f, 0, sizeof f);
    f.t = shown;
    f.o = printopts(L);
    f.summarize = gids_tensor_numel(t) > f.o->threshold;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    {
        int64_t idx[GIDS_MAX_DIMS] = {0};
        if (gids_tensor_numel(t) == 0) {
            luaL_addstring(&b, "[]");
        } else {
            choose_mode(&f);
            if (t->ndim == 0)
                add_elem(&b, &f, gids_tensor_data(shown));
            else
                emit(&b, &f, 0, idx);
        }
        luaL_addchar(&b, '\n');
    }
    add_trailer(&b, L, t);
    luaL_pushresult(&b);
    return 1;
}

/* ---------------------------------------------------------------- graphids.printoptions */

static int set_field(lua_State *L, const char *key, lua_Integer lo, lua_Integer hi,
                     lua_Integer cur) {
    lua_Integer v = l_optint(L, 1, key, cur);
    if (v < lo || v > hi)
        return (int)l_error(L, "printoptions: option '%s' must be in [%I, %I], got %I", key, lo, hi,
                            v);
    return (int)v;
}

static int c_printoptions(lua_State *L) {
    static const char *const allowed[] = {"precision", "threshold", "edgeitems", "linewidth", NULL};
    l_checkend(L, 1, "printoptions");
    l_printopts *p = printopts(L);
    if (!lua_isnoneornil(L, 1)) {
        l_checkopts(L, 1, "printoptions", allowed);
        l_printopts n = *p;
        n.precision = set_field(L, "precision", 0, 30, p->precision);
        n.threshold = l_optint(L, 1, "threshold", p->threshold);
        if (n.threshold < 0)
            return l_error(L, "printoptions: option 'threshold' must be >= 0, got %I",
                           (lua_Integer)n.threshold);
        n.edgeitems = set_field(L, "edgeitems", 1, 1000, p->edgeitems);
        n.linewidth = set_field(L, "linewidth", 10, 100000, p->linewidth);
        *p = n;
    }
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, p->precision);
    lua_setfield(L, -2, "precision");
    lua_pushinteger(L, (lua_Integer)p->threshold);
    lua_setfield(L, -2, "threshold");
    lua_pushinteger(L, p->edgeitems);
    lua_setfield(L, -2, "edgeitems");
    lua_pushinteger(L, p->linewidth);
    lua_setfield(L, -2, "linewidth");
    return 1;
}

void l_open_format(lua_State *L, int module, int metatable) {
    lua_pushcfunction(L, t_tostring);
    lua_setfield(L, metatable, "__tostring");
    lua_pushcfunction(L, c_printoptions);
    lua_setfield(L, module, "printoptions");
}
