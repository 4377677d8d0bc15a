/* engine.c -- backward: runs the recorded graph from the roots to the leaves.
 *
 * The nodes reachable from the roots are collected first, with the number of edges that lead
 * into each (its dependencies).  A node runs once every node that feeds it has run, so its
 * output gradients are complete; among ready nodes the most recently recorded runs first,
 * which makes the order -- and the floating-point sums of gradients -- the same on every run.
 * A node's hooks see its complete output gradients before it runs; gids_autograd_grad runs the
 * same walk, limited to the nodes that lead to the asked-for inputs.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/core_impl.h"
#include "autograd_impl.h"

/* ---------------------------------------------------------------- node table */
typedef struct slot {
    gids_node *node;
    int32_t deps;
    gids_tensor **grads; /* [node->nout] accumulated output gradients */
    /* gids_autograd_grad only: the node's gradients are asked for (target), some input of it
     * leads to a target (needed: only such nodes run), and the walk that finds out */
    bool target, needed;
    int8_t state;   /* 0 unseen, 1 on the walk's stack, 2 done */
    int32_t cursor; /* the next input the walk looks at */
} slot;

typedef struct table {
    slot *slots;
    size_t cap, len;
} table;

static size_t hash_(const gids_node *n, size_t cap) {
    uintptr_t h = (uintptr_t)n;
    h ^= h >> 17;
    h *= 0xed5ad4bbu;
    h ^= h >> 11;
    return (size_t)h & (cap - 1);
}

static slot *find_(table *t, const gids_node *n) {
    size_t i = hash_(n, t->cap);
    while (t->slots[i].node != NULL && t->slots[i].node != n) i = (i + 1) & (t->cap - 1);
    return &t->slots[i];
}

static gids_status grow_(table *t) {
    table bigger = {calloc(t->cap * 2, sizeof(slot)), t->cap * 2, t->len};
    if (bigger.slots == NULL) GIDS_FAIL(GIDS_ENOMEM, "backward: out of memory for the graph");
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].node != NULL) *find_(&bigger, t->slots[i].node) = t->slots[i];
    free(t->slots);
    *t = bigger;
    return GIDS_OK;
}

/* The slot of n, inserted when missing (*added tells). */
static gids_status insert_(table *t, gids_node *n, slot **out, bool *added) {
    if (2 * (t->len + 1) > t->cap) GIDS_TRY(grow_(t));
    slot *s = find_(t, n);
    *added = s->node == NULL;
    if (*added) {
        s->grads = calloc((size_t)(n->nout > 0 ? n->nout : 1), sizeof *s->grads);
        if (s->grads == NULL) GIDS_FAIL(GIDS_ENOMEM, "backward: out of memory for the graph");
        s->node = n;
        t->len++;
    }
    *out = s;
    return GIDS_OK;
}

static void table_free_(table *t) {
    for (size_t i = 0; i < t->cap; i++) {
        slot *s = &t->slots[i];
        if (s->node == NULL) continue;
        for (int k = 0; k < s->node->nout; k++) gids_tensor_release(s->grads[k]);
        free(s->grads);
    }
    free(t->slots);
}

/* Counts dependencies over everything reachable from the roots (iterative DFS). */
static gids_status collect_(table *t, int nroots, gids_node *const *roots) {
    size_t cap = 64, len = 0;
    gids_node **stack = malloc(cap * sizeof *stack);
    if (stack == NULL) GIDS_FAIL(GIDS_ENOMEM, "backward: out of memory for the graph");
    gids_status st = GIDS_OK;
    for (int r = 0; r < nroots && st == GIDS_OK; r++) {
        slot *s;
        bool added;
        st = insert_(t, roots[r], &s, &added);
        if (st == GIDS_OK && added) stack[len++] = roots[r];
        while (st == GIDS_OK && len > 0) {
            gids_node *n = stack[--len];
            for (int j = 0; j < n->nin && st == GIDS_OK; j++) {
                gids_node *m = n->next[j].node;
                if (m == NULL) continue;
                st = insert_(t, m, &s, &added);
                if (st != GIDS_OK) break;
                s->deps++;
                if (!added) continue;
                if (len == cap) {
                    gids_node **grown = realloc(stack, 2 * cap * sizeof *stack);
                    if (grown == NULL) {
                        st = gids_error_set(GIDS_ENOMEM, __FILE__, __LINE__,
                                            "backward: out of memory for the graph");
                        break;
                    }
                    stack = grown, cap *= 2;
                }
                stack[len++] = m;
            }
        }
    }
    free(stack);
    return st;
}

