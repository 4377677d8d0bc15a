/* windows.c -- window graphs from CAN frames (docs/windows.md has the definitions).
 *
 * Two passes over the windows in one parallel region: the first counts each window's nodes (so
 * every graph's rows are known before any is written), the second computes each window's graph
 * straight into its slots of the output tensors.  Each window is one pass over its W frames with
 * per-thread scratch sized once, so no window allocates; a window's output depends only on its
 * frames, so the result is the same for any thread count. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gids/runtime.h"
#include "gids/tensor.h"
#include "gids/windows.h"
#include "win_impl.h"

#define MAX_WINDOW (1 << 20) /* keeps the __int128 moment sums of win_features.c exact */

gids_window_opts gids_window_opts_default(void) {
    return (gids_window_opts){.window = 100, .stride = 100, .aligned_edges = 0, .node_by_id = 0};
}

static void release_set(gids_graph_set *s) {
    gids_graph_set_release(s);
    memset(s, 0, sizeof *s);
}

static gids_status alloc_set(gids_graph_set *s, int64_t g, int64_t n, int64_t e) {
    memset(s, 0, sizeof *s);
    s->num_graphs = g;
    int64_t xs[2] = {n, GIDS_WIN_NODE_FEATURES}, es[2] = {2, e},
            as[2] = {e, GIDS_WIN_EDGE_FEATURES};
    int64_t ns[1] = {n}, ps[1] = {g + 1}, gs[1] = {g};
    gids_status st;
    if ((st = gids_empty(&s->x, GIDS_F32, GIDS_DEVICE_CPU, 2, xs)) ||
        (st = gids_empty(&s->edge_index, GIDS_I64, GIDS_DEVICE_CPU, 2, es)) ||
        (st = gids_empty(&s->edge_attr, GIDS_F32, GIDS_DEVICE_CPU, 2, as)) ||
        (st = gids_empty(&s->node_id, GIDS_I64, GIDS_DEVICE_CPU, 1, ns)) ||
        (st = gids_empty(&s->node_ptr, GIDS_I64, GIDS_DEVICE_CPU, 1, ps)) ||
        (st = gids_empty(&s->edge_ptr, GIDS_I64, GIDS_DEVICE_CPU, 1, ps)) ||
        (st = gids_empty(&s->y, GIDS_I64, GIDS_DEVICE_CPU, 1, gs)) ||
        (st = gids_empty(&s->attack_type, GIDS_I64, GIDS_DEVICE_CPU, 1, gs)) ||
        (st = gids_empty(&s->window_start, GIDS_I64, GIDS_DEVICE_CPU, 1, gs)) ||
        (st = gids_empty(&s->source_file, GIDS_I64, GIDS_DEVICE_CPU, 1, gs))) {
        release_set(s);
        return st;
    }
    return GIDS_OK;
}

static gids_status check_args(const gids_can_frames *const *files, const int64_t *attack_type,
                              int64_t nfiles, const gids_can_vocab *vocab,
                              const gids_window_opts *o) {
    GIDS_CHECK(o != NULL && vocab != NULL, GIDS_EINVAL, "build_windows: opts or vocab is NULL");
    GIDS_CHECK(o->window >= 1 && o->window <= MAX_WINDOW, GIDS_EINVAL,
               "build_windows: window %lld must be in 1..%d", (long long)o->window, MAX_WINDOW);
    GIDS_CHECK(o->stride >= 1, GIDS_EINVAL, "build_windows: stride %lld must be >= 1",
               (long long)o->stride);
    GIDS_CHECK(nfiles >= 0 && (nfiles == 0 || files != NULL), GIDS_EINVAL,
               "build_windows: %lld files with files = NULL", (long long)nfiles);
    for (int64_t f = 0; f < nfiles; f++) {
        GIDS_CHECK(files[f] != NULL, GIDS_EINVAL, "build_windows: file %lld is NULL",
                   (long long)f + 1);
        GIDS_CHECK(attack_type == NULL || attack_type[f] >= 0, GIDS_EINVAL,
                   "build_windows: attack_type of file %lld is %lld, expected >= 0",
                   (long long)f + 1, (long long)(attack_type ? attack_type[f] : 0));
    }
    return GIDS_OK;
}

/* Windows below this count run on one thread: a parallel region's barriers cost more than
 * they save on small inputs, and far more when the machine is oversubscribed. */
#define PARALLEL_MIN_WINDOWS 512

static win_frames window_rows(const gids_can_frames *fr, int64_t start, const gids_window_opts *o,
                              const gids_can_vocab *vocab, int64_t code) {
    return (win_frames){
        .ts = fr->ts + start,
        .data = fr->data + start * GIDS_CAN_MAX_DLC,
        .attack = fr->attack + start,
        .id = fr->id + start,
        .flags = fr->flags + start,
        .vocab = vocab,
        .n = o->window,
        .aligned_edges = o->aligned_edges != 0,
        .node_by_id = o->node_by_id != 0,
        .file_attack_type = code,
    };
}

