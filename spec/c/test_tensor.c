/* test_tensor.c -- the core: dtypes, storage counters, views, copies,
 * creation and allocation (the Philox generator is test_rng.c's). */
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gids/can.h"
#include "gids/graph.h"
#include "gids/io.h"

static gids_tensor *arange_f32(int64_t n) {
    gids_tensor *t = NULL;
    CHECK_OK(gids_arange(&t, GIDS_F32, gids_scalar_i(0), gids_scalar_i(n), gids_scalar_i(1)));
    return t;
}

static double at(const gids_tensor *t, int64_t flat) {
    double v = NAN;
    CHECK_OK(gids_tensor_get(t, flat, &v));
    return v;
}

TEST(dtype_parse_size_promote) {
    gids_dtype dt;
    CHECK_OK(gids_dtype_parse("float64", &dt));
    CHECK(dt == GIDS_F64);
    CHECK_OK(gids_dtype_parse("long", &dt));
    CHECK(dt == GIDS_I64);
    CHECK_ERR(gids_dtype_parse("f17", &dt), GIDS_EINVAL, "unknown dtype 'f17'");
    CHECK(gids_dtype_size(GIDS_BOOL) == 1 && gids_dtype_size(GIDS_I32) == 4);
    CHECK(gids_promote(GIDS_I64, GIDS_F32) == GIDS_F32);
    CHECK(gids_promote(GIDS_U8, GIDS_I32) == GIDS_I32);
    CHECK(gids_promote(GIDS_BOOL, GIDS_U8) == GIDS_U8);
    CHECK(gids_promote(GIDS_F16, GIDS_BF16) == GIDS_F32);
    CHECK(gids_promote_scalar(GIDS_I64, gids_scalar_f(0.5)) == GIDS_F32);
    CHECK(gids_promote_scalar(GIDS_I32, gids_scalar_i(3)) == GIDS_I32);
    gids_device d;
    CHECK_OK(gids_device_parse("cuda:3", &d));
    CHECK(d.type == GIDS_CUDA && d.index == 3);
    CHECK_ERR(gids_device_parse("tpu", &d), GIDS_EINVAL, "unknown device 'tpu'");
}

TEST(storage_counters_follow_tensors) {
    gids_mem_stats before, during, after;
    gids_memory_stats(GIDS_DEVICE_CPU, &before);
    int64_t shape[2] = {100, 10};
    gids_tensor *t = NULL, *v = NULL;
    CHECK_OK(gids_zeros(&t, GIDS_F64, GIDS_DEVICE_CPU, 2, shape));
    CHECK_OK(gids_transpose(&v, t, 0, 1));
    gids_memory_stats(GIDS_DEVICE_CPU, &during);
    CHECK(during.current_bytes - before.current_bytes == 8000);
    CHECK(during.live_tensors - before.live_tensors == 2);
    CHECK(during.live_storages - before.live_storages == 1);
    CHECK(during.peak_bytes >= during.current_bytes);
    gids_tensor_release(t);
    CHECK(at(v, 5) == 0.0); /* the view keeps the storage alive */
    gids_tensor_release(v);
    gids_memory_stats(GIDS_DEVICE_CPU, &after);
    CHECK(after.current_bytes == before.current_bytes);
    CHECK(after.live_tensors == before.live_tensors);
}

TEST(empty_rejects_bad_shapes) {
    gids_tensor *t = NULL;
    int64_t neg[2] = {3, -1}, huge[3] = {INT64_MAX / 2, 4, 2};
    CHECK_ERR(gids_empty(&t, GIDS_F32, GIDS_DEVICE_CPU, 2, neg), GIDS_EINVAL, "negative size -1");
    CHECK_ERR(gids_empty(&t, GIDS_F32, GIDS_DEVICE_CPU, 3, huge), GIDS_EOVERFLOW, "int64");
    /* no elements, yet strides past int64: refused, not a signed overflow */
    int64_t zero_huge[3] = {0, (int64_t)1 << 40, (int64_t)1 << 40};
    CHECK_ERR(gids_empty(&t, GIDS_F32, GIDS_DEVICE_CPU, 3, zero_huge), GIDS_EOVERFLOW,
              "its elements or strides overflow int64");
    CHECK_ERR(gids_empty(&t, GIDS_F16, GIDS_DEVICE_CPU, 1, neg), GIDS_EDTYPE, "GPU storage");
    CHECK(t == NULL);
}

TEST(views_share_storage_and_index_correctly) {
    gids_tensor *a = arange_f32(24), *v = NULL, *p = NULL, *n = NULL, *s = NULL;
    int64_t shape[3] = {2, 3, 4};
    CHECK_OK(gids_view(&v, a, 3, shape));
    CHECK(v->storage == a->storage && v->stride[0] == 12 && v->stride[2] == 1);
    int perm[3] = {2, 0, 1};
    CHECK_OK(gids_permute(&p, v, perm)); /* [4,2,3] */
    CHECK(p->shape[0] == 4 && p->shape[1] == 2 && p->shape[2] == 3);
    CHECK(!gids_tensor_is_contiguous(p));
    /* p[i][j][k] = v[j][k][i], so p[1][1][2] = v[1][2][1] = 12 + 8 + 1 */
    CHECK(at(p, 1 * 6 + 1 * 3 + 2) == 21.0);
    CHECK_OK(gids_narrow(&n, v, 2, 1, 2)); /* [2,3,2] starting at column 1 */
    CHECK(at(n, 0) == 1.0 && at(n, 1) == 2.0 && at(n, 2) == 5.0 && at(n, 11) == 22.0);
    CHECK_OK(gids_select(&s, v, 1, -1)); /* [2,4]: rows 2 of each block */
    CHECK(s->ndim == 2 && at(s, 0) == 8.0 && at(s, 4) == 20.0);
    CHECK_ERR(gids_select(&s, v, 1, 3), GIDS_EINDEX, "index 3 out of range for dim 1 of size 3");
    CHECK_ERR(gids_narrow(&n, v, 0, 1, 5), GIDS_EINDEX, "exceeds size 2");
    CHECK_ERR(gids_permute(&p, v, (int[]){0, 0, 1}), GIDS_EINVAL, "appears twice");
    gids_tensor_release(a), gids_tensor_release(v), gids_tensor_release(p);
    gids_tensor_release(n), gids_tensor_release(s);
}

