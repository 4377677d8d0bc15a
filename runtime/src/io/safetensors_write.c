/* safetensors_write.c -- writing a safetensors file the way the Python package does
 * (safetensors' `prepare`/`serialize`): tensors ordered by descending dtype alignment, then by
 * name, offsets assigned back to back; "__metadata__" first; compact JSON escaped as serde_json
 * escapes; the header padded with spaces to a multiple of 8 so the data buffer, and with it
 * every tensor, is naturally aligned for a memory-mapped load.  The file goes through an atomic
 * write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_impl.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors stores little-endian data; this writer copies memory as is"
#endif

const char *gids_safetensors_dtype_name(gids_dtype dt) {
    switch (dt) {
    case GIDS_F32: return "F32";
    case GIDS_F64: return "F64";
    case GIDS_I64: return "I64";
    case GIDS_I32: return "I32";
    case GIDS_U8: return "U8";
    case GIDS_BOOL: return "BOOL";
    case GIDS_F16: return "F16";
    case GIDS_BF16: return "BF16";
    default: return NULL;
    }
}

/* A growing byte buffer for the header text. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void puts_(sbuf *b, const char *s) {
    put(b, s, strlen(s));
}

/* A JSON string as serde_json writes it: '"' and '\\' escaped, control characters as the short
 * escapes or \u00XX, everything else (UTF-8 included) verbatim. */
static void put_json_string(sbuf *b, const char *s) {
    put(b, "\"", 1);
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        char esc[8];
        switch (*q) {
        case '"': puts_(b, "\\\""); break;
        case '\\': puts_(b, "\\\\"); break;
        case '\n': puts_(b, "\\n"); break;
        case '\r': puts_(b, "\\r"); break;
        case '\t': puts_(b, "\\t"); break;
        case '\b': puts_(b, "\\b"); break;
        case '\f': puts_(b, "\\f"); break;
        default:
            if (*q < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *q);
                puts_(b, esc);
            } else {
                put(b, (const char *)q, 1);
            }
        }
    }
    put(b, "\"", 1);
}

typedef struct item {
    const char *name;
    gids_tensor *t; /* contiguous (a reference of our own) */
    uint64_t bytes;
} item;

/* Position of a dtype in safetensors' `enum Dtype` (BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_*,
 * I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64), whose derived order the writer sorts
 * by: it ranks by alignment, and within one size it is the enum's, not the name's (I64 before
 * F64). */
static int dtype_rank(gids_dtype dt) {
    switch (dt) {
    case GIDS_BOOL: return 0;
    case GIDS_U8: return 4;
    case GIDS_F16: return 13;
    case GIDS_BF16: return 14;
    case GIDS_I32: return 15;
    case GIDS_F32: return 17;
    case GIDS_F64: return 19;
    case GIDS_I64: return 20;
    default: return -1;
    }
}

