/* test_autocast.c -- the autocast cast cache (gids/amp.h, runtime/src/core/autocast.c,
 * ag_linalg.c) on the loopback device, where autocast runs (the CPU has no half storage, and
 * autocast is a no-op there): a weight used by several products of one region is cast once (the
 * second product allocates one tensor fewer and the cache holds one entry per view), a view of
 * a parameter (w:t()) is cached, recorded or made under no_grad, activations, frozen weights and
 * non-view results of a parameter are not, the parameter mark counts the leaves over a memory
 * (freezing one alias keeps another's), the cache empties when autocast is turned off, an
 * in-place write to the weight inside the region gives the new values, each thread has its own
 * cache, and gradients are bitwise those without the cache; bilstm, which has no half kernel,
 * runs its forward and backward with TF32 products.
 *
 * Built like test_loopback (Makefile): the runtime linked whole and exported with -Wl,-E, the
 * plugin's path in LOOPBACK_SO. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"
#include "gids/rnn.h"
#include "../../runtime/src/loopback/loopback_entries.h"
#include "loopback_load.h"

#define DEV ((gids_device){GIDS_CUDA, 0})

/* A [r, c] device tensor of deterministic values (multiples of 1/8: exact in f16 and bf16 for
 * small r*c), a leaf that requires grad when grad is true. */
static gids_tensor *dev_values(int64_t r, int64_t c, int seed, bool grad) {
    float *v = malloc(sizeof(float) * (size_t)(r * c));
    for (int64_t i = 0; i < r * c; i++) v[i] = (float)((i * 7 + seed * 3) % 17 - 8) / 8.0f;
    gids_tensor *h = from(GIDS_F32, 2, (int64_t[]){r, c}, v), *d = NULL;
    free(v);
    CHECK_OK(gids_to_device(&d, h, DEV));
    gids_tensor_release(h);
    if (grad && d != NULL) CHECK_OK(gids_set_requires_grad(d, true));
    return d;
}

/* Device allocations so far (every storage on cuda:0). */
static int64_t device_allocs(void) {
    gids_mem_stats s;
    gids_memory_stats(DEV, &s);
    return s.total_allocs;
}

/* Whether a and b (any device) hold the same dtype, shape and values, bit for bit. */
static bool same_bits(const gids_tensor *a, const gids_tensor *b) {
    if (a == NULL || b == NULL || a->dtype != b->dtype) return false;
    gids_tensor *fa = NULL, *fb = NULL, *ha = NULL, *hb = NULL, *ca = NULL, *cb = NULL;
    CHECK_OK(gids_to_dtype(&fa, a, GIDS_F32)); /* exact for half; the CPU holds no half */
    CHECK_OK(gids_to_dtype(&fb, b, GIDS_F32));
    CHECK_OK(gids_to_device(&ha, fa, GIDS_DEVICE_CPU));
    CHECK_OK(gids_to_device(&hb, fb, GIDS_DEVICE_CPU));
    gids_tensor_release(fa), gids_tensor_release(fb);
    CHECK_OK(gids_contiguous(&ca, ha));
    CHECK_OK(gids_contiguous(&cb, hb));
    bool ok = ca->dtype == cb->dtype && ca->ndim == cb->ndim &&
              memcmp(ca->shape, cb->shape, sizeof(int64_t) * (size_t)ca->ndim) == 0 &&
              memcmp(gids_tensor_data(ca), gids_tensor_data(cb),
                     (size_t)gids_tensor_numel(ca) * gids_dtype_size(ca->dtype)) == 0;
    gids_tensor_release(ha), gids_tensor_release(hb), gids_tensor_release(ca);
    gids_tensor_release(cb);
    return ok;
}

