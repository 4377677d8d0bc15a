/* kernels_emu.cpp -- runs the bodies of the plugin's graph attention, LSTM cell, bernoulli_ and
 * softmax kernels (forward and backward), its chunked scan, its Adam list kernel and its vector
 * map on the CPU (compiled as host C++ by spec/gpu/emu/run.sh,
 * which cuts them out of runtime/src/cuda/ files) and compares them with the CPU runtime's ops. For
 * a machine without a GPU: it checks the kernels' index arithmetic, pass structure and formulas,
 * not the CUDA machinery (launches, shuffles, CUB, cuBLAS), which only the spec/gpu check scripts
 * on a GPU cover.
 *
 * Emulation: a launch covers a small grid (2 blocks of 32 threads) so that every grid-stride
 * loop wraps.  Kernels whose threads are independent run thread after thread; the attention
 * kernels' lane groups run as G concurrent threads meeting at each shuffle and __syncwarp,
 * with G = 1 and with the launcher's group size for C; the softmax row kernels' warps (32
 * lanes, their groups of G within) the same way; the chunked scan's blocks with all their threads
 * concurrent (__syncthreads). Exit status 0 when everything matches; one line per mismatch
 * otherwise.
 */
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <condition_variable>
#include <mutex>
#include <numeric>
#include <string>
#include <type_traits>
#include <thread>
#include <vector>

#include "gids/graph.h"
#include "gids/optim.h"
#include "gids/ops.h"
#include "gids/rng.h"
#include "gids/rnn.h"
#include "gids/tensor.h"

/* ---------------------------------------------------------------- the CUDA surface, emulated */
struct emu_dim3 {
    unsigned x = 0;
};
static thread_local emu_dim3 threadIdx;
static emu_dim3 blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline

/* The lanes of one group run as threads; shuffles and warp barriers meet at this barrier. */
struct emu_barrier {
    std::mutex m;
    std::condition_variable cv;
    int n = 1, waiting = 0;
    unsigned long gen = 0;
    void wait() {
        std::unique_lock<std::mutex> lk(m);
        unsigned long g = gen;
        if (++waiting == n) {
            waiting = 0;
            gen++;
            cv.notify_all();
        } else {
            cv.wait(lk, [&] { return gen != g; });
        }
    }
};
static emu_barrier group_barrier;
static double group_slot[32];

static inline void __syncwarp(unsigned) {
    group_barrier.wait();
}
/* width: segments of that many lanes; o < width keeps lane ^ o within the lane's segment. */
template <typename T> static inline T __shfl_xor_sync(unsigned, T v, int o, int width) {
    int lane = (int)(threadIdx.x & 31u);
    if (o >= width) std::abort(); /* the emulator's own check: no kernel shuffles across */
    group_slot[lane] = (double)v; /* exact for float and double */
    group_barrier.wait();
    T r = (T)group_slot[lane ^ o];
    group_barrier.wait(); /* every lane has read before the next shuffle writes */
    return r;
}
/* Block-wide kernels (the chunked scan): every thread of the block runs concurrently, meeting
 * at __syncthreads and at the shuffles; __shared__ arrays are statics, one block at a time. */
#define __shared__ static
static inline void __syncthreads() {
    group_barrier.wait();
}
static unsigned char up_slot[1024][8];
template <typename T> static inline T __shfl_up_sync(unsigned, T v, int delta) {
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    unsigned t = threadIdx.x, lane = t & 31;
    std::memcpy(up_slot[t], &v, sizeof v);
    group_barrier.wait();
    T r = v;
    if ((int)lane >= delta) std::memcpy(&r, up_slot[t - (unsigned)delta], sizeof r);
    group_barrier.wait(); /* every thread has read before the next shuffle writes */
    return r;
}
static inline uint32_t __umulhi(uint32_t a, uint32_t b) {
    return (uint32_t)(((uint64_t)a * b) >> 32);
}

#include "vector_map.inc"
#include "layouts.inc"

#include "attention.inc"
#include "rng.inc"
#include "rnn.inc"
#include "softmax.inc"
#include "scan.inc"
/* optim.cu's correctly rounded intrinsics: plain IEEE operations in host code (no contraction
 * into FMAs: -ffp-contract=off in run.sh) */
// clang-format off
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return std::sqrt(a); }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __ddiv_rn(double a, double b) { return a / b; }
static inline double __dsqrt_rn(double a) { return std::sqrt(a); }
// clang-format on
#include "adam.inc"

/* Every (block, thread) of a 2 x 32 grid in turn: for kernels whose threads are independent. */
template <typename F> static void launch(F &&kernel) {
    blockDim.x = 32;
    gridDim.x = 2;
    for (unsigned b = 0; b < gridDim.x; b++) {
        blockIdx.x = b;
        for (unsigned t = 0; t < blockDim.x; t++) {
            threadIdx.x = t;
            kernel();
        }
    }
}

/* The same grid for the lane-group kernels: the G lanes of each group run concurrently (one
 * thread each, meeting at the shuffles and __syncwarp), the groups one after another.  Built
 * with -fsanitize=thread, a missing __syncwarp shows up as a data race. */
