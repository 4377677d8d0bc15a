/* gids/ops.h -- tensor operations on the CPU (the CUDA plugin implements the same set).
 *
 *   gids_tensor *c = NULL, *s = NULL;
 *   GIDS_TRY(gids_binary(&c, GIDS_ADD, a, b));          // NumPy broadcasting
 *   int dims[1] = {1};
 *   GIDS_TRY(gids_reduce(&s, GIDS_SUM, c, 1, dims, false));
 *
 * Conventions: results are NEW (caller releases); inputs are BORROW and may be any strided
 * view; dims are 0-based, negative counts from the end.  Functions ending in `_` write into
 * their first argument in place.  Index tensors are i64 or i32 holding 0-based positions; an
 * index out of range is GIDS_EINDEX naming the op, the value and the valid range.
 */
#ifndef GIDS_OPS_H
#define GIDS_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "gids/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- elementwise */
typedef enum gids_binop {
    GIDS_ADD = 0,
    GIDS_SUB,
    GIDS_MUL,
    GIDS_DIV, /* DIV of integers gives f32 (true division) */
    GIDS_POW,
    GIDS_MAXIMUM,
    GIDS_MINIMUM,
    GIDS_FMOD,
    GIDS_REMAINDER,
    GIDS_ATAN2,
    GIDS_FLOOR_DIVIDE, /* floor(a / b); integers stay integers, a zero divisor is EINVAL */
    GIDS_EQ,
    GIDS_NE,
    GIDS_LT,
    GIDS_LE,
    GIDS_GT,
    GIDS_GE, /* -> bool */
    GIDS_LOGICAL_AND,
    GIDS_LOGICAL_OR,
    GIDS_LOGICAL_XOR, /* -> bool */
    GIDS_NBINOPS
} gids_binop;

typedef enum gids_unop {
    GIDS_NEG = 0,
    GIDS_ABS,
    GIDS_SIGN,
    GIDS_EXP,
    GIDS_EXPM1,
    GIDS_LOG,
    GIDS_LOG1P,
    GIDS_LOG2,
    GIDS_SQRT,
    GIDS_RSQRT,
    GIDS_SQUARE,
    GIDS_RECIPROCAL,
    GIDS_SIN,
    GIDS_COS,
    GIDS_TAN,
    GIDS_TANH,
    GIDS_SIGMOID,
    GIDS_RELU,
    GIDS_GELU,
    GIDS_GELU_TANH,
    GIDS_SOFTPLUS,
    GIDS_SILU,
    GIDS_FLOOR,
    GIDS_CEIL,
    GIDS_ROUND,
    GIDS_TRUNC,
    GIDS_LOGICAL_NOT, /* -> bool */
    GIDS_ISNAN,
    GIDS_ISINF,
    GIDS_ISFINITE, /* -> bool */
    GIDS_NUNOPS
} gids_unop;

/* BORROW: "add", "exp", ... (used in messages and by the binding). */
const char *gids_binop_name(gids_binop op);
const char *gids_unop_name(gids_unop op);
/* Result dtype of op on these input dtypes (EDTYPE when the op does not apply). */
gids_status gids_binop_result_dtype(gids_binop op, gids_dtype a, gids_dtype b, gids_dtype *out);
gids_status gids_unop_result_dtype(gids_unop op, gids_dtype a, gids_dtype *out);

gids_status gids_binary(gids_tensor **out, gids_binop op, const gids_tensor *a,
                        const gids_tensor *b);
/* a op s, or s op a when reversed. */
gids_status gids_binary_scalar(gids_tensor **out, gids_binop op, const gids_tensor *a,
                               gids_scalar s, bool reversed);
/* dst <- a op b; dst must have the broadcast shape and may alias a or b (in-place ops). The
 * result is converted to dst's dtype; converting float to an integer dst is EDTYPE (as torch). */
gids_status gids_binary_into(gids_tensor *dst, gids_binop op, const gids_tensor *a,
                             const gids_tensor *b);
