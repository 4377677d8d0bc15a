/* test_windows.c -- window graphs against hand-computed features (self-loops, parallel edges,
 * repeated ids, a single-id window, unknown ids collapsing into UNK or kept apart with
 * node_by_id, W = 2), the reference's and
 * the aligned edge layouts, windows that never straddle files, labels, edgeless windows, thread
 * independence, errors; the id vocabulary (text order, parsing, repeats); the scaler. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gids/windows.h"
#include "helpers.h"

#define A 0x100
#define B 0x200
#define C 0x300

static void push(gids_can_frames *f, double ts, uint32_t id, uint8_t b0, uint8_t b1, int attack) {
    uint8_t p[8] = {b0, b1};
    CHECK_OK(gids_can_frames_push(f, ts, id, 0, 8, p, (uint8_t)attack));
}

/* Window 1 (rows 0-5): A B A A C A, attack at row 4.  Window 2 (rows 6-11): two ids absent
 * from the vocabulary, which share the UNK node.  Row 12 is a partial window. */
static void example(gids_can_frames *f) {
    gids_can_frames_init(f);
    push(f, 0.0, A, 10, 10, 0);
    push(f, 0.1, B, 20, 0, 0);
    push(f, 0.3, A, 10, 0, 0);
    push(f, 0.4, A, 14, 0, 0);
    push(f, 0.7, C, 0, 0, 1);
    push(f, 1.0, A, 30, 0, 0);
    for (int i = 0; i < 6; i++) push(f, 2.0 + i, i % 2 ? 0x7AA : 0x7AB, 1, 2, 0);
    push(f, 9.0, A, 1, 1, 0);
}

static void vocab_abc(gids_can_vocab *v) {
    uint32_t ids[3] = {A, B, C};
    uint8_t ext[3] = {0, 0, 0};
    CHECK_OK(gids_can_vocab_from_ids(v, ids, ext, 3));
}

/* The first n values of an integer tensor. */
static int starts_with_i(const gids_tensor *t, int64_t n, const int64_t *want) {
    if (t == NULL || gids_tensor_numel(t) < n) return 0;
    for (int64_t i = 0; i < n; i++)
        if (at_i(t, i) != want[i]) return 0;
    return 1;
}

static const float *row(const gids_tensor *t, int64_t r) {
    return (const float *)gids_tensor_data(t) + r * t->shape[1];
}

static void check_row(const gids_tensor *t, int64_t r, int n, const double *want, double tol) {
    const float *x = row(t, r);
    for (int i = 0; i < n; i++)
        if (!(fabs(x[i] - want[i]) <= tol * (1 + fabs(want[i]))))
            CHECK_FAIL_("row %lld column %d = %.9g, expected %.9g", (long long)r, i, x[i], want[i]);
}

