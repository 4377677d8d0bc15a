/* alias.c -- CPU aliases of loopback tensors, and moving CPU results onto the device.
 *
 * Why aliases cannot re-dispatch: an alias is a CPU tensor (its wrapped storage says GIDS_CPU),
 * so the public op called on aliases takes its CPU path; the only device tensors it meets are
 * none.  A CPU op that allocates uses the CPU allocator; the results are then copied into
 * loopback blocks (lb_finish), so the device's statistics count them as a GPU's would.
 */
#include <string.h>

#include "loopback_impl.h"

static bool on_loopback(const gids_tensor *t) {
    return t->storage->device.type == GIDS_CUDA;
}

/* The deleter of every alias storage: drops the reference the alias held on the device storage. */
static void release_device_storage(void *data, void *ctx) {
    (void)data;
    gids_storage_release(ctx);
}

/* The device storage an alias storage stands for, or NULL when s is not an alias storage. */
static gids_storage *device_of(const gids_storage *s) {
    return s->deleter == release_device_storage ? s->deleter_ctx : NULL;
}

/* NEW: the wrapped CPU storage for device storage d (one per distinct d within a call). */
static gids_status wrap_of(lb_args *a, gids_storage *d, gids_storage **out) {
    for (int k = 0; k < a->nwrap; k++)
        if (a->dev[k] == d) {
            *out = a->wrap[k];
            return GIDS_OK;
        }
    gids_storage *w = NULL;
    gids_storage_retain(d);
    gids_status st = gids_storage_wrap(&w, GIDS_DEVICE_CPU, lb_host(d->data), d->nbytes,
                                       release_device_storage, d);
    if (st != GIDS_OK) {
        gids_storage_release(d);
        return st;
    }
    /* the version starts where the device's is, so lb_finish can carry over the difference */
    w->version = __atomic_load_n(&d->version, __ATOMIC_RELAXED);
    a->wrap[a->nwrap] = w;
    a->dev[a->nwrap] = d;
    a->nwrap++;
    *out = w;
    return GIDS_OK;
}

static void close_args(lb_args *a) {
    for (int k = 0; k < a->n; k++) gids_tensor_release(a->cpu[k]);
    for (int k = 0; k < a->nwrap; k++) {
        gids_storage *w = a->wrap[k], *d = a->dev[k];
        uint64_t was = __atomic_load_n(&d->version, __ATOMIC_RELAXED);
        uint64_t now = __atomic_load_n(&w->version, __ATOMIC_RELAXED);
        if (now > was) __atomic_add_fetch(&d->version, now - was, __ATOMIC_RELAXED);
        gids_storage_release(w);
    }
    a->n = a->nwrap = 0;
}

gids_status lb_open(lb_args *a, const char *op, int n, const gids_tensor *const *ts) {
    a->n = a->nwrap = 0;
    GIDS_CHECK(n <= LB_MAX_ARGS, GIDS_EINVAL, "%s (loopback): %d tensor arguments, at most %d", op,
               n, LB_MAX_ARGS);
    for (int i = 0; i < n; i++) {
        const gids_tensor *t = ts[i];
        a->cpu[i] = NULL;
        a->n = i + 1;
        if (t == NULL) continue;
        if (!on_loopback(t)) {
            gids_tensor_retain((gids_tensor *)t); /* the host side of a copy */
            a->cpu[i] = (gids_tensor *)t;
            continue;
        }
        gids_storage *w = NULL;
        gids_status st = wrap_of(a, t->storage, &w);
        if (st == GIDS_OK)
            st = gids_tensor_from_storage(&a->cpu[i], w, t->dtype, t->ndim, t->shape, t->stride,
                                          t->offset);
        if (st != GIDS_OK) {
            close_args(a);
            return st;
        }
    }
    return GIDS_OK;
}

/* NEW in *out: t on the loopback device.  A result that is an alias of a device storage (an op
 * that returned its input, or a view of it) becomes the same view of that storage; any other
 * is copied into a fresh device tensor. */
static gids_status to_device(gids_tensor **out, const gids_tensor *t) {
    *out = NULL;
    if (on_loopback(t)) {
        gids_tensor_retain((gids_tensor *)t);
        *out = (gids_tensor *)t;
        return GIDS_OK;
    }
    gids_storage *d = device_of(t->storage);
    if (d != NULL)
        return gids_tensor_from_storage(out, d, t->dtype, t->ndim, t->shape, t->stride, t->offset);
    gids_tensor *r = NULL;
    GIDS_TRY(gids_empty(&r, t->dtype, LB_DEVICE, t->ndim, t->shape));
    gids_status st = lb_copy_host(r, t);
    if (st != GIDS_OK) {
        gids_tensor_release(r);
        return st;
    }
    *out = r;
    return GIDS_OK;
}

gids_status lb_finish(lb_args *a, gids_status st, int nout, gids_tensor **const *outs) {
    close_args(a);
    if (st != GIDS_OK) return st;
    for (int k = 0; k < nout && st == GIDS_OK; k++) {
        if (outs[k] == NULL || *outs[k] == NULL) continue;
        gids_tensor *d = NULL;
        st = to_device(&d, *outs[k]);
        gids_tensor_release(*outs[k]);
        *outs[k] = d;
    }
    if (st != GIDS_OK)
        for (int k = 0; k < nout; k++)
            if (outs[k] != NULL) {
                gids_tensor_release(*outs[k]);
                *outs[k] = NULL;
            }
    return st;
}

static bool same_shape(const gids_tensor *a, const gids_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

gids_status lb_copy_host(gids_tensor *dst, const gids_tensor *src) {
    if (dst->dtype == src->dtype && same_shape(dst, src) && gids_tensor_is_contiguous(dst) &&
        gids_tensor_is_contiguous(src)) {
        void *d = lb_data(dst);
        const void *s = lb_data(src);
        /* memmove: a copy between views of one storage may overlap */
        if (d != s) memmove(d, s, (size_t)gids_tensor_numel(dst) * gids_dtype_size(dst->dtype));
        return GIDS_OK;
    }
    lb_args x;
    LB_IN(x, "copy_", dst, src);
    return LB_DONE_INPLACE(x, gids_copy_(x.cpu[0], x.cpu[1]));
}
