/* win_vocab.c -- the CAN id vocabulary: canonical id text, the sorted distinct ids of a set of
 * files, and the id -> index lookup the window builder runs once per frame. */
#include <stdlib.h>
#include <string.h>

#include "gids/windows.h"

#define STD_IDS 2048 /* 11-bit ids */

void gids_can_id_text(char out[GIDS_CAN_ID_TEXT_SIZE], uint32_t id, int extended) {
    if (out == NULL) return; /* nowhere to write */
    static const char digits[] = "0123456789ABCDEF";
    int w = extended ? 8 : 3;
    for (int i = w - 1; i >= 0; i--, id >>= 4) out[i] = digits[id & 15];
    out[w] = '\0';
}

gids_status gids_can_id_parse(const char *text, uint32_t *id, int *extended) {
    GIDS_CHECK(id != NULL && extended != NULL, GIDS_EINVAL, "can id: out (id or extended) is NULL");
    GIDS_CHECK(text != NULL, GIDS_EINVAL, "can id: text is NULL");
    size_t len = strlen(text);
    GIDS_CHECK(len == 3 || len == 8, GIDS_EINVAL,
               "can id '%s': expected 3 hex digits (11-bit) or 8 (29-bit), got %zu characters",
               text, len);
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        GIDS_CHECK(d >= 0, GIDS_EINVAL, "can id '%s': '%c' at position %zu is not a hex digit",
                   text, c, i + 1);
        v = v << 4 | (uint32_t)d;
    }
    GIDS_CHECK(len == 8 || v < STD_IDS, GIDS_EINVAL, "can id '%s': an 11-bit id is at most 7FF",
               text);
    GIDS_CHECK(len == 3 || v <= 0x1FFFFFFFu, GIDS_EINVAL,
               "can id '%s': a 29-bit id is at most 1FFFFFFF", text);
    *id = v;
    *extended = len == 8;
    return GIDS_OK;
}

/* Byte order of the canonical texts: an 8-digit text against a 3-digit one compares their
 * first three digits, and on a tie the shorter text sorts first. */
static int text_cmp(uint32_t a, int ea, uint32_t b, int eb) {
    char ta[GIDS_CAN_ID_TEXT_SIZE], tb[GIDS_CAN_ID_TEXT_SIZE];
    gids_can_id_text(ta, a, ea);
    gids_can_id_text(tb, b, eb);
    return strcmp(ta, tb);
}

typedef struct {
    uint32_t id;
    uint8_t ext;
} entry;

static int entry_cmp(const void *pa, const void *pb) {
    const entry *a = pa, *b = pb;
    return text_cmp(a->id, a->ext, b->id, b->ext);
}

static int u64_cmp(const void *pa, const void *pb) {
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return (a > b) - (a < b);
}

void gids_can_vocab_free(gids_can_vocab *v) {
    if (v == NULL) return; /* as free(NULL) */
    free(v->id);
    free(v->ext);
    free(v->std_map);
    free(v->keys);
    free(v->key_idx);
    memset(v, 0, sizeof *v);
}

gids_status gids_can_vocab_from_ids(gids_can_vocab *v, const uint32_t *id, const uint8_t *ext,
                                    int64_t n) {
    GIDS_CHECK(v != NULL, GIDS_EINVAL, "can vocab: out (the vocabulary) is NULL");
    memset(v, 0, sizeof *v);
    GIDS_CHECK(n >= 0 && n < INT32_MAX, GIDS_EINVAL, "can vocab: %lld entries", (long long)n);
    GIDS_CHECK(n == 0 || (id != NULL && ext != NULL), GIDS_EINVAL, "can vocab: id or ext is NULL");
    int64_t n_ext = 0;
    for (int64_t k = 0; k < n; k++) {
        GIDS_CHECK(ext[k] ? id[k] <= 0x1FFFFFFFu : id[k] < STD_IDS, GIDS_EINVAL,
                   "can vocab: entry %lld: id 0x%X is out of range for a %s id", (long long)k + 1,
                   id[k], ext[k] ? "29-bit" : "11-bit");
        n_ext += ext[k] != 0;
    }
    size_t nn = (size_t)(n > 0 ? n : 1);
    v->id = malloc(nn * sizeof *v->id);
    v->ext = malloc(nn);
    v->std_map = calloc(STD_IDS, sizeof *v->std_map);
    v->keys = malloc((size_t)(n_ext > 0 ? n_ext : 1) * sizeof *v->keys);
    v->key_idx = malloc((size_t)(n_ext > 0 ? n_ext : 1) * sizeof *v->key_idx);
    if (!v->id || !v->ext || !v->std_map || !v->keys || !v->key_idx) {
        gids_can_vocab_free(v);
        GIDS_FAIL(GIDS_ENOMEM, "can vocab: out of memory for %lld entries", (long long)n);
    }
    v->n = n;
    if (n > 0) {
        memcpy(v->id, id, (size_t)n * sizeof *id);
        for (int64_t k = 0; k < n; k++) v->ext[k] = ext[k] != 0;
    }
    /* keys: id << 32 | index, sorted by id, so a repeat shows up as neighbours */
    for (int64_t k = 0; k < n; k++) {
        if (v->ext[k]) {
            v->keys[v->n_ext++] = (uint64_t)id[k] << 32 | (uint64_t)(k + 1);
        } else if (v->std_map[id[k]] != 0) {
            int64_t first = v->std_map[id[k]];
            gids_can_vocab_free(v);
            GIDS_FAIL(GIDS_EINVAL, "can vocab: id %03X appears at entries %lld and %lld", id[k],
                      (long long)first, (long long)k + 1);
        } else {
            v->std_map[id[k]] = (int32_t)(k + 1);
        }
    }
    qsort(v->keys, (size_t)v->n_ext, sizeof *v->keys, u64_cmp);
    for (int64_t j = 0; j < v->n_ext; j++) {
        /* keys[j - 1] already holds its id alone */
        if (j > 0 && v->keys[j] >> 32 == v->keys[j - 1]) {
            uint32_t rep = (uint32_t)(v->keys[j] >> 32);
            long long a = v->key_idx[j - 1], b = (long long)(v->keys[j] & 0xFFFFFFFFu);
            gids_can_vocab_free(v);
            GIDS_FAIL(GIDS_EINVAL, "can vocab: id %08X appears at entries %lld and %lld", rep, a,
                      b);
        }
        v->key_idx[j] = (int32_t)(v->keys[j] & 0xFFFFFFFFu);
        v->keys[j] >>= 32;
    }
    return GIDS_OK;
}

