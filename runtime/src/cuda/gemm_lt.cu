/* gemm_lt.cu -- f32 GEMMs through cuBLASLt, and choosing their algorithm by timing.
 *
 * cuBLASLt runs addmm with its bias in the GEMM's epilogue (blas.cu), and, with GEMM tuning on
 * (gids/gemm_tuning.h), every f32 product of the plugin.  cuBLAS's heuristic picks a kernel from
 * the shape alone: on an H200 its picks ran the large GAT's JK LSTM products, tall and thin
 * ([137k x 1536] with an inner size of 256 or 384), at 44-46 TFLOP/s, where a square 8192^3
 * product runs at 51 and the same LSTM's weight gradients at 50-55.  Tuning runs the first
 * product of each shape once with each of the heuristic's first TUNE_CANDIDATES algorithms,
 * into a scratch output (the real one may be read as C), timed by events on the current
 * stream, and keeps the fastest for that shape, as cuDNN's benchmark mode does for
 * convolutions (torch.backends.cudnn.benchmark).
 *
 * A shape is the key below: the transposes, the math, whether C is read and a bias added, the
 * alignments of the four pointers and of the leading dimensions, and m, n and k, each rounded
 * to a quarter octave above 256 so that batches of varying node counts share one tuning.  A
 * kept algorithm is checked (cublasLtMatmulAlgoCheck) for each exact shape it serves; where it
 * does not apply the heuristic's first runs that call.  The choice repeats within a process;
 * across processes another candidate may win, so results may differ in the last bits, which is
 * why tuning is the user's choice.  gpu.reset forgets every choice (with the handles).
 */
#include <mutex>
#include <stdio.h>
#include <string.h>
#include <vector>

#include "gc_index.h" /* gc_scratch; it includes cuda_impl.h */

#define TUNE_CANDIDATES 16
#define TUNE_RUNS 2         /* timed runs of each candidate, after one untimed */
#define TUNE_MAX_SHAPES 512 /* past this many keys, new shapes take the heuristic's first */

/* The largest power of two dividing v, at most 256 (an address or a byte count):
 * cuBLASLt's heuristic assumes 256 unless told, and an algorithm chosen for an alignment the
 * pointer lacks fails or misreads. */
static uint32_t align_of(uintptr_t v) {
    uint32_t r = 256;
    while (r > 4 && v % r != 0) r /= 2;
    return r;
}

uint32_t gc_alignment_of(const void *p) {
    return align_of((uintptr_t)p);
}

