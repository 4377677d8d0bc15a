/* meta.c -- per-tensor autograd state, grad and anomaly modes, detach. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core_impl.h"
#include "autograd_impl.h"

static _Thread_local bool grad_off_; /* stored inverted so the default (on) is zero */
static _Thread_local bool anomaly_on_;

bool gids_grad_enabled(void) {
    return !grad_off_;
}

bool gids_set_grad_enabled(bool on) {
    bool old = !grad_off_;
    grad_off_ = !on;
    return old;
}

bool gids_anomaly_enabled(void) {
    return anomaly_on_;
}

bool gids_set_anomaly_enabled(bool on) {
    bool old = anomaly_on_;
    anomaly_on_ = on;
    return old;
}

gids_ag_meta *gids_ag_meta_get(gids_tensor *t) {
    if (t->autograd == NULL) t->autograd = calloc(1, sizeof(gids_ag_meta));
    return t->autograd;
}

void gids_ag_meta_free(void *meta, gids_storage *s) {
    gids_ag_meta *m = meta;
    if (m == NULL) return;
    if (m->counts_leaf) __atomic_sub_fetch(&s->grad_leaves, 1, __ATOMIC_RELAXED);
    gids_ag_unretain(m);
    gids_hook_list_release(m->hooks);
    gids_tensor_release(m->grad);
    gids_node_release(m->grad_fn);
    free(m);
}

bool gids_requires_grad(const gids_tensor *t) {
    if (t == NULL) return false;
    const gids_ag_meta *m = t->autograd;
    return m != NULL && (m->requires_grad || m->grad_fn != NULL);
}

bool gids_is_leaf(const gids_tensor *t) {
    if (t == NULL) return false; /* not a tensor, so not a leaf either */
    const gids_ag_meta *m = t->autograd;
    return m == NULL || m->grad_fn == NULL;
}

gids_status gids_set_requires_grad(gids_tensor *t, bool on) {
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "requires_grad: the tensor is NULL");
    if (!gids_is_leaf(t))
        GIDS_FAIL(GIDS_ESTATE,
                  "requires_grad: only leaf tensors can be switched; this one comes from %s "
                  "(use :detach() for a leaf)",
                  gids_grad_fn_name(t));
    if (on && !gids_dtype_is_float(t->dtype))
        GIDS_FAIL(GIDS_EDTYPE, "requires_grad: only float tensors can require grad, got %s",
                  gids_dtype_name(t->dtype));
    if (!on && t->autograd == NULL) return GIDS_OK;
    gids_ag_meta *m = gids_ag_meta_get(t);
    if (m == NULL) GIDS_FAIL(GIDS_ENOMEM, "requires_grad: out of memory");
    m->requires_grad = on;
    if (m->counts_leaf != on) {
        m->counts_leaf = on;
        if (on)
            __atomic_add_fetch(&t->storage->grad_leaves, 1, __ATOMIC_RELAXED);
        else
            __atomic_sub_fetch(&t->storage->grad_leaves, 1, __ATOMIC_RELAXED);
    }
    return GIDS_OK;
}

gids_tensor *gids_grad(const gids_tensor *t) {
    if (t == NULL) return NULL;
    const gids_ag_meta *m = t->autograd;
    return m != NULL ? m->grad : NULL;
}

/* The first and last element offsets t can reach in its storage; false when t is empty. */
static bool span_(const gids_tensor *t, int64_t *lo, int64_t *hi) {
    *lo = *hi = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] == 0) return false;
        int64_t reach = (t->shape[d] - 1) * t->stride[d];
        if (reach < 0)
            *lo += reach;
        else
            *hi += reach;
    }
    return true;
}

/* Whether a and b (of one dtype) surely share elements: the same storage with overlapping spans,
 * and either the same view (t:detach()) or both dense (contiguous), so the overlap is real.  Two
 * strided views whose spans interleave are not refused: they may never touch (a column of
 * parameters beside a column of their gradients), and torch accepts any view but t itself. */