int64_t gids_can_vocab_lookup(const gids_can_vocab *v, uint32_t id, int extended) {
    if (v == NULL || v->std_map == NULL) return 0; /* no (or a freed) vocabulary: unknown */
    if (!extended) return id < STD_IDS ? v->std_map[id] : 0;
    int64_t lo = 0, hi = v->n_ext;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (v->keys[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->n_ext && v->keys[lo] == id ? v->key_idx[lo] : 0;
}

gids_status gids_can_vocab_from_frames(gids_can_vocab *v, const gids_can_frames *const *files,
                                       int64_t nfiles, int benign_only) {
    GIDS_CHECK(v != NULL, GIDS_EINVAL, "can vocab: out (the vocabulary) is NULL");
    memset(v, 0, sizeof *v);
    GIDS_CHECK(nfiles >= 0 && (nfiles == 0 || files != NULL), GIDS_EINVAL,
               "can vocab: %lld files with files = NULL", (long long)nfiles);
    /* 11-bit ids in a 2048-slot table; extended ids (rare) collected, sorted and deduplicated */
    uint8_t seen[STD_IDS] = {0};
    int64_t n_ext = 0, cap = 0;
    uint64_t *ext_ids = NULL;
    for (int64_t f = 0; f < nfiles; f++) {
        const gids_can_frames *fr = files[f];
        if (fr == NULL) {
            free(ext_ids);
            GIDS_FAIL(GIDS_EINVAL, "can vocab: file %lld is NULL", (long long)f + 1);
        }
        for (int64_t i = 0; i < fr->n; i++) {
            if (benign_only && fr->attack[i]) continue;
            if (!(fr->flags[i] & GIDS_CAN_EXTENDED)) {
                if (fr->id[i] >= STD_IDS) {
                    free(ext_ids);
                    GIDS_FAIL(GIDS_EINVAL,
                              "can vocab: file %lld, frame %lld: 11-bit id 0x%X is above 0x7FF",
                              (long long)f + 1, (long long)i + 1, fr->id[i]);
                }
                seen[fr->id[i]] = 1;
                continue;
            }
            if (n_ext == cap) {
                cap = cap ? cap * 2 : 256;
                uint64_t *p = realloc(ext_ids, (size_t)cap * sizeof *p);
                if (p == NULL) {
                    free(ext_ids);
                    GIDS_FAIL(GIDS_ENOMEM, "can vocab: out of memory");
                }
                ext_ids = p;
            }
            ext_ids[n_ext++] = fr->id[i];
        }
    }
    if (n_ext > 0) qsort(ext_ids, (size_t)n_ext, sizeof *ext_ids, u64_cmp);
    int64_t n_std = 0, n_uext = 0;
    for (int i = 0; i < STD_IDS; i++) n_std += seen[i];
    for (int64_t j = 0; j < n_ext; j++)
        if (j == 0 || ext_ids[j] != ext_ids[j - 1]) ext_ids[n_uext++] = ext_ids[j];
    int64_t n = n_std + n_uext;
    entry *e = malloc((size_t)(n > 0 ? n : 1) * sizeof *e);
    uint32_t *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    uint8_t *ext = malloc((size_t)(n > 0 ? n : 1));
    if (!e || !ids || !ext) {
        free(e);
        free(ids);
        free(ext);
        free(ext_ids);
        GIDS_FAIL(GIDS_ENOMEM, "can vocab: out of memory for %lld ids", (long long)n);
    }
    int64_t k = 0;
    for (int i = 0; i < STD_IDS; i++)
        if (seen[i]) e[k++] = (entry){(uint32_t)i, 0};
    for (int64_t j = 0; j < n_uext; j++) e[k++] = (entry){(uint32_t)ext_ids[j], 1};
    free(ext_ids);
    qsort(e, (size_t)n, sizeof *e, entry_cmp);
    for (k = 0; k < n; k++) {
        ids[k] = e[k].id;
        ext[k] = e[k].ext;
    }
    free(e);
    gids_status s = gids_can_vocab_from_ids(v, ids, ext, n);
    free(ids);
    free(ext);
    return s;
}
