/* test_null_args.c -- a NULL where the public API expects an output or an object is EINVAL naming
 * it, never a crash (found by an embedding audit that called every function in gids/ with a
 * NULL in each pointer argument); the calls with no status to return (init, free, retain,
 * lookups and formatting helpers) ignore a NULL.  A helper that starts its messages with its
 * caller's name refuses a NULL name (printf of a NULL %s is undefined; glibc printed "(null)").
 * The tensor ops' NULL operands are covered in test_tensor.c (null_arguments_are_einval). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gids/sha256.h"

TEST(can_tables_readers_and_simulator) {
    gids_can_frames f;
    gids_can_frames_init(NULL);
    gids_can_frames_free(NULL);
    gids_can_read_opts_init(NULL);
    gids_can_sim_opts_init(NULL);
    CHECK_ERR(gids_can_frames_push(NULL, 1.0, 0x110, 0, 0, NULL, 0), GIDS_EINVAL,
              "gids_can_frames_push: f is NULL");
    CHECK_ERR(gids_can_read("x.csv", NULL, NULL, NULL), GIDS_EINVAL, "read_can: out is NULL");
    CHECK_ERR(gids_can_read_buffer("abc", 3, "x", NULL, NULL, NULL), GIDS_EINVAL,
              "read_can_buffer: out is NULL");
    /* the table is initialised before the other arguments are refused: freeing it is safe */
    CHECK_ERR(gids_can_read_buffer(NULL, 10, "x", NULL, &f, NULL), GIDS_EINVAL,
              "x: text is NULL with length 10");
    CHECK(f.n == 0 && f.ts == NULL);
    gids_can_frames_free(&f);
    CHECK_ERR(gids_can_read_buffer("abc", -1, "x", NULL, &f, NULL), GIDS_EINVAL,
              "x: negative length -1");
    gids_can_frames_free(&f);
    CHECK_ERR(gids_can_read_buffer("abc", 3, NULL, NULL, &f, NULL), GIDS_EINVAL,
              "read_can_buffer: name is NULL");
    gids_can_frames_free(&f);
    /* a NULL text of no bytes is the empty file it stands for */
    CHECK_ERR(gids_can_read_buffer(NULL, 0, "x", NULL, &f, NULL), GIDS_EFORMAT, "x: empty file");
    gids_can_frames_free(&f);
    const char *paths[1] = {"x.csv"};
    CHECK_ERR(gids_can_read_many(paths, 1, NULL, NULL, NULL), GIDS_EINVAL,
              "read_can_many: out is NULL with 1 files");
    CHECK_ERR(gids_can_read_many(NULL, 1, NULL, &f, NULL), GIDS_EINVAL,
              "read_can_many: paths is NULL with 1 files");
    CHECK_OK(gids_can_read_many(NULL, 0, NULL, NULL, NULL)); /* nothing to read */
    CHECK_ERR(gids_can_simulate(NULL, GIDS_CAN_ATK_NONE, NULL), GIDS_EINVAL,
              "can_simulate: out is NULL");
    CHECK_ERR(gids_can_rule_parse("115#00", NULL), GIDS_EINVAL, "attack rule: out is NULL");
    CHECK_ERR(gids_can_format_parse("csv", NULL), GIDS_EINVAL, "can format: out is NULL");
}

TEST(vocabulary_and_windows) {
    gids_can_vocab v;
    uint32_t id = 0x110;
    uint8_t ext = 0;
    int extended = 0;
    CHECK_ERR(gids_can_vocab_from_frames(NULL, NULL, 0, 0), GIDS_EINVAL,
              "can vocab: out (the vocabulary) is NULL");
    CHECK_ERR(gids_can_vocab_from_ids(NULL, &id, &ext, 1), GIDS_EINVAL,
              "can vocab: out (the vocabulary) is NULL");
    gids_can_vocab_free(NULL);
    CHECK(gids_can_vocab_lookup(NULL, 0x110, 0) == 0);
    CHECK_OK(gids_can_vocab_from_ids(&v, &id, &ext, 1));
    CHECK(gids_can_vocab_lookup(&v, 0x110, 0) == 1);
    gids_can_vocab_free(&v);
    CHECK(gids_can_vocab_lookup(&v, 0x110, 0) == 0); /* a freed vocabulary knows no id */
    CHECK_ERR(gids_can_id_parse("110", NULL, &extended), GIDS_EINVAL,
              "can id: out (id or extended) is NULL");
    CHECK_ERR(gids_can_id_parse("110", &id, NULL), GIDS_EINVAL,
              "can id: out (id or extended) is NULL");
    gids_can_id_text(NULL, 0x110, 0);
    gids_window_opts o = gids_window_opts_default();
    CHECK_ERR(gids_build_windows(NULL, NULL, NULL, 0, NULL, &o), GIDS_EINVAL,
              "build_windows: out is NULL");
}

