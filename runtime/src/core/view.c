/* view.c -- views: new shape/strides/offset over the same storage, no data moved. */
#include <string.h>

#include "core_impl.h"
#include "gids/tensor.h"

/* A handle sharing t's storage; the caller fills in shape/stride/offset. */
static gids_status alias_(gids_tensor **out, const gids_tensor *t, int ndim, const int64_t *shape,
                          const int64_t *stride, int64_t offset) {
    GIDS_CHECK_ARG(out, "view", "out");
    return gids_tensor_from_storage(out, t->storage, t->dtype, ndim, shape, stride, offset);
}

/* Resolves a single -1 in `shape` against numel; checks the element count. */
static gids_status infer_shape_(const char *op, const gids_tensor *t, int ndim, const int64_t *in,
                                int64_t *shape) {
    GIDS_CHECK_ARG(t, op, "the tensor");
    GIDS_CHECK(ndim <= 0 || in != NULL, GIDS_EINVAL, "%s: shape is NULL with %d dims", op, ndim);
    if (ndim < 0 || ndim > GIDS_MAX_DIMS)
        GIDS_FAIL(GIDS_EINVAL, "%s: %d dims requested, at most %d supported", op, ndim,
                  GIDS_MAX_DIMS);
    int infer = -1;
    int64_t known = 1, numel = gids_tensor_numel(t);
    for (int i = 0; i < ndim; i++) {
        shape[i] = in[i];
        if (in[i] == -1) {
            if (infer >= 0) GIDS_FAIL(GIDS_EINVAL, "%s: only one dimension can be -1", op);
            infer = i;
        } else if (in[i] < 0) {
            GIDS_FAIL(GIDS_EINVAL,
                      "%s: invalid size %lld in the requested shape (sizes are >= 0, or -1 once "
                      "to be inferred)",
                      op, (long long)in[i]);
        } else if (!gids_mul_ok(known, in[i], &known)) {
            GIDS_FAIL(GIDS_EOVERFLOW, "%s: requested shape overflows int64", op);
        }
    }
    char a[160], b[160];
    if (infer >= 0) {
        if (known == 0 || numel % known != 0)
            GIDS_FAIL(GIDS_ESHAPE, "%s: shape %s is invalid for a tensor of %lld elements %s", op,
                      gids_shape_str(ndim, in, a, sizeof a), (long long)numel,
                      gids_shape_str(t->ndim, t->shape, b, sizeof b));
        shape[infer] = numel / known;
    } else if (known != numel) {
        GIDS_FAIL(GIDS_ESHAPE, "%s: shape %s is invalid for a tensor of %lld elements %s", op,
                  gids_shape_str(ndim, in, a, sizeof a), (long long)numel,
                  gids_shape_str(t->ndim, t->shape, b, sizeof b));
    }
    /* An empty tensor matches any shape with a 0, however large the other sizes: their
     * contiguous strides must still fit in int64 (view_strides_ multiplies them out). */
    return gids_shape_numel(op, ndim, shape, &known);
}

/* Strides for `shape` over t's memory, or false when t's layout cannot express it (the
 * algorithm of PyTorch's computeStride).  t's dims are cut into chunks that are contiguous
 * together -- a dim joins the chunk after it when its stride is the chunk's element count times
 * the chunk's innermost stride (size-1 dims always join: their stride says nothing) -- and the
 * view's dims must tile each chunk exactly, taking strides from the chunk's innermost one.
 * Comparing a stride with its neighbour's alone would merge [2,1,5] with strides {1,1,4}
 * across the size-1 dim and read outside the view. */