gids_status gids_binary_scalar_into(gids_tensor *dst, gids_binop op, const gids_tensor *a,
                                    gids_scalar s, bool reversed);

/* Math ops of integer inputs (exp, sqrt, sigmoid, ...) give f32, as torch. */
gids_status gids_unary(gids_tensor **out, gids_unop op, const gids_tensor *a);
gids_status gids_unary_into(gids_tensor *dst, gids_unop op, const gids_tensor *a);

/* Parameterised activations. */
gids_status gids_leaky_relu(gids_tensor **out, const gids_tensor *a, double negative_slope);
gids_status gids_elu(gids_tensor **out, const gids_tensor *a, double alpha);
/* softplus(x) = log1p(exp(beta*x))/beta, linear above threshold (torch defaults beta 1,
 * threshold 20). */
gids_status gids_softplus(gids_tensor **out, const gids_tensor *a, double beta, double threshold);
/* Layer normalisation over the last ndims dims of x (CPU, f32 or f64): (x - mean) / sqrt(var +
 * eps) with the biased variance, times weight and plus bias where given (NULL: none; each
 * shaped as those dims), as torch.nn.functional.layer_norm.  mean and rstd (NULL: not wanted)
 * receive NEW statistics of x's shape with the normalised dims kept as 1.  One pass over the
 * data instead of the six of the composed ops; device tensors compose it (the Lua layer_norm
 * does). */
gids_status gids_layer_norm(gids_tensor **out, gids_tensor **mean, gids_tensor **rstd,
                            const gids_tensor *x, int ndims, const gids_tensor *weight,
                            const gids_tensor *bias, double eps);
/* Bounds given as NULL are absent; at least one must be present. */
gids_status gids_clamp(gids_tensor **out, const gids_tensor *a, const gids_scalar *min,
                       const gids_scalar *max);
/* out = cond ? a : b, all three broadcast; cond is bool (or u8). */
gids_status gids_where(gids_tensor **out, const gids_tensor *cond, const gids_tensor *a,
                       const gids_tensor *b);

/* ---------------------------------------------------------------- reductions */
typedef enum gids_redop {
    GIDS_SUM = 0,
    GIDS_MEAN,
    GIDS_PROD,
    GIDS_AMAX,
    GIDS_AMIN,
    GIDS_LOGSUMEXP,
    GIDS_ANY,
    GIDS_ALL, /* -> bool */
    GIDS_NREDOPS
} gids_redop;
const char *gids_redop_name(gids_redop op);

/* Reduces over the ndims dims listed (ndims == 0: over all dims).  Sum/prod of integers and
 * bool give i64; mean/logsumexp need a float input.  Reductions are deterministic: the
 * partition of the work does not depend on the number of threads. */
gids_status gids_reduce(gids_tensor **out, gids_redop op, const gids_tensor *a, int ndims,
                        const int *dims, bool keepdim);
/* Variance/std with `correction` (1 = unbiased, torch's default). */
gids_status gids_var(gids_tensor **out, const gids_tensor *a, int ndims, const int *dims,
                     int64_t correction, bool keepdim);
gids_status gids_std(gids_tensor **out, const gids_tensor *a, int ndims, const int *dims,
                     int64_t correction, bool keepdim);
/* p-norm (p may be INFINITY; p = 0 counts non-zeros). */
gids_status gids_norm(gids_tensor **out, const gids_tensor *a, double p, int ndims, const int *dims,
                      bool keepdim);
/* Max/min along one dim with the position of the first extreme (i64). Either output may be
 * NULL when not wanted.  NaN counts as the extreme, as torch. */
gids_status gids_max_dim(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int dim,
                         bool keepdim);
gids_status gids_min_dim(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int dim,
                         bool keepdim);