static int by_alignment_then_name(const void *a, const void *b) {
    const item *x = a, *y = b;
    int rx = dtype_rank(x->t->dtype), ry = dtype_rank(y->t->dtype);
    if (rx != ry) return rx > ry ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int by_string(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* *dup = a string given twice in strs (NULL when none), found by sorting copies of the
 * pointers: comparing each with every earlier one took seconds for 40k tensors or keys. */
static gids_status find_duplicate(const char *path, const char *const *strs, int64_t n,
                                  const char **dup) {
    *dup = NULL;
    if (n < 2) return GIDS_OK;
    const char **sorted = malloc((size_t)n * sizeof *sorted);
    if (sorted == NULL)
        GIDS_FAIL(GIDS_ENOMEM, "safetensors save '%s': out of memory checking %lld names", path,
                  (long long)n);
    memcpy(sorted, strs, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, by_string);
    for (int64_t i = 1; i < n && *dup == NULL; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) *dup = sorted[i];
    free(sorted);
    return GIDS_OK;
}

/* buf <- s for a message: printable ASCII as it is, '\\' doubled, every other byte (a control
 * character, any byte of a multi-byte or broken UTF-8 sequence) as \xNN, so an invalid name
 * shows its exact bytes; cut with "..." when it does not fit. */
static const char *escaped(const char *s, char *buf, size_t cap) {
    size_t o = 0;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        char piece[5];
        if (*q == '\\')
            snprintf(piece, sizeof piece, "\\\\");
        else if (*q >= 0x20 && *q < 0x7f)
            snprintf(piece, sizeof piece, "%c", *q);
        else
            snprintf(piece, sizeof piece, "\\x%02x", *q);
        size_t k = strlen(piece);
        if (o + k + 4 > cap) {
            memcpy(buf + o, "...", 4);
            return buf;
        }
        memcpy(buf + o, piece, k);
        o += k;
    }
    buf[o] = '\0';
    return buf;
}

static gids_status check_args(const char *path, int64_t n, const char *const *names,
                              const gids_tensor *const *tensors, int64_t nmeta,
                              const char *const *mk, const char *const *mv) {
    if (path == NULL) GIDS_FAIL(GIDS_EINVAL, "safetensors save: path is NULL");
    if (n < 0 || nmeta < 0)
        GIDS_FAIL(GIDS_EINVAL,
                  "safetensors save '%s': negative count (%lld tensors, %lld "
                  "metadata)",
                  path, (long long)n, (long long)nmeta);
    if ((n > 0 && (names == NULL || tensors == NULL)) || (nmeta > 0 && (mk == NULL || mv == NULL)))
        GIDS_FAIL(GIDS_EINVAL, "safetensors save '%s': a name, tensor or metadata array is NULL",
                  path);
    for (int64_t i = 0; i < n; i++) {
        if (names[i] == NULL)
            GIDS_FAIL(GIDS_EINVAL, "safetensors save '%s': names[%lld] is NULL", path,
                      (long long)i);
        if (names[i][0] == '\0' || strcmp(names[i], "__metadata__") == 0)
            GIDS_FAIL(GIDS_EINVAL,
                      "safetensors save '%s': tensor name '%s' is invalid (names must be "
                      "non-empty and not __metadata__)",
                      path, ST_SHOWN(names[i]));
        const gids_tensor *t = tensors[i];
        if (t == NULL)
            GIDS_FAIL(GIDS_EINVAL, "safetensors save '%s': tensor '%s' is NULL", path,
                      ST_SHOWN(names[i]));
        int64_t bad = st_utf8_invalid_at(names[i]);
        char shown[200];
        if (bad >= 0)
            GIDS_FAIL(GIDS_EINVAL,
                      "safetensors save '%s': tensor name '%s' is not valid UTF-8 (byte %lld)",
                      path, escaped(names[i], shown, sizeof shown), (long long)bad);
        if (gids_safetensors_dtype_name(t->dtype) == NULL)
            GIDS_FAIL(GIDS_EDTYPE, "safetensors save '%s': tensor '%s' has dtype %s", path,
                      ST_SHOWN(names[i]), gids_dtype_name(t->dtype));
    }
    const char *dup;
    GIDS_TRY(find_duplicate(path, names, n, &dup));
    if (dup != NULL)
        GIDS_FAIL(GIDS_EINVAL, "safetensors save '%s': tensor name '%s' given twice", path,
                  ST_SHOWN(dup));
    for (int64_t i = 0; i < nmeta; i++) {
        if (mk[i] == NULL || mv[i] == NULL)
            GIDS_FAIL(GIDS_EINVAL, "safetensors save '%s': metadata entry %lld is NULL", path,
                      (long long)i);
        int64_t bk = st_utf8_invalid_at(mk[i]), bv = bk < 0 ? st_utf8_invalid_at(mv[i]) : -1;
        char shown[200];
        if (bk >= 0)
            GIDS_FAIL(GIDS_EINVAL,
                      "safetensors save '%s': metadata key '%s' is not valid UTF-8 (byte %lld)",
                      path, escaped(mk[i], shown, sizeof shown), (long long)bk);
        if (bv >= 0)
            GIDS_FAIL(
                GIDS_EINVAL,
                "safetensors save '%s': metadata value of '%s' is not valid UTF-8 (byte %lld)",
                path, ST_SHOWN(mk[i]), (long long)bv);
    }
    GIDS_TRY(find_duplicate(path, mk, nmeta, &dup));
    if (dup != NULL)
        GIDS_FAIL(GIDS_EINVAL, "safetensors save '%s': metadata key '%s' given twice", path,
                  ST_SHOWN(dup));
    return GIDS_OK;
}

/* "__metadata__" is written when there are pairs or when the caller passed an empty key array
 * (mk != NULL): Python's save_file(metadata={}) writes "__metadata__":{}, metadata=None none. */
static gids_status build_header(sbuf *b, const char *path, item *items, int64_t n, int64_t nmeta,
                                const char *const *mk, const char *const *mv) {
    puts_(b, "{");
    bool first = true;
    if (nmeta > 0 || mk != NULL) {
        puts_(b, "\"__metadata__\":{");
        for (int64_t i = 0; i < nmeta; i++) {
            if (i) puts_(b, ",");
            put_json_string(b, mk[i]);
            puts_(b, ":");
            put_json_string(b, mv[i]);
        }
        puts_(b, "}");
        first = false;
    }
    uint64_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        char num[64];
        if (!first) puts_(b, ",");
        first = false;
        put_json_string(b, items[i].name);
        puts_(b, ":{\"dtype\":");
        put_json_string(b, gids_safetensors_dtype_name(items[i].t->dtype));
        puts_(b, ",\"shape\":[");
        for (int d = 0; d < items[i].t->ndim; d++) {
            snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)items[i].t->shape[d]);
            puts_(b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + items[i].bytes));
        puts_(b, num);
        off += items[i].bytes;
    }
    puts_(b, "}");
    while (b->n % 8) puts_(b, " ");
    if (b->oom) GIDS_FAIL(GIDS_ENOMEM, "safetensors save '%s': out of memory for the header", path);
    /* a file every reader (this one and the Python package) would refuse is not written */
    if (b->n > GIDS_SAFETENSORS_MAX_HEADER)
        GIDS_FAIL(GIDS_EINVAL,
                  "safetensors save '%s': the header would be %zu bytes, over the format's limit "
                  "of %d (metadata too large: keep large values in tensors or beside the file)",
                  path, b->n, GIDS_SAFETENSORS_MAX_HEADER);
    return GIDS_OK;
}