TEST(a_weight_used_twice_in_a_region_is_cast_once) {
    gids_tensor *x = dev_values(4, 8, 1, false), *w = dev_values(8, 6, 2, true);
    gids_tensor *y1 = NULL, *y2 = NULL, *c1 = NULL, *c2 = NULL;
    CHECK_OK(gids_set_autocast(GIDS_BF16));
    CHECK(gids_autocast_cache_size() == 0);
    int64_t a0 = device_allocs();
    CHECK_OK(gids_ag_mm(&y1, x, w));
    int64_t a1 = device_allocs();
    CHECK(gids_autocast_cache_size() == 1); /* w, not x (x requires no grad: an input) */
    CHECK_OK(gids_ag_mm(&y2, x, w));
    int64_t a2 = device_allocs();
    CHECK(gids_autocast_cache_size() == 1);
    CHECK(a2 - a1 == (a1 - a0) - 1); /* the same work but w's cast */
    CHECK(same_bits(y1, y2));
    /* the cached cast itself: the same tensor for the same view of an unchanged weight */
    CHECK_OK(gids_autocast_cast(&c1, w, GIDS_BF16));
    CHECK_OK(gids_autocast_cast(&c2, w, GIDS_BF16));
    CHECK(c1 != NULL && c1 == c2 && c1->dtype == GIDS_BF16);
    gids_tensor_release(c2), c2 = NULL;
    CHECK_OK(gids_autocast_cast(&c2, w, GIDS_F16)); /* another dtype: another entry */
    CHECK(c2 != NULL && c2 != c1 && c2->dtype == GIDS_F16);
    CHECK(gids_autocast_cache_size() == 2);
    CHECK_OK(gids_set_autocast(GIDS_F32));
    CHECK(gids_autocast_cache_size() == 0); /* emptied on leaving the region */
    gids_tensor_release(c1), gids_tensor_release(c2);
    gids_tensor_release(y1), gids_tensor_release(y2), gids_tensor_release(x),
        gids_tensor_release(w);
}

TEST(without_the_cache_every_product_casts_its_weight) {
    gids_tensor *x = dev_values(4, 8, 1, false), *w = dev_values(8, 6, 2, true);
    gids_tensor *y1 = NULL, *y2 = NULL, *c1 = NULL, *c2 = NULL;
    CHECK(gids_set_autocast_cache_enabled(false) == true);
    CHECK(!gids_autocast_cache_enabled());
    CHECK_OK(gids_set_autocast(GIDS_F16));
    int64_t a0 = device_allocs();
    CHECK_OK(gids_ag_mm(&y1, x, w));
    int64_t a1 = device_allocs();
    CHECK_OK(gids_ag_mm(&y2, x, w));
    CHECK(device_allocs() - a1 == a1 - a0);
    CHECK(gids_autocast_cache_size() == 0);
    CHECK_OK(gids_autocast_cast(&c1, w, GIDS_F16));
    CHECK_OK(gids_autocast_cast(&c2, w, GIDS_F16));
    CHECK(c1 != c2 && same_bits(c1, c2));
    CHECK_OK(gids_set_autocast(GIDS_F32));
    CHECK(gids_set_autocast_cache_enabled(true) == false);
    /* autocast off: a plain cast, nothing kept */
    gids_tensor_release(c1), c1 = NULL;
    CHECK_OK(gids_autocast_cast(&c1, w, GIDS_F16));
    CHECK(c1 != NULL && gids_autocast_cache_size() == 0);
    CHECK_ERR(gids_autocast_cast(NULL, w, GIDS_F16), GIDS_EINVAL,
              "autocast cast: out or t is NULL");
    gids_tensor_release(c1), gids_tensor_release(c2);
    gids_tensor_release(y1), gids_tensor_release(y2), gids_tensor_release(x),
        gids_tensor_release(w);
}

