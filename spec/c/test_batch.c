/* test_batch.c -- graph-set validation and batch collation: values of every field, offsets,
 * empty graphs and graphs without edges, repeats, optional fields, and each bad input's
 * message (field, graph, value). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gids/graphset.h"
#include "helpers.h"

/* Three graphs: g0 nodes 0..2 with edges 0->1, 2->0; g1 no nodes, no edges; g2 nodes 3..4
 * with edge 1->1 (a self-loop) and 0->1.  x[i] = (i, 10 i), edge_attr[k] = k + 0.5. */
static gids_graph_set make_set(void) {
    gids_graph_set s;
    memset(&s, 0, sizeof s);
    s.num_graphs = 3;
    float x[10] = {0, 0, 1, 10, 2, 20, 3, 30, 4, 40};
    int64_t xs[2] = {5, 2}, es[2] = {2, 4}, as[2] = {4, 1}, g1 = 4, g = 3, nn = 5;
    int64_t ei[8] = {0, 2, 1, 0, /* targets */ 1, 0, 1, 1};
    float ea[4] = {0.5f, 1.5f, 2.5f, 3.5f};
    s.x = from(GIDS_F32, 2, xs, x);
    s.edge_index = from(GIDS_I64, 2, es, ei);
    s.edge_attr = from(GIDS_F32, 2, as, ea);
    s.node_id = from(GIDS_I64, 1, &nn, (int64_t[]){7, 8, 9, 7, 0});
    s.node_ptr = from(GIDS_I64, 1, &g1, (int64_t[]){0, 3, 3, 5});
    s.edge_ptr = from(GIDS_I64, 1, &g1, (int64_t[]){0, 2, 2, 4});
    s.y = from(GIDS_I64, 1, &g, (int64_t[]){0, 1, 1});
    s.attack_type = from(GIDS_I64, 1, &g, (int64_t[]){0, 3, 4});
    return s;
}

TEST(collates_graphs_in_the_given_order_with_offsets) {
    gids_graph_set s = make_set();
    CHECK_OK(gids_graph_set_validate(&s));
    gids_graph_batch b;
    CHECK_OK(gids_graph_batch_collate(&b, &s, (int64_t[]){2, 1, 0, 2}, 4));
    CHECK(b.num_graphs == 4);
    CHECK(b.x->shape[0] == 7 && b.x->shape[1] == 2);
    CHECK(same(b.x, 14, (double[]){3, 30, 4, 40, 0, 0, 1, 10, 2, 20, 3, 30, 4, 40}));
    CHECK(b.edge_index->shape[0] == 2 && b.edge_index->shape[1] == 6);
    /* g2 at nodes 0..1, g1 empty, g0 at 2..4, g2 again at 5..6 */
    CHECK(same_i(b.edge_index, 12, (int64_t[]){1, 0, 2, 4, 6, 5, 1, 1, 3, 2, 6, 6}));
    CHECK(same(b.edge_attr, 6, (double[]){2.5, 3.5, 0.5, 1.5, 2.5, 3.5}));
    CHECK(same_i(b.node_id, 7, (int64_t[]){7, 0, 7, 8, 9, 7, 0}));
    CHECK(same_i(b.batch, 7, (int64_t[]){0, 0, 2, 2, 2, 3, 3}));
    CHECK(same_i(b.ptr, 5, (int64_t[]){0, 2, 2, 5, 7}));
    CHECK(same_i(b.edge_ptr, 5, (int64_t[]){0, 2, 2, 4, 6}));
    CHECK(same_i(b.y, 4, (int64_t[]){1, 1, 0, 1}));
    CHECK(same_i(b.attack_type, 4, (int64_t[]){4, 3, 0, 4}));
    CHECK(b.window_start == NULL && b.source_file == NULL);
    gids_graph_batch_release(&b);
    CHECK(b.x == NULL && b.num_graphs == 0);
    gids_graph_set_release(&s);
}