/* ---------------------------------------------------------------- ready queue */
/* A binary max-heap on the node's sequence number. */
typedef struct heap {
    gids_node **v;
    size_t len, cap;
} heap;

static gids_status push_(heap *h, gids_node *n) {
    if (h->len == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        gids_node **v = realloc(h->v, cap * sizeof *v);
        if (v == NULL) GIDS_FAIL(GIDS_ENOMEM, "backward: out of memory for the queue");
        h->v = v, h->cap = cap;
    }
    size_t i = h->len++;
    while (i > 0 && h->v[(i - 1) / 2]->seq < n->seq) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = n;
    return GIDS_OK;
}

static gids_node *pop_(heap *h) {
    gids_node *top = h->v[0], *last = h->v[--h->len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len) break;
        if (c + 1 < h->len && h->v[c + 1]->seq > h->v[c]->seq) c++;
        if (h->v[c]->seq <= last->seq) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->len > 0) h->v[i] = last;
    return top;
}

/* ---------------------------------------------------------------- gradients */
/* *acc += g (STEAL g).  The sum is a new tensor: an accumulated gradient may be shared. */
/* NEW *sum = a + b in a's dtype.  Half storage has no arithmetic (docs/amp.md): two half
 * gradients (a half tensor used twice) are added in f32 and rounded back once, which is what
 * torch's half add computes. */
static gids_status add_grads_(gids_tensor **sum, const gids_tensor *a, const gids_tensor *b) {
    if (!gids_dtype_is_half(a->dtype) && !gids_dtype_is_half(b->dtype))
        return gids_binary(sum, GIDS_ADD, a, b);
    gids_tensor *wa = NULL, *wb = NULL, *s = NULL;
    gids_status st = gids_to_dtype(&wa, a, GIDS_F32);
    if (st == GIDS_OK) st = gids_to_dtype(&wb, b, GIDS_F32);
    if (st == GIDS_OK) st = gids_binary(&s, GIDS_ADD, wa, wb);
    if (st == GIDS_OK) st = gids_to_dtype(sum, s, a->dtype);
    gids_tensor_release(wa);
    gids_tensor_release(wb);
    gids_tensor_release(s);
    return st;
}

static gids_status accumulate_(gids_tensor **acc, gids_tensor *g) {
    if (*acc == NULL) {
        *acc = g;
        return GIDS_OK;
    }
    gids_tensor *sum = NULL;
    gids_status st = add_grads_(&sum, *acc, g);
    gids_tensor_release(g);
    if (st != GIDS_OK) return st;
    gids_tensor_release(*acc);
    *acc = sum;
    return GIDS_OK;
}

/* Adds g into the gradient m keeps (a leaf's .grad, or a non-leaf's that retains its
 * gradient), as dtype dt.  A gradient nobody else holds is kept as it is; a shared one is
 * copied first, so writing into x.grad later never changes another tensor. */
static gids_status accumulate_into_(gids_ag_meta *m, gids_dtype dt, gids_tensor *g) {
    gids_tensor *own = NULL;
    if (g->dtype != dt) {
        GIDS_TRY(gids_to_dtype(&own, g, dt));
    } else if (m->grad == NULL &&
               (g->refcount != 1 || g->storage->refcount != 1 || !gids_tensor_is_contiguous(g))) {
        /* Shared -- another handle, or a view of another tensor's memory (view formulas pass
         * the incoming gradient through): copy, so writing into .grad touches nothing else. */
        GIDS_TRY(gids_clone(&own, g));
    } else {
        gids_tensor_retain(g); /* only the engine held it: the meta takes it over */
        own = g;
    }
    if (m->grad != NULL && !gids_dtype_is_half(m->grad->dtype)) {
        /* Into the existing gradient, as torch's AccumulateGrad without create_graph: a handle
         * read from x.grad earlier (g = x.grad; g:zero_()) stays the gradient. */
        gids_status st = gids_binary_into(m->grad, GIDS_ADD, m->grad, own);
        gids_tensor_release(own);
        return st;
    }
    return accumulate_(&m->grad, own);
}

