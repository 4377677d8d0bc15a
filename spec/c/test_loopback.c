/* test_loopback.c -- the loopback plugin (runtime/src/loopback/) loaded as "the CUDA plugin":
 * round trips keep bits for every dtype, ops with a device entry give the CPU's result, in-place
 * entries write through and bump versions, kept bounds a GPU would trust are held to the values,
 * an absent entry is EUNSUPPORTED naming it, mixing devices is EDEVICE naming both, memory
 * statistics move and reset, and the plugin's list of entries agrees with the CUDA plugin's
 * table (runtime/src/cuda/device.cu).
 *
 * The Makefile links the runtime whole with -Wl,-E (the plugin resolves gids_* from the
 * process) and passes the plugin's path as LOOPBACK_SO and the checkout as SOURCE_ROOT.
 * GIDS_LOOPBACK_DISABLE=unique makes `unique` the absent entry. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gids/autograd.h"
#include "gids/io.h"
#include "helpers.h"
#include "loopback_load.h"

#include "../../runtime/src/loopback/loopback_entries.h"

#define DEV ((gids_device){GIDS_CUDA, 0})
#define MIB ((int64_t)1 << 20)

static const gids_backend *be_;

static gids_tensor *to(const gids_tensor *t, gids_device d) {
    gids_tensor *r = NULL;
    CHECK_OK(gids_to_device(&r, t, d));
    return r;
}

/* The bytes of t (any device, any strides) in row-major order, as a contiguous CPU tensor. */
static gids_tensor *host_packed(const gids_tensor *t) {
    gids_tensor *h = to(t, GIDS_DEVICE_CPU), *c = NULL;
    CHECK_OK(gids_contiguous(&c, h));
    gids_tensor_release(h);
    return c;
}

/* Same dtype, shape and bytes (a device result against the CPU's). */
static bool same_bits(const gids_tensor *dev, const gids_tensor *cpu) {
    if (dev == NULL || cpu == NULL) return dev == cpu;
    gids_tensor *a = host_packed(dev), *b = host_packed(cpu);
    bool ok = a->dtype == b->dtype && a->ndim == b->ndim &&
              memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0 &&
              memcmp(gids_tensor_data(a), gids_tensor_data(b),
                     (size_t)gids_tensor_numel(a) * gids_dtype_size(a->dtype)) == 0;
    gids_tensor_release(a);
    gids_tensor_release(b);
    return ok;
}

static bool on_device(const gids_tensor *t) {
    return t != NULL && gids_device_eq(gids_tensor_device(t), DEV);
}

TEST(loads_as_the_cuda_plugin_with_one_loopback_device) {
    CHECK(be_ != NULL && strcmp(be_->name, "loopback") == 0);
    CHECK(be_->device_count() == 1);
    char buf[1024];
    CHECK_OK(be_->info(buf, sizeof buf));
    CHECK(strstr(buf, "loopback (CPU) device") != NULL);
    CHECK(strstr(gids_backend_status(), "graphids_loopback.so") != NULL);
    CHECK_OK(be_->synchronize(0));
    CHECK_ERR(be_->synchronize(1), GIDS_EDEVICE, "cuda:1 does not exist");
}

TEST(round_trips_keep_the_bits_of_every_dtype_contiguous_and_strided) {
    const gids_dtype dts[6] = {GIDS_F32, GIDS_F64, GIDS_I64, GIDS_I32, GIDS_U8, GIDS_BOOL};
    unsigned char bytes[4 * 5 * 8];
    uint32_t r = 12345;
    for (size_t i = 0; i < sizeof bytes; i++) { /* NaN payloads, -0, huge ints: any bits */
        r = r * 1664525u + 1013904223u;
        bytes[i] = (unsigned char)(r >> 24);
    }
    int64_t shape[2] = {4, 5};
    for (int k = 0; k < 6; k++) {
        unsigned char data[sizeof bytes];
        memcpy(data, bytes, sizeof data);
        if (dts[k] == GIDS_BOOL)
            for (size_t i = 0; i < sizeof data; i++) data[i] &= 1;
        gids_tensor *c = from(dts[k], 2, shape, data), *ct = NULL, *d = to(c, DEV), *dt = NULL;
        CHECK(on_device(d));
        CHECK(same_bits(d, c));                 /* contiguous both ways */
        CHECK_OK(gids_transpose(&ct, c, 0, 1)); /* strided CPU source */
        gids_tensor *d2 = to(ct, DEV);
        CHECK(same_bits(d2, ct));
        CHECK_OK(gids_transpose(&dt, d, 0, 1)); /* strided device source */
        CHECK(same_bits(dt, ct));
        if (check_test_failed_) fprintf(stderr, "  (dtype %s)\n", gids_dtype_name(dts[k]));
        gids_tensor_release(d2);
        gids_tensor_release(dt);
        gids_tensor_release(ct);
        gids_tensor_release(d);
        gids_tensor_release(c);
    }
}

