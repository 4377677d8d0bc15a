/* safetensors_read.c -- loading a safetensors file: the 8-byte length prefix and its limits,
 * the header (st_header.c validates it in full before any tensor is made), then either views
 * on one private mapping of the file or a read per tensor. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_impl.h"

gids_status io_strdup(char **out, const char *s, const char *what) {
    *out = strdup(s);
    if (*out == NULL) GIDS_FAIL(GIDS_ENOMEM, "out of memory copying %s", what);
    return GIDS_OK;
}

/* pread until n bytes or EOF/error. */
static gids_status read_at(int fd, const char *path, void *buf, size_t n, uint64_t off) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) GIDS_FAIL(GIDS_EIO, "safetensors: cannot read '%s': %s", path, strerror(errno));
        if (r == 0)
            GIDS_FAIL(GIDS_EFORMAT,
                      "safetensors: '%s' ended after %llu of %zu bytes at offset %llu", path,
                      (unsigned long long)got, n, (unsigned long long)off);
        got += (size_t)r;
    }
    return GIDS_OK;
}

/* The CPU holds no half types (f16/bf16 are GPU storage), so F16 and BF16 tensors are widened
 * to f32 on load; every half value is exact in f32. */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13); /* inf, NaN (payload kept) */
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: normalise the mantissa */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while ((man & 0x400) == 0);
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3FF) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* NEW *out: f32 tensor of e's shape from the little-endian half values at src. */
static gids_status widen_half(gids_tensor **out, const st_entry *e, const unsigned char *src) {
    GIDS_TRY(gids_empty(out, GIDS_F32, GIDS_DEVICE_CPU, e->ndim, e->shape));
    float *dst = gids_tensor_data(*out);
    int64_t n = gids_tensor_numel(*out);
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
        dst[i] = e->dtype == GIDS_F16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
    return GIDS_OK;
}

typedef struct mapping {
    void *base;
    size_t len;
} mapping;

static void unmap(void *data, void *ctx) {
    (void)data;
    mapping *m = ctx;
    munmap(m->base, m->len);
    free(m);
}

/* Tensors as views on a MAP_PRIVATE mapping: pages are read on first touch, a write lands in
 * a private copy.  The storage spans the data buffer; a tensor whose offset is not aligned to
 * its element size is copied out instead (misaligned element access is undefined in C). */
