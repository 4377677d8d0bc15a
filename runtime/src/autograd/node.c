/* node.c -- graph nodes: recording, saved tensors, and release without deep recursion. */
#include <stdlib.h>
#include <string.h>

#include "../core/core_impl.h"
#include "autograd_impl.h"

static uint64_t next_seq_; /* atomic */

bool gids_ag_should_record(int n, const gids_tensor *const *inputs) {
    if (!gids_grad_enabled() || inputs == NULL) return false; /* no inputs: nothing to record */
    for (int i = 0; i < n; i++)
        if (inputs[i] != NULL && gids_requires_grad(inputs[i])) return true;
    return false;
}

static gids_node *node_alloc_(const char *name, gids_backward_fn fn, int nin, int nout) {
    gids_node *n = calloc(1, sizeof *n);
    if (n == NULL) return NULL;
    n->next = calloc((size_t)(nin > 0 ? nin : 1), sizeof *n->next);
    n->inputs = calloc((size_t)(nin > 0 ? nin : 1), sizeof *n->inputs);
    if (n->next == NULL || n->inputs == NULL) {
        free(n->next), free(n->inputs), free(n);
        return NULL;
    }
    n->refcount = 1;
    n->nin = nin;
    n->nout = nout;
    n->name = name;
    n->fn = fn;
    n->seq = __atomic_add_fetch(&next_seq_, 1, __ATOMIC_RELAXED);
    return n;
}

void gids_node_retain(gids_node *n) {
    __atomic_add_fetch(&n->refcount, 1, __ATOMIC_RELAXED);
}

static void free_saved_(gids_node *n) {
    for (int i = 0; i < GIDS_NODE_MAX_SAVED; i++) {
        gids_tensor_release(n->saved[i].t);
        n->saved[i].t = NULL;
    }
}

/* Release is iterative: a chain of thousands of nodes (an unrolled loop) would otherwise
 * recurse once per node and could exhaust the C stack. */