TEST(copies_convert_dtypes_and_broadcast_as_the_cpu) {
    int64_t n = 4, sh[2] = {3, 4};
    gids_tensor *c = from(GIDS_F64, 1, &n, (double[]){-1.5, 300.7, NAN, 2.0});
    gids_tensor *d = to(c, DEV), *di = NULL, *ci = NULL, *db = NULL, *cb = NULL;
    CHECK_OK(gids_empty(&di, GIDS_U8, DEV, 1, &n));
    CHECK_OK(gids_copy_(di, d)); /* device f64 -> device u8: saturates, NaN -> 0 */
    CHECK_OK(gids_empty(&ci, GIDS_U8, GIDS_DEVICE_CPU, 1, &n));
    CHECK_OK(gids_copy_(ci, c));
    CHECK(same_bits(di, ci));
    CHECK_OK(gids_empty(&db, GIDS_F32, DEV, 2, sh)); /* broadcast a row into a [3, 4] */
    CHECK_OK(gids_copy_(db, c));
    CHECK_OK(gids_empty(&cb, GIDS_F32, GIDS_DEVICE_CPU, 2, sh));
    CHECK_OK(gids_copy_(cb, c));
    CHECK(same_bits(db, cb));
    gids_tensor *rows = from(GIDS_F32, 1, &n, (float[]){1, 2, 3, 4}), *bad = NULL;
    CHECK_OK(gids_empty(&bad, GIDS_F32, DEV, 1, (int64_t[]){3}));
    CHECK_ERR(gids_copy_(bad, rows), GIDS_ESHAPE, "copy_");
    gids_tensor_release(bad);
    gids_tensor_release(rows);
    gids_tensor_release(cb);
    gids_tensor_release(db);
    gids_tensor_release(ci);
    gids_tensor_release(di);
    gids_tensor_release(d);
    gids_tensor_release(c);
}

TEST(f16_and_bf16_round_to_nearest_even_through_f32) {
    int64_t n = 6;
    /* f16: exact values, a tie rounding down to even, a tie rounding up, the largest, overflow */
    float in16[6] = {1.5f, -2.0f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65504.0f, 65520.0f};
    double want16[6] = {1.5, -2.0, 1.0, 1.0 + 0x1p-9, 65504.0, INFINITY};
    float inbf[6] = {1.5f, 0x1p-24f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -3.0f, 1e30f};
    double wantbf[6] = {1.5,          0x1p-24, 1.0,
                        1.0 + 0x1p-6, -3.0,    1.0002555517425873e+30 /* torch's bf16(1e30) */};
    for (int k = 0; k < 2; k++) {
        gids_dtype dt = k == 0 ? GIDS_F16 : GIDS_BF16;
        gids_tensor *c = vec_f32(n, k == 0 ? in16 : inbf), *h = NULL;
        CHECK_OK(gids_empty(&h, dt, DEV, 1, &n));
        CHECK_OK(gids_copy_(h, c));
        gids_tensor *back = NULL;
        CHECK_OK(gids_to_dtype(&back, h, GIDS_F32));
        gids_tensor *hb = to(back, GIDS_DEVICE_CPU);
        CHECK(same(hb, n, k == 0 ? want16 : wantbf));
        gids_tensor_release(hb);
        gids_tensor_release(back);
        gids_tensor_release(h);
        gids_tensor_release(c);
    }
    /* a subnormal half: 2^-24 is f16's smallest; half of it ties to 0 (even) */
    float sub[2] = {0x1p-24f, 0x1p-25f};
    gids_tensor *c = vec_f32(2, sub), *h = NULL, *back = NULL;
    CHECK_OK(gids_empty(&h, GIDS_F16, DEV, 1, (int64_t[]){2}));
    CHECK_OK(gids_copy_(h, c));
    CHECK_OK(gids_to_dtype(&back, h, GIDS_F32));
    gids_tensor *hb = to(back, GIDS_DEVICE_CPU);
    CHECK(same(hb, 2, (double[]){0x1p-24, 0.0}));
    gids_tensor_release(hb);
    gids_tensor_release(back);
    gids_tensor_release(h);
    gids_tensor_release(c);
}

