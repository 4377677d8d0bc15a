/* win_features.c -- one window's graph: nodes in order of first appearance, edges between
 * consecutive rows, and the 35 node / 11 edge features of docs/windows.md. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "win_impl.h"

/* Tables for the entropy of a payload: with S = sum of the bytes,
 * -sum (c/S) ln(c/S) = ln S - (1/S) sum c ln c, so a message needs no logarithm or division. */
static double clnc[256], lns[8 * 255 + 1], inv[8 * 255 + 1];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void fill_tables(void) {
    clnc[0] = lns[0] = 0;
    for (int c = 1; c < 256; c++) clnc[c] = c * log((double)c);
    for (int v = 1; v <= 8 * 255; v++) {
        lns[v] = log((double)v);
        inv[v] = 1.0 / v;
    }
}

gids_status win_scratch_init(win_scratch *s, int64_t window, int64_t max_nodes, int64_t vocab_n1) {
    memset(s, 0, sizeof *s);
    pthread_once(&tables_once, fill_tables);
    s->max_nodes = max_nodes;
    s->words = (max_nodes + 63) / 64;
    s->vocab_n1 = vocab_n1;
    s->loc = malloc((size_t)(vocab_n1 + window) * sizeof *s->loc);
    s->unk = malloc((size_t)window * sizeof *s->unk);
    s->nodes = malloc((size_t)max_nodes * sizeof *s->nodes);
    s->fl = malloc((size_t)window * sizeof *s->fl);
    s->nid = malloc((size_t)window * sizeof *s->nid);
    s->acc = malloc((size_t)max_nodes * sizeof *s->acc);
    s->pair = calloc((size_t)max_nodes * (size_t)max_nodes, sizeof *s->pair);
    s->adj = calloc((size_t)max_nodes * (size_t)s->words, sizeof *s->adj);
    if (!s->loc || !s->unk || !s->nodes || !s->fl || !s->nid || !s->acc || !s->pair || !s->adj) {
        win_scratch_free(s);
        GIDS_FAIL(GIDS_ENOMEM, "build_windows: out of memory for the scratch of a %lld-row window",
                  (long long)window);
    }
    for (int64_t i = 0; i < vocab_n1 + window; i++) s->loc[i] = -1;
    return GIDS_OK;
}

void win_scratch_free(win_scratch *s) {
    free(s->loc);
    free(s->unk);
    free(s->nodes);
    free(s->fl);
    free(s->nid);
    free(s->acc);
    free(s->pair);
    free(s->adj);
    memset(s, 0, sizeof *s);
}

/* Node key of each row into s->nid (looked up per window rather than once per file: the lookup
 * is a table read for 11-bit ids, and it keeps the build to one parallel region).  Absent ids
 * are told apart by a linear scan of the window's absent ids so far: few in normal traffic, and
 * at most W (a fuzzing window) for W * W / 2 compares, small next to the features' work. */
static void map_rows(win_scratch *s, const win_frames *in) {
    int64_t nunk = 0;
    for (int64_t t = 0; t < in->n; t++) {
        int ext = (in->flags[t] & GIDS_CAN_EXTENDED) != 0;
        int64_t v = gids_can_vocab_lookup(in->vocab, in->id[t], ext);
        if (v == 0 && in->node_by_id) {
            uint64_t key = (uint64_t)in->id[t] | (uint64_t)ext << 32;
            int64_t k = 0;
            while (k < nunk && s->unk[k] != key) k++;
            if (k == nunk) s->unk[nunk++] = key;
            v = s->vocab_n1 + k;
        }
        s->nid[t] = (int32_t)v;
    }
}

int64_t win_count_nodes(win_scratch *s, const win_frames *in) {
    map_rows(s, in);
    int64_t nn = 0;
    for (int64_t t = 0; t < in->n; t++)
        if (s->loc[s->nid[t]] < 0) {
            s->loc[s->nid[t]] = (int32_t)nn;
            s->nodes[nn++] = s->nid[t];
        }
    for (int64_t k = 0; k < nn; k++) s->loc[s->nodes[k]] = -1;
    return nn;
}

static double payload_entropy(const uint8_t *b) {
    int sum = 0;
    double cl = 0;
    for (int i = 0; i < 8; i++) {
        sum += b[i];
        cl += clnc[b[i]];
    }
    return sum == 0 ? 0.0 : lns[sum] - cl * inv[sum];
}