static bool shares_memory_(const gids_tensor *a, const gids_tensor *b) {
    int64_t alo, ahi, blo, bhi;
    if (a->storage != b->storage || !span_(a, &alo, &ahi) || !span_(b, &blo, &bhi)) return false;
    if (alo > bhi || blo > ahi) return false;
    bool same_view = a->offset == b->offset && a->ndim == b->ndim;
    for (int d = 0; same_view && d < a->ndim; d++)
        same_view =
            a->shape[d] == b->shape[d] && (a->shape[d] <= 1 || a->stride[d] == b->stride[d]);
    return same_view || (gids_tensor_is_contiguous(a) && gids_tensor_is_contiguous(b));
}

gids_status gids_set_grad(gids_tensor *t, gids_tensor *grad) {
    GIDS_CHECK_ARG(t, "grad", "the tensor");
    if (grad != NULL) {
        bool same = grad->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = grad->shape[d] == t->shape[d];
        if (!same) {
            char a[160], b[160];
            GIDS_FAIL(GIDS_ESHAPE, "grad: a gradient of shape %s for a tensor of shape %s",
                      gids_shape_str(grad->ndim, grad->shape, a, sizeof a),
                      gids_shape_str(t->ndim, t->shape, b, sizeof b));
        }
        if (grad->dtype != t->dtype)
            GIDS_FAIL(GIDS_EDTYPE, "grad: a gradient of dtype %s for a tensor of dtype %s",
                      gids_dtype_name(grad->dtype), gids_dtype_name(t->dtype));
        /* (else it surfaces in the next backward or optimizer step, naming neither) */
        gids_device gd = grad->storage->device, td = t->storage->device;
        if (gd.type != td.type || gd.index != td.index) {
            char a[32], b[32];
            GIDS_FAIL(GIDS_EDEVICE, "grad: a gradient on %s for a tensor on %s",
                      gids_device_str(gd, a, sizeof a), gids_device_str(td, b, sizeof b));
        }
        /* Backward adds into .grad and an optimizer reads it while writing t: a gradient in t's
         * own memory would change t behind both (and t as its own grad would hold itself). */
        if (grad == t)
            GIDS_FAIL(GIDS_EINVAL, "grad: can't assign a tensor as its own grad (assign a copy: "
                                   "t:clone())");
        if (shares_memory_(grad, t))
            GIDS_FAIL(GIDS_EINVAL, "grad: the gradient shares memory with the tensor (a view "
                                   "or detach() of it), so backward would add into the tensor "
                                   "itself; assign a copy (clone())");
    }
    if (grad == NULL && t->autograd == NULL) return GIDS_OK;
    gids_ag_meta *m = gids_ag_meta_get(t);
    if (m == NULL) GIDS_FAIL(GIDS_ENOMEM, "grad: out of memory");
    if (grad != NULL) gids_tensor_retain(grad);
    gids_tensor_release(m->grad);
    m->grad = grad;
    return GIDS_OK;
}

void gids_ag_unretain(gids_ag_meta *m) {
    if (!m->retains_grad) return;
    m->retains_grad = false;
    gids_node *n = m->grad_fn;
    if (n != NULL && n->retained != NULL && n->retained[m->output_nr].meta == m)
        n->retained[m->output_nr].meta = NULL;
}

gids_status gids_retain_grad(gids_tensor *t) {
    GIDS_CHECK_ARG(t, "retain_grad", "the tensor");
    if (!gids_requires_grad(t))
        GIDS_FAIL(GIDS_ESTATE, "retain_grad: the tensor does not require grad, so no gradient "
                               "reaches it");
    gids_ag_meta *m = t->autograd;
    gids_node *n = m->grad_fn;
    if (n == NULL || m->retains_grad) return GIDS_OK; /* a leaf keeps its gradient anyway */
    if (n->retained == NULL) {
        n->retained = calloc((size_t)n->nout, sizeof *n->retained);
        if (n->retained == NULL) GIDS_FAIL(GIDS_ENOMEM, "retain_grad: out of memory");
    }
    gids_retained *r = &n->retained[m->output_nr];
    if (r->meta != NULL) /* another handle on the same output (none is made today) */
        GIDS_FAIL(GIDS_ESTATE,
                  "retain_grad: output %d of %s already keeps its gradient in "
                  "another tensor",
                  m->output_nr + 1, n->name);
    r->meta = m;
    r->dtype = t->dtype;
    m->retains_grad = true;
    return GIDS_OK;
}

