/* autocast.c -- the per-thread autocast state, its cast cache, the TF32-products setting and
 * the fused LSTM's f32 precision (gids/amp.h).
 *
 * Thread-local like grad mode: a training loop on one thread never changes the products another
 * thread computes.  Zero-initialised storage is GIDS_F32, i.e. off.
 *
 * The cache (torch's autocast weight cache): a parameter used by several products in one forward
 * is cast to half once.  An entry is keyed by what decides the cast's bits: the source's storage
 * (retained, so its address cannot come back as another tensor's while the entry lives), its
 * version (every in-place write bumps it, so an optimizer step inside a region makes the next
 * use cast afresh and replace the entry), the view's dtype, offset, shape and strides, and the
 * target dtype.  A lookup is a linear scan: a model has tens of parameters, and comparing the
 * storage pointer first rejects almost every entry at once.
 */
#include <stdlib.h>
#include <string.h>

#include "gids/amp.h"
#include "gids/tensor.h"

#include "core_impl.h"

typedef struct cast_entry {
    gids_storage *storage; /* retained */
    uint64_t version;
    gids_dtype src, dst;
    int32_t ndim;
    int64_t offset;
    int64_t shape[GIDS_MAX_DIMS], stride[GIDS_MAX_DIMS];
    gids_tensor *cast; /* one reference */
} cast_entry;

static _Thread_local gids_dtype autocast_ = GIDS_F32;
static _Thread_local bool tf32_products_;
static _Thread_local bool cache_on_ = true;
static _Thread_local cast_entry *cache_;
static _Thread_local size_t cache_n_, cache_cap_;

gids_dtype gids_autocast_dtype(void) {
    return autocast_;
}

bool gids_autocast_enabled(void) {
    return autocast_ != GIDS_F32;
}

gids_status gids_set_autocast(gids_dtype dt) {
    GIDS_CHECK(dt == GIDS_F16 || dt == GIDS_BF16 || dt == GIDS_F32, GIDS_EINVAL,
               "autocast: dtype %s, expected f16 or bf16 (on) or f32 (off)", gids_dtype_name(dt));
    autocast_ = dt;
    if (dt == GIDS_F32) gids_autocast_cache_clear();
    return GIDS_OK;
}

bool gids_set_tf32_products(bool on) {
    bool prev = tf32_products_;
    tf32_products_ = on;
    return prev;
}

bool gids_tf32_products(void) {
    return tf32_products_;
}

static gids_env_switch rnn_tf32_ = GIDS_ENV_SWITCH("GRAPHIDS_RNN_TF32");

bool gids_rnn_tf32(void) {
    return gids_env_switch_get(&rnn_tf32_);
}

bool gids_set_rnn_tf32(bool on) {
    return gids_env_switch_set(&rnn_tf32_, on);
}

/* ---------------------------------------------------------------- the cast cache */
void gids_autocast_cache_clear(void) {
    for (size_t i = 0; i < cache_n_; i++) {
        gids_tensor_release(cache_[i].cast);
        gids_storage_release(cache_[i].storage);
    }
    free(cache_);
    cache_ = NULL;
    cache_n_ = cache_cap_ = 0;
}

size_t gids_autocast_cache_size(void) {
    return cache_n_;
}

bool gids_autocast_cache_enabled(void) {
    return cache_on_;
}

bool gids_set_autocast_cache_enabled(bool on) {
    bool prev = cache_on_;
    cache_on_ = on;
    if (!on) gids_autocast_cache_clear();
    return prev;
}

/* The entry for t's view cast to dst, whatever its version, or NULL. */
static cast_entry *find_(const gids_tensor *t, gids_dtype dst) {
    size_t dims = sizeof(int64_t) * (size_t)t->ndim;
    for (size_t i = 0; i < cache_n_; i++) {
        cast_entry *e = &cache_[i];
        if (e->storage == t->storage && e->dst == dst && e->src == t->dtype && e->ndim == t->ndim &&
            e->offset == t->offset && memcmp(e->shape, t->shape, dims) == 0 &&
            memcmp(e->stride, t->stride, dims) == 0)
            return e;
    }
    return NULL;
}

/* A new entry for t (its cast still NULL), or NULL when the host is out of memory (the caller
 * then just does not cache: the cast is still right). */
static cast_entry *add_(const gids_tensor *t, gids_dtype dst) {
    if (cache_n_ == cache_cap_) {
        size_t cap = cache_cap_ != 0 ? 2 * cache_cap_ : 16;
        cast_entry *grown = realloc(cache_, cap * sizeof *grown);
        if (grown == NULL) return NULL;
        cache_ = grown;
        cache_cap_ = cap;
    }
    cast_entry *e = &cache_[cache_n_++];
    *e = (cast_entry){
        .storage = t->storage, .src = t->dtype, .dst = dst, .ndim = t->ndim, .offset = t->offset};
    memcpy(e->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    memcpy(e->stride, t->stride, sizeof(int64_t) * (size_t)t->ndim);
    gids_storage_retain(t->storage);
    return e;
}

gids_status gids_autocast_cast(gids_tensor **out, const gids_tensor *t, gids_dtype dt) {
    GIDS_CHECK(out != NULL && t != NULL, GIDS_EINVAL, "autocast cast: out or t is NULL");
    *out = NULL;
    if (!cache_on_ || !gids_autocast_enabled()) return gids_to_dtype(out, t, dt);
    uint64_t version = __atomic_load_n(&t->storage->version, __ATOMIC_RELAXED);
    cast_entry *e = find_(t, dt);
    if (e != NULL && e->version == version) {
        gids_tensor_retain(e->cast);
        *out = e->cast;
        return GIDS_OK;
    }
    gids_tensor *c = NULL;
    GIDS_TRY(gids_to_dtype(&c, t, dt));
    if (e == NULL) e = add_(t, dt);
    if (e != NULL) { /* a stale entry (the source was written since) is replaced */
        gids_tensor_release(e->cast);
        gids_tensor_retain(c);
        e->cast = c;
        e->version = version;
    }
    *out = c;
    return GIDS_OK;
}