/* Pass over the rows: local nodes and their running sums. */
static int64_t accumulate(win_scratch *s, const win_frames *in) {
    map_rows(s, in);
    int64_t nn = 0, half = in->n / 2;
    for (int64_t t = 0; t < in->n; t++) {
        int32_t v = s->nid[t];
        if (s->loc[v] < 0) {
            s->loc[v] = (int32_t)nn;
            s->nodes[nn] = v;
            win_node *a = &s->acc[nn];
            memset(a, 0, sizeof *a);
            memset(a->mn, 0xFF, sizeof a->mn);
            nn++;
        }
        int32_t k = s->loc[v];
        s->fl[t] = k;
        win_node *a = &s->acc[k];
        const uint8_t *b = in->data + t * 8;
        if (a->cnt > 0) {
            const uint8_t *p = in->data + a->last * 8;
            for (int i = 0; i < 8; i++) a->changes[i] += b[i] != p[i];
            a->iat_sum += in->ts[t] - in->ts[a->last];
        }
        for (int i = 0; i < 8; i++) {
            int64_t c = b[i], c2 = c * c;
            a->s1[i] += c;
            a->s2[i] += c2;
            a->s3[i] += c2 * c;
            a->s4[i] += c2 * c2;
            if (b[i] < a->mn[i]) a->mn[i] = b[i];
            if (b[i] > a->mx[i]) a->mx[i] = b[i];
        }
        a->ent += payload_entropy(b);
        a->first_half += t < half;
        a->cnt++;
        a->last = t;
    }
    return nn;
}

/* Second pass for the spread of each node's gaps around their mean (two-pass: the gaps of a
 * periodic id are nearly equal, so a one-pass sum of squares would cancel). */
static void gap_spread(win_scratch *s, const win_frames *in, int64_t nn) {
    for (int64_t k = 0; k < nn; k++) s->acc[k].last = -1;
    for (int64_t t = 0; t < in->n; t++) {
        win_node *a = &s->acc[s->fl[t]];
        if (a->last >= 0) {
            double d = in->ts[t] - in->ts[a->last] - a->iat_sum / (double)(a->cnt - 1);
            a->iat_sq += d * d;
        }
        a->last = t;
    }
}

/* Stays in double: the per-byte terms can cancel to a mean far smaller than each of them. */
static double clip10(double v) {
    return v < -10 ? -10 : v > 10 ? 10 : v;
}

/* n^3 m3 and n^4 m4 from the power sums, exact before the conversion to double.  The terms
 * overflow 64 bits long before the results do, so for n <= 215 the sums run in wrapping
 * unsigned arithmetic: the results themselves fit (|n^3 m3| <= (255 n)^3 and
 * 0 <= n^4 m4 <= (255 n)^4 < 2^63), so their residues modulo 2^64 are exact.  Beyond that,
 * __int128 (n <= 2^20 keeps every term below 2^127). */
static void higher_moments(int64_t n, int64_t s1, int64_t s2, int64_t s3, int64_t s4, double *m3n,
                           double *m4n) {
    if (n <= 215) {
        uint64_t N = (uint64_t)n, A = (uint64_t)s1, B = (uint64_t)s2, C = (uint64_t)s3,
                 D = (uint64_t)s4;
        *m3n = (double)(int64_t)(N * N * C - 3 * N * A * B + 2 * A * A * A);
        *m4n = (double)(int64_t)(N * N * N * D - 4 * N * N * A * C + 6 * N * A * A * B -
                                 3 * A * A * A * A);
        return;
    }
    __int128 N = n, S1 = s1, S2 = s2, S3 = s3, S4 = s4;
    *m3n = (double)(N * N * S3 - 3 * N * S1 * S2 + 2 * S1 * S1 * S1);
    *m4n = (double)(N * N * N * S4 - 4 * N * N * S1 * S3 + 6 * N * S1 * S1 * S2 -
                    3 * S1 * S1 * S1 * S1);
}

/* The 35 node features of one node (docs/windows.md, in the reference's column order). */
static void node_features(float *x, const win_node *a, double clustering) {
    const int64_t n = a->cnt;
    const double inv_n = 1.0 / (double)n,
                 var_scale = n >= 2 ? 1.0 / ((double)n * (double)(n - 1)) : 0;
    double skew = 0, kurt = 0, change = 0;
    for (int i = 0; i < 8; i++) {
        x[i] = (float)((double)a->s1[i] * inv_n);
        /* exact integer central moments scaled by powers of n: n^2 m2, n^3 m3, n^4 m4 */
        int64_t S1 = a->s1[i], S2 = a->s2[i];
        int64_t m2n = n * S2 - S1 * S1; /* < 2^57 for n <= 2^20 */
        x[8 + i] = m2n > 0 ? (float)sqrt((double)m2n * var_scale) : 0.0f;
        x[16 + i] = (float)(a->mx[i] - a->mn[i]);
        if (m2n > 0) { /* polars gives NaN (0/0) for a constant byte; the reference maps it to 0 */
            double m3n, m4n;
            higher_moments(n, S1, S2, a->s3[i], a->s4[i], &m3n, &m4n);
            double m2 = (double)m2n;
            skew += clip10(m3n / (m2 * sqrt(m2)));
            kurt += clip10(m4n / (m2 * m2) - 3.0);
        }
        if (n >= 2) change += (double)a->changes[i] / (double)(n - 1);
    }
    x[24] = (float)n;
    x[25] = (float)(a->ent / (double)n);
    x[26] = (float)(skew / 8);
    x[27] = (float)(kurt / 8);
    x[28] = (float)clustering;
    x[29] = (float)((double)a->first_half / (double)n);
    x[30] = (float)(change / 8);
    x[31] = n >= 2 ? (float)(a->iat_sum / (double)(n - 1)) : 0.0f;
    x[32] = n >= 3 ? (float)sqrt(a->iat_sq / (double)(n - 2)) : 0.0f;
    x[33] = (float)a->in_deg;
    x[34] = (float)a->out_deg;
}