/* safetensors save copies a device tensor's bytes to the host: a half view at an offset is
 * written as its F16 bits, which the CPU could not hold as a tensor. */
TEST(save_safetensors_writes_a_device_half_tensor_as_its_bits) {
    float in[6] = {1.5f, -2.0f, 1.0f, 65504.0f, 0.25f, -0.0f};
    gids_tensor *c = vec_f32(6, in), *h = NULL, *tail = NULL;
    CHECK_OK(gids_empty(&h, GIDS_F16, DEV, 1, (int64_t[]){6}));
    CHECK_OK(gids_copy_(h, c));
    CHECK_OK(gids_narrow(&tail, h, 0, 1, 4));
    char path[] = "/tmp/gids_loopback_st_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    const char *names[1] = {"h"};
    const gids_tensor *ts[1] = {tail};
    CHECK_OK(gids_safetensors_save(path, 1, names, ts, 0, NULL, NULL));
    FILE *f = fopen(path, "rb");
    unsigned char buf[256] = {0};
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = (hl << 8) | buf[k];
    const unsigned char want[8] = {0x00, 0xc0, 0x00, 0x3c, 0xff, 0x7b, 0x00, 0x34};
    CHECK(hl + 16 == n && memcmp(buf + 8 + hl, want, 8) == 0);
    CHECK(strstr((const char *)buf + 8, "\"dtype\":\"F16\",\"shape\":[4]") != NULL);
    gids_safetensors r;
    CHECK_OK(gids_safetensors_load(&r, path, false));
    CHECK(r.n == 1 && r.tensors[0]->dtype == GIDS_F32 &&
          same(r.tensors[0], 4, (double[]){-2.0, 1.0, 65504.0, 0.25}));
    gids_safetensors_free(&r);
    unlink(path);
    gids_tensor_release(tail);
    gids_tensor_release(h);
    gids_tensor_release(c);
}

TEST(a_half_product_is_the_f32_product_rounded) {
    int64_t sh[2] = {2, 2};
    gids_tensor *a = from(GIDS_F32, 2, sh, (float[]){1, 2, 3, 4});
    gids_tensor *b = from(GIDS_F32, 2, sh, (float[]){0.5f, -1, 2, 0.25f});
    gids_tensor *ah = NULL, *bh = NULL, *p = NULL, *p32 = NULL;
    gids_tensor *ad = to(a, DEV), *bd = to(b, DEV);
    CHECK_OK(gids_to_dtype(&ah, ad, GIDS_F16));
    CHECK_OK(gids_to_dtype(&bh, bd, GIDS_F16));
    CHECK_OK(gids_mm(&p, ah, bh));
    CHECK(on_device(p) && p->dtype == GIDS_F16);
    CHECK_OK(gids_to_dtype(&p32, p, GIDS_F32));
    gids_tensor *ph = to(p32, GIDS_DEVICE_CPU);
    CHECK(same(ph, 4, (double[]){4.5, -0.5, 9.5, -2.0}));
    gids_tensor *mixed = NULL;
    CHECK_ERR(gids_mm(&mixed, ah, bd), GIDS_EDTYPE, "f32");
    gids_tensor_release(ph);
    gids_tensor_release(p32);
    gids_tensor_release(p);
    gids_tensor_release(ah);
    gids_tensor_release(bh);
    gids_tensor_release(ad);
    gids_tensor_release(bd);
    gids_tensor_release(a);
    gids_tensor_release(b);
}

