/* ag_linalg.c -- differentiable matmul, mm, bmm and addmm, and their autocast forms.
 *
 * For c = a @ b the gradients are g @ b^T and a^T @ g.  matmul's special cases are reduced to
 * the batched one: a 1-D left operand is a row [1,k], a 1-D right operand a column [k,1], and
 * the gradient gets the unit dims its result dropped; the gradients are then summed over the
 * batch dims that broadcasting added or expanded (gids_ag_input_grad) and the unit dims dropped
 * again.  Each operand is saved only when the other one needs a gradient.
 *
 * Autocast (gids/amp.h): when it is on and every operand is an f32 CUDA tensor, the forward
 * multiplies the operands cast to the autocast dtype and casts the product back to f32 (addmm
 * adds its bias in f32 after that); the node saves the half operands, and its backward casts
 * the incoming f32 gradient to half, forms both products in half and casts them back to f32
 * before anything sums them.  The casts live inside the one node rather than as ToCopy nodes
 * around a half product because the CUDA backend has no f16/bf16 reduction or elementwise
 * kernels: a batch-broadcast gradient summed in half, or addmm's alpha applied in half, would
 * fail; this way every step but the two products runs in f32.  A parameter operand is cast
 * through the autocast cache (gids/amp.h), so a weight used by several products of a region is
 * cast once; the backward reads the saved casts and casts no operand again.
 */
#include "formula_impl.h"
#include "gids/amp.h"

typedef struct {
    int first;          /* input number of a (1 for addmm, whose input 0 is the bias) */
    double alpha, beta; /* addmm's scales; alpha 1 for the others */
    gids_dtype half;    /* autocast: the dtype the products run in; GIDS_F32 when not cast */
} mm_ctx;

typedef gids_status (*product_fn)(gids_tensor **out, const gids_tensor *a, const gids_tensor *b);

/* g @ b^T and a^T @ g for c = a @ b with matmul's rules (a or b NULL: that product is not
 * wanted).  ar/br are the operands' ranks; the results carry batch dims still to be summed. */
static void products_(ag_scope *s, const gids_tensor *g, const gids_tensor *a, const gids_tensor *b,
                      int ar, int br, gids_tensor **ga, gids_tensor **gb) {
    gids_tensor *g1 = (gids_tensor *)g, *t = NULL;
    if (br == 1) AG_RUN(s, g1, gids_unsqueeze(&g1, g, g->ndim));
    if (ar == 1) {
        gids_tensor *h = g1;
        AG_RUN(s, g1, gids_unsqueeze(&g1, h, h != NULL ? h->ndim - 1 : 0));
    }
    if (b != NULL) { /* ga = g1 @ b1^T, with b1 = b as a column when 1-D */
        gids_tensor *b1 = (gids_tensor *)b, *bt = NULL, *p = NULL;
        if (br == 1) AG_RUN(s, b1, gids_unsqueeze(&b1, b, 1));
        AG_RUN(s, bt, gids_transpose(&bt, b1, -1, -2));
        AG_RUN(s, p, gids_matmul(&p, g1, bt));
        if (ar == 1) AG_RUN(s, t, gids_squeeze(&t, p, -2)); /* the row dim it was given */
        *ga = ar == 1 ? t : p;
    }
    if (a != NULL) { /* gb = a1^T @ g1, with a1 = a as a row when 1-D */
        gids_tensor *a1 = (gids_tensor *)a, *at = NULL, *p = NULL;
        if (ar == 1) AG_RUN(s, a1, gids_unsqueeze(&a1, a, 0));
        AG_RUN(s, at, gids_transpose(&at, a1, -1, -2));
        AG_RUN(s, p, gids_matmul(&p, at, g1));
        if (br == 1) AG_RUN(s, t, gids_squeeze(&t, p, -1)); /* the column dim it was given */
        *gb = br == 1 ? t : p;
    }
}