TEST(view_and_reshape_follow_strides) {
    gids_tensor *a = arange_f32(6), *m = NULL, *t = NULL, *f = NULL, *r = NULL, *w = NULL;
    CHECK_OK(gids_view(&m, a, 2, (int64_t[]){2, -1}));
    CHECK(m->shape[1] == 3);
    CHECK_OK(gids_transpose(&t, m, 0, 1)); /* [3,2], not contiguous */
    CHECK_ERR(gids_view(&f, t, 1, (int64_t[]){6}), GIDS_ESHAPE, "not compatible with the strides");
    CHECK_OK(gids_reshape(&r, t, 1, (int64_t[]){6})); /* copies */
    CHECK(r->storage != a->storage);
    double expect[6] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6; i++) CHECK(at(r, i) == expect[i]);
    /* Splitting a dim of a transposed tensor is still a view. */
    CHECK_OK(gids_view(&w, t, 3, (int64_t[]){3, 2, 1}));
    CHECK(w->storage == a->storage && at(w, 3) == 4.0);
    CHECK_ERR(gids_view(&f, a, 2, (int64_t[]){4, -1}), GIDS_ESHAPE,
              "invalid for a tensor of 6 elements");
    CHECK_ERR(gids_view(&f, a, 2, (int64_t[]){-1, -1}), GIDS_EINVAL,
              "only one dimension can be -1");
    gids_tensor_release(a), gids_tensor_release(m), gids_tensor_release(t);
    gids_tensor_release(r), gids_tensor_release(w);
}

TEST(expand_squeeze_unsqueeze_flatten) {
    gids_tensor *a = arange_f32(3), *u = NULL, *e = NULL, *s = NULL, *f = NULL;
    CHECK_OK(gids_unsqueeze(&u, a, 1)); /* [3,1] */
    CHECK(u->ndim == 2 && u->shape[1] == 1);
    CHECK_OK(gids_expand(&e, u, 3, (int64_t[]){2, -1, 4})); /* [2,3,4] */
    CHECK(e->stride[0] == 0 && e->stride[2] == 0 && at(e, 23) == 2.0 && at(e, 5) == 1.0);
    CHECK_ERR(gids_expand(&s, e, 3, (int64_t[]){2, 5, 4}), GIDS_ESHAPE, "cannot expand");
    CHECK_OK(gids_squeeze(&s, u, GIDS_ALL_DIMS));
    CHECK(s->ndim == 1 && s->shape[0] == 3);
    gids_tensor_release(s);
    CHECK_OK(gids_squeeze(&s, u, 0)); /* size 3: unchanged */
    CHECK(s->ndim == 2);
    CHECK_OK(gids_flatten(&f, e, 0, -1));
    CHECK(f->ndim == 1 && f->shape[0] == 24 && at(f, 23) == 2.0);
    CHECK_ERR(gids_unsqueeze(&s, a, 3), GIDS_EINDEX, "dim 3 out of range");
    /* errors name the op called, not the helper that failed */
    gids_tensor *v = NULL, *huge = NULL;
    CHECK_ERR(gids_as_strided(&v, a, 1, (int64_t[]){4}, (int64_t[]){1}, 0), GIDS_EINDEX,
              "as_strided: the view needs 4 elements (it reaches element 3, counting from 0) but "
              "the storage holds 3 f32 elements (12 bytes)");
    CHECK_OK(gids_expand(&huge, u, 3, (int64_t[]){1 << 20, -1, 1 << 30}));
    CHECK_ERR(gids_contiguous(&v, huge), GIDS_ENOMEM, "contiguous: a [1048576,3,1073741824] f32");
    CHECK(v == NULL);
    gids_tensor_release(huge);
    gids_tensor_release(a), gids_tensor_release(u), gids_tensor_release(e);
    gids_tensor_release(s), gids_tensor_release(f);
}