TEST(a_recorded_view_of_a_weight_is_cached_and_activations_are_not) {
    gids_tensor *x0 = dev_values(4, 8, 1, true), *w = dev_values(6, 8, 2, true);
    gids_tensor *frozen = dev_values(8, 6, 3, false), *b = dev_values(1, 6, 4, true);
    gids_tensor *x = NULL, *wt = NULL, *wt2 = NULL, *w2 = NULL, *y[5] = {0};
    CHECK_OK(gids_set_autocast(GIDS_BF16));
    CHECK_OK(gids_ag_unary(&x, GIDS_RELU, x0)); /* an activation: a non-leaf of new storage */
    CHECK_OK(gids_ag_transpose(&wt, w, 0, 1));  /* F.linear's w:t() */
    CHECK_OK(gids_ag_addmm(&y[0], b, x, wt, 1.0, 1.0));
    CHECK(gids_autocast_cache_size() == 1);     /* wt only: x is an activation */
    CHECK_OK(gids_ag_transpose(&wt2, w, 0, 1)); /* a new view handle, the same view */
    CHECK_OK(gids_ag_mm(&y[1], x, wt2));
    CHECK(gids_autocast_cache_size() == 1);
    CHECK_OK(gids_ag_mm(&y[2], x, frozen)); /* a leaf that requires no grad: not a parameter */
    CHECK(gids_autocast_cache_size() == 1);
    CHECK_OK(gids_ag_binary_scalar(&w2, GIDS_MUL, wt, gids_scalar_f(2.0), false));
    CHECK_OK(gids_ag_mm(&y[3], x, w2)); /* computed from w, but new storage: an activation */
    CHECK(gids_autocast_cache_size() == 1);
    CHECK_OK(gids_ag_mm(&y[4], x0, wt)); /* x0: a leaf that requires grad, cached as any */
    CHECK(gids_autocast_cache_size() == 2);
    CHECK_OK(gids_set_autocast(GIDS_F32));
    CHECK(gids_autocast_cache_size() == 0);
    for (int i = 0; i < 5; i++) gids_tensor_release(y[i]);
    gids_tensor_release(x0), gids_tensor_release(w), gids_tensor_release(frozen);
    gids_tensor_release(b), gids_tensor_release(x), gids_tensor_release(wt);
    gids_tensor_release(wt2), gids_tensor_release(w2);
}

/* Evaluation: under no_grad the view w:t() records nothing, yet it is a parameter's memory and
 * is cast once per region; a weight frozen later is not cached. */
TEST(a_view_of_a_weight_made_under_no_grad_is_cached) {
    gids_tensor *x = dev_values(4, 8, 1, false), *w = dev_values(6, 8, 2, true);
    gids_tensor *b = dev_values(1, 6, 3, true), *wt = NULL, *wt2 = NULL, *y[3] = {0};
    bool was = gids_set_grad_enabled(false);
    CHECK_OK(gids_set_autocast(GIDS_BF16));
    CHECK_OK(gids_ag_transpose(&wt, w, 0, 1));
    CHECK(wt != NULL && !gids_requires_grad(wt) && gids_is_leaf(wt)); /* no autograd link to w */
    int64_t a0 = device_allocs();
    CHECK_OK(gids_ag_addmm(&y[0], b, x, wt, 1.0, 1.0));
    int64_t a1 = device_allocs();
    CHECK(gids_autocast_cache_size() == 1);     /* wt, not x (an input) */
    CHECK_OK(gids_ag_transpose(&wt2, w, 0, 1)); /* the next batch's view */
    CHECK_OK(gids_ag_addmm(&y[1], b, x, wt2, 1.0, 1.0));
    int64_t a2 = device_allocs();
    CHECK(gids_autocast_cache_size() == 1);
    CHECK(a2 - a1 == (a1 - a0) - 1); /* the same work but w's cast */
    CHECK(same_bits(y[0], y[1]));
    CHECK_OK(gids_set_autocast(GIDS_F32));
    CHECK_OK(gids_set_requires_grad(w, false)); /* frozen: its memory is no parameter's now */
    CHECK_OK(gids_set_autocast(GIDS_BF16));
    CHECK_OK(gids_ag_addmm(&y[2], b, x, wt, 1.0, 1.0));
    CHECK(gids_autocast_cache_size() == 0);
    CHECK(same_bits(y[0], y[2]));
    CHECK_OK(gids_set_autocast(GIDS_F32));
    gids_set_grad_enabled(was);
    for (int i = 0; i < 3; i++) gids_tensor_release(y[i]);
    gids_tensor_release(x), gids_tensor_release(w), gids_tensor_release(b);
    gids_tensor_release(wt), gids_tensor_release(wt2);
}