template <typename F> static void launch_groups(int G, F &&kernel) {
    blockDim.x = 32;
    gridDim.x = 2;
    group_barrier.n = G;
    for (unsigned b = 0; b < gridDim.x; b++) {
        blockIdx.x = b;
        for (unsigned base = 0; base < blockDim.x; base += (unsigned)G) {
            std::vector<std::thread> lanes;
            for (int l = 0; l < G; l++)
                lanes.emplace_back([&, l] {
                    threadIdx.x = base + (unsigned)l;
                    kernel();
                });
            for (auto &th : lanes) th.join();
        }
    }
}

/* A grid of `blocks` blocks of `threads` threads, a block at a time, its threads concurrent. */
template <typename F> static void launch_block(unsigned threads, unsigned blocks, F &&kernel) {
    blockDim.x = threads;
    gridDim.x = blocks;
    group_barrier.n = (int)threads;
    for (unsigned b = 0; b < blocks; b++) {
        blockIdx.x = b;
        std::vector<std::thread> ts;
        for (unsigned t = 0; t < threads; t++)
            ts.emplace_back([&, t] {
                threadIdx.x = t;
                kernel();
            });
        for (auto &th : ts) th.join();
    }
}

/* The forward kernel the launcher picks for C (graph_attention.cu, launch_group): the one-walk
 * kernel with R channels a lane while C <= 4 G, else att_forward. */
template <bool V2, int G, typename T> static void fwd_as_launched(const att_args<T> &a) {
    if (a.C <= G)
        att_forward_walk<V2, G, 1, T>(a);
    else if (a.C <= 2 * G)
        att_forward_walk<V2, G, 2, T>(a);
    else if (a.C <= 4 * G)
        att_forward_walk<V2, G, 4, T>(a);
    else
        att_forward<V2, G, T>(a);
}

/* The forward (as launched) / att_backward_dst with G lanes a group, G one of the launcher's
 * sizes or 1. */
template <bool V2, typename T> static void run_pairs(int G, bool fwd, const att_args<T> &a) {
    switch (G) {
    case 1:
        launch_groups(1,
                      [&] { fwd ? fwd_as_launched<V2, 1, T>(a) : att_backward_dst<V2, 1, T>(a); });
        break;
    case 4:
        launch_groups(4,
                      [&] { fwd ? fwd_as_launched<V2, 4, T>(a) : att_backward_dst<V2, 4, T>(a); });
        break;
    case 8:
        launch_groups(8,
                      [&] { fwd ? fwd_as_launched<V2, 8, T>(a) : att_backward_dst<V2, 8, T>(a); });
        break;
    case 16:
        launch_groups(
            16, [&] { fwd ? fwd_as_launched<V2, 16, T>(a) : att_backward_dst<V2, 16, T>(a); });
        break;
    default:
        launch_groups(
            32, [&] { fwd ? fwd_as_launched<V2, 32, T>(a) : att_backward_dst<V2, 32, T>(a); });
        break;
    }
}

/* ---------------------------------------------------------------- helpers */
static int failures = 0;

static void must(gids_status s, const char *what) {
    if (s != GIDS_OK) {
        std::fprintf(stderr, "emu: %s failed: %s\n", what, gids_error_message());
        std::exit(2);
    }
}

template <typename T> static gids_dtype dt_of();
template <> gids_dtype dt_of<float>() {
    return GIDS_F32;
}
template <> gids_dtype dt_of<double>() {
    return GIDS_F64;
}
template <> gids_dtype dt_of<int64_t>() {
    return GIDS_I64;
}

/* NEW: a CPU tensor holding v. */
template <typename T>
static gids_tensor *tensor_of(const std::vector<T> &v, std::vector<int64_t> shape) {
    gids_tensor *t = nullptr;
    must(gids_empty(&t, dt_of<T>(), GIDS_DEVICE_CPU, (int)shape.size(), shape.data()), "empty");
    if (!v.empty()) std::memcpy(gids_tensor_data(t), v.data(), v.size() * sizeof(T));
    return t;
}
static gids_tensor *index_tensor(const std::vector<int64_t> &v, std::vector<int64_t> shape) {
    gids_tensor *t = nullptr;
    must(gids_empty(&t, GIDS_I64, GIDS_DEVICE_CPU, (int)shape.size(), shape.data()), "empty");
    if (!v.empty()) std::memcpy(gids_tensor_data(t), v.data(), v.size() * sizeof(int64_t));
    return t;
}

static uint64_t lcg = 12345;
static double uniform() {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg >> 11) * 0x1.0p-53;
}
template <typename T> static std::vector<T> randv(size_t n) {
    std::vector<T> v(n);
    for (auto &x : v) x = (T)(uniform() * 4 - 2);
    return v;
}

/* Largest |got - want| relative to max(1, max |want|), as spec/gpu/harness.lua. */
template <typename T>
static void compare(const char *what, const T *got, const gids_tensor *want, double tol) {
    int64_t n = gids_tensor_numel(want);
    const T *w = (const T *)gids_tensor_data(want);
    double scale = 1, err = 0;
    for (int64_t i = 0; i < n; i++) scale = std::max(scale, std::fabs((double)w[i]));
    for (int64_t i = 0; i < n; i++) {
        double d = std::fabs((double)got[i] - (double)w[i]);
        if (!(d <= err)) err = d; /* NaN counts */
    }
    if (!(err / scale <= tol)) {
        std::printf("FAIL %s: relative error %.3g > %.3g\n", what, err / scale, tol);
        failures++;
    }
}