static gids_status accumulate_leaf_(gids_tensor *leaf, gids_tensor *g) {
    gids_ag_meta *m = gids_ag_meta_get(leaf);
    if (m == NULL) GIDS_FAIL(GIDS_ENOMEM, "backward: out of memory");
    /* requires_grad switched off since the graph was recorded: no gradient (torch's
     * AccumulateGrad checks it too) */
    if (!m->requires_grad) return GIDS_OK;
    return accumulate_into_(m, leaf->dtype, g);
}

/* The complete gradients of n's outputs that a non-leaf keeps (t:retain_grad()). */
static gids_status keep_retained_(const gids_node *n, gids_tensor *const *grads) {
    if (n->retained == NULL) return GIDS_OK;
    for (int k = 0; k < n->nout; k++) {
        gids_ag_meta *m = n->retained[k].meta;
        if (m != NULL && grads[k] != NULL)
            GIDS_TRY(accumulate_into_(m, n->retained[k].dtype, grads[k]));
    }
    return GIDS_OK;
}

/* A gradient a formula returned for input j: of the input's shape and on its device (a
 * gradient elsewhere would fail, or worse, land in .grad, one op later). */
static gids_status check_grad_(const gids_node *n, int j, const gids_tensor *g) {
    const gids_input_info *in = &n->inputs[j];
    char a[160], b[160];
    if (!gids_device_eq(gids_tensor_device(g), in->device))
        GIDS_FAIL(GIDS_EDEVICE, "%s: backward returned a gradient on %s for input %d on %s",
                  n->name, gids_device_str(gids_tensor_device(g), a, sizeof a), j + 1,
                  gids_device_str(in->device, b, sizeof b));
    bool same = g->ndim == in->ndim;
    for (int d = 0; same && d < in->ndim; d++) same = g->shape[d] == in->shape[d];
    if (same) return GIDS_OK;
    GIDS_FAIL(GIDS_ESHAPE, "%s: backward returned a gradient of shape %s for input %d of shape %s",
              n->name, gids_shape_str(g->ndim, g->shape, a, sizeof a), j + 1,
              gids_shape_str(in->ndim, in->shape, b, sizeof b));
}

/* Runs one node: calls its formula with the complete output gradients and passes what it
 * returns along its edges.  For gids_autograd_grad (`asked`) no gradient is kept anywhere and
 * only the nodes that lead to the asked-for gradients run. */
static gids_status run_node_(table *t, heap *ready, slot *s, bool retain_graph, bool asked) {
    gids_node *n = s->node;
    gids_status st = GIDS_OK;
    if (asked && !s->needed) return GIDS_OK;
    if (n->leaf != NULL) {
        if (s->grads[0] != NULL) st = accumulate_leaf_(n->leaf, s->grads[0]);
        return st;
    }
    if (!asked) GIDS_TRY(keep_retained_(n, s->grads));
    gids_tensor *stack_in[8] = {NULL};
    gids_tensor **grad_in = n->nin <= 8 ? stack_in : calloc((size_t)n->nin, sizeof *grad_in);
    if (grad_in == NULL) GIDS_FAIL(GIDS_ENOMEM, "backward: out of memory");
    bool any = false;
    for (int k = 0; k < n->nout; k++) any = any || s->grads[k] != NULL;
    if (any) {
        n->consuming = !retain_graph;
        st = n->fn(n, s->grads, grad_in);
        n->consuming = false;
        if (st != GIDS_OK && strncmp(gids_error_message(), n->name, strlen(n->name)) != 0)
            gids_error_prefix(st, "%s", n->name);
    }
    if (!retain_graph) {
        for (int i = 0; i < GIDS_NODE_MAX_SAVED; i++) {
            gids_tensor_release(n->saved[i].t);
            n->saved[i].t = NULL;
        }
        n->released = true;
    }
    for (int j = 0; j < n->nin; j++) {
        gids_tensor *g = grad_in[j];
        grad_in[j] = NULL;
        gids_node *m = n->next[j].node;
        if (st == GIDS_OK && g != NULL && m != NULL) st = check_grad_(n, j, g);
        if (st == GIDS_OK && g != NULL && m != NULL && gids_anomaly_enabled())
            st = gids_ag_check_nan(n->name, "the gradient of an input", g);
        if (m == NULL) {
            gids_tensor_release(g);
            continue;
        }
        slot *ms = find_(t, m);
        if (st == GIDS_OK && g != NULL)
            st = accumulate_(&ms->grads[n->next[j].input_nr], g);
        else
            gids_tensor_release(g);
        if (--ms->deps == 0 && st == GIDS_OK) st = push_(ready, m);
    }
    if (grad_in != stack_in) free(grad_in);
    return st;
}