TEST(files_and_digests) {
    CHECK_ERR(gids_atomic_open(NULL, "x"), GIDS_EINVAL, "atomic write: the file is NULL");
    CHECK_ERR(gids_atomic_commit(NULL), GIDS_EINVAL, "atomic write: the file is NULL");
    gids_atomic_abort(NULL);
    CHECK_ERR(gids_fsync_dir(NULL), GIDS_EINVAL, "fsync: the directory is NULL");
    /* a file that exists, so only the NULL out can be what is refused */
    CHECK_ERR(gids_sha256_file_hex(NULL, "spec/c/test_null_args.c"), GIDS_EINVAL,
              "sha256_file: out is NULL");
}

TEST(devices_memory_and_shapes) {
    gids_device d;
    char buf[32];
    CHECK_ERR(gids_device_parse("cpu", NULL), GIDS_EINVAL, "device_parse: out is NULL");
    CHECK_ERR(gids_device_parse(NULL, &d), GIDS_EINVAL, "device: expected a name, got NULL");
    CHECK(gids_device_str(GIDS_DEVICE_CPU, NULL, 16) == NULL);
    CHECK_ERR(gids_memory_stats(GIDS_DEVICE_CPU, NULL), GIDS_EINVAL, "memory_stats: out is NULL");
    gids_mem_stats st;
    CHECK_OK(gids_memory_stats(GIDS_DEVICE_CPU, &st));
    /* a device type with no allocator, named once and without the CUDA plugin's hint */
    gids_tensor *t = NULL;
    CHECK_ERR(gids_empty(&t, GIDS_F32, (gids_device){(gids_device_type)7, 0}, 1, (int64_t[]){2}),
              GIDS_EDEVICE, "storage: no allocator for device type 7");
    CHECK(strstr(gids_error_message(), "plugin") == NULL);
    gids_storage_retain(NULL);
    CHECK(!gids_tensor_is_contiguous(NULL));
    CHECK(gids_device_eq(gids_tensor_device(NULL), GIDS_DEVICE_CPU));
    CHECK(gids_result_type(NULL, NULL) == GIDS_F32);
    CHECK(strcmp(gids_shape_str(2, NULL, buf, sizeof buf), "[NULL]") == 0);
    CHECK(gids_shape_str(2, (int64_t[]){2, 3}, NULL, 16) == NULL);
    int64_t shape[GIDS_MAX_DIMS + 1] = {0}, two[1] = {2};
    int n = 0;
    CHECK_ERR(gids_broadcast_shapes("add", 1, NULL, 1, two, &n, shape), GIDS_EINVAL,
              "add: shape a is NULL for 1 dims");
    CHECK_ERR(gids_broadcast_shapes("add", 1, two, 2, NULL, &n, shape), GIDS_EINVAL,
              "add: shape b is NULL for 2 dims");
    /* more dims than a shape holds used to overrun the result on the stack */
    int64_t ones[GIDS_MAX_DIMS + 1];
    for (int i = 0; i <= GIDS_MAX_DIMS; i++) ones[i] = 1;
    CHECK_ERR(gids_broadcast_shapes("add", GIDS_MAX_DIMS + 1, ones, 1, two, &n, shape), GIDS_EINVAL,
              "add: shapes of 9 and 1 dims, each 0..8");
}

/* Each with arguments it would otherwise refuse, naming the caller: only the name is missing. */
TEST(a_caller_name_is_required_where_messages_start_with_it) {
    const char *msg = "op (the caller's name for messages) is NULL";
    int d = 0, n = 0;
    int64_t shape[GIDS_MAX_DIMS], numel = 0;
    CHECK_ERR(gids_normalize_dim(NULL, 5, 2, &d), GIDS_EINVAL, "normalize_dim: op (the caller");
    CHECK_ERR(gids_broadcast_shapes(NULL, 1, (int64_t[]){2}, 1, (int64_t[]){3}, &n, shape),
              GIDS_EINVAL, "broadcast_shapes: op (the caller's name for messages) is NULL");
    CHECK_ERR(gids_shape_numel(NULL, 1, (int64_t[]){-1}, &numel), GIDS_EINVAL, msg);
    CHECK_ERR(gids_device_check(NULL, (gids_device){GIDS_CPU, 3}), GIDS_EINVAL,
              "device_check: op (the caller");
    gids_tensor *a = NULL;
    CHECK_OK(gids_zeros(&a, GIDS_F32, GIDS_DEVICE_CPU, 1, (int64_t[]){2}));
    CHECK_ERR(gids_ag_check_inplace(NULL, a, 0, NULL), GIDS_EINVAL,
              "check_inplace: op (the caller");
    gids_tensor_release(a);
    /* the name given: the usual message */
    CHECK_ERR(gids_normalize_dim("sum", 5, 2, &d), GIDS_EINDEX, "sum: dim 5 out of range");
    CHECK_ERR(gids_device_check("to", (gids_device){GIDS_CPU, 3}), GIDS_EDEVICE,
              "to: device cpu:3 does not exist");
    CHECK_OK(gids_normalize_dim("sum", -1, 2, &d));
    CHECK(d == 1);
}