/* Saved: 0 = a (when b needs a gradient), 1 = b (when a does). */
static gids_status mm_backward_(gids_node *n, gids_tensor *const *grad_out, gids_tensor **grad_in) {
    const mm_ctx *c = gids_node_ctx(n);
    const gids_tensor *g = grad_out[0];
    int ia = c->first, ib = c->first + 1, ar = 0, br = 0;
    const int64_t *shape = NULL;
    gids_node_input_shape(n, ia, &ar, &shape);
    gids_node_input_shape(n, ib, &br, &shape);
    bool need_a = gids_node_needs_grad(n, ia), need_b = gids_node_needs_grad(n, ib);
    ag_scope s = AG_SCOPE;
    const gids_tensor *a = need_b ? ag_saved(&s, n, 0) : NULL;
    const gids_tensor *b = need_a ? ag_saved(&s, n, 1) : NULL;
    gids_tensor *ga = NULL, *gb = NULL;
    bool cast = c->half != GIDS_F32; /* a and b were saved in half */
    products_(&s, cast ? ag_cast(&s, g, c->half) : g, a, b, ar, br, &ga, &gb);
    if (cast) { /* back to f32 before ag_give sums over batch dims or the alpha scale */
        if (ga != NULL) ga = ag_cast(&s, ga, GIDS_F32);
        if (gb != NULL) gb = ag_cast(&s, gb, GIDS_F32);
    }
    if (c->alpha != 1.0) {
        if (ga != NULL) ga = ag_bins(&s, GIDS_MUL, ga, c->alpha);
        if (gb != NULL) gb = ag_bins(&s, GIDS_MUL, gb, c->alpha);
    }
    ag_give(&s, n, ia, ga, grad_in);
    ag_give(&s, n, ib, gb, grad_in);
    if (c->first == 1 && gids_node_needs_grad(n, 0)) /* addmm's bias: beta * g, summed down */
        ag_give(&s, n, 0, c->beta == 1.0 ? g : ag_bins(&s, GIDS_MUL, g, c->beta), grad_in);
    return ag_finish(&s, NULL, NULL);
}

/* ins = {a, b} or {bias, a, b} (addmm); out is the forward's result; sa and sb are what the
 * formula reads back for a and b (the operands themselves, or their half casts). */
static gids_status record_(gids_tensor **out, const char *op, const char *name, int nin,
                           const gids_tensor *const *ins, const mm_ctx *c, const gids_tensor *sa,
                           const gids_tensor *sb) {
    if (!gids_ag_should_record(nin, ins)) return GIDS_OK;
    const gids_tensor *a = ins[nin - 2], *b = ins[nin - 1];
    ag_node_spec r = {
        .name = name,
        .op = op,
        .fn = mm_backward_,
        .ctx = c,
        .ctx_size = sizeof *c,
        .save = {gids_requires_grad(b) ? sa : NULL, gids_requires_grad(a) ? sb : NULL}};
    return ag_record(&r, nin, ins, 1, out);
}

/* The dtype the product of the nin inputs runs in: the autocast dtype when autocast is on and
 * every input is an f32 tensor on a CUDA device, else GIDS_F32 (no cast; the CPU has no half
 * storage, and f64 or integer products are never lowered). */
static gids_dtype autocast_for_(int nin, const gids_tensor *const *ins) {
    gids_dtype dt = gids_autocast_dtype();
    for (int i = 0; i < nin && dt != GIDS_F32; i++)
        if (ins[i] == NULL || ins[i]->dtype != GIDS_F32 ||
            gids_tensor_device(ins[i]).type != GIDS_CUDA)
            dt = GIDS_F32;
    return dt;
}

/* Whether t is a view of a parameter's memory: a leaf that requires grad, or any view of one
 * (the w:t() that F.linear passes to addmm), with or without grad mode (the storage's mark,
 * gids/memory.h).  Only these go through the autocast cache (gids/amp.h): an activation is used
 * once and caching it would only hold its memory until the region ends. */
static bool is_parameter_(const gids_tensor *t) {
    return __atomic_load_n(&t->storage->grad_leaves, __ATOMIC_RELAXED) > 0;
}

/* NEW in *out: t cast to half, through the autocast cache when t is a parameter's view. */
static gids_status half_operand_(gids_tensor **out, const gids_tensor *t, gids_dtype half) {
    return is_parameter_(t) ? gids_autocast_cast(out, t, half) : gids_to_dtype(out, t, half);
}

/* *out = f32(prod(half(a), half(b))); *a16 and *b16 (NEW, NULL on entry) get the half operands
 * for the node to save; the caller releases them on every path. */
static gids_status half_product_(gids_tensor **out, product_fn prod, gids_dtype half,
                                 const gids_tensor *a, const gids_tensor *b, gids_tensor **a16,
                                 gids_tensor **b16) {
    gids_tensor *p = NULL;
    gids_status st = half_operand_(a16, a, half);
    if (st == GIDS_OK) st = half_operand_(b16, b, half);
    if (st == GIDS_OK) st = prod(&p, *a16, *b16);
    if (st == GIDS_OK) st = gids_to_dtype(out, p, GIDS_F32);
    gids_tensor_release(p);
    return st;
}