/* Edges grouped by key (stable): off [N + 1], perm [E], as gc_csr_build. */
static void csr(const std::vector<int64_t> &key, int64_t N, std::vector<int64_t> &off,
                std::vector<int64_t> &perm) {
    perm.resize(key.size());
    std::iota(perm.begin(), perm.end(), 0);
    std::stable_sort(perm.begin(), perm.end(),
                     [&](int64_t a, int64_t b) { return key[a] < key[b]; });
    off.assign(N + 1, 0);
    for (int64_t k : key) off[k + 1]++;
    for (int64_t v = 0; v < N; v++) off[v + 1] += off[v];
}

/* ---------------------------------------------------------------- graph attention */
template <typename T>
static void attention_case(int G, bool v2, int64_t C, bool with_edge, bool with_scale,
                           bool with_galpha) {
    const int64_t N = 60, E = 300, H = 3;
    const double slope = 0.2, tol = sizeof(T) == 4 ? 2e-5 : 1e-12;
    char what[160];
    std::snprintf(what, sizeof what, "%s %s G=%d C=%lld edge=%d scale=%d g_alpha=%d",
                  v2 ? "gatv2" : "gat", sizeof(T) == 4 ? "f32" : "f64", G, (long long)C, with_edge,
                  with_scale, with_galpha);
    /* the graph: the last 5 nodes receive nothing, node 0 receives the first 40 edges */
    std::vector<int64_t> ei(2 * E);
    for (int64_t k = 0; k < E; k++) {
        ei[k] = (int64_t)(uniform() * N);
        ei[E + k] = k < 40 ? 0 : (int64_t)(uniform() * (N - 5));
    }
    std::vector<int64_t> src(ei.begin(), ei.begin() + E), dst(ei.begin() + E, ei.end());
    std::vector<T> x = randv<T>(N * H * C), xr = randv<T>(N * H * C);
    std::vector<T> ep = randv<T>(E * H * C), att = randv<T>(H * C);
    std::vector<T> as = randv<T>(N * H), ad = randv<T>(N * H), ae = randv<T>(E * H);
    std::vector<T> scale(E * H), gout = randv<T>(N * H * C), galpha = randv<T>(E * H);
    for (auto &s : scale) s = uniform() < 0.3 ? (T)0 : (T)(1 / 0.7);

    gids_tensor *tx = tensor_of(x, {N, H, C}), *txr = tensor_of(xr, {N, H, C});
    gids_tensor *tep = with_edge ? tensor_of(ep, {E, H, C}) : nullptr;
    gids_tensor *tatt = tensor_of(att, {H, C}), *tas = tensor_of(as, {N, H});
    gids_tensor *tad = tensor_of(ad, {N, H}), *tae = with_edge ? tensor_of(ae, {E, H}) : nullptr;
    gids_tensor *tsc = with_scale ? tensor_of(scale, {E, H}) : nullptr;
    gids_tensor *tgo = tensor_of(gout, {N, H, C});
    gids_tensor *tga = with_galpha ? tensor_of(galpha, {E, H}) : nullptr;
    gids_tensor *tei = index_tensor(ei, {2, E});

    /* the CPU runtime */
    gids_tensor *out = nullptr, *alpha = nullptr, *g[4] = {nullptr, nullptr, nullptr, nullptr};
    if (v2) {
        must(gids_gatv2_attention(&out, &alpha, tx, txr, tep, tatt, tei, N, slope, tsc), "gatv2");
        must(gids_gatv2_attention_backward(&g[0], &g[1], with_edge ? &g[2] : nullptr, &g[3], tgo,
                                           tga, tx, txr, tep, tatt, tei, N, slope, tsc, alpha),
             "gatv2 backward");
    } else {
        must(gids_gat_attention(&out, &alpha, tx, tas, tad, tae, tei, N, slope, tsc), "gat");
        /* g slots in the kernel's order: x, target side (a_dst), per edge, a_src */
        must(gids_gat_attention_backward(&g[0], &g[3], &g[1], with_edge ? &g[2] : nullptr, tgo, tga,
                                         tx, tas, tad, tae, tei, N, slope, tsc, alpha),
             "gat backward");
    }

    /* the kernels */
    std::vector<int64_t> off, perm, soff, sperm;
    csr(dst, N, off, perm);
    csr(src, N, soff, sperm);
    std::vector<T> o_out(N * H * C, (T)-7), o_alpha(E * H, (T)-7);
    att_args<T> a;
    std::memset(&a, 0, sizeof a);
    a.N = N, a.E = E, a.H = H, a.C = C, a.slope = (T)slope;
    a.x = x.data();
    if (v2) {
        a.xr = xr.data(), a.att = att.data(), a.ep = with_edge ? ep.data() : nullptr;
    } else {
        a.asrc = as.data(), a.adst = ad.data(), a.aedge = with_edge ? ae.data() : nullptr;
    }
    a.scale = with_scale ? scale.data() : nullptr;
    a.src = src.data(), a.dst = dst.data();
    a.off = off.data(), a.perm = perm.data(), a.soff = soff.data(), a.sperm = sperm.data();
    a.out = o_out.data(), a.alpha = o_alpha.data();
    if (v2)
        run_pairs<true, T>(G, true, a);
    else
        run_pairs<false, T>(G, true, a);
    std::string w(what);
    compare((w + " out").c_str(), o_out.data(), out, tol);
    compare((w + " alpha").c_str(), o_alpha.data(), alpha, tol);

    /* backward, from the CPU's alpha (as the autograd node passes the forward's) */
    std::vector<T> gx(N * H * C, (T)-7), gt(v2 ? N * H * C : N * H, (T)-7);
    std::vector<T> gs(v2 ? E * H * C : E * H, (T)-7), pa(N * H * C, (T)-7), buf(E * H, (T)-7);
    std::vector<T> gas(N * H, (T)-7);
    a.gout = gout.data(), a.galpha = with_galpha ? galpha.data() : nullptr;
    a.alpha_in = (const T *)gids_tensor_data(alpha);
    a.gx = gx.data(), a.gt = gt.data(), a.gs = gs.data(), a.pa = pa.data(), a.buf = buf.data();
    a.gasrc = v2 ? nullptr : gas.data();
    if (v2) {
        run_pairs<true, T>(G, false, a);
        launch([&] { att_backward_src<true, T>(a); });
    } else {
        run_pairs<false, T>(G, false, a);
        launch([&] { att_backward_src<false, T>(a); });
        launch([&] { att_backward_asrc<T>(a); });
    }
    compare((w + " g_x").c_str(), gx.data(), g[0], tol);
    compare((w + " g_target").c_str(), gt.data(), g[1], tol);
    if (with_edge) compare((w + " g_edge").c_str(), gs.data(), g[2], tol);
    if (v2) {
        std::vector<T> gatt(H * C, 0); /* gc_reduce's fold of pa over the nodes */
        for (int64_t i = 0; i < N; i++)
            for (int64_t c = 0; c < H * C; c++) gatt[c] += pa[i * H * C + c];
        compare((w + " g_att").c_str(), gatt.data(), g[3], tol);
    } else {
        compare((w + " g_a_src").c_str(), gas.data(), g[3], tol);
    }
    gids_tensor *all[] = {tx,  txr, tep, tatt,  tas,  tad,  tae,  tsc, tgo,
                          tga, tei, out, alpha, g[0], g[1], g[2], g[3]};
    for (gids_tensor *t : all) gids_tensor_release(t);
}