TEST(a_batch_of_only_empty_graphs_has_no_rows) {
    gids_graph_set s = make_set();
    gids_graph_batch b;
    CHECK_OK(gids_graph_batch_collate(&b, &s, (int64_t[]){1}, 1));
    CHECK(b.x->shape[0] == 0 && b.x->shape[1] == 2 && b.edge_index->shape[1] == 0);
    CHECK(b.edge_attr->shape[0] == 0 && b.edge_attr->shape[1] == 1);
    CHECK(same_i(b.ptr, 2, (int64_t[]){0, 0}) && same_i(b.y, 1, (int64_t[]){1}));
    gids_graph_batch_release(&b);
    gids_graph_set_release(&s);
}

TEST(optional_fields_stay_null) {
    gids_graph_set s = make_set();
    gids_tensor_release(s.edge_attr);
    gids_tensor_release(s.node_id);
    gids_tensor_release(s.y);
    s.edge_attr = s.node_id = s.y = NULL;
    gids_graph_batch b;
    CHECK_OK(gids_graph_batch_collate(&b, &s, (int64_t[]){0}, 1));
    CHECK(b.edge_attr == NULL && b.node_id == NULL && b.y == NULL && b.batch != NULL);
    gids_graph_batch_release(&b);
    gids_graph_set_release(&s);
}

TEST(rejects_bad_indices_and_bad_sets_naming_field_graph_and_value) {
    gids_graph_set s = make_set();
    gids_graph_batch b;
    memset(&b, 0, sizeof b);
    CHECK_ERR(gids_graph_batch_collate(&b, &s, (int64_t[]){0, 3}, 2), GIDS_EINDEX,
              "graph index 3 at position 1 is out of range [0, 3)");
    CHECK_ERR(gids_graph_batch_collate(&b, &s, (int64_t[]){0}, 0), GIDS_EINVAL,
              "a batch needs at least 1 graph, got 0");
    CHECK(b.x == NULL); /* untouched on failure */
    int64_t g = s.num_graphs;
    s.num_graphs = INT64_MAX; /* its ptrs would hold INT64_MAX + 1 entries */
    CHECK_ERR(gids_graph_set_validate(&s), GIDS_EINVAL,
              "num_graphs must be in [0, INT64_MAX), got 9223372036854775807");
    s.num_graphs = g;

    /* a target of graph 2 beyond its 2 nodes */
    int64_t *ei = gids_tensor_data(s.edge_index);
    ei[4 + 3] = 2;
    CHECK_ERR(gids_graph_set_validate(&s), GIDS_EINDEX,
              "'edge_index' target 2 of edge 3 (graph 2, local edge 1) is out of range [0, 2)");
    CHECK_OK(gids_graph_batch_collate(&b, &s, (int64_t[]){0}, 1)); /* graph 0 is fine */
    gids_graph_batch_release(&b);
    CHECK_ERR(gids_graph_batch_collate(&b, &s, (int64_t[]){0, 2}, 2), GIDS_EINDEX,
              "target 2 of edge 3 (graph 2");
    ei[4 + 3] = 1;
    ei[0] = -1;
    CHECK_ERR(gids_graph_set_validate(&s), GIDS_EINDEX, "source -1 of edge 0 (graph 0");
    ei[0] = 0;

    int64_t *np = gids_tensor_data(s.node_ptr);
    np[1] = 4;
    np[2] = 3;
    CHECK_ERR(gids_graph_set_validate(&s), GIDS_EINVAL,
              "'node_ptr' must be non-decreasing within [0, 5]: graph 1 spans 4..3");
    /* a negative start in a graph that collate picks alone (no reading before the rows) */
    np[1] = -2;
    CHECK_ERR(gids_graph_batch_collate(&b, &s, (int64_t[]){1}, 1), GIDS_EINVAL,
              "'node_ptr' must be non-decreasing within [0, 5]: graph 1 spans -2..3");
    int64_t *ep = gids_tensor_data(s.edge_ptr);
    np[1] = 3;
    ep[1] = -1;
    CHECK_ERR(gids_graph_batch_collate(&b, &s, (int64_t[]){1}, 1), GIDS_EINVAL,
              "'edge_ptr' must be non-decreasing within [0, 4]: graph 1 spans -1..2");
    ep[1] = 2;
    np[3] = 6;
    CHECK_ERR(gids_graph_set_validate(&s), GIDS_EINVAL,
              "'node_ptr'[3] must equal the node count 5, got 6");
    np[3] = 5;
    CHECK_OK(gids_graph_set_validate(&s));

    /* edge_attr with a row per edge missing; wrong dtypes */
    gids_tensor *ea = s.edge_attr, *short_ea = NULL;
    CHECK_OK(gids_narrow(&short_ea, ea, 0, 0, 3));
    s.edge_attr = short_ea;
    CHECK_ERR(gids_graph_set_validate(&s), GIDS_ESHAPE,
              "'edge_attr' has shape [3,1], expected [4,-1] (-1: any)");
    s.edge_attr = ea;
    gids_tensor_release(short_ea);
    gids_tensor *y = s.y, *yf = NULL;
    CHECK_OK(gids_to_dtype(&yf, y, GIDS_F32));
    s.y = yf;
    CHECK_ERR(gids_graph_batch_collate(&b, &s, (int64_t[]){0}, 1), GIDS_EDTYPE,
              "'y' must be i64, got f32");
    s.y = y;
    gids_tensor_release(yf);
    gids_tensor *x = s.x, *xt = NULL;
    CHECK_OK(gids_transpose(&xt, x, 0, 1));
    s.x = xt;
    CHECK_ERR(gids_graph_set_validate(&s), GIDS_EINVAL, "'x' must be contiguous");
    s.x = x;
    gids_tensor_release(xt);
    gids_graph_set_release(&s);
}