/* dim == GIDS_ALL_DIMS: position in the flattened tensor (a 0-d i64). */
gids_status gids_argmax(gids_tensor **out, const gids_tensor *a, int dim, bool keepdim);
gids_status gids_argmin(gids_tensor **out, const gids_tensor *a, int dim, bool keepdim);
/* Numerically stable (max subtracted). Float inputs only. */
gids_status gids_softmax(gids_tensor **out, const gids_tensor *a, int dim);
gids_status gids_log_softmax(gids_tensor **out, const gids_tensor *a, int dim);
/* Their input gradient from the output gradient g and the result y (one float dtype and shape):
 * softmax (log_ false) y * (g - sum(g * y)), log_softmax (log_ true) g - exp(y) * sum(g), the
 * sums along dim (f64 on the CPU).  One pass where autograd had composed five ops. */
gids_status gids_softmax_backward(gids_tensor **out, const gids_tensor *g, const gids_tensor *y,
                                  int dim, bool log_);
/* Inclusive prefix sum / product along dim (integers accumulate in i64). */
gids_status gids_cumsum(gids_tensor **out, const gids_tensor *a, int dim);
gids_status gids_cumprod(gids_tensor **out, const gids_tensor *a, int dim);

/* ---------------------------------------------------------------- linear algebra (CBLAS) */
/* torch.matmul semantics: 1-D x 1-D dot, 2-D x 2-D mm, batched with broadcast batch dims. */
gids_status gids_matmul(gids_tensor **out, const gids_tensor *a, const gids_tensor *b);
gids_status gids_mm(gids_tensor **out, const gids_tensor *a, const gids_tensor *b);
gids_status gids_bmm(gids_tensor **out, const gids_tensor *a, const gids_tensor *b);
/* beta * bias + alpha * (a @ b); bias broadcasts to [n, m]. */
gids_status gids_addmm(gids_tensor **out, const gids_tensor *bias, const gids_tensor *a,
                       const gids_tensor *b, double beta, double alpha);
/* dst <- a @ b for 2-D operands, dst [n, m] already allocated (any strides). */
gids_status gids_mm_into(gids_tensor *dst, const gids_tensor *a, const gids_tensor *b);

/* ---------------------------------------------------------------- indexing */
gids_status gids_index_select(gids_tensor **out, const gids_tensor *a, int dim,
                              const gids_tensor *index);
/* out[i][j] = a[index[i][j]][j] for dim 0 (torch.gather); index has a's ndim. */
gids_status gids_gather(gids_tensor **out, const gids_tensor *a, int dim, const gids_tensor *index);
/* self[index[i][j]][j] = src[i][j] for dim 0 (torch.scatter_); src may be a tensor or, with
 * the _scalar form, one value. */
gids_status gids_scatter_(gids_tensor *self, int dim, const gids_tensor *index,
                          const gids_tensor *src);
gids_status gids_scatter_scalar_(gids_tensor *self, int dim, const gids_tensor *index,
                                 gids_scalar value);
gids_status gids_scatter_add_(gids_tensor *self, int dim, const gids_tensor *index,
                              const gids_tensor *src);
/* self.index_select(dim, index) += alpha * src. */
gids_status gids_index_add_(gids_tensor *self, int dim, const gids_tensor *index,
                            const gids_tensor *src, double alpha);
/* Out-of-place forms: a copy of self, then the in-place op. */
gids_status gids_scatter(gids_tensor **out, const gids_tensor *self, int dim,
                         const gids_tensor *index, const gids_tensor *src);
gids_status gids_scatter_add(gids_tensor **out, const gids_tensor *self, int dim,
                             const gids_tensor *index, const gids_tensor *src);
gids_status gids_index_add(gids_tensor **out, const gids_tensor *self, int dim,
                           const gids_tensor *index, const gids_tensor *src, double alpha);
/* mask (bool) broadcasts to self. */
gids_status gids_masked_fill_(gids_tensor *self, const gids_tensor *mask, gids_scalar value);
gids_status gids_masked_fill(gids_tensor **out, const gids_tensor *self, const gids_tensor *mask,
                             gids_scalar value);