TEST(copy_broadcasts_and_converts) {
    gids_tensor *src = NULL, *dst = NULL, *i = NULL;
    CHECK_OK(gids_from_buffer(&src, GIDS_F64, 1, (int64_t[]){3}, (double[]){-1.7, 2.5, 1e30}));
    CHECK_OK(gids_zeros(&dst, GIDS_I32, GIDS_DEVICE_CPU, 2, (int64_t[]){2, 3}));
    CHECK_OK(gids_copy_(dst, src));
    int64_t v;
    CHECK_OK(gids_tensor_get_i64(dst, 3, &v));
    CHECK(v == -1); /* truncation toward zero */
    CHECK_OK(gids_tensor_get_i64(dst, 5, &v));
    CHECK(v == 2147483647); /* saturates rather than undefined behaviour */
    {                       /* to i64 saturating exactly at both ends, from f64 and f32, NaN -> 0 */
        gids_tensor *w = NULL, *f32 = NULL, *l = NULL;
        CHECK_OK(gids_from_buffer(&w, GIDS_F64, 1, (int64_t[]){5},
                                  (double[]){1e30, -1e30, 9223372036854775808.0, NAN, -7.9}));
        CHECK_OK(gids_to_dtype(&l, w, GIDS_I64));
        const int64_t *li = gids_tensor_data(l);
        CHECK(li[0] == INT64_MAX && li[1] == INT64_MIN && li[2] == INT64_MAX && li[3] == 0 &&
              li[4] == -7);
        gids_tensor_release(l), l = NULL;
        CHECK_OK(gids_to_dtype(&f32, w, GIDS_F32));
        CHECK_OK(gids_to_dtype(&l, f32, GIDS_I64));
        li = gids_tensor_data(l);
        CHECK(li[0] == INT64_MAX && li[1] == INT64_MIN && li[2] == INT64_MAX && li[3] == 0);
        gids_tensor_release(w), gids_tensor_release(f32), gids_tensor_release(l);
    }
    CHECK_OK(gids_to_dtype(&i, src, GIDS_BOOL));
    CHECK(at(i, 0) == 1.0);
    gids_tensor *wrong = NULL;
    CHECK_OK(gids_zeros(&wrong, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){4}));
    CHECK_ERR(gids_copy_(dst, wrong), GIDS_ESHAPE, "does not broadcast to the result shape [2,3]");
    gids_tensor_release(src), gids_tensor_release(dst), gids_tensor_release(i);
    gids_tensor_release(wrong);
}

TEST(strided_copy_large_is_thread_count_independent) {
    int64_t shape[2] = {700, 300};
    gids_tensor *a = NULL, *t = NULL, *c1 = NULL, *c4 = NULL;
    gids_generator g;
    gids_generator_init(&g, 7);
    CHECK_OK(gids_randn(&a, &g, GIDS_F32, 2, shape));
    CHECK_OK(gids_transpose(&t, a, 0, 1));
    omp_set_num_threads(1);
    CHECK_OK(gids_contiguous(&c1, t));
    omp_set_num_threads(4);
    CHECK_OK(gids_contiguous(&c4, t));
    CHECK(memcmp(c1->storage->data, c4->storage->data, c1->storage->nbytes) == 0);
    CHECK(at(c1, 1 * 700 + 2) == at(a, 2 * 300 + 1));
    gids_tensor_release(a), gids_tensor_release(t), gids_tensor_release(c1),
        gids_tensor_release(c4);
}

TEST(creation_functions) {
    gids_tensor *t = NULL;
    CHECK_OK(gids_arange(&t, GIDS_I64, gids_scalar_i(10), gids_scalar_i(0), gids_scalar_i(-3)));
    CHECK(t->shape[0] == 4 && at(t, 3) == 1.0);
    gids_tensor_release(t);
    CHECK_OK(gids_arange(&t, GIDS_F32, gids_scalar_f(0), gids_scalar_f(1), gids_scalar_f(0.25)));
    CHECK(t->shape[0] == 4 && at(t, 3) == 0.75);
    gids_tensor_release(t);
    CHECK_ERR(gids_arange(&t, GIDS_F32, gids_scalar_i(0), gids_scalar_i(5), gids_scalar_i(-1)),
              GIDS_EINVAL, "points away");
    CHECK_OK(gids_linspace(&t, GIDS_F64, 0.0, 1.0, 11));
    CHECK(t->shape[0] == 11 && at(t, 10) == 1.0 && fabs(at(t, 3) - 0.3) < 1e-15);
    gids_tensor_release(t);
    CHECK_OK(gids_eye(&t, GIDS_F32, 2, 3));
    CHECK(at(t, 0) == 1.0 && at(t, 4) == 1.0 && at(t, 5) == 0.0);
    gids_tensor_release(t);
    CHECK_OK(
        gids_full(&t, GIDS_I64, GIDS_DEVICE_CPU, 1, (int64_t[]){2}, gids_scalar_i(INT64_MAX - 1)));
    int64_t v;
    CHECK_OK(gids_tensor_get_i64(t, 1, &v));
    CHECK(v == INT64_MAX - 1); /* integers stay exact */
    gids_tensor_release(t);
    CHECK_OK(gids_from_buffer(&t, GIDS_BOOL, 1, (int64_t[]){3}, (unsigned char[]){0, 1, 1}));
    CHECK(at(t, 0) == 0.0 && at(t, 2) == 1.0);
    gids_tensor_release(t);
    t = NULL;
    CHECK_ERR(gids_from_buffer(&t, GIDS_BOOL, 1, (int64_t[]){3}, (unsigned char[]){0, 1, 255}),
              GIDS_EINVAL, "from_buffer: bool element 2 holds byte 255; bool bytes must be 0 or 1");
    CHECK(t == NULL);
}

/* An allocator that fails its first request, to drive the pressure handler. */
static int flaky_failures_, pressure_calls_;
static gids_allocator *real_cpu_;
static gids_status flaky_alloc_(gids_allocator *self, int idx, size_t n, void **out) {
    if (flaky_failures_ > 0) {
        flaky_failures_--;
        GIDS_FAIL(GIDS_ENOMEM, "flaky: refused %zu bytes", n);
    }
    return real_cpu_->alloc(real_cpu_, idx, n, out);
}
static void flaky_free_(gids_allocator *self, int idx, void *p, size_t n) {
    real_cpu_->free(real_cpu_, idx, p, n);
}
static void on_pressure_(void *ctx, gids_device dev, size_t n) {
    pressure_calls_ += *(int *)ctx;
}