void gids_node_release(gids_node *n) {
    if (n == NULL || __atomic_sub_fetch(&n->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    size_t cap = 16, len = 0;
    gids_node **stack = malloc(cap * sizeof *stack);
    gids_node *cur = n;
    for (;;) {
        for (int j = 0; j < cur->nin; j++) {
            gids_node *m = cur->next[j].node;
            if (m == NULL || __atomic_sub_fetch(&m->refcount, 1, __ATOMIC_ACQ_REL) != 0) continue;
            if (len == cap && stack != NULL) {
                gids_node **grown = realloc(stack, 2 * cap * sizeof *stack);
                if (grown != NULL) stack = grown, cap *= 2;
            }
            /* Out of memory for the worklist: fall back to recursion for this one. */
            if (stack == NULL || len == cap) {
                m->refcount = 1;
                gids_node_release(m);
            } else {
                stack[len++] = m;
            }
        }
        free_saved_(cur);
        if (cur->ctx_free != NULL && cur->ctx != NULL) cur->ctx_free(cur->ctx);
        free(cur->ctx);
        if (cur->leaf != NULL) {
            gids_ag_meta *lm = cur->leaf->autograd;
            if (lm != NULL && lm->grad_acc == cur) lm->grad_acc = NULL;
            gids_tensor_release(cur->leaf);
        }
        free(cur->next);
        free(cur->inputs);
        free(cur->retained);
        gids_hook_list_release(cur->hooks);
        free(cur);
        if (len == 0) break;
        cur = stack[--len];
    }
    free(stack);
}

static gids_status no_backward_(gids_node *node, gids_tensor *const *grad_out,
                                gids_tensor **grad_in) {
    (void)node, (void)grad_out, (void)grad_in;
    return GIDS_OK; /* AccumulateGrad is handled by the engine itself */
}

gids_status gids_node_grad_accumulator(gids_node **out, gids_tensor *leaf) {
    gids_ag_meta *m = gids_ag_meta_get(leaf);
    if (m == NULL) GIDS_FAIL(GIDS_ENOMEM, "autograd: out of memory");
    if (m->grad_acc != NULL) {
        gids_node_retain(m->grad_acc);
        *out = m->grad_acc;
        return GIDS_OK;
    }
    gids_node *n = node_alloc_("AccumulateGrad", no_backward_, 0, 1);
    if (n == NULL) GIDS_FAIL(GIDS_ENOMEM, "autograd: out of memory for a node");
    gids_tensor_retain(leaf);
    n->leaf = leaf;
    m->grad_acc = n;
    *out = n;
    return GIDS_OK;
}

gids_status gids_node_record(gids_node **out, const char *name, gids_backward_fn fn, int nin,
                             const gids_tensor *const *inputs, int nout,
                             gids_tensor *const *outputs, size_t ctx_size,
                             void (*ctx_free)(void *ctx)) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "node_record: out is NULL");
    *out = NULL;
    /* everything the engine later calls or indexes is checked here, where the caller is named */
    GIDS_CHECK(name != NULL, GIDS_EINVAL, "node_record: name is NULL");
    GIDS_CHECK(fn != NULL, GIDS_EINVAL, "%s: node_record: backward function fn is NULL", name);
    GIDS_CHECK(nin >= 0 && nout >= 0, GIDS_EINVAL,
               "%s: node_record: nin = %d and nout = %d must not be negative", name, nin, nout);
    GIDS_CHECK(nin == 0 || inputs != NULL, GIDS_EINVAL,
               "%s: node_record: inputs is NULL with nin = %d", name, nin);
    GIDS_CHECK(nout == 0 || outputs != NULL, GIDS_EINVAL,
               "%s: node_record: outputs is NULL with nout = %d", name, nout);
    gids_node *n = node_alloc_(name, fn, nin, nout);
    if (n == NULL) GIDS_FAIL(GIDS_ENOMEM, "%s: out of memory for an autograd node", name);
    if (ctx_size > 0 && (n->ctx = calloc(1, ctx_size)) == NULL) {
        gids_node_release(n);
        GIDS_FAIL(GIDS_ENOMEM, "%s: out of memory for an autograd node", name);
    }
    n->ctx_free = ctx_free;
    for (int j = 0; j < nin; j++) {
        const gids_tensor *t = inputs[j];
        if (t == NULL) continue;
        n->inputs[j].ndim = t->ndim;
        n->inputs[j].dtype = t->dtype;
        n->inputs[j].device = gids_tensor_device(t);
        memcpy(n->inputs[j].shape, t->shape, sizeof t->shape);
        if (!gids_requires_grad(t)) continue;
        const gids_ag_meta *m = t->autograd;
        if (m->grad_fn != NULL) {
            gids_node_retain(m->grad_fn);
            n->next[j].node = m->grad_fn;
            n->next[j].input_nr = m->output_nr;
        } else {
            gids_status s = gids_node_grad_accumulator(&n->next[j].node, (gids_tensor *)t);
            if (s != GIDS_OK) {
                gids_node_release(n);
                return s;
            }
        }
    }
    for (int k = 0; k < nout; k++) {
        if (outputs[k] == NULL) continue;
        gids_ag_meta *m = gids_ag_meta_get(outputs[k]);
        if (m == NULL) {
            gids_node_release(n);
            GIDS_FAIL(GIDS_ENOMEM, "%s: out of memory for autograd state", name);
        }
        gids_node_retain(n);
        gids_ag_unretain(m); /* (its old grad_fn would keep adding into m->grad) */
        gids_node_release(m->grad_fn);
        m->grad_fn = n;
        m->output_nr = k;
        m->requires_grad = true;
    }
    *out = n;
    return GIDS_OK;
}

void *gids_node_ctx(gids_node *n) {
    return n != NULL ? n->ctx : NULL;
}
const char *gids_node_name(const gids_node *n) {
    return n != NULL ? n->name : NULL;
}