/* ---------------------------------------------------------------- LSTM cell */
template <typename T> static void lstm_case(bool with_cprev) {
    const int64_t N = 37, H = 50;
    const double tol = sizeof(T) == 4 ? 1e-5 : 1e-12;
    std::string w = std::string("lstm ") + (sizeof(T) == 4 ? "f32" : "f64") +
                    (with_cprev ? " c_prev" : " zero state");
    std::vector<T> gates = randv<T>(N * 4 * H), cp = randv<T>(N * H);
    std::vector<T> gh = randv<T>(N * H), gc = randv<T>(N * H);
    gids_tensor *tg = tensor_of(gates, {N, 4 * H});
    gids_tensor *tcp = with_cprev ? tensor_of(cp, {N, H}) : nullptr;
    gids_tensor *tgh = tensor_of(gh, {N, H}), *tgc = tensor_of(gc, {N, H});
    gids_tensor *h = nullptr, *c = nullptr, *act = nullptr, *gg = nullptr, *gcp = nullptr;
    must(gids_lstm_cell(&h, &c, &act, tg, tcp), "lstm_cell");
    must(gids_lstm_cell_backward(&gg, &gcp, tgh, tgc, act, tcp, c), "lstm_cell_backward");
    std::vector<T> eh(N * H), ec(N * H), ea(N * 4 * H), egg(N * 4 * H), egcp(N * H);
    const T *cpp = with_cprev ? cp.data() : nullptr;
    launch([&] { lstm_forward<T>(eh.data(), ec.data(), ea.data(), gates.data(), cpp, N, H); });
    compare((w + " h").c_str(), eh.data(), h, tol);
    compare((w + " c").c_str(), ec.data(), c, tol);
    compare((w + " act").c_str(), ea.data(), act, tol);
    launch([&] {
        lstm_backward<T>(egg.data(), with_cprev ? egcp.data() : nullptr, gh.data(), gc.data(),
                         (const T *)gids_tensor_data(act), cpp, (const T *)gids_tensor_data(c), N,
                         H);
    });
    compare((w + " g_gates").c_str(), egg.data(), gg, tol);
    if (with_cprev) compare((w + " g_c_prev").c_str(), egcp.data(), gcp, tol);
    gids_tensor *all[] = {tg, tcp, tgh, tgc, h, c, act, gg, gcp};
    for (gids_tensor *t : all) gids_tensor_release(t);
}

/* ---------------------------------------------------------------- softmax */
/* Whether got matches want elementwise: the same NaNs, else within tol as compare(). */
template <typename T>
static void compare_nan(const char *what, const T *got, const gids_tensor *want, double tol) {
    int64_t n = gids_tensor_numel(want);
    const T *w = (const T *)gids_tensor_data(want);
    std::vector<T> g(got, got + n), v(w, w + n);
    for (int64_t i = 0; i < n; i++) {
        if ((g[i] != g[i]) != (v[i] != v[i])) {
            std::printf("FAIL %s: element %lld is %g, expected %g\n", what, (long long)i,
                        (double)g[i], (double)v[i]);
            failures++;
            return;
        }
        if (g[i] != g[i]) g[i] = v[i] = 0;
    }
    gids_tensor *tv = tensor_of(v, {n});
    compare(what, g.data(), tv, tol);
    gids_tensor_release(tv);
}

