/* gids/gemm_tuning.h -- choosing each device GEMM's algorithm by timing (the CUDA backend).
 *
 *   gids_set_gemm_tuning(true);          // torch.backends.cudnn.benchmark, for the GEMMs
 *   ... train ...                        // each new shape: its candidates timed once
 *   gids_gemm_tuned records[64]; int n;
 *   GIDS_TRY(gids_gemm_tuned_list(records, 64, &n));   // what was chosen, and the gain
 *
 * Off (the default), cuBLAS's heuristic picks every kernel and results repeat exactly from run
 * to run.  On, the f32 products of CUDA tensors (mm, addmm, 2-D matmul and the fused LSTM's; not
 * batched products) go through cuBLASLt: the first product of each shape runs once with each of the
 * heuristic's leading candidates, timed with events into a scratch output (one wait for the
 * device), and the fastest serves that shape from then on.  Results may then differ in the last
 * bits from one process to the next (another candidate may win the timing), as with cuDNN's
 * benchmark mode. f64 and half products are unaffected.  docs/cuda.md "Choosing GEMM algorithms by
 * timing".
 */
#ifndef GIDS_GEMM_TUNING_H
#define GIDS_GEMM_TUNING_H

#include <stdbool.h>
#include <stdint.h>

#include "gids/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Process-wide; off unless GRAPHIDS_GEMM_TUNE=1 is set when it is first read.  Returns the
 * previous setting.  Shapes tuned while on keep their choice (until gpu.reset) but are only
 * used while on. */
bool gids_set_gemm_tuning(bool on);
bool gids_gemm_tuning(void);

/* One tuned shape: the product as cuBLAS sees it (column-major, op(A) [m, k] times op(B) [k, n]),
 * with m, n and k the first call's (later calls whose sizes above 256 round to the same quarter
 * octave share the choice), and the timings of the heuristic's first candidate and of the chosen
 * one (milliseconds per run). */
typedef struct gids_gemm_tuned {
    int device;
    char trans[3]; /* "NN", "NT", "TN" or "TT": op(A), op(B) */
    bool tf32;     /* TF32 tensor-core math (else IEEE f32) */
    int64_t m, n, k;
    int candidates; /* how many the heuristic offered (those that cannot run here are skipped) */
    int chosen;     /* the chosen one's rank in the heuristic's order (0: its first) */
    double first_ms, best_ms; /* first_ms -1 when the heuristic's first could not run */
} gids_gemm_tuned;

/* Up to cap records (in the order the shapes were tuned) into out, *n the number held (which
 * may exceed cap); EUNSUPPORTED naming the backend when it does not tune. */
gids_status gids_gemm_tuned_list(gids_gemm_tuned *out, int cap, int *n);

#ifdef __cplusplus
}
#endif
#endif
