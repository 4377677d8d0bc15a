/* lstm_cell_impl.h -- internal: the per-row LSTM cell kernels shared by the single-step cell
 * (rnn.c) and the whole-sequence bidirectional LSTM (bilstm.c).
 *
 * fwd_row_inplace_<sfx>(H, a, cp, h, c): a holds the [4H] pre-activations (i, f, g, o) and
 * receives the activated gates, cp the [H] previous cell state (NULL: zeros), h and c the [H]
 * results; the sequence op activates its gate buffer in place.  fwd_row_<sfx> is the same with
 * the pre-activations read from g (a copy first: one loop body for both).
 * bwd_row_inplace_<sfx>(H, gh, gc, ag, cp, c, gcp): gradients of h and c in, of c_prev out; ag
 * holds the activated gates and receives their gradients (the sequence op's backward, whose gate
 * buffer is not read again).  bwd_row_<sfx>(H, gh, gc, a, cp, c, gg, gcp) is the same with the
 * gates left in a (a copy to gg first).  Every operand is there (callers substitute zeros), so
 * the loop has no branch and vectorises.  f32 uses the branch-free activations of
 * fastmath_impl.h.
 */
#ifndef GIDS_LSTM_CELL_IMPL_H
#define GIDS_LSTM_CELL_IMPL_H

#include <math.h>
#include <string.h>

#include "fastmath_impl.h"

/* The cell loops are mostly activation arithmetic (about 25 float operations per sigmoid or
 * tanh): GIDS_HOT_MATH's clones (core_impl.h). */

#define GIDS_LSTM_CELL_KERNELS(T, sfx, SIG, TANH)                                                  \
    static GIDS_HOT_MATH void fwd_row_inplace_##sfx(                                               \
        int64_t H, T *restrict a, const T *restrict cp, T *restrict h, T *restrict c) {            \
        for (int64_t k = 0; k < 2 * H; k++) a[k] = SIG(a[k]); /* i and f */                        \
        for (int64_t k = 0; k < H; k++) a[2 * H + k] = TANH(a[2 * H + k]);                         \
        for (int64_t k = 0; k < H; k++) a[3 * H + k] = SIG(a[3 * H + k]);                          \
        const T *i = a, *f = a + H, *gg = a + 2 * H, *o = a + 3 * H;                               \
        if (cp != NULL)                                                                            \
            for (int64_t k = 0; k < H; k++) c[k] = f[k] * cp[k] + i[k] * gg[k];                    \
        else                                                                                       \
            for (int64_t k = 0; k < H; k++) c[k] = i[k] * gg[k];                                   \
        for (int64_t k = 0; k < H; k++) h[k] = o[k] * TANH(c[k]);                                  \
    }                                                                                              \
    static inline void fwd_row_##sfx(int64_t H, const T *restrict g, const T *restrict cp,         \
                                     T *restrict h, T *restrict c, T *restrict act) {              \
        memcpy(act, g, (size_t)(4 * H) * sizeof(T));                                               \
        fwd_row_inplace_##sfx(H, act, cp, h, c);                                                   \
    }                                                                                              \
    /* dc = g_c + g_h * o * (1 - tanh(c)^2) reaches c_prev through f and the gates through         \
     * the derivatives of their activations. */                                                    \
    static GIDS_HOT_MATH void bwd_row_inplace_##sfx(                                               \
        int64_t H, const T *restrict gh, const T *restrict gc, T *restrict gg,                     \
        const T *restrict cp, const T *restrict c, T *restrict gcp) {                              \
        for (int64_t k = 0; k < H; k++) {                                                          \
            T i = gg[k], f = gg[H + k], g = gg[2 * H + k], o = gg[3 * H + k];                      \
            T tc = TANH(c[k]);                                                                     \
            T dc = gc[k] + gh[k] * o * ((T)1 - tc * tc);                                           \
            gg[k] = dc * g * i * ((T)1 - i);                                                       \
            gg[H + k] = dc * cp[k] * f * ((T)1 - f);                                               \
            gg[2 * H + k] = dc * i * ((T)1 - g * g);                                               \
            gg[3 * H + k] = gh[k] * tc * o * ((T)1 - o);                                           \
            gcp[k] = dc * f;                                                                       \
        }                                                                                          \
    }                                                                                              \
    static inline void bwd_row_##sfx(int64_t H, const T *restrict gh, const T *restrict gc,        \
                                     const T *restrict a, const T *restrict cp,                    \
                                     const T *restrict c, T *restrict gg, T *restrict gcp) {       \
        memcpy(gg, a, (size_t)(4 * H) * sizeof(T));                                                \
        bwd_row_inplace_##sfx(H, gh, gc, gg, cp, c, gcp);                                          \
    }

static inline double gids_lstm_sigmoid_d(double x) {
    return 1.0 / (1.0 + exp(-x));
}

GIDS_LSTM_CELL_KERNELS(float, f32, gids_fast_sigmoidf, gids_fast_tanhf)
GIDS_LSTM_CELL_KERNELS(double, f64, gids_lstm_sigmoid_d, tanh)

#endif
