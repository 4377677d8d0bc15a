/* test_graph.c -- fused GAT / GATv2 attention (gids/graph.h): values worked out by hand,
 * gradients of both outputs against central differences in f64 (with and without edge terms
 * and dropout scales, isolated nodes and self-loops), bit-identical results for 1 and 4 threads,
 * and the errors of bad input.  The fused self-loop replacement (fill "mean") by hand. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gids/graph.h"
#include "gradcheck.h"
#include "helpers.h"

/* 4 nodes; edges 0->1, 2->1, 1->0, 1->1 (a self-loop), 0->1 again (parallel); node 3 isolated. */
static const int64_t EI[10] = {0, 2, 1, 1, 0, /* targets */ 1, 1, 0, 1, 1};
enum { N = 4, E = 5 };

static gids_tensor *edges(void) {
    int64_t s[2] = {2, E};
    return from(GIDS_I64, 2, s, EI);
}

/* Deterministic f64 values in (-1.5, 1.5), requiring grad when asked. */
static gids_tensor *vals(int nd, const int64_t *shape, double seed, bool grad) {
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    double *d = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) d[i] = 1.5 * sin(seed + 0.77 * (double)i);
    gids_tensor *t = from(GIDS_F64, nd, shape, d);
    free(d);
    if (grad) CHECK_OK(gids_set_requires_grad(t, true));
    return t;
}

TEST(gat_values_by_hand) {
    int64_t xs[3] = {3, 1, 1}, as[2] = {3, 1}, es[2] = {2, 3};
    gids_tensor *x = from(GIDS_F64, 3, xs, (double[]){1, 5, 3});
    gids_tensor *asrc = from(GIDS_F64, 2, as, (double[]){0.5, 0, -3});
    gids_tensor *adst = from(GIDS_F64, 2, as, (double[]){0, 1, 0});
    gids_tensor *ei = from(GIDS_I64, 2, es, (int64_t[]){0, 2, 1, 1, 1, 0});
    gids_tensor *out = NULL, *alpha = NULL;
    CHECK_OK(gids_gat_attention(&out, &alpha, x, asrc, adst, NULL, ei, 3, 0.2, NULL));
    /* scores: 0->1 lrelu(1.5) = 1.5, 2->1 lrelu(-2) = -0.4, 1->0 lrelu(0) = 0 */
    double a0 = exp(1.5) / (exp(1.5) + exp(-0.4)), a1 = 1 - a0;
    CHECK_NEAR(at(alpha, 0), a0, 1e-14);
    CHECK_NEAR(at(alpha, 1), a1, 1e-14);
    CHECK_NEAR(at(alpha, 2), 1.0, 1e-14);
    CHECK_NEAR(at(out, 0), 5.0, 1e-14);
    CHECK_NEAR(at(out, 1), a0 * 1 + a1 * 3, 1e-14);
    CHECK(at(out, 2) == 0.0); /* no incoming edge */
    gids_tensor_release(out);
    gids_tensor_release(alpha);
    /* a dropout scale multiplies the aggregation, not alpha */
    gids_tensor *sc = from(GIDS_F64, 2, as, (double[]){2, 0, 1});
    CHECK_OK(gids_gat_attention(&out, &alpha, x, asrc, adst, NULL, ei, 3, 0.2, sc));
    CHECK_NEAR(at(alpha, 0), a0, 1e-14);
    CHECK_NEAR(at(out, 1), 2 * a0, 1e-14);
    gids_tensor_release(out);
    gids_tensor_release(alpha);
    gids_tensor_release(sc);
    gids_tensor_release(x);
    gids_tensor_release(asrc);
    gids_tensor_release(adst);
    gids_tensor_release(ei);
}

TEST(gatv2_values_by_hand) {
    /* H = 1, C = 2: e = att . lrelu(xl[j] + xr[i]) */
    int64_t xs[3] = {2, 1, 2}, es[2] = {2, 2}, as[2] = {1, 2};
    gids_tensor *xl = from(GIDS_F64, 3, xs, (double[]){1, -2, 0.5, 3});
    gids_tensor *xr = from(GIDS_F64, 3, xs, (double[]){0, 1, 0, 0});
    gids_tensor *att = from(GIDS_F64, 2, as, (double[]){2, 1});
    gids_tensor *ei = from(GIDS_I64, 2, es, (int64_t[]){0, 1, 0, 0});
    gids_tensor *out = NULL, *alpha = NULL;
    CHECK_OK(gids_gatv2_attention(&out, &alpha, xl, xr, NULL, att, ei, 2, 0.2, NULL));
    /* edge 0->0: lrelu(1, -1) = (1, -0.2) -> 2 - 0.2 = 1.8; 1->0: (0.5, 4) -> 1 + 4 = 5 */
    double a0 = exp(1.8) / (exp(1.8) + exp(5.0)), a1 = 1 - a0;
    CHECK_NEAR(at(alpha, 0), a0, 1e-14);
    CHECK_NEAR(at(alpha, 1), a1, 1e-14);
    CHECK_NEAR(at(out, 0), a0 * 1 + a1 * 0.5, 1e-14);
    CHECK_NEAR(at(out, 1), a0 * -2 + a1 * 3, 1e-14);
    CHECK(at(out, 2) == 0 && at(out, 3) == 0);
    gids_tensor_release(out);
    gids_tensor_release(alpha);
    gids_tensor_release(xl);
    gids_tensor_release(xr);
    gids_tensor_release(att);
    gids_tensor_release(ei);
}