/* Appends the bytes of it->t (contiguous).  A device tensor's bytes are copied to the host
 * first, one tensor at a time, as bytes: a u8 view of its storage copied by the device's backend
 * into a CPU u8 buffer.  So f16 and bf16 tensors, which exist only on a device (the CPU holds no
 * half storage), are written as they are, with no conversion. */
static gids_status append_tensor(gids_atomic_file *f, const char *path, const item *it) {
    const gids_tensor *t = it->t;
    if (it->bytes == 0) return GIDS_OK;
    if (t->storage->device.type == GIDS_CPU)
        return gids_atomic_append(f, gids_tensor_data(t), it->bytes);
    int64_t nb = (int64_t)it->bytes, one = 1;
    int64_t off = t->offset * (int64_t)gids_dtype_size(t->dtype);
    gids_tensor *raw = NULL, *host = NULL;
    gids_status s = gids_tensor_from_storage(&raw, t->storage, GIDS_U8, 1, &nb, &one, off);
    if (s == GIDS_OK) s = gids_empty(&host, GIDS_U8, GIDS_DEVICE_CPU, 1, &nb);
    if (s == GIDS_OK) s = gids_copy_(host, raw);
    if (s == GIDS_OK) s = gids_atomic_append(f, gids_tensor_data(host), it->bytes);
    gids_tensor_release(raw);
    gids_tensor_release(host);
    if (s != GIDS_OK && s != GIDS_EIO) { /* EIO: the write, whose message names the file */
        char d[32];
        return gids_error_prefix(s, "safetensors save '%s': copying tensor '%s' from %s", path,
                                 it->name, gids_device_str(t->storage->device, d, sizeof d));
    }
    return s;
}

static gids_status write_file(const char *path, const sbuf *hdr, const item *items, int64_t n) {
    gids_atomic_file f;
    GIDS_TRY(gids_atomic_open(&f, path));
    unsigned char len8[8];
    uint64_t hl = hdr->n;
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hl >> (8 * i));
    gids_status s = gids_atomic_append(&f, len8, 8);
    if (s == GIDS_OK) s = gids_atomic_append(&f, hdr->p, hdr->n);
    for (int64_t i = 0; i < n && s == GIDS_OK; i++) s = append_tensor(&f, path, &items[i]);
    if (s != GIDS_OK) {
        gids_atomic_abort(&f);
        return s;
    }
    return gids_atomic_commit(&f);
}

gids_status gids_safetensors_save(const char *path, int64_t n, const char *const *names,
                                  const gids_tensor *const *tensors, int64_t nmeta,
                                  const char *const *mk, const char *const *mv) {
    GIDS_TRY(check_args(path, n, names, tensors, nmeta, mk, mv));
    item *items = calloc((size_t)(n ? n : 1), sizeof *items);
    if (items == NULL) GIDS_FAIL(GIDS_ENOMEM, "safetensors save: out of memory");
    gids_status s = GIDS_OK;
    for (int64_t i = 0; i < n && s == GIDS_OK; i++) {
        items[i].name = names[i];
        s = gids_contiguous(&items[i].t, tensors[i]);
        if (s == GIDS_OK)
            items[i].bytes =
                (uint64_t)gids_tensor_numel(items[i].t) * gids_dtype_size(items[i].t->dtype);
    }
    sbuf hdr = {0};
    if (s == GIDS_OK) {
        qsort(items, (size_t)n, sizeof *items, by_alignment_then_name);
        s = build_header(&hdr, path, items, n, nmeta, mk, mv);
    }
    if (s == GIDS_OK) s = write_file(path, &hdr, items, n);
    free(hdr.p);
    for (int64_t i = 0; i < n; i++) gids_tensor_release(items[i].t);
    free(items);
    return s;
}
