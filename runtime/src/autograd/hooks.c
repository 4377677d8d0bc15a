/* hooks.c -- gradient hooks (gids_register_hook): functions that see, and may replace, the
 * complete gradient of a tensor during backward.
 *
 * A leaf's hooks hang on its autograd meta (the engine applies them before adding into .grad);
 * a non-leaf's on its grad_fn, keyed by output number (applied before the gradient flows on),
 * so they live as long as the graph that can reach them, as torch's.  A handle shares the list
 * (refcounted) and names its hook by id, so removing after the holder died is harmless.
 */
#include <stdlib.h>

#include "../core/core_impl.h"
#include "autograd_impl.h"

struct gids_hook_handle {
    gids_hook_list *list;
    uint64_t id;
};

static uint64_t next_id_; /* atomic */

static void free_hook_(gids_hook *h) {
    if (h->ctx_free != NULL) h->ctx_free(h->ctx);
    free(h);
}

void gids_hook_list_release(gids_hook_list *l) {
    if (l == NULL || __atomic_sub_fetch(&l->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    for (gids_hook *h = l->first, *next; h != NULL; h = next) {
        next = h->next;
        free_hook_(h);
    }
    free(l);
}

gids_status gids_register_hook(gids_tensor *t, gids_grad_hook_fn fn, void *ctx,
                               void (*ctx_free)(void *ctx), gids_hook_handle **handle) {
    GIDS_CHECK_ARG(t, "register_hook", "the tensor");
    GIDS_CHECK_ARG(fn, "register_hook", "the hook function");
    GIDS_CHECK_ARG(handle, "register_hook", "handle");
    *handle = NULL;
    if (!gids_requires_grad(t))
        GIDS_FAIL(GIDS_ESTATE, "register_hook: the tensor does not require grad, so no "
                               "gradient reaches a hook on it");
    gids_ag_meta *m = t->autograd;
    gids_hook_list **where = m->grad_fn != NULL ? &m->grad_fn->hooks : &m->hooks;
    gids_hook_handle *hd = malloc(sizeof *hd);
    gids_hook *h = calloc(1, sizeof *h);
    if (*where == NULL && hd != NULL && h != NULL) {
        *where = calloc(1, sizeof **where);
        if (*where != NULL) (*where)->refcount = 1;
    }
    if (hd == NULL || h == NULL || *where == NULL) {
        free(hd), free(h);
        GIDS_FAIL(GIDS_ENOMEM, "register_hook: out of memory");
    }
    h->id = __atomic_add_fetch(&next_id_, 1, __ATOMIC_RELAXED);
    h->output_nr = m->grad_fn != NULL ? m->output_nr : 0;
    h->fn = fn;
    h->ctx = ctx;
    h->ctx_free = ctx_free;
    gids_hook **tail = &(*where)->first; /* registration order is calling order */
    while (*tail != NULL) tail = &(*tail)->next;
    *tail = h;
    __atomic_add_fetch(&(*where)->refcount, 1, __ATOMIC_RELAXED);
    hd->list = *where;
    hd->id = h->id;
    *handle = hd;
    return GIDS_OK;
}

bool gids_hooks_shared(const gids_tensor *t) {
    if (t == NULL || t->autograd == NULL) return false;
    const gids_ag_meta *m = t->autograd;
    const gids_hook_list *l = m->grad_fn != NULL ? m->grad_fn->hooks : m->hooks;
    if (l == NULL || l->first == NULL) return false;
    if (__atomic_load_n(&t->refcount, __ATOMIC_ACQUIRE) > 1) return true;
    return m->grad_fn != NULL && __atomic_load_n(&m->grad_fn->refcount, __ATOMIC_ACQUIRE) > 1;
}

bool gids_hook_remove(gids_hook_handle *hd) {
    if (hd == NULL || hd->list == NULL) return false;
    for (gids_hook **p = &hd->list->first; *p != NULL; p = &(*p)->next) {
        if ((*p)->id != hd->id) continue;
        gids_hook *h = *p;
        *p = h->next;
        free_hook_(h);
        return true;
    }
    return false;
}

void gids_hook_handle_free(gids_hook_handle *hd) {
    if (hd == NULL) return;
    gids_hook_list_release(hd->list);
    free(hd);
}

gids_status gids_ag_apply_hooks(const gids_hook_list *l, int32_t output_nr, gids_tensor **g,
                                const char *where) {
    if (l == NULL || *g == NULL) return GIDS_OK;
    /* A hook removed while another runs must not be touched, so walk by id; hooks registered
     * during the walk (ids past `end`) wait for the next backward, as torch's. */
    uint64_t last = 0, end = __atomic_load_n(&next_id_, __ATOMIC_RELAXED);
    for (;;) {
        const gids_hook *h = l->first;
        while (h != NULL && (h->id <= last || h->output_nr != output_nr)) h = h->next;
        if (h != NULL && h->id > end) h = NULL;
        if (h == NULL) return GIDS_OK;
        last = h->id;
        gids_tensor *r = NULL;
        gids_status st = h->fn(h->ctx, *g, &r);
        if (st != GIDS_OK) {
            gids_tensor_release(r);
            return st;
        }
        if (r == NULL) continue;
        const gids_tensor *old = *g;
        bool same = r->ndim == old->ndim;
        for (int d = 0; same && d < r->ndim; d++) same = r->shape[d] == old->shape[d];
        if (!same || !gids_device_eq(gids_tensor_device(r), gids_tensor_device(old))) {
            char a[160], b[32], c[160], d[32];
            gids_status bad = same ? GIDS_EDEVICE : GIDS_ESHAPE;
            gids_error_set(bad, __FILE__, __LINE__,
                           "%s: a gradient hook returned %s on %s for a gradient of shape %s on "
                           "%s (a hook may change values, not the shape or device)",
                           where, gids_shape_str(r->ndim, r->shape, a, sizeof a),
                           gids_device_str(gids_tensor_device(r), b, sizeof b),
                           gids_shape_str(old->ndim, old->shape, c, sizeof c),
                           gids_device_str(gids_tensor_device(old), d, sizeof d));
            gids_tensor_release(r);
            return bad;
        }
        if (r->dtype != old->dtype) { /* (torch refuses it too: a silent f16 would lose bits) */
            gids_error_set(GIDS_EDTYPE, __FILE__, __LINE__,
                           "%s: a gradient hook returned dtype %s for a gradient of dtype %s (a "
                           "hook may change values, not the dtype)",
                           where, gids_dtype_name(r->dtype), gids_dtype_name(old->dtype));
            gids_tensor_release(r);
            return GIDS_EDTYPE;
        }
        gids_tensor_release(*g);
        *g = r;
    }
}