typedef struct gc_ctx {
    const gids_tensor *ei, *scale;
    bool want_alpha, has_edge;
} gc_ctx;

/* out, or alpha when want_alpha (the other output is dropped, so its gradient is NULL). */
static gids_status gatv2_fn(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const gc_ctx *c = ctx;
    gids_tensor *o = NULL, *a = NULL;
    GIDS_TRY(gids_ag_gatv2_attention(&o, &a, in[0], in[1], c->has_edge ? in[2] : NULL, in[3], c->ei,
                                     N, 0.2, c->scale));
    *out = c->want_alpha ? a : o;
    gids_tensor_release(c->want_alpha ? o : a);
    return GIDS_OK;
}

static gids_status gat_fn(gids_tensor **out, gids_tensor *const *in, void *ctx) {
    const gc_ctx *c = ctx;
    gids_tensor *o = NULL, *a = NULL;
    GIDS_TRY(gids_ag_gat_attention(&o, &a, in[0], in[1], in[2], c->has_edge ? in[3] : NULL, c->ei,
                                   N, 0.2, c->scale));
    *out = c->want_alpha ? a : o;
    gids_tensor_release(c->want_alpha ? o : a);
    return GIDS_OK;
}

TEST(gatv2_gradients_match_central_differences) {
    const int64_t H = 2, C = 3;
    int64_t xs[3] = {N, H, C}, es[3] = {E, H, C}, as[2] = {H, C}, ss[2] = {E, H};
    gids_tensor *in[4] = {vals(3, xs, 0.1, true), vals(3, xs, 0.7, true), vals(3, es, 1.3, true),
                          vals(2, as, 2.1, true)};
    gids_tensor *ei = edges(),
                *scale = from(GIDS_F64, 2, ss, (double[]){2, 0, 1, 2, 0, 2, 2, 1, 0, 2});
    for (int variant = 0; variant < 6; variant++) {
        gc_ctx c = {ei, variant >= 4 ? scale : NULL, variant % 2 == 1, variant / 2 != 1};
        GRADCHECK(gatv2_fn, 4, in, &c);
    }
    for (int i = 0; i < 4; i++) gids_tensor_release(in[i]);
    gids_tensor_release(ei);
    gids_tensor_release(scale);
}

TEST(gat_gradients_match_central_differences) {
    const int64_t H = 2, C = 3;
    int64_t xs[3] = {N, H, C}, ns[2] = {N, H}, es[2] = {E, H};
    gids_tensor *in[4] = {vals(3, xs, 0.2, true), vals(2, ns, 0.9, true), vals(2, ns, 1.6, true),
                          vals(2, es, 2.4, true)};
    gids_tensor *ei = edges(),
                *scale = from(GIDS_F64, 2, es, (double[]){0, 2, 1, 2, 2, 0, 2, 1, 1, 2});
    for (int variant = 0; variant < 6; variant++) {
        gc_ctx c = {ei, variant >= 4 ? scale : NULL, variant % 2 == 1, variant / 2 != 1};
        GRADCHECK(gat_fn, 4, in, &c);
    }
    for (int i = 0; i < 4; i++) gids_tensor_release(in[i]);
    gids_tensor_release(ei);
    gids_tensor_release(scale);
}

/* Every byte of a and b equal. */
static bool same_bits(const gids_tensor *a, const gids_tensor *b) {
    return a && b && gids_tensor_numel(a) == gids_tensor_numel(b) &&
           memcmp(gids_tensor_data(a), gids_tensor_data(b),
                  (size_t)gids_tensor_numel(a) * gids_dtype_size(a->dtype)) == 0;
}