TEST(collate_is_the_same_for_1_and_4_threads) {
    /* 200 graphs of 3 nodes and 2 edges each */
    int64_t G = 200, N = 600, E = 400, xs[2] = {600, 4}, es[2] = {2, 400}, g1 = 201;
    gids_graph_set s;
    memset(&s, 0, sizeof s);
    s.num_graphs = G;
    float *x = malloc(sizeof(float) * N * 4);
    int64_t *ei = malloc(sizeof(int64_t) * 2 * E), *np = malloc(sizeof(int64_t) * 201),
            *ep = malloc(sizeof(int64_t) * 201), *idx = malloc(sizeof(int64_t) * G);
    for (int64_t i = 0; i < N * 4; i++) x[i] = (float)i;
    for (int64_t g = 0; g < G; g++) {
        ei[2 * g] = 0, ei[2 * g + 1] = 2, ei[E + 2 * g] = 1, ei[E + 2 * g + 1] = g % 3;
        idx[g] = (g * 7) % G;
    }
    for (int64_t g = 0; g <= G; g++) np[g] = 3 * g, ep[g] = 2 * g;
    s.x = from(GIDS_F32, 2, xs, x);
    s.edge_index = from(GIDS_I64, 2, es, ei);
    s.node_ptr = from(GIDS_I64, 1, &g1, np);
    s.edge_ptr = from(GIDS_I64, 1, &g1, ep);
    gids_graph_batch a, b;
    gids_set_num_threads(1);
    CHECK_OK(gids_graph_batch_collate(&a, &s, idx, G));
    gids_set_num_threads(4);
    CHECK_OK(gids_graph_batch_collate(&b, &s, idx, G));
    CHECK(memcmp(gids_tensor_data(a.x), gids_tensor_data(b.x), sizeof(float) * N * 4) == 0);
    CHECK(memcmp(gids_tensor_data(a.edge_index), gids_tensor_data(b.edge_index),
                 sizeof(int64_t) * 2 * E) == 0);
    /* graph idx[1] = 7 lands at nodes 3..5; its second edge 2 -> 7 % 3 = 1 */
    CHECK(at_i(a.edge_index, 3) == 5 && at_i(a.edge_index, E + 3) == 4);
    CHECK(at(a.x, 3 * 4) == 7 * 3 * 4);
    gids_graph_batch_release(&a);
    gids_graph_batch_release(&b);
    gids_graph_set_release(&s);
    free(x), free(ei), free(np), free(ep), free(idx);
}

int main(void) {
    RUN(collates_graphs_in_the_given_order_with_offsets);
    RUN(a_batch_of_only_empty_graphs_has_no_rows);
    RUN(optional_fields_stay_null);
    RUN(rejects_bad_indices_and_bad_sets_naming_field_graph_and_value);
    RUN(collate_is_the_same_for_1_and_4_threads);
    return check_summary("batch");
}