namespace {

/* Sizes up to 256 exactly; above, -(4 * floor(log2 v) + the next two bits): a quarter octave. */
int64_t size_class(int64_t v) {
    if (v <= 256) return v;
    int e = 63 - __builtin_clzll((unsigned long long)v);
    return -(int64_t)(4 * e + (int)((v >> (e - 2)) & 3));
}

struct tune_key {
    int device;
    int ta, tb;
    bool tf32, reads_c, bias;
    int64_t m, n, k;   /* size classes */
    uint32_t align[8]; /* A, B, C, D, lda, ldb, ldc, ldd (bytes) */
    bool operator==(const tune_key &o) const {
        return device == o.device && ta == o.ta && tb == o.tb && tf32 == o.tf32 &&
               reads_c == o.reads_c && bias == o.bias && m == o.m && n == o.n && k == o.k &&
               memcmp(align, o.align, sizeof align) == 0;
    }
};

/* A key's outcome: the algorithm timed fastest, or (use false) none could be timed (no
 * candidate ran, or no memory for the scratch): its calls take the heuristic's first. */
struct tuned {
    tune_key key;
    bool use;
    cublasLtMatmulAlgo_t algo;
    gids_gemm_tuned rec;
};

std::mutex tuned_mu_;
std::vector<tuned> tuned_;

/* Whether k has an outcome (*use, *algo), or *full when no new key may be added. */
bool find_tuned(const tune_key &k, bool *use, cublasLtMatmulAlgo_t *algo, bool *full) {
    std::lock_guard<std::mutex> g(tuned_mu_);
    *full = tuned_.size() >= TUNE_MAX_SHAPES;
    for (const tuned &t : tuned_)
        if (t.key == k) {
            *use = t.use;
            *algo = t.algo;
            return true;
        }
    return false;
}

struct lt_descs {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr, ld = nullptr;
    cublasLtMatmulPreference_t pref = nullptr;
    ~lt_descs() {
        if (pref) cublasLtMatmulPreferenceDestroy(pref);
        if (ld) cublasLtMatrixLayoutDestroy(ld);
        if (lc) cublasLtMatrixLayoutDestroy(lc);
        if (lb) cublasLtMatrixLayoutDestroy(lb);
        if (la) cublasLtMatrixLayoutDestroy(la);
        if (desc) cublasLtMatmulDescDestroy(desc);
    }
};

gids_status make_descs(const char *op, const gc_gemm *g, bool tf32, lt_descs *d) {
    cublasComputeType_t ct = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    GC_CUBLAS(op, cublasLtMatmulDescCreate(&d->desc, ct, CUDA_R_32F));
    GC_CUBLAS(op, cublasLtMatmulDescSetAttribute(d->desc, CUBLASLT_MATMUL_DESC_TRANSA, &g->ta,
                                                 sizeof g->ta));
    GC_CUBLAS(op, cublasLtMatmulDescSetAttribute(d->desc, CUBLASLT_MATMUL_DESC_TRANSB, &g->tb,
                                                 sizeof g->tb));
    if (g->bias != nullptr) {
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        GC_CUBLAS(op, cublasLtMatmulDescSetAttribute(d->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
                                                     sizeof epi));
        GC_CUBLAS(op, cublasLtMatmulDescSetAttribute(d->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                     &g->bias, sizeof g->bias));
    }
    bool na = g->ta == CUBLAS_OP_N, nb = g->tb == CUBLAS_OP_N;
    GC_CUBLAS(op, cublasLtMatrixLayoutCreate(&d->la, CUDA_R_32F, na ? g->m : g->k, na ? g->k : g->m,
                                             g->lda));
    GC_CUBLAS(op, cublasLtMatrixLayoutCreate(&d->lb, CUDA_R_32F, nb ? g->k : g->n, nb ? g->n : g->k,
                                             g->ldb));
    GC_CUBLAS(op, cublasLtMatrixLayoutCreate(&d->lc, CUDA_R_32F, g->m, g->n, g->ldc));
    GC_CUBLAS(op, cublasLtMatrixLayoutCreate(&d->ld, CUDA_R_32F, g->m, g->n, g->ldd));
    GC_CUBLAS(op, cublasLtMatmulPreferenceCreate(&d->pref));
    size_t ws = GC_LT_WORKSPACE;
    GC_CUBLAS(op, cublasLtMatmulPreferenceSetAttribute(
                      d->pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    /* No in-place split-K reduction: its partial sums may land in either order. */
    uint32_t schemes = CUBLASLT_REDUCTION_SCHEME_MASK & ~CUBLASLT_REDUCTION_SCHEME_INPLACE;
    GC_CUBLAS(op, cublasLtMatmulPreferenceSetAttribute(d->pref,
                                                       CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                                       &schemes, sizeof schemes));
    const cublasLtMatmulPreferenceAttributes_t attr[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    const void *ptrs[4] = {g->A, g->B, g->C, g->D};
    for (int i = 0; i < 4; i++) {
        uint32_t al = gc_alignment_of(ptrs[i]);
        GC_CUBLAS(op, cublasLtMatmulPreferenceSetAttribute(d->pref, attr[i], &al, sizeof al));
    }
    return GIDS_OK;
}

tune_key key_of(int device, const gc_gemm *g, bool tf32) {
    tune_key k = {};
    k.device = device;
    k.ta = (int)g->ta;
    k.tb = (int)g->tb;
    k.tf32 = tf32;
    k.reads_c = g->beta != 0.0f;
    k.bias = g->bias != nullptr;
    k.m = size_class(g->m);
    k.n = size_class(g->n);
    k.k = size_class(g->k);
    const void *ptrs[4] = {g->A, g->B, g->C, g->D};
    for (int i = 0; i < 4; i++) k.align[i] = gc_alignment_of(ptrs[i]);
    k.align[4] = align_of((uintptr_t)g->lda * 4);
    k.align[5] = align_of((uintptr_t)g->ldb * 4);
    k.align[6] = align_of((uintptr_t)g->ldc * 4);
    k.align[7] = align_of((uintptr_t)g->ldd * 4);
    return k;
}

/* Destroys the events it holds on every path out of tune(). */
struct events {
    std::vector<cudaEvent_t> e;
    ~events() {
        for (cudaEvent_t x : e)
            if (x) cudaEventDestroy(x);
    }
};

/* Times each of the heuristic's candidates res[0..nres) on g's operands with a scratch output of
 * D's layout, and returns the fastest in *best (*ok false when none ran, or no memory was left
 * for the scratch: then nothing failed, and the caller runs the heuristic's first).  A call that
 * accumulates in place (C is D) is timed in place on a copy of C, as some algorithms run only
 * in place. */
gids_status tune(const char *op, int device, const gc_gemm *g, const lt_descs &d, const gc_lt &lt,
                 cudaStream_t st, void *wsp, const cublasLtMatmulHeuristicResult_t *res, int nres,
                 cublasLtMatmulAlgo_t *best, gids_gemm_tuned *rec, bool *ok) {
    *ok = false;
    /* D's elements span ldd * (n - 1) + m floats; the scratch is as long */
    size_t bytes = ((size_t)g->ldd * (size_t)(g->n - 1) + (size_t)g->m) * sizeof(float);
    gc_ref scratch;
    int64_t nb = (int64_t)bytes;
    if (gids_empty(&scratch.t, GIDS_U8, gids_device{GIDS_CUDA, device}, 1, &nb) != GIDS_OK) {
        gids_error_clear(); /* tuning is an optimisation: the product itself still runs */
        return GIDS_OK;
    }
    void *sd = gids_tensor_data(scratch.t);
    const void *cp = g->C;
    if (g->C == g->D) {
        if (g->beta != 0.0f)
            GC_CUDA(op, cudaMemcpyAsync(sd, g->D, bytes, cudaMemcpyDeviceToDevice, st));
        cp = sd;
    }
    events ev;
    ev.e.assign((size_t)nres * 2, nullptr);
    for (size_t i = 0; i < ev.e.size(); i++) GC_CUDA(op, cudaEventCreate(&ev.e[i]));
    std::vector<bool> ran((size_t)nres, false);
    for (int i = 0; i < nres; i++) {
        if (res[i].workspaceSize > GC_LT_WORKSPACE) continue;
        cublasStatus_t s =
            cublasLtMatmul(lt.handle, d.desc, &g->alpha, g->A, d.la, g->B, d.lb, &g->beta, cp, d.lc,
                           sd, d.ld, &res[i].algo, wsp, GC_LT_WORKSPACE, st);
        if (s != CUBLAS_STATUS_SUCCESS) {
            cudaGetLastError(); /* a failed launch must not be reported by the next op */
            continue;           /* this candidate does not run here */
        }
        GC_CUDA(op, cudaEventRecord(ev.e[2 * i], st));
        for (int r = 0; r < TUNE_RUNS; r++)
            GC_CUBLAS(op,
                      cublasLtMatmul(lt.handle, d.desc, &g->alpha, g->A, d.la, g->B, d.lb, &g->beta,
                                     cp, d.lc, sd, d.ld, &res[i].algo, wsp, GC_LT_WORKSPACE, st));
        GC_CUDA(op, cudaEventRecord(ev.e[2 * i + 1], st));
        ran[(size_t)i] = true;
    }
    int last = -1;
    for (int i = 0; i < nres; i++)
        if (ran[(size_t)i]) last = i;
    if (last < 0) return GIDS_OK;
    int64_t w = gc_waited(); /* the host waits for the timings: once per new shape */
    if (gc_warn_syncs)
        fprintf(stderr,
                "graphids cuda: the host waits for the device at gemm_lt.cu (timing %d "
                "GEMM algorithms of a new shape; wait %lld)\n",
                nres, (long long)w);
    GC_CUDA(op, cudaEventSynchronize(ev.e[2 * last + 1]));
    int chosen = -1;
    float best_ms = 0.0f, first_ms = -1.0f;
    for (int i = 0; i < nres; i++) {
        if (!ran[(size_t)i]) continue;
        float ms = 0.0f;
        GC_CUDA(op, cudaEventElapsedTime(&ms, ev.e[2 * i], ev.e[2 * i + 1]));
        ms /= TUNE_RUNS;
        if (i == 0) first_ms = ms;
        if (chosen < 0 || ms < best_ms) {
            chosen = i;
            best_ms = ms;
        }
    }
    *best = res[chosen].algo;
    rec->candidates = nres;
    rec->chosen = chosen;
    rec->first_ms = first_ms;
    rec->best_ms = best_ms;
    *ok = true;
    return GIDS_OK;
}

/* The heuristic's first algorithm for d (*found false when it has none). */
gids_status heuristic_first(const gc_lt &lt, const lt_descs &d, cublasLtMatmulAlgo_t *algo,
                            bool *found) {
    cublasLtMatmulHeuristicResult_t res = {};
    int nres = 0;
    cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(lt.handle, d.desc, d.la, d.lb, d.lc, d.ld,
                                                       d.pref, 1, &res, &nres);
    *found = hs == CUBLAS_STATUS_SUCCESS && nres > 0;
    if (*found) *algo = res.algo;
    return GIDS_OK;
}

} // namespace

gids_status gc_gemm_lt(const char *op, int device, const gc_gemm *g, bool *done) {
    *done = false;
    if (g->m <= 0 || g->n <= 0 || g->k <= 0) return GIDS_OK;
    gc_lt lt;
    GIDS_TRY(gc_cublaslt(op, device, &lt));
    bool tf32 = g->tf32 || lt.tf32;
    lt_descs d;
    GIDS_TRY(make_descs(op, g, tf32, &d));
    GC_CUDA(op, cudaSetDevice(device));
    /* The handle's workspace is the legacy default stream's.  On another stream the GEMM takes
     * its own from the caching allocator on that stream: back in that stream's pool when this
     * returns, so only later work of the same stream reuses it. */
    cudaStream_t st = gc_stream_on(device);
    void *wsp = lt.workspace;
    gc_ref wst;
    if (st != 0) {
        int64_t nb = (int64_t)GC_LT_WORKSPACE;
        GIDS_TRY(gids_empty(&wst.t, GIDS_U8, gids_device{GIDS_CUDA, device}, 1, &nb));
        wsp = gids_tensor_data(wst.t);
    }
    cublasLtMatmulAlgo_t algo;
    bool have = false, kept = false;
    if (gids_gemm_tuning()) {
        tune_key key = key_of(device, g, tf32);
        bool use = false, full = false;
        if (find_tuned(key, &use, &algo, &full)) {
            cublasLtMatmulHeuristicResult_t chk = {};
            have = use &&
                   cublasLtMatmulAlgoCheck(lt.handle, d.desc, d.la, d.lb, d.lc, d.ld, &algo,
                                           &chk) == CUBLAS_STATUS_SUCCESS &&
                   chk.workspaceSize <= GC_LT_WORKSPACE;
        } else if (!full) {
            cublasLtMatmulHeuristicResult_t res[TUNE_CANDIDATES] = {};
            int nres = 0;
            cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(
                lt.handle, d.desc, d.la, d.lb, d.lc, d.ld, d.pref, TUNE_CANDIDATES, res, &nres);
            if (hs != CUBLAS_STATUS_SUCCESS || nres == 0) return GIDS_OK;
            gids_gemm_tuned rec = {};
            GIDS_TRY(tune(op, device, g, d, lt, st, wsp, res, nres, &algo, &rec, &have));
            rec.device = device;
            rec.trans[0] = g->ta == CUBLAS_OP_N ? 'N' : 'T';
            rec.trans[1] = g->tb == CUBLAS_OP_N ? 'N' : 'T';
            rec.tf32 = tf32;
            rec.m = g->m;
            rec.n = g->n;
            rec.k = g->k;
            std::lock_guard<std::mutex> lock(tuned_mu_);
            tuned_.push_back(tuned{key, have, algo, rec});
        }
        kept = have;
    }
    if (!have) {
        GIDS_TRY(heuristic_first(lt, d, &algo, &have));
        if (!have) return GIDS_OK; /* the caller's path */
    }
    cublasStatus_t s =
        cublasLtMatmul(lt.handle, d.desc, &g->alpha, g->A, d.la, g->B, d.lb, &g->beta, g->C, d.lc,
                       g->D, d.ld, &algo, wsp, GC_LT_WORKSPACE, st);
    if (s != CUBLAS_STATUS_SUCCESS && kept) {
        /* a kept algorithm that passed its check can still refuse a call (cuBLASLt says so of
         * cublasLtMatmulAlgoCheck): this call takes the heuristic's first */
        cudaGetLastError();
        GIDS_TRY(heuristic_first(lt, d, &algo, &have));
        if (!have) return GIDS_OK;
        s = cublasLtMatmul(lt.handle, d.desc, &g->alpha, g->A, d.la, g->B, d.lb, &g->beta, g->C,
                           d.lc, g->D, d.ld, &algo, wsp, GC_LT_WORKSPACE, st);
    }
    if (s != CUBLAS_STATUS_SUCCESS)
        return gc_cublas_fail(op, s, "cublasLtMatmul", __FILE__, __LINE__);
    if (gc_sync_each_op) GC_CUDA(op, gc_sync_current());
    *done = true;
    return GIDS_OK;
}

gids_status gc_gemm_tuned(gids_gemm_tuned *out, int cap, int *n) {
    std::lock_guard<std::mutex> g(tuned_mu_);
    int k = 0;
    for (const tuned &t : tuned_) {
        if (!t.use) continue; /* nothing was timed for it */
        if (k < cap) out[k] = t.rec;
        k++;
    }
    *n = k;
    return GIDS_OK;
}

void gc_gemm_tuned_drop(int device) {
    std::lock_guard<std::mutex> g(tuned_mu_);
    std::vector<tuned> keep;
    for (const tuned &t : tuned_)
        if (t.key.device != device) keep.push_back(t);
    tuned_.swap(keep);
}