TEST(ops_with_a_device_entry_give_the_cpus_result_on_the_device) {
    int64_t sh[2] = {4, 3}, n = 4;
    gids_tensor *x = NULL, *w = NULL;
    gids_generator g;
    gids_generator_init(&g, 7);
    CHECK_OK(gids_randn(&x, &g, GIDS_F32, 2, sh));
    CHECK_OK(gids_randn(&w, &g, GIDS_F32, 2, (int64_t[]){3, 5}));
    gids_tensor *idx = vec_i64(n, (int64_t[]){2, 0, 2, 1});
    gids_tensor *xd = to(x, DEV), *wd = to(w, DEV), *idxd = to(idx, DEV);
    gids_tensor *c = NULL, *d = NULL, *ca = NULL, *da = NULL;

    CHECK_OK(gids_binary(&c, GIDS_MUL, x, x));
    CHECK_OK(gids_binary(&d, GIDS_MUL, xd, xd));
    CHECK(on_device(d) && same_bits(d, c));
    gids_tensor_release(c), gids_tensor_release(d);

    CHECK_OK(gids_matmul(&c, x, w));
    CHECK_OK(gids_matmul(&d, xd, wd));
    CHECK(on_device(d) && same_bits(d, c));
    gids_tensor_release(c), gids_tensor_release(d);

    CHECK_OK(gids_softmax(&c, x, 1));
    CHECK_OK(gids_softmax(&d, xd, 1));
    CHECK(on_device(d) && same_bits(d, c));
    gids_tensor_release(c), gids_tensor_release(d);

    /* two outputs, both moved */
    CHECK_OK(gids_segment_reduce(&c, &ca, GIDS_SEG_MAX, x, idx, 3));
    CHECK_OK(gids_segment_reduce(&d, &da, GIDS_SEG_MAX, xd, idxd, 3));
    CHECK(on_device(d) && on_device(da) && same_bits(d, c) && same_bits(da, ca));
    gids_tensor_release(c), gids_tensor_release(d), gids_tensor_release(ca),
        gids_tensor_release(da);
    c = d = ca = da = NULL;
    CHECK_OK(gids_max_dim(&c, &ca, x, 0, false));
    CHECK_OK(gids_max_dim(&d, &da, xd, 0, false));
    CHECK(on_device(d) && on_device(da) && same_bits(d, c) && same_bits(da, ca));
    gids_tensor_release(c), gids_tensor_release(d), gids_tensor_release(ca),
        gids_tensor_release(da);

    /* the CPU op's own errors come through unchanged */
    CHECK_ERR(gids_segment_reduce(&d, NULL, GIDS_SEG_SUM, xd, idxd, 2), GIDS_EINDEX, "2");

    gids_tensor_release(idxd), gids_tensor_release(wd), gids_tensor_release(xd);
    gids_tensor_release(idx), gids_tensor_release(w), gids_tensor_release(x);
}

/* sort, argsort, topk, cumsum and cumprod hand themselves to the device before any CPU check
 * (they failed with "arg 1 is on cuda:0, expected cpu" before the ABI 5 entries). */
TEST(sort_topk_and_scans_run_on_the_device) {
    int64_t sh[2] = {5, 6};
    gids_tensor *x = NULL;
    gids_generator g;
    gids_generator_init(&g, 11);
    CHECK_OK(gids_randint(&x, &g, GIDS_I64, 0, 3, 2, sh)); /* ties: stability shows */
    gids_tensor *xd = to(x, DEV);
    gids_tensor *c = NULL, *d = NULL, *ci = NULL, *di = NULL;

    CHECK_OK(gids_sort(&c, &ci, x, 1, true, true));
    CHECK_OK(gids_sort(&d, &di, xd, 1, true, true));
    CHECK(on_device(d) && on_device(di) && same_bits(d, c) && same_bits(di, ci));
    gids_tensor_release(d), gids_tensor_release(di);
    d = di = NULL;
    CHECK_OK(gids_argsort(&di, xd, 1, true, false));
    CHECK(on_device(di) && same_bits(di, ci));
    gids_tensor_release(c), gids_tensor_release(ci), gids_tensor_release(di);
    c = ci = d = di = NULL;

    CHECK_OK(gids_topk(&c, &ci, x, 2, 0, false, true));
    CHECK_OK(gids_topk(&d, &di, xd, 2, 0, false, true));
    CHECK(on_device(d) && on_device(di) && same_bits(d, c) && same_bits(di, ci));
    gids_tensor_release(c), gids_tensor_release(ci), gids_tensor_release(d),
        gids_tensor_release(di);
    CHECK_ERR(gids_topk(&d, &di, xd, 7, 1, true, true), GIDS_EINDEX, "k 7 out of range");

    for (int prod = 0; prod < 2; prod++) {
        c = d = NULL;
        CHECK_OK(prod ? gids_cumprod(&c, x, 0) : gids_cumsum(&c, x, 0));
        CHECK_OK(prod ? gids_cumprod(&d, xd, 0) : gids_cumsum(&d, xd, 0));
        CHECK(on_device(d) && same_bits(d, c));
        gids_tensor_release(c), gids_tensor_release(d);
    }
    gids_tensor_release(xd), gids_tensor_release(x);
}