/* Two leaves over one memory (a parameter and an alias of it): freezing or freeing the alias
 * leaves the parameter's mark, so its casts stay cached; freezing both clears it. */
TEST(the_parameter_mark_counts_the_leaves_over_a_memory) {
    gids_tensor *x = dev_values(4, 8, 1, false), *w = dev_values(8, 6, 2, true);
    gids_tensor *alias = NULL, *y = NULL;
    CHECK_OK(gids_tensor_from_storage(&alias, w->storage, w->dtype, w->ndim, w->shape, w->stride,
                                      w->offset));
    CHECK_OK(gids_set_requires_grad(alias, true));
    CHECK(w->storage->grad_leaves == 2);
    CHECK_OK(gids_set_requires_grad(alias, true)); /* already on: counted once */
    CHECK(w->storage->grad_leaves == 2);
    CHECK_OK(gids_set_requires_grad(alias, false));
    CHECK(w->storage->grad_leaves == 1);
    CHECK_OK(gids_set_autocast(GIDS_BF16));
    CHECK_OK(gids_ag_mm(&y, x, w));
    CHECK(gids_autocast_cache_size() == 1); /* w is still a parameter */
    CHECK_OK(gids_set_autocast(GIDS_F32));
    gids_tensor_release(y), y = NULL;
    CHECK_OK(gids_set_requires_grad(alias, true));
    gids_tensor_release(alias); /* freed while requiring grad: counts itself out */
    CHECK(w->storage->grad_leaves == 1);
    CHECK_OK(gids_set_requires_grad(w, false));
    CHECK(w->storage->grad_leaves == 0);
    CHECK_OK(gids_set_autocast(GIDS_BF16));
    CHECK_OK(gids_ag_mm(&y, x, w));
    CHECK(gids_autocast_cache_size() == 0); /* frozen: no parameter's memory now */
    CHECK_OK(gids_set_autocast(GIDS_F32));
    gids_tensor_release(y), gids_tensor_release(x), gids_tensor_release(w);
}

TEST(an_in_place_write_to_the_weight_inside_the_region_gives_the_new_values) {
    gids_tensor *x = dev_values(4, 8, 1, false), *w = dev_values(8, 6, 2, true);
    gids_tensor *y1 = NULL, *y2 = NULL, *want = NULL;
    CHECK_OK(gids_set_autocast(GIDS_BF16));
    CHECK_OK(gids_ag_mm(&y1, x, w));
    CHECK_OK(gids_binary_scalar_into(w, GIDS_MUL, w, gids_scalar_f(2.0), false)); /* a step */
    CHECK_OK(gids_ag_mm(&y2, x, w));
    CHECK(gids_autocast_cache_size() == 1); /* the stale entry replaced, not added to */
    CHECK_OK(gids_binary_scalar(&want, GIDS_MUL, y1, gids_scalar_f(2.0), false));
    CHECK(same_bits(y2, want)); /* exact: doubling is exact in bf16 and f32 */
    CHECK(!same_bits(y2, y1));
    CHECK_OK(gids_set_autocast(GIDS_F32));
    gids_tensor_release(y1), gids_tensor_release(y2), gids_tensor_release(want);
    gids_tensor_release(x), gids_tensor_release(w);
}

/* Three products sharing w (two through one recorded view, one directly), summed, backward:
 * the gradients of w, x and the bias, as CPU tensors in g[0..3). */
