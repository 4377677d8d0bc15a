/* l_edit_distance.c -- the did-you-mean distance (edit_distance.h), shared by the binding's
 * option checks and the host's command line.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "edit_distance.h"

static int letter(const char *s, size_t i, bool fold_case) {
    int c = (unsigned char)s[i];
    return fold_case ? tolower(c) : c;
}

size_t l_edit_distance(const char *a, const char *b, bool fold_case) {
    enum { N = L_EDIT_DISTANCE_MAXLEN + 1 };
    size_t na = strlen(a), nb = strlen(b);
    if (na >= N || nb >= N) return SIZE_MAX;
    /* d[i][j]: the distance of a's first i letters from b's first j (at most 63, a byte) */
    unsigned char d[N][N];
    for (size_t i = 0; i <= na; i++) d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= na; i++) {
        int ca = letter(a, i - 1, fold_case);
        for (size_t j = 1; j <= nb; j++) {
            int cb = letter(b, j - 1, fold_case);
            int best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == letter(b, j - 2, fold_case) &&
                letter(a, i - 2, fold_case) == cb && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = (unsigned char)best;
        }
    }
    return d[na][nb];
}