bool gids_retains_grad(const gids_tensor *t) {
    const gids_ag_meta *m = t != NULL ? t->autograd : NULL;
    return m != NULL && m->retains_grad;
}

const char *gids_grad_fn_name(const gids_tensor *t) {
    if (t == NULL) return NULL;
    const gids_ag_meta *m = t->autograd;
    return m != NULL && m->grad_fn != NULL ? m->grad_fn->name : NULL;
}

gids_status gids_detach(gids_tensor **out, const gids_tensor *t) {
    GIDS_CHECK_ARG(out, "detach", "out");
    GIDS_CHECK_ARG(t, "detach", "the tensor");
    return gids_tensor_from_storage(out, t->storage, t->dtype, t->ndim, t->shape, t->stride,
                                    t->offset);
}

gids_status gids_ag_check_nan(const char *op, const char *what, const gids_tensor *t) {
    if (!gids_dtype_is_float(t->dtype)) return GIDS_OK;
    int64_t n = gids_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double v = 0.0;
        GIDS_TRY(gids_tensor_get(t, i, &v));
        if (isnan(v))
            GIDS_FAIL(GIDS_ESTATE, "detect_anomaly: %s produced NaN in %s (element %lld)", op, what,
                      (long long)i);
    }
    return GIDS_OK;
}

gids_status gids_ag_note_unrecorded_view(gids_tensor *out, const gids_tensor *base) {
    /* (contiguous, clone and to_dtype may hand back base itself, which is no view of it; a
     * copy has a storage of its own) */
    if (out == base || out->storage != base->storage) return GIDS_OK;
    const gids_ag_meta *bm = base->autograd;
    /* taken under no_grad of a tensor that requires grad, or a view of such a view (a view of a
     * detach() in any mode is neither: torch lets it be written) */
    bool of_grad = !gids_grad_enabled() && gids_requires_grad(base);
    bool of_view = bm != NULL && bm->no_grad_view;
    if (!of_grad && !of_view) return GIDS_OK;
    gids_ag_meta *m = gids_ag_meta_get(out);
    if (m == NULL) GIDS_FAIL(GIDS_ENOMEM, "view: out of memory for autograd metadata");
    m->no_grad_view = true;
    m->no_grad_view_of_nonleaf =
        (of_grad && bm->grad_fn != NULL) || (of_view && bm->no_grad_view_of_nonleaf);
    return GIDS_OK;
}

gids_status gids_ag_check_inplace(const char *op, const gids_tensor *target, int n,
                                  const gids_tensor *const *inputs) {
    GIDS_CHECK_OP_NAME(op, "check_inplace");
    GIDS_CHECK_ARG(target, op, "the target");
    GIDS_CHECK(n <= 0 || inputs != NULL, GIDS_EINVAL, "%s: the inputs are NULL with %d inputs", op,
               n);
    if (!gids_grad_enabled()) return GIDS_OK;
    if (gids_requires_grad(target))
        GIDS_FAIL(GIDS_ESTATE,
                  "%s: a tensor that requires grad cannot be modified in place while grad mode "
                  "is on (use the out-of-place form, or graphids.no_grad for updates)",
                  op);
    const gids_ag_meta *m = target->autograd;
    if (m != NULL && m->no_grad_view &&
        (m->no_grad_view_of_nonleaf ||
         __atomic_load_n(&target->storage->grad_leaves, __ATOMIC_RELAXED) > 0))
        GIDS_FAIL(GIDS_ESTATE,
                  "%s: this tensor is a view, taken under no_grad, of a tensor that requires "
                  "grad; modified in place with grad mode on it would change that tensor behind "
                  "autograd's back (modify it under graphids.no_grad, or clone it first)",
                  op);
    for (int i = 0; i < n; i++)
        if (inputs[i] != NULL && gids_requires_grad(inputs[i]))
            GIDS_FAIL(GIDS_ESTATE,
                      "%s: input %d requires grad, but an in-place result cannot record a "
                      "history; use the out-of-place form",
                      op, i + 1);
    return GIDS_OK;
}