/* [outer, size, inner] through the kernel softmax.cu's launcher picks, against the CPU's;
 * special: row 1 holds a NaN, row 2 is all -inf, row 3 has some -inf. */
template <typename T>
static void softmax_case(int64_t outer, int64_t size, int64_t inner, bool log_, bool special) {
    const double tol = sizeof(T) == 4 ? 1e-6 : 1e-12;
    char what[120];
    std::snprintf(what, sizeof what, "%s %s [%lld, %lld, %lld]%s", log_ ? "log_softmax" : "softmax",
                  sizeof(T) == 4 ? "f32" : "f64", (long long)outer, (long long)size,
                  (long long)inner, special ? " with NaN and -inf" : "");
    std::vector<T> x = randv<T>(outer * size * inner);
    for (auto &v : x) v *= 4;
    if (special && outer >= 4 && inner == 1) {
        x[1 * size + size / 2] = (T)NAN;
        for (int64_t k = 0; k < size; k++) x[2 * size + k] = (T)-INFINITY;
        for (int64_t k = 0; k < size; k += 3) x[3 * size + k] = (T)-INFINITY;
    }
    gids_tensor *tx = tensor_of(x, {outer, size, inner}), *want = nullptr;
    must(log_ ? gids_log_softmax(&want, tx, 1) : gids_softmax(&want, tx, 1), "softmax");
    std::vector<T> y(x.size(), (T)-7);
    /* softmax.cu's launch_softmax: the thread kernel, else the first row class that fits */
    bool ran = false;
    if (inner > 1) {
        launch([&] { softmax_thread<T>(y.data(), x.data(), outer, size, inner, log_); });
        ran = true;
    }
#define SM_ROWS(MAX, E, G)                                                                         \
    if (!ran && size <= MAX) {                                                                     \
        launch_groups(32,                                                                          \
                      [&] { softmax_rows<T, E, G>(y.data(), x.data(), outer, (int)size, log_); }); \
        ran = true;                                                                                \
    }
    SOFTMAX_ROW_CLASSES(SM_ROWS)
#undef SM_ROWS
    if (!ran) return; /* the block kernel: GPU checks only */
    compare_nan(what, y.data(), want, tol);
    gids_tensor_release(tx);
    gids_tensor_release(want);
}

/* The backward kernels softmax.cu launches for [outer, size, inner] (a thread a slice for
 * inner > 1, else G lanes a row), against the CPU's
 * gids_softmax_backward; y is the forward's result. */
template <typename T>
static void softmax_bw_case(int64_t outer, int64_t size, int64_t inner, bool log_) {
    const double tol = sizeof(T) == 4 ? 2e-6 : 1e-12;
    char what[120];
    std::snprintf(what, sizeof what, "%s backward %s [%lld, %lld, %lld]",
                  log_ ? "log_softmax" : "softmax", sizeof(T) == 4 ? "f32" : "f64",
                  (long long)outer, (long long)size, (long long)inner);
    std::vector<T> x = randv<T>(outer * size * inner), g = randv<T>(outer * size * inner);
    gids_tensor *tx = tensor_of(x, {outer, size, inner}), *tg = tensor_of(g, {outer, size, inner});
    gids_tensor *ty = nullptr, *want = nullptr;
    must(log_ ? gids_log_softmax(&ty, tx, 1) : gids_softmax(&ty, tx, 1), "softmax");
    must(gids_softmax_backward(&want, tg, ty, 1, log_), "softmax_backward");
    const T *y = (const T *)gids_tensor_data(ty);
    std::vector<T> r(x.size(), (T)-7);
    /* softmax.cu's launch_softmax_backward: the thread kernel, else the first row class that
     * fits, else a warp a row */
    bool ran = false;
    if (inner > 1) {
        launch([&] { softmax_bw_thread<T>(r.data(), g.data(), y, outer, size, inner, log_); });
        ran = true;
    }
#define SM_BW_ROWS(MAX, G)                                                                         \
    if (!ran && size <= MAX) {                                                                     \
        launch_groups(32,                                                                          \
                      [&] { softmax_bw_rows<T, G>(r.data(), g.data(), y, outer, size, log_); });   \
        ran = true;                                                                                \
    }
    SOFTMAX_BW_ROW_CLASSES(SM_BW_ROWS)
#undef SM_BW_ROWS
    if (!ran)
        launch_groups(32,
                      [&] { softmax_bw_rows<T, 32>(r.data(), g.data(), y, outer, size, log_); });
    compare(what, r.data(), want, tol);
    gids_tensor_release(tx);
    gids_tensor_release(tg);
    gids_tensor_release(ty);
    gids_tensor_release(want);
}

/* ---------------------------------------------------------------- Adam over a list */
/* adam_list_kernel over parameters of the given sizes (one of them empty, as the launcher
 * skips), each at its own step, against gids_adam_step_ on the CPU one parameter at a time:
 * the same bits. */