/* 1-D result of the elements where mask (broadcast against a) is true, in row-major order. */
gids_status gids_masked_select(gids_tensor **out, const gids_tensor *a, const gids_tensor *mask);
/* [count, ndim] i64 coordinates of non-zero elements, row-major order. */
gids_status gids_nonzero(gids_tensor **out, const gids_tensor *a);
/* The least and the greatest value of an index tensor (i64 or i32, any shape and strides), on
 * the host; an empty tensor gives *lo = 0, *hi = -1.  For the range checks of labels, ids and
 * edges before an op uses them.  On a device the values are read back (a wait for the device)
 * unless the device kept their range: the CUDA plugin keeps the ranges it has read of contiguous
 * i64 tensors, and those of i64 tensors copied whole from the host, until the memory is written
 * (docs/cuda.md, "Waits for the device"), so a batch's index tensors are checked without
 * waiting. */
gids_status gids_int_range(const gids_tensor *t, int64_t *lo, int64_t *hi);

/* ---------------------------------------------------------------- sorting, counting */
/* Always stable (ties keep input order; `stable` is accepted for torch's signature); NaN sorts
 * as the largest value.  Either output may be NULL when not wanted. */
gids_status gids_sort(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int dim,
                      bool descending, bool stable);
gids_status gids_argsort(gids_tensor **out, const gids_tensor *a, int dim, bool descending,
                         bool stable);
/* The results come sorted (largest first, or smallest first) whatever `sorted` says; ties keep
 * the lower index first. */
gids_status gids_topk(gids_tensor **values, gids_tensor **indices, const gids_tensor *a, int64_t k,
                      int dim, bool largest, bool sorted);
/* Unique elements of the flattened input, ascending. inverse ([a's shape], i64) and counts
 * (i64) are produced when their pointers are not NULL. */
gids_status gids_unique(gids_tensor **values, gids_tensor **inverse, gids_tensor **counts,
                        const gids_tensor *a);
/* Counts (i64) of each value of a 1-D non-negative integer tensor; length max(minlength, max+1).
 * weights (may be NULL, same length) make it a weighted sum: f32 weights give f32, f64 or
 * integer weights give f64, as torch. */
gids_status gids_bincount(gids_tensor **out, const gids_tensor *a, const gids_tensor *weights,
                          int64_t minlength);

/* ---------------------------------------------------------------- joining */
gids_status gids_cat(gids_tensor **out, int n, const gids_tensor *const *ts, int dim);
gids_status gids_stack(gids_tensor **out, int n, const gids_tensor *const *ts, int dim);
/* n views of t along dim with the given sizes (they must add up to t's size along dim). */
gids_status gids_split(gids_tensor **outs, int n, const gids_tensor *t, const int64_t *sizes,
                       int dim);

/* ---------------------------------------------------------------- segments (graph layers) */
/* Rows of src ([N, ...]) grouped by index ([N], values in [0, num_segments)); the index need
 * not be sorted.  Result [num_segments, ...]; empty segments give 0.  The result is the same
 * for every thread count (each segment is reduced in row order). */
typedef enum gids_segop { GIDS_SEG_SUM = 0, GIDS_SEG_MEAN, GIDS_SEG_MAX, GIDS_SEG_MIN } gids_segop;
/* For MAX/MIN, `arg` (may be NULL) receives the i64 row of the chosen element per output
 * element, -1 for empty segments; for SUM/MEAN *arg is set to NULL. */
gids_status gids_segment_reduce(gids_tensor **out, gids_tensor **arg, gids_segop op,
                                const gids_tensor *src, const gids_tensor *index,
                                int64_t num_segments);
/* Softmax of src rows within each segment (per column), as PyG's softmax(src, index). */
gids_status gids_segment_softmax(gids_tensor **out, const gids_tensor *src,
                                 const gids_tensor *index, int64_t num_segments);

#ifdef __cplusplus
}
#endif
#endif