TEST(results_do_not_depend_on_the_thread_count) {
    /* 3000 nodes, 20000 random edges, f32, H 4, C 16: forward and every gradient */
    const int64_t n = 3000, e = 20000, H = 4, C = 16;
    int64_t *ed = malloc(sizeof(int64_t) * 2 * e);
    uint64_t r = 88172645463325252ull;
    for (int64_t k = 0; k < 2 * e; k++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        ed[k] = (int64_t)(r % (uint64_t)n);
    }
    int64_t es2[2] = {2, e}, xs[3] = {n, H, C}, ps[3] = {e, H, C}, as[2] = {H, C};
    gids_tensor *ei = from(GIDS_I64, 2, es2, ed), *xl = NULL, *xr = NULL, *ep = NULL, *att = NULL,
                *g = NULL;
    free(ed);
    gids_generator gen;
    gids_generator_init(&gen, 3);
    CHECK_OK(gids_randn(&xl, &gen, GIDS_F32, 3, xs));
    CHECK_OK(gids_randn(&xr, &gen, GIDS_F32, 3, xs));
    CHECK_OK(gids_randn(&ep, &gen, GIDS_F32, 3, ps));
    CHECK_OK(gids_randn(&att, &gen, GIDS_F32, 2, as));
    CHECK_OK(gids_randn(&g, &gen, GIDS_F32, 3, xs));
    gids_tensor *o[2] = {NULL}, *a[2] = {NULL}, *gr[2][4] = {{NULL}};
    int threads[2] = {1, 4};
    for (int t = 0; t < 2; t++) {
        gids_set_num_threads(threads[t]);
        CHECK_OK(gids_gatv2_attention(&o[t], &a[t], xl, xr, ep, att, ei, n, 0.2, NULL));
        CHECK_OK(gids_gatv2_attention_backward(&gr[t][0], &gr[t][1], &gr[t][2], &gr[t][3], g, NULL,
                                               xl, xr, ep, att, ei, n, 0.2, NULL, a[t]));
    }
    CHECK(same_bits(o[0], o[1]) && same_bits(a[0], a[1]));
    for (int i = 0; i < 4; i++) CHECK(same_bits(gr[0][i], gr[1][i]));
    for (int t = 0; t < 2; t++) {
        gids_tensor_release(o[t]);
        gids_tensor_release(a[t]);
        for (int i = 0; i < 4; i++) gids_tensor_release(gr[t][i]);
    }
    gids_tensor *all[] = {ei, xl, xr, ep, att, g};
    for (int i = 0; i < 6; i++) gids_tensor_release(all[i]);
}

TEST(bad_input_is_a_clear_error) {
    const int64_t H = 2, C = 3;
    int64_t xs[3] = {N, H, C}, es[3] = {E, H, C}, as[2] = {H, C};
    gids_tensor *x = vals(3, xs, 0.1, false), *ep = vals(3, es, 0.2, false);
    gids_tensor *att = vals(2, as, 0.3, false), *ei = edges(), *o = NULL, *a = NULL;
    CHECK_ERR(gids_gatv2_attention(&o, &a, x, x, ep, att, ei, 3, 0.2, NULL), GIDS_ESHAPE,
              "gatv2_attention: x has 4 rows, expected num_nodes = 3");
    int64_t *d = gids_tensor_data(ei);
    d[E + 2] = 4;
    CHECK_ERR(gids_gatv2_attention(&o, &a, x, x, ep, att, ei, N, 0.2, NULL), GIDS_EINDEX,
              "gatv2_attention: edge_index target 4 of edge 2 is out of range [0, 4) (num_nodes)");
    d[E + 2] = 0;
    d[3] = -1;
    CHECK_ERR(gids_gatv2_attention(&o, &a, x, x, ep, att, ei, N, 0.2, NULL), GIDS_EINDEX,
              "edge_index source -1 of edge 3 is out of range [0, 4)");
    d[3] = 1;
    gids_tensor *ei32 = NULL, *ep_short = NULL, *xf = NULL;
    CHECK_OK(gids_to_dtype(&ei32, ei, GIDS_I32));
    CHECK_ERR(gids_gatv2_attention(&o, &a, x, x, ep, att, ei32, N, 0.2, NULL), GIDS_EDTYPE,
              "gatv2_attention: edge_index must be i64, got i32");
    CHECK_OK(gids_narrow(&ep_short, ep, 0, 0, 4));
    CHECK_ERR(gids_gatv2_attention(&o, &a, x, x, ep_short, att, ei, N, 0.2, NULL), GIDS_ESHAPE,
              "gatv2_attention: edge_proj has shape [4,2,3], expected [5,2,3]");
    CHECK_OK(gids_to_dtype(&xf, x, GIDS_F32));
    CHECK_ERR(gids_gatv2_attention(&o, &a, x, xf, ep, att, ei, N, 0.2, NULL), GIDS_EDTYPE,
              "gatv2_attention: xr has dtype f32, expected f64 (x's dtype)");
    CHECK_ERR(gids_gat_attention(&o, &a, x, att, att, NULL, ei, N, 0.2, NULL), GIDS_ESHAPE,
              "gat_attention: a_src has shape [2,3], expected [4,2]");
    gids_tensor *ew = edges(), *bad_ei = NULL;
    CHECK_OK(gids_view(&bad_ei, ew, 1, (int64_t[]){2 * E}));
    CHECK_ERR(gids_gat_attention(&o, &a, x, att, att, NULL, bad_ei, N, 0.2, NULL), GIDS_ESHAPE,
              "gat_attention: edge_index must have shape [2, E], got [10]");
    gids_tensor *g = NULL;
    CHECK_ERR(gids_gatv2_attention_backward(NULL, NULL, &g, NULL, x, NULL, x, x, NULL, att, ei, N,
                                            0.2, NULL, x),
              GIDS_EINVAL, "g_edge_proj asked for without edge_proj");
    CHECK(o == NULL && a == NULL && g == NULL);
    gids_tensor *all[] = {x, ep, att, ei, ei32, ep_short, xf, ew, bad_ei};
    for (int i = 0; i < 9; i++) gids_tensor_release(all[i]);
}

