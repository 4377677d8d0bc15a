/* st_header.c -- the JSON header of a safetensors file: a strict parser for exactly the shape
 * the format allows ({name: {dtype, shape, data_offsets}}, "__metadata__": {string: string})
 * and the checks of the reference reader (safetensors' Metadata::validate), so that a file that
 * gets past this is safe to map: every tensor lies inside the data buffer, tensors tile it from
 * 0 to its end without gaps or overlaps, and each one's byte count matches its dtype and shape.
 * Messages carry the header's line and column (1-based) of the offending token. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_impl.h"

typedef struct cursor {
    const char *path;
    const char *start, *p, *end;
    char shown[48]; /* token_desc's words for a byte it shows */
} cursor;

static void line_col(const cursor *c, const char *at, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (const char *q = c->start; q < at && q < c->end; q++) {
        if (*q == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* The character at q as gids_printable shows it: *k bytes of the input, *esc when each is shown
 * as \xNN; returns the bytes shown. */
static size_t shown_char(const unsigned char *q, const unsigned char *end, size_t *k, bool *esc) {
    size_t n = st_utf8_len(q, end);
    *k = n ? n : 1;
    *esc = n == 0 || *q < 0x20 || *q == 0x7F || (q[0] == 0xC2 && q[1] < 0xA0);
    return *esc ? 4 * *k : *k;
}

const char *gids_printable(const char *in, char *out, size_t cap) {
    if (cap == 0) return "";
    const unsigned char *start = (const unsigned char *)in, *end = start + strlen(in);
    size_t k, need = 0;
    bool esc;
    for (const unsigned char *q = start; q < end; q += k) need += shown_char(q, end, &k, &esc);
    /* Cut only when the whole of it does not fit beside the NUL; a cut one keeps room for "...". */
    bool cut = need > cap - 1;
    size_t room = !cut ? cap - 1 : cap > 4 ? cap - 4 : 0, o = 0;
    for (const unsigned char *q = start; q < end; q += k) {
        size_t len = shown_char(q, end, &k, &esc);
        if (o + len > room) break; /* (never half a character or half an escape) */
        for (size_t i = 0; i < k; i++) {
            if (esc)
                o += (size_t)snprintf(out + o, cap - o, "\\x%02X", q[i]);
            else
                out[o++] = (char)q[i];
        }
    }
    if (cut) { /* as many of the three dots as fit: all of them from cap 4 on */
        size_t dots = cap - 1 - o < 3 ? cap - 1 - o : 3;
        memcpy(out + o, "...", dots);
        o += dots;
    }
    out[o] = '\0';
    return out;
}

/* EFORMAT "safetensors: 'path': header line L, column C: <what>" at position `at`. */
#define BAD_AT(c, at, ...)                                                                         \
    do {                                                                                           \
        char what_[512], shown_[1024];                                                             \
        int line_, col_;                                                                           \
        line_col((c), (at), &line_, &col_);                                                        \
        snprintf(what_, sizeof what_, __VA_ARGS__);                                                \
        GIDS_FAIL(GIDS_EFORMAT, "safetensors: '%s': header line %d, column %d: %s", (c)->path,     \
                  line_, col_, gids_printable(what_, shown_, sizeof shown_));                      \
    } while (0)

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* What stands at the cursor, for "found ...": a printable byte quoted, any other escaped ('\x0C',
 * '\xEF'), never raw: a damaged header's bytes must not reach a terminal.  A byte-order mark is
 * named (the reference reader refuses one too). */
static const char *token_desc(cursor *c) {
    if (c->p >= c->end) return "the end of the header";
    unsigned char ch = (unsigned char)*c->p;
    if (ch == '"') return "a string";
    if (c->end - c->p >= 3 && memcmp(c->p, "\xEF\xBB\xBF", 3) == 0)
        return "a UTF-8 byte-order mark (U+FEFF)";
    if (ch >= 0x20 && ch < 0x7F)
        snprintf(c->shown, sizeof c->shown, "'%c'", ch);
    else
        snprintf(c->shown, sizeof c->shown, "'\\x%02X'", ch);
    return c->shown;
}

static gids_status expect(cursor *c, char ch, const char *context) {
    skip_ws(c);
    if (c->p >= c->end || *c->p != ch)
        BAD_AT(c, c->p, "expected '%c' %s, found %s", ch, context, token_desc(c));
    c->p++;
    return GIDS_OK;
}

/* Length of the UTF-8 sequence at s (0 when invalid: overlong, surrogate, > U+10FFFF). */
size_t st_utf8_len(const unsigned char *s, const unsigned char *end) {
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0)
        n = 2, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        n = 3, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
        n = 4, min = 0x10000;
    else
        return 0;
    if ((size_t)(end - s) < n) return 0;
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

int64_t st_utf8_invalid_at(const char *s) {
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    for (const unsigned char *q = p; q < end;) {
        size_t k = st_utf8_len(q, end);
        if (k == 0) return (int64_t)(q - p);
        q += k;
    }
    return -1;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static bool hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        v <<= 4;
        if (h >= '0' && h <= '9')
            v |= (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f')
            v |= (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F')
            v |= (unsigned)(h - 'A' + 10);
        else
            return false;
    }
    *out = v;
    return true;
}

/* NEW *out: a JSON string decoded to UTF-8 (NUL-terminated; an embedded \u0000 is refused
 * because names and metadata are C strings). */
static gids_status parse_string(cursor *c, char **out, const char *context) {
    skip_ws(c);
    if (c->p >= c->end || *c->p != '"')
        BAD_AT(c, c->p, "expected a string %s, found %s", context, token_desc(c));
    const char *open = c->p++;
    /* Decoded text is never longer than the source text. */
    const char *q = c->p;
    while (q < c->end && *q != '"') q += (*q == '\\' && q + 1 < c->end) ? 2 : 1;
    if (q >= c->end) BAD_AT(c, open, "unterminated string %s", context);
    char *buf = malloc((size_t)(q - c->p) + 1);
    if (buf == NULL) GIDS_FAIL(GIDS_ENOMEM, "safetensors: out of memory reading a header string");
    size_t n = 0;
    while (*c->p != '"') {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20) {
            free(buf);
            BAD_AT(c, c->p, "control character 0x%02x inside a string %s", ch, context);
        }
        if (ch != '\\') {
            size_t k = st_utf8_len((const unsigned char *)c->p, (const unsigned char *)c->end);
            if (k == 0) {
                free(buf);
                BAD_AT(c, c->p, "invalid UTF-8 inside a string %s", context);
            }
            memcpy(buf + n, c->p, k);
            n += k;
            c->p += k;
            continue;
        }
        const char *esc = c->p++;
        switch (*c->p) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (c->end - c->p < 5 || !hex4(c->p + 1, &cp)) {
                free(buf);
                BAD_AT(c, esc, "bad \\u escape inside a string %s", context);
            }
            c->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (c->end - c->p < 7 || c->p[1] != '\\' || c->p[2] != 'u' ||
                    !hex4(c->p + 3, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    free(buf);
                    BAD_AT(c, esc, "unpaired surrogate \\u%04X inside a string %s", cp, context);
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                c->p += 6;
            } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
                free(buf);
                BAD_AT(c, esc, "\\u%04X is not allowed inside a string %s", cp, context);
            }
            n += put_utf8(buf + n, cp);
            break;
        }
        default: free(buf); BAD_AT(c, esc, "unknown escape inside a string %s", context);
        }
        c->p++;
    }
    c->p++;
    buf[n] = '\0';
    *out = buf;
    return GIDS_OK;
}

/* A non-negative integer without sign, fraction or exponent (offsets and sizes). */
static gids_status parse_uint(cursor *c, uint64_t *out, const char *context) {
    skip_ws(c);
    const char *at = c->p;
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        BAD_AT(c, at, "expected a non-negative integer %s, found %s", context, token_desc(c));
    uint64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p - '0');
        /* exact: v * 10 + d fits while v < max / 10, or v == max / 10 and d <= max % 10 */
        if (v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && d > UINT64_MAX % 10))
            BAD_AT(c, at, "integer %s overflows 64 bits", context);
        v = v * 10 + d;
        c->p++;
    }
    if (c->p - at > 1 && *at == '0') BAD_AT(c, at, "integer %s has a leading zero", context);
    if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
        BAD_AT(c, at, "expected an integer %s, found a fraction or exponent", context);
    *out = v;
    return GIDS_OK;
}