gids_status gids_node_save(gids_node *n, int slot, const gids_tensor *t) {
    GIDS_CHECK(n != NULL, GIDS_EINVAL, "node_save: node is NULL");
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "%s: node_save: tensor for slot %d is NULL", n->name, slot);
    if (slot < 0 || slot >= GIDS_NODE_MAX_SAVED)
        GIDS_FAIL(GIDS_EINVAL, "%s: saved-tensor slot %d out of range [0, %d)", n->name, slot,
                  GIDS_NODE_MAX_SAVED);
    gids_tensor *h = NULL;
    GIDS_TRY(gids_detach(&h, t));
    gids_tensor_release(n->saved[slot].t);
    n->saved[slot].t = h;
    n->saved[slot].version = __atomic_load_n(&t->storage->version, __ATOMIC_RELAXED);
    return GIDS_OK;
}

gids_status gids_node_saved(gids_node *n, int slot, const gids_tensor **out) {
    GIDS_CHECK(n != NULL && out != NULL, GIDS_EINVAL, "node_saved: node or out is NULL");
    if (n->released)
        GIDS_FAIL(GIDS_ESTATE,
                  "%s: its saved tensors were freed by an earlier backward; pass "
                  "retain_graph=true to the first backward to run backward twice",
                  n->name);
    if (slot < 0 || slot >= GIDS_NODE_MAX_SAVED || n->saved[slot].t == NULL)
        GIDS_FAIL(GIDS_EINVAL, "%s: nothing saved in slot %d", n->name, slot);
    const gids_saved *s = &n->saved[slot];
    uint64_t now = __atomic_load_n(&s->t->storage->version, __ATOMIC_RELAXED);
    if (now != s->version)
        GIDS_FAIL(GIDS_ESTATE,
                  "%s: a tensor saved for backward was modified in place since (version %llu, "
                  "saved at %llu); compute on a clone or modify it after backward",
                  n->name, (unsigned long long)now, (unsigned long long)s->version);
    *out = s->t;
    return GIDS_OK;
}

gids_tensor *gids_node_saved_scratch(gids_node *n, int slot) {
    if (n == NULL || !n->consuming || n->released || slot < 0 || slot >= GIDS_NODE_MAX_SAVED)
        return NULL;
    gids_tensor *t = n->saved[slot].t;
    if (t == NULL || __atomic_load_n(&t->refcount, __ATOMIC_ACQUIRE) != 1 ||
        __atomic_load_n(&t->storage->refcount, __ATOMIC_ACQUIRE) != 1)
        return NULL;
    /* the saved version check still applies: scratch is only handed out for intact values */
    if (__atomic_load_n(&t->storage->version, __ATOMIC_RELAXED) != n->saved[slot].version)
        return NULL;
    return t;
}

/* These accessors have no status to return: an input number outside [0, nin) (or a NULL node)
 * reads as an input that is absent -- no dims, an invalid dtype, no gradient needed -- rather
 * than past the end of the node's arrays. */
static bool has_input_(const gids_node *n, int j) {
    return n != NULL && j >= 0 && j < n->nin;
}

void gids_node_input_shape(const gids_node *n, int j, int *ndim, const int64_t **shape) {
    static const int64_t none_[1] = {0};
    bool ok = has_input_(n, j);
    if (ndim != NULL) *ndim = ok ? n->inputs[j].ndim : -1;
    if (shape != NULL) *shape = ok ? n->inputs[j].shape : none_;
}

gids_dtype gids_node_input_dtype(const gids_node *n, int j) {
    return has_input_(n, j) ? n->inputs[j].dtype : GIDS_NDTYPES;
}

gids_device gids_node_input_device(const gids_node *n, int j) {
    return has_input_(n, j) ? n->inputs[j].device : GIDS_DEVICE_CPU;
}

bool gids_node_needs_grad(const gids_node *n, int j) {
    return has_input_(n, j) && n->next[j].node != NULL;
}