/* fname: "backward" or "autograd.grad", for messages. */
static gids_status root_grad_(gids_tensor **out, const gids_tensor *root, const gids_tensor *g,
                              int i, const char *fname) {
    char a[160], b[160];
    if (g == NULL) {
        if (gids_tensor_numel(root) != 1)
            GIDS_FAIL(GIDS_EINVAL,
                      "%s: root %d has shape %s; a gradient can be implied only for a "
                      "one-element root, so pass one (%s)",
                      fname, i + 1, gids_shape_str(root->ndim, root->shape, a, sizeof a),
                      strcmp(fname, "backward") == 0 ? "backward(grad)"
                                                     : "grad(outputs, inputs, grads)");
        return gids_ones(out, root->dtype, gids_tensor_device(root), root->ndim, root->shape);
    }
    if (!gids_device_eq(gids_tensor_device(g), gids_tensor_device(root)))
        GIDS_FAIL(GIDS_EDEVICE, "%s: gradient on %s for root %d on %s", fname,
                  gids_device_str(gids_tensor_device(g), a, sizeof a), i + 1,
                  gids_device_str(gids_tensor_device(root), b, sizeof b));
    bool same = g->ndim == root->ndim;
    for (int d = 0; same && d < g->ndim; d++) same = g->shape[d] == root->shape[d];
    if (!same)
        GIDS_FAIL(GIDS_ESHAPE, "%s: gradient of shape %s for root %d of shape %s", fname,
                  gids_shape_str(g->ndim, g->shape, a, sizeof a), i + 1,
                  gids_shape_str(root->ndim, root->shape, b, sizeof b));
    if (g->dtype == root->dtype) {
        gids_tensor_retain((gids_tensor *)g);
        *out = (gids_tensor *)g;
        return GIDS_OK;
    }
    return gids_to_dtype(out, g, root->dtype);
}

/* ---------------------------------------------------------------- asked-for gradients */
/* What gids_autograd_grad asks for: the gradient of input i is the complete gradient of output
 * in[i].nr of in[i].node (its grad_fn, or the AccumulateGrad of a leaf), taken when that node
 * is ready; out[i] holds it (NEW), NULL while none. */
typedef struct asked_input {
    gids_node *node; /* a reference of gids_autograd_grad's */
    int32_t nr;
    gids_dtype dtype; /* the input's (a hook may free a non-leaf input during the walk) */
} asked_input;

typedef struct asked {
    int n;
    const asked_input *in;
    gids_tensor **out;
} asked;

/* Marks the asked-for nodes, then (post-order walk from the roots) every node with an input
 * that leads to one: only those run. */
