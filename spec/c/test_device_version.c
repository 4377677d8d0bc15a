/* test_device_version.c -- in-place writes on a device bump the storage's version in the core,
 * whatever the backend does: autograd compares versions to refuse a backward through a tensor
 * modified after it was saved, and the CUDA plugin's fill and copy entries only write bytes.
 *
 * The backend here is a stand-in registered for GIDS_CUDA in this process (no plugin): host
 * memory from malloc, and fill/copy entries that write the bytes of contiguous f32 tensors and
 * nothing else, as the CUDA plugin's do.  (The loopback plugin cannot show this: it runs the CPU
 * ops on aliases and carries their version bumps over.) */
#include <stdlib.h>

#include "check.h"
#include "helpers.h"

#define DEV ((gids_device){GIDS_CUDA, 0})

static gids_status host_alloc(gids_allocator *self, int device_index, size_t nbytes, void **out) {
    *out = aligned_alloc(64, (nbytes + 63) / 64 * 64 + 64);
    if (*out == NULL)
        GIDS_FAIL(GIDS_ENOMEM, "stand-in device: out of memory for %zu bytes", nbytes);
    return GIDS_OK;
}

static void host_free(gids_allocator *self, int device_index, void *ptr, size_t nbytes) {
    free(ptr);
}

static gids_allocator allocator_ = {"stand-in", GIDS_CUDA, host_alloc, host_free, NULL};

static int one_device(void) {
    return 1;
}

static gids_status need_f32_contiguous(const gids_tensor *t) {
    GIDS_CHECK(t->dtype == GIDS_F32 && gids_tensor_is_contiguous(t), GIDS_EUNSUPPORTED,
               "stand-in device: contiguous f32 tensors only");
    return GIDS_OK;
}

/* Writes the bytes, as the CUDA plugin's entries; the version is the core's business. */
static gids_status bytes_fill(gids_tensor *t, gids_scalar value) {
    GIDS_TRY(need_f32_contiguous(t));
    float *p = gids_tensor_data(t);
    for (int64_t i = 0; i < gids_tensor_numel(t); i++) p[i] = (float)value.f;
    return GIDS_OK;
}

static uint64_t copy_saw_version; /* dst's version when the backend's copy ran */

static gids_status bytes_copy(gids_tensor *dst, const gids_tensor *src) {
    copy_saw_version = dst->storage->version;
    GIDS_TRY(need_f32_contiguous(dst));
    GIDS_TRY(need_f32_contiguous(src));
    GIDS_CHECK(gids_tensor_numel(dst) == gids_tensor_numel(src), GIDS_EUNSUPPORTED,
               "stand-in device: same sizes only");
    memcpy(gids_tensor_data(dst), gids_tensor_data(src),
           (size_t)gids_tensor_numel(src) * sizeof(float));
    return GIDS_OK;
}

static const gids_backend backend_ = {
    .abi = GIDS_BACKEND_ABI,
    .name = "stand-in",
    .device_count = one_device,
    .copy = bytes_copy,
    .fill = bytes_fill,
};

static gids_tensor *device_f32(int64_t n) {
    gids_tensor *t = NULL;
    CHECK_OK(gids_empty(&t, GIDS_F32, DEV, 1, &n));
    return t;
}

TEST(fill_of_a_device_tensor_bumps_its_version) {
    gids_tensor *t = device_f32(4);
    if (t == NULL) return;
    uint64_t before = t->storage->version;
    CHECK_OK(gids_fill_(t, gids_scalar_f(2.5)));
    CHECK(t->storage->version > before);
    CHECK(((const float *)gids_tensor_data(t))[3] == 2.5f);
    uint64_t once = t->storage->version;
    CHECK_OK(gids_fill_(t, gids_scalar_f(1)));
    CHECK(t->storage->version > once);
    gids_tensor_release(t);
}

TEST(a_failed_device_fill_leaves_the_version) {
    int64_t n = 4;
    gids_tensor *t = NULL;
    CHECK_OK(gids_empty(&t, GIDS_F64, DEV, 1, &n));
    if (t == NULL) return;
    uint64_t before = t->storage->version;
    CHECK_ERR(gids_fill_(t, gids_scalar_f(1)), GIDS_EUNSUPPORTED, "contiguous f32 tensors only");
    CHECK(t->storage->version == before);
    gids_tensor_release(t);
}

TEST(copy_into_a_device_tensor_bumps_its_version) {
    gids_tensor *src = vec_f32(3, (float[]){1, 2, 3}), *t = device_f32(3);
    if (t == NULL) return;
    uint64_t before = t->storage->version;
    CHECK_OK(gids_copy_(t, src));
    CHECK(t->storage->version > before);
    CHECK(((const float *)gids_tensor_data(t))[2] == 3.0f);
    gids_tensor_release(src);
    gids_tensor_release(t);
}

/* The backend's copy runs at the version the new contents will have, so it can note facts about
 * them (the CUDA plugin keeps an i64 tensor's range for its index checks, index_range.cu). */
TEST(a_device_copy_runs_at_the_bumped_version) {
    gids_tensor *src = vec_f32(2, (float[]){4, 5}), *t = device_f32(2);
    if (t == NULL) return;
    uint64_t before = t->storage->version;
    CHECK_OK(gids_copy_(t, src));
    CHECK(copy_saw_version > before);
    CHECK(copy_saw_version == t->storage->version);
    gids_tensor_release(src);
    gids_tensor_release(t);
}

int main(void) {
    gids_allocator_register(GIDS_CUDA, &allocator_);
    gids_backend_register(GIDS_CUDA, &backend_);
    RUN(fill_of_a_device_tensor_bumps_its_version);
    RUN(a_failed_device_fill_leaves_the_version);
    RUN(a_device_copy_runs_at_the_bumped_version);
    RUN(copy_into_a_device_tensor_bumps_its_version);
    return check_summary("device_version");
}