gids_status gids_build_windows(gids_graph_set *out, const gids_can_frames *const *files,
                               const int64_t *attack_type, int64_t nfiles,
                               const gids_can_vocab *vocab, const gids_window_opts *opts) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "build_windows: out is NULL");
    memset(out, 0, sizeof *out);
    GIDS_TRY(check_args(files, attack_type, nfiles, vocab, opts));
    const int64_t W = opts->window, S = opts->stride;
    const int64_t per_window = W - (opts->aligned_edges ? 1 : 2); /* edges of every window */

    /* window list: file and start row of each full window, in file then window order */
    int64_t nw = 0;
    for (int64_t f = 0; f < nfiles; f++)
        if (files[f]->n >= W) nw += (files[f]->n - W) / S + 1;
    if (per_window <= 0) nw = 0; /* every window is edgeless */

    gids_status st = GIDS_OK;
    int64_t *wfile = malloc((size_t)(nw > 0 ? nw : 1) * sizeof *wfile);
    int64_t *wstart = malloc((size_t)(nw > 0 ? nw : 1) * sizeof *wstart);
    int64_t *nodes_of = malloc((size_t)(nw > 0 ? nw : 1) * sizeof *nodes_of);
    int nthreads = nw >= PARALLEL_MIN_WINDOWS ? gids_get_num_threads() : 1;
    win_scratch *scr = calloc((size_t)nthreads, sizeof *scr);
    if (wfile == NULL || wstart == NULL || nodes_of == NULL || scr == NULL) {
        st = gids_error_set(GIDS_ENOMEM, __FILE__, __LINE__,
                            "build_windows: out of memory for %lld windows", (long long)nw);
        goto done;
    }
    for (int64_t f = 0, w = 0; f < nfiles && nw > 0; f++)
        for (int64_t r = 0; files[f]->n >= W && r <= files[f]->n - W; r += S, w++) {
            wfile[w] = f;
            wstart[w] = r;
        }
    int64_t max_nodes = opts->node_by_id || W < vocab->n + 1 ? W : vocab->n + 1;
    for (int t = 0; t < nthreads; t++)
        if ((st = win_scratch_init(&scr[t], W, max_nodes, vocab->n + 1)) != GIDS_OK) goto done;

    /* One parallel region: pass 1 counts each window's nodes, one thread then sizes and
     * allocates the output, pass 2 writes each window's graph into its slots. */
    win_out o = {0};
    char why[GIDS_ERROR_MAX] = ""; /* the error message is per thread: carried out of the region */
#pragma omp parallel num_threads(nthreads)
    {
        win_scratch *ts = &scr[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 64)
        for (int64_t w = 0; w < nw; w++) {
            win_frames in = window_rows(files[wfile[w]], wstart[w], opts, vocab, 0);
            nodes_of[w] = win_count_nodes(ts, &in);
        }
#pragma omp single
        {
            int64_t total_nodes = 0;
            for (int64_t w = 0; w < nw; w++) total_nodes += nodes_of[w];
            st = alloc_set(out, nw, total_nodes, nw * per_window);
            if (st != GIDS_OK) snprintf(why, sizeof why, "%s", gids_error_message());
            if (st == GIDS_OK) {
                int64_t *node_ptr = gids_tensor_data(out->node_ptr);
                int64_t *edge_ptr = gids_tensor_data(out->edge_ptr);
                int64_t *start_out = gids_tensor_data(out->window_start);
                int64_t *file_out = gids_tensor_data(out->source_file);
                node_ptr[0] = edge_ptr[0] = 0;
                for (int64_t w = 0; w < nw; w++) {
                    node_ptr[w + 1] = node_ptr[w] + nodes_of[w];
                    edge_ptr[w + 1] = edge_ptr[w] + per_window;
                    start_out[w] = wstart[w];
                    file_out[w] = wfile[w];
                }
                o = (win_out){
                    .x = gids_tensor_data(out->x),
                    .src = gids_tensor_data(out->edge_index),
                    .dst = (int64_t *)gids_tensor_data(out->edge_index) + nw * per_window,
                    .edge_attr = gids_tensor_data(out->edge_attr),
                    .node_id = gids_tensor_data(out->node_id),
                    .y = gids_tensor_data(out->y),
                    .attack_type = gids_tensor_data(out->attack_type),
                    .node_ptr = node_ptr,
                    .edge_ptr = edge_ptr,
                };
            }
        } /* the barrier here publishes st and o to every thread */
        if (st == GIDS_OK) {
#pragma omp for schedule(dynamic, 64)
            for (int64_t w = 0; w < nw; w++) {
                int64_t f = wfile[w];
                win_frames in =
                    window_rows(files[f], wstart[w], opts, vocab, attack_type ? attack_type[f] : 0);
                win_build_one(ts, &in, &o, w, o.node_ptr[w], o.edge_ptr[w]);
            }
        }
    }
    if (st != GIDS_OK) gids_error_set(st, __FILE__, __LINE__, "%s", why);

done:
    if (scr != NULL)
        for (int t = 0; t < nthreads; t++) win_scratch_free(&scr[t]);
    free(scr);
    free(wfile);
    free(wstart);
    free(nodes_of);
    if (st != GIDS_OK) release_set(out);
    return st;
}