TEST(allocation_failure_runs_pressure_handler_then_retries_once) {
    static gids_allocator flaky = {"flaky", GIDS_CPU, flaky_alloc_, flaky_free_, NULL};
    real_cpu_ = gids_allocator_get(GIDS_CPU);
    gids_allocator_register(GIDS_CPU, &flaky);
    int one = 1;
    gids_memory_set_pressure_handler(on_pressure_, &one);
    CHECK(gids_memory_pressure_ctx() == &one);
    gids_tensor *t = NULL;
    flaky_failures_ = 1;
    CHECK_OK(gids_zeros(&t, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){16}));
    CHECK(pressure_calls_ == 1 && t != NULL);
    gids_tensor_release(t);
    t = NULL;
    flaky_failures_ = 2; /* fails again after the retry: the error reaches the caller */
    CHECK_ERR(gids_zeros(&t, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){16}), GIDS_ENOMEM,
              "refused 64 bytes");
    CHECK(pressure_calls_ == 2 && t == NULL);
    gids_memory_set_pressure_handler(NULL, NULL);
    gids_allocator_register(GIDS_CPU, real_cpu_);
}

TEST(large_blocks_are_cached_and_reused) {
    gids_device cpu = GIDS_DEVICE_CPU;
    gids_memory_empty_cache(cpu);
    gids_mem_stats st;
    int64_t n = 1 << 20; /* 4 MiB of f32 */
    gids_tensor *a = NULL, *b = NULL, *small = NULL;
    CHECK_OK(gids_empty(&a, GIDS_F32, cpu, 1, &n));
    void *block = a->storage->data;
    gids_tensor_release(a);
    gids_memory_stats(cpu, &st);
    CHECK(st.cached_bytes == 4 << 20);
    CHECK_OK(gids_empty(&b, GIDS_F32, cpu, 1, &n));
    CHECK(b->storage->data == block); /* the same block came back */
    gids_memory_stats(cpu, &st);
    CHECK(st.cached_bytes == 0);
    gids_tensor_release(b);
    CHECK_OK(gids_empty(&small, GIDS_F32, cpu, 1, (int64_t[]){1000}));
    gids_tensor_release(small); /* small blocks go straight back to malloc */
    gids_memory_stats(cpu, &st);
    CHECK(st.cached_bytes == 4 << 20);
    gids_memory_empty_cache(cpu);
    gids_memory_stats(cpu, &st);
    CHECK(st.cached_bytes == 0);
    int64_t old = gids_memory_cache_limit(cpu);
    gids_memory_set_cache_limit(cpu, 0); /* disabled: nothing is kept */
    CHECK_OK(gids_empty(&a, GIDS_F32, cpu, 1, &n));
    gids_tensor_release(a);
    gids_memory_stats(cpu, &st);
    CHECK(st.cached_bytes == 0);
    gids_memory_set_cache_limit(cpu, old);
}

/* Sizes within an eighth of an octave share a block: the batches of a training loop vary a
 * little in size (nodes, edges), and with exact sizes most of their blocks missed the cache. */
TEST(large_blocks_of_one_size_class_are_shared) {
    gids_device cpu = GIDS_DEVICE_CPU;
    gids_memory_empty_cache(cpu);
    gids_mem_stats st;
    int64_t n = 1500000, fewer = 1450000, more = 1700000; /* 6.0, 5.8 and 6.8 MB of f32 */
    gids_tensor *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(gids_empty(&a, GIDS_F32, cpu, 1, &n));
    void *block = a->storage->data;
    gids_tensor_release(a);
    gids_memory_stats(cpu, &st);
    CHECK(st.cached_bytes == 6 << 20); /* 6.0 MB rounded up to the class of 6 MiB */
    CHECK_OK(gids_empty(&b, GIDS_F32, cpu, 1, &fewer));
    CHECK(b->storage->data == block); /* a smaller size of the same class takes it */
    gids_memory_stats(cpu, &st);
    CHECK(st.cached_bytes == 0);
    gids_tensor_release(b);
    CHECK_OK(gids_empty(&c, GIDS_F32, cpu, 1, &more)); /* the next class up (6.5 MiB): not it */
    CHECK(c->storage->data != block);
    gids_memory_stats(cpu, &st);
    CHECK(st.cached_bytes == 6 << 20);
    float *p = gids_tensor_data(c);
    p[more - 1] = 1.0f; /* the whole tensor is there (ASan checks the block's end) */
    gids_tensor_release(c);
    gids_memory_empty_cache(cpu);
}

/* A full cache evicts its oldest blocks for a newly freed one: blocks of a finished workload
 * must not keep the next workload's blocks out (each of them would be faulted in afresh). */
TEST(full_cache_evicts_oldest_blocks) {
    gids_device cpu = GIDS_DEVICE_CPU;
    gids_memory_empty_cache(cpu);
    int64_t old = gids_memory_cache_limit(cpu);
    gids_memory_set_cache_limit(cpu, 8 << 20); /* room for two 4 MiB blocks */
    gids_mem_stats st;
    int64_t n4 = 1 << 20, n3 = 3 << 18; /* 4 MiB and 3 MiB of f32 */
    gids_tensor *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(gids_empty(&a, GIDS_F32, cpu, 1, &n4));
    CHECK_OK(gids_empty(&b, GIDS_F32, cpu, 1, &n4));
    void *second = b->storage->data;
    gids_tensor_release(a); /* cached first: the oldest */
    gids_tensor_release(b);
    gids_memory_stats(cpu, &st);
    CHECK(st.cached_bytes == 8 << 20);
    /* a 3 MiB block of another workload evicts the oldest 4 MiB block and is kept */
    CHECK_OK(gids_empty(&c, GIDS_F32, cpu, 1, &n3));
    void *third = c->storage->data;
    gids_tensor_release(c);
    gids_memory_stats(cpu, &st);
    CHECK(st.cached_bytes == 7 << 20);
    CHECK_OK(gids_empty(&c, GIDS_F32, cpu, 1, &n3));
    CHECK(c->storage->data == third);
    CHECK_OK(gids_empty(&b, GIDS_F32, cpu, 1, &n4));
    CHECK(b->storage->data == second); /* the newer 4 MiB block survived */
    gids_tensor_release(b);
    gids_tensor_release(c);
    /* a block larger than the whole limit is not cached and evicts nothing */
    int64_t n16 = 4 << 20;
    CHECK_OK(gids_empty(&a, GIDS_F32, cpu, 1, &n16));
    gids_tensor_release(a);
    gids_memory_stats(cpu, &st);
    CHECK(st.cached_bytes == 7 << 20);
    gids_memory_set_cache_limit(cpu, old);
    gids_memory_stats(cpu, &st);
    CHECK(st.cached_bytes == 0);
}

