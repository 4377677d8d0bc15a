/* edit_distance.h -- the distance behind "did you mean": graphids.core's option checks
 * (l_util.c, unknown_option) and the `graphids` command line (lua/host/main.c, nearest) both use
 * it, the host linking the binding's objects.  The same measure as the stdlib's
 * graphids.nn._util.edit_distance, so C and Lua suggest alike.
 */
#ifndef GIDS_EDIT_DISTANCE_H
#define GIDS_EDIT_DISTANCE_H

#include <stdbool.h>
#include <stddef.h>

/* Words longer than this are never near anything (l_edit_distance returns SIZE_MAX). */
#define L_EDIT_DISTANCE_MAXLEN 63

/* The optimal string alignment distance of a and b: a Levenshtein distance where swapping two
 * neighbouring letters counts one edit ("dtpye" is one from "dtype").  fold_case compares
 * letters ignoring case.  SIZE_MAX when either word is longer than L_EDIT_DISTANCE_MAXLEN. */
size_t l_edit_distance(const char *a, const char *b, bool fold_case);

#endif