/* '[' uint (',' uint)* ']' or '[]': *n_out = how many values (all are checked), the first max
 * of them in vals; the caller refuses a count over max in its own words. */
static gids_status parse_uint_array(cursor *c, uint64_t *vals, int max, int *n_out,
                                    const char *context) {
    GIDS_TRY(expect(c, '[', context));
    int n = 0;
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        *n_out = 0;
        return GIDS_OK;
    }
    for (;;) {
        uint64_t extra;
        if (n == INT_MAX) BAD_AT(c, c->p, "too many values %s", context);
        GIDS_TRY(parse_uint(c, n < max ? &vals[n] : &extra, context));
        n++;
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        GIDS_TRY(expect(c, ']', context));
        break;
    }
    *n_out = n;
    return GIDS_OK;
}

/* After a member: ',' (returns true: another member follows) or '}' (false). */
static gids_status next_member(cursor *c, bool *more, const char *context) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ',') {
        c->p++;
        *more = true;
        return GIDS_OK;
    }
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        *more = false;
        return GIDS_OK;
    }
    BAD_AT(c, c->p, "expected ',' or '}' %s, found %s", context, token_desc(c));
}

bool st_dtype_parse(const char *name, gids_dtype *out) {
    for (int d = 0; d < GIDS_NDTYPES; d++) {
        const char *n = gids_safetensors_dtype_name((gids_dtype)d);
        if (n && strcmp(n, name) == 0) {
            *out = (gids_dtype)d;
            return true;
        }
    }
    return false;
}