TEST(in_place_entries_write_through_and_bump_the_device_version) {
    int64_t n = 6;
    gids_tensor *c = vec_f32(n, (float[]){1, 2, 3, 4, 5, 6});
    gids_tensor *d = to(c, DEV);
    gids_tensor *idx = vec_i64(3, (int64_t[]){1, 2, 3}), *idxd = to(idx, DEV);
    /* src is a view of self whose elements the op writes before it reads them: the CPU op
     * must see the overlap (and read src first) as it does on the CPU */
    gids_tensor *cs = NULL, *ds = NULL;
    CHECK_OK(gids_narrow(&cs, c, 0, 0, 3));
    CHECK_OK(gids_narrow(&ds, d, 0, 0, 3));
    uint64_t v0 = d->storage->version;
    CHECK_OK(gids_scatter_add_(c, 0, idx, cs));
    CHECK_OK(gids_scatter_add_(d, 0, idxd, ds));
    CHECK(same_bits(d, c));
    CHECK(same(c, 6, (double[]){1, 3, 5, 7, 5, 6})); /* src read before any write */
    CHECK(d->storage->version > v0);
    uint64_t v1 = d->storage->version;
    CHECK_OK(gids_fill_(ds, gids_scalar_f(-1)));
    CHECK_OK(gids_fill_(cs, gids_scalar_f(-1)));
    CHECK(same_bits(d, c) && d->storage->version > v1);
    gids_tensor_release(ds), gids_tensor_release(cs);
    gids_tensor_release(idxd), gids_tensor_release(idx);
    gids_tensor_release(d), gids_tensor_release(c);
}

/* An i64 tensor made on the device from floats: no range is kept for it. */
static gids_tensor *made_on_device(int ndim, const int64_t *shape, const double *v) {
    gids_tensor *h = NULL, *hd = NULL, *r = NULL;
    CHECK_OK(gids_empty(&h, GIDS_F64, GIDS_DEVICE_CPU, ndim, shape));
    memcpy(gids_tensor_data(h), v, (size_t)gids_tensor_numel(h) * sizeof(double));
    hd = to(h, DEV);
    CHECK_OK(gids_to_dtype(&r, hd, GIDS_I64));
    gids_tensor_release(hd), gids_tensor_release(h);
    return r;
}

/* Where kept bounds of an index fit, a GPU checks nothing and reads what the index says: the
 * loopback has the values at hand and refuses bounds they break (a wrong range noted by the
 * runtime, core/ranges.c), where the CPU op would see nothing wrong with an index in range. */
TEST(kept_bounds_a_gpu_would_trust_are_held_to_the_values) {
    gids_tensor *x = NULL, *xd = NULL, *r = NULL;
    CHECK_OK(gids_zeros(&x, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){50}));
    xd = to(x, DEV);
    gids_tensor *d = made_on_device(1, (int64_t[]){5}, (double[]){3, 0, 40, 3, 17});
    be_->range_note(d, 0, 20); /* wrong: 40 is beyond it, yet within x's 50 rows */
    CHECK_ERR(gids_index_select(&r, xd, 0, d), GIDS_ESTATE, "kept bounds [0, 20] are wrong");
    CHECK(r == NULL);
    CHECK_ERR(gids_gather(&r, xd, 0, d), GIDS_ESTATE, "it holds 40");
    CHECK_OK(be_->reset(-1));  /* drops the kept ranges */
    be_->range_note(d, 0, 45); /* right (if loose): used as the GPU would, and fine */
    CHECK_OK(gids_index_select(&r, xd, 0, d));
    gids_tensor_release(r);
    r = NULL;
    gids_tensor *ei = made_on_device(2, (int64_t[]){2, 2}, (double[]){0, 1, 1, 9});
    gids_tensor *src = NULL, *srcd = NULL, *row = NULL;
    CHECK_OK(gids_ones(&src, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){2}));
    srcd = to(src, DEV);
    CHECK_OK(gids_select(&row, ei, 0, 1));
    be_->range_note(ei, 0, 3); /* a superset's bounds cover the row: its 9 breaks them */
    CHECK_ERR(gids_segment_reduce(&r, NULL, GIDS_SEG_SUM, srcd, row, 10), GIDS_ESTATE,
              "segment_reduce (loopback)");
    CHECK(r == NULL);
    gids_tensor_release(row), gids_tensor_release(srcd), gids_tensor_release(src);
    gids_tensor_release(ei), gids_tensor_release(d);
    gids_tensor_release(xd), gids_tensor_release(x);
    CHECK_OK(be_->reset(-1));
}