static bool view_strides_(const gids_tensor *t, int ndim, const int64_t *shape, int64_t *stride) {
    int64_t numel = gids_tensor_numel(t);
    if (numel == 0 || t->ndim == 0) {
        int64_t s = 1;
        for (int i = ndim - 1; i >= 0; i--) {
            stride[i] = s;
            s *= shape[i] > 1 ? shape[i] : 1;
        }
        return true;
    }
    int view_d = ndim - 1;
    int64_t base_stride = t->stride[t->ndim - 1], chunk_numel = 1, view_numel = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        chunk_numel *= t->shape[d];
        if (d > 0 && (t->shape[d - 1] == 1 || t->stride[d - 1] == chunk_numel * base_stride))
            continue; /* dim d - 1 continues this chunk */
        while (view_d >= 0 && (view_numel < chunk_numel || shape[view_d] == 1)) {
            stride[view_d] = view_numel * base_stride;
            view_numel *= shape[view_d];
            view_d--;
        }
        if (view_numel != chunk_numel) return false;
        if (d > 0) {
            base_stride = t->stride[d - 1];
            chunk_numel = view_numel = 1;
        }
    }
    return view_d == -1;
}

gids_status gids_view(gids_tensor **out, const gids_tensor *t, int ndim, const int64_t *in) {
    int64_t shape[GIDS_MAX_DIMS], stride[GIDS_MAX_DIMS];
    GIDS_TRY(infer_shape_("view", t, ndim, in, shape));
    if (!view_strides_(t, ndim, shape, stride)) {
        char a[160], b[160];
        GIDS_FAIL(GIDS_ESHAPE,
                  "view: shape %s is not compatible with the strides of a %s tensor; use reshape "
                  "(copies) or contiguous() first",
                  gids_shape_str(ndim, shape, a, sizeof a),
                  gids_shape_str(t->ndim, t->shape, b, sizeof b));
    }
    return alias_(out, t, ndim, shape, stride, t->offset);
}

gids_status gids_reshape(gids_tensor **out, const gids_tensor *t, int ndim, const int64_t *in) {
    int64_t shape[GIDS_MAX_DIMS], stride[GIDS_MAX_DIMS];
    GIDS_TRY(infer_shape_("reshape", t, ndim, in, shape));
    if (view_strides_(t, ndim, shape, stride))
        return alias_(out, t, ndim, shape, stride, t->offset);
    gids_tensor *c = NULL;
    GIDS_TRY(gids_clone(&c, t));
    gids_status s = gids_view(out, c, ndim, shape);
    gids_tensor_release(c);
    return s;
}

gids_status gids_permute(gids_tensor **out, const gids_tensor *t, const int *perm) {
    GIDS_CHECK_ARG(t, "permute", "the tensor");
    GIDS_CHECK(t->ndim == 0 || perm != NULL, GIDS_EINVAL, "permute: perm is NULL");
    int64_t shape[GIDS_MAX_DIMS], stride[GIDS_MAX_DIMS];
    bool seen[GIDS_MAX_DIMS] = {false};
    for (int i = 0; i < t->ndim; i++) {
        int d;
        GIDS_TRY(gids_normalize_dim("permute", perm[i], t->ndim, &d));
        if (seen[d])
            GIDS_FAIL(GIDS_EINVAL, "permute: dim %d appears twice in the permutation", perm[i]);
        seen[d] = true;
        shape[i] = t->shape[d];
        stride[i] = t->stride[d];
    }
    return alias_(out, t, t->ndim, shape, stride, t->offset);
}