typedef struct meta_ref {
    const char *key;
    size_t pos;
} meta_ref;

static int by_key(const void *a, const void *b) {
    return strcmp(((const meta_ref *)a)->key, ((const meta_ref *)b)->key);
}

/* Duplicate keys found by sorting, as for tensor names: comparing each key with every earlier
 * one let a hostile header of 100k keys take seconds (hours at the header size limit). */
static gids_status check_meta_unique(cursor *c, const st_header *h) {
    if (h->nmeta < 2) return GIDS_OK;
    meta_ref *r = malloc((size_t)h->nmeta * sizeof *r);
    if (r == NULL) GIDS_FAIL(GIDS_ENOMEM, "safetensors: out of memory for metadata");
    for (int64_t i = 0; i < h->nmeta; i++) r[i] = (meta_ref){h->meta_keys[i], h->meta_pos[i]};
    qsort(r, (size_t)h->nmeta, sizeof *r, by_key);
    int64_t dup = -1;
    for (int64_t i = 1; i < h->nmeta && dup < 0; i++)
        if (strcmp(r[i - 1].key, r[i].key) == 0) dup = r[i - 1].pos > r[i].pos ? i - 1 : i;
    meta_ref later = dup >= 0 ? r[dup] : (meta_ref){NULL, 0};
    free(r);
    if (dup >= 0)
        BAD_AT(c, c->start + later.pos, "__metadata__ key '%s' appears twice", ST_SHOWN(later.key));
    return GIDS_OK;
}

