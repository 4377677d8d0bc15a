/* entries_dense.c -- the loopback backend's data, elementwise, reduction, BLAS, activation,
 * random, sort and scan entries: each runs the public CPU op on aliases of its device tensors
 * (alias.c). */
#include "gids/rng.h"
#include "loopback_impl.h"

gids_status lb_copy(gids_tensor *dst, const gids_tensor *src) {
    GIDS_TRY(gids_check_given("copy_", dst != NULL, "dst"));
    GIDS_TRY(gids_check_given("copy_", src != NULL, "src"));
    bool to_host = src->storage->device.type == GIDS_CUDA && dst->storage->device.type == GIDS_CPU;
    bool from_host =
        src->storage->device.type == GIDS_CPU && dst->storage->device.type == GIDS_CUDA;
    /* as the CUDA plugin (copy.cu): a download waits for the device, an upload only past the
     * page-locked staging's limit or off the default stream (pinned.cu) */
    size_t up = from_host ? (size_t)gids_tensor_numel(src) * gids_dtype_size(src->dtype) : 0;
    if (to_host || (from_host && (up > GIDS_PINNED_MAX_COPY || !lb_queued_is_seen_everywhere())))
        lb_waited();
    if (gids_dtype_is_half(dst->dtype) || gids_dtype_is_half(src->dtype))
        return lb_copy_half(dst, src);
    GIDS_TRY(lb_copy_host(dst, src));
    /* as the CUDA plugin: a whole i64 tensor moved to the device brings its range along */
    if (from_host && src->dtype == dst->dtype && gids_tensor_numel(src) == gids_tensor_numel(dst) &&
        src->ndim == dst->ndim)
        lb_range_uploaded(dst);
    return GIDS_OK;
}

/* As the CUDA plugin's fill (copy.cu), this leaves the storage version to the core, which bumps
 * it (core/copy.c): the CPU fill_ on the alias bumps it here, which is undone, so that a core
 * that forgot to would show on the loopback too (a kept range would outlive the values). */
gids_status lb_fill(gids_tensor *t, gids_scalar value) {
    if (gids_dtype_is_half(t->dtype)) return lb_fill_half(t, value);
    uint64_t version = __atomic_load_n(&t->storage->version, __ATOMIC_RELAXED);
    lb_args x;
    LB_IN(x, "fill_", t);
    gids_status st = LB_DONE_INPLACE(x, gids_fill_(x.cpu[0], value));
    __atomic_store_n(&t->storage->version, version, __ATOMIC_RELAXED);
    return st;
}

gids_status lb_binary(gids_tensor **out, gids_binop op, const gids_tensor *a,
                      const gids_tensor *b) {
    GIDS_TRY(lb_refuse_binary(op, a, b));
    lb_args x;
    LB_IN(x, gids_binop_name(op), a, b);
    GIDS_TRY(LB_DONE(x, gids_binary(out, op, x.cpu[0], x.cpu[1]), out));
    lb_division_seen(op, *out, false);
    return GIDS_OK;
}

gids_status lb_binary_scalar(gids_tensor **out, gids_binop op, const gids_tensor *a, gids_scalar s,
                             bool reversed) {
    GIDS_TRY(lb_refuse_binary_scalar(op, a, s));
    lb_args x;
    LB_IN(x, gids_binop_name(op), a);
    GIDS_TRY(LB_DONE(x, gids_binary_scalar(out, op, x.cpu[0], s, reversed), out));
    /* the number wrapped into the result's integer dtype, as the CUDA plugin judges it */
    int64_t w = s.i;
    if ((*out)->dtype == GIDS_I32) w = (int32_t)(uint32_t)(uint64_t)s.i;
    if ((*out)->dtype == GIDS_U8) w = (uint8_t)(uint64_t)s.i;
    lb_division_seen(op, *out, !reversed && s.is_int && w != 0);
    return GIDS_OK;
}