template <typename T> static void adam_list_case(bool amsgrad, bool decoupled) {
    const std::vector<int64_t> sizes = {1000, 1, 3000, 1024};
    const int64_t steps[4] = {1, 7, 3, 120};
    gids_adam_cfg cfg = {.lr = 3e-3,
                         .beta1 = 0.9,
                         .beta2 = 0.999,
                         .eps = 1e-8,
                         .weight_decay = 0.01,
                         .step = 1,
                         .decoupled = decoupled,
                         .amsgrad = amsgrad,
                         .maximize = false};
    std::vector<std::vector<T>> st[5]; /* p, g, m, v, vmax */
    adam_list<T> l;
    l.count = 0;
    l.first[0] = 0;
    adam_scalars<T> c = {};
    for (size_t i = 0; i < sizes.size(); i++) {
        for (auto &s5 : st) s5.push_back(randv<T>((size_t)sizes[i]));
        for (auto &x : st[3].back()) x = std::fabs(x); /* second moments are >= 0 */
        for (auto &x : st[4].back()) x = std::fabs(x);
    }
    /* the GPU side: copies of every state through the list kernel */
    std::vector<std::vector<T>> gpu[5];
    for (int s5 = 0; s5 < 5; s5++) gpu[s5] = st[s5];
    for (size_t i = 0; i < sizes.size(); i++) {
        int k = l.count++;
        double bc2 = std::sqrt(1.0 - std::pow(cfg.beta2, (double)steps[i]));
        l.p[k] = gpu[0][i].data(), l.g[k] = gpu[1][i].data(), l.m[k] = gpu[2][i].data();
        l.v[k] = gpu[3][i].data(), l.vmax[k] = amsgrad ? gpu[4][i].data() : nullptr;
        l.n[k] = sizes[i];
        l.bc2_sqrt[k] = (T)bc2;
        l.step_size[k] = (T)(cfg.lr / (1.0 - std::pow(cfg.beta1, (double)steps[i])));
        l.first[k + 1] = l.first[k] + (int)((sizes[i] + ADAM_BLOCK_ELEMS - 1) / ADAM_BLOCK_ELEMS);
    }
    c.b2 = (T)cfg.beta2, c.eps = (T)cfg.eps, c.wd = (T)cfg.weight_decay;
    c.one_b1 = (T)(1.0 - cfg.beta1), c.one_b2 = (T)(1.0 - cfg.beta2);
    c.decay = (T)(1.0 - cfg.lr * cfg.weight_decay), c.decoupled = decoupled, c.maximize = false;
    blockDim.x = 32;
    gridDim.x = (unsigned)l.first[l.count];
    for (unsigned b = 0; b < gridDim.x; b++) {
        blockIdx.x = b;
        for (unsigned t = 0; t < blockDim.x; t++) {
            threadIdx.x = t;
            adam_list_kernel<T>(l, c);
        }
    }
    for (size_t i = 0; i < sizes.size(); i++) {
        gids_tensor *t[5];
        for (int s5 = 0; s5 < 5; s5++) t[s5] = tensor_of(st[s5][i], {sizes[i]});
        gids_adam_cfg one = cfg;
        one.step = steps[i];
        must(gids_adam_step_(t[0], t[1], t[2], t[3], amsgrad ? t[4] : nullptr, &one), "adam_step_");
        for (int s5 : {0, 2, 3, 4}) {
            if (s5 == 4 && !amsgrad) continue;
            if (std::memcmp(gids_tensor_data(t[s5]), gpu[s5][i].data(),
                            (size_t)sizes[i] * sizeof(T)) != 0) {
                std::printf("FAIL adam list %s amsgrad %d decoupled %d: parameter %zu, state %d "
                            "differs from the CPU's\n",
                            sizeof(T) == 4 ? "f32" : "f64", amsgrad, decoupled, i, s5);
                failures++;
            }
        }
        for (auto *x : t) gids_tensor_release(x);
    }
}

/* ---------------------------------------------------------------- chunked scan */
/* cumsum / cumprod of [lines, size] through scan.cu's chunked passes with blocks of `threads`
 * (its launcher's choice for the size, or smaller to get several chunks a line), against the
 * CPU's: integers exactly (wrapping), floats within the f64 sums' regrouping. */