static gids_status parse_metadata(cursor *c, st_header *h, const char *at) {
    if (h->meta_seen) BAD_AT(c, at, "\"__metadata__\" appears twice");
    h->meta_seen = true;
    char ctx[] = "in __metadata__";
    /* null is no metadata, as the reference reader has it (an Option: Python's metadata() gives
     * None) */
    skip_ws(c);
    if (c->end - c->p >= 4 && memcmp(c->p, "null", 4) == 0) {
        c->p += 4;
        return GIDS_OK;
    }
    GIDS_TRY(expect(c, '{', "to open __metadata__"));
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return GIDS_OK;
    }
    bool more = true;
    while (more) {
        if (h->nmeta == h->meta_cap) {
            int64_t cap = h->meta_cap ? h->meta_cap * 2 : 8;
            char **k = realloc(h->meta_keys, (size_t)cap * sizeof *k);
            if (k) h->meta_keys = k;
            char **v = k ? realloc(h->meta_values, (size_t)cap * sizeof *v) : NULL;
            if (v) h->meta_values = v;
            size_t *p = v ? realloc(h->meta_pos, (size_t)cap * sizeof *p) : NULL;
            if (p) h->meta_pos = p;
            if (!k || !v || !p) GIDS_FAIL(GIDS_ENOMEM, "safetensors: out of memory for metadata");
            h->meta_cap = cap;
        }
        const char *key_at = (skip_ws(c), c->p);
        char *key = NULL, *val = NULL;
        GIDS_TRY(parse_string(c, &key, "as a __metadata__ key"));
        gids_status s = expect(c, ':', "after a __metadata__ key");
        if (s == GIDS_OK) {
            skip_ws(c);
            if (c->p < c->end && *c->p != '"') {
                const char *vat = c->p;
                free(key);
                BAD_AT(c, vat, "__metadata__ value of a key must be a string, found %s",
                       *vat == '{' || *vat == '[' ? "an object or array" : "a non-string value");
            }
            s = parse_string(c, &val, "as a __metadata__ value");
        }
        if (s != GIDS_OK) {
            free(key);
            return s;
        }
        h->meta_pos[h->nmeta] = (size_t)(key_at - c->start);
        h->meta_keys[h->nmeta] = key;
        h->meta_values[h->nmeta++] = val;
        GIDS_TRY(next_member(c, &more, ctx));
    }
    return check_meta_unique(c, h);
}

static gids_status parse_tensor(cursor *c, st_entry *e) {
    char ctx[300];
    snprintf(ctx, sizeof ctx, "in tensor '%s'", ST_SHOWN(e->name));
    GIDS_TRY(expect(c, '{', ctx));
    bool have_dtype = false, have_shape = false, have_offsets = false, more = true;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') more = false, c->p++;
    while (more) {
        const char *key_at = (skip_ws(c), c->p);
        char *key = NULL;
        GIDS_TRY(parse_string(c, &key, ctx));
        gids_status s = expect(c, ':', ctx);
        if (s != GIDS_OK) {
            free(key);
            return s;
        }
        if (strcmp(key, "dtype") == 0 && !have_dtype) {
            free(key);
            const char *vat = (skip_ws(c), c->p);
            char *dt = NULL;
            GIDS_TRY(parse_string(c, &dt, ctx));
            bool ok = st_dtype_parse(dt, &e->dtype);
            if (!ok) {
                char shown[64];
                gids_printable(dt, shown, sizeof shown);
                free(dt);
                BAD_AT(c, vat,
                       "tensor '%s' has dtype \"%s\" (supported: F32 F64 I64 I32 U8 BOOL F16 BF16)",
                       ST_SHOWN(e->name), shown);
            }
            free(dt);
            have_dtype = true;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            free(key);
            uint64_t v[GIDS_MAX_DIMS];
            const char *vat = (skip_ws(c), c->p);
            int ndim = 0;
            GIDS_TRY(parse_uint_array(c, v, GIDS_MAX_DIMS, &ndim, ctx));
            if (ndim > GIDS_MAX_DIMS)
                BAD_AT(c, vat, "tensor '%s' has a shape of %d dims; graphids supports at most %d",
                       ST_SHOWN(e->name), ndim, GIDS_MAX_DIMS);
            e->ndim = ndim;
            for (int i = 0; i < e->ndim; i++) {
                if (v[i] > (uint64_t)INT64_MAX)
                    BAD_AT(c, key_at, "tensor '%s' has size %llu in its shape (at most %lld)",
                           ST_SHOWN(e->name), (unsigned long long)v[i], (long long)INT64_MAX);
                e->shape[i] = (int64_t)v[i];
            }
            have_shape = true;
        } else if (strcmp(key, "data_offsets") == 0 && !have_offsets) {
            free(key);
            uint64_t v[2];
            int n = 0;
            GIDS_TRY(parse_uint_array(c, v, 2, &n, ctx));
            if (n != 2)
                BAD_AT(c, key_at, "tensor '%s': data_offsets must be [begin, end], got %d values",
                       ST_SHOWN(e->name), n);
            if (v[1] < v[0])
                BAD_AT(c, key_at, "tensor '%s': data_offsets [%llu,%llu] end before begin",
                       ST_SHOWN(e->name), (unsigned long long)v[0], (unsigned long long)v[1]);
            e->begin = v[0];
            e->end = v[1];
            have_offsets = true;
        } else {
            char shown[64];
            gids_printable(key, shown, sizeof shown);
            bool dup = strcmp(key, "dtype") == 0 || strcmp(key, "shape") == 0 ||
                       strcmp(key, "data_offsets") == 0;
            free(key);
            BAD_AT(c, key_at, "tensor '%s': %s key \"%s\" (expected dtype, shape, data_offsets)",
                   ST_SHOWN(e->name), dup ? "duplicate" : "unknown", shown);
        }
        GIDS_TRY(next_member(c, &more, ctx));
    }
    const char *missing = !have_dtype     ? "dtype"
                          : !have_shape   ? "shape"
                          : !have_offsets ? "data_offsets"
                                          : NULL;
    if (missing) BAD_AT(c, c->p - 1, "tensor '%s' has no %s", ST_SHOWN(e->name), missing);
    return GIDS_OK;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}