/* A NULL where a tensor, shape or configuration is expected is EINVAL naming it, never a crash
 * (found by an embedding audit); retain and release ignore NULL alike. */
TEST(null_arguments_are_einval) {
    gids_tensor *o = NULL, *a = NULL;
    int64_t sh[2] = {2, 2};
    CHECK_OK(gids_ones(&a, GIDS_F32, GIDS_DEVICE_CPU, 2, sh));
    CHECK_ERR(gids_matmul(&o, NULL, a), GIDS_EINVAL, "matmul: arg 1 is NULL");
    CHECK_ERR(gids_zeros(&o, GIDS_F32, GIDS_DEVICE_CPU, 2, NULL), GIDS_EINVAL,
              "zeros: shape is NULL for 2 dims");
    CHECK_ERR(gids_backward(NULL, NULL, false), GIDS_EINVAL, "backward: root 1 is NULL");
    CHECK_ERR(gids_set_requires_grad(NULL, true), GIDS_EINVAL, "requires_grad: the tensor is NULL");
    CHECK_ERR(gids_adam_step_(a, a, a, a, NULL, NULL), GIDS_EINVAL, "adam_step_: cfg is NULL");
    CHECK_ERR(gids_sgd_step_(a, a, NULL, NULL), GIDS_EINVAL, "sgd_step_: cfg is NULL");
    CHECK_ERR(gids_index_select(&o, a, 0, NULL), GIDS_EINVAL, "index_select: index is NULL");
    CHECK_ERR(gids_contiguous(&o, NULL), GIDS_EINVAL, "contiguous: the tensor is NULL");
    CHECK_ERR(gids_clone(&o, NULL), GIDS_EINVAL, "clone: the tensor is NULL");
    CHECK_ERR(gids_to_device(&o, NULL, GIDS_DEVICE_CPU), GIDS_EINVAL, "to: the tensor is NULL");
    CHECK_ERR(gids_copy_(a, NULL), GIDS_EINVAL, "copy_: the source is NULL");
    /* views, creation, autograd accessors and the index ops name the NULL argument */
    int64_t s32[2] = {3, 2};
    CHECK_ERR(gids_view(&o, NULL, 2, s32), GIDS_EINVAL, "view: the tensor is NULL");
    CHECK_ERR(gids_reshape(&o, NULL, 2, s32), GIDS_EINVAL, "reshape: the tensor is NULL");
    CHECK_ERR(gids_permute(&o, NULL, (int[]){1, 0}), GIDS_EINVAL, "permute: the tensor is NULL");
    CHECK_ERR(gids_transpose(&o, NULL, 0, 1), GIDS_EINVAL, "transpose: the tensor is NULL");
    CHECK_ERR(gids_narrow(&o, NULL, 0, 0, 1), GIDS_EINVAL, "narrow: the tensor is NULL");
    CHECK_ERR(gids_select(&o, NULL, 0, 0), GIDS_EINVAL, "select: the tensor is NULL");
    CHECK_ERR(gids_expand(&o, NULL, 2, s32), GIDS_EINVAL, "expand: the tensor is NULL");
    CHECK_ERR(gids_squeeze(&o, NULL, 0), GIDS_EINVAL, "squeeze: the tensor is NULL");
    CHECK_ERR(gids_unsqueeze(&o, NULL, 0), GIDS_EINVAL, "unsqueeze: the tensor is NULL");
    CHECK_ERR(gids_flatten(&o, NULL, 0, 1), GIDS_EINVAL, "flatten: the tensor is NULL");
    CHECK_ERR(gids_view(NULL, a, 1, (int64_t[]){4}), GIDS_EINVAL, "view: out is NULL");
    CHECK_ERR(gids_to_dtype(&o, NULL, GIDS_F64), GIDS_EINVAL, "to_dtype: the tensor is NULL");
    CHECK_ERR(gids_fill_(NULL, gids_scalar_i(0)), GIDS_EINVAL, "fill_: the target is NULL");
    CHECK_ERR(gids_empty_like(&o, NULL), GIDS_EINVAL, "empty_like: the tensor is NULL");
    CHECK_ERR(gids_tensor_get_i64(a, 0, NULL), GIDS_EINVAL, "get: out is NULL");
    CHECK_ERR(gids_empty(NULL, GIDS_F32, GIDS_DEVICE_CPU, 2, sh), GIDS_EINVAL,
              "empty: out is NULL");
    CHECK_ERR(gids_randint(NULL, NULL, GIDS_I64, 0, 5, 2, sh), GIDS_EINVAL, "randint: out is NULL");
    CHECK_ERR(gids_uniform_(NULL, NULL, 0, 1), GIDS_EINVAL, "uniform_: tensor is NULL");
    CHECK_ERR(gids_normal_(NULL, NULL, 0, 1), GIDS_EINVAL, "normal_: tensor is NULL");
    CHECK_ERR(gids_detach(&o, NULL), GIDS_EINVAL, "detach: the tensor is NULL");
    CHECK_ERR(gids_set_grad(NULL, a), GIDS_EINVAL, "grad: the tensor is NULL");
    CHECK_ERR(gids_ag_view(&o, NULL, 2, s32), GIDS_EINVAL, "view: the tensor is NULL");
    CHECK_ERR(gids_gather(&o, a, 0, NULL), GIDS_EINVAL, "gather: index is NULL");
    CHECK_ERR(gids_gather(NULL, a, 0, a), GIDS_EINVAL, "gather: out is NULL");
    CHECK_ERR(gids_index_select(NULL, a, 0, a), GIDS_EINVAL, "index_select: out is NULL");
    CHECK_ERR(gids_mm(NULL, a, a), GIDS_EINVAL, "mm: out is NULL");
    CHECK_ERR(gids_scatter(NULL, a, 0, a, a), GIDS_EINVAL, "scatter: out is NULL");
    CHECK_ERR(gids_cat(&o, 1, NULL, 0), GIDS_EINVAL, "cat: the list is NULL with 1 tensors");
    gids_tensor *parts[1];
    CHECK_ERR(gids_split(parts, 1, NULL, (int64_t[]){1}, 0), GIDS_EINVAL,
              "split: the tensor is NULL");
    CHECK(gids_tensor_numel(NULL) == 0 && gids_tensor_data(NULL) == NULL);
    CHECK(gids_grad(NULL) == NULL && !gids_requires_grad(NULL) && !gids_is_leaf(NULL));
    CHECK(gids_grad_fn_name(NULL) == NULL);
    /* a device that does not exist is named, an unknown device type as what it is */
    CHECK_ERR(gids_zeros(&o, GIDS_F32, (gids_device){GIDS_CPU, 7}, 2, sh), GIDS_EDEVICE,
              "device cpu:7 does not exist");
    CHECK_ERR(gids_to_device(&o, a, (gids_device){GIDS_CPU, 1}), GIDS_EDEVICE,
              "to: device cpu:1 does not exist");
    gids_storage *ws = NULL;
    float host[2];
    CHECK_ERR(gids_storage_wrap(&ws, (gids_device){GIDS_CPU, 2}, host, sizeof host, NULL, NULL),
              GIDS_EDEVICE, "storage: device cpu:2 does not exist");
    CHECK(ws == NULL);
    char buf[32];
    CHECK(strcmp(gids_device_str((gids_device){(gids_device_type)5, 0}, buf, sizeof buf),
                 "device type 5") == 0);
    gids_tensor_retain(NULL);
    gids_tensor_release(NULL);
    gids_safetensors_free(NULL);
    CHECK(o == NULL);
    gids_tensor_release(a);
}