static void grads_of_a_shared_weight(bool cache, gids_tensor **g) {
    gids_tensor *x = dev_values(5, 8, 1, true), *w = dev_values(8, 8, 2, true);
    gids_tensor *b = dev_values(1, 8, 3, true), *wt = NULL, *p[3] = {0}, *s1 = NULL, *s2 = NULL,
                *loss = NULL;
    gids_set_autocast_cache_enabled(cache);
    CHECK_OK(gids_set_autocast(GIDS_F16));
    CHECK_OK(gids_ag_transpose(&wt, w, 0, 1));
    CHECK_OK(gids_ag_addmm(&p[0], b, x, wt, 1.0, 0.5));
    CHECK_OK(gids_ag_mm(&p[1], p[0], wt));
    CHECK_OK(gids_ag_matmul(&p[2], p[1], w));
    CHECK(gids_autocast_cache_size() == (cache ? 3u : 0u)); /* x (a leaf), wt, w */
    CHECK_OK(gids_set_autocast(GIDS_F32));
    CHECK_OK(gids_ag_binary(&s1, GIDS_ADD, p[0], p[2]));
    CHECK_OK(gids_ag_reduce(&loss, GIDS_SUM, s1, 0, NULL, false));
    CHECK_OK(gids_backward(loss, NULL, false));
    const gids_tensor *src[3] = {gids_grad(w), gids_grad(x), gids_grad(b)};
    for (int i = 0; i < 3; i++) {
        g[i] = NULL;
        CHECK(src[i] != NULL);
        if (src[i] != NULL) CHECK_OK(gids_to_device(&g[i], src[i], GIDS_DEVICE_CPU));
    }
    gids_set_autocast_cache_enabled(true);
    for (int i = 0; i < 3; i++) gids_tensor_release(p[i]);
    gids_tensor_release(s1), gids_tensor_release(s2), gids_tensor_release(loss);
    gids_tensor_release(wt), gids_tensor_release(x), gids_tensor_release(w), gids_tensor_release(b);
}

TEST(gradients_are_bitwise_those_without_the_cache) {
    gids_tensor *with[3], *without[3];
    grads_of_a_shared_weight(true, with);
    grads_of_a_shared_weight(false, without);
    for (int i = 0; i < 3; i++) {
        CHECK(same_bits(with[i], without[i]));
        gids_tensor_release(with[i]), gids_tensor_release(without[i]);
    }
}

typedef struct {
    const gids_tensor *w;
    size_t size_inside, size_after;
    bool same_as_main;
    const gids_tensor *main_cast;
} thread_cache;

static void *cast_in_another_thread(void *arg) {
    thread_cache *c = arg;
    gids_tensor *cast = NULL;
    if (gids_set_autocast(GIDS_BF16) != GIDS_OK) return NULL;
    if (gids_autocast_cast(&cast, c->w, GIDS_BF16) == GIDS_OK) {
        c->size_inside = gids_autocast_cache_size();
        c->same_as_main = cast == c->main_cast;
    }
    gids_tensor_release(cast);
    gids_set_autocast(GIDS_F32); /* a thread turns autocast off before it ends */
    c->size_after = gids_autocast_cache_size();
    return NULL;
}

TEST(each_thread_has_its_own_cache) {
    gids_tensor *w = dev_values(8, 6, 2, true), *mine = NULL;
    CHECK_OK(gids_set_autocast(GIDS_BF16));
    CHECK_OK(gids_autocast_cast(&mine, w, GIDS_BF16));
    thread_cache c = {w, 99, 99, true, mine};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, cast_in_another_thread, &c) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(c.size_inside == 1 && !c.same_as_main && c.size_after == 0);
    CHECK(gids_autocast_cache_size() == 1); /* this thread's entry untouched */
    CHECK_OK(gids_set_autocast(GIDS_F32));
    gids_tensor_release(mine), gids_tensor_release(w);
}