static int by_offset(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static gids_status check_empty(const cursor *c, uint64_t data_len) {
    if (data_len != 0)
        GIDS_FAIL(GIDS_EFORMAT,
                  "safetensors: '%s': no tensors but %llu bytes of data after the header "
                  "(trailing bytes)",
                  c->path, (unsigned long long)data_len);
    return GIDS_OK;
}

/* The reference reader's buffer checks, after the JSON is read. */
static gids_status check_layout(cursor *c, st_header *h, uint64_t data_len) {
    for (int64_t i = 0; i < h->n; i++) {
        st_entry *e = &h->entries[i];
        /* the element count first, then the bytes, as the reference reader: a shape with a 0 holds
         * no bytes wherever the 0 stands ([2^62, 0] and [0, 2^62] alike) */
        uint64_t count = 1, bytes = 0;
        int64_t span = 1; /* the product of the sizes above 1: the outermost stride's reach */
        for (int d = 0; d < e->ndim; d++) {
            if (__builtin_mul_overflow(count, (uint64_t)e->shape[d], &count) ||
                __builtin_mul_overflow(span, e->shape[d] > 1 ? e->shape[d] : 1, &span))
                BAD_AT(c, c->start + e->pos, "tensor '%s': shape overflows 64 bits",
                       ST_SHOWN(e->name));
        }
        if (__builtin_mul_overflow(count, (uint64_t)gids_dtype_size(e->dtype), &bytes))
            BAD_AT(c, c->start + e->pos, "tensor '%s': shape overflows 64 bits", ST_SHOWN(e->name));
        if (bytes != e->end - e->begin) {
            char sh[128];
            gids_shape_str(e->ndim, e->shape, sh, sizeof sh);
            BAD_AT(c, c->start + e->pos,
                   "tensor '%s': data_offsets [%llu,%llu] hold %llu bytes but dtype %s x shape "
                   "%s needs %llu",
                   ST_SHOWN(e->name), (unsigned long long)e->begin, (unsigned long long)e->end,
                   (unsigned long long)(e->end - e->begin), gids_safetensors_dtype_name(e->dtype),
                   sh, (unsigned long long)bytes);
        }
    }
    if (h->n == 0) return check_empty(c, data_len);
    qsort(h->entries, (size_t)h->n, sizeof *h->entries, by_name);
    for (int64_t i = 1; i < h->n; i++) {
        if (strcmp(h->entries[i - 1].name, h->entries[i].name) == 0) {
            const st_entry *e =
                h->entries[i - 1].pos > h->entries[i].pos ? &h->entries[i - 1] : &h->entries[i];
            BAD_AT(c, c->start + e->pos, "tensor name '%s' appears twice", ST_SHOWN(e->name));
        }
    }
    qsort(h->entries, (size_t)h->n, sizeof *h->entries, by_offset);
    uint64_t at = 0;
    for (int64_t i = 0; i < h->n; i++) {
        st_entry *e = &h->entries[i];
        if (e->begin != at)
            BAD_AT(c, c->start + e->pos,
                   "tensor '%s': data_offsets begin at %llu, expected %llu (tensors must tile "
                   "the data buffer without gaps or overlaps)",
                   ST_SHOWN(e->name), (unsigned long long)e->begin, (unsigned long long)at);
        at = e->end;
    }
    if (at != data_len)
        GIDS_FAIL(GIDS_EFORMAT,
                  "safetensors: '%s': the tensors cover %llu bytes of data but the file holds "
                  "%llu after the header (%s)",
                  c->path, (unsigned long long)at, (unsigned long long)data_len,
                  at < data_len ? "trailing bytes" : "file truncated");
    return GIDS_OK;
}

static gids_status parse_all(cursor *c, st_header *h, uint64_t data_len) {
    skip_ws(c);
    if (c->p >= c->end || *c->p != '{')
        BAD_AT(c, c->p, "the header must be a JSON object starting with '{', found %s",
               token_desc(c));
    c->p++;
    skip_ws(c);
    bool more = true;
    if (c->p < c->end && *c->p == '}') more = false, c->p++;
    while (more) {
        skip_ws(c);
        const char *at = c->p;
        char *name = NULL;
        GIDS_TRY(parse_string(c, &name, "as a tensor name"));
        gids_status s = expect(c, ':', "after a tensor name");
        if (s == GIDS_OK && name[0] == '\0') {
            free(name);
            BAD_AT(c, at, "empty tensor name");
        }
        if (s == GIDS_OK && strcmp(name, "__metadata__") == 0) {
            free(name);
            GIDS_TRY(parse_metadata(c, h, at));
        } else if (s == GIDS_OK) {
            if (h->n == h->cap) {
                int64_t cap = h->cap ? h->cap * 2 : 16;
                st_entry *e = realloc(h->entries, (size_t)cap * sizeof *e);
                if (e == NULL) {
                    free(name);
                    GIDS_FAIL(GIDS_ENOMEM, "safetensors: out of memory for %lld entries",
                              (long long)cap);
                }
                h->entries = e;
                h->cap = cap;
            }
            st_entry *e = &h->entries[h->n++];
            memset(e, 0, sizeof *e);
            e->name = name;
            e->pos = (size_t)(at - c->start);
            GIDS_TRY(parse_tensor(c, e));
        } else {
            free(name);
            return s;
        }
        GIDS_TRY(next_member(c, &more, "in the header object"));
    }
    skip_ws(c);
    if (c->p != c->end) BAD_AT(c, c->p, "unexpected text after the header object");
    return check_layout(c, h, data_len);
}

gids_status st_header_parse(st_header *h, const char *path, const char *text, size_t len,
                            uint64_t data_len) {
    memset(h, 0, sizeof *h);
    cursor c = {path, text, text, text + len, {0}};
    gids_status s = parse_all(&c, h, data_len);
    if (s != GIDS_OK) st_header_free(h);
    return s;
}

void st_header_free(st_header *h) {
    for (int64_t i = 0; i < h->n; i++) free(h->entries[i].name);
    for (int64_t i = 0; i < h->nmeta; i++) {
        free(h->meta_keys[i]);
        free(h->meta_values[i]);
    }
    free(h->entries);
    free(h->meta_keys);
    free(h->meta_values);
    free(h->meta_pos);
    memset(h, 0, sizeof *h);
}