/* Sizes, strides, steps and dims at the edges of int64 and of the dim range: each is a precise
 * error (these were signed overflows, an out-of-bounds clone, or silently accepted). */
TEST(edge_sizes_and_dims_are_errors_not_ub) {
    gids_tensor *t = NULL, *v = NULL, *o = NULL, *z = NULL, *e = NULL;
    CHECK_OK(gids_zeros(&t, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){4}));
    /* empty views: strides and offset are still checked */
    CHECK_ERR(gids_as_strided(&v, t, 2, (int64_t[]){0, 3}, (int64_t[]){1, INT64_MAX}, 0),
              GIDS_EOVERFLOW, "as_strided: extent overflows int64 (stride 9223372036854775807");
    CHECK_ERR(gids_as_strided(&v, t, 1, (int64_t[]){0}, (int64_t[]){1}, INT64_MAX / 2),
              GIDS_EOVERFLOW, "as_strided: offset 4611686018427387903 overflows int64 in bytes");
    /* a view whose last element is INT64_MAX: one past it overflowed before the byte count did */
    CHECK_ERR(gids_as_strided(&v, t, 1, (int64_t[]){2}, (int64_t[]){1}, INT64_MAX - 1),
              GIDS_EOVERFLOW, "as_strided: offset 9223372036854775806 overflows int64 in bytes");
    CHECK_ERR(gids_as_strided(&v, t, 2, (int64_t[]){0, 3}, (int64_t[]){-5, 1}, 0), GIDS_EINVAL,
              "as_strided: negative stride -5 at dim 0");
    CHECK(v == NULL);
    CHECK_OK(gids_zeros(&e, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){0}));
    CHECK_ERR(gids_view(&o, e, 3, (int64_t[]){0, 1LL << 40, 1LL << 40}), GIDS_EOVERFLOW,
              "view: shape [0,1099511627776,1099511627776] is too large");
    /* arange, var, randint at the int64 edges */
    CHECK_OK(
        gids_arange(&o, GIDS_I64, gids_scalar_i(0), gids_scalar_i(-10), gids_scalar_i(INT64_MIN)));
    CHECK(o->shape[0] == 1);
    gids_tensor_release(o), o = NULL;
    CHECK_ERR(
        gids_arange(&o, GIDS_I64, gids_scalar_i(0), gids_scalar_i(INT64_MIN), gids_scalar_i(-1)),
        GIDS_EOVERFLOW, "arange: 9223372036854775808 elements");
    CHECK_ERR(gids_var(&o, t, 0, NULL, INT64_MIN, false), GIDS_EINVAL,
              "var: correction -9223372036854775808 is out of range for 4 reduced elements");
    gids_generator g;
    gids_generator_init(&g, 1);
    CHECK_OK(gids_randint(&o, &g, GIDS_I64, INT64_MIN, INT64_MAX, 1, (int64_t[]){64}));
    gids_tensor_release(o), o = NULL;
    CHECK_ERR(gids_uniform_(t, &g, -INFINITY, INFINITY), GIDS_EINVAL,
              "uniform_: low -inf and high inf must be finite");
    CHECK_ERR(gids_uniform_(t, &g, -1e308, 1e308), GIDS_EINVAL, "high - low");
    CHECK_ERR(gids_eye(&o, GIDS_F32, 3, -5), GIDS_EINVAL, "eye: m = -5 columns must be >= 0");
    CHECK_OK(gids_eye(&o, GIDS_F32, 3, -1));
    CHECK(o->shape[0] == 3 && o->shape[1] == 3);
    gids_tensor_release(o), o = NULL;
    /* dims of a 0-d tensor are -1..0, for every view op */
    CHECK_OK(gids_zeros(&z, GIDS_F32, GIDS_DEVICE_CPU, 0, NULL));
    CHECK_ERR(gids_transpose(&o, z, 5, 7), GIDS_EINDEX, "transpose: dim 5 out of range");
    CHECK_ERR(gids_squeeze(&o, z, 5), GIDS_EINDEX, "squeeze: dim 5 out of range");
    CHECK_ERR(gids_flatten(&o, z, 3, 9), GIDS_EINDEX, "flatten: dim 3 out of range");
    CHECK(o == NULL);
    CHECK_OK(gids_transpose(&o, z, 0, -1));
    gids_tensor_release(o), o = NULL;
    /* messages say what was given */
    gids_tensor *a = NULL;
    CHECK_OK(gids_zeros(&a, GIDS_F32, GIDS_DEVICE_CPU, 2, (int64_t[]){2, 3}));
    CHECK_ERR(gids_expand(&o, a, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 2, 3}), GIDS_EINVAL,
              "expand: target has 9 dims, at most 8 supported");
    CHECK_ERR(gids_unsqueeze(&o, a, 4), GIDS_EINDEX,
              "unsqueeze: dim 4 out of range for inserting a dim into a tensor of 2 dims (valid "
              "-3..2)");
    CHECK_ERR(gids_stack(&o, 1, (const gids_tensor *[]){a}, 3), GIDS_EINDEX,
              "stack: dim 3 out of range for inserting a dim into a tensor of 2 dims");
    CHECK_ERR(gids_narrow(&o, a, 1, -10, 1), GIDS_EINDEX, "narrow: range start -10 length 1");
    /* float -> integer reads saturate (NaN -> 0) instead of an undefined cast */
    gids_tensor *f = NULL;
    CHECK_OK(gids_from_buffer(&f, GIDS_F64, 1, (int64_t[]){3}, (double[]){1e300, -1e300, NAN}));
    int64_t x = 0;
    CHECK_OK(gids_tensor_get_i64(f, 0, &x));
    CHECK(x == INT64_MAX); /* not the largest double below 2^63, 1024 short of it */
    CHECK_OK(gids_tensor_get_i64(f, 1, &x));
    CHECK(x == INT64_MIN);
    CHECK_OK(gids_tensor_get_i64(f, 2, &x));
    CHECK(x == 0);
    CHECK(o == NULL);
    gids_tensor_release(f), gids_tensor_release(a), gids_tensor_release(z);
    gids_tensor_release(e), gids_tensor_release(t);
}