template <typename T, typename ACC>
static void scan_case(int64_t lines, int64_t size, unsigned threads, bool prod) {
    char what[120];
    std::snprintf(what, sizeof what, "chunked %s %s [%lld, %lld], %u threads",
                  prod ? "cumprod" : "cumsum",
                  sizeof(T) == 4               ? "f32"
                  : std::is_integral<T>::value ? "i64"
                                               : "f64",
                  (long long)lines, (long long)size, threads);
    std::vector<T> x((size_t)(lines * size));
    for (auto &v : x) {
        double u = uniform();
        if (std::is_integral<T>::value) /* large odd factors: products wrap past 2^63 */
            v = (T)(prod ? (int64_t)(u * 2e6) * 2 + 1 : (int64_t)(u * 2001) - 1000);
        else
            v = (T)(prod ? 0.99 + 0.02 * u : u * 4 - 2);
    }
    gids_tensor *tx = tensor_of(x, {lines, size}), *want = nullptr;
    must(prod ? gids_cumprod(&want, tx, 1) : gids_cumsum(&want, tx, 1), "scan");
    int64_t len = (int64_t)threads * SCAN_ELEMS, chunks = (size + len - 1) / len;
    unsigned blocks = (unsigned)(lines * chunks);
    std::vector<T> y(x.size(), (T)-7);
    std::vector<ACC> totals(blocks), carry(blocks);
    if (chunks > 1) {
        launch_block(threads, blocks,
                     [&] { sc_chunk_totals<T, ACC>(totals.data(), x.data(), size, chunks, prod); });
        launch([&] { sc_chunk_carries<ACC>(carry.data(), totals.data(), lines, chunks, prod); });
    }
    launch_block(threads, blocks, [&] {
        sc_chunk_scan<T, ACC>(y.data(), x.data(), chunks > 1 ? carry.data() : nullptr, size, chunks,
                              prod);
    });
    if (std::is_integral<T>::value) {
        if (std::memcmp(y.data(), gids_tensor_data(want), y.size() * sizeof(T)) != 0) {
            std::printf("FAIL %s: not the CPU's values\n", what);
            failures++;
        }
    } else {
        compare(what, y.data(), want, sizeof(T) == 4 ? 1e-6 : 1e-13);
    }
    gids_tensor_release(tx);
    gids_tensor_release(want);
}

/* ---------------------------------------------------------------- vector map */
/* gc_map1 / gc_map2 (cuda_impl.h) over n elements: packs, then the tail, every element once. */
template <typename T, typename TO> static void vector_map_case(int64_t n) {
    constexpr int V = gc_vec_width<T, TO>;
    std::vector<T> a = randv<T>((size_t)n), b = randv<T>((size_t)n);
    /* heap buffers of whole packs, aligned as the plugin's gc_vec_ok requires */
    std::vector<gc_pack<TO, V>> o1((size_t)(n / V + 1)), o2((size_t)(n / V + 1));
    std::vector<gc_pack<T, V>> pa((size_t)(n / V + 1)), pb((size_t)(n / V + 1));
    if (n > 0) std::memcpy(pa.data(), a.data(), (size_t)n * sizeof(T));
    if (n > 0) std::memcpy(pb.data(), b.data(), (size_t)n * sizeof(T));
    TO *r1 = (TO *)o1.data(), *r2 = (TO *)o2.data();
    std::fill(r1, r1 + n, (TO)7);
    std::fill(r2, r2 + n, (TO)7);
    const T *ap = (const T *)pa.data(), *bp = (const T *)pb.data();
    launch([&] { gc_map1<V>(r1, ap, n, [](T x) { return (TO)(x > 0); }); });
    launch([&] { gc_map2<V>(r2, ap, bp, n, [](T x, T y) { return (TO)(x < y); }); });
    for (int64_t i = 0; i < n; i++)
        if (r1[i] != (TO)(a[i] > 0) || r2[i] != (TO)(a[i] < b[i])) {
            std::printf("FAIL vector map %zu-byte in, %zu-byte out, n=%lld: element %lld\n",
                        sizeof(T), sizeof(TO), (long long)n, (long long)i);
            failures++;
            return;
        }
}

/* ---------------------------------------------------------------- layouts */
/* gc_layouts + gc_offset over every row-major position of shape: the offset of the operand
 * given by its (right-aligned, broadcast where 1) strides, on the 32-bit magic-number path and
 * on the 64-bit one.  A shape with a 0 gets a layout without a division (it used to trap with
 * SIGFPE, which killed the process: empty operands reach gc_layouts before their count is
 * looked at). */
static void layout_case(std::vector<int64_t> shape, std::vector<int64_t> tshape,
                        std::vector<int64_t> tstride) {
    gids_tensor t = {};
    t.ndim = (int32_t)tshape.size();
    for (size_t d = 0; d < tshape.size(); d++) t.shape[d] = tshape[d], t.stride[d] = tstride[d];
    const gids_tensor *ts[1] = {&t};
    gc_layout l;
    int nd = (int)shape.size();
    gc_layouts(1, ts, nd, shape.data(), &l);
    int64_t n = 1;
    for (int64_t v : shape) n *= v;
    for (bool fast : {true, false}) {
        gc_layout k = l;
        if (!fast)
            k.fast = false;
        else if (!k.fast)
            continue;
        for (int64_t i = 0; i < n; i++) {
            int64_t want = 0, rest = i;
            for (int d = nd - 1; d >= 0; d--) {
                int64_t c = rest % shape[d];
                rest /= shape[d];
                int td = d - (nd - t.ndim);
                if (td >= 0 && t.shape[td] != 1) want += c * t.stride[td];
            }
            if (gc_offset(k, i) != want) {
                std::printf("FAIL layout of %d dims (%s path): position %lld at %lld, want %lld\n",
                            nd, fast ? "32-bit" : "64-bit", (long long)i,
                            (long long)gc_offset(k, i), (long long)want);
                failures++;
                return;
            }
        }
    }
}