static gids_status mark_needed_(table *t, const asked *q, int nroots, gids_node *const *roots) {
    for (int i = 0; i < q->n; i++) {
        slot *s = find_(t, q->in[i].node);
        if (s->node != NULL) s->target = true; /* (else the roots do not depend on it) */
    }
    size_t cap = 64, len = 0;
    gids_node **stack = malloc(cap * sizeof *stack);
    if (stack == NULL) GIDS_FAIL(GIDS_ENOMEM, "autograd.grad: out of memory for the graph");
    for (int r = 0; r < nroots; r++) {
        slot *rs = find_(t, roots[r]);
        if (rs->state != 0) continue;
        rs->state = 1;
        stack[len++] = roots[r];
        while (len > 0) {
            gids_node *n = stack[len - 1];
            slot *s = find_(t, n);
            if (s->cursor < n->nin) {
                gids_node *m = n->next[s->cursor++].node;
                if (m == NULL) continue;
                slot *ms = find_(t, m);
                if (ms->target || ms->needed) s->needed = true;
                if (ms->state != 0) continue; /* done (a DAG: never on the stack) */
                if (len == cap) {
                    gids_node **grown = realloc(stack, 2 * cap * sizeof *stack);
                    if (grown == NULL) {
                        free(stack);
                        GIDS_FAIL(GIDS_ENOMEM, "autograd.grad: out of memory for the graph");
                    }
                    stack = grown, cap *= 2;
                }
                ms->state = 1;
                stack[len++] = m;
                continue;
            }
            /* every input walked: the ones pushed after their check are done now */
            for (int j = 0; j < n->nin && !s->needed; j++) {
                gids_node *m = n->next[j].node;
                if (m == NULL) continue;
                const slot *ms = find_(t, m);
                s->needed = ms->target || ms->needed;
            }
            s->state = 2;
            len--;
        }
    }
    free(stack);
    return GIDS_OK;
}

/* Runs the gradient hooks on s's complete output gradients: a leaf's (on its meta) or the
 * node's own, per output. */
static gids_status apply_hooks_(slot *s) {
    const gids_node *n = s->node;
    if (n->leaf != NULL) {
        const gids_ag_meta *m = n->leaf->autograd;
        if (m == NULL || !m->requires_grad) return GIDS_OK;
        return gids_ag_apply_hooks(m->hooks, 0, &s->grads[0], "AccumulateGrad");
    }
    for (int k = 0; k < n->nout && n->hooks != NULL; k++)
        GIDS_TRY(gids_ag_apply_hooks(n->hooks, k, &s->grads[k], n->name));
    return GIDS_OK;
}

/* Takes the asked-for gradients of s's node, now complete. */
static void take_asked_(const asked *q, const slot *s) {
    for (int i = 0; i < q->n; i++) {
        gids_tensor *g = q->in[i].node == s->node ? s->grads[q->in[i].nr] : NULL;
        if (g == NULL || q->out[i] != NULL) continue;
        gids_tensor_retain(g);
        q->out[i] = g;
    }
}

/* ---------------------------------------------------------------- entry points */
static gids_status run_graph_(int n, gids_tensor *const *roots, const gids_tensor *const *grads,
                              bool retain_graph, const asked *q) {
    const char *fname = q != NULL ? "autograd.grad" : "backward";
    if (n < 1 || n > 64) GIDS_FAIL(GIDS_EINVAL, "%s: %d roots (1..64 supported)", fname, n);
    GIDS_CHECK(roots != NULL, GIDS_EINVAL, "%s: roots is NULL", fname);
    for (int i = 0; i < n; i++)
        GIDS_CHECK(roots[i] != NULL, GIDS_EINVAL, "%s: root %d is NULL", fname, i + 1);
    gids_node *nodes[64];
    for (int i = 0; i < n; i++)
        if (!gids_requires_grad(roots[i]))
            GIDS_FAIL(GIDS_ESTATE,
                      "%s: root %d does not require grad (no input of it has "
                      "requires_grad=true, or it was computed under no_grad)",
                      fname, i + 1);
    gids_status st = GIDS_OK;
    int held = 0; /* nodes[0..held) are references of ours */
    for (; held < n && st == GIDS_OK; held++) {
        gids_ag_meta *m = roots[held]->autograd;
        if (m->grad_fn == NULL) {
            st = gids_node_grad_accumulator(&nodes[held], roots[held]);
            if (st != GIDS_OK) break;
        } else {
            gids_node_retain(m->grad_fn);
            nodes[held] = m->grad_fn;
        }
    }
    table t = {calloc(64, sizeof(slot)), 64, 0};
    heap ready = {NULL, 0, 0};
    if (st == GIDS_OK && t.slots == NULL)
        st = gids_error_set(GIDS_ENOMEM, __FILE__, __LINE__,
                            "backward: out of memory for the graph");
    if (st == GIDS_OK) st = collect_(&t, n, nodes);
    if (st == GIDS_OK && q != NULL) st = mark_needed_(&t, q, n, nodes);
    for (int i = 0; i < n && st == GIDS_OK; i++) {
        gids_tensor *g = NULL;
        st = root_grad_(&g, roots[i], grads ? grads[i] : NULL, i, fname);
        int nr = roots[i]->autograd ? ((gids_ag_meta *)roots[i]->autograd)->output_nr : 0;
        if (nodes[i]->leaf != NULL) nr = 0;
        if (st == GIDS_OK) st = accumulate_(&find_(&t, nodes[i])->grads[nr], g);
    }
    for (size_t i = 0; i < t.cap && st == GIDS_OK; i++)
        if (t.slots[i].node != NULL && t.slots[i].deps == 0) st = push_(&ready, t.slots[i].node);
    while (st == GIDS_OK && ready.len > 0) {
        slot *s = find_(&t, pop_(&ready));
        if (q == NULL || s->target || s->needed) st = apply_hooks_(s);
        if (st == GIDS_OK && q != NULL && s->target) take_asked_(q, s);
        if (st == GIDS_OK) st = run_node_(&t, &ready, s, retain_graph, q != NULL);
        for (int k = 0; k < s->node->nout; k++) {
            gids_tensor_release(s->grads[k]);
            s->grads[k] = NULL;
        }
    }
    free(ready.v);
    if (t.slots != NULL) table_free_(&t);
    for (int i = 0; i < held; i++) gids_node_release(nodes[i]);
    return st;
}