/* Bit count without a library call (the build does not assume the POPCNT instruction). */
static inline int64_t popcount64(uint64_t x) {
    x -= (x >> 1) & 0x5555555555555555ull;
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (int64_t)((x * 0x0101010101010101ull) >> 56);
}

/* Local clustering on the undirected simple graph of the edges, self-loops included as the
 * reference's triangle join counts them: with N(u) the neighbour set (u itself when u has a
 * self-loop), 2 * triangles(u) = sum over v in N(u) of |N(v) & N(u) \ {u}|. */
static double clustering(const win_scratch *s, int64_t u) {
    const uint64_t *ru = s->adj + u * s->words;
    int64_t deg = 0, tri2 = 0;
    for (int64_t w = 0; w < s->words; w++) deg += popcount64(ru[w]);
    if (deg <= 1) return 0.0;
    for (int64_t w = 0; w < s->words; w++)
        for (uint64_t bits = ru[w]; bits; bits &= bits - 1) {
            int64_t v = w * 64 + __builtin_ctzll(bits);
            const uint64_t *rv = s->adj + v * s->words;
            for (int64_t j = 0; j < s->words; j++) {
                uint64_t m = rv[j] & ru[j];
                if (j == u / 64) m &= ~(1ull << (u % 64));
                tri2 += popcount64(m);
            }
        }
    return (double)tri2 / ((double)deg * (double)(deg - 1));
}

void win_build_one(win_scratch *s, const win_frames *in, const win_out *o, int64_t w, int64_t node0,
                   int64_t edge0) {
    const int64_t nn = accumulate(s, in);
    gap_spread(s, in, nn);

    /* edges: rows t -> t+1; the reference's edge t carries the step t-1 -> t (lag 1) */
    const int64_t lag = in->aligned_edges ? 0 : 1, ne = in->n - 1 - lag;
    for (int64_t j = 0; j < ne; j++) {
        int64_t t = j + lag, p = j, q = j + 1;
        int32_t a = s->fl[t], b = s->fl[t + 1];
        o->src[edge0 + j] = a;
        o->dst[edge0 + j] = b;
        float *e = o->edge_attr + (edge0 + j) * 11;
        e[0] = (float)(in->ts[q] - in->ts[p]);
        for (int i = 0; i < 8; i++)
            e[1 + i] = (float)abs((int)in->data[q * 8 + i] - (int)in->data[p * 8 + i]);
        s->pair[a * nn + b]++;
        s->acc[a].out_deg++;
        s->acc[b].in_deg++;
        s->adj[a * s->words + b / 64] |= 1ull << (b % 64);
        s->adj[b * s->words + a / 64] |= 1ull << (a % 64);
    }
    for (int64_t j = 0; j < ne; j++) {
        int64_t a = o->src[edge0 + j], b = o->dst[edge0 + j];
        float *e = o->edge_attr + (edge0 + j) * 11;
        e[9] = s->pair[b * nn + a] > 0 ? 1.0f : 0.0f;
        e[10] = (float)s->pair[a * nn + b];
    }

    int yv = 0;
    for (int64_t t = 0; t < in->n; t++) yv |= in->attack[t] != 0;
    o->y[w] = yv;
    o->attack_type[w] = yv ? in->file_attack_type : 0;
    for (int64_t k = 0; k < nn; k++) {
        node_features(o->x + (node0 + k) * 35, &s->acc[k], clustering(s, k));
        o->node_id[node0 + k] = s->nodes[k] < s->vocab_n1 ? s->nodes[k] : 0; /* absent: UNK */
    }

    /* leave the scratch clean for the next window */
    for (int64_t j = 0; j < ne; j++) s->pair[o->src[edge0 + j] * nn + o->dst[edge0 + j]] = 0;
    memset(s->adj, 0, (size_t)(nn * s->words) * sizeof *s->adj);
    for (int64_t k = 0; k < nn; k++) s->loc[s->nodes[k]] = -1;
}