gids_status lb_unary(gids_tensor **out, gids_unop op, const gids_tensor *a) {
    GIDS_TRY(lb_refuse_unary(op, a));
    lb_args x;
    LB_IN(x, gids_unop_name(op), a);
    return LB_DONE(x, gids_unary(out, op, x.cpu[0]), out);
}

gids_status lb_reduce(gids_tensor **out, gids_redop op, const gids_tensor *a, int ndims,
                      const int *dims, bool keepdim) {
    GIDS_TRY(lb_refuse_reduce(op, a));
    lb_args x;
    LB_IN(x, gids_redop_name(op), a);
    return LB_DONE(x, gids_reduce(out, op, x.cpu[0], ndims, dims, keepdim), out);
}

gids_status lb_softmax(gids_tensor **out, const gids_tensor *a, int dim, bool log) {
    GIDS_TRY(lb_refuse_softmax(log ? "log_softmax" : "softmax", a));
    lb_args x;
    LB_IN(x, log ? "log_softmax" : "softmax", a);
    gids_status st = log ? gids_log_softmax(out, x.cpu[0], dim) : gids_softmax(out, x.cpu[0], dim);
    return LB_DONE(x, st, out);
}

gids_status lb_softmax_backward(gids_tensor **out, const gids_tensor *g, const gids_tensor *y,
                                int dim, bool log) {
    GIDS_TRY(lb_refuse_softmax(log ? "log_softmax_backward" : "softmax_backward", y));
    lb_args x;
    LB_IN(x, log ? "log_softmax_backward" : "softmax_backward", g, y);
    return LB_DONE(x, gids_softmax_backward(out, x.cpu[0], x.cpu[1], dim, log), out);
}

gids_status lb_mm(gids_tensor **out, const gids_tensor *a, const gids_tensor *b) {
    GIDS_TRY(lb_refuse_mm("mm", a, b));
    if (gids_dtype_is_half(a->dtype) || gids_dtype_is_half(b->dtype))
        return lb_product_half("mm", out, NULL, a, b, 0.0, 1.0);
    lb_args x;
    LB_IN(x, "mm", a, b);
    return LB_DONE(x, gids_mm(out, x.cpu[0], x.cpu[1]), out);
}

gids_status lb_addmm(gids_tensor **out, const gids_tensor *bias, const gids_tensor *a,
                     const gids_tensor *b, double beta, double alpha) {
    GIDS_TRY(lb_refuse_mm("addmm", a, b));
    if (gids_dtype_is_half(a->dtype) || gids_dtype_is_half(b->dtype) ||
        gids_dtype_is_half(bias->dtype))
        return lb_product_half("addmm", out, bias, a, b, beta, alpha);
    lb_args x;
    LB_IN(x, "addmm", bias, a, b);
    return LB_DONE(x, gids_addmm(out, x.cpu[0], x.cpu[1], x.cpu[2], beta, alpha), out);
}

gids_status lb_matmul(gids_tensor **out, const gids_tensor *a, const gids_tensor *b) {
    GIDS_TRY(lb_refuse_matmul(a, b));
    if (gids_dtype_is_half(a->dtype) || gids_dtype_is_half(b->dtype))
        return lb_product_half("matmul", out, NULL, a, b, 0.0, 1.0);
    lb_args x;
    LB_IN(x, "matmul", a, b);
    return LB_DONE(x, gids_matmul(out, x.cpu[0], x.cpu[1]), out);
}

gids_status lb_leaky_relu(gids_tensor **out, const gids_tensor *a, double negative_slope) {
    GIDS_TRY(lb_refuse_activation("leaky_relu", a));
    lb_args x;
    LB_IN(x, "leaky_relu", a);
    return LB_DONE(x, gids_leaky_relu(out, x.cpu[0], negative_slope), out);
}

gids_status lb_elu(gids_tensor **out, const gids_tensor *a, double alpha) {
    GIDS_TRY(lb_refuse_activation("elu", a));
    lb_args x;
    LB_IN(x, "elu", a);
    return LB_DONE(x, gids_elu(out, x.cpu[0], alpha), out);
}