gids_status gids_backward_multi(int n, gids_tensor *const *roots, const gids_tensor *const *grads,
                                bool retain_graph) {
    return run_graph_(n, roots, grads, retain_graph, NULL);
}

gids_status gids_backward(gids_tensor *root, const gids_tensor *grad, bool retain_graph) {
    const gids_tensor *grads[1] = {grad};
    return gids_backward_multi(1, &root, grads, retain_graph);
}

/* out[i] (NEW) made the caller's own: of its input's dtype, and a copy when anything else holds
 * it (a root's gradient passed in, the same input asked for twice). */
static gids_status own_asked_(gids_tensor **out, gids_dtype dtype) {
    gids_tensor *g = *out, *own = NULL;
    if (g->dtype != dtype) {
        GIDS_TRY(gids_to_dtype(&own, g, dtype));
    } else if (g->refcount != 1 || g->storage->refcount != 1 || !gids_tensor_is_contiguous(g)) {
        GIDS_TRY(gids_clone(&own, g));
    } else {
        return GIDS_OK;
    }
    gids_tensor_release(g);
    *out = own;
    return GIDS_OK;
}

gids_status gids_autograd_grad(int n, gids_tensor *const *roots, const gids_tensor *const *grads,
                               int ninputs, gids_tensor *const *inputs, gids_tensor **out,
                               bool retain_graph, bool allow_unused) {
    GIDS_CHECK(ninputs >= 1 && inputs != NULL && out != NULL, GIDS_EINVAL,
               "autograd.grad: %d inputs (at least 1, with an array for the results)", ninputs);
    for (int i = 0; i < ninputs; i++) out[i] = NULL;
    asked_input in_stack[16], *in = in_stack;
    if (ninputs > 16) in = malloc((size_t)ninputs * sizeof *in);
    gids_status st = GIDS_OK;
    int held = 0; /* in[0..held).node are references of ours */
    if (in == NULL)
        st = gids_error_set(GIDS_ENOMEM, __FILE__, __LINE__, "autograd.grad: out of memory");
    for (int i = 0; i < ninputs && st == GIDS_OK; i++) {
        const gids_tensor *x = inputs[i];
        if (x == NULL) {
            st = gids_error_set(GIDS_EINVAL, __FILE__, __LINE__, "autograd.grad: input %d is NULL",
                                i + 1);
        } else if (!gids_requires_grad(x)) {
            st = gids_error_set(GIDS_ESTATE, __FILE__, __LINE__,
                                "autograd.grad: input %d does not require grad, so no gradient "
                                "flows to it",
                                i + 1);
        } else {
            const gids_ag_meta *m = x->autograd;
            in[i].nr = m->grad_fn != NULL ? m->output_nr : 0;
            in[i].dtype = x->dtype;
            if (m->grad_fn != NULL) {
                gids_node_retain(m->grad_fn);
                in[i].node = m->grad_fn;
            } else { /* the leaf's AccumulateGrad, which the graph uses when the leaf is in it */
                st = gids_node_grad_accumulator(&in[i].node, inputs[i]);
            }
            if (st == GIDS_OK) held++;
        }
    }
    asked q = {ninputs, in, out};
    if (st == GIDS_OK) st = run_graph_(n, roots, grads, retain_graph, &q);
    for (int i = 0; i < ninputs && st == GIDS_OK; i++) {
        if (out[i] != NULL)
            st = own_asked_(&out[i], in[i].dtype);
        else if (!allow_unused)
            st = gids_error_set(GIDS_ESTATE, __FILE__, __LINE__,
                                "autograd.grad: input %d is not used in the graph of the "
                                "outputs (pass allow_unused=true to get nil for it)",
                                i + 1);
    }
    if (st != GIDS_OK)
        for (int i = 0; i < ninputs; i++) {
            gids_tensor_release(out[i]);
            out[i] = NULL;
        }
    for (int i = 0; i < held; i++) gids_node_release(in[i].node);
    if (in != in_stack) free(in);
    return st;
}