TEST(builds_the_reference_features_of_a_hand_computed_window) {
    gids_can_frames f;
    example(&f);
    gids_can_vocab v;
    vocab_abc(&v);
    const gids_can_frames *files[1] = {&f};
    int64_t code = 6;
    gids_window_opts o = {.window = 6, .stride = 6};
    gids_graph_set s;
    CHECK_OK(gids_build_windows(&s, files, &code, 1, &v, &o));
    CHECK_OK(gids_graph_set_validate(&s));
    CHECK(s.num_graphs == 2);
    check_shape(s.x, 2, (int64_t[]){4, 35});
    check_shape(s.edge_attr, 2, (int64_t[]){8, 11});
    CHECK(same_i(s.node_ptr, 3, (int64_t[]){0, 3, 4}));
    CHECK(same_i(s.edge_ptr, 3, (int64_t[]){0, 4, 8}));
    /* nodes in order of first appearance; the second window's two unknown ids are one UNK node */
    CHECK(same_i(s.node_id, 4, (int64_t[]){1, 2, 3, 0}));
    /* reference edges: rows 1->2, 2->3, 3->4, 4->5 (B A, A A, A C, C A), then 4 UNK self-loops */
    CHECK(same_i(s.edge_index, 16, (int64_t[]){1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0}));
    /* each edge carries the step before it: rows (0,1), (1,2), (2,3), (3,4) */
    check_row(s.edge_attr, 0, 11, (double[]){0.1, 10, 10, 0, 0, 0, 0, 0, 0, 0, 1}, 1e-6);
    check_row(s.edge_attr, 1, 11, (double[]){0.2, 10, 0, 0, 0, 0, 0, 0, 0, 1, 1}, 1e-6);
    check_row(s.edge_attr, 2, 11, (double[]){0.1, 4, 0, 0, 0, 0, 0, 0, 0, 1, 1}, 1e-6);
    check_row(s.edge_attr, 3, 11, (double[]){0.3, 14, 0, 0, 0, 0, 0, 0, 0, 1, 1}, 1e-6);
    /* UNK self-loops: parallel edges counted by edge_freq, a self-loop is its own reverse */
    check_row(s.edge_attr, 5, 11, (double[]){1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 4}, 1e-6);
    /* node A: rows 0 2 3 5, byte0 10 10 14 30, byte1 10 0 0 0, gaps .3 .1 .6 (values from
     * polars: skew 1.02721 / 1.154701, kurtosis -0.782007 / -0.666667, std 9.521905 / 5) */
    double a[35] = {16,
                    2.5,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    9.521905,
                    5,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    20,
                    10,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    4,
                    0.6931471806 / 4,
                    0.2727387806,
                    -0.1810841984,
                    1.0 / 3, /* N(A) = {A, B, C}: 2 * tri = |{B, C}| from v = A */
                    0.5,
                    0.125,
                    1.0 / 3,
                    0.2516611478,
                    3,
                    2};
    check_row(s.x, 0, 35, a, 1e-6);
    double b[35] = {20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                    0,  0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    check_row(s.x, 1, 35, b, 1e-6);
    double c[35] = {0};
    c[24] = 1;
    c[33] = 1;
    c[34] = 1;
    check_row(s.x, 2, 35, c, 1e-6);
    /* the single-node window: byte0 1, byte1 2 on every row, gaps of 1 s */
    double u[35] = {1, 2, 0, 0,   0, 0, 0, 0, 0, 0, 0, 0, 0,
                    0, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0, 6, 0.6365141683,
                    0, 0, 0, 0.5, 0, 1, 0, 4, 4};
    check_row(s.x, 3, 35, u, 1e-6);
    CHECK(same_i(s.y, 2, (int64_t[]){1, 0}));
    CHECK(same_i(s.attack_type, 2, (int64_t[]){6, 0}));
    CHECK(same_i(s.window_start, 2, (int64_t[]){0, 6}));
    CHECK(same_i(s.source_file, 2, (int64_t[]){0, 0}));
    gids_graph_set_release(&s);
    gids_can_vocab_free(&v);
    gids_can_frames_free(&f);
}

TEST(aligned_edges_join_every_consecutive_pair_with_its_own_differences) {
    gids_can_frames f;
    example(&f);
    gids_can_vocab v;
    vocab_abc(&v);
    const gids_can_frames *files[1] = {&f};
    gids_window_opts o = {.window = 6, .stride = 6, .aligned_edges = 1};
    gids_graph_set s;
    CHECK_OK(gids_build_windows(&s, files, NULL, 1, &v, &o));
    CHECK(same_i(s.edge_ptr, 3, (int64_t[]){0, 5, 10}));
    /* A->B, B->A, A->A, A->C, C->A */
    CHECK(starts_with_i(s.edge_index, 5, (int64_t[]){0, 1, 0, 0, 2}));
    check_row(s.edge_attr, 0, 11, (double[]){0.1, 10, 10, 0, 0, 0, 0, 0, 0, 1, 1}, 1e-6);
    check_row(s.edge_attr, 4, 11, (double[]){0.3, 30, 0, 0, 0, 0, 0, 0, 0, 1, 1}, 1e-6);
    /* A: in from B, A, C = 3; out to B, A, C = 3; N(A) = {A, B, C}, 2 * tri = 2 */
    CHECK_NEAR(row(s.x, 0)[33], 3, 0);
    CHECK_NEAR(row(s.x, 0)[34], 3, 0);
    CHECK_NEAR(row(s.x, 0)[28], 1.0 / 3, 1e-7);
    CHECK(same_i(s.attack_type, 2, (int64_t[]){0, 0})); /* no codes given: 0 */
    gids_graph_set_release(&s);
    gids_can_vocab_free(&v);
    gids_can_frames_free(&f);
}

TEST(counts_triangles_in_the_undirected_simple_graph) {
    /* A B C A B C A: edges (reference) B->C, C->A, A->B, B->C, C->A: one triangle, no loops */
    gids_can_frames f;
    gids_can_frames_init(&f);
    uint32_t ids[7] = {A, B, C, A, B, C, A};
    for (int i = 0; i < 7; i++) push(&f, i, ids[i], 0, 0, 0);
    gids_can_vocab v;
    vocab_abc(&v);
    const gids_can_frames *files[1] = {&f};
    gids_window_opts o = {.window = 7, .stride = 1};
    gids_graph_set s;
    CHECK_OK(gids_build_windows(&s, files, NULL, 1, &v, &o));
    CHECK(s.num_graphs == 1);
    for (int k = 0; k < 3; k++) CHECK_NEAR(row(s.x, k)[28], 1.0, 0);
    /* edge_freq: B->C and C->A twice, A->B once; no reverse pairs */
    check_row(s.edge_attr, 0, 11, (double[]){1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}, 0);
    check_row(s.edge_attr, 2, 11, (double[]){1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 0);
    gids_graph_set_release(&s);
    gids_can_vocab_free(&v);
    gids_can_frames_free(&f);
}

TEST(windows_stay_inside_their_file_and_partial_windows_are_dropped) {
    gids_can_frames f1, f2;
    gids_can_frames_init(&f1);
    gids_can_frames_init(&f2);
    for (int i = 0; i < 7; i++) push(&f1, i, A, (uint8_t)i, 0, i == 6);
    for (int i = 0; i < 5; i++) push(&f2, i, B, (uint8_t)i, 0, 0);
    gids_can_vocab v;
    vocab_abc(&v);
    const gids_can_frames *files[2] = {&f1, &f2};
    int64_t codes[2] = {2, 3};
    gids_window_opts o = {.window = 3, .stride = 2};
    gids_graph_set s;
    CHECK_OK(gids_build_windows(&s, files, codes, 2, &v, &o));
    CHECK(s.num_graphs == 5);
    CHECK(same_i(s.window_start, 5, (int64_t[]){0, 2, 4, 0, 2}));
    CHECK(same_i(s.source_file, 5, (int64_t[]){0, 0, 0, 1, 1}));
    CHECK(same_i(s.y, 5, (int64_t[]){0, 0, 1, 0, 0}));
    CHECK(same_i(s.attack_type, 5, (int64_t[]){0, 0, 2, 0, 0}));
    CHECK(same_i(s.node_id, 5, (int64_t[]){1, 1, 1, 2, 2}));
    gids_graph_set_release(&s);
    /* W = 2: the reference keeps no edge of a 2-row window, so every graph is dropped */
    o = (gids_window_opts){.window = 2, .stride = 1};
    CHECK_OK(gids_build_windows(&s, files, codes, 2, &v, &o));
    CHECK(s.num_graphs == 0);
    check_shape(s.x, 2, (int64_t[]){0, 35});
    check_shape(s.edge_attr, 2, (int64_t[]){0, 11});
    CHECK(same_i(s.node_ptr, 1, (int64_t[]){0}));
    CHECK_OK(gids_graph_set_validate(&s));
    gids_graph_set_release(&s);
    /* ... while aligned edges give each 2-row window one edge */
    o.aligned_edges = 1;
    CHECK_OK(gids_build_windows(&s, files, codes, 2, &v, &o));
    CHECK(s.num_graphs == 6 + 4);
    CHECK(starts_with_i(s.edge_ptr, 3, (int64_t[]){0, 1, 2}));
    gids_graph_set_release(&s);
    /* a file shorter than the window gives no graph */
    o = (gids_window_opts){.window = 6, .stride = 1};
    CHECK_OK(gids_build_windows(&s, files, codes, 2, &v, &o));
    CHECK(s.num_graphs == 2);
    CHECK(same_i(s.source_file, 2, (int64_t[]){0, 0}));
    gids_graph_set_release(&s);
    gids_can_vocab_free(&v);
    gids_can_frames_free(&f1);
    gids_can_frames_free(&f2);
}

static uint64_t lcg(uint64_t *st) {
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return *st >> 33;
}

static int same_tensor(const gids_tensor *a, const gids_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    size_t bytes = (size_t)gids_tensor_numel(a) * (a->dtype == GIDS_F32 ? 4 : 8);
    return memcmp(gids_tensor_data(a), gids_tensor_data(b), bytes) == 0;
}

TEST(results_do_not_depend_on_the_thread_count) {
    gids_can_frames f;
    gids_can_frames_init(&f);
    uint64_t st = 7;
    double ts = 0;
    for (int i = 0; i < 20000; i++) {
        ts += 1e-4 * (double)(1 + lcg(&st) % 50);
        uint8_t p[8];
        for (int j = 0; j < 8; j++) p[j] = (uint8_t)(lcg(&st) % 4 == 0 ? lcg(&st) : 0);
        uint32_t id = (uint32_t)(lcg(&st) % 40) * 3;
        CHECK_OK(gids_can_frames_push(&f, 1.5e9 + ts, id, 0, 8, p, lcg(&st) % 100 == 0));
    }
    gids_can_vocab v;
    const gids_can_frames *files[1] = {&f};
    CHECK_OK(gids_can_vocab_from_frames(&v, files, 1, 0));
    gids_window_opts o = {.window = 100, .stride = 20}; /* 996 windows: the parallel path */
    int saved = omp_get_max_threads();
    gids_graph_set s1, s4;
    omp_set_num_threads(1);
    CHECK_OK(gids_build_windows(&s1, files, NULL, 1, &v, &o));
    omp_set_num_threads(4);
    CHECK_OK(gids_build_windows(&s4, files, NULL, 1, &v, &o));
    omp_set_num_threads(saved);
    CHECK(s1.num_graphs == (20000 - 100) / 20 + 1 && s4.num_graphs == s1.num_graphs);
    CHECK(same_tensor(s1.x, s4.x) && same_tensor(s1.edge_attr, s4.edge_attr));
    CHECK(same_tensor(s1.edge_index, s4.edge_index) && same_tensor(s1.node_id, s4.node_id));
    CHECK(same_tensor(s1.node_ptr, s4.node_ptr) && same_tensor(s1.y, s4.y));
    CHECK_OK(gids_graph_set_validate(&s1));
    /* features are finite everywhere (no NaN leaks from 0/0) */
    const float *x = gids_tensor_data(s1.x);
    int finite = 1;
    for (int64_t i = 0; i < gids_tensor_numel(s1.x); i++) finite &= isfinite(x[i]) != 0;
    CHECK(finite);
    gids_graph_set_release(&s1);
    gids_graph_set_release(&s4);
    gids_can_vocab_free(&v);
    gids_can_frames_free(&f);
}

/* node_by_id: the second window's two unknown ids (7AB, 7AA alternating) keep a node each, both
 * with node_id UNK, and their edges alternate between them instead of looping on one node. */
TEST(node_by_id_keeps_unknown_ids_apart_with_node_id_unk) {
    gids_can_frames f;
    example(&f);
    gids_can_vocab v;
    vocab_abc(&v);
    const gids_can_frames *files[1] = {&f};
    gids_window_opts o = {.window = 6, .stride = 6, .node_by_id = 1};
    gids_graph_set s;
    CHECK_OK(gids_build_windows(&s, files, NULL, 1, &v, &o));
    CHECK_OK(gids_graph_set_validate(&s));
    CHECK(s.num_graphs == 2);
    CHECK(same_i(s.node_ptr, 3, (int64_t[]){0, 3, 5}));
    CHECK(same_i(s.node_id, 5, (int64_t[]){1, 2, 3, 0, 0}));
    /* window 2 edges (local nodes 0 = 7AB, 1 = 7AA): rows 1->2 .. 4->5 = 1 0, 0 1, 1 0, 0 1 */
    const int64_t *ei = gids_tensor_data(s.edge_index);
    int64_t E = s.edge_index->shape[1];
    int64_t want_src[4] = {1, 0, 1, 0}, want_dst[4] = {0, 1, 0, 1};
    for (int j = 0; j < 4; j++) CHECK(ei[4 + j] == want_src[j] && ei[E + 4 + j] == want_dst[j]);
    /* each unknown node has its own rows: 3 messages, in and out degree 2 */
    CHECK(row(s.x, 3)[24] == 3.0f && row(s.x, 4)[24] == 3.0f);
    CHECK(row(s.x, 3)[33] == 2.0f && row(s.x, 4)[34] == 2.0f);
    /* the first window (known ids only) is the same graph as without the option */
    gids_graph_set r;
    gids_window_opts ref = {.window = 6, .stride = 6};
    CHECK_OK(gids_build_windows(&r, files, NULL, 1, &v, &ref));
    const float *xa = gids_tensor_data(s.x), *xb = gids_tensor_data(r.x);
    CHECK(memcmp(xa, xb, 3 * 35 * sizeof(float)) == 0);
    gids_graph_set_release(&r);
    gids_graph_set_release(&s);
    gids_can_vocab_free(&v);
    gids_can_frames_free(&f);
}

/* A window of W distinct unknown ids (a fuzzing window) gets W nodes, all UNK. */
TEST(node_by_id_gives_a_window_of_distinct_unknown_ids_one_node_each) {
    gids_can_frames f;
    gids_can_frames_init(&f);
    for (int i = 0; i < 50; i++) push(&f, 0.01 * i, 0x400 + (uint32_t)i, (uint8_t)i, 0, 1);
    gids_can_vocab v;
    vocab_abc(&v);
    const gids_can_frames *files[1] = {&f};
    gids_window_opts o = {.window = 50, .stride = 50, .node_by_id = 1};
    gids_graph_set s;
    CHECK_OK(gids_build_windows(&s, files, NULL, 1, &v, &o));
    CHECK(s.num_graphs == 1 && s.x->shape[0] == 50);
    int64_t zeros = 0;
    for (int64_t i = 0; i < 50; i++) zeros += at_i(s.node_id, i) == 0;
    CHECK(zeros == 50);
    gids_graph_set_release(&s);
    gids_can_vocab_free(&v);
    gids_can_frames_free(&f);
}

/* benign_only: ids seen only in frames labelled attack stay out of the vocabulary. */
TEST(vocabulary_of_benign_frames_leaves_out_ids_only_attacks_use) {
    gids_can_frames f;
    example(&f); /* C (0x300) appears once, in the attack row */
    const gids_can_frames *files[1] = {&f};
    gids_can_vocab all, benign;
    CHECK_OK(gids_can_vocab_from_frames(&all, files, 1, 0));
    CHECK_OK(gids_can_vocab_from_frames(&benign, files, 1, 1));
    CHECK(all.n == 5 && benign.n == 4);
    CHECK(gids_can_vocab_lookup(&all, C, 0) > 0);
    CHECK(gids_can_vocab_lookup(&benign, C, 0) == 0);
    CHECK(gids_can_vocab_lookup(&benign, A, 0) > 0 && gids_can_vocab_lookup(&benign, 0x7AA, 0) > 0);
    gids_can_vocab_free(&all);
    gids_can_vocab_free(&benign);
    gids_can_frames_free(&f);
}

/* Byte moments of one node over n rows against a two-pass computation in double, for n on
 * both sides of the 64-bit / 128-bit switch of win_features.c (215) and large bytes. */
static void check_moments(int n) {
    gids_can_frames f;
    gids_can_frames_init(&f);
    uint64_t st = (uint64_t)n;
    double b0[1000];
    for (int i = 0; i < n; i++) {
        b0[i] = (double)(lcg(&st) % 4 == 0 ? 255 : lcg(&st) % 16); /* skewed, wide: big m4 */
        push(&f, i, A, (uint8_t)b0[i], 0, 0);
    }
    gids_can_vocab v;
    vocab_abc(&v);
    const gids_can_frames *files[1] = {&f};
    gids_window_opts o = {.window = n, .stride = n};
    gids_graph_set s;
    CHECK_OK(gids_build_windows(&s, files, NULL, 1, &v, &o));
    double mean = 0, m2 = 0, m3 = 0, m4 = 0;
    for (int i = 0; i < n; i++) mean += b0[i] / n;
    for (int i = 0; i < n; i++) {
        double d = b0[i] - mean;
        m2 += d * d / n;
        m3 += d * d * d / n;
        m4 += d * d * d * d / n;
    }
    const float *x = row(s.x, 0);
    CHECK_NEAR(x[0], mean, 1e-7);
    CHECK_NEAR(x[8], sqrt(m2 * n / (n - 1)), 1e-7);
    CHECK_NEAR(x[26], m3 / pow(m2, 1.5) / 8, 1e-6); /* bytes 1-7 are constant: 0 */
    CHECK_NEAR(x[27], (m4 / (m2 * m2) - 3) / 8, 1e-6);
    gids_graph_set_release(&s);
    gids_can_vocab_free(&v);
    gids_can_frames_free(&f);
}

TEST(byte_moments_are_exact_on_both_sides_of_the_int128_switch) {
    check_moments(215);
    check_moments(216);
    check_moments(1000);
}

TEST(rejects_bad_options_and_names_them) {
    gids_can_frames f;
    example(&f);
    gids_can_vocab v;
    vocab_abc(&v);
    const gids_can_frames *files[1] = {&f};
    gids_graph_set s;
    gids_window_opts o = {.window = 0, .stride = 1};
    CHECK_ERR(gids_build_windows(&s, files, NULL, 1, &v, &o), GIDS_EINVAL, "window 0 must be");
    o = (gids_window_opts){.window = 4, .stride = 0};
    CHECK_ERR(gids_build_windows(&s, files, NULL, 1, &v, &o), GIDS_EINVAL, "stride 0 must be");
    int64_t bad = -1;
    o.stride = 1;
    CHECK_ERR(gids_build_windows(&s, files, &bad, 1, &v, &o), GIDS_EINVAL,
              "attack_type of file 1 is -1");
    const gids_can_frames *none[1] = {NULL};
    CHECK_ERR(gids_build_windows(&s, none, NULL, 1, &v, &o), GIDS_EINVAL, "file 1 is NULL");
    CHECK(s.x == NULL && s.num_graphs == 0);
    gids_can_vocab_free(&v);
    gids_can_frames_free(&f);
}

TEST(vocabulary_sorts_canonical_texts_and_looks_ids_up) {
    gids_can_frames f;
    gids_can_frames_init(&f);
    uint8_t p[8] = {0};
    CHECK_OK(gids_can_frames_push(&f, 0, 0x7FF, 0, 0, p, 0));
    CHECK_OK(gids_can_frames_push(&f, 0, 0x18FEDF00, GIDS_CAN_EXTENDED, 0, p, 0));
    CHECK_OK(gids_can_frames_push(&f, 0, 0x0C1, 0, 0, p, 0));
    CHECK_OK(gids_can_frames_push(&f, 0, 0x0C1, GIDS_CAN_EXTENDED, 0, p, 0));
    CHECK_OK(gids_can_frames_push(&f, 0, 0x7FF, 0, 0, p, 0));
    gids_can_vocab v;
    const gids_can_frames *files[1] = {&f};
    CHECK_OK(gids_can_vocab_from_frames(&v, files, 1, 0));
    CHECK(v.n == 4);
    /* "000000C1" < "0C1" < "18FEDF00" < "7FF" (byte order of the texts) */
    char t[GIDS_CAN_ID_TEXT_SIZE];
    const char *want[4] = {"000000C1", "0C1", "18FEDF00", "7FF"};
    for (int k = 0; k < 4 && k < v.n; k++) {
        gids_can_id_text(t, v.id[k], v.ext[k]);
        if (strcmp(t, want[k]) != 0) CHECK_FAIL_("entry %d is %s, expected %s", k + 1, t, want[k]);
    }
    CHECK(gids_can_vocab_lookup(&v, 0x0C1, 0) == 2);
    CHECK(gids_can_vocab_lookup(&v, 0x0C1, 1) == 1);
    CHECK(gids_can_vocab_lookup(&v, 0x18FEDF00, 1) == 3);
    CHECK(gids_can_vocab_lookup(&v, 0x7FF, 0) == 4);
    CHECK(gids_can_vocab_lookup(&v, 0x123, 0) == 0);
    CHECK(gids_can_vocab_lookup(&v, 0x18FEDF01, 1) == 0);
    gids_can_vocab_free(&v);
    gids_can_frames_free(&f);

    uint32_t id;
    int ext;
    CHECK_OK(gids_can_id_parse("0c1", &id, &ext));
    CHECK(id == 0xC1 && ext == 0);
    CHECK_OK(gids_can_id_parse("18FEDF00", &id, &ext));
    CHECK(id == 0x18FEDF00 && ext == 1);
    CHECK_ERR(gids_can_id_parse("C1", &id, &ext), GIDS_EINVAL, "got 2 characters");
    CHECK_ERR(gids_can_id_parse("0G1", &id, &ext), GIDS_EINVAL, "'G' at position 2");
    CHECK_ERR(gids_can_id_parse("800", &id, &ext), GIDS_EINVAL, "at most 7FF");
    CHECK_ERR(gids_can_id_parse("20000000", &id, &ext), GIDS_EINVAL, "at most 1FFFFFFF");
    uint32_t ids[3] = {0x10, 0x20, 0x10};
    uint8_t exts[3] = {0, 0, 0};
    CHECK_ERR(gids_can_vocab_from_ids(&v, ids, exts, 3), GIDS_EINVAL,
              "id 010 appears at entries 1 and 3");
    exts[0] = exts[2] = 1;
    CHECK_ERR(gids_can_vocab_from_ids(&v, ids, exts, 3), GIDS_EINVAL,
              "id 00000010 appears at entries 1 and 3");
    CHECK(v.id == NULL);
}

TEST(scaler_fits_the_chosen_graphs_only_in_f64_with_a_floor_and_applies) {
    /* 3 graphs of 2, 1, 2 rows; columns: varying, constant */
    float d[10] = {1, 5, 3, 5, 100, 5, 2, 5, 4, 5};
    int64_t sh[2] = {5, 2}, p[4] = {0, 2, 3, 5};
    gids_tensor *t = from(GIDS_F32, 2, sh, d), *ptr = vec_i64(4, p), *m = NULL, *sd = NULL;
    int64_t train[2] = {2, 0}; /* graphs 0 and 2: rows 1 3 2 4 */
    CHECK_OK(gids_scaler_fit(&m, &sd, t, ptr, train, 2, 1e-6));
    check_close(m, 2, (double[]){2.5, 5}, 1e-7);
    check_close(sd, 2, (double[]){1.2909944487, 1e-6}, 1e-7); /* unbiased: sqrt(5/3) */
    gids_tensor_release(m);
    gids_tensor_release(sd);
    /* apply: (v - mean) / std per column, in place */
    CHECK_OK(gids_scaler_fit(&m, &sd, t, ptr, train, 2, 1e-6));
    CHECK_OK(gids_scaler_apply_(t, m, sd));
    float s0 = (float)1.2909944487;
    check_close(t, 10,
                (double[]){(1 - 2.5f) / s0, 0, (3 - 2.5f) / s0, 0, (100 - 2.5f) / s0, 0,
                           (2 - 2.5f) / s0, 0, (4 - 2.5f) / s0, 0},
                1e-7);
    CHECK_ERR(gids_scaler_apply_(ptr, m, sd), GIDS_EDTYPE, "table must be a contiguous 2-D f32");
    CHECK_ERR(gids_scaler_apply_(t, ptr, sd), GIDS_ESHAPE,
              "mean must be a contiguous f32 vector of 2");
    gids_tensor_release(m);
    gids_tensor_release(sd);
    int64_t out_of_range[1] = {3};
    CHECK_ERR(gids_scaler_fit(&m, &sd, t, ptr, out_of_range, 1, 1e-6), GIDS_EINDEX,
              "graph index 3 at position 1 is out of range 0..2");
    gids_tensor_release(t);
    gids_tensor_release(ptr);
}

int main(void) {
    RUN(builds_the_reference_features_of_a_hand_computed_window);
    RUN(aligned_edges_join_every_consecutive_pair_with_its_own_differences);
    RUN(counts_triangles_in_the_undirected_simple_graph);
    RUN(windows_stay_inside_their_file_and_partial_windows_are_dropped);
    RUN(results_do_not_depend_on_the_thread_count);
    RUN(byte_moments_are_exact_on_both_sides_of_the_int128_switch);
    RUN(rejects_bad_options_and_names_them);
    RUN(vocabulary_sorts_canonical_texts_and_looks_ids_up);
    RUN(node_by_id_keeps_unknown_ids_apart_with_node_id_unk);
    RUN(node_by_id_gives_a_window_of_distinct_unknown_ids_one_node_each);
    RUN(vocabulary_of_benign_frames_leaves_out_ids_only_attacks_use);
    RUN(scaler_fits_the_chosen_graphs_only_in_f64_with_a_floor_and_applies);
    return check_summary("windows");
}