gids_status gids_transpose(gids_tensor **out, const gids_tensor *t, int d0, int d1) {
    GIDS_CHECK_ARG(t, "transpose", "the tensor");
    int a, b;
    /* checked before the 0-d shortcut: a 0-d tensor takes dims -1..0 only, as the other ops */
    GIDS_TRY(gids_normalize_dim("transpose", d0, t->ndim, &a));
    GIDS_TRY(gids_normalize_dim("transpose", d1, t->ndim, &b));
    if (t->ndim == 0) return alias_(out, t, 0, t->shape, t->stride, t->offset);
    int64_t shape[GIDS_MAX_DIMS], stride[GIDS_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    memcpy(stride, t->stride, sizeof stride);
    shape[a] = t->shape[b], shape[b] = t->shape[a];
    stride[a] = t->stride[b], stride[b] = t->stride[a];
    return alias_(out, t, t->ndim, shape, stride, t->offset);
}

gids_status gids_narrow(gids_tensor **out, const gids_tensor *t, int dim, int64_t start,
                        int64_t length) {
    GIDS_CHECK_ARG(t, "narrow", "the tensor");
    int d;
    if (t->ndim == 0) GIDS_FAIL(GIDS_EINDEX, "narrow: cannot narrow a 0-d tensor");
    GIDS_TRY(gids_normalize_dim("narrow", dim, t->ndim, &d));
    int64_t size = t->shape[d], given = start;
    if (start < 0) start += size;
    /* the message shows the start as given: -10, not the -7 it became counted from the end */
    if (start < 0 || length < 0 || start > size || length > size - start)
        GIDS_FAIL(GIDS_EINDEX, "narrow: range start %lld length %lld exceeds size %lld of dim %d",
                  (long long)given, (long long)length, (long long)size, dim);
    int64_t shape[GIDS_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[d] = length;
    return alias_(out, t, t->ndim, shape, t->stride, t->offset + start * t->stride[d]);
}

gids_status gids_select(gids_tensor **out, const gids_tensor *t, int dim, int64_t index) {
    GIDS_CHECK_ARG(t, "select", "the tensor");
    int d;
    if (t->ndim == 0) GIDS_FAIL(GIDS_EINDEX, "select: cannot select from a 0-d tensor");
    GIDS_TRY(gids_normalize_dim("select", dim, t->ndim, &d));
    int64_t size = t->shape[d];
    int64_t i = index < 0 ? index + size : index;
    if (i < 0 || i >= size)
        GIDS_FAIL(GIDS_EINDEX, "select: index %lld out of range for dim %d of size %lld",
                  (long long)index, dim, (long long)size);
    int64_t shape[GIDS_MAX_DIMS], stride[GIDS_MAX_DIMS];
    int k = 0;
    for (int j = 0; j < t->ndim; j++)
        if (j != d) shape[k] = t->shape[j], stride[k++] = t->stride[j];
    return alias_(out, t, t->ndim - 1, shape, stride, t->offset + i * t->stride[d]);
}

gids_status gids_expand(gids_tensor **out, const gids_tensor *t, int ndim, const int64_t *shape) {
    GIDS_CHECK_ARG(t, "expand", "the tensor");
    char a[160], b[160];
    if (ndim > GIDS_MAX_DIMS)
        GIDS_FAIL(GIDS_EINVAL, "expand: target has %d dims, at most %d supported", ndim,
                  GIDS_MAX_DIMS);
    GIDS_CHECK(ndim <= 0 || shape != NULL, GIDS_EINVAL, "expand: shape is NULL with %d dims", ndim);
    if (ndim < t->ndim)
        GIDS_FAIL(GIDS_ESHAPE, "expand: target %s has fewer dims than the tensor %s",
                  gids_shape_str(ndim, shape, a, sizeof a),
                  gids_shape_str(t->ndim, t->shape, b, sizeof b));
    int64_t nshape[GIDS_MAX_DIMS], nstride[GIDS_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int i = 0; i < ndim; i++) {
        int j = i - lead;
        int64_t want = shape[i];
        if (j < 0) {
            if (want < 0)
                GIDS_FAIL(GIDS_EINVAL,
                          "expand: size %lld in %s is not allowed for a new leading dim",
                          (long long)want, gids_shape_str(ndim, shape, a, sizeof a));
            nshape[i] = want, nstride[i] = 0;
        } else if (want == -1 || want == t->shape[j]) {
            nshape[i] = t->shape[j], nstride[i] = t->stride[j];
        } else if (t->shape[j] == 1 && want >= 0) {
            nshape[i] = want, nstride[i] = 0;
        } else {
            GIDS_FAIL(GIDS_ESHAPE,
                      "expand: cannot expand %s to %s (size %lld would become %lld; only size-1 "
                      "dims expand)",
                      gids_shape_str(t->ndim, t->shape, b, sizeof b),
                      gids_shape_str(ndim, shape, a, sizeof a), (long long)t->shape[j],
                      (long long)want);
        }
    }
    int64_t numel;
    GIDS_TRY(gids_shape_numel("expand", ndim, nshape, &numel));
    return alias_(out, t, ndim, nshape, nstride, t->offset);
}

gids_status gids_squeeze(gids_tensor **out, const gids_tensor *t, int dim) {
    GIDS_CHECK_ARG(t, "squeeze", "the tensor");
    int64_t shape[GIDS_MAX_DIMS], stride[GIDS_MAX_DIMS];
    int d = -1, k = 0;
    if (dim != GIDS_ALL_DIMS) GIDS_TRY(gids_normalize_dim("squeeze", dim, t->ndim, &d));
    for (int j = 0; j < t->ndim; j++) {
        bool drop = t->shape[j] == 1 && (dim == GIDS_ALL_DIMS || j == d);
        if (!drop) shape[k] = t->shape[j], stride[k++] = t->stride[j];
    }
    return alias_(out, t, k, shape, stride, t->offset);
}

gids_status gids_unsqueeze(gids_tensor **out, const gids_tensor *t, int dim) {
    GIDS_CHECK_ARG(t, "unsqueeze", "the tensor");
    int d;
    if (t->ndim >= GIDS_MAX_DIMS)
        GIDS_FAIL(GIDS_EINVAL, "unsqueeze: tensor already has the maximum of %d dims",
                  GIDS_MAX_DIMS);
    GIDS_TRY(gids_normalize_new_dim("unsqueeze", dim, t->ndim, &d));
    int64_t shape[GIDS_MAX_DIMS], stride[GIDS_MAX_DIMS];
    for (int j = 0, k = 0; j <= t->ndim; j++) {
        if (j == d) {
            shape[j] = 1;
            stride[j] = d < t->ndim ? t->stride[d] * t->shape[d] : 1;
        } else {
            shape[j] = t->shape[k], stride[j] = t->stride[k++];
        }
    }
    return alias_(out, t, t->ndim + 1, shape, stride, t->offset);
}

gids_status gids_flatten(gids_tensor **out, const gids_tensor *t, int start_dim, int end_dim) {
    GIDS_CHECK_ARG(t, "flatten", "the tensor");
    int s, e;
    GIDS_TRY(gids_normalize_dim("flatten", start_dim, t->ndim, &s));
    GIDS_TRY(gids_normalize_dim("flatten", end_dim, t->ndim, &e));
    if (t->ndim == 0) {
        int64_t one = 1;
        return gids_reshape(out, t, 1, &one);
    }
    if (s > e)
        GIDS_FAIL(GIDS_EINVAL, "flatten: start dim %d comes after end dim %d", start_dim, end_dim);
    int64_t shape[GIDS_MAX_DIMS];
    int k = 0;
    for (int j = 0; j < s; j++) shape[k++] = t->shape[j];
    int64_t m = 1;
    for (int j = s; j <= e; j++) m *= t->shape[j];
    shape[k++] = m;
    for (int j = e + 1; j < t->ndim; j++) shape[k++] = t->shape[j];
    return gids_reshape(out, t, k, shape);
}

gids_status gids_as_strided(gids_tensor **out, const gids_tensor *t, int ndim, const int64_t *shape,
                            const int64_t *stride, int64_t offset) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "as_strided: out is NULL");
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "as_strided: the tensor is NULL");
    return gids_from_storage_named("as_strided", out, t->storage, t->dtype, ndim, shape, stride,
                                   offset);
}