/* ---------------------------------------------------------------- sum_to */
gids_status gids_ag_input_grad(gids_tensor **out, const gids_node *n, int j, const gids_tensor *g) {
    const gids_input_info *in = &n->inputs[j];
    gids_tensor *s = NULL;
    GIDS_TRY(gids_sum_to(&s, g, in->ndim, in->shape));
    if (s->dtype == in->dtype) {
        *out = s;
        return GIDS_OK;
    }
    gids_status st = gids_to_dtype(out, s, in->dtype);
    gids_tensor_release(s);
    return st;
}

gids_status gids_sum_to(gids_tensor **out, const gids_tensor *g, int ndim, const int64_t *shape) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "sum_to: out is NULL");
    GIDS_CHECK(g != NULL, GIDS_EINVAL, "sum_to: gradient is NULL");
    GIDS_CHECK(ndim >= 0 && ndim <= GIDS_MAX_DIMS, GIDS_EINVAL,
               "sum_to: target has %d dims, expected 0..%d", ndim, GIDS_MAX_DIMS);
    GIDS_CHECK(ndim == 0 || shape != NULL, GIDS_EINVAL, "sum_to: shape is NULL with %d dims", ndim);
    int lead = g->ndim - ndim, dims[GIDS_MAX_DIMS], nd = 0;
    char a[160], b[160];
    if (lead < 0)
        GIDS_FAIL(GIDS_ESHAPE, "sum_to: gradient %s has fewer dims than the target %s",
                  gids_shape_str(g->ndim, g->shape, a, sizeof a),
                  gids_shape_str(ndim, shape, b, sizeof b));
    /* Only broadcasting is undone: each target size equals the gradient's or is 1 (a mismatch
     * means the gradient belongs to another tensor, and the view below would only catch it when
     * the element counts differ). */
    for (int d = lead; d < g->ndim; d++)
        if (shape[d - lead] != g->shape[d] && shape[d - lead] != 1)
            GIDS_FAIL(GIDS_ESHAPE,
                      "sum_to: gradient %s does not reduce to the target %s (gradient size %lld "
                      "meets target size %lld; each target size must be equal or 1)",
                      gids_shape_str(g->ndim, g->shape, a, sizeof a),
                      gids_shape_str(ndim, shape, b, sizeof b), (long long)g->shape[d],
                      (long long)shape[d - lead]);
    for (int d = 0; d < g->ndim; d++)
        if (d < lead || (shape[d - lead] == 1 && g->shape[d] != 1)) dims[nd++] = d;
    if (nd == 0 && lead == 0) {
        gids_tensor_retain((gids_tensor *)g);
        *out = (gids_tensor *)g;
        return GIDS_OK;
    }
    gids_tensor *s = NULL;
    GIDS_TRY(gids_reduce(&s, GIDS_SUM, g, nd, dims, true));
    gids_status st = gids_view(out, s, ndim, shape);
    gids_tensor_release(s);
    return st;
}