/* EI's graph: the self-loop 1->1 goes, the other four edges keep their order, loops 0..3 follow;
 * each loop's attribute row is the mean of its node's remaining incoming rows (node 1: edges
 * 0, 1 and 4; node 0: edge 2; nodes 2 and 3: none, zeros). */
TEST(replace_self_loops_mean_by_hand) {
    gids_tensor *ei = edges(), *oi = NULL, *oa = NULL;
    int64_t as[2] = {E, 2};
    gids_tensor *ea = vals(2, as, 0.3, false);
    gids_tensor *oi2 = NULL, *oa2 = NULL;
    CHECK_ERR(gids_replace_self_loops_mean(&oi2, &oa2, ei, NULL, INT64_MAX), GIDS_EOVERFLOW,
              "replace_self_loops: 4 kept edges plus num_nodes 9223372036854775807 self-loops "
              "overflow");
    CHECK(oi2 == NULL && oa2 == NULL);
    CHECK_OK(gids_replace_self_loops_mean(&oi, &oa, ei, ea, N));
    const int64_t want_i[16] = {0, 2, 1, 0, 0, 1, 2, 3, /* targets */ 1, 1, 0, 1, 0, 1, 2, 3};
    CHECK(oi->shape[0] == 2 && oi->shape[1] == 8 && same_i(oi, 16, want_i));
    CHECK(oa->shape[0] == 8 && oa->shape[1] == 2);
    const int kept[4] = {0, 1, 2, 4};
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 2; c++) CHECK(at(oa, r * 2 + c) == at(ea, kept[r] * 2 + c));
    for (int c = 0; c < 2; c++) {
        CHECK_NEAR(at(oa, 4 * 2 + c), at(ea, 2 * 2 + c), 1e-15);
        CHECK_NEAR(at(oa, 5 * 2 + c), (at(ea, 0 + c) + at(ea, 2 + c) + at(ea, 8 + c)) / 3, 1e-15);
        CHECK(at(oa, 6 * 2 + c) == 0.0 && at(oa, 7 * 2 + c) == 0.0);
    }
    gids_tensor_release(oi);
    gids_tensor_release(oa);
    /* without edge_attr only the edges come back */
    CHECK_OK(gids_replace_self_loops_mean(&oi, &oa, ei, NULL, N));
    CHECK(oa == NULL && same_i(oi, 16, want_i));
    gids_tensor_release(oi);
    /* errors: a node out of range, a wrong dtype, an edge_attr of the wrong length */
    CHECK_ERR(gids_replace_self_loops_mean(&oi, &oa, ei, ea, 2), GIDS_EINDEX,
              "replace_self_loops: edge_index source 2 of edge 1 is out of range [0, 2)");
    gids_tensor *short_ea = vals(2, (int64_t[]){3, 2}, 0.1, false);
    CHECK_ERR(gids_replace_self_loops_mean(&oi, &oa, ei, short_ea, N), GIDS_ESHAPE,
              "edge_attr must have shape [5, D] (one row per edge), got [3,2]");
    CHECK_ERR(gids_replace_self_loops_mean(&oi, &oa, ea, NULL, N), GIDS_EDTYPE,
              "replace_self_loops: edge_index must be i64, got f64");
    CHECK(oi == NULL && oa == NULL);
    gids_tensor_release(short_ea);
    gids_tensor_release(ei);
    gids_tensor_release(ea);
}

int main(void) {
    RUN(gat_values_by_hand);
    RUN(gatv2_values_by_hand);
    RUN(gatv2_gradients_match_central_differences);
    RUN(gat_gradients_match_central_differences);
    RUN(results_do_not_depend_on_the_thread_count);
    RUN(bad_input_is_a_clear_error);
    RUN(replace_self_loops_mean_by_hand);
    return check_summary("graph");
}