/* addmm under autocast: beta * bias + alpha * f32(half(a) @ half(b)), the sum in f32. */
static gids_status half_addmm_(gids_tensor **out, gids_dtype half, const gids_tensor *bias,
                               const gids_tensor *a, const gids_tensor *b, double beta,
                               double alpha, gids_tensor **a16, gids_tensor **b16) {
    gids_tensor *p = NULL, *q = NULL, *bs = NULL;
    gids_status st = half_product_(&p, gids_mm, half, a, b, a16, b16);
    if (st == GIDS_OK) { /* as the plain addmm: bias must broadcast to the product's shape */
        int nb = 0;
        int64_t bshape[GIDS_MAX_DIMS];
        char sb[128];
        st = gids_broadcast_shapes("addmm", bias->ndim, bias->shape, 2, p->shape, &nb, bshape);
        if (st != GIDS_OK || nb != 2 || bshape[0] != p->shape[0] || bshape[1] != p->shape[1]) {
            st = gids_error_set(GIDS_ESHAPE, __FILE__, __LINE__,
                                "addmm: bias has shape %s, which does not broadcast to [%lld,%lld]",
                                gids_shape_str(bias->ndim, bias->shape, sb, sizeof sb),
                                (long long)p->shape[0], (long long)p->shape[1]);
        }
    }
    if (st == GIDS_OK && alpha != 1.0)
        st = gids_binary_scalar(&q, GIDS_MUL, p, gids_scalar_f(alpha), false);
    const gids_tensor *prod = q != NULL ? q : p;
    if (st == GIDS_OK && beta == 0.0) { /* beta 0 ignores bias, NaN and all (as torch) */
        gids_tensor_retain((gids_tensor *)prod);
        *out = (gids_tensor *)prod;
    } else if (st == GIDS_OK) {
        if (beta != 1.0) st = gids_binary_scalar(&bs, GIDS_MUL, bias, gids_scalar_f(beta), false);
        if (st == GIDS_OK) st = gids_binary(out, GIDS_ADD, prod, bs != NULL ? bs : bias);
    }
    gids_tensor_release(p);
    gids_tensor_release(q);
    gids_tensor_release(bs);
    return st;
}

/* matmul, mm and bmm: the plain product, or its autocast form. */
static gids_status product_(gids_tensor **out, const char *op, const char *name, product_fn prod,
                            const gids_tensor *a, const gids_tensor *b) {
    const gids_tensor *ins[2] = {a, b};
    mm_ctx c = {0, 1.0, 0.0, autocast_for_(2, ins)};
    if (c.half == GIDS_F32) {
        GIDS_TRY(prod(out, a, b));
        return record_(out, op, name, 2, ins, &c, a, b);
    }
    gids_tensor *a16 = NULL, *b16 = NULL;
    gids_status st = half_product_(out, prod, c.half, a, b, &a16, &b16);
    if (st == GIDS_OK) st = record_(out, op, name, 2, ins, &c, a16, b16);
    gids_tensor_release(a16);
    gids_tensor_release(b16);
    return st;
}

gids_status gids_ag_matmul(gids_tensor **out, const gids_tensor *a, const gids_tensor *b) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "matmul: out is NULL");
    return product_(out, "matmul", "MatmulBackward", gids_matmul, a, b);
}

gids_status gids_ag_mm(gids_tensor **out, const gids_tensor *a, const gids_tensor *b) {
    return product_(out, "mm", "MmBackward", gids_mm, a, b);
}

gids_status gids_ag_bmm(gids_tensor **out, const gids_tensor *a, const gids_tensor *b) {
    return product_(out, "bmm", "BmmBackward", gids_bmm, a, b);
}

gids_status gids_ag_addmm(gids_tensor **out, const gids_tensor *bias, const gids_tensor *a,
                          const gids_tensor *b, double beta, double alpha) {
    const gids_tensor *ins[3] = {bias, a, b};
    mm_ctx c = {1, alpha, beta, autocast_for_(3, ins)};
    if (c.half == GIDS_F32) {
        GIDS_TRY(gids_addmm(out, bias, a, b, beta, alpha));
        return record_(out, "addmm", "AddmmBackward", 3, ins, &c, a, b);
    }
    gids_tensor *a16 = NULL, *b16 = NULL;
    gids_status st = half_addmm_(out, c.half, bias, a, b, beta, alpha, &a16, &b16);
    if (st == GIDS_OK) st = record_(out, "addmm", "AddmmBackward", 3, ins, &c, a16, b16);
    gids_tensor_release(a16);
    gids_tensor_release(b16);
    return st;
}