TEST(bernoulli_draws_the_cpus_numbers_and_advances_the_generator) {
    int64_t n = 37;
    gids_tensor *c = NULL, *d = NULL;
    CHECK_OK(gids_empty(&c, GIDS_F32, GIDS_DEVICE_CPU, 1, &n));
    CHECK_OK(gids_empty(&d, GIDS_F32, DEV, 1, &n));
    gids_generator gc, gd;
    gids_generator_init(&gc, 99);
    gids_generator_init(&gd, 99);
    gc.offset = gd.offset = 5;
    CHECK_OK(gids_bernoulli_(c, &gc, 0.3));
    CHECK_OK(gids_bernoulli_(d, &gd, 0.3));
    CHECK(same_bits(d, c));
    CHECK(gc.offset == gd.offset && gd.offset == 5 + (uint64_t)n);
    gids_tensor_release(d), gids_tensor_release(c);
}

TEST(new_device_memory_is_poisoned_and_not_host_addressable) {
    int64_t n = 3;
    gids_tensor *d = NULL;
    CHECK_OK(gids_empty(&d, GIDS_F32, DEV, 1, &n));
    /* a non-canonical address: host code dereferencing it faults, as a GPU pointer would */
    CHECK(((uintptr_t)d->storage->data >> 62 & 1) == 1);
    gids_tensor *h = to(d, GIDS_DEVICE_CPU);
    for (int i = 0; i < 3; i++) CHECK(isnan(at(h, i)));
    gids_tensor_release(h), gids_tensor_release(d);
}

TEST(an_entry_the_backend_lacks_is_eunsupported_naming_the_op_and_device) {
    CHECK(be_->unique == NULL); /* GIDS_LOOPBACK_DISABLE=unique */
    gids_tensor *c = vec_i64(3, (int64_t[]){3, 1, 3}), *d = to(c, DEV), *v = NULL;
    CHECK_ERR(gids_unique(&v, NULL, NULL, d), GIDS_EUNSUPPORTED, "unique");
    CHECK(strstr(gids_error_message(), "cuda:0") != NULL);
    CHECK(v == NULL);
    CHECK_OK(gids_unique(&v, NULL, NULL, c)); /* the CPU is unaffected */
    gids_tensor_release(v), gids_tensor_release(d), gids_tensor_release(c);
}

TEST(mixing_a_cpu_and_a_device_tensor_is_edevice_naming_both) {
    gids_tensor *c = vec_f32(2, (float[]){1, 2}), *d = to(c, DEV), *o = NULL;
    CHECK_ERR(gids_binary(&o, GIDS_ADD, c, d), GIDS_EDEVICE, "cpu and cuda:0");
    CHECK_ERR(gids_binary(&o, GIDS_ADD, d, c), GIDS_EDEVICE, "cuda:0 and cpu");
    gids_tensor *idx = vec_i64(1, (int64_t[]){1});
    CHECK_ERR(gids_index_select(&o, d, 0, idx), GIDS_EDEVICE, "cuda:0 and cpu");
    CHECK_ERR(gids_to_device(&o, c, (gids_device){GIDS_CUDA, 3}), GIDS_EDEVICE,
              "cuda:3 does not exist");
    CHECK(o == NULL);
    /* a gradient on another device is refused where it is set, not in the next backward */
    CHECK_ERR(gids_set_grad(d, c), GIDS_EDEVICE, "grad: a gradient on cpu for a tensor on cuda:0");
    CHECK(gids_grad(d) == NULL);
    /* The in-place forms run out of place on the device and copy into the output: an output on
     * another device is refused, not copied across (the CPU output keeps its values). */
    CHECK_ERR(gids_unary_into(c, GIDS_EXP, d), GIDS_EDEVICE, "output is on cpu");
    CHECK_ERR(gids_binary_scalar_into(c, GIDS_MUL, d, gids_scalar_f(2), false), GIDS_EDEVICE,
              "the operands on cuda:0");
    CHECK(((float *)gids_tensor_data(c))[1] == 2.0f);
    CHECK_OK(gids_binary_scalar_into(d, GIDS_MUL, d, gids_scalar_f(2), false));
    gids_tensor *back = to(d, GIDS_DEVICE_CPU);
    CHECK(((float *)gids_tensor_data(back))[1] == 4.0f);
    gids_tensor_release(back);
    gids_tensor_release(idx), gids_tensor_release(d), gids_tensor_release(c);
}