/* The runtime never aborts: a NULL out or input pointer is EINVAL naming it, as for every other
 * bad argument (a program embedding the library must survive its own mistakes). */
/* Threads drawing from the default generator at once (two Lua states of one embedding program)
 * each take their own counters: none is lost, so no two draws share their numbers. */
TEST(concurrent_draws_from_the_default_generator_never_share_counters) {
    gids_manual_seed(5);
    const int nthreads = 4, draws = 3000;
    int failures = 0;
#pragma omp parallel for num_threads(nthreads) reduction(+ : failures)
    for (int k = 0; k < nthreads; k++) {
        for (int i = 0; i < draws; i++) {
            gids_tensor *t = NULL;
            if (gids_rand(&t, NULL, GIDS_F32, 1, (const int64_t[]){4}) != GIDS_OK) failures++;
            gids_tensor_release(t);
        }
    }
    CHECK(failures == 0);
    CHECK(gids_default_generator()->offset == (uint64_t)nthreads * draws * 4);
    gids_manual_seed(0);
}

static void *read_threads(void *out) {
    *(int *)out = gids_get_num_threads();
    return NULL;
}

/* set_num_threads is process-wide: another OS thread (a second Lua state) sees it too, not the
 * OpenMP setting it was started with. */
TEST(set_num_threads_reaches_every_thread) {
    int was = gids_get_num_threads(), seen = 0;
    gids_set_num_threads(3);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, read_threads, &seen) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(seen == 3);
    gids_set_num_threads(was);
}