TEST(ops_autograd_and_generators) {
    gids_tensor *a = NULL, *o = NULL, *x = NULL, *att = NULL, *ei = NULL;
    int64_t sh[2] = {2, 2};
    gids_dtype dt;
    CHECK_OK(gids_ones(&a, GIDS_F32, GIDS_DEVICE_CPU, 2, sh));
    CHECK_ERR(gids_to_device(NULL, a, GIDS_DEVICE_CPU), GIDS_EINVAL, "to: out is NULL");
    int64_t s3[3] = {2, 2, 2};
    CHECK_OK(gids_ones(&x, GIDS_F32, GIDS_DEVICE_CPU, 3, s3));
    CHECK_ERR(gids_bmm(NULL, x, x), GIDS_EINVAL, "bmm: out is NULL");
    CHECK_ERR(gids_stack(&o, 2, NULL, 0), GIDS_EINVAL, "stack: the list is NULL with 2 tensors");
    CHECK_ERR(gids_binop_result_dtype(GIDS_ADD, GIDS_F32, GIDS_F32, NULL), GIDS_EINVAL,
              "binop_result_dtype: out is NULL");
    CHECK_ERR(gids_unop_result_dtype(GIDS_NEG, GIDS_F32, NULL), GIDS_EINVAL,
              "unop_result_dtype: out is NULL");
    CHECK_OK(gids_unop_result_dtype(GIDS_NEG, GIDS_I32, &dt));
    CHECK(dt == GIDS_I32);
    /* GAT over x [2 nodes, 2 heads, 2 channels] and one edge: valid, so only out is refused */
    CHECK_OK(gids_ones(&att, GIDS_F32, GIDS_DEVICE_CPU, 2, sh));
    CHECK_OK(gids_zeros(&ei, GIDS_I64, GIDS_DEVICE_CPU, 2, (int64_t[]){2, 1}));
    CHECK_ERR(gids_gat_attention(NULL, NULL, x, att, att, NULL, ei, 2, 0.2, NULL), GIDS_EINVAL,
              "gat_attention: out is NULL");
    CHECK_OK(
        gids_gat_attention(&o, NULL, x, att, att, NULL, ei, 2, 0.2, NULL)); /* alpha optional */
    gids_tensor_release(o);
    o = NULL;
    CHECK_ERR(gids_ag_check_inplace("add_", NULL, 0, NULL), GIDS_EINVAL,
              "add_: the target is NULL");
    CHECK_ERR(gids_ag_check_inplace("add_", a, 1, NULL), GIDS_EINVAL,
              "add_: the inputs are NULL with 1 inputs");
    CHECK(!gids_ag_should_record(1, NULL));
    /* a NULL generator is the default one, as for the draws */
    uint64_t seed = 0, offset = 1;
    gids_generator_init(NULL, 77);
    gids_generator_get_state(gids_default_generator(), &seed, &offset);
    CHECK(seed == 77 && offset == 0);
    gids_generator_set_state(NULL, 5, 9);
    gids_generator_get_state(NULL, &seed, NULL);
    gids_generator_get_state(NULL, NULL, &offset);
    CHECK(seed == 5 && offset == 9);
    gids_manual_seed(0);
    CHECK(o == NULL);
    gids_tensor_release(a);
    gids_tensor_release(x);
    gids_tensor_release(att);
    gids_tensor_release(ei);
}

int main(void) {
    RUN(can_tables_readers_and_simulator);
    RUN(vocabulary_and_windows);
    RUN(files_and_digests);
    RUN(devices_memory_and_shapes);
    RUN(a_caller_name_is_required_where_messages_start_with_it);
    RUN(ops_autograd_and_generators);
    return check_summary("null_args");
}