static gids_status load_mapped(gids_safetensors *out, const st_header *h, int fd, const char *path,
                               uint64_t data_off, uint64_t file_len) {
    gids_storage *st = NULL;
    if (file_len > 0) {
        void *base = mmap(NULL, (size_t)file_len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (base == MAP_FAILED)
            GIDS_FAIL(GIDS_EIO, "safetensors: cannot map '%s': %s", path, strerror(errno));
        mapping *m = malloc(sizeof *m);
        if (m == NULL) {
            munmap(base, (size_t)file_len);
            GIDS_FAIL(GIDS_ENOMEM, "safetensors: out of memory mapping '%s'", path);
        }
        m->base = base;
        m->len = (size_t)file_len;
        gids_status s = gids_storage_wrap(&st, GIDS_DEVICE_CPU, (char *)base + data_off,
                                          (size_t)(file_len - data_off), unmap, m);
        if (s != GIDS_OK) {
            unmap(NULL, m);
            return s;
        }
    }
    gids_status s = GIDS_OK;
    for (int64_t i = 0; i < h->n && s == GIDS_OK; i++) {
        const st_entry *e = &h->entries[i];
        size_t es = gids_dtype_size(e->dtype);
        int64_t stride[GIDS_MAX_DIMS], acc = 1;
        for (int d = e->ndim - 1; d >= 0; d--) {
            stride[d] = acc;
            acc *= e->shape[d] > 0 ? e->shape[d] : 1;
        }
        bool aligned = st && ((uintptr_t)st->data + e->begin) % es == 0;
        if (gids_dtype_is_half(e->dtype)) {
            s = widen_half(&out->tensors[i], e, (const unsigned char *)st->data + e->begin);
        } else if (e->end == e->begin || !aligned) {
            /* Empty tensors need no bytes; misaligned ones get a copy. */
            s = gids_empty(&out->tensors[i], e->dtype, GIDS_DEVICE_CPU, e->ndim, e->shape);
            if (s == GIDS_OK && e->end > e->begin)
                memcpy(gids_tensor_data(out->tensors[i]), (char *)st->data + e->begin,
                       (size_t)(e->end - e->begin));
        } else {
            s = gids_tensor_from_storage(&out->tensors[i], st, e->dtype, e->ndim, e->shape, stride,
                                         (int64_t)(e->begin / es));
        }
    }
    gids_storage_release(st); /* the views hold their own references */
    return s;
}

static gids_status load_read(gids_safetensors *out, const st_header *h, int fd, const char *path,
                             uint64_t data_off) {
    for (int64_t i = 0; i < h->n; i++) {
        const st_entry *e = &h->entries[i];
        if (gids_dtype_is_half(e->dtype)) {
            size_t nb = (size_t)(e->end - e->begin);
            unsigned char *raw = malloc(nb ? nb : 1);
            if (raw == NULL)
                GIDS_FAIL(GIDS_ENOMEM, "safetensors: out of memory reading '%s'", path);
            gids_status s = read_at(fd, path, raw, nb, data_off + e->begin);
            if (s == GIDS_OK) s = widen_half(&out->tensors[i], e, raw);
            free(raw);
            GIDS_TRY(s);
            continue;
        }
        GIDS_TRY(gids_empty(&out->tensors[i], e->dtype, GIDS_DEVICE_CPU, e->ndim, e->shape));
        if (e->end > e->begin)
            GIDS_TRY(read_at(fd, path, gids_tensor_data(out->tensors[i]),
                             (size_t)(e->end - e->begin), data_off + e->begin));
    }
    return GIDS_OK;
}

/* Every BOOL tensor holds bytes 0 and 1 only: another byte would read as true in one kernel and
 * as itself in another (sum, casts), so a file carrying one is refused, naming the place. */
static gids_status check_bools(const gids_safetensors *out, const char *path) {
    for (int64_t i = 0; i < out->n; i++) {
        const gids_tensor *t = out->tensors[i];
        if (t == NULL || t->dtype != GIDS_BOOL) continue;
        const unsigned char *b = gids_tensor_data(t);
        int64_t n = gids_tensor_numel(t);
        for (int64_t k = 0; k < n; k++) {
            if (b[k] <= 1) continue;
            char shown[256];
            GIDS_FAIL(GIDS_EFORMAT,
                      "safetensors: '%s': tensor '%s' (BOOL) holds byte %u at element %lld; "
                      "BOOL bytes must be 0 or 1",
                      path, gids_printable(out->names[i], shown, sizeof shown), (unsigned)b[k],
                      (long long)k);
        }
    }
    return GIDS_OK;
}

/* Moves names and metadata out of h into out (h keeps nothing to free twice). */
static gids_status take_names(gids_safetensors *out, st_header *h) {
    out->names = calloc((size_t)(h->n ? h->n : 1), sizeof *out->names);
    out->tensors = calloc((size_t)(h->n ? h->n : 1), sizeof *out->tensors);
    if (!out->names || !out->tensors)
        GIDS_FAIL(GIDS_ENOMEM, "safetensors: out of memory for %lld tensors", (long long)h->n);
    out->n = h->n;
    for (int64_t i = 0; i < h->n; i++) {
        out->names[i] = h->entries[i].name;
        h->entries[i].name = NULL;
    }
    out->nmeta = h->nmeta;
    out->meta_keys = h->meta_keys;
    out->meta_values = h->meta_values;
    h->meta_keys = h->meta_values = NULL;
    h->nmeta = 0;
    return GIDS_OK;
}

static gids_status load_fd(gids_safetensors *out, int fd, const char *path, bool map) {
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        GIDS_FAIL(GIDS_EIO, "safetensors: cannot stat '%s': %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) GIDS_FAIL(GIDS_EIO, "safetensors: '%s' is not a regular file", path);
    uint64_t file_len = (uint64_t)sb.st_size;
    if (file_len < 8)
        GIDS_FAIL(GIDS_EFORMAT,
                  "safetensors: '%s' is %llu bytes, too short for the 8-byte header length", path,
                  (unsigned long long)file_len);
    unsigned char len8[8];
    GIDS_TRY(read_at(fd, path, len8, 8, 0));
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | len8[i];
    if (hlen > GIDS_SAFETENSORS_MAX_HEADER)
        GIDS_FAIL(GIDS_EFORMAT, "safetensors: '%s': header length %llu exceeds the limit of %d",
                  path, (unsigned long long)hlen, GIDS_SAFETENSORS_MAX_HEADER);
    if (hlen > file_len - 8)
        GIDS_FAIL(GIDS_EFORMAT,
                  "safetensors: '%s': header length %llu runs past the end of the file (%llu "
                  "bytes)",
                  path, (unsigned long long)hlen, (unsigned long long)file_len);
    char *text = malloc(hlen ? (size_t)hlen : 1);
    if (text == NULL)
        GIDS_FAIL(GIDS_ENOMEM, "safetensors: out of memory for a %llu-byte header",
                  (unsigned long long)hlen);
    gids_status s = read_at(fd, path, text, (size_t)hlen, 8);
    st_header h;
    memset(&h, 0, sizeof h);
    if (s == GIDS_OK) s = st_header_parse(&h, path, text, (size_t)hlen, file_len - 8 - hlen);
    free(text);
    if (s == GIDS_OK) s = take_names(out, &h);
    if (s == GIDS_OK)
        s = map ? load_mapped(out, &h, fd, path, 8 + hlen, file_len)
                : load_read(out, &h, fd, path, 8 + hlen);
    if (s == GIDS_OK) s = check_bools(out, path);
    st_header_free(&h);
    return s;
}

gids_status gids_safetensors_load(gids_safetensors *out, const char *path, bool map) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "safetensors_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (path == NULL) GIDS_FAIL(GIDS_EINVAL, "safetensors: path is NULL");
    /* a FIFO opens at once and is refused below as no regular file (io_impl.h) */
    int fd = io_open_for_reading(path);
    if (fd < 0) GIDS_FAIL(GIDS_EIO, "safetensors: cannot open '%s': %s", path, strerror(errno));
    gids_status s = load_fd(out, fd, path, map);
    close(fd); /* a mapping outlives its descriptor */
    if (s != GIDS_OK) gids_safetensors_free(out);
    return s;
}

void gids_safetensors_free(gids_safetensors *f) {
    if (f == NULL) return;
    for (int64_t i = 0; i < f->n; i++) {
        if (f->tensors) gids_tensor_release(f->tensors[i]);
        if (f->names) free(f->names[i]);
    }
    for (int64_t i = 0; i < f->nmeta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->names);
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    memset(f, 0, sizeof *f);
}