TEST(null_pointers_are_einval_not_a_crash) {
    gids_tensor *a = arange_f32(4), *m = NULL, *idx = NULL;
    CHECK_OK(gids_reshape(&m, a, 2, (const int64_t[]){2, 2}));
    CHECK_OK(gids_zeros(&idx, GIDS_I64, GIDS_DEVICE_CPU, 1, (const int64_t[]){4}));
    const gids_tensor *two[2] = {a, a};
    int64_t sh[1] = {4}, st[1] = {1}, n64 = 0;
    char **names = NULL;
    gids_file_info fi;
    gids_storage *s = NULL;
    CHECK_ERR(gids_contiguous(NULL, a), GIDS_EINVAL, "contiguous: out is NULL");
    CHECK_ERR(gids_clone(NULL, a), GIDS_EINVAL, "clone: out is NULL");
    CHECK_ERR(gids_matmul(NULL, m, m), GIDS_EINVAL, "matmul: out is NULL");
    CHECK_ERR(gids_ag_matmul(NULL, m, m), GIDS_EINVAL, "matmul: out is NULL");
    CHECK_ERR(gids_addmm(NULL, a, m, m, 1, 1), GIDS_EINVAL, "addmm: out is NULL");
    CHECK_ERR(gids_masked_fill(NULL, a, a, gids_scalar_f(0)), GIDS_EINVAL,
              "masked_fill: out is NULL");
    CHECK_ERR(gids_masked_select(NULL, a, a), GIDS_EINVAL, "masked_select: out is NULL");
    CHECK_ERR(gids_nonzero(NULL, a), GIDS_EINVAL, "nonzero: out is NULL");
    CHECK_ERR(gids_bincount(NULL, idx, NULL, 0), GIDS_EINVAL, "bincount: out is NULL");
    CHECK_ERR(gids_stack(NULL, 2, two, 0), GIDS_EINVAL, "stack: out is NULL");
    CHECK_ERR(gids_segment_reduce(NULL, NULL, GIDS_SEG_SUM, a, idx, 1), GIDS_EINVAL,
              "segment_reduce: out is NULL");
    CHECK_ERR(gids_segment_softmax(NULL, a, idx, 1), GIDS_EINVAL, "segment_softmax: out is NULL");
    CHECK_ERR(gids_gatv2_attention(NULL, NULL, a, a, NULL, a, idx, 4, 0.2, NULL), GIDS_EINVAL,
              "gatv2_attention: out and alpha must not be NULL");
    CHECK_ERR(gids_as_strided(NULL, a, 1, sh, st, 0), GIDS_EINVAL, "as_strided: out is NULL");
    CHECK_ERR(gids_tensor_get(a, 0, NULL), GIDS_EINVAL, "tensor_get: out is NULL");
    CHECK_ERR(gids_normalize_dim("op", 0, 1, NULL), GIDS_EINVAL, "normalize_dim: out is NULL");
    CHECK_ERR(gids_shape_numel("op", 1, sh, NULL), GIDS_EINVAL, "shape_numel: out is NULL");
    CHECK_ERR(gids_broadcast_shapes("op", 1, sh, 1, sh, NULL, NULL), GIDS_EINVAL,
              "op: the output shape is NULL");
    CHECK_ERR(gids_dtype_parse("f32", NULL), GIDS_EINVAL, "dtype_parse: out is NULL");
    CHECK_ERR(gids_storage_new(NULL, GIDS_DEVICE_CPU, 16), GIDS_EINVAL, "storage: out is NULL");
    CHECK_ERR(gids_storage_wrap(&s, GIDS_DEVICE_CPU, NULL, 16, NULL, NULL), GIDS_EINVAL,
              "storage: data is NULL with 16 bytes");
    CHECK(s == NULL);
    gids_tensor *t = NULL;
    CHECK_ERR(gids_tensor_from_storage(&t, NULL, GIDS_F32, 1, sh, st, 0), GIDS_EINVAL,
              "from_storage: the storage is NULL");
    CHECK_ERR(gids_list_dir("/tmp", NULL, &n64), GIDS_EINVAL, "list_dir: names_out is NULL");
    CHECK_ERR(gids_list_dir(NULL, &names, &n64), GIDS_EINVAL, "list_dir: empty path");
    CHECK_ERR(gids_file_stat(NULL, &fi), GIDS_EINVAL, "stat: empty path");
    CHECK_ERR(gids_file_stat("/tmp", NULL), GIDS_EINVAL, "stat: out is NULL");
    gids_disk_usage_info du;
    CHECK_ERR(gids_disk_usage(NULL, &du), GIDS_EINVAL, "disk_usage: empty path");
    CHECK_ERR(gids_disk_usage("/tmp", NULL), GIDS_EINVAL, "disk_usage: out is NULL");
    CHECK_ERR(gids_remove_tree(NULL), GIDS_EINVAL, "remove_tree: empty path");
    CHECK_ERR(gids_can_frames_reserve(NULL, 10), GIDS_EINVAL, "can_frames_reserve: f is NULL");
    CHECK_ERR(gids_safetensors_save("/tmp/gids_never.safetensors", 1, NULL, NULL, 0, NULL, NULL),
              GIDS_EINVAL, "a name, tensor or metadata array is NULL");
    CHECK_ERR(gids_safetensors_load(NULL, "/tmp/x.safetensors", false), GIDS_EINVAL,
              "safetensors_load: out is NULL");
    CHECK_ERR(gids_atomic_write("/tmp/gids_never", NULL, 1), GIDS_EINVAL,
              "data is NULL with 1 bytes");
    gids_tensor_release(a);
    gids_tensor_release(m);
    gids_tensor_release(idx);
}

int main(void) {
    RUN(null_arguments_are_einval);
    RUN(edge_sizes_and_dims_are_errors_not_ub);
    RUN(dtype_parse_size_promote);
    RUN(storage_counters_follow_tensors);
    RUN(empty_rejects_bad_shapes);
    RUN(views_share_storage_and_index_correctly);
    RUN(view_and_reshape_follow_strides);
    RUN(expand_squeeze_unsqueeze_flatten);
    RUN(copy_broadcasts_and_converts);
    RUN(strided_copy_large_is_thread_count_independent);
    RUN(creation_functions);
    RUN(allocation_failure_runs_pressure_handler_then_retries_once);
    RUN(large_blocks_are_cached_and_reused);
    RUN(large_blocks_of_one_size_class_are_shared);
    RUN(full_cache_evicts_oldest_blocks);
    RUN(null_pointers_are_einval_not_a_crash);
    RUN(set_num_threads_reaches_every_thread);
    RUN(concurrent_draws_from_the_default_generator_never_share_counters);
    return check_summary("tensor");
}