gids_status lb_softplus(gids_tensor **out, const gids_tensor *a, double beta, double threshold) {
    /* the CUDA plugin checks beta first (the CPU's EINVAL) */
    if (beta != 0 && beta == beta) GIDS_TRY(lb_refuse_activation("softplus", a));
    lb_args x;
    LB_IN(x, "softplus", a);
    return LB_DONE(x, gids_softplus(out, x.cpu[0], beta, threshold), out);
}

gids_status lb_clamp(gids_tensor **out, const gids_tensor *a, const gids_scalar *min,
                     const gids_scalar *max) {
    GIDS_TRY(lb_refuse_clamp(a, min, max));
    lb_args x;
    LB_IN(x, "clamp", a);
    return LB_DONE(x, gids_clamp(out, x.cpu[0], min, max), out);
}

gids_status lb_where(gids_tensor **out, const gids_tensor *cond, const gids_tensor *a,
                     const gids_tensor *b) {
    if (a != NULL && b != NULL && gids_dtype_is_half(gids_promote(a->dtype, b->dtype)))
        return lb_half_move(LB_MOVE_WHERE, out, a, b, cond, 0);
    lb_args x;
    LB_IN(x, "where", cond, a, b);
    return LB_DONE(x, gids_where(out, x.cpu[0], x.cpu[1], x.cpu[2]), out);
}

gids_status lb_extreme_dim(gids_tensor **values, gids_tensor **indices, const gids_tensor *a,
                           int dim, bool keepdim, bool is_max) {
    GIDS_TRY(lb_refuse_extreme_dim(is_max, a));
    lb_args x;
    LB_IN(x, is_max ? "max" : "min", a);
    gids_status st = is_max ? gids_max_dim(values, indices, x.cpu[0], dim, keepdim)
                            : gids_min_dim(values, indices, x.cpu[0], dim, keepdim);
    return LB_DONE(x, st, values, indices);
}

/* The CPU's draw from a generator at (seed, offset); the runtime advances its own generator. */
gids_status lb_bernoulli_(gids_tensor *t, uint64_t seed, uint64_t offset, double p) {
    GIDS_TRY(lb_refuse_bernoulli(t, p));
    gids_generator g = {seed, offset};
    lb_args x;
    LB_IN(x, "bernoulli_", t);
    return LB_DONE_INPLACE(x, gids_bernoulli_(x.cpu[0], &g, p));
}

/* sort and argsort (values NULL); the CPU's sort is always stable, as the backend's contract. */
gids_status lb_sort(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int dim,
                    bool descending) {
    GIDS_TRY(lb_refuse_one(GIDS_DR_SIX, values ? "sort" : "argsort", a));
    lb_args x;
    LB_IN(x, values ? "sort" : "argsort", a);
    gids_status st = values ? gids_sort(values, indices, x.cpu[0], dim, descending, true)
                            : gids_argsort(indices, x.cpu[0], dim, descending, true);
    return LB_DONE(x, st, values, indices);
}

gids_status lb_topk(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int64_t k,
                    int dim, bool largest) {
    GIDS_TRY(lb_refuse_one(GIDS_DR_SIX, "topk", a));
    lb_args x;
    LB_IN(x, "topk", a);
    return LB_DONE(x, gids_topk(values, indices, x.cpu[0], k, dim, largest, true), values, indices);
}

gids_status lb_scan(gids_tensor **out, const gids_tensor *a, int dim, bool prod) {
    GIDS_TRY(lb_refuse_one(GIDS_DR_SIX, prod ? "cumprod" : "cumsum", a));
    lb_args x;
    LB_IN(x, prod ? "cumprod" : "cumsum", a);
    gids_status st = prod ? gids_cumprod(out, x.cpu[0], dim) : gids_cumsum(out, x.cpu[0], dim);
    return LB_DONE(x, st, out);
}
