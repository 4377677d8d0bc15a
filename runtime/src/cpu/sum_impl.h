/* sum_impl.h -- internal: the f64 sum of n contiguous float elements as the reduction engine
 * (reduce_core.c) folds them: eight partial sums, combined in a fixed order, then the tail in
 * order.  The loop vectorises, and a fused kernel that sums a row with it (softmax's backward)
 * gets the bits of the composed sum() it replaces.
 */
#ifndef GIDS_SUM_IMPL_H
#define GIDS_SUM_IMPL_H

#include <stdint.h>

#define GIDS_SUM8(fname, TY)                                                                       \
    static inline double fname(const TY *p, int64_t n) {                                           \
        double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                    \
        int64_t i = 0;                                                                             \
        for (; i + 8 <= n; i += 8)                                                                 \
            for (int j = 0; j < 8; j++) l[j] += (double)p[i + j];                                  \
        double s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));              \
        for (; i < n; i++) s += (double)p[i];                                                      \
        return s;                                                                                  \
    }
GIDS_SUM8(gids_sum8_f32, float)
GIDS_SUM8(gids_sum8_f64, double)
#undef GIDS_SUM8

#endif