TEST(element_reads_of_a_device_tensor_copy_one_element_to_the_host) {
    gids_tensor *c = vec_f32(6, (float[]){1, 2, 3, 4, 5, 6}), *d = to(c, DEV), *n = NULL;
    CHECK_OK(gids_narrow(&n, d, 0, 2, 3)); /* a view: the read follows its offset */
    double v = 0;
    int64_t i = 0;
    CHECK_OK(gids_tensor_get(n, 1, &v));
    CHECK(v == 4.0);
    CHECK_OK(gids_tensor_get_i64(d, 5, &i));
    CHECK(i == 6);
    CHECK_ERR(gids_tensor_get(n, 3, &v), GIDS_EINDEX, "element 3 out of range");
    gids_tensor_release(n), gids_tensor_release(d), gids_tensor_release(c);
}

TEST(memory_statistics_move_with_allocations_and_reset) {
    gids_gpu_memory m0, m1, m2, m3;
    CHECK_OK(be_->reset(0));
    CHECK_OK(be_->memory(0, &m0));
    CHECK(m0.reserved == m0.allocated && m0.total > 0 && m0.free > 0);
    gids_mem_stats s0, s1;
    gids_memory_stats(DEV, &s0);
    gids_tensor *t = NULL;
    CHECK_OK(gids_zeros(&t, GIDS_F32, DEV, 1, (int64_t[]){3 * MIB / 4})); /* 3 MiB */
    CHECK_OK(be_->memory(0, &m1));
    gids_memory_stats(DEV, &s1);
    CHECK(m1.allocated - m0.allocated >= 3 * MIB);
    CHECK(m1.peak >= m1.allocated);
    CHECK(s1.current_bytes - s0.current_bytes == 3 * MIB); /* the runtime's own counter */
    gids_tensor_release(t);
    CHECK_OK(be_->memory(0, &m2));
    CHECK(m2.allocated == m0.allocated);
    CHECK(m2.reserved >= m2.allocated + 3 * MIB); /* cached, as on the GPU */
    CHECK(m2.peak == m1.peak);
    CHECK_OK(be_->reset(0));
    CHECK_OK(be_->memory(0, &m3));
    CHECK(m3.reserved == m3.allocated && m3.peak == m3.allocated);
    CHECK_ERR(be_->memory(2, &m3), GIDS_EDEVICE, "cuda:2");
    /* more than the device (the host's RAM) holds: an error naming the request, no abort */
    CHECK_ERR(gids_empty(&t, GIDS_F32, DEV, 2, (int64_t[]){1 << 20, 1 << 20}), GIDS_ENOMEM,
              "requested");
}

/* Items of the initializer of gc_backend in device.cu after abi and name: "present" or
 * "NULL", with the field name its comment gives (empty when none). */
typedef struct {
    bool present;
    char comment[64];
} cuda_item;

static int read_cuda_table(cuda_item *items, int max) {
    FILE *f = fopen(SOURCE_ROOT "/runtime/src/cuda/device.cu", "r");
    if (f == NULL) return -1;
    static char src[1 << 17];
    size_t len = fread(src, 1, sizeof src - 1, f);
    fclose(f);
    src[len] = '\0';
    char *p = strstr(src, "const gids_backend gc_backend = {");
    if (p == NULL) return -2;
    p = strchr(p, '{') + 1;
    int n = 0, field = 0;
    while (*p != '\0' && *p != '}') {
        char *end = strchr(p, ','), *close = strchr(p, '}');
        if (end == NULL || (close != NULL && close < end)) end = close;
        if (end == NULL) return -3;
        char item[256] = "";
        size_t k = (size_t)(end - p) < sizeof item - 1 ? (size_t)(end - p) : sizeof item - 1;
        memcpy(item, p, k);
        item[k] = '\0';
        p = end + (*end == ',');
        /* the comment naming this field follows its comma on the same line */
        char comment[64] = "";
        char *q = p;
        while (*q == ' ') q++;
        if (strncmp(q, "/*", 2) == 0) {
            sscanf(q + 2, " %63[a-z0-9_]", comment);
            q = strstr(q, "*/");
            if (q != NULL) p = q + 2;
        }
        char word[128] = "";
        if (sscanf(item, " %127[A-Za-z0-9_\"]", word) != 1) continue;
        if (field++ < 2) continue; /* abi, name */
        if (n == max) return -4;
        items[n].present = strcmp(word, "NULL") != 0 && strcmp(word, "nullptr") != 0;
        snprintf(items[n].comment, sizeof items[n].comment, "%s", comment);
        n++;
    }
    return n;
}