/* bilstm has no half kernel: under autocast its forward runs with TF32 products (the setting
 * the CUDA plugin's GEMMs follow), and so does its backward, which the node runs with the
 * setting recorded at the forward although the region has ended.  gids_set_rnn_tf32 (the user's
 * choice of TF32 for this op, torch's cudnn.rnn.fp32_precision) does the same outside autocast,
 * its backward following the forward's setting too.  With neither, neither pass. */
TEST(bilstm_under_autocast_or_rnn_tf32_runs_both_passes_with_tf32_products) {
    lb_tf32_seen_fn seen = (lb_tf32_seen_fn)dlsym(RTLD_DEFAULT, LB_TF32_SYMBOL);
    CHECK(seen != NULL);
    if (seen == NULL) return;
    CHECK(!gids_rnn_tf32()); /* off unless GRAPHIDS_RNN_TF32=1 (unset in make test) */
    const int64_t T = 2, N = 3, C = 4, H = 2;
    gids_tensor *x2 = dev_values(T * N, C, 1, false), *x = NULL;
    CHECK_OK(gids_view(&x, x2, 3, (int64_t[]){T, N, C}));
    const gids_tensor *w[8] = {NULL};
    gids_tensor *ws[4];
    for (int k = 0; k < 4; k++) ws[k] = dev_values(4 * H, k % 2 ? H : C, k + 2, true);
    w[0] = ws[0], w[1] = ws[1], w[4] = ws[2], w[5] = ws[3]; /* no biases */
    enum { AUTOCAST, RNN_TF32, NEITHER };
    for (int mode = AUTOCAST; mode <= NEITHER; mode++) {
        seen(); /* cleared */
        gids_tensor *out = NULL, *g = NULL;
        if (mode == AUTOCAST) CHECK_OK(gids_set_autocast(GIDS_BF16));
        if (mode == RNN_TF32) CHECK(!gids_set_rnn_tf32(true));
        CHECK_OK(gids_ag_bilstm(&out, x, w));
        CHECK_OK(gids_set_autocast(GIDS_F32));
        if (mode == RNN_TF32) CHECK(gids_set_rnn_tf32(false)); /* off before the backward */
        CHECK(!gids_tf32_products());                          /* restored after the forward */
        CHECK(seen() == (mode != NEITHER ? 1u : 0u));
        if (out == NULL) break;
        CHECK_OK(gids_full(&g, GIDS_F32, DEV, 3, out->shape, gids_scalar_f(1.0)));
        CHECK_OK(gids_backward(out, g, false));
        CHECK(!gids_tf32_products()); /* and after the backward */
        CHECK(seen() == (mode != NEITHER ? 2u : 0u));
        CHECK(gids_grad(ws[0]) != NULL && gids_grad(ws[3]) != NULL);
        for (int k = 0; k < 4; k++) CHECK_OK(gids_set_grad(ws[k], NULL));
        gids_tensor_release(out), gids_tensor_release(g);
    }
    CHECK(!gids_rnn_tf32());
    for (int k = 0; k < 4; k++) gids_tensor_release(ws[k]);
    gids_tensor_release(x), gids_tensor_release(x2);
}

int main(void) {
    if (!load_loopback(NULL)) return check_summary("autocast");
    RUN(a_weight_used_twice_in_a_region_is_cast_once);
    RUN(without_the_cache_every_product_casts_its_weight);
    RUN(a_recorded_view_of_a_weight_is_cached_and_activations_are_not);
    RUN(a_view_of_a_weight_made_under_no_grad_is_cached);
    RUN(the_parameter_mark_counts_the_leaves_over_a_memory);
    RUN(an_in_place_write_to_the_weight_inside_the_region_gives_the_new_values);
    RUN(gradients_are_bitwise_those_without_the_cache);
    RUN(each_thread_has_its_own_cache);
    RUN(bilstm_under_autocast_or_rnn_tf32_runs_both_passes_with_tf32_products);
    CHECK(gids_autocast_cache_size() == 0);
    CHECK_OK(gids_backend_get(GIDS_CUDA)->reset(-1)); /* cached blocks back before the leak check */
    return check_summary("autocast");
}