static void layout_cases() {
    layout_case({7, 5}, {7, 5}, {5, 1});                      /* contiguous: one flat dim */
    layout_case({7, 5}, {5, 7}, {1, 5});                      /* transposed */
    layout_case({3, 6, 5}, {6, 1}, {1, 1});                   /* broadcast both ways */
    layout_case({2, 3, 4, 5}, {2, 3, 4, 5}, {120, 5, 30, 1}); /* permuted, a merge among them */
    layout_case({1000, 3}, {1000, 3}, {6, 2});                /* strided rows and columns */
    layout_case({4, 0, 3}, {4, 0, 3}, {0, 3, 1});             /* empty: no division */
    layout_case({0}, {0}, {1});
    layout_case({5, 0}, {1}, {1});
}

/* ---------------------------------------------------------------- bernoulli_ */
static void bernoulli_case(int64_t n, uint64_t offset, double p) {
    gids_generator gen;
    gids_generator_init(&gen, 0x1234567890abcdefull);
    gen.offset = offset;
    int64_t shape[1] = {n};
    gids_tensor *t = nullptr;
    must(gids_empty(&t, GIDS_F32, GIDS_DEVICE_CPU, 1, shape), "empty");
    must(gids_bernoulli_(t, &gen, p), "bernoulli_");
    std::vector<float> got(n, -1.0f);
    unsigned long long thr = p >= 1.0 ? 1ull << 32 : (unsigned long long)std::ldexp(p, 32);
    uint64_t last = offset + (uint64_t)n;
    int64_t nblocks = (int64_t)(((last - 1) >> 2) - (offset >> 2) + 1);
    launch([&] {
        bernoulli_kernel<float>(got.data(), n, offset, nblocks, 0x1234567890abcdefull, thr);
    });
    if (std::memcmp(got.data(), gids_tensor_data(t), (size_t)n * sizeof(float)) != 0) {
        std::printf("FAIL bernoulli_ n=%lld offset=%llu p=%g: masks differ\n", (long long)n,
                    (unsigned long long)offset, p);
        failures++;
    }
    gids_tensor_release(t);
}

/* argv[1] "groups": only the attention cases with the launcher's group sizes and the chunked
 * scan (the TSan run). */
int main(int argc, char **argv) {
    bool groups_only = argc > 1 && std::strcmp(argv[1], "groups") == 0;
    /* each C with one-lane groups and with the launcher's group size (group_size) */
    for (int v2 = 0; v2 < 2; v2++)
        for (int64_t C : {3, 8, 12, 40})
            for (int G : {1, group_size(C)})
                for (int variant = 0; variant < 4; variant++) {
                    if (groups_only && G == 1) continue;
                    bool edge = variant & 1, scale = variant & 2, galpha = variant != 3;
                    attention_case<float>(G, v2, C, edge, scale, galpha);
                    attention_case<double>(G, v2, C, edge, scale, galpha);
                }
    /* the chunked scan's blocks run their threads concurrently: also a TSan case */
    for (bool prod : {false, true}) {
        /* one chunk a line; several (the last one partial); a line of one full chunk */
        for (auto shape :
             {std::pair<int64_t, unsigned>{100, 32}, {1300, 64}, {512, 64}, {2000, 32}}) {
            scan_case<float, double>(3, shape.first, shape.second, prod);
            scan_case<double, double>(3, shape.first, shape.second, prod);
            scan_case<int64_t, uint64_t>(3, shape.first, shape.second, prod);
        }
    }
    if (groups_only) {
        std::printf("emu: lane groups %s (%d mismatches)\n", failures ? "FAILED" : "match the CPU",
                    failures);
        return failures ? 1 : 0;
    }
    for (bool cp : {false, true}) {
        lstm_case<float>(cp);
        lstm_case<double>(cp);
    }
    for (int64_t n :
         {0, 1, 3, 4, 5, 7, 8, 9, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 1027, 4099}) {
        vector_map_case<float, float>(n);
        vector_map_case<float, uint8_t>(n);
        vector_map_case<double, double>(n);
        vector_map_case<double, uint8_t>(n);
    }
    layout_cases();
    for (bool log_ : {false, true}) {
        for (int64_t size : {1,  2,  3,   4,   5,   8,   9,   16,  17,  32,   33,
                             64, 65, 100, 128, 129, 256, 257, 512, 513, 1000, 1024})
            for (bool special : {false, true}) {
                softmax_case<float>(5, size, 1, log_, special);
                softmax_case<double>(5, size, 1, log_, special);
            }
        softmax_case<float>(3, 7, 5, log_, false);
        softmax_case<double>(3, 7, 5, log_, false);
        for (int64_t size : {1, 2, 3, 4, 5, 9, 17, 32, 33, 100, 2049}) {
            softmax_bw_case<float>(5, size, 1, log_);
            softmax_bw_case<double>(5, size, 1, log_);
        }
        softmax_bw_case<float>(3, 7, 5, log_);
        softmax_bw_case<double>(3, 7, 5, log_);
    }
    for (bool amsgrad : {false, true})
        for (bool decoupled : {false, true}) {
            adam_list_case<float>(amsgrad, decoupled);
            adam_list_case<double>(amsgrad, decoupled);
        }
    for (int64_t n : {1, 3, 4, 5, 1000, 4099})
        for (uint64_t off : {0ull, 1ull, 3ull, (1ull << 34) + 2})
            for (double p : {0.0, 0.3, 0.5, 1.0}) bernoulli_case(n, off, p);
    std::printf("emu: %s (%d mismatches)\n", failures ? "FAILED" : "kernels match the CPU",
                failures);
    return failures ? 1 : 0;
}