TEST(the_entry_list_agrees_with_the_cuda_plugins_table) {
    lb_entries_fn fn = (lb_entries_fn)dlsym(RTLD_DEFAULT, LB_ENTRIES_SYMBOL);
    CHECK(fn != NULL);
    if (fn == NULL) return;
    int n = 0;
    const lb_entry *e = fn(&n);
    cuda_item items[128];
    int m = read_cuda_table(items, 128);
    if (m != n)
        CHECK_FAIL_("device.cu's gc_backend has %d entries (%d: unreadable), the list %d", m, m, n);
    size_t ptr = sizeof(void (*)(void));
    for (int k = 0; k < n; k++) {
        /* the list follows gids_backend's field order with no gaps */
        if (e[k].offset != offsetof(gids_backend, device_count) + (size_t)k * ptr)
            CHECK_FAIL_("entry %s: offset %zu is not field %d", e[k].name, e[k].offset, k);
        if (k < m && items[k].comment[0] != '\0' && strcmp(items[k].comment, e[k].name) != 0)
            CHECK_FAIL_("entry %d: the list says %s, device.cu's comment %s", k, e[k].name,
                        items[k].comment);
        if (k < m && items[k].present != e[k].in_cuda)
            CHECK_FAIL_("entry %s: CUDA has it %s, loopback_entries.h says %d", e[k].name,
                        items[k].present ? "yes" : "no", e[k].in_cuda);
        /* the registered backend: NULL exactly where the CUDA plugin is (and for `unique`) */
        void *fp = NULL;
        memcpy(&fp, (const char *)be_ + e[k].offset, ptr);
        bool want = e[k].in_cuda && strcmp(e[k].name, "unique") != 0;
        if ((fp != NULL) != want || e[k].present != want)
            CHECK_FAIL_("entry %s: registered %s, expected %s", e[k].name, fp ? "set" : "NULL",
                        want ? "set" : "NULL");
    }
}

int main(void) {
    if (!load_loopback("unique")) return check_summary("loopback");
    be_ = gids_backend_get(GIDS_CUDA);
    RUN(loads_as_the_cuda_plugin_with_one_loopback_device);
    RUN(round_trips_keep_the_bits_of_every_dtype_contiguous_and_strided);
    RUN(copies_convert_dtypes_and_broadcast_as_the_cpu);
    RUN(f16_and_bf16_round_to_nearest_even_through_f32);
    RUN(a_half_product_is_the_f32_product_rounded);
    RUN(save_safetensors_writes_a_device_half_tensor_as_its_bits);
    RUN(ops_with_a_device_entry_give_the_cpus_result_on_the_device);
    RUN(sort_topk_and_scans_run_on_the_device);
    RUN(in_place_entries_write_through_and_bump_the_device_version);
    RUN(kept_bounds_a_gpu_would_trust_are_held_to_the_values);
    RUN(bernoulli_draws_the_cpus_numbers_and_advances_the_generator);
    RUN(new_device_memory_is_poisoned_and_not_host_addressable);
    RUN(an_entry_the_backend_lacks_is_eunsupported_naming_the_op_and_device);
    RUN(mixing_a_cpu_and_a_device_tensor_is_edevice_naming_both);
    RUN(element_reads_of_a_device_tensor_copy_one_element_to_the_host);
    RUN(memory_statistics_move_with_allocations_and_reset);
    RUN(the_entry_list_agrees_with_the_cuda_plugins_table);
    CHECK_OK(be_->reset(-1)); /* cached blocks back before the leak check */
    return check_summary("loopback");
}
